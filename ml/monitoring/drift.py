"""Demand and forecast drift with Evidently 0.7, per demand class and overall.

What is compared with what:

* **Demand features**, one row per SKU-location-week of the weekly training panel
  (``forecasting.training_set``): weekly demand (units, censoring-corrected), the demand index
  (weekly demand / the SKU-location's own mean weekly demand in the reference window: without
  the spread between big and small sellers, a shift of part of the assortment stands out),
  average net price (currency/unit), promotion share of the week's days, whether the week had
  no demand and whether it had a stockout day. The *current* window is the latest ``current_weeks`` (8)
  weeks. The *reference* is the same weeks one year earlier when the panel reaches back that
  far (the training window's view of this season: November is compared with last November, not
  with the summer), else the ``reference_weeks`` (52) weeks before the current window.
* **Forecast features**, one row per held-out forecast cell: the standardised residual
  ``(actual - mean) / sd`` and whether the actual fell inside the 90% interval
  ``[q05, q95]``. The reference is the older origins of the rolling-origin backtest; the current
  window is the latest origin, or - when the production forecast history has weeks whose actuals
  are known - the realised production forecasts for the current weeks.

Everything goes into **one** Evidently report per run: every (feature, segment) pair is one
column ``"<feature>[<segment>]"`` that holds the feature for rows of that segment and NaN
elsewhere (Evidently drops NaNs per column before testing). One HTML page (about 4 MB whatever
the column count) then shows every segment, and each column gets its own test, so a shock in
one feature of one segment is never averaged away: the notes on this stack warn that the
all-columns drift share misses a demand shock that a restricted column set catches, so alerts
are decided per column, never on the share.

A column is **drifted** when Evidently's test flags it (its default method: K-S or chi-square/
Z-test p-values below 0.05 at up to 1,000 reference rows, normed Wasserstein or Jensen-Shannon
distance above 0.1 beyond) *and* the change is big enough to matter: at least the feature's
minimum change (see :data:`FEATURES`; e.g. mean demand moves by 20%) and at least 3 standard
errors, counting SKU-locations rather than rows as independent (the weeks of one series share
its level). With tens of thousands of rows a test alone flags differences no planner would act
on. Forecast features count only when the forecast got worse (more bias, lower coverage). A
segment drifts when one of its alerting features (demand, demand index, zero-demand share,
residual, interval coverage) is drifted.

This module never imports dagster.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

OVERALL = "all"
#: Cold-start series (too short a history to classify) have no reference window: not monitored.
NEW_SEGMENT = "new"
YES, NO = "yes", "no"


@dataclass(frozen=True)
class Feature:
    """One monitored feature and the smallest change that counts (the practical gate).

    ``change`` says how the change between the windows is measured, on the window means (for
    categorical features, the share of ``"yes"`` rows): ``relative`` = current / reference - 1
    and ``absolute`` = current - reference count in both directions; ``bias`` = |current| -
    |reference| counts when positive (the forecast got more biased) and ``drop`` = current -
    reference counts when negative (interval coverage fell): a forecast that improves is not an
    alarm, and wider-than-needed intervals cost stock, not service.
    ``alerting`` features can raise an alert; the others are context (a price or promotion
    change explains a demand change).
    """

    name: str
    kind: str  # "numerical" | "categorical"
    source: str  # "demand" (training panel) | "forecast" (residuals)
    change: str  # "relative" | "absolute" | "bias" | "drop"
    min_change: float
    alerting: bool
    description: str


FEATURES: tuple[Feature, ...] = (
    Feature("demand", "numerical", "demand", "relative", 0.20, True, "weekly demand, units"),
    Feature(
        "demand_index",
        "numerical",
        "demand",
        "absolute",
        0.20,
        True,
        "weekly demand / the SKU-location's mean weekly demand in the reference window",
    ),
    Feature("zero_demand", "categorical", "demand", "absolute", 0.10, True, "week without demand"),
    Feature(
        "net_price", "numerical", "demand", "relative", 0.10, False, "net price, currency/unit"
    ),
    Feature(
        "promo_share", "numerical", "demand", "absolute", 0.10, False, "share of days on promotion"
    ),
    Feature("stockout", "categorical", "demand", "absolute", 0.10, False, "week with a stockout"),
    Feature("std_residual", "numerical", "forecast", "bias", 0.30, True, "(actual - mean) / sd"),
    Feature(
        "interval_hit_90", "categorical", "forecast", "drop", 0.05, True, "actual in [q05, q95]"
    ),
)
FEATURE_BY_NAME = {f.name: f for f in FEATURES}

#: Residual sd floor (units): a forecast of almost surely 0 must not give infinite residuals.
MIN_RESIDUAL_SD = 0.5

TRAINING_SET_COLUMNS = (
    "sku",
    "location_id",
    "week",
    "demand",
    "stockout_days",
    "net_price",
    "promo_share",
    "demand_class",
)
FORECAST_COLUMNS = (
    "sku",
    "location_id",
    "origin",
    "forecast_week",
    "mean",
    "variance",
    "q05",
    "q95",
)


@dataclass(frozen=True)
class DriftConfig:
    """Windows, gates and sizes of a drift run.

    ``demand_reference``: ``"seasonal"`` compares the current weeks with the same weeks one year
    (52 weeks) earlier, so that an ordinary seasonal swing (garden items in November) is not
    drift; ``"preceding"`` with the ``reference_weeks`` before the current window; ``"auto"``
    (default) is seasonal when the history reaches back far enough, else preceding.
    ``min_change`` overrides the per-feature gates of :data:`FEATURES` by feature name.
    ``max_rows`` bounds the rows per window handed to Evidently (a seeded random sample above
    it); means, changes and affected SKU-locations always use every row.
    """

    current_weeks: int = 8
    reference_weeks: int = 52
    demand_reference: str = "auto"
    min_reference_weeks: int = 8
    min_series: int = 10
    min_change: dict[str, float] = field(default_factory=dict)
    noise_z: float = 3.0
    affected_z: float = 3.0
    sample_size: int = 20
    max_rows: int = 400_000
    seed: int = 0

    def gate(self, feature: str) -> float:
        """The minimum change of ``feature`` that counts as drift."""
        return float(self.min_change.get(feature, FEATURE_BY_NAME[feature].min_change))

    def validate(self) -> None:
        """Raise ValueError for windows or gates that cannot work."""
        if self.current_weeks < 1 or self.reference_weeks < 1 or self.min_reference_weeks < 1:
            raise ValueError("current_weeks, reference_weeks and min_reference_weeks must be >= 1")
        if self.demand_reference not in ("auto", "seasonal", "preceding"):
            raise ValueError("demand_reference must be 'auto', 'seasonal' or 'preceding'")
        if self.min_series < 1 or self.sample_size < 0 or self.max_rows < 100:
            raise ValueError("need min_series >= 1, sample_size >= 0 and max_rows >= 100")
        unknown = sorted(set(self.min_change) - set(FEATURE_BY_NAME))
        if unknown:
            raise ValueError(f"unknown features in min_change: {unknown}")
        if any(v < 0 for v in self.min_change.values()):
            raise ValueError("min_change values must be >= 0")


@dataclass(frozen=True)
class Windows:
    """The reference and current week ranges (Mondays, inclusive)."""

    reference_start: pd.Timestamp
    reference_end: pd.Timestamp
    current_start: pd.Timestamp
    current_end: pd.Timestamp
    seasonal: bool = False  # reference = the same weeks one year earlier

    def as_dict(self) -> dict[str, str | bool]:
        out: dict[str, str | bool] = {
            k: str(v.date()) for k, v in self.__dict__.items() if isinstance(v, pd.Timestamp)
        }
        out["seasonal"] = self.seasonal
        return out


@dataclass
class DriftResult:
    """The outcome of :func:`compute_drift`.

    ``results``: one row per segment x feature (method, score, threshold, means, change,
    ``statistically_drifted`` = Evidently's test, ``drifted`` = test and gate).
    ``segments``: one row per monitored segment (drift share, drifted alerting features,
    magnitude = relative change of mean weekly demand, affected SKU-locations and a sample).
    ``skipped``: segment -> why it was not monitored. ``window_labels``: source (``demand``,
    ``forecast``) -> (reference, current) in words. ``snapshot``: the Evidently snapshot
    (``save_report`` writes it), ``None`` when nothing could be compared.
    """

    results: pd.DataFrame
    segments: pd.DataFrame
    windows: Windows
    forecast_source: str | None
    skipped: dict[str, str]
    window_labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    snapshot: Any = None

    @property
    def drifted_segments(self) -> list[str]:
        return self.segments.loc[self.segments["drifted"], "segment"].tolist()


# ------------------------------------------------------------------------------------ windows
def split_windows(weeks: pd.Series | pd.Index, config: DriftConfig) -> Windows:
    """Current = the latest ``current_weeks`` weeks; the demand reference per ``demand_reference``.

    Seasonal: the same weeks 52 weeks earlier (needs that much history; ``auto`` falls back to
    preceding without it). Preceding: up to ``reference_weeks`` weeks before the current window.
    Raises ValueError when fewer than ``min_reference_weeks`` weeks precede the current window,
    or for ``seasonal`` without a year of history.
    """
    uniq = pd.DatetimeIndex(pd.to_datetime(pd.Series(weeks)).unique()).sort_values()
    n_ref = len(uniq) - config.current_weeks
    if n_ref < config.min_reference_weeks:
        raise ValueError(
            f"{len(uniq)} weeks of history: drift needs {config.current_weeks} current weeks "
            f"plus at least {config.min_reference_weeks} reference weeks"
        )
    current = uniq[-config.current_weeks :]
    year = pd.Timedelta(weeks=52)
    has_year = uniq[0] <= current[0] - year
    if config.demand_reference == "seasonal" and not has_year:
        raise ValueError(
            f"a seasonal reference needs history back to {(current[0] - year).date()}; "
            f"the panel starts {uniq[0].date()}"
        )
    if config.demand_reference != "preceding" and has_year:
        return Windows(current[0] - year, current[-1] - year, current[0], current[-1], True)
    reference = uniq[max(0, n_ref - config.reference_weeks) : n_ref]
    return Windows(reference[0], reference[-1], current[0], current[-1], False)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}")


def _yes_no(flag: pd.Series | np.ndarray) -> np.ndarray:
    return np.where(np.asarray(flag, dtype=bool), YES, NO).astype(object)


# ----------------------------------------------------------------------------------- features
def demand_feature_rows(training_set: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """SKU-location-weeks of both windows with the demand features and ``window``/``segment``.

    Only SKU-locations with weeks in both windows are kept: a change of the assortment (launches
    since the reference weeks, delistings) is not a change of demand, and comparing the same
    series keeps the question "do these SKU-locations sell differently now?". Cold-start series
    (``demand_class == "new"``) never have a reference.
    """
    _require(training_set, TRAINING_SET_COLUMNS, "training_set")
    ts = training_set.loc[:, list(TRAINING_SET_COLUMNS)].copy()
    ts["week"] = pd.to_datetime(ts["week"])
    in_current = (ts["week"] >= windows.current_start) & (ts["week"] <= windows.current_end)
    in_reference = (ts["week"] >= windows.reference_start) & (ts["week"] <= windows.reference_end)
    ts = ts[(in_current | in_reference) & (ts["demand_class"].astype(str) != NEW_SEGMENT)]
    key = ["sku", "location_id"]
    both = (
        ts.assign(_cur=in_current.reindex(ts.index))
        .groupby(key)["_cur"]
        .agg(["any", "all"])
        .query("any and not all")
        .index
    )
    ts = ts[pd.MultiIndex.from_frame(ts[key]).isin(both)]
    demand = ts["demand"].astype(float)
    index = demand_index(demand, ts["week"] <= windows.reference_end, ts["sku"], ts["location_id"])
    return pd.DataFrame(
        {
            "sku": ts["sku"].to_numpy(),
            "location_id": ts["location_id"].to_numpy(),
            "week": ts["week"].to_numpy(),
            "segment": ts["demand_class"].astype(str).to_numpy(),
            "window": np.where(ts["week"] >= windows.current_start, "current", "reference"),
            "demand": demand.to_numpy(),
            "demand_index": index,
            "zero_demand": _yes_no(demand.to_numpy() <= 0),
            "net_price": ts["net_price"].astype(float).to_numpy(),
            "promo_share": ts["promo_share"].astype(float).to_numpy(),
            "stockout": _yes_no(ts["stockout_days"].fillna(0).to_numpy() > 0),
        }
    )


#: Smallest mean weekly demand (units, both windows) for which a SKU-location gets a demand
#: index: below it a week over the level is mostly noise (the zero-demand share covers those).
MIN_INDEX_LEVEL = 2.0


def demand_index(
    demand: pd.Series, is_reference: pd.Series, sku: pd.Series, location: pd.Series
) -> np.ndarray:
    """Weekly demand / the SKU-location's reference level, comparable across the two windows.

    A current week is divided by the mean of all reference weeks; a reference week by the mean
    of the *other* reference weeks (leave-one-out). Both are then one week over an independent
    estimate of the level, so under no change their distributions agree - dividing reference
    weeks by a mean that contains them would make the reference artificially tight (mean
    exactly 1) and a ratio to a noisy level is biased upwards (E[1/X] > 1/E[X]).
    NaN for series whose mean over *both* windows is below :data:`MIN_INDEX_LEVEL` (choosing
    series by their reference level alone would pick those that were high by chance, whose
    current weeks then look low: regression to the mean).
    """
    x = demand.to_numpy(dtype=float)
    ref = is_reference.to_numpy(dtype=bool)
    keys = [sku.to_numpy(), location.to_numpy()]
    ref_sum = pd.Series(np.where(ref, x, 0.0)).groupby(keys).transform("sum").to_numpy()
    ref_n = pd.Series(ref.astype(float)).groupby(keys).transform("sum").to_numpy()
    level = ref_sum / np.maximum(ref_n, 1)
    both = pd.Series(x).groupby(keys).transform("mean").to_numpy()
    denominator = np.where(ref, (ref_sum - x) / np.maximum(ref_n - 1, 1), level)
    ok = (both >= MIN_INDEX_LEVEL) & (ref_n >= 2) & (denominator > 0)
    return np.where(ok, x / np.where(ok, denominator, 1.0), np.nan)


def _residual_columns(fc: pd.DataFrame) -> pd.DataFrame:
    sd = np.sqrt(np.maximum(fc["variance"].astype(float).to_numpy(), MIN_RESIDUAL_SD**2))
    actual = fc["actual"].astype(float).to_numpy()
    out = fc[["sku", "location_id", "origin", "forecast_week"]].copy()
    out["std_residual"] = (actual - fc["mean"].astype(float).to_numpy()) / sd
    out["interval_hit_90"] = _yes_no(
        (actual >= fc["q05"].astype(float).to_numpy())
        & (actual <= fc["q95"].astype(float).to_numpy())
    )
    return out


def forecast_residual_rows(
    backtest_forecasts: pd.DataFrame | None,
    series_segments: pd.DataFrame,
    windows: Windows,
    forecast_history: pd.DataFrame | None = None,
    actuals: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """Forecast cells of both windows with residual features, and where the current ones came from.

    Reference: backtest origins before the latest. Current: production forecasts from
    ``forecast_history`` whose week falls in the current window and has an actual (joined from
    ``actuals``: sku, location_id, week, demand), else the latest backtest origin. Returns an
    empty frame and ``None`` when there is no reference (fewer than two backtest origins).
    ``series_segments`` (sku, location_id, demand_class) gives each series its segment.
    """
    empty = pd.DataFrame(columns=["sku", "location_id", "segment", "window", "std_residual"])
    if backtest_forecasts is None or backtest_forecasts.empty:
        return empty, None
    _require(backtest_forecasts, (*FORECAST_COLUMNS, "actual"), "backtest_forecasts")
    bt = backtest_forecasts.copy()
    bt["origin"] = pd.to_datetime(bt["origin"])
    bt["forecast_week"] = pd.to_datetime(bt["forecast_week"])
    origins = np.sort(bt["origin"].unique())
    if len(origins) < 2:
        return empty, None
    reference = _residual_columns(bt[bt["origin"] < origins[-1]])
    reference["window"] = "reference"

    current, source = None, None
    if forecast_history is not None and actuals is not None and not forecast_history.empty:
        _require(forecast_history, FORECAST_COLUMNS, "forecast_history")
        hist = forecast_history.copy()
        hist["forecast_week"] = pd.to_datetime(hist["forecast_week"])
        hist["origin"] = pd.to_datetime(hist["origin"])
        hist = hist[
            (hist["forecast_week"] >= windows.current_start)
            & (hist["forecast_week"] <= windows.current_end)
        ]
        # a retrained model re-forecasts an origin: the latest version of each cell counts
        order = "created_at" if "created_at" in hist else "model_version"
        if order in hist:
            hist = hist.sort_values(order)
        hist = hist.drop_duplicates(["sku", "location_id", "origin", "forecast_week"], keep="last")
        act = actuals.rename(columns={"week": "forecast_week", "demand": "actual"})[
            ["sku", "location_id", "forecast_week", "actual"]
        ].copy()
        act["forecast_week"] = pd.to_datetime(act["forecast_week"])
        hist = hist.merge(act, on=["sku", "location_id", "forecast_week"], how="inner")
        if not hist.empty:
            current, source = _residual_columns(hist), "forecast_history"
    if current is None:
        current, source = _residual_columns(bt[bt["origin"] == origins[-1]]), "backtest"
    current["window"] = "current"

    rows = pd.concat([reference, current], ignore_index=True)
    seg = series_segments[["sku", "location_id", "demand_class"]].drop_duplicates(
        ["sku", "location_id"]
    )
    rows = rows.merge(seg, on=["sku", "location_id"], how="left")
    rows["segment"] = rows.pop("demand_class").astype(object).fillna(NEW_SEGMENT).astype(str)
    rows = rows[rows["segment"] != NEW_SEGMENT].reset_index(drop=True)
    return rows, source


# ---------------------------------------------------------------------------------- evidently
def column_name(feature: str, segment: str) -> str:
    """The report column of one feature in one segment, e.g. ``demand[smooth]``."""
    return f"{feature}[{segment}]"


def _wide(rows: pd.DataFrame, pairs: list[tuple[Feature, str]]) -> pd.DataFrame:
    """One column per (feature, segment): the feature where the row is in the segment, else NaN."""
    seg = rows["segment"].to_numpy()
    cols: dict[str, np.ndarray] = {}
    for f, s in pairs:
        values = rows[f.name].to_numpy()
        mask = np.ones(len(rows), bool) if s == OVERALL else seg == s
        if f.kind == "numerical":
            cols[column_name(f.name, s)] = np.where(mask, values.astype(float), np.nan)
        else:
            cols[column_name(f.name, s)] = np.where(mask, values, None).astype(object)
    return pd.DataFrame(cols, index=rows.index)


def _testable_pairs(
    rows: pd.DataFrame, features: list[Feature], segments: list[str], min_series: int
) -> tuple[list[tuple[Feature, str]], dict[str, str]]:
    """(feature, segment) pairs with values for at least ``min_series`` series in both windows.

    A segment can pass the series count and still lack a feature (the demand index is not
    defined for the slowest sellers); such a column is skipped with its reason, not tested on
    a handful of rows.
    """
    pairs, skipped = [], {}
    for s in segments:
        sub = rows if s == OVERALL else rows[rows["segment"] == s]
        for f in features:
            have = sub[sub[f.name].notna()].drop_duplicates(["sku", "location_id", "window"])
            n = have["window"].value_counts()
            ref, cur = int(n.get("reference", 0)), int(n.get("current", 0))
            if min(ref, cur) >= min_series:
                pairs.append((f, s))
            else:
                skipped[column_name(f.name, s)] = (
                    f"{ref} reference / {cur} current series with a value (< {min_series})"
                )
    return pairs, skipped


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def _eligible_segments(rows: pd.DataFrame, min_series: int) -> tuple[list[str], dict[str, str]]:
    """Segments (``all`` first) with at least ``min_series`` series in both windows."""
    if rows.empty:
        return [], {}
    counts = (
        rows.drop_duplicates(["sku", "location_id", "segment", "window"])
        .groupby(["segment", "window"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=["reference", "current"], fill_value=0)
    )
    overall = rows.drop_duplicates(["sku", "location_id", "window"]).groupby("window").size()
    counts.loc[OVERALL] = overall.reindex(["reference", "current"], fill_value=0).to_numpy()
    ok, skipped = [], {}
    for seg in [OVERALL, *sorted(s for s in counts.index if s != OVERALL)]:
        ref, cur = int(counts.loc[seg, "reference"]), int(counts.loc[seg, "current"])
        if min(ref, cur) >= min_series:
            ok.append(seg)
        else:
            skipped[seg] = f"{ref} reference / {cur} current series (< {min_series})"
    return ok, skipped


def _parse_snapshot(snapshot: Any) -> pd.DataFrame:
    """Per report column: Evidently's method, score, threshold and test status (FAIL = drift)."""
    d = snapshot.dict()
    rows: dict[str, dict[str, Any]] = {}
    for m in d.get("metrics", []):
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            rows[cfg["column"]] = {
                "column": cfg["column"],
                "method": str(cfg.get("method")),
                "threshold": float(cfg.get("threshold")),
                "score": float(m["value"]),
                "statistically_drifted": None,
            }
    for t in d.get("tests", []):
        params = t.get("metric_config", {}).get("params", {})
        col = params.get("column")
        if params.get("type", "").endswith("ValueDrift") and col in rows:
            rows[col]["statistically_drifted"] = t.get("status") == "FAIL"
    frame = pd.DataFrame(list(rows.values()))
    if frame.empty:
        return frame
    # tests missing (never seen with 0.7.23): p-value methods drift below, distances above
    pval = frame["method"].str.contains("p_value")
    fallback = np.where(
        pval, frame["score"] < frame["threshold"], frame["score"] >= frame["threshold"]
    )
    frame["statistically_drifted"] = (
        frame["statistically_drifted"].astype(object).where(frame["statistically_drifted"].notna())
    )
    frame["statistically_drifted"] = [
        bool(f) if s is None else bool(s)
        for s, f in zip(frame["statistically_drifted"], fallback, strict=True)
    ]
    return frame


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame, features: dict[str, str]):
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    numerical = [c for c, k in features.items() if k == "numerical"]
    categorical = [c for c, k in features.items() if k == "categorical"]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    # one ValueDrift per column; no DataDriftPreset / DriftedColumnsCount: they recompute every
    # column's drift through the legacy metrics (about 2x the run time) for a share that is
    # meaningless across segments, and the per-segment shares are computed here.
    report = Report([ValueDrift(column=c) for c in features], include_tests=True)
    return report.run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )


