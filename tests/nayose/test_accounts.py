"""Duplicate business Accounts (nayose/accounts.py): rules a reviewer can read, run inside
`nayose plan`, grouped and planned as Account merges, applied to the fake org over HTTPS."""

from __future__ import annotations

import csv
import json

import duckdb
import pytest

from nayose.accounts import corporate_number, website_domain
from nayose.config import Config
from nayose.pipeline import run_stages
from nayose.records import id18

TS = "2026-{:02d}-01T09:00:00.000Z".format


def acc(n: int) -> str:
    return id18(f"0015F00000A{n:04d}")


def con_id(n: int) -> str:
    return id18(f"0035F00000K{n:04d}")


# An org's Accounts as a Data Loader export shows them: the same companies entered by a rep, by a
# card tool and by a list import; branches kept on purpose; a namesake; a group company.
ACCOUNTS = [
    # (n, Name, Phone, Website, BillingPostalCode, BillingState, ParentId n, 法人番号)
    (1, "株式会社山田製作所", "03-1234-5678", "https://www.yamada-ss.co.jp/", "〒100-0001", "東京都", None, None),
    (2, "山田製作所(株)", "0312345678", None, "100-0001", "東京", None, None),  # the same company, another writing
    (3, "ＡＢＣ㈱", "06-1111-2222", "abc.co.jp", "530-0001", "大阪府", None, None),
    (5, "ABC株式会社 東京支店", "03-9999-0000", "abc.co.jp", "100-0005", "東京都", 3, None),  # a branch, ParentId the head office
    (6, "ABC株式会社 大阪支店", "06-1111-3333", "abc.co.jp", "530-0002", "大阪府", None, None),  # another branch
    (7, "有限会社山田製作所", "092-111-2222", None, "810-0001", "福岡県", None, None),  # another company of that name
    (8, "山田制作所株式会社", "03-1234-5678", None, None, None, None, None),  # a typo at the same switchboard
    (9, "株式会社さくら商事", "011-222-3333", None, "060-0001", "北海道", None, "9234-5678-90123"),
    (10, "さくら商事株式会社", "092-222-3333", None, "810-0002", "福岡県", None, None),  # a namesake in Fukuoka
    (11, "Sakura Shoji Co., Ltd.", None, None, None, None, None, "9234567890123"),  # the English name, the same 法人番号
    (12, "個人のお客様", None, None, None, None, None, None),  # B2C bucket Accounts: no name to match on
    (13, "個人のお客様", None, None, None, None, None, None),
    (14, "ABCホールディングス株式会社", "06-1111-2222", "https://abc.co.jp", None, None, None, None),  # the group's holding
    (15, "株式会社グリーン物流", "045-200-3000", "green-logi.co.jp", "220-0001", "神奈川県", None, "2876543210987"),
    (16, "グリーン物流株式会社", "045-200-3000", "green-logi.co.jp", "220-0001", "神奈川県", None, "7876543210999"),  # two 法人番号
    (17, "旭自動車株式会社", "0120-111-000", None, None, None, None, None),
    (18, "朝日自動車株式会社", "0120-111-000", None, None, None, None, None),  # read alike (asahi), written apart: two
    (19, "Kongo Foods Co., Ltd.", None, "https://www.kongo-foods.co.jp", None, None, None, None),
    (20, "株式会社金剛食品", "03-3333-4444", "kongo-foods.co.jp", "104-0061", "東京都", None, None),  # its English name
]


def account_rows() -> list[dict]:
    rows = []
    for n, name, phone, web, postal, state, parent, corp in ACCOUNTS:
        rows.append({"Id": acc(n), "Object": "Account", "Name": name, "Phone": phone or "", "Website": web or "",
                     "BillingPostalCode": postal or "", "BillingState": state or "",
                     "ParentId": acc(parent) if parent else "", "CorporateNumber__c": corp or "",
                     "CreatedDate": TS(n % 12 + 1), "LastModifiedDate": TS(n % 12 + 1)})
    return rows


def _pairs(tmp_path, rows, config: Config | None = None) -> dict[tuple[int, int], tuple[str, str]]:
    from tests.nayose.fakeorg_helpers import write_export

    src = write_export(tmp_path / "accounts.csv", rows)
    con = duckdb.connect()
    run_stages(con, [src], config or Config())
    by_id = {acc(n): n for n, *_ in ACCOUNTS}
    return {(by_id[a], by_id[b]): (d, r) for a, b, d, r in
            con.execute("SELECT left_id, right_id, decision, rule FROM account_pairs").fetchall()}


