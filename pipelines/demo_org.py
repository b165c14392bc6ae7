"""`make demo-org`: the whole loop against the local fake org over HTTPS.

1. generate the built-in sample (~2,000 Leads / Contacts, Japanese) and load it into a fake org
   (with the Accounts the Contacts point at and a follow-up Task on every third record);
2. plan: match the export and write merge_plan.json / delete_plan.csv (`nayose.pipeline.run_plan`);
3. approve: every `auto` group (review groups stay for a person to look at);
4. apply with --execute through the real simple-salesforce client (SOAP merge / convertLead, REST
   delete), journaled in out/demo_org/nayose.duckdb; a second run shows nothing is repeated;
5. show what changed in the org; 6. undo, and show what could not be restored.

    python -m pipelines.demo_org [--records 2000] [--seed 11] [--out out/demo_org]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from simple_salesforce import Salesforce

from nayose.apply import apply_plan, load_plan, undo_plan
from nayose.config import load_config
from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore, id18
from nayose.pipeline import run_plan
from nayose.sample import write_sample

console = Console()


def load_org(csv_path: Path) -> OrgStore:
    store = OrgStore(api_daily_limit=100_000)
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    accounts: dict[str, str] = {}
    for r in rows:
        if r.get("AccountId") and r["AccountId"] not in accounts:
            accounts[r["AccountId"]] = r.get("Account.Name") or "(no name)"
    store.load_records([{"Id": a, "Name": n, "CreatedDate": "2018-01-01T00:00:00.000Z",
                         "LastModifiedDate": "2018-01-01T00:00:00.000Z"} for a, n in sorted(accounts.items())])
    store.load_records(rows)
    for k, r in enumerate(rows):
        if k % 3 == 0:
            store.insert("Task", {"Id": id18(f"00T5F00{k:08d}"), "WhoId": r["Id"], "Subject": "フォローアップ電話",
                                  "CreatedDate": r["LastModifiedDate"], "LastModifiedDate": r["LastModifiedDate"]},
                         keep_id=True)
    store.advance(3600)
    return store


def table(title: str, rows: list[tuple[str, object]]) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.demo_org")
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default="out/demo_org")
    args = ap.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()

    csv_path = out / "org.csv"
    write_sample(args.records, args.seed, csv_path, out / "org.truth.csv")
    store = load_org(csv_path)
    console.print(f"[bold]1. fake org[/bold]: {sum(len(v) for v in store.objects.values()):,} records "
                  f"({', '.join(f'{k} {len(v):,}' for k, v in store.objects.items() if v)})")

    plan_dir = out / "plan"
    summary = run_plan([csv_path], plan_dir, load_config(None), quiet=True)
    plan = load_plan(plan_dir / "merge_plan.json")
    auto = [c["cluster_id"] for c in plan["clusters"] if c["status"] == "auto" and c["steps"]]
    review = sum(1 for c in plan["clusters"] if c["status"] == "review")
    console.print(f"[bold]2. plan[/bold] {plan['plan_id']}: {summary['records_in']:,} records, "
                  f"{len(plan['clusters'])} groups ({review} for review) -> {plan_dir}/")
    console.print(f"[bold]3. approve[/bold]: the {len(auto)} auto groups")

    db = out / "nayose.duckdb"
    before = store.snapshot()["objects"]
    with FakeOrg(store) as org:
        sf = Salesforce(instance_url=org.instance_url, session_id=org.access_token, session=org.session(), version="62.0")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("4. apply --execute", total=None)

            def tick(event: dict) -> None:
                progress.update(task, completed=event.get("done", 0), total=event.get("total"))

            report = apply_plan(plan, journal_db=db, sf=sf, execute=True, clusters=auto,
                                deletes=plan_dir / "delete_plan.csv", progress=tick)
        console.print(table(f"4. apply {plan['plan_id']} (execute)", [
            ("groups applied", report.groups_applied), ("groups stale", len({g['cluster_id'] for g in report.groups_stale})),
            ("groups failed", len(report.groups_failed)), ("steps done", report.steps_done),
            ("deletes done", report.deletes_done), ("API calls", report.api_calls),
            ("API usage (Sforce-Limit-Info)", f"{report.api_used}/{report.api_limit}"), ("seconds", report.seconds)]))
        for g in report.groups_failed[:5]:
            console.print(f"  failed {g['cluster_id']} {g['step_key']}: {g['error']}", markup=False)
        again = apply_plan(plan, journal_db=db, sf=sf, execute=True, clusters=auto, deletes=plan_dir / "delete_plan.csv")
        console.print(f"   run again: {again.steps_done} steps done, {again.steps_already_done} already done "
                      f"(nothing repeated), {again.deletes_already_done} deletes already done")

        merged = [r for r in store.rows("Lead", True) + store.rows("Contact", True) if r["IsDeleted"] and r.get("MasterRecordId")]
        converted = [r for r in store.rows("Lead", True) if r.get("IsConverted")]
        deleted = [r for r in store.rows("Lead", True) + store.rows("Contact", True) if r["IsDeleted"] and not r.get("MasterRecordId")]
        moved = [t for t in store.rows("Task") if t["WhoId"] != before["Task"][t["Id"]]["WhoId"]]
        console.print(table("5. the org now", [
            ("merge losers in the Recycle Bin (MasterRecordId set)", len(merged)), ("leads converted into contacts", len(converted)),
            ("records deleted (Recycle Bin)", len(deleted)), ("tasks re-parented to a survivor", len(moved))]))
        example = next((c for c in plan["clusters"] if c["cluster_id"] in auto and len(c["steps"]) >= 2), None)
        if example:
            m = store.get(example["master_id"])
            obj = "Contact" if example["master_id"].startswith("003") else "Lead"
            old = before[obj][example["master_id"]]
            console.print(f"   e.g. group {example['cluster_id']}: {len(example['loser_ids'])} records merged into the master "
                          f"{example['master_id']}", markup=False)
            for f in ("LastName", "FirstName", "Email", "Phone", "MobilePhone", "Title"):
                if old.get(f) != m.get(f):
                    console.print(f"      {f}: {old.get(f)} -> {m.get(f)}", markup=False)

        undo = undo_plan(plan, journal_db=db, sf=sf, execute=True, clusters=auto)
        kinds = Counter(x["kind"] for x in undo.not_restored)
        console.print(table("6. undo (execute)", [
            ("masters restored", len(undo.masters_restored)), ("records undeleted", len(undo.records_undeleted)),
            *[(f"not restorable: {k}", v) for k, v in sorted(kinds.items())]]))
    alive = sum(1 for r in store.rows("Lead") + store.rows("Contact"))
    console.print(f"after undo: {alive:,} live Leads / Contacts (converted leads stay converted: the API cannot "
                  f"revert a conversion). Journal: {db}. {time.perf_counter() - started:.0f} s in all.")
    return 0 if not report.groups_failed else 1


if __name__ == "__main__":
    sys.exit(main())
