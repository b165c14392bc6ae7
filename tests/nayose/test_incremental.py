"""Incremental matching equals a full run on the same snapshot scored with the same model."""

import importlib.util
import shutil
from pathlib import Path

import pytest

from nayose.config import load_config
from nayose.incremental import incremental_run
from nayose.pipeline import run_stages
from nayose.sample import write_sample
from nayose.score import load_model
from nayose.store import connect

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("incremental_bench", ROOT / "bench" / "incremental_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    bench = _bench()
    tmp = tmp_path_factory.mktemp("incremental")
    base, changed = tmp / "base.csv", tmp / "changed.csv"
    write_sample(5000, 11, base, tmp / "base.truth.csv")
    config = load_config(None)
    prev = tmp / "prev.duckdb"
    con = connect(prev)
    run_stages(con, [base], config)
    con.close()
    del con
    changes = bench.make_changed_snapshot(base, changed, share=0.02)
    inc_db, full_db = tmp / "inc.duckdb", tmp / "full.duckdb"
    shutil.copy(prev, inc_db)
    shutil.copy(prev, full_db)
    con = connect(full_db)
    run_stages(con, [changed], config, model=load_model(con))
    con.close()
    del con
    con = connect(inc_db)
    result = incremental_run(con, [changed], config)
    diff = bench.compare(con, full_db)
    con.close()
    return changes, result, diff


def test_incremental_equals_full_run_with_the_same_model(runs):
    changes, result, diff = runs
    assert result.mode == "incremental"
    assert (result.new, result.deleted) == (changes["new"], changes["deleted"])
    assert 0.9 * changes["edited"] <= result.changed <= changes["edited"]  # an edit may leave a value as it was
    assert diff["normalized_row_differences"] == 0
    assert diff["pair_differences"] == 0  # same candidate pairs, same first rule
    assert diff["max_probability_difference"] == 0.0  # same probabilities
    assert diff["cluster_row_differences"] == 0  # same groups, same status
    assert result.kept_pairs > 0.5 * result.candidate_pairs  # most pairs were kept, not re-blocked


def test_without_a_previous_run_it_runs_in_full(tmp_path):
    csv = tmp_path / "s.csv"
    write_sample(300, 3, csv, tmp_path / "s.truth.csv")
    con = connect(tmp_path / "db.duckdb")
    res = incremental_run(con, [csv], load_config(None))
    assert res.mode == "full" and "no previous run" in res.reason
    assert con.execute("SELECT count(*) FROM clusters").fetchall()[0][0] == 300
    con.close()
