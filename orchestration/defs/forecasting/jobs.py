"""Retraining: the `retrain_forecasts` job, its run config, and the velocity schedules.

The weekly planning run forecasts with ``refit="auto"``: it refits only the series that are due
(by their velocity's cadence), new, or whose demand class changed, and updates every other
series of the stored model with the new weeks. This job is the other way in: the drift sensor
(monitoring domain) and the two schedules below ask for a refit of named segments or velocity
classes, and the forecast is rebuilt from the new model version right after.

``retrain_run_config`` is the one place that knows the config layout, so callers (the sensor,
the schedules, an operator in a notebook) never spell op names by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

RETRAIN_JOB_NAME = "retrain_forecasts"
MODEL_OP = "forecasting__demand_forecast_model"
REFIT_MODES: tuple[str, ...] = ("auto", "all", "segments", "velocity")

retrain_forecasts_job = dg.define_asset_job(
    RETRAIN_JOB_NAME,
    selection=dg.AssetSelection.assets(
        dg.AssetKey(["forecasting", "demand_forecast_model"]),
        dg.AssetKey(["forecasting", "demand_forecast"]),
    ),
    description="Refit the demand forecaster for chosen demand classes (segments) or velocity "
    "classes, update the other series with the new weeks, save a new model version and rebuild "
    "forecasting.demand_forecast from it. Reads the training set of the last planning run.",
    executor_def=dg.in_process_executor,
)


def retrain_run_config(
    refit: str,
    segments: Iterable[str] = (),
    velocity: Iterable[str] = (),
    reason: str = "",
) -> dict:
    """Run config for :data:`retrain_forecasts_job` (also valid for ``weekly_planning``).

    ``refit``: ``"auto"`` (due, new and reclassified series), ``"all"``, ``"segments"`` (the
    demand classes in ``segments``: smooth, erratic, intermittent, lumpy, new) or ``"velocity"``
    (the velocity classes in ``velocity``: fast, slow). ``reason`` is recorded on the model card.
    """
    if refit not in REFIT_MODES:
        raise ValueError(f"refit must be one of {REFIT_MODES}, got {refit!r}")
    return {
        "ops": {
            MODEL_OP: {
                "config": {
                    "refit": refit,
                    "segments": list(segments),
                    "velocity": list(velocity),
                    "reason": reason,
                }
            }
        }
    }


retrain_fast_movers_weekly = dg.ScheduleDefinition(
    name="retrain_fast_movers_weekly",
    job=retrain_forecasts_job,
    cron_schedule="0 22 * * 0",
    execution_timezone="UTC",
    run_config=retrain_run_config(
        "velocity", velocity=["fast"], reason="scheduled weekly refit of fast movers"
    ),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays at 22:00 UTC: refit the fast movers (the series making the top share "
    "of recent unit demand) on the latest training set; all other series are updated with the "
    "new weeks, so Monday's planning run finds fresh fast-mover models and only updates them.",
)

retrain_staples_monthly = dg.ScheduleDefinition(
    name="retrain_staples_monthly",
    job=retrain_forecasts_job,
    cron_schedule="0 22 1 * *",
    execution_timezone="UTC",
    run_config=retrain_run_config(
        "velocity", velocity=["slow"], reason="scheduled monthly refit of slow movers"
    ),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The 1st of every month at 22:00 UTC: refit the slow movers (staples and the "
    "long tail) on the latest training set; the fast movers are updated with the new weeks.",
)

forecasting_jobs = [retrain_forecasts_job]
forecasting_schedules = [retrain_fast_movers_weekly, retrain_staples_monthly]
