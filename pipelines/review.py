"""Review and apply: the analyst's decision, the apply run it triggers, and the nightly schedule.

* Job `review_plan`: launched from the Launchpad with a `ReviewPlanConfig` (plan_id, decision,
  include / exclude cluster ids for a merge plan, include / exclude record ids and include_reasons
  for a sync plan, reviewer, note). The launch is the decision: it is validated (the plan must be
  the latest of its kind and younger than `ReviewSettings.max_age_hours`, every cluster id / record
  id must be in the plan, every reason must select rows) and recorded in the store's
  `plan_decisions`; a refused decision fails the run with the reason.
* Sensor `apply_approved_plans`: one `apply_plan` run per new approval (run_key
  `<plan_id>:<decision_id>`, so a decision is applied once, however often the sensor ticks).
* Job `apply_plan`: applies the approved groups of the kept plan file with `nayose.apply.apply_plan`
  (a sync plan: `flags=` / `deletes=` restricted to the approved rows of the kept flag_plan.csv /
  sync_delete_plan.csv, journaled like merges): a dry run (journal entries with status dry_run) unless the deployment is configured to execute
  (`ReviewSettings.execute` or NAYOSE_APPLY_EXECUTE=1) and Salesforce settings (NAYOSE_SF_*) exist.
* Schedule `nayose_nightly`: extract → plan every night (cron and timezone configurable, default
  02:00 Asia/Tokyo, stopped until switched on) on the source the deployment names in
  NAYOSE_NIGHTLY_SOURCE (salesforce: the salesforce_records extract, then the plan, in one run;
  csv: the csv_paths of NAYOSE_NIGHTLY_RUN_CONFIG; sample: the built-in synthetic org, only when set
  so explicitly). With no source, or an invalid nightly setting, its ticks are skipped with the
  reason (the code location still loads: review_plan and apply_plan stay available). With the
  auto-approval policy switched on, the nightly plan approves its safest groups itself once its
  blocking checks passed (see nayose.review.AutoApprovalPolicy).
* A reject stops the approvals of the plan not applied yet: the sensor launches no apply for them and
  apply_plan skips them; an approval after a reject is refused.
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Sequence

import dagster as dg
from pydantic import Field

from assets.review import (
    TAG_AUTO_APPROVE,
    TAG_AUTO_MAX_RECORDS,
    TAG_AUTO_MIN_PROBABILITY,
    ReviewSettings,
)
from assets.store import NayoseStore
from nayose.errors import NayoseError

SENSOR_INTERVAL_ENV = "NAYOSE_SENSOR_INTERVAL"
CRON_ENV = "NAYOSE_NIGHTLY_CRON"
TIMEZONE_ENV = "NAYOSE_NIGHTLY_TIMEZONE"
AUTO_APPROVE_ENV = "NAYOSE_AUTO_APPROVE"
NIGHTLY_RUN_CONFIG_ENV = "NAYOSE_NIGHTLY_RUN_CONFIG"
NIGHTLY_INCREMENTAL_ENV = "NAYOSE_NIGHTLY_INCREMENTAL"
NIGHTLY_SOURCE_ENV = "NAYOSE_NIGHTLY_SOURCE"
AUTO_MIN_PROBABILITY_ENV = "NAYOSE_AUTO_MIN_PROBABILITY"
AUTO_MAX_RECORDS_ENV = "NAYOSE_AUTO_MAX_RECORDS"
NIGHTLY_SOURCES = ("salesforce", "csv", "sample")
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


# ---------------------------------------------------------------------------------------------
# review_plan


class ReviewPlanConfig(dg.Config):
    """The analyst's decision on a plan (the Launchpad form of the review_plan job)."""

    plan_id: str = Field(
        description="The plan decided on (review/plan_id of merge_plan, or of sync_health for a sync plan; must be the "
        "latest plan of its kind)."
    )
    decision: Literal["approve", "reject", "approve_partial"] = Field(
        description="approve: every group (sync plan: every row); approve_partial: merge plan: include_clusters (else "
        "every group) minus exclude_clusters; sync plan: the rows of include_ids (else all) matching include_reasons "
        "(else any) minus the rows of exclude_ids; reject."
    )
    include_clusters: list[str] = Field(
        default_factory=list,
        description=("approve_partial of a merge plan: the cluster ids approved; a Lead of an existing Account "
                     "(lead_accounts.csv) is converted only when named here as lead_account/<LeadId>."),
    )
    exclude_clusters: list[str] = Field(default_factory=list, description="approve_partial of a merge plan: cluster ids left out.")
    include_ids: list[str] = Field(
        default_factory=list,
        description="approve_partial of a sync plan: the record Ids (flag_plan.csv) / prospect ids (sync_delete_plan.csv) approved.",
    )
    exclude_ids: list[str] = Field(
        default_factory=list, description="approve_partial of a sync plan: record / prospect ids left out."
    )
    include_reasons: list[str] = Field(
        default_factory=list,
        description="approve_partial of a sync plan: only rows with one of these reasons ([flag:|delete:]reason, e.g. "
        "delete:over_cap, flag:billing, exclusion; see sync_health's review/rows_by_reason).",
    )
    reviewer: str = Field(description="Who decides (name or email); recorded with the decision.")
    note: str = Field(default="", description="Why; recorded with the decision.")


