"""ABC-XYZ segmentation and differentiated service targets per SKU-location.

* ABC ranks SKU-locations by annual revenue (or margin): the ones that together make the first
  80 % of the value are A, the next 15 % B, the rest C (cut-offs configurable). The item that
  crosses a cut-off belongs to the class it crosses from, so A holds at least 80 % of the value.
* XYZ classes the coefficient of variation of weekly demand: X <= 0.5 < Y <= 1.0 < Z.
  SKU-locations without demand (CV undefined) are Z.
* Service targets per segment ("AX" ... "CZ") come from the planner-editable file
  ``ml/inventory/service_targets.yaml``: a cycle service level (type 1) and/or fill rate
  (type 2) and a review period, or ``mode: cost_optimal``, where the CSL is the newsvendor
  critical ratio p / (p + h) with p = unit margin (the cost of a lost sale) and h = the holding
  cost of one unit over one review period (annual rate * unit cost * R / 365). The review
  period, not the protection interval L + R, is the cost exposure: raising the order-up-to
  level by one unit raises the stock on hand by about one unit at every moment, i.e. one unit
  held per cycle of R days, while it changes the shortage only once per cycle.
* Substitution: an item with a close substitute at the same location (another SKU of its
  ``substitute_group`` there) can run a lower target for the same customer service. If a share r
  of the customers who meet a stock-out buy the substitute, an item CSL t_eff leaves
  (1 - t_eff)(1 - r) of the cycles' customers unserved; setting that equal to the segment's
  1 - t gives t_eff = 1 - (1 - t) / (1 - r) <= t. The same rule applies to the fill rate. It is
  clipped to a floor (substitutes are not always in stock, and r is a rough estimate), and
  never raises a target that is already below the floor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "SEGMENT_COLUMNS",
    "classify_abc",
    "classify_xyz",
    "demand_statistics",
    "load_service_targets",
    "segment_sku_locations",
    "substitution_adjusted_target",
]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("service_targets.yaml")

#: Columns of the frame returned by :func:`segment_sku_locations`, in order.
SEGMENT_COLUMNS: tuple[str, ...] = (
    "sku",
    "location_id",
    "abc",
    "xyz",
    "segment",
    "target_csl",
    "target_fill_rate",
    "review_period_days",
    "target_source",
    "target_csl_base",
    "target_fill_rate_base",
    "critical_ratio",
    "substitute_adjusted",
)

_WEEKS_PER_YEAR = 365.25 / 7.0

_DEFAULTS: dict[str, Any] = {
    "abc": {"metric": "revenue", "cutoffs": [0.80, 0.95], "within": None},
    "xyz": {"cutoffs": [0.5, 1.0]},
    "mode": "targets",
    "review_period_days": 7,
    "segments": {},
    "cost_optimal": {
        "holding_cost_rate_per_year": 0.25,
        "days_per_year": 365,
        "min_csl": 0.80,
        "max_csl": 0.995,
    },
    "substitution": {"recapture_rate": 0.5, "floor_csl": 0.75, "floor_fill_rate": 0.85},
}


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _check_prob(value: Any, name: str, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return v


def load_service_targets(
    source: str | Path | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Read and validate the service-target configuration.

    ``source``: a path to a YAML file, an already-parsed mapping, or None for
    :data:`DEFAULT_CONFIG_PATH`. Missing sections take the defaults shown in the shipped file.
    Every ABC-XYZ segment must be configured (or a ``default`` segment given); targets must be
    probabilities in (0, 1), review periods whole days >= 1 and cut-offs increasing. Returns
    the completed configuration as a plain dict.
    """
    if source is None or isinstance(source, str | Path):
        path = Path(source) if source is not None else DEFAULT_CONFIG_PATH
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
    else:
        raw = dict(source)
    cfg: dict[str, Any] = {}
    for key, default in _DEFAULTS.items():
        value = raw.get(key, default)
        cfg[key] = {**default, **(value or {})} if isinstance(default, dict) else value
    cfg["segments"] = dict(raw.get("segments") or {})

    if cfg["abc"]["metric"] not in ("revenue", "margin"):
        raise ValueError("abc.metric must be 'revenue' or 'margin'")
    for section, name in (("abc", "cutoffs"), ("xyz", "cutoffs")):
        cut = [float(c) for c in cfg[section][name]]
        if len(cut) != 2 or not cut[0] < cut[1] or cut[0] <= 0:
            raise ValueError(f"{section}.{name} must be two increasing positive numbers")
        cfg[section][name] = cut
    if cfg["abc"]["cutoffs"][1] > 1.0:
        raise ValueError("abc.cutoffs are cumulative shares and must be <= 1")
    if cfg["mode"] not in ("targets", "cost_optimal"):
        raise ValueError("mode must be 'targets' or 'cost_optimal'")
    co = cfg["cost_optimal"]
    lo = _check_prob(co["min_csl"], "cost_optimal.min_csl", allow_none=False)
    hi = _check_prob(co["max_csl"], "cost_optimal.max_csl", allow_none=False)
    if lo is None or hi is None or lo > hi:
        raise ValueError("cost_optimal.min_csl must not exceed max_csl")
    if float(co["holding_cost_rate_per_year"]) <= 0 or float(co["days_per_year"]) <= 0:
        raise ValueError("cost_optimal holding rate and days_per_year must be positive")
    sub = cfg["substitution"]
    if not 0.0 <= float(sub["recapture_rate"]) < 1.0:
        raise ValueError("substitution.recapture_rate must lie in [0, 1)")
    _check_prob(sub["floor_csl"], "substitution.floor_csl", allow_none=False)
    _check_prob(sub["floor_fill_rate"], "substitution.floor_fill_rate", allow_none=False)

    segments: dict[str, dict[str, Any]] = {}
    names = [a + x for a in "ABC" for x in "XYZ"]
    for name in names:
        seg = cfg["segments"].get(name, cfg["segments"].get("default"))
        if seg is None:
            raise ValueError(f"segment {name} is not configured (and there is no 'default')")
        mode = seg.get("mode", cfg["mode"])
        if mode not in ("targets", "cost_optimal"):
            raise ValueError(f"segment {name}: mode must be 'targets' or 'cost_optimal'")
        csl = _check_prob(seg.get("csl"), f"segment {name} csl")
        fr = _check_prob(seg.get("fill_rate"), f"segment {name} fill_rate")
        if mode == "targets" and csl is None and fr is None:
            raise ValueError(f"segment {name} needs csl and/or fill_rate (or mode cost_optimal)")
        review = seg.get("review_period_days", cfg["review_period_days"])
        if float(review) != int(review) or int(review) < 1:
            raise ValueError(f"segment {name}: review_period_days must be a whole number >= 1")
        segments[name] = {
            "csl": csl,
            "fill_rate": fr,
            "review_period_days": int(review),
            "mode": mode,
        }
    cfg["segments"] = segments
    return cfg


