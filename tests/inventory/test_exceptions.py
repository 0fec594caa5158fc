"""Tests of ml.inventory.exceptions: each check fires on a constructed case and stays quiet on
normal rows next to it (minimum orders, EOQ batches, slow movers, decent suppliers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.inventory import exceptions as ex

THR = ex.ExceptionThresholds()


def test_orders_far_above_a_normal_order_are_flagged_and_batches_are_not() -> None:
    lines = pd.DataFrame(
        {
            "sku": ["normal", "big", "huge", "slow_case", "eoq", "moq", "history"],
            "location_id": "L",
            "supplier_id": "SUP",
            # demand over R: 10/day x 7 d = 70 units for the first three
            "mu": [10.0, 10.0, 10.0, 0.1, 10.0, 1.0, 10.0],
            "review_period_days": 7,
            "order_qty": [80.0, 240.0, 480.0, 24.0, 300.0, 60.0, 400.0],
            "case_pack": [1, 1, 1, 24, 1, 1, 1],
            "eoq": [np.nan, np.nan, np.nan, np.nan, 150.0, np.nan, np.nan],
            "moq": [0, 0, 0, 0, 0, 50, 0],
            "recent_order_qty": [np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 200.0],
        }
    )
    raw = ex.order_exceptions(lines, THR)
    assert list(raw.columns) == list(ex.EXCEPTION_COLUMNS)
    out = raw.set_index("sku")
    # 240 / 70 = 3.4x, 480 / 70 = 6.9x; one case of a slow mover, 2x EOQ, ~1x MOQ,
    # 2x the recent median order: all normal
    assert sorted(out.index) == ["big", "huge"]
    assert out.loc["big", "severity"] == "medium" and out.loc["huge", "severity"] == "high"
    assert out.loc["big", "value"] == pytest.approx(240 / 70)
    assert out.loc["huge", "threshold"] == THR.order_ratio
    assert "6.9x a normal order of 70" in out.loc["huge", "message"]


def test_negative_stock_is_high_and_a_negative_position_medium() -> None:
    pos = pd.DataFrame(
        {
            "sku": ["a", "b", "c", "d"],
            "location_id": "L",
            "on_hand_qty": [-3.0, 2.0, 0.0, -1.0],
            "inventory_position_qty": [-3.0, -5.0, 0.0, 4.0],
        }
    )
    out = ex.negative_position_exceptions(pos).set_index("sku")
    assert out["severity"].to_dict() == {"a": "high", "d": "high", "b": "medium"}
    assert out.loc["a", "metric"] == "on_hand_qty" and out.loc["b", "value"] == -5.0


def _history(series: dict[str, tuple[float, int]], weeks: int = 8) -> pd.DataFrame:
    """Daily rows: per SKU ``(daily sales, stockout days at the end of the window)``."""
    rows = []
    for sku, (rate, out_days) in series.items():
        n = 7 * weeks
        units = np.full(n, rate)
        in_stock = np.ones(n, dtype=bool)
        if out_days:
            units[-out_days:] = 0.0
            in_stock[-out_days:] = False
        rows.append(
            pd.DataFrame(
                {"sku": sku, "location_id": "S", "units_sold": units, "in_stock": in_stock}
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_forecasts_far_from_history_with_a_volume_floor() -> None:
    hist = _history(
        {
            "up": (2.0, 0),  # 14/week
            "down": (4.0, 0),  # 28/week
            "way_up": (1.0, 0),  # 7/week
            "ok": (3.0, 0),
            "slow": (0.1, 0),  # 0.7/week, forecast 2/week: x2.9 but below 5 units/week
            "stocked_out": (2.0, 28),  # half the window out of stock: in-stock rate 14/week
            "new": (3.0, 0),
        }
    )
    hist = hist[~((hist["sku"] == "new") & (hist.index % 56 < 28))]  # 4 weeks of history
    fc = pd.DataFrame(
        {
            "sku": ["up", "down", "way_up", "ok", "slow", "stocked_out", "new"],
            "location_id": "S",
            "mean": [30.0, 12.0, 40.0, 22.0, 2.0, 15.0, 60.0],
        }
    )
    fc = pd.concat([fc.assign(horizon=h) for h in range(1, 9)], ignore_index=True)
    fc.loc[fc["horizon"] > 4, "mean"] = 1000.0  # weeks 5-8 are not compared
    out = ex.forecast_exceptions(fc, hist, THR).set_index("sku")
    assert sorted(out.index) == ["down", "up", "way_up"]
    assert out.loc["up", "value"] == pytest.approx(30 / 14)
    assert out.loc["down", "value"] == pytest.approx(12 / 28)
    assert out.loc["down", "threshold"] == THR.forecast_ratio_low
    assert out.loc["way_up", "severity"] == "high" and out.loc["up", "severity"] == "medium"
    assert "far below" in out.loc["down", "message"]


def test_suppliers_far_behind() -> None:
    rel = pd.DataFrame(
        {
            "supplier_id": ["good", "late", "very_late", "backlog"],
            "on_time_rate": [0.9, 0.4, 0.1, 0.8],
            "n_open_overdue": [2, 3, 0, 25],
        }
    )
    out = ex.supplier_exceptions(rel, THR)
    got = {(r.supplier_id, r.metric): r.severity for r in out.itertuples()}
    assert got == {
        ("late", "on_time_rate"): "medium",
        ("very_late", "on_time_rate"): "high",
        ("backlog", "n_open_overdue"): "high",
    }


def test_the_list_puts_high_severity_first() -> None:
    rel = pd.DataFrame(
        {"supplier_id": ["a", "b"], "on_time_rate": [0.4, 0.1], "n_open_overdue": [0, 0]}
    )
    pos = pd.DataFrame(
        {"sku": ["x"], "location_id": "L", "on_hand_qty": [1.0], "inventory_position_qty": [-2.0]}
    )
    out = ex.plan_exceptions(ex.supplier_exceptions(rel, THR), ex.negative_position_exceptions(pos))
    assert out["severity"].tolist() == ["high", "medium", "medium"]
    assert out.loc[0, "supplier_id"] == "b"
    assert len(ex.plan_exceptions(ex.order_exceptions(pd.DataFrame(), THR))) == 0
