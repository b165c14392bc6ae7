"""Injection: every value that reaches SOQL is escaped, checked or bound, and every CSV nayose writes
for people is safe against formula injection.

SOQL goes to the local fake org over HTTPS, whose parser (`nayose.fakeorg.soql`) enforces
Salesforce's string escapes (an unknown escape or an unterminated literal is MALFORMED_QUERY), and
every query text the org receives is recorded: a value that was not escaped would either break the
query or change its meaning, and both show.

* literals: `apply.soql_quote` round-trips any text through the org's parser; `extract.soql_id` /
  `soql_datetime` / Pardot's timestamp check refuse anything that is not an Id / a datetime.
* extract: names, companies, e-mails and custom fields full of quotes and backslashes arrive
  byte-identical through REST and Bulk 2.0; a describe field whose *name* is not an API name is
  left out of the SELECT; a tampered watermark stops the extract before any query is sent.
* apply: Ids with quotes are refused before any request; the stale-check reads of records whose
  names hold quotes and backslashes work, and the surviving values (quotes, backslashes, XML
  specials) arrive in the org exactly.
* CSV: every writer (clusters / pairs / evidence, the merge-plan CSVs, import-plan CSVs, sync-health
  CSVs, prospect_links.csv) gives a cell starting with = + - @ tab or CR a leading apostrophe.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nayose.apply import ApplyError, apply_plan, soql_quote
from nayose.config import Config, InputConfig
from nayose.errors import NayoseError
from nayose.extract import extract_salesforce, soql_datetime, soql_id
from nayose.fakeorg import soql as fake_soql
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore
from nayose.salesforce import connect, make_settings

HOSTILE = [
    "O'Brien\\Smith",
    "'; DELETE FROM Lead --",
    "\\' OR Id != '",
    "a\\\\'b",
    "100% _match_ \\%",
    "line\nbreak\ttab",
    "<b>&amp;]]></b>",
    "=cmd|' /C calc'!A0",
    "'",
    "\\",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")  # a number is a number in Excel, not a formula


# ---------------------------------------------------------------------------------------------
# literals


def _where_literal(query: str):
    q = fake_soql.parse(query)
    assert q.where is not None and q.where.op == "CMP"
    return q.where.value[1]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=st.one_of(st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40),
                       st.sampled_from(HOSTILE)))
def test_soql_quote_round_trips_any_text_through_the_orgs_parser(value):
    lit = _where_literal(f"SELECT Id FROM Lead WHERE LastName = {soql_quote(value)}")
    # (the parser marks % and _ with NUL for LIKE; a plain comparison ignores the mark)
    assert lit.kind == "str" and lit.value.replace("\x00", "") == value


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE),
                       st.sampled_from(["00Q5F00000L0001AAA", "2026-11-01T00:00:00.000+0000",
                                        "2026-11-01T00:00:00Z' OR Id != '", "00Q5F00000L0001' OR Id != '"])))
def test_ids_and_datetimes_are_checked_before_they_reach_soql(value):
    for fn, kind in ((soql_id, "str"), (soql_datetime, "datetime")):
        try:
            literal = fn(value)
        except NayoseError:
            continue
        lit = _where_literal(f"SELECT Id FROM Lead WHERE {'Id' if kind == 'str' else 'SystemModstamp'} = {literal}")
        assert lit.kind == kind, (value, literal)
        assert "'" not in value and "\\" not in value


# ---------------------------------------------------------------------------------------------
# extract


def _recording(org: FakeOrg) -> list[tuple[str, str | None]]:
    """Record every SOQL text the org executes (REST query / queryAll and Bulk jobs), with its error."""
    seen: list[tuple[str, str | None]] = []
    run = org.evaluator.run

    def spy(text, include_deleted):
        try:
            out = run(text, include_deleted)
        except Exception as exc:
            seen.append((text, type(exc).__name__ + ": " + str(exc)))
            raise
        seen.append((text, None))
        return out

    org.evaluator.run = spy
    return seen


def hostile_store() -> tuple[OrgStore, dict[str, dict]]:
    store = OrgStore(api_daily_limit=100_000)
    expected = {}
    for i, v in enumerate(HOSTILE):
        rec = {"LastName": v, "FirstName": v[::-1], "Company": f"{v} 株式会社", "Email": f"x{i}'{i}@example.jp",
               "Description": v * 3, "Note__c": v, "LeadSource": "Web"}
        rid = store.insert("Lead", rec)
        expected[rid] = rec
    # a custom field whose name is not an API name (a broken or hostile describe)
    store.insert("Lead", {"LastName": "x", "Company": "y", "Evil' OR Name != '__c": "boom"})
    return store, expected


def _settings(org: FakeOrg):
    return make_settings(auth="session", instance_url=org.instance_url, session_id=org.access_token,
                         ca_bundle=org.ca_path, backoff_factor=0.01)


@pytest.mark.parametrize("mode", ["rest", "bulk"])
def test_extract_carries_quotes_and_backslashes_exactly(mode, figures):
    store, expected = hostile_store()
    with FakeOrg(store, page_size=4) as org:
        seen = _recording(org)
        sf = connect(_settings(org))
        con = duckdb.connect()
        extract_salesforce(sf, con, objects=["Lead"], mode=mode, bulk_poll_seconds=0.05, bulk_page_size=3)
        cols = [d[0] for d in con.execute("SELECT * FROM sf_records LIMIT 0").description]
        assert not any("Evil" in c for c in cols)  # the field with a hostile name was left out
        for rid, rec in expected.items():
            row = dict(zip(cols, con.execute("SELECT * FROM sf_records WHERE Id = ?", [rid]).fetchall()[0]))
            for k, v in rec.items():
                assert row[k] == v, (mode, k, row[k], v)
        # a second, incremental run after an edit: the watermark reaches SOQL formatted
        store.update(next(iter(expected)), {"LastName": "O'Neil\\2"})
        res = extract_salesforce(sf, con, objects=["Lead"], mode=mode, bulk_poll_seconds=0.05)
        assert res.objects["Lead"].changed == 1
        assert con.execute("SELECT LastName FROM sf_records WHERE Id = ?", [next(iter(expected))]).fetchall() == [
            ("O'Neil\\2",)]
        assert seen and all(err is None for _, err in seen), [s for s in seen if s[1]]
        assert not any(status == 400 for _, _, status in org.requests_log)
    figures.update({"queries": len(seen), "malformed": 0, "hostile values": len(HOSTILE) * 6})


def test_a_tampered_watermark_stops_the_extract_before_any_query(tmp_path):
    store, _ = hostile_store()
    with FakeOrg(store) as org:
        seen = _recording(org)
        sf = connect(_settings(org))
        con = duckdb.connect()
        extract_salesforce(sf, con, objects=["Lead"], mode="rest")
        n = len(seen)
        con.execute("UPDATE extract_watermarks SET watermark = watermark || ''' OR Name != '''")
        with pytest.raises(NayoseError, match="not a Salesforce datetime"):
            extract_salesforce(sf, con, objects=["Lead"], mode="rest")
        assert not any("OR Name" in text for text, _ in seen[n:])
        # Pardot: a tampered watermark is refused the same way
        from nayose.pardot import PardotClient, PardotSettings, extract_pardot

        client = PardotClient(PardotSettings(base_url=org.pardot_base_url, business_unit_id=org.business_unit_id,
                                             ca_bundle=org.ca_path), sf=sf)
        con.execute("INSERT OR REPLACE INTO extract_watermarks VALUES ('pardot_prospect', "
                    "'2026-11-01T00:00:00Z&deleted=all', now(), 0)")
        with pytest.raises(NayoseError, match="not an ISO 8601 timestamp"):
            extract_pardot(client, con)


# ---------------------------------------------------------------------------------------------
# apply


def test_apply_refuses_hostile_ids_and_writes_hostile_values_exactly(tmp_path, figures):
    from test_apply import build_org

    store, plan, _ = build_org(n_five=1, n_convert=1, n_delete=0, prospect=False)
    merge, convert = plan["clusters"]
    # names with quotes and backslashes in the org (the stale check reads them back)
    for rid in merge["loser_ids"]:
        store.update(rid, {"Department": "営業'部\\2"})
    # the plan's as-of times must be the org's after that edit
    for c in plan["clusters"]:
        c["as_of"] = {rid: store.get(rid)["SystemModstamp"] for rid in c["as_of"]}
    merge["fields"]["Title"]["value"] = "課長's \\ <b>&amp;]]>"
    merge["fields"]["Department"]["value"] = "\\' OR Id != '"
    bad = json.loads(json.dumps(plan))
    bad["clusters"][0]["loser_ids"][0] = merge["loser_ids"][0][:15] + "' OR Id != '"
    bad["clusters"][0]["steps"][0]["loser_ids"][0] = bad["clusters"][0]["loser_ids"][0]
    bad["clusters"][0]["as_of"][bad["clusters"][0]["loser_ids"][0]] = "2026-10-01T00:00:00.000+0000"
    with FakeOrg(store) as org:
        seen = _recording(org)
        sf = connect(_settings(org))
        before = len(org.requests_log)
        with pytest.raises(ApplyError, match="not a Salesforce id"):
            apply_plan(bad, journal_db=tmp_path / "bad.duckdb", sf=sf, execute=True)
        assert not any("OR Id" in text for text, _ in seen)
        assert len(org.requests_log) == before  # refused before any request
        bad_delete = [{"plan_id": plan["plan_id"], "Id": "00Q5F00000L9999' OR Id != '", "object": "Lead",
                       "reason": "x", "as_of": "2026-10-01T00:00:00.000+0000"}]
        try:
            report = apply_plan(plan, journal_db=tmp_path / "bad2.duckdb", sf=sf, execute=False, deletes=bad_delete)
            assert report.exit_code != 0
        except ApplyError as exc:
            assert "not a Salesforce id" in str(exc)
        assert not any("OR Id" in text for text, _ in seen)

        report = apply_plan(plan, journal_db=tmp_path / "ok.duckdb", sf=sf, execute=True)
        assert report.exit_code == 0, report.to_dict()
        master = store.get(merge["master_id"])
        assert master["Title"] == "課長's \\ <b>&amp;]]>"
        assert master["Department"] == "\\' OR Id != '"
        assert seen and all(err is None for _, err in seen), [s for s in seen if s[1]]
    figures.update({"stale-check queries": len(seen), "malformed": 0})


# ---------------------------------------------------------------------------------------------
# CSV formula injection


FORMULA_VALUES = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+81 3-1234-5678", "-2+3", "@SUM(A1:A9)",
                  "\t=1", "\r=1"]


def unsafe_cells(path: Path) -> list[tuple[int, str, str]]:
    """(row, column, value) of every cell that starts with a formula trigger."""
    out = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0] if rows else []
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            if cell.startswith(TRIGGERS) and not NUMBER.match(cell):
                out.append((i + 1, header[j] if j < len(header) else str(j), cell))
    return out


def formula_export(path: Path, n: int = 6, tag: str = "") -> Path:
    """Leads where every text field a person sees starts with a formula trigger, in duplicate pairs."""
    rows = []
    for i in range(n):
        v = FORMULA_VALUES[i % len(FORMULA_VALUES)]
        for k in range(2):
            rows.append({"Id": f"=ID{tag}{i}{k}HYPERLINK", "Object": "Lead", "LastName": f"{v}山田{tag}{i}",
                         "FirstName": f"{v}太郎", "Company": f"{v} 株式会社", "Email": f"-user{tag}{i}@example.jp",
                         "Phone": "+81 3-1234-56%02d" % i, "MobilePhone": "+81 90-1234-56%02d" % i,
                         "Title": v, "LeadSource": "@Web", "Description": v, "PostalCode": "-100-0001",
                         "LastModifiedDate": "2026-11-01T00:00:00.000+0000"})
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_every_csv_nayose_writes_for_people_is_excel_safe(tmp_path, figures):
    from nayose.cli import main

    src = formula_export(tmp_path / "in.csv")
    cfg = tmp_path / "nayose.yaml"
    cfg.write_text("input:\n  default_object: Lead\n", encoding="utf-8")
    written: dict[str, int] = {}

    # nayose plan (clusters, pairs, evidence, merge_plan.csv, field_changes.csv, delete_plan.csv)
    out = tmp_path / "it's [out]"  # a quote and glob characters in the output path
    assert main(["plan", str(src), "--out", str(out), "--config", str(cfg), "--quiet"]) == 0
    # nayose import-plan (import_insert / update / changes / review / decisions)
    imp = tmp_path / "import"
    assert main(["import-plan", "--existing", str(src), "--incoming", str(formula_export(tmp_path / "inc.csv", 3, tag="N")),
                 "--out", str(imp), "--config", str(cfg), "--quiet"]) == 0
    # nayose sync-health (sync_health.csv, sync_eligibility.csv, flag_plan.csv, sync_delete_plan.csv)
    sh = tmp_path / "sync"
    prospects = tmp_path / "prospects.csv"
    prospects.write_text("id,email,firstName,lastName,company,salesforceId\n"
                         "1,-user0@example.jp,=1+1,@x,+co,=ID00HYPERLINK\n2,=evil@example.jp,a,b,c,\n",
                         encoding="utf-8")
    assert main(["sync-health", str(src), "--prospects", str(prospects), "--out", str(sh), "--config", str(cfg),
                 "--quiet"]) == 0
    problems = {}
    for folder in (out, imp, sh):
        for p in sorted(folder.glob("*.csv")):
            written[f"{folder.name}/{p.name}"] = p.stat().st_size
            bad = unsafe_cells(p)
            if bad:
                problems[f"{folder.name}/{p.name}"] = bad[:3]
    assert not problems, problems
    # the CSVs really carried the formulas (escaped), so the check above was not vacuous
    escaped = {name: sum(c.startswith("'") and c[1:2] in TRIGGERS for row in csv.reader(
        open(folder / name.split("/", 1)[1], encoding="utf-8-sig", newline="")) for c in row)
        for folder in (out, imp, sh) for name in written if name.startswith(folder.name + "/")}
    assert "'=ID00HYPERLINK" in (out / "clusters.csv").read_text(encoding="utf-8")
    for name in ("clusters.csv", "pairs.csv", "evidence.csv", "merge_plan.csv", "import_review.csv",
                 "import_decisions.csv", "sync_eligibility.csv", "flag_plan.csv"):
        assert any(k.endswith("/" + name) and v > 0 for k, v in escaped.items()), (name, sorted(escaped.items()))
    figures.update({"csv files checked": len(written), "bytes": sum(written.values()), "unsafe cells": 0,
                    "escaped cells": sum(escaped.values())})


def test_prospect_links_csv_is_excel_safe(tmp_path):
    from nayose.outputs import copy_query_csv

    con = duckdb.connect()
    con.execute("CREATE TABLE prospect_links AS SELECT 1 AS prospect_id, '=evil@example.jp' AS email, "
                "'-1' AS salesforce_id, -2.5 AS score")
    path = tmp_path / "prospect_links.csv"
    copy_query_csv(con, "SELECT * FROM prospect_links", path)
    assert unsafe_cells(path) == []  # numbers stay numbers (-2.5); text is escaped
    assert "-2.5" in path.read_text(encoding="utf-8")
    assert "'=evil@example.jp" in path.read_text(encoding="utf-8")


def test_import_plan_excel_safe_false_is_the_documented_opt_out(tmp_path):
    """`import_plan: {excel_safe: false}` writes values as they are (for Data Loader): documented,
    and the only writer without the apostrophe."""
    from nayose.cli import main

    src = formula_export(tmp_path / "in.csv")
    cfg = tmp_path / "nayose.yaml"
    cfg.write_text("input:\n  default_object: Lead\nimport_plan:\n  excel_safe: false\n", encoding="utf-8")
    imp = tmp_path / "import"
    assert main(["import-plan", "--existing", str(src), "--incoming", str(formula_export(tmp_path / "inc.csv", 3, tag="N")),
                 "--out", str(imp), "--config", str(cfg), "--quiet"]) == 0
    assert any(unsafe_cells(p) for p in imp.glob("*.csv"))


def test_records_reader_keeps_formula_text_as_data(tmp_path):
    """Reading is the other side: a formula-looking cell is plain text (nothing evaluates it)."""
    from nayose.records import load_records

    con = duckdb.connect()
    load_records(con, [formula_export(tmp_path / "in.csv", 1)], Config(input=InputConfig(default_object="Lead")))
    assert con.execute("SELECT Title FROM raw_records ORDER BY Id LIMIT 1").fetchall()[0][0].startswith("=HYPERLINK")


def test_a_hostile_delete_id_is_refused_before_anything_is_done(tmp_path):
    from test_apply import build_org

    store, plan, _ = build_org(n_five=1, n_convert=0, n_delete=0, prospect=False)
    bad = [{"plan_id": plan["plan_id"], "Id": "00Q5F00000L9999' OR Id != '", "object": "Lead", "reason": "x",
            "as_of": "2026-10-01T00:00:00.000+0000"}]
    with FakeOrg(store) as org:
        seen = _recording(org)
        sf = connect(_settings(org))
        before = len(org.requests_log)
        with pytest.raises(ApplyError, match="not a Salesforce id"):
            apply_plan(plan, journal_db=tmp_path / "j.duckdb", sf=sf, execute=True, deletes=bad)
        assert not any("OR Id" in text for text, _ in seen)
        assert not [r for r in org.requests_log[before:] if "/Soap/" in r[1]], "groups were merged before the refusal"
