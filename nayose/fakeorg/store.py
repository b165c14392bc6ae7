"""State of the local fake Salesforce org (and its Pardot business unit), with Salesforce's semantics.

This is the contract shared by the fake org's HTTP front (`nayose.fakeorg.server`: REST, Bulk 2.0,
Pardot v5) and its SOAP handlers (`nayose.fakeorg.soap`: merge / convertLead / undelete). The
engine never imports it; tests and `make demo-org` do.

* Records live in `objects[sobject][Id]` as flat dicts of API field name → value (str / bool /
  None / number). Every record carries `Id`, `IsDeleted`, `CreatedDate`, `LastModifiedDate`,
  `SystemModstamp`; Lead / Contact / Account also `MasterRecordId` (None unless merged away).
  Lead has `IsConverted`, `ConvertedContactId`, `ConvertedAccountId`.
* Deleting puts a record in the Recycle Bin (`IsDeleted = True`, `deleted_at` kept aside); it is
  then invisible to `get()` / `query` but visible with `include_deleted=True` (queryAll) until
  `purge_recycle_bin()` empties the bin (emptyRecycleBin, the 15-day window: `before=…`).
* The delete log (what getDeleted reads, `get_deleted`): every delete is logged with its time
  (`delete_log`), an undelete takes it out; emptying the bin leaves it, `purge_delete_log()` purges
  it (Salesforce's background purge) and moves the object's `earliestDateAvailable` (the last
  physically deleted record's time) forward. getDeleted answers for 15 days back at most.
* Children: lookup fields listed in `LOOKUPS` (Contact.AccountId, Task.WhoId / WhatId,
  CampaignMember.LeadId / ContactId, Opportunity.AccountId). `reparent(old, new)` moves every
  child's lookup from old to new, as a merge does; `children_of(id)` lists them.
* Time: `now()` is a strictly increasing clock (UTC, millisecond ISO 8601 with `.000+0000`
  like Salesforce), so two writes never share a SystemModstamp; `advance(seconds)` moves it.
* Every method takes the store's re-entrant lock: the HTTP server handles requests in threads.
* API usage: `count_api_call()` increments the daily counter reported in `Sforce-Limit-Info`
  (`api-usage=used/limit`).
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from nayose.records import id18  # noqa: F401  (the fixtures' and tests' id18: one algorithm)

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "CampaignMember": "00v",
    "Campaign": "701",
}
PREFIX_OBJECTS = {v: k for k, v in KEY_PREFIXES.items()}
MERGEABLE = ("Lead", "Contact", "Account")
# child sObject → its lookup fields (field → parent sObjects it may point at)
LOOKUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "Contact": {"AccountId": ("Account",)},
    "Opportunity": {"AccountId": ("Account",)},
    "Task": {"WhoId": ("Lead", "Contact"), "WhatId": ("Account", "Opportunity")},
    "CampaignMember": {"LeadId": ("Lead",), "ContactId": ("Contact",)},
}
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "MasterRecordId")
READ_ONLY_FIELDS = frozenset(SYSTEM_FIELDS) | {"IsConverted", "ConvertedContactId", "ConvertedAccountId", "ConvertedDate",
                                               "IsPersonAccount", "PersonContactId"}
EPOCH = datetime(2026, 11, 1, 0, 0, 0, tzinfo=timezone.utc)


class OrgError(Exception):
    """A Salesforce-style error: `code` is the API's errorCode (e.g. ENTITY_IS_DELETED)."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = list(fields)


