"""Plans: duplicate groups (after survivorship) as reviewable merge / convert / delete steps.

`build_plan(con, config)` reads `survivors`, `group_records`, `raw_records` and writes

* `plan_steps(cluster_id, step_no, action, object, master_id, loser_ids, lead_id, contact_id,
  account_id)`: Leads merge with Leads and Contacts with Contacts; Salesforce's merge() takes a
  master and at most 2 other records, so a group of N records of one object becomes
  ceil((N-1)/2) chained `merge` steps with the same master. In a group holding Leads and
  Contacts, the Contacts are merged into the Contact master and every Lead becomes a
  `convert_lead` step into that Contact (and its AccountId). A group mixing other objects gets no
  steps (status review).
* `delete_plan(Id, object, reason)`: junk / test records by `delete_rules` — never a business-card
  record unless the rule sets `include_business_cards: true`, never a record of a duplicate group
  (those go through the merge plan).

`write_plan_outputs(con, out_dir, config)` writes `merge_plan.json`, `merge_plan.csv`,
`field_changes.csv`, `delete_plan.csv` (plan_id, Id, object, reason, as_of). Each group in
merge_plan.json carries `as_of`: every record's SystemModstamp (else LastModifiedDate) as exported,
which the applier's stale check compares with the org. Same input and config give the same plan_id and
byte-identical files: `plan_id` is a SHA-256 of the input records (every column but the source
file name / row) and the config; `created_at` is not the wall clock but the newest
LastModifiedDate (else CreatedDate) of the input, i.e. the as-of time of the data the plan
was made from. CSV cells starting with = + - @ tab or CR are prefixed with ' (Excel safety).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pyarrow as pa

from nayose.config import Config
from nayose.outputs import evidence_select
from nayose.score import COMPARISONS
from nayose.stage import StageResult, timed
from nayose.survive import card_sql

MAX_LOSERS_PER_MERGE = 2  # Salesforce merge(): a master and at most 2 other records
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


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def group_steps(master_id: str, master_object: str, records: list[tuple[str, str]],
                master_account: str | None) -> list[dict]:
    """Steps for one group. `records` is [(Id, object)] of every record (master included)."""
    objs = {o for _, o in records}
    if len(objs) > 1 and objs != {"Lead", "Contact"}:
        return []
    same = sorted(i for i, o in records if o == master_object and i != master_id)
    steps: list[dict] = [
        {"action": "merge", "object": master_object, "master_id": master_id, "loser_ids": chunk}
        for chunk in _chunks(same, MAX_LOSERS_PER_MERGE)
    ]
    if master_object == "Contact":
        for lead in sorted(i for i, o in records if o == "Lead"):
            steps.append({"action": "convert_lead", "lead_id": lead, "contact_id": master_id,
                          "account_id": master_account})
    return steps


def _valid_email_sql(col: str) -> str:
    return f"regexp_full_match(trim({col}), '[^@＠\\s]+[@＠][^@＠\\s]+[.．][^@＠\\s]+')"


def _phone_sql(col: str) -> str:
    return f"length(regexp_replace(coalesce({col}, ''), '[^0-9０-９]', '', 'g')) >= 6"


def _pattern_key(v: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", v).strip())


def delete_candidates(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    """Create `delete_plan(Id, object, reason)`; return its name. Set-based: patterns are tested once
    per distinct value in Python, the rest is SQL."""
    cols = {c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()}
    dr = config.delete_rules
    card = card_sql(con, config)
    grouped = "EXISTS (SELECT 1 FROM group_records g WHERE g.\"Id\" = r.\"Id\")"
    selects = []
    for i, rule in enumerate(dr.rules):
        conds: list[str] = []
        if rule.patterns:
            rx = [re.compile(p, re.IGNORECASE) for p in rule.patterns]
            field_conds = []
            for f in rule.fields:
                if f not in cols:
                    continue
                distinct = [v[0] for v in con.execute(f'SELECT DISTINCT "{f}" FROM raw_records WHERE "{f}" IS NOT NULL').fetchall()]
                hits = [v for v in distinct if any(x.fullmatch(_pattern_key(v)) for x in rx)]
                if hits:
                    tname = f"_del_{i}_{len(field_conds)}"
                    con.register(tname, pa.table({"v": pa.array(hits, pa.string())}))
                    con.execute(f'CREATE OR REPLACE TEMP TABLE "{tname}_t" AS SELECT v FROM "{tname}"')
                    con.unregister(tname)
                    field_conds.append(f'r."{f}" IN (SELECT v FROM "{tname}_t")')
            if not field_conds:
                continue
            conds.append("(" + " OR ".join(field_conds) + ")")
        if rule.no_valid_email:
            ems = ["coalesce(" + _valid_email_sql('r."' + f + '"') + ", false)" for f in dr.email_fields if f in cols]
            conds.append("NOT (" + (" OR ".join(ems) if ems else "false") + ")")
        if rule.no_phone:
            phs = [_phone_sql(f'r."{f}"') for f in dr.phone_fields if f in cols]
            conds.append("NOT (" + (" OR ".join(phs) if phs else "false") + ")")
        if not rule.include_business_cards:
            conds.append(f"NOT coalesce({card}, false)")
        conds.append(f"NOT {grouped}")
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
    with timed(result):
        surv = con.execute(
            """SELECT s.cluster_id, s.master_id, s.object, r."AccountId" FROM survivors s
               LEFT JOIN raw_records r ON r."Id" = s.master_id ORDER BY s.cluster_id"""
            if _has_column(con, "raw_records", "AccountId") else
            "SELECT cluster_id, master_id, object, NULL FROM survivors ORDER BY cluster_id"
        ).fetchall()
        members: dict[str, list[tuple[str, str]]] = {}
        for cid, rid, obj in con.execute('SELECT cluster_id, "Id", object FROM group_records ORDER BY cluster_id, "Id"').fetchall():
            members.setdefault(cid, []).append((rid, obj))
        cols: dict[str, list] = {k: [] for k in ("cluster_id", "step_no", "action", "object", "master_id", "loser_ids", "lead_id", "contact_id", "account_id")}
        actions: dict[str, int] = {}
        for cid, master_id, obj, account in surv:
            acc = account.strip() if account and account.strip() else None
            for k, st in enumerate(group_steps(master_id, obj, members.get(cid, []), acc)):
                cols["cluster_id"].append(cid)
                cols["step_no"].append(k + 1)
                cols["action"].append(st["action"])
                cols["object"].append(st.get("object", "Lead"))
                cols["master_id"].append(st.get("master_id"))
                cols["loser_ids"].append(st.get("loser_ids"))
                cols["lead_id"].append(st.get("lead_id"))
                cols["contact_id"].append(st.get("contact_id"))
                cols["account_id"].append(st.get("account_id"))
                actions[st["action"]] = actions.get(st["action"], 0) + 1
        table = pa.table({
            "cluster_id": pa.array(cols["cluster_id"], pa.string()),
            "step_no": pa.array(cols["step_no"], pa.int32()),
            "action": pa.array(cols["action"], pa.string()),
            "object": pa.array(cols["object"], pa.string()),
            "master_id": pa.array(cols["master_id"], pa.string()),
            "loser_ids": pa.array(cols["loser_ids"], pa.list_(pa.string())),
            "lead_id": pa.array(cols["lead_id"], pa.string()),
            "contact_id": pa.array(cols["contact_id"], pa.string()),
            "account_id": pa.array(cols["account_id"], pa.string()),
        })
        con.register("_plan_arrow", table)
        con.execute("CREATE OR REPLACE TABLE plan_steps AS SELECT * FROM _plan_arrow")
        con.unregister("_plan_arrow")
        delete_candidates(con, config)
        n_delete = con.execute("SELECT count(*) FROM delete_plan").fetchall()[0][0]
        result.rows = table.num_rows
        result.stats = {"steps": actions, "delete_candidates": int(n_delete)}
    return result


def _has_column(con: duckdb.DuckDBPyConnection, table: str, col: str) -> bool:
    return col in {c[0] for c in con.execute(f'DESCRIBE "{table}"').fetchall()}


# ---------------------------------------------------------------------------------------------
# Outputs


def plan_identity(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[str, str]:
    """(plan_id, created_at), both derived from the input and the config only."""
    cols = [c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall() if not c[0].startswith("_source_")]
    row = "concat_ws(chr(31), " + ", ".join(f'coalesce(CAST("{c}" AS VARCHAR), chr(0))' for c in cols) + ")"
    digest = con.execute(f'SELECT md5(string_agg(md5({row}), \'\' ORDER BY "Id")) FROM raw_records').fetchall()[0][0]
    h = hashlib.sha256()
    h.update((digest or "").encode())
    h.update(b"\x00")
    h.update(json.dumps(config.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode("utf-8"))
    ts = con.execute(
        "SELECT strftime(coalesce(max(last_modified_date), max(created_date), TIMESTAMP '1970-01-01'), '%Y-%m-%dT%H:%M:%SZ') "
        "FROM normalized_records"
    ).fetchall()[0][0]
    return "plan_" + h.hexdigest()[:24], ts


def _evidence_by_cluster(con: duckdb.DuckDBPyConnection, config: Config) -> dict[str, list[dict]]:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _plan_evidence AS {evidence_select(con, config)}")
    ev_cols = [c[0] for c in con.execute("DESCRIBE _plan_evidence").fetchall()]
    comps = [c.name for c in COMPARISONS if c.name in ev_cols]
    rows = con.execute(
        """SELECT a.cluster_id, e.* FROM _plan_evidence e
           JOIN group_records a ON a."Id" = e.left_id JOIN group_records b ON b."Id" = e.right_id
           WHERE a.cluster_id = b.cluster_id
           ORDER BY a.cluster_id, e.match_probability DESC, e.left_id, e.right_id"""
    ).fetchall()
    out: dict[str, list[dict]] = {}
    names = ["cluster_id"] + ev_cols
    for r in rows:
        d = dict(zip(names, r))
        out.setdefault(d["cluster_id"], []).append({
            "left_id": d["left_id"],
            "right_id": d["right_id"],
            "match_probability": d["match_probability"],
            "decision": d["decision"],
            "gate": d.get("gate"),
            "levels": {c: d[c] for c in comps},
            "weights": {c: d[f"{c}_weight"] for c in comps},
        })
    return out


def _modified_expr(con: duckdb.DuckDBPyConnection, alias: str) -> str:
    """SQL for a record's as-of time in raw_records: SystemModstamp, else LastModifiedDate, else NULL."""
    cols = [c for c in ("SystemModstamp", "LastModifiedDate") if _has_column(con, "raw_records", c)]
    if not cols:
        return "CAST(NULL AS VARCHAR)"
    return "coalesce(" + ", ".join(f'nullif(CAST({alias}."{c}" AS VARCHAR), \'\')' for c in cols) + ")"


