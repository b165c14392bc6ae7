"""Asset checks: cheap invariants of the stage tables, run right after each asset.

Structural checks that later stages rely on are blocking: when one fails, the downstream assets
of that run are not materialized.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import dagster as dg

from assets.matching import (
    account_pairs,
    POOL,
    candidate_pairs,
    duplicate_clusters,
    normalized_records,
    raw_records,
    scored_pairs,
)
from assets.store import NayoseStore
from nayose.store import table_exists


def _one(store: NayoseStore, sql: str) -> tuple:
    with store.connect() as con:
        return con.execute(sql).fetchall()[0]


def _missing(store: NayoseStore, *tables: str) -> dg.AssetCheckResult | None:
    with store.connect() as con:
        missing = [t for t in tables if not table_exists(con, t)]
    if missing:
        return dg.AssetCheckResult(passed=False, metadata={"missing_tables": ", ".join(missing)})
    return None


@dg.asset_check(
    name="ids_unique",
    asset=raw_records,
    pool=POOL,
    description="Every source row has a record Id, and no Id appears twice.",
)
def raw_records_ids_unique(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "raw_records")) is not None:
        return res
    rows, empty, dupes = _one(
        store,
        """SELECT count(*), count(*) FILTER (WHERE nullif(trim("Id"), '') IS NULL),
                  count(*) - count(DISTINCT "Id") FROM raw_records""",
    )
    return dg.AssetCheckResult(
        passed=(empty == 0 and dupes == 0),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows": int(rows), "rows_without_id": int(empty), "duplicate_ids": int(dupes)},
    )


@dg.asset_check(
    name="rec_idx_unique",
    asset=normalized_records,
    blocking=True,
    pool=POOL,
    description=(
        "One normalized row per raw record, each with its own record number rec_idx (the pair and "
        "cluster stages refer to records by it; a full run numbers them 0..n-1, an incremental run "
        "numbers new records past the largest and leaves a deleted record's number unused)."
    ),
)
def normalized_rec_idx_unique(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "raw_records", "normalized_records")) is not None:
        return res
    n, distinct, lo, hi, raw = _one(
        store,
        """SELECT count(*), count(DISTINCT rec_idx), min(rec_idx), max(rec_idx),
                  (SELECT count(*) FROM raw_records) FROM normalized_records""",
    )
    unique = n == 0 or (distinct == n and lo >= 0)
    return dg.AssetCheckResult(
        passed=bool(unique and n == raw),
        metadata={"rows": int(n), "raw_rows": int(raw), "distinct_rec_idx": int(distinct),
                  "min_rec_idx": -1 if lo is None else int(lo), "max_rec_idx": -1 if hi is None else int(hi)},
    )


@dg.asset_check(
    name="pairs_well_formed",
    asset=candidate_pairs,
    blocking=True,
    pool=POOL,
    description="No pair twice, none of a record with itself, every pair with the smaller Id on the left, "
                "every index a known record.",
)
def candidate_pairs_well_formed(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "candidate_pairs", "normalized_records")) is not None:
        return res
    pairs, unordered, dupes, unknown = _one(
        store,
        """SELECT count(*),
                  count(*) FILTER (WHERE l.id >= r.id),
                  count(*) - (SELECT count(*) FROM (SELECT DISTINCT left_idx, right_idx FROM candidate_pairs)),
                  count(*) FILTER (WHERE l.id IS NULL OR r.id IS NULL)
           FROM candidate_pairs p
           LEFT JOIN normalized_records l ON l.rec_idx = p.left_idx LEFT JOIN normalized_records r ON r.rec_idx = p.right_idx""",
    )
    return dg.AssetCheckResult(
        passed=(unordered == 0 and dupes == 0 and unknown == 0),
        metadata={"pairs": int(pairs), "left_id_not_below_right_id": int(unordered),
                  "duplicate_pairs": int(dupes), "unknown_records": int(unknown)},
    )


@dg.asset_check(
    name="every_candidate_scored",
    asset=scored_pairs,
    blocking=True,
    pool=POOL,
    description="Every candidate pair is scored exactly once, with a probability in [0, 1].",
)
def scored_pairs_complete(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "scored_pairs", "candidate_pairs")) is not None:
        return res
    scored, candidates, distinct, bad_prob = _one(
        store,
        """SELECT count(*), (SELECT count(*) FROM candidate_pairs),
                  (SELECT count(*) FROM (SELECT DISTINCT s.left_idx, s.right_idx FROM scored_pairs s
                                         JOIN candidate_pairs c USING (left_idx, right_idx))),
                  count(*) FILTER (WHERE NOT (match_probability BETWEEN 0 AND 1) OR isnan(match_probability)
                                   OR match_probability IS NULL)
           FROM scored_pairs""",
    )
    return dg.AssetCheckResult(
        passed=(scored == candidates == distinct and bad_prob == 0),
        metadata={"scored_pairs": int(scored), "candidate_pairs": int(candidates),
                  "matched_candidates": int(distinct), "invalid_probabilities": int(bad_prob)},
    )


@dg.asset_check(
    name="every_record_once",
    asset=duplicate_clusters,
    pool=POOL,
    description="Every normalized record appears exactly once in duplicate_clusters.",
)
def every_record_clustered_once(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "clusters", "normalized_records")) is not None:
        return res
    records, rows, missing, repeated = _one(
        store,
        """SELECT (SELECT count(*) FROM normalized_records), (SELECT count(*) FROM clusters),
                  (SELECT count(*) FROM normalized_records n ANTI JOIN clusters c USING (rec_idx)),
                  (SELECT count(*) FROM (SELECT rec_idx FROM clusters GROUP BY rec_idx HAVING count(*) > 1))""",
    )
    return dg.AssetCheckResult(
        passed=(records == rows and missing == 0 and repeated == 0),
        metadata={"records": int(records), "cluster_rows": int(rows),
                  "records_missing": int(missing), "records_repeated": int(repeated)},
    )


@dg.asset_check(
    name="groups_consistent",
    asset=duplicate_clusters,
    pool=POOL,
    description=(
        "Groups are consistent: cluster_size is the group's record count, one status per group, "
        "auto groups have 2..cluster.max_auto_size records (groups of business Accounts 2..accounts.max_auto_size), "
        "single records are alone."
    ),
)
def groups_consistent(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "clusters")) is not None:
        return res
    config = store.load_config()
    max_auto, max_auto_accounts = config.cluster.max_auto_size, config.accounts.max_auto_size
    with store.connect() as con:
        # (a group of business Accounts has its own limit, accounts.max_auto_size)
        is_account = ("bool_or(c.rec_idx IN (SELECT rec_idx FROM normalized_accounts))"
                      if table_exists(con, "normalized_accounts") else "false")
        wrong_size, mixed, bad_auto, bad_single = con.execute(
            f"""WITH g AS (SELECT cluster_id, count(*) AS n, count(DISTINCT status) AS statuses,
                                  any_value(status) AS status, min(cluster_size) AS lo, max(cluster_size) AS hi,
                                  {is_account} AS accounts
                           FROM clusters c GROUP BY cluster_id)
                SELECT count(*) FILTER (WHERE lo <> n OR hi <> n),
                       count(*) FILTER (WHERE statuses > 1),
                       count(*) FILTER (WHERE status = 'auto' AND (n < 2 OR n > CASE WHEN accounts THEN {int(max_auto_accounts)}
                                                                                  ELSE {int(max_auto)} END)),
                       count(*) FILTER (WHERE status = 'single' AND n <> 1)
                FROM g""").fetchall()[0]
    return dg.AssetCheckResult(
        passed=(wrong_size == mixed == bad_auto == bad_single == 0),
        metadata={"groups_with_wrong_size": int(wrong_size), "groups_with_mixed_status": int(mixed),
                  "auto_groups_out_of_bounds": int(bad_auto), "single_groups_not_alone": int(bad_single),
                  "max_auto_size": int(max_auto), "accounts_max_auto_size": int(max_auto_accounts)},
    )


@dg.asset_check(
    name="companies_only",
    asset=account_pairs,
    blocking=True,
    pool=POOL,
    description=(
        "Every Account pair joins two business Accounts (never a person, never a Person Account), once, smaller "
        "Id on the left, decided auto or review by a rule nayose.accounts knows; no person's candidate pair "
        "holds a business Account."
    ),
)
def account_pairs_companies_only(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "account_pairs", "normalized_accounts", "candidate_pairs")) is not None:
        return res
    from nayose.accounts import RULES

    known = ", ".join("'" + r + "'" for r in RULES)
    pairs, not_companies, twice, unordered, bad_rule, people_pairs = _one(
        store,
        f"""SELECT count(*),
                  count(*) FILTER (WHERE l.id IS NULL OR r.id IS NULL),
                  count(*) - (SELECT count(*) FROM (SELECT DISTINCT left_id, right_id FROM account_pairs)),
                  count(*) FILTER (WHERE NOT p.left_id < p.right_id),
                  count(*) FILTER (WHERE p.decision NOT IN ('auto', 'review') OR p.rule NOT IN ({known})),
                  (SELECT count(*) FROM candidate_pairs c
                   WHERE c.left_idx IN (SELECT rec_idx FROM normalized_accounts)
                      OR c.right_idx IN (SELECT rec_idx FROM normalized_accounts))
           FROM account_pairs p
           LEFT JOIN normalized_accounts l ON l.rec_idx = p.left_idx AND l.id = p.left_id
           LEFT JOIN normalized_accounts r ON r.rec_idx = p.right_idx AND r.id = p.right_id""",
    )
    return dg.AssetCheckResult(
        passed=not (not_companies or twice or unordered or bad_rule or people_pairs),
        metadata={"pairs": int(pairs), "not_two_business_accounts": int(not_companies), "pairs_twice": int(twice),
                  "left_id_not_below_right_id": int(unordered), "unknown_rule_or_decision": int(bad_rule),
                  "people_pairs_holding_a_business_account": int(people_pairs)},
    )


ASSET_CHECKS = [
    raw_records_ids_unique,
    normalized_rec_idx_unique,
    candidate_pairs_well_formed,
    account_pairs_companies_only,
    scored_pairs_complete,
    every_record_clustered_once,
    groups_consistent,
]
