"""Survivorship: which record of a duplicate group survives (master) and which value survives in
every field, and why. Business-card (名刺) values are protected.

Reads `raw_records` (the original values), `normalized_records` (CreatedDate / LastModifiedDate as
timestamps) and `clusters`; writes

* `survivors(cluster_id, master_id, object, status, reason, size)` — one row per group with
  status auto or review (single records get none). `status` is the cluster's status, lowered to
  review when Contacts of the group sit under different AccountIds (never auto-merged), the
  group mixes objects that cannot be merged, or its Leads would be converted into a Contact
  without an account or at another company (`lower_conversions_to_review`; `reason` says why);
  a group of business Accounts holding two that a rule keeps apart (the cluster stage sent it to
  review) says which two and why (`_kept_apart`);
* `surviving_fields(cluster_id, ord, field, value, from_id, rule)` — every field the master
  carries after the merge: each field holding a value in at least one record of the group;
* `group_records(cluster_id, Id, object, is_card, is_master)` — the records of each group;
* `ignored_values(cluster_id, Id, field, reason)` — values set aside because another record of
  the group holds a real one (reason `placeholder`: 不明, a dummy number or address, a role
  mailbox, a reading cut to one kana …; `misread`: a card's OCR look-alike; `malformed`: a value
  Salesforce would refuse): the plan's card check does not count them as card values overwritten.

Rules (config `survivorship:`), for each field or field group:

1. **Business card.** A record is a card record when its LeadSource is one of
   `card_lead_sources` (NFKC, trimmed, case-insensitive) or a `card_provenance_fields` field is
   filled. When a card record holds a value, card records rank before all others and the most
   recent card (CreatedDate) wins: a card value is never overwritten by a non-card value, unless
   the field is in `card_exempt_fields`.
2. **The field's rule** (`field_rules`, `field_groups`, else `default_rule` = most_recent by
   LastModifiedDate); ties go to the smallest Id, so the result is deterministic.
3. **A blank never wins over a value**, nor a placeholder over a real one
   (`drop_placeholder_values`: 不明 / ご担当者様 in a name, 090-1234-5678, noemail@, 1900-01-01,
   個人 as the company), nor a card's OCR misreading (山ロ, 東洋エ業: `drop_misread_values`) over
   the value as it should read, nor a value Salesforce would refuse (an email with a display name,
   a birth date not in YYYY-MM-DD: `drop_malformed_values`) over one it takes. Only records
   holding a value compete; in a field group the chosen record supplies every member it holds,
   and a member it leaves blank is filled from the next-ranked record holding it (rule
   `…: fill_blank`) — except an address's bounce (EmailBouncedReason / Date): an address that
   bounced ranks after one that did not, and the winner's blank bounce fields are cleared (value
   NULL, rule `…: cleared with its address`), never filled from another address; and in a group
   of Leads / Contacts a person's own address at a company's domain ranks before a free-mail one
   or a role mailbox (`prefer_company_email`; not for a Person Account).
4. **The master's own value written another way** (03-… / ＋８１－３－…, 株式会社ABC / (株)ABC, a
   street with 丁目 / 番 / 号, Japan / 日本, ﾜﾀﾅﾍﾞ / ワタナベ, case in an address) survives as the master
   writes it (rule `…: as the master writes it`): no change to review or write.

Leads converted into a Contact master compete under the Contact's fields
(`lead_to_contact_fields`: Street -> MailingStreet, Company -> Account.Name, …), into a Person
Account master under its Person* fields (`lead_to_person_account_fields`). System fields
(`system_fields`: CreatedDate, LastModifiedDate, OwnerId, …) are not merged value by value:
they stay with the master.

The stage is set-based: the group members' values are unpivoted into one long table
(cluster, record, field, value) and every decision is a window ranking in DuckDB SQL, so it
scales with the records (and runs unchanged in shape on another SQL engine); `survive_group`
runs the same SQL on one group held in memory (tests, explanations).
"""

from __future__ import annotations

import re

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow.compute as pc
import pyarrow as pa

from nayose.accounts import website_domain
from nayose.config import AS_MASTER_WRITES, CLEARED, Config, SurvivorshipConfig
from nayose.normalize import (NAME_EXTRAS_RE2, canonical_prefecture, PERSON_ACCOUNT_FIELDS, ROLE_RE, TRUE_FLAG_VALUES, company_mailbox_sql,
                              country_region, is_reading_column, normalize_street, split_company)
from nayose.normalize import person_account_sql as normalize_person_account_sql
from nayose.stage import StageResult, fine_grained_scans, table_rows, timed
from nayose.store import table_exists
from nayose.values import map_values

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
    is_person: bool = False  # a Person Account (IsPersonAccount): Leads are converted into it

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


def is_card_lead_source(value: Any, config: SurvivorshipConfig) -> bool:
    """Whether a LeadSource value marks a business-card record: one of `card_lead_sources` (NFKC,
    trimmed, case-insensitive) as the whole value, or within it -- a Japanese word anywhere (名刺交換,
    名刺（Sansan）), a Latin one as a word of its own (Sansan連携, Eight card; not Freight Expo)."""
    if blank(value):
        return False
    v = fold(value)
    for w in (fold(x) for x in config.card_lead_sources):
        if not w:
            continue
        if v == w or (not w.isascii() and w in v):
            return True
        if w.isascii() and re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", v):
            return True
    return False


def card_lead_source_values(values: list[str | None], config: SurvivorshipConfig) -> list[str]:
    """The raw LeadSource values (as they occur) that mark a card record (is_card_lead_source)."""
    return sorted({v for v in values if v is not None and is_card_lead_source(v, config)})


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
    if is_card_lead_source(values.get("LeadSource"), config):
        return True
    return any(not blank(values.get(f)) for f in config.card_provenance_fields)


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Helpers shared with other modules


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


def lead_field_map(master_kind: str | None, config: SurvivorshipConfig) -> dict[str, str]:
    """The Lead field -> master field names of a Lead converted into a master of `master_kind`
    ('Contact' or 'PersonAccount'; anything else: no conversion)."""
    if master_kind == "Contact":
        return dict(config.lead_to_contact_fields)
    if master_kind == "PersonAccount":
        return dict(config.lead_to_person_account_fields)
    return {}


def person_account_sql(con: duckdb.DuckDBPyConnection, alias: str = "r", table: str = "raw_records") -> str:
    """SQL over `table` (raw records) as `alias`: the record is a Person Account (IsPersonAccount true)."""
    cols = {c[0].lower(): c[0] for c in con.execute(f'DESCRIBE "{table}"').fetchall()}
    return normalize_person_account_sql(cols, alias)


def as_master_object(rec: Rec, master_object: str, config: SurvivorshipConfig) -> Rec:
    """A Lead converted into a Contact (master_object 'Contact') or a Person Account
    ('PersonAccount'): its values under the master's field names."""
    if rec.object != "Lead" or master_object not in ("Contact", "PersonAccount"):
        return rec
    vals = dict(rec.values)
    for src, dst in lead_field_map(master_object, config).items():
        if src in vals:
            v = vals.pop(src)
            if dst and blank(vals.get(dst)):
                vals[dst] = v
    return Rec(rec.id, rec.object, vals, rec.created, rec.modified, rec.is_card, rec.is_person)


def considered_fields(columns: list[str], config: SurvivorshipConfig) -> list[str]:
    system = set(config.system_fields)
    return [c for c in columns if c not in SKIP_COLUMNS and c not in system and not c.startswith("_source_")]


# ---------------------------------------------------------------------------------------------
# The SQL engine
#
# Input: two tables —
#   _sv_rec(cluster_id, status, id, object, created DOUBLE, modified DOUBLE, is_card BOOLEAN
#           [, is_person BOOLEAN: a Person Account; false when the column is missing])
#   _sv_long0(id, field, value)   one row per non-blank value of a considered field
# and the considered fields in column order. Output: survivors, surviving_fields, group_records.

TRUE_VALUES = TRUE_FLAG_VALUES
# Python's str.strip() whitespace, for RE2 (whose \s is ASCII only)
_WS = r"[\s\x{0b}\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
_KANJI_RE2 = r"[\x{3005}\x{4e00}-\x{9fff}\x{f900}-\x{faff}]"
_KANA_RE2 = r"[\x{3040}-\x{30ff}\x{ff66}-\x{ff9f}]"
_KANJI_PY = re.compile(r"[\u3005\u4e00-\u9fff\uf900-\ufaff]")
_KANA_PY = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")


_NAME_EXTRAS_PY = re.compile(NAME_EXTRAS_RE2)
_TWO_LATIN_PY = re.compile(r"[A-Za-z].*[A-Za-z]")
_WHOLE_LATIN_PY = re.compile(r"[A-Za-z][^\s,，、]*(\s+|\s*[,，、]\s*)[A-Za-z]")


