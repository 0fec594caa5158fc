"""From a service target to the order-up-to level a store really runs: weekday shape and case packs.

:func:`ml.inventory.safety_stock.policy_levels` gives the smallest order-up-to level ``S`` whose
cycle service level ``P(D_{L+R} <= S)`` meets the target, for demand spread evenly over the days
of a week. Two facts of store replenishment move the service that ``S`` really buys, and this
module corrects for both:

* **Weekday shape.** Retail demand is not flat over the week (weekends sell more). A store
  reviewed on Monday with a 2-day transfer time must cover Monday-to-Tuesday of the *next* week
  on top of a full week; with flat days that stretch is priced at 2/7 of a week, but Mondays and
  Tuesdays are the quiet days. :func:`weekday_interval_fraction` gives the share of a week's
  demand that falls in any run of days from each location's weekday profile, and
  :func:`weekday_effective_rate` turns it into the flat daily rate with the same mean over the
  protection interval, which is what ``policy_levels`` takes.
* **Case packs.** Orders are the need rounded *up* to whole cases, so after an order the
  inventory position is ``S + U`` with ``U`` spread over ``0 .. c-1`` units (``c`` = case pack),
  not ``S``: the service bought is ``G(S) = mean_u F(S + u)``, above ``F(S)``. The classic
  treatment is the (R, nQ) policy (Hadley & Whitin 1963; Axsäter 2015, sec. 5.4 for (R, Q) with
  uniform inventory position). :func:`case_pack_order_up_to` picks ``S`` on ``G``.

Integer levels can rarely hit a target exactly (a slow mover may jump from 88 % at S = 2 to 97 %
at S = 3). ``rule="at_least"`` keeps the smallest level that meets the target (every SKU-location
at or above it); ``rule="nearest"`` takes the level whose service is nearest the target, so that
over a segment the achieved service is centred on the target instead of sitting above it by the
rounding - the choice for the policy backtest's "achieved vs target" test and for planners who
budget inventory per segment. Both are documented in ``docs/inventory.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def weekday_interval_fraction(
    shares: ArrayLike, start_dow: ArrayLike, days: ArrayLike
) -> FloatArray:
    """Share of a week's demand in ``days`` consecutive days starting on weekday ``start_dow``.

    ``shares[n, 7]`` (or ``[7]``): each location's demand share per weekday (Monday = 0; rows sum
    to 1). ``days`` may exceed 7 (the run wraps into the next week with the same profile).
    Returns weeks-equivalents, e.g. 9 flat days give 9/7; Monday-Tuesday at a weekend-heavy store
    give less than 2/7.
    """
    sh = np.atleast_2d(np.asarray(shares, dtype=np.float64))
    days_a = np.asarray(days, dtype=np.int64)
    n = max(sh.shape[0], days_a.size, np.asarray(start_dow).size)
    sh = np.broadcast_to(sh, (n, 7))
    start = np.broadcast_to(np.asarray(start_dow, dtype=np.int64) % 7, (n,))
    d = np.broadcast_to(days_a, (n,))
    if np.any(d < 0):
        raise ValueError("days must be >= 0")
    full, rest = np.divmod(d, 7)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(np.concatenate([sh, sh], axis=1), 1)], 1)
    rows = np.arange(n)
    part = cum[rows, start + rest] - cum[rows, start]
    return full + part


def weekday_effective_rate(
    weekly_mean: ArrayLike,
    weekly_var_indep: ArrayLike,
    shares: ArrayLike,
    start_dow: ArrayLike,
    days: ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """Flat daily ``(mu, var)`` with the weekday-shaped mean and variance over ``days`` days.

    Demand over the interval has mean ``weekly_mean * f`` and independent variance
    ``weekly_var_indep * f`` with ``f`` = :func:`weekday_interval_fraction` (variance taken
    proportional to the mean from day to day, as for counts); dividing by ``days`` gives the
    rate that :func:`ml.inventory.safety_stock.policy_levels` multiplies back by ``days`` for a
    deterministic lead time. Units: units/day and units²/day.
    """
    f = weekday_interval_fraction(shares, start_dow, days)
    d = np.maximum(np.asarray(days, dtype=np.float64), 1.0)
    return (
        np.asarray(weekly_mean, dtype=np.float64) * f / d,
        np.asarray(weekly_var_indep, dtype=np.float64) * f / d,
    )


def case_pack_order_up_to(
    start_level: ArrayLike,
    target: ArrayLike,
    cdf: Callable[[FloatArray], FloatArray],
    case_pack: ArrayLike,
    rule: Literal["at_least", "nearest"] = "at_least",
) -> tuple[FloatArray, FloatArray]:
    """Order-up-to level on the service after case-pack rounding, and that service.

    ``start_level``: the smallest ``S`` with ``F(S) >= target`` (whole units; NaN = no target),
    e.g. ``order_up_to_csl`` of ``policy_levels``. ``cdf(s)`` evaluates ``F`` (the lead-time
    demand CDF, ``P(D_{L+R} <= s)``) for a vector ``s`` of one level per SKU-location.
    ``case_pack[n]`` in units. The inventory position after an order is ``S + U`` with ``U``
    uniform on ``0 .. c-1``, so the service is ``G(S) = mean_{u<c} F(S + u)``. Because
    ``G >= F``, the answer is at most ``start_level`` and at least ``start_level - c + 1``;
    ``F`` is evaluated at ``2c - 1`` levels around ``start_level`` (one vectorised call each), no
    search per SKU-location. Returns ``(S, G(S))``.
    """
    s0 = np.asarray(start_level, dtype=np.float64)
    n = s0.size
    tgt = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,))
    cp = np.maximum(np.rint(np.broadcast_to(np.asarray(case_pack, dtype=np.float64), (n,))), 1)
    c_max = int(cp.max(initial=1))
    has = np.isfinite(s0)
    base = np.where(has, s0, 0.0)
    # F at base + k for k = -(c-1) .. (c-1)
    ks = np.arange(-(c_max - 1), c_max)
    F = np.empty((n, ks.size))
    for j, k in enumerate(ks):
        lvl = base + k
        F[:, j] = np.where(lvl >= 0, cdf(np.maximum(lvl, 0.0)), 0.0)
    # G(base + j) for j = -(c-1) .. 0 as window means over u = 0 .. c-1
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(F, axis=1)], axis=1)
    js = np.arange(-(c_max - 1), 1)
    G = np.full((n, js.size), np.nan)
    rows = np.arange(n)
    for i, j in enumerate(js):
        lo = j + (c_max - 1)  # column of k = j
        hi = lo + cp.astype(np.int64)  # exclusive, c columns per row
        ok = (hi <= ks.size) & (j > -cp)
        G[:, i] = np.where(ok, (csum[rows, np.minimum(hi, ks.size)] - csum[:, lo]) / cp, np.nan)
    meets = tgt[:, None] <= G
    # smallest level meeting the target: first column (lowest j) that meets; G increases in j
    first = np.where(meets.any(axis=1), np.argmax(meets, axis=1), js.size - 1)
    level = base + js[first]
    service = G[rows, first]
    if rule == "nearest":
        below = first - 1
        ok = (below >= 0) & (level - 1 >= 0)
        g_below = np.where(ok, G[rows, np.maximum(below, 0)], np.nan)
        take = ok & np.isfinite(g_below) & (np.abs(g_below - tgt) < np.abs(service - tgt))
        level = np.where(take, level - 1, level)
        service = np.where(take, g_below, service)
    elif rule != "at_least":
        raise ValueError(f"rule must be 'at_least' or 'nearest', not {rule!r}")
    return np.where(has, level, np.nan), np.where(has, service, np.nan)


#: Columns :func:`plan_levels` reads from its input frame.
PLAN_INPUT_COLUMNS: tuple[str, ...] = (
    "weekly_mean",
    "weekly_var_indep",
    "level_cv2",
    "review_days",
    "lead_time_group",
    "target_csl",
    "case_pack",
)


def plan_levels(
    frame: pd.DataFrame,
    pmf: ArrayLike,
    shares: ArrayLike | None = None,
    start_dow: int = 0,
    rounding: Literal["at_least", "nearest"] = "at_least",
) -> pd.DataFrame:
    """Order-up-to levels for a set of SKU-locations, from forecast moments to case-pack levels.

    ``frame`` has :data:`PLAN_INPUT_COLUMNS`: weekly demand mean and independent variance
    (units/week, units²/week), ``level_cv2``, ``review_days`` (R), ``lead_time_group`` (row of
    ``pmf[g, K]``, the lead-time pmf in days), ``target_csl`` and ``case_pack`` (units).
    ``shares[n, 7]`` (weekday demand profile, Monday first) applies the weekday shape when the
    lead time is deterministic (a point-mass pmf row, as for store transfers); otherwise, and
    when None, days are flat (a supplier lead time spans weeks, where the shape averages out).

    An optional ``target_fill_rate`` column adds a fill-rate (type 2) target; where it needs
    more stock than the cycle-service target, its level wins (``binding_target``).

    Returns :data:`ml.inventory.safety_stock.POLICY_LEVEL_COLUMNS` plus ``order_up_to_rounded``
    (the case-pack-aware level, see :func:`case_pack_order_up_to`), ``expected_csl_rounded``
    (its cycle service after case-pack rounding) and ``binding_target``, row-aligned with
    ``frame``.
    """
    from ml.inventory.safety_stock import mixture_cdf, policy_levels

    p = np.asarray(pmf, dtype=np.float64)
    g = frame["lead_time_group"].to_numpy(dtype=np.int64)
    r = frame["review_days"].to_numpy(dtype=np.float64)
    wk_mean = frame["weekly_mean"].to_numpy(dtype=np.float64)
    wk_var = frame["weekly_var_indep"].to_numpy(dtype=np.float64)
    c2 = frame["level_cv2"].to_numpy(dtype=np.float64)
    mu = wk_mean / 7.0
    var = wk_var / 7.0
    if shares is not None:
        point = np.isclose(p.max(axis=1), 1.0)[g]
        lt_days = np.argmax(p, axis=1)[g]
        days = (lt_days + r).astype(np.int64)
        mu_s, var_s = weekday_effective_rate(wk_mean, wk_var, shares, start_dow, days)
        mu = np.where(point & (days > 0), mu_s, mu)
        var = np.where(point & (days > 0), var_s, var)
    tgt = frame["target_csl"].to_numpy(dtype=np.float64)
    tfr = (
        frame["target_fill_rate"].to_numpy(dtype=np.float64)
        if "target_fill_rate" in frame
        else None
    )
    levels = policy_levels(
        mu, var, r, p, g, target_csl=tgt, target_fill_rate=tfr, level_cv2=c2, index=frame.index
    )

    def cdf(s: FloatArray) -> FloatArray:
        return mixture_cdf(s, mu, var, r, p, g, c2)

    s_round, g_round = case_pack_order_up_to(
        levels["order_up_to_csl"].to_numpy(), tgt, cdf, frame["case_pack"].to_numpy(), rounding
    )
    # a fill-rate target that needs more stock than the CSL target wins (both must hold)
    s_fr = levels["order_up_to_fill_rate"].to_numpy()
    fr_binds = np.isfinite(s_fr) & ~(s_fr <= np.nan_to_num(s_round, nan=-np.inf))
    level = np.where(fr_binds, s_fr, s_round)
    if fr_binds.any():
        g_round = np.where(fr_binds, cdf(np.nan_to_num(level)), g_round)
    levels["order_up_to_rounded"] = level
    levels["expected_csl_rounded"] = g_round
    levels["binding_target"] = np.where(fr_binds, "fill_rate", "csl")
    return pd.DataFrame(levels)
