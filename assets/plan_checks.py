"""Asset checks of the plan: what must hold before anything is merged or deleted in Salesforce.

Blocking (ERROR): when one fails, the downstream assets of the run are not materialized (a failed
survivorship check keeps merge_plan from writing the plan files).

* survivorship: business-card values are never overwritten by non-card values; every record is in
  at most one group.
* merge_plan: every step has at most 3 records of one object; every master exists in the input;
  no business-card record is proposed for deletion unless a delete rule explicitly allows it.
  These run after merge_plan has registered the plan, so each records its outcome for the plan in
  the store (plans.required_checks / plan_checks): review_plan refuses to approve a plan until every
  one of them passed, and refuses for good once one failed.

Warnings: the share of groups needing review above `NayoseStore.review_share_warn`; groups with
more records than `NayoseStore.large_group_warn`.
"""

# No `from __future__ import annotations`: Dagster reads the resource types of the decorated
# functions at definition time.

import dagster as dg
import duckdb

from assets.checks import _missing, _one
from assets.matching import POOL
from assets.metadata import md_table
from assets.plan import merge_plan, survivorship
from assets.store import NayoseStore
from nayose.config import Config
from nayose.plan import MAX_LOSERS_PER_MERGE
from nayose.survive import (AS_MASTER_WRITES, script_rank, POSTAL_FIELDS, STREET_FIELDS, Rec, as_master_object, blank, card_sql,
                            considered_fields, person_account_sql, same_address)
from nayose.store import table_exists

SAMPLE_ROWS = 10  # offending rows shown in a failed check's metadata


def card_overwrites(con: duckdb.DuckDBPyConnection, config: Config) -> list[tuple]:
    """(cluster_id, field, card record, card value, surviving value, from record, rule) for every
    field where a business-card record of the group holds a value but the surviving value does not
    come from a business-card record (fields in card_exempt_fields excepted). Lead values in a
    group with a Contact or Person Account master are compared under the master's field names, as
    survivorship sees them."""
    sv = config.survivorship
    cols = [c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()]
    fields = considered_fields(cols, sv)
    exempt = set(sv.card_exempt_fields)
    cards = con.sql(
        f"""SELECT g.cluster_id AS __cluster_id,
                  CASE WHEN s.object = 'Account' AND {person_account_sql(con, 'm')} THEN 'PersonAccount'
                       ELSE s.object END AS __master_object, r.*
           FROM group_records g JOIN survivors s USING (cluster_id) JOIN raw_records r ON r."Id" = g."Id"
           LEFT JOIN raw_records m ON m."Id" = s.master_id
           WHERE g.is_card ORDER BY g.cluster_id, r."Id" """
    ).to_arrow_table().to_pylist()
    if not cards:
        return []
    card_ids: dict[str, set[str]] = {}
    for cid, rid in con.execute('SELECT cluster_id, "Id" FROM group_records WHERE is_card').fetchall():
        card_ids.setdefault(cid, set()).add(rid)
    surviving = {
        (cid, f): (v, src, rule)
        for cid, f, v, src, rule in con.execute(
            "SELECT cluster_id, field, value, from_id, rule FROM surviving_fields "
            "WHERE cluster_id IN (SELECT cluster_id FROM group_records WHERE is_card)"
        ).fetchall()
    }
    # Values survivorship set aside (a placeholder such as 090-1234-5678, a role mailbox, an OCR
    # misreading: `ignored_values`) are not card values to protect; named here as the record holds
    # them, and under the Contact's names for a Lead merged into a Contact.
    ignored: set[tuple[str, str]] = set()
    if table_exists(con, "ignored_values"):
        ignored = {(rid, f) for rid, f in con.execute('SELECT "Id", field FROM ignored_values').fetchall()}
    # An address survives whole: a card's member of another address than the group's (another postal
    # code, else another street) is not the surviving address's, and is not protected.
    groups = {f: g.fields for g in sv.field_groups for f in g.fields
              if any(m in POSTAL_FIELDS for m in g.fields) or any(m in STREET_FIELDS for m in g.fields)}

    def other_address(cid: str, values: dict, f: str) -> bool:
        members = groups.get(f)
        if not members:
            return False
        postal = next((m for m in members if m in POSTAL_FIELDS), None)
        street = next((m for m in members if m in STREET_FIELDS), None)
        kept = {m: surviving.get((cid, m), (None,))[0] for m in (postal, street) if m}
        return not same_address(values.get(postal), values.get(street), kept.get(postal), kept.get(street))

    bad: list[tuple] = []
    seen: set[tuple[str, str]] = set()
    for row in cards:
        cid = row["__cluster_id"]
        kept = {f: (None if (row["Id"], f) in ignored else row.get(f)) for f in fields}
        rec = as_master_object(Rec(row["Id"], row["Object"], kept, is_card=True), row["__master_object"], sv)
        for f, v in rec.values.items():
            if blank(v) or f in exempt or (cid, f) in seen or other_address(cid, rec.values, f):
                continue
            value, src, rule = surviving.get((cid, f), (None, None, None))
            if rule is not None and ("any_true" in rule or rule.endswith(AS_MASTER_WRITES)):
                continue  # a flag true if any record says so; a card's value written as the master writes it
            if rule is not None and "native_script" in rule and script_rank(value, f) < script_rank(v, f):
                continue  # the card's name in kana or romaji, the same name in kanji from another record
            if src is None or src not in card_ids.get(cid, set()):
                seen.add((cid, f))
                bad.append((cid, f, rec.id, v, value, src, rule))
    return bad


