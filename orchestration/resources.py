"""Resources shared by every domain. Configured from settings (environment), never hard-coded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
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


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse: ``DuckDBResource`` whose connection is closed even when the body fails.

    dagster-duckdb closes its connection only when the ``with`` body succeeds. A connection left
    open after an exception keeps the file open in this process, and the next connection with
    other settings (a read-only check, a second run in the same process) then fails with
    "Can't open a connection to same database file with a different configuration".
    """

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        opened = super().get_connection()
        con = opened.__enter__()
        try:
            yield con
        finally:
            con.close()


def build_resources() -> dict[str, object]:
    settings.export_environment()
    return {
        "warehouse": WarehouseResource(database=str(settings.warehouse_path())),
        "landing": LandingFolder(path=str(settings.landing_dir())),
        "dbt": DbtCliResource(
            project_dir=stockpilot_dbt_project,
            dbt_executable=str(DBT_EXECUTABLE),
        ),
    }
