"""The `monitoring` schema: drift results, drift alerts and their reviews (append-only logs).

The three tables are logs kept across runs, so they are created once with explicit column types
and only ever appended to (one INSERT per run, atomic) - except the review columns of
``drift_alerts``, which the review job updates together with its audit row in one transaction.
Nothing is rewritten wholesale, so a review made while a drift run computes is never lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

SCHEMA = "monitoring"

DDL: dict[str, str] = {
    "drift_results": """
        dagster_run_id varchar,
        created_at timestamp,
        segment varchar,
        feature varchar,
        source varchar,
        kind varchar,
        method varchar,
        score double,
        threshold double,
        statistically_drifted boolean,
        drifted boolean,
        alerting boolean,
        reference_window varchar,
        current_window varchar,
        reference_rows bigint,
        current_rows bigint,
        reference_mean double,
        current_mean double,
        change double,
        change_kind varchar,
        change_se double,
        min_change double,
        required_change double,
        report_html varchar
    """,
    "drift_alerts": """
        alert_id varchar,
        created_at timestamp,
        dagster_run_id varchar,
        segment varchar,
        drifted_features varchar,
        drift_share double,
        magnitude double,
        reference_mean_demand double,
        current_mean_demand double,
        affected_sku_locations integer,
        affected_sample varchar,
        report_html varchar,
        report_json varchar,
        status varchar,
        reviewed_by varchar,
        reviewed_at timestamp,
        review_note varchar,
        carried_from varchar
    """,
    "drift_alert_reviews": """
        review_id varchar,
        alert_id varchar,
        action varchar,
        previous_status varchar,
        new_status varchar,
        reviewed_by varchar,
        reviewed_at timestamp,
        note varchar,
        dagster_run_id varchar
    """,
}


@contextmanager
def connect(warehouse: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """``warehouse.get_connection()`` that closes the connection on errors too.

    The resource's generator closes it only on success; a connection left open after a failed
    step blocks every later connection to the file from the same process with another config.
    """
    with warehouse.get_connection() as con:
        try:
            yield con
        finally:
            con.close()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the schema and the three log tables if they do not exist yet."""
    con.execute(f"create schema if not exists {SCHEMA}")
    for table, columns in DDL.items():
        con.execute(f"create table if not exists {SCHEMA}.{table} ({columns})")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(rows[0][0])


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def append_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Append ``frame`` to ``monitoring.<table>`` by column name, in one statement."""
    if frame.empty:
        return 0
    cols = table_columns(con, SCHEMA, table)
    con.register("_rows", frame[cols])
    try:
        con.execute(f"insert into {SCHEMA}.{table} by name select * from _rows")
    finally:
        con.unregister("_rows")
    return len(frame)


def read_alerts(
    con: duckdb.DuckDBPyConnection, alert_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Alerts (all, or those in ``alert_ids``), oldest first."""
    sql = f"select * from {SCHEMA}.drift_alerts"
    params: list[object] = []
    if alert_ids is not None:
        sql += " where list_contains(?, alert_id)"
        params.append(list(alert_ids))
    return con.execute(sql + " order by created_at, alert_id", params).df()


def update_reviews(
    con: duckdb.DuckDBPyConnection, updated: pd.DataFrame, reviews: pd.DataFrame
) -> None:
    """Set the reviewed alerts' status and review columns and log the reviews, atomically."""
    con.register(
        "_updated", updated[["alert_id", "status", "reviewed_by", "reviewed_at", "review_note"]]
    )
    try:
        con.execute("begin transaction")
        try:
            con.execute(
                f"update {SCHEMA}.drift_alerts as a set status = u.status, "
                "reviewed_by = u.reviewed_by, reviewed_at = u.reviewed_at, "
                "review_note = u.review_note "
                "from _updated as u where a.alert_id = u.alert_id"
            )
            append_rows(con, "drift_alert_reviews", reviews)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_updated")
