"""Cluster: duplicate groups as connected components of the scored pairs, with a chaining guard.

Records linked by pairs at or above the review threshold form a group. A group is `auto` (may be
merged without review) only when it is held together by auto-threshold links alone, is no larger
than `cluster.max_auto_size` (a group of business Accounts: `accounts.max_auto_size`), and no pair
inside it was scored as a non-match (A=B and B=C but A≠C is a chain, not a person; nor two business
Accounts a rule keeps apart, nayose.accounts' `account_conflicts`). Groups larger than
`cluster.max_size` are split into their auto-linked parts. Everything else that is linked is
`review`; unlinked records are `single`.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from nayose.config import Config
from nayose.stage import StageResult, timed
from nayose.store import table_exists


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label of each of the n records linked by the (left, right) pairs.
    Components are numbered in the order of their smallest record (what scipy's
    connected_components gives; importing scipy.sparse alone took ~0.25 s of every run).

    Union-find in numpy: every root linked to a smaller root hooks under the smallest, then the
    trees are flattened, until every pair has one root; the root is then the component's
    smallest record (a record only ever hooks under a smaller one)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    parent = np.arange(n, dtype=np.int64)
    u = np.asarray(left, dtype=np.int64)
    v = np.asarray(right, dtype=np.int64)
    while len(u):
        pu, pv = parent[u], parent[v]
        keep = pu != pv
        if not keep.any():
            break
        u, v, pu, pv = u[keep], v[keep], pu[keep], pv[keep]  # pairs already joined stay joined
        hi, lo = np.maximum(pu, pv), np.minimum(pu, pv)
        o = np.lexsort((lo, hi))
        hi, lo = hi[o], lo[o]
        first = np.r_[True, hi[1:] != hi[:-1]]
        parent[hi[first]] = lo[first]  # each root under the smallest root it is linked to
        while True:  # flatten: every record points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    rank = np.cumsum(parent == np.arange(n), dtype=np.int64) - 1  # roots numbered in record order
    return rank[parent].astype(np.int32)


def assign_groups(
    ids: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray, config: Config,
    is_account: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Groups of the records `ids` (0..n-1) linked by the pairs (left, right) with probability
    `prob` at or above the review threshold: per record its cluster id, status and group size,
    and figures (largest component, groups split). A group depends only on its connected
    component, so any set of whole components gives the same rows as all records do.
    `is_account` marks the business Accounts (nayose.accounts: they link with each other only): a
    group of them may be auto up to accounts.max_auto_size instead of cluster.max_auto_size."""
    th = config.matching.thresholds
    n = len(ids)
    auto = prob >= th.auto
    labels = _components(n, left, right)
    auto_labels = _components(n, left[auto], right[auto])
    sizes = np.bincount(labels, minlength=n) if n else np.zeros(0, dtype=np.int64)

    # Split oversized groups into their auto-linked parts.
    too_big = sizes[labels] > config.cluster.max_size
    # Group key: original component, or (for split groups) the auto component offset past n.
    group = np.where(too_big, auto_labels + n, labels)
    _, group = np.unique(group, return_inverse=True)
    group = group.reshape(-1)
    gsize = np.bincount(group)[group] if n else np.zeros(0, dtype=np.int64)

    # Auto: every record of the group is in the same auto component.
    n_groups = int(group.max()) + 1 if n else 0
    first_auto = np.full(n_groups, -1, dtype=np.int64)
    uniform = np.ones(n_groups, dtype=bool)
    order = np.argsort(group, kind="stable")
    g_sorted, a_sorted = group[order], auto_labels[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1] if n else np.zeros(0, dtype=np.int64)
    first_auto[g_sorted[starts]] = a_sorted[starts]
    mismatch = a_sorted != first_auto[g_sorted]
    np.logical_and.at(uniform, g_sorted[mismatch], False)

    linked_rec = np.zeros(n, dtype=bool)
    linked_rec[left] = True
    linked_rec[right] = True
    status = np.where(gsize > 1, "review", np.where(linked_rec, "review", "single")).astype(object)
    max_auto = np.full(n, config.cluster.max_auto_size, dtype=np.int64)
    if is_account is not None and n:
        max_auto[is_account.astype(bool)] = config.accounts.max_auto_size
    is_auto = (gsize > 1) & uniform[group] & (gsize <= max_auto)
    status[is_auto] = "auto"

    # Cluster id: the smallest Id of the group; a single record's own Id.
    order_ids = np.lexsort((ids, group))
    first_pos = np.r_[0, np.flatnonzero(np.diff(group[order_ids])) + 1] if n else np.zeros(0, dtype=np.int64)
    group_min_id = np.empty(n_groups, dtype=object)
    group_min_id[group[order_ids][first_pos]] = ids[order_ids][first_pos]
    cluster_id = group_min_id[group] if n else np.zeros(0, dtype=object)
    return cluster_id, status, gsize, component_figures(labels, config)


def component_figures(labels: np.ndarray, config: Config) -> dict:
    """From the connected-component label of every record: the largest component, and how many
    were larger than cluster.max_size (split into their auto-linked parts)."""
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    return {"largest_cluster": int(sizes.max(initial=0)),
            "split_groups": int(np.count_nonzero(sizes > config.cluster.max_size))}


def cluster_table(rec_idx: np.ndarray, ids: np.ndarray, cluster_id: np.ndarray, status: np.ndarray,
                  gsize: np.ndarray) -> pa.Table:
    """Rows of the clusters table (rec_idx, Id, cluster_id, status, cluster_size)."""
    return pa.table({
        "rec_idx": pa.array(rec_idx.astype(np.int32)),
        "Id": pa.array(ids, pa.string()),
        "cluster_id": pa.array(cluster_id, pa.string()),
        "status": pa.array(status, pa.string()),
        "cluster_size": pa.array(gsize.astype(np.int32)),
    })


