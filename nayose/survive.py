"""Survivorship: which record of a duplicate group survives (master) and which value survives in
every field, and why. Business-card (名刺) values are protected.

Reads `raw_records` (the original values), `normalized_records` (CreatedDate / LastModifiedDate as
timestamps) and `clusters`; writes

* `survivors(cluster_id, master_id, object, status, reason, size)` — one row per group with
  status auto or review (single records get none). `status` is the cluster's status, lowered to
  review when Contacts of the group sit under different AccountIds (never auto-merged) or the
  group mixes objects that cannot be merged (`reason` says why);
* `surviving_fields(cluster_id, ord, field, value, from_id, rule)` — every field the master
  carries after the merge: each field holding a value in at least one record of the group;
* `group_records(cluster_id, Id, object, is_card, is_master)` — the records of each group.

Rules (config `survivorship:`), for each field or field group:

1. **Business card.** A record is a card record when its LeadSource is one of
   `card_lead_sources` (NFKC, trimmed, case-insensitive) or a `card_provenance_fields` field is
   filled. When a card record holds a value, card records rank before all others and the most
   recent card (CreatedDate) wins: a card value is never overwritten by a non-card value, unless
   the field is in `card_exempt_fields`.
2. **The field's rule** (`field_rules`, `field_groups`, else `default_rule` = most_recent by
   LastModifiedDate); ties go to the smallest Id, so the result is deterministic.
3. **A blank never wins over a value.** Only records holding a value compete; in a field group the
   chosen record supplies every member it holds, and a member it leaves blank is filled from the
   next-ranked record holding it (rule `…: fill_blank`).

Leads converted into a Contact master compete under the Contact's fields
(`lead_to_contact_fields`: Street -> MailingStreet, Company -> Account.Name, …). System fields
(`system_fields`: CreatedDate, LastModifiedDate, OwnerId, …) are not merged value by value:
they stay with the master. The per-group work is Python over the groups (few compared to the
records); loading and writing are set-based.
"""

from __future__ import annotations

import re

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from nayose.config import Config, SurvivorshipConfig
from nayose.stage import StageResult, timed

SKIP_COLUMNS = {"Id", "Object", "_source_file", "_source_row"}
UNION_SEP = ";"


