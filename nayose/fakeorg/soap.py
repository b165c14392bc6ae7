"""The fake org's SOAP partner API: login, merge, convertLead, undelete, retrieve.

`handle(org, body) -> (http_status, response_bytes)` is called by the HTTP front
(`nayose.fakeorg.server`) for `POST /services/Soap/u/<version>` (and `/c/`). `org` needs `store`
(an `OrgStore`), `access_token`, `username`, `password`, `security_token`, `instance_url` and
optionally `api_version`. Semantics follow Salesforce's documentation:

* `login(username, password + security_token)` → sessionId (the org's access token), serverUrl.
  Every other call must carry that sessionId in its SessionHeader (else fault INVALID_SESSION_ID).
* `merge(MergeRequest[])`, up to 200 requests, each its own transaction: a master and 1 or 2
  records of the same object (Lead, Contact, Account); the master record's fields in the request
  (and `fieldsToNull`) are written on the master; the losers' children are re-parented to the
  master (`store.reparent`) and the losers deleted with `MasterRecordId = master`. Result per
  request: id, success, mergedRecordIds, updatedRelatedIds, errors.
* `convertLead(LeadConvert[])` into an existing Contact (and its Account), or with an accountId
  and no contactId into an existing Person Account (its Person* fields filled) or, for a business
  Account, into a new Contact under it made from the Lead: only an existing Contact's
  empty fields are filled from the Lead's mapped fields (LeadSource too only when empty, unless
  overwriteLeadSource); the Lead becomes IsConverted with ConvertedContactId / ConvertedAccountId /
  ConvertedDate / Status; its Tasks move to the Contact and its CampaignMembers get the ContactId.
  As the real API asks: a Contact is named with its Account (`accountId` required with
  `contactId`), and must belong to it (a Contact without an Account cannot take a Lead).
* `undelete(ids[])`: back from the Recycle Bin; ids purged from the bin fail with
  ENTITY_IS_DELETED (undeleting a merge loser does not move its children back).
* `retrieve(fieldList, sObjectType, ids[])`: live records or nil.

Partial failures: when `org.faults` has a ``partial`` rule for the operation
(``faults.partial(method="SOAP", path="merge", indices=…)``), the items at those positions fail
with the rule's error code and are not executed; the others are.

Every call is appended to `soap_log(org)` (call name, per-item ids and success), and, when the org
has a `soap_log_path` attribute, as a JSON line to that file: the tests count merges per step.
"""

from __future__ import annotations

import json
import threading
import weakref
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from nayose.fakeorg.store import MERGEABLE, READ_ONLY_FIELDS, OrgError, OrgStore

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
FAULT_NS = "urn:fault.partner.soap.sforce.com"
MAX_ITEMS = 200

# Lead field → Contact field filled by convertLead (standard mapping); custom fields (__c) map by name.
LEAD_TO_CONTACT = {
    "FirstName": "FirstName", "LastName": "LastName", "Salutation": "Salutation", "Title": "Title",
    "Email": "Email", "Phone": "Phone", "MobilePhone": "MobilePhone", "Fax": "Fax",
    "Description": "Description", "HasOptedOutOfEmail": "HasOptedOutOfEmail", "DoNotCall": "DoNotCall",
    "Department": "Department", "Street": "MailingStreet", "City": "MailingCity", "State": "MailingState",
    "PostalCode": "MailingPostalCode", "Country": "MailingCountry",
}
# Lead field → Person Account field filled by convertLead into a Person Account.
LEAD_TO_PERSON_ACCOUNT = {
    "FirstName": "FirstName", "LastName": "LastName", "Salutation": "Salutation", "Title": "PersonTitle",
    "Email": "PersonEmail", "Phone": "Phone", "MobilePhone": "PersonMobilePhone", "Fax": "Fax",
    "Description": "Description", "HasOptedOutOfEmail": "PersonHasOptedOutOfEmail", "DoNotCall": "PersonDoNotCall",
    "Street": "PersonMailingStreet", "City": "PersonMailingCity", "State": "PersonMailingState",
    "PostalCode": "PersonMailingPostalCode", "Country": "PersonMailingCountry",
}

_logs: "weakref.WeakKeyDictionary[Any, list[dict]]" = weakref.WeakKeyDictionary()
_logs_lock = threading.Lock()


