"""The plan's exceptions list: the few lines a planner should look at before the plan goes out.

Four checks, each vectorised over its rows and each with thresholds in
:class:`ExceptionThresholds` (run config of the ``plan_exceptions`` asset):

* ``order_far_above_normal`` - an order line much larger than a normal order for its
  SKU-location. A normal order is the largest of: the demand over one review period
  (``mu * R``, units), the EOQ, one case pack, the MOQ (in whole cases) and, where purchase-order
  history exists, the median order of the recent weeks. The line is flagged when
  ``order_qty >= order_ratio * normal`` (severity ``high`` from ``order_ratio_high``). Taking
  the largest of these keeps minimum orders (one case of a slow mover, an MOQ, an EOQ batch)
  off the list: only orders that are large *for that SKU-location* show.
* ``negative_inventory_position`` - stock on hand below zero (``high``: the stock records are
  wrong, every plan number built on them is too) or an inventory position below zero
  (``medium``: backorders or allocations exceed the stock and the pipeline).
* ``forecast_far_from_history`` - the mean of forecast weeks 1..``forecast_weeks`` against the
  mean weekly sales of the ``history_weeks`` weeks before the forecast starts (sales of in-stock
  days scaled to 7 days, so stockouts do not make history look low). Flagged when the ratio
  forecast / history is at least ``forecast_ratio_high`` or at most ``forecast_ratio_low``
  (``high`` beyond twice / half those), and only when the larger of the two is at least
  ``min_weekly_units``, so slow movers whose weekly mean moves from 0.4 to 1.1 units do not
  flood the list. Series with fewer than ``history_weeks`` weeks of history (new items, cold
  start) are not judged.
* ``supplier_far_behind`` - from the supplier scorecard: an on-time rate below
  ``supplier_min_on_time_rate`` (``high`` below ``supplier_on_time_rate_high``), or at least
  ``supplier_max_open_overdue`` open lines past their promised date (``high`` from twice that).

Every exception row has :data:`EXCEPTION_COLUMNS`: ``metric`` names the number, ``value`` is
it, ``threshold`` the value it crossed, ``message`` says it in a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "EXCEPTION_COLUMNS",
    "ExceptionThresholds",
    "forecast_exceptions",
    "negative_position_exceptions",
    "order_exceptions",
    "plan_exceptions",
    "supplier_exceptions",
]

#: Columns of every exceptions frame, in order.
EXCEPTION_COLUMNS: tuple[str, ...] = (
    "exception_type",
    "severity",
    "sku",
    "location_id",
    "supplier_id",
    "metric",
    "value",
    "threshold",
    "message",
)
_SEVERITY_RANK = {"high": 0, "medium": 1}


@dataclass(frozen=True)
class ExceptionThresholds:
    """When a plan row becomes an exception (see the module docstring for each check)."""

    order_ratio: float = 3.0
    order_ratio_high: float = 6.0
    forecast_weeks: int = 4
    history_weeks: int = 8
    forecast_ratio_high: float = 2.0
    forecast_ratio_low: float = 0.5
    min_weekly_units: float = 5.0
    supplier_min_on_time_rate: float = 0.5
    supplier_on_time_rate_high: float = 0.25
    supplier_max_open_overdue: int = 10


def _frame(**cols: object) -> pd.DataFrame:
    out = pd.DataFrame(cols)
    for c in EXCEPTION_COLUMNS:
        if c not in out:
            out[c] = None
    out["value"] = out["value"].astype(float)
    out["threshold"] = out["threshold"].astype(float)
    return out[list(EXCEPTION_COLUMNS)]


def _fmt(x: pd.Series | np.ndarray, digits: int = 0) -> pd.Series:
    return pd.Series(np.round(np.asarray(x, dtype=float), digits)).map(lambda v: f"{v:,.{digits}f}")


def order_exceptions(lines: pd.DataFrame, thresholds: ExceptionThresholds) -> pd.DataFrame:
    """Order lines far above a normal order for their SKU-location.

    ``lines``: ``sku``, ``location_id``, ``supplier_id``, ``order_qty``, ``mu`` (forecast
    demand, units/day), ``review_period_days``, ``eoq``, ``case_pack``, ``moq`` and
    ``recent_order_qty`` (median recent order in units; NaN where there is no history); missing
    ``eoq``/``moq``/``recent_order_qty`` count as 0.
    """
    if lines.empty:
        return _frame()
    q = lines["order_qty"].to_numpy(dtype=float)
    mu = np.nan_to_num(lines["mu"].to_numpy(dtype=float))
    r = np.nan_to_num(lines["review_period_days"].to_numpy(dtype=float), nan=7.0)
    pack = np.nan_to_num(lines["case_pack"].to_numpy(dtype=float), nan=1.0).clip(min=1.0)

    def col(name: str) -> np.ndarray:
        if name not in lines:
            return np.zeros(len(lines))
        return np.nan_to_num(lines[name].to_numpy(dtype=float))

    moq = np.ceil(col("moq") / pack - 1e-9) * pack
    parts = np.column_stack([mu * r, col("eoq"), pack, moq, col("recent_order_qty")])
    normal = parts.max(axis=1)
    ratio = q / np.maximum(normal, 1e-9)
    hit = (q > 0) & (ratio >= thresholds.order_ratio)
    if not hit.any():
        return _frame()
    sel = lines[hit].reset_index(drop=True)
    n, rt, p = normal[hit], ratio[hit], parts[hit]
    msg = (
        "order "
        + _fmt(sel["order_qty"])
        + " units is "
        + _fmt(rt, 1)
        + "x a normal order of "
        + _fmt(n)
        + " (demand over R "
        + _fmt(p[:, 0])
        + ", EOQ "
        + _fmt(p[:, 1])
        + ", case "
        + _fmt(p[:, 2])
        + ", MOQ "
        + _fmt(p[:, 3])
        + ", recent median order "
        + _fmt(p[:, 4])
        + ")"
    )
    return _frame(
        exception_type="order_far_above_normal",
        severity=np.where(rt >= thresholds.order_ratio_high, "high", "medium"),
        sku=sel["sku"],
        location_id=sel["location_id"],
        supplier_id=sel.get("supplier_id"),
        metric="order_qty_vs_normal_order",
        value=rt,
        threshold=thresholds.order_ratio,
        message=msg,
    )


def negative_position_exceptions(positions: pd.DataFrame) -> pd.DataFrame:
    """SKU-locations whose stock on hand or inventory position is below zero.

    ``positions``: ``sku``, ``location_id``, ``on_hand_qty``, ``inventory_position_qty``
    (units), optionally ``supplier_id``. A negative on-hand row is reported once (as ``high``),
    not again for its position.
    """
    if positions.empty:
        return _frame()
    oh = positions["on_hand_qty"].to_numpy(dtype=float)
    ip = positions["inventory_position_qty"].to_numpy(dtype=float)
    neg_oh = np.nan_to_num(oh) < 0
    neg_ip = ~neg_oh & (np.nan_to_num(ip) < 0)
    sup = positions.get("supplier_id")
    parts = []
    if neg_oh.any():
        s = positions[neg_oh].reset_index(drop=True)
        parts.append(
            _frame(
                exception_type="negative_inventory_position",
                severity="high",
                sku=s["sku"],
                location_id=s["location_id"],
                supplier_id=None if sup is None else s["supplier_id"],
                metric="on_hand_qty",
                value=oh[neg_oh],
                threshold=0.0,
                message="stock on hand is "
                + _fmt(oh[neg_oh])
                + " units: the stock record is wrong, check the count",
            )
        )
    if neg_ip.any():
        s = positions[neg_ip].reset_index(drop=True)
        parts.append(
            _frame(
                exception_type="negative_inventory_position",
                severity="medium",
                sku=s["sku"],
                location_id=s["location_id"],
                supplier_id=None if sup is None else s["supplier_id"],
                metric="inventory_position_qty",
                value=ip[neg_ip],
                threshold=0.0,
                message="inventory position is "
                + _fmt(ip[neg_ip])
                + " units (backorders and allocations exceed stock and pipeline)",
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else _frame()


def forecast_exceptions(
    forecast: pd.DataFrame, history: pd.DataFrame, thresholds: ExceptionThresholds
) -> pd.DataFrame:
    """Forecasts far from recent sales.

    ``forecast``: ``sku``, ``location_id``, ``horizon`` (weeks, 1 = first), ``mean``
    (units/week). ``history``: one row per SKU-location-day of the ``history_weeks`` weeks
    before the forecast: ``sku``, ``location_id``, ``units_sold``, ``in_stock`` (bool: stock
    known and not stocked out).
    """
    fc = forecast[forecast["horizon"] <= thresholds.forecast_weeks]
    if fc.empty or history.empty:
        return _frame()
    f = fc.groupby(["sku", "location_id"], sort=False)["mean"].mean().rename("forecast")
    h = history.assign(
        u_in=np.where(history["in_stock"], history["units_sold"].astype(float), 0.0),
        d_in=history["in_stock"].astype(float),
    )
    g = h.groupby(["sku", "location_id"], sort=False).agg(
        days=("units_sold", "size"),
        units=("units_sold", "sum"),
        u_in=("u_in", "sum"),
        d_in=("d_in", "sum"),
    )
    daily = np.where(g["d_in"] > 0, g["u_in"] / g["d_in"].clip(lower=1), g["units"] / g["days"])
    g["history"] = 7.0 * daily
    g = g[g["days"] >= 7 * thresholds.history_weeks]
    both = g.join(f, how="inner").reset_index()
    if both.empty:
        return _frame()
    fcw, hw = both["forecast"].to_numpy(float), both["history"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hw > 0, fcw / hw, np.inf)
    big = np.maximum(fcw, hw) >= thresholds.min_weekly_units
    hi = big & (ratio >= thresholds.forecast_ratio_high)
    lo = big & (ratio <= thresholds.forecast_ratio_low)
    hit = hi | lo
    if not hit.any():
        return _frame()
    s = both[hit].reset_index(drop=True)
    rt, up = ratio[hit], hi[hit]
    severe = np.where(
        up, rt >= 2 * thresholds.forecast_ratio_high, rt <= thresholds.forecast_ratio_low / 2
    )
    ratio_txt = pd.Series(
        np.where(np.isfinite(rt), _fmt(np.where(np.isfinite(rt), rt, 0), 2), "inf")
    )
    msg = (
        f"forecast weeks 1-{thresholds.forecast_weeks}: "
        + _fmt(s["forecast"], 1)
        + f"/week vs {thresholds.history_weeks}-week sales "
        + _fmt(s["history"], 1)
        + "/week (x"
        + ratio_txt
        + pd.Series(np.where(up, ", far above", ", far below"))
        + ")"
    )
    return _frame(
        exception_type="forecast_far_from_history",
        severity=np.where(severe, "high", "medium"),
        sku=s["sku"],
        location_id=s["location_id"],
        supplier_id=None,
        metric="forecast_vs_history_ratio",
        value=rt,
        threshold=np.where(up, thresholds.forecast_ratio_high, thresholds.forecast_ratio_low),
        message=msg,
    )


def supplier_exceptions(reliability: pd.DataFrame, thresholds: ExceptionThresholds) -> pd.DataFrame:
    """Suppliers far behind: low on-time rate, many open overdue lines (one row per metric).

    ``reliability``: ``supplier_id``, ``on_time_rate`` (share of received lines first received
    by the promised date), ``n_open_overdue`` (open lines past their promised date).
    """
    if reliability.empty:
        return _frame()
    r = reliability.reset_index(drop=True)
    otr = r["on_time_rate"].to_numpy(dtype=float)
    od = np.nan_to_num(r["n_open_overdue"].to_numpy(dtype=float))
    parts = []
    low = np.isfinite(otr) & (otr < thresholds.supplier_min_on_time_rate)
    if low.any():
        s = r[low].reset_index(drop=True)
        parts.append(
            _frame(
                exception_type="supplier_far_behind",
                severity=np.where(
                    otr[low] < thresholds.supplier_on_time_rate_high, "high", "medium"
                ),
                sku=None,
                location_id=None,
                supplier_id=s["supplier_id"],
                metric="on_time_rate",
                value=otr[low],
                threshold=thresholds.supplier_min_on_time_rate,
                message="on time on "
                + _fmt(100 * otr[low])
                + f"% of lines (threshold {100 * thresholds.supplier_min_on_time_rate:.0f}%)",
            )
        )
    many = od >= thresholds.supplier_max_open_overdue
    if many.any():
        s = r[many].reset_index(drop=True)
        parts.append(
            _frame(
                exception_type="supplier_far_behind",
                severity=np.where(
                    od[many] >= 2 * thresholds.supplier_max_open_overdue, "high", "medium"
                ),
                sku=None,
                location_id=None,
                supplier_id=s["supplier_id"],
                metric="n_open_overdue",
                value=od[many],
                threshold=float(thresholds.supplier_max_open_overdue),
                message=_fmt(od[many])
                + " open lines past their promised date (threshold "
                + f"{thresholds.supplier_max_open_overdue})",
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else _frame()


def plan_exceptions(*parts: pd.DataFrame) -> pd.DataFrame:
    """All exceptions in one frame, ``high`` first, then by type and distance past threshold."""
    frames = [p for p in parts if len(p)]
    if not frames:
        return _frame()
    out = pd.concat(frames, ignore_index=True)
    rank = out["severity"].map(_SEVERITY_RANK).fillna(9)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.abs(np.log(np.abs(out["value"]) / np.abs(out["threshold"]).replace(0, 1)))
    order = np.lexsort((-np.nan_to_num(dist, posinf=1e9), out["exception_type"], rank))
    return out.iloc[order].reset_index(drop=True)
