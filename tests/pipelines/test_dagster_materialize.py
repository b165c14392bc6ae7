"""Materializing every asset on a small sample org: tables, metadata, checks and output files."""

import csv
import json

import dagster as dg
import duckdb
from pipeline_helpers import ASSET_NAMES, failure_messages, materialization, run_job

TABLES = {
    "raw_records": "raw_records",
    "normalized_records": "normalized_records",
    "candidate_pairs": "candidate_pairs",
    "scored_pairs": "scored_pairs",
    "account_pairs": "account_pairs",
    "duplicate_clusters": "clusters",
    "survivorship": "survivors",
    "merge_plan": "plan_steps",
}


def _con(db):
    return duckdb.connect(str(db), read_only=True)


def test_every_step_and_check_succeeds(sample_run):
    result, _, _ = sample_run
    assert result.success
    assert not result.get_failed_step_keys()
    for name in ASSET_NAMES:
        assert result.is_node_success(name)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) >= 13
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    assert not failed


def test_tables_in_the_store(sample_run):
    _, db, _ = sample_run
    con = _con(db)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert set(TABLES.values()) | {"match_model", "stage_results", "surviving_fields", "group_records",
                                       "delete_plan"} <= tables
        assert con.execute("SELECT count(*) FROM raw_records").fetchall()[0][0] == 2000
        assert con.execute("SELECT count(*) FROM normalized_records").fetchall()[0][0] == 2000
        assert con.execute("SELECT count(*) FROM clusters").fetchall()[0][0] == 2000
        assert con.execute("SELECT count(*) FROM candidate_pairs WHERE left_idx >= right_idx").fetchall()[0][0] == 0
        stages = {r[0] for r in con.execute("SELECT stage FROM stage_results").fetchall()}
        assert stages == {"records", "normalize", "accounts", "block", "score", "cluster", "survive", "plan"}
    finally:
        con.close()


def test_common_metadata_matches_the_tables(sample_run):
    result, db, _ = sample_run
    con = _con(db)
    try:
        for asset, table in TABLES.items():
            md = materialization(result, asset)
            count = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]
            assert md["dagster/row_count"].value == count, asset
            schema = md["dagster/column_schema"].value
            assert isinstance(schema, dg.TableSchema)
            described = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
            assert [c.name for c in schema.columns] == described, asset
            assert md["seconds"].value >= 0
            assert "stats" in md
    finally:
        con.close()


def test_raw_records_metadata(sample_run):
    result, _, _ = sample_run
    md = materialization(result, "raw_records")
    assert md["source"].value == "sample"
    assert md["truth_csv"].value.endswith(".truth.csv")
    assert "| file |" in md["files"].value
    assert len(md["preview"].value.records) == 10


def test_candidate_pairs_metadata(sample_run):
    result, db, _ = sample_run
    md = materialization(result, "candidate_pairs")
    table = md["comparisons_per_rule"].value
    assert table.startswith("| rule | keys | comparisons | new pairs |")
    assert "| email |" in table and "**total**" in table
    assert md["rules_used"].value >= 1


def test_scored_pairs_metadata(sample_run):
    result, _, out = sample_run
    md = materialization(result, "scored_pairs")
    top = md["top_pairs"].value
    assert top.records, "expected at least one pair above the review threshold"
    first = top.records[0].data
    assert {"left_id", "right_id", "match_probability", "decision", "blocking_rule"} <= set(first)
    probs = [r.data["match_probability"] for r in top.records]
    assert probs == sorted(probs, reverse=True)
    assert "| comparison | level | m | u | weight |" in md["model"].value
    assert md["score_histogram"].value.startswith("![score histogram](data:image/png;base64,")
    assert "| match probability |" in md["score_buckets"].value
    png = out / "score_histogram.png"
    assert md["score_histogram_png"].value == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert md["pairs_auto"].value + md["pairs_review"].value > 0


