"""The `nayose` command line.

    nayose plan INPUT.csv [INPUT.csv ...] --out DIR [--config nayose.yaml] [--db FILE [--incremental [--changes-only [--deleted IDS.csv]]]] [--quiet] [--truth T.csv]
    nayose import-plan --existing ORG.csv [--existing ...] --incoming NEW.csv --out DIR [--config nayose.yaml] [--lead-source Sansan]
    nayose sample --records N --seed S --out FILE.csv [--truth FILE.csv] [--accounts ACCOUNTS.csv]
    nayose evaluate --clusters DIR/clusters.csv --truth TRUTH.csv
    nayose config [--show-default]
    nayose explain DIR CLUSTER_ID
    nayose sync-health RECORDS.csv [--prospects PROSPECTS.csv] [--metadata META.json] --out DIR [--config nayose.yaml]
    nayose sync-sample --records N --seed S --out DIR
    nayose extract --out DIR [--objects Lead,Contact] [--mode auto|rest|bulk] [--db FILE] [--full] [--pardot]

Errors a user can fix (bad input, bad config) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nayose.errors import NayoseError


def _cmd_plan(args: argparse.Namespace) -> int:
    from nayose.config import load_config
    from nayose.pipeline import run_plan

    config = load_config(args.config)
    if getattr(args, "engine", None):
        config = config.model_copy(update={"engine": args.engine})
    if args.incremental and not args.db:
        raise NayoseError("--incremental needs --db FILE: the store that keeps the previous run")
    if args.incremental and config.engine != "duckdb":
        raise NayoseError("--incremental runs on the duckdb engine only")
    if (args.changes_only or args.deleted) and not args.incremental:
        raise NayoseError("--changes-only and --deleted go with --incremental")
    if args.deleted and not args.changes_only:
        raise NayoseError("--deleted goes with --changes-only (a whole snapshot tells deletions by itself)")
    deleted = read_id_list(args.deleted) if args.deleted else None
    summary = run_plan(
        args.inputs, args.out, config, db_path=args.db, quiet=args.quiet, truth=args.truth, with_plan=not args.no_plan,
        incremental=args.incremental, changes_only=args.changes_only, deleted_ids=deleted,
    )
    if not args.quiet:
        c = summary["clusters"]
        read_only = summary.get("read_only_records") or 0
        print(
            f"{summary['records_in']:,} records"
            + (f" ({read_only:,} converted Leads or deleted records left out of matching)" if read_only else "")
            + f", {summary['candidate_pairs']['total']:,} candidate pairs, "
            f"{summary['pairs']['auto']:,} auto / {summary['pairs']['review']:,} review pairs; "
            f"groups: {c.get('auto', 0):,} auto, {c.get('review', 0):,} review; "
            f"{summary['seconds']['total']:.1f} s. Outputs in {args.out}/",
            file=sys.stderr,
        )
        if "incremental" in summary:
            i = summary["incremental"]
            print(
                f"{i['mode']} run{' (' + i['reason'] + ')' if i['reason'] else ''}: {i['new']:,} new, "
                f"{i['changed']:,} changed, {i['deleted']:,} deleted records; {i['normalized']:,} normalized, "
                f"{i['compared_pairs']:,} pairs compared",
                file=sys.stderr,
            )
        if "evaluation" in summary:
            e = summary["evaluation"]
            a = e["all_groups"]
            print(
                f"vs truth: blocking recall {e['blocking_recall']:.4f}; pairwise precision {a['precision']:.4f}, "
                f"recall {a['recall']:.4f}, F1 {a['f1']:.4f}",
                file=sys.stderr,
            )
    return 0


def read_id_list(path: str) -> list[str]:
    """The Ids in a CSV file with an Id column (a Data Loader export of deleted records, sf_deleted)."""
    import duckdb

    p = Path(path)
    if not p.is_file():
        raise NayoseError(f"{path}: file not found")
    con = duckdb.connect()
    try:
        rel = con.read_csv(str(p), header=True, all_varchar=True)
        cols = {c.lower(): c for c in rel.columns}
        if "id" not in cols:
            raise NayoseError(f"{path}: no Id column (header: {', '.join(rel.columns)})")
        ids = [r[0] for r in con.execute(f'SELECT DISTINCT trim("{cols["id"]}") FROM rel WHERE trim("{cols["id"]}") <> \'\'').fetchall()]
    except duckdb.Error as exc:
        raise NayoseError(f"{path}: cannot read CSV: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return ids


def _cmd_import_plan(args: argparse.Namespace) -> int:
    from nayose.config import load_config
    from nayose.importplan import run_import_plan

    config = load_config(args.config)
    if args.lead_source is not None:
        config.import_plan.incoming_lead_source = args.lead_source or None
    if bool(args.existing_truth) != bool(args.incoming_truth):
        raise NayoseError("--existing-truth and --incoming-truth go together")
    summary = run_import_plan(
        args.existing, args.incoming, args.out, config, db_path=args.db, quiet=args.quiet,
        existing_truth=args.existing_truth, incoming_truth=args.incoming_truth,
    )
    if not args.quiet:
        d = summary["decisions"]
        print(
            f"{summary['incoming_rows']:,} incoming rows against {summary['existing_records']:,} existing records: "
            f"{d['insert']:,} insert, {d['update']:,} update, {d['review']:,} review, {d['skip']:,} skip; "
            f"{summary['seconds']['total']:.1f} s. Outputs in {args.out}/",
            file=sys.stderr,
        )
        if "evaluation" in summary:
            e = summary["evaluation"]
            print(
                f"vs truth: link precision {e['link']['precision']:.4f}, recall {e['link']['recall']:.4f}, "
                f"F1 {e['link']['f1']:.4f}; update precision {e['update']['precision']:.4f}, "
                f"insert precision {e['insert']['precision']:.4f}",
                file=sys.stderr,
            )
    return 0


def _cmd_sync_health(args: argparse.Namespace) -> int:
    import shutil

    from nayose.config import load_config
    from nayose.eligibility import load_prospects
    from nayose.pipeline import output_tmp, publish_outputs
    from nayose.records import load_records
    from nayose.store import connect
    from nayose.synchealth import load_metadata, run_sync_health

    config = load_config(args.config)
    metadata = load_metadata(args.metadata)
    out = Path(args.out)
    con = connect(args.db)
    tmp = output_tmp(out)
    try:
        load_records(con, args.inputs, config)
        prospects = None
        if args.prospects:
            load_prospects(con, args.prospects)
            prospects = "pardot_prospects"
        summary = run_sync_health(con, config, tmp, prospects=prospects, metadata=metadata)
        (tmp / "sync_summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        publish_outputs(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        con.close()
    if not args.quiet:
        e, h = summary["eligibility"], summary["health"]
        found = ", ".join(f"{p} {sum(c.values()):,}" for p, c in h["findings"].items()) or "no problem found"
        print(
            f"{e['records']:,} records: {e['eligible']:,} eligible, {e['mailable']:,} mailable (cap {e['cap']:,}, "
            f"{e['over_cap']:,} dropped); flag plan {summary['flag_plan']:,} rows; "
            + (f"{h.get('prospects', 0):,} prospects: {found}; {h['prospect_deletes']:,} prospect deletes planned. "
               if prospects else "no prospects given: eligibility only. ")
            + f"Outputs in {args.out}/ (sync_health.md)",
            file=sys.stderr,
        )
    return 0


def _cmd_sync_sample(args: argparse.Namespace) -> int:
    from nayose.sample_sync import write_sync_sample

    stats = write_sync_sample(args.records, args.seed, args.out)
    print(json.dumps(stats, ensure_ascii=False), file=sys.stderr)
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from nayose.sample import write_sample

    stats = write_sample(args.records, args.seed, args.out, args.truth, accounts_csv=args.accounts)
    print(json.dumps(stats, ensure_ascii=False), file=sys.stderr)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from nayose.evaluate import evaluate_files

    for p in (args.clusters, args.truth):
        if not Path(p).is_file():
            raise NayoseError(f"{p}: file not found")

    print(json.dumps(evaluate_files(args.clusters, args.truth, auto_only=args.auto_only), indent=2))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from nayose.config import default_config_yaml, load_config

    if args.check:
        load_config(args.check)
        print(f"{args.check}: valid")
        return 0
    sys.stdout.write(default_config_yaml())
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    import csv

    out = Path(args.dir)
    plan_path = out / "merge_plan.json"
    try:
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NayoseError(f"{plan_path}: not found (run `nayose plan ... --out {out}` first)") from None
    except json.JSONDecodeError as exc:
        raise NayoseError(f"{plan_path}: not a plan file ({exc.msg} at line {exc.lineno})") from None
    cluster = next((c for c in plan.get("clusters", []) if c.get("cluster_id") == args.cluster_id), None)
    if cluster is None:
        raise NayoseError(f"cluster {args.cluster_id!r} is not in {plan_path} (groups with status auto or review only)")
    ids = {cluster["master_id"], *cluster["loser_ids"]}
    lines = [
        f"group {cluster['cluster_id']}  ({cluster['object']}, status {cluster['status']}"
        + (f": {cluster['status_reason']}" if cluster.get("status_reason") else "") + f", {len(ids)} records)",
        f"plan {plan.get('plan_id')}  as of {plan.get('created_at')}",
        f"master: {cluster['master_id']}    losers: {', '.join(cluster['loser_ids']) or '-'}",
        "",
        "Why these records matched (pair evidence: level, weight = log2 Bayes factor):",
    ]
    ev_path = out / "evidence.csv"
    pairs: list[dict] = []
    if ev_path.exists():
        with open(ev_path, encoding="utf-8", newline="") as f:
            pairs = [r for r in csv.DictReader(f) if r["left_id"] in ids and r["right_id"] in ids]
    if pairs:
        from nayose.score import COMPARISONS

        for r in pairs:
            head = f"  {r['left_id']} ~ {r['right_id']}: p={float(r['match_probability']):.4f} ({r['decision']})"
            if r.get("match_weight"):
                head += f", total weight {r['match_weight']}"
            if r.get("blocking_rule"):
                head += f", found by {r['blocking_rule']}"
            if r.get("gate"):
                head += f", capped: {r['gate']}"
            lines.append(head)
            for comp in COMPARISONS:
                if comp.name in r:
                    w = r.get(f"{comp.name}_weight") or ""
                    lines.append(f"      {comp.name:<11} {r[comp.name]:<22} {w:>7}")
    else:
        for e in cluster.get("evidence", []):
            lines.append(f"  {e['left_id']} ~ {e['right_id']}: p={e['match_probability']}")
            if e.get("rule"):  # business Accounts (nayose.accounts): the rule that decided, what agreed
                from nayose.accounts import RULES

                meaning = RULES.get(e["rule"], ("", ""))[1]
                lines.append(f"      rule {e['rule']} ({e.get('decision')}): {meaning}; agrees: {e.get('agrees') or '-'}")
            for k, lvl in e.get("levels", {}).items():
                lines.append(f"      {k:<11} {lvl:<22} {e.get('weights', {}).get(k, '')!s:>7}")
        if not cluster.get("evidence"):
            lines.append("  (no pair evidence found)")
    lines += ["", "Why each value survived (field: value <- from record, rule):"]
    width = max((len(f) for f in cluster["fields"]), default=5)
    for field, fv in cluster["fields"].items():
        val = "(blank)" if fv["value"] is None else fv["value"]
        lines.append(f"  {field:<{width}}  {val}  <- {fv['from_id']}{' (master)' if fv['from_id'] == cluster['master_id'] else ''}, {fv['rule']}")
    lines += ["", "Steps:"]
    for k, st in enumerate(cluster["steps"], 1):
        if st["action"] == "merge":
            lines.append(f"  {k}. merge {', '.join(st['loser_ids'])} into {st['master_id']}")
        else:
            if st.get("contact_id"):
                lines.append(f"  {k}. convert lead {st['lead_id']} into contact {st['contact_id']} (account {st['account_id'] or '-'})")
            else:
                lines.append(f"  {k}. convert lead {st['lead_id']} into person account {st['account_id']}")
    if not cluster["steps"]:
        lines.append("  (none)")
    text = "\n".join(lines) + "\n"
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from nayose.extract import SALESFORCE_CSV, extract_salesforce, matching_objects, write_records_csv
    from nayose.salesforce import connect, settings_from_env
    from nayose.store import connect as store_connect

    objects = [o.strip() for o in args.objects.split(",") if o.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = Path(args.db) if args.db else out / "extract.duckdb"
    settings = settings_from_env()
    pardot_settings = None
    if args.pardot:  # checked before anything is extracted: missing Pardot settings stop here
        from nayose.pardot import pardot_settings_from_env

        pardot_settings = pardot_settings_from_env()
    sf = connect(settings)
    con = store_connect(db)
    try:
        result = extract_salesforce(
            sf, con, objects=objects, mode=args.mode, bulk_threshold=args.bulk_threshold,
            incremental=not args.full,
        )
        csv_path = out / SALESFORCE_CSV
        rows = write_records_csv(con, csv_path, matching_objects(con))
        summary = result.to_dict()
        for o in summary["objects"].values():
            o.pop("fields", None)
        summary["csv"] = str(csv_path)
        summary["rows"] = rows
        if pardot_settings is not None:
            from nayose.pardot import PardotClient, extract_pardot, join_prospects

            client = PardotClient(pardot_settings, sf=sf)
            pres = extract_pardot(client, con, incremental=not args.full)
            summary["pardot"] = {**pres.to_dict(), "links": join_prospects(con)}
            from nayose.outputs import copy_query_csv

            links = out / "prospect_links.csv"
            tmp_links = out / f".prospect_links.csv.{os.getpid()}.tmp"
            try:  # Excel-safe, written beside and renamed into place (never a half-written file)
                copy_query_csv(con, "SELECT * FROM prospect_links", tmp_links)
                os.replace(tmp_links, links)
            finally:
                tmp_links.unlink(missing_ok=True)
            summary["pardot"]["csv"] = str(links)
    finally:
        con.close()
    print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    if not args.quiet:
        per = ", ".join(f"{k} {v['rows']:,}" for k, v in summary["objects"].items())
        print(f"{rows:,} records ({per}) in {csv_path}; next: nayose plan {csv_path} --out DIR", file=sys.stderr)
    return 0


def _apply_connections(need_pardot: bool):
    """The Salesforce client (and Pardot client when needed) from the NAYOSE_SF_* / NAYOSE_PARDOT_* environment."""
    from nayose.salesforce import connect, settings_from_env

    sf = connect(settings_from_env())
    pardot = None
    if need_pardot:
        from nayose.pardot import PardotClient, pardot_settings_from_env

        pardot = PardotClient(pardot_settings_from_env(), sf=sf)
    return sf, pardot


def _print_report(title: str, rows: list[tuple[str, object]], problems: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, str(v))
    console = Console()
    console.print(table)
    for line in problems[:50]:
        console.print(line, markup=False, highlight=False)
    if len(problems) > 50:
        console.print(f"... and {len(problems) - 50} more (see the report / journal)")


def _cmd_apply(args: argparse.Namespace) -> int:
    from nayose.apply import apply_plan, load_deletes, load_flags, load_lead_conversions, load_plan

    plan = load_plan(args.plan)
    deletes = load_deletes(args.deletes, plan["plan_id"]) if args.deletes else None
    flags = load_flags(args.flags, plan["plan_id"]) if args.flags else None
    if args.lead_conversions:  # (checked before connecting: a wrong file stops here)
        load_lead_conversions(args.lead_conversions, plan["plan_id"])
    clusters = None
    if args.clusters:
        spec = args.clusters
        if spec.strip().lower() == "none":  # no group: only the --deletes / --flags / --lead-conversions given
            spec = ""
        elif spec.startswith("@"):
            spec = Path(spec[1:]).read_text(encoding="utf-8").replace("\n", ",")
        clusters = [c.strip() for c in spec.split(",") if c.strip()]
    sf = pardot = None
    if args.execute or not args.offline:
        sf, pardot = _apply_connections(any(r["object"] == "Prospect" for r in deletes or []))
    report = apply_plan(plan, journal_db=args.db, sf=sf, pardot=pardot, execute=args.execute, clusters=clusters,
                        deletes=deletes, api_budget=args.budget, flags=flags, lead_conversions=args.lead_conversions)
    d = report.to_dict()
    if args.report:
        Path(args.report).write_text(json.dumps(d, ensure_ascii=False, indent=2), encoding="utf-8")
    problems = [f"stale  {g['cluster_id']}  {g['Id']}: {g['reason']}" for g in report.groups_stale]
    problems += [f"failed {g['cluster_id']}  {g['step_key']}: {g['error']}" for g in report.groups_failed]
    problems += [f"unknown {g['cluster_id']}  {g['step_key']}: {g['reason']}" for g in report.groups_unknown]
    problems += [f"delete {g['Id']} ({g['object']}): {g.get('reason') or g.get('error')}" for g in report.deletes_stale + report.deletes_failed]
    problems += [f"flag {g['Id']} {g['field']} ({g['object']}): {g.get('reason') or g.get('error')}"
                 for g in report.flags_stale + report.flags_failed]
    if report.stopped:
        problems.append(f"stopped: {report.stopped}")
    _print_report(
        f"nayose apply {report.plan_id} ({'EXECUTE' if args.execute else 'dry run: nothing changed'})",
        [("groups planned", report.groups_planned), ("groups applied", report.groups_applied),
         ("groups already applied", report.groups_already_applied), ("groups stale", len({g['cluster_id'] for g in report.groups_stale})),
         ("groups failed", len(report.groups_failed)), ("groups unknown", len(report.groups_unknown)),
         ("steps planned", report.steps_planned), ("steps done", report.steps_done),
         ("steps already done", report.steps_already_done), ("steps confirmed from the org", report.steps_confirmed),
         ("steps (dry run)", report.steps_dry_run), ("deletes done", report.deletes_done),
         ("deletes already done", report.deletes_already_done), ("prospects deleted", report.prospects_deleted),
         ("flags planned", report.flags_planned), ("flags done", report.flags_done),
         ("flags already done", report.flags_already_done), ("flags stale", len(report.flags_stale)),
         ("API calls", report.api_calls), ("API usage", f"{report.api_used}/{report.api_limit}"),
         ("journal", f"{args.db} (run {report.run_id})")],
        problems,
    )
    return report.exit_code


def _cmd_undo(args: argparse.Namespace) -> int:
    from nayose.apply import undo_plan

    sf, pardot = _apply_connections(bool(os.environ.get("NAYOSE_PARDOT_BUSINESS_UNIT_ID")))
    report = undo_plan(args.plan, journal_db=args.db, sf=sf, pardot=pardot, execute=args.execute, flags=args.flags,
                       lead_conversions=args.lead_conversions)
    if args.report:
        Path(args.report).write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    problems = [f"not restored: {x['object']} {x['Id']} ({x['kind']}): {x['detail']}" for x in report.not_restored]
    problems += [f"failed {x['step_key']}: {x['error']}" for x in report.steps_failed]
    _print_report(
        f"nayose undo {report.plan_id} ({'EXECUTE' if args.execute else 'dry run: nothing changed'})",
        [("groups", report.groups), ("masters restored", len(report.masters_restored)),
         ("records undeleted", len(report.records_undeleted)), ("prospects undeleted", len(report.prospects_undeleted)),
         ("flags restored", len(report.flags_restored)),
         ("would restore (dry run)", len(report.would_restore)), ("would undelete (dry run)", len(report.would_undelete)),
         ("already undone", report.already_undone), ("not restorable", len(report.not_restored)),
         ("API calls", report.api_calls)],
        problems,
    )
    return report.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nayose", description="Find and merge duplicate Salesforce / Pardot records (名寄せ).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="match CSV exports and write clusters.csv, pairs.csv, summary.json")
    p.add_argument("inputs", nargs="+", help="Salesforce Data Loader style CSV files (UTF-8, UTF-8 BOM or CP932)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="rules file (YAML); the documented default without it")
    p.add_argument("--db", help="DuckDB file to keep the stage tables in (default: in memory)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    p.add_argument("--truth", help="labelled data (CSV: Id, entity_id): adds blocking recall and pairwise metrics to summary.json")
    p.add_argument("--no-plan", action="store_true",
                   help="matching outputs only (clusters, pairs, evidence, summary): no survivorship or plan files")
    p.add_argument("--incremental", action="store_true",
                   help="match only the records new or changed since the previous run kept in --db (scored with its "
                        "model; same result as a full run with that model); a full run when there is none or the "
                        "config changed")
    p.add_argument("--changes-only", action="store_true",
                   help="with --incremental: the inputs hold only the records new or changed since the previous run "
                        "(an incremental export: same columns); unchanged records are not read again")
    p.add_argument("--deleted", metavar="IDS.csv",
                   help="with --changes-only: a CSV with an Id column listing the records deleted since the previous run")
    p.add_argument("--engine", choices=["duckdb", "spark"],
                   help="where block / score / cluster run (default: the config's engine, duckdb); spark needs the "
                        "'spark' extra and uses $NAYOSE_SPARK_MASTER or local[2]")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser(
        "import-plan",
        help="match an incoming file against the org before import: insert / update / review / skip per row",
    )
    p.add_argument("--existing", action="append", required=True, metavar="ORG.csv",
                   help="the org's records (Data Loader export); repeat for several files")
    p.add_argument("--incoming", required=True, metavar="NEW.csv",
                   help="the file to import (UTF-8 or CP932; Japanese headers through import_plan.incoming_columns)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="rules file (YAML); the documented default without it")
    p.add_argument("--lead-source", help="LeadSource of incoming rows that have none (e.g. Sansan: the rows are business cards)")
    p.add_argument("--db", help="DuckDB file to keep the stage tables in (default: in memory)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    p.add_argument("--existing-truth", help="labelled data for the org (CSV: Id, entity_id)")
    p.add_argument("--incoming-truth", help="labelled data for the incoming file (CSV: incoming_id, entity_id)")
    p.set_defaults(func=_cmd_import_plan)

    p = sub.add_parser("sample", help="generate the built-in synthetic Salesforce org with a truth file")
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="records CSV to write")
    p.add_argument("--truth", help="truth CSV (default: <out>.truth.csv)")
    p.add_argument("--accounts", help="also write the org's Account export here (its truth beside it: <accounts>.truth.csv)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("sync-health", help="which records may sync to Pardot, the prospect cap, and what goes wrong in the sync")
    p.add_argument("inputs", nargs="+", help="Salesforce Data Loader style CSV files")
    p.add_argument("--prospects", help="Pardot prospects export (CSV, v5 field names: id, email, salesforceId, crmLeadFid, ...)")
    p.add_argument("--metadata", help="JSON: Salesforce describe + Pardot custom field definitions (field mapping audit)")
    p.add_argument("--out", required=True, help="output folder (sync_health.md / .csv, flag_plan.csv, sync_delete_plan.csv, ...)")
    p.add_argument("--config", help="rules file (YAML); the documented default without it")
    p.add_argument("--db", help="DuckDB file to keep the tables in (default: in memory)")
    p.add_argument("--quiet", action="store_true", help="no summary on stderr")
    p.set_defaults(func=_cmd_sync_health)

    p = sub.add_parser("sync-sample", help="the sample org with a Pardot side where every sync problem is planted")
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="folder for sync_records.csv, sync_prospects.csv, sync_metadata.json, sync_truth.csv")
    p.set_defaults(func=_cmd_sync_sample)

    p = sub.add_parser("evaluate", help="pairwise precision / recall / F1 of clusters.csv against a truth file")
    p.add_argument("--clusters", required=True)
    p.add_argument("--truth", required=True, help="CSV with Id and entity_id")
    p.add_argument("--auto-only", action="store_true", help="count only the groups marked auto")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("config", help="print the default rules file, or check one")
    p.add_argument("--show-default", action="store_true", help="print the default config (the default action)")
    p.add_argument("--check", metavar="FILE", help="validate a config file")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser(
        "extract",
        help="extract Leads / Contacts / Accounts (and Pardot prospects) into a CSV for `nayose plan`",
        description="Credentials come from the environment: NAYOSE_SF_* (see nayose.salesforce) and, with "
        "--pardot, NAYOSE_PARDOT_*. Incremental by SystemModstamp when --db keeps the watermarks.",
    )
    p.add_argument("--out", required=True, help="output folder (salesforce_records.csv, prospect_links.csv)")
    p.add_argument("--objects", default="Lead,Contact,Account", help="comma-separated sObjects (default Lead,Contact,Account)")
    p.add_argument("--mode", choices=("auto", "rest", "bulk"), default="auto",
                   help="auto: Bulk API 2.0 from --bulk-threshold records on, REST below")
    p.add_argument("--bulk-threshold", type=int, default=10_000)
    p.add_argument("--db", help="DuckDB file keeping the extracted tables and watermarks (default OUT/extract.duckdb)")
    p.add_argument("--full", action="store_true", help="ignore the watermarks: pull everything")
    p.add_argument("--pardot", action="store_true", help="also extract Pardot prospects and link them to the records")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("explain", help="why a group's records matched and why each value survived")
    p.add_argument("dir", help="output folder of `nayose plan`")
    p.add_argument("cluster_id", help="a cluster_id from clusters.csv / merge_plan.json")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("apply", help="apply an approved merge plan to Salesforce / Pardot (dry run without --execute)")
    p.add_argument("plan", help="merge_plan.json")
    p.add_argument("--deletes", help="delete_plan.csv to apply too")
    p.add_argument("--flags", help="flag_plan.csv to apply too (sets the sync field Marketing Data Sharing reads)")
    p.add_argument("--lead-conversions", help="lead_accounts.csv rows to convert: each Lead into its Account "
                                              "as a new Contact (keep only the rows you approve)")
    p.add_argument("--clusters", help="approved cluster ids, comma-separated, or @FILE with one per line, or none (no group: "
                                      "only the --deletes / --flags / --lead-conversions given; default: every group)")
    p.add_argument("--db", default="data/nayose.duckdb", help="DuckDB store holding the journal (default data/nayose.duckdb)")
    p.add_argument("--execute", action="store_true", help="really change the org (default: dry run)")
    p.add_argument("--budget", type=int, help="stop before the org's daily API usage passes this many requests")
    p.add_argument("--offline", action="store_true", help="dry run without connecting (no stale check)")
    p.add_argument("--report", help="write the report as JSON to this file")
    p.set_defaults(func=_cmd_apply)

    p = sub.add_parser("undo", help="undo an applied plan from its journal (dry run without --execute)")
    p.add_argument("plan", help="merge_plan.json")
    p.add_argument("--db", default="data/nayose.duckdb", help="DuckDB store holding the journal")
    p.add_argument("--execute", action="store_true", help="really change the org (default: dry run)")
    p.add_argument("--flags", help="flag_plan.csv: undo only these flag rows (default: every applied flag)")
    p.add_argument("--lead-conversions", help="the lead_accounts.csv applied: its conversions are reported (the API "
                                              "cannot revert one)")
    p.add_argument("--report", help="write the report as JSON to this file")
    p.set_defaults(func=_cmd_undo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NayoseError as exc:
        print(f"nayose: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nayose: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a folder that cannot be created, a full disk, no permission: one line, no traceback
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"nayose: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # DuckDB cannot open / write its file (permissions, disk full, another program holding it)
        if type(exc).__module__.startswith(("duckdb", "_duckdb")) and type(exc).__name__ == "IOException":
            print(f"nayose: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        raise


def run() -> None:
    """The `nayose` command: `main`, then the process ends at once with its exit code, without
    the interpreter's teardown (freeing every object of a large run one by one: ~0.1 s at 100k
    records, more at 1M). By then every output is written and renamed into place, the store is
    closed (DuckDB removes its spill files then) and its lock is the kernel's, released with the
    process; standard output and error are flushed here. An exception still ends it as usual."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code is None else int(code))


if __name__ == "__main__":
    run()
