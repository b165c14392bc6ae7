"""Incremental matching: only what changed since the last run is normalized, blocked and scored.

`incremental_run(con, inputs, config)` works on a store that holds the previous run's tables
(raw_records, normalized_records, candidate_pairs, scored_pairs, clusters, match_model) and the
incremental state kept beside them (tables `nayose_inc_*`, below). It loads the new snapshot,
finds the records that are new or changed (by Id and a hash of every source column) or gone, and
updates the stage tables in place, in one transaction:

1. **normalize** only those records. Normalization is per record except in two places where it
   learns from the whole table: a whole name in one field is split with the surnames / given
   names seen in split names, and a street without a city loses a city prefix known from City
   fields. The state keeps, per record, what it teaches (`nayose_inc_vocab`: its surname, its
   readings, its city) and what its own normalization asked of that vocabulary
   (`nayose_inc_deps`: the exact lookups the whole-name split made, every prefix of a street that
   a known city could match). The changed records are normalized with the whole snapshot's
   vocabulary; when their arrival or departure adds or removes a vocabulary value, exactly the
   records that asked about that value are normalized again.
2. **block** against the block key index (`nayose_inc_keys`: per rule and record the key hash).
   A block (one key of one rule) is affected when a record whose keys changed enters or leaves it
   (and it is within the rule's size limit before or after). The pairs of affected blocks, before
   and after, get their first rule recomputed from the index; every other pair is kept.
3. **score** (`scored_pairs` in place): pairs with a moved record and pairs new to the candidate
   set are compared in full (score's own pair query); pairs of deleted records go. A model keeps
   what its term frequencies were computed from -- the shares' denominators
   (`sessions["tf_populations"]`) and every value's count (`match_model_tf`, written with the
   state) -- and scoring with the model takes a value's count from there when it has one. So a
   kept pair's weights only move when a value it is weighed by is new to the model's counts (its
   count is the data's), or one of its mailboxes changed (whether a mailbox is shared is the
   data's): those pairs keep their agreement levels and are weighed again; every other row stays.
4. **cluster** (`clusters` in place): the connected components that hold a record whose pairs
   changed, or its previous group, are grouped again by cluster's own code (a group depends on
   its component only); the other rows stay.

Record numbers (rec_idx) are never rewritten: a full run numbers the records 0..n-1 in Id order;
an incremental run keeps every record's number, gives new records the numbers past the largest
(in Id order) and leaves a deleted record's number unused. Pairs are oriented as a full run
orients them, the smaller Id on the left (scoring is not symmetric: a swapped name is scored from
the left record's side), so left_idx may be the larger number. Up to the numbering, the result
equals a full run on the same snapshot scored with the same model
(`run_stages(..., model=load_model(con))`): the same normalized records, candidate pairs, pair
probabilities and groups (tests/nayose/test_incremental.py, bench/incremental_bench.py). Re-estimating the model is a full run's job (the nightly run can do
one weekly). Without a previous run, or when the config changed (a full run with a new model),
the source columns or the active blocking rules changed, `incremental_run` runs every stage in
full and writes the state for the next run. Each stage table carries the state's token as its
comment: when one was rewritten by something else since (a plain `nayose plan --db`, the Dagster
assets' full run, one re-materialized asset), the comment is gone and the run is a full one with
the previous model, which writes a new state.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from nayose.block import active_rules, key_rows_sql
from nayose.accounts import match_accounts
from nayose.cluster import (_components, assign_groups, business_accounts, chain_guard, cluster_stats, cluster_table,
                            component_figures, linked_pairs)
from nayose.config import Config
from nayose.errors import NayoseError, NoRecordsError
from nayose.normalize import (
    _city, _is_japanese, _split_whole, _unless_read_only, clean_name_values, normalize_records, preload, raw_field_sql, not_matched_as_person_sql,
    reading_columns, romaji_key,
)
from nayose.records import canonical_id_sql, load_records
from nayose.score import (
    FEATURES, GATE_COUNTS, SHARES, _feature_sql, _pair_levels, _present_columns, active_comparisons, evidence_tiers, gate_stats,
    both_nameless, home_address_max, household_review, load_model, ocr_mail_fold, one_name_in_two_mailboxes, rare_near_miss, scored_batches, scored_schema, write_tf_counts,
)
from nayose.stage import StageResult, timed
from nayose.store import drop_tables, table_exists

STATE_VERSION = "4"
_TRAILING_DIGITS = re.compile("[0-9]+$")
MAIN_TABLES = ("raw_records", "normalized_records", "candidate_pairs", "scored_pairs", "clusters")
STATE_TABLES = ("nayose_inc_meta", "nayose_inc_hash", "nayose_inc_vocab", "nayose_inc_deps",
                "nayose_inc_keys", "nayose_inc_blocks")
VOCAB_KINDS = ("last", "last_r", "first_r", "city")
COMMENT_PREFIX = "nayose-incremental:"
CONFIG_CHANGED = "the config (or nayose's matching code) changed: full run, model estimated again"


@dataclass
class IncrementalResult:
    mode: str  # "incremental" or "full"
    reason: str = ""
    records: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0
    normalized: int = 0  # records normalized again (changed + dependent on a changed vocabulary value)
    vocabulary_changes: int = 0  # vocabulary values that appeared or disappeared
    moved: int = 0  # records whose normalized values changed (or new)
    affected_blocks: int = 0
    rechecked_pairs: int = 0  # pairs of affected blocks, their first rule recomputed
    candidate_pairs: int = 0
    compared_pairs: int = 0  # pairs compared in full (new pairs, pairs with a changed record)
    kept_levels: int = 0  # pairs not compared in full: their agreement levels kept
    reweighed_pairs: int = 0  # kept pairs weighed again (a value they are weighed by moved in count)
    seconds: dict[str, float] = field(default_factory=dict)
    results: list[StageResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "results"}


# ---------------------------------------------------------------------------------------------
# State bookkeeping


def _code_fingerprint() -> bytes:
    """The matching code itself: kept levels and normalized values from another version of it
    are not reused (a new nayose version runs in full once)."""
    import nayose.block
    import nayose.cluster
    import nayose.normalize
    import nayose.score

    h = hashlib.sha256()
    for mod in (nayose.normalize, nayose.block, nayose.score, nayose.cluster):
        h.update(Path(mod.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.digest()


def config_fingerprint(config: Config) -> str:
    """The config and the code a state was written with."""
    return hashlib.sha256(STATE_VERSION.encode() + _code_fingerprint() + config.model_dump_json().encode()).hexdigest()[:16]


def _meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    if not table_exists(con, "nayose_inc_meta"):
        return {}
    return dict(con.execute("SELECT key, value FROM nayose_inc_meta").fetchall())


def _comments(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    rows = con.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database()"
    ).fetchall()
    return {t: c for t, c in rows}


def has_previous_run(con: duckdb.DuckDBPyConnection) -> bool:
    return all(table_exists(con, t) for t in MAIN_TABLES) and load_model(con) is not None


def state_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """The incremental state describes exactly the stage tables in the store."""
    if not all(table_exists(con, t) for t in STATE_TABLES):
        return False
    token = _meta(con).get("token")
    comments = _comments(con)
    return bool(token) and all(comments.get(t) == COMMENT_PREFIX + token for t in MAIN_TABLES)


def has_state(con: duckdb.DuckDBPyConnection) -> bool:
    return has_previous_run(con) and state_is_current(con)


def _source_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [c[0] for c in con.execute(f'DESCRIBE "{table}"').fetchall() if not c[0].startswith("_source_")]


def _row_hash_sql(cols: list[str]) -> str:
    return "hash(" + ", ".join(f'"{c}"' for c in cols) + ")"


def _ids_table(con: duckdb.DuckDBPyConnection, name: str, ids) -> None:
    con.register("_inc_ids_arrow", pa.table({"id": pa.array(sorted(ids), pa.string())}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT id FROM _inc_ids_arrow")
    con.unregister("_inc_ids_arrow")


class _Timed:
    """The connection, printing each statement's time (NAYOSE_INC_DEBUG=1: a profiling aid)."""

    def __init__(self, con) -> None:
        self.con = con

    def execute(self, sql: str, *args):
        t0 = time.perf_counter()
        out = self.con.execute(sql, *args)
        print(f"{time.perf_counter() - t0:7.3f}s  {' '.join(sql.split())[:110]}")
        return out

    def __getattr__(self, name):
        return getattr(self.con, name)


def _timed(con):
    return _Timed(con) if os.environ.get("NAYOSE_INC_DEBUG") and not isinstance(con, _Timed) else con


class _Asked(set):
    """A vocabulary set that records every membership question asked of it."""

    def __init__(self, values: set, kind: str, log: list) -> None:
        super().__init__(values)
        self.kind, self.log = kind, log

    def __contains__(self, x) -> bool:
        self.log.append((self.kind, x))
        return super().__contains__(x)


def _present(arr: pa.ChunkedArray | pa.Array | None, n: int) -> np.ndarray:
    """Per row: the value is there and not blank (normalize's notion of present)."""
    if arr is None:
        return np.zeros(n, dtype=bool)
    trimmed = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    return pc.fill_null(pc.not_equal(trimmed, ""), False).to_numpy(zero_copy_only=False).astype(bool)


