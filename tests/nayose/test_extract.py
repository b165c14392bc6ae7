"""Extract from Salesforce and Pardot with the real clients (simple-salesforce, requests) over HTTPS
to the local fake org: REST and Bulk 2.0 agree, incremental runs pull only what changed and learn
what was deleted or merged away, the three ways to log in, retries, Pardot paging and links, and
no secret anywhere.
"""

from __future__ import annotations

import json
import logging

import duckdb
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nayose.config import Config
from nayose.errors import NayoseError
from nayose.extract import (
    extract_salesforce,
    get_watermark,
    soql_datetime,
    soql_id,
    write_records_csv,
)
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore
from nayose.pardot import (
    PardotClient,
    PardotNotFound,
    PardotSettings,
    extract_pardot,
    join_prospects,
    normalize_email,
    pardot_settings_from_env,
)
from nayose.records import load_records
from nayose.salesforce import (
    SalesforceAuthError,
    SalesforceAPIError,
    api_usage,
    connect,
    make_session,
    make_settings,
    scrub,
    settings_from_env,
)

PASSWORD = "Pass-山田-2026!"
TOKEN = "SecTok987654321"
CONSUMER_SECRET = "ConsumerSecret-5566"

ACCOUNTS = [
    {"Name": "株式会社サンプル商事", "BillingState": "東京都", "BillingCity": "千代田区", "Phone": "03-1234-5678"},
    {"Name": "有限会社テスト工業", "BillingState": "大阪府", "BillingCity": "大阪市北区", "Phone": "06-9876-5432"},
    {"Name": "合同会社ミライ", "BillingState": "神奈川県", "BillingCity": "横浜市西区"},
]
LEADS = [
    # 山田太郎 three times (web form, business card with full-width text, trade show in half-width kana)
    {"LastName": "山田", "FirstName": "太郎", "Company": "株式会社サンプル商事", "Email": "taro.yamada@sample.co.jp",
     "Phone": "03-1234-5678", "MobilePhone": "090-1111-2222", "PostalCode": "100-0001", "State": "東京都",
     "City": "千代田区", "Street": "千代田1-1-1", "LeadSource": "Web", "AnnualRevenue": "50000000",
     "NumberOfEmployees": "120"},
    {"LastName": "山田", "FirstName": "太郎", "Company": "㈱サンプル商事", "Email": "ＴＡＲＯ．ＹＡＭＡＤＡ＠ｓａｍｐｌｅ．ｃｏ．ｊｐ",
     "Phone": "０３（１２３４）５６７８", "MobilePhone": "09011112222", "PostalCode": "〒1000001", "State": "東京都",
     "LeadSource": "名刺", "Description": "名刺交換\n展示会にて, \"重要\""},
    {"LastName": "ﾔﾏﾀﾞ", "FirstName": "ﾀﾛｳ", "Company": "サンプル商事", "Phone": "03-1234-5678", "LeadSource": "展示会"},
    {"LastName": "鈴木", "FirstName": "一郎", "Company": "株式会社サンプル商事", "Email": "ichiro.suzuki@sample.co.jp",
     "Phone": "03-1234-5678", "LeadSource": "Web", "HasOptedOutOfEmail": True},
    {"LastName": "高橋", "FirstName": "健", "Company": "合同会社ミライ", "Email": "ken.takahashi@mirai.example",
     "Phone": "045-111-2222", "LeadSource": "Web"},
    {"LastName": "渡辺", "FirstName": "美咲", "Company": "個人", "Email": "misaki.w@gmail.com", "LeadSource": "Web"},
    {"LastName": "Sato", "FirstName": "Hanako", "Company": "Test Kogyo Co., Ltd.", "Email": "hanako.sato@test-kogyo.jp"},
    {"LastName": "伊藤", "FirstName": "誠", "Company": "株式会社テストデータ", "Email": "test@example.com", "LeadSource": "Purchased List"},
]
CONTACTS = [
    # (account index, fields)
    (1, {"LastName": "佐藤", "FirstName": "花子", "Email": "hanako.sato@test-kogyo.jp", "Phone": "06-9876-5432",
         "MailingPostalCode": "530-0001", "MailingState": "大阪府", "MailingCity": "大阪市北区", "MailingStreet": "梅田2-2-2",
         "Birthdate": "1985-04-01"}),
    (2, {"LastName": "高橋", "FirstName": "健", "Email": "Ken.Takahashi@Mirai.example", "Phone": "045-111-2222",
         "Department": "営業部"}),
    (0, {"LastName": "髙木", "FirstName": "美咲", "Email": "misaki.takagi@sample.co.jp", "MobilePhone": "080-3333-4444"}),
    (0, {"LastName": "中村", "FirstName": "翔", "Email": "sho.nakamura@sample.co.jp", "Title": "部長"}),
]


