"""Block: candidate pairs from several blocking rules, as DuckDB SQL over the normalized table.

Each rule joins records whose key columns are all equal and non-empty. The union of distinct
pairs is kept, each attributed to the first rule (in config order) that produced it. Blocks larger
than the rule's size limit are skipped and reported, never turned into one n-squared join.
"""

from __future__ import annotations

import queue
import uuid
from concurrent.futures import ThreadPoolExecutor

import duckdb

from nayose.config import BlockingRule, Config
from nayose.stage import StageResult, timed


def _workers(con: duckdb.DuckDBPyConnection) -> int:
    """How many rules to run at once: DuckDB's thread count (the cores it may use), at most 4."""
    try:
        return max(1, min(4, int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])))
    except (duckdb.Error, ValueError, TypeError):  # pragma: no cover
        return 1


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}


def key_sql(key: str, alias: str | None = None) -> str:
    """SQL for a blocking key: a column, or `column:N` for its first N characters."""
    col, _, n = key.partition(":")
    ref = f'{alias}."{col}"' if alias else f'"{col}"'
    return f"substr({ref}, 1, {int(n)})" if n else ref


def key_column(key: str) -> str:
    return key.partition(":")[0]


def rule_columns(rule: BlockingRule) -> list[str]:
    """The normalized columns a rule's keys read (every alternative of `a|b`)."""
    return [key_column(a) for k in rule.keys for a in k.split("|")]


def key_value_sql(key: str) -> str:
    """SQL for a key's value per record: key_sql, or for `a|b` (either column) one row per
    distinct non-empty alternative (unnest)."""
    alts = key.split("|")
    if len(alts) == 1:
        return key_sql(key)
    return f"unnest(list_distinct([{', '.join(key_sql(a) for a in alts)}]))"


def active_rules(con: duckdb.DuckDBPyConnection, config: Config, source: str) -> list[BlockingRule]:
    """Rules whose key columns all exist and are filled somewhere (zero-config: use what is present)."""
    cols = _columns(con, source)
    candidates = [rule for rule in config.matching.blocking_rules if set(rule_columns(rule)) <= cols]
    if not candidates:
        return []
    # (one statement for all the rules: each statement costs ~1 ms however small)
    checks = ", ".join(
        f'EXISTS (SELECT 1 FROM "{source}" WHERE {" AND ".join(filled_sql(k) for k in rule.keys)})'
        for rule in candidates
    )
    filled = con.execute(f"SELECT {checks}").fetchall()[0]
    return [rule for rule, ok in zip(candidates, filled) if ok]


def filled_sql(key: str) -> str:
    """SQL: the record has a value for `key` (any alternative of `a|b`)."""
    return "(" + " OR ".join(f"{key_sql(a)} IS NOT NULL" for a in key.split("|")) + ")"


def rule_limit(rule: BlockingRule, config: Config) -> int:
    """The largest block a rule may form; larger ones are skipped and reported."""
    return rule.max_block_size or config.matching.max_block_size


# The blocking SQL (DuckDB dialect), generated once; the Spark engine translates these strings
# (nayose.spark.sql), with `hash` mapped to a 64-bit hash there too.


def key_rows_sql(rule: BlockingRule, source: str, extra: str = "") -> str:
    """SQL: per record of `source` with every key of `rule` filled, its rec_idx, the key values
    `_k0`, `_k1` ... and the `extra` select items. A key with alternatives (`a|b`) gives the
    record one row per distinct filled alternative (its blocks are those of each value)."""
    named = ", ".join(f"{key_value_sql(k)} AS _k{i}" for i, k in enumerate(rule.keys))
    filled = " AND ".join(filled_sql(k) for k in rule.keys)
    rows = f'SELECT rec_idx, {named}{", " + extra if extra else ""} FROM "{source}" WHERE {filled}'
    if not any("|" in k for k in rule.keys):
        return rows
    # (a NULL alternative unnests to a NULL row: dropped here, after the unnest)
    return f"SELECT * FROM ({rows}) WHERE {' AND '.join(f'_k{i} IS NOT NULL' for i in range(len(rule.keys)))}"


