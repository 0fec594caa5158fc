"""The `monitoring` domain's Dagster objects (merged into `orchestration.definitions`)."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.monitoring.assets import monitoring_assets
from orchestration.defs.monitoring.checks import no_unreviewed_drift_alerts
from orchestration.defs.monitoring.jobs import review_drift_alert
from orchestration.defs.monitoring.sensors import forecast_drift_sensor


def build_defs() -> dg.Definitions:
    """Drift asset and its open-alert check, the alert review job and the retraining sensor."""
    return dg.Definitions(
        assets=monitoring_assets,
        asset_checks=[no_unreviewed_drift_alerts],
        jobs=[review_drift_alert],
        sensors=[forecast_drift_sensor],
    )
