"""The fake org's SOAP handlers (`nayose.fakeorg.soap.handle`) with the client's envelopes and parser
(`nayose.soap`): login, session check, merge, convertLead, undelete, retrieve, partial failures."""

from __future__ import annotations

import pytest

from nayose.fakeorg.faults import Faults
from nayose.fakeorg.soap import handle, soap_log
from nayose.fakeorg.store import OrgStore, id18
from nayose.soap import (
    LeadConvert,
    MergeRequest,
    SoapFault,
    convert_lead_body,
    envelope,
    login_body,
    merge_body,
    parse_response,
    undelete_body,
)

TS = "2026-10-01T00:00:00.000+0000"


class Org:
    """What handle() needs from the HTTP front."""

    def __init__(self, store: OrgStore):
        self.store = store
        self.access_token = "00D5F0000000001!AQfake-session"
        self.username = "analyst@example.co.jp"
        self.password = "pass-123"
        self.security_token = "TOKEN456"
        self.instance_url = "https://127.0.0.1:8443"
        self.api_version = "62.0"
        self.faults = Faults()


ACC = id18("0015F00000A0001")
C = [id18(f"0035F00000C{i:04d}") for i in range(1, 6)]
L = [id18(f"00Q5F00000L{i:04d}") for i in range(1, 4)]
T = [id18(f"00T5F00000T{i:04d}") for i in range(1, 4)]


@pytest.fixture
def org() -> Org:
    s = OrgStore()
    base = {"CreatedDate": TS, "LastModifiedDate": TS, "SystemModstamp": TS}
    s.load_records([{"Id": ACC, "Name": "株式会社さくら商事", **base}])
    s.load_records([
        {"Id": C[0], "LastName": "佐藤", "FirstName": "健", "AccountId": ACC, "Title": "主任", "Email": "ken.sato@sakura.co.jp",
         "MobilePhone": None, "LeadSource": "名刺", "HasOptedOutOfEmail": False, **base},
        {"Id": C[1], "LastName": "サトウ", "FirstName": "ケン", "AccountId": ACC, "Title": "課長", "Email": None, **base},
        {"Id": C[2], "LastName": "Sato", "FirstName": "Ken", "AccountId": ACC, "MobilePhone": "090-1111-2222", **base},
        {"Id": C[3], "LastName": "ｻﾄｳ", "FirstName": "ｹﾝ", "AccountId": ACC, **base},
        {"Id": C[4], "LastName": "山田", "FirstName": "花子", "AccountId": ACC, "Title": "課長", "LeadSource": "名刺",
         "MailingCity": None, **base},
    ])
    s.load_records([
        {"Id": L[0], "LastName": "山田", "FirstName": "花子", "Company": "さくら商事", "Title": "部長", "LeadSource": "Web",
         "City": "千代田区", "MobilePhone": "080-3333-4444", "Segment__c": "大企業", "Status": "Open", **base},
        {"Id": L[1], "LastName": "鈴木", "FirstName": "一郎", "Company": "ひかり電機", "Status": "Open", **base},
        {"Id": L[2], "LastName": "鈴木", "FirstName": "一郎", "Company": "ひかり電機", "Status": "Open", **base},
    ])
    s.insert("Task", {"Id": T[0], "WhoId": C[1], "Subject": "フォロー電話", **base}, keep_id=True)
    s.insert("Task", {"Id": T[1], "WhoId": L[0], "Subject": "資料送付", **base}, keep_id=True)
    s.insert("CampaignMember", {"Id": id18("00v5F00000M0001"), "LeadId": L[0], "ContactId": None, **base}, keep_id=True)
    return Org(s)


def call(org: Org, body: str, session: str | None = "use") -> tuple[int, bytes]:
    return handle(org, envelope(body, org.access_token if session == "use" else session))


def test_login_and_session_check(org):
    status, body = call(org, login_body(org.username, org.password + org.security_token), session=None)
    assert status == 200 and org.access_token.encode() in body and b"/services/Soap/u/62.0/" in body
    status, body = call(org, login_body(org.username, "wrong"), session=None)
    assert status == 500 and b"INVALID_LOGIN" in body and b"pass-123" not in body
    status, body = call(org, undelete_body([C[1]]), session="not-the-session")
    assert status == 500
    with pytest.raises(SoapFault) as e:
        parse_response(body, "undelete")
    assert e.value.code == "INVALID_SESSION_ID"


def test_merge_sets_fields_reparents_and_deletes_with_master_record_id(org):
    req = MergeRequest("Contact", C[0], [C[1], C[2]], fields={"Title": "課長", "MobilePhone": "090-1111-2222",
                                                               "HasOptedOutOfEmail": "true"}, fields_to_null=["Email"])
    status, body = call(org, merge_body([req]))
    assert status == 200
    [res] = parse_response(body, "merge")
    assert res.success and res.id == C[0] and res.merged_record_ids == [C[1], C[2]] and res.updated_related_ids == [T[0]]
    m = org.store.get(C[0])
    assert (m["Title"], m["MobilePhone"], m["Email"], m["HasOptedOutOfEmail"]) == ("課長", "090-1111-2222", None, True)
    assert m["LastModifiedDate"] > TS
    for loser in (C[1], C[2]):
        rec = org.store.get(loser, include_deleted=True)
        assert rec["IsDeleted"] is True and rec["MasterRecordId"] == C[0]
    assert org.store.get(T[0])["WhoId"] == C[0]
    assert soap_log(org)[-1]["items"][0]["success"] is True


