"""Duplicate business Accounts: the same company entered twice (株式会社ABC / ABC(株) / ＡＢＣ㈱ at one
switchboard, a card tool's import beside a sales rep's entry).

People are matched by a learned model on person-level evidence (nayose.score), and a company's
name, switchboard and address never make a match of two people there. For Accounts those *are*
the evidence, so business Accounts (Object Account, not Person Accounts, not deleted) are matched
here, with each other only, by explicit rules a reviewer can read (config `accounts:`):

* **corporate_number** — the same 法人番号 (13 digits whose check digit holds, in a custom field) is
  one legal entity: auto. Two different numbers are two entities, whatever their names (no pair); a
  number failing its check digit is a typo, not an identity (not used; counted).
* **company_id** — the same business-card service company ID (Sansan's): auto.
* **same_name_and_contact** — the same name (core without the legal form; 株式会社ABC = ABC(株); or
  the same reading, 山田製作所 = やまだ製作所) and a contact point in common (switchboard, website
  domain, or the postal code when no switchboard or website disagrees): auto.
* **review** — the same name with nothing else to compare, or with a contact point that differs in
  the same prefecture (a company that moved); the same name at one postal code with another
  switchboard or website (a postal code covers a block or a building: a namesake nearby); the same
  name in another script by its sound only (Green Medical / グリーンメディカル); another Japanese legal form at a common switchboard or domain
  (有限会社 reorganised as 株式会社); a name almost the same (a typo: 製作所 / 制作所; across scripts by
  reading) at a common switchboard or domain; head office against a branch when `branch_accounts`
  is review.
* **never** — two branches (東京支店 / 大阪支店: kept apart on purpose), head office and branch (by
  default), an Account and its parent (ParentId: a hierarchy), two 法人番号, the same name with every
  contact point different in another prefecture (a namesake), two kanji names read alike (旭 / 朝日),
  and different names sharing a switchboard or a domain (group companies).

Writes `account_pairs(left_idx, right_idx, left_id, right_id, match_probability, decision, rule,
evidence)` — the pairs to group (auto or review; left_id < right_id) with the rule that decided
and what agreed —, `account_conflicts(left_idx, right_idx, left_id, right_id, rule)` — the pairs a
rule keeps apart for certain (`CONFLICT_RULES`: two 法人番号, a parent, two offices, a namesake
elsewhere, two AccountNumbers): a group their other links chain together is never merged without
review (cluster's chaining guard), and says why (survivorship's reason) — and
`normalized_accounts` (what was compared). The cluster stage groups them with
the people's scored pairs (a business Account never pairs with a person, so its groups are of
Accounts alone) and survivorship plans them as Account merges.

Per distinct value in Python (names, phones), per pair in DuckDB SQL: Accounts are a fraction of
an org's records, and only Accounts sharing a key are compared.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import Indel

from nayose.config import Config
from nayose.normalize import (canonical_prefecture, company_identity, is_name_placeholder, name_placeholder_key,
                              normalize_phone, normalize_postal, person_account_sql, read_only_record_sql)
from nayose.stage import StageResult, timed
from nayose.store import drop_tables, table_exists
from nayose.values import map_values

STAGE = "accounts"
TARGET = "account_pairs"

#: rule -> (decision, what it means); the order is the order the rules are tried in.
RULES: dict[str, tuple[str, str]] = {
    "parent_account": ("never", "one is the other's parent Account (a hierarchy is kept)"),
    "other_corporate_number": ("never", "different corporate numbers (two legal entities)"),
    "other_branch": ("never", "two different offices of one company (branch Accounts are kept apart)"),
    "corporate_number": ("auto", "the same corporate number (法人番号)"),
    "company_id": ("auto", "the same business-card service company ID"),
    "head_office_and_branch": ("review", "the same company, one of them a branch (config branch_accounts: review)"),
    "branch_account": ("never", "the same company, one of them a branch (branch Accounts are kept: branch_accounts)"),
    "other_legal_form": ("review", "the same name with another legal form at a common switchboard or domain"),
    "other_legal_form_elsewhere": ("never", "the same name with another legal form, no common switchboard or domain"),
    "same_name_postal_only": ("review", "the same name at one postal code, but another switchboard or website (a namesake nearby?)"),
    "same_name_and_contact": ("auto", "the same name and a common switchboard, website domain or postal code"),
    "same_reading_and_contact": ("auto", "the same name in another script (its reading) and a common contact point"),
    "same_sound_and_contact": ("review", "the same name by its sound only (ABC / エービーシー) and a common contact point"),
    "namesake_elsewhere": ("never", "the same name, every contact point different, another prefecture"),
    "same_name_other_contact": ("review", "the same name, contact points different (a move?)"),
    "same_name_nothing_else": ("review", "the same name and nothing else to compare"),
    "similar_name_and_contact": ("review", "almost the same name (a typo?) and a common switchboard or domain"),
    "different_names": ("never", "different names (a shared switchboard or domain is a group's)"),
    # (not a WHEN branch: an auto pair whose AccountNumbers differ is lowered to this)
    "other_account_number": ("review", "an auto rule's pair, but two different AccountNumbers (customer codes)"),
}

#: The rules that say two Accounts are two companies (or offices) for certain: every "never" rule but
#: different_names (one company's two names, a translation the readings miss, can be linked through a
#: third Account), and two AccountNumbers (customer codes) on any pair compared. A group of Accounts
#: holding such a pair, however its other links chain it (A = B by a switchboard, B = C by a website,
#: A and C two 法人番号), goes to review with the rule as its reason.
CONFLICT_RULES: tuple[str, ...] = tuple(
    r for r, (decision, _) in RULES.items() if decision == "never" and r != "different_names") + ("other_account_number",)

#: The table of those pairs (match_accounts writes it beside account_pairs).
CONFLICTS = "account_conflicts"

_DOMAIN_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]*@)?(?:www\d?\.)?([^/:?#\s]+)")
_DIGITS_RE = re.compile(r"\D+")


def website_domain(value: str | None) -> str | None:
    """https://www.ABC.co.jp/company/ -> abc.co.jp (NFKC, lower case, no scheme, www, port or path)."""
    if value is None:
        return None
    t = unicodedata.normalize("NFKC", value).strip().lower()
    m = _DOMAIN_RE.match(t)
    host = m.group(1).strip(".") if m else ""
    return host if "." in host else None


