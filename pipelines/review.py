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
  02:00 Asia/Tokyo, stopped until switched on); with the auto-approval policy switched on, the
  nightly plan approves its safest groups itself (see nayose.review.AutoApprovalPolicy).
"""

# No `from __future__ import annotations`: Dagster reads the config and resource types of the
# decorated functions at definition time.

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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
    from nayose.review import approved_sync_rows, approved_work, get_decision, get_plan, verified_document

    flags: list = []
    deletes: list = []
    conversions: list = []
    groups: list = []
    document: dict = {}
    try:
        with store.connect() as con:
            decision = get_decision(con, config.decision_id)
            plan = get_plan(con, config.plan_id)
            if plan is not None and decision is not None and decision.plan_id == plan.plan_id \
                    and decision.decision in ("approve", "approve_partial"):
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


def approval_run_requests(store: NayoseStore, cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
    """RunRequests for the approvals decided after the cursor (an ISO timestamp); the new cursor."""
    from nayose.review import approvals_since
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
        finally:
            con.close()
            del con
    requests = [
        dg.RunRequest(
            run_key=d.run_key,
            run_config={"ops": {"apply_approved_groups": {"config": {"plan_id": d.plan_id, "decision_id": d.decision_id}}}},
            tags={"nayose/plan_id": d.plan_id, "nayose/decision_id": d.decision_id, "nayose/reviewer": d.reviewer,
                  "nayose/plan_kind": d.plan_kind},
        )
        for d in found
    ]
    new_cursor = max((d.decided_at for d in found), default=None)
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
    try:
        requests, cursor = approval_run_requests(store, context.cursor)
    except NayoseError as exc:
        # The store is being written (DuckDB admits no reader beside another process's writer): next tick.
        return dg.SkipReason(f"store not readable now: {exc}")
    if cursor != context.cursor and cursor is not None:
        context.update_cursor(cursor)
    if not requests:
        return dg.SkipReason("no new approval")
    return requests


# ---------------------------------------------------------------------------------------------
# The nightly schedule


@dataclass
class NightlySettings:
    """When the nightly run starts and what it does (defaults from the environment, see from_env)."""

    cron: str = "0 2 * * *"
    timezone: str = "Asia/Tokyo"
    auto_approve: bool = False
    auto_min_probability: float = 0.999
    auto_max_records: int = 3
    run_config: dict = field(default_factory=dict)
    # Match incrementally (raw_records' `incremental` run config): only what changed since the last
    # run; a full run when there is none or the config changed (nayose.incremental).
    incremental: bool = True

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "NightlySettings":
        env = os.environ if environ is None else environ
        s = cls()
        s.cron = env.get(CRON_ENV, "").strip() or s.cron
        s.timezone = env.get(TIMEZONE_ENV, "").strip() or s.timezone
        s.auto_approve = env.get(AUTO_APPROVE_ENV, "").strip().lower() in ("1", "true", "yes")
        if env.get("NAYOSE_AUTO_MIN_PROBABILITY", "").strip():
            s.auto_min_probability = float(env["NAYOSE_AUTO_MIN_PROBABILITY"])
        if env.get("NAYOSE_AUTO_MAX_RECORDS", "").strip():
            s.auto_max_records = int(env["NAYOSE_AUTO_MAX_RECORDS"])
        if env.get(NIGHTLY_INCREMENTAL_ENV, "").strip():
            s.incremental = env[NIGHTLY_INCREMENTAL_ENV].strip().lower() not in ("0", "false", "no")
        raw = env.get(NIGHTLY_RUN_CONFIG_ENV, "").strip()
        if raw:
            try:
                s.run_config = json.loads(raw)
            except ValueError as exc:
                raise NayoseError(f"{NIGHTLY_RUN_CONFIG_ENV}: not JSON ({exc})") from None
        return s

    def job_run_config(self) -> dict:
        """The run config of the nightly run: `run_config` with raw_records' `incremental` flag
        (unless `run_config` sets it itself)."""
        cfg = json.loads(json.dumps(self.run_config))
        raw = cfg.setdefault("ops", {}).setdefault("raw_records", {}).setdefault("config", {})
        raw.setdefault("incremental", self.incremental)
        return cfg

    def tags(self) -> dict[str, str]:
        tags = {"nayose/trigger": "nightly"}
        if self.auto_approve:
            tags.update({
                TAG_AUTO_APPROVE: "true",
                TAG_AUTO_MIN_PROBABILITY: repr(float(self.auto_min_probability)),
                TAG_AUTO_MAX_RECORDS: str(int(self.auto_max_records)),
            })
        return tags


def nightly_schedule(job, settings: NightlySettings | None = None, name: str = "nayose_nightly") -> dg.ScheduleDefinition:
    """The nightly extract → plan run of `job` (stopped until switched on in the UI)."""
    s = settings or NightlySettings.from_env()
    from nayose.review import AutoApprovalPolicy

    AutoApprovalPolicy(enabled=s.auto_approve, min_probability=s.auto_min_probability, max_records=s.auto_max_records)

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=s.cron,
        execution_timezone=s.timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Extract and plan every night ({s.cron}, {s.timezone}; {CRON_ENV} / {TIMEZONE_ENV}); stopped until switched "
            f"on. Auto-approval policy {'on' if s.auto_approve else 'off'} ({AUTO_APPROVE_ENV}). Matching "
            f"{'incremental' if s.incremental else 'in full'} ({NIGHTLY_INCREMENTAL_ENV})."
        ),
    )
    def _nightly(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time
        return dg.RunRequest(
            run_key=f"nightly:{when.isoformat()}" if when else None,
            run_config=s.job_run_config(),
            tags=s.tags(),
        )

    return _nightly


REVIEW_JOBS = [review_plan, apply_plan]
REVIEW_SENSORS = [apply_approved_plans]
