"""Extract Leads / Contacts / Accounts from Salesforce into DuckDB, incrementally.

    sf = nayose.salesforce.connect(settings)
    result = extract_salesforce(sf, con)            # Lead, Contact, Account
    write_records_csv(con, "data/salesforce.csv")   # what `nayose plan` / raw_records read

Tables (created on first use, in the DuckDB connection given):

* ``sf_records(Id PRIMARY KEY, Object, <field>, ...)``: every live record extracted, all values
  VARCHAR, a relationship field under its path name (``Account.Name``). Datetimes in REST form
  (``2026-11-01T00:00:00.000+0000``) whichever API read them; booleans ``true`` / ``false``; an empty
  value is NULL.
* ``sf_deleted(Id PRIMARY KEY, object, MasterRecordId, SystemModstamp)``: records found deleted
  (queryAll ``IsDeleted = true``, or getDeleted's delete log for records already purged from the
  Recycle Bin); ``MasterRecordId`` is set for merge losers (queryAll only). A record that comes back
  (undelete) leaves this table again.
* ``sf_changes(seq, Id, object, change)``: every Id an extract wrote (``upsert``: new, or a value
  changed) or removed (``delete``), in order, until a matching run takes them (`changes_since` /
  `take_changes`): what an incremental matching run needs, however many extracts ran since. A
  record read again identical to its row is not written and not logged.
* ``extract_watermarks(object PRIMARY KEY, watermark, extracted_at, rows)``: per object the largest
  ``SystemModstamp`` read (never the wall clock), when the run finished, and the object's rows in
  ``sf_records``.
* ``extract_field_lists(object PRIMARY KEY, fields)``: the fields (JSON list) the object's last run
  extracted.

Each object is one transaction. Incremental (a watermark, the same fields as last time): the live
records with ``SystemModstamp >= watermark - WATERMARK_OVERLAP`` (10 minutes) - or, for an object
with relationship fields, whose related record's SystemModstamp is (Contact's ``Account.Name``
follows an Account renamed) - are read; those new or differing from their row are upserted. The
overlap is there because a record is stamped when written but visible only once its transaction
commits: a long transaction can make records appear stamped before the last run's watermark
(getUpdated's latestDateCovered); re-reading a window costs little, and the comparison keeps
identical rows out of sf_changes. Records deleted in the same window (queryAll) go to
``sf_deleted`` and out of ``sf_records``; so do those getDeleted (``sobjects/<Object>/deleted``)
lists, which queryAll no longer shows when the Recycle Bin was emptied or the record hard-deleted.
When the delete log cannot vouch for the whole time since the watermark (older than 14 days,
purged after it: earliestDateAvailable, INVALID_REPLICATION_DATE) every live Id is listed and rows
no longer in the org are removed (``purge_check`` says why). The watermark moves to the largest
SystemModstamp read. A full pull happens without a watermark (first run, ``incremental=False``) or
when the object's field list differs from the last run's (a new custom field, a field hidden by
field-level security, other ``fields=``; ``full_reason`` says so): rows of the object no longer
in the org are removed, and no column is left half filled.

REST or Bulk: ``mode="auto"`` counts first (``SELECT COUNT()`` with the same filter) and uses the
Bulk API 2.0 query (CSV result pages read by DuckDB) from ``bulk_threshold`` records on, REST
(``query`` / ``nextRecordsUrl`` pages, each converted to one Arrow batch) below it. A REST query is
a GET with the SOQL in the URL and Salesforce refuses more than 16,384 bytes of request line and
headers: a query whose URL would pass `MAX_REST_QUERY_URL` (12,000 bytes; every custom field of a
wide object) goes through Bulk in auto mode and is a clear error in rest mode.

Fields: per object the standard fields nayose uses (`nayose.records.STANDARD_FIELDS`) and every
custom (``__c``) field, intersected with ``describe()`` so a field an org lacks is no error;
Contact also gets ``Account.Name``. Explicit ``fields={"Lead": [...]}`` are checked against
describe (a missing one is an error). Nothing reaches SOQL unchecked: object and field names are
matched against describe and used in describe's spelling, datetimes are formatted here.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import duckdb
import pyarrow as pa

from nayose.errors import NayoseError
from nayose.records import STANDARD_FIELDS
from nayose.salesforce import SalesforceAPIError, api_error, api_usage, server_time
from nayose.store import table_exists

DEFAULT_OBJECTS = ("Lead", "Contact", "Account")
#: Relationship fields added to the defaults, per object (only when describe has the relationship).
RELATIONSHIP_FIELDS: dict[str, tuple[str, ...]] = {"Contact": ("Account.Name",)}
#: Fields every pull needs (the watermark and the key).
REQUIRED_FIELDS = ("Id", "SystemModstamp")
#: describe() types that are not plain scalar columns (compound fields, binary data).
SKIP_TYPES = frozenset({"address", "location", "base64", "complexvalue"})

#: An incremental run reads again from this long before the watermark (``SystemModstamp >=
#: watermark - overlap``): a record is stamped when its transaction writes it but visible only when
#: the transaction commits, so a long transaction (a batch, a data load) can make records appear
#: later stamped before the watermark (getUpdated's latestDateCovered exists for this). Re-read
#: records that are identical to their row are neither rewritten nor reported as changes.
WATERMARK_OVERLAP = timedelta(minutes=10)
#: getDeleted (``sobjects/<Object>/deleted``) answers for no more than 15 days back: from this age on
#: a watermark is checked by listing the live Ids instead (a margin of a day).
GET_DELETED_MAX_AGE = timedelta(days=14)
#: The longest REST query URL sent (bytes). Salesforce refuses a request line + headers past
#: 16,384 bytes (414 / 431) and a REST query is a GET with the SOQL in the URL: the rest is left
#: for the headers. Longer queries (every custom field of a wide object) go through Bulk 2.0 in
#: auto mode (the SOQL is POSTed) and are an error in rest mode.
MAX_REST_QUERY_URL = 12_000

RECORDS = "sf_records"
#: File name of the extracted CSV in the data folder (the Dagster salesforce_records asset, raw_records' source).
SALESFORCE_CSV = "salesforce_records.csv"
DELETED = "sf_deleted"
WATERMARKS = "extract_watermarks"
#: Per object the fields the last run extracted (a JSON list): another list next time is a full pull.
FIELD_LISTS = "extract_field_lists"
#: Ids whose sf_records row was written or removed, in order, until a matching run takes them.
CHANGES = "sf_changes"
Mode = Literal["auto", "rest", "bulk"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})$")


@dataclass
class ObjectExtract:
    """What one object's extract did."""

    object: str
    mode: str = "rest"  # rest | bulk | none (nothing changed)
    fields: list[str] = field(default_factory=list)
    incremental: bool = False
    full_reason: str | None = None  # why a run with a watermark pulled everything (the fields changed ...)
    purge_check: str | None = None  # why the live Ids were listed to find records purged from the org
    watermark_before: str | None = None
    watermark: str | None = None
    pulled: int = 0  # live records read from the API (the overlap window's re-reads included)
    new: int = 0
    changed: int = 0  # rows whose values changed (SystemModstamp, a field, a related record's field)
    unchanged: int = 0  # re-read identical to their row (the overlap window): not rewritten
    deleted: int = 0  # records newly known as deleted (sf_deleted)
    merged: int = 0  # of which merge losers (MasterRecordId set)
    removed: int = 0  # rows removed from sf_records (deleted, or gone from the org)
    rows: int = 0  # rows of the object in sf_records afterwards
    seconds: float = 0.0


