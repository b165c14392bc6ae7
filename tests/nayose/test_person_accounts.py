"""Person Accounts: a B2C org's customers are Accounts that are people (Id prefix 001,
IsPersonAccount true), exported with the person's fields under Person* names (PersonEmail,
PersonMobilePhone, PersonMailing*, PersonBirthdate). They are matched as the same people exported
as Contacts are, merged as Accounts, and business Accounts beside them are still never matched."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from nayose.config import Config, load_config
from nayose.incremental import incremental_run
from nayose.normalize import normalize_records
from nayose.pipeline import run_stages
from nayose.sample import write_sample
from nayose.store import connect

# Contact field -> the Person Account field an export of Person Accounts holds instead
AS_PERSON_ACCOUNT = {
    "Email": "PersonEmail", "MobilePhone": "PersonMobilePhone", "MailingStreet": "PersonMailingStreet",
    "MailingCity": "PersonMailingCity", "MailingState": "PersonMailingState",
    "MailingPostalCode": "PersonMailingPostalCode", "MailingCountry": "PersonMailingCountry",
    "Birthdate": "PersonBirthdate", "Title": "PersonTitle", "Department": "PersonDepartment",
}


def _contacts_two_ways(tmp: Path, records: int = 2000, seed: int = 4) -> tuple[Path, Path, dict[str, str]]:
    """The sample's Contacts (without their company: a Person Account has none) as a Contact export
    and the same people as a Person Account export; and the Person Account Id of each Contact Id."""
    src = tmp / "sample.csv"
    write_sample(records, seed, src, tmp / "sample.truth.csv")
    con = duckdb.connect()
    con.execute(f"""CREATE TABLE c AS SELECT * EXCLUDE ("Account.Name", "AccountId", "Company")
                    FROM read_csv('{src}', all_varchar=true, header=true) WHERE "Object" = 'Contact'""")
    contacts = tmp / "contacts.csv"
    con.execute(f"COPY c TO '{contacts}' (HEADER, DELIMITER ',')")
    cols = [r[0] for r in con.execute("DESCRIBE c").fetchall()]
    sel = ", ".join(
        "'001' || substr(\"Id\", 4) AS \"Id\"" if c == "Id" else "'Account' AS \"Object\"" if c == "Object"
        else f'"{c}" AS "{AS_PERSON_ACCOUNT.get(c, c)}"' for c in cols
    )
    accounts = tmp / "person_accounts.csv"
    con.execute(f"""COPY (SELECT {sel}, 'true' AS "IsPersonAccount", trim(coalesce("LastName", '') || ' ' || coalesce("FirstName", '')) AS "Name"
                          FROM c) TO '{accounts}' (HEADER, DELIMITER ',')""")
    ids = dict(con.execute("""SELECT "Id", '001' || substr("Id", 4) FROM c""").fetchall())
    con.close()
    return contacts, accounts, ids


def _partition(con: duckdb.DuckDBPyConnection, rename: dict[str, str] | None = None) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for rid, cid in con.execute('SELECT "Id", cluster_id FROM clusters').fetchall():
        groups.setdefault(cid, set()).add(rename.get(rid, rid) if rename else rid)
    return {frozenset(g) for g in groups.values()}


def test_person_account_fields_stand_in_for_the_contact_fields():
    con = duckdb.connect()
    con.execute("""CREATE TABLE raw_records AS SELECT * FROM (VALUES
        ('001000000000001AAA', '太郎', '山田', 'Taro.Yamada@Gmail.com', NULL, '090-1111-2222', '丸の内1-1-1', '千代田区', '東京都', '100-0005', '1980/05/06'),
        ('001000000000002AAA', '花子', '佐藤', 'hanako@yahoo.co.jp', 'h.sato@abc-shoji.co.jp', NULL, NULL, NULL, NULL, NULL, NULL)
    ) t("Id", "FirstName", "LastName", "PersonEmail", "Email", "PersonMobilePhone", "PersonMailingStreet",
        "PersonMailingCity", "PersonMailingState", "PersonMailingPostalCode", "PersonBirthdate")""")
    normalize_records(con, Config())
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT id, email, mobile, city, postal_code, birthdate, object FROM normalized_records").fetchall()}
    assert rows["001000000000001AAA"] == ("taroyamada@gmail.com", "+819011112222", "千代田区", "1000005", "1980-05-06", "Account")
    # a standard field with a value wins over the Person Account field
    assert rows["001000000000002AAA"][0] == "h.sato@abc-shoji.co.jp"


def test_person_accounts_group_as_the_same_people_exported_as_contacts_do(tmp_path):
    contacts, accounts, ids = _contacts_two_ways(tmp_path)
    as_contacts = duckdb.connect()
    run_stages(as_contacts, [contacts], Config())
    as_accounts = duckdb.connect()
    run_stages(as_accounts, [accounts], Config())
    expected = _partition(as_contacts, ids)
    assert sum(len(g) > 1 for g in expected) > 50  # the sample's Contacts hold duplicates to find
    assert _partition(as_accounts) == expected


def test_a_person_account_export_plans_account_merges_apart_from_business_accounts(tmp_path):
    rows = [
        # one customer twice (a shop's form in kanji, the call centre in katakana) ...
        {"Id": "001000000000P01AAA", "IsPersonAccount": "true", "Name": "山田 太郎", "FirstName": "太郎", "LastName": "山田",
         "PersonEmail": "taro.yamada@gmail.com", "PersonMobilePhone": "090-1111-2222", "PersonMailingCity": "千代田区",
         "LastModifiedDate": "2023-01-01T00:00:00.000Z"},
        {"Id": "001000000000P02AAA", "IsPersonAccount": "true", "Name": "ヤマダ タロウ", "FirstName": "タロウ", "LastName": "ヤマダ",
         "PersonEmail": "taro.yamada@gmail.com", "PersonMobilePhone": "090-1111-2222", "PersonMailingStreet": "丸の内1-1-1",
         "LastModifiedDate": "2024-01-01T00:00:00.000Z"},
        # ... a namesake with his own mailbox and mobile ...
        {"Id": "001000000000P03AAA", "IsPersonAccount": "true", "Name": "山田 太郎", "FirstName": "太郎", "LastName": "山田",
         "PersonEmail": "yamada-t@docomo.ne.jp", "PersonMobilePhone": "080-3333-4444",
         "LastModifiedDate": "2024-02-01T00:00:00.000Z"},
        # ... and a business Account written two ways at one switchboard (matched as a company by
        # nayose.accounts, never with the people)
        {"Id": "001000000000B01AAA", "IsPersonAccount": "false", "Name": "株式会社アルファ", "Phone": "03-5555-1111",
         "LastModifiedDate": "2023-01-01T00:00:00.000Z"},
        {"Id": "001000000000B02AAA", "IsPersonAccount": "false", "Name": "アルファ株式会社", "Phone": "03-5555-1111",
         "LastModifiedDate": "2023-01-01T00:00:00.000Z"},
    ]
    cols = ["Id", "IsPersonAccount", "Name", "FirstName", "LastName", "PersonEmail", "Phone", "PersonMobilePhone",
            "PersonMailingStreet", "PersonMailingCity", "LastModifiedDate"]
    from nayose.cli import main
    from tests.nayose.fakeorg_helpers import write_export

    src = write_export(tmp_path / "accounts.csv", rows, cols)

    out = tmp_path / "out"
    assert main(["plan", str(src), "--out", str(out), "--quiet"]) == 0
    with open(out / "clusters.csv", encoding="utf-8") as f:
        clusters = {r["Id"]: r for r in csv.DictReader(f)}
    assert clusters["001000000000P02AAA"]["cluster_id"] == clusters["001000000000P01AAA"]["cluster_id"]
    assert clusters["001000000000P01AAA"]["status"] == "auto"
    assert clusters["001000000000P03AAA"]["status"] == "single"
    assert clusters["001000000000B01AAA"]["cluster_id"] == clusters["001000000000B02AAA"]["cluster_id"] != \
        clusters["001000000000P01AAA"]["cluster_id"]
    with open(out / "merge_plan.csv", encoding="utf-8") as f:
        steps = list(csv.DictReader(f))
    assert sorted((s["action"], s["object"], s["LoserId1"]) for s in steps) == [
        ("merge", "Account", "001000000000B02AAA"), ("merge", "Account", "001000000000P02AAA")]
    with open(out / "field_changes.csv", encoding="utf-8") as f:
        changes = {r["field"]: r for r in csv.DictReader(f) if r["cluster_id"] == clusters["001000000000P01AAA"]["cluster_id"]}
    # the blank street is filled from the other record; the compound, read-only Name is never
    # written (nor the name itself: the kanji master keeps 山田 太郎 over the newer katakana)
    assert changes["PersonMailingStreet"]["new_value"] == "丸の内1-1-1"
    assert not {"Name", "FirstName", "LastName", "IsPersonAccount"} & changes.keys(), changes
    plan = json.loads((out / "merge_plan.json").read_text(encoding="utf-8"))
    assert plan["plan_id"]


def test_a_person_account_arriving_overnight_gives_what_a_full_run_gives(tmp_path):
    contacts, accounts, _ = _contacts_two_ways(tmp_path, records=600, seed=6)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE a AS SELECT * FROM read_csv('{accounts}', all_varchar=true, header=true)")
    before = tmp_path / "before.csv"
    # the previous night lacked a tenth of the customers; tonight's snapshot has them all
    con.execute(f"COPY (SELECT * FROM a WHERE hash(\"Id\") % 10 <> 0) TO '{before}' (HEADER, DELIMITER ',')")
    con.close()
    config = load_config(None)
    store, twin = tmp_path / "store.duckdb", tmp_path / "twin.duckdb"
    c = connect(store)
    assert incremental_run(c, [before], config).mode == "full"
    c.close()
    import shutil

    from nayose.score import load_model

    shutil.copy(store, twin)
    t = connect(twin)
    run_stages(t, [accounts], config, model=load_model(t))
    full = _partition(t)
    t.close()
    c = connect(store)
    result = incremental_run(c, [accounts], config)
    assert result.mode == "incremental", result.reason
    assert result.new > 0
    assert _partition(c) == full
    c.close()


def test_a_lead_from_an_existing_customer_is_converted_into_the_person_account(tmp_path):
    """A B2C org: a customer who is a Person Account (twice: kanji and katakana) fills in a web form
    again and hands over a business card at a fair -- two Leads. The plan merges the Person Accounts
    and converts each Lead into the master (convertLead with the Person Account alone, no contact);
    the card's mobile is the surviving PersonMobilePhone. Applied to the fake org over HTTPS: the
    Leads are converted into the Person Account, their Tasks move to its PersonContactId, the
    master carries the surviving values, and a second run repeats nothing."""
    from tests.nayose.fakeorg_helpers import plan_export

    from nayose.apply import apply_plan, undo_plan
    from nayose.fakeorg.server import FakeOrg
    from nayose.fakeorg.store import OrgStore, id18
    from simple_salesforce import Salesforce

    ts = "2026-10-{:02d}T09:00:00.000+0000".format
    pa1, pa2 = id18("0015F00000P0001"), id18("0015F00000P0002")
    web, card = id18("00Q5F00000W0001"), id18("00Q5F00000W0002")
    pc1, pc2 = id18("0035F00000PC001"), id18("0035F00000PC002")
    rows = [
        {"Id": pa1, "IsPersonAccount": "true", "PersonContactId": pc1, "FirstName": "健太", "LastName": "佐々木",
         "PersonEmail": "kenta.sasaki@gmail.com", "Phone": "045-321-7788", "PersonMailingCity": "横浜市",
         "PersonLeadSource": "Web", "CreatedDate": ts(1), "LastModifiedDate": ts(1), "SystemModstamp": ts(1)},
        {"Id": pa2, "IsPersonAccount": "true", "PersonContactId": pc2, "FirstName": "ケンタ", "LastName": "ササキ",
         "PersonEmail": "kenta.sasaki@gmail.com", "PersonMailingStreet": "港北区日吉2-3-4",
         "CreatedDate": ts(2), "LastModifiedDate": ts(2), "SystemModstamp": ts(2)},
        {"Id": web, "FirstName": "健太", "LastName": "佐々木", "Company": "個人", "Email": "kenta.sasaki@gmail.com",
         "LeadSource": "Web", "Status": "Open - Not Contacted", "CreatedDate": ts(3), "LastModifiedDate": ts(3), "SystemModstamp": ts(3)},
        {"Id": card, "FirstName": "健太", "LastName": "佐々木", "Company": "個人", "Email": "kenta.sasaki@gmail.com",
         "MobilePhone": "090-8765-4321", "Title": "店長", "LeadSource": "名刺", "Status": "Open - Not Contacted",
         "CreatedDate": ts(4), "LastModifiedDate": ts(4), "SystemModstamp": ts(4)},
    ]
    store = OrgStore(api_daily_limit=1_000_000)
    store.load_records(rows)
    store.insert("Task", {"Id": id18("00T5F00000T0001"), "WhoId": card, "Subject": "展示会 名刺交換のお礼",
                          "CreatedDate": ts(4), "LastModifiedDate": ts(4), "SystemModstamp": ts(4)}, keep_id=True)
    plan = plan_export(tmp_path, rows)
    [group] = plan["clusters"]
    assert group["master_id"] == pa1 and group["status"] == "auto", group
    steps = [(s["action"], s.get("master_id"), s.get("lead_id"), s.get("contact_id"), s.get("account_id")) for s in group["steps"]]
    assert steps == [("merge", pa1, None, None, None), ("convert_lead", None, web, None, pa1),
                     ("convert_lead", None, card, None, pa1)], steps
    fields = {f: v["value"] for f, v in group["fields"].items()}
    assert fields["PersonMobilePhone"] == "090-8765-4321" and fields["PersonTitle"] == "店長"  # the card's
    assert fields["PersonEmail"] == "kenta.sasaki@gmail.com" and "Company" not in fields and "Email" not in fields
    assert (fields["LastName"], fields["FirstName"]) == ("佐々木", "健太")

    with FakeOrg(store) as org:
        sf = Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(), version="62.0")
        report = apply_plan(plan, journal_db=tmp_path / "journal.duckdb", sf=sf, execute=True)
        assert report.exit_code == 0 and report.groups_applied == 1 and report.steps_done == 3, report.to_dict()
        assert store.get(pa2, include_deleted=True)["MasterRecordId"] == pa1
        for lead in (web, card):
            rec = store.get(lead)
            assert rec["IsConverted"] is True and rec["ConvertedAccountId"] == pa1 and rec["ConvertedContactId"] == pc1
        master = store.get(pa1)
        assert master["PersonMobilePhone"] == "090-8765-4321" and master["PersonTitle"] == "店長"
        assert master["PersonMailingStreet"] == "港北区日吉2-3-4" and master["Phone"] == "045-321-7788"
        assert store.get(id18("00T5F00000T0001"))["WhoId"] == pc1
        again = apply_plan(plan, journal_db=tmp_path / "journal.duckdb", sf=sf, execute=True)
        assert again.steps_done == 0 and again.steps_already_done == 3 and again.exit_code == 0
        # undo: the merged Person Account comes back, the master's values are restored, and the
        # conversions are reported as what the API cannot revert
        undone = undo_plan(plan, journal_db=tmp_path / "journal.duckdb", sf=sf, execute=True)
        assert store.get(pa2)["IsDeleted"] is False
        assert undone.exit_code == 1 and not undone.steps_failed, undone.to_dict()  # (1: conversions not restored)
        assert store.get(pa1).get("PersonMobilePhone") in (None, "") and store.get(pa1).get("PersonTitle") in (None, "")
        kinds = {(r["kind"], r["Id"]) for r in undone.not_restored}
        assert {("converted_lead", web), ("converted_lead", card)} <= kinds, undone.not_restored
        assert any(f"account {pa1}" in r["detail"] for r in undone.not_restored)
