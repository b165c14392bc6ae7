"""Benchmark and check of incremental matching (nayose/incremental.py) on the built-in sample.

1. A full run on the sample (default 100,000 records) into a DuckDB store: the previous night.
2. A changed snapshot: 1% of the records touched (half of them edited — email, phone, title or
   company —, a quarter new duplicates of existing people under new Ids, a quarter deleted).
3. The incremental run on the changed snapshot and on the changed records only (timed), and on a
   copy of the previous store a full run on the same snapshot with the previous model (timed):
   they must give the same candidate pairs, pair probabilities and groups. Also timed: a full run
   as `nayose plan` does it (the model estimated again), and how many group rows differ from it.

    python bench/incremental_bench.py                    # 100k, 1% changed
    python bench/incremental_bench.py --records 20000 --share 0.01
    python bench/incremental_bench.py --accounts         # the org with its business Accounts

Prints the full vs incremental times per stage (median of --repeat alternating runs, default 3);
writes bench/out/incremental_bench.json (incremental_bench_accounts.json with --accounts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"


def make_changed_snapshot(src: Path, dst: Path, share: float = 0.01, seed: int = 5) -> dict:
    """Write dst: src with `share` of its records touched (edited / new duplicates / deleted)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{src}', all_varchar=true, header=true)")
    cols = [c[0] for c in con.execute("DESCRIBE t").fetchall()]
    n = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    k = max(int(n * share), 4)
    n_edit, n_new = k // 2, k // 4
    n_del = k - n_edit - n_new
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute("CREATE TABLE pick AS SELECT \"Id\", row_number() OVER () AS i FROM (SELECT \"Id\" FROM t ORDER BY random())")
    edits = {
        "Email": "CASE WHEN i % 4 = 0 THEN 'changed' || i || '@example.org' ELSE t.\"Email\" END",
        "Phone": "CASE WHEN i % 4 = 1 THEN '03-5555-' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0') ELSE t.\"Phone\" END",
        "Title": "CASE WHEN i % 4 = 2 THEN '部長' ELSE t.\"Title\" END",
        "Company": "CASE WHEN i % 4 = 3 THEN coalesce(t.\"Company\", '') || ' 新社' ELSE t.\"Company\" END",
    }
    sel = ", ".join(f'{edits[c]} AS "{c}"' if c in edits else f't."{c}"' for c in cols)
    con.execute(f"UPDATE t SET {', '.join(f'{q} = x.{q}' for q in [chr(34) + c + chr(34) for c in edits if c in cols])} "
                f"FROM (SELECT {sel}, p.i FROM t JOIN pick p USING (\"Id\") WHERE p.i <= {n_edit}) x WHERE t.\"Id\" = x.\"Id\"")
    # New duplicates: copies of existing records under new Ids (same prefix), title changed.
    new_sel = ", ".join(
        f"left(t.\"Id\", 3) || 'N{seed % 100:02d}' || lpad(CAST(p.i AS VARCHAR), 12, '0') AS \"Id\"" if c == "Id"
        else "'担当' AS \"Title\"" if c == "Title" else f't."{c}"'
        for c in cols
    )
    con.execute(f"CREATE TABLE added AS SELECT {new_sel} FROM t JOIN pick p USING (\"Id\") "
                f"WHERE p.i > {n_edit} AND p.i <= {n_edit + n_new}")
    con.execute(f"DELETE FROM t WHERE \"Id\" IN (SELECT \"Id\" FROM pick WHERE i > {n_edit + n_new} AND i <= {k})")
    con.execute("INSERT INTO t SELECT * FROM added")
    con.execute(f"COPY (SELECT * FROM t ORDER BY \"Id\") TO '{dst}' (HEADER, DELIMITER ',')")
    con.close()
    return {"records_before": int(n), "edited": n_edit, "new": n_new, "deleted": n_del}