RAW_FIELDS = ("LastName", "FirstName", "Street", "City", "State", "PostalCode",
              "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode")


def _raw_frame(con: duckdb.DuckDBPyConnection, config: Config, raw: str, norm: str | None, where: str = "") -> tuple[pa.Table, list[str]]:
    cols = [r[0] for r in con.execute(f'DESCRIBE "{raw}"').fetchall()]
    by_lower = {c.lower(): c for c in cols}
    id_col = by_lower.get((config.input.id_column or "Id").lower()) or by_lower.get("id")
    # (a converted Lead, a deleted record or a business Account teaches normalize nothing: left out as
    # normalize leaves it)
    read_only = not_matched_as_person_sql(by_lower, "s")
    sel = [_unless_read_only(sql, read_only, f) + f' AS "{f}"'
           for f in RAW_FIELDS if (sql := raw_field_sql(f, by_lower, "s")) is not None]
    if norm is None:
        sql = f'SELECT CAST(s."{id_col}" AS VARCHAR) AS id{"".join(", " + x for x in sel)} FROM "{raw}" s'
    else:
        sql = (f"""SELECT n.id, n.last_name, n.last_reading, n.first_reading, n.city, n.street{''.join(', ' + x for x in sel)}
                   FROM "{norm}" n JOIN "{raw}" s ON CAST(s."{id_col}" AS VARCHAR) = n.id""")
    if where:
        sql += f" WHERE {where}"
    t = con.sql(sql).to_arrow_table()
    # the name values as normalize reads them (honorifics, titles and notes in brackets left out;
    # placeholders and companies written as names empty)
    for f in ("LastName", "FirstName"):
        if f in t.column_names:
            i = t.column_names.index(f)
            t = t.set_column(i, f, clean_name_values(t.column(f).combine_chunks().cast(pa.string()), config.input.name_placeholders))
    return t, cols


def _column(t: pa.Table, name: str) -> list:
    return t.column(name).to_pylist() if name in t.column_names else [None] * t.num_rows


def _no_city(t: pa.Table) -> tuple[np.ndarray, list]:
    """Per row: normalize finds no city in the row's City (or MailingCity) field; the city found."""
    n = t.num_rows
    col = lambda f: t.column(f) if f in t.column_names else None  # noqa: E731
    std = [_present(col(f), n) for f in ("Street", "City", "State", "PostalCode")]
    use_std = std[0] | std[1] | std[2] | std[3]
    city_raw = [a if u else b for a, b, u in zip(_column(t, "City"), _column(t, "MailingCity"), use_std.tolist())]
    cache: dict[str, str | None] = {}
    out: list = []
    for v in city_raw:
        if v is not None and v not in cache:
            cache[v] = _city(v)[0]
        out.append(None if v is None else cache[v])
    return np.array([c is None for c in out], dtype=bool), out


def teaches(t: pa.Table, cols: list[str], config: Config) -> pa.Table:
    """What each record of `t` (raw fields, see _raw_frame) teaches normalize's vocabulary:
    (id, kind, value). Computed from the raw values as normalize computes them (per record, so
    it never depends on the vocabulary itself); with normalized columns in `t` (last_name,
    last_reading, first_reading) those are used instead of computing them again."""
    from nayose.normalize import _name_norm

    n = t.num_rows
    col = lambda f: t.column(f) if f in t.column_names else None  # noqa: E731
    both = _present(col("LastName"), n) & _present(col("FirstName"), n)
    ids, raw_last, raw_first = _column(t, "id"), _column(t, "LastName"), _column(t, "FirstName")
    normalized = "last_name" in t.column_names
    if normalized:
        last_name, last_reading, first_reading = _column(t, "last_name"), _column(t, "last_reading"), _column(t, "first_reading")
    # With reading columns the normalized readings are the cards', not the guessed ones normalize learns from.
    guessed = not reading_columns(cols, config)
    out_ids, kinds, values = [], [], []

    def teach(i: int, kind: str, value) -> None:
        out_ids.append(ids[i]), kinds.append(kind), values.append(value)

    for i in np.flatnonzero(both).tolist():
        x = last_name[i] if normalized else _name_norm(raw_last[i])
        lr = last_reading[i] if normalized and guessed else romaji_key(raw_last[i])
        fr = first_reading[i] if normalized and guessed else romaji_key(raw_first[i])
        if x and _is_japanese(x):
            teach(i, "last", x)
        if lr:
            teach(i, "last_r", lr)
        if fr:
            teach(i, "first_r", fr)
    _, cities = _no_city(t)
    for i, c in enumerate(cities):
        if c is not None and len(c) >= 2 and _is_japanese(c):
            teach(i, "city", c)
    return pa.table({"id": pa.array(out_ids, pa.string()), "kind": pa.array(kinds, pa.string()),
                     "value": pa.array(values, pa.string())})


def dependencies(t: pa.Table, vocabulary: dict[str, set]) -> pa.Table:
    """What the normalization of each record of `t` (raw and normalized fields) asked of the
    vocabulary: (id, kind, value). A record is normalized again when one of these values
    enters or leaves the vocabulary."""
    n = t.num_rows
    col = lambda f: t.column(f) if f in t.column_names else None  # noqa: E731
    pl, pf = _present(col("LastName"), n), _present(col("FirstName"), n)
    ids, raw_last, raw_first = _column(t, "id"), _column(t, "LastName"), _column(t, "FirstName")
    out_ids, kinds, values = [], [], []
    # Whole names: the lookups _split_whole makes, recorded on the vocabulary it is given.
    log: list = []
    kl, klr, kfr = (_Asked(vocabulary[k], k, log) for k in ("last", "last_r", "first_r"))
    asked: dict[str, set] = {}
    for i in np.flatnonzero(pl ^ pf).tolist():
        v = raw_last[i] if pl[i] else raw_first[i]
        if v not in asked:
            log.clear()
            _split_whole(v, kl, klr, kfr)
            asked[v] = {x for x in log if x[1]}
        for kind, value in asked[v]:
            out_ids.append(ids[i]), kinds.append(kind), values.append(value)
    # Streets without a city: every prefix a known city could be (normalize keeps cities of 2+ characters).
    no_city, _ = _no_city(t)
    city, street = _column(t, "city"), _column(t, "street")
    for i in np.flatnonzero(no_city).tolist():
        s = street[i]
        if not s:
            continue
        full = (city[i] or "") + s
        for k in range(2, len(full)):
            out_ids.append(ids[i]), kinds.append("city"), values.append(full[:k])
    return pa.table({"id": pa.array(out_ids, pa.string()), "kind": pa.array(kinds, pa.string()),
                     "value": pa.array(values, pa.string())})


def _keys_sql(rules, source: str) -> str:
    """(rule_no, rec_idx, bkey) of every record of `source` with all of a rule's keys (a key
    with alternatives: a row per value, as block_pairs forms its blocks): the key index rows."""
    parts = []
    for no, rule in enumerate(rules):
        keys = ", ".join(f"_k{i}" for i in range(len(rule.keys)))
        parts.append(f"SELECT {no}::SMALLINT AS rule_no, rec_idx::INTEGER AS rec_idx, hash({keys}) AS bkey "
                     f"FROM ({key_rows_sql(rule, source)})")
    return " UNION ALL ".join(parts) if parts else "SELECT NULL::SMALLINT AS rule_no, NULL::INTEGER AS rec_idx, NULL::UBIGINT AS bkey WHERE false"


def _limits_table(con: duckdb.DuckDBPyConnection, rules, config: Config) -> None:
    rows = [(no, int(r.max_block_size or config.matching.max_block_size)) for no, r in enumerate(rules)]
    con.execute("CREATE OR REPLACE TEMP TABLE _inc_limits (rule_no SMALLINT, lim BIGINT)")
    if rows:
        con.executemany("INSERT INTO _inc_limits VALUES (?, ?)", rows)


def _mark_tables(con: duckdb.DuckDBPyConnection, config: Config, rules) -> None:
    token = uuid.uuid4().hex
    con.execute("CREATE OR REPLACE TABLE nayose_inc_meta (key VARCHAR, value VARCHAR)")
    con.executemany("INSERT INTO nayose_inc_meta VALUES (?, ?)", [
        ("token", token), ("config", config_fingerprint(config)), ("version", STATE_VERSION),
        ("rules", "\x1f".join(r.name for r in rules)),
    ])
    for t in MAIN_TABLES:
        con.execute(f"COMMENT ON TABLE \"{t}\" IS '{COMMENT_PREFIX}{token}'")


