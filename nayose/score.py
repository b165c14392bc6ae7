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
        # No "similar" level: t.sato@ and k.sato@ are colleagues, and a local part made of the
        # name (yui_shimizu@) agrees for namesakes at other companies.
        ["different", "same shared mailbox", "exact"],
        ["email", "email_is_role"],
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
    # The address parts move together (an office move changes them all), so they are one
    # comparison, graded by how many parts agree; a typo in one part only lowers it one level.
    Comparison(
        "address",
        ["different", "same region", "same area", "mostly same", "same"],
        ["street", "postal_code", "city", "prefecture", "state"],
        False,
        ["n_street"],
    ),
]

TF_SOURCES = {
    # count column -> the normalized column whose value frequency it holds
    "n_last_name": "last_name",
    "n_last_reading": "last_reading",
    "n_first_name": "first_name",
    "n_first_reading": "first_reading",
    "n_email": "email",
    "n_company_core": "company_core",
    "n_street": "street",
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
        if comp.name == "address":
            if any(present.get(c) for c in comp.columns):
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


def _floats(batch: pa.RecordBatch, name: str) -> np.ndarray:
    idx = batch.schema.get_field_index(name)
    if idx < 0:
        return np.full(batch.num_rows, np.nan)
    return batch.column(idx).to_numpy(zero_copy_only=False).astype(np.float64)


def _jw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=-1, dtype=np.float32)


def _is_prefix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One non-empty value is a prefix of the other (vectorized over the pair arrays)."""
    sa, sb = a.astype(str), b.astype(str)
    la, lb = np.char.str_len(sa), np.char.str_len(sb)
    ok = (la > 0) & (lb > 0)
    return ok & (np.char.startswith(sa, sb) | np.char.startswith(sb, sa))


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
        # An initial or a truncated reading (Eight keeps only the first kana) is "similar".
        lv[_is_prefix(r1, r2)] = 1
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
    # One kanji misread or mistyped (名刺 OCR: 裕子 / 裕予) is "similar", not "different": it does
    # not prove two people, though it proves one person no more than a namesake does.
    for lvl, both, x1, x2 in ((last, both_kanji_last, ln1, a_ln2), (first, both_kanji_first, fn1, a_fn2)):
        cand = both & (lvl == 0)
        if cand.any():
            d = cpdist(x1[cand], x2[cand], scorer=Levenshtein.distance, workers=-1)
            short = np.minimum(np.char.str_len(x1[cand].astype(str)), np.char.str_len(x2[cand].astype(str)))
            sub = lvl[cand]
            sub[(d == 1) & (short >= 2)] = 1
            lvl[cand] = sub
    # Kanji against kana / romaji: the kanji's reading is a guess (小沢 ozawa or kozawa), so a
    # slightly lower similarity already counts as close.
    cross_last = (lk1 ^ np.where(swapped, fk2, lk2)) & (last == 1) & (s_last >= CROSS_SCRIPT_CLOSE)
    cross_first = (fk1 ^ np.where(swapped, lk2, fk2)) & (first == 1) & (s_first >= CROSS_SCRIPT_CLOSE)
    last[cross_last] = 2
    first[cross_first] = 2

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
    role = _bools(batch, "l_email_is_role") | _bools(batch, "r_email_is_role")
    exact = (e1 == e2) & ~n1
    lv = np.zeros(len(e1), dtype=np.int8)
    lv[exact & role] = 1
    lv[exact & ~role] = 2
    lv[n1 | n2] = NULL
    return lv


def _phone_levels(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Level and log2 share of the number that matched (for term frequency)."""
    p1, pn1 = _strs(batch, "l_phone")
    p2, pn2 = _strs(batch, "r_phone")
    m1, mn1 = _strs(batch, "l_mobile")
    m2, mn2 = _strs(batch, "r_mobile")
    pm1, pm2 = _bools(batch, "l_phone_is_mobile"), _bools(batch, "r_phone_is_mobile")
    lf_p1, lf_m1 = _floats(batch, "l_lf_phone"), _floats(batch, "l_lf_mobile")
    mobile_eq = ((m1 == m2) & ~mn1) | ((m1 == p2) & ~mn1) | ((p1 == m2) & ~pn1) | ((p1 == p2) & ~pn1 & pm1 & pm2)
    land_eq = (p1 == p2) & ~pn1
    lv = np.zeros(len(p1), dtype=np.int8)
    lv[land_eq] = 1
    lv[mobile_eq] = 2
    lv[(pn1 & mn1) | (pn2 & mn2)] = NULL
    lf = np.where(land_eq, lf_p1, lf_m1)
    return lv, lf


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