def test_the_account_rules_on_an_orgs_accounts(tmp_path):
    pairs = _pairs(tmp_path, account_rows())
    ordered = {tuple(sorted(k)): v for k, v in pairs.items()}
    assert ordered[(1, 2)] == ("auto", "same_name_and_contact")  # 株式会社山田製作所 / 山田製作所(株), one switchboard
    assert ordered[(9, 11)] == ("auto", "corporate_number")  # さくら商事 / Sakura Shoji Co., Ltd.: one 法人番号
    assert ordered[(1, 8)] == ("review", "similar_name_and_contact") and ordered[(2, 8)][0] == "review"  # 製作所 / 制作所
    # the English name with nothing but its 法人番号, beside a さくら商事 with none: the same name, nothing else to compare
    assert ordered[(10, 11)] == ("review", "same_name_nothing_else")
    assert ordered[(19, 20)] == ("auto", "same_reading_and_contact")  # Kongo Foods Co., Ltd. = 株式会社金剛食品 at one site
    never = [(3, 5), (5, 6), (3, 6), (1, 7), (9, 10), (12, 13), (3, 14), (15, 16), (17, 18)]
    assert not [p for p in never if p in ordered], ordered  # parent, branches, 有限会社, namesake, bucket, group, two 法人番号
    assert set(ordered) == {(1, 2), (9, 11), (1, 8), (2, 8), (10, 11), (19, 20)}, ordered


def test_branch_accounts_can_be_put_to_review(tmp_path):
    config = Config.model_validate({"accounts": {"branch_accounts": "review"}})
    ordered = {tuple(sorted(k)): v for k, v in _pairs(tmp_path, account_rows(), config).items()}
    assert ordered[(3, 6)] == ("review", "head_office_and_branch")
    assert (5, 6) not in ordered and (3, 5) not in ordered  # two branches; a parent and its child: never


def test_accounts_are_never_matched_with_people(tmp_path):
    """A Contact at the company's switchboard with the company's name is no duplicate of its Account."""
    from tests.nayose.fakeorg_helpers import write_export

    rows = account_rows()[:2] + [
        {"Id": con_id(1), "Object": "Contact", "LastName": "山田", "FirstName": "製作所", "Account.Name": "株式会社山田製作所",
         "AccountId": acc(1), "Phone": "03-1234-5678", "CreatedDate": TS(1), "LastModifiedDate": TS(1)}]
    src = write_export(tmp_path / "mixed.csv", rows)
    con = duckdb.connect()
    run_stages(con, [src], Config())
    assert con.execute("""SELECT count(*) FROM candidate_pairs p JOIN normalized_records n
                          ON n.rec_idx IN (p.left_idx, p.right_idx) WHERE n.id = ?""", [con_id(1)]).fetchall()[0][0] == 0
    assert con.execute("SELECT count(*) FROM account_pairs WHERE ? IN (left_id, right_id)", [con_id(1)]).fetchall()[0][0] == 0
    assert con.execute("SELECT status FROM clusters WHERE \"Id\" = ?", [con_id(1)]).fetchall() == [("single",)]


def test_key_readers():
    assert website_domain("https://www.ABC.co.jp/company/") == "abc.co.jp"
    assert website_domain("ｗｗｗ．ｘｙｚ．ｊｐ") == "xyz.jp" and website_domain("http://abc.co.jp:8080/x") == "abc.co.jp"
    assert website_domain("なし") is None and website_domain(None) is None
    assert corporate_number("9234-5678-90123") == "9234567890123" and corporate_number("９２３４５６７８９０１２３") == "9234567890123"
    assert corporate_number("123") is None
    # the check digit: 国税庁's own number holds it; one digit mistyped, or two swapped, does not
    assert corporate_number("7000012050002") == "7000012050002"
    assert corporate_number("7000012050003") is None and corporate_number("7000012500002") is None


def test_sample_accounts_are_grouped_with_precision(tmp_path):
    """The sample org's Accounts (every writing of a company its Contacts show is an Account, plus
    branches, namesakes and group companies): groups of Accounts are one company."""
    from nayose.sample import generate_sample, generate_sample_with_accounts
    import pyarrow.csv as pacsv

    records, truth, accounts, acc_truth, _ = generate_sample_with_accounts(3000, 5)
    plain, plain_truth = generate_sample(3000, 5)
    assert records.equals(plain) and truth.equals(plain_truth)  # the records are what they are without Accounts
    assert set(acc_truth.column("kind").to_pylist()) >= {"company", "branch"}
    pacsv.write_csv(accounts, str(tmp_path / "accounts.csv"))
    pacsv.write_csv(acc_truth, str(tmp_path / "truth.csv"))
    con = duckdb.connect()
    run_stages(con, [tmp_path / "accounts.csv"], Config())
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{tmp_path / 'truth.csv'}', all_varchar=true)")

    def metrics(where: str) -> tuple[int, int, int]:
        return con.execute(f"""
            WITH x AS (SELECT c."Id", c.cluster_id, c.status, t.entity_id FROM clusters c JOIN t USING ("Id"))
            SELECT count(*) FILTER (WHERE a.entity_id = b.entity_id), count(*),
                   (SELECT count(*) FROM t a JOIN t b ON a.entity_id = b.entity_id AND a."Id" < b."Id")
            FROM x a JOIN x b ON a.cluster_id = b.cluster_id AND a."Id" < b."Id" WHERE {where}""").fetchall()[0]

    tp, predicted, true_pairs = metrics("true")
    assert true_pairs > 100 and tp / predicted >= 0.99 and tp / true_pairs >= 0.85, (tp, predicted, true_pairs)
    tp, predicted, _ = metrics("a.status = 'auto'")
    assert tp == predicted and tp / true_pairs >= 0.5, (tp, predicted, true_pairs)