def build_state(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Write the incremental state for the stage tables now in the store (after a full run)."""
    cols = _source_columns(con, "raw_records")
    con.execute(f'CREATE OR REPLACE TABLE nayose_inc_hash AS SELECT "Id" AS id, {_row_hash_sql(cols)} AS h FROM raw_records')
    t, cols = _raw_frame(con, config, "raw_records", "normalized_records")
    taught = teaches(t, cols, config)
    vocabulary: dict[str, set] = {k: set() for k in VOCAB_KINDS}
    for k, v in zip(taught.column("kind").to_pylist(), taught.column("value").to_pylist()):
        vocabulary[k].add(v)
    deps = dependencies(t, vocabulary)
    for name, tbl in (("nayose_inc_vocab", taught), ("nayose_inc_deps", deps)):
        con.register("_inc_arrow", tbl)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _inc_arrow")
        con.unregister("_inc_arrow")
    if not table_exists(con, "match_model_tf"):
        # The term-frequency counts the model scores with from now on: those the full run just
        # used (a new model's, or a model given without counts).
        present = {k: v for k, v in _present_columns(con, "normalized_records").items() if v}
        write_tf_counts(con, "normalized_records", present, "match_model_tf")
    rules = active_rules(con, config, "normalized_records")
    con.execute(f"CREATE OR REPLACE TABLE nayose_inc_keys AS {_keys_sql(rules, 'normalized_records')}")
    con.execute(
        "CREATE OR REPLACE TABLE nayose_inc_blocks AS SELECT rule_no, bkey, count(*) AS n FROM nayose_inc_keys GROUP BY ALL HAVING n >= 2"
    )
    _mark_tables(con, config, rules)


# ---------------------------------------------------------------------------------------------
# The run


def _full(con, inputs, config, res: IncrementalResult, reason: str, model=None) -> IncrementalResult:
    """A full run on the files `inputs`, or (None) on the snapshot already in `_inc_raw`."""
    from nayose.pipeline import run_stages

    res.mode, res.reason = "full", reason
    t0 = time.perf_counter()
    if inputs is None:
        con.execute('CREATE OR REPLACE TABLE "_inc_snapshot" AS SELECT * FROM "_inc_raw"')
        _drop_raw(con)
        con.execute("DROP TABLE IF EXISTS raw_records")
        con.execute('ALTER TABLE "_inc_snapshot" RENAME TO raw_records')
    loaded = inputs is None
    try:
        res.results = run_stages(con, inputs or [], config, model=model, records_loaded=loaded)
    except ValueError as exc:
        if model is None or "the given model compares" not in str(exc):
            raise
        res.reason += "; the compared fields changed: model estimated again"
        res.results = run_stages(con, inputs or [], config, records_loaded=loaded)
    res.seconds["full run"] = round(time.perf_counter() - t0, 3)
    t1 = time.perf_counter()
    build_state(con, config)
    res.seconds["state"] = round(time.perf_counter() - t1, 3)
    res.seconds["total"] = round(time.perf_counter() - t0, 3)
    res.records = int(con.execute("SELECT count(*) FROM normalized_records").fetchall()[0][0])
    res.candidate_pairs = int(con.execute("SELECT count(*) FROM candidate_pairs").fetchall()[0][0])
    return res


def incremental_run(
    con: duckdb.DuckDBPyConnection,
    inputs: list[str | Path],
    config: Config,
    full_if_no_state: bool = True,
    *,
    changes_only: bool = False,
    deleted_ids: Iterable[str] = (),
) -> IncrementalResult:
    """Match the new snapshot `inputs` incrementally against the previous run kept in `con` (see
    the module doc); return what was done. Leaves raw_records, normalized_records,
    candidate_pairs, scored_pairs and clusters as a full run with the previous model would.

    With `changes_only`, `inputs` hold only the records new or changed since the previous run
    (what an incremental Salesforce extract pulls: same columns as the previous snapshot) and
    `deleted_ids` the Ids deleted since; the new snapshot is the previous one with those applied,
    and the unchanged records are never read again. It needs a previous run in the store."""
    res = IncrementalResult(mode="incremental")
    if getattr(config, "engine", "duckdb") != "duckdb":  # incremental runs are DuckDB's
        config = config.model_copy(update={"engine": "duckdb"})
    if not has_previous_run(con):
        if changes_only:
            raise NayoseError("a run on changed records only needs a previous run in the store: run once on the whole snapshot")
        if not full_if_no_state:
            raise ValueError("no previous run in the store")
        return _full(con, inputs, config, res, "no previous run in the store")
    model = load_model(con)
    config_changed = _meta(con).get("config") not in (None, config_fingerprint(config))
    if config_changed and not changes_only:
        return _full(con, inputs, config, res, CONFIG_CHANGED)
    started = time.perf_counter()
    lap_t = [started]

    def lap(name: str) -> None:
        now = time.perf_counter()
        res.seconds[name] = round(now - lap_t[0], 3)
        lap_t[0] = now
        if os.environ.get("NAYOSE_INC_DEBUG"):
            print(f"--- lap {name}: {res.seconds[name]:.3f}s")

    preload()
    _drop_raw(con)
    con.execute('DROP TABLE IF EXISTS "_inc_delta"')
    if changes_only:
        records_result = _load_changes(con, list(inputs), config, deleted_ids)
        source = None  # the new snapshot is _inc_raw (a full run, when one is needed, starts from it)
    else:
        records_result = load_records(con, list(inputs), config, table="_inc_raw")
        source = inputs
    records_result.table = "raw_records"
    lap("read records")
    try:
        if config_changed:
            return _full(con, source, config, res, CONFIG_CHANGED)
        out = _incremental(con, source, config, model, res, lap, started)
        if out.mode == "incremental":
            normalize_result = StageResult(
                stage="normalize", table="normalized_records", rows=out.records, seconds=out.seconds.get("normalize", 0.0),
                stats={"incremental": {k: getattr(out, k) for k in ("new", "changed", "deleted", "normalized",
                                                                      "vocabulary_changes", "moved")}},
            )
            out.results = [records_result, normalize_result, *out.results]
        return out
    finally:
        _drop_raw(con)
        drop_tables(con, "_inc_batch_raw", "_inc_batch_norm", "_inc_endpoints", "_inc_delta", "_inc_gone_ids")


def _drop_snapshot(con: duckdb.DuckDBPyConnection, inputs) -> None:
    """Before a full run on the files: the snapshot read from them goes (a changes-only run keeps
    it: the full run starts from it)."""
    if inputs is not None:
        _drop_raw(con)


def _drop_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the new snapshot `_inc_raw`: a table (read from the files) or a view (changes only)."""
    kinds = {r[0] for r in con.execute(
        "SELECT 'view' FROM duckdb_views() WHERE view_name = '_inc_raw' UNION ALL "
        "SELECT 'table' FROM duckdb_tables() WHERE table_name = '_inc_raw'").fetchall()}
    if "view" in kinds:
        con.execute('DROP VIEW "_inc_raw"')
    if "table" in kinds:
        con.execute('DROP TABLE "_inc_raw"')

def _load_changes(con: duckdb.DuckDBPyConnection, inputs: list[str | Path], config: Config, deleted_ids: Iterable[str]) -> StageResult:
    """Read the changed records into `_inc_delta` and the deleted Ids into `_inc_gone_ids`; build
    the new snapshot `_inc_raw`: a view of the previous raw_records without those Ids, plus the
    changed rows (it stays the same view when raw_records is updated in place)."""
    try:
        result = load_records(con, inputs, config, table="_inc_delta")
    except NoRecordsError:
        # A night with deletions only: a changes file with a header alone, or empty, is no change.
        con.execute('CREATE OR REPLACE TABLE "_inc_delta" AS SELECT * FROM raw_records LIMIT 0')
        result = StageResult(stage="records", table="_inc_delta")
    old = _source_columns(con, "raw_records")
    new = _source_columns(con, "_inc_delta")
    if sorted(c.casefold() for c in new) != sorted(c.casefold() for c in old):
        missing = [c for c in old if c.casefold() not in {x.casefold() for x in new}]
        extra = [c for c in new if c.casefold() not in {x.casefold() for x in old}]
        con.execute('DROP TABLE "_inc_delta"')
        raise NayoseError(
            f"{', '.join(str(p) for p in inputs)}: the changed records must have the previous snapshot's columns"
            + (f"; missing {', '.join(missing)}" if missing else "") + (f"; not in the snapshot {', '.join(extra)}" if extra else "")
        )
    _ids_table(con, "_inc_gone_ids", {str(x) for x in deleted_ids})
    # One record is one Id in either form (a report's 15 characters, Data Loader's 18): a deleted Id
    # names the stored record in whichever form it was stored, and a changed record whose stored Id is
    # the other form replaces it (the stored form goes: it was kept beside the new one, and the two
    # were grouped and planned as a merge of the record into itself).
    key = canonical_id_sql('"Id"')
    con.execute(f"""INSERT INTO _inc_gone_ids
        SELECT DISTINCT r."Id" FROM raw_records r
        WHERE {canonical_id_sql('r."Id"')} IN (SELECT {canonical_id_sql('id')} FROM _inc_gone_ids
                                                 UNION ALL SELECT {key} FROM "_inc_delta")
          AND r."Id" NOT IN (SELECT id FROM _inc_gone_ids) AND r."Id" NOT IN (SELECT "Id" FROM "_inc_delta")""")
    all_cols = ", ".join(f'"{c[0]}"' for c in con.execute('DESCRIBE raw_records').fetchall())
    con.execute(
        f"""CREATE TEMP VIEW "_inc_raw" AS
            SELECT {all_cols} FROM raw_records
            WHERE "Id" NOT IN (SELECT "Id" FROM "_inc_delta") AND "Id" NOT IN (SELECT id FROM _inc_gone_ids)
            UNION ALL SELECT {all_cols} FROM _inc_delta"""
    )
    result.stats["changes_only"] = True
    result.stats["deleted_ids"] = int(con.execute("SELECT count(*) FROM _inc_gone_ids").fetchall()[0][0])
    result.rows = int(con.execute('SELECT count(*) FROM "_inc_raw"').fetchall()[0][0])
    return result


def _incremental(con, inputs, config: Config, model, res: IncrementalResult, lap, started) -> IncrementalResult:
    con = _timed(con)
    cols_old = _source_columns(con, "raw_records")
    # (changed records only: the new snapshot is a view with the previous one's columns, checked
    # when the changes were read)
    cols_new = cols_old if inputs is None else _source_columns(con, "_inc_raw")
    if cols_new != cols_old:
        _drop_snapshot(con, inputs)
        return _full(con, inputs, config, res, "the source columns changed", model)
    if not state_is_current(con):
        # The stage tables were written by something else since the state was (a plain full run,
        # the assets' full run, a single re-materialized table): whether they still belong
        # together is unknown, so this run is a full one, with the previous model.
        _drop_snapshot(con, inputs)
        return _full(con, inputs, config, res, "no incremental state for the tables in the store: full run with the previous model", model)

    # ---- what changed -------------------------------------------------------------------------
    # (Changed records only: just their rows are hashed; the deleted Ids are given.)
    hashed = "_inc_delta" if inputs is None else "_inc_raw"
    con.execute(f'CREATE OR REPLACE TEMP TABLE _inc_new_hash AS SELECT "Id" AS id, {_row_hash_sql(cols_new)} AS h FROM "{hashed}"')
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_changed AS
           SELECT n.id, o.id IS NULL AS is_new FROM _inc_new_hash n LEFT JOIN nayose_inc_hash o USING (id)
           WHERE o.id IS NULL OR o.h <> n.h"""
    )
    if hashed == "_inc_delta":
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _inc_deleted AS SELECT id FROM nayose_inc_hash
               WHERE id IN (SELECT id FROM _inc_gone_ids) AND id NOT IN (SELECT id FROM _inc_new_hash)"""
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _inc_deleted AS SELECT id FROM nayose_inc_hash ANTI JOIN _inc_new_hash USING (id)")
    res.new, res.changed = (int(x or 0) for x in con.execute(
        "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM _inc_changed"
    ).fetchall()[0])
    res.deleted = int(con.execute("SELECT count(*) FROM _inc_deleted").fetchall()[0][0])
    lap("diff")

    # ---- normalize the changed records with the whole snapshot's vocabulary --------------------
    vocab_old: dict[str, set] = {k: set() for k in VOCAB_KINDS}
    for kind, value in con.execute("SELECT DISTINCT kind, value FROM nayose_inc_vocab").fetchall():
        vocab_old.setdefault(kind, set()).add(value)
    changed = {r[0] for r in con.execute("SELECT id FROM _inc_changed").fetchall()}
    t, raw_cols = _raw_frame(con, config, "_inc_raw", None, '"Id" IN (SELECT id FROM _inc_changed)')
    taught = teaches(t, raw_cols, config)
    # The vocabulary after the change: the old one without what the changed and deleted records
    # taught, with what the changed records teach now.
    con.register("_inc_teach_arrow", taught)
    delta = con.execute(
        """WITH gone AS (SELECT kind, value, count(*) AS n FROM nayose_inc_vocab
                         WHERE id IN (SELECT id FROM _inc_changed) OR id IN (SELECT id FROM _inc_deleted) GROUP BY ALL),
                came AS (SELECT kind, value, count(*) AS n FROM _inc_teach_arrow GROUP BY ALL),
                touched AS (SELECT kind, value FROM gone UNION SELECT kind, value FROM came),
                before AS (SELECT v.kind, v.value, count(*) AS n FROM nayose_inc_vocab v
                           SEMI JOIN touched t ON t.kind = v.kind AND t.value = v.value GROUP BY ALL)
           SELECT t.kind, t.value, coalesce(b.n, 0) > 0 AS was, coalesce(b.n, 0) - coalesce(g.n, 0) + coalesce(c.n, 0) > 0 AS now
           FROM touched t LEFT JOIN before b USING (kind, value) LEFT JOIN gone g USING (kind, value)
           LEFT JOIN came c USING (kind, value)
           WHERE (coalesce(b.n, 0) > 0) <> (coalesce(b.n, 0) - coalesce(g.n, 0) + coalesce(c.n, 0) > 0)"""
    ).fetchall()
    con.unregister("_inc_teach_arrow")
    res.vocabulary_changes = len(delta)
    batch = set(changed)
    vocab_new = vocab_old
    if delta:
        vocab_new = {k: set(v) for k, v in vocab_old.items()}
        for kind, value, _was, now in delta:
            (vocab_new[kind].add if now else vocab_new[kind].discard)(value)
        if any(bool(vocab_new[k]) != bool(vocab_old[k]) for k in VOCAB_KINDS):
            _drop_snapshot(con, inputs)
            return _full(con, inputs, config, res, "a vocabulary became empty or non-empty", model)
        con.register("_inc_delta_arrow", pa.table({
            "kind": pa.array([d[0] for d in delta], pa.string()), "value": pa.array([d[1] for d in delta], pa.string())}))
        affected = {r[0] for r in con.execute(
            """SELECT DISTINCT id FROM nayose_inc_deps d
               SEMI JOIN _inc_delta_arrow x ON x.kind = d.kind AND x.value = d.value
               WHERE id NOT IN (SELECT id FROM _inc_deleted)"""
        ).fetchall()}
        con.unregister("_inc_delta_arrow")
        batch |= affected
    deps = _normalize_batch(con, config, batch, vocab_new)
    res.normalized = len(batch)
    _ids_table(con, "_inc_renorm", batch)
    # The previous rows of the records normalized again and of the deleted ones (one scan).
    # (a constant list: only the id column is read whole)
    prev_ids = [r[0] for r in con.execute("SELECT id FROM _inc_renorm UNION SELECT id FROM _inc_deleted").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE _inc_prev AS SELECT * FROM normalized_records WHERE id = ANY(?)", [prev_ids])
    # Record numbers: a record keeps its number; new records take the numbers past the largest,
    # in Id order (nothing is renumbered, see the module doc).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_num AS
           SELECT b.id, p.rec_idx FROM "_inc_batch_norm" b JOIN _inc_prev p USING (id)
           UNION ALL
           SELECT id, ((SELECT coalesce(max(rec_idx), -1) FROM normalized_records) + row_number() OVER (ORDER BY id))::INTEGER
           FROM (SELECT id FROM "_inc_batch_norm" ANTI JOIN _inc_prev USING (id))"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _inc_deleted_rec AS SELECT rec_idx FROM _inc_prev WHERE id IN (SELECT id FROM _inc_deleted)")
    # Moved: normalized differently than before, or new. Gone: old rec_idx of deleted and moved records.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_moved AS
           SELECT id FROM (
             SELECT * EXCLUDE (rec_idx) FROM "_inc_batch_norm"
             EXCEPT
             SELECT * EXCLUDE (rec_idx) FROM _inc_prev WHERE id IN (SELECT id FROM _inc_renorm))"""
    )
    # The numbers of the moved records (new ones included), and of the records whose keys may
    # have changed (moved before, deleted).
    con.execute("CREATE OR REPLACE TEMP TABLE _inc_moved_rec AS SELECT rec_idx FROM _inc_num WHERE id IN (SELECT id FROM _inc_moved)")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_rekeyed AS
           SELECT rec_idx FROM _inc_prev WHERE id IN (SELECT id FROM _inc_moved) OR id IN (SELECT id FROM _inc_deleted)"""
    )
    res.moved = int(con.execute("SELECT count(*) FROM _inc_moved").fetchall()[0][0])
    lap("normalize")

    rules_old_names = _meta(con).get("rules", "")
    con.execute("BEGIN TRANSACTION")
    try:
        # ---- normalized_records, raw_records and the state, in place ----------------------------
        con.execute("CREATE OR REPLACE TEMP TABLE _inc_gone AS SELECT rec_idx AS o FROM _inc_prev")
        # The values the moved and deleted records had: their counts move (score's shares).
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _inc_old_values AS SELECT * FROM _inc_prev
               WHERE id IN (SELECT id FROM _inc_moved) OR id IN (SELECT id FROM _inc_deleted)"""
        )
        con.execute("DELETE FROM normalized_records WHERE rec_idx IN (SELECT o FROM _inc_gone)")
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _inc_batch_new AS
               SELECT x.rec_idx, b.* EXCLUDE (rec_idx) FROM "_inc_batch_norm" b JOIN _inc_num x USING (id)"""
        )
        con.execute("INSERT INTO normalized_records SELECT * FROM _inc_batch_new")
        if inputs is None:  # changed records only: raw_records in place (rewriting it all is the slow part)
            con.execute('DELETE FROM raw_records WHERE "Id" IN (SELECT "Id" FROM _inc_delta) OR "Id" IN (SELECT id FROM _inc_deleted)')
            con.execute("INSERT INTO raw_records BY NAME SELECT * FROM _inc_delta")
        else:
            con.execute("DROP TABLE raw_records")
            con.execute('ALTER TABLE "_inc_raw" RENAME TO raw_records')
        con.execute("DELETE FROM nayose_inc_hash WHERE id IN (SELECT id FROM _inc_changed) OR id IN (SELECT id FROM _inc_deleted)")
        con.execute("INSERT INTO nayose_inc_hash SELECT n.id, n.h FROM _inc_new_hash n SEMI JOIN _inc_changed c USING (id)")
        for name, tbl, ids in (("nayose_inc_vocab", taught, "_inc_changed"), ("nayose_inc_deps", deps, "_inc_renorm")):
            con.execute(f"DELETE FROM {name} WHERE id IN (SELECT id FROM {ids}) OR id IN (SELECT id FROM _inc_deleted)")
            con.register("_inc_arrow", tbl)
            con.execute(f"INSERT INTO {name} SELECT * FROM _inc_arrow")
            con.unregister("_inc_arrow")
        lap("update records")

        # ---- business Accounts: the new, changed and deleted ones against all, before the people ----
        # (score leaves them out; nayose.accounts keeps every pair none of them touches)
        con.execute("CREATE OR REPLACE TEMP TABLE _inc_acct_changed AS SELECT id FROM _inc_changed UNION SELECT id FROM _inc_deleted")
        accounts_result = match_accounts(con, config, changed="_inc_acct_changed")
        drop_tables(con, "_inc_acct_changed")
        lap("accounts")

        # ---- block ----------------------------------------------------------------------------
        rules = active_rules(con, config, "normalized_records")
        if "\x1f".join(r.name for r in rules) != rules_old_names:
            con.execute("ROLLBACK")
            return _full(con, inputs, config, res, "the active blocking rules changed", model)
        present = {k: v for k, v in _present_columns(con, "normalized_records").items() if v}
        if model is None or [c.name for c in active_comparisons(present)] != [c.name for c in model.comparisons]:
            con.execute("ROLLBACK")
            return _full(con, inputs, config, res, "the compared fields changed: full run, model estimated again")
        if "tf_populations" not in model.sessions or not table_exists(con, "match_model_tf"):
            con.execute("ROLLBACK")
            return _full(con, inputs, config, res, "the model has no term-frequency populations (an older nayose wrote it): "
                                                   "full run with it", model)
        block_result = _block_incremental(con, config, rules, res)
        lap("block")

        # ---- score: new pairs in full, the others from their kept levels ----------------------
        score_result = _score_incremental(con, config, model, present, res)
        lap("score")
        cluster_result = _cluster_incremental(con, config)
        lap("cluster")
        _mark_tables(con, config, rules)
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise
    drop_tables(con, "_inc_new_hash", "_inc_changed", "_inc_deleted", "_inc_renorm", "_inc_num", "_inc_deleted_rec",
                 "_inc_moved", "_inc_moved_rec", "_inc_rekeyed", "_inc_gone", "_inc_batch_new", "_inc_limits", "_inc_d", "_score_features", "_inc_old_values",
                 "_inc_flags", "_inc_dirty_pairs", "_inc_touched_rec", "_inc_regrouped", "_inc_prev")
    lap("finish")
    res.records = int(con.execute("SELECT count(*) FROM normalized_records").fetchall()[0][0])
    res.candidate_pairs = block_result.rows
    res.seconds["total"] = round(time.perf_counter() - started, 3)
    res.results = [accounts_result, block_result, score_result, cluster_result]
    return res


