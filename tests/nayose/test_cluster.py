"""Clustering: connected components, auto vs review, the chaining guard and size limits."""

import duckdb
import pytest

from nayose.cluster import cluster_records
from nayose.config import ClusterConfig, Config


def _setup(ids, pairs):
    con = duckdb.connect()
    con.execute("CREATE TABLE normalized_records (rec_idx INTEGER, id VARCHAR)")
    if ids:
        con.executemany("INSERT INTO normalized_records VALUES (?, ?)", list(enumerate(ids)))
    con.execute("CREATE TABLE scored_pairs (left_idx INTEGER, right_idx INTEGER, match_probability DOUBLE)")
    if pairs:
        con.executemany("INSERT INTO scored_pairs VALUES (?, ?, ?)", pairs)
    return con


def _result(con):
    return {r[0]: (r[1], r[2]) for r in con.execute('SELECT "Id", cluster_id, status FROM clusters').fetchall()}


def test_auto_group_review_group_and_singles():
    ids = ["00Q000000000001AAA", "00Q000000000002AAA", "003000000000003AAA", "003000000000004AAA", "00Q000000000005AAA"]
    con = _setup(ids, [(0, 1, 0.999), (2, 3, 0.7)])
    res = cluster_records(con, Config())
    out = _result(con)
    assert out[ids[0]] == (ids[0], "auto") and out[ids[1]] == (ids[0], "auto")
    assert out[ids[2]] == (ids[2], "review") and out[ids[3]] == (ids[2], "review")
    assert out[ids[4]] == (ids[4], "single")
    assert res.stats["clusters"] == {"auto": 1, "review": 1, "single": 1}


def test_group_held_by_a_weak_link_is_review():
    ids = [f"00Q00000000000{i}AAA" for i in range(4)]
    # two strong pairs joined by one review-level link
    con = _setup(ids, [(0, 1, 0.999), (2, 3, 0.999), (1, 2, 0.6)])
    cluster_records(con, Config())
    out = _result(con)
    assert {v for v in out.values()} == {(ids[0], "review")}


def test_chain_with_a_non_match_inside_is_not_auto():
    ids = [f"00Q00000000000{i}AAA" for i in range(3)]
    # A=B and B=C strongly, but A and C were compared and judged different
    con = _setup(ids, [(0, 1, 0.995), (1, 2, 0.995), (0, 2, 0.01)])
    res = cluster_records(con, Config())
    assert {s for _, s in _result(con).values()} == {"review"}
    assert res.stats["chain_guarded_groups"] == 1


@pytest.mark.parametrize("gate, status", [(3, "review"), (5, "review"), (7, "review"), (2, "auto"), (None, "auto")])
def test_a_pair_whose_own_evidence_says_two_people_keeps_its_chain_out_of_auto(gate, status):
    """比嘉 洋子 and 比嘉 陽子 at one home (born 1955 and 1984): their pair is capped at review because
    the names do not agree (gate 3), and a third record written ヒガ ヨウコ agrees with each by
    reading: the three were an auto group, the daughter's record merged away without review. A pair
    capped for want of evidence (gate 2) does not hold the chain back."""
    ids = [f"00Q00000000000{i}AAA" for i in range(3)]
    con = _setup(ids, [])
    con.execute("ALTER TABLE scored_pairs ADD COLUMN gate TINYINT")
    con.executemany("INSERT INTO scored_pairs VALUES (?, ?, ?, ?)",
                    [(0, 2, 0.999996, None), (1, 2, 0.999996, None), (0, 1, 0.99 - 1e-9, gate)])
    res = cluster_records(con, Config())
    assert {s for _, s in _result(con).values()} == {status}
    assert res.stats["chain_guarded_groups"] == (1 if status == "review" else 0)