@dataclass
class ExtractResult:
    objects: dict[str, ObjectExtract] = field(default_factory=dict)
    api_usage: tuple[int, int] | None = None
    api_calls: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": {k: asdict(v) for k, v in self.objects.items()},
            "api_usage": {"used": self.api_usage[0], "limit": self.api_usage[1]} if self.api_usage else None,
            "api_calls": self.api_calls,
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------------
# SOQL building blocks


def soql_datetime(value: str | datetime) -> str:
    """A SOQL dateTime literal (UTC, milliseconds, ``Z``) from a datetime or a Salesforce timestamp."""
    if isinstance(value, str):
        v = value.strip()
        if not _SF_DATETIME.match(v):
            raise NayoseError(f"not a Salesforce datetime: {value!r}")
        v = v.replace("Z", "+00:00")
        if v[-5] in "+-" and v[-3] != ":":
            v = v[:-2] + ":" + v[-2:]
        ts = datetime.fromisoformat(v)
    else:
        ts = value
    if ts.tzinfo is None:
        raise NayoseError("a watermark datetime must carry a time zone")
    ts = ts.astimezone(timezone.utc)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def soql_id(value: str) -> str:
    """A quoted Salesforce Id literal, after checking it is one."""
    if not isinstance(value, str) or not _SF_ID.match(value):
        raise NayoseError(f"not a Salesforce Id: {value!r}")
    return f"'{value}'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------------
# describe and fields


class _Describer:
    """describe() per object, cached; field names resolved to describe's spelling."""

    def __init__(self, sf: Any) -> None:
        self.sf = sf
        self._cache: dict[str, dict[str, Any]] = {}

    def describe(self, obj: str) -> dict[str, Any]:
        if not _NAME.match(obj):
            raise NayoseError(f"not a Salesforce object name: {obj!r}")
        key = obj.casefold()
        if key not in self._cache:
            try:
                d = getattr(self.sf, obj).describe()
            except Exception as exc:
                raise api_error(self.sf, f"describe of {obj}", exc) from None
            fields = {}
            for f in d.get("fields") or []:
                # Names go into SOQL as they are: a name that is not an API name is left out.
                if _NAME.match(str(f.get("name") or "")):
                    fields[str(f["name"]).casefold()] = f
            name = str(d.get("name") or obj)
            if not _NAME.match(name) or name.casefold() != key:
                raise NayoseError(f"describe of {obj} returned another object name: {name!r}")
            self._cache[key] = {"name": name, "fields": fields}
        return self._cache[key]

    def resolve(self, obj: str, name: str, required: bool) -> str | None:
        """`name` in describe's spelling (a path `Rel.Field` through a lookup), or None / an error."""
        d = self.describe(obj)
        parts = name.split(".")
        if len(parts) > 2 or not all(_NAME.match(p) for p in parts):
            raise NayoseError(f"{obj}: not a field name: {name!r}")
        if len(parts) == 1:
            f = d["fields"].get(name.casefold())
            if f is None or f.get("type") in SKIP_TYPES:
                if required:
                    why = "is not a queryable scalar field" if f is not None else "does not exist (describe)"
                    raise NayoseError(f"{obj}.{name} {why}")
                return None
            return str(f["name"])
        rel, target_field = parts
        for f in d["fields"].values():
            rname = f.get("relationshipName")
            refs = f.get("referenceTo") or []
            if rname and str(rname).casefold() == rel.casefold() and len(refs) == 1:
                target = self.resolve(str(refs[0]), target_field, required)
                return f"{rname}.{target}" if target else None
        if required:
            raise NayoseError(f"{obj}: no relationship {rel!r} (describe)")
        return None

    def field_type(self, obj: str, name: str) -> str | None:
        if "." in name:
            rel, target_field = name.split(".")
            for f in self.describe(obj)["fields"].values():
                if f.get("relationshipName") == rel and f.get("referenceTo"):
                    return self.field_type(str(f["referenceTo"][0]), target_field)
            return None
        f = self.describe(obj)["fields"].get(name.casefold())
        return f.get("type") if f else None

    def has(self, obj: str, name: str) -> bool:
        return name.casefold() in self.describe(obj)["fields"]


