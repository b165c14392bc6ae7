"""Sync health diagnosis (nayose.synchealth) against the sample org's Pardot side, where every problem
is planted on purpose (nayose.sample_sync): each is found with the right cause and nothing else is."""

import csv
import json
from collections import Counter

import duckdb
import pytest

from nayose.cli import main
from nayose.config import Config
from nayose.eligibility import load_prospects
from nayose.records import load_records
from nayose.sample_sync import write_sync_sample
from nayose.synchealth import load_metadata, run_sync_health

PLANTED = {
    "not_synced": {"sharing_rule_excludes", "email_on_other_prospect", "unlinked_prospect_has_email", "new_since_last_sync", "unknown"},
    "over_synced": {"exclusion:billing", "exclusion:recruiting", "exclusion:partner", "stale", "quality:no_company", "orphan"},
    "duplicate": {"same_crm_id", "same_email_different_crm_ids", "no_crm_id_beside_record"},
    "field_mapping": {"picklist_mismatch", "length_mismatch", "type_mismatch", "value_does_not_fit"},
    "not_syncing": {"value_does_not_fit", "not_carried_by_sync"},
    "reverts": {"cleared_value_refilled", "pardot_edit_overwritten", "salesforce_edit_overwritten", "card_value_overwritten"},
}


def _run(folder, records, seed, config=None):
    stats = write_sync_sample(records, seed, folder)
    p = stats["paths"]
    con = duckdb.connect()
    cfg = config or Config()
    load_records(con, [p["records"]], cfg)
    load_prospects(con, p["prospects"])
    summary = run_sync_health(con, cfg, folder / "out", metadata=load_metadata(p["metadata"]))
    return con, stats, summary


def _keys(con, sql):
    return {tuple(r) for r in con.execute(sql).fetchall()}


