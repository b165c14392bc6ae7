"""Plans, decisions and their validation (nayose.review), and the store's writer lock (nayose.lock)."""

import json
import multiprocessing as mp
import time
from datetime import datetime, timedelta, timezone

import pytest

from nayose.lock import StoreBusyError, lock_path
from nayose.review import (
    AutoApprovalPolicy,
    ReviewError,
    approvals_since,
    auto_approve,
    latest_plan,
    record_decision,
    register_plan,
)
from nayose.store import connect

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=timezone.utc)


def _group(cid, status="auto", n=2, prob=0.9999, convert=False):
    losers = [f"{cid}_L{i}" for i in range(n - 1)]
    steps = [{"action": "merge", "master_id": cid, "loser_ids": losers}]
    if convert:
        steps.append({"action": "convert_lead", "lead_id": "00Qx", "contact_id": cid, "account_id": None})
    return {
        "cluster_id": cid, "object": "Contact", "status": status, "master_id": cid, "loser_ids": losers,
        "fields": {}, "steps": steps, "as_of": {},
        "evidence": [{"left_id": cid, "right_id": l, "match_probability": prob, "decision": "auto"} for l in losers],
    }


def _plan(pid, groups):
    return {"plan_id": pid, "created_at": "2026-11-28T00:00:00Z", "clusters": groups}


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "store.duckdb")
    yield c
    c.close()


@pytest.fixture
def plan(con, tmp_path):
    doc = _plan("plan_a", [_group("003A"), _group("003B", "review", 3, 0.7), _group("003C", n=4),
                           _group("003D", convert=True), _group("003E", prob=0.98)])
    return register_plan(con, doc, tmp_path / "out", made_at=T0)


def test_register_keeps_plan_files_and_latest(con, tmp_path, plan):
    assert plan.is_latest and plan.groups == 5
    assert (tmp_path / "out" / "plans" / "plan_a" / "merge_plan.json").is_file()
    newer = register_plan(con, _plan("plan_b", [_group("003Z")]), tmp_path / "out", made_at=T0 + timedelta(hours=1))
    assert latest_plan(con).plan_id == "plan_b" == newer.plan_id
    assert con.execute("SELECT count(*) FROM plans WHERE is_latest").fetchall()[0][0] == 1


def test_approve_partial_resolves_clusters(con, plan):
    with pytest.raises(ReviewError, match="both included and excluded: 003C"):
        record_decision(con, "plan_a", "approve_partial", include=["003A", "003C"], exclude=["003C"], reviewer="x", now=T0)
    d = record_decision(con, "plan_a", "approve_partial", include=["003A", "003B,003B"],
                        reviewer="analyst@example.com", note="ok", now=T0 + timedelta(hours=1))
    assert d.approved_clusters == ["003A", "003B"]
    assert d.run_key == f"plan_a:{d.decision_id}"
    everything_else = record_decision(con, "plan_a", "approve_partial", exclude=["003A", "003B"],
                                      reviewer="analyst", now=T0 + timedelta(hours=2))
    assert everything_else.approved_clusters == ["003C", "003D", "003E"]
    assert [a.decision_id for a in approvals_since(con)] == [d.decision_id, everything_else.decision_id]
    assert [a.decision_id for a in approvals_since(con, d.decided_at)] == [everything_else.decision_id]


def test_refuses_a_plan_that_is_not_the_latest(con, tmp_path, plan):
    register_plan(con, _plan("plan_b", [_group("003Z")]), tmp_path / "out", made_at=T0 + timedelta(hours=1))
    with pytest.raises(ReviewError, match="plan_a is not the latest plan: plan_b was made after it"):
        record_decision(con, "plan_a", "approve", reviewer="analyst", now=T0 + timedelta(hours=2))


def test_refuses_a_plan_older_than_the_maximum_age(con, plan):
    with pytest.raises(ReviewError, match=r"older than the maximum age of 24 h"):
        record_decision(con, "plan_a", "approve", reviewer="analyst", max_age_hours=24, now=T0 + timedelta(hours=25))
    ok = record_decision(con, "plan_a", "approve", reviewer="analyst", max_age_hours=24, now=T0 + timedelta(hours=23))
    assert len(ok.approved_clusters) == 5


