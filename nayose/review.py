"""Plans and the analysts' decisions on them, kept in the DuckDB store.

Two kinds of plan go through the same review → approval → apply path:

* **merge** plans (merge_plan.json: duplicate groups, decided by cluster id);
* **sync** plans (sync_plan.json of the sync health run: the flag plan `flag_plan.csv` setting the
  Marketing Data Sharing field, and the prospect delete plan `sync_delete_plan.csv`), decided by
  record Id and / or by reason.

Tables (created on first use; older stores get the newer columns added, a plan without a kind is a
merge plan):

* `plans(plan_id, created_at, made_at, groups, out_dir, plan_path, document, is_latest, run_id,
  kind)`: every plan made. `created_at` is the plan's own as-of time (the newest modification in
  the input), `made_at` the wall clock when it was made (registered); `plan_path` a copy of the
  plan document (merge_plan.json / sync_plan.json) kept under `<out_dir>/plans/<plan_id>/` with the
  plan's CSV files (the published files are replaced by the next run, the approved ones must stay
  as approved); `groups` the number of groups (merge) or of flag and delete rows (sync); `document`
  the plan's header and summary as JSON. Exactly one plan **per kind** is the latest: a newer sync
  plan does not outdate the merge plan under review, and the other way round.
* `plan_groups(plan_id, cluster_id, status, object, size, steps, actions, min_probability,
  has_convert_lead, card_records, card_conflict)`: what a decision on a merge plan may name and what
  the auto-approval policy looks at.
* `plan_items(plan_id, item_key, item_kind, Id, object, field, value, reason_code, reason, as_of)`:
  the rows of a sync plan. `item_kind` is `flag` or `delete`; `item_key` the applier's step key
  (`flag/<Id>/<field>`, `delete/Prospect/<Id>`, `delete/<Id>`), so the journal names the same rows;
  `reason_code` what a decision selects by (`eligible`, `over_cap`, `duplicate_prospect`,
  `exclusion:billing`, `route:<rule>`, `stale`, `quality:no_company` …).
* `plan_decisions(decision_id, plan_id, decision, include_clusters, exclude_clusters, reviewer,
  note, decided_at, approved_clusters, source, run_id, include_ids, exclude_ids, include_reasons,
  approved_items)`: every decision, with the approved selection resolved. Merge plans: approve →
  every group; approve_partial → the included groups, else all, minus the excluded ones. Sync plans:
  approve → every row; approve_partial → the rows of the included record Ids (else all) that match
  one of the included reasons (else any), minus the rows of the excluded Ids. reject: nothing.

A reason selector is `[flag:|delete:]REASON`: REASON is a reason code (`exclusion:billing`), its
name without the family (`billing`, `no_company`), a family (`exclusion`, `quality`, `route`) or `*`;
the optional `flag:` / `delete:` prefix limits it to the flag rows or the prospect deletes
(`delete:over_cap`: only the prospects deleted because they are over the cap; `flag` alone: every
flag row).

* `plan_checks(plan_id, check_name, passed, run_id, evaluated_at, detail)`: the outcomes of the
  blocking checks a plan was registered as needing (`plans.required_checks`, reported with
  `record_check` by the Dagster checks of merge_plan).

Decisions are validated before they are written (`record_decision`): the plan must exist, be the
latest of its kind and be younger than the maximum age; an approval needs every required blocking
check passed (`require_checks_passed`) and no reject of the plan (`plan_rejection`: a reject also
stops the approvals not applied yet, see pipelines/review.py); every named cluster id / record Id
must be in the plan and every reason selector must select something; with include ids given, the
exclude ids must be among them (an exclude list beside an include list is refused, not ignored); a
group or row approved by an earlier decision of the plan is not approved twice. A merge plan id
names one plan: registering other files under a kept plan_id is refused. Every write happens in one transaction, so a failed
write leaves no half-recorded plan or decision.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import duckdb
import pyarrow as pa

from nayose.errors import NayoseError
from nayose.plan import PLAN_OUTPUT_FILES
from nayose.store import table_exists

Decision = Literal["approve", "reject", "approve_partial"]
DECISIONS = ("approve", "reject", "approve_partial")
PLAN_KINDS = ("merge", "sync")
ITEM_KINDS = ("flag", "delete")
# The plan document and the files kept beside it under <out_dir>/plans/<plan_id>/, per kind.
PLAN_FILES = {
    "merge": (PLAN_OUTPUT_FILES[0], PLAN_OUTPUT_FILES[1:]),
    "sync": ("sync_plan.json", ("flag_plan.csv", "sync_delete_plan.csv", "sync_health.md", "sync_health.csv",
                                "sync_eligibility.csv")),
}
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
    kind: str = "merge"

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
    include_ids: list[str] = field(default_factory=list)
    exclude_ids: list[str] = field(default_factory=list)
    include_reasons: list[str] = field(default_factory=list)
    approved_items: list[str] = field(default_factory=list)   # sync plans: the approved rows' item keys
    plan_kind: str = "merge"

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


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0].lower() for r in con.execute(f'DESCRIBE "{table}"').fetchall()}


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, and add the columns a store made by an older nayose lacks (a plan without
    a kind is a merge plan)."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS plans (
            plan_id VARCHAR PRIMARY KEY, created_at VARCHAR, made_at TIMESTAMPTZ NOT NULL,
            groups INTEGER NOT NULL, out_dir VARCHAR, plan_path VARCHAR, document JSON,
            is_latest BOOLEAN NOT NULL, run_id VARCHAR, kind VARCHAR DEFAULT 'merge')"""
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
            source VARCHAR NOT NULL, run_id VARCHAR, include_ids VARCHAR[], exclude_ids VARCHAR[],
            include_reasons VARCHAR[], approved_items VARCHAR[])"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS plan_items (
            plan_id VARCHAR NOT NULL, item_key VARCHAR NOT NULL, item_kind VARCHAR NOT NULL, "Id" VARCHAR NOT NULL,
            object VARCHAR, field VARCHAR, value VARCHAR, reason_code VARCHAR, reason VARCHAR, as_of VARCHAR,
            PRIMARY KEY (plan_id, item_key))"""
    )
    # The outcomes of a plan's blocking checks (the Dagster checks of merge_plan report them).
    con.execute(
        """CREATE TABLE IF NOT EXISTS plan_checks (
            plan_id VARCHAR NOT NULL, check_name VARCHAR NOT NULL, passed BOOLEAN NOT NULL, run_id VARCHAR,
            evaluated_at TIMESTAMPTZ NOT NULL, detail VARCHAR, PRIMARY KEY (plan_id, check_name))"""
    )
    # Migrate stores made before sync plans were reviewed (and before blocking checks were recorded).
    for table, cols in (
        ("plans", [("kind", "VARCHAR DEFAULT 'merge'"), ("required_checks", "VARCHAR[]")]),
        ("plan_decisions", [("include_ids", "VARCHAR[]"), ("exclude_ids", "VARCHAR[]"),
                            ("include_reasons", "VARCHAR[]"), ("approved_items", "VARCHAR[]")]),
    ):
        have = _columns(con, table)
        for name, ddl in cols:
            if name not in have:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN {name} {ddl}')


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)


def load_document(plan: str | Path | dict) -> dict:
    """merge_plan.json / sync_plan.json as a dict (a dict is returned as is)."""
    if isinstance(plan, dict):
        return plan
    path = Path(plan)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewError(f"{path}: plan file not found") from None
    except ValueError as exc:
        raise ReviewError(f"{path}: not a valid plan document ({exc})") from None


def plan_kind(doc: dict) -> str:
    kind = doc.get("kind") or "merge"
    if kind not in PLAN_KINDS:
        raise ReviewError(f"plan {doc.get('plan_id')}: unknown plan kind {kind!r} (expected {' or '.join(PLAN_KINDS)})")
    return kind


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


#: A Lead of an existing customer Account (lead_accounts.csv) to convert, listed among a merge plan's
#: groups under this prefix and its LeadId: approved only by name (approve_partial's include), never by
#: "approve" of the whole plan nor by the auto-approval policy (a conversion cannot be reverted).
LEAD_CONVERSION_PREFIX = "lead_account/"


def lead_conversion_rows(kept: Path) -> list[dict]:
    """The rows of lead_accounts.csv kept beside a plan document (none when the plan has none)."""
    path = kept.parent / "lead_accounts.csv"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [{k: (v.lstrip("'") if isinstance(v, str) else v) for k, v in r.items()} for r in csv.DictReader(f)]


def _conversion_groups(kept: Path) -> list[dict]:
    return [{"cluster_id": LEAD_CONVERSION_PREFIX + r["LeadId"], "status": "review", "object": "Lead", "size": 1,
             "steps": 1, "actions": ["convert_lead"], "min_probability": None, "has_convert_lead": True}
            for r in lead_conversion_rows(kept) if r.get("LeadId")]


def approved_work(decision: "DecisionRecord", kept: str | Path) -> tuple[list[str], list[dict]]:
    """(the approved groups of a merge plan, the approved lead_accounts.csv rows) of an approval: the
    conversions the analyst named are read from the plan's kept files."""
    prefix = LEAD_CONVERSION_PREFIX
    groups = [c for c in decision.approved_clusters if not c.startswith(prefix)]
    leads = {c[len(prefix):] for c in decision.approved_clusters if c.startswith(prefix)}
    rows = [r for r in lead_conversion_rows(Path(kept)) if r.get("LeadId") in leads]
    missing = leads - {r["LeadId"] for r in rows}
    if missing:
        raise ReviewError(f"the kept files of plan {decision.plan_id} no longer hold {len(missing)} approved lead "
                          f"conversion(s) ({_list(sorted(missing))})")
    return groups, rows


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


