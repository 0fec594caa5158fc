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
``nearest`` is still biased upwards for slow movers: in the upper tail the CDF steps shrink as
``S`` grows, so the level above the target is more often the nearer one (on the demo network
+1.3 points in CY and CZ). ``rule="dither"`` removes that bias: it takes the lower of the two
levels that bracket the target with the probability that makes the *expected* service equal to
the target, using a uniform drawn once per SKU-location from a hash of its keys
(:func:`stable_uniform`). The mix of two adjacent levels is the cheapest way to buy exactly the
target on average (the service-versus-stock frontier of integer levels is a set of points;
mixing the two that bracket the target is its convex hull). Because the uniform belongs to the
SKU-location and not to the week, a SKU-location whose target and forecast stay put keeps the
same level week after week: a level that flipped at random between reviews would leave stock
above the lower level whenever it went down, and buy service above the target.

Service calibration
-------------------
The levels price demand over the protection interval ``L + R`` with the forecast's moments.
Whether those moments describe the *sum over L + R days* is an empirical question, and on the
demo network the answer differs by segment: the X segments are about right, the Y segments
(promotion- and season-driven items) get intervals that are too wide and achieve 2-4 points
more than their target. :func:`interval_pits` measures this out of sample: for every past
decision it takes the randomised probability integral transform (PIT) ``u = F(d - 1) + V
(F(d) - F(d - 1))`` of the demand ``d`` that really came over the interval, under the
distribution ``F`` the plan priced at the time (``V`` uniform). For a calibrated forecast
``u`` is uniform on (0, 1), and the share of intervals with ``u <= t`` is ``t``.
:func:`fit_service_calibration` fits, per group (the planning segment), a probit
recalibration ``H(x) = Phi((Phi^-1(x) - a) / b)`` of that distribution from the normal
scores ``z = Phi^-1(u)``: ``a`` (their mean) says the forecast sits too low or too high,
``b`` (their standard deviation) that its spread is too narrow (``b > 1``) or too wide
(``b < 1``) for interval sums. ``H(F(s))`` is then the calibrated interval CDF, and a target
``t`` is met by the smallest ``S`` with ``F(S) >= Phi(a + b Phi^-1(t))``
(:func:`calibrated_csl_target`). This is the probit form of the recalibration of
Kuleshov, Fenner & Ermon (2018, "Accurate uncertainties for deep learning using calibrated
regression") and of the PIT-based diagnostics of Gneiting, Balabdaoui & Raftery (2007); a
two-parameter form rather than the empirical PIT CDF because the few hundred PITs a segment
has per quarter cannot pin down a 2 % tail on their own. Small groups are shrunk towards the
pooled fit with a credibility weight ``n / (n + prior_pits)``.

The PITs must precede the decision they calibrate: the live plan uses every interval of the
forecast backtest that has ended, the policy backtest for the decision on day ``t`` only the
intervals that ended by ``t`` (see ``docs/inventory.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

FloatArray = NDArray[np.float64]
Rounding = Literal["at_least", "nearest", "dither"]


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


def _window_from_cdf(
    cdf: Callable[[FloatArray], FloatArray],
) -> Callable[[FloatArray, int, int], FloatArray]:
    """``F`` at ``base + k``, ``k = k_lo .. k_hi`` (``[n, K]``, 0 below level 0), one call per k."""

    def window(base: FloatArray, k_lo: int, k_hi: int) -> FloatArray:
        cols = []
        for k in range(k_lo, k_hi + 1):
            lvl = base + k
            cols.append(np.where(lvl >= 0, cdf(np.maximum(lvl, 0.0)), 0.0))
        return np.stack(cols, axis=1) if cols else np.zeros((base.size, 0))

    return window


def case_pack_order_up_to(
    start_level: ArrayLike,
    target: ArrayLike,
    cdf: Callable[[FloatArray], FloatArray],
    case_pack: ArrayLike,
    rule: Rounding = "at_least",
    u: ArrayLike | None = None,
    cdf_window: Callable[[FloatArray, int, int], FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Order-up-to level on the service after case-pack rounding, and that service.

    ``start_level``: the smallest ``S`` with ``F(S) >= target`` (whole units; NaN = no target),
    e.g. ``order_up_to_csl`` of ``policy_levels``. ``cdf(s)`` evaluates ``F`` (the lead-time
    demand CDF, ``P(D_{L+R} <= s)``) for a vector ``s`` of one level per SKU-location.
    ``case_pack[n]`` in units. The inventory position after an order is ``S + U`` with ``U``
    uniform on ``0 .. c-1``, so the service is ``G(S) = mean_{u<c} F(S + u)``. Because
    ``G >= F``, the answer is at most ``start_level`` and at least ``start_level - c + 1``;
    ``F`` is needed at the ``2c`` levels ``start_level - c .. start_level + c - 1``, no search
    per SKU-location. ``cdf_window(base, k_lo, k_hi)``, when given, returns them all at once
    (``[n, k_hi - k_lo + 1]``, 0 below level 0; e.g.
    :func:`ml.inventory.safety_stock.mixture_cdf_window`, which steps the pmf from one
    special-function evaluation); otherwise ``cdf`` is called once per level.
    Returns ``(S, G(S))``.

    ``rule``: ``"at_least"`` the smallest ``S`` with ``G(S) >= target``; ``"nearest"`` that
    level or the one below, whichever service is nearer the target; ``"dither"`` the level
    below with probability ``(G(S) - t) / (G(S) - G(S - 1))``, decided by ``u`` (one uniform
    on [0, 1) per SKU-location, e.g. :func:`stable_uniform`), so that the expected service is
    exactly the target ``t``.
    """
    if rule not in ("at_least", "nearest", "dither"):
        raise ValueError(f"rule must be 'at_least', 'nearest' or 'dither', not {rule!r}")
    if rule == "dither" and u is None:
        raise ValueError("rule='dither' needs one uniform per SKU-location (u)")
    s0 = np.asarray(start_level, dtype=np.float64)
    n = s0.size
    tgt = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,))
    cp = np.maximum(np.rint(np.broadcast_to(np.asarray(case_pack, dtype=np.float64), (n,))), 1)
    c_max = int(cp.max(initial=1))
    has = np.isfinite(s0)
    base = np.where(has, s0, 0.0)
    window = cdf_window if cdf_window is not None else _window_from_cdf(cdf)
    # F at base + k for k = -c .. c - 1: column k + c
    F = np.asarray(window(base, -c_max, c_max - 1), dtype=np.float64)
    width = 2 * c_max
    # G(base + j) for j = -(c-1) .. 0 as window means over u = 0 .. c-1
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(F, axis=1)], axis=1)
    js = np.arange(-(c_max - 1), 1)
    G = np.full((n, js.size), np.nan)
    rows = np.arange(n)
    cpi = cp.astype(np.int64)
    for i, j in enumerate(js):
        lo = j + c_max  # column of k = j
        hi = lo + cpi  # exclusive, c columns per row
        ok = (hi <= width) & (j > -cp)
        G[:, i] = np.where(ok, (csum[rows, np.minimum(hi, width)] - csum[:, lo]) / cp, np.nan)
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
    elif rule == "dither":
        uu = np.broadcast_to(np.asarray(u, dtype=np.float64), (n,))
        # G(S - 1) = G(S) + (F(S - 1) - F(S + c - 1)) / c, both inside the window
        col = js[first] - 1 + c_max  # column of S - 1
        lo = level - 1.0
        ok = has & (lo >= 0)
        f_lo = F[rows, col]
        f_hi = F[rows, np.minimum(col + cpi, width - 1)]
        g_lo = np.where(ok, service + (f_lo - f_hi) / cp, np.nan)
        gap = service - g_lo
        with np.errstate(invalid="ignore", divide="ignore"):
            p_lo = np.where(ok & (gap > 0), (service - tgt) / gap, 0.0)
        take = ok & (uu < np.clip(p_lo, 0.0, 1.0))
        level = np.where(take, lo, level)
        service = np.where(take, g_lo, service)
    return np.where(has, level, np.nan), np.where(has, service, np.nan)


def stable_uniform(keys: pd.DataFrame, salt: str = "") -> FloatArray:
    """One uniform on [0, 1) per row of ``keys``, the same in every run and on every machine.

    From pandas' fixed-key SipHash of the row's values (``pandas.util.hash_pandas_object``),
    so a SKU-location keeps its draw from week to week. ``salt`` gives an independent set.
    """
    frame = keys.reset_index(drop=True)
    if salt:
        frame = frame.assign(_salt=salt)
    h = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


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

#: Columns of the table :func:`fit_service_calibration` returns (one row per group).
CALIBRATION_COLUMNS: tuple[str, ...] = (
    "group",
    "n_pits",
    "calibration_loc",
    "calibration_scale",
)
#: Group label of the pooled fit, used for groups the table has no row for.
POOLED_GROUP = "*"


def _interval_distribution(
    frame: pd.DataFrame, pmf: ArrayLike, shares: ArrayLike | None, start_dow: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, NDArray[np.int64], FloatArray]:
    """Daily ``(mu, var)``, review days, pmf, lead-time group and level variance of each row.

    The inputs :func:`ml.inventory.safety_stock.mixture_cdf` takes for the demand over the
    row's protection interval, with the weekday shape applied where the lead time is a point
    mass (see :func:`plan_levels`).
    """
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
    return mu, var, r, p, g, c2


def _calibration(frame: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    """``(a, b)`` per row from the optional calibration columns; identity (0, 1) elsewhere."""
    n = len(frame)
    a = (
        frame["calibration_loc"].to_numpy(dtype=np.float64)
        if "calibration_loc" in frame
        else np.zeros(n)
    )
    b = (
        frame["calibration_scale"].to_numpy(dtype=np.float64)
        if "calibration_scale" in frame
        else np.ones(n)
    )
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    return np.where(ok, a, 0.0), np.where(ok, b, 1.0)


def calibrated_csl_target(target: ArrayLike, loc: ArrayLike, scale: ArrayLike) -> FloatArray:
    """The target on the forecast's own scale that meets ``target`` after calibration.

    ``Phi(a + b Phi^-1(t))``: with ``H(x) = Phi((Phi^-1(x) - a) / b)`` the smallest ``S``
    with ``H(F(S)) >= t`` is the smallest with ``F(S) >= H^-1(t)``. Probabilities; NaN
    targets stay NaN. Clipped to [1e-6, 1 - 1e-7] so the level search stays finite.
    """
    t = np.asarray(target, dtype=np.float64)
    z = special.ndtri(np.clip(t, 1e-12, 1.0 - 1e-12))
    out = special.ndtr(np.asarray(loc, dtype=np.float64) + np.asarray(scale, np.float64) * z)
    return np.where(np.isnan(t), np.nan, np.clip(out, 1e-6, 1.0 - 1e-7))


def calibrated_cdf(cdf: ArrayLike, loc: ArrayLike, scale: ArrayLike) -> FloatArray:
    """``H(F) = Phi((Phi^-1(F) - a) / b)``: the calibrated probability of a forecast CDF value.

    Identity for ``a = 0, b = 1``; keeps 0 and 1 (a level below all demand still fails, one
    above all still succeeds).
    """
    f = np.asarray(cdf, dtype=np.float64)
    a = np.asarray(loc, dtype=np.float64)
    b = np.asarray(scale, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = special.ndtr((special.ndtri(f) - a) / b)
    return np.where(f <= 0.0, 0.0, np.where(f >= 1.0, 1.0, out))


def plan_levels(
    frame: pd.DataFrame,
    pmf: ArrayLike,
    shares: ArrayLike | None = None,
    start_dow: int = 0,
    rounding: Rounding = "at_least",
) -> pd.DataFrame:
    """Order-up-to levels for a set of SKU-locations, from forecast moments to case-pack levels.

    ``frame`` has :data:`PLAN_INPUT_COLUMNS`: weekly demand mean and independent variance
    (units/week, units²/week), ``level_cv2``, ``review_days`` (R), ``lead_time_group`` (row of
    ``pmf[g, K]``, the lead-time pmf in days), ``target_csl`` and ``case_pack`` (units).
    ``shares[n, 7]`` (weekday demand profile, Monday first) applies the weekday shape when the
    lead time is deterministic (a point-mass pmf row, as for store transfers); otherwise, and
    when None, days are flat (a supplier lead time spans weeks, where the shape averages out).

    Optional columns:

    * ``target_fill_rate`` adds a fill-rate (type 2) target; where it needs more stock than the
      cycle-service target, its level wins (``binding_target``). It is not calibrated.
    * ``calibration_loc``, ``calibration_scale`` (``a``, ``b`` of
      :func:`fit_service_calibration`; NaN or absent = no calibration): the cycle service is
      priced on the calibrated interval CDF ``H(F)`` (module docstring).
    * ``rounding_u`` (uniform per row) for ``rounding="dither"``; without it the draw is
      :func:`stable_uniform` of the ``sku`` and ``location_id`` columns.

    Returns :data:`ml.inventory.safety_stock.POLICY_LEVEL_COLUMNS` plus ``order_up_to_rounded``
    (the case-pack-aware level, see :func:`case_pack_order_up_to`), ``expected_csl_rounded``
    (its cycle service after case-pack rounding and calibration), ``target_csl_model`` (the
    target on the forecast's own scale, :func:`calibrated_csl_target`) and ``binding_target``,
    row-aligned with ``frame``. ``expected_csl`` and ``textbook_csl`` are on the forecast's own
    (uncalibrated) scale.
    """
    from ml.inventory.safety_stock import mixture_cdf, mixture_cdf_window, policy_levels

    mu, var, r, p, g, c2 = _interval_distribution(frame, pmf, shares, start_dow)
    a, b = _calibration(frame)
    tgt = frame["target_csl"].to_numpy(dtype=np.float64)
    t_model = calibrated_csl_target(tgt, a, b)
    tfr = (
        frame["target_fill_rate"].to_numpy(dtype=np.float64)
        if "target_fill_rate" in frame
        else None
    )
    levels = policy_levels(
        mu, var, r, p, g, target_csl=t_model, target_fill_rate=tfr, level_cv2=c2, index=frame.index
    )

    # lead-time points below 1e-7 dropped, as policy_levels does (moves F by < K * 1e-7)
    def cdf(s: FloatArray) -> FloatArray:
        return calibrated_cdf(mixture_cdf(s, mu, var, r, p, g, c2, min_weight=1e-7), a, b)

    def cdf_window(base: FloatArray, k_lo: int, k_hi: int) -> FloatArray:
        grid = mixture_cdf_window(base, k_lo, k_hi, mu, var, r, p, g, c2, min_weight=1e-7)
        return calibrated_cdf(grid, a[:, None], b[:, None])

    u = None
    if rounding == "dither":
        if "rounding_u" in frame:
            u = frame["rounding_u"].to_numpy(dtype=np.float64)
        elif {"sku", "location_id"} <= set(frame.columns):
            u = stable_uniform(frame[["sku", "location_id"]].astype(str))
        else:
            raise ValueError("rounding='dither' needs sku and location_id or a rounding_u column")
    s_round, g_round = case_pack_order_up_to(
        levels["order_up_to_csl"].to_numpy(),
        tgt,
        cdf,
        frame["case_pack"].to_numpy(),
        rounding,
        u,
        cdf_window=cdf_window,
    )
    # a fill-rate target that needs more stock than the CSL target wins (both must hold)
    s_fr = levels["order_up_to_fill_rate"].to_numpy()
    fr_binds = np.isfinite(s_fr) & ~(s_fr <= np.nan_to_num(s_round, nan=-np.inf))
    level = np.where(fr_binds, s_fr, s_round)
    if fr_binds.any():
        g_round = np.where(fr_binds, cdf(np.nan_to_num(level)), g_round)
    levels["order_up_to_rounded"] = level
    levels["expected_csl_rounded"] = g_round
    levels["target_csl_model"] = t_model
    levels["binding_target"] = np.where(fr_binds, "fill_rate", "csl")
    return pd.DataFrame(levels)


# --------------------------------------------------------------------------------------------
# Service calibration from past protection intervals
# --------------------------------------------------------------------------------------------


def interval_demand(demand: ArrayLike, start: ArrayLike, days: ArrayLike) -> FloatArray:
    """Units demanded on days ``start .. start + days - 1`` of each row of ``demand[n, T]``.

    NaN where the interval runs past the last day (its demand is not known yet) or starts
    before day 0. ``start`` and ``days`` are whole days, scalars or ``[n]``.
    """
    d = np.asarray(demand, dtype=np.float64)
    n, T = d.shape
    st = np.broadcast_to(np.asarray(start, dtype=np.int64), (n,))
    ln = np.broadcast_to(np.asarray(days, dtype=np.int64), (n,))
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(d, axis=1)], axis=1)
    rows = np.arange(n)
    end = st + ln
    ok = (st >= 0) & (end <= T) & (ln >= 0)
    total = csum[rows, np.clip(end, 0, T)] - csum[rows, np.clip(st, 0, T)]
    return np.where(ok, total, np.nan)


def interval_pits(
    frame: pd.DataFrame,
    pmf: ArrayLike,
    actual: ArrayLike,
    u: ArrayLike,
    shares: ArrayLike | None = None,
    start_dow: int = 0,
) -> FloatArray:
    """Randomised PIT of the demand that came over each row's protection interval.

    ``frame`` as for :func:`plan_levels` (the forecast made for the decision), ``actual[n]`` the
    units demanded over the ``L + R`` days from the decision (:func:`interval_demand`; rounded
    to whole units, NaN = unknown), ``u[n]`` uniforms on [0, 1). Returns ``F(d - 1) + u (F(d)
    - F(d - 1))`` under the interval distribution :func:`plan_levels` prices *before*
    calibration (NaN where ``actual`` is NaN): uniform on (0, 1) when that distribution is
    right, so that its share below ``t`` is the cycle service a level at the ``t`` quantile
    would really buy. For a random lead time ``actual`` must cover the realised lead time.
    """
    from ml.inventory.safety_stock import mixture_cdf

    mu, var, r, p, g, c2 = _interval_distribution(frame, pmf, shares, start_dow)
    x = np.asarray(actual, dtype=np.float64)
    known = np.isfinite(x)
    d = np.where(known, np.maximum(np.rint(x), 0.0), 0.0)
    f_at = mixture_cdf(d, mu, var, r, p, g, c2)
    f_below = np.where(d >= 1, mixture_cdf(np.maximum(d - 1.0, 0.0), mu, var, r, p, g, c2), 0.0)
    uu = np.broadcast_to(np.asarray(u, dtype=np.float64), x.shape)
    return np.where(known, f_below + uu * (f_at - f_below), np.nan)


def fit_service_calibration(
    pit: ArrayLike,
    group: ArrayLike,
    *,
    prior_pits: float = 200.0,
    min_pits: int = 30,
    pit_clip: float = 1e-3,
) -> pd.DataFrame:
    """Probit recalibration ``(a, b)`` per group from past interval PITs (:func:`interval_pits`).

    ``a`` and ``b`` are the mean and standard deviation of the normal scores
    ``Phi^-1(clip(u, pit_clip, 1 - pit_clip))`` (the clip keeps one extreme interval from
    dominating; it bounds each score at about 3.1). A group's own estimate is shrunk towards
    the pooled one with weight ``n / (n + prior_pits)``; the pooled row, labelled
    :data:`POOLED_GROUP`, is the identity (0, 1) with fewer than ``min_pits`` PITs in all.
    NaN PITs are ignored. Returns :data:`CALIBRATION_COLUMNS`, one row per group seen plus the
    pooled row.
    """
    u = np.asarray(pit, dtype=np.float64).ravel()
    grp = np.asarray(group, dtype=object).ravel()
    if grp.size != u.size:
        raise ValueError("pit and group must have the same length")
    ok = np.isfinite(u)
    u, grp = u[ok], grp[ok]
    if np.any((u < 0) | (u > 1)):
        raise ValueError("PITs must lie in [0, 1]")
    z = special.ndtri(np.clip(u, pit_clip, 1.0 - pit_clip))
    if z.size >= max(min_pits, 2):
        a0, b0 = float(z.mean()), float(z.std())
    else:
        a0, b0 = 0.0, 1.0
    rows = [{"group": POOLED_GROUP, "n_pits": int(z.size), "a": a0, "b": b0}]
    if z.size:
        frame = pd.DataFrame({"g": grp.astype(str), "z": z})
        stats = frame.groupby("g")["z"].agg(["size", "mean", "std"])
        for name, row in stats.iterrows():
            k = float(row["size"])
            w = k / (k + prior_pits) if k >= 2 else 0.0
            a = w * float(row["mean"]) + (1.0 - w) * a0
            b = w * float(np.nan_to_num(row["std"] * np.sqrt((k - 1) / k), nan=b0)) + (1 - w) * b0
            rows.append({"group": str(name), "n_pits": int(k), "a": a, "b": b})
    out = pd.DataFrame(rows).rename(columns={"a": "calibration_loc", "b": "calibration_scale"})
    return out[list(CALIBRATION_COLUMNS)]


def calibration_for(group: ArrayLike, table: pd.DataFrame | None) -> tuple[FloatArray, FloatArray]:
    """``(a, b)`` per row for the group labels ``group`` from a :func:`fit_service_calibration`
    table: the group's row, else the pooled row, else the identity (0, 1) (also when ``table``
    is None or empty)."""
    labels = pd.Series(np.asarray(group, dtype=object)).astype(str)
    n = len(labels)
    if table is None or len(table) == 0:
        return np.zeros(n), np.ones(n)
    t = table.set_index(table["group"].astype(str))
    pooled = t.loc[POOLED_GROUP] if POOLED_GROUP in t.index else None
    a0 = float(pooled["calibration_loc"]) if pooled is not None else 0.0
    b0 = float(pooled["calibration_scale"]) if pooled is not None else 1.0
    a = labels.map(t["calibration_loc"]).fillna(a0).to_numpy(dtype=np.float64)
    b = labels.map(t["calibration_scale"]).fillna(b0).to_numpy(dtype=np.float64)
    return a, b


def weekly_interval_pits(
    frame: pd.DataFrame,
    pmf: ArrayLike,
    shares: ArrayLike | None,
    weekly_mean: ArrayLike,
    weekly_var_indep: ArrayLike,
    level_cv2: ArrayLike,
    demand: ArrayLike,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """PITs of the protection interval from every week's Monday, for a panel of forecasts.

    Week ``w`` starts on day ``7 w`` of ``demand[n, T]`` (units/day, day 0 a Monday); its
    forecast moments are column ``w`` of ``weekly_mean``, ``weekly_var_indep`` and
    ``level_cv2`` ``[n, W]`` (the forecast made before that week). ``frame`` gives each row's
    review period and (deterministic: point-mass pmf rows, as for store transfers) lead time
    as for :func:`plan_levels`. Every Monday counts,
    not only review days: each is a decision the same forecast could have priced. Returns
    ``pit[n, W]`` (NaN where the interval has not ended inside ``demand``) and
    ``end_day[n, W]``, the day after the interval's last day (its demand is known from then
    on), so that a decision on day ``t`` may use the PITs with ``end_day <= t``. One
    vectorised CDF evaluation per week; the randomisation is seeded (``seed``).
    """
    mean = np.asarray(weekly_mean, dtype=np.float64)
    n, W = mean.shape
    p = np.asarray(pmf, dtype=np.float64)
    g = frame["lead_time_group"].to_numpy(dtype=np.int64)
    if not np.allclose(p.max(axis=1)[g], p.sum(axis=1)[g]):
        raise ValueError("weekly_interval_pits needs deterministic lead times (point-mass pmfs)")
    lt = np.argmax(p, axis=1)[g]
    days = lt + frame["review_days"].to_numpy(dtype=np.int64)
    rng = np.random.default_rng(seed)
    pit = np.full((n, W), np.nan)
    end = np.zeros((n, W))
    for w in range(W):
        f = frame.assign(
            weekly_mean=mean[:, w],
            weekly_var_indep=np.asarray(weekly_var_indep, dtype=np.float64)[:, w],
            level_cv2=np.asarray(level_cv2, dtype=np.float64)[:, w],
        )
        actual = interval_demand(demand, 7 * w, days)
        pit[:, w] = interval_pits(f, p, actual, rng.random(n), shares, start_dow=0)
        end[:, w] = 7 * w + days
    return pit, end


def holdout_calibration(
    pit: ArrayLike,
    end_day: ArrayLike,
    group: ArrayLike,
    block: ArrayLike,
    method: Literal["leave_one_origin_out", "expanding", "none"] = "leave_one_origin_out",
    **fit_kwargs: float,
) -> tuple[FloatArray, FloatArray, pd.DataFrame]:
    """Calibration ``(a, b)`` ``[n, W]`` for decisions on past Mondays, never fitted on the
    intervals it calibrates.

    ``pit``, ``end_day`` ``[n, W]`` from :func:`weekly_interval_pits` (week ``w`` decided on
    day ``7 w``), ``group[n]`` (the planning segment), ``block[W]`` the forecast origin of each
    week. ``leave_one_origin_out``: the weeks of one origin are calibrated on the intervals
    that lie wholly outside their days (ended before the block's first day or started after
    its last), i.e. on the other origins' errors; ``expanding``: week ``w`` on the intervals
    that ended by day ``7 w``, the errors known at the decision; ``none``: the identity.
    Returns ``a``, ``b`` and the fits (:data:`CALIBRATION_COLUMNS` plus ``block`` and
    ``first_week``, the first week index each fit serves). ``fit_kwargs`` go to
    :func:`fit_service_calibration`.
    """
    u = np.asarray(pit, dtype=np.float64)
    end = np.asarray(end_day, dtype=np.float64)
    n, W = u.shape
    labels = np.asarray(group, dtype=object)
    blk = np.asarray(block)
    a, b = np.zeros((n, W)), np.ones((n, W))
    if method == "none":
        return a, b, pd.DataFrame(columns=[*CALIBRATION_COLUMNS, "block", "first_week"])
    if method == "leave_one_origin_out":
        parts = [np.flatnonzero(blk == v) for v in pd.unique(blk)]
    elif method == "expanding":
        parts = [np.array([w]) for w in range(W)]
    else:
        raise ValueError(f"unknown calibration method {method!r}")
    start = 7.0 * np.arange(W)[None, :]
    grp = np.broadcast_to(labels[:, None], (n, W))
    fits = []
    for weeks in parts:
        lo, hi = 7 * int(weeks.min()), 7 * int(weeks.max()) + 7  # the days these weeks decide
        keep = end <= lo
        if method == "leave_one_origin_out":
            keep = keep | (start >= hi)
        keep = keep & np.isfinite(u)
        tab = fit_service_calibration(u[keep], grp[keep], **fit_kwargs)
        aa, bb = calibration_for(labels, tab)
        a[:, weeks] = aa[:, None]
        b[:, weeks] = bb[:, None]
        fits.append(tab.assign(block=blk[int(weeks.min())], first_week=int(weeks.min())))
    return a, b, pd.concat(fits, ignore_index=True)
