"""Drift on small synthetic panels, with the real Evidently 0.7 report.

The panel has four segments of 40 SKU-locations x 64 weeks (Poisson demand, levels drawn per
series) and a calibrated backtest (forecast = the true rate, Poisson variance and quantiles) at
three origins; the actuals are the panel's own weeks. A "shift" multiplies the demand of one
segment in the last 8 weeks, after the forecasts were made, as a real demand change would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.monitoring.drift import (
    OVERALL,
    DriftConfig,
    compute_drift,
    demand_index,
    drift_chart_png,
    prune_report_runs,
    run_folder_name,
    save_report,
    split_windows,
)

WEEKS = 64
SEGMENTS = ("smooth", "erratic", "intermittent", "lumpy")


def make_panel(
    shift: dict[str, float] | None = None,
    n_series: int = 40,
    weeks: int = WEEKS,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training_set, backtest_forecasts); ``shift`` = segment -> demand factor, last 8 weeks."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")  # a Monday
    week = start + pd.to_timedelta(7 * np.arange(weeks), unit="D")
    rows = []
    for seg in SEGMENTS:
        n = (sizes or {}).get(seg, n_series)
        level = {
            "smooth": rng.uniform(20, 60, n),
            "erratic": rng.uniform(5, 40, n),
            "intermittent": rng.uniform(0.3, 1.0, n),
            "lumpy": rng.uniform(1.0, 3.0, n),
        }[seg]
        rate = np.repeat(level[:, None], weeks, axis=1)
        factor = np.ones((n, weeks))
        factor[:, -8:] = (shift or {}).get(seg, 1.0)
        demand = rng.poisson(rate * factor)
        frame = pd.DataFrame(
            {
                "sku": np.repeat([f"{seg[:3].upper()}{i:03d}" for i in range(n)], weeks),
                "location_id": "S001",
                "week": np.tile(week, n),
                "demand": demand.ravel().astype(float),
                "rate": rate.ravel(),
                "units_sold": demand.ravel().astype(float),
                "is_imputed": False,
                "stockout_days": (rng.random(n * weeks) < 0.05).astype(int),
                "net_price": np.repeat(rng.uniform(2, 20, n), weeks)
                * rng.normal(1, 0.01, n * weeks),
                "promo_share": np.where(rng.random(n * weeks) < 0.05, 3 / 7, 0.0),
                "demand_class": seg,
            }
        )
        rows.append(frame)
    panel = pd.concat(rows, ignore_index=True)
    # backtest: origins 24, 16 and 8 weeks before the end, 8 weeks each, calibrated forecasts
    cells = []
    for k in (24, 16, 8):
        origin = week[weeks - k - 1]
        sub = panel[(panel["week"] > origin) & (panel["week"] <= origin + pd.Timedelta(weeks=8))]
        cells.append(
            pd.DataFrame(
                {
                    "sku": sub["sku"],
                    "location_id": sub["location_id"],
                    "origin": origin,
                    "forecast_week": sub["week"],
                    "horizon": ((sub["week"] - origin).dt.days // 7).astype(int),
                    "actual": sub["demand"],
                    "mean": sub["rate"],
                    "variance": sub["rate"],
                    "q05": stats.poisson.ppf(0.05, sub["rate"]),
                    "q95": stats.poisson.ppf(0.95, sub["rate"]),
                }
            )
        )
    return panel.drop(columns=["rate"]), pd.concat(cells, ignore_index=True)


def flagged(result, segment: str) -> set[str]:
    r = result.results
    return set(r.loc[(r["segment"] == segment) & r["drifted"], "feature"])


@pytest.fixture(scope="module")
def normal():
    training, backtest = make_panel()
    return compute_drift(training, backtest)


@pytest.fixture(scope="module")
def shifted():
    training, backtest = make_panel(shift={"erratic": 1.8})
    return compute_drift(training, backtest)


def test_a_shifted_segment_drifts_on_demand_and_forecast_features_and_no_other_does(
    shifted,
) -> None:
    assert "erratic" in shifted.drifted_segments
    assert set(shifted.drifted_segments) <= {"erratic", OVERALL}
    assert {"demand", "demand_index", "std_residual", "interval_hit_90"} <= flagged(
        shifted, "erratic"
    )
    for seg in ("smooth", "lumpy", "intermittent"):
        assert flagged(shifted, seg) == set(), seg
    erratic = shifted.segments.set_index("segment").loc["erratic"]
    assert erratic["magnitude"] == pytest.approx(0.8, abs=0.1)  # demand x1.8
    # the shifted series are named as affected (z >= 3 and +20%); unshifted ones hardly ever
    assert erratic["affected_sku_locations"] >= 35
    assert erratic["affected_sample"] and all(
        s.startswith("ERR") for s in erratic["affected_sample"]
    )
    others = shifted.segments.set_index("segment").loc[["smooth", "lumpy", "intermittent"]]
    assert others["affected_sku_locations"].sum() <= 2


def test_an_unshifted_panel_drifts_nowhere(normal) -> None:
    assert normal.drifted_segments == []
    assert not normal.results["drifted"].any()
    assert set(normal.segments["segment"]) == {OVERALL, *SEGMENTS}
    # 6 demand + 2 forecast features per segment, each with Evidently's method and verdict;
    # no demand index for the intermittent series (under 2 units a week)
    assert len(normal.results) == 5 * 8 - 1
    assert "demand_index[intermittent]" in normal.skipped
    assert normal.results["method"].str.len().gt(0).all()
    assert normal.forecast_source == "backtest"


def test_reference_is_the_same_weeks_a_year_earlier_when_history_allows() -> None:
    weeks = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(7 * np.arange(WEEKS), "D"))
    w = split_windows(weeks, DriftConfig())
    assert w.seasonal
    assert w.current_start == weeks.iloc[-8] and w.current_end == weeks.iloc[-1]
    assert w.reference_start == w.current_start - pd.Timedelta(weeks=52)
    assert w.reference_end == w.current_end - pd.Timedelta(weeks=52)
    short = split_windows(weeks.iloc[:40], DriftConfig())
    assert not short.seasonal and short.reference_start == weeks.iloc[0]
    assert short.reference_end == weeks.iloc[31]
    pre = split_windows(weeks, DriftConfig(demand_reference="preceding", reference_weeks=20))
    assert pre.reference_start == weeks.iloc[-28] and pre.reference_end == weeks.iloc[-9]
    with pytest.raises(ValueError, match="seasonal reference needs history"):
        split_windows(weeks.iloc[:40], DriftConfig(demand_reference="seasonal"))


def test_a_significant_but_small_change_is_not_drift() -> None:
    # +10% for everyone: with thousands of rows Evidently's test fires, the 20% gate does not
    training, backtest = make_panel(shift=dict.fromkeys(SEGMENTS, 1.10), n_series=120)
    result = compute_drift(training, None)
    demand = result.results[result.results["feature"] == "demand"].set_index("segment")
    assert demand.loc["smooth", "statistically_drifted"]  # K-S p-value far below 0.05
    assert demand.loc["smooth", "change"] == pytest.approx(0.10, abs=0.03)
    assert not demand["drifted"].any()
    assert result.drifted_segments == []


def test_one_drifted_feature_alerts_although_the_drift_share_stays_below_half() -> None:
    # the notes' warning: the all-columns share (drifted columns / columns) misses a demand
    # shock; decisions are taken per column, so one drifted demand column is enough
    training, _ = make_panel(shift={"smooth": 1.6})
    result = compute_drift(training, None)
    smooth = result.segments.set_index("segment").loc["smooth"]
    assert smooth["drift_share"] < 0.5
    assert smooth["drifted"] and "demand" in smooth["drifted_features"]
    assert result.forecast_source is None
    assert "all (forecast)" in result.skipped


def test_realised_production_forecasts_become_the_current_forecast_window() -> None:
    training, backtest = make_panel()
    # production forecasts for the last 8 weeks that are 40% too low for smooth series
    last = backtest[backtest["origin"] == backtest["origin"].max()].copy()
    last.loc[last["sku"].str.startswith("SMO"), "mean"] *= 0.6
    last["variance"] = last["mean"]
    last["q05"] = stats.poisson.ppf(0.05, last["mean"])
    last["q95"] = stats.poisson.ppf(0.95, last["mean"])
    history = last.drop(columns=["actual"]).assign(model_version="v2")
    result = compute_drift(training, backtest, forecast_history=history)
    assert result.forecast_source == "forecast_history"
    assert result.window_labels["forecast"][1].startswith("forecast history: weeks")
    assert {"std_residual", "interval_hit_90"} <= flagged(result, "smooth")
    assert flagged(result, "lumpy") == set()


def test_segments_with_too_few_series_are_skipped_with_a_reason() -> None:
    training, backtest = make_panel(sizes={"intermittent": 4})
    result = compute_drift(training, backtest, config=DriftConfig(min_series=10))
    assert "intermittent" not in set(result.results["segment"])
    assert "4 reference / 4 current series" in result.skipped["intermittent"]


def test_bad_input_is_rejected_with_a_clear_error() -> None:
    training, backtest = make_panel(n_series=12)
    with pytest.raises(ValueError, match=r"training_set lacks column\(s\) \['net_price'\]"):
        compute_drift(training.drop(columns=["net_price"]))
    with pytest.raises(ValueError, match="backtest_forecasts lacks"):
        compute_drift(training, backtest.drop(columns=["q95"]))
    short = training[training["week"] < training["week"].min() + pd.Timedelta(weeks=12)]
    with pytest.raises(ValueError, match="12 weeks of history"):
        compute_drift(short)
    with pytest.raises(ValueError, match="unknown features"):
        compute_drift(training, config=DriftConfig(min_change={"volume": 0.1}))


def test_standard_error_counts_series_not_rows(normal) -> None:
    # the paired standard error of the demand change: sd of per-series (current - reference)
    # means over sqrt(series); recomputed here by hand for the smooth segment
    training, _ = make_panel()
    w = normal.windows
    ts = training[training["demand_class"] == "smooth"]
    cur = ts[ts["week"] >= w.current_start].groupby("sku")["demand"].mean()
    ref = ts[(ts["week"] >= w.reference_start) & (ts["week"] <= w.reference_end)]
    ref = ref.groupby("sku")["demand"].mean()
    d = cur - ref
    row = normal.results.set_index(["segment", "feature"]).loc[("smooth", "demand")]
    assert row["change_se"] == pytest.approx(
        d.std(ddof=1) / np.sqrt(len(d)) / row["reference_mean"]
    )
    # Poisson weekly demand, 8 weeks per window: sd(d) ~ sqrt(2 * mean / 8)
    assert d.std(ddof=1) == pytest.approx(np.sqrt(2 * ts["demand"].mean() / 8), rel=0.3)


def test_report_files_are_written_and_old_runs_are_pruned(shifted, tmp_path: Path) -> None:
    root = tmp_path / "drift"
    stamps = [pd.Timestamp(f"2026-11-{d:02d} 04:00:00") for d in (2, 9, 16, 23)]
    for i, ts in enumerate(stamps):
        html, js = save_report(shifted, root / run_folder_name(ts.to_pydatetime(), f"run{i}abcdef"))
    (root / "notes").mkdir()  # not a run folder: never touched
    assert html.stat().st_size > 100_000
    assert "demand[erratic]" in html.read_text()
    payload = json.loads(js.read_text())
    assert payload["metrics"] and payload["stockpilot"]["windows"]["seasonal"] is True
    erratic = [r for r in payload["stockpilot"]["results"] if r["segment"] == "erratic"]
    assert {r["feature"] for r in erratic if r["drifted"]} >= {"demand"}

    removed = prune_report_runs(root, keep=2)
    assert [p.name for p in removed] == ["20261102T040000Z-run0abcd", "20261109T040000Z-run1abcd"]
    kept = sorted(p.name for p in root.iterdir())
    assert kept == ["20261116T040000Z-run2abcd", "20261123T040000Z-run3abcd", "notes"]
    assert not list(root.glob("*/.drift_report*"))  # no temporary files left behind
    with pytest.raises(ValueError, match="keep must be >= 1"):
        prune_report_runs(root, keep=0)


def test_chart_is_a_small_png(shifted) -> None:
    png = drift_chart_png(shifted)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) < 100_000


def test_demand_index_of_both_windows_agrees_when_nothing_changed() -> None:
    # Monte Carlo: 4,000 Poisson series (3 units/week), 8 + 8 weeks, no change. Each week is
    # divided by an independent level estimate (leave-one-out in the reference), so the two
    # windows' index means agree; dividing reference weeks by their own mean would not (its
    # mean is exactly 1, the current one carries the ratio bias E[1/mean] > 1/E[mean]).
    rng = np.random.default_rng(5)
    n, weeks = 4000, 16
    demand = pd.Series(rng.poisson(3.0, n * weeks).astype(float))
    sku = pd.Series(np.repeat(np.arange(n), weeks).astype(str))
    loc = pd.Series(["S1"] * (n * weeks))
    is_ref = pd.Series(np.tile(np.arange(weeks) < 8, n))
    index = demand_index(demand, is_ref, sku, loc)
    ref, cur = np.nanmean(index[is_ref]), np.nanmean(index[~is_ref])
    assert cur == pytest.approx(ref, abs=0.01)
    assert cur == pytest.approx(1 + 1 / (8 * 3.0), abs=0.015)  # delta method: 1 + 1/(n mu)
    naive = demand / demand.where(is_ref).groupby(sku).transform("mean")
    assert naive[is_ref].mean() == pytest.approx(1.0, abs=1e-9)
    assert naive[~is_ref].mean() - naive[is_ref].mean() > 0.03
