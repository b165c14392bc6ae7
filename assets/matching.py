"""The six matching assets. Each one opens the store, runs one engine stage on the tables already
there, records the stage result, and returns a MaterializeResult describing what it produced.

    raw_records -> normalized_records -> candidate_pairs -> scored_pairs -> duplicate_clusters
                                     \-> account_pairs ---------/

Tables pass through the DuckDB file, not through an IO manager: assets depend on each other with
`deps` and return metadata only. duplicate_clusters also publishes the outputs (clusters.csv,
pairs.csv, evidence.csv, summary.json) to the output folder.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb

from assets.metadata import (
    fill_rates,
    md_table,
    png_markdown,
    probability_buckets_md,
    score_histogram_png,
    stage_metadata,
    table_preview,
    write_atomic_bytes,
)
from pydantic import Field

from assets.sources import RecordsSourceConfig, resolve_source
from assets.store import NayoseStore, load_stage_results, require_tables, save_stage_result
from nayose.pipeline import output_tmp, publish_outputs
from nayose.config import Config
from nayose.errors import NayoseError
from nayose.stage import StageResult
from nayose.store import table_exists

GROUP = "matching"
POOL = "nayose_store"  # one writer at a time on the DuckDB file (set a pool limit of 1 on the instance)
KINDS = {"duckdb", "python"}
HISTOGRAM_PNG = "score_histogram.png"
OUTPUT_FILES = ("clusters.csv", "pairs.csv", "evidence.csv", "account_pairs.csv", "summary.json")
STAGE_ORDER = ["records", "normalize", "accounts", "block", "score", "cluster"]


@contextmanager
def engine_errors() -> Iterator[None]:
    """Errors a user can fix (bad input, bad config) fail the step with one readable line."""
    try:
        yield
    except NayoseError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def _json_value(data: object) -> dg.MetadataValue:
    return dg.MetadataValue.json(json.loads(json.dumps(data, ensure_ascii=False, default=str)))


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])


# ---------------------------------------------------------------------------------------------
# Incremental runs
#
# With `incremental: true` in raw_records' run config (the nightly schedule sets it), raw_records
# runs nayose.incremental.incremental_run: only the records new or changed since the last run are
# normalized, blocked against everything and scored; every stage table is updated in one
# transaction (a full run instead when there is no previous run or the config changed). The
# downstream matching assets of the same run then find their stage already done and only
# describe it (stage_results records which run did it).

INCREMENTAL_KEY = "incremental_run_id"


class RawRecordsConfig(RecordsSourceConfig):
    """Run config of raw_records: which records to load, and whether to match incrementally."""

    incremental: bool = Field(
        default=False,
        description=(
            "Match only what changed since the last run (new, changed and deleted records against the whole base, "
            "scored with the last run's model) and update every matching table in this step; a full run when the "
            "store has no previous run or the config changed. The nightly schedule sets it."
        ),
    )


def done_incrementally(con: duckdb.DuckDBPyConnection, stage: str, run_id: str) -> StageResult | None:
    """The stage's result when raw_records of this very run did it (an incremental run)."""
    recorded = load_stage_results(con).get(stage)
    if recorded and recorded[1].get(INCREMENTAL_KEY) == run_id:
        return recorded[0]
    return None


def _salesforce_changes(context: dg.AssetExecutionContext, files, nconfig: Config, con):
    """With source 'salesforce' and a previous run in the store: the incremental run on the records
    the extracts changed since (sf_changes), not on the whole extracted file; None when it cannot
    be (no previous run, nothing written, or the extract's columns changed: the whole file then)."""
    from nayose.extract import SALESFORCE_CSV, changes_since, matching_objects, write_records_csv
    from nayose.incremental import has_state, incremental_run

    if files.source != "salesforce" or not has_state(con):
        return None
    objects = matching_objects(con) or [r[0] for r in con.execute("SELECT DISTINCT Object FROM sf_records").fetchall()]
    pending = changes_since(con, objects)
    if not pending.upserts:  # nothing written (deletions only, or nothing at all): the file is read whole
        return None
    changes_csv = files.paths[0].with_name(f"changes_{SALESFORCE_CSV}")
    write_records_csv(con, changes_csv, objects, ids=pending.upserts)
    try:
        inc = incremental_run(con, [str(changes_csv)], nconfig, changes_only=True, deleted_ids=pending.deletes)
    except NayoseError as exc:
        if "previous snapshot's columns" not in str(exc):
            raise
        context.log.info(f"the extract's columns changed ({exc}): matching on the whole extract")
        return None
    finally:
        changes_csv.unlink(missing_ok=True)
    return inc


