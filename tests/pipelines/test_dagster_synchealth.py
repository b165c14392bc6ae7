"""The sync health assets, job and schedule through the real Definitions."""

import csv

import dagster as dg
import pytest
from pipeline_helpers import failure_messages

from pipelines.definitions import defs


def _run(tmp, sync_config, job="sync_health_job", extra_ops=None):
    db, out = tmp / "data" / "nayose.duckdb", tmp / "out"
    ops = {"sync_eligibility": {"config": sync_config}, **(extra_ops or {})}
    result = defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": ops, "resources": {"store": {"config": {"database": str(db), "output_dir": str(out)}}},
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )
    return result, db, out


@pytest.fixture(scope="module")
def sample_sync_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sync_job")
    result, db, out = _run(tmp, {"source": "sample", "sample_records": 2000, "sample_seed": 5})
    assert result.success, "\n".join(failure_messages(result))
    return result, db, out


def test_job_finds_the_planted_problems(sample_sync_run):
    result, db, out = sample_sync_run
    mats = {n: dict(result.asset_materializations_for_node(n)[0].metadata) for n in ("sync_eligibility", "sync_health")}
    el, h = mats["sync_eligibility"], mats["sync_health"]
    assert el["eligible"].value > 0 and el["flag_plan_rows"].value > 0
    assert "Not eligible, by first reason" in el["summary"].value
    truth_path = h["truth_csv"].value
    with open(truth_path, encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    for problem in ("not_synced", "over_synced", "duplicate", "field_mapping", "not_syncing", "reverts"):
        assert h[f"findings/{problem}"].value == sum(1 for t in truth if t["problem"] == problem) > 0, problem
    report = h["report"].value
    assert report.startswith("# Sync health") and "## Field mapping audit" in report
    for name in ("sync_health.md", "sync_health.csv", "sync_delete_plan.csv", "flag_plan.csv", "sync_eligibility.csv",
                 "sync_plan.json"):
        assert (out / name).is_file(), name
    assert h["prospect_deletes"].value > 0 and h["plan_id"].value.startswith("sync_")


def test_store_source_without_prospects(tmp_path):
    """The nightly run reads raw_records from the store; without a prospects table it stops at eligibility."""
    db, out = tmp_path / "data" / "nayose.duckdb", tmp_path / "out"
    store = {"config": {"database": str(db), "output_dir": str(out)}}
    from assets import raw_records, sync_eligibility, sync_health
    from assets.store import NayoseStore

    res = dg.materialize(
        [raw_records, sync_eligibility, sync_health],
        run_config={"ops": {"raw_records": {"config": {"source": "sample", "sample_records": 500, "sample_seed": 3}}},
                    "resources": {"store": store}},
        resources={"store": NayoseStore(database=str(db), output_dir=str(out))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert res.success
    h = dict(res.asset_materializations_for_node("sync_health")[0].metadata)
    assert "No prospects table" in h["report"].value
    assert all(h[f"findings/{p}"].value == 0 for p in ("not_synced", "over_synced", "duplicate"))
    assert (out / "flag_plan.csv").is_file()


def test_bad_csv_source_fails_with_one_line(tmp_path):
    result, _, _ = _run(tmp_path, {"source": "csv"})
    assert not result.success
    assert any("records_csv" in m for m in failure_messages(result))


def test_nightly_schedule_is_registered_and_stopped():
    sched = defs.get_schedule_def("sync_health_nightly")
    assert sched.job_name == "sync_health_job"
    assert sched.default_status == dg.DefaultScheduleStatus.STOPPED
    assert sched.execution_timezone == "Asia/Tokyo"
    ctx = dg.build_schedule_context(scheduled_execution_time=None)
    requests = list(sched.evaluate_tick(ctx).run_requests or [])
    assert len(requests) == 1
