"""Spark tests: marked `spark`, kept small (local[2], 4 shuffle partitions). Each module skips,
with the reason, where pyspark (the `spark` extra) or Java is not installed."""

import pytest
from spark_helpers import require_spark


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/spark/" in str(item.fspath):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    require_spark()
    from nayose.spark.session import get_spark

    session = get_spark(checkpoint_dir=tmp_path_factory.mktemp("spark_checkpoints"))
    yield session
    session.stop()
