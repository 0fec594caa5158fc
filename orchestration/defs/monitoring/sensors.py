"""`forecast_drift_sensor`: one `retrain_forecasts` run per drift result that has open alerts.

It never opens the warehouse: everything comes from the Dagster instance - the latest
materialization of ``monitoring/forecast_drift`` (its ``alerts`` metadata) and the review job's
observations logged on the same asset after it. No storm:

* the cursor is the storage id of the last drift result a run was requested for, and the run key
  is ``drift-<storage id>``, so one result never yields two runs (the daemon also drops a
  repeated run key);
* while a ``retrain_forecasts`` run is queued or in progress, it waits (skip, cursor kept);
* a result whose alerts have all been acknowledged or resolved is skipped, its cursor kept,
  so reopening an alert before the next drift run still gets it a retraining.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from ml.monitoring.drift import OVERALL
from orchestration.defs.forecasting.jobs import RETRAIN_JOB_NAME, retrain_run_config
from orchestration.defs.monitoring.assets import FORECAST_DRIFT_KEY

RETRAIN_JOB = RETRAIN_JOB_NAME
#: Run statuses that mean a retraining is already on its way.
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _json(metadata: dict, key: str, default: object) -> object:
    value = metadata.get(key)
    return default if value is None else getattr(value, "value", value)


def alert_statuses(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> dict[str, dict]:
    """``alert_id -> {"segment", "status"}`` for one drift result, reviews since applied."""
    md = record.asset_materialization.metadata  # type: ignore[union-attr]
    alerts = {a["alert_id"]: dict(a) for a in _json(md, "alerts", [])}  # type: ignore[union-attr]
    if not alerts:
        return alerts
    cursor = None
    while True:
        page = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=FORECAST_DRIFT_KEY, after_storage_id=record.storage_id),
            limit=500,
            cursor=cursor,
            ascending=True,
        )
        for obs in page.records:
            reviewed: Iterable[dict] = _json(  # type: ignore[assignment]
                obs.asset_observation.metadata,  # type: ignore[union-attr]
                "reviewed_alerts",
                [],
            )
            for r in reviewed:
                if r.get("alert_id") in alerts:
                    alerts[r["alert_id"]]["status"] = r["status"]
        if not page.has_more:
            return alerts
        cursor = page.cursor


@dg.sensor(
    name="forecast_drift_sensor",
    job_name=RETRAIN_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests one retrain_forecasts run (refit the drifted segments) per new "
    "forecast_drift result with open alerts; waits while a retraining is running.",
)
def forecast_drift_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """See the module docstring."""
    records = context.instance.fetch_materializations(FORECAST_DRIFT_KEY, limit=1).records
    if not records:
        return dg.SensorResult(skip_reason="forecast_drift has not been materialized yet")
    record = records[0]
    storage_id = record.storage_id
    if context.cursor and storage_id <= int(context.cursor):
        return dg.SensorResult(
            skip_reason=f"drift result {storage_id} already handled (no newer forecast_drift)"
        )
    md = record.asset_materialization.metadata  # type: ignore[union-attr]
    if not _json(md, "drift_detected", False):
        return dg.SensorResult(
            skip_reason=f"drift result {storage_id}: no drift", cursor=str(storage_id)
        )
    alerts = alert_statuses(context.instance, record)
    open_ = {a: v for a, v in alerts.items() if v["status"] == "open"}
    if not open_:
        return dg.SensorResult(
            skip_reason=f"drift result {storage_id}: all {len(alerts)} alert(s) acknowledged "
            "or resolved"
        )
    active = context.instance.get_runs(
        dg.RunsFilter(job_name=RETRAIN_JOB, statuses=ACTIVE_STATUSES), limit=1
    )
    if active:
        return dg.SensorResult(
            skip_reason=f"retrain run {active[0].run_id} is {active[0].status.value}: waiting "
            f"before acting on drift result {storage_id}"
        )
    segments = sorted({v["segment"] for v in open_.values()} - {OVERALL})
    ids = sorted(open_)
    reason = f"drift result {storage_id}: open alert(s) {', '.join(ids)}"
    # only the overall population drifted (no single segment): refit everything
    run_config = (
        retrain_run_config(refit="segments", segments=segments, reason=reason)
        if segments
        else retrain_run_config(refit="all", reason=reason)
    )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"drift-{storage_id}",
                run_config=run_config,
                tags={
                    "stockpilot/drift_storage_id": str(storage_id),
                    "stockpilot/drift_alerts": ",".join(ids)[:1000],
                    "stockpilot/refit_segments": ",".join(segments) or OVERALL,
                },
            )
        ],
        cursor=str(storage_id),
    )
