"""Dagster Pipes end to end: spark_matching_job materializes the Spark asset through
PipesSubprocessClient + spark-submit --master local[2] on a small sample, and the store then
holds the same clusters as the DuckDB job's."""

from spark_helpers import require_spark

require_spark()

import json

import dagster as dg


def _run(job: str, db, out, records: int = 600):
    from pipelines.definitions import defs

    return defs.resolve_job_def(job).execute_in_process(
        run_config={
            "ops": {"raw_records": {"config": {"source": "sample", "sample_records": records, "sample_seed": 5}}},
            "resources": {"store": {"config": {"database": str(db), "output_dir": str(out)}}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_spark_job_through_pipes_matches_the_duckdb_job(tmp_path):
    import duckdb

    spark_db, spark_out = tmp_path / "spark" / "nayose.duckdb", tmp_path / "spark" / "out"
    result = _run("spark_matching_job", spark_db, spark_out)
    assert result.success, [e.step_failure_data.error.to_string() for e in result.get_step_failure_events()]
    mats = result.asset_materializations_for_node("spark_matching")
    assert len(mats) == 1
    meta = mats[0].metadata
    # Reported from inside the Spark process through Pipes:
    assert meta["candidate_pairs"].value > 0
    assert "local[2]" in json.dumps(meta["spark"].value)
    assert "stage_seconds" in meta
    for name in ("clusters.csv", "pairs.csv", "evidence.csv", "summary.json"):
        assert (spark_out / name).is_file(), name

    from nayose.cluster import cluster_records
    from nayose.block import block_pairs
    from nayose.config import Config
    from nayose.score import score_pairs

    con = duckdb.connect(str(spark_db), read_only=True)
    ref = duckdb.connect()
    ref.register("_nr", con.sql("SELECT * FROM normalized_records").to_arrow_table())
    ref.execute("CREATE TABLE normalized_records AS SELECT * FROM _nr")
    block_pairs(ref, Config()), score_pairs(ref, Config()), cluster_records(ref, Config())
    q = "SELECT rec_idx, Id, cluster_id, status, cluster_size FROM clusters ORDER BY rec_idx"
    assert con.execute(q).fetchall() == ref.execute(q).fetchall()
    q = "SELECT left_idx, right_idx, match_probability FROM scored_pairs ORDER BY 1, 2"
    assert con.execute(q).fetchall() == ref.execute(q).fetchall()
    con.close()