# ----------------------------------------------------------------------- means and SKU-locations
def _window_stats(rows: pd.DataFrame, features: list[Feature], segments: list[str]) -> pd.DataFrame:
    """Per segment x feature: rows, mean per window (share of ``yes`` if categorical) and the
    standard error of the change between them.

    The standard error counts series, not rows, as the independent units: the weeks of one
    SKU-location share its level and the cells of one backtest series share its forecast, so a
    row-level test is overconfident. It is the paired one, ``sd(d) / sqrt(n)`` over the series
    present in both windows, ``d`` = the series' current mean - its reference mean.
    """
    cols = ["segment", "feature", "reference_rows", "current_rows", "reference_mean"]
    cols += ["current_mean", "se_absolute"]
    if rows.empty or not segments:
        return pd.DataFrame(columns=cols)
    names = [f.name for f in features]
    values = pd.DataFrame(
        {
            f.name: (rows[f.name] == YES).astype(float)
            if f.kind == "categorical"
            else rows[f.name].astype(float)
            for f in features
        },
        index=rows.index,
    )
    keys = rows[["segment", "sku", "location_id", "window"]]
    values = pd.concat([keys, values], axis=1)
    per_series = values.groupby(["segment", "sku", "location_id", "window"])[names].mean()
    per_series = per_series.unstack("window")
    if {"current", "reference"} <= set(per_series.columns.get_level_values(1)):
        diffs = pd.DataFrame(
            {n: per_series[(n, "current")] - per_series[(n, "reference")] for n in names}
        )
    else:
        diffs = pd.DataFrame(columns=names, dtype=float)
    out = []
    for seg in segments:
        in_seg = values if seg == OVERALL else values[values["segment"] == seg]
        d = diffs if seg == OVERALL else diffs[diffs.index.get_level_values(0) == seg]
        g = in_seg.groupby("window")[names]
        mean, count = g.mean(), g.count()
        se = d.std(ddof=1) / np.sqrt(d.count().clip(lower=1))
        for n in names:
            out.append(
                {
                    "segment": seg,
                    "feature": n,
                    "reference_rows": int(count[n].get("reference", 0)),
                    "current_rows": int(count[n].get("current", 0)),
                    "reference_mean": float(mean[n].get("reference", np.nan)),
                    "current_mean": float(mean[n].get("current", np.nan)),
                    "se_absolute": float(se.get(n, np.nan)),
                }
            )
    return pd.DataFrame(out, columns=cols)


