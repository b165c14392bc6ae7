"""Materialization metadata for the Dagster UI: schemas, markdown tables, previews, the histogram."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import dagster as dg
import duckdb
import numpy as np

from nayose.stage import StageResult


def column_schema(con: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    """The table's columns and DuckDB types, from DESCRIBE."""
    rows = con.execute(f'DESCRIBE "{table}"').fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=str(ctype),
                constraints=dg.TableColumnConstraints(nullable=(str(null).upper() != "NO")),
            )
            for name, ctype, null, *_ in rows
        ]
    )


def stage_metadata(con: duckdb.DuckDBPyConnection, result: StageResult, database: str | Path) -> dict[str, Any]:
    """What every asset reports: row count, column schema, time, where the table lives."""
    return {
        "dagster/row_count": dg.MetadataValue.int(int(result.rows)),
        "dagster/column_schema": column_schema(con, result.table),
        "dagster/table_name": dg.MetadataValue.text(f"{Path(database).stem}.main.{result.table}"),
        "seconds": dg.MetadataValue.float(float(result.seconds)),
        "table": dg.MetadataValue.text(result.table),
        "database": dg.MetadataValue.path(str(database)),
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e-3 and value else f"{value:,.4f}".rstrip("0").rstrip(".")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (pipes and newlines in cells escaped)."""
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _record_value(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 6)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _column_type(duck_type: str) -> str:
    t = duck_type.upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"):
        return "int"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t == "BOOLEAN":
        return "bool"
    return "string"


def table_preview(
    con: duckdb.DuckDBPyConnection, sql: str, limit: int = 20, max_columns: int | None = None
) -> dg.MetadataValue:
    """The first `limit` rows of a query (its first `max_columns` columns) as a Dagster table,
    rendered as a grid in the UI."""
    rel = con.sql(f"SELECT * FROM ({sql}) LIMIT {int(limit)}")
    if max_columns is not None and len(rel.columns) > max_columns:
        rel = rel.select(*[duckdb.ColumnExpression(c) for c in rel.columns[:max_columns]])
    names, types = rel.columns, [str(t) for t in rel.types]
    rows = rel.fetchall()
    return dg.MetadataValue.table(
        records=[dg.TableRecord({n: _record_value(v) for n, v in zip(names, row)}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(n, _column_type(t)) for n, t in zip(names, types)]),
    )


def fill_rates(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Markdown: per column, how many rows have a value."""
    cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    if not cols:
        return ""
    col_counts = ", ".join(f'count("{c}")' for c in cols)
    counts = con.execute(f'SELECT count(*), {col_counts} FROM "{table}"').fetchall()[0]
    total, filled = counts[0], counts[1:]
    rows = [(c, n, f"{(100.0 * n / total) if total else 0:.1f}%") for c, n in zip(cols, filled)]
    return md_table(["column", "filled", "fill rate"], rows)


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """Write a file through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give it the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def score_histogram_png(
    weights: np.ndarray, probabilities: np.ndarray, review: float, auto: float
) -> bytes:
    """PNG: match weights of every scored pair, stacked by decision, and their probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    decisions = [
        ("below review", probabilities < review, "#b0b0b0"),
        ("review", (probabilities >= review) & (probabilities < auto), "#f2a33a"),
        ("auto", probabilities >= auto, "#2a9d5c"),
    ]
    fig, (ax_w, ax_p) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100)
    if len(weights):
        lo, hi = np.floor(weights.min()), np.ceil(weights.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 61)
        ax_w.hist(
            [weights[m] for _, m, _ in decisions],
            bins=bins,
            stacked=True,
            color=[c for _, _, c in decisions],
            label=[f"{name} ({int(m.sum()):,})" for name, m, _ in decisions],
        )
        ax_p.hist(probabilities, bins=np.linspace(0, 1, 51), color="#4a6fa5")
    for ax in (ax_w, ax_p):
        ax.set_yscale("log")
        ax.set_ylabel("pairs (log scale)")
    ax_w.set_xlabel("match weight (log2 Bayes factor, incl. prior)")
    ax_w.set_title("Candidate pairs by match weight")
    ax_w.legend(loc="upper left", fontsize=8)
    ax_p.axvline(review, color="#f2a33a", linestyle="--", label=f"review ≥ {review:g}")
    ax_p.axvline(auto, color="#2a9d5c", linestyle="--", label=f"auto ≥ {auto:g}")
    ax_p.set_xlabel("match probability (after person-evidence gates)")
    ax_p.set_title("Candidate pairs by match probability")
    ax_p.legend(loc="upper center", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown embedding a PNG as a base64 data URI (rendered inline by the Dagster UI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def probability_buckets_md(probabilities: np.ndarray, review: float, auto: float) -> str:
    """Markdown: pairs per probability bucket with a text bar (a histogram that renders anywhere)."""
    p = np.asarray(probabilities, dtype=np.float64)
    edges = [0.0, 0.01, 0.1, review, 0.9, auto, 1.0000001]
    edges = sorted(set(edges))
    counts = np.histogram(p, bins=edges)[0] if len(p) else np.zeros(len(edges) - 1, dtype=int)
    top = max(int(counts.max()), 1) if len(counts) else 1
    rows = []
    for lo, hi, n in zip(edges[:-1], edges[1:], counts):
        label = f"[{lo:g}, {min(hi, 1.0):g}{']' if hi > 1 else ')'}"
        decision = "auto" if lo >= auto else "review" if lo >= review else "below review"
        bar = "█" * max(1 if n else 0, round(30 * int(n) / top))
        rows.append((label, decision, int(n), bar))
    return md_table(["match probability", "decision", "pairs", ""], rows)