def _archive(doc: dict, source_path: Path | None, out_dir: Path, kind: str = "merge") -> Path:
    """Keep this plan's files under out_dir/plans/<plan_id>/ (written to a temporary folder, then
    renamed into place); return the kept plan document (merge_plan.json / sync_plan.json)."""
    from nayose.plan import write_plan_json

    main, extras = PLAN_FILES[kind]
    dest = out_dir / "plans" / doc["plan_id"]
    kept = dest / main
    if kept.is_file():
        return kept
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{doc['plan_id']}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        if source_path is not None and source_path.is_file():
            shutil.copy2(source_path, tmp / main)
            for name in extras:
                if (source_path.parent / name).is_file():
                    shutil.copy2(source_path.parent / name, tmp / name)
        else:
            write_plan_json(tmp / main, doc)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not kept.is_file():  # not another writer having kept the same plan meanwhile
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return kept


def _kept_digests(kept: Path, kind: str) -> dict[str, str]:
    """sha256 of each file kept with a plan (its document and the CSVs beside it)."""
    main, extras = PLAN_FILES[kind]
    return {name: hashlib.sha256((kept.parent / name).read_bytes()).hexdigest()
            for name in (main, *extras) if (kept.parent / name).is_file()}


def _stored_digests(con: duckdb.DuckDBPyConnection, plan_id: str) -> dict[str, str] | None:
    rows = con.execute("SELECT document FROM plans WHERE plan_id = ?", [plan_id]).fetchall()
    if not rows or rows[0][0] is None:
        return None
    return (json.loads(rows[0][0]) or {}).get("files_sha256")


def _differing_files(kept: Path, doc: dict, source_path: Path | None, kind: str) -> list[str]:
    """The files of a plan about to be registered that differ from those already kept under its
    plan_id (none when nothing is kept yet)."""
    if not kept.is_file():
        return []
    main, extras = PLAN_FILES[kind]
    if source_path is None or not source_path.is_file():
        return [] if load_document(kept) == json.loads(json.dumps(doc)) else [main]
    names = {main: source_path, **{n: source_path.parent / n for n in extras}}
    diff = []
    for name, src in names.items():
        old = kept.parent / name
        if src.is_file() != old.is_file() or (
                src.is_file() and hashlib.sha256(src.read_bytes()).digest() != hashlib.sha256(old.read_bytes()).digest()):
            diff.append(name)
    return diff


