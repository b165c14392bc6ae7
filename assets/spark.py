"""Matching on Spark, launched from Dagster through Pipes.

    raw_records -> normalized_records -> spark_matching

`spark_matching` writes the store's normalized records as Parquet, launches the standalone Spark
script (nayose/spark/pipes_script.py: `open_dagster_pipes()` inside) with the Pipes client, then
loads the Parquet it wrote back into the store as candidate_pairs, scored_pairs, clusters and
match_model, and publishes clusters.csv, pairs.csv, evidence.csv and summary.json like
duplicate_clusters. Locally the client is `PipesSubprocessClient` running
`spark-submit --master local[2]`; in production swap the `spark_pipes` resource for the
EMR / Databricks / Dataproc Pipes client and point `SparkSettings.master` / the paths at the
cluster (see docs/spark.md).
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import json
import os
import shutil
import sys
import time
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.matching import engine_errors, normalized_records, write_all_outputs
from assets.metadata import stage_metadata
from assets.store import NayoseStore, require_tables, save_stage_result

GROUP = "spark"
SCRIPT = Path(__file__).resolve().parents[1] / "nayose" / "spark" / "pipes_script.py"


class SparkSettings(dg.ConfigurableResource):
    """Where and how the Spark job runs."""

    master: str = Field("local[2]", description="spark-submit --master: local[2], yarn, k8s://…, spark://…")
    spark_submit: str = Field(
        "", description="The spark-submit command; default: the one installed with pyspark beside this Python."
    )
    conf: dict[str, str] = Field(
        default_factory=lambda: {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"},
        description="Extra --conf settings for spark-submit.",
    )
    work_dir: str = Field(
        "", description="Folder (shared with the cluster: HDFS, S3, DBFS, GCS…) for the Parquet exchanged; default: beside the store."
    )
    keep_work: bool = Field(False, description="Keep the exchanged Parquet after a successful run.")

    def command(self) -> list[str]:
        submit = self.spark_submit or str(Path(sys.executable).parent / "spark-submit")
        cmd = [submit, "--master", self.master]
        for k, v in sorted(self.conf.items()):
            cmd += ["--conf", f"{k}={v}"]
        return cmd + [str(SCRIPT)]

    def environment(self) -> dict[str, str]:
        env = {
            "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
            "PYSPARK_DRIVER_PYTHON": os.environ.get("PYSPARK_DRIVER_PYTHON", sys.executable),
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
            "SPARK_SUBMIT": "1",
        }
        root = str(SCRIPT.parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        return env


@dg.asset(
    group_name=GROUP,
    kinds={"spark", "duckdb"},
    pool="nayose_store",
    deps=[normalized_records],
    description=(
        "Block, score and cluster the normalized records on Spark (launched through Dagster Pipes), then load "
        "candidate_pairs, scored_pairs and clusters back into the store and publish clusters.csv, pairs.csv, "
        "evidence.csv and summary.json. The same pairs, scores and clusters as the DuckDB assets."
    ),
)
def spark_matching(
    context: dg.AssetExecutionContext,
    store: NayoseStore,
    spark: SparkSettings,
    spark_pipes: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    from nayose.spark.bridge import export_normalized, import_results

    nconfig = store.load_config()
    base = Path(spark.work_dir) if spark.work_dir else store.data_dir / "spark"
    work = base / context.run.run_id
    if work.exists():
        shutil.rmtree(work)
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "normalized_records")
        src = export_normalized(con, work / "normalized_records.parquet")
    # The store is closed while Spark runs: the job reads and writes Parquet only.
    started = time.perf_counter()
    invocation = spark_pipes.run(
        context=context,
        command=spark.command(),
        extras={"input": str(src), "output": str(work / "out"), "config": json.loads(nconfig.model_dump_json())},
        env=spark.environment(),
    )
    reported = invocation.get_materialize_result()
    launch_seconds = round(time.perf_counter() - started, 3)
    with engine_errors(), store.connect() as con:
        results = import_results(con, work / "out")
        for r in results:
            save_stage_result(con, r, {"engine": "spark"})
        cluster = results[-1]
        summary = write_all_outputs(con, store, nconfig, cluster)
        metadata = dict(reported.metadata or {})
        metadata.update(stage_metadata(con, cluster, store.database))
        metadata.update({
            "engine": dg.MetadataValue.text("spark"),
            "launch_seconds": dg.MetadataValue.float(launch_seconds),
            "spark_command": dg.MetadataValue.text(" ".join(spark.command())),
            "output_dir": dg.MetadataValue.path(str(store.output_path)),
            "summary": dg.MetadataValue.json(
                json.loads(json.dumps({k: v for k, v in summary.items() if k not in ("model", "comparisons")}, default=str))
            ),
        })
    if not spark.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return dg.MaterializeResult(metadata=metadata)


SPARK_ASSETS = [spark_matching]

spark_matching_job = dg.define_asset_job(
    name="spark_matching_job",
    selection=dg.AssetSelection.assets("raw_records", "normalized_records", "spark_matching"),
    executor_def=dg.in_process_executor,
    description=(
        "Load and normalize the records in DuckDB, then block, score and cluster them on Spark "
        "(Dagster Pipes: spark-submit locally, a cluster's Pipes client in production)."
    ),
)

SPARK_RESOURCES = {"spark": SparkSettings(), "spark_pipes": dg.PipesSubprocessClient()}
