"""Helpers every domain's assets share: write-then-swap tables, markdown tables, embedded charts.

Kept out of ``ml/`` because they are about how the platform stores and shows results (DuckDB
schemas, Dagster markdown metadata, the reports folder), not about the maths.
"""

import base64
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration import settings

#: Embedded PNGs are stored in the run's event log: keep them small.
MAX_EMBEDDED_PNG_BYTES = 100_000


def write_table(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    date_columns: Sequence[str] = (),
) -> int:
    """Write ``frame`` to ``<schema>.<table>`` with write-then-swap; returns the row count.

    The new rows go to ``<table>_new`` first; the old table is dropped and the new one renamed in
    one transaction, so readers see either the old or the new table, never a partial one.
    ``date_columns`` are stored as DATE (pandas only has timestamps).
    """
    new = f"{table}_new"
    con.execute(f"create schema if not exists {schema}")
    replace = ", ".join(f"cast({c} as date) as {c}" for c in date_columns)
    select = f"select * replace ({replace}) from _frame" if replace else "select * from _frame"
    con.register("_frame", frame)
    try:
        con.execute(f"create or replace table {schema}.{new} as {select}")
    finally:
        con.unregister("_frame")
    con.execute("begin transaction")
    try:
        con.execute(f"drop table if exists {schema}.{table}")
        con.execute(f"alter table {schema}.{new} rename to {table}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return int(con.execute(f"select count(*) from {schema}.{table}").fetchall()[0][0])


def md_table(frame: pd.DataFrame, float_fmt: str = "{:.3f}") -> str:
    """A small markdown table (Dagster renders markdown metadata)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [float_fmt.format(v) if isinstance(v, float | np.floating) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reports_dir(domain: str) -> Path:
    """``<data dir>/reports/<domain>``, created on demand (charts saved beside the metadata)."""
    path = settings.data_dir() / "reports" / domain
    path.mkdir(parents=True, exist_ok=True)
    return path


def embed_png(png: bytes, alt: str) -> str:
    """Markdown with the PNG inline, or a note when it is too big for the event log."""
    if len(png) > MAX_EMBEDDED_PNG_BYTES:
        return f"*{alt}: {len(png) // 1000} KB, too large to embed; see the file path*"
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def append_to_history(
    con: duckdb.DuckDBPyConnection, schema: str, source: str, history: str
) -> int:
    """Append every row of ``<schema>.<source>`` to ``<schema>.<history>``, by column name.

    The history table is created on first use; columns that ``source`` gained since (a new
    KPI) are added to it first, so old rows read NULL for them and nothing is lost when the
    KPI set grows. Returns the history's row count.
    """
    con.execute(
        f"create table if not exists {schema}.{history} as "
        f"select * from {schema}.{source} where false"
    )
    cols = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, source],
    ).fetchall()
    have = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, history],
        ).fetchall()
    }
    for name, dtype in cols:
        if name not in have:
            con.execute(f'alter table {schema}.{history} add column "{name}" {dtype}')
    con.execute(f"insert into {schema}.{history} by name select * from {schema}.{source}")
    return int(con.execute(f"select count(*) from {schema}.{history}").fetchall()[0][0])