def _normalize_batch(con, config: Config, ids: set, vocabulary: dict[str, set]) -> pa.Table:
    """Normalize the records `ids` of the new snapshot into `_inc_batch_norm` with `vocabulary`;
    return what they asked of it."""
    _ids_table(con, "_inc_batch_ids", ids)
    delta = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_inc_delta'").fetchall()[0][0]
    if delta:
        # Changed records only: their rows, and the few unchanged records normalized again read by
        # Id from the previous snapshot (a constant filter: the snapshot is not scanned whole).
        others = [r[0] for r in con.execute(
            'SELECT id FROM _inc_batch_ids WHERE id NOT IN (SELECT "Id" FROM _inc_delta)').fetchall()]
        cols = ", ".join(f'"{c[0]}"' for c in con.execute('DESCRIBE raw_records').fetchall())
        kept = f'UNION ALL SELECT {cols} FROM raw_records WHERE "Id" = ANY(?)' if others else ""
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE "_inc_batch_raw" AS
                SELECT {cols} FROM "_inc_delta" WHERE "Id" IN (SELECT id FROM _inc_batch_ids) {kept}""",
            [others] if others else [])
    else:
        con.execute('CREATE OR REPLACE TEMP TABLE "_inc_batch_raw" AS SELECT * FROM "_inc_raw" WHERE "Id" IN (SELECT id FROM _inc_batch_ids)')
    if ids:
        normalize_records(con, config, source="_inc_batch_raw", target="_inc_batch_norm", vocabulary=vocabulary)
    else:
        con.execute('CREATE OR REPLACE TEMP TABLE "_inc_batch_norm" AS SELECT * FROM normalized_records LIMIT 0')
    t, _ = _raw_frame(con, config, "_inc_batch_raw", "_inc_batch_norm")
    con.execute("DROP TABLE IF EXISTS _inc_batch_ids")
    return dependencies(t, vocabulary)


# ---------------------------------------------------------------------------------------------
# Block


def _block_incremental(con: duckdb.DuckDBPyConnection, config: Config, rules, res: IncrementalResult) -> StageResult:
    """Update candidate_pairs and the key index (see the module doc)."""
    con = _timed(con)
    result = StageResult(stage="block", table="candidate_pairs")
    t0 = time.perf_counter()
    _limits_table(con, rules, config)
    # The key rows of the records normalized again.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _inc_batch_keys AS {_keys_sql(rules, '_inc_batch_new')}")
    # Affected blocks: those the moved and deleted records leave and those the moved records enter.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_touched AS
           SELECT DISTINCT rule_no, bkey FROM nayose_inc_keys WHERE rec_idx IN (SELECT rec_idx FROM _inc_rekeyed)
           UNION SELECT rule_no, bkey FROM _inc_batch_keys WHERE rec_idx IN (SELECT rec_idx FROM _inc_moved_rec)"""
    )
    # Their members before (one scan of the key index; a block's size is its member count) ...
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_members_old AS
           SELECT k.rule_no, k.bkey, k.rec_idx FROM nayose_inc_keys k SEMI JOIN _inc_touched t USING (rule_no, bkey)"""
    )
    # ... the key index: the rows of the records normalized again are written again ...
    con.execute("DELETE FROM nayose_inc_keys WHERE rec_idx IN (SELECT o FROM _inc_gone)")
    con.execute("INSERT INTO nayose_inc_keys SELECT * FROM _inc_batch_keys")
    # ... and their members now.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_members_new AS
           SELECT rule_no, bkey, rec_idx FROM _inc_members_old WHERE rec_idx NOT IN (SELECT o FROM _inc_gone)
           UNION ALL SELECT k.rule_no, k.bkey, k.rec_idx FROM _inc_batch_keys k SEMI JOIN _inc_touched t USING (rule_no, bkey)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_new_blocks AS
           SELECT rule_no, bkey, count(*) AS n FROM _inc_members_new GROUP BY ALL"""
    )
    con.execute("DELETE FROM nayose_inc_blocks b USING _inc_touched t WHERE b.rule_no = t.rule_no AND b.bkey = t.bkey")
    con.execute("INSERT INTO nayose_inc_blocks SELECT * FROM _inc_new_blocks WHERE n >= 2")
    # The pairs the affected blocks produced and produce (within the size limit), each as a full
    # run orients it: the smaller Id on the left (the pairs of deleted records go).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_d AS
           WITH pairs AS (
             SELECT a.rec_idx AS l, b.rec_idx AS r
             FROM (SELECT m.*, count(*) OVER (PARTITION BY m.rule_no, m.bkey) AS n FROM _inc_members_old m) a
             JOIN _inc_members_old b ON a.rule_no = b.rule_no AND a.bkey = b.bkey AND a.rec_idx < b.rec_idx
             JOIN _inc_limits l ON l.rule_no = a.rule_no WHERE a.n <= l.lim
             UNION
             SELECT a.rec_idx, b.rec_idx FROM _inc_members_new a
             JOIN _inc_members_new b ON a.rule_no = b.rule_no AND a.bkey = b.bkey AND a.rec_idx < b.rec_idx
             JOIN _inc_new_blocks s ON s.rule_no = a.rule_no AND s.bkey = a.bkey
             JOIN _inc_limits l ON l.rule_no = a.rule_no WHERE s.n <= l.lim),
           ids AS (SELECT rec_idx, id FROM normalized_records
                   WHERE rec_idx IN (SELECT rec_idx FROM _inc_members_old UNION SELECT rec_idx FROM _inc_members_new))
           SELECT CASE WHEN a.id < b.id THEN p.l ELSE p.r END AS l, CASE WHEN a.id < b.id THEN p.r ELSE p.l END AS r
           FROM pairs p JOIN ids a ON a.rec_idx = p.l JOIN ids b ON b.rec_idx = p.r"""
    )
    res.affected_blocks = int(con.execute("SELECT count(*) FROM _inc_new_blocks").fetchall()[0][0])
    res.rechecked_pairs = int(con.execute("SELECT count(*) FROM _inc_d").fetchall()[0][0])
    # Their first rule now: the first rule whose keys agree within a block of allowed size (the
    # endpoints' keys read in one scan of the index).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_d_rules AS
           WITH k AS (SELECT * FROM nayose_inc_keys WHERE rec_idx IN (SELECT l FROM _inc_d UNION SELECT r FROM _inc_d))
           SELECT d.l AS left_idx, d.r AS right_idx, min(a.rule_no)::SMALLINT AS rule_no
           FROM _inc_d d JOIN k a ON a.rec_idx = d.l
           JOIN k b ON b.rec_idx = d.r AND b.rule_no = a.rule_no AND b.bkey = a.bkey
           JOIN nayose_inc_blocks s ON s.rule_no = a.rule_no AND s.bkey = a.bkey
           JOIN _inc_limits lim ON lim.rule_no = a.rule_no
           WHERE s.n <= lim.lim GROUP BY ALL"""
    )
    # candidate_pairs in place: drop pairs of deleted records, replace the rechecked pairs.
    con.execute(
        """DELETE FROM candidate_pairs WHERE left_idx IN (SELECT rec_idx FROM _inc_deleted_rec)
           OR right_idx IN (SELECT rec_idx FROM _inc_deleted_rec)"""
    )
    con.execute("DELETE FROM candidate_pairs p USING _inc_d d WHERE p.left_idx = d.l AND p.right_idx = d.r")
    con.execute("INSERT INTO candidate_pairs SELECT left_idx, right_idx, rule_no FROM _inc_d_rules")
    per_rule = dict(con.execute("SELECT rule_no, count(*) FROM candidate_pairs GROUP BY rule_no").fetchall())
    total = int(sum(per_rule.values()))
    # What block_pairs reports per rule, from the key index.
    blocks = {r[0]: r[1:] for r in con.execute(
        """WITH b AS (SELECT rule_no, n FROM nayose_inc_blocks)
           SELECT b.rule_no, coalesce(sum(n * (n - 1) // 2) FILTER (WHERE n <= l.lim), 0),
                  count(*) FILTER (WHERE n > l.lim), coalesce(sum(n) FILTER (WHERE n > l.lim), 0),
                  coalesce(max(n) FILTER (WHERE n > l.lim), 0)
           FROM b JOIN _inc_limits l USING (rule_no) GROUP BY b.rule_no"""
    ).fetchall()}
    drop_tables(con, "_inc_touched", "_inc_members_old", "_inc_members_new", "_inc_batch_keys", "_inc_new_blocks",
                 "_inc_d_rules")
    result.rows = total
    result.seconds = round(time.perf_counter() - t0, 3)
    result.stats = {
        "rules": {
            r.name: {
                "keys": list(r.keys),
                "comparisons": int(blocks.get(no, (0, 0, 0, 0))[0]),
                "skipped_blocks": int(blocks.get(no, (0, 0, 0, 0))[1]),
                "skipped_records": int(blocks.get(no, (0, 0, 0, 0))[2]),
                "largest_skipped_block": int(blocks.get(no, (0, 0, 0, 0))[3]),
                "new_pairs": int(per_rule.get(no, 0)),
            }
            for no, r in enumerate(rules)
        },
        "rule_names": [r.name for r in rules],
        "candidate_pairs": total,
        "incremental": {"affected_blocks": res.affected_blocks, "rechecked_pairs": res.rechecked_pairs},
    }
    return result