def block_keys_sql(rule: BlockingRule, source: str, incoming_sql: str | None = None) -> str:
    """Per record with every key of `rule` filled: its block key hash, the key values (`bval`,
    so that records whose different keys share a hash are never paired: DuckDB's 64-bit hash of
    a string does collide, e.g. two switchboard-style emails in the 1M sample), and its block's size."""
    keys = ", ".join(f"_k{i}" for i in range(len(rule.keys)))
    rows = key_rows_sql(rule, source, f"({incoming_sql}) AS inc" if incoming_sql else "")
    # A record alone in its block pairs with nothing: only blocks of two or more are kept (their
    # sizes counted over every record), and only those rows get a hash and a key list.
    return f"""
                SELECT rec_idx, hash({keys}) AS bkey, [{keys}] AS bval, bsize{', inc' if incoming_sql else ''}
                FROM (SELECT *, count(*) OVER (PARTITION BY {keys}) AS bsize FROM ({rows}))
                WHERE bsize >= 2"""


def skipped_blocks_sql(limit: int, keys_table: str = "_block_keys") -> str:
    """(skipped blocks, records in them, largest skipped block) of a rule's `keys_table`."""
    return (
        f"SELECT count(*), coalesce(sum(bsize) FILTER (WHERE true), 0), max(bsize) "
        f"FROM (SELECT bkey, any_value(bsize) AS bsize FROM {keys_table} WHERE bsize > {limit} GROUP BY bkey, bval)"
    )


def rule_pairs_sql(no: int, limit: int, keys_table: str = "_block_keys") -> str:
    """The pairs (left_idx < right_idx, rule_no) inside a rule's blocks no larger than `limit`."""
    return f"""
                    SELECT a.rec_idx, b.rec_idx, {no}
                    FROM {keys_table} a JOIN {keys_table} b ON a.bkey = b.bkey AND a.bval = b.bval AND a.rec_idx < b.rec_idx
                    WHERE a.bsize BETWEEN 2 AND {limit} AND b.bsize BETWEEN 2 AND {limit}"""


def rule_stats(rule, skipped) -> dict:
    """A rule's entry in the block stage's stats before its pairs are counted: its keys and what
    the skew guard skipped (skipped blocks, their records, the largest; None counts as 0)."""
    return {
        "keys": list(rule.keys),
        "comparisons": 0,
        "skipped_blocks": int(skipped[0] or 0),
        "skipped_records": int(skipped[1] or 0),
        "largest_skipped_block": int(skipped[2] or 0),
    }


def _numbered_in_id_order(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    """normalize numbers the records 0..n-1 in Id order, so that left_idx < right_idx is the
    smaller Id on the left; an incremental run keeps numbers and appends (nayose.incremental)."""
    return not con.execute(
        f'SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY rec_idx) AS before FROM "{source}") WHERE before >= id'
    ).fetchall()[0][0]


def _orient_by_id(con: duckdb.DuckDBPyConnection, source: str, target: str) -> None:
    """Every pair of `target` with the smaller Id on the left, as a full run orients it (scoring
    is not symmetric: a swapped name is read from the left record's side)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _block_oriented AS
            SELECT CASE WHEN a.id < b.id THEN p.left_idx ELSE p.right_idx END AS left_idx,
                   CASE WHEN a.id < b.id THEN p.right_idx ELSE p.left_idx END AS right_idx, p.rule_no
            FROM "{target}" p JOIN "{source}" a ON a.rec_idx = p.left_idx JOIN "{source}" b ON b.rec_idx = p.right_idx"""
    )
    con.execute(f'CREATE OR REPLACE TABLE "{target}" AS SELECT * FROM _block_oriented ORDER BY left_idx, right_idx')
    con.execute("DROP TABLE _block_oriented")


