"""Import plans: one decision per incoming row — insert, update, review or skip — and the files
to carry them out with Salesforce Data Loader.

After link mode (`nayose.link`) has scored the incoming rows against the org and against each
other, `decide(con, config)` writes `import_decisions`, one row per incoming row:

* the file's own duplicates collapse first: rows identical in every column are `skip` (exact
  duplicate of the first one); rows the engine groups as one person (an auto group of incoming
  rows) are decided once, on the group's first row, and the others are `skip` (duplicate in the
  file) — their values still take part in the update or the insert;
* rows matching a `delete_rules` rule named in `import_plan.skip_rules` (test / dummy names) are
  `skip` -- the rule read as the dedupe plan reads it (patterns, no_valid_email, no_phone,
  no_address, objects, include_business_cards) -- unless an existing record matches them at the
  auto threshold: that record is updated (as a record of a duplicate group is never a delete
  candidate);
* the best existing candidate of each group (highest match probability, then the smallest Id):
  at or above the auto threshold -> `update`, at or above the review threshold -> `review`;
  otherwise `insert`, or `review` when the row is only uncertainly linked to another incoming row.
  An existing record claimed by several incoming groups stays with the best one; the others go
  to `review`.
* an `update` whose surviving values change nothing on the existing record is `skip` (already in
  the org).

Update values come from the engine's survivorship rules with the existing record as the master:
a business-card value in the org is never overwritten by a non-card value, a card in the incoming
file wins (incoming rows rank as the newest records), a blank never wins, names keep their kanji.
Only fields the org export has are updated (their current value is known); relationship and
system fields never are.

`write_import_outputs` writes, all UTF-8 CSV (Excel-safe unless `import_plan.excel_safe: false`):

* `import_insert.csv`: `incoming_id, object`, then the incoming columns under their API names;
* `import_update.csv`: `Id, object, incoming_id, match_probability, as_of, changed_fields`, then
  one column per updated field (an empty cell leaves the field unchanged: keep Data Loader's
  "Insert null values" off);
* `import_changes.csv`: per update and field: current value -> new value, the record it came from
  and the rule;
* `import_review.csv`: the uncertain rows with the candidate's Id and the evidence;
* `import_decisions.csv`: every incoming row with its decision and reason;
* `import_summary.json`.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

import duckdb

from nayose.config import Config
from nayose.errors import InputError, NayoseError
from nayose.link import INCOMING_PREFIX, columns, link_records, load_link_inputs
from nayose.plan import excel_safe, rule_conditions
from nayose.progress import StageProgress
from nayose.score import COMPARISONS, gate_label_sql
from nayose.stage import StageResult, timed
from nayose.store import connect
from nayose.survive import card_sql, considered_fields, script_rank

DECISIONS = ("insert", "update", "review", "skip")
JOB_CHANGE_REASON = "the card's company is not the contact's account (a job change?): update or add a contact by hand"
OUTPUT_FILES = (
    "import_insert.csv", "import_update.csv", "import_changes.csv", "import_review.csv",
    "import_decisions.csv", "import_summary.json",
)
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # a field Data Loader can write (no relationship paths)
NEVER_WRITTEN = {"Id", "Object", "AccountId", "MasterRecordId", "IsDeleted", "IsConverted"}
REVIEW_VALUES = ["full_name", "company_core", "email", "phone", "mobile", "postal_code", "street", "birthdate"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Decisions


def _skip_rule_sql(con: duckdb.DuckDBPyConnection, config: Config) -> list[tuple[str, str]]:
    """(SQL condition over import_raw aliased r, reason) for each delete rule named in
    import_plan.skip_rules. Patterns are tested once per distinct incoming value."""
    cols = set(columns(con, "import_raw"))
    dr = config.delete_rules
    wanted = set(config.import_plan.skip_rules)
    unknown = wanted - {r.name for r in dr.rules}
    if unknown:
        raise NayoseError(f"import_plan.skip_rules: no delete rule named {', '.join(sorted(unknown))}")
    card = card_sql(con, config, table="import_raw", alias="r")
    out = []
    for i, rule in enumerate(r for r in dr.rules if r.name in wanted):
        # (the delete rules' own conditions, over the incoming rows only)
        conds = rule_conditions(con, config, rule, i, cols, card, table="import_raw", name="_import_skip",
                                restrict=f'starts_with(r."Id", {_lit(INCOMING_PREFIX)})')
        if conds is None:
            continue
        out.append((" AND ".join(conds), f"skip rule {rule.name}: {rule.reason}"))
    return out


def decide(con: duckdb.DuckDBPyConnection, config: Config) -> StageResult:
    """Write `import_decisions(row_no, incoming_id, "Id", decision, reason, existing_id, object,
    match_probability, duplicate_of, unit)` — `Id` is the internal incoming Id, `existing_id` the
    matched existing record, `duplicate_of` the incoming_id of the row this one duplicates, `unit`
    the internal Id of the row the decision was made on (the group's first row)."""
    result = StageResult(stage="decide", table="import_decisions")
    th = config.matching.thresholds
    with timed(result):
        in_cols = [c for c in columns(con, "import_incoming_raw") if c not in ("Id", "_source_file", "_source_row")]
        row_hash = "hash(" + ", ".join(f"r.{_q(c)}" for c in in_cols) + ")" if in_cols else "0"
        skips = _skip_rule_sql(con, config)
        skip_case = " ".join(f"WHEN {cond} THEN {_lit(reason)}" for cond, reason in skips)
        skip_expr = f"CASE {skip_case} END" if skips else "NULL::VARCHAR"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _imp_rows AS
            WITH base AS (
                SELECT s.rec_idx, s."Id", s.row_no, o.incoming_id, r."Object" AS object,
                       {row_hash} AS h, {skip_expr} AS skip_reason,
                       c.cluster_id, c.status AS in_status
                FROM import_side s
                JOIN import_rows o ON o."Id" = s."Id"
                JOIN import_raw r ON r."Id" = s."Id"
                JOIN import_in_clusters c ON c.rec_idx = s.rec_idx
                WHERE s.incoming
            )
            SELECT *,
                   first("Id" ORDER BY row_no) OVER (PARTITION BY h) AS exact_first,
                   CASE WHEN in_status = 'auto' THEN first("Id" ORDER BY row_no) OVER (PARTITION BY cluster_id)
                        ELSE "Id" END AS unit
            FROM base"""
        )
        # Best existing candidate per unit (pairs with exactly one incoming side).
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _imp_cand AS
            WITH p AS (
                SELECT CASE WHEN a.incoming THEN p.left_idx ELSE p.right_idx END AS in_idx,
                       CASE WHEN a.incoming THEN p.right_idx ELSE p.left_idx END AS ex_idx,
                       p.match_probability AS prob
                FROM import_scored_pairs p
                JOIN import_side a ON a.rec_idx = p.left_idx JOIN import_side b ON b.rec_idx = p.right_idx
                WHERE a.incoming <> b.incoming AND p.match_probability >= {float(th.review)!r}
            ),
            u AS (
                SELECT r.unit, p.ex_idx, max(p.prob) AS prob, arg_max(p.in_idx, p.prob) AS in_idx
                FROM p JOIN _imp_rows r ON r.rec_idx = p.in_idx
                WHERE r.exact_first = r."Id"
                GROUP BY r.unit, p.ex_idx
            )
            SELECT u.*, e."Id" AS existing_id,
                   row_number() OVER (PARTITION BY u.unit ORDER BY u.prob DESC, e."Id") AS rank_in_unit
            FROM u JOIN import_side e ON e.rec_idx = u.ex_idx"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _imp_best AS
            WITH b AS (SELECT c.*, r.row_no FROM _imp_cand c JOIN _imp_rows r ON r."Id" = c.unit WHERE rank_in_unit = 1)
            SELECT b.*,
                   row_number() OVER (PARTITION BY ex_idx ORDER BY prob DESC, row_no) AS claim_rank,
                   first(unit ORDER BY prob DESC, row_no) OVER (PARTITION BY ex_idx) AS claimed_by
            FROM b"""
        )
        # Link mode's one-to-one evidence for rows with no candidate at the review threshold: the
        # best existing candidate (by match weight) when each is the other's best and neither is
        # linked elsewhere, with person-level evidence (gate 1 stays a non-match) -> review.
        mb_min = config.import_plan.mutual_best_min_probability
        min_weight = math.log2(mb_min / (1 - mb_min)) if mb_min is not None else math.inf
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _imp_mutual AS
            WITH p AS (
                SELECT CASE WHEN a.incoming THEN p.left_idx ELSE p.right_idx END AS in_idx,
                       CASE WHEN a.incoming THEN p.right_idx ELSE p.left_idx END AS ex_idx,
                       p.match_weight AS w, p.match_probability AS prob, p.gate
                FROM import_scored_pairs p
                JOIN import_side a ON a.rec_idx = p.left_idx JOIN import_side b ON b.rec_idx = p.right_idx
                WHERE a.incoming <> b.incoming
            ),
            u AS (
                SELECT r.unit, p.ex_idx, max(p.w) AS w, arg_max(p.prob, p.w) AS prob, arg_max(p.gate, p.w) AS gate,
                       any_value(o.row_no) AS row_no
                FROM p JOIN _imp_rows r ON r.rec_idx = p.in_idx JOIN _imp_rows o ON o."Id" = r.unit
                WHERE r.exact_first = r."Id" AND r.skip_reason IS NULL
                GROUP BY r.unit, p.ex_idx
            ),
            ranked AS (
                SELECT u.*, e."Id" AS existing_id,
                       row_number() OVER (PARTITION BY u.unit ORDER BY u.w DESC, e."Id") AS k_in,
                       row_number() OVER (PARTITION BY u.ex_idx ORDER BY u.w DESC, u.row_no) AS k_ex
                FROM u JOIN import_side e ON e.rec_idx = u.ex_idx
            )
            SELECT unit, existing_id, prob, w FROM ranked
            WHERE k_in = 1 AND k_ex = 1 AND gate <> 1 AND w >= {min_weight!r}
              AND unit NOT IN (SELECT unit FROM _imp_best)
              AND ex_idx NOT IN (SELECT ex_idx FROM _imp_best)"""
        ) if mb_min is not None else con.execute(
            "CREATE OR REPLACE TEMP TABLE _imp_mutual (unit VARCHAR, existing_id VARCHAR, prob DOUBLE, w FLOAT)"
        )
        # Rows linked to another incoming row only uncertainly (a review group of the file).
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _imp_in_review AS
            WITH e AS (
                SELECT left_idx AS a, right_idx AS b, match_probability AS prob FROM import_in_pairs
                WHERE match_probability >= {float(th.review)!r}
                UNION ALL
                SELECT right_idx, left_idx, match_probability FROM import_in_pairs
                WHERE match_probability >= {float(th.review)!r}
            )
            SELECT r."Id", arg_max(o."Id", e.prob) AS other, max(e.prob) AS prob
            FROM e JOIN _imp_rows r ON r.rec_idx = e.a JOIN _imp_rows o ON o.rec_idx = e.b
            WHERE r.in_status = 'review'
            GROUP BY r."Id" """
        )
        auto = float(th.auto)
        # A skip rule keeps a row out of the org (no insert, no review), but a row that matches an
        # existing record at the auto threshold updates it: the person is already there, as in the
        # dedupe plan, where a record of a duplicate group is never a delete candidate.
        rule_skip = f"(r.skip_reason IS NOT NULL AND NOT coalesce(b.prob >= {auto!r}, false))"
        con.execute(
            f"""CREATE OR REPLACE TABLE import_decisions AS
            SELECT r.row_no, r.incoming_id, r."Id", r.unit, r.object,
                CASE WHEN r.exact_first <> r."Id" THEN 'skip'
                     WHEN r.unit <> r."Id" THEN 'skip'
                     WHEN {rule_skip} THEN 'skip'
                     WHEN b.prob >= {auto!r} AND b.claim_rank = 1 THEN 'update'
                     WHEN b.prob IS NOT NULL THEN 'review'
                     WHEN mb.unit IS NOT NULL THEN 'review'
                     WHEN ir."Id" IS NOT NULL THEN 'review'
                     ELSE 'insert' END AS decision,
                CASE WHEN r.exact_first <> r."Id" THEN 'exact duplicate of incoming row ' || xo.incoming_id
                     WHEN r.unit <> r."Id" THEN 'duplicate in the file of incoming row ' || uo.incoming_id
                     WHEN {rule_skip} THEN r.skip_reason
                     WHEN b.prob >= {auto!r} AND b.claim_rank = 1 THEN 'matches an existing record'
                     WHEN b.prob >= {auto!r} THEN 'the existing record also matches incoming row ' || co.incoming_id
                     WHEN b.prob IS NOT NULL THEN 'uncertain match with an existing record'
                     WHEN mb.unit IS NOT NULL THEN 'best mutual candidate, below the review threshold'
                     WHEN ir."Id" IS NOT NULL THEN 'may duplicate incoming row ' || io.incoming_id
                     ELSE 'no existing record matches' END AS reason,
                CASE WHEN r.exact_first <> r."Id" OR r.unit <> r."Id" THEN ub.existing_id
                     WHEN NOT {rule_skip} THEN coalesce(b.existing_id, mb.existing_id) END AS existing_id,
                CASE WHEN r.exact_first <> r."Id" OR r.unit <> r."Id" THEN ub.prob
                     WHEN NOT {rule_skip} THEN coalesce(b.prob, mb.prob, ir.prob) END AS match_probability,
                CASE WHEN r.exact_first <> r."Id" THEN xo.incoming_id
                     WHEN r.unit <> r."Id" THEN uo.incoming_id
                     WHEN b.prob IS NULL AND mb.unit IS NULL AND ir."Id" IS NOT NULL THEN io.incoming_id END AS duplicate_of
            FROM _imp_rows r
            LEFT JOIN _imp_best b ON b.unit = r."Id" AND r.exact_first = r."Id"
            LEFT JOIN _imp_rows xf ON xf."Id" = r.exact_first
            LEFT JOIN _imp_best ub ON ub.unit = xf.unit AND ub.claim_rank = 1
            LEFT JOIN import_rows xo ON xo."Id" = r.exact_first
            LEFT JOIN import_rows uo ON uo."Id" = r.unit
            LEFT JOIN import_rows co ON co."Id" = b.claimed_by
            LEFT JOIN _imp_mutual mb ON mb.unit = r."Id" AND r.exact_first = r."Id"
            LEFT JOIN _imp_in_review ir ON ir."Id" = r."Id"
            LEFT JOIN import_rows io ON io."Id" = ir.other
            ORDER BY r.row_no"""
        )
        counts = dict(con.execute("SELECT decision, count(*) FROM import_decisions GROUP BY decision").fetchall())
        result.rows = int(sum(counts.values()))
        result.stats = {"decisions": {d: int(counts.get(d, 0)) for d in DECISIONS}}
    return result


