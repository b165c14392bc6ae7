"""Survivorship: master selection, business-card protection, field rules and groups, and the
invariants (property-based, hypothesis) on generated small groups of Japanese records."""

from __future__ import annotations

import random
import unicodedata
from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nayose.config import CLEARED, CONSENT_FIELDS, Config, SurvivorshipConfig
from nayose.plan import build_plan, plan_document
from nayose.survive import AS_MASTER_WRITES, Rec, blank, script_rank, survive, survive_group

SV = SurvivorshipConfig()
FIELDS = [
    "FirstName", "LastName", "Company", "Account.Name", "AccountId", "Title", "Department", "Email", "Phone", "MobilePhone",
    "Street", "City", "State", "PostalCode", "MailingStreet", "MailingCity", "MailingPostalCode", "MailingCountry", "LeadSource",
    "Sansan_Person_Id__c", "HasOptedOutOfEmail", "DoNotCall", "EmailBouncedReason", "EmailBouncedDate", "Segment__c", "OwnerId",
    "Status", "RecordTypeId", "Birthdate", "LastNameKana__c", "CreatedDate", "LastModifiedDate",
]
T0 = datetime(2020, 1, 1, tzinfo=timezone.utc)


def ts(days: int) -> str:
    return (T0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def rec(id_, obj="Lead", created=0, modified=None, **values) -> dict:
    d = {"Id": id_, "Object": obj, "CreatedDate": ts(created), "LastModifiedDate": ts(modified if modified is not None else created)}
    d.update(values)
    return d


def to_rec(d: dict) -> Rec:
    from nayose.survive import considered_fields, is_card_record

    fields = considered_fields(FIELDS, SV)
    epoch = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=timezone.utc).timestamp()  # noqa: E731
    return Rec(d["Id"], d["Object"], {f: d.get(f) for f in fields}, epoch(d["CreatedDate"]), epoch(d["LastModifiedDate"]),
               is_card_record(d, SV))


def group(*records: dict, config: SurvivorshipConfig = SV, status: str = "auto"):
    return survive_group("G", status, [to_rec(r) for r in records], config)


def make_db(groups: list[list[dict]], singles: list[dict] = ()) -> duckdb.DuckDBPyConnection:
    """raw_records / normalized_records / clusters as the earlier stages write them."""
    con = duckdb.connect()
    rows, crow = [], []
    for g in groups:
        cid = min(r["Id"] for r in g)
        for r in g:
            rows.append(r)
            crow.append((r["Id"], cid, "auto", len(g)))
    for r in singles:
        rows.append(r)
        crow.append((r["Id"], r["Id"], "single", 1))
    cols = ["Id", "Object"] + FIELDS
    raw = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols}
    raw["_source_file"] = pa.array(["t.csv"] * len(rows), pa.string())
    raw["_source_row"] = pa.array(list(range(2, len(rows) + 2)), pa.int64())
    con.register("_raw", pa.table(raw))
    con.execute("CREATE TABLE raw_records AS SELECT * FROM _raw")
    con.execute(
        """CREATE TABLE normalized_records AS SELECT (row_number() OVER () - 1)::INTEGER AS rec_idx, "Id" AS id,
           "Object" AS object, strptime("CreatedDate", '%Y-%m-%dT%H:%M:%S.%gZ') AS created_date,
           strptime("LastModifiedDate", '%Y-%m-%dT%H:%M:%S.%gZ') AS last_modified_date FROM raw_records"""
    )
    con.register("_cl", pa.table({"Id": [c[0] for c in crow], "cluster_id": [c[1] for c in crow],
                                  "status": [c[2] for c in crow], "cluster_size": [c[3] for c in crow]}))
    con.execute("""CREATE TABLE clusters AS SELECT n.rec_idx, c."Id", c.cluster_id, c.status, c.cluster_size::INTEGER AS cluster_size
                   FROM _cl c JOIN normalized_records n ON n.id = c."Id" """)
    # plan_document's evidence needs scored_pairs; an empty one is enough here.
    con.execute("""CREATE TABLE scored_pairs (left_idx INTEGER, right_idx INTEGER, rule_no SMALLINT, match_weight FLOAT,
                   match_probability DOUBLE, gate TINYINT)""")
    for c in ["last_name", "first_name", "full_name", "email", "phone", "mobile", "company_core", "company_reading",
              "company_sound", "postal_code", "street", "birthdate"]:
        con.execute(f"ALTER TABLE normalized_records ADD COLUMN {c} VARCHAR")
    return con


# --------------------------------------------------------------------------------------------- master


def test_master_contact_over_lead_then_card_then_oldest_then_complete_then_id():
    lead_card_old = rec("00Q000000000001", "Lead", created=0, LeadSource="名刺", LastName="佐藤")
    contact_new = rec("003000000000009", "Contact", created=500, LeadSource="Web", LastName="佐藤")
    assert group(lead_card_old, contact_new).master_id == "003000000000009"  # Contact over Lead

    web_old = rec("00Q000000000001", created=0, LeadSource="Web", LastName="佐藤")
    card_new = rec("00Q000000000002", created=900, LeadSource="Sansan", LastName="佐藤")
    assert group(web_old, card_new).master_id == "00Q000000000002"  # a card record next

    a = rec("00Q000000000003", created=10, LastName="佐藤")
    b = rec("00Q000000000002", created=20, LastName="佐藤", Email="sato@example.co.jp", Phone="03-1234-5678")
    assert group(a, b).master_id == "00Q000000000003"  # then the oldest

    c = rec("00Q000000000004", created=10, LastName="佐藤")
    d = rec("00Q000000000005", created=10, LastName="佐藤", Title="部長")
    assert group(c, d).master_id == "00Q000000000005"  # then the most complete
    e = rec("00Q000000000007", created=10, LastName="佐藤")
    f = rec("00Q000000000006", created=10, LastName="佐藤")
    assert group(e, f).master_id == "00Q000000000006"  # then the smallest Id

    cfg = SurvivorshipConfig(master_order=["most_complete"])
    assert group(a, b, config=cfg).master_id == "00Q000000000002"


def test_lead_contact_group_always_gets_a_contact_master():
    cfg = SurvivorshipConfig(master_order=["business_card", "oldest"])
    lead = rec("00Q000000000001", "Lead", created=0, LeadSource="名刺", LastName="高橋")
    contact = rec("003000000000001", "Contact", created=50, LastName="高橋")
    recs = [to_rec(lead), to_rec(contact)]
    assert survive_group("G", "auto", recs, cfg).master_id == "003000000000001"


# --------------------------------------------------------------------------------------------- fields


def test_card_value_never_overwritten_by_newer_non_card_and_most_recent_card_wins():
    card_old = rec("00Q000000000001", created=0, modified=0, LeadSource="名刺", Title="部長", Phone="03-1111-2222")
    card_new = rec("00Q000000000002", created=100, modified=100, LeadSource="Eight", Title="本部長")
    web_newest = rec("00Q000000000003", created=200, modified=900, LeadSource="Web", Title="課長", Phone="03-9999-0000",
                     Department="営業部")
    g = group(card_old, card_new, web_newest)
    assert g.fields["Title"].value == "本部長" and g.fields["Title"].from_id == "00Q000000000002"
    assert g.fields["Title"].rule == "business_card"
    assert g.fields["Phone"].value == "03-1111-2222"  # the only card value, older than the web one
    # exempt field: the default rule decides
    cfg = SurvivorshipConfig(card_exempt_fields=["Title"])
    assert group(card_old, card_new, web_newest, config=cfg).fields["Title"].value == "課長"


def test_provenance_field_marks_a_card_record():
    sansan = rec("00Q000000000001", created=0, LeadSource=None, Sansan_Person_Id__c="SP-0001", Title="主任")
    web = rec("00Q000000000002", created=50, LeadSource="Web", Title="係長")
    assert group(sansan, web).fields["Title"].value == "主任"


