"""The review surface of a plan, and the settings of review and apply.

`plan_review_metadata` is called by the merge_plan asset once the plan files are published: it
registers the plan in the store (tables plans / plan_groups, a copy of the plan files under
`<out>/plans/<plan_id>/`) as needing merge_plan's blocking checks, and returns the metadata an
analyst reviews in the Dagster UI. Each blocking check then reports its outcome with
`report_plan_check` (nayose.review.record_check); once all passed, the nightly auto-approval
policy acts when the run asks for it. A plan whose blocking check failed cannot be approved.

* `review/summary`: plan id, groups by status, steps by action, and how to approve;
* `review/how_to_approve`: the Launchpad config of the review_plan job, filled in;
* `review/groups_to_review`: the least certain groups, before → after on the master and the
  evidence of every link;
* `review/group_index`: the groups (up to GROUP_INDEX_LIMIT), review groups first, then auto
  groups, each least certain first, with at least a few of every object; with the counts of what is
  not shown and the path of `group_index.csv` (every group, same order) kept with the plan;
* `review/checks`: the blocking checks the plan must pass before review_plan accepts an approval;
* `review/group_details`: a markdown file with every group's before → after and evidence;
* `review/score_distribution`: a PNG of the links inside the groups and each group's weakest link;
* `review/plan_file`, `review/export/*.csv`: the kept plan files;
* `review/decisions`: the decisions recorded on this plan so far.

`sync_review_metadata` does the same for the sync plan of the sync_health asset (flag_plan.csv and
sync_delete_plan.csv, registered as a plan of kind `sync`): `review/summary`, `review/how_to_approve`
(the Launchpad config with include_ids / exclude_ids / include_reasons), `review/rows_by_reason`
(flag and delete rows per reason code, with an example) and `review/reasons` (the counts as JSON),
the kept plan files and the decisions so far.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import csv
import io
import os
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
from pydantic import Field

from assets.metadata import md_table, png_markdown, write_atomic_bytes
from nayose.config import Config
from nayose.review import (
    AutoApprovalPolicy,
    PlanRecord,
    auto_approve,
    check_status,
    decisions,
    load_document,
    plan_items,
    reason_counts,
    record_check,
    register_plan,
)

GROUP_INDEX_LIMIT = 500
GROUP_INDEX_PER_OBJECT = 25  # at most this many rows of the index are kept for each object
GROUP_INDEX_CSV = "group_index.csv"
GROUPS_TO_REVIEW = 10
EVIDENCE_LINKS = 6
SCORE_PNG = "plan_score_distribution.png"
GROUPS_MD = "groups.md"

# Run tags that switch on the auto-approval policy for one run (set by the nightly schedule).
TAG_AUTO_APPROVE = "nayose/auto_approve"
TAG_AUTO_MIN_PROBABILITY = "nayose/auto_min_probability"
TAG_AUTO_MAX_RECORDS = "nayose/auto_max_records"
EXECUTE_ENV = "NAYOSE_APPLY_EXECUTE"


class ReviewSettings(dg.ConfigurableResource):
    """How decisions are checked and how approved plans are applied."""

    max_age_hours: float = Field(
        default=72.0,
        ge=0.0,
        description="A plan older than this (hours since it was made) cannot be approved; 0 = no limit.",
    )
    execute: bool = Field(
        default=False,
        description=(
            "Apply approved plans to Salesforce for real. Off: a dry run (journal entries with status dry_run, "
            f"nothing changed). Also switched on by the environment variable {EXECUTE_ENV}=1; a deployment without "
            "Salesforce settings (NAYOSE_SF_*) always dry-runs."
        ),
    )
    journal_db: str | None = Field(
        default=None,
        description="DuckDB file of the apply journal (table apply_journal); default apply_journal.duckdb beside the store.",
    )

    def execute_requested(self) -> bool:
        return bool(self.execute) or os.environ.get(EXECUTE_ENV, "").strip().lower() in ("1", "true", "yes")

    def journal_path(self, database: str | Path) -> Path:
        return Path(self.journal_db) if self.journal_db else Path(database).parent / "apply_journal.duckdb"


def policy_from_tags(tags: dict) -> AutoApprovalPolicy:
    """The auto-approval policy a run asks for in its tags (off unless nayose/auto_approve is true)."""
    on = str(tags.get(TAG_AUTO_APPROVE, "")).strip().lower() in ("1", "true", "yes")
    kwargs = {}
    if tags.get(TAG_AUTO_MIN_PROBABILITY):
        kwargs["min_probability"] = float(tags[TAG_AUTO_MIN_PROBABILITY])
    if tags.get(TAG_AUTO_MAX_RECORDS):
        kwargs["max_records"] = int(tags[TAG_AUTO_MAX_RECORDS])
    return AutoApprovalPolicy(enabled=on, **kwargs)


# ---------------------------------------------------------------------------------------------
# Markdown pieces


def _short(value: object, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _weakest(group: dict) -> float | None:
    probs = [e["match_probability"] for e in group.get("evidence", []) if e.get("match_probability") is not None]
    return min(probs) if probs else None


def prob_text(p: float | None) -> str:
    """A probability for the review tables: floored to 4 decimals (0.99996 -> 0.9999, never "1")."""
    if p is None:
        return "—"
    return f"{Decimal(repr(float(p))).quantize(Decimal('0.0001'), rounding=ROUND_FLOOR):.4f}"


def _steps_text(group: dict) -> str:
    parts = []
    for st in group.get("steps", []):
        if st["action"] == "merge":
            parts.append(f"merge {', '.join(st['loser_ids'])} → {st['master_id']}")
        else:
            parts.append(f"convert_lead {st['lead_id']} → {st.get('contact_id') or st.get('account_id')}")
    return "; ".join(parts) or "no steps"


def evidence_md(group: dict, limit: int = EVIDENCE_LINKS) -> str:
    """The links holding a group together: probability, gate and each field's agreement level."""
    rows = []
    for e in group.get("evidence", [])[:limit]:
        levels = ", ".join(
            f"{k}: {v}" for k, v in (e.get("levels") or {}).items() if v not in (None, "", "null", "missing")
        )
        if e.get("rule"):  # business Accounts: the rule that decided and what agreed (nayose.accounts)
            levels = f"rule {e['rule']}: {e.get('agrees') or '-'}"
        rows.append((f"{e['left_id']} – {e['right_id']}", prob_text(e["match_probability"]), e.get("decision"),
                     e.get("gate") or "", levels))
    more = len(group.get("evidence", [])) - len(rows)
    text = md_table(["link", "probability", "decision", "gate", "agreement per field"], rows) if rows else "No links."
    return text + (f"\n\n… and {more} more link(s) (see evidence.csv)." if more > 0 else "")


