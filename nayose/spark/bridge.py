"""Between the DuckDB store and the Spark engine: Parquet out, Parquet back in.

`export_normalized` writes the store's normalized_records as Parquet for the Spark job;
`import_results` loads what the job wrote (candidate_pairs, scored_pairs, clusters, the model)
into the store under the tables the DuckDB engine writes, with the same columns and types, so
survivorship, the plan and the outputs run on them unchanged. `run_spark_stages` does the three
steps in one process (the CLI's `--engine spark`); Dagster launches the middle step through
Pipes instead (assets/spark.py, nayose/spark/pipes_script.py). No Dagster here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import duckdb

from nayose.config import Config
from nayose.stage import StageResult
from nayose.store import table_exists

SCORED_BASE = ["left_idx", "right_idx", "rule_no", "match_weight", "match_probability", "gate", "name_swapped"]


def export_normalized(con: duckdb.DuckDBPyConnection, path: str | Path, source: str = "normalized_records") -> Path:
    """Write `source` to one Parquet file (timestamps as text: the matching never reads them), with
    the column `business_account` (engine.BUSINESS_ACCOUNT) when the store has business Accounts
    (nayose.accounts): the people's model leaves them out, as the DuckDB engine's does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = con.execute(f'DESCRIBE "{source}"').fetchall()
    select = ", ".join(
        f'CAST(s."{c}" AS VARCHAR) AS "{c}"' if t.startswith("TIMESTAMP") or t.startswith("DATE") else f's."{c}"'
        for c, t, *_ in cols
    )
    companies = source == "normalized_records" and table_exists(con, "normalized_accounts") and bool(
        con.execute("SELECT count(*) FROM normalized_accounts").fetchall()[0][0])
    if companies:
        select += ", s.rec_idx IN (SELECT rec_idx FROM normalized_accounts) AS business_account"
    con.execute(f"COPY (SELECT {select} FROM \"{source}\" s ORDER BY s.rec_idx) TO '{path}' (FORMAT PARQUET)")
    return path


def _parquet_glob(folder: Path) -> str:
    return str(folder / "*.parquet")


def import_results(con: duckdb.DuckDBPyConnection, out_dir: str | Path) -> list[StageResult]:
    """Load the Spark job's tables into the store; return its block, score and cluster results."""
    from nayose.score import save_model
    from nayose.spark.engine import model_from_dict

    out = Path(out_dir)
    local = out / "stages.json"
    if local.is_file():
        stages = json.loads(local.read_text(encoding="utf-8"))
    else:  # written by Spark on a cluster's storage (engine.run_matching)
        stages = json.loads(con.execute(f"SELECT content FROM read_text('{out}/stages/*.txt')").fetchall()[0][0])
    results = [StageResult(**s) for s in stages["stages"]]
    con.execute(
        f"""CREATE OR REPLACE TABLE candidate_pairs AS
        SELECT left_idx::INTEGER AS left_idx, right_idx::INTEGER AS right_idx, rule_no::SMALLINT AS rule_no
        FROM read_parquet('{_parquet_glob(out / "candidate_pairs")}') ORDER BY left_idx, right_idx"""
    )
    comps = next(r for r in results if r.stage == "score").stats["comparisons"]
    per_comp = ", ".join(f"lvl_{c}::TINYINT AS lvl_{c}, w_{c}::FLOAT AS w_{c}" for c in comps)
    con.execute(
        f"""CREATE OR REPLACE TABLE scored_pairs AS
        SELECT left_idx::INTEGER AS left_idx, right_idx::INTEGER AS right_idx, rule_no::SMALLINT AS rule_no,
               match_weight::FLOAT AS match_weight, match_probability::DOUBLE AS match_probability,
               gate::TINYINT AS gate, name_swapped::BOOLEAN AS name_swapped{", " + per_comp if per_comp else ""}
        FROM read_parquet('{_parquet_glob(out / "scored_pairs")}') ORDER BY left_idx, right_idx"""
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE clusters AS
        SELECT rec_idx::INTEGER AS rec_idx, "Id", cluster_id, status, cluster_size::INTEGER AS cluster_size
        FROM read_parquet('{_parquet_glob(out / "clusters")}') ORDER BY rec_idx"""
    )
    save_model(con, model_from_dict(stages.get("model")))
    con.execute('DROP TABLE IF EXISTS "match_model_tf"')  # term-frequency counts of an earlier model
    return results


def run_spark_stages(con: duckdb.DuckDBPyConnection, config: Config, spark=None, work_dir: str | Path | None = None) -> list[StageResult]:
    """Block, score and cluster the store's normalized_records on Spark (in this process: a local
    session, or the one spark-submit created) and load the results back. Returns the three stage
    results, as the DuckDB stages would."""
    from nayose.spark.engine import run_matching
    from nayose.spark.session import get_spark

    spark = spark or get_spark()
    tmp = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="nayose_spark_"))
    try:
        src = export_normalized(con, tmp / "normalized_records.parquet")
        run_matching(spark, src, tmp / "out", config)
        return import_results(con, tmp / "out")
    finally:
        if work_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)
