"""Client side of the Salesforce SOAP partner API calls nayose needs: merge(), convertLead(),
undelete() (and login() for the fake org's tests).

simple-salesforce has no merge or convertLead, so `SoapClient(sf)` posts partner-API envelopes to
`https://<instance>/services/Soap/u/<version>` with the client's own session (`sf.session_id`,
`sf.sf_instance`, `sf.sf_version`, `sf.session`). The session id only ever appears inside the
envelope sent on the wire: never in an exception, a result or a log line.

Outcomes are classified so the applier can act safely:

* a parsed response → `CallResult`s (per-request success / errors, like the API's MergeResult,
  LeadConvertResult, UndeleteResult);
* `SoapFault`: the server answered with a SOAP fault it raised before doing anything
  (INVALID_SESSION_ID, INVALID_TYPE, …): known not executed;
* `SoapRateLimited`: HTTP 429 / REQUEST_LIMIT_EXCEEDED: not executed;
* `SoapOutcomeUnknown`: a connection reset, a timeout, a 5xx without a SOAP fault, or a fault of the
  UNKNOWN_EXCEPTION kind: the server may or may not have executed the call; a merge must then be
  checked against the org, never blindly repeated.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterable
from xml.sax.saxutils import escape

import requests

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
FAULT_NS = "urn:fault.partner.soap.sforce.com"
MAX_REQUESTS_PER_CALL = 200  # merge / convertLead / undelete take up to 200 items per call
UNKNOWN_FAULTS = {"UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE"}
LIMIT_FAULTS = {"REQUEST_LIMIT_EXCEEDED"}


class SoapError(Exception):
    """Base class of SOAP call failures. Messages never contain the session id."""


class SoapFault(SoapError):
    """The server refused the call with a SOAP fault (known not executed)."""

    def __init__(self, code: str, message: str, http_status: int = 500):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


class SoapRateLimited(SoapError):
    """HTTP 429 or REQUEST_LIMIT_EXCEEDED: the call was not executed."""

    def __init__(self, message: str, http_status: int = 429, daily_limit: bool = False):
        super().__init__(message)
        self.http_status = http_status
        self.daily_limit = daily_limit


class SoapOutcomeUnknown(SoapError):
    """The call may or may not have been executed (reset, timeout, 5xx without a fault)."""


@dataclass
class CallError:
    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


@dataclass
class CallResult:
    """One item of a merge / convertLead / undelete response."""

    success: bool
    id: str | None = None
    errors: list[CallError] = field(default_factory=list)
    merged_record_ids: list[str] = field(default_factory=list)
    updated_related_ids: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # other result elements (leadId, contactId, …)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"success": self.success, "id": self.id}
        if self.errors:
            d["errors"] = [e.to_dict() for e in self.errors]
        if self.merged_record_ids:
            d["mergedRecordIds"] = self.merged_record_ids
        if self.updated_related_ids:
            d["updatedRelatedIds"] = self.updated_related_ids
        d.update({k: v for k, v in self.values.items() if k not in d})
        return d


@dataclass
class MergeRequest:
    sobject: str
    master_id: str
    loser_ids: list[str]
    fields: dict[str, Any] = field(default_factory=dict)  # values to set on the master
    fields_to_null: list[str] = field(default_factory=list)


@dataclass
class LeadConvert:
    lead_id: str
    contact_id: str | None = None
    account_id: str | None = None
    converted_status: str = "Closed - Converted"
    do_not_create_opportunity: bool = True
    overwrite_lead_source: bool = False
    send_notification_email: bool = False


# ------------------------------------------------------------------------------------------------
# Envelopes


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def envelope(body: str, session_id: str | None = None) -> bytes:
    header = ""
    if session_id is not None:
        header = f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{escape(session_id)}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:urn="{PARTNER}" xmlns:urn1="{SOBJECT}" xmlns:xsi="{XSI}">'
        f"{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode("utf-8")


_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _sobject_xml(tag: str, sobject: str, record_id: str, fields: dict[str, Any], fields_to_null: Iterable[str]) -> str:
    parts = [f"<urn:{tag}>", f"<urn1:type>{escape(sobject)}</urn1:type>"]
    for f in fields_to_null:
        parts.append(f"<urn1:fieldsToNull>{escape(f)}</urn1:fieldsToNull>")
    parts.append(f"<urn1:Id>{escape(record_id)}</urn1:Id>")
    for name, value in fields.items():
        if not _FIELD_NAME.match(name):
            raise ValueError(f"not an API field name: {name!r}")
        parts.append(f"<urn1:{name}>{_text(value)}</urn1:{name}>")
    parts.append(f"</urn:{tag}>")
    return "".join(parts)


def merge_body(requests_: list[MergeRequest]) -> str:
    out = ["<urn:merge>"]
    for r in requests_:
        out.append("<urn:request>")
        out.append(_sobject_xml("masterRecord", r.sobject, r.master_id, r.fields, r.fields_to_null))
        out.extend(f"<urn:recordToMergeIds>{escape(i)}</urn:recordToMergeIds>" for i in r.loser_ids)
        out.append("</urn:request>")
    out.append("</urn:merge>")
    return "".join(out)


def convert_lead_body(converts: list[LeadConvert]) -> str:
    out = ["<urn:convertLead>"]
    for c in converts:
        out.append("<urn:leadConverts>")
        if c.account_id:
            out.append(f"<urn:accountId>{escape(c.account_id)}</urn:accountId>")
        if c.contact_id:
            out.append(f"<urn:contactId>{escape(c.contact_id)}</urn:contactId>")
        out.append(f"<urn:convertedStatus>{escape(c.converted_status)}</urn:convertedStatus>")
        out.append(f"<urn:doNotCreateOpportunity>{_text(c.do_not_create_opportunity)}</urn:doNotCreateOpportunity>")
        out.append(f"<urn:leadId>{escape(c.lead_id)}</urn:leadId>")
        out.append(f"<urn:overwriteLeadSource>{_text(c.overwrite_lead_source)}</urn:overwriteLeadSource>")
        out.append(f"<urn:sendNotificationEmail>{_text(c.send_notification_email)}</urn:sendNotificationEmail>")
        out.append("</urn:leadConverts>")
    out.append("</urn:convertLead>")
    return "".join(out)


def undelete_body(ids: list[str]) -> str:
    return "<urn:undelete>" + "".join(f"<urn:ids>{escape(i)}</urn:ids>" for i in ids) + "</urn:undelete>"


def login_body(username: str, password: str) -> str:
    return f"<urn:login><urn:username>{escape(username)}</urn:username><urn:password>{escape(password)}</urn:password></urn:login>"


# ------------------------------------------------------------------------------------------------
# Parsing


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_nil(el: ET.Element) -> bool:
    return el.get(f"{{{XSI}}}nil") in ("true", "1")


def _value(el: ET.Element) -> str | None:
    return None if _is_nil(el) else (el.text or "")


def _parse_errors(el: ET.Element) -> CallError:
    code, message, fields = "", "", []
    for ch in el:
        n = local(ch.tag)
        if n == "statusCode":
            code = ch.text or ""
        elif n == "message":
            message = ch.text or ""
        elif n == "fields" and ch.text:
            fields.append(ch.text)
    return CallError(code, message, fields)


def _parse_result(el: ET.Element) -> CallResult:
    r = CallResult(success=False)
    for ch in el:
        n = local(ch.tag)
        if n == "success":
            r.success = (ch.text or "").strip() == "true"
        elif n == "id":
            r.id = _value(ch)
        elif n == "errors":
            r.errors.append(_parse_errors(ch))
        elif n == "mergedRecordIds" and ch.text:
            r.merged_record_ids.append(ch.text)
        elif n == "updatedRelatedIds" and ch.text:
            r.updated_related_ids.append(ch.text)
        elif len(ch) == 0:
            r.values[n] = _value(ch)
    if r.id is None:
        r.id = r.values.get("leadId") or r.values.get("contactId")
    return r


def parse_fault(root: ET.Element) -> tuple[str, str] | None:
    """(code, message) of a SOAP fault envelope, or None."""
    for el in root.iter():
        if local(el.tag) == "Fault":
            code = message = ""
            for ch in el:
                if local(ch.tag) == "faultcode":
                    code = (ch.text or "").split(":")[-1]
                elif local(ch.tag) == "faultstring":
                    message = ch.text or ""
            return code, message
    return None


def parse_limit_info(root: ET.Element) -> tuple[int, int] | None:
    """(used, limit) of API REQUESTS from a LimitInfoHeader, if present."""
    for el in root.iter():
        if local(el.tag) == "limitInfo":
            vals = {local(c.tag): (c.text or "") for c in el}
            if vals.get("type", "API REQUESTS") == "API REQUESTS" and vals.get("current", "").isdigit():
                return int(vals["current"]), int(vals.get("limit") or 0)
    return None


_LIMIT_HEADER = re.compile(r"api-usage=(\d+)/(\d+)")


def parse_limit_header(value: str | None) -> tuple[int, int] | None:
    m = _LIMIT_HEADER.search(value or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_response(body: bytes, call: str) -> list[CallResult]:
    """The results of a `<call>Response`; raises SoapFault / SoapRateLimited / SoapOutcomeUnknown."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise SoapOutcomeUnknown(f"{call}: unreadable SOAP response") from None
    fault = parse_fault(root)
    if fault is not None:
        code, message = fault
        if code in LIMIT_FAULTS:
            raise SoapRateLimited(f"{code}: {message}", daily_limit=True)
        if code in UNKNOWN_FAULTS:
            raise SoapOutcomeUnknown(f"{call}: {code}: {message}")
        raise SoapFault(code, message)
    for el in root.iter():
        if local(el.tag) == f"{call}Response":
            return [_parse_result(r) for r in el if local(r.tag) == "result"]
    raise SoapOutcomeUnknown(f"{call}: no {call}Response in the SOAP response")


