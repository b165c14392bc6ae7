"""Flag plan rows (flag_plan.csv) through the safe applier, against the fake org over HTTPS with the
real simple-salesforce client: each row a journaled `update_field` step sent in sObject Collections
PATCH requests; stale rows skipped untouched; dry run; an unanswered request confirmed from the org
and never sent again; undo restores the old value unless the record was edited since."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from nayose.apply import ApplyError, apply_plan, undo_plan
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore, id18
from nayose.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
FIELD = "Pardot_Sync__c"
PLAN_ID = "sync_flagtest"
SEI = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
MEI = ["健", "花子", "一郎", "美咲", "翔太", "由美", "大輔", "直美", "誠", "愛"]
TITLES = ["経理部 課長", "採用担当", "営業部長", "代理店営業", "マーケティング課"]


def _ts(n: int) -> str:
    return f"2026-10-{1 + n % 28:02d}T{9 + n % 10:02d}:{n % 60:02d}:00.000+0000"


def build(n_leads: int = 150, n_contacts: int = 110):
    """(store, plan, flag rows): Leads and Contacts with the sharing field, half to turn off, half on."""
    store = OrgStore(api_daily_limit=1_000_000)
    acc = id18("0015F00000Flg01")
    store.load_records([{"Id": acc, "Name": "株式会社さくら商事", "CreatedDate": _ts(0), "LastModifiedDate": _ts(0),
                         "SystemModstamp": _ts(0)}])
    rows, flags = [], []
    for i in range(n_leads + n_contacts):
        lead = i < n_leads
        rid = id18(f"00Q5F00000F{i:04d}") if lead else id18(f"0035F00000F{i:04d}")
        t = _ts(i)
        current = "true" if i % 2 == 0 else "false"
        rec = {"Id": rid, "LastName": SEI[i % 10], "FirstName": MEI[(i // 10) % 10], "Title": TITLES[i % 5],
               "Email": f"user{i}@sakura-shoji.co.jp", FIELD: current, "CreatedDate": t, "LastModifiedDate": t,
               "SystemModstamp": t}
        if lead:
            rec.update({"Company": "株式会社さくら商事", "Status": "Open - Not Contacted"})
        else:
            rec["AccountId"] = acc
        rows.append(rec)
        target = "false" if current == "true" else "true"
        flags.append({"plan_id": PLAN_ID, "Id": rid, "object": "Lead" if lead else "Contact", "field": FIELD,
                      "value": target, "reason": "経理・採用の担当者: 同期しない" if target == "false" else "eligible: may sync",
                      "as_of": t})
    store.load_records(rows)
    store.advance(86400)
    plan = {"plan_id": PLAN_ID, "kind": "sync", "created_at": "2026-10-31T00:00:00Z", "clusters": []}
    return store, plan, flags


def start(store: OrgStore) -> FakeOrg:
    org = FakeOrg(store).start()
    for obj in ("Lead", "Contact"):
        org.define_field(obj, FIELD, type="boolean", length=0)
    return org


def client(org: FakeOrg) -> Salesforce:
    return Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(), version="62.0")


def value(store: OrgStore, rid: str):
    v = store.objects[store.object_of(rid)][rid].get(FIELD)
    return {True: "true", False: "false"}.get(v, v)


def patches(org: FakeOrg) -> int:
    return sum(1 for m, p, st in org.requests_log if m == "PATCH" and p.endswith("/composite/sobjects"))


@pytest.fixture
def db(tmp_path):
    return tmp_path / "nayose.duckdb"


def test_flags_applied_in_collections_journaled_and_never_repeated(db):
    store, plan, flags = build()
    org = start(store)
    try:
        sf = client(org)
        rep = apply_plan(plan, journal_db=db, sf=sf, execute=True, flags=flags)
        assert rep.exit_code == 0, rep.to_dict()
        assert rep.flags_planned == rep.flags_done == len(flags) == 260
        assert all(value(store, f["Id"]) == f["value"] for f in flags)
        assert patches(org) == 2  # 200 + 60 records, one request each
        entries = Journal(db).entries(PLAN_ID, prefix="flag/")
        first = next(e for e in entries if e["status"] == "intent")
        assert first["action"] == "update_field" and first["request"]["old_value"] in (True, False)
        assert first["snapshot"]["records"][first["request"]["Id"]]["LastName"] in SEI  # the record before the write
        assert {e["step_key"] for e in entries} == {f"flag/{f['Id']}/{FIELD}" for f in flags}
        # again: every row is done, nothing is sent
        again = apply_plan(plan, journal_db=db, sf=sf, execute=True, flags=flags)
        assert again.flags_already_done == 260 and again.flags_done == 0 and patches(org) == 2
    finally:
        org.stop()


def test_stale_rows_are_skipped_untouched(db):
    store, plan, flags = build(20, 10)
    edited, gone = flags[3]["Id"], flags[25]["Id"]
    store.update(edited, {"Title": "経理課長"})  # edited after the plan
    store.delete(gone)
    org = start(store)
    try:
        rep = apply_plan(plan, journal_db=db, sf=client(org), execute=True, flags=flags)
        assert {s["Id"] for s in rep.flags_stale} == {edited, gone} and rep.exit_code == 1
        assert "changed after the plan" in next(s["reason"] for s in rep.flags_stale if s["Id"] == edited)
        assert value(store, edited) != flags[3]["value"]
        assert rep.flags_done == 28
        stale = [e for e in Journal(db).entries(PLAN_ID) if e["status"] == "stale"]
        assert len(stale) == 2
    finally:
        org.stop()


def test_dry_run_changes_nothing(db):
    store, plan, flags = build(30, 10)
    before = store.snapshot()
    org = start(store)
    try:
        rep = apply_plan(plan, journal_db=db, sf=client(org), execute=False, flags=flags)
        assert rep.mode == "dry_run" and rep.steps_dry_run == 40 and rep.flags_done == 0
        assert patches(org) == 0 and store.snapshot() == before
        dry = [e for e in Journal(db).entries(PLAN_ID) if e["status"] == "dry_run"]
        assert len(dry) == 40 and all("old_value" in e["request"] for e in dry)
        # offline (no connection): still journaled, values unchecked
        rep2 = apply_plan(plan, journal_db=db, execute=False, flags=flags)
        assert rep2.steps_dry_run == 40
    finally:
        org.stop()


def test_rows_of_another_plan_are_refused(db):
    store, plan, flags = build(3, 0)
    with pytest.raises(ApplyError, match="belongs to plan"):
        apply_plan(plan, journal_db=db, execute=False, flags=[{**flags[0], "plan_id": "sync_other"}])
    with pytest.raises(ApplyError, match="not a field the applier may set"):
        apply_plan(plan, journal_db=db, execute=False, flags=[{**flags[0], "field": "LastModifiedDate"}])


def test_after_fault_is_confirmed_from_the_org_and_resume_never_repeats(db, monkeypatch):
    import nayose.apply as apply_mod

    monkeypatch.setattr(apply_mod, "BACKOFF_SECONDS", 0.01)
    store, plan, flags = build(40, 20)
    org = start(store)
    try:
        sf = client(org)
        # the update is executed, the answer is lost; the re-read confirms every row
        org.faults.reset("PATCH", r"/composite/sobjects$", when="after", times=1)
        rep = apply_plan(plan, journal_db=db, sf=sf, execute=True, flags=flags[:30])
        assert rep.flags_done == 30 and rep.flags_confirmed == 30 and rep.exit_code == 0
        assert patches(org) == 1  # one request, executed; its answer was lost
        assert all(value(store, f["Id"]) == f["value"] for f in flags[:30])

        # answer lost, then the org unreadable: the rows stay unknown (never sent blindly again)
        def reads_break(event):
            if event["status"] == "unknown" and not org.faults.pending():
                org.faults.reset("GET", r"/query", when="before", times=None)

        org.faults.reset("PATCH", r"/composite/sobjects$", when="after", times=1)
        rep2 = apply_plan(plan, journal_db=db, sf=sf, execute=True, flags=flags, progress=reads_break)
        assert rep2.flags_already_done == 30 and rep2.exit_code == 1
        assert {f["status"] for f in rep2.flags_failed} == {"unknown"} and len(rep2.flags_failed) == 30
        assert all(value(store, f["Id"]) == f["value"] for f in flags[30:])  # it was executed
        assert patches(org) == 2
        # resume: checked against the org first, confirmed, not sent again
        org.faults.clear()
        rep3 = apply_plan(plan, journal_db=db, sf=sf, execute=True, flags=flags)
        assert rep3.flags_confirmed == 30 and rep3.flags_already_done == 30 and rep3.exit_code == 0
        assert patches(org) == 2
        last = {e["step_key"]: e for e in Journal(db).entries(PLAN_ID, prefix="flag/")}
        assert len(last) == 60 and all(e["status"] == "done" for e in last.values())
        history = [e["status"] for e in Journal(db).entries(PLAN_ID, prefix=f"flag/{flags[45]['Id']}/")]
        assert history == ["intent", "unknown", "done"]
    finally:
        org.stop()


def test_undo_restores_old_values_unless_edited_since(db):
    store, plan, flags = build(12, 8)
    old = {f["Id"]: value(store, f["Id"]) for f in flags}
    org = start(store)
    try:
        sf = client(org)
        rep = apply_plan(plan, journal_db=db, sf=sf, execute=True, flags=flags)
        assert rep.flags_done == 20
        store.advance(60)
        touched, reflagged = flags[0]["Id"], flags[15]["Id"]
        store.update(touched, {"Title": "経理部長"})                # another field edited since
        store.update(reflagged, {FIELD: old[reflagged] == "true"})  # the flag itself changed since
        dry = undo_plan(plan, journal_db=db, sf=sf, execute=False)
        assert len(dry.would_restore) == 18 and all(value(store, f["Id"]) == f["value"]
                                                     for f in flags if f["Id"] not in (touched, reflagged))
        undo = undo_plan(plan, journal_db=db, sf=sf, execute=True)
        assert {x["Id"] for x in undo.not_restored} == {touched, reflagged}
        assert {x["kind"] for x in undo.not_restored} == {"edited_since"}
        assert len(undo.flags_restored) == 18 and undo.exit_code == 1
        for f in flags:
            if f["Id"] not in (touched, reflagged):
                assert value(store, f["Id"]) == old[f["Id"]]
        assert value(store, touched) == flags[0]["value"]
        # undone steps are not undone twice
        again = undo_plan(plan, journal_db=db, sf=sf, execute=True)
        assert again.already_undone == 18 and not again.flags_restored
    finally:
        org.stop()


def test_cli_apply_flags(db, tmp_path):
    store, plan, flags = build(5, 5)
    plan_path = tmp_path / "sync_plan.json"
    plan_path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    flag_path = tmp_path / "flag_plan.csv"
    with open(flag_path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["plan_id", "Id", "object", "field", "value", "reason", "as_of"])
        w.writeheader()
        w.writerows(flags)
    org = start(store)
    try:
        env = {"PATH": "/usr/bin:/bin", "NAYOSE_SF_AUTH": "session", "NAYOSE_SF_INSTANCE_URL": org.instance_url,
               "NAYOSE_SF_SESSION_ID": org.access_token, "NAYOSE_SF_CA_BUNDLE": org.ca_path, "NAYOSE_LOCK_TIMEOUT": "30"}
        base = [sys.executable, "-m", "nayose.cli", "apply", str(plan_path), "--flags", str(flag_path), "--db", str(db)]
        run = subprocess.run(base + ["--execute", "--report", str(tmp_path / "r.json")], env=env, capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        rep = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert rep["flags_done"] == 10 and "flags done" in run.stdout
        assert all(value(store, f["Id"]) == f["value"] for f in flags)
        assert org.access_token not in run.stdout + run.stderr
    finally:
        org.stop()