def _address_levels(batch: pa.RecordBatch) -> np.ndarray:
    """0 different, 1 same region only, 2 same area (city, postal area or a close street),
    3 mostly same (two of postal / street / city), 4 same (all that both have)."""
    st1, stn1 = _strs(batch, "l_street")
    st2, stn2 = _strs(batch, "r_street")
    pc1, pcn1 = _strs(batch, "l_postal_code")
    pc2, pcn2 = _strs(batch, "r_postal_code")
    ci1, cin1 = _strs(batch, "l_city")
    ci2, cin2 = _strs(batch, "r_city")
    pf1, pfn1 = _strs(batch, "l_prefecture")
    pf2, pfn2 = _strs(batch, "r_prefecture")
    sa1, san1 = _strs(batch, "l_state")
    sa2, san2 = _strs(batch, "r_state")
    rg1, rgn1 = np.where(pfn1, sa1, pf1), pfn1 & san1
    rg2, rgn2 = np.where(pfn2, sa2, pf2), pfn2 & san2

    both_st, both_pc, both_ci = ~stn1 & ~stn2, ~pcn1 & ~pcn2, ~cin1 & ~cin2
    s_st = _jw(st1, st2)
    st_exact = both_st & (st1 == st2)
    st_close = both_st & (s_st >= 0.92)
    st_similar = both_st & (s_st >= 0.80)
    pc_exact = both_pc & (pc1 == pc2)
    area1, _ = _strs(batch, "l_postal_area")
    area2, _ = _strs(batch, "r_postal_area")
    long_codes = _ints(batch, "l_postal_len") >= 7  # Japanese 7-digit codes: the first 3 are the area
    pc_dist = cpdist(pc1, pc2, scorer=Levenshtein.distance, workers=-1)
    pc_near = both_pc & ((long_codes & (area1 == area2)) | (~long_codes & (pc_dist <= 1)))
    ci_exact = both_ci & ((ci1 == ci2) | (_jw(ci1, ci2) >= 0.92))
    rg_exact = ~rgn1 & ~rgn2 & (rg1 == rg2)

    agree = st_close.astype(np.int8) + pc_exact.astype(np.int8) + ci_exact.astype(np.int8)
    present = both_st.astype(np.int8) + both_pc.astype(np.int8) + both_ci.astype(np.int8)
    lv = np.zeros(len(st1), dtype=np.int8)
    lv[rg_exact] = 1
    lv[pc_near | ci_exact | st_similar | pc_exact | st_close] = 2
    lv[(agree >= 2) | (st_similar & (pc_exact | ci_exact))] = 3
    lv[((agree == present) & (agree >= 2)) | (st_exact & (pc_exact | ci_exact))] = 4
    lv[(agree == present) & (present == 1) & st_exact] = 4
    none1 = stn1 & pcn1 & cin1 & rgn1
    none2 = stn2 & pcn2 & cin2 & rgn2
    lv[none1 | none2] = NULL
    return lv


