"""Sync health assets, beside the dedupe: which records may sync to Account Engagement (Pardot), the
prospect cap, and what goes wrong between the two systems.

    raw_records (or a sample / CSV) -> sync_eligibility -> sync_health

* `sync_eligibility` runs `nayose.eligibility`: per record eligible or not and why, mailable, the
  cap ranking with its explanation, and the flag plan (`flag_plan.csv`) that sets the field the
  Marketing Data Sharing rule reads.
* `sync_health` runs `nayose.synchealth.diagnose` on the records and the prospects (joined by CRM
  ID and email) and the field metadata: not synced, over-synced, duplicates created, field mapping,
  values not syncing / reverting; publishes sync_health.md / .csv, sync_delete_plan.csv (prospects to
  delete, object Prospect, for the applier after approval), sync_eligibility.csv, flag_plan.csv and
  sync_plan.json to the output folder, and registers the flag and delete plans as a plan of kind
  `sync` (kept under out/plans/<plan_id>/): its metadata `review/*` is the review surface, the job
  `review_plan` the decision (whole plan, or by record id / reason), the sensor
  `apply_approved_plans` launches `apply_plan` with the approved rows (journaled, dry run by default).

Where the data comes from is the run config of `sync_eligibility` (`SyncHealthConfig`):
``store`` (the default, for the nightly run) reads `raw_records` and, when the connectors put it in
the store, `pardot_prospects`; ``sample`` generates the sample org's Pardot side with every problem
planted (`nayose.sample_sync`, the demo); ``csv`` loads exports. `sync_health_job` materializes both;
`sync_health_nightly` (stopped by default) runs it every night after the dedupe.
"""

# No `from __future__ import annotations`: Dagster reads the config types at definition time.

import json
import shutil
from pathlib import Path
from typing import Literal

import dagster as dg
import duckdb
from pydantic import Field

from assets.matching import KINDS, POOL, _json_value, engine_errors, output_tmp, publish_outputs, raw_records
from assets.metadata import md_table, stage_metadata, table_preview
from assets.review import sync_review_metadata
from assets.store import NayoseStore, load_stage_results, require_tables, save_stage_result
from nayose.store import table_exists

SYNC_GROUP = "sync"
SYNC_FILES = ("sync_health.md", "sync_health.csv", "sync_delete_plan.csv", "sync_eligibility.csv", "flag_plan.csv",
              "sync_plan.json")


class SyncHealthConfig(dg.Config):
    """Run config of sync_eligibility: where the records, prospects and field metadata come from."""

    source: Literal["store", "sample", "csv"] = Field(
        default="store",
        description="'store': raw_records and pardot_prospects already in the store (the nightly run); 'sample': the "
        "sample org with a Pardot side where every sync problem is planted; 'csv': the files below.",
    )
    sample_records: int = Field(default=10_000, ge=100, description="Records of the sample org (source 'sample').")
    sample_seed: int = Field(default=42, description="Seed of the sample org (source 'sample').")
    records_csv: list[str] = Field(default_factory=list, description="Salesforce exports (source 'csv').")
    prospects_csv: str | None = Field(default=None, description="Pardot prospects export, v5 field names (source 'csv').")
    metadata_json: str | None = Field(
        default=None, description="Salesforce describe + Pardot custom field definitions (any source; the sample brings its own)."
    )


def _inputs(con: duckdb.DuckDBPyConnection, cfg: SyncHealthConfig, store: NayoseStore, nconfig) -> dict:
    """Load what the source names into the store; return the tables / files the stages use."""
    from nayose.eligibility import load_prospects
    from nayose.records import load_records

    if cfg.source == "store":
        require_tables(con, store.database, "raw_records")
        prospects = "pardot_prospects" if table_exists(con, "pardot_prospects") else None
        return {"source": "store", "records": "raw_records", "prospects": prospects, "metadata": cfg.metadata_json}
    if cfg.source == "sample":
        from nayose.sample_sync import write_sync_sample

        folder = store.data_dir / f"sync_sample_{cfg.sample_records}_seed{cfg.sample_seed}"
        stats = write_sync_sample(cfg.sample_records, cfg.sample_seed, folder)
        paths = stats["paths"]
        load_records(con, [paths["records"]], nconfig, table="sync_records")
        load_prospects(con, paths["prospects"], "sync_prospects")
        return {"source": "sample", "records": "sync_records", "prospects": "sync_prospects",
                "metadata": cfg.metadata_json or paths["metadata"], "truth_csv": paths["truth"],
                "sample": {k: v for k, v in stats.items() if k != "paths"}}
    if not cfg.records_csv:
        raise dg.Failure(description="source 'csv' needs records_csv (one or more Salesforce exports)", allow_retries=False)
    load_records(con, cfg.records_csv, nconfig, table="sync_records")
    prospects = None
    if cfg.prospects_csv:
        load_prospects(con, cfg.prospects_csv, "sync_prospects")
        prospects = "sync_prospects"
    return {"source": "csv", "records": "sync_records", "prospects": prospects, "metadata": cfg.metadata_json,
            "inputs": [*cfg.records_csv, *([cfg.prospects_csv] if cfg.prospects_csv else [])]}


