"""The shared warehouse resource."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from orchestration.resources import WarehouseResource


def _fail_inside(resource: DuckDBResource) -> BaseException:
    """Raise inside the connection's ``with`` and keep the exception, as Dagster's step error
    handling does (its traceback keeps the frames, and so the connection, alive)."""
    try:
        with resource.get_connection() as con:
            con.execute("create table t as select 1 as a")
            raise ValueError("the body of the with failed")
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def test_a_failed_body_still_closes_the_warehouse_connection(tmp_path: Path) -> None:
    # Regression: a failed step left the file open and the next read-only connection in the
    # process failed with "different configuration".
    path = str(tmp_path / "w.duckdb")
    kept = _fail_inside(WarehouseResource(database=path))
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("select a from t").fetchall() == [(1,)]
    assert isinstance(kept, ValueError)


def test_the_upstream_resource_leaks_the_connection_this_one_fixes(tmp_path: Path) -> None:
    # Pins why WarehouseResource exists; when dagster-duckdb closes on failure, drop the subclass.
    path = str(tmp_path / "w.duckdb")
    kept = _fail_inside(DuckDBResource(database=path))
    with pytest.raises(duckdb.ConnectionException, match="different configuration"):
        duckdb.connect(path, read_only=True)
    assert isinstance(kept, ValueError)