KANJI_RE = "[\\x{3005}\\x{4E00}-\\x{9FFF}\\x{F900}-\\x{FAFF}]"  # 々 and CJK ideographs
CROSS_SCRIPT_CLOSE = 0.85
TF_MAX_BONUS = 10.0  # bits a rare value may add over the level's average weight
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
            # The share of the agreed name, on whichever side is more common (conservative; with
            # swapped fields the right-hand value sits in the other field).
            other = "first" if part == "last" else "last"
            r_exact = np.where(swapped, _floats(batch, f"r_lf_{other}_name"), _floats(batch, f"r_lf_{part}_name"))
            r_read = np.where(swapped, _floats(batch, f"r_lf_{other}_reading"), _floats(batch, f"r_lf_{part}_reading"))
            lf_exact = np.fmax(_floats(batch, f"l_lf_{part}_name"), r_exact)
            lf_read = np.fmax(_floats(batch, f"l_lf_{part}_reading"), r_read)
            tf[:, j] = np.where(lv == 4, lf_exact, np.where(lv == 3, lf_read, np.nan))
        elif comp.name == "email":
            lv = _email_levels(batch)
            tf[:, j] = np.where(lv >= 1, _floats(batch, "l_lf_email"), np.nan)
        elif comp.name == "phone":
            lv, lf = _phone_levels(batch)
            tf[:, j] = np.where(lv >= 1, lf, np.nan)
        elif comp.name == "company":
            lv = _company_levels(batch)
            tf[:, j] = np.where(lv == 2, _floats(batch, "l_lf_company_core"), np.nan)
        elif comp.name == "birthdate":
            lv = _birthdate_levels(batch)
        elif comp.name == "address":
            lv = _address_levels(batch)
            n_l, n_r = _ints(batch, "l_n_street"), _ints(batch, "r_n_street")
            street_exact = lv == 4
            tf[:, j] = np.where(street_exact, _floats(batch, "l_lf_street"), np.nan)
            rare_address = (lv >= 3) & (np.maximum(n_l, n_r) <= RARE_ADDRESS_MAX)
        else:  # pragma: no cover - the list above is closed
            raise ValueError(comp.name)
        levels[:, j] = lv
    return levels, tf, {"swapped": swapped, "rare_address": rare_address}


# ---------------------------------------------------------------------------------------------
# The model: u from random pairs, m by EM with u held fixed, a global prior


# Where EM has too little to learn from, these m (P(level | match)) are used: typical rates of
# typos, missing readings and moves in CRM data.
DEFAULT_M = {
    "last_name": [0.03, 0.04, 0.08, 0.10, 0.75],
    "first_name": [0.04, 0.05, 0.08, 0.13, 0.70],
    "email": [0.30, 0.05, 0.65],
    "phone": [0.35, 0.45, 0.20],
    "company": [0.15, 0.05, 0.80],
    "birthdate": [0.02, 0.02, 0.06, 0.90],
    "address": [0.10, 0.03, 0.07, 0.15, 0.65],
}
M_FLOOR = 0.005  # no agreement level is impossible for a true match (data entry is messy)
MIN_TRAINING_PAIRS = 30
RANDOM_PAIRS = 300_000


@dataclass
class Model:
    comparisons: list[Comparison]
    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float  # probability that two random records are the same person
    weights: list[np.ndarray] = field(default_factory=list)  # log2(m/u), monotone in the level
    sessions: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "prior_match_probability": self.prior,
            "training": self.sessions,
            "comparisons": {
                c.name: {
                    lab: {"m": round(float(m[k]), 5), "u": round(float(u[k]), 7), "weight": round(float(w[k]), 3)}
                    for k, lab in enumerate(c.levels)
                }
                for c, m, u, w in zip(self.comparisons, self.m, self.u, self.weights)
            },
        }