def corporate_check_digit(base: str) -> int:
    """The check digit of a 法人番号's twelve base digits (National Tax Agency: 9 − (Σ Pn × Qn mod 9),
    Pn the n-th digit from the right, Qn 1 for odd n and 2 for even n); it is written in front."""
    return 9 - sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(base), 1)) % 9


def corporate_number_valid(digits: str) -> bool:
    """Whether 13 digits are a 法人番号 by its check digit: 7000012050002 (国税庁's own) is one, a digit
    mistyped or two swapped is not."""
    return len(digits) == 13 and digits.isdigit() and int(digits[0]) == corporate_check_digit(digits[1:])


def corporate_number(value: str | None) -> str | None:
    """A 法人番号: 13 digits (hyphens, spaces, full-width digits allowed) whose check digit holds, else
    None -- a mistyped number is no identity (it would keep two entries of one company apart as two
    legal entities); `match_accounts` counts them (`invalid_corporate_numbers`)."""
    if value is None:
        return None
    digits = _DIGITS_RE.sub("", unicodedata.normalize("NFKC", value))
    return digits if corporate_number_valid(digits) else None


def _empty(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """The table exists and holds no row."""
    return table_exists(con, table) and not con.execute(f"SELECT count(*) FROM {_q(table)}").fetchall()[0][0]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first(cols: dict[str, str], names: list[str]) -> str | None:
    for n in names:
        if n.lower() in cols:
            return cols[n.lower()]
    return None


def _text(alias: str, col: str | None) -> str:
    return f"nullif(trim(CAST({alias}.{_q(col)} AS VARCHAR)), '')" if col else "CAST(NULL AS VARCHAR)"


def _mapped(values: pa.Array, fn) -> pa.Array:
    """fn over the distinct non-null values of `values` (in a forked child for many), joined back."""
    enc = values.dictionary_encode() if not pa.types.is_dictionary(values.type) else values
    out = map_values(fn, enc.dictionary.to_pylist())
    return pa.array(np.asarray(out + [None], dtype=object)[np.where(enc.indices.is_null().to_numpy(zero_copy_only=False),
                                                                      len(out), enc.indices.fill_null(0).to_numpy())],
                    pa.string())


def _accounts_table(con: duckdb.DuckDBPyConnection, config: Config, only: str | None = None) -> tuple[pa.Table, int] | None:
    """The business Accounts to compare (normalized_accounts' columns), and how many of them carry a
    corporate number that is none (`corporate_number`); None when there is no business Account.
    `only`: a table of ids (column id) to read, the others are left out."""
    cols = {c[0].lower(): c[0] for c in con.execute("DESCRIBE raw_records").fetchall()}
    if "name" not in cols:
        return None
    ac = config.accounts
    not_person = f"NOT {person_account_sql(cols, 'r')}"
    read_only = read_only_record_sql(cols, "r")
    where = f"r.\"Object\" = 'Account' AND {not_person}" + (f" AND NOT {read_only}" if read_only else "")
    if only is not None:
        where += f' AND r."Id" IN (SELECT id FROM {_q(only)})'
    addr = [(_first(cols, [f"{p}PostalCode"]), _first(cols, [f"{p}State"])) for p in ac.address_prefixes]
    postal = "coalesce(" + ", ".join([_text("r", p) for p, _ in addr] + ["NULL"]) + ")"
    state = "coalesce(" + ", ".join([_text("r", s) for _, s in addr] + ["NULL"]) + ")"
    t = con.sql(f"""
        SELECT n.rec_idx, r."Id" AS id, {_text('r', cols['name'])} AS name,
               {_text('r', _first(cols, ac.phone_fields))} AS phone_raw,
               {_text('r', _first(cols, ac.website_fields))} AS website_raw,
               {postal} AS postal_raw, {state} AS state_raw,
               {_text('r', _first(cols, ac.corporate_number_fields))} AS corp_raw,
               {_text('r', _first(cols, ac.company_id_fields))} AS company_id,
               left({_text('r', cols.get('parentid'))}, 15) AS parent15,
               upper({_text('r', _first(cols, ac.account_number_fields))}) AS account_number
        FROM raw_records r JOIN normalized_records n ON n.id = r."Id"
        WHERE {where}
    """).to_arrow_table()
    if t.num_rows == 0:
        return None
    placeholders = {name_placeholder_key(p) for p in config.input.company_placeholders}

    def name_parts(v: str) -> tuple:
        if is_name_placeholder(v, placeholders):
            return (None,) * 5
        return company_identity(v)

    enc = t.column("name").combine_chunks().dictionary_encode()
    parts = map_values(name_parts, enc.dictionary.to_pylist())
    idx = enc.indices.fill_null(len(parts)).to_numpy()
    parts.append((None,) * 5)
    columns = {}
    for k, label in enumerate(("core", "legal_form", "reading", "sound", "office")):
        columns[label] = pa.array(np.asarray([p[k] for p in parts], dtype=object)[idx], pa.string())
    columns["phone"] = _mapped(t.column("phone_raw").combine_chunks(), lambda v: normalize_phone(v)[0])
    columns["domain"] = _mapped(t.column("website_raw").combine_chunks(), website_domain)
    columns["postal"] = _mapped(t.column("postal_raw").combine_chunks(), normalize_postal)
    columns["state"] = _mapped(t.column("state_raw").combine_chunks(), canonical_prefecture)
    columns["corporate_number"] = _mapped(t.column("corp_raw").combine_chunks(), corporate_number)
    # (a number written but not a 法人番号 -- a typo, another code in the field -- is counted, not used)
    given = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(t.column("corp_raw")), ""), False)
    invalid = int(pc.sum(pc.and_(given, pc.is_null(columns["corporate_number"]))).as_py() or 0)
    columns["legal_family"] = _mapped(columns["legal_form"], legal_family)
    out = t.select(["rec_idx", "id", "name", "company_id", "parent15", "account_number"])
    for name, arr in columns.items():
        out = out.append_column(name, arr)
    return out, invalid