FOUND = """SELECT problem, cause, coalesce("Id", ''), coalesce(prospect_id, ''), coalesce(field, '') FROM sync_findings"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sync")
    con, stats, summary = _run(folder, 3000, 42)
    con.execute(f"CREATE TABLE truth AS SELECT * FROM read_csv('{stats['paths']['truth']}', all_varchar=true)")
    return folder, con, stats, summary


def test_every_planted_problem_is_found_and_nothing_else(run):
    folder, con, stats, summary = run
    found = _keys(con, FOUND)
    truth = _keys(con, "SELECT problem, cause, coalesce(\"Id\", ''), coalesce(prospect_id, ''), coalesce(field, '') FROM truth")
    assert len(found) == con.execute("SELECT count(*) FROM sync_findings").fetchall()[0][0]  # no finding twice
    missed, extra = truth - found, found - truth
    assert not missed, Counter(k[:2] for k in missed)
    assert not extra, Counter(k[:2] for k in extra)
    # every kind of problem of the issue is there, each with its causes
    by = Counter((p, c) for p, c, *_ in found)
    for problem, causes in PLANTED.items():
        for cause in causes:
            assert by[(problem, cause)] >= 1, (problem, cause)


def test_another_seed(tmp_path):
    con, stats, _ = _run(tmp_path, 2000, 11)
    truth = set()
    with open(stats["paths"]["truth"], encoding="utf-8") as f:
        for r in csv.DictReader(f):
            truth.add((r["problem"], r["cause"], r["Id"], r["prospect_id"], r["field"]))
    assert _keys(con, FOUND) == truth


def test_causes_are_explained(run):
    _, con, _, _ = run
    detail = dict(con.execute("SELECT problem || ':' || cause, arg_min(detail, coalesce(\"Id\", '')) FROM sync_findings GROUP BY 1").fetchall())
    assert "Marketing Data Sharing rule keeps it out" in detail["not_synced:sharing_rule_excludes"]
    assert "its email is on prospect" in detail["not_synced:email_on_other_prospect"]
    assert "billing contact" in detail["over_synced:exclusion:billing"]
    assert "stale: acquired" in detail["over_synced:stale"]
    assert "different emails" in detail["duplicate:same_crm_id"] or "one email" in detail["duplicate:same_crm_id"]
    assert "官公庁" in detail["field_mapping:picklist_mismatch"]
    assert "number" in detail["field_mapping:type_mismatch"].lower()
    assert "max length 12" in detail["field_mapping:length_mismatch"]
    assert "comes back" in detail["reverts:pardot_edit_overwritten"]
    assert "business-card value" in detail["reverts:card_value_overwritten"]
    # the predicted value is the one the next sync keeps
    rows = con.execute("""SELECT cause, salesforce_value, pardot_value, next_sync_value FROM sync_findings
                          WHERE problem = 'reverts'""").fetchall()
    for cause, sf, pd, nxt in rows:
        expected = {"cleared_value_refilled": pd if sf is None else sf, "pardot_edit_overwritten": sf,
                    "salesforce_edit_overwritten": pd, "card_value_overwritten": pd}[cause]
        assert nxt == expected


def test_prospect_delete_plan(run):
    folder, con, stats, summary = run
    plan_id = summary["plan_id"]
    with open(folder / "out" / "sync_delete_plan.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["plan_id", "Id", "object", "reason", "as_of"]
    assert {r["object"] for r in rows} == {"Prospect"} and {r["plan_id"] for r in rows} == {plan_id}
    assert all(r["as_of"] for r in rows)
    ids = {r["Id"] for r in rows}
    over = {r[0] for r in con.execute(
        "SELECT prospect_id FROM truth WHERE problem = 'over_synced' AND cause <> 'orphan'").fetchall()}
    # duplicates of one CRM ID: the prospect with the record's email (else the oldest) stays
    dup = con.execute("""SELECT t.prospect_id, t."Id", p.email, p.createdAt, r.Email FROM truth t
                         JOIN pardot_prospects p ON p.id = t.prospect_id JOIN raw_records r ON r."Id" = t."Id"
                         WHERE t.cause = 'same_crm_id' ORDER BY t."Id", p.createdAt""").fetchall()
    extras = set()
    by_rec: dict = {}
    for pid, rid, email, created, rec_email in dup:
        by_rec.setdefault(rid, []).append((email.lower() != rec_email.lower(), created, int(pid)))
    for rid, ps in by_rec.items():
        keep = min(ps)
        extras |= {str(p[2]) for p in ps if p != keep}
    assert ids == over | extras
    assert len(extras) == len(by_rec)
    # the sync plan document for the applier
    doc = json.loads((folder / "out" / "sync_plan.json").read_text(encoding="utf-8"))
    assert doc["plan_id"] == plan_id and doc["clusters"] == [] and doc["deletes"] == len(rows)


def test_deletes_go_through_the_applier_journal_dry_run(run, tmp_path):
    """Point 3: the prospect deletes take the applier's path (journal, dry run, plan_id check)."""
    apply = pytest.importorskip("nayose.apply")
    folder, _, _, _ = run
    with open(folder / "out" / "sync_delete_plan.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:15]  # the applier journals each step: a slice keeps the test fast
    report = apply.apply_plan(folder / "out" / "sync_plan.json", journal_db=tmp_path / "journal.duckdb",
                              deletes=rows, execute=False)
    assert report.mode == "dry_run" and report.deletes_planned == len(rows)
    # a row of another plan is refused
    with pytest.raises(apply.ApplyError):
        apply.apply_plan(folder / "out" / "sync_plan.json", journal_db=tmp_path / "journal.duckdb",
                         deletes=[{**rows[0], "plan_id": "plan_other"}], execute=False)
    con = duckdb.connect(str(tmp_path / "journal.duckdb"), read_only=True)
    tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
    assert tables, "the dry run is journaled"
    con.close()


def test_flag_plan_matches_the_plants(run):
    """The flag plan turns the sharing field off for the over-synced records and on for the ones it kept out."""
    folder, con, _, _ = run
    with open(folder / "out" / "flag_plan.csv", encoding="utf-8", newline="") as f:
        rows = {r["Id"]: r for r in csv.DictReader(f)}
    over = {r[0] for r in con.execute("SELECT \"Id\" FROM truth WHERE problem = 'over_synced' AND cause <> 'orphan'").fetchall()}
    kept_out = {r[0] for r in con.execute("SELECT \"Id\" FROM truth WHERE cause = 'sharing_rule_excludes'").fetchall()}
    assert {i for i, r in rows.items() if r["value"] == "false"} == over
    assert {i for i, r in rows.items() if r["value"] == "true"} == kept_out
    assert all(r["reason"] == "eligible: may sync" for i, r in rows.items() if i in kept_out)


def _tiny(tmp_path, sf_rows, prospects, config=None, metadata=None):
    def write(path, rows):
        cols = list(dict.fromkeys(k for r in rows for k in r))
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, cols)
            w.writeheader()
            w.writerows(rows)
    write(tmp_path / "r.csv", sf_rows)
    write(tmp_path / "p.csv", prospects)
    con = duckdb.connect()
    cfg = config or Config()
    load_records(con, [str(tmp_path / "r.csv")], cfg)
    load_prospects(con, tmp_path / "p.csv")
    run_sync_health(con, cfg, metadata=metadata)
    return con


