"""Plans: `nayose plan` on the built-in sample (business-card values survive, no blank wins),
merge_plan.json format and determinism, chained merges, convert_lead, review for different
accounts, delete rules, Excel-safe CSVs and `nayose explain`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import re
import unicodedata

import pytest

from nayose.config import CLEARED, CONSENT_FIELDS, Config, DeleteRule, DeleteRulesConfig
from nayose.plan import build_plan, excel_safe, plan_document, write_csv
from nayose.sample import write_sample
from nayose.normalize import MIN_READING_KANA, is_reading_column
from nayose.survive import script_rank, AS_MASTER_WRITES, blank, considered_fields, is_card_record, survive

from test_survive import make_db, rec  # noqa: E402  (tests/nayose is on sys.path under pytest)

CFG = Config()


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nayose.cli", *map(str, args)], capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def sample_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    org = d / "org.csv"
    write_sample(3000, 11, org, d / "org.truth.csv")
    out = d / "out"
    proc = run("plan", org, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr.decode()
    with open(org, encoding="utf-8", newline="") as f:
        rows = {r["Id"]: {k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)}
    plan = json.loads((out / "merge_plan.json").read_text(encoding="utf-8"))
    return org, out, rows, plan


def nfkc(v: str) -> str:
    return unicodedata.normalize("NFKC", v).strip()


def _view(row: dict, master_object: str) -> dict:
    """The record's considered fields, under the master's field names (a Lead converted into a Contact)."""
    sv = CFG.survivorship
    vals = {f: row[f] for f in considered_fields(list(row), sv)}
    if row["Object"] == "Lead" and master_object == "Contact":
        for src, dst in sv.lead_to_contact_fields.items():
            if src in vals:
                v = vals.pop(src)
                if blank(vals.get(dst)):
                    vals[dst] = v
    return vals


def test_sample_single_card_values_survive_and_no_blank_wins(sample_plan):
    _, _, rows, plan = sample_plan
    clusters = plan["clusters"]
    assert len(clusters) > 100
    one_card_groups = 0
    for c in clusters:
        ids = [c["master_id"], *c["loser_ids"]]
        views = {i: _view(rows[i], c["object"]) for i in ids}
        cards = [i for i in ids if is_card_record(rows[i], CFG.survivorship)]
        if len(cards) == 1:
            one_card_groups += 1
            card = dict(views[cards[0]])
            # (a whole Japanese name in LastName, FirstName blank: its two parts survive as the
            # surname and the given name)
            parts = (card.get("LastName") or "").replace("\u3000", " ").split()
            if blank(card.get("FirstName")) and len(parts) == 2 and all(re.search("[\u3040-\u30ff\u4e00-\u9fff]", p) for p in parts):
                card["LastName"], card["FirstName"] = parts
            for f, v in card.items():
                if not blank(v):
                    assert f in c["fields"], (c["cluster_id"], f)
                    if f in CONSENT_FIELDS:  # an opt-out on any record is kept, over the card's value too
                        opted = any(views[i].get(f) == "true" for i in ids)
                        assert (c["fields"][f]["value"] == "true") == opted, (c["cluster_id"], f, c["fields"][f])
                        continue
                    if is_reading_column(f) and len(nfkc(v)) < MIN_READING_KANA and c["fields"][f]["value"] != v:
                        continue  # (a reading cut to one kana by Eight gives way to the full one)
                    if c["fields"][f]["rule"].endswith(AS_MASTER_WRITES):  # the card's value, as the master writes it
                        assert c["fields"][f]["value"] == views[c["master_id"]][f], (c["cluster_id"], f, c["fields"][f])
                        continue
                    if f in CFG.survivorship.card_exempt_fields:  # the master's owner / status / record type
                        continue
                    if "native_script" in c["fields"][f]["rule"] and script_rank(c["fields"][f]["value"], f) < script_rank(v, f):
                        continue  # the card's name in kana or romaji, the same name in kanji from another record
                    assert nfkc(c["fields"][f]["value"]) == nfkc(v), (c["cluster_id"], f, v, c["fields"][f])
        # no blank wins over a value, in any group -- but an address's member is taken only from a
        # record at the group's address (its postal code, else its street), and the master's of
        # another address is cleared with it
        for f in {f for v in views.values() for f in v}:
            grp = next((x.fields for x in CFG.survivorship.field_groups if "address" in x.name and f in x.fields), None)
            holders = [i for i, v in views.items() if not blank(v.get(f))]
            if grp and holders and (f not in c["fields"] or c["fields"][f]["rule"].endswith(CLEARED)):
                kept = c["fields"].get(grp[0]) or c["fields"].get(grp[3])
                assert kept is not None, (c["cluster_id"], f)
                w = views[kept["from_id"]]
                for i in holders:
                    if not blank(w.get(grp[3])) and not blank(views[i].get(grp[3])):
                        assert re.sub(r"\D", "", nfkc(w[grp[3]])) != re.sub(r"\D", "", nfkc(views[i][grp[3]])), (c["cluster_id"], f, i)
                    else:
                        assert not blank(w.get(grp[0])) and not blank(views[i].get(grp[0])), (c["cluster_id"], f, i)
                continue
            if holders:
                assert f in c["fields"] and not blank(c["fields"][f]["value"]), (c["cluster_id"], f)
    assert one_card_groups > 30


def test_sample_plan_format_steps_and_groups(sample_plan):
    _, out, rows, plan = sample_plan
    assert set(plan) == {"plan_id", "created_at", "clusters"}
    seen: set[str] = set()
    with open(out / "clusters.csv", encoding="utf-8") as f:
        status = {r["Id"]: r for r in csv.DictReader(f)}
    for c in plan["clusters"]:
        assert c["status"] in ("auto", "review") and c["object"] in ("Lead", "Contact")
        ids = [c["master_id"], *c["loser_ids"]]
        assert not (set(ids) & seen)  # each record in at most one group
        seen |= set(ids)
        assert {status[i]["cluster_id"] for i in ids} == {c["cluster_id"]}
        assert rows[c["master_id"]]["Object"] == c["object"]
        for fv in c["fields"].values():
            assert set(fv) == {"value", "from_id", "rule"} and fv["from_id"] in ids
        for s in c["steps"]:
            if s["action"] == "merge":
                assert set(s) == {"action", "master_id", "loser_ids"} and 1 <= len(s["loser_ids"]) <= 2
                assert {rows[i]["Object"] for i in [s["master_id"], *s["loser_ids"]]} == {c["object"]}
            else:
                assert set(s) == {"action", "lead_id", "contact_id", "account_id"}
                assert rows[s["lead_id"]]["Object"] == "Lead" and s["contact_id"] == c["master_id"]
        contacts = {rows[i]["AccountId"] for i in ids if rows[i]["Object"] == "Contact" and rows[i]["AccountId"]}
        if len(contacts) > 1:
            assert c["status"] == "review"
        for e in c["evidence"]:
            assert {e["left_id"], e["right_id"]} <= set(ids) and e["levels"]
        # the applier's stale check: every record's as-of time as exported
        assert c["as_of"] == {i: rows[i]["LastModifiedDate"] for i in ids}
    actions = {s["action"] for c in plan["clusters"] for s in c["steps"]}
    assert actions == {"merge", "convert_lead"}
    # merge_plan.csv: one row per step
    with open(out / "merge_plan.csv", encoding="utf-8", newline="") as f:
        steps = list(csv.DictReader(f))
    assert len(steps) == sum(len(c["steps"]) for c in plan["clusters"])
    # the reason a group is held for review, as merge_plan.json gives it
    reasons = {c["cluster_id"]: c.get("status_reason") or "" for c in plan["clusters"]}
    assert all(r["status_reason"] == reasons[r["cluster_id"]] for r in steps)
    # delete_plan.csv never holds a card record nor a record of a group
    with open(out / "delete_plan.csv", encoding="utf-8", newline="") as f:
        dels = list(csv.DictReader(f))
    assert dels and list(dels[0]) == ["plan_id", "Id", "object", "reason", "as_of"]
    for d in dels:
        assert not is_card_record(rows[d["Id"]], CFG.survivorship) and d["Id"] not in seen


def test_same_input_same_plan_bytes(sample_plan, tmp_path):
    org, out, _, plan = sample_plan
    again = tmp_path / "again"
    assert run("plan", org, "--out", again, "--quiet").returncode == 0
    for name in ("merge_plan.json", "merge_plan.csv", "field_changes.csv", "delete_plan.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    cfg = tmp_path / "c.yaml"
    cfg.write_text("survivorship:\n  default_rule: oldest\n", encoding="utf-8")
    other = tmp_path / "other"
    assert run("plan", org, "--out", other, "--quiet", "--config", cfg).returncode == 0
    assert json.loads((other / "merge_plan.json").read_text(encoding="utf-8"))["plan_id"] != plan["plan_id"]


def test_field_changes_only_real_changes(sample_plan):
    _, out, rows, plan = sample_plan
    by_id = {c["cluster_id"]: c for c in plan["clusters"]}
    with open(out / "field_changes.csv", encoding="utf-8", newline="") as f:
        changes = list(csv.DictReader(f))
    assert changes
    for ch in changes[:500]:
        c = by_id[ch["cluster_id"]]
        assert ch["master_id"] == c["master_id"]
        new = c["fields"][ch["field"]]["value"]
        assert ch["new_value"] == excel_safe(new)
        assert (rows[c["master_id"]].get(ch["field"]) or "") != (new or "")


def test_explain_prints_evidence_and_survival_and_rejects_unknown_id(sample_plan):
    _, out, _, plan = sample_plan
    c = next(c for c in plan["clusters"] if c["evidence"] and any("business_card" in f["rule"] for f in c["fields"].values()))
    proc = run("explain", out, c["cluster_id"])
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode("utf-8")
    assert c["master_id"] in text and "business_card" in text and "last_name" in text
    e = c["evidence"][0]
    assert f"{e['left_id']} ~ {e['right_id']}" in text
    some_field, fv = next((f, v) for f, v in c["fields"].items() if v["value"])
    assert some_field in text and fv["value"] in text
    bad = run("explain", out, "003NOPE")
    assert bad.returncode == 2
    err = bad.stderr.decode("utf-8")
    assert "003NOPE" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert run("explain", out.parent / "missing", "x").returncode == 2


# --------------------------------------------------------------------------------------------- units


def test_chained_merges_for_five_records():
    # the oldest Contact is the master; the four others merge into it two at a time, in Id order
    g = [rec(f"0035F000000000{k}", "Contact", created=10 - k if k != 3 else 0, LastName="中村") for k in range(1, 6)]
    con = make_db([g])
    survive(con, CFG)
    build_plan(con, CFG)
    (c,) = plan_document(con, CFG)["clusters"]
    assert c["master_id"] == "0035F0000000003"
    assert c["steps"] == [
        {"action": "merge", "master_id": "0035F0000000003", "loser_ids": ["0035F0000000001", "0035F0000000002"]},
        {"action": "merge", "master_id": "0035F0000000003", "loser_ids": ["0035F0000000004", "0035F0000000005"]},
    ]


def test_lead_contact_group_becomes_convert_lead():
    g = [
        rec("00Q5F0000000001", "Lead", created=10, LastName="渡辺", LeadSource="名刺", Company="株式会社ABC"),
        rec("00Q5F0000000002", "Lead", created=20, LastName="渡邊"),
        rec("0035F0000000001", "Contact", created=30, LastName="渡辺", AccountId="0015F000000A001"),
    ]
    con = make_db([g])
    survive(con, CFG)
    build_plan(con, CFG)
    doc = plan_document(con, CFG)
    (c,) = doc["clusters"]
    assert c["object"] == "Contact" and c["master_id"] == "0035F0000000001"
    assert c["steps"] == [
        {"action": "convert_lead", "lead_id": "00Q5F0000000001", "contact_id": "0035F0000000001", "account_id": "0015F000000A001"},
        {"action": "convert_lead", "lead_id": "00Q5F0000000002", "contact_id": "0035F0000000001", "account_id": "0015F000000A001"},
    ]
    assert c["fields"]["Account.Name"] == {"value": "株式会社ABC", "from_id": "00Q5F0000000001", "rule": "business_card"}


def test_contacts_under_different_accounts_are_review_in_the_plan():
    g = [rec("0035F0000000001", "Contact", LastName="伊藤", AccountId="0015F000000A001"),
         rec("0035F0000000002", "Contact", created=5, LastName="伊藤", AccountId="0015F000000A002")]
    con = make_db([g])
    survive(con, CFG)
    build_plan(con, CFG)
    (c,) = plan_document(con, CFG)["clusters"]
    assert c["status"] == "review" and c["status_reason"] == "contacts under different accounts"


def test_a_lead_is_converted_under_the_account_the_master_has_after_the_merge():
    """A newer card Contact under another account gives the master (an older card) its AccountId in
    the merge (the most recent card wins); the Lead's conversion that follows names that account -- it named the master's old one,
    and convertLead refused (the contact is not associated with that account)."""
    g = [rec("0035F0000000011", "Contact", created=0, LastName="古谷", AccountId="0015F000000A001", LeadSource="Sansan"),
         rec("0035F0000000012", "Contact", created=5, LastName="古谷", AccountId="0015F000000A002", LeadSource="名刺"),
         rec("00Q5F0000000013", created=9, LastName="古谷")]
    con = make_db([g])
    survive(con, CFG)
    build_plan(con, CFG)
    steps = con.execute("SELECT action, master_id, contact_id, account_id FROM plan_steps ORDER BY step_no").fetchall()
    assert steps == [("merge", "0035F0000000011", None, None), ("convert_lead", None, "0035F0000000011", "0015F000000A002")]


def test_delete_rules_never_touch_cards_unless_explicit():
    singles = [
        rec("00Q0000000000T1", LastName="テスト", Company="ｔｅｓｔ", Email="t@abc-shoji.co.jp"),
        rec("00Q0000000000T2", LastName="テスト", LeadSource="名刺", Email="t2@abc-shoji.co.jp"),
        rec("00Q0000000000T3", LastName="山田", Sansan_Person_Id__c="SP1"),  # no email, no phone, but a card
        rec("00Q0000000000T4", LastName="山田", Email="not-an-email"),
        rec("00Q0000000000T5", LastName="山田", Phone="０３－１２３４－５６７９"),
        rec("00Q0000000000T6", LastName="テスト工業", Company="テストエンジニアリング株式会社", Email="x@abc-shoji.co.jp"),
        rec("00Q0000000000T7", LastName="aaaa", Email="a@abc-shoji.co.jp"),
        # a dummy address and a dummy number are no contact information
        rec("00Q0000000000T8", LastName="山田", Email="noemail@abc-shoji.com", MobilePhone="090-1234-5678"),
        rec("00Q0000000000T9", LastName="山田", Email="yamada@abc-shoji.co.jp", Phone="０３－００００－００００"),
        # a postal address is a way to reach a person (direct mail); 不明 and 000-0000 are not
        rec("00Q0000000000TA", LastName="山田", Street="丸の内1-1-1"),
        rec("00Q0000000000TB", LastName="山田", PostalCode="〒100-0005"),
        rec("00Q0000000000TC", LastName="山田", Street="不明", PostalCode="000-0000"),
        # a Contact belongs to an account and may carry history the export does not show
        rec("0035F00000000TD", "Contact", LastName="山田", AccountId="0015F000000A001"),
    ]
    con = make_db([], singles)
    survive(con, CFG)
    build_plan(con, CFG)
    got = dict(con.execute('SELECT "Id", reason FROM delete_plan').fetchall())
    unreachable = "a lead with no valid email, phone or address"
    assert got == {"00Q0000000000T1": "test / dummy name or company", "00Q0000000000T4": unreachable,
                   "00Q0000000000T7": "test / dummy name or company", "00Q0000000000T8": unreachable,
                   "00Q0000000000TC": unreachable}
    cfg = Config(delete_rules=DeleteRulesConfig(rules=[
        DeleteRule(name="t", reason="test", fields=["LastName"], patterns=["テスト"], include_business_cards=True)]))
    build_plan(con, cfg)
    assert {r[0] for r in con.execute('SELECT "Id" FROM delete_plan').fetchall()} == {"00Q0000000000T1", "00Q0000000000T2"}


@pytest.mark.parametrize("value, expect", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+81 3-1234-5678", "'+81 3-1234-5678"), ("-5", "'-5"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("佐藤", "佐藤"), ("a=b", "a=b"), (None, ""), ("", ""),
])
def test_excel_safe(value, expect):
    assert excel_safe(value) == expect


def test_every_csv_cell_is_escaped(tmp_path):
    p = tmp_path / "x.csv"
    write_csv(p, ["Id", "v"], [["003A", "=1+1"], ["003B", "-cmd"]])
    with open(p, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["Id", "v"], ["003A", "'=1+1"], ["003B", "'-cmd"]]


def test_a_converted_lead_beside_its_contact_is_no_duplicate(tmp_path):
    """An org's extract (and Data Loader's export) holds the Leads already converted: read-only
    history beside the Contact each became, with the same name, mailbox and phone. Such a Lead is
    a single record with no step in any plan (before, it was grouped auto with its Contact and
    given a convert_lead step Salesforce refuses); a Lead not converted yet still is."""
    org = tmp_path / "org.csv"
    write_sample(500, 4, org, tmp_path / "org.truth.csv")
    with open(org, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0]) + ["IsConverted", "ConvertedContactId", "IsDeleted", "MasterRecordId"]
    person = {"LastName": "森下", "FirstName": "健太", "Email": "kenta.morishita@minato-data.co.jp",
              "Phone": "03-5412-7788", "MobilePhone": "090-3321-9911", "LeadSource": "Web"}
    extra = [
        {"Id": "0035F00000ZC001AAA", "Object": "Contact", **person, "Account.Name": "株式会社ミナトデータ",
         "AccountId": "0015F00000ZC001AAA"},
        {"Id": "00Q5F00000ZC001AAA", "Object": "Lead", **person, "Company": "株式会社ミナトデータ",
         "IsConverted": "true", "ConvertedContactId": "0035F00000ZC001AAA"},
        {"Id": "00Q5F00000ZC002AAA", "Object": "Lead", **person, "Company": "ミナトデータ", "IsConverted": "false"},
        # a converted test Lead with neither mailbox nor phone: no delete candidate either
        {"Id": "00Q5F00000ZC003AAA", "Object": "Lead", "LastName": "テスト", "FirstName": "太郎", "Company": "テスト",
         "IsConverted": "TRUE"},
        # a merge loser in the Recycle Bin (Data Loader's Export All): no duplicate either
        {"Id": "00Q5F00000ZC004AAA", "Object": "Lead", **person, "Company": "ミナトデータ", "IsConverted": "false",
         "IsDeleted": "true", "MasterRecordId": "00Q5F00000ZC002AAA"},
    ]
    with open(org, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow({**r, "IsConverted": "false" if r["Object"] == "Lead" else ""})
        for r in extra:
            w.writerow({c: r.get(c, "") for c in cols})
    out = tmp_path / "out"
    proc = run("plan", org, "--out", out)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "(3 converted Leads or deleted records left out of matching)" in proc.stderr.decode()
    with open(out / "clusters.csv", encoding="utf-8", newline="") as f:
        clusters = {r["Id"]: r for r in csv.DictReader(f)}
    assert clusters["00Q5F00000ZC001AAA"]["status"] == clusters["00Q5F00000ZC004AAA"]["status"] == "single"
    assert clusters["00Q5F00000ZC002AAA"]["cluster_id"] == clusters["0035F00000ZC001AAA"]["cluster_id"]
    plan = (out / "merge_plan.csv").read_text(encoding="utf-8")
    assert "00Q5F00000ZC001AAA" not in plan and "00Q5F00000ZC002AAA" in plan
    assert "00Q5F00000ZC003AAA" not in (out / "delete_plan.csv").read_text(encoding="utf-8")
    assert "00Q5F00000ZC004AAA" not in plan
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["read_only_records"] == 3


def test_plan_id_covers_the_plan_content_and_unwritten_fields_are_marked(tmp_path):
    """Same input and config but other groups (an incremental and a full run, another model): another
    plan id. field_changes.csv says which changes the applier never writes (Account.Name)."""
    from nayose.plan import RELATIONSHIP_NOT_WRITTEN, not_written_reason, write_plan_outputs

    g = [
        rec("00Q5F0000000001", "Lead", created=10, LastName="渡辺", LeadSource="名刺", Company="株式会社ABC"),
        rec("00Q5F0000000002", "Lead", created=20, LastName="渡邊", Status="Working"),
        rec("0035F0000000001", "Contact", created=30, LastName="渡辺", AccountId="0015F000000A001"),
    ]
    con = make_db([g])
    survive(con, CFG)
    build_plan(con, CFG)
    (tmp_path / "a").mkdir()
    counts = write_plan_outputs(con, tmp_path / "a", CFG)
    doc = json.loads((tmp_path / "a" / "merge_plan.json").read_text(encoding="utf-8"))
    assert doc["plan_id"] == counts["plan_id"] == plan_document(con, CFG)["plan_id"]
    with open(tmp_path / "a" / "field_changes.csv", encoding="utf-8", newline="") as f:
        changes = list(csv.DictReader(f))
    assert changes and list(changes[0])[-1] == "written"
    by_field = {c["field"]: c["written"] for c in changes}
    assert by_field["Account.Name"] == RELATIONSHIP_NOT_WRITTEN
    assert by_field["Status"] == "not written: not a field of Contact"  # (a Lead's field: the Contact has none)
    assert all(w == "yes" for f, w in by_field.items() if "." not in f and not_written_reason(f, "Contact") is None)
    assert counts["field_changes_not_written"] == sum(c["written"] != "yes" for c in changes) >= 1
    # the same again: the same id and bytes; another grouping of the same input: another id
    (tmp_path / "b").mkdir()
    assert write_plan_outputs(con, tmp_path / "b", CFG)["plan_id"] == counts["plan_id"]
    assert (tmp_path / "b" / "merge_plan.json").read_bytes() == (tmp_path / "a" / "merge_plan.json").read_bytes()
    con.execute("UPDATE survivors SET status = 'review'")
    (tmp_path / "c").mkdir()
    assert write_plan_outputs(con, tmp_path / "c", CFG)["plan_id"] != counts["plan_id"]
    assert not list((tmp_path / "c").glob(".merge_plan*"))  # (the spooled group lines are gone)