def block_pairs(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: str = "normalized_records",
    target: str = "candidate_pairs",
    incoming_sql: str | None = None,
) -> StageResult:
    """Write `target(left_idx, right_idx, rule)`, rec_idx of `source`, the smaller Id on the left
    (left_idx < right_idx where the records are numbered in Id order, as normalize numbers them).

    Link mode: with `incoming_sql` (an SQL boolean over `source`'s columns marking the incoming
    records) only pairs with at least one incoming record are produced (incoming x existing and
    incoming x incoming); block sizes still count every record of the block."""
    result = StageResult(stage="block", table=target)
    with timed(result):
        rules = active_rules(con, config, source)
        skipped_by_rule: dict[int, tuple] = {}
        token = uuid.uuid4().hex[:12]
        n_workers = min(_workers(con), len(rules))
        pair_tables = [f"_block_pairs_{token}_{w}" for w in range(max(n_workers, 1))]
        todo = queue.SimpleQueue()
        for no in range(len(rules)):
            todo.put(no)

        def work(c: duckdb.DuckDBPyConnection, pairs_table: str) -> None:
            # The rules are independent: each worker takes the next one until none is left, with
            # its own (connection-local) key table and its own pair table.
            c.execute(f'CREATE TABLE "{pairs_table}" (left_idx INTEGER, right_idx INTEGER, rule_no SMALLINT)')
            try:
                while True:
                    try:
                        no = todo.get_nowait()
                    except queue.Empty:
                        return
                    rule = rules[no]
                    limit = rule_limit(rule, config)
                    c.execute("DROP TABLE IF EXISTS _block_keys")
                    c.execute(f"CREATE TEMP TABLE _block_keys AS {block_keys_sql(rule, source, incoming_sql)}")
                    skipped_by_rule[no] = c.execute(skipped_blocks_sql(limit)).fetchall()[0]
                    if incoming_sql:
                        c.execute(
                            f"""INSERT INTO "{pairs_table}"
                            SELECT least(a.rec_idx, b.rec_idx), greatest(a.rec_idx, b.rec_idx), {no}
                            FROM (SELECT * FROM _block_keys WHERE inc AND bsize BETWEEN 2 AND {limit}) b
                            JOIN _block_keys a ON a.bkey = b.bkey AND a.bval = b.bval AND a.rec_idx <> b.rec_idx
                            WHERE a.bsize BETWEEN 2 AND {limit} AND (NOT a.inc OR a.rec_idx < b.rec_idx)"""
                        )
                    else:
                        c.execute(f'INSERT INTO "{pairs_table}" {rule_pairs_sql(no, limit)}')
            finally:
                c.execute("DROP TABLE IF EXISTS _block_keys")

        try:
            if n_workers <= 1:
                work(con, pair_tables[0])
            else:
                # At 100k records a table is one DuckDB row group, which DuckDB scans on one
                # thread: the rules run side by side on cursors (connections to the same
                # database) to keep every core busy. The result does not depend on the order.
                cursors = [con.cursor() for _ in range(n_workers - 1)]
                try:
                    with ThreadPoolExecutor(max_workers=n_workers - 1) as pool:
                        futures = [pool.submit(work, cur, t) for cur, t in zip(cursors, pair_tables[1:])]
                        try:
                            work(con, pair_tables[0])
                        finally:
                            for f in futures:
                                f.exception()  # wait for every worker before looking at results
                        for f in futures:
                            f.result()
                finally:
                    for cur in cursors:
                        cur.close()
            all_pairs = " UNION ALL ".join(f'SELECT * FROM "{t}"' for t in pair_tables)
            # Pairs are joined on a 64-bit hash of the keys and then on the key values themselves:
            # DuckDB's string hash does collide (one pair in the 1M sample), which would add a pair.
            con.execute(
                f"""CREATE OR REPLACE TABLE "{target}" AS
                SELECT left_idx, right_idx, min(rule_no) AS rule_no
                FROM ({all_pairs}) GROUP BY left_idx, right_idx ORDER BY left_idx, right_idx"""
            )
            if not _numbered_in_id_order(con, source):
                _orient_by_id(con, source, target)
            raw_counts = dict(con.execute(f"SELECT rule_no, count(*) FROM ({all_pairs}) GROUP BY rule_no").fetchall())
            first_counts = dict(con.execute(f'SELECT rule_no, count(*) FROM "{target}" GROUP BY rule_no').fetchall())
        finally:
            for t in pair_tables:
                con.execute(f'DROP TABLE IF EXISTS "{t}"')
        per_rule: dict[str, dict] = {rule.name: rule_stats(rule, skipped_by_rule[no]) for no, rule in enumerate(rules)}
        for no, rule in enumerate(rules):
            per_rule[rule.name]["comparisons"] = int(raw_counts.get(no, 0))
            per_rule[rule.name]["new_pairs"] = int(first_counts.get(no, 0))
        total = con.execute(f'SELECT count(*) FROM "{target}"').fetchall()[0][0]
        result.rows = int(total)
        result.stats = {
            "rules": per_rule,
            "rule_names": [r.name for r in rules],
            "candidate_pairs": int(total),
        }
    return result
