"""The plan assets, downstream of duplicate_clusters:

    duplicate_clusters -> survivorship -> merge_plan

survivorship runs the engine's `survive` (tables survivors, surviving_fields, group_records):
the master of every auto / review group and the value that survives in every field, with the
record it came from and the rule that chose it. merge_plan runs `build_plan` (tables plan_steps
and delete_plan) and publishes merge_plan.json, merge_plan.csv, field_changes.csv and
delete_plan.csv to the output folder beside clusters.csv (written to a temporary folder first,
then moved into place). The delete candidates come from the same `build_plan` call and are
reported in merge_plan's metadata.

The helpers at the end (group picks and before -> after values) are shared with the demo.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import shutil
from pathlib import Path

import dagster as dg
import duckdb

from assets.matching import GROUP, KINDS, POOL, _json_value, duplicate_clusters, engine_errors, output_tmp, publish_outputs
from assets.metadata import md_table, stage_metadata, table_preview
from assets.store import NayoseStore, require_tables, save_stage_result
from nayose.config import Config
from nayose.plan import PLAN_OUTPUT_FILES, not_written_reason
from nayose.store import table_exists

PLAN_GROUP = "plan"
#: The blocking checks of merge_plan (assets/plan_checks.py): the plan is registered needing them, each
#: reports its outcome to the store, and the plan can be approved only once all of them passed.
MERGE_PLAN_BLOCKING_CHECKS = ("merge_plan:masters_in_input", "merge_plan:no_card_deleted", "merge_plan:steps_well_formed")
PREVIEW_GROUPS = 3  # groups shown before -> after in each preview
PREVIEW_FIELDS = 8  # changed fields shown per group


# ---------------------------------------------------------------------------------------------
# Groups and their before -> after values (shared with the demo)


def largest_group_ids(con: duckdb.DuckDBPyConnection, limit: int = PREVIEW_GROUPS) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT cluster_id FROM survivors ORDER BY size DESC, cluster_id LIMIT ?", [int(limit)]
    ).fetchall()]


def group_certainty_sql(con: duckdb.DuckDBPyConnection, review: float) -> str:
    """Per group: the weakest link holding it together (lowest match probability among the pairs
    inside the group at or above the review threshold: the people's scored pairs and the business
    Accounts' pairs, an auto rule's probability high, a review rule's the review threshold)."""
    pairs = "SELECT left_idx, right_idx, match_probability FROM scored_pairs"
    if table_exists(con, "account_pairs"):
        pairs += " UNION ALL SELECT left_idx, right_idx, match_probability FROM account_pairs"
    return f"""
        SELECT a.cluster_id, min(p.match_probability) AS weakest_link, count(*) AS links
        FROM ({pairs}) p
        JOIN clusters a ON a.rec_idx = p.left_idx
        JOIN clusters b ON b.rec_idx = p.right_idx AND b.cluster_id = a.cluster_id
        WHERE p.match_probability >= {float(review)!r}
        GROUP BY a.cluster_id"""


def least_certain_group_ids(con: duckdb.DuckDBPyConnection, config: Config, limit: int = PREVIEW_GROUPS) -> list[str]:
    return [r[0] for r in con.execute(
        f"""SELECT s.cluster_id FROM survivors s
            LEFT JOIN ({group_certainty_sql(con, config.matching.thresholds.review)}) c USING (cluster_id)
            ORDER BY coalesce(c.weakest_link, 0), s.size DESC, s.cluster_id LIMIT ?""",
        [int(limit)],
    ).fetchall()]


def before_after(con: duckdb.DuckDBPyConnection, cluster_ids: list[str]) -> list[dict]:
    """For each group: its master, status, size, weakest link and the fields whose value changes on
    the master (current -> surviving value, the record it comes from, the rule)."""
    if not cluster_ids:
        return []
    raw_cols = {c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()}
    con.execute("CREATE OR REPLACE TEMP TABLE _preview_ids AS SELECT unnest(?::VARCHAR[]) AS cluster_id", [cluster_ids])
    groups = {
        cid: {"cluster_id": cid, "master_id": m, "object": obj, "status": st, "size": int(n), "reason": reason, "changes": []}
        for cid, m, obj, st, n, reason in con.execute(
            "SELECT cluster_id, master_id, object, status, size, reason FROM survivors "
            "WHERE cluster_id IN (SELECT cluster_id FROM _preview_ids)"
        ).fetchall()
    }
    masters = [g["master_id"] for g in groups.values()]
    current = {
        row["Id"]: row
        for row in con.sql('SELECT * FROM raw_records WHERE "Id" IN (SELECT unnest(?::VARCHAR[]))', params=[masters])
        .to_arrow_table().to_pylist()
    } if masters else {}
    for cid, field, value, from_id, rule in con.execute(
        "SELECT cluster_id, field, value, from_id, rule FROM surviving_fields "
        "WHERE cluster_id IN (SELECT cluster_id FROM _preview_ids) ORDER BY cluster_id, ord"
    ).fetchall():
        g = groups[cid]
        before = current.get(g["master_id"], {}).get(field) if field in raw_cols else None
        if (before or None) != (value or None):
            # (a relationship / system field: what survivorship chose, never written by the applier)
            g["changes"].append({"field": field, "current": before, "new": value, "from_id": from_id, "rule": rule,
                                 "not_written": not_written_reason(field, g.get("object"))})
    con.execute("DROP TABLE IF EXISTS _preview_ids")
    return [groups[c] for c in cluster_ids if c in groups]


def field_label(change: dict) -> str:
    """A changed field as the review tables show it: a field the applier never writes says so."""
    reason = change.get("not_written")
    return f"{change['field']} ({reason})" if reason else change["field"]


def _short(value: object, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def before_after_md(groups: list[dict]) -> str:
    """Markdown: per group a heading and a table of its changing fields, current -> new."""
    if not groups:
        return "No duplicate groups."
    parts = []
    for g in groups:
        head = (
            f"**{g['cluster_id']}** — {g['status']}, {g['size']} records, master `{g['master_id']}` ({g['object']})"
            + (f", {g['reason']}" if g.get("reason") else "")
        )
        rows = [
            (field_label(c), _short(c["current"]) or "∅", "→", _short(c["new"]), c["from_id"], c["rule"])
            for c in g["changes"][:PREVIEW_FIELDS]
        ]
        more = len(g["changes"]) - len(rows)
        body = (
            md_table(["field", "current (master)", "", "after merge", "from record", "rule"], rows)
            if rows else "No field changes on the master."
        )
        if more > 0:
            body += f"\n\n… and {more} more changed field(s) (see field_changes.csv)."
        parts.append(head + "\n\n" + body)
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# survivorship


@dg.asset(
    group_name=PLAN_GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[duplicate_clusters],
    description=(
        "Survivorship for every auto / review group: the master record and the value that survives in "
        "every field, with the record it came from and the rule that chose it (tables survivors, "
        "surviving_fields, group_records). Business-card values are never overwritten by non-card values."
    ),
)
def survivorship(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.survive import survive

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "raw_records", "normalized_records", "clusters", "scored_pairs")
        result = survive(con, nconfig)
        save_stage_result(con, result)
        metadata = stage_metadata(con, result, store.database)
        rows = con.execute(
            """SELECT status, count(*), sum(size), count(*) FILTER (WHERE reason IS NOT NULL)
               FROM survivors GROUP BY status ORDER BY status"""
        ).fetchall()
        by_status = {s: (int(g), int(n or 0), int(low)) for s, g, n, low in rows}
        s = result.stats
        metadata.update(
            {
                "groups_by_status": dg.MetadataValue.md(
                    md_table(
                        ["status", "groups", "records", "lowered to review"],
                        [(st, *by_status.get(st, (0, 0, 0))) for st in ("auto", "review")],
                    )
                    + "\n\n*lowered to review*: Contacts under different Accounts, or objects that cannot be merged."
                ),
                "groups_auto": dg.MetadataValue.int(by_status.get("auto", (0, 0, 0))[0]),
                "groups_review": dg.MetadataValue.int(by_status.get("review", (0, 0, 0))[0]),
                "surviving_fields": dg.MetadataValue.int(int(s.get("fields", 0))),
                "fields_from_business_cards": dg.MetadataValue.int(int(s.get("card_fields", 0))),
                "largest_groups": dg.MetadataValue.md(before_after_md(before_after(con, largest_group_ids(con)))),
                "least_certain_groups": dg.MetadataValue.md(
                    "Groups held together by the weakest links (lowest match probability).\n\n"
                    + before_after_md(before_after(con, least_certain_group_ids(con, nconfig)))
                ),
                "survivors": table_preview(
                    con, "SELECT * FROM survivors ORDER BY size DESC, cluster_id", 20
                ),
                "stats": _json_value(s),
            }
        )
    return dg.MaterializeResult(metadata=metadata)


# ---------------------------------------------------------------------------------------------
# merge_plan


def write_plan_files(con: duckdb.DuckDBPyConnection, store: NayoseStore, config: Config) -> dict:
    """The four plan files, written to a temporary folder beside the output folder and moved into
    place only when all of them are complete."""
    from nayose.plan import write_plan_outputs

    out = store.output_path
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_tmp(out)
    try:
        counts = write_plan_outputs(con, tmp, config)
        publish_outputs(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


@dg.asset(
    group_name=PLAN_GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[survivorship],
    description=(
        "The merge plan: per group chained `merge` steps (a master and at most 2 losers each) and "
        "`convert_lead` steps for Leads joining a Contact (table plan_steps), and the delete candidates "
        "(table delete_plan). Publishes merge_plan.json, merge_plan.csv, field_changes.csv and "
        "delete_plan.csv beside clusters.csv."
    ),
)
def merge_plan(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.plan import build_plan

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "raw_records", "normalized_records", "survivors", "group_records")
        result = build_plan(con, nconfig)
        save_stage_result(con, result)
        counts = write_plan_files(con, store, nconfig)
        metadata = stage_metadata(con, result, store.database)
        by_action = con.execute(
            """SELECT p.action, s.status, count(*) AS steps, count(DISTINCT p.cluster_id) AS groups
               FROM plan_steps p JOIN survivors s USING (cluster_id) GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
        steps = {a: 0 for a in ("merge", "convert_lead")}
        for action, _, n, _ in by_action:
            steps[action] = steps.get(action, 0) + int(n)
        groups = dict(con.execute("SELECT status, count(*) FROM survivors GROUP BY status").fetchall())
        no_steps = con.execute(
            "SELECT count(*) FROM survivors s ANTI JOIN plan_steps p USING (cluster_id)"
        ).fetchall()[0][0]
        deletes = con.execute('SELECT reason, object, count(*) FROM delete_plan GROUP BY ALL ORDER BY ALL').fetchall()
        out = store.output_path
        metadata.update(
            {
                "plan_id": dg.MetadataValue.text(str(counts["plan_id"])),
                "steps_by_action": dg.MetadataValue.md(
                    md_table(["action", "group status", "steps", "groups"], by_action)
                    + f"\n\nGroups: {int(groups.get('auto', 0)):,} auto, {int(groups.get('review', 0)):,} review"
                    + (f"; {int(no_steps):,} without steps (objects that cannot be merged)." if no_steps else ".")
                ),
                "steps_merge": dg.MetadataValue.int(steps["merge"]),
                "steps_convert_lead": dg.MetadataValue.int(steps["convert_lead"]),
                "groups_auto": dg.MetadataValue.int(int(groups.get("auto", 0))),
                "groups_review": dg.MetadataValue.int(int(groups.get("review", 0))),
                "field_changes": dg.MetadataValue.int(int(counts["field_changes"])),
                # (rows of field_changes.csv whose `written` column says the applier does not write them:
                # relationship fields such as Account.Name, system / compound fields)
                "field_changes_not_written": dg.MetadataValue.int(int(counts.get("field_changes_not_written", 0))),
                "delete_candidates": dg.MetadataValue.int(int(counts["delete_candidates"])),
                "deletes_by_reason": dg.MetadataValue.md(
                    md_table(["reason", "object", "records"], deletes) if deletes else "No delete candidates."
                ),
                "steps_preview": table_preview(
                    con,
                    """SELECT p.cluster_id, s.status, p.step_no, p.action, p.object, p.master_id,
                              array_to_string(p.loser_ids, ', ') AS loser_ids, p.lead_id, p.contact_id, p.account_id
                       FROM plan_steps p JOIN survivors s USING (cluster_id)
                       ORDER BY s.size DESC, p.cluster_id, p.step_no""",
                    20,
                ),
                "delete_preview": table_preview(con, 'SELECT * FROM delete_plan ORDER BY "Id"', 20),
                # a worklist, not applied: Leads whose company is an existing Account (nayose.accounts)
                "leads_at_accounts": dg.MetadataValue.int(int(counts.get("leads_at_accounts", 0))),
                **({"lead_accounts_preview": table_preview(
                    con, "SELECT lead_id, account_id, account_name, lead_company, rule, agrees FROM lead_accounts "
                         "ORDER BY rule, lead_id", 20)} if counts.get("leads_at_accounts") else {}),
                "output_dir": dg.MetadataValue.path(str(out)),
                **{f"output/{name}": dg.MetadataValue.path(str(out / name)) for name in PLAN_OUTPUT_FILES if (out / name).exists()},
                "stats": _json_value(result.stats),
            }
        )
        # The review surface: register the plan (tables plans / plan_groups) as needing its blocking
        # checks, and describe the plan for the analyst (assets/review.py). The checks report their
        # outcomes; the run's auto-approval policy acts once all of them passed (assets/plan_checks.py).
        from assets.plan_checks import card_overwrites
        from assets.review import plan_review_metadata

        conflicts = sorted({row[0] for row in card_overwrites(con, nconfig)})
        metadata.update(plan_review_metadata(context, con, out, nconfig, before_after, conflicts,
                                             required_checks=MERGE_PLAN_BLOCKING_CHECKS))
    return dg.MaterializeResult(metadata=metadata)


PLAN_ASSETS = [survivorship, merge_plan]