def _field_label(change: dict) -> str:
    reason = change.get("not_written")
    return f"{change['field']} ({reason})" if reason else change["field"]


def group_md(group: dict, before_after: dict | None, fields: int = 12) -> str:
    """One group: heading, steps, the master's before → after values and the evidence."""
    weakest = _weakest(group)
    head = (
        f"#### {group['cluster_id']}\n\n{group['status']}, {1 + len(group.get('loser_ids', []))} records, "
        f"master `{group['master_id']}` ({group['object']})"
        + (f", weakest link {prob_text(weakest)}" if weakest is not None else "")
        + (f", {group['status_reason']}" if group.get("status_reason") else "")
        + f"\n\nSteps: {_steps_text(group)}"
    )
    changes = (before_after or {}).get("changes", [])
    rows = [(_field_label(c), _short(c["current"]) or "∅", "→", _short(c["new"]), c["from_id"], c["rule"])
            for c in changes[:fields]]
    body = md_table(["field", "current (master)", "", "after merge", "from record", "rule"], rows) if rows else "No field changes on the master."
    if len(changes) > len(rows):
        body += f"\n\n… and {len(changes) - len(rows)} more changed field(s) (see field_changes.csv)."
    return f"{head}\n\n{body}\n\nEvidence:\n\n{evidence_md(group)}"


