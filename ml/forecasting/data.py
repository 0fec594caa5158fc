"""From the demand mart to sktime panels: censoring correction, then aggregation.

``fct_daily_demand`` (one row per SKU-location-day) becomes ``y`` (demand, units per period) and
``X`` (mean ``net_price`` and promotion share per period) in sktime's ``pd-multiindex`` format with
index ``(sku, location_id, period_start)``. Weekly periods start on Monday (``W-MON``), so a label
is the first day of the week it sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.forecasting.censoring import estimate_censored_demand

KEYS: tuple[str, str] = ("sku", "location_id")


def build_panel(
    fct_daily_demand: pd.DataFrame,
    freq: str = "W-MON",
    correct_censoring: bool = True,
    complete_weeks_only: bool = True,
    integer: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(y, X)`` for :class:`~ml.forecasting.forecaster.DemandForecaster`.

    * ``correct_censoring``: replace sales on stockout days by the estimate of
      :func:`~ml.forecasting.censoring.estimate_censored_demand` before aggregating.
    * ``freq``: ``"D"`` keeps days; ``"W-MON"`` sums Monday-Sunday weeks (labelled by Monday).
    * ``complete_weeks_only``: drop a first/last period that is not fully covered by the data.
    * ``integer``: round aggregated demand to whole units so count distributions apply.

    Days missing inside a series' range are treated as zero demand (the mart has one row per
    day a SKU is listed at a location). ``X`` columns: ``net_price`` (mean, currency/unit) and
    ``promo_share`` (share of promo days, 0-1).
    """
    df = fct_daily_demand
    if correct_censoring and "is_stockout" in df:
        df = estimate_censored_demand(df)
        demand = df["demand_estimate"]
    else:
        demand = df["units_sold"].astype(float)
    d = pd.DataFrame(
        {
            "sku": df["sku"].to_numpy(),
            "location_id": df["location_id"].to_numpy(),
            "date": pd.to_datetime(df["demand_date"]).to_numpy(),
            "demand": demand.to_numpy(dtype=float),
            "net_price": df["net_price"].astype(float).to_numpy() if "net_price" in df else np.nan,
            "promo": df["is_promo"].astype(float).to_numpy() if "is_promo" in df else 0.0,
        }
    )
    if freq == "D":
        d["period"] = d["date"]
        n_days = 1
    else:
        d["period"] = d["date"].dt.to_period(freq.replace("W-MON", "W-SUN")).dt.start_time
        n_days = 7
    agg = d.groupby([*KEYS, "period"], sort=True, observed=True).agg(
        demand=("demand", "sum"),
        net_price=("net_price", "mean"),
        promo_share=("promo", "mean"),
        n_days=("demand", "size"),
    )
    if complete_weeks_only and n_days > 1:
        agg = agg[agg["n_days"] == n_days]
    if integer:
        agg["demand"] = np.round(agg["demand"])
    agg.index = agg.index.set_names([*KEYS, "period"])
    y = agg[["demand"]]
    X = agg[["net_price", "promo_share"]].copy()
    X["net_price"] = X.groupby(level=list(KEYS))["net_price"].transform(lambda s: s.ffill().bfill())
    return y, X