def test_blank_never_wins():
    a = rec("00Q000000000001", created=0, modified=0, Title="部長", Email="a@example.co.jp")
    b = rec("00Q000000000002", created=10, modified=10, Title="  ", Email=None)
    g = group(a, b)
    assert g.fields["Title"].value == "部長" and g.fields["Email"].value == "a@example.co.jp"


def test_address_group_survives_together_and_fills_blanks_from_next_record():
    old = rec("00Q000000000001", created=0, modified=0, Street="千代田1-1", City="千代田区", State="東京都", PostalCode="100-0001")
    new = rec("00Q000000000002", created=10, modified=500, Street="梅田2-2", City="大阪市北区", State="大阪府")
    g = group(old, new)
    assert (g.fields["Street"].value, g.fields["City"].value, g.fields["State"].value) == ("梅田2-2", "大阪市北区", "大阪府")
    assert {g.fields[f].from_id for f in ("Street", "City", "State")} == {"00Q000000000002"}
    assert g.fields["Street"].rule == "group address: most_recent"
    # The newer record has no postal code, and the older one's is of another address (another
    # street): not filled in beside 梅田 -- cleared, and said so.
    assert g.fields["PostalCode"].value is None and g.fields["PostalCode"].rule.endswith(CLEARED)
    assert g.fields["PostalCode"].from_id == "00Q000000000002"
    # The same address written another way (the same postal code): its blanks are filled, and say so.
    first = rec("00Q000000000001", created=0, modified=0, Street="千代田1-1")
    mid = rec("00Q000000000002", created=5, modified=5, Street="千代田１－１", City="千代田区", State="東京都", PostalCode="100-0001")
    new = rec("00Q000000000003", created=10, modified=500, Street="千代田一丁目1番", PostalCode="〒1000001")
    g = group(first, mid, new)
    # (the master's street written another way: it keeps its writing)
    assert [g.fields[f].value for f in ("Street", "City", "State", "PostalCode")] == ["千代田1-1", "千代田区", "東京都", "〒1000001"]
    assert g.fields["City"].rule.endswith("fill_blank") and g.fields["City"].from_id == "00Q000000000002"
    # No postal code on the newer one, the same street (widths, dashes): filled too.
    new = rec("00Q000000000003", created=10, modified=500, Street="千代田1-1")
    g = group(first, mid, new)
    assert [g.fields[f].value for f in ("City", "PostalCode")] == ["千代田区", "100-0001"]


def test_an_address_is_not_mixed_from_two_addresses():
    """The newer record's address is all in Street (大阪府大阪市北区梅田1-1-1), with its postal code: the
    master's city and prefecture of its old address (豊田市, 愛知県) are cleared, not kept beside it."""
    old = rec("00Q000000000001", created=0, modified=0, Street="虎ノ門5-4", City="豊田市", State="愛知県", PostalCode="464-0191")
    new = rec("00Q000000000002", created=10, modified=500, Street="大阪府大阪市北区梅田1-1-1", PostalCode="530-0001")
    g = group(old, new)
    assert g.master_id == "00Q000000000001"
    assert [g.fields[f].value for f in ("Street", "City", "State", "PostalCode")] == ["大阪府大阪市北区梅田1-1-1", None, None, "530-0001"]
    assert g.fields["City"].rule == f"group address: most_recent: {CLEARED}"


def test_email_group_keeps_its_bounce_with_its_email():
    # (every address bounced: the most recent wins with its own bounce, not the other's)
    a = rec("00Q000000000001", created=0, modified=900, Email="a@x.co.jp", EmailBouncedReason="550 user unknown")
    b = rec("00Q000000000002", created=10, modified=10, Email="b@x.co.jp", EmailBouncedReason="552 mailbox full")
    g = group(a, b)
    assert (g.fields["Email"].value, g.fields["EmailBouncedReason"].value) == ("a@x.co.jp", "550 user unknown")


@pytest.mark.parametrize("newer_opted_out", [False, True])
def test_an_opt_out_on_any_record_survives_the_merge(newer_opted_out):
    """A person who opted out of email and calls on one record stays opted out whichever record is
    newer or the master: a merge never subscribes them again (the newer record's false won before)."""
    old, new = ("false", "true") if newer_opted_out else ("true", "false")
    a = rec("00Q000000000001", created=0, modified=10, Email="taro@x.co.jp", HasOptedOutOfEmail=old, DoNotCall=old)
    b = rec("00Q000000000002", created=5, modified=900, Email="taro@x.co.jp", HasOptedOutOfEmail=new, DoNotCall=new)
    g = group(a, b)
    assert g.fields["HasOptedOutOfEmail"].value == "true" and g.fields["HasOptedOutOfEmail"].rule == "any_true"
    assert g.fields["DoNotCall"].value == "true"


def test_union_of_multi_select_picklist():
    cfg = SurvivorshipConfig(field_rules={"Segment__c": "union"})
    a = rec("00Q000000000001", created=0, modified=10, Segment__c="大企業;製造")
    b = rec("00Q000000000002", created=5, modified=20, Segment__c="製造; IT ")
    g = group(a, b, config=cfg)
    assert g.fields["Segment__c"].value == "製造;IT;大企業" and g.fields["Segment__c"].rule == "union"


def test_rules_max_min_oldest_source_priority_master():
    a = rec("00Q000000000001", created=0, modified=50, LeadSource="Web", Title="9", Phone="03-1", Department="A")
    b = rec("00Q000000000002", created=10, modified=90, LeadSource="手入力", Title="10", Phone="03-2", Department="B")
    c = rec("00Q000000000003", created=20, modified=10, LeadSource="購入リスト", Title="2", Phone="03-3", Department="C")
    cfg = SurvivorshipConfig(field_rules={"Title": "max", "Phone": "oldest", "Department": "master", "LeadSource": "source_priority"})
    g = group(a, b, c, config=cfg)
    assert g.fields["Title"].value == "10"  # numeric, not text, comparison
    assert g.fields["Phone"].value == "03-1"
    assert g.fields["Department"].value == "A" and g.master_id == "00Q000000000001"
    assert g.fields["LeadSource"].value == "手入力"  # manual > web > list
    cfg = SurvivorshipConfig(field_rules={"Title": "min"})
    assert group(a, b, c, config=cfg).fields["Title"].value == "2"


def test_system_fields_are_not_merged_and_the_master_keeps_its_owner_a_card_too():
    g = group(rec("00Q000000000001", OwnerId="005A"), rec("00Q000000000002", created=5, OwnerId="005B"))
    assert "CreatedDate" not in g.fields and "LastModifiedDate" not in g.fields
    # the master keeps its owner: a newer duplicate's owner (a web form's queue) does not take it
    assert g.master_id == "00Q000000000001" and g.fields["OwnerId"].value == "005A"
    # ... nor a card's (a card import's owner is often the integration user): OwnerId, Status and
    # RecordTypeId are card_exempt_fields by default
    contact = rec("003000000000001", obj="Contact", OwnerId="005REP", Status=None)
    card = group(contact, rec("00Q000000000002", created=5, OwnerId="005SANSAN", LeadSource="名刺", Title="部長"))
    assert card.master_id == "003000000000001"
    assert card.fields["OwnerId"].value == "005REP" and card.fields["OwnerId"].rule == "keep_master_if_set"
    assert card.fields["Title"].value == "部長" and card.fields["Title"].rule == "business_card"


