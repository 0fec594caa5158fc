"""DemandForecaster: sktime contract, non-negative monotone quantiles, calibration, accuracy,
frequencies, joint sample paths and lead-time demand."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ml.forecasting.backtest import baseline_seasonal_naive_quantiles, score_quantile_forecasts
from ml.forecasting.distributions import EVAL_ALPHAS
from ml.forecasting.forecaster import DemandForecaster

from .conftest import HORIZON, split_last


@pytest.mark.slow
def test_passes_sktime_check_estimator():
    from sktime.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(DemandForecaster, raise_exceptions=True)


def test_quantiles_are_non_negative_integers_and_monotone(fitted_weekly, weekly_split):
    _y_tr, _y_te, _X_tr, X_te = weekly_split
    q = fitted_weekly.predict_quantiles(X=X_te, alpha=list(EVAL_ALPHAS))
    v = q.to_numpy()
    assert v.shape == (300 * HORIZON, len(EVAL_ALPHAS))
    assert (v >= 0).all()
    assert (np.diff(v, axis=1) >= 0).all()
    np.testing.assert_array_equal(v, np.round(v))
    # at least some series have a strictly wider 98% than 80% interval
    assert (v[:, -1] > v[:, -4]).mean() > 0.9


def test_interval_matches_quantiles(fitted_weekly, weekly_split):
    X_te = weekly_split[3]
    iv = fitted_weekly.predict_interval(X=X_te, coverage=[0.9])
    q = fitted_weekly.predict_quantiles(X=X_te, alpha=[0.05, 0.95])
    np.testing.assert_array_equal(iv.to_numpy(), q.to_numpy())


def test_90pct_interval_is_calibrated_on_held_out_weeks(fitted_weekly, weekly_split):
    _y_tr, y_te, _X_tr, X_te = weekly_split
    q = fitted_weekly.predict_quantiles(X=X_te, alpha=list(EVAL_ALPHAS))
    seg = fitted_weekly.segments_["segment"].astype(str)
    s = score_quantile_forecasts(y_te, q, seg).set_index("segment")
    assert 0.86 <= s.loc["all", "coverage_90"] <= 0.95
    assert 0.85 <= s.loc["smooth", "coverage_90"] <= 0.95
    # integer quantiles: a calibrated forecast brackets the nominal level
    assert s.loc["all", "coverage_90_open"] <= 0.93
    assert s.loc["all", "coverage_80"] < s.loc["all", "coverage_90"] < s.loc["all", "coverage_98"]


def test_beats_seasonal_naive_on_pinball_loss(fitted_weekly, weekly_split):
    y_tr, y_te, _X_tr, X_te = weekly_split
    q = fitted_weekly.predict_quantiles(X=X_te, alpha=list(EVAL_ALPHAS))
    q_sn = baseline_seasonal_naive_quantiles(y_tr, HORIZON, EVAL_ALPHAS, sp=52)
    ours = score_quantile_forecasts(y_te, q)["pinball"].iloc[0]
    naive = score_quantile_forecasts(y_te, q_sn)["pinball"].iloc[0]
    assert ours < 0.85 * naive


def test_model_selection_is_recorded_per_segment(fitted_weekly):
    sel = fitted_weekly.selection_scores_
    assert {"segment", "model", "pinball", "coverage_90", "selected"} <= set(sel.columns)
    chosen = sel[sel["selected"]]
    # the selected model has the lowest backtest pinball loss of its segment
    for seg, g in sel.groupby("segment"):
        if g["n_series"].iloc[0] >= fitted_weekly.min_segment_series:
            assert (
                chosen.set_index("segment").loc[seg, "model"]
                == g.loc[g["pinball"].idxmin(), "model"]
            )
    assert set(fitted_weekly.series_model_.unique()) <= set(sel["model"])


def test_daily_data_infers_weekly_season_and_forecasts_days(daily_mart):
    from ml.forecasting.data import build_panel

    fct, _items, _truth = daily_mart
    y, X = build_panel(fct, freq="D")
    y_tr, _y_te, X_tr, X_te = split_last(y, X, 14)
    f = DemandForecaster(models=("ets", "tsb", "gbm"), gbm_max_iter=40).fit(
        y_tr, X=X_tr, fh=list(range(1, 15))
    )
    assert f.sp_ == 7
    q = f.predict_quantiles(X=X_te, alpha=[0.1, 0.5, 0.9])
    days = q.index.get_level_values(-1).unique()
    assert len(days) == 14 and (days[1] - days[0]) == pd.Timedelta(days=1)
    assert (q.to_numpy() >= 0).all()


def test_monthly_period_index_and_single_series_input():
    rng = np.random.default_rng(0)
    idx = pd.period_range("2018-01", periods=60, freq="M")
    season = 1 + 0.5 * np.sin(2 * np.pi * np.arange(60) / 12)
    y = pd.DataFrame({"demand": rng.poisson(40 * season).astype(float)}, index=idx)
    f = DemandForecaster(models=("ets", "seasonal_naive"), backtest_horizon=6).fit(y, fh=[1, 2, 3])
    assert f.sp_ == 12
    pred = f.predict()
    assert list(pred.index) == list(pd.period_range("2023-01", periods=3, freq="M"))
    # January is near the seasonal mean (sin = 0), March near the peak
    assert pred.iloc[2, 0] > pred.iloc[0, 0]


def test_sample_paths_match_means_and_lead_time_sum_is_not_a_sum_of_quantiles(
    fitted_weekly, weekly_split
):
    X_te = weekly_split[3]
    mean = fitted_weekly.predict(X=X_te).to_numpy().reshape(300, HORIZON)
    paths = fitted_weekly.predict_sample_paths(
        fh=list(range(1, HORIZON + 1)), n_paths=1500, random_state=1, X=X_te
    )
    assert paths.shape == (300, 1500, HORIZON)
    assert (paths >= 0).all()
    np.testing.assert_allclose(paths.mean(axis=1).sum(), mean.sum(), rtol=0.02)
    # demand over a fixed 4-week lead time
    pmf = np.array([0, 0, 0, 0, 1.0])
    lt = fitted_weekly.predict_lead_time_demand(pmf, n_paths=1500, random_state=2, X=X_te)
    np.testing.assert_allclose(lt["mean"].sum(), mean[:, :4].sum(), rtol=0.03)
    q95_daily = (
        fitted_weekly.predict_quantiles(X=X_te, alpha=[0.95]).to_numpy().reshape(300, HORIZON)
    )
    big = mean[:, :4].sum(1) > 20
    # adding per-period 95% quantiles overstates the 95% quantile of the sum
    assert (lt["q0.95"].to_numpy()[big] < q95_daily[big, :4].sum(1)).mean() > 0.9
    # a shared level factor makes periods positively correlated: Var(sum) > sum of Var
    s4 = paths[:, :, :4].sum(axis=2)
    var_sum = s4.var(axis=1)
    sum_var = paths[:, :, :4].var(axis=1).sum(axis=1)
    if (fitted_weekly.dispersion_["sigma_L2"] > 0).any():
        assert var_sum[big].sum() > 1.02 * sum_var[big].sum()


def test_random_lead_time_widens_the_distribution(fitted_weekly, weekly_split):
    X_te = weekly_split[3]
    fixed = fitted_weekly.predict_lead_time_demand(
        np.array([0, 0, 1.0]), n_paths=1500, random_state=0, X=X_te
    )
    # same mean lead time (2), but 1 or 3 periods with equal probability
    random = fitted_weekly.predict_lead_time_demand(
        np.array([0, 0.5, 0, 0.5]), n_paths=1500, random_state=0, X=X_te
    )
    np.testing.assert_allclose(random["mean"].sum(), fixed["mean"].sum(), rtol=0.03)
    assert random["std"].sum() > 1.1 * fixed["std"].sum()


def test_randomised_pit_coverage_is_near_nominal(fitted_weekly, weekly_split):
    _y_tr, y_te, _X_tr, X_te = weekly_split
    pit = fitted_weekly.predict_pit_coverage(y_te, X=X_te)
    assert len(pit) == 300 * HORIZON
    assert pit.to_numpy().min() >= 0 and pit.to_numpy().max() <= 1
    means = pit.mean()
    assert 0.84 <= means["pit_cov_90"] <= 0.95
    assert means["pit_cov_80"] < means["pit_cov_90"] < means["pit_cov_98"]


def test_randomized_coverage_of_a_perfect_forecast_is_exact():
    from scipy import stats

    from ml.forecasting.distributions import count_cdf, randomized_coverage

    rng = np.random.default_rng(0)
    mu, var = 0.7, 1.5  # mostly zeros: integer intervals cannot hold exactly 90%
    y = rng.negative_binomial(mu**2 / (var - mu), mu / var, size=200_000)
    cov = randomized_coverage(count_cdf(y - 1, mu, var), count_cdf(y, mu, var), 0.9).mean()
    assert cov == pytest.approx(0.9, abs=0.005)
    n, p = mu**2 / (var - mu), mu / var
    np.testing.assert_allclose(
        count_cdf(np.arange(6), mu, var), stats.nbinom.cdf(np.arange(6), n, p)
    )


def test_calibrate_variance_recovers_an_understated_variance():
    """An NB forecast whose variance is understated 2.5x gets k ~ 2.5 and exact coverage."""
    from ml.forecasting.forecaster import calibrate_variance

    rng = np.random.default_rng(3)
    mu = rng.uniform(2, 30, size=(400, 8))
    true_var = mu + 0.4 * mu**2
    y = rng.negative_binomial(mu**2 / (true_var - mu), mu / true_var).astype(float)
    k, before, after = calibrate_variance(mu, true_var / 2.5, y, coverage=0.9, count=True)
    assert before < 0.85  # too narrow before
    assert after == pytest.approx(0.9, abs=0.002)
    assert k == pytest.approx(2.5, rel=0.2)
    # a correct variance is left (almost) alone
    k1, b1, _ = calibrate_variance(mu, true_var, y, coverage=0.9, count=True)
    assert b1 == pytest.approx(0.9, abs=0.015) and k1 == pytest.approx(1.0, rel=0.2)
    # continuous data: normal intervals
    yn = mu + rng.standard_normal(mu.shape) * 3.0
    kn, _, an = calibrate_variance(mu, np.full(mu.shape, 9.0 * 4), yn, coverage=0.9, count=False)
    assert kn == pytest.approx(0.25, rel=0.1) and an == pytest.approx(0.9, abs=0.01)


def test_calibration_groups_cover_every_established_series_once(fitted_weekly):
    cal = fitted_weekly.calibration_
    assert len(cal) >= 2
    assert set(cal.columns) >= {"group", "variance_multiplier", "pit_coverage_after"}
    groups = fitted_weekly._calibration_groups()
    member = np.zeros(len(fitted_weekly.series_keys_), dtype=int)
    for _, m in groups:
        member += m
    seg = fitted_weekly.segments_["segment"].astype(str).to_numpy()
    assert (member[seg != "new"] == 1).all()
    assert (cal["variance_multiplier"].between(0.25, 4.0)).all()
    assert np.allclose(cal["pit_coverage_after"], 0.9, atol=0.01)


def test_calibration_can_be_switched_off(weekly_split):
    y_tr, _y_te, X_tr, _X_te = weekly_split
    keys = y_tr.index.droplevel(-1).unique()[:80]
    ys = y_tr[y_tr.index.droplevel(-1).isin(keys)]
    on = DemandForecaster(models=("ets", "tsb")).fit(ys, fh=[1, 2])
    off = DemandForecaster(models=("ets", "tsb"), calibrate=False).fit(ys, fh=[1, 2])
    assert off.calibration_.empty and not on.calibration_.empty
    ratio = on.dispersion_["scale_factor"] / off.dispersion_["scale_factor"]
    by_group = {lab: float(ratio[m].iloc[0]) for lab, m in on._calibration_groups()}
    expected = dict(
        zip(on.calibration_["group"], on.calibration_["variance_multiplier"], strict=True)
    )
    assert by_group == pytest.approx(expected)
