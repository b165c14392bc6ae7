"""Salesforce and Pardot as Dagster resources and assets.

    salesforce_records   Lead / Contact / Account from the org into the store (sf_records,
                         sf_deleted, extract_watermarks), incrementally by SystemModstamp, and the
                         Data Loader style CSV <data dir>/salesforce_records.csv that raw_records
                         loads with source "salesforce".
    pardot_prospects     Account Engagement prospects (pardot_prospects) joined to the extracted
                         records (prospect_links).

Both run in their own jobs (`salesforce_extract_job`, `pardot_extract_job`), so the matching job
keeps working with no Salesforce configured: raw_records(source="salesforce") reads the CSV the
last salesforce_records materialization wrote.

Secrets: every credential of `SalesforceResource` / `PardotResource` comes from the environment
through `dg.EnvVar` (see `salesforce_resource_from_env` / `pardot_resource_from_env`, used by
pipelines/definitions.py), so run config, the UI and the event log only ever show variable
names. Nothing secret is put in metadata or logs; errors are scrubbed by the engine.
"""

# No `from __future__ import annotations`: Dagster reads resource and config types at definition time.

import json
import os
from typing import Any, Literal, Optional

import dagster as dg
from pydantic import Field

from assets.metadata import md_table
from assets.store import NayoseStore
from nayose.errors import NayoseError

GROUP = "salesforce"
POOL = "nayose_store"
KINDS = {"salesforce", "duckdb"}

#: Resource field -> environment variable, for the fields bound with dg.EnvVar.
SALESFORCE_ENV = {
    "auth": "NAYOSE_SF_AUTH",
    "login_url": "NAYOSE_SF_LOGIN_URL",
    "instance_url": "NAYOSE_SF_INSTANCE_URL",
    "session_id": "NAYOSE_SF_SESSION_ID",
    "username": "NAYOSE_SF_USERNAME",
    "password": "NAYOSE_SF_PASSWORD",
    "security_token": "NAYOSE_SF_SECURITY_TOKEN",
    "consumer_key": "NAYOSE_SF_CONSUMER_KEY",
    "consumer_secret": "NAYOSE_SF_CONSUMER_SECRET",
    "private_key": "NAYOSE_SF_PRIVATE_KEY",
    "private_key_file": "NAYOSE_SF_PRIVATE_KEY_FILE",
    "api_version": "NAYOSE_SF_API_VERSION",
    "ca_bundle": "NAYOSE_SF_CA_BUNDLE",
}
PARDOT_ENV = {
    "base_url": "NAYOSE_PARDOT_BASE_URL",
    "business_unit_id": "NAYOSE_PARDOT_BUSINESS_UNIT_ID",
    "access_token": "NAYOSE_PARDOT_ACCESS_TOKEN",
    "ca_bundle": "NAYOSE_PARDOT_CA_BUNDLE",
}


class SalesforceResource(dg.ConfigurableResource):
    """The Salesforce org to extract from. Bind secrets with dg.EnvVar, never as literals."""

    auth: str = Field(default="auto", description="auto | session | password | jwt")
    login_url: str = Field(default="https://login.salesforce.com", description="Login URL (My Domain / test / login)")
    instance_url: Optional[str] = Field(default=None, description="Instance URL (session-id auth)")
    session_id: Optional[str] = Field(default=None, description="Secret: session id / access token (EnvVar)")
    username: Optional[str] = None
    password: Optional[str] = Field(default=None, description="Secret (EnvVar)")
    security_token: Optional[str] = Field(default=None, description="Secret (EnvVar)")
    consumer_key: Optional[str] = Field(default=None, description="Connected app consumer key (JWT / OAuth)")
    consumer_secret: Optional[str] = Field(default=None, description="Secret (EnvVar): OAuth password grant")
    private_key: Optional[str] = Field(default=None, description="Secret (EnvVar): PEM of the JWT signing key")
    private_key_file: Optional[str] = Field(default=None, description="Path of the JWT signing key (PEM)")
    api_version: str = "62.0"
    ca_bundle: Optional[str] = Field(default=None, description="CA bundle for TLS verification")
    timeout: float = 60.0
    max_retries: int = 4
    backoff_factor: float = 0.5

    def settings(self):
        from nayose.salesforce import make_settings

        values = {k: getattr(self, k) for k in (
            "auth", "login_url", "instance_url", "session_id", "username", "password", "security_token",
            "consumer_key", "consumer_secret", "private_key", "private_key_file", "api_version", "ca_bundle",
            "timeout", "max_retries", "backoff_factor",
        )}
        return make_settings(**{k: v for k, v in values.items() if v not in (None, "")})

    def connect(self):
        """A logged-in simple_salesforce client (errors as dg.Failure, scrubbed of secrets)."""
        from nayose.salesforce import connect

        try:
            return connect(self.settings())
        except NayoseError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None