def affected_sku_locations(
    rows: pd.DataFrame, min_relative_change: float, z: float = 3.0
) -> pd.DataFrame:
    """SKU-locations whose own mean weekly demand moved between the windows, with their z-score.

    z = (current mean - reference mean) / sqrt(v / n_current + v / n_reference), v the series'
    reference variance floored at its mean (Poisson) and at 0.25; a series is affected when
    |z| >= ``z`` and its mean moved by at least ``min_relative_change`` (relative). Returns
    sku, location_id, segment, reference_mean, current_mean, relative_change, z, affected.
    """
    g = rows.groupby(["sku", "location_id", "segment", "window"])["demand"].agg(
        ["mean", "var", "count"]
    )
    wide = g.unstack("window")
    need = [("mean", "reference"), ("mean", "current")]
    if any(c not in wide.columns for c in need):
        return pd.DataFrame(
            columns=[
                "sku",
                "location_id",
                "segment",
                "reference_mean",
                "current_mean",
                "relative_change",
                "z",
                "affected",
            ]
        )
    wide = wide.dropna(subset=need)
    m_r, m_c = wide[("mean", "reference")], wide[("mean", "current")]
    v = np.maximum(np.maximum(wide[("var", "reference")].fillna(0.0), m_r), 0.25)
    se = np.sqrt(v / wide[("count", "current")] + v / wide[("count", "reference")])
    zscore = (m_c - m_r) / se
    rel = (m_c - m_r) / np.maximum(m_r, 1e-9)
    out = pd.DataFrame(
        {
            "reference_mean": m_r,
            "current_mean": m_c,
            "relative_change": rel,
            "z": zscore,
        }
    ).reset_index()
    out["affected"] = (out["z"].abs() >= z) & (out["relative_change"].abs() >= min_relative_change)
    return out


