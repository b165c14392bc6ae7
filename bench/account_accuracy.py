"""Accuracy and speed of business-Account matching (nayose/accounts.py) on the sample org's Accounts.

For each size: `nayose sample --records N --accounts ...` (the org's Account export: every writing of a
company its Contacts show is an Account of its own, plus branch Accounts, namesakes and group
companies, each with its truth), then `nayose plan` on the people and the Accounts together, in a
subprocess. Prints, for the Accounts' groups, pairwise precision / recall / F1 of all groups and of
the auto groups, the pairs per rule, the Contact groups that no longer wait for review because
their Accounts are one company, and the time of the accounts stage; checks that the people's
groups are exactly those of a run without the Accounts. Writes bench/out/account_accuracy.json and
README's `bench:accounts` section.

    python bench/account_accuracy.py                    # 20,000 and 100,000 sample records
    python bench/account_accuracy.py --sizes 20000
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.readme_section import metrics_cells, replace_section  # noqa: E402
from nayose.evaluate import evaluate_files  # noqa: E402

OUT = ROOT / "bench" / "out"
SEED = 11


def _nayose(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "nayose.cli", *args], cwd=ROOT, check=True)


def _people_clusters(path: Path) -> dict[str, tuple[str, str]]:
    with open(path, encoding="utf-8") as f:
        return {r["Id"]: (r["cluster_id"], r["status"]) for r in csv.DictReader(f) if not r["Id"].startswith("001")}


def run(records: int) -> dict:
    work = OUT / f"accounts_{records}"
    work.mkdir(parents=True, exist_ok=True)
    people, accounts = work / "sample.csv", work / "accounts.csv"
    _nayose("sample", "--records", str(records), "--seed", str(SEED), "--out", str(people), "--accounts", str(accounts))
    t0 = time.perf_counter()
    _nayose("plan", str(people), str(accounts), "--out", str(work / "with"), "--quiet")
    wall = time.perf_counter() - t0
    _nayose("plan", str(people), "--out", str(work / "without"), "--quiet", "--no-plan")
    summary = json.loads((work / "with" / "summary.json").read_text(encoding="utf-8"))
    truth = work / "accounts.truth.csv"
    with open(truth, encoding="utf-8") as f:
        kinds: dict[str, int] = {}
        for r in csv.DictReader(f):
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    same_people = _people_clusters(work / "with" / "clusters.csv") == _people_clusters(work / "without" / "clusters.csv")
    plan = json.loads((work / "with" / "merge_plan.json").read_text(encoding="utf-8"))
    reasons: dict[str, int] = {}
    account_reasons: dict[str, int] = {}  # (two Accounts a rule keeps apart: the rule, without the two Ids)
    for g in plan["clusters"]:
        if g["status"] == "review" and g["object"] in ("Contact", "Account"):
            key = re.sub(r" \(\w{15,18} / \w{15,18}\)$", "", g.get("status_reason") or "(the match itself)")
            into = reasons if g["object"] == "Contact" else account_reasons
            into[key] = into.get(key, 0) + 1
    with open(work / "with" / "lead_accounts.csv", encoding="utf-8") as f:
        listed_rows = list(csv.DictReader(f))
    listed = [r["rule"] for r in listed_rows]
    leads = summary["objects"].get("Lead", 0)
    # Leads at Accounts against the truth: a listed Lead is right when its Account is its company's;
    # a Lead whose company has an Account (and no group converts it) should be listed
    with open(truth, encoding="utf-8") as f:
        account_entity = {r["Id"]: r["entity_id"] for r in csv.DictReader(f)}
    with open(work / "accounts.leads.truth.csv", encoding="utf-8") as f:
        lead_company = {r["Id"]: r["company_entity"] for r in csv.DictReader(f)}
    with open(work / "with" / "clusters.csv", encoding="utf-8") as f:
        grouped = {r["Id"] for r in csv.DictReader(f) if r["status"] != "single"}
    right = sum(1 for r in listed_rows if account_entity.get(r["AccountId"]) == lead_company.get(r["LeadId"]))
    # (the truth names a Lead's company, not its office: a branch Account of that company, matched at the
    # branch's switchboard or postal code, is the company's office, counted apart)
    branch = sum(1 for r in listed_rows if (account_entity.get(r["AccountId"]) or "").startswith("B")
                 and account_entity[r["AccountId"]][1:] == (lead_company.get(r["LeadId"]) or "")[1:])
    companies = set(account_entity.values())
    listable = [i for i, e in lead_company.items() if e in companies and i not in grouped]
    listed_ids = {r["LeadId"] for r in listed_rows}
    row = {
        "records": records, "accounts": summary["accounts"]["accounts"], "kinds": kinds,
        "leads": leads, "leads_at_accounts": len(listed),
        "leads_by_contact_point": sum(1 for r in listed if r == "company_and_contact"),
        "leads_precision": round(right / len(listed_rows), 4) if listed_rows else None,
        "leads_at_own_branch": branch,
        "leads_recall_single": round(sum(1 for i in listable if i in listed_ids) / len(listable), 4) if listable else None,
        "all": evaluate_files(work / "with" / "clusters.csv", truth),
        "auto": evaluate_files(work / "with" / "clusters.csv", truth, auto_only=True),
        "rules": summary["accounts"]["rules"], "pairs": summary["accounts"]["pairs"],
        "accounts_seconds": summary["seconds"].get("accounts"), "plan_wall_seconds": round(wall, 2),
        "people_groups_unchanged": same_people,
        "contact_review_groups": reasons,
        "account_review_groups": account_reasons,
    }
    print(json.dumps(row, ensure_ascii=False, indent=1))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    args = ap.parse_args()
    rows = [run(n) for n in args.sizes]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "account_accuracy.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = [
        f"Measured by `python bench/account_accuracy.py` on {time.strftime('%Y-%m-%d')} (sample seed {SEED}; "
        "`nayose plan` on the people and their Accounts together, zero config):",
        "",
        "| sample records | Accounts (company / branch / namesake / group) | all groups: precision / recall / **F1** "
        "| auto groups: precision / recall | auto / review pairs | accounts stage | `nayose plan` (people + Accounts) "
        "| people's groups |",
        "|---:|---|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        k = r["kinds"]
        lines.append(
            f"| {r['records']:,} | {r['accounts']:,} ({k.get('company', 0):,} / {k.get('branch', 0)} / {k.get('namesake', 0)} / "
            f"{k.get('group', 0)}) | {metrics_cells(r)} | {r['pairs'].get('auto', 0):,} / {r['pairs'].get('review', 0):,} "
            f"| {r['accounts_seconds']:.2f} s | {r['plan_wall_seconds']:.1f} s "
            f"| {'identical to a run without the Accounts' if r['people_groups_unchanged'] else 'CHANGED'} |"
        )
    last = rows[-1]
    lines += ["", f"Pairs per rule at {last['records']:,} records: "
              + ", ".join(f"{rule} {n:,}" for rule, n in sorted(last["rules"].items(), key=lambda x: -x[1])) + ". "
              f"Leads at existing Accounts (`lead_accounts.csv`): {last['leads_at_accounts']:,} of {last['leads']:,} Leads, "
              f"{last['leads_by_contact_point']:,} of them by a contact point; named Account of the Lead's own company "
              f"(precision) {last['leads_precision']} (of the others, {last['leads_at_own_branch']:,} name a branch Account "
              "of the Lead's own company, matched at the branch's switchboard or postal code: the truth names companies, "
              f"not offices), single Leads of a company with an Account listed (recall) {last['leads_recall_single']}. "
              "Contact groups still held for review, by reason: "
              + ", ".join(f"{why} {n:,}" for why, n in sorted(last["contact_review_groups"].items(), key=lambda x: -x[1])) + ". "
              "Account groups held for review, by reason: "
              + ", ".join(f"{why} {n:,}" for why, n in sorted(last["account_review_groups"].items(), key=lambda x: -x[1])) + "."]
    md = "\n".join(lines)
    print(md)
    replace_section("accounts", md)


if __name__ == "__main__":
    main()
