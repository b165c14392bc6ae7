"""The matching stages on Spark: block -> score (EM on pattern counts) -> cluster.

Input is the normalized records as Parquet (what `nayose.spark.bridge.export_normalized` writes
from the DuckDB store); output is Parquet folders with the same tables the DuckDB engine writes
(`candidate_pairs`, `scored_pairs`, `clusters`) plus `stages.json` (the stage results and the
model). On the same data both engines give the same pairs, scores and clusters:

- blocking and comparison SQL is nayose.block's / nayose.score's DuckDB SQL, translated by
  nayose.spark.sql (sqlglot, engine-specific functions mapped explicitly);
- names are compared, levels, person-evidence gates and weights computed by the very numpy /
  rapidfuzz functions of nayose.score (`compute_levels`, `person_evidence`, `apply_model`), run
  on Arrow batches with `mapInArrow`;
- EM runs on the driver on the comparison-pattern counts from one GROUP BY
  (`build_model(..., pair_counts=...)`: the same counts give the same model);
- connected components by min-label propagation with pointer jumping, checkpointed each round.

Nothing here imports Dagster.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from nayose.block import filled_sql, key_rows_sql, rule_columns, rule_limit, rule_stats
from nayose.cluster import CONTRADICTING_GATES
from nayose.config import Config
from nayose.score import (
    SHARES,
    COMPARISONS,
    RANDOM_PAIRS,
    GATE_COUNTS,
    RAISED_GATES,
    Comparison,
    Model,
    _feature_sql,
    _random_pairs,
    active_comparisons,
    apply_model,
    build_model,
    compute_levels,
    gate_stats,
    home_address_max,
    household_review,
    judged_homes,
    mail_conflict_of,
    pair_levels_sql,
    person_evidence,
)
from nayose.spark.sql import expr_to_spark, register_udfs, to_spark
from nayose.stage import StageResult, timed

SOURCE = "normalized_records"
MAX_CC_ROUNDS = 200


class _Clock:
    """Seconds per step of a stage (reported in stages.json, not in the stage's stats)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.steps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(now - self.t, 3)
        self.t = now


def _join(base: str, name: str) -> str:
    """A path under `base`, local or a URI (hdfs://, s3://, dbfs:/ …: pathlib would mangle those)."""
    return f"{str(base).rstrip('/')}/{name}"


def _is_local(path: str) -> bool:
    return "://" not in str(path) and not str(path).startswith("dbfs:")


def _materialize(df, path: str):
    """Write `df` to Parquet and read it back: a checkpoint that cuts the lineage."""
    df.write.mode("overwrite").parquet(str(path))
    return df.sparkSession.read.parquet(str(path))


# ---------------------------------------------------------------------------------------------
# Block


def active_rules(spark, config: Config, records) -> list:
    """Rules whose key columns all exist and are filled somewhere (as nayose.block.active_rules)."""
    from pyspark.sql import functions as F

    cols = set(records.columns)
    candidates = [r for r in config.matching.blocking_rules if set(rule_columns(r)) <= cols]
    if not candidates:
        return []
    checks = []
    for no, rule in enumerate(candidates):
        filled = " AND ".join(filled_sql(k) for k in rule.keys)
        checks.append(F.max(F.expr(expr_to_spark(filled)).cast("int")).alias(f"r{no}"))
    row = records.agg(*checks).collect()[0]
    return [rule for no, rule in enumerate(candidates) if row[f"r{no}"] == 1]


def block_keys_all_sql(rules: list, limits: list[int], source: str = SOURCE) -> str:
    """Every rule's block keys in one query (Spark dialect): per record and rule with all keys
    filled (a key with alternatives: a row per value), the rule, the 64-bit hash of its keys
    (nayose.block.key_rows_sql's values, translated), the block's size and the rule's limit. One
    pass and one shuffle for all rules, where a query per rule would cost a few Spark stages each."""
    parts = []
    for no, (rule, limit) in enumerate(zip(rules, limits)):
        keys = ", ".join(f"_k{i}" for i in range(len(rule.keys)))
        parts.append(
            f"SELECT {no} AS rule_no, {limit} AS block_limit, rec_idx, "
            f"{expr_to_spark(f'hash({keys})')} AS bkey, "
            f"CAST({expr_to_spark(f'[{keys}]')} AS ARRAY<STRING>) AS bval "
            f"FROM ({to_spark(key_rows_sql(rule, source))})"
        )
    union = " UNION ALL ".join(parts)
    return f"SELECT *, COUNT(*) OVER (PARTITION BY rule_no, bkey, bval) AS bsize FROM ({union})"


def block(spark, config: Config, out: str) -> tuple[StageResult, object]:
    """Candidate pairs (left_idx < right_idx, rule_no of the first rule that produced them),
    written to out/candidate_pairs. As nayose.block.block_pairs: blocks above a rule's limit are
    skipped and reported (never one n-squared task); pairs are joined on the 64-bit key hash."""
    from pyspark.sql import functions as F

    result = StageResult(stage="block", table="candidate_pairs")
    with timed(result):
        records = spark.table(SOURCE)
        rules = active_rules(spark, config, records)
        limits = [rule_limit(rule, config) for rule in rules]
        schema = "left_idx INT, right_idx INT, rule_no SMALLINT"
        per_rule: dict[str, dict] = {}
        skipped_rows: dict[int, tuple] = {}
        if rules:
            keys = spark.sql(block_keys_all_sql(rules, limits)).persist()
            keys.createOrReplaceTempView("_block_keys_all")
            skipped_rows = {
                r[0]: tuple(r[1:])
                for r in spark.sql(
                    """SELECT rule_no, count(*), sum(bsize), max(bsize) FROM (
                           SELECT rule_no, bkey, max(bsize) AS bsize FROM _block_keys_all
                           WHERE bsize > block_limit GROUP BY rule_no, bkey, bval)
                       GROUP BY rule_no"""
                ).collect()
            }
            raw = spark.sql(
                """SELECT CAST(a.rec_idx AS INT) AS left_idx, CAST(b.rec_idx AS INT) AS right_idx,
                          CAST(a.rule_no AS SMALLINT) AS rule_no
                   FROM _block_keys_all a JOIN _block_keys_all b
                     ON a.rule_no = b.rule_no AND a.bkey = b.bkey AND a.bval = b.bval AND a.rec_idx < b.rec_idx
                   WHERE a.bsize <= a.block_limit"""
            ).persist()
        else:
            raw = spark.createDataFrame([], schema)
        for no, rule in enumerate(rules):
            skipped = skipped_rows.get(no, (0, 0, 0))
            per_rule[rule.name] = rule_stats(rule, skipped)
        pairs = raw.groupBy("left_idx", "right_idx").agg(F.min("rule_no").alias("rule_no"))
        pairs = _materialize(pairs, _join(out, "candidate_pairs"))
        raw_counts = {r[0]: r[1] for r in raw.groupBy("rule_no").count().collect()}
        first_counts = {r[0]: r[1] for r in pairs.groupBy("rule_no").count().collect()}
        raw.unpersist()
        if rules:
            keys.unpersist()
        for no, rule in enumerate(rules):
            per_rule[rule.name]["comparisons"] = int(raw_counts.get(no, 0))
            per_rule[rule.name]["new_pairs"] = int(first_counts.get(no, 0))
        total = int(sum(first_counts.values()))
        result.rows = total
        result.stats = {"rules": per_rule, "rule_names": [r.name for r in rules], "candidate_pairs": total}
    return result, pairs


# ---------------------------------------------------------------------------------------------
# Score


def _present_columns(records) -> tuple[dict[str, bool], int]:
    """(column -> has a value somewhere, number of records), in one pass."""
    from pyspark.sql import functions as F

    row = records.agg(
        *[(F.count(F.col(f"`{c}`")) > 0).alias(c) for c in records.columns], F.count(F.lit(1)).alias("__n")
    ).collect()[0]
    return {c: bool(row[c]) for c in records.columns}, int(row["__n"])


def _tf_populations(records, present: dict[str, bool]) -> dict[str, int]:
    """score.tf_populations on Spark: records with a value per share column, phone numbers."""
    from pyspark.sql import functions as F

    cols = [c for c in SHARES if c in present]
    nums = [c for c in ("phone", "mobile") if c in present]
    row = records.agg(*[F.count(F.col(f"`{c}`")).alias(c) for c in cols + nums]).collect()[0] if cols + nums else {}
    out = {c: int(row[c]) if c in cols else 0 for c in SHARES}
    out["phones"] = sum(int(row[c]) for c in nums)
    return out


def _level_schema(comps: list[Comparison]) -> str:
    cols = ["left_idx INT", "right_idx INT", "rule_no SMALLINT"]
    cols += [f"lvl_{c.name} TINYINT" for c in comps]
    cols += [f"tf_{c.name} FLOAT" for c in comps]
    cols += ["swapped BOOLEAN", "rare_address BOOLEAN", "tier TINYINT", "conflict BOOLEAN", "mail_conflict BOOLEAN"]
    return ", ".join(cols)


def _levels_fn(comps: list[Comparison], household_review: bool):
    """mapInArrow body: the pair query's batches -> levels, term-frequency shares and gates."""

    def fn(batches):
        from nayose.score import _bools, _col

        for batch in batches:
            if batch.num_rows == 0:
                continue
            lv, tf, flags = compute_levels(batch, comps)
            mail_conflict = mail_conflict_of(batch, lv, comps)
            tier, conflict = person_evidence(lv, comps, flags["rare_address"], household_review,
                                             mail_conflict, flags["rare_near"], _bools(batch, "id_conflict"),
                                             flags["nameless"])
            conflict = conflict | _bools(batch, "id_conflict")
            cols = {
                "left_idx": _col(batch, "left_idx").cast(pa.int32()),
                "right_idx": _col(batch, "right_idx").cast(pa.int32()),
                "rule_no": _col(batch, "rule_no").cast(pa.int16()),
            }
            for j, c in enumerate(comps):
                cols[f"lvl_{c.name}"] = pa.array(lv[:, j], pa.int8())
            for j, c in enumerate(comps):
                cols[f"tf_{c.name}"] = pa.array(tf[:, j], pa.float32(), from_pandas=False)
            cols["swapped"] = pa.array(flags["swapped"])
            cols["rare_address"] = pa.array(flags["rare_address"])
            cols["tier"] = pa.array(tier, pa.int8())
            cols["conflict"] = pa.array(conflict)
            cols["mail_conflict"] = pa.array(mail_conflict)
            yield pa.RecordBatch.from_pydict(cols)

    return fn


def _scored_schema(comps: list[Comparison]) -> str:
    cols = [
        "left_idx INT", "right_idx INT", "rule_no SMALLINT", "match_weight FLOAT", "match_probability DOUBLE",
        "gate TINYINT", "name_swapped BOOLEAN",
    ]
    for c in comps:
        cols += [f"lvl_{c.name} TINYINT", f"w_{c.name} FLOAT"]
    cols += ["raw_probability DOUBLE", "tier TINYINT", "conflict BOOLEAN"]
    return ", ".join(cols)


def _apply_fn(comps: list[Comparison], model: Model | None, config: Config):
    """mapInArrow body: levels -> weights, match probability and gate (nayose.score.apply_model)."""

    def fn(batches):
        from nayose.score import _col

        for batch in batches:
            if batch.num_rows == 0:
                continue
            k = len(comps)
            levels = np.empty((batch.num_rows, k), dtype=np.int8)
            tfs = np.empty((batch.num_rows, k), dtype=np.float32)
            for j, c in enumerate(comps):
                levels[:, j] = _col(batch, f"lvl_{c.name}").to_numpy(zero_copy_only=False)
                tfs[:, j] = _col(batch, f"tf_{c.name}").to_numpy(zero_copy_only=False)
            tier = _col(batch, "tier").to_numpy(zero_copy_only=False).astype(np.int8)
            conflict = _col(batch, "conflict").to_numpy(zero_copy_only=False).astype(bool)
            mail_conflict = _col(batch, "mail_conflict").to_numpy(zero_copy_only=False).astype(bool)
            home = _col(batch, "rare_address").to_numpy(zero_copy_only=False).astype(bool)
            weights, total, prob, capped, gate = apply_model(levels, tfs, tier, conflict, model, config, mail_conflict, home)
            cols = {
                "left_idx": _col(batch, "left_idx"),
                "right_idx": _col(batch, "right_idx"),
                "rule_no": _col(batch, "rule_no"),
                "match_weight": pa.array(total.astype(np.float32)),
                "match_probability": pa.array(capped.astype(np.float64)),
                "gate": pa.array(gate, pa.int8()),
                "name_swapped": _col(batch, "swapped"),
            }
            for j, c in enumerate(comps):
                cols[f"lvl_{c.name}"] = pa.array(levels[:, j], pa.int8())
                cols[f"w_{c.name}"] = pa.array(weights[:, j], pa.float32())
            cols["raw_probability"] = pa.array(prob.astype(np.float64))
            cols["tier"] = pa.array(tier, pa.int8())
            cols["conflict"] = pa.array(conflict)
            yield pa.RecordBatch.from_pydict(cols)

    return fn


#: The column nayose.spark.bridge.export_normalized adds when the store has business Accounts.
BUSINESS_ACCOUNT = "business_account"


def _people_random_pairs(records, n_records: int):
    """score._random_pairs among the people: with business Accounts flagged (BUSINESS_ACCOUNT), their
    numbers are skipped as the DuckDB engine skips them (record numbers are 0..n-1 here: a full
    run's). Returns (the pairs, the number of people)."""
    from nayose.score import numbers_without

    if BUSINESS_ACCOUNT not in records.columns:
        return _random_pairs(n_records, RANDOM_PAIRS), n_records
    companies = records.where(f"`{BUSINESS_ACCOUNT}`").select("rec_idx").toArrow()
    skipped = np.sort(companies.column(0).to_numpy().astype(np.int64)) if companies.num_rows else np.zeros(0, np.int64)
    n_people = n_records - len(skipped)
    pairs = _random_pairs(n_people, RANDOM_PAIRS)
    if not len(skipped):
        return pairs, n_people
    return pa.table({
        "left_idx": pa.array(numbers_without(pairs.column("left_idx").to_numpy().astype(np.int64), skipped).astype(np.int32)),
        "right_idx": pa.array(numbers_without(pairs.column("right_idx").to_numpy().astype(np.int64), skipped).astype(np.int32)),
        "rule_no": pairs.column("rule_no"),
    }), n_people


def score(spark, config: Config, out: str, model: Model | None = None) -> tuple[StageResult, object, Model | None]:
    """Scored pairs, as nayose.score.score_pairs writes them (plus raw_probability, tier,
    conflict), written to out/scored_pairs; intermediate tables go to out/_work."""
    from pyspark.sql import functions as F

    work = _join(out, "_work")

    result = StageResult(stage="score", table="scored_pairs")
    th = config.matching.thresholds
    with timed(result):
        records = spark.table(SOURCE)
        filled, n_records = _present_columns(records)
        present = {k: v for k, v in filled.items() if v}
        comps = active_comparisons(present)
        k = len(comps)
        clock = _Clock()
        features = _materialize(spark.sql(to_spark(_feature_sql(SOURCE, present))), _join(work, "_score_features"))
        features.createOrReplaceTempView("_score_features")
        clock.lap("features")
        household = household_review(config, comps)
        level_schema = _level_schema(comps)
        cand = spark.sql(to_spark(pair_levels_sql("SELECT left_idx, right_idx, rule_no FROM candidate_pairs",
                                                  rare_max=home_address_max(household))))
        levels = _materialize(cand.mapInArrow(_levels_fn(comps, household), level_schema), _join(work, "_pair_levels"))
        clock.lap("pair levels")

        given = model
        if given is not None:
            if [c.name for c in given.comparisons] != [c.name for c in comps]:
                raise ValueError(
                    f"the given model compares {[c.name for c in given.comparisons]}, the data {[c.name for c in comps]}"
                )
            n_random = 0
        elif k:
            # u from the same deterministic random pairs as the DuckDB engine: among the people only
            # (business Accounts, flagged by the bridge, are left out of them and of the prior).
            rand_table, n_people = _people_random_pairs(records, n_records)
            spark.createDataFrame(rand_table.to_pandas()).createOrReplaceTempView("_random_pairs")
            rand_sql = to_spark(pair_levels_sql("SELECT left_idx, right_idx, rule_no FROM _random_pairs"))
            rand = spark.sql(rand_sql).mapInArrow(_levels_fn(comps, household), level_schema)
            rand_arrow = rand.select(*[f"lvl_{c.name}" for c in comps]).toArrow()
            rand_levels = np.column_stack(
                [rand_arrow.column(j).to_numpy().astype(np.int8) for j in range(k)]
            ) if rand_arrow.num_rows else np.zeros((0, k), dtype=np.int8)
            n_random = int(len(rand_levels))
            clock.lap("random pairs")
            # EM on the comparison-pattern counts: one GROUP BY on the cluster.
            lvl_cols = [f"lvl_{c.name}" for c in comps]
            counts = levels.groupBy(*lvl_cols, "tier", "rare_address").count().toArrow()
            patterns = np.column_stack(
                [counts.column(c).to_numpy().astype(np.int8) for c in lvl_cols]
            ) if counts.num_rows else np.zeros((0, k), dtype=np.int8)
            tiers = counts.column("tier").to_numpy().astype(np.int8) if counts.num_rows else np.zeros(0, dtype=np.int8)
            pair_counts = counts.column("count").to_numpy().astype(np.int64) if counts.num_rows else np.zeros(0, dtype=np.int64)
            homes = counts.column("rare_address").to_numpy(zero_copy_only=False).astype(bool) \
                if counts.num_rows else np.zeros(0, dtype=bool)
            model = build_model(
                patterns, tiers, rand_levels, comps, n_people, config.matching.em_iterations, None, pair_counts,
                home=homes if judged_homes(config, household) else None,
            )
            model.sessions["tf_populations"] = _tf_populations(records, present)
            clock.lap("pattern counts + EM")
        else:
            model, n_random = None, 0

        scored = _materialize(levels.mapInArrow(_apply_fn(comps, model, config), _scored_schema(comps)), _join(out, "scored_pairs"))
        clock.lap("apply model")
        agg = scored.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum((F.col("match_probability") >= th.auto).cast("long")).alias("auto"),
            F.sum(((F.col("match_probability") >= th.review) & (F.col("match_probability") < th.auto)).cast("long")).alias("review"),
            F.sum((F.col("match_probability") < th.review).cast("long")).alias("below"),
            F.sum(((F.col("tier") == 0) & (F.col("raw_probability") >= th.review)).cast("long")).alias("c0"),
            F.sum(((F.col("tier") == 1) & (F.col("raw_probability") >= th.auto)).cast("long")).alias("c1"),
            F.sum((F.col("conflict") & (F.col("tier") == 2) & (F.col("raw_probability") >= th.auto)).cast("long")).alias("c2"),
            F.sum(((F.col("gate") == 7) & (F.col("raw_probability") >= th.review)).cast("long")).alias("c7"),
            *[F.sum((F.col("gate") == g).cast("long")).alias(f"r{g}") for g in RAISED_GATES],
        ).collect()[0]
        result.rows = int(agg["rows"])
        result.stats = {
            "comparisons": [c.name for c in comps],
            "model": model.as_dict() if model else None,
            "random_pairs": n_random,
            "pairs_auto": int(agg["auto"] or 0),
            "pairs_review": int(agg["review"] or 0),
            "pairs_below_review": int(agg["below"] or 0),
        } | gate_stats(model, {k: int(agg[k] or 0) for k in GATE_COUNTS if k not in ("auto", "review", "below")})
        clock.lap("stats")
        result.step_seconds = clock.steps
    return result, scored, model


