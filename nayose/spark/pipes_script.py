"""The Spark job Dagster launches through Pipes: block -> score -> cluster on the cluster.

    spark-submit --master local[2] nayose/spark/pipes_script.py        # from PipesSubprocessClient
    (on EMR / Databricks / Dataproc the matching Pipes client submits this same file)

Dagster passes, as Pipes extras: `input` (normalized_records Parquet), `output` (a folder for the
result tables), `config` (the rules file as JSON). The script reports the block, score and
cluster figures back as materialization metadata and logs to the Dagster run. Without Dagster
(`python -m nayose.spark.pipes_script INPUT OUTPUT [CONFIG.yaml]`) it runs the same way.

It imports only dagster-pipes (a small package with no Dagster dependency), never dagster.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _metadata(stages: dict) -> dict:
    block, score, cluster = stages["stages"]
    groups = cluster["stats"].get("clusters", {})
    return {
        "candidate_pairs": {"raw_value": int(block["rows"]), "type": "int"},
        "skipped_blocks": {
            "raw_value": {k: v["skipped_blocks"] for k, v in block["stats"]["rules"].items() if v["skipped_blocks"]},
            "type": "json",
        },
        "pairs_auto": {"raw_value": int(score["stats"]["pairs_auto"]), "type": "int"},
        "pairs_review": {"raw_value": int(score["stats"]["pairs_review"]), "type": "int"},
        "groups_auto": {"raw_value": int(groups.get("auto", 0)), "type": "int"},
        "groups_review": {"raw_value": int(groups.get("review", 0)), "type": "int"},
        "spark_seconds": {"raw_value": float(stages["seconds"]), "type": "float"},
        "stage_seconds": {"raw_value": {s["stage"]: s["seconds"] for s in stages["stages"]}, "type": "json"},
        "spark": {"raw_value": stages["spark"], "type": "json"},
    }


def _load_config(value):
    from nayose.config import Config, load_config

    if value is None:
        return Config()
    if isinstance(value, dict):
        return Config.model_validate(value)
    return load_config(value)


def run(input_path: str, output_path: str, config_value=None, log=print) -> dict:
    from nayose.spark.engine import run_matching
    from nayose.spark.session import get_spark

    config = _load_config(config_value)
    spark = get_spark()
    log(f"spark {spark.version} master {spark.sparkContext.master}: matching {input_path}")
    stages = run_matching(spark, input_path, output_path, config)
    for s in stages["stages"]:
        log(f"{s['stage']}: {s['rows']} rows in {s['seconds']} s")
    return stages


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from dagster_pipes import PipesCliArgsParamsLoader, PipesEnvVarParamsLoader, open_dagster_pipes

    # Launched by a Pipes client: parameters in the environment (subprocess, EMR, Dataproc) or
    # on the command line (clients that pass them as spark-submit arguments).
    loader = next((x for x in (PipesEnvVarParamsLoader(), PipesCliArgsParamsLoader()) if x.is_dagster_pipes_process()), None)
    if loader is not None:
        with open_dagster_pipes(params_loader=loader) as pipes:
            extras = pipes.extras
            stages = run(extras["input"], extras["output"], extras.get("config"), log=pipes.log.info)
            pipes.report_asset_materialization(metadata=_metadata(stages))
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    stages = run(argv[0], argv[1], argv[2] if len(argv) > 2 else None)
    print(json.dumps({s["stage"]: s["rows"] for s in stages["stages"]}))
    return 0


if __name__ == "__main__":
    # spark-submit runs this file as a script: make the repository importable when it is not installed.
    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    sys.exit(main())