def _incremental_records(context: dg.AssetExecutionContext, files, nconfig: Config, con) -> tuple[StageResult, dict]:
    from nayose.incremental import incremental_run

    inc = _salesforce_changes(context, files, nconfig, con) or incremental_run(con, [str(p) for p in files.paths], nconfig)
    summary = inc.to_dict()
    context.log.info(
        f"{inc.mode} run{': ' + inc.reason if inc.reason else ''}; {inc.new} new, {inc.changed} changed, "
        f"{inc.deleted} deleted, {inc.normalized} normalized, {inc.compared_pairs} pairs compared in "
        f"{summary['seconds'].get('total', 0):.2f} s"
    )
    extra = {"incremental": summary, INCREMENTAL_KEY: context.run.run_id}
    by_stage = {r.stage: r for r in inc.results}
    for r in inc.results:
        if r.stage != "records":
            save_stage_result(con, r, extra)
    return by_stage["records"], summary


# ---------------------------------------------------------------------------------------------
# raw_records


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    pool=POOL,
    # (source "salesforce" reads the CSV salesforce_records wrote: in a run holding both -- the nightly
    # job -- the extract comes first; runs without it read the last extract)
    deps=[dg.AssetKey("salesforce_records")],
    description=(
        "Source records (Salesforce Leads / Contacts) as loaded: Id, Object, every source column as "
        "text, plus _source_file and _source_row. The source is chosen in the run config: the built-in "
        "synthetic sample org (default), CSV exports, or the last Salesforce extract (salesforce_records)."
    ),
)
def raw_records(context: dg.AssetExecutionContext, config: RawRecordsConfig, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.extract import changes_mark
    from nayose.records import load_records

    nconfig = store.load_config()
    with engine_errors():
        files = resolve_source(config, store.data_dir)
        context.log.info(f"source {files.source}: {', '.join(str(p) for p in files.paths)}")
        with store.connect() as con:
            incremental = None
            # The last change the extracts recorded, before this run reads them.
            mark = changes_mark(con) if files.source == "salesforce" else None
            if config.incremental:
                result, incremental = _incremental_records(context, files, nconfig, con)
            else:
                result = load_records(con, [str(p) for p in files.paths], nconfig)
            if mark is not None:  # what the extracts changed up to now is matched
                from nayose.extract import take_changes

                take_changes(con, mark)
            extra = {
                "source": files.source,
                "inputs": [str(p) for p in files.paths],
                "truth_csv": str(files.truth_csv) if files.truth_csv else None,
                **files.details,
            }
            if incremental is not None:
                extra.update({"incremental": incremental, INCREMENTAL_KEY: context.run.run_id})
            save_stage_result(con, result, extra)
            metadata = stage_metadata(con, result, store.database)
            metadata.update(
                {
                    "source": dg.MetadataValue.text(files.source),
                    "preview": table_preview(
                        con, f'SELECT * EXCLUDE (_source_file) FROM "{result.table}" ORDER BY _source_row',
                        10, max_columns=30,
                    ),
                    "stats": _json_value(result.stats),
                }
            )
            file_stats = result.stats.get("files") or []
            if file_stats:
                metadata["files"] = dg.MetadataValue.md(
                    md_table(
                        ["file", "encoding", "rows", "columns", "mapped headers"],
                        [
                            (
                                f.get("path"),
                                f.get("encoding"),
                                f.get("rows"),
                                len(f.get("columns") or []),
                                ", ".join(f"{k} → {v}" for k, v in (f.get("mapped") or {}).items()),
                            )
                            for f in file_stats
                        ],
                    )
                )
            objects = result.stats.get("objects")
            if isinstance(objects, dict) and objects:
                metadata["records_per_object"] = dg.MetadataValue.md(
                    md_table(["object", "records"], sorted(objects.items()))
                )
            if files.truth_csv:
                metadata["truth_csv"] = dg.MetadataValue.path(str(files.truth_csv))
            if files.details.get("sample"):
                metadata["sample"] = _json_value(files.details["sample"])
            if incremental is not None:
                metadata["run_mode"] = dg.MetadataValue.text(
                    incremental["mode"] + (f" ({incremental['reason']})" if incremental["reason"] else "")
                )
                metadata["incremental"] = _json_value(incremental)
    return dg.MaterializeResult(metadata=metadata)


# ---------------------------------------------------------------------------------------------
# normalized_records

NORMALIZED_PREVIEW = [
    "rec_idx", "id", "object", "full_name", "last_reading", "first_reading", "company_core", "email", "phone", "mobile",
    "postal_code", "prefecture", "city", "street", "birthdate",
]


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[raw_records],
    description=(
        "One row per record with matching-ready values: names split and read (kana / romaji), company "
        "core name without legal-form words, email, phone and mobile in E.164, postal code, prefecture, "
        "city, street, birth date."
    ),
)
def normalized_records(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.normalize import normalize_records

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "raw_records")
        result = done_incrementally(con, "normalize", context.run.run_id)
        if result is None:
            result = normalize_records(con, nconfig)
            save_stage_result(con, result)
        metadata = stage_metadata(con, result, store.database)
        cols = {r[0] for r in con.execute(f'DESCRIBE "{result.table}"').fetchall()}
        shown = ", ".join(f'"{c}"' for c in NORMALIZED_PREVIEW if c in cols) or "*"
        metadata.update(
            {
                "fill_rates": dg.MetadataValue.md(fill_rates(con, result.table)),
                "preview": table_preview(con, f'SELECT {shown} FROM "{result.table}" ORDER BY rec_idx', 10),
                "stats": _json_value(result.stats),
            }
        )
    return dg.MaterializeResult(metadata=metadata)