# ---------------------------------------------------------------------------------------------
# Cluster


def min_label_components(spark, vertices, edges, name: str) -> tuple[object, int]:
    """Connected components: (rec_idx, label = smallest rec_idx of its component) for `vertices`
    (a one-column DataFrame `rec_idx`), by min-label propagation with pointer jumping, the labels
    checkpointed (written and read back) every round. Returns the labels and the rounds run."""
    from pyspark.sql import functions as F

    both = edges.select(F.col("left_idx").alias("src"), F.col("right_idx").alias("dst")).unionAll(
        edges.select(F.col("right_idx").alias("src"), F.col("left_idx").alias("dst"))
    )
    both = both.persist()
    labels = vertices.select("rec_idx", F.col("rec_idx").alias("label")).checkpoint(eager=True)
    rounds = 0
    for rounds in range(1, MAX_CC_ROUNDS + 1):
        # Each vertex takes the smallest label among itself and its neighbours ...
        msgs = both.join(labels.withColumnRenamed("rec_idx", "src"), "src").groupBy("dst").agg(F.min("label").alias("nb"))
        step = (
            labels.join(msgs.withColumnRenamed("dst", "rec_idx"), "rec_idx", "left")
            .select("rec_idx", F.col("label").alias("old"), F.least("label", F.coalesce("nb", "label")).alias("label"))
        )
        # ... then jumps to its label's label (halves chains each round).
        jump = step.alias("a").join(step.alias("b"), F.col("a.label") == F.col("b.rec_idx"), "left").select(
            F.col("a.rec_idx").alias("rec_idx"),
            F.least(F.col("a.label"), F.coalesce(F.col("b.label"), F.col("a.label"))).alias("label"),
            F.col("a.old").alias("old"),
        )
        new = jump.checkpoint(eager=True)  # cuts the lineage that grows each round
        changed = new.where(F.col("label") != F.col("old")).limit(1).count()  # read from the checkpoint
        labels = new.select("rec_idx", "label")
        if changed == 0:
            break
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_CC_ROUNDS} rounds")
    return labels, rounds


