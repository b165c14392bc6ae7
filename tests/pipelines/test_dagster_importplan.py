"""import_plan_job: an incoming card export linked to the extracted org (the store's raw_records),
the import files published under <output_dir>/import/, the blocking checks."""

import json
import shutil

import dagster as dg
from pipeline_helpers import failure_messages, materialization

IMPORT_CHECKS = {"import_card_values_protected", "one_decision_per_row", "updates_target_org_records"}


def _run_import(db, out, incoming, **extra):
    from pipelines.definitions import defs

    return defs.resolve_job_def("import_plan_job").execute_in_process(
        run_config={
            "ops": {"import_plan": {"config": {"incoming_path": str(incoming), **extra}}},
            "resources": {"store": {"config": {"database": str(db), "output_dir": str(out)}}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_import_plan_job_over_the_extracted_org(sample_run, tmp_path):
    from nayose.sample import write_card_export

    _, db, _ = sample_run
    store = tmp_path / "nayose.duckdb"
    shutil.copyfile(db, store)  # the session's store stays as it is
    org_csv = next(p for p in db.parent.glob("sample_*_seed*.csv") if not p.name.endswith(".truth.csv"))
    org_truth = org_csv.with_name(org_csv.stem + ".truth.csv")
    cards = tmp_path / "cards.csv"
    write_card_export(org_csv, org_truth, 200, 4, cards)
    out = tmp_path / "out"
    result = _run_import(store, out, cards, lead_source="Sansan", existing_truth=str(org_truth),
                         incoming_truth=str(tmp_path / "cards.truth.csv"))
    assert result.success, "\n".join(failure_messages(result))
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert IMPORT_CHECKS <= set(evals)
    assert all(evals[c].passed for c in IMPORT_CHECKS)
    md = materialization(result, "import_plan")
    assert md["dagster/row_count"].value == 200
    assert sum(md[f"decisions_{d}"].value for d in ("insert", "update", "review", "skip")) == 200
    assert md["decisions_update"].value > 0 and md["decisions_insert"].value > 0
    assert md["card_values_overwritten"].value == 0
    assert md["decisions_by_reason"].value.startswith("| decision | reason | rows |")
    assert " → update `" in md["updates_before_after"].value
    assert md["evaluation"].value["update"]["precision"] >= 0.99
    files = {p.name for p in (out / "import").iterdir()}
    assert {"import_insert.csv", "import_update.csv", "import_review.csv", "import_summary.json"} <= files
    summary = json.loads((out / "import" / "import_summary.json").read_text(encoding="utf-8"))
    assert summary["existing"] == ["raw_records"]


def test_import_plan_bad_file_fails_in_one_line(sample_run, tmp_path):
    _, db, _ = sample_run
    store = tmp_path / "nayose.duckdb"
    shutil.copyfile(db, store)
    bad = tmp_path / "bad.csv"
    bad.write_bytes("会社名,氏名\n架空,山田 太郎,extra\n".encode("cp932"))
    out = tmp_path / "out"
    result = _run_import(store, out, bad)
    assert not result.success
    msgs = failure_messages(result)
    assert len(msgs) == 1 and str(bad) in msgs[0] and "row 2" in msgs[0] and "\n" not in msgs[0]
    assert not (out / "import").exists()
