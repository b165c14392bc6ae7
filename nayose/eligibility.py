"""Which Salesforce records may sync to Account Engagement (Pardot), the mailable-prospect cap, and
the flag plan that sets the field the Marketing Data Sharing rule reads.

`compute_eligibility(con, config, records="raw_records", prospects=None)` writes
`sync_eligibility`, one row per Lead / Contact:

    Id, object, route, owner_id, email, is_card, created, last_life, eligible, reason_code, reason,
    reasons, mailable, not_mailable, quality, quality_signals, freshness_bucket, cap_rank,
    within_cap, cap_explanation, sync_current, sync_target, as_of

* **Converted Leads** (IsConverted true) never sync and get no flag: read-only history of the
  Contact each became, which is the record that syncs (reason code `converted`); nor do deleted
  records (IsDeleted true, as Data Loader's Export All writes them: `deleted`).
* **Exclusions** (`eligibility.exclusions`): billing / recruiting / partner contacts by title,
  department, lead source, record type, email local part or domain, or a flag field; the reason
  names the field and value that matched (``billing contact (経理 / 請求): Title = 経理課長``).
* **Route and owner rules** (`eligibility.route_rules`): e.g. business-card records of a given owner.
  The route comes from LeadSource through `survivorship.routes` (a business-card record — card
  lead source or provenance field — is route ``card``; an unmapped LeadSource ``other``, none ``none``).
* **Freshness**: CreatedDate within `freshness_years` of the as-of time (default the newest
  CreatedDate / LastModifiedDate in the data, so a re-run on the same data gives the same answer),
  for the objects in `freshness_objects`.
* **Quality**: company filled and not a placeholder (`input.company_placeholders`: 個人, [[Unknown]] …;
  punctuation only: -, ー; the person's own name),
  an email that is valid as written and not a dummy (noemail@, dummy@: `quality:dummy_email`).

Every condition is evaluated for every record, so ``reasons`` lists all that apply; ``reason_code``
/ ``reason`` is the first in the order exclusions, route rules, freshness, quality. The same rules
run every night on whatever the records table holds, new records included.

**Mailable** (what the contract's cap counts): eligible, a valid email, not opted out
(HasOptedOutOfEmail), not bounced (EmailBouncedDate / EmailBouncedReason), and — when a prospects
table is given — the linked prospect is not Do Not Email, not hard-bounced, not opted out.

**Cap ranking** (`eligibility.cap`): mailable records are ranked by (1) freshness bucket — whole
`freshness_bucket_days` periods since the record's last sign of life (the newest of CreatedDate,
LastModifiedDate, LastActivityDate), fresher first; (2) quality — one point per signal in
`quality_signals` (company email, phone, title, business card, address), more first; (3) the last
sign of life, newer first; (4) Id, smaller first. The first `mailable` ranks stay; the rest are
dropped, and `cap_explanation` says per record where it ranked and why. With a prospects table, the
mailable prospects without a CRM ID whose email is on no record (form fills and imports that stay
prospects of their own) take slots of the cap first: records get `mailable` minus those (table
`sync_cap`). The order depends on the data
only, never on row order.

`build_flag_plan(con, config)` writes `flag_plan(plan_id, Id, object, field, value, reason, as_of,
reason_code)`: the sharing field set to `sync.exclude_value` on records that must not sync (with the
reason) and to `sync.include_value` on records that should, wherever the current value differs (every
record when the export lacks the field). `as_of` is the record's SystemModstamp / LastModifiedDate as
exported, for the applier's stale check. `reason_code` (table only; flag_plan.csv keeps the columns
above without it) is what a review selects by: `eligible`, `over_cap`, or the record's eligibility
reason code (`exclusion:billing`, `route:<rule>`, `stale`, `quality:no_company` …). The plan goes
through the same review / approval / journal path as the merge plan (`nayose.review`, kind `sync`).

Everything is set-based DuckDB SQL; Python only tests keywords once per distinct Title / Department
value.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

import duckdb
import pyarrow as pa

from nayose.config import Config, ExclusionRule
from nayose.errors import InputError
from nayose.normalize import (PERSON_ACCOUNT_FIELDS, TRUE_FLAG_VALUES, business_account_sql, company_mailbox_sql,
                              dummy_email_sql)
from nayose.plan import write_csv
from nayose.stage import StageResult, timed
from nayose.survive import card_sql

STAGE = "eligibility"
TABLE = "sync_eligibility"
FLAG_TABLE = "flag_plan"
CAP_TABLE = "sync_cap"  # (contract_cap, unlinked_prospects, cap_for_records): one row
PROSPECTS = "pardot_prospects"
FLAG_COLUMNS = ["plan_id", "Id", "object", "field", "value", "reason", "as_of"]
ELIGIBILITY_CSV_COLUMNS = [
    "Id", "object", "route", "owner_id", "email", "eligible", "reason_code", "reason", "reasons", "mailable",
    "not_mailable", "quality", "quality_signals", "freshness_bucket", "cap_rank", "within_cap", "cap_explanation",
    "sync_current", "sync_target",
]
# An address Account Engagement accepts as written: ASCII, one @, a dotted domain.
EMAIL_AS_WRITTEN = r"[A-Za-z0-9!#$%&'*/=?^_`{|}~.+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}"
TRUE_VALUES = TRUE_FLAG_VALUES
SIGNAL_LABELS = {
    "business_email": "company email",
    "phone": "phone",
    "title": "title",
    "business_card": "business card",
    "address": "address",
}


# ---------------------------------------------------------------------------------------------
# SQL helpers (shared with synchealth)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name (as stored) by its case-folded name."""
    return {r[0].casefold(): r[0] for r in con.execute(f"DESCRIBE {q(table)}").fetchall()}


