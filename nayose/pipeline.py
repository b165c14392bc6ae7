"""The whole matching run: records -> normalize -> block -> score -> cluster -> survive -> plan -> outputs.

Used by the CLI (`nayose plan`) and mirrored stage by stage by the Dagster assets. Outputs are
written to a temporary folder beside DIR and moved into place only when every stage succeeded,
so a failed run leaves DIR as it was.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Callable

import duckdb

from nayose.config import Config
from nayose.progress import StageProgress
from nayose.records import load_records
from nayose.stage import StageResult
from nayose.store import connect

# The later stages' modules (and what they pull in: pyarrow.compute, pykakasi, rapidfuzz,
# phonenumbers ...) are imported by `_warm_up` while DuckDB reads the CSV, which leaves the GIL
# free; run_stages looks the stage functions up when it reaches them.
_LAZY = {
    "match_accounts": "nayose.accounts",
    "block_pairs": "nayose.block",
    "cluster_records": "nayose.cluster",
    "normalize_records": "nayose.normalize",
    "build_plan": "nayose.plan",
    "score_pairs": "nayose.score",
    "survive": "nayose.survive",
}


def _lazy(name: str):
    return getattr(importlib.import_module(_LAZY[name]), name)


def _warm_up(with_plan: bool) -> None:
    """Import the later stages and load pykakasi's kanji dictionary; run in a background thread
    while the records stage reads the CSV (DuckDB releases the GIL), so that this start-up work
    (~0.7 s of CPU) overlaps it instead of following it. Any failure is left for the stage that
    needs the module to report."""
    try:
        from nayose.normalize import _KANJI

        _KANJI.load()
        for module in ("nayose.block", "nayose.score", "nayose.accounts", "nayose.cluster", "nayose.outputs"):
            importlib.import_module(module)
        if with_plan:
            importlib.import_module("nayose.survive")
            importlib.import_module("nayose.plan")
        # pyarrow imports pandas the first time it converts a Python / numpy object (pa.array):
        # the normalize stage's first conversion would otherwise pay for it (~0.15 s).
        import numpy as np
        import pyarrow as pa

        pa.array(np.zeros(1, dtype=np.int8))
    except Exception:  # noqa: BLE001 - the stage importing the module raises it again
        pass


def warm_up(with_plan: bool = False) -> threading.Thread:
    """Start `_warm_up` in a daemon thread (call it before reading the input)."""
    t = threading.Thread(target=_warm_up, args=(with_plan,), name="nayose-warm-up", daemon=True)
    t.start()
    return t


def _loaded_records(con: duckdb.DuckDBPyConnection) -> StageResult:
    """The records stage when raw_records is already in the store (an incremental run's snapshot)."""
    counts = dict(con.execute('SELECT "Object", count(*) FROM raw_records GROUP BY 1').fetchall())
    return StageResult(stage="records", table="raw_records", rows=int(sum(counts.values())),
                       stats={"files": [], "objects": {o: int(n) for o, n in counts.items()}})


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])


