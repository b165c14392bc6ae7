"""The sync plan (flag plan + prospect delete plan) through the same review -> approval -> sensor ->
journaled apply path as merge plans, in process on the sync sample: materialize sync_health, decide
with review_plan, tick apply_approved_plans, run apply_plan, read the dry-run journal."""

import dagster as dg
import duckdb
import pytest
from pipeline_helpers import failure_messages

# A cap below the sample's mailable records, so some prospects are deleted for being over the cap.
CONFIG = "eligibility:\n  cap:\n    mailable: 400\n"


@pytest.fixture(scope="module")
def sync_run(tmp_path_factory):
    from pipelines.definitions import defs

    tmp = tmp_path_factory.mktemp("review_sync")
    db, out, cfg = tmp / "data" / "nayose.duckdb", tmp / "out", tmp / "nayose.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    resources = {"store": {"config": {"database": str(db), "output_dir": str(out), "config_path": str(cfg)}}}
    result = defs.resolve_job_def("sync_health_job").execute_in_process(
        run_config={"ops": {"sync_eligibility": {"config": {"source": "sample", "sample_records": 1000, "sample_seed": 5}}},
                    "resources": resources, "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )
    assert result.success, "\n".join(failure_messages(result))
    return result, db, out, resources


def _review(defs, instance, resources, **config):
    return defs.resolve_job_def("review_plan").execute_in_process(
        run_config={"ops": {"record_decision": {"config": config}}, "resources": resources},
        instance=instance, raise_on_error=False,
    )


def test_sync_plan_review_approve_partial_sensor_and_dry_run_apply(sync_run):
    from assets import NayoseStore
    from pipelines.definitions import defs
    from pipelines.review import apply_approved_plans

    result, db, out, resources = sync_run
    md = dict(result.asset_materializations_for_node("sync_health")[0].metadata)

    # The review surface: the plan id, the Launchpad snippet, the rows per reason; the files are kept.
    plan_id = md["review/plan_id"].value
    assert plan_id.startswith("sync_") and md["review/plan_kind"].value == "sync"
    assert f"plan_id: {plan_id}" in md["review/how_to_approve"].value
    assert "include_reasons: [" in md["review/how_to_approve"].value and "record_decision" in md["review/how_to_approve"].value
    reasons = md["review/reasons"].value
    assert reasons.get("delete:over_cap", 0) > 1 and reasons.get("flag:over_cap", 0) > 0
    assert "| delete | delete:over_cap |" in md["review/rows_by_reason"].value
    kept = out / "plans" / plan_id
    assert {"sync_plan.json", "flag_plan.csv", "sync_delete_plan.csv"} <= {p.name for p in kept.iterdir()}
    assert md["review/plan_file"].value == str(kept / "sync_plan.json")

    con = duckdb.connect(str(db), read_only=True)
    expected = sorted(r[0] for r in con.execute(
        "SELECT item_key FROM plan_items WHERE plan_id = ? AND item_kind = 'delete' AND reason_code = 'over_cap'", [plan_id]
    ).fetchall())
    con.close()
    assert reasons["delete:over_cap"] == len(expected) > 1
    left_out = expected[0].rsplit("/", 1)[1]   # one over-cap prospect the analyst keeps
    approved = expected[1:]

    instance = dg.DagsterInstance.ephemeral()
    # Refused, with the reason: an unknown reason, an unknown id, cluster ids on a sync plan.
    bad = _review(defs, instance, resources, plan_id=plan_id, decision="approve_partial",
                  include_reasons=["delete:nonsense"], reviewer="analyst")
    assert not bad.success and "selects no row of sync plan" in " ".join(failure_messages(bad))
    bad = _review(defs, instance, resources, plan_id=plan_id, decision="approve_partial",
                  include_ids=["999999999"], reviewer="analyst")
    assert not bad.success and "not in sync plan" in " ".join(failure_messages(bad))
    bad = _review(defs, instance, resources, plan_id=plan_id, decision="approve_partial",
                  include_clusters=["003X"], reviewer="analyst")
    assert not bad.success and "is a sync plan" in " ".join(failure_messages(bad))

    # Only the over-cap prospect deletes, but one of them.
    ok = _review(defs, instance, resources, plan_id=plan_id, decision="approve_partial",
                 include_reasons=["delete:over_cap"], exclude_ids=[left_out], reviewer="analyst", note="over the cap only")
    assert ok.success, failure_messages(ok)
    decision = ok.output_for_node("record_decision")
    assert decision["plan_kind"] == "sync" and decision["approved_items"] == approved
    assert decision["approved_clusters"] == []
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT approved_items, include_reasons, exclude_ids FROM plan_decisions WHERE decision_id = ?",
                         [decision["decision_id"]]).fetchone()
    con.close()
    assert stored == (approved, ["delete:over_cap"], [left_out])

    # The sensor launches apply_plan once for the approval.
    store = NayoseStore(database=str(db), output_dir=str(out))
    tick = apply_approved_plans.evaluate_tick(dg.build_sensor_context(instance=instance, resources={"store": store}))
    assert len(tick.run_requests) == 1, tick.skip_message
    req = tick.run_requests[0]
    assert req.run_key == f"{plan_id}:{decision['decision_id']}" and req.tags["nayose/plan_kind"] == "sync"
    again = apply_approved_plans.evaluate_tick(
        dg.build_sensor_context(instance=instance, resources={"store": store}, cursor=tick.cursor))
    assert not again.run_requests

    applied = defs.resolve_job_def("apply_plan").execute_in_process(
        run_config={**req.run_config, "resources": resources}, instance=instance, raise_on_error=False)
    assert applied.success, failure_messages(applied)
    report = applied.output_for_node("apply_approved_groups")
    assert (report["mode"], report["deletes_planned"], report["flags_planned"]) == ("dry_run", len(approved), 0)

    # The dry-run journal holds exactly the approved rows.
    con = duckdb.connect(str(db.parent / "apply_journal.duckdb"), read_only=True)
    rows = con.execute("SELECT step_key, action, status FROM apply_journal WHERE plan_id = ? ORDER BY step_key",
                       [plan_id]).fetchall()
    con.close()
    assert [r[0] for r in rows] == approved
    assert {(r[1], r[2]) for r in rows} == {("delete_prospect", "dry_run")}

    # A second decision on the rest: the billing flags only; the approved deletes are not approved twice.
    twice = _review(defs, instance, resources, plan_id=plan_id, decision="approve", reviewer="analyst")
    assert not twice.success and "already approved" in " ".join(failure_messages(twice))
    flags_ok = _review(defs, instance, resources, plan_id=plan_id, decision="approve_partial",
                       include_reasons=["flag:billing"], reviewer="analyst")
    assert flags_ok.success, failure_messages(flags_ok)
    billing = flags_ok.output_for_node("record_decision")["approved_items"]
    assert billing and all(k.startswith("flag/") for k in billing)
    tick2 = apply_approved_plans.evaluate_tick(
        dg.build_sensor_context(instance=instance, resources={"store": store}, cursor=tick.cursor))
    assert len(tick2.run_requests) == 1
    applied2 = defs.resolve_job_def("apply_plan").execute_in_process(
        run_config={**tick2.run_requests[0].run_config, "resources": resources}, instance=instance, raise_on_error=False)
    assert applied2.success, failure_messages(applied2)
    con = duckdb.connect(str(db.parent / "apply_journal.duckdb"), read_only=True)
    flag_rows = con.execute("SELECT step_key, action, status FROM apply_journal WHERE plan_id = ? AND step_key LIKE 'flag/%' "
                            "ORDER BY step_key", [plan_id]).fetchall()
    con.close()
    assert [r[0] for r in flag_rows] == sorted(billing)
    assert {(r[1], r[2]) for r in flag_rows} == {("update_field", "dry_run")}
