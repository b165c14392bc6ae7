"""Kill the applier with SIGKILL at random points of a plan of more than 50 steps, resume, and check
that every finished org equals an uninterrupted run: no step repeated, nothing lost.

The fake org runs in this process; `nayose apply … --execute` runs as a subprocess and is killed
after a random number of requests reached the server plus a random few milliseconds. SOAP answers
are held back 20 ms after the server executed the call, so kills land in the window where a merge
is done in the org but not yet in the journal."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_apply import build_org, client, merges_per_step, pardot_client

from nayose.apply import apply_plan
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.soap import soap_log
from nayose.fakeorg.store import OrgStore
from nayose.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261129
CHAINS = 2            # independent kill / resume chains, each ending in a finished org
KILLS_PER_CHAIN = 10  # 20 SIGKILLs in all
TIME_FIELDS = {"CreatedDate", "LastModifiedDate", "SystemModstamp", "ConvertedDate", "updatedAt", "createdAt"}


def normalized(store: OrgStore) -> dict:
    snap = store.snapshot()
    for recs in snap["objects"].values():
        for rec in recs.values():
            for f in TIME_FIELDS & set(rec):
                del rec[f]
    for p in snap["prospects"].values():
        for f in TIME_FIELDS & set(p):
            del p[f]
    return snap


def copy_store(store: OrgStore, path: Path) -> OrgStore:
    store.save(path)
    return OrgStore.load(path)


def write_inputs(tmp: Path, plan: dict, deletes: list[dict]) -> tuple[Path, Path]:
    plan_path = tmp / "merge_plan.json"
    plan_path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    del_path = tmp / "delete_plan.csv"
    del_path.write_text("plan_id,Id,object,reason,as_of\n" + "".join(
        f"{d['plan_id']},{d['Id']},{d['object']},{d['reason']},{d['as_of']}\n" for d in deletes), encoding="utf-8")
    return plan_path, del_path


def executed_counts(org: FakeOrg) -> tuple[dict, dict, dict]:
    """What the server executed: merges per (master, losers), conversions per lead, DELETEs per id."""
    converts: dict[str, int] = {}
    for entry in soap_log(org):
        if entry["call"] == "convertLead":
            for item in entry["items"]:
                if item.get("success"):
                    converts[item["lead_id"]] = converts.get(item["lead_id"], 0) + 1
    deletes: dict[str, int] = {}
    for method, path, status in org.requests_log:
        if method == "DELETE" and status == 204:
            rid = path.rsplit("/", 1)[-1]
            deletes[rid] = deletes.get(rid, 0) + 1
    return merges_per_step(org), converts, deletes


def test_sigkill_at_random_points_then_resume_equals_uninterrupted_run(tmp_path):
    rng = random.Random(SEED)
    base, plan, deletes = build_org(n_five=12, n_convert=10, n_delete=6, prospect=True)
    n_steps = sum(len(c["steps"]) for c in plan["clusters"]) + 10 + len(deletes)  # + update_fields per convert group
    assert n_steps >= 50
    plan_path, del_path = write_inputs(tmp_path, plan, deletes)

    # the reference: an uninterrupted run on a copy of the org
    ref_store = copy_store(base, tmp_path / "ref.json")
    with FakeOrg(ref_store) as org:
        sf = client(org)
        ref = apply_plan(plan, journal_db=tmp_path / "ref.duckdb", sf=sf, pardot=pardot_client(org, sf),
                         execute=True, deletes=deletes)
        assert ref.exit_code == 0, ref.to_dict()
        ref_requests = len(org.requests_log)
    assert ref.steps_done + ref.deletes_done == n_steps
    expected = normalized(ref_store)

    kills = resumes = 0
    for chain in range(CHAINS):
        store = copy_store(base, tmp_path / f"chain{chain}.json")
        db = tmp_path / f"chain{chain}.duckdb"
        with FakeOrg(store) as org:
            org.faults.timeout(0.02, "POST", r"/services/Soap/", when="after", times=None)  # the in-flight window
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
                "NAYOSE_SF_AUTH": "session", "NAYOSE_SF_INSTANCE_URL": org.instance_url,
                "NAYOSE_SF_SESSION_ID": org.access_token, "NAYOSE_SF_CA_BUNDLE": org.ca_path,
                "NAYOSE_PARDOT_BASE_URL": org.pardot_base_url, "NAYOSE_PARDOT_BUSINESS_UNIT_ID": org.business_unit_id,
                "NAYOSE_LOCK_TIMEOUT": "30",
            }
            cmd = [sys.executable, "-m", "nayose.cli", "apply", str(plan_path), "--deletes", str(del_path),
                   "--db", str(db), "--execute"]
            chain_kills = 0
            while True:
                start = len(org.requests_log)
                proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if chain_kills < KILLS_PER_CHAIN:
                    target = start + rng.randint(1, max(2, ref_requests // KILLS_PER_CHAIN))
                    while proc.poll() is None and len(org.requests_log) < target:
                        time.sleep(0.002)
                    time.sleep(rng.uniform(0, 0.03))
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        chain_kills += 1
                        kills += 1
                    out, err = proc.communicate(timeout=120)
                    if proc.returncode == -signal.SIGKILL:
                        resumes += 1
                        continue
                else:
                    out, err = proc.communicate(timeout=180)
                text = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
                assert org.access_token not in text
                if chain_kills >= KILLS_PER_CHAIN:
                    assert proc.returncode == 0, text
                    break
                # the run finished before the kill point: start the chain's next run anyway
                assert proc.returncode == 0, text
                break
            merges, converts, dels = executed_counts(org)
        # the finished org equals the uninterrupted run, and nothing was executed twice
        assert normalized(store) == expected, f"chain {chain}: org differs from the uninterrupted run"
        assert len(merges) == 24 and set(merges.values()) == {1}, merges
        assert len(converts) == 10 and set(converts.values()) == {1}, converts
        assert len(dels) == len(deletes) and set(dels.values()) == {1}, dels  # 6 REST + 1 Pardot
        latest = {}
        for e in Journal(db).entries(plan["plan_id"]):
            if e["status"] in ("intent", "done", "failed", "unknown"):
                latest[e["step_key"]] = e["status"]
        steps = [k for k in latest if not k.endswith("/verify")]
        assert len(steps) == n_steps and set(latest.values()) == {"done"}
    assert kills == CHAINS * KILLS_PER_CHAIN == 20 and resumes == kills