# Person-evidence gates (nayose.score.GATES) that cap a pair because its own evidence says two people:
# the names do not agree, two personal mailboxes at the company's domain, another given name at one home.
CONTRADICTING_GATES = (3, 5, 7)


def chain_guard(con: duckdb.DuckDBPyConnection, config: Config, pairs: str, target: str, where: str = "",
                conflicts: str = "account_conflicts") -> int:
    """A pair inside an auto group that was scored below review or capped by a gate whose evidence
    says two people (CONTRADICTING_GATES: 比嘉 洋子 and 比嘉 陽子 at one home, born 1955 and 1984,
    chained by a third record written ヒガ ヨウコ, were merged without review), or two business
    Accounts in it that a rule keeps apart (`conflicts`, nayose.accounts: two 法人番号 chained together
    by a third Account): the group goes to review. `where` restricts the groups looked at (SQL on
    `a`, the left record's row of `target`). Returns the number of groups guarded."""
    th = config.matching.thresholds
    gated = ""
    if "gate" in {r[0] for r in con.execute(f'DESCRIBE "{pairs}"').fetchall()}:
        gated = f" OR gate IN ({', '.join(str(g) for g in CONTRADICTING_GATES)})"
    inside = f'SELECT left_idx, right_idx FROM "{pairs}" WHERE match_probability < ?{gated}'
    if table_exists(con, conflicts):
        inside += f' UNION ALL SELECT left_idx, right_idx FROM "{conflicts}"'
    chained = con.execute(
        f"""SELECT DISTINCT a.cluster_id FROM ({inside}) p
        JOIN "{target}" a ON a.rec_idx = p.left_idx JOIN "{target}" b ON b.rec_idx = p.right_idx
        WHERE a.cluster_id = b.cluster_id AND a.status = 'auto'{' AND ' + where if where else ''}""",
        [th.review],
    ).fetchall()
    if chained:
        con.execute(
            f"""UPDATE "{target}" SET status = 'review'
            WHERE cluster_id IN (SELECT * FROM (VALUES {", ".join("(?)" for _ in chained)}))""",
            [c[0] for c in chained],
        )
    return len(chained)


def cluster_stats(con: duckdb.DuckDBPyConnection, target: str) -> dict:
    counts = dict(con.execute(f'SELECT status, count(DISTINCT cluster_id) FROM "{target}" GROUP BY status').fetchall())
    rec_counts = dict(con.execute(f'SELECT status, count(*) FROM "{target}" GROUP BY status').fetchall())
    return {
        "clusters": {s: int(counts.get(s, 0)) for s in ("auto", "review", "single")},
        "records": {s: int(rec_counts.get(s, 0)) for s in ("auto", "review", "single")},
    }


def business_accounts(con: duckdb.DuckDBPyConnection, rec_idx: np.ndarray, accounts: str = "normalized_accounts") -> np.ndarray | None:
    """Per record of `rec_idx` (ascending): a business Account (in nayose.accounts' table)? None
    when there is none."""
    if not table_exists(con, accounts):
        return None
    found = con.sql(f'SELECT rec_idx FROM "{accounts}" ORDER BY rec_idx').to_arrow_table().column(0).to_numpy()
    if not len(found):
        return None
    return np.isin(rec_idx, found.astype(np.int64), assume_unique=True)


def linked_pairs(con: duckdb.DuckDBPyConnection, config: Config, pairs: str = "scored_pairs",
                 accounts: str = "account_pairs") -> pa.Table:
    """(left_idx, right_idx, match_probability) of the pairs at or above the review threshold: the
    people's scored pairs and, when the table exists, the business Accounts' pairs (nayose.accounts)."""
    review = float(config.matching.thresholds.review)
    sql = f'SELECT left_idx, right_idx, match_probability FROM "{pairs}" WHERE match_probability >= {review!r}'
    if table_exists(con, accounts):
        sql += f' UNION ALL SELECT left_idx, right_idx, match_probability FROM "{accounts}" WHERE match_probability >= {review!r}'
    return con.sql(sql).to_arrow_table()


def cluster_records(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: str = "normalized_records",
    pairs: str = "scored_pairs",
    target: str = "clusters",
) -> StageResult:
    """Write `target(rec_idx, Id, cluster_id, status, cluster_size)`, one row per record."""
    result = StageResult(stage="cluster", table=target)
    with timed(result):
        records = con.sql(f'SELECT rec_idx, id FROM "{source}" ORDER BY rec_idx').to_arrow_table()
        n = records.num_rows
        numbers = records.column(0).to_numpy().astype(np.int64)
        ids = records.column(1).to_numpy(zero_copy_only=False)
        linked = linked_pairs(con, config, pairs)
        left, right = linked.column(0).to_numpy().astype(np.int64), linked.column(1).to_numpy().astype(np.int64)
        if n and numbers[-1] != n - 1:  # record numbers with gaps (an incremental run's): positions
            position = np.full(int(numbers[-1]) + 1, -1, dtype=np.int64)
            position[numbers] = np.arange(n)
            left, right = position[left], position[right]
        cluster_id, status, gsize, figures = assign_groups(ids, left, right, linked.column(2).to_numpy(), config,
                                                           business_accounts(con, numbers))
        con.register("_clusters_arrow", cluster_table(numbers, ids, cluster_id, status, gsize))
        con.execute(f'CREATE OR REPLACE TABLE "{target}" AS SELECT * FROM _clusters_arrow')
        con.unregister("_clusters_arrow")
        guarded = chain_guard(con, config, pairs, target)
        result.rows = int(n)
        result.stats = cluster_stats(con, target) | figures | {"chain_guarded_groups": guarded}
    return result
