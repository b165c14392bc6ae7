"""The account_pairs asset's blocking check: Account pairs join two business Accounts only."""

import duckdb

from assets.checks import account_pairs_companies_only
from assets.store import NayoseStore
from nayose.config import Config
from nayose.pipeline import run_stages


def _store(tmp_path) -> tuple[NayoseStore, str]:
    import csv

    rows = [
        {"Id": "0015F00000A0001AAA", "Object": "Account", "Name": "株式会社山田製作所", "Phone": "03-1234-5678"},
        {"Id": "0015F00000A0002AAA", "Object": "Account", "Name": "山田製作所(株)", "Phone": "0312345678"},
        {"Id": "0035F00000C0001AAA", "Object": "Contact", "Name": "", "Phone": "03-1234-5678", "LastName": "山田"},
    ]
    src = tmp_path / "org.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["Id", "Object", "Name", "Phone", "LastName"])
        w.writeheader()
        w.writerows(rows)
    db = tmp_path / "store.duckdb"
    con = duckdb.connect(str(db))
    run_stages(con, [src], Config())
    con.close()
    return NayoseStore(database=str(db), output_dir=str(tmp_path / "out")), str(db)


def test_the_check_passes_on_a_run_and_fails_on_a_pair_with_a_person(tmp_path):
    store, db = _store(tmp_path)
    ok = account_pairs_companies_only(store=store)
    assert ok.passed and ok.metadata["pairs"].value == 1
    con = duckdb.connect(db)
    con.execute("""INSERT INTO account_pairs SELECT a.rec_idx, c.rec_idx, a.id, c.id, 0.999, 'auto', 'same_name_and_contact', ''
                   FROM normalized_records a, normalized_records c
                   WHERE a.id = '0015F00000A0001AAA' AND c.id = '0035F00000C0001AAA'""")
    con.close()
    bad = account_pairs_companies_only(store=store)
    assert not bad.passed and bad.metadata["not_two_business_accounts"].value == 1


def test_groups_consistent_allows_a_group_of_accounts_up_to_their_own_limit(tmp_path):
    """Ten Accounts of one company make one auto group (accounts.max_auto_size 20): the check passes;
    it still flags an auto group of people above cluster.max_auto_size."""
    import csv

    from assets.checks import groups_consistent

    names = ["株式会社大和テック", "大和テック(株)", "大和テック株式会社", "（株）大和テック", "大和テック㈱"] * 2
    src = tmp_path / "org.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["Id", "Object", "Name", "Phone"])
        w.writeheader()
        w.writerows({"Id": f"0015F00000A{i:04d}AAA", "Object": "Account", "Name": n, "Phone": "03-4100-2200"}
                    for i, n in enumerate(names))
    db = tmp_path / "store.duckdb"
    con = duckdb.connect(str(db))
    run_stages(con, [src], Config())
    assert con.execute("SELECT DISTINCT status, cluster_size FROM clusters").fetchall() == [("auto", 10)]
    con.close()
    store = NayoseStore(database=str(db), output_dir=str(tmp_path / "out"))
    ok = groups_consistent(store=store)
    assert ok.passed and ok.metadata["accounts_max_auto_size"].value == 20
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM normalized_accounts")  # (the same group counted as people's: above 8)
    con.close()
    assert not groups_consistent(store=store).passed
