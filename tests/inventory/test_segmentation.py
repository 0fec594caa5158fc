"""Tests of ml.inventory.segmentation: ABC / XYZ classes, configuration, targets, substitution."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml.inventory import segmentation as sg


def test_abc_by_cumulative_share_with_the_crossing_item_in_the_upper_class() -> None:
    value = pd.Series([3.0, 50.0, 10.0, 0.0, 30.0, 5.0, 2.0], index=list("abcdefg"))
    # ranked 50, 30, 10, 5, 3, 2 (total 100): shares before 0, .5, .8, .9, .95, .98
    out = sg.classify_abc(value, (0.80, 0.95))
    assert out.to_dict() == {
        "a": "C", "b": "A", "c": "B", "d": "C", "e": "A", "f": "B", "g": "C",
    }  # fmt: skip
    # within groups each location ranks its own items
    by = pd.Series(["L1", "L1", "L2", "L2", "L1", "L2", "L2"], index=value.index)
    within = sg.classify_abc(value, (0.80, 0.95), by=by)
    # L1: b 50, e 30, a 3 (shares before 0, .60, .96); L2: c 10, f 5, g 2, d 0 (0, .59, .88)
    assert within.to_dict() == {
        "a": "C", "b": "A", "c": "A", "d": "C", "e": "A", "f": "A", "g": "B",
    }  # fmt: skip


def test_xyz_boundaries_and_undefined_cv() -> None:
    cv = pd.Series([0.0, 0.5, 0.5001, 1.0, 1.01, np.nan, np.inf])
    assert sg.classify_xyz(cv, (0.5, 1.0)).tolist() == ["X", "X", "Y", "Y", "Z", "Z", "Z"]


def test_demand_statistics_from_daily_rows() -> None:
    days = pd.date_range("2024-01-01", periods=28, freq="D")  # four whole weeks up to Jan 28
    weekly = [7, 14, 0, 21]
    units = np.concatenate([np.full(7, w / 7) for w in weekly])
    df = pd.DataFrame(
        {
            "sku": "A",
            "location_id": "L1",
            "demand_date": days,
            "units_sold": units,
            "net_price": 2.0,
        }
    )
    out = sg.demand_statistics(df).iloc[0]
    assert out["n_weeks"] == 4
    assert out["weekly_mean"] == pytest.approx(10.5)
    assert out["weekly_sd"] == pytest.approx(np.std(weekly, ddof=1))
    assert out["weekly_cv"] == pytest.approx(np.std(weekly, ddof=1) / 10.5)
    assert out["annual_units"] == pytest.approx(10.5 * 365.25 / 7)
    assert out["annual_revenue"] == pytest.approx(21.0 * 365.25 / 7)
    assert sg.demand_statistics(df, weeks=2).iloc[0]["weekly_mean"] == pytest.approx(10.5)


def test_shipped_configuration_is_valid_and_complete() -> None:
    cfg = sg.load_service_targets()
    assert set(cfg["segments"]) == {a + x for a in "ABC" for x in "XYZ"}
    assert cfg["segments"]["AX"]["csl"] > cfg["segments"]["CZ"]["csl"]
    assert all(s["review_period_days"] >= 1 for s in cfg["segments"].values())


def _set(path: str, value: object) -> Callable[[dict], None]:
    def apply(raw: dict) -> None:
        *parents, leaf = path.split(".")
        node = raw
        for p in parents:
            node = node[p]
        if value is _DROP:
            del node[leaf]
        else:
            node[leaf] = value

    return apply


_DROP = object()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("segments.AX.csl", 1.2), "between 0 and 1"),
        (_set("segments.AX", _DROP), "not configured"),
        (_set("xyz.cutoffs", [1.0, 0.5]), "increasing"),
        (_set("mode", "fancy"), "mode"),
        (_set("substitution.recapture_rate", 1.0), "recapture_rate"),
        (_set("segments.AX.review_period_days", 2.5), "whole number"),
        (_set("cost_optimal.min_csl", 0.999), "min_csl"),
    ],
)
def test_invalid_configuration_is_rejected(
    tmp_path: Path, mutate: Callable[[dict], None], message: str
) -> None:
    raw = yaml.safe_load(sg.DEFAULT_CONFIG_PATH.read_text())
    mutate(raw)
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        sg.load_service_targets(path)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": ["a", "b", "c", "d", "e", "f"],
            "location_id": ["L1", "L1", "L1", "L2", "L1", "L2"],
            "annual_revenue": [800.0, 150.0, 10.0, 20.0, 10.0, 10.0],
            "weekly_cv": [0.2, 0.7, 2.0, 0.3, 2.0, 2.0],
            "unit_price": [10.0, 10.0, 10.0, 10.0, np.nan, 10.0],
            "unit_cost": [6.0, 6.0, 6.0, 12.0, 6.0, 6.0],
            "substitute_group": [np.nan, np.nan, "g1", "g1", "g1", np.nan],
        },
        index=[5, 6, 7, 8, 9, 10],
    )


def test_segments_and_targets_from_the_configuration() -> None:
    out = sg.segment_sku_locations(_frame())
    assert list(out.columns) == list(sg.SEGMENT_COLUMNS)
    assert out.index.tolist() == [5, 6, 7, 8, 9, 10]
    assert out["segment"].tolist() == ["AX", "BY", "CZ", "CX", "CZ", "CZ"]
    cfg = sg.load_service_targets()
    assert out.loc[5, "target_csl"] == cfg["segments"]["AX"]["csl"]
    fill = cfg["segments"]["BY"].get("fill_rate")  # the shipped file sets CSL targets only
    if fill is None:
        assert np.isnan(out.loc[6, "target_fill_rate"])
    else:
        assert out.loc[6, "target_fill_rate"] == fill
    assert out.loc[8, "review_period_days"] == cfg["segments"]["CX"]["review_period_days"]
    assert (out["target_source"] == "segment").all()


def test_substitutes_at_the_same_location_lower_the_target_by_the_recapture_rule() -> None:
    cfg = sg.load_service_targets()
    out = sg.segment_sku_locations(_frame(), cfg)
    r = cfg["substitution"]["recapture_rate"]
    t = cfg["segments"]["CZ"]["csl"]
    # c and e share g1 at L1; d is in g1 but alone at L2; f has no group
    expected = max(1 - (1 - t) / (1 - r), cfg["substitution"]["floor_csl"])
    assert out.loc[7, "target_csl"] == pytest.approx(expected)
    assert out.loc[7, "target_csl"] < t
    assert out["substitute_adjusted"].tolist() == [False, False, True, False, True, False]
    assert out.loc[10, "target_csl"] == t
    # without the floor, customer-level service is exactly the segment target
    eff = sg.substitution_adjusted_target(np.array([0.95, 0.98]), 0.5, 0.0)
    np.testing.assert_allclose(1 - (1 - eff) * (1 - 0.5), [0.95, 0.98])
    np.testing.assert_allclose(eff, [0.90, 0.96])
    # never raised: a target below the floor stays as it is
    assert sg.substitution_adjusted_target(np.array([0.6]), 0.5, 0.75)[0] == 0.6


def test_cost_optimal_mode_uses_the_critical_ratio_over_the_review_period() -> None:
    raw = yaml.safe_load(sg.DEFAULT_CONFIG_PATH.read_text())
    raw["segments"]["CZ"] = {"mode": "cost_optimal", "csl": 0.85, "review_period_days": 14}
    raw["segments"]["CX"] = {"mode": "cost_optimal", "csl": 0.9, "review_period_days": 14}
    raw["substitution"]["recapture_rate"] = 0.0
    out = sg.segment_sku_locations(_frame(), raw)
    h = 0.25 * 6.0 * 14 / 365  # holding cost of one unit for one review period
    cr = 4.0 / (4.0 + h)
    assert out.loc[10, "critical_ratio"] == pytest.approx(cr)
    assert out.loc[10, "target_csl"] == pytest.approx(min(max(cr, 0.80), 0.995))
    assert out.loc[10, "target_source"] == "cost_optimal"
    assert np.isnan(out.loc[10, "target_fill_rate"])
    # negative margin: the minimum service; no price: the segment's configured csl
    assert out.loc[8, "target_csl"] == pytest.approx(0.80)
    assert out.loc[9, "target_csl"] == 0.85 and out.loc[9, "target_source"] == "segment"
    # a cheaper item to hold (higher margin share) gets a higher target, clipped at max_csl
    cheap = _frame().assign(unit_cost=0.1, unit_price=10.0)
    assert sg.segment_sku_locations(cheap, raw).loc[10, "target_csl"] == pytest.approx(0.995)


def test_margin_metric_and_items_lookup() -> None:
    frame = _frame().drop(columns=["unit_price", "unit_cost", "substitute_group"])
    frame["annual_units"] = [10.0, 100.0, 1.0, 1.0, 1.0, 1.0]
    items = pd.DataFrame(
        {
            "sku": list("abcdef"),
            "unit_price": 10.0,
            "unit_cost": [70.0, 0.5, 1, 1, 1, 1],
            "substitute_group": np.nan,
        }
    )
    raw = yaml.safe_load(sg.DEFAULT_CONFIG_PATH.read_text())
    raw["abc"]["metric"] = "margin"
    out = sg.segment_sku_locations(frame, raw, items=items)
    # margins: a 800 - 700 = 100, b 150 - 50 = 100, c..f 9 each -> a and b rank first
    assert out["abc"].tolist()[:2] == ["A", "A"]
    with pytest.raises(ValueError, match="margin"):
        sg.segment_sku_locations(frame, raw)
