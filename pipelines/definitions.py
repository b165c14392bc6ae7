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
from assets.review import ReviewSettings
from assets.salesforce import (
    SALESFORCE_ASSETS,
    SALESFORCE_JOBS,
    pardot_resource_from_env,
    salesforce_records,
    salesforce_resource_from_env,
)
from pipelines.review import REVIEW_JOBS, REVIEW_SENSORS, nightly_schedule
from assets.synchealth import SYNC_ASSETS, sync_health_job, sync_health_nightly
from assets.importplan import IMPORT_ASSETS, IMPORT_CHECKS
from assets.bench import BENCH_ASSETS, benchmark_job
from assets.spark import SPARK_ASSETS, SPARK_RESOURCES, spark_matching_job

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

import_plan_job = dg.define_asset_job(
    name="import_plan_job",
    selection=dg.AssetSelection.assets(*IMPORT_ASSETS),
    executor_def=dg.in_process_executor,
    description=(
        "Before a one-off import: link an incoming file (run config: incoming_path) to the extracted org "
        "(raw_records) and publish the import plan (insert / update / review / skip per row, Data Loader files), "
        "guarded by blocking checks."
    ),
)

# The nightly run: the Salesforce extract, then everything nayose_job does (raw_records depends on
# salesforce_records, so the extract comes first); a night on another source runs nayose_job's assets only.
nayose_nightly_job = dg.define_asset_job(
    name="nayose_nightly_job",
    selection=dg.AssetSelection.assets(salesforce_records, *ALL_ASSETS),
    executor_def=dg.in_process_executor,
    description=(
        "The nightly run of the schedule nayose_nightly: extract from Salesforce (salesforce_records) when "
        "NAYOSE_NIGHTLY_SOURCE=salesforce, then match and plan as nayose_job does."
    ),
)
PLAN_ASSET_KEYS = [k for a in ALL_ASSETS for k in a.keys]
PLAN_CHECK_KEYS = [k for c in ALL_CHECKS for k in c.check_keys if k.asset_key in set(PLAN_ASSET_KEYS)]

# Extract -> plan every night (02:00 Asia/Tokyo unless NAYOSE_NIGHTLY_CRON / _TIMEZONE say otherwise) on the
# source NAYOSE_NIGHTLY_SOURCE names; no source or an invalid setting: every tick is skipped with the reason.
nayose_nightly = nightly_schedule(nayose_nightly_job, plan_assets=PLAN_ASSET_KEYS, plan_checks=PLAN_CHECK_KEYS)

defs = dg.Definitions(
    assets=[*ALL_ASSETS, *SALESFORCE_ASSETS, *SYNC_ASSETS, *IMPORT_ASSETS, *BENCH_ASSETS, *SPARK_ASSETS],
    asset_checks=[*ALL_CHECKS, *IMPORT_CHECKS],
    jobs=[nayose_job, nayose_nightly_job, import_plan_job, *REVIEW_JOBS, *SALESFORCE_JOBS, sync_health_job, benchmark_job, spark_matching_job],
    schedules=[nayose_nightly, sync_health_nightly],
    sensors=REVIEW_SENSORS,
    resources={
        "store": NayoseStore(),
        "review": ReviewSettings(),
        # Credentials only through dg.EnvVar (NAYOSE_SF_* / NAYOSE_PARDOT_*, read when the code location loads).
        "salesforce": salesforce_resource_from_env(),
        "pardot": pardot_resource_from_env(),
        # Spark through Dagster Pipes (assets/spark.py): spark-submit --master local[2] unless configured.
        **SPARK_RESOURCES,
    },
    executor=dg.in_process_executor,
)