def test_a_new_inquiry_merged_into_a_worked_lead_leaves_its_status_owner_and_record_type():
    """The newer duplicate (a web inquiry: Open, owned by the lead queue, another record type)
    merged into the Lead a rep is working: Status, OwnerId and RecordTypeId stay the master's
    (most_recent wrote Open, the queue and the other record type over them); an empty master
    value is filled."""
    worked = rec("00Q000000000001", created=0, modified=0, Status="Working", OwnerId="005REP",
                 RecordTypeId="012A", Title=None)
    inquiry = rec("00Q000000000002", created=5, modified=900, Status="Open - Not Contacted", OwnerId="00GQUEUE",
                  RecordTypeId="012B", Title="課長", Email="taro@abc-shoji.co.jp")
    g = group(worked, inquiry)
    assert g.master_id == "00Q000000000001"
    assert (g.fields["Status"].value, g.fields["OwnerId"].value, g.fields["RecordTypeId"].value) == ("Working", "005REP", "012A")
    assert g.fields["Title"].value == "課長"
    blank = group(rec("00Q000000000003", created=0, modified=0, Status=None),
                  rec("00Q000000000004", created=5, modified=900, Status="Open - Not Contacted"))
    assert blank.fields["Status"].value == "Open - Not Contacted"


def test_lead_values_compete_under_contact_fields_when_converted():
    lead = rec("00Q000000000001", "Lead", created=100, LeadSource="名刺", Company="株式会社ABC", Street="大手町1-1", City="千代田区")
    contact = rec("003000000000001", "Contact", created=0, LeadSource="Web", **{"Account.Name": "ABC", "MailingStreet": "旧住所"},
                  AccountId="001000000000001")
    g = group(lead, contact)
    assert g.master_id == "003000000000001"
    assert g.fields["MailingStreet"].value == "大手町1-1" and g.fields["MailingCity"].value == "千代田区"
    assert g.fields["Account.Name"].value == "株式会社ABC"
    assert "Street" not in g.fields and "Company" not in g.fields
    assert g.fields["AccountId"].value == "001000000000001"


def test_contacts_under_different_accounts_go_to_review():
    a = rec("003000000000001", "Contact", AccountId="001000000000001", LastName="伊藤")
    b = rec("003000000000002", "Contact", created=3, AccountId="001000000000002", LastName="伊藤")
    g = group(a, b)
    assert g.status == "review" and "different accounts" in g.reason
    same = group(a, rec("003000000000003", "Contact", AccountId="001000000000001"))
    assert same.status == "auto"


# --------------------------------------------------------------------------------------------- properties

SURNAMES = ["佐藤", "ｻﾄｳ", "サトウ", "Sato", " 佐藤 ", "", None]
TITLES = ["部長", "課長", "", "  ", None, "=SUM(A1)", "ﾏﾈｰｼﾞｬｰ"]
EMAILS = ["sato@example.co.jp", "SATO@EXAMPLE.CO.JP", "info@example.co.jp", "", None]
PHONES = ["03-1234-5678", "０３－１２３４－５６７８", "+81 3-1234-5678", None]
STREETS = ["千代田1-1", "梅田2-2", None, ""]
SOURCES = ["名刺", "Business Card", "Sansan", "Eight", "Ｓａｎｓａｎ", "Web", "手入力", "購入リスト", "展示会", None]
ACCOUNTS = ["0015F000000A001", "0015F000000A002", None]


@st.composite
def records(draw, n_min=1, n_max=6, prefix="G"):
    n = draw(st.integers(n_min, n_max))
    out = []
    for i in range(n):
        obj = draw(st.sampled_from(["Lead", "Contact"]))
        created = draw(st.integers(0, 5))  # few values: plenty of ties
        d = rec(
            f"{'00Q' if obj == 'Lead' else '003'}{prefix}{i:03d}", obj, created=created, modified=created + draw(st.integers(0, 3)),
            LastName=draw(st.sampled_from(SURNAMES)), Title=draw(st.sampled_from(TITLES)), Email=draw(st.sampled_from(EMAILS)),
            Phone=draw(st.sampled_from(PHONES)), LeadSource=draw(st.sampled_from(SOURCES)),
            Sansan_Person_Id__c=draw(st.sampled_from([None, None, None, f"SP{i}"])),
            HasOptedOutOfEmail=draw(st.sampled_from(["true", "false", None])),
        )
        if obj == "Lead":
            d.update(Company=draw(st.sampled_from(["株式会社ABC", "ABC(株)", "", None])), Street=draw(st.sampled_from(STREETS)),
                     City=draw(st.sampled_from(["千代田区", None])))
        else:
            d.update({"Account.Name": draw(st.sampled_from(["ABC株式会社", None])), "MailingStreet": draw(st.sampled_from(STREETS)),
                      "MailingCity": draw(st.sampled_from(["大阪市北区", None])), "AccountId": draw(st.sampled_from(ACCOUNTS))})
        out.append(d)
    return out


def mapped_values(d: dict, master_object: str) -> dict:
    r = to_rec(d)
    vals = dict(r.values)
    if d["Object"] == "Lead" and master_object == "Contact":
        for src, dst in SV.lead_to_contact_fields.items():
            if src in vals:
                v = vals.pop(src)
                if blank(vals.get(dst)):
                    vals[dst] = v
    return vals


def nfkc(v):
    return unicodedata.normalize("NFKC", v).strip()


ADDRESS_GROUPS = [grp.fields for grp in SV.field_groups if "address" in grp.name]


def other_addresses(g, views: dict, f: str) -> set:
    """The records whose address is not the one the group keeps in f's address group (another
    postal code, or no postal code to compare and another street)."""
    grp = next((x for x in ADDRESS_GROUPS if f in x), None)
    if grp is None or grp[0] not in g.fields:
        return set()
    def key(v: dict, i: int) -> str | None:
        return None if blank(v.get(grp[i])) else nfkc(v[grp[i]]).replace(" ", "").replace("-", "")
    w = views[g.fields[grp[0]].from_id]
    out = set()
    for rid, v in views.items():
        for i in (3, 0):  # postal code, else street
            if key(w, i) is not None and key(v, i) is not None:
                if key(w, i) != key(v, i):
                    out.add(rid)
                break
    return out


@settings(max_examples=60, deadline=None)
@given(records(n_min=2))
def test_property_card_protection_and_blanks(recs):
    g = group(*recs)
    cards = [r for r in recs if to_rec(r).is_card]
    views = {r["Id"]: mapped_values(r, g.object) for r in recs}
    all_fields = {f for v in views.values() for f in v}
    for f in all_fields:
        # (an address's member counts from the records at the address the group keeps: the others'
        # are of another address, and the master's is cleared with it)
        holders = [i for i, v in views.items() if not blank(v.get(f)) and i not in other_addresses(g, views, f)]
        if not holders:
            assert f not in g.fields or (g.fields[f].value is None and g.fields[f].rule.endswith(CLEARED))
            continue
        # a blank never wins over a value
        assert f in g.fields and not blank(g.fields[f].value), f
        # the value comes from a record that holds it
        assert views[g.fields[f].from_id][f] == g.fields[f].value
        if f in CONSENT_FIELDS:  # an opt-out on any record stays, over the card rule too
            assert (g.fields[f].value == "true") == any(views[i][f] == "true" for i in holders), (f, g.fields[f])
            continue
        card_holders = [r["Id"] for r in cards if r["Id"] in holders]
        if card_holders and g.fields[f].rule.endswith(AS_MASTER_WRITES):
            # the card's value, as the master already writes it (03-1234-5678 / ０３－１２３４－５６７８)
            assert g.fields[f].from_id == g.master_id
        elif card_holders and f in SV.card_exempt_fields:
            continue  # the org's process (owner, status, record type): the master's, card or not
        elif card_holders and "native_script" in g.fields[f].rule and all(
                script_rank(g.fields[f].value, f) < script_rank(views[i][f], f) for i in card_holders):
            continue  # the cards' name in kana or romaji, the same name in kanji from another record
        elif card_holders:
            # never overwritten by a non-card value
            assert g.fields[f].from_id in card_holders, (f, g.fields[f])
            if len(card_holders) == 1:
                assert nfkc(g.fields[f].value) == nfkc(views[card_holders[0]][f])


