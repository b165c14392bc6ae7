"""nayose.stage: fine-grained DuckDB scans for mid-sized stages change the speed, never the output."""

from __future__ import annotations

import duckdb
import pytest

from nayose import normalize, outputs, plan, records, score, stage, survive
from nayose.config import Config
from nayose.pipeline import run_plan
from nayose.sample import write_sample

PLAN_FILES = ("clusters.csv", "pairs.csv", "evidence.csv", "merge_plan.csv", "field_changes.csv", "delete_plan.csv",
              "merge_plan.json")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("fine_scans")
    csv = d / "org.csv"
    write_sample(3_000, 11, csv, d / "org.truth.csv")
    return csv


def test_fine_grained_scans_write_the_same_plan(sample, tmp_path, monkeypatch):
    """The matching and plan stages with DuckDB's vector-sized scan tasks on (the window forced
    to cover the sample) write the files of a run with them off, byte for byte."""
    calls = []

    def counting(con, rows):
        calls.append(rows)
        return stage.fine_grained_scans(con, rows)

    for module in (records, normalize, score, outputs, survive, plan):
        monkeypatch.setattr(module, "fine_grained_scans", counting)
    monkeypatch.setattr(stage, "FINE_SCAN_MIN_ROWS", 0)
    run_plan([sample], tmp_path / "on", Config(), quiet=True)
    # records, normalize, score, the matching outputs, survive, plan and the plan files
    assert calls == [3_000] * 7, calls
    monkeypatch.setattr(stage, "FINE_SCAN_MAX_ROWS", -1)
    run_plan([sample], tmp_path / "off", Config(), quiet=True)
    for name in PLAN_FILES:
        assert (tmp_path / "on" / name).read_bytes() == (tmp_path / "off" / name).read_bytes(), name


class _Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.sql: list[str] = []
        self.fail_on = fail_on

    def execute(self, sql: str):
        self.sql.append(sql)
        if self.fail_on and self.fail_on in sql:
            raise duckdb.InvalidInputException("connection has an open result")


def test_the_setting_is_turned_off_after_the_block_even_on_error(monkeypatch):
    monkeypatch.setattr(stage, "FINE_SCAN_MIN_ROWS", 100)
    con = _Recorder()
    with stage.fine_grained_scans(con, 1_000):
        con.execute("SELECT 1")
    assert con.sql == ["PRAGMA verify_parallelism", "SELECT 1", "PRAGMA disable_verify_parallelism"]
    con = _Recorder()
    with pytest.raises(ValueError, match="stage failed"):
        with stage.fine_grained_scans(con, 1_000):
            raise ValueError("stage failed")
    assert con.sql[-1] == "PRAGMA disable_verify_parallelism"
    # the stage's own error is what the caller sees, not a failure to switch the setting off
    con = _Recorder(fail_on="disable")
    with pytest.raises(ValueError, match="stage failed"):
        with stage.fine_grained_scans(con, 1_000):
            raise ValueError("stage failed")
    con = _Recorder(fail_on="PRAGMA verify_parallelism")  # a DuckDB without the pragma: the stage runs as is
    with stage.fine_grained_scans(con, 1_000):
        con.execute("SELECT 1")
    assert con.sql == ["PRAGMA verify_parallelism", "SELECT 1"]
    for rows in (99, stage.FINE_SCAN_MAX_ROWS + 1):  # outside the window: nothing is set
        con = _Recorder()
        with stage.fine_grained_scans(con, rows):
            pass
        assert con.sql == []
