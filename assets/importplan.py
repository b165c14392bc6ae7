"""The import plan asset: an incoming file (a purchased list, an event list, a business-card export)
linked to the extracted org before it is loaded, with one decision per row.

    raw_records (the org, as the nightly job extracted it)  +  run config: incoming file
        -> import_plan

It runs the engine's link mode (`nayose.link`, `nayose.importplan`) on the store: the existing side
is the store's `raw_records` table (or CSV exports named in the run config), the stage tables are
prefixed `import_` so the dedupe run's tables stay as they are. The files (import_insert.csv,
import_update.csv, import_changes.csv, import_review.csv, import_decisions.csv,
import_summary.json) are published to `<output_dir>/import/` (a temporary folder first, then moved
into place). Analysts review it like the merge plan: decisions by reason, the updates' before ->
after values, the uncertain rows with their evidence; blocking checks stop a plan that would
overwrite a business-card value with a non-card value, decide a row twice or not at all, or update
a record that is not in the org.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import json
import shutil
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.matching import KINDS, POOL, _json_value, engine_errors, raw_records
from assets.metadata import md_table, table_preview
from assets.store import NayoseStore, require_tables
from nayose.pipeline import output_tmp, publish_outputs

IMPORT_GROUP = "import"
PREVIEW_ROWS = 20


class ImportPlanRunConfig(dg.Config):
    """Run config of import_plan: the file to import and how to read it."""

    incoming_path: str = Field(description="The file to import (CSV, UTF-8 or CP932; Japanese headers through import_plan.incoming_columns).")
    lead_source: str | None = Field(
        default=None,
        description="LeadSource of incoming rows that have none (e.g. Sansan: the rows are business cards). Overrides import_plan.incoming_lead_source.",
    )
    existing_csv_paths: list[str] = Field(
        default_factory=list,
        description="Org exports to match against instead of the store's raw_records (empty: raw_records).",
    )
    output_subdir: str = Field(default="import", description="Folder under the store's output_dir for the import files.")
    existing_truth: str | None = Field(default=None, description="Labelled org (Id, entity_id): adds an evaluation to the metadata.")
    incoming_truth: str | None = Field(default=None, description="Labelled incoming file (incoming_id, entity_id).")


def _updates_md(con, limit: int = 3, fields: int = 8) -> str:
    rows = con.execute(
        """SELECT c.incoming_id, c.existing_id, c.object, c.field, c.current_value, c.new_value, c.rule
           FROM import_changes c
           WHERE c.row_no IN (SELECT row_no FROM import_changes GROUP BY row_no ORDER BY count(*) DESC, row_no LIMIT ?)
           ORDER BY c.row_no, c.ord""",
        [limit],
    ).fetchall()
    if not rows:
        return "No updates."
    parts, cur, body = [], None, []
    for iid, eid, obj, field, before, after, rule in rows:
        if (iid, eid) != cur:
            if body:
                parts.append(md_table(["field", "current (org)", "", "after import", "rule"], body[:fields]))
            cur, body = (iid, eid), []
            parts.append(f"**incoming row {iid}** → update `{eid}` ({obj})")
        body.append((field, before or "∅", "→", after, rule))
    if body:
        parts.append(md_table(["field", "current (org)", "", "after import", "rule"], body[:fields]))
    return "\n\n".join(parts)


@dg.asset(
    group_name=IMPORT_GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[raw_records],
    description=(
        "Import plan for an incoming file against the org (link mode): per incoming row insert / update / "
        "review / skip, with the existing Id and the field values that change under the survivorship rules "
        "(a business-card value in the org is never overwritten by a non-card value). Publishes "
        "import_insert.csv, import_update.csv (Data Loader), import_changes.csv, import_review.csv, "
        "import_decisions.csv and import_summary.json to <output_dir>/import/."
    ),
)
def import_plan(context: dg.AssetExecutionContext, config: ImportPlanRunConfig, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.importplan import (
        count_card_overwrites,
        evaluate_import,
        import_summary,
        run_import_stages,
        write_import_outputs,
    )

    nconfig = store.load_config()
    if config.lead_source is not None:
        nconfig.import_plan.incoming_lead_source = config.lead_source or None
    out = store.output_path / config.output_subdir
    with engine_errors(), store.connect() as con:
        existing_paths = list(config.existing_csv_paths) or None
        if existing_paths is None:
            require_tables(con, store.database, "raw_records")
        results = run_import_stages(con, nconfig, config.incoming_path, existing_paths,
                                    existing_table=None if existing_paths else "raw_records")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = output_tmp(out)
        try:
            counts = write_import_outputs(con, tmp, nconfig)
            summary = import_summary(con, nconfig, results, existing_paths or ["raw_records"], config.incoming_path)
            summary["files"] = counts
            summary["card_values_overwritten"] = count_card_overwrites(con, nconfig)
            if config.existing_truth and config.incoming_truth:
                summary["evaluation"] = evaluate_import(con, config.existing_truth, config.incoming_truth)
            (tmp / "import_summary.json").write_text(
                json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
            )
            publish_outputs(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        d = summary["decisions"]
        context.log.info(f"import plan: {d}")
        by_reason = con.execute(
            "SELECT decision, regexp_replace(reason, ' (of )?incoming row \\S+$', '') AS reason, count(*) "
            "FROM import_decisions GROUP BY ALL ORDER BY 1, 3 DESC"
        ).fetchall()
        metadata = {
            "dagster/row_count": dg.MetadataValue.int(int(summary["incoming_rows"])),
            "incoming": dg.MetadataValue.path(config.incoming_path),
            "existing_records": dg.MetadataValue.int(int(summary["existing_records"])),
            **{f"decisions_{k}": dg.MetadataValue.int(int(v)) for k, v in d.items()},
            "decisions_by_reason": dg.MetadataValue.md(md_table(["decision", "reason", "rows"], by_reason)),
            "field_changes": dg.MetadataValue.int(int(summary["field_changes"].get("field_changes", 0))),
            "values_from_cards": dg.MetadataValue.int(int(summary["field_changes"].get("values_from_cards", 0))),
            "card_values_overwritten": dg.MetadataValue.int(int(summary["card_values_overwritten"])),
            "columns_not_imported": dg.MetadataValue.text(", ".join(summary["columns_not_imported"]) or "none"),
            "updates_before_after": dg.MetadataValue.md(_updates_md(con)),
            "review_preview": table_preview(
                con,
                """SELECT d.incoming_id, d.existing_id AS "Id", d.duplicate_of, round(d.match_probability, 4) AS p, d.reason,
                          i.full_name AS incoming_name, x.full_name AS candidate_name,
                          i.company_core AS incoming_company, x.company_core AS candidate_company
                   FROM import_decisions d JOIN import_normalized i ON i.id = d."Id"
                   LEFT JOIN import_normalized x ON x.id = d.existing_id
                   WHERE d.decision = 'review' ORDER BY d.match_probability DESC NULLS LAST, d.row_no""",
                PREVIEW_ROWS,
            ),
            "decisions_preview": table_preview(
                con, "SELECT incoming_id, decision, reason, existing_id AS \"Id\", round(match_probability, 4) AS p "
                "FROM import_decisions ORDER BY row_no", PREVIEW_ROWS,
            ),
            "seconds": _json_value(summary["seconds"]),
            "output_dir": dg.MetadataValue.path(str(out)),
            **{f"output/{name}": dg.MetadataValue.path(str(out / name)) for name in counts},
            "output/import_summary.json": dg.MetadataValue.path(str(out / "import_summary.json")),
        }
        if "evaluation" in summary:
            metadata["evaluation"] = _json_value(summary["evaluation"])
    return dg.MaterializeResult(metadata=metadata)


def _check_store(store: NayoseStore, *tables: str):
    from assets.checks import _missing

    return _missing(store, *tables)


@dg.asset_check(
    name="import_card_values_protected",
    asset=import_plan,
    blocking=True,
    pool=POOL,
    description="No update overwrites a business-card value of the org with a value from a non-card row.",
)
def import_card_values_protected(store: NayoseStore) -> dg.AssetCheckResult:
    from nayose.importplan import count_card_overwrites

    if (res := _check_store(store, "import_changes", "import_raw")) is not None:
        return res
    config = store.load_config()
    with store.connect() as con:
        bad = count_card_overwrites(con, config)
        protected = con.execute(
            "SELECT count(*) FROM import_decisions WHERE reason = 'already in the org: nothing to change'"
        ).fetchall()[0][0]
    return dg.AssetCheckResult(
        passed=bad == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"card_values_overwritten": int(bad), "matches_with_nothing_to_change": int(protected)},
    )


@dg.asset_check(
    name="one_decision_per_row",
    asset=import_plan,
    blocking=True,
    pool=POOL,
    description="Every incoming row has exactly one decision (insert / update / review / skip); updates and "
    "reviews of an existing record name it; no existing record is updated twice.",
)
def one_decision_per_row(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _check_store(store, "import_decisions", "import_rows")) is not None:
        return res
    with store.connect() as con:
        rows, decided, distinct, bad, no_id, twice = con.execute(
            """SELECT (SELECT count(*) FROM import_rows), count(*), count(DISTINCT row_no),
                      count(*) FILTER (WHERE decision NOT IN ('insert', 'update', 'review', 'skip')),
                      count(*) FILTER (WHERE decision = 'update' AND existing_id IS NULL),
                      (SELECT count(*) FROM (SELECT existing_id FROM import_decisions WHERE decision = 'update'
                                             GROUP BY existing_id HAVING count(*) > 1))
               FROM import_decisions"""
        ).fetchall()[0]
    ok = rows == decided == distinct and bad == no_id == twice == 0
    return dg.AssetCheckResult(
        passed=ok, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"incoming_rows": int(rows), "decisions": int(decided), "rows_decided": int(distinct),
                  "unknown_decisions": int(bad), "updates_without_id": int(no_id), "records_updated_twice": int(twice)},
    )


@dg.asset_check(
    name="updates_target_org_records",
    asset=import_plan,
    blocking=True,
    pool=POOL,
    description="Every update and review names a record of the org (the existing side), never an incoming row.",
)
def updates_target_org_records(store: NayoseStore) -> dg.AssetCheckResult:
    if (res := _check_store(store, "import_decisions", "import_side")) is not None:
        return res
    with store.connect() as con:
        missing = con.execute(
            """SELECT count(*) FROM import_decisions d
               WHERE d.existing_id IS NOT NULL AND d.existing_id NOT IN (SELECT "Id" FROM import_side WHERE NOT incoming)"""
        ).fetchall()[0][0]
    return dg.AssetCheckResult(passed=missing == 0, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"ids_not_in_org": int(missing)})


IMPORT_ASSETS = [import_plan]
IMPORT_CHECKS = [import_card_values_protected, one_decision_per_row, updates_target_org_records]