def _text_key(value: str) -> str | None:
    """A text as the master's writing of it is compared: NFKC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split()) or None


def script_rank(value: str | None, field: str | None = None) -> int:
    """The native_script rule's rank of a value (lower is better), as the SQL ranks it: kanji 0,
    kana 2, other 4, blank 6; one more for a name with an honorific, a title or a note, for Latin
    letters in one case only, for a whole Latin name in LastName. What the card check compares."""
    if value is None or not str(value).strip():
        return 6
    v = str(value)
    kanji, kana = bool(_KANJI_PY.search(v)), bool(_KANA_PY.search(v))
    rank = 0 if kanji else 2 if kana else 4
    if field in ("LastName", "FirstName") and _NAME_EXTRAS_PY.search(v):
        rank += 1
    if not (kanji or kana) and _TWO_LATIN_PY.search(v) and not (re.search("[a-z]", v) and re.search("[A-Z]", v)):
        rank += 1
    if field == "LastName" and not (kanji or kana) and _WHOLE_LATIN_PY.search(v.strip()):
        rank += 1
    return rank
# A value of two parts apart (ASCII or ideographic space, or a comma: 山田、太郎): a whole name typed
# into one field, surname first.
_TWO_PARTS_RE2 = (r"^[\s\x{3000}]*([^\s\x{3000},，、]+)(?:[\s\x{3000}]*[,，、][\s\x{3000}]*|[\s\x{3000}]+)"
                  r"([^\s\x{3000},，、]+)[\s\x{3000}]*$")
# A foreign name in katakana with its middle dot (ジョン・スミス), given name first.
_DOT_PARTS_RE2 = r"^[\s\x{3000}]*([\p{Katakana}ーｰﾞﾟ゛゜]+)[・･·]([\p{Katakana}ーｰﾞﾟ゛゜]+)[\s\x{3000}]*$"


def _strip_sql(expr: str) -> str:
    return f"regexp_replace({expr}, '^{_WS}+|{_WS}+$', '', 'g')"


def _blank_sql(expr: str) -> str:
    return f"({expr} IS NULL OR regexp_full_match({expr}, '{_WS}*'))"


# Full-width digits and their ASCII forms (folded by translate in SQL, str.translate in Python: the
# NFKC function is Python, one call per row).
_FULLWIDTH_DIGITS, _ASCII_DIGITS = "０１２３４５６７８９", "0123456789"
_DIGITS_TABLE = str.maketrans(_FULLWIDTH_DIGITS, _ASCII_DIGITS)

# Where a phone number's extension starts (03-1234-5678 内線 204, ext. 55, x55, #55).
_EXTENSION_RE2 = r"(?i)(内線|ext\.?|ex\.|x\s*[0-9]|#).*$"


def _phone_key_sql(expr: str, without_extension: bool = False) -> str:
    """SQL: a phone number's digits as dialled in Japan (+81 (0)3-… and 03-… alike, full-width digits
    too; folded by translate, not the Python NFKC function: one call per row slowed survive at 1M);
    `without_extension`: of the number before its extension."""
    folded = f"translate({expr}, '{_FULLWIDTH_DIGITS}＋＃ｘＸ', '{_ASCII_DIGITS}+#xX')"
    if without_extension:
        folded = f"regexp_replace({folded}, '{_EXTENSION_RE2}', '')"
    d = f"regexp_replace({folded}, '[^0-9+]', '', 'g')"
    return f"CASE WHEN starts_with({d}, '+81') THEN '0' || ltrim(substr({d}, 4), '0') ELSE {d} END"


def _kana_key_sql(expr: str) -> str:
    """SQL: a reading in katakana, full width, without spaces (ﾔﾏﾀﾞ / やまだ / ヤマダ alike)."""
    hira = "".join(chr(c) for c in range(0x3041, 0x3097))
    kata = "".join(chr(c) for c in range(0x30A1, 0x30F7))
    return f"translate(regexp_replace(nayose_nfkc({expr}), '\\s', '', 'g'), '{hira}', '{kata}')"


def _register_nfkc(con: duckdb.DuckDBPyConnection) -> None:
    """`nayose_nfkc(text)`: Unicode NFKC, vectorized through Arrow (DuckDB itself only has NFC)."""
    try:
        con.create_function(
            "nayose_nfkc", lambda a: pc.utf8_normalize(a, "NFKC"), [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("VARCHAR"), type="arrow",
        )
    except (duckdb.CatalogException, duckdb.NotImplementedException):
        pass  # already registered on this connection (DuckDB 2 says "not implemented")


def _units(fields: list[str], config: SurvivorshipConfig) -> tuple[pa.Table, list[str]]:
    """One row per field that can survive: its unit (the field, or its field group), rule, and the
    unit's primary field — plain, and when Leads are mapped into a Contact master (mapped fields
    that are not input columns then join the field universe). Returns (table, field universe)."""
    mapped_extra = [d for d in dict.fromkeys([*config.lead_to_contact_fields.values(),
                                              *config.lead_to_person_account_fields.values()]) if d and d not in fields]
    universe = fields + mapped_extra
    grouped = {f: g for g in config.field_groups for f in g.fields}
    cols: dict[str, list] = {k: [] for k in (
        "field", "pos", "unit", "rule", "group_name", "primary_plain", "primary_mapped",
        "card_plain", "card_mapped", "mapped_only")}
    for pos, f in enumerate(universe):
        g = grouped.get(f)
        if g is not None:
            plain = [m for m in g.fields if m in fields]
            mapped = [m for m in g.fields if m in universe]
            unit, rule, name = "g:" + g.name, g.rule, g.name
        else:
            plain = mapped = [f]
            unit, rule, name = "f:" + f, config.field_rules.get(f, config.default_rule), None
        exempt = set(config.card_exempt_fields)
        cols["field"].append(f)
        cols["pos"].append(pos)
        cols["unit"].append(unit)
        cols["rule"].append(rule)
        cols["group_name"].append(name)
        cols["primary_plain"].append(plain[0] if plain else None)
        cols["primary_mapped"].append(mapped[0])
        cols["card_plain"].append(rule != "any_true" and not all(m in exempt for m in plain))
        cols["card_mapped"].append(rule != "any_true" and not all(m in exempt for m in mapped))
        cols["mapped_only"].append(f not in fields)
    types = {"pos": pa.int32(), "card_plain": pa.bool_(), "card_mapped": pa.bool_(), "mapped_only": pa.bool_()}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()}), universe


def _master_order_sql(config: SurvivorshipConfig) -> str:
    keys = []
    for k in config.master_order:
        if k == "contact_over_lead":
            keys.append("CASE r.object WHEN 'Contact' THEN 0 WHEN 'Lead' THEN 1 ELSE 2 END")
        elif k == "business_card":
            keys.append("CASE WHEN r.is_card THEN 0 ELSE 1 END")
        elif k == "oldest":
            keys.append("r.created ASC NULLS LAST")
        elif k == "most_recent":
            keys.append("r.modified DESC NULLS LAST")
        elif k == "most_complete":
            keys.append("coalesce(cm.n, 0) DESC")
    return ", ".join(keys + ["r.id"])


def same_address(postal_a: str | None, street_a: str | None, postal_b: str | None, street_b: str | None) -> bool:
    """Python twin of `_address_elsewhere`'s test: the same postal code when both have one, else the
    same street as normalize folds it (one may add its building or its city), else nothing tells them
    apart (True)."""
    def digits(v: str | None) -> str:
        return re.sub(r"[^0-9]", "", (v or "").translate(_DIGITS_TABLE))

    pa_, pb = digits(postal_a), digits(postal_b)
    if pa_ and pb:
        return pa_ == pb
    if blank(street_a) or blank(street_b):
        return True
    if street_a == street_b:
        return True
    ka, kb = normalize_street(street_a) or street_a, normalize_street(street_b) or street_b
    return ka == kb or (len(kb) >= 5 and kb in ka) or (len(ka) >= 5 and ka in kb)


def _address_elsewhere(con: duckdb.DuckDBPyConnection) -> None:
    """`_sv_elsewhere(cluster_id, unit, id)`: per address group, the records at another address than
    the winner's (see run_survive_sql)."""
    # An address group's blank member is filled only from a record at the same address as the
    # winner's: the same postal code when both have one, else the same street as normalize folds it
    # (丁目 / 番 / 号, widths; one of them may add its building or its city), else nothing tells them
    # apart. A member of the master's that no such record holds is cleared: the old street's city and
    # prefecture must not stay beside the new street (a country is no part of one address: filled and
    # kept as before).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_addr AS
        WITH au AS (  -- the members of the address groups (the units holding a street or a postal code)
            SELECT field, unit FROM _sv_units WHERE group_name IS NOT NULL AND rule NOT IN ('union', 'any_true')
              AND unit IN (SELECT unit FROM _sv_units WHERE field IN ({", ".join(map(_lit, (*POSTAL_FIELDS, *STREET_FIELDS)))}))
        )
        SELECT c.cluster_id, c.unit, c.id, c.rnk, list(v.field) AS fields,
               max(nullif(regexp_replace(translate(v.value, '{_FULLWIDTH_DIGITS}', '{_ASCII_DIGITS}'), '[^0-9]', '', 'g'), ''))
                   FILTER (WHERE v.field IN ({", ".join(map(_lit, POSTAL_FIELDS))})) AS pk,
               max(v.value) FILTER (WHERE v.field IN ({", ".join(map(_lit, STREET_FIELDS))})) AS street
        FROM _sv_view v JOIN au ON au.field = v.field
        JOIN _sv_ranked c ON c.id = v.id AND c.unit = au.unit AND c.cluster_id = v.cluster_id
        GROUP BY ALL""")
    # (only a record holding a member the winner lacks can fill one or have one cleared: the others'
    # addresses decide nothing, and their streets are not keyed)
    pairs = """SELECT a.cluster_id, a.unit, a.id, w.pk AS wpk, a.pk, w.street AS wstreet, a.street
        FROM _sv_addr a JOIN _sv_addr w ON w.cluster_id = a.cluster_id AND w.unit = a.unit AND w.rnk = 1
        WHERE a.rnk > 1 AND (w.pk IS NOT NULL OR w.street IS NOT NULL) AND NOT list_has_all(w.fields, a.fields)"""
    # (streets keyed only where they decide and differ as written: few)
    streets = sorted({x for (x,) in con.execute(f"""
        SELECT DISTINCT x FROM ({pairs}), unnest([wstreet, street]) t(x)
        WHERE NOT (wpk IS NOT NULL AND pk IS NOT NULL) AND wstreet IS NOT NULL AND street IS NOT NULL
          AND wstreet <> street""").fetchall()})
    keys = (f"SELECT * FROM (VALUES {', '.join(f'({_lit(v)}, {_lit(normalize_street(v) or v)})' for v in streets)}) t(value, key)"
            if streets else "SELECT NULL::VARCHAR AS value, NULL::VARCHAR AS key WHERE false")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_elsewhere AS
        WITH p AS ({pairs}), k AS ({keys})
        SELECT p.cluster_id, p.unit, p.id FROM p
        LEFT JOIN k kw ON kw.value = p.wstreet LEFT JOIN k ka ON ka.value = p.street
        WHERE CASE WHEN p.wpk IS NOT NULL AND p.pk IS NOT NULL THEN p.wpk <> p.pk
                   -- (one street with its building and floor, or with its city, the other without)
                   WHEN p.wstreet IS NOT NULL AND p.street IS NOT NULL
                        THEN p.wstreet <> p.street AND kw.key IS DISTINCT FROM ka.key
                             AND NOT (length(ka.key) >= 5 AND contains(kw.key, ka.key))
                             AND NOT (length(kw.key) >= 5 AND contains(ka.key, kw.key))
                   ELSE false END""")
    con.execute("DROP TABLE IF EXISTS _sv_addr")