def seed(n_extra_leads: int = 24) -> tuple[OrgStore, dict[str, list[str]]]:
    store = OrgStore(api_daily_limit=15_000)
    ids: dict[str, list[str]] = {"Account": [], "Lead": [], "Contact": []}
    for a in ACCOUNTS:
        ids["Account"].append(store.insert("Account", a))
    for lead in LEADS:
        ids["Lead"].append(store.insert("Lead", lead))
    surnames = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山口"]
    for i in range(n_extra_leads):
        ids["Lead"].append(
            store.insert(
                "Lead",
                {"LastName": surnames[i % len(surnames)], "FirstName": f"社員{i:02d}", "Company": f"株式会社テック{i % 5}",
                 "Email": f"staff{i:02d}@tech{i % 5}.co.jp", "Phone": f"03-5555-{1000 + i}", "LeadSource": "Web"},
            )
        )
    for acc, c in CONTACTS:
        ids["Contact"].append(store.insert("Contact", {**c, "AccountId": ids["Account"][acc]}))
    return store, ids


@pytest.fixture
def org():
    store, ids = seed()
    with FakeOrg(store, page_size=7, password=PASSWORD, security_token=TOKEN) as o:
        o.ids = ids
        yield o


def session_settings(o: FakeOrg, **kw):
    return make_settings(auth="session", instance_url=o.instance_url, session_id=o.access_token,
                         ca_bundle=o.ca_path, backoff_factor=0.01, **kw)


