"""Connecting to Salesforce: settings, the three ways to log in, a retrying HTTP session, API usage.

    settings = settings_from_env()          # NAYOSE_SF_* environment variables
    sf = connect(settings)                  # a simple_salesforce.Salesforce on our session
    used, limit = api_usage(sf) or (0, 0)   # from the last Sforce-Limit-Info header seen

Authentication (`SalesforceSettings.auth`, "auto" picks the first that is configured):

* ``session``: an existing session id / access token plus the instance URL.
* ``jwt``: the OAuth 2.0 JWT bearer flow: an RS256 assertion (iss = consumer key, sub = username,
  aud = login URL, exp = now + 3 min) signed with the connected app's private key, posted to
  ``<login_url>/services/oauth2/token``.
* ``password``: username + password (+ security token). With a consumer key *and* secret the OAuth
  username-password grant (``<login_url>/services/oauth2/token``), otherwise the SOAP ``login()``
  call (``<login_url>/services/Soap/u/<version>``).

simple-salesforce's own login helpers build ``https://{domain}.salesforce.com`` URLs, so the login
flows are done here against the configurable ``login_url`` (a My Domain URL, test.salesforce.com, or
the local fake org) and the client is then built from ``instance_url`` + ``session_id`` +
``session``.

Environment variables read by `settings_from_env` (all optional; which are needed depends on the
auth mode):

    NAYOSE_SF_AUTH               auto | session | password | jwt (default auto)
    NAYOSE_SF_LOGIN_URL          default https://login.salesforce.com
    NAYOSE_SF_INSTANCE_URL       https://yourdomain.my.salesforce.com (session mode)
    NAYOSE_SF_SESSION_ID         secret: session id / access token (session mode)
    NAYOSE_SF_USERNAME
    NAYOSE_SF_PASSWORD           secret
    NAYOSE_SF_SECURITY_TOKEN     secret (appended to the password; empty for trusted IP ranges)
    NAYOSE_SF_CONSUMER_KEY       connected app consumer key (jwt, OAuth password grant)
    NAYOSE_SF_CONSUMER_SECRET    secret (OAuth password grant)
    NAYOSE_SF_PRIVATE_KEY        secret: PEM text of the JWT signing key
    NAYOSE_SF_PRIVATE_KEY_FILE   path of the PEM file instead
    NAYOSE_SF_API_VERSION        default 62.0
    NAYOSE_SF_CA_BUNDLE          CA file for TLS verification (default: the system / certifi store)
    NAYOSE_SF_TIMEOUT            seconds per HTTP request (default 60)
    NAYOSE_SF_MAX_RETRIES        retries of a safe request on 429 / 5xx / connection errors (default 4)
    NAYOSE_SF_BACKOFF            backoff factor in seconds (default 0.5: 0.5, 1, 2, 4 ... s)

Secrets are `pydantic.SecretStr`: the settings' repr shows ``**********``; every error raised
from here is a `SalesforceAuthError` / `SalesforceAPIError` (`NayoseError`) whose message has
had every secret value replaced by ``***``.

Retries (`make_session`): a urllib3 `Retry` on the session's HTTPS adapter retries 429 / 500 /
502 / 503 / 504 responses (honouring ``Retry-After``) and read errors only for idempotent methods
(GET, HEAD, PUT, DELETE, OPTIONS); POST and PATCH are never repeated (a retried create makes a
duplicate; a merge is not repeatable). Connection failures before anything was sent are retried
for every method. A connection reset while a GET's body is read is retried by the session too.
"""

from __future__ import annotations

import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping
from urllib.parse import quote, quote_plus, urlsplit
from xml.sax.saxutils import escape as xml_escape

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from nayose.errors import NayoseError

ENV_PREFIX = "NAYOSE_SF_"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = (429, 500, 502, 503, 504)
AuthMode = Literal["auto", "session", "password", "jwt"]
_API_VERSION = re.compile(r"^\d{2,3}\.0$")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_SOAP_NS = {
    "soapenv": "http://schemas.xmlsoap.org/soap/envelope/",
    "p": "urn:partner.soap.sforce.com",
}


