"""A Pardot side for the built-in sample org, with every sync problem planted on purpose.

`generate_sync_sample(records, seed)` starts from `nayose.sample.generate_sample` and returns

* ``records`` — the sample org plus the Marketing Data Sharing field ``Pardot_Sync__c`` and the
  planted Salesforce-side edits (a cleared title, a corrected reading, a changed department);
* ``prospects`` — a Pardot v5 prospects export (id, email, firstName, lastName, company, jobTitle,
  department, phone, salesforceId, crmLeadFid, crmContactFid, optedOut, isDoNotEmail,
  isEmailHardBounced, isDeleted, createdAt, updatedAt, crmLastSync and the custom fields
  Customer_Segment__c, Kana_Last__c, Kana_First__c, Sansan_ID__c, Birthday__c);
* ``metadata`` — the Salesforce describe of the mapped fields and the Pardot custom field definitions,
  with three mapping problems planted (a picklist value missing in Pardot, a Pardot length shorter
  than Salesforce's, a date mapped to a number) beside two clean mappings;
* ``truth`` — ``problem, cause, Id, prospect_id, field``: every finding the diagnosis must make under the
  default rules, and nothing else — with no record over the mailable cap (the default cap of 10,000
  is not reached up to about 18,000 records; for larger samples compare with a cap above the org's size).

The truth is the generator's own knowledge, not the engine's output: who is a billing / recruiting /
partner contact comes from the sample's pools (a record is *marked* when its title, department,
lead source or email local part is one of that kind's values — a billing contact with none of them
cannot be told from a customer and stays eligible), freshness and quality are recomputed from the
generated values, and every planted problem is recorded when it is planted. The sync watermark (the
newest crmLastSync) falls just before the newest records, which therefore have no prospect yet.

Planted, per ~1,000 records: over-synced prospects of excluded / stale / companyless records
(30 % of those with an email), eligible records kept out by the sharing field, records whose email
sits on another record's prospect, records without a prospect for no visible reason, prospects
sharing a CRM ID (an email change; a retried create), prospects without CRM ID beside a record
(one whose record has no prospect of its own), Pardot-only form prospects (not a problem), orphans,
recycled prospects (ignored), a cleared title that comes back, a Pardot edit Salesforce overwrites,
a Salesforce edit Pardot overwrites, business-card companies a form fill would overwrite, and a
department change the last sync did not carry. Deterministic by seed.

`nayose.fakeorg.seed.seed_sync_sample(org, sample)` puts the same sample into the local fake org
(records with their Accounts, field definitions, prospects, custom field definitions), so the problems
are also found through the real APIs (tests/nayose/test_synchealth_fakeorg.py).
"""

from __future__ import annotations

import json
import random
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from nayose import sample as S

