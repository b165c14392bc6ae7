"""The Pardot (Account Engagement API v5) prospect extract against the fake org, on the points an
audit found: the 100,000-record cap of one nextPageToken sequence (Pardot-Warning 203; the fake's cap
is set small here), whole-second timestamps and the cached API (the incremental overlap), a prospect
deleted while the extract runs, and a 200 answer that is not JSON."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from nayose.fakeorg.pardot import TOKEN_SEQUENCE_CAP
from nayose.fakeorg.server import FakeOrg, Response
from nayose.fakeorg.store import OrgStore
from nayose.pardot import OVERLAP, PardotClient, PardotError, PardotSettings, extract_pardot

FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
ROMAJI = ["sato", "suzuki", "takahashi", "tanaka", "ito", "watanabe", "yamamoto", "nakamura", "kobayashi",
          "kato"]
COMPANIES = ["株式会社サンプル商事", "有限会社テスト工業", "合同会社ミライ", "株式会社ナヨセ物産"]
BASE = datetime(2026, 10, 1, 9, 0, 0, tzinfo=timezone.utc)


def stamp(ts: datetime) -> str:
    """A v5 timestamp: whole seconds with an offset."""
    return ts.astimezone(timezone.utc).isoformat(timespec="seconds")


def prospect(i: int, updated: datetime) -> dict:
    return {"id": 1001 + i, "email": f"{ROMAJI[i % 10]}.{i:03d}@example.co.jp", "lastName": FAMILY[i % 10],
            "firstName": f"{i}郎", "company": COMPANIES[i % 4], "createdAt": stamp(updated), "updatedAt": stamp(updated)}


def client_for(org: FakeOrg) -> tuple[PardotClient, list]:
    """A client with the fake's token; `seen` gets every prospect query answer (URL, headers)."""
    client = PardotClient(PardotSettings(base_url=org.pardot_base_url, business_unit_id=org.business_unit_id,
                                         ca_bundle=org.ca_path, access_token=org.access_token, backoff_factor=0.01,
                                         max_retries=1))
    seen: list = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    return client, seen


def queries(seen: list) -> list[dict[str, str]]:
    """The parameters of each prospect query sent (token follow-ups are {'nextPageToken': ...})."""
    out = []
    for r in seen:
        parts = urlsplit(r.request.url)
        if parts.path.rstrip("/").endswith("/objects/prospects"):
            out.append({k: v[0] for k, v in parse_qs(parts.query).items()})
    return out


def ids_in(con) -> set[int]:
    return {int(r[0]) for r in con.execute("SELECT id FROM pardot_prospects").fetchall()}


def test_extract_goes_past_the_token_sequence_cap_full_and_incremental():
    """100 prospects, v5's cap at 25 per token sequence, pages of 10: the full pull and the incremental
    one (updated and deleted prospects: both queries capped) continue with idGreaterThan and keep the
    filters; nothing is lost and the watermark hides nothing."""
    store = OrgStore()
    for i in range(100):  # updated an hour apart over four days of October
        store.insert_prospect(prospect(i, BASE + timedelta(hours=i)))
    with FakeOrg(store) as org:
        assert org.pardot.token_sequence_cap == TOKEN_SEQUENCE_CAP == 100_000
        org.pardot.token_sequence_cap = 25
        client, seen = client_for(org)
        con = duckdb.connect()

        full = extract_pardot(client, con, page_size=10)
        assert (full.pulled, full.rows) == (100, 100) and ids_in(con) == set(store.prospects)
        warned = [r for r in seen if r.headers.get("Pardot-Warning")]
        assert len(warned) == 3 and all(r.json()["nextPageToken"] is None for r in warned)
        assert warned[0].headers["Pardot-Warning"].startswith("203;Record count for nextPageToken sequence has been exceeded")
        restarts = [q for q in queries(seen) if "idGreaterThan" in q]
        assert [q["idGreaterThan"] for q in restarts] == ["1030", "1060", "1090"]
        assert all(q["orderBy"] == "id" and q["deleted"] == "false" and q["limit"] == "10" for q in restarts)
        assert full.watermark == stamp(BASE + timedelta(hours=99))

        # 40 prospects edited (the clock is now in November), 35 others sent to the recycle bin,
        # among them the one that holds the watermark.
        seen.clear()
        with store.lock:
            for i in range(40):
                p = store.prospects[1001 + i]
                p["company"] = p["company"].replace("株式会社", "(株)")
                p["updatedAt"] = store.now()
        for i in range(65, 100):
            client.delete_prospect(1001 + i)
        seen.clear()
        inc = extract_pardot(client, con, page_size=10)
        assert (inc.incremental, inc.pulled, inc.new, inc.changed, inc.deleted, inc.rows) == (True, 40, 0, 40, 35, 65)
        assert ids_in(con) == {1001 + i for i in range(65)}
        assert con.execute("SELECT count(*) FROM pardot_prospects WHERE company LIKE '(株)%'").fetchall()[0][0] == 20
        since = stamp(BASE + timedelta(hours=99) - OVERLAP)
        qs = queries(seen)
        live = [q for q in qs if q.get("deleted") == "false"]
        binned = [q for q in qs if q.get("deleted") == "true"]
        assert [q.get("idGreaterThan") for q in live] == [None, "1030"]
        assert [q.get("idGreaterThan") for q in binned] == [None, "1095"]
        assert all(q["updatedAtAfterOrEqualTo"] == since and "updatedAtAfter" not in q for q in live + binned)