def records_table(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rel = con.sql("SELECT * FROM sf_records ORDER BY Id")
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


# --------------------------------------------------------------------------------------------
# REST and Bulk


def test_rest_and_bulk_extracts_are_identical(org, tmp_path):
    sf = connect(session_settings(org))
    rest, bulk = duckdb.connect(), duckdb.connect()
    r1 = extract_salesforce(sf, rest, mode="rest")
    r2 = extract_salesforce(sf, bulk, mode="bulk", bulk_page_size=5, bulk_poll_seconds=0.05)
    assert {o.mode for o in r1.objects.values()} == {"rest"}
    assert {o.mode for o in r2.objects.values()} == {"bulk"}
    a, b = records_table(rest), records_table(bulk)
    assert len(a) == 3 + len(LEADS) + 24 + len(CONTACTS)
    assert a == b
    assert [r[0] for r in rest.sql("DESCRIBE sf_records").fetchall()] == [r[0] for r in bulk.sql("DESCRIBE sf_records").fetchall()]

    by_id = {r["Id"]: r for r in a}
    card = by_id[org.ids["Lead"][1]]
    assert card["Email"] == "ＴＡＲＯ．ＹＡＭＡＤＡ＠ｓａｍｐｌｅ．ｃｏ．ｊｐ"
    assert card["Description"] == "名刺交換\n展示会にて, \"重要\""  # newline, comma and quotes survive CSV and JSON
    assert by_id[org.ids["Lead"][0]]["AnnualRevenue"] == "50000000"
    assert by_id[org.ids["Lead"][3]]["HasOptedOutOfEmail"] == "true"
    contact = by_id[org.ids["Contact"][0]]
    assert contact["Account.Name"] == "有限会社テスト工業" and contact["Object"] == "Contact"
    assert contact["SystemModstamp"].endswith("+0000")
    assert by_id[org.ids["Lead"][2]]["Email"] is None  # an empty value is NULL in both

    # The CSV for `nayose plan` / raw_records: Leads and Contacts load unchanged.
    out = tmp_path / "salesforce_records.csv"
    n = write_records_csv(rest, out, ["Lead", "Contact"])
    assert n == len(LEADS) + 24 + len(CONTACTS)
    res = load_records(rest, [out], Config())
    assert res.rows == n and res.stats["objects"]["Contact"] == len(CONTACTS)
    got = rest.sql(
        'SELECT "Account.Name", MailingCity FROM raw_records WHERE Id = ?', params=[org.ids["Contact"][0]]
    ).fetchall()
    assert got == [("有限会社テスト工業", "大阪市北区")]
    desc = rest.sql("SELECT Description FROM raw_records WHERE Id = ?", params=[org.ids["Lead"][1]]).fetchall()
    assert desc == [("名刺交換\n展示会にて, \"重要\"",)]


def test_auto_mode_counts_first_and_picks_bulk_for_large_pulls(org):
    sf = connect(session_settings(org))
    con = duckdb.connect()
    res = extract_salesforce(sf, con, mode="auto", bulk_threshold=10, bulk_poll_seconds=0.05)
    assert res.objects["Lead"].mode == "bulk"       # 32 Leads >= 10
    assert res.objects["Contact"].mode == "rest"    # 4 Contacts
    assert res.objects["Account"].mode == "rest"
    assert res.api_usage is not None and res.api_usage[1] == 15_000
    assert res.api_usage == api_usage(sf)
    assert res.api_usage[0] == org.store.api_used


def test_fields_are_checked_against_describe(org):
    sf = connect(session_settings(org))
    con = duckdb.connect()
    res = extract_salesforce(sf, con, objects=["Contact"], fields={"Contact": ["lastname", "EMAIL", "Account.Name"]})
    assert res.objects["Contact"].fields == ["Id", "SystemModstamp", "LastName", "Email", "Account.Name"]
    with pytest.raises(NayoseError, match="Lead.Nickname__c does not exist"):
        extract_salesforce(sf, con, objects=["Lead"], fields={"Lead": ["Nickname__c"]})
    for bad in ["Email FROM Lead --", "Name) FROM Account", "Account.Owner.Name"]:
        with pytest.raises(NayoseError):
            extract_salesforce(sf, con, objects=["Contact"], fields={"Contact": [bad]})
    with pytest.raises(NayoseError, match="not a Salesforce object name"):
        extract_salesforce(sf, con, objects=["Lead WHERE Id != null"])
    # A custom field the org has is extracted by default; a standard field it lacks is no error.
    org.define_field("Lead", "Sansan_Person_Id__c")
    org.store.update(org.ids["Lead"][1], {"Sansan_Person_Id__c": "SP-0001"})
    res = extract_salesforce(sf, duckdb.connect(), objects=["Lead"])
    assert "Sansan_Person_Id__c" in res.objects["Lead"].fields and "Birthdate" not in res.objects["Lead"].fields


def test_soql_values_are_formatted_and_checked():
    assert soql_datetime("2026-11-01T09:00:00.123+0900") == "2026-11-01T00:00:00.123Z"
    assert soql_datetime("2026-11-01T00:00:00Z") == "2026-11-01T00:00:00.000Z"
    for bad in ["2026-11-01", "2026-11-01T00:00:00.000+0000 OR Id != null", "yesterday"]:
        with pytest.raises(NayoseError):
            soql_datetime(bad)
    assert soql_id("00Q9Z0000000001UAA") == "'00Q9Z0000000001UAA'"
    with pytest.raises(NayoseError):
        soql_id("00Q' OR Name != '")


# --------------------------------------------------------------------------------------------
# incremental


def test_incremental_run_pulls_only_changes_and_learns_deletes_and_merges(org, tmp_path):
    sf = connect(session_settings(org))
    con = duckdb.connect(str(tmp_path / "extract.duckdb"))
    first = extract_salesforce(sf, con)
    assert first.objects["Lead"].new == 32 and first.objects["Lead"].rows == 32
    wm = get_watermark(con, "Lead")
    assert wm == max(r["SystemModstamp"] for r in org.store.rows("Lead"))

    org.store.advance(60)
    leads, contacts = org.ids["Lead"], org.ids["Contact"]
    org.store.update(leads[0], {"Phone": "03-9999-0000", "Title": "課長"})
    org.store.update(leads[4], {"Company": "合同会社ミライ（新社名）"})
    org.store.update(contacts[1], {"Department": "マーケティング部"})
    org.store.delete(leads[5])                          # deleted: to the Recycle Bin
    org.store.delete(leads[2], master_id=leads[0])      # merged away into 山田太郎 (web)
    new_id = org.store.insert("Lead", {"LastName": "森", "FirstName": "葵", "Company": "株式会社サンプル商事"})

    second = extract_salesforce(sf, con)
    lead, contact, account = second.objects["Lead"], second.objects["Contact"], second.objects["Account"]
    assert lead.incremental and lead.watermark_before == wm
    # (every record here is stamped within the overlap before the watermark: read again, left alone)
    assert (lead.new, lead.changed, lead.deleted, lead.merged, lead.removed) == (1, 2, 2, 1, 2)
    assert lead.unchanged == lead.pulled - 3
    assert (contact.changed, contact.new) == (1, 0)
    assert (account.new, account.changed) == (0, 0) and account.mode == "none"
    assert lead.rows == 32 + 1 - 2
    assert lead.watermark == max(r["SystemModstamp"] for r in org.store.rows("Lead", include_deleted=True))

    deleted = dict(((i, (o, m)) for i, o, m, _ in con.execute("SELECT * FROM sf_deleted").fetchall()))
    assert deleted == {leads[5]: ("Lead", None), leads[2]: ("Lead", leads[0])}
    live = {r[0] for r in con.execute("SELECT Id FROM sf_records").fetchall()}
    assert leads[5] not in live and leads[2] not in live and new_id in live
    row = con.execute("SELECT Phone, Title FROM sf_records WHERE Id = ?", [leads[0]]).fetchall()
    assert row == [("03-9999-0000", "課長")]
    assert con.execute("SELECT Department FROM sf_records WHERE Id = ?", [contacts[1]]).fetchall() == [("マーケティング部",)]

    # Nothing changed: nothing written, the watermark stays.
    third = extract_salesforce(sf, con)
    assert all(o.new == o.changed == o.deleted == o.removed == 0 and o.mode == "none" for o in third.objects.values())
    assert get_watermark(con, "Lead") == lead.watermark

    # Undeleted: back in sf_records, out of sf_deleted.
    org.store.undelete(leads[5])
    fourth = extract_salesforce(sf, con, objects=["Lead"])
    assert fourth.objects["Lead"].new == 1
    assert con.execute("SELECT count(*) FROM sf_deleted WHERE Id = ?", [leads[5]]).fetchall() == [(0,)]

    # A full run (no watermark) gives the same table as the incremental history.
    full = duckdb.connect()
    extract_salesforce(sf, full, mode="bulk", bulk_poll_seconds=0.05)
    assert records_table(full) == records_table(con)
    rows = con.execute("SELECT object, rows FROM extract_watermarks ORDER BY object").fetchall()
    assert rows == [("Account", 3), ("Contact", 4), ("Lead", 32)]


# --------------------------------------------------------------------------------------------
# auth


def _rsa_pair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_three_ways_to_log_in(tmp_path):
    private, public = _rsa_pair()
    store, _ = seed(0)
    with FakeOrg(store, password=PASSWORD, security_token=TOKEN, jwt_public_key_pem=public) as o:
        common = {"login_url": o.instance_url, "ca_bundle": o.ca_path}
        soap = connect(make_settings(username=o.username, password=PASSWORD, security_token=TOKEN, **common))
        assert soap.nayose_auth == "password" and soap.session_id == o.access_token
        oauth = connect(make_settings(username=o.username, password=PASSWORD, security_token=TOKEN,
                                      consumer_key=o.consumer_key, consumer_secret=CONSUMER_SECRET, **common))
        assert oauth.nayose_auth == "password"
        key_file = tmp_path / "server.key"
        key_file.write_text(private)
        jwt_sf = connect(make_settings(auth="jwt", username=o.username, consumer_key=o.consumer_key,
                                       private_key_file=str(key_file), **common))
        assert jwt_sf.nayose_auth == "jwt"
        direct = connect(session_settings(o))
        for sf in (soap, oauth, jwt_sf, direct):
            assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == len(LEADS)

        # Wrong credentials: a clear error naming the flow, no secret in it.
        with pytest.raises(SalesforceAuthError, match="SOAP login") as e1:
            connect(make_settings(username=o.username, password="wrong-Pass-999", security_token=TOKEN, **common))
        assert "INVALID_LOGIN" in str(e1.value) and "wrong-Pass-999" not in str(e1.value) and TOKEN not in str(e1.value)
        other_private, _ = _rsa_pair()
        with pytest.raises(SalesforceAuthError, match="JWT bearer login .* invalid_grant"):
            connect(make_settings(auth="jwt", username=o.username, consumer_key=o.consumer_key,
                                  private_key=other_private, **common))
        with pytest.raises(SalesforceAuthError, match="cannot sign"):
            connect(make_settings(auth="jwt", username=o.username, consumer_key=o.consumer_key,
                                  private_key="-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----", **common))


def test_settings_from_env_and_their_checks(tmp_path):
    env = {
        "NAYOSE_SF_LOGIN_URL": "https://example.my.salesforce.com/some/path",
        "NAYOSE_SF_USERNAME": "analyst@example.co.jp",
        "NAYOSE_SF_PASSWORD": PASSWORD,
        "NAYOSE_SF_SECURITY_TOKEN": TOKEN,
        "NAYOSE_SF_API_VERSION": "v61.0",
        "NAYOSE_SF_MAX_RETRIES": "2",
        "NAYOSE_SF_SESSION_ID": "",
    }
    s = settings_from_env(env)
    assert s.login_url == "https://example.my.salesforce.com" and s.api_version == "61.0" and s.max_retries == 2
    assert s.resolved_auth() == "password"
    assert PASSWORD not in repr(s) and TOKEN not in repr(s) and PASSWORD not in str(s.model_dump())
    with pytest.raises(NayoseError, match="NAYOSE_SF_LOGIN_URL: .*https"):
        settings_from_env({**env, "NAYOSE_SF_LOGIN_URL": "http://login.salesforce.com"})
    with pytest.raises(NayoseError, match="auth 'jwt' needs"):
        settings_from_env({**env, "NAYOSE_SF_AUTH": "jwt"})
    with pytest.raises(NayoseError, match="not configured"):
        settings_from_env({}).resolved_auth()
    p = pardot_settings_from_env({"NAYOSE_PARDOT_BUSINESS_UNIT_ID": "0Uv5F0000000001AAA",
                                  "NAYOSE_PARDOT_ACCESS_TOKEN": "00D!pardot-token-xyz"})
    assert p.base_url == "https://pi.pardot.com" and "pardot-token-xyz" not in repr(p)
    with pytest.raises(NayoseError, match="BUSINESS_UNIT_ID"):
        pardot_settings_from_env({})


# --------------------------------------------------------------------------------------------
# retries


def test_429_503_and_a_reset_on_gets_are_retried(org):
    sf = connect(session_settings(org))
    org.faults.status(503, "GET", r"/query", times=2)
    org.faults.status(429, "GET", r"/describe", times=1, retry_after=1)
    org.faults.reset("GET", r"/query", times=1)
    org.faults.reset_mid_response("GET", r"/query", times=1)
    org.faults.status(503, "GET", r"/jobs/query/[^/]+/results", times=1)
    con = duckdb.connect()
    res = extract_salesforce(sf, con, mode="auto", bulk_threshold=20, bulk_poll_seconds=0.05)
    assert org.faults.injected["status"] == 4 and org.faults.injected["reset"] == 1
    assert org.faults.injected["reset_mid"] == 1
    assert res.objects["Lead"].mode == "bulk" and res.objects["Lead"].rows == 32
    assert con.execute("SELECT count(*) FROM sf_records").fetchall() == [(39,)]


def test_posts_are_never_repeated_and_failures_are_clear(org):
    sf = connect(session_settings(org, max_retries=3))
    org.faults.status(503, "POST", r"/jobs/query", times=5)
    with pytest.raises(SalesforceAPIError, match=r"Bulk API 2.0 query of Lead failed: HTTP 503"):
        extract_salesforce(sf, duckdb.connect(), objects=["Lead"], mode="bulk", bulk_poll_seconds=0.05)
    assert org.faults.injected["status"] == 1  # the job creation was not retried
    # A GET that keeps failing gives up after max_retries + 1 attempts.
    org.faults.clear()
    org.faults.status(500, "GET", r"/query", times=10)
    before = org.faults.injected["status"]
    with pytest.raises(SalesforceAPIError, match="HTTP 500"):
        extract_salesforce(sf, duckdb.connect(), objects=["Account"], mode="rest")
    assert org.faults.injected["status"] - before == 4
    # A failed object leaves the store as it was (one transaction per object).
    con = duckdb.connect()
    org.faults.clear()
    extract_salesforce(sf, con, objects=["Account"])
    wm = get_watermark(con, "Account")
    org.store.update(org.ids["Account"][0], {"Phone": "03-0000-0000"})
    org.faults.status(500, "GET", r"/queryAll", times=10)
    with pytest.raises(SalesforceAPIError, match="queryAll of deleted Account records"):
        extract_salesforce(sf, con, objects=["Account"])
    assert get_watermark(con, "Account") == wm


def test_retry_policy_only_for_idempotent_methods():
    s = make_session(make_settings(max_retries=3, backoff_factor=0.1))
    retry = s.get_adapter("https://login.salesforce.com").max_retries
    assert {"GET", "HEAD", "PUT", "DELETE"} <= set(retry.allowed_methods)
    assert "POST" not in retry.allowed_methods and "PATCH" not in retry.allowed_methods
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504} and retry.respect_retry_after_header
    assert retry.total == 3


