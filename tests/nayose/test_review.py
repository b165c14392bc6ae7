"""Plans, decisions and their validation (nayose.review), and the store's writer lock (nayose.lock)."""

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
    r = record_decision(con, "plan_a", "reject", reviewer="x", note="wrong data", now=T0)
    assert r.approved_clusters == [] and approvals_since(con) == []
    with pytest.raises(ReviewError, match="approve_partial needs include_clusters or exclude_clusters"):
        record_decision(con, "plan_a", "approve_partial", reviewer="x", now=T0)


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
