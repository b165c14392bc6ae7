"""The code location loads and validates: assets, checks, job, schedule, resource, run config."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from pipeline_helpers import ASSET_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_and_validate():
    from pipelines.definitions import defs

    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    # the dedupe chain, the connectors, import, sync health and the benchmark
    assert keys == set(ASSET_NAMES) | {
        "salesforce_records", "pardot_prospects", "import_plan", "sync_eligibility", "sync_health",
        "benchmark_comparison", "spark_matching",
    }
    jobs = {j.name for j in defs.resolve_all_job_defs()} - {"__ASSET_JOB"}
    assert {"nayose_job", "review_plan", "apply_plan", "salesforce_extract_job", "pardot_extract_job",
            "import_plan_job", "sync_health_job", "spark_matching_job"} <= jobs


def test_asset_lineage():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    expected = {  # (business Accounts are matched before the people's scores, which leave them out)
        "normalized_records": {"raw_records"}, "candidate_pairs": {"normalized_records"},
        "account_pairs": {"normalized_records"}, "scored_pairs": {"candidate_pairs", "account_pairs"},
        "duplicate_clusters": {"scored_pairs", "account_pairs"}, "survivorship": {"duplicate_clusters"},
        "merge_plan": {"survivorship"},
    }
    assert set(expected) | {"raw_records"} == set(ASSET_NAMES)
    for down, ups in expected.items():
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(down)).parent_keys}
        assert parents == ups, f"{down} should depend on {ups} only"


def test_job_covers_every_asset_and_check():
    from pipelines.definitions import defs

    job = defs.resolve_job_def("nayose_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == set(ASSET_NAMES)
    checks = {(k.asset_key.to_user_string(), k.name) for k in job.asset_layer.asset_graph.asset_check_keys}
    assert ("candidate_pairs", "pairs_well_formed") in checks
    assert ("duplicate_clusters", "every_record_once") in checks
    assert len(checks) >= 5


def test_nightly_schedule():
    from pipelines.definitions import defs

    schedule = defs.resolve_schedule_def("nayose_nightly")
    assert schedule.job_name == "nayose_nightly_job"  # (the Salesforce extract, then nayose_job's assets)
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Asia/Tokyo"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_store_resource_defaults():
    from assets import NayoseStore
    from pipelines.definitions import defs

    store = defs.resources["store"]
    assert isinstance(store, NayoseStore)
    assert store.database == "data/nayose.duckdb"
    assert store.output_dir == "out"
    assert store.config_path is None


def test_source_config_defaults_and_unknown_source(tmp_path):
    from assets import RecordsSourceConfig
    from pipelines.definitions import defs

    cfg = RecordsSourceConfig()
    assert (cfg.source, cfg.sample_records, cfg.sample_seed, cfg.csv_paths) == ("sample", 10_000, 42, [])
    with pytest.raises(dg.DagsterInvalidConfigError):
        defs.resolve_job_def("nayose_job").execute_in_process(
            run_config={"ops": {"raw_records": {"config": {"source": "hubspot"}}}},
            instance=dg.DagsterInstance.ephemeral(),
        )


def test_resolve_source_errors(tmp_path):
    from assets import RecordsSourceConfig
    from assets.sources import resolve_source
    from nayose.errors import NayoseError

    with pytest.raises(NayoseError, match="csv_paths"):
        resolve_source(RecordsSourceConfig(source="csv"), tmp_path)
    with pytest.raises(NayoseError, match="not found"):
        resolve_source(RecordsSourceConfig(source="csv", csv_paths=[str(tmp_path / "nope.csv")]), tmp_path)


def test_dagster_cli_validates_the_code_location():
    dagster = Path(sys.executable).parent / "dagster"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    proc = subprocess.run(
        [str(dagster), "definitions", "validate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful for code location nayose" in proc.stdout + proc.stderr