@settings(max_examples=50, deadline=None)
@given(records(n_min=1, n_max=7), st.randoms(use_true_random=False))
def test_property_deterministic_whatever_the_input_order(recs, rnd):
    a = group(*recs)
    shuffled = list(recs)
    rnd.shuffle(shuffled)
    b = group(*shuffled)
    assert (a.master_id, a.status, {k: vars(v) for k, v in a.fields.items()}) == \
        (b.master_id, b.status, {k: vars(v) for k, v in b.fields.items()})
    assert list(a.fields) == list(b.fields)


@settings(max_examples=60, deadline=None)
@given(records(n_min=2, n_max=9))
def test_property_steps_at_most_three_records_one_object_and_cover_the_group(recs):
    g = group(*recs)
    con = make_db([recs])
    survive(con, Config())
    build_plan(con, Config())
    (doc,) = plan_document(con, Config())["clusters"]
    con.close()
    assert doc["master_id"] == g.master_id
    steps = doc["steps"]
    obj = {r["Id"]: r["Object"] for r in recs}
    covered = []
    for s in steps:
        if s["action"] == "merge":
            assert 1 <= len(s["loser_ids"]) <= 2 and s["master_id"] == g.master_id
            assert {obj[i] for i in [s["master_id"], *s["loser_ids"]]} == {g.object}
            covered += s["loser_ids"]
        else:
            assert obj[s["lead_id"]] == "Lead" and obj[s["contact_id"]] == "Contact" and s["contact_id"] == g.master_id
            covered.append(s["lead_id"])
    assert sorted(covered) == sorted(r["Id"] for r in recs if r["Id"] != g.master_id)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(0, 10_000))
def test_property_stage_each_record_in_one_group_and_plan_deterministic(sizes, seed):
    rnd = random.Random(seed)
    groups = []
    for k, size in enumerate(sizes):
        g = []
        for i in range(size):
            obj = rnd.choice(["Lead", "Contact"])
            g.append(rec(f"{'00Q' if obj == 'Lead' else '003'}{k}X{i:03d}", obj, created=rnd.randint(0, 9),
                         LastName=rnd.choice(SURNAMES), Title=rnd.choice(TITLES), LeadSource=rnd.choice(SOURCES),
                         Email=rnd.choice(EMAILS), AccountId=rnd.choice(ACCOUNTS) if obj == "Contact" else None))
        groups.append(g)
    singles = [rec("00QSINGLE000001", LastName="テスト", LeadSource="名刺")]
    docs = []
    for _ in range(2):
        con = make_db([g for g in groups if len(g) > 1], singles + [g[0] for g in groups if len(g) == 1])
        survive(con, Config())
        build_plan(con, Config())
        ids = [r[0] for r in con.execute('SELECT "Id" FROM group_records').fetchall()]
        assert len(ids) == len(set(ids)) == sum(len(g) for g in groups if len(g) > 1)
        n_masters = con.execute("SELECT count(*) FROM group_records WHERE is_master").fetchall()[0][0]
        assert n_masters == sum(1 for g in groups if len(g) > 1)
        # a card record is never proposed for deletion (the single テスト record is a 名刺 card)
        assert con.execute("SELECT count(*) FROM delete_plan WHERE \"Id\" = '00QSINGLE000001'").fetchall()[0][0] == 0
        docs.append(plan_document(con, Config()))
        con.close()
    assert docs[0] == docs[1]


def test_any_true_keeps_an_opt_out_from_any_record_even_against_a_business_card():
    from nayose.config import SurvivorshipConfig
    from nayose.survive import Rec

    cfg = SurvivorshipConfig(field_groups=[], field_rules={"HasOptedOutOfEmail": "any_true"})
    card = Rec(id="003A", object="Contact", values={"HasOptedOutOfEmail": "false", "LeadSource": "名刺"},
               is_card=True, created=2.0, modified=2.0)
    web = Rec(id="003B", object="Contact", values={"HasOptedOutOfEmail": "true", "LeadSource": "Web"},
              is_card=False, created=1.0, modified=1.0)
    out = survive_group("G", "auto", [card, web], cfg).fields
    assert out["HasOptedOutOfEmail"].value == "true" and out["HasOptedOutOfEmail"].from_id == "003B"


def test_names_keep_their_kanji_over_newer_kana_or_romaji():
    g = group(
        rec("003000000000001", "Contact", created=0, LastName="佐藤", FirstName="寛"),
        rec("003000000000002", "Contact", created=9, LastName="Sato", FirstName="Hiroshi"),
        rec("003000000000003", "Contact", created=5, LastName="サトウ", FirstName="ヒロシ"),
    )
    assert g.fields["LastName"].value == "佐藤" and g.fields["FirstName"].value == "寛"
    assert g.fields["LastName"].rule == "native_script"


def test_a_whole_name_in_lastname_on_a_card_competes_as_surname_and_given_name():
    """A card holding 松本　明香 in LastName and nothing in FirstName: its surname and given name win
    as such (the card rule), instead of LastName 松本　明香 beside the other record's FirstName 紗香;
    a Latin-letter whole name (order unknown) is no surname: the master's Smith stays."""
    g = group(
        rec("003000000000001", "Contact", created=0, LastName="松本", FirstName="紗香"),
        rec("00Q000000000002", "Lead", created=9, LeadSource="名刺", LastName="松本\u3000明香"),
    )
    assert (g.fields["LastName"].value, g.fields["FirstName"].value) == ("松本", "明香")
    assert g.fields["FirstName"].from_id == "00Q000000000002" and g.fields["FirstName"].rule == "business_card"
    g = group(
        rec("003000000000003", "Contact", created=0, LastName="Smith", FirstName="John"),
        rec("00Q000000000004", "Lead", created=9, LeadSource="名刺", LastName="John Smith"),
    )
    # (the whole Latin name ranks after a surname alone under native_script, which comes before the card)
    assert (g.fields["LastName"].value, g.fields["FirstName"].value) == ("Smith", "John")


def test_whole_names_written_with_a_dot_or_a_comma_compete_as_surname_and_given_name():
    """ジョン・スミス (given name first, a katakana name's middle dot) and 山田、太郎 in LastName are
    split like 松本　明香; Smith，John (a full-width comma) is a whole Latin name like John Smith: none
    of them is written into LastName beside the master's FirstName."""
    for whole, last, first in (("ジョン・スミス", "スミス", "ジョン"), ("ﾙｰｶｽ･ﾌﾞﾗｳﾝ", "ブラウン", "ルーカス"),
                               ("山田、太郎", "山田", "太郎"), ("Smith，John", "Smith", "John")):
        g = group(
            rec("00Q000000000001", created=0, modified=0, LastName=last, FirstName=first),
            rec("00Q000000000002", created=10, modified=500, LastName=whole),
        )
        got = tuple(unicodedata.normalize("NFKC", g.fields[f].value) for f in ("LastName", "FirstName"))
        assert got == (last, first), (whole, got)  # (a half-width writing, the newer, may survive)


def test_a_whole_name_stays_whole_when_the_export_has_no_firstname_column():
    """A card export mapping 氏名 to LastName (no FirstName column): the plan cannot write a given
    name, so the whole name is not replaced by the surname alone (山田　太郎 → 山田 lost 太郎)."""
    def without_first(d):
        r = to_rec(d)
        r.values.pop("FirstName")
        return r

    recs = [without_first(rec("00Q000000000001", created=0, modified=0, LastName="山田　太郎", Email="t@abc.co.jp")),
            without_first(rec("00Q000000000002", created=10, modified=500, LastName="山田 太郎", Email="t@abc.co.jp"))]
    g = survive_group("G", "auto", recs, SV)
    assert "FirstName" not in g.fields
    assert g.fields["LastName"].value in ("山田　太郎", "山田 太郎")


