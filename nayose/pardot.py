"""Account Engagement (Pardot) API v5: prospects, and their links to Salesforce records.

    client = PardotClient(PardotSettings(business_unit_id="0Uv..."), sf=sf)   # the Salesforce token
    extract_pardot(client, con)        # -> pardot_prospects (+ its watermark)
    join_prospects(con)                # -> prospect_links

The v5 contract followed here: ``GET /api/v5/objects/prospects?fields=...`` (``fields`` is
required: v5 returns only the fields asked for), ``limit`` (at most 1000), ``orderBy=id``,
``updatedAtAfterOrEqualTo``, ``idGreaterThan``, ``deleted`` (false / true / all); the response is
``{"values": [...], "nextPageToken": ..., "nextPageUrl": ...}`` and the next page is requested with
``nextPageToken`` alone (the token carries the query). One token sequence ends after 100,000 records
with no token and the header ``Pardot-Warning: 203;Record count for nextPageToken sequence has been
exceeded``: the query then goes on as a new sequence, the same filters plus ``idGreaterThan=<the
last id read>`` (also when a sequence of `TOKEN_SEQUENCE_CAP` records ends without the header). A
200 answer that is not JSON (a maintenance page) is a `PardotError`. Every request sends
``Authorization: Bearer <Salesforce OAuth token>`` and ``Pardot-Business-Unit-Id``. By id: GET /
DELETE ``/api/v5/objects/prospects/<id>``; ``POST /api/v5/objects/prospects/do/undelete`` with
``{"id": <id>}``. Errors come back as ``{"code": <n>, "message": "..."}``.

Incremental extract: v5 timestamps are whole seconds and queries may be served from a cache up to
~60 s behind, so the next run asks for ``updatedAtAfterOrEqualTo = watermark - OVERLAP`` (5 minutes):
a prospect updated later in the watermark's second, or that reached the cache late, is still pulled;
what is pulled again is upserted over itself. Deletions (``deleted=true`` since the same instant) are
applied after the upsert, so a prospect deleted while the extract ran ends deleted.

Retries: the session from `nayose.salesforce.make_session` retries 429 / 5xx only for GET / DELETE
(and HEAD / PUT); the undelete POST is never repeated.

Environment (`pardot_settings_from_env`):

    NAYOSE_PARDOT_BASE_URL          default https://pi.pardot.com (https://pi.demo.pardot.com for a demo org)
    NAYOSE_PARDOT_BUSINESS_UNIT_ID  the 18-character business unit id (0Uv...)
    NAYOSE_PARDOT_ACCESS_TOKEN      secret: an OAuth access token; default: the Salesforce connection's
    NAYOSE_PARDOT_CA_BUNDLE         CA file for TLS verification (default NAYOSE_SF_CA_BUNDLE)
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from nayose.errors import NayoseError
from nayose.salesforce import make_session, scrub

PROSPECTS = "pardot_prospects"
LINKS = "prospect_links"
WATERMARK_OBJECT = "pardot_prospect"
MAX_PAGE = 1000
#: v5 issues nextPageToken for at most this many records of one token sequence, then answers without
#: a token and with ``Pardot-Warning: 203;Record count for nextPageToken sequence has been exceeded``.
TOKEN_SEQUENCE_CAP = 100_000
#: An incremental extract asks again for what changed in this window before its watermark: v5
#: timestamps are whole seconds and its query cache may lag ~60 s (the upsert deduplicates).
OVERLAP = timedelta(minutes=5)

#: Prospect fields extracted by default: identity, CRM links, the fields matching uses, mailability,
#: and what sync health compares: `department` (mapped to Contact.Department) and `crmLastSync` (the
#: last sync with the CRM, which tells a pending value from one the sync does not carry).
DEFAULT_PROSPECT_FIELDS = (
    "id", "email", "firstName", "lastName", "company", "jobTitle", "department", "phone", "city", "state", "zip",
    "country", "salesforceId", "crmLeadFid", "crmContactFid", "optedOut", "isDoNotEmail",
    "isEmailHardBounced", "crmLastSync", "createdAt", "updatedAt",
)
#: Fields of the v5 custom-field object read for the field mapping audit (v5 has no predefined
#: values, maximum length or sync behaviour of a custom field).
CUSTOM_FIELD_FIELDS = (
    "id", "name", "fieldId", "type", "salesforceId", "isRequired", "isRecordMultipleResponses", "isUseValues",
    "createdAt", "updatedAt",
)
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_BU = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ENV = {
    "NAYOSE_PARDOT_BASE_URL": "base_url",
    "NAYOSE_PARDOT_BUSINESS_UNIT_ID": "business_unit_id",
    "NAYOSE_PARDOT_ACCESS_TOKEN": "access_token",
    "NAYOSE_PARDOT_CA_BUNDLE": "ca_bundle",
}


class PardotError(NayoseError):
    """A Pardot API call failed; the message has no secret."""


class PardotNotFound(PardotError):
    """The prospect does not exist or is in the recycle bin (HTTP 404)."""


class PardotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://pi.pardot.com"
    business_unit_id: str
    access_token: SecretStr | None = Field(default=None, description="Default: the Salesforce session's token")
    ca_bundle: str | None = None
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    backoff_factor: float = Field(default=0.5, ge=0)

    @field_validator("base_url")
    @classmethod
    def _https(cls, v: str) -> str:
        parts = urlsplit(v.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"must be an https:// URL, got {v!r}")
        return f"https://{parts.netloc}"

    @field_validator("business_unit_id")
    @classmethod
    def _bu(cls, v: str) -> str:
        v = v.strip()
        if not _BU.match(v):
            raise ValueError("must be a 15 or 18 character Salesforce id (0Uv...)")
        return v


def pardot_settings_from_env(environ: Mapping[str, str] | None = None) -> PardotSettings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var, name in _ENV.items():
        v = env.get(var)
        if v is not None and v.strip():
            values[name] = v.strip()
    if "ca_bundle" not in values and (env.get("NAYOSE_SF_CA_BUNDLE") or "").strip():
        values["ca_bundle"] = env["NAYOSE_SF_CA_BUNDLE"].strip()
    if "business_unit_id" not in values:
        raise NayoseError("Pardot needs NAYOSE_PARDOT_BUSINESS_UNIT_ID")
    try:
        return PardotSettings(**values)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_input=False, include_url=False):
            loc = ".".join(str(x) for x in e.get("loc", ()))
            var = next((k for k, v in _ENV.items() if v == loc), loc)
            problems.append(f"{var}: {e.get('msg')}")
        raise NayoseError("invalid Pardot settings: " + "; ".join(problems)) from None


def _check_fields(fields: Sequence[str]) -> list[str]:
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",")]
    out: list[str] = []
    for f in fields:
        if not isinstance(f, str) or not _FIELD.match(f):
            raise NayoseError(f"not a Pardot field name: {f!r}")
        if f not in out:
            out.append(f)
    if not out:
        raise NayoseError("Pardot v5 needs at least one field (fields= is required)")
    return out


def _pardot_time(value: str) -> str:
    """An ISO 8601 timestamp for a v5 filter, checked (Pardot's own values pass through)."""
    v = value.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})$", v):
        raise NayoseError(f"not an ISO 8601 timestamp: {value!r}")
    return v