def _reported(context: dg.AssetCheckExecutionContext, store: NayoseStore, name: str,
              result: dg.AssetCheckResult) -> dg.AssetCheckResult:
    """A blocking check of merge_plan: its outcome is recorded for the plan the run registered (an
    approval waits for every blocking check to pass; assets/review.py report_plan_check)."""
    from assets.review import report_plan_check

    values = {k: getattr(v, "value", v) for k, v in (result.metadata or {}).items()}
    totals = ("steps", "masters", "delete_candidates")  # (sizes, not findings)
    detail = "" if result.passed else ", ".join(
        f"{k} {v}" for k, v in values.items()
        if isinstance(v, int) and not isinstance(v, bool) and v and k not in totals)[:300]
    with store.connect() as con:
        extra = report_plan_check(context, con, name, bool(result.passed), detail)
    if "auto_approval" in extra:
        context.op_execution_context.log_event(dg.AssetObservation(
            asset_key=merge_plan.key, metadata={"review/auto_approval": extra["auto_approval"]}))
    return dg.AssetCheckResult(passed=result.passed, severity=result.severity,
                               metadata={**(result.metadata or {}), **extra})


def _sample_md(headers: list[str], rows: list[tuple]) -> dg.MetadataValue:
    return dg.MetadataValue.md(md_table(headers, rows[:SAMPLE_ROWS]) if rows else "None.")


@dg.asset_check(
    name="card_values_protected",
    asset=survivorship,
    blocking=True,
    pool=POOL,
    description=(
        "No business-card value is overwritten by a non-card value: wherever a card record of a group "
        "holds a value in a field (not in card_exempt_fields), the surviving value comes from a card record."
    ),
)
def card_values_protected(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "raw_records", "survivors", "surviving_fields", "group_records")) is not None:
        return res
    config = store.load_config()
    with store.connect() as con:
        bad = card_overwrites(con, config)
        card_records, card_groups = con.execute(
            "SELECT count(*), count(DISTINCT cluster_id) FROM group_records WHERE is_card"
        ).fetchall()[0]
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "card_records_in_groups": int(card_records),
            "groups_with_cards": int(card_groups),
            "card_values_overwritten": len(bad),
            "overwritten": _sample_md(
                ["cluster", "field", "card record", "card value", "surviving value", "from record", "rule"], bad
            ),
        },
    )


@dg.asset_check(
    name="one_group_per_record",
    asset=survivorship,
    blocking=True,
    pool=POOL,
    description="Every record is in at most one group, and every group has exactly one master, one of its records.",
)
def one_group_per_record(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "survivors", "group_records")) is not None:
        return res
    repeated, bad_master, wrong_size = _one(
        store,
        """SELECT
             (SELECT count(*) FROM (SELECT "Id" FROM group_records GROUP BY "Id" HAVING count(*) > 1)),
             (SELECT count(*) FROM survivors s WHERE (SELECT count(*) FROM group_records g
                 WHERE g.cluster_id = s.cluster_id AND g.is_master AND g."Id" = s.master_id) <> 1
                 OR (SELECT count(*) FROM group_records g WHERE g.cluster_id = s.cluster_id AND g.is_master) <> 1),
             (SELECT count(*) FROM survivors s WHERE s.size <> (SELECT count(*) FROM group_records g
                 WHERE g.cluster_id = s.cluster_id))""",
    )
    return dg.AssetCheckResult(
        passed=(repeated == bad_master == wrong_size == 0),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"records_in_several_groups": int(repeated), "groups_without_one_master": int(bad_master),
                  "groups_with_wrong_size": int(wrong_size)},
    )