def fold(value: Any) -> str:
    """Compare form of a label: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


@dataclass
class Rec:
    """One record of a group as survivorship sees it."""

    id: str
    object: str
    values: dict[str, str | None]
    created: float | None = None  # epoch seconds
    modified: float | None = None
    is_card: bool = False

    @property
    def completeness(self) -> int:
        return sum(1 for v in self.values.values() if not blank(v))


@dataclass
class FieldValue:
    value: str | None
    from_id: str
    rule: str


@dataclass
class GroupResult:
    cluster_id: str
    master_id: str
    object: str
    status: str
    reason: str | None
    records: list[Rec]
    fields: dict[str, FieldValue] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Business-card detection


def card_lead_source_values(values: list[str | None], config: SurvivorshipConfig) -> list[str]:
    """The raw LeadSource values (as they occur) that mark a card record."""
    wanted = {fold(v) for v in config.card_lead_sources}
    return sorted({v for v in values if v is not None and fold(v) in wanted})


def card_sql(con: duckdb.DuckDBPyConnection, config: Config, table: str = "raw_records", alias: str = "r") -> str:
    """SQL boolean expression over `table` (aliased `alias`): the record is a business-card record."""
    cols = [c[0] for c in con.execute(f'DESCRIBE "{table}"').fetchall()]
    sv = config.survivorship
    parts = []
    if "LeadSource" in cols:
        raw = [r[0] for r in con.execute(f'SELECT DISTINCT "LeadSource" FROM "{table}"').fetchall()]
        hits = card_lead_source_values(raw, sv)
        if hits:
            parts.append(f'{alias}."LeadSource" IN ({", ".join(_lit(v) for v in hits)})')
    for f in sv.card_provenance_fields:
        if f in cols:
            parts.append(f"nullif(trim({alias}.\"{f}\"), '') IS NOT NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def is_card_record(values: dict[str, Any], config: SurvivorshipConfig) -> bool:
    """Python twin of card_sql, for records built in memory (tests)."""
    wanted = {fold(v) for v in config.card_lead_sources}
    ls = values.get("LeadSource")
    if not blank(ls) and fold(ls) in wanted:
        return True
    return any(not blank(values.get(f)) for f in config.card_provenance_fields)


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Master selection


def _desc(x: float | None) -> tuple[int, float]:
    return (1, 0.0) if x is None else (0, -x)


def _asc(x: float | None) -> tuple[int, float]:
    return (1, 0.0) if x is None else (0, x)


_OBJECT_RANK = {"Contact": 0, "Lead": 1}


def master_key(rec: Rec, config: SurvivorshipConfig) -> tuple:
    key: list[Any] = []
    for k in config.master_order:
        if k == "contact_over_lead":
            key.append(_OBJECT_RANK.get(rec.object, 2))
        elif k == "business_card":
            key.append(0 if rec.is_card else 1)
        elif k == "oldest":
            key.append(_asc(rec.created))
        elif k == "most_recent":
            key.append(_desc(rec.modified))
        elif k == "most_complete":
            key.append(-rec.completeness)
    key.append(rec.id)
    return tuple(key)


def choose_master(recs: list[Rec], config: SurvivorshipConfig) -> Rec:
    """The master by `master_order`, then the smallest Id. A group holding Leads and Contacts
    always gets a Contact master (the Leads are converted into it)."""
    pool = recs
    objs = {r.object for r in recs}
    if "Contact" in objs and "Lead" in objs:
        pool = [r for r in recs if r.object == "Contact"]
    return min(pool, key=lambda r: master_key(r, config))


# ---------------------------------------------------------------------------------------------
# Field survivorship


def _number(v: str) -> float | None:
    try:
        return float(unicodedata.normalize("NFKC", v).replace(",", "").strip())
    except ValueError:
        return None


def _value_ranks(values: list[str], descending: bool) -> dict[str, int]:
    """Rank of each distinct value for max / min: numeric when every value is a number, else text
    (NFKC; ISO dates compare correctly as text)."""
    distinct = sorted(set(values))
    nums = {v: _number(v) for v in distinct}
    if all(n is not None for n in nums.values()):
        order = sorted(distinct, key=lambda v: (nums[v], v))
    else:
        order = sorted(distinct, key=lambda v: (unicodedata.normalize("NFKC", v).strip(), v))
    if descending:
        order = order[::-1]
    return {v: i for i, v in enumerate(order)}


def _route_rank(config: SurvivorshipConfig) -> dict[str, int]:
    pos = {route: i for i, route in enumerate(config.source_priority)}
    out: dict[str, int] = {}
    for route, sources in config.routes.items():
        for s in sources:
            out.setdefault(fold(s), pos.get(route, len(pos)))
    return out


_KANJI = re.compile("[\u3005\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile("[\u3040-\u30ff\uff66-\uff9f]")


def script_rank(value: str | None) -> int:
    """0 kanji, 1 kana, 2 anything else: how a Japanese name or company is best written."""
    if blank(value):
        return 3
    v = str(value)
    if _KANJI.search(v):
        return 0
    return 1 if _KANA.search(v) else 2


def _rule_key(rule: str, master_id: str, config: SurvivorshipConfig, ranks: dict[str, int] | None,
              route_rank: dict[str, int], primary: str):
    n_routes = len(config.source_priority)

    def key(r: Rec) -> tuple:
        if rule == "most_recent":
            return (_desc(r.modified),)
        if rule == "oldest":
            return (_asc(r.created),)
        if rule == "most_complete":
            return (-r.completeness, _desc(r.modified))
        if rule in ("master", "keep_master_if_set"):
            return (0 if r.id == master_id else 1, _desc(r.modified))
        if rule == "source_priority":
            ls = r.values.get("LeadSource")
            rank = n_routes if blank(ls) else route_rank.get(fold(ls), n_routes)
            return (rank, _desc(r.modified))
        if rule in ("max", "min"):
            v = r.values.get(primary)
            return (len(ranks) if blank(v) or ranks is None else ranks[v], _desc(r.modified))
        if rule == "union":
            return (_desc(r.modified),)
        if rule == "native_script":
            return (script_rank(r.values.get(primary)), _desc(r.modified))
        raise ValueError(f"unknown rule {rule!r}")

    return key


TRUE_VALUES = {"true", "1", "yes", "y", "t", "はい"}


def survive_unit(
    recs: list[Rec],
    members: list[str],
    rule: str,
    master_id: str,
    config: SurvivorshipConfig,
    group_name: str | None = None,
    route_rank: dict[str, int] | None = None,
) -> dict[str, FieldValue]:
    """Surviving values of one field (members = [field]) or one field group."""
    route_rank = route_rank if route_rank is not None else _route_rank(config)
    primary = members[0]
    cands = [r for r in recs if any(not blank(r.values.get(m)) for m in members)]
    if not cands:
        return {}
    card_applies = rule != "any_true" and not all(m in config.card_exempt_fields for m in members)
    if rule == "any_true":
        truthy = [r for r in cands if str(r.values.get(primary)).strip().lower() in TRUE_VALUES]
        win = min(truthy or cands, key=lambda r: r.id)
        return {primary: FieldValue(win.values[primary], win.id, "any_true")}
    ranks = None
    if rule in ("max", "min"):
        vals = [r.values[primary] for r in cands if not blank(r.values.get(primary))]
        ranks = _value_ranks(vals, descending=(rule == "max"))
    rkey = _rule_key(rule, master_id, config, ranks, route_rank, primary)

    def key(r: Rec) -> tuple:
        card_first = card_applies and r.is_card
        return (
            0 if card_first else 1,
            _desc(r.created) if card_first else (0, 0.0),  # among cards the most recent card wins
            0 if not blank(r.values.get(primary)) else 1,
            rkey(r),
            r.id,
        )

    ranked = sorted(cands, key=key)
    win = ranked[0]
    label = "business_card" if (card_applies and win.is_card) else rule
    prefix = f"group {group_name}: " if group_name else ""
    out: dict[str, FieldValue] = {}
    if rule == "union":
        items: list[str] = []
        seen: set[str] = set()
        for r in ranked:
            v = r.values.get(primary)
            if blank(v):
                continue
            for item in str(v).split(UNION_SEP):
                item = item.strip()
                if item and fold(item) not in seen:
                    seen.add(fold(item))
                    items.append(item)
        out[primary] = FieldValue(UNION_SEP.join(items), win.id, prefix + ("business_card+union" if label == "business_card" else "union"))
        return out
    for m in members:
        if not blank(win.values.get(m)):
            out[m] = FieldValue(win.values[m], win.id, prefix + label)
            continue
        filler = next((r for r in ranked if not blank(r.values.get(m))), None)
        if filler is not None:
            out[m] = FieldValue(filler.values[m], filler.id, prefix + label + ": fill_blank")
    return out


def as_master_object(rec: Rec, master_object: str, config: SurvivorshipConfig) -> Rec:
    """A Lead converted into a Contact: its values under the Contact's field names."""
    if rec.object != "Lead" or master_object != "Contact":
        return rec
    vals = dict(rec.values)
    for src, dst in config.lead_to_contact_fields.items():
        if src in vals:
            v = vals.pop(src)
            if blank(vals.get(dst)):
                vals[dst] = v
    return Rec(rec.id, rec.object, vals, rec.created, rec.modified, rec.is_card)


