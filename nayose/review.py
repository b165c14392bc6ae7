"""Plans and the analysts' decisions on them, kept in the DuckDB store.

Tables (created on first use):

* `plans(plan_id, created_at, made_at, groups, out_dir, plan_path, document, is_latest, run_id)`:
  every plan made. `created_at` is the plan's own as-of time (the newest modification in the
  input, from merge_plan.json), `made_at` the wall clock when it was made (registered);
  `plan_path` a copy of merge_plan.json kept under `<out_dir>/plans/<plan_id>/` (the published
  merge_plan.json is replaced by the next run, the approved one must stay as approved);
  `document` the plan's header and per-group summary as JSON. Exactly one plan is the latest.
* `plan_groups(plan_id, cluster_id, status, object, size, steps, actions, min_probability,
  has_convert_lead, card_records, card_conflict)`: what a decision may name and what the
  auto-approval policy looks at.
* `plan_decisions(decision_id, plan_id, decision, include_clusters, exclude_clusters, reviewer,
  note, decided_at, approved_clusters, source, run_id)`: every decision, with the approved cluster
  ids resolved (approve: every group; approve_partial: the included groups, else all, minus the
  excluded ones; reject: none).

Decisions are validated before they are written (`record_decision`): the plan must exist, be the
latest and be younger than the maximum age; every named cluster id must be a group of the plan;
a group approved by an earlier decision of the plan is not approved twice. Every write happens in
one transaction, so a failed write leaves no half-recorded plan or decision.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import duckdb

from nayose.errors import NayoseError
from nayose.store import table_exists

Decision = Literal["approve", "reject", "approve_partial"]
DECISIONS = ("approve", "reject", "approve_partial")
DEFAULT_MAX_AGE_HOURS = 72.0
# Fields where two business cards of one person disagreeing is a conflict a human should look at.
CARD_CONFLICT_FIELDS = ("LastName", "FirstName", "Company", "Email", "Phone", "MobilePhone", "Title")


class ReviewError(NayoseError):
    """A decision that cannot be recorded (unknown / outdated plan, unknown cluster ids, ...)."""


@dataclass
class PlanRecord:
    plan_id: str
    created_at: str | None
    made_at: datetime
    groups: int
    out_dir: str
    plan_path: str
    is_latest: bool
    run_id: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["made_at"] = self.made_at.isoformat()
        return d


@dataclass
class DecisionRecord:
    decision_id: str
    plan_id: str
    decision: str
    include_clusters: list[str]
    exclude_clusters: list[str]
    reviewer: str
    note: str
    decided_at: datetime
    approved_clusters: list[str]
    source: str = "review"
    run_id: str | None = None

    @property
    def run_key(self) -> str:
        """The apply run's key: one apply per plan and decision."""
        return f"{self.plan_id}:{self.decision_id}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["decided_at"] = self.decided_at.isoformat()
        return d


@dataclass
class AutoApprovalPolicy:
    """Which groups the nightly run may approve without an analyst (off by default).

    A group qualifies only when it is an `auto` group, every link holding it together has at least
    `min_probability`, no two business cards in it disagree and no card value would be overwritten,
    it needs no cross-object step (no convert_lead) and has at most `max_records` records."""

    enabled: bool = False
    min_probability: float = 0.999
    max_records: int = 3
    reviewer: str = "auto-approval policy"

    def __post_init__(self) -> None:
        if not 0.0 < self.min_probability <= 1.0:
            raise ReviewError(f"auto-approval min_probability must be in (0, 1], got {self.min_probability}")
        if not 2 <= self.max_records <= 3:
            raise ReviewError(f"auto-approval max_records must be 2 or 3 (a Salesforce merge step), got {self.max_records}")