class SalesforceAuthError(NayoseError):
    """Login failed (bad credentials, unreachable login URL, bad key); the message has no secret."""


class SalesforceAPIError(NayoseError):
    """A Salesforce API call failed; the message names the call and has no secret."""


# --------------------------------------------------------------------------------------------
# settings


class SalesforceSettings(BaseModel):
    """How to reach and log in to one Salesforce org. Secret fields never appear in repr / str."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: AuthMode = Field(default="auto", description="auto | session | password | jwt")
    login_url: str = Field(default="https://login.salesforce.com", description="Login host (My Domain, test, …)")
    instance_url: str | None = Field(default=None, description="Instance URL, for session-id auth")
    session_id: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key: SecretStr | None = Field(default=None, description="PEM text of the JWT signing key")
    private_key_file: str | None = None
    api_version: str = "62.0"
    ca_bundle: str | None = Field(default=None, description="CA bundle file for TLS verification")
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    backoff_factor: float = Field(default=0.5, ge=0)

    @field_validator("login_url", "instance_url")
    @classmethod
    def _https_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parts = urlsplit(v.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"must be an https:// URL, got {v!r}")
        return f"https://{parts.netloc}"

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str) -> str:
        v = v.strip().lstrip("vV")
        if not _API_VERSION.match(v):
            raise ValueError(f"API version must look like 62.0, got {v!r}")
        return v

    @model_validator(mode="after")
    def _mode_is_configured(self) -> "SalesforceSettings":
        if self.auth != "auto":
            missing = _missing_for(self, self.auth)
            if missing:
                raise ValueError(f"auth {self.auth!r} needs {', '.join(missing)}")
        return self

    def resolved_auth(self) -> Literal["session", "password", "jwt"]:
        """The auth mode in use: the configured one, or the first fully configured in auto mode."""
        if self.auth != "auto":
            return self.auth
        for mode in ("session", "jwt", "password"):
            if not _missing_for(self, mode):
                return mode  # type: ignore[return-value]
        raise SalesforceAuthError(
            "Salesforce credentials are not configured: set NAYOSE_SF_SESSION_ID + NAYOSE_SF_INSTANCE_URL, "
            "or NAYOSE_SF_USERNAME + NAYOSE_SF_PASSWORD (+ NAYOSE_SF_SECURITY_TOKEN), or NAYOSE_SF_USERNAME + "
            "NAYOSE_SF_CONSUMER_KEY + NAYOSE_SF_PRIVATE_KEY(_FILE) for the JWT bearer flow"
        )

    def secrets(self) -> list[str]:
        """Every secret value configured (for scrubbing messages)."""
        out = []
        for name in ("session_id", "password", "security_token", "consumer_secret", "private_key"):
            v = getattr(self, name)
            if v is not None and v.get_secret_value():
                out.append(v.get_secret_value())
        if self.password is not None and self.security_token is not None:
            out.append(self.password.get_secret_value() + self.security_token.get_secret_value())
        return out


def _missing_for(s: SalesforceSettings, mode: str) -> list[str]:
    def has(name: str) -> bool:
        v = getattr(s, name)
        if isinstance(v, SecretStr):
            return bool(v.get_secret_value())
        return bool(v)

    if mode == "session":
        need = ["session_id", "instance_url"]
    elif mode == "password":
        need = ["username", "password"]
    elif mode == "jwt":
        need = ["username", "consumer_key"]
        if not (has("private_key") or has("private_key_file")):
            return [n for n in need if not has(n)] + ["private_key or private_key_file"]
    else:
        return []
    return [n for n in need if not has(n)]


_ENV_FIELDS = {
    "AUTH": "auth",
    "LOGIN_URL": "login_url",
    "INSTANCE_URL": "instance_url",
    "SESSION_ID": "session_id",
    "USERNAME": "username",
    "PASSWORD": "password",
    "SECURITY_TOKEN": "security_token",
    "CONSUMER_KEY": "consumer_key",
    "CONSUMER_SECRET": "consumer_secret",
    "PRIVATE_KEY": "private_key",
    "PRIVATE_KEY_FILE": "private_key_file",
    "API_VERSION": "api_version",
    "CA_BUNDLE": "ca_bundle",
    "TIMEOUT": "timeout",
    "MAX_RETRIES": "max_retries",
    "BACKOFF": "backoff_factor",
}
#: Environment variable name -> settings field.
ENV_VARS = {ENV_PREFIX + k: v for k, v in _ENV_FIELDS.items()}


def settings_from_env(environ: Mapping[str, str] | None = None) -> SalesforceSettings:
    """Settings from the NAYOSE_SF_* variables (empty values count as unset)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var, name in ENV_VARS.items():
        v = env.get(var)
        if v is not None and v.strip() != "":
            values[name] = v if name in ("password", "security_token", "private_key") else v.strip()
    return make_settings(**values)