def test_a_phone_number_keeps_its_extension():
    """The master's 03-6666-1212 内線 204 against a newer 03-6666-1212 (the same number without the
    extension): the master keeps its writing; a newer number with an extension is a change."""
    for written, newer in (("03-6666-1212 内線 204", "03-6666-1212"), ("03-6666-1212 ext. 55", "+81 3 6666 1212"),
                           ("0366661212#3", "03-6666-1212")):
        g = group(rec("00Q000000000001", created=0, modified=0, LastName="渡辺", Phone=written),
                  rec("00Q000000000002", created=10, modified=500, LastName="渡辺", Phone=newer))
        assert g.fields["Phone"].value == written and g.fields["Phone"].rule.endswith(AS_MASTER_WRITES), written
    g = group(rec("00Q000000000001", created=0, modified=0, LastName="渡辺", Phone="03-6666-1212"),
              rec("00Q000000000002", created=10, modified=500, LastName="渡辺", Phone="03-6666-1212 内線 204"))
    assert g.fields["Phone"].value == "03-6666-1212 内線 204"


def test_names_written_plainly_survive_over_ones_with_an_honorific_or_a_note():
    """A newer record whose name carries 様, a title or a note in brackets does not write them into
    the master: the same name written plainly survives; in the same script only (kanji first)."""
    g = group(
        rec("003000000000001", "Contact", created=0, LastName="山田", FirstName="太郎"),
        rec("003000000000002", "Contact", created=9, LastName="山田（旧姓 鈴木）", FirstName="太郎 様"),
        rec("003000000000003", "Contact", created=5, LastName="ヤマダ", FirstName="タロウ"),
    )
    assert (g.fields["LastName"].value, g.fields["FirstName"].value) == ("山田", "太郎")
    g = group(
        rec("003000000000004", "Contact", created=0, LastName="Smith", FirstName="John"),
        rec("003000000000005", "Contact", created=9, LastName="Smith", FirstName="Mr. John"),
    )
    assert g.fields["FirstName"].value == "John"
    g = group(  # a kanji name with an honorific still beats kana
        rec("003000000000006", "Contact", created=0, LastName="ヤマダ", FirstName="タロウ"),
        rec("003000000000007", "Contact", created=9, LastName="山田", FirstName="太郎様"),
    )
    assert g.fields["FirstName"].value == "太郎様"


def test_names_in_mixed_case_survive_over_capitals_or_lower_case():
    """A newer form typed in capitals (JOHN SMITH, ACME CORPORATION) does not write them over the
    name as written; with no mixed-case value the most recent stays the rule."""
    g = group(
        rec("00Q000000000131", created=0, modified=0, LastName="Smith", FirstName="John", Company="Acme Corporation"),
        rec("00Q000000000132", created=9, modified=900, LastName="SMITH", FirstName="JOHN", Company="ACME CORPORATION"),
        rec("00Q000000000133", created=5, modified=500, LastName="smith", FirstName="john", Company="acme corporation"),
    )
    assert [g.fields[f].value for f in ("LastName", "FirstName", "Company")] == ["Smith", "John", "Acme Corporation"]
    g = group(
        rec("00Q000000000134", created=0, modified=0, LastName="smith", Company="NEC"),
        rec("00Q000000000135", created=9, modified=900, LastName="SMITH", Company="NEC"),
    )
    assert g.fields["LastName"].value == "SMITH" and g.fields["Company"].value == "NEC"


def test_a_cards_ocr_misreading_never_wins_over_the_name_as_written():
    """A business card (protected) read 山ロ for 山口 and 東洋エ業 for 東洋工業; the web form of the same
    person has them right: the master carries 山口 and 東洋工業 (the card's given name, right, still
    wins). Where no record has the right spelling (a katakana web form), the card's value stays:
    nothing writes a value no record holds."""
    con = make_db([
        [rec("00Q000000000081", created=9, LastName="山ロ", FirstName="陽子", Company="株式会社東洋エ業", LeadSource="名刺"),
         rec("00Q000000000082", created=0, LastName="山口", FirstName="ようこ", Company="東洋工業株式会社", LeadSource="Web")],
        [rec("00Q000000000083", created=9, LastName="山ロ", FirstName="陽子", LeadSource="名刺"),
         rec("00Q000000000084", created=0, LastName="ヤマグチ", FirstName="ヨウコ", LeadSource="Web")],
    ])
    result = survive(con, Config())
    got = {(c, f): v for c, f, v in con.execute("SELECT cluster_id, field, value FROM surviving_fields").fetchall()}
    g = "00Q000000000081"
    assert got[(g, "LastName")] == "山口" and got[(g, "FirstName")] == "陽子"
    assert got[(g, "Company")] == "東洋工業株式会社"
    assert got[("00Q000000000083", "LastName")] == "山ロ"
    assert result.stats["misread_values_ignored"] == 2


def test_placeholder_values_never_win_over_real_ones():
    """不明 in LastName, a dummy mobile (090-1234-5678) and address (noemail@) and 個人 as the
    company only hold their fields' places (a zero birth date too: unit-tested in normalize): the group's real values survive, even from
    a newer non-master record. Where every record holds the placeholder, it stays (nothing better)."""
    con = make_db([
        [rec("00Q000000000071", created=0, LastName="不明", Company="個人", MobilePhone="090-1234-5678",
             Email="noemail@example.com"),
         rec("00Q000000000072", created=9, LastName="山田", FirstName="太郎", Company="株式会社サンプル",
             MobilePhone="090-3321-4455", Email="taro.yamada@sample.co.jp")],
        [rec("00Q000000000075", created=9, LastName="田中", City="不明", PostalCode="000-0000"),  # the newer record
         rec("00Q000000000076", created=0, LastName="田中", City="千代田区", PostalCode="100-0005")],
        [rec("00Q000000000073", created=0, LastName="佐藤", Company="個人"),
         rec("00Q000000000074", created=9, LastName="佐藤", Company="個人")],
    ])
    result = survive(con, Config())
    got = {(c, f): v for c, f, v in con.execute("SELECT cluster_id, field, value FROM surviving_fields").fetchall()}
    g = "00Q000000000071"
    assert got[(g, "LastName")] == "山田" and got[(g, "FirstName")] == "太郎"
    assert got[(g, "Company")] == "株式会社サンプル" and got[(g, "MobilePhone")] == "090-3321-4455"
    assert got[(g, "Email")] == "taro.yamada@sample.co.jp"
    assert got[("00Q000000000073", "Company")] == "個人"
    assert got[("00Q000000000075", "City")] == "千代田区" and got[("00Q000000000075", "PostalCode")] == "100-0005"
    assert result.stats["placeholder_values_ignored"] == 6


def test_a_shared_role_mailbox_never_wins_over_the_persons_own_address():
    """The newer record carries the company's info@: the merge keeps the person's own address (it
    wrote info@ over taro.yamada@); a group holding only role addresses keeps one."""
    con = make_db([[rec("00Q000000000091", created=0, modified=0, LastName="山田", Email="taro.yamada@alpha.co.jp"),
                    rec("00Q000000000092", created=5, modified=900, LastName="山田", Email="info@alpha.co.jp")],
                   [rec("00Q000000000093", created=0, modified=0, LastName="佐藤", Email="sales@beta.co.jp"),
                    rec("00Q000000000094", created=5, modified=900, LastName="佐藤", Email="eigyo@beta.co.jp")]])
    survive(con, Config())
    got = {(c, f): v for c, f, v in con.execute("SELECT cluster_id, field, value FROM surviving_fields").fetchall()}
    assert got[("00Q000000000091", "Email")] == "taro.yamada@alpha.co.jp"
    assert got[("00Q000000000093", "Email")] == "eigyo@beta.co.jp"


