"""The store resource: where the stage tables live (one DuckDB file) and where outputs go.

Every asset opens the store, runs its stage on the tables already there and closes it again, so
steps may run in separate processes. Besides the engine's tables the store keeps one small
bookkeeping table, `stage_results`, with each stage's StageResult (rows, seconds, stats) and
source details, so that later steps (the evidence columns, summary.json, the evaluation against
a sample's truth) can use what earlier steps reported.
"""


import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import dagster as dg
import duckdb
from pydantic import Field

from nayose.config import Config, load_config
from nayose.errors import NayoseError
from nayose.stage import StageResult
from nayose.store import connect, table_exists

STAGE_RESULTS = "stage_results"


class NayoseStore(dg.ConfigurableResource):
    """The DuckDB file holding every stage's table, the rules file, and the output folder."""

    database: str = Field(
        default="data/nayose.duckdb",
        description="DuckDB file holding the stage tables (created with its folder). Relative to the working directory.",
    )
    config_path: str | None = Field(
        default=None,
        description="nayose rules file (YAML); the documented default configuration when empty.",
    )
    output_dir: str = Field(
        default="out",
        description=(
            "Folder for clusters.csv, pairs.csv, evidence.csv, summary.json, the score histogram and the "
            "plan files (merge_plan.json, merge_plan.csv, field_changes.csv, delete_plan.csv)."
        ),
    )
    review_share_warn: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="The survivorship check review_volume warns when more than this share of the groups needs review.",
    )
    large_group_warn: int = Field(
        default=10,
        ge=2,
        description="The survivorship check group_size warns about groups with more records than this.",
    )

    @property
    def database_path(self) -> Path:
        return Path(self.database)

    @property
    def data_dir(self) -> Path:
        """Folder beside the database, where generated inputs (the sample org) are written."""
        return self.database_path.parent

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir)

    def load_config(self) -> Config:
        try:
            return load_config(self.config_path or None)
        except NayoseError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.database.strip() in ("", ":memory:"):
            raise dg.Failure(
                description="NayoseStore.database must be a file: each asset step opens the store anew.",
                allow_retries=False,
            )
        try:
            con = connect(self.database_path)
        except NayoseError as exc:
            raise dg.Failure(description=str(exc)) from None
        try:
            yield con
        finally:
            con.close()


def require_tables(con: duckdb.DuckDBPyConnection, database: str | Path, *tables: str) -> None:
    """Fail with a readable message when an upstream table has not been materialized yet."""
    missing = [t for t in tables if not table_exists(con, t)]
    if missing:
        raise dg.Failure(
            description=(
                f"{database}: table(s) {', '.join(missing)} not found; "
                "materialize the upstream assets first (or the whole nayose_job)."
            ),
            allow_retries=False,
        )


def save_stage_result(
    con: duckdb.DuckDBPyConnection, result: StageResult, extra: dict[str, Any] | None = None
) -> None:
    """Record a stage's result in the store (one row per stage, replaced on each run)."""
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {STAGE_RESULTS} (
            stage VARCHAR PRIMARY KEY, table_name VARCHAR, rows BIGINT, seconds DOUBLE,
            stats JSON, extra JSON, recorded_at TIMESTAMPTZ)"""
    )
    con.execute(
        f"INSERT OR REPLACE INTO {STAGE_RESULTS} VALUES (?, ?, ?, ?, ?, ?, now())",
        [
            result.stage,
            result.table,
            int(result.rows),
            float(result.seconds),
            json.dumps(result.stats, ensure_ascii=False, default=_json_default),
            json.dumps(extra or {}, ensure_ascii=False, default=_json_default),
        ],
    )


def load_stage_results(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[StageResult, dict]]:
    """Every recorded stage: stage name -> (StageResult, extra)."""
    if not table_exists(con, STAGE_RESULTS):
        return {}
    rows = con.execute(
        f"SELECT stage, table_name, rows, seconds, stats, extra FROM {STAGE_RESULTS}"
    ).fetchall()
    out = {}
    for stage, table, n, seconds, stats, extra in rows:
        out[stage] = (
            StageResult(stage=stage, table=table, rows=int(n), seconds=float(seconds), stats=json.loads(stats or "{}")),
            json.loads(extra or "{}"),
        )
    return out


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
