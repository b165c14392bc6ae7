"""Parity between the engines: run block -> score -> cluster on DuckDB and on Spark over the same
normalized records and compare the tables exactly (used by tests/spark and bench/spark_bench.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import numpy as np

from nayose.config import Config


def run_both(inputs: list[str | Path], config: Config, spark, work_dir: str | Path) -> dict:
    """Load and normalize once, then match on each engine; return both connections and timings."""
    from nayose.block import block_pairs
    from nayose.cluster import cluster_records
    from nayose.normalize import normalize_records
    from nayose.records import load_records
    from nayose.score import score_pairs
    from nayose.spark.bridge import run_spark_stages

    ddb = duckdb.connect()
    load_records(ddb, [str(p) for p in inputs], config)
    normalize_records(ddb, config)
    t0 = time.perf_counter()
    duck_results = [block_pairs(ddb, config), score_pairs(ddb, config), cluster_records(ddb, config)]
    duck_seconds = time.perf_counter() - t0

    sp = duckdb.connect()
    sp.register("_nr", ddb.sql("SELECT * FROM normalized_records").to_arrow_table())
    sp.execute("CREATE TABLE normalized_records AS SELECT * FROM _nr")
    sp.unregister("_nr")
    t0 = time.perf_counter()
    spark_results = run_spark_stages(sp, config, spark=spark, work_dir=work_dir)
    spark_seconds = time.perf_counter() - t0
    return {
        "duckdb": ddb, "spark": sp, "duckdb_results": duck_results, "spark_results": spark_results,
        "duckdb_seconds": round(duck_seconds, 2), "spark_seconds": round(spark_seconds, 2),
    }


def compare(ddb: duckdb.DuckDBPyConnection, sp: duckdb.DuckDBPyConnection) -> dict:
    """Exact comparison of candidate_pairs, scored_pairs, clusters and the model of two stores."""
    report: dict = {}

    def rows(con, sql):
        return con.execute(sql).fetchall()

    pairs_sql = "SELECT left_idx, right_idx, rule_no FROM candidate_pairs ORDER BY 1, 2"
    a, b = rows(ddb, pairs_sql), rows(sp, pairs_sql)
    report["candidate_pairs"] = {"duckdb": len(a), "spark": len(b), "identical": a == b}

    cols = [r[0] for r in ddb.execute("DESCRIBE scored_pairs").fetchall()]
    cols_sp = [r[0] for r in sp.execute("DESCRIBE scored_pairs").fetchall()]
    report["scored_columns_identical"] = cols == cols_sp
    order = ", ".join(f'"{c}"' for c in cols)
    da = ddb.sql(f"SELECT {order} FROM scored_pairs ORDER BY left_idx, right_idx").to_arrow_table()
    sa = sp.sql(f"SELECT {order} FROM scored_pairs ORDER BY left_idx, right_idx").to_arrow_table() if report["scored_columns_identical"] else None
    diff_cols = []
    max_prob_diff = None
    if sa is not None and da.num_rows == sa.num_rows:
        for c in cols:
            x = da.column(c).to_numpy(zero_copy_only=False)
            y = sa.column(c).to_numpy(zero_copy_only=False)
            if x.dtype.kind == "f":
                same = np.array_equal(x, y, equal_nan=True)
            else:
                same = np.array_equal(x, y)
            if not same:
                diff_cols.append(c)
        p1 = da.column("match_probability").to_numpy()
        p2 = sa.column("match_probability").to_numpy()
        max_prob_diff = float(np.max(np.abs(p1 - p2))) if len(p1) else 0.0
    report["scored_pairs"] = {
        "rows": da.num_rows, "identical": sa is not None and da.equals(sa), "differing_columns": diff_cols,
        "max_abs_probability_difference": max_prob_diff,
    }
    cl_sql = "SELECT rec_idx, Id, cluster_id, status, cluster_size FROM clusters ORDER BY rec_idx"
    c1, c2 = rows(ddb, cl_sql), rows(sp, cl_sql)
    report["clusters"] = {"records": len(c1), "identical": c1 == c2,
                          "differing_records": sum(1 for x, y in zip(c1, c2) if x != y) + abs(len(c1) - len(c2))}
    m_sql = "SELECT comparison, level, m, u, weight FROM match_model ORDER BY comparison, level"
    p_sql = "SELECT prior FROM match_model_prior"
    report["model_identical"] = rows(ddb, m_sql) == rows(sp, m_sql) and rows(ddb, p_sql) == rows(sp, p_sql)
    report["identical"] = bool(
        report["candidate_pairs"]["identical"] and report["scored_pairs"]["identical"]
        and report["clusters"]["identical"] and report["model_identical"]
    )
    return report
