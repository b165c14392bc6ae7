"""The fake org's HTTPS server: Salesforce REST, Bulk API 2.0 queries, OAuth, SOAP routing and
Account Engagement (Pardot) v5 on 127.0.0.1, over real TLS (a throw-away CA from trustme).

    with FakeOrg(store) as org:
        sf = Salesforce(instance_url=org.instance_url, session_id=org.access_token,
                        session=org.session(), version="62.0")

Routes (``vXX.X`` is any version from 31.0 up to `api_version`):

* ``POST /services/oauth2/token`` — password and JWT bearer grants.
* ``POST /services/Soap/u/<ver>``, ``/services/Soap/c/<ver>`` — `nayose.fakeorg.soap.handle(org, body)`.
* ``GET /services/data/`` (versions), ``/services/data/vXX.X/`` (resources), ``limits``,
  ``sobjects`` (describeGlobal), ``sobjects/<Obj>`` (GET info, POST create),
  ``sobjects/<Obj>/describe``, ``sobjects/<Obj>/deleted/?start=&end=`` (Get Deleted, from the
  store's delete log), ``sobjects/<Obj>/<Id>`` (GET ?fields=, PATCH, DELETE),
  ``query`` / ``queryAll`` ``?q=`` and their ``nextRecordsUrl`` pages, ``composite/sobjects``
  (POST create, PATCH update, DELETE ?ids=), ``composite/sobjects/<Obj>`` (GET ?ids=&fields=,
  POST {"ids", "fields"}), ``jobs/query…`` (see `nayose.fakeorg.bulk`).
* ``/api/v5/objects/prospects…`` — see `nayose.fakeorg.pardot`.

A request whose request line and headers pass `MAX_REQUEST_HEAD` bytes (16,384, Salesforce's limit)
is answered 414 URI Too Long, as Salesforce does (a REST query is a GET with the SOQL in the URL). The
``Date`` header of every answer is the org's clock (`OrgStore.now`), as a real server's is its own.

Every REST / Bulk request needs ``Authorization: Bearer <access_token>`` (or ``OAuth <token>``),
counts one API call (except ``limits``) and answers with ``Sforce-Limit-Info: api-usage=used/limit``;
past the daily limit the answer is 403 REQUEST_LIMIT_EXCEEDED. SOAP requests count too, except
``login`` (the SOAP handler must not count them again). Pardot requests need the bearer token and
``Pardot-Business-Unit-Id``; they do not count against the Salesforce limit.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import importlib
import json
import re
import secrets
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import requests

from nayose.fakeorg.bulk import BulkError, BulkQueryJobs
from nayose.fakeorg.faults import TRANSPORT_KINDS, FaultRule, Faults
from nayose.fakeorg.pardot import E_BUSINESS_UNIT, E_INVALID_TOKEN, PardotApi
from nayose.fakeorg.soql import DEFAULTS, REQUIRED, TEXT_TYPES, Evaluator, Schema
from nayose.fakeorg.store import KEY_PREFIXES, OrgError, OrgStore, id18

MIN_VERSION = 31
#: Request line + headers, in bytes, past which Salesforce answers 414 (URI Too Long) / 431.
MAX_REQUEST_HEAD = 16_384
COLLECTION_LIMIT = 200
LOGIN_URLS = ("https://login.salesforce.com", "https://test.salesforce.com")
HTTP_STATUS = {
    "NOT_FOUND": 404, "ENTITY_IS_DELETED": 404, "INVALID_SESSION_ID": 401, "REQUEST_LIMIT_EXCEEDED": 403,
    "INSUFFICIENT_ACCESS": 403, "METHOD_NOT_ALLOWED": 405, "UNKNOWN_EXCEPTION": 500, "SERVER_UNAVAILABLE": 503,
}
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SOAP_LOGIN_RE = re.compile(rb"<(?:[\w-]+:)?login[\s>/]")
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def status_of(code: str) -> int:
    return HTTP_STATUS.get(code, 400)


# ---------------------------------------------------------------------------------------------
# Request / response
# ---------------------------------------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[0] if vals else default

    def single(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.query.items() if v}

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ApiError(400, [{"errorCode": "JSON_PARSER_ERROR", "message": f"Unexpected body: {e}"}]) from None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers=dict(headers or {}))


class ApiError(Exception):
    """An error answer in Salesforce's REST shape (a JSON list of {errorCode, message})."""

    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None):
        super().__init__(str(payload))
        self.status = status
        self.payload = payload
        self.headers = headers or {}

    @classmethod
    def of(cls, code: str, message: str, fields: list[str] | None = None, status: int | None = None) -> "ApiError":
        item: dict[str, Any] = {"errorCode": code, "message": message}
        if fields:
            item["fields"] = fields
        return cls(status or status_of(code), [item])