# ---------------------------------------------------------------------------------------------
# Score


def _codes(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, int]:
    """Dictionary codes of a string column (-1 for NULL) and the dictionary's size."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    enc = pc.dictionary_encode(arr.cast(pa.string()))
    return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)


def _endpoint_corpus(con: duckdb.DuckDBPyConnection, n_rec: int) -> dict[str, np.ndarray]:
    """Per record (index = rec_idx; only the records in `_score_features` are filled) what score's
    feature table took from the whole store: value shares lf_* (NaN without a value), n_street
    (0: no street), shared mailboxes, the mailboxes' local parts, and codes of the values the kept
    pairs compare (equal values, equal codes)."""
    cols = list(dict.fromkeys(SHARES + ["email_domain", "email_is_role", "email_is_freemail", "email_local", "phone", "mobile",
                                        "n_street", "email_shared", "email_numbered"]
                              + [f"lf_{c}" for c in SHARES] + ["lf_phone", "lf_mobile", "n_last_name", "n_first_name"]))
    t = con.sql(f"SELECT rec_idx, {', '.join(cols)} FROM _score_features").to_arrow_table()
    at = t.column("rec_idx").to_numpy().astype(np.int64)
    out: dict[str, np.ndarray] = {}

    def put(name: str, values: np.ndarray, fill, dtype) -> None:
        arr = np.full(n_rec, fill, dtype=dtype)
        arr[at] = values
        out[name] = arr

    def floats(c: str) -> np.ndarray:
        return pc.fill_null(t.column(c).cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)

    def flags(c: str) -> np.ndarray:
        return pc.fill_null(t.column(c).cast(pa.bool_()), False).to_numpy(zero_copy_only=False).astype(bool)

    for c in SHARES + ["email_domain"]:
        put(f"code_{c}", _codes(t.column(c))[0], -1, np.int64)
    for c in [f"lf_{c}" for c in SHARES] + ["lf_phone", "lf_mobile", "n_last_name", "n_first_name"]:
        put(c, floats(c), np.nan, np.float64)
    put("n_street", pc.fill_null(t.column("n_street"), 0).to_numpy(zero_copy_only=False).astype(np.int64), 0, np.int64)
    put("email_shared", flags("email_shared"), False, bool)
    put("email_is_role", flags("email_is_role"), False, bool)
    put("email_is_freemail", flags("email_is_freemail"), False, bool)
    put("email_numbered", flags("email_numbered"), False, bool)
    local = np.full(n_rec, None, dtype=object)
    local[at] = t.column("email_local").to_numpy(zero_copy_only=False)
    out["email_local"] = local
    # One dictionary for phone and mobile numbers (a mobile may be another record's phone).
    both, _ = _codes(pa.concat_arrays([t.column(c).combine_chunks().cast(pa.string()) for c in ("phone", "mobile")]))
    put("code_phone", both[: t.num_rows], -1, np.int64)
    put("code_mobile", both[t.num_rows:], -1, np.int64)
    return out


def _values_sql(table: str, cols: Iterable[str], present: dict[str, bool]) -> str:
    """SQL: the distinct (col, v) of the share columns `cols` and of the phone numbers (col
    'phones': phone and mobile together) of `table`'s records, as match_model_tf keys them."""
    parts = [f"SELECT '{c}' AS col, {c} AS v FROM {table}" for c in cols if c in present]
    parts += [f"SELECT 'phones' AS col, {c} AS v FROM {table}" for c in ("phone", "mobile") if c in present]
    return (f"SELECT DISTINCT col, v FROM ({' UNION ALL '.join(parts) or 'SELECT NULL::VARCHAR AS col, NULL::VARCHAR AS v'}) "
            "WHERE v IS NOT NULL")