def test_large_groups_never_auto_and_oversized_groups_split():
    ids = [f"003{i:015d}" for i in range(12)]
    chain = [(i, i + 1, 0.999) for i in range(9)]  # 10 records strongly chained
    con = _setup(ids, chain + [(10, 11, 0.6)])
    cfg = Config(cluster=ClusterConfig(max_auto_size=8, max_size=50))
    cluster_records(con, cfg)
    out = _result(con)
    assert out[ids[0]][1] == "review"  # 10 > max_auto_size
    cfg = Config(cluster=ClusterConfig(max_auto_size=8, max_size=5))
    con = _setup(ids, [(i, i + 1, 0.999 if i != 4 else 0.6) for i in range(9)])
    res = cluster_records(con, cfg)
    out = _result(con)
    # the 10-record group (> max_size) is split at its weak link into two auto groups of 5
    assert out[ids[0]] == (ids[0], "auto") and out[ids[5]] == (ids[5], "auto")
    assert res.stats["split_groups"] == 1


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(n):
    con = _setup([f"003{i:015d}" for i in range(n)], [])
    res = cluster_records(con, Config())
    assert res.rows == n



def test_close_names_without_a_personal_identifier_are_not_auto():
    """吉塚 大貴 / ヨシムラ ダイスケ at one company, sharing the switchboard: close readings are for
    review unless a personal identifier (mailbox, mobile, birth date) agrees too."""
    import numpy as np

    from nayose.score import COMPARISONS, person_evidence

    comps = [c for c in COMPARISONS if c.name != "person_id"]
    # last, first, email, phone, company, birthdate, address
    close = np.array([[2, 2, -1, 1, 2, -1, 4]], dtype=np.int8)
    same = np.array([[3, 3, -1, 1, 2, -1, 4]], dtype=np.int8)
    close_mobile = np.array([[2, 3, -1, 2, 2, -1, 4]], dtype=np.int8)
    rare = np.zeros(1, dtype=bool)
    tier, conflict = person_evidence(close, comps, rare)
    assert tier[0] == 2 and conflict[0]  # review at most
    tier, conflict = person_evidence(same, comps, rare)
    assert tier[0] == 2 and not conflict[0]
    tier, conflict = person_evidence(close_mobile, comps, rare)
    assert tier[0] == 2 and not conflict[0]


def test_name_one_kanji_off_at_one_company_is_for_review_where_it_looks_misread():
    """大石 正夫 / 太石 正夫 or 藤田 恵子 / 恵予 at one company (a card's OCR: the odd name is nobody
    else's, `rare_near`): review, never auto, whatever mailbox or line each has -- unless two
    mailboxes at the company's domain or two mobiles say two people (`id_conflict`). Two real names
    (北村 誠一 / 北村 真一, 北村 / 北川 正夫): two colleagues."""
    import numpy as np

    from nayose.score import COMPARISONS, person_evidence

    comps = [c for c in COMPARISONS if c.name != "person_id"]
    rare = np.zeros(1, dtype=bool)
    yes, no = np.ones(1, dtype=bool), np.zeros(1, dtype=bool)

    def tier(levels, rare_near, id_conflict=no):
        # last, first, email, phone, company, birthdate, address
        return person_evidence(np.array([levels], dtype=np.int8), comps, rare, False, None, rare_near, id_conflict)[0][0]

    assert tier([1, 4, -1, 1, 2, -1, 4], yes) == 1
    assert tier([4, 1, -1, 1, 2, -1, 4], yes) == 1
    assert tier([4, 1, 0, 0, 2, -1, 4], yes) == 1  # a personal mailbox beside the work one, a direct line
    assert tier([4, 1, 0, 1, 2, -1, 4], yes, id_conflict=yes) == 0  # two mailboxes at the company
    assert tier([1, 4, -1, 1, 2, -1, 4], no) == 0
    assert tier([4, 1, -1, 1, 2, -1, 4], no) == 0
    assert tier([4, 1, -1, 1, 0, -1, -1], yes) == 0  # not at one company