# ----------------------------------------------------------------------------------- main API
def compute_drift(
    training_set: pd.DataFrame,
    backtest_forecasts: pd.DataFrame | None = None,
    forecast_history: pd.DataFrame | None = None,
    config: DriftConfig | None = None,
) -> DriftResult:
    """Drift of demand features and forecast residuals, recent weeks vs the training window.

    ``training_set``: the weekly panel (sku, location_id, week, demand, stockout_days,
    net_price, promo_share, demand_class). ``backtest_forecasts``: held-out forecasts (sku,
    location_id, origin, forecast_week, actual, mean, variance, q05, q95); optional.
    ``forecast_history``: production forecasts with ``origin`` (optional; used for the current
    residuals when its weeks have actuals in ``training_set``). Raises ValueError for missing
    columns or too short a history.
    """
    config = config or DriftConfig()
    config.validate()
    _require(training_set, TRAINING_SET_COLUMNS, "training_set")
    windows = split_windows(training_set["week"], config)

    demand_rows = demand_feature_rows(training_set, windows)
    series_segments = training_set[["sku", "location_id", "demand_class"]].drop_duplicates(
        ["sku", "location_id"]
    )
    actuals = None
    if forecast_history is not None:
        ts_weeks = pd.to_datetime(training_set["week"])
        actuals = training_set.loc[
            ts_weeks >= windows.current_start, ["sku", "location_id", "week", "demand"]
        ]
    forecast_rows, forecast_source = forecast_residual_rows(
        backtest_forecasts, series_segments, windows, forecast_history, actuals
    )

    demand_features = [f for f in FEATURES if f.source == "demand"]
    forecast_features = [f for f in FEATURES if f.source == "forecast"]
    demand_segments, skipped = _eligible_segments(demand_rows, config.min_series)
    forecast_segments, f_skipped = _eligible_segments(forecast_rows, config.min_series)
    if forecast_source is None:
        f_skipped = {OVERALL: "no backtest with two or more origins"}

    # one report: demand rows and forecast rows stacked, each column NaN outside its rows
    columns: dict[str, str] = {}
    parts_ref, parts_cur = [], []
    for rows, feats, segs in (
        (demand_rows, demand_features, demand_segments),
        (forecast_rows, forecast_features, forecast_segments),
    ):
        pairs, no_values = _testable_pairs(rows, feats, segs, config.min_series)
        skipped.update(no_values)
        if not pairs:
            continue
        for f, s in pairs:
            columns[column_name(f.name, s)] = f.kind
        for window, parts in (("reference", parts_ref), ("current", parts_cur)):
            part = rows[rows["window"] == window]
            parts.append(_wide(_sample(part, config.max_rows, config.seed), pairs))
    snapshot = None
    parsed = pd.DataFrame(columns=["column", "method", "threshold", "score"])
    if columns:
        reference = pd.concat(parts_ref, ignore_index=True)
        current = pd.concat(parts_cur, ignore_index=True)
        snapshot = _run_evidently(reference, current, columns)
        parsed = _parse_snapshot(snapshot)

    stats = pd.concat(
        [
            part
            for part in (
                _window_stats(demand_rows, demand_features, demand_segments),
                _window_stats(forecast_rows, forecast_features, forecast_segments),
            )
            if not part.empty
        ]
        or [_window_stats(demand_rows, [], [])],
        ignore_index=True,
    )
    results = _results_table(parsed, stats, config)
    affected = affected_sku_locations(demand_rows, config.gate("demand"), config.affected_z)
    segments = _segment_table(results, demand_rows, forecast_rows, affected, config)
    all_skipped = {**{f"{k} (forecast)": v for k, v in f_skipped.items()}, **skipped}
    labels = {
        "demand": (
            f"weeks {windows.reference_start.date()}..{windows.reference_end.date()}"
            + (" (same weeks a year earlier)" if windows.seasonal else ""),
            f"weeks {windows.current_start.date()}..{windows.current_end.date()}",
        )
    }
    if forecast_source is not None:
        ref_origins = sorted(
            pd.to_datetime(
                forecast_rows.loc[forecast_rows["window"] == "reference", "origin"]
            ).dt.date.unique()
        )
        cur_rows = forecast_rows[forecast_rows["window"] == "current"]
        cur_weeks = pd.to_datetime(cur_rows["forecast_week"])
        labels["forecast"] = (
            "backtest origins " + ", ".join(str(o) for o in ref_origins),
            f"{forecast_source.replace('_', ' ')}: weeks "
            f"{cur_weeks.min().date()}..{cur_weeks.max().date()}",
        )
    return DriftResult(
        results=results,
        segments=segments,
        windows=windows,
        forecast_source=forecast_source,
        skipped=all_skipped,
        window_labels=labels,
        snapshot=snapshot,
    )