# --------------------------------------------------------------------------------------------
# Pardot


def test_pardot_paging_links_and_deletes(org):
    store = org.store
    leads, contacts = org.ids["Lead"], org.ids["Contact"]
    # Synced prospects (CRM id), prospects without a CRM id (email only; full-width, upper-case), strangers.
    pids = []
    pids.append(store.insert_prospect({"email": "taro.yamada@sample.co.jp", "firstName": "太郎", "lastName": "山田",
                                       "salesforceId": leads[0], "crmLeadFid": leads[0]}))
    pids.append(store.insert_prospect({"email": "hanako.sato@test-kogyo.jp", "lastName": "佐藤",
                                       "crmContactFid": contacts[0]}))
    pids.append(store.insert_prospect({"email": "ＫＥＮ．ＴＡＫＡＨＡＳＨＩ＠ＭＩＲＡＩ．ＥＸＡＭＰＬＥ", "lastName": "高橋"}))
    pids.append(store.insert_prospect({"email": "sho.nakamura@sample.co.jp", "salesforceId": contacts[3][:15]}))
    pids.append(store.insert_prospect({"email": "nobody@example.jp", "lastName": "無名"}))
    for i in range(20):
        pids.append(store.insert_prospect({"email": f"staff{i:02d}@tech{i % 5}.co.jp", "company": f"株式会社テック{i % 5}"}))
    pids.append(store.insert_prospect({"email": "ichiro.suzuki@sample.co.jp", "salesforceId": leads[2]}))  # merged below

    sf = connect(session_settings(org))
    con = duckdb.connect()
    extract_salesforce(sf, con)
    store.advance(5)
    store.delete(leads[2], master_id=leads[0])
    extract_salesforce(sf, con)

    client = PardotClient(PardotSettings(base_url=org.pardot_base_url, business_unit_id=org.business_unit_id,
                                         ca_bundle=org.ca_path, backoff_factor=0.01), sf=sf)
    org.faults.status(503, "GET", r"/api/v5/objects/prospects$", times=1)
    res = extract_pardot(client, con, page_size=10)
    assert res.pulled == len(pids) == 26 and res.pages == 3 and res.rows == 26
    assert org.faults.injected["status"] == 1

    counts = join_prospects(con)
    links = {r[0]: r[1:] for r in con.execute("SELECT prospect_id, sf_Id, match FROM prospect_links").fetchall()}
    p = [str(x) for x in pids]
    assert links[p[0]] == (leads[0], "crm_id")
    assert links[p[1]] == (contacts[0], "crm_id")          # crmContactFid
    assert links[p[2]] == (contacts[1], "email")           # NFKC + lower-case; the Contact before the Lead
    assert links[p[3]] == (contacts[3], "crm_id")          # 15-character CRM id
    assert links[p[4]] == (None, "none")
    assert links[p[25]] == (leads[0], "crm_id")            # its Lead was merged into leads[0]
    assert counts == {"crm_id": 4, "email": 20 + 1, "none": 1}

    # Delete / undelete through v5 (what the applier calls); the next extract learns it. It reads again
    # what changed in the OVERLAP (5 minutes) before the watermark: unchanged, neither new nor changed.
    store.advance(600)
    client.delete_prospect(pids[4])
    with pytest.raises(PardotNotFound):
        client.get_prospect(pids[4], ["id", "email"])
    again = extract_pardot(client, con, page_size=10)
    assert (again.pulled, again.new, again.changed, again.deleted, again.rows) == (25, 0, 0, 1, 25)
    client.undelete_prospect(pids[4])
    assert client.get_prospect(pids[4], ["id", "email"])["email"] == "nobody@example.jp"
    store.advance(1)
    third = extract_pardot(client, con, page_size=10)
    assert (third.pulled, third.new, third.rows) == (1, 1, 26)
    assert normalize_email("　ＴＡＲＯ＠Ｅｘａｍｐｌｅ．ＪＰ ") == "taro@example.jp"

    with pytest.raises(NayoseError, match="not a Pardot field name"):
        list(client.iter_prospects(["id", "email,password"]))


