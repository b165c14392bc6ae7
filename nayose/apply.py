"""Apply an approved plan to Salesforce (and Pardot), safely; and undo it.

    report = apply_plan("out/merge_plan.json", journal_db="data/nayose.duckdb", sf=sf,
                        pardot=pardot, execute=True, clusters=approved_ids,
                        deletes="out/delete_plan.csv", flags="out/flag_plan.csv", api_budget=90_000)
    undo = undo_plan("out/merge_plan.json", journal_db="data/nayose.duckdb", sf=sf, execute=True)

What `apply_plan` does, group by group (a group = one cluster of merge_plan.json):

1. **Resume.** The journal (`nayose.journal`, tables in the DuckDB store) is read once. A step
   whose last entry is `done` is never repeated. A step left with an intent but no result
   (`intent` / `unknown`: the process was killed mid-call, or the connection broke after the
   server executed it) is first checked against the org: merge → are the losers deleted with
   MasterRecordId = the master?; convert → is the lead converted into the contact?; delete → is
   the record deleted?; field update → does the master hold the values? It is then marked `done`
   (confirmed) or `failed` (not executed, so run again now).
2. **Stale check.** Every record of the group is re-read (one queryAll SOQL per object with all
   fields from describe, Ids escaped, plus the children a merge re-parents). If any record changed
   after its `as_of` in the plan (SystemModstamp or LastModifiedDate newer), is gone, deleted,
   merged or converted, the whole group is skipped, journaled `stale` with the reason and
   reported; nothing is written. In a group a previous run already started, the records that
   run changed (the master, merged losers, converted leads) are checked to be alive / in the
   expected state, and the master not changed since the read that followed that run's last write
   (the snapshot of the step that then failed; a run killed between a write and the next read
   leaves no such read); the untouched ones still against their as_of. One executing apply or
   undo of a plan at a time per journal: a second one stops at once (`nayose.lock.exclusive_run`).
3. **Journal first.** Before each call an `intent` entry holds the logical request and a snapshot
   of every record involved (all fields + child ids); after it the result (`done` / `failed`).
4. **Calls.** `merge` steps through the SOAP `merge()` call with the master + at most 2 losers,
   the surviving values that differ from the master's current ones written on the master in the
   same request (only updateable fields of the object; blank surviving values are never written
   over a value); `convert_lead` through SOAP `convertLead()` into the existing Contact (and its
   Account); a group with converts but no merge gets a final REST update of the master with the
   surviving values (`update_fields`); then a read-only `verify` entry records the master as it
   ended up (undo compares against it). Deletes (delete_plan.csv) go through REST DELETE (the
   Recycle Bin, never hardDelete), object "Prospect" rows through the Pardot client; an Account
   that holds Contacts or Opportunities is skipped with the reason (its delete would take them along).
5. **Failures.** Reads (and the field update, which is idempotent) are retried on 429 / 5xx /
   connection errors with exponential backoff. A merge / convert / delete is never blindly
   repeated: a 429 (or a SOAP fault) means not executed and it is retried after a pause; any other
   failure without an answer is journaled `unknown` and checked against the org, then confirmed or
   retried (at most `MAX_ATTEMPTS` times).
6. **API limits.** Usage comes from `Sforce-Limit-Info` (REST) / the SOAP LimitInfoHeader; with
   `api_budget` the run stops cleanly — before starting a group whose estimated calls would pass
   it, and before any write that would — and reports `stopped`; running again resumes.

**Flags** (`flags=`: flag_plan.csv rows plan_id, Id, object, field, value, reason, as_of — the field
the Marketing Data Sharing rule reads) run after the groups and before the deletes, each row an
`update_field` step keyed ``flag/<Id>/<field>``: the records are re-read (one query per object and
chunk) and a row whose record changed after its as_of, or is gone, is journaled `stale` and left
alone; the others get an `intent` entry with the old value and a snapshot of the record, then go
out in sObject Collections requests (``PATCH composite/sobjects``, 200 records, allOrNone false,
one result per record). A request without an answer (reset, timeout, 5xx) is journaled `unknown`
and settled by re-reading the values: the records holding the new value are `done` (never sent
again), the others are sent again; a 429 is retried after a pause. Rows of another plan are
refused, like delete rows. `undo_plan` gives each flag its old value back, except on records
edited since the apply (reported as `edited_since`).

A dry run (`execute=False`) writes `dry_run` entries for the steps it would run (with the request
it would send when `sf` is given, after the same read-only stale check) and changes nothing.

`undo_plan` restores each master's fields from its first snapshot (only the fields the apply
changed, and only when nobody edited the master since — else it reports them; for a group whose
apply did not finish, or whose verify read came on a later run, only the fields the apply wrote
itself, where the master still holds what it wrote), undeletes merge
losers and deleted records through SOAP `undelete()` (Pardot: `do/undelete`), and reports what it
cannot restore: children the merges re-parented (undeleting a loser does not move them back),
records purged from the Recycle Bin, lead conversions (the API cannot revert them). Undo steps
are journaled like apply steps.

No secret (session id, password, token) is written to the journal, the reports, logs or the
messages of exceptions raised from here: texts pass through `nayose.salesforce.scrub`.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import requests

from nayose.config import CLEARED
from nayose.normalize import TRUE_FLAG_VALUES
from nayose.plan import NON_UPDATEABLE
from nayose.errors import NayoseError
from nayose.journal import EXEC_STATUSES, Journal, latest_by_step
from nayose.records import canonical_id
from nayose.soap import (
    CallError,
    CallResult,
    LeadConvert,
    MergeRequest,
    SoapClient,
    SoapFault,
    SoapOutcomeUnknown,
    SoapRateLimited,
)

log = logging.getLogger("nayose.apply")

PREFIX_OBJECTS = {"00Q": "Lead", "003": "Contact", "001": "Account"}
#: children a merge / conversion re-parents: parent object -> (child object, lookup field)
CHILD_LOOKUPS: dict[str, list[tuple[str, str]]] = {
    "Lead": [("Task", "WhoId"), ("CampaignMember", "LeadId")],
    "Contact": [("Task", "WhoId"), ("CampaignMember", "ContactId")],
    "Account": [("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Task", "WhatId")],
}
#: children whose presence stops a delete (the delete would cascade to them)
CASCADE_GUARDED: dict[str, tuple[str, ...]] = {"Account": ("Contact", "Opportunity")}
#: never written, whatever describe says (system, audit, conversion and compound fields)
MAX_ATTEMPTS = 3           # calls of one write step within a run (each after checking the previous)
READ_ATTEMPTS = 5          # tries of a safe read
BACKOFF_SECONDS = 0.5      # first backoff; doubles per try, capped at 30 s
RETRY_STATUSES = (429, 500, 502, 503, 504)
SOQL_CHUNK = 200
COLLECTION_SIZE = 200    # records per sObject Collections request
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class ApplyError(NayoseError):
    """The plan cannot be applied as given (no as-of times, bad file, plan mismatch)."""


class _Stop(Exception):
    """Stop the run cleanly (API budget / daily limit); everything done so far is journaled."""


class _Unresolved(Exception):
    """The outcome of a call could not be checked against the org (reads failed)."""


# ------------------------------------------------------------------------------------------------
# Reports


@dataclass
class ApplyReport:
    plan_id: str
    mode: str  # dry_run | execute
    run_id: str | None = None
    journal_db: str | None = None
    groups_planned: int = 0
    groups_applied: int = 0
    groups_already_applied: int = 0
    groups_stale: list[dict] = field(default_factory=list)    # {cluster_id, Id, reason}
    groups_failed: list[dict] = field(default_factory=list)   # {cluster_id, step_key, error}
    groups_unknown: list[dict] = field(default_factory=list)  # outcome still to be checked
    groups_not_attempted: int = 0
    steps_planned: int = 0
    steps_done: int = 0
    steps_already_done: int = 0
    steps_confirmed: int = 0      # unknown outcomes found done in the org (not called again)
    steps_retried: int = 0        # calls repeated after the org showed they had not happened
    steps_failed: int = 0
    steps_stale: int = 0
    steps_dry_run: int = 0
    deletes_planned: int = 0
    deletes_done: int = 0
    deletes_already_done: int = 0
    deletes_stale: list[dict] = field(default_factory=list)
    deletes_failed: list[dict] = field(default_factory=list)
    prospects_deleted: int = 0
    flags_planned: int = 0
    flags_done: int = 0
    flags_already_done: int = 0
    flags_unchanged: int = 0      # the record already held the value: nothing written
    flags_confirmed: int = 0      # unknown outcomes found applied in the org (not sent again)
    flags_stale: list[dict] = field(default_factory=list)     # {Id, object, field, reason}
    flags_failed: list[dict] = field(default_factory=list)    # {Id, object, field, status, error}
    api_calls: int = 0
    api_used: int | None = None
    api_limit: int | None = None
    api_budget: int | None = None
    stopped: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def exit_code(self) -> int:
        """0: everything planned is applied; 1: something was skipped, failed or is pending."""
        bad = (self.groups_stale or self.groups_failed or self.groups_unknown or self.deletes_stale
               or self.deletes_failed or self.flags_stale or self.flags_failed or self.stopped)
        return 1 if bad else 0


@dataclass
class UndoReport:
    plan_id: str
    mode: str
    run_id: str | None = None
    groups: int = 0
    masters_restored: list[dict] = field(default_factory=list)   # {cluster_id, Id, fields}
    records_undeleted: list[str] = field(default_factory=list)
    prospects_undeleted: list[str] = field(default_factory=list)
    flags_restored: list[dict] = field(default_factory=list)     # {Id, object, field, value}
    already_undone: int = 0
    not_restored: list[dict] = field(default_factory=list)      # {cluster_id, Id, object, kind, detail}
    steps_failed: list[dict] = field(default_factory=list)
    would_restore: list[dict] = field(default_factory=list)     # dry run
    would_undelete: list[str] = field(default_factory=list)     # dry run
    api_calls: int = 0
    api_used: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def exit_code(self) -> int:
        return 1 if (self.not_restored or self.steps_failed) else 0


# ------------------------------------------------------------------------------------------------
# Plan input


def load_plan(plan: str | Path | dict) -> dict:
    """merge_plan.json (path or dict), checked: plan_id, clusters, steps, as_of for every record."""
    if isinstance(plan, dict):
        doc = plan
    else:
        path = Path(plan)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ApplyError(f"{path}: plan not found") from None
        except json.JSONDecodeError as exc:
            raise ApplyError(f"{path}: not a plan file ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not doc.get("plan_id") or not isinstance(doc.get("clusters"), list):
        raise ApplyError("not a merge plan: plan_id and clusters are required")
    missing = []
    for c in doc["clusters"]:
        if not c.get("steps"):
            continue
        for st in c["steps"]:
            # (one record twice in a merge -- its 15- and 18-character Ids -- would merge it into itself)
            if st.get("action") == "merge":
                named = [st.get("master_id") or "", *(st.get("loser_ids") or [])]
                if len({canonical_id(i) for i in named}) < len(named):
                    raise ApplyError(f"group {c.get('cluster_id')}: a merge step names one record twice ({', '.join(named)})")
        ids = _group_ids(c)
        as_of = c.get("as_of") or {}
        missing.extend(f"{c['cluster_id']}:{i}" for i in sorted(ids) if not as_of.get(i))
        for i in sorted(ids):
            why = as_of.get(i) and as_of_problem(as_of[i])
            if why:
                raise ApplyError(f"group {c['cluster_id']}: record {i}: {why}")
    if missing:
        raise ApplyError(
            f"plan {doc['plan_id']} has no as-of time (SystemModstamp / LastModifiedDate) for {len(missing)} "
            f"record(s) (e.g. {', '.join(missing[:3])}): without it a changed record cannot be told from an "
            "unchanged one. Export SystemModstamp or LastModifiedDate with the records and make the plan again."
        )
    return doc


def _plan_rows(source: str | Path | Iterable[dict], what: str) -> tuple[list[dict], str]:
    """The rows of a plan CSV (path, UTF-8 with or without BOM) or of given rows, and the name
    errors should use for them."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                return list(csv.DictReader(f)), str(path)
        except FileNotFoundError:
            raise ApplyError(f"{path}: {what} not found") from None
    return [dict(r) for r in source], what


def _checked_rows(source: str | Path | Iterable[dict], what: str, plan_id: str, *, unquote: tuple[str, ...],
                  required: tuple[str, ...], as_of_columns: tuple[str, ...], no_as_of: str) -> Iterator[tuple[int, dict, str]]:
    """The rows of a plan CSV (`_plan_rows`) with what every loader checks first: the `unquote` cells
    without the leading quote the Excel-safe writer adds, the `required` cells filled, the
    `as_of_columns` present (else `no_as_of` says why they matter) and the row of this plan.
    Yields (line number, row, the name errors use)."""
    rows, where = _plan_rows(source, what)
    for n, r in enumerate(rows, 2):
        r = {k: (v.lstrip("'") if isinstance(v, str) and k in unquote else v) for k, v in r.items()}
        if not all(str(r.get(c) or "").strip() for c in required):
            raise ApplyError(f"{where}: row {n}: {' and '.join(required)} are required")
        if any(c not in r for c in as_of_columns):
            raise ApplyError(f"{where}: no {' / '.join(as_of_columns)} column: {no_as_of}; make the plan again")
        if r.get("plan_id") and r["plan_id"] != plan_id:
            raise ApplyError(f"{where}: row {n} belongs to plan {r['plan_id']}, not {plan_id}")
        yield n, r, where


