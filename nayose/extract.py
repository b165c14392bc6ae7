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
  (queryAll, ``IsDeleted = true``); ``MasterRecordId`` is set for merge losers. A record that comes
  back (undelete) leaves this table again.
* ``sf_changes(seq, Id, object, change)``: every Id an extract wrote (``upsert``: new or changed) or
  removed (``delete``), in order, until a matching run takes them (`changes_since` /
  `take_changes`): what an incremental matching run needs, however many extracts ran since.
* ``extract_watermarks(object PRIMARY KEY, watermark, extracted_at, rows)``: per object the largest
  ``SystemModstamp`` seen (not the wall clock: a clock skew or a long transaction cannot make the
  next run skip records), when the run finished, and the object's rows in ``sf_records``.

Each object is one transaction: its live records changed after the watermark are upserted, the
records deleted after it are recorded in ``sf_deleted`` and removed from ``sf_records``, and the
watermark moves. Without a watermark (first run, or ``incremental=False``) the pull is full and
rows of the object that are no longer in the org at all (purged from the Recycle Bin) are removed.

REST or Bulk: ``mode="auto"`` counts first (``SELECT COUNT()`` with the same filter) and uses the
Bulk API 2.0 query (CSV result pages read by DuckDB) from ``bulk_threshold`` records on, REST
(``query`` / ``nextRecordsUrl`` pages, each converted to one Arrow batch) below it.

Fields: per object the standard fields nayose uses (`nayose.records.STANDARD_FIELDS`) and every
custom (``__c``) field, intersected with ``describe()`` so a field an org lacks is no error;
Contact also gets ``Account.Name``. Explicit ``fields={"Lead": [...]}`` are checked against
describe (a missing one is an error). Nothing reaches SOQL unchecked: object and field names are
matched against describe and used in describe's spelling, datetimes are formatted here.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import duckdb
import pyarrow as pa

from nayose.errors import NayoseError
from nayose.records import STANDARD_FIELDS
from nayose.salesforce import SalesforceAPIError, api_error, api_usage
from nayose.store import table_exists

DEFAULT_OBJECTS = ("Lead", "Contact", "Account")
#: Relationship fields added to the defaults, per object (only when describe has the relationship).
RELATIONSHIP_FIELDS: dict[str, tuple[str, ...]] = {"Contact": ("Account.Name",)}
#: Fields every pull needs (the watermark and the key).
REQUIRED_FIELDS = ("Id", "SystemModstamp")
#: describe() types that are not plain scalar columns (compound fields, binary data).
SKIP_TYPES = frozenset({"address", "location", "base64", "complexvalue"})

RECORDS = "sf_records"
#: File name of the extracted CSV in the data folder (the Dagster salesforce_records asset, raw_records' source).
SALESFORCE_CSV = "salesforce_records.csv"
DELETED = "sf_deleted"
WATERMARKS = "extract_watermarks"
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
    watermark_before: str | None = None
    watermark: str | None = None
    pulled: int = 0  # live records read from the API
    new: int = 0
    changed: int = 0
    unchanged: int = 0  # re-read with the SystemModstamp already stored
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
        import json

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
) -> ExtractResult:
    """Extract `objects` into sf_records / sf_deleted / extract_watermarks (see the module docstring).

    `sf` is a `simple_salesforce.Salesforce` (from `nayose.salesforce.connect`). `log`, when given,
    is a logger-like object (`.info`) told what each object did - never a secret.
    """
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
            sf, con, describer, name, flds, mode, bulk_threshold, incremental, bulk_page_size, bulk_poll_seconds
        )
        oe.seconds = round(time.perf_counter() - t0, 3)
        result.objects[name] = oe
        if log is not None:
            log.info(
                f"{name}: {oe.mode}, {oe.pulled} pulled ({oe.new} new, {oe.changed} changed), "
                f"{oe.deleted} deleted, {oe.removed} removed, {oe.rows} rows, watermark {oe.watermark}"
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
) -> ObjectExtract:
    before = get_watermark(con, obj) if incremental else None
    oe = ObjectExtract(object=obj, fields=fields, incremental=before is not None, watermark_before=before)
    where = f" WHERE SystemModstamp > {soql_datetime(before)}" if before else ""
    select = f"SELECT {', '.join(fields)} FROM {obj}{where}"

    if mode == "auto":
        try:
            count = int(sf.query(f"SELECT COUNT() FROM {obj}{where}")["totalSize"])
        except Exception as exc:
            raise api_error(sf, f"count of {obj}", exc) from None
        chosen = "bulk" if count >= bulk_threshold and count > 0 else "rest"
    else:
        chosen = mode
    oe.mode = chosen

    stage = f"_nayose_sf_stage_{obj.lower()}"
    con.execute(f"DROP TABLE IF EXISTS {_q(stage)}")
    cols = ", ".join(f"{_q(c)} VARCHAR" for c in ["Object", *fields])
    con.execute(f"CREATE TEMP TABLE {_q(stage)} ({cols})")
    try:
        if chosen == "bulk":
            _pull_bulk(sf, con, stage, obj, select, bulk_page_size, bulk_poll_seconds)
        else:
            _pull_rest(sf, con, stage, obj, fields, select)
        deleted = _pull_deleted(sf, describer, obj, before)
        _normalize_values(con, stage, describer, obj, fields)
        _merge(con, stage, obj, fields, deleted, full=before is None, oe=oe)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_q(stage)}")
    return oe


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