def test_refuses_unknown_cluster_ids_and_unknown_plans(con, plan):
    with pytest.raises(ReviewError, match=r"cluster id\(s\) not in plan plan_a: 003NOPE"):
        record_decision(con, "plan_a", "approve_partial", include=["003A", "003NOPE"], reviewer="x", now=T0)
    with pytest.raises(ReviewError, match="plan plan_zzz is not known; the latest plan is plan_a"):
        record_decision(con, "plan_zzz", "approve", reviewer="x", now=T0)
    with pytest.raises(ReviewError, match="reviewer is required"):
        record_decision(con, "plan_a", "approve", reviewer=" ", now=T0)
    assert con.execute("SELECT count(*) FROM plan_decisions").fetchall()[0][0] == 0


def test_reject_and_whole_plan_decisions_take_no_cluster_ids(con, plan):
    with pytest.raises(ReviewError, match="takes no cluster ids"):
        record_decision(con, "plan_a", "reject", include=["003A"], reviewer="x", now=T0)
    with pytest.raises(ReviewError, match="approve_partial needs include_clusters or exclude_clusters"):
        record_decision(con, "plan_a", "approve_partial", reviewer="x", now=T0)
    r = record_decision(con, "plan_a", "reject", reviewer="x", note="wrong data", now=T0)
    assert r.approved_clusters == [] and approvals_since(con) == []


def test_a_group_is_not_approved_twice(con, plan):
    record_decision(con, "plan_a", "approve_partial", include=["003A"], reviewer="x", now=T0)
    with pytest.raises(ReviewError, match="already approved"):
        record_decision(con, "plan_a", "approve", reviewer="x", now=T0 + timedelta(minutes=1))


def test_auto_approval_policy(con, plan):
    assert auto_approve(con, "plan_a", AutoApprovalPolicy()) is None  # off by default
    d = auto_approve(con, "plan_a", AutoApprovalPolicy(enabled=True, min_probability=0.999), now=T0)
    # 003B review, 003C four records, 003D convert_lead, 003E a link below 0.999
    assert d.approved_clusters == ["003A"] and d.source == "auto_policy"
    assert auto_approve(con, "plan_a", AutoApprovalPolicy(enabled=True), now=T0) is None  # nothing left
    with pytest.raises(ReviewError):
        AutoApprovalPolicy(enabled=True, max_records=5)


# ---------------------------------------------------------------------------------------------
# Sync plans: the flag plan and the prospect delete plan of a sync health run

AS_OF = "2026-11-01T00:00:00Z"
# (Id, object, value, reason, reason_code)
FLAGS = [
    ("0035F000000AAAAQAA", "Contact", "false", "billing contact (経理 / 請求): Department = 経理課", "exclusion:billing"),
    ("0035F000000AAABQAA", "Contact", "false", "billing contact (経理 / 請求): Title = 経理課長", "exclusion:billing"),
    ("00Q5F000000BBBBUAA", "Lead", "false", "stale: acquired 2020-04-17, more than 3 years before 2026-10-31", "stale"),
    ("00Q5F000000BBBCUAA", "Lead", "false", "over the mailable cap: rank 401 of 450", "over_cap"),
    ("00Q5F000000BBBDUAA", "Lead", "true", "eligible: may sync", "eligible"),
]
# (prospect id, reason, reason_code)
DELETES = [
    ("100001", "over-synced: billing contact (経理 / 請求): Department = 経理課 (Salesforce 0035F000000AAAAQAA)", "exclusion:billing"),
    ("100002", "over-synced: over the mailable cap: rank 401 of 450 (Salesforce 00Q5F000000BBBCUAA)", "over_cap"),
    ("100003", "over-synced: over the mailable cap: rank 402 of 450 (Salesforce 00Q5F000000BBBEUAA)", "over_cap"),
    ("100004", "duplicate prospect of CRM ID 0035F000000AAAB (100004, 100005); keeps 100005", "duplicate_prospect"),
]