def _rec(i, **kw):
    r = {"Id": f"00Q5F00000B{i:04d}AAA", "LastName": "山田", "FirstName": "花子", "Company": "株式会社サンプル",
         "Email": f"hanako{i}@sample.co.jp", "Title": "課長", "Department": "営業部", "LeadSource": "Web",
         "CreatedDate": "2026-05-01T00:00:00Z", "LastModifiedDate": "2026-06-01T00:00:00Z"}
    r.update(kw)
    return r


def _pro(i, rec, **kw):
    p = {"id": str(1000 + i), "email": rec["Email"], "firstName": rec["FirstName"], "lastName": rec["LastName"],
         "company": rec["Company"], "jobTitle": rec["Title"], "department": rec["Department"], "crmLeadFid": rec["Id"],
         "createdAt": "2026-05-01T01:00:00Z", "updatedAt": "2026-06-01T01:00:00Z", "crmLastSync": "2026-07-01T00:00:00Z"}
    p.update(kw)
    return p


def test_value_prediction_by_behaviour(tmp_path):
    r1, r2, r3, r4 = _rec(1), _rec(2, LeadSource="名刺"), _rec(3), _rec(4, Title="部長", LastModifiedDate="2026-08-01T00:00:00Z")
    prospects = [
        _pro(1, r1, jobTitle="部長", updatedAt="2026-06-20T00:00:00Z"),    # Pardot newer; most recent wins: Pardot's
        _pro(2, r2, company="サンプル", updatedAt="2026-06-20T00:00:00Z"),  # card record: a form fill would overwrite
        _pro(3, r3, department="ＭＡ推進部", updatedAt="2026-06-20T00:00:00Z"),
        _pro(4, r4, jobTitle="課長"),                                       # SF edit after the last sync: pending
    ]
    cfg = Config()
    cfg.sync.field_behaviors["Department"] = "salesforce"
    con = _tiny(tmp_path, [r1, r2, r3, r4], prospects, cfg)
    got = {(r[0][-4:], r[1], r[2], r[3]) for r in con.execute(
        "SELECT \"Id\", problem || ':' || cause, field, next_sync_value FROM sync_findings WHERE problem IN ('reverts', 'not_syncing')").fetchall()}
    assert got == {
        ("1AAA", "not_syncing:not_carried_by_sync", "Title", "部長"),
        ("2AAA", "reverts:card_value_overwritten", "Company", "サンプル"),
        ("3AAA", "reverts:pardot_edit_overwritten", "Department", "営業部"),
    }
    # without card protection the card record's value simply follows the most recent edit
    cfg.sync.protect_card_values = False
    con = _tiny(tmp_path, [r1, r2, r3, r4], prospects, cfg)
    assert con.execute("SELECT count(*) FROM sync_findings WHERE cause = 'card_value_overwritten'").fetchall()[0][0] == 0
    # no crmLastSync in the export: a difference cannot be told pending from broken
    for p in prospects:
        p.pop("crmLastSync")
    con = _tiny(tmp_path, [r1, r2, r3, r4], prospects, Config())
    causes = {r[0] for r in con.execute("SELECT cause FROM sync_findings WHERE problem = 'not_syncing'").fetchall()}
    assert causes == {"differs_no_sync_time"}


