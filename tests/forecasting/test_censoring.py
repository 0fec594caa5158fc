"""Stockout days: demand is estimated, not taken as the censored sales."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ml.forecasting.censoring import conditional_poisson_mean, estimate_censored_demand
from ml.forecasting.data import build_panel


@pytest.mark.parametrize("lam,s", [(3.0, 0), (3.0, 2), (3.0, 5), (10.0, 8), (0.5, 3)])
def test_conditional_poisson_mean_matches_brute_force(lam, s):
    k = np.arange(0, 200)
    p = stats.poisson.pmf(k, lam)
    expected = (k[k >= s] * p[k >= s]).sum() / p[k >= s].sum()
    assert conditional_poisson_mean(np.array([lam]), np.array([s]))[0] == pytest.approx(
        expected, rel=1e-6
    )


def test_estimate_is_closer_to_true_demand_and_never_below_sales(daily_mart):
    fct, _items, truth = daily_mart
    est = estimate_censored_demand(fct)
    cens = est["is_demand_imputed"].to_numpy()
    assert cens.sum() > 200  # the fixture has many censored days
    true = truth["true_demand"].to_numpy()
    sales = fct["units_sold"].to_numpy()
    e = est["demand_estimate"].to_numpy()
    mae_raw = np.abs(sales[cens] - true[cens]).mean()
    mae_est = np.abs(e[cens] - true[cens]).mean()
    assert mae_est < 0.8 * mae_raw
    # raw sales are biased low by construction; the estimate is close to unbiased
    assert abs((e[cens] - true[cens]).mean()) < 0.35 * abs((sales[cens] - true[cens]).mean())
    assert (e >= sales - 1e-9).all()
    np.testing.assert_array_equal(e[~cens], sales[~cens])


def test_weekly_panel_with_correction_is_closer_to_true_weekly_demand(daily_mart):
    fct, _items, truth = daily_mart
    y_fix, _ = build_panel(fct, correct_censoring=True)
    y_raw, _ = build_panel(fct, correct_censoring=False)
    t = truth.rename(columns={"true_demand": "units_sold"}).assign(is_stockout=False)
    y_true, _ = build_panel(t, correct_censoring=False)
    err_fix = (y_fix["demand"] - y_true["demand"]).abs().sum()
    err_raw = (y_raw["demand"] - y_true["demand"]).abs().sum()
    assert err_fix < 0.8 * err_raw
