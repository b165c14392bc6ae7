"""Put the sync sample (`nayose.sample_sync.generate_sync_sample`) into a running fake org, so the
extract → sync health loop runs against an org that contains every planted problem on purpose.

    sample = generate_sync_sample(2000, 42)
    with FakeOrg(OrgStore()) as org:
        seeded = seed_sync_sample(org, sample)
        metadata = extract_sync_metadata(sf, pardot, config, supplement=seeded["supplement"])

What goes where:

* **Records** (Leads, Contacts) into the store with their Ids and timestamps (SystemModstamp =
  LastModifiedDate); blank values are left out, checkbox texts become booleans.
* **Accounts**: one per Contact ``AccountId`` (named by the Contact's ``Account.Name``; a Contact with
  a name but no AccountId gets a new Account), so ``Account.Name`` comes back through the relationship.
* **Field metadata**: every Salesforce field of the sample's describe is declared with
  `FakeOrg.define_field` (type, length, picklist values) on its object, so describe answers as the
  sample's org would (not inferred from the values).
* **Prospects** into the Pardot side with their ids and timestamps; recycled ones (``isDeleted``) go
  to the Pardot recycle bin.
* **Custom field definitions** into `OrgStore.pardot_custom_fields` with only what the v5
  custom-field object has (name, fieldId, type, salesforceId, isUseValues). The rest of the sample's
  definitions — predefined values, maximum length, sync behaviour, which the API does not expose —
  is returned as ``supplement`` (the metadata JSON format), the part an operator supplies from the
  Account Engagement field settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nayose.fakeorg.store import OrgStore

if TYPE_CHECKING:  # pragma: no cover
    from nayose.fakeorg.server import FakeOrg

BOOLEAN_FIELDS = ("HasOptedOutOfEmail", "Pardot_Sync__c", "DoNotCall")
PROSPECT_BOOLEANS = ("optedOut", "isDoNotEmail", "isEmailHardBounced", "isDoNotCall")
#: attributes of a custom field definition the v5 custom-fields object serves
API_CUSTOM_FIELD_KEYS = ("id", "name", "fieldId", "type", "salesforceId", "isRequired", "isRecordMultipleResponses",
                         "isUseValues")
NOT_IN_API = ("values", "maxLength", "syncBehavior")


def _bool(v: Any) -> Any:
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return v


def _rows(table: Any) -> list[dict]:
    return table.to_pylist() if hasattr(table, "to_pylist") else [dict(r) for r in table]


def seed_sync_sample(org: "FakeOrg", sample: dict) -> dict:
    """Load `sample` ({'records', 'prospects', 'metadata'} of `generate_sync_sample`) into `org`;
    returns counts and the ``supplement`` (custom field settings the Pardot API does not give)."""
    store: OrgStore = org.store
    meta = sample.get("metadata") or {}
    # field metadata first, so describe types follow the definitions
    for obj, desc in (meta.get("salesforce") or {}).items():
        for f in (desc or {}).get("fields") or []:
            org.define_field(obj, f["name"], type=f.get("type") or "string", length=int(f.get("length") or 0),
                             picklist_values=[str(v.get("value")) for v in f.get("picklistValues") or []
                                              if isinstance(v, dict) and v.get("active", True)])
    rows = _rows(sample["records"])
    accounts: dict[str, dict] = {}
    by_name: dict[str, str] = {}
    exported = {r["Id"] for r in rows if r.get("Object") == "Account"}  # (an Account export's rows are loaded as they are)
    for r in rows:
        if r.get("Object") != "Contact" or not (r.get("AccountId") or r.get("Account.Name")):
            continue
        if r.get("AccountId") in exported:
            continue
        aid = r.get("AccountId")
        if not aid:
            aid = by_name.get(r["Account.Name"]) or store.new_id("Account")
            by_name[r["Account.Name"]] = aid
            r["AccountId"] = aid
        created = r.get("CreatedDate")
        acc = accounts.setdefault(aid, {"Id": aid, "Name": r.get("Account.Name"), "CreatedDate": created,
                                        "LastModifiedDate": created, "SystemModstamp": created})
        if acc["Name"] is None and r.get("Account.Name"):
            acc["Name"] = r["Account.Name"]
        if created and (acc["CreatedDate"] is None or created < acc["CreatedDate"]):
            acc.update({"CreatedDate": created, "LastModifiedDate": created, "SystemModstamp": created})
    store.load_records([{k: v for k, v in a.items() if v is not None} for a in accounts.values()])
    records = []
    for r in rows:
        rec = {k: (_bool(v) if k in BOOLEAN_FIELDS else v) for k, v in r.items()
               if v not in (None, "") and "." not in k}
        rec.setdefault("SystemModstamp", rec.get("LastModifiedDate"))
        records.append(rec)
    n_records = store.load_records(records)
    n_prospects = 0
    with store.lock:
        for p in _rows(sample["prospects"]):
            pro = {k: (_bool(v) if k in PROSPECT_BOOLEANS else v) for k, v in p.items() if v not in (None, "")}
            deleted = _bool(pro.pop("isDeleted", False)) is True
            pro["id"] = int(pro["id"])
            pid = store.insert_prospect(pro)
            if deleted:
                store.prospects[pid]["isDeleted"] = True
                store.prospect_recycle_bin.add(pid)
            n_prospects += 1
    supplement = []
    for cf in (meta.get("pardot") or {}).get("customFields") or []:
        store.insert_custom_field({k: cf[k] for k in API_CUSTOM_FIELD_KEYS if k in cf})
        extra = {k: cf[k] for k in NOT_IN_API if k in cf}
        if extra:
            supplement.append({"fieldId": cf["fieldId"], **extra})
    org.schema.invalidate()
    return {"records": n_records, "accounts": len(accounts), "prospects": n_prospects,
            "custom_fields": len(store.pardot_custom_fields), "supplement": {"pardot": {"customFields": supplement}}}
