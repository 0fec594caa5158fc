"""Each vectorised model family on real fits with values we can compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ml.forecasting import models as M
from ml.forecasting._panel import exog_to_array, frame_to_panel


def test_seasonal_naive_repeats_last_season():
    y = np.arange(14, dtype=float)[None, :]
    f = M.seasonal_naive(y, 10, sp=7)
    np.testing.assert_array_equal(f[0], [7, 8, 9, 10, 11, 12, 13, 7, 8, 9])


def test_ets_recovers_weekly_pattern_and_level_for_many_series_at_once():
    rng = np.random.default_rng(0)
    pattern = np.array([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    levels = rng.uniform(10, 100, size=50)
    T = 140
    y = levels[:, None] + np.tile(pattern, T // 7)[None, :] + rng.normal(0, 0.3, (50, T))
    f = M.ets_forecast(y, horizon=7, sp=7)
    expected = levels[:, None] + pattern[None, :]
    assert np.abs(f - expected).max() < 1.0


def test_ets_follows_a_trend_with_damping():
    T = 60
    y = (20 + 0.5 * np.arange(T))[None, :].astype(float)
    f = M.ets_forecast(y, horizon=5, sp=1)[0]
    assert f[0] == pytest.approx(y[0, -1] + 0.5, abs=0.6)
    assert np.all(np.diff(f) > 0)  # still rising
    assert f[-1] < y[0, -1] + 5 * 0.5 + 0.01  # damped: never above the linear extrapolation


def test_ets_handles_series_starting_late():
    y = np.full((2, 40), 5.0)
    y[1, :30] = np.nan  # second series only has 10 periods
    y[1, 30:] = 8.0
    f = M.ets_forecast(y, 3, sp=1)
    np.testing.assert_allclose(f[:, 0], [5.0, 8.0], atol=1e-6)


def test_croston_sba_is_debiased_size_over_interval():
    y = np.zeros((1, 60))
    y[0, ::3] = 6.0  # size 6 every 3rd period: true rate 2/period
    f = M.croston_sba(y, 4)
    # z -> 6, p -> 3; SBA factor (1 - alpha/2) with alpha in [0.05, 0.3]
    assert 6 / 3 * 0.85 <= f[0, 0] <= 6 / 3
    assert np.all(f[0] == f[0, 0])


def test_tsb_decays_after_demand_stops_while_croston_does_not():
    y = np.zeros((1, 80))
    y[0, :40:2] = 4.0  # demand every other period, then 40 periods of nothing
    tsb = M.tsb_forecast(y, 1)[0, 0]
    cro = M.croston_sba(y, 1)[0, 0]
    assert tsb < 0.5 * cro
    assert cro > 1.0


def test_global_gbm_learns_promotion_uplift_and_weekly_season(weekly_split):
    y_tr, _y_te, X_tr, _X_te = weekly_split
    panel = frame_to_panel(y_tr)
    H = 4
    from ml.forecasting._panel import extend_times

    ext = extend_times(panel.times, H)
    Xa, _ = exog_to_array(X_tr, panel.keys, ext)
    # future: copy the last known price, promo either off or on for every series
    Xa[:, -H:, 0] = Xa[:, -H - 1, 0][:, None]
    seg = np.zeros(len(panel.keys), dtype=int)
    g = M.GlobalGBM(sp=52, max_horizon=H, max_iter=80, random_state=0)
    g.fit(panel.values, Xa, seg)
    Xoff = Xa.copy()
    Xoff[:, -H:, 1] = 0.0
    Xon = Xa.copy()
    Xon[:, -H:, 1] = 1.0
    Xon[:, -H:, 0] *= 0.8
    f_off = g.predict(panel.values, Xoff, seg, H)
    f_on = g.predict(panel.values, Xon, seg, H)
    assert (f_off >= 0).all()
    uplift = f_on.sum() / f_off.sum()
    assert 1.25 < uplift < 2.0  # simulated uplift is 1.6x


def test_global_gbm_fits_a_history_shorter_than_a_season_plus_horizon():
    """Regression: same-season features were all-NaN on < 1 year + horizon of weekly history and
    HistGradientBoosting's binning failed ('window shape cannot be larger than input array')."""
    rng = np.random.default_rng(3)
    n, T, H = 40, 49, 8  # the forecaster backtests at T - 8 on 57 weeks
    level = rng.uniform(2, 20, size=(n, 1))
    y = rng.poisson(level, size=(n, T)).astype(float)
    g = M.GlobalGBM(sp=52, max_horizon=H, max_iter=40, random_state=0)
    g.fit(y, None, np.zeros(n, dtype=int))
    assert g.model_ is not None
    # the same-season features had no value and were left out; the others were kept
    assert 0 < g.used_features_.size < len(g.edges_)
    f = g.predict(y, None, np.zeros(n, dtype=int), H)
    assert f.shape == (n, H) and np.isfinite(f).all() and (f >= 0).all()
    # the forecast follows each series' level (Poisson means 2-20)
    ratio = f.mean(axis=1) / level[:, 0]
    assert 0.7 < np.median(ratio) < 1.3