def test_pardot_errors_are_clear_and_carry_no_token(org):
    token = "00D5F0000000001!AQexplicit-token-that-is-wrong"
    client = PardotClient(PardotSettings(base_url=org.pardot_base_url, business_unit_id=org.business_unit_id,
                                         ca_bundle=org.ca_path, access_token=token))
    with pytest.raises(NayoseError) as e:
        list(client.iter_prospects(["id"]))
    assert "HTTP 401" in str(e.value) and token not in str(e.value)


# --------------------------------------------------------------------------------------------
# secrets


def test_no_secret_in_exceptions_logs_or_repr(tmp_path, caplog):
    private, public = _rsa_pair()
    store, _ = seed(4)
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with FakeOrg(store, password=PASSWORD, security_token=TOKEN, jwt_public_key_pem=public) as o:
        common = {"login_url": o.instance_url, "ca_bundle": o.ca_path, "backoff_factor": 0.01}
        settings = make_settings(username=o.username, password=PASSWORD, security_token=TOKEN,
                                 consumer_key=o.consumer_key, private_key=private, consumer_secret=CONSUMER_SECRET,
                                 **common)
        seen += [repr(settings), str(settings), repr(make_settings(auth="session", instance_url=o.instance_url,
                                                                    session_id=o.access_token))]
        sf = connect(settings)  # JWT (auto picks it first)
        secrets = [PASSWORD, TOKEN, CONSUMER_SECRET, o.access_token, private.splitlines()[1]]
        o.faults.status(503, "GET", r"/query", times=1)
        con = duckdb.connect()
        res = extract_salesforce(sf, con, log=logging.getLogger("nayose.test"))
        seen.append(repr(res.to_dict()))
        client = PardotClient(PardotSettings(base_url=o.pardot_base_url, business_unit_id=o.business_unit_id,
                                             ca_bundle=o.ca_path), sf=sf)
        seen.append(repr(client.settings))
        failures = [
            lambda: connect(make_settings(username=o.username, password=PASSWORD + "x", security_token=TOKEN, **common)),
            lambda: connect(make_settings(username=o.username, password=PASSWORD, security_token=TOKEN,
                                          consumer_key="wrong", consumer_secret=CONSUMER_SECRET, **common)),
            lambda: extract_salesforce(sf, con, objects=["Lead"], fields={"Lead": ["NoSuchField__c"]}),
        ]
        o.faults.status(500, "GET", r"/query", times=20)
        failures.append(lambda: extract_salesforce(sf, con, objects=["Lead"], incremental=False))
        o.rotate_access_token()  # the session expires: 401 on every call
        failures.append(lambda: extract_salesforce(sf, con, objects=["Contact"]))
        failures.append(lambda: list(client.iter_prospects(["id", "email"])))
        for f in failures:
            with pytest.raises(NayoseError) as e:
                f()
            seen.append(str(e.value))
            seen.append(repr(e.value))
        seen.append(caplog.text)
        seen.extend(str(r.args) for r in caplog.records)
    blob = "\n".join(seen)
    for s in secrets:
        assert s not in blob
    assert "INVALID_SESSION_ID" in blob  # the expired session is named, its token is not