def test_duplicate_clusters_metadata(sample_run):
    result, _, out = sample_run
    md = materialization(result, "duplicate_clusters")
    assert md["clusters_per_status"].value.startswith("| status | groups | records |")
    assert md["groups_auto"].value + md["groups_review"].value > 0
    assert md["largest_groups"].value.records
    assert md["output/clusters.csv"].value == str(out / "clusters.csv")
    assert "| clusters | precision | recall | F1 |" in md["evaluation"].value
    assert 0.5 < md["pairwise_f1"].value <= 1.0


def test_output_files(sample_run):
    _, _, out = sample_run
    for name in ("clusters.csv", "pairs.csv", "evidence.csv", "summary.json", "score_histogram.png"):
        assert (out / name).is_file(), name
    with open(out / "clusters.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2000
    assert set(rows[0]) == {"Id", "cluster_id", "status"}
    assert {r["status"] for r in rows} <= {"auto", "review", "single"}
    with open(out / "evidence.csv", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[:4] == ["left_id", "right_id", "match_probability", "decision"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["records_in"] == 2000
    assert summary["source"] == "sample"
    assert summary["candidate_pairs"]["total"] > 0
    assert set(summary["seconds"]) >= {"records", "normalize", "block", "score", "cluster", "write outputs", "total"}
    # The outputs were published atomically: no temporary folder is left beside the output folder.
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]


def test_downstream_asset_reruns_on_stored_tables(sample_run, tmp_path):
    """Re-materializing duplicate_clusters alone works on the tables already in the store."""
    from assets import MATCHING_ASSETS, NayoseStore, duplicate_clusters

    _, db, _ = sample_run
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    out = tmp_path / "out2"
    result = dg.materialize(
        MATCHING_ASSETS,
        selection=[duplicate_clusters],
        resources={"store": NayoseStore(database=str(copy), output_dir=str(out))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert (out / "clusters.csv").is_file()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["records_in"] == 2000  # taken from the recorded raw_records stage


def test_missing_upstream_table_fails_readably(tmp_path):
    from assets import MATCHING_ASSETS, NayoseStore, normalized_records

    result = dg.materialize(
        MATCHING_ASSETS,
        selection=[normalized_records],
        resources={"store": NayoseStore(database=str(tmp_path / "empty.duckdb"), output_dir=str(tmp_path / "out"))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    (msg,) = failure_messages(result)
    assert "raw_records" in msg and "materialize the upstream assets first" in msg


def test_demo_prints_a_summary(tmp_path, monkeypatch, capsys):
    from pipelines import demo

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    rc = demo.main(["--records", "500", "--seed", "3", "--db", str(tmp_path / "d.duckdb"), "--out", str(tmp_path / "o")])
    text = capsys.readouterr().out
    assert rc == 0, text
    objects = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))["objects"]
    assert objects["Lead"] + objects["Contact"] == 500 and objects["Account"] > 0  # the people and their Accounts
    assert f"records             {500 + objects['Account']:,}  ({objects['Lead']:,} Leads, {objects['Contact']:,} Contacts, " \
           f"{objects['Account']:,} Accounts)" in text
    assert "duplicate groups" in text and "precision" in text and "F1" in text
    assert "accounts vs truth" in text and "business accounts" in text
    assert "make ui" in text and "http://127.0.0.1:3000" in text
    assert (tmp_path / "o" / "clusters.csv").is_file()
    # Where the plan files are, and a few groups before -> after.
    assert f"plan                {tmp_path / 'o'}/merge_plan.json" in text
    assert "groups before → after" in text and " → " in text.split("groups before → after", 1)[1]
    assert (tmp_path / "o" / "merge_plan.json").is_file()
    # The run is recorded in DAGSTER_HOME (what `make ui` shows), set up with nayose's dagster.yaml.
    assert "telemetry" in (tmp_path / "dagster_home" / "dagster.yaml").read_text(encoding="utf-8")
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    try:
        assert instance.get_latest_materialization_event(dg.AssetKey("duplicate_clusters")) is not None
    finally:
        instance.dispose()