def run_stages(
    con: duckdb.DuckDBPyConnection,
    inputs: list[str | Path],
    config: Config,
    progress: StageProgress | None = None,
    with_plan: bool = False,
    model=None,
    records_loaded: bool = False,
) -> list[StageResult]:
    """Run every matching stage on `con`; return the stage results in order. With `with_plan`, the
    survivorship and plan stages (survivors, surviving_fields, group_records, plan_steps,
    delete_plan) run after cluster; `nayose plan` always asks for them. With `model` (a
    `nayose.score.Model`, e.g. the previous run's from `load_model`), pairs are scored with it
    instead of a newly estimated one (what an incremental run is compared with)."""
    progress = progress or StageProgress(enabled=False)
    warm_up(with_plan)  # the later stages' imports and the kanji dictionary load while the CSV is read
    results: list[StageResult] = []
    steps: list[tuple[str, Callable[..., StageResult]]] = [
        ("read records", lambda: _loaded_records(con) if records_loaded else load_records(con, list(inputs), config)),
        ("normalize", lambda: _lazy("normalize_records")(con, config)),
        ("match accounts", lambda: _lazy("match_accounts")(con, config)),
        ("block", lambda: _lazy("block_pairs")(con, config)),
        ("score", lambda: _lazy("score_pairs")(
            con, config, progress=progress.advance_callback("score"), model=model)),
        ("cluster", lambda: _lazy("cluster_records")(con, config)),
    ]
    if config.engine == "spark":
        if model is not None:
            raise ValueError("scoring with a given model is not supported on the spark engine")
        from nayose.spark.bridge import run_spark_stages

        steps[3:] = [("block, score, cluster (spark)", lambda: run_spark_stages(con, config)),
                     # (Spark grouped the people; business Accounts' pairs, when any, join them here)
                     ("cluster", lambda: _lazy("cluster_records")(con, config) if _has_rows(con, "account_pairs") else [])]
    if with_plan:
        steps += [
            ("survive", lambda: _lazy("survive")(con, config)),
            ("plan", lambda: _lazy("build_plan")(con, config)),
        ]
    for label, step in steps:
        with progress.stage(label):
            done = step()
            results.extend(done if isinstance(done, list) else [done])
    return results


def run_incremental_stages(
    con: duckdb.DuckDBPyConnection, inputs: list[str | Path], config: Config, progress: StageProgress, with_plan: bool,
    changes_only: bool = False, deleted_ids: list[str] | None = None,
) -> tuple[list[StageResult], dict]:
    """The matching stages as `nayose.incremental.incremental_run` (a full run when the store has
    no previous run), then survivorship and the plan; the stage results and what the run did."""
    from nayose.incremental import incremental_run

    with progress.stage("match (incremental)"):
        inc = incremental_run(con, inputs, config, changes_only=changes_only, deleted_ids=deleted_ids or ())
    results = list(inc.results)
    if with_plan:
        from nayose.plan import build_plan
        from nayose.survive import survive

        for label, step in (("survive", lambda: survive(con, config)), ("plan", lambda: build_plan(con, config))):
            with progress.stage(label):
                results.append(step())
    return results, inc.to_dict()


