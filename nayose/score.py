"""Score: Fellegi–Sunter match probabilities for candidate pairs.

Per-field comparison levels are computed with rapidfuzz's vectorized `process.cpdist` over Arrow
batches of pairs (never a Python loop over pairs). m and u probabilities are estimated without
labels by EM over the comparison-pattern counts of the candidate pairs themselves (so u reflects
the pairs that blocking actually produces, where colleagues share a company, a switchboard and a
postcode), and exact agreements are adjusted by term frequency: a common surname such as 佐藤 or
a switchboard number shared by many colleagues is weak evidence, a rare one strong.

Pairs are compared in Arrow batches and only compact per-pair arrays (int8 levels, float32
value shares, flags) are kept across batches; the model needs only their pattern counts, and the
scored pairs are weighted and written slice by slice, so memory does not follow the size of all
pairs' intermediate arrays.

Company-level evidence (company, shared phones, address) never makes a match by itself: unless a
pair has person-level evidence (the name in any script or order, a personal email, a mobile, the
birth date), its probability is capped below the review threshold.
"""

from __future__ import annotations

import json
import math
import queue
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import JaroWinkler, Levenshtein, Prefix
from rapidfuzz.process import cpdist

from nayose.config import Config
from nayose.stage import StageResult, fine_grained_scans, timed

GATES = {1: "no person-level evidence", 2: "weak person-level evidence", 3: "names do not agree",
         4: "raised to review: the person ID of a business-card service agrees",
         5: "two personal mailboxes at the company's domain: two people",
         6: "raised to review: one home, and in this register a shared home is one person's",
         7: "another given name at one home: in this register homes hold families",
         8: "raised to review: a name part read wrong at one company",
         9: "raised to review: the mobile number and the name agree (a job change?)",
         10: "review at most: two records without a name that nothing tells apart at one company (a list loaded twice?)"}
NULL = -1  # level of a comparison where either side is empty: no evidence either way
BATCH_ROWS = 500_000  # pairs per Arrow batch of the pair query
APPLY_BATCH_ROWS = 1_000_000  # pairs per slice when weighting and writing the scored pairs
PREFETCH = True  # fetch the next pair-query batch in a background thread (see _prefetched)


def gate_label_sql(column: str) -> str:
    """SQL: the GATES label of the gate number in `column` (NULL for none)."""
    cases = " ".join(f"WHEN {k} THEN '{v.replace(chr(39), chr(39) * 2)}'" for k, v in GATES.items())
    return f"CASE {column} {cases} END"


@dataclass
class Comparison:
    """One compared field (or field group): its levels, from 0 (disagree) up to the strongest."""

    name: str
    levels: list[str]
    columns: list[str]  # normalized columns it reads; the first decides whether it is active


# Level labels are used in the evidence shown to analysts.
COMPARISONS: list[Comparison] = [
    Comparison(
        "last_name",
        ["different", "similar (jw>=0.80)", "close (jw>=0.92)", "same reading", "exact"],
        ["last_name", "first_name", "last_reading", "first_reading"],
    ),
    Comparison(
        "first_name",
        ["different", "similar (jw>=0.80)", "close (jw>=0.92)", "same reading", "exact"],
        ["last_name", "first_name", "last_reading", "first_reading"],
    ),
    Comparison(
        "email",
        # No "similar" level: t.sato@ and k.sato@ are colleagues, and a local part made of the
        # name (yui_shimizu@) agrees for namesakes at other companies.
        ["different", "same shared mailbox", "exact"],
        ["email", "email_is_role"],
    ),
    Comparison(
        "phone",
        ["different", "same landline", "same mobile"],
        ["phone", "mobile", "phone_is_mobile"],
    ),
    Comparison("company", ["different", "similar", "exact"], ["company_core", "company_reading"]),
    Comparison("birthdate", ["different", "same year", "one digit off", "exact"], ["birthdate"]),
    # The address parts move together (an office move changes them all), so they are one
    # comparison, graded by how many parts agree; a typo in one part only lowers it one level.
    Comparison(
        "address",
        ["different", "same region", "same area", "mostly same", "same"],
        ["street", "postal_code", "city", "prefecture", "state"],
    ),
    # A business-card service's person ID (Sansan's): the service's own consolidation of its cards.
    Comparison("person_id", ["different", "same"], ["card_person_id"]),
]



def _present_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, bool]:
    cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    if not cols:
        return {}
    # (EXISTS stops at a column's first value: only the empty columns are read whole)
    checks = ", ".join(f'EXISTS (SELECT 1 FROM "{table}" WHERE "{c}" IS NOT NULL)' for c in cols)
    filled = con.execute(f"SELECT {checks}").fetchall()[0]
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
# Level computation, vectorized per batch.
#
# Equality, prefixes, edit distances and the secondary fields' levels are computed by DuckDB in
# the pair query itself (vectorized C++, no Python objects). The names, where the fuzzy
# comparison decides most, are compared with rapidfuzz's cpdist over the batch's Arrow columns.

KANJI_RE = "[\\x{3005}\\x{4E00}-\\x{9FFF}\\x{F900}-\\x{FAFF}]"  # 々 and CJK ideographs
CROSS_SCRIPT_CLOSE = 0.85
TF_MAX_BONUS = 10.0  # bits a rare value may add over the level's average weight
TF_MIN_POPULATION = 5_000  # shares are taken over at least this many records (tiny files)
SHARED_EMAIL_NAMES = 4  # an email used under this many different names is a shared mailbox ...
SHARED_EMAIL_RECORDS = 8  # ... and so is one on this many records, whatever its local part
RARE_ADDRESS_MAX = 3  # an address shared by more records than this is an office, not a home
#: A birth date on this day of the year (MM-DD) is often a stand-in for an unknown day: what a
#: form's date picker starts at (2000-01-01), what a register writes when only the year is known.
#: Two records agreeing on it agree on the year only ("same year"), never "exact".
STAND_IN_BIRTH_DAY = "01-01"
# In a person register (no contact channel: no offices in the data) a person's own duplicate
# records share their home address; up to this many records at one street is still a home.
REGISTER_HOME_MAX = 6


def _col(batch: pa.RecordBatch, name: str) -> pa.Array:
    return batch.column(batch.schema.get_field_index(name))


def _strs(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """A string column as an object array, '' for null (what cpdist wants)."""
    return _col(batch, name).fill_null("").to_numpy(zero_copy_only=False)


def _bools(batch: pa.RecordBatch, name: str) -> np.ndarray:
    return _col(batch, name).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def _ints(batch: pa.RecordBatch, name: str) -> np.ndarray:
    return _col(batch, name).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int8)


def _floats(batch: pa.RecordBatch, name: str) -> np.ndarray:
    return _col(batch, name).to_numpy(zero_copy_only=False).astype(np.float64)


def _jw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=-1, dtype=np.float32)


# (the readings of a kanji name live in normalize, which also uses them: a mailbox that spells one)
from nayose.normalize import NAME_READINGS_MAX, kana_length_key, name_readings  # noqa: E402

_KANA_ONLY = "^[\u3041-\u3096\u30a1-\u30fa\u30fc\u309d\u309e\u30fd\u30fe ・]+$"


_SOUND_CODES: dict[str, int] = {}  # one code per sound, shared by every call (codes are compared)


