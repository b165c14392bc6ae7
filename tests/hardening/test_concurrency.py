"""Concurrency: two runs at once against one DuckDB file, end to end through the command line.

While `nayose plan --db X` runs (the nightly), `nayose apply … --db X` (an approval) either fails
cleanly at once — exit code 2, one line naming the process that holds the store and
NAYOSE_LOCK_TIMEOUT, no traceback — or, given a longer wait, waits for the plan to finish and then
runs. A second `nayose plan --db X` waits the same way. Afterwards the store opens and holds the
complete tables of the last plan and the applier's journal: nothing lost, nothing corrupt.

The lock itself (`nayose.lock`: wait, give up naming the holder, re-entrant within a process) is
unit-tested in tests/nayose/test_review.py::test_second_writer_fails_cleanly_then_waits and
::test_lock_is_reentrant_within_a_process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from nayose.lock import lock_path

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 3000


def _env(timeout: float) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "NAYOSE_LOCK_TIMEOUT": str(timeout)}


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "nayose.cli", *[str(a) for a in args]]


def _wait_for_lock(db: Path, pid: int, proc: subprocess.Popen) -> None:
    lp = lock_path(db)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(lp.read_text() or "{}").get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise AssertionError("the plan never took the store lock")


def test_plan_and_apply_on_one_store(tmp_path, figures):
    from nayose.cli import main
    from nayose.sample import write_sample

    src = tmp_path / "org.csv"
    write_sample(RECORDS, 5, src)
    small = tmp_path / "small.csv"
    write_sample(300, 6, small)
    assert main(["plan", str(small), "--out", str(tmp_path / "approved"), "--quiet"]) == 0
    plan_json = tmp_path / "approved" / "merge_plan.json"
    db = tmp_path / "data" / "nayose.duckdb"
    out = tmp_path / "out"

    nightly = subprocess.Popen(_cli("plan", src, "--out", out, "--db", db, "--quiet"),
                               env=_env(60), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_lock(db, nightly.pid, nightly)
    # 1. an approval that may wait half a second: fails cleanly, naming the nightly run
    t0 = time.monotonic()
    busy = subprocess.run(_cli("apply", plan_json, "--db", db, "--offline"), env=_env(0.5), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    busy_seconds = time.monotonic() - t0
    assert nightly.poll() is None, "the plan finished too early for the test"
    assert busy.returncode == 2, busy.stdout + busy.stderr
    lines = busy.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in busy.stderr, busy.stderr
    assert f"pid {nightly.pid}" in lines[0] and "NAYOSE_LOCK_TIMEOUT" in lines[0] and str(db) in lines[0]
    # 2. an approval that may wait a minute, and a second plan: both wait for the nightly run
    waiting = subprocess.Popen(_cli("apply", plan_json, "--db", db, "--offline", "--report", tmp_path / "r.json",
                                    ), env=_env(120), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = subprocess.Popen(_cli("plan", small, "--out", tmp_path / "out2", "--db", db, "--quiet"),
                              env=_env(120), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = nightly.communicate(timeout=300)
    assert nightly.returncode == 0, err
    w_out, w_err = waiting.communicate(timeout=300)
    s_out, s_err = second.communicate(timeout=300)
    assert waiting.returncode == 0, w_out + w_err
    assert second.returncode == 0, s_err
    assert b"Traceback" not in w_err + s_err
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["steps_dry_run"] >= 1
    # 3. no corruption: the store opens, the last plan's tables are complete, the journal is there
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert {"raw_records", "clusters", "apply_journal", "apply_runs"} <= tables
        n_raw = con.execute("SELECT count(*) FROM raw_records").fetchall()[0][0]
        assert n_raw in (RECORDS, 300)
        assert con.execute("SELECT count(*) FROM clusters").fetchall()[0][0] == n_raw
        assert con.execute("SELECT count(*) FROM apply_journal WHERE status = 'dry_run'").fetchall()[0][0] >= 1
        for t in tables:
            con.execute(f'SELECT count(*) FROM "{t}"').fetchall()
    finally:
        con.close()
    for folder, n in ((out, RECORDS), (tmp_path / "out2", 300)):
        assert len((folder / "clusters.csv").read_text(encoding="utf-8").splitlines()) == n + 1
    figures.update({"runs at once": 4, "clean refusals": 1, "refusal seconds": round(busy_seconds, 2),
                    "waited and ran": 2, "tables checked": len(tables), "corrupt": 0})
