"""Term-frequency shares: agreeing on a value is weighed by the chance that another record has it
given that this one does -- the value's count less the record itself, over the population."""

from __future__ import annotations

import math

import duckdb

from nayose.score import FEATURES, TF_MIN_POPULATION, _feature_sql, _present_columns


def _shares(rows: list[tuple[int, str, str]]) -> dict[int, tuple[float, float]]:
    con = duckdb.connect()
    cols = ", ".join(f"{c} {t}" for c, t in FEATURES)  # a normalized table's columns, the rest empty
    con.execute(f"CREATE TABLE recs (rec_idx INTEGER, name_key VARCHAR, {cols})")
    con.executemany("INSERT INTO recs (rec_idx, last_name, phone) VALUES (?, ?, ?)", rows)
    present = {k: v for k, v in _present_columns(con, "recs").items() if v}
    got = con.execute(f"SELECT rec_idx, lf_last_name, lf_phone FROM ({_feature_sql('recs', present)})").fetchall()
    return {r: (a, b) for r, a, b in got}


def test_a_value_two_records_share_is_one_other_record_in_the_population():
    # 佐藤 on three records, 渡邉 on two, a switchboard on three and a home phone on two.
    rows = [
        (0, "佐藤", "+81354127788"), (1, "佐藤", "+81354127788"), (2, "佐藤", "+81354127788"),
        (3, "渡邉", "+81311112222"), (4, "渡邉", "+81311112222"), (5, "高橋", None),
    ]
    lf = _shares(rows)
    pop = TF_MIN_POPULATION  # six records: the population floor applies
    assert math.isclose(lf[0][0], math.log2(2 / pop))  # 佐藤: two other records
    assert math.isclose(lf[3][0], math.log2(1 / pop))  # 渡邉: one other record, not two
    assert math.isclose(lf[0][1], math.log2(2 / pop))
    assert math.isclose(lf[3][1], math.log2(1 / pop))
    assert lf[5][1] is None  # no phone, no share
    # the rarer the value, the stronger the agreement: the pair of 渡邉 outweighs the 佐藤s by one bit
    assert math.isclose(lf[0][0] - lf[3][0], 1.0)


def test_shares_over_a_large_population():
    rows = [(i, "佐藤" if i < 4 else f"name{i}", None) for i in range(8000)]
    lf = _shares(rows)
    assert math.isclose(lf[0][0], math.log2(3 / 8000))