def _sync_plan(folder, pid, flags=FLAGS, deletes=DELETES, con=None):
    """sync_plan.json, flag_plan.csv and sync_delete_plan.csv as the sync health run writes them (and,
    with `con`, the store tables with the reason codes)."""
    import json

    from nayose.plan import write_csv

    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "flag_plan.csv", ["plan_id", "Id", "object", "field", "value", "reason", "as_of"],
              [(pid, i, o, "Pardot_Sync__c", v, r, AS_OF) for i, o, v, r, _ in flags])
    write_csv(folder / "sync_delete_plan.csv", ["plan_id", "Id", "object", "reason", "as_of"],
              [(pid, i, "Prospect", r, AS_OF) for i, r, _ in deletes])
    doc = {"plan_id": pid, "kind": "sync", "created_at": AS_OF, "clusters": [], "flag_plan": "flag_plan.csv",
           "delete_plan": "sync_delete_plan.csv", "flags": len(flags), "deletes": len(deletes)}
    (folder / "sync_plan.json").write_text(json.dumps(doc), encoding="utf-8")
    if con is not None:
        con.execute("CREATE OR REPLACE TABLE flag_plan (plan_id VARCHAR, \"Id\" VARCHAR, object VARCHAR, field VARCHAR, "
                    "value VARCHAR, reason VARCHAR, as_of VARCHAR, reason_code VARCHAR)")
        con.executemany("INSERT INTO flag_plan VALUES (?, ?, ?, 'Pardot_Sync__c', ?, ?, ?, ?)",
                        [[pid, i, o, v, r, AS_OF, c] for i, o, v, r, c in flags])
        con.execute("CREATE OR REPLACE TABLE sync_delete_plan (plan_id VARCHAR, \"Id\" VARCHAR, object VARCHAR, "
                    "reason VARCHAR, as_of VARCHAR, reason_code VARCHAR)")
        con.executemany("INSERT INTO sync_delete_plan VALUES (?, ?, 'Prospect', ?, ?, ?)",
                        [[pid, i, r, AS_OF, c] for i, r, c in deletes])
    return folder / "sync_plan.json"


@pytest.fixture
def sync_plan(con, tmp_path, plan):
    """A sync plan registered beside the merge plan `plan_a` (reason codes from the store's tables)."""
    path = _sync_plan(tmp_path / "sync_run", "sync_a", con=con)
    return register_plan(con, path, tmp_path / "out", made_at=T0 + timedelta(minutes=30))


def _approved(con, decision_id):
    return con.execute("SELECT approved_items FROM plan_decisions WHERE decision_id = ?", [decision_id]).fetchall()[0][0]


def test_sync_plan_is_registered_with_its_rows_and_files(con, tmp_path, sync_plan):
    from nayose.review import plan_items, reason_counts

    assert (sync_plan.kind, sync_plan.groups, sync_plan.is_latest) == ("sync", 9, True)
    kept = tmp_path / "out" / "plans" / "sync_a"
    assert {p.name for p in kept.iterdir()} >= {"sync_plan.json", "flag_plan.csv", "sync_delete_plan.csv"}
    assert sync_plan.plan_path == str(kept / "sync_plan.json")
    items = {it["item_key"]: it["reason_code"] for it in plan_items(con, "sync_a")}
    assert items["flag/0035F000000AAAAQAA/Pardot_Sync__c"] == "exclusion:billing"
    assert items["delete/Prospect/100003"] == "over_cap" and items["delete/Prospect/100004"] == "duplicate_prospect"
    assert ("delete", "over_cap", 2) in reason_counts(con, "sync_a")
    assert con.execute("SELECT kind FROM plans WHERE plan_id = 'plan_a'").fetchall() == [("merge",)]
    # Without the store's tables the codes come from the reason texts (the families they name).
    path = _sync_plan(tmp_path / "files_only", "sync_b")
    con.execute("DROP TABLE flag_plan")
    register_plan(con, path, tmp_path / "out", made_at=T0 + timedelta(hours=1))
    codes = {it["Id"]: it["reason_code"] for it in plan_items(con, "sync_b")}
    assert (codes["00Q5F000000BBBCUAA"], codes["00Q5F000000BBBDUAA"], codes["100004"]) == ("over_cap", "eligible", "duplicate_prospect")