RESULT_COLUMNS = [
    "segment",
    "feature",
    "source",
    "kind",
    "method",
    "score",
    "threshold",
    "statistically_drifted",
    "drifted",
    "alerting",
    "reference_rows",
    "current_rows",
    "reference_mean",
    "current_mean",
    "change",
    "change_kind",
    "change_se",
    "min_change",
    "required_change",
]


def _results_table(parsed: pd.DataFrame, stats: pd.DataFrame, config: DriftConfig) -> pd.DataFrame:
    """Evidently's per-column verdicts joined with the window means, changes and gates."""
    if parsed.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    stats = stats.copy()
    stats["column"] = stats["feature"] + "[" + stats["segment"] + "]"  # = column_name()
    out = parsed.merge(stats, on="column", how="inner")
    feats = out["feature"].map(FEATURE_BY_NAME)
    out["source"] = [f.source for f in feats]
    out["kind"] = [f.kind for f in feats]
    out["alerting"] = [f.alerting for f in feats]
    out["change_kind"] = [f.change for f in feats]
    out["min_change"] = [config.gate(f.name) for f in feats]
    ref, cur = out["reference_mean"].astype(float), out["current_mean"].astype(float)
    kind = out["change_kind"]
    scale = np.where(kind == "relative", np.maximum(ref.abs(), 1e-9), 1.0)
    out["change"] = np.where(kind == "bias", cur.abs() - ref.abs(), (cur - ref) / scale)
    out["change_se"] = out["se_absolute"].astype(float) / scale
    out["required_change"] = np.maximum(
        out["min_change"], config.noise_z * out["change_se"].fillna(0.0)
    )
    # the part of the change that counts: both directions, more bias, or less coverage
    counted = np.select(
        [kind.isin(["relative", "absolute"]), kind == "drop"],
        [out["change"].abs(), -out["change"]],
        default=out["change"],
    )
    out["drifted"] = out["statistically_drifted"].astype(bool) & (counted >= out["required_change"])
    order = {f.name: i for i, f in enumerate(FEATURES)}
    out["_s"] = (out["segment"] != OVERALL).astype(int)
    out["_f"] = out["feature"].map(order)
    out = out.sort_values(["_s", "segment", "_f"]).reset_index(drop=True)
    return out[RESULT_COLUMNS]


