"""Where things live. One place, overridable by environment variables.

| variable | default | what |
| --- | --- | --- |
| STOCKPILOT_DATA_DIR | <project>/data | everything generated at run time |
| STOCKPILOT_LANDING_DIR | $STOCKPILOT_DATA_DIR/landing | ERP extracts as received |
| STOCKPILOT_WAREHOUSE | $STOCKPILOT_DATA_DIR/warehouse.duckdb | the DuckDB warehouse (dbt reads the same variable) |
| DAGSTER_HOME | <project>/.dagster_home | run history shown in the UI |

Paths are resolved to absolute paths once, so dbt (which runs with the dbt project as its working
directory) and Python always agree on the same warehouse file.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# The DuckDB pool: every asset, check and dbt invocation that touches the warehouse file runs in
# it. DAGSTER_HOME/dagster.yaml limits pools to one slot, which serialises those steps across
# concurrent runs (DuckDB allows one writing process per file).
WAREHOUSE_POOL = "duckdb_warehouse"


def _path_from_env(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default.resolve()


def data_dir() -> Path:
    return _path_from_env("STOCKPILOT_DATA_DIR", PROJECT_ROOT / "data")


def landing_dir() -> Path:
    return _path_from_env("STOCKPILOT_LANDING_DIR", data_dir() / "landing")


def warehouse_path() -> Path:
    return _path_from_env("STOCKPILOT_WAREHOUSE", data_dir() / "warehouse.duckdb")


def dagster_home() -> Path:
    return _path_from_env("DAGSTER_HOME", PROJECT_ROOT / ".dagster_home")


DAGSTER_YAML = """\
# Written by `stockpilot`; safe to edit.
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB allows one writing process per file: steps in the duckdb_warehouse pool run one at
    # a time across all runs.
    default_limit: 1
  runs:
    max_concurrent_runs: 4
"""


def export_environment() -> None:
    """Pin the resolved paths into os.environ so subprocesses (dbt, dagster dev) agree."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home()))
    os.environ["STOCKPILOT_WAREHOUSE"] = str(warehouse_path())
    os.environ["STOCKPILOT_LANDING_DIR"] = str(landing_dir())
    os.environ["STOCKPILOT_DATA_DIR"] = str(data_dir())
    # DuckDB creates the database file but not its folder.
    warehouse_path().parent.mkdir(parents=True, exist_ok=True)


def ensure_dagster_home() -> Path:
    """Create DAGSTER_HOME with its dagster.yaml (pool limit of 1) if missing."""
    home = Path(os.environ.get("DAGSTER_HOME") or dagster_home())
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML)
    return home