def verified_document(con: duckdb.DuckDBPyConnection, plan: "PlanRecord") -> dict:
    """The plan's kept document, after checking every kept file against the digests recorded when
    the plan was first registered: an approval is of what the analyst reviewed, so a kept file
    edited since (another surviving value, a record added to a merge) is refused, not applied.
    Plans registered by an older nayose have no digests: their files are taken as they are."""
    kept = Path(plan.plan_path)
    data = kept.read_bytes()
    stored = _stored_digests(con, plan.plan_id)
    if stored:
        now = _kept_digests(kept, plan.kind or "merge")
        now[kept.name] = hashlib.sha256(data).hexdigest()  # (the bytes this call returns)
        changed = sorted(n for n in set(stored) | set(now) if stored.get(n) != now.get(n))
        if changed:
            raise ReviewError(f"the kept files of plan {plan.plan_id} ({kept.parent}) changed after the plan was "
                              f"registered ({', '.join(changed)}): not applied; make and review a new plan")
    return json.loads(data.decode("utf-8"))


def register_plan(
    con: duckdb.DuckDBPyConnection,
    plan: str | Path | dict,
    out_dir: str | Path,
    *,
    run_id: str | None = None,
    made_at: datetime | None = None,
    card_conflicts: Iterable[str] = (),
    reason_codes: Mapping[str, str] | None = None,
    required_checks: Iterable[str] = (),
) -> PlanRecord:
    """Record a plan (merge_plan.json path or dict, or a sync plan's sync_plan.json path) as the
    latest plan of its kind, keep a copy of its files under out_dir/plans/<plan_id>/, and list its
    groups (merge) or rows (sync, see register_sync_plan). Registering the same plan_id again (the
    same plan: its id covers its content) makes it the latest again with a new made_at; its decisions
    stay. A merge plan whose files differ from those kept under the same plan_id is refused: one
    plan id names one plan.
    `card_conflicts`: cluster ids where a business-card value would be overwritten (the plan
    check's findings), counted as card conflicts for the auto-approval policy.
    `required_checks`: the blocking checks the plan must pass before it can be approved (their
    outcomes are reported with record_check; none: no gate). Registering clears earlier outcomes:
    this run's checks decide."""
    ensure_tables(con)
    source_path = None if isinstance(plan, dict) else Path(plan)
    doc = load_document(plan)
    if not doc.get("plan_id"):
        raise ReviewError("the plan has no plan_id")
    if plan_kind(doc) == "sync":
        if source_path is None:
            raise ReviewError(f"sync plan {doc['plan_id']}: register it from its sync_plan.json file "
                              "(the flag and delete plans are read from beside it)")
        return register_sync_plan(con, source_path, out_dir, run_id=run_id, made_at=made_at, reason_codes=reason_codes)
    out = Path(out_dir)
    differ = _differing_files(out / "plans" / doc["plan_id"] / PLAN_FILES["merge"][0], doc, source_path, "merge")
    if differ:
        raise ReviewError(
            f"plan {doc['plan_id']} is already registered with other content ({', '.join(differ)} differ from "
            f"{out / 'plans' / doc['plan_id']}): not registered, so that one plan id never names two plans. The plan "
            "kept under that id and its decisions are unchanged; make the plan again (its id covers its content)."
        )
    kept = _archive(doc, source_path, out)
    made = _aware(made_at or _now())
    groups = _group_rows(doc)
    cards = _card_facts(con, {g["cluster_id"] for g in groups})
    conversions = _conversion_groups(kept)  # (listed with the groups so that a decision can name them)
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
        "lead_conversions": len(conversions),
        "plan_path": str(kept),
        "kind": "merge",
        # (of the files as first kept: registering the plan again keeps them, see verified_document)
        "files_sha256": _stored_digests(con, doc["plan_id"]) or _kept_digests(kept, "merge"),
    }
    for g in conversions:
        g["card_records"], g["card_conflict"] = 0, False
    groups = groups + conversions
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_plan(con, doc["plan_id"], "merge", doc.get("created_at"), made, len(groups) - len(conversions), out, kept,
                     summary, run_id, required_checks)
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
    return PlanRecord(doc["plan_id"], doc.get("created_at"), made, len(groups) - len(conversions), str(out), str(kept),
                      True, run_id)


def _insert_plan(con: duckdb.DuckDBPyConnection, plan_id: str, kind: str, created_at: str | None, made: datetime,
                 n: int, out: Path, kept: Path, summary: dict, run_id: str | None,
                 required_checks: Iterable[str] = ()) -> None:
    """Make the plan the latest of its kind (inside the caller's transaction); its blocking checks
    are to be evaluated again (record_check)."""
    con.execute("UPDATE plans SET is_latest = false WHERE is_latest AND coalesce(kind, 'merge') = ?", [kind])
    con.execute("DELETE FROM plans WHERE plan_id = ?", [plan_id])
    con.execute("DELETE FROM plan_checks WHERE plan_id = ?", [plan_id])
    con.execute(
        "INSERT INTO plans (plan_id, created_at, made_at, groups, out_dir, plan_path, document, is_latest, run_id, kind, "
        "required_checks) VALUES (?, ?, ?, ?, ?, ?, ?, true, ?, ?, ?)",
        [plan_id, created_at, made, n, str(out), str(kept), json.dumps(summary, ensure_ascii=False), run_id, kind,
         sorted(set(required_checks))],
    )


# ---------------------------------------------------------------------------------------------
# Blocking checks: a plan is approved only once every blocking check of the run that made it passed


def record_check(
    con: duckdb.DuckDBPyConnection,
    plan_id: str,
    check_name: str,
    passed: bool,
    *,
    run_id: str | None = None,
    detail: str = "",
    now: datetime | None = None,
) -> None:
    """Store the outcome of one blocking check of a registered plan (the latest outcome counts)."""
    ensure_tables(con)
    if get_plan(con, plan_id) is None:
        raise ReviewError(f"plan {plan_id} is not registered: check {check_name} cannot be recorded for it")
    con.execute("DELETE FROM plan_checks WHERE plan_id = ? AND check_name = ?", [plan_id, check_name])
    con.execute(
        "INSERT INTO plan_checks (plan_id, check_name, passed, run_id, evaluated_at, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [plan_id, check_name, bool(passed), run_id, _aware(now or _now()), detail or ""],
    )