def _level_counts(levels: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    ok = levels >= 0
    return np.bincount(levels[ok].astype(np.int64), weights=None if weights is None else weights[ok], minlength=k)[:k]


def estimate_u(random_levels: np.ndarray, comps: list[Comparison]) -> list[np.ndarray]:
    """u = P(level | different people), from random record pairs (almost all non-matches)."""
    u = []
    for j, c in enumerate(comps):
        k = len(c.levels)
        counts = _level_counts(random_levels[:, j], k).astype(np.float64)
        # A level never seen among the random pairs is still possible: half a pair's worth.
        uj = (counts + 0.5) / (counts.sum() + 0.5 * k)
        u.append(uj)
    return u


def estimate_m(
    levels: np.ndarray, comps: list[Comparison], u: list[np.ndarray], use: list[int], learn: list[int],
    m_init: list[np.ndarray], iterations: int,
) -> tuple[list[np.ndarray], float, int]:
    """EM for m (u held fixed) over the comparisons `use` of the training pairs `levels`.

    Returns the new m for the comparisons in `learn` (others unchanged), the match proportion
    among the training pairs and the iterations run. Pattern counts keep it fast at any size.
    """
    patterns, counts = np.unique(levels[:, use], axis=0, return_counts=True)
    counts = counts.astype(np.float64)
    m = [x.copy() for x in m_init]
    lam, it = 0.5, 0
    for it in range(1, iterations + 1):
        log_m = np.zeros(len(counts))
        log_u = np.zeros(len(counts))
        for col_no, j in enumerate(use):
            col = patterns[:, col_no]
            ok = col >= 0
            log_m[ok] += np.log(m[j][col[ok]])
            log_u[ok] += np.log(u[j][col[ok]])
        a = np.log(lam) + log_m
        b = np.log(1 - lam) + log_u
        mx = np.maximum(a, b)
        p = np.exp(a - mx) / (np.exp(a - mx) + np.exp(b - mx))
        wm = counts * p
        new_lam = float(np.clip(wm.sum() / counts.sum(), 1e-6, 1 - 1e-6))
        for col_no, j in enumerate(use):
            if j not in learn:
                continue
            k = len(comps[j].levels)
            mj = _level_counts(patterns[:, col_no], k, wm) + 0.5
            mj = np.maximum(mj / mj.sum(), M_FLOOR)
            m[j] = mj / mj.sum()
        converged = abs(new_lam - lam) < 1e-6
        lam = new_lam
        if converged:
            break
    return m, lam, it


def build_model(
    levels: np.ndarray, tier: np.ndarray, random_levels: np.ndarray, comps: list[Comparison],
    n_records: int, iterations: int,
) -> Model:
    """Fellegi–Sunter model without labels.

    u comes from random pairs. m is learnt by EM with u held fixed, in two sessions so that no
    field is judged on pairs that were chosen because that field agrees (as Splink does):
    session "names" trains the other fields on pairs whose names agree; session "identifiers"
    trains the names on pairs sharing a personal email, a mobile or a birth date. The prior
    comes from the names session: matches found there, divided by how often a match's names agree.
    """
    idx = {c.name: j for j, c in enumerate(comps)}
    u = estimate_u(random_levels, comps)
    m = [np.array(DEFAULT_M[c.name], dtype=np.float64) for c in comps]
    sessions: dict = {}
    name_cols = [idx[n] for n in ("last_name", "first_name") if n in idx]
    id_cols = [idx[n] for n in ("email", "phone", "birthdate") if n in idx]
    other_cols = [j for j in range(len(comps)) if j not in name_cols]

    def lv(name):
        return levels[:, idx[name]] if name in idx else np.full(len(levels), NULL, dtype=np.int8)

    # Session "identifiers": names learnt where a personal identifier agrees.
    ident = ((lv("email") == 2) | (lv("phone") == 2) | (lv("birthdate") == 3)) & (tier >= 1)
    if name_cols and ident.sum() >= MIN_TRAINING_PAIRS:
        use = [j for j in range(len(comps)) if j not in id_cols]
        m, lam_i, it = estimate_m(levels[ident], comps, u, use, name_cols, m, iterations)
        sessions["identifiers"] = {"pairs": int(ident.sum()), "match_proportion": round(lam_i, 4), "iterations": it}
    # Session "names": every other field learnt where both name parts agree.
    names = (lv("last_name") >= 3) & (lv("first_name") >= 3)
    lam_n = None
    if names.sum() >= MIN_TRAINING_PAIRS and other_cols:
        m, lam_n, it = estimate_m(levels[names], comps, u, other_cols, other_cols, m, iterations)
        sessions["names"] = {"pairs": int(names.sum()), "match_proportion": round(lam_n, 4), "iterations": it}

    total_pairs = max(n_records * (n_records - 1) / 2, 1.0)
    if lam_n is not None and name_cols:
        p_names_agree = 1.0
        for j in name_cols:
            p_names_agree *= float(m[j][3:].sum())
        expected_matches = lam_n * names.sum() / max(p_names_agree, 1e-3)
    else:
        # No name agreement to learn from: assume about one duplicate pair per ten records.
        expected_matches = n_records / 10
    prior = float(np.clip(expected_matches / total_pairs, 1e-12, 0.5))
    sessions["expected_matching_pairs"] = round(float(expected_matches), 1)

    weights = []
    for j in range(len(comps)):
        w = np.log2(m[j] / u[j])
        # A looser agreement is never stronger evidence than a closer one.
        weights.append(np.minimum.accumulate(w[::-1])[::-1])
    return Model(comps, m, u, prior, weights, sessions)


# ---------------------------------------------------------------------------------------------
# The stage


def _feature_sql(source: str, present: dict[str, bool], comps: list[Comparison]) -> tuple[str, list[str]]:
    cols: list[str] = []
    for c in comps:
        for col in c.columns:
            if col not in cols:
                cols.append(col)
    for extra in ("prefecture", "state", "phone", "mobile", "phone_is_mobile", "email_is_role",
                  "company_reading", "last_reading", "first_reading", "first_name"):
        if extra not in cols:
            cols.append(extra)
    have = [c for c in cols if c in present]
    select = [f'"{c}"' for c in have]
    for cnt, src in TF_SOURCES.items():
        if src in present:
            select.append(f'count("{src}") OVER (PARTITION BY "{src}")::INTEGER AS {cnt}')
            # log2 of the value's share of filled records: the u of agreeing on that value
            select.append(
                f'log2(count("{src}") OVER (PARTITION BY "{src}") / greatest(count("{src}") OVER (), 1)) AS lf_{cnt[2:]}'
            )
    # Cheap derived values, computed once per record in SQL rather than per pair in Python.
    derived = {
        "last_name": [f"regexp_matches(last_name, '{KANJI_RE}') AS last_kanji"],
        "first_name": [f"regexp_matches(first_name, '{KANJI_RE}') AS first_kanji"],
        "birthdate": [
            "substr(birthdate, 1, 4) AS birth_year",
            "CASE WHEN length(birthdate) = 10 THEN substr(birthdate, 1, 5) || substr(birthdate, 9, 2) || '-' || substr(birthdate, 6, 2) END AS birthdate_dm",
        ],
        "postal_code": ["substr(postal_code, 1, 3) AS postal_area", "length(postal_code) AS postal_len"],
    }
    for col, exprs in derived.items():
        if col in present:
            select.extend(exprs)
    # Phones: frequency of the number across both phone fields (a switchboard is shared).
    if "phone" in present or "mobile" in present:
        pcols = [c for c in ("phone", "mobile") if c in present]
        union = " UNION ALL ".join(f'SELECT "{c}" AS num FROM "{source}" WHERE "{c}" IS NOT NULL' for c in pcols)
        phone_counts = (
            f"(SELECT num, count(*)::INTEGER AS n, log2(count(*) / sum(count(*)) OVER ()) AS lf "
            f"FROM ({union}) GROUP BY num)"
        )
    else:
        phone_counts = None
    sql = f'SELECT rec_idx, {", ".join(select)} FROM "{source}"'
    if phone_counts:
        joins, extra_sel = [], []
        for c in ("phone", "mobile"):
            if c in present:
                joins.append(f"LEFT JOIN {phone_counts} pc_{c} ON pc_{c}.num = f.\"{c}\"")
                extra_sel.append(f"pc_{c}.n AS n_{c}")
                extra_sel.append(f"pc_{c}.lf AS lf_{c}")
        sql = f"SELECT f.*, {', '.join(extra_sel)} FROM ({sql}) f {' '.join(joins)}"
    return sql, have


def _pair_levels(
    con: duckdb.DuckDBPyConnection, pairs_sql: str, comps: list[Comparison], fcols: list[str], progress=None, total: int = 0
) -> dict[str, np.ndarray]:
    """Levels and flags of every pair in `pairs_sql` (left_idx, right_idx, rule_no), in Arrow batches."""
    sel = ", ".join([f'l."{c}" AS "l_{c}"' for c in fcols] + [f'r."{c}" AS "r_{c}"' for c in fcols])
    reader = con.sql(
        f"""SELECT p.left_idx, p.right_idx, p.rule_no, {sel}
        FROM ({pairs_sql}) p
        JOIN _score_features l ON l.rec_idx = p.left_idx
        JOIN _score_features r ON r.rec_idx = p.right_idx"""
    ).to_arrow_reader(BATCH_ROWS)
    parts: dict[str, list] = {k: [] for k in ("left", "right", "rule", "levels", "tf", "swapped", "rare_address")}
    for batch in reader:
        if batch.num_rows == 0:
            continue
        lv, tf, flags = compute_levels(batch, comps)
        parts["left"].append(batch.column(0).to_numpy())
        parts["right"].append(batch.column(1).to_numpy())
        parts["rule"].append(batch.column(2).to_numpy())
        parts["levels"].append(lv)
        parts["tf"].append(tf)
        parts["swapped"].append(flags["swapped"])
        parts["rare_address"].append(flags["rare_address"])
        if progress is not None:
            progress(batch.num_rows, total)
    k = len(comps)
    empty = {
        "left": np.zeros(0, dtype=np.int32), "right": np.zeros(0, dtype=np.int32), "rule": np.zeros(0, dtype=np.int16),
        "levels": np.zeros((0, k), dtype=np.int8), "tf": np.zeros((0, k), dtype=np.float32),
        "swapped": np.zeros(0, dtype=bool), "rare_address": np.zeros(0, dtype=bool),
    }
    return {key: (np.concatenate(v) if v else empty[key]) for key, v in parts.items()}


def _random_pairs(n: int, count: int, seed: int = 20261129) -> pa.Table:
    """Uniform random pairs of distinct records (left < right), deterministic."""
    rng = np.random.default_rng(seed)
    total = n * (n - 1) // 2
    if total <= count:
        left, right = np.triu_indices(n, k=1)
    else:
        a = rng.integers(0, n, size=count)
        b = rng.integers(0, n - 1, size=count)
        b = np.where(b >= a, b + 1, b)
        left, right = np.minimum(a, b), np.maximum(a, b)
    return pa.table({
        "left_idx": pa.array(left.astype(np.int32)),
        "right_idx": pa.array(right.astype(np.int32)),
        "rule_no": pa.array(np.full(len(left), -1, dtype=np.int16)),
    })


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
    th = config.matching.thresholds
    with timed(result):
        present = {k: v for k, v in _present_columns(con, source).items() if v}
        comps = active_comparisons(present)
        k = len(comps)
        n_records = con.execute(f'SELECT count(*) FROM "{source}"').fetchall()[0][0]
        feat_sql, _ = _feature_sql(source, present, comps)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _score_features AS {feat_sql}")
        fcols = [r[0] for r in con.execute("DESCRIBE _score_features").fetchall() if r[0] != "rec_idx"]
        n_pairs = con.execute(f'SELECT count(*) FROM "{pairs}"').fetchall()[0][0]
        cand = _pair_levels(con, f'SELECT left_idx, right_idx, rule_no FROM "{pairs}"', comps, fcols, progress, n_pairs)
        con.register("_random_pairs_arrow", _random_pairs(n_records, RANDOM_PAIRS))
        rand = _pair_levels(con, "SELECT * FROM _random_pairs_arrow", comps, fcols)
        con.unregister("_random_pairs_arrow")
        con.execute("DROP TABLE IF EXISTS _score_features")

        levels, tfs = cand["levels"], cand["tf"]
        tier, conflict = person_evidence(levels, comps, cand["rare_address"])
        model = build_model(levels, tier, rand["levels"], comps, n_records, config.matching.em_iterations) if k else None

        weights = np.zeros((len(levels), k), dtype=np.float32)
        prior = 0.0
        if model is not None:
            for j in range(k):
                col = levels[:, j]
                w = np.where(col >= 0, model.weights[j][np.clip(col, 0, None)], 0.0)
                if config.matching.term_frequency:
                    # Term frequency: agreeing on a value shared by a fraction f of records is
                    # worth log2(m / f): a common surname or a switchboard is weak evidence.
                    t = tfs[:, j]
                    has = ~np.isnan(t) & (col >= 0)
                    log_m = np.log2(model.m[j][np.clip(col, 0, None)])
                    w_tf = np.clip(log_m - t, 0.0, w + TF_MAX_BONUS)
                    w = np.where(has, w_tf, w)
                weights[:, j] = w
            prior = math.log2(model.prior / (1 - model.prior))
        total = prior + weights.sum(axis=1, dtype=np.float64)
        prob = 1.0 / (1.0 + np.exp2(-total))

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
            "left_idx": pa.array(cand["left"], pa.int32()),
            "right_idx": pa.array(cand["right"], pa.int32()),
            "rule_no": pa.array(cand["rule"], pa.int16()),
            "match_weight": pa.array(total.astype(np.float32)),
            "match_probability": pa.array(capped.astype(np.float64)),
            "gate": pa.array(gate, pa.string()),
            "name_swapped": pa.array(cand["swapped"]),
        }
        for j, comp in enumerate(comps):
            cols[f"lvl_{comp.name}"] = pa.array(levels[:, j], pa.int8())
            cols[f"w_{comp.name}"] = pa.array(weights[:, j], pa.float32())
        con.register("_scored_arrow", pa.table(cols))
        con.execute(f'CREATE OR REPLACE TABLE "{target}" AS SELECT * FROM _scored_arrow')
        con.unregister("_scored_arrow")
        result.rows = len(levels)
        result.stats = {
            "comparisons": [c.name for c in comps],
            "model": model.as_dict() if model else None,
            "random_pairs": int(len(rand["levels"])),
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

    Tier 2 (may auto-merge): the whole name agrees (any script, any order), or a personal
    (non-shared) email, a mobile number or the birth date agrees, and the given names do not
    clearly differ.
    Tier 1 (review at most): one name part, with a home-like address (a street few records
    share), where no personal identifier contradicts.
    Tier 0 (never a match): nothing about the person, or different given names. Company,
    switchboard, office address and postal code never count, however many of them agree.
    """
    idx = {c.name: j for j, c in enumerate(comps)}
    n = levels.shape[0]

    def lv(name):
        return levels[:, idx[name]] if name in idx else np.full(n, NULL, dtype=np.int8)

    last, first = lv("last_name"), lv("first_name")
    email, phone, dob = lv("email"), lv("phone"), lv("birthdate")
    names_agree = (last >= 2) & (first >= 2)
    unsplit_agree = (last >= 2) & (first == NULL)
    strong_id = (email == 2) | (phone == 2) | (dob >= 2)
    # Different given names are different people (family members share a surname, an address,
    # even an email); a different surname with the same given name may be a marriage, so it
    # needs a personal identifier and then goes to review.
    first_conflict = first == 0
    last_conflict = last == 0
    company = lv("company")
    # ... unless the birth date agrees too (family members do not share one), or a personal
    # identifier agrees at the same company (a misread name on a business card).
    strong = (names_agree | unsplit_agree | strong_id) & (~first_conflict | (dob == 3) | (strong_id & (company == 2)))
    # Review at most, where no personal identifier contradicts (both emails present and
    # different, or no common phone number):
    # - one name part with a home-like address (few records share the street, and no shared
    #   company explains it);
    # - one name part agreeing and the other a near miss (one kanji, a truncated reading), at the
    #   same company or home.
    # (At a home, both emails present and different already contradict: family members; at a
    # company people also use a private address, so only a different phone does.)
    home = rare_address & (company != 2) & (email != 0) & (phone != 0)
    near_miss = ((last >= 2) & (first == 1)) | ((last == 1) & (first >= 2))
    weak = (home & (((last >= 1) | (first >= 1)) & ~first_conflict & ~last_conflict | (last >= 2) | (first >= 2))) | (
        near_miss & (home | ((company == 2) & (phone != 0)))
    )
    tier = np.where(strong, 2, np.where(weak, 1, 0)).astype(np.int8)
    conflict = last_conflict | first_conflict
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
