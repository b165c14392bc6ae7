"""Sync health on what the real clients extract from the fake org seeded with the planted sync
sample: Salesforce records through simple-salesforce (REST), prospects and custom field definitions
through Pardot API v5, the describe of the mapped fields — and the findings equal the sample's truth
exactly, as they do on the CSV files (tests/nayose/test_synchealth.py)."""

from __future__ import annotations

import duckdb
import pytest
from simple_salesforce import Salesforce

from nayose.config import Config
from nayose.extract import extract_salesforce, matching_objects, write_records_csv
from nayose.fakeorg.seed import seed_sync_sample
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore
from nayose.pardot import DEFAULT_PROSPECT_FIELDS, PardotClient, PardotSettings, extract_pardot, sync_prospect_fields
from nayose.records import load_records
from nayose.sample_sync import generate_sync_sample
from nayose.synchealth import extract_sync_metadata, run_sync_health

FOUND = """SELECT problem, cause, coalesce("Id", ''), coalesce(prospect_id, ''), coalesce(field, '') FROM sync_findings"""


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sync_fakeorg")
    sample = generate_sync_sample(2000, 42)
    org = FakeOrg(OrgStore(api_daily_limit=1_000_000)).start()
    try:
        seeded = seed_sync_sample(org, sample)
        sf = Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(),
                        version=org.api_version)
        pardot = PardotClient(PardotSettings(base_url=org.pardot_base_url, business_unit_id=org.business_unit_id,
                                             ca_bundle=org.ca_path), sf=sf, session=org.session())
        cfg = Config()
        con = duckdb.connect()
        extract_salesforce(sf, con)
        metadata = extract_sync_metadata(sf, pardot, cfg, supplement=seeded["supplement"])
        fields = sync_prospect_fields(metadata["pardot"]["customFields"])
        pres = extract_pardot(pardot, con, fields=fields)
        csv_path = tmp / "salesforce_records.csv"
        write_records_csv(con, csv_path, objects=matching_objects(con))
        load_records(con, [str(csv_path)], cfg)
        summary = run_sync_health(con, cfg, tmp / "out", metadata=metadata)
        requests_log = list(org.requests_log)
    finally:
        org.stop()
    return {"sample": sample, "seeded": seeded, "con": con, "metadata": metadata, "fields": fields, "pardot": pres,
            "summary": summary, "requests": requests_log}


def test_findings_equal_the_truth_exactly(extracted):
    con, sample = extracted["con"], extracted["sample"]
    truth = {(r["problem"], r["cause"], r["Id"] or "", r["prospect_id"] or "", r["field"] or "")
             for r in sample["truth"].to_pylist()}
    found = {tuple(r) for r in con.execute(FOUND).fetchall()}
    assert len(found) == con.execute("SELECT count(*) FROM sync_findings").fetchall()[0][0]  # no finding twice
    missed, extra = truth - found, found - truth
    assert not missed, sorted(missed)[:10]
    assert not extra, sorted(extra)[:10]
    kinds = {(p, c) for p, c, *_ in found}
    for must in [("field_mapping", "picklist_mismatch"), ("field_mapping", "length_mismatch"),
                 ("field_mapping", "type_mismatch"), ("reverts", "pardot_edit_overwritten"),
                 ("reverts", "salesforce_edit_overwritten"), ("not_syncing", "not_carried_by_sync"),
                 ("duplicate", "same_crm_id"), ("over_synced", "orphan"), ("not_synced", "sharing_rule_excludes")]:
        assert must in kinds, must


def test_the_extract_read_everything_through_the_apis(extracted):
    seeded, con = extracted["seeded"], extracted["con"]
    assert seeded["records"] == 2000 and seeded["accounts"] > 0
    n = con.execute("SELECT count(*) FROM raw_records WHERE Object <> 'Account'").fetchall()[0][0]
    assert n == 2000  # the people (their Accounts are in the matching CSV too, matched as companies)
    accounts = con.execute("SELECT count(*) FROM raw_records WHERE Object = 'Account'").fetchall()[0][0]
    assert accounts == seeded["accounts"]
    # Contacts keep Account.Name through the relationship; prospects in the recycle bin are not extracted
    assert con.execute("""SELECT count(*) FROM sf_records WHERE Object = 'Contact' AND "Account.Name" IS NULL
                          AND AccountId IS NOT NULL""").fetchall()[0][0] == 0
    live = sum(1 for p in extracted["sample"]["prospects"].to_pylist() if p["isDeleted"] != "true")
    assert extracted["pardot"].rows == live
    for f in ("department", "crmLastSync"):
        assert f in DEFAULT_PROSPECT_FIELDS and f in extracted["fields"]
    assert {"Customer_Segment__c", "Kana_Last__c", "Kana_First__c", "Sansan_ID__c", "Birthday__c"} <= set(extracted["fields"])
    paths = {p for _, p, _ in extracted["requests"]}
    assert "/api/v5/objects/custom-fields" in paths
    assert any(p.endswith("/sobjects/Lead/describe") for p in paths)


def test_metadata_comes_from_the_org_and_says_what_the_api_lacks(extracted):
    md = extracted["metadata"]
    cfs = {cf["fieldId"]: cf for cf in md["pardot"]["customFields"]}
    assert set(cfs) == {"Customer_Segment", "Kana_Last", "Kana_First", "Sansan_ID", "Birthday"}
    assert cfs["Birthday"]["type"] == "Number" and cfs["Customer_Segment"]["salesforceId"] == "Segment__c"
    # the values, the maximum length and the sync behaviour are not in the v5 API: they come from the supplement
    assert cfs["Sansan_ID"]["maxLength"] == 12 and "官公庁" not in cfs["Customer_Segment"]["values"]
    assert any(s.startswith("Kana_Last: ") and "syncBehavior" in s for s in md["sources"]["supplement"])
    lead = {f["name"]: f for f in md["salesforce"]["Lead"]["fields"]}
    contact = {f["name"]: f for f in md["salesforce"]["Contact"]["fields"]}
    assert lead["Segment__c"]["type"] == "picklist"
    assert "官公庁" in [v["value"] for v in lead["Segment__c"]["picklistValues"]]
    assert lead["Sansan_Person_Id__c"]["length"] == 32 and contact["Birthdate"]["type"] == "date"
    assert lead["Pardot_Sync__c"]["type"] == "boolean"


def test_without_the_supplement_only_what_the_api_knows_is_audited(extracted):
    """No values / maxLength / syncBehavior: the picklist and length problems cannot be seen (and are
    not guessed); the type mismatch, which the API shows, still is."""
    md = extracted["metadata"]
    bare = {"salesforce": md["salesforce"], "pardot": {"customFields": [
        {k: v for k, v in cf.items() if k not in ("values", "maxLength", "syncBehavior")}
        for cf in md["pardot"]["customFields"]]}}
    con = extracted["con"]
    cfg = Config()
    run_sync_health(con, cfg, metadata=bare)
    causes = {r[0] for r in con.execute("SELECT cause FROM sync_findings WHERE problem = 'field_mapping'").fetchall()}
    assert "type_mismatch" in causes and not {"picklist_mismatch", "length_mismatch"} & causes
    run_sync_health(con, cfg, metadata=md)  # leave the module's tables as the full run made them
