"""Accuracy and speed of `nayose import-plan` (link mode), through the real CLI.

* FEBRL4 as link: 4a is the org, 4b the incoming file (written as Contact exports the way
  bench/accuracy.py writes FEBRL); zero config, and with the register setting
  `matching.same_home_other_given_name: review`.
* The Japanese sample: a 2,000-row business-card export (CP932, Japanese headers, no Id column)
  of which 40 % are people already in the org, against the 20,000-record sample org (seed 11):
  imported as business cards (`--lead-source Sansan`) and as a purchased list
  (`--lead-source 購入リスト`), where the org's card values must survive.
* Speed: 1,000,000 existing records (sample, seed 7) x 100,000 incoming card rows.

Figures go to bench/out/import_accuracy.json and into README.md between the `bench:import`
markers.

    python bench/import_accuracy.py [--skip-speed]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.readme_section import replace_section  # noqa: E402

OUT = ROOT / "bench" / "out"


def write_febrl4_link(out: Path) -> tuple[Path, Path, Path, Path]:
    """FEBRL4 written as Contact exports (nayose.evaluate.write_febrl_contacts), split into 4a (the
    org: Ids rec-N-org) and 4b (incoming: rec-N-dup-0), each with its truth."""
    from nayose.evaluate import write_febrl_contacts

    both, truth = out / "febrl4.csv", out / "febrl4.truth.csv"
    write_febrl_contacts("febrl4", both, truth)
    with open(both, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    paths = []
    for name, keep, id_col in (("febrl4a", lambda i: i.endswith("-org"), "Id"),
                               ("febrl4b", lambda i: not i.endswith("-org"), "incoming_id")):
        data, tr = out / f"{name}.csv", out / f"{name}.truth.csv"
        sel = [r for r in rows[1:] if keep(r[0])]
        with open(data, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(rows[0])
            w.writerows(sel)
        with open(tr, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow([id_col, "entity_id"])
            w.writerows([[r[0], r[0].split("-")[1]] for r in sel])
        paths += [data, tr]
    return paths[0], paths[1], paths[2], paths[3]


def import_plan(existing: Path, incoming: Path, out: Path, *extra: str) -> tuple[dict, float, float]:
    """Run the CLI; return (import_summary.json, wall seconds, peak RSS of the child in GB)."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "nayose.cli", "import-plan", "--existing", str(existing), "--incoming",
                    str(incoming), "--out", str(out), "--quiet", *extra], check=True, cwd=ROOT)
    secs = time.perf_counter() - start
    rss = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024 / 1024
    return json.loads((out / "import_summary.json").read_text(encoding="utf-8")), secs, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-speed", action="store_true", help="skip the 1M x 100k run")
    args = parser.parse_args()
    from nayose.sample import write_card_export, write_sample

    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count()}

    a, at, b, bt = write_febrl4_link(OUT)
    reg = OUT / "febrl_register.yaml"
    reg.write_text("matching:\n  same_home_other_given_name: review\n", encoding="utf-8")
    febrl = []
    for label, extra in (("zero config", []), ("same_home_other_given_name: review", ["--config", str(reg)])):
        s, secs, _ = import_plan(a, b, OUT / "import_febrl4", "--existing-truth", str(at), "--incoming-truth", str(bt), *extra)
        febrl.append({"config": label, "decisions": s["decisions"], "evaluation": s["evaluation"], "seconds": round(secs, 1)})
    results["febrl4"] = febrl

    org, org_truth = OUT / "import_org_20000.csv", OUT / "import_org_20000.truth.csv"
    write_sample(20_000, 11, org, org_truth)
    cards = OUT / "import_cards_2000.csv"
    write_card_export(org, org_truth, 2000, 1, cards)
    cards_truth = OUT / "import_cards_2000.truth.csv"
    sample = []
    for label, ls in (("business cards (--lead-source Sansan)", "Sansan"), ("purchased list (--lead-source 購入リスト)", "購入リスト")):
        s, secs, _ = import_plan(org, cards, OUT / f"import_sample_{ls}", "--lead-source", ls,
                                 "--existing-truth", str(org_truth), "--incoming-truth", str(cards_truth))
        sample.append({"import": label, "decisions": s["decisions"], "evaluation": s["evaluation"],
                       "field_changes": s["field_changes"], "card_values_overwritten": s["card_values_overwritten"],
                       "seconds": round(secs, 1)})
    results["sample"] = sample

    previous = OUT / "import_accuracy.json"
    if args.skip_speed and previous.is_file():  # keep the last measured speed row
        kept = json.loads(previous.read_text(encoding="utf-8")).get("speed")
        if kept:
            results["speed"] = kept
    if not args.skip_speed:
        big, big_truth = OUT / "import_org_1000000.csv", OUT / "import_org_1000000.truth.csv"
        if not big.exists():
            write_sample(1_000_000, 7, big, big_truth)
        big_cards = OUT / "import_cards_100000.csv"
        write_card_export(big, big_truth, 100_000, 2, big_cards)
        s, secs, rss = import_plan(big, big_cards, OUT / "import_speed", "--lead-source", "Sansan",
                                   "--existing-truth", str(big_truth),
                                   "--incoming-truth", str(OUT / "import_cards_100000.truth.csv"))
        results["speed"] = {"existing": s["existing_records"], "incoming": s["incoming_rows"], "seconds": round(secs, 1),
                            "peak_rss_gb": round(rss, 2), "stages": s["seconds"], "decisions": s["decisions"],
                            "evaluation": s["evaluation"], "candidate_pairs": s["candidate_pairs"]}

    (OUT / "import_accuracy.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    md = render(results)
    print(md)
    replace_section("import", md)


def render(r: dict) -> str:
    lines = [
        f"Measured by `python bench/import_accuracy.py` on {r['date']} ({r['cores']} cores).",
        "",
        "| data | config / import | decisions insert / update / review / skip | link precision / recall / F1 | update precision | insert precision | time |",
        "|---|---|---|---|---:|---:|---:|",
    ]

    def row(data: str, label: str, d: dict, e: dict, secs: float) -> str:
        link = e["link"]
        return (f"| {data} | {label} | {d['insert']:,} / {d['update']:,} / {d['review']:,} / {d['skip']:,} | "
                f"{link['precision']:.4f} / {link['recall']:.4f} / **{link['f1']:.4f}** | {e['update']['precision']:.4f} | "
                f"{e['insert']['precision']:.4f} | {secs:.1f} s |")

    for f in r["febrl4"]:
        lines.append(row("FEBRL4 (4a org, 4b incoming)", f["config"], f["decisions"], f["evaluation"], f["seconds"]))
    for s in r["sample"]:
        lines.append(row("sample org 20,000 (seed 11) + 2,000 cards, 40 % in the org", s["import"], s["decisions"],
                         s["evaluation"], s["seconds"]))
    if "speed" in r:
        sp = r["speed"]
        lines.append(row(f"sample org {sp['existing']:,} (seed 7) + {sp['incoming']:,} cards", "business cards",
                         sp["decisions"], sp["evaluation"], sp["seconds"]))
    lines.append("")
    for s in r["sample"]:
        fc = s["field_changes"]
        lines.append(f"- {s['import']}: {fc.get('updates', 0):,} updates with {fc.get('field_changes', 0):,} field changes "
                     f"({fc.get('values_from_cards', 0):,} from cards), {fc.get('unchanged', 0):,} matches with nothing to change; "
                     f"card values of the org overwritten by a non-card value: **{s['card_values_overwritten']}**")
    if "speed" in r:
        sp = r["speed"]
        st = ", ".join(f"{k} {v:.1f} s" for k, v in sp["stages"].items())
        lines.append(f"- {sp['existing']:,} existing x {sp['incoming']:,} incoming: **{sp['seconds']:.1f} s** wall "
                     f"(target ≤ 60 s), peak RSS {sp['peak_rss_gb']:.2f} GB, {sp['candidate_pairs']:,} candidate pairs; {st}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
