"""`python -m pipelines.demo` (what `make demo` runs): the whole pipeline once, on the sample org.

Materializes every asset of the Definitions (nayose_job, with its asset checks) in this process:
the built-in synthetic Salesforce org (10,000 records, seed 42) -> data/nayose.duckdb, outputs
in out/. Then prints what was found, how good it is against the sample's truth, where the plan
files are, and a few groups before -> after (the master's current value -> the surviving value).

The run is recorded in the Dagster instance at $DAGSTER_HOME, or at ./.dagster_home when it is
not set (the folder `make ui` uses), so the UI shows it with all its metadata afterwards.
`--ephemeral` uses a throwaway instance instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import dagster as dg

UI_URL = "http://127.0.0.1:3000"
DEFAULT_HOME = ".dagster_home"  # what `make ui` uses as DAGSTER_HOME
INSTANCE_YAML = Path(__file__).with_name("dagster.yaml")


def persistent_instance(home: str | Path | None = None) -> dg.DagsterInstance:
    """The instance at `home` (default: $DAGSTER_HOME, else ./.dagster_home), created with nayose's
    dagster.yaml (telemetry off, one run at a time on the store) when it has none."""
    home = Path(home or os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists() and INSTANCE_YAML.is_file():
        shutil.copyfile(INSTANCE_YAML, settings)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def run_demo(
    records: int = 10_000,
    seed: int = 42,
    database: str = "data/nayose.duckdb",
    output_dir: str = "out",
    config_path: str | None = None,
    log_level: str = "WARNING",
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Run nayose_job on the sample org; return the in-process result."""
    from pipelines.definitions import defs

    store_config: dict = {"database": database, "output_dir": output_dir}
    if config_path:
        store_config["config_path"] = config_path
    run_config = {
        "ops": {"raw_records": {"config": {"source": "sample", "sample_records": records, "sample_seed": seed,
                                           "sample_accounts": True}}},
        "resources": {"store": {"config": store_config}},
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }
    job = defs.resolve_job_def("nayose_job")
    return job.execute_in_process(
        run_config=run_config,
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags={"nayose/demo": "true"},
    )


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    lines = []
    for ev in result.get_step_failure_events():
        err = ev.step_failure_data.error if ev.step_failure_data else None
        desc = ev.step_failure_data.user_failure_data.description if (
            ev.step_failure_data and ev.step_failure_data.user_failure_data
        ) else None
        lines.append(f"{ev.step_key}: {desc or (err.message.strip() if err else 'failed')}")
    return lines


def _part_truth(truth: Path, part: str) -> Path:
    """The sample's people or accounts truth beside the combined one the source wrote (when it has one)."""
    stem = truth.name.removesuffix(".truth.csv")
    own = truth.with_name(f"{stem}.{part}.truth.csv")
    return own if own.is_file() else truth


def _truth_csv(result: dg.ExecuteInProcessResult) -> Path | None:
    """The sample's truth file, as raw_records reported it."""
    for mat in result.asset_materializations_for_node("raw_records"):
        value = mat.metadata.get("truth_csv")
        if value is not None:
            return Path(value.value)
    return None


def _check_failures(result: dg.ExecuteInProcessResult) -> list[str]:
    out = []
    for ev in result.get_asset_check_evaluations():
        if not ev.passed:
            out.append(f"{ev.asset_key.to_user_string()}:{ev.check_name} ({ev.severity.value})")
    return out


