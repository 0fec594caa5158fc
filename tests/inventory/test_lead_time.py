"""Tests of ml.inventory.lead_time: pmfs, shrinkage, censoring, fallbacks, attachment, scorecard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.inventory import lead_time as lt

AS_OF = pd.Timestamp("2024-12-31")


def _lines(rows: list[dict]) -> pd.DataFrame:
    """PO lines in canonical columns; closed and fully received unless said otherwise."""
    base = {
        "location_id": "DC1",
        "sku": "A",
        "order_date": pd.Timestamp("2024-01-01"),
        "promised_lead_time_days": np.nan,
        "is_open": False,
        "fill_rate": 1.0,
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    if "qty_weighted_lead_time_days" not in df:
        df["qty_weighted_lead_time_days"] = df["lead_time_days"]
    df["po_id"] = np.arange(len(df))
    df["line_no"] = 1
    return df


def test_partial_receipts_use_the_quantity_weighted_lead_time_split_between_days() -> None:
    # The mart's unit-test line: receipts of 30 / 50 / 20 units on days 7, 14, 19 -> 12.9 days.
    df = _lines(
        [{"supplier_id": "S", "lead_time_days": 7, "qty_weighted_lead_time_days": 12.9}] * 4
        + [{"supplier_id": "S", "lead_time_days": 3, "qty_weighted_lead_time_days": 3.0}]
    )
    m = lt.empirical_lead_time_pmf(df, max_days=30, as_of=AS_OF)
    sup = m.groups.index[m.groups["level"] == "supplier"][0]
    # pooled and supplier agree (one supplier), so shrinkage leaves the pmf unchanged
    np.testing.assert_allclose(m.pmf[sup, [3, 12, 13]], [0.2, 0.8 * 0.1, 0.8 * 0.9], atol=1e-12)
    assert m.groups.loc[sup, "mean_days"] == pytest.approx((4 * 12.9 + 3.0) / 5)
    first = lt.empirical_lead_time_pmf(df, max_days=30, as_of=AS_OF, basis="first_receipt")
    assert first.groups.loc[sup, "mean_days"] == pytest.approx((4 * 7 + 3) / 5)
    assert first.pmf[sup, 7] == pytest.approx(0.8)


def test_thin_lane_is_shrunk_towards_its_supplier_by_credibility() -> None:
    rows = [{"supplier_id": "S1", "lead_time_days": 10, "location_id": "DC1"}] * 100
    rows += [{"supplier_id": "S1", "lead_time_days": 12, "location_id": "DC1"}] * 100
    rows += [{"supplier_id": "S1", "lead_time_days": 20, "location_id": "ST9"}] * 3
    m = lt.empirical_lead_time_pmf(df := _lines(rows), max_days=40, as_of=AS_OF)
    g = m.groups
    sup = g.index[(g["level"] == "supplier") & (g["supplier_id"] == "S1")][0]
    lane = g.index[(g["level"] == "lane") & (g["location_id"] == "ST9")][0]
    own = np.zeros(40)
    own[20] = 1.0
    expected = (3 * own + 10 * m.pmf[sup]) / 13
    np.testing.assert_allclose(m.pmf[lane], expected, atol=1e-12)
    assert g.loc[lane, "source"] == "shrunk"
    assert g.loc[lane, "credibility"] == pytest.approx(3 / 13)
    assert g.loc[lane, "parent_group"] == sup
    rich = g.index[(g["level"] == "lane") & (g["location_id"] == "DC1")][0]
    assert g.loc[rich, "source"] == "history"  # 200 / 210 of the weight is its own
    assert len(df) == 203


def test_open_lines_are_censored_so_late_orders_are_not_dropped() -> None:
    # Lead time 5 + exponential(15) days; orders over the last 120 days; as of the end, the
    # recent and the slow orders are still open. Dropping them understates the mean.
    rng = np.random.default_rng(4)
    n = 4000
    lead = np.round(5 + rng.exponential(15.0, n))
    ordered = AS_OF - pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    age = (AS_OF - ordered).days.to_numpy()
    is_open = lead > age
    df = pd.DataFrame(
        {
            "supplier_id": "S",
            "sku": "A",
            "location_id": "DC1",
            "order_date": ordered,
            "lead_time_days": np.where(is_open, np.nan, lead),
            "qty_weighted_lead_time_days": np.where(is_open, np.nan, lead),
            "is_open": is_open,
            "fill_rate": np.where(is_open, 0.0, 1.0),
        }
    )
    true_pmf = np.bincount(np.minimum(lead, 119).astype(int), minlength=120) / n
    true_mean = float((np.arange(120) * true_pmf).sum())
    km = lt.empirical_lead_time_pmf(df, as_of=AS_OF)
    naive = lt.empirical_lead_time_pmf(df, as_of=AS_OF, censor_open=False)
    sup = km.groups.index[km.groups["level"] == "supplier"][0]
    km_mean = km.groups.loc[sup, "mean_days"]
    naive_mean = naive.groups.loc[sup, "mean_days"]
    assert is_open.mean() > 0.1
    assert naive_mean < true_mean - 1.5  # the bias censoring removes
    assert abs(km_mean - true_mean) < 0.3
    assert km.groups.loc[sup, "n_censored"] == is_open.sum()
    # the 95th percentile too
    assert abs(km.groups.loc[sup, "p95_days"] - np.searchsorted(np.cumsum(true_pmf), 0.95)) <= 1


def test_supplier_without_receipts_uses_its_promise_spread_by_pooled_lateness() -> None:
    rows = [{"supplier_id": "S1", "lead_time_days": 10, "promised_lead_time_days": 10}] * 50
    rows += [{"supplier_id": "S1", "lead_time_days": 12, "promised_lead_time_days": 10}] * 50
    rows += [
        {
            "supplier_id": "S2",
            "lead_time_days": np.nan,
            "promised_lead_time_days": 30,
            "is_open": True,
            "fill_rate": 0.0,
            "order_date": AS_OF - pd.Timedelta(days=5),
        }
    ] * 3
    rows += [{"supplier_id": "S3", "lead_time_days": np.nan, "is_open": False, "fill_rate": 0.0}]
    m = lt.empirical_lead_time_pmf(_lines(rows), max_days=60, as_of=AS_OF)
    g = m.groups

    def supplier(name: str) -> pd.Series:
        return g[(g["level"] == "supplier") & (g["supplier_id"] == name)].iloc[0]

    assert supplier("S2")["source"] == "promised"
    np.testing.assert_allclose(m.pmf[supplier("S2")["group_id"], [30, 32]], [0.5, 0.5], atol=1e-12)
    assert supplier("S3")["source"] == "default"
    np.testing.assert_allclose(
        m.pmf[supplier("S3")["group_id"]], m.pmf[m.default_group], atol=1e-12
    )
    # S1 itself: 100 lines, shrunk towards its own promise spread by the same lateness
    np.testing.assert_allclose(m.pmf[supplier("S1")["group_id"], [10, 12]], [0.5, 0.5], atol=1e-12)
    assert supplier("S1")["on_time_rate"] == pytest.approx(0.5)


def test_no_history_at_all_gives_the_default_point_mass() -> None:
    rows = [{"supplier_id": "S1", "lead_time_days": np.nan, "is_open": True, "fill_rate": 0.0}]
    m = lt.empirical_lead_time_pmf(
        _lines(rows), max_days=30, default_lead_time_days=21, as_of=AS_OF
    )
    assert m.pmf[m.default_group, 21] == 1.0
    assert m.groups.loc[m.default_group, "source"] == "default"


def test_mart_column_names_are_accepted() -> None:
    mart = pd.DataFrame(
        {
            "po_number": ["P1", "P1", "P2"],
            "po_line": [1, 2, 1],
            "supplier_id": "S",
            "sku": ["A", "B", "A"],
            "ship_to_location_id": "L",
            "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01"]),
            "promised_date": pd.to_datetime(["2024-01-10", "2024-01-10", None]),
            "lead_time_days": [7, 12, 9],
            "qty_weighted_lead_time_days": [12.9, 12.0, 9.0],
            "days_late": [-2, 2, np.nan],
            "is_open": [False, False, False],
            "fill_rate": [1.0, 1.0, 1.0],
        }
    )
    prepared = lt.prepare_po_lines(mart, as_of="2024-03-01")
    assert prepared["location_id"].tolist() == ["L"] * 3
    np.testing.assert_array_equal(prepared["promised_lead_time_days"], [9.0, 9.0, np.nan])
    np.testing.assert_array_equal(prepared["age_days"], [60.0, 60.0, 29.0])
    m = lt.empirical_lead_time_pmf(mart, max_days=30, as_of="2024-03-01")
    lane = m.groups[m.groups["level"] == "lane"].iloc[0]
    assert lane["location_id"] == "L" and lane["on_time_rate"] == pytest.approx(0.5)


def test_attach_prefers_lane_then_supplier_sku_then_supplier_then_default() -> None:
    rows = [{"supplier_id": "S1", "sku": "A", "location_id": "DC1", "lead_time_days": 5}] * 5
    rows += [{"supplier_id": "S1", "sku": "B", "location_id": "DC2", "lead_time_days": 9}] * 5
    m = lt.empirical_lead_time_pmf(_lines(rows), max_days=30, as_of=AS_OF)
    sl = pd.DataFrame(
        {
            "sku": ["A", "A", "C", "A", "A"],
            "location_id": ["DC1", "ST7", "ST7", "ST7", "ST7"],
            "supplier_id": ["S1", "S1", "S1", "S9", "S1"],
            "transfer_lead_time_days": [np.nan, np.nan, np.nan, np.nan, 3.0],
        },
        index=[10, 11, 12, 13, 14],
    )
    out = lt.attach_lead_time_groups(sl, m)
    assert out.index.tolist() == [10, 11, 12, 13, 14]
    assert out["lead_time_level"].tolist() == [
        "lane",
        "supplier_sku",
        "supplier",
        "default",
        "fixed",
    ]
    assert out["lead_time_source"].iloc[4] == "transfer"
    assert m.pmf[out["lead_time_group"].iloc[4], 3] == 1.0
    g = m.groups
    assert g.loc[out["lead_time_group"].iloc[0], "location_id"] == "DC1"
    assert g.loc[out["lead_time_group"].iloc[1], "sku"] == "A"
    # min_lines: thin fine levels are skipped
    strict = lt.attach_lead_time_groups(sl, m, min_lines=6)
    assert strict["lead_time_level"].tolist()[:3] == ["supplier"] * 3


def test_supplier_reliability_scorecard_values() -> None:
    rows = [
        {
            "supplier_id": "S",
            "lead_time_days": 10,
            "qty_weighted_lead_time_days": 12.0,
            "promised_lead_time_days": 10,
        },
        {"supplier_id": "S", "lead_time_days": 20, "promised_lead_time_days": 10},
        {"supplier_id": "S", "lead_time_days": 8, "promised_lead_time_days": 10, "fill_rate": 0.5},
        {"supplier_id": "S", "lead_time_days": 14, "promised_lead_time_days": 10},
        {
            "supplier_id": "S",
            "lead_time_days": np.nan,
            "promised_lead_time_days": 10,
            "is_open": True,
            "fill_rate": 0.0,
            "order_date": AS_OF - pd.Timedelta(days=30),
        },
    ]
    df = _lines(rows)
    df["days_late"] = df["lead_time_days"] - df["promised_lead_time_days"]
    r = lt.supplier_reliability(df, as_of=AS_OF).set_index("supplier_id").loc["S"]
    assert r["n_lines"] == 5 and r["n_received"] == 4 and r["n_open"] == 1
    assert r["n_open_overdue"] == 1
    assert r["on_time_rate"] == pytest.approx(0.5)  # days late 0, 10, -2, 4
    assert r["otif_rate"] == pytest.approx(0.25)  # the early line was half filled
    assert r["mean_days_late"] == pytest.approx(3.0)
    assert r["mean_days_late_when_late"] == pytest.approx(7.0)
    assert r["share_late_gt_7d"] == pytest.approx(0.25)
    assert r["fill_rate"] == pytest.approx(0.875)
    lts = np.array([12.0, 20.0, 8.0, 14.0])
    assert r["lead_time_mean_days"] == pytest.approx(lts.mean())
    assert r["lead_time_cv"] == pytest.approx(lts.std(ddof=1) / lts.mean())
    assert r["split_delivery_share"] == pytest.approx(0.25)
    assert r["split_delivery_days"] == pytest.approx(0.5)


def test_pmf_statistics_percentiles() -> None:
    pmf = np.zeros((1, 30))
    pmf[0, 7] = 0.85
    pmf[0, 21] = 0.15
    s = lt.pmf_statistics(pmf).iloc[0]
    assert s["mean_days"] == pytest.approx(9.1)
    assert s["sd_days"] == pytest.approx(14 * np.sqrt(0.85 * 0.15))
    assert (s["p50_days"], s["p90_days"], s["p95_days"]) == (7, 21, 21)


def test_invalid_arguments() -> None:
    df = _lines([{"supplier_id": "S", "lead_time_days": 5}])
    with pytest.raises(ValueError, match="basis"):
        lt.empirical_lead_time_pmf(df, basis="last_receipt")
    with pytest.raises(ValueError, match="levels"):
        lt.empirical_lead_time_pmf(df, levels=("country",))
    with pytest.raises(ValueError, match="lack"):
        lt.prepare_po_lines(df.drop(columns="order_date"))