def _foreign_sounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per written name of `values` (an object array, '' for none): its foreign-name sound as an
    integer code (-1 for none; equal codes are equal sounds) and its script
    (`nayose.normalize.foreign_name_script`). Work per distinct value."""
    from nayose.normalize import _foreign_sound_of, foreign_name_script

    uniq, inv = np.unique(values.astype(str), return_inverse=True)
    codes = _SOUND_CODES
    snd = np.full(len(uniq), -1, dtype=np.int64)
    scr = np.zeros(len(uniq), dtype=np.int8)
    for i, v in enumerate(uniq.tolist()):
        k = _foreign_sound_of(v)  # (normalize's rule: name_sound is built from the same)
        if k is not None:
            scr[i] = foreign_name_script(v)
            snd[i] = codes.setdefault(k, len(codes))
    inv = inv.reshape(-1)
    return snd[inv], scr[inv]


def _sound_agrees(snd_x: np.ndarray, scr_x: np.ndarray, snd_y: np.ndarray, scr_y: np.ndarray) -> np.ndarray:
    """Foreign names that sound the same, one in katakana and one in Latin letters, one of them
    clearly foreign (see `nayose.normalize.foreign_sound_agrees`)."""
    kata_x, kata_y = (scr_x == 1) | (scr_x == 3), (scr_y == 1) | (scr_y == 3)
    latin_x, latin_y = (scr_x == 2) | (scr_x == 4), (scr_y == 2) | (scr_y == 4)
    cross = (kata_x & latin_y) | (latin_x & kata_y)
    return cross & ((scr_x >= 3) | (scr_y >= 3)) & (snd_x >= 0) & (snd_x == snd_y)


_SIM_EVERY_PAIR = False  # tests: compute every similarity, to check that skipping them changes nothing


class RecordNames:
    """Per-record name values by rec_idx, for the name levels: the readings (lr = reading or
    written surname, fr = given name) and written names as codes into one vocabulary of the
    distinct values, the kanji flags, the value shares (lf_*) and the names' counts (n_*, for
    rare_near_miss; kept with the shares, `shares[col]`). The pair query then carries
    none of them (`pair_levels_sql(..., name_strings=False)`): equalities are code comparisons,
    and the pairs whose similarity matters take their strings by index (a few distinct Python
    strings instead of an Arrow -> Python conversion per pair)."""

    SHARE_COLUMNS = ("lf_last_name", "lf_first_name", "lf_last_reading", "lf_first_reading", "n_last_name", "n_first_name")

    def __init__(self, table: pa.Table) -> None:
        t = table.combine_chunks()
        n = t.num_rows
        rec_idx = t.column("rec_idx").to_numpy().astype(np.int64)
        parts = ("lr", "fr", "last_name", "first_name")
        # One vocabulary of the four columns' values: each column encoded on its own (Arrow
        # releases the interpreter's lock: two at a time), then the dictionaries unified -- the
        # same first-seen order as encoding the four one after the other.
        with ThreadPoolExecutor(max_workers=2) as pool:
            encoded = list(pool.map(lambda c: t.column(c).cast(pa.string()).combine_chunks().dictionary_encode(), parts))
        unified = pa.chunked_array(encoded, pa.dictionary(pa.int32(), pa.string())).unify_dictionaries()
        dictionary = unified.chunk(0).dictionary if unified.num_chunks else pa.array([], pa.string())
        self.vocab = np.append(dictionary.to_numpy(zero_copy_only=False), "").astype(object)
        self.null = len(self.vocab) - 1  # the code of a missing value ('' in the vocabulary, never equal)
        # lengths and first characters' code points in C loops (no Python call per value)
        self.length = np.append(pc.utf8_length(dictionary).to_numpy(zero_copy_only=False), 0).astype(np.int64)
        self.first = np.array(self.vocab.tolist(), dtype="<U1").view(np.uint32).astype(np.int64)
        self.first[self.length == 0] = -1
        size = int(rec_idx.max(initial=-1)) + 1
        self._index: dict[str, int] | None = None
        self._reading_keys: dict[bool, dict[int, np.ndarray]] = {True: {}, False: {}}
        self.codes = {}
        for i, c in enumerate(parts):
            arr = np.full(size, self.null, dtype=np.int32)
            arr[rec_idx] = unified.chunk(i).indices.fill_null(self.null).to_numpy(zero_copy_only=False).astype(np.int32)
            self.codes[c] = arr
        self.kanji = {}
        for c in ("last_kanji", "first_kanji"):
            arr = np.zeros(size, dtype=bool)
            arr[rec_idx] = t.column(c).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
            self.kanji[c] = arr
        # Foreign names heard and written twice (ロジャース / Rogers): sound codes and scripts per
        # record, from the distinct written names.
        used = np.unique(np.concatenate([self.codes["last_name"], self.codes["first_name"]]))
        snd_v = np.full(len(self.vocab), -1, dtype=np.int64)
        scr_v = np.zeros(len(self.vocab), dtype=np.int8)
        snd_v[used], scr_v[used] = _foreign_sounds(self.vocab[used])
        self.sound = {c: snd_v[self.codes[c]] for c in ("last_name", "first_name")}
        self.script = {c: scr_v[self.codes[c]] for c in ("last_name", "first_name")}
        self.shares = {}
        for c in self.SHARE_COLUMNS:
            arr = np.full(size, np.nan, dtype=np.float64)
            arr[rec_idx] = t.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
            self.shares[c] = arr

    def reading_keys(self, written: np.ndarray, surname: bool) -> np.ndarray:
        """For the written names with codes `written` (surnames or given names): code * len(vocab)
        + code of each reading `name_readings` gives the name that is in the vocabulary (a reading
        no record has can agree with nothing). Kept per name across batches."""
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.vocab.tolist()) if v}
        size, index, keys = len(self.vocab), self._index, self._reading_keys[surname]
        for c in written.tolist():
            if c not in keys:
                codes = [index[r] for r in name_readings(self.vocab[c], surname) if r in index]
                keys[c] = c * size + np.asarray(codes, dtype=np.int64)
        parts = [keys[c] for c in written.tolist()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, features: str = "_score_features") -> "RecordNames":
        cols = ", ".join(("rec_idx", "lr", "fr", "last_name", "first_name", "last_kanji", "first_kanji") + cls.SHARE_COLUMNS)
        return cls(con.sql(f"SELECT {cols} FROM {features}").to_arrow_table())


class _NamePairs:
    """The name primitives of a batch of pairs (what _pair_select computes per pair: e_ written
    names equal, q_ readings equal, p_ one a prefix of the other, k_ one kanji off, null and kanji
    flags, the strings and the value shares), from the batch's columns or from a RecordNames."""

    _SIDES = {"ll": ("lr", "lr"), "ff": ("fr", "fr"), "lf": ("lr", "fr"), "fl": ("fr", "lr")}
    _WRITTEN = {"l": "last_name", "f": "first_name"}

    def __init__(self, batch: pa.RecordBatch, names: "RecordNames | None") -> None:
        self.batch, self.names, self.n = batch, names, batch.num_rows
        if names is not None:
            self.left = _col(batch, "left_idx").to_numpy().astype(np.int64)
            self.right = _col(batch, "right_idx").to_numpy().astype(np.int64)
            self._code: dict = {}

    def code(self, side: str, col: str) -> np.ndarray:
        key = (side, col)
        if key not in self._code:
            self._code[key] = self.names.codes[col][self.left if side == "l" else self.right]
        return self._code[key]

    def flags(self) -> dict[str, np.ndarray]:
        """e_, q_, k_ per alignment, ln1n / fn1n / ln2n / fn2n, lk1 / fk1 / lk2 / fk2 (p_ come from
        `prefix`, only where needed)."""
        batch, names = self.batch, self.names
        if names is None:
            b = {c: _bools(batch, c) for c in (
                "ln1n", "fn1n", "ln2n", "fn2n", "e_ll", "e_ff", "e_lf", "e_fl", "q_ll", "q_ff", "q_lf", "q_fl",
                "p_ll", "p_ff", "p_lf", "p_fl", "k_ll", "k_ff", "k_lf", "k_fl", "lk1", "fk1", "lk2", "fk2")}
            # Foreign names heard and written twice (ロジャース / Rogers) have the same reading.
            sounds = {side + "_" + c: _foreign_sounds(_strs(batch, f"{side}_{c}"))
                      for side in ("l", "r") for c in ("last_name", "first_name")}
            for tag in self._SIDES:
                x, y = self._WRITTEN[tag[0]], self._WRITTEN[tag[1]]
                b[f"q_{tag}"] |= _sound_agrees(*sounds[f"l_{x}"], *sounds[f"r_{y}"])
            return b
        null = names.null
        # k_lf / k_fl are read only where the names are swapped (a few pairs): _name_levels fills
        # them there (kanji_typo); k_ll / k_ff come from the pair query.
        b = {f"k_{t}": _bools(batch, f"k_{t}") if t in ("ll", "ff") else np.zeros(self.n, dtype=bool) for t in self._SIDES}
        for tag in self._SIDES:
            x, y = self._WRITTEN[tag[0]], self._WRITTEN[tag[1]]
            b[f"q_{tag}"] = _sound_agrees(names.sound[x][self.left], names.script[x][self.left],
                                          names.sound[y][self.right], names.script[y][self.right])
        for tag in self._SIDES:
            x, y = self._WRITTEN[tag[0]], self._WRITTEN[tag[1]]
            cx, cy = self.code("l", x), self.code("r", y)
            b[f"e_{tag}"] = (cx == cy) & (cx != null)
            rx, ry = self._SIDES[tag]
            cx, cy = self.code("l", rx), self.code("r", ry)
            b[f"q_{tag}"] |= (cx == cy) & (cx != null)
        for side, no in (("l", "1"), ("r", "2")):
            b[f"ln{no}n"] = self.code(side, "last_name") == null
            b[f"fn{no}n"] = self.code(side, "first_name") == null
            idx = self.left if side == "l" else self.right
            b[f"lk{no}"] = names.kanji["last_kanji"][idx]
            b[f"fk{no}"] = names.kanji["first_kanji"][idx]
        return b

    def kanji_typo(self, tag: str, rows: np.ndarray) -> np.ndarray:
        """k_ of an alignment at `rows` (what the pair query computes with name strings): both
        written names in kanji, different, at least two characters each, one edit apart."""
        names = self.names
        x, y = self._WRITTEN[tag[0]], self._WRITTEN[tag[1]]
        cx, cy = self.code("l", x)[rows], self.code("r", y)[rows]
        kx = names.kanji[x.replace("_name", "_kanji")][self.left[rows]]
        ky = names.kanji[y.replace("_name", "_kanji")][self.right[rows]]
        out = np.zeros(len(rows), dtype=bool)
        sub = np.flatnonzero(kx & ky & (cx != cy) & (cx != names.null) & (cy != names.null)
                             & (np.minimum(names.length[cx], names.length[cy]) >= 2))
        if len(sub):
            out[sub] = cpdist(names.vocab[cx[sub]], names.vocab[cy[sub]], scorer=Levenshtein.distance,
                              workers=-1, dtype=np.int32) == 1
        return out

    def _values(self, x: str, y: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The left record's `x` and the right record's `y` at `rows` ('' where missing)."""
        if self.names is None:
            def get(c: str) -> np.ndarray:
                return _col(self.batch, c).take(pa.array(rows)).fill_null("").to_numpy(zero_copy_only=False)
            return get(f"l_{x}"), get(f"r_{y}")
        return self.names.vocab[self.code("l", x)[rows]], self.names.vocab[self.code("r", y)[rows]]

    def strings(self, tag: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The readings an alignment compares, at `rows`."""
        return self._values(*self._SIDES[tag], rows)

    def written(self, tag: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The written names (not readings) an alignment compares, at `rows`."""
        return self._values(self._WRITTEN[tag[0]], self._WRITTEN[tag[1]], rows)

    def string_codes(self, tag: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`strings` as codes into the RecordNames vocabulary."""
        x, y = self._SIDES[tag]
        return self.code("l", x)[rows], self.code("r", y)[rows]

    def written_codes(self, tag: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`written` as codes into the RecordNames vocabulary."""
        return self.code("l", self._WRITTEN[tag[0]])[rows], self.code("r", self._WRITTEN[tag[1]])[rows]

    def prefix(self, tag: str, rows: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
        """p_ at `rows` (one reading a prefix of the other, both non-empty), given their strings;
        None when the batch carries p_ itself. Only pairs whose first characters agree can be."""
        if self.names is None:
            return None
        x, y = self._SIDES[tag]
        ca, cb = self.code("l", x)[rows], self.code("r", y)[rows]
        fa = self.names.first[ca]
        out = (fa >= 0) & (fa == self.names.first[cb])
        sub = np.flatnonzero(out)
        if len(sub):
            la, lb = self.names.length[ca[sub]], self.names.length[cb[sub]]
            common = cpdist(a[sub], b[sub], scorer=Prefix.similarity, workers=-1, dtype=np.int64)
            out[sub] = common == np.minimum(la, lb)
        return out

    def shares(self, side: str, col: str) -> np.ndarray:
        if self.names is None:
            return _floats(self.batch, f"{side}_{col}")
        return self.names.shares[col][self.left if side == "l" else self.right]


def _name_levels(batch: pa.RecordBatch, names: "RecordNames | None" = None) -> dict[str, np.ndarray]:
    """last_name / first_name levels after aligning swapped order and whole names in one field.

    Jaro-Winkler similarities are computed only for the pairs where they can change the result:
    not where the readings are equal or written names equal (those decide first), not where a
    name is missing, and the swapped-order ones only where swapping could win (see below)."""
    np_ = _NamePairs(batch, names)
    b = np_.flags()
    n = batch.num_rows
    if names is not None:
        for tag in ("ll", "ff", "lf", "fl"):
            b[f"p_{tag}"] = np.zeros(n, dtype=bool)  # filled where read, with the similarities

    def sim(tag: str, need: np.ndarray) -> np.ndarray:
        # Rows not computed keep 0.0: they are never read (equal readings or written names
        # decide first, a missing name gives NULL, and swap-order rows only matter when swapped).
        out = np.zeros(n, dtype=np.float32)
        rows = np.arange(n) if _SIM_EVERY_PAIR else np.flatnonzero(need & ~b[f"e_{tag}"] & ~b[f"q_{tag}"])
        if len(rows):
            x, y = np_.strings(tag, rows)
            out[rows] = _jw(x, y)
            p = np_.prefix(tag, rows, x, y)
            if p is not None:
                # p_ is read only where the similarity is (the same rows decide the level)
                b[f"p_{tag}"][rows] = p
        return out

    all_present = ~b["fn1n"] & ~b["fn2n"] & ~b["ln1n"] & ~b["ln2n"]
    s_ll = sim("ll", ~b["ln1n"] & ~b["ln2n"])
    s_ff = sim("ff", ~b["fn1n"] & ~b["fn2n"])

    # A name in kanji against one in kana / romaji: any reading the kanji may have (根本 is
    # konpon or nemoto, 直穂 naoho) agreeing is the same reading, not only the one guessed.
    def other_reading(tag: str, need: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        kl, kr = b[f"{tag[0]}k1"], b[f"{tag[1]}k2"]
        rows = np.flatnonzero(need & (kl ^ kr) & ~b[f"e_{tag}"] & ~b[f"q_{tag}"])
        if len(rows):
            left_kanji = kl[rows]
            # (the kanji name's field says how it may read: a surname as the dictionary knows it)
            surname = np.where(left_kanji, tag[0] == "l", tag[1] == "l")
            if np_.names is not None:  # readings per distinct kanji name, then one set lookup
                (wl, wr), (rl, rr) = np_.written_codes(tag, rows), np_.string_codes(tag, rows)
                size = len(np_.names.vocab)
                kanji = np.where(left_kanji, wl, wr).astype(np.int64)
                other = np.where(left_kanji, rr, rl).astype(np.int64)
                for role in (True, False):
                    sel = np.flatnonzero(surname == role)
                    if len(sel):
                        out[rows[sel]] = np.isin(kanji[sel] * size + other[sel],
                                                 np_.names.reading_keys(np.unique(kanji[sel]), role))
            else:
                (wl, wr), (rl, rr) = np_.written(tag, rows), np_.strings(tag, rows)
                out[rows] = [(r_ in name_readings(w_l, sur)) if k else (l_ in name_readings(w_r, sur))
                             for k, sur, w_l, w_r, l_, r_ in zip(left_kanji.tolist(), surname.tolist(), wl, wr, rl, rr)]
        return out

    # Alignment: surname with surname, or with the given name when one record has them swapped.
    # The written names decide first (a reading field may follow the person, not the field),
    # then the readings -- the kanji's other readings included: 水上 幸子 against Mizukami Sachiko
    # is read suijo yukiko, which is closer to the swapped order than to the straight one, yet
    # mizukami and sachiko are readings of the kanji in the straight order.
    alt_ll = other_reading("ll", ~b["ln1n"] & ~b["ln2n"])
    alt_ff = other_reading("ff", ~b["fn1n"] & ~b["fn2n"])

    def agreement(tag: str, sim: np.ndarray, alt: np.ndarray) -> np.ndarray:
        return np.where(b[f"e_{tag}"], 3.0, np.where(b[f"q_{tag}"] | alt, 2.5, sim))

    straight = agreement("ll", s_ll, alt_ll) + agreement("ff", s_ff, alt_ff)
    # A similarity is at most 1.0, so the swapped order can only win where its upper bound
    # (equal written names 3, equal readings 2.5 -- or a kanji name against kana / romaji, whose
    # other readings may agree --, else 1.0 each) beats the straight order: only there are the
    # swapped-order similarities and readings needed (rounding is monotone, so the bound holds
    # for the float sum too).
    cross_lf, cross_fl = b["lk1"] ^ b["fk2"], b["fk1"] ^ b["lk2"]
    ones = np.ones(n, dtype=np.float32)
    bound = agreement("lf", ones, cross_lf) + agreement("fl", ones, cross_fl)
    may_swap = all_present & (bound > straight + 0.05)
    s_lf, s_fl = sim("lf", may_swap), sim("fl", may_swap)
    alt_lf, alt_fl = other_reading("lf", may_swap), other_reading("fl", may_swap)
    swap = agreement("lf", s_lf, alt_lf) + agreement("fl", s_fl, alt_fl)
    swapped = all_present & (swap > straight + 0.05)
    if names is not None:  # the swapped alignments' one-kanji-off flags, where they are read
        at = np.flatnonzero(swapped)
        for tag in ("lf", "fl"):
            b[f"k_{tag}"][at] = np_.kanji_typo(tag, at)

    def pick(straight: str, swap: str) -> np.ndarray:
        return np.where(swapped, b[swap], b[straight])

    s_last = np.where(swapped, s_lf, s_ll)
    s_first = np.where(swapped, s_fl, s_ff)
    last_null = b["ln1n"] | np.where(swapped, b["fn2n"], b["ln2n"])
    first_null = b["fn1n"] | np.where(swapped, b["ln2n"], b["fn2n"])
    kanji_last = b["lk1"] & np.where(swapped, b["fk2"], b["lk2"])
    kanji_first = b["fk1"] & np.where(swapped, b["lk2"], b["fk2"])
    cross_last = b["lk1"] ^ np.where(swapped, b["fk2"], b["lk2"])
    cross_first = b["fk1"] ^ np.where(swapped, b["lk2"], b["fk2"])

    def kana_length_differs(straight: str, swap: str, same: np.ndarray, exact: np.ndarray, null: np.ndarray,
                            no_kanji: np.ndarray) -> np.ndarray:
        # Two names both in kana whose readings agree only once long vowels are folded (ユキ /
        # ユウキ, オノ / オオノ): kana write the length out, so they are two names, close ones.
        # (only pairs with no kanji on either side can be two kana names: the strings of those alone)
        out = np.zeros(n, dtype=bool)
        rows = np.flatnonzero(same & ~exact & ~null & no_kanji)
        for tag, sel in ((straight, ~swapped[rows]), (swap, swapped[rows])):
            r = rows[sel]
            if not len(r):
                continue
            x, y = np_.written(tag, r)
            kana = pc.and_(pc.match_substring_regex(pa.array(x, pa.string()), _KANA_ONLY),
                           pc.match_substring_regex(pa.array(y, pa.string()), _KANA_ONLY))
            at = np.flatnonzero(pc.fill_null(kana, False).to_numpy(zero_copy_only=False))
            if len(at):
                out[r[at]] = [kana_length_key(a) != kana_length_key(b) for a, b in zip(x[at].tolist(), y[at].tolist())]
        return out

    def levels(s, exact, same_reading, prefix, kanji_typo, both_kanji, cross, null, length_differs):
        lv = np.zeros(len(s), dtype=np.int8)
        # An initial or a truncated reading (Eight keeps only the first kana) is "similar".
        lv[prefix | (s >= 0.80)] = 1
        # One kanji misread or mistyped (名刺 OCR: 裕子 / 裕予) is "similar", not "different".
        lv[kanji_typo & (lv == 0)] = 1
        # Two different names both in kanji are different names however close their romanized
        # readings (武 takeshi / 隆 takashi); kanji against kana / romaji: the kanji's reading is a
        # guess (小沢 ozawa or kozawa), so a slightly lower similarity already counts as close.
        lv[(s >= 0.92) & ~both_kanji] = 2
        lv[cross & (s >= CROSS_SCRIPT_CLOSE)] = 2
        # Two different kanji spellings of one reading (伊東 / 伊藤 itou, 由紀 / 有紀 yuki) are two
        # names that sound alike (an IME's wrong pick, or another person): close, not the same.
        lv[same_reading & ~both_kanji & ~length_differs] = 3
        lv[same_reading & (both_kanji | length_differs)] = 2
        lv[exact] = 4
        lv[null] = NULL
        return lv

    same_last = pick("q_ll", "q_lf") | np.where(swapped, alt_lf, alt_ll)
    same_first = pick("q_ff", "q_fl") | np.where(swapped, alt_fl, alt_ff)
    no_kanji_last = ~b["lk1"] & ~np.where(swapped, b["fk2"], b["lk2"])
    no_kanji_first = ~b["fk1"] & ~np.where(swapped, b["lk2"], b["fk2"])
    last = levels(s_last, pick("e_ll", "e_lf"), same_last, pick("p_ll", "p_lf"), pick("k_ll", "k_lf"), kanji_last,
                  cross_last, last_null,
                  kana_length_differs("ll", "lf", same_last, pick("e_ll", "e_lf"), last_null, no_kanji_last))
    first = levels(s_first, pick("e_ff", "e_fl"), same_first, pick("p_ff", "p_fl"), pick("k_ff", "k_fl"), kanji_first,
                   cross_first, first_null,
                   kana_length_differs("ff", "fl", same_first, pick("e_ff", "e_fl"), first_null, no_kanji_first))

    # Whole name in one field on one side only: split it at the other side's surname where it
    # starts with it; else compare full readings, both orders (DuckDB).
    one_unsplit = b["fn1n"] ^ b["fn2n"]
    if one_unsplit.any():
        us = _col(batch, "us_levels")
        has_split = ~us.is_null().to_numpy(zero_copy_only=False)
        if has_split.any():
            flat = us.flatten().to_numpy(zero_copy_only=False).astype(np.int8).reshape(-1, 2)
            idx = np.flatnonzero(has_split)
            us_last = np.full(len(last), NULL, dtype=np.int8)
            us_first = np.full(len(last), NULL, dtype=np.int8)
            us_last[idx], us_first[idx] = flat[:, 0], flat[:, 1]
        else:
            us_last = us_first = None
        s_full = _floats(batch, "s_full")
        s_full = np.nan_to_num(s_full, nan=0.0)
        lv_full = np.zeros(len(s_full), dtype=np.int8)
        lv_full[s_full >= 0.80] = 1
        lv_full[s_full >= 0.92] = 2
        lv_full[(b["lk1"] | b["fk1"]) & (b["lk2"] | b["fk2"]) & (lv_full == 2)] = 1
        lv_full[s_full >= 0.999] = 3
        use = one_unsplit & ~(b["ln1n"] & b["fn1n"]) & ~(b["ln2n"] & b["fn2n"])
        last = np.where(use, lv_full, last).astype(np.int8)
        first = np.where(use, np.int8(NULL), first).astype(np.int8)
        if us_last is not None:
            split = use & has_split
            last = np.where(split, us_last, last).astype(np.int8)
            first = np.where(split, us_first, first).astype(np.int8)
        # A single name that is the other record's given name (the surname field holding the
        # given name, or the surname left out): the given names agree, the surname is unknown.
        single_is_first = np.where(
            b["fn1n"], np.where(b["e_lf"], 4, np.where(b["q_lf"], 3, -1)), np.where(b["e_fl"], 4, np.where(b["q_fl"], 3, -1))
        ).astype(np.int8)
        given = use & (single_is_first >= 3) & (last < 3)
        if us_last is not None:
            given &= ~has_split
        first = np.where(given, single_is_first, first).astype(np.int8)
        last = np.where(given, np.int8(NULL), last).astype(np.int8)
    return {"last_name": last, "first_name": first, "swapped": swapped}


def compute_levels(
    batch: pa.RecordBatch, comps: list[Comparison], names: "RecordNames | None" = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Levels (pairs x comparisons, int8), log2 share of the agreed value (pairs x comparisons,
    NaN where not applicable) and per-pair flags: `swapped` (surname and given name in swapped
    fields) and `rare_address` (the address agrees and its street is shared by at most
    RARE_ADDRESS_MAX records, so it is a person's, not an office's).

    With `names` (a RecordNames: the records' name values by rec_idx), the batch need not carry
    them (`pair_levels_sql(..., name_strings=False)`); the levels are the same."""
    n = batch.num_rows
    levels = np.full((n, len(comps)), NULL, dtype=np.int8)
    tf = np.full((n, len(comps)), np.nan, dtype=np.float32)
    swapped = np.zeros(n, dtype=bool)
    rare_address = np.zeros(n, dtype=bool)
    name_lv = np_ = None
    for j, comp in enumerate(comps):
        if comp.name in ("last_name", "first_name"):
            if name_lv is None:
                name_lv = _name_levels(batch, names)
                swapped = name_lv["swapped"]
                np_ = _NamePairs(batch, names)  # (the per-record shares and counts, by pair)
            lv = name_lv[comp.name]
            part = comp.name.split("_")[0]
            other = "first" if part == "last" else "last"
            # The share of the agreed name, on whichever side is more common (conservative; with
            # swapped fields the right-hand value sits in the other field).
            r_exact = np.where(swapped, np_.shares("r", f"lf_{other}_name"), np_.shares("r", f"lf_{part}_name"))
            r_read = np.where(swapped, np_.shares("r", f"lf_{other}_reading"), np_.shares("r", f"lf_{part}_reading"))
            lf_exact = np.fmax(np_.shares("l", f"lf_{part}_name"), r_exact)
            lf_read = np.fmax(np_.shares("l", f"lf_{part}_reading"), r_read)
            tf[:, j] = np.where(lv == 4, lf_exact, np.where(lv == 3, lf_read, np.nan))
        else:
            lv = _ints(batch, f"lvl_{comp.name}")
            tf[:, j] = _floats(batch, f"tf_{comp.name}")
            if comp.name == "address":
                rare_address = _bools(batch, "rare_address")
        levels[:, j] = lv
    rare_near = np.zeros(n, dtype=bool)
    compared = [c.name for c in comps]
    if np_ is not None and "last_name" in compared and "first_name" in compared:
        rare_near = rare_near_miss(
            levels[:, compared.index("last_name")], levels[:, compared.index("first_name")], swapped,
            np_.shares("l", "n_last_name"), np_.shares("l", "n_first_name"),
            np_.shares("r", "n_last_name"), np_.shares("r", "n_first_name"))
    nameless = np.zeros(n, dtype=bool)
    if np_ is not None:
        nameless = both_nameless(np_.shares("l", "n_last_name"), np_.shares("l", "n_first_name"),
                                 np_.shares("r", "n_last_name"), np_.shares("r", "n_first_name"))
    return levels, tf, {"swapped": swapped, "rare_address": rare_address, "rare_near": rare_near, "nameless": nameless}


def both_nameless(l_last: np.ndarray, l_first: np.ndarray, r_last: np.ndarray, r_first: np.ndarray) -> np.ndarray:
    """Per pair: neither record has a name (the name counts n_last_name / n_first_name are NaN where
    the record has no such name; a placeholder name -- ご担当者様, 不明 -- is none)."""
    return np.isnan(l_last) & np.isnan(l_first) & np.isnan(r_last) & np.isnan(r_first)


RARE_NAME_RECORDS = 2  # a name on at most this many records (itself and one more) is rare


def rare_near_miss(last: np.ndarray, first: np.ndarray, swapped: np.ndarray, l_last: np.ndarray, l_first: np.ndarray,
                   r_last: np.ndarray, r_first: np.ndarray) -> np.ndarray:
    """Per pair: a name part is a near miss (level 1), and every near-miss part looks misread: on
    one side or the other it is held by at most RARE_NAME_RECORDS records (the feature table's
    counts n_last_name / n_first_name: the model's count of a value when it has one; the right
    record's parts are crossed where its names are swapped). A misread or mistyped name (恵子 read
    恵予 off a card) is a string nobody else carries; two colleagues' or two siblings' names (誠一
    / 真一, 美香 / 美咲) are real names, seen elsewhere in the org."""
    r_l, r_f = np.where(swapped, r_first, r_last), np.where(swapped, r_last, r_first)
    with np.errstate(invalid="ignore"):
        rare_last = np.fmin(l_last, r_l) <= RARE_NAME_RECORDS
        rare_first = np.fmin(l_first, r_f) <= RARE_NAME_RECORDS
    return ((first == 1) | (last == 1)) & ((first != 1) | rare_first) & ((last != 1) | rare_last)


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
    "person_id": [0.10, 0.90],
    "address": [0.10, 0.03, 0.07, 0.15, 0.65],
}
M_FLOOR = 0.02  # no agreement level is impossible for a true match (data entry is messy)
MIN_TRAINING_PAIRS = 30
RANDOM_PAIRS = 60_000


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


_PATTERN_BASE = 8  # levels run from -1 (missing) to at most 6: one base-8 digit per comparison


def _pattern_codes(rows: np.ndarray) -> np.ndarray:
    """Each comparison pattern as one int64, the first comparison most significant, so sorted codes
    are the patterns in np.unique(axis=0)'s order (a 1-D unique is many times faster)."""
    codes = np.zeros(len(rows), dtype=np.int64)
    for j in range(rows.shape[1]):
        codes = codes * _PATTERN_BASE + (rows[:, j].astype(np.int64) + 1)
    return codes


def _pattern_rows(codes: np.ndarray, width: int) -> np.ndarray:
    """The patterns back from their codes (inverse of _pattern_codes)."""
    out = np.empty((len(codes), width), dtype=np.int8)
    rest = codes.copy()
    for j in range(width - 1, -1, -1):
        out[:, j] = (rest % _PATTERN_BASE - 1).astype(np.int8)
        rest //= _PATTERN_BASE
    return out


def estimate_m(
    levels: np.ndarray, comps: list[Comparison], u: list[np.ndarray], use: list[int], learn: list[int],
    m_init: list[np.ndarray], iterations: int, pair_counts: np.ndarray | None = None,
) -> tuple[list[np.ndarray], float, int]:
    """EM for m (u held fixed) over the comparisons `use` of the training pairs `levels`.

    Returns the new m for the comparisons in `learn` (others unchanged), the match proportion
    among the training pairs and the iterations run. Pattern counts keep it fast at any size.
    With `pair_counts`, each row of `levels` is a comparison pattern standing for that many pairs
    (the Spark engine aggregates them on the cluster); the EM sees the same counts either way.
    """
    if pair_counts is None:
        codes, counts = np.unique(_pattern_codes(levels[:, use]), return_counts=True)
    else:
        codes, inverse = np.unique(_pattern_codes(levels[:, use]), return_inverse=True)
        counts = np.bincount(inverse.reshape(-1), weights=np.asarray(pair_counts, dtype=np.float64), minlength=len(codes))
    patterns = _pattern_rows(codes, len(use))
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
    n_records: int, iterations: int, comparable_pairs: float | None = None, pair_counts: np.ndarray | None = None,
    home: np.ndarray | None = None,
) -> Model:
    """Fellegi–Sunter model without labels.

    u comes from random pairs. m is learnt by EM with u held fixed, in two sessions so that no
    field is judged on pairs that were chosen because that field agrees (as Splink does):
    session "names" trains the other fields on pairs whose names agree; session "identifiers"
    trains the names on pairs sharing a personal email, a mobile or a birth date. The prior
    comes from the names session: matches found there, divided by how often a match's names agree.

    With `pair_counts`, `levels` / `tier` are the distinct comparison patterns and these their pair
    counts (the Spark engine's one GROUP BY); the model is the same as from the pairs themselves.

    `home` (a person register's pairs, see shared_home): whether the pair's address is a home
    (few records share it); the model then says whether this data's shared homes are one person's.
    """
    counted = pair_counts is not None

    def n_of(mask: np.ndarray) -> int:
        return int(np.asarray(pair_counts)[mask].sum()) if counted else int(mask.sum())

    def sub(mask: np.ndarray) -> np.ndarray | None:
        return np.asarray(pair_counts)[mask] if counted else None

    idx = {c.name: j for j, c in enumerate(comps)}
    u = estimate_u(random_levels, comps)
    m = [np.array(DEFAULT_M[c.name], dtype=np.float64) for c in comps]
    sessions: dict = {}
    name_cols = [idx[n] for n in ("last_name", "first_name") if n in idx]
    id_cols = [idx[n] for n in ("email", "phone", "birthdate", "person_id") if n in idx]
    other_cols = [j for j in range(len(comps)) if j not in name_cols]

    def lv(name):
        return levels[:, idx[name]] if name in idx else np.full(len(levels), NULL, dtype=np.int8)

    # Session "identifiers": names learnt where a personal identifier agrees.
    ident = ((lv("email") == 2) | (lv("phone") == 2) | (lv("birthdate") == 3) | (lv("person_id") == 1)) & (tier >= 1)
    if name_cols and n_of(ident) >= MIN_TRAINING_PAIRS:
        use = [j for j in range(len(comps)) if j not in id_cols]
        m, lam_i, it = estimate_m(levels[ident], comps, u, use, name_cols, m, iterations, sub(ident))
        sessions["identifiers"] = {"pairs": n_of(ident), "match_proportion": round(lam_i, 4), "iterations": it}
    # Session "names": every other field learnt where both name parts agree.
    names = (lv("last_name") >= 3) & (lv("first_name") >= 3)
    lam_n = None
    if n_of(names) >= MIN_TRAINING_PAIRS and other_cols:
        m, lam_n, it = estimate_m(levels[names], comps, u, other_cols, other_cols, m, iterations, sub(names))
        sessions["names"] = {"pairs": n_of(names), "match_proportion": round(lam_n, 4), "iterations": it}

    # Link mode compares fewer pairs than every pair of records (incoming x existing, incoming x
    # incoming): the prior is taken over the pairs that could be compared.
    total_pairs = max(comparable_pairs if comparable_pairs is not None else n_records * (n_records - 1) / 2, 1.0)
    if lam_n is not None and name_cols:
        p_names_agree = 1.0
        for j in name_cols:
            p_names_agree *= float(m[j][3:].sum())
        expected_matches = lam_n * n_of(names) / max(p_names_agree, 1e-3)
    else:
        # No name agreement to learn from: assume about one duplicate pair per ten records.
        expected_matches = n_records / 10
    prior = float(np.clip(expected_matches / total_pairs, 1e-12, 0.5))
    sessions["expected_matching_pairs"] = round(float(expected_matches), 1)
    if home is not None:
        sessions["shared_home"] = shared_home(levels, home, comps, pair_counts)

    weights = []
    for j in range(len(comps)):
        w = np.log2(m[j] / u[j])
        # A looser agreement is never stronger evidence than a closer one.
        weights.append(np.minimum.accumulate(w[::-1])[::-1])
    return Model(comps, m, u, prior, weights, sessions)


SHARED_HOME_MIN_PAIRS = 30  # home pairs with the birth date the same, and with the names agreeing, to judge from
SHARED_HOME_EXCESS = 1.5  # observed / expected (below) up to which a register's homes are one person's
SHARED_HOME_SLACK = 5  # pairs: chance on small counts


def shared_home(levels: np.ndarray, home: np.ndarray, comps: list[Comparison], pair_counts: np.ndarray | None = None) -> dict:
    """Whether, in a person register (no contact channel), records sharing a home are one person's.

    Pairs at a home (the whole address the same, few records share it) are duplicates or family
    members. Family members have other names and other birth dates; a duplicate has them only when
    both were corrupted, which happens about as often as (share of home pairs with the birth date
    the same whose names do not agree) x (share of home pairs with the names agreeing whose birth
    dates -- both present -- differ). Where the home pairs with the names not agreeing and two
    different birth dates are no more than SHARED_HOME_EXCESS x that (+ SHARED_HOME_SLACK), nobody
    lives with family: a shared home with another name is one person's corrupted record, for review
    (FEBRL's registers: 0.8-0.9 x). Where they are more (one original in a hundred with a relative
    at home already gives ~10 x), another given name at a home is a family member's."""
    idx = {c.name: j for j, c in enumerate(comps)}
    out = {"home_pairs": 0, "one_person": False}
    if not {"last_name", "first_name", "birthdate", "address"} <= idx.keys():
        return out
    w = np.asarray(pair_counts, dtype=np.int64) if pair_counts is not None else np.ones(len(levels), dtype=np.int64)
    at_home = home & (levels[:, idx["address"]] == 4)
    names_agree = (levels[:, idx["last_name"]] >= 2) & (levels[:, idx["first_name"]] >= 2)
    dob = levels[:, idx["birthdate"]]

    def n(mask: np.ndarray) -> int:
        return int(w[mask & at_home].sum())

    pairs, dob_same, names_same = int(w[at_home].sum()), n(dob == 3), n(names_agree)
    out["home_pairs"] = pairs
    if min(dob_same, names_same) < SHARED_HOME_MIN_PAIRS:
        return out
    observed = n(~names_agree & (dob == 0))
    expected = pairs * (n((dob == 3) & ~names_agree) / dob_same) * (n(names_agree & (dob == 0)) / names_same)
    out.update(other_name_and_birth_date=observed, expected_if_duplicates=round(expected, 1),
               one_person=bool(observed <= SHARED_HOME_EXCESS * expected + SHARED_HOME_SLACK))
    return out


# ---------------------------------------------------------------------------------------------
# The stage


# (column, SQL type) of the per-record feature table; a column the data lacks is NULL.
FEATURES = [
    ("last_name", "VARCHAR"), ("first_name", "VARCHAR"), ("last_reading", "VARCHAR"), ("first_reading", "VARCHAR"),
    ("email", "VARCHAR"), ("email_domain", "VARCHAR"), ("email_is_role", "BOOLEAN"), ("email_is_freemail", "BOOLEAN"),
    ("email_local", "VARCHAR"), ("phone", "VARCHAR"), ("mobile", "VARCHAR"),
    ("phone_is_mobile", "BOOLEAN"), ("company_core", "VARCHAR"), ("company_reading", "VARCHAR"), ("company_sound", "VARCHAR"),
    ("birthdate", "VARCHAR"), ("street", "VARCHAR"), ("postal_code", "VARCHAR"), ("city", "VARCHAR"),
    ("prefecture", "VARCHAR"), ("state", "VARCHAR"), ("card_person_id", "VARCHAR"),
]
SHARES = ["last_name", "first_name", "last_reading", "first_reading", "email", "company_core", "street"]


def tf_populations(con: duckdb.DuckDBPyConnection, source: str, present: dict[str, bool]) -> dict[str, int]:
    """The term-frequency populations of `source`: per share column the records with a value,
    and (`phones`) the phone and mobile numbers together. A value's share is its count over
    these; an estimated model keeps them (sessions["tf_populations"]), so that scoring with the
    model later divides by the same numbers (an incremental run then rescores only the pairs
    whose values' counts moved)."""
    cols = [f'count("{c}")' if c in present else "0" for c in SHARES]
    cols.append(" + ".join(f'count("{c}")' for c in ("phone", "mobile") if c in present) or "0")
    row = con.execute(f'SELECT {", ".join(cols)} FROM "{source}"').fetchall()[0]
    return {c: int(v) for c, v in zip([*SHARES, "phones"], row)}


def write_tf_counts(con: duckdb.DuckDBPyConnection, source: str, present: dict[str, bool], table: str) -> None:
    """Keep the model's term-frequency counts: per share column (and `phones`, phone and mobile
    numbers together) every value of `source` with its count. Scoring with the model later takes
    a value's count from here (a value the table lacks: its count in the data then)."""
    parts = [f"SELECT '{c}' AS col, \"{c}\" AS v, count(*) AS n FROM \"{source}\" WHERE \"{c}\" IS NOT NULL GROUP BY ALL"
             for c in SHARES if c in present]
    nums = [f'SELECT "{c}" AS num FROM "{source}" WHERE "{c}" IS NOT NULL' for c in ("phone", "mobile") if c in present]
    if nums:
        parts.append(f"SELECT 'phones' AS col, num AS v, count(*) AS n FROM ({' UNION ALL '.join(nums)}) GROUP BY ALL")
    body = " UNION ALL ".join(parts) or "SELECT NULL::VARCHAR AS col, NULL::VARCHAR AS v, NULL::BIGINT AS n WHERE false"
    # h: hash(col, v), what an incremental run looks values up by (one integer column to read).
    con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT col, v, n, hash(col, v) AS h FROM ({body})')


# Columns the lean pair query compares for equality only: with `_feature_sql(..., codes=True)` the
# feature table carries an integer code for each (`<col>_c`: equal values, equal codes; NULL for
# none; phone and mobile numbered together, as a mobile may be another record's phone), and the
# pair query joins those instead of the strings. Carrying a string through the two joins of the
# pair query costs far more than its comparison: at 1M records (3M pairs) these six strings took
# ~0.8 s of the ~5 s query.
CODED_COLUMNS = ("email", "email_domain", "company_reading", "region", "phone", "mobile")
_CODED_RE = re.compile(r"\b([lr])\.(" + "|".join(CODED_COLUMNS) + r")\b")


def _with_codes(sql: str) -> str:
    """`sql` (the pair query's expressions) comparing the codes of CODED_COLUMNS instead of the values."""
    return _CODED_RE.sub(r"\1.\2_c", sql)


def _others(count: str) -> str:
    """SQL: the other records holding a value held by `count` records (NULL without a value). A
    value's share is the chance that another record has it given that this one does: counting the
    record itself doubled it for a value two records share (a bit of evidence off the rarest
    agreements). A value only one record has is never agreed on; it counts as one."""
    return f"CASE WHEN {count} IS NOT NULL THEN greatest({count} - 1, 1) END"


def _feature_sql(
    source: str, present: dict[str, bool], populations: dict[str, int] | None = None, tf_table: str | None = None,
    counts: str | None = None, base: str | None = None, codes: bool = False,
) -> str:
    """Per-record features: the compared values, value shares (term frequencies) and flags.

    Shares come from one hash aggregate per column joined back (cheaper than window functions).
    `populations` (tf_populations, e.g. a model's) are the shares' denominators; default the
    counts in `source`. With `tf_table` (write_tf_counts: a model's), a value's count comes from
    there when it has one. With `counts` (a table col, v, n: every value of `source`'s records
    counted, e.g. in the whole store) and `base` (where mailboxes are looked at), the records of
    `source` are a few of `base`'s (an incremental run's pair endpoints). With `codes`, the
    CODED_COLUMNS' codes too (see there)."""
    cols = ", ".join(
        f'"{c}"' if c in present else f"NULL::{t} AS {c}" for c, t in FEATURES
    )
    if counts is not None:
        assert populations is not None and base is not None, "given counts need the populations and the base"

    def frozen(col: str, sql: str) -> str:  # the model's count of a value, when it has one
        if counts is not None:
            return f"SELECT v, n FROM \"{counts}\" WHERE col = '{col}'"
        if tf_table is None:
            return sql
        return (f"SELECT x.v, coalesce(f.n, x.n) AS n FROM ({sql}) x "
                f"""LEFT JOIN (SELECT v, n FROM "{tf_table}" WHERE col = '{col}') f ON f.v = x.v""")

    share_ctes, share_joins, share_cols = [], [], []
    for c in SHARES:
        share_ctes.append(f"s_{c} AS ({frozen(c, f'SELECT {c} AS v, count(*) AS n FROM b WHERE {c} IS NOT NULL GROUP BY {c}')})")
        share_joins.append(f"LEFT JOIN s_{c} ON s_{c}.v = b.{c}")
        pop = f"(SELECT count({c}) FROM b)" if populations is None else f"{int(populations[c])}::BIGINT"
        share_cols.append(f"log2({_others(f's_{c}.n')} / greatest({pop}, {TF_MIN_POPULATION})) AS lf_{c}")
    phone_total = (f"SELECT greatest(sum(n), {TF_MIN_POPULATION}) AS total FROM phones" if populations is None
                   else f"SELECT greatest({int(populations['phones'])}::HUGEINT, {TF_MIN_POPULATION}) AS total")
    phone_counts = frozen("phones", """SELECT num AS v, count(*) AS n FROM (
        SELECT phone AS num FROM b WHERE phone IS NOT NULL
        UNION ALL SELECT mobile FROM b WHERE mobile IS NOT NULL) GROUP BY num""")
    mailboxes = f'"{source}" WHERE' if base is None else f'"{base}" WHERE email IN (SELECT email FROM b) AND'
    least = min(SHARED_EMAIL_NAMES, SHARED_EMAIL_RECORDS)
    # (the email shares, when counted here over the same records, already hold every mailbox's count)
    busy = (f"SELECT v AS busy_email FROM s_email WHERE n >= {least}"
            if counts is None and tf_table is None and base is None and "email" in SHARES
            else f"SELECT email AS busy_email FROM {mailboxes} email IS NOT NULL GROUP BY email HAVING count(*) >= {least}")
    code_ctes, code_cols, code_joins = "", "", ""
    if codes:
        # (the email shares and the phone counts already hold one row per value: numbered there)
        coded = {"email_domain": "b.email_domain", "company_reading": "b.company_reading",
                 "region": "coalesce(b.prefecture, b.state)"}  # (region: as the select below writes it)
        code_ctes = "".join(f",\n    k_{c} AS (SELECT {x} AS v, row_number() OVER () AS code FROM b WHERE {x} IS NOT NULL GROUP BY ALL)"
                            for c, x in coded.items())
        code_cols = ", s_email.code AS email_c, pp.code AS phone_c, pm.code AS mobile_c, " + ", ".join(
            f"k_{c}.code AS {c}_c" for c in coded)
        code_joins = "".join(f" LEFT JOIN k_{c} ON k_{c}.v = {x}" for c, x in coded.items())
        share_ctes = [x.replace("s_email AS (", "s_email AS (SELECT *, row_number() OVER () AS code FROM (", 1) + ")"
                      if x.startswith("s_email AS (") else x for x in share_ctes]
    phones = "SELECT v AS num, n, row_number() OVER () AS code FROM" if codes else "SELECT v AS num, n FROM"
    return f"""
    WITH b AS (SELECT rec_idx, {cols} FROM "{source}"),
    {", ".join(share_ctes)}{code_ctes},
    phones AS ({phones} ({phone_counts})),
    phone_total AS ({phone_total}),
    -- (only a mailbox on at least SHARED_EMAIL_NAMES records can carry that many names: the distinct
    -- count, the costly part, runs on those alone)
    busy AS ({busy}),
    emails AS (SELECT email AS shared_email,
                      count(DISTINCT name_key) >= {SHARED_EMAIL_NAMES} OR count(*) >= {SHARED_EMAIL_RECORDS} AS shared
               FROM {mailboxes} email IN (SELECT busy_email FROM busy) GROUP BY email)
    SELECT b.*,
        coalesce(last_reading, last_name) AS lr,
        coalesce(first_reading, first_name) AS fr,
        coalesce(last_reading, last_name, '') || coalesce(first_reading, first_name, '') AS full_r,
        coalesce(first_reading, first_name, '') || coalesce(last_reading, last_name, '') AS full_r_sw,
        coalesce(regexp_matches(last_name, '{KANJI_RE}'), false) AS last_kanji,
        coalesce(regexp_matches(first_name, '{KANJI_RE}'), false) AS first_kanji,
        substr(birthdate, 1, 4) AS birth_year,
        CASE WHEN length(birthdate) = 10
             THEN substr(birthdate, 1, 5) || substr(birthdate, 9, 2) || '-' || substr(birthdate, 6, 2) END AS birthdate_dm,
        substr(postal_code, 1, 3) AS postal_area,
        length(postal_code) AS postal_len,
        coalesce(prefecture, state) AS region,
        s_street.n AS n_street,
        s_last_name.n AS n_last_name,
        s_first_name.n AS n_first_name,
        coalesce(emails.shared, false) AS email_shared,
        coalesce(regexp_matches(email_local, '[a-z][0-9]+$') AND NOT email_is_freemail, false) AS email_numbered,
        {", ".join(share_cols)},
        log2({_others("pp.n")} / (SELECT total FROM phone_total)) AS lf_phone,
        log2({_others("pm.n")} / (SELECT total FROM phone_total)) AS lf_mobile{code_cols}
    FROM b
    {" ".join(share_joins)}
    LEFT JOIN phones pp ON pp.num = b.phone
    LEFT JOIN phones pm ON pm.num = b.mobile
    LEFT JOIN emails ON emails.shared_email = b.email{code_joins}"""


def _eq(a: str, b: str) -> str:
    return f"coalesce({a} = {b}, false)"


def _unsplit_levels(w: str, o: str) -> str:
    """SQL for [last level, first level] of whole name `w` split at the surname of split name `o`,
    or NULL when `w` does not start with that surname (in writing or in reading)."""
    text = f"starts_with({w}.last_name, {o}.last_name) AND length({w}.last_name) > length({o}.last_name)"
    read = f"starts_with({w}.lr, {o}.lr) AND length({w}.lr) > length({o}.lr)"
    rest_text = f"substr({w}.last_name, length({o}.last_name) + 1)"
    rest_read = f"substr({w}.lr, length({o}.lr) + 1)"
    first_level = f"""CASE WHEN {text} AND {rest_text} = {o}.first_name THEN 4
             WHEN {rest_read} = {o}.fr THEN 3
             WHEN jaro_winkler_similarity({rest_read}, {o}.fr) >= 0.92 AND NOT ({w}.last_kanji AND {o}.first_kanji) THEN 2
             WHEN jaro_winkler_similarity({rest_read}, {o}.fr) >= 0.80
                  OR starts_with({rest_read}, {o}.fr) OR starts_with({o}.fr, {rest_read}) THEN 1
             ELSE 0 END"""
    return f"""(CASE WHEN {text} THEN [4, ({first_level})]
                 WHEN {read} THEN [3, ({first_level})] END)"""


def _within_one_edit(a: str, b: str, lean: bool) -> str:
    """SQL: levenshtein(a, b) <= 1. Lean (DuckDB only): for two non-empty ASCII strings of one
    length, one edit is one substitution, so the (cheaper) Hamming distance decides; the same
    result (DuckDB's hamming rejects empty strings and counts bytes, hence the guards)."""
    lev = f"levenshtein({a}, {b}) <= 1"
    if not lean:
        return lev
    return (f"CASE WHEN length({a}) = length({b}) AND length({a}) > 0 AND strlen({a}) = length({a}) "
            f"AND strlen({b}) = length({b}) THEN hamming({a}, {b}) <= 1 ELSE {lev} END")


# The two halves of `id_conflict` (see _pair_select).
_ID_CONFLICT_EMAIL = """coalesce(l.email <> r.email AND l.email_domain = r.email_domain
                    AND NOT coalesce(l.email_is_role, false) AND NOT coalesce(r.email_is_role, false)
                    AND NOT l.email_shared AND NOT r.email_shared, false)"""
# A numbered mailbox at a company's domain (t.watanabe2@: the company's second 渡辺) says two people
# of that name work there: a record without that very mailbox may be either of them, so a pair of
# it with the numbered one is for review, never merged unseen (100k sample: 7 of 19 such auto
# pairs were two namesakes).
_ID_CONFLICT_NUMBERED = "coalesce((l.email_numbered OR r.email_numbered) AND coalesce(l.email <> r.email, true), false)"
_ID_CONFLICT_MOBILE = (
    "coalesce(l.mobile <> r.mobile AND l.mobile IS DISTINCT FROM r.phone AND r.mobile IS DISTINCT FROM l.phone, false)"
)
# Two different personal mailboxes at one company's domain, more than one typo apart: two people,
# not a match at all (a company gives the second 渡辺 隆 t.watanabe2@ when t.watanabe@ is taken;
# in the 100k sample 20 such links, none of them one person). One typo apart (t.watnabe@, a card's
# OCR) stays a conflict (review at most); a trailing number is no typo. Free-mail addresses prove
# nothing of the kind (one person may hold two). `mail_conflict` in person_evidence.
_MAIL_LOCAL_L, _MAIL_LOCAL_R = "l.email_local", "r.email_local"
# What a business card's OCR confuses in a mailbox (m read as rn, o as 0, l as 1, w as vv): two
# local parts the same once these are folded are one mailbox read twice (yuu.nakayarna@ /
# yuu.nakayama@), not two people. (An independently written card set: 8 such pairs at one domain,
# all one person, were never grouped.)
OCR_MAIL_FOLDS = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"))


def ocr_mail_fold_sql(x: str) -> str:
    """SQL: `x` with OCR_MAIL_FOLDS applied (`ocr_mail_fold` in SQL)."""
    for a, b in OCR_MAIL_FOLDS:
        x = f"replace({x}, '{a}', '{b}')"
    return x


def ocr_mail_fold(x: str) -> str:
    """`x` with OCR_MAIL_FOLDS applied, in order (the SQL twin: ocr_mail_fold_sql)."""
    for a, b in OCR_MAIL_FOLDS:
        x = x.replace(a, b)
    return x


_MAIL_TOKEN_RE = re.compile(r"[a-z]+|[0-9]+")


def _mail_word_covered(t: str, words: list[str]) -> bool:
    """`t` is one of `words`, the initial of one, or the initial of one fused to another (tkano:
    teruaki + kano)."""
    if t in words or (len(t) == 1 and any(w.startswith(t) for w in words)):
        return True
    return any(len(w) > 1 and len(t) == len(w) + 1 and (
        (t.endswith(w) and any(x.startswith(t[0]) for x in words if x != w))
        or (t.startswith(w) and any(x.startswith(t[-1]) for x in words if x != w))) for w in words)


def mailboxes_spell_one_name(a: str | None, b: str | None) -> bool:
    """Two local parts that spell one name in two formats (a.yamazaki / yamazaki_anna, ishikawa /
    ishikawa_kazuo, hiromi.tomita / tomita_hiromi, tkano / teruaki.kano): the same numbers, and
    every word of one is a word of the other, or the initial of one (alone or fused to another).
    t.sato / k.sato (two initials), t.watanabe / t.watanabe2 (a number: the company's second 渡辺)
    do not."""
    if not a or not b:
        return False
    ta, tb = _MAIL_TOKEN_RE.findall(a), _MAIL_TOKEN_RE.findall(b)
    if [t for t in ta if t.isdigit()] != [t for t in tb if t.isdigit()]:
        return False
    wa, wb = [t for t in ta if not t.isdigit()], [t for t in tb if not t.isdigit()]
    if not wa or not wb:
        return False
    return all(_mail_word_covered(t, wb) for t in wa) or all(_mail_word_covered(t, wa) for t in wb)


def one_name_in_two_mailboxes(mail_conflict: np.ndarray, levels: np.ndarray, comps: list[Comparison], locals_at) -> np.ndarray:
    """`mail_conflict` less the pairs whose names agree in reading or exactly (both parts) and whose
    two mailboxes at the domain spell that one name in two formats: a person's address written two
    ways (a format change, an alias), not the company's second 佐藤 健 -- for review, not two people.
    (An independently written colleagues set: 95 such pairs, all one person; a card set 6 and the
    sample 1 two namesakes at one company, now in review.) `locals_at(rows)` gives the two local
    parts of those rows (lists)."""
    names = [c.name for c in comps]
    if "last_name" not in names or "first_name" not in names:
        return mail_conflict
    at = np.flatnonzero(mail_conflict & (levels[:, names.index("last_name")] >= 3)
                        & (levels[:, names.index("first_name")] >= 3))
    if not len(at):
        return mail_conflict
    local_l, local_r = locals_at(at)
    one = np.array([mailboxes_spell_one_name(a, b) for a, b in zip(local_l, local_r)], dtype=bool)
    out = mail_conflict.copy()
    out[at[one]] = False
    return out


def mail_conflict_of(batch: pa.RecordBatch, levels: np.ndarray, comps: list[Comparison]) -> np.ndarray:
    """A pair-query batch's mail_conflict after `one_name_in_two_mailboxes`."""
    def locals_at(rows):
        idx = pa.array(rows)
        return _col(batch, "l_mail_local").take(idx).to_pylist(), _col(batch, "r_mail_local").take(idx).to_pylist()
    return one_name_in_two_mailboxes(_bools(batch, "mail_conflict"), levels, comps, locals_at)


# (CASE: the string work runs on the few pairs with two mailboxes at one domain, not on every pair)
_MAIL_CONFLICT = f"""CASE WHEN {_ID_CONFLICT_EMAIL} AND NOT coalesce(l.email_is_freemail OR r.email_is_freemail, false)
                     THEN NOT ((levenshtein({_MAIL_LOCAL_L}, {_MAIL_LOCAL_R}) <= 1
                                AND regexp_replace({_MAIL_LOCAL_L}, '[0-9]+$', '') <> regexp_replace({_MAIL_LOCAL_R}, '[0-9]+$', ''))
                               OR {ocr_mail_fold_sql(_MAIL_LOCAL_L)} = {ocr_mail_fold_sql(_MAIL_LOCAL_R)})
                     ELSE false END"""



# company: 0 different, 1 similar, 2 same, -1 unknown; over two normalized records `l` and `r`
# (company_core, company_reading, company_sound). Survivorship asks the same of a Lead and the
# Contact it would be converted into.
COMPANY_LEVEL_SQL = """CASE WHEN l.company_core IS NULL OR r.company_core IS NULL THEN -1
                WHEN l.company_core = r.company_core THEN 2
                WHEN jaro_winkler_similarity(l.company_core, r.company_core) >= 0.92
                     OR coalesce(l.company_reading = r.company_reading, false)
                     -- in Latin letters and in katakana (Next Associates / ネクストアソシエイツ): the
                     -- consonants heard agree, a long name's up to one (ティ / ti)
                     OR coalesce(left(l.company_sound, 1) <> left(r.company_sound, 1)
                                 AND (substr(l.company_sound, 2) = substr(r.company_sound, 2)
                                      OR (least(length(l.company_sound), length(r.company_sound)) >= 7
                                          AND levenshtein(substr(l.company_sound, 2), substr(r.company_sound, 2)) <= 1)), false)
                THEN 1 ELSE 0 END"""

def _pair_select(name_strings: bool = True, comps: list[str] | None = None) -> str:
    """Per-pair expressions computed in DuckDB: name primitives and the other fields' levels.

    Without `name_strings`, the per-record name values and what is computed from them alone (the
    readings l_lr .. r_fr, e_ / q_ / p_, the null and kanji flags, the value shares) are left out:
    compute_levels takes them by rec_idx from a RecordNames (the same values). With `comps` (the
    names of the active comparisons), the levels of the inactive email / phone / company /
    birthdate comparisons are left out, and `id_conflict` reads only the fields that exist (an
    inactive comparison's columns are NULL everywhere, where its part of `id_conflict` is false).
    The defaults give the full query (the Spark engine and nayose.incremental use it)."""
    name_parts = []
    for tag, x, y in (("ll", "last", "last"), ("ff", "first", "first"), ("lf", "last", "first"), ("fl", "first", "last")):
        xl, yr = ("lr" if x == "last" else "fr"), ("lr" if y == "last" else "fr")
        name_parts += ([
            f"{_eq(f'l.{x}_name', f'r.{y}_name')} AS e_{tag}",
            f"{_eq(f'l.{xl}', f'r.{yr}')} AS q_{tag}",
            f"coalesce(length(l.{xl}) > 0 AND length(r.{yr}) > 0 AND "
            f"(starts_with(l.{xl}, r.{yr}) OR starts_with(r.{yr}, l.{xl})), false) AS p_{tag}",
        ] if name_strings else []) + ([
            f"CASE WHEN l.{x}_kanji AND r.{y}_kanji AND l.{x}_name <> r.{y}_name "
            f"AND least(length(l.{x}_name), length(r.{y}_name)) >= 2 "
            f"THEN levenshtein(l.{x}_name, r.{y}_name) = 1 ELSE false END AS k_{tag}",
        ] if name_strings or x == y else [])  # (without name_strings, the swapped k_lf / k_fl: _NamePairs.kanji_typo)
    exprs = name_parts + ([
        "l.lr AS l_lr", "l.fr AS l_fr", "r.lr AS r_lr", "r.fr AS r_fr",
        "l.last_name AS l_last_name", "l.first_name AS l_first_name", "r.last_name AS r_last_name",
        "r.first_name AS r_first_name",
        "l.last_name IS NULL AS ln1n", "l.first_name IS NULL AS fn1n",
        "r.last_name IS NULL AS ln2n", "r.first_name IS NULL AS fn2n",
        "l.last_kanji AS lk1", "l.first_kanji AS fk1", "r.last_kanji AS lk2", "r.first_kanji AS fk2",
    ] if name_strings else []) + [
        # Whole name in one field against a split name: split it at the other record's surname.
        f"""CASE WHEN l.first_name IS NULL AND r.first_name IS NOT NULL THEN {_unsplit_levels('l', 'r')}
                 WHEN r.first_name IS NULL AND l.first_name IS NOT NULL THEN {_unsplit_levels('r', 'l')}
            END AS us_levels""",
        """CASE WHEN (l.first_name IS NULL) <> (r.first_name IS NULL) THEN greatest(
               jaro_winkler_similarity(l.full_r, r.full_r), jaro_winkler_similarity(l.full_r, r.full_r_sw),
               jaro_winkler_similarity(l.full_r_sw, r.full_r)) END AS s_full""",
    ] + ([f"l.{x}_{c} AS l_{x}_{c}, r.{x}_{c} AS r_{x}_{c}"
          for x, c in [("lf", "last_name"), ("lf", "first_name"), ("lf", "last_reading"), ("lf", "first_reading"),
                       ("n", "last_name"), ("n", "first_name")]]
         if name_strings else []) + [
        # email: 0 different, 1 same shared mailbox (a role name such as info@, or an address
        # used under several names or by many records), 2 same personal address
        f"""CASE WHEN l.email IS NULL OR r.email IS NULL THEN -1
                WHEN l.email <> r.email THEN 0
                WHEN coalesce(l.email_is_role, false) OR coalesce(r.email_is_role, false)
                     OR l.email_shared THEN 1 ELSE 2 END AS lvl_email""",
        "CASE WHEN l.email = r.email THEN l.lf_email END AS tf_email",
        # Two different personal mailboxes at one domain, or two different mobiles: two people.
        f"""{_ID_CONFLICT_EMAIL}
           OR {_ID_CONFLICT_NUMBERED}
           OR {_ID_CONFLICT_MOBILE}
           AS id_conflict""",
        f"{_MAIL_CONFLICT} AS mail_conflict",
        # (the two mailboxes, where they are two at one domain: mail_conflict_of reads them)
        f"CASE WHEN {_ID_CONFLICT_EMAIL} THEN l.email_local END AS l_mail_local",
        f"CASE WHEN {_ID_CONFLICT_EMAIL} THEN r.email_local END AS r_mail_local",
        # phone: 0 no common number, 1 same landline, 2 same mobile
        """CASE WHEN (l.phone IS NULL AND l.mobile IS NULL) OR (r.phone IS NULL AND r.mobile IS NULL) THEN -1
                WHEN coalesce(l.mobile = r.mobile OR l.mobile = r.phone OR l.phone = r.mobile
                              OR (l.phone = r.phone AND l.phone_is_mobile AND r.phone_is_mobile), false) THEN 2
                WHEN coalesce(l.phone = r.phone, false) THEN 1 ELSE 0 END AS lvl_phone""",
        """CASE WHEN coalesce(l.phone = r.phone, false) THEN l.lf_phone
                WHEN coalesce(l.mobile = r.mobile OR l.mobile = r.phone, false) THEN l.lf_mobile
                WHEN coalesce(l.phone = r.mobile, false) THEN l.lf_phone END AS tf_phone""",
        f"{COMPANY_LEVEL_SQL} AS lvl_company",
        "CASE WHEN l.company_core = r.company_core THEN l.lf_company_core END AS tf_company",
        # birthdate: 0 different, 1 same year, 2 one digit off or day/month swapped, 3 same
        f"""CASE WHEN l.birthdate IS NULL OR r.birthdate IS NULL THEN -1
                -- (1 January: often a stand-in for an unknown day, see STAND_IN_BIRTH_DAY)
                WHEN substr(l.birthdate, 6, 5) = '{STAND_IN_BIRTH_DAY}' OR substr(r.birthdate, 6, 5) = '{STAND_IN_BIRTH_DAY}'
                     THEN CASE WHEN l.birth_year = r.birth_year THEN 1 ELSE 0 END
                WHEN l.birthdate = r.birthdate THEN 3
                WHEN {_within_one_edit("l.birthdate", "r.birthdate", comps is not None)} OR coalesce(l.birthdate_dm = r.birthdate, false) THEN 2
                WHEN l.birth_year = r.birth_year THEN 1 ELSE 0 END AS lvl_birthdate""",
        "NULL::DOUBLE AS tf_birthdate",
        # person_id: 0 different, 1 same (a business-card service's consolidated person)
        """CASE WHEN l.card_person_id IS NULL OR r.card_person_id IS NULL THEN -1
                WHEN l.card_person_id = r.card_person_id THEN 1 ELSE 0 END AS lvl_person_id""",
        "NULL::DOUBLE AS tf_person_id",
    ]
    if comps is not None:
        dropped = {f"{x}_{c}" for c in ("email", "phone", "company", "birthdate", "person_id") if c not in comps
                   for x in ("lvl", "tf")}
        kept = []
        for e in exprs:
            alias = e.split()[-1]
            if alias in dropped:
                continue
            if alias == "id_conflict":
                parts = (([_ID_CONFLICT_EMAIL, _ID_CONFLICT_NUMBERED] if "email" in comps else [])
                         + ([_ID_CONFLICT_MOBILE] if "phone" in comps else []))
                e = f"{' OR '.join(parts) if parts else 'false'} AS id_conflict"
            elif alias == "mail_conflict" and "email" not in comps:
                e = "false AS mail_conflict"
            elif alias in ("l_mail_local", "r_mail_local") and "email" not in comps:
                e = f"NULL::VARCHAR AS {alias}"
            kept.append(e)
        exprs = kept
    return ",\n".join(exprs)


def _address_sql() -> str:
    """Address level: 0 different, 1 same region only, 2 same area (city, postal area or a close
    street), 3 mostly same (two of postal / street / city), 4 same (all that both have)."""
    return """
    CASE WHEN addr_none THEN -1
         WHEN (st_close::INT + pc_exact::INT + ci_exact::INT = st_both::INT + pc_both::INT + ci_both::INT
               AND st_close::INT + pc_exact::INT + ci_exact::INT >= 2)
              OR (st_exact AND (pc_exact OR ci_exact))
              OR (st_exact AND st_both::INT + pc_both::INT + ci_both::INT = 1) THEN 4
         WHEN st_close::INT + pc_exact::INT + ci_exact::INT >= 2 OR (st_similar AND (pc_exact OR ci_exact)) THEN 3
         WHEN pc_near OR ci_exact OR st_similar OR pc_exact OR st_close THEN 2
         WHEN rg_exact THEN 1 ELSE 0 END"""


def _address_parts(lean: bool = False) -> str:
    return f"""
        (l.street IS NULL AND l.postal_code IS NULL AND l.city IS NULL AND l.region IS NULL)
          OR (r.street IS NULL AND r.postal_code IS NULL AND r.city IS NULL AND r.region IS NULL) AS addr_none,
        l.street IS NOT NULL AND r.street IS NOT NULL AS st_both,
        l.postal_code IS NOT NULL AND r.postal_code IS NOT NULL AS pc_both,
        l.city IS NOT NULL AND r.city IS NOT NULL AS ci_both,
        coalesce(l.street = r.street, false) AS st_exact,
        coalesce(CASE WHEN l.street = r.street THEN 1.0 ELSE jaro_winkler_similarity(l.street, r.street) END, 0) AS st_jw,
        coalesce(l.postal_code = r.postal_code, false) AS pc_exact,
        coalesce(CASE WHEN l.postal_len >= 7 THEN l.postal_area = r.postal_area
                      ELSE {_within_one_edit("l.postal_code", "r.postal_code", lean)} END, false) AS pc_near,
        coalesce(CASE WHEN l.city = r.city THEN true ELSE jaro_winkler_similarity(l.city, r.city) >= 0.92 END, false) AS ci_exact,
        coalesce(l.region = r.region, false) AS rg_exact,
        l.lf_street AS l_lf_street, greatest(l.n_street, r.n_street) AS n_street_max"""


def pair_levels_sql(
    pairs_sql: str, features: str = "_score_features", name_strings: bool = True, comps: list[str] | None = None,
    rare_max: int = RARE_ADDRESS_MAX, codes: bool = False,
) -> str:
    """The pair query (DuckDB dialect): per pair of `pairs_sql` (left_idx, right_idx, rule_no), the
    name primitives and the other fields' levels that `compute_levels` reads. The Spark engine
    translates this very string (nayose.spark.sql), with the defaults. `name_strings=False`
    leaves out the per-record name values (compute_levels then needs a RecordNames), `comps` the
    inactive comparisons' levels (see `_pair_select`); with `comps`, the address level is
    computed once (the same values); with `codes` as well, the features' codes of CODED_COLUMNS
    are compared instead of the values (`_feature_sql(..., codes=True)`)."""
    if comps is not None:
        select = f"{_pair_select(name_strings, comps)}, {_address_parts(lean=True)}"
        return f"""WITH p AS (
            SELECT *, st_jw >= 0.92 AS st_close, st_jw >= 0.80 AS st_similar FROM (
            SELECT p.left_idx, p.right_idx, p.rule_no, {_with_codes(select) if codes else select}
            FROM ({pairs_sql}) p
            JOIN {features} l ON l.rec_idx = p.left_idx
            JOIN {features} r ON r.rec_idx = p.right_idx))
        SELECT *, CASE WHEN st_exact THEN l_lf_street END AS tf_address,
               lvl_address >= 3 AND n_street_max <= {int(rare_max)} AS rare_address
        FROM (SELECT p.*, ({_address_sql()})::TINYINT AS lvl_address FROM p)"""
    return f"""WITH p AS (
            SELECT *, st_jw >= 0.92 AS st_close, st_jw >= 0.80 AS st_similar FROM (
            SELECT p.left_idx, p.right_idx, p.rule_no, {_pair_select(name_strings)}, {_address_parts()}
            FROM ({pairs_sql}) p
            JOIN {features} l ON l.rec_idx = p.left_idx
            JOIN {features} r ON r.rec_idx = p.right_idx))
        SELECT p.*, ({_address_sql()})::TINYINT AS lvl_address,
               CASE WHEN st_exact THEN l_lf_street END AS tf_address,
               ({_address_sql()}) >= 3 AND n_street_max <= {int(rare_max)} AS rare_address
        FROM p"""


def _prefetched(reader, depth: int = 1):
    """The batches of `reader`, the next one fetched by a background thread while the caller
    works on the current one: DuckDB runs the pair query (releasing the GIL) while numpy and
    rapidfuzz compare the previous batch. The connection is not used otherwise meanwhile."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the consumer is gone

    def run() -> None:
        try:
            for batch in reader:
                if not put(batch):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    worker = threading.Thread(target=run, name="nayose-pair-query", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


PAIR_KEYS = ("left", "right", "rule", "levels", "tf", "swapped", "rare_address", "rare_near", "id_conflict",
             "mail_conflict", "nameless")


def _empty_pairs(k: int, n: int = 0) -> dict[str, np.ndarray]:
    """The per-pair arrays of `_pair_levels` for n pairs (uninitialized), in their compact dtypes."""
    return {
        "left": np.empty(n, dtype=np.int32), "right": np.empty(n, dtype=np.int32), "rule": np.empty(n, dtype=np.int16),
        "levels": np.empty((n, k), dtype=np.int8), "tf": np.empty((n, k), dtype=np.float32),
        "swapped": np.empty(n, dtype=bool), "rare_address": np.empty(n, dtype=bool), "id_conflict": np.empty(n, dtype=bool),
        "mail_conflict": np.empty(n, dtype=bool), "rare_near": np.empty(n, dtype=bool), "nameless": np.empty(n, dtype=bool),
    }


# DuckDB scans a table's row groups (122,880 rows) in parallel, one thread each. Left to itself it
# builds the hash tables of the pair query on the narrow pairs and probes them with the wide
# feature table; below a row group of records that probe, and the per-pair expressions above it,
# run on one thread. Probing with the pairs instead (more rows, or Arrow batches) uses both cores:
# at the 100k sample the candidate pairs' query took 0.33 s instead of 0.56 s, the random pairs'
# 0.13 s instead of 0.17 s, with the same rows. With the stage's fine-grained scans (50,000 to
# 245,760 records: nayose.stage) the default plan is about as fast (0.35-0.44 s against 0.37-0.40
# s); below them the probe still gains (20k: 0.09 s against 0.10-0.11 s). At 1M the features span
# several row groups and the default plan is as fast (and builds no wide hash tables).
ONE_ROW_GROUP = 122_880


@contextmanager
def _pairs_probe(con: duckdb.DuckDBPyConnection, wanted: bool):
    """While planning a query: joins keep their written probe side (with `wanted`)."""
    if not wanted:
        yield
        return
    before = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] or ""
    names = [x for x in before.split(",") if x.strip()]
    con.execute(f"SET disabled_optimizers = '{','.join(names + ['build_side_probe_side'])}'")
    try:
        yield
    finally:
        con.execute(f"SET disabled_optimizers = '{','.join(names)}'")


def _pair_levels(
    con: duckdb.DuckDBPyConnection, pairs_sql: str, comps: list[Comparison], progress=None, total: int = 0,
    names: "RecordNames | None" = None, lean: bool = False, rare_max: int = RARE_ADDRESS_MAX,
    probe_pairs: bool = False,
) -> dict[str, np.ndarray]:
    """Levels and flags of every pair in `pairs_sql` (left_idx, right_idx, rule_no), in Arrow batches.

    Only the compact per-pair arrays are kept across batches (int8 levels, float32 shares, bools);
    with `total` (the number of pairs) they are allocated once and filled in place. With `names`
    (`RecordNames.load`), the pair query leaves out the name strings, with `lean` the inactive
    comparisons' levels (the same results). `rare_max`: see `home_address_max`. `probe_pairs`:
    see `_pairs_probe`."""
    k = len(comps)
    sql = pair_levels_sql(pairs_sql, name_strings=names is None, comps=[c.name for c in comps] if lean else None,
                          rare_max=rare_max, codes=lean)
    out = _empty_pairs(k, total)
    extra: list[dict[str, np.ndarray]] = []  # batches beyond `total` (not expected)
    pos = 0
    with _pairs_probe(con, probe_pairs):
        arrow_reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        reader = _prefetched(arrow_reader) if PREFETCH and total > BATCH_ROWS else arrow_reader
        try:
            for batch in reader:
                n = batch.num_rows
                if n == 0:
                    continue
                lv, tf, flags = compute_levels(batch, comps, names)
                part = {
                    "left": _col(batch, "left_idx").to_numpy(), "right": _col(batch, "right_idx").to_numpy(),
                    "rule": _col(batch, "rule_no").to_numpy(), "levels": lv, "tf": tf, "swapped": flags["swapped"],
                    "rare_address": flags["rare_address"], "id_conflict": _bools(batch, "id_conflict"),
                    "mail_conflict": mail_conflict_of(batch, lv, comps), "rare_near": flags["rare_near"],
                    "nameless": flags["nameless"],
                }
                if pos + n <= total:
                    for key in PAIR_KEYS:
                        out[key][pos:pos + n] = part[key]
                else:
                    extra.append({key: np.asarray(v, dtype=out[key].dtype) for key, v in part.items()})
                pos += n
                if progress is not None:
                    progress(n, total)
        finally:  # (the connection takes statements again once the query's result is closed)
            if reader is not arrow_reader:
                reader.close()
            arrow_reader.close()
    if pos < total:
        out = {key: v[:pos] for key, v in out.items()}
    if extra:
        out = {key: np.concatenate([out[key]] + [e[key] for e in extra]) for key in PAIR_KEYS}
    return out


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


def numbers_without(positions: np.ndarray, skipped: np.ndarray) -> np.ndarray:
    """The record numbers at `positions` in 0, 1, 2, ... once the sorted numbers `skipped` are left
    out (the people's numbers when the business Accounts' are skipped): what taking `positions` from
    the kept numbers gives, without listing them."""
    kept_before = skipped - np.arange(len(skipped))  # numbers kept before each skipped one
    return positions + np.searchsorted(kept_before, positions, side="right")


def score_pairs(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: str = "normalized_records",
    pairs: str = "candidate_pairs",
    target: str = "scored_pairs",
    progress=None,
    comparable_pairs: float | None = None,
    model_table: str = "match_model",
    model: "Model | None" = None,
) -> StageResult:
    """Write `target`: every candidate pair with its levels, per-field weights and match probability.

    With `model` (e.g. `load_model(con)`: the previous run's), m, u and the prior are not estimated
    again and no random pairs are drawn: the pairs are scored with that model (incremental runs,
    and the full run they are compared with).

    `comparable_pairs` (link mode) is the number of record pairs that could be compared, for the
    prior; default every pair of `source`'s records. The model is kept in `model_table`.

    With `model`, a value's term-frequency count is the model's when it has one (the table
    `<model_table>_tf`, which `write_tf_counts` writes for an incremental state: the counts the
    model was scored with), and the shares' denominators are the model's `tf_populations`."""
    from nayose.store import table_exists

    result = StageResult(stage="score", table=target)
    n_records, top = con.execute(f'SELECT count(*), max(rec_idx) FROM "{source}"').fetchall()[0]
    # Business Accounts (nayose.accounts, run before) are no people: not in the random pairs that give
    # u, nor in the pairs the prior counts -- loading an Account export beside the people changes nothing.
    companies = (con.execute("SELECT count(*) FROM normalized_accounts").fetchall()[0][0]
                 if source == "normalized_records" and table_exists(con, "normalized_accounts") else 0)
    n_records -= companies
    with timed(result), fine_grained_scans(con, n_records):
        present = {k: v for k, v in _present_columns(con, source).items() if v}
        comps = active_comparisons(present)
        k = len(comps)
        household = household_review(config, comps)
        populations = (model.sessions.get("tf_populations") if model is not None else None) or tf_populations(con, source, present)

        tf_table = f"{model_table}_tf"
        # Scoring with a given model takes its counts (the table beside it) when it has them.
        frozen = tf_table if model is not None and "tf_populations" in model.sessions and table_exists(con, tf_table) else None
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _score_features AS {_feature_sql(source, present, populations, tf_table=frozen, codes=True)}"
        )
        names = RecordNames.load(con) if any(c.name in ("last_name", "first_name") for c in comps) else None
        n_pairs = con.execute(f'SELECT count(*) FROM "{pairs}"').fetchall()[0][0]
        probe = n_records <= ONE_ROW_GROUP
        cand = _pair_levels(
            con, f'SELECT left_idx, right_idx, rule_no FROM "{pairs}"', comps, progress, n_pairs, names=names, lean=True,
            rare_max=home_address_max(household), probe_pairs=probe,
        )
        given = model
        if given is not None:
            if [c.name for c in given.comparisons] != [c.name for c in comps]:
                raise ValueError(
                    f"the given model compares {[c.name for c in given.comparisons]}, the data {[c.name for c in comps]}"
                )
            rand = {"levels": np.zeros((0, k), dtype=np.int8)}
        else:
            random_pairs = _random_pairs(n_records, RANDOM_PAIRS)
            if n_records and (top != n_records - 1 or companies):
                # Record numbers with gaps (an incremental run's, or the companies left out): the i-th number.
                anti = "ANTI JOIN normalized_accounts a USING (rec_idx)" if companies else ""
                numbers = con.sql(f'SELECT rec_idx FROM "{source}" {anti} ORDER BY rec_idx').to_arrow_table().column(0).combine_chunks()
                random_pairs = pa.table({"left_idx": numbers.take(random_pairs.column("left_idx")),
                                         "right_idx": numbers.take(random_pairs.column("right_idx")),
                                         "rule_no": random_pairs.column("rule_no")})
            # (in batches: DuckDB reads an Arrow table's batches in parallel)
            con.register("_random_pairs_arrow", pa.Table.from_batches(random_pairs.to_batches(max_chunksize=8192), random_pairs.schema))
            rand = _pair_levels(con, "SELECT * FROM _random_pairs_arrow", comps, names=names, lean=True, probe_pairs=probe)
            con.unregister("_random_pairs_arrow")
        con.execute("DROP TABLE IF EXISTS _score_features")
        del names

        levels = cand["levels"]
        n = len(levels)
        tier, conflict = evidence_tiers(cand, comps, household)
        if given is not None:
            model = given
        else:
            model = build_model(
                levels, tier, rand["levels"], comps, n_records, config.matching.em_iterations, comparable_pairs,
                home=cand["rare_address"] if judged_homes(config, household) else None,
            ) if k else None
        if model is not None and "tf_populations" not in model.sessions:
            # The shares' denominators belong to the model: scoring with it later divides by the same.
            model.sessions["tf_populations"] = populations

        # Weights and probabilities slice by slice, streamed into the table: only the compact
        # per-pair arrays above live for all pairs at once.
        counts = dict.fromkeys(GATE_COUNTS, 0)
        schema = scored_schema(comps)
        batches = scored_batches(cand, comps, tier, conflict, model, config, counts)
        con.register("_scored_arrow", pa.RecordBatchReader.from_batches(schema, batches))
        try:
            con.execute(f'CREATE OR REPLACE TABLE "{target}" AS SELECT * FROM _scored_arrow')
        finally:
            con.unregister("_scored_arrow")
        result.rows = n
        result.stats = {
            "comparisons": [c.name for c in comps],
            "model": model.as_dict() if model else None,
            "random_pairs": int(len(rand["levels"])),
            "pairs_auto": counts["auto"],
            "pairs_review": counts["review"],
            "pairs_below_review": counts["below"],
        } | gate_stats(model, counts)
        save_model(con, model, model_table)
        if frozen is None:  # scored with the data's counts: counts kept before do not describe these scores
            con.execute(f'DROP TABLE IF EXISTS "{tf_table}"')
    return result


def evidence_tiers(cand: dict[str, np.ndarray], comps: list[Comparison], household: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of `cand` (what _pair_levels returns): person-evidence tier and the names /
    identifiers conflict (review at most), row by row in slices (bounded temporaries)."""
    levels = cand["levels"]
    n = len(levels)
    tier = np.empty(n, dtype=np.int8)
    conflict = np.empty(n, dtype=bool)
    for lo in range(0, n, APPLY_BATCH_ROWS):
        sl = slice(lo, lo + APPLY_BATCH_ROWS)
        tier[sl], conflict[sl] = person_evidence(levels[sl], comps, cand["rare_address"][sl], household,
                                                 cand["mail_conflict"][sl], cand["rare_near"][sl], cand["id_conflict"][sl],
                                                 cand["nameless"][sl])
    # Namesakes at one company (two 佐藤 健 with their own mailboxes) are for review, not auto.
    conflict |= cand["id_conflict"]
    return tier, conflict


def scored_schema(comps: list[Comparison]) -> pa.Schema:
    """The columns of scored_pairs."""
    fields = [
        pa.field("left_idx", pa.int32()), pa.field("right_idx", pa.int32()), pa.field("rule_no", pa.int16()),
        pa.field("match_weight", pa.float32()), pa.field("match_probability", pa.float64()),
        pa.field("gate", pa.int8()), pa.field("name_swapped", pa.bool_()),
    ]
    for comp in comps:
        fields += [pa.field(f"lvl_{comp.name}", pa.int8()), pa.field(f"w_{comp.name}", pa.float32())]
    return pa.schema(fields)


def scored_batches(cand, comps, tier, conflict, model: "Model | None", config: Config, counts: dict[str, int]):
    """scored_pairs rows of the pairs `cand` (with their evidence tiers), APPLY_BATCH_ROWS at a
    time; `counts` (GATE_COUNTS: auto, review, below, c0-c2 and c7: pairs a gate capped, r4, r6, r8,
    r9: pairs gates 4, 6, 8, 9 raised) is added to on the way."""
    th_auto, th_review = config.matching.thresholds.auto, config.matching.thresholds.review
    levels, tfs = cand["levels"], cand["tf"]
    schema = scored_schema(comps)
    for lo in range(0, len(levels), APPLY_BATCH_ROWS):
        sl = slice(lo, lo + APPLY_BATCH_ROWS)
        t, c = tier[sl], conflict[sl]
        weights, total, prob, capped, gate = apply_model(levels[sl], tfs[sl], t, c, model, config, cand["mail_conflict"][sl],
                                                         cand["rare_address"][sl])
        counts["auto"] += int((capped >= th_auto).sum())
        counts["review"] += int(((capped >= th_review) & (capped < th_auto)).sum())
        counts["below"] += int((capped < th_review).sum())
        counts["c0"] += int(((t == 0) & (prob >= th_review)).sum())
        counts["c1"] += int(((t == 1) & (prob >= th_auto)).sum())
        counts["c2"] += int((c & (t == 2) & (prob >= th_auto)).sum())
        counts["c7"] += int(((gate == 7) & (prob >= th_review)).sum())
        for g in RAISED_GATES:
            counts[f"r{g}"] += int((gate == g).sum())
        cols = [
            pa.array(cand["left"][sl], pa.int32()), pa.array(cand["right"][sl], pa.int32()),
            pa.array(cand["rule"][sl], pa.int16()), pa.array(total.astype(np.float32)),
            pa.array(capped.astype(np.float64)), pa.array(gate, pa.int8()), pa.array(cand["swapped"][sl]),
        ]
        for j in range(len(comps)):
            cols += [pa.array(levels[sl, j], pa.int8()), pa.array(weights[:, j], pa.float32())]
        yield pa.RecordBatch.from_arrays(cols, schema=schema)


def _raised_to_review(capped: np.ndarray, gate: np.ndarray, mask: np.ndarray, number: int,
                      review: float) -> tuple[np.ndarray, np.ndarray]:
    """(capped, gate) with the pairs of `mask` below the review threshold raised to it, gate `number`."""
    raised = mask & (capped < review)
    return np.where(raised, review, capped), np.where(raised, number, gate).astype(np.int8)


def apply_model(
    levels: np.ndarray, tfs: np.ndarray, tier: np.ndarray, conflict: np.ndarray, model: "Model | None", config: Config,
    mail_conflict: np.ndarray | None = None, home: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: field weights (pairs x comparisons, float32), total match weight, probability,
    the probability after the person-evidence gates, and the gate that capped it. Row by row, so
    the Spark engine applies it batch by batch with the same result."""
    th = config.matching.thresholds
    k = levels.shape[1]
    weights = np.zeros((len(levels), k), dtype=np.float32)
    prior = 0.0
    if model is not None:
        for j in range(k):
            col = levels[:, j]
            w = np.where(col >= 0, model.weights[j][np.clip(col, 0, None)], 0.0)
            if config.matching.term_frequency:
                # Term frequency: agreeing on a value is worth log2(m / f), f the share of
                # the other records holding it (`_others`): a common surname or a switchboard
                # is weak evidence.
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
    # Which gate capped the pair (see GATES): 0 none, 1 no person-level evidence,
    # 2 weak person-level evidence, 3 names disagree, 5 two mailboxes at one domain (4: below).
    gate = np.where(tier == 0, 1, np.where(tier == 1, 2, np.where(conflict, 3, 0))).astype(np.int8)
    if mail_conflict is not None:  # (what person_evidence made of it: said so, rather than gate 1)
        gate[(gate == 1) & mail_conflict] = 5
    # A person register (the model's shared_home): where shared homes are one person's, a pair at a
    # home without person-level evidence is a corrupted record (another given name, a birth date
    # mistyped), for review; where homes hold families, another given name there is a family
    # member's, never a match.
    names = [c.name for c in model.comparisons] if model is not None else []
    homes = model.sessions.get("shared_home", {}) if model is not None else {}
    if home is not None and "address" in names and "one_person" in homes and config.matching.same_home_other_given_name == "auto":
        if homes["one_person"]:
            capped, gate = _raised_to_review(capped, gate, home & (levels[:, names.index("address")] == 4) & (tier < 2),
                                             6, th.review)
        elif "other_name_and_birth_date" in homes:
            # Either name part different: a swapped record of the person compares its given name
            # with the relative's surname. (A duplicate with a name part replaced looks the same:
            # on FEBRL3 and the FEBRL-like register with relatives added, this costs 0.4-0.5% of
            # recall and gains 0.1-1.2% of precision over the given name alone; capping also two
            # birth dates with a name part missing lost more duplicates than relatives.)
            first, last = levels[:, names.index("first_name")], levels[:, names.index("last_name")]
            family = home & (tier == 1) & ((first == 0) | (last == 0))
            capped = np.where(family, np.minimum(capped, below_review), capped)
            gate = np.where(family, 7, gate).astype(np.int8)
    # At one company, weak person-level evidence is the misread-name rule's (person_evidence: one
    # name part the same, the other a near miss nobody else carries): that rule sends the pair to
    # review whatever else differs, so its weight may not keep it below (100k sample: 21 such
    # pairs were, 20 of them one person).
    if "company" in names:
        capped, gate = _raised_to_review(capped, gate, (tier == 1) & (levels[:, names.index("company")] == 2), 8, th.review)
        if "last_name" in names and "first_name" in names:
            # ... where neither record has a name, weak evidence at one company is person_evidence's
            # two nameless records that nothing tells apart: said so (gate 10), raised or not.
            nameless = ((tier == 1) & (levels[:, names.index("company")] == 2)
                        & (levels[:, names.index("last_name")] == NULL) & (levels[:, names.index("first_name")] == NULL))
            gate = np.where(nameless, np.int8(10), gate).astype(np.int8)
    # The person's own mobile number and the whole name agree (any script, any order), nothing
    # contradicting them: one person, whatever else changed -- a job change moves the company, the
    # mailbox and the switchboard at once, one event the model weighs as three independent
    # disagreements. At least for review. (An independently written card-style set of 20,000
    # records: 39 such pairs were below review, all one person; of every pair with a mobile and
    # the name agreeing there and in the sample, none was two people.)
    if {"phone", "last_name", "first_name"} <= set(names):
        mobile_and_name = ((levels[:, names.index("phone")] == 2) & (levels[:, names.index("last_name")] >= 2)
                           & (levels[:, names.index("first_name")] >= 2) & (tier == 2))
        capped, gate = _raised_to_review(capped, gate, mobile_and_name, 9, th.review)
    # Two cards a business-card service consolidated into one person (the same Sansan person ID)
    # are at least for review, whatever else changed (a new company, a misread name): the
    # service matched them itself, an analyst decides. (Auto-merging still needs the model.)
    if "person_id" in names:
        capped, gate = _raised_to_review(capped, gate, levels[:, names.index("person_id")] == 1, 4, th.review)
    return weights, total, prob, capped, gate


def household_review(config: Config, comps: list[Comparison]) -> bool:
    """Whether one name part at a shared home may be one person's corrupted record (review) rather
    than family members (config matching.same_home_other_given_name; auto: review only when the data
    carries no contact channel at all -- no email, phone or company -- as in a person register)."""
    mode = config.matching.same_home_other_given_name
    if mode == "auto":
        return not {c.name for c in comps} & {"email", "phone", "company"}
    return mode == "review"


RAISED_GATES = (4, 6, 8, 9, 10)  # gates that raise a pair to review, counted as r4, r6, r8, r9, r10
GATE_COUNTS = ("auto", "review", "below", "c0", "c1", "c2", "c7") + tuple(f"r{g}" for g in RAISED_GATES)


def gate_stats(model: "Model | None", counts: dict[str, int]) -> dict[str, int]:
    """What the person-evidence gates did, for the score stats (every engine): pairs capped by
    gates 1-3 (GATE_COUNTS c0-c2), pairs raised to review by gates 4, 8 and 9, the pairs of gate 10
    (two nameless records nothing tells apart: review at most, raised or not) and, when the model
    judged a person register's homes, pairs capped or raised by the shared-home gates 6 and 7."""
    out = {"capped_no_person_evidence": int(counts["c0"]), "capped_weak_person_evidence": int(counts["c1"]),
           "capped_names_disagree": int(counts["c2"]), "raised_card_person_id": int(counts["r4"]),
           "raised_misread_name": int(counts["r8"]), "raised_mobile_and_name": int(counts["r9"]),
           "review_nameless_alike": int(counts["r10"])}
    if model is not None and "one_person" in model.sessions.get("shared_home", {}):
        out |= {"capped_family_at_home": int(counts["c7"]), "raised_one_person_home": int(counts["r6"])}
    return out


def judged_homes(config: Config, household: bool) -> bool:
    """Whether the model judges from the data what a shared home means (shared_home): a person
    register under same_home_other_given_name auto (review / different_people are the user's word)."""
    return household and config.matching.same_home_other_given_name == "auto"


def home_address_max(household: bool) -> int:
    """Records at one street up to which an agreeing address counts as a home (rare_address)."""
    return REGISTER_HOME_MAX if household else RARE_ADDRESS_MAX


def person_evidence(
    levels: np.ndarray, comps: list[Comparison], rare_address: np.ndarray, household_review: bool = False,
    mail_conflict: np.ndarray | None = None, rare_near: np.ndarray | None = None, id_conflict: np.ndarray | None = None,
    nameless: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(person-evidence tier 0/1/2, names do not agree: review at most) per pair.

    Tier 2 (may auto-merge): the whole name agrees (any script, any order), or a personal
    (non-shared) email, a mobile number, the birth date or a business-card service's person ID
    agrees, and the given names do not clearly differ (the person ID overrides that: the service
    matched the cards itself).
    Tier 1 (review at most): one name part, with a home-like address (a street few records
    share), where no personal identifier contradicts; or (`rare_near`: rare_near_miss, where no
    two mailboxes at the company's domain or two mobiles say two people, `id_conflict`) at one
    company, one name part written the same and the other a near miss that nobody else in the org
    carries. A near-miss given name that is a real name (`rare_near` false) is a family member's at
    a home.
    Also tier 1 (`nameless`: neither record has a name -- ご担当者様 on a purchased list): two such
    records at one company that nothing tells apart -- the whole address and a phone or a mailbox
    agree, nothing both fill differs: a list loaded twice, or two unknown contacts there.
    Tier 0 (never a match): nothing about the person, or different given names, or (`mail_conflict`,
    see _MAIL_CONFLICT) two different personal mailboxes at one company's domain where no mobile,
    birth date or card person ID says one person. Company, switchboard, office address and postal
    code never count, however many of them agree.
    """
    idx = {c.name: j for j, c in enumerate(comps)}
    n = levels.shape[0]

    def lv(name):
        return levels[:, idx[name]] if name in idx else np.full(n, NULL, dtype=np.int8)

    last, first = lv("last_name"), lv("first_name")
    email, phone, dob = lv("email"), lv("phone"), lv("birthdate")
    card_person = lv("person_id") == 1  # one person by the business-card service's own matching
    names_agree = (last >= 2) & (first >= 2)
    unsplit_agree = (last >= 2) & (first == NULL)
    strong_id = (email == 2) | (phone == 2) | (dob >= 2) | card_person
    # Different given names are different people (family members share a surname, an address,
    # even an email); a different surname with the same given name may be a marriage, so it
    # needs a personal identifier and then goes to review.
    first_conflict = first == 0
    last_conflict = last == 0
    company = lv("company")
    # ... unless the birth date agrees too (family members do not share one), or a personal
    # identifier agrees at the same company (a misread name on a business card) -- for the
    # personal mailbox also where the company is written another way (its katakana reading, its
    # English name: company "similar"), the mailbox being at the company's own domain. (Three
    # samples, the built-in and two written independently of nayose: every such pair one person;
    # with the company missing, a mailbox shared at home is a family's.)
    given_only = (first >= 3) & (last == NULL)  # review at most (see conflict below)
    two_ids = (email == 2) & (phone == 2)  # a personal mailbox and a mobile: one person
    at_company = (strong_id & (company == 2)) | ((email == 2) & (company == 1))
    strong = (names_agree | unsplit_agree | given_only | strong_id) & (
        ~first_conflict | (dob == 3) | at_company | two_ids | card_person
    )
    # Review at most, where no personal identifier contradicts (both emails present and
    # different, or no common phone number):
    # - one name part with a home-like address (few records share the street, and no shared
    #   company explains it);
    # - one name part agreeing and the other a near miss (one kanji, a truncated reading) at a
    #   home -- but a near-miss given name only where it looks misread (`rare_near`): 美香 / 美咲
    #   at one home are two sisters (100k sample: of ~90 pairs at one address with the surname
    #   the same and a near-miss given name that is a real name, 3 were one person).
    # (At a home, both emails present and different contradict: family members.)
    home = rare_address & (company != 2) & (email != 0) & (phone != 0)
    near_miss = ((last >= 2) & (first == 1)) | ((last == 1) & (first >= 2))
    weak = home & ((((last >= 1) | (first >= 1)) & ~first_conflict & ~last_conflict) | near_miss)
    if rare_near is not None:
        weak &= ~((first == 1) & ~rare_near)
        # At one company, one name part written the same and the other a near miss that looks
        # misread, whatever else differs (a personal mailbox beside the work one, a direct line
        # beside the switchboard), unless two mailboxes at the domain or two mobiles say two
        # people: 大石 / 太石 正夫 and 藤田 恵子 / 恵予 are one card read wrong (太石, 恵予 are nobody
        # else's names), 北村 誠一 / 北村 真一 usually two colleagues (two real names).
        one_off = ((last == 4) & (first == 1)) | ((last == 1) & (first == 4))
        weak |= (company == 2) & one_off & rare_near & (~id_conflict if id_conflict is not None else True)
    if nameless is not None:
        # Two records without a name (a purchased list's ご担当者様 rows: the placeholder is no name)
        # at one company that nothing tells apart: review at most (gate 10), never auto -- a list
        # loaded twice, or two unknown contacts at one office. Only where the whole address agrees
        # and a phone or a mailbox too, and nothing both fill differs (a bare row with the company
        # and its switchboard alone would chain every nameless record of the company together).
        alike = ((company == 2) & (lv("address") == 4) & ((phone >= 1) | (email >= 1))
                 & (email != 0) & (phone != 0) & (dob != 0) & (lv("person_id") != 0))
        weak |= nameless & alike
    if household_review:
        # Registers without households (FEBRL-like): one name part at a home may be a corrupted record.
        weak |= home & ((last >= 2) | (first >= 2))
    # A name alone is not enough: namesakes are common (佐藤 健 at two companies). Something else
    # about the person or their company must agree too.
    # (At two different companies an address in the same area or street is two offices' (Congress
    # Avenue in Austin, 大手町): it says nothing about the person; the same address still may. And
    # where records carry contact channels, the same city or postal area alone is where namesakes
    # live (100k sample: 0 of 82 such pairs one person); a register has only the address.)
    address = lv("address")
    near = 2 if household_review else 3
    corroborated = (email >= 1) | (phone >= 1) | (company >= 1) | (dob >= 1) | (address == 4) | ((address >= near) & (company != 0))
    strong &= corroborated | strong_id
    tier = np.where(strong, 2, np.where(weak, 1, 0)).astype(np.int8)
    if mail_conflict is not None:
        one_person = (phone == 2) | (dob == 3) | card_person
        tier[mail_conflict & ~one_person] = 0
    # Auto-merge needs the name itself to agree: a personal identifier with a merely similar name
    # (松本 柚香 / 松本 友穂 sharing a family address) is for review.
    conflict = last_conflict | first_conflict | ~(names_agree | unsplit_agree)
    # ... and, where no personal identifier agrees, the same name, not a close one: at one company
    # 吉村 大輔 / ヨシムラ ダイスケ is one person, 吉塚 大貴 / ヨシムラ ダイスケ (close readings) two
    # colleagues as often as not; at one home 斎藤 由紀 / 斎藤 有紀 may be two relatives.
    close_only = (names_agree & ((last == 2) | (first == 2))) | (unsplit_agree & (last == 2))
    # (A person register -- no contact channel, FEBRL-like -- has only the names and the birth
    # date to go by: there a close name is a typo, as before.)
    if not household_review:
        conflict |= close_only & ~strong_id
    return tier, conflict


def save_model(con: duckdb.DuckDBPyConnection, model: Model | None, table: str = "match_model") -> None:
    """Keep the estimated model (m, u, weights per level) in the store, for explanations."""
    rows = []
    if model is not None:
        for comp, m, u, w in zip(model.comparisons, model.m, model.u, model.weights):
            for k, lab in enumerate(comp.levels):
                rows.append((comp.name, k, lab, float(m[k]), float(u[k]), float(w[k])))
    con.execute(
        f'CREATE OR REPLACE TABLE "{table}" (comparison VARCHAR, level TINYINT, label VARCHAR, m DOUBLE, u DOUBLE, weight DOUBLE)'
    )
    if rows:
        con.executemany(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, ?, ?)', rows)
    # The prior and the training figures, so that a later run can score with this very model (load_model).
    con.execute(f'CREATE OR REPLACE TABLE "{table}_prior" (prior DOUBLE, sessions JSON)')
    if model is not None:
        con.execute(f'INSERT INTO "{table}_prior" VALUES (?, ?)', [float(model.prior), json.dumps(model.sessions, default=str)])


def load_model(con: duckdb.DuckDBPyConnection, table: str = "match_model") -> "Model | None":
    """The model save_model kept in the store (exact m, u, weights and prior), or None."""
    from nayose.store import table_exists

    if not (table_exists(con, table) and table_exists(con, f"{table}_prior")):
        return None
    prior = con.execute(f'SELECT prior, sessions FROM "{table}_prior"').fetchall()
    rows = con.execute(f'SELECT comparison, level, m, u, weight FROM "{table}" ORDER BY rowid').fetchall()
    if not prior or not rows:
        return None
    by_name = {c.name: c for c in COMPARISONS}
    order: list[str] = []
    values: dict[str, list[tuple[int, float, float, float]]] = {}
    for name, level, m, u, w in rows:
        if name not in values:
            order.append(name)
            values[name] = []
        values[name].append((int(level), float(m), float(u), float(w)))
    comps, ms, us, ws = [], [], [], []
    for name in order:
        lv = sorted(values[name])
        comps.append(by_name[name])
        ms.append(np.array([x[1] for x in lv], dtype=np.float64))
        us.append(np.array([x[2] for x in lv], dtype=np.float64))
        ws.append(np.array([x[3] for x in lv], dtype=np.float64))
    return Model(comps, ms, us, float(prior[0][0]), ws, json.loads(prior[0][1] or "{}"))