def _lacking(con: duckdb.DuckDBPyConnection, values_sql: str) -> dict[str, list[str]]:
    """Per column, the values of `values_sql` (col, v) the model's counts (match_model_tf) lack."""
    out: dict[str, list[str]] = {}
    for col, v in con.execute(
        f"SELECT col, v FROM ({values_sql}) WHERE hash(col, v) NOT IN (SELECT h FROM match_model_tf)"
    ).fetchall():
        out.setdefault(col, []).append(v)
    return out


def _endpoint_counts(con: duckdb.DuckDBPyConnection, present: dict[str, bool]) -> None:
    """`_inc_counts(col, v, n)`: the count of every share value (and phone number) of the
    endpoints: the model's (match_model_tf) when it has one, else the store's (counted with a
    constant filter, so a column without such values is not read at all)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _inc_vals AS {_values_sql('_inc_endpoints', SHARES, present)}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_counts AS
           SELECT x.col, x.v, t.n FROM _inc_vals x JOIN match_model_tf t ON t.h = hash(x.col, x.v)"""
    )
    for col, values in _lacking(con, "SELECT col, v FROM _inc_vals").items():
        if col == "phones":
            nums = " UNION ALL ".join(f'SELECT {c} AS v FROM normalized_records WHERE {c} = ANY($1)'
                                      for c in ("phone", "mobile") if c in present)
            con.execute(f"INSERT INTO _inc_counts SELECT 'phones', v, count(*) FROM ({nums}) GROUP BY v", [values])
        else:
            con.execute(f"INSERT INTO _inc_counts SELECT '{col}', {col}, count(*) FROM normalized_records "
                        f"WHERE {col} = ANY($1) GROUP BY {col}", [values])


NAME_VALUES = ("last_name", "first_name", "last_reading", "first_reading")
OTHER_VALUES = ("email", "company_core", "street")


