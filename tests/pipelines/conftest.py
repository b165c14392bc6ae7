"""Fixtures for the Dagster-layer tests."""

import shutil

import duckdb
import pytest
from pipeline_helpers import failure_messages, run_job


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The whole job on a 2,000-record sample org (shared by the tests that only read it)."""
    tmp = tmp_path_factory.mktemp("sample_run")
    result, db, out = run_job(tmp, {"source": "sample", "sample_records": 2000, "sample_seed": 7})
    assert result.success, "\n".join(failure_messages(result))
    return result, db, out


@pytest.fixture
def store_copy(sample_run, tmp_path):
    """The shared sample run's store and outputs, copied so decisions do not leak between tests:
    (store, outputs, the latest merge plan's id, its groups with steps)."""
    _, db, out = sample_run
    db2, out2 = tmp_path / "data" / "nayose.duckdb", tmp_path / "out"
    db2.parent.mkdir(parents=True)
    shutil.copy(db, db2)
    shutil.copytree(out, out2)
    # The plan is registered with out's path; point it at the copy.
    con = duckdb.connect(str(db2))
    con.execute("UPDATE plans SET out_dir = replace(out_dir, ?, ?), plan_path = replace(plan_path, ?, ?)",
                [str(out), str(out2), str(out), str(out2)])
    plan_id = con.execute("SELECT plan_id FROM plans WHERE is_latest AND kind = 'merge'").fetchone()[0]
    groups = [r[0] for r in con.execute(
        "SELECT cluster_id FROM plan_groups WHERE plan_id = ? AND steps > 0 ORDER BY cluster_id", [plan_id]).fetchall()]
    con.close()
    return db2, out2, plan_id, groups