def run_survive_sql(con: duckdb.DuckDBPyConnection, fields: list[str], config: SurvivorshipConfig) -> None:
    """From _sv_rec / _sv_long0 (see above) write survivors, surviving_fields, group_records."""
    _register_nfkc(con)
    units, _ = _units(fields, config)
    con.register("_sv_units_arrow", units)
    con.execute("CREATE OR REPLACE TEMP TABLE _sv_units AS SELECT * FROM _sv_units_arrow")
    con.unregister("_sv_units_arrow")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS _sv_account_groups (id15 VARCHAR, account_group VARCHAR)")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS _sv_kept_apart (cluster_id VARCHAR, why VARCHAR)")
    if "is_person" not in {c[0] for c in con.execute("DESCRIBE _sv_rec").fetchall()}:
        con.execute("ALTER TABLE _sv_rec ADD COLUMN is_person BOOLEAN DEFAULT false")
    lmap = [(kind, src, dst) for kind in ("Contact", "PersonAccount") for src, dst in lead_field_map(kind, config).items()]
    con.execute("CREATE OR REPLACE TEMP TABLE _sv_map (kind VARCHAR, src VARCHAR, dst VARCHAR)")
    if lmap:
        con.executemany("INSERT INTO _sv_map VALUES (?, ?, ?)", lmap)
    route_rank: dict[str, int] = {}
    pos = {route: i for i, route in enumerate(config.source_priority)}
    for route, sources in config.routes.items():
        for src in sources:
            route_rank.setdefault(fold(src), pos.get(route, len(pos)))
    con.execute("CREATE OR REPLACE TEMP TABLE _sv_routes (key VARCHAR, rank INTEGER)")
    if route_rank:
        con.executemany("INSERT INTO _sv_routes VALUES (?, ?)", list(route_rank.items()))
    n_routes = len(config.source_priority)
    truthy = ", ".join(_lit(v) for v in TRUE_VALUES)

    # Groups: master, status, reason.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_groups AS
        WITH complete AS (SELECT id, count(*) AS n FROM _sv_long0 GROUP BY id),
        acct AS (  -- (two Accounts of one auto group of Accounts, nayose.accounts, are one company)
            SELECT r.cluster_id, count(DISTINCT coalesce(ag.account_group, {_strip_sql('l.value')})) AS n_accounts
            FROM _sv_rec r JOIN _sv_long0 l ON l.id = r.id AND l.field = 'AccountId'
            LEFT JOIN _sv_account_groups ag ON ag.id15 = left({_strip_sql('l.value')}, 15)
            WHERE r.object = 'Contact' GROUP BY r.cluster_id
        ),
        g AS (
            SELECT cluster_id, any_value(status) AS status, count(*) AS size,
                   list_sort(list_distinct(list(object))) AS objs,
                   bool_or(object = 'Contact') AND bool_or(object = 'Lead') AS lead_contact,
                   -- Leads and Person Accounts only: the Leads are converted into a Person Account
                   bool_or(object = 'Account') AND bool_or(object = 'Lead')
                       AND bool_and(object IN ('Account', 'Lead') AND (object <> 'Account' OR coalesce(is_person, false))) AS lead_person
            FROM _sv_rec GROUP BY cluster_id
        ),
        ranked AS (
            SELECT r.cluster_id, r.id, r.object, coalesce(r.is_person, false) AS is_person,
                   row_number() OVER (PARTITION BY r.cluster_id ORDER BY
                       (g.lead_contact AND r.object <> 'Contact') OR (g.lead_person AND r.object <> 'Account'),
                       {_master_order_sql(config)}) AS k
            FROM _sv_rec r JOIN g USING (cluster_id) LEFT JOIN complete cm ON cm.id = r.id
        )
        SELECT g.cluster_id, m.id AS master_id, m.object AS master_object, g.size, g.status AS cluster_status,
               CASE WHEN g.lead_contact THEN 'Contact' WHEN g.lead_person THEN 'PersonAccount' END AS master_kind,
               CASE WHEN k.why IS NOT NULL THEN k.why
                    WHEN coalesce(a.n_accounts, 0) > 1 THEN 'contacts under different accounts'
                    WHEN len(g.objs) > 1 AND g.objs <> ['Contact', 'Lead'] AND NOT g.lead_person
                        THEN 'mixed objects: ' || array_to_string(g.objs, ', ')
               END AS reason
        FROM g JOIN ranked m ON m.cluster_id = g.cluster_id AND m.k = 1
        LEFT JOIN acct a ON a.cluster_id = g.cluster_id LEFT JOIN _sv_kept_apart k ON k.cluster_id = g.cluster_id
    """)
    # The values as the master object sees them: a Lead converted into a Contact or a Person
    # Account master competes under the master's fields (its own value of the target field first).
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _sv_view AS
        WITH rec AS (
            SELECT r.*, g.master_kind, (r.object = 'Lead' AND g.master_kind IS NOT NULL) AS mapped, r.id = g.master_id AS is_master
            FROM _sv_rec r JOIN _sv_groups g USING (cluster_id)
        )
        SELECT rec.cluster_id, l.id, CASE WHEN rec.mapped AND m.src IS NOT NULL THEN m.dst ELSE l.field END AS field, l.value
        FROM _sv_long0 l JOIN rec ON rec.id = l.id
        LEFT JOIN _sv_map m ON m.kind = rec.master_kind AND m.src = l.field
        WHERE NOT (rec.mapped AND m.src IS NOT NULL
                   AND (m.dst = '' OR EXISTS (SELECT 1 FROM _sv_long0 o WHERE o.id = l.id AND o.field = m.dst)))
    """)
    # A whole Japanese name typed into LastName with FirstName blank (松本　明香 on a card, 山田、太郎,
    # ジョン・スミス) is the record's surname and given name: its two parts compete as such, so that
    # the merged record is not LastName 松本　明香 with the other record's FirstName 明香 beside it.
    # Not when the export has no FirstName column: the plan could not write the given name, and the
    # surname alone would replace the whole name (a card export mapping 氏名 to LastName).
    if "FirstName" in fields and "LastName" in fields:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _sv_view AS
            WITH whole AS (
                SELECT cluster_id, id,
                       CASE WHEN regexp_full_match(value, '{_DOT_PARTS_RE2}')
                            THEN {{'last_part': regexp_extract(value, '{_DOT_PARTS_RE2}', 2),
                                   'first_part': regexp_extract(value, '{_DOT_PARTS_RE2}', 1)}}
                            ELSE regexp_extract(value, '{_TWO_PARTS_RE2}', ['last_part', 'first_part']) END AS parts
                FROM _sv_view v
                WHERE field = 'LastName' AND NOT regexp_matches(value, '{NAME_EXTRAS_RE2}')
                  AND NOT EXISTS (SELECT 1 FROM _sv_view f WHERE f.id = v.id AND f.field = 'FirstName')
            ),
            split AS (
                SELECT cluster_id, id, parts.last_part, parts.first_part FROM whole
                WHERE regexp_matches(parts.last_part, '{_KANJI_RE2}|{_KANA_RE2}')
                  AND regexp_matches(parts.first_part, '{_KANJI_RE2}|{_KANA_RE2}')
            )
            SELECT * FROM _sv_view WHERE NOT (field = 'LastName' AND id IN (SELECT id FROM split))
            UNION ALL SELECT cluster_id, id, 'LastName', last_part FROM split
            UNION ALL SELECT cluster_id, id, 'FirstName', first_part FROM split
        """)
    # Candidates of every (group, unit): the records holding a value of one of its fields, with
    # every key the rules rank by.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_cand AS
        WITH gmap AS (
            SELECT cluster_id, bool_or(r.object = 'Lead') AND any_value(g.master_kind) IS NOT NULL AS has_mapped
            FROM _sv_rec r JOIN _sv_groups g USING (cluster_id) GROUP BY cluster_id
        ),
        cu AS (
            SELECT DISTINCT v.cluster_id, v.id, u.unit FROM _sv_view v JOIN _sv_units u ON u.field = v.field
        ),
        uinfo AS (
            SELECT DISTINCT unit, rule, group_name, primary_plain, primary_mapped, card_plain, card_mapped FROM _sv_units
        ),
        nv AS (SELECT id, count(*) AS n FROM _sv_view GROUP BY id)
        SELECT cu.cluster_id, cu.unit, cu.id, ui.rule, ui.group_name,
               CASE WHEN gm.has_mapped THEN ui.primary_mapped ELSE ui.primary_plain END AS primary_field,
               CASE WHEN gm.has_mapped THEN ui.card_mapped ELSE ui.card_plain END AS card_applies,
               r.is_card, r.created, r.modified, r.id = g.master_id AS is_master, coalesce(nv.n, 0) AS completeness
        FROM cu JOIN uinfo ui USING (unit) JOIN gmap gm USING (cluster_id)
        JOIN _sv_rec r ON r.id = cu.id JOIN _sv_groups g ON g.cluster_id = cu.cluster_id
        LEFT JOIN nv ON nv.id = cu.id
    """)
    # max / min: the rank of each distinct primary value (numeric when every value is a number).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_vrank AS
        WITH vals AS (
            SELECT DISTINCT c.cluster_id, c.unit, c.rule, v.value,
                   TRY_CAST(replace({_strip_sql('nayose_nfkc(v.value)')}, ',', '') AS DOUBLE) AS num,
                   {_strip_sql('nayose_nfkc(v.value)')} AS txt
            FROM _sv_cand c JOIN _sv_view v ON v.id = c.id AND v.field = c.primary_field
            WHERE c.rule IN ('max', 'min')
        ),
        kinds AS (SELECT cluster_id, unit, bool_and(num IS NOT NULL) AS numeric FROM vals GROUP BY ALL)
        SELECT vals.cluster_id, vals.unit, vals.value,
               CASE WHEN vals.rule = 'min' THEN
                   row_number() OVER (PARTITION BY vals.cluster_id, vals.unit ORDER BY
                       CASE WHEN k.numeric THEN vals.num END ASC, CASE WHEN NOT k.numeric THEN vals.txt END ASC, vals.value ASC)
               ELSE
                   row_number() OVER (PARTITION BY vals.cluster_id, vals.unit ORDER BY
                       CASE WHEN k.numeric THEN vals.num END DESC, CASE WHEN NOT k.numeric THEN vals.txt END DESC, vals.value DESC)
               END AS vrank
        FROM vals JOIN kinds k USING (cluster_id, unit)
    """)
    # The records whose address bounced, and which addresses are a person's own at a company's
    # domain (not a free one: gmail, docomo.ne.jp; not a role mailbox) -- over the distinct addresses.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_bounced AS
        SELECT DISTINCT id FROM _sv_view WHERE field IN ({", ".join(map(_lit, BOUNCE_FIELDS))})""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_company_mail AS
        SELECT value FROM (SELECT DISTINCT value, split_part(lower({_strip_sql('value')}), '@', 2) AS domain,
                                  regexp_replace(split_part(lower({_strip_sql('value')}), '@', 1), '[+].*$', '') AS local
                           FROM _sv_view WHERE field = 'Email')
        WHERE {company_mailbox_sql('domain', 'local')}""")
    # source_priority's rank of each distinct LeadSource written (NFKC, a Python function: over the
    # few distinct values, not the candidates' rows)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_lead_rank AS
        SELECT d.value, rt.rank FROM (SELECT DISTINCT value FROM _sv_view WHERE field = 'LeadSource') d
        JOIN _sv_routes rt ON rt.key = lower({_strip_sql('nayose_nfkc(d.value)')})""")
    # A record whose surname and given name are the master's swapped (LastName 蓮, FirstName 青木
    # beside the master's 青木 / 蓮 -- a form filled in the other order): its name fields rank after
    # the others', whatever its date (the newest such record wrote 蓮 as the surname); not a card's.
    con.execute("""CREATE OR REPLACE TEMP TABLE _sv_swapped AS
        WITH n AS (  -- (one scan: each record's two names)
            SELECT cluster_id, id, trim(arg_max(value, field = 'LastName')) AS last, trim(arg_max(value, field = 'FirstName')) AS first
            FROM _sv_view WHERE field IN ('LastName', 'FirstName') GROUP BY cluster_id, id
            HAVING count(DISTINCT field) = 2
        )
        SELECT r.id FROM n r JOIN _sv_groups g ON g.cluster_id = r.cluster_id AND r.id <> g.master_id
        JOIN n m ON m.id = g.master_id
        WHERE r.last = m.first AND r.first = m.last AND m.last <> m.first""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_ranked AS
        WITH k AS (
            SELECT c.*, p.value AS primary_value, ls.value AS lead_source,
                   (c.card_applies AND c.is_card) AS card_first,
                   -- (a card's own order stands: the card rule protects its names)
                   c.primary_field IN ('LastName', 'FirstName') AND sw.id IS NOT NULL
                       AND NOT (c.card_applies AND c.is_card) AS name_swapped,
                   c.primary_field IN ('Email', 'PersonEmail') AND bo.id IS NOT NULL AS bounced,
                   -- a person's own address at a company's domain over any other, except for a
                   -- Person Account (a consumer's own address is the free one)
                   {'true' if config.prefer_company_email else 'false'} AND c.primary_field = 'Email'
                       AND g.master_kind IS DISTINCT FROM 'PersonAccount' AND cm.value IS NULL AS free_mail
            FROM _sv_cand c JOIN _sv_groups g ON g.cluster_id = c.cluster_id
            LEFT JOIN _sv_view p ON p.id = c.id AND p.field = c.primary_field
            LEFT JOIN _sv_view ls ON ls.id = c.id AND ls.field = 'LeadSource'
            LEFT JOIN _sv_bounced bo ON bo.id = c.id
            LEFT JOIN _sv_swapped sw ON sw.id = c.id
            LEFT JOIN _sv_company_mail cm ON cm.value = p.value
        ),
        keyed AS (
            SELECT k.*,
                CASE k.rule
                    WHEN 'most_complete' THEN -k.completeness
                    WHEN 'master' THEN CASE WHEN k.is_master THEN 0 ELSE 1 END
                    WHEN 'keep_master_if_set' THEN CASE WHEN k.is_master THEN 0 ELSE 1 END
                    WHEN 'source_priority' THEN coalesce(rt.rank, {n_routes})
                    WHEN 'max' THEN coalesce(vr.vrank, 1 << 30)
                    WHEN 'min' THEN coalesce(vr.vrank, 1 << 30)
                    WHEN 'native_script' THEN CASE
                        WHEN k.primary_value IS NULL THEN 6
                        WHEN regexp_matches(k.primary_value, '{_KANJI_RE2}') THEN 0
                        WHEN regexp_matches(k.primary_value, '{_KANA_RE2}') THEN 2 ELSE 4 END
                        -- a name written with an honorific, a title or a note (山田 太郎 様, Mr. John,
                        -- 佐藤（旧姓 鈴木）) after the same script written plainly
                        + CASE WHEN k.primary_field IN ('LastName', 'FirstName') AND k.primary_value IS NOT NULL
                               AND regexp_matches(k.primary_value, '{NAME_EXTRAS_RE2}') THEN 1 ELSE 0 END
                        -- Latin letters in one case only (JOHN SMITH, ACME CORPORATION from a form
                        -- typed in capitals, or all lower case) after a name written in mixed case
                        + CASE WHEN k.primary_value IS NOT NULL
                               AND NOT regexp_matches(k.primary_value, '{_KANJI_RE2}|{_KANA_RE2}')
                               AND regexp_matches(k.primary_value, '[A-Za-z].*[A-Za-z]')
                               AND NOT (regexp_matches(k.primary_value, '[a-z]') AND regexp_matches(k.primary_value, '[A-Z]'))
                               THEN 1 ELSE 0 END
                        -- a whole Latin name in LastName (Mark Clark) after a surname alone (Clark);
                        -- (a Japanese one is split into its two parts above)
                        + CASE WHEN k.primary_field = 'LastName' AND k.primary_value IS NOT NULL
                               AND NOT regexp_matches(k.primary_value, '{_KANJI_RE2}|{_KANA_RE2}')
                               AND regexp_matches(trim(k.primary_value), '[A-Za-z][^\\s,，、]*(\\s+|\\s*[,，、]\\s*)[A-Za-z]')
                               THEN 1 ELSE 0 END
                    WHEN 'oldest' THEN CASE WHEN k.created IS NULL THEN 1 ELSE 0 END
                    ELSE 0 END AS rk1,
                CASE WHEN k.rule = 'oldest' THEN coalesce(k.created, 0) ELSE 0 END AS rk2,
                CASE WHEN k.rule = 'oldest' THEN 0 WHEN k.modified IS NULL THEN 1 ELSE 0 END AS rm1,
                CASE WHEN k.rule = 'oldest' THEN 0 ELSE -coalesce(k.modified, 0) END AS rm2
            FROM k
            LEFT JOIN _sv_lead_rank rt ON rt.value = k.lead_source
            LEFT JOIN _sv_vrank vr ON vr.cluster_id = k.cluster_id AND vr.unit = k.unit AND vr.value = k.primary_value
        )
        SELECT *, row_number() OVER (PARTITION BY cluster_id, unit ORDER BY
                name_swapped,
                -- a name's script before the card: a card read in kana or romaji (ヤマモト, TAKAHASHI)
                -- does not replace the kanji another record holds; among the same script the card wins
                CASE WHEN rule = 'native_script' THEN rk1 ELSE 0 END,
                NOT card_first, (card_first AND created IS NULL),
                CASE WHEN card_first THEN -coalesce(created, 0) ELSE 0 END,
                primary_value IS NULL, bounced, free_mail, rk1, rk2, rm1, rm2, id) AS rnk
        FROM keyed
    """)
    # Surviving values. Field rules: per field of the unit, the best-ranked record holding it
    # (the winner, or the next one down: fill_blank). union and any_true: the primary field only.
    _address_elsewhere(con)
    from_mail, win_mail = _strip_sql("coalesce(ef.value, '')"), _strip_sql("ew.value")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_out AS
        WITH win AS (
            SELECT cluster_id, unit, id AS win_id, is_card AS win_card, card_applies, rule, group_name, primary_field
            FROM _sv_ranked WHERE rnk = 1
        ),
        labelled AS (
            SELECT w.*, coalesce('group ' || w.group_name || ': ', '') AS prefix,
                   CASE WHEN w.card_applies AND w.win_card THEN 'business_card' ELSE w.rule END AS label
            FROM win w
        ),
        plain AS (
            SELECT c.cluster_id, c.unit, v.field, arg_min(v.value, c.rnk) AS value, arg_min(c.id, c.rnk) AS from_id,
                   min(c.rnk) AS best
            FROM _sv_ranked c JOIN _sv_view v ON v.id = c.id
            JOIN _sv_units u ON u.field = v.field AND u.unit = c.unit
            -- (a country is no part of one address: any record's fills the winner's blank)
            LEFT JOIN _sv_elsewhere e ON e.cluster_id = c.cluster_id AND e.unit = c.unit AND e.id = c.id
                                        AND v.field NOT IN ({", ".join(map(_lit, COUNTRY_FIELDS))})
            WHERE c.rule NOT IN ('union', 'any_true') AND e.id IS NULL
            GROUP BY c.cluster_id, c.unit, v.field
        ),
        bounce_from AS (
            -- a bounce another record holds for the winner's own address stays with it (the
            -- comparison over the few bounce fields filled from another record only)
            SELECT pl.cluster_id, pl.unit, pl.field, lower({from_mail}) IS DISTINCT FROM lower({win_mail}) AS other_address
            FROM plain pl JOIN labelled lw ON lw.cluster_id = pl.cluster_id AND lw.unit = pl.unit
            LEFT JOIN _sv_view ef ON ef.id = pl.from_id AND ef.field = lw.primary_field
            LEFT JOIN _sv_view ew ON ew.id = lw.win_id AND ew.field = lw.primary_field
            WHERE pl.best > 1 AND pl.field IN ({", ".join(map(_lit, BOUNCE_FIELDS))})
        ),
        plain_out AS (
            SELECT p.cluster_id, p.field, CASE WHEN cleared THEN NULL ELSE p.value END AS value,
                   CASE WHEN cleared THEN l.win_id ELSE p.from_id END AS from_id,
                   l.prefix || l.label || CASE WHEN cleared THEN ': {CLEARED}' WHEN p.best > 1 THEN ': fill_blank' ELSE '' END AS rule
            FROM (SELECT pl.*, pl.best > 1 AND pl.field IN ({", ".join(map(_lit, BOUNCE_FIELDS))})
                             AND coalesce(bc.other_address, true) AS cleared
                  FROM plain pl LEFT JOIN bounce_from bc ON bc.cluster_id = pl.cluster_id AND bc.unit = pl.unit
                                                        AND bc.field = pl.field) p
            JOIN labelled l ON l.cluster_id = p.cluster_id AND l.unit = p.unit
            UNION ALL
            -- the master's members of an address the group does not keep
            SELECT g.cluster_id, m.field, NULL, l.win_id, l.prefix || l.label || ': {CLEARED}'
            FROM _sv_groups g JOIN _sv_elsewhere e ON e.cluster_id = g.cluster_id AND e.id = g.master_id
            JOIN _sv_view m ON m.id = g.master_id AND m.field NOT IN ({", ".join(map(_lit, COUNTRY_FIELDS))})
            JOIN _sv_units u ON u.field = m.field AND u.unit = e.unit
            JOIN labelled l ON l.cluster_id = g.cluster_id AND l.unit = e.unit
            ANTI JOIN plain p ON p.cluster_id = g.cluster_id AND p.field = m.field
        ),
        items AS (
            SELECT c.cluster_id, c.unit, c.rnk, s.pos, {_strip_sql('s.item')} AS item
            FROM _sv_ranked c JOIN _sv_view v ON v.id = c.id AND v.field = c.primary_field,
                 LATERAL (SELECT unnest(string_split(v.value, '{UNION_SEP}')) AS item,
                                 generate_subscripts(string_split(v.value, '{UNION_SEP}'), 1) AS pos) s
            WHERE c.rule = 'union'
        ),
        first_items AS (
            SELECT cluster_id, unit, arg_min(item, (rnk, pos)) AS item, min((rnk, pos)) AS at
            FROM items WHERE item <> ''
            GROUP BY cluster_id, unit, lower({_strip_sql('nayose_nfkc(item)')})
        ),
        union_out AS (
            SELECT l.cluster_id, l.primary_field AS field,
                   coalesce((SELECT string_agg(f.item, '{UNION_SEP}' ORDER BY f.at) FROM first_items f
                             WHERE f.cluster_id = l.cluster_id AND f.unit = l.unit), '') AS value,
                   l.win_id AS from_id,
                   l.prefix || CASE WHEN l.label = 'business_card' THEN 'business_card+union' ELSE 'union' END AS rule
            FROM labelled l WHERE l.rule = 'union'
        ),
        anytrue AS (
            SELECT c.cluster_id, c.unit, c.primary_field,
                   -- (the master's own true first: it keeps its writing)
                   coalesce(min(c.id) FILTER (WHERE c.is_master AND lower({_strip_sql('c_v.value')}) IN ({truthy})),
                            min(c.id) FILTER (WHERE lower({_strip_sql('c_v.value')}) IN ({truthy})), min(c.id)) AS win_id,
                   bool_or(lower({_strip_sql('c_v.value')}) IN ({truthy})) AS any_t
            FROM _sv_ranked c LEFT JOIN _sv_view c_v ON c_v.id = c.id AND c_v.field = c.primary_field
            WHERE c.rule = 'any_true' GROUP BY ALL
        ),
        anytrue_out AS (
            -- another record's true is written true (its 1 / yes / はい is what the export had; the
            -- merge writes the checkbox)
            SELECT a.cluster_id, a.primary_field AS field,
                   CASE WHEN a.any_t AND a.win_id <> g.master_id THEN 'true' ELSE v.value END AS value,
                   a.win_id AS from_id, 'any_true' AS rule
            FROM anytrue a JOIN _sv_groups g ON g.cluster_id = a.cluster_id
            LEFT JOIN _sv_view v ON v.id = a.win_id AND v.field = a.primary_field
        )
        SELECT * FROM plain_out UNION ALL SELECT * FROM union_out UNION ALL SELECT * FROM anytrue_out
    """)
    con.execute("""
        CREATE OR REPLACE TABLE survivors AS
        SELECT cluster_id, master_id, master_object AS object,
               CASE WHEN reason IS NOT NULL THEN 'review' ELSE cluster_status END AS status,
               reason, CAST(size AS INTEGER) AS size
        FROM _sv_groups ORDER BY cluster_id
    """)
    # The master's own value written another way (03-1234-5678 / ＋８１－３－１２３４－５６７８, TARO@ABC.CO.JP /
    # taro@abc.co.jp, 株式会社ABC / (株)ABC) is the value: the master keeps its writing -- no change
    # to review, and no full-width digits written over it. A company keeps the master's writing
    # unless that drops a legal form the chosen value has (ABC -> 株式会社ABC is a change).
    readings = [f for f in fields if is_reading_column(f)] or [""]
    keyed = [*PHONE_FIELDS, *EMAIL_FIELDS, *STREET_FIELDS, *POSTAL_FIELDS, *readings, *COMPANY_FIELDS, *COUNTRY_FIELDS,
             *WEBSITE_FIELDS, *STATE_FIELDS, *TEXT_FIELDS]
    # (a street is also compared with the master's whole address, its state and city in front: a
    # card's 住所 大阪府大阪市北区梅田1-1-1 is the master's State 大阪府, City 大阪市北区, Street 梅田1-1-1)
    streets_sql = ", ".join(map(_lit, STREET_FIELDS))
    places = sorted({f.replace("Street", x) for f in STREET_FIELDS for x in ("State", "City")})
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_mplace AS
        SELECT v.id, v.field, v.value FROM _sv_view v SEMI JOIN _sv_groups g ON g.master_id = v.id
        WHERE v.field IN ({", ".join(map(_lit, places))})""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_other AS
        SELECT o.cluster_id, o.field, o.value AS v, m.value AS mv, g.master_id,
               CASE WHEN o.field IN ({streets_sql}) AND (ms.value IS NOT NULL OR mc.value IS NOT NULL)
                    THEN coalesce(ms.value, '') || coalesce(mc.value, '') || m.value END AS mfull
        FROM _sv_out o JOIN _sv_groups g USING (cluster_id) JOIN _sv_view m ON m.id = g.master_id AND m.field = o.field
        LEFT JOIN _sv_mplace ms ON o.field IN ({streets_sql}) AND ms.id = g.master_id AND ms.field = replace(o.field, 'Street', 'State')
        LEFT JOIN _sv_mplace mc ON o.field IN ({streets_sql}) AND mc.id = g.master_id AND mc.field = replace(o.field, 'Street', 'City')
        WHERE o.field IN ({", ".join(map(_lit, keyed))}) AND o.from_id <> g.master_id AND o.value <> m.value""")
    # (the keys over the distinct pairs of writings only: few, and the NFKC function is Python;
    # a country's ISO code from normalize's table: Japan / 日本 / JP)
    # Countries, streets and companies are keyed by normalize itself, over the distinct writings
    # (Japan / 日本 / JP: its country table; a street as normalize_street folds it -- 丁目 / 番 / 号,
    # 階 / F, widths; a company's core and legal form as split_company splits it).
    def writings(fields: tuple[str, ...]) -> list[str]:
        return sorted({x for (x,) in con.execute(f"""SELECT DISTINCT x FROM _sv_other, unnest([v, mv, mfull]) t(x)
                                                      WHERE field IN ({", ".join(map(_lit, fields))})
                                                        AND x IS NOT NULL""").fetchall()})

    keys: list[tuple[str, str, str | None, bool]] = []  # (kind, writing, key, has a legal form)
    keys += [("country", x, country_region(x), False) for x in writings(COUNTRY_FIELDS)]
    streets = writings(STREET_FIELDS)  # (the costly one: on both cores, as normalize does)
    keys += [("street", x, k or None, False) for x, k in zip(streets, map_values(normalize_street, streets))]
    keys += [("company", x, core, form is not None)
             for x in writings(COMPANY_FIELDS) for core, form, *_ in [split_company(x)]]
    keys += [("website", x, website_domain(x), False) for x in writings(WEBSITE_FIELDS)]  # (www.abc.co.jp / https://abc.co.jp/)
    # (a prefecture with or without 都 / 府 / 県, in Latin letters: 東京 / 東京都 / Tokyo; a title in
    # full-width letters or another case: ＣＥＯ / CEO)
    keys += [("state", x, canonical_prefecture(x) or _text_key(x), False) for x in writings(STATE_FIELDS)]
    keys += [("text", x, _text_key(x), False) for x in writings(TEXT_FIELDS)]
    con.register("_sv_key_arrow", pa.table({
        "kind": pa.array([k[0] for k in keys], pa.string()), "value": pa.array([k[1] for k in keys], pa.string()),
        "key": pa.array([k[2] for k in keys], pa.string()), "form": pa.array([k[3] for k in keys], pa.bool_())}))

    kind = (f"CASE WHEN field IN ({', '.join(map(_lit, STREET_FIELDS))}) THEN 'street' "
            f"WHEN field IN ({', '.join(map(_lit, COMPANY_FIELDS))}) THEN 'company' "
            f"WHEN field IN ({', '.join(map(_lit, COUNTRY_FIELDS))}) THEN 'country' "
            f"WHEN field IN ({', '.join(map(_lit, WEBSITE_FIELDS))}) THEN 'website' "
            f"WHEN field IN ({', '.join(map(_lit, STATE_FIELDS))}) THEN 'state' "
            f"WHEN field IN ({', '.join(map(_lit, TEXT_FIELDS))}) THEN 'text' END")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_same AS
        WITH d AS (SELECT DISTINCT field, v, mv, mfull, {kind} AS kind FROM _sv_other)
        SELECT d.field, d.v, d.mv, d.mfull FROM d
        LEFT JOIN _sv_key_arrow kv ON kv.kind = d.kind AND kv.value = d.v
        LEFT JOIN _sv_key_arrow km ON km.kind = d.kind AND km.value = d.mv
        LEFT JOIN _sv_key_arrow kf ON kf.kind = d.kind AND kf.value = d.mfull
        WHERE CASE WHEN d.kind = 'street' THEN kv.key = km.key OR coalesce(kv.key = kf.key, false)
                   WHEN d.kind IN ('country', 'website', 'state', 'text') THEN kv.key = km.key
                   WHEN d.kind = 'company' THEN kv.key = km.key AND (km.form OR NOT kv.form)
                   -- (also the master's number with its extension, the chosen one without: the extension stays)
                   WHEN field IN ({", ".join(map(_lit, PHONE_FIELDS))}) THEN {_phone_key_sql('v')} = {_phone_key_sql('mv')}
                        OR (regexp_matches(mv, '{_EXTENSION_RE2}') AND NOT regexp_matches(v, '{_EXTENSION_RE2}')
                            AND {_phone_key_sql('v', True)} = {_phone_key_sql('mv', True)})
                   WHEN field IN ({", ".join(map(_lit, EMAIL_FIELDS))}) THEN lower({_strip_sql('v')}) = lower({_strip_sql('mv')})
                   WHEN field IN ({", ".join(map(_lit, POSTAL_FIELDS))})
                        THEN regexp_replace(nayose_nfkc(v), '[^0-9]', '', 'g') = regexp_replace(nayose_nfkc(mv), '[^0-9]', '', 'g')
                   WHEN field IN ({", ".join(map(_lit, readings))}) THEN {_kana_key_sql('v')} = {_kana_key_sql('mv')}
                   ELSE false END""")
    con.unregister("_sv_key_arrow")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _sv_keep AS
        SELECT a.cluster_id, a.field, a.mv, a.master_id FROM _sv_other a
        SEMI JOIN _sv_same s ON s.field = a.field AND s.v = a.v AND s.mv = a.mv AND s.mfull IS NOT DISTINCT FROM a.mfull""")
    con.execute("DROP TABLE IF EXISTS _sv_other")
    con.execute("DROP TABLE IF EXISTS _sv_mplace")
    con.execute("DROP TABLE IF EXISTS _sv_same")
    con.execute(f"""
        CREATE OR REPLACE TABLE surviving_fields AS
        SELECT o.cluster_id, CAST(row_number() OVER (PARTITION BY o.cluster_id ORDER BY u.pos) - 1 AS INTEGER) AS ord,
               o.field, coalesce(k.mv, o.value) AS value, coalesce(k.master_id, o.from_id) AS from_id,
               CASE WHEN k.mv IS NULL THEN o.rule ELSE o.rule || ': {AS_MASTER_WRITES}' END AS rule
        FROM _sv_out o JOIN _sv_units u ON u.field = o.field
        LEFT JOIN _sv_keep k ON k.cluster_id = o.cluster_id AND k.field = o.field
        ORDER BY o.cluster_id, ord
    """)
    con.execute("""
        CREATE OR REPLACE TABLE group_records AS
        SELECT r.cluster_id, r.id AS "Id", r.object, r.is_card, r.id = g.master_id AS is_master
        FROM _sv_rec r JOIN _sv_groups g USING (cluster_id) ORDER BY r.cluster_id, r.id
    """)
    for t in ("_sv_units", "_sv_map", "_sv_routes", "_sv_lead_rank", "_sv_groups", "_sv_view", "_sv_cand", "_sv_vrank",
              "_sv_ranked", "_sv_out", "_sv_keep", "_sv_bounced", "_sv_company_mail", "_sv_elsewhere", "_sv_swapped"):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def long_values(con: duckdb.DuckDBPyConnection, source_sql: str, fields: list[str]) -> None:
    """_sv_long0(id, field, value) from a relation with an `__id` column and the fields."""
    if not fields:
        con.execute("CREATE OR REPLACE TEMP TABLE _sv_long0 (id VARCHAR, field VARCHAR, value VARCHAR)")
        return
    cast = ", ".join(f'CAST("{f}" AS VARCHAR) AS "{f}"' for f in fields)
    names = ", ".join(f'"{f}"' for f in fields)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sv_long0 AS
        SELECT __id AS id, field, value FROM (
            UNPIVOT (SELECT __id, {cast} FROM ({source_sql})) ON {names} INTO NAME field VALUE value
        ) WHERE NOT {_blank_sql('value')}
    """)


