"""The Salesforce source in Dagster: salesforce_records / pardot_prospects against the local fake
org with credentials from environment variables (dg.EnvVar), then raw_records(source="salesforce")
loading what was extracted. No secret in metadata, run config, logs or failures.
"""

import json

import dagster as dg
import duckdb
import pytest
from pipeline_helpers import failure_messages, materialization

from assets.matching import raw_records
from assets.salesforce import (
    pardot_prospects,
    pardot_resource_from_env,
    salesforce_records,
    salesforce_resource_from_env,
)
from assets.store import NayoseStore
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore

PASSWORD = "Dagster-パス-4321"
TOKEN = "DgSecToken0042"

PEOPLE = [
    ("山田", "太郎", "株式会社サンプル商事", "taro.yamada@sample.co.jp", "090-1111-2222"),
    ("山田", "太郎", "㈱サンプル商事", "ＴＡＲＯ．ＹＡＭＡＤＡ＠ｓａｍｐｌｅ．ｃｏ．ｊｐ", "09011112222"),
    ("鈴木", "一郎", "株式会社サンプル商事", "ichiro.suzuki@sample.co.jp", "080-3333-4444"),
    ("佐藤", "花子", "有限会社テスト工業", "hanako.sato@test-kogyo.jp", None),
    ("高橋", "健", "合同会社ミライ", "ken.takahashi@mirai.example", "070-5555-6666"),
]


def _org_store() -> tuple[OrgStore, dict]:
    store = OrgStore()
    acc = store.insert("Account", {"Name": "株式会社サンプル商事", "BillingState": "東京都"})
    leads = [
        store.insert("Lead", {"LastName": ln, "FirstName": fn, "Company": co, "Email": em, "MobilePhone": mob,
                              "LeadSource": "名刺" if i == 1 else "Web"})
        for i, (ln, fn, co, em, mob) in enumerate(PEOPLE)
    ]
    contact = store.insert("Contact", {"LastName": "中村", "FirstName": "翔", "AccountId": acc, "Title": "課長",
                                       "Email": "sho.nakamura@sample.co.jp"})
    store.insert_prospect({"email": "taro.yamada@sample.co.jp", "salesforceId": leads[0]})
    store.insert_prospect({"email": "SHO.NAKAMURA@sample.co.jp"})
    return store, {"leads": leads, "contact": contact, "account": acc}