def cluster(spark, config: Config, scored, out_dir: str) -> tuple[StageResult, object]:
    """`clusters(rec_idx, Id, cluster_id, status, cluster_size)`, as nayose.cluster.cluster_records."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    result = StageResult(stage="cluster", table="clusters")
    th = config.matching.thresholds
    with timed(result):
        records = spark.table(SOURCE).select(F.col("rec_idx").cast("int").alias("rec_idx"), F.col("id").alias("Id"))
        linked = scored.where(F.col("match_probability") >= float(th.review)).select("left_idx", "right_idx", "match_probability")
        auto_edges = linked.where(F.col("match_probability") >= th.auto)
        touched = linked.select(F.col("left_idx").alias("rec_idx")).union(linked.select(F.col("right_idx").alias("rec_idx"))).distinct()
        touched = touched.persist()
        clock = _Clock()
        labels, rounds_all = min_label_components(spark, touched, linked, "all")
        clock.lap("components (all links)")
        auto_vertices = auto_edges.select(F.col("left_idx").alias("rec_idx")).union(
            auto_edges.select(F.col("right_idx").alias("rec_idx"))).distinct()
        auto_labels, rounds_auto = min_label_components(spark, auto_vertices, auto_edges, "auto")
        clock.lap("components (auto links)")

        n = records.count()
        rec = (
            records.join(labels, "rec_idx", "left")
            .join(auto_labels.withColumnRenamed("label", "alabel"), "rec_idx", "left")
            .join(touched.withColumn("linked", F.lit(True)), "rec_idx", "left")
            .select(
                "rec_idx", "Id",
                F.coalesce("label", "rec_idx").alias("label"),
                F.coalesce("alabel", "rec_idx").alias("alabel"),
                F.coalesce("linked", F.lit(False)).alias("linked"),
            )
        )
        by_label = Window.partitionBy("label")
        rec = rec.withColumn("size", F.count(F.lit(1)).over(by_label))
        rec = rec.withColumn("too_big", F.col("size") > config.cluster.max_size)
        # Oversized groups split into their auto-linked parts (group key past n, as in DuckDB).
        rec = rec.withColumn(
            "grp", F.when(F.col("too_big"), F.col("alabel").cast("long") + F.lit(n)).otherwise(F.col("label").cast("long"))
        )
        by_group = Window.partitionBy("grp")
        rec = (
            rec.withColumn("gsize", F.count(F.lit(1)).over(by_group))
            .withColumn("uniform", F.min("alabel").over(by_group) == F.max("alabel").over(by_group))
            .withColumn("cluster_id", F.min("Id").over(by_group))
        )
        status = (
            F.when((F.col("gsize") > 1) & F.col("uniform") & (F.col("gsize") <= config.cluster.max_auto_size), "auto")
            .when((F.col("gsize") > 1) | F.col("linked"), "review")
            .otherwise("single")
        )
        rec = rec.withColumn("status", status)
        rec = rec.persist()
        # Chaining guard: a pair inside an auto group that was scored below review, or capped by a
        # gate whose evidence says two people (nayose.cluster.chain_guard).
        a, b = rec.alias("a"), rec.alias("b")
        chained = (
            scored.alias("p")
            .join(a, F.col("a.rec_idx") == F.col("p.left_idx"))
            .join(b, F.col("b.rec_idx") == F.col("p.right_idx"))
            .where(
                (F.col("a.cluster_id") == F.col("b.cluster_id")) & (F.col("a.status") == "auto")
                & ((F.col("p.match_probability") < float(th.review)) | F.col("p.gate").isin(*CONTRADICTING_GATES))
            )
            .select(F.col("a.cluster_id").alias("chained_id"))
            .distinct()
        )
        chained = chained.persist()
        n_chained = chained.count()
        out = (
            rec.join(chained, rec.cluster_id == chained.chained_id, "left")
            .select(
                F.col("rec_idx").cast("int").alias("rec_idx"), "Id", "cluster_id",
                F.when(F.col("chained_id").isNotNull(), F.lit("review")).otherwise(F.col("status")).alias("status"),
                F.col("gsize").cast("int").alias("cluster_size"),
            )
        )
        out = _materialize(out, _join(out_dir, "clusters"))
        per_status = out.groupBy("status").agg(F.countDistinct("cluster_id").alias("g"), F.count(F.lit(1)).alias("r")).collect()
        counts = {r["status"]: r["g"] for r in per_status}
        rec_counts = {r["status"]: r["r"] for r in per_status}
        facts = rec.agg(
            F.max("size").alias("largest"),
            F.countDistinct(F.when(F.col("too_big"), F.col("label"))).alias("split"),
        ).collect()[0]
        result.rows = int(n)
        result.stats = {
            "clusters": {s: int(counts.get(s, 0)) for s in ("auto", "review", "single")},
            "records": {s: int(rec_counts.get(s, 0)) for s in ("auto", "review", "single")},
            "largest_cluster": int(facts["largest"] or 0) if n else 0,
            "split_groups": int(facts["split"] or 0),
            "chain_guarded_groups": int(n_chained),
        }
        clock.lap("groups, status, chaining guard")
        result.components_rounds = {"all": rounds_all, "auto": rounds_auto}  # reported in stages.json
        result.step_seconds = clock.steps
    return result, out


# ---------------------------------------------------------------------------------------------
# The run


def model_to_dict(model: Model | None) -> dict | None:
    """The exact model (m, u, weights as floats; prior), for the bridge to rebuild it."""
    if model is None:
        return None
    return {
        "comparisons": [c.name for c in model.comparisons],
        "m": [[float(x) for x in a] for a in model.m],
        "u": [[float(x) for x in a] for a in model.u],
        "weights": [[float(x) for x in a] for a in model.weights],
        "prior": float(model.prior),
        "sessions": model.sessions,
    }


def model_from_dict(d: dict | None) -> Model | None:
    if not d:
        return None
    by_name = {c.name: c for c in COMPARISONS}
    return Model(
        [by_name[n] for n in d["comparisons"]],
        [np.array(a, dtype=np.float64) for a in d["m"]],
        [np.array(a, dtype=np.float64) for a in d["u"]],
        float(d["prior"]),
        [np.array(a, dtype=np.float64) for a in d["weights"]],
        d.get("sessions") or {},
    )


def run_matching(spark, normalized_parquet: str | Path, out_dir: str | Path, config: Config) -> dict:
    """Block, score and cluster the normalized records at `normalized_parquet` on `spark`; write
    candidate_pairs/, scored_pairs/, clusters/ (Parquet) and stages.json to `out_dir`."""
    out = str(out_dir)
    work = _join(out, "_work")
    if _is_local(out):
        Path(out).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    register_udfs(spark)
    # Checkpoints of the components' rounds: $NAYOSE_SPARK_CHECKPOINT_DIR (a cluster's HDFS / S3
    # path), else beside the run's other intermediate tables.
    spark.sparkContext.setCheckpointDir(os.environ.get("NAYOSE_SPARK_CHECKPOINT_DIR") or _join(work, "checkpoints"))
    records = spark.read.parquet(str(normalized_parquet))
    records.createOrReplaceTempView(SOURCE)
    block_result, pairs = block(spark, config, out)
    pairs.createOrReplaceTempView("candidate_pairs")
    score_result, scored, model = score(spark, config, out)
    cluster_result, _ = cluster(spark, config, scored, out)
    stages = {
        "stages": [asdict(r) for r in (block_result, score_result, cluster_result)],
        "model": model_to_dict(model),
        "components_rounds": getattr(cluster_result, "components_rounds", None),
        "step_seconds": {r.stage: getattr(r, "step_seconds", None) for r in (score_result, cluster_result)},
        "seconds": round(time.perf_counter() - started, 3),
        "spark": {"master": spark.sparkContext.master, "version": spark.version,
                  "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions")},
    }
    text = json.dumps(stages, ensure_ascii=False, indent=2, default=_json_default)
    if _is_local(out):
        (Path(out) / "stages.json").write_text(text, encoding="utf-8")
    else:  # a cluster's storage: one text file written by Spark (nayose.spark.bridge reads either)
        spark.createDataFrame([(json.dumps(json.loads(text)),)], "value STRING").coalesce(1).write.mode("overwrite").text(
            _join(out, "stages")
        )
    return stages


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        f = float(obj)
        return None if math.isnan(f) else f
    return str(obj)
