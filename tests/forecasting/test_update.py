"""DemandForecaster.update: the sktime update contract on whole panels.

``update_params=False`` keeps what the fit chose (model per series, ETS grid point, Croston/TSB
smoothing, dispersion, calibration) and moves the state over the new weeks; ``True`` refits on
all data seen. The ETS state after an update is checked against the textbook recursion run by
hand from the fitted state over the new weeks.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ml.forecasting import models as M
from ml.forecasting.forecaster import DemandForecaster

NEW_WEEKS = 4


def _periods(frame: pd.DataFrame) -> pd.Index:
    return frame.index.get_level_values(-1)


@pytest.fixture(scope="module")
def split(weekly_panel):
    """80 series; fit window = all but the last 12 weeks, then 4 new weeks, then 8 to forecast."""
    y, X = weekly_panel
    keys = y.index.droplevel(-1).unique()[:80]
    y = y[y.index.droplevel(-1).isin(keys)]
    X = X[X.index.droplevel(-1).isin(keys)]
    weeks = _periods(y).unique().sort_values()
    cut, new_end = weeks[-13], weeks[-9]
    fit_rows = _periods(y) <= cut
    new_rows = (_periods(y) > cut) & (_periods(y) <= new_end)
    return {
        "y_fit": y[fit_rows],
        "X_fit": X[fit_rows],
        "y_new": y[new_rows],
        "X_new": X[new_rows],
        "y_all": y[fit_rows | new_rows],
        "X_all": X[fit_rows | new_rows],
        "cut": cut,
        "new_end": new_end,
    }


@pytest.fixture(scope="module")
def fitted(split) -> DemandForecaster:
    f = DemandForecaster(models=("ets", "croston_sba", "tsb"), random_state=0)
    return f.fit(split["y_fit"], X=split["X_fit"], fh=list(range(1, 9)))


def _textbook_ets_step(state: dict, y_new: np.ndarray, t0: int) -> dict:
    """Additive damped-trend seasonal ETS, one series at a time, from a given state."""
    p = M.ets_params(state["choice"], int(state["sp"]))
    sp = int(state["sp"])
    level = state["level"].copy()
    trend = state["trend"].copy()
    season = state["season"].copy()
    for i in range(y_new.shape[0]):
        a, b, phi, g = p["alpha"][i], p["beta"][i], p["phi"][i], p["gamma"][i]
        for k in range(y_new.shape[1]):
            pos = (t0 + k) % sp
            f = level[i] + phi * trend[i] + season[i, pos]
            e = 0.0 if np.isnan(y_new[i, k]) else y_new[i, k] - f
            level[i] = level[i] + phi * trend[i] + a * e
            trend[i] = phi * trend[i] + a * b * e
            season[i, pos] = season[i, pos] + g * e
    return {"level": level, "trend": trend, "season": season}


def test_update_keeps_the_fit_and_moves_the_ets_state_over_the_new_weeks(fitted, split):
    f = copy.deepcopy(fitted)
    before = copy.deepcopy(f._ets_state)
    T = f._y_arr.shape[1]
    f.update(split["y_new"], X=split["X_new"], update_params=False)

    # what the fit chose or estimated is untouched
    pd.testing.assert_series_equal(f.series_model_, fitted.series_model_)
    pd.testing.assert_frame_equal(f.dispersion_, fitted.dispersion_)
    pd.testing.assert_frame_equal(f.calibration_, fitted.calibration_)
    pd.testing.assert_frame_equal(f.segments_, fitted.segments_)
    np.testing.assert_array_equal(f._ets_state["choice"], before["choice"])
    for k in fitted._smoothing_choice:
        np.testing.assert_array_equal(f._smoothing_choice[k], fitted._smoothing_choice[k])

    # the state equals the recursion run by hand from the fitted state over the 4 new weeks ...
    new = f._y_arr[:, T:]
    assert new.shape[1] == NEW_WEEKS and np.isfinite(new).mean() > 0.9
    by_hand = _textbook_ets_step(before, new, T)
    for k in ("level", "trend", "season"):
        np.testing.assert_allclose(f._ets_state[k], by_hand[k], rtol=1e-9, atol=1e-9)
    # ... and a filter over all weeks with the same grid choice
    full = M.ets_filter(f._y_arr, before)
    for k in ("level", "trend", "season", "sigma2"):
        np.testing.assert_allclose(f._ets_state[k], full[k], rtol=1e-9, atol=1e-9)
    # the state really moved (the new weeks carry information)
    assert np.abs(f._ets_state["level"] - before["level"]).max() > 0.1


def test_update_moves_the_cutoff_and_forecasts_start_after_the_new_weeks(fitted, split):
    f = copy.deepcopy(fitted)
    assert pd.Timestamp(f.cutoff[0]) == split["cut"]
    f.update(split["y_new"], X=split["X_new"], update_params=False)
    assert pd.Timestamp(f.cutoff[0]) == split["new_end"]
    q = f.predict_quantiles(fh=list(range(1, 9)), alpha=[0.05, 0.5, 0.95])
    weeks = q.index.get_level_values(-1).unique().sort_values()
    assert weeks[0] == split["new_end"] + pd.Timedelta(weeks=1) and len(weeks) == 8
    v = q.to_numpy()
    assert (v >= 0).all() and (np.diff(v, axis=1) >= 0).all()
    # ETS series forecast from the updated state; Croston/TSB series from their kept smoothing
    mu = f.predict(fh=list(range(1, 9))).to_numpy().reshape(-1, 8)
    model = f.series_model_.to_numpy()
    ets = M.ets_predict(f._ets_state, 8)
    np.testing.assert_allclose(mu[model == "ets"], np.maximum(ets[model == "ets"], 0.0))
    tsb, _ = M.tsb_state(f._y_arr, choice=f._smoothing_choice.get("tsb"))
    if (model == "tsb").any():
        np.testing.assert_allclose(mu[model == "tsb", 0], tsb[model == "tsb"])
    # different from the stale forecast: the update changed something
    stale = fitted.predict(fh=list(range(1, 9))).to_numpy().reshape(-1, 8)
    assert np.abs(mu - stale).max() > 0.1


def test_stored_smoothing_choice_reproduces_the_fitted_forecasts(fitted):
    """Keeping the Croston/TSB choice changes no forecast of a freshly fitted model."""
    y = fitted._y_arr
    for name, fn in (("croston_sba", M.croston_sba_state), ("tsb", M.tsb_state)):
        if name in fitted._smoothing_choice:
            reselected, choice = fn(y)
            np.testing.assert_array_equal(choice, fitted._smoothing_choice[name])
            kept, _ = fn(y, choice=fitted._smoothing_choice[name])
            np.testing.assert_array_equal(kept, reselected)


def test_ets_filter_on_the_fitted_weeks_reproduces_the_fit():
    rng = np.random.default_rng(4)
    t = np.arange(104)
    y = rng.poisson(20 + 8 * np.sin(2 * np.pi * t / 52), size=(40, 104)).astype(float)
    y[:10, :20] = np.nan  # late starters
    state = M.ets_fit(y, 52)
    again = M.ets_filter(y, state)
    for k in ("level", "trend", "season", "sigma2"):
        np.testing.assert_allclose(again[k], state[k], rtol=1e-12, atol=1e-12)


def test_updating_a_series_the_fit_never_saw_raises_and_changes_nothing(fitted, split):
    f = copy.deepcopy(fitted)
    stranger = split["y_new"].copy()
    stranger.index = stranger.index.set_levels(
        [f"NEW-{s}" for s in stranger.index.levels[0]], level=0
    )
    with pytest.raises(ValueError, match="not in the fitted panel"):
        f.update(stranger, update_params=False)
    assert f._y_arr.shape == fitted._y_arr.shape
    np.testing.assert_array_equal(f._ets_state["level"], fitted._ets_state["level"])


def test_update_with_params_refits_on_all_data_seen(fitted, split):
    f = copy.deepcopy(fitted)
    f.update(split["y_new"], X=split["X_new"], update_params=True)
    fresh = DemandForecaster(models=("ets", "croston_sba", "tsb"), random_state=0).fit(
        split["y_all"], X=split["X_all"], fh=list(range(1, 9))
    )
    assert pd.Timestamp(f.cutoff[0]) == split["new_end"]
    pd.testing.assert_frame_equal(
        f.predict_quantiles(alpha=[0.1, 0.5, 0.9]), fresh.predict_quantiles(alpha=[0.1, 0.5, 0.9])
    )
    pd.testing.assert_frame_equal(f.dispersion_, fresh.dispersion_)


def test_select_series_forecasts_those_series_exactly_as_the_whole_model(fitted):
    keys = fitted.series_keys_[[3, 10, 42, 7]]
    sub = fitted.select_series(keys)
    assert list(sub.series_keys_) == list(keys)
    full = fitted.predict_quantiles(alpha=[0.05, 0.5, 0.95])
    part = sub.predict_quantiles(alpha=[0.05, 0.5, 0.95])
    pd.testing.assert_frame_equal(part, full.loc[part.index])
    assert len(fitted.series_keys_) == 80  # the original is untouched
    with pytest.raises(KeyError):
        fitted.select_series(pd.MultiIndex.from_tuples([("nope", "L0")]))
