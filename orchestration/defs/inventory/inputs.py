"""Reading what the inventory assets need from the warehouse, in the shapes ``ml.inventory`` takes.

Demand over a protection interval comes from the weekly forecast moments in
``forecasting.demand_forecast`` (``mean``, ``variance``, ``level_cv2`` per SKU-location-week):

* daily mean ``mu = mean_w / 7`` averaged over the weeks the interval covers (stores: weeks 1-2,
  which hold a store's review period plus transfer time; DCs: weeks 1-8, a supplier lead time
  plus a review period);
* the independent part of the weekly variance, ``variance_w - level_cv2 * mean_w**2``, spread
  evenly over the 7 days of the week (days independent within a week), gives the daily variance;
* ``level_cv2`` (the forecast-level error shared by all periods) is kept as is, so demand over
  ``t`` days has variance ``t * var_daily + level_cv2 * (mu t)**2``.

A DC's demand is the sum of its stores' demand (the stores it replenishes): means and independent
variances add; level errors are taken as independent between stores, so
``level_cv2_dc = sum(level_cv2_j mu_j**2) / (sum mu_j)**2``.
"""

import duckdb
import numpy as np
import pandas as pd

STORE_WEEKS = 2
DC_WEEKS = 8

ITEMS_SQL = """
select sku, category, cast(unit_cost as double) as unit_cost,
       cast(unit_price as double) as unit_price, case_pack, moq, supplier_id,
       substitute_group, default_lead_time_days
from marts.dim_items
"""
LOCATIONS_SQL = """
select location_id, location_type, replenished_from, transfer_lead_time_days, capacity_units
from marts.dim_locations
"""
POSITIONS_SQL = """
select sku, location_id, cast(on_hand_qty as double) as on_hand_qty,
       cast(on_order_qty as double) as on_order_qty,
       cast(in_transit_qty as double) as in_transit_qty,
       cast(inventory_position_qty as double) as inventory_position_qty,
       is_stock_known, snapshot_date
from marts.fct_inventory_positions
"""
PO_LINES_SQL = """
select po_number, po_line, supplier_id, sku, ship_to_location_id as location_id, status,
       order_date, promised_date, cast(order_qty as double) as order_qty,
       cast(received_qty as double) as received_qty, cast(fill_rate as double) as fill_rate,
       receipt_count, first_receipt_date, last_receipt_date, lead_time_days,
       cast(qty_weighted_lead_time_days as double) as qty_weighted_lead_time_days,
       days_late, is_open,
       date_diff('day', order_date, promised_date) as promised_lead_time_days
from marts.fct_purchase_order_lines
"""
FORECAST_SQL = """
select sku, location_id, horizon, mean, variance, level_cv2, demand_class, is_cold_start
from forecasting.demand_forecast
where horizon <= {weeks}
"""


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Run ``sql`` and return a DataFrame (DuckDB's fetch leaves no unfinished result)."""
    return con.execute(sql).df()


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the warehouse."""
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(rows[0][0])


def daily_moments(weekly: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Daily ``mu``, ``var_daily`` and ``level_cv2`` per key from weekly forecast moments."""
    w = weekly.copy()
    w["indep"] = np.maximum(w["variance"] - w["level_cv2"] * w["mean"] ** 2, w["mean"])
    g = w.groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "mu": g["mean"].mean() / 7.0,
            "var_daily": g["indep"].mean() / 7.0,
            "level_cv2": g["level_cv2"].mean(),
            "is_cold_start": g["is_cold_start"].any(),
            "demand_class": g["demand_class"].first(),
        }
    )
    return out.reset_index()


