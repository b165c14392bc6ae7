"""score_pairs in bounded batches: the same scored pairs, bit for bit, whatever the batch sizes,
whether the pair query carries the name strings or compute_levels takes them by rec_idx, and
whether every name similarity is computed or only those that can change a level."""

from __future__ import annotations

import csv

import duckdb
import numpy as np
import pytest

from nayose import score
from nayose.block import block_pairs
from nayose.config import Config
from nayose.normalize import normalize_records
from nayose.records import load_records
from nayose.sample import COLUMNS, write_sample

# Names that exercise every branch of the name levels: swapped fields, a whole name in one
# field, missing parts, kanji against kana / romaji, one kanji off, initials, a typo.
EXTRA = [
    ("00Q9Y00000000A1AAA", "健太郎", "渡邉", "渡辺データ", "ken@example.jp", "", "", "芝浦3-4-1", "港区", "東京都", "108-0023"),
    ("00Q9Y00000000A2AAA", "渡邉", "健太郎", "渡辺データ", "", "", "", "芝浦3-4-1", "港区", "東京都", "108-0023"),
    ("00Q9Y00000000A3AAA", "", "渡邉健太郎", "渡辺データ", "", "", "", "芝浦3-4-1", "港区", "東京都", "108-0023"),
    ("00Q9Y00000000A4AAA", "ケンタロウ", "ワタナベ", "渡辺データ", "ken@example.jp", "", "", "芝浦3-4-1", "港区", "", "1080023"),
    ("00Q9Y00000000A5AAA", "Kentaro", "Watanabe", "渡辺データ", "", "", "", "芝浦3-4-1", "港区", "", "1080023"),
    ("00Q9Y00000000A6AAA", "Watanabe", "Kentarou", "渡辺データ", "", "", "", "芝浦3-4-1", "港区", "", "1080023"),
    ("00Q9Y00000000A7AAA", "健太朗", "渡邉", "渡辺データ", "", "", "", "芝浦3-4-1", "港区", "東京都", "108-0023"),
    ("00Q9Y00000000A8AAA", "K", "Watanabe", "渡辺データ", "", "", "", "芝浦3-4-1", "港区", "", "1080023"),
    ("00Q9Y00000000A9AAA", "", "Kentaro Watanabe", "渡辺データ", "", "", "", "芝浦3-4-1", "港区", "", "1080023"),
    ("00Q9Y00000000B1AAA", "Emily", "Clarke", "Harbor", "", "", "", "200 Pine St", "San Francisco", "CA", "94104"),
    ("00Q9Y00000000B2AAA", "Clarke", "Emily", "Harbor", "", "", "", "200 Pine St", "San Francisco", "CA", "94104"),
    ("00Q9Y00000000B3AAA", "Emely", "Clark", "Harbor", "", "", "", "200 Pine St", "San Francisco", "CA", "94104"),
    ("00Q9Y00000000B4AAA", "", "Clarke", "Harbor", "", "", "", "200 Pine St", "San Francisco", "CA", "94104"),
]
FIELDS = ["Id", "FirstName", "LastName", "Company", "Email", "Phone", "MobilePhone", "Street", "City", "State", "PostalCode"]


@pytest.fixture(scope="module")
def blocked(tmp_path_factory):
    path = tmp_path_factory.mktemp("org") / "org.csv"
    write_sample(2500, 3, path)
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for case in EXTRA:
            row = dict(zip(FIELDS, case)) | {"Object": "Lead"}
            w.writerow([row.get(c, "") for c in COLUMNS])
    con = duckdb.connect()
    config = Config()
    load_records(con, [path], config)
    normalize_records(con, config)
    block_pairs(con, config)
    return con, config


def _scored(con, config) -> dict[str, np.ndarray]:
    res = score.score_pairs(con, config)
    t = con.sql("SELECT * FROM scored_pairs ORDER BY left_idx, right_idx").to_arrow_table()
    return {"stats": res.stats, "rows": res.rows} | {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}


def _same(a: dict, b: dict) -> None:
    assert a["rows"] == b["rows"] > 0
    assert a["stats"] == b["stats"]
    assert a.keys() == b.keys()
    for c in a:
        if c not in ("stats", "rows"):
            assert np.array_equal(a[c], b[c], equal_nan=a[c].dtype.kind == "f"), c


def test_batch_sizes_do_not_change_the_scores(blocked, monkeypatch):
    con, config = blocked
    whole = _scored(con, config)
    monkeypatch.setattr(score, "BATCH_ROWS", 997)  # many pair-query batches (and the prefetch thread)
    monkeypatch.setattr(score, "APPLY_BATCH_ROWS", 1_201)
    _same(whole, _scored(con, config))


def test_skipped_similarities_change_nothing(blocked, monkeypatch):
    con, config = blocked
    skipped = _scored(con, config)
    monkeypatch.setattr(score, "_SIM_EVERY_PAIR", True)
    _same(skipped, _scored(con, config))


def _features(con, codes: bool = False):
    """score's feature table `_score_features` (with the codes of CODED_COLUMNS if `codes`), the
    active comparisons, the RecordNames and the candidate pairs' query."""
    present = {k: v for k, v in score._present_columns(con, "normalized_records").items() if v}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _score_features AS {score._feature_sql('normalized_records', present, codes=codes)}")
    return score.active_comparisons(present), score.RecordNames.load(con), "SELECT left_idx, right_idx, rule_no FROM candidate_pairs"