def test_a_birth_date_left_at_the_day_the_record_was_made_never_wins():
    """A web form's date picker left at today: the newer record's 'birth date' is its creation day
    and must not be written over the master's real one; where it is the only one, it stays."""
    con = make_db([[rec("00Q000000000101", created=0, modified=0, LastName="山田", Birthdate="1984-07-23"),
                    rec("00Q000000000102", created=400, modified=900, LastName="山田", Birthdate=ts(400)[:10])],
                   [rec("00Q000000000103", created=0, modified=0, LastName="佐藤"),
                    rec("00Q000000000104", created=400, modified=900, LastName="佐藤", Birthdate=ts(400)[:10])]])
    survive(con, Config())
    got = {(c, f): v for c, f, v in con.execute("SELECT cluster_id, field, value FROM surviving_fields").fetchall()}
    assert got[("00Q000000000101", "Birthdate")] == "1984-07-23"
    assert got[("00Q000000000103", "Birthdate")] == ts(400)[:10]


def test_a_phone_number_a_spreadsheet_mangled_never_overwrites_the_real_one():
    """A CSV saved by a spreadsheet that read the phone column as numbers (3.12346E+09: the leading
    0 and the last digits gone): the newer record's mangled number must not be written over the
    master's real one."""
    con = make_db([[rec("00Q000000000081", created=0, modified=0, LastName="山田", Phone="03-1234-6094"),
                    rec("00Q000000000082", created=5, modified=900, LastName="山田", Phone="3.12346E+09")]])
    survive(con, Config())
    got = dict(con.execute("SELECT field, value FROM surviving_fields").fetchall())
    assert got["Phone"] == "03-1234-6094"


def test_a_card_lead_source_is_recognised_inside_longer_values():
    """Orgs write the card route as 名刺交換, 名刺（Sansan）, Sansan連携 or 'business card scan': all
    are card records (their values protected); Freight Expo or Eighteen are not."""
    from nayose.survive import is_card_lead_source

    for v in ("名刺", "名刺交換", "名刺（Sansan）", "Sansan連携", "sansan import", "Eight名刺", "business card scan", " SANSAN "):
        assert is_card_lead_source(v, SV), v
    for v in ("Freight Expo", "Eighteen", "Web", "展示会", "Cardinal", "", None):
        assert not is_card_lead_source(v, SV), v
    card = group(rec("00Q000000000111", created=0, modified=0, Title="部長", LeadSource="名刺交換"),
                 rec("00Q000000000112", created=5, modified=900, Title="担当", LeadSource="Web"))
    assert card.fields["Title"].value == "部長" and card.fields["Title"].rule == "business_card"


def test_values_salesforce_would_refuse_never_win_and_dates_are_written_as_it_takes_them():
    """A newer record's email with a display name in it (a mail client's copy: `松田 恵子 <…>`) or two
    addresses is read by matching, but a merge cannot write it: the plain address wins. A birth
    date from a spreadsheet-saved export (1970/3/15) or a form (昭和45年3月15日) is the same date as
    1970-03-15 and is written in that form (the merge carrying 1970/3/15 would fail). Where no record
    holds a usable value, the value stays (nothing writes what no record holds)."""
    con = make_db([[rec("00Q000000000121", created=0, modified=0, LastName="松田", Email="keiko.matsuda@haruka.co.jp"),
                    rec("00Q000000000122", created=5, modified=900, LastName="松田",
                        Email="松田 恵子 <keiko.matsuda@haruka.co.jp>")],
                   [rec("0030000000001231", created=0, modified=0, LastName="森", Birthdate="昭和45年3月15日",
                        Email="k.mori@sora.co.jp; kazuo@gmail.com"),
                    rec("0030000000001241", created=5, modified=500, LastName="森", Birthdate="1970/3/15"),
                    rec("0030000000001251", created=5, modified=900, LastName="森", Birthdate="S45.3.15")],
                   [rec("00Q000000000126", created=0, modified=0, LastName="岡田", Birthdate="不詳"),
                    rec("00Q000000000127", created=5, modified=900, LastName="岡田", Birthdate="1982-11-02",
                        Email="岡田 <t.okada@nagisa.co.jp>")]])
    survive(con, Config())
    got = {(c, f): v for c, f, v in con.execute("SELECT cluster_id, field, value FROM surviving_fields").fetchall()}
    assert got[("00Q000000000121", "Email")] == "keiko.matsuda@haruka.co.jp"
    assert got[("0030000000001231", "Birthdate")] == "1970-03-15"
    assert got[("0030000000001231", "Email")] == "k.mori@sora.co.jp; kazuo@gmail.com"  # the only one: kept
    assert got[("00Q000000000126", "Birthdate")] == "1982-11-02"
    assert got[("00Q000000000126", "Email")] == "岡田 <t.okada@nagisa.co.jp>"
    ignored = set(con.execute("SELECT \"Id\", field, reason FROM ignored_values").fetchall())
    assert ("00Q000000000122", "Email", "malformed") in ignored
    assert ("00Q000000000126", "Birthdate", "malformed") in ignored


def test_a_date_field_is_written_as_the_api_takes_it():
    from nayose.apply import _typed

    date_field = {"type": "date"}
    assert _typed(date_field, "1970/3/15") == "1970-03-15"
    assert _typed(date_field, "2024年4月1日") == "2024-04-01"
    assert _typed(date_field, "2024-04-01") == "2024-04-01"
    assert _typed(date_field, "2024/02/30") == "2024/02/30"  # no such day: the org says so
    assert _typed({"type": "string"}, "1970/3/15") == "1970/3/15"


def test_leads_that_a_contact_cannot_take_well_send_the_conversion_to_review():
    """A job changer's new card (another company, another mail domain) converted into the old
    company's Contact would put the new address and title under the old account: review, with the
    reason. So does a Contact without an account (convertLead needs one). The same company written
    in another script (a translation), or the same mail domain, is no job change."""
    from nayose.normalize import split_company
    from nayose.survive import NO_ACCOUNT_REASON, OTHER_COMPANY_REASON

    con = make_db([
        [rec("0030000000000141", "Contact", created=0, LastName="西村", FirstName="浩二", **{"Account.Name": "株式会社オメガ電子"},
             AccountId="0010000000000141", Email="k.nishimura@omega-denshi.co.jp", MobilePhone="090-5151-6161"),
         rec("00Q000000000142", created=9, LastName="西村", FirstName="浩二", Company="株式会社ベータシステム",
             Email="nishimura@beta-system.co.jp", MobilePhone="090-5151-6161", LeadSource="名刺")],
        [rec("0030000000000143", "Contact", created=0, LastName="石井", FirstName="智子", AccountId=None,
             Email="tomoko.ishii@gmail.com"),
         rec("00Q000000000144", created=9, LastName="石井", FirstName="智子", Email="tomoko.ishii@gmail.com")],
        [rec("0030000000000145", "Contact", created=0, LastName="久保田", FirstName="未来", **{"Account.Name": "株式会社信州人材サービス"},
             AccountId="0010000000000145", Email="m.kubota@shinshujinzai.co.jp"),
         rec("00Q000000000146", created=9, LastName="久保田", FirstName="未来", Company="Shinshu Staffing Co., Ltd.")],
        [rec("0030000000000147", "Contact", created=0, LastName="田中", FirstName="一郎", **{"Account.Name": "株式会社トライ"},
             AccountId="0010000000000147", Email="ichiro.tanaka@try-inc.co.jp"),
         rec("00Q000000000148", created=9, LastName="田中", FirstName="一郎", Company="トライホールディングス株式会社",
             Email="i.tanaka@try-inc.co.jp")],
    ])
    for rid, company, email in con.execute(
            """SELECT "Id", coalesce("Company", "Account.Name"), "Email" FROM raw_records""").fetchall():
        con.execute("UPDATE normalized_records SET company_core = ?, email = lower(?) WHERE id = ?",
                    [split_company(company)[0] if company else None, email, rid])
    survive(con, Config())
    got = {c: (s, r) for c, s, r in con.execute("SELECT cluster_id, status, reason FROM survivors").fetchall()}
    assert got["0030000000000141"] == ("review", OTHER_COMPANY_REASON)
    assert got["0030000000000143"] == ("review", NO_ACCOUNT_REASON)
    assert got["0030000000000145"] == ("auto", None)  # a translation is not another company
    assert got["0030000000000147"] == ("auto", None)  # one mail domain: one company


