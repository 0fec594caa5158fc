"""Cold start: new SKU-locations forecast from analogues, flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.forecasting.cold_start import cold_start_forecast


def _history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """12 established SKUs in two categories and one new SKU in category A (3 weeks old)."""
    rng = np.random.default_rng(0)
    periods = pd.date_range("2024-01-01", periods=30, freq="W-MON")
    rows = []
    items = []
    for i in range(12):
        cat = "A" if i < 6 else "B"
        level = 10.0 if cat == "A" else 100.0
        items.append(
            {
                "sku": f"S{i}",
                "category": cat,
                "unit_price": 5.0 + i,
                "launch_date": pd.Timestamp("2023-01-01"),
            }
        )
        for p in periods:
            rows.append(
                {
                    "sku": f"S{i}",
                    "location_id": "L1",
                    "period": p,
                    "demand": float(rng.poisson(level)),
                }
            )
    items.append({"sku": "NEW", "category": "A", "unit_price": 7.0, "launch_date": periods[-3]})
    items.append({"sku": "HOT", "category": "A", "unit_price": 7.5, "launch_date": periods[-4]})
    for p in periods[-3:]:
        rows.append({"sku": "NEW", "location_id": "L1", "period": p, "demand": 10.0})
    for p in periods[-4:]:
        rows.append({"sku": "HOT", "location_id": "L1", "period": p, "demand": 40.0})
    return pd.DataFrame(rows), pd.DataFrame(items)


def test_new_series_get_flagged_forecasts_from_their_category():
    demand, items = _history()
    out = cold_start_forecast(demand, items, horizon=4, min_analogues=3)
    assert set(out["sku"]) == {"NEW", "HOT"}
    assert out["is_cold_start"].all()
    new = out[out["sku"] == "NEW"]
    assert len(new) == 4
    # analogues from category A (level 10), not B (level 100)
    assert new["mean"].between(7, 13).all()
    assert (new["analogue_level"] != "all").all()
    q = new[[c for c in new.columns if c.startswith("q")]].to_numpy()
    assert (q >= 0).all() and (np.diff(q, axis=1) >= 0).all()
    assert new["period"].iloc[0] == demand["period"].max() + pd.Timedelta(weeks=1)


def test_own_sales_pull_the_forecast_away_from_the_analogues():
    demand, items = _history()
    out = cold_start_forecast(demand, items, horizon=2, min_analogues=3)
    hot = out[out["sku"] == "HOT"]["mean"].mean()
    new = out[out["sku"] == "NEW"]["mean"].mean()
    # HOT sold 40/week for 4 weeks against analogues at 10: credibility puts it in between
    assert 20 < hot < 40
    assert hot > 2 * new


def test_unknown_target_without_history_uses_category_profile():
    demand, items = _history()
    items = pd.concat(
        [
            items,
            pd.DataFrame(
                [
                    {
                        "sku": "FUTURE",
                        "category": "B",
                        "unit_price": 9.0,
                        "launch_date": pd.Timestamp("2024-07-29"),
                    }
                ]
            ),
        ]
    )
    out = cold_start_forecast(demand, items, horizon=3, targets=[("FUTURE", "L1")])
    assert out["mean"].between(85, 115).all()  # category B level 100
