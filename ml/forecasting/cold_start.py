"""Forecasts for new SKU-locations from similar items (cold start), flagged ``is_cold_start``.

A series is *cold* when it has fewer than ``min_history`` periods since its launch (or none).
Its forecast comes from **analogues**: established or recently launched series of items in the
same ``category`` and price band (tercile of ``unit_price`` within the category by default),
widening to the whole category and then to all items when fewer than ``min_analogues`` exist.

* **Launch profile**: mean demand of the analogues by *age* (periods since their own launch at
  the location, units/period), using only analogues whose launch lies inside the data. Ages
  beyond the observed profile, or groups without observed launches, use the analogues' mean over
  their last ``steady_periods`` periods (steady state).
* **Adjustment to the item's own sales**: if the new series has already sold for a few periods,
  the profile is scaled by ``(observed units + k) / (profile units over the same ages + k)`` with
  ``k = prior_periods`` periods' worth of profile demand - a gamma-Poisson credibility weight that
  moves from the analogues towards the item's own level as history accumulates.
* **Uncertainty**: negative binomial around that mean with the excess dispersion measured across
  analogues at the same age (between-item spread + Poisson noise), so intervals are wide for
  categories whose launches vary a lot, and never negative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml.forecasting.distributions import EVAL_ALPHAS, nb_quantiles


def _price_band(items: pd.DataFrame, n_bands: int) -> pd.Series:
    def band(p: pd.Series) -> pd.Series:
        if p.nunique() < 2:
            return pd.Series(0, index=p.index)
        return pd.qcut(p.rank(method="first"), min(n_bands, p.size), labels=False)

    return items.groupby("category", group_keys=False)["unit_price"].apply(band).astype(int)


def cold_start_forecast(
    demand: pd.DataFrame,
    items: pd.DataFrame,
    horizon: int,
    freq: str = "W-MON",
    targets: Sequence[tuple[str, str]] | None = None,
    as_of: pd.Timestamp | None = None,
    min_history: int = 8,
    min_analogues: int = 3,
    n_price_bands: int = 3,
    steady_periods: int = 8,
    prior_periods: float = 4.0,
    alphas: Sequence[float] = EVAL_ALPHAS,
) -> pd.DataFrame:
    """Cold-start forecasts for new series, one row per (series, period ahead).

    ``demand``: long frame ``sku, location_id, period, demand`` (e.g. ``y.reset_index()`` from
    :func:`~ml.forecasting.data.build_panel`; ``period`` = period start). ``items``: ``dim_items``
    with ``sku, category, unit_price, launch_date``. ``targets``: series to forecast; default all
    series with fewer than ``min_history`` periods since launch, plus (sku, location) pairs absent
    from ``demand`` cannot be guessed and must be listed. ``as_of``: last period of history
    (default: the last period in ``demand``).

    Returns columns ``sku, location_id, period, age, mean, q<alpha>..., n_analogues,
    analogue_level, is_cold_start`` (always True).
    """
    d = demand[["sku", "location_id", "period", "demand"]].copy()
    d["period"] = pd.to_datetime(d["period"])
    step = pd.tseries.frequencies.to_offset(freq)
    as_of = pd.Timestamp(as_of) if as_of is not None else d["period"].max()
    d = d[d["period"] <= as_of]
    step_td = (as_of + step) - as_of  # period length (exact for daily/weekly data)
    it = items.reset_index(drop=True)
    it["launch_date"] = pd.to_datetime(it["launch_date"])
    it["band"] = _price_band(it, n_price_bands)
    data_start = d["period"].min()

    first = d.groupby(["sku", "location_id"])["period"].min().rename("first_period")
    info = first.reset_index().merge(it[["sku", "category", "band", "launch_date"]], on="sku")
    # launch period at the location: first period with a row, not before the item launch
    info["launch"] = info[["first_period", "launch_date"]].max(axis=1)
    info["observed_launch"] = info["launch_date"] >= data_start
    n_per = d.groupby(["sku", "location_id"]).size().rename("n_periods")
    info = info.merge(n_per.reset_index(), on=["sku", "location_id"])

    if targets is None:
        tgt = info.loc[info["n_periods"] < min_history, ["sku", "location_id"]]
    else:
        tgt = pd.DataFrame(list(targets), columns=["sku", "location_id"])
    if tgt.empty:
        return pd.DataFrame()
    tgt = tgt.merge(it[["sku", "category", "band", "launch_date"]], on="sku", how="left")
    tgt = tgt.merge(info[["sku", "location_id", "launch"]], on=["sku", "location_id"], how="left")
    tgt["launch"] = tgt["launch"].fillna(tgt["launch_date"]).fillna(as_of + step)

    established = info[info["n_periods"] >= min_history]
    da = d.merge(
        info[["sku", "location_id", "launch", "category", "band", "observed_launch"]],
        on=["sku", "location_id"],
    )
    da = da[
        da.set_index(["sku", "location_id"]).index.isin(
            established.set_index(["sku", "location_id"]).index
        )
    ]
    # age in periods since launch
    span = (da["period"] - da["launch"]) / step_td
    da["age"] = np.floor(span.astype(float)).astype(int)
    last = da.groupby(["sku", "location_id"])["period"].transform("max")
    da["recent"] = da["period"] > last - steady_periods * step

    rows = []
    alphas = list(alphas)
    for _, r in tgt.iterrows():
        pool = da[(da["category"] == r["category"]) & (da["band"] == r["band"])]
        level = "category+price_band"
        if pool.groupby(["sku", "location_id"]).ngroups < min_analogues:
            pool = da[da["category"] == r["category"]]
            level = "category"
        if pool.groupby(["sku", "location_id"]).ngroups < min_analogues:
            pool = da
            level = "all"
        n_an = pool.groupby(["sku", "location_id"]).ngroups
        steady = pool[pool["recent"]]
        steady_mean = float(steady["demand"].mean()) if len(steady) else 0.0
        steady_var = float(steady["demand"].var(ddof=0)) if len(steady) > 1 else steady_mean
        launched = pool[pool["observed_launch"] & (pool["age"] >= 0)]
        prof = launched.groupby("age")["demand"].agg(["mean", "var", "count"])
        prof = prof[prof["count"] >= min(min_analogues, 3)]
        age0 = int(np.floor((as_of - r["launch"]) / step_td)) + 1
        ages = age0 + np.arange(horizon)
        mean = np.array([prof["mean"].get(a, steady_mean) for a in ages], dtype=float)
        var = np.array([prof["var"].get(a, steady_var) for a in ages], dtype=float)
        var = np.nan_to_num(var, nan=steady_var)
        # credibility adjustment to the item's own history
        own = d[(d["sku"] == r["sku"]) & (d["location_id"] == r["location_id"])]
        if len(own):
            own_ages = np.floor(((own["period"] - r["launch"]) / step_td).astype(float))
            exp_own = np.array([prof["mean"].get(a, steady_mean) for a in own_ages], dtype=float)
            k = prior_periods * max(steady_mean, 1e-6)
            ratio = (own["demand"].sum() + k) / (exp_own.sum() + k)
            mean = mean * ratio
            var = var * ratio**2
        mean = np.where(ages >= 0, np.maximum(mean, 0.0), 0.0)  # nothing before launch
        var = np.where(ages >= 0, var, 0.0)
        q = nb_quantiles(mean, np.maximum(var, mean), np.asarray(alphas))
        periods = pd.date_range(as_of + step, periods=horizon, freq=step)
        out = pd.DataFrame(
            {
                "sku": r["sku"],
                "location_id": r["location_id"],
                "period": periods,
                "age": ages,
                "mean": mean,
            }
        )
        for j, a in enumerate(alphas):
            out[f"q{a:g}"] = q[:, j]
        out["n_analogues"] = n_an
        out["analogue_level"] = level
        out["is_cold_start"] = True
        rows.append(out)
    return pd.concat(rows, ignore_index=True)
