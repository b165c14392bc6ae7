"""Does Salesforce take what the plan proposes? The built-in sample org loaded into the fake org,
`nayose plan` on its export, and `apply --execute` of every group -- review groups too -- and of
the delete plan, over HTTPS with the real simple-salesforce client. Prints the apply report's
counts and every failed step's error code; a failure that is not a review group's known refusal
(a Contact without an account) is a plan the org refuses.

    python bench/apply_e2e.py                    # 2,000 records (~1 minute)
    python bench/apply_e2e.py --records 20000    # ~15 minutes of one core
    python bench/apply_e2e.py --accounts         # with the org's Account export (business Accounts merged too)

The seventeenth session ran it at 20,000 records: 41 failed steps of 3,953 before its mends (29
conversions into a Contact without an account, 12 conversions naming the master's account from
before its merge), 29 after (the first kind only, refused before any request). The eighteenth, with
the org's Account export (`--accounts --records 20000`, 20 minutes): 3,030 groups, 4,753 of 4,824
steps done, 29 failed (the same conversions into a Contact without an account), none stale; 604
groups of Accounts merged (1,368 Accounts merged away), no live Contact left under a deleted
Account; 109 deletes.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--accounts", action="store_true",
                    help="load the sample org's Account export (nayose sample --accounts) and plan it with the people")
    args = ap.parse_args(argv)

    from simple_salesforce import Salesforce

    from nayose.apply import apply_plan
    from nayose.cli import main as cli
    from nayose.fakeorg.server import FakeOrg
    from nayose.fakeorg.store import OrgStore
    from nayose.sample import write_sample

    with tempfile.TemporaryDirectory(prefix="nayose-apply-e2e-") as tmp:
        tmp_path = Path(tmp)
        write_sample(args.records, args.seed, tmp_path / "org.csv", tmp_path / "org.truth.csv",
                     accounts_csv=tmp_path / "accounts.csv" if args.accounts else None)
        with open(tmp_path / "org.csv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        stamp = "2026-10-01T00:00:00.000Z"
        store = OrgStore(api_daily_limit=100_000_000)
        exports = []
        if args.accounts:  # the org's Accounts as exported (names, switchboards, sites, 法人番号)
            with open(tmp_path / "accounts.csv", encoding="utf-8", newline="") as f:
                account_rows = [{k: v for k, v in r.items() if v != ""} | {"SystemModstamp": r["LastModifiedDate"]}
                                for r in csv.DictReader(f)]
            store.load_records(account_rows)
            exports.append(tmp_path / "accounts.csv")
        else:  # one Account per AccountId, named as its first Contact shows it
            accounts = {r["AccountId"]: r.get("Account.Name") or "取引先" for r in rows if r.get("AccountId")}
            store.load_records([{"Id": a, "Name": n, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}
                                for a, n in accounts.items()])
        records = [{**{k: v for k, v in r.items() if k != "Account.Name"},
                    "SystemModstamp": r.get("LastModifiedDate") or stamp} for r in rows]
        store.load_records(records)
        export = tmp_path / "export.csv"
        with open(export, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, list(records[0]))
            w.writeheader()
            w.writerows(records)
        out = tmp_path / "out"
        if cli(["plan", str(export), *map(str, exports), "--out", str(out), "--quiet"]) != 0:
            return 1
        plan = json.loads((out / "merge_plan.json").read_text(encoding="utf-8"))
        store.advance(86400)
        with FakeOrg(store) as org:
            sf = Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(),
                            version="62.0")
            if args.accounts:
                org.define_field("Account", "CorporateNumber__c", type="string", length=13)
            report = apply_plan(plan, journal_db=out / "journal.duckdb", sf=sf, execute=True,
                                deletes=str(out / "delete_plan.csv"))
        from nayose.journal import Journal

        failed = collections.Counter()
        for e in Journal(out / "journal.duckdb").entries(plan["plan_id"]):
            if e["status"] == "failed":
                errors = (e.get("result") or {}).get("errors") or [{"statusCode": (e.get("result") or {}).get("error")}]
                failed[(e["action"], str(errors[0].get("statusCode")))] += 1
        d = report.to_dict()
        merged = [g for g in plan["clusters"] if g["object"] == "Account" and g["steps"]]
        gone = sum(1 for g in merged for i in g["loser_ids"]
                   if store.get(i, include_deleted=True).get("MasterRecordId") == g["master_id"])
        orphans = sum(1 for r in rows if r.get("AccountId") and r["Object"] == "Contact"
                      and not store.get(r["Id"], include_deleted=True).get("IsDeleted")
                      and store.get(store.get(r["Id"])["AccountId"], include_deleted=True).get("IsDeleted"))
        print(json.dumps({"records": args.records, "account_groups_merged": len(merged), "accounts_merged_away": gone,
                          "live_contacts_under_a_deleted_account": orphans,
                          "groups": d["groups_planned"], "steps": d["steps_planned"],
                          "steps_done": d["steps_done"], "steps_failed": d["steps_failed"],
                          "groups_stale": d["groups_stale"][:5], "groups_not_applied": len(d["groups_stale"]),
                          "deletes_done": d["deletes_done"], "seconds": d["seconds"],
                          "failed_by_error": {f"{a} {c}": n for (a, c), n in sorted(failed.items())}},
                         ensure_ascii=False, indent=2))
        unexpected = sum(n for (a, c), n in failed.items() if c != "NO_ACCOUNT")
        return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