def store_demand(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Daily demand moments of every store SKU-location over forecast weeks 1-2."""
    weekly = query(con, FORECAST_SQL.format(weeks=STORE_WEEKS))
    return daily_moments(weekly, ["sku", "location_id"])


def dc_demand(con: duckdb.DuckDBPyConnection, locations: pd.DataFrame) -> pd.DataFrame:
    """Daily demand moments of every DC SKU: the sum over the stores it replenishes (weeks 1-8)."""
    weekly = query(con, FORECAST_SQL.format(weeks=DC_WEEKS))
    per_store = daily_moments(weekly, ["sku", "location_id"])
    parent = locations.set_index("location_id")["replenished_from"]
    per_store["dc"] = per_store["location_id"].map(parent)
    per_store = per_store.dropna(subset=["dc"])
    per_store["level_var"] = per_store["level_cv2"] * per_store["mu"] ** 2
    g = per_store.groupby(["sku", "dc"], sort=False)
    agg = g.agg(
        mu=("mu", "sum"),
        var_daily=("var_daily", "sum"),
        level_var=("level_var", "sum"),
        n_stores=("location_id", "size"),
        is_cold_start=("is_cold_start", "all"),
    ).reset_index()
    agg["level_cv2"] = np.where(agg["mu"] > 0, agg["level_var"] / agg["mu"].clip(1e-12) ** 2, 0.0)
    return agg.drop(columns="level_var").rename(columns={"dc": "location_id"})


BACKTEST_FORECASTS_SQL = """
select sku, location_id, origin, forecast_week, mean, variance, level_cv2
from forecasting.backtest_forecasts
"""
BACKTEST_DAILY_SQL = """
select f.sku, f.location_id, f.demand_date, cast(f.units_sold as double) as units_sold,
       f.is_promo, f.is_stockout, f.is_stock_known
from marts.fct_daily_demand f
join (select distinct sku, location_id from forecasting.backtest_forecasts) k
  using (sku, location_id)
where f.demand_date >= date '{start}' - interval {lookback} day
  and f.demand_date <= date '{end}'
"""


def backtest_panel(con: duckdb.DuckDBPyConnection, lookback_days: int = 56) -> dict:
    """Held-out daily demand and the forecasts made before it, for the policy backtest.

    The forecast backtest's origins are 8 weeks apart, so their held-out weeks form one
    contiguous window. Returns ``keys`` (sku, location_id), ``demand[n, T]`` (units/day,
    censoring corrected: a stockout day's demand is estimated as in the training set, not
    taken as its sales), weekly ``mu``, ``var_daily`` and ``level_cv2`` ``[n, W]`` from the
    forecast made before each week, ``origins[W]`` (the forecast origin each week's forecast
    comes from, the first when several cover it), the window's first day ``start``, and
    ``avg_daily_demand`` over the ``lookback_days`` before it (what a static rule is set from).
    """
    from ml.forecasting.censoring import estimate_censored_demand

    fc = query(con, BACKTEST_FORECASTS_SQL)
    fc["forecast_week"] = pd.to_datetime(fc["forecast_week"])
    weeks = np.sort(fc["forecast_week"].unique())
    start, end = pd.Timestamp(weeks[0]), pd.Timestamp(weeks[-1]) + pd.Timedelta(days=6)
    keys = fc[["sku", "location_id"]].drop_duplicates().sort_values(["sku", "location_id"])
    keys = keys.reset_index(drop=True)
    kidx = pd.MultiIndex.from_frame(keys)
    moments = daily_moments(
        fc.assign(is_cold_start=False, demand_class=""), ["sku", "location_id", "forecast_week"]
    )
    W = len(weeks)
    origins = (
        fc.assign(origin=pd.to_datetime(fc["origin"]))
        .groupby("forecast_week")["origin"]
        .min()
        .reindex(pd.DatetimeIndex(weeks))
        .to_numpy()
    )
    grids = {}
    for col in ("mu", "var_daily", "level_cv2"):
        wide = moments.pivot_table(
            index=["sku", "location_id"], columns="forecast_week", values=col
        )
        wide = wide.reindex(index=kidx, columns=pd.DatetimeIndex(weeks))
        grids[col] = wide.ffill(axis=1).bfill(axis=1).fillna(0.0).to_numpy(dtype=float)

    daily = query(
        con,
        BACKTEST_DAILY_SQL.format(
            start=start.date(), end=end.date(), lookback=int(lookback_days) + 63
        ),
    )
    daily["demand_date"] = pd.to_datetime(daily["demand_date"])
    daily = estimate_censored_demand(daily)
    days = pd.date_range(start - pd.Timedelta(days=lookback_days), end, freq="D")
    wide = daily.pivot_table(
        index=["sku", "location_id"], columns="demand_date", values="demand_estimate"
    ).reindex(index=kidx, columns=days)
    arr = wide.fillna(0.0).to_numpy(dtype=float)
    before, held_out = arr[:, :lookback_days], arr[:, lookback_days:]
    return {
        "keys": keys,
        "demand": held_out,
        "mu": grids["mu"],
        "var_daily": grids["var_daily"],
        "level_cv2": grids["level_cv2"],
        "origins": origins,
        "start": start,
        "weeks": W,
        "avg_daily_demand": before.mean(axis=1),
    }


WEEKDAY_SHARES_SQL = """
select f.location_id, (dayofweek(f.demand_date) + 6) % 7 as dow,
       sum(cast(f.units_sold as double)) as units
from marts.fct_daily_demand f
join marts.dim_locations l using (location_id)
where l.location_type = 'STORE'
  and f.demand_date > (select max(demand_date) from marts.fct_daily_demand) - interval 364 day
group by all
"""


SEGMENT_DEMAND_SQL = """
select f.sku, f.location_id, f.demand_date, cast(f.units_sold as double) as units_sold,
       cast(coalesce(f.net_price, f.regular_price) as double) as net_price,
       cast(f.units_sold as double) * cast(coalesce(f.net_price, f.regular_price) as double)
           as revenue
from marts.fct_daily_demand f
join marts.dim_locations l using (location_id)
where l.location_type = 'STORE'
  and f.demand_date > (select max(demand_date) from marts.fct_daily_demand) - interval 364 day
"""
