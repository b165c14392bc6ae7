"""Outputs of a matching run: clusters.csv, pairs.csv, evidence.csv and the summary.

- clusters.csv: Id, cluster_id, status (auto | review | single), one row per input record.
- pairs.csv: left_id, right_id, match_probability, decision (auto | review) for every scored pair
  at or above the review threshold.
- evidence.csv: the same pairs with the blocking rule, the person-evidence gate and, per compared
  field, the agreement level and its weight (log2 Bayes factor, term-frequency adjusted), plus
  the compared values, so an analyst can see why two records were matched.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from nayose.config import Config
from nayose.score import COMPARISONS, gate_label_sql
from nayose.stage import StageResult, fine_grained_scans, table_rows
from nayose.store import table_exists

# Normalized values shown beside the evidence (left/right), when present.
EVIDENCE_VALUES = ["full_name", "email", "phone", "mobile", "company_core", "postal_code", "street", "birthdate"]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]


def _copy_csv(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> None:
    """COPY a query to a CSV that is safe to open in Excel: a text cell starting with = + - @ tab or
    CR gets a leading apostrophe (numbers are left alone: -3.2 is a number, not a formula)."""
    described = con.execute(f"DESCRIBE ({sql})").fetchall()
    cols = ", ".join(
        f"{_excel_safe(_ident(name))} AS {_ident(name)}" if str(ctype).upper() == "VARCHAR" else _ident(name)
        for name, ctype, *_ in described
    )
    target = path.as_posix().replace("'", "''")
    con.execute(f"COPY (SELECT {cols} FROM ({sql})) TO '{target}' (HEADER, DELIMITER ',', QUOTE '\"')")


#: Public name: the CLI writes prospect_links.csv with it.
copy_query_csv = _copy_csv


def _excel_safe(col: str) -> str:
    """A leading apostrophe before = + - @ tab or CR (NULL stays NULL, written as an empty cell)."""
    return f"CASE WHEN regexp_matches({col}, '^[-=+@\\t\\r]') THEN chr(39) || {col} ELSE {col} END"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'



def decision_sql(config: Config, prob: str = "match_probability") -> str:
    th = config.matching.thresholds
    return f"CASE WHEN {prob} >= {float(th.auto)!r} THEN 'auto' ELSE 'review' END"


def evidence_select(con: duckdb.DuckDBPyConnection, config: Config, rule_names: list[str] | None = None) -> str:
    """SQL for the evidence of every pair at or above the review threshold (best first)."""
    scored = set(_columns(con, "scored_pairs"))
    norm = set(_columns(con, "normalized_records"))
    parts = [
        "l.id AS left_id",
        "r.id AS right_id",
        "round(p.match_probability, 6) AS match_probability",
        f"{decision_sql(config, 'p.match_probability')} AS decision",
        "round(p.match_weight, 2) AS match_weight",
    ]
    if rule_names:
        cases = " ".join(f"WHEN {i} THEN '{n}'" for i, n in enumerate(rule_names))
        parts.append(f"CASE p.rule_no {cases} END AS blocking_rule")
    parts.append(f"{gate_label_sql('p.gate')} AS gate")
    for comp in COMPARISONS:
        if f"lvl_{comp.name}" not in scored:
            continue
        cases = " ".join(f"WHEN {k} THEN '{lab}'" for k, lab in enumerate(comp.levels))
        parts.append(f"CASE p.lvl_{comp.name} {cases} ELSE 'missing' END AS {comp.name}")
        parts.append(f"round(p.w_{comp.name}, 2) AS {comp.name}_weight")
    for v in EVIDENCE_VALUES:
        if v in norm:
            parts.append(f'l."{v}" AS left_{v}')
            parts.append(f'r."{v}" AS right_{v}')
    th = config.matching.thresholds
    return f"""SELECT {", ".join(parts)}
        FROM scored_pairs p
        JOIN normalized_records l ON l.rec_idx = p.left_idx
        JOIN normalized_records r ON r.rec_idx = p.right_idx
        WHERE p.match_probability >= {float(th.review)!r}
        ORDER BY p.match_probability DESC, l.id, r.id"""


def write_outputs(con: duckdb.DuckDBPyConnection, out: Path, config: Config, rule_names: list[str] | None = None) -> None:
    with fine_grained_scans(con, table_rows(con, "clusters")):
        _write_outputs(con, out, config, rule_names)


def _write_outputs(con: duckdb.DuckDBPyConnection, out: Path, config: Config, rule_names: list[str] | None) -> None:
    th = config.matching.thresholds
    accounts = table_exists(con, "account_pairs") and table_exists(con, "normalized_accounts")
    account_pairs = ("UNION ALL SELECT left_id, right_id, round(match_probability, 6), decision FROM account_pairs"
                     if accounts else "")
    _copy_csv(con, 'SELECT "Id", cluster_id, status FROM clusters ORDER BY "Id"', out / "clusters.csv")
    _copy_csv(
        con,
        f"""SELECT l.id AS left_id, r.id AS right_id, round(p.match_probability, 6) AS match_probability,
                   {decision_sql(config, 'p.match_probability')} AS decision
            FROM scored_pairs p
            JOIN normalized_records l ON l.rec_idx = p.left_idx
            JOIN normalized_records r ON r.rec_idx = p.right_idx
            WHERE p.match_probability >= {float(th.review)!r}
            {account_pairs}
            ORDER BY match_probability DESC, left_id, right_id""",
        out / "pairs.csv",
    )
    _copy_csv(con, evidence_select(con, config, rule_names), out / "evidence.csv")
    # the business Accounts' pairs with the rule that decided and what agreed (the header alone without
    # Accounts, or from a store made before them: every run writes the file, none is left over)
    _copy_csv(con, """SELECT p.left_id, p.right_id, l.name AS left_name, r.name AS right_name, p.decision, p.rule,
                             p.evidence AS agrees
                      FROM account_pairs p JOIN normalized_accounts l ON l.rec_idx = p.left_idx
                      JOIN normalized_accounts r ON r.rec_idx = p.right_idx
                      ORDER BY p.decision, p.left_id, p.right_id""" if accounts else
              """SELECT NULL::VARCHAR AS left_id, NULL::VARCHAR AS right_id, NULL::VARCHAR AS left_name,
                        NULL::VARCHAR AS right_name, NULL::VARCHAR AS decision, NULL::VARCHAR AS rule,
                        NULL::VARCHAR AS agrees WHERE false""", out / "account_pairs.csv")


def summary_dict(results: list[StageResult], config: Config, inputs: list) -> dict:
    """summary.json: records in, candidate pairs per rule and in total, pairs per decision,
    clusters per status, time per stage."""
    by = {r.stage: r for r in results}
    records = by.get("records")
    block = by.get("block")
    score = by.get("score")
    cluster = by.get("cluster")
    th = config.matching.thresholds
    return {
        "inputs": [str(p) for p in inputs],
        "records_in": records.rows if records else 0,
        "objects": records.stats.get("objects", {}) if records else {},
        # converted Leads and deleted records, matched with nothing (normalize.read_only_record_sql);
        # null where not counted (an incremental run normalizes the changed records only)
        "read_only_records": by["normalize"].stats.get("read_only_records", 0 if "rows" in by["normalize"].stats else None)
        if "normalize" in by else None,
        "candidate_pairs": {
            "total": block.rows if block else 0,
            "per_rule": {
                name: {"comparisons": s["comparisons"], "new_pairs": s["new_pairs"], "skipped_blocks": s["skipped_blocks"]}
                for name, s in (block.stats.get("rules", {}) if block else {}).items()
            },
        },
        "thresholds": {"review": th.review, "auto": th.auto},
        "pairs": {
            "auto": score.stats.get("pairs_auto", 0) if score else 0,
            "review": score.stats.get("pairs_review", 0) if score else 0,
            "below_review": score.stats.get("pairs_below_review", 0) if score else 0,
        },
        "gates": {
            k: v for k, v in (score.stats.items() if score else []) if k.startswith(("capped_", "raised_", "review_"))
        },
        "clusters": cluster.stats.get("clusters", {}) if cluster else {},
        "records_by_status": cluster.stats.get("records", {}) if cluster else {},
        "largest_cluster": cluster.stats.get("largest_cluster", 0) if cluster else 0,
        "comparisons": score.stats.get("comparisons", []) if score else [],
        "model": score.stats.get("model") if score else None,
        # business Accounts (nayose.accounts): how many, their candidate pairs, pairs per decision and per rule
        "accounts": by["accounts"].stats if "accounts" in by else None,
        "seconds": {r.stage: r.seconds for r in results},
    }
