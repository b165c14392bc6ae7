"""Dagster assets for nayose: thin wrappers that run one engine stage each on a DuckDB store.

raw_records -> normalized_records -> candidate_pairs -> scored_pairs -> duplicate_clusters
    -> survivorship -> merge_plan

The matching itself lives in the `nayose` package (no Dagster there); these modules open the
store, call the stage, and describe what it produced (row counts, schemas, previews, charts) as
materialization metadata for the Dagster UI.
"""

from assets.checks import ASSET_CHECKS
from assets.matching import (
    MATCHING_ASSETS,
    candidate_pairs,
    duplicate_clusters,
    normalized_records,
    raw_records,
    scored_pairs,
)
from assets.plan import PLAN_ASSETS, merge_plan, survivorship
from assets.plan_checks import PLAN_CHECKS
from assets.sources import RecordsSourceConfig
from assets.store import NayoseStore

__all__ = [
    "ASSET_CHECKS",
    "MATCHING_ASSETS",
    "NayoseStore",
    "PLAN_ASSETS",
    "PLAN_CHECKS",
    "RecordsSourceConfig",
    "candidate_pairs",
    "duplicate_clusters",
    "merge_plan",
    "normalized_records",
    "raw_records",
    "scored_pairs",
    "survivorship",
]