# ------------------------------------------------------------------------------------------------
# The client


class SoapClient:
    """Posts partner-API calls with a simple-salesforce client's session.

    `on_limit(used, limit)` is called with the API usage a response reports (HTTP header
    Sforce-Limit-Info or the LimitInfoHeader); `calls` counts requests sent."""

    def __init__(self, sf: Any, timeout: float = 120.0, on_limit=None):
        self._sf = sf
        self.timeout = timeout
        self.on_limit = on_limit
        self.calls = 0

    @property
    def url(self) -> str:
        return f"https://{self._sf.sf_instance}/services/Soap/u/{self._sf.sf_version}"

    def _post(self, call: str, body: str) -> list[CallResult]:
        data = envelope(body, self._sf.session_id)
        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
        self.calls += 1
        try:
            resp = self._sf.session.post(self.url, data=data, headers=headers, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SoapOutcomeUnknown(f"{call}: no response ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise SoapOutcomeUnknown(f"{call}: request failed ({type(exc).__name__})") from None
        try:
            content = resp.content
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise SoapOutcomeUnknown(f"{call}: response cut off ({type(exc).__name__})") from None
        usage = parse_limit_header(resp.headers.get("Sforce-Limit-Info"))
        if usage is None and content:
            try:
                usage = parse_limit_info(ET.fromstring(content))
            except ET.ParseError:
                usage = None
        if usage is not None and self.on_limit is not None:
            self.on_limit(*usage)
        if resp.status_code == 429:
            raise SoapRateLimited(f"{call}: HTTP 429 (rate limited)")
        if resp.status_code >= 500:
            try:
                root = ET.fromstring(content)
            except ET.ParseError:
                raise SoapOutcomeUnknown(f"{call}: HTTP {resp.status_code} without a SOAP fault") from None
            if parse_fault(root) is None:
                raise SoapOutcomeUnknown(f"{call}: HTTP {resp.status_code} without a SOAP fault")
            return parse_response(content, call)  # raises the fault
        if resp.status_code >= 300:
            raise SoapOutcomeUnknown(f"{call}: unexpected HTTP {resp.status_code}")
        return parse_response(content, call)

    def merge(self, requests_: list[MergeRequest]) -> list[CallResult]:
        if not 1 <= len(requests_) <= MAX_REQUESTS_PER_CALL:
            raise ValueError("merge takes 1 to 200 requests")
        for r in requests_:
            if not 1 <= len(r.loser_ids) <= 2:
                raise ValueError("a merge request takes a master and 1 or 2 other records")
        return self._post("merge", merge_body(requests_))

    def convert_lead(self, converts: list[LeadConvert]) -> list[CallResult]:
        if not 1 <= len(converts) <= MAX_REQUESTS_PER_CALL:
            raise ValueError("convertLead takes 1 to 200 items")
        return self._post("convertLead", convert_lead_body(converts))

    def undelete(self, ids: list[str]) -> list[CallResult]:
        if not 1 <= len(ids) <= MAX_REQUESTS_PER_CALL:
            raise ValueError("undelete takes 1 to 200 ids")
        return self._post("undelete", undelete_body(ids))
