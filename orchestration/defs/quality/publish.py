"""Write-audit-publish of the plan: ``published/published_plan``.

Write: the inventory assets stage their tables (``inventory.replenishment_recommendations``,
``inventory.allocation_plan``). Audit: this asset validates them again with the same suites as
their blocking checks (so a materialization started from the UI without the checks cannot
publish bad data), builds the ERP-facing lines (``checks.plan.build_plan``) and validates those.
Publish: ``published.purchase_order_proposals`` and ``published.transfer_orders`` are replaced
in ONE transaction together with the ``published`` row of ``published.plan_versions``, so a
reader sees the old plan or the new one, never a mix.

On a failed audit the published tables are left as they are (the last good plan stays current),
a ``rejected`` row with the failed expectations is appended to ``published.plan_versions``, and
the asset raises ``dg.Failure``.
"""

import json
import time
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

import checks
from checks import tables
from checks.plan import (
    PURCHASE_ORDER_COLUMNS,
    TRANSFER_COLUMNS,
    Plan,
    build_plan,
    plan_id_for,
    plan_order_date,
    with_check_columns,
)
from orchestration.defs.quality.asset_checks import ALLOCATION_PLAN, RECOMMENDATIONS
from orchestration.defs.quality.common import KEEP_REPORTS, outcome_metadata, report_root
from orchestration.settings import WAREHOUSE_POOL

SCHEMA = "published"
PUBLISHED_PLAN_KEY = dg.AssetKey(["published", "published_plan"])

_PO_TYPES = {
    "plan_id": "varchar",
    "line_id": "varchar",
    "supplier_id": "varchar",
    "ship_to_location_id": "varchar",
    "sku": "varchar",
    "order_qty": "double",
    "case_pack": "double",
    "order_cases": "double",
    "unit_cost": "double",
    "order_value": "double",
    "order_date": "date",
    "expected_receipt_date": "date",
    "reason": "varchar",
    "published_at": "timestamp",
}
_TR_TYPES = {
    "plan_id": "varchar",
    "line_id": "varchar",
    "from_location_id": "varchar",
    "to_location_id": "varchar",
    "sku": "varchar",
    "transfer_qty": "double",
    "case_pack": "double",
    "transfer_cases": "double",
    "order_date": "date",
    "expected_receipt_date": "date",
    "allocation_method": "varchar",
    "reason": "varchar",
    "published_at": "timestamp",
}
assert list(_PO_TYPES) == PURCHASE_ORDER_COLUMNS and list(_TR_TYPES) == TRANSFER_COLUMNS