@dataclass
class CheckStatus:
    """A plan's blocking checks: which it needs, which passed, failed or were not evaluated yet."""

    plan_id: str
    required: list[str]
    passed: list[str]
    failed: list[tuple[str, str | None, str]]   # (check, run_id, detail)
    pending: list[str]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending

    def text(self) -> str:
        if not self.required:
            return "no blocking check required"
        if self.ok:
            return f"all {len(self.required)} blocking check(s) passed ({', '.join(self.required)})"
        parts = []
        if self.failed:
            parts.append("failed: " + ", ".join(n for n, _, _ in self.failed))
        if self.pending:
            parts.append("not evaluated yet: " + ", ".join(self.pending))
        return "; ".join(parts)


def check_status(con: duckdb.DuckDBPyConnection, plan_id: str) -> CheckStatus:
    """The blocking checks of a plan and their outcomes (a store without the tables: none required)."""
    required: list[str] = []
    if table_exists(con, "plans") and "required_checks" in _columns(con, "plans"):
        row = con.execute("SELECT required_checks FROM plans WHERE plan_id = ?", [plan_id]).fetchone()
        required = sorted(row[0] or []) if row else []
    results: dict[str, tuple[bool, str | None, str]] = {}
    if required and table_exists(con, "plan_checks"):
        results = {n: (bool(p), r, d or "") for n, p, r, d in con.execute(
            "SELECT check_name, passed, run_id, detail FROM plan_checks WHERE plan_id = ?", [plan_id]).fetchall()}
    passed = [n for n in required if n in results and results[n][0]]
    failed = [(n, results[n][1], results[n][2]) for n in required if n in results and not results[n][0]]
    pending = [n for n in required if n not in results]
    return CheckStatus(plan_id, required, passed, failed, pending)


def require_checks_passed(con: duckdb.DuckDBPyConnection, plan: "PlanRecord") -> CheckStatus:
    """Raise ReviewError unless every blocking check of the plan passed."""
    st = check_status(con, plan.plan_id)
    if st.failed:
        name, run_id, detail = st.failed[0]
        raise ReviewError(
            f"plan {plan.plan_id} failed its blocking check(s) {', '.join(n for n, _, _ in st.failed)}"
            + (f" (run {run_id})" if run_id else "") + (f": {detail}" if detail else "")
            + ". A plan that failed a blocking check cannot be approved or applied; fix the cause and make a new plan."
        )
    if st.pending:
        raise ReviewError(
            f"plan {plan.plan_id} has not passed its blocking check(s) yet: {', '.join(st.pending)} not evaluated "
            + (f"(run {plan.run_id} " if plan.run_id else "(the run that made it ")
            + "is still running, stopped before its checks or left them out). Approve it once they passed, or "
            "materialize merge_plan with its checks and review that plan."
        )
    return st


# ---------------------------------------------------------------------------------------------
# Sync plans: the flag plan and the prospect delete plan of a sync health run


def reason_code_from_text(item_kind: str, reason: str | None) -> str:
    """The reason code of a flag / delete row whose plan tables are not at hand (files only): the
    families the text itself names; anything else is `other`."""
    text = (reason or "").strip().lstrip("'").lower()
    if item_kind == "flag" and text.startswith("eligible"):
        return "eligible"
    if "over the mailable cap" in text:
        return "over_cap"
    if text.startswith("duplicate prospect"):
        return "duplicate_prospect"
    if text.startswith("stale") or text.startswith("over-synced: stale"):
        return "stale"
    return "other"


def _store_reason_codes(con: duckdb.DuckDBPyConnection, plan_id: str) -> dict[str, str]:
    """item_key -> reason_code from the store's flag_plan / sync_delete_plan tables of this plan."""
    codes: dict[str, str] = {}
    for table, kind in (("flag_plan", "flag"), ("sync_delete_plan", "delete")):
        if not table_exists(con, table):
            continue
        cols = _columns(con, table)
        if not {"reason_code", "plan_id", "id", "object"} <= cols or (kind == "flag" and "field" not in cols):
            continue
        if kind == "flag":
            sql = f"""SELECT 'flag/' || "Id" || '/' || field, reason_code FROM {table} WHERE plan_id = ?"""
        else:
            sql = f"""SELECT CASE WHEN object = 'Prospect' THEN 'delete/Prospect/' ELSE 'delete/' END || "Id", reason_code
                      FROM {table} WHERE plan_id = ?"""
        codes.update({k: c for k, c in con.execute(sql, [plan_id]).fetchall() if c})
    return codes


def _sync_rows(kept: Path, doc: dict) -> tuple[list[dict], list[dict]]:
    """The flag rows and the delete rows of the kept sync plan files, checked as the applier checks them."""
    from nayose.apply import load_deletes, load_flags

    out: list[list[dict]] = []
    for key, default, count, loader in (("flag_plan", "flag_plan.csv", "flags", load_flags),
                                        ("delete_plan", "sync_delete_plan.csv", "deletes", load_deletes)):
        path = kept.parent / str(doc.get(key) or default)
        if not path.is_file():
            if int(doc.get(count) or 0) > 0:
                raise ReviewError(f"sync plan {doc['plan_id']}: {path.name} is missing beside {kept.name} "
                                  f"(the plan names {doc[count]} row(s))")
            out.append([])
            continue
        try:
            out.append(loader(path, doc["plan_id"]))
        except NayoseError as exc:
            raise ReviewError(f"sync plan {doc['plan_id']}: {exc}") from None
    return out[0], out[1]


def _item_rows(doc: dict, flags: list[dict], deletes: list[dict], codes: Mapping[str, str]) -> list[dict]:
    from nayose.apply import delete_step, flag_step

    items: list[dict] = []
    seen: set[str] = set()
    for kind, rows, step in (("flag", flags, flag_step), ("delete", deletes, delete_step)):
        for r in rows:
            try:
                key = step(r).key
            except NayoseError as exc:
                raise ReviewError(f"sync plan {doc['plan_id']}: {exc}") from None
            if key in seen:
                raise ReviewError(f"sync plan {doc['plan_id']}: {key} appears twice")
            seen.add(key)
            items.append({
                "item_key": key, "item_kind": kind, "Id": r["Id"], "object": r.get("object"),
                "field": r.get("field"), "value": r.get("value"),
                "reason_code": codes.get(key) or reason_code_from_text(kind, r.get("reason")),
                "reason": r.get("reason"), "as_of": r.get("as_of"),
            })
    return items


