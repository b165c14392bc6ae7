"""Score: Fellegi–Sunter match probabilities for candidate pairs.

Per-field comparison levels are computed with rapidfuzz's vectorized `process.cpdist` over Arrow
batches of pairs (never a Python loop over pairs). m and u probabilities are estimated without
labels by EM over the comparison-pattern counts of the candidate pairs themselves (so u reflects
the pairs that blocking actually produces, where colleagues share a company, a switchboard and a
postcode), and exact agreements are adjusted by term frequency: a common surname such as 佐藤 or
a switchboard number shared by many colleagues is weak evidence, a rare one strong.

Company-level evidence (company, shared phones, address) never makes a match by itself: unless a
pair has person-level evidence (the name in any script or order, a personal email, a mobile, the
birth date), its probability is capped below the review threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from nayose.config import Config
from nayose.stage import StageResult, timed

NULL = -1  # level of a comparison where either side is empty: no evidence either way
BATCH_ROWS = 500_000


@dataclass
class Comparison:
    """One compared field (or field group): its levels, from 0 (disagree) up to the strongest."""

    name: str
    levels: list[str]
    columns: list[str]
    person_level: bool  # evidence about the person (vs the company / office)
    tf_columns: list[str] = field(default_factory=list)  # count columns used for term frequency


# Level labels are used in the evidence shown to analysts.
COMPARISONS: list[Comparison] = [
    Comparison(
        "last_name",
        ["different", "similar (jw>=0.80)", "close (jw>=0.92)", "same reading", "exact"],
        ["last_name", "first_name", "last_reading", "first_reading"],
        True,
        ["n_last_name", "n_last_reading"],
    ),
    Comparison(
        "first_name",
        ["different", "similar (jw>=0.80)", "close (jw>=0.92)", "same reading", "exact"],
        ["last_name", "first_name", "last_reading", "first_reading"],
        True,
        ["n_first_name", "n_first_reading"],
    ),
    Comparison(
        "email",
        ["different", "similar", "same local part", "same shared mailbox", "exact"],
        ["email", "email_local", "email_is_role"],
        True,
        ["n_email"],
    ),
    Comparison(
        "phone",
        ["different", "same landline", "same mobile"],
        ["phone", "mobile", "phone_is_mobile"],
        True,
        ["n_phone", "n_mobile"],
    ),
    Comparison("company", ["different", "similar", "exact"], ["company_core", "company_reading"], False, ["n_company_core"]),
    Comparison("birthdate", ["different", "same year", "one digit off", "exact"], ["birthdate"], True),
    Comparison("postal_code", ["different", "same area", "exact"], ["postal_code"], False, ["n_postal_code"]),
    Comparison("street", ["different", "similar", "close", "exact"], ["street"], False, ["n_street"]),
    Comparison("city", ["different", "similar", "exact"], ["city"], False, ["n_city"]),
    Comparison("region", ["different", "exact"], ["prefecture", "state"], False),
]

TF_SOURCES = {
    # count column -> the normalized column whose value frequency it holds
    "n_last_name": "last_name",
    "n_last_reading": "last_reading",
    "n_first_name": "first_name",
    "n_first_reading": "first_reading",
    "n_email": "email",
    "n_company_core": "company_core",
    "n_postal_code": "postal_code",
    "n_street": "street",
    "n_city": "city",
}


def _present_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, bool]:
    cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    if not cols:
        return {}
    checks = ", ".join(f'count("{c}") > 0' for c in cols)
    filled = con.execute(f'SELECT {checks} FROM "{table}"').fetchall()[0]
    return dict(zip(cols, filled))


def active_comparisons(present: dict[str, bool]) -> list[Comparison]:
    """Zero-config: a comparison is used when its main column exists and has values."""
    active = []
    for comp in COMPARISONS:
        main = comp.columns[0]
        if comp.name == "first_name":
            main = "first_name"
        if comp.name == "region":
            if present.get("prefecture") or present.get("state"):
                active.append(comp)
            continue
        if comp.name == "phone":
            if present.get("phone") or present.get("mobile"):
                active.append(comp)
            continue
        if present.get(main):
            active.append(comp)
    return active


# ---------------------------------------------------------------------------------------------
# Level computation, vectorized per batch


def _strs(batch: pa.RecordBatch, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as object array with '' for null, null mask)."""
    idx = batch.schema.get_field_index(name)
    if idx < 0:
        n = batch.num_rows
        return np.full(n, "", dtype=object), np.ones(n, dtype=bool)
    col = batch.column(idx)
    mask = col.is_null().to_numpy(zero_copy_only=False)
    vals = col.fill_null("").to_numpy(zero_copy_only=False)
    return vals, mask | (vals == "")


