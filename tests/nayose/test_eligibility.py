"""Which records may sync to Account Engagement: exclusions, route / owner rules, freshness, quality,
mailability, the prospect cap ranking and the flag plan (nayose.eligibility)."""

import csv
import random

import duckdb
import pyarrow as pa
import pytest

from nayose.config import Config, RouteRule
from nayose.eligibility import build_flag_plan, compute_eligibility, sync_plan_id, write_eligibility_outputs
from nayose.records import load_records
from nayose.sample import generate_sample
from nayose.sample_sync import _is_card, _kind_marker


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """3,000 sample records as a CSV, with their truth (kind: customer / billing / recruiting / partner)."""
    import pyarrow.csv as pacsv

    tmp = tmp_path_factory.mktemp("elig")
    table, truth = generate_sample(3000, 7)
    path = tmp / "org.csv"
    pacsv.write_csv(table, str(path))
    kinds = dict(zip(truth.column("Id").to_pylist(), truth.column("kind").to_pylist()))
    return path, table, kinds


def _con(path, config, **kw):
    con = duckdb.connect()
    load_records(con, [str(path)], config)
    compute_eligibility(con, config, **kw)
    return con


def _records(rows, tmp_path, name="r.csv"):
    cols = sorted({k for r in rows for k in r}, key=lambda c: (c != "Id", c))
    path = tmp_path / name
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    return path


def _base(i, **over):
    r = {"Id": f"00Q5F00000A{i:04d}AAA", "LastName": "佐藤", "FirstName": "健", "Company": "株式会社テスト商事",
         "Email": f"ken.sato{i}@abc-shoji.co.jp", "CreatedDate": "2026-06-01T00:00:00.000Z",
         "LastModifiedDate": "2026-10-01T00:00:00.000Z", "Title": "課長", "Department": "営業部"}
    r.update(over)
    return r


def test_exclusions_on_the_sample_are_exact(org):
    """Every record the default rules exclude as billing / recruiting / partner is one (precision 1.0), and every
    such record that carries a sign of it (title, department, lead source, email) is excluded (recall 1.0)."""
    path, table, kinds = org
    con = _con(path, Config())
    got = dict(con.execute(
        "SELECT \"Id\", reason_code FROM sync_eligibility WHERE reason_code LIKE 'exclusion:%'").fetchall())
    assert got, "the sample holds billing, recruiting and partner contacts"
    for rid, code in got.items():
        assert code == "exclusion:" + kinds[rid], (rid, code, kinds[rid])
    marked = {r["Id"]: k for r in table.to_pylist() if (k := _kind_marker(r))}
    assert {i: "exclusion:" + k for i, k in marked.items()} == got
    counts = {k: sum(1 for v in got.values() if v == "exclusion:" + k) for k in ("billing", "recruiting", "partner")}
    assert all(n >= 10 for n in counts.values()), counts
    # the reason names the field and value that matched
    reasons = [r[0] for r in con.execute("SELECT reason FROM sync_eligibility WHERE reason_code LIKE 'exclusion:%'").fetchall()]
    assert all(" = " in r for r in reasons)
    assert any("経理" in r for r in reasons) and any("LeadSource = 採用" in r for r in reasons)


def test_keywords_width_words_and_other_conditions(tmp_path):
    rows = [
        _base(1, Title="経理課長"),                              # billing by title
        _base(2, Department="財務経理部"),                        # billing by department
        _base(3, Title="ＨＲ　Ｍａｎａｇｅｒ"),                   # full-width English keyword
        _base(4, Title="Three-Year Planner"),                     # 'HR' inside a word: not recruiting
        _base(5, Department="Partner Sales"),                     # partner
        _base(6, Title="CFO"),                                    # a CFO is a customer
        _base(7, Email="keiri2@abc-shoji.co.jp"),                   # billing mailbox (digits ignored)
        _base(8, LeadSource="採用"),                              # recruiting route
        _base(9, IsPartner__c="true"),                            # flag field (custom rule below)
        _base(10, Email="someone@agency-partner.jp"),             # partner domain (custom rule below)
        _base(11, Department="人事総務部", Title="部長"),
    ]
    cfg = Config()
    cfg.eligibility.exclusions[2].flag_fields = ["IsPartner__c"]
    cfg.eligibility.exclusions[2].email_domains = ["agency-partner.jp"]
    con = _con(_records(rows, tmp_path), cfg)
    got = dict(con.execute("SELECT right(\"Id\", 7), coalesce(reason_code, 'eligible') FROM sync_eligibility").fetchall())
    assert got == {
        "A0001AAA"[-7:]: "exclusion:billing", "A0002AAA"[-7:]: "exclusion:billing", "A0003AAA"[-7:]: "exclusion:recruiting",
        "A0004AAA"[-7:]: "eligible", "A0005AAA"[-7:]: "exclusion:partner", "A0006AAA"[-7:]: "eligible",
        "A0007AAA"[-7:]: "exclusion:billing", "A0008AAA"[-7:]: "exclusion:recruiting", "A0009AAA"[-7:]: "exclusion:partner",
        "A0010AAA"[-7:]: "exclusion:partner", "A0011AAA"[-7:]: "exclusion:recruiting",
    }