def register_sync_plan(
    con: duckdb.DuckDBPyConnection,
    plan: str | Path,
    out_dir: str | Path,
    *,
    run_id: str | None = None,
    made_at: datetime | None = None,
    reason_codes: Mapping[str, str] | None = None,
) -> PlanRecord:
    """Record a sync plan (the sync health run's sync_plan.json, with flag_plan.csv and
    sync_delete_plan.csv beside it) as the latest sync plan, keep its files under
    out_dir/plans/<plan_id>/ and list its rows in plan_items. Each row's reason code comes from
    `reason_codes` (item_key -> code), else from the store's flag_plan / sync_delete_plan tables of
    the same plan_id (what the sync health run just made), else from the reason text."""
    ensure_tables(con)
    source = Path(plan)
    doc = load_document(source)
    if not doc.get("plan_id"):
        raise ReviewError(f"{source}: the sync plan has no plan_id")
    if plan_kind(doc) != "sync":
        raise ReviewError(f"{source}: plan {doc['plan_id']} is not a sync plan (kind {doc.get('kind')!r})")
    out = Path(out_dir)
    kept = _archive(doc, source, out, "sync")
    flags, deletes = _sync_rows(kept, doc)
    codes = dict(reason_codes) if reason_codes is not None else _store_reason_codes(con, doc["plan_id"])
    items = _item_rows(doc, flags, deletes, codes)
    made = _aware(made_at or _now())
    by_reason: dict[str, dict[str, int]] = {"flag": {}, "delete": {}}
    for it in items:
        d = by_reason[it["item_kind"]]
        d[it["reason_code"]] = d.get(it["reason_code"], 0) + 1
    summary = {
        "plan_id": doc["plan_id"], "kind": "sync", "created_at": doc.get("created_at"),
        "flags": len(flags), "deletes": len(deletes), "rows_by_reason": by_reason, "plan_path": str(kept),
        "files_sha256": _stored_digests(con, doc["plan_id"]) or _kept_digests(kept, "sync"),
    }
    table = pa.table({k: pa.array([it[k] for it in items], type=pa.string()) for k in _ITEM_COLUMNS})
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_plan(con, doc["plan_id"], "sync", doc.get("created_at"), made, len(items), out, kept, summary, run_id)
        con.execute("DELETE FROM plan_items WHERE plan_id = ?", [doc["plan_id"]])
        if items:
            con.register("_plan_items_new", table)
            try:
                con.execute(
                    f"""INSERT INTO plan_items (plan_id, {', '.join(_q(c) for c in _ITEM_COLUMNS)})
                        SELECT ?, {', '.join(_q(c) for c in _ITEM_COLUMNS)} FROM _plan_items_new""",
                    [doc["plan_id"]],
                )
            finally:
                con.unregister("_plan_items_new")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return PlanRecord(doc["plan_id"], doc.get("created_at"), made, len(items), str(out), str(kept), True, run_id, "sync")


_ITEM_COLUMNS = ("item_key", "item_kind", "Id", "object", "field", "value", "reason_code", "reason", "as_of")


def _q(name: str) -> str:
    return '"' + name + '"'


def plan_items(con: duckdb.DuckDBPyConnection, plan_id: str, item_keys: Iterable[str] | None = None) -> list[dict]:
    """The rows of a sync plan (all, or those of `item_keys`), ordered by item key."""
    if not table_exists(con, "plan_items"):
        return []
    rows = con.execute(
        f"SELECT {', '.join(_q(c) for c in _ITEM_COLUMNS)} FROM plan_items WHERE plan_id = ? ORDER BY item_key", [plan_id]
    ).fetchall()
    wanted = None if item_keys is None else set(item_keys)
    return [dict(zip(_ITEM_COLUMNS, r)) for r in rows if wanted is None or r[0] in wanted]


def reason_counts(con: duckdb.DuckDBPyConnection, plan_id: str) -> list[tuple[str, str, int]]:
    """(item_kind, reason_code, rows) of a sync plan, flags first, then by count."""
    if not table_exists(con, "plan_items"):
        return []
    return [(k, c, int(n)) for k, c, n in con.execute(
        """SELECT item_kind, reason_code, count(*) FROM plan_items WHERE plan_id = ?
           GROUP BY ALL ORDER BY item_kind DESC, 3 DESC, 2""", [plan_id]).fetchall()]


def approved_sync_rows(con: duckdb.DuckDBPyConnection, decision: "DecisionRecord") -> tuple[str, list[dict], list[dict]]:
    """(kept sync_plan.json, approved flag rows, approved delete rows) of an approval of a sync plan,
    read from the plan files kept when the plan was registered: what the analyst approved, in the
    applier's row format. Fails if the kept files no longer hold every approved row."""
    plan = get_plan(con, decision.plan_id)
    if plan is None:
        raise ReviewError(f"plan {decision.plan_id} is not registered")
    if plan.kind != "sync":
        raise ReviewError(f"plan {plan.plan_id} is a {plan.kind} plan, not a sync plan")
    kept = Path(plan.plan_path)
    doc = load_document(kept)
    flags, deletes = _sync_rows(kept, doc)
    from nayose.apply import delete_step, flag_step

    wanted = set(decision.approved_items)
    flags = [r for r in flags if flag_step(r).key in wanted]
    deletes = [r for r in deletes if delete_step(r).key in wanted]
    missing = wanted - {flag_step(r).key for r in flags} - {delete_step(r).key for r in deletes}
    if missing:
        raise ReviewError(
            f"the kept files of sync plan {plan.plan_id} ({kept.parent}) no longer hold {len(missing)} approved row(s) "
            f"(e.g. {_list(sorted(missing), 3)}): the files changed after the approval; make and review a new plan"
        )
    return str(kept), flags, deletes


def _plan_from_row(row: Sequence[Any]) -> PlanRecord:
    plan_id, created_at, made_at, groups, out_dir, plan_path, is_latest, run_id, kind = row
    return PlanRecord(plan_id, created_at, _aware(made_at), int(groups), out_dir, plan_path, bool(is_latest), run_id,
                      kind or "merge")


def _plan_cols(con: duckdb.DuckDBPyConnection) -> str:
    """The plans columns PlanRecord reads; `kind` is 'merge' in a store not migrated yet (read-only readers)."""
    kind = "coalesce(kind, 'merge')" if "kind" in _columns(con, "plans") else "'merge'"
    return f"plan_id, created_at, made_at, groups, out_dir, plan_path, is_latest, run_id, {kind} AS kind"