def _as_of_cell(where: str, n: int, column: str, value: Any, required: bool = False) -> str | None:
    """A row's as-of time (None when blank and not `required`); a value that is no time is refused."""
    v = (value or "").strip() or None
    why = as_of_problem(v) if v else ("no as-of time" if required else None)
    if why:
        raise ApplyError(f"{where}: row {n}: column {column}: {why}")
    return v


def load_lead_conversions(rows: str | Path | Iterable[dict] | None, plan_id: str) -> list[dict]:
    """lead_accounts.csv (path) or rows -- plan_id, LeadId, AccountId, as_of, account_as_of: the Leads
    of existing customer Accounts the analyst chose to convert -- as groups of one `convert_lead`
    step each (convertLead with the Account and no contact: Salesforce makes a new Contact under
    it), so that they go through the groups' stale check, journal and resume. A row of another
    plan, a Lead twice, or an Id of the wrong object is refused."""
    if rows is None:
        return []
    out: list[dict] = []
    seen: set[str] = set()
    for n, r, where in _checked_rows(
            rows, "lead conversions", plan_id, unquote=("LeadId", "AccountId", "as_of", "account_as_of"),
            required=("LeadId", "AccountId"), as_of_columns=("as_of", "account_as_of"),
            no_as_of="without as-of times a changed record cannot be told from an unchanged one"):
        lead, account = str(r["LeadId"]).strip(), str(r["AccountId"]).strip()
        _check_id(lead)
        _check_id(account)
        if object_of(lead) != "Lead" or object_of(account) != "Account":
            raise ApplyError(f"{where}: row {n}: {lead} must be a Lead and {account} an Account")
        if canonical_id(lead) in seen:
            raise ApplyError(f"{where}: row {n}: Lead {lead} appears twice")
        seen.add(canonical_id(lead))
        as_of = {rid: _as_of_cell(where, n, col, r.get(col), required=True)
                 for col, rid in (("as_of", lead), ("account_as_of", account))}
        out.append({"cluster_id": f"lead_account/{lead}", "object": "Lead", "status": "review", "master_id": account,
                    "loser_ids": [], "fields": {}, "as_of": as_of,
                    "steps": [{"action": "convert_lead", "lead_id": lead, "contact_id": None, "account_id": account}]})
    return out


def load_deletes(deletes: str | Path | Iterable[dict] | None, plan_id: str) -> list[dict]:
    """delete_plan.csv (path) or rows: plan_id, Id, object, reason, as_of."""
    if deletes is None:
        return []
    out = []
    for n, r, where in _checked_rows(deletes, "delete plan", plan_id, unquote=("Id", "as_of"), required=("Id", "object"),
                                     as_of_columns=("as_of",),
                                     no_as_of="a delete plan without as-of times cannot be checked for changes"):
        rid, obj = str(r["Id"]).strip(), str(r["object"]).strip()
        # Refused here, before anything is applied: a hostile or mangled Id never reaches a query.
        valid = rid.isdigit() if obj == "Prospect" else bool(_ID.match(rid))
        if not valid:
            raise ApplyError(f"{where}: row {n}: column Id: not a {'Pardot prospect' if obj == 'Prospect' else 'Salesforce'} id: {rid!r}")
        as_of = _as_of_cell(where, n, "as_of", r.get("as_of"))
        out.append({"Id": rid, "object": obj, "reason": r.get("reason"), "as_of": as_of})
    return out


def _group_ids(c: dict) -> set[str]:
    ids = {c["master_id"], *c.get("loser_ids", [])}
    for st in c.get("steps", []):
        if st["action"] == "merge":
            ids.update([st["master_id"], *st["loser_ids"]])
        elif st["action"] == "convert_lead":
            ids.update([st["lead_id"], st.get("contact_id") or st.get("account_id")])
    return {i for i in ids if i}


def object_of(record_id: str) -> str:
    try:
        return PREFIX_OBJECTS[record_id[:3]]
    except (KeyError, TypeError):
        raise ApplyError(f"not a Lead / Contact / Account id: {record_id!r}") from None


@dataclass
class Step:
    key: str
    cluster_id: str | None
    action: str       # merge | convert_lead | update_fields | delete | delete_prospect
    sobject: str
    payload: dict

    @property
    def ids(self) -> list[str]:
        p = self.payload
        if self.action == "merge":
            return [p["master_id"], *p["loser_ids"]]
        if self.action == "convert_lead":  # (into a Person Account: the account, no contact)
            return [p["lead_id"], p["contact_id"] or p["account_id"]]
        if self.action == "update_fields":
            return [p["master_id"]]
        return [p["Id"]]


def _convert_target(payload: dict) -> str:
    if payload.get("contact_id"):
        return f"contact {payload['contact_id']}"
    return f"account {payload.get('account_id')}"


def group_steps(c: dict) -> list[Step]:
    """The write steps of a group: its plan steps, plus `update_fields` when it has converts but no
    merge to carry the surviving values."""
    cid = c["cluster_id"]
    steps = []
    for k, st in enumerate(c.get("steps", []), 1):
        if st["action"] == "merge":
            steps.append(Step(f"{cid}/{k}:merge", cid, "merge", object_of(st["master_id"]),
                              {"master_id": st["master_id"], "loser_ids": list(st["loser_ids"])}))
        elif st["action"] == "convert_lead":
            if not st.get("contact_id") and not st.get("account_id"):
                raise ApplyError(f"group {cid}: a convert_lead step names neither a contact nor a person account")
            steps.append(Step(f"{cid}/{k}:convert_lead", cid, "convert_lead", "Lead",
                              {"lead_id": st["lead_id"], "contact_id": st.get("contact_id"), "account_id": st.get("account_id")}))
        else:
            raise ApplyError(f"group {cid}: unknown step action {st['action']!r}")
    if steps and not any(s.action == "merge" for s in steps) and c.get("fields"):
        steps.append(Step(f"{cid}/{len(steps) + 1}:update_fields", cid, "update_fields", object_of(c["master_id"]),
                          {"master_id": c["master_id"]}))
    return steps


def delete_step(row: dict) -> Step:
    if row["object"] == "Prospect":
        return Step(f"delete/Prospect/{row['Id']}", None, "delete_prospect", "Prospect", dict(row))
    if row["object"] not in ("Lead", "Contact", "Account"):
        raise ApplyError(f"delete plan: object {row['object']!r} of {row['Id']} is not Lead, Contact, Account or Prospect")
    return Step(f"delete/{row['Id']}", None, "delete", row["object"], dict(row))


FLAG_OBJECTS = ("Lead", "Contact", "Account")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


def load_flags(flags: str | Path | Iterable[dict] | None, plan_id: str) -> list[dict]:
    """flag_plan.csv (path) or rows: plan_id, Id, object, field, value, reason, as_of. One row per
    record and field; a row of another plan is refused."""
    if flags is None:
        return []
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for n, r, where in _checked_rows(flags, "flag plan", plan_id, unquote=("Id", "as_of", "value"), required=("Id", "field"),
                                     as_of_columns=("as_of",),
                                     no_as_of="a flag plan without as-of times cannot be checked for changes"):
        rid = str(r["Id"]).strip()
        obj = str(r.get("object") or "").strip() or object_of(rid)
        if obj not in FLAG_OBJECTS:
            raise ApplyError(f"{where}: row {n}: object {obj!r} of {rid} is not Lead, Contact or Account")
        fld = str(r["field"]).strip()
        if not _FIELD_NAME.match(fld) or fld in NON_UPDATEABLE:
            raise ApplyError(f"{where}: row {n}: {fld!r} is not a field the applier may set")
        _check_id(rid)
        if (rid, fld.casefold()) in seen:
            raise ApplyError(f"{where}: row {n}: {rid} {fld} appears twice")
        seen.add((rid, fld.casefold()))
        value = r.get("value")
        as_of = _as_of_cell(where, n, "as_of", r.get("as_of"))
        out.append({"Id": rid, "object": obj, "field": fld, "value": None if value in (None, "") else str(value),
                    "reason": r.get("reason"), "as_of": as_of})
    return out


def flag_step(row: dict) -> Step:
    return Step(f"flag/{row['Id']}/{row['field']}", None, "update_field", row["object"], dict(row))


# ------------------------------------------------------------------------------------------------
# Values and times


def as_of_problem(value: Any) -> str | None:
    """Why `value` cannot serve as a record's as-of time, or None. The stale check compares it with
    the org's SystemModstamp (UTC), so it must be readable and say its time zone: a report export's
    local time (2024/04/01 10:18, JST) read as UTC is nine hours late, and a change made in those
    hours would not be seen. A plain date (2024-04-01, midnight UTC) is early: only too careful."""
    v = str(value).strip()
    if len(v) != 10 and not re.search(r"(?:[zZ]|[+-]\d{2}:?\d{2})$", v):
        return (f"as-of time {v!r} has no time zone (a report export's local time?): export the records with "
                "Data Loader or the API (SystemModstamp / LastModifiedDate in UTC) and make the plan again")
    try:
        parse_time(v)
    except ValueError:
        return f"as-of time {v!r} is not a date-time the applier can read"
    return None


def parse_time(value: Any) -> datetime | None:
    """Salesforce / Pardot / ISO date-times (…Z, …+0000, …+09:00, a plain date) as aware UTC."""
    if value in (None, ""):
        return None
    v = str(value).strip()
    if len(v) == 10:
        return datetime.fromisoformat(v).replace(tzinfo=timezone.utc)
    v = v.replace("Z", "+00:00")
    if len(v) >= 5 and v[-5] in "+-" and v[-3] != ":" and v[-4:].isdigit():
        v = v[:-2] + ":" + v[-2:]
    ts = datetime.fromisoformat(v)
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def norm(value: Any) -> str | None:
    """A value for comparison: blank → None, booleans and their texts alike, text stripped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    if s == "":
        return None
    if s.lower() in ("true", "false"):
        return s.lower()
    return s


def soql_quote(value: str) -> str:
    """A SOQL string literal (quotes and backslashes escaped)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _check_id(value: str) -> str:
    if not _ID.match(value or ""):
        raise ApplyError(f"not a Salesforce id: {value!r}")
    return value


# ------------------------------------------------------------------------------------------------
# The org: reads with retries, writes without blind retries, API usage


