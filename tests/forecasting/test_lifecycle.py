"""Retraining policy: velocity classes, who is refitted and why, versions composed of chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.forecasting.forecaster import DemandForecaster
from ml.forecasting.lifecycle import (
    PreviousVersion,
    RetrainRequest,
    compose_version,
    context_sample,
    model_series_frame,
    plan_retraining,
    velocity_classes,
)

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def test_fast_movers_are_the_fewest_series_making_80pct_of_recent_volume():
    weeks = pd.date_range("2026-01-05", periods=20, freq="W-MON")
    recent_volume = {"A": 50, "B": 30, "C": 10, "D": 6, "E": 4, "F": 0}  # per recent week
    rows = []
    for sku, v in recent_volume.items():
        for i, w in enumerate(weeks):
            # old weeks (outside the 13-week window) would rank F first if they counted
            units = 1000.0 if (sku == "F" and i < 7) else float(v)
            rows.append({"sku": sku, "location_id": "L1", "week": w, "demand": units})
    frame = pd.DataFrame(rows)
    vel = velocity_classes(frame, window_weeks=13, fast_share=0.8)
    # cumulative share before each series: A 0%, B 50%, C 80% -> A and B make 80%
    assert vel.xs("L1", level="location_id").to_dict() == {
        "A": "fast",
        "B": "fast",
        "C": "slow",
        "D": "slow",
        "E": "slow",
        "F": "slow",
    }
    assert velocity_classes(frame, fast_share=0.81).xs("L1", level=1)["C"] == "fast"
    # no recent demand at all: nobody is fast
    zero = frame.assign(demand=0.0)
    assert (velocity_classes(zero) == "slow").all()


def _series(classes: dict[str, tuple[str, str]]) -> pd.DataFrame:
    idx = pd.MultiIndex.from_tuples([(k, "L1") for k in classes], names=["sku", "location_id"])
    return pd.DataFrame(
        {
            "demand_class": [c[0] for c in classes.values()],
            "velocity_class": [c[1] for c in classes.values()],
        },
        index=idx,
    )


@pytest.fixture()
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Current classes and the stored model's view of the same series."""
    series = _series(
        {
            "fast_fresh": ("smooth", "fast"),  # fast, fitted 2 days ago
            "fast_old": ("smooth", "fast"),  # fast, fitted 6.5 days ago (due with 1 day slack)
            "slow_mid": ("smooth", "slow"),  # slow, fitted 10 days ago (not due)
            "slow_old": ("lumpy", "slow"),  # slow, fitted 30 days ago (due)
            "changed": ("erratic", "slow"),  # fitted as smooth 2 days ago
            "brand_new": ("new", "slow"),  # not in the model
        }
    )
    ages = {"fast_fresh": 2, "fast_old": 6.5, "slow_mid": 10, "slow_old": 30, "changed": 2}
    model = pd.DataFrame(
        {
            "chunk": [0, 0, 1, 1, 0],
            "demand_class": ["smooth", "smooth", "smooth", "lumpy", "smooth"],
            "fitted_at": [(NOW - timedelta(days=d)).isoformat() for d in ages.values()],
        },
        index=pd.MultiIndex.from_tuples([(k, "L1") for k in ages], names=["sku", "location_id"]),
    )
    return series, model


def _reasons(plan: pd.DataFrame) -> dict[str, object]:
    r = plan["refit_reason"]
    return {k[0]: (None if pd.isna(v) else v) for k, v in r.items()}


def test_auto_refits_due_new_and_reclassified_series_and_updates_the_rest(world):
    series, model = world
    plan = plan_retraining(series, model, RetrainRequest(mode="auto"), NOW)
    assert _reasons(plan) == {
        "fast_fresh": None,
        "fast_old": "due",
        "slow_mid": None,
        "slow_old": "due",
        "changed": "class_changed",
        "brand_new": "not_in_model",
    }
    assert (plan["action"] == np.where(plan["refit_reason"].isna(), "update", "refit")).all()
    # a longer fast cadence leaves the 6.5-day-old fast mover alone
    lazy = RetrainRequest(mode="auto", cadence_days={"fast": 14.0, "slow": 28.0})
    assert _reasons(plan_retraining(series, model, lazy, NOW))["fast_old"] is None


def test_velocity_and_segment_requests_refit_exactly_those_series(world):
    series, model = world
    fast = plan_retraining(series, model, RetrainRequest("velocity", velocity=("fast",)), NOW)
    assert _reasons(fast) == {
        "fast_fresh": "requested",
        "fast_old": "requested",
        "slow_mid": None,
        "slow_old": None,  # due, but a velocity request refits only what it names
        "changed": None,
        "brand_new": "not_in_model",  # cannot be updated: always fitted
    }
    seg = plan_retraining(series, model, RetrainRequest("segments", segments=("lumpy",)), NOW)
    assert {k for k, v in _reasons(seg).items() if v} == {"slow_old", "brand_new"}
    everything = plan_retraining(series, model, RetrainRequest("all"), NOW)
    assert set(everything["refit_reason"]) == {"all"}
    nothing_stored = plan_retraining(series, None, RetrainRequest("auto"), NOW)
    assert set(nothing_stored["refit_reason"]) == {"no_model"}