def get_plan(con: duckdb.DuckDBPyConnection, plan_id: str) -> PlanRecord | None:
    if not table_exists(con, "plans"):
        return None
    row = con.execute(f"SELECT {_plan_cols(con)} FROM plans WHERE plan_id = ?", [plan_id]).fetchone()
    return _plan_from_row(row) if row else None


def latest_plan(con: duckdb.DuckDBPyConnection, kind: str | None = "merge") -> PlanRecord | None:
    """The latest plan of `kind` ('merge' or 'sync'; None: the most recently made latest plan of any kind)."""
    if not table_exists(con, "plans"):
        return None
    rows = con.execute(f"SELECT {_plan_cols(con)} FROM plans WHERE is_latest ORDER BY made_at DESC").fetchall()
    for row in rows:
        rec = _plan_from_row(row)
        if kind is None or rec.kind == kind:
            return rec
    return None


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


@dataclass
class Resolution:
    """A validated decision: the plan, the selection as named (cleaned) and the approved part resolved."""

    plan: PlanRecord
    include_clusters: list[str] = field(default_factory=list)
    exclude_clusters: list[str] = field(default_factory=list)
    approved_clusters: list[str] = field(default_factory=list)
    include_ids: list[str] = field(default_factory=list)
    exclude_ids: list[str] = field(default_factory=list)
    include_reasons: list[str] = field(default_factory=list)
    approved_items: list[str] = field(default_factory=list)


def _clean_reasons(reasons: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for raw in reasons or []:
        for part in str(raw).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _selector(sel: str) -> tuple[str | None, str]:
    """`[flag:|delete:]REASON` -> (item kind or None, reason part; '*' for any)."""
    head, _, rest = sel.partition(":")
    kind = {"flag": "flag", "flags": "flag", "delete": "delete", "deletes": "delete"}.get(head.strip().lower())
    if kind is None:
        return None, sel.strip()
    return kind, rest.strip() or "*"


def reason_matches(selector: str, item_kind: str, reason_code: str | None) -> bool:
    """Whether a reason selector (see the module doc) selects a row of this kind and reason code."""
    kind, reason = _selector(selector)
    if kind is not None and kind != item_kind:
        return False
    if reason == "*":
        return True
    code = (reason_code or "other").lower()
    reason = reason.lower()
    family, _, name = code.partition(":")
    return reason in (code, family) or (bool(name) and reason == name)


def _latest_text(con: duckdb.DuckDBPyConnection) -> str:
    parts = []
    for kind in PLAN_KINDS:
        rec = latest_plan(con, kind)
        if rec is not None:
            label = "plan" if kind == "merge" else f"{kind} plan"
            parts.append(f"the latest {label} is {rec.plan_id} (made {rec.made_at:%Y-%m-%d %H:%M %Z})")
    return "; " + "; ".join(parts) if parts else "; no plan has been made yet"


def _check_plan(con, plan_id: str, decision: str, reviewer: str, max_age_hours: float | None, now: datetime | None) -> PlanRecord:
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not (reviewer or "").strip():
        raise ReviewError("reviewer is required: who takes this decision")
    plan = get_plan(con, plan_id) if plan_id else None
    if plan is None:
        raise ReviewError(f"plan {plan_id or '(empty)'} is not known{_latest_text(con)}")
    label = "plan" if plan.kind == "merge" else f"{plan.kind} plan"
    if not plan.is_latest:
        latest = latest_plan(con, plan.kind)
        after = f"{latest.plan_id} was made after it ({latest.made_at:%Y-%m-%d %H:%M %Z})" if latest else f"a newer {label} exists"
        raise ReviewError(
            f"plan {plan_id} is not the latest {label}: {after}. Review and decide on the latest {label} instead."
        )
    now = _aware(now or _now())
    if max_age_hours is not None and max_age_hours > 0:
        age = now - plan.made_at
        if age > timedelta(hours=max_age_hours):
            asset = "merge_plan" if plan.kind == "merge" else "sync_health"
            raise ReviewError(
                f"plan {plan_id} was made {plan.made_at:%Y-%m-%d %H:%M %Z}, {_age_text(age)} ago: older than the "
                f"maximum age of {max_age_hours:g} h for a decision. Make a new plan (materialize {asset}) and review that."
            )
    if decision != "reject":
        rejected = plan_rejection(con, plan_id)
        if rejected is not None:
            raise ReviewError(f"{rejected_text(rejected)}: a rejected plan cannot be approved. Make and review a new plan.")
        require_checks_passed(con, plan)
    return plan


def plan_rejection(con: duckdb.DuckDBPyConnection, plan_id: str) -> "DecisionRecord | None":
    """The first reject recorded on the plan (None: not rejected)."""
    found = [d for d in decisions(con, plan_id) if d.decision == "reject"]
    return found[0] if found else None


def rejected_text(rej: "DecisionRecord") -> str:
    note = f" ({rej.note!r})" if rej.note else ""
    return (f"plan {rej.plan_id} was rejected by {rej.reviewer} at {rej.decided_at:%Y-%m-%d %H:%M:%S %Z} "
            f"(decision {rej.decision_id}{note})")


def _resolve_merge(con, plan: PlanRecord, decision: str, inc: list[str], exc: list[str]) -> Resolution:
    plan_id = plan.plan_id
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
    outside = [c for c in exc if c not in set(inc)]
    if inc and outside:
        raise ReviewError(
            f"exclude_clusters {_list(outside)} are not in include_clusters: with include_clusters set only those "
            f"{len(inc)} group(s) are approved, and excluding others would change nothing. To approve every group but "
            "some, leave include_clusters empty and list them in exclude_clusters; to approve only some, list them in "
            "include_clusters and leave exclude_clusters empty."
        )
    res = Resolution(plan, include_clusters=inc, exclude_clusters=exc)
    if decision == "reject":
        return res
    if decision == "approve_partial" and not (inc or exc):
        raise ReviewError("approve_partial needs include_clusters or exclude_clusters (use approve for the whole plan)")
    # (a Lead conversion is approved only by name: never by approving the whole plan or all but some)
    base = inc if inc else [c for c in known if not c.startswith(LEAD_CONVERSION_PREFIX)]
    excluded = set(exc)
    approved = sorted(c for c in base if c not in excluded)
    if not approved:
        raise ReviewError(f"the decision approves no group of plan {plan_id}")
    _refuse_approved_twice(con, plan_id, "approved_clusters", approved, "group(s)", "plan", "a group")
    res.approved_clusters = approved
    return res


def _refuse_approved_twice(
    con: duckdb.DuckDBPyConnection, plan_id: str, column: str, approved: list[str], what: str, plan_kind: str, one: str
) -> None:
    """A group (merge plan) or row (sync plan) is applied once: refuse one an earlier decision approved."""
    earlier: dict[str, str] = {}
    for did, keys in con.execute(
        f"SELECT decision_id, {column} FROM plan_decisions WHERE plan_id = ? AND decision <> 'reject' "
        "ORDER BY decided_at", [plan_id]
    ).fetchall():
        for k in keys or []:
            earlier.setdefault(k, did)
    again = [k for k in approved if k in earlier]
    if again:
        raise ReviewError(
            f"{what} already approved for {plan_kind} {plan_id}: {_list(again)} (decision {earlier[again[0]]}); "
            f"{one} is applied once, exclude them"
        )


def _reason_menu(items: list[dict]) -> str:
    counts: dict[str, int] = {}
    for it in items:
        key = f"{it['item_kind']}:{it['reason_code']}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} ({n:,})" for k, n in sorted(counts.items())) or "none (the plan has no rows)"


