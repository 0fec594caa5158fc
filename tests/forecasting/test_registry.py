"""Model registry: versioned save/load round trip, cards, pruning, offline loading."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.forecasting.forecaster import DemandForecaster
from ml.forecasting.registry import ModelRegistry, annotate_forecast, data_fingerprint


@pytest.fixture(scope="module")
def small_fit():
    rng = np.random.default_rng(0)
    idx = pd.MultiIndex.from_product(
        [
            [f"S{i}" for i in range(6)],
            ["L1"],
            pd.date_range("2024-01-01", periods=40, freq="W-MON"),
        ],
        names=["sku", "location_id", "period"],
    )
    y = pd.DataFrame({"demand": rng.poisson(20, len(idx)).astype(float)}, index=idx)
    f = DemandForecaster(models=("ets", "tsb"), backtest_horizon=4).fit(y, fh=[1, 2, 3, 4])
    return f, y


def test_roundtrip_gives_identical_predictions_and_a_complete_card(tmp_path, small_fit):
    f, y = small_fit
    reg = ModelRegistry(tmp_path)
    card = reg.save(f, training_frame=y, backtest_scores=f.selection_scores_)
    loaded = reg.load()
    pd.testing.assert_frame_equal(
        loaded.predict_quantiles(alpha=[0.05, 0.5, 0.95]),
        f.predict_quantiles(alpha=[0.05, 0.5, 0.95]),
    )
    stored = json.loads((tmp_path / "demand_forecaster" / card.version / "card.json").read_text())
    assert stored["data_fingerprint"] == data_fingerprint(y)
    assert stored["training_window"] == {
        "start": "2024-01-01 00:00:00",
        "end": "2024-09-30 00:00:00",
    }
    assert stored["n_series"] == 6
    assert stored["config"]["backtest_horizon"] == 4
    assert {"segment", "model", "pinball"} <= set(stored["backtest_scores"][0])
    annotated = annotate_forecast(f.predict(), card)
    assert (annotated["model_version"] == card.version).all()


def test_fingerprint_changes_with_the_data(small_fit):
    _f, y = small_fit
    y2 = y.copy()
    y2.iloc[0, 0] += 1
    assert data_fingerprint(y) == data_fingerprint(y.copy())
    assert data_fingerprint(y) != data_fingerprint(y2)


def test_versions_sort_by_time_and_load_a_specific_one(tmp_path, small_fit):
    f, y = small_fit
    reg = ModelRegistry(tmp_path)
    v1 = reg.save(f, training_frame=y).version
    v2 = reg.save(f, training_frame=y.iloc[:-6]).version
    versions = reg.list_versions()
    assert list(versions["version"]) == [v1, v2]
    assert reg.card().version == v2
    assert reg.card(v1).training_window["end"] == "2024-09-30 00:00:00"
    assert reg.load(v1).cutoff[0] == f.cutoff[0]
    with pytest.raises(FileNotFoundError):
        reg.load("nope")


def test_prune_keeps_newest_recent_and_pinned(tmp_path, small_fit):
    f, y = small_fit
    reg = ModelRegistry(tmp_path)
    pinned = reg.save(f, training_frame=y, tags={"pinned": True}).version
    others = [reg.save(f, training_frame=y).version for _ in range(4)]
    deleted = reg.prune(keep_last=2)
    assert deleted == others[:2]
    assert list(reg.list_versions()["version"]) == [pinned, *others[2:]]
    # keep_days: everything was created just now, so nothing more goes
    assert reg.prune(keep_last=1, keep_days=1) == []
    # ... but seen from 10 days later only the newest and the pinned one survive
    later = datetime.now(UTC) + timedelta(days=10)
    assert reg.prune(keep_last=1, keep_days=1, now=later) == [others[2]]
    assert list(reg.list_versions()["version"]) == [pinned, others[3]]