def _as_of_by_cluster(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str | None]]:
    """cluster_id → {Id: the record's SystemModstamp / LastModifiedDate as exported}: the applier's
    stale check compares the org's current value against it."""
    out: dict[str, dict[str, str | None]] = {}
    for cid, rid, ts in con.execute(
        f'SELECT g.cluster_id, g."Id", {_modified_expr(con, "r")} FROM group_records g '
        'JOIN raw_records r ON r."Id" = g."Id" ORDER BY g.cluster_id, g."Id"'
    ).fetchall():
        out.setdefault(cid, {})[rid] = ts
    return out


def plan_document(con: duckdb.DuckDBPyConnection, config: Config) -> dict:
    """merge_plan.json as a dict."""
    plan_id, created_at = plan_identity(con, config)
    evidence = _evidence_by_cluster(con, config)
    fields: dict[str, dict] = {}
    for cid, f, v, src, rule in con.execute(
        "SELECT cluster_id, field, value, from_id, rule FROM surviving_fields ORDER BY cluster_id, ord"
    ).fetchall():
        fields.setdefault(cid, {})[f] = {"value": v, "from_id": src, "rule": rule}
    losers: dict[str, list[str]] = {}
    for cid, rid in con.execute(
        'SELECT cluster_id, "Id" FROM group_records WHERE NOT is_master ORDER BY cluster_id, "Id"'
    ).fetchall():
        losers.setdefault(cid, []).append(rid)
    steps: dict[str, list[dict]] = {}
    for cid, action, master_id, loser_ids, lead_id, contact_id, account_id in con.execute(
        "SELECT cluster_id, action, master_id, loser_ids, lead_id, contact_id, account_id FROM plan_steps ORDER BY cluster_id, step_no"
    ).fetchall():
        if action == "merge":
            st = {"action": "merge", "master_id": master_id, "loser_ids": list(loser_ids)}
        else:
            st = {"action": "convert_lead", "lead_id": lead_id, "contact_id": contact_id, "account_id": account_id}
        steps.setdefault(cid, []).append(st)
    as_of = _as_of_by_cluster(con)
    clusters = []
    for cid, master_id, obj, status, reason in con.execute(
        "SELECT cluster_id, master_id, object, status, reason FROM survivors ORDER BY cluster_id"
    ).fetchall():
        c = {
            "cluster_id": cid,
            "object": obj,
            "status": status,
            "master_id": master_id,
            "loser_ids": losers.get(cid, []),
            "fields": fields.get(cid, {}),
            "steps": steps.get(cid, []),
            "as_of": as_of.get(cid, {}),
            "evidence": evidence.get(cid, []),
        }
        if reason:
            c["status_reason"] = reason
        clusters.append(c)
    return {"plan_id": plan_id, "created_at": created_at, "clusters": clusters}


