"""DuckDB SQL -> Spark SQL: the engine's blocking and comparison SQL, translated with sqlglot.

The SQL is written once, in DuckDB's dialect (nayose.block, nayose.score). sqlglot translates the
syntax (casts, list literals, FILTER, `regexp_matches`, `starts_with` …); the functions whose
results could differ between the engines are mapped explicitly here:

- `jaro_winkler_similarity` -> `nayose_jaro_winkler`, a UDF reproducing DuckDB's result bit for
  bit (`duckdb_jaro_winkler`: rapidfuzz's Jaro, DuckDB's fused Winkler step; on code points);
- `log2` -> `nayose_log2`, a UDF calling the C library's log2 as DuckDB does (Spark's LOG2 is
  log(x)/log(2), which differs in the last bit for a third of the values);
- `hash` -> `xxhash64` (a 64-bit hash like DuckDB's; Spark's `hash` has only 32 bits, whose
  collisions would add pairs);
- `levenshtein`, `substr`, `length` count code points in both engines and are used as they are.
"""

# No `from __future__ import annotations`: pandas_udf reads the pd.Series type hints at run time.

import functools
import math
from fractions import Fraction

import pandas as pd
import sqlglot
from sqlglot import exp

UDF_NAMES = {"jaro_winkler_similarity": "nayose_jaro_winkler", "log2": "nayose_log2", "hash": "xxhash64"}


def _map_function(node: exp.Expression) -> exp.Expression:
    """Replace the engine-specific functions (see the module docstring)."""
    if isinstance(node, exp.JarowinklerSimilarity):
        return exp.Anonymous(this="nayose_jaro_winkler", expressions=[node.this, node.expression])
    if isinstance(node, exp.Log) and node.expression is not None and _is_two(node.this):
        return exp.Anonymous(this="nayose_log2", expressions=[node.expression])
    if isinstance(node, exp.Anonymous) and node.name.lower() in UDF_NAMES:
        return exp.Anonymous(this=UDF_NAMES[node.name.lower()], expressions=node.expressions)
    return node


def _is_two(node: exp.Expression | None) -> bool:
    return isinstance(node, exp.Literal) and node.this in ("2", "2.0")


@functools.lru_cache(maxsize=256)
def to_spark(sql: str) -> str:
    """Translate one DuckDB statement to Spark SQL (see the module docstring for the mapping)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = tree.transform(_map_function)
    return tree.sql(dialect="spark")


def expr_to_spark(expression: str) -> str:
    """Translate one DuckDB expression (not a statement) to Spark SQL."""
    tree = sqlglot.parse_one(f"SELECT {expression}", read="duckdb").transform(_map_function)
    return tree.expressions[0].sql(dialect="spark")


def _fma(x: float, y: float, z: float) -> float:
    """x * y + z rounded once (what DuckDB's compiled code computes with a fused multiply-add)."""
    return float(Fraction(x) * Fraction(y) + Fraction(z))


def duckdb_jaro_winkler(a: pd.Series, b: pd.Series):
    """DuckDB's `jaro_winkler_similarity`, bit for bit, NaN where either side is NULL.

    The Jaro part is rapidfuzz's (`cpdist`, float64: equal to DuckDB's vendored rapidfuzz-cpp);
    the Winkler step is DuckDB's build of it, `fma(prefix * 0.1, 1 - jaro, jaro)` for jaro > 0.7
    (rapidfuzz's own JaroWinkler, which rounds twice, differs in the last bit for about 1 pair in
    5,000, enough to move a pair across a 0.92 threshold). Two empty strings score 0.0 as in DuckDB."""
    import numpy as np
    from rapidfuzz.distance import Jaro
    from rapidfuzz.process import cpdist

    both = (a.notna() & b.notna()).to_numpy()
    out = np.full(len(a), np.nan, dtype=np.float64)
    if not both.any():
        return out
    xs, ys = a[both].tolist(), b[both].tolist()
    jaro = cpdist(xs, ys, scorer=Jaro.similarity, dtype=np.float64, workers=1)
    res = jaro.copy()
    for i in np.flatnonzero(jaro > 0.7):
        x, y = xs[i], ys[i]
        n = min(4, len(x), len(y))
        prefix = next((k for k in range(n) if x[k] != y[k]), n)
        if prefix:
            res[i] = _fma(prefix * 0.1, 1.0 - jaro[i], jaro[i])
    res[[i for i, (x, y) in enumerate(zip(xs, ys)) if not x and not y]] = 0.0
    out[both] = res
    return out


def register_udfs(spark) -> None:
    """Register the UDFs the translated SQL calls. Call after the session exists."""
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import DoubleType

    @pandas_udf(DoubleType())
    def nayose_jaro_winkler(a: pd.Series, b: pd.Series) -> pd.Series:
        return pd.Series(duckdb_jaro_winkler(a, b), dtype="float64")

    @pandas_udf(DoubleType())
    def nayose_log2(x: pd.Series) -> pd.Series:
        # math.log2 is the C library's log2, what DuckDB calls (numpy's differs in rare last bits).
        return pd.Series(
            [None if v is None or v != v or v <= 0 else math.log2(v) for v in x.astype("float64").tolist()],
            dtype="float64",
        )

    spark.udf.register("nayose_jaro_winkler", nayose_jaro_winkler)
    spark.udf.register("nayose_log2", nayose_log2)