class PardotResource(dg.ConfigurableResource):
    """The Account Engagement business unit. The token defaults to the Salesforce session's."""

    base_url: str = Field(default="https://pi.pardot.com", description="https://pi.pardot.com or https://pi.demo.pardot.com")
    business_unit_id: Optional[str] = Field(default=None, description="Business unit id (0Uv...)")
    access_token: Optional[str] = Field(default=None, description="Secret (EnvVar); default: the Salesforce session")
    ca_bundle: Optional[str] = None
    timeout: float = 60.0
    max_retries: int = 4
    backoff_factor: float = 0.5

    def client(self, salesforce: Optional[SalesforceResource] = None):
        from nayose.pardot import PardotClient, PardotSettings
        from pydantic import ValidationError

        if not self.business_unit_id:
            raise dg.Failure(description="Pardot is not configured: set NAYOSE_PARDOT_BUSINESS_UNIT_ID", allow_retries=False)
        values: dict[str, Any] = {
            "base_url": self.base_url, "business_unit_id": self.business_unit_id, "timeout": self.timeout,
            "max_retries": self.max_retries, "backoff_factor": self.backoff_factor,
        }
        if self.access_token:
            values["access_token"] = self.access_token
        ca = self.ca_bundle or (salesforce.ca_bundle if salesforce is not None else None)
        if ca:
            values["ca_bundle"] = ca
        try:
            settings = PardotSettings(**values)
        except ValidationError as exc:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
            raise dg.Failure(description=f"invalid Pardot settings: {msgs}", allow_retries=False) from None
        sf = None
        if not self.access_token:
            if salesforce is None:
                raise dg.Failure(description="Pardot needs NAYOSE_PARDOT_ACCESS_TOKEN or a Salesforce connection")
            sf = salesforce.connect()
        try:
            return PardotClient(settings, sf=sf)
        except NayoseError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None


def _bind(cls, env_map: dict[str, str], environ=None):
    """A resource whose fields are dg.EnvVar(...) for each variable set in the environment now
    (an EnvVar naming an unset variable fails the run, and most credentials are optional)."""
    env = os.environ if environ is None else environ
    kwargs = {field: dg.EnvVar(var) for field, var in env_map.items() if (env.get(var) or "").strip()}
    return cls(**kwargs)


def salesforce_resource_from_env(environ=None) -> SalesforceResource:
    return _bind(SalesforceResource, SALESFORCE_ENV, environ)


def pardot_resource_from_env(environ=None) -> PardotResource:
    return _bind(PardotResource, PARDOT_ENV, environ)


class SalesforceExtractConfig(dg.Config):
    """Run config of salesforce_records."""

    objects: list[str] = Field(default_factory=lambda: ["Lead", "Contact", "Account"], description="sObjects to extract")
    mode: Literal["auto", "rest", "bulk"] = Field(
        default="auto", description="auto: Bulk API 2.0 from bulk_threshold records on, REST below"
    )
    bulk_threshold: int = Field(default=10_000, ge=0)
    bulk_page_size: int = Field(default=50_000, ge=1, description="Bulk 2.0 result page size (maxRecords)")
    bulk_poll_seconds: float = Field(default=2.0, gt=0, description="Bulk 2.0 job status poll interval")
    incremental: bool = Field(default=True, description="Only records changed after the stored watermark")
    fields: dict[str, list[str]] = Field(
        default_factory=dict, description="Fields per object (default: nayose's standard fields + custom fields)"
    )


class PardotExtractConfig(dg.Config):
    fields: list[str] = Field(default_factory=list, description="Prospect fields (default: nayose's list)")
    incremental: bool = True
    page_size: int = Field(default=1000, ge=1, le=1000)


def _json(data: Any) -> dg.MetadataValue:
    return dg.MetadataValue.json(json.loads(json.dumps(data, ensure_ascii=False, default=str)))