def test_merge_errors_are_per_request_and_atomic(org):
    reqs = [
        MergeRequest("Contact", C[0], [C[1]], fields={"IsDeleted": "true"}),  # read-only field
        MergeRequest("Lead", L[1], [L[2]]),                                   # fine
    ]
    reqs.append(MergeRequest("Contact", C[0], [C[3]]))
    status, body = call(org, merge_body(reqs).replace(
        "<urn:recordToMergeIds>%s</urn:recordToMergeIds>" % C[3],
        "".join(f"<urn:recordToMergeIds>{i}</urn:recordToMergeIds>" for i in (C[3], C[2], C[4]))))
    assert status == 200
    r1, r2, r3 = parse_response(body, "merge")
    assert not r1.success and r1.errors[0].status_code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert r2.success and org.store.get(L[2], include_deleted=True)["MasterRecordId"] == L[1]
    assert not r3.success and r3.errors[0].status_code == "LIMIT_EXCEEDED"
    assert org.store.get(C[1])["IsDeleted"] is False and org.store.get(C[3])["IsDeleted"] is False
    status, body = call(org, merge_body([MergeRequest("Contact", C[0], [L[0]])]))
    assert parse_response(body, "merge")[0].errors[0].status_code == "INVALID_ID_FIELD"


def test_convert_lead_fills_only_empty_fields_and_moves_activities(org):
    lc = LeadConvert(lead_id=L[0], contact_id=C[4], account_id=ACC)
    status, body = call(org, convert_lead_body([lc]))
    [res] = parse_response(body, "convertLead")
    assert status == 200 and res.success and res.values["contactId"] == C[4] and res.values["accountId"] == ACC
    c = org.store.get(C[4])
    assert c["Title"] == "課長" and c["LeadSource"] == "名刺"             # kept
    assert c["MailingCity"] == "千代田区" and c["MobilePhone"] == "080-3333-4444" and c["Segment__c"] == "大企業"
    lead = org.store.get(L[0])
    assert lead["IsConverted"] is True and lead["ConvertedContactId"] == C[4] and lead["ConvertedAccountId"] == ACC
    assert org.store.get(T[1])["WhoId"] == C[4]
    assert org.store.get(id18("00v5F00000M0001"))["ContactId"] == C[4]
    status, body = call(org, convert_lead_body([lc]))
    assert parse_response(body, "convertLead")[0].errors[0].status_code == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_convert_lead_overwrite_lead_source_and_account_mismatch(org):
    other = id18("0015F00000A0002")
    org.store.load_records([{"Id": other, "Name": "ひかり電機株式会社", "CreatedDate": TS, "LastModifiedDate": TS, "SystemModstamp": TS}])
    status, body = call(org, convert_lead_body([LeadConvert(lead_id=L[1], contact_id=C[4], account_id=other)]))
    assert parse_response(body, "convertLead")[0].errors[0].status_code == "INVALID_CROSS_REFERENCE_KEY"
    status, body = call(org, convert_lead_body([LeadConvert(lead_id=L[0], contact_id=C[4], overwrite_lead_source=True)]))
    assert parse_response(body, "convertLead")[0].errors[0].status_code == "REQUIRED_FIELD_MISSING"  # no accountId
    status, body = call(org, convert_lead_body([LeadConvert(lead_id=L[0], contact_id=C[4], account_id=ACC,
                                                            overwrite_lead_source=True)]))
    assert parse_response(body, "convertLead")[0].success and org.store.get(C[4])["LeadSource"] == "Web"


def test_undelete_and_purged_records(org):
    org.store.delete(C[1])
    org.store.delete(C[2], master_id=C[0])
    org.store.purge_recycle_bin()
    org.store.delete(C[3], master_id=C[0])
    status, body = call(org, undelete_body([C[3], C[2], C[4]]))
    r3, r2, r4 = parse_response(body, "undelete")
    assert r3.success and org.store.get(C[3])["MasterRecordId"] is None
    assert not r2.success and r2.errors[0].status_code == "ENTITY_IS_DELETED"
    assert not r4.success and r4.errors[0].status_code == "UNDELETE_FAILED"


def test_partial_failure_rule_fails_only_chosen_items(org):
    org.faults.partial(method="SOAP", path="merge", indices=[1], error_code="UNABLE_TO_LOCK_ROW")
    status, body = call(org, merge_body([MergeRequest("Contact", C[0], [C[1]]), MergeRequest("Lead", L[1], [L[2]])]))
    ok, failed = parse_response(body, "merge")
    assert ok.success and not failed.success and failed.errors[0].status_code == "UNABLE_TO_LOCK_ROW"
    assert org.store.get(L[2])["IsDeleted"] is False


def test_retrieve_and_malformed_envelopes(org):
    body = (f"<urn:retrieve><urn:fieldList>Id, LastName, Title</urn:fieldList><urn:sObjectType>Contact</urn:sObjectType>"
            f"<urn:ids>{C[0]}</urn:ids><urn:ids>{id18('0035F00000X9999')}</urn:ids></urn:retrieve>")
    status, resp = call(org, body)
    assert status == 200 and "佐藤".encode() in resp and resp.count(b'xsi:nil="true"') == 1
    status, resp = handle(org, b"<not xml")
    assert status == 500 and b"soapenv:Client" in resp
    status, resp = call(org, "<urn:describeEverything/>")
    assert status == 500 and b"INVALID_OPERATION" in resp
