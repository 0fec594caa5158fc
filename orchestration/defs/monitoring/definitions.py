"""The `monitoring` domain's Dagster objects (merged into `orchestration.definitions`)."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.monitoring.assets import monitoring_assets
from orchestration.defs.monitoring.jobs import review_drift_alert
from orchestration.defs.monitoring.sensors import forecast_drift_sensor


def build_defs() -> dg.Definitions:
    """Drift asset, the alert review job and the retraining sensor."""
    return dg.Definitions(
        assets=monitoring_assets, jobs=[review_drift_alert], sensors=[forecast_drift_sensor]
    )