def _resolve_sync(con, plan: PlanRecord, decision: str, ids_in: list[str], ids_ex: list[str], reasons: list[str]) -> Resolution:
    plan_id = plan.plan_id
    items = plan_items(con, plan_id)
    n_flags = sum(1 for it in items if it["item_kind"] == "flag")
    known_ids = {it["Id"] for it in items}
    unknown = [i for i in ids_in + ids_ex if i not in known_ids]
    if unknown:
        raise ReviewError(
            f"record id(s) not in sync plan {plan_id}: {_list(unknown)} (the plan has {n_flags:,} flag row(s), by "
            f"Salesforce record Id, and {len(items) - n_flags:,} prospect delete(s), by prospect id: see the plan's "
            "flag_plan.csv and sync_delete_plan.csv)"
        )
    both = [i for i in ids_in if i in set(ids_ex)]
    if both:
        raise ReviewError(f"record id(s) both included and excluded: {_list(both)}")
    outside = [i for i in ids_ex if i not in set(ids_in)]
    if ids_in and outside:
        raise ReviewError(
            f"exclude_ids {_list(outside)} are not in include_ids: with include_ids set only the rows of those ids are "
            "approved, and excluding others would change nothing. Leave include_ids empty to approve every row but some."
        )
    # Selectors are matched once per distinct (kind, reason code), not per row.
    kinds_codes = {(it["item_kind"], it["reason_code"]) for it in items}
    selected = {sel: {kc for kc in kinds_codes if reason_matches(sel, *kc)} for sel in reasons}
    for sel in reasons:
        if not selected[sel]:
            raise ReviewError(
                f"reason {sel!r} selects no row of sync plan {plan_id}; its reasons are: {_reason_menu(items)} "
                "(name a reason code, its name without the family, e.g. billing, a family, e.g. exclusion, "
                "optionally prefixed with flag: or delete:)"
            )
    if decision in ("approve", "reject") and (ids_in or ids_ex or reasons):
        raise ReviewError(
            f"{decision} applies to the whole plan and takes no record ids or reasons; "
            "use approve_partial with include_ids / exclude_ids / include_reasons to approve part of it"
        )
    res = Resolution(plan, include_ids=ids_in, exclude_ids=ids_ex, include_reasons=reasons)
    if decision == "reject":
        return res
    if decision == "approve_partial" and not (ids_in or ids_ex or reasons):
        raise ReviewError("approve_partial needs include_ids, exclude_ids or include_reasons (use approve for the whole plan)")
    chosen = items
    if ids_in:
        wanted = set(ids_in)
        chosen = [it for it in chosen if it["Id"] in wanted]
    if reasons:
        wanted_codes = set().union(*selected.values())
        chosen = [it for it in chosen if (it["item_kind"], it["reason_code"]) in wanted_codes]
    excluded = set(ids_ex)
    approved = sorted(it["item_key"] for it in chosen if it["Id"] not in excluded)
    if not approved:
        both_text = " (include_ids and include_reasons both apply: a row must match both)" if ids_in and reasons else ""
        raise ReviewError(f"the decision approves no row of sync plan {plan_id}{both_text}")
    _refuse_approved_twice(con, plan_id, "approved_items", approved, "row(s)", "sync plan", "a row")
    res.approved_items = approved
    return res


def resolve_decision(
    con: duckdb.DuckDBPyConnection,
    plan_id: str,
    decision: str,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    include_ids: Iterable[str] | None = None,
    exclude_ids: Iterable[str] | None = None,
    include_reasons: Iterable[str] | None = None,
    reviewer: str,
    max_age_hours: float | None = DEFAULT_MAX_AGE_HOURS,
    now: datetime | None = None,
) -> Resolution:
    """Check a decision on a merge plan (cluster ids) or a sync plan (record ids / reasons) and
    resolve what it approves, or raise ReviewError with a message for the analyst."""
    plan_id = (plan_id or "").strip()
    plan = _check_plan(con, plan_id, decision, reviewer, max_age_hours, now)
    inc, exc = _clean_ids(include), _clean_ids(exclude)
    ids_in, ids_ex, reasons = _clean_ids(include_ids), _clean_ids(exclude_ids), _clean_reasons(include_reasons)
    if plan.kind == "sync":
        if inc or exc:
            raise ReviewError(
                f"plan {plan_id} is a sync plan (flag and prospect delete rows): it takes include_ids / exclude_ids "
                "(record or prospect ids) and include_reasons, not include_clusters / exclude_clusters"
            )
        return _resolve_sync(con, plan, decision, ids_in, ids_ex, reasons)
    if ids_in or ids_ex or reasons:
        raise ReviewError(
            f"plan {plan_id} is a merge plan: it takes include_clusters / exclude_clusters; include_ids, exclude_ids "
            "and include_reasons select rows of a sync plan"
        )
    return _resolve_merge(con, plan, decision, inc, exc)


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
    """Check a decision on a merge plan; return (plan, include, exclude, approved cluster ids) or
    raise ReviewError with a message for the analyst (resolve_decision handles both kinds)."""
    res = resolve_decision(con, plan_id, decision, include=include, exclude=exclude, reviewer=reviewer,
                           max_age_hours=max_age_hours, now=now)
    return res.plan, res.include_clusters, res.exclude_clusters, res.approved_clusters


