"""The Spark session nayose runs on.

Locally (tests, a laptop) it starts `local[2]` with the UI off and few shuffle partitions; on a
cluster (`spark-submit --master yarn|k8s://…|spark://…`, Databricks, EMR, Dataproc) the session the
launcher created is used as it is, with only nayose's own settings added where they are unset.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_MASTER = "local[2]"
DEFAULT_SHUFFLE_PARTITIONS = 4


def _local_env() -> None:
    # Executors run Python UDFs with the interpreter that runs nayose (the project's venv).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def get_spark(
    master: str | None = None,
    shuffle_partitions: int | None = None,
    checkpoint_dir: str | Path | None = None,
    app_name: str = "nayose",
):
    """The active SparkSession, or a new one. `master` defaults to $NAYOSE_SPARK_MASTER, then to
    whatever spark-submit set, then to local[2]."""
    _local_env()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        spark = active
    else:
        builder = SparkSession.builder.appName(app_name)
        # What the engine's SQL needs on any cluster: Arrow batches for the UDFs, non-ANSI casts.
        builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true").config(
            "spark.sql.ansi.enabled", "false"
        )
        master = master or os.environ.get("NAYOSE_SPARK_MASTER")
        launched = bool(os.environ.get("PYSPARK_GATEWAY_PORT"))  # started by spark-submit / a cluster
        if master:
            builder = builder.master(master)
        elif not launched:
            builder = builder.master(DEFAULT_MASTER)
        if not launched:
            # A session of our own: small and quiet (spark-submit's --conf decide otherwise).
            parts = shuffle_partitions or int(os.environ.get("NAYOSE_SPARK_SHUFFLE_PARTITIONS", DEFAULT_SHUFFLE_PARTITIONS))
            builder = (
                builder.config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", str(parts))
                .config("spark.default.parallelism", str(parts))
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.driver.host", os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"))
                .config("spark.driver.memory", os.environ.get("NAYOSE_SPARK_DRIVER_MEMORY", "2g"))
            )
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    ckpt = checkpoint_dir or os.environ.get("NAYOSE_SPARK_CHECKPOINT_DIR")
    if ckpt is not None:
        spark.sparkContext.setCheckpointDir(str(ckpt))
    return spark
