"""The fake org over real HTTPS, driven by the real simple-salesforce client and plain requests."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.exceptions import (SalesforceExpiredSession, SalesforceGeneralError,
                                          SalesforceMalformedRequest, SalesforceRefusedRequest,
                                          SalesforceResourceNotFound)
from urllib3.util.retry import Retry

from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore

from tests.nayose.fakeorg_helpers import ACCOUNT_ID, client, contact_id, lead_id, sample_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def org():
    with FakeOrg(sample_store(), page_size=5) as o:
        yield o


@pytest.fixture
def sf(org):
    return client(org)


def _ids(records):
    return [r["Id"] for r in records]


# ---- query ------------------------------------------------------------------------------------

def test_query_pages_with_next_records_url_and_nests_parents(org, sf):
    first = sf.query("SELECT Id, Name, Email, Account.Name FROM Contact ORDER BY CreatedDate")
    assert first["totalSize"] == 12 and first["done"] is False and len(first["records"]) == 5
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-5")
    rec = first["records"][0]
    assert rec["attributes"] == {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/{contact_id(1)}"}
    assert rec["Name"] == "田中 太郎" and rec["Email"] == "user1@sample.co.jp"
    assert rec["Account"]["Name"] == "株式会社サンプル" and rec["Account"]["attributes"]["type"] == "Account"

    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 5 and second["done"] is False

    everything = sf.query_all("SELECT Id FROM Contact")
    assert len(everything["records"]) == 12 == len(set(_ids(everything["records"])))
    lazily = list(sf.query_all_iter("SELECT Id, LastName FROM Contact WHERE Account.Name = '株式会社サンプル'"))
    assert len(lazily) == 8 and all(r["LastName"] for r in lazily)
    # the page size can be lowered per request like Salesforce's Sforce-Query-Options
    small = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=2"})
    assert len(small["records"]) == 2 and sf.query_more(small["nextRecordsUrl"], True)["records"]


def test_count_and_aggregate(sf):
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 6
    assert sf.query("SELECT COUNT() FROM Lead WHERE Email = null")["totalSize"] == 1
    agg = sf.query("SELECT COUNT(Id) n FROM Contact WHERE LeadSource = '名刺'")
    assert agg["records"][0]["n"] == 3


def test_query_all_sees_merged_away_records_query_does_not(org, sf):
    org.store.delete(lead_id(2), master_id=lead_id(1))
    soql = "SELECT Id, MasterRecordId FROM Lead WHERE IsDeleted = true AND MasterRecordId != null"
    assert sf.query(soql)["records"] == []
    gone = sf.query_all(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["MasterRecordId"]) for r in gone] == [(lead_id(2), lead_id(1))]
    assert lead_id(2) not in _ids(sf.query_all("SELECT Id FROM Lead")["records"])


@pytest.mark.parametrize("where, expected", [
    (r"LastName = 'O\'Brien\\Smith'", [4]),
    ("LastName LIKE '田%' OR LastName LIKE 'tana%'", [1, 6]),
    ("Company LIKE '%サンプル%' AND NOT (FirstName = 'タロウ')", [1]),
    ("Email IN ('tanaka@sample.co.jp', 'suzuki@test.jp')", [1, 2, 3]),
    ("Email NOT IN ('tanaka@sample.co.jp') AND Email != null", [3, 4, 6]),
    ("CreatedDate >= 2026-11-03T00:00:00Z AND CreatedDate < 2026-11-05T00:00:00.000+0000", [3, 4]),
    ("CreatedDate > 2026-11-05T08:00:00+09:00", [5, 6]),
    ("HasOptedOutOfEmail = true", [3]),
    ("email = 'TANAKA@SAMPLE.CO.JP'", [1, 2]),
    (f"Id = '{lead_id(5)[:15]}'", [5]),
])
def test_soql_filters(sf, where, expected):
    got = sf.query(f"SELECT Id FROM Lead WHERE {where} ORDER BY CreatedDate")["records"]
    assert _ids(got) == [lead_id(n) for n in expected]


def test_soql_order_limit_offset_and_types(sf):
    rows = sf.query("SELECT Id, LastName, HasOptedOutOfEmail FROM Lead ORDER BY CreatedDate DESC LIMIT 2 OFFSET 1")
    assert _ids(rows["records"]) == [lead_id(5), lead_id(4)]
    assert rows["records"][0]["HasOptedOutOfEmail"] is False  # CSV "false" comes back as a boolean
    nulls_last = sf.query_all("SELECT Id FROM Lead ORDER BY Email ASC NULLS LAST")["records"]
    assert nulls_last[-1]["Id"] == lead_id(5)


def test_soql_errors_look_like_salesforce(sf):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id, Nickname__c FROM Lead")
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nickname__c' on entity 'Lead'" in e.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id FROM Lead WHERE")
    assert e.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id FROM Lead WHERE LastName = 'unterminated")
    assert e.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id FROM Prospect__c")
    assert e.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id, Referrer.Name FROM Lead")
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_declared_and_fixture_custom_fields(org, sf):
    org.define_field("Lead", "Kana_LastName__c", length=80)
    rows = sf.query("SELECT Id, Kana_LastName__c FROM Lead WHERE Id = '%s'" % lead_id(1))["records"]
    assert rows[0]["Kana_LastName__c"] is None
    cards = sf.query("SELECT Id, Sansan_Person_Id__c FROM Contact WHERE Sansan_Person_Id__c != null")["records"]
    assert sorted(r["Sansan_Person_Id__c"] for r in cards) == ["SP00004", "SP00008", "SP00012"]


# ---- sObjects ---------------------------------------------------------------------------------

def test_sobject_create_get_update_delete(org, sf):
    created = sf.Lead.create({"LastName": "佐々木", "FirstName": "健", "Company": "株式会社サンプル",
                              "Email": "sasaki@sample.co.jp", "LeadSource": "名刺"})
    assert created["success"] is True and created["id"].startswith("00Q") and len(created["id"]) == 18
    lead = sf.Lead.get(created["id"])
    assert lead["LastName"] == "佐々木" and lead["Status"] == "Open - Not Contacted" and lead["IsDeleted"] is False
    assert lead["Name"] == "佐々木 健" and lead["CreatedDate"].endswith("+0000")
    assert sf.Lead.update(created["id"], {"Company": "株式会社サンプル 東京支社"}) == 204
    assert org.store.get(created["id"])["Company"] == "株式会社サンプル 東京支社"
    partial = sf.restful(f"sobjects/Lead/{created['id']}", params={"fields": "Id,Company"})
    assert set(partial) == {"attributes", "Id", "Company"}
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Lead.get(created["id"])
    assert e.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Lead.get(lead_id(99))
    assert e.value.content[0]["errorCode"] == "NOT_FOUND"


def test_sobject_write_errors(sf):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.create({"LastName": "伊藤"})
    assert e.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.update(lead_id(1), {"IsConverted": True})
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.update(lead_id(1), {"Nickname__c": "たろちゃん"})
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.update(contact_id(1), {"Email": "田中@例え"})
    assert e.value.content[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"


def test_describe_derives_fields_from_records(sf):
    d = sf.Contact.describe()
    fields = {f["name"]: f for f in d["fields"]}
    assert d["keyPrefix"] == "003" and d["mergeable"] is True
    assert fields["LastName"]["type"] == "string" and fields["LastName"]["length"] == 80
    assert fields["AccountId"]["referenceTo"] == ["Account"] and fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Sansan_Person_Id__c"]["custom"] is True and fields["Sansan_Person_Id__c"]["updateable"] is True
    assert fields["IsDeleted"]["updateable"] is False and fields["Name"]["updateable"] is False
    assert "名刺" in [p["value"] for p in fields["LeadSource"]["picklistValues"]]
    assert {"Lead", "Contact", "Account"} <= {o["name"] for o in sf.describe()["sobjects"]}


# ---- composite collections ----------------------------------------------------------------------

def test_collections_create_partial_success_and_all_or_none_rollback(org, sf):
    records = [{"attributes": {"type": "Lead"}, "LastName": "中島", "Company": "株式会社サンプル"},
               {"attributes": {"type": "Lead"}, "LastName": "欠落"}]
    res = sf.restful("composite/sobjects", method="POST", data=json.dumps({"allOrNone": False, "records": records}))
    assert res[0]["success"] is True and res[0]["id"].startswith("00Q")
    assert res[1] == {"id": None, "success": False, "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Company]", "fields": ["Company"]}]}
    before = org.store.snapshot()
    res = sf.restful("composite/sobjects", method="POST", data=json.dumps({"allOrNone": True, "records": records}))
    assert [r["success"] for r in res] == [False, False]
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert org.store.snapshot() == before


def test_collections_update_delete_retrieve(org, sf):
    upd = sf.restful("composite/sobjects", method="PATCH", data=json.dumps({"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "Id": lead_id(1), "Company": "株式会社サンプル"},
        {"attributes": {"type": "Lead"}, "Id": lead_id(2), "LastName": "田中", "FirstName": "太郎"}]}))
    assert [r["success"] for r in upd] == [True, True]
    assert org.store.get(lead_id(2))["LastName"] == "田中"
    rolled = sf.restful("composite/sobjects", method="PATCH", data=json.dumps({"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "Id": lead_id(3), "Company": "変更"},
        {"attributes": {"type": "Lead"}, "Id": lead_id(98), "Company": "存在しない"}]}))
    assert rolled[1]["errors"][0]["statusCode"] == "NOT_FOUND"
    assert org.store.get(lead_id(3))["Company"] == "テスト商事"
    deleted = sf.restful("composite/sobjects", method="DELETE",
                         params={"ids": f"{lead_id(5)},{lead_id(97)}", "allOrNone": "false"})
    assert deleted[0] == {"id": lead_id(5), "success": True, "errors": []}
    assert deleted[1]["success"] is False
    got = sf.restful("composite/sobjects/Lead", params={"ids": f"{lead_id(1)},{lead_id(5)}", "fields": "Id,LastName"})
    assert got[0]["LastName"] == "田中" and got[1] is None


def test_partial_fault_on_collection(org, sf):
    org.faults.partial(method="POST", path="composite/sobjects$", indices=[1], error_code="UNABLE_TO_LOCK_ROW")
    recs = [{"attributes": {"type": "Contact"}, "LastName": n, "AccountId": ACCOUNT_ID} for n in ("井上", "木村", "林")]
    res = sf.restful("composite/sobjects", method="POST", data=json.dumps({"allOrNone": False, "records": recs}))
    assert [r["success"] for r in res] == [True, False, True]
    assert res[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert org.faults.injected["partial"] == 1
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName IN ('井上', '木村', '林')")["totalSize"] == 2


# ---- Bulk API 2.0 -------------------------------------------------------------------------------

def test_bulk2_query_pages_csv_with_locators(org, sf):
    pages = list(sf.bulk2.Contact.query("SELECT Id, LastName, Account.Name FROM Contact ORDER BY CreatedDate",
                                        max_records=5, wait=0))
    assert len(pages) == 3
    rows = [r for p in pages for r in csv.DictReader(io.StringIO(p))]
    assert len(rows) == 12 and rows[0] == {"Id": contact_id(1), "LastName": "田中", "Account.Name": "株式会社サンプル"}
    assert pages[0].startswith('"Id","LastName","Account.Name"\n')


def test_bulk2_query_all_and_polling(org):
    org.bulk_polls_before_complete = 2
    org.store.delete(lead_id(6))
    sf = client(org)
    live = [r for p in sf.bulk2.Lead.query("SELECT Id FROM Lead", wait=0) for r in csv.DictReader(io.StringIO(p))]
    every = [r for p in sf.bulk2.Lead.query_all("SELECT Id, IsDeleted FROM Lead", wait=0)
             for r in csv.DictReader(io.StringIO(p))]
    assert len(live) == 5 and len(every) == 6
    assert {r["Id"]: r["IsDeleted"] for r in every}[lead_id(6)] == "true"
    states = [s for m, p, s in org.requests_log if m == "GET" and p.count("/") == 6 and "/jobs/query/" in p]
    assert len(states) >= 6  # two InProgress polls per job before JobComplete
    with pytest.raises(SalesforceMalformedRequest):
        sf.bulk2.Lead.query("SELECT Id, Nope FROM Lead", wait=0).__next__()


# ---- limits and auth ----------------------------------------------------------------------------

def test_limit_info_header_and_limit_exceeded(org, sf):
    used = org.store.api_used
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == used + 1
    assert sf.api_usage["api-usage"].total == org.store.api_daily_limit
    assert sf.limits()["DailyApiRequests"]["Remaining"] == org.store.api_daily_limit - org.store.api_used
    org.store.api_daily_limit = org.store.api_used + 1
    sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceRefusedRequest) as e:
        sf.query("SELECT Id FROM Account")
    assert e.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_wrong_or_rotated_token_is_401(org):
    with FakeOrg(OrgStore()) as other:
        stranger = client(org)
        stranger.session_id = other.access_token
        stranger._generate_headers()
        with pytest.raises(SalesforceExpiredSession) as e:
            stranger.query("SELECT Id FROM Lead")
        assert e.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    sf = client(org)
    org.rotate_access_token()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead")
    r = org.session().get(f"{org.instance_url}/services/data/v62.0/limits",
                          headers={"Authorization": f"OAuth {org.access_token}"})
    assert r.status_code == 200


def test_oauth_password_and_jwt_grants(org):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    s = org.session()
    url = f"{org.instance_url}/services/oauth2/token"
    ok = s.post(url, data={"grant_type": "password", "client_id": org.consumer_key, "client_secret": "x",
                           "username": org.username, "password": org.password + org.security_token})
    assert ok.status_code == 200 and ok.json()["access_token"] == org.access_token
    assert ok.json()["instance_url"] == org.instance_url and ok.json()["token_type"] == "Bearer"
    bad = s.post(url, data={"grant_type": "password", "client_id": org.consumer_key, "username": org.username,
                            "password": org.password})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    org.jwt_public_key_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    now = datetime.now(timezone.utc)
    claims = {"iss": org.consumer_key, "sub": org.username, "aud": "https://login.salesforce.com",
              "exp": int((now + timedelta(minutes=3)).timestamp())}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    good = s.post(url, data={"grant_type": grant, "assertion": jwt.encode(claims, key, algorithm="RS256")})
    assert good.status_code == 200 and good.json()["access_token"] == org.access_token
    expired = dict(claims, exp=int((now - timedelta(minutes=1)).timestamp()))
    assert s.post(url, data={"grant_type": grant, "assertion": jwt.encode(expired, key, algorithm="RS256")}).json()[
        "error"] == "invalid_grant"
    other_user = dict(claims, sub="someone@example.co.jp")
    assert s.post(url, data={"grant_type": grant,
                             "assertion": jwt.encode(other_user, key, algorithm="RS256")}).status_code == 400


def test_soap_requests_are_routed_and_counted(org):
    s = org.session()
    url = f"{org.instance_url}/services/Soap/u/62.0"
    used = org.store.api_used
    body = (f'<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:urn="urn:partner.soap.sforce.com"><env:Header><urn:SessionHeader><urn:sessionId>{org.access_token}'
            '</urn:sessionId></urn:SessionHeader></env:Header><env:Body><urn:getServerTimestamp/></env:Body></env:Envelope>')
    r = s.post(url, data=body.encode(), headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'})
    assert r.headers["Content-Type"].startswith("text/xml") and r.text.lstrip().startswith("<?xml")
    assert org.store.api_used == used + 1
    login = ('<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
             '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>a</n1:username>'
             '<n1:password>b</n1:password></n1:login></env:Body></env:Envelope>')
    s.post(url, data=login.encode(), headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"})
    assert org.store.api_used == used + 1


# ---- faults -------------------------------------------------------------------------------------

def test_429_then_success_with_a_retrying_session(org):
    org.faults.status(429, method="GET", path=r"/query/?$", times=1, retry_after=1)
    session = org.session()
    session.mount("https://", HTTPAdapter(max_retries=Retry(total=3, status_forcelist=[429], allowed_methods=None,
                                                            respect_retry_after_header=True, backoff_factor=0)))
    started = time.monotonic()
    rows = client(org, session).query("SELECT Id FROM Account")["records"]
    assert len(rows) == 2 and time.monotonic() - started >= 0.9  # Retry-After: 1 was honoured
    assert [s for m, p, s in org.requests_log if p.endswith("/query/")] == [429, 200]
    assert org.faults.injected["status"] == 1 and org.faults.pending() == []


def test_503_surfaces_without_retries(org, sf):
    org.faults.status(503, path="/sobjects/Lead/", times=1)
    with pytest.raises(SalesforceGeneralError) as e:
        sf.Lead.get(lead_id(1))
    assert e.value.status == 503
    assert sf.Lead.get(lead_id(1))["LastName"] == "田中"


def test_connection_reset_before_and_mid_response(org, sf):
    org.faults.reset(method="GET", path="/query/")
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.query("SELECT Id FROM Lead")
    org.faults.reset_mid_response(method="GET", path="/query/")
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        sf.query("SELECT Id, Name, Company, Email, Account.Name FROM Contact")
    assert org.faults.injected["reset"] == 1 and org.faults.injected["reset_mid"] == 1
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 6  # the server is fine afterwards


def test_after_faults_apply_the_change_but_the_client_sees_an_error(org, sf):
    org.faults.status(500, method="PATCH", path="/sobjects/Lead/", when="after")
    with pytest.raises(SalesforceGeneralError):
        sf.Lead.update(lead_id(3), {"Company": "株式会社テスト商事"})
    assert org.store.get(lead_id(3))["Company"] == "株式会社テスト商事"
    org.faults.reset_mid_response(method="DELETE", path="/sobjects/Lead/", when="after")
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        sf.Lead.delete(lead_id(4))
    assert org.store.get(lead_id(4), include_deleted=True)["IsDeleted"] is True


def test_timeout_fault_and_latency(org, sf):
    org.faults.timeout(1.0, method="GET", path="/query/", when="after")
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.query("SELECT Id FROM Lead", timeout=0.3)
    org.faults.latency(0.2, path="/query/")
    started = time.monotonic()
    assert sf.query("SELECT COUNT() FROM Lead", timeout=5)["totalSize"] == 6
    assert time.monotonic() - started >= 0.2


def test_probabilistic_faults_are_reproducible_with_a_seed():
    from nayose.fakeorg.faults import Faults

    def run():
        f = Faults(seed=7)
        f.status(503, probability=0.3, times=None)
        return [f.take(("status",), "GET", "/x", when="before") is not None for _ in range(40)]
    a, b = run(), run()
    assert a == b and 4 <= sum(a) <= 20


# ---- Pardot ---------------------------------------------------------------------------------------

def _pardot(org):
    s = org.session()
    s.headers.update({"Authorization": f"Bearer {org.access_token}", "Pardot-Business-Unit-Id": org.business_unit_id})
    return s


def test_pardot_query_paging_and_auth(org):
    s = _pardot(org)
    for n in range(7):
        org.store.insert_prospect({"email": f"p{n}@example.co.jp", "lastName": "佐藤", "firstName": f"{n}郎"})
    url = f"{org.pardot_base_url}/api/v5/objects/prospects"
    values, page = [], s.get(url, params={"fields": "id,email,lastName,crmLeadFid,updatedAt", "limit": 4}).json()
    while True:
        values += page["values"]
        if not page["nextPageToken"]:
            break
        page = s.get(page["nextPageUrl"]).json()
    assert len(values) == 10 and len({v["id"] for v in values}) == 10
    assert values[0] == {"id": 5001, "email": "tanaka@sample.co.jp", "lastName": "田中", "crmLeadFid": lead_id(1),
                         "updatedAt": values[0]["updatedAt"]}
    assert datetime.fromisoformat(values[0]["updatedAt"]).tzinfo is not None
    desc = s.get(url, params={"fields": "id", "orderBy": "id DESC", "limit": 2}).json()["values"]
    assert [v["id"] for v in desc] == [5010, 5009]
    assert s.get(url).status_code == 400 and "fields" in s.get(url).json()["message"]
    assert s.get(url, params={"fields": "id", "limit": 1001}).status_code == 400
    no_bu = org.session().get(url, params={"fields": "id"}, headers={"Authorization": f"Bearer {org.access_token}"})
    assert no_bu.status_code == 401 and set(no_bu.json()) == {"code", "message"}
    bad = org.session().get(url, params={"fields": "id"}, headers={"Authorization": "Bearer nope",
                                                                   "Pardot-Business-Unit-Id": org.business_unit_id})
    assert bad.status_code == 401


def test_pardot_crud_recycle_bin_upsert_and_undelete(org):
    s = _pardot(org)
    base = f"{org.pardot_base_url}/api/v5/objects/prospects"
    created = s.post(base, params={"fields": "id,email,company"},
                     json={"email": "kimura@sample.co.jp", "lastName": "木村", "company": "株式会社サンプル"})
    assert created.status_code == 201
    pid = created.json()["id"]
    assert s.patch(f"{base}/{pid}", params={"fields": "id,company"}, json={"company": "(株)サンプル"}).json() == {
        "id": pid, "company": "(株)サンプル"}
    assert s.patch(f"{base}/{pid}", json={"crmLeadFid": lead_id(1)}).status_code == 400  # read-only
    assert s.delete(f"{base}/{pid}").status_code == 204
    assert s.get(f"{base}/{pid}", params={"fields": "id"}).status_code == 404
    live = s.get(base, params={"fields": "id", "limit": 1000}).json()["values"]
    binned = s.get(base, params={"fields": "id,isDeleted", "deleted": "true"}).json()["values"]
    assert pid not in [v["id"] for v in live] and binned == [{"id": pid, "isDeleted": True}]
    back = s.post(f"{base}/do/undelete", json={"id": pid, "fields": ["id", "isDeleted"]})
    assert back.status_code == 200 and back.json() == {"id": pid, "isDeleted": False}

    org.store.advance(60)
    org.store.prospects[5002]["updatedAt"] = org.store.now()  # the タロウ prospect is the latest
    up = s.post(f"{base}/do/upsertLatestByEmail",
                json={"matchEmail": "tanaka@sample.co.jp", "prospect": {"jobTitle": "部長"}, "fields": ["id", "jobTitle"]})
    assert up.json() == {"id": 5002, "jobTitle": "部長"} and org.store.prospects[5001].get("jobTitle") is None
    new = s.post(f"{base}/do/upsertLatestByEmail",
                 json={"matchEmail": "new@sample.co.jp", "prospect": {"lastName": "新規"}, "fields": ["id", "email"]})
    assert new.json()["email"] == "new@sample.co.jp" and new.json()["id"] not in (5001, 5002, 5003)


def test_pardot_updated_at_filter(org):
    s = _pardot(org)
    org.store.advance(3600)
    cut = org.store.now()
    org.store.prospects[5003]["updatedAt"] = org.store.now()
    got = s.get(f"{org.pardot_base_url}/api/v5/objects/prospects",
                params={"fields": "id", "updatedAtAfter": cut.replace("+0000", "+00:00")}).json()["values"]
    assert got == [{"id": 5003}]


# ---- plumbing -------------------------------------------------------------------------------------

def test_requests_log_has_no_query_strings_or_tokens(org, sf):
    sf.query("SELECT Id FROM Lead WHERE Email = 'tanaka@sample.co.jp'")
    flat = json.dumps(org.requests_log)
    assert "tanaka" not in flat and org.access_token not in flat
    assert org.requests_log[-1] == ("GET", "/services/data/v62.0/query/", 200)


def test_cli_serves_and_saves_state_on_sigterm(tmp_path):
    state = tmp_path / "org.json"
    seed = tmp_path / "seed.csv"
    seed.write_text("Id,LastName,Company\n00Q5F00000X0001AAA,田中,株式会社サンプル\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "nayose.fakeorg", "--port", "0", "--state", str(state),
                             "--ca-dir", str(tmp_path / "ca"), "--seed-csv", str(seed)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        s = requests.Session()
        s.verify, s.trust_env = info["ca_path"], False
        r = s.get(f"{info['instance_url']}/services/data/v62.0/query",
                  params={"q": "SELECT LastName FROM Lead"}, headers={"Authorization": f"Bearer {info['access_token']}"})
        assert r.json()["records"][0]["LastName"] == "田中" and info["seeded"] == 1
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert OrgStore.load(state).api_used == 1