def _failure(exc: Exception) -> dg.Failure:
    return dg.Failure(description=str(exc), allow_retries=False)


@dg.op(
    description="Validate the decision against the latest plan and record it in plan_decisions.",
    pool="nayose_store",
)
def record_decision(
    context: dg.OpExecutionContext, config: ReviewPlanConfig, store: NayoseStore, review: ReviewSettings
) -> dict:
    from nayose.review import record_decision as record

    try:
        with store.connect() as con:
            rec = record(
                con, config.plan_id, config.decision,
                include=config.include_clusters, exclude=config.exclude_clusters,
                include_ids=config.include_ids, exclude_ids=config.exclude_ids,
                include_reasons=config.include_reasons,
                reviewer=config.reviewer, note=config.note,
                max_age_hours=review.max_age_hours or None, run_id=context.run.run_id,
            )
    except NayoseError as exc:
        raise _failure(exc) from None
    sync = rec.plan_kind == "sync"
    approved = rec.approved_items if sync else rec.approved_clusters
    context.log.info(
        f"{rec.decision} of {'sync ' if sync else ''}plan {rec.plan_id} by {rec.reviewer}: decision {rec.decision_id}, "
        f"{len(approved)} {'row' if sync else 'group'}(s) approved"
    )
    metadata = {
        "decision_id": dg.MetadataValue.text(rec.decision_id),
        "plan_id": dg.MetadataValue.text(rec.plan_id),
        "decision": dg.MetadataValue.text(rec.decision),
        "reviewer": dg.MetadataValue.text(rec.reviewer),
        "note": dg.MetadataValue.text(rec.note),
    }
    if sync:
        metadata.update({
            "rows_approved": dg.MetadataValue.int(len(rec.approved_items)),
            "approved_rows": dg.MetadataValue.text(", ".join(rec.approved_items[:200])),
            "include_reasons": dg.MetadataValue.text(", ".join(rec.include_reasons)),
        })
    else:
        metadata.update({
            "groups_approved": dg.MetadataValue.int(len(rec.approved_clusters)),
            "approved_clusters": dg.MetadataValue.text(", ".join(rec.approved_clusters[:200])),
        })
    context.log_event(dg.AssetObservation(asset_key="sync_health" if sync else "merge_plan", metadata=metadata))
    return rec.to_dict()


@dg.job(
    description=(
        "Record an analyst's decision on the latest merge or sync plan: approve, approve_partial (merge: include / "
        "exclude cluster ids; sync: include / exclude record ids, include_reasons) or reject. Launching it is the "
        "approval; apply_approved_plans then launches apply_plan."
    ),
    executor_def=dg.in_process_executor,
)
def review_plan():
    record_decision()


# ---------------------------------------------------------------------------------------------
# apply_plan


class ApplyPlanConfig(dg.Config):
    plan_id: str = Field(description="The approved plan.")
    decision_id: str = Field(description="The approval (plan_decisions.decision_id) whose groups are applied.")


def _salesforce_configured() -> bool:
    return any(k.startswith("NAYOSE_SF_") and v.strip() for k, v in os.environ.items())