def run_plan(
    inputs: list[str | Path],
    out_dir: str | Path,
    config: Config,
    db_path: str | Path | None = None,
    quiet: bool = False,
    truth: str | Path | None = None,
    with_plan: bool = True,
    incremental: bool = False,
    changes_only: bool = False,
    deleted_ids: list[str] | None = None,
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
            incremental_summary = None
            if incremental:  # only what changed since the previous run in db_path (nayose.incremental)
                results, incremental_summary = run_incremental_stages(
                    con, inputs, config, progress, with_plan, changes_only=changes_only, deleted_ids=deleted_ids)
            else:
                results = run_stages(con, inputs, config, progress, with_plan=with_plan)
            from nayose.outputs import summary_dict, write_outputs
            from nayose.plan import write_plan_outputs

            tmp = output_tmp(out)
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
                if incremental_summary is not None:
                    summary["incremental"] = incremental_summary
                if truth is not None:
                    from nayose.evaluate import evaluate_run

                    summary["evaluation"] = evaluate_run(con, truth)
                summary["seconds"]["write outputs"] = write_seconds
                summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
                (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
                from nayose.plan import PLAN_OUTPUT_FILES

                publish_outputs(tmp, out, replaces=PLAN_OUTPUT_FILES)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        con.close()
    return summary


def output_tmp(out: Path) -> Path:
    """A temporary folder beside `out` for a run's outputs (``.<name>.tmp-<pid>.<random>``). Folders of
    this kind left by runs that were killed (their process is gone) are removed first. (`out` may be
    relative: `--out .` is the current folder, whose name and parent come from its absolute path.)"""
    out = _absolute(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}.", dir=out.parent))


def remove_stale_tmp(out: Path) -> list[Path]:
    """Remove the temporary output folders of `out` whose owning process no longer runs."""
    import glob

    out = _absolute(out)
    removed = []
    for p in out.parent.glob(glob.escape(f".{out.name}.tmp-") + "*"):
        pid_text = p.name[len(out.name) + 6:].split(".", 1)[0]
        if not p.is_dir() or not pid_text.isdigit():
            continue  # not ours (or an older name without a pid): leave it
        pid = int(pid_text)
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _absolute(out: Path) -> Path:
    """`out` as an absolute path, `.` and `..` folded, symbolic links left as they are."""
    return Path(os.path.abspath(out))


def _holds_cwd(out: Path) -> bool:
    """Is the current folder `out` or inside it? (A folder swapped away would leave the shell that
    ran nayose in a deleted folder.)"""
    try:
        cwd = Path(os.getcwd())
    except OSError:
        return False
    return cwd == out or out in cwd.parents


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish_outputs(tmp: Path, out: Path, replaces: Iterable[str] = ()) -> None:
    """Move a finished output folder into place, atomically: readers (and a run killed at any
    point) see either the old complete folder or the new complete one, never a mix.

    A new DIR is a rename. An existing DIR keeps what other writers put in it (out/plans/,
    out/import/ ...): those entries are hard-linked into the new folder, which is then swapped
    with the old one in one `renameat2(RENAME_EXCHANGE)` (Linux); the old folder is removed
    afterwards (a run killed in between leaves it as a stale temporary folder, removed by the next
    run). Where that is not possible (another OS, a file system without RENAME_EXCHANGE, DIR a
    mount point, or DIR the current folder or one holding it) the files are replaced one by one,
    each an atomic rename. `replaces`: names this run owns whether or not it wrote them this time
    (a `--no-plan` run: the plan files) -- not carried over from the old folder, so no older plan
    is left beside newer groups."""
    from nayose.errors import NayoseError

    out = _absolute(out)
    if not out.exists():
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp creates 0700; give the folder the usual mode
        os.replace(tmp, out)
        return
    drop = {n for n in replaces if not (tmp / n).exists()}
    if not out.is_dir() or out.is_symlink():
        if not out.is_dir():
            raise NayoseError(f"{out}: output path exists and is not a folder")
        _replace_files(tmp, out, drop)
        return
    if not _holds_cwd(out) and _exchange_dirs(tmp, out, drop):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        return
    _replace_files(tmp, out, drop)


def _replace_files(tmp: Path, out: Path, drop: set[str] = frozenset()) -> None:
    for name in drop:  # (first: a run stopped in between leaves no older plan beside newer groups)
        (out / name).unlink(missing_ok=True)
    for f in tmp.iterdir():
        os.replace(f, out / f.name)


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link the files of src into dst (folders created, symlinks copied)."""
    for entry in os.scandir(src):
        target = dst / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            os.mkdir(target)
            shutil.copystat(entry.path, target)
            _link_tree(Path(entry.path), target)
        else:
            os.link(entry.path, target)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2_exchange(a: Path, b: Path) -> bool:
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _exchange_dirs(tmp: Path, out: Path, drop: set[str] = frozenset()) -> bool:
    """Carry over the entries of out that tmp lacks (but those in `drop`), then swap the two
    folders atomically. False (tmp's own files untouched) when this cannot be done here."""
    names = {p.name for p in tmp.iterdir()} | set(drop)
    carried: list[Path] = []
    try:
        for entry in os.scandir(out):
            if entry.name in names:
                continue
            target = tmp / entry.name
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir():
                os.mkdir(target)
                shutil.copystat(entry.path, target)
                _link_tree(Path(entry.path), target)
            else:
                os.link(entry.path, target)
            carried.append(target)
        shutil.copystat(out, tmp)  # the folder keeps its mode
        if _renameat2_exchange(tmp, out):
            # Entries another writer created in out meanwhile are now in the old folder: move them over.
            for entry in os.scandir(tmp):
                if entry.name not in drop and not (out / entry.name).exists():
                    try:
                        os.rename(entry.path, out / entry.name)
                    except OSError:
                        pass
            return True
    except OSError:
        pass
    for c in carried:  # fall back: tmp holds only the run's own files again
        if c.is_dir() and not c.is_symlink():
            shutil.rmtree(c, ignore_errors=True)
        else:
            c.unlink(missing_ok=True)
    return False
