"""The `nayose` CLI as a user runs it: outputs, bad input, config errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from nayose.sample import write_sample


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nayose.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample")
    path = d / "org.csv"
    write_sample(2000, 3, path, d / "org.truth.csv")
    return path


def test_plan_writes_every_output(tmp_path, sample_csv):
    out = tmp_path / "out"
    proc = run("plan", sample_csv, "--out", out)
    assert proc.returncode == 0, proc.stderr
    with open(out / "clusters.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == ["Id", "cluster_id", "status"]
    assert len(rows) == 2000 and len({r["Id"] for r in rows}) == 2000
    assert {r["status"] for r in rows} <= {"auto", "review", "single"}
    for r in rows:
        if r["status"] == "single":
            assert r["cluster_id"] == r["Id"]
    with open(out / "pairs.csv", encoding="utf-8") as f:
        pairs = list(csv.DictReader(f))
    assert list(pairs[0].keys()) == ["left_id", "right_id", "match_probability", "decision"]
    assert all(float(p["match_probability"]) >= 0.5 and p["decision"] in ("auto", "review") for p in pairs)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["records_in"] == 2000
    assert summary["candidate_pairs"]["total"] == sum(r["new_pairs"] for r in summary["candidate_pairs"]["per_rule"].values())
    assert set(summary["seconds"]) >= {"records", "normalize", "block", "score", "cluster", "total"}
    # progress went to stderr, the one-line summary too
    assert "records" in proc.stderr


def test_quiet_prints_nothing(tmp_path, sample_csv):
    proc = run("plan", sample_csv, "--out", tmp_path / "out", "--quiet")
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == ""


@pytest.mark.parametrize(
    "content, expect",
    [
        (b"", "empty"),
        ("Id,LastName\n".encode(), "no data rows"),
        ("LastName,Email\n山田,a@example.jp\n".encode(), "Id"),
        ("Id,LastName\n00Q000000000001AAA,山田\n00Q000000000001AAA,田中\n".encode(), "duplicate"),
        ("Id,LastName\n00Q000000000001AAA,山田,余分\n".encode("utf-8"), "row 2"),
        (b"Id,LastName\n00Q000000000001AAA,\x82\xa0\xff\xfe\n", "row 2"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_nothing_written(tmp_path, content, expect):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    out = tmp_path / "out"
    proc = run("plan", bad, "--out", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(bad) in lines[0] and expect.lower() in lines[0].lower()
    assert not out.exists()
    assert "Traceback" not in proc.stderr


def test_failed_run_leaves_previous_outputs_untouched(tmp_path, sample_csv):
    out = tmp_path / "out"
    assert run("plan", sample_csv, "--out", out, "--quiet").returncode == 0
    before = (out / "clusters.csv").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("Id,LastName\n", encoding="utf-8")
    assert run("plan", bad, "--out", out).returncode == 2
    assert (out / "clusters.csv").read_bytes() == before


def test_bad_config_names_file_and_key(tmp_path, sample_csv):
    cfg = tmp_path / "nayose.yaml"
    cfg.write_text("matching:\n  thresholds:\n    review: 1.5\n", encoding="utf-8")
    proc = run("plan", sample_csv, "--out", tmp_path / "out", "--config", cfg)
    assert proc.returncode == 2
    assert str(cfg) in proc.stderr and "matching.thresholds.review" in proc.stderr
    cfg.write_text("matching: [unclosed\n", encoding="utf-8")
    proc = run("config", "--check", cfg)
    assert proc.returncode == 2 and "line" in proc.stderr


def test_blocking_keys_with_alternatives_are_checked(tmp_path):
    cfg = tmp_path / "nayose.yaml"
    cfg.write_text("matching:\n  blocking_rules:\n    - {name: part, keys: [company_core, \"last_reading|first_reading:3\"]}\n",
                   encoding="utf-8")
    assert run("config", "--check", cfg).returncode == 0
    cfg.write_text("matching:\n  blocking_rules:\n    - {name: two, keys: [\"email|phone\", \"last_reading|first_reading\"]}\n",
                   encoding="utf-8")
    proc = run("config", "--check", cfg)
    assert proc.returncode == 2 and "at most one key may have alternatives" in proc.stderr
    cfg.write_text("matching:\n  blocking_rules:\n    - {name: bad, keys: [\"email||phone\"]}\n", encoding="utf-8")
    proc = run("config", "--check", cfg)
    assert proc.returncode == 2 and "alternatives" in proc.stderr
    # A misspelled column was a rule silently never active (0 candidate pairs, exit 0): now an error.
    for key in ("emial", "company_core|last_nmae", "stret:6"):
        cfg.write_text(f"matching:\n  blocking_rules:\n    - {{name: typo, keys: [\"{key}\"]}}\n", encoding="utf-8")
        proc = run("config", "--check", cfg)
        bad = key.split("|")[-1].split(":")[0]
        assert proc.returncode == 2 and f"no normalized column '{bad}'" in proc.stderr, (key, proc.stderr)


def test_out_may_be_the_current_folder(tmp_path, sample_csv):
    """`--out .` (and `..` from a subfolder): the outputs land there, complete, next to what was
    there; before, the temporary folder was made inside the output folder and the run failed
    half-written ("Directory not empty")."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    mine = work / "notes.txt"
    mine.write_text("mine", encoding="utf-8")
    for cwd, out in ((work, "."), (work, "."), (work / "sub", "..")):
        proc = subprocess.run([sys.executable, "-m", "nayose.cli", "plan", str(sample_csv), "--out", out, "--quiet"],
                              capture_output=True, text=True, cwd=cwd, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert mine.read_text(encoding="utf-8") == "mine"
        with open(work / "clusters.csv", encoding="utf-8") as f:
            assert len(list(csv.DictReader(f))) == 2000
        assert (work / "merge_plan.json").exists() and (work / "summary.json").exists()
        assert not list(work.glob(".*tmp-*")) and not list(tmp_path.glob(".*tmp-*"))


def test_default_config_round_trips(tmp_path):
    proc = run("config")
    assert proc.returncode == 0 and "blocking_rules" in proc.stdout
    cfg = tmp_path / "default.yaml"
    cfg.write_text(proc.stdout, encoding="utf-8")
    assert run("config", "--check", cfg).returncode == 0


def test_truth_adds_blocking_recall_and_pairwise_metrics(tmp_path, sample_csv):
    out = tmp_path / "out"
    truth = sample_csv.with_name("org.truth.csv")
    proc = run("plan", sample_csv, "--out", out, "--truth", truth)
    assert proc.returncode == 0, proc.stderr
    ev = json.loads((out / "summary.json").read_text(encoding="utf-8"))["evaluation"]
    assert 0.9 <= ev["blocking_recall"] <= 1.0
    assert ev["all_groups"]["true_pairs"] > 0 and 0 < ev["all_groups"]["f1"] <= 1
    assert ev["auto_groups"]["predicted_pairs"] <= ev["all_groups"]["predicted_pairs"]
    assert "blocking recall" in proc.stderr
    missing = run("plan", sample_csv, "--out", tmp_path / "o2", "--truth", tmp_path / "nope.csv")
    assert missing.returncode == 2 and "nope.csv" in missing.stderr


def test_no_plan_writes_matching_outputs_only(tmp_path, sample_csv):
    out = tmp_path / "out"
    assert run("plan", sample_csv, "--out", out, "--quiet", "--no-plan").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["account_pairs.csv", "clusters.csv", "evidence.csv", "pairs.csv", "summary.json"]
    assert "plan" not in json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_a_run_without_the_plan_leaves_no_older_plan_beside_its_groups(tmp_path):
    """A full run, then `--no-plan` into the same folder: the older merge plan (and its field
    changes, delete candidates, Leads at Accounts) would sit beside the newer clusters.csv and
    could be applied; they go. What other writers keep in the folder (plans/, import/) stays."""
    from nayose.cli import main
    from nayose.plan import PLAN_OUTPUT_FILES
    from nayose.sample import write_sample

    src = tmp_path / "org.csv"
    write_sample(600, 4, src, tmp_path / "org.truth.csv")
    out = tmp_path / "out"
    assert main(["plan", str(src), "--out", str(out), "--quiet"]) == 0
    assert all((out / f).exists() for f in PLAN_OUTPUT_FILES)
    (out / "import").mkdir()
    (out / "import" / "keep.csv").write_text("x\n", encoding="utf-8")
    assert main(["plan", str(src), "--out", str(out), "--quiet", "--no-plan"]) == 0
    assert not any((out / f).exists() for f in PLAN_OUTPUT_FILES)
    assert (out / "clusters.csv").exists() and (out / "import" / "keep.csv").exists()