def test_latest_is_per_kind(con, tmp_path, sync_plan):
    assert latest_plan(con).plan_id == "plan_a" and latest_plan(con, "sync").plan_id == "sync_a"
    assert latest_plan(con, None).plan_id == "sync_a"
    # A newer sync plan does not block the merge plan, a newer merge plan not the sync plan.
    register_plan(con, _sync_plan(tmp_path / "s2", "sync_b"), tmp_path / "out", made_at=T0 + timedelta(hours=1))
    merge_ok = record_decision(con, "plan_a", "approve_partial", include=["003A"], reviewer="x", now=T0 + timedelta(hours=2))
    assert merge_ok.plan_kind == "merge" and merge_ok.approved_clusters == ["003A"]
    register_plan(con, _plan("plan_b", [_group("003Z")]), tmp_path / "out", made_at=T0 + timedelta(hours=3))
    sync_ok = record_decision(con, "sync_b", "approve", reviewer="x", now=T0 + timedelta(hours=4))
    assert sync_ok.plan_kind == "sync" and len(sync_ok.approved_items) == 9 and sync_ok.approved_clusters == []
    with pytest.raises(ReviewError, match="sync_a is not the latest sync plan: sync_b was made after it"):
        record_decision(con, "sync_a", "approve", reviewer="x", now=T0 + timedelta(hours=4))
    with pytest.raises(ReviewError, match="plan_a is not the latest plan: plan_b was made after it"):
        record_decision(con, "plan_a", "approve_partial", include=["003B"], reviewer="x", now=T0 + timedelta(hours=4))
    assert con.execute("SELECT kind, count(*) FROM plans WHERE is_latest GROUP BY 1 ORDER BY 1").fetchall() == [
        ("merge", 1), ("sync", 1)]
    with pytest.raises(ReviewError, match=r"older than the maximum age .* \(materialize sync_health\)"):
        record_decision(con, "sync_b", "reject", reviewer="x", max_age_hours=1, now=T0 + timedelta(hours=5))


def test_sync_approve_partial_by_reason_and_by_id(con, sync_plan):
    from nayose.review import approved_sync_rows

    only_over_cap = record_decision(con, "sync_a", "approve_partial", include_reasons=["delete:over_cap"],
                                    reviewer="analyst", note="over the cap", now=T0 + timedelta(hours=1))
    assert only_over_cap.approved_items == ["delete/Prospect/100002", "delete/Prospect/100003"]
    assert _approved(con, only_over_cap.decision_id) == only_over_cap.approved_items  # stored resolved
    assert only_over_cap.include_reasons == ["delete:over_cap"]
    billing_flags = record_decision(con, "sync_a", "approve_partial", include_reasons=["flag:billing"],
                                    exclude_ids=["0035F000000AAABQAA"], reviewer="analyst", now=T0 + timedelta(hours=2))
    assert billing_flags.approved_items == ["flag/0035F000000AAAAQAA/Pardot_Sync__c"]
    # Ids and reasons together: a row must match both; a family selects all its codes.
    both = record_decision(con, "sync_a", "approve_partial", include_ids=["100001", "100004", "00Q5F000000BBBBUAA"],
                           include_reasons=["exclusion", "stale"], reviewer="analyst", now=T0 + timedelta(hours=3))
    assert both.approved_items == ["delete/Prospect/100001", "flag/00Q5F000000BBBBUAA/Pardot_Sync__c"]
    # What apply gets: the approved rows of the kept files, in the applier's format.
    path, flags, deletes = approved_sync_rows(con, only_over_cap)
    assert path.endswith("plans/sync_a/sync_plan.json") and flags == []
    assert [(d["Id"], d["object"]) for d in deletes] == [("100002", "Prospect"), ("100003", "Prospect")]
    rest = record_decision(con, "sync_a", "approve_partial", include_ids="00Q5F000000BBBCUAA, 00Q5F000000BBBDUAA 100004".split(),
                           reviewer="analyst", now=T0 + timedelta(hours=4))
    _, flags, deletes = approved_sync_rows(con, rest)
    assert [f["Id"] for f in flags] == ["00Q5F000000BBBCUAA", "00Q5F000000BBBDUAA"] and [d["Id"] for d in deletes] == ["100004"]
    assert [a.decision_id for a in approvals_since(con)] == [
        only_over_cap.decision_id, billing_flags.decision_id, both.decision_id, rest.decision_id]
    assert {a.plan_kind for a in approvals_since(con)} == {"sync"}