def _score_incremental(con: duckdb.DuckDBPyConnection, config: Config, model, present: dict[str, bool],
                       res: IncrementalResult) -> StageResult:
    """Update scored_pairs in place. Pairs of moved and deleted records go; pairs new to the
    candidate set and pairs of moved records are compared in full (score's pair query); kept
    pairs keep their row unless a value they are weighed by moved in count (a share, a shared
    mailbox, how many records share a street): those keep their levels and are weighed again.
    The model's term-frequency populations are the shares' denominators, so every other pair's
    weights and probability are what a full run with the model gives."""
    con = _timed(con)
    result = StageResult(stage="score", table="scored_pairs")
    t0 = time.perf_counter()
    comps = model.comparisons
    names = [c.name for c in comps]
    household = household_review(config, comps)
    rare_max = home_address_max(household)
    n_rec = _numbers(con)
    # Pairs of moved and deleted records go.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_gone_idx AS
           SELECT rec_idx AS o FROM _inc_deleted_rec UNION SELECT rec_idx FROM _inc_moved_rec"""
    )
    # Records whose pairs change (their groups are formed again): the partners of those going ...
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_touched_rec AS
           SELECT right_idx AS rec_idx FROM scored_pairs WHERE left_idx IN (SELECT o FROM _inc_gone_idx)
           UNION ALL SELECT left_idx FROM scored_pairs WHERE right_idx IN (SELECT o FROM _inc_gone_idx)
           UNION ALL SELECT rec_idx FROM _inc_moved_rec"""
    )
    con.execute("DELETE FROM scored_pairs WHERE left_idx IN (SELECT o FROM _inc_gone_idx) OR right_idx IN (SELECT o FROM _inc_gone_idx)")
    # The rechecked pairs (affected blocks): dropped from the candidates, or their first rule now.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_d_now AS SELECT d.l, d.r, c.rule_no FROM _inc_d d
           LEFT JOIN candidate_pairs c ON c.left_idx = d.l AND c.right_idx = d.r"""
    )
    con.execute("DELETE FROM scored_pairs p USING _inc_d_now d WHERE p.left_idx = d.l AND p.right_idx = d.r AND d.rule_no IS NULL")
    con.execute("""UPDATE scored_pairs p SET rule_no = d.rule_no FROM _inc_d_now d
                   WHERE p.left_idx = d.l AND p.right_idx = d.r AND p.rule_no <> d.rule_no""")
    # Compared in full: the candidate pairs without a row (new pairs, pairs of moved records;
    # every other candidate pair is outside the affected blocks and kept its row).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_dirty_pairs AS
           SELECT d.l AS left_idx, d.r AS right_idx, d.rule_no FROM _inc_d_now d
           WHERE d.rule_no IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scored_pairs s WHERE s.left_idx = d.l AND s.right_idx = d.r)"""
    )
    # Records holding a value the moved and deleted records had or have, which the model's
    # term-frequency table lacks (its count is the data's, which moved), or one of their emails
    # (whether a mailbox is shared is the data's).
    cols = [c for c in (*NAME_VALUES, *OTHER_VALUES, "phone", "mobile") if c in present]
    sel = ", ".join(cols) or "NULL AS none"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _inc_chg AS SELECT {sel} FROM _inc_old_values
            UNION ALL SELECT {sel} FROM _inc_batch_new WHERE id IN (SELECT id FROM _inc_moved)"""
    )
    lacking = _lacking(con, _values_sql("_inc_chg", [c for c in (*NAME_VALUES, *OTHER_VALUES) if c != "email"], present))
    emails = [r[0] for r in con.execute("SELECT DISTINCT email FROM _inc_chg WHERE email IS NOT NULL").fetchall()] \
        if "email" in present else []
    params: list[list[str]] = []

    def any_in(values: Iterable[str]) -> str:  # (constant lists: the store is read once, column by column)
        conds = []
        for c in values:
            found = emails if c == "email" else lacking.get("phones" if c in ("phone", "mobile") else c)
            if c in present and found:
                params.append(found)
                conds.append(f"coalesce({c} = ANY(${len(params)}), false)")
        return " OR ".join(conds) or "false"

    name_cond, other_cond = any_in(NAME_VALUES), any_in((*OTHER_VALUES, "phone", "mobile"))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _inc_flags AS
            SELECT rec_idx, ({name_cond}) AS name_flag, ({other_cond}) AS other_flag FROM normalized_records
            WHERE ({name_cond}) OR ({other_cond})""", params
    )
    # (a name's count matters where the name agrees -- its share weighs the agreement -- and where a
    # part is a near miss: whether it is rare, score.rare_near_miss)
    name_lvls = " OR ".join(f"lvl_{x} >= 3" for x in names if x in ("last_name", "first_name")) or "false"
    if "last_name" in names and "first_name" in names:
        name_lvls += " OR lvl_first_name = 1 OR lvl_last_name = 1"
    lvl_cols = ", ".join(f"lvl_{x}" for x in names)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _inc_affected AS
            SELECT s.left_idx, s.right_idx, s.rule_no{', ' + lvl_cols if lvl_cols else ''}, s.name_swapped FROM scored_pairs s
            WHERE s.left_idx IN (SELECT rec_idx FROM _inc_flags WHERE other_flag)
               OR s.right_idx IN (SELECT rec_idx FROM _inc_flags WHERE other_flag)
               OR (({name_lvls}) AND (s.left_idx IN (SELECT rec_idx FROM _inc_flags WHERE name_flag)
                                      OR s.right_idx IN (SELECT rec_idx FROM _inc_flags WHERE name_flag)))"""
    )
    # Score's feature table for the endpoints, with the whole store's counts and the model's populations.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _inc_endpoints AS SELECT rec_idx, {', '.join(c for c, _t in FEATURES if c in present)}
            FROM normalized_records WHERE rec_idx IN (
             SELECT left_idx FROM _inc_dirty_pairs UNION SELECT right_idx FROM _inc_dirty_pairs
             UNION SELECT left_idx FROM _inc_affected UNION SELECT right_idx FROM _inc_affected)"""
    )
    _endpoint_counts(con, present)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _score_features AS
            {_feature_sql('_inc_endpoints', present, model.sessions["tf_populations"], counts='_inc_counts', base='normalized_records')}"""
    )
    dirty = _pair_levels(con, "SELECT left_idx, right_idx, rule_no FROM _inc_dirty_pairs", comps, rare_max=rare_max)
    res.compared_pairs = len(dirty["left"])
    aff = con.sql("SELECT * FROM _inc_affected ORDER BY left_idx, right_idx").to_arrow_table()
    if aff.num_rows:
        lv = np.stack([aff.column(f"lvl_{x}").to_numpy(zero_copy_only=False).astype(np.int8) for x in names], axis=1) \
            if names else np.zeros((aff.num_rows, 0), dtype=np.int8)
        kept = _kept_levels(comps, aff.column("left_idx").to_numpy().astype(np.int64),
                            aff.column("right_idx").to_numpy().astype(np.int64), aff.column("rule_no").to_numpy().astype(np.int16),
                            lv, aff.column("name_swapped").to_numpy(zero_copy_only=False).astype(bool),
                            _endpoint_corpus(con, n_rec), rare_max)
    else:
        kept = {key: v[:0] for key, v in dirty.items()}
    res.kept_levels = int(con.execute("SELECT count(*) FROM scored_pairs").fetchall()[0][0])
    res.reweighed_pairs = len(kept["left"])
    cand = {key: np.concatenate([dirty[key], kept[key].astype(dirty[key].dtype)]) for key in dirty}
    tier, conflict = evidence_tiers(cand, comps, household)
    counts = dict.fromkeys(GATE_COUNTS, 0)
    # ... and the records of the pairs dropped, compared in full or weighed again.
    con.execute(
        """INSERT INTO _inc_touched_rec
           SELECT l FROM _inc_d_now WHERE rule_no IS NULL UNION ALL SELECT r FROM _inc_d_now WHERE rule_no IS NULL
           UNION ALL SELECT rec_idx FROM _inc_endpoints"""
    )
    con.execute("DELETE FROM scored_pairs p USING _inc_affected a WHERE p.left_idx = a.left_idx AND p.right_idx = a.right_idx")
    con.register("_scored_arrow", pa.RecordBatchReader.from_batches(
        scored_schema(comps), scored_batches(cand, comps, tier, conflict, model, config, counts)))
    try:
        con.execute("INSERT INTO scored_pairs BY NAME SELECT * FROM _scored_arrow")
    finally:
        con.unregister("_scored_arrow")
    th = config.matching.thresholds
    auto, review, below, total = con.execute(
        f"""SELECT count(*) FILTER (WHERE match_probability >= {th.auto!r}),
                   count(*) FILTER (WHERE match_probability >= {th.review!r} AND match_probability < {th.auto!r}),
                   count(*) FILTER (WHERE match_probability < {th.review!r}), count(*) FROM scored_pairs"""
    ).fetchall()[0]
    result.rows = int(total)
    result.seconds = round(time.perf_counter() - t0, 3)
    result.stats = {
        "comparisons": names,
        "model": model.as_dict(),
        "random_pairs": 0,
        "pairs_auto": int(auto), "pairs_review": int(review), "pairs_below_review": int(below),
        "incremental": {"compared_pairs": res.compared_pairs, "reweighed_pairs": res.reweighed_pairs,
                        "gates_in_rescored_pairs": gate_stats(model, counts)},
    }
    drop_tables(con, "_inc_gone_idx", "_inc_d_now", "_inc_chg", "_inc_affected", "_inc_endpoints", "_inc_vals",
                 "_inc_counts")
    return result


def _numbers(con: duckdb.DuckDBPyConnection) -> int:
    """One past the largest record number: the size of arrays indexed by rec_idx (the numbers
    of deleted records stay unused)."""
    return int(con.execute("SELECT coalesce(max(rec_idx), -1) + 1 FROM normalized_records").fetchall()[0][0])


def _cluster_incremental(con: duckdb.DuckDBPyConnection, config: Config) -> StageResult:
    """Update clusters in place: the groups of the connected components that hold a record whose
    pairs changed (or its previous group) are formed again by cluster's own code; a group depends
    on its component only, so every other row stays what a full run writes."""
    con = _timed(con)
    result = StageResult(stage="cluster", table="clusters")
    with timed(result):
        con.execute('DELETE FROM clusters WHERE "Id" IN (SELECT id FROM _inc_deleted)')
        n = _numbers(con)
        linked = linked_pairs(con, config)
        left, right = linked.column(0).to_numpy().astype(np.int64), linked.column(1).to_numpy().astype(np.int64)
        prob = linked.column(2).to_numpy()
        labels = _components(n, left, right)
        # The touched records with the other records of their previous groups.
        # (every business Account, with its previous group, is formed again: the accounts stage
        # decides again only the pairs the night touched, but which groups those change is not kept)
        seeds = con.sql(
            """WITH t AS (SELECT rec_idx FROM _inc_touched_rec UNION SELECT rec_idx FROM normalized_accounts)
               -- (a touched partner may itself be gone: deleted, or moved under a new number)
               SELECT DISTINCT rec_idx FROM t SEMI JOIN normalized_records USING (rec_idx) UNION SELECT c.rec_idx FROM clusters c
               WHERE c.cluster_id IN (SELECT c2.cluster_id FROM clusters c2 SEMI JOIN t USING (rec_idx))"""
        ).to_arrow_table().column(0).to_numpy().astype(np.int64)
        hit = np.zeros(n, dtype=bool)
        hit[np.unique(labels[seeds])] = True
        # Every record of those components (a number no record has is a component of its own).
        con.register("_inc_recs_arrow", pa.table({"rec_idx": pa.array(np.flatnonzero(hit[labels]).astype(np.int32))}))
        found = con.sql(
            "SELECT n.rec_idx, n.id FROM normalized_records n SEMI JOIN _inc_recs_arrow r USING (rec_idx) ORDER BY n.rec_idx"
        ).to_arrow_table()
        recs = found.column(0).to_numpy().astype(np.int64)
        ids = found.column(1).to_numpy(zero_copy_only=False)
        local = np.full(n, -1, dtype=np.int64)
        local[recs] = np.arange(len(recs))
        keep = hit[labels[left]]
        cluster_id, status, gsize, _ = assign_groups(ids, local[left[keep]], local[right[keep]], prob[keep], config,
                                                     business_accounts(con, recs))
        con.execute("DELETE FROM clusters WHERE rec_idx IN (SELECT rec_idx FROM _inc_recs_arrow)")
        con.unregister("_inc_recs_arrow")
        con.register("_inc_clusters_arrow", cluster_table(recs, ids, cluster_id, status, gsize))
        con.execute("CREATE OR REPLACE TEMP TABLE _inc_regrouped AS SELECT * FROM _inc_clusters_arrow")
        con.unregister("_inc_clusters_arrow")
        con.execute("INSERT INTO clusters SELECT * FROM _inc_regrouped")
        guarded = chain_guard(con, config, "scored_pairs", "clusters",
                              where="a.rec_idx IN (SELECT rec_idx FROM _inc_regrouped)")
        result.rows = n
        result.stats = cluster_stats(con, "clusters") | component_figures(labels, config) | {
            "regrouped_records": int(len(recs)),
            "chain_guarded_groups": guarded,
        }
    return result


def _kept_levels(comps, left, right, rule, levels, swapped, c: dict[str, np.ndarray], rare_max: int) -> dict[str, np.ndarray]:
    """Kept pairs: their levels, with the email level, the term-frequency shares, the namesake
    conflict and the home-address flag computed again (they depend on the whole base), as
    score._pair_select / score.compute_levels compute them."""
    names = [x.name for x in comps]
    n = len(left)
    levels = levels.copy()
    tf = np.full((n, len(comps)), np.nan, dtype=np.float32)

    def same(col: str, a: np.ndarray = left, b: np.ndarray = right, col_b: str | None = None) -> np.ndarray:
        x, y = c[f"code_{col}"][a], c[f"code_{col_b or col}"][b]
        return (x >= 0) & (x == y)

    role = c["email_is_role"][left] | c["email_is_role"][right]
    shared_l, shared_r = c["email_shared"][left], c["email_shared"][right]
    email_eq = same("email")
    for j, name in enumerate(names):
        lv = levels[:, j]
        if name in ("last_name", "first_name"):
            part = name.split("_")[0]
            other = "first" if part == "last" else "last"
            r_exact = np.where(swapped, c[f"lf_{other}_name"][right], c[f"lf_{part}_name"][right])
            r_read = np.where(swapped, c[f"lf_{other}_reading"][right], c[f"lf_{part}_reading"][right])
            lf_exact = np.fmax(c[f"lf_{part}_name"][left], r_exact)
            lf_read = np.fmax(c[f"lf_{part}_reading"][left], r_read)
            tf[:, j] = np.where(lv == 4, lf_exact, np.where(lv == 3, lf_read, np.nan))
        elif name == "email":
            levels[:, j] = np.where(lv >= 1, np.where(role | shared_l, 1, 2), lv).astype(np.int8)
            tf[:, j] = np.where(email_eq, c["lf_email"][left], np.nan)
        elif name == "phone":
            pp, mm, mp, pm = same("phone"), same("mobile"), same("mobile", col_b="phone"), same("phone", col_b="mobile")
            tf[:, j] = np.where(pp, c["lf_phone"][left], np.where(mm | mp, c["lf_mobile"][left],
                                                                     np.where(pm, c["lf_phone"][left], np.nan)))
        elif name == "company":
            tf[:, j] = np.where(same("company_core"), c["lf_company_core"][left], np.nan)
        elif name == "address":
            tf[:, j] = np.where(same("street"), c["lf_street"][left], np.nan)
    rare = np.zeros(n, dtype=bool)
    if "address" in names:
        n_max = np.maximum(c["n_street"][left], c["n_street"][right])  # 0: neither has a street
        rare = (levels[:, names.index("address")] >= 3) & (n_max > 0) & (n_max <= rare_max)
    # Two different personal mailboxes at one domain, or two different mobiles: two people.
    el, er = c["code_email"][left], c["code_email"][right]
    dl, dr = c["code_email_domain"][left], c["code_email_domain"][right]
    ml, mr = c["code_mobile"][left], c["code_mobile"][right]
    pl, pr = c["code_phone"][left], c["code_phone"][right]
    mail_conflict = (el >= 0) & (er >= 0) & (el != er) & (dl >= 0) & (dl == dr) & ~role & ~shared_l & ~shared_r
    mobile_conflict = (ml >= 0) & (mr >= 0) & (ml != mr) & (ml != pr) & (mr != pl)
    # ... and a numbered mailbox at the company's domain against any other (score._ID_CONFLICT_NUMBERED)
    numbered_conflict = (c["email_numbered"][left] | c["email_numbered"][right]) & (el != er)
    # ... and the mailboxes that say two people (score._MAIL_CONFLICT): not free mail, not one typo
    # apart, not one mailbox read twice by a card's OCR
    two_people = mail_conflict & ~c["email_is_freemail"][left] & ~c["email_is_freemail"][right]
    at = np.flatnonzero(two_people)
    if len(at):
        local_l, local_r = [str(x) for x in c["email_local"][left[at]]], [str(x) for x in c["email_local"][right[at]]]
        edits = cpdist(local_l, local_r, scorer=Levenshtein.distance, dtype=np.int64, workers=1)
        numbered = np.array([_TRAILING_DIGITS.sub("", a) == _TRAILING_DIGITS.sub("", b) for a, b in zip(local_l, local_r)],
                            dtype=bool)
        misread = np.array([ocr_mail_fold(a) == ocr_mail_fold(b) for a, b in zip(local_l, local_r)], dtype=bool)
        two_people[at] = ~(((edits <= 1) & ~numbered) | misread)
        two_people = one_name_in_two_mailboxes(
            two_people, levels, comps,
            lambda rows: ([str(x) for x in c["email_local"][left[rows]]], [str(x) for x in c["email_local"][right[rows]]]))
    return {
        "left": left.astype(np.int32), "right": right.astype(np.int32), "rule": rule.astype(np.int16),
        "levels": levels, "tf": tf, "swapped": swapped, "rare_address": rare, "id_conflict": mail_conflict | mobile_conflict | numbered_conflict,
        "mail_conflict": two_people,
        "rare_near": (rare_near_miss(levels[:, names.index("last_name")], levels[:, names.index("first_name")], swapped,
                                     c["n_last_name"][left], c["n_first_name"][left], c["n_last_name"][right],
                                     c["n_first_name"][right])
                      if "last_name" in names and "first_name" in names else np.zeros(n, dtype=bool)),
        # (as score.compute_levels: only where the names are compared)
        "nameless": (both_nameless(c["n_last_name"][left], c["n_first_name"][left], c["n_last_name"][right],
                                   c["n_first_name"][right])
                     if "last_name" in names and "first_name" in names else np.zeros(n, dtype=bool)),
    }