_FAMILY_OF = {"kk": "株式会社", "yk": "有限会社", "gk": "合同会社"}


def legal_family(form: str | None) -> str | None:
    """The legal form two names can disagree on: a Japanese one (株式会社, 有限会社, 一般社団法人 …; K.K.,
    Y.K., G.K. are theirs), else None -- an English Co., Ltd., Inc. or Corporation translates any of
    them (a 株式会社 writes itself ABC Co., Ltd. as often as ABC Inc.), so it never disagrees."""
    if not form:
        return None
    for token in form.split(" "):
        if token in _FAMILY_OF:
            return _FAMILY_OF[token]
        if not token.isascii():
            return token
    return None


_KANJI_RE2 = "'[\u3400-\u9fff]'"


def _reading_agrees_sql(a: str, b: str) -> str:
    """SQL: the names of `a` and `b` (rows with core and reading) read alike across scripts -- never two
    names both written in kanji: read alike, 旭自動車 / 朝日自動車 are two companies."""
    return (f"({a}.reading = {b}.reading AND length({a}.reading) >= 3 "
            f"AND NOT (regexp_matches({a}.core, {_KANJI_RE2}) AND regexp_matches({b}.core, {_KANJI_RE2})))")


_PAIR_KEYS = ("corporate_number", "company_id", "core", "reading", "sound", "phone", "domain")


