"""Plans: duplicate groups (after survivorship) as reviewable merge / convert / delete steps.

`build_plan(con, config)` reads `survivors`, `group_records`, `raw_records` and writes

* `plan_steps(cluster_id, step_no, action, object, master_id, loser_ids, lead_id, contact_id,
  account_id)`: Leads merge with Leads and Contacts with Contacts; Salesforce's merge() takes a
  master and at most 2 other records, so a group of N records of one object becomes
  ceil((N-1)/2) chained `merge` steps with the same master. In a group holding Leads and
  Contacts, the Contacts are merged into the Contact master and every Lead becomes a
  `convert_lead` step into that Contact (and its AccountId). In a group of Leads and Person
  Accounts only, the Person Accounts are merged (as Accounts) and every Lead becomes a
  `convert_lead` step into the master Person Account (account_id, no contact_id: convertLead
  takes the Person Account alone). A group mixing other objects gets no steps (status review).
* `delete_plan(Id, object, reason)`: junk / test records by `delete_rules` — never a business-card
  record unless the rule sets `include_business_cards: true`, never a record of a duplicate group
  (those go through the merge plan).

`write_plan_outputs(con, out_dir, config)` writes `merge_plan.json`, `merge_plan.csv`,
`field_changes.csv`, `delete_plan.csv` (plan_id, Id, object, reason, as_of). Each group in
merge_plan.json carries `as_of`: every record's SystemModstamp (else LastModifiedDate) as exported,
which the applier's stale check compares with the org. Same input and config give the same plan_id and
byte-identical files: `plan_id` is a SHA-256 of the input records (every column but the source
file name / row), the config, the plan format (PLAN_FORMAT) and the plan's content (every group line
of merge_plan.json, the delete candidates and the Leads at Accounts), so two runs that group the
same input differently (an incremental and a full run, another model) give two plan ids;
`created_at` is not the wall clock but the newest
LastModifiedDate (else CreatedDate) of the input, i.e. the as-of time of the data the plan
was made from. CSV cells starting with = + - @ tab or CR are prefixed with ' (Excel safety).
field_changes.csv's `written` column says whether the applier writes the change: `yes`, or
`not written: relationship field` (Account.Name …: a field of the related record) / `not written:
system or compound field` (NON_UPDATEABLE) — such rows show what survivorship chose,
not what the merge changes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb
import pyarrow as pa

from nayose.accounts import LEAD_ACCOUNTS_COLUMNS, leads_at_accounts
from nayose.config import Config
from nayose.normalize import DUMMY_PHONE_RE, dummy_email_sql, read_only_record_sql
from nayose.outputs import evidence_select
from nayose.score import COMPARISONS
from nayose.stage import StageResult, fine_grained_scans, table_rows, timed
from nayose.store import table_exists
from nayose.survive import card_sql

MAX_LOSERS_PER_MERGE = 2  # Salesforce merge(): a master and at most 2 other records
#: Part of every plan id: a change of the plan files' format makes a new plan id (never one id for two files).
PLAN_FORMAT = "2"
RELATIONSHIP_NOT_WRITTEN = "not written: relationship field"
SYSTEM_NOT_WRITTEN = "not written: system or compound field"


#: Fields the applier never writes (system, compound and read-only fields).
NON_UPDATEABLE = frozenset({
    "Id", "IsDeleted", "MasterRecordId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp", "LastActivityDate", "LastViewedDate", "LastReferencedDate", "IsConverted",
    "ConvertedDate", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId", "Name",
    "PhotoUrl", "Jigsaw", "JigsawContactId", "IsEmailBounced", "Address", "MailingAddress", "OtherAddress",
    "BillingAddress", "ShippingAddress",
})
#: Standard fields of a Lead that a Contact / Person Account master does not have (a Lead merged into
#: a Contact brings them; the applier skips them): listed as not written on such a master.
NOT_ON_OBJECT = {
    "Contact": frozenset({"Company", "Status", "Website", "Industry", "Rating", "NumberOfEmployees", "AnnualRevenue"}),
    "Account": frozenset({"Company", "Status"}),
}


def not_written_reason(field: str, master_object: str | None = None) -> str | None:
    """Why the applier never writes a surviving value of `field` on the master (None: it does):
    a relationship field (Account.Name: the related record's field), a system / compound field, or
    a Lead's field the master's object (`master_object`: Contact, Account) does not have."""
    if "." in field:
        return RELATIONSHIP_NOT_WRITTEN
    if field in NON_UPDATEABLE:
        return SYSTEM_NOT_WRITTEN
    if field in NOT_ON_OBJECT.get(master_object or "", ()):
        return f"not written: not a field of {master_object}"
    return None


def _written_sql(col: str, object_col: str | None = None) -> str:
    """SQL twin of not_written_reason: 'yes' or the reason."""
    names = ", ".join(_lit(f) for f in sorted(NON_UPDATEABLE))
    by_object = "".join(
        f" WHEN {object_col} = {_lit(o)} AND {col} IN ({', '.join(_lit(f) for f in sorted(fs))})"
        f" THEN {_lit('not written: not a field of ' + o)}"
        for o, fs in NOT_ON_OBJECT.items()) if object_col else ""
    return (f"CASE WHEN contains({col}, '.') THEN {_lit(RELATIONSHIP_NOT_WRITTEN)} "
            f"WHEN {col} IN ({names}) THEN {_lit(SYSTEM_NOT_WRITTEN)}{by_object} ELSE 'yes' END")
EXCEL_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# ---------------------------------------------------------------------------------------------
# Excel-safe CSV


def excel_safe(value: Any) -> str:
    """A cell value that Excel will not run as a formula: text starting with = + - @ tab or CR
    gets a leading apostrophe. None becomes the empty cell."""
    if value is None:
        return ""
    s = str(value)
    if s.startswith(EXCEL_TRIGGERS):
        return "'" + s
    return s


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> int:
    """Every CSV this module writes goes through here: UTF-8, all cells quoted, Excel-safe."""
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        w.writerow([excel_safe(h) for h in header])
        for row in rows:
            w.writerow([excel_safe(v) for v in row])
            n += 1
    return n


# ---------------------------------------------------------------------------------------------
# Steps


def _valid_email_sql(col: str) -> str:
    """A syntactically valid address that is not a dummy (noemail@, dummy@, a@a.com: DUMMY_MAIL_RE)."""
    folded = f"lower(translate(trim({col}), '＠', '@'))"
    return (f"(regexp_full_match(trim({col}), '[^@＠\\s]+[@＠][^@＠\\s]+[.．][^@＠\\s]+') AND NOT "
            f"coalesce({dummy_email_sql(folded)}, false))")


def _phone_sql(col: str) -> str:
    """Six digits or more that are not a dummy number (090-1234-5678, 03-0000-0000: DUMMY_PHONE_RE)."""
    digits = f"regexp_replace(translate(coalesce({col}, ''), '０１２３４５６７８９', '0123456789'), '[^0-9]', '', 'g')"
    return f"(length({digits}) >= 6 AND NOT regexp_matches({digits}, '{DUMMY_PHONE_RE}'))"


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _address_sql(con: duckdb.DuckDBPyConnection, config: Config, fields: list[str], where: str = "true",
                 table: str = "raw_records", name: str = "_del_addr") -> str:
    """SQL over `r`: the record holds a postal address in one of `fields` -- a postal code of 7
    digits that is not a dummy (000-0000), or a street that is not a placeholder (不明, なし, 同上).
    The streets are read from `table` `r` where `where` holds (kept in temporary tables `name`_…)."""
    from nayose.normalize import DUMMY_POSTAL_RE, address_placeholders, normalize_street

    placeholders = set(address_placeholders(config))
    conds = []
    for f in fields:
        if "postal" in f.lower():
            digits = f"regexp_replace(translate(coalesce(CAST(r.\"{f}\" AS VARCHAR), ''), '０１２３４５６７８９', '0123456789'), '[^0-9]', '', 'g')"
            conds.append(f"(length({digits}) = 7 AND NOT regexp_full_match({digits}, '{DUMMY_POSTAL_RE}'))")
            continue
        values = [v for (v,) in con.execute(
            f'SELECT DISTINCT CAST(r."{f}" AS VARCHAR) FROM {_q(table)} r WHERE r."{f}" IS NOT NULL AND {where}').fetchall()]
        real = [v for v in values if (normalize_street(v) or "") not in placeholders | {""}]
        if real:
            conds.append(f"coalesce({_one_of_sql(con, f'{name}_{len(conds)}', f'CAST(r.{_q(f)} AS VARCHAR)', real)}, false)")
    return " OR ".join(conds) or "false"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _one_of_sql(con: duckdb.DuckDBPyConnection, table: str, expr: str, values: list[str]) -> str:
    """SQL: `expr` is one of `values` (kept in the temporary table `table`_t on `con`)."""
    con.register(table, pa.table({"v": pa.array(values, pa.string())}))
    try:
        con.execute(f'CREATE OR REPLACE TEMP TABLE "{table}_t" AS SELECT v FROM "{table}"')
    finally:
        con.unregister(table)
    return f'{expr} IN (SELECT v FROM "{table}_t")'


def _pattern_key(v: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", v).strip())


def rule_conditions(con: duckdb.DuckDBPyConnection, config: Config, rule, rule_no: int, cols: set[str], card: str,
                    table: str = "raw_records", restrict: str = "true", extra: Sequence[str] = (),
                    name: str = "_del") -> list[str] | None:
    """The SQL conditions over `table` aliased r of one delete rule (patterns tested once per
    distinct value of the records where `restrict` holds, in Python; the rest SQL), `extra` among
    them; the address last, its streets read only from the records the others leave. None when the
    rule's patterns match no value (the rule selects nothing). Delete plans and import skip rules."""
    dr = config.delete_rules
    conds: list[str] = []
    if rule.patterns:
        rx = [re.compile(p, re.IGNORECASE) for p in rule.patterns]
        field_conds = []
        for f in rule.fields:
            if f not in cols:
                continue
            distinct = [v[0] for v in con.execute(
                f'SELECT DISTINCT r.{_q(f)} FROM {_q(table)} r WHERE r.{_q(f)} IS NOT NULL AND {restrict}').fetchall()]
            hits = [v for v in distinct if any(x.fullmatch(_pattern_key(v)) for x in rx)]
            if hits:
                field_conds.append(_one_of_sql(con, f"{name}_{rule_no}_{len(field_conds)}", f"r.{_q(f)}", hits))
        if not field_conds:
            return None
        conds.append("(" + " OR ".join(field_conds) + ")")
    if rule.no_valid_email:
        ems = ["coalesce(" + _valid_email_sql(f"r.{_q(f)}") + ", false)" for f in dr.email_fields if f in cols]
        conds.append("NOT (" + (" OR ".join(ems) if ems else "false") + ")")
    if rule.no_phone:
        phs = [_phone_sql(f"r.{_q(f)}") for f in dr.phone_fields if f in cols]
        conds.append("NOT (" + (" OR ".join(phs) if phs else "false") + ")")
    if rule.objects:
        conds.append(f"r.\"Object\" IN ({', '.join(_lit(o) for o in rule.objects)})")
    if not rule.include_business_cards:
        conds.append(f"NOT coalesce({card}, false)")
    conds.extend(extra)
    if rule.no_address:  # (last: its streets are read in Python, only those of the records left)
        where = " AND ".join([restrict, *conds])
        conds.append("NOT (" + _address_sql(con, config, [f for f in dr.address_fields if f in cols], where, table,
                                            f"{name}_addr_{rule_no}") + ")")
    return conds


def delete_candidates(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    """Create `delete_plan(Id, object, reason)`; return its name. Set-based: patterns are tested once
    per distinct value in Python, the rest is SQL."""
    cols = {c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()}
    dr = config.delete_rules
    card = card_sql(con, config)
    grouped = "EXISTS (SELECT 1 FROM group_records g WHERE g.\"Id\" = r.\"Id\")"
    read_only = read_only_record_sql({c.lower(): c for c in cols}, "r")
    selects = []
    extra = [f"NOT {grouped}"]
    if read_only is not None:  # (a converted Lead is the history of a conversion; a deleted record is gone)
        extra.append(f"NOT {read_only}")
    for i, rule in enumerate(dr.rules):
        conds = rule_conditions(con, config, rule, i, cols, card, extra=extra)
        if conds is None:
            continue
        reason = rule.reason.replace("'", "''")
        selects.append(
            f"SELECT r.\"Id\" AS \"Id\", r.\"Object\" AS object, {i} AS rule_no, '{reason}' AS reason "
            f"FROM raw_records r WHERE {' AND '.join(conds)}"
        )
    body = " UNION ALL ".join(selects) if selects else "SELECT NULL::VARCHAR AS \"Id\", NULL::VARCHAR AS object, 0 AS rule_no, NULL::VARCHAR AS reason WHERE false"
    # One row per record: the first rule that matched.
    con.execute(
        f"""CREATE OR REPLACE TABLE delete_plan AS
            SELECT "Id", object, arg_min(reason, rule_no) AS reason FROM ({body}) GROUP BY ALL ORDER BY "Id" """
    )
    return "delete_plan"


def build_plan(con: duckdb.DuckDBPyConnection, config: Config) -> StageResult:
    """Write `plan_steps` and `delete_plan` (see the module doc)."""
    result = StageResult(stage="plan", table="plan_steps")
    with timed(result), fine_grained_scans(con, table_rows(con, "clusters")):
        account = ('nullif(regexp_replace(r."AccountId", \'^\\s+|\\s+$\', \'\', \'g\'), \'\')'
                   if _has_column(con, "raw_records", "AccountId") else "CAST(NULL AS VARCHAR)")
        # Losers of the master's object merged two at a time (Id
        # order), then, into a Contact master, every Lead converted; other mixes get no steps.
        con.execute(f"""
            CREATE OR REPLACE TABLE plan_steps AS
            WITH grp AS (
                -- (the account the master has after the merge: a surviving AccountId -- a card's
                -- Contact under another account -- else its own)
                SELECT s.cluster_id, s.master_id, s.object,
                       coalesce((SELECT nullif(trim(f.value), '') FROM surviving_fields f
                                 WHERE f.cluster_id = s.cluster_id AND f.field = 'AccountId'), {account}) AS account_id, s.reason,
                       (SELECT list_distinct(list(g.object)) FROM group_records g WHERE g.cluster_id = s.cluster_id) AS objs
                FROM survivors s LEFT JOIN raw_records r ON r."Id" = s.master_id
            ),
            ok AS (
                -- (Leads with Person Accounts only: survivorship gave no 'mixed objects' reason)
                SELECT * FROM grp WHERE len(objs) = 1 OR list_sort(objs) = ['Contact', 'Lead']
                    OR (list_sort(objs) = ['Account', 'Lead'] AND coalesce(reason NOT LIKE 'mixed objects%', true))
            ),
            losers AS (
                SELECT g.cluster_id, g."Id", (row_number() OVER (PARTITION BY g.cluster_id ORDER BY g."Id") - 1) // {MAX_LOSERS_PER_MERGE} AS chunk
                FROM group_records g JOIN ok USING (cluster_id)
                WHERE g.object = ok.object AND g."Id" <> ok.master_id
            ),
            merges AS (
                SELECT l.cluster_id, l.chunk AS k, 'merge' AS action, ok.object, ok.master_id,
                       list(l."Id" ORDER BY l."Id") AS loser_ids,
                       NULL::VARCHAR AS lead_id, NULL::VARCHAR AS contact_id, NULL::VARCHAR AS account_id
                FROM losers l JOIN ok USING (cluster_id) GROUP BY l.cluster_id, l.chunk, ok.object, ok.master_id
            ),
            n_merges AS (SELECT cluster_id, count(*) AS n FROM merges GROUP BY cluster_id),
            converts AS (
                SELECT g.cluster_id,
                       coalesce(m.n, 0) + row_number() OVER (PARTITION BY g.cluster_id ORDER BY g."Id") - 1 AS k,
                       'convert_lead' AS action, 'Lead' AS object, NULL::VARCHAR AS master_id, NULL::VARCHAR[] AS loser_ids,
                       g."Id" AS lead_id,
                       CASE WHEN ok.object = 'Contact' THEN ok.master_id END AS contact_id,
                       CASE WHEN ok.object = 'Contact' THEN ok.account_id ELSE ok.master_id END AS account_id
                FROM group_records g JOIN ok USING (cluster_id) LEFT JOIN n_merges m USING (cluster_id)
                WHERE ok.object IN ('Contact', 'Account') AND g.object = 'Lead'
            )
            SELECT cluster_id, CAST(k + 1 AS INTEGER) AS step_no, action, object, master_id, loser_ids,
                   lead_id, contact_id, account_id
            FROM (SELECT * FROM merges UNION ALL SELECT * FROM converts)
            ORDER BY cluster_id, step_no""")
        actions = dict(con.execute("SELECT action, count(*) FROM plan_steps GROUP BY action ORDER BY action").fetchall())
        n_steps = sum(actions.values())
        delete_candidates(con, config)
        n_delete = con.execute("SELECT count(*) FROM delete_plan").fetchall()[0][0]
        n_leads = leads_at_accounts(con)  # (a worklist: Leads of existing customer Accounts)
        result.rows = n_steps
        result.stats = {"steps": actions, "delete_candidates": int(n_delete), "leads_at_accounts": n_leads}
    return result


def _has_column(con: duckdb.DuckDBPyConnection, table: str, col: str) -> bool:
    return col in {c[0] for c in con.execute(f'DESCRIBE "{table}"').fetchall()}


# ---------------------------------------------------------------------------------------------
# Outputs


def plan_identity(con: duckdb.DuckDBPyConnection, config: Config, content: str = "") -> tuple[str, str]:
    """(plan_id, created_at): plan_id from the input, the config, the plan format and `content` (the
    digest of the plan's content, plan_content_digest); created_at from the input."""
    cols = [c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall() if not c[0].startswith("_source_")]
    row = "concat_ws(chr(31), " + ", ".join(f'coalesce(CAST("{c}" AS VARCHAR), chr(0))' for c in cols) + ")"
    digest = con.execute(f'SELECT md5(string_agg(md5({row}), \'\' ORDER BY "Id")) FROM raw_records').fetchall()[0][0]
    h = hashlib.sha256()
    h.update((digest or "").encode())
    h.update(b"\x00")
    h.update(json.dumps(config.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    h.update(b"\x00" + PLAN_FORMAT.encode() + b"\x00" + content.encode())
    ts = con.execute(
        "SELECT strftime(coalesce(max(last_modified_date), max(created_date), TIMESTAMP '1970-01-01'), '%Y-%m-%dT%H:%M:%SZ') "
        "FROM normalized_records"
    ).fetchall()[0][0]
    return "plan_" + h.hexdigest()[:24], ts


def _table_digest(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """md5 of every row of `table` (as JSON, in a fixed order); '' when the table is empty or absent."""
    if not table_exists(con, table):
        return ""
    return con.execute(
        f"SELECT CASE WHEN count(*) = 0 THEN '' ELSE md5(string_agg(j, chr(30) ORDER BY j)) END FROM "
        f'(SELECT CAST(to_json(t) AS VARCHAR) AS j FROM "{table}" t)'
    ).fetchall()[0][0] or ""


def plan_content_digest(con: duckdb.DuckDBPyConnection, group_lines_sha256: str) -> str:
    """The digest of a plan's content: its group lines (merge_plan.json, hashed as written), its delete
    candidates and its Leads at Accounts."""
    return "|".join((group_lines_sha256, _table_digest(con, "delete_plan"), _table_digest(con, "lead_accounts")))


def _modified_expr(con: duckdb.DuckDBPyConnection, alias: str) -> str:
    """SQL for a record's as-of time in raw_records: SystemModstamp, else LastModifiedDate, else NULL."""
    cols = [c for c in ("SystemModstamp", "LastModifiedDate") if _has_column(con, "raw_records", c)]
    if not cols:
        return "CAST(NULL AS VARCHAR)"
    return "coalesce(" + ", ".join(f'nullif(CAST({alias}."{c}" AS VARCHAR), \'\')' for c in cols) + ")"


def _cluster_json_sql(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    """SQL giving (cluster_id, body, reason): each group of merge_plan.json as one JSON object,
    built in DuckDB (set-based; no per-group Python)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _plan_evidence AS {evidence_select(con, config)}")
    ev_cols = [c[0] for c in con.execute("DESCRIBE _plan_evidence").fetchall()]
    comps = [c.name for c in COMPARISONS if c.name in ev_cols]
    # (a group of business Accounts: each pair's rule and what agreed, nayose.accounts)
    account_evidence = """UNION ALL
            SELECT a.cluster_id, to_json(list(json_object(
                       'left_id', e.left_id, 'right_id', e.right_id, 'match_probability', e.match_probability,
                       'decision', e.decision, 'rule', e.rule, 'agrees', e.evidence)
                   ORDER BY e.decision, e.left_id, e.right_id))
            FROM account_pairs e
            JOIN group_records a ON a."Id" = e.left_id JOIN group_records b ON b."Id" = e.right_id
            WHERE a.cluster_id = b.cluster_id
            GROUP BY a.cluster_id""" if table_exists(con, "account_pairs") else ""
    levels = "json_object(" + ", ".join(f"'{c}', e.{c}" for c in comps) + ")"
    weights = "json_object(" + ", ".join(f"'{c}', e.{c}_weight" for c in comps) + ")"
    return f"""
        WITH ev AS (
            SELECT a.cluster_id, to_json(list(json_object(
                       'left_id', e.left_id, 'right_id', e.right_id, 'match_probability', e.match_probability,
                       'decision', e.decision, 'gate', e.gate, 'levels', {levels}, 'weights', {weights})
                   ORDER BY e.match_probability DESC, e.left_id, e.right_id)) AS evidence
            FROM _plan_evidence e
            JOIN group_records a ON a."Id" = e.left_id JOIN group_records b ON b."Id" = e.right_id
            WHERE a.cluster_id = b.cluster_id
            GROUP BY a.cluster_id
            {account_evidence}
        ),
        fv AS (
            SELECT cluster_id, '{{' || string_agg(to_json(field) || ':' || json_object('value', value, 'from_id', from_id, 'rule', rule),
                                             ',' ORDER BY ord) || '}}' AS fields
            FROM surviving_fields GROUP BY cluster_id
        ),
        lo AS (
            SELECT cluster_id, list("Id" ORDER BY "Id") AS loser_ids FROM group_records WHERE NOT is_master GROUP BY cluster_id
        ),
        st AS (
            SELECT cluster_id, to_json(list(CASE WHEN action = 'merge'
                       THEN json_object('action', 'merge', 'master_id', master_id, 'loser_ids', loser_ids)
                       ELSE json_object('action', 'convert_lead', 'lead_id', lead_id, 'contact_id', contact_id,
                                        'account_id', account_id) END ORDER BY step_no)) AS steps
            FROM plan_steps GROUP BY cluster_id
        ),
        ao AS (
            SELECT g.cluster_id, '{{' || string_agg(to_json(g."Id") || ':' || to_json({_modified_expr(con, "r")}), ','
                                                   ORDER BY g."Id") || '}}' AS as_of
            FROM group_records g JOIN raw_records r ON r."Id" = g."Id" GROUP BY g.cluster_id
        )
        SELECT s.cluster_id,
               '{{"cluster_id":' || to_json(s.cluster_id) || ',"object":' || to_json(s.object)
               || ',"status":' || to_json(s.status) || ',"master_id":' || to_json(s.master_id)
               || ',"loser_ids":' || coalesce(CAST(to_json(lo.loser_ids) AS VARCHAR), '[]')
               || ',"fields":' || coalesce(fv.fields, '{{}}')
               || ',"steps":' || coalesce(CAST(st.steps AS VARCHAR), '[]')
               || ',"as_of":' || coalesce(ao.as_of, '{{}}')
               || ',"evidence":' || coalesce(CAST(ev.evidence AS VARCHAR), '[]') || '}}' AS body,
               s.reason
        FROM survivors s
        LEFT JOIN lo USING (cluster_id) LEFT JOIN fv USING (cluster_id) LEFT JOIN st USING (cluster_id)
        LEFT JOIN ao USING (cluster_id) LEFT JOIN ev USING (cluster_id)
        ORDER BY s.cluster_id"""


def _cluster_lines(con: duckdb.DuckDBPyConnection, config: Config) -> Iterable[str]:
    """merge_plan.json's group lines in cluster_id order, streamed in Arrow batches."""
    reader = con.sql(_cluster_json_sql(con, config)).to_arrow_reader(batch_size=20_000)
    for batch in reader:
        bodies = batch.column("body").to_pylist()
        reasons = batch.column("reason").to_pylist()
        for body, reason in zip(bodies, reasons):
            if reason:
                body = body[:-1] + ',"status_reason":' + json.dumps(reason, ensure_ascii=False) + "}"
            yield body


def plan_document(con: duckdb.DuckDBPyConnection, config: Config) -> dict:
    """merge_plan.json as a dict."""
    lines = list(_cluster_lines(con, config))
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8") + b"\n")
    plan_id, created_at = plan_identity(con, config, plan_content_digest(con, h.hexdigest()))
    return {"plan_id": plan_id, "created_at": created_at, "clusters": [json.loads(line) for line in lines]}


def write_plan_json(path: Path, doc: dict, lines: Iterable[str] | None = None) -> int:
    """merge_plan.json with one group per line: valid JSON, diff- and grep-friendly. The groups come
    from doc["clusters"] (dicts), or already encoded from `lines`. Returns the number of groups."""
    head = {k: v for k, v in doc.items() if k != "clusters"}
    if lines is None:
        lines = (json.dumps(c, ensure_ascii=False) for c in doc.get("clusters", []))
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "clusters": [')
        for line in lines:
            f.write(("\n" if n == 0 else ",\n") + line)
            n += 1
        f.write("\n]}\n")
    return n


def excel_safe_sql(expr: str) -> str:
    """SQL twin of excel_safe: text, '' for NULL, a leading apostrophe before = + - @ tab or CR."""
    v = f"CAST({expr} AS VARCHAR)"
    return (f"CASE WHEN {v} IS NULL THEN '' WHEN regexp_matches({v}, '^[-=+@\\t\\r]') "
            f"THEN chr(39) || {v} ELSE {v} END")


def copy_csv(con: duckdb.DuckDBPyConnection, query: str, columns: list[str], path: Path) -> int:
    """Write `query` (its columns named `columns`, in order) as a CSV like write_csv's — UTF-8, every
    cell quoted, CRLF, Excel-safe — through DuckDB's COPY; returns the rows written."""
    cols = ", ".join(f'{excel_safe_sql(chr(34) + c + chr(34))} AS "{excel_safe(c)}"' for c in columns)
    target = str(path).replace("'", "''")
    n = con.execute(
        f"COPY (SELECT {cols} FROM ({query})) TO '{target}' (FORMAT csv, HEADER, FORCE_QUOTE *, NEW_LINE '\r\n')"
    ).fetchall()
    return int(n[0][0]) if n else 0


#: The files write_plan_outputs writes: a matching run without the plan (--no-plan) removes an
#: older run's from its folder (pipeline.publish_outputs), so no older plan sits beside newer groups.
#: The plan document first, then the files kept beside it (review.PLAN_FILES).
PLAN_OUTPUT_FILES = ("merge_plan.json", "merge_plan.csv", "field_changes.csv", "delete_plan.csv", "lead_accounts.csv")


def write_plan_outputs(con: duckdb.DuckDBPyConnection, out_dir: str | Path, config: Config) -> dict:
    """Write merge_plan.json, merge_plan.csv, field_changes.csv, delete_plan.csv into out_dir;
    return counts. Everything is produced by DuckDB (JSON per group, COPY for the CSVs)."""
    with fine_grained_scans(con, table_rows(con, "clusters")):
        return _write_plan_outputs(con, out_dir, config)


def _write_plan_outputs(con: duckdb.DuckDBPyConnection, out_dir: str | Path, config: Config) -> dict:
    out = Path(out_dir)
    if not table_exists(con, "lead_accounts"):  # (a store whose plan was made before Leads at Accounts)
        con.execute(f"CREATE OR REPLACE TEMP TABLE lead_accounts ({LEAD_ACCOUNTS_COLUMNS})")
    # The group lines are made once, hashed as they are spooled to a file; the plan id covers them.
    spool = out / ".merge_plan.groups"
    h = hashlib.sha256()
    try:
        with open(spool, "w", encoding="utf-8", newline="\n") as f:
            for line in _cluster_lines(con, config):
                h.update(line.encode("utf-8") + b"\n")
                f.write(line + "\n")
        plan_id, created_at = plan_identity(con, config, plan_content_digest(con, h.hexdigest()))
        with open(spool, encoding="utf-8", newline="\n") as f:
            n_groups = write_plan_json(out / "merge_plan.json", {"plan_id": plan_id, "created_at": created_at},
                                       (line.rstrip("\n") for line in f))
    finally:
        spool.unlink(missing_ok=True)
    pid = "'" + plan_id.replace("'", "''") + "'"
    n_steps = copy_csv(
        con,
        f"""SELECT {pid} AS plan_id, p.cluster_id, s.status, p.step_no AS step, p.action,
                   CASE WHEN p.action = 'convert_lead' THEN 'Lead' ELSE s.object END AS object,
                   p.master_id AS "MasterRecordId", p.loser_ids[1] AS "LoserId1", p.loser_ids[2] AS "LoserId2",
                   p.lead_id AS "LeadId", p.contact_id AS "ContactId", p.account_id AS "AccountId",
                   -- (why a group is held for review, beyond the match itself: what merge_plan.json's
                   -- status_reason says, for an analyst working from the CSV)
                   s.reason AS status_reason
            FROM plan_steps p JOIN survivors s USING (cluster_id) ORDER BY p.cluster_id, p.step_no""",
        ["plan_id", "cluster_id", "status", "step", "action", "object", "MasterRecordId", "LoserId1", "LoserId2",
         "LeadId", "ContactId", "AccountId", "status_reason"],
        out / "merge_plan.csv",
    )
    # What changes on each master: the master's current value vs the surviving one (a blank and an
    # empty string are the same).
    raw_cols = {c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()}
    fields = [f for (f,) in con.execute("SELECT DISTINCT field FROM surviving_fields ORDER BY field").fetchall()
              if f in raw_cols]
    if fields:
        cast = ", ".join(f'CAST(r."{f}" AS VARCHAR) AS "{f}"' for f in fields)
        names = ", ".join(f'"{f}"' for f in fields)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _plan_current AS
            SELECT __id, field, value FROM (
                UNPIVOT (SELECT r."Id" AS __id, {cast} FROM raw_records r SEMI JOIN survivors s ON s.master_id = r."Id")
                ON {names} INTO NAME field VALUE value)""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _plan_current (__id VARCHAR, field VARCHAR, value VARCHAR)")
    n_changes = copy_csv(
        con,
        f"""SELECT s.cluster_id, s.status, s.master_id, f.field, c.value AS current_value, f.value AS new_value,
                  f.from_id, f.rule, {_written_sql("f.field", "s.object")} AS written
           FROM survivors s JOIN surviving_fields f USING (cluster_id)
           LEFT JOIN _plan_current c ON c.__id = s.master_id AND c.field = f.field
           WHERE nullif(c.value, '') IS DISTINCT FROM nullif(f.value, '')
           ORDER BY s.cluster_id, f.ord""",
        ["cluster_id", "status", "master_id", "field", "current_value", "new_value", "from_id", "rule", "written"],
        out / "field_changes.csv",
    )
    n_not_written = con.execute(
        f"""SELECT count(*) FROM survivors s JOIN surviving_fields f USING (cluster_id)
            LEFT JOIN _plan_current c ON c.__id = s.master_id AND c.field = f.field
            WHERE nullif(c.value, '') IS DISTINCT FROM nullif(f.value, '') AND {_written_sql("f.field", "s.object")} <> 'yes'"""
    ).fetchall()[0][0]
    con.execute("DROP TABLE IF EXISTS _plan_current")
    n_delete = copy_csv(
        con,
        f"""SELECT {pid} AS plan_id, d."Id", d.object, d.reason, {_modified_expr(con, "r")} AS as_of
            FROM delete_plan d JOIN raw_records r ON r."Id" = d."Id" ORDER BY d."Id" """,
        ["plan_id", "Id", "object", "reason", "as_of"],
        out / "delete_plan.csv",
    )
    # Leads of existing customer Accounts (a worklist; every run writes the file, the header alone when
    # no Lead is listed, so that none is left over from an earlier run's)
    company = 'CAST(r."Company" AS VARCHAR)' if "Company" in raw_cols else "l.lead_company"
    n_leads = copy_csv(
        con,
        f"""SELECT {pid} AS plan_id, l.lead_id AS "LeadId", l.account_id AS "AccountId", l.account_name,
                   {company} AS lead_company, l.rule, l.agrees, l.accounts_named, {_modified_expr(con, "r")} AS as_of,
                   {_modified_expr(con, "a")} AS account_as_of
            FROM lead_accounts l JOIN raw_records r ON r."Id" = l.lead_id LEFT JOIN raw_records a ON a."Id" = l.account_id
            ORDER BY l.lead_id""",
        ["plan_id", "LeadId", "AccountId", "account_name", "lead_company", "rule", "agrees", "accounts_named", "as_of",
         "account_as_of"],
        out / "lead_accounts.csv",
    )
    return {"plan_id": plan_id, "groups": n_groups, "steps": n_steps,
            "field_changes": n_changes, "field_changes_not_written": int(n_not_written),
            "delete_candidates": n_delete, "leads_at_accounts": n_leads}
