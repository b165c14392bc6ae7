"""The DuckDB store: one file (or memory) holding every stage's table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from nayose.errors import NayoseError

MEMORY_LIMIT = "3GB"  # stays inside the 4 GB peak target at 1M records; DuckDB spills beyond it


def connect(db_path: str | Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store: a DuckDB file (created with its folder), or memory when db_path is None."""
    if db_path is None:
        con = duckdb.connect(":memory:")
    else:
        path = Path(db_path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise NayoseError(f"{path}: cannot open the DuckDB store ({exc})") from None
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