def sf_time(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+0000"


def parse_sf_time(value: str) -> datetime:
    """Parse Salesforce datetimes: 2026-11-01T00:00:00.000+0000, ...Z, or a plain date."""
    v = value.strip()
    if len(v) == 10:
        return datetime.fromisoformat(v).replace(tzinfo=timezone.utc)
    v = v.replace("Z", "+00:00")
    if len(v) >= 5 and v[-5] in "+-" and v[-3] != ":":
        v = v[:-2] + ":" + v[-2:]
    ts = datetime.fromisoformat(v)
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


class OrgStore:
    """In-memory org state; `save(path)` / `OrgStore.load(path)` persist it as JSON."""

    def __init__(self, api_daily_limit: int = 100_000, org_id: str = "00D5F0000000001EAA"):
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KEY_PREFIXES}
        self.deleted_at: dict[str, str] = {}  # Id → when it went to the Recycle Bin
        self.delete_log: dict[str, tuple[str, str]] = {}  # Id → (sObject, deletedDate): getDeleted's source
        self.delete_log_purged: dict[str, str] = {}  # sObject → deletedDate of the last physically deleted record
        self.prospects: dict[int, dict[str, Any]] = {}  # Pardot prospects by numeric id
        self.prospect_recycle_bin: set[int] = set()
        self.pardot_custom_fields: dict[int, dict[str, Any]] = {}  # Pardot prospect custom field definitions
        self.api_daily_limit = api_daily_limit
        self.api_used = 0
        self.org_id = org_id
        self._counter: dict[str, int] = {k: 0 for k in KEY_PREFIXES}
        self._prospect_seq = 1000
        self._clock = EPOCH

    # ---- time and ids ----------------------------------------------------------------------
    def now(self) -> str:
        with self.lock:
            self._clock += timedelta(milliseconds=1)
            return sf_time(self._clock)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._clock += timedelta(seconds=seconds)

    def new_id(self, sobject: str) -> str:
        with self.lock:
            self._counter[sobject] = self._counter.get(sobject, 0) + 1
            prefix = KEY_PREFIXES[sobject]
            return id18(f"{prefix}9Z{self._counter[sobject]:010d}")

    @staticmethod
    def object_of(record_id: str) -> str:
        try:
            return PREFIX_OBJECTS[record_id[:3]]
        except KeyError:
            raise OrgError("INVALID_ID_FIELD", f"invalid id: {record_id}") from None

    def count_api_call(self) -> None:
        with self.lock:
            self.api_used += 1

    # ---- records ----------------------------------------------------------------------------
    def _stamp_new(self, sobject: str, rec: dict[str, Any]) -> None:
        t = self.now()
        rec.setdefault("CreatedDate", t)
        rec.setdefault("LastModifiedDate", rec["CreatedDate"])
        rec.setdefault("SystemModstamp", rec["LastModifiedDate"])
        rec.setdefault("IsDeleted", False)
        if sobject in MERGEABLE:
            rec.setdefault("MasterRecordId", None)
        if sobject == "Lead":
            rec.setdefault("IsConverted", False)
            rec.setdefault("ConvertedContactId", None)
            rec.setdefault("ConvertedAccountId", None)

    def insert(self, sobject: str, fields: dict[str, Any], keep_id: bool = False) -> str:
        """Create a record; with keep_id (fixtures) the given Id and timestamps are kept."""
        with self.lock:
            rec = dict(fields)
            if not (keep_id and rec.get("Id")):
                rec["Id"] = self.new_id(sobject)
                for f in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                    rec.pop(f, None)
            if rec["Id"] in self.objects[sobject]:
                raise OrgError("DUPLICATE_VALUE", f"duplicate id: {rec['Id']}", ["Id"])
            self._stamp_new(sobject, rec)
            self.objects[sobject][rec["Id"]] = rec
            return rec["Id"]

    def load_records(self, rows: Iterable[dict[str, Any]]) -> int:
        """Fixtures: rows with an `Id` (object from its prefix, or an `Object` column); empty strings
        become None; Ids and timestamps are kept as given."""
        n = 0
        with self.lock:
            for row in rows:
                r = {k: (None if v == "" else v) for k, v in row.items() if k not in ("Object",) and "." not in k}
                sobject = row.get("Object") or self.object_of(r["Id"])
                self.insert(sobject, r, keep_id=True)
                n += 1
        return n

    def get(self, record_id: str, sobject: str | None = None, include_deleted: bool = False) -> dict[str, Any]:
        """A copy of the record; OrgError NOT_FOUND / ENTITY_IS_DELETED when it is not live."""
        with self.lock:
            sobject = sobject or self.object_of(record_id)
            rec = self.objects.get(sobject, {}).get(record_id)
            if rec is None:
                raise OrgError("NOT_FOUND", f"The requested resource does not exist: {record_id}")
            if rec["IsDeleted"] and not include_deleted:
                raise OrgError("ENTITY_IS_DELETED", f"entity is deleted: {record_id}")
            return dict(rec)

    def rows(self, sobject: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of every record of sobject (live only unless include_deleted), in Id order."""
        with self.lock:
            return [dict(r) for _, r in sorted(self.objects.get(sobject, {}).items())
                    if include_deleted or not r["IsDeleted"]]

    def update(self, record_id: str, fields: dict[str, Any], sobject: str | None = None) -> None:
        """PATCH semantics: only the given fields change; system fields are refused."""
        with self.lock:
            sobject = sobject or self.object_of(record_id)
            bad = [f for f in fields if f in READ_ONLY_FIELDS]
            if bad:
                raise OrgError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {', '.join(bad)}", bad)
            rec = self.objects[sobject].get(record_id)
            if rec is None:
                raise OrgError("NOT_FOUND", f"The requested resource does not exist: {record_id}")
            if rec["IsDeleted"]:
                raise OrgError("ENTITY_IS_DELETED", f"entity is deleted: {record_id}")
            if sobject == "Lead" and rec.get("IsConverted"):
                raise OrgError("CANNOT_UPDATE_CONVERTED_LEAD", f"cannot reference converted lead: {record_id}")
            rec.update(fields)
            t = self.now()
            rec["LastModifiedDate"] = t
            rec["SystemModstamp"] = t

    def delete(self, record_id: str, sobject: str | None = None, master_id: str | None = None) -> None:
        """To the Recycle Bin (a merge loser also gets MasterRecordId)."""
        with self.lock:
            sobject = sobject or self.object_of(record_id)
            rec = self.objects[sobject].get(record_id)
            if rec is None:
                raise OrgError("NOT_FOUND", f"The requested resource does not exist: {record_id}")
            if rec["IsDeleted"]:
                raise OrgError("ENTITY_IS_DELETED", f"entity is deleted: {record_id}")
            t = self.now()
            rec["IsDeleted"] = True
            if master_id is not None:
                rec["MasterRecordId"] = master_id
            rec["SystemModstamp"] = t
            self.deleted_at[record_id] = t
            self.delete_log[record_id] = (sobject, t)

    def undelete(self, record_id: str) -> None:
        """Back from the Recycle Bin (MasterRecordId cleared; re-parented children stay moved)."""
        with self.lock:
            sobject = self.object_of(record_id)
            rec = self.objects[sobject].get(record_id)
            if rec is None:
                raise OrgError("ENTITY_IS_DELETED", f"entity is not in the recycle bin: {record_id}")
            if not rec["IsDeleted"]:
                raise OrgError("UNDELETE_FAILED", f"entity is not deleted: {record_id}")
            rec["IsDeleted"] = False
            if sobject in MERGEABLE:
                rec["MasterRecordId"] = None
            t = self.now()
            rec["LastModifiedDate"] = t
            rec["SystemModstamp"] = t
            self.deleted_at.pop(record_id, None)
            self.delete_log.pop(record_id, None)

    def purge_recycle_bin(self, before: str | None = None) -> list[str]:
        """Empty the bin (records deleted before `before`, or all): they are gone for good."""
        with self.lock:
            gone = [i for i, t in self.deleted_at.items() if before is None or parse_sf_time(t) < parse_sf_time(before)]
            for i in gone:
                del self.objects[self.object_of(i)][i]
                del self.deleted_at[i]
            return gone

    def purge_delete_log(self, before: str | None = None) -> list[str]:
        """Physically purge the delete log (entries deleted before `before`, or all): getDeleted no
        longer lists them and reports the last one's time as earliestDateAvailable."""
        with self.lock:
            gone = [i for i, (_, t) in self.delete_log.items()
                    if before is None or parse_sf_time(t) < parse_sf_time(before)]
            for i in gone:
                sobject, t = self.delete_log.pop(i)
                last = self.delete_log_purged.get(sobject)
                if last is None or parse_sf_time(t) > parse_sf_time(last):
                    self.delete_log_purged[sobject] = t
            return gone

    def get_deleted(self, sobject: str, start: str, end: str) -> dict[str, Any]:
        """The REST sObject Get Deleted answer for [start, end): seconds are ignored (both cut to the
        minute), start must precede end by more than a minute and lie within 15 days of now
        (else OrgError INVALID_REPLICATION_DATE); latestDateCovered is at most now (to the minute)."""
        with self.lock:
            try:
                t0, t1 = parse_sf_time(start), parse_sf_time(end)
            except ValueError:
                raise OrgError("INVALID_REPLICATION_DATE", f"invalid start or end date: {start!r}, {end!r}") from None
            if t1 - t0 <= timedelta(minutes=1):
                raise OrgError("INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate by more "
                               "than one minute")
            now = self._clock
            window = (now - timedelta(days=15)).replace(hour=0, minute=0, second=0, microsecond=0)
            if t0 < window:
                raise OrgError("INVALID_REPLICATION_DATE", f"startDate before the earliest date available: {sf_time(window)}")
            t0, t1 = t0.replace(second=0, microsecond=0), min(t1, now).replace(second=0, microsecond=0)
            recs = sorted(((i, t) for i, (o, t) in self.delete_log.items()
                           if o == sobject and t0 <= parse_sf_time(t) < t1), key=lambda x: (x[1], x[0]))
            earliest = self.delete_log_purged.get(sobject)
            if earliest is None or parse_sf_time(earliest) < window:
                earliest = sf_time(window)
            return {"deletedRecords": [{"id": i, "deletedDate": t} for i, t in recs],
                    "earliestDateAvailable": earliest, "latestDateCovered": sf_time(t1)}

    # ---- children -----------------------------------------------------------------------------
    def children_of(self, parent_id: str) -> list[tuple[str, str, str]]:
        """(child sObject, child Id, lookup field) of every live record pointing at parent_id."""
        with self.lock:
            out = []
            for child, fields in LOOKUPS.items():
                for rid, rec in sorted(self.objects.get(child, {}).items()):
                    if rec["IsDeleted"]:
                        continue
                    for f in fields:
                        if rec.get(f) == parent_id:
                            out.append((child, rid, f))
            return out

    def reparent(self, old_parent: str, new_parent: str) -> list[tuple[str, str, str]]:
        """Move every child lookup from old_parent to new_parent (as merge does); returns them."""
        with self.lock:
            moved = self.children_of(old_parent)
            t = self.now()
            for child, rid, f in moved:
                rec = self.objects[child][rid]
                rec[f] = new_parent
                rec["SystemModstamp"] = t
            return moved

    # ---- Pardot prospects ----------------------------------------------------------------------
    def insert_prospect(self, fields: dict[str, Any]) -> int:
        with self.lock:
            p = dict(fields)
            if "id" not in p:
                self._prospect_seq += 1
                p["id"] = self._prospect_seq
            else:
                self._prospect_seq = max(self._prospect_seq, int(p["id"]))
            t = self.now()
            p.setdefault("createdAt", t)
            p.setdefault("updatedAt", t)
            p.setdefault("isDeleted", False)
            self.prospects[int(p["id"])] = p
            return int(p["id"])

    def delete_prospect(self, prospect_id: int) -> None:
        with self.lock:
            p = self.prospects.get(int(prospect_id))
            if p is None or p.get("isDeleted"):
                raise OrgError("NOT_FOUND", f"prospect {prospect_id} not found")
            p["isDeleted"] = True
            p["updatedAt"] = self.now()
            self.prospect_recycle_bin.add(int(prospect_id))

    def undelete_prospect(self, prospect_id: int) -> None:
        with self.lock:
            p = self.prospects.get(int(prospect_id))
            if p is None or not p.get("isDeleted"):
                raise OrgError("NOT_FOUND", f"prospect {prospect_id} is not in the recycle bin")
            p["isDeleted"] = False
            p["updatedAt"] = self.now()
            self.prospect_recycle_bin.discard(int(prospect_id))

    def insert_custom_field(self, fields: dict[str, Any]) -> int:
        """A Pardot prospect custom field definition (v5 custom-fields object: name, fieldId, type,
        salesforceId, isRequired, isRecordMultipleResponses, isUseValues); returns its id."""
        with self.lock:
            d = dict(fields)
            if not d.get("fieldId") or not d.get("name"):
                raise OrgError("INVALID_FIELD", "a custom field needs name and fieldId")
            if any(str(x.get("fieldId")).lower() == str(d["fieldId"]).lower() for x in self.pardot_custom_fields.values()):
                raise OrgError("DUPLICATE_VALUE", f"custom field {d['fieldId']} exists")
            d["id"] = int(d.get("id") or (max(self.pardot_custom_fields, default=0) + 1))
            t = self.now()
            d.setdefault("createdAt", t)
            d.setdefault("updatedAt", t)
            for flag in ("isRequired", "isRecordMultipleResponses", "isUseValues", "isAnalyticsSynced"):
                d.setdefault(flag, False)
            d.setdefault("salesforceId", None)
            self.pardot_custom_fields[d["id"]] = d
            return d["id"]

    # ---- whole-state helpers -------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A deep copy of everything but the clock and API counter: compare two orgs with ==."""
        with self.lock:
            return copy.deepcopy({"objects": self.objects, "prospects": self.prospects})

    def save(self, path: str | Path) -> None:
        with self.lock:
            state = {
                "objects": self.objects, "deleted_at": self.deleted_at,
                "delete_log": {k: list(v) for k, v in self.delete_log.items()},
                "delete_log_purged": self.delete_log_purged,
                "prospects": {str(k): v for k, v in self.prospects.items()},
                "prospect_recycle_bin": sorted(self.prospect_recycle_bin),
                "pardot_custom_fields": {str(k): v for k, v in self.pardot_custom_fields.items()},
                "api_daily_limit": self.api_daily_limit, "api_used": self.api_used, "org_id": self.org_id,
                "counter": self._counter, "prospect_seq": self._prospect_seq, "clock": self._clock.isoformat(),
            }
            tmp = Path(str(path) + ".tmp")
            tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "OrgStore":
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        s = cls(api_daily_limit=state["api_daily_limit"], org_id=state["org_id"])
        s.objects = state["objects"]
        s.deleted_at = state["deleted_at"]
        s.delete_log = {k: (v[0], v[1]) for k, v in (state.get("delete_log") or {}).items()}
        s.delete_log_purged = dict(state.get("delete_log_purged") or {})
        s.prospects = {int(k): v for k, v in state["prospects"].items()}
        s.prospect_recycle_bin = set(state["prospect_recycle_bin"])
        s.pardot_custom_fields = {int(k): v for k, v in (state.get("pardot_custom_fields") or {}).items()}
        s.api_used = state["api_used"]
        s._counter = state["counter"]
        s._prospect_seq = state["prospect_seq"]
        s._clock = datetime.fromisoformat(state["clock"])
        return s