# ---------------------------------------------------------------------------------------------
# Survivorship: update values and merged inserts


def survive_updates(con: duckdb.DuckDBPyConnection, config: Config) -> StageResult:
    """Run the engine's survivorship SQL on the import's groups: per update the existing record
    and the incoming rows of its unit (the existing record is the master: survivorship ranks by
    `oldest`, and incoming rows are the newest records), per insert of several incoming rows
    those rows (the first row is the master). It runs on a private in-memory DuckDB, so a store
    holding a dedupe run keeps its survivors / surviving_fields.

    Writes `import_changes(row_no, incoming_id, existing_id, object, ord, field, current_value,
    new_value, from_id, rule, from_card)` — the updated fields whose surviving value comes from an
    incoming row and differs from the existing value — and `import_insert_values(row_no, field,
    value)`; turns updates that change nothing into `skip` (already in the org), and updates where
    an incoming Contact meets an existing Lead, or a card meets a Contact at another company (a
    job change: `survive.other_company_sql`), into `review`."""
    from nayose.survive import (drop_malformed_values, drop_misread_values, drop_placeholder_values, long_values,
                                other_company_sql, person_account_sql, run_survive_sql)

    result = StageResult(stage="survive", table="import_changes")
    sv = config.survivorship
    with timed(result):
        fields = considered_fields(columns(con, "import_raw"), sv)
        ex_cols = set(columns(con, "import_existing_view"))
        updatable = sorted(f for f in fields + list(sv.lead_to_contact_fields.values()) + list(sv.lead_to_person_account_fields.values())
                           if f in ex_cols and API_NAME.match(f) and f not in NEVER_WRITTEN and f not in sv.system_fields)
        # Group members: (cluster_id = the unit's internal Id, record Id, existing?)
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _imp_members AS
            WITH units AS (
                SELECT d."Id" AS unit, d.decision, d.existing_id FROM import_decisions d
                WHERE d.decision = 'update'
                   OR (d.decision = 'insert' AND EXISTS (
                        SELECT 1 FROM import_decisions o WHERE o.unit = d."Id" AND o."Id" <> d."Id"))
            )
            SELECT u.unit AS cluster_id, o."Id" AS id, false AS existing, u.decision
            FROM units u JOIN import_decisions o ON o.unit = u.unit
            UNION ALL
            SELECT u.unit, u.existing_id, true, u.decision FROM units u WHERE u.decision = 'update'"""
        )
        card = card_sql(con, config, table="import_raw", alias="r")
        rec = con.sql(
            f"""SELECT m.cluster_id, m.decision AS status, m.id, r."Object" AS object,
                       CASE WHEN m.existing THEN coalesce(epoch(n.created_date), 0) ELSE epoch(n.created_date) END AS created,
                       epoch(n.last_modified_date) AS modified, coalesce({card}, false) AS is_card,
                       {person_account_sql(con, "r", "import_raw")} AS is_person
                FROM _imp_members m JOIN import_raw r ON r."Id" = m.id JOIN import_normalized n ON n.id = m.id"""
        ).to_arrow_table()
        raw = con.sql(
            'SELECT r."Id" AS __id, r.* EXCLUDE ("Id") FROM import_raw r SEMI JOIN _imp_members m ON m.id = r."Id"'
        ).to_arrow_table()
        mem = duckdb.connect(":memory:")
        try:
            mem.register("_rec_arrow", rec)
            mem.execute("CREATE TEMP TABLE _sv_rec AS SELECT * FROM _rec_arrow")
            mem.register("_raw_arrow", raw)
            long_values(mem, "SELECT * FROM _raw_arrow", fields)
            # (placeholders -- 不明, 090-1234-5678 -- do not compete, but the existing value shown is what the org holds)
            mem.execute("CREATE TEMP TABLE _sv_long_all AS SELECT * FROM _sv_long0")
            drop_placeholder_values(mem, config)
            drop_misread_values(mem)
            drop_malformed_values(mem)
            run_survive_sql(mem, fields, sv.model_copy(update={"master_order": ["oldest"]}))
            upd_list = ", ".join(_lit(f) for f in updatable) or "NULL"
            changes = mem.sql(
                f"""SELECT s.cluster_id AS unit, s.master_id AS existing_id, s.object, f.ord, f.field,
                           cur.value AS current_value, f.value AS new_value, f.from_id, f.rule, src.is_card AS from_card
                    FROM surviving_fields f JOIN survivors s USING (cluster_id)
                    JOIN _sv_rec m ON m.cluster_id = s.cluster_id AND m.id = s.master_id
                    JOIN _sv_rec src ON src.cluster_id = f.cluster_id AND src.id = f.from_id
                    LEFT JOIN _sv_long_all cur ON cur.id = s.master_id AND cur.field = f.field
                    WHERE m.status = 'update' AND f.from_id <> s.master_id AND f.field IN ({upd_list})
                      AND f.value IS DISTINCT FROM cur.value
                      -- (a business-card record's LeadSource, even blank, is not filled from a
                      -- non-card row: a purchased list's 購入リスト would relabel the card)
                      AND NOT (f.field IN ('LeadSource', 'PersonLeadSource') AND m.is_card AND NOT src.is_card)"""
            ).to_arrow_table()
            masters = mem.sql(
                "SELECT s.cluster_id AS unit, s.master_id FROM survivors s JOIN _sv_rec m "
                "ON m.cluster_id = s.cluster_id AND m.id = s.master_id WHERE m.status = 'update'"
            ).to_arrow_table()
            insert_values = mem.sql(
                """SELECT f.cluster_id AS unit, f.field, f.value FROM surviving_fields f
                   JOIN _sv_rec m ON m.cluster_id = f.cluster_id AND m.id = f.from_id WHERE m.status = 'insert'"""
            ).to_arrow_table()
        finally:
            mem.close()
        for name, t in (("_imp_changes_arrow", changes), ("_imp_masters_arrow", masters), ("_imp_iv_arrow", insert_values)):
            con.register(name, t)
        try:
            # The master is the existing record unless an incoming Contact met an existing Lead.
            con.execute(
                """UPDATE import_decisions SET decision = 'review',
                       reason = 'an incoming Contact matches an existing Lead: convert the Lead instead'
                   WHERE decision = 'update' AND "Id" IN (
                       SELECT m.unit FROM _imp_masters_arrow m JOIN import_decisions d ON d."Id" = m.unit
                       WHERE m.master_id <> d.existing_id)"""
            )
            # A card of a Contact's person at another company (another mail domain too): a job
            # change. Updating the Contact would put the new company's address under the old account.
            con.execute(
                f"""UPDATE import_decisions SET decision = 'review', reason = {_lit(JOB_CHANGE_REASON)}
                   WHERE decision = 'update' AND "Id" IN (
                       SELECT d."Id" FROM import_decisions d
                       JOIN import_existing_view e ON e."Id" = d.existing_id AND e."Object" = 'Contact'
                       JOIN import_normalized l ON l.id = d."Id" JOIN import_normalized r ON r.id = d.existing_id
                       WHERE {other_company_sql()})"""
            )
            con.execute(
                """CREATE OR REPLACE TABLE import_changes AS
                SELECT d.row_no, d.incoming_id, c.existing_id, c.object,
                       CAST(row_number() OVER (PARTITION BY d.row_no ORDER BY c.ord) AS INTEGER) AS ord,
                       c.field, c.current_value, c.new_value, coalesce(o.incoming_id, c.from_id) AS from_id, c.rule, c.from_card
                FROM _imp_changes_arrow c JOIN import_decisions d ON d."Id" = c.unit AND d.decision = 'update'
                LEFT JOIN import_rows o ON o."Id" = c.from_id
                ORDER BY d.row_no, ord"""
            )
            con.execute(
                """UPDATE import_decisions SET decision = 'skip', reason = 'already in the org: nothing to change'
                   WHERE decision = 'update' AND "Id" NOT IN (SELECT DISTINCT c.unit FROM _imp_changes_arrow c)"""
            )
            con.execute(
                """CREATE OR REPLACE TABLE import_insert_values AS
                SELECT d.row_no, v.field, v.value FROM _imp_iv_arrow v JOIN import_decisions d ON d."Id" = v.unit"""
            )
        finally:
            for name in ("_imp_changes_arrow", "_imp_masters_arrow", "_imp_iv_arrow"):
                con.unregister(name)
        n_upd, n_chg, n_card = con.execute(
            "SELECT count(DISTINCT row_no), count(*), count(*) FILTER (WHERE from_card) FROM import_changes"
        ).fetchall()[0]
        unchanged = con.execute(
            "SELECT count(*) FROM import_decisions WHERE reason = 'already in the org: nothing to change'"
        ).fetchall()[0][0]
        result.rows = int(n_chg)
        result.stats = {
            "updates": int(n_upd),
            "unchanged": int(unchanged),
            "field_changes": int(n_chg),
            "values_from_cards": int(n_card),
            "merged_inserts": int(con.execute("SELECT count(DISTINCT row_no) FROM import_insert_values").fetchall()[0][0]),
        }
    return result


# ---------------------------------------------------------------------------------------------
# Output files


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]], safe: bool) -> int:
    n = 0
    cell = excel_safe if safe else (lambda v: "" if v is None else str(v))
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        w.writerow([cell(h) for h in header])
        for row in rows:
            w.writerow([cell(v) for v in row])
            n += 1
    return n


def insert_fields(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[list[str], list[str]]:
    """(columns written to import_insert.csv, incoming columns left out: not an API field name,
    a system or relationship field)."""
    sv = config.survivorship
    keep, dropped = [], []
    for c in columns(con, "import_incoming_raw"):
        if c in ("Id", "Object", "_source_file", "_source_row"):
            continue
        if API_NAME.match(c) and c not in NEVER_WRITTEN and c not in sv.system_fields:
            keep.append(c)
        else:
            dropped.append(c)
    if config.import_plan.incoming_lead_source and "LeadSource" not in keep:
        keep.append("LeadSource")
    return keep, dropped


def _modified_expr(cols: set[str], alias: str) -> str:
    found = [c for c in ("SystemModstamp", "LastModifiedDate") if c in cols]
    if not found:
        return "NULL::VARCHAR"
    return "coalesce(" + ", ".join(f"nullif(CAST({alias}.{_q(c)} AS VARCHAR), '')" for c in found) + ")"


def write_import_outputs(con: duckdb.DuckDBPyConnection, out: Path, config: Config) -> dict:
    """Write the import files into `out`; return row counts per file."""
    safe = config.import_plan.excel_safe
    counts: dict[str, int] = {}
    fields, _ = insert_fields(con, config)
    sel = "".join(f", r.{_q(f)}" for f in fields)
    rows = con.execute(
        f"""SELECT d.row_no, d.incoming_id, d.object{sel}
            FROM import_decisions d JOIN import_raw r ON r."Id" = d."Id"
            WHERE d.decision = 'insert' ORDER BY d.row_no"""
    ).fetchall()
    merged: dict[int, dict[str, str | None]] = {}
    for row_no, f, v in con.execute("SELECT row_no, field, value FROM import_insert_values").fetchall():
        merged.setdefault(row_no, {})[f] = v
    pos = {f: i + 3 for i, f in enumerate(fields)}

    def insert_rows():
        for row in rows:
            m = merged.get(row[0])
            if m:
                row = list(row)
                for f, v in m.items():
                    if f in pos:
                        row[pos[f]] = v
            yield row[1:]

    counts["import_insert.csv"] = _write_csv(out / "import_insert.csv", ["incoming_id", "object", *fields], insert_rows(), safe)

    changed = [f for f, in con.execute(
        "SELECT field FROM import_changes GROUP BY field ORDER BY min(row_no * 1000 + ord), field"
    ).fetchall()]
    ex_cols = set(columns(con, "import_existing_view"))
    by_row: dict[int, dict[str, str | None]] = {}
    for row_no, f, v in con.execute("SELECT row_no, field, new_value FROM import_changes ORDER BY row_no, ord").fetchall():
        by_row.setdefault(row_no, {})[f] = v
    upd = con.execute(
        f"""SELECT d.row_no, d.existing_id, e."Object", d.incoming_id, round(d.match_probability, 6),
                   {_modified_expr(ex_cols, "e")}
            FROM import_decisions d JOIN import_existing_view e ON e."Id" = d.existing_id
            WHERE d.decision = 'update' ORDER BY e."Object", d.row_no"""
    ).fetchall()
    counts["import_update.csv"] = _write_csv(
        out / "import_update.csv",
        ["Id", "object", "incoming_id", "match_probability", "as_of", "changed_fields", *changed],
        (
            [eid, obj, iid, prob, as_of, ";".join(by_row.get(row_no, {})),
             *[by_row.get(row_no, {}).get(f) for f in changed]]
            for row_no, eid, obj, iid, prob, as_of in upd
        ),
        safe,
    )
    counts["import_changes.csv"] = _write_csv(
        out / "import_changes.csv",
        ["incoming_id", "Id", "object", "field", "current_value", "new_value", "from", "rule"],
        con.execute(
            "SELECT incoming_id, existing_id, object, field, current_value, new_value, from_id, rule "
            "FROM import_changes ORDER BY row_no, ord"
        ).fetchall(),
        safe,
    )
    review_cols, review_rows = _review_rows(con, config)
    counts["import_review.csv"] = _write_csv(out / "import_review.csv", review_cols, review_rows, safe)
    counts["import_decisions.csv"] = _write_csv(
        out / "import_decisions.csv",
        ["incoming_id", "decision", "reason", "Id", "match_probability", "duplicate_of"],
        con.execute(
            "SELECT incoming_id, decision, reason, existing_id, round(match_probability, 6), duplicate_of "
            "FROM import_decisions ORDER BY row_no"
        ).fetchall(),
        safe,
    )
    return counts


def _review_rows(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[list[str], list[tuple]]:
    """import_review.csv: per review row, its candidate (an existing Id, or the incoming row it may
    duplicate) with the pair's evidence and both sides' normalized values."""
    scored = set(columns(con, "import_scored_pairs"))
    norm = set(columns(con, "import_normalized"))
    comps = [c for c in COMPARISONS if f"lvl_{c.name}" in scored]
    parts = [f"{gate_label_sql('p.gate')} AS gate", "round(p.match_weight, 2) AS match_weight"]
    header = ["incoming_id", "Id", "duplicate_of", "object", "match_probability", "reason", "gate", "match_weight"]
    for c in comps:
        cases = " ".join(f"WHEN {k} THEN '{lab}'" for k, lab in enumerate(c.levels))
        parts.append(f"CASE p.lvl_{c.name} {cases} ELSE 'missing' END")
        parts.append(f"round(p.w_{c.name}, 2)")
        header += [c.name, f"{c.name}_weight"]
    for v in REVIEW_VALUES:
        if v in norm:
            parts += [f"i.{_q(v)}", f"x.{_q(v)}"]
            header += [f"incoming_{v}", f"candidate_{v}"]
    rows = con.execute(
        f"""WITH d AS (
                SELECT d.*, s.rec_idx AS in_idx,
                       coalesce(e.rec_idx, dup.rec_idx) AS cand_idx
                FROM import_decisions d
                JOIN import_side s ON s."Id" = d."Id"
                LEFT JOIN import_side e ON e."Id" = d.existing_id
                LEFT JOIN import_rows o ON o.incoming_id = d.duplicate_of
                LEFT JOIN import_side dup ON dup."Id" = o."Id"
                WHERE d.decision = 'review')
            SELECT d.incoming_id, d.existing_id, d.duplicate_of, coalesce(xr."Object", d.object),
                   round(d.match_probability, 6), d.reason, {", ".join(parts)}
            FROM d
            JOIN import_normalized i ON i.rec_idx = d.in_idx
            LEFT JOIN import_normalized x ON x.rec_idx = d.cand_idx
            LEFT JOIN import_raw xr ON xr."Id" = d.existing_id
            LEFT JOIN import_scored_pairs p ON p.left_idx = least(d.in_idx, d.cand_idx)
                                          AND p.right_idx = greatest(d.in_idx, d.cand_idx)
            ORDER BY d.row_no"""
    ).fetchall()
    return header, rows


# ---------------------------------------------------------------------------------------------
# Evaluation against labelled data


def _truth_sql(con: duckdb.DuckDBPyConnection, path: str | Path, id_col: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise InputError("truth file not found", file=p)
    sql = f"SELECT CAST({_q(id_col)} AS VARCHAR) AS id, CAST(entity_id AS VARCHAR) AS eid FROM read_csv({_lit(p.as_posix())}, all_varchar=true)"
    try:
        con.execute(f"SELECT * FROM ({sql}) LIMIT 0")
    except duckdb.Error:
        raise InputError(f"truth file needs the columns {id_col} and entity_id", file=p) from None
    return sql


def evaluate_import(con: duckdb.DuckDBPyConnection, existing_truth: str | Path, incoming_truth: str | Path) -> dict:
    """Against labelled data (existing: Id, entity_id; incoming: incoming_id, entity_id):

    * link: every row carrying an existing Id (update, review, or skip of a known record) is a
      predicted link; it is right when the Id is a record of the row's person. Recall is over the
      rows whose person is in the org.
    * update precision (updates to a record of the same person), insert precision (inserted rows
      whose person is not in the org) and duplicate inserts (a second insert of one new person).
    """
    ex = _truth_sql(con, existing_truth, "Id")
    inc = _truth_sql(con, incoming_truth, "incoming_id")
    row = con.execute(
        f"""WITH ex AS ({ex}), inc AS ({inc}),
        d AS (SELECT d.*, i.eid, (SELECT count(*) FROM ex WHERE ex.eid = i.eid) AS in_org,
                     x.eid AS linked_eid
              FROM import_decisions d JOIN inc i ON i.id = d.incoming_id
              LEFT JOIN ex x ON x.id = d.existing_id)
        SELECT count(*) FILTER (WHERE existing_id IS NOT NULL),
               count(*) FILTER (WHERE existing_id IS NOT NULL AND linked_eid = eid),
               count(*) FILTER (WHERE in_org > 0),
               count(*) FILTER (WHERE decision = 'update'),
               count(*) FILTER (WHERE decision = 'update' AND linked_eid = eid),
               count(*) FILTER (WHERE decision = 'insert'),
               count(*) FILTER (WHERE decision = 'insert' AND in_org = 0),
               count(*) FILTER (WHERE decision = 'insert') - count(DISTINCT eid) FILTER (WHERE decision = 'insert'),
               count(*) FILTER (WHERE decision = 'review'),
               count(*) FILTER (WHERE decision = 'skip'),
               count(*) FILTER (WHERE in_org > 0 AND decision IN ('update', 'skip') AND linked_eid = eid)
        FROM d"""
    ).fetchall()[0]
    pred, tp, actual, upd, upd_ok, ins, ins_ok, dup_ins, rev, skip, auto_tp = (int(x or 0) for x in row)
    p = tp / pred if pred else 1.0
    r = tp / actual if actual else 1.0
    return {
        "rows_in_org": actual,
        "link": {"predicted": pred, "true_positives": tp, "precision": round(p, 5), "recall": round(r, 5),
                 "f1": round(2 * p * r / (p + r), 5) if p + r else 0.0},
        "update": {"rows": upd, "correct": upd_ok, "precision": round(upd_ok / upd, 5) if upd else 1.0},
        "insert": {"rows": ins, "new_to_org": ins_ok, "precision": round(ins_ok / ins, 5) if ins else 1.0,
                   "duplicate_inserts": dup_ins},
        "review": rev,
        "skip": skip,
        "confident_link_recall": round(auto_tp / actual, 5) if actual else 1.0,
    }


# ---------------------------------------------------------------------------------------------
# The whole run


def run_import_stages(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    incoming: str | Path,
    existing_paths: list[str | Path] | None = None,
    existing_table: str | None = None,
    progress: StageProgress | None = None,
) -> list[StageResult]:
    """Read, link, decide and survive on `con`; return the stage results."""
    progress = progress or StageProgress(enabled=False)
    results: list[StageResult] = []
    with progress.stage("read records"):
        results += load_link_inputs(con, config, incoming, existing_paths, existing_table)
    source = "import_existing_raw" if existing_paths else existing_table
    con.execute(f'CREATE OR REPLACE VIEW import_existing_view AS SELECT * FROM "{source}"')
    with progress.stage("link"):
        results += link_records(con, config, progress=progress.advance_callback("score"))
    with progress.stage("decide"):
        results.append(decide(con, config))
        results.append(survive_updates(con, config))
    return results


def import_summary(con: duckdb.DuckDBPyConnection, config: Config, results: list[StageResult],
                   existing: list[str], incoming: str) -> dict:
    by = {r.stage: r for r in results}
    decisions = dict(con.execute("SELECT decision, count(*) FROM import_decisions GROUP BY decision").fetchall())
    reasons = dict(con.execute(
        "SELECT decision || ': ' || regexp_replace(reason, ' (of )?incoming row \\S+$', ''), count(*) "
        "FROM import_decisions GROUP BY 1 ORDER BY 1"
    ).fetchall())
    _, dropped = insert_fields(con, config)
    th = config.matching.thresholds
    score = by.get("score")
    block = by.get("block")
    return {
        "existing": existing,
        "incoming": incoming,
        "existing_records": by["read existing"].rows if "read existing" in by else 0,
        "incoming_rows": by["read incoming"].rows if "read incoming" in by else 0,
        "incoming_id": by["read incoming"].stats.get("incoming_id") if "read incoming" in by else None,
        "incoming_lead_source": config.import_plan.incoming_lead_source,
        "decisions": {d: int(decisions.get(d, 0)) for d in DECISIONS},
        "reasons": {k: int(v) for k, v in reasons.items()},
        "field_changes": by["survive"].stats if "survive" in by else {},
        "columns_not_imported": dropped,
        "thresholds": {"review": th.review, "auto": th.auto},
        "candidate_pairs": block.rows if block else 0,
        "pairs": {
            "auto": score.stats.get("pairs_auto", 0) if score else 0,
            "review": score.stats.get("pairs_review", 0) if score else 0,
        },
        "in_file_groups": by["cluster"].stats.get("clusters", {}) if "cluster" in by else {},
        "model": score.stats.get("model") if score else None,
        "seconds": {r.stage: r.seconds for r in results},
    }


def run_import_plan(
    existing: list[str | Path],
    incoming: str | Path,
    out_dir: str | Path,
    config: Config,
    db_path: str | Path | None = None,
    quiet: bool = False,
    existing_truth: str | Path | None = None,
    incoming_truth: str | Path | None = None,
) -> dict:
    """`nayose import-plan`: link `incoming` to the `existing` exports and write the import files
    to out_dir (all or nothing: a temporary folder is moved into place)."""
    from nayose.pipeline import output_tmp, publish_outputs

    out = Path(out_dir)
    started = time.perf_counter()
    progress = StageProgress(enabled=not quiet)
    con = connect(db_path)
    try:
        with progress:
            results = run_import_stages(con, config, incoming, existing, progress=progress)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = output_tmp(out)
            try:
                with progress.stage("write outputs"):
                    t0 = time.perf_counter()
                    counts = write_import_outputs(con, tmp, config)
                    write_seconds = round(time.perf_counter() - t0, 3)
                summary = import_summary(con, config, results, [str(p) for p in existing], str(incoming))
                summary["files"] = counts
                summary["card_values_overwritten"] = count_card_overwrites(con, config)
                if existing_truth is not None and incoming_truth is not None:
                    summary["evaluation"] = evaluate_import(con, existing_truth, incoming_truth)
                summary["seconds"]["write outputs"] = write_seconds
                summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
                (tmp / "import_summary.json").write_text(
                    json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
                )
                publish_outputs(tmp, out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        con.close()
    return summary


def count_card_overwrites(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """Field changes that would overwrite a non-blank business-card value of the org with a value
    from a non-card record (must be 0: the survivorship rules forbid it)."""
    card = card_sql(con, config, table="import_raw", alias="r")
    exempt = list(config.survivorship.card_exempt_fields)
    ex = f"AND c.field NOT IN ({', '.join(_lit(f) for f in exempt)})" if exempt else ""
    rows = con.execute(
        f"""SELECT c.field, c.current_value, c.new_value, c.rule FROM import_changes c JOIN import_raw r ON r."Id" = c.existing_id
            WHERE {card} AND NOT c.from_card AND nullif(trim(c.current_value), '') IS NOT NULL {ex}"""
    ).fetchall()
    # (the card's name in kana or romaji, the same name better written -- in kanji -- by another
    # record: native_script comes before the card rule)
    return sum(1 for f, cur, new, rule in rows
               if not ("native_script" in (rule or "") and script_rank(new, f) < script_rank(cur, f)))