@dg.op(description=(
    "Apply the approved groups of a merge plan, or the approved flag and prospect delete rows of a sync plan "
    "(dry run unless the deployment executes)."
))
def apply_approved_groups(
    context: dg.OpExecutionContext, config: ApplyPlanConfig, store: NayoseStore, review: ReviewSettings
) -> dict:
    from nayose import apply as applier
    from nayose.review import (approved_sync_rows, approved_work, get_decision, get_plan, plan_rejection,
                               rejected_text, require_checks_passed, verified_document)

    flags: list = []
    deletes: list = []
    conversions: list = []
    groups: list = []
    document: dict = {}
    rejected = None
    try:
        with store.connect() as con:
            decision = get_decision(con, config.decision_id)
            plan = get_plan(con, config.plan_id)
            rejected = plan_rejection(con, config.plan_id) if plan is not None else None
            if plan is not None and decision is not None and decision.plan_id == plan.plan_id \
                    and decision.decision in ("approve", "approve_partial") and rejected is None:
                require_checks_passed(con, plan)  # (an approval is refused otherwise; checked again here)
                # The approved rows, read from the plan files kept when the plan was registered
                # (checked unchanged since: the document applied is the one checked).
                document = verified_document(con, plan)
                if plan.kind == "sync":
                    _, flags, deletes = approved_sync_rows(con, decision)
                else:  # (the groups, and the Lead conversions the analyst named)
                    groups, conversions = approved_work(decision, plan.plan_path)
    except NayoseError as exc:
        raise _failure(exc) from None
    if decision is None or decision.plan_id != config.plan_id:
        raise dg.Failure(description=f"decision {config.decision_id} of plan {config.plan_id} not found", allow_retries=False)
    if decision.decision not in ("approve", "approve_partial"):
        raise dg.Failure(description=f"decision {decision.decision_id} is a {decision.decision}, nothing to apply", allow_retries=False)
    if plan is None:
        raise dg.Failure(description=f"plan {config.plan_id} is not registered in {store.database}", allow_retries=False)
    if rejected is not None:
        # A reject revokes the approvals of the plan not applied yet (this one was launched before it).
        text = (f"not applied: {rejected_text(rejected)} after approval {decision.decision_id} "
                f"({decision.decided_at:%Y-%m-%d %H:%M:%S %Z}, by {decision.reviewer})")
        context.log.warning(text)
        context.add_output_metadata({
            "plan_id": dg.MetadataValue.text(plan.plan_id),
            "decision_id": dg.MetadataValue.text(decision.decision_id),
            "mode": dg.MetadataValue.text("skipped: plan rejected"),
            "skipped": dg.MetadataValue.text(text),
        })
        return {"skipped": text, "plan_id": plan.plan_id, "decision_id": decision.decision_id,
                "rejected_by": rejected.reviewer, "rejected_at": rejected.decided_at.isoformat(),
                "reject_decision_id": rejected.decision_id}

    execute = review.execute_requested()
    sf = None
    if execute and not _salesforce_configured():
        context.log.warning("execution requested but no Salesforce settings (NAYOSE_SF_*): dry run")
        execute = False
    sync = plan.kind == "sync"
    pardot = None
    if execute:
        from nayose.salesforce import connect, settings_from_env

        try:
            sf = connect(settings_from_env())
            if any(r["object"] == "Prospect" for r in deletes):
                from nayose.pardot import PardotClient, pardot_settings_from_env

                pardot = PardotClient(pardot_settings_from_env(), sf=sf)
        except NayoseError as exc:
            raise _failure(exc) from None
    journal = review.journal_path(store.database)
    what = (f"{len(flags)} flag row(s) and {len(deletes)} prospect delete(s) of sync plan" if sync
            else f"{len(groups)} group(s) and {len(conversions)} lead conversion(s) of plan")
    context.log.info(
        f"{'executing' if execute else 'dry run of'} {what} {plan.plan_id} ({plan.plan_path}); journal {journal}"
    )
    try:
        if sync:
            report = applier.apply_plan(
                document, journal_db=str(journal), sf=sf, pardot=pardot, execute=execute,
                clusters=[], flags=flags, deletes=deletes,
            )
        else:
            report = applier.apply_plan(
                document, journal_db=str(journal), sf=sf, execute=execute,
                clusters=groups, deletes=None, lead_conversions=conversions or None,
            )
    except NayoseError as exc:
        raise _failure(exc) from None
    result = report.to_dict()
    metadata = {
        "plan_id": dg.MetadataValue.text(plan.plan_id),
        "plan_kind": dg.MetadataValue.text(plan.kind),
        "decision_id": dg.MetadataValue.text(decision.decision_id),
        "mode": dg.MetadataValue.text("execute" if execute else "dry_run"),
        "journal_db": dg.MetadataValue.path(str(journal)),
        "report": dg.MetadataValue.json(json.loads(json.dumps(result, default=str))),
    }
    if sync:
        metadata.update({"flags_approved": dg.MetadataValue.int(len(flags)),
                         "deletes_approved": dg.MetadataValue.int(len(deletes))})
    else:
        metadata["groups_approved"] = dg.MetadataValue.int(len(groups))
        metadata["lead_conversions_approved"] = dg.MetadataValue.int(len(conversions))
    context.add_output_metadata(metadata)
    return result