def col(cols: dict[str, str], name: str, alias: str = "r") -> str:
    """`alias."Name"` as trimmed VARCHAR with '' as NULL, or NULL when the table lacks the column."""
    real = cols.get(name.casefold())
    if real is None:
        return "CAST(NULL AS VARCHAR)"
    return f"nullif(trim(CAST({alias}.{q(real)} AS VARCHAR)), '')"


def ts_sql(expr: str) -> str:
    """A timestamp (UTC, naive) from Salesforce / Pardot text: ...Z, +0000, +09:00, a date, or naive (= UTC)."""
    return (
        f"(CASE WHEN regexp_matches({expr}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}}|[+-][0-9]{{2}})$') "
        f"THEN timezone('UTC', try_cast({expr} AS TIMESTAMPTZ)) ELSE try_cast({expr} AS TIMESTAMP) END)"
    )


def truthy(expr: str) -> str:
    return f"coalesce(lower({expr}) IN ({', '.join(lit(v) for v in TRUE_VALUES)}), false)"


def same_setting_sql(current: str, wanted: str) -> str:
    """SQL: the sharing field's current value already is `wanted` (SQL expressions). A checkbox
    compares as true / false whatever its writing (a report exports 1 / 0: Pardot_Sync__c = 1 was
    taken for "not true" -- a needless flag row and a not-synced finding); any other value after
    case folding."""
    booleans = ("'true'", "'false'")
    return (f"(CASE WHEN lower({wanted}) IN ({', '.join(booleans)}) THEN {truthy(current)} = {truthy(wanted)} "
            f"ELSE lower({current}) = lower({wanted}) END)")


_RECORD_ID = re.compile(r"[0-9A-Za-z]{15}|[0-9A-Za-z]{18}")  # a Salesforce Id as written


def crm_key(expr: str) -> str:
    """Salesforce Ids compare on their first 15 characters (an 18-character Id adds a checksum)."""
    return f"left({expr}, 15)"


def record_crm_key(cols: dict[str, str], alias: str = "r") -> str:
    """SQL: the CRM ID a record's prospect carries, as crm_key compares it (a Person Account syncs
    through its person contact: its PersonContactId)."""
    return crm_key(f'coalesce({col(cols, "PersonContactId", alias)}, {alias}."Id")')