def _bools(batch: pa.RecordBatch, name: str) -> np.ndarray:
    idx = batch.schema.get_field_index(name)
    if idx < 0:
        return np.zeros(batch.num_rows, dtype=bool)
    return batch.column(idx).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def _ints(batch: pa.RecordBatch, name: str) -> np.ndarray:
    idx = batch.schema.get_field_index(name)
    if idx < 0:
        return np.ones(batch.num_rows, dtype=np.float64)
    return np.maximum(batch.column(idx).fill_null(1).to_numpy(zero_copy_only=False).astype(np.float64), 1.0)


def _jw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=-1, dtype=np.float32)


def _name_levels(batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    """last_name / first_name levels after aligning swapped order and whole names in one field."""
    ln1, ln1_null = _strs(batch, "l_last_name")
    ln2, ln2_null = _strs(batch, "r_last_name")
    fn1, fn1_null = _strs(batch, "l_first_name")
    fn2, fn2_null = _strs(batch, "r_first_name")
    lr1, lr1_null = _strs(batch, "l_last_reading")
    lr2, lr2_null = _strs(batch, "r_last_reading")
    fr1, fr1_null = _strs(batch, "l_first_reading")
    fr2, fr2_null = _strs(batch, "r_first_reading")
    # A reading may be missing when the script could not be read; fall back on the name itself.
    lr1 = np.where(lr1_null, ln1, lr1)
    lr2 = np.where(lr2_null, ln2, lr2)
    fr1 = np.where(fr1_null, fn1, fr1)
    fr2 = np.where(fr2_null, fn2, fr2)

    s_ll, s_ff = _jw(lr1, lr2), _jw(fr1, fr2)
    s_lf, s_fl = _jw(lr1, fr2), _jw(fr1, lr2)
    both_first = ~fn1_null & ~fn2_null
    swapped = both_first & ~ln1_null & ~ln2_null & ((s_lf + s_fl) > (s_ll + s_ff + 0.05))

    # Aligned right-hand side.
    a_ln2 = np.where(swapped, fn2, ln2)
    a_fn2 = np.where(swapped, ln2, fn2)
    a_lr2 = np.where(swapped, fr2, lr2)
    a_fr2 = np.where(swapped, lr2, fr2)
    s_last = np.where(swapped, s_lf, s_ll)
    s_first = np.where(swapped, s_fl, s_ff)
    last_null = ln1_null | np.where(swapped, fn2_null, ln2_null)
    first_null = fn1_null | np.where(swapped, ln2_null, fn2_null)

    def levels(s, x1, x2, r1, r2, null):
        lv = np.zeros(len(s), dtype=np.int8)
        lv[s >= 0.80] = 1
        lv[s >= 0.92] = 2
        lv[(r1 == r2) & (r1 != "")] = 3
        lv[(x1 == x2) & (x1 != "")] = 4
        lv[null] = NULL
        return lv

    last = levels(s_last, ln1, a_ln2, lr1, a_lr2, last_null)
    first = levels(s_first, fn1, a_fn2, fr1, a_fr2, first_null)

    # Two different names both written in kanji are different names, however close their
    # romanized readings (武 takeshi / 隆 takashi): at most "similar" unless the reading is the same
    # (異体字 such as 斉藤 / 斎藤 read alike).
    lk1, fk1 = _bools(batch, "l_last_kanji"), _bools(batch, "l_first_kanji")
    lk2, fk2 = _bools(batch, "r_last_kanji"), _bools(batch, "r_first_kanji")
    both_kanji_last = lk1 & np.where(swapped, fk2, lk2)
    both_kanji_first = fk1 & np.where(swapped, lk2, fk2)
    last[both_kanji_last & (last == 2)] = 1
    first[both_kanji_first & (first == 2)] = 1

    # Whole name in one field on one side only: compare full readings, both orders.
    one_unsplit = fn1_null ^ fn2_null
    if one_unsplit.any():
        full1 = np.char.add(lr1.astype(str), fr1.astype(str)).astype(object)
        full2 = np.char.add(lr2.astype(str), fr2.astype(str)).astype(object)
        full2_swapped = np.char.add(fr2.astype(str), lr2.astype(str)).astype(object)
        full1_swapped = np.char.add(fr1.astype(str), lr1.astype(str)).astype(object)
        s_full = np.maximum.reduce([_jw(full1, full2), _jw(full1, full2_swapped), _jw(full1_swapped, full2)])
        lv_full = np.zeros(len(s_full), dtype=np.int8)
        lv_full[s_full >= 0.80] = 1
        lv_full[s_full >= 0.92] = 2
        lv_full[s_full >= 0.999] = 3
        lv_full[(lk1 | fk1) & (lk2 | fk2) & (lv_full == 2)] = 1
        use = one_unsplit & ~(ln1_null & fn1_null) & ~(ln2_null & fn2_null)
        last = np.where(use, lv_full, last).astype(np.int8)
        first = np.where(use, np.int8(NULL), first).astype(np.int8)
    return {"last_name": last, "first_name": first, "swapped": swapped}


def _email_levels(batch: pa.RecordBatch) -> np.ndarray:
    e1, n1 = _strs(batch, "l_email")
    e2, n2 = _strs(batch, "r_email")
    loc1, _ = _strs(batch, "l_email_local")
    loc2, _ = _strs(batch, "r_email_local")
    role = _bools(batch, "l_email_is_role") | _bools(batch, "r_email_is_role")
    s = _jw(e1, e2)
    lv = np.zeros(len(e1), dtype=np.int8)
    lv[s >= 0.92] = 1
    lv[(loc1 == loc2) & (loc1 != "") & ~role & (_ints(batch, "l_email_local_len") >= 4)] = 2
    exact = (e1 == e2) & ~n1
    lv[exact & role] = 3
    lv[exact & ~role] = 4
    lv[n1 | n2] = NULL
    return lv


def _phone_levels(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Level and the count of the number that matched (for term frequency)."""
    p1, pn1 = _strs(batch, "l_phone")
    p2, pn2 = _strs(batch, "r_phone")
    m1, mn1 = _strs(batch, "l_mobile")
    m2, mn2 = _strs(batch, "r_mobile")
    pm1, pm2 = _bools(batch, "l_phone_is_mobile"), _bools(batch, "r_phone_is_mobile")
    cnt_p1, cnt_m1 = _ints(batch, "l_n_phone"), _ints(batch, "l_n_mobile")
    mobile_eq = ((m1 == m2) & ~mn1) | ((m1 == p2) & ~mn1) | ((p1 == m2) & ~pn1) | ((p1 == p2) & ~pn1 & pm1 & pm2)
    land_eq = (p1 == p2) & ~pn1
    lv = np.zeros(len(p1), dtype=np.int8)
    lv[land_eq] = 1
    lv[mobile_eq] = 2
    lv[(pn1 & mn1) | (pn2 & mn2)] = NULL
    cnt = np.where(land_eq, cnt_p1, cnt_m1)
    return lv, cnt


def _simple_levels(batch: pa.RecordBatch, col: str, thresholds: list[float]) -> np.ndarray:
    """Levels: 0 different, 1.. for jw >= thresholds[i], top = exact."""
    a, n1 = _strs(batch, f"l_{col}")
    b, n2 = _strs(batch, f"r_{col}")
    lv = np.zeros(len(a), dtype=np.int8)
    if thresholds:
        s = _jw(a, b)
        for i, t in enumerate(thresholds, start=1):
            lv[s >= t] = i
    lv[(a == b) & ~n1] = len(thresholds) + 1
    lv[n1 | n2] = NULL
    return lv


def _company_levels(batch: pa.RecordBatch) -> np.ndarray:
    lv = _simple_levels(batch, "company_core", [0.92])
    r1, rn1 = _strs(batch, "l_company_reading")
    r2, _ = _strs(batch, "r_company_reading")
    lv[(lv == 0) & (r1 == r2) & ~rn1] = 1
    return lv


def _birthdate_levels(batch: pa.RecordBatch) -> np.ndarray:
    a, n1 = _strs(batch, "l_birthdate")
    b, n2 = _strs(batch, "r_birthdate")
    ya, _ = _strs(batch, "l_birth_year")
    yb, _ = _strs(batch, "r_birth_year")
    swapped_a, _ = _strs(batch, "l_birthdate_dm")  # day and month swapped
    dist = cpdist(a, b, scorer=Levenshtein.distance, workers=-1)
    lv = np.zeros(len(a), dtype=np.int8)
    lv[ya == yb] = 1
    lv[(dist <= 1) | (swapped_a == b)] = 2
    lv[a == b] = 3
    lv[n1 | n2] = NULL
    return lv


def _postal_levels(batch: pa.RecordBatch) -> np.ndarray:
    a, n1 = _strs(batch, "l_postal_code")
    b, n2 = _strs(batch, "r_postal_code")
    area_a, _ = _strs(batch, "l_postal_area")
    area_b, _ = _strs(batch, "r_postal_area")
    long_codes = _ints(batch, "l_postal_len") >= 7  # Japanese 7-digit codes: the first 3 are the area
    dist = cpdist(a, b, scorer=Levenshtein.distance, workers=-1)
    lv = np.zeros(len(a), dtype=np.int8)
    lv[(long_codes & (area_a == area_b)) | (~long_codes & (dist <= 1))] = 1
    lv[a == b] = 2
    lv[n1 | n2] = NULL
    return lv


def _region_levels(batch: pa.RecordBatch) -> np.ndarray:
    p1, pn1 = _strs(batch, "l_prefecture")
    p2, pn2 = _strs(batch, "r_prefecture")
    s1, sn1 = _strs(batch, "l_state")
    s2, sn2 = _strs(batch, "r_state")
    v1 = np.where(pn1, s1, p1)
    v2 = np.where(pn2, s2, p2)
    lv = (v1 == v2).astype(np.int8)
    lv[(pn1 & sn1) | (pn2 & sn2)] = NULL
    return lv


KANJI_RE = "[\\x{3005}\\x{4E00}-\\x{9FFF}\\x{F900}-\\x{FAFF}]"  # 々 and CJK ideographs
RARE_ADDRESS_MAX = 3  # an address shared by more records than this is an office, not a home


def compute_levels(batch: pa.RecordBatch, comps: list[Comparison]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Levels (pairs x comparisons, int8), log2 term-frequency counts of the agreed value
    (pairs x comparisons, float32, NaN where not applicable) and per-pair flags:
    `swapped` (surname and given name in swapped fields) and `rare_address` (the street agrees
    and is shared by at most RARE_ADDRESS_MAX records, so it is a person's, not an office's)."""
    n = batch.num_rows
    levels = np.full((n, len(comps)), NULL, dtype=np.int8)
    tf = np.full((n, len(comps)), np.nan, dtype=np.float32)
    names = None
    swapped = np.zeros(n, dtype=bool)
    rare_address = np.zeros(n, dtype=bool)
    for j, comp in enumerate(comps):
        if comp.name in ("last_name", "first_name"):
            if names is None:
                names = _name_levels(batch)
                swapped = names["swapped"]
            lv = names[comp.name]
            part = comp.name.split("_")[0]
            cnt_exact = _ints(batch, f"l_n_{part}_name")
            cnt_read = _ints(batch, f"l_n_{part}_reading")
            tf[:, j] = np.where(lv == 4, np.log2(cnt_exact), np.where(lv == 3, np.log2(cnt_read), np.nan))
        elif comp.name == "email":
            lv = _email_levels(batch)
            tf[:, j] = np.where(lv >= 3, np.log2(_ints(batch, "l_n_email")), np.nan)
        elif comp.name == "phone":
            lv, cnt = _phone_levels(batch)
            tf[:, j] = np.where(lv >= 1, np.log2(cnt), np.nan)
        elif comp.name == "company":
            lv = _company_levels(batch)
            tf[:, j] = np.where(lv == 2, np.log2(_ints(batch, "l_n_company_core")), np.nan)
        elif comp.name == "birthdate":
            lv = _birthdate_levels(batch)
        elif comp.name == "postal_code":
            lv = _postal_levels(batch)
            tf[:, j] = np.where(lv == 2, np.log2(_ints(batch, "l_n_postal_code")), np.nan)
        elif comp.name == "street":
            lv = _simple_levels(batch, "street", [0.80, 0.92])
            n_l, n_r = _ints(batch, "l_n_street"), _ints(batch, "r_n_street")
            tf[:, j] = np.where(lv == 3, np.log2(n_l), np.nan)
            rare_address = (lv >= 2) & (np.maximum(n_l, n_r) <= RARE_ADDRESS_MAX)
        elif comp.name == "city":
            lv = _simple_levels(batch, "city", [0.92])
            tf[:, j] = np.where(lv == 2, np.log2(_ints(batch, "l_n_city")), np.nan)
        elif comp.name == "region":
            lv = _region_levels(batch)
        else:  # pragma: no cover - the list above is closed
            raise ValueError(comp.name)
        levels[:, j] = lv
    return levels, tf, {"swapped": swapped, "rare_address": rare_address}


# ---------------------------------------------------------------------------------------------
# EM over comparison patterns


@dataclass
class Model:
    comparisons: list[Comparison]
    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float  # proportion of matches among candidate pairs
    weights: list[np.ndarray] = field(default_factory=list)  # log2(m/u), made monotone in the level
    iterations: int = 0
    tf_center: list[float] = field(default_factory=list)  # mean log2 count of agreeing values

    def bayes_factors(self) -> list[np.ndarray]:
        return self.weights

    def as_dict(self) -> dict:
        return {
            "prior_match_proportion": self.prior,
            "em_iterations": self.iterations,
            "comparisons": {
                c.name: {
                    lab: {"m": round(float(m[k]), 5), "u": round(float(u[k]), 5), "weight": round(float(w[k]), 3)}
                    for k, lab in enumerate(c.levels)
                }
                for c, m, u, w in zip(self.comparisons, self.m, self.u, self.weights)
            },
        }


def estimate_em(patterns: np.ndarray, counts: np.ndarray, comps: list[Comparison], iterations: int) -> Model:
    """Estimate m, u and the match proportion by EM on pattern counts.

    Starts from the usual shape (matches mostly agree, non-matches mostly disagree). Dirichlet
    pseudo-counts keep every probability positive; afterwards weights are made monotone in the
    level (a closer agreement is never weaker evidence than a looser one).
    """
    n_comp = len(comps)
    k_levels = [len(c.levels) for c in comps]
    counts = counts.astype(np.float64)
    m, u = [], []
    for j, k in enumerate(k_levels):
        mj = np.linspace(0.05, 1.0, k) ** 3
        m.append(mj / mj.sum())
        col = patterns[:, j]
        uj = np.array([counts[col == lvl].sum() for lvl in range(k)]) + 1.0
        u.append(uj / uj.sum())
    lam = 0.2
    it = 0
    prev = None
    for it in range(1, iterations + 1):
        log_m = np.zeros(len(counts))
        log_u = np.zeros(len(counts))
        for j in range(n_comp):
            col = patterns[:, j]
            ok = col >= 0
            log_m[ok] += np.log(m[j][col[ok]])
            log_u[ok] += np.log(u[j][col[ok]])
        a = np.log(lam) + log_m
        b = np.log(1 - lam) + log_u
        mx = np.maximum(a, b)
        p = np.exp(a - mx) / (np.exp(a - mx) + np.exp(b - mx))
        wm, wu = counts * p, counts * (1 - p)
        lam = float(np.clip(wm.sum() / counts.sum(), 1e-6, 1 - 1e-6))
        for j, k in enumerate(k_levels):
            col = patterns[:, j]
            mj = np.array([wm[col == lvl].sum() for lvl in range(k)]) + 0.5
            uj = np.array([wu[col == lvl].sum() for lvl in range(k)]) + 0.5
            m[j], u[j] = mj / mj.sum(), uj / uj.sum()
        if prev is not None and abs(prev - lam) < 1e-7:
            break
        prev = lam
    # Monotone weights: level k+1 never weaker evidence than level k.
    weights = [np.maximum.accumulate(np.log2(m[j] / u[j])) for j in range(n_comp)]
    return Model(comps, m, u, lam, weights, it)


# ---------------------------------------------------------------------------------------------
# The stage


def _feature_sql(source: str, present: dict[str, bool], comps: list[Comparison]) -> tuple[str, list[str]]:
    cols: list[str] = []
    for c in comps:
        for col in c.columns:
            if col not in cols:
                cols.append(col)
    for extra in ("prefecture", "state", "phone", "mobile", "phone_is_mobile", "email_local", "email_is_role",
                  "company_reading", "last_reading", "first_reading", "first_name"):
        if extra not in cols:
            cols.append(extra)
    have = [c for c in cols if c in present]
    select = [f'"{c}"' for c in have]
    for cnt, src in TF_SOURCES.items():
        if src in present:
            select.append(f'count("{src}") OVER (PARTITION BY "{src}")::INTEGER AS {cnt}')
    # Cheap derived values, computed once per record in SQL rather than per pair in Python.
    derived = {
        "last_name": [f"regexp_matches(last_name, '{KANJI_RE}') AS last_kanji"],
        "first_name": [f"regexp_matches(first_name, '{KANJI_RE}') AS first_kanji"],
        "birthdate": [
            "substr(birthdate, 1, 4) AS birth_year",
            "CASE WHEN length(birthdate) = 10 THEN substr(birthdate, 1, 5) || substr(birthdate, 9, 2) || '-' || substr(birthdate, 6, 2) END AS birthdate_dm",
        ],
        "postal_code": ["substr(postal_code, 1, 3) AS postal_area", "length(postal_code) AS postal_len"],
        "email_local": ["length(email_local) AS email_local_len"],
    }
    for col, exprs in derived.items():
        if col in present:
            select.extend(exprs)
    # Phones: frequency of the number across both phone fields (a switchboard is shared).
    if "phone" in present or "mobile" in present:
        pcols = [c for c in ("phone", "mobile") if c in present]
        union = " UNION ALL ".join(f'SELECT "{c}" AS num FROM "{source}" WHERE "{c}" IS NOT NULL' for c in pcols)
        phone_counts = f"(SELECT num, count(*)::INTEGER AS n FROM ({union}) GROUP BY num)"
    else:
        phone_counts = None
    sql = f'SELECT rec_idx, {", ".join(select)} FROM "{source}"'
    if phone_counts:
        joins, extra_sel = [], []
        for c in ("phone", "mobile"):
            if c in present:
                joins.append(f"LEFT JOIN {phone_counts} pc_{c} ON pc_{c}.num = f.\"{c}\"")
                extra_sel.append(f"pc_{c}.n AS n_{c}")
        sql = f"SELECT f.*, {', '.join(extra_sel)} FROM ({sql}) f {' '.join(joins)}"
    return sql, have


def score_pairs(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: str = "normalized_records",
    pairs: str = "candidate_pairs",
    target: str = "scored_pairs",
    progress=None,
) -> StageResult:
    """Write `target`: every candidate pair with its levels, per-field weights and match probability."""
    result = StageResult(stage="score", table=target)
    with timed(result):
        present = {k: v for k, v in _present_columns(con, source).items() if v}
        comps = active_comparisons(present)
        feat_sql, _ = _feature_sql(source, present, comps)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _score_features AS {feat_sql}")
        fcols = [r[0] for r in con.execute("DESCRIBE _score_features").fetchall() if r[0] != "rec_idx"]
        sel = ", ".join([f'l."{c}" AS "l_{c}"' for c in fcols] + [f'r."{c}" AS "r_{c}"' for c in fcols])
        n_pairs = con.execute(f'SELECT count(*) FROM "{pairs}"').fetchall()[0][0]
        reader = con.sql(
            f"""SELECT p.left_idx, p.right_idx, p.rule_no, {sel}
            FROM "{pairs}" p
            JOIN _score_features l ON l.rec_idx = p.left_idx
            JOIN _score_features r ON r.rec_idx = p.right_idx"""
        ).to_arrow_reader(BATCH_ROWS)
        left_parts, right_parts, rule_parts, lv_parts, tf_parts, sw_parts, ra_parts = [], [], [], [], [], [], []
        for batch in reader:
            if batch.num_rows == 0:
                continue
            lv, tf, flags = compute_levels(batch, comps)
            left_parts.append(batch.column(0).to_numpy())
            right_parts.append(batch.column(1).to_numpy())
            rule_parts.append(batch.column(2).to_numpy())
            lv_parts.append(lv)
            tf_parts.append(tf)
            sw_parts.append(flags["swapped"])
            ra_parts.append(flags["rare_address"])
            if progress is not None:
                progress(batch.num_rows, n_pairs)
        con.execute("DROP TABLE IF EXISTS _score_features")
        k = len(comps)
        if lv_parts:
            left = np.concatenate(left_parts)
            right = np.concatenate(right_parts)
            rule = np.concatenate(rule_parts)
            levels = np.concatenate(lv_parts)
            tfs = np.concatenate(tf_parts)
            swapped = np.concatenate(sw_parts)
            rare_address = np.concatenate(ra_parts)
        else:
            left = right = np.zeros(0, dtype=np.int32)
            rule = np.zeros(0, dtype=np.int16)
            levels = np.zeros((0, k), dtype=np.int8)
            tfs = np.zeros((0, k), dtype=np.float32)
            swapped = np.zeros(0, dtype=bool)
            rare_address = np.zeros(0, dtype=bool)

        patterns, inverse, counts = np.unique(levels, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        model = estimate_em(patterns, counts, comps, config.matching.em_iterations) if len(counts) else None
        weights = np.zeros((len(left), k), dtype=np.float32)
        if model is not None:
            bfs = model.bayes_factors()
            for j in range(k):
                col = levels[:, j]
                w = np.where(col >= 0, bfs[j][np.clip(col, 0, None)], 0.0)
                weights[:, j] = w
            if config.matching.term_frequency:
                centers = []
                for j in range(k):
                    t = tfs[:, j]
                    has = ~np.isnan(t)
                    center = float(t[has].mean()) if has.any() else 0.0
                    centers.append(center)
                    # A value more common than the typical agreeing value weakens the evidence,
                    # a rarer one strengthens it; bounded so one field cannot dominate.
                    adj = np.where(has, np.clip(center - t, -6.0, 3.0), 0.0)
                    weights[:, j] += adj
                    # Never turn an agreement into evidence against.
                    weights[:, j] = np.where(has, np.maximum(weights[:, j], 0.0), weights[:, j])
                model.tf_center = centers
            prior = math.log2(model.prior / (1 - model.prior))
        else:
            prior = 0.0
        total = prior + weights.sum(axis=1, dtype=np.float64)
        prob = 1.0 / (1.0 + np.exp2(-total))
        tier, conflict = person_evidence(levels, comps, rare_address)
        th = config.matching.thresholds
        below_review = np.nextafter(th.review, 0) * 0.5
        below_auto = np.nextafter(th.auto, 0)
        capped = np.where(tier == 0, np.minimum(prob, below_review), prob)
        capped = np.where((tier == 1) | conflict, np.minimum(capped, below_auto), capped)
        gate = np.select(
            [tier == 0, tier == 1, conflict],
            ["no person-level evidence", "weak person-level evidence", "names disagree"],
            "",
        )
        cols = {
            "left_idx": pa.array(left, pa.int32()),
            "right_idx": pa.array(right, pa.int32()),
            "rule_no": pa.array(rule, pa.int16()),
            "match_weight": pa.array(total.astype(np.float32)),
            "match_probability": pa.array(capped.astype(np.float64)),
            "gate": pa.array(gate, pa.string()),
            "name_swapped": pa.array(swapped),
        }
        for j, comp in enumerate(comps):
            cols[f"lvl_{comp.name}"] = pa.array(levels[:, j], pa.int8())
            cols[f"w_{comp.name}"] = pa.array(weights[:, j], pa.float32())
        table = pa.table(cols)
        con.register("_scored_arrow", table)
        con.execute(f'CREATE OR REPLACE TABLE "{target}" AS SELECT * FROM _scored_arrow')
        con.unregister("_scored_arrow")
        result.rows = len(left)
        result.stats = {
            "comparisons": [c.name for c in comps],
            "model": model.as_dict() if model else None,
            "patterns": int(len(counts)),
            "pairs_auto": int((capped >= th.auto).sum()),
            "pairs_review": int(((capped >= th.review) & (capped < th.auto)).sum()),
            "pairs_below_review": int((capped < th.review).sum()),
            "capped_no_person_evidence": int(((tier == 0) & (prob >= th.review)).sum()),
            "capped_weak_person_evidence": int(((tier == 1) & (prob >= th.auto)).sum()),
            "capped_names_disagree": int((conflict & (tier == 2) & (prob >= th.auto)).sum()),
        }
        save_model(con, model)
    return result


def person_evidence(
    levels: np.ndarray, comps: list[Comparison], rare_address: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(person-evidence tier 0/1/2, names clearly disagree) per pair.

    Tier 2 (may auto-merge): the whole name agrees (any script, any order), a personal
    (non-shared) email, a mobile number, the birth date; or one part of the name together with a
    home-like address (a street few records share) or the same email local part.
    Tier 1 (review at most): a name part that is merely similar with a home-like address.
    Tier 0 (never a match): nothing about the person. Company, switchboard, office address and
    postal code never count, however many of them agree.
    """
    idx = {c.name: j for j, c in enumerate(comps)}
    n = levels.shape[0]

    def lv(name):
        return levels[:, idx[name]] if name in idx else np.full(n, NULL, dtype=np.int8)

    last, first = lv("last_name"), lv("first_name")
    email, phone, dob = lv("email"), lv("phone"), lv("birthdate")
    names_agree = (last >= 2) & (first >= 2)
    unsplit_agree = (last >= 3) & (first == NULL)
    strong_id = (email == 4) | (phone == 2) | (dob >= 2)
    partial = ((last >= 2) | (first >= 2)).astype(np.int8) + (email == 2).astype(np.int8) + rare_address.astype(np.int8)
    strong = names_agree | unsplit_agree | strong_id | (partial >= 2)
    weak = ((last >= 1) | (first >= 1)) & rare_address
    tier = np.where(strong, 2, np.where(weak, 1, 0)).astype(np.int8)
    conflict = ((last == 0) | (first == 0)) & ~((email == 4) & (phone == 2))
    return tier, conflict


def save_model(con: duckdb.DuckDBPyConnection, model: Model | None) -> None:
    """Keep the estimated model (m, u, weights per level) in the store, for explanations."""
    rows = []
    if model is not None:
        for comp, m, u, w in zip(model.comparisons, model.m, model.u, model.weights):
            for k, lab in enumerate(comp.levels):
                rows.append((comp.name, k, lab, float(m[k]), float(u[k]), float(w[k])))
    con.execute(
        "CREATE OR REPLACE TABLE match_model (comparison VARCHAR, level TINYINT, label VARCHAR, m DOUBLE, u DOUBLE, weight DOUBLE)"
    )
    if rows:
        con.executemany("INSERT INTO match_model VALUES (?, ?, ?, ?, ?, ?)", rows)
