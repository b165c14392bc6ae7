"""Crash safety: SIGKILL `nayose extract` and `nayose plan` at random points (20 kills each,
seeded), check what a kill leaves behind, then check the next run recovers.

After every kill:

* the DuckDB file opens and its tables are complete: for extract, every object's watermark is
  never ahead of the data (each org record whose SystemModstamp is at or below the watermark is in
  sf_records with that SystemModstamp, each deleted one is in sf_deleted, and the watermark's row
  count is the table's); for plan, every stage table present holds the input's records;
* the outputs are whole: salesforce_records.csv is absent or a complete CSV of a committed state;
  the plan's output folder is exactly the outputs of one of the two inputs the runs alternate
  between — never a mix, never a partial folder — and a file
  another writer put in it survives every run.

The last run of each chain is not killed and must succeed with the outputs of a clean run; no
temporary folder is left behind. The applier's own 20-kill test is
tests/nayose/test_apply_kill.py::test_sigkill_at_random_points_then_resume_equals_uninterrupted_run
(every finished org equals an uninterrupted run, no step repeated).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from nayose.config import Config
from nayose.fakeorg.server import FakeOrg
from nayose.records import load_records

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261201
KILLS = 20
PLAN_RECORDS = 300


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "NAYOSE_LOCK_TIMEOUT": "30", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def _kill_after(proc: subprocess.Popen, ready, delay: float = 0.0) -> bool:
    """Wait until `ready()` (or the process ends) and `delay` seconds more, then SIGKILL it; True
    when it was killed."""
    while proc.poll() is None and not ready():
        time.sleep(0.002)
    if delay and proc.poll() is None:
        time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    return proc.returncode == -signal.SIGKILL


# ---------------------------------------------------------------------------------------------
# extract


def _check_extract_db(db: Path, store) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "extract_watermarks" not in tables:
            return {}
        marks = con.execute("SELECT object, watermark, rows FROM extract_watermarks").fetchall()
        if not marks:  # killed before the first object committed: nothing to be ahead of
            assert con.execute("SELECT count(*) FROM sf_records").fetchall() == [(0,)]
            return {}
        recs = {r[0]: (r[1], r[2]) for r in con.execute("SELECT Id, Object, SystemModstamp FROM sf_records").fetchall()}
        deleted = {r[0] for r in con.execute("SELECT Id FROM sf_deleted").fetchall()}
    finally:
        con.close()
    checked = {}
    for obj, mark, rows in marks:
        assert rows == sum(1 for o, _ in recs.values() if o == obj), (obj, rows)
        for rec in store.rows(obj, include_deleted=True):
            if rec["SystemModstamp"] > mark:  # same fixed-width format: text order is time order
                continue
            if rec["IsDeleted"]:
                assert rec["Id"] not in recs and rec["Id"] in deleted, (obj, rec["Id"], "deleted, not known")
            else:
                assert recs.get(rec["Id"]) == (obj, rec["SystemModstamp"]), (obj, rec["Id"], "watermark ahead")
        checked[obj] = len(recs)
    return checked


def test_sigkill_extract_then_recover(tmp_path, figures):
    from test_extract import PASSWORD, TOKEN, seed

    rng = random.Random(SEED)
    store, ids = seed(40)
    out, db = tmp_path / "extract", tmp_path / "extract.duckdb"
    with FakeOrg(store, page_size=4, password=PASSWORD, security_token=TOKEN) as org:
        env = _env(NAYOSE_SF_AUTH="session", NAYOSE_SF_INSTANCE_URL=org.instance_url,
                   NAYOSE_SF_SESSION_ID=org.access_token, NAYOSE_SF_CA_BUNDLE=org.ca_path)
        cmd = [sys.executable, "-m", "nayose.cli", "extract", "--out", str(out), "--db", str(db), "--quiet",
               "--mode", "rest"]
        # how many requests a full run makes
        probe = subprocess.run(cmd[:4] + ["--out", str(tmp_path / "probe"), "--db", str(tmp_path / "probe.duckdb"),
                                          *cmd[8:]], env=env, cwd=ROOT, capture_output=True, timeout=120)
        assert probe.returncode == 0, probe.stderr
        made = {True: len(org.requests_log), False: 12}  # requests of the last finished run: full, incremental
        kills = completed = 0
        live = {o: list(v) for o, v in ids.items()}
        while kills < KILLS:
            # the org moves on between runs: edits, a new record, a delete
            for _ in range(2):
                obj = rng.choice(["Lead", "Contact", "Account"])
                store.update(rng.choice(live[obj]), {"Description": f"edit {kills} {rng.random():.6f}"})
            live["Lead"].append(store.insert("Lead", {"LastName": f"新規{kills}", "Company": "株式会社テック9"}))
            if kills % 3 == 0:
                gone = live["Lead"].pop(rng.randrange(len(live["Lead"])))
                store.delete(gone)
            store.advance(1)
            start = len(org.requests_log)
            full = kills % 2 == 1  # every other run a full pull (--full), else incremental
            target = start + rng.randint(1, made[full])
            proc = subprocess.Popen(cmd + (["--full"] if full else []), env=env, cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if _kill_after(proc, lambda: len(org.requests_log) >= target, rng.uniform(0, 0.03)):
                kills += 1
            else:
                assert proc.returncode == 0
                completed += 1
                made[full] = len(org.requests_log) - start
            _check_extract_db(db, store)
            csv_path = out / "salesforce_records.csv"
            if csv_path.exists():  # whole: a complete CSV of a committed state
                load_records(duckdb.connect(), [csv_path], Config())
        # the next run recovers: the store equals the org
        final = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        checked = _check_extract_db(db, store)
        con = duckdb.connect(str(db), read_only=True)
        got = dict(con.execute("SELECT Id, SystemModstamp FROM sf_records").fetchall())
        con.close()
        want = {r["Id"]: r["SystemModstamp"] for o in ("Lead", "Contact", "Account") for r in store.rows(o)}
        assert got == want
        n_csv = load_records(duckdb.connect(), [out / "salesforce_records.csv"], Config()).rows
        assert n_csv == sum(1 for o in ("Lead", "Contact", "Account") for _ in store.rows(o))  # (Accounts are matched too)
    figures.update({"kills": kills, "runs finished before the kill point": completed, "recoveries": 1 + kills,
                    "records after recovery": sum(checked.values())})


# ---------------------------------------------------------------------------------------------
# plan


def _snapshot(out: Path) -> dict[str, bytes]:
    """The folder's files; summary.json without its timings (they differ from run to run)."""
    import json

    snap = {}
    for p in sorted(out.iterdir()):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "summary.json":
                doc = json.loads(data)
                doc.pop("seconds", None)
                doc["inputs"] = [Path(i).name for i in doc.get("inputs", [])]
                data = json.dumps(doc, sort_keys=True).encode()
            snap[p.name] = data
    return snap


