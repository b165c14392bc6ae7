"""Helpers for the Spark tests."""

import shutil

import pytest


def require_spark() -> None:
    """Skip the calling test module, with the reason, where Spark cannot run here."""
    pytest.importorskip("pyspark", reason="pyspark not installed: pip install -e '.[spark]'")
    pytest.importorskip("sqlglot", reason="sqlglot not installed: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime: Spark needs Java 17+", allow_module_level=True)