def test_names_by_rec_idx_give_the_levels_of_the_name_strings(blocked):
    con, config = blocked
    comps, names, pairs = _features(con)
    with_strings = score._pair_levels(con, pairs, comps)  # the seam nayose.incremental uses
    by_idx = score._pair_levels(con, pairs, comps, total=len(with_strings["left"]), names=names)
    con.execute("DROP TABLE _score_features")
    assert sorted(with_strings) == sorted(score.PAIR_KEYS)
    order_a = np.lexsort((with_strings["right"], with_strings["left"]))
    order_b = np.lexsort((by_idx["right"], by_idx["left"]))
    for key in score.PAIR_KEYS:
        assert with_strings[key].dtype == by_idx[key].dtype, key
        assert np.array_equal(with_strings[key][order_a], by_idx[key][order_b], equal_nan=key == "tf"), key
    # the handcrafted names did reach the name levels: swapped fields and whole names in one field
    assert by_idx["swapped"].any()


def test_an_error_while_comparing_stops_the_prefetching_thread(blocked, monkeypatch):
    con, config = blocked
    monkeypatch.setattr(score, "BATCH_ROWS", 500)
    calls = []
    real = score.compute_levels

    def failing(batch, comps, names=None):
        calls.append(batch.num_rows)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(batch, comps, names)

    monkeypatch.setattr(score, "compute_levels", failing)
    with pytest.raises(RuntimeError, match="boom"):
        score.score_pairs(con, config)
    monkeypatch.setattr(score, "compute_levels", real)
    assert con.execute("SELECT count(*) FROM candidate_pairs").fetchall()[0][0] > 1_000
    score.score_pairs(con, config)  # the connection is usable again


def test_within_one_edit_lean_is_levenshtein():
    values = [None, "", "a", "ab", "ba", "abc", "abd", "acb", "1943-10-03", "1943-10-30", "1943-01-03", "1934-10-03",
              "1943-10-3", "2148", "2149", "2418", "214", "日本", "日木", "本日", "日本語", "ｱｲ", "アイ", "é", "e"]
    con = duckdb.connect()
    con.execute("CREATE TABLE v (s VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[x] for x in values])
    rows = con.execute(
        f"""SELECT l.s, r.s, {score._within_one_edit('l.s', 'r.s', False)}, {score._within_one_edit('l.s', 'r.s', True)}
            FROM v l, v r"""
    ).fetchall()
    assert len(rows) == len(values) ** 2
    assert all(full is lean for _, _, full, lean in rows)
    assert sum(bool(full) for _, _, full, _ in rows) > len(values)


def test_lean_query_comparing_codes_gives_the_levels_of_the_values(blocked):
    """score_pairs' pair query compares integer codes of the equality-only columns (emails,
    domains, company readings, regions, phone and mobile numbers across the two fields) and
    leaves out the inactive comparisons: the levels are those of the full query on the values."""
    con, config = blocked
    comps, names, pairs = _features(con, codes=True)
    full = score._pair_levels(con, pairs, comps)
    lean = score._pair_levels(con, pairs, comps, total=len(full["left"]), names=names, lean=True)
    # the codes stand for the values: equal where the values are equal, NULL where they are
    agree = con.execute(
        """SELECT count(*) FILTER (WHERE (l.email = r.email) IS DISTINCT FROM (l.email_c = r.email_c)
                                    OR (l.mobile = r.phone) IS DISTINCT FROM (l.mobile_c = r.phone_c)
                                    OR (l.company_reading = r.company_reading) IS DISTINCT FROM (l.company_reading_c = r.company_reading_c)),
                  count(*) FILTER (WHERE l.mobile = r.phone), count(*) FILTER (WHERE l.email = r.email)
           FROM candidate_pairs p JOIN _score_features l ON l.rec_idx = p.left_idx JOIN _score_features r ON r.rec_idx = p.right_idx"""
    ).fetchall()[0]
    con.execute("DROP TABLE _score_features")
    assert agree[0] == 0 and agree[1] > 0 and agree[2] > 0, agree
    order_a = np.lexsort((full["right"], full["left"]))
    order_b = np.lexsort((lean["right"], lean["left"]))
    for key in score.PAIR_KEYS:
        assert np.array_equal(full[key][order_a], lean[key][order_b], equal_nan=key == "tf"), key


def test_probing_with_the_pairs_gives_the_same_levels_and_restores_the_setting(blocked, monkeypatch):
    """Below a row group of records score plans the pair query to probe with the pairs (both
    cores); the levels are those of DuckDB's own plan, and the connection's optimizer setting is
    what it was before, also after an error while comparing."""
    con, config = blocked
    comps, names, pairs = _features(con, codes=True)
    con.execute("SET disabled_optimizers = 'compressed_materialization'")  # a user's own setting
    own = score._pair_levels(con, pairs, comps, names=names, lean=True)
    probed = score._pair_levels(con, pairs, comps, names=names, lean=True, probe_pairs=True)
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == "compressed_materialization"
    order_a, order_b = np.lexsort((own["right"], own["left"])), np.lexsort((probed["right"], probed["left"]))
    assert len(own["left"]) > 1_000
    for key in score.PAIR_KEYS:
        assert np.array_equal(own[key][order_a], probed[key][order_b], equal_nan=key == "tf"), key

    def failing(batch, comps, names=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(score, "compute_levels", failing)
    with pytest.raises(RuntimeError, match="boom"):
        score._pair_levels(con, pairs, comps, names=names, lean=True, probe_pairs=True)
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == "compressed_materialization"
    con.execute("SET disabled_optimizers = ''")
    con.execute("DROP TABLE _score_features")
