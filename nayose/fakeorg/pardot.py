"""Account Engagement (Pardot) API v5 prospects, served by the fake org on its own host.

* ``GET    /api/v5/objects/prospects?fields=…`` — query. ``fields`` is required. ``limit`` (default 200,
  at most 1000), ``orderBy`` (``id`` / ``createdAt`` / ``updatedAt`` / ``lastActivityAt``, optional
  ``ASC`` / ``DESC``; default ``id ASC``), ``deleted`` (``false`` default, ``true`` = only the
  recycle bin, ``all``), filters ``email``, ``idGreaterThan[OrEqualTo]``, ``idLessThan[OrEqualTo]``,
  ``createdAtAfter[OrEqualTo]`` / ``createdAtBefore[OrEqualTo]``, ``updatedAtAfter[OrEqualTo]`` /
  ``updatedAtBefore[OrEqualTo]``. Answer ``{"nextPageToken", "nextPageUrl", "values"}``; a follow-up
  request carries only ``nextPageToken`` (``fields`` may be repeated, the token remembers them).
* ``GET / PATCH / DELETE /api/v5/objects/prospects/<id>``, ``POST /api/v5/objects/prospects``
  (``email`` required; several prospects may share an email, as with AMPSEA),
  ``POST …/do/upsertLatestByEmail`` ``{"matchEmail", "prospect", "fields", "secondaryDeletedSearch"}``,
  ``POST …/do/undelete`` ``{"id"}`` or ``{"matchEmail"}`` (+ ``"fields"``).
* ``GET /api/v5/objects/custom-fields?fields=…`` (``fields`` required; ``limit``, ``orderBy`` ``id`` /
  ``createdAt`` / ``updatedAt``, ``idGreaterThan``, ``nextPageToken`` paging) and
  ``GET /api/v5/objects/custom-fields/<id>?fields=…`` — the prospect custom field definitions of
  `OrgStore.pardot_custom_fields`, with the v5 custom-field object's fields only (`CUSTOM_FIELD_FIELDS`):
  v5 exposes no predefined values, no maximum length and no sync behaviour of a custom field.
* Prospects in the recycle bin are invisible unless ``deleted=true`` / ``all``.
* Timestamps come back as ISO 8601 with an offset, to the whole second as v5 gives them
  (``2026-11-01T00:00:00+00:00``). The store's clock ticks in milliseconds; the date filters compare
  the stored value, so two prospects stamped in one second look alike but still filter apart (a test
  that shows a same-second case stores whole-second stamps, as the real API holds them).
* Errors: ``{"code": n, "message": "…"}`` with an HTTP status (the codes are illustrative, not a
  copy of Pardot's table).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from nayose.fakeorg.store import OrgError, parse_sf_time

if TYPE_CHECKING:  # pragma: no cover
    from nayose.fakeorg.server import FakeOrg, Request, Response

BASE = "/api/v5/objects/prospects"
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
#: v5 stops issuing nextPageToken after this many records of one token sequence (and says so in a
#: Pardot-Warning header); `PardotApi.token_sequence_cap` overrides it per fake org.
TOKEN_SEQUENCE_CAP = 100_000
WARNING_HEADER = "Pardot-Warning"
W_SEQUENCE_CAP = 203
W_SEQUENCE_CAP_MESSAGE = "Record count for nextPageToken sequence has been exceeded. No page token returned."

# v5 field name → (type, writable)
FIELDS: dict[str, tuple[str, bool]] = {
    "id": ("integer", False), "email": ("string", True), "firstName": ("string", True),
    "lastName": ("string", True), "salutation": ("string", True), "company": ("string", True),
    "jobTitle": ("string", True), "department": ("string", True), "phone": ("string", True),
    "fax": ("string", True), "website": ("string", True), "addressOne": ("string", True),
    "addressTwo": ("string", True), "city": ("string", True), "state": ("string", True),
    "zip": ("string", True), "country": ("string", True), "territory": ("string", True),
    "industry": ("string", True), "annualRevenue": ("string", True), "employees": ("string", True),
    "source": ("string", True), "comments": ("string", True), "notes": ("string", True),
    "score": ("integer", True), "grade": ("string", True), "campaignId": ("integer", True),
    "userId": ("integer", True), "isDoNotEmail": ("boolean", True), "isDoNotCall": ("boolean", True),
    "optedOut": ("boolean", True), "isReviewed": ("boolean", True), "isStarred": ("boolean", True),
    "isEmailHardBounced": ("boolean", False), "emailBouncedAt": ("datetime", False),
    "emailBouncedReason": ("string", False), "isDeleted": ("boolean", False),
    "salesforceId": ("string", False), "salesforceLeadId": ("string", False),
    "salesforceContactId": ("string", False), "salesforceAccountId": ("string", False),
    "salesforceOwnerId": ("string", False), "salesforceUrl": ("string", False),
    "salesforceLastSync": ("datetime", False), "crmLeadFid": ("string", False),
    "crmContactFid": ("string", False), "crmAccountFid": ("string", False), "crmOwnerFid": ("string", False),
    "crmUrl": ("string", False), "crmLastSync": ("datetime", False),
    "createdAt": ("datetime", False), "updatedAt": ("datetime", False), "lastActivityAt": ("datetime", False),
}
ORDERABLE = ("id", "createdAt", "updatedAt", "lastActivityAt")
CUSTOM_FIELDS_BASE = "/api/v5/objects/custom-fields"
# v5 custom-field object fields → type
CUSTOM_FIELD_FIELDS: dict[str, str] = {
    "id": "integer", "name": "string", "fieldId": "string", "type": "string", "salesforceId": "string",
    "isRequired": "boolean", "isRecordMultipleResponses": "boolean", "isUseValues": "boolean",
    "isAnalyticsSynced": "boolean", "createdAt": "datetime", "updatedAt": "datetime", "createdById": "integer",
    "updatedById": "integer",
}
CUSTOM_FIELD_PARAMS = {"fields", "limit", "orderBy", "nextPageToken", "idGreaterThan", "idLessThan"}
FILTERS = {
    "idGreaterThan": ("id", ">"), "idGreaterThanOrEqualTo": ("id", ">="), "idLessThan": ("id", "<"),
    "idLessThanOrEqualTo": ("id", "<="),
    "createdAtAfter": ("createdAt", ">"), "createdAtAfterOrEqualTo": ("createdAt", ">="),
    "createdAtBefore": ("createdAt", "<"), "createdAtBeforeOrEqualTo": ("createdAt", "<="),
    "updatedAtAfter": ("updatedAt", ">"), "updatedAtAfterOrEqualTo": ("updatedAt", ">="),
    "updatedAtBefore": ("updatedAt", "<"), "updatedAtBeforeOrEqualTo": ("updatedAt", "<="),
}
QUERY_PARAMS = {"fields", "limit", "orderBy", "deleted", "email", "nextPageToken", *FILTERS}

# error codes (illustrative)
E_INVALID_TOKEN = 184
E_BUSINESS_UNIT = 181
E_INVALID_ID = 3
E_INVALID_EMAIL = 4
E_INVALID_PARAM = 56
E_LIMIT = 66
E_METHOD = 60
E_INVALID_FIELD = 62
E_READ_ONLY = 63


class PardotError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _iso(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        ts = parse_sf_time(str(value))
    except ValueError:
        return value
    return ts.astimezone(timezone.utc).isoformat(timespec="seconds")


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_sf_time(str(value))
    except ValueError:
        return None


class PardotApi:
    def __init__(self, org: "FakeOrg", token_sequence_cap: int = TOKEN_SEQUENCE_CAP):
        self.org = org
        self.token_sequence_cap = token_sequence_cap  # records per nextPageToken sequence

    # ---- entry ----------------------------------------------------------------------------------
    def handle(self, req: "Request") -> "Response":
        from nayose.fakeorg.server import ApiError
        try:
            return self._route(req)
        except ApiError:  # an unreadable JSON body
            return self.error(400, E_INVALID_PARAM, "The request body is not valid JSON")
        except PardotError as e:
            return self.error(e.status, e.code, e.message)
        except OrgError as e:
            status = 404 if e.code == "NOT_FOUND" else 400
            return self.error(status, E_INVALID_ID if status == 404 else E_INVALID_PARAM, e.message)

    def error(self, status: int, code: int, message: str) -> "Response":
        from nayose.fakeorg.server import Response
        return Response.json(status, {"code": code, "message": message})

    def _route(self, req: "Request") -> "Response":
        from nayose.fakeorg.server import Response
        path = req.path.rstrip("/")
        if path == CUSTOM_FIELDS_BASE or path.startswith(CUSTOM_FIELDS_BASE + "/"):
            return self._custom_fields(req, path[len(CUSTOM_FIELDS_BASE):].strip("/"))
        if not path.startswith(BASE):
            raise PardotError(404, E_INVALID_PARAM, f"Unknown resource: {path}")
        rest = path[len(BASE):].strip("/")
        parts = rest.split("/") if rest else []
        m = req.method
        if not parts:
            if m == "GET":
                body, headers = self.query_page(req)
                return Response.json(200, body, headers=headers)
            if m == "POST":
                return Response.json(201, self.create(req))
        elif parts == ["do", "upsertLatestByEmail"]:
            if m == "POST":
                return Response.json(200, self.upsert_latest_by_email(req))
        elif parts == ["do", "undelete"]:
            if m == "POST":
                return Response.json(200, self.undelete(req))
        elif len(parts) == 1:
            pid = self._id(parts[0])
            if m == "GET":
                return Response.json(200, self.read(req, pid))
            if m == "PATCH":
                return Response.json(200, self.update(req, pid))
            if m == "DELETE":
                self.org.store.delete_prospect(pid)
                return Response(204, b"")
        else:
            raise PardotError(404, E_INVALID_PARAM, f"Unknown resource: {path}")
        raise PardotError(405, E_METHOD, "Invalid HTTP request method")

    @staticmethod
    def _id(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise PardotError(404, E_INVALID_ID, f"Invalid prospect ID: {text}") from None

    # ---- fields ---------------------------------------------------------------------------------
    def known_field(self, name: str) -> bool:
        if name in FIELDS or name.endswith("__c"):
            return True
        with self.org.store.lock:
            return any(name in p for p in self.org.store.prospects.values())

    def parse_fields(self, raw: str | list[str] | None, required: bool = True) -> list[str] | None:
        if raw is None or raw == "" or raw == []:
            if required:
                raise PardotError(400, E_INVALID_PARAM, "Required parameter fields is missing")
            return None
        names = raw if isinstance(raw, list) else [f.strip() for f in str(raw).split(",") if f.strip()]
        bad = [n for n in names if not self.known_field(n)]
        if bad:
            raise PardotError(400, E_INVALID_FIELD, f"Invalid field(s) in fields: {', '.join(bad)}")
        return names

    @staticmethod
    def render(p: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields:
            v = p.get(f)
            if FIELDS.get(f, ("string",))[0] == "datetime":
                v = _iso(v)
            elif f == "isDeleted":
                v = bool(v)
            out[f] = v
        return out

    def check_writable(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise PardotError(400, E_INVALID_PARAM, "The request body must be a JSON object")
        for k in body:
            if not self.known_field(k):
                raise PardotError(400, E_INVALID_FIELD, f"Invalid field name: {k}")
            if k in FIELDS and not FIELDS[k][1]:
                raise PardotError(400, E_READ_ONLY, f"Field is read-only: {k}")
        if "email" in body and body["email"] is not None:
            email = str(body["email"])
            if "@" not in email or email.startswith("@") or email.endswith("@"):
                raise PardotError(400, E_INVALID_EMAIL, f"Invalid prospect email address: {email}")
        return body

    # ---- operations -----------------------------------------------------------------------------
    def _visible(self, p: dict[str, Any], deleted: str) -> bool:
        is_del = bool(p.get("isDeleted"))
        return deleted == "all" or (deleted == "true") == is_del

    def query(self, req: "Request") -> dict[str, Any]:
        return self.query_page(req)[0]

    def query_page(self, req: "Request") -> tuple[dict[str, Any], dict[str, str]]:
        """One page of a query: its body and its headers (the Pardot-Warning of a capped sequence)."""
        params = {k: v for k, v in req.single().items()}
        token = params.get("nextPageToken")
        offset = 0
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
                offset = int(state["o"])
                saved = dict(state["q"])
            except (ValueError, KeyError, TypeError):
                raise PardotError(400, E_INVALID_PARAM, "Invalid nextPageToken") from None
            if "fields" in params:
                saved["fields"] = params["fields"]
            params = saved
        unknown = [k for k in params if k not in QUERY_PARAMS]
        if unknown:
            raise PardotError(400, E_INVALID_PARAM, f"Invalid parameter(s): {', '.join(sorted(unknown))}")
        fields = self.parse_fields(params.get("fields"))
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise PardotError(400, E_INVALID_PARAM, "limit must be an integer") from None
        if limit < 1 or limit > MAX_LIMIT:
            raise PardotError(400, E_LIMIT, f"limit must be between 1 and {MAX_LIMIT}")
        deleted = str(params.get("deleted", "false")).lower()
        if deleted not in ("true", "false", "all"):
            raise PardotError(400, E_INVALID_PARAM, "deleted must be true, false or all")
        order_raw = params.get("orderBy", "id ASC").split()
        if not order_raw or order_raw[0] not in ORDERABLE or len(order_raw) > 2 or (
                len(order_raw) == 2 and order_raw[1].upper() not in ("ASC", "DESC")):
            raise PardotError(400, E_INVALID_PARAM, f"Invalid orderBy: {params.get('orderBy')}")
        order_field, desc = order_raw[0], len(order_raw) == 2 and order_raw[1].upper() == "DESC"
        tests = []
        for name, (fld, op) in FILTERS.items():
            if name not in params:
                continue
            raw = params[name]
            if fld == "id":
                try:
                    want: Any = int(raw)
                except ValueError:
                    raise PardotError(400, E_INVALID_PARAM, f"{name} must be an integer") from None
            else:
                want = _time(raw)
                if want is None:
                    raise PardotError(400, E_INVALID_PARAM, f"{name} must be an ISO 8601 date-time")
            tests.append((fld, op, want))
        email = params.get("email")
        with self.org.store.lock:
            rows = [dict(p) for _, p in sorted(self.org.store.prospects.items())]
        out = []
        for p in rows:
            if not self._visible(p, deleted):
                continue
            if email is not None and str(p.get("email") or "").lower() != email.lower():
                continue
            ok = True
            for fld, op, want in tests:
                have = int(p["id"]) if fld == "id" else _time(p.get(fld))
                if have is None or not _cmp(have, op, want):
                    ok = False
                    break
            if ok:
                out.append(p)

        def key(p: dict[str, Any]) -> tuple:
            if order_field == "id":
                return (0, float(p["id"]), 0)
            t = _time(p.get(order_field))
            return (0 if t else 1, t.timestamp() if t else 0.0, int(p["id"]))
        out.sort(key=key, reverse=desc)
        page = out[offset:offset + limit]
        next_token = next_url = None
        headers: dict[str, str] = {}
        if offset + limit < len(out):
            if offset + len(page) >= self.token_sequence_cap:  # the sequence is spent: no token, a warning
                headers[WARNING_HEADER] = f"{W_SEQUENCE_CAP};{W_SEQUENCE_CAP_MESSAGE}"
            else:
                state = {"o": offset + limit, "q": {k: v for k, v in params.items() if k != "nextPageToken"}}
                next_token = base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")
                next_url = f"{self.org.pardot_base_url}{BASE}?{urlencode({'nextPageToken': next_token})}"
        return ({"nextPageToken": next_token, "nextPageUrl": next_url,
                 "values": [self.render(p, fields) for p in page]}, headers)

    def _get(self, pid: int, deleted: str = "false") -> dict[str, Any]:
        p = self.org.store.prospects.get(pid)
        if p is None or not self._visible(p, deleted):
            raise PardotError(404, E_INVALID_ID, f"Invalid prospect ID: {pid}")
        return p

    def read(self, req: "Request", pid: int) -> dict[str, Any]:
        fields = self.parse_fields(req.param("fields"))
        deleted = str(req.param("deleted", "false")).lower()
        with self.org.store.lock:
            return self.render(dict(self._get(pid, deleted if deleted in ("true", "all") else "false")), fields)

    def _response_fields(self, req: "Request", written: dict[str, Any], body_fields: Any = None) -> list[str]:
        fields = self.parse_fields(body_fields if body_fields else req.param("fields"), required=False)
        return fields or ["id", *[k for k in written if k != "id"], "updatedAt"]

    def create(self, req: "Request") -> dict[str, Any]:
        body = self.check_writable(req.json())
        if not body.get("email"):
            raise PardotError(400, E_INVALID_EMAIL, "email is required to create a prospect")
        fields = self._response_fields(req, body)
        with self.org.store.lock:
            pid = self.org.store.insert_prospect(dict(body))
            return self.render(dict(self.org.store.prospects[pid]), fields)

    def _apply(self, pid: int, body: dict[str, Any]) -> dict[str, Any]:
        store = self.org.store
        with store.lock:
            p = self._get(pid)
            p.update(body)
            p["updatedAt"] = store.now()
            return dict(p)

    def update(self, req: "Request", pid: int) -> dict[str, Any]:
        body = self.check_writable(req.json())
        fields = self._response_fields(req, body)
        return self.render(self._apply(pid, body), fields)

    def upsert_latest_by_email(self, req: "Request") -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict) or not body.get("matchEmail"):
            raise PardotError(400, E_INVALID_EMAIL, "matchEmail is required")
        prospect = self.check_writable(body.get("prospect") or {})
        match = str(body["matchEmail"]).lower()
        fields = self._response_fields(req, prospect, body.get("fields"))
        store = self.org.store
        with store.lock:
            target = self._latest(match, deleted=False)
            if target is None and body.get("secondaryDeletedSearch"):
                target = self._latest(match, deleted=True)
                if target is not None:
                    store.undelete_prospect(int(target["id"]))
            if target is None:
                fresh = dict(prospect)
                fresh.setdefault("email", body["matchEmail"])
                pid = store.insert_prospect(fresh)
                return self.render(dict(store.prospects[pid]), fields)
            return self.render(self._apply(int(target["id"]), prospect), fields)

    def _latest(self, email_lower: str, deleted: bool) -> dict[str, Any] | None:
        cands = [p for p in self.org.store.prospects.values()
                 if str(p.get("email") or "").lower() == email_lower and bool(p.get("isDeleted")) == deleted]
        if not cands:
            return None
        return max(cands, key=lambda p: (_time(p.get("lastActivityAt")) or _time(p.get("updatedAt"))
                                         or datetime.min.replace(tzinfo=timezone.utc), int(p["id"])))

    def undelete(self, req: "Request") -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict) or not (body.get("id") or body.get("matchEmail")):
            raise PardotError(400, E_INVALID_PARAM, "id or matchEmail is required")
        fields = self._response_fields(req, {"isDeleted": False}, body.get("fields"))
        store = self.org.store
        with store.lock:
            if body.get("id"):
                pid = self._id(str(body["id"]))
                p = store.prospects.get(pid)
                if p is None or not p.get("isDeleted"):
                    raise PardotError(404, E_INVALID_ID, f"No prospect {pid} in the recycle bin")
            else:
                p = self._latest(str(body["matchEmail"]).lower(), deleted=True)
                if p is None:
                    raise PardotError(404, E_INVALID_EMAIL, f"No prospect in the recycle bin with email {body['matchEmail']}")
                pid = int(p["id"])
            store.undelete_prospect(pid)
            return self.render(dict(store.prospects[pid]), fields)


    # ---- custom fields (read-only) ---------------------------------------------------------------
    def _custom_fields(self, req: "Request", rest: str) -> "Response":
        from nayose.fakeorg.server import Response
        if req.method != "GET":
            raise PardotError(405, E_METHOD, "Invalid HTTP request method")
        if rest:
            if "/" in rest:
                raise PardotError(404, E_INVALID_PARAM, f"Unknown resource: {req.path}")
            cid = self._id(rest)
            fields = self._custom_field_names(req.param("fields"))
            with self.org.store.lock:
                d = self.org.store.pardot_custom_fields.get(cid)
                if d is None:
                    raise PardotError(404, E_INVALID_ID, f"Invalid custom field ID: {cid}")
                return Response.json(200, self._render_custom_field(d, fields))
        params = dict(req.single())
        token = params.get("nextPageToken")
        offset = 0
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
                offset = int(state["o"])
                saved = dict(state["q"])
            except (ValueError, KeyError, TypeError):
                raise PardotError(400, E_INVALID_PARAM, "Invalid nextPageToken") from None
            params = saved
        unknown = [k for k in params if k not in CUSTOM_FIELD_PARAMS]
        if unknown:
            raise PardotError(400, E_INVALID_PARAM, f"Invalid parameter(s): {', '.join(sorted(unknown))}")
        fields = self._custom_field_names(params.get("fields"))
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise PardotError(400, E_INVALID_PARAM, "limit must be an integer") from None
        if limit < 1 or limit > MAX_LIMIT:
            raise PardotError(400, E_LIMIT, f"limit must be between 1 and {MAX_LIMIT}")
        order = params.get("orderBy", "id ASC").split()
        if not order or order[0] not in ("id", "createdAt", "updatedAt") or len(order) > 2 or (
                len(order) == 2 and order[1].upper() not in ("ASC", "DESC")):
            raise PardotError(400, E_INVALID_PARAM, f"Invalid orderBy: {params.get('orderBy')}")
        with self.org.store.lock:
            rows = [dict(d) for _, d in sorted(self.org.store.pardot_custom_fields.items())]
        for name, op in (("idGreaterThan", ">"), ("idLessThan", "<")):
            if name in params:
                try:
                    want = int(params[name])
                except ValueError:
                    raise PardotError(400, E_INVALID_PARAM, f"{name} must be an integer") from None
                rows = [d for d in rows if _cmp(int(d["id"]), op, want)]
        if order[0] != "id":
            rows.sort(key=lambda d: ((_time(d.get(order[0])) or datetime.min.replace(tzinfo=timezone.utc)), int(d["id"])))
        if len(order) == 2 and order[1].upper() == "DESC":
            rows.reverse()
        page = rows[offset:offset + limit]
        next_token = next_url = None
        if offset + limit < len(rows):
            state = {"o": offset + limit, "q": {k: v for k, v in params.items() if k != "nextPageToken"}}
            next_token = base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")
            next_url = f"{self.org.pardot_base_url}{CUSTOM_FIELDS_BASE}?{urlencode({'nextPageToken': next_token})}"
        return Response.json(200, {"nextPageToken": next_token, "nextPageUrl": next_url,
                                   "values": [self._render_custom_field(d, fields) for d in page]})

    @staticmethod
    def _custom_field_names(raw: str | None) -> list[str]:
        names = [f.strip() for f in str(raw or "").split(",") if f.strip()]
        if not names:
            raise PardotError(400, E_INVALID_PARAM, "Required parameter fields is missing")
        bad = [n for n in names if n not in CUSTOM_FIELD_FIELDS]
        if bad:
            raise PardotError(400, E_INVALID_FIELD, f"Invalid field(s) in fields: {', '.join(bad)}")
        return names

    @staticmethod
    def _render_custom_field(d: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields:
            v = d.get(f)
            if CUSTOM_FIELD_FIELDS[f] == "datetime":
                v = _iso(v)
            elif CUSTOM_FIELD_FIELDS[f] == "boolean":
                v = bool(v)
            out[f] = v
        return out


def _cmp(a: Any, op: str, b: Any) -> bool:
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]
