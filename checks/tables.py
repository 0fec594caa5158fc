"""Frames for the suites on marts, forecasts and the staged plan, loaded with DuckDB SQL.

Each function returns ``(frame, context)``: the frame the suite of the same name validates, and
the run-time values of the suite's parameters. Large tables are aggregated in SQL first:
``marts.fct_daily_demand`` (1.5 M rows on the demo network, 73 M at 100,000 SKU-locations) is
validated as one row per SKU-location (days covered, gaps, duplicates, negative units, stockout
flags against on hand), which checks every row in one DuckDB pass and hands GX a few thousand.

Dates are handed over as integers yyyymmdd (see ``checks.sql.date_as_yyyymmdd``). Columns named
``<x>_not_in_<table>`` hold the value when it is missing from the dimension, else NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from checks.sql import date_as_yyyymmdd as ymd

Frame = tuple[pd.DataFrame, dict[str, Any]]


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.execute(sql).fetchall()
    return rows[0][0] if rows else None


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    )


def fct_daily_demand(con: duckdb.DuckDBPyConnection) -> Frame:
    """One row per SKU-location of ``marts.fct_daily_demand`` with its integrity figures."""
    frame = _df(
        con,
        f"""with per_series as (
                select sku, location_id, count(*) as n_rows,
                    count(distinct demand_date) as n_dates,
                    min(demand_date) as first_date, max(demand_date) as last_date,
                    count(*) filter (where units_sold is null) as null_units_sold,
                    min(units_sold)::double as min_units_sold,
                    min(units_returned)::double as min_units_returned,
                    count(*) filter (where is_stockout and not coalesce(on_hand_qty <= 0, false))
                        as stockout_with_stock,
                    count(*) filter (where net_price < 0 or regular_price < 0)
                        as negative_price_days,
                    avg(units_sold)::double as mean_units_sold,
                    avg(is_stockout::int)::double as stockout_share
                from marts.fct_daily_demand
                group by sku, location_id
            ),
            extract_end as (select max(last_date) as last_day from per_series)
            select s.sku, s.location_id, s.n_rows, s.n_dates,
                {ymd("s.first_date")} as first_date, {ymd("s.last_date")} as last_date,
                date_diff('day', s.first_date, s.last_date) + 1 - s.n_dates as missing_days,
                s.n_rows - s.n_dates as duplicate_days,
                date_diff('day', s.last_date, e.last_day) as days_before_last_sales_date,
                s.null_units_sold, s.min_units_sold, s.min_units_returned,
                s.stockout_with_stock, s.negative_price_days, s.mean_units_sold,
                s.stockout_share,
                case when i.sku is null then s.sku end as sku_not_in_dim_items,
                case when l.location_id is null then s.location_id end
                    as location_id_not_in_dim_locations
            from per_series s cross join extract_end e
            left join marts.dim_items i on i.sku = s.sku
            left join marts.dim_locations l on l.location_id = s.location_id
            order by s.sku, s.location_id""",
    )
    return frame, {}


def fct_purchase_order_lines(con: duckdb.DuckDBPyConnection) -> Frame:
    """``marts.fct_purchase_order_lines`` with dates as yyyymmdd and dimension look-ups."""
    frame = _df(
        con,
        f"""select p.po_number, p.po_line, p.supplier_id, p.sku, p.ship_to_location_id, p.status,
                {ymd("p.order_date")} as order_date, {ymd("p.promised_date")} as promised_date,
                {ymd("p.first_receipt_date")} as first_receipt_date,
                {ymd("p.last_receipt_date")} as last_receipt_date,
                p.order_qty::double as order_qty, p.received_qty::double as received_qty,
                p.fill_rate::double as fill_rate, p.receipt_count, p.lead_time_days,
                p.days_late, p.is_open, p.open_qty::double as open_qty,
                case when s.supplier_id is null then p.supplier_id end
                    as supplier_id_not_in_dim_suppliers,
                case when i.sku is null then p.sku end as sku_not_in_dim_items,
                case when l.location_id is null then p.ship_to_location_id end
                    as ship_to_location_id_not_in_dim_locations
            from marts.fct_purchase_order_lines p
            left join marts.dim_suppliers s on s.supplier_id = p.supplier_id
            left join marts.dim_items i on i.sku = p.sku
            left join marts.dim_locations l on l.location_id = p.ship_to_location_id
            order by p.po_number, p.po_line""",
    )
    return frame, {}


def fct_inventory_positions(con: duckdb.DuckDBPyConnection) -> Frame:
    """``marts.fct_inventory_positions`` with the position identity and look-ups."""
    frame = _df(
        con,
        f"""select p.sku, p.location_id, {ymd("p.snapshot_date")} as snapshot_date,
                p.on_hand_qty::double as on_hand_qty, p.on_order_qty::double as on_order_qty,
                p.in_transit_qty::double as in_transit_qty,
                p.inventory_position_qty::double as inventory_position_qty, p.is_stock_known,
                abs(p.inventory_position_qty - (p.on_hand_qty + p.on_order_qty
                    + p.in_transit_qty))::double as position_identity_error,
                case when i.sku is null then p.sku end as sku_not_in_dim_items,
                case when l.location_id is null then p.location_id end
                    as location_id_not_in_dim_locations
            from marts.fct_inventory_positions p
            left join marts.dim_items i on i.sku = p.sku
            left join marts.dim_locations l on l.location_id = p.location_id
            order by p.sku, p.location_id""",
    )
    return frame, {}


QUANTILES = ("q01", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q99")


def demand_forecast(con: duckdb.DuckDBPyConnection) -> Frame:
    """``forecasting.demand_forecast`` with per-series horizon counts and week arithmetic."""
    quantiles = ", ".join(QUANTILES)
    frame = _df(
        con,
        f"""select f.sku, f.location_id, {ymd("f.forecast_week")} as forecast_week, f.horizon,
                f.mean, f.variance, {quantiles}, f.demand_class, f.model_family,
                f.is_cold_start, f.model_version,
                isodow(f.forecast_week) as forecast_weekday,
                count(*) over (partition by f.sku, f.location_id) as horizons_in_series,
                date_diff('day', min(f.forecast_week) over (partition by f.sku, f.location_id),
                          f.forecast_week) - 7 * (f.horizon - 1) as week_offset_error,
                case when i.sku is null then f.sku end as sku_not_in_dim_items,
                case when l.location_id is null then f.location_id end
                    as location_id_not_in_dim_locations
            from forecasting.demand_forecast f
            left join marts.dim_items i on i.sku = f.sku
            left join marts.dim_locations l on l.location_id = f.location_id
            order by f.sku, f.location_id, f.horizon""",
    )
    return frame, {}


def replenishment_recommendations(
    con: duckdb.DuckDBPyConnection, table: str = "inventory.replenishment_recommendations"
) -> Frame:
    """The staged order lines with case, MOQ, size and look-up figures.

    ``size_ratio`` = order quantity over the largest of order-up-to level, MOQ and case pack:
    above 2 an order is more than twice what any rule could ask for.
    """
    frame = _df(
        con,
        f"""select r.sku, r.location_id, r.ship_from_type, r.ship_from, r.supplier_id,
                r.source_location_id, r.policy, r.echelon,
                r.order_qty, r.order_cases::double as order_cases, r.case_pack,
                {ymd("r.order_date")} as order_date,
                {ymd("r.expected_receipt_date")} as expected_receipt_date,
                date_diff('day', r.order_date, r.expected_receipt_date) as lead_days,
                r.unit_cost, r.order_value,
                abs(r.order_qty - round(r.order_qty / nullif(r.case_pack, 0))
                    * r.case_pack) as case_remainder,
                abs(r.order_cases * r.case_pack - r.order_qty) as cases_mismatch,
                abs(r.order_value - r.order_qty * r.unit_cost) as value_mismatch,
                case when r.ship_from_type = 'supplier'
                    then greatest(coalesce(i.moq, 0) - r.order_qty, 0) end as moq_shortfall,
                r.order_qty / greatest(coalesce(r.order_up_to, 0), coalesce(i.moq, 0),
                                       coalesce(r.case_pack, 1), 1) as size_ratio,
                case when i.sku is null then r.sku end as sku_not_in_dim_items,
                case when l.location_id is null then r.location_id end
                    as location_id_not_in_dim_locations,
                case when r.ship_from_type = 'supplier' and s.supplier_id is null
                    then r.supplier_id end as supplier_id_not_in_dim_suppliers,
                case when r.ship_from_type = 'location'
                    and r.ship_from is distinct from l.replenished_from
                    then r.ship_from end as ship_from_not_the_stores_dc,
                case when r.ship_from_type = 'supplier' and r.ship_from is distinct from r.supplier_id
                    then r.ship_from end as ship_from_not_the_supplier
            from {table} r
            left join marts.dim_items i on i.sku = r.sku
            left join marts.dim_locations l on l.location_id = r.location_id
            left join marts.dim_suppliers s on s.supplier_id = r.supplier_id
            order by r.sku, r.location_id""",
    )
    max_lines = (
        _scalar(con, "select count(*) from inventory.reorder_policy")
        if _exists(con, "inventory", "reorder_policy")
        else None
    )
    return frame, {"max_lines": int(max_lines) if max_lines else None}


def allocation_plan(
    con: duckdb.DuckDBPyConnection, table: str = "inventory.allocation_plan"
) -> Frame:
    """The staged allocation with whole-case, DC-stock and store-to-DC figures."""
    frame = _df(
        con,
        f"""select a.sku, a.location_id, a.dc_id, a.method,
                a.alloc_units::double as alloc_units, a.alloc_cases::double as alloc_cases,
                a.expected_sales, a.expected_margin, i.case_pack::double as case_pack,
                abs(a.alloc_cases * i.case_pack - a.alloc_units)::double as case_mismatch,
                greatest(sum(a.alloc_units) over (partition by a.dc_id, a.sku, a.method)
                         - greatest(coalesce(p.on_hand_qty, 0), 0), 0)::double
                    as dc_overallocation,
                case when i.sku is null then a.sku end as sku_not_in_dim_items,
                case when l.location_id is null then a.location_id end
                    as location_id_not_in_dim_locations,
                case when l.location_id is not null
                    and l.replenished_from is distinct from a.dc_id
                    then a.location_id end as store_not_served_by_dc
            from {table} a
            left join marts.dim_items i on i.sku = a.sku
            left join marts.dim_locations l on l.location_id = a.location_id
            left join marts.fct_inventory_positions p
                on p.sku = a.sku and p.location_id = a.dc_id
            order by a.dc_id, a.sku, a.location_id, a.method""",
    )
    return frame, {}


#: suite name -> frame loader (the suites checked on tables, as opposed to raw extracts)
TABLE_FRAMES: dict[str, Callable[[duckdb.DuckDBPyConnection], Frame]] = {
    "marts_fct_daily_demand": fct_daily_demand,
    "marts_fct_purchase_order_lines": fct_purchase_order_lines,
    "marts_fct_inventory_positions": fct_inventory_positions,
    "forecasting_demand_forecast": demand_forecast,
    "inventory_replenishment_recommendations": replenishment_recommendations,
    "inventory_allocation_plan": allocation_plan,
}


def load_frame(con: duckdb.DuckDBPyConnection, suite_name: str) -> Frame:
    """``(frame, context)`` for one of the table suites (see ``TABLE_FRAMES``)."""
    try:
        loader = TABLE_FRAMES[suite_name]
    except KeyError:
        raise KeyError(
            f"no table frame for suite {suite_name!r}; have {sorted(TABLE_FRAMES)}"
        ) from None
    return loader(con)