def write_plan_json(path: Path, doc: dict) -> None:
    """merge_plan.json with one group per line: valid JSON, diff- and grep-friendly, and written by
    the C encoder (an indented dump is several times slower on large plans)."""
    head = {k: v for k, v in doc.items() if k != "clusters"}
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "clusters": [')
        for i, c in enumerate(doc["clusters"]):
            f.write(("\n" if i == 0 else ",\n") + json.dumps(c, ensure_ascii=False))
        f.write("\n]}\n")


def write_plan_outputs(con: duckdb.DuckDBPyConnection, out_dir: str | Path, config: Config) -> dict:
    """Write merge_plan.json, merge_plan.csv, field_changes.csv, delete_plan.csv into out_dir;
    return counts."""
    out = Path(out_dir)
    doc = plan_document(con, config)
    write_plan_json(out / "merge_plan.json", doc)

    step_rows = []
    for c in doc["clusters"]:
        for k, st in enumerate(c["steps"], 1):
            losers = st.get("loser_ids", [])
            step_rows.append([
                doc["plan_id"], c["cluster_id"], c["status"], k, st["action"],
                "Lead" if st["action"] == "convert_lead" else c["object"],
                st.get("master_id") or "", *(losers + ["", ""])[:2],
                st.get("lead_id") or "", st.get("contact_id") or "", st.get("account_id") or "",
            ])
    n_steps = write_csv(
        out / "merge_plan.csv",
        ["plan_id", "cluster_id", "status", "step", "action", "object", "MasterRecordId", "LoserId1", "LoserId2",
         "LeadId", "ContactId", "AccountId"],
        step_rows,
    )

    # What changes on each master: the master's current value vs the surviving one.
    cur = con.execute(
        """SELECT s.cluster_id, s.master_id, f.ord, f.field, f.value, f.from_id, f.rule FROM survivors s
           JOIN surviving_fields f USING (cluster_id) ORDER BY s.cluster_id, f.ord"""
    ).fetchall()
    raw_cols = {c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()}
    masters = [r[0] for r in con.execute("SELECT master_id FROM survivors").fetchall()]
    current: dict[str, dict] = {}
    if masters:
        rel = con.sql('SELECT * FROM raw_records WHERE "Id" IN (SELECT master_id FROM survivors)').to_arrow_table()
        for row in rel.to_pylist():
            current[row["Id"]] = row
    change_rows = []
    status = {c["cluster_id"]: c["status"] for c in doc["clusters"]}
    for cid, master_id, _ord, field, value, from_id, rule in cur:
        before = current.get(master_id, {}).get(field) if field in raw_cols else None
        if (before or None) != (value or None):
            change_rows.append([cid, status.get(cid), master_id, field, before, value, from_id, rule])
    n_changes = write_csv(
        out / "field_changes.csv",
        ["cluster_id", "status", "master_id", "field", "current_value", "new_value", "from_id", "rule"],
        change_rows,
    )
    n_delete = write_csv(
        out / "delete_plan.csv", ["plan_id", "Id", "object", "reason", "as_of"],
        con.execute(
            f'SELECT ?, d."Id", d.object, d.reason, {_modified_expr(con, "r")} FROM delete_plan d '
            'JOIN raw_records r ON r."Id" = d."Id" ORDER BY d."Id"', [doc["plan_id"]]
        ).fetchall(),
    )
    return {"plan_id": doc["plan_id"], "groups": len(doc["clusters"]), "steps": n_steps,
            "field_changes": n_changes, "delete_candidates": n_delete}