class PardotClient:
    """Prospects through API v5 (see the module docstring)."""

    def __init__(
        self,
        settings: PardotSettings,
        sf: Any = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.sf = sf
        if settings.access_token is None and sf is None:
            raise NayoseError("Pardot needs an access token: NAYOSE_PARDOT_ACCESS_TOKEN or a Salesforce connection")
        self.session: requests.Session = session or make_session(settings)
        self.base = f"{settings.base_url}/api/v5/objects/prospects"
        self.custom_fields_url = f"{settings.base_url}/api/v5/objects/custom-fields"

    # ---- plumbing -----------------------------------------------------------------------------
    def _token(self) -> str:
        if self.settings.access_token is not None:
            return self.settings.access_token.get_secret_value()
        return str(self.sf.session_id)

    def _secrets(self) -> list[str]:
        return [self._token()]

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token()}",
            "Pardot-Business-Unit-Id": self.settings.business_unit_id,
            "Accept": "application/json",
        }

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            r = self.session.request(method, url, headers=self._headers(), **kwargs)
        except requests.RequestException as exc:
            raise PardotError(f"Pardot {what} failed: {scrub(f'{type(exc).__name__}: {exc}', self._secrets())}") from None
        if r.status_code >= 300:
            detail = f"HTTP {r.status_code}"
            try:
                body = r.json()
                if isinstance(body, dict) and ("message" in body or "code" in body):
                    detail += f" (code {body.get('code')}): {body.get('message')}"
            except ValueError:
                pass
            cls = PardotNotFound if r.status_code == 404 else PardotError
            raise cls(f"Pardot {what} failed: {scrub(detail, self._secrets())}")
        return r

    def _json(self, r: requests.Response, what: str) -> Any:
        """The JSON body of a successful answer; a body that is not JSON (an HTML maintenance page
        served with 200) is a PardotError naming the call, the status and the content type."""
        try:
            return r.json()
        except ValueError:
            ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip() or "no content type"
            raise PardotError(f"Pardot {what} failed: HTTP {r.status_code} answered a body that is not JSON "
                              f"({ctype}, {len(r.content)} bytes)") from None

    def _json_object(self, r: requests.Response, what: str) -> dict[str, Any]:
        body = self._json(r, what)
        if not isinstance(body, dict):
            raise PardotError(f"Pardot {what} failed: HTTP {r.status_code} answered JSON that is not an object")
        return body

    # ---- reads --------------------------------------------------------------------------------
    def iter_pages(
        self,
        fields: Sequence[str],
        updated_since: str | None = None,
        page_size: int = MAX_PAGE,
        deleted: bool | str = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages (lists of prospect dicts) of the query, ordered by id, following nextPageToken;
        `updated_since` is inclusive (updatedAtAfterOrEqualTo). When v5 ends a token sequence at its
        cap (`TOKEN_SEQUENCE_CAP`, Pardot-Warning 203) the query goes on with idGreaterThan=<last id>."""
        flds = _check_fields(fields)
        if "id" not in flds:  # continuing after a capped sequence needs the last id
            flds.insert(0, "id")
        if not 1 <= page_size <= MAX_PAGE:
            raise NayoseError(f"Pardot page size must be 1..{MAX_PAGE}")
        deleted_param = {True: "true", False: "false", "all": "all"}.get(deleted)  # type: ignore[call-overload]
        if deleted_param is None:
            raise NayoseError("deleted must be False, True or 'all'")
        first: dict[str, Any] = {"fields": ",".join(flds), "limit": page_size, "orderBy": "id", "deleted": deleted_param}
        if updated_since:
            first["updatedAtAfterOrEqualTo"] = _pardot_time(updated_since)
        params = dict(first)
        pages = 0
        in_sequence = 0  # records of the current token sequence
        last_id: int | None = None  # the highest id read
        sequence_from: int | None = None  # the idGreaterThan of the current sequence
        while True:
            r = self._request("GET", self.base, "prospect query", params=params)
            body = self._json_object(r, "prospect query")
            values = body.get("values") or []
            if not isinstance(values, list):
                raise PardotError("Pardot prospect query failed: 'values' is not a list")
            pages += 1
            yield values
            if pages > 1_000_000:  # a server that never ends the paging
                raise PardotError("Pardot prospect query did not finish paging")
            if not values:
                return
            in_sequence += len(values)
            last_id = _last_id(values, last_id)
            token = body.get("nextPageToken")
            if token:
                params = {"nextPageToken": token}
                continue
            if not (_sequence_capped(r) or in_sequence >= TOKEN_SEQUENCE_CAP):
                return
            if last_id is None or (sequence_from is not None and last_id <= sequence_from):
                raise PardotError(f"Pardot prospect query failed: a capped token sequence ended at id {last_id}, "
                                  "no further than the one before")
            params = {**first, "idGreaterThan": last_id}
            sequence_from, in_sequence = last_id, 0

    def iter_prospects(
        self,
        fields: Sequence[str],
        updated_since: str | None = None,
        page_size: int = MAX_PAGE,
        deleted: bool | str = False,
    ) -> Iterator[dict[str, Any]]:
        """Every prospect of the query (v5 `fields=` required), page after page."""
        for page in self.iter_pages(fields, updated_since=updated_since, page_size=page_size, deleted=deleted):
            yield from page

    def get_prospect(self, prospect_id: int | str, fields: Sequence[str]) -> dict[str, Any]:
        """One prospect by id (PardotNotFound when missing or in the recycle bin)."""
        pid = _prospect_id(prospect_id)
        r = self._request("GET", f"{self.base}/{pid}", f"read of prospect {pid}",
                          params={"fields": ",".join(_check_fields(fields))})
        return self._json_object(r, f"read of prospect {pid}")

    def custom_fields(self, fields: Sequence[str] = CUSTOM_FIELD_FIELDS) -> list[dict[str, Any]]:
        """Every prospect custom field definition (``GET /api/v5/objects/custom-fields``, by id,
        following nextPageToken)."""
        params: dict[str, Any] = {"fields": ",".join(_check_fields(fields)), "limit": MAX_PAGE, "orderBy": "id"}
        out: list[dict[str, Any]] = []
        for _ in range(100_000):
            body = self._json_object(self._request("GET", self.custom_fields_url, "custom field query", params=params),
                                     "custom field query")
            values = body.get("values") or []
            out.extend(values)
            token = body.get("nextPageToken")
            if not token or not values:
                return out
            params = {"nextPageToken": token}
        raise PardotError("Pardot custom field query did not finish paging")

    # ---- writes (used by the applier) -----------------------------------------------------------
    def delete_prospect(self, prospect_id: int | str) -> None:
        """To the Pardot recycle bin (DELETE, retried on 429 / 5xx: deleting twice is harmless)."""
        pid = _prospect_id(prospect_id)
        self._request("DELETE", f"{self.base}/{pid}", f"delete of prospect {pid}")

    def undelete_prospect(self, prospect_id: int | str) -> dict[str, Any] | None:
        """Back from the recycle bin (POST do/undelete, never retried)."""
        pid = _prospect_id(prospect_id)
        r = self._request("POST", f"{self.base}/do/undelete", f"undelete of prospect {pid}", json={"id": pid})
        try:
            return r.json() if r.content else None
        except ValueError:
            return None

    @property
    def api_calls(self) -> int:
        return int(getattr(self.session, "api_calls", 0))


def sync_prospect_fields(custom_fields: Sequence[Mapping[str, Any]] = (),
                         base: Sequence[str] = DEFAULT_PROSPECT_FIELDS) -> list[str]:
    """The prospect fields sync health needs: `base` plus every custom field mapped to a Salesforce
    field, under its v5 prospect name (``<fieldId>__c``)."""
    out = list(base)
    for cf in custom_fields:
        fid = str(cf.get("fieldId") or "").strip()
        if not fid or not cf.get("salesforceId"):
            continue
        name = fid if fid.endswith("__c") else f"{fid}__c"
        if _FIELD.match(name) and name not in out:
            out.append(name)
    return out


def _sequence_capped(r: requests.Response) -> bool:
    """Does the answer say its token sequence hit the record cap (Pardot-Warning 203)?"""
    warning = r.headers.get("Pardot-Warning") or ""
    return bool(re.search(r"(?:^|,)\s*203\s*;", warning)) or "nextpagetoken sequence" in warning.casefold()


def _last_id(values: Sequence[Mapping[str, Any]], before: int | None) -> int | None:
    """The highest prospect id of a page (pages come ordered by id)."""
    ids = []
    for p in values:
        try:
            ids.append(int(str(p.get("id")).strip()))
        except (TypeError, ValueError):
            raise PardotError(f"Pardot prospect query returned a prospect without a numeric id: {p.get('id')!r}") from None
    return max([*ids, *([before] if before is not None else [])]) if ids else before


def _prospect_id(value: int | str) -> int:
    try:
        pid = int(str(value).strip())
    except ValueError:
        raise NayoseError(f"not a Pardot prospect id: {value!r}") from None
    if pid <= 0:
        raise NayoseError(f"not a Pardot prospect id: {value!r}")
    return pid


# --------------------------------------------------------------------------------------------
# extract and join


@dataclass
class PardotExtract:
    fields: list[str]
    incremental: bool
    watermark_before: str | None
    watermark: str | None
    pulled: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0  # prospects found in the recycle bin and removed from pardot_prospects
    rows: int = 0
    pages: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        import json

        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    s = str(v)
    return s if s != "" else None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def extract_pardot(
    client: PardotClient,
    con: duckdb.DuckDBPyConnection,
    fields: Sequence[str] = DEFAULT_PROSPECT_FIELDS,
    incremental: bool = True,
    page_size: int = MAX_PAGE,
) -> PardotExtract:
    """Prospects into `pardot_prospects` (id PRIMARY KEY, the fields as VARCHAR), incrementally by
    `updatedAt` (watermark in extract_watermarks under 'pardot_prospect'; each run asks again from
    `OVERLAP` before it); prospects that went to the recycle bin since are removed, after the upsert."""
    from nayose.extract import ensure_tables, get_watermark

    t0 = time.perf_counter()
    flds = _check_fields(fields)
    for need in ("id", "updatedAt"):
        if need not in flds:
            flds.insert(0 if need == "id" else len(flds), need)
    ensure_tables(con)
    before = get_watermark(con, WATERMARK_OBJECT) if incremental else None
    since = _overlap_start(before) if before is not None else None
    res = PardotExtract(fields=flds, incremental=before is not None, watermark_before=before, watermark=before)

    con.execute(f"CREATE TABLE IF NOT EXISTS {PROSPECTS} (id VARCHAR PRIMARY KEY)")
    existing = {r[0].casefold() for r in con.execute(f"SELECT * FROM {PROSPECTS} LIMIT 0").description}
    stage = "_nayose_pardot_stage"
    con.execute(f"DROP TABLE IF EXISTS {stage}")
    con.execute(f"CREATE TEMP TABLE {stage} (" + ", ".join(f"{_q(f)} VARCHAR" for f in flds) + ")")
    try:
        for page in client.iter_pages(flds, updated_since=since, page_size=page_size, deleted=False):
            res.pages += 1
            if not page:
                continue
            batch = pa.table({f: pa.array([_text(p.get(f)) for p in page], pa.string()) for f in flds})  # noqa: F841
            con.execute(f"INSERT INTO {stage} BY NAME SELECT * FROM batch")
        gone_ids: list[str] = []
        gone_stamps: list[str] = []
        if before is not None:  # a full pull replaces the table; an incremental one learns the deletions
            for p in client.iter_prospects(["id", "updatedAt"], updated_since=since, page_size=page_size, deleted=True):
                gone_ids.append(str(p.get("id")))
                if p.get("updatedAt"):
                    gone_stamps.append(str(p["updatedAt"]))
        gone = pa.table({"id": pa.array(gone_ids, pa.string())})  # noqa: F841

        con.execute("BEGIN TRANSACTION")
        try:
            for f in flds:
                if f.casefold() not in existing:
                    con.execute(f"ALTER TABLE {PROSPECTS} ADD COLUMN {_q(f)} VARCHAR")
            res.pulled, res.new, res.changed = con.execute(
                f"""SELECT count(*), count(*) FILTER (WHERE p.id IS NULL),
                           count(*) FILTER (WHERE p.id IS NOT NULL AND p.updatedAt IS DISTINCT FROM s.updatedAt)
                    FROM {stage} s LEFT JOIN {PROSPECTS} p ON p.id = s.id"""
            ).fetchall()[0]
            if before is None:
                con.execute(f"DELETE FROM {PROSPECTS}")
            else:
                res.deleted = con.execute(f"SELECT count(*) FROM {PROSPECTS} WHERE id IN (SELECT id FROM gone)").fetchall()[0][0]
                con.execute(f"DELETE FROM {PROSPECTS} WHERE id IN (SELECT id FROM {stage})")
            con.execute(f"INSERT INTO {PROSPECTS} BY NAME SELECT * FROM {stage}")
            if before is not None:
                # After the upsert: a prospect read live, then deleted before the deleted=true query, ends deleted.
                con.execute(f"DELETE FROM {PROSPECTS} WHERE id IN (SELECT id FROM gone)")
            stamps = [s for s in [before, *gone_stamps] if s]
            m = con.execute(f"SELECT updatedAt FROM {stage} WHERE updatedAt IS NOT NULL").fetchall()
            stamps.extend(r[0] for r in m)
            res.watermark = max(stamps, key=_ts_key) if stamps else None
            res.rows = con.execute(f"SELECT count(*) FROM {PROSPECTS}").fetchall()[0][0]
            con.execute(
                "INSERT OR REPLACE INTO extract_watermarks VALUES (?, ?, now(), ?)",
                [WATERMARK_OBJECT, res.watermark, int(res.rows)],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stage}")
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _overlap_start(watermark: str) -> str:
    """`OVERLAP` before the watermark, for updatedAtAfterOrEqualTo (the watermark is checked first)."""
    ts = _ts_key(_pardot_time(watermark)) - OVERLAP
    return ts.isoformat(timespec="seconds")


def _ts_key(value: str):
    from datetime import datetime, timezone

    v = value.strip().replace("Z", "+00:00")
    if len(v) >= 5 and v[-5] in "+-" and v[-3] != ":":
        v = v[:-2] + ":" + v[-2:]
    try:
        ts = datetime.fromisoformat(v)
    except ValueError:
        raise NayoseError(f"Pardot returned a timestamp that is not ISO 8601: {value!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def normalize_email(value: str | None) -> str | None:
    """NFKC, trimmed, lower-cased (full-width ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ = taro@example.jp)."""
    if value is None:
        return None
    v = unicodedata.normalize("NFKC", str(value)).strip().lower()
    return v or None


def join_prospects(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Build `prospect_links(prospect_id, email, salesforce_id, sf_Id, match)`: one row per prospect.

    * ``salesforce_id``: the prospect's CRM id (salesforceId, else crmContactFid, else crmLeadFid).
    * ``match = 'crm_id'``: that id is a live record in sf_records (15 / 18 character ids alike), or
      was merged away into one (sf_deleted.MasterRecordId, chains followed): Salesforce moves the
      prospect's sync to the master;
    * else ``'email'``: the first Salesforce record (oldest CreatedDate, then Id; a Contact before a
      Lead) whose normalized email equals the prospect's - the record Pardot would sync it to;
    * else ``'none'`` (``sf_Id`` NULL).
    Returns the count per match kind."""
    from nayose.extract import DELETED, RECORDS, ensure_tables

    ensure_tables(con)
    if not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [PROSPECTS]
    ).fetchall()[0][0]:
        raise NayoseError(f"{PROSPECTS} not found: extract the Pardot prospects first")
    pcols = {r[0].casefold(): r[0] for r in con.execute(f"SELECT * FROM {PROSPECTS} LIMIT 0").description}
    scols = {r[0].casefold(): r[0] for r in con.execute(f"SELECT * FROM {RECORDS} LIMIT 0").description}

    def pcol(name: str) -> str:
        return f"p.{_q(pcols[name.casefold()])}" if name.casefold() in pcols else "NULL::VARCHAR"

    crm = "coalesce(" + ", ".join(
        f"nullif(trim({pcol(c)}), '')" for c in ("salesforceId", "crmContactFid", "crmLeadFid")
    ) + ")"

    # Normalized emails, computed once per distinct value in Python (NFKC is not in DuckDB).
    emails: set[str] = set()
    if "email" in pcols:
        emails.update(r[0] for r in con.execute(f"SELECT DISTINCT {_q(pcols['email'])} FROM {PROSPECTS}").fetchall() if r[0])
    if "email" in scols:
        emails.update(r[0] for r in con.execute(f"SELECT DISTINCT {_q(scols['email'])} FROM {RECORDS}").fetchall() if r[0])
    elist = sorted(emails)
    email_map = pa.table(  # noqa: F841 - read by DuckDB below
        {"raw": pa.array(elist, pa.string()), "norm": pa.array([normalize_email(e) for e in elist], pa.string())}
    )
    sf_email = f"r.{_q(scols['email'])}" if "email" in scols else "NULL::VARCHAR"
    created = f"r.{_q(scols['createddate'])}" if "createddate" in scols else "NULL::VARCHAR"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {LINKS} AS
        WITH pr AS (
            SELECT p.id AS prospect_id, {pcol('email')} AS email, {crm} AS salesforce_id, m.norm AS norm_email
            FROM {PROSPECTS} p LEFT JOIN email_map m ON m.raw = {pcol('email')}
        ),
        sf AS (
            SELECT r.Id, r.Object, m.norm AS norm_email, {created} AS created
            FROM {RECORDS} r LEFT JOIN email_map m ON m.raw = {sf_email}
        ),
        -- A CRM id merged away in Salesforce now means its master (followed through chained merges).
        merged AS (SELECT left(Id, 15) AS id15, MasterRecordId FROM {DELETED} WHERE MasterRecordId IS NOT NULL),
        crm AS (
            SELECT pr.prospect_id,
                   coalesce(m3.MasterRecordId, m2.MasterRecordId, m1.MasterRecordId, pr.salesforce_id) AS target
            FROM pr
            LEFT JOIN merged m1 ON m1.id15 = left(pr.salesforce_id, 15)
            LEFT JOIN merged m2 ON m2.id15 = left(m1.MasterRecordId, 15)
            LEFT JOIN merged m3 ON m3.id15 = left(m2.MasterRecordId, 15)
            WHERE length(pr.salesforce_id) IN (15, 18)
        ),
        by_crm AS (
            SELECT crm.prospect_id, min(sf.Id) AS sf_Id
            FROM crm JOIN sf ON left(sf.Id, 15) = left(crm.target, 15)
            GROUP BY crm.prospect_id
        ),
        by_email AS (
            SELECT prospect_id, sf_Id FROM (
                SELECT pr.prospect_id, sf.Id AS sf_Id,
                       row_number() OVER (PARTITION BY pr.prospect_id
                           ORDER BY CASE sf.Object WHEN 'Contact' THEN 0 WHEN 'Lead' THEN 1 ELSE 2 END,
                                    sf.created NULLS LAST, sf.Id) AS rn
                FROM pr JOIN sf ON sf.norm_email = pr.norm_email
                WHERE pr.norm_email IS NOT NULL AND sf.Object IN ('Lead', 'Contact')
            ) WHERE rn = 1
        )
        SELECT pr.prospect_id, pr.email, pr.salesforce_id,
               coalesce(c.sf_Id, e.sf_Id) AS sf_Id,
               CASE WHEN c.sf_Id IS NOT NULL THEN 'crm_id' WHEN e.sf_Id IS NOT NULL THEN 'email' ELSE 'none' END AS match
        FROM pr LEFT JOIN by_crm c USING (prospect_id) LEFT JOIN by_email e USING (prospect_id)
        ORDER BY try_cast(pr.prospect_id AS BIGINT), pr.prospect_id
        """
    )
    counts = dict(con.execute(f"SELECT match, count(*) FROM {LINKS} GROUP BY match").fetchall())
    return {k: int(counts.get(k, 0)) for k in ("crm_id", "email", "none")}


__all__ = [
    "CUSTOM_FIELD_FIELDS",
    "DEFAULT_PROSPECT_FIELDS",
    "PardotClient",
    "PardotError",
    "PardotExtract",
    "PardotNotFound",
    "PardotSettings",
    "extract_pardot",
    "join_prospects",
    "normalize_email",
    "pardot_settings_from_env",
    "sync_prospect_fields",
]
