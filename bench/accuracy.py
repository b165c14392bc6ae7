"""Zero-config accuracy of `nayose plan` on FEBRL3, FEBRL4 and the built-in Japanese sample.

Each data set is written as a Salesforce export, matched through the real CLI, and scored
pairwise against its truth (recall against all true pairs, so blocking misses count). Figures go
to bench/out/accuracy.json and into README.md between the `bench:accuracy` markers.

    python bench/accuracy.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.readme_section import metrics_cells, replace_section  # noqa: E402

OUT = ROOT / "bench" / "out"


def _plan(csv: Path, out: Path, truth: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nayose.cli", "plan", str(csv), "--out", str(out), "--quiet", "--truth", str(truth)],
                   check=True, cwd=ROOT)
    return time.perf_counter() - start


def _blocking_recall(out: Path) -> float:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))["evaluation"]["blocking_recall"]


def main() -> None:
    from nayose.evaluate import evaluate_files, write_febrl_contacts
    from nayose.sample import write_sample

    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in ("febrl3", "febrl4"):
        csv, truth = OUT / f"{name}.csv", OUT / f"{name}.truth.csv"
        n = write_febrl_contacts(name, csv, truth)
        secs = _plan(csv, OUT / f"plan_{name}", truth)
        rows.append({"data": name.upper(), "records": n, "seconds": round(secs, 1),
                     "blocking_recall": _blocking_recall(OUT / f"plan_{name}"),
                     "all": evaluate_files(OUT / f"plan_{name}" / "clusters.csv", truth),
                     "auto": evaluate_files(OUT / f"plan_{name}" / "clusters.csv", truth, auto_only=True)})
    for n, seed in ((20_000, 11), (100_000, 7)):
        csv, truth = OUT / f"sample_acc_{n}.csv", OUT / f"sample_acc_{n}.truth.csv"
        write_sample(n, seed, csv, truth)
        secs = _plan(csv, OUT / f"plan_sample_{n}", truth)
        rows.append({"data": f"Japanese sample (seed {seed})", "records": n, "seconds": round(secs, 1),
                     "blocking_recall": _blocking_recall(OUT / f"plan_sample_{n}"),
                     "all": evaluate_files(OUT / f"plan_sample_{n}" / "clusters.csv", truth),
                     "auto": evaluate_files(OUT / f"plan_sample_{n}" / "clusters.csv", truth, auto_only=True)})
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    lines = [
        f"Measured by `python bench/accuracy.py` on {time.strftime('%Y-%m-%d')}, zero config, pairwise against the truth.",
        "",
        "| data | records | blocking recall | all groups: precision / recall / F1 | auto groups: precision / recall | time |",
        "|---|---:|---:|---|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['data']} | {r['records']:,} | {r['blocking_recall']:.4f} | {metrics_cells(r)} | {r['seconds']:.1f} s |")
    md = "\n".join(lines)
    print(md)
    (OUT / "accuracy.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    replace_section("accuracy", md)


if __name__ == "__main__":
    main()