def record_decision(
    con: duckdb.DuckDBPyConnection,
    plan_id: str,
    decision: str,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    include_ids: Iterable[str] | None = None,
    exclude_ids: Iterable[str] | None = None,
    include_reasons: Iterable[str] | None = None,
    reviewer: str,
    note: str = "",
    max_age_hours: float | None = DEFAULT_MAX_AGE_HOURS,
    now: datetime | None = None,
    source: str = "review",
    run_id: str | None = None,
) -> DecisionRecord:
    """Validate and record a decision (see resolve_decision); return it."""
    ensure_tables(con)
    con.execute("BEGIN TRANSACTION")
    try:
        res = resolve_decision(
            con, plan_id, decision, include=include, exclude=exclude, include_ids=include_ids,
            exclude_ids=exclude_ids, include_reasons=include_reasons, reviewer=reviewer,
            max_age_hours=max_age_hours, now=now,
        )
        decided = _aware(now or _now())
        rec = DecisionRecord(
            decision_id=f"dec_{decided:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}",
            plan_id=plan_id.strip(), decision=decision, include_clusters=res.include_clusters,
            exclude_clusters=res.exclude_clusters, reviewer=reviewer.strip(), note=note or "", decided_at=decided,
            approved_clusters=res.approved_clusters, source=source, run_id=run_id, include_ids=res.include_ids,
            exclude_ids=res.exclude_ids, include_reasons=res.include_reasons, approved_items=res.approved_items,
            plan_kind=res.plan.kind,
        )
        con.execute(
            f"INSERT INTO plan_decisions ({_DECISION_TABLE_COLS}) VALUES ({', '.join('?' * len(_DECISION_TABLE_COLS.split(', ')))})",
            [rec.decision_id, rec.plan_id, rec.decision, rec.include_clusters, rec.exclude_clusters, rec.reviewer,
             rec.note, rec.decided_at, rec.approved_clusters, rec.source, rec.run_id, rec.include_ids, rec.exclude_ids,
             rec.include_reasons, rec.approved_items],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rec


_DECISION_TABLE_COLS = (
    "decision_id, plan_id, decision, include_clusters, exclude_clusters, reviewer, note, decided_at, "
    "approved_clusters, source, run_id, include_ids, exclude_ids, include_reasons, approved_items"
)
_DECISION_NEW_COLS = ("include_ids", "exclude_ids", "include_reasons", "approved_items")


def _decision_select(con: duckdb.DuckDBPyConnection) -> str:
    """SELECT … FROM plan_decisions d (with the plan's kind), tolerant of a store not migrated yet
    (read-only readers such as the sensor)."""
    have = _columns(con, "plan_decisions")
    new = ", ".join(f"d.{c}" if c in have else f"NULL AS {c}" for c in _DECISION_NEW_COLS)
    if table_exists(con, "plans") and "kind" in _columns(con, "plans"):
        kind, join = "coalesce(p.kind, 'merge')", "LEFT JOIN plans p ON p.plan_id = d.plan_id"
    else:
        kind, join = "'merge'", ""
    return (
        "SELECT d.decision_id, d.plan_id, d.decision, d.include_clusters, d.exclude_clusters, d.reviewer, d.note, "
        f"d.decided_at, d.approved_clusters, d.source, d.run_id, {new}, {kind} AS plan_kind FROM plan_decisions d {join}"
    )


def _decision_from_row(row: Sequence[Any]) -> DecisionRecord:
    did, pid, dec, inc, exc, reviewer, note, at, approved, source, run_id, ids_in, ids_ex, reasons, items, kind = row
    return DecisionRecord(did, pid, dec, list(inc or []), list(exc or []), reviewer, note or "", _aware(at),
                          list(approved or []), source, run_id, list(ids_in or []), list(ids_ex or []),
                          list(reasons or []), list(items or []), kind or "merge")


def get_decision(con: duckdb.DuckDBPyConnection, decision_id: str) -> DecisionRecord | None:
    if not table_exists(con, "plan_decisions"):
        return None
    row = con.execute(f"{_decision_select(con)} WHERE d.decision_id = ?", [decision_id]).fetchone()
    return _decision_from_row(row) if row else None


def decisions(con: duckdb.DuckDBPyConnection, plan_id: str | None = None) -> list[DecisionRecord]:
    if not table_exists(con, "plan_decisions"):
        return []
    where, params = ("WHERE d.plan_id = ?", [plan_id]) if plan_id else ("", [])
    return [_decision_from_row(r) for r in con.execute(
        f"{_decision_select(con)} {where} ORDER BY d.decided_at, d.decision_id", params
    ).fetchall()]


def approvals_since(con: duckdb.DuckDBPyConnection, after: datetime | None = None) -> list[DecisionRecord]:
    """Approvals (approve / approve_partial) of plans of either kind decided after `after` (all when
    None), oldest first."""
    if not table_exists(con, "plan_decisions"):
        return []
    sql = f"{_decision_select(con)} WHERE d.decision IN ('approve', 'approve_partial')"
    params: list = []
    if after is not None:
        sql += " AND d.decided_at > ?"
        params.append(_aware(after))
    return [_decision_from_row(r) for r in con.execute(sql + " ORDER BY d.decided_at, d.decision_id", params).fetchall()]


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
    plan = get_plan(con, plan_id)
    if plan is not None and plan.kind != "merge":
        return None  # the policy approves merge groups only; a sync plan is always decided by an analyst
    eligible = auto_approvable(con, plan_id, policy)
    if not eligible:
        return None
    return record_decision(
        con, plan_id, "approve_partial", include=eligible, reviewer=policy.reviewer,
        note=(f"auto-approved: auto groups of ≤ {policy.max_records} records, every link ≥ {policy.min_probability:g}, "
              "no business-card conflict, no convert_lead"),
        max_age_hours=None, now=now, source="auto_policy", run_id=run_id,
    )