def soap_log(org: Any) -> list[dict]:
    """The SOAP calls this org has handled (the same list object on every call)."""
    with _logs_lock:
        if org not in _logs:
            _logs[org] = []
        return _logs[org]


def _record_call(org: Any, entry: dict) -> None:
    soap_log(org).append(entry)
    path = getattr(org, "soap_log_path", None)
    if path:
        with _logs_lock, open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


class _Fault(Exception):
    def __init__(self, code: str, message: str, status: int = 500, prefix: str = "sf"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.prefix = prefix


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _child_text(el: ET.Element, name: str) -> str | None:
    for c in el:
        if _local(c.tag) == name:
            if c.get(f"{{{XSI}}}nil") in ("true", "1"):
                return None
            return (c.text or "").strip()
    return None


def _bool(text: str | None, default: bool = False) -> bool:
    if text is None or text == "":
        return default
    return text.strip().lower() in ("true", "1")


def _t(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


# ------------------------------------------------------------------------------------------------
# Responses


def _envelope(body: str, store: OrgStore | None) -> bytes:
    header = ""
    if store is not None:
        header = (
            "<soapenv:Header><LimitInfoHeader><limitInfo>"
            f"<current>{store.api_used}</current><limit>{store.api_daily_limit}</limit><type>API REQUESTS</type>"
            "</limitInfo></LimitInfoHeader></soapenv:Header>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns="{PARTNER}" xmlns:sf="{SOBJECT}" xmlns:xsi="{XSI}">'
        f"{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode("utf-8")


def _fault(f: _Fault) -> tuple[int, bytes]:
    code = f"{f.prefix}:{f.code}" if f.prefix else f.code
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:sf="{FAULT_NS}" xmlns:xsi="{XSI}"><soapenv:Body>'
        f"<soapenv:Fault><faultcode>{escape(code)}</faultcode><faultstring>{escape(f.code)}: {escape(f.message)}</faultstring>"
        '<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault">'
        f"<sf:exceptionCode>{escape(f.code)}</sf:exceptionCode><sf:exceptionMessage>{escape(f.message)}</sf:exceptionMessage>"
        "</sf:UnexpectedErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return f.status, body.encode("utf-8")


def _partial(org: Any, op: str):
    """A partial-failure fault rule for this operation (`org.faults`), if one fires now."""
    faults = getattr(org, "faults", None)
    return faults.partial_failure(op) if faults is not None else None


def _errors_xml(err: OrgError) -> str:
    fields = "".join(f"<fields>{escape(x)}</fields>" for x in err.fields)
    return f"<errors>{fields}<message>{escape(err.message)}</message><statusCode>{escape(err.code)}</statusCode></errors>"


# ------------------------------------------------------------------------------------------------
# Calls


def _login(org: Any, call: ET.Element) -> str:
    username = _child_text(call, "username") or ""
    password = _child_text(call, "password") or ""
    expected = f"{org.password}{getattr(org, 'security_token', '') or ''}"
    if username != org.username or password != expected:
        raise _Fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
    version = getattr(org, "api_version", "62.0")
    store: OrgStore = org.store
    server_url = f"{org.instance_url}/services/Soap/u/{version}/{store.org_id}"
    return (
        "<loginResponse><result>"
        f"<metadataServerUrl>{escape(org.instance_url)}/services/Soap/m/{version}/{store.org_id}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{escape(server_url)}</serverUrl><sessionId>{escape(org.access_token)}</sessionId>"
        "<userId>0055F000000AbCdQAK</userId><userInfo>"
        f"<organizationId>{escape(store.org_id)}</organizationId><userName>{escape(org.username)}</userName>"
        "<userTimeZone>Asia/Tokyo</userTimeZone></userInfo>"
        "</result></loginResponse>"
    )


def _coerce(current: Any, text: str) -> Any:
    """A SOAP text value in the type the store already holds for the field."""
    if isinstance(current, bool):
        return text.strip().lower() in ("true", "1")
    if isinstance(current, int) and not isinstance(current, bool):
        try:
            return int(text)
        except ValueError:
            return text
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _sobject_fields(el: ET.Element) -> tuple[str | None, str | None, dict[str, str], list[str]]:
    sobject = record_id = None
    values: dict[str, str] = {}
    to_null: list[str] = []
    for c in el:
        n = _local(c.tag)
        if n == "type":
            sobject = (c.text or "").strip()
        elif n == "Id":
            record_id = (c.text or "").strip()
        elif n == "fieldsToNull":
            if c.text and c.text.strip():
                to_null.append(c.text.strip())
        elif c.get(f"{{{XSI}}}nil") in ("true", "1"):
            to_null.append(n)
        else:
            values[n] = c.text or ""
    return sobject, record_id, values, to_null


def _merge_one(store: OrgStore, req: ET.Element) -> tuple[str, dict]:
    masters = _children(req, "masterRecord")
    losers = [(c.text or "").strip() for c in _children(req, "recordToMergeIds")]
    if not masters:
        raise OrgError("REQUIRED_FIELD_MISSING", "masterRecord is required", ["masterRecord"])
    sobject, master_id, values, to_null = _sobject_fields(masters[0])
    item = {"master_id": master_id, "loser_ids": losers}
    if sobject not in MERGEABLE:
        raise OrgError("INVALID_TYPE", f"merge is not supported for {sobject}")
    if not master_id:
        raise OrgError("REQUIRED_FIELD_MISSING", "masterRecord.Id is required", ["Id"])
    if not 1 <= len(losers) <= 2:
        raise OrgError("LIMIT_EXCEEDED", "a merge request takes a master and 1 or 2 other records")
    if master_id in losers or len(set(losers)) != len(losers):
        raise OrgError("INVALID_ID_FIELD", "duplicate ids in the merge request")
    bad = [f for f in (*values, *to_null) if f in READ_ONLY_FIELDS or "." in f]
    if bad:
        raise OrgError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {', '.join(bad)}", bad)
    with store.lock:
        for rid in (master_id, *losers):
            if store.object_of(rid) != sobject:
                raise OrgError("INVALID_ID_FIELD", f"{rid} is not a {sobject} id")
            rec = store.get(rid, sobject)  # NOT_FOUND / ENTITY_IS_DELETED
            if sobject == "Lead" and rec.get("IsConverted"):
                raise OrgError("CANNOT_UPDATE_CONVERTED_LEAD", f"cannot merge converted lead: {rid}")
        master = store.objects[sobject][master_id]
        changes: dict[str, Any] = {f: _coerce(master.get(f), v) for f, v in values.items()}
        changes.update({f: None for f in to_null})
        moved: list[str] = []
        for loser in losers:
            moved.extend(rid for _, rid, _ in store.reparent(loser, master_id))
            store.delete(loser, sobject, master_id=master_id)
        store.update(master_id, changes, sobject)
    item["updated_related_ids"] = moved
    return (
        "<result>"
        f"<id>{escape(master_id)}</id>"
        + "".join(f"<mergedRecordIds>{escape(i)}</mergedRecordIds>" for i in losers)
        + "<success>true</success>"
        + "".join(f"<updatedRelatedIds>{escape(i)}</updatedRelatedIds>" for i in moved)
        + "</result>"
    ), item


def _merge(org: Any, call: ET.Element) -> tuple[str, list[dict]]:
    reqs = _children(call, "request")
    if not reqs or len(reqs) > MAX_ITEMS:
        raise _Fault("INVALID_OPERATION", f"merge takes 1 to {MAX_ITEMS} requests")
    out, items = [], []
    rule = _partial(org, "merge")
    for i, req in enumerate(reqs):
        try:
            if rule is not None and rule.fails(i):
                raise OrgError(rule.error_code, rule.message)
            xml, item = _merge_one(org.store, req)
            item["success"] = True
        except OrgError as err:
            ids = [(c.text or "").strip() for c in _children(req, "recordToMergeIds")]
            m = _children(req, "masterRecord")
            master_id = _child_text(m[0], "Id") if m else None
            xml = f"<result>{_errors_xml(err)}<id xsi:nil=\"true\"/><success>false</success></result>"
            item = {"master_id": master_id, "loser_ids": ids, "success": False, "error": err.code}
        out.append(xml)
        items.append(item)
    return "<mergeResponse>" + "".join(out) + "</mergeResponse>", items


def _convert_one(store: OrgStore, lc: ET.Element) -> tuple[str, dict]:
    lead_id = _child_text(lc, "leadId") or ""
    contact_id = _child_text(lc, "contactId") or None
    account_id = _child_text(lc, "accountId") or None
    status = _child_text(lc, "convertedStatus")
    overwrite_source = _bool(_child_text(lc, "overwriteLeadSource"))
    item = {"lead_id": lead_id, "contact_id": contact_id, "account_id": account_id}
    if not lead_id:
        raise OrgError("REQUIRED_FIELD_MISSING", "leadId is required", ["leadId"])
    if not status:
        raise OrgError("REQUIRED_FIELD_MISSING", "convertedStatus is required", ["convertedStatus"])
    if not contact_id and not account_id:
        raise OrgError("REQUIRED_FIELD_MISSING", "the fake org converts into an existing Contact or Account only",
                       ["contactId"])
    if not contact_id:
        return _convert_into_person_account(store, lead_id, account_id, status, overwrite_source, item)
    with store.lock:
        lead = _lead_to_convert(store, lead_id)
        if store.object_of(contact_id) != "Contact":
            raise OrgError("INVALID_ID_FIELD", f"{contact_id} is not a Contact id", ["contactId"])
        contact = store.get(contact_id, "Contact")
        if not account_id:  # (as the real API: a Contact to convert into is named with its Account)
            raise OrgError("REQUIRED_FIELD_MISSING", "accountId is required when contactId is given", ["accountId"])
        if store.object_of(account_id) != "Account":
            raise OrgError("INVALID_ID_FIELD", f"{account_id} is not an Account id", ["accountId"])
        store.get(account_id, "Account")
        if contact.get("AccountId") != account_id:
            raise OrgError("INVALID_CROSS_REFERENCE_KEY",
                           f"contact {contact_id} is not associated with account {account_id}", ["contactId"])
        fill = _fill_from_lead(lead, contact, LEAD_TO_CONTACT, "LeadSource", overwrite_source)
        moved = _move_tasks(store, lead_id, contact_id) + _move_campaign_members(store, lead_id, contact_id)
        if fill:
            store.update(contact_id, fill, "Contact")
        _mark_converted(store, lead_id, contact_id, account_id, status)
    item.update({"account_id": account_id, "filled": sorted(fill), "moved": moved})
    return (
        f"<result><accountId>{escape(account_id)}</accountId>"
        f"<contactId>{escape(contact_id)}</contactId><leadId>{escape(lead_id)}</leadId>"
        '<opportunityId xsi:nil="true"/><success>true</success>'
        "</result>"
    ), item


def _lead_to_convert(store: OrgStore, lead_id: str) -> dict:
    """The Lead named by a LeadConvert (a copy), or the API's error: not a Lead, or converted."""
    if store.object_of(lead_id) != "Lead":
        raise OrgError("INVALID_ID_FIELD", f"{lead_id} is not a Lead id", ["leadId"])
    lead = store.get(lead_id, "Lead")
    if lead.get("IsConverted"):
        raise OrgError("CANNOT_UPDATE_CONVERTED_LEAD", f"lead already converted: {lead_id}", ["leadId"])
    return lead


def _fill_from_lead(lead: dict, target: dict, mapping: dict[str, str], source_field: str,
                    overwrite_source: bool) -> dict[str, Any]:
    """What convertLead writes on the record a Lead is converted into: only its empty fields, from the
    Lead's mapped fields (custom fields by name); the LeadSource only when empty, unless overwriteLeadSource."""
    fill: dict[str, Any] = {}
    for lf, tf in {**mapping, **{f: f for f in lead if f.endswith("__c")}}.items():
        v = lead.get(lf)
        if v not in (None, "") and target.get(tf) in (None, ""):
            fill[tf] = v
    src = lead.get("LeadSource")
    if src not in (None, "") and (overwrite_source or target.get(source_field) in (None, "")):
        fill[source_field] = src
    return fill


def _move_tasks(store: OrgStore, lead_id: str, who_id: str | None) -> list[str]:
    """The converted Lead's Tasks now name `who_id` (the Contact, or the Person Account's contact)."""
    moved: list[str] = []
    for rid, rec in sorted(store.objects["Task"].items()):
        if who_id and not rec["IsDeleted"] and rec.get("WhoId") == lead_id:
            rec["WhoId"] = who_id
            rec["SystemModstamp"] = store.now()
            moved.append(rid)
    return moved


def _move_campaign_members(store: OrgStore, lead_id: str, contact_id: str) -> list[str]:
    """The converted Lead's campaign memberships now name the Contact too (ContactId)."""
    moved: list[str] = []
    for rid, rec in sorted(store.objects["CampaignMember"].items()):
        if not rec["IsDeleted"] and rec.get("LeadId") == lead_id and not rec.get("ContactId"):
            rec["ContactId"] = contact_id
            rec["SystemModstamp"] = store.now()
            moved.append(rid)
    return moved


def _mark_converted(store: OrgStore, lead_id: str, contact_id: str | None, account_id: str, status: str) -> None:
    t = store.now()
    store.objects["Lead"][lead_id].update({
        "IsConverted": True, "ConvertedContactId": contact_id, "ConvertedAccountId": account_id,
        "ConvertedDate": t[:10], "Status": status, "LastModifiedDate": t, "SystemModstamp": t,
    })


def _convert_into_new_contact(store: OrgStore, lead: dict, account_id: str, status: str, item: dict) -> tuple[str, dict]:
    """convertLead with a business Account and no contactId: a new Contact under the Account, made
    from the Lead (its mapped fields, custom fields by name, its owner and LeadSource); the Lead's
    Tasks and campaign memberships move to it. The Account itself is not changed. (Called with
    the store's lock held.)"""
    lead_id = lead["Id"]
    fields = {tf: lead[lf] for lf, tf in {**LEAD_TO_CONTACT, **{f: f for f in lead if f.endswith("__c")}}.items()
              if lead.get(lf) not in (None, "")}
    fields.update({"AccountId": account_id, "OwnerId": lead.get("OwnerId"), "LeadSource": lead.get("LeadSource")})
    contact_id = store.insert("Contact", {k: v for k, v in fields.items() if v not in (None, "")})
    moved = _move_tasks(store, lead_id, contact_id) + _move_campaign_members(store, lead_id, contact_id)
    _mark_converted(store, lead_id, contact_id, account_id, status)
    item.update({"contact_id": contact_id, "created": True, "moved": moved})
    return (
        f"<result><accountId>{escape(account_id)}</accountId><contactId>{escape(contact_id)}</contactId>"
        f"<leadId>{escape(lead_id)}</leadId><opportunityId xsi:nil=\"true\"/><success>true</success></result>"
    ), item


def _convert_into_person_account(store: OrgStore, lead_id: str, account_id: str, status: str, overwrite_source: bool,
                                 item: dict) -> tuple[str, dict]:
    """convertLead with an accountId and no contactId: into that Person Account (a business Account
    gets a new Contact: _convert_into_new_contact). Only the Person
    Account's empty fields are filled; the Lead's Tasks move to its PersonContactId."""
    with store.lock:
        lead = _lead_to_convert(store, lead_id)
        if store.object_of(account_id) != "Account":
            raise OrgError("INVALID_ID_FIELD", f"{account_id} is not an Account id", ["accountId"])
        account = store.get(account_id, "Account")
        if not account.get("IsPersonAccount"):
            return _convert_into_new_contact(store, lead, account_id, status, item)
        fill = _fill_from_lead(lead, account, LEAD_TO_PERSON_ACCOUNT, "PersonLeadSource", overwrite_source)
        person = account.get("PersonContactId")
        moved = _move_tasks(store, lead_id, person)
        if fill:
            store.update(account_id, fill, "Account")
        _mark_converted(store, lead_id, person, account_id, status)
    item.update({"contact_id": person, "filled": sorted(fill), "moved": moved})
    return (
        "<result>"
        f"<accountId>{escape(account_id)}</accountId>"
        + (f"<contactId>{escape(person)}</contactId>" if person else '<contactId xsi:nil="true"/>')
        + f"<leadId>{escape(lead_id)}</leadId><opportunityId xsi:nil=\"true\"/>"
        + f"<relatedPersonAccountId>{escape(account_id)}</relatedPersonAccountId><success>true</success>"
        "</result>"
    ), item


def _convert(org: Any, call: ET.Element) -> tuple[str, list[dict]]:
    lcs = _children(call, "leadConverts")
    if not lcs or len(lcs) > MAX_ITEMS:
        raise _Fault("INVALID_OPERATION", f"convertLead takes 1 to {MAX_ITEMS} items")
    out, items = [], []
    rule = _partial(org, "convertLead")
    for i, lc in enumerate(lcs):
        try:
            if rule is not None and rule.fails(i):
                raise OrgError(rule.error_code, rule.message)
            xml, item = _convert_one(org.store, lc)
            item["success"] = True
        except OrgError as err:
            lead_id = _child_text(lc, "leadId")
            xml = (f"<result><accountId xsi:nil=\"true\"/><contactId xsi:nil=\"true\"/>{_errors_xml(err)}"
                   f"<leadId>{escape(lead_id or '')}</leadId><opportunityId xsi:nil=\"true\"/><success>false</success></result>")
            item = {"lead_id": lead_id, "success": False, "error": err.code}
        out.append(xml)
        items.append(item)
    return "<convertLeadResponse>" + "".join(out) + "</convertLeadResponse>", items


def _undelete(org: Any, call: ET.Element) -> tuple[str, list[dict]]:
    ids = [(c.text or "").strip() for c in _children(call, "ids")]
    if not ids or len(ids) > MAX_ITEMS:
        raise _Fault("INVALID_OPERATION", f"undelete takes 1 to {MAX_ITEMS} ids")
    out, items = [], []
    rule = _partial(org, "undelete")
    for i, rid in enumerate(ids):
        try:
            if rule is not None and rule.fails(i):
                raise OrgError(rule.error_code, rule.message)
            org.store.undelete(rid)
            out.append(f"<result><id>{escape(rid)}</id><success>true</success></result>")
            items.append({"id": rid, "success": True})
        except OrgError as err:
            out.append(f"<result>{_errors_xml(err)}<id>{escape(rid)}</id><success>false</success></result>")
            items.append({"id": rid, "success": False, "error": err.code})
    return "<undeleteResponse>" + "".join(out) + "</undeleteResponse>", items


def _retrieve(org: Any, call: ET.Element) -> tuple[str, list[dict]]:
    fields = [f.strip() for f in (_child_text(call, "fieldList") or "").split(",") if f.strip()]
    sobject = _child_text(call, "sObjectType") or ""
    ids = [(c.text or "").strip() for c in _children(call, "ids")]
    if sobject not in org.store.objects:
        raise _Fault("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    out = []
    for rid in ids:
        try:
            rec = org.store.get(rid, sobject)
        except OrgError:
            out.append('<result xsi:nil="true"/>')
            continue
        parts = [f'<result xsi:type="sf:sObject"><sf:type>{escape(sobject)}</sf:type><sf:Id>{escape(rid)}</sf:Id>']
        for f in fields:
            if f == "Id":
                continue
            v = rec.get(f)
            parts.append(f'<sf:{f} xsi:nil="true"/>' if v is None else f"<sf:{f}>{_t(v)}</sf:{f}>")
        parts.append("</result>")
        out.append("".join(parts))
    return "<retrieveResponse>" + "".join(out) + "</retrieveResponse>", [{"ids": ids}]


CALLS = {"merge": _merge, "convertLead": _convert, "undelete": _undelete, "retrieve": _retrieve}


def handle(org: Any, body: bytes) -> tuple[int, bytes]:
    """Serve one SOAP request: (HTTP status, response envelope)."""
    try:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise _Fault("Client", f"unreadable SOAP envelope ({exc})", prefix="soapenv") from None
        envelope_body = next((c for c in root if _local(c.tag) == "Body"), None)
        call = next(iter(envelope_body), None) if envelope_body is not None else None
        if call is None:
            raise _Fault("Client", "no SOAP Body", prefix="soapenv")
        name = _local(call.tag)
        if name == "login":
            return 200, _envelope(_login(org, call), None)
        header = next((c for c in root if _local(c.tag) == "Header"), None)
        session = None
        if header is not None:
            for sh in header:
                if _local(sh.tag) == "SessionHeader":
                    session = _child_text(sh, "sessionId")
        valid = getattr(org, "is_valid_session", None)
        if not session or not (valid(session) if valid is not None else session == org.access_token):
            raise _Fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
        handler = CALLS.get(name)
        if handler is None:
            raise _Fault("INVALID_OPERATION", f"No operation available for request {name}", prefix="sf")
        xml, items = handler(org, call)
        _record_call(org, {"call": name, "items": items})
        return 200, _envelope(xml, org.store)
    except _Fault as f:
        return _fault(f)
