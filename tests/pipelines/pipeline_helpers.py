"""Helpers for the Dagster-layer tests: run nayose_job from the real Definitions into temp folders."""

from pathlib import Path

import dagster as dg

ASSET_NAMES = [
    "raw_records", "normalized_records", "candidate_pairs", "scored_pairs", "account_pairs", "duplicate_clusters", "survivorship",
    "merge_plan",
]


def run_job(
    tmp: Path,
    source: dict,
    config_path: str | Path | None = None,
) -> tuple[dg.ExecuteInProcessResult, Path, Path]:
    """Execute nayose_job (with its checks) against a DuckDB file and output folder under `tmp`."""
    from pipelines.definitions import defs

    db = tmp / "data" / "nayose.duckdb"
    out = tmp / "out"
    store = {"database": str(db), "output_dir": str(out)}
    if config_path is not None:
        store["config_path"] = str(config_path)
    result = defs.resolve_job_def("nayose_job").execute_in_process(
        run_config={
            "ops": {"raw_records": {"config": source}},
            "resources": {"store": {"config": store}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    return result, db, out


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    msgs = []
    for ev in result.get_step_failure_events():
        data = ev.step_failure_data
        if data and data.user_failure_data and data.user_failure_data.description:
            msgs.append(data.user_failure_data.description)
        elif data and data.error:
            msgs.append(data.error.to_string())
    return msgs


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    mats = result.asset_materializations_for_node(asset)
    assert len(mats) == 1, f"{asset}: expected one materialization, got {len(mats)}"
    return dict(mats[0].metadata)
