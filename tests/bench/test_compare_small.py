"""bench/compare.py's machinery on FEBRL1 (1,000 records): both systems run as measured
subprocesses, and the accuracy figures, ratios, report and plots come out. Needs Splink
(the `bench` extra); skipped without it."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("splink")


def _compare():
    spec = importlib.util.spec_from_file_location("nayose_bench_compare_test", ROOT / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_compare_febrl1(tmp_path):
    compare = _compare()
    res = compare.run_compare(["febrl1"], out=tmp_path, img=tmp_path / "img", update_docs=False,
                              splink_timeout=300, nayose_timeout=300, merge=False)
    (r,) = res["results"]
    assert r["key"] == "febrl1" and r["records"] == 1000
    for system in ("nayose", "splink"):
        x = r[system]
        assert x["exit_code"] == 0 and not x["timed_out"], (system, x)
        assert x["wall_seconds"] > 0 and x["peak_rss_bytes"] > 50 * 1024**2
        assert x["stage_seconds"]
        assert x["candidate_pairs"] > 0
        assert 0.5 < x["blocking_recall"] <= 1.0
        pw = x["pairwise"]
        assert pw["true_pairs"] == 500  # FEBRL1: 500 originals, one duplicate each
        assert 0.5 < pw["f1"] <= 1.0
        pr = x["pr_curve"]
        assert len(pr["precision"]) == len(pr["recall"]) == len(pr["threshold"]) > 0
        assert 0.5 < pr["best_f1"] <= 1.0
    assert set(r["splink"]["stage_seconds"]) >= {"train", "predict", "cluster"}
    assert r["splink"]["wall_seconds"] >= r["splink"]["splink_only_seconds"]
    assert r["ratio"]["speedup_end_to_end"] > 0
    assert "| FEBRL1 | 1,000 | nayose |" in res["markdown"]
    assert sorted(Path(p).name for p in res["plots"]) == ["compare_memory.png", "compare_pr.png", "compare_time.png"]
    stored = json.loads((tmp_path / "compare.json").read_text(encoding="utf-8"))
    assert [x["key"] for x in stored["results"]] == ["febrl1"]


def test_febrl_like_is_seeded_and_labelled(tmp_path):
    sys.path.insert(0, str(ROOT))
    from bench.febrl_like import generate

    a, ta = generate(2_000, seed=3)
    b, _ = generate(2_000, seed=3)
    assert a.num_rows == 2_000 and a.equals(b)
    ids = ta.column("Id").to_pylist()
    ents = ta.column("entity_id").to_pylist()
    assert len(set(ids)) == 2_000
    dups = sum(1 for i in ids if "-dup-" in i)
    assert 700 <= dups <= 900  # 40 % duplicates
    assert all(i.split("-")[1] == e for i, e in zip(ids, ents))