# ---------------------------------------------------------------------------------------------
# candidate_pairs


def blocking_rules_md(stats: dict, records: int) -> str:
    rules = stats.get("rules", {})
    rows = [
        (
            name,
            ", ".join(f"`{k}`" for k in s.get("keys", [])),
            s.get("comparisons", 0),
            s.get("new_pairs", 0),
            s.get("skipped_blocks", 0),
            s.get("skipped_records", 0),
            s.get("largest_skipped_block", 0),
        )
        for name, s in rules.items()
    ]
    total = sum(s.get("comparisons", 0) for s in rules.values())
    distinct = stats.get("candidate_pairs", sum(s.get("new_pairs", 0) for s in rules.values()))
    rows.append(("**total**", "", total, distinct, "", "", ""))
    all_pairs = records * (records - 1) // 2
    note = (
        f"\n\n{records:,} records = {all_pairs:,} possible pairs; blocking keeps {distinct:,} distinct pairs"
        + (f" ({100.0 * distinct / all_pairs:.4f}%)." if all_pairs else ".")
        + " *comparisons*: pairs the rule produced; *new pairs*: pairs no earlier rule produced; "
        "*skipped blocks*: key values shared by more records than the block size limit (not compared)."
    )
    return md_table(
        ["rule", "keys", "comparisons", "new pairs", "skipped blocks", "skipped records", "largest skipped block"],
        rows,
    ) + note


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[normalized_records],
    description=(
        "Candidate pairs (left_idx < right_idx) from the blocking rules, each attributed to the first "
        "rule that produced it. Oversized blocks are skipped and reported, never compared n-squared."
    ),
)
def candidate_pairs(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.block import block_pairs

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "normalized_records")
        result = done_incrementally(con, "block", context.run.run_id)
        if result is None:
            result = block_pairs(con, nconfig)
            save_stage_result(con, result)
        records = _count(con, "normalized_records")
        metadata = stage_metadata(con, result, store.database)
        metadata.update(
            {
                "comparisons_per_rule": dg.MetadataValue.md(blocking_rules_md(result.stats, records)),
                "rules_used": dg.MetadataValue.int(len(result.stats.get("rule_names", []))),
                "stats": _json_value(result.stats),
            }
        )
    return dg.MaterializeResult(metadata=metadata)


