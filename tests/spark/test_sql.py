"""The DuckDB -> Spark SQL translation maps the engine-specific functions explicitly."""

import pytest

pytest.importorskip("sqlglot", reason="sqlglot not installed: pip install -e '.[spark]'")

from nayose.block import block_keys_sql  # noqa: E402
from nayose.config import BlockingRule  # noqa: E402
from nayose.spark.sql import expr_to_spark, to_spark  # noqa: E402


def test_engine_specific_functions_are_mapped():
    sql = to_spark(
        "SELECT jaro_winkler_similarity(a, b) AS j, log2(n / greatest(t, 5000)) AS l, hash(a, b) AS h, "
        "starts_with(a, b) AS s, regexp_matches(a, '[\\x{4E00}-\\x{9FFF}]') AS k, [4, 3] AS li, NULL::VARCHAR AS v FROM t"
    )
    assert "NAYOSE_JARO_WINKLER(a, b)" in sql
    assert "NAYOSE_LOG2(n / GREATEST(t, 5000))" in sql
    assert "XXHASH64(a, b)" in sql
    assert "RLIKE" in sql and "ARRAY(4, 3)" in sql
    assert "JARO_WINKLER_SIMILARITY" not in sql.upper() and " LOG(" not in sql.upper()


def test_blocking_sql_is_translated_once_per_rule():
    rule = BlockingRule(name="name_prefix", keys=["last_reading:3", "first_reading:3"])
    sql = to_spark(block_keys_sql(rule, "normalized_records"))
    assert "SUBSTRING(`last_reading`, 1, 3) AS _k0, SUBSTRING(`first_reading`, 1, 3) AS _k1" in sql
    assert "XXHASH64(_k0, _k1)" in sql
    assert "COUNT(*) OVER (PARTITION BY _k0, _k1)" in sql
    assert expr_to_spark('"email" IS NOT NULL') == "NOT `email` IS NULL"


def test_a_key_with_alternatives_explodes_in_spark_as_it_unnests_in_duckdb():
    rule = BlockingRule(name="company_name_part", keys=["company_core", "last_reading|first_reading"])
    sql = to_spark(block_keys_sql(rule, "normalized_records"))
    assert "EXPLODE(ARRAY_DISTINCT(ARRAY(`last_reading`, `first_reading`))) AS _k1" in sql
    assert "NOT _k0 IS NULL AND NOT _k1 IS NULL" in sql  # (Spark keeps a NULL in ARRAY_DISTINCT: dropped after)


def test_engine_is_chosen_by_config_or_cli_and_is_not_part_of_the_plan_identity(tmp_path):
    from nayose.cli import build_parser
    from nayose.config import Config, load_config

    args = build_parser().parse_args(["plan", "org.csv", "--out", str(tmp_path / "out"), "--engine", "spark"])
    assert args.engine == "spark"
    rules = tmp_path / "nayose.yaml"
    rules.write_text("engine: spark\nmatching:\n  max_block_size: 50\n", encoding="utf-8")
    assert load_config(rules).engine == "spark"
    # The dumped config (what a plan's identity hashes) is the same on both engines.
    assert "engine" not in Config(engine="spark").model_dump()
    assert Config(engine="spark").model_dump_json() == Config().model_dump_json()


def test_the_jaro_winkler_udf_is_duckdbs_bit_for_bit():
    """Streets where rapidfuzz's own JaroWinkler differs from DuckDB in the last bit (found at 1M:
    one of them moved a pair across the 0.92 'close street' threshold), plus NULLs and empties."""
    import duckdb
    import numpy as np
    import pandas as pd

    from nayose.spark.sql import duckdb_jaro_winkler

    a = ["丸の内中央3-24-4第二ビル4f", "本町橋4-8-17東和ビル1f", "鶴見中央2-3-12", "東京", "さとう", "", "", "x", None, "martha"]
    b = ["丸の内中央2-23-6東和ビル本館2f", "本郷1-2本町橋4-8-17東和ビル1f", "鶴見中央3-17大和ビル2", "東京都", "さいとう", "", "x", "", "y", "marhta"]
    got = duckdb_jaro_winkler(pd.Series(a), pd.Series(b))
    ref = np.array([
        np.nan if r[0] is None else r[0]
        for r in duckdb.connect().execute(
            "SELECT jaro_winkler_similarity(x, y) FROM (SELECT unnest(?) AS x, unnest(?) AS y)", [a, b]
        ).fetchall()
    ])
    assert np.array_equal(got, ref, equal_nan=True), (got, ref)
