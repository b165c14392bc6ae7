"""Incremental Salesforce extracts against the local fake org (real simple-salesforce over HTTPS):
what an incremental run must not miss or leave stale.

* a Contact's ``Account.Name`` follows its Account renamed (only the Account's SystemModstamp moves);
* a field list change (a new formula field, a field hidden by field-level security) pulls the object
  in full instead of leaving half-filled / stale columns;
* a record committed late, stamped before the watermark, is read (overlap window), and records read
  again unchanged are neither rewritten nor logged in sf_changes;
* records purged from the Recycle Bin (emptyRecycleBin, the delete log purged, a watermark older
  than getDeleted's 15 days) leave sf_records;
* a REST query URL too long for Salesforce (every custom field of a wide object) goes through Bulk in
  auto mode and is a clear error in rest mode;
* SOQL errors are one line; ``nayose extract --pardot`` checks the Pardot settings first.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from nayose.errors import NayoseError
from nayose.extract import (
    WATERMARK_OVERLAP,
    changes_since,
    extract_salesforce,
    get_field_list,
    get_watermark,
    write_records_csv,
)
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore, id18
from nayose.salesforce import SalesforceAPIError, connect, make_settings

ACCOUNTS = [
    {"Name": "株式会社サンプル商事", "BillingState": "東京都", "BillingCity": "千代田区", "Phone": "03-1234-5678"},
    {"Name": "有限会社テスト工業", "BillingState": "大阪府", "BillingCity": "大阪市北区", "Phone": "06-9876-5432"},
]
CONTACTS = [  # (account index, fields)
    (0, {"LastName": "髙木", "FirstName": "美咲", "Email": "misaki.takagi@sample.co.jp", "MobilePhone": "080-3333-4444"}),
    (0, {"LastName": "中村", "FirstName": "翔", "Email": "sho.nakamura@sample.co.jp", "Title": "部長"}),
    (1, {"LastName": "佐藤", "FirstName": "花子", "Email": "hanako.sato@test-kogyo.jp", "Department": "営業部"}),
]
LEADS = [
    {"LastName": "山田", "FirstName": "太郎", "Company": "株式会社サンプル商事", "Email": "taro.yamada@sample.co.jp",
     "Phone": "03-1234-5678", "LeadSource": "Web", "Rank__c": "A"},
    {"LastName": "鈴木", "FirstName": "一郎", "Company": "株式会社サンプル商事", "Email": "ichiro.suzuki@sample.co.jp",
     "LeadSource": "名刺", "Rank__c": "B"},
    {"LastName": "高橋", "FirstName": "健", "Company": "合同会社ミライ", "Email": "ken.takahashi@mirai.example",
     "LeadSource": "展示会", "Rank__c": "C"},
    {"LastName": "渡辺", "FirstName": "美咲", "Company": "個人", "Email": "misaki.w@gmail.com", "Rank__c": "B"},
]


def _seed() -> tuple[OrgStore, dict[str, list[str]]]:
    store = OrgStore(api_daily_limit=15_000)
    ids: dict[str, list[str]] = {"Account": [], "Contact": [], "Lead": []}
    for a in ACCOUNTS:
        ids["Account"].append(store.insert("Account", a))
    for acc, c in CONTACTS:
        ids["Contact"].append(store.insert("Contact", {**c, "AccountId": ids["Account"][acc]}))
    for lead in LEADS:
        ids["Lead"].append(store.insert("Lead", lead))
    return store, ids


@pytest.fixture
def org():
    store, ids = _seed()
    with FakeOrg(store, page_size=2) as o:
        o.ids = ids
        yield o


def _sf(o: FakeOrg):
    return connect(make_settings(auth="session", instance_url=o.instance_url, session_id=o.access_token,
                                 ca_bundle=o.ca_path, backoff_factor=0.01, max_retries=1))


def _soql_log(sf) -> list[str]:
    """Every SOQL the client sends (REST query / queryAll URLs)."""
    seen: list[str] = []

    def hook(r, *args, **kwargs):
        q = parse_qs(urlsplit(r.request.url).query).get("q")
        if q:
            seen.append(q[0])
    sf.session.hooks["response"].append(hook)
    return seen


def _row(con, rid: str, *cols: str):
    got = con.execute(f"SELECT {', '.join(json.dumps(c) for c in cols)} FROM sf_records WHERE Id = ?", [rid]).fetchall()
    return got[0] if got else None


# --------------------------------------------------------------------------------------------
# 1. relationship fields


@pytest.mark.parametrize("mode", ["rest", "bulk"])
def test_contacts_follow_their_account_renamed(org, mode):
    sf = _sf(org)
    soql = _soql_log(sf)
    con = duckdb.connect()
    extract_salesforce(sf, con, mode=mode, bulk_poll_seconds=0.05)
    acc, contacts = org.ids["Account"], org.ids["Contact"]
    assert _row(con, contacts[0], "Account.Name") == ("株式会社サンプル商事",)

    org.store.advance(3600)  # well past the overlap window: only the relationship filter can find them
    org.store.update(acc[0], {"Name": "株式会社サンプルホールディングス"})  # 社名変更: only the Account is stamped
    con.execute("DELETE FROM sf_changes")
    res = extract_salesforce(sf, con, mode=mode, bulk_poll_seconds=0.05)

    contact = res.objects["Contact"]
    assert contact.incremental and (contact.new, contact.changed) == (0, 2)
    for cid in contacts[:2]:
        assert _row(con, cid, "Account.Name", "LastName")[0] == "株式会社サンプルホールディングス"
    assert _row(con, contacts[2], "Account.Name") == ("有限会社テスト工業",)  # another company: untouched
    assert _row(con, acc[0], "Name") == ("株式会社サンプルホールディングス",)
    # the matching run re-matches the two Contacts (their company changed) and the Account
    pending = changes_since(con, ["Contact", "Account"])
    assert sorted(pending.upserts) == sorted([*contacts[:2], acc[0]]) and pending.deletes == []
    # the filter Salesforce is asked: the record's own stamp or its Account's
    if mode == "rest":
        q = [s for s in soql if s.startswith("SELECT Id, SystemModstamp") and " FROM Contact WHERE " in s
             and "WHERE IsDeleted" not in s][-1]
        assert " OR Account.SystemModstamp >= " in q and "WHERE SystemModstamp >= " in q


# --------------------------------------------------------------------------------------------
# 2. field list changes


def test_a_changed_field_list_pulls_the_object_in_full(org):
    sf = _sf(org)
    con = duckdb.connect()
    leads = org.ids["Lead"]
    first = extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    assert "Rank__c" in first.objects["Lead"].fields
    assert "Rank__c" in get_field_list(con, "Lead")

    # (a) a new formula field: the org computes it for every record, no SystemModstamp moves
    org.store.advance(3600)
    for rid, tier in zip(leads, ["ゴールド", "シルバー", "ブロンズ", "ゴールド"]):
        org.store.objects["Lead"][rid]["Tier__c"] = tier
    org.store.update(leads[1], {"Company": "株式会社サンプル商事 大阪支店"})
    res = extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    lead = res.objects["Lead"]
    assert not lead.incremental and lead.full_reason == "the fields changed: +Tier__c"
    assert lead.pulled == 4 and (lead.new, lead.changed) == (0, 4)
    assert [r[0] for r in con.execute("SELECT Tier__c FROM sf_records ORDER BY Id").fetchall()] == [
        "ゴールド", "シルバー", "ブロンズ", "ゴールド"]
    assert res.to_dict()["objects"]["Lead"]["full_reason"] == "the fields changed: +Tier__c"

    # the same fields again: incremental
    again = extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    assert again.objects["Lead"].incremental and again.objects["Lead"].full_reason is None

    # (b) field-level security hides Rank__c from the integration user; one Lead changes
    org.store.advance(3600)
    org.hide_field("Lead", "Rank__c")
    org.store.update(leads[2], {"Title": "課長"})
    res = extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    lead = res.objects["Lead"]
    assert lead.full_reason == "the fields changed: -Rank__c" and lead.pulled == 4
    # no stale value left on the rows that did not change
    assert con.execute("SELECT count(Rank__c) FROM sf_records WHERE Object = 'Lead'").fetchall() == [(0,)]
    assert _row(con, leads[2], "Title", "Tier__c") == ("課長", "ブロンズ")
    assert "Rank__c" not in get_field_list(con, "Lead")


def test_a_store_without_a_recorded_field_list_pulls_once_in_full(org):
    sf = _sf(org)
    con = duckdb.connect()
    extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    con.execute("DELETE FROM extract_field_lists")  # a store written before the field lists were kept
    res = extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    assert res.objects["Lead"].full_reason == "the previous run's field list is not recorded"
    assert extract_salesforce(sf, con, objects=["Lead"], mode="rest").objects["Lead"].incremental


# --------------------------------------------------------------------------------------------
# 3. late commits: the overlap window


def _stamped(rid: str, stamp: str, **fields) -> dict:
    return {"Id": rid, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp, **fields}


@pytest.mark.parametrize("mode", ["rest", "bulk"])
def test_a_record_committed_late_is_read_and_rereads_are_not_changes(mode):
    l1, l2, l3, l4 = (id18(f"00Q5F00000L{i:04d}") for i in range(1, 5))
    store = OrgStore()
    store.load_records([
        _stamped(l1, "2026-11-01T09:40:00.000+0000", LastName="田中", FirstName="誠", Company="株式会社テック1"),
        _stamped(l2, "2026-11-01T10:00:00.000+0000", LastName="小林", FirstName="葵", Company="株式会社テック2"),
    ])
    with FakeOrg(store) as o:
        sf = _sf(o)
        soql = _soql_log(sf)
        con = duckdb.connect()
        extract_salesforce(sf, con, objects=["Lead"], mode=mode, bulk_poll_seconds=0.05)
        assert get_watermark(con, "Lead") == "2026-11-01T10:00:00.000+0000"
        con.execute("DELETE FROM sf_changes")
        # A data load's transaction stamped its records before the watermark and committed after the
        # first run read: one 30 seconds before it, one 25 minutes before it (outside the window).
        store.load_records([
            _stamped(l3, "2026-11-01T09:59:30.000+0000", LastName="佐藤", FirstName="花子", Company="有限会社テスト工業"),
            _stamped(l4, "2026-11-01T09:35:00.000+0000", LastName="加藤", FirstName="翔", Company="合同会社ミライ"),
        ])
        res = extract_salesforce(sf, con, objects=["Lead"], mode=mode, bulk_poll_seconds=0.05)
        lead = res.objects["Lead"]
        assert lead.incremental and WATERMARK_OVERLAP.total_seconds() == 600
        # l3 (late) is read; l2 (inside the window, unchanged) is read again and left alone
        assert (lead.pulled, lead.new, lead.changed, lead.unchanged) == (2, 1, 0, 1)
        assert _row(con, l3, "LastName") == ("佐藤",)
        assert _row(con, l4, "LastName") is None  # older than the window: the documented limit
        assert con.execute("SELECT Id, change FROM sf_changes").fetchall() == [(l3, "upsert")]
        assert lead.watermark == "2026-11-01T10:00:00.000+0000"
        if mode == "rest":
            assert any("WHERE SystemModstamp >= 2026-11-01T09:50:00.000Z" in q for q in soql)

        # Nothing new: the window is read again, nothing is written or logged, the mode says so.
        again = extract_salesforce(sf, con, objects=["Lead"], mode=mode, bulk_poll_seconds=0.05)
        assert again.objects["Lead"].mode == "none" and again.objects["Lead"].pulled == 2
        assert con.execute("SELECT count(*) FROM sf_changes").fetchall() == [(1,)]


# --------------------------------------------------------------------------------------------
# 4. records purged from the Recycle Bin


def test_records_purged_from_the_recycle_bin_leave_sf_records(org, tmp_path):
    sf = _sf(org)
    con = duckdb.connect()
    extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    leads = org.ids["Lead"]

    # (a) deleted, then the Recycle Bin emptied before the next run: queryAll no longer shows it,
    # the delete log (getDeleted) does.
    org.store.advance(3600)
    org.store.delete(leads[3])
    org.store.purge_recycle_bin()
    org.store.advance(300)
    con.execute("DELETE FROM sf_changes")
    res = extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    lead = res.objects["Lead"]
    assert (lead.deleted, lead.removed, lead.rows, lead.purge_check) == (1, 1, 3, None)
    assert _row(con, leads[3], "Id") is None
    assert con.execute("SELECT Id, object, MasterRecordId FROM sf_deleted").fetchall() == [(leads[3], "Lead", None)]
    assert con.execute("SELECT Id, change FROM sf_changes").fetchall() == [(leads[3], "delete")]
    out = tmp_path / "salesforce_records.csv"
    write_records_csv(con, out)
    assert "misaki.w@gmail.com" not in out.read_text(encoding="utf-8")

    # (b) the delete log purged as well (Salesforce's background purge): earliestDateAvailable is
    # after the watermark, so the live Ids are listed.
    org.store.advance(3600)
    org.store.delete(leads[2])
    org.store.purge_recycle_bin()
    org.store.purge_delete_log()
    org.store.advance(300)
    res = extract_salesforce(sf, con, objects=["Lead"], mode="rest")
    lead = res.objects["Lead"]
    assert lead.purge_check and "delete log was purged" in lead.purge_check
    assert (lead.removed, lead.rows) == (1, 2) and _row(con, leads[2], "Id") is None

    # (c) no run for 20 days: older than getDeleted answers for (the fake says so too), Ids listed.
    org.store.advance(20 * 86400)
    with pytest.raises(Exception) as e:
        sf.Lead.deleted(_dt("2026-11-01T00:00:00Z"), _dt("2026-11-21T00:00:00Z"))
    assert "INVALID_REPLICATION_DATE" in str(e.value)
    org.store.delete(leads[1])
    org.store.purge_recycle_bin()
    org.store.purge_delete_log()
    res = extract_salesforce(sf, con, objects=["Lead"], mode="auto", bulk_threshold=1, bulk_poll_seconds=0.05)
    lead = res.objects["Lead"]
    assert lead.purge_check and "older than" in lead.purge_check
    assert (lead.removed, lead.rows) == (1, 1)
    assert {r[0] for r in con.execute("SELECT Id FROM sf_records").fetchall()} == {leads[0]}


def _dt(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_get_deleted_in_the_fake_org_follows_the_rest_resource(org):
    sf = _sf(org)
    lead = org.ids["Lead"][0]
    org.store.advance(600)
    org.store.delete(lead)
    org.store.advance(120)
    got = sf.Lead.deleted(_dt("2026-11-01T00:00:00Z"), _dt("2026-11-01T00:30:00Z"))
    assert [r["id"] for r in got["deletedRecords"]] == [lead]
    assert got["deletedRecords"][0]["deletedDate"].endswith("+0000")
    assert got["latestDateCovered"] == "2026-11-01T00:12:00.000+0000"  # now, to the minute
    assert got["earliestDateAvailable"] <= "2026-11-01T00:00:00.000+0000"
    with pytest.raises(Exception, match="INVALID_REPLICATION_DATE"):  # start must precede end by > 1 minute
        sf.Lead.deleted(_dt("2026-11-01T00:10:00Z"), _dt("2026-11-01T00:10:30Z"))
    org.store.undelete(lead)  # undeleted: no longer in the log
    assert sf.Lead.deleted(_dt("2026-11-01T00:00:00Z"), _dt("2026-11-01T00:30:00Z"))["deletedRecords"] == []


# --------------------------------------------------------------------------------------------
# 5. REST query URLs too long for Salesforce


def test_a_query_too_long_for_a_rest_url_goes_through_bulk_or_fails_clearly(org):
    for i in range(600):  # a marketing-heavy org: 600 custom fields with 30-character API names
        org.define_field("Lead", f"Marketing_Attribute_{i:03d}__c")
    org.store.update(org.ids["Lead"][0], {"Marketing_Attribute_599__c": "展示会2026"})
    sf = _sf(org)
    # the fake org answers 414 like Salesforce past 16,384 bytes of request line + headers
    long_soql = "SELECT Id, " + ", ".join(f"Marketing_Attribute_{i:03d}__c" for i in range(600)) + " FROM Lead"
    with pytest.raises(Exception) as e:
        sf.query(long_soql)
    assert getattr(e.value, "status", None) == 414

    con = duckdb.connect()
    before = len(org.requests_log)
    res = extract_salesforce(sf, con, objects=["Lead"], mode="auto", bulk_poll_seconds=0.05)
    assert res.objects["Lead"].mode == "bulk" and res.objects["Lead"].rows == 4
    assert not any(status == 414 for _, _, status in org.requests_log[before:])
    assert _row(con, org.ids["Lead"][0], "Marketing_Attribute_599__c") == ("展示会2026",)

    with pytest.raises(NayoseError) as e:
        extract_salesforce(sf, duckdb.connect(), objects=["Lead"], mode="rest")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("Lead: the REST query of its ") and "byte URL" in msg
    assert "fields=" in msg and "--mode bulk" in msg
    # fewer fields fit a REST query
    few = extract_salesforce(sf, duckdb.connect(), objects=["Lead"], mode="rest",
                             fields={"Lead": ["LastName", "Email", "Marketing_Attribute_599__c"]})
    assert few.objects["Lead"].mode == "rest" and few.objects["Lead"].rows == 4


# --------------------------------------------------------------------------------------------
# 6. one-line errors, Pardot settings first


def test_soql_errors_are_one_line(org):
    body = json.dumps([{
        "message": "\nSELECT Id, SystemModstamp, Score__c FROM Lead\n                           ^\nERROR at Row:1:Column:28\n"
                   "No such column 'Score__c' on entity 'Lead'. If you are attempting to use a custom field, be sure "
                   "to append the '__c' after the custom field name.",
        "errorCode": "INVALID_FIELD"}], ensure_ascii=False).encode()
    org.faults.status(400, "GET", r"/query/?$", times=1, body=body)
    with pytest.raises(SalesforceAPIError) as e:
        extract_salesforce(_sf(org), duckdb.connect(), objects=["Lead"], mode="rest")
    msg = str(e.value)
    assert "\n" not in msg and "  " not in msg
    assert msg.startswith("Salesforce REST query of Lead failed: HTTP 400 query: INVALID_FIELD: No such column 'Score__c'")
    assert "(row 1, column 28 of the query)" in msg and "SELECT" not in msg and "^" not in msg


def test_cli_extract_checks_the_pardot_settings_before_extracting(org, tmp_path, monkeypatch, capsys):
    from nayose.cli import main

    for k in ("NAYOSE_PARDOT_BUSINESS_UNIT_ID", "NAYOSE_PARDOT_ACCESS_TOKEN", "NAYOSE_PARDOT_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    for k, v in {"NAYOSE_SF_AUTH": "session", "NAYOSE_SF_INSTANCE_URL": org.instance_url,
                 "NAYOSE_SF_SESSION_ID": org.access_token, "NAYOSE_SF_CA_BUNDLE": org.ca_path}.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "extract"
    assert main(["extract", "--out", str(out), "--objects", "Lead", "--pardot", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "BUSINESS_UNIT_ID" in err and len(err.strip().splitlines()) == 1
    assert org.requests_log == []  # nothing was asked of the org
    assert not (out / "salesforce_records.csv").exists() and not (out / "extract.duckdb").exists()