def default_fields(describer: _Describer, obj: str) -> list[str]:
    """The standard fields nayose uses, every custom field, and the relationship fields - as the org has them."""
    out: list[str] = []
    for name in STANDARD_FIELDS:
        if name in ("Object",) or "." in name:
            continue
        r = describer.resolve(obj, name, required=False)
        if r:
            out.append(r)
    for f in describer.describe(obj)["fields"].values():
        n = str(f["name"])
        if n.endswith("__c") and f.get("type") not in SKIP_TYPES:
            out.append(n)
    for path in RELATIONSHIP_FIELDS.get(obj, ()):
        r = describer.resolve(obj, path, required=False)
        if r:
            out.append(r)
    return out


def resolve_fields(describer: _Describer, obj: str, wanted: Sequence[str] | None) -> list[str]:
    """Id, SystemModstamp, then the wanted (or default) fields; deduplicated case-insensitively."""
    names = list(wanted) if wanted is not None else None
    base = default_fields(describer, obj) if names is None else [describer.resolve(obj, n, required=True) for n in names]
    out: list[str] = []
    seen: set[str] = set()
    for n in [*(describer.resolve(obj, r, required=True) for r in REQUIRED_FIELDS), *base]:
        if n and n.casefold() not in seen:
            seen.add(n.casefold())
            out.append(n)
    return out


# --------------------------------------------------------------------------------------------
# tables


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {RECORDS} (Id VARCHAR PRIMARY KEY, Object VARCHAR NOT NULL)")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {DELETED} (Id VARCHAR PRIMARY KEY, object VARCHAR NOT NULL, "
        "MasterRecordId VARCHAR, SystemModstamp VARCHAR)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {WATERMARKS} (object VARCHAR PRIMARY KEY, watermark VARCHAR, "
        "extracted_at TIMESTAMPTZ, rows BIGINT)"
    )
    con.execute(f"CREATE TABLE IF NOT EXISTS {FIELD_LISTS} (object VARCHAR PRIMARY KEY, fields VARCHAR)")
    con.execute(f"CREATE SEQUENCE IF NOT EXISTS {CHANGES}_seq")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CHANGES} (seq BIGINT DEFAULT nextval('{CHANGES}_seq'), Id VARCHAR, "
        "object VARCHAR, change VARCHAR)"
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT * FROM {_q(table)} LIMIT 0").description]


def get_watermark(con: duckdb.DuckDBPyConnection, obj: str) -> str | None:
    ensure_tables(con)
    r = con.execute(f"SELECT watermark FROM {WATERMARKS} WHERE object = ?", [obj]).fetchall()
    return r[0][0] if r and r[0][0] else None


def get_field_list(con: duckdb.DuckDBPyConnection, obj: str) -> list[str] | None:
    """The fields the last run of `obj` extracted, or None (no run, or one before they were kept)."""
    ensure_tables(con)
    r = con.execute(f"SELECT fields FROM {FIELD_LISTS} WHERE object = ?", [obj]).fetchall()
    return list(json.loads(r[0][0])) if r and r[0][0] else None


def _fields_change(before: list[str] | None, now: list[str]) -> str | None:
    """Why a field list differs from the last run's (None: the same fields, in any order)."""
    if before is None:
        return "the previous run's field list is not recorded"
    old = {f.casefold(): f for f in before}
    new = {f.casefold(): f for f in now}
    if old.keys() == new.keys():
        return None
    added = [new[k] for k in new if k not in old]
    dropped = [old[k] for k in old if k not in new]
    return "the fields changed: " + ", ".join([*(f"+{f}" for f in added), *(f"-{f}" for f in dropped)])


def _set_watermark(con: duckdb.DuckDBPyConnection, obj: str, watermark: str | None, rows: int) -> None:
    con.execute(
        f"INSERT OR REPLACE INTO {WATERMARKS} VALUES (?, ?, now(), ?)", [obj, watermark, int(rows)]
    )


# --------------------------------------------------------------------------------------------
# values


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e18:
            return str(int(v))
        return repr(v)
    s = str(v)
    return s if s != "" else None


def _path_value(rec: Mapping[str, Any], path: str) -> Any:
    cur: Any = rec
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def _rest_batch(records: list[dict[str, Any]], obj: str, fields: list[str]) -> pa.Table:
    cols: dict[str, list[str | None]] = {"Object": [obj] * len(records)}
    for f in fields:
        if "." in f:
            cols[f] = [_text(_path_value(r, f)) for r in records]
        else:
            cols[f] = [_text(r.get(f)) for r in records]
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in cols.items()})


