"""Incremental matching equals a full run on the same snapshot scored with the same model."""

import importlib.util
import shutil
from pathlib import Path

import duckdb
import pytest

from nayose.config import load_config
from nayose.incremental import has_state, incremental_run
from nayose.pipeline import run_stages
from nayose.sample import write_sample
from nayose.score import load_model
from nayose.store import connect

ROOT = Path(__file__).resolve().parents[2]
SAME = ("pair_differences", "cluster_row_differences", "normalized_row_differences", "scored_row_differences")


def _bench():
    spec = importlib.util.spec_from_file_location("incremental_bench", ROOT / "bench" / "incremental_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = _bench()


def _full_twin(store: Path, twin: Path, snapshot: Path, config) -> None:
    """A full run of `snapshot` with the model kept in `store`, on a copy of it."""
    shutil.copy(store, twin)
    con = connect(twin)
    run_stages(con, [snapshot], config, model=load_model(con))
    con.close()


def _incremental(store: Path, snapshot: Path, twin: Path, config):
    con = connect(store)
    result = incremental_run(con, [snapshot], config)
    diff = bench.compare(con, twin)
    state = has_state(con)
    con.close()
    return result, diff, state


def _night_after(tmp_path: Path, before: Path, after: Path, config):
    """A full run of `before` that keeps the state, then the incremental run of `after`, checked
    against a full run of `after` with the same model: (result, twin store path)."""
    store = tmp_path / "store.duckdb"
    con = connect(store)
    first = incremental_run(con, [before], config)
    assert first.mode == "full" and has_state(con)
    con.close()
    twin = tmp_path / "full.duckdb"
    _full_twin(store, twin, after, config)
    result, diff, _ = _incremental(store, after, twin, config)
    assert result.mode == "incremental", result.reason
    assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff
    return result, twin


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Night 0: a plain full run (no incremental state). Night 1: 2% changed: a full run with
    night 0's model, which writes the state. Nights 2 and 3: 2% changed again, incremental. Each
    compared with a full run of the same snapshot and model."""
    tmp = tmp_path_factory.mktemp("incremental")
    config = load_config(None)
    base, night1, night2 = tmp / "base.csv", tmp / "night1.csv", tmp / "night2.csv"
    write_sample(3000, 11, base, tmp / "base.truth.csv")
    store = tmp / "store.duckdb"
    con = connect(store)
    run_stages(con, [base], config)
    con.close()
    night3 = tmp / "night3.csv"
    changes1 = bench.make_changed_snapshot(base, night1, share=0.02, seed=5)
    changes2 = bench.make_changed_snapshot(night1, night2, share=0.02, seed=9)
    changes3 = bench.make_changed_snapshot(night2, night3, share=0.02, seed=13)
    out = {}
    for night, snapshot, changes in ((1, night1, changes1), (2, night2, changes2), (3, night3, changes3)):
        twin = tmp / f"full{night}.duckdb"
        _full_twin(store, twin, snapshot, config)
        out[night] = (changes, *_incremental(store, snapshot, twin, config))
    return out


def test_after_a_plain_full_run_the_first_run_is_full_with_the_previous_model(runs):
    _changes, result, diff, state = runs[1]
    assert result.mode == "full" and "no incremental state" in result.reason
    assert state
    assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff


@pytest.mark.parametrize("night", [2, 3])
def test_incremental_equals_full_run_with_the_same_model(runs, night):
    changes, result, diff, state = runs[night]
    assert result.mode == "incremental", result.reason
    assert state
    assert (result.new, result.deleted) == (changes["new"], changes["deleted"])
    assert 0.9 * changes["edited"] <= result.changed <= changes["edited"]  # an edit may leave a value as it was
    assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff  # same records, pairs, scores, groups
    assert diff["max_probability_difference"] == 0.0
    assert result.kept_levels > 0.8 * result.candidate_pairs  # most pairs were not compared again
    assert result.normalized < 0.1 * result.records


def _sample_with(tmp: Path, name: str, rows: list[dict], drop: tuple[str, ...] = ()) -> Path:
    """The 300-record sample plus `rows` (column -> value; the rest copied from a sample record)."""
    src = tmp / "s300.csv"
    if not src.exists():
        write_sample(300, 3, src, tmp / "s300.truth.csv")
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{src}', all_varchar=true, header=true)")
    cols = [c[0] for c in con.execute("DESCRIBE t").fetchall()]
    template = dict(zip(cols, con.execute('SELECT * FROM t WHERE "Object" = \'Lead\' LIMIT 1').fetchall()[0]))
    for row in rows:
        rec = {**template, "Email": None, "Phone": None, "MobilePhone": None, "LastNameKana__c": None,
               "FirstNameKana__c": None, **row}
        con.execute(f"INSERT INTO t VALUES ({', '.join('?' for _ in cols)})", [rec[c] for c in cols])
    for rid in drop:
        con.execute('DELETE FROM t WHERE "Id" = ?', [rid])
    out = tmp / name
    con.execute(f"COPY (SELECT * FROM t ORDER BY \"Id\") TO '{out}' (HEADER, DELIMITER ',')")
    con.close()
    return out


# A surname and a city no sample record has.
TEACHER_NAME = {"Id": "00Q000000000XT1AAA", "LastName": "麒麟川", "FirstName": "太郎"}
WHOLE_NAME = {"Id": "00Q000000000XW1AAA", "LastName": "麒麟川花子", "FirstName": None}
TEACHER_CITY = {"Id": "00Q000000000XT2AAA", "LastName": "田中", "FirstName": "一郎", "City": "麒麟川市",
                "Street": "本町1-2-3", "State": None, "PostalCode": None}
STREET_ONLY = {"Id": "00Q000000000XW2AAA", "LastName": "田中", "FirstName": "次郎", "City": None,
               "Street": "麒麟川市本町4-5-6", "State": None, "PostalCode": None, "MailingStreet": None, "MailingCity": None}


@pytest.mark.parametrize("direction", ["teacher leaves", "teacher arrives"])
def test_a_vocabulary_change_normalizes_exactly_the_records_that_depend_on_it(tmp_path, direction):
    """A whole name split at a surname learnt from another record, and a street whose city is
    learnt from another record's City field: when that record leaves (or arrives), the dependent
    records are normalized again, and nothing else is."""
    config = load_config(None)
    everyone = [TEACHER_NAME, WHOLE_NAME, TEACHER_CITY, STREET_ONLY]
    with_teachers = _sample_with(tmp_path, "with.csv", everyone)
    without = _sample_with(tmp_path, "without.csv", [WHOLE_NAME, STREET_ONLY])
    before, after = (with_teachers, without) if direction == "teacher leaves" else (without, with_teachers)
    result, twin = _night_after(tmp_path, before, after, config)
    assert result.vocabulary_changes >= 2
    assert result.normalized == 2 + 2 * (direction == "teacher arrives")  # the dependents (+ the arrivals)
    con = duckdb.connect(str(twin), read_only=True)
    whole = con.execute("SELECT last_name, first_name FROM normalized_records WHERE id = ?", [WHOLE_NAME["Id"]]).fetchall()[0]
    city = con.execute("SELECT city FROM normalized_records WHERE id = ?", [STREET_ONLY["Id"]]).fetchall()[0][0]
    con.close()
    if direction == "teacher arrives":
        assert whole == ("麒麟川", "花子") and city == "麒麟川市"
    else:
        assert whole[1] is None and city is None


def test_without_a_previous_run_it_runs_in_full_and_keeps_the_state(tmp_path):
    csv = tmp_path / "s.csv"
    write_sample(300, 3, csv, tmp_path / "s.truth.csv")
    con = connect(tmp_path / "db.duckdb")
    res = incremental_run(con, [csv], load_config(None))
    assert res.mode == "full" and "no previous run" in res.reason
    assert con.execute("SELECT count(*) FROM clusters").fetchall()[0][0] == 300
    assert has_state(con)
    # The same snapshot again: nothing to do, nothing changes.
    before = con.execute("SELECT * FROM scored_pairs EXCEPT SELECT * FROM scored_pairs").fetchall()
    snap = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("normalized_records", "scored_pairs", "clusters")}
    again = incremental_run(con, [csv], load_config(None))
    assert again.mode == "incremental" and (again.new, again.changed, again.deleted, again.normalized) == (0, 0, 0, 0)
    assert before == [] and snap == {
        t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("normalized_records", "scored_pairs", "clusters")
    }
    con.close()


def test_a_changed_config_or_a_foreign_full_run_is_noticed(tmp_path):
    csv = tmp_path / "s.csv"
    write_sample(300, 3, csv, tmp_path / "s.truth.csv")
    config = load_config(None)
    con = connect(tmp_path / "db.duckdb")
    incremental_run(con, [csv], config)
    other = config.model_copy(deep=True)
    other.matching.max_block_size = config.matching.max_block_size + 1
    res = incremental_run(con, [csv], other)
    assert res.mode == "full" and "the config" in res.reason
    # A plain full run rewrites the tables: the state no longer describes them.
    run_stages(con, [csv], other)
    assert not has_state(con)
    res = incremental_run(con, [csv], other)
    assert res.mode == "full" and "no incremental state" in res.reason and has_state(con)
    assert incremental_run(con, [csv], other).mode == "incremental"
    con.close()


def test_a_failed_run_leaves_the_previous_tables(tmp_path, monkeypatch):
    csv = tmp_path / "s.csv"
    write_sample(300, 3, csv, tmp_path / "s.truth.csv")
    changed = tmp_path / "c.csv"
    bench.make_changed_snapshot(csv, changed, share=0.05)
    config = load_config(None)
    con = connect(tmp_path / "db.duckdb")
    incremental_run(con, [csv], config)
    tables = ("raw_records", "normalized_records", "candidate_pairs", "scored_pairs", "clusters", "nayose_inc_keys")
    snap = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}

    def boom(*args, **kwargs):
        raise RuntimeError("cluster failed")

    monkeypatch.setattr("nayose.incremental.assign_groups", boom)
    with pytest.raises(RuntimeError, match="cluster failed"):
        incremental_run(con, [changed], config)
    assert snap == {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    assert has_state(con)
    monkeypatch.undo()
    assert incremental_run(con, [changed], config).mode == "incremental"
    con.close()


def test_cli_plan_incremental(tmp_path, capsys):
    import json

    from nayose.cli import main

    csv, changed = tmp_path / "s.csv", tmp_path / "c.csv"
    write_sample(400, 5, csv, tmp_path / "s.truth.csv")
    bench.make_changed_snapshot(csv, changed, share=0.05)
    db, out = tmp_path / "db.duckdb", tmp_path / "out"
    assert main(["plan", str(changed), "--out", str(out), "--incremental"]) == 2
    assert "--incremental needs --db" in capsys.readouterr().err
    assert main(["plan", str(csv), "--out", str(out), "--db", str(db), "--incremental", "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["incremental"]["mode"] == "full"
    assert main(["plan", str(changed), "--out", str(out), "--db", str(db), "--incremental"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["incremental"]["mode"] == "incremental" and summary["incremental"]["changed"] > 0
    assert (out / "merge_plan.json").is_file()
    assert "incremental run:" in capsys.readouterr().err


# ---- changed records only (an incremental export) ---------------------------------------------


def _raw_rows(con) -> list:
    return con.execute("SELECT * EXCLUDE (_source_file, _source_row) FROM raw_records ORDER BY \"Id\"").fetchall()


def test_changed_records_only_give_the_same_tables_as_the_whole_snapshot(tmp_path):
    from nayose.cli import read_id_list

    config = load_config(None)
    base, night1, night2 = tmp_path / "base.csv", tmp_path / "n1.csv", tmp_path / "n2.csv"
    write_sample(3000, 17, base, tmp_path / "base.truth.csv")
    bench.make_changed_snapshot(base, night1, share=0.02, seed=5)
    bench.make_changed_snapshot(night1, night2, share=0.02, seed=9)
    store = tmp_path / "store.duckdb"
    con = connect(store)
    assert incremental_run(con, [base], config).mode == "full"
    con.close()
    for night, (before, after) in enumerate(((base, night1), (night1, night2)), start=1):
        changes, deleted = tmp_path / f"changes{night}.csv", tmp_path / f"deleted{night}.csv"
        counts = bench.write_changes(before, after, changes, deleted)
        twin = tmp_path / f"snapshot{night}.duckdb"
        shutil.copy(store, twin)
        con = connect(twin)
        whole = incremental_run(con, [after], config)
        con.close()
        con = connect(store)
        ids = read_id_list(str(deleted))
        assert len(ids) == counts["deleted_ids"] > 0
        res = incremental_run(con, [changes], config, changes_only=True, deleted_ids=ids)
        assert res.mode == whole.mode == "incremental", res.reason
        assert (res.new, res.changed, res.deleted) == (whole.new, whole.changed, whole.deleted)
        assert res.new + res.changed == counts["changed_rows"]
        diff = bench.compare(con, twin)
        assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff
        assert diff["max_probability_difference"] == 0.0
        other = duckdb.connect(str(twin), read_only=True)
        assert _raw_rows(con) == _raw_rows(other)  # the snapshot itself, built from the changes
        other.close()
        assert has_state(con)
        con.close()


def _one_night(tmp: Path, records: int, seed: int) -> tuple[Path, Path, Path, Path]:
    """A sample, the next night's snapshot (5% touched), and its incremental export (changes, deleted Ids)."""
    base, night1 = tmp / "base.csv", tmp / "n1.csv"
    write_sample(records, seed, base, tmp / "base.truth.csv")
    bench.make_changed_snapshot(base, night1, share=0.05)
    changes, deleted = tmp / "changes.csv", tmp / "deleted.csv"
    bench.write_changes(base, night1, changes, deleted)
    return base, night1, changes, deleted


def test_changed_records_only_need_a_previous_run_and_the_same_columns(tmp_path):
    from nayose.errors import NayoseError

    config = load_config(None)
    base, night1, changes, deleted = _one_night(tmp_path, 300, 3)
    con = connect(tmp_path / "db.duckdb")
    with pytest.raises(NayoseError, match="needs a previous run"):
        incremental_run(con, [changes], config, changes_only=True)
    incremental_run(con, [base], config)
    tables = ("raw_records", "normalized_records", "candidate_pairs", "scored_pairs", "clusters")
    snap = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    narrow = tmp_path / "narrow.csv"
    duckdb.sql(f"COPY (SELECT * EXCLUDE (\"Title\") FROM read_csv('{changes}', all_varchar=true)) TO '{narrow}' (HEADER)")
    with pytest.raises(NayoseError, match=r"narrow\.csv.*missing Title"):
        incremental_run(con, [narrow], config, changes_only=True)
    assert snap == {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    assert has_state(con)
    con.close()


def test_changed_records_only_with_a_new_config_run_in_full_on_the_updated_snapshot(tmp_path):
    config = load_config(None)
    base, night1, changes, deleted = _one_night(tmp_path, 600, 4)
    con = connect(tmp_path / "db.duckdb")
    incremental_run(con, [base], config)
    other = config.model_copy(deep=True)
    other.matching.max_block_size = config.matching.max_block_size + 1
    ids = [r[0] for r in duckdb.sql(f"SELECT \"Id\" FROM read_csv('{deleted}', all_varchar=true)").fetchall()]
    res = incremental_run(con, [changes], other, changes_only=True, deleted_ids=ids)
    assert res.mode == "full" and "the config" in res.reason and has_state(con)
    twin = connect(tmp_path / "twin.duckdb")
    run_stages(twin, [night1], other)
    for t in ("normalized_records", "candidate_pairs", "scored_pairs", "clusters"):
        assert con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() == twin.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall(), t
    assert _raw_rows(con) == _raw_rows(twin)
    twin.close()
    con.close()


def test_cli_plan_changes_only(tmp_path, capsys):
    import json

    from nayose.cli import main

    csv, changed = tmp_path / "s.csv", tmp_path / "c.csv"
    write_sample(400, 5, csv, tmp_path / "s.truth.csv")
    bench.make_changed_snapshot(csv, changed, share=0.05)
    changes, deleted = tmp_path / "changes.csv", tmp_path / "deleted.csv"
    bench.write_changes(csv, changed, changes, deleted)
    db, out = tmp_path / "db.duckdb", tmp_path / "out"
    assert main(["plan", str(changes), "--out", str(out), "--db", str(db), "--changes-only"]) == 2
    assert "go with --incremental" in capsys.readouterr().err
    assert main(["plan", str(csv), "--out", str(out), "--db", str(db), "--incremental", "--quiet"]) == 0
    assert main(["plan", str(changes), "--out", str(out), "--db", str(db), "--incremental", "--changes-only",
                 "--deleted", str(deleted)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["incremental"]["mode"] == "incremental" and summary["incremental"]["deleted"] > 0
    assert summary["records_in"] == 400  # the whole snapshot, though only the changes were read
    clusters = (out / "clusters.csv").read_text(encoding="utf-8").splitlines()
    assert len(clusters) == 1 + 400
    bad = tmp_path / "bad.csv"
    bad.write_text("RecordId\n00Q1\n", encoding="utf-8")
    assert main(["plan", str(changes), "--out", str(out), "--db", str(db), "--incremental", "--changes-only",
                 "--deleted", str(bad)]) == 2
    assert "bad.csv: no Id column" in capsys.readouterr().err


def test_the_full_stages_run_on_an_incremental_runs_record_numbers(tmp_path):
    """After an incremental run the record numbers have gaps and are not in Id order (new records
    are numbered past the largest): block, score and cluster run alone on that store (what
    re-materializing one asset does) still give the full run's pairs, scores and groups."""
    from nayose.block import block_pairs
    from nayose.cli import read_id_list
    from nayose.cluster import cluster_records
    from nayose.score import score_pairs

    config = load_config(None)
    base, night1, changes, deleted = _one_night(tmp_path, 1500, 21)
    store, twin = tmp_path / "store.duckdb", tmp_path / "twin.duckdb"
    con = connect(store)
    incremental_run(con, [base], config)
    con.close()
    shutil.copy(store, twin)
    con = connect(store)
    res = incremental_run(con, [changes], config, changes_only=True, deleted_ids=read_id_list(str(deleted)))
    assert res.mode == "incremental" and res.new > 0 and res.deleted > 0
    n, top, out_of_order = con.execute(
        """SELECT count(*), max(rec_idx), count(*) FILTER (WHERE before >= id)
           FROM (SELECT rec_idx, id, lag(id) OVER (ORDER BY rec_idx) AS before FROM normalized_records)"""
    ).fetchall()[0]
    assert top >= n and out_of_order > 0  # gaps, and new Ids numbered out of Id order
    block_pairs(con, config)
    score_pairs(con, config, model=load_model(con))
    cluster_records(con, config)
    other = connect(twin)
    run_stages(other, [night1], config, model=load_model(other))
    other.close()
    diff = bench.compare(con, twin)
    assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff
    assert con.execute(
        """SELECT count(*) FROM candidate_pairs p JOIN normalized_records l ON l.rec_idx = p.left_idx
           JOIN normalized_records r ON r.rec_idx = p.right_idx WHERE l.id >= r.id"""
    ).fetchall()[0][0] == 0
    con.close()


def test_names_with_honorifics_and_notes_are_learnt_and_split_as_normalize_reads_them(tmp_path):
    """Honorifics and notes in brackets around names (麒麟川花子 様, 太郎様, 麒麟川（キリンカワ）) are not
    part of the name in normalize: the incremental state's vocabulary and the whole-name split's
    lookups must read the names the same way, or an arriving teacher would leave the dependent
    record split differently from a full run."""
    config = load_config(None)
    teacher = {**TEACHER_NAME, "LastName": "麒麟川（キリンカワ）", "FirstName": "太郎様"}
    whole = {**WHOLE_NAME, "LastName": "麒麟川花子 様"}
    before = _sample_with(tmp_path, "without.csv", [whole])
    after = _sample_with(tmp_path, "with.csv", [teacher, whole])
    result, twin = _night_after(tmp_path, before, after, config)
    assert result.normalized == 2  # the teacher and the whole name that depends on it
    con = duckdb.connect(str(twin), read_only=True)
    got = dict(con.execute("SELECT id, [last_name, first_name] FROM normalized_records WHERE id IN (?, ?)",
                           [teacher["Id"], whole["Id"]]).fetchall())
    con.close()
    assert got == {teacher["Id"]: ["麒麟川", "太郎"], whole["Id"]: ["麒麟川", "花子"]}


def test_a_person_registers_incremental_run_equals_a_full_run(tmp_path):
    """FEBRL3 (a register: no contact channel): the model judges its shared homes one person's
    (shared_home) and raises home pairs to review (gate 6); the incremental run keeps that judgement
    with the model and gives the full run's tables. Before: 100 records missing; after: they arrive
    while 40 others get another given name and 20 another street."""
    import csv

    from nayose.evaluate import write_febrl_contacts

    config = load_config(None)
    full = tmp_path / "febrl3.csv"
    write_febrl_contacts("febrl3", full, tmp_path / "febrl3.truth.csv")
    with open(full, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    given = sorted({r["FirstName"] for r in rows if r["FirstName"]})
    after = []
    for i, r in enumerate(rows):
        r = dict(r)
        if i % 120 == 7:
            r["FirstName"] = given[(i * 31) % len(given)]
        if i % 240 == 11:
            r["MailingStreet"] = f"{i % 90 + 1} kent street"
        after.append(r)
    before_path, after_path = tmp_path / "before.csv", tmp_path / "after.csv"
    for path, data in ((before_path, [r for i, r in enumerate(rows) if i % 50]), (after_path, after)):
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(data)
    result, twin = _night_after(tmp_path, before_path, after_path, config)
    assert result.new == 100 and result.changed >= 55, result
    con = duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True)
    assert load_model(con).sessions["shared_home"]["one_person"] is True
    assert con.execute("SELECT count(*) FROM scored_pairs WHERE gate = 6").fetchall()[0][0] > 0
    con.close()


def test_placeholder_values_arriving_in_an_incremental_run_equal_a_full_run(tmp_path):
    """Records arriving with placeholder names (不明, ご担当者様), a dummy address and dummy numbers
    beside namesakes already in the org: the incremental run gives what a full run gives, and
    none of them is grouped with a stranger through a placeholder."""
    config = load_config(None)
    # (nothing else of the template record's: no address, card person ID or birth date)
    blank = {c: None for c in ("Street", "City", "State", "PostalCode", "MailingStreet", "MailingCity", "MailingState",
                               "MailingPostalCode", "Sansan_Person_Id__c", "Birthdate", "Account.Name", "AccountId")}
    company = {**blank, "Company": "株式会社サンプル商事", "Phone": "03-3456-7891"}
    known = [{"Id": "00Q000000000XP1AAA", **blank, "LastName": "中川", "FirstName": "真一", "Company": "白鳥電子株式会社",
              "Email": "noemail@example.com", "MobilePhone": "090-1234-5678"},
             {"Id": "00Q000000000XP2AAA", "LastName": "不明", "FirstName": None, **company, "Email": "sales@sample-shoji.co.jp"}]
    arriving = [{"Id": "00Q000000000XP3AAA", **blank, "LastName": "中川", "FirstName": "真一", "Company": "北陸倉庫株式会社",
                 "Email": "noemail@example.com", "MobilePhone": "090-1234-5678"},
                {"Id": "00Q000000000XP4AAA", "LastName": "不明", "FirstName": None, **company, "Email": "k.tanaka@sample-shoji.co.jp"},
                {"Id": "00Q000000000XP5AAA", "LastName": "ご担当者様", "FirstName": None, **company}]
    before = _sample_with(tmp_path, "before.csv", known)
    after = _sample_with(tmp_path, "after.csv", known + arriving)
    _, twin = _night_after(tmp_path, before, after, config)
    con = duckdb.connect(str(twin), read_only=True)
    ids = [r["Id"] for r in known + arriving]
    clusters = dict(con.execute(f"SELECT \"Id\", cluster_id FROM clusters WHERE \"Id\" IN ({', '.join('?' for _ in ids)})",
                                ids).fetchall())
    con.close()
    assert len(set(clusters.values())) == len(ids), clusters


def _with_converted(src: Path, out: Path, converted: set[str]) -> Path:
    """`src` with an IsConverted column (as an extract and Data Loader give it): true for `converted`."""
    con = duckdb.connect()
    ids = ", ".join(f"'{i}'" for i in converted) or "NULL"
    con.execute(f"""COPY (SELECT *, CASE WHEN "Object" <> 'Lead' THEN NULL WHEN "Id" IN ({ids}) THEN 'true' ELSE 'false' END
                          AS "IsConverted" FROM read_csv('{src}', all_varchar=true, header=true) ORDER BY "Id")
                    TO '{out}' (HEADER, DELIMITER ',')""")
    con.close()
    return out


def test_a_lead_converted_overnight_leaves_its_contacts_group_as_a_full_run_does(tmp_path):
    """A Lead and the Contact it is converted into the next day: the first night they are one
    person in one group; once the Lead is converted (IsConverted true: read-only, never merged
    again) it is a single record and the incremental run equals a full run."""
    config = load_config(None)
    person = {"LastName": "森下", "FirstName": "健太", "Company": "株式会社ミナトデータ", "Phone": "03-5412-7788",
              "MobilePhone": "090-3321-9911", "Email": "kenta.morishita@minato-data.co.jp"}
    rows = [{"Id": "00Q000000000XC1AAA", "Object": "Lead", **person},
            {"Id": "003000000000XC2AAA", "Object": "Contact", **person, "Account.Name": "株式会社ミナトデータ"}]
    base = _sample_with(tmp_path, "base.csv", rows)
    before = _with_converted(base, tmp_path / "before.csv", set())
    after = _with_converted(base, tmp_path / "after.csv", {"00Q000000000XC1AAA"})
    store = tmp_path / "store.duckdb"
    con = connect(store)
    incremental_run(con, [before], config)
    grouped = dict(con.execute("""SELECT "Id", cluster_id FROM clusters WHERE "Id" IN ('00Q000000000XC1AAA', '003000000000XC2AAA')""").fetchall())
    con.close()
    assert len(set(grouped.values())) == 1, grouped
    twin = tmp_path / "full.duckdb"
    _full_twin(store, twin, after, config)
    result, diff, _ = _incremental(store, after, twin, config)
    assert result.mode == "incremental", result.reason
    assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff
    con = duckdb.connect(str(store), read_only=True)
    status = dict(con.execute("""SELECT "Id", status FROM clusters WHERE "Id" IN ('00Q000000000XC1AAA', '003000000000XC2AAA')""").fetchall())
    con.close()
    assert status["00Q000000000XC1AAA"] == "single", status


def test_a_nameless_list_loaded_twice_overnight_equals_a_full_run(tmp_path):
    """The night after a purchased list arrived, the same list is loaded again: its ご担当者様 rows
    (no name: the placeholder is none) pair with yesterday's for review (gate 10) exactly as a
    full run pairs them."""
    config = load_config(None)
    place = {"Street": "栄3-5-12", "City": "名古屋市中区", "State": "愛知県", "PostalCode": "460-0008",
             "MailingStreet": None, "MailingCity": None, "MailingState": None, "MailingPostalCode": None,
             "Sansan_Person_Id__c": None, "Birthdate": None, "Account.Name": None, "AccountId": None}
    row = {**place, "LastName": "ご担当者様", "FirstName": None, "Company": "株式会社北斗精工", "Phone": "052-331-8800",
           "LeadSource": "購入リスト"}
    first = [{"Id": "00Q000000000XN1AAA", **row}]
    again = [{"Id": "00Q000000000XN2AAA", **row}]
    before = _sample_with(tmp_path, "before.csv", first)
    after = _sample_with(tmp_path, "after.csv", first + again)
    _, twin = _night_after(tmp_path, before, after, config)
    con = duckdb.connect(str(twin), read_only=True)
    got = con.execute("""SELECT c.cluster_id, c.status FROM clusters c WHERE c."Id" IN ('00Q000000000XN1AAA', '00Q000000000XN2AAA')""").fetchall()
    con.close()
    assert len({g[0] for g in got}) == 1 and {g[1] for g in got} == {"review"}, got


def test_changed_records_only_take_an_id_in_either_form_and_deletions_alone(tmp_path):
    """One record is one Id whether written with 15 or 18 characters (found by an audit): a changed
    record stored under the other form replaced it (it was kept beside it, grouped with itself and
    planned as a merge into itself); a deleted Id in the other form deletes it (it was ignored); a
    night with deletions only may come with a changes file holding its header alone."""
    import csv

    config = load_config(None)
    base = tmp_path / "base.csv"
    write_sample(1500, 21, base, tmp_path / "base.truth.csv")
    with open(base, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0])
    grouped = [r["Id"] for r in rows if len(r["Id"]) == 18]
    a, b = grouped[10], grouped[20]

    def write(path, rs):
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, cols)
            w.writeheader()
            w.writerows(rs)
        return path

    stored = write(tmp_path / "stored15.csv", [dict(r, Id=r["Id"][:15]) if r["Id"] == a else r for r in rows])
    store = tmp_path / "store.duckdb"
    con = connect(store)
    assert incremental_run(con, [stored], config).mode == "full"
    con.close()
    # night 1: record a arrives in its 18-character form; record b is deleted, named by 15 characters
    changes = write(tmp_path / "changes.csv", [r for r in rows if r["Id"] == a])
    final1 = write(tmp_path / "final1.csv", [r for r in rows if r["Id"] != b])
    twin = tmp_path / "twin1.duckdb"
    _full_twin(store, twin, final1, config)
    con = connect(store)
    res = incremental_run(con, [changes], config, changes_only=True, deleted_ids=[b[:15]])
    assert res.mode == "incremental" and res.records == len(rows) - 1, res.reason
    diff = bench.compare(con, twin)
    assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff
    assert con.execute("SELECT count(*) FROM raw_records WHERE \"Id\" IN (?, ?, ?)", [a[:15], b, b[:15]]).fetchall() == [(0,)]
    con.close()
    # night 2: deletions only, the changes file a header alone
    empty = write(tmp_path / "empty.csv", [])
    final2 = write(tmp_path / "final2.csv", [r for r in rows if r["Id"] not in (b, grouped[30])])
    twin = tmp_path / "twin2.duckdb"
    _full_twin(store, twin, final2, config)
    con = connect(store)
    res = incremental_run(con, [empty], config, changes_only=True, deleted_ids=[grouped[30]])
    assert (res.mode, res.deleted, res.new, res.changed) == ("incremental", 1, 0, 0), res.reason
    diff = bench.compare(con, twin)
    assert {k: diff[k] for k in SAME} == {k: 0 for k in SAME}, diff
    con.close()


def test_a_night_deleting_both_records_of_a_pair_with_the_highest_number_equals_a_full_run(tmp_path):
    """Both records of one person (a scored pair) deleted overnight, one of them holding the
    highest record number: the partner of a deleted record may be deleted too, and the arrays
    sized by the numbers left must not be indexed with it (it failed with an IndexError, every
    night after)."""
    config = load_config(None)
    person = {"LastName": "麒麟川", "FirstName": "太郎", "Company": "株式会社麒麟商事", "Email": "taro@kirin-shoji.co.jp",
              "Phone": "03-5412-7788", "LeadSource": "Web"}
    pair = [{"Id": "00Q999999999ZZ1AAA", **person}, {"Id": "00Q999999999ZZ2AAA", **person, "LeadSource": "名刺"}]
    before = _sample_with(tmp_path, "before.csv", pair)
    after = _sample_with(tmp_path, "after.csv", [])
    con = duckdb.connect(str(tmp_path / "check.duckdb"))
    run_stages(con, [before], config)
    top = con.execute("SELECT id FROM normalized_records ORDER BY rec_idx DESC LIMIT 1").fetchall()[0][0]
    linked = con.execute("""SELECT count(*) FROM scored_pairs p JOIN normalized_records l ON l.rec_idx = p.left_idx
                            JOIN normalized_records r ON r.rec_idx = p.right_idx
                            WHERE {l.id, r.id} = {'00Q999999999ZZ1AAA', '00Q999999999ZZ2AAA'}""".replace(
        "{l.id, r.id} = {'00Q999999999ZZ1AAA', '00Q999999999ZZ2AAA'}",
        "l.id IN ('00Q999999999ZZ1AAA', '00Q999999999ZZ2AAA') AND r.id IN ('00Q999999999ZZ1AAA', '00Q999999999ZZ2AAA')")
    ).fetchall()[0][0]
    con.close()
    assert top in {p["Id"] for p in pair} and linked == 1
    result, _ = _night_after(tmp_path, before, after, config)
    assert result.deleted == 2
