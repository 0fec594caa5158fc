"""Resources shared by every domain. Configured from settings (environment), never hard-coded."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from orchestration import settings
from orchestration.dbt_project import DBT_EXECUTABLE, stockpilot_dbt_project


class LandingFolder(dg.ConfigurableResource):
    """The folder the ERP drops extracts into (see docs/data-contract.md)."""

    path: str

    @property
    def dir(self) -> Path:
        return Path(self.path)


def build_resources() -> dict[str, object]:
    settings.export_environment()
    return {
        "warehouse": DuckDBResource(database=str(settings.warehouse_path())),
        "landing": LandingFolder(path=str(settings.landing_dir())),
        "dbt": DbtCliResource(
            project_dir=stockpilot_dbt_project,
            dbt_executable=str(DBT_EXECUTABLE),
        ),
    }