@dg.job(
    description=(
        "Apply an approved plan's groups, or a sync plan's approved flag and prospect delete rows (launched by the "
        "sensor apply_approved_plans; journaled; dry run by default)."
    ),
    executor_def=dg.in_process_executor,
)
def apply_plan():
    apply_approved_groups()


# ---------------------------------------------------------------------------------------------
# The sensor


def _sensor_interval() -> int:
    try:
        return max(int(os.environ.get(SENSOR_INTERVAL_ENV, "30")), 1)
    except ValueError:
        return 30


def approval_run_requests(
    store: NayoseStore, cursor: str | None, skipped: list[str] | None = None
) -> tuple[list[dg.RunRequest], str | None]:
    """RunRequests for the approvals decided after the cursor (an ISO timestamp); the new cursor.
    Approvals of a plan rejected since are not launched (described in `skipped`, when given)."""
    from nayose.review import approvals_since, plan_rejection, rejected_text
    from nayose.store import connect

    if not store.database_path.is_file():
        return [], cursor
    from nayose.lock import reader_lock

    after = datetime.fromisoformat(cursor) if cursor else None
    # A shared hold on the store lock: skip the tick while a run writes, and keep a run that starts
    # meanwhile waiting until this short read is done (DuckDB admits no writer beside a reader).
    with reader_lock(store.database_path):
        con = connect(store.database_path, read_only=True)
        try:
            found = approvals_since(con, after)
            rejections = {pid: plan_rejection(con, pid) for pid in {d.plan_id for d in found}}
        finally:
            con.close()
            del con
    new_cursor = max((d.decided_at for d in found), default=None)
    for d in found:
        if rejections.get(d.plan_id) is not None and skipped is not None:
            skipped.append(f"approval {d.decision_id} not applied: {rejected_text(rejections[d.plan_id])}")
    found = [d for d in found if rejections.get(d.plan_id) is None]
    requests = [
        dg.RunRequest(
            run_key=d.run_key,
            run_config={"ops": {"apply_approved_groups": {"config": {"plan_id": d.plan_id, "decision_id": d.decision_id}}}},
            tags={"nayose/plan_id": d.plan_id, "nayose/decision_id": d.decision_id, "nayose/reviewer": d.reviewer,
                  "nayose/plan_kind": d.plan_kind},
        )
        for d in found
    ]
    return requests, (new_cursor.isoformat() if new_cursor else cursor)


@dg.sensor(
    job=apply_plan,
    minimum_interval_seconds=_sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Launches apply_plan once for each new approval recorded by review_plan (run_key plan_id:decision_id). "
        f"Interval from {SENSOR_INTERVAL_ENV} (default 30 s)."
    ),
)
def apply_approved_plans(context: dg.SensorEvaluationContext, store: NayoseStore):
    skipped: list[str] = []
    try:
        requests, cursor = approval_run_requests(store, context.cursor, skipped)
    except NayoseError as exc:
        # The store is being written (DuckDB admits no reader beside another process's writer): next tick.
        return dg.SkipReason(f"store not readable now: {exc}")
    if cursor != context.cursor and cursor is not None:
        context.update_cursor(cursor)
    for text in skipped:
        context.log.warning(text)
    if not requests:
        return dg.SkipReason("; ".join(skipped) if skipped else "no new approval")
    return requests


# ---------------------------------------------------------------------------------------------
# The nightly schedule


def _switch(env, name: str, default: bool, errors: list[str]) -> bool:
    raw = str(env.get(name, "")).strip()
    if not raw:
        return default
    if raw.lower() in _ON:
        return True
    if raw.lower() in _OFF:
        return False
    errors.append(f"{name}={raw!r}: not a switch (on: {'/'.join(_ON)}; off: {'/'.join(_OFF)})")
    return default


def _valid_cron(cron: str) -> bool:
    try:
        from dagster._utils.schedules import is_valid_cron_string
    except ImportError:  # (a Dagster without the helper: the schedule's construction checks it)
        return True
    return is_valid_cron_string(cron)