@dg.asset_check(
    name="review_volume",
    asset=survivorship,
    pool=POOL,
    description="Warns when more than NayoseStore.review_share_warn of the groups need an analyst's review.",
)
def review_volume(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "survivors")) is not None:
        return res
    groups, review = _one(store, "SELECT count(*), count(*) FILTER (WHERE status = 'review') FROM survivors")
    share = review / groups if groups else 0.0
    return dg.AssetCheckResult(
        passed=share <= store.review_share_warn,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"groups": int(groups), "review_groups": int(review), "review_share": float(round(share, 4)),
                  "threshold": float(store.review_share_warn)},
    )


@dg.asset_check(
    name="group_size",
    asset=survivorship,
    pool=POOL,
    description=(
        "Warns about groups of people with more records than NayoseStore.large_group_warn (likely chains, not one "
        "person). Groups of business Accounts (one company entered many times, grouped by nayose.accounts' rules) "
        "are counted, not warned about."
    ),
)
def group_size(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "survivors")) is not None:
        return res
    limit = int(store.large_group_warn)
    with store.connect() as con:
        company = ("master_id IN (SELECT id FROM normalized_accounts)" if table_exists(con, "normalized_accounts")
                   else "false")
        rows = con.execute(
            f"SELECT cluster_id, size, status, master_id FROM survivors WHERE size > ? AND NOT {company} "
            "ORDER BY size DESC, cluster_id",
            [limit],
        ).fetchall()
        largest, companies = con.execute(
            f"SELECT coalesce(max(size) FILTER (WHERE NOT {company}), 0), count(*) FILTER (WHERE {company} AND size > ?) "
            "FROM survivors", [limit]).fetchall()[0]
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"groups_too_large": len(rows), "largest_group": int(largest), "threshold": limit,
                  "account_groups_over_threshold": int(companies),
                  "groups": _sample_md(["cluster", "records", "status", "master"], rows)},
    )


@dg.asset_check(
    name="steps_well_formed",
    asset=merge_plan,
    blocking=True,
    pool=POOL,
    description=(
        "Every merge step has a master and 1..2 losers (at most 3 records, Salesforce's limit), all of one "
        "object and of the step's group; every convert_lead step turns a Lead of the group into its Contact "
        "master; no record is in two steps."
    ),
)
def steps_well_formed(context: dg.AssetCheckExecutionContext, store: NayoseStore) -> dg.AssetCheckResult:
    return _reported(context, store, "merge_plan:steps_well_formed", _steps_well_formed(store))