def test_freshness_and_quality(tmp_path):
    rows = [
        _base(1, CreatedDate="2022-01-01T00:00:00.000Z"),                      # Lead > 3 years before as-of: stale
        {**_base(2, CreatedDate="2015-01-01T00:00:00.000Z"), "Id": "0035F00000A0002AAA", "Company": None,
         "Account.Name": "株式会社テスト商事"},                                   # an old Contact is still a customer
        _base(3, Company="個人"), _base(4, Company="-"), _base(5, Company="［［Ｕｎｋｎｏｗｎ］］"),
        _base(6, Company="佐藤健"), _base(7, Company=None),
        _base(8, Email="ｋｅｎ＠example.co.jp"),                                 # full-width: not valid as written
        _base(9, Email=None),
        _base(10, LastModifiedDate="2026-11-01T00:00:00.000Z"),                 # as-of: the newest date in the data
        _base(11, Email="noemail@abc-shoji.co.jp"),                               # a dummy: reaches nobody
    ]
    con = _con(_records(rows, tmp_path), Config())
    got = dict(con.execute("SELECT substr(\"Id\", 12, 4), coalesce(reason_code, 'eligible') FROM sync_eligibility").fetchall())
    assert got == {"0001": "stale", "0002": "eligible", "0003": "quality:no_company", "0004": "quality:no_company",
                   "0005": "quality:no_company", "0006": "quality:no_company", "0007": "quality:no_company",
                   "0008": "quality:invalid_email", "0009": "quality:no_email", "0010": "eligible",
                   "0011": "quality:dummy_email"}
    reason = con.execute("SELECT reason FROM sync_eligibility WHERE substr(\"Id\", 12, 4) = '0001'").fetchall()[0][0]
    assert reason == "stale: acquired 2022-01-01, more than 3 years before 2026-11-01"
    # every condition that applies is listed, the first one is the reason
    cfg = Config()
    cfg.eligibility.freshness_years = None
    cfg.eligibility.require_company = False
    con = _con(_records(rows, tmp_path, "r2.csv"), cfg)
    assert con.execute("SELECT count(*) FROM sync_eligibility WHERE NOT eligible").fetchall()[0][0] == 3


def test_route_and_owner_rule(org):
    """Business-card records of the card-scanning user never sync; other card records and that user's other records do."""
    path, table, _ = org
    rows = table.to_pylist()
    owner = max({r["OwnerId"] for r in rows if _is_card(r)}, key=lambda o: sum(1 for r in rows if r["OwnerId"] == o and _is_card(r)))
    cfg = Config()
    cfg.eligibility.route_rules = [RouteRule(name="card_owner", reason="business cards of the Sansan user", routes=["card"],
                                             owner_ids=[owner])]
    con = _con(path, cfg)
    got = {r[0] for r in con.execute("SELECT \"Id\" FROM sync_eligibility WHERE reasons LIKE '%business cards of the Sansan user%'").fetchall()}
    want = {r["Id"] for r in rows if _is_card(r) and r["OwnerId"] == owner}
    assert got == want and len(want) > 20
    assert con.execute("SELECT count(*) FROM sync_eligibility WHERE route = 'card' AND owner_id <> ? AND eligible",
                       [owner]).fetchall()[0][0] > 0


