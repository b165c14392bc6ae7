"""The nayose code location: the matching and plan assets, their checks, the job and its nightly schedule.

Loaded by `dagster dev` / `dagster definitions validate` through `[tool.dagster]` in
pyproject.toml and workspace.yaml (module `pipelines.definitions`).

The stage tables live in one DuckDB file, and DuckDB allows one writing process at a time, so
every run executes its steps one after another in a single process (`in_process_executor`), and
the assets share the concurrency pool `nayose_store` (give it a limit of 1 on the instance to
queue overlapping runs instead of letting the second one fail on the file lock).
"""

from __future__ import annotations

import dagster as dg

from assets import ASSET_CHECKS, MATCHING_ASSETS, PLAN_ASSETS, PLAN_CHECKS, NayoseStore

ALL_ASSETS = [*MATCHING_ASSETS, *PLAN_ASSETS]
ALL_CHECKS = [*ASSET_CHECKS, *PLAN_CHECKS]

nayose_job = dg.define_asset_job(
    name="nayose_job",
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
    executor_def=dg.in_process_executor,
    description=(
        "Find duplicate Leads / Contacts: load the records, normalize, block, score, cluster, and "
        "publish clusters.csv, pairs.csv, evidence.csv and summary.json; then survivorship and the merge plan "
        "(merge_plan.json, merge_plan.csv, field_changes.csv, delete_plan.csv), guarded by blocking checks."
    ),
)

nayose_nightly = dg.ScheduleDefinition(
    name="nayose_nightly",
    job=nayose_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Asia/Tokyo",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Re-run the whole matching every night at 02:00 JST (stopped until switched on).",
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[nayose_job],
    schedules=[nayose_nightly],
    resources={"store": NayoseStore()},
    executor=dg.in_process_executor,
)