def _valid_timezone(tz: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(tz)
    except Exception:  # (ZoneInfoNotFoundError, ValueError for odd keys)
        return False
    return True


@dataclass
class NightlySettings:
    """When the nightly run starts and what it does (defaults from the environment, see from_env).

    An invalid setting does not raise: it is listed in `errors` (naming the variable and its value),
    the default is kept, and the schedule skips every tick with those errors until they are fixed."""

    cron: str = "0 2 * * *"
    timezone: str = "Asia/Tokyo"
    auto_approve: bool = False
    auto_min_probability: float = 0.999
    auto_max_records: int = 3
    run_config: dict = field(default_factory=dict)
    # Match incrementally (raw_records' `incremental` run config): only what changed since the last
    # run; a full run when there is none or the config changed (nayose.incremental).
    incremental: bool = True
    # Where the nightly records come from (NAYOSE_NIGHTLY_SOURCE, or the run config's raw_records
    # source): salesforce, csv or sample. None: not configured, the schedule does not run.
    source: str | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "NightlySettings":
        env = os.environ if environ is None else environ
        s = cls()
        errors = s.errors
        cron = str(env.get(CRON_ENV, "")).strip()
        if cron:
            if _valid_cron(cron):
                s.cron = cron
            else:
                errors.append(f"{CRON_ENV}={cron!r}: not a valid cron schedule (five fields, e.g. '0 2 * * *')")
        tz = str(env.get(TIMEZONE_ENV, "")).strip()
        if tz:
            if _valid_timezone(tz):
                s.timezone = tz
            else:
                errors.append(f"{TIMEZONE_ENV}={tz!r}: not an IANA time zone (e.g. 'Asia/Tokyo', 'UTC')")
        s.auto_approve = _switch(env, AUTO_APPROVE_ENV, False, errors)
        raw = str(env.get(AUTO_MIN_PROBABILITY_ENV, "")).strip()
        if raw:
            try:
                value = float(raw)
                if not 0.0 < value <= 1.0:
                    raise ValueError
                s.auto_min_probability = value
            except ValueError:
                errors.append(f"{AUTO_MIN_PROBABILITY_ENV}={raw!r}: not a probability in (0, 1], e.g. 0.999")
        raw = str(env.get(AUTO_MAX_RECORDS_ENV, "")).strip()
        if raw:
            try:
                value = int(raw)
                if not 2 <= value <= 3:
                    raise ValueError
                s.auto_max_records = value
            except ValueError:
                errors.append(f"{AUTO_MAX_RECORDS_ENV}={raw!r}: must be 2 or 3 (records of one Salesforce merge)")
        s.incremental = _switch(env, NIGHTLY_INCREMENTAL_ENV, True, errors)
        raw = str(env.get(NIGHTLY_RUN_CONFIG_ENV, "")).strip()
        if raw:
            try:
                cfg = json.loads(raw)
                if not isinstance(cfg, dict):
                    raise ValueError("not a JSON object")
                s.run_config = cfg
            except ValueError as exc:
                errors.append(f"{NIGHTLY_RUN_CONFIG_ENV}={raw[:80]!r}: not a JSON object of run config ({exc})")
        configured = (((s.run_config.get("ops") or {}).get("raw_records") or {}).get("config") or {}).get("source")
        raw = str(env.get(NIGHTLY_SOURCE_ENV, "")).strip().lower()
        if raw and raw not in NIGHTLY_SOURCES:
            errors.append(f"{NIGHTLY_SOURCE_ENV}={raw!r}: not a source (one of {', '.join(NIGHTLY_SOURCES)})")
        elif raw and configured and configured != raw:
            errors.append(f"{NIGHTLY_SOURCE_ENV}={raw!r} and {NIGHTLY_RUN_CONFIG_ENV}'s raw_records source "
                          f"{configured!r} disagree: set one of them")
        else:
            s.source = raw or configured or None
        if s.source == "csv":
            paths = ((s.run_config.get("ops") or {}).get("raw_records") or {}).get("config", {}).get("csv_paths")
            if not paths:
                errors.append(f"{NIGHTLY_SOURCE_ENV}=csv needs the files: csv_paths in {NIGHTLY_RUN_CONFIG_ENV} "
                              '(e.g. {"ops": {"raw_records": {"config": {"csv_paths": ["/data/export.csv"]}}}})')
        return s

    @property
    def extracts(self) -> bool:
        """Whether the nightly run extracts from Salesforce before it plans."""
        return self.source == "salesforce"

    def not_runnable(self) -> str | None:
        """Why the nightly run cannot start (None: it can)."""
        if self.errors:
            return ("nightly run not started: invalid setting(s): " + "; ".join(self.errors)
                    + ". Fix the code location's environment and reload it.")
        if self.source is None:
            return (f"nightly run not started: no source configured. Set {NIGHTLY_SOURCE_ENV}=salesforce (extract, "
                    f"then plan) or {NIGHTLY_SOURCE_ENV}=csv (with csv_paths in {NIGHTLY_RUN_CONFIG_ENV}); the built-in "
                    f"synthetic sample org runs only when {NIGHTLY_SOURCE_ENV}=sample is set explicitly (its plan "
                    "would become the latest plan and outdate the one under review).")
        return None

    def job_run_config(self) -> dict:
        """The run config of the nightly run: `run_config` with raw_records' `source` and `incremental`
        flag (unless `run_config` sets them itself)."""
        cfg = json.loads(json.dumps(self.run_config))
        ops = cfg.setdefault("ops", {})
        raw = ops.setdefault("raw_records", {}).setdefault("config", {})
        if self.source:
            raw.setdefault("source", self.source)
        raw.setdefault("incremental", self.incremental)
        if not self.extracts:
            ops.pop("salesforce_records", None)  # (not part of the run)
        return cfg

    def tags(self) -> dict[str, str]:
        tags = {"nayose/trigger": "nightly", "nayose/source": str(self.source)}
        if self.auto_approve:
            tags.update({
                TAG_AUTO_APPROVE: "true",
                TAG_AUTO_MIN_PROBABILITY: repr(float(self.auto_min_probability)),
                TAG_AUTO_MAX_RECORDS: str(int(self.auto_max_records)),
            })
        return tags


def nightly_schedule(
    job,
    settings: NightlySettings | None = None,
    name: str = "nayose_nightly",
    plan_assets: Sequence[dg.AssetKey] | None = None,
    plan_checks: Sequence[dg.AssetCheckKey] | None = None,
) -> dg.ScheduleDefinition:
    """The nightly extract → plan run of `job` (stopped until switched on in the UI).

    `job` holds the extract (salesforce_records) and the plan assets; a night on another source than
    salesforce runs only `plan_assets` with their checks `plan_checks` (when given). Invalid settings
    or no source: the schedule is still defined (with the default cron / timezone where those are
    invalid), its description names the problem, and every tick is skipped with it."""
    s = settings or NightlySettings.from_env()
    try:
        return _nightly_schedule(job, s, name, plan_assets, plan_checks, s.cron, s.timezone, s.not_runnable())
    except dg.DagsterInvalidDefinitionError as exc:  # (a cron / timezone the checks above let through)
        problem = (f"nightly run not started: {CRON_ENV}={s.cron!r} / {TIMEZONE_ENV}={s.timezone!r} refused by "
                   f"Dagster ({exc}). Fix the code location's environment and reload it.")
        defaults = NightlySettings()
        return _nightly_schedule(job, s, name, plan_assets, plan_checks, defaults.cron, defaults.timezone, problem)


def _nightly_schedule(job, s: NightlySettings, name: str, plan_assets, plan_checks, cron: str, timezone: str,
                      problem: str | None) -> dg.ScheduleDefinition:
    where = {"salesforce": "Salesforce (salesforce_records, then the plan)", "csv": "the CSV files of the run config",
             "sample": "the built-in synthetic sample org (set explicitly)"}.get(s.source or "", "no source")

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            (f"NOT RUNNING: {problem} " if problem else "")
            + f"Extract and plan every night ({cron}, {timezone}; {CRON_ENV} / {TIMEZONE_ENV}); stopped until "
            f"switched on. Source: {where} ({NIGHTLY_SOURCE_ENV}). Auto-approval policy "
            f"{'on' if s.auto_approve else 'off'} ({AUTO_APPROVE_ENV}). Matching "
            f"{'incremental' if s.incremental else 'in full'} ({NIGHTLY_INCREMENTAL_ENV})."
        ),
    )
    def _nightly(context: dg.ScheduleEvaluationContext):
        if problem:
            return dg.SkipReason(problem)
        when = context.scheduled_execution_time
        selection = {}
        if not s.extracts and plan_assets is not None:
            selection = {"asset_selection": list(plan_assets), "asset_check_keys": list(plan_checks or [])}
        return dg.RunRequest(
            run_key=f"nightly:{when.isoformat()}" if when else None,
            run_config=s.job_run_config(),
            tags=s.tags(),
            **selection,
        )

    return _nightly


REVIEW_JOBS = [review_plan, apply_plan]
REVIEW_SENSORS = [apply_approved_plans]