SEGMENT_COLUMNS = [
    "segment",
    "n_series_reference",
    "n_series_current",
    "features_tested",
    "features_statistically_drifted",
    "drift_share",
    "drifted_features",
    "drifted",
    "magnitude",
    "reference_mean_demand",
    "current_mean_demand",
    "affected_sku_locations",
    "affected_sample",
]


def _segment_table(
    results: pd.DataFrame,
    demand_rows: pd.DataFrame,
    forecast_rows: pd.DataFrame,
    affected: pd.DataFrame,
    config: DriftConfig,
) -> pd.DataFrame:
    if results.empty:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    recs = []
    series = pd.concat(
        [demand_rows[["sku", "location_id", "segment", "window"]]]
        + (
            [forecast_rows[["sku", "location_id", "segment", "window"]]]
            if not forecast_rows.empty
            else []
        ),
        ignore_index=True,
    ).drop_duplicates()
    for seg, res in results.groupby("segment", sort=False):
        in_seg = series if seg == OVERALL else series[series["segment"] == seg]
        n_series = in_seg.drop_duplicates(["sku", "location_id", "window"])["window"].value_counts()
        drifted = res[res["drifted"] & res["alerting"]]["feature"].tolist()
        dem = res[res["feature"] == "demand"]
        aff = affected if seg == OVERALL else affected[affected["segment"] == seg]
        aff = aff[aff["affected"]]
        top = aff.reindex(aff["z"].abs().sort_values(ascending=False).index).head(
            config.sample_size
        )
        recs.append(
            {
                "segment": seg,
                "n_series_reference": int(n_series.get("reference", 0)),
                "n_series_current": int(n_series.get("current", 0)),
                "features_tested": len(res),
                "features_statistically_drifted": int(res["statistically_drifted"].sum()),
                "drift_share": float(res["statistically_drifted"].mean()),
                "drifted_features": drifted,
                "drifted": bool(drifted),
                "magnitude": float(dem["change"].iloc[0]) if len(dem) else float("nan"),
                "reference_mean_demand": float(dem["reference_mean"].iloc[0])
                if len(dem)
                else float("nan"),
                "current_mean_demand": float(dem["current_mean"].iloc[0])
                if len(dem)
                else float("nan"),
                "affected_sku_locations": len(aff),
                "affected_sample": (
                    top["sku"].astype(str) + "@" + top["location_id"].astype(str)
                ).tolist(),
            }
        )
    return pd.DataFrame(recs, columns=SEGMENT_COLUMNS)


