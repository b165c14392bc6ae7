"""Sync health: what goes wrong between Salesforce and Account Engagement (Pardot), found by joining
the Salesforce records with the Pardot prospects by CRM ID and email.

`diagnose(con, config, records="raw_records", prospects="pardot_prospects", metadata=None)` needs
`sync_eligibility` (`nayose.eligibility.compute_eligibility`) and writes

* `sync_findings(problem, cause, Id, object, prospect_id, field, salesforce_value, pardot_value,
  next_sync_value, detail)` — one row per problem found:

  | problem | cause | what it means |
  |---|---|---|
  | not_synced | sharing_rule_excludes | an eligible record without a prospect whose sharing field keeps it out |
  | not_synced | email_on_other_prospect | its email is on a prospect synced to another record |
  | not_synced | unlinked_prospect_has_email | a prospect without CRM ID holds its email (it links to the first record with that email) |
  | not_synced | prospect_in_recycle_bin | its prospect is in the recycle bin (a recycled prospect does not sync: undelete it) |
  | not_synced | no_email / invalid_email | only when the quality rules let such a record be eligible |
  | not_synced | new_since_last_sync | created after the newest sync in the export: the next sync takes it |
  | not_synced | unknown | nothing in the data explains it (the connector user's visibility, the sync error queue) |
  | over_synced | exclusion:… / route:… / stale / quality:… | a prospect whose record is not eligible (the reason) |
  | over_synced | over_cap | a prospect whose record is ranked below the mailable cap |
  | over_synced | orphan | a prospect whose CRM record is not in the export (deleted or merged away) |
  | duplicate | same_crm_id | several prospects with one CRM ID (an email change, Send to Pardot, a retried POST) |
  | duplicate | same_email_different_crm_ids | one email on prospects of different records (Salesforce duplicates, or a shared address) |
  | duplicate | no_crm_id_beside_record | a prospect without CRM ID beside a record with its email |
  | field_mapping | type_mismatch / length_mismatch / picklist_mismatch | a mapped field whose two sides disagree (Id empty) |
  | field_mapping | value_does_not_fit | a record whose value the Pardot field cannot hold |
  | not_syncing | value_does_not_fit / not_carried_by_sync / differs_no_sync_time | a synced record whose field differs and the winning value does not arrive |
  | reverts | cleared_value_refilled | a value cleared on the newer side comes back (a value always beats a blank) |
  | reverts | pardot_edit_overwritten / salesforce_edit_overwritten | a newer edit the field's sync behaviour puts back |
  | reverts | card_value_overwritten | a business-card value the next sync would overwrite with Pardot's |

* `field_mapping_audit(salesforce_field, pardot_field, prospect_column, salesforce_type, pardot_type,
  salesforce_length, pardot_length, behavior, problem, detail, records_not_fitting)` — every mapped
  custom field, with or without a problem;
* `sync_delete_plan(plan_id, Id, object, reason, as_of, reason_code)` — prospects to delete (object
  ``Prospect``, Id = the prospect id): over-synced prospects of records that are not eligible or over
  the cap, and the extra prospects of a CRM ID (keeping the one whose email is the record's, else the
  oldest). `reason_code` (`over_cap`, `duplicate_prospect` or the record's eligibility reason code) is
  what a review selects by; sync_delete_plan.csv has the delete_plan.csv format without it, so the
  same review / approval / journal path applies them.

Value comparison per synced record (one live prospect, linked by CRM ID) and mapped field:
values compare after NFKC, trimming and collapsing whitespace (emails case-insensitive, checkboxes as
true / false). Where they differ, the field's sync behaviour (`sync.field_behaviors`, else the
metadata's `syncBehavior`, else `sync.default_behavior`) and the record's / prospect's last
modification (LastModifiedDate / updatedAt; record level, as the APIs give no field history) predict
the value the next sync keeps. A prospect's `crmLastSync` (when exported) separates a value that will
arrive with the next sync (pending: counted, not flagged) from one the last sync did not carry.

Metadata (JSON, optional): ``{"salesforce": {"Lead": <describe>, "Contact": <describe>},
"pardot": {"customFields": [{"fieldId", "name", "type", "salesforceId", "values", "maxLength",
"syncBehavior"}]}}`` — the Salesforce describe results (``fields`` with ``name``, ``type``,
``length``, ``picklistValues``) and the Pardot custom field definitions; a custom field's prospect
column is its ``fieldId`` (or ``fieldId__c``).

From the org (`extract_sync_metadata(sf, pardot, config, supplement)`): the Salesforce describe of
every mapped field (``compare_fields``, the custom fields' ``salesforceId``, the sharing field) of Lead
and Contact, and the Pardot custom field definitions through API v5 ``/api/v5/objects/custom-fields``
(id, name, fieldId, type, salesforceId, isUseValues …). The prospects come from
`nayose.pardot.extract_pardot` with `nayose.pardot.sync_prospect_fields` (``department``,
``crmLastSync`` and every mapped custom field as ``<fieldId>__c``).

What the APIs do not give, and sync health therefore does not pretend to know:

* **A Pardot custom field's predefined values, its maximum length and its sync behaviour** — the v5
  custom-field object has none of them (``valuesPrefill`` is write-only). They live in the Account
  Engagement field settings; pass them as ``supplement`` (the metadata JSON format, ``values`` /
  ``maxLength`` / ``syncBehavior`` per ``fieldId``) or set ``sync.field_behaviors``. Without them a
  dropdown's values are not checked, a text field is taken to hold 255 characters, and the sync
  behaviour is `sync.default_behavior`.
* **Per-field change history** — neither REST nor v5 says when one field changed (field history
  tracking is opt-in per field and not read here); the value comparison uses record-level
  LastModifiedDate / updatedAt, so an edit of another field makes a value look newer.
* **The connector's own state** — its sync error queue and the connector user's field-level access
  are not in either API's record data: a record without a prospect and no visible cause is reported
  ``unknown``, a field that never arrives ``not_carried_by_sync``.
* **Which prospects Pardot recycled because of the sharing rule** — the recycle bin is visible
  (``deleted=true``) but not why a prospect went there.

`write_health_outputs` writes sync_health.md, sync_health.csv, sync_delete_plan.csv (and the
eligibility outputs, and sync_plan.json for the applier). Everything is set-based DuckDB SQL; Python runs once per mapped field and per
distinct differing value (NFKC).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pac

from nayose.config import CONSENT_FIELDS, Config
from nayose.eligibility import (
    TABLE as ELIGIBILITY,
    col,
    columns,
    lit,
    prospect_link_sql,
    q,
    record_crm_key,
    same_setting_sql,
    truthy,
    ts_sql,
    write_eligibility_outputs,
)
from nayose.errors import InputError
from nayose.plan import write_csv
from nayose.stage import StageResult, timed

STAGE = "sync_health"
FINDINGS = "sync_findings"
AUDIT = "field_mapping_audit"
DELETES = "sync_delete_plan"
FINDING_COLUMNS = [
    "problem", "cause", "Id", "object", "prospect_id", "field", "salesforce_value", "pardot_value",
    "next_sync_value", "detail",
]
PROBLEMS = ("not_synced", "over_synced", "duplicate", "field_mapping", "not_syncing", "reverts")
PROBLEM_TITLES = {
    "not_synced": "Not synced: eligible records without a prospect",
    "over_synced": "Over-synced: prospects that should not be in Account Engagement",
    "duplicate": "Duplicates created: several prospects for one person",
    "field_mapping": "Field mapping: mapped fields whose two sides disagree, and values that would not fit",
    "not_syncing": "Value not syncing: a synced record's field never updates",
    "reverts": "Value reverts: an edit the next sync puts back",
}
# Salesforce field type -> Pardot custom field types that can hold its values.
COMPATIBLE = {
    "string": {"text", "textarea", "hidden", "dropdown", "radio button"},
    "textarea": {"text", "textarea", "hidden"},
    "email": {"text", "hidden"},
    "phone": {"text", "hidden"},
    "url": {"text", "hidden", "textarea"},
    "picklist": {"dropdown", "radio button", "text", "hidden"},
    "multipicklist": {"multi-select", "checkbox", "text", "textarea", "hidden"},
    "boolean": {"checkbox", "radio button", "dropdown", "text", "hidden"},
    "date": {"date", "text", "hidden"},
    "datetime": {"date", "text", "hidden"},
    "double": {"number", "text", "hidden"},
    "int": {"number", "text", "hidden"},
    "currency": {"number", "text", "hidden"},
    "percent": {"number", "text", "hidden"},
}
PARDOT_TEXT_LENGTH = {"text": 255, "hidden": 255, "textarea": 65535}
EMPTY_FINDINGS = (
    "SELECT NULL::VARCHAR AS problem, NULL::VARCHAR AS cause, NULL::VARCHAR AS \"Id\", NULL::VARCHAR AS object, "
    "NULL::VARCHAR AS prospect_id, NULL::VARCHAR AS field, NULL::VARCHAR AS salesforce_value, "
    "NULL::VARCHAR AS pardot_value, NULL::VARCHAR AS next_sync_value, NULL::VARCHAR AS detail WHERE false"
)


def load_metadata(path: str | Path | None) -> dict | None:
    """Read the metadata JSON (see the module doc); None when no path."""
    if path is None:
        return None
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError("file not found", str(p)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg} at line {exc.lineno})", str(p)) from None
    if not isinstance(data, dict):
        raise InputError("metadata must be a JSON object with 'salesforce' and / or 'pardot'", str(p))
    return data


# ---------------------------------------------------------------------------------------------
# Metadata from the org

#: Describe attributes kept per mapped Salesforce field.
DESCRIBE_KEYS = ("name", "label", "type", "length", "custom", "updateable", "nillable", "picklistValues")
#: Custom field attributes the Pardot API does not expose (taken from the supplement only).
NOT_IN_API = ("values", "maxLength", "syncBehavior")


def extract_sync_metadata(sf: Any, pardot: Any = None, config: Config | None = None, supplement: dict | None = None,
                          objects: tuple[str, ...] = ("Lead", "Contact")) -> dict:
    """The metadata sync health needs, read from the org: the Pardot custom field definitions (v5
    ``custom-fields``, when `pardot` is given) and the Salesforce describe of every mapped field of
    `objects` — in the format `load_metadata` reads. `supplement` (that format) adds per ``fieldId``
    what the API lacks (``values``, ``maxLength``, ``syncBehavior``: see the module doc); what the
    API says (type, salesforceId) always wins. ``sources`` says where each part came from."""
    from nayose.salesforce import api_error

    cfg = config or Config()
    extra = {str(cf.get("fieldId") or "").casefold(): cf
             for cf in ((supplement or {}).get("pardot") or {}).get("customFields") or [] if cf.get("fieldId")}
    custom: list[dict] = []
    supplemented: list[str] = []
    if pardot is not None:
        for cf in pardot.custom_fields():
            d = {k: v for k, v in cf.items() if v is not None}
            add = extra.get(str(d.get("fieldId") or "").casefold()) or {}
            taken = [k for k in NOT_IN_API if k in add and k not in d]
            d.update({k: add[k] for k in taken})
            if taken:
                supplemented.append(f"{d.get('fieldId')}: {', '.join(taken)}")
            custom.append(d)
    wanted = {cfg.sync.sharing_field.casefold()}
    for sf_fields in cfg.sync.compare_fields.values():
        wanted.update(f.casefold() for f in sf_fields if "." not in f)
    wanted.update(str(cf["salesforceId"]).casefold() for cf in custom if cf.get("salesforceId"))
    salesforce: dict[str, dict] = {}
    for obj in objects:
        try:
            desc = getattr(sf, obj).describe()
        except Exception as exc:
            raise api_error(sf, f"describe of {obj}", exc) from None
        fields = [{k: f.get(k) for k in DESCRIBE_KEYS if k in f} for f in desc.get("fields") or []
                  if str(f.get("name") or "").casefold() in wanted]
        salesforce[obj] = {"name": desc.get("name") or obj, "fields": fields}
    return {
        "salesforce": salesforce,
        "pardot": {"customFields": custom},
        "sources": {"salesforce": "describe (REST)", "pardot": "API v5 custom-fields" if pardot is not None else None,
                    "supplement": supplemented},
    }


# ---------------------------------------------------------------------------------------------
# Mappings


def _sf_describe(metadata: dict | None) -> dict[str, dict]:
    """Salesforce field name (case-folded) -> its describe entry (first object that has it)."""
    out: dict[str, dict] = {}
    for _obj, desc in ((metadata or {}).get("salesforce") or {}).items():
        for f in (desc or {}).get("fields") or []:
            if isinstance(f, dict) and f.get("name"):
                out.setdefault(str(f["name"]).casefold(), f)
    return out


def mappings(con: duckdb.DuckDBPyConnection, config: Config, records: str, prospects: str, metadata: dict | None) -> list[dict]:
    """Every mapped field: standard ones from `sync.compare_fields`, custom ones from the Pardot
    custom field definitions (salesforceId). Only fields both tables hold are compared."""
    rc, pcols = columns(con, records), columns(con, prospects)
    describe = _sf_describe(metadata)
    out: list[dict] = []
    for pfield, sf_fields in config.sync.compare_fields.items():
        present = [f for f in sf_fields if f.casefold() in rc]
        if present and pfield.casefold() in pcols:
            out.append({"pardot_field": pfield, "prospect_column": pcols[pfield.casefold()], "sf_fields": present,
                        "custom": False, "definition": None, "describe": describe.get(present[0].casefold())})
    for cf in ((metadata or {}).get("pardot") or {}).get("customFields") or []:
        sf = cf.get("salesforceId")
        fid = cf.get("fieldId") or cf.get("name")
        if not sf or not fid:
            continue
        column = next((pcols[c.casefold()] for c in (fid, f"{fid}__c") if c.casefold() in pcols), None)
        out.append({"pardot_field": fid, "prospect_column": column, "sf_fields": [sf] if sf.casefold() in rc else [],
                    "custom": True, "definition": cf, "describe": describe.get(sf.casefold())})
    return out


def _behavior(config: Config, m: dict) -> str:
    sf = m["sf_fields"][0] if m["sf_fields"] else ""
    if sf in config.sync.field_behaviors:
        return config.sync.field_behaviors[sf]
    sb = str((m.get("definition") or {}).get("syncBehavior") or "").strip().casefold().replace(" ", "_")
    aliases = {"salesforce": "salesforce", "use_salesforce": "salesforce", "use_salesforce's_value": "salesforce",
               "pardot": "pardot", "account_engagement": "pardot", "use_pardot": "pardot",
               "use_account_engagement's_value": "pardot", "most_recent": "most_recent", "most_recently_updated": "most_recent"}
    return aliases.get(sb, config.sync.default_behavior)


def _fit_sql(value: str, ptype: str, values: list[str] | None, max_len: int | None) -> str:
    """SQL: the value fits the Pardot field (type, allowed values, length)."""
    t = ptype.casefold()
    if t == "number":
        return f"regexp_full_match({value}, '-?[0-9]+(\\.[0-9]+)?')"
    if t == "date":
        return f"try_cast(left({value}, 10) AS DATE) IS NOT NULL"
    if values and t in ("dropdown", "radio button"):
        return f"{value} IN ({', '.join(lit(v) for v in values)})"
    if values and t in ("multi-select", "checkbox"):
        return (f"list_bool_and(list_transform(string_split({value}, ';'), x -> trim(x) IN "
                f"({', '.join(lit(v) for v in values)})))")
    limit = max_len or PARDOT_TEXT_LENGTH.get(t)
    return f"length({value}) <= {int(limit)}" if limit else "true"


def audit_fields(con: duckdb.DuckDBPyConnection, config: Config, records: str, maps: list[dict]) -> list[str]:
    """Create `field_mapping_audit`; return SELECTs of per-record value_does_not_fit findings."""
    rows, selects = [], []
    rc = columns(con, records)
    for m in maps:
        if not m["custom"]:
            continue
        d = m["definition"] or {}
        desc = m["describe"] or {}
        sf = m["sf_fields"][0] if m["sf_fields"] else (d.get("salesforceId") or "")
        ptype = str(d.get("type") or "Text")
        stype = str(desc.get("type") or "").casefold()
        slen = desc.get("length") if isinstance(desc.get("length"), int) and desc.get("length") else None
        values = [str(v.get("value") if isinstance(v, dict) else v) for v in (d.get("values") or [])]
        plen = d.get("maxLength") if isinstance(d.get("maxLength"), int) else PARDOT_TEXT_LENGTH.get(ptype.casefold())
        sf_values = [str(v.get("value")) for v in desc.get("picklistValues") or [] if isinstance(v, dict) and v.get("active", True)]
        problem, detail = None, ""
        if not m["sf_fields"]:
            problem, detail = "unmapped_field", f"Salesforce field {sf} is not in the records export"
        elif m["prospect_column"] is None:
            problem, detail = "unmapped_field", f"prospect column {m['pardot_field']} is not in the prospects export"
        elif stype and stype in COMPATIBLE and ptype.casefold() not in COMPATIBLE[stype]:
            problem, detail = "type_mismatch", f"Salesforce {stype} cannot be stored in a Pardot {ptype} field"
        elif values and ptype.casefold() in ("dropdown", "radio button", "multi-select", "checkbox") and (
                sf_values and set(sf_values) - set(values)):
            missing = [v for v in sf_values if v not in set(values)]
            problem, detail = "picklist_mismatch", f"Salesforce values missing in Pardot: {', '.join(missing)}"
        elif slen and plen and ptype.casefold() in PARDOT_TEXT_LENGTH and slen > plen:
            problem, detail = "length_mismatch", f"Salesforce length {slen} > Pardot max length {plen}"
        not_fit = 0
        if m["sf_fields"]:
            v = col(rc, sf)
            fits = _fit_sql(v, ptype, values, plen if ptype.casefold() in PARDOT_TEXT_LENGTH else None)
            why = {"type_mismatch": f"a {stype or 'text'} value in a Pardot {ptype} field"}.get(problem or "", "")
            cond = f"{v} IS NOT NULL AND NOT coalesce({fits}, false)"
            not_fit = int(con.execute(f"SELECT count(*) FROM {q(records)} r WHERE {cond}").fetchall()[0][0])
            if not_fit:
                reason = why or (f"not one of the Pardot {ptype} values" if values and ptype.casefold() in (
                    "dropdown", "radio button", "multi-select", "checkbox") else
                    (f"longer than {plen} characters" if ptype.casefold() in PARDOT_TEXT_LENGTH else f"not a {ptype}"))
                selects.append(
                    f"""SELECT 'field_mapping' AS problem, 'value_does_not_fit' AS cause, r."Id", {col(rc, 'Object')} AS object,
                           NULL::VARCHAR AS prospect_id, {lit(sf)} AS field, {v} AS salesforce_value, NULL::VARCHAR AS pardot_value,
                           NULL::VARCHAR AS next_sync_value,
                           {lit(f"{sf} -> Pardot {m['pardot_field']}: ")} || {v} || {lit(' is ' + reason)} AS detail
                        FROM {q(records)} r WHERE {cond}"""
                )
        if problem is not None:
            selects.append(
                f"""SELECT 'field_mapping', {lit(problem)}, NULL, NULL, NULL, {lit(sf)}, {lit(stype or '')}, {lit(ptype)}, NULL,
                       {lit(f"{sf} -> Pardot {m['pardot_field']}: {detail}" + (f"; {not_fit:,} record(s) hold a value that does not fit" if not_fit else ""))}"""
            )
        rows.append((sf, m["pardot_field"], m["prospect_column"], stype or None, ptype, slen, plen,
                     _behavior(config, m), problem, detail or None, not_fit))
    con.execute(
        f"""CREATE OR REPLACE TABLE {AUDIT} (salesforce_field VARCHAR, pardot_field VARCHAR, prospect_column VARCHAR,
            salesforce_type VARCHAR, pardot_type VARCHAR, salesforce_length INTEGER, pardot_length INTEGER, behavior VARCHAR,
            problem VARCHAR, detail VARCHAR, records_not_fitting BIGINT)"""
    )
    if rows:
        con.executemany(f"INSERT INTO {AUDIT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return selects


# ---------------------------------------------------------------------------------------------
# Diagnosis


def _nfkc_table(con: duckdb.DuckDBPyConnection, name: str, values: list[str]) -> None:
    """Temp table name(v, k): each value and its compare key (NFKC, whitespace collapsed, trimmed)."""
    arr = pa.array(values, pa.string())
    key = pac.utf8_trim_whitespace(pac.replace_substring_regex(pac.utf8_normalize(arr, "NFKC"), r"\s+", " "))
    con.register("_nayose_nfkc", pa.table({"v": arr, "k": key}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {q(name)} AS SELECT DISTINCT v, k FROM _nayose_nfkc")
    con.unregister("_nayose_nfkc")


def _value_selects(con: duckdb.DuckDBPyConnection, config: Config, records: str, maps: list[dict]) -> list[str]:
    """Long table of differing values on synced records -> not_syncing / reverts SELECTs."""
    rc = columns(con, records)
    parts = []
    audit = {r[0]: r for r in con.execute(f"SELECT pardot_field, problem FROM {AUDIT}").fetchall()}
    for m in maps:
        if not m["sf_fields"] or m["prospect_column"] is None:
            continue
        if m["custom"] and audit.get(m["pardot_field"], (None, None))[1] == "unmapped_field":
            continue
        sfv = "coalesce(" + ", ".join(col(rc, f) for f in m["sf_fields"]) + ")" if len(m["sf_fields"]) > 1 else col(rc, m["sf_fields"][0])
        pdv = f"nullif(trim(CAST(p.{q(m['prospect_column'])} AS VARCHAR)), '')"
        desc = m["describe"] or {}
        is_bool = (str(desc.get("type") or "").casefold() == "boolean"
                   or m["pardot_field"].casefold() in ("optedout", "isdonotemail", "isdonotcall"))
        kind = "bool" if is_bool else ("email" if m["pardot_field"].casefold() == "email" else "text")
        fit = "true"
        d = m["definition"] or {}
        if m["custom"]:
            ptype = str(d.get("type") or "Text")
            values = [str(v.get("value") if isinstance(v, dict) else v) for v in (d.get("values") or [])]
            plen = d.get("maxLength") if isinstance(d.get("maxLength"), int) else None
            fit = f"coalesce({_fit_sql('s.sf', ptype, values, plen if ptype.casefold() in PARDOT_TEXT_LENGTH else None)}, true)"
        parts.append((
            f"""SELECT l."Id", l.prospect_id, {lit('/'.join(m['sf_fields']))} AS field,
                   {lit(m['pardot_field'])} AS pardot_field, {lit(_behavior(config, m))} AS behavior, {lit(kind)} AS kind,
                   {sfv} AS sf, {pdv} AS pd FROM _sh_links l JOIN {q(records)} r ON r."Id" = l."Id"
                   JOIN _sh_prospects_raw p ON p._pid = l.prospect_id""",
            fit,
        ))
    if not parts:
        return []
    # Differences on raw text first (cheap); NFKC only for the values that differ.
    fits = {i: fit for i, (_, fit) in enumerate(parts)}
    union = [f"SELECT {i} AS map_no, * FROM ({body})" for i, (body, _) in enumerate(parts)]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sh_diff AS SELECT * FROM ({' UNION ALL '.join(union)}) s
            WHERE s.sf IS DISTINCT FROM s.pd"""
    )
    vals = [v for (v,) in con.execute("SELECT sf FROM _sh_diff WHERE sf IS NOT NULL UNION SELECT pd FROM _sh_diff WHERE pd IS NOT NULL").fetchall()]
    _nfkc_table(con, "_sh_keys", vals)
    fit_case = "CASE s.map_no " + " ".join(f"WHEN {i} THEN {f}" for i, f in fits.items()) + " END"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sh_diff2 AS
            SELECT s.*, {fit_case} AS sf_fits FROM (
                SELECT d.*, ks.k AS sk, kp.k AS pk FROM _sh_diff d
                LEFT JOIN _sh_keys ks ON ks.v = d.sf LEFT JOIN _sh_keys kp ON kp.v = d.pd) s
            WHERE CASE s.kind WHEN 'bool' THEN {truthy('s.sf')} <> {truthy('s.pd')}
                              WHEN 'email' THEN lower(s.sk) IS DISTINCT FROM lower(s.pk)
                              ELSE s.sk IS DISTINCT FROM s.pk END"""
    )
    return ["SELECT * FROM _sh_values"]


def diagnose(
    con: duckdb.DuckDBPyConnection, config: Config, records: str = "raw_records", prospects: str | None = "pardot_prospects",
    metadata: dict | None = None, plan_id: str = "", eligibility: str = ELIGIBILITY,
) -> StageResult:
    """Create sync_findings, field_mapping_audit and sync_delete_plan (see the module doc)."""
    result = StageResult(stage=STAGE, table=FINDINGS)
    with timed(result):
        rc = columns(con, records)
        selects: list[str] = []
        pending = 0
        if prospects is None:
            con.execute(f"CREATE OR REPLACE TABLE {AUDIT} (salesforce_field VARCHAR, pardot_field VARCHAR, prospect_column VARCHAR, "
                        "salesforce_type VARCHAR, pardot_type VARCHAR, salesforce_length INTEGER, pardot_length INTEGER, "
                        "behavior VARCHAR, problem VARCHAR, detail VARCHAR, records_not_fitting BIGINT)")
            con.execute(f"CREATE OR REPLACE TABLE {DELETES} (plan_id VARCHAR, \"Id\" VARCHAR, object VARCHAR, reason VARCHAR, as_of VARCHAR, "
                        "reason_code VARCHAR)")
        else:
            pc = columns(con, prospects)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _sh_prospects_raw AS SELECT {col(pc, 'id', 'p')} AS _pid, p.* FROM {q(prospects)} p")
            con.execute(f"CREATE OR REPLACE TEMP TABLE _sh_all_p AS {prospect_link_sql(con, prospects)}")
            con.execute("CREATE OR REPLACE TEMP TABLE _sh_p AS SELECT * FROM _sh_all_p WHERE NOT is_deleted")
            con.execute("""CREATE OR REPLACE TEMP TABLE _sh_recycled AS SELECT crm_id, min(prospect_id) AS prospect_id
                           FROM _sh_all_p WHERE is_deleted AND crm_id IS NOT NULL GROUP BY crm_id""")
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _sh_rec AS
                    -- (the eligibility's email: a Person Account's is its PersonEmail)
                    SELECT r."Id", {record_crm_key(rc)} AS crm_id, {col(rc, 'Object')} AS object,
                           lower(e.email) AS email_key, e.email,
                           {ts_sql(col(rc, 'LastModifiedDate'))} AS modified, {ts_sql(col(rc, 'CreatedDate'))} AS created,
                           e.eligible, e.reason_code, e.reason, e.mailable, e.within_cap, e.cap_explanation, e.sync_current,
                           e.sync_target, e.is_card
                    FROM {q(records)} r JOIN {q(eligibility)} e USING ("Id")"""
            )
            # Live prospects per CRM ID, and the one-to-one links the value comparison uses.
            con.execute(
                """CREATE OR REPLACE TEMP TABLE _sh_links AS
                   SELECT r."Id", p.prospect_id, p.updated_at, p.last_sync, r.modified
                   FROM _sh_rec r JOIN _sh_p p ON p.crm_id = r.crm_id
                   WHERE r.crm_id IN (SELECT crm_id FROM _sh_p WHERE crm_id IS NOT NULL GROUP BY crm_id HAVING count(*) = 1)"""
            )
            watermark = con.execute("SELECT max(coalesce(last_sync, updated_at)) FROM _sh_p").fetchall()[0][0]
            wm = f"TIMESTAMP {lit(str(watermark))}" if watermark is not None else "NULL::TIMESTAMP"
            inc = lit(config.sync.include_value)
            already_included = same_setting_sql("r.sync_current", inc)  # (the sharing field already says include)

            # --- not synced
            selects.append(
                f"""SELECT 'not_synced' AS problem,
                       CASE WHEN r.email_key IS NULL THEN 'no_email'
                            WHEN NOT regexp_full_match(r.email, {lit(_email_rx())}) THEN 'invalid_email'
                            WHEN r.sync_current IS NOT NULL AND NOT {already_included} THEN 'sharing_rule_excludes'
                            WHEN rb.prospect_id IS NOT NULL THEN 'prospect_in_recycle_bin'
                            WHEN o.prospect_id IS NOT NULL THEN 'email_on_other_prospect'
                            WHEN u.prospect_id IS NOT NULL THEN 'unlinked_prospect_has_email'
                            WHEN {wm} IS NOT NULL AND r.created > {wm} THEN 'new_since_last_sync'
                            ELSE 'unknown' END AS cause,
                       r."Id", r.object, coalesce(rb.prospect_id, o.prospect_id, u.prospect_id) AS prospect_id,
                       CASE WHEN r.sync_current IS NOT NULL AND NOT {already_included} THEN {lit(config.sync.sharing_field)} END AS field,
                       r.email AS salesforce_value, coalesce(o.email, u.email) AS pardot_value, NULL::VARCHAR AS next_sync_value,
                       CASE WHEN r.email_key IS NULL THEN 'eligible but no email: a prospect needs one'
                            WHEN NOT regexp_full_match(r.email, {lit(_email_rx())}) THEN 'eligible but the email is not valid as written'
                            WHEN r.sync_current IS NOT NULL AND NOT {already_included} THEN
                                 {lit(config.sync.sharing_field + ' = ')} || r.sync_current || ': the Marketing Data Sharing rule keeps it out (the flag plan sets it to ' || {inc} || ')'
                            WHEN rb.prospect_id IS NOT NULL THEN 'its prospect ' || rb.prospect_id || ' is in the Account Engagement recycle bin: '
                                 || 'a recycled prospect does not sync; undelete it (do/undelete) to keep its history'
                            WHEN o.prospect_id IS NOT NULL THEN 'its email is on prospect ' || o.prospect_id || ', synced to ' || o.crm_id_raw
                            WHEN u.prospect_id IS NOT NULL THEN 'prospect ' || u.prospect_id || ' has its email but no CRM ID: it syncs to the first record with that email'
                            WHEN {wm} IS NOT NULL AND r.created > {wm} THEN 'created ' || strftime(r.created, '%Y-%m-%d %H:%M') || ', after the newest sync in the export: the next sync takes it'
                            ELSE 'no prospect and no cause in the data: check the connector user''s access and the sync error queue' END AS detail
                    FROM _sh_rec r
                    LEFT JOIN (SELECT email_key, arg_min(prospect_id, TRY_CAST(prospect_id AS BIGINT)) AS prospect_id, arg_min(email, TRY_CAST(prospect_id AS BIGINT)) AS email,
                                      arg_min(crm_id_raw, TRY_CAST(prospect_id AS BIGINT)) AS crm_id_raw, list(crm_id) AS crm_ids
                               FROM _sh_p WHERE crm_id IS NOT NULL GROUP BY email_key) o ON o.email_key = r.email_key
                    LEFT JOIN (SELECT email_key, min(prospect_id) AS prospect_id, min(email) AS email FROM _sh_p
                               WHERE crm_id IS NULL GROUP BY email_key) u ON u.email_key = r.email_key
                    LEFT JOIN _sh_recycled rb ON rb.crm_id = r.crm_id
                    WHERE r.sync_target = {inc} AND r.crm_id NOT IN (SELECT crm_id FROM _sh_p WHERE crm_id IS NOT NULL)"""
            )
            # --- over-synced
            selects.append(
                f"""SELECT 'over_synced', CASE WHEN r.eligible THEN 'over_cap' ELSE r.reason_code END, r."Id", r.object, p.prospect_id,
                       NULL, r.email, p.email, NULL,
                       CASE WHEN r.eligible THEN 'over the mailable cap: ' || r.cap_explanation ELSE r.reason END
                    FROM _sh_p p JOIN _sh_rec r ON r.crm_id = p.crm_id
                    WHERE NOT r.eligible OR (r.mailable AND NOT r.within_cap)"""
            )
            prefixes = [x for (x,) in con.execute("SELECT DISTINCT left(crm_id, 3) FROM _sh_rec").fetchall()]
            if prefixes:
                selects.append(
                    f"""SELECT 'over_synced', 'orphan', p.crm_id_raw, NULL, p.prospect_id, NULL, NULL, p.email, NULL,
                           'CRM ID ' || p.crm_id_raw || ' is not in the Salesforce export: deleted, merged away or never visible'
                        FROM _sh_p p WHERE p.crm_id IS NOT NULL AND left(p.crm_id, 3) IN ({', '.join(lit(x) for x in prefixes)})
                          AND p.crm_id NOT IN (SELECT crm_id FROM _sh_rec)"""
                )
            # --- duplicates
            con.execute(
                """CREATE OR REPLACE TEMP TABLE _sh_same_crm AS
                   SELECT p.*, r."Id", r.object, r.email_key AS rec_email,
                          row_number() OVER (PARTITION BY p.crm_id ORDER BY (p.email_key IS NOT DISTINCT FROM r.email_key) DESC,
                                             p.created_at ASC NULLS LAST, TRY_CAST(p.prospect_id AS BIGINT), p.prospect_id) AS keep_rank,
                          count(DISTINCT p.email_key) OVER (PARTITION BY p.crm_id) AS n_emails,
                          string_agg(p.prospect_id || ' <' || coalesce(p.email, '') || '>', ', ') OVER (PARTITION BY p.crm_id) AS members
                   FROM _sh_p p LEFT JOIN _sh_rec r ON r.crm_id = p.crm_id
                   WHERE p.crm_id IN (SELECT crm_id FROM _sh_p WHERE crm_id IS NOT NULL GROUP BY crm_id HAVING count(*) > 1)"""
            )
            selects.append(
                """SELECT 'duplicate', 'same_crm_id', coalesce("Id", crm_id_raw), object, prospect_id, NULL, NULL, email, NULL,
                       'prospects ' || members || ' share CRM ID ' || crm_id_raw ||
                       CASE WHEN n_emails > 1 THEN ' with different emails (an email change: Send to Pardot, or email changes not syncing)'
                            ELSE ' with one email (a retried create or a re-import)' END ||
                       CASE WHEN keep_rank = 1 THEN '; keep this one' ELSE '; delete (keeps the prospect with the record''s email, else the oldest)' END
                   FROM _sh_same_crm"""
            )
            selects.append(
                """SELECT 'duplicate', 'same_email_different_crm_ids', p.crm_id_raw, r.object, p.prospect_id, NULL, NULL, p.email, NULL,
                       'email ' || p.email_key || ' is on prospects of ' || g.n || ' records (' || g.ids ||
                       '): Salesforce duplicates to merge (the merge plan; Pardot recycles the loser''s prospect), or a shared address'
                   FROM _sh_p p LEFT JOIN _sh_rec r ON r.crm_id = p.crm_id
                   JOIN (SELECT email_key, count(DISTINCT crm_id) AS n, string_agg(DISTINCT crm_id_raw, ', ' ORDER BY crm_id_raw) AS ids
                         FROM _sh_p WHERE crm_id IS NOT NULL AND email_key IS NOT NULL GROUP BY email_key HAVING count(DISTINCT crm_id) > 1) g
                     ON g.email_key = p.email_key
                   WHERE p.crm_id IS NOT NULL"""
            )
            selects.append(
                """SELECT 'duplicate', 'no_crm_id_beside_record', NULL, NULL, p.prospect_id, NULL, NULL, p.email, NULL,
                       'prospect without CRM ID beside record(s) ' || g.ids || ' with its email: it syncs to the first of them '
                       || 'or stays a duplicate; merge its activity into the synced prospect'
                   FROM _sh_p p JOIN (SELECT email_key, string_agg("Id", ', ' ORDER BY created, "Id") AS ids FROM _sh_rec
                                      WHERE email_key IS NOT NULL GROUP BY email_key) g ON g.email_key = p.email_key
                   WHERE p.crm_id IS NULL"""
            )
            # --- field mapping audit and values
            maps = mappings(con, config, records, prospects, metadata)
            selects += audit_fields(con, config, records, maps)
            value_parts = _value_selects(con, config, records, maps)
            selects += value_parts
            if value_parts:
                protect = "true" if config.sync.protect_card_values else "false"
                consent = ", ".join(lit(f) for f in CONSENT_FIELDS)
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE _sh_values_all AS
                        WITH d AS (
                            SELECT d.*, l.modified AS sf_ts, l.updated_at AS pd_ts, l.last_sync, r.object, r.is_card,
                                   CASE WHEN d.pd IS NULL THEN 'salesforce' WHEN d.sf IS NULL THEN 'pardot'
                                        WHEN d.behavior = 'salesforce' THEN 'salesforce' WHEN d.behavior = 'pardot' THEN 'pardot'
                                        WHEN l.updated_at > l.modified THEN 'pardot' ELSE 'salesforce' END AS winner
                            FROM _sh_diff2 d JOIN _sh_links l USING ("Id", prospect_id) JOIN _sh_rec r USING ("Id"))
                        SELECT *, CASE WHEN winner = 'salesforce' THEN sf ELSE pd END AS next_value,
                               CASE WHEN winner = 'salesforce' THEN sf_ts ELSE pd_ts END AS win_ts,
                               CASE WHEN winner = 'salesforce' THEN pd_ts ELSE sf_ts END AS lose_ts,
                               CASE
                                 -- (consent is the person's latest word, not a card's value: an unsubscribe in
                                 -- Pardot is no card value being overwritten)
                                 WHEN {protect} AND is_card AND winner = 'pardot' AND sf IS NOT NULL
                                      AND NOT list_has_any(string_split(field, '/'), [{consent}]) THEN 'reverts:card_value_overwritten'
                                 WHEN winner = 'salesforce' AND sf IS NOT NULL AND NOT sf_fits THEN 'not_syncing:value_does_not_fit'
                                 WHEN (sf IS NULL OR pd IS NULL) AND (CASE WHEN sf IS NULL THEN sf_ts > pd_ts ELSE pd_ts > sf_ts END)
                                      THEN 'reverts:cleared_value_refilled'
                                 WHEN behavior = 'salesforce' AND sf IS NOT NULL AND pd IS NOT NULL AND pd_ts > sf_ts THEN 'reverts:pardot_edit_overwritten'
                                 WHEN behavior = 'pardot' AND sf IS NOT NULL AND pd IS NOT NULL AND sf_ts > pd_ts THEN 'reverts:salesforce_edit_overwritten'
                                 WHEN last_sync IS NULL THEN 'not_syncing:differs_no_sync_time'
                                 WHEN last_sync >= (CASE WHEN winner = 'salesforce' THEN sf_ts ELSE pd_ts END) THEN 'not_syncing:not_carried_by_sync'
                                 ELSE 'pending' END AS verdict
                        FROM d"""
                )
                pending = int(con.execute("SELECT count(*) FROM _sh_values_all WHERE verdict = 'pending'").fetchall()[0][0])
                con.execute(
                    """CREATE OR REPLACE TEMP TABLE _sh_values AS
                       SELECT split_part(verdict, ':', 1) AS problem, split_part(verdict, ':', 2) AS cause, "Id", object, prospect_id,
                              field, sf AS salesforce_value, pd AS pardot_value, next_value AS next_sync_value,
                              CASE split_part(verdict, ':', 2)
                                WHEN 'card_value_overwritten' THEN 'business-card value ' || sf || ' would be replaced by Pardot''s ' || pd
                                     || ' (' || behavior || '; Pardot updated ' || strftime(pd_ts, '%Y-%m-%d') || ')'
                                WHEN 'cleared_value_refilled' THEN 'cleared in ' || CASE WHEN sf IS NULL THEN 'Salesforce' ELSE 'Pardot' END
                                     || ' (' || strftime(CASE WHEN sf IS NULL THEN sf_ts ELSE pd_ts END, '%Y-%m-%d') || ') but a value always beats a blank: '
                                     || next_value || ' comes back'
                                WHEN 'pardot_edit_overwritten' THEN 'edited in Pardot (' || strftime(pd_ts, '%Y-%m-%d') || ') after Salesforce ('
                                     || strftime(sf_ts, '%Y-%m-%d') || '), but ' || pardot_field || ' uses Salesforce''s value: ' || sf || ' comes back'
                                WHEN 'salesforce_edit_overwritten' THEN 'edited in Salesforce (' || strftime(sf_ts, '%Y-%m-%d') || ') after Pardot ('
                                     || strftime(pd_ts, '%Y-%m-%d') || '), but ' || pardot_field || ' uses Pardot''s value: ' || pd || ' comes back'
                                WHEN 'value_does_not_fit' THEN sf || ' cannot be written to the Pardot field ' || pardot_field || ' (see the field mapping audit)'
                                WHEN 'not_carried_by_sync' THEN 'the last sync (' || strftime(last_sync, '%Y-%m-%d %H:%M') || ') came after the winning edit ('
                                     || strftime(win_ts, '%Y-%m-%d %H:%M') || ') but did not carry it: field not synced (connector user''s field access, read-only or unmapped on one side)'
                                ELSE 'values differ (' || behavior || '); the export has no crmLastSync to tell a pending sync from a broken one' END AS detail
                       FROM _sh_values_all WHERE verdict <> 'pending'"""
                )
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _sh_values AS {EMPTY_FINDINGS}")

            # --- prospect delete plan
            # Not planned for deletion: the prospect of a converted Lead (the next sync moves it to the
            # Contact), of a merged-away or deleted record (Account Engagement recycles it itself after
            # copying its activities to the winner's), an over-synced prospect active in the last year
            # before the export's newest sync, and an extra prospect of a CRM ID with a score or an
            # activity (its history would be lost: the findings list it, a person merges it in the UI).
            con.execute(
                f"""CREATE OR REPLACE TABLE {DELETES} AS
                    SELECT {lit(plan_id)} AS plan_id, prospect_id AS "Id", 'Prospect' AS object, arg_min(reason, ord) AS reason,
                           arg_min(as_of, ord) AS as_of, arg_min(reason_code, ord) AS reason_code
                    FROM (
                        SELECT p.prospect_id, 1 AS ord,
                               'over-synced: ' || CASE WHEN r.eligible THEN 'over the mailable cap: ' || r.cap_explanation ELSE r.reason END
                               || ' (Salesforce ' || r."Id" || ')' AS reason,
                               strftime(p.updated_at, '%Y-%m-%dT%H:%M:%SZ') AS as_of,
                               CASE WHEN r.eligible THEN 'over_cap' ELSE r.reason_code END AS reason_code
                        FROM _sh_p p JOIN _sh_rec r ON r.crm_id = p.crm_id
                        WHERE (NOT r.eligible OR (r.mailable AND NOT r.within_cap))
                          AND coalesce(r.reason_code, '') NOT IN ('converted', 'deleted')
                          AND NOT coalesce(p.last_activity >= coalesce({wm}, now()::TIMESTAMP) - INTERVAL 365 DAY, false)
                        UNION ALL
                        SELECT prospect_id, 2, 'duplicate prospect of CRM ID ' || crm_id_raw || ' (' || members || '); keeps ' || kept,
                               strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ'), 'duplicate_prospect'
                        FROM (SELECT *, first_value(prospect_id) OVER (PARTITION BY crm_id ORDER BY keep_rank) AS kept FROM _sh_same_crm)
                        WHERE keep_rank > 1 AND NOT engaged)
                    GROUP BY prospect_id ORDER BY TRY_CAST(prospect_id AS BIGINT), prospect_id"""
            )
        _create_findings(con, selects)
        for t in ("_sh_prospects_raw", "_sh_all_p", "_sh_recycled", "_sh_p", "_sh_rec", "_sh_links", "_sh_same_crm", "_sh_diff", "_sh_keys", "_sh_diff2",
                  "_sh_values_all", "_sh_values"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        by = con.execute(f"SELECT problem, cause, count(*) FROM {FINDINGS} GROUP BY ALL ORDER BY ALL").fetchall()
        result.rows = int(sum(n for _, _, n in by))
        stats: dict[str, Any] = {"findings": {}, "pending_values": pending,
                                 "prospect_deletes": int(con.execute(f"SELECT count(*) FROM {DELETES}").fetchall()[0][0])}
        for p, c, n in by:
            stats["findings"].setdefault(p, {})[c] = int(n)
        if prospects is not None:
            stats["prospects"] = int(con.execute(f"SELECT count(*) FROM {q(prospects)}").fetchall()[0][0])
        result.stats = stats
    return result


def _email_rx() -> str:
    from nayose.eligibility import EMAIL_AS_WRITTEN

    return EMAIL_AS_WRITTEN


def _create_findings(con: duckdb.DuckDBPyConnection, selects: list[str]) -> None:
    names = ", ".join(q(c) for c in FINDING_COLUMNS)
    parts = [EMPTY_FINDINGS] + [f"SELECT * FROM ({s})" for s in selects]
    # Positional union: every SELECT lists the finding columns in order.
    body = " UNION ALL ".join(f"SELECT * FROM ({p}) AS t({names})" for p in parts)
    order = ", ".join(lit(p) for p in PROBLEMS)
    con.execute(
        f"""CREATE OR REPLACE TABLE {FINDINGS} AS
            SELECT problem, cause, "Id", object, CAST(prospect_id AS VARCHAR) AS prospect_id, field, salesforce_value,
                   pardot_value, next_sync_value, detail
            FROM ({body})
            ORDER BY list_position([{order}], problem), cause, "Id" NULLS LAST, TRY_CAST(prospect_id AS BIGINT), prospect_id, field"""
    )


# ---------------------------------------------------------------------------------------------
# Report


def _md_table(headers: list[str], rows: list) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def health_markdown(con: duckdb.DuckDBPyConnection, examples: int = 3, eligibility: str = ELIGIBILITY) -> str:
    """The sync_health report: eligibility and the cap, counts per problem and cause with example
    records, the field mapping audit."""
    parts = ["# Sync health (Salesforce ↔ Account Engagement)"]
    e = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE eligible), count(*) FILTER (WHERE mailable),
                   count(*) FILTER (WHERE mailable AND within_cap), count(*) FILTER (WHERE mailable AND NOT within_cap),
                   max(as_of), max(cap_rank)
            FROM {q(eligibility)}"""
    ).fetchall()[0]
    cap = con.execute(f"SELECT count(*) FILTER (WHERE within_cap) + count(*) FILTER (WHERE NOT within_cap) FROM {q(eligibility)}").fetchall()[0][0]
    parts.append(
        "## Which records may sync\n\n"
        + _md_table(["records", "eligible", "mailable", "within the cap", "dropped over the cap", "as of"],
                    [(e[0], e[1], e[2], e[3], e[4], str(e[5])[:10] if e[5] else "")])
        + "\n\n" + _md_table(
            ["not eligible because", "records", "example"],
            con.execute(f"""SELECT reason_code, count(*), arg_min("Id" || ': ' || reason, "Id") FROM {q(eligibility)}
                            WHERE NOT eligible GROUP BY 1 ORDER BY 2 DESC, 1""").fetchall())
    )
    del cap
    if _exists(con, "sync_cap"):
        contract, unlinked, for_records = con.execute("SELECT * FROM sync_cap").fetchall()[0]
        if unlinked:
            parts.append(f"The cap of {contract:,} mailable prospects: {unlinked:,} slot(s) are taken by mailable prospects "
                         f"without a CRM ID whose email is on no Salesforce record (form fills, imports), so "
                         f"{for_records:,} remain for the records.")
    flags = con.execute(f"SELECT value, count(*) FROM {'flag_plan'} GROUP BY 1 ORDER BY 1").fetchall() if _exists(con, "flag_plan") else []
    if flags:
        parts.append("Flag plan (`flag_plan.csv`): " + ", ".join(f"{n:,} record(s) set to {v}" for v, n in flags) + ".")
    dropped = con.execute(
        f"""SELECT "Id", cap_explanation FROM {q(eligibility)} WHERE mailable AND NOT within_cap ORDER BY cap_rank LIMIT {examples}"""
    ).fetchall()
    if dropped:
        parts.append("First records dropped by the cap:\n\n" + _md_table(["Id", "why"], dropped))
    if not _exists(con, FINDINGS):
        return "\n\n".join(parts) + "\n"
    counts = con.execute(f"SELECT problem, cause, count(*) FROM {FINDINGS} GROUP BY ALL").fetchall()
    by_problem: dict[str, list] = {}
    for p, c, n in counts:
        by_problem.setdefault(p, []).append((c, n))
    parts.append("## Problems found\n\n" + _md_table(
        ["problem", "findings", "causes"],
        [(p, sum(n for _, n in by_problem.get(p, [])), ", ".join(f"{c} {n:,}" for c, n in sorted(by_problem.get(p, []), key=lambda x: -x[1])))
         for p in PROBLEMS]))
    for p in PROBLEMS:
        causes = sorted(by_problem.get(p, []), key=lambda x: (-x[1], x[0]))
        section = [f"### {PROBLEM_TITLES[p]}"]
        if not causes:
            section.append("None found.")
        for c, n in causes:
            rows = con.execute(
                f"""SELECT coalesce("Id", ''), coalesce(prospect_id, ''), coalesce(field, ''), detail FROM {FINDINGS}
                    WHERE problem = ? AND cause = ? ORDER BY "Id" NULLS LAST, prospect_id LIMIT {examples}""", [p, c]
            ).fetchall()
            section.append(f"**{c}** — {n:,}\n\n" + _md_table(["Id", "prospect", "field", "detail"], rows))
        parts.append("\n\n".join(section))
    if _exists(con, AUDIT):
        rows = con.execute(
            f"""SELECT salesforce_field, pardot_field, coalesce(salesforce_type, '') || coalesce(' (' || salesforce_length || ')', ''),
                       pardot_type || coalesce(' (' || pardot_length || ')', ''), behavior, coalesce(problem, 'ok'), coalesce(detail, ''),
                       records_not_fitting FROM {AUDIT} ORDER BY problem IS NULL, salesforce_field"""
        ).fetchall()
        if rows:
            parts.append("## Field mapping audit\n\n" + _md_table(
                ["Salesforce field", "Pardot field", "Salesforce type", "Pardot type", "sync behaviour", "problem", "detail",
                 "records not fitting"], rows))
    if _exists(con, DELETES):
        n = con.execute(f"SELECT count(*) FROM {DELETES}").fetchall()[0][0]
        parts.append(f"Prospect delete plan (`sync_delete_plan.csv`, object Prospect): {n:,} prospect(s), applied only after approval.")
    return "\n\n".join(parts) + "\n"


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()[0][0])


