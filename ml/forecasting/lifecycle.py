"""Model lifecycle: velocity classes and which series a run refits and which it only updates.

A stored model version is a list of fitted chunks (``DemandForecaster`` objects, each over a set
of series). Between retrains a run *updates* a chunk with the new weeks
(``update(update_params=False)``: same models, parameters, dispersion and calibration, state moved
to the new cutoff) instead of fitting it again. :func:`plan_retraining` decides per series:

=================  ==========================================================================
refit reason       when
=================  ==========================================================================
``all``            ``refit="all"``, every series
``no_model``       no usable previous version (first run, changed forecaster settings, ...)
``requested``      ``refit="segments"`` / ``"velocity"``: the series of the listed demand or
                   velocity classes (by their class in the current training set)
``not_in_model``   the series is not in the previous version (new SKU-location, or a series
                   that had no complete week at the last fit): it cannot be updated
``class_changed``  ``"auto"``: its demand class in the current training set differs from the
                   class the model fitted it under (so its model family may no longer suit it)
``due``            ``"auto"``: its chunk was fitted at least ``cadence - slack`` ago (wall
                   clock), with cadence 7 days for fast movers and 28 days for slow movers
=================  ==========================================================================

Every other series is updated. ``"segments"`` and ``"velocity"`` refit only the requested series
(plus, necessarily, the ones not in the model); a changed class waits for the next ``"auto"`` run.

Velocity (:func:`velocity_classes`): a series is ``fast`` when it belongs to the smallest set of
series that together make ``fast_share`` (default 80%) of the unit demand of the last
``window_weeks`` (default 13) weeks, largest first; every other series is ``slow``. A volume
share rather than a units threshold, so the split adapts to any network size and unit scale: the
few series that carry most of the volume are the ones where stale parameters cost most.

No Dagster here: plain pandas on frames keyed by ``(sku, location_id)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ml.forecasting.classify import SEGMENTS

REFIT_MODES: tuple[str, ...] = ("auto", "all", "segments", "velocity")
VELOCITY_CLASSES: tuple[str, ...] = ("fast", "slow")
REFIT_REASONS: tuple[str, ...] = (
    "all",
    "no_model",
    "requested",
    "not_in_model",
    "class_changed",
    "due",
)


def velocity_classes(
    frame: pd.DataFrame,
    keys: Sequence[str] = ("sku", "location_id"),
    period: str = "week",
    value: str = "demand",
    window_weeks: int = 13,
    fast_share: float = 0.8,
) -> pd.Series:
    """``fast`` / ``slow`` per series from its share of recent unit demand.

    ``frame`` has one row per series and period (e.g. ``forecasting.training_set``). Volume =
    sum of ``value`` (units) over the last ``window_weeks`` periods of the whole panel. Series
    are ranked by volume, largest first; a series is ``fast`` if the series ranked above it make
    less than ``fast_share`` of the total (so the fast set is the smallest one reaching the share,
    and at least one series is fast when there is any demand). Series without demand in the
    window are ``slow``. Returns a Series indexed by ``keys`` named ``velocity_class``.
    """
    if not 0.0 < fast_share <= 1.0:
        raise ValueError(f"fast_share must be in (0, 1], got {fast_share}")
    keys = list(keys)
    t = pd.to_datetime(frame[period])
    periods = np.sort(t.unique())
    start = periods[max(len(periods) - int(window_weeks), 0)] if len(periods) else None
    recent = frame[value].where(t >= start, 0.0) if start is not None else frame[value] * 0.0
    volume = recent.fillna(0.0).clip(lower=0.0).groupby([frame[k] for k in keys]).sum()
    volume.index = volume.index.set_names(keys)
    order = volume.sort_values(ascending=False, kind="mergesort")
    total = float(order.sum())
    before = order.cumsum() - order
    fast = (order > 0) & (before < fast_share * total)
    out = pd.Series(np.where(fast, "fast", "slow"), index=order.index, name="velocity_class")
    return out.reindex(volume.index)


def check_refit_request(mode: str, segments: Iterable[str], velocity: Iterable[str]) -> None:
    """Raise ``ValueError`` with a clear message for an invalid refit request."""
    segments, velocity = list(segments), list(velocity)
    if mode not in REFIT_MODES:
        raise ValueError(f"refit must be one of {REFIT_MODES}, got {mode!r}")
    bad = sorted(set(segments) - set(SEGMENTS))
    if bad:
        raise ValueError(f"unknown segments {bad}; demand classes are {SEGMENTS}")
    bad = sorted(set(velocity) - set(VELOCITY_CLASSES))
    if bad:
        raise ValueError(f"unknown velocity classes {bad}; choose from {VELOCITY_CLASSES}")
    if mode == "segments" and not segments:
        raise ValueError("refit='segments' needs at least one segment (demand class)")
    if mode == "velocity" and not velocity:
        raise ValueError("refit='velocity' needs at least one velocity class (fast, slow)")


@dataclass(frozen=True)
class RetrainRequest:
    """What a run was asked to do (the ``demand_forecast_model`` config, minus fitting knobs)."""

    mode: str = "auto"
    segments: tuple[str, ...] = ()
    velocity: tuple[str, ...] = ()
    reason: str = ""
    cadence_days: dict[str, float] = field(default_factory=lambda: {"fast": 7.0, "slow": 28.0})
    #: A weekly job never runs exactly 7 x 24 h after the last one: a fit this much younger
    #: than its cadence is due too.
    slack_days: float = 1.0

    def __post_init__(self) -> None:
        check_refit_request(self.mode, self.segments, self.velocity)


def plan_retraining(
    series: pd.DataFrame,
    model_series: pd.DataFrame | None,
    request: RetrainRequest,
    now: datetime,
) -> pd.DataFrame:
    """Refit or update, per series of the current training set.

    ``series``: one row per series, indexed by its key, with ``demand_class`` and
    ``velocity_class`` as of the current training set. ``model_series``: one row per series of
    the previous version, same index, with ``demand_class`` (as fitted), ``chunk`` and
    ``fitted_at`` (UTC timestamp of the chunk's fit); None when there is no usable version.
    Returns ``series`` with ``action`` (``refit`` / ``update``), ``refit_reason`` (one of
    :data:`REFIT_REASONS`, None for updates) and ``chunk`` (the previous chunk, NaN if none).
    """
    out = series[["demand_class", "velocity_class"]].copy()
    out["chunk"] = np.nan
    reason = pd.Series(pd.NA, index=out.index, dtype="object")
    if request.mode == "all":
        reason[:] = "all"
    elif model_series is None:
        reason[:] = "no_model"
    else:
        prev = model_series.reindex(out.index)
        out["chunk"] = prev["chunk"].to_numpy(dtype=float)
        in_model = prev["chunk"].notna()
        if request.mode == "segments":
            requested = out["demand_class"].isin(request.segments)
        elif request.mode == "velocity":
            requested = out["velocity_class"].isin(request.velocity)
        else:
            requested = pd.Series(False, index=out.index)
        changed = in_model & (prev["demand_class"].astype(str) != out["demand_class"].astype(str))
        fitted_at = pd.to_datetime(prev["fitted_at"], utc=True)
        cadence = (
            out["velocity_class"]
            .map(request.cadence_days)
            .fillna(min(request.cadence_days.values()))
        )
        age_days = (pd.Timestamp(now).tz_convert("UTC") - fitted_at).dt.total_seconds() / 86400
        due = in_model & (age_days >= cadence - request.slack_days)
        auto = request.mode == "auto"
        # first matching reason wins (the order of REFIT_REASONS)
        reason = reason.mask(reason.isna() & requested, "requested")
        reason = reason.mask(reason.isna() & ~in_model, "not_in_model")
        if auto:
            reason = reason.mask(reason.isna() & changed, "class_changed")
            reason = reason.mask(reason.isna() & due, "due")
    out["refit_reason"] = reason
    out["action"] = np.where(reason.notna(), "refit", "update")
    return out


def refit_summary(plan: pd.DataFrame) -> pd.DataFrame:
    """Series per action, refit reason and velocity class (for the model card and metadata)."""
    g = (
        plan.assign(refit_reason=plan["refit_reason"].fillna("-"))
        .groupby(["action", "refit_reason", "velocity_class"], observed=True)
        .size()
        .rename("series")
        .reset_index()
    )
    return g.sort_values(["action", "refit_reason", "velocity_class"], ignore_index=True)


def context_sample(
    refit_keys: pd.Index, all_keys: pd.Index, min_series: int, seed: int = 0
) -> pd.Index:
    """Series to fit *with* a small refit set so pooled estimates stay well determined.

    The forecaster pools over the series it is fitted on: model choice per segment, dispersion
    per segment and volume bin, coverage calibration per CV² group, the global gradient-boosting
    model. Fitted on a handful of series, all of these would rest on a handful of series. So a
    refit set smaller than ``min_series`` is fitted together with a seeded random sample of the
    other series up to ``min_series``, and only the refit set is kept from that fit
    (``DemandForecaster.select_series``). Returns the extra keys (possibly empty).
    """
    need = int(min_series) - len(refit_keys)
    if need <= 0:
        return all_keys[:0]
    others = all_keys.difference(refit_keys)
    if len(others) <= need:
        return others
    rng = np.random.default_rng(seed)
    return others[np.sort(rng.choice(len(others), need, replace=False))]


@dataclass
class PreviousVersion:
    """A stored model version that a run may update: its id, fitted chunks and chunk records."""

    version: str
    forecasters: list[Any]
    chunks: list[dict[str, Any]]


def chunk_records_from_card(
    version: str, n_chunks: int, chunks: list[dict[str, Any]], created_at: str, window: dict
) -> list[dict[str, Any]]:
    """The card's chunk records, or records built from the card itself for versions saved
    before chunks were recorded (every chunk fitted when the version was created)."""
    if len(chunks) == n_chunks:
        return [{**c, "fitted_in_version": c.get("fitted_in_version") or version} for c in chunks]
    return [
        {
            "fitted_at": created_at,
            "fitted_in_version": version,
            "fit_window_start": window.get("start"),
            "fit_window_end": window.get("end"),
        }
        for _ in range(n_chunks)
    ]


def model_series_frame(previous: PreviousVersion) -> pd.DataFrame:
    """One row per series of a stored version: ``chunk``, ``demand_class`` as fitted, ``fitted_at``.

    Raises ``ValueError`` if a series sits in two chunks (it would be forecast twice).
    """
    frames = []
    for i, f in enumerate(previous.forecasters):
        frames.append(
            pd.DataFrame(
                {
                    "chunk": i,
                    "demand_class": f.segments_["segment"].astype(str).to_numpy(),
                    "fitted_at": previous.chunks[i]["fitted_at"],
                },
                index=f.series_keys_,
            )
        )
    out = pd.concat(frames)
    dup = out.index.duplicated()
    if dup.any():
        raise ValueError(
            f"version {previous.version}: {int(dup.sum())} series are in more than one chunk"
        )
    return out


def unusable_reason(
    previous: PreviousVersion,
    config: Mapping[str, Any],
    expected: Mapping[str, Any],
    last_period: pd.Timestamp,
) -> str | None:
    """Why a stored version cannot be updated for this run (None: it can).

    ``config`` is the stored card's config, ``expected`` what this run would fit with:
    ``forecaster`` (constructor parameters; ``n_jobs`` is ignored, it changes no result),
    ``freq`` and ``horizon_weeks``. The stored chunks must not have seen periods after
    ``last_period`` (the training set went backwards: another warehouse, or a restored drop).
    """
    for key in ("freq", "horizon_weeks"):
        if config.get(key) != expected.get(key):
            return f"{key} changed ({config.get(key)!r} -> {expected.get(key)!r})"
    stored = {k: v for k, v in (config.get("forecaster") or {}).items() if k != "n_jobs"}
    wanted = {k: v for k, v in (expected.get("forecaster") or {}).items() if k != "n_jobs"}
    if stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        return f"forecaster settings changed: {diff}"
    for f in previous.forecasters:
        if not hasattr(f, "series_keys_") or not f.get_tag("capability:update", False):
            return "a stored chunk cannot be updated (saved by an older forecaster)"
        if pd.Timestamp(f.cutoff[0]) > pd.Timestamp(last_period):
            return (
                f"the stored model has seen weeks up to {pd.Timestamp(f.cutoff[0]).date()}, "
                f"after the last training week {pd.Timestamp(last_period).date()}"
            )
    return None


@dataclass
class ComposedVersion:
    """A new version's fitted chunks, one record per chunk, and the chunk of every series."""

    forecasters: list[Any]
    chunks: list[dict[str, Any]]
    series: pd.DataFrame


def _subset(frame: pd.DataFrame | None, keys: pd.Index) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame[frame.index.droplevel(-1).isin(keys)]


def compose_version(
    y: pd.DataFrame,
    X: pd.DataFrame | None,
    plan: pd.DataFrame,
    previous: PreviousVersion | None,
    make_forecaster: Callable[[], Any],
    fh: Sequence[int],
    now: datetime,
    chunk_size: int = 20_000,
    min_fit_series: int = 400,
    seed: int = 0,
    log: Callable[[str], None] = lambda _msg: None,
) -> ComposedVersion:
    """Build a new version from a plan (:func:`plan_retraining`): update, then refit.

    Updated series stay in the chunk they were fitted in: each previous chunk is cut to its
    series planned ``update`` (``select_series``) and updated with the weeks of ``y`` after its
    cutoff (``update_params=False``); a chunk left without series is dropped. Refit series are
    fitted in new chunks of at most ``chunk_size`` series; a chunk below ``min_fit_series`` is
    fitted with context series (:func:`context_sample`) and cut back to its own. One chunk is in
    memory being fitted at a time; every chunk logs a progress line through ``log``. Every series
    of ``plan`` ends up in exactly one chunk.
    """
    forecasters: list[Any] = []
    chunks: list[dict[str, Any]] = []
    members: list[pd.DataFrame] = []
    periods = y.index.get_level_values(-1)
    key_index = y.index.droplevel(-1)
    now_iso = pd.Timestamp(now).tz_convert("UTC").isoformat()

    def add(f: Any, record: dict[str, Any], part: pd.DataFrame) -> None:
        record = {"chunk": len(forecasters), "n_series": len(f.series_keys_), **record}
        record["updated_through"] = str(pd.Timestamp(f.cutoff[0]))
        forecasters.append(f)
        chunks.append(record)
        members.append(part.assign(chunk=record["chunk"]))

    update = plan[plan["action"] == "update"]
    if previous is not None and len(update):
        n_prev = len(previous.forecasters)
        for i in range(n_prev):
            f, info = previous.forecasters[i], previous.chunks[i]
            previous.forecasters[i] = None  # free each stored chunk once it is handled
            keep = update.index[update["chunk"].to_numpy() == i]
            if len(keep) == 0:
                log(f"update chunk {i + 1}/{n_prev}: no series left to update, dropped")
                continue
            t0 = time.perf_counter()
            if len(keep) < len(f.series_keys_):
                f = f.select_series(keep)
            sel = key_index.isin(keep) & (periods > pd.Timestamp(f.cutoff[0]))
            new_weeks = int(pd.Index(periods[sel]).nunique())
            if sel.any():
                f.update(y[sel], X=X[sel] if X is not None else None, update_params=False)
            seconds = time.perf_counter() - t0
            add(
                f,
                {
                    "action": "updated",
                    "fitted_at": info.get("fitted_at"),
                    "fitted_in_version": info.get("fitted_in_version") or previous.version,
                    "fit_window_start": info.get("fit_window_start"),
                    "fit_window_end": info.get("fit_window_end"),
                    "new_weeks": new_weeks,
                    "context_series": 0,
                    "parent_chunk": i,
                    "refit_reasons": {},
                    "seconds": round(seconds, 2),
                },
                update.loc[keep],
            )
            log(
                f"update chunk {i + 1}/{n_prev}: {len(keep):,} series, +{new_weeks} week(s), "
                f"{seconds:.1f} s"
            )
    refit = plan[plan["action"] == "refit"]
    size = max(int(chunk_size), 1)
    n_fit = -(-len(refit) // size)
    for j in range(n_fit):
        part = refit.iloc[j * size : (j + 1) * size]
        keys = part.index
        extra = context_sample(keys, plan.index, min_fit_series, seed=seed + j)
        fit_keys = keys.append(extra) if len(extra) else keys
        t0 = time.perf_counter()
        f = make_forecaster().fit(_subset(y, fit_keys), X=_subset(X, fit_keys), fh=list(fh))
        window = (str(pd.Timestamp(f.times_[0])), str(pd.Timestamp(f.times_[-1])))
        if len(extra):
            f = f.select_series(keys)
        seconds = time.perf_counter() - t0
        add(
            f,
            {
                "action": "refit",
                "fitted_at": now_iso,
                "fitted_in_version": None,
                "fit_window_start": window[0],
                "fit_window_end": window[1],
                "new_weeks": 0,
                "context_series": len(extra),
                "parent_chunk": None,
                "refit_reasons": part["refit_reason"].value_counts().to_dict(),
                "seconds": round(seconds, 2),
            },
            part,
        )
        log(
            f"fit chunk {j + 1}/{n_fit}: {len(keys):,} series"
            + (f" (+{len(extra):,} context series)" if len(extra) else "")
            + f", {seconds:.1f} s"
        )
    series = pd.concat(members) if members else plan.iloc[:0].assign(chunk=0)
    series = series.assign(action=series["action"].replace({"update": "updated"}))
    missing = plan.index.difference(series.index)
    if len(missing) or series.index.duplicated().any():
        raise RuntimeError("a series is in no chunk or in two chunks: the plan was not followed")
    return ComposedVersion(forecasters, chunks, series)


__all__ = [
    "ComposedVersion",
    "PreviousVersion",
    "REFIT_MODES",
    "REFIT_REASONS",
    "VELOCITY_CLASSES",
    "RetrainRequest",
    "check_refit_request",
    "chunk_records_from_card",
    "compose_version",
    "context_sample",
    "model_series_frame",
    "plan_retraining",
    "refit_summary",
    "unusable_reason",
    "velocity_classes",
]
