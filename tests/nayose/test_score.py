"""Unit tests of single scoring functions (the pipeline's behaviour is in test_matching)."""

from __future__ import annotations

import numpy as np

from nayose.config import load_config
import duckdb

from nayose.score import (
    COMPARISONS, GATES, Model, apply_model, mailboxes_spell_one_name, ocr_mail_fold, ocr_mail_fold_sql,
)


def _card_org_model() -> tuple[list, Model]:
    """A model as a business-card org teaches it: duplicates nearly always keep their company,
    mailbox and switchboard, so each of those disagreeing weighs heavily against a match."""
    comps = [c for c in COMPARISONS if c.name in ("last_name", "first_name", "email", "phone", "company")]
    m = [np.array([0.02, 0.02, 0.03, 0.13, 0.80]), np.array([0.02, 0.02, 0.03, 0.13, 0.80]),
         np.array([0.05, 0.02, 0.93]), np.array([0.08, 0.72, 0.20]), np.array([0.02, 0.08, 0.90])]
    u = [np.array([0.95, 0.03, 0.01, 0.005, 0.005]), np.array([0.95, 0.03, 0.01, 0.005, 0.005]),
         np.array([0.9999, 0.00005, 0.00005]), np.array([0.9975, 0.002, 0.0005]), np.array([0.995, 0.004, 0.001])]
    return comps, Model(comps, m, u, 2e-5, [np.log2(a / b) for a, b in zip(m, u)])


def test_the_mobile_and_the_name_agreeing_raise_a_job_changer_to_review():
    """Same name, same mobile, another company, mailbox and switchboard (a job change): the model
    multiplies three disagreements of one event and leaves the pair below review; gate 9 raises it
    to review. The same pair with a shared switchboard instead of the mobile, or with the given
    name different (no person-level evidence), is left where the model put it."""
    comps, model = _card_org_model()
    config = load_config(None)
    th = config.matching.thresholds
    # last, first, email, phone, company
    levels = np.array([
        [4, 4, 0, 2, 0],  # job changer: name and mobile
        [4, 4, 0, 1, 0],  # the same name and one landline at two companies
        [4, 0, 0, 2, 0],  # another given name with the same mobile (tier 0 from person_evidence)
    ], dtype=np.int8)
    tfs = np.full(levels.shape, np.nan, dtype=np.float32)
    tier = np.array([2, 0, 0], dtype=np.int8)
    conflict = np.array([False, False, True])
    *_, prob, capped, gate = apply_model(levels, tfs, tier, conflict, model, config)
    assert prob[0] < th.review and capped[0] == th.review and gate[0] == 9, (prob, capped, gate)
    assert "mobile" in GATES[9]
    assert capped[1] < th.review and gate[1] == 1, (capped, gate)
    assert capped[2] < th.review and gate[2] == 1, (capped, gate)


def test_a_job_changer_the_model_already_matches_keeps_its_probability():
    """Gate 9 only raises: a pair the model puts at or above review keeps its own probability."""
    comps, model = _card_org_model()
    config = load_config(None)
    levels = np.array([[4, 4, 2, 2, 0]], dtype=np.int8)  # the personal mailbox too
    tfs = np.full(levels.shape, np.nan, dtype=np.float32)
    *_, prob, capped, gate = apply_model(levels, tfs, np.array([2], dtype=np.int8), np.array([False]), model, config)
    assert prob[0] >= config.matching.thresholds.review and capped[0] == prob[0] and gate[0] == 0


def test_the_ocr_mailbox_fold_is_the_same_in_sql_and_python():
    """The incremental engine folds in Python what the pair query folds in SQL: the same strings."""
    values = ["yuu.nakayarna", "rnari.sato", "taro01", "vvatanabe", "m.kato", "l1o0rnvv", ""]
    con = duckdb.connect()
    got = [r[0] for r in con.execute(
        f"SELECT {ocr_mail_fold_sql('v')} FROM unnest(?) AS t(v)", [values]).fetchall()]
    assert got == [ocr_mail_fold(v) for v in values]
    assert ocr_mail_fold("yuu.nakayarna") == ocr_mail_fold("yuu.nakayama")
    assert ocr_mail_fold("t.watanabe") != ocr_mail_fold("t.watanabe2")


def test_two_mailboxes_spell_one_name_in_two_formats_but_not_two_initials_or_a_number():
    for a, b in (("a.yamazaki", "yamazaki_anna"), ("ishikawa", "ishikawa_kazuo"), ("hiromi.tomita", "tomita_hiromi"),
                 ("tkano", "teruaki.kano"), ("mizuho.shimizu", "shimizu.mizuho")):
        assert mailboxes_spell_one_name(a, b) and mailboxes_spell_one_name(b, a), (a, b)
    for a, b in (("t.sato", "k.sato"), ("t.watanabe", "t.watanabe2"), ("info", "sales"), ("sato.k", "sato.t"), ("", "x")):
        assert not mailboxes_spell_one_name(a, b), (a, b)


def test_numbers_without_skipped_ones_are_the_kept_numbers_taken_at_positions():
    """The Spark engine's random pairs among the people (business Accounts' numbers skipped) are the
    DuckDB engine's: its numbers taken at the same positions."""
    import numpy as np

    from nayose.score import numbers_without

    rng = np.random.default_rng(3)
    for n, m in ((10, 0), (10, 3), (1000, 250), (50, 49)):
        skipped = np.sort(rng.choice(n, size=m, replace=False))
        kept = np.setdiff1d(np.arange(n), skipped)
        positions = rng.integers(0, len(kept), size=200)
        assert (numbers_without(positions, skipped) == kept[positions]).all()