def write_changes(before: Path, after: Path, changes: Path, deleted: Path) -> dict:
    """What an incremental export of `after` since `before` holds: the rows new or changed
    (`changes`, same columns) and the Ids gone (`deleted`, a CSV with an Id column)."""
    con = duckdb.connect()
    for name, src in (("b", before), ("a", after)):
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{src}', all_varchar=true, header=true)")
    con.execute(f"COPY (SELECT * FROM (SELECT * FROM a EXCEPT SELECT * FROM b) ORDER BY \"Id\") TO '{changes}' (HEADER, DELIMITER ',')")
    con.execute(f"COPY (SELECT \"Id\" FROM b ANTI JOIN a USING (\"Id\") ORDER BY 1) TO '{deleted}' (HEADER, DELIMITER ',')")
    out = {"changed_rows": con.execute(f"SELECT count(*) FROM read_csv('{changes}', all_varchar=true)").fetchall()[0][0],
           "deleted_ids": con.execute(f"SELECT count(*) FROM read_csv('{deleted}', all_varchar=true)").fetchall()[0][0]}
    con.close()
    return out


def compare(a: duckdb.DuckDBPyConnection, b_path: Path) -> dict:
    """Differences between the store `a` and the store file `b_path`: records, pairs,
    probabilities, groups. Records and pairs are compared by Id (an incremental run keeps record
    numbers that a full run assigns afresh)."""
    a.execute(f"ATTACH '{b_path}' AS other (READ_ONLY)")

    def by_id(db: str, table: str, cols: str) -> str:
        return (f"SELECT l.id AS left_id, r.id AS right_id, {cols} FROM {db}.{table} p "
                f"JOIN {db}.normalized_records l ON l.rec_idx = p.left_idx JOIN {db}.normalized_records r ON r.rec_idx = p.right_idx")

    def differences(x: str, y: str) -> int:
        return int(a.execute(f"SELECT count(*) FROM (({x} EXCEPT ALL {y}) UNION ALL ({y} EXCEPT ALL {x}))").fetchall()[0][0])

    try:
        pairs_a = a.execute("SELECT count(*) FROM candidate_pairs").fetchall()[0][0]
        diff_pairs = differences(by_id("main", "candidate_pairs", "p.rule_no"), by_id("other", "candidate_pairs", "p.rule_no"))
        max_prob = a.execute(
            f"""SELECT coalesce(max(abs(x.match_probability - y.match_probability)), 0)
                FROM ({by_id("main", "scored_pairs", "p.match_probability")}) x
                JOIN ({by_id("other", "scored_pairs", "p.match_probability")}) y USING (left_id, right_id)"""
        ).fetchall()[0][0]
        diff_clusters = differences('SELECT "Id", cluster_id, status, cluster_size FROM main.clusters',
                                    'SELECT "Id", cluster_id, status, cluster_size FROM other.clusters')
        diff_norm = differences("SELECT * EXCLUDE (rec_idx) FROM main.normalized_records",
                                "SELECT * EXCLUDE (rec_idx) FROM other.normalized_records")
        diff_scored = differences(by_id("main", "scored_pairs", "p.* EXCLUDE (left_idx, right_idx)"),
                                  by_id("other", "scored_pairs", "p.* EXCLUDE (left_idx, right_idx)"))
        groups = a.execute("SELECT count(DISTINCT cluster_id) FROM clusters WHERE status <> 'single'").fetchall()[0][0]
        # business Accounts (nayose.accounts), when the input has them: their tables, by Id
        accounts = {t: differences(f"SELECT {c} FROM main.{t}", f"SELECT {c} FROM other.{t}")
                    for t, c in (("account_pairs", "* EXCLUDE (left_idx, right_idx)"),
                                 ("account_conflicts", "* EXCLUDE (left_idx, right_idx)"),
                                 ("normalized_accounts", "* EXCLUDE (rec_idx)"))
                    if a.execute(f"SELECT count(DISTINCT database_name) FROM duckdb_tables() WHERE table_name = '{t}' "
                                 "AND database_name IN (current_database(), 'other')").fetchall()[0][0] == 2}
    finally:
        a.execute("DETACH other")
    return {"candidate_pairs": int(pairs_a), "pair_differences": diff_pairs, "max_probability_difference": float(max_prob),
            "cluster_row_differences": diff_clusters, "normalized_row_differences": diff_norm,
            "scored_row_differences": diff_scored, "groups": int(groups),
            "account_row_differences": sum(accounts.values()), "account_tables_compared": sorted(accounts)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--share", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3, help="full and incremental runs, alternately (median reported)")
    ap.add_argument("--accounts", action="store_true",
                    help="the sample org with its business Account export (nayose sample --accounts) in the same file")
    args = ap.parse_args(argv)

    from nayose.config import load_config
    from nayose.incremental import incremental_run
    from nayose.pipeline import run_stages
    from nayose.sample import write_sample
    from nayose.score import load_model
    from nayose.store import connect

    work = OUT / f"incremental_{args.records}{'_accounts' if args.accounts else ''}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    base = work / "base.csv"
    changed = work / "changed.csv"
    if args.accounts:
        # People and Accounts in one export (the changes then touch Accounts too: a switchboard, a name)
        people, accounts = work / "people.csv", work / "accounts.csv"
        write_sample(args.records, args.seed, people, work / "base.truth.csv", accounts_csv=accounts)
        duckdb.execute(f"""COPY (SELECT * FROM read_csv('{people}', all_varchar=true, header=true)
                               UNION ALL BY NAME SELECT * FROM read_csv('{accounts}', all_varchar=true, header=true)
                               ORDER BY "Id") TO '{base}' (HEADER, DELIMITER ',')""")
    else:
        write_sample(args.records, args.seed, base, work / "base.truth.csv")
    config = load_config(None)

    prev_db = work / "previous.duckdb"
    con = connect(prev_db)
    t0 = time.perf_counter()
    # The previous night: no previous run yet, so a full run that also writes the incremental state.
    first = incremental_run(con, [base], config)
    first_full = time.perf_counter() - t0
    assert first.mode == "full", first.reason
    con.close()
    del con
    changes = make_changed_snapshot(base, changed, args.share)
    # What an incremental export (the nightly Salesforce extract) gives instead of the whole snapshot.
    delta_csv, deleted_csv = work / "changes.csv", work / "deleted.csv"
    changes |= write_changes(base, changed, delta_csv, deleted_csv)
    from nayose.cli import read_id_list

    deleted_ids = read_id_list(str(deleted_csv))

    # Full run (same model) and incremental run, each on a fresh copy of the previous night's
    # store, alternately --repeat times (the machine may be busy: the median is reported).
    fulls, incs, deltas, estimated = [], [], [], []
    for i in range(args.repeat):
        full_db, inc_db, delta_db = work / f"full{i}.duckdb", work / f"incremental{i}.duckdb", work / f"changes{i}.duckdb"
        for f in (full_db, inc_db, delta_db):
            shutil.copy(prev_db, f)
        con = connect(full_db)
        model = load_model(con)
        t0 = time.perf_counter()
        full_results = run_stages(con, [changed], config, model=model)
        seconds = time.perf_counter() - t0
        con.close()
        del con
        stages = {r.stage: r.seconds for r in full_results}
        fulls.append({"total": seconds, "matching": seconds - stages.get("records", 0.0), "stages": stages})

        # The full run as a full run is done: the model estimated again.
        est_db = work / f"estimated{i}.duckdb"
        shutil.copy(prev_db, est_db)
        con = connect(est_db)
        t0 = time.perf_counter()
        run_stages(con, [changed], config)
        estimated.append(time.perf_counter() - t0)
        con.close()
        del con

        con = connect(inc_db)
        t0 = time.perf_counter()
        inc = incremental_run(con, [changed], config)
        seconds = time.perf_counter() - t0
        if i == 0:
            diff = compare(con, full_db)
        con.close()
        del con
        incs.append({"total": seconds, "matching": seconds - inc.seconds.get("read records", 0.0), "stages": inc.seconds,
                     "result": inc})

        con = connect(delta_db)
        t0 = time.perf_counter()
        dinc = incremental_run(con, [delta_csv], config, changes_only=True, deleted_ids=deleted_ids)
        seconds = time.perf_counter() - t0
        if i == 0:
            delta_diff = compare(con, full_db)
            # Against the full run with a new model: how far the nightly model drifts in a night.
            estimated_diff = compare(con, est_db)
        con.close()
        del con
        deltas.append({"total": seconds, "stages": dinc.seconds, "result": dinc})
        est_db.unlink()
        est_db.with_name(est_db.name + ".lock").unlink(missing_ok=True)
        if i > 0:
            for f in (full_db, inc_db, delta_db):
                f.unlink()
                f.with_name(f.name + ".lock").unlink(missing_ok=True)

    def median(xs: list[float]) -> float:
        return float(statistics.median(xs))

    full_seconds, inc_seconds = median([f["total"] for f in fulls]), median([x["total"] for x in incs])
    full_matching, inc_matching = median([f["matching"] for f in fulls]), median([x["matching"] for x in incs])
    delta_seconds = median([x["total"] for x in deltas])
    inc = incs[0]["result"]
    report = {
        "records": args.records,
        "changes": changes,
        "repeat": args.repeat,
        "load_average": list(os.getloadavg()),
        "first_full_run_s": round(first_full, 2),
        "first_full_run_stages_s": first.seconds,
        "full_run_same_model_s": round(full_seconds, 2),
        "full_runs_s": [round(f["total"], 2) for f in fulls],
        "full_stages_s": fulls[0]["stages"],
        "incremental_s": round(inc_seconds, 2),
        "incremental_runs_s": [round(x["total"], 2) for x in incs],
        "incremental_stages_s": [x["stages"] for x in incs],
        "incremental_share": round(inc_seconds / full_seconds, 3),
        "matching_only_full_s": round(full_matching, 2),
        "matching_only_incremental_s": round(inc_matching, 2),
        "matching_only_share": round(inc_matching / max(full_matching, 1e-9), 3),
        "matching_only_full_runs_s": [round(f["matching"], 2) for f in fulls],
        "matching_only_incremental_runs_s": [round(x["matching"], 2) for x in incs],
        "incremental": inc.to_dict(),
        "equal_to_full_run": diff,
        "changes_only_s": round(delta_seconds, 2),
        "changes_only_runs_s": [round(x["total"], 2) for x in deltas],
        "changes_only_stages_s": [x["stages"] for x in deltas],
        "changes_only_share": round(delta_seconds / full_seconds, 3),
        "full_run_estimated_s": round(median(estimated), 2),
        "full_runs_estimated_s": [round(x, 2) for x in estimated],
        "changes_only_share_of_estimated_full_run": round(delta_seconds / median(estimated), 3),
        "changes_only_vs_estimated_full_run": estimated_diff,
        "changes_only": deltas[0]["result"].to_dict(),
        "changes_only_equal_to_full_run": delta_diff,
    }
    (OUT / f"incremental_bench{'_accounts' if args.accounts else ''}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    print(
        f"\nmedian of {args.repeat}: full run (same model): {full_seconds:.2f} s; incremental: {inc_seconds:.2f} s "
        f"= {100 * inc_seconds / full_seconds:.1f}% of full. Without reading the CSV (same in both): "
        f"{full_matching:.2f} s vs {inc_matching:.2f} s = {100 * inc_matching / max(full_matching, 1e-9):.1f}%."
    )
    print(f"changed records only ({changes['changed_rows']:,} rows + {changes['deleted_ids']:,} deleted Ids, as an "
          f"incremental extract gives them): {delta_seconds:.2f} s = {100 * delta_seconds / full_seconds:.1f}% of the full run "
          f"with the same model, {100 * delta_seconds / median(estimated):.1f}% of a full run ({median(estimated):.2f} s: "
          f"the model estimated again).")
    keys = ("pair_differences", "cluster_row_differences", "normalized_row_differences", "scored_row_differences",
            "account_row_differences")
    same = all(d[k] == 0 for d in (diff, delta_diff) for k in keys)
    print("same pairs, probabilities and groups as the full run (both incremental modes)" if same
          else f"DIFFERENCES: snapshot {diff}; changes only {delta_diff}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