def make_settings(**values: Any) -> SalesforceSettings:
    """`SalesforceSettings(**values)`, with validation errors as a NayoseError that shows no value."""
    from pydantic import ValidationError

    try:
        return SalesforceSettings(**values)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_input=False, include_url=False):
            loc = ".".join(str(x) for x in e.get("loc", ())) or "settings"
            var = next((k for k, v in ENV_VARS.items() if v == loc), loc)
            problems.append(f"{var}: {e.get('msg')}")
        raise NayoseError("invalid Salesforce settings: " + "; ".join(problems)) from None


# --------------------------------------------------------------------------------------------
# scrubbing


def scrub(text: str, secrets: Iterable[str | SecretStr | None]) -> str:
    """`text` with every secret (and its URL-encoded / XML-escaped forms) replaced by ***."""
    values: set[str] = set()
    for s in secrets:
        if s is None:
            continue
        v = s.get_secret_value() if isinstance(s, SecretStr) else str(s)
        if len(v) < 4:  # too short to scrub without mangling the message; never expected for secrets
            continue
        values.update({v, quote(v, safe=""), quote_plus(v), xml_escape(v)})
        if "\n" in v:  # a PEM key: also every long line of it
            values.update(line for line in v.splitlines() if len(line) >= 16)
    for v in sorted(values, key=len, reverse=True):
        text = text.replace(v, "***")
    return text


# --------------------------------------------------------------------------------------------
# the HTTP session


@dataclass(frozen=True)
class ApiUsage:
    """Daily API requests used / allowed, from the last `Sforce-Limit-Info` header."""

    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return self.limit - self.used


class NayoseSession(requests.Session):
    """A requests session with a default timeout, TLS verification against an optional CA bundle,
    urllib3 retries for safe methods, and API usage tracking (`api_usage`, `api_calls`)."""

    def __init__(self, timeout: float = 60.0, max_retries: int = 4, backoff_factor: float = 0.5) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.api_usage: ApiUsage | None = None
        self.api_calls = 0  # HTTP responses received through this session (all hosts)
        self.server_time: datetime | None = None  # the `Date` of the last response (the server's clock)
        self._lock = threading.Lock()
        self.hooks["response"].append(self._on_response)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.api_calls += 1
            date = response.headers.get("Date")
            if date:
                try:
                    self.server_time = parsedate_to_datetime(date)
                except (TypeError, ValueError):
                    pass
            info = response.headers.get("Sforce-Limit-Info")
            if info:
                m = _LIMIT_INFO.search(info)
                if m:
                    self.api_usage = ApiUsage(int(m.group(1)), int(m.group(2)))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if kwargs.get("verify") is None and isinstance(self.verify, str):
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's CA file unless
            # the request names it: the configured CA bundle must win.
            kwargs["verify"] = self.verify
        verb = (method.decode() if isinstance(method, bytes) else method).upper()
        attempt = 0
        while True:
            try:
                return super().request(method, url, *args, **kwargs)
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
                # The connection broke while the body was read (urllib3 has already returned the
                # response, so its Retry cannot help): repeat only what is safe to repeat.
                if verb not in IDEMPOTENT_METHODS or kwargs.get("stream") or attempt >= self.max_retries:
                    raise
                attempt += 1
                time.sleep(min(self.backoff_factor * (2 ** (attempt - 1)), 30.0))


