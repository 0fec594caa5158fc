"""Tests of ml.inventory.performance on a network small enough to work out by hand: one DC, one
store, one SKU, two weeks. (The same figures on the test network are checked against an
independent pandas computation in tests/test_inventory_operations.py.)"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.inventory.performance import PERFORMANCE_COLUMNS, inventory_performance, lost_units

DAYS = pd.date_range("2026-01-05", periods=14, freq="D")  # Monday, two full weeks


@pytest.fixture()
def result() -> pd.DataFrame:
    store = pd.DataFrame(
        {
            "sku": "A",
            "location_id": "S1",
            "demand_date": DAYS,
            "units_sold": 10.0,
            "on_hand_qty": 50.0,
            "is_stockout": False,
            "is_stock_known": True,
        }
    )
    store.loc[9, ["units_sold", "is_stockout", "on_hand_qty"]] = [4.0, True, 0.0]  # Wed week 2
    dc = store.assign(location_id="DC1", units_sold=0.0, on_hand_qty=100.0, is_stockout=False)
    dc.loc[2, ["is_stock_known", "on_hand_qty"]] = [False, np.nan]  # one unknown day
    con = duckdb.connect()
    con.register("daily", pd.concat([store, dc], ignore_index=True))
    con.register("items", pd.DataFrame({"sku": ["A"], "unit_cost": [2.0]}))
    con.register(
        "locs",
        pd.DataFrame(
            {
                "location_id": ["S1", "DC1"],
                "location_type": ["STORE", "DC"],
                "replenished_from": ["DC1", None],
            }
        ),
    )
    con.register(
        "segs",
        pd.DataFrame(
            {
                "sku": ["A", "A"],
                "location_id": ["S1", "DC1"],
                "echelon": ["STORE", "DC"],
                "segment": ["AX", "AX"],
            }
        ),
    )
    out = inventory_performance(
        con, daily="daily", items="items", locations="locs", segments="segs"
    )
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchall()[0][0] == 0
    return out.set_index(["week_start", "echelon", "segment"])


def test_store_week_figures_by_hand(result: pd.DataFrame) -> None:
    w1 = result.loc[(pd.Timestamp("2026-01-05"), "STORE", "AX")]
    assert w1["in_stock_rate"] == 1.0 and w1["cycle_service_proxy"] == 1.0
    assert w1["fill_rate_est"] == 1.0 and w1["lost_units_est"] == 0.0
    assert w1["avg_on_hand_value"] == pytest.approx(100.0)
    assert w1["cogs"] == pytest.approx(140.0)
    assert w1["inventory_turns"] == pytest.approx(365 * 20 / 100)
    assert w1["days_of_supply"] == pytest.approx(5.0)
    w2 = result.loc[(pd.Timestamp("2026-01-12"), "STORE", "AX")]
    assert w2["in_stock_rate"] == pytest.approx(6 / 7)
    assert w2["cycle_service_proxy"] == 0.0
    # every in-stock day sold 10: rate 10, weekday factor 1; sold 4 on the stockout day
    k = np.arange(0, 200)
    p = stats.poisson.pmf(k, 10.0)
    lost = (k[4:] * p[4:]).sum() / p[4:].sum() - 4
    assert w2["lost_units_est"] == pytest.approx(lost, rel=1e-9)
    assert w2["fill_rate_est"] == pytest.approx(64 / (64 + lost))
    assert w2["avg_on_hand_units"] == pytest.approx(300 / 7)
    # the 'all' rows of a one-segment echelon are the segment's
    pd.testing.assert_series_equal(
        result.loc[(pd.Timestamp("2026-01-12"), "STORE", "all")], w2, check_names=False
    )


def test_dc_turns_use_the_stores_sales_and_unknown_days_are_left_out(
    result: pd.DataFrame,
) -> None:
    w1 = result.loc[(pd.Timestamp("2026-01-05"), "DC", "AX")]
    assert w1["sku_location_days"] == 6 and w1["in_stock_rate"] == 1.0
    assert w1["avg_on_hand_value"] == pytest.approx(200.0)  # the unknown day is not a zero
    assert w1["cogs"] == pytest.approx(140.0)  # what its store sold, at cost
    assert w1["days_of_supply"] == pytest.approx(10.0)
    assert np.isnan(w1["fill_rate_est"]) and np.isnan(w1["lost_units_est"])
    w2 = result.loc[(pd.Timestamp("2026-01-12"), "DC", "AX")]
    assert w2["cogs"] == pytest.approx(128.0)
    assert w2["inventory_turns"] == pytest.approx(365 * (128 / 7) / 200)


def test_columns_and_one_row_per_week_echelon_and_segment(result: pd.DataFrame) -> None:
    assert list(result.reset_index().columns) == list(PERFORMANCE_COLUMNS)
    assert len(result) == 2 * 2 * 2 and result.index.is_unique


def test_lost_units_stay_exact_far_in_the_tail() -> None:
    # a day that sold 153 against a usual 72.8: P(D >= s) is about 1e-16
    lam = np.array([72.8, 10.0, 3.0, 0.0])
    sold = np.array([153.0, 4.0, 0.0, 2.0])
    k = np.arange(0, 600)
    want = []
    for lm, s in zip(lam[:3], sold[:3], strict=True):
        p = stats.poisson.pmf(k[k >= s], lm)
        want.append((p * (k[k >= s] - s)).sum() / p.sum())
    got = lost_units(lam, sold)
    assert got[:3] == pytest.approx(want, rel=1e-6)
    assert got[2] == pytest.approx(3.0)  # nothing sold: the whole day's demand was lost
    assert got[3] == 0.0
