"""Faults: a seeded random fault schedule over a full extract (REST, Bulk 2.0, Pardot) and a full
apply (SOAP merges and conversions, REST deletes, Pardot deletes, sObject Collections flag
updates) against the local fake org over HTTPS, with the real clients.

The fake org injects 429, 500 and 503 answers, timeouts, connection resets before the request and
after it was executed, resets in the middle of a response, and partial failures inside SOAP merge /
convertLead results and sObject Collections results. The extract and the apply retry what is safe
to retry (reads, idempotent DELETE / PATCH) and report and continue where they must not (a POST
without an answer: the bulk job creation, a merge); the test then runs them again, as an operator
(or the nightly schedule) would, until they finish, and checks:

* records lost: every record of the org is in the extract with its values (must be 0);
* steps done twice: no merge, conversion or delete executed twice in the org (must be 0);
* the finished org equals the org of the same apply run without any fault.

Single faults of each kind are covered one by one in tests/nayose/test_extract.py
(test_429_503_and_a_reset_on_gets_are_retried, test_posts_are_never_repeated_and_failures_are_clear)
and tests/nayose/test_apply.py (test_reset_after_merge_executed_is_confirmed_not_repeated,
test_unknown_outcome_is_resolved_on_resume, test_rate_limit_before_merge_is_retried_and_budget_stops_cleanly).
"""

from __future__ import annotations

import random
from collections import Counter

import duckdb
import pytest

from nayose import apply as apply_mod
from nayose.errors import NayoseError
from nayose.extract import extract_salesforce
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore, id18
from nayose.pardot import PardotClient, PardotSettings, extract_pardot
from nayose.salesforce import connect, make_settings

SEED = 20261130
N_FAULTS = 36
CLIENT_TIMEOUT = 1.0
FLAG_FIELD = "Pardot_Sync__c"
MAX_RUNS = 12

# (method, path regex) of every kind of request the two flows make
READS = [("GET", r"/query"), ("GET", r"/queryAll"), ("GET", r"/describe"), ("GET", r"/jobs/query/[^/]+$"),
         ("GET", r"/jobs/query/[^/]+/results"), ("GET", r"/api/v5/objects/prospects$")]
POSTS = [("POST", r"/jobs/query$"), ("POST", r"/services/Soap/")]
IDEMPOTENT_WRITES = [("DELETE", r"/sobjects/Lead/"), ("DELETE", r"/api/v5/objects/prospects/\d+"),
                     ("PATCH", r"/composite/sobjects")]


def build():
    from test_apply import build_org

    store, plan, deletes = build_org(n_five=3, n_convert=3, n_delete=3, prospect=True)
    flags = []
    for i in range(8):
        rid = id18(f"00Q5F00000G{i:04d}")
        t = f"2026-10-0{1 + i % 8}T08:00:00.000+0000"
        store.load_records([{"Id": rid, "LastName": f"フラグ{i}", "FirstName": "太郎", "Company": "株式会社ひかり",
                             "Status": "Open - Not Contacted", FLAG_FIELD: "true", "CreatedDate": t,
                             "LastModifiedDate": t, "SystemModstamp": t}])
        flags.append({"plan_id": plan["plan_id"], "Id": rid, "object": "Lead", "field": FLAG_FIELD,
                      "value": "false", "reason": "経理: 同期しない", "as_of": t})
    for i in range(4):
        store.insert_prospect({"email": f"p{i}@hikari.co.jp", "firstName": "花子", "lastName": f"見込{i}"})
    store.advance(3600)
    return store, plan, deletes, flags


def schedule(org: FakeOrg, rng: random.Random) -> list[str]:
    """N_FAULTS random faults, each firing once at a random matching request."""
    names = []
    timeouts = 0
    for _ in range(N_FAULTS):
        kind = rng.choice(["429", "500", "503", "reset", "reset_mid", "timeout", "partial", "partial"])
        p = rng.uniform(0.15, 0.6)
        if kind == "partial":
            where = rng.choice(["merge", "convertLead", "collections"])
            if where == "collections":
                org.faults.partial("PATCH", r"/composite/sobjects", indices=[rng.randrange(8)], probability=p)
            else:
                org.faults.partial("SOAP", where, indices=[0], probability=p,
                                   error_code=rng.choice(["UNABLE_TO_LOCK_ROW", "UNKNOWN_EXCEPTION"]))
            names.append(f"partial {where}")
            continue
        if kind == "timeout" and timeouts >= 3:
            kind = "503"
        method, path = rng.choice(READS + POSTS + IDEMPOTENT_WRITES)
        when = rng.choice(["before", "after"]) if kind in ("500", "503", "reset", "timeout") else "before"
        if kind in ("429", "500", "503"):
            org.faults.add("status", method, path, status=int(kind), retry_after=0 if kind == "429" else None,
                           probability=p, when=when)
        elif kind == "reset":
            org.faults.reset(method, path, probability=p, when=when)
        elif kind == "reset_mid":
            org.faults.reset_mid_response(method, path, probability=p)
        else:
            timeouts += 1
            org.faults.timeout(CLIENT_TIMEOUT + 0.5, method, path, probability=p, when=when)
        names.append(f"{kind} {method} {path} {when}")
    return names


