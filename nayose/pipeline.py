"""The whole matching run: records -> normalize -> block -> score -> cluster -> survive -> plan -> outputs.

Used by the CLI (`nayose plan`) and mirrored stage by stage by the Dagster assets. Outputs are
written to a temporary folder beside DIR and moved into place only when every stage succeeded,
so a failed run leaves DIR as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import duckdb

from nayose.block import block_pairs
from nayose.cluster import cluster_records
from nayose.config import Config
from nayose.normalize import normalize_records, preload
from nayose.outputs import summary_dict, write_outputs
from nayose.plan import build_plan, write_plan_outputs
from nayose.progress import StageProgress
from nayose.records import load_records
from nayose.score import score_pairs
from nayose.stage import StageResult
from nayose.store import connect
from nayose.survive import survive


def run_stages(
    con: duckdb.DuckDBPyConnection,
    inputs: list[str | Path],
    config: Config,
    progress: StageProgress | None = None,
    with_plan: bool = False,
    model=None,
) -> list[StageResult]:
    """Run every matching stage on `con`; return the stage results in order. With `with_plan`, the
    survivorship and plan stages (survivors, surviving_fields, group_records, plan_steps,
    delete_plan) run after cluster; `nayose plan` always asks for them. With `model` (a
    `nayose.score.Model`, e.g. the previous run's from `load_model`), pairs are scored with it
    instead of a newly estimated one (what an incremental run is compared with)."""
    progress = progress or StageProgress(enabled=False)
    preload()  # the kanji dictionary loads while the CSV is read
    results: list[StageResult] = []
    steps: list[tuple[str, Callable[..., StageResult]]] = [
        ("read records", lambda: load_records(con, list(inputs), config)),
        ("normalize", lambda: normalize_records(con, config)),
        ("block", lambda: block_pairs(con, config)),
        ("score", lambda: score_pairs(con, config, progress=progress.advance_callback("score"), model=model)),
        ("cluster", lambda: cluster_records(con, config)),
    ]
    if with_plan:
        steps += [
            ("survive", lambda: survive(con, config)),
            ("plan", lambda: build_plan(con, config)),
        ]
    for label, step in steps:
        with progress.stage(label):
            results.append(step())
    return results


def run_plan(
    inputs: list[str | Path],
    out_dir: str | Path,
    config: Config,
    db_path: str | Path | None = None,
    quiet: bool = False,
    truth: str | Path | None = None,
    with_plan: bool = True,
) -> dict:
    """`nayose plan`: match the input CSVs and write clusters.csv, pairs.csv, evidence.csv, summary.json,
    and the plan (merge_plan.json, merge_plan.csv, field_changes.csv, delete_plan.csv) to out_dir.

    With `truth` (a CSV of Id, entity_id), summary.json also holds blocking recall and pairwise
    precision / recall / F1 of all groups and of the auto groups. Without `with_plan` only the
    matching outputs are written (a quick look at the duplicates, or a matching benchmark)."""
    out = Path(out_dir)
    started = time.perf_counter()
    progress = StageProgress(enabled=not quiet)
    con = connect(db_path)
    try:
        with progress:
            results = run_stages(con, inputs, config, progress, with_plan=with_plan)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
            try:
                with progress.stage("write outputs"):
                    t0 = time.perf_counter()
                    rule_names = next(r for r in results if r.stage == "block").stats["rule_names"]
                    write_outputs(con, tmp, config, rule_names)
                    plan_counts = write_plan_outputs(con, tmp, config) if with_plan else None
                    write_seconds = round(time.perf_counter() - t0, 3)
                summary = summary_dict(results, config, inputs)
                if plan_counts is not None:
                    summary["plan"] = plan_counts
                if truth is not None:
                    from nayose.evaluate import evaluate_run

                    summary["evaluation"] = evaluate_run(con, truth)
                summary["seconds"]["write outputs"] = write_seconds
                summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
                (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
                publish_outputs(tmp, out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        con.close()
    return summary


def publish_outputs(tmp: Path, out: Path) -> None:
    """Move a finished output folder into place: rename it when DIR is new, else replace file by
    file (each an atomic rename), so readers never see a half-written output."""
    from nayose.errors import NayoseError

    if not out.exists():
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp creates 0700; give the folder the usual mode
        os.replace(tmp, out)
        return
    if not out.is_dir():
        raise NayoseError(f"{out}: output path exists and is not a folder")
    for f in tmp.iterdir():
        os.replace(f, out / f.name)
