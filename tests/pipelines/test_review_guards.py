"""The audit's review / nightly defects, in process: the nightly's source and extract, blocking checks
gating approval, rejects stopping approvals, the approval template, unwritten fields, the group index
and invalid nightly settings."""

import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pipeline_helpers import failure_messages, materialization

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


def _resources(db, out):
    return {"store": {"config": {"database": str(db), "output_dir": str(out)}}}


def _review(db, out, instance, **config):
    from pipelines.definitions import defs

    return defs.resolve_job_def("review_plan").execute_in_process(
        run_config={"ops": {"record_decision": {"config": config}}, "resources": _resources(db, out)},
        instance=instance, raise_on_error=False,
    )


def _tick(schedule):
    return schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=WHEN))


# ---------------------------------------------------------------------------------------------
# A. The nightly's source: never the sample by default; Salesforce is extracted in the run


def test_nightly_with_default_settings_does_not_run_on_the_sample():
    from pipelines.definitions import defs

    sched = defs.resolve_schedule_def("nayose_nightly")
    assert sched.job_name == "nayose_nightly_job"
    tick = _tick(sched)
    assert not tick.run_requests
    assert "no source configured" in tick.skip_message and "NAYOSE_NIGHTLY_SOURCE" in tick.skip_message
    assert "NAYOSE_NIGHTLY_SOURCE=sample" in tick.skip_message
    assert "NAYOSE_NIGHTLY_SOURCE" in sched.description


def test_nightly_source_decides_the_run():
    from pipelines.definitions import PLAN_ASSET_KEYS, PLAN_CHECK_KEYS, nayose_nightly_job
    from pipelines.review import NightlySettings, nightly_schedule

    def request(env):
        s = NightlySettings.from_env(env)
        return _tick(nightly_schedule(nayose_nightly_job, s, name="n", plan_assets=PLAN_ASSET_KEYS,
                                      plan_checks=PLAN_CHECK_KEYS)).run_requests[0]

    sf = request({"NAYOSE_NIGHTLY_SOURCE": "salesforce"})
    assert sf.asset_selection is None  # the whole nightly job: salesforce_records, then the plan
    assert sf.run_config["ops"]["raw_records"]["config"] == {"source": "salesforce", "incremental": True}
    cfg = '{"ops": {"raw_records": {"config": {"csv_paths": ["/data/export.csv"]}}}}'
    csv_req = request({"NAYOSE_NIGHTLY_SOURCE": "csv", "NAYOSE_NIGHTLY_RUN_CONFIG": cfg})
    assert dg.AssetKey("salesforce_records") not in csv_req.asset_selection
    assert set(csv_req.asset_selection) == set(PLAN_ASSET_KEYS)
    assert dg.AssetCheckKey(dg.AssetKey("merge_plan"), "steps_well_formed") in csv_req.asset_check_keys
    assert csv_req.run_config["ops"]["raw_records"]["config"]["source"] == "csv"
    # the sample only when named explicitly (here through the run config)
    sample = request({"NAYOSE_NIGHTLY_RUN_CONFIG": '{"ops": {"raw_records": {"config": {"source": "sample"}}}}'})
    assert sample.run_config["ops"]["raw_records"]["config"]["source"] == "sample"
    assert sample.tags["nayose/source"] == "sample"


