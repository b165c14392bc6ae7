"""The safe applier against the fake org over HTTPS with the real simple-salesforce client: chained
merges, a Lead → Contact conversion, deletes and a Pardot delete; stale groups; dry run; unknown
outcomes after connection resets; API budget; undo; and no secret anywhere."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from simple_salesforce import Salesforce

from nayose.apply import ApplyError, apply_plan, load_plan, norm, undo_plan
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.soap import soap_log
from nayose.fakeorg.store import OrgStore, id18
from nayose.journal import Journal
from nayose.store import connect as store_connect

ROOT = Path(__file__).resolve().parents[2]
T0 = "2026-10-{:02d}T{:02d}:{:02d}:00.000+0000"

# Five records of one person each: kanji, katakana, half-width kana, romaji, a spaced variant.
PEOPLE = [
    ("佐藤", "健", "サトウ", "ケン", "Sato", "Ken", "ｻﾄｳ", "ｹﾝ"),
    ("高橋", "直美", "タカハシ", "ナオミ", "Takahashi", "Naomi", "ﾀｶﾊｼ", "ﾅｵﾐ"),
    ("渡辺", "大輔", "ワタナベ", "ダイスケ", "Watanabe", "Daisuke", "ﾜﾀﾅﾍﾞ", "ﾀﾞｲｽｹ"),
    ("伊藤", "美咲", "イトウ", "ミサキ", "Ito", "Misaki", "ｲﾄｳ", "ﾐｻｷ"),
    ("中村", "翔太", "ナカムラ", "ショウタ", "Nakamura", "Shota", "ﾅｶﾑﾗ", "ｼｮｳﾀ"),
    ("小林", "由美", "コバヤシ", "ユミ", "Kobayashi", "Yumi", "ｺﾊﾞﾔｼ", "ﾕﾐ"),
    ("加藤", "隆", "カトウ", "タカシ", "Kato", "Takashi", "ｶﾄｳ", "ﾀｶｼ"),
    ("吉田", "愛", "ヨシダ", "アイ", "Yoshida", "Ai", "ﾖｼﾀﾞ", "ｱｲ"),
    ("山口", "誠", "ヤマグチ", "マコト", "Yamaguchi", "Makoto", "ﾔﾏｸﾞﾁ", "ﾏｺﾄ"),
    ("松本", "恵", "マツモト", "メグミ", "Matsumoto", "Megumi", "ﾏﾂﾓﾄ", "ﾒｸﾞﾐ"),
    ("井上", "拓也", "イノウエ", "タクヤ", "Inoue", "Takuya", "ｲﾉｳｴ", "ﾀｸﾔ"),
    ("木村", "彩", "キムラ", "アヤ", "Kimura", "Aya", "ｷﾑﾗ", "ｱﾔ"),
]
CONVERTS = [("山田", "花子"), ("斎藤", "裕子"), ("清水", "亮"), ("森", "沙織"), ("池田", "光"), ("橋本", "真由美"),
            ("石川", "悠斗"), ("前田", "陽菜"), ("藤田", "蓮"), ("岡田", "結衣"), ("後藤", "大和"), ("長谷川", "葵")]
COMPANIES = ["株式会社さくら商事", "ひかり電機株式会社", "(株)みなと物流", "有限会社あおば設計"]


def _ts(day: int, minute: int = 0) -> str:
    return T0.format(day, 9 + minute // 60, minute % 60)


def build_org(n_five: int = 2, n_convert: int = 2, n_delete: int = 3, prospect: bool = True):
    """(store, plan, delete_rows): groups of 5 Contacts (2 chained merges each, children on the
    losers), Lead → Contact conversions (a Task and a CampaignMember on the lead, a newer title
    on the lead), test leads to delete and one Pardot test prospect."""
    store = OrgStore(api_daily_limit=1_000_000)
    accounts = [id18(f"0015F00000A{i:04d}") for i in range(len(COMPANIES))]
    store.load_records([{"Id": a, "Name": n, "BillingState": "東京都", "CreatedDate": _ts(1), "LastModifiedDate": _ts(1),
                         "SystemModstamp": _ts(1)} for a, n in zip(accounts, COMPANIES)])
    clusters, deletes = [], []
    cseq, lseq, tseq, mseq = [0], [0], [0], [0]

    def cid() -> str:
        cseq[0] += 1
        return id18(f"0035F00000C{cseq[0]:04d}")

    def lid() -> str:
        lseq[0] += 1
        return id18(f"00Q5F00000L{lseq[0]:04d}")

    def task(who: str, subject: str) -> None:
        tseq[0] += 1
        store.insert("Task", {"Id": id18(f"00T5F00000T{tseq[0]:04d}"), "WhoId": who, "Subject": subject,
                              "CreatedDate": _ts(2), "LastModifiedDate": _ts(2), "SystemModstamp": _ts(2)}, keep_id=True)

    def member(lead: str | None = None, contact: str | None = None) -> None:
        mseq[0] += 1
        store.insert("CampaignMember", {"Id": id18(f"00v5F00000M{mseq[0]:04d}"), "LeadId": lead, "ContactId": contact,
                                        "CampaignId": id18("7015F00000Exp01"), "Status": "Sent",
                                        "CreatedDate": _ts(2), "LastModifiedDate": _ts(2), "SystemModstamp": _ts(2)},
                     keep_id=True)

    for g in range(n_five):
        sei, mei, ksei, kmei, rsei, rmei, hsei, hmei = PEOPLE[g % len(PEOPLE)]
        acc = accounts[g % len(accounts)]
        dom = ["sakura", "hikari", "minato", "aoba"][g % 4]
        names = [(sei, mei), (ksei, kmei), (rsei, rmei), (f"{sei}　{mei}", None), (hsei, hmei)]
        ids = [cid() for _ in names]
        recs = []
        for k, (rid, (ln, fn)) in enumerate(zip(ids, names)):
            t = _ts(3 + k, g)
            recs.append({
                "Id": rid, "LastName": ln, "FirstName": fn, "AccountId": acc,
                "Email": f"{rmei.lower()}.{rsei.lower()}@{dom}.co.jp" if k in (0, 2) else (f"{rsei.lower()}{g}@gmail.com" if k == 1 else None),
                "MobilePhone": f"090-{1000 + g:04d}-{2000 + k:04d}" if k == 3 else None,
                "Phone": "03-1234-5678", "Title": ["主任", "係長", "課長", None, "課長代理"][k],
                "Department": "営業部" if k != 4 else "第二営業部",
                "LeadSource": "名刺" if k == 0 else ["Web", "展示会", "Web", "Sansan"][k - 1],
                "HasOptedOutOfEmail": "false", "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t,
            })
        store.load_records(recs)
        for k, rid in enumerate(ids[1:], 1):
            task(rid, f"{sei}様 フォロー電話 {k}")
        member(contact=ids[2])
        master = ids[0]
        fields = {
            "LastName": {"value": sei, "from_id": master, "rule": "native_script"},
            "FirstName": {"value": mei, "from_id": master, "rule": "native_script"},
            "Email": {"value": recs[2]["Email"], "from_id": ids[2], "rule": "group email: most_recent"},
            "MobilePhone": {"value": recs[3]["MobilePhone"], "from_id": ids[3], "rule": "most_recent"},
            "Title": {"value": "課長代理", "from_id": ids[4], "rule": "most_recent"},
            "Department": {"value": "第二営業部", "from_id": ids[4], "rule": "most_recent"},
            "LeadSource": {"value": "名刺", "from_id": master, "rule": "source_priority"},
            "Account.Name": {"value": COMPANIES[g % len(COMPANIES)], "from_id": master, "rule": "native_script"},
            "HasOptedOutOfEmail": {"value": "false", "from_id": master, "rule": "group email: most_recent"},
        }
        losers = ids[1:]
        clusters.append({
            "cluster_id": master, "object": "Contact", "status": "auto", "master_id": master, "loser_ids": losers,
            "fields": fields,
            "steps": [{"action": "merge", "master_id": master, "loser_ids": losers[:2]},
                      {"action": "merge", "master_id": master, "loser_ids": losers[2:]}],
            "as_of": {r["Id"]: r["SystemModstamp"] for r in recs}, "evidence": [],
        })
    for g in range(n_convert):
        sei, mei = CONVERTS[g % len(CONVERTS)]
        acc = accounts[(g + 1) % len(accounts)]
        contact, lead = cid(), lid()
        tc, tl = _ts(10, g), _ts(20, g)
        store.load_records([
            {"Id": contact, "LastName": sei, "FirstName": mei, "AccountId": acc, "Email": f"c{g}@{['sakura','hikari','minato','aoba'][(g + 1) % 4]}.co.jp",
             "Title": "課長", "MobilePhone": None, "LeadSource": "名刺", "HasOptedOutOfEmail": "false",
             "CreatedDate": tc, "LastModifiedDate": tc, "SystemModstamp": tc},
        ])
        store.load_records([
            {"Id": lead, "LastName": sei, "FirstName": mei, "Company": COMPANIES[(g + 1) % len(COMPANIES)],
             "Email": f"c{g}@{['sakura','hikari','minato','aoba'][(g + 1) % 4]}.co.jp", "Title": "部長",
             "MobilePhone": f"080-{3000 + g:04d}-5555", "LeadSource": "Web", "Status": "Open - Not Contacted",
             "Street": "丸の内1-1-1", "City": "千代田区", "State": "東京都", "PostalCode": "100-0005",
             "HasOptedOutOfEmail": "false", "CreatedDate": tl, "LastModifiedDate": tl, "SystemModstamp": tl},
        ])
        task(lead, "資料請求への返信")
        member(lead=lead)
        clusters.append({
            "cluster_id": contact, "object": "Contact", "status": "auto", "master_id": contact, "loser_ids": [lead],
            "fields": {
                "LastName": {"value": sei, "from_id": contact, "rule": "native_script"},
                "FirstName": {"value": mei, "from_id": contact, "rule": "native_script"},
                "Title": {"value": "部長", "from_id": lead, "rule": "most_recent"},
                "MobilePhone": {"value": f"080-{3000 + g:04d}-5555", "from_id": lead, "rule": "most_recent"},
                "LeadSource": {"value": "名刺", "from_id": contact, "rule": "source_priority"},
                "AccountId": {"value": acc, "from_id": contact, "rule": "keep_master_if_set"},
            },
            "steps": [{"action": "convert_lead", "lead_id": lead, "contact_id": contact, "account_id": acc}],
            "as_of": {contact: tc, lead: tl}, "evidence": [],
        })
    for k in range(n_delete):
        rid = lid()
        t = _ts(25, k)
        store.load_records([{"Id": rid, "LastName": "テスト", "FirstName": f"太郎{k}", "Company": "test", "Email": None,
                             "Status": "Open - Not Contacted", "LeadSource": "Web",
                             "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t}])
        deletes.append({"plan_id": "plan_applytest", "Id": rid, "object": "Lead", "reason": "test / dummy record", "as_of": t})
    if prospect:
        pid = store.insert_prospect({"email": "test@example.com", "firstName": "テスト", "lastName": "テスト",
                                     "updatedAt": "2026-10-28T00:00:00.000Z", "createdAt": "2026-10-28T00:00:00.000Z"})
        deletes.append({"plan_id": "plan_applytest", "Id": str(pid), "object": "Prospect", "reason": "test prospect",
                        "as_of": "2026-10-28T00:00:00.000Z"})
    store.advance(86400)
    plan = {"plan_id": "plan_applytest", "created_at": "2026-10-31T00:00:00Z", "clusters": clusters}
    return store, plan, deletes


def client(org: FakeOrg) -> Salesforce:
    return Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(), version="62.0")


def pardot_client(org: FakeOrg, sf: Salesforce):
    from nayose.pardot import PardotClient, PardotSettings

    return PardotClient(PardotSettings(base_url=org.pardot_base_url, business_unit_id=org.business_unit_id,
                                       ca_bundle=org.ca_path, max_retries=0), sf=sf, session=org.session())


def merges_per_step(org: FakeOrg) -> dict[tuple, int]:
    """(master, losers) → how many merge requests the server executed successfully."""
    out: dict[tuple, int] = {}
    for entry in soap_log(org):
        if entry["call"] == "merge":
            for item in entry["items"]:
                if item.get("success"):
                    key = (item["master_id"], tuple(item["loser_ids"]))
                    out[key] = out.get(key, 0) + 1
    return out


@pytest.fixture
def db(tmp_path):
    return tmp_path / "nayose.duckdb"


def test_apply_chained_merges_convert_deletes_and_pardot(db):
    store, plan, deletes = build_org(n_five=2, n_convert=2, n_delete=3)
    before = store.snapshot()
    with FakeOrg(store) as org:
        sf = client(org)
        report = apply_plan(plan, journal_db=db, sf=sf, pardot=pardot_client(org, sf), execute=True, deletes=deletes)
        assert report.exit_code == 0, report.to_dict()
        assert report.groups_applied == 4 and report.steps_done == 2 * 2 + 2 * 2  # merges + (convert + update_fields)
        assert report.deletes_done == 4 and report.prospects_deleted == 1
        assert report.api_used and report.api_limit == 1_000_000
        # every merge request executed exactly once
        assert set(merges_per_step(org).values()) == {1} and len(merges_per_step(org)) == 4
        objs = before["objects"]
        for c in plan["clusters"][:2]:
            master = store.get(c["master_id"])
            for f, fv in c["fields"].items():
                if "." not in f:
                    assert norm(master.get(f)) == norm(fv["value"]), (f, master.get(f), fv["value"])
            for loser in c["loser_ids"]:
                rec = store.get(loser, include_deleted=True)
                assert rec["IsDeleted"] is True and rec["MasterRecordId"] == c["master_id"]
            moved = [t for t in store.rows("Task") if objs["Task"][t["Id"]]["WhoId"] in c["loser_ids"]]
            assert moved and all(t["WhoId"] == c["master_id"] for t in moved)
            cm = [m for m in store.rows("CampaignMember") if objs["CampaignMember"][m["Id"]]["ContactId"] in c["loser_ids"]]
            assert cm and all(m["ContactId"] == c["master_id"] for m in cm)
        for c in plan["clusters"][2:]:
            st = c["steps"][0]
            lead = store.get(st["lead_id"], include_deleted=True)
            assert lead["IsConverted"] is True and lead["ConvertedContactId"] == st["contact_id"]
            assert lead["ConvertedAccountId"] == st["account_id"]
            contact = store.get(st["contact_id"])
            assert contact["Title"] == "部長"          # surviving value written after the conversion
            assert contact["MailingCity"] == "千代田区"   # empty field filled by convertLead
            assert contact["LeadSource"] == "名刺"        # not overwritten (overwriteLeadSource false)
            assert [t["WhoId"] for t in store.rows("Task") if objs["Task"][t["Id"]]["WhoId"] == st["lead_id"]] == [st["contact_id"]]
        for row in deletes:
            if row["object"] == "Prospect":
                assert store.prospects[int(row["Id"])]["isDeleted"] is True
            else:
                rec = store.get(row["Id"], include_deleted=True)
                assert rec["IsDeleted"] is True and rec["MasterRecordId"] is None
        # journal: intent before done for every step, snapshots with all fields and the losers' children
        entries = Journal(db).entries(plan["plan_id"])
        first = plan["clusters"][0]
        key = f"{first['cluster_id']}/1:merge"
        hist = [e["status"] for e in entries if e["step_key"] == key]
        assert hist == ["intent", "done"]
        intent = next(e for e in entries if e["step_key"] == key and e["status"] == "intent")
        snap = intent["snapshot"]
        assert set(snap["records"]) == {first["master_id"], *first["loser_ids"][:2]}
        assert snap["records"][first["master_id"]]["Title"] == "主任" and "SystemModstamp" in snap["records"][first["master_id"]]
        assert snap["children"][first["loser_ids"][0]][0][0] == "Task"
        assert intent["request"]["fields"]["Title"] == "課長代理" and "LastName" not in intent["request"]["fields"]
        assert "Account.Name" not in intent["request"]["fields"]
        # a second run repeats nothing
        calls = len(soap_log(org))
        again = apply_plan(plan, journal_db=db, sf=sf, pardot=pardot_client(org, sf), execute=True, deletes=deletes)
        assert again.steps_done == 0 and again.steps_already_done == 8 and again.deletes_already_done == 4
        assert len(soap_log(org)) == calls and again.exit_code == 0


def test_stale_group_is_skipped_untouched_and_others_applied(db):
    store, plan, deletes = build_org(n_five=2, n_convert=1, n_delete=2, prospect=False)
    stale = plan["clusters"][0]
    edited = stale["loser_ids"][3]
    store.update(edited, {"Title": "部長"})  # an operator edits a record after the plan was made
    gone_delete = deletes[1]["Id"]
    store.update(gone_delete, {"Email": "real.person@example.co.jp"})
    snapshot_stale = {i: store.get(i) for i in [stale["master_id"], *stale["loser_ids"]]}
    with FakeOrg(store) as org:
        sf = client(org)
        report = apply_plan(plan, journal_db=db, sf=sf, execute=True, deletes=deletes)
    assert report.exit_code == 1
    assert [(g["cluster_id"], g["Id"]) for g in report.groups_stale] == [(stale["cluster_id"], edited)]
    assert "changed after the plan" in report.groups_stale[0]["reason"]
    assert {i: store.get(i) for i in snapshot_stale} == snapshot_stale  # untouched
    assert report.groups_applied == 2 and report.deletes_done == 1
    assert [d["Id"] for d in report.deletes_stale] == [gone_delete]
    assert store.get(plan["clusters"][1]["loser_ids"][0], include_deleted=True)["IsDeleted"] is True
    statuses = {e["step_key"]: e["status"] for e in Journal(db).entries(plan["plan_id"])}
    assert statuses[f"{stale['cluster_id']}/1:merge"] == "stale"


def test_dry_run_changes_nothing_and_journals_dry_run(db):
    store, plan, deletes = build_org(n_five=1, n_convert=1, n_delete=1, prospect=False)
    before = store.snapshot()
    with FakeOrg(store) as org:
        report = apply_plan(plan, journal_db=db, sf=client(org), execute=False, deletes=deletes)
        assert not [e for e in soap_log(org)]
    assert store.snapshot() == before
    assert report.mode == "dry_run" and report.steps_dry_run == 2 + 2 + 1 and report.steps_done == 0
    entries = Journal(db).entries(plan["plan_id"])
    assert {e["status"] for e in entries} == {"dry_run"}
    merge = next(e for e in entries if e["step_key"].endswith("1:merge"))
    assert merge["request"]["fields"]["Title"] == "課長代理"
    offline = apply_plan(plan, journal_db=db, execute=False)  # no connection: the plan's requests only
    assert offline.steps_dry_run == 4


def test_plan_with_a_local_as_of_time_is_refused_before_anything_is_journaled(db):
    # A Salesforce report export (Japanese locale) writes LastModifiedDate as 2026/10/27 18:30 in the
    # user's time zone: read as UTC it is nine hours late, and a change made after the export but
    # inside those hours would not make the group stale. The plan is refused, naming the record.
    _, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    rid = plan["clusters"][0]["loser_ids"][0]
    plan["clusters"][0]["as_of"][rid] = "2026/10/27 18:30"
    with pytest.raises(ApplyError, match=f"record {rid}: as-of time '2026/10/27 18:30' has no time zone"):
        apply_plan(plan, journal_db=db, execute=False)
    plan["clusters"][0]["as_of"][rid] = "27.10.2026"
    with pytest.raises(ApplyError, match="not a date-time the applier can read"):
        apply_plan(plan, journal_db=db, execute=False)
    con = duckdb.connect(str(db))
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "journal" not in tables or con.execute("SELECT count(*) FROM journal").fetchall()[0][0] == 0
    con.close()
    # a Data Loader time (Z), an offset, or a plain date (midnight UTC: early, so only too careful) pass
    for ok in ("2026-10-27T09:30:00.000Z", "2026-10-27T18:30:00+09:00", "2026-10-27"):
        plan["clusters"][0]["as_of"][rid] = ok
        assert load_plan(plan)["plan_id"] == plan["plan_id"]


def test_plan_without_as_of_is_refused(db):
    _, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    plan["clusters"][0]["as_of"].pop(plan["clusters"][0]["loser_ids"][1])
    with pytest.raises(ApplyError, match="no as-of time"):
        apply_plan(plan, journal_db=db, execute=False)


def test_a_merge_naming_one_record_twice_is_refused_before_anything_runs(db):
    """One record as its 18- and its 15-character Id in one merge would merge it into itself."""
    _, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    step = next(st for st in plan["clusters"][0]["steps"] if st["action"] == "merge")
    step["loser_ids"][0] = step["master_id"][:15]
    with pytest.raises(ApplyError, match="names one record twice"):
        apply_plan(plan, journal_db=db, execute=False)
    assert Journal(db).entries(plan["plan_id"]) == []


def test_reset_after_merge_executed_is_confirmed_not_repeated(db):
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    c = plan["clusters"][0]
    with FakeOrg(store) as org:
        sf = client(org)
        # the first merge is executed, then the connection is reset before the answer
        org.faults.reset("POST", r"/services/Soap/", when="after", times=1)
        report = apply_plan(plan, journal_db=db, sf=sf, execute=True)
        assert report.exit_code == 0 and report.steps_confirmed == 1
        assert merges_per_step(org) == {(c["master_id"], tuple(c["loser_ids"][:2])): 1,
                                         (c["master_id"], tuple(c["loser_ids"][2:])): 1}
        hist = [(e["status"], (e["result"] or {}).get("confirmed_from_org"))
                for e in Journal(db).entries(plan["plan_id"]) if e["step_key"] == f"{c['cluster_id']}/1:merge"]
        assert hist == [("intent", None), ("unknown", None), ("done", True)]


def test_unknown_outcome_is_resolved_on_resume(db, tmp_path):
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    c = plan["clusters"][0]
    with FakeOrg(store) as org:
        sf = client(org)
        org.faults.reset("POST", r"/services/Soap/", when="after", times=1)   # merge done, answer lost

        def on_step(event):  # and from then on the org cannot be read
            if event["status"] == "unknown":
                org.faults.reset("GET", r"/query", when="before", times=None)

        from nayose import apply as apply_mod

        apply_mod.BACKOFF_SECONDS, saved = 0.01, apply_mod.BACKOFF_SECONDS
        try:
            first = apply_plan(plan, journal_db=db, sf=sf, execute=True, progress=on_step)
        finally:
            apply_mod.BACKOFF_SECONDS = saved
        assert first.exit_code == 1 and [g["step_key"] for g in first.groups_unknown] == [f"{c['cluster_id']}/1:merge"]
        org.faults.clear()
        second = apply_plan(plan, journal_db=db, sf=sf, execute=True)
        assert second.exit_code == 0 and second.steps_confirmed == 1 and second.steps_done == 1
        assert set(merges_per_step(org).values()) == {1}
        assert store.get(c["master_id"])["Title"] == "課長代理"


def test_rate_limit_before_merge_is_retried_and_budget_stops_cleanly(db):
    store, plan, deletes = build_org(n_five=2, n_convert=1, n_delete=2, prospect=False)
    with FakeOrg(store) as org:
        sf = client(org)
        from nayose import apply as apply_mod

        apply_mod.BACKOFF_SECONDS, saved = 0.01, apply_mod.BACKOFF_SECONDS
        try:
            org.faults.status(429, "POST", r"/services/Soap/", when="before", times=1)
            org.faults.status(503, "GET", r"/query", when="before", times=2)
            used0 = store.api_used
            stopped = apply_plan(plan, journal_db=db, sf=sf, execute=True, deletes=deletes, api_budget=used0 + 25)
        finally:
            apply_mod.BACKOFF_SECONDS = saved
        assert stopped.stopped and "API budget" in stopped.stopped and stopped.exit_code == 1
        assert stopped.groups_applied >= 1 and stopped.groups_not_attempted >= 1
        assert store.api_used <= used0 + 25
        resumed = apply_plan(plan, journal_db=db, sf=sf, execute=True, deletes=deletes)
        assert resumed.exit_code == 0 and resumed.stopped is None
        assert resumed.steps_already_done + resumed.steps_done + resumed.steps_confirmed == resumed.steps_planned
        assert set(merges_per_step(org).values()) == {1} and len(merges_per_step(org)) == 4


def test_undo_restores_masters_undeletes_losers_and_names_what_it_cannot(db):
    store, plan, deletes = build_org(n_five=2, n_convert=1, n_delete=2, prospect=True)
    before = store.snapshot()["objects"]
    with FakeOrg(store) as org:
        sf = client(org)
        pardot = pardot_client(org, sf)
        assert apply_plan(plan, journal_db=db, sf=sf, pardot=pardot, execute=True, deletes=deletes).exit_code == 0
        # the losers of the first group leave the Recycle Bin for good
        first = plan["clusters"][0]
        purge_before = max(store.deleted_at[i] for i in first["loser_ids"])
        from nayose.fakeorg.store import parse_sf_time, sf_time
        from datetime import timedelta

        purged = store.purge_recycle_bin(before=sf_time(parse_sf_time(purge_before) + timedelta(milliseconds=1)))
        assert set(purged) == set(first["loser_ids"])
        dry = undo_plan(plan, journal_db=db, sf=sf, pardot=pardot, execute=False)
        assert dry.would_restore and not dry.masters_restored
        report = undo_plan(plan, journal_db=db, sf=sf, pardot=pardot, execute=True)
    merged = plan["clusters"][1]
    # masters back to their snapshot (fields the plan changed), losers alive again
    for c in plan["clusters"]:
        m = c["master_id"]
        now = store.get(m)
        for f, v in before["Contact"][m].items():
            if f not in ("LastModifiedDate", "SystemModstamp"):
                assert norm(now.get(f)) == norm(v), (m, f, now.get(f), v)
    for loser in merged["loser_ids"]:
        rec = store.get(loser)
        assert rec["IsDeleted"] is False and rec["MasterRecordId"] is None
    for row in deletes:
        if row["object"] == "Prospect":
            assert store.prospects[int(row["Id"])]["isDeleted"] is False
        else:
            assert store.get(row["Id"])["IsDeleted"] is False
    kinds = {}
    for x in report.not_restored:
        kinds.setdefault(x["kind"], set()).add(x["Id"])
    assert kinds["purged"] == set(first["loser_ids"])
    moved = {t["Id"] for t in before["Task"].values() if t["WhoId"] in first["loser_ids"] + merged["loser_ids"]}
    moved |= {m["Id"] for m in before["CampaignMember"].values() if m["ContactId"] in first["loser_ids"] + merged["loser_ids"]}
    lead = plan["clusters"][2]["steps"][0]["lead_id"]
    lead_kids = {t["Id"] for t in before["Task"].values() if t["WhoId"] == lead}
    lead_kids |= {m["Id"] for m in before["CampaignMember"].values() if m["LeadId"] == lead}
    assert kinds["reparented_child"] == moved | lead_kids
    assert kinds["converted_lead"] == {lead}
    assert len(report.masters_restored) == 3 and set(report.records_undeleted) >= set(merged["loser_ids"])
    # undo is journaled and not repeated
    with FakeOrg(store) as org:
        sf = client(org)
        again = undo_plan(plan, journal_db=db, sf=sf, pardot=pardot_client(org, sf), execute=True)
        assert not again.masters_restored and not again.records_undeleted and again.already_undone >= 3


def test_undo_reports_a_master_edited_since(db):
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    c = plan["clusters"][0]
    with FakeOrg(store) as org:
        sf = client(org)
        apply_plan(plan, journal_db=db, sf=sf, execute=True)
        store.update(c["master_id"], {"Title": "本部長"})
        report = undo_plan(plan, journal_db=db, sf=sf, execute=True)
    assert store.get(c["master_id"])["Title"] == "本部長"
    edited = [x for x in report.not_restored if x["kind"] == "edited_since"]
    assert [x["Id"] for x in edited] == [c["master_id"]] and "Title" in edited[0]["fields"]
    assert all(store.get(i)["IsDeleted"] is False for i in c["loser_ids"])


def test_no_secret_in_journal_report_logs_or_errors(db, tmp_path, caplog):
    from nayose.salesforce import connect, make_settings

    store, plan, deletes = build_org(n_five=1, n_convert=1, n_delete=1, prospect=True)
    texts: list[str] = []
    with FakeOrg(store) as org:
        settings = make_settings(auth="password", login_url=org.instance_url, username=org.username,
                                 password=org.password, security_token=org.security_token, ca_bundle=org.ca_path,
                                 max_retries=0)
        sf = connect(settings)
        secrets = [org.access_token, org.password, org.security_token, org.password + org.security_token]
        caplog.set_level(logging.DEBUG)
        org.faults.reset("POST", r"/services/Soap/", when="after", times=1)
        org.faults.status(500, "DELETE", r"/sobjects/", when="after", times=1)
        pardot = pardot_client(org, sf)
        report = apply_plan(plan, journal_db=db, sf=sf, pardot=pardot, execute=True, deletes=deletes)
        texts.append(json.dumps(report.to_dict(), ensure_ascii=False))
        # a failing call: the session expires, every error text must stay clean
        org.rotate_access_token()
        try:
            apply_plan(plan, journal_db=db, sf=sf, execute=True, deletes=deletes)
        except Exception as exc:  # noqa: BLE001
            texts.append(f"{type(exc).__name__}: {exc!r} {exc}")
        secrets.append(org.access_token)
        try:
            undo_plan(plan, journal_db=db, sf=sf, execute=True)
        except Exception as exc:  # noqa: BLE001
            texts.append(f"{type(exc).__name__}: {exc!r} {exc}")
    texts.append(caplog.text)
    con = store_connect(db, read_only=True)
    try:
        for table in ("apply_journal", "apply_runs"):
            texts.extend(str(r) for r in con.execute(f"SELECT * FROM {table}").fetchall())
    finally:
        con.close()
    blob = "\n".join(texts)
    for s in secrets:
        assert s not in blob, "a secret leaked"
    assert report.steps_done >= 2 and len(blob) > 1000


def test_cli_apply_dry_run_and_execute(db, tmp_path):
    store, plan, deletes = build_org(n_five=1, n_convert=1, n_delete=1, prospect=False)
    plan_path = tmp_path / "merge_plan.json"
    plan_path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    del_path = tmp_path / "delete_plan.csv"
    del_path.write_text("plan_id,Id,object,reason,as_of\n" + "\n".join(
        f"{d['plan_id']},{d['Id']},{d['object']},{d['reason']},{d['as_of']}" for d in deletes) + "\n", encoding="utf-8")
    with FakeOrg(store) as org:
        env = {"PATH": "/usr/bin:/bin", "NAYOSE_SF_AUTH": "session", "NAYOSE_SF_INSTANCE_URL": org.instance_url,
               "NAYOSE_SF_SESSION_ID": org.access_token, "NAYOSE_SF_CA_BUNDLE": org.ca_path, "NAYOSE_LOCK_TIMEOUT": "30"}
        base = [sys.executable, "-m", "nayose.cli"]
        dry = subprocess.run(base + ["apply", str(plan_path), "--deletes", str(del_path), "--db", str(db)],
                             env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert dry.returncode == 0, dry.stderr
        assert "dry run" in dry.stdout and not soap_log(org)
        # --clusters none: the delete candidates alone (what the Dagster review points to)
        only = subprocess.run(base + ["apply", str(plan_path), "--clusters", "none", "--deletes", str(del_path), "--db",
                                      str(db), "--report", str(tmp_path / "none.json")],
                              env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert only.returncode == 0, only.stderr
        none = json.loads((tmp_path / "none.json").read_text(encoding="utf-8"))
        assert (none["groups_planned"], none["steps_planned"], none["deletes_planned"]) == (0, 0, 1), none
        run = subprocess.run(base + ["apply", str(plan_path), "--deletes", str(del_path), "--db", str(db), "--execute",
                                     "--report", str(tmp_path / "r.json")],
                             env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        rep = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert rep["steps_done"] == 4 and rep["deletes_done"] == 1
        bad = subprocess.run(base + ["apply", str(tmp_path / "missing.json"), "--db", str(db)],
                             env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert bad.returncode == 2 and "plan not found" in bad.stderr
        undo = subprocess.run(base + ["undo", str(plan_path), "--db", str(db), "--execute"],
                              env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert undo.returncode == 1 and "converted_lead" in undo.stdout  # a conversion cannot be undone
        for out in (dry, run, bad, undo):
            assert org.access_token not in out.stdout + out.stderr


def test_a_bounce_stays_with_its_address_and_dates_are_written_as_the_api_takes_them(tmp_path, db):
    """The master's old address bounced; the newer record brings the person's working address. The
    merge writes the new address and clears the old bounce (SOAP fieldsToNull) -- it used to leave
    EmailBouncedReason on the master, marking the working address as bounced. A second group whose
    newer record bounced keeps the master's working address. Birthdate from a spreadsheet-saved
    export (1984/7/23) reaches the org as 1984-07-23."""
    from tests.nayose.fakeorg_helpers import plan_export

    t = "2026-10-{:02d}T09:00:00.000+0000".format
    rows = [
        {"Id": id18("00Q5F00000B0001"), "LastName": "村上", "FirstName": "春樹", "Company": "株式会社ノルウェイ",
         "Email": "h.murakami@old-norway.co.jp", "EmailBouncedReason": "550 5.1.1 User unknown",
         "EmailBouncedDate": "2026-05-01T10:00:00.000+0000", "MobilePhone": "090-3434-5656",
         "CreatedDate": t(1), "LastModifiedDate": t(1), "SystemModstamp": t(1)},
        {"Id": id18("00Q5F00000B0002"), "LastName": "村上", "FirstName": "春樹", "Company": "株式会社ノルウェイ",
         "Email": "haruki.murakami@norway.co.jp", "MobilePhone": "090-3434-5656",
         "CreatedDate": t(2), "LastModifiedDate": t(2), "SystemModstamp": t(2)},
        {"Id": id18("0035F00000B0003"), "LastName": "吉本", "FirstName": "ばなな", "AccountId": id18("0015F00000B0001"),
         "Email": "banana@kitchen.co.jp", "MobilePhone": "080-2323-4545",
         "CreatedDate": t(1), "LastModifiedDate": t(1), "SystemModstamp": t(1)},
        {"Id": id18("0035F00000B0004"), "LastName": "吉本", "FirstName": "ばなな", "AccountId": id18("0015F00000B0001"),
         "Email": "b.yoshimoto@kitchen.co.jp", "EmailBouncedReason": "550 5.1.1 User unknown",
         "EmailBouncedDate": "2026-06-01T10:00:00.000+0000", "MobilePhone": "080-2323-4545", "Birthdate": "1964-07-24",
         "CreatedDate": t(2), "LastModifiedDate": t(2), "SystemModstamp": t(2)},
    ]
    store = OrgStore(api_daily_limit=1_000_000)
    store.load_records([{"Id": id18("0015F00000B0001"), "Name": "株式会社キッチン", "CreatedDate": t(1),
                         "LastModifiedDate": t(1), "SystemModstamp": t(1)}])
    store.load_records(rows)
    export = [dict(r) for r in rows]
    export[3]["Birthdate"] = "1964/7/24"  # (the export went through a spreadsheet)
    plan = plan_export(tmp_path, export)
    assert len(plan["clusters"]) == 2
    with FakeOrg(store) as org:
        report = apply_plan(plan, journal_db=db, sf=client(org), execute=True)
        assert report.exit_code == 0 and report.groups_applied == 2, report.to_dict()
    murakami = store.get(id18("00Q5F00000B0001"))
    assert murakami["Email"] == "haruki.murakami@norway.co.jp"
    assert murakami["EmailBouncedReason"] is None and murakami["EmailBouncedDate"] is None
    yoshimoto = store.get(id18("0035F00000B0003"))
    assert yoshimoto["Email"] == "banana@kitchen.co.jp" and yoshimoto.get("EmailBouncedReason") is None
    assert yoshimoto["Birthdate"] == "1964-07-24"


def test_a_lead_is_not_converted_into_a_contact_without_an_account(tmp_path, db):
    """convertLead names a Contact with its Account; a Contact without one cannot take a Lead. The
    plan sends the group to review; approved anyway, the step fails with that reason and no
    convertLead request is sent."""
    from tests.nayose.fakeorg_helpers import plan_export

    t = "2026-10-{:02d}T09:00:00.000+0000".format
    contact, lead = id18("0035F00000N0001"), id18("00Q5F00000N0001")
    rows = [{"Id": contact, "LastName": "石井", "FirstName": "智子", "AccountId": None, "Email": "tomoko.ishii@gmail.com",
             "MobilePhone": "090-3131-4141", "CreatedDate": t(1), "LastModifiedDate": t(1), "SystemModstamp": t(1)},
            {"Id": lead, "LastName": "石井", "FirstName": "智子", "Company": "個人", "Email": "tomoko.ishii@gmail.com",
             "MobilePhone": "090-3131-4141", "CreatedDate": t(2), "LastModifiedDate": t(2), "SystemModstamp": t(2)}]
    store = OrgStore(api_daily_limit=1_000_000)
    store.load_records(rows)
    plan = plan_export(tmp_path, rows)
    [group] = plan["clusters"]
    assert group["status"] == "review" and "has no account" in group["status_reason"]
    with FakeOrg(store) as org:
        report = apply_plan(plan, journal_db=db, sf=client(org), execute=True)
        assert report.steps_failed == 1 and report.exit_code == 1
        failed = Journal(db).entries(plan["plan_id"])
        assert any(e["status"] == "failed" and "has no account" in json.dumps(e.get("result"), ensure_ascii=False) for e in failed)
        assert not [e for e in soap_log(org) if e["call"] == "convertLead"]
    assert store.get(lead)["IsConverted"] in (False, None)


# ---- a group applied in parts, edits in between, two applies at once (found by an audit) ----------


def _fail_second_merge(org):
    """A progress callback that makes the group's second merge fail (a record lock): not executed."""
    def prog(ev):
        if ev["status"] == "done" and ev["step_key"].endswith("1:merge"):
            org.faults.add("partial", "SOAP", "merge", indices=(0,), error_code="UNABLE_TO_LOCK_ROW")
    return prog


