"""Write-then-swap tables and history tables that survive a growing set of columns."""

from __future__ import annotations

import duckdb
import pandas as pd

from orchestration.defs.warehouse_io import append_to_history, write_table


def test_history_keeps_old_rows_when_the_source_gains_a_column(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_table(con, "s", "kpis", pd.DataFrame({"segment": ["AX"], "csl": [0.97]}))
    assert append_to_history(con, "s", "kpis", "kpis_history") == 1
    # next week's KPIs carry a new column: appended by name, old row reads NULL for it
    write_table(con, "s", "kpis", pd.DataFrame({"segment": ["AX"], "csl": [0.96], "turns": [9.0]}))
    assert append_to_history(con, "s", "kpis", "kpis_history") == 2
    hist = con.execute("select * from s.kpis_history order by csl").df()
    assert list(hist["csl"]) == [0.96, 0.97]
    assert hist["turns"].isna().tolist() == [False, True]


def test_write_table_replaces_the_whole_table(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert write_table(con, "s", "t", pd.DataFrame({"a": [1, 2, 3]})) == 3
    assert write_table(con, "s", "t", pd.DataFrame({"a": [9]})) == 1
    assert con.execute("select a from s.t").fetchall() == [(9,)]
    tables = con.execute("select table_name from information_schema.tables").fetchall()
    assert ("t_new",) not in tables