def survive_group(cluster_id: str, status: str, recs: list[Rec], config: SurvivorshipConfig,
                  route_rank: dict[str, int] | None = None) -> GroupResult:
    """Master and surviving values of one group. `recs[i].values` holds the considered fields
    (system fields and Id / Object excluded), in column order."""
    route_rank = route_rank if route_rank is not None else _route_rank(config)
    recs = sorted(recs, key=lambda r: r.id)
    master = choose_master(recs, config)
    objs = {r.object for r in recs}
    reason = None
    if len(objs) > 1 and objs != {"Lead", "Contact"}:
        status, reason = "review", "mixed objects: " + ", ".join(sorted(objs))
    accounts = {r.values.get("AccountId").strip() for r in recs
                if r.object == "Contact" and not blank(r.values.get("AccountId"))}
    if len(accounts) > 1:
        status, reason = "review", "contacts under different accounts"
    view = [as_master_object(r, master.object, config) for r in recs]

    # Field order: the column order of the input, after mapping.
    order: list[str] = []
    seen: set[str] = set()
    for r in view:
        for f in r.values:
            if f not in seen:
                seen.add(f)
                order.append(f)
    present = [f for f in order if any(not blank(r.values.get(f)) for r in view)]
    grouped: dict[str, Any] = {}
    for g in config.field_groups:
        for f in g.fields:
            grouped[f] = g
    fields: dict[str, FieldValue] = {}
    done: set[str] = set()
    for f in present:
        if f in done:
            continue
        g = grouped.get(f)
        if g is not None:
            members = [m for m in g.fields if m in seen]
            res = survive_unit(view, members, g.rule, master.id, config, g.name, route_rank)
            done.update(members)
        else:
            rule = config.field_rules.get(f, config.default_rule)
            res = survive_unit(view, [f], rule, master.id, config, None, route_rank)
            done.add(f)
        fields.update(res)
    ordered = {f: fields[f] for f in present if f in fields}
    return GroupResult(cluster_id, master.id, master.object, status, reason, recs, ordered)