# ------------------------------------------------------------------------------ report files
RUN_DIR_PATTERN = re.compile(r"^\d{8}T\d{6}Z(-[0-9a-zA-Z]+)?$")


def run_folder_name(created_at: datetime, run_id: str = "") -> str:
    """``20261116T040512Z-1a2b3c4d``: sortable by time, unique per run."""
    stamp = created_at.strftime("%Y%m%dT%H%M%SZ")
    short = re.sub(r"[^0-9a-zA-Z]", "", run_id)[:8]
    return f"{stamp}-{short}" if short else stamp


def save_report(result: DriftResult, folder: Path) -> tuple[Path, Path]:
    """Write the Evidently report as ``drift_report.html`` and ``drift_report.json`` in ``folder``.

    The JSON is Evidently's snapshot plus this run's windows and per segment x feature results
    (``stockpilot`` key), so a report folder explains itself without the warehouse. Files are
    written under a temporary name and renamed, so a reader never sees half a report.
    """
    if result.snapshot is None:
        raise ValueError("nothing was compared: there is no report to save")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    html, js = folder / "drift_report.html", folder / "drift_report.json"
    tmp_html = folder / ".drift_report.html.tmp"
    result.snapshot.save_html(str(tmp_html))
    payload = result.snapshot.dict()
    payload["stockpilot"] = {
        "windows": result.windows.as_dict(),
        "forecast_source": result.forecast_source,
        "skipped": result.skipped,
        "results": json.loads(result.results.to_json(orient="records")),
        "segments": json.loads(result.segments.to_json(orient="records")),
    }
    tmp_js = folder / ".drift_report.json.tmp"
    tmp_js.write_text(json.dumps(payload, default=str))
    tmp_html.replace(html)
    tmp_js.replace(js)
    return html, js