def test_a_bounce_belongs_to_its_address():
    """A working address wins over one that bounced, and the winner's blank bounce fields are
    cleared, not filled from the other record (the new address used to inherit the old one's
    550 User unknown)."""
    g = group(
        rec("00Q000000000151", created=0, modified=0, Email="h.murakami@old.co.jp",
            EmailBouncedReason="550 5.1.1 User unknown", EmailBouncedDate="2023-05-01T10:00:00.000Z"),
        rec("00Q000000000152", created=5, modified=900, Email="haruki.murakami@norway.co.jp"),
    )
    assert g.fields["Email"].value == "haruki.murakami@norway.co.jp"
    assert g.fields["EmailBouncedReason"].value is None and g.fields["EmailBouncedReason"].rule.endswith("cleared with its address")
    g = group(
        rec("00Q000000000153", created=0, modified=0, Email="banana@kitchen.co.jp"),
        rec("00Q000000000154", created=5, modified=900, Email="b.yoshimoto@kitchen.co.jp",
            EmailBouncedReason="550 5.1.1 User unknown"),
    )
    assert g.fields["Email"].value == "banana@kitchen.co.jp" and g.fields["EmailBouncedReason"].value is None


def test_a_persons_company_address_wins_over_a_free_one_except_for_a_consumer():
    """B2B: the newer web form's gmail does not replace the person's company address (the most recent
    rule alone wrote it over 105 company addresses on the 20k sample); a role mailbox still gives way
    to the person's own free address; a Person Account (a consumer) keeps the most recent rule."""
    older_corp = rec("00Q000000000161", created=0, modified=0, LastName="古谷", Email="misaki_furuya@blue-life.co.jp")
    newer_free = rec("00Q000000000162", created=5, modified=900, LastName="古谷", Email="misaki_furuya314@icloud.com")
    assert group(older_corp, newer_free).fields["Email"].value == "misaki_furuya@blue-life.co.jp"
    off = SV.model_copy(update={"prefer_company_email": False})
    assert group(older_corp, newer_free, config=off).fields["Email"].value == "misaki_furuya314@icloud.com"
    role = rec("00Q000000000163", created=0, modified=0, LastName="古谷", Email="soumu@blue-life.co.jp")
    assert group(role, newer_free).fields["Email"].value == "misaki_furuya314@icloud.com"
    account = Rec("0015F00000P0161", "Account", {"PersonEmail": "misaki_furuya@blue-life.co.jp", "LastName": "古谷"},
                  0.0, 0.0, False, True)
    lead = Rec("00Q000000000164", "Lead", {"Email": "misaki_furuya314@icloud.com", "LastName": "古谷"}, 5.0, 900.0)
    g = survive_group("G", "auto", [account, lead], SV)
    assert g.master_id == "0015F00000P0161" and g.fields["PersonEmail"].value == "misaki_furuya314@icloud.com"


def test_the_masters_value_written_another_way_is_no_change():
    """A newer record with the same number in full-width digits or +81 form, the same address in
    capitals, the same company without its legal form: the master keeps its writing (these were
    field changes to review, and wrote full-width digits into Salesforce). A legal form the master
    lacks is still added."""
    g = group(
        rec("00Q000000000171", created=0, modified=0, LastName="松田", Phone="03-3456-7821",
            Email="keiko.matsuda@haruka.co.jp", Company="株式会社ハルカ物産"),
        rec("00Q000000000172", created=5, modified=900, LastName="松田", Phone="＋８１－３－３４５６－７８２１",
            Email="Keiko.Matsuda@HARUKA.CO.JP", Company="ハルカ物産"),
    )
    for f, v in (("Phone", "03-3456-7821"), ("Email", "keiko.matsuda@haruka.co.jp"), ("Company", "株式会社ハルカ物産")):
        assert (g.fields[f].value, g.fields[f].from_id) == (v, "00Q000000000171"), f
        assert g.fields[f].rule.endswith(AS_MASTER_WRITES), f
    g = group(  # a card's street written with 丁目 / 番 / 号 and full-width digits is the master's street
        rec("0030000000001751", "Contact", created=0, modified=0, LastName="松田", MailingStreet="四谷3-18-16 太陽ビル本館 6F"),
        rec("00Q000000000176", created=5, modified=900, LastName="松田", LeadSource="名刺",
            Street="四谷３丁目１８番１６号　太陽ビル本館　６Ｆ"),
    )
    assert g.fields["MailingStreet"].value == "四谷3-18-16 太陽ビル本館 6F"
    g = group(  # a postal code with 〒 and a reading in half-width kana are the master's own
        rec("00Q000000000181", created=0, modified=0, LastName="渡辺", PostalCode="100-0005", LastNameKana__c="ワタナベ",
            MailingCountry="Japan"),
        rec("00Q000000000182", created=5, modified=900, LastName="渡辺", PostalCode="〒1000005", LastNameKana__c="ﾜﾀﾅﾍﾞ",
            MailingCountry="日本"),
    )
    assert (g.fields["PostalCode"].value, g.fields["LastNameKana__c"].value) == ("100-0005", "ワタナベ")
    assert g.fields["MailingCountry"].value == "Japan"
    g = group(  # a whole Latin name in LastName does not replace the surname
        rec("00Q000000000177", created=0, modified=0, LastName="Clark", FirstName="Mark"),
        rec("00Q000000000178", created=5, modified=900, LastName="Mark Clark"),
    )
    assert g.fields["LastName"].value == "Clark"
    g = group(
        rec("00Q000000000173", created=0, modified=0, LastName="松田", Company="ハルカ物産", Phone="03-3456-7821"),
        rec("00Q000000000174", created=5, modified=900, LastName="松田", Company="株式会社ハルカ物産", Phone="03-3456-7822"),
    )
    assert g.fields["Company"].value == "株式会社ハルカ物産" and g.fields["Phone"].value == "03-3456-7822"


def test_a_reading_cut_to_one_kana_never_wins():
    """Eight keeps only a reading's first kana (ｲ for イケダ): the card's cut reading used to be written
    over the full one by the card rule; where it is the only one, it stays."""
    con = make_db([[rec("00Q000000000191", created=0, modified=0, LastName="池田", LastNameKana__c="イケダ"),
                    rec("00Q000000000192", created=5, modified=900, LastName="池田", LastNameKana__c="ｲ", LeadSource="Eight")],
                   [rec("00Q000000000193", created=0, modified=0, LastName="北城"),
                    rec("00Q000000000194", created=5, modified=900, LastName="北城", LastNameKana__c="キ", LeadSource="Eight")]])
    survive(con, Config())
    got = {(c, f): v for c, f, v in con.execute("SELECT cluster_id, field, value FROM surviving_fields").fetchall()}
    assert got[("00Q000000000191", "LastNameKana__c")] == "イケダ"
    assert got[("00Q000000000193", "LastNameKana__c")] == "キ"


@pytest.mark.parametrize("a, b, same", [
    (("464-0191", "虎ノ門5-4"), ("〒５３０－０００１", "梅田1-1-1"), False),
    (("1000001", "千代田1-1"), ("〒100-0001", "千代田一丁目1番"), True),
    ((None, "千代田１－１ 千代田ビル 5F"), ("100-0001", "千代田1-1"), True),   # the building added
    ((None, "鶴見中央3丁目19番18号"), (None, "池袋1-26-22"), False),
    ((None, None), ("100-0001", "千代田1-1"), True),                          # nothing to compare
])
def test_same_address_as_the_address_groups_compare_it(a, b, same):
    """The Python twin of the address groups' SQL test (the plan check uses it: a card's City of
    another address is no card value overwritten)."""
    from nayose.survive import same_address

    assert same_address(*a, *b) is same


