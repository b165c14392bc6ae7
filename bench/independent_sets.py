"""Zero-config accuracy of `nayose plan` on Japanese data written independently of nayose.

`bench/accuracy.py` measures nayose on its own sample generator, which was written alongside the
matcher: a matcher can fit its generator without fitting Japanese CRM data. The two generators
in `bench/independent/` were written from the domain brief alone (DOMAIN.md), by authors who did
not read nayose's sample generator or matcher, each with its own name lists, variation rates and
world model:

* `gen_colleagues.py`: a marketing org full of colleagues (companies of up to 60 people sharing
  the switchboard, postal code and street), namesakes at other companies, same-surname
  colleagues, duplicates in kana / romaji / swapped / whole-name form, look-alike kanji typos,
  job changes;
* `gen_cards.py`: business-card scans (Sansan / Eight), event lists and web forms: head and
  branch offices, OCR misreads of kanji and of letters on cards, department moves, promotions,
  mobiles in the Phone field, job changes.

Each set is generated (seeded), matched through the real CLI with no config, and scored pairwise
against its truth (recall against all true pairs). Figures go to bench/out/independent.json and
into README.md between the `bench:independent` markers. These sets are checks of generalization:
what nayose gets wrong on them is read for what real data would show, not tuned to the generator.

    python bench/independent_sets.py                 # both sets, 20,000 and 100,000 records each
    python bench/independent_sets.py --records 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.readme_section import metrics_cells, replace_section  # noqa: E402

OUT = ROOT / "bench" / "out" / "independent"
SETS = {  # name: (script, seed, label)
    "colleagues": ("gen_colleagues.py", 1, "colleagues (`gen_colleagues.py`, seed 1)"),
    "cards": ("gen_cards.py", 2, "business cards (`gen_cards.py`, seed 2)"),
}


def run_set(name: str, records: int) -> dict:
    from nayose.evaluate import evaluate_files

    script, seed, label = SETS[name]
    OUT.mkdir(parents=True, exist_ok=True)
    csv, truth = OUT / f"{name}_{records}.csv", OUT / f"{name}_{records}.truth.csv"
    subprocess.run([sys.executable, str(ROOT / "bench" / "independent" / script), "--records", str(records),
                    "--seed", str(seed), "--out", str(csv), "--truth", str(truth)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    out = OUT / f"plan_{name}_{records}"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nayose.cli", "plan", str(csv), "--out", str(out), "--quiet", "--no-plan",
                    "--truth", str(truth)], check=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"data": label, "records": records, "seconds": round(seconds, 1),
            "true_pairs": summary["evaluation"]["all_groups"]["true_pairs"],
            "blocking_recall": summary["evaluation"]["blocking_recall"],
            "all": evaluate_files(out / "clusters.csv", truth),
            "auto": evaluate_files(out / "clusters.csv", truth, auto_only=True)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args(argv)
    rows = [run_set(name, n) for n in args.records for name in SETS]
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    lines = [
        f"Measured by `python bench/independent_sets.py` on {time.strftime('%Y-%m-%d')}, zero config, "
        "`nayose plan --no-plan`, pairwise against each set's truth.",
        "",
        "| data (written independently of nayose) | records | true pairs | blocking recall | all groups: precision / recall / F1 | auto groups: precision / recall | time |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['data']} | {r['records']:,} | {r['true_pairs']:,} | {r['blocking_recall']:.4f} | "
                     f"{metrics_cells(r)} | {r['seconds']:.1f} s |")
    md = "\n".join(lines)
    print(md)
    (OUT / "independent.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.no_readme:
        return
    replace_section("independent", md)


if __name__ == "__main__":
    main()