# ---------------------------------------------------------------------------------------------
# Tables


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE TABLE IF NOT EXISTS plans (
            plan_id VARCHAR PRIMARY KEY, created_at VARCHAR, made_at TIMESTAMPTZ NOT NULL,
            groups INTEGER NOT NULL, out_dir VARCHAR, plan_path VARCHAR, document JSON,
            is_latest BOOLEAN NOT NULL, run_id VARCHAR)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS plan_groups (
            plan_id VARCHAR NOT NULL, cluster_id VARCHAR NOT NULL, status VARCHAR, object VARCHAR,
            size INTEGER, steps INTEGER, actions VARCHAR[], min_probability DOUBLE,
            has_convert_lead BOOLEAN, card_records INTEGER, card_conflict BOOLEAN,
            PRIMARY KEY (plan_id, cluster_id))"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS plan_decisions (
            decision_id VARCHAR PRIMARY KEY, plan_id VARCHAR NOT NULL, decision VARCHAR NOT NULL,
            include_clusters VARCHAR[], exclude_clusters VARCHAR[], reviewer VARCHAR NOT NULL,
            note VARCHAR, decided_at TIMESTAMPTZ NOT NULL, approved_clusters VARCHAR[],
            source VARCHAR NOT NULL, run_id VARCHAR)"""
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)


def load_document(plan: str | Path | dict) -> dict:
    """merge_plan.json as a dict (a dict is returned as is)."""
    if isinstance(plan, dict):
        return plan
    path = Path(plan)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewError(f"{path}: plan file not found") from None
    except ValueError as exc:
        raise ReviewError(f"{path}: not a valid merge_plan.json ({exc})") from None


def _group_rows(doc: dict) -> list[dict]:
    rows = []
    for c in doc.get("clusters", []):
        probs = [float(e["match_probability"]) for e in c.get("evidence", []) if e.get("match_probability") is not None]
        actions = [st.get("action") for st in c.get("steps", [])]
        rows.append({
            "cluster_id": c["cluster_id"],
            "status": c.get("status"),
            "object": c.get("object"),
            "size": 1 + len(c.get("loser_ids", [])),
            "steps": len(actions),
            "actions": actions,
            "min_probability": min(probs) if probs else None,
            "has_convert_lead": "convert_lead" in actions,
        })
    return rows


def _card_facts(con: duckdb.DuckDBPyConnection, plan_clusters: set[str]) -> dict[str, tuple[int, bool]]:
    """cluster_id -> (business-card records in the group, two cards disagree on a key field), from
    the store's group_records / raw_records when the plan was made from them."""
    if not (table_exists(con, "group_records") and table_exists(con, "raw_records")):
        return {}
    raw_cols = {r[0] for r in con.execute('DESCRIBE "raw_records"').fetchall()}
    fields = [f for f in CARD_CONFLICT_FIELDS if f in raw_cols]
    disagree = " OR ".join(
        f"count(DISTINCT nullif(lower(trim(CAST(r.\"{f}\" AS VARCHAR))), '')) > 1" for f in fields
    ) or "false"
    rows = con.execute(
        f"""SELECT g.cluster_id, count(*) AS cards, ({disagree}) AS conflict
            FROM group_records g JOIN raw_records r ON r."Id" = g."Id"
            WHERE g.is_card GROUP BY g.cluster_id"""
    ).fetchall()
    return {cid: (int(n), bool(conflict) and int(n) > 1) for cid, n, conflict in rows if cid in plan_clusters}


def _archive(doc: dict, source_path: Path | None, out_dir: Path) -> Path:
    """Keep this plan's files under out_dir/plans/<plan_id>/ (written to a temporary folder, then
    renamed into place); return the kept merge_plan.json."""
    from nayose.plan import write_plan_json

    dest = out_dir / "plans" / doc["plan_id"]
    kept = dest / "merge_plan.json"
    if kept.is_file():
        return kept
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{doc['plan_id']}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        if source_path is not None and source_path.is_file():
            shutil.copy2(source_path, tmp / "merge_plan.json")
            for name in ("merge_plan.csv", "field_changes.csv", "delete_plan.csv"):
                if (source_path.parent / name).is_file():
                    shutil.copy2(source_path.parent / name, tmp / name)
        else:
            write_plan_json(tmp / "merge_plan.json", doc)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not kept.is_file():  # not another writer having kept the same plan meanwhile
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return kept