def make_retry(max_retries: int, backoff_factor: float) -> Retry:
    """urllib3 retry policy: 429 / 5xx and read errors for idempotent methods only, Retry-After honoured."""
    return Retry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        other=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=30.0,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def make_session(settings: Any) -> NayoseSession:
    """A `NayoseSession` for `settings` (anything with ca_bundle, timeout, max_retries, backoff_factor:
    `SalesforceSettings`, `nayose.pardot.PardotSettings`)."""
    session = NayoseSession(
        timeout=float(getattr(settings, "timeout", 60.0)),
        max_retries=int(getattr(settings, "max_retries", 4)),
        backoff_factor=float(getattr(settings, "backoff_factor", 0.5)),
    )
    ca = getattr(settings, "ca_bundle", None)
    if ca:
        if not Path(ca).is_file():
            raise NayoseError(f"{ca}: CA bundle file not found")
        session.verify = str(ca)
    adapter = HTTPAdapter(max_retries=make_retry(session.max_retries, session.backoff_factor))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def api_usage(sf_or_session: Any) -> tuple[int, int] | None:
    """(used, limit) of the org's daily API requests from the last Sforce-Limit-Info header seen by
    the connection's session (REST, Bulk and login calls alike), or None before any."""
    session = getattr(sf_or_session, "session", sf_or_session)
    usage = getattr(session, "api_usage", None)
    if isinstance(usage, ApiUsage):
        return (usage.used, usage.limit)
    sf_usage = getattr(sf_or_session, "api_usage", None)  # simple-salesforce's own (REST calls only)
    if isinstance(sf_usage, Mapping) and "api-usage" in sf_usage:
        u = sf_usage["api-usage"]
        return (int(u.used), int(u.total))
    return None


def server_time(sf_or_session: Any) -> datetime | None:
    """The server's clock (UTC) at the last response the connection's session received (its HTTP
    ``Date`` header, second resolution), or None before any: "now" for the org, whatever the local
    clock says (getDeleted's end date)."""
    session = getattr(sf_or_session, "session", sf_or_session)
    ts = getattr(session, "server_time", None)
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
    return None


# --------------------------------------------------------------------------------------------
# login


@dataclass(frozen=True)
class LoginResult:
    instance_url: str
    session_id: str
    auth: str


def login(settings: SalesforceSettings, session: requests.Session | None = None) -> LoginResult:
    """Log in with the configured auth mode; returns the instance URL and session id."""
    session = session or make_session(settings)
    mode = settings.resolved_auth()
    secrets = settings.secrets()
    try:
        if mode == "session":
            assert settings.session_id is not None and settings.instance_url is not None
            return LoginResult(settings.instance_url, settings.session_id.get_secret_value(), "session")
        if mode == "jwt":
            return _jwt_login(settings, session)
        if settings.consumer_key and settings.consumer_secret is not None:
            return _oauth_password_login(settings, session)
        return _soap_login(settings, session)
    except requests.RequestException as exc:
        raise SalesforceAuthError(
            f"Salesforce login ({mode}) to {settings.login_url} failed: {scrub(_exc_text(exc), secrets)}"
        ) from None


def _exc_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _password_with_token(settings: SalesforceSettings) -> str:
    assert settings.password is not None
    token = settings.security_token.get_secret_value() if settings.security_token is not None else ""
    return settings.password.get_secret_value() + token


