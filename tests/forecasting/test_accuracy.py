"""Realised accuracy: metric values by hand on a tiny frame; PIT coverage exact by Monte Carlo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.forecasting.accuracy import ACCURACY_COLUMNS, accuracy_chart_png, realised_accuracy

QCOLS = {"q05": 0.05, "q10": 0.1, "q50": 0.5, "q90": 0.9, "q95": 0.95}


def _cells(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": ["A", "A", "B", "B"][:n],
            "location_id": "L1",
            "origin": pd.Timestamp("2026-01-05"),
            "model_version": "v1",
            "horizon": [1, 2, 1, 2][:n],
            "demand_class": ["smooth", "smooth", "lumpy", "lumpy"][:n],
            "actual": [10.0, 4.0, 0.0, 7.0][:n],
            "mean": [8.0, 6.0, 1.0, 2.0][:n],
            "variance": [8.0, 6.0, 1.0, 2.0][:n],  # Poisson
            "q05": [4.0, 2.0, 0.0, 0.0][:n],
            "q10": [5.0, 3.0, 0.0, 0.0][:n],
            "q50": [8.0, 6.0, 1.0, 2.0][:n],
            "q90": [12.0, 9.0, 2.0, 4.0][:n],
            "q95": [13.0, 10.0, 3.0, 5.0][:n],
        }
    )


def test_metrics_match_hand_computed_values():
    acc = realised_accuracy(_cells(), QCOLS)
    assert list(acc.columns) == list(ACCURACY_COLUMNS)
    top = acc[acc["horizon"].isna() & (acc["demand_class"] == "all")].iloc[0]
    # errors of the median: -2, +2, +1, -5; actual units 21
    assert top["n_cells"] == 4 and top["n_series"] == 2
    assert top["mae"] == pytest.approx(10 / 4)
    assert top["wape"] == pytest.approx(10 / 21)
    assert top["bias"] == pytest.approx(-4 / 21)
    assert top["mean_bias"] == pytest.approx((17 - 21) / 21)
    # closed intervals: [5,12] holds 10, [3,9] holds 4, [0,2] holds 0, [0,4] misses 7
    assert top["coverage_80"] == pytest.approx(3 / 4)
    assert top["coverage_90"] == pytest.approx(3 / 4)
    pin = np.mean(
        [
            np.mean(
                [
                    max(a * (y - q), (a - 1) * (y - q))
                    for a, q in zip(QCOLS.values(), qs, strict=True)
                ]
            )
            for y, qs in zip(
                [10, 4, 0, 7],
                [[4, 5, 8, 12, 13], [2, 3, 6, 9, 10], [0, 0, 1, 2, 3], [0, 0, 2, 4, 5]],
                strict=True,
            )
        ]
    )
    assert top["pinball"] == pytest.approx(pin)
    # randomised PIT under Poisson(mean): cell 3 (actual 0, mean 1) has F(-1)=0, F(0)=e^-1
    f0 = stats.poisson.cdf(0, 1.0)
    lumpy_h1 = acc[(acc["demand_class"] == "lumpy") & (acc["horizon"] == 1)].iloc[0]
    assert lumpy_h1["pit_coverage_90"] == pytest.approx((f0 - 0.05) / f0)
    # roll-ups: per class x horizon, per class, per horizon, overall
    assert len(acc) == 4 + 2 + 2 + 1
    h1 = acc[(acc["horizon"] == 1) & (acc["demand_class"] == "all")].iloc[0]
    assert h1["mae"] == pytest.approx(1.5) and h1["actual_units"] == 10


def test_randomised_pit_coverage_of_a_calibrated_count_forecast_is_nominal():
    rng = np.random.default_rng(0)
    n = 40_000
    mu = rng.uniform(0.3, 15, n)
    var = mu + 0.3 * mu**2
    r, p = mu**2 / (var - mu), mu / var
    actual = rng.negative_binomial(r, p).astype(float)
    q = {c: stats.nbinom.ppf(a, r, p) for c, a in QCOLS.items()}
    cells = pd.DataFrame(
        {
            "sku": np.arange(n).astype(str),
            "location_id": "L1",
            "origin": pd.Timestamp("2026-01-05"),
            "model_version": "v1",
            "horizon": 1,
            "demand_class": "smooth",
            "actual": actual,
            "mean": mu,
            "variance": var,
            **q,
        }
    )
    top = realised_accuracy(cells, QCOLS).iloc[0]
    assert top["pit_coverage_90"] == pytest.approx(0.9, abs=0.006)
    assert top["pit_coverage_80"] == pytest.approx(0.8, abs=0.007)
    # integer quantiles: the closed interval covers more than nominal
    assert top["coverage_90"] > 0.91


def test_nothing_matured_gives_an_empty_table_with_all_columns():
    acc = realised_accuracy(_cells().iloc[:0], QCOLS)
    assert acc.empty and list(acc.columns) == list(ACCURACY_COLUMNS)


def test_accuracy_chart_is_a_small_png():
    png = accuracy_chart_png(realised_accuracy(_cells(), QCOLS))
    assert png[:4] == b"\x89PNG" and len(png) < 100_000