def test_mailable(tmp_path):
    rows = [_base(1), _base(2, HasOptedOutOfEmail="true"), _base(3, EmailBouncedDate="2026-01-01"), _base(4), _base(5, Company="個人")]
    path = _records(rows, tmp_path)
    prospects = pa.table({"id": ["1", "2"], "email": ["a@example.jp", "b@example.jp"],
                          "crmLeadFid": ["00Q5F00000A0004AAA", "00Q5F00000A0001AAA"], "isDoNotEmail": ["true", "false"]})
    con = duckdb.connect()
    load_records(con, [str(path)], Config())
    con.execute("CREATE TABLE pardot_prospects AS SELECT * FROM prospects")
    compute_eligibility(con, Config(), prospects="pardot_prospects")
    got = dict(con.execute("SELECT substr(\"Id\", 12, 4), coalesce(not_mailable, 'mailable') FROM sync_eligibility").fetchall())
    assert got == {"0001": "mailable", "0002": "opted out", "0003": "email bounced", "0004": "prospect is Do Not Email",
                   "0005": "not eligible"}


def _rank_key(row):
    bucket, quality, last_life, rid = row
    return (max(bucket, 0), -quality, -last_life.timestamp(), rid)


def test_cap_ranking_is_deterministic_and_explained(org, tmp_path):
    path, table, _ = org
    cfg = Config()
    cfg.eligibility.cap.mailable = 500
    con = _con(path, cfg)
    n_mailable = con.execute("SELECT count(*) FROM sync_eligibility WHERE mailable").fetchall()[0][0]
    assert n_mailable > 500
    assert con.execute("SELECT count(*) FROM sync_eligibility WHERE within_cap").fetchall()[0][0] == 500
    # the order is the documented key: freshness bucket, quality, last sign of life, Id
    rows = con.execute(
        "SELECT freshness_bucket, quality, last_life, \"Id\", cap_rank FROM sync_eligibility WHERE mailable ORDER BY cap_rank").fetchall()
    assert [r[4] for r in rows] == list(range(1, n_mailable + 1))
    assert [r[:4] for r in rows] == sorted((r[:4] for r in rows), key=_rank_key)
    # explained per record
    kept, dropped = con.execute(
        "SELECT arg_min(cap_explanation, cap_rank) FILTER (WHERE within_cap), arg_min(cap_explanation, cap_rank) FILTER (WHERE NOT within_cap) "
        "FROM sync_eligibility").fetchall()[0]
    assert kept.startswith(f"rank 1 of {n_mailable:,} mailable (cap 500)") and kept.endswith("-> stays")
    assert dropped.startswith(f"rank 501 of {n_mailable:,}") and dropped.endswith("-> dropped: over the cap")
    assert "freshness bucket" in dropped and "quality" in dropped
    # same data in another row order: same ranks
    shuffled = table.take(random.Random(3).sample(range(table.num_rows), table.num_rows))
    import pyarrow.csv as pacsv

    p2 = tmp_path / "shuffled.csv"
    pacsv.write_csv(shuffled, str(p2))
    con2 = _con(p2, cfg)
    a = con.execute("SELECT \"Id\", cap_rank, cap_explanation FROM sync_eligibility ORDER BY \"Id\"").fetchall()
    b = con2.execute("SELECT \"Id\", cap_rank, cap_explanation FROM sync_eligibility ORDER BY \"Id\"").fetchall()
    assert a == b
    # the flag plan drops the over-cap records with the explanation
    pid = sync_plan_id(con, cfg)
    build_flag_plan(con, cfg, pid)
    over = con.execute("SELECT count(*) FROM flag_plan WHERE value = 'false' AND reason LIKE 'over the mailable cap: rank %'").fetchall()[0][0]
    assert over == n_mailable - 500