def run_sync_health_demo(
    records: int, seed: int, database: str, output_dir: str, config_path: str | None = None,
    log_level: str = "WARNING", instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Run sync_health_job on the same sample org with its Pardot side (every sync problem planted):
    writes out/sync_health.md / .csv, flag_plan.csv and sync_delete_plan.csv."""
    from pipelines.definitions import defs

    store_config: dict = {"database": database, "output_dir": output_dir}
    if config_path:
        store_config["config_path"] = config_path
    return defs.resolve_job_def("sync_health_job").execute_in_process(
        run_config={
            "ops": {"sync_eligibility": {"config": {"source": "sample", "sample_records": records, "sample_seed": seed}}},
            "resources": {"store": {"config": store_config}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags={"nayose/demo": "true"},
    )


def _sync_line(result: dg.ExecuteInProcessResult | None, out: Path) -> str:
    if result is None or not result.success:
        return "sync health        FAILED: " + "; ".join(_failures(result) if result is not None else ["not run"])
    mats = result.asset_materializations_for_node("sync_health")
    meta = mats[0].metadata if mats else {}
    counts = ", ".join(f"{k.split('/', 1)[1].replace('_', ' ')} {v.value:,}" for k, v in meta.items() if k.startswith("findings/"))
    return f"sync health         {out}/sync_health.md, sync_health.csv, flag_plan.csv, sync_delete_plan.csv  ({counts})"


def _plan_counts(result: dg.ExecuteInProcessResult) -> dict:
    mats = result.asset_materializations_for_node("merge_plan")
    return {k: v.value for k, v in mats[0].metadata.items()} if mats else {}


def _cell(value: object, width: int = 24) -> str:
    text = "∅" if value is None or str(value).strip() == "" else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def group_previews(database: str, config_path: str | None = None, groups: int = 3, fields: int = 4) -> list[str]:
    """A few groups before -> after, compactly: the largest group of people, the least certain ones,
    and the largest group of business Accounts when there is one."""
    import duckdb

    from assets.plan import before_after, least_certain_group_ids
    from nayose.config import load_config
    con = duckdb.connect(database)
    try:
        def largest(where: str) -> list[str]:
            return [r[0] for r in con.execute(
                f"SELECT cluster_id FROM survivors WHERE {where} ORDER BY size DESC, cluster_id LIMIT 1").fetchall()]

        accounts = largest("object = 'Account'")
        objects = dict(con.execute("SELECT cluster_id, object FROM survivors").fetchall())
        uncertain = [c for c in least_certain_group_ids(con, load_config(config_path), 200) if objects.get(c) != "Account"]
        people = list(dict.fromkeys(largest("object <> 'Account'") + uncertain))
        ids = people[: groups - 1 if accounts else groups] + accounts
        shown = before_after(con, ids)
    finally:
        con.close()
    lines = []
    for g in shown:
        lines.append(f"  {g['cluster_id']}  {g['object']}, {g['status']}, {g['size']} records, "
                     f"master {g['master_id']}, {len(g['changes'])} field(s) change")
        for c in g["changes"][:fields]:
            lines.append(f"    {c['field']:<14} {_cell(c['current'])} → {_cell(c['new'])}   [{c['from_id']}, {c['rule']}]")
    return lines


IMPORT_CARDS = 2_000  # rows of the generated business-card export the demo imports


def run_import_demo(
    result: dg.ExecuteInProcessResult,
    database: str,
    output_dir: str,
    config_path: str | None = None,
    log_level: str = "WARNING",
    instance: dg.DagsterInstance | None = None,
) -> tuple[dg.ExecuteInProcessResult, Path] | None:
    """Generate a business-card export (CP932, Japanese headers, 40 % of the people already in the
    sample org) and run import_plan_job on it against the org nayose_job just extracted."""
    from nayose.sample import write_card_export
    from pipelines.definitions import defs

    truth = _truth_csv(result)
    if truth is None or not truth.is_file():
        return None
    org_csv = truth.with_name(truth.name.replace(".truth.csv", ".csv"))
    truth = _part_truth(truth, "people")  # (cards are of people: the org's people and their truth)
    with open(truth, encoding="utf-8") as f:
        rows = min(IMPORT_CARDS, max(10, (sum(1 for _ in f) - 1) // 5))  # a small org gets a small export
    cards = Path(database).parent / f"cards_{rows}.csv"
    write_card_export(org_csv, truth, rows, 1, cards)
    store_config: dict = {"database": database, "output_dir": output_dir}
    if config_path:
        store_config["config_path"] = config_path
    run = defs.resolve_job_def("import_plan_job").execute_in_process(
        run_config={
            "ops": {"import_plan": {"config": {
                "incoming_path": str(cards), "lead_source": "Sansan", "existing_truth": str(truth),
                "incoming_truth": str(cards.with_name(cards.stem + ".truth.csv"))}}},
            "resources": {"store": {"config": store_config}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags={"nayose/demo": "true"},
    )
    return run, cards


def _import_line(run: tuple[dg.ExecuteInProcessResult, Path] | None, out: Path) -> str:
    if run is None:
        return "import plan         skipped (no sample truth)"
    result, cards = run
    if not result.success:
        return "import plan         FAILED: " + "; ".join(_failures(result) or ["see the Dagster run"])
    mats = result.asset_materializations_for_node("import_plan")
    md = {k: v.value for k, v in mats[0].metadata.items()} if mats else {}
    ev = md.get("evaluation") or {}
    quality = (f"; vs truth: update precision {ev['update']['precision']:.3f}, insert precision "
               f"{ev['insert']['precision']:.3f}" if ev else "")
    return (f"import plan         {cards.name} ({md.get('dagster/row_count', 0):,} business cards, CP932) -> {out}/import/: "
            f"{md.get('decisions_insert', 0):,} insert, {md.get('decisions_update', 0):,} update, "
            f"{md.get('decisions_review', 0):,} review, {md.get('decisions_skip', 0):,} skip; "
            f"card values overwritten: {md.get('card_values_overwritten', 0)}{quality}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="records in the sample org (default 10,000)")
    parser.add_argument("--seed", type=int, default=42, help="sample seed (default 42)")
    parser.add_argument("--db", default="data/nayose.duckdb", help="DuckDB store (default data/nayose.duckdb)")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
    parser.add_argument("--config", help="rules file (YAML); the documented default without it")
    parser.add_argument("--ephemeral", action="store_true",
                        help="record the run in a throwaway Dagster instance instead of $DAGSTER_HOME / .dagster_home")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's step logs")
    args = parser.parse_args(argv)

    from nayose.config import load_config
    from nayose.errors import NayoseError

    try:
        load_config(args.config)  # a bad rules file is one line here, not a failed run
    except NayoseError as exc:
        print(f"nayose demo: error: {exc}", file=sys.stderr)
        return 2
    print(f"nayose demo: materializing raw_records -> ... -> duplicate_clusters -> survivorship -> merge_plan on a sample org of "
          f"{args.records:,} records (seed {args.seed})", file=sys.stderr)
    started = time.perf_counter()
    instance = dg.DagsterInstance.ephemeral() if args.ephemeral else persistent_instance()
    try:
        result = run_demo(args.records, args.seed, args.db, args.out, args.config,
                          log_level="INFO" if args.verbose else "CRITICAL", instance=instance)
        sync_result = (run_sync_health_demo(args.records, args.seed, args.db, args.out, args.config,
                                            log_level="INFO" if args.verbose else "CRITICAL", instance=instance)
                       if result.success else None)
        import_run = (run_import_demo(result, args.db, args.out, args.config,
                                      log_level="INFO" if args.verbose else "CRITICAL", instance=instance)
                      if result.success else None)
    finally:
        instance.dispose()
    seconds = time.perf_counter() - started
    if not result.success:
        print("nayose demo: the run failed:", file=sys.stderr)
        for line in _failures(result) or ["no step failure recorded"]:
            print(f"  {line}", file=sys.stderr)
        if not args.verbose:
            print("  (rerun with --verbose for Dagster's step logs)", file=sys.stderr)
        return 1

    out = Path(args.out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    groups = summary.get("clusters", {})
    pairs = summary.get("pairs", {})
    lines = [
        f"records             {summary.get('records_in', 0):,}  ("
        + ", ".join(f"{n:,} {obj}s" for obj, n in (summary.get("objects") or {}).items() if n) + ")",
        f"candidate pairs     {summary['candidate_pairs']['total']:,}"
        f"  (matches: {pairs.get('auto', 0):,} auto, {pairs.get('review', 0):,} review)",
        f"duplicate groups    {groups.get('auto', 0):,} auto, {groups.get('review', 0):,} review"
        f"  (largest: {summary.get('largest_cluster', 0)} records)",
        f"outputs             {out}/clusters.csv, pairs.csv, evidence.csv, account_pairs.csv, summary.json, score_histogram.png",
        f"store               {args.db}",
    ]
    plan = _plan_counts(result)
    if plan:
        lines.append(
            f"plan                {out}/merge_plan.json, merge_plan.csv, field_changes.csv, delete_plan.csv"
            f"  (after survivorship: {plan.get('groups_auto', 0):,} auto + {plan.get('groups_review', 0):,} review groups: "
            f"{plan.get('steps_merge', 0):,} merge / {plan.get('steps_convert_lead', 0):,} convert_lead steps, "
            f"{plan.get('field_changes', 0):,} field changes, {plan.get('delete_candidates', 0):,} delete candidates)"
        )
        if plan.get("leads_at_accounts"):
            lines.append(f"leads at accounts   {plan['leads_at_accounts']:,} Leads of existing customer Accounts "
                         f"(a worklist to route or convert): {out}/lead_accounts.csv")
    truth_csv = _truth_csv(result)
    if truth_csv and truth_csv.is_file():
        from nayose.evaluate import evaluate_files

        for label, part in (("vs sample truth    ", "people"), ("accounts vs truth  ", "accounts")):
            part_truth = _part_truth(truth_csv, part)
            if part == "accounts" and part_truth == truth_csv:
                continue
            m = evaluate_files(out / "clusters.csv", part_truth)
            a = evaluate_files(out / "clusters.csv", part_truth, auto_only=True)
            lines.append(
                f"{label} precision {m['precision']:.3f}, recall {m['recall']:.3f}, F1 {m['f1']:.3f}"
                f"  (auto groups only: precision {a['precision']:.3f}, recall {a['recall']:.3f}, F1 {a['f1']:.3f})"
            )
        accounts = summary.get("accounts") or {}
        if accounts.get("accounts"):
            lines.append(f"business accounts   {accounts['accounts']:,} Accounts, {accounts.get('pairs', {}).get('auto', 0):,} auto "
                         f"+ {accounts.get('pairs', {}).get('review', 0):,} review pairs by rule: {out}/account_pairs.csv")
    checks = _check_failures(result)
    lines.append("asset checks        " + ("all passed" if not checks else "FAILED: " + ", ".join(checks)))
    lines.append(_sync_line(sync_result, out))
    if sync_result is None or not sync_result.success:
        checks = [*checks, "sync_health_job"]
    lines.append(_import_line(import_run, out))
    if import_run is not None and not import_run[0].success:
        checks = [*checks, "import_plan_job"]
    lines.append(f"time                {seconds:.1f} s")
    print("\n".join(lines))
    if plan:
        previews = group_previews(args.db, args.config)
        if previews:
            print("\ngroups before → after (master's current value → surviving value  [from record, rule]):")
            print("\n".join(previews))
    where = "" if args.ephemeral else f" (this run is recorded in {os.environ['DAGSTER_HOME']})"
    print(f"\nNext: `make ui`, then open {UI_URL} to browse the assets, their metadata and checks{where}.")
    return 0 if not checks else 1


if __name__ == "__main__":
    sys.exit(main())