def _soap_login(settings: SalesforceSettings, session: requests.Session) -> LoginResult:
    url = f"{settings.login_url}/services/Soap/u/{settings.api_version}"
    body = (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com">'
        "<env:Body><urn:login>"
        f"<urn:username>{xml_escape(settings.username or '')}</urn:username>"
        f"<urn:password>{xml_escape(_password_with_token(settings))}</urn:password>"
        "</urn:login></env:Body></env:Envelope>"
    )
    r = session.post(
        url,
        data=body.encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login", "charset": "UTF-8"},
    )
    secrets = settings.secrets()
    try:
        root = ET.fromstring(r.content)
    except ET.ParseError:
        raise SalesforceAuthError(
            f"Salesforce SOAP login at {url} failed: HTTP {r.status_code}, not a SOAP response"
        ) from None
    fault = root.find(".//soapenv:Fault", _SOAP_NS)
    if fault is not None or r.status_code != 200:
        msg = (fault.findtext("faultstring") if fault is not None else None) or f"HTTP {r.status_code}"
        raise SalesforceAuthError(f"Salesforce SOAP login at {url} failed: {scrub(msg, secrets)}")
    server_url = root.findtext(".//p:result/p:serverUrl", namespaces=_SOAP_NS)
    session_id = root.findtext(".//p:result/p:sessionId", namespaces=_SOAP_NS)
    if not server_url or not session_id:
        raise SalesforceAuthError(f"Salesforce SOAP login at {url} failed: no serverUrl / sessionId in the response")
    return LoginResult(_origin(server_url), session_id, "password")


def _oauth_token(settings: SalesforceSettings, session: requests.Session, data: dict[str, str], what: str) -> LoginResult:
    url = f"{settings.login_url}/services/oauth2/token"
    r = session.post(url, data=data, headers={"Accept": "application/json"})
    secrets = [*settings.secrets(), *data.values()] if what == "JWT bearer" else settings.secrets()
    try:
        payload = r.json()
    except ValueError:
        payload = None
    if r.status_code != 200 or not isinstance(payload, dict) or "access_token" not in payload:
        if isinstance(payload, dict) and ("error" in payload or "error_description" in payload):
            detail = f"{payload.get('error', '')}: {payload.get('error_description', '')}".strip(": ")
        else:
            detail = f"HTTP {r.status_code}"
        raise SalesforceAuthError(f"Salesforce {what} login at {url} failed: {scrub(detail, secrets)}")
    instance = payload.get("instance_url") or settings.instance_url
    if not instance:
        raise SalesforceAuthError(f"Salesforce {what} login at {url} failed: no instance_url in the response")
    return LoginResult(_origin(instance), str(payload["access_token"]), "jwt" if what == "JWT bearer" else "password")


def _oauth_password_login(settings: SalesforceSettings, session: requests.Session) -> LoginResult:
    assert settings.consumer_secret is not None
    data = {
        "grant_type": "password",
        "client_id": settings.consumer_key or "",
        "client_secret": settings.consumer_secret.get_secret_value(),
        "username": settings.username or "",
        "password": _password_with_token(settings),
    }
    return _oauth_token(settings, session, data, "OAuth password")