@dg.asset(
    group_name=GROUP,
    kinds=KINDS,
    pool=POOL,
    description=(
        "Leads, Contacts and Accounts extracted from Salesforce (REST or Bulk API 2.0, incremental by "
        "SystemModstamp; deleted and merged-away records from queryAll) into sf_records / sf_deleted, and "
        "the Data Loader style CSV that raw_records loads with source 'salesforce'."
    ),
)
def salesforce_records(
    context: dg.AssetExecutionContext,
    config: SalesforceExtractConfig,
    store: NayoseStore,
    salesforce: SalesforceResource,
) -> dg.MaterializeResult:
    from nayose.extract import RECORDS, SALESFORCE_CSV, extract_salesforce, matching_objects, write_records_csv

    sf = salesforce.connect()
    csv_path = store.data_dir / SALESFORCE_CSV
    try:
        with store.connect() as con:
            result = extract_salesforce(
                sf, con, objects=config.objects, fields=config.fields or None, mode=config.mode,
                bulk_threshold=config.bulk_threshold, incremental=config.incremental,
                bulk_page_size=config.bulk_page_size, bulk_poll_seconds=config.bulk_poll_seconds, log=context.log,
            )
            rows = write_records_csv(con, csv_path, matching_objects(con))
            deleted_total = con.execute("SELECT count(*) FROM sf_deleted").fetchall()[0][0]
    except NayoseError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    summary = result.to_dict()
    for o in summary["objects"].values():
        o.pop("fields", None)
    summary["csv"] = str(csv_path)
    summary["rows"] = rows
    (csv_path.with_suffix(".json")).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    table = md_table(
        ["object", "mode", "pulled", "new", "changed", "deleted", "merged", "removed", "rows", "watermark"],
        [
            (o.object, o.mode, o.pulled, o.new, o.changed, o.deleted, o.merged, o.removed, o.rows, o.watermark)
            for o in result.objects.values()
        ],
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(int(rows)),
        "dagster/table_name": dg.MetadataValue.text(f"{store.database_path.stem}.main.{RECORDS}"),
        "objects": dg.MetadataValue.md(table),
        "rows_per_object": _json({k: v.rows for k, v in result.objects.items()}),
        "new": dg.MetadataValue.int(sum(o.new for o in result.objects.values())),
        "changed": dg.MetadataValue.int(sum(o.changed for o in result.objects.values())),
        "deleted": dg.MetadataValue.int(sum(o.deleted for o in result.objects.values())),
        "deleted_known": dg.MetadataValue.int(int(deleted_total)),
        "watermarks": _json({k: v.watermark for k, v in result.objects.items()}),
        "api_calls": dg.MetadataValue.int(result.api_calls),
        "csv": dg.MetadataValue.path(str(csv_path)),
        "seconds": dg.MetadataValue.float(float(result.seconds)),
    }
    if result.api_usage:
        used, limit = result.api_usage
        metadata["api_usage"] = dg.MetadataValue.text(f"{used:,} / {limit:,} daily API requests")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"pardot", "duckdb"},
    pool=POOL,
    deps=[salesforce_records],
    description=(
        "Account Engagement (Pardot) prospects through API v5 (incremental by updatedAt; prospects sent to the "
        "recycle bin are removed), joined to the extracted Salesforce records by CRM id and by email "
        "(prospect_links)."
    ),
)
def pardot_prospects(
    context: dg.AssetExecutionContext,
    config: PardotExtractConfig,
    store: NayoseStore,
    salesforce: SalesforceResource,
    pardot: PardotResource,
) -> dg.MaterializeResult:
    from nayose.pardot import DEFAULT_PROSPECT_FIELDS, PROSPECTS, extract_pardot, join_prospects

    client = pardot.client(salesforce)
    try:
        with store.connect() as con:
            res = extract_pardot(
                client, con, fields=config.fields or DEFAULT_PROSPECT_FIELDS,
                incremental=config.incremental, page_size=config.page_size,
            )
            links = join_prospects(con)
    except NayoseError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log.info(
        f"prospects: {res.pulled} pulled ({res.new} new, {res.changed} changed), {res.deleted} deleted, "
        f"{res.rows} rows; links {links}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(int(res.rows)),
            "dagster/table_name": dg.MetadataValue.text(f"{store.database_path.stem}.main.{PROSPECTS}"),
            "pulled": dg.MetadataValue.int(res.pulled),
            "new": dg.MetadataValue.int(res.new),
            "changed": dg.MetadataValue.int(res.changed),
            "deleted": dg.MetadataValue.int(res.deleted),
            "pages": dg.MetadataValue.int(res.pages),
            "watermark": dg.MetadataValue.text(res.watermark or ""),
            "links": dg.MetadataValue.md(md_table(["match", "prospects"], sorted(links.items()))),
            "api_calls": dg.MetadataValue.int(client.api_calls),
            "seconds": dg.MetadataValue.float(float(res.seconds)),
        }
    )


SALESFORCE_ASSETS = [salesforce_records, pardot_prospects]

salesforce_extract_job = dg.define_asset_job(
    name="salesforce_extract_job",
    selection=dg.AssetSelection.assets(salesforce_records),
    executor_def=dg.in_process_executor,
    description=(
        "Extract Leads / Contacts / Accounts from Salesforce (incremental) and write the CSV that raw_records "
        "loads with source 'salesforce'."
    ),
)
pardot_extract_job = dg.define_asset_job(
    name="pardot_extract_job",
    selection=dg.AssetSelection.assets(salesforce_records, pardot_prospects),
    executor_def=dg.in_process_executor,
    description="Extract Salesforce records, then the Pardot prospects, and link the two by CRM id and email.",
)
SALESFORCE_JOBS = [salesforce_extract_job, pardot_extract_job]