# --------------------------------------------------------------------------------------------
# the extract


def extract_salesforce(
    sf: Any,
    con: duckdb.DuckDBPyConnection,
    objects: Sequence[str] = DEFAULT_OBJECTS,
    fields: Mapping[str, Sequence[str]] | None = None,
    mode: Mode = "auto",
    bulk_threshold: int = 10_000,
    incremental: bool = True,
    bulk_page_size: int = 50_000,
    bulk_poll_seconds: float = 2.0,
    log: Any = None,
    overlap: timedelta = WATERMARK_OVERLAP,
) -> ExtractResult:
    """Extract `objects` into sf_records / sf_deleted / extract_watermarks (see the module docstring).

    `sf` is a `simple_salesforce.Salesforce` (from `nayose.salesforce.connect`). `log`, when given,
    is a logger-like object (`.info`) told what each object did - never a secret. `overlap`: how
    far before the watermark an incremental run reads again (`WATERMARK_OVERLAP`).
    """
    if overlap < timedelta(0):
        raise NayoseError("the watermark overlap must not be negative")
    if mode not in ("auto", "rest", "bulk"):
        raise NayoseError(f"extract mode must be auto, rest or bulk, not {mode!r}")
    if bulk_threshold < 0 or bulk_page_size < 1:
        raise NayoseError("bulk_threshold must be >= 0 and bulk_page_size >= 1")
    if isinstance(objects, str):
        objects = [o.strip() for o in objects.split(",") if o.strip()]
    if not objects:
        raise NayoseError("no Salesforce objects to extract")
    started = time.perf_counter()
    ensure_tables(con)
    describer = _Describer(sf)
    wanted_fields = {k.casefold(): v for k, v in (fields or {}).items()}
    result = ExtractResult()
    for obj in objects:
        d = describer.describe(obj)
        name = d["name"]
        flds = resolve_fields(describer, name, wanted_fields.get(name.casefold()))
        t0 = time.perf_counter()
        oe = _extract_object(
            sf, con, describer, name, flds, mode, bulk_threshold, incremental, bulk_page_size, bulk_poll_seconds,
            overlap,
        )
        oe.seconds = round(time.perf_counter() - t0, 3)
        result.objects[name] = oe
        if log is not None:
            log.info(
                f"{name}: {oe.mode}, {oe.pulled} pulled ({oe.new} new, {oe.changed} changed), "
                f"{oe.deleted} deleted, {oe.removed} removed, {oe.rows} rows, watermark {oe.watermark}"
                + (f"; full pull: {oe.full_reason}" if oe.full_reason else "")
                + (f"; live Ids listed: {oe.purge_check}" if oe.purge_check else "")
            )
    result.api_usage = api_usage(sf)
    result.api_calls = int(getattr(getattr(sf, "session", None), "api_calls", 0) or 0)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _extract_object(
    sf: Any,
    con: duckdb.DuckDBPyConnection,
    describer: _Describer,
    obj: str,
    fields: list[str],
    mode: str,
    bulk_threshold: int,
    incremental: bool,
    bulk_page_size: int,
    bulk_poll_seconds: float,
    overlap: timedelta = WATERMARK_OVERLAP,
) -> ObjectExtract:
    before = get_watermark(con, obj) if incremental else None
    oe = ObjectExtract(object=obj, fields=fields, watermark_before=before)
    since: datetime | None = None
    if before is not None:
        soql_datetime(before)  # a tampered watermark stops the extract here, whatever comes next
        # Other fields than last time (a new custom field, one hidden by field-level security, other
        # fields= ...): changed rows only would leave the other rows' columns half filled or stale.
        oe.full_reason = _fields_change(get_field_list(con, obj), fields)
        if oe.full_reason is None:
            since = _stamp_key(before) - overlap
    oe.incremental = since is not None
    where = _changed_since(describer, obj, fields, since) if since is not None else ""
    select = f"SELECT {', '.join(fields)} FROM {obj}{where}"

    url_bytes = _rest_query_url_length(sf, select)
    if mode == "auto":
        if url_bytes > MAX_REST_QUERY_URL:
            chosen = "bulk"  # too long for a GET: Bulk 2.0 POSTs the query
        else:
            try:
                count = int(sf.query(f"SELECT COUNT() FROM {obj}{where}")["totalSize"])
            except Exception as exc:
                raise api_error(sf, f"count of {obj}", exc) from None
            chosen = "bulk" if count >= bulk_threshold and count > 0 else "rest"
    else:
        chosen = mode
        if chosen == "rest" and url_bytes > MAX_REST_QUERY_URL:
            raise NayoseError(
                f"{obj}: the REST query of its {len(fields)} fields would be a {url_bytes:,}-byte URL, more than "
                f"Salesforce takes (16,384 bytes with the headers: 414 URI Too Long); extract fewer fields "
                f"(fields={{'{obj}': [...]}}) or use bulk mode (--mode bulk / mode='bulk')"
            )
    oe.mode = chosen

    # Deleted records that queryAll can no longer show (the Recycle Bin emptied, a hard delete): the
    # delete log (getDeleted); when it cannot vouch for the whole time since the watermark, the
    # live Ids are listed and rows of records no longer in the org are removed.
    logged: list[dict[str, str | None]] = []
    if since is not None:
        logged, oe.purge_check = _deleted_log(sf, obj, since)

    stage = f"_nayose_sf_stage_{obj.lower()}"
    live = f"_nayose_sf_live_{obj.lower()}"
    con.execute(f"DROP TABLE IF EXISTS {_q(stage)}")
    con.execute(f"DROP TABLE IF EXISTS {_q(live)}")
    cols = ", ".join(f"{_q(c)} VARCHAR" for c in ["Object", *fields])
    con.execute(f"CREATE TEMP TABLE {_q(stage)} ({cols})")
    try:
        if chosen == "bulk":
            _pull_bulk(sf, con, stage, obj, select, bulk_page_size, bulk_poll_seconds)
        else:
            _pull_rest(sf, con, stage, obj, fields, select)
        deleted = _pull_deleted(sf, describer, obj, since)
        if oe.purge_check:
            con.execute(f"CREATE TEMP TABLE {_q(live)} (Object VARCHAR, Id VARCHAR)")
            _pull_ids(sf, con, live, obj, mode, bulk_threshold, bulk_page_size, bulk_poll_seconds)
        _normalize_values(con, stage, describer, obj, fields)
        _merge(con, stage, obj, fields, deleted, logged, full=since is None,
               live=live if oe.purge_check else None, oe=oe)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_q(stage)}")
        con.execute(f"DROP TABLE IF EXISTS {_q(live)}")
    return oe