def match_accounts(con: duckdb.DuckDBPyConnection, config: Config, target: str = TARGET,
                   changed: str | None = None) -> StageResult:
    """Write `target`, account_conflicts and normalized_accounts (see the module docstring).

    With `changed` -- a table of the ids (column id) new, changed or deleted since the previous run,
    whose tables are in the store (an incremental run) -- only those Accounts are read and
    normalized again, and only the candidate pairs that touch one of them or lie in a block one of
    them is (or was) in are decided again: a pair's decision depends on its two Accounts only, and a
    pair is a candidate or not by its blocks' members. The other rows stay; the tables equal a full
    run's. The stage's rule counts are then of the pairs decided again."""
    result = StageResult(stage=STAGE, table=target)
    th = config.matching.thresholds
    auto_p, review_p = max(th.auto, 0.999), th.review
    with timed(result):
        stored = all(table_exists(con, t) for t in ("normalized_accounts", target, CONFLICTS))
        if changed is not None and not stored:
            changed = None  # (no previous tables to keep: everything is matched)
        found = _accounts_table(con, config, only=changed) if config.accounts.enabled else None
        accounts, invalid = found if found is not None else (None, 0)
        stats: dict = {"accounts": 0, "candidate_pairs": 0, "skipped_blocks": {}, "pairs": {}, "rules": {}, "conflicts": 0}
        if accounts is None and _empty(con, "normalized_accounts") and _empty(con, target):
            # (no Account now nor before: nothing to write -- an incremental run's few milliseconds)
            result.stats = stats
            return result
        full = changed is None or not config.accounts.enabled
        if full:
            con.execute("""CREATE OR REPLACE TABLE normalized_accounts (rec_idx INTEGER, id VARCHAR, name VARCHAR,
                company_id VARCHAR, parent15 VARCHAR, core VARCHAR, legal_form VARCHAR, reading VARCHAR, sound VARCHAR,
                office VARCHAR, phone VARCHAR, domain VARCHAR, postal VARCHAR, state VARCHAR, corporate_number VARCHAR,
                legal_family VARCHAR, account_number VARCHAR)""")
            con.execute(f"""CREATE OR REPLACE TABLE {_q(target)} (left_idx INTEGER, right_idx INTEGER, left_id VARCHAR,
                right_id VARCHAR, match_probability DOUBLE, decision VARCHAR, rule VARCHAR, evidence VARCHAR)""")
            con.execute(f"""CREATE OR REPLACE TABLE {CONFLICTS} (left_idx INTEGER, right_idx INTEGER, left_id VARCHAR,
                right_id VARCHAR, rule VARCHAR)""")
        else:
            # The blocks the changed Accounts were in, before their rows go.
            con.execute(f"CREATE OR REPLACE TEMP TABLE _acct_was AS {_keys_sql('normalized_accounts')} "
                        f"SEMI JOIN {_q(changed)} c ON c.id = normalized_accounts.id")
            con.execute(f"DELETE FROM normalized_accounts WHERE id IN (SELECT id FROM {_q(changed)})")
        if accounts is not None:
            con.register("_acct_arrow", accounts)
            con.execute("INSERT INTO normalized_accounts BY NAME SELECT * FROM _acct_arrow")
            con.unregister("_acct_arrow")
        if full:
            if accounts is not None:
                stats["accounts"] = accounts.num_rows
                stats["invalid_corporate_numbers"] = invalid
                _pairs(con, config, target, auto_p, review_p, stats)
        else:
            stats["invalid_corporate_numbers_changed"] = invalid
            _pairs(con, config, target, auto_p, review_p, stats, changed=changed)
            drop_tables(con, "_acct_was")
            stats["accounts"] = int(con.execute("SELECT count(*) FROM normalized_accounts").fetchall()[0][0])
        result.rows = int(con.execute(f"SELECT count(*) FROM {_q(target)}").fetchall()[0][0])
        result.stats = stats
    return result