def jwt_assertion(settings: SalesforceSettings, now: float | None = None) -> str:
    """The signed RS256 JWT bearer assertion (iss = consumer key, sub = username, aud = login URL)."""
    import jwt  # PyJWT

    if settings.private_key is not None and settings.private_key.get_secret_value().strip():
        key = settings.private_key.get_secret_value()
    elif settings.private_key_file:
        try:
            key = Path(settings.private_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise SalesforceAuthError(f"{settings.private_key_file}: cannot read the JWT private key ({exc.strerror})") from None
    else:
        raise SalesforceAuthError("JWT bearer auth needs NAYOSE_SF_PRIVATE_KEY or NAYOSE_SF_PRIVATE_KEY_FILE")
    issued = int(now if now is not None else time.time())
    claims = {"iss": settings.consumer_key, "sub": settings.username, "aud": settings.login_url, "exp": issued + 180}
    try:
        return jwt.encode(claims, key, algorithm="RS256")
    except Exception as exc:  # a malformed key: PyJWT / cryptography raise several types
        raise SalesforceAuthError(
            f"JWT bearer auth: cannot sign the assertion with the private key ({type(exc).__name__})"
        ) from None


def _jwt_login(settings: SalesforceSettings, session: requests.Session) -> LoginResult:
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": jwt_assertion(settings)}
    return _oauth_token(settings, session, data, "JWT bearer")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise SalesforceAuthError(f"the login returned an instance URL that is not https: {parts.scheme}://{parts.netloc}")
    return f"https://{parts.netloc}"


# --------------------------------------------------------------------------------------------
# the client


def connect(settings: SalesforceSettings, session: requests.Session | None = None):
    """Log in and return a `simple_salesforce.Salesforce` using a retrying `NayoseSession`.

    The client carries `nayose_settings` (for error scrubbing) and its session tracks API usage
    (`api_usage(sf)`)."""
    from simple_salesforce import Salesforce

    session = session or make_session(settings)
    result = login(settings, session)
    sf = Salesforce(
        instance_url=result.instance_url,
        session_id=result.session_id,
        session=session,
        version=settings.api_version,
    )
    sf.nayose_settings = settings  # type: ignore[attr-defined]
    sf.nayose_auth = result.auth  # type: ignore[attr-defined]
    return sf


def client_secrets(sf: Any) -> list[str]:
    """Every secret a client holds: its session id and its settings' secrets."""
    out = []
    sid = getattr(sf, "session_id", None)
    if sid:
        out.append(str(sid))
    settings = getattr(sf, "nayose_settings", None)
    if isinstance(settings, SalesforceSettings):
        out.extend(settings.secrets())
    return out


def api_error(sf: Any, what: str, exc: BaseException, extra_secrets: Iterable[str] = ()) -> SalesforceAPIError:
    """A SalesforceAPIError for a failed call, the exception text scrubbed of the client's secrets."""
    text = _describe_exception(exc)
    return SalesforceAPIError(f"Salesforce {what} failed: {scrub(text, [*client_secrets(sf), *extra_secrets])}")


def _describe_exception(exc: BaseException) -> str:
    """One line: the HTTP status, the resource, and per error its code and essential message."""
    from simple_salesforce.exceptions import SalesforceError

    if isinstance(exc, SalesforceError):
        content = exc.content
        if isinstance(content, list) and content and isinstance(content[0], dict):
            parts = [
                f"{c.get('errorCode', '')}: {one_line_message(str(c.get('message', '') or ''))}".strip(": ")
                for c in content[:3]
            ]
            return f"HTTP {exc.status} {exc.resource_name}: " + "; ".join(parts)
        return f"HTTP {exc.status} {exc.resource_name}: {_collapse(str(content))[:500]}"
    return _collapse(_exc_text(exc))[:1000]


_SOQL_ERROR_AT = re.compile(r"^ERROR at Row:\s*(\d+):Column:\s*(\d+)\s*$", re.IGNORECASE)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def one_line_message(message: str, limit: int = 500) -> str:
    """A Salesforce error message on one line. A SOQL error (MALFORMED_QUERY, INVALID_FIELD, ...)
    echoes the query, a caret line and ``ERROR at Row:1:Column:28`` before the explanation: the
    explanation is kept with its position, the echoed query (all the fields asked for) is not."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        m = _SOQL_ERROR_AT.match(ln)
        if m and i + 1 < len(lines):
            text = _collapse(" ".join(lines[i + 1:]))
            out = f"{text} (row {m.group(1)}, column {m.group(2)} of the query)"
            break
    else:
        out = _collapse(message)
    return out if len(out) <= limit else out[: limit - 3] + "..."