SYNC_FIELD = "Pardot_Sync__c"
PROSPECT_COLUMNS = [
    "id", "email", "firstName", "lastName", "company", "jobTitle", "department", "phone", "salesforceId",
    "crmLeadFid", "crmContactFid", "optedOut", "isDoNotEmail", "isEmailHardBounced", "isDeleted", "createdAt",
    "updatedAt", "crmLastSync", "Customer_Segment__c", "Kana_Last__c", "Kana_First__c", "Sansan_ID__c", "Birthday__c",
]
TRUTH_COLUMNS = ["problem", "cause", "Id", "prospect_id", "field"]
# prospect column -> Salesforce field (standard, then custom through the metadata)
COPY = {
    "firstName": "FirstName", "lastName": "LastName", "jobTitle": "Title", "department": "Department",
    "phone": "Phone", "Customer_Segment__c": "Segment__c", "Kana_Last__c": "LastNameKana__c",
    "Kana_First__c": "FirstNameKana__c", "Sansan_ID__c": "Sansan_Person_Id__c", "Birthday__c": "Birthdate",
}
SEGMENTS = ["大企業", "中堅企業", "中小企業", "官公庁", "個人"]
PARDOT_SEGMENTS = ["大企業", "中堅企業", "中小企業", "個人"]  # 官公庁 missing: the planted picklist problem
SANSAN_MAX = 12  # Pardot length shorter than the 16-character Sansan ids: the planted length problem
CARD_SOURCES = {"名刺", "business card", "sansan", "eight"}
PLACEHOLDERS = set(S._B2C_COMPANY) | {"個人のお客様"}
SAFE_DEPARTMENTS = ["営業企画部", "事業推進部", "ソリューション営業部"]


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fmt(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _fold(v: str | None) -> str:
    return unicodedata.normalize("NFKC", v or "").strip().casefold()


def _kind_marker(r: dict) -> str | None:
    """The exclusion a record visibly carries, from the sample's own pools (None: looks like a customer)."""
    local = (r.get("Email") or "").lower().split("@")[0].rstrip("0123456789")
    if r.get("Title") in S._BILLING_TITLES or r.get("Department") in S._BILLING_DEPTS or local in S._BILLING_LOCALS:
        return "billing"
    if (r.get("Title") in S._RECRUIT_TITLES or r.get("Department") in S._RECRUIT_DEPTS or local in S._RECRUIT_LOCALS
            or r.get("LeadSource") == "採用"):
        return "recruiting"
    if r.get("Department") in S._PARTNER_DEPTS:
        return "partner"
    return None


def _reason(r: dict, as_of: datetime) -> str | None:
    """Why the record may not sync under the default rules (None: eligible), in the rules' order."""
    kind = _kind_marker(r)
    if kind:
        return "exclusion:" + kind
    created = _ts(r.get("CreatedDate"))
    if r["Object"] == "Lead" and created is not None and created < as_of - timedelta(days=round(3 * 365.25)):
        return "stale"
    company = r.get("Company") if r["Object"] == "Lead" else r.get("Account.Name")
    own = (r.get("LastName") or "") + (r.get("FirstName") or "")
    if (not company or company in PLACEHOLDERS or _fold(company) in {_fold(p) for p in PLACEHOLDERS}
            or company.replace(" ", "").replace("\u3000", "") == own):
        return "quality:no_company"
    if not r.get("Email"):
        return "quality:no_email"
    return None


def _is_card(r: dict) -> bool:
    return _fold(r.get("LeadSource")) in CARD_SOURCES or bool(r.get("Sansan_Person_Id__c"))


def generate_sync_sample(records: int = 10_000, seed: int = 42) -> dict:
    """{'records': pa.Table, 'prospects': pa.Table, 'metadata': dict, 'truth': pa.Table, 'stats': dict}."""
    table, _truth = S.generate_sample(records, seed)
    rows = table.to_pylist()
    rng = random.Random(seed * 7919 + 17)
    as_of = max(max(_ts(r["CreatedDate"]), _ts(r["LastModifiedDate"])) for r in rows)
    for r in rows:
        r["_reason"] = _reason(r, as_of)
        r[SYNC_FIELD] = "true" if r["_reason"] is None else "false"
    by_id = {r["Id"]: r for r in rows}
    truth: list[tuple] = []
    n = len(rows)

    def k(per_thousand: float, minimum: int = 2) -> int:
        return max(minimum, round(n * per_thousand / 1000))

    # The sync watermark: the newest records were created after the last sync.
    newest = sorted(rows, key=lambda r: (r["CreatedDate"], r["Id"]))[-k(1.5):]
    watermark = _ts(newest[0]["CreatedDate"]) - timedelta(seconds=1)
    new_ids = {r["Id"] for r in newest}

    eligible = sorted(r["Id"] for r in rows if r["_reason"] is None and r["Id"] not in new_ids)
    excluded = sorted(r["Id"] for r in rows if r["_reason"] is not None and r.get("Email") and r["Id"] not in new_ids)
    used: set[str] = set()

    def pick(pool: list[str], count: int, cond=lambda r: True) -> list[str]:
        cands = [i for i in pool if i not in used and cond(by_id[i])]
        out = rng.sample(cands, min(count, len(cands)))
        used.update(out)
        return sorted(out)

    email_count: dict[str, int] = {}
    for r in rows:
        if r.get("Email"):
            email_count[r["Email"].lower()] = email_count.get(r["Email"].lower(), 0) + 1
    unique_email = lambda r: email_count.get((r.get("Email") or "").lower(), 0) == 1  # noqa: E731
    old_enough = lambda r: _ts(r["LastModifiedDate"]) < watermark - timedelta(days=40)  # noqa: E731

    over = pick(excluded, round(len(excluded) * 0.3), lambda r: True)
    for i in over:
        by_id[i][SYNC_FIELD] = "true"
    sharing = pick(eligible, k(2), unique_email)
    for i in sharing:
        by_id[i][SYNC_FIELD] = "false"
    # records whose email is on another record's prospect: the other record is eligible and synced
    shared = [i for i in eligible if not unique_email(by_id[i])]
    other_email: list[str] = []
    for i in rng.sample(shared, len(shared)):
        if len(other_email) >= k(1.5) or i in used:
            continue
        e = by_id[i]["Email"].lower()
        partners = [j for j in eligible if j != i and (by_id[j].get("Email") or "").lower() == e]
        if partners and all(j not in used for j in partners):
            other_email.append(i)
            used.add(i)
            used.update(partners)  # keep the partners' prospects healthy
    other_email.sort()
    no_reason = pick(eligible, k(1.5), lambda r: unique_email(r))
    unlinked_no_prospect = pick(eligible, k(1), unique_email)
    unlinked_beside = pick(eligible, k(1), unique_email)
    email_change = pick(eligible, k(1), lambda r: unique_email(r) and old_enough(r))
    retried = pick(eligible, k(1), lambda r: unique_email(r) and old_enough(r))
    cleared = pick(eligible, k(1.5), lambda r: unique_email(r) and old_enough(r) and bool(r.get("Title")))
    pardot_edit = pick(eligible, k(1.5), lambda r: unique_email(r) and old_enough(r) and bool(r.get("FirstNameKana__c")))
    sf_edit = pick(eligible, k(1.5), lambda r: unique_email(r) and old_enough(r) and bool(r.get("LastNameKana__c"))
                   and not _is_card(r))  # a card record would be card_value_overwritten
    card_overwrite = pick(eligible, k(1.5), lambda r: unique_email(r) and old_enough(r) and _is_card(r)
                          and bool(r.get("Company") or r.get("Account.Name")))
    not_carried = pick(eligible, k(1.5), lambda r: unique_email(r) and old_enough(r) and bool(r.get("Department")))

    no_prospect = set(sharing) | set(other_email) | set(no_reason) | set(unlinked_no_prospect) | new_ids
    linked_ids = [i for i in eligible if i not in no_prospect] + over
    linked_ids.sort(key=lambda i: (by_id[i]["CreatedDate"], i))

    prospects: list[dict] = []
    next_id = [100_000]

    def new_prospect(r: dict | None, **over_values) -> dict:
        next_id[0] += 1 + rng.randrange(3)
        p = {c: None for c in PROSPECT_COLUMNS}
        p["id"] = str(next_id[0])
        if r is not None:
            created = min(_ts(r["CreatedDate"]) + timedelta(minutes=5 + rng.randrange(120)), watermark)
            updated = min(max(created, _ts(r["LastModifiedDate"]) + timedelta(minutes=1 + rng.randrange(60))), watermark)
            p.update({
                "email": r.get("Email"), "company": r.get("Company") or r.get("Account.Name"),
                "salesforceId": r["Id"], "crmLeadFid": r["Id"] if r["Object"] == "Lead" else None,
                "crmContactFid": r["Id"] if r["Object"] == "Contact" else None,
                "optedOut": "true" if r.get("HasOptedOutOfEmail") == "true" else "false",
                "createdAt": _fmt(created), "updatedAt": _fmt(updated), "crmLastSync": _fmt(watermark),
            })
            for pcol, sf in COPY.items():
                p[pcol] = r.get(sf)
            # values the Pardot fields cannot hold were never written
            if p["Customer_Segment__c"] not in PARDOT_SEGMENTS:
                p["Customer_Segment__c"] = None
            if p["Sansan_ID__c"] and len(p["Sansan_ID__c"]) > SANSAN_MAX:
                p["Sansan_ID__c"] = None
            p["Birthday__c"] = None
        p["isDoNotEmail"] = "false"
        p["isEmailHardBounced"] = "false"
        p["isDeleted"] = "false"
        p.update(over_values)
        prospects.append(p)
        return p

    prospect_of: dict[str, dict] = {}
    for i in linked_ids:
        r = by_id[i]
        extra = {}
        u = rng.random()
        if i not in used and u < 0.02:
            extra["isEmailHardBounced"] = "true"
        elif i not in used and u < 0.03:
            extra["isDoNotEmail"] = "true"
        prospect_of[i] = new_prospect(r, **extra)

    # --- duplicates: one CRM ID, two prospects
    for i in email_change:
        r, p = by_id[i], prospect_of[i]
        local, _, dom = r["Email"].partition("@")
        old = new_prospect(r, email=f"{local}@old-{dom}", createdAt=_fmt(_ts(p["createdAt"]) - timedelta(days=200)),
                           updatedAt=_fmt(_ts(p["createdAt"]) - timedelta(days=100)))
        truth += [("duplicate", "same_crm_id", i, p["id"], ""), ("duplicate", "same_crm_id", i, old["id"], "")]
    for i in retried:
        r, p = by_id[i], prospect_of[i]
        again = new_prospect(r, createdAt=_fmt(_ts(p["createdAt"]) + timedelta(seconds=3)), updatedAt=p["updatedAt"])
        truth += [("duplicate", "same_crm_id", i, p["id"], ""), ("duplicate", "same_crm_id", i, again["id"], "")]
    # --- prospects without CRM ID
    for i in unlinked_beside + unlinked_no_prospect:
        r = by_id[i]
        u = new_prospect(None, email=r["Email"], lastName=r.get("LastName"), firstName=r.get("FirstName"),
                         createdAt=_fmt(watermark - timedelta(days=30)), updatedAt=_fmt(watermark - timedelta(days=30)))
        truth.append(("duplicate", "no_crm_id_beside_record", "", u["id"], ""))
        if i in unlinked_no_prospect:
            truth.append(("not_synced", "unlinked_prospect_has_email", i, u["id"], ""))
    for j in range(k(2)):  # Pardot-only form fills: not a problem
        new_prospect(None, email=f"form{seed}.{j}@example-form{j % 7}.jp", lastName="フォーム", firstName=f"{j}",
                     createdAt=_fmt(watermark - timedelta(days=j + 1)), updatedAt=_fmt(watermark - timedelta(days=j + 1)))
    orphan_ids = []
    for j in range(k(1)):
        oid = f"00Q5F00000ZZ{j:03d}AAA"
        orphan_ids.append(oid)
        p = new_prospect(None, email=f"gone{j}@example-orphan.jp", salesforceId=oid, crmLeadFid=oid,
                         createdAt=_fmt(watermark - timedelta(days=400)), updatedAt=_fmt(watermark - timedelta(days=300)),
                         crmLastSync=_fmt(watermark - timedelta(days=300)))
        truth.append(("over_synced", "orphan", oid, p["id"], ""))
    for i in pick(excluded, k(1)):  # recycled prospects (isDeleted) of excluded records: ignored
        new_prospect(by_id[i], isDeleted="true")
    # recycled prospects do not touch the records' flags
    # --- field values: planted edits (record-level timestamps)
    for i in cleared:  # Title cleared in Salesforce after the last Pardot update: Pardot's value comes back
        r, p = by_id[i], prospect_of[i]
        t = _ts(p["updatedAt"]) + timedelta(days=10)
        r["Title"], r["LastModifiedDate"] = None, _fmt(min(t, watermark - timedelta(hours=1)))
        truth.append(("reverts", "cleared_value_refilled", i, p["id"], "Title"))
    for i in pardot_edit:  # Kana_First uses Salesforce's value: a Pardot edit is put back
        r, p = by_id[i], prospect_of[i]
        p["Kana_First__c"] = unicodedata.normalize("NFKC", r["FirstNameKana__c"]) + "ー"
        p["updatedAt"] = _fmt(min(_ts(r["LastModifiedDate"]) + timedelta(days=20), watermark))
        truth.append(("reverts", "pardot_edit_overwritten", i, p["id"], "FirstNameKana__c"))
    for i in sf_edit:  # Kana_Last uses Pardot's value: a Salesforce edit is put back
        r, p = by_id[i], prospect_of[i]
        r["LastNameKana__c"] = unicodedata.normalize("NFKC", r["LastNameKana__c"]) + "ー"
        r["LastModifiedDate"] = _fmt(min(_ts(p["updatedAt"]) + timedelta(days=15), watermark - timedelta(hours=1)))
        truth.append(("reverts", "salesforce_edit_overwritten", i, p["id"], "LastNameKana__c"))
    for i in card_overwrite:  # a form fill changed the company on a business-card record
        r, p = by_id[i], prospect_of[i]
        p["company"] = "フォーム入力 " + (p["company"] or "")
        p["updatedAt"] = _fmt(min(_ts(r["LastModifiedDate"]) + timedelta(days=20), watermark))
        truth.append(("reverts", "card_value_overwritten", i, p["id"], "Company/Account.Name"))
    for i in not_carried:  # Department changed in Salesforce before the last sync, never arrived
        r, p = by_id[i], prospect_of[i]
        r["Department"] = SAFE_DEPARTMENTS[rng.randrange(len(SAFE_DEPARTMENTS))]
        if r["Department"] == p["department"]:
            r["Department"] = "営業推進部"
        r["LastModifiedDate"] = _fmt(_ts(p["updatedAt"]) + timedelta(days=5))
        truth.append(("not_syncing", "not_carried_by_sync", i, p["id"], "Department"))

    # --- truth that follows from the data (computed here from the generator's own values)
    live = [p for p in prospects if p["isDeleted"] != "true"]
    linked_live: dict[str, list[dict]] = {}
    for p in live:
        crm = p["crmContactFid"] or p["crmLeadFid"] or p["salesforceId"]
        if crm:
            linked_live.setdefault(crm, []).append(p)
    for i in over:
        truth.append(("over_synced", by_id[i]["_reason"], i, prospect_of[i]["id"], ""))
    by_email: dict[str, set[str]] = {}
    for crm, ps in linked_live.items():
        for p in ps:
            if p["email"]:
                by_email.setdefault(p["email"].lower(), set()).add(crm)
    for crm, ps in linked_live.items():
        for p in ps:
            if p["email"] and len(by_email[p["email"].lower()]) > 1:
                truth.append(("duplicate", "same_email_different_crm_ids", crm, p["id"], ""))
    linked_email = {e: crms for e, crms in by_email.items()}
    for i in sorted(no_prospect):
        r = by_id[i]
        if r["_reason"] is not None:
            continue
        if r[SYNC_FIELD] != "true":
            cause = "sharing_rule_excludes"
        elif any(c != i for c in linked_email.get(r["Email"].lower(), ())):
            cause = "email_on_other_prospect"
        elif i in unlinked_no_prospect:
            continue  # recorded when planted
        elif _ts(r["CreatedDate"]) > watermark:
            cause = "new_since_last_sync"
        else:
            cause = "unknown"
        truth.append(("not_synced", cause, i, _other_prospect(r, live, cause), SYNC_FIELD if cause == "sharing_rule_excludes" else ""))
    for r in rows:  # values the Pardot fields cannot hold (every record holding one)
        for sf, bad in (("Segment__c", r.get("Segment__c") is not None and r.get("Segment__c") not in PARDOT_SEGMENTS),
                        ("Sansan_Person_Id__c", len(r.get("Sansan_Person_Id__c") or "") > SANSAN_MAX),
                        ("Birthdate", bool(r.get("Birthdate")))):
            if bad:
                truth.append(("field_mapping", "value_does_not_fit", r["Id"], "", sf))
                p = prospect_of.get(r["Id"])
                if p is not None and len(linked_live.get(r["Id"], [])) == 1:
                    truth.append(("not_syncing", "value_does_not_fit", r["Id"], p["id"], sf))
    for f in ("Segment__c", "Sansan_Person_Id__c", "Birthdate"):
        truth.append(("field_mapping", {"Segment__c": "picklist_mismatch", "Sansan_Person_Id__c": "length_mismatch",
                                        "Birthdate": "type_mismatch"}[f], "", "", f))

    out_cols = S.COLUMNS + [SYNC_FIELD]
    rec_table = pa.Table.from_pylist([{c: r.get(c) for c in out_cols} for r in rows],
                                     schema=pa.schema([(c, pa.string()) for c in out_cols]))
    pro_table = pa.Table.from_pylist(prospects, schema=pa.schema([(c, pa.string()) for c in PROSPECT_COLUMNS]))
    truth_rows = sorted(set(truth))
    truth_table = pa.table({c: pa.array([t[j] for t in truth_rows], pa.string()) for j, c in enumerate(TRUTH_COLUMNS)})
    stats = {
        "records": n, "prospects": len(prospects), "linked": len(linked_ids), "watermark": _fmt(watermark),
        "truth": {}, "as_of": _fmt(as_of),
    }
    for t in truth_rows:
        key = f"{t[0]}:{t[1]}"
        stats["truth"][key] = stats["truth"].get(key, 0) + 1
    return {"records": rec_table, "prospects": pro_table, "metadata": sync_metadata(), "truth": truth_table, "stats": stats}


def _other_prospect(r: dict, live: list[dict], cause: str) -> str:
    if cause != "email_on_other_prospect":
        return ""
    ids = sorted((int(p["id"]) for p in live if (p["email"] or "").lower() == r["Email"].lower()
                  and (p["crmContactFid"] or p["crmLeadFid"] or p["salesforceId"])))
    return str(ids[0]) if ids else ""


def sync_metadata() -> dict:
    """Salesforce describe (the mapped fields) and Pardot custom field definitions."""
    def picklist(values: list[str]) -> list[dict]:
        return [{"value": v, "label": v, "active": True} for v in values]

    sf_fields = [
        {"name": "Segment__c", "type": "picklist", "length": 255, "custom": True, "picklistValues": picklist(SEGMENTS)},
        {"name": "LastNameKana__c", "type": "string", "length": 40, "custom": True, "picklistValues": []},
        {"name": "FirstNameKana__c", "type": "string", "length": 40, "custom": True, "picklistValues": []},
        {"name": "Sansan_Person_Id__c", "type": "string", "length": 32, "custom": True, "picklistValues": []},
        {"name": "Birthdate", "type": "date", "length": 0, "custom": False, "picklistValues": []},
        {"name": SYNC_FIELD, "type": "boolean", "length": 0, "custom": True, "picklistValues": []},
    ]
    return {
        "salesforce": {"Lead": {"name": "Lead", "fields": [f for f in sf_fields if f["name"] != "Birthdate"]},
                       "Contact": {"name": "Contact", "fields": sf_fields}},
        "pardot": {"customFields": [
            {"id": 501, "name": "顧客セグメント", "fieldId": "Customer_Segment", "type": "Dropdown",
             "salesforceId": "Segment__c", "isUseValues": True, "values": PARDOT_SEGMENTS, "syncBehavior": "salesforce"},
            {"id": 502, "name": "セイ", "fieldId": "Kana_Last", "type": "Text", "salesforceId": "LastNameKana__c",
             "maxLength": 40, "syncBehavior": "pardot"},
            {"id": 503, "name": "メイ", "fieldId": "Kana_First", "type": "Text", "salesforceId": "FirstNameKana__c",
             "maxLength": 40, "syncBehavior": "salesforce"},
            {"id": 504, "name": "Sansan ID", "fieldId": "Sansan_ID", "type": "Text", "salesforceId": "Sansan_Person_Id__c",
             "maxLength": SANSAN_MAX, "syncBehavior": "most_recent"},
            {"id": 505, "name": "誕生日", "fieldId": "Birthday", "type": "Number", "salesforceId": "Birthdate",
             "syncBehavior": "most_recent"},
        ]},
    }


def write_sync_sample(records: int, seed: int, out_dir: str | Path) -> dict:
    """Write sync_records.csv, sync_prospects.csv, sync_metadata.json, sync_truth.csv into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = generate_sync_sample(records, seed)
    opts = pacsv.WriteOptions(include_header=True)
    paths = {"records": out / "sync_records.csv", "prospects": out / "sync_prospects.csv",
             "metadata": out / "sync_metadata.json", "truth": out / "sync_truth.csv"}
    pacsv.write_csv(s["records"], str(paths["records"]), opts)
    pacsv.write_csv(s["prospects"], str(paths["prospects"]), opts)
    pacsv.write_csv(s["truth"], str(paths["truth"]), opts)
    paths["metadata"].write_text(json.dumps(s["metadata"], ensure_ascii=False, indent=1), encoding="utf-8")
    return {**s["stats"], "paths": {k: str(v) for k, v in paths.items()}}