def test_nightly_on_salesforce_extracts_then_plans(tmp_path, monkeypatch):
    from test_dagster_salesforce_source import PASSWORD, TOKEN, _org_store

    from nayose.fakeorg.server import FakeOrg
    from pipelines.definitions import PLAN_ASSET_KEYS, PLAN_CHECK_KEYS, defs
    from pipelines.review import NightlySettings, nightly_schedule

    store, _ = _org_store()
    with FakeOrg(store, password=PASSWORD, security_token=TOKEN) as org:
        for k, v in {"NAYOSE_SF_AUTH": "password", "NAYOSE_SF_LOGIN_URL": org.instance_url,
                     "NAYOSE_SF_USERNAME": org.username, "NAYOSE_SF_PASSWORD": PASSWORD,
                     "NAYOSE_SF_SECURITY_TOKEN": TOKEN, "NAYOSE_SF_CA_BUNDLE": org.ca_path}.items():
            monkeypatch.setenv(k, v)
        from assets.salesforce import salesforce_resource_from_env

        # (the code location binds NAYOSE_SF_* when it loads: bind them again now that they are set)
        local = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                               resources={**defs.resources, "salesforce": salesforce_resource_from_env()},
                               executor=dg.in_process_executor)
        job = local.resolve_job_def("nayose_nightly_job")
        s = NightlySettings.from_env({"NAYOSE_NIGHTLY_SOURCE": "salesforce"})
        req = _tick(nightly_schedule(job, s, name="n", plan_assets=PLAN_ASSET_KEYS,
                                     plan_checks=PLAN_CHECK_KEYS)).run_requests[0]
        db, out = tmp_path / "data" / "nayose.duckdb", tmp_path / "out"
        result = job.execute_in_process(
            run_config={**req.run_config, "resources": _resources(db, out),
                        "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags=req.tags, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        )
    assert result.success, failure_messages(result)
    order = [e.asset_key.to_user_string() for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert order.index("salesforce_records") < order.index("raw_records") < order.index("merge_plan")
    assert materialization(result, "raw_records")["source"].value == "salesforce"


# ---------------------------------------------------------------------------------------------
# B. A plan whose blocking check failed cannot be approved


def test_sample_run_recorded_its_blocking_checks(store_copy):
    db, _, plan_id, _ = store_copy
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT check_name, passed FROM plan_checks WHERE plan_id = ? ORDER BY 1", [plan_id]).fetchall()
    required = con.execute("SELECT required_checks FROM plans WHERE plan_id = ?", [plan_id]).fetchone()[0]
    con.close()
    from assets.plan import MERGE_PLAN_BLOCKING_CHECKS
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    blocking = {f"merge_plan:{k.name}" for k in graph.asset_check_keys
                if k.asset_key == dg.AssetKey("merge_plan") and graph.get_check_spec(k).blocking}
    assert blocking == set(MERGE_PLAN_BLOCKING_CHECKS) == set(required)
    assert rows == [(n, True) for n in sorted(MERGE_PLAN_BLOCKING_CHECKS)]


def test_a_plan_failing_a_blocking_check_is_not_approved(store_copy, monkeypatch):
    import nayose.plan
    from pipelines.definitions import defs

    real = nayose.plan.build_plan

    def broken_build_plan(con, config):
        result = real(con, config)
        con.execute(
            """UPDATE plan_steps SET loser_ids = list_concat(loser_ids, ['003XXXXXXXXXXXXAAA', '003YYYYYYYYYYYYAAA'])
               WHERE (cluster_id, step_no) IN (SELECT (cluster_id, step_no) FROM plan_steps
                                               WHERE action = 'merge' ORDER BY cluster_id, step_no LIMIT 1)""")
        return result

    monkeypatch.setattr(nayose.plan, "build_plan", broken_build_plan)
    db, out, good_plan, _ = store_copy
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("nayose_job").execute_in_process(
        run_config={"resources": _resources(db, out), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        asset_selection=[dg.AssetKey("survivorship"), dg.AssetKey("merge_plan")],
        instance=instance, raise_on_error=False, tags={"nayose/auto_approve": "true"},
    )
    assert not result.success
    plan_id = materialization(result, "merge_plan")["review/plan_id"].value
    assert plan_id != good_plan  # (another content, another id)
    bad = _review(db, out, instance, plan_id=plan_id, decision="approve", reviewer="analyst")
    msg = " ".join(failure_messages(bad))
    assert not bad.success and f"plan {plan_id} failed its blocking check(s) merge_plan:steps_well_formed" in msg
    assert "steps_with_bad_record_count 1" in msg
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM plan_decisions WHERE plan_id = ?", [plan_id]).fetchall()[0][0] == 0
    con.close()


# ---------------------------------------------------------------------------------------------
# D. A reject stops an earlier approval; E. the template pre-fills no ids


def test_a_reject_stops_an_approval_not_applied_yet(store_copy):
    from assets import NayoseStore
    from pipelines.definitions import defs
    from pipelines.review import apply_approved_plans

    db, out, plan_id, groups = store_copy
    instance = dg.DagsterInstance.ephemeral()
    ok = _review(db, out, instance, plan_id=plan_id, decision="approve_partial", include_clusters=groups[:3],
                 reviewer="ana")
    assert ok.success, failure_messages(ok)
    approval = ok.output_for_node("record_decision")["decision_id"]
    rej = _review(db, out, instance, plan_id=plan_id, decision="reject", reviewer="bob", note="wrong plan, stop")
    assert rej.success, failure_messages(rej)
    store = NayoseStore(database=str(db), output_dir=str(out))
    tick = apply_approved_plans.evaluate_tick(dg.build_sensor_context(instance=instance, resources={"store": store}))
    assert not tick.run_requests
    assert f"approval {approval} not applied: plan {plan_id} was rejected by bob" in tick.skip_message
    # an apply launched before the reject skips
    applied = defs.resolve_job_def("apply_plan").execute_in_process(
        run_config={"ops": {"apply_approved_groups": {"config": {"plan_id": plan_id, "decision_id": approval}}},
                    "resources": _resources(db, out)}, instance=instance, raise_on_error=False)
    assert applied.success, failure_messages(applied)
    out_ = applied.output_for_node("apply_approved_groups")
    assert "was rejected by bob" in out_["skipped"] and out_["rejected_by"] == "bob"
    assert not (db.parent / "apply_journal.duckdb").exists()
    again = _review(db, out, instance, plan_id=plan_id, decision="approve_partial", include_clusters=groups[3:4],
                    reviewer="ana")
    assert not again.success and "was rejected by bob" in " ".join(failure_messages(again))


def test_the_template_prefills_no_cluster_and_include_plus_exclude_is_refused(sample_run, store_copy):
    _, _, out0 = sample_run
    md = materialization(sample_run[0], "merge_plan")
    text = md["review/how_to_approve"].value
    yaml = text[text.index("```yaml"):]
    assert "include_clusters: []" in yaml and "exclude_clusters: []" in yaml
    assert "003" not in yaml and "00Q" not in yaml  # (examples are in the prose only)
    db, out, plan_id, groups = store_copy
    r = _review(db, out, dg.DagsterInstance.ephemeral(), plan_id=plan_id, decision="approve_partial",
                include_clusters=groups[:1], exclude_clusters=groups[1:3], reviewer="analyst")
    assert not r.success and "are not in include_clusters" in " ".join(failure_messages(r))


# ---------------------------------------------------------------------------------------------
# F. Changes the applier never writes; G. the group index


def test_unwritten_changes_are_marked(sample_run):
    result, _, out = sample_run
    md = materialization(result, "merge_plan")
    with open(out / "field_changes.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        assert (r["written"] == "not written: relationship field") == ("." in r["field"]), r
    assert md["field_changes_not_written"].value == sum(r["written"] != "yes" for r in rows)
    from assets.plan import before_after_md

    text = before_after_md([{"cluster_id": "003A", "status": "auto", "size": 2, "master_id": "003A", "object": "Contact",
                             "reason": None, "changes": [
                                 {"field": "Account.Name", "current": "ABC", "new": "株式会社ABC", "from_id": "003B",
                                  "rule": "business_card", "not_written": "not written: relationship field"}]}])
    assert "Account.Name (not written: relationship field)" in text


def _g(cid, obj, status, prob):
    return {"cluster_id": cid, "object": obj, "status": status, "master_id": cid, "loser_ids": [cid + "x"],
            "steps": [{"action": "merge", "master_id": cid, "loser_ids": [cid + "x"]}],
            "evidence": [{"left_id": cid, "right_id": cid + "x", "match_probability": prob}],
            **({"status_reason": "Contacts under different Accounts"} if status == "review" else {})}


def test_group_index_puts_review_first_covers_every_object_and_says_what_is_hidden(tmp_path):
    from assets.review import group_index_md, write_group_index_csv

    doc = {"clusters": [_g(f"003{i:05d}", "Contact", "auto", 0.99996) for i in range(900)]
           + [_g(f"003R{i:04d}", "Contact", "review", 0.9 + i / 10_000) for i in range(300)]
           + [_g(f"00Q{i:05d}", "Lead", "auto", 0.9991) for i in range(400)]}
    path = tmp_path / "group_index.csv"
    assert write_group_index_csv(doc, path) == 1600
    text = group_index_md(doc, limit=500, csv_path=path, details_path=tmp_path / "groups.md", out_dir=tmp_path)
    table = [line for line in text.splitlines() if line.startswith("| 0")]
    listed = [line.split(" | ")[0][2:] for line in table]
    assert len(listed) == 500
    assert listed[0] == "003R0000" and "Contacts under different Accounts" in table[0]  # least certain review first
    assert sum(c.startswith("003R") for c in listed) == 300  # every review group
    assert any(c.startswith("00Q") for c in listed)  # every object
    assert "Listed: 500 of 1,600; 1,100 not shown" in text
    assert str(path) in text and f"nayose explain {tmp_path} CLUSTER_ID" in text and "OUT_DIR" not in text
    assert "0.9999 |" in text and "| 1 |" not in text  # floored, never rounded up to 1
    with open(path, encoding="utf-8", newline="") as f:
        first = next(csv.DictReader(f))
    assert first["cluster_id"] == "003R0000" and first["weakest_link"] == "0.9000"


# ---------------------------------------------------------------------------------------------
# H. Invalid nightly settings: clear errors, and the code location still loads


def test_invalid_nightly_settings_name_the_variable_and_skip_the_schedule():
    from pipelines.definitions import nayose_job
    from pipelines.review import NightlySettings, nightly_schedule

    s = NightlySettings.from_env({
        "NAYOSE_NIGHTLY_CRON": "0 25 * * *", "NAYOSE_NIGHTLY_TIMEZONE": "Tokyo", "NAYOSE_AUTO_MIN_PROBABILITY": "high",
        "NAYOSE_AUTO_MAX_RECORDS": "5", "NAYOSE_NIGHTLY_RUN_CONFIG": "{bad", "NAYOSE_NIGHTLY_SOURCE": "hubspot",
        "NAYOSE_AUTO_APPROVE": "maybe",
    })
    text = " ".join(s.errors)
    for part in ("NAYOSE_NIGHTLY_CRON='0 25 * * *'", "NAYOSE_NIGHTLY_TIMEZONE='Tokyo'",
                 "NAYOSE_AUTO_MIN_PROBABILITY='high'", "NAYOSE_AUTO_MAX_RECORDS='5'", "NAYOSE_NIGHTLY_RUN_CONFIG=",
                 "NAYOSE_NIGHTLY_SOURCE='hubspot'", "NAYOSE_AUTO_APPROVE='maybe'"):
        assert part in text, part
    sched = nightly_schedule(nayose_job, s, name="bad_nightly")
    assert (sched.cron_schedule, sched.execution_timezone) == ("0 2 * * *", "Asia/Tokyo")
    assert sched.description.startswith("NOT RUNNING: ")
    tick = _tick(sched)
    assert not tick.run_requests and "NAYOSE_NIGHTLY_TIMEZONE='Tokyo'" in tick.skip_message
    for off in ("off", "no", "false", "0", "OFF"):
        assert NightlySettings.from_env({"NAYOSE_NIGHTLY_INCREMENTAL": off}).incremental is False
    for on in ("on", "yes", "true", "1"):
        assert NightlySettings.from_env({"NAYOSE_NIGHTLY_INCREMENTAL": on, "NAYOSE_AUTO_APPROVE": on}).auto_approve


def test_a_bad_nightly_setting_does_not_take_down_the_code_location():
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"NAYOSE_NIGHTLY_CRON": "0 25 * * *", "NAYOSE_NIGHTLY_TIMEZONE": "Tokyo",
                "NAYOSE_AUTO_MIN_PROBABILITY": "high", "NAYOSE_NIGHTLY_RUN_CONFIG": "{bad"})
    code = ("from pipelines.definitions import defs\n"
            "assert defs.resolve_job_def('review_plan') and defs.resolve_job_def('apply_plan')\n"
            "print(defs.resolve_schedule_def('nayose_nightly').description)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NOT RUNNING" in proc.stdout and "NAYOSE_AUTO_MIN_PROBABILITY='high'" in proc.stdout
