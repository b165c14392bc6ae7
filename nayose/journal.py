"""The applier's journal in the DuckDB store: what was about to be done, what the org looked like
before, and what happened — written before and after every call so a killed run can resume and an
applied plan can be undone.

Tables (created on first use, in the same file as the pipeline's tables):

``apply_runs(run_id, plan_id, kind, mode, started_at, finished_at, report)``
    one row per `nayose apply` / `nayose undo` run; `kind` apply | undo, `mode` dry_run | execute,
    `report` the run's report as JSON (written when the run ends).

``apply_journal(seq, run_id, plan_id, step_key, cluster_id, action, status, attempt, request,
snapshot, result, at)``
    append-only: every status change of a step is a new row (`seq` orders them), so the history of
    a step reads top to bottom (intent → done, intent → unknown → done …). `status` is one of
    ``intent | done | failed | stale | dry_run | unknown`` (undo steps use the same statuses).
    `request` is the logical request (ids, the field values sent), never the wire envelope;
    `snapshot` (on intent rows) every record involved with all its fields and the ids of the
    children a merge re-parents; `result` the call's result or error. JSON text columns.

Each write opens the store, inserts one row in its own transaction and closes it again: a
SIGKILL can never leave half an entry, and the file is not held open across network calls. Every
text written passes through `nayose.salesforce.scrub` with the run's secrets as a last guard
(nothing secret is meant to reach it in the first place).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from nayose.store import connect

STATUSES = ("intent", "done", "failed", "stale", "dry_run", "unknown")
#: statuses that say something about an executed (or attempted) call
EXEC_STATUSES = ("intent", "done", "failed", "unknown")

_DDL = [
    """CREATE TABLE IF NOT EXISTS apply_runs (
        run_id VARCHAR PRIMARY KEY, plan_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, mode VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, report VARCHAR)""",
    "CREATE SEQUENCE IF NOT EXISTS apply_journal_seq START 1",
    """CREATE TABLE IF NOT EXISTS apply_journal (
        seq BIGINT PRIMARY KEY DEFAULT nextval('apply_journal_seq'), run_id VARCHAR, plan_id VARCHAR NOT NULL,
        step_key VARCHAR NOT NULL, cluster_id VARCHAR, action VARCHAR NOT NULL, status VARCHAR NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1, request VARCHAR, snapshot VARCHAR, result VARCHAR,
        "at" TIMESTAMP NOT NULL)""",
]
COLUMNS = ("seq", "run_id", "plan_id", "step_key", "cluster_id", "action", "status", "attempt",
           "request", "snapshot", "result", "at")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Journal:
    """The journal of one DuckDB file. `secrets` are scrubbed from everything written."""

    def __init__(self, db_path: str | Path, secrets: Iterable[str] = ()):
        self.db_path = Path(db_path)
        self.secrets = [s for s in secrets if s]
        self._ready = False

    # ---- plumbing ----------------------------------------------------------------------------
    def _dump(self, value: Any) -> str | None:
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        if self.secrets:
            from nayose.salesforce import scrub

            text = scrub(text, self.secrets)
        return text

    def _execute(self, statements: list[tuple[str, list]], fetch: bool = False) -> list[tuple]:
        con = connect(self.db_path)
        try:
            if not self._ready:
                for ddl in _DDL:
                    con.execute(ddl)
                self._ready = True
            rows: list[tuple] = []
            con.execute("BEGIN TRANSACTION")
            for sql, params in statements:
                cur = con.execute(sql, params)
                if fetch:
                    rows = cur.fetchall()
            con.execute("COMMIT")
            return rows
        finally:
            con.close()
            del con

    def ensure(self) -> None:
        """Create the tables (also done by the first write)."""
        self._execute([])

    # ---- runs ---------------------------------------------------------------------------------
    def start_run(self, plan_id: str, kind: str, mode: str) -> str:
        run_id = f"{kind}_{_now().strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
        self._execute([("INSERT INTO apply_runs (run_id, plan_id, kind, mode, started_at) VALUES (?, ?, ?, ?, ?)",
                        [run_id, plan_id, kind, mode, _now()])])
        return run_id

    def finish_run(self, run_id: str, report: dict) -> None:
        self._execute([("UPDATE apply_runs SET finished_at = ?, report = ? WHERE run_id = ?",
                        [_now(), self._dump(report), run_id])])

    # ---- entries ------------------------------------------------------------------------------
    def write(self, *, plan_id: str, step_key: str, action: str, status: str, run_id: str | None = None,
              cluster_id: str | None = None, attempt: int = 1, request: Any = None, snapshot: Any = None,
              result: Any = None) -> int:
        """Append one entry (its own transaction); returns its seq."""
        if status not in STATUSES:
            raise ValueError(f"unknown journal status {status!r}")
        rows = self._execute([(
            "INSERT INTO apply_journal (run_id, plan_id, step_key, cluster_id, action, status, attempt, request, "
            "snapshot, result, \"at\") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            [run_id, plan_id, step_key, cluster_id, action, status, attempt, self._dump(request),
             self._dump(snapshot), self._dump(result), _now()],
        )], fetch=True)
        return int(rows[0][0])

    def write_many(self, entries: list[dict]) -> int:
        """Append several entries in one transaction (all or none): each a dict of `write`'s keyword
        arguments. A batch request's intents are journaled together before the one call. Returns
        how many were written."""
        stmts = []
        for e in entries:
            status = e["status"]
            if status not in STATUSES:
                raise ValueError(f"unknown journal status {status!r}")
            stmts.append((
                "INSERT INTO apply_journal (run_id, plan_id, step_key, cluster_id, action, status, attempt, request, "
                "snapshot, result, \"at\") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [e.get("run_id"), e["plan_id"], e["step_key"], e.get("cluster_id"), e["action"], status,
                 int(e.get("attempt", 1)), self._dump(e.get("request")), self._dump(e.get("snapshot")),
                 self._dump(e.get("result")), _now()],
            ))
        if stmts:
            self._execute(stmts)
        return len(stmts)

    def entries(self, plan_id: str, prefix: str | None = None) -> list[dict]:
        """Every entry of a plan (optionally of step keys starting with prefix), oldest first, JSON decoded."""
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        sql = f"SELECT {cols} FROM apply_journal WHERE plan_id = ?"
        params: list = [plan_id]
        if prefix is not None:
            sql += " AND starts_with(step_key, ?)"
            params.append(prefix)
        sql += " ORDER BY seq"
        rows = self._execute([(sql, params)], fetch=True)
        out = []
        for r in rows:
            d = dict(zip(COLUMNS, r))
            for k in ("request", "snapshot", "result"):
                d[k] = json.loads(d[k]) if d[k] is not None else None
            out.append(d)
        return out

    def runs(self, plan_id: str | None = None) -> list[dict]:
        sql = "SELECT run_id, plan_id, kind, mode, started_at, finished_at, report FROM apply_runs"
        params: list = []
        if plan_id is not None:
            sql += " WHERE plan_id = ?"
            params.append(plan_id)
        rows = self._execute([(sql + " ORDER BY started_at, run_id", params)], fetch=True)
        cols = ("run_id", "plan_id", "kind", "mode", "started_at", "finished_at", "report")
        out = []
        for r in rows:
            d = dict(zip(cols, r))
            d["report"] = json.loads(d["report"]) if d["report"] else None
            out.append(d)
        return out


def latest_by_step(entries: list[dict], statuses: Iterable[str] = EXEC_STATUSES) -> dict[str, dict]:
    """step_key → its latest entry among `statuses` (default: the execution statuses, so a later
    dry run or stale mark never hides that a call was made)."""
    keep = set(statuses)
    out: dict[str, dict] = {}
    for e in entries:
        if e["status"] in keep:
            out[e["step_key"]] = e
    return out