def prune_report_runs(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run folders under ``root``; returns the deleted ones.

    Only folders named like :func:`run_folder_name` are considered, so nothing else a user put
    there is touched. Raises ValueError for ``keep < 1`` (the current run is always kept).
    """
    if keep < 1:
        raise ValueError("keep must be >= 1")
    root = Path(root)
    if not root.is_dir():
        return []
    runs = sorted(p for p in root.iterdir() if p.is_dir() and RUN_DIR_PATTERN.match(p.name))
    doomed = runs[:-keep]
    for p in doomed:
        shutil.rmtree(p)
    return doomed


# ------------------------------------------------------------------------------------ chart
def drift_chart_png(result: DriftResult) -> bytes:
    """Reference vs current per segment: mean weekly demand ratio and 90% coverage; PNG bytes.

    Drifted bars are red; the dashed lines are the demand gate (ratio 1 +/- min change) and the
    nominal 90% coverage.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = result.results
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 2.8))
    dem = res[res["feature"] == "demand"]
    ax = axes[0]
    if len(dem):
        ratio = dem["current_mean"] / np.maximum(dem["reference_mean"], 1e-9)
        ax.bar(dem["segment"], ratio, color=np.where(dem["drifted"], "#d64545", "#3c7dd9"))
        gate = float(dem["min_change"].iloc[0])
        for y, ls in ((1.0, "-"), (1 + gate, "--"), (1 - gate, "--")):
            ax.axhline(y, color="k", lw=0.7, ls=ls)
    ax.set_title("mean weekly demand, current / reference", fontsize=9)
    cov = res[res["feature"] == "interval_hit_90"]
    ax = axes[1]
    if len(cov):
        x = np.arange(len(cov))
        ax.bar(x - 0.2, cov["reference_mean"], 0.4, label="reference", color="#9aa5b1")
        ax.bar(
            x + 0.2,
            cov["current_mean"],
            0.4,
            label="current",
            color=np.where(cov["drifted"], "#d64545", "#3c7dd9"),
        )
        ax.set_xticks(x, cov["segment"])
        ax.axhline(0.9, color="k", lw=0.7, ls="--")
        ax.set_ylim(0.5, 1.0)
        ax.legend(fontsize=6, loc="lower right")
    ax.set_title("90% interval coverage (forecasts)", fontsize=9)
    for ax in axes:
        ax.tick_params(labelsize=7)
    w = result.windows
    fig.suptitle(
        f"demand: {w.reference_start.date()}..{w.reference_end.date()} vs "
        f"{w.current_start.date()}..{w.current_end.date()}; red = drifted",
        fontsize=8,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return buf.getvalue()