# --------------------------------------------------------------------------------------------
# Demand statistics and classes
# --------------------------------------------------------------------------------------------


def demand_statistics(
    daily_demand: pd.DataFrame,
    *,
    weeks: int = 52,
    as_of: date | str | None = None,
) -> pd.DataFrame:
    """Weekly demand statistics and annual value per SKU-location from daily demand rows.

    ``daily_demand``: rows like ``marts.fct_daily_demand`` with ``sku``, ``location_id``,
    ``demand_date``, ``units_sold`` (units) and optionally ``net_price`` (currency/unit). Uses
    the last ``weeks`` whole weeks up to ``as_of`` (default: the last demand date), weeks
    counted backwards from it so every week has 7 days. Returns one row per SKU-location with
    ``n_weeks``, ``weekly_mean`` (units/week), ``weekly_sd`` (units/week, ddof 1),
    ``weekly_cv`` (sd / mean; NaN without demand), ``annual_units`` (units/year) and
    ``annual_revenue`` (currency/year; NaN without ``net_price``), both annualised from the
    weeks observed so new SKU-locations are not ranked down for their short history.
    """
    d = daily_demand
    day = pd.to_datetime(d["demand_date"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    end = (
        int(day.max())
        if as_of is None
        else int(np.datetime64(pd.Timestamp(as_of).date(), "D").astype(np.int64))
    )
    week = (end - day) // 7
    keep = (week >= 0) & (week < weeks)
    units = d["units_sold"].to_numpy(dtype=np.float64)[keep]
    frame = pd.DataFrame(
        {
            "sku": d["sku"].to_numpy()[keep],
            "location_id": d["location_id"].to_numpy()[keep],
            "week": week[keep],
            "units": units,
            "revenue": units * d["net_price"].to_numpy(dtype=np.float64)[keep]
            if "net_price" in d
            else np.nan,
        }
    )
    weekly = frame.groupby(["sku", "location_id", "week"], sort=False).agg(
        units=("units", "sum"), revenue=("revenue", "sum")
    )
    if "net_price" not in d:
        weekly["revenue"] = np.nan
    g = weekly.groupby(level=["sku", "location_id"], sort=True)
    out = pd.DataFrame(
        {
            "n_weeks": g["units"].size(),
            "weekly_mean": g["units"].mean(),
            "weekly_sd": g["units"].std(ddof=1),
            "revenue_total": g["revenue"].sum(min_count=1),
        }
    )
    out["weekly_cv"] = out["weekly_sd"] / out["weekly_mean"].where(out["weekly_mean"] > 0)
    out["annual_units"] = out["weekly_mean"] * _WEEKS_PER_YEAR
    out["annual_revenue"] = out["revenue_total"] / out["n_weeks"] * _WEEKS_PER_YEAR
    return out.drop(columns="revenue_total").reset_index()


def classify_abc(
    value: pd.Series,
    cutoffs: Sequence[float] = (0.80, 0.95),
    by: pd.Series | None = None,
) -> pd.Series:
    """ABC class of each row from its share of the total value (within ``by`` groups if given).

    Rows are ranked by value, largest first (ties broken by original order); a row is A when
    the cumulative share of the rows ranked above it is below ``cutoffs[0]``, B when below
    ``cutoffs[1]``, else C. Rows with zero, negative or missing value are C. Returns a Series
    of "A" / "B" / "C" aligned with ``value``.
    """
    v = pd.to_numeric(value, errors="coerce").astype(float)
    pos = v.where(v > 0, 0.0).fillna(0.0)
    keys = (
        pd.Series(0, index=v.index)
        if by is None
        else pd.Series(pd.factorize(by.to_numpy())[0], index=v.index)
    )
    frame = pd.DataFrame({"k": keys.to_numpy(), "v": pos.to_numpy(), "o": np.arange(len(v))})
    frame = frame.sort_values(["k", "v", "o"], ascending=[True, False, True], kind="stable")
    total = frame.groupby("k")["v"].transform("sum").to_numpy()
    before = frame.groupby("k")["v"].cumsum().to_numpy() - frame["v"].to_numpy()
    share = np.divide(before, total, out=np.ones_like(before), where=total > 0)
    cls = np.where(share < cutoffs[0], "A", np.where(share < cutoffs[1], "B", "C"))
    cls = np.where(frame["v"].to_numpy() > 0, cls, "C")
    out = np.empty(len(v), dtype=object)
    out[frame["o"].to_numpy()] = cls
    return pd.Series(out, index=v.index, name="abc")


def classify_xyz(cv: pd.Series, cutoffs: Sequence[float] = (0.5, 1.0)) -> pd.Series:
    """XYZ class from the coefficient of variation of weekly demand (sd / mean, unitless).

    X: cv <= cutoffs[0]; Y: cv <= cutoffs[1]; Z: above, or undefined (no demand).
    """
    c = pd.to_numeric(cv, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        cls = np.where(c <= cutoffs[0], "X", np.where(c <= cutoffs[1], "Y", "Z"))
    return pd.Series(cls.astype(object), index=cv.index, name="xyz")


def substitution_adjusted_target(
    target: np.ndarray | pd.Series,
    recapture_rate: float,
    floor: float,
) -> np.ndarray:
    """Item-level target that gives the same customer-level service when substitutes exist.

    A share ``recapture_rate`` = r of the customers who find the item out of stock buy the
    substitute; customer service = 1 - (1 - t_eff)(1 - r). Solving for the configured target t:
    t_eff = 1 - (1 - t) / (1 - r) (lower than t for r > 0), then max(floor, .) but never above
    t: a target already below the floor stays as it is. NaN targets stay NaN.
    """
    t = np.asarray(target, dtype=np.float64)
    r = float(recapture_rate)
    if not 0.0 <= r < 1.0:
        raise ValueError("recapture_rate must lie in [0, 1)")
    eff = 1.0 - (1.0 - t) / (1.0 - r)
    return np.minimum(t, np.maximum(eff, floor))


# --------------------------------------------------------------------------------------------
# Segments and targets
# --------------------------------------------------------------------------------------------


def segment_sku_locations(
    sku_locations: pd.DataFrame,
    config: str | Path | Mapping[str, Any] | None = None,
    *,
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Segment and service targets per SKU-location.

    ``sku_locations`` columns: ``sku``, ``location_id``; the ABC value: ``annual_revenue``
    (currency/year) or, with ``abc.metric: margin``, ``annual_margin`` (or ``annual_revenue``
    and ``annual_units`` with a ``unit_cost``, margin = revenue - units * unit_cost); the XYZ
    measure: ``weekly_cv`` (or ``weekly_mean`` and ``weekly_sd``), e.g. from
    :func:`demand_statistics`. Optional: ``unit_price`` and ``unit_cost`` (currency/unit, for
    cost-optimal targets) and ``substitute_group`` (NaN = none). ``items`` (like
    ``marts.dim_items``: ``sku``, ``unit_price``, ``unit_cost``, ``substitute_group``) fills
    those per SKU when the frame lacks them.

    Returns :data:`SEGMENT_COLUMNS`, row-aligned with the input: classes, ``target_csl`` and
    ``target_fill_rate`` (NaN = no target of that type), ``review_period_days``,
    ``target_source`` ("segment", or "cost_optimal" when the critical ratio set the CSL),
    the targets before the substitution rule (``*_base``), the unclipped ``critical_ratio``
    (cost-optimal segments) and ``substitute_adjusted``. A cost-optimal segment without a
    usable price and cost falls back to its configured ``csl`` (source "segment"); a
    cost-optimal target carries no fill-rate target.
    """
    cfg = load_service_targets(config)
    df = sku_locations.reset_index(drop=True)
    if items is not None:
        extra = [c for c in ("unit_price", "unit_cost", "substitute_group") if c not in df]
        if extra:
            lookup = items.drop_duplicates("sku").set_index("sku")
            for c in extra:
                if c in lookup:
                    df[c] = df["sku"].map(lookup[c]).to_numpy()

    metric = cfg["abc"]["metric"]
    if metric == "revenue":
        if "annual_revenue" not in df:
            raise ValueError("ABC by revenue needs an annual_revenue column")
        value = df["annual_revenue"]
    elif "annual_margin" in df:
        value = df["annual_margin"]
    elif {"annual_revenue", "annual_units", "unit_cost"} <= set(df):
        value = df["annual_revenue"] - df["annual_units"] * df["unit_cost"]
    else:
        raise ValueError(
            "ABC by margin needs annual_margin or annual_revenue, annual_units and unit_cost"
        )
    within = cfg["abc"]["within"]
    abc = classify_abc(value, cfg["abc"]["cutoffs"], by=df[within] if within else None)
    if "weekly_cv" in df:
        cv = df["weekly_cv"]
    elif {"weekly_mean", "weekly_sd"} <= set(df):
        cv = df["weekly_sd"] / df["weekly_mean"].where(df["weekly_mean"] > 0)
    else:
        raise ValueError("XYZ needs weekly_cv or weekly_mean and weekly_sd")
    xyz = classify_xyz(cv, cfg["xyz"]["cutoffs"])
    segment = (abc + xyz).to_numpy()

    seg_table = pd.DataFrame.from_dict(cfg["segments"], orient="index")
    row = seg_table.reindex(segment)
    csl = row["csl"].to_numpy(dtype=np.float64)
    fr = row["fill_rate"].to_numpy(dtype=np.float64)
    review = row["review_period_days"].to_numpy(dtype=np.int64)
    is_cost = (row["mode"] == "cost_optimal").to_numpy()

    co = cfg["cost_optimal"]
    price = pd.to_numeric(df.get("unit_price", np.nan), errors="coerce")
    cost = pd.to_numeric(df.get("unit_cost", np.nan), errors="coerce")
    price = np.broadcast_to(np.asarray(price, dtype=np.float64), (len(df),))
    cost = np.broadcast_to(np.asarray(cost, dtype=np.float64), (len(df),))
    margin = price - cost
    holding = float(co["holding_cost_rate_per_year"]) * cost * review / float(co["days_per_year"])
    usable = is_cost & np.isfinite(margin) & np.isfinite(holding) & (cost > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(margin > 0, margin / (margin + holding), 0.0)
    ratio = np.where(usable, ratio, np.nan)
    cost_csl = np.clip(ratio, float(co["min_csl"]), float(co["max_csl"]))
    csl = np.where(usable, cost_csl, csl)
    fr = np.where(usable, np.nan, fr)
    if np.any(is_cost & ~usable & np.isnan(csl)):
        bad = sorted(set(segment[is_cost & ~usable & np.isnan(csl)]))
        raise ValueError(
            f"cost-optimal segments {bad} have SKU-locations without unit_price / unit_cost and "
            "no fallback csl in the configuration"
        )
    source = np.where(usable, "cost_optimal", "segment")

    sub = cfg["substitution"]
    has_sub = np.zeros(len(df), dtype=bool)
    if "substitute_group" in df:
        grp = df["substitute_group"]
        known = grp.notna().to_numpy()
        if known.any():
            n_sku = (
                df.assign(_g=grp)
                .groupby(["location_id", "_g"], dropna=True)["sku"]
                .transform("nunique")
            )
            has_sub = known & (n_sku.fillna(0).to_numpy() >= 2)
    r = float(sub["recapture_rate"])
    csl_eff = np.where(has_sub, substitution_adjusted_target(csl, r, sub["floor_csl"]), csl)
    fr_eff = np.where(has_sub, substitution_adjusted_target(fr, r, sub["floor_fill_rate"]), fr)

    out = pd.DataFrame(
        {
            "sku": df["sku"].to_numpy(),
            "location_id": df["location_id"].to_numpy(),
            "abc": abc.to_numpy(),
            "xyz": xyz.to_numpy(),
            "segment": segment,
            "target_csl": csl_eff,
            "target_fill_rate": fr_eff,
            "review_period_days": review,
            "target_source": source,
            "target_csl_base": csl,
            "target_fill_rate_base": fr,
            "critical_ratio": ratio,
            "substitute_adjusted": has_sub & ((csl_eff < csl) | (fr_eff < fr)),
        },
        index=sku_locations.index,
    )
    return out[list(SEGMENT_COLUMNS)]
