"""The fake org's schema (describe) and a SOQL subset evaluated over `OrgStore` records.

Supported:
``SELECT f1, f2, Parent.Field … FROM Obj [WHERE …] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …]
[LIMIT n] [OFFSET n]``, ``SELECT COUNT() FROM …`` and ``SELECT COUNT(Id) [alias] FROM …``.
WHERE: AND / OR / NOT / parentheses; ``= != <> < > <= >=``; ``IN (…)``, ``NOT IN (…)``; ``LIKE``
with ``%`` / ``_`` (case-insensitive); ``null``; ``true`` / ``false``; string literals with SOQL
escapes (``\\' \\" \\\\ \\n \\r \\t \\b \\f \\% \\_``); numbers; date (``2026-11-01``) and date-time
literals (``2026-11-01T00:00:00Z``, ``…T00:00:00.000+0000``, ``…+09:00``) compared as times; TODAY,
YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n against the store's clock.
Text comparisons are case-insensitive like Salesforce's; Ids compare exactly, 15 = 18 characters.
Field names are case-insensitive and come back spelled as in describe. Parent relationships
(Contact.Account.Name, Lead.MasterRecord.Id, Task.Who.Name, Foo__r.Name) come back nested.

Parent fields work in WHERE as in SELECT (``Contact WHERE Account.SystemModstamp >= …``; null, so
false, without a parent).
Errors are `OrgError`s with Salesforce's codes: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from nayose.fakeorg.store import KEY_PREFIXES, LOOKUPS, PREFIX_OBJECTS, READ_ONLY_FIELDS, OrgError, OrgStore, parse_sf_time

# ---------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------

_SYSTEM = {
    "Id": ("id", 18), "IsDeleted": ("boolean", 0), "CreatedDate": ("datetime", 0),
    "CreatedById": ("reference", 18), "LastModifiedDate": ("datetime", 0),
    "LastModifiedById": ("reference", 18), "SystemModstamp": ("datetime", 0),
}
_PERSON_COMMON = {
    "MasterRecordId": ("reference", 18), "OwnerId": ("reference", 18),
    "LastName": ("string", 80), "FirstName": ("string", 40), "Salutation": ("picklist", 40),
    "Name": ("string", 121), "Title": ("string", 128), "Phone": ("phone", 40),
    "MobilePhone": ("phone", 40), "Fax": ("phone", 40), "Email": ("email", 80),
    "LeadSource": ("picklist", 255), "Description": ("textarea", 32000),
    "HasOptedOutOfEmail": ("boolean", 0), "DoNotCall": ("boolean", 0),
    "EmailBouncedReason": ("string", 255), "EmailBouncedDate": ("datetime", 0),
    "LastActivityDate": ("date", 0),
}
STANDARD_FIELDS: dict[str, dict[str, tuple[str, int]]] = {
    "Lead": {**_SYSTEM, **_PERSON_COMMON,
             "Company": ("string", 255), "Street": ("textarea", 255), "City": ("string", 40),
             "State": ("string", 80), "PostalCode": ("string", 20), "Country": ("string", 80),
             "Website": ("url", 255), "Status": ("picklist", 40), "Industry": ("picklist", 255),
             "Rating": ("picklist", 255), "AnnualRevenue": ("currency", 18), "NumberOfEmployees": ("int", 9),
             "IsConverted": ("boolean", 0), "ConvertedDate": ("date", 0),
             "ConvertedAccountId": ("reference", 18), "ConvertedContactId": ("reference", 18),
             "ConvertedOpportunityId": ("reference", 18)},
    "Contact": {**_SYSTEM, **_PERSON_COMMON,
                "AccountId": ("reference", 18), "MailingStreet": ("textarea", 255),
                "MailingCity": ("string", 40), "MailingState": ("string", 80),
                "MailingPostalCode": ("string", 20), "MailingCountry": ("string", 80),
                "HomePhone": ("phone", 40), "OtherPhone": ("phone", 40), "Department": ("string", 80),
                "Birthdate": ("date", 0)},
    "Account": {**_SYSTEM, "MasterRecordId": ("reference", 18), "OwnerId": ("reference", 18),
                "Name": ("string", 255), "Type": ("picklist", 255), "ParentId": ("reference", 18),
                "BillingStreet": ("textarea", 255), "BillingCity": ("string", 40),
                "BillingState": ("string", 80), "BillingPostalCode": ("string", 20),
                "BillingCountry": ("string", 80), "ShippingStreet": ("textarea", 255),
                "ShippingCity": ("string", 40), "ShippingState": ("string", 80),
                "ShippingPostalCode": ("string", 20), "ShippingCountry": ("string", 80),
                "Phone": ("phone", 40), "Fax": ("phone", 40), "Website": ("url", 255),
                "Industry": ("picklist", 255), "AnnualRevenue": ("currency", 18),
                "NumberOfEmployees": ("int", 8), "Description": ("textarea", 32000),
                "AccountSource": ("picklist", 255),
                # Person Accounts (an org with them enabled): the person's fields on the Account
                "IsPersonAccount": ("boolean", 0), "PersonContactId": ("reference", 18),
                "FirstName": ("string", 40), "LastName": ("string", 80), "Salutation": ("picklist", 40),
                "PersonEmail": ("email", 80), "PersonMobilePhone": ("phone", 40), "PersonHomePhone": ("phone", 40),
                "PersonMailingStreet": ("textarea", 255), "PersonMailingCity": ("string", 40),
                "PersonMailingState": ("string", 80), "PersonMailingPostalCode": ("string", 20),
                "PersonMailingCountry": ("string", 80), "PersonTitle": ("string", 80),
                "PersonDepartment": ("string", 80), "PersonBirthdate": ("date", 0),
                "PersonLeadSource": ("picklist", 255), "PersonHasOptedOutOfEmail": ("boolean", 0),
                "PersonDoNotCall": ("boolean", 0), "PersonEmailBouncedReason": ("string", 255),
                "PersonEmailBouncedDate": ("datetime", 0)},
    "Opportunity": {**_SYSTEM, "OwnerId": ("reference", 18), "AccountId": ("reference", 18),
                    "Name": ("string", 120), "StageName": ("picklist", 255), "CloseDate": ("date", 0),
                    "Amount": ("currency", 18), "LeadSource": ("picklist", 255),
                    "Description": ("textarea", 32000)},
    "Task": {**_SYSTEM, "OwnerId": ("reference", 18), "WhoId": ("reference", 18), "WhatId": ("reference", 18),
             "Subject": ("combobox", 255), "Status": ("picklist", 255), "Priority": ("picklist", 40),
             "ActivityDate": ("date", 0), "Description": ("textarea", 32000)},
    "CampaignMember": {**_SYSTEM, "CampaignId": ("reference", 18), "LeadId": ("reference", 18),
                       "ContactId": ("reference", 18), "Status": ("picklist", 40)},
    "Campaign": {**_SYSTEM, "OwnerId": ("reference", 18), "Name": ("string", 80), "Type": ("picklist", 255),
                 "Status": ("picklist", 255), "IsActive": ("boolean", 0), "StartDate": ("date", 0),
                 "EndDate": ("date", 0)},
}
LABELS = {"Account": ("Account", "Accounts"), "Contact": ("Contact", "Contacts"), "Lead": ("Lead", "Leads"),
          "Opportunity": ("Opportunity", "Opportunities"), "Task": ("Task", "Tasks"),
          "CampaignMember": ("Campaign Member", "Campaign Members"), "Campaign": ("Campaign", "Campaigns")}
PICKLISTS: dict[tuple[str, str], list[str]] = {
    ("*", "LeadSource"): ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other",
                          "Business Card", "名刺", "Sansan", "Eight"],
    ("*", "Salutation"): ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."],
    ("*", "Industry"): ["Agriculture", "Banking", "Chemicals", "Communications", "Construction", "Consulting",
                        "Education", "Electronics", "Finance", "Healthcare", "Manufacturing", "Retail",
                        "Technology", "Other"],
    ("*", "Rating"): ["Hot", "Warm", "Cold"],
    ("Lead", "Status"): ["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                         "Closed - Not Converted"],
    ("Account", "Type"): ["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"],
    ("Account", "AccountSource"): ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
    ("Opportunity", "StageName"): ["Prospecting", "Qualification", "Proposal/Price Quote", "Closed Won",
                                   "Closed Lost"],
    ("Task", "Status"): ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
    ("Task", "Priority"): ["High", "Normal", "Low"],
    ("CampaignMember", "Status"): ["Sent", "Responded"],
    ("Campaign", "Type"): ["Conference", "Webinar", "Email", "Other"],
    ("Campaign", "Status"): ["Planned", "In Progress", "Completed", "Aborted"],
}
DEFAULTS: dict[str, dict[str, Any]] = {"Lead": {"Status": "Open - Not Contacted"}}
REQUIRED: dict[str, tuple[str, ...]] = {"Lead": ("LastName", "Company"), "Contact": ("LastName",),
                                        "Account": ("Name",), "Opportunity": ("Name", "StageName", "CloseDate"),
                                        "Campaign": ("Name",)}
# computed / compound fields nobody writes
COMPUTED: dict[str, frozenset[str]] = {"Lead": frozenset({"Name"}), "Contact": frozenset({"Name"})}
# reference fields beyond store.LOOKUPS: field → target objects ("*" = the object itself)
EXTRA_REFERENCES: dict[str, dict[str, tuple[str, ...]]] = {
    "Lead": {"MasterRecordId": ("Lead",), "ConvertedContactId": ("Contact",), "ConvertedAccountId": ("Account",),
             "ConvertedOpportunityId": ("Opportunity",)},
    "Contact": {"MasterRecordId": ("Contact",)},
    "Account": {"MasterRecordId": ("Account",), "ParentId": ("Account",)},
    "CampaignMember": {"CampaignId": ("Campaign",)},
}
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
NUMERIC_TYPES = ("int", "double", "currency", "percent")
TEXT_TYPES = ("string", "textarea", "picklist", "multipicklist", "combobox", "email", "phone", "url")


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    length: int = 0
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    picklist: tuple[str, ...] = ()


def _infer_type(values: list[Any]) -> tuple[str, int]:
    kinds = set()
    longest = 0
    for v in values:
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            kinds.add("boolean")
        elif isinstance(v, int):
            kinds.add("double")
        elif isinstance(v, float):
            kinds.add("double")
        else:
            s = str(v)
            longest = max(longest, len(s))
            if _DATETIME_RE.match(s):
                kinds.add("datetime")
            elif _DATE_RE.match(s):
                kinds.add("date")
            elif _ID_RE.match(s) and s[:3] in PREFIX_OBJECTS and any(c.isdigit() for c in s[3:]):
                kinds.add("reference")
            elif s.lower() in ("true", "false"):
                kinds.add("boolean")
            else:
                kinds.add("string")
    if len(kinds) == 1:
        kind = kinds.pop()
        return kind, (18 if kind == "reference" else (max(255, longest) if kind == "string" else 0))
    return "string", max(255, longest)


class Schema:
    """Describe for the fake org: the standard fields of each object, every field some record has
    (types inferred from the values), and fields declared with `define_field`; less the fields
    `hide_field` hid (field-level security)."""

    def __init__(self, store: OrgStore):
        self.store = store
        self.declared: dict[str, dict[str, FieldInfo]] = {}
        self.hidden: dict[str, set[str]] = {}  # field-level security: fields the API user cannot see
        self._cache: dict[str, tuple[tuple, dict[str, FieldInfo]]] = {}

    @property
    def objects(self) -> list[str]:
        return sorted(KEY_PREFIXES)

    def has_object(self, sobject: str) -> bool:
        return sobject in KEY_PREFIXES

    def canonical_object(self, name: str) -> str:
        for o in KEY_PREFIXES:
            if o.lower() == name.lower():
                return o
        raise OrgError("INVALID_TYPE", f"sObject type '{name}' is not supported. If you are attempting to use a "
                       "custom object, be sure to append the '__c' after the entity name. Please reference your "
                       "WSDL or the describe call for the appropriate names.")

    def define_field(self, sobject: str, name: str, type: str = "string", length: int = 255,
                     picklist_values: tuple[str, ...] | list[str] = (), reference_to: tuple[str, ...] = ()) -> None:
        self.declared.setdefault(sobject, {})[name] = FieldInfo(
            name=name, type=type, length=length, custom=name.endswith("__c"), reference_to=tuple(reference_to),
            relationship_name=(name[:-3] + "__r") if type == "reference" and name.endswith("__c") else None,
            picklist=tuple(picklist_values))
        self._cache.pop(sobject, None)

    def hide_field(self, sobject: str, name: str, hidden: bool = True) -> None:
        """Field-level security: the API user no longer sees `name` (describe leaves it out, a query
        naming it is INVALID_FIELD), or sees it again."""
        names = self.hidden.setdefault(sobject, set())
        (names.add if hidden else names.discard)(name)
        self._cache.pop(sobject, None)

    def _references(self, sobject: str) -> dict[str, tuple[str, ...]]:
        refs = dict(LOOKUPS.get(sobject, {}))
        refs.update(EXTRA_REFERENCES.get(sobject, {}))
        return refs

    def fields(self, sobject: str) -> dict[str, FieldInfo]:
        """Field name → FieldInfo, standard fields first, then the others alphabetically."""
        with self.store.lock:
            recs = self.store.objects.get(sobject, {})
            # records only gain new field names through inserts (the API refuses unknown fields); a
            # lookup of an unknown name recomputes once (see `field`), so direct store edits show up too
            key = (len(recs), len(self.declared.get(sobject, {})), frozenset(self.hidden.get(sobject, ())))
            hit = self._cache.get(sobject)
            if hit and hit[0] == key:
                return hit[1]
            values: dict[str, list[Any]] = {}
            for rec in recs.values():
                for k, v in rec.items():
                    if v is not None and v != "":
                        values.setdefault(k, []).append(v)
                    else:
                        values.setdefault(k, [])
        refs = self._references(sobject)
        out: dict[str, FieldInfo] = {}
        for name, (ftype, length) in STANDARD_FIELDS.get(sobject, {}).items():
            out[name] = self._info(sobject, name, ftype, length, refs, values.get(name, []))
        for name, info in self.declared.get(sobject, {}).items():
            if name not in out:
                out[name] = info
        for name in sorted(values):
            if name not in out:
                ftype, length = _infer_type(values[name][:200])
                out[name] = self._info(sobject, name, ftype, length, refs, values[name])
        for name in self.hidden.get(sobject, ()):
            out.pop(name, None)
        self._cache[sobject] = (key, out)
        return out

    def _info(self, sobject: str, name: str, ftype: str, length: int, refs: dict[str, tuple[str, ...]],
              present: list[Any]) -> FieldInfo:
        targets = refs.get(name, ())
        rel = None
        if ftype == "reference":
            if name.endswith("__c"):
                rel = name[:-3] + "__r"
            elif name.endswith("Id") and name != "Id":
                rel = name[:-2]
            if not targets:
                targets = tuple(sorted({PREFIX_OBJECTS[str(v)[:3]] for v in present if str(v)[:3] in PREFIX_OBJECTS}))
        picklist: tuple[str, ...] = ()
        if ftype in ("picklist", "multipicklist"):
            base = PICKLISTS.get((sobject, name)) or PICKLISTS.get(("*", name)) or []
            extra = sorted({str(v) for v in present if str(v) not in base})
            picklist = tuple(base) + tuple(extra)
        computed = name in COMPUTED.get(sobject, ())
        writable = name not in READ_ONLY_FIELDS and not computed and name not in ("CreatedById", "LastModifiedById")
        return FieldInfo(name=name, type=ftype, length=length, custom=name.endswith("__c"), reference_to=targets,
                         relationship_name=rel, updateable=writable, createable=writable,
                         nillable=not (ftype == "boolean" or name in REQUIRED.get(sobject, ()) or name == "Id"),
                         picklist=picklist)

    def invalidate(self, sobject: str | None = None) -> None:
        if sobject is None:
            self._cache.clear()
        else:
            self._cache.pop(sobject, None)

    def field(self, sobject: str, name: str) -> FieldInfo:
        for attempt in (0, 1):
            fields = self.fields(sobject)
            if name in fields:
                return fields[name]
            low = name.lower()
            for k, v in fields.items():
                if k.lower() == low:
                    return v
            self.invalidate(sobject)
        raise OrgError("INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'. If you are attempting to "
                       "use a custom field, be sure to append the '__c' after the custom field name. Please "
                       "reference your WSDL or the describe call for the appropriate names.", [name])

    def relationship(self, sobject: str, rel_name: str) -> FieldInfo:
        low = rel_name.lower()
        for info in self.fields(sobject).values():
            if info.relationship_name and info.relationship_name.lower() == low:
                return info
        raise OrgError("INVALID_FIELD", f"Didn't understand relationship '{rel_name}' in field path. If you are "
                       "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                       "relationship name. Please reference your WSDL or the describe call for the appropriate "
                       "names.", [rel_name])

    # ---- values -------------------------------------------------------------------------------
    @staticmethod
    def value_of(sobject: str, rec: dict[str, Any], name: str) -> Any:
        if name in rec:
            v = rec[name]
            return None if v == "" else v
        if name == "Name" and sobject in ("Lead", "Contact"):
            # ja_JP display order: 姓 名
            parts = [rec.get("LastName"), rec.get("FirstName")]
            joined = " ".join(str(p) for p in parts if p not in (None, ""))
            return joined or None
        return None

    @staticmethod
    def to_api(info: FieldInfo, value: Any) -> Any:
        """A stored value as the API returns it (CSV fixtures hold strings)."""
        if value is None or value == "":
            return None
        if info.type == "boolean":
            return to_bool(value)
        if info.type in NUMERIC_TYPES and isinstance(value, str):
            try:
                n = float(value)
            except ValueError:
                return value
            return int(n) if info.type == "int" and n.is_integer() else n
        return value

    def describe(self, sobject: str, base_path: str) -> dict[str, Any]:
        label, plural = LABELS.get(sobject, (sobject, sobject + "s"))
        self.invalidate(sobject)  # picklist values and types follow the current records
        fields = []
        for info in self.fields(sobject).values():
            fields.append({
                "name": info.name, "label": _label(info.name), "type": info.type, "length": info.length,
                "custom": info.custom, "nillable": info.nillable, "updateable": info.updateable,
                "createable": info.createable, "filterable": info.type != "textarea" or info.length <= 255,
                "sortable": info.type != "textarea" or info.length <= 255,
                "referenceTo": list(info.reference_to), "relationshipName": info.relationship_name,
                "picklistValues": [{"active": True, "defaultValue": DEFAULTS.get(sobject, {}).get(info.name) == v,
                                    "label": v, "validFor": None, "value": v} for v in info.picklist],
                "defaultValue": DEFAULTS.get(sobject, {}).get(info.name),
                "soapType": _SOAP_TYPES.get(info.type, "xsd:string"),
                "calculated": info.name in COMPUTED.get(sobject, ()),
                "externalId": False, "unique": info.type == "id",
            })
        return {
            "name": sobject, "label": label, "labelPlural": plural, "keyPrefix": KEY_PREFIXES.get(sobject),
            "custom": False, "createable": True, "updateable": True, "deletable": True, "queryable": True,
            "retrieveable": True, "undeletable": True, "mergeable": sobject in ("Lead", "Contact", "Account"),
            "fields": fields,
            "urls": {"sobject": f"{base_path}/sobjects/{sobject}", "describe": f"{base_path}/sobjects/{sobject}/describe",
                     "rowTemplate": f"{base_path}/sobjects/{sobject}/{{ID}}"},
        }


_SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
               "date": "xsd:date", "int": "xsd:int", "double": "xsd:double", "currency": "xsd:double"}


def _label(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base).replace("_", " ")


def to_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in ("true", "1", "yes")


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "%": "\x00%", "_": "\x00_"}  # \% and \_ stay marked for LIKE; plain comparisons unmark them
_DT_LIT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})"
_TOKEN_RE = re.compile(
    rf"\s*(?:(?P<dt>{_DT_LIT})|(?P<date>\d{{4}}-\d{{2}}-\d{{2}})(?![\dT:])|(?P<num>[+-]?\d+(?:\.\d+)?)(?![\w.])"
    r"|(?P<str>')|(?P<op><>|!=|<=|>=|=|<|>)|(?P<punct>[(),])"
    r"|(?P<rel>[A-Za-z_]+:\d+)|(?P<ident>[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*))")
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
            "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "GROUP", "HAVING", "INCLUDES",
            "EXCLUDES", "FOR", "WITH", "USING", "TYPEOF"}
RELATIVE_DATES = {"TODAY", "YESTERDAY", "TOMORROW"}


@dataclass
class Tok:
    kind: str   # dt | date | num | str | op | punct | rel | ident | kw | eof
    value: Any
    pos: int


def _malformed(msg: str) -> OrgError:
    return OrgError("MALFORMED_QUERY", msg)


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            toks.append(Tok("eof", None, i))
            return toks
        m = _TOKEN_RE.match(text, i)
        if not m or m.end() == i:
            raise _malformed(f"unexpected token: '{text[i:i + 20]}' at column {i + 1}")
        start = m.start(m.lastgroup)
        kind = m.lastgroup
        if kind == "str":
            j = start + 1
            buf = []
            while True:
                if j >= n:
                    raise _malformed(f"unterminated string literal at column {start + 1}")
                ch = text[j]
                if ch == "\\":
                    if j + 1 >= n:
                        raise _malformed("unterminated escape sequence")
                    esc = text[j + 1]
                    if esc not in _ESCAPES:
                        raise _malformed(f"Invalid string literal '\\{esc}'. Illegal character sequence '\\{esc}' "
                                         "in string literal.")
                    buf.append(_ESCAPES[esc])
                    j += 2
                    continue
                if ch == "'":
                    break
                buf.append(ch)
                j += 1
            toks.append(Tok("str", "".join(buf), start))
            i = j + 1
            continue
        val = m.group(kind)
        if kind == "ident" and val.upper() in KEYWORDS:
            toks.append(Tok("kw", val.upper(), start))
        else:
            toks.append(Tok(kind, val, start))
        i = m.end()


@dataclass
class Cond:
    op: str                    # AND / OR / NOT / CMP / IN / NOTIN / LIKE
    args: list[Any] = field(default_factory=list)
    path: str | None = None
    value: Any = None


@dataclass
class Literal:
    kind: str  # str | num | bool | null | datetime | date
    value: Any


@dataclass
class Query:
    sobject: str
    fields: list[str]                    # field paths as written
    count: bool = False                  # SELECT COUNT()
    aggregate: tuple[str, str] | None = None   # COUNT(field) → (field, alias)
    where: Cond | None = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (path, descending, nulls_first)
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, text: str, now: datetime):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.now = now

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_kw(self, *words: str) -> bool:
        t = self.peek()
        return t.kind == "kw" and t.value in words

    def expect_kw(self, word: str) -> None:
        t = self.next()
        if not (t.kind == "kw" and t.value == word):
            raise self.unexpected(t, f"expecting '{word}'")

    def expect_punct(self, p: str) -> None:
        t = self.next()
        if not (t.kind == "punct" and t.value == p):
            raise self.unexpected(t, f"expecting '{p}'")

    def unexpected(self, t: Tok, hint: str = "") -> OrgError:
        shown = "<EOF>" if t.kind == "eof" else str(t.value)
        return _malformed(f"unexpected token: '{shown}' at column {t.pos + 1}" + (f" ({hint})" if hint else ""))

    def ident(self) -> str:
        t = self.next()
        if t.kind != "ident":
            raise self.unexpected(t, "expecting a field name")
        return t.value

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        fields: list[str] = []
        count = False
        aggregate = None
        while True:
            t = self.peek()
            if t.kind == "ident" and t.value.upper() == "COUNT" and self.toks[self.i + 1].value == "(":
                self.i += 2
                if self.peek().kind == "punct" and self.peek().value == ")":
                    self.i += 1
                    count = True
                else:
                    f = self.ident()
                    self.expect_punct(")")
                    alias = "expr0"
                    if self.peek().kind == "ident":
                        alias = self.next().value
                    aggregate = (f, alias)
            elif t.kind == "kw" and t.value == "TYPEOF":
                raise _malformed("TYPEOF is not supported by the fake org")
            elif t.kind == "punct" and t.value == "(":
                raise _malformed("subqueries are not supported by the fake org")
            else:
                fields.append(self.ident())
            if self.peek().kind == "punct" and self.peek().value == ",":
                self.i += 1
                continue
            break
        if (count or aggregate) and (fields or (count and aggregate)):
            raise _malformed("Field must be grouped or aggregated")
        self.expect_kw("FROM")
        sobject = self.ident()
        q = Query(sobject=sobject, fields=fields, count=count, aggregate=aggregate)
        if self.is_kw("WHERE"):
            self.i += 1
            q.where = self.or_expr()
        if self.is_kw("GROUP", "HAVING"):
            raise _malformed("GROUP BY / HAVING are not supported by the fake org")
        if self.is_kw("ORDER"):
            self.i += 1
            self.expect_kw("BY")
            while True:
                path = self.ident()
                desc = False
                if self.is_kw("ASC", "DESC"):
                    desc = self.next().value == "DESC"
                nulls_first = not desc
                if self.is_kw("NULLS"):
                    self.i += 1
                    t = self.next()
                    if not (t.kind == "kw" and t.value in ("FIRST", "LAST")):
                        raise self.unexpected(t, "expecting FIRST or LAST")
                    nulls_first = t.value == "FIRST"
                q.order.append((path, desc, nulls_first))
                if self.peek().kind == "punct" and self.peek().value == ",":
                    self.i += 1
                    continue
                break
        if self.is_kw("LIMIT"):
            self.i += 1
            q.limit = self.integer()
        if self.is_kw("OFFSET"):
            self.i += 1
            q.offset = self.integer()
        if self.is_kw("FOR", "WITH", "USING"):
            raise _malformed(f"{self.peek().value} clauses are not supported by the fake org")
        t = self.peek()
        if t.kind != "eof":
            raise self.unexpected(t)
        return q

    def integer(self) -> int:
        t = self.next()
        if t.kind != "num" or not re.fullmatch(r"\d+", t.value):
            raise self.unexpected(t, "expecting a non-negative integer")
        return int(t.value)

    def or_expr(self) -> Cond:
        args = [self.and_expr()]
        while self.is_kw("OR"):
            self.i += 1
            args.append(self.and_expr())
        return args[0] if len(args) == 1 else Cond("OR", args)

    def and_expr(self) -> Cond:
        args = [self.not_expr()]
        while self.is_kw("AND"):
            self.i += 1
            args.append(self.not_expr())
        return args[0] if len(args) == 1 else Cond("AND", args)

    def not_expr(self) -> Cond:
        if self.is_kw("NOT"):
            self.i += 1
            return Cond("NOT", [self.not_expr()])
        t = self.peek()
        if t.kind == "punct" and t.value == "(":
            self.i += 1
            c = self.or_expr()
            self.expect_punct(")")
            return c
        return self.comparison()

    def comparison(self) -> Cond:
        path = self.ident()
        t = self.next()
        if t.kind == "op":
            op = "!=" if t.value == "<>" else t.value
            return Cond("CMP", path=path, value=(op, self.literal()))
        if t.kind == "kw" and t.value == "LIKE":
            lit = self.literal()
            if lit.kind != "str":
                raise _malformed("LIKE needs a string literal")
            return Cond("LIKE", path=path, value=lit)
        if t.kind == "kw" and t.value in ("IN", "NOT", "INCLUDES", "EXCLUDES"):
            negate = False
            if t.value == "NOT":
                nt = self.next()
                if not (nt.kind == "kw" and nt.value == "IN"):
                    raise self.unexpected(nt, "expecting IN")
                negate = True
            elif t.value in ("INCLUDES", "EXCLUDES"):
                raise _malformed("INCLUDES / EXCLUDES are not supported by the fake org")
            self.expect_punct("(")
            if self.is_kw("SELECT"):
                raise _malformed("semi-joins are not supported by the fake org")
            values = [self.literal()]
            while self.peek().kind == "punct" and self.peek().value == ",":
                self.i += 1
                values.append(self.literal())
            self.expect_punct(")")
            return Cond("NOTIN" if negate else "IN", path=path, value=values)
        raise self.unexpected(t, "expecting a comparison operator")

    def literal(self) -> Literal:
        t = self.next()
        if t.kind == "str":
            return Literal("str", t.value)
        if t.kind == "num":
            return Literal("num", float(t.value))
        if t.kind == "dt":
            return Literal("datetime", parse_sf_time(t.value))
        if t.kind == "date":
            return Literal("date", date.fromisoformat(t.value))
        if t.kind == "kw" and t.value in ("TRUE", "FALSE"):
            return Literal("bool", t.value == "TRUE")
        if t.kind == "kw" and t.value == "NULL":
            return Literal("null", None)
        today = self.now.date()
        if t.kind == "ident" and t.value.upper() in RELATIVE_DATES:
            delta = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}[t.value.upper()]
            return Literal("date", today + timedelta(days=delta))
        if t.kind == "rel":
            name, _, num = t.value.partition(":")
            days = int(num)
            if name.upper() == "LAST_N_DAYS":
                return Literal("daterange", (today - timedelta(days=days), today))
            if name.upper() == "NEXT_N_DAYS":
                return Literal("daterange", (today + timedelta(days=1), today + timedelta(days=days)))
            raise _malformed(f"unsupported date literal {t.value}")
        raise self.unexpected(t, "expecting a literal value")


def parse(text: str, now: datetime | None = None) -> Query:
    return _Parser(text, now or datetime.now(timezone.utc)).parse()


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

@dataclass
class Resolved:
    """A field path bound to the schema: relationship hops, then the final field."""
    path: str                             # canonical spelling, e.g. "Account.Name"
    hops: list[tuple[str, FieldInfo]]     # (relationship name as canonical, the lookup field)
    info: FieldInfo


class Evaluator:
    def __init__(self, store: OrgStore, schema: Schema, api_version: str):
        self.store = store
        self.schema = schema
        self.api_version = api_version

    def resolve(self, sobject: str, path: str) -> Resolved:
        parts = path.split(".")
        if len(parts) > 1 and parts[0].lower() == sobject.lower():
            parts = parts[1:]  # "Lead.Email" is allowed in SOQL
        hops: list[tuple[str, FieldInfo]] = []
        current = [sobject]
        canonical: list[str] = []
        for rel in parts[:-1]:
            lookup = None
            for obj in current:
                try:
                    lookup = self.schema.relationship(obj, rel)
                    break
                except OrgError:
                    continue
            if lookup is None:
                self.schema.relationship(current[0], rel)  # raises INVALID_FIELD
                raise AssertionError("unreachable")
            hops.append((lookup.relationship_name, lookup))
            canonical.append(lookup.relationship_name)
            current = list(lookup.reference_to) or list(KEY_PREFIXES)
        last = parts[-1]
        info = None
        err: OrgError | None = None
        for obj in current:
            try:
                info = self.schema.field(obj, last)
                break
            except OrgError as e:
                err = err or e
        if info is None:
            if hops:
                # polymorphic / generic parents: any field name is accepted, null when absent
                info = FieldInfo(name=last, type="string")
            else:
                assert err is not None
                raise err
        canonical.append(info.name)
        return Resolved(".".join(canonical), hops, info)

    def parent(self, rec: dict[str, Any] | None, lookup: FieldInfo) -> dict[str, Any] | None:
        if rec is None:
            return None
        pid = rec.get(lookup.name)
        if not pid:
            return None
        pid = str(pid)
        obj = PREFIX_OBJECTS.get(pid[:3])
        if obj is None:
            return None
        if len(pid) == 15:
            from nayose.fakeorg.store import id18
            pid = id18(pid)
        with self.store.lock:
            p = self.store.objects.get(obj, {}).get(pid)
            return dict(p, __type=obj) if p is not None else None

    def get_value(self, sobject: str, rec: dict[str, Any], res: Resolved) -> Any:
        cur: dict[str, Any] | None = rec
        cur_type = sobject
        for _, lookup in res.hops:
            cur = self.parent(cur, lookup)
            if cur is None:
                return None
            cur_type = cur["__type"]
        return Schema.to_api(res.info, Schema.value_of(cur_type, cur, res.info.name))

    # ---- WHERE ------------------------------------------------------------------------------
    def compile(self, sobject: str, cond: Cond) -> Callable[[dict[str, Any]], bool]:
        if cond.op == "AND":
            parts = [self.compile(sobject, c) for c in cond.args]
            return lambda r: all(p(r) for p in parts)
        if cond.op == "OR":
            parts = [self.compile(sobject, c) for c in cond.args]
            return lambda r: any(p(r) for p in parts)
        if cond.op == "NOT":
            inner = self.compile(sobject, cond.args[0])
            return lambda r: not inner(r)
        res = self.resolve(sobject, cond.path)
        if cond.op == "LIKE":
            rx = _like_regex(cond.value.value)
            return lambda r: (lambda v: v is not None and rx.match(str(v)) is not None)(self.get_value(sobject, r, res))
        if cond.op in ("IN", "NOTIN"):
            tests = [_comparator(res.info, "=", lit) for lit in cond.value]
            if cond.op == "IN":
                return lambda r: (lambda v: any(t(v) for t in tests))(self.get_value(sobject, r, res))
            return lambda r: (lambda v: not any(t(v) for t in tests))(self.get_value(sobject, r, res))
        op, lit = cond.value
        test = _comparator(res.info, op, lit)
        return lambda r: test(self.get_value(sobject, r, res))

    # ---- running ----------------------------------------------------------------------------
    def run(self, text: str, include_deleted: bool) -> tuple[Query, list[Resolved], list[dict[str, Any]], int]:
        """Parse and run: (query, selected paths, matching raw records in result order, total).
        For COUNT() the records list is empty and total is the count."""
        q = parse(text, self.store._clock if hasattr(self.store, "_clock") else None)
        q.sobject = self.schema.canonical_object(q.sobject)
        selected = [self.resolve(q.sobject, f) for f in q.fields]
        seen: set[str] = set()
        for r in selected:
            if r.path.lower() in seen:
                raise OrgError("MALFORMED_QUERY", f"duplicate field selected: {r.path}")
            seen.add(r.path.lower())
        if q.aggregate:
            self.resolve(q.sobject, q.aggregate[0])
        pred = self.compile(q.sobject, q.where) if q.where else (lambda r: True)
        rows = [r for r in self.store.rows(q.sobject, include_deleted=include_deleted) if pred(r)]
        if q.order:
            keys = [(self.resolve(q.sobject, p), desc, nf) for p, desc, nf in q.order]
            for res, desc, nulls_first in reversed(keys):
                present = [r for r in rows if self.get_value(q.sobject, r, res) is not None]
                absent = [r for r in rows if self.get_value(q.sobject, r, res) is None]
                present.sort(key=lambda r: _sort_key(res.info, self.get_value(q.sobject, r, res)), reverse=desc)
                rows = absent + present if nulls_first else present + absent
        if q.offset:
            rows = rows[q.offset:]
        if q.limit is not None:
            rows = rows[:q.limit]
        if q.count or q.aggregate:
            return q, selected, [], len(rows)
        return q, selected, rows, len(rows)

    def shape(self, sobject: str, rec: dict[str, Any], selected: list[Resolved], base_path: str) -> dict[str, Any]:
        """One record as the REST query API returns it: attributes, then the fields, parents nested."""
        out: dict[str, Any] = {"attributes": {"type": sobject, "url": f"{base_path}/sobjects/{sobject}/{rec['Id']}"}}
        for res in selected:
            if not res.hops:
                out[res.info.name] = Schema.to_api(res.info, Schema.value_of(sobject, rec, res.info.name))
                continue
            container = out
            cur: dict[str, Any] | None = rec
            for rel, lookup in res.hops:
                cur = self.parent(cur, lookup)
                if cur is None:
                    container.setdefault(rel, None)
                    break
                node = container.get(rel)
                if node is None:
                    node = {"attributes": {"type": cur["__type"],
                                           "url": f"{base_path}/sobjects/{cur['__type']}/{cur['Id']}"}}
                    container[rel] = node
                container = node
            else:
                container[res.info.name] = Schema.to_api(res.info, Schema.value_of(cur["__type"], cur, res.info.name))
        return out

    def flat(self, sobject: str, rec: dict[str, Any], selected: list[Resolved]) -> dict[str, Any]:
        """One record as Bulk API CSV columns: the paths as selected, parents flattened."""
        return {res.path: self.get_value(sobject, rec, res) for res in selected}


def _like_regex(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\x00" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def _unescape_like(s: str) -> str:
    return s.replace("\x00%", "%").replace("\x00_", "_")


def _as_datetime(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    try:
        return parse_sf_time(str(v))
    except ValueError:
        return None


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v))
    except ValueError:
        return None


def _same_id(a: str, b: str) -> bool:
    if len(a) == len(b):
        return a == b
    return a[:15] == b[:15]


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


def _comparator(info: FieldInfo, op: str, lit: Literal) -> Callable[[Any], bool]:
    cmp = _OPS[op]
    if lit.kind == "null":
        if op == "=":
            return lambda v: v is None
        if op == "!=":
            return lambda v: v is not None
        raise _malformed(f"null can only be compared with = or !=, not {op}")
    if info.type == "boolean" and lit.kind != "bool":
        raise OrgError("INVALID_FIELD", f"value of filter criterion for field '{info.name}' must be of type boolean "
                       "and should not be enclosed in quotes", [info.name])

    def on_value(conv: Callable[[Any], Any], want: Any) -> Callable[[Any], bool]:
        def test(v: Any) -> bool:
            if v is None:
                return op == "!="  # SOQL: a null field is "not equal" to any value
            cv = conv(v)
            if cv is None:
                return op == "!="
            return cmp(cv, want)
        return test

    if lit.kind == "bool":
        return on_value(to_bool, lit.value)
    if lit.kind == "num":
        return on_value(_as_number, lit.value)
    if lit.kind == "datetime":
        return on_value(_as_datetime, lit.value)
    if lit.kind == "date":
        def to_date(v: Any) -> date | None:
            dt = _as_datetime(v)
            return dt.date() if dt is not None else None
        return on_value(to_date, lit.value)
    if lit.kind == "daterange":
        lo, hi = lit.value

        def in_range(v: Any) -> bool:
            dt = _as_datetime(v) if v is not None else None
            d = dt.date() if dt is not None else None
            if op == "=":
                return d is not None and lo <= d <= hi
            if op == "!=":
                return d is None or not (lo <= d <= hi)
            if d is None:
                return False
            if op in (">", ">="):
                return cmp(d, hi) if op == ">" else d >= lo
            return d < lo if op == "<" else d <= hi
        return in_range
    # string literal
    want = _unescape_like(lit.value)
    if info.type in ("id", "reference"):
        if op in ("=", "!="):
            return lambda v: (v is not None and _same_id(str(v), want)) == (op == "=")
        return on_value(str, want)
    if info.type in ("datetime", "date"):
        raise OrgError("INVALID_FIELD", f"value of filter criterion for field '{info.name}' must be of type "
                       f"{'dateTime' if info.type == 'datetime' else 'date'} and should not be enclosed in quotes",
                       [info.name])
    if info.type in NUMERIC_TYPES:
        raise OrgError("INVALID_FIELD", f"value of filter criterion for field '{info.name}' must be of type "
                       "double and should not be enclosed in quotes", [info.name])
    return on_value(lambda v: str(v).casefold(), want.casefold())


def _sort_key(info: FieldInfo, v: Any) -> tuple:
    """A key of one shape per field type, so mixed stored values never compare str with float."""
    if info.type in ("datetime", "date"):
        dt = _as_datetime(v)
        return (0, dt.timestamp(), "") if dt is not None else (1, 0.0, str(v))
    if info.type in NUMERIC_TYPES:
        n = _as_number(v)
        return (0, n, "") if n is not None else (1, 0.0, str(v))
    if info.type == "boolean":
        return (0, float(bool(to_bool(v))), "")
    return (0, 0.0, str(v).casefold() + "\x00" + str(v))