def test_a_card_services_person_id_is_a_personal_identifier():
    """Two cards a business-card service consolidated (the same Sansan person ID): person-level
    evidence even with a misread given name at another company; a different ID is not."""
    import numpy as np

    from nayose.score import COMPARISONS, person_evidence

    rare = np.zeros(1, dtype=bool)
    # last, first, email, phone, company, birthdate, address, person_id
    tier, _ = person_evidence(np.array([[4, 0, 0, 0, 0, -1, -1, 1]], dtype=np.int8), COMPARISONS, rare)
    assert tier[0] == 2
    tier, _ = person_evidence(np.array([[4, 0, 0, 0, 0, -1, -1, 0]], dtype=np.int8), COMPARISONS, rare)
    assert tier[0] == 0


def _register_levels(duplicates: dict[tuple, int], family: int = 0):
    """Home pairs of a person register: levels (last, first, birthdate, address) x count."""
    import numpy as np

    rows = []
    for (last, first, dob), n in duplicates.items():
        rows += [[last, first, dob, 4]] * n
    rows += [[4, 0, 0, 4]] * family  # a relative: the surname, another given name and birth date
    return np.array(rows, dtype=np.int8)


def test_a_register_says_itself_whether_a_shared_home_is_one_person():
    """A register without contact channels (FEBRL): records at one home are one person's
    duplicates, or family members. Duplicates with another name *and* another birth date are about
    as common as the two corruptions' own rates multiply to; family members are many more."""
    import numpy as np

    from nayose.score import COMPARISONS, shared_home

    comps = [c for c in COMPARISONS if c.name in ("last_name", "first_name", "birthdate", "address")]
    # 1,000 duplicate pairs at homes: 10% with the birth date corrupted, ~10% with a name replaced,
    # so ~1% with both.
    dups = {(4, 4, 3): 800, (4, 4, 0): 90, (4, 0, 3): 90, (4, 0, 0): 10, (4, 4, -1): 10}
    levels = _register_levels(dups)
    judged = shared_home(levels, np.ones(len(levels), dtype=bool), comps)
    assert judged["one_person"] is True, judged
    assert judged["other_name_and_birth_date"] == 10 and 9 < judged["expected_if_duplicates"] < 11, judged
    # One original in a hundred with a relative at home (and one of its duplicates): 20 more pairs.
    levels = _register_levels(dups, family=20)
    judged = shared_home(levels, np.ones(len(levels), dtype=bool), comps)
    assert judged["one_person"] is False, judged
    # Not homes (an address many records share): nothing to judge from.
    judged = shared_home(levels, np.zeros(len(levels), dtype=bool), comps)
    assert judged == {"home_pairs": 0, "one_person": False}
    # Pattern counts (the Spark engine's GROUP BY) give the same judgement.
    patterns, counts = np.unique(levels, axis=0, return_counts=True)
    assert shared_home(patterns, np.ones(len(patterns), dtype=bool), comps, counts)["one_person"] is False