def test_width_and_case_are_not_differences(tmp_path):
    r = _rec(1, Company="株式会社ＡＢＣ", Email="Hanako1@Sample.co.jp")
    p = _pro(1, r, company="株式会社ABC", email="hanako1@sample.co.jp", jobTitle=" 課長 ")
    con = _tiny(tmp_path, [r], [p])
    assert con.execute("SELECT count(*) FROM sync_findings").fetchall()[0][0] == 0


def test_no_prospects_and_no_metadata(tmp_path):
    stats = write_sync_sample(1000, 3, tmp_path)
    con = duckdb.connect()
    load_records(con, [stats["paths"]["records"]], Config())
    summary = run_sync_health(con, Config(), tmp_path / "out", prospects=None)
    assert summary["health"]["findings"] == {} and summary["flag_plan"] > 0
    md = (tmp_path / "out" / "sync_health.md").read_text(encoding="utf-8")
    assert "## Which records may sync" in md


def test_report_and_csv(run):
    folder, con, stats, _ = run
    md = (folder / "out" / "sync_health.md").read_text(encoding="utf-8")
    for title in ("Not synced", "Over-synced", "Duplicates created", "Field mapping", "Value not syncing", "Value reverts",
                  "## Field mapping audit"):
        assert title in md
    with open(folder / "out" / "sync_health.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == con.execute("SELECT count(*) FROM sync_findings").fetchall()[0][0]
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())