def _people_and_accounts() -> list[dict]:
    """One person's two Contacts, each under one of the company's two Accounts (株式会社山田製作所 /
    山田製作所(株)), plus the two Accounts."""
    people = [
        {"Id": con_id(1), "Object": "Contact", "LastName": "高橋", "FirstName": "健一", "AccountId": acc(1),
         "Account.Name": "株式会社山田製作所", "Email": "k.takahashi@yamada-ss.co.jp", "MobilePhone": "090-3333-1111",
         "Title": "部長", "CreatedDate": TS(3), "LastModifiedDate": TS(3)},
        {"Id": con_id(2), "Object": "Contact", "LastName": "高橋", "FirstName": "健一", "AccountId": acc(2),
         "Account.Name": "山田製作所(株)", "Email": "k.takahashi@yamada-ss.co.jp", "MobilePhone": "09033331111",
         "LeadSource": "名刺", "Department": "営業部", "CreatedDate": TS(9), "LastModifiedDate": TS(9)},
    ]
    return account_rows()[:2] + people


def test_contacts_under_two_accounts_of_one_company_are_merged_without_review(tmp_path):
    """Without the Account export, Contacts under different AccountIds are held for review; with it,
    the two Accounts are one company (an auto group of Accounts) and the Contacts merge like any."""
    from tests.nayose.fakeorg_helpers import plan_export

    rows = _people_and_accounts()
    plan = plan_export(tmp_path, rows)
    groups = {g["object"]: g for g in plan["clusters"]}
    assert groups["Account"]["status"] == "auto" and groups["Contact"]["status"] == "auto", plan["clusters"]
    (tmp_path / "people").mkdir()
    plan = plan_export(tmp_path / "people", [r for r in rows if r["Object"] == "Contact"])
    [group] = plan["clusters"]
    assert group["status"] == "review" and "different accounts" in group["status_reason"]


def test_an_account_merge_is_applied_to_the_org_and_undone(tmp_path):
    """The plan's Account merge over HTTPS: the loser's Contacts move to the master, which keeps its
    name and gains the loser's web site; the Contacts merge; undo brings the Accounts back."""
    from simple_salesforce import Salesforce
    from tests.nayose.fakeorg_helpers import plan_export

    from nayose.apply import apply_plan, undo_plan
    from nayose.fakeorg.server import FakeOrg
    from nayose.fakeorg.store import OrgStore

    rows = _people_and_accounts()
    store = OrgStore(api_daily_limit=1_000_000)
    store.load_records([{k: v for k, v in r.items() if v and "." not in k and k not in ("CorporateNumber__c",)}
                        | {"SystemModstamp": r["LastModifiedDate"]} for r in rows])
    plan = plan_export(tmp_path, rows)
    account_group = next(g for g in plan["clusters"] if g["object"] == "Account")
    master = account_group["master_id"]
    assert master == acc(1)  # the older Account (CreatedDate) survives
    assert "Name" not in account_group["fields"]  # (the master keeps its own name: never written by a merge)
    with FakeOrg(store) as org:
        sf = Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(), version="62.0")
        report = apply_plan(plan, journal_db=tmp_path / "journal.duckdb", sf=sf, execute=True)
        assert report.exit_code == 0 and report.groups_applied == 2, report.to_dict()
        assert store.get(acc(2), include_deleted=True)["MasterRecordId"] == acc(1)
        kept = store.get(acc(1))
        assert kept["Name"] == "株式会社山田製作所" and kept["Website"] == "https://www.yamada-ss.co.jp/"
        live = [c for c in (con_id(1), con_id(2)) if not store.get(c, include_deleted=True).get("IsDeleted")]
        assert len(live) == 1 and store.get(live[0])["AccountId"] == acc(1)
        undone = undo_plan(plan, journal_db=tmp_path / "journal.duckdb", sf=sf, execute=True)
        assert not undone.steps_failed, undone.to_dict()
        assert store.get(acc(2))["IsDeleted"] is False


@pytest.mark.parametrize("changes_only", [False, True])
def test_an_account_arriving_overnight_gives_what_a_full_run_gives(tmp_path, changes_only):
    """Incremental runs match all business Accounts again: a new Account of a company joins its group,
    as in a full run on the same snapshot."""
    from tests.nayose.fakeorg_helpers import write_export

    from nayose.incremental import incremental_run
    from nayose.store import connect

    rows = _people_and_accounts()
    first = write_export(tmp_path / "night1.csv", rows, cols=sorted({k for r in rows for k in r}))
    new = {**account_rows()[0], "Id": acc(99), "Name": "(株)山田製作所", "Website": "yamada-ss.co.jp", "Phone": ""}
    second_rows = rows + [new]
    cols = sorted({k for r in second_rows for k in r})
    second = write_export(tmp_path / "night2.csv", second_rows, cols=cols)
    changes = write_export(tmp_path / "changes.csv", [new], cols=cols)
    db = tmp_path / "store.duckdb"
    with connect(db) as con:
        incremental_run(con, [first], Config())
        inc = incremental_run(con, [changes] if changes_only else [second], Config(), changes_only=changes_only)
        assert inc.mode == "incremental", inc.reason
        got = sorted(con.execute('SELECT "Id", cluster_id, status FROM clusters').fetchall())
    full = duckdb.connect()
    run_stages(full, [second], Config())
    assert got == sorted(full.execute('SELECT "Id", cluster_id, status FROM clusters').fetchall())
    assert dict((i, c) for i, c, _ in got)[acc(99)] == dict((i, c) for i, c, _ in got)[acc(1)]