def test_sync_decisions_are_refused_clearly(con, sync_plan):
    later = T0 + timedelta(hours=1)
    with pytest.raises(ReviewError, match=r"record id\(s\) not in sync plan sync_a: 003NOPE"):
        record_decision(con, "sync_a", "approve_partial", include_ids=["100001", "003NOPE"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match=r"reason 'delete:recruiting' selects no row of sync plan sync_a; its reasons are: "
                                          r"delete:duplicate_prospect \(1\), delete:exclusion:billing \(1\), delete:over_cap \(2\)"):
        record_decision(con, "sync_a", "approve_partial", include_reasons=["delete:recruiting"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match="reason 'flag:duplicate_prospect' selects no row"):
        record_decision(con, "sync_a", "approve_partial", include_reasons=["flag:duplicate_prospect"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match="is a sync plan .* not include_clusters"):
        record_decision(con, "sync_a", "approve_partial", include=["003A"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match="is a merge plan: it takes include_clusters"):
        record_decision(con, "plan_a", "approve_partial", include_reasons=["billing"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match="takes no record ids or reasons"):
        record_decision(con, "sync_a", "approve", include_reasons=["stale"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match="approve_partial needs include_ids, exclude_ids or include_reasons"):
        record_decision(con, "sync_a", "approve_partial", reviewer="x", now=later)
    with pytest.raises(ReviewError, match=r"both included and excluded: 100001"):
        record_decision(con, "sync_a", "approve_partial", include_ids=["100001"], exclude_ids=["100001"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match="approves no row .* must match both"):
        record_decision(con, "sync_a", "approve_partial", include_ids=["100004"], include_reasons=["over_cap"], reviewer="x", now=later)
    assert con.execute("SELECT count(*) FROM plan_decisions").fetchall()[0][0] == 0
    record_decision(con, "sync_a", "approve_partial", include_reasons=["over_cap"], reviewer="x", now=later)
    with pytest.raises(ReviewError, match=r"row\(s\) already approved for sync plan sync_a: delete/Prospect/100002"):
        record_decision(con, "sync_a", "approve", reviewer="x", now=later + timedelta(minutes=1))
    rejected = record_decision(con, "sync_a", "reject", reviewer="x", note="not now", now=later + timedelta(minutes=2))
    assert rejected.approved_items == [] and rejected.plan_kind == "sync"
    assert auto_approve(con, "sync_a", AutoApprovalPolicy(enabled=True), now=later) is None  # analysts decide sync plans


def test_approved_sync_rows_apply_as_a_journaled_dry_run(con, tmp_path, sync_plan):
    from nayose.apply import apply_plan
    from nayose.journal import Journal
    from nayose.review import approved_sync_rows

    d = record_decision(con, "sync_a", "approve_partial", include_reasons=["billing"], reviewer="x", now=T0 + timedelta(hours=1))
    path, flags, deletes = approved_sync_rows(con, d)
    report = apply_plan(path, journal_db=tmp_path / "journal.duckdb", flags=flags, deletes=deletes)
    assert (report.mode, report.flags_planned, report.deletes_planned, report.steps_dry_run) == ("dry_run", 2, 1, 3)
    entries = Journal(tmp_path / "journal.duckdb").entries("sync_a")
    assert sorted(e["step_key"] for e in entries) == d.approved_items and {e["status"] for e in entries} == {"dry_run"}


def test_stores_made_before_plan_kinds_are_migrated(tmp_path):
    from nayose.review import decisions, get_plan

    db = tmp_path / "old.duckdb"
    old = connect(db)
    old.execute("""CREATE TABLE plans (plan_id VARCHAR PRIMARY KEY, created_at VARCHAR, made_at TIMESTAMPTZ NOT NULL,
                   groups INTEGER NOT NULL, out_dir VARCHAR, plan_path VARCHAR, document JSON, is_latest BOOLEAN NOT NULL,
                   run_id VARCHAR)""")
    old.execute("""CREATE TABLE plan_decisions (decision_id VARCHAR PRIMARY KEY, plan_id VARCHAR NOT NULL,
                   decision VARCHAR NOT NULL, include_clusters VARCHAR[], exclude_clusters VARCHAR[], reviewer VARCHAR NOT NULL,
                   note VARCHAR, decided_at TIMESTAMPTZ NOT NULL, approved_clusters VARCHAR[], source VARCHAR NOT NULL,
                   run_id VARCHAR)""")
    old.execute("INSERT INTO plans VALUES ('plan_old', NULL, ?, 1, 'out', 'out/merge_plan.json', '{}', true, NULL)", [T0])
    old.execute("INSERT INTO plan_decisions VALUES ('dec_1', 'plan_old', 'approve', [], [], 'x', '', ?, ['003A'], 'review', NULL)", [T0])
    old.close()
    ro = connect(db, read_only=True)  # readers (the sensor) work on a store not migrated yet
    assert get_plan(ro, "plan_old").kind == "merge" and latest_plan(ro).plan_id == "plan_old"
    assert [(a.decision_id, a.plan_kind, a.approved_items) for a in approvals_since(ro)] == [("dec_1", "merge", [])]
    ro.close()
    con = connect(db)
    register_plan(con, _sync_plan(tmp_path / "s", "sync_a"), tmp_path / "out", made_at=T0)
    assert con.execute("SELECT plan_id, kind, is_latest FROM plans ORDER BY plan_id").fetchall() == [
        ("plan_old", "merge", True), ("sync_a", "sync", True)]
    assert decisions(con, "plan_old")[0].approved_clusters == ["003A"]
    d = record_decision(con, "sync_a", "approve_partial", include_reasons=["stale"], reviewer="x", now=T0)
    assert d.approved_items == ["flag/00Q5F000000BBBBUAA/Pardot_Sync__c"]
    con.close()


# ---------------------------------------------------------------------------------------------
# The writer lock: two processes


def _hold(db, ready, release):
    con = connect(db)
    con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    ready.set()
    release.wait(30)
    con.execute("INSERT INTO t VALUES (2)")
    con.close()


def _write(db, timeout, out):
    try:
        start = time.monotonic()
        con = connect(db, lock_timeout=timeout)
        waited = time.monotonic() - start
        con.execute("INSERT INTO t VALUES (3)")
        con.close()
        out.put(("ok", waited))
    except StoreBusyError as exc:
        out.put(("busy", str(exc)))


def test_second_writer_fails_cleanly_then_waits(tmp_path):
    db = tmp_path / "store.duckdb"
    ctx = mp.get_context("spawn")
    ready, release, out = ctx.Event(), ctx.Event(), ctx.Queue()
    holder = ctx.Process(target=_hold, args=(db, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        assert lock_path(db).is_file()
        # A writer that may wait 0.5 s gives up with a message naming the holder.
        w = ctx.Process(target=_write, args=(db, 0.5, out))
        w.start()
        w.join(60)
        status, msg = out.get(timeout=5)
        assert status == "busy"
        assert f"pid {holder.pid}" in msg and "NAYOSE_LOCK_TIMEOUT" in msg
        # A writer that may wait longer gets the store once the first one is done.
        w2 = ctx.Process(target=_write, args=(db, 30, out))
        w2.start()
        time.sleep(2.0)
        assert out.empty() and w2.is_alive()  # still waiting for the holder
        release.set()
        w2.join(60)
        status, waited = out.get(timeout=5)
        assert status == "ok"
    finally:
        release.set()
        holder.join(30)
    con = connect(db, read_only=True)
    assert [r[0] for r in con.execute("SELECT x FROM t ORDER BY x").fetchall()] == [1, 2, 3]  # nothing lost
    con.close()


def test_lock_is_reentrant_within_a_process(tmp_path):
    db = tmp_path / "store.duckdb"
    a = connect(db, lock_timeout=0)
    b = connect(db, lock_timeout=0)  # same process: no self-deadlock
    b.close()
    a.close()


def test_lead_conversions_are_approved_only_by_name(con, tmp_path):
    """A merge plan's lead_accounts.csv is kept with the plan and its Leads are listed among the
    groups as lead_account/<LeadId>: approving the whole plan, or all but some groups, converts none
    of them (a conversion cannot be reverted), the auto-approval policy never does, and naming one in
    approve_partial gives its row to the applier."""
    import csv
    import json

    from nayose.review import approved_work

    src = tmp_path / "made"
    src.mkdir()
    doc = _plan("plan_l", [_group("003A"), _group("003B")])
    (src / "merge_plan.json").write_text(json.dumps(doc), encoding="utf-8")
    cols = ["plan_id", "LeadId", "AccountId", "account_name", "lead_company", "rule", "agrees", "accounts_named",
            "as_of", "account_as_of"]
    with open(src / "lead_accounts.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for lead in ("00Q000000000001AAA", "00Q000000000002AAA"):
            w.writerow({"plan_id": "plan_l", "LeadId": lead, "AccountId": "001000000000001AAA", "account_name": "株式会社山田製作所",
                        "lead_company": "山田製作所(株)", "rule": "company_and_contact", "agrees": "company; switchboard",
                        "accounts_named": 1, "as_of": "2026-11-01T00:00:00.000Z", "account_as_of": "2026-10-01T00:00:00.000Z"})
    rec = register_plan(con, src / "merge_plan.json", tmp_path / "out", made_at=T0)
    assert rec.groups == 2 and (tmp_path / "out" / "plans" / "plan_l" / "lead_accounts.csv").is_file()
    whole = record_decision(con, "plan_l", "approve", reviewer="analyst", now=T0)
    assert whole.approved_clusters == ["003A", "003B"] and approved_work(whole, rec.plan_path)[1] == []
    assert auto_approve(con, "plan_l", AutoApprovalPolicy(enabled=True), now=T0) is None
    named = record_decision(con, "plan_l", "approve_partial", include=["lead_account/00Q000000000002AAA"],
                            reviewer="analyst", now=T0)
    groups, rows = approved_work(named, rec.plan_path)
    assert groups == [] and [r["LeadId"] for r in rows] == ["00Q000000000002AAA"] and rows[0]["account_as_of"]


def test_a_kept_plan_file_edited_after_registration_is_not_applied(con, tmp_path, plan, sync_plan):
    """An approval is of what the analyst reviewed: the kept files are checked against the digests
    taken when the plan was first registered (registering it again keeps them), and an edited one
    -- another surviving value, a record of an unapproved group added to a merge -- is refused."""
    import json
    from pathlib import Path

    from nayose.review import get_plan, verified_document

    rec = get_plan(con, "plan_a")
    assert verified_document(con, rec)["plan_id"] == "plan_a"
    kept = Path(rec.plan_path)
    doc = json.loads(kept.read_text(encoding="utf-8"))
    doc["clusters"][0]["steps"][0]["loser_ids"].append("003B")
    kept.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ReviewError, match="plan_a .*changed after the plan was registered \\(merge_plan.json\\)"):
        verified_document(con, rec)
    # registering the same plan_id again (with other content) is refused and does not bless the edited file
    with pytest.raises(ReviewError, match="already registered with other content"):
        register_plan(con, _plan("plan_a", [_group("003A")]), tmp_path / "out", made_at=T0 + timedelta(hours=2))
    with pytest.raises(ReviewError, match="changed after"):
        verified_document(con, get_plan(con, "plan_a"))
    # a sync plan's CSVs too
    srec = get_plan(con, "sync_a")
    assert verified_document(con, srec)["plan_id"] == "sync_a"
    flags = Path(srec.plan_path).with_name("flag_plan.csv")
    flags.write_text(flags.read_text(encoding="utf-8") + "sync_a,003ZZZ,Contact,Pardot_Sync__c,true,x,2026-01-01T00:00:00Z\n",
                     encoding="utf-8")
    with pytest.raises(ReviewError, match="flag_plan.csv"):
        verified_document(con, srec)


# ---------------------------------------------------------------------------------------------
# Audit fixes: blocking checks, one plan per id, rejects, include + exclude


CHECKS = ("merge_plan:masters_in_input", "merge_plan:steps_well_formed")


def test_an_approval_waits_for_every_blocking_check_and_a_failed_one_refuses_it(con, tmp_path):
    from nayose.review import check_status, record_check

    register_plan(con, _plan("plan_c", [_group("003A"), _group("003B")]), tmp_path / "out", made_at=T0,
                  run_id="run1", required_checks=CHECKS)
    with pytest.raises(ReviewError, match=r"not passed its blocking check\(s\) yet: merge_plan:masters_in_input, "
                                          r"merge_plan:steps_well_formed not evaluated \(run run1"):
        record_decision(con, "plan_c", "approve", reviewer="analyst", now=T0)
    # (the auto-approval policy goes through the same gate)
    with pytest.raises(ReviewError, match="not passed its blocking"):
        auto_approve(con, "plan_c", AutoApprovalPolicy(enabled=True), now=T0)
    record_check(con, "plan_c", "merge_plan:masters_in_input", True, run_id="run1")
    record_check(con, "plan_c", "merge_plan:steps_well_formed", False, run_id="run1",
                 detail="steps_with_bad_record_count 1")
    assert not check_status(con, "plan_c").ok
    with pytest.raises(ReviewError, match=r"plan_c failed its blocking check\(s\) merge_plan:steps_well_formed "
                                          r"\(run run1\): steps_with_bad_record_count 1"):
        record_decision(con, "plan_c", "approve_partial", include=["003A"], reviewer="analyst", now=T0)
    assert con.execute("SELECT count(*) FROM plan_decisions").fetchall()[0][0] == 0
    # a reject of a failed plan is fine
    record_decision(con, "plan_c", "reject", reviewer="analyst", note="check failed", now=T0)
    # the plan made again (a new run) is re-checked: its earlier outcomes are cleared
    register_plan(con, _plan("plan_d", [_group("003A")]), tmp_path / "out", made_at=T0, run_id="run2",
                  required_checks=CHECKS)
    for name in CHECKS:
        record_check(con, "plan_d", name, True, run_id="run2")
    assert check_status(con, "plan_d").ok
    assert record_decision(con, "plan_d", "approve", reviewer="analyst", now=T0).approved_clusters == ["003A"]
    register_plan(con, _plan("plan_d", [_group("003A")]), tmp_path / "out", made_at=T0, run_id="run3",
                  required_checks=CHECKS)
    assert check_status(con, "plan_d").pending == list(CHECKS)


def test_one_plan_id_never_names_two_plans(con, tmp_path, plan):
    from nayose.review import plan_cluster_ids

    before = plan_cluster_ids(con, "plan_a")
    other = _plan("plan_a", [_group("003A"), _group("003B", "auto", 3, 0.99)])  # 003B: auto, not review
    with pytest.raises(ReviewError, match="plan plan_a is already registered with other content \\(merge_plan.json"):
        register_plan(con, other, tmp_path / "out", made_at=T0 + timedelta(hours=1))
    assert plan_cluster_ids(con, "plan_a") == before
    assert con.execute("SELECT status FROM plan_groups WHERE plan_id = 'plan_a' AND cluster_id = '003B'").fetchall() \
        == [("review",)]
    # the same plan again is fine (made the latest again)
    doc = json.loads((tmp_path / "out" / "plans" / "plan_a" / "merge_plan.json").read_text(encoding="utf-8"))
    again = register_plan(con, doc, tmp_path / "out", made_at=T0 + timedelta(hours=1))
    assert again.is_latest and again.groups == 5


def test_a_rejected_plan_is_not_approved_and_a_reject_is_found_after_an_approval(con, plan):
    from nayose.review import plan_rejection, rejected_text

    d = record_decision(con, "plan_a", "approve_partial", include=["003A"], reviewer="ana", now=T0)
    assert plan_rejection(con, "plan_a") is None
    rej = record_decision(con, "plan_a", "reject", reviewer="bob", note="wrong plan, stop", now=T0 + timedelta(minutes=5))
    assert plan_rejection(con, "plan_a").decision_id == rej.decision_id
    assert "rejected by bob at 2026-11-29 02:05:00 UTC" in rejected_text(rej) and "wrong plan, stop" in rejected_text(rej)
    with pytest.raises(ReviewError, match="plan plan_a was rejected by bob at 2026-11-29 02:05:00 UTC .*cannot be approved"):
        record_decision(con, "plan_a", "approve_partial", include=["003B"], reviewer="ana", now=T0 + timedelta(minutes=9))
    assert [x.decision_id for x in approvals_since(con)] == [d.decision_id]


def test_an_exclude_list_beside_an_include_list_is_refused(con, plan):
    with pytest.raises(ReviewError, match=r"exclude_clusters 003C, 003D are not in include_clusters: .*leave "
                                          r"include_clusters empty"):
        record_decision(con, "plan_a", "approve_partial", include=["003A"], exclude=["003C", "003D"], reviewer="x", now=T0)
    assert con.execute("SELECT count(*) FROM plan_decisions").fetchall()[0][0] == 0
    ok = record_decision(con, "plan_a", "approve_partial", exclude=["003C", "003D"], reviewer="x", now=T0)
    assert ok.approved_clusters == ["003A", "003B", "003E"]
