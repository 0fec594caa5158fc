"""The `review_drift_alert` job: acknowledge, resolve or reopen drift alerts, with an audit row.

Launch it from the UI (Jobs -> review_drift_alert -> Launchpad) with, for example::

    ops:
      review_drift_alerts:
        config:
          alert_ids: [DRIFT-20261116040512-1a2b3c4d-smooth]
          action: acknowledge
          reviewer: jane.planner
          note: Autumn promotion in category Snacks, expected to end in week 47.

It updates ``monitoring.drift_alerts`` and appends one row per alert to
``monitoring.drift_alert_reviews`` in one transaction, then logs an ``AssetObservation`` on
``monitoring/forecast_drift`` with the new statuses, which is how the retraining sensor learns
about acknowledgements without opening the warehouse, and a new evaluation of the asset check
``no_unreviewed_drift_alerts`` so the UI's warning clears once every alert is reviewed.
"""

from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ml.monitoring.alerts import TRANSITIONS, apply_review
from orchestration.defs.monitoring.assets import (
    FORECAST_DRIFT_KEY,
    open_alerts_markdown,
    review_evaluation,
)
from orchestration.defs.monitoring.tables import (
    connect,
    ensure_tables,
    read_alerts,
    update_reviews,
)
from orchestration.settings import WAREHOUSE_POOL


class ReviewDriftAlertConfig(dg.Config):
    """Which alerts, what to do with them, who decided and why."""

    alert_ids: list[str] = Field(description="Alert ids from monitoring.drift_alerts.")
    action: str = Field(description="acknowledge | resolve | reopen")
    reviewer: str = Field(description="Who reviewed the alerts (name or login).")
    note: str = Field(default="", description="Why: what was found, what is being done.")


@dg.op(pool=WAREHOUSE_POOL, tags={"stockpilot/domain": "monitoring"})
def review_drift_alerts(
    context: dg.OpExecutionContext, config: ReviewDriftAlertConfig, warehouse: DuckDBResource
) -> None:
    """Apply one review to the alerts and record it (status history kept in the reviews log)."""
    if config.action not in TRANSITIONS:
        raise dg.Failure(f"action must be one of {sorted(TRANSITIONS)}, got {config.action!r}")
    reviewed_at = datetime.now(UTC).replace(tzinfo=None)
    with connect(warehouse) as con:
        ensure_tables(con)
        alerts = read_alerts(con)
        try:
            updated, reviews = apply_review(
                alerts,
                config.alert_ids,
                config.action,
                config.reviewer,
                config.note,
                reviewed_at=reviewed_at,
                run_id=context.run_id,
            )
        except ValueError as exc:
            raise dg.Failure(f"review_drift_alert: {exc}") from exc
        update_reviews(con, updated, reviews)
        after = read_alerts(con)
    reviewed = [
        {"alert_id": a, "segment": s, "status": st, "previous_status": p}
        for a, s, st, p in zip(
            updated["alert_id"],
            updated["segment"],
            updated["status"],
            reviews["previous_status"],
            strict=True,
        )
    ]
    context.log.info(f"{config.action}: {[r['alert_id'] for r in reviewed]} by {config.reviewer}")
    context.log_event(
        dg.AssetObservation(
            asset_key=FORECAST_DRIFT_KEY,
            metadata={
                "reviewed_alerts": dg.MetadataValue.json(reviewed),
                "action": config.action,
                "reviewer": config.reviewer,
                "note": config.note,
                "open_alerts": dg.MetadataValue.md(open_alerts_markdown(after)),
                "open_alert_count": int((after["status"] == "open").sum()),
            },
        )
    )
    # the open-alert check follows the review at once (not only at the next drift run)
    context.log_event(review_evaluation(after))


@dg.job(
    name="review_drift_alert",
    executor_def=dg.in_process_executor,
    description="Acknowledge, resolve or reopen drift alerts (config: alert_ids, action, "
    "reviewer, note); updates monitoring.drift_alerts and logs the review.",
    tags={"stockpilot/domain": "monitoring"},
)
def review_drift_alert() -> None:
    review_drift_alerts()