def test_resuming_a_group_skips_it_when_its_master_was_edited_after_this_plans_own_write(tmp_path):
    """Merge 1 done, merge 2 failed; a salesperson then edits the master's Title and Email. Running
    the plan again used to write the plan's values over the edit (the records a done step changed
    were only checked to be alive): the group is stale now, and the edit stays."""
    db = tmp_path / "j.duckdb"
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    m = plan["clusters"][0]["master_id"]
    with FakeOrg(store) as org:
        sf = client(org)
        rep = apply_plan(plan, journal_db=db, sf=sf, execute=True, progress=_fail_second_merge(org))
        assert rep.groups_failed and rep.steps_done == 1
        store.advance(60)
        store.update(m, {"Title": "本部長", "Email": "new.address@example.co.jp"})
        rep = apply_plan(plan, journal_db=db, sf=sf, execute=True)
        assert rep.groups_applied == 0 and [s["Id"] for s in rep.groups_stale] == [m]
        assert "changed after this plan's own write" in rep.groups_stale[0]["reason"]
    assert (store.get(m)["Title"], store.get(m)["Email"]) == ("本部長", "new.address@example.co.jp")
    # nobody edited it: the group resumes (the failure was transient)
    store2, plan2, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    with FakeOrg(store2) as org:
        sf = client(org)
        apply_plan(plan2, journal_db=tmp_path / "j2.duckdb", sf=sf, execute=True, progress=_fail_second_merge(org))
        rep = apply_plan(plan2, journal_db=tmp_path / "j2.duckdb", sf=sf, execute=True)
        assert rep.groups_applied == 1 and not rep.groups_stale


