"""Fixtures for tests against the fake org: a small Japanese org and a simple-salesforce client."""

from __future__ import annotations

from simple_salesforce import Salesforce

from nayose.fakeorg.server import FakeOrg
from nayose.fakeorg.store import OrgStore, id18

ACCOUNT_ID = id18("0015F00000Acme1")
ACCOUNT2_ID = id18("0015F00000Beta1")


def lead_id(n: int) -> str:
    return id18(f"00Q5F00000L{n:04d}")


def contact_id(n: int) -> str:
    return id18(f"0035F00000C{n:04d}")


def sample_store() -> OrgStore:
    """2 Accounts, 12 Contacts, 6 Leads (one with ' and \\ in its name), 3 Pardot prospects."""
    store = OrgStore()
    store.load_records([
        {"Id": ACCOUNT_ID, "Name": "株式会社サンプル", "BillingState": "東京都",
         "CreatedDate": "2026-10-01T00:00:00.000+0000", "LastModifiedDate": "2026-10-01T00:00:00.000+0000",
         "SystemModstamp": "2026-10-01T00:00:00.000+0000"},
        {"Id": ACCOUNT2_ID, "Name": "有限会社テスト商事", "BillingState": "大阪府",
         "CreatedDate": "2026-10-02T00:00:00.000+0000", "LastModifiedDate": "2026-10-02T00:00:00.000+0000",
         "SystemModstamp": "2026-10-02T00:00:00.000+0000"},
    ])
    given = ["太郎", "花子", "一郎", "次郎", "三郎", "久美子", "健", "直美", "大輔", "由美", "翔太", "愛"]
    family = ["田中", "佐藤", "鈴木", "高橋", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田"]
    contacts = []
    for i, (sei, mei) in enumerate(zip(family, given), start=1):
        day = f"2026-10-{i + 2:02d}T09:00:00.000+0000"
        contacts.append({
            "Id": contact_id(i), "LastName": sei, "FirstName": mei,
            "AccountId": ACCOUNT_ID if i % 3 else ACCOUNT2_ID, "Email": f"user{i}@sample.co.jp",
            "MobilePhone": f"090-1234-{i:04d}", "LeadSource": "名刺" if i % 4 == 0 else "Web",
            "Sansan_Person_Id__c": f"SP{i:05d}" if i % 4 == 0 else "",
            "CreatedDate": day, "LastModifiedDate": day, "SystemModstamp": day,
        })
    store.load_records(contacts)
    leads = [
        (lead_id(1), "田中", "太郎", "株式会社サンプル", "tanaka@sample.co.jp", "2026-11-01T00:00:00.000+0000"),
        (lead_id(2), "タナカ", "タロウ", "(株)サンプル", "tanaka@sample.co.jp", "2026-11-02T00:00:00.000+0000"),
        (lead_id(3), "鈴木", "一郎", "テスト商事", "suzuki@test.jp", "2026-11-03T00:00:00.000+0000"),
        (lead_id(4), "O'Brien\\Smith", "Mary", "Acme Japan", "mary@acme.example", "2026-11-04T00:00:00.000+0000"),
        (lead_id(5), "山田", "花子", "個人", None, "2026-11-05T00:00:00.000+0000"),
        (lead_id(6), "Tanaka", "Taro", "Sample Co., Ltd.", "taro.tanaka@gmail.com", "2026-11-06T00:00:00.000+0000"),
    ]
    store.load_records([{"Id": i, "LastName": ln, "FirstName": fn, "Company": co, "Email": em, "Status": "Open - Not Contacted",
                         "HasOptedOutOfEmail": "true" if i == lead_id(3) else "false",
                         "CreatedDate": t, "LastModifiedDate": t, "SystemModstamp": t}
                        for i, ln, fn, co, em, t in leads])
    for n, (email, first, last, crm) in enumerate([
        ("tanaka@sample.co.jp", "太郎", "田中", lead_id(1)),
        ("tanaka@sample.co.jp", "タロウ", "タナカ", lead_id(2)),
        ("suzuki@test.jp", "一郎", "鈴木", None),
    ], start=1):
        store.insert_prospect({"id": 5000 + n, "email": email, "firstName": first, "lastName": last,
                               "company": "株式会社サンプル", "crmLeadFid": crm, "salesforceId": crm,
                               "isDoNotEmail": False, "optedOut": False})
    return store


def client(org: FakeOrg, session=None) -> Salesforce:
    return Salesforce(instance_url=org.instance_url, session_id=org.access_token,
                      session=session or org.session(), version=org.api_version)


def write_export(path, rows: list[dict], cols: list[str] | None = None):
    """Write `rows` as an export CSV (columns `cols`, else Id first and the others sorted); return path."""
    import csv

    cols = cols or sorted({k for r in rows for k in r}, key=lambda c: (c != "Id", c))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    return path


def plan_export(tmp_path, rows: list[dict]) -> dict:
    """Write `rows` as an export CSV, run `nayose plan` on it and return merge_plan.json."""
    import json

    from nayose.cli import main

    src = write_export(tmp_path / "export.csv", rows)
    out = tmp_path / "out"
    assert main(["plan", str(src), "--out", str(out), "--quiet"]) == 0
    return json.loads((out / "merge_plan.json").read_text(encoding="utf-8"))
