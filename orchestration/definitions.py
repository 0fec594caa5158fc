"""The one Dagster entry point (`workspace.yaml` loads `orchestration.definitions:defs`).

Each domain under `orchestration/defs/<domain>/definitions.py` builds its own `Definitions`
(assets, checks, jobs, schedules, sensors, domain resources); this module adds what every domain
shares (the warehouse, landing folder and dbt resources, ingestion and the weekly planning job)
and merges them. `build_definitions()` re-reads the paths from the environment, so a test can
point a second, isolated set of definitions at another warehouse.
"""

from __future__ import annotations

import dagster as dg

from orchestration import settings
from orchestration.defs.export import definitions as export_defs
from orchestration.defs.forecasting import definitions as forecasting_defs
from orchestration.defs.ingest.assets import raw_extracts
from orchestration.defs.ingest.sensors import build_landing_sensor
from orchestration.defs.inventory import definitions as inventory_defs
from orchestration.defs.marts.assets import stockpilot_dbt_models
from orchestration.defs.monitoring import definitions as monitoring_defs
from orchestration.defs.monitoring.checks import no_unreviewed_drift_alerts
from orchestration.defs.quality import definitions as quality_defs
from orchestration.resources import build_resources

INGEST_SELECTION = dg.AssetSelection.assets(raw_extracts) | dg.AssetSelection.assets(
    stockpilot_dbt_models
)

# Steps share one DuckDB file, so the jobs run in one process: no per-step start-up cost, and no
# two steps of a run ever hold the file at once. Across runs the `duckdb_warehouse` pool (limit 1
# in DAGSTER_HOME/dagster.yaml) serialises them.
ingest_job = dg.define_asset_job(
    "ingest",
    selection=INGEST_SELECTION,
    description="Load new ERP files and rebuild the staging and marts models.",
    executor_def=dg.in_process_executor,
)
# Everything, except the open-drift-alert check: forecast_drift and the review job log its
# evaluations themselves (orchestration/defs/monitoring/checks.py), so a run stopped upstream
# never shows it as "Execution failed".
weekly_planning_job = dg.define_asset_job(
    "weekly_planning",
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(no_unreviewed_drift_alerts),
    description="The planning loop end to end: ingest, marts, forecasts, inventory policy, "
    "monitoring, publication of the plan and its export to the ERP.",
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


def build_definitions() -> dg.Definitions:
    """All domains merged, with resources resolved from the current environment."""
    settings.export_environment()
    core = dg.Definitions(
        assets=[raw_extracts, stockpilot_dbt_models],
        jobs=[ingest_job, weekly_planning_job],
        schedules=[daily_ingest_schedule, weekly_planning_schedule],
        sensors=[build_landing_sensor(ingest_job)],
        resources=build_resources(),
        executor=dg.in_process_executor,
    )
    return dg.Definitions.merge(
        core,
        forecasting_defs.build_defs(),
        inventory_defs.build_defs(),
        quality_defs.build_defs(),
        monitoring_defs.build_defs(),
        export_defs.build_defs(),
    )


defs = build_definitions()
