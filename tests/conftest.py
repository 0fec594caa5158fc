"""Test-session isolation: every path the platform writes points into one temporary folder.

Set before anything from `orchestration` is imported, so the dbt profile, the Dagster instance and
the warehouse of the test session never touch the developer's own `data/` or `.dagster_home/`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="stockpilot-tests-"))
os.environ["STOCKPILOT_DATA_DIR"] = str(_SESSION_DIR / "data")
os.environ["STOCKPILOT_LANDING_DIR"] = str(_SESSION_DIR / "data" / "landing")
os.environ["STOCKPILOT_WAREHOUSE"] = str(_SESSION_DIR / "data" / "warehouse.duckdb")
os.environ["DAGSTER_HOME"] = str(_SESSION_DIR / "dagster_home")
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def query():
    """`query(sql) -> DataFrame` on the session warehouse, read-only, one connection per query.

    A connection held open would block the runs other tests start (DuckDB: one writer per file,
    and no writer while a reader holds it).
    """
    import duckdb

    from orchestration import settings

    def _query(sql: str):
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            return con.sql(sql).df()

    return _query


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("STOCKPILOT_KEEP_TEST_DIR"):
        print(f"\ntest data kept in {_SESSION_DIR}")
        return
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


# A small but complete demo network, dirty rows included, shared by the integration tests.
TEST_NETWORK = {"n_dcs": 1, "n_stores": 4, "n_skus": 40, "days": 400, "seed": 11}


@pytest.fixture(scope="session")
def demo_drop(session_dir: Path):
    """(landing_dir, generator summary) of a dirty demo drop in the session's landing folder."""
    from ml.demo_erp import DemoConfig, generate_demo_erp

    landing = Path(os.environ["STOCKPILOT_LANDING_DIR"])
    summary = generate_demo_erp(
        DemoConfig(**TEST_NETWORK), landing, truth_dir=session_dir / "truth"
    )
    return landing, summary


@pytest.fixture(scope="session")
def instance(session_dir: Path):
    """The session's persistent Dagster instance (DAGSTER_HOME with the pool limit of 1)."""
    import dagster as dg

    from orchestration import settings

    settings.ensure_dagster_home()
    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture(scope="session")
def planning_run(demo_drop, instance):
    """The weekly_planning job run once, for real, on the demo drop."""
    from orchestration.definitions import defs

    return defs.resolve_job_def("weekly_planning").execute_in_process(
        instance=instance, raise_on_error=False
    )