def _steps_well_formed(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "plan_steps", "group_records", "raw_records")) is not None:
        return res
    with store.connect() as con:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _step_records AS
               SELECT p.cluster_id, p.step_no, p.action, p.object AS step_object, x.role, x.id
               FROM plan_steps p,
                    LATERAL (SELECT 'master' AS role, p.master_id AS id WHERE p.action = 'merge'
                             UNION ALL SELECT 'loser', unnest(p.loser_ids) WHERE p.action = 'merge'
                             UNION ALL SELECT 'lead', p.lead_id WHERE p.action = 'convert_lead'
                             UNION ALL SELECT 'contact', p.contact_id WHERE p.action = 'convert_lead' AND p.contact_id IS NOT NULL
                             -- (into a Person Account: the account alone)
                             UNION ALL SELECT 'person account', p.account_id
                                 WHERE p.action = 'convert_lead' AND p.contact_id IS NULL) x"""
        )
        too_many = con.execute(
            f"""SELECT cluster_id, step_no, action, len(loser_ids) + 1 FROM plan_steps
                WHERE action = 'merge' AND (master_id IS NULL OR loser_ids IS NULL OR len(loser_ids) < 1
                                            OR len(loser_ids) > {MAX_LOSERS_PER_MERGE})
                ORDER BY ALL"""
        ).fetchall()
        wrong_object = con.execute(
            """SELECT s.cluster_id, s.step_no, s.action, string_agg(DISTINCT coalesce(r."Object", '?'), ', ')
               FROM _step_records s LEFT JOIN raw_records r ON r."Id" = s.id
               GROUP BY s.cluster_id, s.step_no, s.action, s.step_object
               HAVING (any_value(s.action) = 'merge' AND (count(DISTINCT r."Object") <> 1
                        OR bool_or(r."Object" IS DISTINCT FROM s.step_object)))
                   OR (any_value(s.action) = 'convert_lead' AND (
                        bool_or(s.role = 'lead' AND r."Object" IS DISTINCT FROM 'Lead')
                        OR bool_or(s.role = 'contact' AND r."Object" IS DISTINCT FROM 'Contact')
                        OR bool_or(s.role = 'person account' AND r."Object" IS DISTINCT FROM 'Account')))
               ORDER BY ALL"""
        ).fetchall()
        outside = con.execute(
            """SELECT s.cluster_id, s.step_no, s.action, s.id FROM _step_records s
               ANTI JOIN group_records g ON g.cluster_id = s.cluster_id AND g."Id" = s.id ORDER BY ALL"""
        ).fetchall()
        twice = con.execute(
            """SELECT id, count(*) FROM _step_records WHERE role IN ('loser', 'lead')
               GROUP BY id HAVING count(*) > 1 ORDER BY id"""
        ).fetchall()
        steps = con.execute("SELECT count(*) FROM plan_steps").fetchall()[0][0]
        con.execute("DROP TABLE IF EXISTS _step_records")
    return dg.AssetCheckResult(
        passed=not (too_many or wrong_object or outside or twice),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "steps": int(steps),
            "steps_with_bad_record_count": len(too_many),
            "steps_mixing_objects": len(wrong_object),
            "records_outside_their_group": len(outside),
            "records_in_several_steps": len(twice),
            "bad_record_count": _sample_md(["cluster", "step", "action", "records"], too_many),
            "mixed_objects": _sample_md(["cluster", "step", "action", "objects"], wrong_object),
        },
    )


@dg.asset_check(
    name="masters_in_input",
    asset=merge_plan,
    blocking=True,
    pool=POOL,
    description="Every master (and every Contact or Person Account a Lead is converted into) is a record of the input.",
)
def masters_in_input(context: dg.AssetCheckExecutionContext, store: NayoseStore) -> dg.AssetCheckResult:
    return _reported(context, store, "merge_plan:masters_in_input", _masters_in_input(store))


def _masters_in_input(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "survivors", "plan_steps", "raw_records")) is not None:
        return res
    with store.connect() as con:
        missing = con.execute(
            """SELECT DISTINCT cluster_id, id FROM (
                   SELECT cluster_id, master_id AS id FROM survivors
                   UNION ALL SELECT cluster_id, master_id FROM plan_steps WHERE action = 'merge'
                   UNION ALL SELECT cluster_id, coalesce(contact_id, account_id) FROM plan_steps WHERE action = 'convert_lead')
               WHERE id IS NULL OR id NOT IN (SELECT "Id" FROM raw_records) ORDER BY ALL"""
        ).fetchall()
        masters = con.execute("SELECT count(*) FROM survivors").fetchall()[0][0]
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"masters": int(masters), "masters_not_in_input": len(missing),
                  "missing": _sample_md(["cluster", "master"], missing)},
    )


@dg.asset_check(
    name="no_card_deleted",
    asset=merge_plan,
    blocking=True,
    pool=POOL,
    description=(
        "No business-card record is proposed for deletion, unless it was proposed by a delete rule that "
        "sets include_business_cards: true."
    ),
)
def no_card_deleted(context: dg.AssetCheckExecutionContext, store: NayoseStore) -> dg.AssetCheckResult:
    return _reported(context, store, "merge_plan:no_card_deleted", _no_card_deleted(store))


def _no_card_deleted(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _missing(store, "delete_plan", "raw_records")) is not None:
        return res
    config = store.load_config()
    allowed = sorted({r.reason for r in config.delete_rules.rules if r.include_business_cards})
    with store.connect() as con:
        con.execute("CREATE OR REPLACE TEMP TABLE _card_reasons AS SELECT unnest(?::VARCHAR[]) AS reason", [allowed])
        bad = con.execute(
            f"""SELECT d."Id", d.object, d.reason FROM delete_plan d JOIN raw_records r ON r."Id" = d."Id"
                WHERE coalesce({card_sql(con, config)}, false)
                  AND d.reason NOT IN (SELECT reason FROM _card_reasons)
                ORDER BY d."Id" """
        ).fetchall()
        deletes = con.execute("SELECT count(*) FROM delete_plan").fetchall()[0][0]
        con.execute("DROP TABLE IF EXISTS _card_reasons")
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"delete_candidates": int(deletes), "card_records_deleted": len(bad),
                  "rules_allowing_cards": ", ".join(allowed) or "none",
                  "deleted_cards": _sample_md(["Id", "object", "reason"], bad)},
    )


PLAN_CHECKS = [
    card_values_protected,
    one_group_per_record,
    review_volume,
    group_size,
    steps_well_formed,
    masters_in_input,
    no_card_deleted,
]