def fold(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def keyword_regex(keywords: list[str]) -> re.Pattern | None:
    """One regex over folded text: a keyword as a substring, an ASCII keyword only as a whole word."""
    parts = []
    for k in keywords:
        f = fold(k)
        if not f:
            continue
        if f.isascii():
            parts.append(rf"(?<![a-z0-9]){re.escape(f)}(?![a-z0-9])")
        else:
            parts.append(re.escape(f))
    return re.compile("|".join(parts)) if parts else None


def register_values(con: duckdb.DuckDBPyConnection, name: str, values: list[str]) -> str:
    """A temp table `name(v)` of values; returns its quoted name."""
    con.register("_nayose_vals", pa.table({"v": pa.array(values, pa.string())}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {q(name)} AS SELECT DISTINCT v FROM _nayose_vals")
    con.unregister("_nayose_vals")
    return q(name)


def matching_values(con: duckdb.DuckDBPyConnection, table: str, column: str, rx: re.Pattern) -> list[str]:
    """Distinct values of a column whose folded form matches rx (Python once per distinct value)."""
    vals = con.execute(f"SELECT DISTINCT {q(column)} FROM {q(table)} WHERE {q(column)} IS NOT NULL").fetchall()
    return [v for (v,) in vals if isinstance(v, str) and rx.search(fold(v))]


def load_prospects(con: duckdb.DuckDBPyConnection, path: str | Path, table: str = PROSPECTS) -> int:
    """Read a Pardot prospects export (CSV with a header of v5 field names: id, email, salesforceId,
    crmLeadFid, crmContactFid, optedOut, isDoNotEmail, isEmailHardBounced, createdAt, updatedAt, custom
    `*__c` …) into `table`, every value as text; returns the row count."""
    from nayose.records import utf8_view

    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", str(p))
    with utf8_view(p, "the prospects export") as readable:  # (a CP932 export too)
        try:
            rel = con.read_csv(str(readable), header=True, all_varchar=True)
        except duckdb.Error as exc:
            raise InputError(f"cannot read prospects CSV: {str(exc).splitlines()[0]}", str(p)) from None
        names = {c.casefold() for c in rel.columns}
        missing = [c for c in ("id", "email") if c not in names]
        if missing:
            raise InputError(f"prospects export lacks column(s) {', '.join(missing)} (Pardot v5 field names expected)", str(p))
        con.execute(f"CREATE OR REPLACE TABLE {q(table)} AS SELECT * FROM rel")
    return int(con.execute(f"SELECT count(*) FROM {q(table)}").fetchall()[0][0])


def prospect_link_sql(con: duckdb.DuckDBPyConnection, prospects: str) -> str:
    """SELECT over the prospects table with normalized columns: prospect_id, crm_id (contact, else lead,
    else salesforceId; 15 characters), email, email_key, flags and timestamps."""
    pc = columns(con, prospects)
    crm = f"coalesce({col(pc, 'crmContactFid', 'p')}, {col(pc, 'crmLeadFid', 'p')}, {col(pc, 'salesforceId', 'p')})"
    bounced = f"({truthy(col(pc, 'isEmailHardBounced', 'p'))} OR {col(pc, 'emailBouncedAt', 'p')} IS NOT NULL)"
    last_sync = col(pc, "crmLastSync", "p")
    return f"""
        SELECT {col(pc, 'id', 'p')} AS prospect_id,
               {crm_key(crm)} AS crm_id, {crm} AS crm_id_raw,
               {col(pc, 'email', 'p')} AS email,
               lower({col(pc, 'email', 'p')}) AS email_key,
               {truthy(col(pc, 'optedOut', 'p'))} AS opted_out,
               {truthy(col(pc, 'isDoNotEmail', 'p'))} AS do_not_email,
               {bounced} AS hard_bounced,
               {truthy(col(pc, 'isDeleted', 'p'))} AS is_deleted,
               {ts_sql(col(pc, 'createdAt', 'p'))} AS created_at,
               {ts_sql(col(pc, 'updatedAt', 'p'))} AS updated_at,
               {ts_sql(last_sync)} AS last_sync,
               -- (engagement: a score or an activity is history a delete would throw away)
               coalesce(TRY_CAST({col(pc, 'score', 'p')} AS DOUBLE), 0) > 0
                   OR {ts_sql(col(pc, 'lastActivityAt', 'p'))} IS NOT NULL AS engaged,
               {ts_sql(col(pc, 'lastActivityAt', 'p'))} AS last_activity
        FROM {q(prospects)} p"""


# ---------------------------------------------------------------------------------------------
# Eligibility


def _route_cases(con: duckdb.DuckDBPyConnection, config: Config, lead_source: str, card: str) -> str:
    """SQL CASE for a record's inflow route: card for business-card records, else the route whose
    LeadSource list holds the value (NFKC, case-insensitive), else other / none."""
    routes = config.survivorship.routes
    cases = [f"WHEN {card} THEN 'card'"]
    if lead_source != "CAST(NULL AS VARCHAR)":
        values = [v for (v,) in con.execute(f"SELECT DISTINCT {lead_source} FROM _elig_src r").fetchall() if v]
        by_route: dict[str, list[str]] = {}
        for v in values:
            for route, sources in routes.items():
                if fold(v) in {fold(s) for s in sources}:
                    by_route.setdefault(route, []).append(v)
                    break
        for route, vs in by_route.items():
            cases.append(f"WHEN {lead_source} IN ({', '.join(lit(v) for v in vs)}) THEN {lit(route)}")
    cases.append(f"WHEN {lead_source} IS NULL THEN 'none'")
    return "CASE " + " ".join(cases) + " ELSE 'other' END"


def _exclusion_selects(con: duckdb.DuckDBPyConnection, rule: ExclusionRule, order: int, cols: dict[str, str]) -> list[str]:
    """SELECTs of (Id, ord, code, detail) for every record the rule excludes, one per matching field."""
    out = []
    code = lit("exclusion:" + rule.name)

    # Which matching field names the reason when several match (`sub`): what the org's process set
    # (record type, lead source, a flag) before the words people typed (title, department, mailbox).
    sub = {"record_type": 0, "lead_source": 1, "flag": 2, "title": 3, "department": 4, "email": 5}

    def emit(cond: str, detail_sql: str, kind: str) -> None:
        out.append(
            f"SELECT r.\"Id\", {order} AS ord, {sub[kind]} AS sub, {code} AS code, {lit(rule.reason + ': ')} || {detail_sql} AS detail "
            f"FROM _elig_src r WHERE {cond}"
        )

    for field, keywords in (("Title", rule.title_keywords), ("Department", rule.department_keywords)):
        rx = keyword_regex(keywords)
        real = cols.get(field.casefold())
        if rx is None or real is None:
            continue
        hits = matching_values(con, "_elig_src", real, rx)
        if hits:
            t = register_values(con, f"_elig_kw_{rule.name}_{field}", hits)
            emit(f"r.{q(real)} IN (SELECT v FROM {t})", f"'{field} = ' || r.{q(real)}", field.lower())
    if rule.lead_sources and "leadsource" in cols:
        wanted = {fold(v) for v in rule.lead_sources}
        real = cols["leadsource"]
        vals = [v for (v,) in con.execute(f"SELECT DISTINCT {q(real)} FROM _elig_src WHERE {q(real)} IS NOT NULL").fetchall()]
        hits = [v for v in vals if fold(v) in wanted]
        if hits:
            emit(f"r.{q(real)} IN ({', '.join(lit(v) for v in hits)})", f"'LeadSource = ' || r.{q(real)}", "lead_source")
    if rule.record_types:
        wanted = {fold(v) for v in rule.record_types}
        for field in ("RecordTypeId", "RecordType.DeveloperName", "RecordType.Name"):
            real = cols.get(field.casefold())
            if real is None:
                continue
            vals = [v for (v,) in con.execute(f"SELECT DISTINCT {q(real)} FROM _elig_src WHERE {q(real)} IS NOT NULL").fetchall()]
            # (a name compares whole; an Id -- 15 or 18 characters -- by its case-sensitive 15-character form:
            # the first 15 characters of names made Partner_Contact_Customer a Partner_Contact_Agency)
            ids15 = {v.strip()[:15] for v in rule.record_types if _RECORD_ID.fullmatch(v.strip())}
            hits = [v for v in vals if fold(v) in wanted or (_RECORD_ID.fullmatch(v.strip()) and v.strip()[:15] in ids15)]
            if hits:
                emit(f"r.{q(real)} IN ({', '.join(lit(v) for v in hits)})", f"'{field} = ' || r.{q(real)}", "record_type")
    if rule.email_locals:
        locals_ = ", ".join(lit(fold(v)) for v in rule.email_locals)
        emit(f"regexp_replace(r._email_local, '[0-9]+$', '') IN ({locals_})", "'Email = ' || r._email", "email")
    if rule.email_domains:
        doms = [fold(v).lstrip("@") for v in rule.email_domains]
        cond = " OR ".join(f"(r._email_domain = {lit(d)} OR suffix(r._email_domain, {lit('.' + d)}))" for d in doms)
        emit(f"({cond})", "'Email = ' || r._email", "email")
    for field in rule.flag_fields:
        real = cols.get(field.casefold())
        if real is not None:
            emit(truthy(f"r.{q(real)}"), f"'{field} = ' || r.{q(real)}", "flag")
    return out


def _as_of(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    if config.eligibility.as_of:
        v = con.execute(f"SELECT {ts_sql('?')}", [config.eligibility.as_of]).fetchall()[0][0]
        if v is None:
            raise InputError(f"eligibility.as_of {config.eligibility.as_of!r} is not a date / time")
    else:
        v = con.execute("SELECT coalesce(max(greatest(_created, _modified)), TIMESTAMP '1970-01-01') FROM _elig_src").fetchall()[0][0]
    return str(v)


def compute_eligibility(
    con: duckdb.DuckDBPyConnection, config: Config, records: str = "raw_records", prospects: str | None = None,
    table: str = TABLE,
) -> StageResult:
    """Create `table` (see the module doc) from the Salesforce records (and the prospects, for their
    Do Not Email / hard-bounce flags)."""
    result = StageResult(stage=STAGE, table=table)
    with timed(result):
        el = config.eligibility
        cols = columns(con, records)
        if "id" not in cols:
            raise InputError(f"table {records} has no Id column")
        obj = col(cols, "Object")
        # (a Person Account's mailbox and opt-out are its Person* fields; it has no company)
        email = "coalesce(" + ", ".join(col(cols, f) for f in ("Email", *PERSON_ACCOUNT_FIELDS["Email"])) + ")"
        person_account = truthy(col(cols, "IsPersonAccount"))
        # A Contact's company is its Account: Account.Name when exported, else the Name of the Account
        # row of the same input (an Account export loaded beside the Contacts), else the AccountId alone
        # says it has one (an export without Account.Name made every Contact "no company": excluded,
        # flagged and its prospect planned for deletion).
        account_name = col(cols, "Account.Name")
        join = ""
        if "accountid" in cols:
            acct_id = f"nullif(trim({col(cols, 'AccountId')}), '')"
            named = "_acct._name" if "name" in cols else "NULL"
            account_name = (f"coalesce({account_name}, {named}, "
                            f"CASE WHEN {acct_id} IS NOT NULL THEN '(Account ' || {acct_id} || ')' END)")
            if "name" in cols:
                rid = q(cols["id"])
                join = (f"""LEFT JOIN (SELECT left({rid}, 15) AS _id15, any_value({q(cols['name'])}) AS _name FROM {q(records)}
                                      WHERE starts_with({rid}, '001') GROUP BY 1) _acct
                                   ON _acct._id15 = left({acct_id}, 15)""")
        company = f"coalesce({col(cols, 'Company')}, {account_name})"
        if "company" in cols and ("account.name" in cols or "accountid" in cols):
            company = (f"CASE WHEN {obj} = 'Contact' THEN coalesce({account_name}, {col(cols, 'Company')}) "
                       f"ELSE coalesce({col(cols, 'Company')}, {account_name}) END")
        modstamp = f"coalesce({col(cols, 'SystemModstamp')}, {col(cols, 'LastModifiedDate')})"
        # (a business Account is a company: no prospect of its own; a Person Account is a person and syncs)
        business = business_account_sql(cols, "r")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _elig_src AS
                SELECT r.*, {obj} AS _object, {email} AS _email,
                       split_part(lower({email}), '@', 1) AS _email_local, split_part(lower({email}), '@', 2) AS _email_domain,
                       {company} AS _company,
                       {ts_sql(col(cols, 'CreatedDate'))} AS _created,
                       {ts_sql(col(cols, 'LastModifiedDate'))} AS _modified,
                       {ts_sql(col(cols, 'LastActivityDate'))} AS _activity,
                       {modstamp} AS _as_of
                FROM {q(records)} r {join}
                {f"WHERE NOT {business}" if business else ""}"""
        )
        card = card_sql(con, config, "_elig_src", "r")
        lead_source = col(cols, "LeadSource")
        route = _route_cases(con, config, lead_source, f"coalesce({card}, false)")
        as_of = _as_of(con, config)

        # --- every reason a record may not sync, in order
        selects: list[str] = []
        # (a dummy typed where an address is required -- noemail@, dummy@ -- reaches nobody: a prospect
        # made of it would count against the cap and collect every record that carries it)
        dummy_email = f"coalesce({dummy_email_sql('lower(r._email)')}, false)"
        # (a converted Lead is read-only history: the Contact it became is the one that syncs)
        converted = col(cols, "IsConverted")
        if "isconverted" in cols:
            selects.append(
                f"""SELECT r."Id", 50 AS ord, 0 AS sub, 'converted' AS code,
                       'converted: a Lead converted into ' || coalesce({col(cols, 'ConvertedContactId')}, 'a Contact')
                       || ' (read-only; the Contact syncs)' AS detail
                    FROM _elig_src r WHERE {truthy(converted)}"""
            )
        if "isdeleted" in cols:  # (Data Loader's Export All writes the Recycle Bin too)
            selects.append(
                f"""SELECT r."Id", 51 AS ord, 0 AS sub, 'deleted' AS code,
                       'deleted: in the Recycle Bin' || coalesce(' (merged into ' || {col(cols, 'MasterRecordId')} || ')', '')
                       AS detail
                    FROM _elig_src r WHERE {truthy(col(cols, 'IsDeleted'))}"""
            )
        for i, rule in enumerate(el.exclusions):
            selects += _exclusion_selects(con, rule, 100 + i, cols)
        owner = col(cols, "OwnerId")
        for i, rr in enumerate(el.route_rules):
            conds = []
            if rr.routes:
                conds.append(f"r._route IN ({', '.join(lit(x) for x in rr.routes)})")
            if rr.owner_ids:
                conds.append(f"left(r._owner, 15) IN ({', '.join(lit(x[:15]) for x in rr.owner_ids)})")
            selects.append(
                f"SELECT r.\"Id\", {200 + i} AS ord, 0 AS sub, {lit('route:' + rr.name)} AS code, "
                f"{lit(rr.reason + ': ')} || 'route ' || r._route || coalesce(', owner ' || r._owner, '') AS detail "
                f"FROM _elig_routed r WHERE {' AND '.join(conds)}"
            )
        if el.freshness_years is not None and el.freshness_objects:
            days = int(round(el.freshness_years * 365.25))
            objs = ", ".join(lit(o) for o in el.freshness_objects)
            selects.append(
                f"""SELECT r."Id", 300 AS ord, 0 AS sub, 'stale' AS code,
                       'stale: acquired ' || strftime(r._created, '%Y-%m-%d') || ', more than {el.freshness_years:g} years before '
                       || strftime(TIMESTAMP {lit(as_of)}, '%Y-%m-%d') AS detail
                    FROM _elig_src r WHERE r._object IN ({objs}) AND r._created < TIMESTAMP {lit(as_of)} - INTERVAL {days} DAY"""
            )
        if el.require_company:
            ph = {fold(v) for v in config.input.company_placeholders}
            companies = [v for (v,) in con.execute("SELECT DISTINCT _company FROM _elig_src WHERE _company IS NOT NULL").fetchall()]
            ph_tbl = register_values(con, "_elig_placeholders",
                                     [v for v in companies if fold(v) in ph or re.sub(r"\s+", "", fold(v)) in ph])
            own = (f"replace(replace(r._company, ' ', ''), chr(12288), '') = "
                   f"coalesce({col(cols, 'LastName')}, '') || coalesce({col(cols, 'FirstName')}, '')")
            selects.append(
                f"""SELECT r."Id", 400 AS ord, 0 AS sub, 'quality:no_company' AS code,
                       CASE WHEN r._company IS NULL THEN 'no company'
                            ELSE 'no company: ' || r._company || ' is a placeholder' END AS detail
                    FROM _elig_src r
                    WHERE (r._company IS NULL OR NOT regexp_matches(r._company, '[\\pL\\pN]')
                           OR r._company IN (SELECT v FROM {ph_tbl}) OR {own})
                      AND NOT {person_account}"""
            )
        if el.require_valid_email:
            selects.append(
                f"""SELECT r."Id", 401 AS ord, 0 AS sub,
                       CASE WHEN r._email IS NULL THEN 'quality:no_email' WHEN {dummy_email} THEN 'quality:dummy_email'
                            ELSE 'quality:invalid_email' END,
                       CASE WHEN r._email IS NULL THEN 'no email' WHEN {dummy_email} THEN 'email is a dummy: ' || r._email
                            ELSE 'email not valid as written: ' || r._email END
                    FROM _elig_src r WHERE r._email IS NULL OR NOT regexp_full_match(r._email, {lit(EMAIL_AS_WRITTEN)})
                                        OR {dummy_email}"""
            )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _elig_routed AS SELECT r.\"Id\", {route} AS _route, {owner} AS _owner FROM _elig_src r")
        body = " UNION ALL ".join(selects) if selects else "SELECT NULL::VARCHAR AS \"Id\", 0 AS ord, 0 AS sub, ''::VARCHAR AS code, ''::VARCHAR AS detail WHERE false"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _elig_reasons AS
                SELECT "Id", arg_min(code, ord) AS reason_code,
                       -- (one rule matching in two fields is one ord: `sub` picks the field, where
                       -- arg_min(detail, ord) picked either, differently from run to run)
                       first(detail ORDER BY ord, sub, detail) AS reason,
                       string_agg(detail, ' | ' ORDER BY ord, detail) AS reasons
                FROM ({body}) GROUP BY "Id" """
        )

        # --- mailable, quality signals and the cap ranking
        pjoin, p_flags = "", "false"
        if prospects is not None:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _elig_pflags AS
                    SELECT crm_id, bool_or(do_not_email) AS dne, bool_or(hard_bounced) AS hb, bool_or(opted_out) AS oo
                    FROM ({prospect_link_sql(con, prospects)}) WHERE crm_id IS NOT NULL AND NOT is_deleted GROUP BY crm_id"""
            )
            pjoin = f"LEFT JOIN _elig_pflags pf ON pf.crm_id = {record_crm_key(cols)}"
            p_flags = "coalesce(pf.dne OR pf.hb OR pf.oo, false)"
        opted = truthy(f"coalesce({col(cols, 'HasOptedOutOfEmail')}, {col(cols, 'PersonHasOptedOutOfEmail')})")
        sf_bounced = f"({col(cols, 'EmailBouncedDate')} IS NOT NULL OR {col(cols, 'EmailBouncedReason')} IS NOT NULL)"
        valid_email = f"coalesce(regexp_full_match(r._email, {lit(EMAIL_AS_WRITTEN)}) AND NOT {dummy_email}, false)"
        not_mailable = (
            f"CASE WHEN e.\"Id\" IS NOT NULL THEN 'not eligible' WHEN NOT {valid_email} THEN 'no valid email' "
            f"WHEN {opted} THEN 'opted out' WHEN {sf_bounced} THEN 'email bounced' "
            + (f"WHEN pf.dne THEN 'prospect is Do Not Email' WHEN pf.hb THEN 'prospect hard-bounced' "
               f"WHEN pf.oo THEN 'prospect opted out' " if prospects is not None else "")
            + "END"
        )
        signals = {
            "business_email": f"({valid_email} AND {company_mailbox_sql('r._email_domain', 'r._email_local')})",
            "phone": f"({col(cols, 'Phone')} IS NOT NULL OR {col(cols, 'MobilePhone')} IS NOT NULL)",
            "title": f"({col(cols, 'Title')} IS NOT NULL)",
            "business_card": f"coalesce({card}, false)",
            "address": f"(coalesce({col(cols, 'Street')}, {col(cols, 'MailingStreet')}, {col(cols, 'PostalCode')}, "
                       f"{col(cols, 'MailingPostalCode')}) IS NOT NULL)",
        }
        used = list(dict.fromkeys(config.eligibility.cap.quality_signals))
        quality = " + ".join(f"CAST({signals[s]} AS INTEGER)" for s in used) if used else "0"
        sig_list = ("concat_ws(', ', " + ", ".join(f"CASE WHEN {signals[s]} THEN {lit(SIGNAL_LABELS[s])} END" for s in used) + ")"
                    if used else "''")
        sharing = col(cols, config.sync.sharing_field)
        bucket_days = int(el.cap.freshness_bucket_days)
        contract_cap = int(el.cap.mailable)
        # Mailable prospects that no record here accounts for take slots of the cap too: a prospect
        # without a CRM ID (a form fill, an import) whose email is on no Salesforce record stays a
        # prospect of its own (one with the email links to the first such record: that record's).
        reserved = 0
        if prospects is not None:
            reserved = int(con.execute(
                f"""SELECT count(*) FROM ({prospect_link_sql(con, prospects)}) p
                    WHERE p.crm_id IS NULL AND NOT coalesce(p.is_deleted, false)
                      AND NOT coalesce(p.do_not_email OR p.hard_bounced OR p.opted_out, false)
                      AND regexp_full_match(p.email, {lit(EMAIL_AS_WRITTEN)})
                      AND p.email_key NOT IN (SELECT lower(_email) FROM _elig_src WHERE _email IS NOT NULL)"""
            ).fetchall()[0][0])
        cap = max(contract_cap - reserved, 0)
        cap_words = (f"cap {contract_cap:,} - {reserved:,} taken by prospects without a CRM ID" if reserved
                     else f"cap {contract_cap:,}")
        inc, exc = config.sync.include_value, config.sync.exclude_value
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _elig_base AS
                SELECT r."Id", r._object AS object, ro._route AS route, ro._owner AS owner_id, r._email AS email,
                       coalesce({card}, false) AS is_card, r._created AS created,
                       greatest(r._created, r._modified, r._activity) AS last_life,
                       e."Id" IS NULL AS eligible, e.reason_code, e.reason, e.reasons,
                       {not_mailable} AS not_mailable,
                       {quality} AS quality, {sig_list} AS quality_signals,
                       CAST(floor(date_diff('day', coalesce(greatest(r._created, r._modified, r._activity), TIMESTAMP '1970-01-01'),
                                  TIMESTAMP {lit(as_of)}) / {bucket_days}) AS INTEGER) AS freshness_bucket,
                       {sharing} AS sync_current, r._as_of AS record_as_of
                FROM _elig_src r JOIN _elig_routed ro USING ("Id") LEFT JOIN _elig_reasons e USING ("Id") {pjoin}"""
        )
        n_mailable = int(con.execute("SELECT count(*) FROM _elig_base WHERE not_mailable IS NULL").fetchall()[0][0])
        con.execute(
            f"""CREATE OR REPLACE TABLE {q(table)} AS
                WITH ranked AS (
                    SELECT *, not_mailable IS NULL AS mailable,
                           CASE WHEN not_mailable IS NULL THEN row_number() OVER (
                               PARTITION BY not_mailable IS NULL
                               ORDER BY greatest(freshness_bucket, 0) ASC, quality DESC, last_life DESC NULLS LAST, "Id" ASC)
                           END AS cap_rank,
                           {n_mailable} AS n_mailable
                    FROM _elig_base)
                SELECT "Id", object, route, owner_id, email, is_card, created, last_life, eligible, reason_code, reason, reasons,
                       mailable, not_mailable, quality, quality_signals, freshness_bucket, cap_rank,
                       CASE WHEN mailable THEN cap_rank <= {cap} END AS within_cap,
                       CASE WHEN mailable THEN
                           'rank ' || format('{{:,}}', cap_rank) || ' of ' || format('{{:,}}', n_mailable) || ' mailable ('
                           || {lit(cap_words)} || '): last activity ' || coalesce(strftime(last_life, '%Y-%m-%d'), 'unknown')
                           || ' (freshness bucket ' || greatest(freshness_bucket, 0) || ' = ' || greatest(freshness_bucket, 0) * {bucket_days}
                           || '-' || (greatest(freshness_bucket, 0) + 1) * {bucket_days} || ' days before as-of), quality '
                           || quality || '/{len(used)}' || CASE WHEN quality_signals <> '' THEN ' (' || quality_signals || ')' ELSE '' END
                           || CASE WHEN cap_rank <= {cap} THEN ' -> stays' ELSE ' -> dropped: over the cap' END
                       END AS cap_explanation,
                       sync_current,
                       CASE WHEN eligible AND coalesce(cap_rank <= {cap}, true) THEN {lit(inc)} ELSE {lit(exc)} END AS sync_target,
                       record_as_of, TIMESTAMP {lit(as_of)} AS as_of
                FROM ranked ORDER BY "Id" """
        )
        con.execute(f"""CREATE OR REPLACE TABLE {CAP_TABLE} AS SELECT {contract_cap} AS contract_cap,
                            {reserved} AS unlinked_prospects, {cap} AS cap_for_records""")
        for t in ("_elig_src", "_elig_routed", "_elig_reasons", "_elig_base", "_elig_pflags"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        stats = con.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE eligible), count(*) FILTER (WHERE mailable),
                       count(*) FILTER (WHERE mailable AND NOT within_cap) FROM {q(table)}"""
        ).fetchall()[0]
        by_reason = con.execute(
            f"SELECT reason_code, count(*) FROM {q(table)} WHERE NOT eligible GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        result.rows = int(stats[0])
        result.stats = {
            "records": int(stats[0]), "eligible": int(stats[1]), "mailable": int(stats[2]),
            "cap": contract_cap, "cap_taken_by_unlinked_prospects": reserved, "cap_for_records": cap,
            "over_cap": int(stats[3]), "as_of": as_of,
            "excluded_by_reason": {k: int(v) for k, v in by_reason},
        }
    return result


# ---------------------------------------------------------------------------------------------
# Flag plan


def data_digest(con: duckdb.DuckDBPyConnection, table: str, key: str) -> str:
    """md5 over every row of a table (every column but _source_*), in key order."""
    cols = [c for c in columns(con, table).values() if not c.startswith("_source_")]
    row = "concat_ws(chr(31), " + ", ".join(f"coalesce(CAST({q(c)} AS VARCHAR), chr(0))" for c in cols) + ")"
    return con.execute(f"SELECT coalesce(md5(string_agg(md5({row}), '' ORDER BY CAST({q(key)} AS VARCHAR))), '') FROM {q(table)}").fetchall()[0][0]


def sync_plan_id(con: duckdb.DuckDBPyConnection, config: Config, records: str = "raw_records", prospects: str | None = None) -> str:
    """Same records, prospects and config give the same plan_id."""
    h = hashlib.sha256()
    h.update(data_digest(con, records, "Id").encode())
    if prospects is not None:
        h.update(b"\x00" + data_digest(con, prospects, columns(con, prospects).get("id", "id")).encode())
    h.update(b"\x00" + json.dumps(config.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode())
    return "sync_" + h.hexdigest()[:24]


def build_flag_plan(con: duckdb.DuckDBPyConnection, config: Config, plan_id: str, table: str = TABLE) -> int:
    """Create `flag_plan` from `sync_eligibility`; returns its row count."""
    sc = config.sync
    field = sc.sharing_field
    con.execute(
        f"""CREATE OR REPLACE TABLE {FLAG_TABLE} AS
            SELECT {lit(plan_id)} AS plan_id, "Id", object, {lit(field)} AS field, sync_target AS value,
                   CASE WHEN sync_target = {lit(sc.include_value)} THEN 'eligible: may sync'
                        WHEN NOT eligible THEN reason
                        ELSE 'over the mailable cap: ' || cap_explanation END AS reason,
                   record_as_of AS as_of,
                   CASE WHEN sync_target = {lit(sc.include_value)} THEN 'eligible'
                        WHEN NOT eligible THEN reason_code
                        ELSE 'over_cap' END AS reason_code
            FROM {q(table)}
            WHERE (sync_current IS NULL OR NOT {same_setting_sql('sync_current', 'sync_target')})
              AND coalesce(reason_code, '') NOT IN ('converted', 'deleted')  -- (Salesforce refuses an update to either)
            ORDER BY "Id" """
    )
    return int(con.execute(f"SELECT count(*) FROM {FLAG_TABLE}").fetchall()[0][0])


def write_eligibility_outputs(con: duckdb.DuckDBPyConnection, out_dir: str | Path, table: str = TABLE) -> dict:
    """sync_eligibility.csv and flag_plan.csv (Excel-safe, UTF-8) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sel = ", ".join(q(c) for c in ELIGIBILITY_CSV_COLUMNS)
    n_el = write_csv(out / "sync_eligibility.csv", ELIGIBILITY_CSV_COLUMNS,
                     con.execute(f"SELECT {sel} FROM {q(table)} ORDER BY \"Id\"").fetchall())
    n_flag = write_csv(out / "flag_plan.csv", FLAG_COLUMNS,
                       con.execute(f"SELECT {', '.join(q(c) for c in FLAG_COLUMNS)} FROM {FLAG_TABLE} ORDER BY \"Id\"").fetchall())
    return {"sync_eligibility": n_el, "flag_plan": n_flag}