PLAN_VERSIONS_DDL = f"""create table if not exists {SCHEMA}.plan_versions (
    plan_id varchar, status varchar, dagster_run_id varchar, created_at timestamp,
    n_purchase_order_lines integer, n_transfer_lines integer, order_value double,
    failed_checks varchar, report_path varchar)"""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_published_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The ``published`` schema, its (empty) line tables and the version log."""
    con.execute(f"create schema if not exists {SCHEMA}")
    for table, types in (("purchase_order_proposals", _PO_TYPES), ("transfer_orders", _TR_TYPES)):
        cols = ", ".join(f"{c} {t}" for c, t in types.items())
        con.execute(f"create table if not exists {SCHEMA}.{table} ({cols})")
    con.execute(PLAN_VERSIONS_DDL)


def _append_version(
    con: duckdb.DuckDBPyConnection,
    plan_id: str,
    status: str,
    run_id: str,
    created_at: datetime,
    n_po: int,
    n_tr: int,
    order_value: float,
    failed: list[str],
    report_path: str,
) -> None:
    con.execute(
        f"insert into {SCHEMA}.plan_versions values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            plan_id,
            status,
            run_id,
            created_at,
            n_po,
            n_tr,
            float(order_value),
            json.dumps(failed),
            report_path,
        ],
    )


def _select_typed(types: dict[str, str]) -> str:
    return ", ".join(f"cast({c} as {t}) as {c}" for c, t in types.items())


def publish_plan(
    con: duckdb.DuckDBPyConnection, plan: Plan, run_id: str, report_path: str, created_at: datetime
) -> None:
    """Swap the plan's line tables in and log it, all in one transaction."""
    ensure_published_schema(con)
    staged = {
        "purchase_order_proposals": (plan.purchase_orders, _PO_TYPES),
        "transfer_orders": (plan.transfers, _TR_TYPES),
    }
    for table, (frame, types) in staged.items():
        con.register("_published_frame", frame)
        try:
            con.execute(
                f"create or replace table {SCHEMA}.{table}_new as "
                f"select {_select_typed(types)} from _published_frame"
            )
        finally:
            con.unregister("_published_frame")
    con.execute("begin transaction")
    try:
        for table in staged:
            con.execute(f"drop table if exists {SCHEMA}.{table}")
            con.execute(f"alter table {SCHEMA}.{table}_new rename to {table}")
        _append_version(
            con,
            plan.plan_id,
            "published",
            run_id,
            created_at,
            len(plan.purchase_orders),
            len(plan.transfers),
            plan.order_value,
            [],
            report_path,
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def audit_plan(
    recommendations_frame: tuple[pd.DataFrame, dict],
    allocation_frame: tuple[pd.DataFrame, dict],
    plan: Plan | None,
) -> checks.ValidationOutcome:
    """The staged tables' suites and, when a plan could be built, the published lines' suites."""
    outcomes = [
        checks.validate_frame(
            "inventory_replenishment_recommendations",
            recommendations_frame[0],
            context=recommendations_frame[1],
        ),
        checks.validate_frame(
            "inventory_allocation_plan", allocation_frame[0], context=allocation_frame[1]
        ),
    ]
    if plan is not None:
        ctx = {"plan_ids": [plan.plan_id]}
        outcomes.append(
            checks.validate_frame(
                "published_purchase_order_proposals",
                with_check_columns(plan.purchase_orders, "order_qty"),
                context=ctx,
            )
        )
        outcomes.append(
            checks.validate_frame(
                "published_transfer_orders",
                with_check_columns(plan.transfers, "transfer_qty"),
                context=ctx,
            )
        )
    return checks.combine_outcomes("published_plan", outcomes)


@dg.asset(
    key=PUBLISHED_PLAN_KEY,
    group_name="publish",
    kinds={"duckdb", "python"},
    deps=[RECOMMENDATIONS, ALLOCATION_PLAN],
    pool=WAREHOUSE_POOL,
    description=(
        "The validated plan the ERP receives: published.purchase_order_proposals, "
        "published.transfer_orders (swapped together) and the published.plan_versions log. "
        "Write-audit-publish: a plan that fails its suites is logged as rejected and the last "
        "good plan stays published."
    ),
)
def published_plan(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Audit the staged plan, then publish it atomically, or reject it and keep the last one."""
    started = time.perf_counter()
    run_id = context.run_id
    created_at = _now()
    with warehouse.get_connection() as con:
        rec_frame = tables.replenishment_recommendations(con)
        alloc_frame = tables.allocation_plan(con)
        recommendations = con.execute("select * from inventory.replenishment_recommendations").df()
        marginal = con.execute(
            "select dc_id, sku, location_id, alloc_units from inventory.allocation_plan "
            "where method = 'marginal'"
        ).df()
    plan: Plan | None
    try:
        plan = build_plan(recommendations, marginal, run_id=run_id, published_at=created_at)
    except (KeyError, TypeError, ValueError) as exc:  # a staged table with a broken schema
        context.log.error(f"the staged plan cannot be assembled: {exc!r}")
        plan = None
    outcome = audit_plan(rec_frame, alloc_frame, plan)
    report = checks.render_html(outcome, report_root(), keep=KEEP_REPORTS)
    plan_id = plan.plan_id if plan else plan_id_for(plan_order_date(recommendations), run_id)
    metadata = {
        "plan_id": plan_id,
        **outcome_metadata(outcome, report),
    }

    if plan is None or not outcome.success:
        failed = outcome.failed_summary() or ["the staged plan could not be assembled"]
        with warehouse.get_connection() as con:
            ensure_published_schema(con)
            _append_version(
                con,
                plan_id,
                "rejected",
                run_id,
                created_at,
                len(plan.purchase_orders) if plan else 0,
                len(plan.transfers) if plan else 0,
                plan.order_value if plan else 0.0,
                failed,
                str(report),
            )
        raise dg.Failure(
            description=(
                f"plan {plan_id} rejected, the published plan is unchanged: "
                + "; ".join(failed[:10])
            ),
            metadata=metadata,
        )

    with warehouse.get_connection() as con:
        publish_plan(con, plan, run_id, str(report), created_at)
    n_marginal = int((plan.transfers["allocation_method"] == "marginal").sum())
    context.log.info(
        f"published {plan_id}: {len(plan.purchase_orders):,} purchase-order lines, "
        f"{len(plan.transfers):,} transfer lines in {time.perf_counter() - started:.1f}s"
    )
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "purchase_order_lines": len(plan.purchase_orders),
            "transfer_lines": len(plan.transfers),
            "transfer_lines_capped_by_allocation": n_marginal,
            "order_value": plan.order_value,
            "transfer_units": float(plan.transfers["transfer_qty"].sum()),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
