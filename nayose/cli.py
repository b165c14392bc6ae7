"""The `nayose` command line.

    nayose plan INPUT.csv [INPUT.csv ...] --out DIR [--config nayose.yaml] [--db FILE] [--quiet] [--truth T.csv]
    nayose sample --records N --seed S --out FILE.csv [--truth FILE.csv]
    nayose evaluate --clusters DIR/clusters.csv --truth TRUTH.csv
    nayose config [--show-default]

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
    summary = run_plan(args.inputs, args.out, config, db_path=args.db, quiet=args.quiet, truth=args.truth)
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