def test_a_full_sequence_without_the_warning_header_is_continued_too(monkeypatch):
    """Should the warning header be lost or reworded, a token sequence that ends after exactly the
    cap's count of records is still followed by an idGreaterThan query (one more call at worst)."""
    import nayose.pardot as pardot

    store = OrgStore()
    for i in range(45):
        store.insert_prospect(prospect(i, BASE + timedelta(minutes=i)))
    with FakeOrg(store) as org:
        org.pardot.token_sequence_cap = 20
        monkeypatch.setattr(pardot, "TOKEN_SEQUENCE_CAP", 20)
        real = org.pardot.query_page
        monkeypatch.setattr(org.pardot, "query_page", lambda req: (real(req)[0], {}))  # no Pardot-Warning
        client, seen = client_for(org)
        con = duckdb.connect()
        res = extract_pardot(client, con, page_size=10)
        assert (res.pulled, res.rows) == (45, 45) and ids_in(con) == set(store.prospects)
        assert not any(r.headers.get("Pardot-Warning") for r in seen)
        assert [q.get("idGreaterThan") for q in queries(seen) if "nextPageToken" not in q] == [None, "1020", "1040"]


def test_incremental_overlap_catches_the_same_second_and_the_late_cache():
    """v5 stamps whole seconds and may answer from a cache up to ~60 s behind: a prospect updated
    later in the watermark's second, and one that reached the cache 90 s late, are pulled next time."""
    store = OrgStore()
    store.insert_prospect({"id": 1001, "email": "taro.yamada@sample.co.jp", "lastName": "山田", "firstName": "太郎",
                           "updatedAt": "2026-11-01T10:00:00+00:00"})
    with FakeOrg(store) as org:
        client, seen = client_for(org)
        con = duckdb.connect()
        first = extract_pardot(client, con)
        assert first.watermark == "2026-11-01T10:00:00+00:00"
        # After run 1's query: 1002 is saved 0.4 s into the same second; 1003 was updated at 09:58:30
        # but the cached query API only shows it now.
        store.insert_prospect({"id": 1002, "email": "hanako.sato@test-kogyo.jp", "lastName": "佐藤",
                               "updatedAt": "2026-11-01T10:00:00+00:00"})
        store.insert_prospect({"id": 1003, "email": "ken.takahashi@mirai.example", "lastName": "高橋",
                               "updatedAt": "2026-11-01T09:58:30+00:00"})
        seen.clear()
        second = extract_pardot(client, con)
        assert (second.pulled, second.new, second.changed, second.rows) == (3, 2, 0, 3)  # 1001 again, unchanged
        assert ids_in(con) == {1001, 1002, 1003} and second.watermark == "2026-11-01T10:00:00+00:00"
        assert {q["updatedAtAfterOrEqualTo"] for q in queries(seen)} == {"2026-11-01T09:55:00+00:00"}
        # An hour later 1003 goes to the recycle bin; the fake stamps it with its millisecond clock and
        # answers whole seconds, as v5 does.
        store.advance(11 * 3600)
        client.delete_prospect(1003)
        assert re.search(r"\.\d{3}", store.prospects[1003]["updatedAt"])
        seen.clear()
        third = extract_pardot(client, con)
        assert (third.pulled, third.deleted, third.rows) == (2, 1, 2) and ids_in(con) == {1001, 1002}
        values = [p for r in seen for p in r.json()["values"]]
        assert {p["id"] for p in values} == {1001, 1002, 1003}
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", p["updatedAt"]) for p in values)
        deleted_at = datetime.fromisoformat(store.prospects[1003]["updatedAt"].replace("+0000", "+00:00"))
        assert third.watermark == stamp(deleted_at.replace(microsecond=0))