@dg.asset(
    group_name=SYNC_GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[raw_records],
    description=(
        "Which Salesforce records may sync to Account Engagement: exclusions (billing, recruiting, partner contacts), "
        "route / owner rules, freshness, quality; mailable records ranked against the prospect cap with a per-record "
        "explanation; and the flag plan setting the Marketing Data Sharing field (table sync_eligibility, flag_plan)."
    ),
)
def sync_eligibility(context: dg.AssetExecutionContext, config: SyncHealthConfig, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.eligibility import build_flag_plan, compute_eligibility, sync_plan_id

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        inputs = _inputs(con, config, store, nconfig)
        context.log.info(f"sync source {inputs['source']}: records {inputs['records']}, prospects {inputs['prospects']}")
        result = compute_eligibility(con, nconfig, inputs["records"], inputs["prospects"])
        plan_id = sync_plan_id(con, nconfig, inputs["records"], inputs["prospects"])
        n_flags = build_flag_plan(con, nconfig, plan_id)
        inputs["plan_id"] = plan_id
        save_stage_result(con, result, inputs)
        s = result.stats
        metadata = stage_metadata(con, result, store.database)
        reasons = con.execute(
            """SELECT reason_code, count(*), arg_min("Id" || ': ' || reason, "Id") FROM sync_eligibility
               WHERE NOT eligible GROUP BY 1 ORDER BY 2 DESC, 1"""
        ).fetchall()
        routes = con.execute(
            "SELECT route, count(*), count(*) FILTER (WHERE eligible), count(*) FILTER (WHERE mailable) "
            "FROM sync_eligibility GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        flags = con.execute("SELECT value, count(*) FROM flag_plan GROUP BY 1 ORDER BY 1").fetchall()
        metadata.update({
            "plan_id": dg.MetadataValue.text(plan_id),
            "source": dg.MetadataValue.text(inputs["source"]),
            "eligible": dg.MetadataValue.int(int(s["eligible"])),
            "mailable": dg.MetadataValue.int(int(s["mailable"])),
            "cap": dg.MetadataValue.int(int(s["cap"])),
            "cap_taken_by_unlinked_prospects": dg.MetadataValue.int(int(s["cap_taken_by_unlinked_prospects"])),
            "over_cap": dg.MetadataValue.int(int(s["over_cap"])),
            "flag_plan_rows": dg.MetadataValue.int(n_flags),
            "summary": dg.MetadataValue.md(
                md_table(["records", "eligible", "mailable", "cap", "taken by prospects without CRM ID",
                          "dropped over the cap", "as of"],
                         [(s["records"], s["eligible"], s["mailable"], s["cap"], s["cap_taken_by_unlinked_prospects"],
                           s["over_cap"], s["as_of"][:10])])
                + "\n\n**Not eligible, by first reason**\n\n"
                + (md_table(["reason", "records", "example"], reasons) if reasons else "Every record is eligible.")
                + "\n\n**By inflow route**\n\n" + md_table(["route", "records", "eligible", "mailable"], routes)
                + "\n\n**Flag plan** (`" + nconfig.sync.sharing_field + "`): "
                + (", ".join(f"{n:,} set to {v}" for v, n in flags) if flags else "nothing to change") + "."
            ),
            "cap_ranking": table_preview(
                con, """SELECT cap_rank, "Id", object, route, quality, freshness_bucket, within_cap, cap_explanation
                        FROM sync_eligibility WHERE mailable ORDER BY cap_rank DESC""", 15),
            "flag_plan_preview": table_preview(con, 'SELECT "Id", object, field, value, reason FROM flag_plan ORDER BY "Id"', 15),
            "stats": _json_value(s),
        })
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=SYNC_GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[sync_eligibility],
    description=(
        "Sync health: records not synced (with the likely cause), over-synced prospects, duplicates created, the field "
        "mapping audit, values that do not sync or revert (predicted from each field's sync behaviour). Publishes "
        "sync_health.md / .csv and the prospect delete plan (sync_delete_plan.csv) beside the other outputs, and "
        "registers the flag + delete plan for review (review_plan job; metadata review/*)."
    ),
)
def sync_health(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.synchealth import PROBLEMS, diagnose, health_markdown, load_metadata, write_health_outputs

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "sync_eligibility", "flag_plan")
        inputs = load_stage_results(con).get("eligibility", (None, {}))[1]
        records, prospects = inputs.get("records", "raw_records"), inputs.get("prospects")
        require_tables(con, store.database, records)
        if prospects and not table_exists(con, prospects):
            prospects = None
        metadata_doc = load_metadata(inputs.get("metadata"))
        result = diagnose(con, nconfig, records, prospects, metadata_doc, inputs.get("plan_id", ""))
        save_stage_result(con, result, inputs)
        out = store.output_path
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = output_tmp(out)
        try:
            counts = write_health_outputs(con, tmp, plan_id=inputs.get("plan_id") or None)
            publish_outputs(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # The flag and delete plans go through the same review / approval / journal path as merges:
        # registered as a sync plan (files kept under out/plans/<plan_id>/), decided with review_plan.
        review_md = sync_review_metadata(context, con, out) if inputs.get("plan_id") else {}
        by = con.execute("SELECT problem, cause, count(*) FROM sync_findings GROUP BY ALL ORDER BY ALL").fetchall()
        per_problem = {p: 0 for p in PROBLEMS}
        for p, _, n in by:
            per_problem[p] = per_problem.get(p, 0) + int(n)
        metadata = stage_metadata(con, result, store.database)
        report = health_markdown(con)
        if prospects is None:
            report = ("> No prospects table (`pardot_prospects`): only eligibility and the flag plan; extract the prospects "
                      "(or use source 'sample' / 'csv') for the diagnosis.\n\n" + report)
        metadata.update({
            "report": dg.MetadataValue.md(report),
            **{f"findings/{p}": dg.MetadataValue.int(n) for p, n in per_problem.items()},
            "findings_by_cause": dg.MetadataValue.md(md_table(["problem", "cause", "findings"], by) if by else "No problem found."),
            "field_mapping_audit": table_preview(con, "SELECT * FROM field_mapping_audit ORDER BY problem IS NULL, salesforce_field", 30),
            "findings_preview": table_preview(
                con, "SELECT * FROM sync_findings WHERE problem <> 'field_mapping' OR \"Id\" IS NULL", 25),
            "prospect_deletes": dg.MetadataValue.int(int(counts["sync_delete_plan"])),
            "delete_preview": table_preview(con, 'SELECT "Id", object, reason, as_of FROM sync_delete_plan', 15),
            "plan_id": dg.MetadataValue.text(str(inputs.get("plan_id", ""))),
            "output_dir": dg.MetadataValue.path(str(out)),
            **{f"output/{name}": dg.MetadataValue.path(str(out / name)) for name in SYNC_FILES},
            "stats": _json_value(result.stats),
        })
        metadata.update(review_md)
        if inputs.get("truth_csv"):
            metadata["truth_csv"] = dg.MetadataValue.path(inputs["truth_csv"])
        context.log.info("sync health: " + json.dumps(per_problem))
    return dg.MaterializeResult(metadata=metadata)


SYNC_ASSETS = [sync_eligibility, sync_health]

sync_health_job = dg.define_asset_job(
    name="sync_health_job",
    selection=dg.AssetSelection.assets(*SYNC_ASSETS),
    executor_def=dg.in_process_executor,
    description=(
        "Sync health between Salesforce and Account Engagement: eligibility, the prospect cap and the flag plan, then "
        "the diagnosis (not synced, over-synced, duplicates, field mapping, values not syncing / reverting) and its report."
    ),
)

sync_health_nightly = dg.ScheduleDefinition(
    name="sync_health_nightly",
    job=sync_health_job,
    cron_schedule="0 4 * * *",
    execution_timezone="Asia/Tokyo",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Re-apply the sync rules to every record (new ones included) and re-diagnose every night at 04:00 JST, "
    "after the nightly extract and dedupe (stopped until switched on).",
)