class _Org:
    def __init__(self, sf: Any, pardot: Any, budget: int | None, backoff: float | None = None):
        self.sf = sf
        self.pardot = pardot
        self.budget = budget
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self.calls = 0
        self.used: int | None = None
        self.limit: int | None = None
        self._describe: dict[str, dict | None] = {}
        self.soap = SoapClient(sf, on_limit=self._on_limit) if sf is not None else None
        self.secrets = self._secrets()

    def _secrets(self) -> list[str]:
        out: list[str] = []
        try:
            from nayose.salesforce import client_secrets

            if self.sf is not None:
                out.extend(client_secrets(self.sf))
        except ImportError:
            pass
        if self.sf is not None and getattr(self.sf, "session_id", None):
            out.append(str(self.sf.session_id))
        if self.pardot is not None:
            token = getattr(self.pardot, "_token", None)
            try:
                if callable(token):
                    out.append(token())
            except Exception:  # noqa: BLE001 - no token configured
                pass
        return [s for s in dict.fromkeys(out) if s]

    def scrub(self, text: str) -> str:
        from nayose.salesforce import scrub

        return scrub(text, self.secrets)

    # ---- API usage -----------------------------------------------------------------------------
    def _on_limit(self, used: int, limit: int) -> None:
        self.used, self.limit = used, limit

    def _track_rest(self) -> None:
        self.calls += 1
        usage = None
        try:
            from nayose.salesforce import api_usage

            usage = api_usage(self.sf)
        except ImportError:
            u = (getattr(self.sf, "api_usage", None) or {}).get("api-usage")
            usage = (u.used, u.total) if u else None
        if usage:
            self.used, self.limit = usage

    def check_budget(self, need: int) -> None:
        if self.budget is None:
            return
        used = self.used if self.used is not None else self.calls
        if used + need > self.budget:
            raise _Stop(f"API budget: {used} of the daily budget {self.budget} used; the next work needs about "
                        f"{need} more calls. Run again (tomorrow, or with a larger --budget) to resume.")

    # ---- safe reads ---------------------------------------------------------------------------
    def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        from simple_salesforce.exceptions import SalesforceError

        delay = self.backoff
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                out = fn()
                self._track_rest()
                return out
            except SalesforceError as exc:
                self._track_rest()
                self._raise_if_daily_limit(exc)
                if getattr(exc, "status", 0) not in RETRY_STATUSES or attempt == READ_ATTEMPTS:
                    raise
            except (requests.RequestException, ConnectionError) as exc:
                self.calls += 1
                if attempt == READ_ATTEMPTS:
                    raise _Unresolved(f"{what}: {type(exc).__name__}") from None
            log.info("retrying %s (attempt %d) after %.1f s", what, attempt + 1, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise _Unresolved(what)

    def _raise_if_daily_limit(self, exc: Exception) -> None:
        if getattr(exc, "status", 0) == 403 and "REQUEST_LIMIT_EXCEEDED" in str(getattr(exc, "content", "")):
            raise _Stop("the org's daily API request limit is exhausted (REQUEST_LIMIT_EXCEEDED); run again later to resume")

    def query(self, soql: str, include_deleted: bool = True) -> list[dict]:
        res = self._retrying("query", lambda: self.sf.query_all(soql, include_deleted=include_deleted))
        return [{k: v for k, v in r.items() if k != "attributes"} for r in res.get("records", [])]

    def describe(self, sobject: str) -> dict | None:
        if sobject not in self._describe:
            try:
                self._describe[sobject] = self._retrying(f"describe {sobject}", lambda: getattr(self.sf, sobject).describe())
            except Exception as exc:  # noqa: BLE001 - an org / fake without describe: fall back to GET
                if isinstance(exc, _Stop):
                    raise
                log.info("describe %s unavailable (%s); reading records one by one", sobject, type(exc).__name__)
                self._describe[sobject] = None
        return self._describe[sobject]

    def field_info(self, sobject: str) -> dict[str, dict] | None:
        d = self.describe(sobject)
        return {f["name"]: f for f in d.get("fields", [])} if d else None

    def updateable(self, sobject: str, name: str, record: dict | None) -> bool:
        if "." in name or name in NON_UPDATEABLE:
            return False
        info = self.field_info(sobject)
        if info is None:
            return record is not None and name in record
        f = info.get(name)
        return bool(f and f.get("updateable") and not f.get("calculated"))

    def records(self, sobject: str, ids: list[str]) -> dict[str, dict]:
        """Id → record with all fields (queryAll: deleted ones too); missing ids are absent."""
        ids = sorted({_check_id(i) for i in ids})
        if not ids:
            return {}
        info = self.field_info(sobject)
        out: dict[str, dict] = {}
        if info is not None:
            names = [n for n, f in info.items() if f.get("type") not in ("address", "location")]
            for i in range(0, len(ids), SOQL_CHUNK):
                chunk = ids[i:i + SOQL_CHUNK]
                soql = (f"SELECT {', '.join(names)} FROM {sobject} WHERE Id IN "
                        f"({', '.join(soql_quote(x) for x in chunk)})")
                for r in self.query(soql):
                    out[r["Id"]] = r
            return out
        from simple_salesforce.exceptions import SalesforceResourceNotFound

        for rid in ids:
            try:
                out[rid] = {k: v for k, v in self._retrying(f"read {rid}", lambda rid=rid: getattr(self.sf, sobject).get(rid)).items()
                            if k != "attributes"}
            except SalesforceResourceNotFound:
                pass
        gone = [i for i in ids if i not in out]
        if gone:
            extra = ", IsConverted, ConvertedContactId, ConvertedAccountId" if sobject == "Lead" else ""
            soql = (f"SELECT Id, IsDeleted, MasterRecordId, SystemModstamp, LastModifiedDate{extra} FROM {sobject} "
                    f"WHERE Id IN ({', '.join(soql_quote(x) for x in gone)})")
            for r in self.query(soql):
                out[r["Id"]] = r
        return out

    def children(self, parent_ids: list[str]) -> dict[str, list[list[str]]]:
        """parent Id → [[child object, child Id, lookup field]] of the live children a merge re-parents."""
        by_obj: dict[str, list[str]] = {}
        for pid in parent_ids:
            by_obj.setdefault(object_of(pid), []).append(_check_id(pid))
        wanted: dict[tuple[str, str], list[str]] = {}
        for obj, ids in by_obj.items():
            for child, fld in CHILD_LOOKUPS.get(obj, []):
                wanted.setdefault((child, fld), []).extend(ids)
        out: dict[str, list[list[str]]] = {pid: [] for pid in parent_ids}
        for (child, fld), ids in sorted(wanted.items()):
            for i in range(0, len(ids), SOQL_CHUNK):
                chunk = sorted(set(ids[i:i + SOQL_CHUNK]))
                soql = (f"SELECT Id, {fld} FROM {child} WHERE {fld} IN ({', '.join(soql_quote(x) for x in chunk)}) "
                        "ORDER BY Id")
                for r in self.query(soql, include_deleted=False):
                    out.setdefault(r[fld], []).append([child, r["Id"], fld])
        return out

    def read(self, ids: Iterable[str], child_parents: Iterable[str] = ()) -> tuple[dict[str, dict], dict[str, list]]:
        by_obj: dict[str, list[str]] = {}
        for i in ids:
            by_obj.setdefault(object_of(i), []).append(i)
        recs: dict[str, dict] = {}
        for obj in sorted(by_obj):
            recs.update(self.records(obj, by_obj[obj]))
        kids = self.children(sorted(set(child_parents))) if child_parents else {}
        return recs, kids

    # ---- writes --------------------------------------------------------------------------------
    def rest_update(self, sobject: str, record_id: str, values: dict) -> None:
        """PATCH (setting the same values twice is harmless: retried like a read)."""
        self._retrying(f"update {record_id}", lambda: getattr(self.sf, sobject).update(record_id, values))

    def rest_delete(self, sobject: str, record_id: str) -> None:
        """DELETE to the Recycle Bin: never blindly retried here (the caller checks the outcome)."""
        from simple_salesforce.exceptions import SalesforceError

        try:
            getattr(self.sf, sobject).delete(record_id)
            self._track_rest()
        except SalesforceError as exc:
            self._track_rest()
            self._raise_if_daily_limit(exc)
            raise
        except requests.RequestException as exc:
            self.calls += 1
            raise SoapOutcomeUnknown(f"delete {record_id}: no answer ({type(exc).__name__})") from None

    def collection_update(self, records: list[dict]) -> list[dict]:
        """PATCH composite/sobjects (at most 200 records, allOrNone false): one result per record,
        in order ({id, success, errors}). Not repeated here: the caller checks an unanswered call
        against the org. A connection that breaks raises SoapOutcomeUnknown."""
        from simple_salesforce.exceptions import SalesforceError

        if not records or len(records) > COLLECTION_SIZE:
            raise ApplyError(f"a collection update takes 1..{COLLECTION_SIZE} records, not {len(records)}")
        try:
            res = self.sf.restful("composite/sobjects", method="PATCH",
                                  json={"allOrNone": False, "records": records})
            self._track_rest()
        except SalesforceError as exc:
            self._track_rest()
            self._raise_if_daily_limit(exc)
            raise
        except requests.RequestException as exc:
            self.calls += 1
            raise SoapOutcomeUnknown(f"collection update of {len(records)} record(s): no answer "
                                     f"({type(exc).__name__})") from None
        if not isinstance(res, list) or len(res) != len(records):
            raise SoapOutcomeUnknown("collection update: the answer does not have one result per record")
        return res

    def soap_call(self, fn: Callable[[], list[CallResult]]) -> list[CallResult]:
        before = self.soap.calls
        try:
            return fn()
        finally:
            self.calls += self.soap.calls - before


_YEAR_FIRST_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?")


def iso_date(value: Any) -> Any:
    """A date field's value as the API takes it (YYYY-MM-DD): a spreadsheet's 2024/4/1 or
    2024年4月1日 from an export is written as 2024-04-01; anything else is left to the org to judge."""
    m = _YEAR_FIRST_DATE.fullmatch(str(value).strip())
    if not m:
        return value
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return value


def _typed(info: dict | None, value: Any) -> Any:
    """A plan value (text from the export) typed for REST by the field's describe type."""
    if info is None or value is None:
        return value
    t = info.get("type")
    if t == "date":
        return iso_date(value)
    if t == "boolean":
        # (a checkbox exported as 1 / yes / はい is true: `norm(value) == "true"` wrote an opt-out
        # given as 1 or はい back as false)
        if isinstance(value, bool):
            return value
        return unicodedata.normalize("NFKC", str(value)).strip().lower() in TRUE_FLAG_VALUES
    if t in ("int",):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return value
    if t in ("double", "currency", "percent"):
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    return value


def _collection_result(res: dict, record_id: str) -> CallResult:
    """A CallResult from one sObject Collections result ({id, success, errors})."""
    errors = [CallError(str(e.get("statusCode") or e.get("errorCode") or ""), str(e.get("message") or ""),
                        list(e.get("fields") or [])) for e in (res or {}).get("errors") or []]
    return CallResult(success=bool((res or {}).get("success")), id=(res or {}).get("id") or record_id, errors=errors)


def _after_state(rec: dict | None) -> dict | None:
    """What undo compares against: the record's modification stamps right after our write."""
    if rec is None:
        return None
    return {"LastModifiedDate": rec.get("LastModifiedDate"), "SystemModstamp": rec.get("SystemModstamp")}


def _distinct_id_rounds(steps: list[Step], size: int) -> list[list[Step]]:
    """Chunks of at most `size` steps in which no record Id appears twice (a collection request
    takes each record once); later fields of one record go to later chunks."""
    rounds: list[list[Step]] = []
    todo = list(steps)
    while todo:
        chunk, ids, rest = [], set(), []
        for s in todo:
            if len(chunk) < size and s.payload["Id"] not in ids:
                chunk.append(s)
                ids.add(s.payload["Id"])
            else:
                rest.append(s)
        rounds.append(chunk)
        todo = rest
    return rounds


def _staleness(rec: dict | None, as_of: str | None, sobject: str) -> str | None:
    """Why a record may not be touched any more, or None."""
    if rec is None:
        return "gone from the org (not found, or purged from the Recycle Bin)"
    if rec.get("IsDeleted") in (True, "true"):
        if rec.get("MasterRecordId"):
            return f"merged into {rec['MasterRecordId']} since the plan"
        return "deleted since the plan"
    if sobject == "Lead" and rec.get("IsConverted") in (True, "true"):
        return f"converted into {rec.get('ConvertedContactId') or rec.get('ConvertedAccountId') or 'a contact'} since the plan"
    if as_of is None:
        return "no as-of time in the plan"
    ref = parse_time(as_of)
    for f in ("SystemModstamp", "LastModifiedDate"):
        t = parse_time(rec.get(f))
        if t is not None and ref is not None and t > ref:
            return f"changed after the plan: {f} {rec.get(f)} is newer than the plan's as-of {as_of}"
    return None


# ------------------------------------------------------------------------------------------------
# The applier


class _Applier:
    def __init__(self, doc: dict, journal: Journal, org: _Org | None, execute: bool, report: ApplyReport,
                 progress: Callable[[dict], None] | None):
        self.doc = doc
        self.plan_id = doc["plan_id"]
        self.journal = journal
        self.org = org
        self.execute = execute
        self.report = report
        self.progress = progress
        self.run_id: str | None = None
        self.latest: dict[str, dict] = {}
        self.post_write: dict[str, dict] = {}  # see _post_write_records
        self.done_count = 0
        self.total = 0

    # ---- journal helpers ----------------------------------------------------------------------
    def _j(self, step: Step | None, status: str, *, key: str | None = None, action: str | None = None,
           cluster_id: str | None = None, attempt: int = 1, request: Any = None, snapshot: Any = None,
           result: Any = None) -> None:
        k = key or step.key
        self.journal.write(plan_id=self.plan_id, step_key=k, action=action or step.action, status=status,
                           run_id=self.run_id, cluster_id=cluster_id if step is None else step.cluster_id,
                           attempt=attempt, request=request, snapshot=snapshot, result=result)
        entry = {"step_key": k, "status": status, "request": request, "snapshot": snapshot, "result": result}
        if status in EXEC_STATUSES:
            self.latest[k] = entry
        if self.progress is not None and status in ("done", "failed", "stale", "dry_run", "unknown"):
            try:
                self.progress({"step_key": k, "status": status, "cluster_id": cluster_id if step is None else step.cluster_id,
                               "done": self.done_count, "total": self.total})
            except Exception:  # noqa: BLE001 - a progress callback never breaks the run
                log.exception("progress callback failed")

    def _j_many(self, items: list[tuple[Step, str, dict]]) -> None:
        """Journal several steps' entries in one transaction: (step, status, {attempt, request,
        snapshot, result})."""
        if not items:
            return
        self.journal.write_many([
            {"plan_id": self.plan_id, "step_key": s.key, "action": s.action, "status": status, "run_id": self.run_id,
             "cluster_id": s.cluster_id, **kw} for s, status, kw in items])
        for s, status, kw in items:
            if status in EXEC_STATUSES:
                self.latest[s.key] = {"step_key": s.key, "status": status, "request": kw.get("request"),
                                      "snapshot": kw.get("snapshot"), "result": kw.get("result")}
            if self.progress is not None and status in ("done", "failed", "stale", "dry_run", "unknown"):
                try:
                    self.progress({"step_key": s.key, "status": status, "cluster_id": s.cluster_id,
                                   "done": self.done_count, "total": self.total})
                except Exception:  # noqa: BLE001 - a progress callback never breaks the run
                    log.exception("progress callback failed")

    def _status(self, step: Step) -> str | None:
        e = self.latest.get(step.key)
        return e["status"] if e else None

    def _err(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        return self.org.scrub(text) if self.org is not None else text

    # ---- outcome checks (resume, unknown) -------------------------------------------------------
    def _outcome(self, step: Step, request: dict | None) -> tuple[str, dict]:
        """('done' | 'not_done' | 'conflict', evidence) of a step, from the org (safe reads)."""
        p = step.payload
        org = self.org
        if step.action == "merge":
            recs = org.records(step.sobject, [p["master_id"], *p["loser_ids"]])
            states = {i: {"IsDeleted": recs.get(i, {}).get("IsDeleted"), "MasterRecordId": recs.get(i, {}).get("MasterRecordId"),
                          "found": i in recs} for i in p["loser_ids"]}
            merged = [i for i in p["loser_ids"] if recs.get(i, {}).get("IsDeleted") in (True, "true")
                      and recs[i].get("MasterRecordId") == p["master_id"]]
            live = [i for i in p["loser_ids"] if i in recs and recs[i].get("IsDeleted") not in (True, "true")]
            if len(merged) == len(p["loser_ids"]):
                return "done", {"losers": states}
            if len(live) == len(p["loser_ids"]) and p["master_id"] in recs:
                return "not_done", {"losers": states}
            return "conflict", {"losers": states, "reason": "losers are neither all merged into the master nor all alive"}
        if step.action == "convert_lead":
            recs = org.records("Lead", [p["lead_id"]])
            lead = recs.get(p["lead_id"])
            ev = {"IsConverted": lead.get("IsConverted") if lead else None,
                  "ConvertedContactId": lead.get("ConvertedContactId") if lead else None,
                  "ConvertedAccountId": lead.get("ConvertedAccountId") if lead else None}
            into = (lead or {}).get("ConvertedContactId") if p["contact_id"] else (lead or {}).get("ConvertedAccountId")
            if lead and lead.get("IsConverted") in (True, "true") and into == (p["contact_id"] or p["account_id"]):
                return "done", ev
            if lead and lead.get("IsConverted") in (False, "false", None) and lead.get("IsDeleted") not in (True, "true"):
                return "not_done", ev
            return "conflict", {**ev, "reason": "the lead is converted into another contact, deleted or gone"}
        if step.action == "update_fields":
            values = (request or {}).get("fields") or {}
            rec = org.records(step.sobject, [p["master_id"]]).get(p["master_id"]) or {}
            same = all(norm(rec.get(f)) == norm(v) for f, v in values.items())
            return ("done" if same else "not_done"), {"fields_match": same}
        if step.action == "update_field":
            rec = org.records(step.sobject, [p["Id"]]).get(p["Id"])
            if rec is not None and rec.get("IsDeleted") not in (True, "true") and norm(rec.get(p["field"])) == norm(p["value"]):
                return "done", {"value": rec.get(p["field"]), "after": _after_state(rec)}
            return "not_done", {"found": rec is not None, "value": None if rec is None else rec.get(p["field"])}
        if step.action == "delete":
            rec = org.records(step.sobject, [p["Id"]]).get(p["Id"])
            if rec is None or rec.get("IsDeleted") in (True, "true"):
                return "done", {"deleted": True, "found": rec is not None}
            return "not_done", {"deleted": False}
        if step.action == "delete_prospect":
            from nayose.pardot import PardotNotFound

            try:
                self.org.pardot.get_prospect(p["Id"], ["id", "updatedAt"])
            except PardotNotFound:
                return "done", {"deleted": True}
            return "not_done", {"deleted": False}
        raise ApplyError(f"no outcome check for {step.action}")

    def _resolve(self, step: Step) -> str:
        """Check a step left without a result; journal and return its new status (done / failed /
        unknown when the org could not be read)."""
        prev = self.latest.get(step.key) or {}
        try:
            outcome, evidence = self._outcome(step, prev.get("request"))
        except (_Unresolved, requests.RequestException) as exc:
            log.warning("outcome of %s still unknown: %s", step.key, type(exc).__name__)
            return "unknown"
        except Exception as exc:  # noqa: BLE001
            from simple_salesforce.exceptions import SalesforceError

            if isinstance(exc, (SalesforceError,)) or type(exc).__name__.startswith("Pardot"):
                log.warning("outcome of %s still unknown: %s", step.key, type(exc).__name__)
                return "unknown"
            raise
        if outcome == "done":
            self._j(step, "done", request=prev.get("request"), result={"confirmed_from_org": True, **evidence})
            self.report.steps_confirmed += 1
            return "done"
        if outcome == "not_done":
            self._j(step, "failed", request=prev.get("request"), result={"not_executed": True, "checked": evidence})
            return "failed"
        self._j(step, "failed", request=prev.get("request"), result={"conflict": True, **evidence})
        return "conflict"

    # ---- one call ---------------------------------------------------------------------------------
    def _call(self, step: Step, request: dict) -> CallResult | None:
        """Run the write; returns its CallResult, raises SoapFault / SoapRateLimited / SoapOutcomeUnknown
        / SalesforceError."""
        org = self.org
        p = step.payload
        if step.action == "merge":
            values = request["fields"]
            req = MergeRequest(step.sobject, p["master_id"], list(p["loser_ids"]),
                               fields={f: v for f, v in values.items() if v is not None},
                               fields_to_null=[f for f, v in values.items() if v is None])
            return org.soap_call(lambda: org.soap.merge([req]))[0]
        if step.action == "convert_lead":
            if p["contact_id"] and not request.get("account_id"):
                # (convertLead names a Contact with its Account: one without an account cannot take a Lead)
                return CallResult(success=False, id=p["lead_id"], errors=[CallError(
                    "NO_ACCOUNT", f"contact {p['contact_id']} has no account: a lead cannot be converted into it "
                    "(give the contact an account, or merge by hand)", ["accountId"])])
            lc = LeadConvert(lead_id=p["lead_id"], contact_id=p["contact_id"], account_id=request.get("account_id"))
            return org.soap_call(lambda: org.soap.convert_lead([lc]))[0]
        if step.action == "update_fields":
            info = org.field_info(step.sobject) or {}
            values = {f: _typed(info.get(f), v) for f, v in request["fields"].items()}
            org.rest_update(step.sobject, p["master_id"], values)
            return CallResult(success=True, id=p["master_id"])
        if step.action == "update_field":
            info = org.field_info(step.sobject) or {}
            res = org.collection_update([{"attributes": {"type": step.sobject}, "Id": p["Id"],
                                          p["field"]: _typed(info.get(p["field"]), p["value"])}])[0]
            return _collection_result(res, p["Id"])
        if step.action == "delete":
            org.rest_delete(step.sobject, p["Id"])
            return CallResult(success=True, id=p["Id"])
        if step.action == "delete_prospect":
            from nayose.pardot import PardotError

            try:
                org.pardot.delete_prospect(p["Id"])
            except PardotError as exc:
                if type(exc).__name__ == "PardotNotFound":
                    raise
                raise SoapOutcomeUnknown(f"Pardot delete of {p['Id']}: {exc}") from None
            org.calls += 1
            return CallResult(success=True, id=str(p["Id"]))
        raise ApplyError(f"unknown action {step.action}")

    def _run_step(self, step: Step, request: dict, snapshot: dict) -> str:
        """Journal-first execution of one write step: 'done' | 'failed' | 'unknown'."""
        from simple_salesforce.exceptions import SalesforceError

        delay = self.org.backoff
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self.org.check_budget(1)
            self._j(step, "intent", attempt=attempt, request=request, snapshot=snapshot)
            try:
                res = self._call(step, request)
            except SoapRateLimited as exc:
                self._j(step, "failed", attempt=attempt, request=request, result={"not_executed": True, "error": self._err(exc)})
                if exc.daily_limit:
                    raise _Stop("the org's daily API request limit is exhausted (REQUEST_LIMIT_EXCEEDED)") from None
            except SoapFault as exc:
                self._j(step, "failed", attempt=attempt, request=request, result={"not_executed": True, "error": self._err(exc)})
                return "failed"
            except (SoapOutcomeUnknown, _Unresolved, requests.RequestException) as exc:
                self._j(step, "unknown", attempt=attempt, request=request, result={"error": self._err(exc)})
                status = self._resolve(step)
                if status == "done":
                    return "done"
                if status in ("unknown", "conflict"):
                    return "unknown" if status == "unknown" else "failed"
            except SalesforceError as exc:
                if step.action == "delete" and getattr(exc, "status", 0) == 404:
                    # a 404 on DELETE: deleted already (a retry by the session, or concurrently)
                    self._j(step, "unknown", attempt=attempt, request=request, result={"error": self._err(exc)})
                    status = self._resolve(step)
                    return "done" if status == "done" else ("unknown" if status == "unknown" else "failed")
                if getattr(exc, "status", 0) in RETRY_STATUSES and step.action != "update_fields":
                    self._j(step, "unknown", attempt=attempt, request=request, result={"error": self._err(exc)})
                    status = self._resolve(step)
                    if status == "done":
                        return "done"
                    if status != "failed":
                        return "unknown" if status == "unknown" else "failed"
                else:
                    self._j(step, "failed", attempt=attempt, request=request, result={"error": self._err(exc)})
                    return "failed"
            except Exception as exc:
                if type(exc).__name__ == "PardotNotFound":
                    self._j(step, "failed", attempt=attempt, request=request, result={"error": self._err(exc)})
                    return "failed"
                raise
            else:
                if res.success:
                    self._j(step, "done", attempt=attempt, request=request, result=res.to_dict())
                    return "done"
                self._j(step, "failed", attempt=attempt, request=request, result=res.to_dict())
                return "failed"
            # not executed: try again after a pause
            if attempt < MAX_ATTEMPTS:
                self.report.steps_retried += 1
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        return "failed"

    # ---- requests -----------------------------------------------------------------------------
    def _field_values(self, c: dict, master: dict | None, sobject: str) -> dict[str, Any]:
        """Surviving values that differ from the master's current ones (updateable fields only)."""
        out: dict[str, Any] = {}
        for f, fv in (c.get("fields") or {}).items():
            value = fv.get("value") if isinstance(fv, dict) else fv
            # a blank never overwrites a value -- but a bounce left by the master's old address is
            # cleared when survivorship says so (config.CLEARED: the new address did not bounce)
            cleared = isinstance(fv, dict) and str(fv.get("rule") or "").endswith(CLEARED)
            if (value is None or norm(value) is None) and not cleared:
                continue
            if self.org is not None and not self.org.updateable(sobject, f, master):
                continue
            if self.org is None and ("." in f or f in NON_UPDATEABLE):
                continue
            if cleared:
                value = None
            elif self.org is not None and ((self.org.field_info(sobject) or {}).get(f) or {}).get("type") == "date":
                value = iso_date(value)  # (the merge's SOAP request takes a date as YYYY-MM-DD too)
            current = master.get(f) if master else None
            if norm(current) != norm(value):
                out[f] = value
        return out

    def _request(self, step: Step, c: dict, recs: dict[str, dict]) -> dict:
        p = step.payload
        if step.action == "merge":
            return {"master_id": p["master_id"], "loser_ids": p["loser_ids"], "object": step.sobject,
                    "fields": self._field_values(c, recs.get(p["master_id"]), step.sobject)}
        if step.action == "convert_lead":
            account = p.get("account_id") or (recs.get(p["contact_id"]) or {}).get("AccountId")
            return {"lead_id": p["lead_id"], "contact_id": p["contact_id"], "account_id": account,
                    "overwrite_lead_source": False}
        if step.action == "update_fields":
            return {"master_id": p["master_id"], "object": step.sobject,
                    "fields": self._field_values(c, recs.get(p["master_id"]), step.sobject)}
        return {"Id": p["Id"], "object": p["object"], "reason": p.get("reason")}

    @staticmethod
    def _snapshot(step: Step, recs: dict[str, dict], kids: dict[str, list]) -> dict:
        ids = step.ids
        return {"records": {i: recs.get(i) for i in ids},
                "children": {i: kids.get(i, []) for i in ids if i in kids}}

    # ---- groups -------------------------------------------------------------------------------
    def run_group(self, c: dict) -> None:
        rep = self.report
        cid = c["cluster_id"]
        steps = group_steps(c)
        if not steps:
            return
        rep.groups_planned += 1
        rep.steps_planned += len(steps)
        pending = [s for s in steps if self._status(s) != "done"]
        verify_key = f"{cid}/verify"
        if not pending and (not self.execute or verify_key in self.latest):
            rep.groups_already_applied += 1
            rep.steps_already_done += len(steps)
            return
        rep.steps_already_done += len(steps) - len(pending)
        if not self.execute:
            self._dry_run_group(c, pending)
            return
        org = self.org
        org.check_budget(6 + 4 * len(pending))
        # 1. resume: steps left without a result are checked against the org first
        for s in pending:
            if self._status(s) in ("intent", "unknown"):
                st = self._resolve(s)
                if st == "unknown":
                    rep.groups_unknown.append({"cluster_id": cid, "step_key": s.key,
                                               "reason": "outcome of an interrupted call could not be checked yet"})
                    return
                if st == "conflict":
                    rep.steps_failed += 1
                    rep.groups_failed.append({"cluster_id": cid, "step_key": s.key,
                                              "error": "interrupted call left the org in an unexpected state"})
                    return
        pending = [s for s in steps if self._status(s) != "done"]
        touched: set[str] = set()
        for s in steps:
            if self._status(s) == "done":
                touched.update(s.ids)
        # 2. stale check: one read of every record of the group (+ the children merges re-parent)
        ids = sorted(_group_ids(c))
        masters = {s.payload["master_id"] for s in steps if s.action in ("merge", "update_fields")}
        masters |= {s.payload["contact_id"] or s.payload["account_id"] for s in steps if s.action == "convert_lead"}
        try:
            recs, kids = org.read(ids, [i for i in ids if i not in masters])
        except _Unresolved as exc:
            rep.groups_unknown.append({"cluster_id": cid, "step_key": None, "reason": f"could not read the records: {exc}"})
            return
        reasons = []
        seen = self.post_write.get(cid) or {}
        for rid in ids:
            obj = object_of(rid)
            if rid in touched:
                # changed by this plan's own done steps: the survivors must still be alive, and not
                # changed since the read that followed this plan's own write (someone's edit in
                # between would be overwritten by the next step)
                rec = recs.get(rid)
                if rid in masters and (rec is None or rec.get("IsDeleted") in (True, "true")):
                    reasons.append({"cluster_id": cid, "Id": rid, "reason": _staleness(rec, None, obj)})
                elif rid in masters and rid in seen and pending:
                    for f in ("SystemModstamp", "LastModifiedDate"):
                        was, now = parse_time((seen[rid] or {}).get(f)), parse_time(rec.get(f))
                        if was is not None and now is not None and now > was:
                            reasons.append({"cluster_id": cid, "Id": rid, "reason":
                                            f"changed after this plan's own write: {f} {rec.get(f)} is newer than "
                                            f"{seen[rid].get(f)}, read after the group's last step done"})
                            break
                continue
            why = _staleness(recs.get(rid), (c.get("as_of") or {}).get(rid), obj)
            if why:
                reasons.append({"cluster_id": cid, "Id": rid, "reason": why})
        if reasons:
            for s in pending:
                self._j(s, "stale", result={"reasons": reasons})
            rep.groups_stale.extend(reasons)
            rep.steps_stale += len(pending)
            return
        # 3. the steps, journal first
        resumed_only = not pending  # (every step done by an earlier run: see the verify entry)
        first = True
        for s in pending:
            if not first:
                try:
                    recs, kids = org.read(s.ids, [i for i in s.ids if i not in masters])
                except _Unresolved as exc:
                    rep.groups_unknown.append({"cluster_id": cid, "step_key": s.key, "reason": f"could not read the records: {exc}"})
                    return
            first = False
            request = self._request(s, c, recs)
            snapshot = self._snapshot(s, recs, kids)
            if s.action == "update_fields" and not request["fields"]:
                self._j(s, "done", request=request, snapshot=snapshot, result={"nothing_to_change": True})
                rep.steps_done += 1
                self.done_count += 1
                continue
            status = self._run_step(s, request, snapshot)
            if status == "done":
                rep.steps_done += 1
                self.done_count += 1
                continue
            if status == "unknown":
                rep.groups_unknown.append({"cluster_id": cid, "step_key": s.key,
                                           "reason": "the call got no answer and the org could not be checked; run again to resume"})
                return
            rep.steps_failed += 1
            last = self.latest.get(s.key) or {}
            rep.groups_failed.append({"cluster_id": cid, "step_key": s.key, "error": _error_text(last.get("result"))})
            return
        # 4. verify: the master as it ended up (undo compares against it)
        master_id = c["master_id"]
        try:
            after = org.records(object_of(master_id), [master_id]).get(master_id)
        except _Unresolved:
            after = None
        mismatches = {}
        if after is not None:
            for f, fv in (c.get("fields") or {}).items():
                value = fv.get("value") if isinstance(fv, dict) else fv
                if value is None or not org.updateable(object_of(master_id), f, after):
                    continue
                if norm(after.get(f)) != norm(value):
                    mismatches[f] = {"expected": value, "actual": after.get(f)}
        # (`after_resume`: the steps were done by an earlier run that ended before this read, so the
        # master read now may hold someone's later edit; undo then trusts the values it wrote, not this)
        self._j(None, "done", key=verify_key, action="verify", cluster_id=cid,
                result={"master_after": after, "mismatches": mismatches, "after_resume": resumed_only})
        rep.groups_applied += 1

    def _dry_run_group(self, c: dict, pending: list[Step]) -> None:
        rep = self.report
        cid = c["cluster_id"]
        recs: dict[str, dict] = {}
        kids: dict[str, list] = {}
        if self.org is not None:
            ids = sorted(_group_ids(c))
            try:
                recs, kids = self.org.read(ids, [])
            except _Unresolved as exc:
                rep.groups_unknown.append({"cluster_id": cid, "step_key": None, "reason": f"could not read the records: {exc}"})
                return
            touched = {i for s in pending if self._status(s) in ("intent", "unknown") for i in s.ids}
            reasons = []
            started = any(self._status(s) == "done" for s in group_steps(c))
            for rid in ids:
                if started or rid in touched:
                    continue
                why = _staleness(recs.get(rid), (c.get("as_of") or {}).get(rid), object_of(rid))
                if why:
                    reasons.append({"cluster_id": cid, "Id": rid, "reason": why})
            if reasons:
                for s in pending:
                    self._j(s, "stale", result={"reasons": reasons, "dry_run": True})
                rep.groups_stale.extend(reasons)
                rep.steps_stale += len(pending)
                return
        for s in pending:
            if self._status(s) in ("intent", "unknown"):
                rep.groups_unknown.append({"cluster_id": cid, "step_key": s.key,
                                           "reason": "interrupted call: checked against the org on the next --execute"})
            request = self._request(s, c, recs) if self.org is not None else _offline_request(s, c)
            self._j(s, "dry_run", request=request, snapshot=self._snapshot(s, recs, kids) if recs else None)
            rep.steps_dry_run += 1

    # ---- deletes ------------------------------------------------------------------------------
    def run_deletes(self, rows: list[dict]) -> None:
        rep = self.report
        steps = [delete_step(r) for r in rows]
        rep.deletes_planned = len(steps)
        pending = [s for s in steps if self._status(s) != "done"]
        rep.deletes_already_done = len(steps) - len(pending)
        if not pending:
            return
        if not self.execute:
            for s in pending:
                self._dry_run_delete(s)
            return
        org = self.org
        if any(s.action == "delete_prospect" for s in pending) and org.pardot is None:
            raise ApplyError("the delete plan has Prospect rows but no Pardot connection was given")
        # resume: calls left without a result are checked against the org first
        unresolved = set()
        for s in pending:
            if self._status(s) in ("intent", "unknown") and self._resolve(s) == "unknown":
                unresolved.add(s.key)
                rep.deletes_failed.append({"Id": s.payload["Id"], "object": s.payload["object"], "status": "unknown",
                                           "error": "outcome of an interrupted call could not be checked yet"})
        confirmed = sum(1 for s in pending if self._status(s) == "done")
        rep.deletes_done += confirmed
        pending = [s for s in pending if self._status(s) != "done" and s.key not in unresolved]
        sf_steps = [s for s in pending if s.action == "delete"]
        for i in range(0, len(sf_steps), SOQL_CHUNK):
            chunk = sf_steps[i:i + SOQL_CHUNK]
            org.check_budget(4 + len(chunk))
            by_obj: dict[str, list[str]] = {}
            for s in chunk:
                by_obj.setdefault(s.sobject, []).append(s.payload["Id"])
            recs: dict[str, dict] = {}
            for obj, ids in sorted(by_obj.items()):
                recs.update(org.records(obj, ids))
            kids = org.children([s.payload["Id"] for s in chunk])
            for s in chunk:
                self._delete_one(s, recs.get(s.payload["Id"]), kids)
        for s in pending:
            if s.action == "delete_prospect":
                org.check_budget(2)
                self._delete_prospect(s)

    def _delete_one(self, s: Step, rec: dict | None, kids: dict) -> None:
        rep = self.report
        why = _staleness(rec, s.payload.get("as_of"), s.sobject)
        cascade = [k for k in kids.get(s.payload["Id"], []) if k[0] in CASCADE_GUARDED.get(s.sobject, ())]
        if not why and cascade:
            # (deleting an Account deletes its Contacts and Opportunities with it: a test-named Account
            # holding real ones is for a person to look at, not for a junk rule)
            counts = Counter(child for child, _cid, _fld in cascade)
            why = (f"has related records that deleting it would delete too ({', '.join(f'{n} {o}' for o, n in sorted(counts.items()))}): "
                   "not deleted; review them and delete it by hand")
        if why:
            self._j(s, "stale", result={"reason": why})
            rep.deletes_stale.append({"Id": s.payload["Id"], "object": s.sobject, "reason": why})
            return
        request = self._request(s, {}, {})
        snapshot = {"records": {s.payload["Id"]: rec}, "children": {s.payload["Id"]: kids.get(s.payload["Id"], [])}}
        status = self._run_step(s, request, snapshot)
        self._count_delete(s, status)

    def _delete_prospect(self, s: Step) -> None:
        from nayose.pardot import DEFAULT_PROSPECT_FIELDS, PardotError, PardotNotFound

        rep = self.report
        try:
            rec = self.org.pardot.get_prospect(s.payload["Id"], list(DEFAULT_PROSPECT_FIELDS))
            self.org.calls += 1
        except PardotNotFound:
            rec = None
        except PardotError as exc:
            rep.deletes_failed.append({"Id": s.payload["Id"], "object": "Prospect", "status": "not_attempted",
                                       "error": self._err(exc)})
            return
        why = None
        if rec is None:
            why = "prospect gone (not found or in the Pardot recycle bin)"
        elif s.payload.get("as_of") is None:
            why = "no as-of time in the plan"
        else:
            t, ref = parse_time(rec.get("updatedAt")), parse_time(s.payload["as_of"])
            if t is not None and ref is not None and t > ref:
                why = f"changed after the plan: updatedAt {rec.get('updatedAt')} is newer than the plan's as-of {s.payload['as_of']}"
        if why:
            self._j(s, "stale", result={"reason": why})
            rep.deletes_stale.append({"Id": s.payload["Id"], "object": "Prospect", "reason": why})
            return
        status = self._run_step(s, self._request(s, {}, {}), {"records": {str(s.payload["Id"]): rec}})
        self._count_delete(s, status)
        if status == "done":
            rep.prospects_deleted += 1

    def _count_delete(self, s: Step, status: str) -> None:
        rep = self.report
        if status == "done":
            rep.deletes_done += 1
            self.done_count += 1
        else:
            last = self.latest.get(s.key) or {}
            rep.deletes_failed.append({"Id": s.payload["Id"], "object": s.payload["object"], "status": status,
                                       "error": _error_text(last.get("result"))})

    def _dry_run_delete(self, s: Step) -> None:
        rep = self.report
        if self.org is not None and s.action == "delete":
            rec = self.org.records(s.sobject, [s.payload["Id"]]).get(s.payload["Id"])
            why = _staleness(rec, s.payload.get("as_of"), s.sobject)
            if why:
                self._j(s, "stale", result={"reason": why, "dry_run": True})
                rep.deletes_stale.append({"Id": s.payload["Id"], "object": s.sobject, "reason": why})
                return
        self._j(s, "dry_run", request=self._request(s, {}, {}))
        rep.steps_dry_run += 1

    # ---- flags (flag_plan.csv) ----------------------------------------------------------------
    def _flag_records(self, steps: list[Step]) -> dict[str, dict]:
        """Id → record (all fields, deleted ones too) of the flag steps' records."""
        by_obj: dict[str, list[str]] = {}
        for s in steps:
            by_obj.setdefault(s.sobject, []).append(s.payload["Id"])
        recs: dict[str, dict] = {}
        for obj, ids in sorted(by_obj.items()):
            recs.update(self.org.records(obj, ids))
        return recs

    @staticmethod
    def _flag_request(s: Step, rec: dict | None) -> dict:
        p = s.payload
        return {"Id": p["Id"], "object": s.sobject, "field": p["field"], "value": p["value"],
                "old_value": None if rec is None else rec.get(p["field"]), "reason": p.get("reason")}

    def _count_flag_done(self, confirmed: bool = False) -> None:
        self.report.flags_done += 1
        self.report.flags_confirmed += int(confirmed)
        self.done_count += 1

    def _flag_failed(self, s: Step, status: str, error: str) -> None:
        p = s.payload
        self.report.flags_failed.append({"Id": p["Id"], "object": s.sobject, "field": p["field"], "status": status,
                                         "error": error})

    def _resolve_flags(self, steps: list[Step]) -> dict[str, str]:
        """Check flag steps left without a result against the org (one read for all): 'done'
        (the record holds the value: journaled done, never sent again), 'failed' (not executed)
        or 'unknown' (the org could not be read)."""
        from simple_salesforce.exceptions import SalesforceError

        try:
            recs = self._flag_records(steps)
        except (_Unresolved, requests.RequestException, SalesforceError) as exc:
            log.warning("outcome of %d flag update(s) still unknown: %s", len(steps), type(exc).__name__)
            return {s.key: "unknown" for s in steps}
        out: dict[str, str] = {}
        items = []
        for s in steps:
            p = s.payload
            prev = self.latest.get(s.key) or {}
            rec = recs.get(p["Id"])
            live = rec is not None and rec.get("IsDeleted") not in (True, "true")
            if live and norm(rec.get(p["field"])) == norm(p["value"]):
                items.append((s, "done", {"request": prev.get("request"), "result": {
                    "confirmed_from_org": True, "value": rec.get(p["field"]), "after": _after_state(rec)}}))
                self._count_flag_done(confirmed=True)
                out[s.key] = "done"
            else:
                items.append((s, "failed", {"request": prev.get("request"), "result": {
                    "not_executed": True, "checked": {"found": rec is not None,
                                                      "value": None if rec is None else rec.get(p["field"])}}}))
                out[s.key] = "failed"
        self._j_many(items)
        return out

    def run_flags(self, rows: list[dict]) -> None:
        """Set the flag plan's fields: per record a journaled `update_field` step, sent in sObject
        Collections PATCH requests of up to 200 records (allOrNone false, one result per record)."""
        rep = self.report
        steps = [flag_step(r) for r in rows]
        rep.flags_planned = len(steps)
        pending = [s for s in steps if self._status(s) != "done"]
        rep.flags_already_done = len(steps) - len(pending)
        if not pending:
            return
        if not self.execute:
            self._dry_run_flags(pending)
            return
        org = self.org
        # 1. resume: calls left without a result are checked against the org first
        left = [s for s in pending if self._status(s) in ("intent", "unknown")]
        unresolved: set[str] = set()
        for i in range(0, len(left), SOQL_CHUNK):
            chunk = left[i:i + SOQL_CHUNK]
            org.check_budget(2)
            for key, st in self._resolve_flags(chunk).items():
                if st == "unknown":
                    unresolved.add(key)
        for s in left:
            if s.key in unresolved:
                self._flag_failed(s, "unknown", "outcome of an interrupted call could not be checked yet")
        pending = [s for s in pending if self._status(s) != "done" and s.key not in unresolved]
        # 2. per chunk: one read (stale check + snapshot), then one collection request
        for chunk in _distinct_id_rounds(pending, COLLECTION_SIZE):
            org.check_budget(3)
            try:
                recs = self._flag_records(chunk)
            except _Unresolved as exc:
                for s in chunk:
                    self._flag_failed(s, "not_attempted", f"could not read the record: {exc}")
                continue
            ready: list[tuple[Step, dict]] = []
            items = []
            for s in chunk:
                p = s.payload
                rec = recs.get(p["Id"])
                why = _staleness(rec, p.get("as_of"), s.sobject)
                if why:
                    items.append((s, "stale", {"result": {"reason": why}}))
                    rep.flags_stale.append({"Id": p["Id"], "object": s.sobject, "field": p["field"], "reason": why})
                    rep.steps_stale += 1
                elif not org.updateable(s.sobject, p["field"], rec):
                    err = f"{s.sobject}.{p['field']} is not an updateable field (describe)"
                    items.append((s, "failed", {"request": self._flag_request(s, rec), "result": {"error": err}}))
                    self._flag_failed(s, "failed", err)
                elif norm(rec.get(p["field"])) == norm(p["value"]):
                    items.append((s, "done", {"request": self._flag_request(s, rec), "snapshot": {"records": {p["Id"]: rec}},
                                              "result": {"nothing_to_change": True}}))
                    self._count_flag_done()
                    rep.flags_unchanged += 1
                else:
                    ready.append((s, rec))
            self._j_many(items)
            if ready:
                self._flag_batch(ready)

    def _flag_batch(self, ready: list[tuple[Step, dict]]) -> None:
        """Journal-first collection update of one chunk, with the outcome of every record settled:
        done, failed (a record-level error), or sent again when the org shows it was not executed."""
        from simple_salesforce.exceptions import SalesforceError

        org = self.org
        reqs = {s.key: self._flag_request(s, rec) for s, rec in ready}
        snaps = {s.key: {"records": {s.payload["Id"]: rec}} for s, rec in ready}
        batch = [s for s, _ in ready]
        delay = org.backoff
        for attempt in range(1, MAX_ATTEMPTS + 1):
            org.check_budget(2)
            self._j_many([(s, "intent", {"attempt": attempt, "request": reqs[s.key], "snapshot": snaps[s.key]})
                          for s in batch])
            body = []
            for s in batch:
                p = s.payload
                info = (org.field_info(s.sobject) or {}).get(p["field"])
                body.append({"attributes": {"type": s.sobject}, "Id": p["Id"], p["field"]: _typed(info, p["value"])})
            retry: list[Step] = []
            try:
                results = org.collection_update(body)
            except SalesforceError as exc:
                status = getattr(exc, "status", 0)
                err = self._err(exc)
                if status == 429:  # refused, not executed: send again after a pause
                    self._j_many([(s, "failed", {"attempt": attempt, "request": reqs[s.key],
                                                 "result": {"not_executed": True, "error": err}}) for s in batch])
                    retry = batch
                elif status in RETRY_STATUSES:  # the org may have executed it: check
                    self._j_many([(s, "unknown", {"attempt": attempt, "request": reqs[s.key], "result": {"error": err}})
                                  for s in batch])
                    retry = self._settle_unknown(batch)
                else:  # the request itself was refused: nothing executed
                    self._j_many([(s, "failed", {"attempt": attempt, "request": reqs[s.key], "result": {"error": err}})
                                  for s in batch])
                    for s in batch:
                        self._flag_failed(s, "failed", err)
                    return
            except (SoapOutcomeUnknown, _Unresolved, requests.RequestException) as exc:
                err = self._err(exc)
                self._j_many([(s, "unknown", {"attempt": attempt, "request": reqs[s.key], "result": {"error": err}})
                              for s in batch])
                retry = self._settle_unknown(batch)
            else:
                ok = [s for s, r in zip(batch, results) if r.get("success")]
                after: dict[str, dict] = {}
                if ok:
                    try:  # the records as they ended up: undo tells a later edit by them
                        after = self._flag_records(ok)
                    except (_Unresolved, requests.RequestException, SalesforceError):
                        after = {}
                items = []
                for s, r in zip(batch, results):
                    res = _collection_result(r, s.payload["Id"]).to_dict()
                    if r.get("success"):
                        items.append((s, "done", {"attempt": attempt, "request": reqs[s.key],
                                                  "result": {**res, "after": _after_state(after.get(s.payload["Id"]))}}))
                        self._count_flag_done()
                    else:
                        items.append((s, "failed", {"attempt": attempt, "request": reqs[s.key], "result": res}))
                        self._flag_failed(s, "failed", _error_text(res))
                self._j_many(items)
                return
            if not retry:
                return
            if attempt < MAX_ATTEMPTS:
                self.report.steps_retried += len(retry)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
            batch = retry
        for s in batch:
            self._flag_failed(s, "failed", _error_text((self.latest.get(s.key) or {}).get("result")))

    def _settle_unknown(self, batch: list[Step]) -> list[Step]:
        """After an unanswered collection request: the steps to send again (not executed); confirmed
        ones are done, the ones the org could not tell are reported unknown."""
        states = self._resolve_flags(batch)
        out = []
        for s in batch:
            if states[s.key] == "failed":
                out.append(s)
            elif states[s.key] == "unknown":
                self._flag_failed(s, "unknown", "the call got no answer and the org could not be checked; run again to resume")
        return out

    def _dry_run_flags(self, pending: list[Step]) -> None:
        rep = self.report
        for chunk in _distinct_id_rounds(pending, SOQL_CHUNK):
            recs: dict[str, dict] = {}
            if self.org is not None:
                try:
                    recs = self._flag_records(chunk)
                except _Unresolved as exc:
                    for s in chunk:
                        self._flag_failed(s, "not_attempted", f"could not read the record: {exc}")
                    continue
            items = []
            for s in chunk:
                p = s.payload
                if self._status(s) in ("intent", "unknown"):
                    self._flag_failed(s, "unknown", "interrupted call: checked against the org on the next --execute")
                rec = recs.get(p["Id"])
                if self.org is not None:
                    why = _staleness(rec, p.get("as_of"), s.sobject)
                    if why:
                        items.append((s, "stale", {"result": {"reason": why, "dry_run": True}}))
                        rep.flags_stale.append({"Id": p["Id"], "object": s.sobject, "field": p["field"], "reason": why})
                        rep.steps_stale += 1
                        continue
                request = self._flag_request(s, rec)
                if self.org is None:
                    request["old_value_unchecked"] = True
                elif norm(rec.get(p["field"])) == norm(p["value"]):
                    request["nothing_to_change"] = True
                items.append((s, "dry_run", {"request": request, "snapshot": {"records": {p["Id"]: rec}} if rec else None}))
                rep.steps_dry_run += 1
            self._j_many(items)


def _offline_request(s: Step, c: dict) -> dict:
    p = s.payload
    if s.action in ("merge", "update_fields"):
        fields = {f: (fv.get("value") if isinstance(fv, dict) else fv) for f, fv in (c.get("fields") or {}).items()
                  if "." not in f and f not in NON_UPDATEABLE and (fv.get("value") if isinstance(fv, dict) else fv) is not None}
        return {**{k: v for k, v in p.items()}, "object": s.sobject, "fields": fields, "fields_unchecked": True}
    return dict(p)


def _error_text(result: Any) -> str:
    if not isinstance(result, dict):
        return "failed"
    if result.get("error"):
        return str(result["error"])
    errs = result.get("errors") or []
    if errs:
        return "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errs)
    if result.get("conflict"):
        return str(result.get("reason") or "conflict")
    return "failed"


# ------------------------------------------------------------------------------------------------
# Public API


def apply_plan(
    plan: str | Path | dict,
    *,
    journal_db: str | Path,
    sf: Any = None,
    pardot: Any = None,
    execute: bool = False,
    clusters: Iterable[str] | None = None,
    deletes: str | Path | Iterable[dict] | None = None,
    api_budget: int | None = None,
    progress: Callable[[dict], None] | None = None,
    flags: str | Path | Iterable[dict] | None = None,
    lead_conversions: str | Path | Iterable[dict] | None = None,
) -> ApplyReport:
    """Apply merge_plan.json (path or dict) — see the module docstring.

    `clusters`: the approved cluster ids (None: every group of the plan that has steps);
    `deletes`: delete_plan.csv (path) or its rows, applied after the groups (and the flags);
    `flags`: flag_plan.csv (path) or its rows, each an `update_field` step (`flag/<Id>/<field>`)
    applied after the groups through sObject Collections; `api_budget`: stop
    before the org's daily API usage (Sforce-Limit-Info) would pass it; `progress(event)` is called
    with {step_key, status, cluster_id, done, total} after each step. `execute=False` is a dry run.
    """
    started = time.perf_counter()
    doc = load_plan(plan)
    rows = load_deletes(deletes, doc["plan_id"])
    flag_rows = load_flags(flags, doc["plan_id"])
    if execute and sf is None:
        raise ApplyError("--execute needs a Salesforce connection")
    org = _Org(sf, pardot, api_budget) if sf is not None else None
    journal = Journal(journal_db, secrets=org.secrets if org else ())
    report = ApplyReport(plan_id=doc["plan_id"], mode="execute" if execute else "dry_run",
                         journal_db=str(journal_db), api_budget=api_budget)
    approved = None if clusters is None else {str(c) for c in clusters}
    groups = [c for c in doc["clusters"] if c.get("steps") and (approved is None or c["cluster_id"] in approved)]
    # (the Leads of customer Accounts the analyst chose, lead_accounts.csv: after the people's groups)
    groups += load_lead_conversions(lead_conversions, doc["plan_id"])
    # Account merges last: an Account merge re-parents the losers' Contacts, which changes them
    # (SystemModstamp), and a Contact group applied after it would be skipped as changed after the plan.
    groups.sort(key=lambda c: c.get("object") == "Account")
    if approved is not None:
        unknown = approved - {c["cluster_id"] for c in doc["clusters"]}
        if unknown:
            raise ApplyError(f"cluster(s) not in plan {doc['plan_id']}: {', '.join(sorted(unknown)[:5])}")
    with _plan_run(journal_db, doc["plan_id"], execute):
        return _apply_run(doc, journal, org, execute, report, progress, groups, rows, flag_rows, started)


def _plan_run(journal_db: str | Path, plan_id: str, execute: bool):
    """One executing apply or undo of a plan at a time per journal (a lock file beside it): a second
    one started meanwhile treated the first one's in-flight call as an interrupted one, journaled it
    failed after it was done, and the journal contradicted the org. Dry runs write nothing to the org."""
    from contextlib import nullcontext

    from nayose.lock import exclusive_run

    if not execute:
        return nullcontext()
    db = Path(journal_db)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", plan_id)[:80]
    return exclusive_run(db.with_name(f"{db.name}.apply-{safe}.lock"), f"an apply or undo of plan {plan_id} ({db})")


def _post_write_records(entries: list[dict]) -> dict[str, dict]:
    """Per group: its records as read after the group's last done write (the snapshot of a later
    step's intent: the step failed or was interrupted, and the read came after the write). Absent
    when no read followed that write (the run was killed between the write and the next read)."""
    last_done: dict[str, int] = {}
    snap: dict[str, tuple[int, dict]] = {}
    for e in entries:
        cid = e.get("cluster_id")
        if not cid or e["step_key"].startswith("undo/"):
            continue
        if e["status"] == "done" and e["action"] != "verify":
            last_done[cid] = e["seq"]
        elif e["status"] == "intent" and e.get("snapshot"):
            snap[cid] = (e["seq"], (e["snapshot"] or {}).get("records") or {})
    return {cid: recs for cid, (seq, recs) in snap.items() if cid in last_done and seq > last_done[cid]}


def _apply_run(doc: dict, journal: Journal, org: "_Org | None", execute: bool, report: ApplyReport,
               progress: Callable[[dict], None] | None, groups: list[dict], rows: list[dict], flag_rows: list[dict],
               started: float) -> ApplyReport:
    app = _Applier(doc, journal, org, execute, report, progress)
    entries = journal.entries(doc["plan_id"])
    app.latest = latest_by_step(entries)
    app.post_write = _post_write_records(entries)
    app.total = sum(len(group_steps(c)) for c in groups) + len(rows) + len(flag_rows)
    app.run_id = journal.start_run(doc["plan_id"], "apply", report.mode)
    report.run_id = app.run_id
    i = 0
    try:
        for i, c in enumerate(groups):
            app.run_group(c)
        i = len(groups)
        app.run_flags(flag_rows)
        app.run_deletes(rows)
    except _Stop as stop:
        report.stopped = str(stop)
        report.groups_not_attempted = len(groups) - i
        log.warning("apply stopped: %s", report.stopped)
    finally:
        if org is not None:
            report.api_calls = org.calls
            report.api_used, report.api_limit = org.used, org.limit
        report.seconds = round(time.perf_counter() - started, 3)
        try:
            journal.finish_run(app.run_id, report.to_dict())
        except Exception:  # noqa: BLE001 - the report is still returned
            log.exception("could not record the end of the run")
    return report


def undo_plan(
    plan: str | Path | dict,
    *,
    journal_db: str | Path,
    sf: Any = None,
    pardot: Any = None,
    execute: bool = False,
    clusters: Iterable[str] | None = None,
    progress: Callable[[dict], None] | None = None,
    flags: str | Path | Iterable[dict] | None = None,
    lead_conversions: str | Path | Iterable[dict] | None = None,
) -> UndoReport:
    """Undo what `apply_plan` did for this plan (per the journal) — see the module docstring.

    Flag steps: every `flag/…` step done in the journal gets its old value back (from the intent's
    snapshot) unless the record was edited since the apply; `flags` (flag_plan.csv or rows of this
    plan) limits the undo to those rows."""
    started = time.perf_counter()
    doc = load_plan(plan)
    if sf is None:
        raise ApplyError("undo needs a Salesforce connection (it reads the org even in a dry run)")
    org = _Org(sf, pardot, None)
    journal = Journal(journal_db, secrets=org.secrets)
    report = UndoReport(plan_id=doc["plan_id"], mode="execute" if execute else "dry_run")
    with _plan_run(journal_db, doc["plan_id"], execute):
        return _undo_run(doc, org, journal, report, execute, clusters, progress, flags, lead_conversions, started)


def _undo_run(doc: dict, org: "_Org", journal: Journal, report: UndoReport, execute: bool,
              clusters: Iterable[str] | None, progress: Callable[[dict], None] | None,
              flags: str | Path | Iterable[dict] | None, lead_conversions: str | Path | Iterable[dict] | None,
              started: float) -> UndoReport:
    entries = journal.entries(doc["plan_id"])
    latest = latest_by_step(entries)
    run_id = journal.start_run(doc["plan_id"], "undo", report.mode)
    report.run_id = run_id
    approved = None if clusters is None else {str(c) for c in clusters}
    flag_keys = None if flags is None else {flag_step(r).key for r in load_flags(flags, doc["plan_id"])}

    def jw(key: str, action: str, status: str, cluster_id: str | None, request=None, snapshot=None, result=None):
        if not execute and status != "dry_run":
            return
        journal.write(plan_id=doc["plan_id"], step_key=key, action=action, status=status, run_id=run_id,
                      cluster_id=cluster_id, request=request, snapshot=snapshot, result=result)
        if progress is not None:
            try:
                progress({"step_key": key, "status": status, "cluster_id": cluster_id})
            except Exception:  # noqa: BLE001
                log.exception("progress callback failed")

    def undone(key: str) -> bool:
        e = latest.get(key)
        return bool(e and e["status"] == "done")

    def interrupted(key: str) -> dict | None:
        """The entry of an undo call left without a result (killed mid-call), if any."""
        e = latest.get(key)
        return e if e and e["status"] in ("intent", "unknown") else None

    def jw_many(items: list[tuple[str, str, str, dict]]) -> None:
        """Several undo entries (key, action, status, {request, snapshot, result}) in one transaction."""
        journal.write_many([{"plan_id": doc["plan_id"], "step_key": k, "action": a, "status": st, "run_id": run_id, **kw}
                            for k, a, st, kw in items if execute or st == "dry_run"])

    first_intent: dict[str, dict] = {}
    last_intent: dict[str, dict] = {}
    for e in entries:
        if e["status"] == "intent":
            first_intent.setdefault(e["step_key"], e)
            last_intent[e["step_key"]] = e
    verify = {e["cluster_id"]: e for e in entries if e["action"] == "verify" and e["status"] == "done"}
    conversions = load_lead_conversions(lead_conversions, doc["plan_id"])  # (reported: the API cannot revert one)
    try:
        for c in [*doc["clusters"], *conversions]:
            cid = c["cluster_id"]
            if approved is not None and cid not in approved and not cid.startswith("lead_account/"):
                continue
            steps = group_steps(c)
            done = [s for s in steps if (latest.get(s.key) or {}).get("status") == "done"]
            if not done:
                continue
            report.groups += 1
            # the values the apply wrote on the master itself (its done steps' requests)
            written: dict[str, Any] = {}
            for st in done:
                req = (last_intent.get(st.key) or {}).get("request") or {}
                if st.action in ("merge", "update_fields"):
                    written.update(req.get("fields") or {})
            _undo_group(org, c, done, first_intent, verify.get(cid), report, execute, jw, undone, written, interrupted)
        _undo_deletes(org, doc, latest, first_intent, report, execute, jw, undone)
        _undo_flags(org, entries, latest, first_intent, report, execute, jw_many, undone, flag_keys)
    finally:
        report.api_calls = org.calls
        report.api_used = org.used
        report.seconds = round(time.perf_counter() - started, 3)
        journal.finish_run(run_id, report.to_dict())
    return report


def _undo_group(org: _Org, c: dict, done: list[Step], first_intent: dict, verify: dict | None, report: UndoReport,
                execute: bool, jw, undone, written: dict[str, Any], interrupted) -> None:
    cid = c["cluster_id"]
    master_id = c["master_id"]
    mobj = object_of(master_id)
    # the master before the first step, from the earliest snapshot that holds it
    before = None
    for s in group_steps(c):
        e = first_intent.get(s.key)
        if e and e.get("snapshot") and (e["snapshot"].get("records") or {}).get(master_id):
            before = e["snapshot"]["records"][master_id]
            break
    after = ((verify or {}).get("result") or {}).get("master_after")
    losers = [i for s in done if s.action == "merge" for i in s.payload["loser_ids"]]
    ids = [master_id, *losers]
    recs, _ = org.read(ids, [])
    current = recs.get(master_id)
    # 1. losers back from the Recycle Bin
    key_u = f"undo/{cid}/undelete"
    if losers and not undone(key_u):
        to_undelete, purged = [], []
        for lid in losers:
            r = recs.get(lid)
            if r is None:
                purged.append(lid)
            elif r.get("IsDeleted") in (True, "true"):
                to_undelete.append(lid)
        for lid in purged:
            report.not_restored.append({"cluster_id": cid, "Id": lid, "object": mobj, "kind": "purged",
                                        "detail": "merge loser is gone from the Recycle Bin (purged or older than 15 days)"})
        if not execute:
            report.would_undelete.extend(to_undelete)
            jw(key_u, "undelete", "dry_run", cid, request={"ids": to_undelete})
        elif to_undelete:
            jw(key_u, "undelete", "intent", cid, request={"ids": to_undelete}, snapshot={"records": {i: recs.get(i) for i in to_undelete}})
            ok, failed = _soap_undelete(org, to_undelete)
            report.records_undeleted.extend(ok)
            for rid, err in failed.items():
                report.not_restored.append({"cluster_id": cid, "Id": rid, "object": mobj, "kind": "undelete_failed", "detail": err})
            jw(key_u, "undelete", "done" if not failed else "failed", cid, request={"ids": to_undelete},
               result={"undeleted": ok, "failed": failed, "purged": purged})
        else:
            jw(key_u, "undelete", "done", cid, result={"undeleted": [], "purged": purged})
    elif losers:
        report.already_undone += 1
    # 2. what cannot come back: re-parented children, conversions
    for s in done:
        e = first_intent.get(s.key) or {}
        kids = (e.get("snapshot") or {}).get("children") or {}
        if s.action == "merge":
            for lid in s.payload["loser_ids"]:
                for child, child_id, fld in kids.get(lid, []):
                    report.not_restored.append({
                        "cluster_id": cid, "Id": child_id, "object": child, "kind": "reparented_child",
                        "detail": f"{child}.{fld} was moved from {lid} to {master_id} by the merge; undelete does not move it back"})
        elif s.action == "convert_lead":
            lead = s.payload["lead_id"]
            report.not_restored.append({"cluster_id": cid, "Id": lead, "object": "Lead", "kind": "converted_lead",
                                        "detail": f"lead converted into {_convert_target(s.payload)}: the API cannot revert a conversion"})
            for child, child_id, fld in kids.get(lead, []):
                report.not_restored.append({
                    "cluster_id": cid, "Id": child_id, "object": child, "kind": "reparented_child",
                    "detail": f"{child} of lead {lead} now points at {_convert_target(s.payload)} (conversion)"})
    # 3. the master's fields
    key_m = f"undo/{cid}/master"
    if undone(key_m):
        report.already_undone += 1
        return
    if before is None or current is None:
        report.not_restored.append({"cluster_id": cid, "Id": master_id, "object": mobj, "kind": "master_unknown",
                                    "detail": "no snapshot of the master, or the master is gone"})
        return
    if current.get("IsDeleted") in (True, "true"):
        report.not_restored.append({"cluster_id": cid, "Id": master_id, "object": mobj, "kind": "master_deleted",
                                    "detail": "the master has been deleted since the apply"})
        return
    def edited_since(why: str, fields: dict) -> None:
        """Nothing restored: the master was edited after the apply (reported with the fields)."""
        report.not_restored.append({
            "cluster_id": cid, "Id": master_id, "object": mobj, "kind": "edited_since",
            "detail": f"the master was edited after the apply ({why}); fields not restored: {', '.join(sorted(changed)) or '-'}",
            "fields": fields})
        jw(key_m, "restore_master", "failed" if execute else "dry_run", cid, result={"edited_since": True, "fields": sorted(changed)})

    left = interrupted(key_m) if execute else None
    if left is not None:
        # an earlier undo was cut off mid-call: when the master holds what it sent, it went through
        # (the master's newer LastModifiedDate is the undo's own: not "edited since")
        sent = (left.get("request") or {}).get("fields") or {}
        if sent and all(norm(current.get(f)) == norm(v) for f, v in sent.items()):
            report.masters_restored.append({"cluster_id": cid, "Id": master_id, "fields": sorted(sent)})
            jw(key_m, "restore_master", "done", cid, request=left.get("request"), result={"confirmed": True})
            return
    if after is not None and ((verify or {}).get("result") or {}).get("after_resume"):
        after = None  # (read on a later run: it may hold someone's edit, not what the apply left)
    if after is None:
        # No read right after the apply's last write (the group failed or was interrupted before its
        # verify entry): only the fields the apply wrote itself are restored, and only where the
        # master still holds what it wrote -- a field someone changed since is theirs (before, every
        # field differing from the snapshot was restored, a later edit of a field the plan never
        # touched included).
        changed = {f: before.get(f) for f in sorted(written)
                   if org.updateable(mobj, f, before) and norm(written[f]) != norm(before.get(f))}
        edited = {f: {"snapshot": before.get(f), "written": written[f], "now": current.get(f)}
                  for f in changed if norm(current.get(f)) != norm(written[f])}
        if any(s.action == "convert_lead" for s in done):
            report.not_restored.append({
                "cluster_id": cid, "Id": master_id, "object": mobj, "kind": "conversion_fills_unknown",
                "detail": "the group's apply did not finish: fields a lead conversion filled on the master are not known "
                          "and not restored"})
        if edited:
            edited_since(f"{', '.join(sorted(edited))} no longer hold(s) what the apply wrote", edited)
            return
    else:
        changed = {f: before.get(f) for f in sorted(set(before) | set(after))
                   if org.updateable(mobj, f, before) and norm(after.get(f)) != norm(before.get(f))}
    if after is not None and (current.get("LastModifiedDate") != after.get("LastModifiedDate")):
        edited_since(f"LastModifiedDate {current.get('LastModifiedDate')}",
                     {f: {"snapshot": before.get(f), "now": current.get(f)} for f in changed})
        return
    if not changed:
        jw(key_m, "restore_master", "done" if execute else "dry_run", cid, result={"nothing_to_restore": True})
        return
    if not execute:
        report.would_restore.append({"cluster_id": cid, "Id": master_id, "fields": changed})
        jw(key_m, "restore_master", "dry_run", cid, request={"fields": changed})
        return
    jw(key_m, "restore_master", "intent", cid, request={"master_id": master_id, "fields": changed},
       snapshot={"records": {master_id: current}})
    try:
        org.rest_update(mobj, master_id, changed)
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, _Stop):
            raise
        err = org.scrub(f"{type(exc).__name__}: {exc}")
        report.steps_failed.append({"cluster_id": cid, "step_key": key_m, "error": err})
        jw(key_m, "restore_master", "failed", cid, request={"fields": changed}, result={"error": err})
        return
    report.masters_restored.append({"cluster_id": cid, "Id": master_id, "fields": sorted(changed)})
    jw(key_m, "restore_master", "done", cid, request={"master_id": master_id, "fields": changed}, result={"success": True})


def _soap_undelete(org: _Org, ids: list[str]) -> tuple[list[str], dict[str, str]]:
    ok: list[str] = []
    failed: dict[str, str] = {}
    for i in range(0, len(ids), 200):
        chunk = ids[i:i + 200]
        try:
            results = org.soap_call(lambda: org.soap.undelete(chunk))
        except (SoapOutcomeUnknown, SoapRateLimited):
            # undelete is safe to check: read back which came back, retry the rest once
            recs = org.records(object_of(chunk[0]), chunk) if len({object_of(x) for x in chunk}) == 1 else {}
            back = [x for x in chunk if recs.get(x) and recs[x].get("IsDeleted") in (False, "false")]
            ok.extend(back)
            rest = [x for x in chunk if x not in back]
            if rest:
                try:
                    results = org.soap_call(lambda: org.soap.undelete(rest))
                except Exception as exc:  # noqa: BLE001
                    failed.update({x: org.scrub(f"{type(exc).__name__}: {exc}") for x in rest})
                    continue
                chunk = rest
            else:
                continue
        except SoapFault as exc:
            failed.update({x: org.scrub(str(exc)) for x in chunk})
            continue
        for rid, r in zip(chunk, results):
            if r.success:
                ok.append(rid)
            else:
                failed[rid] = "; ".join(f"{e.status_code}: {e.message}" for e in r.errors) or "undelete failed"
    return ok, failed


def _undo_deletes(org: _Org, doc: dict, latest: dict, first_intent: dict, report: UndoReport, execute: bool, jw, undone) -> None:
    done = [e for k, e in latest.items() if k.startswith("delete/") and e["status"] == "done"]
    if not done:
        return
    sf_ids = [k.split("/", 1)[1] for k in (e["step_key"] for e in done) if not k.startswith("delete/Prospect/")]
    prospect_ids = [k.split("/", 2)[2] for k in (e["step_key"] for e in done) if k.startswith("delete/Prospect/")]
    todo = [i for i in sf_ids if not undone(f"undo/delete/{i}")]
    report.already_undone += len(sf_ids) - len(todo)
    by_obj: dict[str, list[str]] = {}
    for i in todo:
        by_obj.setdefault(object_of(i), []).append(i)
    for obj, ids in sorted(by_obj.items()):
        recs = org.records(obj, ids)
        deleted = [i for i in ids if recs.get(i) and recs[i].get("IsDeleted") in (True, "true")]
        for i in ids:
            if i not in recs:
                report.not_restored.append({"cluster_id": None, "Id": i, "object": obj, "kind": "purged",
                                            "detail": "deleted record is gone from the Recycle Bin"})
        if not execute:
            report.would_undelete.extend(deleted)
            for i in deleted:
                jw(f"undo/delete/{i}", "undelete", "dry_run", None, request={"ids": [i]})
            continue
        for i in deleted:
            jw(f"undo/delete/{i}", "undelete", "intent", None, request={"ids": [i]}, snapshot={"records": {i: recs[i]}})
        ok, failed = _soap_undelete(org, deleted) if deleted else ([], {})
        report.records_undeleted.extend(ok)
        for i in deleted:
            if i in failed:
                report.not_restored.append({"cluster_id": None, "Id": i, "object": obj, "kind": "undelete_failed", "detail": failed[i]})
                jw(f"undo/delete/{i}", "undelete", "failed", None, result={"error": failed[i]})
            else:
                jw(f"undo/delete/{i}", "undelete", "done", None, result={"success": True})
    for pid in prospect_ids:
        key = f"undo/delete/Prospect/{pid}"
        if undone(key):
            report.already_undone += 1
            continue
        if org.pardot is None:
            report.not_restored.append({"cluster_id": None, "Id": pid, "object": "Prospect", "kind": "no_pardot_connection",
                                        "detail": "deleted prospect: no Pardot connection given to undo"})
            continue
        if not execute:
            report.would_undelete.append(pid)
            jw(key, "undelete_prospect", "dry_run", None, request={"id": pid})
            continue
        jw(key, "undelete_prospect", "intent", None, request={"id": pid})
        try:
            org.pardot.undelete_prospect(pid)
            org.calls += 1
        except Exception as exc:  # noqa: BLE001
            err = org.scrub(f"{type(exc).__name__}: {exc}")
            report.not_restored.append({"cluster_id": None, "Id": pid, "object": "Prospect", "kind": "undelete_failed", "detail": err})
            jw(key, "undelete_prospect", "failed", None, result={"error": err})
            continue
        report.prospects_undeleted.append(pid)
        jw(key, "undelete_prospect", "done", None, result={"success": True})


def _undo_flags(org: _Org, entries: list[dict], latest: dict, first_intent: dict, report: UndoReport, execute: bool,
                jw_many, undone, only: set[str] | None) -> None:
    """Give every applied flag its old value back (the first intent's snapshot), in sObject
    Collections requests; a record edited since the apply is reported, not overwritten."""
    from simple_salesforce.exceptions import SalesforceError

    todo: list[tuple[str, dict]] = []
    after_by_id: dict[str, tuple[int, dict]] = {}
    for key, e in latest.items():
        if not key.startswith("flag/") or e["status"] != "done":
            continue
        result = e.get("result") or {}
        req = (first_intent.get(key) or {}).get("request") or e.get("request") or {}
        if req.get("Id") and result.get("after"):
            prev = after_by_id.get(req["Id"])
            if prev is None or e["seq"] > prev[0]:
                after_by_id[req["Id"]] = (e["seq"], result["after"])
        if (only is not None and key not in only) or result.get("nothing_to_change") or not req.get("Id"):
            continue
        if undone(f"undo/{key}"):
            report.already_undone += 1
            continue
        todo.append((key, req))
    if not todo:
        return
    by_obj: dict[str, list[str]] = {}
    for _, req in todo:
        by_obj.setdefault(req["object"], []).append(req["Id"])
    recs: dict[str, dict] = {}
    for obj, ids in sorted(by_obj.items()):
        recs.update(org.records(obj, ids))
    restore: list[tuple[str, dict]] = []
    items = []
    for key, req in todo:
        rid, fld = req["Id"], req["field"]
        rec = recs.get(rid)
        why = None
        if rec is None:
            why = ("purged", "the record is gone from the org (purged from the Recycle Bin)")
        elif rec.get("IsDeleted") in (True, "true"):
            why = ("deleted", "the record has been deleted since the apply")
        elif norm(rec.get(fld)) != norm(req.get("value")):
            why = ("edited_since", f"{fld} was changed after the apply (now {rec.get(fld)!r}, the apply set "
                                   f"{req.get('value')!r}); not restored to {req.get('old_value')!r}")
        else:
            after = (after_by_id.get(rid) or (0, None))[1]
            if after and after.get("LastModifiedDate") and rec.get("LastModifiedDate") != after["LastModifiedDate"]:
                why = ("edited_since", f"the record was edited after the apply (LastModifiedDate {rec.get('LastModifiedDate')}); "
                                       f"{fld} not restored to {req.get('old_value')!r}")
        if why:
            report.not_restored.append({"cluster_id": None, "Id": rid, "object": req["object"], "kind": why[0],
                                        "detail": why[1], "fields": {fld: {"snapshot": req.get("old_value"),
                                                                           "now": None if rec is None else rec.get(fld)}}})
            items.append((f"undo/{key}", "restore_field", "failed" if execute else "dry_run", {"result": {"not_restored": why[0]}}))
            continue
        restore.append((key, req))
    if not execute:
        for key, req in restore:
            report.would_restore.append({"cluster_id": None, "Id": req["Id"], "fields": {req["field"]: req.get("old_value")}})
            items.append((f"undo/{key}", "restore_field", "dry_run",
                          {"request": {"Id": req["Id"], "field": req["field"], "value": req.get("old_value")}}))
        jw_many(items)
        return
    jw_many(items)
    steps = [Step(f"undo/{key}", None, "update_field", req["object"],
                  {"Id": req["Id"], "field": req["field"], "value": req.get("old_value")}) for key, req in restore]
    for chunk in _distinct_id_rounds(steps, COLLECTION_SIZE):
        jw_many([(s.key, "restore_field", "intent", {
            "request": {"Id": s.payload["Id"], "field": s.payload["field"], "value": s.payload["value"]},
            "snapshot": {"records": {s.payload["Id"]: recs.get(s.payload["Id"])}}}) for s in chunk])
        body = [{"attributes": {"type": s.sobject}, "Id": s.payload["Id"],
                 s.payload["field"]: _typed((org.field_info(s.sobject) or {}).get(s.payload["field"]), s.payload["value"])}
                for s in chunk]
        errors: dict[str, str] = {}
        try:
            results = [_collection_result(r, s.payload["Id"]) for s, r in zip(chunk, org.collection_update(body))]
        except (SoapOutcomeUnknown, SalesforceError, requests.RequestException) as exc:
            err = org.scrub(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, SalesforceError) and getattr(exc, "status", 0) not in RETRY_STATUSES:
                results = [CallResult(success=False, id=s.payload["Id"]) for s in chunk]
                errors = {s.key: err for s in chunk}
            else:  # no answer: the org tells which values are back
                now: dict[str, dict] = {}
                for obj in sorted({s.sobject for s in chunk}):
                    now.update(org.records(obj, [s.payload["Id"] for s in chunk if s.sobject == obj]))
                results = []
                for s in chunk:
                    back = norm((now.get(s.payload["Id"]) or {}).get(s.payload["field"])) == norm(s.payload["value"])
                    results.append(CallResult(success=back, id=s.payload["Id"]))
                    if not back:
                        errors[s.key] = f"{err}; the value is not restored (run undo again)"
        done_items = []
        for s, r in zip(chunk, results):
            p = s.payload
            if r.success:
                report.flags_restored.append({"Id": p["Id"], "object": s.sobject, "field": p["field"], "value": p["value"]})
                done_items.append((s.key, "restore_field", "done", {
                    "request": {"Id": p["Id"], "field": p["field"], "value": p["value"]}, "result": r.to_dict()}))
            else:
                err = errors.get(s.key) or _error_text(r.to_dict())
                report.steps_failed.append({"cluster_id": None, "step_key": s.key, "error": err})
                done_items.append((s.key, "restore_field", "failed", {"result": {"error": err}}))
        jw_many(done_items)