def register_plan(
    con: duckdb.DuckDBPyConnection,
    plan: str | Path | dict,
    out_dir: str | Path,
    *,
    run_id: str | None = None,
    made_at: datetime | None = None,
    card_conflicts: Iterable[str] = (),
) -> PlanRecord:
    """Record a plan (merge_plan.json path or dict) as the latest one, keep a copy of its files
    under out_dir/plans/<plan_id>/, and list its groups. Registering the same plan_id again (same
    input and config) makes it the latest again with a new made_at; its decisions stay.
    `card_conflicts`: cluster ids where a business-card value would be overwritten (the plan
    check's findings), counted as card conflicts for the auto-approval policy."""
    ensure_tables(con)
    source_path = None if isinstance(plan, dict) else Path(plan)
    doc = load_document(plan)
    if not doc.get("plan_id"):
        raise ReviewError("the plan has no plan_id")
    out = Path(out_dir)
    kept = _archive(doc, source_path, out)
    made = _aware(made_at or _now())
    groups = _group_rows(doc)
    cards = _card_facts(con, {g["cluster_id"] for g in groups})
    overwrites = set(card_conflicts)
    statuses: dict[str, int] = {}
    for g in groups:
        n, conflict = cards.get(g["cluster_id"], (0, False))
        g["card_records"] = n
        g["card_conflict"] = conflict or g["cluster_id"] in overwrites
        statuses[g["status"]] = statuses.get(g["status"], 0) + 1
    summary = {
        "plan_id": doc["plan_id"],
        "created_at": doc.get("created_at"),
        "groups": len(groups),
        "groups_by_status": statuses,
        "plan_path": str(kept),
    }
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("UPDATE plans SET is_latest = false WHERE is_latest")
        con.execute("DELETE FROM plans WHERE plan_id = ?", [doc["plan_id"]])
        con.execute(
            "INSERT INTO plans VALUES (?, ?, ?, ?, ?, ?, ?, true, ?)",
            [doc["plan_id"], doc.get("created_at"), made, len(groups), str(out), str(kept),
             json.dumps(summary, ensure_ascii=False), run_id],
        )
        con.execute("DELETE FROM plan_groups WHERE plan_id = ?", [doc["plan_id"]])
        if groups:
            con.executemany(
                "INSERT INTO plan_groups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [doc["plan_id"], g["cluster_id"], g["status"], g["object"], g["size"], g["steps"], g["actions"],
                     g["min_probability"], g["has_convert_lead"], g["card_records"], g["card_conflict"]]
                    for g in groups
                ],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return PlanRecord(doc["plan_id"], doc.get("created_at"), made, len(groups), str(out), str(kept), True, run_id)


def _plan_from_row(row: Sequence[Any]) -> PlanRecord:
    plan_id, created_at, made_at, groups, out_dir, plan_path, is_latest, run_id = row
    return PlanRecord(plan_id, created_at, _aware(made_at), int(groups), out_dir, plan_path, bool(is_latest), run_id)


_PLAN_COLS = "plan_id, created_at, made_at, groups, out_dir, plan_path, is_latest, run_id"


def get_plan(con: duckdb.DuckDBPyConnection, plan_id: str) -> PlanRecord | None:
    if not table_exists(con, "plans"):
        return None
    row = con.execute(f"SELECT {_PLAN_COLS} FROM plans WHERE plan_id = ?", [plan_id]).fetchone()
    return _plan_from_row(row) if row else None


def latest_plan(con: duckdb.DuckDBPyConnection) -> PlanRecord | None:
    if not table_exists(con, "plans"):
        return None
    row = con.execute(f"SELECT {_PLAN_COLS} FROM plans WHERE is_latest ORDER BY made_at DESC LIMIT 1").fetchone()
    return _plan_from_row(row) if row else None


def plan_cluster_ids(con: duckdb.DuckDBPyConnection, plan_id: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT cluster_id FROM plan_groups WHERE plan_id = ? ORDER BY cluster_id", [plan_id]
    ).fetchall()]


# ---------------------------------------------------------------------------------------------
# Decisions


