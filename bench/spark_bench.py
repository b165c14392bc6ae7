"""Spark engine: parity with DuckDB and time, on the Japanese sample and FEBRL3.

    python bench/spark_bench.py                       # sample 20k + FEBRL3, local[2]
    python bench/spark_bench.py --records 20000 100000 --no-febrl

Each data set is loaded and normalized once (DuckDB), then blocked, scored and clustered by both
engines; the tables are compared exactly (nayose.spark.parity.compare). Results go to
bench/out/spark_bench.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, with reaped children) of process `pid` and all its live
    descendants: the Spark JVM, the Python daemon and its workers. On a shared machine this, not the
    wall clock, is what a sizing note can rely on (core-seconds)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    kids: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(d)] = fields
        kids.setdefault(int(fields[1]), []).append(int(d))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        f = stats.get(p)
        if f is not None:
            total += sum(int(x) for x in f[11:15]) / tick  # utime, stime, cutime, cstime
        todo += kids.get(p, [])
    return total


def _jvm_pid() -> int | None:
    import os

    me = os.getpid()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{d}/comm") as fh:
                    comm = fh.read().strip()
            except OSError:
                continue
            if int(fields[1]) == me and comm == "java":
                return int(d)
    return None


def spark_alone(name: str, csv: Path, spark) -> dict:
    """Load and normalize in DuckDB (a file, to keep memory down), then block, score and cluster on Spark."""
    import duckdb

    from nayose.config import Config
    from nayose.normalize import normalize_records
    from nayose.records import load_records
    from nayose.spark.bridge import run_spark_stages

    db = OUT / "spark_alone.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    load_records(con, [str(csv)], Config())
    normalize_records(con, Config())
    prep = time.perf_counter() - t0
    jvm = _jvm_pid()
    cpu0 = tree_cpu_seconds(jvm) if jvm else None
    t0 = time.perf_counter()
    results = run_spark_stages(con, Config(), spark=spark, work_dir=OUT / "spark_work")
    seconds = time.perf_counter() - t0
    cpu = round(tree_cpu_seconds(jvm) - cpu0, 1) if jvm else None
    stages = json.loads((OUT / "spark_work" / "out" / "stages.json").read_text(encoding="utf-8"))
    records = con.execute("SELECT count(*) FROM normalized_records").fetchall()[0][0]
    row = {
        "data": f"{name}, Spark alone", "records": int(records), "spark_only": True,
        "candidate_pairs": next(r.rows for r in results if r.stage == "block"),
        "groups": con.execute("SELECT count(DISTINCT cluster_id) FROM clusters WHERE status <> 'single'").fetchall()[0][0],
        "load_and_normalize_seconds": round(prep, 2), "spark_seconds": round(seconds, 2), "spark_cpu_seconds": cpu,
        "load_average_after": list(__import__("os").getloadavg()),
        "spark_stage_seconds": {s["stage"]: s["seconds"] for s in stages["stages"]},
        "spark_step_seconds": stages.get("step_seconds"), "components_rounds": stages.get("components_rounds"),
        "spark_master": stages["spark"]["master"],
    }
    con.close()
    db.unlink(missing_ok=True)
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, nargs="*", default=[20_000])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-febrl", action="store_true")
    parser.add_argument("--spark-only", action="store_true",
                        help="time the Spark engine alone (no DuckDB run, no parity check): the scaling runs at sizes "
                             "where both engines' tables would not fit in memory together")
    args = parser.parse_args()

    from nayose.config import Config
    from nayose.evaluate import write_febrl_contacts
    from nayose.sample import write_sample
    from nayose.spark.parity import compare, run_both
    from nayose.spark.session import get_spark

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    spark = get_spark()
    startup = round(time.perf_counter() - t0, 1)
    sets = []
    if not args.no_febrl:
        csv = OUT / "spark_febrl3.csv"
        write_febrl_contacts("febrl3", csv, OUT / "spark_febrl3.truth.csv")
        sets.append(("FEBRL3", csv))
    for n in args.records:
        csv = OUT / f"spark_sample_{n}.csv"
        write_sample(n, args.seed, csv, OUT / f"spark_sample_{n}.truth.csv")
        sets.append((f"sample {n:,} (seed {args.seed})", csv))
    rows = []
    for name, csv in sets:
        if args.spark_only:
            rows.append(spark_alone(name, csv, spark))
            continue
        run = run_both([csv], Config(), spark, OUT / "spark_work")
        report = compare(run["duckdb"], run["spark"])
        stages = json.loads((OUT / "spark_work" / "out" / "stages.json").read_text(encoding="utf-8"))
        row = {
            "data": name,
            "records": report["clusters"]["records"],
            "candidate_pairs": report["candidate_pairs"]["spark"],
            "identical": report["identical"],
            "report": report,
            "duckdb_seconds": run["duckdb_seconds"],
            "spark_seconds": run["spark_seconds"],
            "spark_stage_seconds": {s["stage"]: s["seconds"] for s in stages["stages"]},
            "spark_step_seconds": stages.get("step_seconds"),
            "components_rounds": stages.get("components_rounds"),
            "spark_master": stages["spark"]["master"],
        }
        print(json.dumps(row, ensure_ascii=False), flush=True)
        rows.append(row)
        run["duckdb"].close()
        run["spark"].close()
    # Runs are kept per data set: a later run of other sizes adds to the file.
    path = OUT / "spark_bench.json"
    kept = json.loads(path.read_text(encoding="utf-8")).get("runs", []) if path.is_file() else []
    names = {r["data"] for r in rows}
    result = {"spark_startup_seconds": startup, "runs": [r for r in kept if r["data"] not in names] + rows,
              "date": time.strftime("%Y-%m-%d")}
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.spark_only:
        for r in rows:
            print(f"| {r['data']} | {r['records']:,} | {r['candidate_pairs']:,} | Spark alone | {r['spark_seconds']:.1f} s | "
                  f"{r['spark_stage_seconds']} |")
        return
    print("| data | records | candidate pairs | identical (pairs, scores, model, clusters) | DuckDB | Spark local[2] |")
    print("|---|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['data']} | {r['records']:,} | {r['candidate_pairs']:,} | {'yes' if r['identical'] else 'NO'} | "
              f"{r['duckdb_seconds']:.1f} s | {r['spark_seconds']:.1f} s |")


if __name__ == "__main__":
    main()
