"""Fixtures for the Dagster-layer tests."""

import pytest
from pipeline_helpers import failure_messages, run_job


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The whole job on a 2,000-record sample org (shared by the tests that only read it)."""
    tmp = tmp_path_factory.mktemp("sample_run")
    result, db, out = run_job(tmp, {"source": "sample", "sample_records": 2000, "sample_seed": 7})
    assert result.success, "\n".join(failure_messages(result))
    return result, db, out