def write_health_outputs(con: duckdb.DuckDBPyConnection, out_dir: str | Path, eligibility: str = ELIGIBILITY,
                         plan_id: str | None = None) -> dict:
    """sync_health.md, sync_health.csv, sync_delete_plan.csv, sync_eligibility.csv, flag_plan.csv and sync_plan.json
    (plan_id, kind "sync", created_at, no clusters: `nayose.apply.apply_plan("sync_plan.json",
    deletes="sync_delete_plan.csv")` takes the prospect deletes through the journal). `plan_id`: the
    sync plan's id (default: the one the flag / delete plan rows carry), so a plan with nothing to
    change still has its id and can be registered for review (`nayose.review.register_plan`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = write_eligibility_outputs(con, out, eligibility)
    (out / "sync_health.md").write_text(health_markdown(con, eligibility=eligibility), encoding="utf-8")
    counts["sync_health"] = write_csv(
        out / "sync_health.csv", FINDING_COLUMNS,
        con.execute(f"SELECT {', '.join(q(c) for c in FINDING_COLUMNS)} FROM {FINDINGS}").fetchall())
    plan_ids = [r[0] for r in con.execute(
        f"SELECT plan_id FROM flag_plan UNION SELECT plan_id FROM {DELETES} ORDER BY 1").fetchall() if r[0]]
    as_of = con.execute(f"SELECT strftime(max(as_of), '%Y-%m-%dT%H:%M:%SZ') FROM {q(eligibility)}").fetchall()[0][0]
    doc = {"plan_id": plan_id or (plan_ids[0] if plan_ids else ""), "kind": "sync", "created_at": as_of, "clusters": [],
           "flag_plan": "flag_plan.csv", "delete_plan": "sync_delete_plan.csv",
           "flags": counts["flag_plan"],
           "deletes": int(con.execute(f"SELECT count(*) FROM {DELETES}").fetchall()[0][0])}
    # The applier's plan document: no merge groups; the prospect deletes go in as its delete plan.
    (out / "sync_plan.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    counts["sync_delete_plan"] = write_csv(
        out / "sync_delete_plan.csv", ["plan_id", "Id", "object", "reason", "as_of"],
        con.execute(f'SELECT plan_id, "Id", object, reason, as_of FROM {DELETES}').fetchall())
    return counts


def run_sync_health(
    con: duckdb.DuckDBPyConnection, config: Config, out_dir: str | Path | None = None, records: str = "raw_records",
    prospects: str | None = "pardot_prospects", metadata: dict | None = None,
) -> dict:
    """Eligibility, flag plan, diagnosis and (with out_dir) the output files; returns a summary."""
    from nayose.eligibility import build_flag_plan, compute_eligibility, sync_plan_id

    el = compute_eligibility(con, config, records, prospects)
    plan_id = sync_plan_id(con, config, records, prospects)
    n_flags = build_flag_plan(con, config, plan_id)
    dg = diagnose(con, config, records, prospects, metadata, plan_id)
    summary = {"plan_id": plan_id, "eligibility": el.stats, "flag_plan": n_flags, "health": dg.stats,
               "seconds": {"eligibility": round(el.seconds, 3), "diagnosis": round(dg.seconds, 3)}}
    if out_dir is not None:
        summary["outputs"] = write_health_outputs(con, out_dir, plan_id=plan_id)
    return summary
