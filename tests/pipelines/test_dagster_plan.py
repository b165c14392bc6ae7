"""survivorship and merge_plan: metadata, plan files in the output folder, and the blocking checks
that keep a broken plan from being published."""

import csv
import json

import dagster as dg
import duckdb
import pytest
from pipeline_helpers import materialization

PLAN_FILES = ("merge_plan.json", "merge_plan.csv", "field_changes.csv", "delete_plan.csv")
PLAN_CHECKS = {
    ("survivorship", "card_values_protected"): dg.AssetCheckSeverity.ERROR,
    ("survivorship", "one_group_per_record"): dg.AssetCheckSeverity.ERROR,
    ("survivorship", "review_volume"): dg.AssetCheckSeverity.WARN,
    ("survivorship", "group_size"): dg.AssetCheckSeverity.WARN,
    ("merge_plan", "steps_well_formed"): dg.AssetCheckSeverity.ERROR,
    ("merge_plan", "masters_in_input"): dg.AssetCheckSeverity.ERROR,
    ("merge_plan", "no_card_deleted"): dg.AssetCheckSeverity.ERROR,
}


def _evaluations(result) -> dict:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def test_plan_checks_are_in_the_job_and_blocking():
    from pipelines.definitions import defs

    job = defs.resolve_job_def("nayose_job")
    keys = {(k.asset_key.to_user_string(), k.name) for k in job.asset_layer.asset_graph.asset_check_keys}
    assert set(PLAN_CHECKS) <= keys
    graph = defs.resolve_asset_graph()
    for (asset, name), severity in PLAN_CHECKS.items():
        spec = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey(asset), name))
        assert spec.blocking == (severity == dg.AssetCheckSeverity.ERROR), name


def test_plan_checks_pass_on_a_good_run(sample_run):
    result, _, _ = sample_run
    evals = _evaluations(result)
    for key, severity in PLAN_CHECKS.items():
        assert evals[key].passed, key
        assert evals[key].severity == severity, key
    assert evals[("survivorship", "card_values_protected")].metadata["groups_with_cards"].value > 0


def test_survivorship_metadata(sample_run):
    result, db, _ = sample_run
    md = materialization(result, "survivorship")
    con = duckdb.connect(str(db), read_only=True)
    try:
        groups = dict(con.execute("SELECT status, count(*) FROM survivors GROUP BY status").fetchall())
    finally:
        con.close()
    assert md["dagster/row_count"].value == sum(groups.values()) > 0
    assert md["groups_auto"].value == groups.get("auto", 0)
    assert md["groups_review"].value == groups.get("review", 0)
    assert md["groups_by_status"].value.startswith("| status | groups | records | lowered to review |")
    assert md["fields_from_business_cards"].value > 0
    for key in ("largest_groups", "least_certain_groups"):
        text = md[key].value
        assert "| field | current (master) |  | after merge | from record | rule |" in text, key
        assert " → " in text and "master `" in text, key
    assert md["survivors"].value.records