def _with_person_fields(*fields: str) -> tuple[str, ...]:
    """`fields` and the Person Account fields standing in for them (normalize.PERSON_ACCOUNT_FIELDS)."""
    return tuple(x for f in fields for x in (f, *PERSON_ACCOUNT_FIELDS.get(f, ())))


NAME_FIELDS = ("LastName", "FirstName")
# A bounce belongs to its address: in an email field group, an address that bounced ranks after one
# that did not, and the winner's blank bounce fields are not filled from another record's but
# cleared (surviving value NULL, rule ending in CLEARED): a working address must not carry the old
# one's bounce, nor a bounced one win over a working one.
BOUNCE_FIELDS = ("EmailBouncedReason", "EmailBouncedDate", "PersonEmailBouncedReason", "PersonEmailBouncedDate")
PHONE_FIELDS = _with_person_fields("Phone", "MobilePhone")
EMAIL_FIELDS = _with_person_fields("Email")
BIRTHDATE_FIELDS = _with_person_fields("Birthdate")
COMPANY_FIELDS = ("Company", "Account.Name")
ADDRESS_FIELDS = _with_person_fields("Street", "City", "State", "MailingStreet", "MailingCity", "MailingState")
STREET_FIELDS = _with_person_fields("Street", "MailingStreet") + ("BillingStreet", "ShippingStreet")
COUNTRY_FIELDS = _with_person_fields("Country", "MailingCountry") + ("BillingCountry", "ShippingCountry")
STATE_FIELDS = _with_person_fields("State", "MailingState") + ("BillingState", "ShippingState")
TEXT_FIELDS = _with_person_fields("Title") + ("Department",)
POSTAL_FIELDS = _with_person_fields("PostalCode", "MailingPostalCode") + ("BillingPostalCode", "ShippingPostalCode")
WEBSITE_FIELDS = ("Website",)
# The standard fields' lengths (characters) on Lead / Contact / Account: a longer value cannot be
# written (STRING_TOO_LONG) and loses to one that fits (drop_malformed_values).
FIELD_MAX_LENGTH = {
    "FirstName": 40, "LastName": 80, "Title": 128, "Company": 255, "Email": 80, "Phone": 40, "MobilePhone": 40,
    "Fax": 40, "Department": 80, "Website": 255, "Street": 255, "City": 40, "State": 80, "PostalCode": 20,
    "Country": 80, "MailingStreet": 255, "MailingCity": 40, "MailingState": 80, "MailingPostalCode": 20,
    "MailingCountry": 80, "Account.Name": 255,
}


