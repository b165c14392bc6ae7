"""The `nayose` command line.

    nayose plan INPUT.csv [INPUT.csv ...] --out DIR [--config nayose.yaml] [--db FILE] [--quiet] [--truth T.csv]
    nayose sample --records N --seed S --out FILE.csv [--truth FILE.csv]
    nayose evaluate --clusters DIR/clusters.csv --truth TRUTH.csv
    nayose config [--show-default]
    nayose explain DIR CLUSTER_ID

Errors a user can fix (bad input, bad config) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nayose.errors import NayoseError


def _cmd_plan(args: argparse.Namespace) -> int:
    from nayose.config import load_config
    from nayose.pipeline import run_plan

    config = load_config(args.config)
    summary = run_plan(
        args.inputs, args.out, config, db_path=args.db, quiet=args.quiet, truth=args.truth, with_plan=not args.no_plan
    )
    if not args.quiet:
        c = summary["clusters"]
        print(
            f"{summary['records_in']:,} records, {summary['candidate_pairs']['total']:,} candidate pairs, "
            f"{summary['pairs']['auto']:,} auto / {summary['pairs']['review']:,} review pairs; "
            f"groups: {c.get('auto', 0):,} auto, {c.get('review', 0):,} review; "
            f"{summary['seconds']['total']:.1f} s. Outputs in {args.out}/",
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


def _cmd_sample(args: argparse.Namespace) -> int:
    from nayose.sample import write_sample

    stats = write_sample(args.records, args.seed, args.out, args.truth)
    print(json.dumps(stats, ensure_ascii=False), file=sys.stderr)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from nayose.evaluate import evaluate_files

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
            lines.append(f"  {k}. convert lead {st['lead_id']} into contact {st['contact_id']} (account {st['account_id'] or '-'})")
    if not cluster["steps"]:
        lines.append("  (none)")
    text = "\n".join(lines) + "\n"
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()
    return 0


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
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("sample", help="generate the built-in synthetic Salesforce org with a truth file")
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="records CSV to write")
    p.add_argument("--truth", help="truth CSV (default: <out>.truth.csv)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("evaluate", help="pairwise precision / recall / F1 of clusters.csv against a truth file")
    p.add_argument("--clusters", required=True)
    p.add_argument("--truth", required=True, help="CSV with Id and entity_id")
    p.add_argument("--auto-only", action="store_true", help="count only the groups marked auto")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("config", help="print the default rules file, or check one")
    p.add_argument("--show-default", action="store_true", help="print the default config (the default action)")
    p.add_argument("--check", metavar="FILE", help="validate a config file")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("explain", help="why a group's records matched and why each value survived")
    p.add_argument("dir", help="output folder of `nayose plan`")
    p.add_argument("cluster_id", help="a cluster_id from clusters.csv / merge_plan.json")
    p.set_defaults(func=_cmd_explain)
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


if __name__ == "__main__":
    sys.exit(main())
