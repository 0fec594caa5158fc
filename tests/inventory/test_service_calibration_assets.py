"""The service calibration in the weekly planning run (test network, real dbt + forecasts):
stores get a calibration fitted on the forecast backtest's ended intervals, DCs none, and the
policy backtest calibrates each origin's weeks without that origin's own intervals."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def run(planning_run):
    assert planning_run.success, "the planning run failed; see the Dagster log above"
    return planning_run


def test_store_levels_are_calibrated_and_dc_levels_are_not(run, query) -> None:
    pol = query("SELECT * FROM inventory.reorder_policy")
    st, dc = pol[pol["echelon"] == "STORE"], pol[pol["echelon"] == "DC"]
    assert st["calibration_scale"].notna().all() and (st["calibration_scale"] > 0).all()
    assert dc["calibration_loc"].isna().all() and dc["calibration_scale"].isna().all()
    assert np.allclose(dc["target_csl_model"], dc["target_csl"])
    # the model-scale target is the calibrated one: Phi(a + b Phi^-1(t))
    from scipy import stats

    expect = stats.norm.cdf(
        st["calibration_loc"] + st["calibration_scale"] * stats.norm.ppf(st["target_csl"])
    )
    assert np.allclose(st["target_csl_model"], expect, atol=1e-9)
    # dithered rounding: the planned (calibrated) service of a segment is centred on its target
    big = st.groupby("segment").filter(lambda g: len(g) >= 30)
    gap = big.groupby("segment").apply(
        lambda g: (g["expected_csl"] - g["target_csl"]).mean(), include_groups=False
    )
    assert (gap.abs() < 0.01).all(), gap.to_dict()


def test_backtest_calibrates_each_origin_on_the_other_origins(run, query) -> None:
    fits = query("SELECT * FROM inventory.policy_backtest_calibration")
    pooled = fits[fits["group"] == "*"].sort_values("first_day")
    origins = query("SELECT DISTINCT origin FROM forecasting.backtest_forecasts")
    assert set(fits["method"]) == {"leave_one_origin_out"}
    assert len(pooled) == len(origins)  # one fit per origin block
    # each fit leaves its own block out, so it sees fewer PITs than the live calibration
    n_keys = query(
        "SELECT count(DISTINCT sku || location_id) AS n FROM forecasting.backtest_forecasts"
    )["n"][0]
    n_weeks = query(
        "SELECT count(DISTINCT forecast_week) AS n FROM forecasting.backtest_forecasts"
    )["n"][0]
    assert (pooled["n_pits"] < n_keys * n_weeks).all()
    assert (pooled["n_pits"] > 0).all()