def test_undo_of_an_unfinished_group_restores_only_what_the_apply_wrote(tmp_path):
    """No verify entry (the group's second merge failed): undo restored every field differing from
    the snapshot, a later edit of the master's Phone (a field the plan never wrote) included. Now
    only the fields the apply wrote come back; the Phone edit stays."""
    db = tmp_path / "j.duckdb"
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    m = plan["clusters"][0]["master_id"]
    before = dict(store.get(m))
    with FakeOrg(store) as org:
        sf = client(org)
        apply_plan(plan, journal_db=db, sf=sf, execute=True, progress=_fail_second_merge(org))
        written = {k for e in Journal(db).entries(plan["plan_id"]) if e["status"] == "done" and e["action"] == "merge"
                   for k in (e["request"] or {}).get("fields", {})}
        assert written and "Phone" not in written
        store.advance(60)
        store.update(m, {"Phone": "03-9999-0000"})
        u = undo_plan(plan, journal_db=db, sf=sf, execute=True)
    assert store.get(m)["Phone"] == "03-9999-0000"
    (restored,) = u.masters_restored
    assert set(restored["fields"]) <= written and "Phone" not in restored["fields"]
    assert all(norm(store.get(m)[f]) == norm(before[f]) for f in restored["fields"])


def test_a_verify_read_on_a_later_run_is_not_taken_for_the_applys_result(tmp_path):
    """Killed between the merge's done entry and the verify read; the master is edited; the resume
    writes the verify entry (marked after_resume) and the undo keeps the edit."""
    db = tmp_path / "j.duckdb"
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    c = plan["clusters"][0]
    m = c["master_id"]
    c["steps"] = [{"action": "merge", "master_id": m, "loser_ids": c["loser_ids"][:2]}]
    c["loser_ids"] = c["loser_ids"][:2]

    class Killed(BaseException):
        pass

    def kill(ev):
        if ev["status"] == "done" and ev["step_key"].endswith(":merge"):
            raise Killed()

    with FakeOrg(store) as org:
        sf = client(org)
        with pytest.raises(Killed):
            apply_plan(plan, journal_db=db, sf=sf, execute=True, progress=kill)
        store.advance(60)
        store.update(m, {"Phone": "03-9999-0000"})
        assert apply_plan(plan, journal_db=db, sf=sf, execute=True).groups_applied == 1
        (v,) = [e for e in Journal(db).entries(plan["plan_id"]) if e["action"] == "verify"]
        assert v["result"]["after_resume"] is True
        u = undo_plan(plan, journal_db=db, sf=sf, execute=True)
    assert store.get(m)["Phone"] == "03-9999-0000"
    assert u.masters_restored and "Phone" not in u.masters_restored[0]["fields"]