def _clean_ids(ids: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for raw in ids or []:
        for part in str(raw).replace(",", " ").split():
            if part and part not in out:
                out.append(part)
    return out


def _list(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" … and {len(ids) - limit} more" if len(ids) > limit else "")


def _age_text(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def validate_decision(
    con: duckdb.DuckDBPyConnection,
    plan_id: str,
    decision: str,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    reviewer: str,
    max_age_hours: float | None = DEFAULT_MAX_AGE_HOURS,
    now: datetime | None = None,
) -> tuple[PlanRecord, list[str], list[str], list[str]]:
    """Check a decision; return (plan, include, exclude, approved cluster ids) or raise ReviewError
    with a message for the analyst."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not (reviewer or "").strip():
        raise ReviewError("reviewer is required: who takes this decision")
    plan_id = (plan_id or "").strip()
    plan = get_plan(con, plan_id) if plan_id else None
    latest = latest_plan(con)
    if plan is None:
        hint = f"; the latest plan is {latest.plan_id} (made {latest.made_at:%Y-%m-%d %H:%M %Z})" if latest else "; no plan has been made yet"
        raise ReviewError(f"plan {plan_id or '(empty)'} is not known{hint}")
    if not plan.is_latest:
        after = f"{latest.plan_id} was made after it ({latest.made_at:%Y-%m-%d %H:%M %Z})" if latest else "a newer plan exists"
        raise ReviewError(
            f"plan {plan_id} is not the latest plan: {after}. Review and decide on the latest plan instead."
        )
    now = _aware(now or _now())
    if max_age_hours is not None and max_age_hours > 0:
        age = now - plan.made_at
        if age > timedelta(hours=max_age_hours):
            raise ReviewError(
                f"plan {plan_id} was made {plan.made_at:%Y-%m-%d %H:%M %Z}, {_age_text(age)} ago: older than the "
                f"maximum age of {max_age_hours:g} h for a decision. Make a new plan (materialize merge_plan) and review that."
            )
    inc, exc = _clean_ids(include), _clean_ids(exclude)
    known = plan_cluster_ids(con, plan_id)
    known_set = set(known)
    unknown = [c for c in inc + exc if c not in known_set]
    if unknown:
        raise ReviewError(
            f"cluster id(s) not in plan {plan_id}: {_list(unknown)} (the plan has {len(known):,} groups; "
            "a group's cluster_id is the smallest record Id in it, see clusters.csv or the plan's group index)"
        )
    both = [c for c in inc if c in set(exc)]
    if both:
        raise ReviewError(f"cluster id(s) both included and excluded: {_list(both)}")
    if decision in ("approve", "reject") and (inc or exc):
        raise ReviewError(
            f"{decision} applies to the whole plan and takes no cluster ids; "
            "use approve_partial with include_clusters / exclude_clusters to approve part of it"
        )
    if decision == "reject":
        return plan, inc, exc, []
    if decision == "approve_partial" and not (inc or exc):
        raise ReviewError("approve_partial needs include_clusters or exclude_clusters (use approve for the whole plan)")
    base = inc if inc else known
    excluded = set(exc)
    approved = sorted(c for c in base if c not in excluded)
    if not approved:
        raise ReviewError(f"the decision approves no group of plan {plan_id}")
    earlier: dict[str, str] = {}
    for did, clusters in con.execute(
        "SELECT decision_id, approved_clusters FROM plan_decisions WHERE plan_id = ? AND decision <> 'reject' "
        "ORDER BY decided_at", [plan_id]
    ).fetchall():
        for c in clusters or []:
            earlier.setdefault(c, did)
    again = [c for c in approved if c in earlier]
    if again:
        raise ReviewError(
            f"group(s) already approved for plan {plan_id}: {_list(again)} (decision {earlier[again[0]]}); "
            "a group is applied once, exclude them"
        )
    return plan, inc, exc, approved


def record_decision(
    con: duckdb.DuckDBPyConnection,
    plan_id: str,
    decision: str,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    reviewer: str,
    note: str = "",
    max_age_hours: float | None = DEFAULT_MAX_AGE_HOURS,
    now: datetime | None = None,
    source: str = "review",
    run_id: str | None = None,
) -> DecisionRecord:
    """Validate and record a decision (see validate_decision); return it."""
    ensure_tables(con)
    con.execute("BEGIN TRANSACTION")
    try:
        _, inc, exc, approved = validate_decision(
            con, plan_id, decision, include=include, exclude=exclude, reviewer=reviewer,
            max_age_hours=max_age_hours, now=now,
        )
        decided = _aware(now or _now())
        rec = DecisionRecord(
            decision_id=f"dec_{decided:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}",
            plan_id=plan_id.strip(), decision=decision, include_clusters=inc, exclude_clusters=exc,
            reviewer=reviewer.strip(), note=note or "", decided_at=decided, approved_clusters=approved,
            source=source, run_id=run_id,
        )
        con.execute(
            "INSERT INTO plan_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [rec.decision_id, rec.plan_id, rec.decision, rec.include_clusters, rec.exclude_clusters, rec.reviewer,
             rec.note, rec.decided_at, rec.approved_clusters, rec.source, rec.run_id],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rec


_DECISION_COLS = (
    "decision_id, plan_id, decision, include_clusters, exclude_clusters, reviewer, note, decided_at, "
    "approved_clusters, source, run_id"
)


def _decision_from_row(row: Sequence[Any]) -> DecisionRecord:
    did, pid, dec, inc, exc, reviewer, note, at, approved, source, run_id = row
    return DecisionRecord(did, pid, dec, list(inc or []), list(exc or []), reviewer, note or "", _aware(at),
                          list(approved or []), source, run_id)


def get_decision(con: duckdb.DuckDBPyConnection, decision_id: str) -> DecisionRecord | None:
    if not table_exists(con, "plan_decisions"):
        return None
    row = con.execute(f"SELECT {_DECISION_COLS} FROM plan_decisions WHERE decision_id = ?", [decision_id]).fetchone()
    return _decision_from_row(row) if row else None


def decisions(con: duckdb.DuckDBPyConnection, plan_id: str | None = None) -> list[DecisionRecord]:
    if not table_exists(con, "plan_decisions"):
        return []
    where, params = ("WHERE plan_id = ?", [plan_id]) if plan_id else ("", [])
    return [_decision_from_row(r) for r in con.execute(
        f"SELECT {_DECISION_COLS} FROM plan_decisions {where} ORDER BY decided_at, decision_id", params
    ).fetchall()]


def approvals_since(con: duckdb.DuckDBPyConnection, after: datetime | None = None) -> list[DecisionRecord]:
    """Approvals (approve / approve_partial) decided after `after` (all when None), oldest first."""
    if not table_exists(con, "plan_decisions"):
        return []
    sql = f"SELECT {_DECISION_COLS} FROM plan_decisions WHERE decision IN ('approve', 'approve_partial')"
    params: list = []
    if after is not None:
        sql += " AND decided_at > ?"
        params.append(_aware(after))
    return [_decision_from_row(r) for r in con.execute(sql + " ORDER BY decided_at, decision_id", params).fetchall()]


def auto_approvable(con: duckdb.DuckDBPyConnection, plan_id: str, policy: AutoApprovalPolicy) -> list[str]:
    """Cluster ids of the plan that the policy approves (not yet approved by another decision)."""
    rows = con.execute(
        """SELECT cluster_id FROM plan_groups
           WHERE plan_id = ? AND status = 'auto' AND steps > 0 AND size <= ?
             AND min_probability IS NOT NULL AND min_probability >= ?
             AND NOT has_convert_lead AND NOT card_conflict
           ORDER BY cluster_id""",
        [plan_id, int(policy.max_records), float(policy.min_probability)],
    ).fetchall()
    done = {c for d in decisions(con, plan_id) if d.decision != "reject" for c in d.approved_clusters}
    return [r[0] for r in rows if r[0] not in done]


def auto_approve(
    con: duckdb.DuckDBPyConnection,
    plan_id: str,
    policy: AutoApprovalPolicy,
    *,
    now: datetime | None = None,
    run_id: str | None = None,
) -> DecisionRecord | None:
    """Record the policy's approval of the qualifying groups of the (latest) plan; None when the
    policy is off or no group qualifies."""
    if not policy.enabled:
        return None
    ensure_tables(con)
    eligible = auto_approvable(con, plan_id, policy)
    if not eligible:
        return None
    return record_decision(
        con, plan_id, "approve_partial", include=eligible, reviewer=policy.reviewer,
        note=(f"auto-approved: auto groups of ≤ {policy.max_records} records, every link ≥ {policy.min_probability:g}, "
              "no business-card conflict, no convert_lead"),
        max_age_hours=None, now=now, source="auto_policy", run_id=run_id,
    )
