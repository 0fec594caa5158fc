"""Demand-pattern classification (Syntetos-Boylan-Croston) for every series of a panel.

Two statistics per series, computed on the observed history from the first non-missing period:

* ADI (average inter-demand interval, in periods) = number of periods / number of periods with
  demand > 0. ADI = 1 means demand every period; ADI = 4 means one period in four.
* CV² = squared coefficient of variation of the *non-zero* demand sizes (variance / mean², unitless).

Cut-offs from Syntetos, Boylan & Croston (2005): ADI 1.32 and CV² 0.49 give four classes

=================  ============  ============
class              ADI           CV²
=================  ============  ============
``smooth``         < 1.32        < 0.49
``erratic``        < 1.32        >= 0.49
``intermittent``   >= 1.32       < 0.49
``lumpy``          >= 1.32       >= 0.49
=================  ============  ============

plus ``new`` for series with fewer than ``min_history`` observed periods or fewer than two
non-zero periods (too little data to estimate either statistic). The cut-offs were derived for
choosing between Croston, SBA and SES; they are used here to route series to model families and to
report accuracy per segment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
SEGMENTS: tuple[str, ...] = ("smooth", "erratic", "intermittent", "lumpy", "new")


def classify_array(
    y: np.ndarray,
    min_history: int = 8,
    adi_cutoff: float = ADI_CUTOFF,
    cv2_cutoff: float = CV2_CUTOFF,
) -> pd.DataFrame:
    """Classify the rows of a ``[n_series, n_periods]`` demand array (NaN = not observed).

    Vectorised over series (no Python loop per series). Returns a frame with one row per series
    (positional index) and columns ``n_obs``, ``n_nonzero``, ``mean`` (units/period), ``adi``
    (periods), ``cv2`` (unitless) and ``segment`` (one of :data:`SEGMENTS`).
    """
    y = np.asarray(y, dtype=float)
    valid = ~np.isnan(y)
    n_obs = valid.sum(axis=1)
    yz = np.where(valid, y, 0.0)
    nonzero = valid & (yz > 0)
    n_nz = nonzero.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = yz.sum(axis=1) / n_obs
        adi = np.where(n_nz > 0, n_obs / np.maximum(n_nz, 1), np.inf)
        size_sum = np.where(nonzero, yz, 0.0).sum(axis=1)
        size_mean = size_sum / np.maximum(n_nz, 1)
        size_var = (
            np.where(nonzero, (yz - size_mean[:, None]) ** 2, 0.0).sum(axis=1)
        ) / np.maximum(n_nz, 1)
        cv2 = np.where(size_mean > 0, size_var / size_mean**2, np.nan)
    high_adi = adi >= adi_cutoff
    high_cv2 = cv2 >= cv2_cutoff
    seg = np.where(
        high_adi,
        np.where(high_cv2, "lumpy", "intermittent"),
        np.where(high_cv2, "erratic", "smooth"),
    ).astype(object)
    seg[(n_obs < min_history) | (n_nz < 2)] = "new"
    return pd.DataFrame(
        {
            "n_obs": n_obs.astype(int),
            "n_nonzero": n_nz.astype(int),
            "mean": mean,
            "adi": adi,
            "cv2": cv2,
            "segment": pd.Categorical(seg, categories=list(SEGMENTS)),
        }
    )


def classify_demand(
    df: pd.DataFrame,
    keys: list[str] | tuple[str, ...] = ("sku", "location_id"),
    value: str = "units_sold",
    min_history: int = 8,
    adi_cutoff: float = ADI_CUTOFF,
    cv2_cutoff: float = CV2_CUTOFF,
) -> pd.DataFrame:
    """Classify every series of a long frame (one row per series and period) with groupby.

    ``df`` holds one row per observed period (e.g. ``fct_daily_demand`` or a weekly aggregate);
    missing periods are not counted. Returns one row per series, indexed by ``keys``, with the
    columns of :func:`classify_array`.
    """
    keys = list(keys)
    v = df[value].astype(float)
    work = pd.DataFrame({"v": v, "nz": (v > 0).astype(float)})
    work["vnz"] = v.where(v > 0)
    for k in keys:
        work[k] = df[k].to_numpy()
    g = work.groupby(keys, sort=True, observed=True)
    out = pd.DataFrame(
        {
            "n_obs": g["v"].count(),
            "n_nonzero": g["nz"].sum().astype(int),
            "mean": g["v"].mean(),
        }
    )
    size_mean = g["vnz"].mean()
    size_var = g["vnz"].var(ddof=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["adi"] = np.where(out["n_nonzero"] > 0, out["n_obs"] / out["n_nonzero"], np.inf)
        out["cv2"] = size_var / size_mean**2
    high_adi = out["adi"] >= adi_cutoff
    high_cv2 = out["cv2"] >= cv2_cutoff
    seg = np.where(
        high_adi,
        np.where(high_cv2, "lumpy", "intermittent"),
        np.where(high_cv2, "erratic", "smooth"),
    ).astype(object)
    seg[((out["n_obs"] < min_history) | (out["n_nonzero"] < 2)).to_numpy()] = "new"
    out["segment"] = pd.Categorical(seg, categories=list(SEGMENTS))
    return out