def _index_key(g: dict) -> tuple:
    """Review groups first, then auto groups; each least certain (weakest link) first."""
    w = _weakest(g)
    return (0 if g.get("status") != "auto" else 1, w if w is not None else 0.0, g["cluster_id"])


def index_order(doc: dict) -> list[dict]:
    return sorted(doc["clusters"], key=_index_key)


def _index_row(g: dict) -> tuple:
    return (g["cluster_id"], g["status"], 1 + len(g.get("loser_ids", [])), g["master_id"], g["object"],
            prob_text(_weakest(g)), ", ".join(st["action"] for st in g.get("steps", [])) or "—",
            g.get("status_reason") or "")


INDEX_HEADERS = ["cluster id", "status", "records", "master", "object", "weakest link", "steps", "why review"]


def write_group_index_csv(doc: dict, path: Path) -> int:
    """Every group of the plan, in the index's order (review first, least certain first), as CSV."""
    from nayose.plan import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = write_csv(tmp, ["cluster_id", "status", "records", "master_id", "object", "weakest_link", "steps",
                        "status_reason"], (_index_row(g) for g in index_order(doc)))
    os.replace(tmp, path)
    return n


def group_index_md(doc: dict, limit: int = GROUP_INDEX_LIMIT, csv_path: str | Path | None = None,
                   details_path: str | Path | None = None, out_dir: str | Path | None = None) -> str:
    """The group index: review groups first, then auto groups, each least certain first; when the plan
    has more than `limit` groups, every object keeps some rows, and the text says what is not shown
    and where the full list is."""
    ordered = index_order(doc)
    total = len(ordered)
    objects = sorted({str(g.get("object")) for g in ordered})
    if total <= limit:
        shown = ordered
        per = 0
    else:
        kinds = sorted({(str(g.get("object")), str(g.get("status"))) for g in ordered})
        per = max(1, min(GROUP_INDEX_PER_OBJECT, limit // (2 * max(len(kinds), 1))))
        chosen: set[str] = set()
        for kind in kinds:  # (some of every object and status, before the rest in order)
            chosen.update(g["cluster_id"] for g in
                          [g for g in ordered if (str(g.get("object")), str(g.get("status"))) == kind][:per])
        for g in ordered:
            if len(chosen) >= limit:
                break
            chosen.add(g["cluster_id"])
        shown = [g for g in ordered if g["cluster_id"] in chosen]
    counts: dict[tuple[str, str], list[int]] = {}
    shown_ids = {g["cluster_id"] for g in shown}
    for g in ordered:
        c = counts.setdefault((str(g.get("object")), str(g.get("status"))), [0, 0])
        c[0] += 1
        c[1] += g["cluster_id"] in shown_ids
    overview = md_table(["object", "status", "groups", "listed below"],
                        [(o, st, n, k) for (o, st), (n, k) in sorted(counts.items())])
    where = []
    if csv_path:
        where.append(f"every group, in this order: `{csv_path}`")
    if details_path:
        where.append(f"before → after and evidence of every group: `{details_path}`")
    if out_dir:
        where.append(f"one group: `nayose explain {out_dir} CLUSTER_ID`")
    head = (f"{total:,} groups: review groups first, then auto groups, each least certain (weakest link, floored "
            "to 4 decimals) first.")
    if len(shown) < total:
        hidden = total - len(shown)
        head += (f" **Listed: {len(shown):,} of {total:,}; {hidden:,} not shown** (at least {per} of each object "
                 f"and status: {', '.join(objects)}; counts below).")
    else:
        head += " Every group is listed."
    text = head + "\n\n" + overview + "\n\n" + md_table(INDEX_HEADERS, [_index_row(g) for g in shown])
    if where:
        text += "\n\n" + "; ".join(where) + "."
    return text


def score_distribution_png(doc: dict, review: float, auto: float) -> bytes:
    """PNG: the match probability of every link inside a group, and each group's weakest link, by status."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    links = {"auto": [], "review": []}
    weakest = {"auto": [], "review": []}
    for g in doc["clusters"]:
        key = "auto" if g["status"] == "auto" else "review"
        probs = [e["match_probability"] for e in g.get("evidence", []) if e.get("match_probability") is not None]
        links[key] += probs
        if probs:
            weakest[key].append(min(probs))
    colors = {"auto": "#2a9d5c", "review": "#f2a33a"}
    lo = min(review, 0.5)
    bins = np.linspace(lo, 1.0, 41)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), dpi=100)
    for ax, data, title, unit in (
        (axes[0], links, "Links inside the plan's groups", "links"),
        (axes[1], weakest, "Each group's weakest link", "groups"),
    ):
        series = [np.clip(np.asarray(data[k], dtype=float), lo, 1.0) for k in ("auto", "review")]
        if any(len(s) for s in series):
            ax.hist(series, bins=bins, stacked=True, color=[colors["auto"], colors["review"]],
                    label=[f"{k} groups ({len(data[k]):,} {unit})" for k in ("auto", "review")])
        ax.axvline(review, color=colors["review"], linestyle="--", linewidth=1)
        ax.axvline(auto, color=colors["auto"], linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("match probability")
        ax.set_ylabel(f"{unit} (log scale)")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def how_to_approve_md(plan_id: str, example_cluster: str | None) -> str:
    example = example_cluster or "CLUSTER_ID"
    return (
        "Launch the job **review_plan** from the Launchpad with this config (the launch is the decision). "
        "`decision`: `approve` (every group, lists left empty), `approve_partial` or `reject`. approve_partial "
        f"takes **either** `include_clusters` (only those groups, e.g. `include_clusters: [{example}]`) **or** "
        f"`exclude_clusters` (every group but those, e.g. `exclude_clusters: [{example}]`); naming both is refused. "
        "A plan can be approved only once its blocking checks passed, and not after a reject. The sensor "
        "`apply_approved_plans` then launches **apply_plan** for the approved groups (a dry run unless the "
        "deployment is configured to execute).\n\n"
        "```yaml\nops:\n  record_decision:\n    config:\n"
        f"      plan_id: {plan_id}\n      decision: approve_partial\n"
        "      include_clusters: []   # only these groups\n"
        "      exclude_clusters: []   # or: every group but these\n"
        "      reviewer: your.name@example.com\n      note: checked the review groups\n```"
    )


def decisions_md(con: duckdb.DuckDBPyConnection, plan_id: str) -> str:
    found = decisions(con, plan_id)
    sync = any(d.plan_kind == "sync" for d in found)
    rows = [
        (d.decision_id, d.decision, d.reviewer, f"{d.decided_at:%Y-%m-%d %H:%M %Z}",
         len(d.approved_items) if sync else len(d.approved_clusters), d.source, _short(d.note, 60))
        for d in found
    ]
    counted = "rows approved" if sync else "groups approved"
    return md_table(["decision", "kind", "reviewer", "decided at", counted, "source", "note"], rows) if rows else "No decision yet."


def sync_how_to_approve_md(plan_id: str, example_reason: str | None, example_id: str | None) -> str:
    reason = example_reason or "flag:exclusion:billing"
    return (
        "Launch the job **review_plan** from the Launchpad with this config (the launch is the decision). "
        "`decision`: `approve` (every flag and delete row), `approve_partial` or `reject`. approve_partial approves "
        "the rows of the `include_ids` (Salesforce record Ids of flag_plan.csv, prospect ids of sync_delete_plan.csv; "
        "empty: every row) that match one of the `include_reasons` (empty: any), minus the rows of the `exclude_ids`. "
        "A reason is a code from `review/rows_by_reason` (`delete:over_cap`, `flag:exclusion:billing`), its name "
        "(`billing`), a family (`exclusion`, `quality`) or `flag` / `delete` for every row of that kind. The sensor "
        "`apply_approved_plans` then launches **apply_plan** for the approved rows (a dry run unless the deployment "
        "is configured to execute).\n\n"
        "```yaml\nops:\n  record_decision:\n    config:\n"
        f"      plan_id: {plan_id}\n      decision: approve_partial\n      include_reasons: [{reason}]\n"
        f"      include_ids: []\n      exclude_ids: [{example_id or ''}]\n"
        "      reviewer: your.name@example.com\n      note: checked the sync plan\n```"
    )


def sync_review_metadata(context: dg.AssetExecutionContext, con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict:
    """Register the freshly published sync plan (out_dir/sync_plan.json with flag_plan.csv and
    sync_delete_plan.csv; reason codes from the store's flag_plan / sync_delete_plan tables) and
    describe it for review (see the module doc)."""
    record: PlanRecord = register_plan(con, out_dir / "sync_plan.json", out_dir, run_id=context.run.run_id)
    kept_dir = Path(record.plan_path).parent
    counts = reason_counts(con, record.plan_id)
    items = plan_items(con, record.plan_id)
    example: dict[tuple[str, str], dict] = {}
    for it in items:
        example.setdefault((it["item_kind"], it["reason_code"]), it)
    rows = [
        (kind, f"{kind}:{code}", n, example[(kind, code)]["Id"], _short(example[(kind, code)]["reason"], 80))
        for kind, code, n in counts
    ]
    n_flags = sum(n for k, _, n in counts if k == "flag")
    n_deletes = sum(n for k, _, n in counts if k == "delete")
    # The example selects the largest group of prospect deletes (else of flags) that is not "may sync".
    pick = next((r for r in rows if r[0] == "delete"), None) or next((r for r in rows if not r[1].endswith(":eligible")), None)
    summary = (
        f"Sync plan {record.plan_id} (made {record.made_at:%Y-%m-%d %H:%M %Z}, data as of {record.created_at}): "
        f"{n_flags:,} flag row(s) setting the Marketing Data Sharing field, {n_deletes:,} prospect delete(s); "
        f"{len(counts)} reason(s). Approve with the review_plan job (plan_id {record.plan_id}), all of it or by "
        "record id / reason."
    )
    return {
        "review/summary": dg.MetadataValue.text(summary),
        "review/plan_id": dg.MetadataValue.text(record.plan_id),
        "review/plan_kind": dg.MetadataValue.text("sync"),
        "review/made_at": dg.MetadataValue.text(record.made_at.isoformat(timespec="seconds")),
        "review/how_to_approve": dg.MetadataValue.md(
            sync_how_to_approve_md(record.plan_id, pick[1] if pick else None, None)),
        "review/rows_by_reason": dg.MetadataValue.md(
            md_table(["kind", "reason (include_reasons)", "rows", "example Id", "example reason"], rows)
            if rows else "Nothing to change: no flag and no prospect delete."
        ),
        "review/reasons": dg.MetadataValue.json({f"{k}:{c}": n for k, c, n in counts}),
        "review/flag_rows": dg.MetadataValue.int(n_flags),
        "review/delete_rows": dg.MetadataValue.int(n_deletes),
        "review/plan_file": dg.MetadataValue.path(record.plan_path),
        **{f"review/export/{p.name}": dg.MetadataValue.path(str(p)) for p in sorted(kept_dir.glob("*.csv"))},
        "review/decisions": dg.MetadataValue.md(decisions_md(con, record.plan_id)),
    }


# ---------------------------------------------------------------------------------------------
# The review surface


def plan_review_metadata(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    config: Config,
    before_after_fn,
    card_conflicts: list[str] | None = None,
    required_checks=(),
) -> dict:
    """Register the freshly published plan (out_dir/merge_plan.json) as needing `required_checks`
    before it can be approved, and describe the plan for review (see the module doc)."""
    plan_json = out_dir / "merge_plan.json"
    doc = load_document(plan_json)
    record: PlanRecord = register_plan(con, plan_json, out_dir, run_id=context.run.run_id,
                                       card_conflicts=card_conflicts or [], required_checks=required_checks)
    kept_dir = Path(record.plan_path).parent
    th = config.matching.thresholds
    policy = policy_from_tags(context.run.tags or {})

    png = score_distribution_png(doc, th.review, th.auto)
    png_path = kept_dir / SCORE_PNG
    write_atomic_bytes(png_path, png)

    # The least certain groups first: what an analyst should read before approving.
    ordered = sorted(doc["clusters"], key=lambda g: (_weakest(g) if _weakest(g) is not None else 0.0, g["cluster_id"]))
    to_review = [g for g in ordered if g["status"] != "auto"][:GROUPS_TO_REVIEW] or ordered[:GROUPS_TO_REVIEW]
    ba = {g["cluster_id"]: g for g in before_after_fn(con, [g["cluster_id"] for g in to_review])}
    review_md = "\n\n".join(group_md(g, ba.get(g["cluster_id"])) for g in to_review) or "No duplicate groups."

    # Every group, for the details file (written in chunks of before -> after lookups).
    details = [f"# Plan {record.plan_id}\n\nMade {record.made_at:%Y-%m-%d %H:%M %Z}; data as of {doc.get('created_at')}; "
               f"{len(doc['clusters']):,} groups.\n"]
    chunk = 500
    for i in range(0, len(doc["clusters"]), chunk):
        part = doc["clusters"][i:i + chunk]
        bas = {g["cluster_id"]: g for g in before_after_fn(con, [g["cluster_id"] for g in part])}
        details += [group_md(g, bas.get(g["cluster_id"]), fields=100) for g in part]
    details_path = kept_dir / GROUPS_MD
    write_atomic_bytes(details_path, ("\n\n".join(details) + "\n").encode("utf-8"))
    index_csv = kept_dir / GROUP_INDEX_CSV
    write_group_index_csv(doc, index_csv)

    statuses: dict[str, int] = {}
    actions: dict[str, int] = {}
    for g in doc["clusters"]:
        statuses[g["status"]] = statuses.get(g["status"], 0) + 1
        for st in g.get("steps", []):
            actions[st["action"]] = actions.get(st["action"], 0) + 1
    example = to_review[0]["cluster_id"] if to_review else None
    checks = list(required_checks)
    # (the delete candidates -- test / dummy records by the delete rules -- are not part of an
    # approval here: apply_plan merges the approved groups only)
    delete_csv = out_dir / "delete_plan.csv"
    n_delete = 0
    if delete_csv.exists():
        with open(delete_csv, encoding="utf-8", newline="") as fh:
            n_delete = max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    summary = (
        f"Plan {record.plan_id} (made {record.made_at:%Y-%m-%d %H:%M %Z}, data as of {doc.get('created_at')}): "
        f"{len(doc['clusters']):,} groups ({statuses.get('auto', 0):,} auto, {statuses.get('review', 0):,} review); "
        f"steps: {actions.get('merge', 0):,} merge, {actions.get('convert_lead', 0):,} convert_lead. "
        f"Approve with the review_plan job (plan_id {record.plan_id})"
        + (f" once its {len(checks)} blocking check(s) passed (review/checks)." if checks else ".")
        + (" Auto-approval policy on: it approves the qualifying groups when the blocking checks have passed."
           if policy.enabled else "")
        + (f" Delete candidates: {n_delete:,} (delete_plan.csv) -- not part of an approval here: apply_plan "
           f"merges the approved groups only; review the file and apply it with "
           f"`nayose apply {kept_dir / 'merge_plan.json'} --clusters none --deletes {delete_csv}` (the rows you keep)."
           if n_delete else "")
    )
    metadata = {
        "review/summary": dg.MetadataValue.text(summary),
        "review/plan_id": dg.MetadataValue.text(record.plan_id),
        "review/made_at": dg.MetadataValue.text(record.made_at.isoformat(timespec="seconds")),
        "review/groups_by_status": dg.MetadataValue.md(
            md_table(["status", "groups"], sorted(statuses.items()))
            + "\n\n" + md_table(["action", "steps"], sorted(actions.items()))
        ),
        "review/checks": dg.MetadataValue.md(
            ("review_plan accepts an approval of this plan only once every blocking check below passed (each "
             "reports its outcome to the store; see the asset's Checks tab):\n\n"
             + "\n".join(f"- `{c}`" for c in checks)) if checks else "No blocking check is required."
        ),
        "review/how_to_approve": dg.MetadataValue.md(how_to_approve_md(record.plan_id, example)),
        "review/groups_to_review": dg.MetadataValue.md(
            "The least certain groups (weakest link first): the master's values before → after the merge, "
            "and the evidence of each link.\n\n" + review_md
        ),
        "review/group_index": dg.MetadataValue.md(
            group_index_md(doc, csv_path=index_csv, details_path=details_path, out_dir=out_dir)),
        "review/group_index_csv": dg.MetadataValue.path(str(index_csv)),
        "review/group_details": dg.MetadataValue.path(str(details_path)),
        "review/explain": dg.MetadataValue.text(f"nayose explain {out_dir} CLUSTER_ID"),
        "review/score_distribution": dg.MetadataValue.md(png_markdown(png, "plan score distribution")),
        "review/score_distribution_png": dg.MetadataValue.path(str(png_path)),
        "review/plan_file": dg.MetadataValue.path(record.plan_path),
        **{
            f"review/export/{p.name}": dg.MetadataValue.path(str(p))
            for p in sorted(kept_dir.glob("*.csv"))
        },
        "review/decisions": dg.MetadataValue.md(decisions_md(con, record.plan_id)),
    }
    return metadata


def report_plan_check(context, con: duckdb.DuckDBPyConnection, check_name: str, passed: bool, detail: str = "") -> dict:
    """Record a blocking check's outcome for the merge plan this run registered (the Dagster side of
    nayose.review.record_check); when every blocking check of the plan has passed, apply the run's
    auto-approval policy. Returns metadata for the check result."""
    from nayose.review import latest_plan

    run_id = context.run.run_id
    row = con.execute(
        "SELECT plan_id FROM plans WHERE run_id = ? AND coalesce(kind, 'merge') = 'merge'", [run_id]
    ).fetchone() if _has_plans(con) else None
    if row is None:
        latest = latest_plan(con, "merge") if _has_plans(con) else None
        return {"plan_id": dg.MetadataValue.text(
            f"none registered by this run: outcome not recorded (the latest plan is "
            f"{latest.plan_id if latest else 'none'})")}
    plan_id = row[0]
    record_check(con, plan_id, check_name, passed, run_id=run_id, detail=detail)
    status = check_status(con, plan_id)
    metadata = {"plan_id": dg.MetadataValue.text(plan_id),
                "plan_checks": dg.MetadataValue.text(status.text())}
    policy = policy_from_tags(context.run.tags or {})
    if status.ok and policy.enabled:
        auto = auto_approve(con, plan_id, policy, run_id=run_id)
        if auto is not None:
            text = (f"decision {auto.decision_id}: {len(auto.approved_clusters)} group(s) approved by the policy "
                    f"(every link ≥ {policy.min_probability:g}, ≤ {policy.max_records} records, no card conflict, "
                    "no convert_lead), after all blocking checks passed")
            context.log.info(f"auto-approval policy: {text}")
            metadata["auto_approval"] = dg.MetadataValue.text(text)
        else:
            metadata["auto_approval"] = dg.MetadataValue.text("policy on: no group qualifies")
    return metadata


def _has_plans(con: duckdb.DuckDBPyConnection) -> bool:
    from nayose.store import table_exists

    return table_exists(con, "plans")
