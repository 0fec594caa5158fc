"""The delivery ledger and dead letter of the ERP push (schema ``export`` in the warehouse).

``export.erp_deliveries`` holds one row per idempotency key that was ever attempted, with its
latest status (``delivered`` or ``dead_letter``) and cumulative attempts: a run sends only keys
that are not ``delivered``, so a re-run never re-sends an accepted line.
``export.erp_dead_letter`` keeps every line that failed with what failed (payload, attempts,
last HTTP status, last error, whether a retry could help); ``state`` turns from ``open`` to
``resolved`` when a later run delivers it (any other state, set by hand, parks a line for good).
Both tables are logs kept across runs: rows are merged per key in one transaction, never
rewritten wholesale, and never hold the ERP token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb
import pandas as pd

from orchestration.erp.client import LineOutcome

SCHEMA = "export"

DDL: dict[str, str] = {
    "erp_deliveries": """
        plan_id varchar,
        line_id varchar,
        idempotency_key varchar,
        kind varchar,
        status varchar,
        http_status integer,
        attempts integer,
        first_attempt_at timestamp,
        delivered_at timestamp,
        response_ref varchar,
        updated_at timestamp
    """,
    "erp_dead_letter": """
        idempotency_key varchar,
        plan_id varchar,
        line_id varchar,
        kind varchar,
        payload varchar,
        attempts integer,
        last_http_status integer,
        last_error varchar,
        retryable boolean,
        state varchar,
        first_failed_at timestamp,
        failed_at timestamp,
        resolved_at timestamp
    """,
}


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``export`` schema and both tables if missing."""
    con.execute(f"create schema if not exists {SCHEMA}")
    for table, columns in DDL.items():
        con.execute(f"create table if not exists {SCHEMA}.{table} ({columns})")


def delivered_keys(con: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> set[str]:
    """The subset of ``keys`` the ledger records as delivered."""
    frame = pd.DataFrame({"idempotency_key": pd.Series(list(keys), dtype="string")})
    if frame.empty:
        return set()
    con.register("_keys", frame)
    try:
        rows = con.execute(
            f"select d.idempotency_key from {SCHEMA}.erp_deliveries d "
            "join _keys k using (idempotency_key) where d.status = 'delivered'"
        ).fetchall()
    finally:
        con.unregister("_keys")
    return {r[0] for r in rows}


def unresolved_dead_letters(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every dead-letter row not resolved, oldest first: ``open`` ones, and any set aside by
    hand (another ``state``, e.g. ``abandoned``), which are never sent again."""
    return con.execute(
        f"select * from {SCHEMA}.erp_dead_letter where state <> 'resolved' "
        "order by first_failed_at, idempotency_key"
    ).df()


def outcomes_frame(outcomes: Sequence[LineOutcome], payload_json: Iterable[str]) -> pd.DataFrame:
    """The attempted outcomes (delivered or dead letter) as one frame, payload JSON beside them."""
    rows = [
        {
            "plan_id": o.line.plan_id,
            "line_id": o.line.line_id,
            "idempotency_key": o.line.idempotency_key,
            "kind": o.line.kind,
            "status": o.status,
            "http_status": o.http_status,
            "attempts": o.attempts,
            "retryable": o.retryable,
            "error": o.error,
            "response_ref": o.response_ref,
            "first_attempt_at": o.first_attempt_at,
            "finished_at": o.finished_at,
            "payload": p,
        }
        for o, p in zip(outcomes, payload_json, strict=True)
        if o.status != "not_attempted"
    ]
    frame = pd.DataFrame(rows, columns=list(rows[0]) if rows else _OUTCOME_COLUMNS)
    frame["http_status"] = frame["http_status"].astype("Int32")
    frame["attempts"] = frame["attempts"].astype("int32")
    for col in ("first_attempt_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


_OUTCOME_COLUMNS = [
    "plan_id",
    "line_id",
    "idempotency_key",
    "kind",
    "status",
    "http_status",
    "attempts",
    "retryable",
    "error",
    "response_ref",
    "first_attempt_at",
    "finished_at",
    "payload",
]


def record_outcomes(con: duckdb.DuckDBPyConnection, outcomes: pd.DataFrame) -> None:
    """Merge one push's outcomes (``outcomes_frame``) into the ledger and dead letter, atomically.

    Attempts add up across runs; ``first_attempt_at`` / ``first_failed_at`` keep the earliest
    value; a delivered key resolves its open dead-letter row.
    """
    if outcomes.empty:
        return
    ensure_tables(con)
    con.register("_outcomes", outcomes)
    try:
        con.execute("begin transaction")
        try:
            con.execute(
                f"""
                create or replace temp table _merged_deliveries as
                select o.plan_id, o.line_id, o.idempotency_key, o.kind, o.status,
                       o.http_status::integer as http_status,
                       (coalesce(d.attempts, 0) + o.attempts)::integer as attempts,
                       coalesce(d.first_attempt_at, o.first_attempt_at) as first_attempt_at,
                       case when o.status = 'delivered' then o.finished_at end as delivered_at,
                       nullif(o.response_ref, '') as response_ref,
                       o.finished_at as updated_at
                from _outcomes o
                left join {SCHEMA}.erp_deliveries d using (idempotency_key)
                """
            )
            con.execute(
                f"delete from {SCHEMA}.erp_deliveries "
                "where idempotency_key in (select idempotency_key from _outcomes)"
            )
            con.execute(
                f"insert into {SCHEMA}.erp_deliveries by name select * from _merged_deliveries"
            )
            con.execute(
                f"""
                create or replace temp table _merged_dead_letter as
                select o.idempotency_key, o.plan_id, o.line_id, o.kind, o.payload,
                       (coalesce(x.attempts, 0) + o.attempts)::integer as attempts,
                       o.http_status::integer as last_http_status,
                       o.error as last_error, o.retryable, 'open' as state,
                       coalesce(x.first_failed_at, o.finished_at) as first_failed_at,
                       o.finished_at as failed_at, null::timestamp as resolved_at
                from _outcomes o
                left join {SCHEMA}.erp_dead_letter x using (idempotency_key)
                where o.status = 'dead_letter'
                """
            )
            con.execute(
                f"delete from {SCHEMA}.erp_dead_letter "
                "where idempotency_key in (select idempotency_key from _merged_dead_letter)"
            )
            con.execute(
                f"insert into {SCHEMA}.erp_dead_letter by name select * from _merged_dead_letter"
            )
            con.execute(
                f"""
                update {SCHEMA}.erp_dead_letter as x
                set state = 'resolved', resolved_at = o.finished_at,
                    attempts = x.attempts + o.attempts, last_http_status = o.http_status
                from _outcomes o
                where x.idempotency_key = o.idempotency_key
                  and o.status = 'delivered' and x.state = 'open'
                """
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_outcomes")
        con.execute("drop table if exists _merged_deliveries")
        con.execute("drop table if exists _merged_dead_letter")