def test_scrub_replaces_every_form_of_a_secret():
    text = "password=Pass%2B1%26x&token=Pass+1&x <p>Pass+1&amp;x</p> Pass+1&x"
    out = scrub(text, ["Pass+1&x"])
    assert "Pass" not in out.replace("***", "")


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_extract_writes_the_csv_for_plan(org, tmp_path, monkeypatch, capsys):
    from nayose.cli import main

    org.store.insert_prospect({"email": "taro.yamada@sample.co.jp", "salesforceId": org.ids["Lead"][0]})
    for k, v in {
        "NAYOSE_SF_LOGIN_URL": org.instance_url, "NAYOSE_SF_USERNAME": org.username, "NAYOSE_SF_PASSWORD": PASSWORD,
        "NAYOSE_SF_SECURITY_TOKEN": TOKEN, "NAYOSE_SF_CA_BUNDLE": org.ca_path,
        "NAYOSE_PARDOT_BASE_URL": org.pardot_base_url, "NAYOSE_PARDOT_BUSINESS_UNIT_ID": org.business_unit_id,
    }.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "extract"
    assert main(["extract", "--out", str(out), "--objects", "Lead,Contact", "--mode", "rest", "--pardot"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["objects"]["Lead"]["rows"] == 32 and summary["rows"] == 36
    assert summary["pardot"]["links"] == {"crm_id": 1, "email": 0, "none": 0}
    con = duckdb.connect()
    assert load_records(con, [out / "salesforce_records.csv"], Config()).rows == 36
    assert (out / "prospect_links.csv").read_text(encoding="utf-8").startswith("prospect_id,email,salesforce_id,sf_Id,match")
    # Second run: incremental, nothing new.
    assert main(["extract", "--out", str(out), "--objects", "Lead", "--quiet"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["objects"]["Lead"]["new"] == again["objects"]["Lead"]["changed"] == 0
    assert again["objects"]["Lead"]["incremental"] and again["objects"]["Lead"]["mode"] == "none"
    assert again["rows"] == 36  # the CSV still holds the Contacts extracted by the first run
    # Bad credentials: exit code 2, one line, no secret.
    monkeypatch.setenv("NAYOSE_SF_PASSWORD", "Bad-Password-777")
    assert main(["extract", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "INVALID_LOGIN" in err and "Bad-Password-777" not in err and TOKEN not in err


def test_the_matching_csv_holds_the_accounts_as_well(tmp_path):
    """People and Accounts are matched (business Accounts as companies: nayose.accounts), so the
    extract's matching CSV holds the three objects; an extract of other objects only gives None."""
    import duckdb

    from nayose.extract import RECORDS, ensure_tables, matching_objects

    con = duckdb.connect()
    ensure_tables(con)
    assert matching_objects(con) is None
    con.execute(f"INSERT INTO {RECORDS} (Id, Object) VALUES ('00Q1', 'Lead'), ('0011', 'Account'), ('0031', 'Contact')")
    assert matching_objects(con) == ["Lead", "Contact", "Account"]