# ---------------------------------------------------------------------------------------------
# account_pairs


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[normalized_records],
    description=(
        "Duplicate business Accounts (companies, never matched with people): pairs decided by explicit "
        "rules on the name without its legal form, the 法人番号, the switchboard, the website's domain and "
        "the address (config accounts:), each with the rule that decided and what agreed; and the pairs a rule "
        "keeps apart (two 法人番号, a parent, two offices, two customer codes): a group they fall into is reviewed."
    ),
)
def account_pairs(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.accounts import RULES, match_accounts

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "raw_records", "normalized_records")
        result = done_incrementally(con, "accounts", context.run.run_id)
        if result is None:
            result = match_accounts(con, nconfig)
            save_stage_result(con, result)
        metadata = stage_metadata(con, result, store.database)
        s = result.stats
        metadata.update({
            "accounts": dg.MetadataValue.int(int(s.get("accounts", 0))),
            "pairs_auto": dg.MetadataValue.int(int(s.get("pairs", {}).get("auto", 0))),
            "pairs_review": dg.MetadataValue.int(int(s.get("pairs", {}).get("review", 0))),
            # (pairs a rule keeps apart for certain: a group chaining them is held for review)
            "pairs_kept_apart": dg.MetadataValue.int(int(s.get("conflicts", 0))),
            "rules": dg.MetadataValue.md(md_table(
                ["rule", "decision", "what it means", "candidate pairs"],
                [(r, d, meaning, s.get("rules", {}).get(r, 0)) for r, (d, meaning) in RULES.items()])),
            "pairs_preview": table_preview(con, """
                SELECT p.decision, p.rule, l.name AS left_name, r.name AS right_name, p.evidence AS agrees,
                       p.left_id, p.right_id
                FROM account_pairs p JOIN normalized_accounts l ON l.rec_idx = p.left_idx
                JOIN normalized_accounts r ON r.rec_idx = p.right_idx
                ORDER BY p.decision DESC, p.rule, p.left_id LIMIT 20""", 20),
            # (two Accounts a rule keeps apart: a group that holds both waits for review and says so)
            "kept_apart_preview": table_preview(con, """
                SELECT k.rule, l.name AS left_name, r.name AS right_name, k.left_id, k.right_id
                FROM account_conflicts k JOIN normalized_accounts l ON l.rec_idx = k.left_idx
                JOIN normalized_accounts r ON r.rec_idx = k.right_idx
                ORDER BY k.rule, k.left_id LIMIT 20""", 20) if table_exists(con, "account_conflicts") else dg.MetadataValue.md(
                "No pair kept apart."),
            "stats": _json_value(s),
        })
    return dg.MaterializeResult(metadata=metadata)


# ---------------------------------------------------------------------------------------------
# scored_pairs


def model_md(model: dict | None) -> str:
    if not model:
        return "No model (no candidate pairs)."
    rows = []
    for comp, levels in model.get("comparisons", {}).items():
        for label, v in levels.items():
            rows.append((comp, label, v.get("m"), v.get("u"), v.get("weight")))
    head = (
        f"Prior match proportion among candidate pairs: **{model.get('prior_match_proportion', 0):.4f}**; "
        f"EM iterations: {model.get('em_iterations', 0)}. *weight* = log2(m/u) before term-frequency "
        "adjustment (made monotone in the level).\n\n"
    )
    return head + md_table(["comparison", "level", "m", "u", "weight"], rows)


def rule_names_for(con: duckdb.DuckDBPyConnection, config: Config) -> list[str]:
    """Blocking rule names by rule_no, as the candidate_pairs step recorded them."""
    recorded = load_stage_results(con).get("block")
    if recorded and "rule_names" in recorded[0].stats:
        return list(recorded[0].stats["rule_names"])
    from nayose.block import active_rules

    return [r.name for r in active_rules(con, config, "normalized_records")]


