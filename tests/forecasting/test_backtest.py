"""Accuracy metrics on hand-computed numbers; the rolling-origin backtest and charts."""

from __future__ import annotations

import numpy as np
import pytest

from ml.forecasting.backtest import (
    coverage_chart_png,
    fan_chart_png,
    rolling_origin_backtest,
    score_arrays,
)
from ml.forecasting.forecaster import DemandForecaster


def test_metrics_match_hand_computation():
    a = np.array([0.0, 2.0, 4.0, 10.0])
    alphas = np.array([0.05, 0.5, 0.95])
    Q = np.array([[0, 1, 3], [0, 2, 5], [1, 3, 6], [2, 6, 8]], dtype=float)
    m = score_arrays(a, Q, alphas).iloc[0]
    e = np.array([1, 0, -1, -4.0])  # median - actual
    assert m["mae"] == pytest.approx(1.5)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 0 + 1 + 16) / 4))
    assert m["wape"] == pytest.approx(6 / 16)
    assert m["bias"] == pytest.approx(e.sum() / 16)
    assert m["mape"] == pytest.approx(np.mean([0, 1 / 4, 4 / 10]))  # actual 0 excluded
    assert m["coverage_90"] == pytest.approx(0.75)  # 10 > 8 is outside
    assert m["coverage_90_open"] == pytest.approx(0.5)  # 0 and... bounds excluded
    # pinball at 0.95 for the last cell: 0.95 * (10 - 8)
    pl95 = np.mean([0.05 * 3, 0.05 * 3, 0.05 * 2, 0.95 * 2])
    assert m["pinball_q0.95"] == pytest.approx(pl95)


def test_rolling_origin_backtest_scores_models_and_baselines_on_the_same_cells(weekly_panel):
    y, X = weekly_panel
    keys = y.index.droplevel(-1).unique()[:60]
    ys = y[y.index.droplevel(-1).isin(keys)]
    Xs = X[X.index.droplevel(-1).isin(keys)]
    res = rolling_origin_backtest(
        ys,
        Xs,
        forecasters={"DemandForecaster": lambda: DemandForecaster(gbm_max_iter=40)},
        horizon=4,
        n_origins=2,
    )
    m = res["metrics"]
    assert set(m["model"]) == {"DemandForecaster", "seasonal_naive", "AutoETS"}
    allrows = m[m["segment"] == "all"].set_index("model")
    assert (allrows["n_cells"] == 60 * 4 * 2).all()
    assert {"coverage_80", "coverage_90", "coverage_95", "coverage_98"} <= set(m.columns)
    assert allrows.loc["DemandForecaster", "pinball"] < allrows.loc["seasonal_naive", "pinball"]
    assert res["by_origin"]["origin"].nunique() == 2
    # randomised-PIT coverage for the forecaster with a predictive CDF, NaN for quantile-only
    # baselines; nested like the nominal levels
    pit = allrows[[f"pit_coverage_{c}" for c in (80, 90, 95, 98)]]
    assert pit.loc[["seasonal_naive", "AutoETS"]].isna().all().all()
    ours = pit.loc["DemandForecaster"].to_numpy(dtype=float)
    assert (np.diff(ours) > 0).all() and 0.75 <= ours[1] <= 0.97
    png = coverage_chart_png(m)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    fc = res["forecasts"]
    one = fc[
        (fc["model"] == "DemandForecaster")
        & (fc["sku"] == keys[0][0])
        & (fc["location_id"] == keys[0][1])
        & (fc["origin"] == fc["origin"].max())
    ]
    hist = ys.loc[keys[0]].iloc[:, 0].iloc[-30:-4]
    q = one.set_index("period")[[c for c in one.columns if c.startswith("q")]]
    q.columns = [float(c[1:]) for c in q.columns]
    png2 = fan_chart_png(hist, q, one.set_index("period")["actual"], title=str(keys[0]))
    assert png2[:4] == b"\x89PNG"