def _keys_sql(table: str) -> str:
    """SQL: (rec_idx, id, kind, key) of every blocking key of the Accounts in `table` (aliased `table`)."""
    return "SELECT * FROM (" + " UNION ALL ".join(
        f"SELECT rec_idx, id, '{k}' AS kind, {k} AS key FROM {table} WHERE {k} IS NOT NULL"
        + (" AND length(reading) >= 3" if k == "reading" else "")
        for k in _PAIR_KEYS
    ) + f") {table}"


def _pairs(con: duckdb.DuckDBPyConnection, config: Config, target: str, auto_p: float, review_p: float,
           stats: dict, changed: str | None = None) -> None:
    """Decide the candidate pairs into `target` and CONFLICTS (all of them; with `changed`, those the
    changed Accounts touch -- see match_accounts -- replacing their rows, `_acct_was` holding the
    changed Accounts' previous keys)."""
    cap = config.accounts.max_block_size
    con.execute(f"CREATE OR REPLACE TEMP TABLE _acct_keys AS SELECT rec_idx, kind, key FROM ({_keys_sql('normalized_accounts')})")
    skipped = con.execute(f"""SELECT kind, count(*) FROM (SELECT kind, key FROM _acct_keys GROUP BY ALL
                              HAVING count(*) > {int(cap)}) GROUP BY kind ORDER BY kind""").fetchall()
    stats["skipped_blocks"] = {k: int(n) for k, n in skipped}
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _acct_cand AS
        WITH k AS (SELECT * FROM _acct_keys QUALIFY count(*) OVER (PARTITION BY kind, key) <= {int(cap)})
        SELECT DISTINCT CASE WHEN a.id < b.id THEN a.rec_idx ELSE b.rec_idx END AS l,
                        CASE WHEN a.id < b.id THEN b.rec_idx ELSE a.rec_idx END AS r
        FROM k x JOIN k y ON x.kind = y.kind AND x.key = y.key AND x.rec_idx < y.rec_idx
        JOIN normalized_accounts a ON a.rec_idx = x.rec_idx JOIN normalized_accounts b ON b.rec_idx = y.rec_idx
    """)
    stats["candidate_pairs"] = int(con.execute("SELECT count(*) FROM _acct_cand").fetchall()[0][0])
    if changed is not None:
        # Decided again: the candidates touching a changed Account, and those in a block a changed
        # Account is or was in (a block crossing max_block_size makes or unmakes its pairs); their
        # previous rows, and every row of such a block, go first.
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _acct_now AS
            SELECT rec_idx FROM normalized_accounts WHERE id IN (SELECT id FROM {_q(changed)})""")
        con.execute("""CREATE OR REPLACE TEMP TABLE _acct_touched AS
            SELECT DISTINCT kind, key FROM _acct_was
            UNION SELECT DISTINCT k.kind, k.key FROM _acct_keys k SEMI JOIN _acct_now USING (rec_idx)""")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _acct_redo AS
            SELECT DISTINCT x.rec_idx AS l, y.rec_idx AS r
            FROM _acct_keys x JOIN _acct_keys y ON x.kind = y.kind AND x.key = y.key AND x.rec_idx <> y.rec_idx
            SEMI JOIN _acct_touched t ON t.kind = x.kind AND t.key = x.key""")
        gone = f"""(left_id IN (SELECT id FROM {_q(changed)}) OR right_id IN (SELECT id FROM {_q(changed)})
                    OR (left_idx, right_idx) IN (SELECT (l, r) FROM _acct_redo))"""
        for t in (target, CONFLICTS):
            con.execute(f"DELETE FROM {_q(t)} WHERE {gone}")
        con.execute("""CREATE OR REPLACE TEMP TABLE _acct_cand AS SELECT c.* FROM _acct_cand c
            WHERE c.l IN (SELECT rec_idx FROM _acct_now) OR c.r IN (SELECT rec_idx FROM _acct_now)
               OR (c.l, c.r) IN (SELECT (l, r) FROM _acct_redo)""")
        drop_tables(con, "_acct_now", "_acct_touched", "_acct_redo")
    cand = con.sql("""SELECT c.l, c.r, coalesce(a.core, '') AS ac, coalesce(b.core, '') AS bc,
                             coalesce(a.reading, '') AS ar, coalesce(b.reading, '') AS br
                      FROM _acct_cand c
                      JOIN normalized_accounts a ON a.rec_idx = c.l JOIN normalized_accounts b ON b.rec_idx = c.r
                      ORDER BY c.l, c.r""").to_arrow_table()

    def ratio(x: str, y: str) -> np.ndarray:
        if not cand.num_rows:
            return np.zeros(0)
        return np.asarray(process.cpdist(cand.column(x).to_pylist(), cand.column(y).to_pylist(),
                                         scorer=Indel.normalized_similarity, processor=None, workers=1), dtype=float) * 100

    # (names in two scripts, 銀座システム / Ginza Systems, are compared by their readings)
    con.register("_acct_sim_arrow", pa.table({"l": cand.column("l"), "r": cand.column("r"),
                                              "name_ratio": pa.array(ratio("ac", "bc")),
                                              "reading_ratio": pa.array(ratio("ar", "br"))}))
    both = "a.{0} IS NOT NULL AND b.{0} IS NOT NULL"
    same = "(a.{0} = b.{0})"
    diff = "(a.{0} <> b.{0})"
    s = {"reading_only": "(a.reading = b.reading AND a.core <> b.core)"}
    s |= {k: same.format(k) for k in ("corporate_number", "company_id", "core", "reading", "phone", "domain", "postal", "office",
                                       "legal_family", "state")}
    d = {k: diff.format(k) for k in ("corporate_number", "core", "phone", "domain", "postal", "office", "legal_family", "state")}
    contact = f"coalesce({s['phone']} OR {s['domain']} OR {s['postal']}, false)"
    switchboard = f"coalesce({s['phone']} OR {s['domain']}, false)"
    compared = f"({both.format('phone')} OR {both.format('domain')} OR {both.format('postal')})"
    same_name = f"coalesce({s['core']}, false)"
    same_reading = f"coalesce({_reading_agrees_sql('a', 'b')}, false)"
    cross_sound = "coalesce(a.sound = b.sound AND left(a.sound, 1) <> left(b.sound, 1), false)"
    named = f"({same_name} OR {same_reading} OR {cross_sound})"
    ratio = float(config.accounts.similar_name_ratio)
    same_script = "(regexp_matches(a.core, '^[a-z0-9 &.-]+$') = regexp_matches(b.core, '^[a-z0-9 &.-]+$'))"
    branch = "'head_office_and_branch'" if config.accounts.branch_accounts == "review" else "'branch_account'"
    # (the order of the WHEN branches is the order of RULES)
    rule_sql = f"""CASE
        WHEN a.parent15 = left(b.id, 15) OR b.parent15 = left(a.id, 15) THEN 'parent_account'
        WHEN coalesce({d['corporate_number']}, false) THEN 'other_corporate_number'
        WHEN coalesce({d['office']}, false) AND ({named} OR coalesce({s['corporate_number']}, false)) THEN 'other_branch'
        WHEN coalesce({s['corporate_number']}, false) THEN
             CASE WHEN (a.office IS NULL) <> (b.office IS NULL) THEN {branch} ELSE 'corporate_number' END
        WHEN coalesce({s['company_id']}, false) THEN
             CASE WHEN (a.office IS NULL) <> (b.office IS NULL) THEN {branch} ELSE 'company_id' END
        WHEN {named} AND (a.office IS NULL) <> (b.office IS NULL) THEN {branch}
        WHEN {named} AND coalesce({d['legal_family']}, false) THEN
             CASE WHEN {switchboard} THEN 'other_legal_form' ELSE 'other_legal_form_elsewhere' END
        WHEN {named} AND {contact} AND NOT {switchboard} AND coalesce({d['phone']} OR {d['domain']}, false)
             AND ({same_name} OR {same_reading}) THEN 'same_name_postal_only'
        WHEN {named} AND {contact} THEN
             CASE WHEN {same_name} THEN 'same_name_and_contact' WHEN {same_reading} THEN 'same_reading_and_contact'
                  ELSE 'same_sound_and_contact' END
        WHEN {named} AND {compared} THEN
             CASE WHEN coalesce({d['state']}, false) THEN 'namesake_elsewhere'
                  WHEN {same_name} OR {same_reading} THEN 'same_name_other_contact' ELSE 'different_names' END
        WHEN {same_name} OR {same_reading} THEN 'same_name_nothing_else'
        WHEN {switchboard} AND length(a.core) >= 4 AND length(b.core) >= 4
             AND CASE WHEN {same_script}
                      -- (ABC / ABCホールディングス: a group company's name is another's and a word)
                      THEN x.name_ratio >= {ratio!r} AND NOT starts_with(a.core, b.core) AND NOT starts_with(b.core, a.core)
                      ELSE x.reading_ratio >= {ratio!r} END THEN 'similar_name_and_contact'
        ELSE 'different_names'
    END"""
    evidence = "concat_ws('; ', " + ", ".join(
        f"CASE WHEN {s[k]} THEN '{label}' END"
        for k, label in (("corporate_number", "corporate number"), ("company_id", "company ID"), ("core", "name"),
                         ("reading_only", "reading"), ("phone", "switchboard"), ("domain", "website"), ("postal", "postal code"),
                         ("state", "prefecture"))
    ) + ")"
    decisions = ", ".join(f"('{r}', '{dec}')" for r, (dec, _) in RULES.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _acct_decided AS
        SELECT c.l AS left_idx, c.r AS right_idx, a.id AS left_id, b.id AS right_id, {rule_sql} AS rule,
               {evidence} AS evidence, coalesce(a.account_number <> b.account_number, false) AS other_number
        FROM _acct_cand c JOIN _acct_sim_arrow x ON x.l = c.l AND x.r = c.r
        JOIN normalized_accounts a ON a.rec_idx = c.l JOIN normalized_accounts b ON b.rec_idx = c.r
    """)
    con.unregister("_acct_sim_arrow")
    con.execute(f"""
        INSERT INTO {_q(target)}
        SELECT left_idx, right_idx, left_id, right_id,
               CASE WHEN d.decision = 'auto' AND NOT x.other_number THEN {auto_p!r} ELSE {review_p!r} END,
               CASE WHEN d.decision = 'auto' AND x.other_number THEN 'review' ELSE d.decision END,
               CASE WHEN d.decision = 'auto' AND x.other_number THEN 'other_account_number' ELSE x.rule END, x.evidence
        FROM _acct_decided x JOIN (VALUES {decisions}) d(rule, decision) USING (rule)
        WHERE d.decision <> 'never' ORDER BY left_id, right_id
    """)
    hard = ", ".join(f"'{r}'" for r in CONFLICT_RULES)
    con.execute(f"""
        INSERT INTO {CONFLICTS}
        SELECT left_idx, right_idx, left_id, right_id, CASE WHEN rule IN ({hard}) THEN rule ELSE 'other_account_number' END
        FROM _acct_decided WHERE rule IN ({hard}) OR other_number ORDER BY left_id, right_id
    """)
    stats["conflicts"] = int(con.execute(f"SELECT count(*) FROM {CONFLICTS}").fetchall()[0][0])
    stats["rules"] = {r: int(n) for r, n in con.execute(
        "SELECT rule, count(*) FROM _acct_decided GROUP BY rule ORDER BY rule").fetchall()}
    lowered = con.execute(f"SELECT count(*) FROM {_q(target)} WHERE rule = 'other_account_number'").fetchall()[0][0]
    if lowered:  # (counted under the rule that matched them, and here)
        stats["rules"]["other_account_number"] = int(lowered)
    stats["pairs"] = {dec: int(n) for dec, n in con.execute(
        f"SELECT decision, count(*) FROM {_q(target)} GROUP BY 1 ORDER BY 1").fetchall()}
    drop_tables(con, "_acct_keys", "_acct_cand", "_acct_decided")



