"""Asset check of the drift asset: open drift alerts show in the UI as a warning to review.

Severity WARN and never blocking: a drift alert asks a person to look (and the retraining sensor
to act), it does not stop the plan. The check passes again once every alert is acknowledged or
resolved with the ``review_drift_alert`` job.

Who evaluates it: ``forecast_drift`` logs an evaluation after writing its alerts, and the review
job after every review, so the UI follows both. The check is therefore left out of the weekly
job's selection: planned in a run that then stops upstream (a blocked raw check), it would show
"Execution failed" and hide the warning. Executing it from the UI (or materializing
``forecast_drift`` by hand) runs it too, on the same table.
"""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.defs.monitoring.assets import CHECK_NAME, FORECAST_DRIFT_KEY, review_state
from orchestration.defs.monitoring.tables import SCHEMA, connect, read_alerts, table_exists
from orchestration.settings import WAREHOUSE_POOL


@dg.asset_check(
    asset=FORECAST_DRIFT_KEY,
    name=CHECK_NAME,
    description="Warns while a drift alert is open (not acknowledged or resolved by a reviewer).",
    blocking=False,
    pool=WAREHOUSE_POOL,
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