def evidence_preview_sql(con: duckdb.DuckDBPyConnection, config: Config, rule_names: list[str], where: str = "") -> str:
    """The evidence of the best pairs, with the compact set of columns an analyst reads first."""
    from nayose.outputs import evidence_select
    from nayose.score import COMPARISONS

    sql = evidence_select(con, config, rule_names)
    cols = con.sql(f"SELECT * FROM ({sql}) LIMIT 0").columns
    wanted = ["left_id", "right_id", "match_probability", "decision", "match_weight", "blocking_rule", "gate"]
    wanted += [c.name for c in COMPARISONS]
    wanted += [f"{side}_{v}" for v in ("full_name", "company_core", "email", "phone") for side in ("left", "right")]
    keep = ", ".join(f'"{c}"' for c in wanted if c in cols)
    return f"SELECT {keep} FROM ({sql}) {where}"


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[candidate_pairs, account_pairs],
    description=(
        "Every candidate pair scored with a Fellegi-Sunter model (m/u by EM, term-frequency adjusted; business "
        "Accounts left out of the random pairs and the prior): "
        "per-field agreement level and weight, the person-evidence gate, match weight and probability. "
        "Also writes the table match_model and the score histogram PNG to the output folder."
    ),
)
def scored_pairs(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.score import score_pairs

    nconfig = store.load_config()
    th = nconfig.matching.thresholds
    state = {"done": 0, "logged": -1.0}

    def progress(n: int, total: int) -> None:
        state["done"] += n
        share = state["done"] / total if total else 1.0
        if share - state["logged"] >= 0.1 or state["done"] >= total:
            state["logged"] = share
            context.log.info(f"scored {state['done']:,} / {total:,} pairs")

    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "normalized_records", "candidate_pairs")
        result = done_incrementally(con, "score", context.run.run_id)
        if result is None:
            result = score_pairs(con, nconfig, progress=progress)
            save_stage_result(con, result)
        metadata = stage_metadata(con, result, store.database)

        scores = con.sql(f'SELECT match_weight, match_probability FROM "{result.table}"').to_arrow_table()
        weights = scores.column(0).to_numpy()
        probs = scores.column(1).to_numpy()
        png = score_histogram_png(weights, probs, th.review, th.auto)
        png_path = store.output_path / HISTOGRAM_PNG
        write_atomic_bytes(png_path, png)

        rule_names = rule_names_for(con, nconfig)
        preview_sql = evidence_preview_sql(con, nconfig, rule_names)
        review_sql = evidence_preview_sql(con, nconfig, rule_names, "WHERE decision = 'review'")
        s = result.stats
        metadata.update(
            {
                "pairs_by_decision": dg.MetadataValue.md(
                    md_table(
                        ["decision", "pairs"],
                        [
                            (f"auto (≥ {th.auto:g})", s.get("pairs_auto", 0)),
                            (f"review (≥ {th.review:g})", s.get("pairs_review", 0)),
                            ("below review", s.get("pairs_below_review", 0)),
                        ],
                    )
                    + "\n\n"
                    + md_table(
                        ["person-evidence gate", "pairs capped (raised)"],
                        [(k.removeprefix("capped_").replace("_", " "), v) for k, v in s.items()
                         if k.startswith(("capped_", "raised_"))],
                    )
                ),
                "pairs_auto": dg.MetadataValue.int(int(s.get("pairs_auto", 0))),
                "pairs_review": dg.MetadataValue.int(int(s.get("pairs_review", 0))),
                "top_pairs": table_preview(con, preview_sql, 20),
                "review_pairs": table_preview(con, review_sql, 20),
                "model": dg.MetadataValue.md(model_md(s.get("model"))),
                "score_histogram": dg.MetadataValue.md(png_markdown(png, "score histogram")),
                "score_buckets": dg.MetadataValue.md(probability_buckets_md(probs, th.review, th.auto)),
                "score_histogram_png": dg.MetadataValue.path(str(png_path)),
                "comparisons": dg.MetadataValue.text(", ".join(s.get("comparisons", []))),
                "stats": _json_value({k: v for k, v in s.items() if k != "model"}),
            }
        )
    return dg.MaterializeResult(metadata=metadata)


# ---------------------------------------------------------------------------------------------
# duplicate_clusters


