"""review_plan, apply_plan, the apply sensor and the nightly schedule, in process on the sample run."""

from datetime import datetime, timezone

import dagster as dg
import duckdb
import pytest
from pipeline_helpers import failure_messages


def _resources(db, out):
    return {"store": {"config": {"database": str(db), "output_dir": str(out)}}}


def _review(defs, db, out, instance, **config):
    return defs.resolve_job_def("review_plan").execute_in_process(
        run_config={"ops": {"record_decision": {"config": config}}, "resources": _resources(db, out)},
        instance=instance, raise_on_error=False,
    )


def test_plan_asset_metadata_is_the_review_surface(sample_run):
    from pipeline_helpers import materialization

    result, db, out = sample_run
    md = materialization(result, "merge_plan")
    plan_id = md["review/plan_id"].value
    assert plan_id in md["review/summary"].value and "groups" in md["review/summary"].value
    # the delete candidates are not approved here: the summary says so and how they are applied
    with open(out / "delete_plan.csv", encoding="utf-8") as fh:
        n_delete = sum(1 for _ in fh) - 1
    assert n_delete > 0  # (the sample org holds test / dummy records)
    assert f"Delete candidates: {n_delete:,}" in md["review/summary"].value
    assert "--clusters none --deletes" in md["review/summary"].value
    assert "| cluster id | status |" in md["review/group_index"].value
    assert md["review/score_distribution"].value.startswith("![plan score distribution](data:image/png;base64,")
    assert "Evidence" in md["review/groups_to_review"].value and "→" in md["review/groups_to_review"].value
    assert (out / "plans" / plan_id / "merge_plan.json").is_file()
    assert (out / "plans" / plan_id / "groups.md").is_file()
    assert f"plan_id: {plan_id}" in md["review/how_to_approve"].value
    assert {"review/export/merge_plan.csv", "review/export/field_changes.csv"} <= set(md)


def test_review_then_sensor_then_dry_run_apply(store_copy):
    from pipelines.definitions import defs
    from pipelines.review import apply_approved_plans

    db, out, plan_id, groups = store_copy
    instance = dg.DagsterInstance.ephemeral()
    chosen = groups[:3]
    bad = _review(defs, db, out, instance, plan_id=plan_id, decision="approve_partial",
                  include_clusters=[*chosen, "003NOTAGROUP"], reviewer="analyst")
    assert not bad.success and "not in plan" in " ".join(failure_messages(bad))
    old = _review(defs, db, out, instance, plan_id="plan_000", decision="approve", reviewer="analyst")
    assert not old.success and "is not known" in " ".join(failure_messages(old))

    ok = _review(defs, db, out, instance, plan_id=plan_id, decision="approve_partial",
                 include_clusters=chosen, reviewer="analyst", note="checked")
    assert ok.success, failure_messages(ok)
    decision = ok.output_for_node("record_decision")
    assert decision["approved_clusters"] == sorted(chosen)

    from assets import NayoseStore

    store = NayoseStore(database=str(db), output_dir=str(out))
    ctx = dg.build_sensor_context(instance=instance, resources={"store": store})
    tick = apply_approved_plans.evaluate_tick(ctx)
    requests = tick.run_requests
    assert len(requests) == 1, tick.skip_message
    req = requests[0]
    assert req.run_key == f"{plan_id}:{decision['decision_id']}"
    # The cursor moved past the approval: the next tick asks for nothing.
    ctx2 = dg.build_sensor_context(instance=instance, resources={"store": store}, cursor=tick.cursor)
    again = apply_approved_plans.evaluate_tick(ctx2)
    assert not again.run_requests and "no new approval" in again.skip_message

    run_config = {**req.run_config, "resources": _resources(db, out)}
    applied = defs.resolve_job_def("apply_plan").execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    assert applied.success, failure_messages(applied)
    con = duckdb.connect(str(db.parent / "apply_journal.duckdb"), read_only=True)
    rows = con.execute("SELECT DISTINCT cluster_id, status FROM apply_journal WHERE plan_id = ?", [plan_id]).fetchall()
    con.close()
    assert {r[0] for r in rows} == set(chosen)
    assert {r[1] for r in rows} == {"dry_run"}


def test_nightly_schedule_defaults_and_configuration():
    from pipelines.definitions import defs, nayose_job
    from pipelines.review import NightlySettings, nightly_schedule

    sched = defs.resolve_schedule_def("nayose_nightly")
    assert (sched.cron_schedule, sched.execution_timezone) == ("0 2 * * *", "Asia/Tokyo")
    when = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
    ctx = dg.build_schedule_context(scheduled_execution_time=when)
    # (no source configured: the nightly does not run, see test_review_guards.py)
    assert not sched.evaluate_tick(ctx).run_requests
    req = nightly_schedule(nayose_job, NightlySettings.from_env({"NAYOSE_NIGHTLY_SOURCE": "salesforce"}),
                           name="sf_nightly").evaluate_tick(ctx).run_requests[0]
    assert req.tags["nayose/trigger"] == "nightly" and "nayose/auto_approve" not in req.tags

    s = NightlySettings.from_env({
        "NAYOSE_NIGHTLY_CRON": "30 3 * * 1-5", "NAYOSE_NIGHTLY_TIMEZONE": "UTC", "NAYOSE_AUTO_APPROVE": "1",
        "NAYOSE_NIGHTLY_RUN_CONFIG": '{"ops": {"raw_records": {"config": {"source": "csv", "csv_paths": ["x.csv"]}}}}',
    })
    custom = nightly_schedule(nayose_job, s, name="custom_nightly")
    assert (custom.cron_schedule, custom.execution_timezone) == ("30 3 * * 1-5", "UTC")
    req = custom.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when)).run_requests[0]
    assert req.tags["nayose/auto_approve"] == "true" and req.tags["nayose/auto_max_records"] == "3"
    assert req.run_config["ops"]["raw_records"]["config"]["source"] == "csv"


def test_nightly_auto_approval_records_a_decision(tmp_path):
    from pipelines.definitions import defs

    db, out = tmp_path / "data" / "nayose.duckdb", tmp_path / "out"
    result = defs.resolve_job_def("nayose_job").execute_in_process(
        run_config={"ops": {"raw_records": {"config": {"source": "sample", "sample_records": 1000, "sample_seed": 3}}},
                    "resources": _resources(db, out),
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        tags={"nayose/auto_approve": "true", "nayose/auto_min_probability": "0.999"},
    )
    assert result.success, failure_messages(result)
    # (the policy acts once every blocking check of the plan passed: reported by the last of them)
    observed = [e.asset_observation_data.asset_observation.metadata for e in result.all_events
                if e.event_type_value == "ASSET_OBSERVATION"]
    md = {k: v for m in observed for k, v in m.items()}
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        """SELECT g.status, g.size, g.min_probability, g.has_convert_lead, g.card_conflict
           FROM plan_decisions d, unnest(d.approved_clusters) AS a(cid)
           JOIN plan_groups g ON g.plan_id = d.plan_id AND g.cluster_id = a.cid WHERE d.source = 'auto_policy'"""
    ).fetchall()
    con.close()
    assert rows and "review/auto_approval" in md
    assert all(st == "auto" and n <= 3 and p >= 0.999 and not conv and not card for st, n, p, conv, card in rows)