def test_cli(tmp_path, capsys):
    assert main(["sync-sample", "--records", "800", "--seed", "9", "--out", str(tmp_path / "s")]) == 0
    s = tmp_path / "s"
    rc = main(["sync-health", str(s / "sync_records.csv"), "--prospects", str(s / "sync_prospects.csv"),
               "--metadata", str(s / "sync_metadata.json"), "--out", str(tmp_path / "o")])
    assert rc == 0
    for name in ("sync_health.md", "sync_health.csv", "flag_plan.csv", "sync_delete_plan.csv", "sync_eligibility.csv",
                 "sync_plan.json", "sync_summary.json"):
        assert (tmp_path / "o" / name).is_file(), name
    assert "eligible" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    rc = main(["sync-health", str(s / "sync_records.csv"), "--prospects", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o2")])
    assert rc == 2 and not (tmp_path / "o2").exists()
    assert "lacks column(s) id, email" in capsys.readouterr().err


# ---- cases found by an audit (twentieth session): what the delete and flag plans must not touch ---------

_T = "2025-01-01T00:00:00.000Z"
_P_HEAD = "id,email,crmLeadFid,crmContactFid,optedOut,isDoNotEmail,isEmailHardBounced,isDeleted,createdAt,updatedAt,crmLastSync,lastActivityAt,score"


def _csv(header, *rows):
    return "\n".join([header, *rows]) + "\n"


def _health(tmp_path, name, records, prospects, config=None):
    d = tmp_path / name
    d.mkdir()
    (d / "r.csv").write_text(records, encoding="utf-8")
    (d / "p.csv").write_text(prospects, encoding="utf-8")
    args = ["sync-health", str(d / "r.csv"), "--prospects", str(d / "p.csv"), "--out", str(d / "out"), "--quiet"]
    if config:
        (d / "c.yaml").write_text(config, encoding="utf-8")
        args += ["--config", str(d / "c.yaml")]
    assert main(args) == 0

    def rows(f):
        with open(d / "out" / f, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    return rows


def test_converted_merged_and_active_prospects_are_not_planned_for_deletion(tmp_path):
    """A converted Lead's prospect (the next sync moves it to the Contact), a merged-away Lead's
    (Account Engagement recycles it after copying its history to the winner's) and a prospect active
    in the last year are not deleted; an old, inactive one of a stale record is."""
    head = "Id,Object,FirstName,LastName,Company,Email,CreatedDate,LastModifiedDate,IsConverted,ConvertedContactId,IsDeleted,MasterRecordId,Pardot_Sync__c"
    recs = _csv(
        head,
        f"00Q000000000001AAA,Lead,太郎,山田,株式会社ABC,t.yamada@abc.co.jp,{_T},{_T},false,,false,,true",
        f"00Q000000000002AAA,Lead,花子,佐藤,株式会社DEF,h.sato@def.co.jp,{_T},{_T},true,003000000000009AAA,false,,true",
        f"00Q000000000003AAA,Lead,太郎,山田,株式会社ABC,taro.yamada@abc.co.jp,{_T},{_T},false,,true,00Q000000000001AAA,true",
        f"00Q000000000004AAA,Lead,一郎,鈴木,株式会社GHI,i.suzuki@ghi.co.jp,2015-01-01T00:00:00.000Z,{_T},false,,false,,true",
        f"00Q000000000005AAA,Lead,次郎,鈴木,株式会社GHI,j.suzuki@ghi.co.jp,2015-01-01T00:00:00.000Z,{_T},false,,false,,true",
    )
    pros = _csv(
        _P_HEAD,
        f"2001,h.sato@def.co.jp,00Q000000000002AAA,,false,false,false,false,{_T},2025-05-01T00:00:00.000Z,2025-06-01T00:00:00.000Z,,0",
        f"2002,taro.yamada@abc.co.jp,00Q000000000003AAA,,false,false,false,false,{_T},2025-05-01T00:00:00.000Z,2025-06-01T00:00:00.000Z,,0",
        f"2003,i.suzuki@ghi.co.jp,00Q000000000004AAA,,false,false,false,false,{_T},2025-05-01T00:00:00.000Z,2025-06-01T00:00:00.000Z,2025-05-20T00:00:00.000Z,120",
        f"2004,j.suzuki@ghi.co.jp,00Q000000000005AAA,,false,false,false,false,{_T},2025-05-01T00:00:00.000Z,2025-06-01T00:00:00.000Z,2019-05-20T00:00:00.000Z,5",
    )
    rows = _health(tmp_path, "a", recs, pros)
    assert [r["Id"] for r in rows("sync_delete_plan.csv")] == ["2004"]
    findings = {(r["Id"][-4:], r["cause"]) for r in rows("sync_health.csv") if r["problem"] == "over_synced"}
    assert {("2AAA", "converted"), ("3AAA", "deleted"), ("4AAA", "stale"), ("5AAA", "stale")} <= findings


def test_an_extra_prospect_with_history_is_not_deleted(tmp_path):
    """An email change made a second prospect of one Lead: the old one, with a score and activity, is
    listed (merge it in the UI), not deleted; without history it is deleted as before."""
    recs = f"Id,Object,FirstName,LastName,Company,Email,CreatedDate,LastModifiedDate,Pardot_Sync__c\n" \
           f"00Q000000000001AAA,Lead,太郎,山田,株式会社ABC,t.yamada@new-abc.co.jp,{_T},{_T},true\n"
    new = f"6002,t.yamada@new-abc.co.jp,00Q000000000001AAA,,false,false,false,false,2025-04-01T00:00:00.000Z,2025-05-01T00:00:00.000Z,2025-06-01T00:00:00.000Z,,0"
    old = (f"6001,t.yamada@abc.co.jp,00Q000000000001AAA,,false,false,false,false,2024-01-01T00:00:00.000Z,2025-05-01T00:00:00.000Z,"
           f"2025-06-01T00:00:00.000Z,2025-03-01T00:00:00.000Z,250")
    rows = _health(tmp_path, "a", recs, "\n".join([_P_HEAD, old, new]) + "\n")
    assert rows("sync_delete_plan.csv") == []
    assert {r["prospect_id"] for r in rows("sync_health.csv") if r["cause"] == "same_crm_id"} == {"6001", "6002"}
    rows = _health(tmp_path, "b", recs, "\n".join([_P_HEAD, old.rsplit(",", 2)[0] + ",,0", new]) + "\n")
    assert [(r["Id"], r["reason"].split(";")[-1].strip()) for r in rows("sync_delete_plan.csv")] == [("6001", "keeps 6002")]


def test_contacts_under_an_account_have_a_company_and_record_types_compare_whole(tmp_path):
    """A Contact export with AccountId but no Account.Name: every Contact was "no company" (excluded,
    flagged false, its prospect planned for deletion). Record type names compare whole: the first
    15 characters made Partner_Contact_Customer a Partner_Contact_Agency."""
    recs = _csv(
        "Id,Object,FirstName,LastName,AccountId,Title,Email,CreatedDate,LastModifiedDate,Pardot_Sync__c,RecordType.DeveloperName",
        f"003000000000001AAA,Contact,太郎,山田,001000000000001AAA,部長,t.yamada@abc.co.jp,{_T},{_T},true,Partner_Contact_Customer",
        f"003000000000002AAA,Contact,花子,佐藤,001000000000002AAA,課長,h.sato@def.co.jp,{_T},{_T},true,Partner_Contact_Agency",
    )
    pros = _csv(
        _P_HEAD,
        f"3001,t.yamada@abc.co.jp,,003000000000001AAA,false,false,false,false,{_T},2025-05-01T00:00:00.000Z,2025-06-01T00:00:00.000Z,,0",
    )
    cfg = "eligibility:\n  exclusions:\n    - {name: partner, reason: outside partner, record_types: [Partner_Contact_Agency]}\n"
    rows = _health(tmp_path, "a", recs, pros, cfg)
    got = {r["Id"][-4:]: (r["eligible"], r["reason_code"]) for r in rows("sync_eligibility.csv")}
    assert got == {"1AAA": ("True", ""), "2AAA": ("False", "exclusion:partner")}
    assert rows("sync_delete_plan.csv") == []


def test_a_sharing_checkbox_exported_as_1_is_true_and_an_unsubscribe_is_no_card_value(tmp_path):
    """Reports export checkboxes as 1 / 0: Pardot_Sync__c = 1 was taken for "kept out by the sharing
    rule" with a flag row to set it true. A business-card Lead that unsubscribed in Pardot is not a
    card value being overwritten. A record whose prospect is in the recycle bin says so."""
    head = "Id,Object,FirstName,LastName,Company,Email,LeadSource,CreatedDate,LastModifiedDate,HasOptedOutOfEmail,Pardot_Sync__c"
    recs = _csv(
        head,
        f"00Q000000000001AAA,Lead,太郎,山田,株式会社ABC,t.yamada@abc.co.jp,Web,{_T},{_T},false,1",
        f"00Q000000000002AAA,Lead,花子,佐藤,株式会社DEF,h.sato@def.co.jp,名刺,{_T},{_T},false,true",
        f"00Q000000000003AAA,Lead,一郎,鈴木,株式会社GHI,i.suzuki@ghi.co.jp,Web,{_T},{_T},false,true",
    )
    pros = _csv(
        _P_HEAD,
        f"5002,h.sato@def.co.jp,00Q000000000002AAA,,true,false,false,false,{_T},2025-06-01T00:00:00.000Z,2025-05-01T00:00:00.000Z,,0",
        f"5003,i.suzuki@ghi.co.jp,00Q000000000003AAA,,false,false,false,true,{_T},2025-05-01T00:00:00.000Z,2025-05-01T00:00:00.000Z,,0",
    )
    rows = _health(tmp_path, "a", recs, pros)
    findings = {(r["Id"][-4:], r["problem"], r["cause"]) for r in rows("sync_health.csv")}
    assert not [f for f in findings if f[2] in ("sharing_rule_excludes", "card_value_overwritten")], findings
    # (the same prospects exported in CP932 read the same)
    d = tmp_path / "cp932"
    d.mkdir()
    (d / "p.csv").write_bytes(pros.encode("cp932"))
    (d / "r.csv").write_text(recs, encoding="utf-8")
    assert main(["sync-health", str(d / "r.csv"), "--prospects", str(d / "p.csv"), "--out", str(d / "out"), "--quiet"]) == 0
    assert (d / "out" / "sync_health.csv").read_bytes() == (tmp_path / "a" / "out" / "sync_health.csv").read_bytes()
    assert ("3AAA", "not_synced", "prospect_in_recycle_bin") in findings
    assert "00Q000000000001AAA" not in {r["Id"] for r in rows("flag_plan.csv")}


def test_a_person_account_syncs_through_its_person_contact(tmp_path):
    """A Person Account's prospect carries its PersonContactId and its PersonEmail: it was reported
    not synced ("eligible but no email"), and its prospect's Do Not Email never reached the cap count."""
    recs = _csv(
        "Id,Object,FirstName,LastName,IsPersonAccount,PersonEmail,PersonContactId,PersonHasOptedOutOfEmail,CreatedDate,LastModifiedDate,Pardot_Sync__c",
        f"001000000000001AAA,Account,太郎,山田,true,taro.yamada@yamato-kogyo.co.jp,003000000000001AAA,false,{_T},{_T},true",
        f"001000000000002AAA,Account,次郎,鈴木,true,jiro.suzuki@yamato-kogyo.co.jp,003000000000002AAA,false,{_T},{_T},true",
    )
    pros = _csv(
        _P_HEAD,
        f"4001,taro.yamada@yamato-kogyo.co.jp,,003000000000001AAA,false,true,false,false,{_T},2025-05-01T00:00:00.000Z,2025-06-01T00:00:00.000Z,,0",
    )
    rows = _health(tmp_path, "a", recs, pros)
    assert {(r["Id"][-4:], r["cause"]) for r in rows("sync_health.csv")} == {("2AAA", "unknown")}
    got = {r["Id"][-4:]: r["not_mailable"] for r in rows("sync_eligibility.csv")}
    assert got["1AAA"] == "prospect is Do Not Email" and not got["2AAA"]


def test_prospects_without_a_crm_id_take_slots_of_the_cap(tmp_path):
    """Form fills and imports without a CRM ID are mailable prospects the contract counts: with a cap
    of 3 and two such prospects (emails on no record), one record stays within the cap; an unlinked
    prospect with a record's email (it links to that record), a Do Not Email one and a recycled one
    take no slot."""
    recs = _csv(
        "Id,Object,FirstName,LastName,Company,Title,Email,CreatedDate,LastModifiedDate,Pardot_Sync__c",
        f"00Q000000000001AAA,Lead,太郎,山田,株式会社ABC,部長,t.yamada@abc.co.jp,{_T},2025-06-03T00:00:00.000Z,true",
        f"00Q000000000002AAA,Lead,花子,佐藤,株式会社DEF,課長,h.sato@def.co.jp,{_T},2025-06-02T00:00:00.000Z,true",
        f"00Q000000000003AAA,Lead,一郎,鈴木,株式会社GHI,主任,i.suzuki@ghi.co.jp,{_T},2025-06-01T00:00:00.000Z,true",
    )
    def p(i, email, dne="false", deleted="false"):
        return f"{i},{email},,,false,{dne},false,{deleted},{_T},{_T},,,0"
    pros = _csv(_P_HEAD, p(5001, "form1@jkl.co.jp"), p(5002, "Form2@MNO.co.jp"), p(5003, "T.Yamada@abc.co.jp"),
                p(5004, "dne@pqr.co.jp", dne="true"), p(5005, "gone@stu.co.jp", deleted="true"))
    rows = _health(tmp_path, "a", recs, pros, "eligibility:\n  cap:\n    mailable: 3\n")
    got = {r["Id"][-4:]: r["within_cap"] for r in rows("sync_eligibility.csv")}
    assert got == {"1AAA": "True", "2AAA": "False", "3AAA": "False"}
    why = {r["Id"][-4:]: r["cap_explanation"] for r in rows("sync_eligibility.csv")}
    assert "cap 3 - 2 taken by prospects without a CRM ID" in why["2AAA"] and why["2AAA"].endswith("over the cap")
    report = (tmp_path / "a" / "out" / "sync_health.md").read_text(encoding="utf-8")
    assert "2 slot(s) are taken by mailable prospects without a CRM ID" in report and "so 1 remain" in report
    # without them, all three fit
    rows = _health(tmp_path, "b", recs, _csv(_P_HEAD, p(5003, "t.yamada@abc.co.jp")), "eligibility:\n  cap:\n    mailable: 3\n")
    assert {r["within_cap"] for r in rows("sync_eligibility.csv")} == {"True"}