# ---------------------------------------------------------------------------------------------
# Leads at existing Accounts

LEAD_RULES: dict[str, str] = {
    "company_and_contact": "the Lead's company is the Account's name and a contact point agrees "
                           "(its mail domain is the Account's website, its phone the switchboard, or its postal code)",
    "company_name_only": "the Lead's company is the name of one Account and nothing disagrees",
}


#: The columns of lead_accounts (leads_at_accounts).
LEAD_ACCOUNTS_COLUMNS = ("lead_id VARCHAR, account_id VARCHAR, account_name VARCHAR, lead_company VARCHAR, rule VARCHAR, "
                         "agrees VARCHAR, accounts_named INTEGER")


def leads_at_accounts(con: duckdb.DuckDBPyConnection, target: str = "lead_accounts") -> int:
    """Write `target(lead_id, account_id, account_name, lead_company, rule, agrees, accounts_named)`:
    Leads that no group converts (single, or in a group of Leads only) whose company is an existing
    business Account -- a customer's new inquiry or card, to route to the Account's owner or convert
    into it. The Account is the master of its group when the Accounts' group is merged (auto), the
    Account itself otherwise; a name several Accounts (not one group) carry is decided only by a
    contact point. A worklist for the analyst: nothing in it is applied. Reads normalized_records,
    normalized_accounts, clusters and survivors (run after survivorship); returns its rows."""
    con.execute(f"CREATE OR REPLACE TABLE {_q(target)} ({LEAD_ACCOUNTS_COLUMNS})")
    if not table_exists(con, "normalized_accounts") or not con.execute("SELECT count(*) FROM normalized_accounts").fetchall()[0][0]:
        return 0
    # the Leads' legal forms as the Accounts' are compared (legal_family, over the few distinct forms)
    forms = [f for (f,) in con.execute("""SELECT DISTINCT company_legal_form FROM normalized_records
                                          WHERE object = 'Lead' AND company_legal_form IS NOT NULL""").fetchall()]
    con.register("_lead_family_arrow", pa.table({"form": pa.array(forms, pa.string()),
                                                 "family": pa.array([legal_family(f) for f in forms], pa.string())}))
    con.execute(f"""
        INSERT INTO {_q(target)}
        WITH leads AS (
            SELECT n.id, n.company_core AS core, n.company_reading AS reading, lf.family,
                   CASE WHEN NOT coalesce(n.email_is_freemail, false) AND NOT coalesce(n.email_is_role, false)
                        THEN n.email_domain END AS domain,
                   n.phone, n.postal_code AS postal
            FROM normalized_records n JOIN clusters c USING (rec_idx)
            LEFT JOIN _lead_family_arrow lf ON lf.form = n.company_legal_form
            WHERE n.object = 'Lead' AND n.company_core IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM group_records g WHERE g.cluster_id = c.cluster_id AND g.object <> 'Lead')
        ),
        accounts AS (  -- (an Account of a merged group stands for its master)
            SELECT a.*, CASE WHEN c.status = 'auto' AND s.master_id IS NOT NULL THEN s.master_id ELSE a.id END AS target
            FROM normalized_accounts a JOIN clusters c USING (rec_idx) LEFT JOIN survivors s USING (cluster_id)
            WHERE a.core IS NOT NULL
        ),
        named AS (  -- (two equi-joins: an OR in one join condition would compare every Lead with every Account)
            SELECT l.id AS lead_id, a.id AS account_id FROM leads l JOIN accounts a ON a.core = l.core
            UNION
            SELECT l.id, a.id FROM leads l JOIN accounts a ON a.reading = l.reading AND {_reading_agrees_sql('l', 'a')}
        ),
        cand AS (
            SELECT l.id AS lead_id, a.target, l.core AS lead_core,
                   coalesce(a.domain = l.domain OR ends_with(l.domain, '.' || a.domain), false) AS same_domain,
                   coalesce(a.phone = l.phone, false) AS same_phone, coalesce(a.postal = l.postal, false) AS same_postal,
                   coalesce(l.domain <> a.domain AND NOT ends_with(l.domain, '.' || a.domain), false)
                       OR coalesce(l.family <> a.legal_family, false)
                       OR (coalesce(l.phone <> a.phone, false) AND coalesce(l.postal <> a.postal, false)) AS disagrees
            FROM named n JOIN leads l ON l.id = n.lead_id JOIN accounts a ON a.id = n.account_id
        ),
        per AS (  -- per Lead and target Account: what agreed on any of the Accounts standing for it
            SELECT lead_id, target, any_value(lead_core) AS lead_core, bool_or(same_domain) AS d, bool_or(same_phone) AS p,
                   bool_or(same_postal) AS z, bool_and(disagrees) AS x
            FROM cand GROUP BY lead_id, target
        ),
        ranked AS (
            SELECT *, count(*) OVER (PARTITION BY lead_id) AS named,
                   count(*) FILTER (WHERE d OR p OR z) OVER (PARTITION BY lead_id) AS with_contact
            FROM per
        )
        SELECT r.lead_id, r.target, an.name, r.lead_core,
               CASE WHEN d OR p OR z THEN 'company_and_contact' ELSE 'company_name_only' END,
               concat_ws('; ', 'company', CASE WHEN d THEN 'mail domain = website' END, CASE WHEN p THEN 'switchboard' END,
                         CASE WHEN z THEN 'postal code' END),
               CAST(named AS INTEGER)
        FROM ranked r JOIN normalized_accounts an ON an.id = r.target
        WHERE (with_contact = 1 AND (d OR p OR z)) OR (named = 1 AND NOT x)
        ORDER BY r.lead_id
    """)
    con.unregister("_lead_family_arrow")
    return int(con.execute(f"SELECT count(*) FROM {_q(target)}").fetchall()[0][0])
