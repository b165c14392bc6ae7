"""Benchmark of `nayose plan` on the built-in sample org at 100k and 1M records.

Runs the real CLI in a subprocess (so the figures include start-up, reading the CSV and writing
outputs), and prints wall time (at 100k the median of three runs), records/s, candidate pairs and
the peak RSS of the process, plus pairwise precision / recall / F1 against the sample's truth.
Each size runs twice: matching only (`--no-plan`,
what the speed targets are for) and matching plus survivorship and the merge plan. The figures are
written to bench/out/plan_bench.json and into README.md between the `bench:plan` markers.

    python bench/plan_bench.py                 # 100k and 1M
    python bench/plan_bench.py --sizes 100000  # one size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.readme_section import replace_section  # noqa: E402

OUT = ROOT / "bench" / "out"
TARGETS = {100_000: 4.0, 1_000_000: 70.0}  # seconds, end to end on 2 cores
MEMORY_TARGET_GB = 4.0


def _run(cmd: list[str]) -> tuple[float, int]:
    """Run cmd; return (wall seconds, peak RSS in bytes of the child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss * 1024


def bench_size(n: int, seed: int, plan: bool, repeat: int = 1) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    sample = OUT / f"sample_{n}.csv"
    truth = OUT / f"sample_{n}.truth.csv"
    if not sample.exists() or not truth.exists():
        gen_wall, _ = _run([sys.executable, "-m", "nayose.cli", "sample", "--records", str(n), "--seed", str(seed),
                            "--out", str(sample), "--truth", str(truth)])
    else:
        gen_wall = None
    out_dir = OUT / f"plan_{n}" if plan else OUT / f"match_{n}"
    cmd = [sys.executable, "-m", "nayose.cli", "plan", str(sample), "--out", str(out_dir), "--quiet"]
    load_before = os.getloadavg()[0]  # other work on the machine inflates the figures: say how much
    # This machine's speed varies from minute to minute (a shared host): a short run is repeated
    # and the median run reported, with the fastest and the slowest.
    runs = []
    for _ in range(max(repeat, 1)):
        wall, rss = _run(cmd if plan else cmd + ["--no-plan"])
        runs.append((wall, rss, json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))))
    walls = sorted(r[0] for r in runs)
    wall, _, summary = sorted(runs, key=lambda r: r[0])[(len(runs) - 1) // 2]
    rss = max(r[1] for r in runs)
    from nayose.evaluate import evaluate_files

    metrics = evaluate_files(out_dir / "clusters.csv", truth)
    auto = evaluate_files(out_dir / "clusters.csv", truth, auto_only=True)
    return {
        "run": "match + plan" if plan else "match (--no-plan)",
        "records": n,
        "sample_generation_seconds": round(gen_wall, 1) if gen_wall is not None else None,
        "wall_seconds": round(wall, 2),
        "wall_seconds_runs": [round(w, 2) for w in walls],
        "records_per_second": round(n / wall),
        "candidate_pairs": summary["candidate_pairs"]["total"],
        "peak_rss_gb": round(rss / 1024**3, 2),
        "stage_seconds": summary["seconds"],
        "pairwise": metrics,
        "auto_pairwise": auto,
        "target_seconds": TARGETS.get(n) if not plan else None,
        "load_average_before": round(load_before, 2),
    }


def _markdown(results: list[dict]) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Measured by `python bench/plan_bench.py` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, zero config.",
        "",
        "| run | records | wall time | records/s | candidate pairs | peak RSS | pairwise P / R / F1 | auto-group precision / recall | target | load avg before |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for r in results:
        p, a = r["pairwise"], r["auto_pairwise"]
        target = f"≤ {r['target_seconds']:.0f} s, ≤ {MEMORY_TARGET_GB:.0f} GB" if r["target_seconds"] else ""
        runs = r.get("wall_seconds_runs") or [r["wall_seconds"]]
        spread = f" ({runs[0]:.1f}–{runs[-1]:.1f}, median of {len(runs)})" if len(runs) > 1 else ""
        lines.append(
            f"| {r['run']} | {r['records']:,} | {r['wall_seconds']:.1f} s{spread} | {r['records_per_second']:,} | {r['candidate_pairs']:,} | "
            f"{r['peak_rss_gb']:.2f} GB | {p['precision']:.4f} / {p['recall']:.4f} / {p['f1']:.4f} | "
            f"{a['precision']:.4f} / {a['recall']:.4f} | {target} | {r.get('load_average_before', float('nan')):.1f} |"
        )
    lines.append("")
    for r in results:
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["stage_seconds"].items())
        lines.append(f"- {r['run']}, {r['records']:,} records, time per stage: {stages}")
    return "\n".join(lines)


def _update_readme(md: str) -> None:
    replace_section("plan", md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per size (median reported); default 3 up to 100k records, 1 above")
    args = parser.parse_args()
    results = []
    for plan in (False, True):
        for n in args.sizes:
            repeat = args.repeat if args.repeat is not None else (3 if n <= 100_000 else 1)
            r = bench_size(n, args.seed, plan, repeat)
            results.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
    md = _markdown(results)
    print(md)
    (OUT / "plan_bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    if not args.no_readme and set(args.sizes) == set(TARGETS):
        _update_readme(md)


if __name__ == "__main__":
    main()