def drop_placeholder_values(con: duckdb.DuckDBPyConnection, config: Config, record: str | None = None) -> int:
    """Remove from _sv_long0 the values that only hold a field's place (see normalize) where another
    record of the group holds a real value of the field: a name placeholder (不明, ご担当者様, -), a
    dummy number (090-1234-5678, a spreadsheet's 3.12346E+09) or address (noemail@, a@a.com), a
    shared role mailbox (info@), a zero birth date (1900-01-01) or one on its record's creation day,
    a company placeholder (個人), a street or city 不明 / なし, a postal code 000-0000 or a name
    reading cut to one kana (Eight keeps only the first: ｲ for イケダ) never wins over a real value
    -- a merge must not keep 不明 beside 山田's given name. With `record` (a table
    (id, field, reason)) the values removed are listed there. Returns how many were removed."""
    from nayose.normalize import (
        DUMMY_PHONE_RE, DUMMY_POSTAL_RE, MIN_READING_KANA, SPREADSHEET_NUMBER_RE, address_placeholders,
        blank_name_placeholders, born_on_creation_day_sql, dummy_email_sql, parse_birthdate, reading_columns, split_company,
    )

    inp = config.input
    zero_dates = {parse_birthdate(d) for d in inp.birthdate_placeholders} - {None}
    no_company = {split_company(c)[0] for c in inp.company_placeholders} - {None}

    long_fields = [f for (f,) in con.execute("SELECT DISTINCT field FROM _sv_long0").fetchall()]
    readings = tuple(reading_columns(long_fields, config).values())
    every = NAME_FIELDS + PHONE_FIELDS + EMAIL_FIELDS + BIRTHDATE_FIELDS + COMPANY_FIELDS + ADDRESS_FIELDS + POSTAL_FIELDS + readings
    table = con.sql(f"SELECT DISTINCT field, value FROM _sv_long0 WHERE field IN ({', '.join(map(_lit, every))})"
                    ).to_arrow_table()

    def distinct(fields: tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
        t = table.filter(pc.is_in(table.column("field"), value_set=pa.array(fields, pa.string())))
        return t.column("field").combine_chunks(), t.column("value").combine_chunks().cast(pa.string())

    def folded(v: pa.Array) -> pa.Array:  # NFKC, trimmed, lower case
        return pc.utf8_lower(pc.utf8_trim_whitespace(pc.utf8_normalize(v, "NFKC")))

    def digits(v: pa.Array) -> pa.Array:
        return pc.replace_substring_regex(pc.utf8_normalize(v, "NFKC"), "[^0-9]", "")

    drop: list[tuple[str, str]] = []

    def take(f: pa.Array, v: pa.Array, mask: pa.Array, keep=None) -> None:
        """The (field, value) pairs where `mask` holds (and `keep`, looked at in Python, agrees)."""
        rows = pa.array(np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False)), pa.int64())
        if len(rows):
            drop.extend((a, x) for a, x in zip(f.take(rows).to_pylist(), v.take(rows).to_pylist()) if keep is None or keep(x))

    f, v = distinct(NAME_FIELDS)
    if len(v):
        take(f, v, pc.equal(blank_name_placeholders(v, inp.name_placeholders), ""))
    f, v = distinct(PHONE_FIELDS)
    if len(v):
        # (a dummy number, or one a spreadsheet turned into a float: 3.12346E+09)
        take(f, v, pc.or_kleene(pc.match_substring_regex(digits(v), DUMMY_PHONE_RE),
                                pc.match_substring_regex(folded(v), SPREADSHEET_NUMBER_RE)))
    f, v = distinct(EMAIL_FIELDS)
    if len(v):
        fv = folded(v)
        # (normalize's own test of a dummy address, run by DuckDB over the distinct values)
        con.register("_sv_mail_arrow", pa.table({"v": fv}))
        try:
            dummies = con.sql(f"SELECT DISTINCT v FROM _sv_mail_arrow WHERE {dummy_email_sql('v')}").to_arrow_table()
        finally:
            con.unregister("_sv_mail_arrow")
        take(f, v, pc.is_in(fv, value_set=dummies.column("v").combine_chunks()))
        # A shared role mailbox (info@, sales@, eigyo@) never wins over a person's own address: a
        # newer record's info@ was written over taro.yamada@ on the master.
        untagged = pc.replace_substring_regex(fv, r"\+[^@]*@", "@")  # (marketing+2021@ is marketing@)
        take(f, v, pc.match_substring_regex(untagged, f"^(?:{ROLE_RE})@"))
    f, v = distinct(BIRTHDATE_FIELDS)
    if len(v) and zero_dates:  # (the zero dates' years first: the few values worth a Python look)
        take(f, v, pc.match_substring_regex(v, "|".join(sorted({d[:4] for d in zero_dates}))),
             lambda x: parse_birthdate(x.strip()) in zero_dates)
    f, v = distinct(COMPANY_FIELDS)
    if len(v) and no_company:
        # (a company placeholder is the whole value, as written or with its legal form: 個人, (株)個人 is rare)
        exact = pa.array(sorted({c.strip().lower() for c in inp.company_placeholders} | no_company), pa.string())
        take(f, v, pc.is_in(folded(v), value_set=exact))
    f, v = distinct(ADDRESS_FIELDS)
    if len(v):
        take(f, v, pc.is_in(folded(v), value_set=pa.array(address_placeholders(config), pa.string())))
    f, v = distinct(POSTAL_FIELDS)
    if len(v):
        take(f, v, pc.match_substring_regex(digits(v), f"^{DUMMY_POSTAL_RE}$"))
    f, v = distinct(readings)
    if len(v):
        spaced = pc.replace_substring_regex(pc.utf8_normalize(v, "NFKC"), r"[\s\x{3000}]", "")
        take(f, v, pc.less(pc.utf8_length(spaced), MIN_READING_KANA))
    # A birth date within a day of its own record's creation is a date picker left at today (as
    # normalize reads it): per record, so the parsed dates are joined with each record's created time.
    f, v = distinct(BIRTHDATE_FIELDS)
    parsed = [(x, parse_birthdate(x.strip())) for x in dict.fromkeys(v.to_pylist())] if len(v) else []
    parsed = [(x, d) for x, d in parsed if d is not None]
    if not drop and not parsed:
        return 0
    con.register("_sv_drop_arrow", pa.table({"field": pa.array([f for f, _ in drop], pa.string()),
                                             "value": pa.array([v for _, v in drop], pa.string())}))
    con.register("_sv_bd_arrow", pa.table({"value": pa.array([x for x, _ in parsed], pa.string()),
                                           "d": pa.array([d for _, d in parsed], pa.string())}))
    try:
        # (only where another record of the group holds a real value: a field every record fills
        # with 個人 keeps it -- nothing better is there)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_ph AS
            SELECT l.id, l.field, r.cluster_id FROM _sv_long0 l
            SEMI JOIN _sv_drop_arrow d ON d.field = l.field AND d.value = l.value JOIN _sv_rec r ON r.id = l.id
            UNION
            SELECT l.id, l.field, r.cluster_id FROM _sv_long0 l
            JOIN _sv_bd_arrow b ON b.value = l.value JOIN _sv_rec r ON r.id = l.id
            WHERE l.field IN ({', '.join(map(_lit, BIRTHDATE_FIELDS))}) AND r.created IS NOT NULL
              AND {born_on_creation_day_sql('CAST(b.d AS DATE)', 'to_timestamp(r.created)')}""")
        if not con.execute("SELECT count(*) FROM _sv_ph").fetchall()[0][0]:
            return 0
        con.execute("""CREATE OR REPLACE TEMP TABLE _sv_gone AS
            WITH groups AS (SELECT r.id, r.cluster_id FROM _sv_rec r SEMI JOIN (SELECT DISTINCT cluster_id FROM _sv_ph) g
                            ON g.cluster_id = r.cluster_id),
            real AS (SELECT DISTINCT g.cluster_id, l.field FROM _sv_long0 l JOIN groups g ON g.id = l.id
                     SEMI JOIN (SELECT DISTINCT field FROM _sv_ph) f ON f.field = l.field
                     ANTI JOIN _sv_ph p ON p.id = l.id AND p.field = l.field)
            SELECT DISTINCT p.id, p.field FROM _sv_ph p SEMI JOIN real ON real.cluster_id = p.cluster_id AND real.field = p.field""")
        n = _drop_gone(con, record, "placeholder")
    finally:
        con.unregister("_sv_drop_arrow")
        con.unregister("_sv_bd_arrow")
        con.execute("DROP TABLE IF EXISTS _sv_ph")
    return int(n)


# A value Salesforce takes as it is: one bare address in an email field, an ISO date in a date field.
_BARE_EMAIL_RE2 = r"[^@\s<>;,:()\[\]\x{3000}]+@[^@\s<>;,:()\[\]\x{3000}]+\.[^@\s<>;,:()\[\]\x{3000}]+"
_ISO_DATE_RE2 = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


def drop_malformed_values(con: duckdb.DuckDBPyConnection, record: str | None = None) -> int:
    """Remove from _sv_long0 the values Salesforce would refuse to write where another record of
    the group holds one it takes: an email with a display name or two addresses in it
    (`松田 恵子 <keiko@…>`, `a@x.co.jp; b@y.co.jp`: matching reads the address in it, a merge
    cannot write it), a birth date not written as YYYY-MM-DD (1970/3/15 after a spreadsheet
    saved the export, 昭和45年3月15日 from a form): a newer record's 1970/3/15 is the master's
    1970-03-15 again, and the merge carrying it would fail; a value longer than the standard field
    takes (FIELD_MAX_LENGTH: a 143-character Title, a Phone with a note). Without such a record the value stays
    (nothing here writes a value no record holds). A birth date normalize can read is first
    written in the form Salesforce takes (昭和45年3月15日 and 1970/3/15 are 1970-03-15: one date,
    not three values competing). Returns the values removed."""
    from nayose.normalize import parse_birthdate

    emails, dates = ", ".join(map(_lit, EMAIL_FIELDS)), ", ".join(map(_lit, BIRTHDATE_FIELDS))
    other = [v for (v,) in con.execute(f"""SELECT DISTINCT value FROM _sv_long0 WHERE field IN ({dates})
                                           AND NOT regexp_full_match(value, '{_ISO_DATE_RE2}')""").fetchall()]
    iso = [(v, d) for v, d in ((v, parse_birthdate(v.strip())) for v in other) if d is not None]
    if iso:
        con.register("_sv_iso_arrow", pa.table({"value": pa.array([v for v, _ in iso], pa.string()),
                                                "iso": pa.array([d for _, d in iso], pa.string())}))
        try:
            con.execute(f"""UPDATE _sv_long0 SET value = m.iso FROM _sv_iso_arrow m
                            WHERE _sv_long0.field IN ({dates}) AND _sv_long0.value = m.value""")
        finally:
            con.unregister("_sv_iso_arrow")
    # (the test over the distinct values, with constant patterns; then only the groups holding one)
    limits = " ".join(f"WHEN {_lit(f)} THEN {n}" for f, n in FIELD_MAX_LENGTH.items())
    checked = ", ".join(map(_lit, dict.fromkeys([*EMAIL_FIELDS, *BIRTHDATE_FIELDS, *FIELD_MAX_LENGTH])))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_badv AS
        SELECT field, value FROM (SELECT DISTINCT field, value FROM _sv_long0 WHERE field IN ({emails}, {dates}))
        WHERE CASE WHEN field IN ({emails}) THEN NOT regexp_full_match({_strip_sql('value')}, '{_BARE_EMAIL_RE2}')
                   ELSE NOT regexp_full_match({_strip_sql('value')}, '{_ISO_DATE_RE2}') END
        UNION
        -- longer than the field takes (a 143-character title, a phone with a note in it): few, so
        -- the length is tested row by row before any distinct
        SELECT DISTINCT field, value FROM _sv_long0
        WHERE length(value) > coalesce(CASE field {limits} END, 1 << 30)
          AND length({_strip_sql('value')}) > coalesce(CASE field {limits} END, 1 << 30)""")
    try:
        if not con.execute("SELECT count(*) FROM _sv_badv").fetchall()[0][0]:
            return 0
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_gone AS
            WITH bad AS (SELECT l.id, l.field, r.cluster_id FROM _sv_long0 l
                         SEMI JOIN _sv_badv b ON b.field = l.field AND b.value = l.value JOIN _sv_rec r ON r.id = l.id),
            good AS (SELECT DISTINCT r.cluster_id, l.field FROM _sv_long0 l JOIN _sv_rec r ON r.id = l.id
                     WHERE l.field IN ({checked}) AND r.cluster_id IN (SELECT cluster_id FROM bad)
                       AND NOT EXISTS (SELECT 1 FROM _sv_badv b WHERE b.field = l.field AND b.value = l.value))
            SELECT DISTINCT bad.id, bad.field FROM bad SEMI JOIN good ON good.cluster_id = bad.cluster_id AND good.field = bad.field""")
        return int(_drop_gone(con, record, "malformed"))
    finally:
        con.execute("DROP TABLE IF EXISTS _sv_badv")


def _drop_gone(con: duckdb.DuckDBPyConnection, record: str | None, reason: str) -> int:
    """Delete the values `_sv_gone(id, field)` names from _sv_long0 (recording them, with `reason`,
    in the table `record` when given); return how many."""
    try:
        if record is not None:
            con.execute(f"INSERT INTO {record} SELECT id, field, '{reason}' FROM _sv_gone")
        return con.execute("DELETE FROM _sv_long0 l USING _sv_gone g WHERE l.id = g.id AND l.field = g.field"
                           ).fetchall()[0][0]
    finally:
        con.execute("DROP TABLE IF EXISTS _sv_gone")


def drop_misread_values(con: duckdb.DuckDBPyConnection, record: str | None = None) -> int:
    """Remove from _sv_long0 the names and companies a card's OCR misread with look-alike
    characters (山ロ for 山口, 東洋エ業 for 東洋工業, オ力ダ for オカダ: `normalize.fold_ocr_lookalikes`)
    where another record of the group holds the value as it should read (a name the same once
    NFKC'd, a company with the same core): a protected card value then never puts the misreading
    on the master. Without such a record the card's value stays as it is (nothing here writes a
    value no record holds). Returns the values removed."""
    from nayose.normalize import LOOKALIKE_HINT_RE2, fold_ocr_lookalikes, split_company

    fields = NAME_FIELDS + COMPANY_FIELDS
    t = con.sql(f"SELECT DISTINCT field, value FROM _sv_long0 WHERE field IN ({', '.join(map(_lit, fields))})"
                ).to_arrow_table()
    if not t.num_rows:
        return 0
    v = t.column("value").combine_chunks().cast(pa.string())
    nf = pc.utf8_trim_whitespace(pc.utf8_normalize(v, "NFKC"))
    rows = pa.array(np.flatnonzero(pc.fill_null(pc.match_substring_regex(nf, LOOKALIKE_HINT_RE2), False)
                                   .to_numpy(zero_copy_only=False)), pa.int64())
    bad = [(f, x) for f, x, n in zip(t.column("field").take(rows).to_pylist(), v.take(rows).to_pylist(), nf.take(rows).to_pylist())
           if fold_ocr_lookalikes(n) != n]
    if not bad:
        return 0

    def key(field: str, value: str) -> str | None:  # the value as it should read
        if field in COMPANY_FIELDS:
            return split_company(value)[0]  # (its core: look-alikes folded, the legal form apart)
        return fold_ocr_lookalikes(unicodedata.normalize("NFKC", value).strip())

    con.register("_sv_bad_arrow", pa.table({"field": pa.array([b[0] for b in bad], pa.string()),
                                            "value": pa.array([b[1] for b in bad], pa.string())}))
    try:
        # every value of those fields in the groups holding a misread one (few): keyed in Python
        con.execute("""CREATE OR REPLACE TEMP TABLE _sv_mr AS
            SELECT l.id, l.field, l.value, r.cluster_id, b.value IS NOT NULL AS misread FROM _sv_long0 l
            JOIN _sv_rec r ON r.id = l.id LEFT JOIN _sv_bad_arrow b ON b.field = l.field AND b.value = l.value
            WHERE (r.cluster_id, l.field) IN (SELECT (r2.cluster_id, b2.field) FROM _sv_long0 l2
                  JOIN _sv_bad_arrow b2 ON b2.field = l2.field AND b2.value = l2.value JOIN _sv_rec r2 ON r2.id = l2.id)""")
        pairs = con.execute("SELECT DISTINCT field, value FROM _sv_mr").fetchall()
        con.register("_sv_key_arrow", pa.table({"field": pa.array([p[0] for p in pairs], pa.string()),
                                                "value": pa.array([p[1] for p in pairs], pa.string()),
                                                "key": pa.array([key(*p) for p in pairs], pa.string())}))
        con.execute("""CREATE OR REPLACE TEMP TABLE _sv_gone AS
            WITH m AS (SELECT x.*, k.key FROM _sv_mr x JOIN _sv_key_arrow k ON k.field = x.field AND k.value = x.value)
            SELECT DISTINCT b.id, b.field FROM m b SEMI JOIN m g
                     ON g.cluster_id = b.cluster_id AND g.field = b.field AND g.key = b.key AND NOT g.misread
                     WHERE b.misread""")
        n = _drop_gone(con, record, "misread")
    finally:
        con.unregister("_sv_bad_arrow")
        con.unregister("_sv_key_arrow")  # (a no-op when it was never registered)
        con.execute("DROP TABLE IF EXISTS _sv_mr")
    return int(n)


def other_company_sql() -> str:
    """SQL over two normalized records `l` and `r` (the aliases scoring's SQL uses): they are at two
    different companies -- the companies compared as scoring compares them (`score.COMPANY_LEVEL_SQL`:
    level 0), both written in the same script (a name and its translation, 信州人材サービス /
    Shinshu Staffing, are not compared), and not at one mail domain (one domain is one company
    however its name is written)."""
    from nayose.score import COMPANY_LEVEL_SQL

    script = f"'{_KANJI_RE2}|{_KANA_RE2}'"
    return (f"(({COMPANY_LEVEL_SQL}) = 0 AND regexp_matches(l.company_core, {script}) = regexp_matches(r.company_core, {script})"
            " AND split_part(l.email, '@', 2) IS DISTINCT FROM split_part(r.email, '@', 2))")


NO_ACCOUNT_REASON = "the contact has no account: a lead cannot be converted into it"
OTHER_COMPANY_REASON = "a lead's company is not the contact's account (a job change?)"


def _kept_apart(con: duckdb.DuckDBPyConnection) -> None:
    """`_sv_kept_apart(cluster_id, why)`: the groups holding two business Accounts a rule keeps apart
    (nayose.accounts' account_conflicts: the cluster stage sent them to review), with the first such
    rule and its two Accounts -- the group must not be approved whole."""
    from nayose.accounts import CONFLICT_RULES, CONFLICTS, RULES

    con.execute("CREATE OR REPLACE TEMP TABLE _sv_kept_apart (cluster_id VARCHAR, why VARCHAR)")
    if not table_exists(con, CONFLICTS):
        return
    rules = ", ".join(f"({i}, {_lit(r)}, {_lit(RULES[r][1])})" for i, r in enumerate(CONFLICT_RULES))
    con.execute(f"""INSERT INTO _sv_kept_apart
        SELECT a.cluster_id, arg_min('two Accounts here are kept apart: ' || d.what || ' (' || k.left_id || ' / ' || k.right_id || ')',
                                     (d.i, k.left_id, k.right_id))
        FROM {CONFLICTS} k JOIN (VALUES {rules}) d(i, rule, what) USING (rule)
        JOIN _sv_rec a ON a.id = k.left_id JOIN _sv_rec b ON b.id = k.right_id
        WHERE a.cluster_id = b.cluster_id GROUP BY a.cluster_id""")


def lower_conversions_to_review(con: duckdb.DuckDBPyConnection) -> int:
    """Groups whose Leads would be converted into a Contact master that cannot take them well go to
    review (never auto-applied), with the reason added: a Contact without an account (convertLead
    needs one: an export with an AccountId column and the master's blank), and a Lead whose company
    is another company than the Contact's account (the Contact's Account.Name; compared as scoring
    compares companies, `score.COMPANY_LEVEL_SQL`): a job changer's new card converted into the old
    company's Contact would put the new company's address and title under the old account. Returns
    the groups lowered."""
    cols = {c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()}
    # (joins, not correlated lookups: the Contact-master groups holding a Lead first)
    no_account = (f"""SELECT p.cluster_id, {_lit(NO_ACCOUNT_REASON)} AS why, 0 AS k FROM pairs p
                      JOIN raw_records a ON a."Id" = p.master_id WHERE {_blank_sql('CAST(a."AccountId" AS VARCHAR)')}
                      UNION ALL """ if "AccountId" in cols else "")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_lowered AS
        WITH pairs AS MATERIALIZED (
            SELECT s.cluster_id, s.master_id, g."Id" AS lead_id FROM survivors s
            JOIN group_records g ON g.cluster_id = s.cluster_id AND g.object = 'Lead' WHERE s.object = 'Contact'
        )
        SELECT cluster_id, arg_min(why, k) AS why FROM (
            {no_account}
            SELECT p.cluster_id, {_lit(OTHER_COMPANY_REASON)} AS why, 1 AS k FROM pairs p
            JOIN normalized_records l ON l.id = p.lead_id JOIN normalized_records r ON r.id = p.master_id
            WHERE {other_company_sql()}
        ) GROUP BY cluster_id""")
    try:
        return int(con.execute("""UPDATE survivors s SET status = 'review',
                                      reason = CASE WHEN s.reason IS NULL THEN x.why ELSE s.reason || '; ' || x.why END
                                  FROM _sv_lowered x WHERE x.cluster_id = s.cluster_id""").fetchall()[0][0])
    finally:
        con.execute("DROP TABLE IF EXISTS _sv_lowered")


def with_account_identities(config: Config) -> SurvivorshipConfig:
    """The survivorship rules with a business Account's identities -- its 法人番号, its card service's
    company ID, its customer code (config accounts: corporate_number_fields, company_id_fields,
    account_number_fields) -- kept as the master holds them (keep_master_if_set) unless field_rules
    names the field: a merged Account must not take a duplicate's other 法人番号 (most_recent did)."""
    sv = config.survivorship
    a = config.accounts
    identities = [*a.corporate_number_fields, *a.company_id_fields, *a.account_number_fields]
    missing = [f for f in identities if f not in sv.field_rules]
    if not missing:
        return sv
    return sv.model_copy(update={"field_rules": {**sv.field_rules, **{f: "keep_master_if_set" for f in missing}}})


def survive(con: duckdb.DuckDBPyConnection, config: Config) -> StageResult:
    """Write `survivors`, `surviving_fields` and `group_records` (see the module doc)."""
    result = StageResult(stage="survive", table="survivors")
    with timed(result), fine_grained_scans(con, table_rows(con, "clusters")):
        sv = with_account_identities(config)
        cols = [c[0] for c in con.execute('DESCRIBE "raw_records"').fetchall()]
        fields = considered_fields(cols, sv)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _sv_rec AS
            SELECT c.cluster_id, c.status, r."Id" AS id, r."Object" AS object,
                   epoch(n.created_date) AS created, epoch(n.last_modified_date) AS modified,
                   coalesce({card_sql(con, config)}, false) AS is_card, {person_account_sql(con)} AS is_person
            FROM clusters c
            JOIN raw_records r ON r."Id" = c."Id"
            JOIN normalized_records n ON n.rec_idx = c.rec_idx
            WHERE c.status IN ('auto', 'review')
        """)
        # Business Accounts merged without review (nayose.accounts): Contacts under two of them are
        # under one company's Account.
        accounts = table_exists(con, "normalized_accounts")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _sv_account_groups AS
            SELECT left(c."Id", 15) AS id15, c.cluster_id AS account_group FROM clusters c
            {'SEMI JOIN normalized_accounts a ON a.rec_idx = c.rec_idx' if accounts else ''}
            WHERE c.status = 'auto' AND {'true' if accounts else 'false'}""")
        _kept_apart(con)
        long_values(
            con, 'SELECT r."Id" AS __id, r.* EXCLUDE ("Id") FROM raw_records r SEMI JOIN _sv_rec s ON s.id = r."Id"', fields)
        # (what is set aside is kept: the plan's card check must not count it as a card value overwritten)
        con.execute("CREATE OR REPLACE TEMP TABLE _sv_ignored (id VARCHAR, field VARCHAR, reason VARCHAR)")
        placeholders = drop_placeholder_values(con, config, "_sv_ignored")
        misread = drop_misread_values(con, "_sv_ignored")
        malformed = drop_malformed_values(con, "_sv_ignored")
        con.execute("""CREATE OR REPLACE TABLE ignored_values AS
            SELECT r.cluster_id, i.id AS "Id", i.field, i.reason FROM _sv_ignored i JOIN _sv_rec r ON r.id = i.id
            ORDER BY 1, 2, 3""")
        con.execute("DROP TABLE _sv_ignored")
        run_survive_sql(con, fields, sv)
        lower_conversions_to_review(con)
        for t in ("_sv_rec", "_sv_long0", "_sv_account_groups", "_sv_kept_apart"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        statuses = dict(con.execute("SELECT status, count(*) FROM survivors GROUP BY status ORDER BY status").fetchall())
        result.rows = sum(statuses.values())
        lowered, = con.execute("SELECT count(*) FROM survivors WHERE reason IS NOT NULL").fetchall()[0]
        n_fields, n_card = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE rule LIKE '%business_card%') FROM surviving_fields").fetchall()[0]
        result.stats = {"groups": statuses, "lowered_to_review": int(lowered), "fields": int(n_fields),
                        "card_fields": int(n_card), "placeholder_values_ignored": placeholders,
                        "misread_values_ignored": misread, "malformed_values_ignored": malformed}
    return result