@pytest.mark.parametrize(
    ("mode", "segments", "velocity", "message"),
    [
        ("sometimes", (), (), "refit must be one of"),
        ("segments", (), (), "needs at least one segment"),
        ("segments", ("smoth",), (), "unknown segments"),
        ("velocity", (), ("medium",), "unknown velocity"),
        ("velocity", (), (), "needs at least one velocity"),
    ],
)
def test_invalid_refit_requests_fail_with_a_clear_message(mode, segments, velocity, message):
    with pytest.raises(ValueError, match=message):
        RetrainRequest(mode=mode, segments=segments, velocity=velocity)


def test_context_sample_tops_small_refits_up_with_other_series():
    keys = pd.Index([f"s{i}" for i in range(100)])
    extra = context_sample(keys[:10], keys, min_series=40, seed=1)
    assert len(extra) == 30 and not extra.isin(keys[:10]).any()
    assert extra.equals(context_sample(keys[:10], keys, min_series=40, seed=1))  # seeded
    assert len(context_sample(keys[:50], keys, min_series=40)) == 0


@pytest.fixture(scope="module")
def small_panel(weekly_panel):
    y, X = weekly_panel
    keys = y.index.droplevel(-1).unique()[:60]
    y = y[y.index.droplevel(-1).isin(keys)]
    X = X[X.index.droplevel(-1).isin(keys)]
    weeks = y.index.get_level_values(-1).unique().sort_values()
    old = y.index.get_level_values(-1) <= weeks[-3]
    return y, X, y[old], X[old], keys


def _make() -> DemandForecaster:
    return DemandForecaster(models=("ets", "tsb"), random_state=0)


def test_compose_updates_kept_series_refits_the_others_and_each_series_is_in_one_chunk(
    small_panel,
):
    y, X, y_old, X_old, keys = small_panel
    # the stored version: two chunks fitted two weeks ago
    chunks = [keys[:30], keys[30:]]
    stored = []
    for k in chunks:
        sel = y_old.index.droplevel(-1).isin(k)
        stored.append(_make().fit(y_old[sel], X=X_old[sel], fh=list(range(1, 9))))
    records = [{"fitted_at": (NOW - timedelta(days=14)).isoformat(), "fitted_in_version": "v1"}] * 2
    previous = PreviousVersion("v1", list(stored), records)
    expected_update = (
        stored[1]
        .select_series(keys[45:])
        .update(
            y[
                y.index.droplevel(-1).isin(keys[45:])
                & (y.index.get_level_values(-1) > stored[1].cutoff[0])
            ],
            update_params=False,
        )
    )
    model = model_series_frame(previous)
    current = model[["demand_class"]].assign(velocity_class="slow")
    # refit the whole first chunk and the first half of the second; update the rest
    refit = keys[:45]
    current.loc[refit, "velocity_class"] = "fast"
    plan = plan_retraining(current, model, RetrainRequest("velocity", velocity=("fast",)), NOW)
    assert (plan["action"] == "refit").sum() == 45
    logs: list[str] = []
    out = compose_version(
        y, X, plan, previous, _make, fh=range(1, 9), now=NOW, min_fit_series=50, log=logs.append
    )
    # chunk 0 of v1 lost all its series and is gone; chunk 1 kept 15; one refit chunk of 45
    assert [c["action"] for c in out.chunks] == ["updated", "refit"]
    assert [c["n_series"] for c in out.chunks] == [15, 45]
    assert out.chunks[1]["context_series"] == 5  # 45 refit + 5 context = min_fit_series
    assert out.chunks[0]["fitted_in_version"] == "v1" and out.chunks[0]["new_weeks"] == 2
    assert out.chunks[1]["fitted_at"] == NOW.isoformat()
    all_keys = pd.concat([f.series_keys_.to_frame(index=False) for f in out.forecasters])
    assert len(all_keys) == 60 and not all_keys.duplicated().any()
    assert set(out.series.index) == set(keys)
    assert (out.series.loc[keys[45:], "action"] == "updated").all()
    assert (out.series.loc[keys[:45], "action"] == "refit").all()
    # the updated chunk forecasts exactly as the stored chunk updated by hand
    last = y.index.get_level_values(-1).max()
    assert all(pd.Timestamp(f.cutoff[0]) == last for f in out.forecasters)
    pd.testing.assert_frame_equal(
        out.forecasters[0].predict_quantiles(alpha=[0.1, 0.9]),
        expected_update.predict_quantiles(alpha=[0.1, 0.9]),
    )
    assert any("update chunk" in m for m in logs) and any("fit chunk 1/1" in m for m in logs)
