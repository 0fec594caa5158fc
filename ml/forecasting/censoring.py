"""Demand estimation on stockout days (censored sales).

On a day flagged ``is_stockout`` the shelf ran empty, so ``units_sold = min(demand, stock)`` is a
*lower bound* on demand, not demand. Treating it as demand teaches every model that demand drops
when stock runs out, which then lowers the forecast and the stock, a self-reinforcing loop.

Method (vectorised with pandas groupby/rolling; no loop per series):

1. Expected demand ``lam`` for every day from *uncensored* days of the same series only:
   a centred rolling mean over ``window_days`` (level, units/day) x the series' weekday factor
   (mean on that weekday / overall mean, shrunk towards 1 with ``weekday_prior_days``
   pseudo-days) x a promotion uplift (mean on promo days / mean on other days, shrunk towards 1).
2. Demand on a censored day with observed sales ``s`` is the conditional mean under a Poisson
   model given that demand was at least ``s``::

       E[D | D >= s] = lam * P(D >= s - 1) / P(D >= s)        (= lam for s = 0)

   which is never below ``s`` and equals ``lam`` when nothing was sold.

Bias: the estimate is unbiased when demand on stockout days behaves like demand on comparable
uncensored days. It is biased *low* when stockouts are caused by demand spikes (e.g. an
unannounced event), because the level comes from normal days, and the Poisson tail understates
``E[D | D >= s]`` for over-dispersed (erratic, lumpy) series. Days whose stock is unknown
(``is_stock_known`` False) are not corrected. Long stockout spells leave few uncensored days in the
window; the level then falls back to the series' overall uncensored mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special


def estimate_censored_demand(
    df: pd.DataFrame,
    keys: tuple[str, ...] = ("sku", "location_id"),
    date_col: str = "demand_date",
    sales_col: str = "units_sold",
    stockout_col: str = "is_stockout",
    stock_known_col: str | None = "is_stock_known",
    promo_col: str | None = "is_promo",
    window_days: int = 57,
    weekday_prior_days: float = 8.0,
    promo_prior_days: float = 8.0,
) -> pd.DataFrame:
    """Return ``df`` with ``demand_estimate`` (units/day) and ``is_demand_imputed`` columns.

    ``demand_estimate`` equals ``units_sold`` on uncensored days and ``E[D | D >= units_sold]`` on
    censored ones (see module docstring). Rows keep their order.
    """
    keys = list(keys)
    out = df.copy()
    censored = out[stockout_col].fillna(False).astype(bool)
    if stock_known_col is not None and stock_known_col in out:
        censored &= out[stock_known_col].fillna(False).astype(bool)
    sales = out[sales_col].astype(float).clip(lower=0)
    clean = sales.where(~censored)
    dates = pd.to_datetime(out[date_col])
    work = pd.DataFrame({"clean": clean.to_numpy(), "dow": dates.dt.dayofweek.to_numpy()})
    for k in keys:
        work[k] = out[k].to_numpy()
    work["_date"] = dates.to_numpy()
    work["_row"] = np.arange(len(work))
    work = work.sort_values([*keys, "_date"])
    g = work.groupby(keys, sort=False, observed=True)["clean"]
    series_mean = g.transform("mean")
    level = g.transform(lambda s: s.rolling(window_days, center=True, min_periods=7).mean()).fillna(
        series_mean
    )
    # weekday factor, shrunk to 1
    wd = work.groupby([*keys, "dow"], sort=False, observed=True)["clean"].agg(["sum", "count"])
    wd = wd.reset_index()
    sm = work.groupby(keys, sort=False, observed=True)["clean"].mean().rename("smean").reset_index()
    wd = wd.merge(sm, on=keys, how="left")
    wd["wfac"] = (wd["sum"] + weekday_prior_days * wd["smean"]) / (
        (wd["count"] + weekday_prior_days) * wd["smean"]
    )
    wd["wfac"] = wd["wfac"].where(wd["smean"] > 0, 1.0).fillna(1.0)
    work = work.merge(wd[[*keys, "dow", "wfac"]], on=[*keys, "dow"], how="left")
    lam = level.to_numpy() * work["wfac"].to_numpy()
    # the weekday factor is relative to the overall mean; the rolling level already averages
    # weekdays, so the product keeps the right mean.
    if promo_col is not None and promo_col in out:
        promo = out[promo_col].fillna(False).astype(bool).to_numpy()[work["_row"].to_numpy()]
        work["_promo"] = promo
        pr = work.groupby([*keys, "_promo"], sort=False, observed=True)["clean"].agg(
            ["sum", "count"]
        )
        pr = pr.unstack("_promo")
        if (True in pr["sum"].columns) and (False in pr["sum"].columns):
            m_promo = pr["sum"][True] / pr["count"][True]
            m_base = pr["sum"][False] / pr["count"][False]
            ratio = (m_promo * pr["count"][True] + promo_prior_days * m_base) / (
                (pr["count"][True] + promo_prior_days) * m_base
            )
            ratio = ratio.where(m_base > 0, 1.0).fillna(1.0).rename("pfac").reset_index()
            work = work.merge(ratio, on=keys, how="left")
            pfac = work["pfac"].fillna(1.0).to_numpy()
            share = (
                work.groupby(keys, sort=False, observed=True)["_promo"].transform("mean").to_numpy()
            )
            # level is a mix of promo and non-promo days: rescale to a non-promo base first
            base = lam / (1 + share * (pfac - 1))
            lam = np.where(work["_promo"].to_numpy(), base * pfac, base)
    lam = np.nan_to_num(lam, nan=0.0)
    order = work["_row"].to_numpy()
    lam_rows = np.empty(len(work))
    lam_rows[order] = lam
    s = sales.to_numpy()
    cond = conditional_poisson_mean(lam_rows, s)
    est = np.where(censored.to_numpy(), cond, s)
    out["demand_estimate"] = est
    out["is_demand_imputed"] = censored.to_numpy()
    return out


def conditional_poisson_mean(lam: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """``E[D | D >= lower]`` for ``D ~ Poisson(lam)`` (vectorised; never below ``lower``).

    Uses ``E[D 1{D >= s}] = lam P(D >= s - 1)``. Far in the tail (``P(D >= s)`` below 1e-12,
    sales far above the expected level) the ratio is numerically unstable and the result is
    approximated by ``lower + lam / (lower + 1)``.
    """
    lam = np.maximum(np.asarray(lam, dtype=float), 1e-9)
    s = np.maximum(np.asarray(lower, dtype=float), 0.0)
    # P(D >= s) = 1 - P(D <= s-1) = gammainc(s, lam) for s >= 1 (regularised lower gamma)
    p_ge_s = np.where(s >= 1, special.gammainc(np.maximum(s, 1e-12), lam), 1.0)
    p_ge_sm1 = np.where(s >= 2, special.gammainc(np.maximum(s - 1, 1e-12), lam), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        val = lam * p_ge_sm1 / p_ge_s
    tail = p_ge_s < 1e-12
    val = np.where(tail | ~np.isfinite(val), s + lam / (s + 1.0), val)
    return np.maximum(val, s)
