"""The `forecasting` domain's Dagster objects (merged into `orchestration.definitions`)."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.forecasting.assets import forecasting_assets, forecasting_checks
from orchestration.defs.forecasting.jobs import forecasting_jobs, forecasting_schedules
from orchestration.defs.forecasting.resources import ModelStore, model_store_dir


def build_defs() -> dg.Definitions:
    """Forecasting assets, checks, the retraining job and schedules, and the model store."""
    return dg.Definitions(
        assets=forecasting_assets,
        asset_checks=forecasting_checks,
        jobs=forecasting_jobs,
        schedules=forecasting_schedules,
        resources={"model_store": ModelStore(root=str(model_store_dir()))},
    )
