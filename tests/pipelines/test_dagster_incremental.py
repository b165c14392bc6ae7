"""The nightly run matches incrementally: raw_records' `incremental` run config, set by the schedule."""

import importlib.util
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
from pipeline_helpers import failure_messages, materialization, run_job

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("incremental_bench", ROOT / "bench" / "incremental_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_nightly_schedule_asks_for_an_incremental_run():
    from pipelines.definitions import defs, nayose_job
    from pipelines.review import NightlySettings, nightly_schedule

    when = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
    # (the deployment's schedule runs only on a configured source, see test_review_guards.py)
    assert not defs.resolve_schedule_def("nayose_nightly").evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=when)).run_requests
    on = NightlySettings.from_env({"NAYOSE_NIGHTLY_SOURCE": "salesforce"})
    req = nightly_schedule(nayose_job, on, name="inc_nightly").evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=when)).run_requests[0]
    assert req.run_config["ops"]["raw_records"]["config"]["incremental"] is True
    off = NightlySettings.from_env({"NAYOSE_NIGHTLY_INCREMENTAL": "0", "NAYOSE_NIGHTLY_SOURCE": "salesforce"})
    req = nightly_schedule(nayose_job, off, name="full_nightly").evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=when)).run_requests[0]
    assert req.run_config["ops"]["raw_records"]["config"]["incremental"] is False
    # An explicit run config wins, and keeps its other keys.
    own = NightlySettings.from_env({
        "NAYOSE_NIGHTLY_RUN_CONFIG": '{"ops": {"raw_records": {"config": {"source": "csv", "csv_paths": ["x.csv"], '
                                     '"incremental": false}}}}'})
    cfg = own.job_run_config()["ops"]["raw_records"]["config"]
    assert cfg == {"source": "csv", "csv_paths": ["x.csv"], "incremental": False}


def test_incremental_job_runs_full_then_incremental_with_the_full_runs_result(tmp_path):
    from nayose.config import load_config
    from nayose.pipeline import run_stages
    from nayose.sample import write_sample
    from nayose.score import load_model
    from nayose.store import connect

    bench = _bench()
    base, changed = tmp_path / "base.csv", tmp_path / "changed.csv"
    write_sample(1000, 4, base, tmp_path / "base.truth.csv")
    bench.make_changed_snapshot(base, changed, share=0.03)

    first, db, out = run_job(tmp_path, {"source": "csv", "csv_paths": [str(base)], "incremental": True})
    assert first.success, failure_messages(first)
    assert materialization(first, "raw_records")["run_mode"].value.startswith("full (no previous run")
    twin = tmp_path / "twin.duckdb"
    twin.write_bytes(db.read_bytes())

    second, db, out = run_job(tmp_path, {"source": "csv", "csv_paths": [str(changed)], "incremental": True})
    assert second.success, failure_messages(second)
    md = materialization(second, "raw_records")
    assert md["run_mode"].value == "incremental"
    assert md["incremental"].value["changed"] > 0
    # The downstream assets describe what raw_records did in this run.
    assert materialization(second, "duplicate_clusters")["clusters_per_status"]
    assert (out / "clusters.csv").is_file()

    con = connect(twin)
    run_stages(con, [changed], load_config(None), model=load_model(con))
    con.close()
    con = duckdb.connect(str(db), read_only=True)
    diff = _bench().compare(con, twin)  # records and pairs by Id: record numbers are the run's own
    con.close()
    same = ("pair_differences", "cluster_row_differences", "normalized_row_differences", "scored_row_differences")
    assert {k: diff[k] for k in same} == dict.fromkeys(same, 0), diff