def survive_group(cluster_id: str, status: str, recs: list[Rec], config: SurvivorshipConfig) -> GroupResult:
    """Master and surviving values of one group held in memory (the same SQL as the stage, on a
    private in-memory DuckDB). `recs[i].values` holds the considered fields in column order."""
    fields: list[str] = []
    for r in recs:
        for f in r.values:
            if f not in fields:
                fields.append(f)
    con = duckdb.connect(":memory:")
    try:
        rec_table = pa.table({
            "cluster_id": pa.array([cluster_id] * len(recs), pa.string()),
            "status": pa.array([status] * len(recs), pa.string()),
            "id": pa.array([r.id for r in recs], pa.string()),
            "object": pa.array([r.object for r in recs], pa.string()),
            "created": pa.array([r.created for r in recs], pa.float64()),
            "modified": pa.array([r.modified for r in recs], pa.float64()),
            "is_card": pa.array([bool(r.is_card) for r in recs], pa.bool_()),
            "is_person": pa.array([bool(r.is_person) for r in recs], pa.bool_()),
        })
        long = [(r.id, f, v if v is None else str(v)) for r in recs for f, v in r.values.items() if not blank(v)]
        long_table = pa.table({
            "id": pa.array([x[0] for x in long], pa.string()),
            "field": pa.array([x[1] for x in long], pa.string()),
            "value": pa.array([x[2] for x in long], pa.string()),
        })
        con.register("_rec_arrow", rec_table)
        con.register("_long_arrow", long_table)
        con.execute("CREATE TEMP TABLE _sv_rec AS SELECT * FROM _rec_arrow")
        con.execute("CREATE TEMP TABLE _sv_long0 AS SELECT * FROM _long_arrow")
        run_survive_sql(con, fields, config)
        cid, master_id, obj, st, reason = con.execute(
            "SELECT cluster_id, master_id, object, status, reason FROM survivors").fetchall()[0]
        out = {f: FieldValue(v, src, rule) for f, v, src, rule in con.execute(
            "SELECT field, value, from_id, rule FROM surviving_fields ORDER BY ord").fetchall()}
    finally:
        con.close()
    return GroupResult(cid, master_id, obj, st, reason, sorted(recs, key=lambda r: r.id), out)
