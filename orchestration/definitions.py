"""The one Dagster entry point (`workspace.yaml` loads `orchestration.definitions:defs`)."""

from __future__ import annotations

import dagster as dg

from orchestration import settings
from orchestration.defs.forecasting.assets import forecasting_assets, forecasting_checks
from orchestration.defs.forecasting.resources import ModelStore, model_store_dir
from orchestration.defs.ingest.assets import raw_extracts
from orchestration.defs.ingest.sensors import build_landing_sensor
from orchestration.defs.inventory.assets import inventory_assets
from orchestration.defs.marts.assets import stockpilot_dbt_models
from orchestration.resources import build_resources

settings.export_environment()

ingest_selection = dg.AssetSelection.assets(raw_extracts) | dg.AssetSelection.assets(
    stockpilot_dbt_models
)

# Steps share one DuckDB file, so the jobs run in one process: no per-step start-up cost, and no
# two steps of a run ever hold the file at once. Across runs the `duckdb_warehouse` pool (limit 1
# in DAGSTER_HOME/dagster.yaml) serialises them.
ingest_job = dg.define_asset_job(
    "ingest",
    selection=ingest_selection,
    description="Load new ERP files and rebuild the staging and marts models.",
    executor_def=dg.in_process_executor,
)
weekly_planning_job = dg.define_asset_job(
    "weekly_planning",
    selection=dg.AssetSelection.all(),
    description="The planning loop end to end: ingest, marts, (later) forecasts and policy.",
    executor_def=dg.in_process_executor,
)

daily_ingest_schedule = dg.ScheduleDefinition(
    name="daily_ingest",
    job=ingest_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every day at 02:00 UTC: load whatever the ERP dropped overnight.",
)
weekly_planning_schedule = dg.ScheduleDefinition(
    name="weekly_planning_schedule",
    job=weekly_planning_job,
    cron_schedule="0 4 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Mondays at 04:00 UTC: the full planning run.",
)

defs = dg.Definitions(
    assets=[raw_extracts, stockpilot_dbt_models, *forecasting_assets, *inventory_assets],
    asset_checks=[*forecasting_checks],
    jobs=[ingest_job, weekly_planning_job],
    schedules=[daily_ingest_schedule, weekly_planning_schedule],
    sensors=[build_landing_sensor(ingest_job)],
    resources={**build_resources(), "model_store": ModelStore(root=str(model_store_dir()))},
    executor=dg.in_process_executor,
)