def test_a_prospect_deleted_during_the_extract_stays_deleted(monkeypatch):
    """Updated since the watermark, read live, then sent to the recycle bin before the deleted=true
    query: the deletions are applied after the upsert, so it does not come back as live."""
    store = OrgStore()
    store.insert_prospect({"id": 1001, "email": "taro.yamada@sample.co.jp", "lastName": "山田"})
    with FakeOrg(store) as org:
        client, _ = client_for(org)
        con = duckdb.connect()
        extract_pardot(client, con)
        store.advance(600)
        store.insert_prospect({"id": 1002, "email": "ichiro.suzuki@sample.co.jp", "lastName": "鈴木",
                               "company": "株式会社サンプル商事"})
        real = org.pardot.query_page

        def deleted_meanwhile(req):
            if req.single().get("deleted") == "true" and not store.prospects[1002]["isDeleted"]:
                store.delete_prospect(1002)  # a sales rep deletes it between the two queries
            return real(req)

        monkeypatch.setattr(org.pardot, "query_page", deleted_meanwhile)
        second = extract_pardot(client, con)
        assert ids_in(con) == {1001} and second.rows == 1
        monkeypatch.undo()
        third = extract_pardot(client, con)
        assert ids_in(con) == {1001} and third.rows == 1 and sorted(store.prospect_recycle_bin) == [1002]


MAINTENANCE = "<html><head><title>Scheduled Maintenance</title></head><body>メンテナンス中です</body></html>"


def _maintenance_once(org: FakeOrg, monkeypatch) -> None:
    real = org.pardot.handle
    state = {"left": 1}

    def handle(req):
        if state["left"] and req.method == "GET" and req.path.rstrip("/").endswith("/objects/prospects"):
            state["left"] -= 1
            return Response(200, MAINTENANCE.encode("utf-8"), content_type="text/html; charset=UTF-8")
        return real(req)

    monkeypatch.setattr(org.pardot, "handle", handle)


def test_a_200_that_is_not_json_is_a_pardot_error(monkeypatch, tmp_path, capsys):
    store = OrgStore()
    lead = store.insert("Lead", {"LastName": "山田", "FirstName": "太郎", "Company": "株式会社サンプル商事",
                                 "Email": "taro.yamada@sample.co.jp"})
    store.insert_prospect({"email": "taro.yamada@sample.co.jp", "lastName": "山田", "crmLeadFid": lead})
    with FakeOrg(store) as org:
        client, _ = client_for(org)
        _maintenance_once(org, monkeypatch)
        with pytest.raises(PardotError) as e:
            extract_pardot(client, duckdb.connect())
        msg = str(e.value)
        assert msg.startswith("Pardot prospect query failed: HTTP 200 ") and "text/html" in msg and "\n" not in msg
        assert org.access_token not in msg

        # Through the CLI: one line naming Pardot, exit code 2.
        from nayose.cli import main

        for k, v in {"NAYOSE_SF_AUTH": "session", "NAYOSE_SF_INSTANCE_URL": org.instance_url,
                     "NAYOSE_SF_SESSION_ID": org.access_token, "NAYOSE_SF_CA_BUNDLE": org.ca_path,
                     "NAYOSE_PARDOT_BASE_URL": org.pardot_base_url, "NAYOSE_PARDOT_BUSINESS_UNIT_ID": org.business_unit_id,
                     "NAYOSE_SF_BACKOFF": "0.01", "NAYOSE_SF_MAX_RETRIES": "1"}.items():
            monkeypatch.setenv(k, v)
        _maintenance_once(org, monkeypatch)
        assert main(["extract", "--out", str(tmp_path / "out"), "--objects", "Lead", "--pardot", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nayose: error: Pardot prospect query failed: HTTP 200 ") and "text/html" in err
        assert len(err.splitlines()) == 1