def soap_fault(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {_xml(message)}'
            '</faultstring><detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault">'
            f'<sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{_xml(message)}</sf:exceptionMessage>'
            '</sf:UnexpectedErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>').encode("utf-8")


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------
# Write transactions (allOrNone)
# ---------------------------------------------------------------------------------------------

class _Txn:
    """Undo log over the store for allOrNone collections (the caller holds store.lock)."""

    def __init__(self, store: OrgStore):
        self.store = store
        self.before: dict[tuple[str, str], tuple[dict[str, Any] | None, str | None]] = {}
        self.logged: dict[str, tuple[str, str] | None] = {}  # Id → its delete log entry before

    def touch(self, sobject: str, rid: str) -> None:
        key = (sobject, rid)
        if key not in self.before:
            rec = self.store.objects.get(sobject, {}).get(rid)
            self.before[key] = (copy.deepcopy(rec), self.store.deleted_at.get(rid))
            self.logged[rid] = self.store.delete_log.get(rid)

    def rollback(self) -> None:
        for (sobject, rid), (rec, deleted_at) in self.before.items():
            if rec is None:
                self.store.objects[sobject].pop(rid, None)
            else:
                self.store.objects[sobject][rid] = rec
            if deleted_at is None:
                self.store.deleted_at.pop(rid, None)
            else:
                self.store.deleted_at[rid] = deleted_at
            if rid in self.logged:
                entry = self.logged[rid]
                if entry is None:
                    self.store.delete_log.pop(rid, None)
                else:
                    self.store.delete_log[rid] = entry


ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr: tuple[str, int], org: "FakeOrg", ctx: ssl.SSLContext):
        self.org = org
        self.ctx = ctx
        super().__init__(addr, _Handler)

    def get_request(self):  # TLS handshake happens lazily in the handler thread
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):  # noqa: D401 - quiet on client disconnects
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSalesforce/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are closed after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.org._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.org._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # requests are logged in org.requests_log
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: the org's clock (the server's own time), not this machine's."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        from email.utils import format_datetime

        with self.server.org.store.lock:
            clock = self.server.org.store._clock
        return format_datetime(clock.astimezone(timezone.utc), usegmt=True)

    def _head_size(self) -> int:
        return len(self.requestline) + 2 + sum(len(k) + len(v) + 4 for k, v in self.headers.items()) + 2

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _dispatch(self) -> None:
        org = self.server.org
        body = self._read_body()
        parts = urlsplit(self.path)
        path = parts.path
        method = self.command
        req = Request(method, path, parse_qs(parts.query, keep_blank_values=True), self.headers, body)
        if self._head_size() > MAX_REQUEST_HEAD:
            self._send(req, Response(414, b"<html><head><title>414 URI Too Long</title></head><body>Request-URI Too "
                                          b"Long</body></html>", content_type="text/html"))
            return
        while (lat := org.faults.take("latency", method, path)) is not None:
            org._sleep(lat.seconds)
        rule = org.faults.take(TRANSPORT_KINDS, method, path, when="before")
        if rule is not None and self._transport_fault(rule, req, None):
            return
        try:
            resp = org.handle(req)
        except Exception as e:  # a bug in a handler: 500 like Salesforce's UNKNOWN_EXCEPTION
            org.errors.append(f"{type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
            resp = org._unknown_exception(req)
        rule = org.faults.take(TRANSPORT_KINDS, method, path, when="after")
        if rule is not None and self._transport_fault(rule, req, resp):
            return
        self._send(req, resp)

    def _send(self, req: Request, resp: Response, truncate: bool = False) -> None:
        """Send the response; with truncate only part of it: the headers and half the body, or — with
        no body — half the status line (http.client takes headers cut short by EOF as complete)."""
        self.server.org.requests_log.append((req.method, req.path, 0 if truncate else resp.status))
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        head = b"".join(self._headers_buffer) + b"\r\n"
        self._headers_buffer = []
        body = resp.body if req.method != "HEAD" else b""
        raw = head + body
        if truncate:
            raw = raw[:len(head) + len(body) // 2] if body else raw[:head.index(b"\r\n") // 2]
        self.wfile.write(raw)
        self.wfile.flush()

    def _reset(self) -> None:
        """Close the TCP connection with an RST (no TLS close_notify, no FIN)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _transport_fault(self, rule: FaultRule, req: Request, resp: Response | None) -> bool:
        """Apply a transport fault; True when the request is finished (nothing more to send)."""
        org = self.server.org
        if rule.kind == "status":
            self._send(req, org._fault_response(req, rule))
            return True
        if rule.kind == "reset":
            org.requests_log.append((req.method, req.path, 0))
            self._reset()
            return True
        if rule.kind == "reset_mid":
            real = resp if resp is not None else org._fault_body_for_mid(req)
            try:
                self._send(req, real, truncate=True)
                org._sleep(0.05)
            except OSError:
                pass
            self._reset()
            return True
        if rule.kind == "timeout":
            org._sleep(rule.seconds)
            if resp is None:
                org.requests_log.append((req.method, req.path, 0))
                self.close_connection = True
                return True
            try:
                self._send(req, resp)
            except OSError:
                self.close_connection = True
            return True
        return False


# ---------------------------------------------------------------------------------------------
# The org
# ---------------------------------------------------------------------------------------------

class FakeOrg:
    """A fake Salesforce org (+ Pardot business unit) over HTTPS on `host`; see the module doc."""

    def __init__(self, store: OrgStore | None = None, host: str = "127.0.0.1", port: int = 0,
                 api_version: str = "62.0", username: str = "analyst@example.co.jp", password: str = "pass-123",
                 security_token: str = "TOKEN456", consumer_key: str = "3MVG9fake",
                 jwt_public_key_pem: bytes | None = None, business_unit_id: str = "0Uv5F0000000001AAA",
                 page_size: int = 2000, *, ca_dir: str | Path | None = None, fault_seed: int = 0,
                 bulk_polls_before_complete: int = 0):
        self.store = store if store is not None else OrgStore()
        self.host = host
        self.port = port
        self.api_version = api_version
        self.username = username
        self.password = password
        self.security_token = security_token
        self.consumer_key = consumer_key
        self.jwt_public_key_pem = jwt_public_key_pem
        self.business_unit_id = business_unit_id
        self.page_size = page_size
        self.bulk_polls_before_complete = bulk_polls_before_complete
        self.user_id = "0055F000000AbCdQAK"
        self.access_token = self._new_token()
        self.faults = Faults(seed=fault_seed)
        self.requests_log: list[tuple[str, str, int]] = []
        self.errors: list[str] = []
        self.schema = Schema(self.store)
        self.evaluator = Evaluator(self.store, self.schema, api_version)
        self.bulk = BulkQueryJobs(self)
        self.pardot = PardotApi(self)
        self._ca_dir = Path(ca_dir) if ca_dir else None
        self._tmpdir: str | None = None
        self.ca_path: str | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[Any] = set()
        self._conns_lock = threading.Lock()
        self._cursors: dict[str, tuple[str, list[Any], list[dict[str, Any]], int]] = {}  # id → sobject, fields, rows, page size
        self._cursor_lock = threading.Lock()
        self._signing_key = secrets.token_bytes(32)

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> "FakeOrg":
        if self._server is not None:
            return self
        import trustme

        ca = trustme.CA(organization_name="nayose fake org CA")
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        if self._ca_dir is not None:
            self._ca_dir.mkdir(parents=True, exist_ok=True)
            ca_file = self._ca_dir / "fakeorg-ca.pem"
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="nayose-fakeorg-")
            ca_file = Path(self._tmpdir) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        self.ca_path = str(ca_file)
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self, ctx)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"fakeorg-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> "FakeOrg":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _track(self, conn: Any, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # ---- public helpers -----------------------------------------------------------------------
    @property
    def instance_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake org is not started")
        return f"https://{self.host}:{self.port}"

    @property
    def pardot_base_url(self) -> str:
        return self.instance_url

    @property
    def base_path(self) -> str:
        return f"/services/data/v{self.api_version}"

    def session(self) -> requests.Session:
        """A new requests.Session trusting this org's CA. `trust_env` is off: with it on, requests lets
        REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `verify`, and a proxy from the environment would
        capture 127.0.0.1."""
        if self.ca_path is None:
            raise RuntimeError("the fake org is not started")
        s = requests.Session()
        s.verify = self.ca_path
        s.trust_env = False
        return s

    def is_valid_session(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.access_token)

    def rotate_access_token(self) -> str:
        """Expire the current session: the old token gets 401 INVALID_SESSION_ID from now on."""
        self.access_token = self._new_token()
        return self.access_token

    def define_field(self, sobject: str, name: str, type: str = "string", length: int = 255,
                     picklist_values: tuple[str, ...] | list[str] = ()) -> None:
        """Declare a field that no record has yet (it shows in describe, queries return null)."""
        self.schema.define_field(sobject, name, type=type, length=length, picklist_values=picklist_values)

    def hide_field(self, sobject: str, name: str, hidden: bool = True) -> None:
        """Field-level security revoked (or granted again) for the API user: see `Schema.hide_field`."""
        self.schema.hide_field(sobject, name, hidden)

    def _new_token(self) -> str:
        return f"{self.store.org_id[:15]}!AQ{secrets.token_urlsafe(48)}"

    # ---- dispatch ---------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        path = req.path
        if path == "/services/oauth2/token":
            if req.method != "POST":
                return Response.json(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
            return self._oauth(req)
        if path.startswith("/services/Soap/"):
            return self._soap(req)
        if path.rstrip("/") == "/services/data":
            return Response.json(200, self._versions(), headers=self._limit_header())
        if path.startswith("/services/data/v"):
            return self._rest(req)
        if path.startswith("/api/v5/"):
            return self._pardot(req)
        return Response.json(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])

    def _limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.store.api_used}/{self.store.api_daily_limit}"}

    def _bearer(self, req: Request) -> str | None:
        auth = req.headers.get("Authorization") or ""
        for scheme in ("Bearer ", "OAuth "):
            if auth[:len(scheme)].lower() == scheme.lower():
                return auth[len(scheme):].strip()
        return None

    def _unknown_exception(self, req: Request) -> Response:
        if req.path.startswith("/services/Soap/"):
            return Response(500, soap_fault("UNKNOWN_EXCEPTION", "An unexpected error occurred in the fake org"),
                            content_type="text/xml;charset=UTF-8")
        if req.path.startswith("/api/v5/"):
            return Response.json(500, {"code": 1, "message": "Internal server error"})
        return Response.json(500, [{"errorCode": "UNKNOWN_EXCEPTION",
                                    "message": "An unexpected error occurred. Please include this ErrorId if you "
                                               f"contact support: {secrets.randbelow(10**9)}-{secrets.randbelow(10**5)}"}])

    def _fault_response(self, req: Request, rule: FaultRule) -> Response:
        headers = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = str(rule.retry_after)
        if rule.body is not None:
            return Response(rule.status, rule.body, headers=headers)
        if req.path.startswith("/services/Soap/"):
            code = "REQUEST_LIMIT_EXCEEDED" if rule.status == 429 else (
                "SERVER_UNAVAILABLE" if rule.status == 503 else "UNKNOWN_EXCEPTION")
            return Response(rule.status, soap_fault(code, f"injected fault {rule.status}"),
                            content_type="text/xml;charset=UTF-8", headers=headers)
        if req.path.startswith("/api/v5/"):
            code = 122 if rule.status == 429 else 1
            msg = "Daily API rate limit met" if rule.status == 429 else "Service temporarily unavailable"
            return Response.json(rule.status, {"code": code, "message": msg}, headers=headers)
        if rule.status == 429:
            payload = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded."}]
        elif rule.status == 503:
            payload = [{"errorCode": "SERVER_UNAVAILABLE", "message": "Server temporarily unavailable"}]
        else:
            payload = [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred (injected)"}]
        if req.path.startswith("/services/data"):
            headers.update(self._limit_header())
        return Response.json(rule.status, payload, headers=headers)

    def _fault_body_for_mid(self, req: Request) -> Response:
        """reset_mid before execution: a plausible 200 whose body never completes."""
        return Response.json(200, {"totalSize": 0, "done": True, "records": [], "padding": "x" * 256})

    # ---- OAuth ------------------------------------------------------------------------------
    def _oauth(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        grant = form.get("grant_type")
        bad = Response.json(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        if grant == "password":
            if form.get("client_id") != self.consumer_key:
                return Response.json(400, {"error": "invalid_client_id", "error_description": "client identifier invalid"})
            if form.get("username") != self.username or form.get("password") != self.password + self.security_token:
                return bad
            return self._token_response()
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            import jwt

            if not self.jwt_public_key_pem or not form.get("assertion"):
                return bad
            try:
                claims = jwt.decode(form["assertion"], self.jwt_public_key_pem, algorithms=["RS256"],
                                    audience=[*LOGIN_URLS, self.instance_url],
                                    options={"require": ["exp", "iss", "sub", "aud"]})
            except jwt.ExpiredSignatureError:
                return Response.json(400, {"error": "invalid_grant", "error_description": "expired authorization code"})
            except jwt.InvalidAudienceError:
                return Response.json(400, {"error": "invalid_grant", "error_description": "audience is invalid"})
            except jwt.PyJWTError:
                return Response.json(400, {"error": "invalid_grant", "error_description": "invalid assertion"})
            if claims.get("iss") != self.consumer_key:
                return Response.json(400, {"error": "invalid_client_id", "error_description": "client identifier invalid"})
            if claims.get("sub") != self.username:
                return Response.json(400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"})
            return self._token_response(scope="api")
        return Response.json(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})

    def _token_response(self, scope: str | None = None) -> Response:
        issued_at = str(int(time.time() * 1000))
        ident = f"{LOGIN_URLS[0]}/id/{self.store.org_id}/{self.user_id}"
        sig = base64.b64encode(hmac.new(self._signing_key, (ident + issued_at).encode(), hashlib.sha256).digest()).decode()
        out = {"access_token": self.access_token, "instance_url": self.instance_url, "id": ident,
               "token_type": "Bearer", "issued_at": issued_at, "signature": sig}
        if scope:
            out["scope"] = scope
        return Response.json(200, out, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # ---- SOAP -------------------------------------------------------------------------------
    def _soap(self, req: Request) -> Response:
        xml = "text/xml;charset=UTF-8"
        if req.method != "POST" or not re.fullmatch(r"/services/Soap/[uc]/\d+\.\d+/?(?:[\w]+)?", req.path):
            return Response(404, soap_fault("INVALID_OPERATION", "no SOAP endpoint here"), content_type=xml)
        if not _SOAP_LOGIN_RE.search(req.body[:4096]):
            self.store.count_api_call()
            if self.store.api_used > self.store.api_daily_limit:
                return Response(500, soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
                                content_type=xml)
        try:
            soap = importlib.import_module("nayose.fakeorg.soap")
        except ModuleNotFoundError as e:
            if e.name != "nayose.fakeorg.soap":
                raise
            return Response(500, soap_fault("UNKNOWN_EXCEPTION", "the SOAP API is not available in this fake org"),
                            content_type=xml)
        status, body = soap.handle(self, req.body)
        return Response(status, body, content_type=xml)

    # ---- Pardot -----------------------------------------------------------------------------
    def _pardot(self, req: Request) -> Response:
        if not self.is_valid_session(self._bearer(req)):
            return Response.json(401, {"code": E_INVALID_TOKEN, "message": "Access token is invalid, unsupported, or expired"})
        if req.headers.get("Pardot-Business-Unit-Id") != self.business_unit_id:
            return Response.json(401, {"code": E_BUSINESS_UNIT,
                                       "message": "The Pardot-Business-Unit-Id header is missing or invalid"})
        return self.pardot.handle(req)

    # ---- REST -------------------------------------------------------------------------------
    def _versions(self) -> list[dict[str, str]]:
        top = int(float(self.api_version))
        return [{"label": f"API v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(MIN_VERSION, top + 1)]

    def _rest(self, req: Request) -> Response:
        m = re.match(r"^/services/data/v(\d+\.\d)(?:/(.*))?$", req.path)
        if not m or not (MIN_VERSION <= float(m.group(1)) <= float(self.api_version)):
            return Response.json(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        version, rest = m.group(1), (m.group(2) or "").strip("/")
        if not self.is_valid_session(self._bearer(req)):
            return Response.json(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                                 headers={"WWW-Authenticate": "Token", **self._limit_header()})
        if rest != "limits":
            self.store.count_api_call()
            if self.store.api_used > self.store.api_daily_limit:
                return Response.json(403, [{"message": "TotalRequests Limit exceeded.",
                                            "errorCode": "REQUEST_LIMIT_EXCEEDED"}], headers=self._limit_header())
        base = f"/services/data/v{version}"
        try:
            resp = self._rest_route(req, base, rest.split("/") if rest else [])
        except ApiError as e:
            resp = Response.json(e.status, e.payload, headers=e.headers)
        except BulkError as e:
            resp = Response.json(e.status, [{"errorCode": e.code, "message": e.message}])
        except OrgError as e:
            item: dict[str, Any] = {"errorCode": e.code, "message": e.message}
            if e.fields:
                item["fields"] = e.fields
            resp = Response.json(status_of(e.code), [item])
        resp.headers.update(self._limit_header())
        return resp

    def _rest_route(self, req: Request, base: str, parts: list[str]) -> Response:
        meth = req.method
        n = len(parts)

        def allow(*methods: str) -> None:
            if meth not in methods:
                raise ApiError.of("METHOD_NOT_ALLOWED", f"HTTP Method '{meth}' not allowed. Allowed are "
                                  f"{','.join(methods)}")
        if n == 0:
            allow("GET")
            return Response.json(200, {k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "limits",
                                                                   "composite", "jobs")})
        head = parts[0]
        if head == "limits" and n == 1:
            allow("GET")
            return Response.json(200, self._limits())
        if head in ("query", "queryAll"):
            allow("GET")
            if n == 1:
                q = req.param("q")
                if not q:
                    raise ApiError.of("MALFORMED_QUERY", "A query string has to be specified")
                return Response.json(200, self._query(req, base, q, include_deleted=head == "queryAll"))
            if n == 2:
                return Response.json(200, self._query_more(base, parts[1]))
        if head == "sobjects":
            return self._sobjects(req, base, parts[1:], allow)
        if head == "composite" and n >= 2 and parts[1] == "sobjects":
            return self._collections(req, base, parts[2:], allow)
        if head == "jobs" and n >= 2 and parts[1] == "query":
            return self.bulk.handle(req, parts[2:])
        raise ApiError.of("NOT_FOUND", "The requested resource does not exist")

    def _limits(self) -> dict[str, Any]:
        used, limit = self.store.api_used, self.store.api_daily_limit
        return {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - len(self.bulk.jobs)},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562}}

    # ---- query ------------------------------------------------------------------------------
    def _batch_size(self, req: Request) -> int:
        opt = req.headers.get("Sforce-Query-Options") or ""
        m = re.search(r"batchSize\s*=\s*(\d+)", opt)
        if not m:
            return max(1, self.page_size)
        return max(1, min(int(m.group(1)), 2000, self.page_size))

    def _query(self, req: Request, base: str, soql: str, include_deleted: bool) -> dict[str, Any]:
        q, selected, rows, total = self.evaluator.run(soql, include_deleted=include_deleted)
        if q.count:
            return {"totalSize": total, "done": True, "records": []}
        if q.aggregate:
            return {"totalSize": 1, "done": True,
                    "records": [{"attributes": {"type": "AggregateResult"}, q.aggregate[1]: total}]}
        size = self._batch_size(req)
        if len(rows) <= size:
            return {"totalSize": total, "done": True,
                    "records": [self.evaluator.shape(q.sobject, r, selected, base) for r in rows]}
        cursor = "01g" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                 for _ in range(15))
        with self._cursor_lock:
            self._cursors[cursor] = (q.sobject, selected, rows, size)
            while len(self._cursors) > 1000:
                self._cursors.pop(next(iter(self._cursors)))
        return self._page(base, cursor, 0, size)

    def _page(self, base: str, cursor: str, offset: int, size: int) -> dict[str, Any]:
        with self._cursor_lock:
            sobject, selected, rows, _ = self._cursors[cursor]
        page = rows[offset:offset + size]
        nxt = offset + len(page)
        out: dict[str, Any] = {"totalSize": len(rows), "done": nxt >= len(rows)}
        if nxt < len(rows):
            out["nextRecordsUrl"] = f"{base}/query/{cursor}-{nxt}"
        out["records"] = [self.evaluator.shape(sobject, r, selected, base) for r in page]
        return out

    def _query_more(self, base: str, locator: str) -> dict[str, Any]:
        m = re.fullmatch(r"(01g\w{15})-(\d+)", locator)
        with self._cursor_lock:
            known = bool(m) and m.group(1) in self._cursors
        if not known:
            raise ApiError.of("INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(m.group(2))
        with self._cursor_lock:
            size = self._cursors[m.group(1)][3]
        return self._page(base, m.group(1), offset, size)

    # ---- sObjects ---------------------------------------------------------------------------
    def _sobject_name(self, name: str) -> str:
        if name not in KEY_PREFIXES:
            raise ApiError.of("NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")
        return name

    def _record_out(self, sobject: str, rec: dict[str, Any], base: str, fields: list[str] | None) -> dict[str, Any]:
        infos = self.schema.fields(sobject)
        names = list(infos) if fields is None else [self.schema.field(sobject, f).name for f in fields]
        out: dict[str, Any] = {"attributes": {"type": sobject, "url": f"{base}/sobjects/{sobject}/{rec['Id']}"}}
        for name in names:
            out[name] = Schema.to_api(infos[name], Schema.value_of(sobject, rec, name))
        return out

    def _norm_id(self, rid: str, sobject: str | None = None) -> str:
        if not re.fullmatch(r"[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18}", rid):
            raise ApiError.of("MALFORMED_ID", f"malformed id {rid}", status=400)
        rid = id18(rid) if len(rid) == 15 else rid
        if sobject is not None and KEY_PREFIXES.get(sobject) != rid[:3]:
            raise ApiError.of("NOT_FOUND", "Provided external ID field does not exist or is not accessible: " + rid)
        return rid

    def _sobjects(self, req: Request, base: str, parts: list[str], allow: Callable[..., None]) -> Response:
        if not parts:
            allow("GET")
            return Response.json(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
                {"name": o, "label": o, "keyPrefix": KEY_PREFIXES[o], "queryable": True, "createable": True,
                 "updateable": True, "deletable": True, "custom": False,
                 "urls": {"sobject": f"{base}/sobjects/{o}", "describe": f"{base}/sobjects/{o}/describe"}}
                for o in self.schema.objects]})
        sobject = self._sobject_name(parts[0])
        if len(parts) == 1:
            allow("GET", "POST")
            if req.method == "POST":
                body = req.json()
                if not isinstance(body, dict):
                    raise ApiError.of("JSON_PARSER_ERROR", "The request body must be a JSON object")
                with self.store.lock:
                    rid = self._create(sobject, body)
                return Response.json(201, {"id": rid, "success": True, "errors": []},
                                     headers={"Location": f"{base}/sobjects/{sobject}/{rid}"})
            d = self.schema.describe(sobject, base)
            return Response.json(200, {"objectDescribe": {k: v for k, v in d.items() if k != "fields"},
                                       "recentItems": []})
        if len(parts) == 2 and parts[1] == "describe":
            allow("GET")
            return Response.json(200, self.schema.describe(sobject, base))
        if len(parts) == 2 and parts[1] in ("deleted", "updated"):
            allow("GET")
            start, end = (str(req.param(k) or "").replace(" ", "+") for k in ("start", "end"))
            if not start or not end:
                raise ApiError.of("MISSING_ARGUMENT", "start and end are required")
            if parts[1] == "updated":
                raise ApiError.of("NOT_FOUND", "sObject Get Updated is not supported by the fake org")
            return Response.json(200, self.store.get_deleted(sobject, start, end))
        if len(parts) == 2:
            allow("GET", "PATCH", "DELETE")
            rid = self._norm_id(parts[1], sobject)
            if req.method == "GET":
                fields = req.param("fields")
                rec = self.store.get(rid, sobject)
                return Response.json(200, self._record_out(sobject, rec, base, [f.strip() for f in fields.split(",")
                                                                                  if f.strip()] if fields else None))
            if req.method == "PATCH":
                body = req.json()
                if not isinstance(body, dict):
                    raise ApiError.of("JSON_PARSER_ERROR", "The request body must be a JSON object")
                with self.store.lock:
                    self._update(sobject, rid, body)
                return Response(204)
            self.store.delete(rid, sobject)
            return Response(204)
        raise ApiError.of("NOT_FOUND", "The requested resource does not exist")

    def _clean_fields(self, sobject: str, body: dict[str, Any], creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key == "attributes" or (key == "Id" and not creating):
                continue
            try:
                info = self.schema.field(sobject, key)
            except OrgError:
                raise OrgError("INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject}", [key]) from None
            if not (info.createable if creating else info.updateable):
                raise OrgError("INVALID_FIELD_FOR_INSERT_UPDATE",
                               f"Unable to create/update fields: {info.name}. Please check the security settings of "
                               "this field and verify that it is read/write for your profile or permission set.",
                               [info.name])
            if value is not None and info.type in TEXT_TYPES and info.length and len(str(value)) > info.length:
                raise OrgError("STRING_TOO_LONG", f"{info.name}: data value too large: {str(value)[:40]} "
                               f"(max length={info.length})", [info.name])
            if value not in (None, "") and info.type == "email" and not _EMAIL_RE.match(str(value)):
                raise OrgError("INVALID_EMAIL_ADDRESS", f"{info.name}: invalid email address: {value}", [info.name])
            out[info.name] = value
        return out

    def _check_required(self, sobject: str, rec: dict[str, Any]) -> None:
        required = REQUIRED.get(sobject, ())
        if sobject == "Account" and rec.get("IsPersonAccount") in (True, "true"):
            required = ("LastName",)  # (a Person Account's Name is compound: its LastName is asked for)
        missing = [f for f in required if rec.get(f) in (None, "")]
        if missing:
            raise OrgError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _create(self, sobject: str, body: dict[str, Any], txn: _Txn | None = None) -> str:
        fields = self._clean_fields(sobject, body, creating=True)
        for k, v in DEFAULTS.get(sobject, {}).items():
            fields.setdefault(k, v)
        self._check_required(sobject, fields)
        rid = self.store.insert(sobject, fields)
        if txn is not None:
            txn.before.setdefault((sobject, rid), (None, None))
        return rid

    def _update(self, sobject: str, rid: str, body: dict[str, Any], txn: _Txn | None = None) -> None:
        fields = self._clean_fields(sobject, body, creating=False)
        current = self.store.get(rid, sobject)
        self._check_required(sobject, {**{f: current.get(f) for f in (*REQUIRED.get(sobject, ()), "IsPersonAccount", "LastName")},
                                       **fields})
        if txn is not None:
            txn.touch(sobject, rid)
        self.store.update(rid, fields, sobject)

    # ---- collections ------------------------------------------------------------------------
    def _collections(self, req: Request, base: str, parts: list[str], allow: Callable[..., None]) -> Response:
        if parts:
            allow("GET", "POST")
            sobject = self._sobject_name(parts[0])
            if req.method == "GET":
                ids = [i for i in (req.param("ids") or "").split(",") if i]
                fields = [f for f in (req.param("fields") or "").split(",") if f]
            else:
                body = req.json() or {}
                ids, fields = list(body.get("ids") or []), list(body.get("fields") or [])
            if not ids or not fields:
                raise ApiError.of("MISSING_ARGUMENT", "ids and fields are required")
            if len(ids) > 2000:
                raise ApiError.of("EXCEEDED_ID_LIMIT", "Number of ids exceeds 2000")
            out = []
            for rid in ids:
                try:
                    nid = self._norm_id(rid, sobject)
                    out.append(self._record_out(sobject, self.store.get(nid, sobject), base, fields))
                except (ApiError, OrgError) as e:
                    if isinstance(e, OrgError) and e.code == "INVALID_FIELD":
                        raise
                    out.append(None)
            return Response.json(200, out)
        allow("POST", "PATCH", "DELETE")
        if req.method == "DELETE":
            ids = [i for i in (req.param("ids") or "").split(",") if i]
            all_or_none = (req.param("allOrNone") or "false").lower() == "true"
            if not ids:
                raise ApiError.of("MISSING_ARGUMENT", "ids is required")
            items: list[Any] = ids
        else:
            body = req.json()
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise ApiError.of("JSON_PARSER_ERROR", "The request body must be {\"allOrNone\": …, \"records\": […]}")
            items = body["records"]
            all_or_none = bool(body.get("allOrNone", False))
        if len(items) > COLLECTION_LIMIT:
            raise ApiError.of("EXCEEDED_ID_LIMIT", f"Number of records exceeds {COLLECTION_LIMIT}")
        rule = self.faults.take("partial", req.method, req.path)
        results: list[dict[str, Any]] = []
        with self.store.lock:
            txn = _Txn(self.store)
            for i, item in enumerate(items):
                rid = None
                try:
                    if req.method == "DELETE":
                        rid = str(item)
                    elif not isinstance(item, dict):
                        raise OrgError("JSON_PARSER_ERROR", "each record must be a JSON object")
                    else:
                        rid = item.get("Id")
                    if rule is not None and rule.fails(i):
                        raise OrgError(rule.error_code, rule.message)
                    if req.method == "POST":
                        sobject = self._item_type(item)
                        if item.get("Id"):
                            raise OrgError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                        rid = self._create(sobject, item, txn)
                    elif req.method == "PATCH":
                        sobject = self._item_type(item)
                        if not rid:
                            raise OrgError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                        nid = self._norm_id_org(rid, sobject)
                        self._update(sobject, nid, item, txn)
                        rid = nid
                    else:
                        nid = self._norm_id_org(rid, None)
                        sobject = self.store.object_of(nid)
                        self.store.get(nid, sobject)
                        txn.touch(sobject, nid)
                        self.store.delete(nid, sobject)
                        rid = nid
                    results.append({"id": rid, "success": True, "errors": []})
                except OrgError as e:
                    results.append({"id": rid if req.method != "POST" else None, "success": False,
                                    "errors": [{"statusCode": e.code, "message": e.message, "fields": e.fields}]})
            if all_or_none and any(not r["success"] for r in results):
                txn.rollback()
                for r in results:
                    if r["success"]:
                        r["success"] = False
                        r["errors"] = [dict(ROLLED_BACK)]
                        if req.method == "POST":
                            r["id"] = None
        return Response.json(200, results)

    def _item_type(self, item: dict[str, Any]) -> str:
        t = (item.get("attributes") or {}).get("type")
        if not t:
            raise OrgError("INVALID_TYPE", "Must send a concrete entity type.")
        if t not in KEY_PREFIXES:
            raise OrgError("INVALID_TYPE", f"sObject type '{t}' is not supported.")
        return t

    def _norm_id_org(self, rid: str, sobject: str | None) -> str:
        try:
            return self._norm_id(str(rid), sobject)
        except ApiError as e:
            item = e.payload[0]
            raise OrgError("MALFORMED_ID" if item["errorCode"] == "MALFORMED_ID" else "INVALID_CROSS_REFERENCE_KEY",
                           item["message"], ["Id"]) from None
