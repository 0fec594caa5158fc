"""ADI / CV² classification on hand-made series with known class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.forecasting.classify import classify_array, classify_demand


def _series() -> dict[str, np.ndarray]:
    T = 24
    smooth = np.full(T, 10.0) + np.tile([0.0, 1.0], T // 2)  # ADI 1, CV² tiny
    erratic = np.tile([1.0, 20.0], T // 2)  # ADI 1, sizes 1/20 -> CV² = 0.8185
    intermittent = np.zeros(T)
    intermittent[::4] = 5.0  # ADI 4, constant size -> CV² 0
    lumpy = np.zeros(T)
    lumpy[::3] = np.tile([1.0, 30.0], 4)  # ADI 3, very variable sizes
    new = np.full(T, np.nan)
    new[-3:] = [1.0, 2.0, 3.0]  # 3 observations only
    return {
        "smooth": smooth,
        "erratic": erratic,
        "intermittent": intermittent,
        "lumpy": lumpy,
        "new": new,
    }


def test_each_pattern_gets_its_syntetos_boylan_class():
    s = _series()
    out = classify_array(np.vstack(list(s.values())), min_history=8)
    assert list(out["segment"].astype(str)) == list(s)
    assert out.loc[2, "adi"] == pytest.approx(4.0)
    assert out.loc[3, "adi"] == pytest.approx(3.0)
    # CV² of sizes {1, 20}: var = 90.25, mean = 10.5
    assert out.loc[1, "cv2"] == pytest.approx(90.25 / 10.5**2)
    assert out.loc[2, "cv2"] == pytest.approx(0.0)
    assert out.loc[4, "n_obs"] == 3


def test_cutoffs_are_inclusive_at_1_32_adi():
    # 33 of 44 periods with demand: ADI = 44/33 = 1.333 >= 1.32 -> intermittent
    y = np.zeros(44)
    y[np.arange(44) % 4 != 0] = 3.0
    out = classify_array(y[None, :])
    assert out.loc[0, "adi"] == pytest.approx(44 / 33)
    assert out.loc[0, "segment"] == "intermittent"


def test_long_frame_groupby_matches_array_version():
    s = _series()
    rows = []
    for name, v in s.items():
        for t, val in enumerate(v):
            if not np.isnan(val):
                rows.append({"sku": name, "location_id": "L1", "t": t, "units_sold": val})
    long = pd.DataFrame(rows)
    by_frame = classify_demand(long)
    by_array = classify_array(np.vstack(list(s.values())))
    by_array.index = pd.MultiIndex.from_tuples([(k, "L1") for k in s], names=["sku", "location_id"])
    by_frame = by_frame.reindex(by_array.index)
    assert list(by_frame["segment"].astype(str)) == list(by_array["segment"].astype(str))
    np.testing.assert_allclose(by_frame["adi"], by_array["adi"])
    np.testing.assert_allclose(by_frame["cv2"].fillna(-1), by_array["cv2"].fillna(-1))
