"""What every stage returns: counts, timings and figures for the CLI summary and Dagster metadata."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class StageResult:
    """Outcome of one stage: the table it wrote, its row count, wall time and stage-specific stats."""

    stage: str
    table: str
    rows: int = 0
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


@contextmanager
def timed(result: StageResult) -> Iterator[StageResult]:
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = round(time.perf_counter() - start, 3)


# DuckDB scans a table in parallel one row group (122,880 rows) per thread: a table of one or two
# row groups is read, and everything computed over it in the same pipeline, on one or two
# threads, unevenly. DuckDB's `PRAGMA verify_parallelism` makes a scan's unit a vector (2,048
# rows) instead, and builds even small hash tables in parallel. Measured on 2 cores, `nayose plan`
# (matching only, same outputs byte for byte): 100k sample records 4.26-4.43 s of stage time
# against 4.92-5.25 s; 5k and 20k records unchanged; 1M records slower (33.0 s against 30.2 s:
# eight row groups already keep both cores busy, and the many small tasks cost); an incremental
# run's few changed records no faster; block, whose rules already run side by side on cursors,
# slower (0.46 s against 0.42 s at 100k). So it is on for a stage's work over 50,000 records up
# to two row groups, off otherwise, and block does without.
FINE_SCAN_MIN_ROWS = 50_000
FINE_SCAN_MAX_ROWS = 2 * 122_880


@contextmanager
def fine_grained_scans(con: Any, rows: int) -> Iterator[None]:
    """Within the block, DuckDB scans `con`'s tables a vector at a time when the stage works
    on FINE_SCAN_MIN_ROWS to FINE_SCAN_MAX_ROWS records (see there); results are the same either way."""
    if not FINE_SCAN_MIN_ROWS <= rows <= FINE_SCAN_MAX_ROWS:
        yield
        return
    try:
        con.execute("PRAGMA verify_parallelism")
    except Exception:  # noqa: BLE001 - a DuckDB without it (a testing pragma): the default scans
        yield
        return
    try:
        yield
    finally:
        try:
            con.execute("PRAGMA disable_verify_parallelism")
        except Exception:  # noqa: BLE001 - a result still open after an error: the speed setting stays, results do not change
            pass


def table_rows(con: Any, table: str) -> int:
    """Rows of `table` (for fine_grained_scans); a table that cannot be read counts as large (the
    stage reports the problem itself)."""
    try:
        return int(con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])
    except Exception:  # noqa: BLE001
        return FINE_SCAN_MAX_ROWS + 1