def run_until_done(label: str, fn, counts: Counter) -> object:
    """Run fn until it finishes cleanly (an operator running the command again); count the reports."""
    last = None
    for _ in range(MAX_RUNS):
        counts[f"{label} runs"] += 1
        try:
            last = fn()
        except NayoseError as exc:
            counts[f"{label} reported errors"] += 1
            assert "Traceback" not in str(exc) and "\n" not in str(exc).strip()
            continue
        if getattr(last, "exit_code", 0) == 0:
            return last
        counts[f"{label} runs with failed / unknown / stale steps"] += 1
    pytest.fail(f"{label} did not finish in {MAX_RUNS} runs: {last}")


def flow(store: OrgStore, plan, deletes, flags, tmp_path, tag: str, rng: random.Random | None, counts: Counter):
    """extract (Salesforce + Pardot) then apply --execute, under the faults of `rng` (None: none)."""
    with FakeOrg(store, page_size=5, fault_seed=SEED) as org:
        org.define_field("Lead", FLAG_FIELD, type="boolean", length=0)
        planted = schedule(org, rng) if rng is not None else []
        settings = make_settings(auth="session", instance_url=org.instance_url, session_id=org.access_token,
                                 ca_bundle=org.ca_path, timeout=CLIENT_TIMEOUT, backoff_factor=0.01, max_retries=4)
        sf = connect(settings)
        pardot = PardotClient(PardotSettings(base_url=org.pardot_base_url, business_unit_id=org.business_unit_id,
                                             ca_bundle=org.ca_path, timeout=CLIENT_TIMEOUT, backoff_factor=0.01),
                              sf=sf)
        con = duckdb.connect()
        run_until_done("extract", lambda: extract_salesforce(sf, con, mode="auto", bulk_threshold=15,
                                                             bulk_page_size=7, bulk_poll_seconds=0.02), counts)
        run_until_done("pardot extract", lambda: extract_pardot(pardot, con, page_size=3), counts)
        records = {r[0]: r for r in con.execute("SELECT * FROM sf_records ORDER BY Id").fetchall()}
        cols = [d[0] for d in con.execute("SELECT * FROM sf_records LIMIT 0").description]
        prospects = {r[0] for r in con.execute("SELECT id FROM pardot_prospects").fetchall()}
        run_until_done("apply", lambda: apply_mod.apply_plan(plan, journal_db=tmp_path / f"{tag}.duckdb", sf=sf,
                                                              pardot=pardot, execute=True, deletes=deletes,
                                                              flags=flags), counts)
        from test_apply_kill import executed_counts

        merges, converts, dels = executed_counts(org)
        injected = Counter(org.faults.injected)
        fired = [r for r in org.faults.rules if r.fired]
    return {"records": records, "cols": cols, "prospects": prospects, "merges": merges, "converts": converts,
            "deletes": dels, "injected": injected, "planted": planted, "fired": len(fired)}


def test_seeded_random_faults_over_extract_and_apply(tmp_path, monkeypatch, figures):
    from test_apply_kill import copy_store, normalized

    monkeypatch.setattr(apply_mod, "BACKOFF_SECONDS", 0.01)
    base, plan, deletes, flags = build()
    ref_store = copy_store(base, tmp_path / "ref.json")
    ref = flow(ref_store, plan, deletes, flags, tmp_path, "ref", None, Counter())
    store = copy_store(base, tmp_path / "faulty.json")
    counts: Counter = Counter()
    got = flow(store, plan, deletes, flags, tmp_path, "faulty", random.Random(SEED), counts)

    # nothing lost: the extract holds every record (same values) and every prospect
    assert got["cols"] == ref["cols"]
    lost = set(ref["records"]) - set(got["records"])
    differ = [i for i in ref["records"] if i in got["records"] and got["records"][i] != ref["records"][i]]
    assert not lost and not differ and set(got["records"]) == set(ref["records"])
    assert got["prospects"] == ref["prospects"]
    # nothing done twice: every merge / conversion / delete executed exactly once
    twice = [k for d in ("merges", "converts", "deletes") for k, v in got[d].items() if v > 1]
    assert not twice, twice
    assert got["merges"].keys() == ref["merges"].keys() and got["converts"].keys() == ref["converts"].keys()
    assert got["deletes"].keys() == ref["deletes"].keys()
    # the finished org equals the org without faults
    assert normalized(store) == normalized(ref_store)
    injected = sum(got["injected"].values())
    assert injected >= 15, got["injected"]  # the schedule really bit
    assert counts["extract reported errors"] + counts["apply runs with failed / unknown / stale steps"] \
        + counts["apply reported errors"] + counts["pardot extract reported errors"] >= 1
    figures.update({
        "faults planted": len(got["planted"]), "faults injected": injected,
        "injected by kind": dict(got["injected"]), "faults survived": injected,
        "records lost": len(lost) + len(differ), "steps done twice": len(twice),
        "records extracted": len(got["records"]), "prospects extracted": len(got["prospects"]),
        "merges": len(got["merges"]), "conversions": len(got["converts"]), "deletes": len(got["deletes"]),
        "flags": len(flags), **{k: v for k, v in counts.items()},
    })
