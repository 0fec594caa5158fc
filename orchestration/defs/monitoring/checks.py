"""Asset check of the drift asset: open drift alerts show in the UI as a warning to review.

Severity WARN and never blocking: a drift alert asks a person to look (and the retraining sensor
to act), it does not stop the plan. The check passes again once every alert is acknowledged or
resolved with the ``review_drift_alert`` job.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from ml.monitoring.alerts import open_alerts
from orchestration.defs.monitoring.assets import (
    FORECAST_DRIFT_KEY,
    file_link,
    open_alerts_markdown,
)
from orchestration.defs.monitoring.tables import SCHEMA, connect, read_alerts, table_exists

REVIEW_HINT = (
    "Review in Launchpad of job `review_drift_alert`: "
    "`ops: {review_drift_alerts: {config: {alert_ids: [...], action: acknowledge | resolve, "
    "reviewer: you, note: why}}}` (docs/monitoring.md)."
)


CHECK_NAME = "no_unreviewed_drift_alerts"


def review_state(alerts: pd.DataFrame | None) -> tuple[bool, str, dict[str, object]]:
    """``(passed, description, metadata)`` of the open-alert check on the ``alerts`` table."""
    current = open_alerts(alerts) if alerts is not None else None
    n_open = 0 if current is None else len(current)
    segments = [] if current is None else sorted(current["segment"].unique().tolist())
    metadata: dict[str, object] = {
        "open_alerts": n_open,
        "open_segments": dg.MetadataValue.json(segments),
        "alerts": dg.MetadataValue.md(
            "no open drift alerts" if alerts is None else open_alerts_markdown(alerts)
        ),
    }
    if n_open:
        newest = current.iloc[0]
        if newest["report_html"]:
            metadata["newest_report_url"] = dg.MetadataValue.url(file_link(newest["report_html"]))
        metadata["how_to_review"] = REVIEW_HINT
    description = (
        f"{n_open} open drift alert(s): {', '.join(segments)}"
        if n_open
        else "every drift alert is reviewed"
    )
    return n_open == 0, description, metadata


def review_evaluation(alerts: pd.DataFrame) -> dg.AssetCheckEvaluation:
    """The check's new state after a review (logged by the review job, so the UI follows it)."""
    passed, description, metadata = review_state(alerts)
    return dg.AssetCheckEvaluation(
        asset_key=FORECAST_DRIFT_KEY,
        check_name=CHECK_NAME,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


@dg.asset_check(
    asset=FORECAST_DRIFT_KEY,
    name=CHECK_NAME,
    description="Warns while a drift alert is open (not acknowledged or resolved by a reviewer).",
    blocking=False,
)
def no_unreviewed_drift_alerts(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    with connect(warehouse) as con:
        alerts = read_alerts(con) if table_exists(con, SCHEMA, "drift_alerts") else None
    passed, description, metadata = review_state(alerts)
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )
