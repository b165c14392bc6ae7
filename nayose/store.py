"""The DuckDB store: one file (or memory) holding every stage's table."""

from __future__ import annotations

import tempfile
import time
import weakref
from pathlib import Path

import duckdb

from nayose import lock
from nayose.errors import NayoseError

MEMORY_LIMIT = "3GB"  # stays inside the 4 GB peak target at 1M records; DuckDB spills beyond it


def connect(
    db_path: str | Path | None = None, read_only: bool = False, lock_timeout: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the store: a DuckDB file (created with its folder), or memory when db_path is None or ":memory:".

    A writable file connection first takes the store's writer lock (`nayose.lock`, a file lock
    beside the database): while another process writes, it waits up to `lock_timeout` seconds
    (default $NAYOSE_LOCK_TIMEOUT, else 300 s), then fails with a message naming that process.
    The lock is let go when the connection object is released. Read-only connections take no lock."""
    if db_path is None or str(db_path) == ":memory:":  # (DuckDB's name for memory: no file, no lock file)
        con = duckdb.connect(":memory:")
    else:
        path = Path(db_path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire(path, lock_timeout)
        deadline = time.monotonic() + (lock.default_timeout() if lock_timeout is None else max(lock_timeout, 0.0))
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                # A reader in another process that does not take the store lock holds the file
                # for a moment: a writer retries until its wait is over.
                if not read_only and "lock" in str(exc).lower() and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                if not read_only:
                    lock.release(path)
                raise NayoseError(f"{path}: cannot open the DuckDB store ({exc})") from None
        if not read_only:
            weakref.finalize(con, lock.release, path)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/nayose_duckdb_spill'")
    con.execute("SET preserve_insertion_order = false")
    return con


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()[0][0]
    )


def drop_tables(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    """Drop a stage's work tables (those that exist)."""
    for t in tables:
        con.execute(f'DROP TABLE IF EXISTS "{t}"')
