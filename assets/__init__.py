"""Dagster assets for nayose: thin wrappers that run one engine stage each on a DuckDB store.

raw_records -> normalized_records -> candidate_pairs -> scored_pairs -> duplicate_clusters
    -> survivorship -> merge_plan        (normalized_records -> account_pairs -> duplicate_clusters)
raw_records -> sync_eligibility -> sync_health   (Salesforce <-> Account Engagement sync rules and health)

The matching itself lives in the `nayose` package (no Dagster there); these modules open the
store, call the stage, and describe what it produced (row counts, schemas, previews, charts) as
materialization metadata for the Dagster UI.
"""

from assets.bench import BENCH_ASSETS, BenchmarkConfig, benchmark_comparison, benchmark_job
from assets.checks import ASSET_CHECKS
from assets.matching import (
    MATCHING_ASSETS,
    account_pairs,
    candidate_pairs,
    duplicate_clusters,
    normalized_records,
    raw_records,
    scored_pairs,
)
from assets.importplan import IMPORT_ASSETS, IMPORT_CHECKS, ImportPlanRunConfig, import_plan
from assets.plan import PLAN_ASSETS, merge_plan, survivorship
from assets.plan_checks import PLAN_CHECKS
from assets.salesforce import SALESFORCE_ASSETS, PardotResource, SalesforceResource, pardot_prospects, salesforce_records
from assets.sources import RecordsSourceConfig
from assets.store import NayoseStore
from assets.synchealth import SYNC_ASSETS, SyncHealthConfig, sync_eligibility, sync_health, sync_health_job, sync_health_nightly

__all__ = [
    "BENCH_ASSETS",
    "BenchmarkConfig",
    "benchmark_comparison",
    "benchmark_job",
    "IMPORT_ASSETS",
    "IMPORT_CHECKS",
    "ImportPlanRunConfig",
    "import_plan",
    "ASSET_CHECKS",
    "MATCHING_ASSETS",
    "NayoseStore",
    "PLAN_ASSETS",
    "PLAN_CHECKS",
    "RecordsSourceConfig",
    "SALESFORCE_ASSETS",
    "SYNC_ASSETS",
    "SyncHealthConfig",
    "PardotResource",
    "SalesforceResource",
    "pardot_prospects",
    "salesforce_records",
    "account_pairs",
    "candidate_pairs",
    "duplicate_clusters",
    "merge_plan",
    "normalized_records",
    "raw_records",
    "scored_pairs",
    "survivorship",
    "sync_eligibility",
    "sync_health",
    "sync_health_job",
    "sync_health_nightly",
]