def _changed_since(describer: _Describer, obj: str, fields: list[str], since: datetime) -> str:
    """The incremental filter: the record changed since `since`, or (for a relationship field such
    as Contact's ``Account.Name``) the related record did - renaming an Account changes only the
    Account's SystemModstamp, not its Contacts'."""
    lit = soql_datetime(since)
    conds = [f"SystemModstamp >= {lit}"]
    for rel in dict.fromkeys(f.split(".")[0] for f in fields if "." in f):
        path = describer.resolve(obj, f"{rel}.SystemModstamp", required=False)
        if path:
            conds.append(f"{path} >= {lit}")
    return " WHERE " + " OR ".join(conds)


def _rest_query_url_length(sf: Any, select: str) -> int:
    """Bytes of the URL of a REST query (``GET .../query/?q=<SOQL>``, as requests encodes it)."""
    from urllib.parse import urlencode

    return len(str(getattr(sf, "base_url", "") or "")) + len("query/?") + len(urlencode({"q": select}))


def _error_code(exc: BaseException) -> str | None:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or "") or None
    return None


def _deleted_log(sf: Any, obj: str, since: datetime) -> tuple[list[dict[str, str | None]], str | None]:
    """getDeleted (``sobjects/<obj>/deleted/?start=&end=``) from `since` to the org's now: the
    records deleted meanwhile, even those purged from the Recycle Bin since; and why the live Ids
    must be listed instead (None when the delete log covers the whole time): the watermark is
    older than the 15 days getDeleted answers for, or the log was purged after it
    (earliestDateAvailable, INVALID_REPLICATION_DATE)."""
    now = server_time(sf) or datetime.now(timezone.utc)
    if now - since >= GET_DELETED_MAX_AGE:
        return [], f"the watermark is older than the {GET_DELETED_MAX_AGE.days} days getDeleted is asked about"
    end = max(now, since + timedelta(minutes=2))  # (start must precede end by more than a minute)
    try:
        res = getattr(sf, obj).deleted(since, end)
    except Exception as exc:
        code = _error_code(exc)
        if code == "INVALID_REPLICATION_DATE":
            return [], "getDeleted: INVALID_REPLICATION_DATE (the delete log does not reach back to the watermark)"
        if getattr(exc, "status", None) in (400, 404):  # an object getDeleted does not serve (not replicateable)
            return [], f"getDeleted of {obj} refused: HTTP {getattr(exc, 'status')} {code or ''}".rstrip()
        raise api_error(sf, f"getDeleted of {obj}", exc) from None
    if not isinstance(res, Mapping):
        raise SalesforceAPIError(f"Salesforce getDeleted of {obj} failed: not a GetDeletedResult")
    reason = None
    earliest = res.get("earliestDateAvailable")
    if earliest and _stamp_key(str(earliest)) > since:
        reason = f"the delete log was purged up to {earliest}, after the watermark"
    out = []
    for r in res.get("deletedRecords") or []:
        rid = _text(r.get("id")) if isinstance(r, Mapping) else None
        if rid and _SF_ID.match(rid):
            out.append({"Id": rid, "MasterRecordId": None, "SystemModstamp": _text(r.get("deletedDate"))})
    return out, reason