def write_all_outputs(con: duckdb.DuckDBPyConnection, store: NayoseStore, config: Config, cluster: StageResult) -> dict:
    """clusters.csv, pairs.csv, evidence.csv and summary.json, written to a temporary folder beside
    the output folder and moved into place only when all of them are complete."""
    from nayose.outputs import summary_dict, write_outputs

    recorded = load_stage_results(con)
    results = [recorded[s][0] for s in STAGE_ORDER if s in recorded and s != cluster.stage] + [cluster]
    records_extra = recorded.get("records", (None, {}))[1]
    inputs = records_extra.get("inputs", [])
    out = store.output_path
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_tmp(out)
    try:
        t0 = time.perf_counter()
        write_outputs(con, tmp, config, rule_names_for(con, config))
        summary = summary_dict(results, config, inputs)
        summary["source"] = records_extra.get("source")
        summary["seconds"]["write outputs"] = round(time.perf_counter() - t0, 3)
        summary["seconds"]["total"] = round(sum(summary["seconds"].values()), 3)
        (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        publish_outputs(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def largest_groups_sql(limit: int = 15) -> str:
    return f"""
        SELECT c.cluster_id, any_value(c.status) AS status, count(*) AS records,
               left(string_agg(DISTINCT n.full_name, ' / '), 200) AS names,
               left(string_agg(DISTINCT n.company_core, ' / '), 200) AS companies
        FROM clusters c JOIN normalized_records n ON n.rec_idx = c.rec_idx
        WHERE c.status <> 'single'
        GROUP BY c.cluster_id
        ORDER BY records DESC, c.cluster_id
        LIMIT {int(limit)}"""


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    pool=POOL,
    deps=[scored_pairs, account_pairs],
    description=(
        "Duplicate groups: one row per record with its cluster_id and status (auto: may be merged without "
        "review; review: an analyst decides; single), people and business Accounts alike. Publishes clusters.csv, "
        "pairs.csv, evidence.csv, account_pairs.csv and summary.json to the output folder."
    ),
)
def duplicate_clusters(context: dg.AssetExecutionContext, store: NayoseStore) -> dg.MaterializeResult:
    from nayose.cluster import cluster_records
    from nayose.evaluate import evaluate_files

    nconfig = store.load_config()
    with engine_errors(), store.connect() as con:
        require_tables(con, store.database, "normalized_records", "scored_pairs")
        result = done_incrementally(con, "cluster", context.run.run_id)
        if result is None:
            result = cluster_records(con, nconfig)
            save_stage_result(con, result)
        summary = write_all_outputs(con, store, nconfig, result)
        metadata = stage_metadata(con, result, store.database)
        groups = result.stats.get("clusters", {})
        recs = result.stats.get("records", {})
        out = store.output_path
        metadata.update(
            {
                "clusters_per_status": dg.MetadataValue.md(
                    md_table(
                        ["status", "groups", "records"],
                        [(s, groups.get(s, 0), recs.get(s, 0)) for s in ("auto", "review", "single")],
                    )
                ),
                "groups_auto": dg.MetadataValue.int(int(groups.get("auto", 0))),
                "groups_review": dg.MetadataValue.int(int(groups.get("review", 0))),
                "largest_cluster": dg.MetadataValue.int(int(result.stats.get("largest_cluster", 0))),
                "largest_groups": table_preview(con, largest_groups_sql(), 15),
                "output_dir": dg.MetadataValue.path(str(out)),
                **{f"output/{name}": dg.MetadataValue.path(str(out / name)) for name in OUTPUT_FILES if (out / name).exists()},
                "summary": _json_value({k: v for k, v in summary.items() if k not in ("model", "comparisons")}),
                "stats": _json_value(result.stats),
            }
        )
        truth = load_stage_results(con).get("records", (None, {}))[1].get("truth_csv")
    if truth and Path(truth).is_file():
        rows = []
        for label, auto_only in (("all groups", False), ("auto groups only", True)):
            m = evaluate_files(out / "clusters.csv", truth, auto_only=auto_only)
            rows.append((label, m["precision"], m["recall"], m["f1"], m["predicted_pairs"], m["true_pairs"]))
            if not auto_only:
                metadata["pairwise_precision"] = dg.MetadataValue.float(float(m["precision"]))
                metadata["pairwise_recall"] = dg.MetadataValue.float(float(m["recall"]))
                metadata["pairwise_f1"] = dg.MetadataValue.float(float(m["f1"]))
        metadata["evaluation"] = dg.MetadataValue.md(
            f"Pairwise metrics against the source's truth (`{truth}`):\n\n"
            + md_table(["clusters", "precision", "recall", "F1", "predicted pairs", "true pairs"], rows)
        )
    return dg.MaterializeResult(metadata=metadata)


MATCHING_ASSETS = [raw_records, normalized_records, candidate_pairs, scored_pairs, account_pairs, duplicate_clusters]