def test_flag_plan(org, tmp_path):
    path, table, _ = org
    cfg = Config()
    con = _con(path, cfg)
    pid = sync_plan_id(con, cfg)
    assert pid == sync_plan_id(con, cfg) and pid.startswith("sync_")
    n = build_flag_plan(con, cfg, pid)
    # the sample has no sharing field yet: every record gets one row
    assert n == table.num_rows
    assert con.execute("SELECT count(*) FROM flag_plan f JOIN sync_eligibility e USING (\"Id\") "
                       "WHERE (f.value = 'true') <> e.eligible").fetchall()[0][0] == 0
    counts = write_eligibility_outputs(con, tmp_path / "out")
    with open(tmp_path / "out" / "flag_plan.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert counts["flag_plan"] == len(rows) == n
    assert list(rows[0]) == ["plan_id", "Id", "object", "field", "value", "reason", "as_of"]
    assert {r["field"] for r in rows} == {"Pardot_Sync__c"} and all(r["as_of"] for r in rows)
    assert all(r["plan_id"] == pid for r in rows)
    # once the field holds the target, only changes are planned
    con.execute("CREATE TABLE r2 AS SELECT r.*, e.sync_target AS Pardot_Sync__c FROM raw_records r JOIN sync_eligibility e USING (\"Id\")")
    con.execute("UPDATE r2 SET Pardot_Sync__c = 'true' WHERE \"Id\" IN (SELECT \"Id\" FROM sync_eligibility WHERE NOT eligible LIMIT 7)")
    compute_eligibility(con, cfg, records="r2")
    assert build_flag_plan(con, cfg, pid) == 7
    assert {r[0] for r in con.execute("SELECT value FROM flag_plan").fetchall()} == {"false"}


def test_a_converted_lead_or_a_deleted_record_never_syncs_and_gets_no_flag(tmp_path):
    """A Lead converted into a Contact is read-only history; the Contact syncs. It is not eligible
    (reason `converted`, before any other), counts nowhere against the cap, and the flag plan
    leaves it alone (Salesforce refuses an update to a converted Lead)."""
    rows = [_base(1, IsConverted="true", ConvertedContactId="0035F00000C0001AAA"),
            _base(2, IsConverted="false"), _base(3, IsConverted="", Title="経理課長"),
            _base(4, IsDeleted="true", MasterRecordId="00Q5F00000A0002AAA")]
    path = _records(rows, tmp_path)
    con = _con(path, Config())
    got = {r[0][11:15]: r[1:] for r in con.execute(
        'SELECT "Id", eligible, reason_code, reason, mailable FROM sync_eligibility ORDER BY "Id"').fetchall()}
    assert got["0001"][:2] == (False, "converted") and "0035F00000C0001AAA" in got["0001"][2]
    assert not got["0001"][3]
    assert got["0002"][:2] == (True, None)
    assert got["0003"][1] == "exclusion:billing"
    assert got["0004"][:2] == (False, "deleted") and "00Q5F00000A0002AAA" in got["0004"][2]
    build_flag_plan(con, Config(), sync_plan_id(con, Config()))
    flagged = {r[0][11:15] for r in con.execute('SELECT "Id" FROM flag_plan').fetchall()}
    assert flagged == {"0002", "0003"}


def test_a_person_account_syncs_by_its_person_email_and_needs_no_company(tmp_path):
    """A Person Account (a B2C customer) keeps its mailbox and opt-out in PersonEmail /
    PersonHasOptedOutOfEmail and has no company: it is eligible and mailable by those, while a
    Lead without a company still fails the quality rule."""
    pa = {"Company": "", "Email": "", "IsPersonAccount": "true"}
    rows = [_base(1, Id="0015F00000A0001AAA", PersonEmail="taro.yamada@gmail.com", **pa),
            _base(2, Id="0015F00000A0002AAA", PersonEmail="hanako.sato@yahoo.co.jp", PersonHasOptedOutOfEmail="true", **pa),
            _base(3, Company=""),
            # a checkbox exported as はい (a Japanese-language export) is as true as Data Loader's true
            _base(4, HasOptedOutOfEmail="はい")]
    con = _con(_records(rows, tmp_path), Config())
    got = {r[0][11:15]: r[1:] for r in con.execute(
        'SELECT "Id", eligible, reason_code, mailable, not_mailable FROM sync_eligibility ORDER BY "Id"').fetchall()}
    assert got["0001"] == (True, None, True, None)
    assert got["0002"][:3] == (True, None, False) and got["0002"][3] == "opted out"
    assert got["0003"][:2] == (False, "quality:no_company")
    assert got["0004"][2:] == (False, "opted out")


def test_a_business_account_is_no_prospect(tmp_path):
    """The matching CSV of a Salesforce extract holds the org's Accounts too (matched as companies):
    a business Account is no record that syncs -- it gets no eligibility row, so the counts against
    the prospect cap are the people's -- while a Person Account is a person and does."""
    rows = [_base(1),
            {"Id": "0015F00000B0001AAA", "Object": "Account", "Name": "株式会社テスト商事", "Phone": "03-1234-5678",
             "IsPersonAccount": "false", "CreatedDate": "2026-06-01T00:00:00.000Z", "LastModifiedDate": "2026-10-01T00:00:00.000Z"},
            _base(2, Id="0015F00000A0002AAA", Company="", Email="", PersonEmail="taro.yamada@gmail.com", IsPersonAccount="true")]
    con = _con(_records(rows, tmp_path), Config())
    ids = [r[0] for r in con.execute('SELECT "Id" FROM sync_eligibility ORDER BY "Id"').fetchall()]
    assert ids == ["0015F00000A0002AAA", "00Q5F00000A0001AAA"]