def _pull_ids(
    sf: Any, con: duckdb.DuckDBPyConnection, table: str, obj: str, mode: str, bulk_threshold: int,
    page_size: int, poll: float,
) -> None:
    """Every live Id of `obj` into `table` (REST, or Bulk 2.0 for many)."""
    select = f"SELECT Id FROM {obj}"
    chosen = mode
    if mode == "auto":
        try:
            count = int(sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"])
        except Exception as exc:
            raise api_error(sf, f"count of {obj}", exc) from None
        chosen = "bulk" if count >= bulk_threshold and count > 0 else "rest"
    if chosen == "bulk":
        _pull_bulk(sf, con, table, obj, select, page_size, poll)
    else:
        _pull_rest(sf, con, table, obj, ["Id"], select)


def _pull_rest(sf: Any, con: duckdb.DuckDBPyConnection, stage: str, obj: str, fields: list[str], select: str) -> None:
    try:
        page = sf.query(select)
        while True:
            records = page.get("records") or []
            if records:
                batch = _rest_batch(records, obj, fields)  # noqa: F841 - read by DuckDB below
                con.execute(f"INSERT INTO {_q(stage)} BY NAME SELECT * FROM batch")
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                break
            page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    except NayoseError:
        raise
    except Exception as exc:
        raise api_error(sf, f"REST query of {obj}", exc) from None


def _pull_bulk(
    sf: Any, con: duckdb.DuckDBPyConnection, stage: str, obj: str, select: str, page_size: int, poll: float
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="nayose-bulk-"))
    try:
        try:
            pages = getattr(sf.bulk2, obj).download(select, path=str(tmp), max_records=page_size, wait=poll)
        except Exception as exc:
            raise api_error(sf, f"Bulk API 2.0 query of {obj}", exc) from None
        files = [
            str(p["file"]) for p in pages
            if int(p.get("number_of_records") or 0) > 0 and Path(p["file"]).stat().st_size > 0
        ]
        if not files:
            return
        file_list = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        con.execute(
            f"INSERT INTO {_q(stage)} BY NAME SELECT '{obj}' AS Object, * FROM read_csv({file_list}, "
            "header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"', "
            "strict_mode = true, union_by_name = true)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pull_deleted(sf: Any, describer: _Describer, obj: str, since: datetime | None) -> list[dict[str, str | None]]:
    """Records of `obj` in the Recycle Bin changed since `since` (queryAll), with MasterRecordId."""
    has_master = describer.has(obj, "MasterRecordId")
    cols = "Id, SystemModstamp" + (", MasterRecordId" if has_master else "")
    where = "IsDeleted = true" + (f" AND SystemModstamp >= {soql_datetime(since)}" if since is not None else "")
    out = []
    try:
        for r in sf.query_all_iter(f"SELECT {cols} FROM {obj} WHERE {where}", include_deleted=True):
            out.append(
                {
                    "Id": _text(r.get("Id")),
                    "MasterRecordId": _text(r.get("MasterRecordId")) if has_master else None,
                    "SystemModstamp": _text(r.get("SystemModstamp")),
                }
            )
    except Exception as exc:
        raise api_error(sf, f"queryAll of deleted {obj} records", exc) from None
    return out


NUMERIC_TYPES = frozenset({"double", "currency", "percent", "int", "long"})


def _normalize_values(
    con: duckdb.DuckDBPyConnection, stage: str, describer: _Describer, obj: str, fields: list[str]
) -> None:
    """One text form per type whichever API read the value: datetimes as REST writes them
    (Bulk 2.0 writes ...000Z, REST ...000+0000), booleans lower-case, numbers without trailing
    zeros (REST's JSON 5000000.0 and Bulk's 5000000 are one value)."""
    sets = []
    for f in fields:
        t = describer.field_type(obj, f)
        c = _q(f)
        if t == "datetime":
            sets.append(f"{c} = regexp_replace({c}, 'Z$', '+0000')")
        elif t == "boolean":
            sets.append(f"{c} = lower({c})")
        elif t in NUMERIC_TYPES:
            sets.append(
                f"{c} = CASE WHEN regexp_matches({c}, '^-?[0-9]+[.][0-9]*$') "
                f"THEN rtrim(rtrim({c}, '0'), '.') ELSE {c} END"
            )
    if sets:
        con.execute(f"UPDATE {_q(stage)} SET {', '.join(sets)}")


def _merge(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    obj: str,
    fields: list[str],
    deleted: list[dict[str, str | None]],
    logged: list[dict[str, str | None]],
    full: bool,
    live: str | None,
    oe: ObjectExtract,
) -> None:
    """One transaction: the pulled rows that are new or differ from their row are written (and
    logged in sf_changes), deleted records (queryAll's, then the delete log's) and rows no longer
    in the org (a full pull, or the `live` Id list) are removed, the watermark and field list move."""
    s = _q(stage)
    written, gone = "_nayose_sf_written", "_nayose_sf_gone"
    existing = {c.casefold() for c in _columns(con, RECORDS)}
    con.execute("BEGIN TRANSACTION")
    try:
        for f in fields:
            if f.casefold() not in existing:
                con.execute(f"ALTER TABLE {RECORDS} ADD COLUMN {_q(f)} VARCHAR")
                existing.add(f.casefold())
        dups = con.execute(f"SELECT Id FROM {s} GROUP BY Id HAVING count(*) > 1 LIMIT 1").fetchall()
        if dups:
            raise NayoseError(f"{obj}: the API returned Id {dups[0][0]} twice")
        # Written: new rows, and rows whose values differ (a re-read identical row - the overlap
        # window - is left alone; a Contact re-read for its Account's new name is written).
        # (a column this pull has not - a field no longer extracted - is NULL in the written row)
        mine = {f.casefold() for f in fields} | {"id", "object"}
        others = [c for c in _columns(con, RECORDS) if c.casefold() not in mine]
        diff = " OR ".join(
            [*(f"s.{_q(f)} IS DISTINCT FROM r.{_q(f)}" for f in fields if f != "Id"), *(f"r.{_q(c)} IS NOT NULL" for c in others)]
        ) or "false"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {written} AS SELECT s.Id, r.Id IS NULL AS is_new
                FROM {s} s LEFT JOIN {RECORDS} r ON r.Id = s.Id WHERE r.Id IS NULL OR {diff}"""
        )
        oe.pulled = con.execute(f"SELECT count(*) FROM {s}").fetchall()[0][0]
        oe.new, oe.changed = con.execute(
            f"SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM {written}"
        ).fetchall()[0]
        oe.unchanged = oe.pulled - oe.new - oe.changed
        # What changed, for the next matching run (changes_since): rows new or changed, rows gone.
        con.execute(f"INSERT INTO {CHANGES} (Id, object, change) SELECT Id, ?, 'upsert' FROM {written} ORDER BY Id", [obj])
        removed = 0
        if full or live is not None:
            # A full pull lists every live record (a purge check every live Id): rows of this object
            # missing from it are gone from the org.
            keep = f"Id NOT IN (SELECT Id FROM {s})" + (f" AND Id NOT IN (SELECT Id FROM {_q(live)})" if live else "")
            con.execute(
                f"INSERT INTO {CHANGES} (Id, object, change) SELECT Id, ?, 'delete' FROM {RECORDS} "
                f"WHERE Object = ? AND {keep} ORDER BY Id", [obj, obj]
            )
            removed += con.execute(f"DELETE FROM {RECORDS} WHERE Object = ? AND {keep}", [obj]).fetchall()[0][0]
        con.execute(f"DELETE FROM {RECORDS} WHERE Id IN (SELECT Id FROM {written})")
        con.execute(f"INSERT INTO {RECORDS} BY NAME SELECT * FROM {s} WHERE Id IN (SELECT Id FROM {written})")
        # Live again (undeleted): no longer deleted.
        con.execute(f"DELETE FROM {DELETED} WHERE Id IN (SELECT Id FROM {s})")

        entries = {d["Id"]: d for d in logged}
        entries.update({d["Id"]: d for d in deleted})  # queryAll's carry MasterRecordId
        if entries:
            dtab = pa.table(  # noqa: F841 - read by DuckDB below
                {
                    "Id": pa.array([d["Id"] for d in entries.values()], pa.string()),
                    "MasterRecordId": pa.array([d["MasterRecordId"] for d in entries.values()], pa.string()),
                    "SystemModstamp": pa.array([d["SystemModstamp"] for d in entries.values()], pa.string()),
                }
            )
            # (a record in this pull is live: undeleted after the delete the log remembers)
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {gone} AS
                    SELECT d.Id, d.MasterRecordId, regexp_replace(d.SystemModstamp, 'Z$', '+0000') AS SystemModstamp,
                           r.Id IS NOT NULL AS had_row,
                           x.Id IS NULL OR x.SystemModstamp IS DISTINCT FROM regexp_replace(d.SystemModstamp, 'Z$', '+0000') AS is_news
                    FROM dtab d LEFT JOIN {RECORDS} r ON r.Id = d.Id LEFT JOIN {DELETED} x ON x.Id = d.Id
                    WHERE d.Id NOT IN (SELECT Id FROM {s})"""
            )
            oe.deleted, oe.merged = con.execute(
                f"SELECT count(*) FILTER (WHERE is_news), count(*) FILTER (WHERE is_news AND MasterRecordId IS NOT NULL) "
                f"FROM {gone}"
            ).fetchall()[0]
            con.execute(
                f"INSERT INTO {CHANGES} (Id, object, change) SELECT Id, ?, 'delete' FROM {gone} "
                "WHERE is_news OR had_row ORDER BY Id", [obj]
            )
            removed += con.execute(f"DELETE FROM {RECORDS} WHERE Id IN (SELECT Id FROM {gone})").fetchall()[0][0]
            con.execute(f"DELETE FROM {DELETED} WHERE Id IN (SELECT Id FROM {gone} WHERE is_news)")
            con.execute(
                f"INSERT INTO {DELETED} SELECT Id, ?, MasterRecordId, SystemModstamp FROM {gone} WHERE is_news", [obj]
            )
        oe.removed = int(removed)

        # The watermark: the largest SystemModstamp read (live or in the Recycle Bin), never the
        # clock (the delete log's dates are not: they may be later than the pull).
        stamps = [oe.watermark_before] if oe.watermark_before else []
        m = con.execute(f"SELECT max(SystemModstamp) FROM {s}").fetchall()[0][0]
        if m:
            stamps.append(m)
        stamps.extend(d["SystemModstamp"] for d in deleted if d["SystemModstamp"])
        oe.watermark = max(stamps, key=_stamp_key) if stamps else None
        oe.rows = con.execute(f"SELECT count(*) FROM {RECORDS} WHERE Object = ?", [obj]).fetchall()[0][0]
        _set_watermark(con, obj, oe.watermark, oe.rows)
        con.execute(f"INSERT OR REPLACE INTO {FIELD_LISTS} VALUES (?, ?)", [obj, json.dumps(fields)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {written}")
        con.execute(f"DROP TABLE IF EXISTS {gone}")
    if oe.incremental and not (oe.new or oe.changed or oe.deleted or oe.removed):
        oe.mode = "none"


def _stamp_key(value: str) -> datetime:
    v = value.strip().replace("Z", "+00:00")
    if len(v) >= 5 and v[-5] in "+-" and v[-3] != ":":
        v = v[:-2] + ":" + v[-2:]
    try:
        ts = datetime.fromisoformat(v)
    except ValueError:
        raise NayoseError(f"not a Salesforce datetime: {value!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------
# output


#: The objects nayose matches: people, and Accounts (Person Accounts as people, business Accounts as
#: companies: nayose.accounts).
PERSON_OBJECTS = ("Lead", "Contact")
MATCHED_OBJECTS = (*PERSON_OBJECTS, "Account")


def matching_objects(con: duckdb.DuckDBPyConnection) -> list[str] | None:
    """The objects to put in the matching CSV: the Leads, Contacts and Accounts extracted so far
    (every run's, not only the last one's); None (everything) when there are none of them."""
    ensure_tables(con)
    present = {r[0] for r in con.execute(f"SELECT DISTINCT Object FROM {RECORDS}").fetchall()}
    objects = [o for o in MATCHED_OBJECTS if o in present]
    return objects or None


def write_records_csv(
    con: duckdb.DuckDBPyConnection, path: str | Path, objects: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
) -> int:
    """Write sf_records as a Data Loader style CSV (UTF-8, header of API field names, Id and Object
    first, empty for NULL) that `nayose.records.load_records` reads. Returns the rows written.
    With `ids`, only those records, under the columns the whole file would have (the changed
    records of an incremental matching run).

    Written to a temporary file beside `path` and renamed into place."""
    ensure_tables(con)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    where = ""
    params: list[Any] = []
    if objects is not None:
        objs = list(objects)
        if not objs:
            raise NayoseError("write_records_csv: no objects selected")
        where = " WHERE Object IN (" + ", ".join("?" for _ in objs) + ")"
        params = objs
    # Columns that are NULL in every selected row are left out (e.g. Account fields in a Lead file).
    cols = [c for c in _columns(con, RECORDS) if c not in ("Id", "Object")]
    if cols:
        counts = con.execute(
            "SELECT " + ", ".join(f"count({_q(c)})" for c in cols) + f" FROM {RECORDS}{where}", params
        ).fetchall()[0]
        cols = [c for c, n in zip(cols, counts) if n]
    select = ", ".join(["Id", "Object", *(_q(c) for c in cols)])
    if ids is not None:
        where += (" AND" if where else " WHERE") + " Id = ANY(?)"
        params = [*params, list(ids)]
    n = con.execute(f"SELECT count(*) FROM {RECORDS}{where}", params).fetchall()[0][0]
    if n == 0:
        raise NayoseError(f"{RECORDS} has no records to write (extract first)")
    tmp = path.with_name(f".{path.name}.tmp")
    lit = "'" + str(tmp).replace("'", "''") + "'"
    con.execute(
        f"COPY (SELECT {select} FROM {RECORDS}{where} ORDER BY Object, Id) TO {lit} "
        "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULL '')",
        params,
    )
    tmp.replace(path)
    return int(n)


@dataclass
class PendingChanges:
    """The records changed since a matching run last took the changes (`changes_since`)."""

    mark: int  # the last sf_changes row read (`take_changes` removes up to it)
    upserts: list[str]  # Ids now in sf_records (of the objects asked for) written since
    deletes: list[str]  # Ids no longer in sf_records (deleted, merged away, gone) or no longer of those objects


def changes_since(con: duckdb.DuckDBPyConnection, objects: Iterable[str]) -> PendingChanges:
    """What the extracts changed since the last `take_changes`: the Ids to match again and the Ids
    to drop, for an incremental matching run on the changed records only."""
    ensure_tables(con)
    objs = list(objects)
    mark = changes_mark(con)
    rows = con.execute(
        f"""SELECT c.Id, r.Id IS NOT NULL AND r.Object = ANY(?) AS live
            FROM (SELECT DISTINCT Id FROM {CHANGES} WHERE seq <= ? AND object = ANY(?)) c
            LEFT JOIN {RECORDS} r USING (Id) ORDER BY c.Id""",
        [objs, mark, objs],
    ).fetchall()
    return PendingChanges(int(mark), [i for i, live in rows if live], [i for i, live in rows if not live])


def changes_mark(con: duckdb.DuckDBPyConnection) -> int | None:
    """The last change the extracts recorded in sf_changes (0: none yet), or None without the
    table (no extract ever ran in this store)."""
    if not table_exists(con, CHANGES):
        return None
    return int(con.execute(f"SELECT coalesce(max(seq), 0) FROM {CHANGES}").fetchall()[0][0])


def take_changes(con: duckdb.DuckDBPyConnection, mark: int) -> None:
    """The changes up to `mark` are matched: forget them."""
    ensure_tables(con)
    con.execute(f"DELETE FROM {CHANGES} WHERE seq <= ?", [int(mark)])


def extract_summary(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """extract_watermarks as dicts (object, watermark, extracted_at, rows)."""
    ensure_tables(con)
    rows = con.execute(f"SELECT object, watermark, extracted_at, rows FROM {WATERMARKS} ORDER BY object").fetchall()
    return [{"object": o, "watermark": w, "extracted_at": str(t), "rows": int(n or 0)} for o, w, t, n in rows]


__all__ = [
    "DEFAULT_OBJECTS",
    "MATCHED_OBJECTS",
    "PERSON_OBJECTS",
    "SALESFORCE_CSV",
    "matching_objects",
    "ExtractResult",
    "PendingChanges",
    "changes_mark",
    "changes_since",
    "take_changes",
    "ObjectExtract",
    "SalesforceAPIError",
    "extract_salesforce",
    "extract_summary",
    "get_field_list",
    "get_watermark",
    "soql_datetime",
    "soql_id",
    "write_records_csv",
]