def test_merge_plan_metadata_and_files(sample_run):
    result, db, out = sample_run
    md = materialization(result, "merge_plan")
    for name in PLAN_FILES:
        assert md[f"output/{name}"].value == str(out / name)
        assert (out / name).is_file(), name
    assert (out / "clusters.csv").is_file()  # beside the matching outputs
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]
    table = md["steps_by_action"].value
    assert table.startswith("| action | group status | steps | groups |")
    assert "| merge | auto |" in table
    con = duckdb.connect(str(db), read_only=True)
    try:
        steps = dict(con.execute("SELECT action, count(*) FROM plan_steps GROUP BY action").fetchall())
        deletes = con.execute("SELECT count(*) FROM delete_plan").fetchall()[0][0]
    finally:
        con.close()
    assert md["steps_merge"].value == steps.get("merge", 0) > 0
    assert md["steps_convert_lead"].value == steps.get("convert_lead", 0)
    assert md["delete_candidates"].value == deletes
    doc = json.loads((out / "merge_plan.json").read_text(encoding="utf-8"))
    assert doc["plan_id"] == md["plan_id"].value
    assert len(doc["clusters"]) == md["groups_auto"].value + md["groups_review"].value
    with open(out / "merge_plan.csv", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == md["dagster/row_count"].value
    with open(out / "field_changes.csv", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == md["field_changes"].value
    with open(out / "delete_plan.csv", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["plan_id", "Id", "object", "reason", "as_of"]


def _run_plan_only(db, out):
    """survivorship and merge_plan (with their checks) on a store that already holds the clusters."""
    from pipelines.definitions import defs

    return defs.resolve_job_def("nayose_job").execute_in_process(
        run_config={"resources": {"store": {"config": {"database": str(db), "output_dir": str(out)}}},
                    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        asset_selection=[dg.AssetKey("survivorship"), dg.AssetKey("merge_plan")],
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


@pytest.fixture
def store_copy(sample_run, tmp_path):
    _, db, _ = sample_run
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    return copy, tmp_path / "out"


def test_card_value_overwritten_blocks_the_plan(store_copy, monkeypatch):
    """A survivorship that lets a non-card value win over a card value fails the blocking check, and
    merge_plan is not materialized: no plan file is written."""
    import nayose.survive

    real = nayose.survive.survive
    tampered = {}

    def broken_survive(con, config):
        result = real(con, config)
        cid, field, card_id, other_id = con.execute(
            """SELECT f.cluster_id, f.field, f.from_id, g."Id" FROM surviving_fields f
               JOIN group_records g ON g.cluster_id = f.cluster_id AND NOT g.is_card
               WHERE f.rule LIKE '%business_card%' ORDER BY f.cluster_id, f.ord, g."Id" LIMIT 1"""
        ).fetchall()[0]
        con.execute(
            "UPDATE surviving_fields SET value = 'web form value', from_id = ?, rule = 'most_recent' "
            "WHERE cluster_id = ? AND field = ?",
            [other_id, cid, field],
        )
        tampered.update(cluster_id=cid, field=field, card_id=card_id)
        return result

    monkeypatch.setattr(nayose.survive, "survive", broken_survive)
    db, out = store_copy
    result = _run_plan_only(db, out)
    assert tampered
    evals = _evaluations(result)
    check = evals[("survivorship", "card_values_protected")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["card_values_overwritten"].value >= 1
    assert tampered["cluster_id"] in check.metadata["overwritten"].value
    assert result.asset_materializations_for_node("survivorship")
    assert not result.asset_materializations_for_node("merge_plan")
    assert not result.success
    assert not any((out / name).exists() for name in PLAN_FILES)


def test_step_with_four_records_fails_the_steps_check(store_copy, monkeypatch):
    """A merge step with a master and 3 losers (4 records, over Salesforce's limit) fails steps_well_formed."""
    import nayose.plan

    real = nayose.plan.build_plan

    def broken_build_plan(con, config):
        result = real(con, config)
        con.execute(
            """UPDATE plan_steps SET loser_ids = list_concat(loser_ids, ['003XXXXXXXXXXXXAAA', '003YYYYYYYYYYYYAAA'])
               WHERE (cluster_id, step_no) IN (SELECT (cluster_id, step_no) FROM plan_steps
                                               WHERE action = 'merge' ORDER BY cluster_id, step_no LIMIT 1)"""
        )
        return result

    monkeypatch.setattr(nayose.plan, "build_plan", broken_build_plan)
    db, out = store_copy
    result = _run_plan_only(db, out)
    evals = _evaluations(result)
    check = evals[("merge_plan", "steps_well_formed")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["steps_with_bad_record_count"].value == 1
    assert check.metadata["records_outside_their_group"].value == 2
    assert evals[("survivorship", "card_values_protected")].passed
    assert not result.success


def test_card_protection_check_is_not_fooled_by_exempt_fields(store_copy):
    """card_overwrites reports nothing on a correct survivorship, and finds an overwrite once the
    card value is replaced; an exempt field is not reported."""
    from assets.plan_checks import card_overwrites
    from nayose.config import Config

    db, _ = store_copy
    con = duckdb.connect(str(db))
    try:
        from nayose.survive import survive

        config = Config()
        survive(con, config)
        assert card_overwrites(con, config) == []
        cid, field, other = con.execute(
            """SELECT f.cluster_id, f.field, g."Id" FROM surviving_fields f
               JOIN group_records g ON g.cluster_id = f.cluster_id AND NOT g.is_card
               WHERE f.rule = 'business_card' ORDER BY f.cluster_id, f.ord, g."Id" LIMIT 1"""
        ).fetchall()[0]
        con.execute("UPDATE surviving_fields SET from_id = ? WHERE cluster_id = ? AND field = ?", [other, cid, field])
        assert [(b[0], b[1]) for b in card_overwrites(con, config)] == [(cid, field)]
        exempt = Config.model_validate({"survivorship": {"card_exempt_fields": [*config.survivorship.card_exempt_fields, field]}})
        assert card_overwrites(con, exempt) == []
    finally:
        con.close()


def test_card_protection_check_accepts_what_survivorship_set_aside(tmp_path):
    """A card's dummy mobile (090-1234-5678) and its role mailbox (info@) give way to the person's
    own (survivorship sets them aside: `ignored_values`); the blocking card check does not count
    them as card values overwritten (it did, which stopped such a plan), while a real card value
    replaced is still found."""
    from assets.plan_checks import card_overwrites
    from nayose.config import Config
    from nayose.pipeline import run_stages

    src = tmp_path / "cards.csv"
    src.write_text(
        "Id,FirstName,LastName,Company,Email,MobilePhone,Phone,LeadSource,CreatedDate,LastModifiedDate\n"
        "00Q000000000001AAA,太郎,山田,株式会社アルファ,info@alpha.co.jp,090-1234-5678,03-1111-2222,名刺,"
        "2022-01-01T00:00:00.000Z,2022-01-01T00:00:00.000Z\n"
        "00Q000000000002AAA,太郎,山田,株式会社アルファ,taro.yamada@alpha.co.jp,090-5555-6666,03-1111-2222,Web,"
        "2024-01-01T00:00:00.000Z,2024-06-01T00:00:00.000Z\n", encoding="utf-8")
    con = duckdb.connect()
    config = Config()
    run_stages(con, [src], config, with_plan=True)
    got = dict(con.execute("SELECT field, value FROM surviving_fields").fetchall())
    assert (got["Email"], got["MobilePhone"]) == ("taro.yamada@alpha.co.jp", "090-5555-6666")
    assert sorted(con.execute('SELECT field FROM ignored_values').fetchall()) == [("Email",), ("MobilePhone",)]
    assert card_overwrites(con, config) == []
    con.execute("UPDATE surviving_fields SET from_id = '00Q000000000002AAA' WHERE field = 'Company'")
    assert [b[1] for b in card_overwrites(con, config)] == ["Company"]


def test_a_lead_converted_into_a_person_account_passes_the_plan_checks(tmp_path):
    """A B2C export: a Person Account, a card Lead of the same customer and a web Lead. The plan
    converts both Leads into the Person Account (no contact); the blocking checks accept it (the
    masters check asked for a Contact and would have stopped the plan), and the card's values
    mapped to the Person Account's fields count as protected."""
    from pipeline_helpers import failure_messages, run_job

    src = tmp_path / "b2c.csv"
    src.write_text(
        "Id,IsPersonAccount,FirstName,LastName,PersonEmail,Phone,Email,MobilePhone,Company,LeadSource,CreatedDate,LastModifiedDate\n"
        "001000000000PA1AAA,true,健太,佐々木,kenta.sasaki@gmail.com,045-321-7788,,,,,2021-04-01T10:00:00.000Z,2021-04-01T10:00:00.000Z\n"
        "00Q000000000LD1AAA,,健太,佐々木,,,kenta.sasaki@gmail.com,090-8765-4321,個人,名刺,2024-04-01T10:00:00.000Z,2024-04-01T10:00:00.000Z\n"
        "00Q000000000LD2AAA,,健太,佐々木,,,kenta.sasaki@gmail.com,,個人,Web,2024-06-01T10:00:00.000Z,2024-06-01T10:00:00.000Z\n",
        encoding="utf-8")
    result, _, out = run_job(tmp_path, {"source": "csv", "csv_paths": [str(src)]})
    assert result.success, "\n".join(failure_messages(result))
    evals = _evaluations(result)
    for key in PLAN_CHECKS:
        assert evals[key].passed, key
    plan = json.loads((out / "merge_plan.json").read_text(encoding="utf-8"))
    [group] = plan["clusters"]
    assert [(s["action"], s["lead_id"], s["contact_id"], s["account_id"]) for s in group["steps"]] == [
        ("convert_lead", "00Q000000000LD1AAA", None, "001000000000PA1AAA"),
        ("convert_lead", "00Q000000000LD2AAA", None, "001000000000PA1AAA")]
    assert group["fields"]["PersonMobilePhone"]["value"] == "090-8765-4321"