@pytest.fixture
def org_env(monkeypatch):
    store, ids = _org_store()
    with FakeOrg(store, password=PASSWORD, security_token=TOKEN) as org:
        env = {
            "NAYOSE_SF_AUTH": "password",
            "NAYOSE_SF_LOGIN_URL": org.instance_url,
            "NAYOSE_SF_USERNAME": org.username,
            "NAYOSE_SF_PASSWORD": PASSWORD,
            "NAYOSE_SF_SECURITY_TOKEN": TOKEN,
            "NAYOSE_SF_CA_BUNDLE": org.ca_path,
            "NAYOSE_PARDOT_BASE_URL": org.pardot_base_url,
            "NAYOSE_PARDOT_BUSINESS_UNIT_ID": org.business_unit_id,
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        org.ids = ids
        yield org


def _everything(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> str:
    parts = []
    for ev in result.all_events:
        parts.append(ev.message or "")
        parts.append(repr(ev.event_specific_data))
    for run in instance.get_runs():
        parts.append(json.dumps(run.run_config, default=str))
    for rec in instance.all_logs(result.run_id):
        parts.append(rec.user_message or "")
    return "\n".join(parts)


def test_extract_then_raw_records_from_salesforce(org_env, tmp_path):
    org = org_env
    db = tmp_path / "data" / "nayose.duckdb"
    store = NayoseStore(database=str(db), output_dir=str(tmp_path / "out"))
    resources = {"store": store, "salesforce": salesforce_resource_from_env(), "pardot": pardot_resource_from_env()}
    instance = dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    result = dg.materialize([salesforce_records, pardot_prospects], resources=resources, instance=instance,
                            run_config={**quiet, "ops": {"salesforce_records": {"config": {"bulk_poll_seconds": 0.05}}}},
                            raise_on_error=False)
    assert result.success, failure_messages(result)
    md = materialization(result, "salesforce_records")
    assert md["dagster/row_count"].value == len(PEOPLE) + 2  # Leads + Contact + Account go to the matching CSV
    assert md["rows_per_object"].data == {"Lead": 5, "Contact": 1, "Account": 1}
    assert md["new"].value == 7 and md["changed"].value == 0
    assert "api_usage" in md and md["api_usage"].value.endswith("/ 100,000 daily API requests")
    pmd = materialization(result, "pardot_prospects")
    assert pmd["dagster/row_count"].value == 2
    assert "crm_id | 1" in pmd["links"].value and "email | 1" in pmd["links"].value

    everything = _everything(result, instance) + "\n" + "\n".join(repr(dict(m)) for m in (md, pmd))
    for secret in (PASSWORD, TOKEN, org.access_token):
        assert secret not in everything

    # raw_records loads the extracted CSV with source "salesforce" (no Salesforce resource needed).
    # (incremental, as the nightly run asks: there is no previous run, so this one is full)
    sf_raw = {**quiet, "ops": {"raw_records": {"config": {"source": "salesforce", "incremental": True}}}}
    raw = dg.materialize([raw_records], resources={"store": store}, instance=instance, run_config=sf_raw,
                         raise_on_error=False)
    assert raw.success, failure_messages(raw)
    rmd = materialization(raw, "raw_records")
    assert rmd["source"].value == "salesforce" and rmd["dagster/row_count"].value == 7  # (with the Account)
    assert rmd["run_mode"].value.startswith("full (no previous run")
    con = duckdb.connect(str(db), read_only=True)
    try:
        got = con.execute('SELECT Object, "Account.Name" FROM raw_records WHERE Id = ?', [org.ids["contact"]]).fetchall()
        assert got == [("Contact", "株式会社サンプル商事")]
        card = con.execute("SELECT Email, LeadSource FROM raw_records WHERE Id = ?", [org.ids["leads"][1]]).fetchall()
        assert card == [("ＴＡＲＯ．ＹＡＭＡＤＡ＠ｓａｍｐｌｅ．ｃｏ．ｊｐ", "名刺")]
    finally:
        con.close()

    # The next run is incremental: one edit, one merge.
    org.store.advance(10)
    org.store.update(org.ids["leads"][2], {"Title": "部長"})
    org.store.delete(org.ids["leads"][1], master_id=org.ids["leads"][0])
    again = dg.materialize([salesforce_records], resources=resources, instance=instance, run_config=quiet,
                           raise_on_error=False)
    assert again.success, failure_messages(again)
    md2 = materialization(again, "salesforce_records")
    assert (md2["new"].value, md2["changed"].value, md2["deleted"].value) == (0, 1, 1)
    assert md2["rows_per_object"].data["Lead"] == 4 and md2["deleted_known"].value == 1
    # ... and a new Contact in a second extract before matching runs again: the matching run takes
    # what both extracts changed (sf_changes), not the whole extracted file.
    org.store.advance(10)
    new_contact = org.store.insert("Contact", {"LastName": "山田", "FirstName": "太郎", "AccountId": org.ids["account"],
                                               "Email": "taro.yamada@sample.co.jp"})
    third = dg.materialize([salesforce_records], resources=resources, instance=instance, run_config=quiet,
                           raise_on_error=False)
    assert third.success, failure_messages(third)
    inc = dg.materialize([raw_records], resources={"store": store}, instance=instance, run_config=sf_raw,
                         raise_on_error=False)
    assert inc.success, failure_messages(inc)
    imd = materialization(inc, "raw_records")
    assert imd["run_mode"].value == "incremental", imd["run_mode"].value
    summary = imd["incremental"].value
    assert (summary["new"], summary["changed"], summary["deleted"]) == (1, 1, 1)
    assert imd["stats"].value["changes_only"] is True and imd["stats"].value["deleted_ids"] == 1
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM sf_changes").fetchall() == [(0,)]  # taken
        # The snapshot now equals the whole extract: the same Ids and values as sf_records' Leads /
        # Contacts / Accounts.
        got = con.execute('SELECT "Id", "Title", "Email" FROM raw_records ORDER BY "Id"').fetchall()
        want = con.execute("SELECT Id, Title, Email FROM sf_records WHERE Object IN ('Lead', 'Contact', 'Account') ORDER BY Id").fetchall()
        assert got == want and len(got) == 7 and any(r[0] == new_contact for r in got)
        # The duplicate arrived in the new Contact: its pair with the Lead is scored.
        pair = con.execute(
            """SELECT count(*) FROM scored_pairs p JOIN normalized_records a ON a.rec_idx = p.left_idx
               JOIN normalized_records b ON b.rec_idx = p.right_idx
               WHERE ? IN (a.id, b.id) AND ? IN (a.id, b.id) AND p.match_probability >= 0.99""",
            [new_contact, org.ids["leads"][0]]).fetchall()
        assert pair == [(1,)]
    finally:
        con.close()


def test_bad_credentials_fail_with_a_scrubbed_message(org_env, tmp_path, monkeypatch):
    monkeypatch.setenv("NAYOSE_SF_PASSWORD", "Wrong-パス-0000")
    store = NayoseStore(database=str(tmp_path / "data" / "n.duckdb"), output_dir=str(tmp_path / "out"))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([salesforce_records], resources={"store": store, "salesforce": salesforce_resource_from_env()},
                            instance=instance, raise_on_error=False)
    assert not result.success
    msgs = failure_messages(result)
    assert any("SOAP login" in m and "INVALID_LOGIN" in m for m in msgs), msgs
    everything = _everything(result, instance) + "\n".join(msgs)
    assert "Wrong-パス-0000" not in everything and TOKEN not in everything


def test_raw_records_source_salesforce_without_an_extract_says_what_to_do(tmp_path):
    store = NayoseStore(database=str(tmp_path / "data" / "n.duckdb"), output_dir=str(tmp_path / "out"))
    result = dg.materialize([raw_records], resources={"store": store}, instance=dg.DagsterInstance.ephemeral(),
                            run_config={"ops": {"raw_records": {"config": {"source": "salesforce"}}}},
                            raise_on_error=False)
    assert not result.success
    assert any("salesforce_extract_job" in m for m in failure_messages(result))


def test_definitions_have_the_extract_jobs_and_env_bound_resources():
    from pipelines.definitions import defs

    for name in ("salesforce_extract_job", "pardot_extract_job"):
        assert defs.resolve_job_def(name) is not None
    keys = {k.to_user_string() for k in defs.resolve_job_def("nayose_job").asset_layer.executable_asset_keys}
    assert "salesforce_records" not in keys  # the matching job still runs without Salesforce
    res = salesforce_resource_from_env({"NAYOSE_SF_PASSWORD": "x", "NAYOSE_SF_USERNAME": "u@example.jp"})
    # Bound as dg.EnvVar (the variable's name travels in the config, never its value); unset ones stay unset.
    assert isinstance(res.password, dg.EnvVar) and res.password.env_var_name == "NAYOSE_SF_PASSWORD"
    assert isinstance(res.username, dg.EnvVar) and res.session_id is None