def test_a_whole_address_in_street_is_the_masters_address_written_another_way():
    """A newer record (a card export maps 住所 to Street) holds 大阪府大阪市北区梅田1-1-1 in Street
    against the master's State 大阪府, City 大阪市北区, Street 梅田1-1-1: the same address, so the
    master keeps its writing (no prefecture and city written twice into its Street). Another
    street in the newer record is a change."""
    master = rec("00Q000000000001", created=0, modified=0, LastName="佐藤", Street="梅田1-1-1", City="大阪市北区", State="大阪府")
    newer = rec("00Q000000000002", created=10, modified=500, LastName="佐藤", Street="大阪府大阪市北区梅田1-1-1")
    g = group(master, newer)
    assert g.master_id == "00Q000000000001"
    assert g.fields["Street"].value == "梅田1-1-1" and g.fields["Street"].rule.endswith(AS_MASTER_WRITES), g.fields["Street"]
    assert (g.fields["City"].value, g.fields["State"].value) == ("大阪市北区", "大阪府")
    moved = rec("00Q000000000002", created=10, modified=500, LastName="佐藤", Street="大阪府大阪市北区梅田2-2-2")
    assert group(master, moved).fields["Street"].value == "大阪府大阪市北区梅田2-2-2"


def test_a_cards_name_in_kana_or_romaji_does_not_replace_the_kanji_the_card_wins_the_rest():
    """A newer Eight card read in katakana (ヤマモト ケンイチ) beside the rep's Contact 山本 健一: the
    kanji name stays (the same name, better written: native_script comes before the card rule), the
    card's title and phone win; the owner stays the master's."""
    contact = rec("003000000000001", obj="Contact", created=0, LastName="山本", FirstName="健一", Title="課長",
                  Phone="03-2222-3333", OwnerId="005REP")
    card = rec("00Q000000000002", created=900, LastName="ヤマモト", FirstName="ケンイチ", Title="部長",
               Phone="03-2222-4444", OwnerId="005EIGHT", LeadSource="Eight")
    g = group(contact, card)
    assert (g.fields["LastName"].value, g.fields["FirstName"].value) == ("山本", "健一")
    assert g.fields["LastName"].rule == "native_script"
    assert (g.fields["Title"].value, g.fields["Phone"].value) == ("部長", "03-2222-4444")
    assert g.fields["Title"].rule == "business_card"
    assert g.fields["OwnerId"].value == "005REP"
    # two kanji names: the card's wins as before
    kanji_card = rec("00Q000000000003", created=900, LastName="山元", FirstName="健一", LeadSource="名刺")
    assert group(contact, kanji_card).fields["LastName"].value == "山元"


def test_an_opt_out_from_another_record_is_written_true_and_a_bounce_stays_with_its_address():
    """An export's はい / 1 for HasOptedOutOfEmail on the newer record: the merge writes true (the
    applier wrote 1 / はい back as false); the master's own true keeps its writing. A bounce on the
    master's address stays when a newer record holds the same address without one."""
    g = group(rec("00Q000000000001", created=0, modified=0, LastName="木村", HasOptedOutOfEmail="0"),
              rec("00Q000000000002", created=9, modified=9, LastName="木村", HasOptedOutOfEmail="はい"))
    assert g.fields["HasOptedOutOfEmail"].value == "true"
    g = group(rec("00Q000000000001", created=0, modified=0, LastName="木村", HasOptedOutOfEmail="1"),
              rec("00Q000000000002", created=9, modified=9, LastName="木村", HasOptedOutOfEmail="false"))
    assert g.fields["HasOptedOutOfEmail"].value == "1" and g.fields["HasOptedOutOfEmail"].from_id == "00Q000000000001"
    bounced = rec("00Q000000000001", created=0, modified=0, LastName="木村", Email="s.kimura@tokyo-soft.jp",
                  EmailBouncedReason="550 5.1.1 User unknown", EmailBouncedDate="2024-01-05T00:00:00.000Z")
    same = rec("00Q000000000002", created=9, modified=9, LastName="木村", Email="S.Kimura@tokyo-soft.jp")
    g = group(bounced, same)
    assert g.fields["EmailBouncedReason"].value == "550 5.1.1 User unknown", g.fields["EmailBouncedReason"]
    other = rec("00Q000000000002", created=9, modified=9, LastName="木村", Email="shota.kimura@tokyo-soft.jp")
    g = group(bounced, other)
    assert g.fields["Email"].value == "shota.kimura@tokyo-soft.jp" and g.fields["EmailBouncedReason"].value is None


def test_a_value_longer_than_the_field_takes_loses_to_one_that_fits():
    """A newer record's 143-character Title or a Phone with a note (49 characters) cannot be written
    (Title takes 128, Phone 40): the value that fits survives."""
    long_title = "営業本部 第一営業部 " * 14
    long_phone = "03-9999-0000 内線 1234 (直通は 03-9999-0001 までご連絡ください)"
    assert len(long_title.strip()) > 128 and len(long_phone) > 40
    con = make_db([[rec("00Q000000000001", created=0, modified=0, LastName="佐藤", Title="部長", Phone="03-9999-0000"),
                    rec("00Q000000000002", created=9, modified=9, LastName="佐藤", Title=long_title, Phone=long_phone)]])
    survive(con, Config())
    got = dict(con.execute("SELECT field, value FROM surviving_fields WHERE field IN ('Title', 'Phone')").fetchall())
    ignored = {f for (f,) in con.execute("SELECT field FROM ignored_values").fetchall()}
    con.close()
    assert got == {"Title": "部長", "Phone": "03-9999-0000"} and {"Title", "Phone"} <= ignored


def test_a_title_or_a_prefecture_written_another_way_is_no_change():
    """ＣＥＯ against the master's CEO, 東京 against its 東京都: the same value written another way, so
    the master keeps its writing (no change to review, and no less complete State written)."""
    g = group(rec("00Q000000000001", created=0, modified=0, LastName="佐藤", Title="CEO", State="東京都", Street="芝公園4-2-8",
                  PostalCode="105-0011"),
              rec("00Q000000000002", created=9, modified=9, LastName="佐藤", Title="ＣＥＯ", State="東京", Street="芝公園4-2-8",
                  PostalCode="105-0011"))
    assert (g.fields["Title"].value, g.fields["State"].value) == ("CEO", "東京都")
    assert g.fields["Title"].rule.endswith(AS_MASTER_WRITES) and g.fields["State"].rule.endswith(AS_MASTER_WRITES)
    assert group(rec("00Q000000000001", created=0, modified=0, LastName="佐藤", Title="課長"),
                 rec("00Q000000000002", created=9, modified=9, LastName="佐藤", Title="部長")).fields["Title"].value == "部長"


def test_a_record_with_the_masters_name_swapped_does_not_swap_it():
    """The master's whole name 青木 蓮 (split: surname 青木), a Lead 青木 / 蓮, and the newest Lead with
    the fields the other way round (LastName 蓮, FirstName 青木): the newest used to win both fields and
    write 蓮 as the surname. A record whose names are the master's swapped ranks after the others."""
    g = group(rec("0035F000000QPglQAG", "Contact", created=0, modified=0, LastName="青木 蓮"),
              rec("00Q5F000000JJOhUAO", "Lead", created=5, modified=5, LastName="青木", FirstName="蓮"),
              rec("00Q5F000000JO2CUAW", "Lead", created=9, modified=9, LastName="蓮", FirstName="青木"))
    assert (g.fields["LastName"].value, g.fields["FirstName"].value) == ("青木", "蓮")
    alone = group(rec("003000000000001", "Contact", created=0, modified=0, LastName="青木", FirstName="蓮"),
                  rec("00Q000000000002", "Lead", created=9, modified=9, LastName="蓮", FirstName="青木"))
    assert (alone.fields["LastName"].value, alone.fields["FirstName"].value) == ("青木", "蓮")