def test_summary_reports_the_account_stage(tmp_path):
    from tests.nayose.fakeorg_helpers import write_export

    from nayose.cli import main

    src = write_export(tmp_path / "accounts.csv", account_rows())
    assert main(["plan", str(src), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["accounts"]["accounts"] == len(ACCOUNTS) and summary["accounts"]["pairs"] == {"auto": 3, "review": 3}
    assert "accounts" in summary["seconds"]
    with open(tmp_path / "out" / "pairs.csv", encoding="utf-8") as f:
        assert sum(1 for _ in f) == 1 + 6  # the Accounts' pairs with the people's
    with open(tmp_path / "out" / "account_pairs.csv", encoding="utf-8") as f:
        text = f.read()
    assert "株式会社山田製作所,山田製作所(株),auto,same_name_and_contact" in text.replace('"', "")
    plan = json.loads((tmp_path / "out" / "merge_plan.json").read_text(encoding="utf-8"))
    group = next(g for g in plan["clusters"] if acc(1) in [g["master_id"], *g["loser_ids"]])
    assert {e["rule"] for e in group["evidence"]} >= {"same_name_and_contact"}


def test_explain_says_which_rule_grouped_two_accounts(tmp_path, capsys):
    from tests.nayose.fakeorg_helpers import write_export

    from nayose.cli import main

    src = write_export(tmp_path / "accounts.csv", account_rows())
    assert main(["plan", str(src), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    plan = json.loads((tmp_path / "out" / "merge_plan.json").read_text(encoding="utf-8"))
    group = next(g for g in plan["clusters"] if acc(9) in [g["master_id"], *g["loser_ids"]])
    capsys.readouterr()
    assert main(["explain", str(tmp_path / "out"), group["cluster_id"]]) == 0
    text = capsys.readouterr().out
    assert "rule corporate_number (auto): the same corporate number (法人番号)" in text, text


def test_an_account_export_beside_the_people_changes_none_of_their_groups(tmp_path):
    """Business Accounts teach the people's model nothing (no values, not in its random pairs or its
    prior): with the org's Account export loaded beside them, the people get exactly the groups,
    statuses and pair probabilities they get without it. (Before, their random pairs and prior
    counted the Accounts: 3 of 2,100 predicted pairs moved on the 10,000-record sample.)"""
    import pyarrow.csv as pacsv

    from nayose.sample import generate_sample_with_accounts

    records, _, accounts, _, _ = generate_sample_with_accounts(3000, 8)
    pacsv.write_csv(records, str(tmp_path / "people.csv"))
    pacsv.write_csv(accounts, str(tmp_path / "accounts.csv"))
    runs = []
    for inputs in ([tmp_path / "people.csv"], [tmp_path / "people.csv", tmp_path / "accounts.csv"]):
        con = duckdb.connect()
        run_stages(con, inputs, Config())
        runs.append((
            con.execute("""SELECT "Id", cluster_id, status FROM clusters WHERE "Id" NOT LIKE '001%' ORDER BY 1""").fetchall(),
            con.execute("""SELECT l.id, r.id, round(p.match_probability, 9) FROM scored_pairs p
                           JOIN normalized_records l ON l.rec_idx = p.left_idx JOIN normalized_records r ON r.rec_idx = p.right_idx
                           ORDER BY 1, 2""").fetchall(),
        ))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert len(runs[0][0]) == 3000


def test_leads_of_existing_customer_accounts_are_listed(tmp_path):
    """lead_accounts.csv: a Lead no group converts whose company is an existing Account (a customer's
    new inquiry) -- named by the Account standing for the company (the master of a merged group),
    with the rule and what agreed; a name two companies carry needs a contact point; a Lead
    converted into a Contact, a 個人 Lead and a Lead at an unknown company are not listed."""
    from tests.nayose.fakeorg_helpers import write_export

    from nayose.cli import main

    def lead(n: int, company: str, **kw) -> dict:
        return {"Id": id18(f"00Q5F00000L{n:04d}"), "Object": "Lead", "LastName": f"木村{n}", "FirstName": "誠",
                "Company": company, "CreatedDate": TS(10), "LastModifiedDate": TS(10), **kw}

    leads = [
        lead(1, "山田製作所株式会社", Email="m.kimura@yamada-ss.co.jp"),  # the company's mail domain
        lead(2, "株式会社さくら商事", Phone="011-222-3333"),  # さくら商事 is two companies: the switchboard decides
        lead(3, "さくら商事株式会社"),  # ... and without one, no Account is named
        lead(4, "個人", Email="kimura@gmail.com"),
        lead(5, "株式会社みなと海運", Email="kimura@minato-kaiun.co.jp"),  # not a customer
        lead(6, "株式会社金剛食品"),  # one company of that name, nothing disagrees
    ]
    src = write_export(tmp_path / "org.csv", account_rows() + leads)
    assert main(["plan", str(src), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    with open(tmp_path / "out" / "lead_accounts.csv", encoding="utf-8") as f:
        got = {r["LeadId"]: r for r in csv.DictReader(f)}
    by_lead = {k[11:15]: (v["AccountId"], v["rule"], v["agrees"]) for k, v in got.items()}
    assert by_lead == {
        "0001": (acc(1), "company_and_contact", "company; mail domain = website"),  # acc(1): the group's master
        "0002": (acc(9), "company_and_contact", "company; switchboard"),
        "0006": (acc(19), "company_name_only", "company"),  # 金剛食品 = Kongo Foods Co., Ltd., the older: master
    }, by_lead
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["plan"]["leads_at_accounts"] == 3


def test_a_lead_at_a_customer_account_is_converted_into_it_over_https(tmp_path):
    """The analyst keeps the rows of lead_accounts.csv to convert; `apply --lead-conversions` converts
    each Lead into its Account (convertLead with the Account and no contact: a new Contact under it,
    the Lead's Task moved to it), after the people's groups and before the Account merges, journaled;
    a second run repeats nothing; a row changed since the plan is skipped; undo reports the
    conversion as what the API cannot revert."""
    from simple_salesforce import Salesforce
    from tests.nayose.fakeorg_helpers import write_export

    from nayose.apply import ApplyError, apply_plan, load_lead_conversions, undo_plan
    from nayose.cli import main
    from nayose.fakeorg.server import FakeOrg
    from nayose.fakeorg.store import OrgStore

    lead_a, lead_b = id18("00Q5F00000L0001"), id18("00Q5F00000L0002")
    leads = [
        {"Id": lead_a, "Object": "Lead", "LastName": "木村", "FirstName": "誠", "Company": "山田製作所株式会社",
         "Email": "m.kimura@yamada-ss.co.jp", "Title": "購買部 課長", "LeadSource": "Web", "Status": "Open - Not Contacted",
         "CreatedDate": TS(10), "LastModifiedDate": TS(10)},
        {"Id": lead_b, "Object": "Lead", "LastName": "石田", "FirstName": "彩", "Company": "株式会社さくら商事",
         "Phone": "011-222-3333", "Status": "Open - Not Contacted", "CreatedDate": TS(10), "LastModifiedDate": TS(10)},
    ]
    rows = account_rows() + leads
    src = write_export(tmp_path / "org.csv", rows)
    out = tmp_path / "out"
    assert main(["plan", str(src), "--out", str(out), "--quiet"]) == 0
    plan = json.loads((out / "merge_plan.json").read_text(encoding="utf-8"))
    with open(out / "lead_accounts.csv", encoding="utf-8") as f:
        listed = list(csv.DictReader(f))
    assert {r["LeadId"] for r in listed} == {lead_a, lead_b} and all(r["account_as_of"] for r in listed)
    approved = [r for r in listed if r["LeadId"] == lead_a]  # the analyst approves one row
    other = [r for r in listed if r["LeadId"] == lead_b]
    with pytest.raises(ApplyError, match="belongs to plan"):
        load_lead_conversions([{**approved[0], "plan_id": "plan_other"}], plan["plan_id"])

    store = OrgStore(api_daily_limit=1_000_000)
    store.load_records([{k: v for k, v in r.items() if v and "." not in k and k not in ("CorporateNumber__c", "Object")}
                        | {"SystemModstamp": r["LastModifiedDate"]} for r in rows])
    store.insert("Task", {"Id": id18("00T5F00000T0001"), "WhoId": lead_a, "Subject": "資料請求のお礼",
                          "CreatedDate": TS(10), "LastModifiedDate": TS(10), "SystemModstamp": TS(10)}, keep_id=True)
    with FakeOrg(store) as org:
        sf = Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(), version="62.0")
        store.update(lead_b, {"Title": "部長"}, "Lead")  # changed after the plan
        journal = tmp_path / "journal.duckdb"
        report = apply_plan(plan, journal_db=journal, sf=sf, execute=True, lead_conversions=approved + other)
        # (the plan's three groups of Accounts, then the approved conversion; the changed one skipped)
        assert not report.groups_failed and report.groups_applied == 4, report.to_dict()
        assert [g["Id"] for g in report.groups_stale] == [lead_b]  # skipped: changed since the plan
        assert report.exit_code == 1  # (something was skipped)
        lead = store.get(lead_a)
        assert lead["IsConverted"] is True and lead["ConvertedAccountId"] == acc(1)
        contact = store.get(lead["ConvertedContactId"])
        assert (contact["AccountId"], contact["LastName"], contact["FirstName"], contact["Email"], contact["Title"]) == \
            (acc(1), "木村", "誠", "m.kimura@yamada-ss.co.jp", "購買部 課長")
        assert store.get(id18("00T5F00000T0001"))["WhoId"] == contact["Id"]
        assert store.get(lead_b)["IsConverted"] is False
        again = apply_plan(plan, journal_db=journal, sf=sf, execute=True, lead_conversions=approved)
        assert again.steps_done == 0 and again.groups_already_applied == 4, again.to_dict()
        undone = undo_plan(plan, journal_db=journal, sf=sf, execute=True, lead_conversions=approved)
        assert {(r["kind"], r["Id"]) for r in undone.not_restored} >= {("converted_lead", lead_a)}, undone.not_restored
        assert store.get(lead_a)["IsConverted"] is True  # (the API cannot revert a conversion)


def test_two_customer_codes_hold_a_pair_for_review_and_a_customer_stays_a_customer(tmp_path):
    """AccountNumber is an ERP's customer code: two Accounts of one name and switchboard with two
    codes are kept apart more often than not (review, rule other_account_number); with one code or
    the same, they merge -- and the merged Account keeps the master's Type (Customer) and code, not
    a newer duplicate's Prospect."""
    from tests.nayose.fakeorg_helpers import plan_export

    def row(n: int, name: str, number: str, typ: str, month: int) -> dict:
        return {"Id": acc(n), "Object": "Account", "Name": name, "Phone": "052-111-2222", "AccountNumber": number,
                "Type": typ, "CreatedDate": TS(month), "LastModifiedDate": TS(month)}

    rows = [row(31, "株式会社東海物産", "C-1001", "Customer", 1), row(32, "東海物産(株)", "C-2002", "Customer", 2),
            row(33, "中部精工株式会社", "C-3003", "Customer", 1), row(34, "(株)中部精工", "", "Prospect", 5)]
    plan = plan_export(tmp_path, rows)
    groups = {tuple(sorted([g["master_id"], *g["loser_ids"]])): g for g in plan["clusters"]}
    tokai = groups[(acc(31), acc(32))]
    assert tokai["status"] == "review" and {e["rule"] for e in tokai["evidence"]} == {"other_account_number"}
    chubu = groups[(acc(33), acc(34))]
    assert chubu["status"] == "auto" and chubu["master_id"] == acc(33)
    assert chubu["fields"]["Type"]["value"] == "Customer" and chubu["fields"]["AccountNumber"]["value"] == "C-3003"


def test_two_legal_entities_chained_by_a_third_account_are_not_merged_without_review(tmp_path):
    """株式会社東洋精機 with 法人番号 A at one switchboard, 東洋精機(株) with none at that switchboard and
    at a website, 東洋精機株式会社 with 法人番号 B at the website: each link is an auto rule's, but the
    first and the last are two legal entities (rule other_corporate_number). The group goes to review
    and says which two Accounts are kept apart; the same chain with one 法人番号 merges without review.
    Two customer codes (AccountNumber) chained the same way are held too."""
    from tests.nayose.fakeorg_helpers import plan_export

    def row(n: int, name: str, phone: str = "", web: str = "", corp: str = "", number: str = "") -> dict:
        return {"Id": acc(n), "Object": "Account", "Name": name, "Phone": phone, "Website": web,
                "CorporateNumber__c": corp, "AccountNumber": number, "CreatedDate": TS(n % 12 + 1),
                "LastModifiedDate": TS(n % 12 + 1)}

    rows = [row(41, "株式会社東洋精機", phone="03-5000-1000", corp="6010001000001"),
            row(42, "東洋精機(株)", phone="0350001000", web="https://toyo-seiki.co.jp"),
            row(43, "東洋精機株式会社", web="www.toyo-seiki.co.jp", corp="3010001000004"),
            # one 法人番号 only: the same chain is one company
            row(51, "株式会社北斗物産", phone="011-200-3000", corp="4430001000002"),
            row(52, "北斗物産(株)", phone="0112003000", web="hokuto-bussan.co.jp"),
            row(53, "北斗物産株式会社", web="https://www.hokuto-bussan.co.jp/"),
            # two customer codes at the ends of the chain
            row(61, "株式会社南海商会", phone="06-7000-8000", number="K-100"),
            row(62, "南海商会(株)", phone="0670008000", web="nankai-shokai.co.jp"),
            row(63, "南海商会株式会社", web="nankai-shokai.co.jp", number="K-200")]
    plan = plan_export(tmp_path, rows)
    groups = {tuple(sorted([g["master_id"], *g["loser_ids"]])): g for g in plan["clusters"]}
    assert set(groups) == {(acc(41), acc(42), acc(43)), (acc(51), acc(52), acc(53)), (acc(61), acc(62), acc(63))}
    toyo = groups[(acc(41), acc(42), acc(43))]
    assert toyo["status"] == "review"
    assert toyo["status_reason"] == (f"two Accounts here are kept apart: different corporate numbers (two legal entities) "
                                     f"({acc(41)} / {acc(43)})")
    # (approved all the same, the merged Account keeps the master's 法人番号, not the newer duplicate's)
    assert toyo["master_id"] == acc(41) and toyo["fields"]["CorporateNumber__c"]["value"] == "6010001000001"
    assert groups[(acc(51), acc(52), acc(53))]["status"] == "auto"
    nankai = groups[(acc(61), acc(62), acc(63))]
    assert nankai["fields"]["AccountNumber"]["value"] == "K-100"
    assert nankai["status"] == "review" and "two different AccountNumbers" in nankai["status_reason"]
    # (the links themselves stay what their rules say: two auto pairs; the two legal entities are no pair)
    assert {(e["left_id"], e["right_id"]): (e["decision"], e["rule"]) for e in toyo["evidence"]} == {
        (acc(41), acc(42)): ("auto", "same_name_and_contact"), (acc(42), acc(43)): ("auto", "same_name_and_contact")}


@pytest.mark.parametrize("changes_only", [False, True])
def test_an_account_that_chains_two_legal_entities_overnight_sends_the_group_to_review(tmp_path, changes_only):
    """Overnight, an Account with another 法人番号 joins an auto group of two by an auto link: the
    incremental run holds the group for review as the full run on the same snapshot does."""
    from tests.nayose.fakeorg_helpers import write_export

    from nayose.incremental import incremental_run
    from nayose.store import connect

    def row(n: int, name: str, phone: str = "", web: str = "", corp: str = "") -> dict:
        return {**{k: "" for k in account_rows()[0]}, "Id": acc(n), "Object": "Account", "Name": name, "Phone": phone,
                "Website": web, "CorporateNumber__c": corp, "CreatedDate": TS(n % 12 + 1), "LastModifiedDate": TS(n % 12 + 1)}

    rows = _people_and_accounts() + [row(41, "株式会社東洋精機", "03-5000-1000", corp="6010001000001"),
                                     row(42, "東洋精機(株)", "0350001000", "https://toyo-seiki.co.jp")]
    new = row(43, "東洋精機株式会社", web="www.toyo-seiki.co.jp", corp="3010001000004")
    cols = sorted({k for r in rows + [new] for k in r})
    first = write_export(tmp_path / "night1.csv", rows, cols=cols)
    second = write_export(tmp_path / "night2.csv", rows + [new], cols=cols)
    changes = write_export(tmp_path / "changes.csv", [new], cols=cols)
    with connect(tmp_path / "store.duckdb") as con:
        incremental_run(con, [first], Config())
        before = dict(con.execute('SELECT "Id", status FROM clusters WHERE "Id" IN (?, ?)', [acc(41), acc(42)]).fetchall())
        inc = incremental_run(con, [changes] if changes_only else [second], Config(), changes_only=changes_only)
        assert inc.mode == "incremental", inc.reason
        got = sorted(con.execute('SELECT "Id", cluster_id, status FROM clusters').fetchall())
    assert before == {acc(41): "auto", acc(42): "auto"}
    full = duckdb.connect()
    run_stages(full, [second], Config())
    assert got == sorted(full.execute('SELECT "Id", cluster_id, status FROM clusters').fetchall())
    toyo = {i: (c, s) for i, c, s in got if i in (acc(41), acc(42), acc(43))}
    assert len({c for c, _ in toyo.values()}) == 1 and {s for _, s in toyo.values()} == {"review"}


def test_a_company_entered_ten_times_over_is_one_auto_group_up_to_its_own_limit(tmp_path):
    """Ten Accounts of one company (a rep's, each card import's), every pair the same name at one
    switchboard: one group merged without review (accounts.max_auto_size, 20 by default; people's
    groups stop at cluster.max_auto_size, 8); with accounts.max_auto_size 8 the group waits for review."""
    from tests.nayose.fakeorg_helpers import write_export

    names = ["株式会社大和テック", "大和テック(株)", "大和テック株式会社", "（株）大和テック", "大和テック㈱",
             "株式会社 大和テック", "大和テック　株式会社", "株式会社大和テック", "㈱大和テック", "大和テック (株)"]
    phones = ["03-4100-2200", "0341002200", "03(4100)2200", "+81 3-4100-2200", "０３－４１００－２２００"] * 2
    rows = [{"Id": acc(70 + i), "Object": "Account", "Name": name, "Phone": phone, "CreatedDate": TS(i + 1),
             "LastModifiedDate": TS(i + 1)} for i, (name, phone) in enumerate(zip(names, phones))]
    src = write_export(tmp_path / "accounts.csv", rows)

    def statuses(config: Config) -> set[tuple[str, int]]:
        con = duckdb.connect()
        run_stages(con, [src], config)
        return set(con.execute("SELECT DISTINCT status, cluster_size FROM clusters").fetchall())

    assert statuses(Config()) == {("auto", 10)}
    assert statuses(Config.model_validate({"accounts": {"max_auto_size": 8}})) == {("review", 10)}


def test_one_name_at_one_postal_code_with_another_switchboard_is_for_review(tmp_path):
    """A postal code covers a block or a building: さくら不動産 twice at 〒150-0002 with two switchboards
    and two websites may be two companies (review, rule same_name_postal_only); with nothing that
    disagrees the postal code is the common contact point (auto)."""
    def row(n: int, name: str, phone: str = "", web: str = "", postal: str = "") -> dict:
        return {"Id": acc(n), "Object": "Account", "Name": name, "Phone": phone, "Website": web,
                "BillingPostalCode": postal, "BillingState": "東京都", "CreatedDate": TS(n % 12 + 1),
                "LastModifiedDate": TS(n % 12 + 1)}

    rows = [row(81, "株式会社さくら不動産", "03-3400-1111", "sakura-fudosan.co.jp", "150-0002"),
            row(82, "さくら不動産(株)", "03-3499-2222", "sakura-estate.jp", "〒1500002"),
            row(83, "有限会社みどり設計", "03-5500-3333", "", "160-0022"),
            row(84, "みどり設計(有)", "", "", "160-0022")]
    from tests.nayose.fakeorg_helpers import write_export

    con = duckdb.connect()
    run_stages(con, [write_export(tmp_path / "accounts.csv", rows)], Config())
    got = {(a, b): (d, r) for a, b, d, r in con.execute("SELECT left_id, right_id, decision, rule FROM account_pairs").fetchall()}
    assert got == {(acc(81), acc(82)): ("review", "same_name_postal_only"),
                   (acc(83), acc(84)): ("auto", "same_name_and_contact")}


def test_a_mistyped_corporate_number_is_no_second_legal_entity(tmp_path):
    """北斗物産 entered twice at one switchboard, the second 法人番号 mistyped (its check digit fails):
    one company (auto, same_name_and_contact), not two legal entities; the stage counts the number."""
    from tests.nayose.fakeorg_helpers import write_export

    rows = [{"Id": acc(91), "Object": "Account", "Name": "株式会社北斗物産", "Phone": "011-200-3000",
             "CorporateNumber__c": "4430001000002", "CreatedDate": TS(1), "LastModifiedDate": TS(1)},
            {"Id": acc(92), "Object": "Account", "Name": "北斗物産(株)", "Phone": "0112003000",
             "CorporateNumber__c": "4430001000020", "CreatedDate": TS(2), "LastModifiedDate": TS(2)}]
    con = duckdb.connect()
    results = run_stages(con, [write_export(tmp_path / "accounts.csv", rows)], Config())
    assert con.execute("SELECT decision, rule FROM account_pairs").fetchall() == [("auto", "same_name_and_contact")]
    assert con.execute("SELECT count(*) FROM account_conflicts").fetchall()[0][0] == 0
    assert next(r for r in results if r.stage == "accounts").stats["invalid_corporate_numbers"] == 1


@pytest.mark.parametrize("changes_only", [False, True])
def test_accounts_changed_deleted_and_added_overnight_match_as_a_full_run_does(tmp_path, changes_only):
    """An incremental run decides again only the Account pairs the night's changes touch (a renamed
    Account, one with a new switchboard, one deleted, two new ones -- one of them a fourth entry that
    chains a company's Accounts): every Account table and group equals a full run's on the same
    snapshot."""
    from tests.nayose.fakeorg_helpers import write_export

    from nayose.incremental import incremental_run
    from nayose.store import connect

    rows = account_rows() + _people_and_accounts()[2:]  # (and two people: an incremental state needs some)
    cols = sorted({k for r in rows for k in r})
    by_n = {n: r for (n, *_), r in zip(ACCOUNTS, rows)}
    night2 = {r["Id"]: dict(r) for r in rows}
    changed = [
        {**by_n[8], "Name": "山田製作所株式会社", "LastModifiedDate": TS(12)},  # the typo mended: now the same name
        {**by_n[10], "Phone": "011-222-3333", "LastModifiedDate": TS(12)},  # the namesake moves to さくら商事's switchboard
        {**by_n[1], "Id": acc(97), "Name": "ヤマダ製作所(株)", "Phone": "03-1234-5678"},  # new: a kana writing
        {**by_n[16], "Id": acc(98), "CorporateNumber__c": "", "Website": "green-logi.co.jp"},  # new: chains 15 and 16
    ]
    deleted = [acc(13)]  # a B2C bucket Account
    for r in changed:
        night2[r["Id"]] = {**{c: "" for c in cols}, **r}
    for i in deleted:
        del night2[i]
    first = write_export(tmp_path / "night1.csv", rows, cols=cols)
    second = write_export(tmp_path / "night2.csv", list(night2.values()), cols=cols)
    delta = write_export(tmp_path / "changes.csv", changed, cols=cols)
    gone = tmp_path / "deleted.csv"
    gone.write_text("Id\n" + "\n".join(deleted) + "\n", encoding="utf-8")
    tables = {"account_pairs": "left_id, right_id, match_probability, decision, rule, evidence",
              "account_conflicts": "left_id, right_id, rule",
              "normalized_accounts": "* EXCLUDE (rec_idx)", "clusters": '"Id", cluster_id, status'}
    with connect(tmp_path / "store.duckdb") as con:
        incremental_run(con, [first], Config())
        inc = incremental_run(con, [delta] if changes_only else [second], Config(), changes_only=changes_only,
                              deleted_ids=deleted if changes_only else ())
        assert inc.mode == "incremental", inc.reason
        stage = next(r for r in inc.results if r.stage == "accounts")
        assert "invalid_corporate_numbers_changed" in stage.stats  # (the Accounts were matched incrementally)
        got = {t: sorted(con.execute(f"SELECT {c} FROM {t}").fetchall(), key=str) for t, c in tables.items()}
    full = duckdb.connect()
    run_stages(full, [second], Config())
    for t, c in tables.items():
        assert got[t] == sorted(full.execute(f"SELECT {c} FROM {t}").fetchall(), key=str), t
    rules = {(a, b): r for a, b, _, _, r, _ in got["account_pairs"]}
    assert rules[(acc(15), acc(98))] == "same_name_and_contact" and (acc(16), acc(98)) in rules
    assert any(r == "other_corporate_number" for *_, r in got["account_conflicts"])  # 15 / 16: kept apart