def test_the_registers_judgement_raises_or_caps_pairs_at_a_home():
    """Where a shared home is one person's, a home pair without person-level evidence is raised to
    review (gate 6); where families live together, another given name there is never a match
    (gate 7). A CRM export, or the user's own word in the config, is left alone."""
    import numpy as np

    from nayose.config import load_config
    from nayose.score import COMPARISONS, GATES, Model, apply_model

    comps = [c for c in COMPARISONS if c.name in ("last_name", "first_name", "birthdate", "address")]
    m = [np.array([0.1, 0.1, 0.1, 0.1, 0.6]), np.array([0.1, 0.1, 0.1, 0.1, 0.6]), np.array([0.1, 0.1, 0.1, 0.7]),
         np.array([0.05, 0.05, 0.1, 0.2, 0.6])]
    u = [np.array([0.9, 0.05, 0.03, 0.01, 0.01]), np.array([0.9, 0.05, 0.03, 0.01, 0.01]), np.array([0.9, 0.05, 0.04, 0.01]),
         np.array([0.5, 0.3, 0.1, 0.09, 0.01])]

    def model(one_person):
        sessions = {"shared_home": {"home_pairs": 1000, "one_person": one_person,
                                    "other_name_and_birth_date": 10, "expected_if_duplicates": 10.0}}
        return Model(comps, m, u, 1e-4, [np.log2(a / b) for a, b in zip(m, u)], sessions)

    # abbey / gabrielle finlay at 14 lipman street, two birth dates: tier 1 (a register), weak weight
    levels = np.array([[4, 0, 0, 4]], dtype=np.int8)
    tfs = np.full((1, 4), np.nan, dtype=np.float32)
    tier, conflict, home = np.array([1], dtype=np.int8), np.array([True]), np.array([True])
    config = load_config(None)
    th = config.matching.thresholds
    *_, prob, capped, gate = apply_model(levels, tfs, tier, conflict, model(True), config, None, home)
    assert prob[0] < th.review and capped[0] == th.review and gate[0] == 6, (prob, capped, gate)
    assert "one person" in GATES[6]
    *_, capped, gate = apply_model(levels, tfs, tier, conflict, model(False), config, None, home)
    assert capped[0] < th.review and gate[0] == 7, (capped, gate)
    # Not a home (home false), or the config says review: the weight decides as before (gate 2: weak
    # person-level evidence, capped below auto).
    *_, prob, capped, gate = apply_model(levels, tfs, tier, conflict, model(True), config, None, np.array([False]))
    assert capped[0] == prob[0] and gate[0] == 2
    forced = load_config(None)
    forced.matching.same_home_other_given_name = "review"
    *_, prob, capped, gate = apply_model(levels, tfs, tier, conflict, model(True), forced, None, home)
    assert capped[0] == prob[0] and gate[0] == 2


def test_two_nameless_records_nothing_tells_apart_at_one_company_are_for_review():
    """Two records whose only name was a placeholder (ご担当者様 on a purchased list loaded twice) at
    one company, the whole address and the switchboard the same, nothing differing: review at
    most (tier 1, conflict: never auto). Anything both fill that differs, an address only in the
    same area, no phone or mailbox beside the address, or a name on either: no match."""
    import numpy as np

    from nayose.score import COMPARISONS, person_evidence

    rare = np.zeros(1, dtype=bool)
    yes, no = np.ones(1, dtype=bool), np.zeros(1, dtype=bool)

    def evidence(levels, nameless=yes):
        # last, first, email, phone, company, birthdate, address, person_id
        tier, conflict = person_evidence(np.array([levels], dtype=np.int8), COMPARISONS, rare, False, None, no, no, nameless)
        return int(tier[0]), bool(conflict[0])

    assert evidence([-1, -1, -1, 1, 2, -1, 4, -1]) == (1, True)  # a list loaded twice
    assert evidence([-1, -1, 1, -1, 2, -1, 4, -1]) == (1, True)  # one shared mailbox instead of a phone
    assert evidence([-1, -1, 0, 1, 2, -1, 4, -1])[0] == 0  # two different mailboxes
    assert evidence([-1, -1, -1, 0, 2, -1, 4, -1])[0] == 0  # two different numbers
    assert evidence([-1, -1, -1, 1, 2, -1, 3, -1])[0] == 0  # the address only mostly the same
    assert evidence([-1, -1, -1, -1, 2, -1, 4, -1])[0] == 0  # the place alone
    assert evidence([-1, -1, -1, 1, 1, -1, 4, -1])[0] == 0  # the company only similar
    assert evidence([-1, -1, -1, 1, 2, -1, 4, 0])[0] == 0  # two card person IDs
    assert evidence([-1, -1, -1, 1, 2, -1, 4, -1], nameless=no)[0] == 0  # a name on one of them