def _pull_deleted(sf: Any, describer: _Describer, obj: str, before: str | None) -> list[dict[str, str | None]]:
    """Records of `obj` in the Recycle Bin changed after the watermark (queryAll), with MasterRecordId."""
    has_master = describer.has(obj, "MasterRecordId")
    cols = "Id, SystemModstamp" + (", MasterRecordId" if has_master else "")
    where = "IsDeleted = true" + (f" AND SystemModstamp > {soql_datetime(before)}" if before else "")
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
    full: bool,
    oe: ObjectExtract,
) -> None:
    s = _q(stage)
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
        oe.pulled, oe.new, oe.changed, oe.unchanged = con.execute(
            f"""SELECT count(*),
                       count(*) FILTER (WHERE r.Id IS NULL),
                       count(*) FILTER (WHERE r.Id IS NOT NULL AND r.SystemModstamp IS DISTINCT FROM s.SystemModstamp),
                       count(*) FILTER (WHERE r.Id IS NOT NULL AND r.SystemModstamp IS NOT DISTINCT FROM s.SystemModstamp)
                FROM {s} s LEFT JOIN {RECORDS} r ON r.Id = s.Id"""
        ).fetchall()[0]
        # What changed, for the next matching run (changes_since): rows new or changed, rows gone.
        con.execute(
            f"""INSERT INTO {CHANGES} (Id, object, change) SELECT s.Id, ?, 'upsert' FROM {s} s
                LEFT JOIN {RECORDS} r ON r.Id = s.Id
                WHERE r.Id IS NULL OR r.SystemModstamp IS DISTINCT FROM s.SystemModstamp""", [obj]
        )
        removed = 0
        if full:
            con.execute(
                f"""INSERT INTO {CHANGES} (Id, object, change) SELECT Id, ?, 'delete' FROM {RECORDS}
                    WHERE Object = ? AND Id NOT IN (SELECT Id FROM {s})""", [obj, obj]
            )
            # A full pull lists every live record: rows of this object missing from it are gone.
            removed += con.execute(
                f"DELETE FROM {RECORDS} WHERE Object = ? AND Id NOT IN (SELECT Id FROM {s})", [obj]
            ).fetchall()[0][0]
        con.execute(f"DELETE FROM {RECORDS} WHERE Id IN (SELECT Id FROM {s})")
        con.execute(f"INSERT INTO {RECORDS} BY NAME SELECT * FROM {s}")
        # Live again (undeleted): no longer deleted.
        con.execute(f"DELETE FROM {DELETED} WHERE Id IN (SELECT Id FROM {s})")

        if deleted:
            dtab = pa.table(  # noqa: F841 - read by DuckDB below
                {
                    "Id": pa.array([d["Id"] for d in deleted], pa.string()),
                    "MasterRecordId": pa.array([d["MasterRecordId"] for d in deleted], pa.string()),
                    "SystemModstamp": pa.array([d["SystemModstamp"] for d in deleted], pa.string()),
                }
            )
            oe.deleted, oe.merged = con.execute(
                f"""SELECT count(*), count(*) FILTER (WHERE d.MasterRecordId IS NOT NULL)
                    FROM dtab d LEFT JOIN {DELETED} x ON x.Id = d.Id
                    WHERE x.Id IS NULL OR x.SystemModstamp IS DISTINCT FROM d.SystemModstamp"""
            ).fetchall()[0]
            con.execute(f"INSERT INTO {CHANGES} (Id, object, change) SELECT Id, ?, 'delete' FROM dtab", [obj])
            removed += con.execute(f"DELETE FROM {RECORDS} WHERE Id IN (SELECT Id FROM dtab)").fetchall()[0][0]
            con.execute(f"DELETE FROM {DELETED} WHERE Id IN (SELECT Id FROM dtab)")
            con.execute(
                f"INSERT INTO {DELETED} SELECT Id, ?, MasterRecordId, regexp_replace(SystemModstamp, 'Z$', '+0000') "
                "FROM dtab",
                [obj],
            )
        oe.removed = int(removed)

        stamps = [oe.watermark_before] if oe.watermark_before else []
        m = con.execute(f"SELECT max(SystemModstamp) FROM {s}").fetchall()[0][0]
        if m:
            stamps.append(m)
        stamps.extend(d["SystemModstamp"] for d in deleted if d["SystemModstamp"])
        oe.watermark = max(stamps, key=_stamp_key) if stamps else None
        oe.rows = con.execute(f"SELECT count(*) FROM {RECORDS} WHERE Object = ?", [obj]).fetchall()[0][0]
        _set_watermark(con, obj, oe.watermark, oe.rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if oe.pulled == 0 and not deleted:
        oe.mode = "none" if oe.incremental else oe.mode


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
    "get_watermark",
    "soql_datetime",
    "soql_id",
    "write_records_csv",
]