# ---------------------------------------------------------------------------------------------
# The stage


def considered_fields(columns: list[str], config: SurvivorshipConfig) -> list[str]:
    system = set(config.system_fields)
    return [c for c in columns if c not in SKIP_COLUMNS and c not in system and not c.startswith("_source_")]


def load_groups(con: duckdb.DuckDBPyConnection, config: Config) -> list[tuple[str, str, list[Rec]]]:
    """The records of every auto / review group, as (cluster_id, status, records)."""
    cols = [c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()]
    fields = considered_fields(cols, config.survivorship)
    sel = ", ".join(f'r."{c}"' for c in fields)
    tbl = con.sql(
        f"""SELECT c.cluster_id AS __cluster_id, c.status AS __status, r."Id" AS __id, r."Object" AS __object,
                   epoch(n.created_date) AS __created, epoch(n.last_modified_date) AS __modified,
                   {card_sql(con, config)} AS __is_card{', ' + sel if sel else ''}
            FROM clusters c
            JOIN raw_records r ON r."Id" = c."Id"
            JOIN normalized_records n ON n.rec_idx = c.rec_idx
            WHERE c.status IN ('auto', 'review')
            ORDER BY c.cluster_id, r."Id" """
    ).to_arrow_table()
    groups: list[tuple[str, str, list[Rec]]] = []
    cur: str | None = None
    for row in tbl.to_pylist():
        cid = row["__cluster_id"]
        if cid != cur:
            groups.append((cid, row["__status"], []))
            cur = cid
        groups[-1][2].append(
            Rec(
                id=row["__id"],
                object=row["__object"],
                values={f: row[f] for f in fields},
                created=row["__created"],
                modified=row["__modified"],
                is_card=bool(row["__is_card"]),
            )
        )
    return groups


def survive(con: duckdb.DuckDBPyConnection, config: Config) -> StageResult:
    """Write `survivors`, `surviving_fields` and `group_records` (see the module doc)."""
    result = StageResult(stage="survive", table="survivors")
    with timed(result):
        groups = load_groups(con, config)
        route_rank = _route_rank(config.survivorship)
        results = [survive_group(cid, st, recs, config.survivorship, route_rank) for cid, st, recs in groups]
        write_survivors(con, results)
        statuses: dict[str, int] = {}
        for g in results:
            statuses[g.status] = statuses.get(g.status, 0) + 1
        result.rows = len(results)
        result.stats = {
            "groups": statuses,
            "lowered_to_review": sum(1 for g in results if g.reason),
            "fields": sum(len(g.fields) for g in results),
            "card_fields": sum(1 for g in results for fv in g.fields.values() if "business_card" in fv.rule),
        }
    return result


def write_survivors(con: duckdb.DuckDBPyConnection, results: list[GroupResult]) -> None:
    surv = pa.table({
        "cluster_id": pa.array([g.cluster_id for g in results], pa.string()),
        "master_id": pa.array([g.master_id for g in results], pa.string()),
        "object": pa.array([g.object for g in results], pa.string()),
        "status": pa.array([g.status for g in results], pa.string()),
        "reason": pa.array([g.reason for g in results], pa.string()),
        "size": pa.array([len(g.records) for g in results], pa.int32()),
    })
    fcid, ford, fname, fval, ffrom, frule = [], [], [], [], [], []
    for g in results:
        for i, (f, fv) in enumerate(g.fields.items()):
            fcid.append(g.cluster_id)
            ford.append(i)
            fname.append(f)
            fval.append(fv.value)
            ffrom.append(fv.from_id)
            frule.append(fv.rule)
    sf = pa.table({
        "cluster_id": pa.array(fcid, pa.string()),
        "ord": pa.array(ford, pa.int32()),
        "field": pa.array(fname, pa.string()),
        "value": pa.array(fval, pa.string()),
        "from_id": pa.array(ffrom, pa.string()),
        "rule": pa.array(frule, pa.string()),
    })
    gr = pa.table({
        "cluster_id": pa.array([g.cluster_id for g in results for _ in g.records], pa.string()),
        "Id": pa.array([r.id for g in results for r in g.records], pa.string()),
        "object": pa.array([r.object for g in results for r in g.records], pa.string()),
        "is_card": pa.array([r.is_card for g in results for r in g.records], pa.bool_()),
        "is_master": pa.array([r.id == g.master_id for g in results for r in g.records], pa.bool_()),
    })
    for name, table in (("survivors", surv), ("surviving_fields", sf), ("group_records", gr)):
        con.register("_survive_arrow", table)
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _survive_arrow')
        con.unregister("_survive_arrow")