def test_one_executing_apply_of_a_plan_at_a_time(tmp_path):
    """A second apply (or undo) of the plan while one runs stops at once with a clear error: two
    interleaved runs made the journal say failed for a merge that was done, and undo skipped it."""
    from nayose.apply import _plan_run
    from nayose.lock import RunBusyError

    db = tmp_path / "j.duckdb"
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    with FakeOrg(store) as org:
        sf = client(org)
        with _plan_run(db, plan["plan_id"], True):
            with pytest.raises(RunBusyError, match=f"plan {plan['plan_id']}.*already running"):
                apply_plan(plan, journal_db=db, sf=sf, execute=True)
            with pytest.raises(RunBusyError):
                undo_plan(plan, journal_db=db, sf=sf, execute=True)
            assert apply_plan(plan, journal_db=db, sf=sf, execute=False).mode == "dry_run"  # (a dry run may)
        assert store.get(plan["clusters"][0]["loser_ids"][0])["IsDeleted"] in (False, "false")
        assert apply_plan(plan, journal_db=db, sf=sf, execute=True).groups_applied == 1


def test_a_test_named_account_holding_contacts_is_not_deleted(tmp_path):
    """Deleting an Account deletes its Contacts and Opportunities with it: an Account the test /
    dummy rule names (テスト株式会社) that holds a Contact is skipped, said why; an empty one goes."""
    store, plan, _ = build_org(n_five=0, n_convert=0, n_delete=0, prospect=False)
    t = "2026-10-01T00:00:00.000Z"
    held, empty = id18("0015F00000T0001"), id18("0015F00000T0002")
    store.load_records([{"Id": a, "Name": "テスト株式会社", "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t}
                        for a in (held, empty)])
    contact = id18("0035F00000T0001")
    store.load_records([{"Id": contact, "LastName": "本田", "AccountId": held, "CreatedDate": t, "LastModifiedDate": t,
                         "SystemModstamp": t}])
    rows = [{"plan_id": plan["plan_id"], "Id": a, "object": "Account", "reason": "test / dummy name or company", "as_of": t}
            for a in (held, empty)]
    with FakeOrg(store) as org:
        rep = apply_plan(plan, journal_db=tmp_path / "j.duckdb", sf=client(org), execute=True, deletes=rows)
    assert [d["Id"] for d in rep.deletes_stale] == [held] and "1 Contact" in rep.deletes_stale[0]["reason"]
    assert rep.deletes_done == 1
    assert store.get(held)["IsDeleted"] in (False, "false") and store.get(contact)["IsDeleted"] in (False, "false")
    assert store.get(empty, include_deleted=True)["IsDeleted"] in (True, "true")


def test_an_undo_killed_after_restoring_the_master_is_confirmed_on_the_next_run(tmp_path, monkeypatch):
    """Killed right after the master's restore reached the org (before its journal entry): the next
    undo sees the master holding what was sent and records it done -- it had reported the master as
    edited since the apply (its own restore's LastModifiedDate) and journaled it failed."""
    import nayose.apply as applier

    db = tmp_path / "j.duckdb"
    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    m = plan["clusters"][0]["master_id"]
    before = dict(store.get(m))

    class Killed(BaseException):
        pass

    real = applier._Org.rest_update

    def cut_off(self, sobject, record_id, values):
        real(self, sobject, record_id, values)
        raise Killed()

    with FakeOrg(store) as org:
        sf = client(org)
        assert apply_plan(plan, journal_db=db, sf=sf, execute=True).groups_applied == 1
        monkeypatch.setattr(applier._Org, "rest_update", cut_off)
        with pytest.raises(Killed):
            undo_plan(plan, journal_db=db, sf=sf, execute=True)
        monkeypatch.setattr(applier._Org, "rest_update", real)
        u = undo_plan(plan, journal_db=db, sf=sf, execute=True)
    assert not [x for x in u.not_restored if x["kind"] == "edited_since"]
    (restored,) = u.masters_restored
    assert all(norm(store.get(m)[f]) == norm(before[f]) for f in restored["fields"])
    last = [e for e in Journal(db).entries(plan["plan_id"]) if e["step_key"].endswith("/master")][-1]
    assert (last["status"], last["result"]) == ("done", {"confirmed": True})


def test_a_checkbox_exported_as_1_or_hai_is_written_true():
    """An opt-out exported as 1 / はい / yes reaches the plan as written; the applier typed only
    'true' as true, so such an opt-out was written back as false."""
    from nayose.apply import _typed

    box = {"type": "boolean"}
    assert [_typed(box, v) for v in ("true", "TRUE", "1", "はい", "yes", " 1 ", True)] == [True] * 7
    assert [_typed(box, v) for v in ("false", "0", "いいえ", "no", False)] == [False] * 5