def _check_plan_db(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]
        for t in ("raw_records", "normalized_records", "clusters"):
            if t in tables:
                assert con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] == PLAN_RECORDS, t
        for t in tables:  # every table reads to the end
            con.execute(f'SELECT count(*) FROM "{t}"').fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_plan_then_recover(tmp_path, figures):
    from nayose.cli import main
    from nayose.sample import write_sample

    rng = random.Random(SEED + 1)
    inputs = []
    for s in (1, 2):
        p = tmp_path / f"org{s}.csv"
        write_sample(PLAN_RECORDS, s, p)
        inputs.append(p)
    refs = []
    for p in inputs:  # reference outputs of each input (in this process: quicker)
        ref_out = tmp_path / f"ref_{p.stem}"
        assert main(["plan", str(p), "--out", str(ref_out), "--quiet", "--db", str(tmp_path / f"ref_{p.stem}.duckdb")]) == 0
        refs.append(_snapshot(ref_out))
    assert refs[0] != refs[1]
    out, db = tmp_path / "out", tmp_path / "plan.duckdb"
    env = _env()
    # a first complete run (it also measures when the write-out starts and how long it takes), and a
    # file another writer keeps in the folder
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "nayose.cli", "plan", str(inputs[1]), "--out", str(out), "--db",
                             str(db), "--quiet"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while proc.poll() is None and not any(tmp_path.glob(f".out.tmp-{proc.pid}.*")):
        time.sleep(0.002)
    t_tmp = time.monotonic() - t0
    proc.communicate(timeout=300)
    t_write = time.monotonic() - t0 - t_tmp
    assert proc.returncode == 0
    (out / "notes.txt").write_bytes(b"another writer's file")
    # Kill points: half at a random time before the run starts writing its outputs, half at a
    # random moment of the write-out (from the creation of the temporary folder to a little past
    # its usual end, so some runs publish and the next kill finds the new folder).
    kills = finished = in_write = 0
    seen = {"input 1": 0, "input 2": 0}
    k = 0
    while kills < KILLS:
        src = inputs[(k // 2) % 2]  # early and late kills on both inputs
        late = k % 2 == 1
        k += 1
        cmd = [sys.executable, "-m", "nayose.cli", "plan", str(src), "--out", str(out), "--db", str(db), "--quiet"]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tmp_seen: list[float] = []

        def writing() -> bool:
            if not tmp_seen and any(tmp_path.glob(f".out.tmp-{proc.pid}.*")):
                tmp_seen.append(time.monotonic())
            return bool(tmp_seen)

        if late:
            killed = _kill_after(proc, writing, rng.uniform(0, 1.3 * t_write))
        else:
            deadline = t0 + rng.uniform(0.2, t_tmp)
            killed = _kill_after(proc, lambda: writing() or time.monotonic() >= deadline)
        if killed:
            kills += 1
            in_write += bool(tmp_seen)
        else:
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
            finished += 1
        snap = _snapshot(out)
        assert snap.pop("notes.txt", None) == b"another writer's file"
        assert snap in refs, "the output folder is neither the old nor the new complete one"
        seen[f"input {refs.index(snap) + 1}"] += 1
        if db.exists():
            _check_plan_db(db)
    # the next run recovers
    final = subprocess.run([sys.executable, "-m", "nayose.cli", "plan", str(inputs[0]), "--out", str(out), "--db",
                            str(db), "--quiet"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    snap = _snapshot(out)
    assert snap.pop("notes.txt", None) == b"another writer's file"
    assert snap == refs[0]
    _check_plan_db(db)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert leftovers == [], leftovers  # killed runs' temporary folders were cleaned up
    figures.update({"kills": kills, "kills during the write-out": in_write, "runs finished before the kill point":
                    finished, "recoveries": 1 + kills, "output folder after each run": seen})
