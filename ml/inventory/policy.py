"""Public inventory policy API: loss functions, newsvendor, EOQ family, base-stock levels for
service targets, continuous-review (r, Q) and periodic-review (s, S) policies.

Every function is pure. Functions that planners apply to many SKU-locations at once accept numpy
arrays and broadcast their arguments; they return a Python ``float`` when every input is a scalar
and an ``ndarray`` otherwise. The exact discrete optimisers run one search per item:
``r_q_optimal_poisson`` loops over the broadcast elements, ``ss_optimal`` / ``ss_cost`` take
scalars (one item per call).

Units follow the caller: demand in units of stock per period (or per year for the continuous-time
models), costs in currency. The docstrings state which time base each argument uses; mixing
per-week demand with per-year holding costs is the most common source of wrong answers.

Main references
---------------
* [SS19] L. V. Snyder and Z.-J. M. Shen, *Fundamentals of Supply Chain Theory*, 2nd ed.,
  Wiley, 2019. Ch. 3 (EOQ), ch. 4 (newsvendor, base-stock, (s, S)), ch. 5 ((r, Q)),
  appendix C (loss functions).
* [ZF91] Y.-S. Zheng and A. Federgruen, "Finding optimal (s, S) policies is about as simple as
  evaluating a single policy", *Operations Research* 39(4):654-665, 1991.
* [FZ92] A. Federgruen and Y.-S. Zheng, "An efficient algorithm for computing an optimal (r, Q)
  policy in continuous review stochastic inventory systems", *Operations Research*
  40(4):808-813, 1992.
* [HW63] G. Hadley and T. M. Whitin, *Analysis of Inventory Systems*, Prentice-Hall, 1963.
* [Z00] P. H. Zipkin, *Foundations of Inventory Management*, McGraw-Hill, 2000 (convexity of the
  (r, Q) cost, ch. 6).
* [Ax15] S. Axsäter, *Inventory Control*, 3rd ed., Springer, 2015 (fill rate of periodic-review
  policies with backorders, ch. 5).
* [SPT17] E. A. Silver, D. F. Pyke and D. J. Thomas, *Inventory and Production Management in
  Supply Chains*, 4th ed., CRC Press, 2017 ((R, S) review-period-plus-lead-time protection).
* [NO15] S. Nahmias and T. L. Olsen, *Production and Operations Analysis*, 7th ed., Waveland,
  2015 (all-units and incremental quantity discounts, sec. 4.7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

FloatArray = NDArray[np.float64]
FloatOrArray = float | FloatArray

__all__ = [
    "EOQResult",
    "EOQBackorderResult",
    "NewsvendorResult",
    "QuantityDiscountResult",
    "RQResult",
    "SSResult",
    "base_stock_level",
    "base_stock_level_poisson",
    "critical_ratio",
    "cycle_service_level_normal",
    "cycle_service_level_poisson",
    "discrete_complementary_loss",
    "discrete_loss",
    "discrete_second_order_loss",
    "empirical_pmf",
    "eoq",
    "eoq_backorders",
    "eoq_cost",
    "eoq_quantity_discount",
    "expected_shortage_discrete",
    "expected_shortage_normal",
    "expected_shortage_poisson",
    "fill_rate_discrete",
    "fill_rate_normal",
    "fill_rate_poisson",
    "newsvendor_discrete_cost",
    "newsvendor_empirical",
    "newsvendor_normal",
    "newsvendor_normal_cost",
    "newsvendor_poisson",
    "newsvendor_poisson_cost",
    "normal_complementary_loss",
    "normal_demand_loss",
    "normal_demand_second_order_loss",
    "normal_loss",
    "normal_second_order_loss",
    "poisson_complementary_loss",
    "poisson_loss",
    "poisson_second_order_loss",
    "r_q_compare_normal",
    "r_q_cost_normal",
    "r_q_cost_poisson",
    "r_q_eoq_ss",
    "r_q_eoqb",
    "r_q_hadley_whitin",
    "r_q_optimal_normal",
    "r_q_optimal_poisson",
    "r_q_reorder_point_for_q",
    "round_order_quantity",
    "ss_cost",
    "ss_optimal",
]


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


class NewsvendorResult(NamedTuple):
    """Optimal order-up-to level ``S`` (units) and its expected cost per period (currency)."""

    S: FloatOrArray
    cost: FloatOrArray


class EOQResult(NamedTuple):
    """Order quantity ``Q`` (units) and annual ordering-plus-holding cost (currency per year)."""

    Q: FloatOrArray
    cost: FloatOrArray


class EOQBackorderResult(NamedTuple):
    """EOQ with planned backorders: ``Q`` (units), fraction of each cycle spent in backorder
    (equivalently the fraction of demand backordered), and annual cost (currency per year)."""

    Q: FloatOrArray
    backorder_fraction: FloatOrArray
    cost: FloatOrArray


class QuantityDiscountResult(NamedTuple):
    """Quantity-discount EOQ: ``Q`` (units), average purchase price per unit at ``Q`` (currency
    per unit) and annual purchase + ordering + holding cost (currency per year)."""

    Q: FloatOrArray
    unit_price: FloatOrArray
    cost: FloatOrArray


class RQResult(NamedTuple):
    """An (r, Q) policy: reorder point ``r`` and order quantity ``Q`` (units), its exact expected
    cost per year (``cost``) and the cost the method itself reports (``model_cost``; equal to
    ``cost`` for exact methods, the approximation's own objective otherwise)."""

    r: FloatOrArray
    Q: FloatOrArray
    cost: FloatOrArray
    model_cost: FloatOrArray


class SSResult(NamedTuple):
    """An (s, S) policy: reorder level ``s`` and order-up-to level ``S`` (integer units) and its
    long-run average cost per period (currency per period)."""

    s: int
    S: int
    cost: float


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: ArrayLike) -> FloatOrArray:
    """Return a Python float for 0-d results and an ndarray otherwise."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr)
    return arr


def _bisect_increasing(
    func: Callable[[FloatArray], FloatArray],
    target: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    iterations: int = 200,
) -> FloatArray:
    """Vectorised bisection: the ``x`` in [lo, hi] with ``func(x) = target`` for a function that
    is non-decreasing in ``x`` elementwise. Stops early once every bracket is below float
    resolution."""
    lo, hi, target = np.broadcast_arrays(_f(lo), _f(hi), _f(target))
    lo = lo.copy()
    hi = hi.copy()
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = func(mid) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
        if np.all(hi - lo <= 1e-12 * np.maximum(1.0, np.abs(hi))):
            break
    return 0.5 * (lo + hi)


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _phi(z: FloatArray) -> FloatArray:
    """Standard normal density (faster than scipy.stats.norm.pdf on small arrays)."""
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def _check_positive(name: str, value: ArrayLike, allow_zero: bool = False) -> None:
    arr = _f(value)
    bad = (arr < 0) if allow_zero else (arr <= 0)
    if np.any(bad) or np.any(np.isnan(arr)):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {kind}")


def _as_pmf(pmf: ArrayLike) -> FloatArray:
    arr = _f(pmf)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("pmf must be a non-empty 1-D array of probabilities for 0, 1, 2, ...")
    if np.any(arr < 0) or not math.isclose(float(arr.sum()), 1.0, abs_tol=1e-6):
        raise ValueError("pmf must be non-negative and sum to 1")
    return arr / arr.sum()


# --------------------------------------------------------------------------------------------
# 1. Loss functions
# --------------------------------------------------------------------------------------------


def normal_loss(z: ArrayLike) -> FloatOrArray:
    """Standard normal (first-order) loss function L(z) = E[(Z - z)+] for Z ~ N(0, 1).

    L(z) = phi(z) - z (1 - Phi(z)), dimensionless. Multiply by the demand standard deviation to
    get expected units short above a stock level (see :func:`normal_demand_loss`).
    Reference: [SS19] appendix C.3; [SPT17] appendix (G_u(z)).
    """
    z = _f(z)
    val = special.ndtr(-z)
    out = _phi(z) - z * val
    return _out(np.maximum(out, 0.0))


def normal_second_order_loss(z: ArrayLike) -> FloatOrArray:
    """Standard normal second-order loss L2(z) = 1/2 E[((Z - z)+)^2] = integral_z^inf L(t) dt.

    L2(z) = 1/2 [(z^2 + 1)(1 - Phi(z)) - z phi(z)], dimensionless. Used for expected backorders
    of (r, Q) policies. Reference: [SS19] appendix C.3.
    """
    z = _f(z)
    out = 0.5 * ((z * z + 1.0) * special.ndtr(-z) - z * _phi(z))
    return _out(np.maximum(out, 0.0))


def normal_complementary_loss(z: ArrayLike) -> FloatOrArray:
    """Standard normal complementary loss E[(z - Z)+] = z + L(z) (dimensionless).

    Multiply by the standard deviation to get expected leftover units below a stock level.
    Reference: [SS19] appendix C.3.
    """
    z = _f(z)
    return _out(z + _f(normal_loss(z)))


def normal_demand_loss(x: ArrayLike, mean: ArrayLike, sd: ArrayLike) -> FloatOrArray:
    """Expected units of demand above ``x``: E[(D - x)+] for D ~ N(mean, sd^2), in units.

    Equals sd * L((x - mean) / sd); for sd = 0 it is the deterministic (mean - x)+.
    Reference: [SS19] appendix C.3.
    """
    x, mean, sd = np.broadcast_arrays(_f(x), _f(mean), _f(sd))
    safe_sd = np.where(sd > 0, sd, 1.0)
    val = safe_sd * _f(normal_loss((x - mean) / safe_sd))
    return _out(np.where(sd > 0, val, np.maximum(mean - x, 0.0)))


def normal_demand_second_order_loss(x: ArrayLike, mean: ArrayLike, sd: ArrayLike) -> FloatOrArray:
    """Second-order loss 1/2 E[((D - x)+)^2] for D ~ N(mean, sd^2), in units squared.

    Equals sd^2 * L2((x - mean) / sd); for sd = 0 it is 1/2 ((mean - x)+)^2. It is the integral
    of :func:`normal_demand_loss` from ``x`` to infinity. Reference: [SS19] appendix C.3.
    """
    x, mean, sd = np.broadcast_arrays(_f(x), _f(mean), _f(sd))
    safe_sd = np.where(sd > 0, sd, 1.0)
    val = safe_sd**2 * _f(normal_second_order_loss((x - mean) / safe_sd))
    return _out(np.where(sd > 0, val, 0.5 * np.maximum(mean - x, 0.0) ** 2))


def poisson_loss(s: ArrayLike, lam: ArrayLike) -> FloatOrArray:
    """Poisson loss function E[(D - s)+] for D ~ Poisson(lam), in units.

    For integer s: n(s) = (lam - s)(1 - F(s)) + lam f(s). For non-integer s the loss is the
    exact piecewise-linear value n(floor(s)) - (s - floor(s))(1 - F(floor(s))). Negative s give
    lam - s. Reference: [SS19] appendix C.2 (loss functions of discrete distributions).
    """
    s, lam = np.broadcast_arrays(_f(s), _f(lam))
    k = np.floor(s)
    sf = stats.poisson.sf(k, lam)
    n_k = (lam - k) * sf + lam * stats.poisson.pmf(k, lam)
    return _out(np.maximum(n_k - (s - k) * sf, 0.0))


def poisson_second_order_loss(s: ArrayLike, lam: ArrayLike) -> FloatOrArray:
    """Discrete second-order loss 1/2 E[(D - s)+ (D - s - 1)+] for D ~ Poisson(lam), units^2.

    s is rounded down to an integer. Closed form n2(s) = 1/2 [((s - lam)^2 + s)(1 - F(s))
    - lam (s - lam) f(s)]. It satisfies n2(s) - n2(s + 1) = n(s + 1), so that
    sum_{y=r+1}^{r+Q} n(y) = n2(r) - n2(r + Q), the identity behind the exact Poisson (r, Q)
    cost. Reference: [SS19] appendix C.2; [Z00] sec. 6.2.
    """
    s, lam = np.broadcast_arrays(_f(s), _f(lam))
    k = np.floor(s)
    sf = stats.poisson.sf(k, lam)
    pmf = stats.poisson.pmf(k, lam)
    val = 0.5 * (((k - lam) ** 2 + k) * sf - lam * (k - lam) * pmf)
    # For negative k every realisation is above k and the closed form equals the full expectation
    # 1/2 E[(D - k)(D - k - 1)] = 1/2 ((lam - k)^2 - k), which the formula above reproduces.
    return _out(np.maximum(val, 0.0))


def poisson_complementary_loss(s: ArrayLike, lam: ArrayLike) -> FloatOrArray:
    """Expected leftover units E[(s - D)+] = s - lam + E[(D - s)+] for D ~ Poisson(lam).

    Reference: [SS19] appendix C.2.
    """
    s, lam = np.broadcast_arrays(_f(s), _f(lam))
    return _out(s - lam + _f(poisson_loss(s, lam)))


def empirical_pmf(samples: ArrayLike) -> FloatArray:
    """Probability mass function on 0, 1, ..., max(samples) of non-negative integer demand
    observations (units per period): relative frequencies of each value.

    Non-integer samples are rounded to the nearest unit first. Use the result with the
    ``discrete_*`` functions, :func:`newsvendor_empirical` and :func:`ss_optimal`.
    """
    arr = np.rint(_f(samples)).astype(np.int64).ravel()
    if arr.size == 0 or np.any(arr < 0):
        raise ValueError("samples must be a non-empty array of non-negative demands")
    counts = np.bincount(arr)
    return counts / counts.sum()


def discrete_loss(s: ArrayLike, pmf: ArrayLike) -> FloatOrArray:
    """Loss function E[(D - s)+] (units) of a discrete demand with ``pmf[d] = P(D = d)``,
    d = 0, 1, ..., len(pmf) - 1. ``s`` may be any real array (the loss is piecewise linear).

    Reference: [SS19] appendix C.2.
    """
    f = _as_pmf(pmf)
    s = _f(s)
    d = np.arange(f.size, dtype=np.float64)
    return _out(np.maximum(d - s[..., None], 0.0) @ f)


def discrete_second_order_loss(s: ArrayLike, pmf: ArrayLike) -> FloatOrArray:
    """Discrete second-order loss 1/2 E[(D - s)+ (D - s - 1)+] (units^2) for integer ``s``
    (rounded down) and ``pmf[d] = P(D = d)``. Reference: [SS19] appendix C.2.
    """
    f = _as_pmf(pmf)
    s = np.floor(_f(s))
    d = np.arange(f.size, dtype=np.float64)
    diff = d - s[..., None]
    return _out(0.5 * (np.maximum(diff, 0.0) * np.maximum(diff - 1.0, 0.0)) @ f)


def discrete_complementary_loss(s: ArrayLike, pmf: ArrayLike) -> FloatOrArray:
    """Expected leftover units E[(s - D)+] = s - E[D] + E[(D - s)+] for a discrete pmf on
    0, 1, ..., len(pmf) - 1. Reference: [SS19] appendix C.2.
    """
    f = _as_pmf(pmf)
    s = _f(s)
    mean = float(np.arange(f.size) @ f)
    return _out(s - mean + _f(discrete_loss(s, f)))


# --------------------------------------------------------------------------------------------
# 2. Newsvendor
# --------------------------------------------------------------------------------------------


def critical_ratio(
    h: ArrayLike | None = None,
    p: ArrayLike | None = None,
    *,
    price: ArrayLike | None = None,
    unit_cost: ArrayLike | None = None,
    salvage: ArrayLike = 0.0,
) -> FloatOrArray:
    """Newsvendor critical ratio (the optimal in-stock probability P(D <= S*)).

    Either give the overage cost ``h`` and underage cost ``p`` (currency per unit left over /
    short): ratio = p / (p + h); or give ``price``, ``unit_cost`` and ``salvage`` (currency per
    unit): ratio = (price - unit_cost) / (price - salvage), i.e. underage = price - cost and
    overage = cost - salvage. Reference: [SS19] sec. 4.3 (eq. for S* = F^-1(p / (p + h))) and
    Example 4.2 (explicit revenue/cost/salvage form).
    """
    if price is not None or unit_cost is not None:
        if price is None or unit_cost is None:
            raise ValueError("price and unit_cost must be given together")
        price_a, cost_a, salv_a = _f(price), _f(unit_cost), _f(salvage)
        if np.any(price_a <= salv_a) or np.any(cost_a < salv_a) or np.any(cost_a > price_a):
            raise ValueError("need salvage <= unit_cost <= price and salvage < price")
        return _out((price_a - cost_a) / (price_a - salv_a))
    if h is None or p is None:
        raise ValueError("give h and p, or price and unit_cost (and salvage)")
    h_a, p_a = _f(h), _f(p)
    _check_positive("h + p", h_a + p_a)
    _check_positive("h", h_a, allow_zero=True)
    _check_positive("p", p_a, allow_zero=True)
    return _out(p_a / (p_a + h_a))


def newsvendor_normal_cost(
    S: ArrayLike, mu: ArrayLike, sigma: ArrayLike, h: ArrayLike, p: ArrayLike
) -> FloatOrArray:
    """Expected newsvendor cost g(S) = h E[(S - D)+] + p E[(D - S)+] for D ~ N(mu, sigma^2).

    S, mu, sigma in units; h, p in currency per unit (per period). Written with loss functions as
    g(S) = h (S - mu) + (h + p) sigma L((S - mu) / sigma). Reference: [SS19] sec. 4.3.
    """
    S, mu, sigma, h, p = np.broadcast_arrays(_f(S), _f(mu), _f(sigma), _f(h), _f(p))
    return _out(h * (S - mu) + (h + p) * _f(normal_demand_loss(S, mu, sigma)))


def newsvendor_normal(
    mu: ArrayLike, sigma: ArrayLike, h: ArrayLike, p: ArrayLike
) -> NewsvendorResult:
    """Optimal newsvendor order-up-to level and expected cost for normal demand.

    mu, sigma: mean and standard deviation of demand over the exposure (units); h: overage
    (holding) cost and p: underage (stockout) cost, currency per unit. S* = mu + z sigma with
    z = Phi^-1(p / (p + h)); cost g(S*) = (h + p) sigma phi(z). For a periodic-review base-stock
    system with lead time L periods pass the (L + 1)-period demand. Reference: [SS19] sec. 4.3,
    Examples 4.1 and 4.3 (and 4.4 for lead times).
    """
    mu, sigma, h, p = np.broadcast_arrays(_f(mu), _f(sigma), _f(h), _f(p))
    _check_positive("sigma", sigma, allow_zero=True)
    ratio = _f(critical_ratio(h, p))
    z = special.ndtri(ratio)
    S = mu + z * sigma
    cost = (h + p) * sigma * _phi(z)
    return NewsvendorResult(_out(S), _out(cost))


def newsvendor_poisson_cost(
    S: ArrayLike, lam: ArrayLike, h: ArrayLike, p: ArrayLike
) -> FloatOrArray:
    """Expected newsvendor cost h E[(S - D)+] + p E[(D - S)+] for D ~ Poisson(lam).

    Uses g(S) = h (S - lam) + (h + p) n(S) with the Poisson loss n. Units as in
    :func:`newsvendor_normal_cost`. Reference: [SS19] sec. 4.3.2 (discrete demand).
    """
    S, lam, h, p = np.broadcast_arrays(_f(S), _f(lam), _f(h), _f(p))
    return _out(h * (S - lam) + (h + p) * _f(poisson_loss(S, lam)))


def newsvendor_poisson(lam: ArrayLike, h: ArrayLike, p: ArrayLike) -> NewsvendorResult:
    """Optimal integer order-up-to level for Poisson(lam) demand: the smallest S with
    F(S) >= p / (p + h), and its expected cost (currency per period).

    Reference: [SS19] sec. 4.3.2 and Example 4.7 (without fixed cost).
    """
    lam, h, p = np.broadcast_arrays(_f(lam), _f(h), _f(p))
    ratio = _f(critical_ratio(h, p))
    S = stats.poisson.ppf(ratio, lam)
    return NewsvendorResult(_out(S), newsvendor_poisson_cost(S, lam, h, p))


def newsvendor_discrete_cost(
    S: ArrayLike, pmf: ArrayLike, h: ArrayLike, p: ArrayLike
) -> FloatOrArray:
    """Expected newsvendor cost at ``S`` for a discrete demand pmf on 0, 1, ..., n.

    g(S) = h (S - E[D]) + (h + p) E[(D - S)+], currency per period. Reference: [SS19] sec. 4.3.2.
    """
    f = _as_pmf(pmf)
    S, h, p = np.broadcast_arrays(_f(S), _f(h), _f(p))
    mean = float(np.arange(f.size) @ f)
    return _out(h * (S - mean) + (h + p) * _f(discrete_loss(S, f)))


def newsvendor_empirical(
    h: ArrayLike,
    p: ArrayLike,
    *,
    samples: ArrayLike | None = None,
    pmf: ArrayLike | None = None,
) -> NewsvendorResult:
    """Optimal newsvendor level for an empirical demand distribution.

    Give either ``samples`` (demand observations, units; a 2-D array is treated as one SKU per
    row) or ``pmf`` (P(D = d) for d = 0, 1, ...). S* is the smallest observed (or support) value
    whose empirical CDF reaches p / (p + h) - the sample-average-approximation solution; cost is
    the expected cost under the empirical distribution (currency per period).
    Reference: [SS19] sec. 4.3.2; Levi, Roundy and Shmoys, "Provably near-optimal
    sampling-based policies for stochastic inventory control models", Math. Oper. Res. 32, 2007.
    """
    if (samples is None) == (pmf is None):
        raise ValueError("give exactly one of samples or pmf")
    if pmf is not None:
        f = _as_pmf(pmf)
        h_a, p_a = np.broadcast_arrays(_f(h), _f(p))
        ratio = _f(critical_ratio(h_a, p_a))
        cdf = np.cumsum(f)
        S = np.searchsorted(cdf, ratio - 1e-12, side="left").astype(np.float64)
        S = np.minimum(S, f.size - 1)
        return NewsvendorResult(_out(S), newsvendor_discrete_cost(S, f, h_a, p_a))
    x = np.sort(_f(samples), axis=-1)
    n = x.shape[-1]
    if n == 0:
        raise ValueError("samples must not be empty")
    ratio = _f(critical_ratio(h, p))
    idx = np.clip(np.ceil(ratio * n - 1e-9).astype(np.int64) - 1, 0, n - 1)
    if x.ndim == 1:
        S = x[idx]
    else:
        idx_b = np.broadcast_to(idx, x.shape[:-1])
        S = np.take_along_axis(x, idx_b[..., None], axis=-1)[..., 0]
    if S.ndim > x.ndim - 1:
        x = np.broadcast_to(x, (*S.shape, n))
    h_a, p_a = _f(h), _f(p)
    over = np.maximum(S[..., None] - x, 0.0).mean(axis=-1)
    under = np.maximum(x - S[..., None], 0.0).mean(axis=-1)
    return NewsvendorResult(_out(S), _out(h_a * over + p_a * under))


# --------------------------------------------------------------------------------------------
# 3. EOQ family and order-quantity rounding
# --------------------------------------------------------------------------------------------


def eoq_cost(Q: ArrayLike, K: ArrayLike, D: ArrayLike, h: ArrayLike) -> FloatOrArray:
    """Annual ordering plus holding cost K D / Q + h Q / 2 of ordering ``Q`` units at a time.

    K: fixed cost per order (currency); D: demand (units per year); h: holding cost (currency per
    unit per year). Reference: [SS19] sec. 3.2.
    """
    Q, K, D, h = np.broadcast_arrays(_f(Q), _f(K), _f(D), _f(h))
    return _out(K * D / Q + h * Q / 2.0)


def eoq(K: ArrayLike, D: ArrayLike, h: ArrayLike) -> EOQResult:
    """Economic order quantity Q* = sqrt(2 K D / h) and its annual cost sqrt(2 K D h).

    K: currency per order; D: units per year; h: currency per unit per year. Reference: [SS19]
    sec. 3.2, Example 3.1.
    """
    K, D, h = np.broadcast_arrays(_f(K), _f(D), _f(h))
    _check_positive("h", h)
    Q = np.sqrt(2.0 * K * D / h)
    return EOQResult(_out(Q), _out(np.sqrt(2.0 * K * D * h)))


def eoq_backorders(K: ArrayLike, D: ArrayLike, h: ArrayLike, p: ArrayLike) -> EOQBackorderResult:
    """EOQ with planned backorders.

    Q* = sqrt(2 K D (h + p) / (h p)); backorder fraction x* = h / (h + p) (share of each cycle
    with backorders); cost sqrt(2 K D h p / (h + p)). p is the backorder cost in currency per
    unit per year (time-weighted). Reference: [SS19] sec. 3.3, Example 3.8.
    """
    K, D, h, p = np.broadcast_arrays(_f(K), _f(D), _f(h), _f(p))
    _check_positive("h", h)
    _check_positive("p", p)
    Q = np.sqrt(2.0 * K * D * (h + p) / (h * p))
    frac = h / (h + p)
    cost = np.sqrt(2.0 * K * D * h * p / (h + p))
    return EOQBackorderResult(_out(Q), _out(frac), _out(cost))


def eoq_quantity_discount(
    K: ArrayLike,
    D: ArrayLike,
    i: ArrayLike,
    breaks: ArrayLike,
    prices: ArrayLike,
    kind: str = "all_units",
) -> QuantityDiscountResult:
    """EOQ under an all-units or incremental quantity-discount price schedule.

    K: currency per order; D: units per year; i: annual holding-cost rate (currency per currency
    of stock value per year, e.g. 0.2), so that the holding cost of a unit is i times its
    purchase price. ``breaks[j]`` is the first quantity at which ``prices[j]`` (currency per unit)
    applies; ``breaks[0]`` must be 0 and both arrays ascend in quantity.

    * ``"all_units"``: every unit of an order of size Q pays the price of Q's band. Annual cost
      c_j D + K D / Q + i c_j Q / 2; in each band the candidate is the band's EOQ pushed up to the
      break, and bands whose EOQ lies above the band are skipped (the next break is cheaper).
    * ``"incremental"``: units in band j pay c_j. With C(Q) the purchase cost of Q units, the
      annual cost is D C(Q)/Q + K D / Q + i (C(Q)/Q) Q / 2 and within band j the minimiser is
      sqrt(2 D (K + C(b_j) - c_j b_j) / (i c_j)), clipped to the band.

    Returns the cheapest Q, the average unit price at Q and the annual total cost including
    purchases. K, D and i broadcast; the price schedule is shared. Reference: [NO15] sec. 4.7.
    """
    K, D, i = np.broadcast_arrays(_f(K), _f(D), _f(i))
    b = _f(breaks).ravel()
    c = _f(prices).ravel()
    if b.size != c.size or b.size == 0:
        raise ValueError("breaks and prices must have the same non-zero length")
    if b[0] != 0 or np.any(np.diff(b) <= 0):
        raise ValueError("breaks must start at 0 and increase strictly")
    _check_positive("prices", c)
    _check_positive("i", i)
    upper = np.append(b[1:], np.inf)
    Kx, Dx, ix = K[..., None], D[..., None], i[..., None]
    if kind == "all_units":
        q_eoq = np.sqrt(2.0 * Kx * Dx / (ix * c))
        feasible = q_eoq < upper
        q = np.maximum(q_eoq, b)
        cost = c * Dx + Kx * Dx / q + ix * c * q / 2.0
        cost = np.where(feasible, cost, np.inf)
        unit = np.broadcast_to(c, cost.shape)
    elif kind == "incremental":
        widths = np.diff(b)
        start_cost = np.concatenate([[0.0], np.cumsum(c[:-1] * widths)])  # C(b_j)
        fixed = start_cost - c * b  # C(Q) = fixed_j + c_j Q in band j
        q_star = np.sqrt(2.0 * Dx * (Kx + fixed) / (ix * c))
        q = np.clip(q_star, np.maximum(b, 1e-12), upper)
        avg = c + fixed / q
        cost = Dx * avg + Kx * Dx / q + ix * avg * q / 2.0
        unit = avg
    else:
        raise ValueError("kind must be 'all_units' or 'incremental'")
    j = np.argmin(cost, axis=-1)[..., None]
    Q = np.take_along_axis(q, j, axis=-1)[..., 0]
    best = np.take_along_axis(cost, j, axis=-1)[..., 0]
    price = np.take_along_axis(np.broadcast_to(unit, cost.shape), j, axis=-1)[..., 0]
    return QuantityDiscountResult(_out(Q), _out(price), _out(best))


def round_order_quantity(
    q: ArrayLike,
    case_pack: ArrayLike = 1.0,
    moq: ArrayLike = 0.0,
    max_qty: ArrayLike = np.inf,
) -> FloatOrArray:
    """Round proposed order quantities (units) to what a supplier accepts.

    Rule, applied elementwise in this order:

    1. ``q <= 0`` (or NaN) -> 0: no order.
    2. Round ``q`` up to a whole number of case packs: ceil(q / case_pack) * case_pack.
       A relative tolerance of 1e-9 keeps float noise (12.000000001 with packs of 12) from
       adding a whole extra pack.
    3. Raise to the minimum order quantity, itself rounded up to whole case packs:
       max(step 2, ceil(moq / case_pack) * case_pack).
    4. Cap at the maximum, rounded down to whole case packs: floor(max_qty / case_pack) *
       case_pack. The cap wins over the MOQ: if the rounded maximum is below the rounded MOQ the
       result is the rounded maximum (possibly 0 when max_qty < case_pack), because a capacity
       limit cannot be exceeded while an MOQ conflict has to be resolved with the supplier.

    All arguments broadcast. Returns floats (whole multiples of ``case_pack``).
    """
    q, cp, moq, mx = np.broadcast_arrays(_f(q), _f(case_pack), _f(moq), _f(max_qty))
    _check_positive("case_pack", cp)
    _check_positive("moq", moq, allow_zero=True)
    _check_positive("max_qty", mx, allow_zero=True)
    packs = np.ceil(q / cp - 1e-9)
    rounded = packs * cp
    moq_r = np.ceil(moq / cp - 1e-9) * cp
    rounded = np.maximum(rounded, moq_r)
    cap = np.where(np.isinf(mx), np.inf, np.floor(mx / cp + 1e-9) * cp)
    rounded = np.minimum(rounded, cap)
    order = np.where(np.nan_to_num(q, nan=0.0) > 0, rounded, 0.0)
    return _out(order)


# --------------------------------------------------------------------------------------------
# 7. Expected shortage, fill rate and cycle service level (used by 4.)
# --------------------------------------------------------------------------------------------


def expected_shortage_normal(
    S: ArrayLike,
    mean: ArrayLike,
    sd: ArrayLike,
    lead_mean: ArrayLike = 0.0,
    lead_sd: ArrayLike = 0.0,
) -> FloatOrArray:
    """Expected units short per replenishment cycle of an order-up-to level ``S`` (backorders).

    (mean, sd): normal demand over the protection interval (lead time + review period, units);
    (lead_mean, lead_sd): demand over the lead time alone. Shortage per cycle =
    E[(D_{L+R} - S)+] - E[(D_L - S)+]: the second term removes backorders that were already
    outstanding when the cycle began. With the defaults (no lead-time term) this is the classic
    approximation E[(D_{L+R} - S)+]. Reference: [Ax15] sec. 5.3; [SPT17] sec. 6.9 (ESPRC).
    """
    return _out(_f(normal_demand_loss(S, mean, sd)) - _f(normal_demand_loss(S, lead_mean, lead_sd)))


def expected_shortage_poisson(
    S: ArrayLike, rate_protection: ArrayLike, rate_lead: ArrayLike = 0.0
) -> FloatOrArray:
    """Expected units short per cycle for Poisson demand: n_{L+R}(S) - n_L(S) (units), with
    ``rate_protection`` the mean demand over lead time + review period and ``rate_lead`` over the
    lead time. Reference: [Ax15] sec. 5.3."""
    return _out(_f(poisson_loss(S, rate_protection)) - _f(poisson_loss(S, rate_lead)))


def expected_shortage_discrete(
    S: ArrayLike, pmf_protection: ArrayLike, pmf_lead: ArrayLike | None = None
) -> FloatOrArray:
    """Expected units short per cycle for discrete (e.g. empirical) demand pmfs over the
    protection interval and, optionally, the lead time (units). Reference: [Ax15] sec. 5.3."""
    short = _f(discrete_loss(S, pmf_protection))
    if pmf_lead is not None:
        short = short - _f(discrete_loss(S, pmf_lead))
    return _out(short)


def fill_rate_normal(
    S: ArrayLike,
    mean: ArrayLike,
    sd: ArrayLike,
    demand_per_cycle: ArrayLike,
    lead_mean: ArrayLike = 0.0,
    lead_sd: ArrayLike = 0.0,
) -> FloatOrArray:
    """Fill rate (type 2 service: share of demand met from shelf) of order-up-to level ``S``.

    beta = 1 - expected shortage per cycle / demand per cycle, with the shortage from
    :func:`expected_shortage_normal` and ``demand_per_cycle`` the mean demand per review period
    (units). Pass the lead-time moments for the exact backorder formula; without them the
    result is the classic (slightly pessimistic) approximation. Reference: [Ax15] sec. 5.3.
    """
    short = _f(expected_shortage_normal(S, mean, sd, lead_mean, lead_sd))
    return _out(1.0 - short / _f(demand_per_cycle))


def fill_rate_poisson(
    S: ArrayLike,
    rate_protection: ArrayLike,
    demand_per_cycle: ArrayLike,
    rate_lead: ArrayLike = 0.0,
) -> FloatOrArray:
    """Fill rate 1 - (n_{L+R}(S) - n_L(S)) / demand per cycle for Poisson demand.

    Reference: [Ax15] sec. 5.3."""
    short = _f(expected_shortage_poisson(S, rate_protection, rate_lead))
    return _out(1.0 - short / _f(demand_per_cycle))


def fill_rate_discrete(
    S: ArrayLike,
    pmf_protection: ArrayLike,
    demand_per_cycle: ArrayLike,
    pmf_lead: ArrayLike | None = None,
) -> FloatOrArray:
    """Fill rate for discrete (e.g. empirical) demand pmfs: 1 - shortage per cycle / demand per
    cycle, shortage from :func:`expected_shortage_discrete`. Reference: [Ax15] sec. 5.3."""
    short = _f(expected_shortage_discrete(S, pmf_protection, pmf_lead))
    return _out(1.0 - short / _f(demand_per_cycle))


def cycle_service_level_normal(
    S: ArrayLike,
    mean: ArrayLike,
    sd: ArrayLike,
    review_period: ArrayLike = 1.0,
    lead_time: ArrayLike = 0.0,
) -> FloatOrArray:
    """Cycle service level (type 1: probability that a replenishment cycle has no stockout) of
    an (R, S) policy: Phi((S - (L + R) mean) / (sqrt(L + R) sd)) for i.i.d. normal demand per
    period (mean, sd in units per period; R, L in periods). Reference: [SPT17] sec. 6.9."""
    mean, sd, R, L = _f(mean), _f(sd), _f(review_period), _f(lead_time)
    t = L + R
    z = (_f(S) - t * mean) / (np.sqrt(t) * sd)
    return _out(special.ndtr(z))


def cycle_service_level_poisson(
    S: ArrayLike, rate: ArrayLike, review_period: ArrayLike = 1.0, lead_time: ArrayLike = 0.0
) -> FloatOrArray:
    """Cycle service level P(D_{L+R} <= S) of an (R, S) policy with Poisson demand of ``rate``
    units per period. Reference: [SPT17] sec. 6.9."""
    t = _f(lead_time) + _f(review_period)
    return _out(stats.poisson.cdf(np.floor(_f(S)), _f(rate) * t))


# --------------------------------------------------------------------------------------------
# 4. Base-stock (order-up-to) levels for service targets
# --------------------------------------------------------------------------------------------


def base_stock_level(
    mean: ArrayLike,
    sd: ArrayLike,
    *,
    review_period: ArrayLike = 1.0,
    lead_time: ArrayLike = 0.0,
    csl: ArrayLike | None = None,
    fill_rate: ArrayLike | None = None,
) -> FloatOrArray:
    """Order-up-to level S (units) of a periodic-review (R, S) policy meeting a service target.

    Demand per period is i.i.d. normal with ``mean`` and ``sd`` (units per period); the review
    period R and lead time L are in periods, and the protection interval is L + R, so demand over
    it has mean (L + R) mean and sd sqrt(L + R) sd.

    * ``csl`` (type 1, probability of no stockout per cycle): S = (L+R) mean + z sqrt(L+R) sd,
      z = Phi^-1(csl).
    * ``fill_rate`` (type 2, share of demand served from shelf): the S solving
      1 - [E(D_{L+R} - S)+ - E(D_L - S)+] / (R mean) = fill_rate, found by vectorised bisection
      (the fill rate is increasing in S).

    If both targets are given the larger S (meeting both) is returned. All arguments broadcast.
    Reference: [SPT17] sec. 6.9; [Ax15] sec. 5.3 (exact backorder fill rate).
    """
    if csl is None and fill_rate is None:
        raise ValueError("give csl and/or fill_rate")
    mean, sd, R, L = np.broadcast_arrays(_f(mean), _f(sd), _f(review_period), _f(lead_time))
    _check_positive("review_period", R)
    _check_positive("lead_time", L, allow_zero=True)
    _check_positive("sd", sd, allow_zero=True)
    t = L + R
    mu_pi, sd_pi = t * mean, np.sqrt(t) * sd
    mu_l, sd_l = L * mean, np.sqrt(L) * sd
    result = np.full(mean.shape, -np.inf)
    if csl is not None:
        a = _f(csl)
        if np.any((a <= 0) | (a >= 1)):
            raise ValueError("csl must lie strictly between 0 and 1")
        result = np.maximum(result, mu_pi + special.ndtri(a) * sd_pi)
    if fill_rate is not None:
        beta = _f(fill_rate)
        if np.any((beta <= 0) | (beta >= 1)):
            raise ValueError("fill_rate must lie strictly between 0 and 1")
        per_cycle = R * mean
        safe_cycle = np.where(per_cycle > 0, per_cycle, 1.0)

        def _fr(S: FloatArray) -> FloatArray:
            return _f(fill_rate_normal(S, mu_pi, sd_pi, safe_cycle, mu_l, sd_l))

        spread = 12.0 * sd_pi + per_cycle
        S_fr = _bisect_increasing(_fr, beta, mu_l - spread, mu_pi + spread)
        # An item without demand needs no stock to meet any fill-rate target.
        S_fr = np.where(per_cycle > 0, S_fr, 0.0)
        result = np.maximum(result, S_fr)
    return _out(result)


def base_stock_level_poisson(
    rate: ArrayLike,
    *,
    review_period: ArrayLike = 1.0,
    lead_time: ArrayLike = 0.0,
    csl: ArrayLike | None = None,
    fill_rate: ArrayLike | None = None,
) -> FloatOrArray:
    """Smallest integer order-up-to level S >= 0 of an (R, S) policy with Poisson demand of
    ``rate`` units per period that meets the target(s).

    ``csl``: P(D_{L+R} <= S) >= csl. ``fill_rate``: 1 - [n_{L+R}(S) - n_L(S)] / (R rate) >=
    fill_rate, searched by vectorised integer bisection. With both targets the larger S is
    returned. Reference: [SPT17] sec. 6.9; [Ax15] sec. 5.3.
    """
    if csl is None and fill_rate is None:
        raise ValueError("give csl and/or fill_rate")
    rate, R, L = np.broadcast_arrays(_f(rate), _f(review_period), _f(lead_time))
    _check_positive("rate", rate)
    _check_positive("review_period", R)
    _check_positive("lead_time", L, allow_zero=True)
    lam_pi, lam_l = rate * (L + R), rate * L
    result = np.zeros(rate.shape)
    if csl is not None:
        a = _f(csl)
        if np.any((a <= 0) | (a >= 1)):
            raise ValueError("csl must lie strictly between 0 and 1")
        result = np.maximum(result, stats.poisson.ppf(a, lam_pi))
    if fill_rate is not None:
        beta = np.broadcast_to(_f(fill_rate), rate.shape)
        if np.any((beta <= 0) | (beta >= 1)):
            raise ValueError("fill_rate must lie strictly between 0 and 1")
        per_cycle = R * rate
        lo = np.full(rate.shape, -1.0)  # fill(lo) < beta assumed; S = 0 is checked explicitly
        hi = stats.poisson.ppf(1.0 - 1e-12, lam_pi) + 1.0
        ok0 = _f(fill_rate_poisson(0.0, lam_pi, per_cycle, lam_l)) >= beta
        while np.any(hi - lo > 1):
            mid = np.floor((lo + hi) / 2.0)
            good = _f(fill_rate_poisson(mid, lam_pi, per_cycle, lam_l)) >= beta
            hi = np.where(good, mid, hi)
            lo = np.where(good, lo, mid)
        result = np.maximum(result, np.where(ok0, 0.0, hi))
    return _out(result)


# --------------------------------------------------------------------------------------------
# 5. Continuous-review (r, Q) policies
# --------------------------------------------------------------------------------------------


def _rq_inputs(
    K: ArrayLike, D: ArrayLike, h: ArrayLike, p: ArrayLike, mu_L: ArrayLike, sd_L: ArrayLike
) -> tuple[FloatArray, ...]:
    K, D, h, p, mu_L, sd_L = np.broadcast_arrays(_f(K), _f(D), _f(h), _f(p), _f(mu_L), _f(sd_L))
    _check_positive("K", K)
    _check_positive("D", D)
    _check_positive("h", h)
    _check_positive("p", p)
    _check_positive("sd_L", sd_L, allow_zero=True)
    return K, D, h, p, mu_L, sd_L


def r_q_cost_normal(
    r: ArrayLike,
    Q: ArrayLike,
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mu_L: ArrayLike,
    sd_L: ArrayLike,
) -> FloatOrArray:
    """Exact expected cost per year of a continuous-review (r, Q) policy, normal lead-time demand.

    g(r, Q) = K D / Q + h (r - mu_L + Q / 2) + (h + p) B(r, Q), with expected backorders
    B(r, Q) = [n2(r) - n2(r + Q)] / Q (n2 the second-order loss of lead-time demand). Equivalent
    to h (r - mu_L + Q/2 + B) + p B + K D / Q, i.e. [K D + integral_r^{r+Q} G(y) dy] / Q with
    G the newsvendor cost. K: currency per order; D: units per year; h: currency per unit per
    year; p: backorder cost, currency per unit backordered per year; mu_L, sd_L: lead-time demand
    (units). Reference: [SS19] sec. 5.2 (eq. 5.7) and sec. 5.2.5 (loss-function form).
    """
    r, Q = _f(r), _f(Q)
    K, D, h, p, mu_L, sd_L = _rq_inputs(K, D, h, p, mu_L, sd_L)
    n2 = _f(normal_demand_second_order_loss(r, mu_L, sd_L)) - _f(
        normal_demand_second_order_loss(r + Q, mu_L, sd_L)
    )
    return _out(K * D / Q + h * (r - mu_L + Q / 2.0) + (h + p) * n2 / Q)


def r_q_reorder_point_for_q(
    Q: ArrayLike, h: ArrayLike, p: ArrayLike, mu_L: ArrayLike, sd_L: ArrayLike
) -> FloatOrArray:
    """Optimal reorder point r(Q) (units) for a given order quantity, normal lead-time demand.

    Solves G(r) = G(r + Q) (equivalently n(r) - n(r + Q) = h Q / (h + p)) by vectorised
    bisection. Reference: [SS19] sec. 5.2 (eq. 5.9); [Z00] sec. 6.2.
    """
    Q, h, p, mu_L, sd_L = np.broadcast_arrays(_f(Q), _f(h), _f(p), _f(mu_L), _f(sd_L))
    target = h * Q / (h + p)

    def _neg_diff(r: FloatArray) -> FloatArray:
        # -(n(r) - n(r+Q)) is increasing in r
        return -(_f(normal_demand_loss(r, mu_L, sd_L)) - _f(normal_demand_loss(r + Q, mu_L, sd_L)))

    lo = mu_L - 12.0 * sd_L - Q - 1.0
    hi = mu_L + 12.0 * sd_L + 1.0
    return _out(_bisect_increasing(_neg_diff, -target, lo, hi))


def r_q_optimal_normal(
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mu_L: ArrayLike,
    sd_L: ArrayLike,
) -> RQResult:
    """Exact optimal continuous-review (r, Q) policy for normal lead-time demand with backorders.

    Minimises the exact cost of :func:`r_q_cost_normal`. For each Q the optimal r(Q) solves
    G(r) = G(r + Q); C(Q) = g(r(Q), Q) is convex [Z00, sec. 6.2] and its derivative is
    [G(r(Q) + Q) - C(Q)] / Q, so Q* is found by bisection on the sign of that derivative. This
    is the exact optimum of the loss-function formulation of [SS19] sec. 5.2.5 (eqs. 5.28-5.29
    without dropping the n2(r + Q) term). Units as in :func:`r_q_cost_normal`. Vectorised over
    all arguments (nested bisection on arrays).
    """
    K, D, h, p, mu_L, sd_L = _rq_inputs(K, D, h, p, mu_L, sd_L)

    def _deriv_sign(Q: FloatArray) -> FloatArray:
        r = _f(r_q_reorder_point_for_q(Q, h, p, mu_L, sd_L))
        g_rq = _f(r_q_cost_normal(r, Q, K, D, h, p, mu_L, sd_L))
        G_top = _f(newsvendor_normal_cost(r + Q, mu_L, sd_L, h, p))
        return G_top - g_rq

    q_lo = np.full(K.shape, 1e-9) * np.maximum(1.0, np.sqrt(2.0 * K * D / h))
    q_hi = 2.0 * _f(eoq_backorders(K, D, h, p).Q) + 2.0 * sd_L + 1.0
    for _ in range(80):
        pos = _deriv_sign(q_hi) >= 0
        if np.all(pos):
            break
        q_hi = np.where(pos, q_hi, 2.0 * q_hi)
    Q = _bisect_increasing(_deriv_sign, np.zeros(K.shape), q_lo, q_hi, iterations=100)
    r = _f(r_q_reorder_point_for_q(Q, h, p, mu_L, sd_L))
    cost = r_q_cost_normal(r, Q, K, D, h, p, mu_L, sd_L)
    return RQResult(_out(r), _out(Q), cost, cost)


def r_q_eoq_ss(
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mu_L: ArrayLike,
    sd_L: ArrayLike,
) -> RQResult:
    """EOQ + safety stock approximation of the (r, Q) policy.

    Q = sqrt(2 K D / h) (EOQ) and r = newsvendor level of lead-time demand,
    r = mu_L + z sd_L with z = Phi^-1(p / (p + h)). ``cost`` is the exact cost of this policy;
    ``model_cost`` is the EOQ cost plus the newsvendor cost, what the approximation believes.
    Reference: [SS19] sec. 5.2.4 (eqs. 3.4 and 5.21), Example 5.5.
    """
    K, D, h, p, mu_L, sd_L = _rq_inputs(K, D, h, p, mu_L, sd_L)
    Q = _f(eoq(K, D, h).Q)
    nv = newsvendor_normal(mu_L, sd_L, h, p)
    r = _f(nv.S)
    model = _f(eoq(K, D, h).cost) + _f(nv.cost)
    return RQResult(_out(r), _out(Q), r_q_cost_normal(r, Q, K, D, h, p, mu_L, sd_L), _out(model))


def r_q_eoqb(
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mu_L: ArrayLike,
    sd_L: ArrayLike,
) -> RQResult:
    """EOQ-with-backorders approximation: Q from :func:`eoq_backorders`, r = r(Q) from
    :func:`r_q_reorder_point_for_q`. ``cost`` and ``model_cost`` are the exact cost of the
    policy. Reference: [SS19] sec. 5.2.3 (eqs. 3.27 and 5.9), Example 5.4."""
    K, D, h, p, mu_L, sd_L = _rq_inputs(K, D, h, p, mu_L, sd_L)
    Q = _f(eoq_backorders(K, D, h, p).Q)
    r = _f(r_q_reorder_point_for_q(Q, h, p, mu_L, sd_L))
    cost = r_q_cost_normal(r, Q, K, D, h, p, mu_L, sd_L)
    return RQResult(_out(r), _out(Q), cost, cost)


def r_q_hadley_whitin(
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mu_L: ArrayLike,
    sd_L: ArrayLike,
    *,
    tol: float = 1e-8,
    max_iter: int = 1000,
) -> RQResult:
    """Hadley-Whitin iterative algorithm (the expected-inventory-level, EIL, approximation).

    Minimises the approximate cost h (r - mu_L + Q/2) + K D / Q + p D n(r) / Q, which treats p
    as a penalty per unit short and ignores backorders in the holding term, by alternating
    r = F^-1(1 - Q h / (p D)) and Q = sqrt(2 D (K + p n(r)) / h), starting from the EOQ, until
    both change by less than ``tol`` (units). ``model_cost`` is that approximate objective;
    ``cost`` the exact cost of the resulting policy under :func:`r_q_cost_normal`.
    Reference: [HW63] sec. 4-7; [SS19] sec. 5.2.2, Algorithm 5.1, Example 5.2.
    """
    K, D, h, p, mu_L, sd_L = _rq_inputs(K, D, h, p, mu_L, sd_L)
    Q = _f(eoq(K, D, h).Q)
    r = np.zeros(K.shape)
    safe_sd = np.where(sd_L > 0, sd_L, 1.0)
    for _ in range(max_iter):
        prob = np.clip(1.0 - Q * h / (p * D), 1e-15, 1.0 - 1e-15)
        r_new = np.where(sd_L > 0, mu_L + safe_sd * special.ndtri(prob), mu_L)
        n = _f(normal_demand_loss(r_new, mu_L, sd_L))
        Q_new = np.sqrt(2.0 * D * (K + p * n) / h)
        done = np.all(np.abs(Q_new - Q) <= tol) and np.all(np.abs(r_new - r) <= tol)
        Q, r = Q_new, r_new
        if done:
            break
    n = _f(normal_demand_loss(r, mu_L, sd_L))
    model = h * (r - mu_L + Q / 2.0) + K * D / Q + p * D * n / Q
    return RQResult(_out(r), _out(Q), r_q_cost_normal(r, Q, K, D, h, p, mu_L, sd_L), _out(model))


def r_q_compare_normal(
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mu_L: ArrayLike,
    sd_L: ArrayLike,
) -> dict[str, dict[str, FloatOrArray]]:
    """Exact optimum and the classic approximations of the (r, Q) policy side by side.

    Returns ``{method: {"r", "Q", "cost", "model_cost", "gap"}}`` for methods ``"exact"``,
    ``"eoqb"``, ``"eoq_ss"`` and ``"hadley_whitin"``, where ``cost`` is the exact expected cost
    per year of each policy and ``gap`` = cost / exact optimum - 1 (relative excess cost).
    On [SS19] Example 5.1 the gaps are about 0.2 % (EOQB), 11.5 % (EOQ+SS) and 18.2 % (EIL /
    Hadley-Whitin). Units as in :func:`r_q_cost_normal`.
    """
    results = {
        "exact": r_q_optimal_normal(K, D, h, p, mu_L, sd_L),
        "eoqb": r_q_eoqb(K, D, h, p, mu_L, sd_L),
        "eoq_ss": r_q_eoq_ss(K, D, h, p, mu_L, sd_L),
        "hadley_whitin": r_q_hadley_whitin(K, D, h, p, mu_L, sd_L),
    }
    best = _f(results["exact"].cost)
    return {
        name: {
            "r": res.r,
            "Q": res.Q,
            "cost": res.cost,
            "model_cost": res.model_cost,
            "gap": _out(_f(res.cost) / best - 1.0),
        }
        for name, res in results.items()
    }


def r_q_cost_poisson(
    r: ArrayLike,
    Q: ArrayLike,
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mean_L: ArrayLike,
) -> FloatOrArray:
    """Exact expected cost per year of an integer (r, Q) policy with Poisson demand.

    Demand is a Poisson process of rate D (units per year); lead-time demand is Poisson(mean_L).
    The inventory position is uniform on r+1, ..., r+Q, so
    g(r, Q) = [K D + sum_{y=r+1}^{r+Q} G(y)] / Q with G(y) = h (y - mean_L) + (h + p) n(y),
    and sum n(y) = n2(r) - n2(r + Q) (discrete second-order loss). h, p: currency per unit per
    year; K: currency per order. Reference: [SS19] sec. 5.3 (Example 5.8); [FZ92].
    """
    r, Q = np.floor(_f(r)), np.floor(_f(Q))
    r, Q, K, D, h, p, lam = np.broadcast_arrays(r, Q, _f(K), _f(D), _f(h), _f(p), _f(mean_L))
    _check_positive("Q", Q)
    sum_y = Q * r + Q * (Q + 1.0) / 2.0  # sum of y over r+1..r+Q
    loss_sum = _f(poisson_second_order_loss(r, lam)) - _f(poisson_second_order_loss(r + Q, lam))
    return _out((K * D + h * (sum_y - Q * lam) + (h + p) * loss_sum) / Q)


def r_q_optimal_poisson(
    K: ArrayLike,
    D: ArrayLike,
    h: ArrayLike,
    p: ArrayLike,
    mean_L: ArrayLike,
) -> RQResult:
    """Exact optimal integer (r, Q) policy for Poisson demand: Federgruen-Zheng (1992) algorithm.

    G(y) (see :func:`r_q_cost_poisson`) is convex, so for each Q the best window {r+1..r+Q}
    holds the Q smallest values of G. Starting from the single point y* = argmin G, the window is
    grown one unit at a time on the side with the smaller next G value; it stops at the first Q
    where that next value is not below the current average cost c(Q), which [FZ92] prove is
    optimal. Returns the smallest optimal Q. Units as in :func:`r_q_cost_poisson`. Loops over the
    broadcast elements.
    """
    K, D, h, p, lam = np.broadcast_arrays(_f(K), _f(D), _f(h), _f(p), _f(mean_L))
    _check_positive("K", K)
    _check_positive("D", D)
    _check_positive("h", h)
    _check_positive("p", p)
    r_out = np.empty(K.shape)
    q_out = np.empty(K.shape)
    c_out = np.empty(K.shape)
    for idx in np.ndindex(K.shape):
        k, d, hh, pp, ll = (float(a[idx]) for a in (K, D, h, p, lam))

        def G(y: int, hh: float = hh, pp: float = pp, ll: float = ll) -> float:
            return float(newsvendor_poisson_cost(y, ll, hh, pp))

        y_star = int(stats.poisson.ppf(pp / (pp + hh), ll))
        lo, hi = y_star, y_star  # window [lo, hi]
        total = G(y_star)
        Q = 1
        cost = (k * d + total) / Q
        g_left, g_right = G(lo - 1), G(hi + 1)
        while True:
            nxt = min(g_left, g_right)
            if nxt >= cost:
                break
            if g_left <= g_right:
                lo -= 1
                g_left = G(lo - 1)
            else:
                hi += 1
                g_right = G(hi + 1)
            total += nxt
            Q += 1
            cost = (k * d + total) / Q
        r_out[idx], q_out[idx], c_out[idx] = lo - 1, Q, cost
    return RQResult(_out(r_out), _out(q_out), _out(c_out), _out(c_out))


# --------------------------------------------------------------------------------------------
# 6. Periodic-review (s, S) policies: Zheng & Federgruen (1991)
# --------------------------------------------------------------------------------------------


class _SSModel:
    """Evaluates the (s, S) cost of [ZF91] for one item with integer demand per period."""

    def __init__(
        self,
        h: float,
        p: float,
        K: float,
        rate: float | None,
        pmf: ArrayLike | None,
        lead_time: int,
    ) -> None:
        if (rate is None) == (pmf is None):
            raise ValueError("give exactly one of rate (Poisson) or pmf")
        if h <= 0 or p <= 0 or K < 0:
            raise ValueError("h and p must be positive and K non-negative")
        if lead_time < 0 or int(lead_time) != lead_time:
            raise ValueError("lead_time must be a non-negative integer number of periods")
        self.h, self.p, self.K = float(h), float(p), float(K)
        self.L = int(lead_time)
        if rate is not None:
            if rate <= 0:
                raise ValueError("rate must be positive")
            self.rate: float | None = float(rate)
            self.pmf_lt: FloatArray | None = None
            self._period_pmf: Callable[[int], FloatArray] = lambda n: stats.poisson.pmf(
                np.arange(n), self.rate
            )
            self.mean_lt = self.rate * (self.L + 1)
        else:
            assert pmf is not None
            f = _as_pmf(pmf)
            if f[0] >= 1.0:
                raise ValueError("demand is zero with probability 1")
            self.rate = None
            self._f = f
            self._period_pmf = lambda n: np.concatenate([f, np.zeros(max(0, n - f.size))])[:n]
            lt = f
            for _ in range(self.L):
                lt = np.convolve(lt, f)
            self.pmf_lt = lt
            self.mean_lt = float(np.arange(lt.size) @ lt)
        self._m = np.zeros(0)
        self._g_cache: dict[int, float] = {}

    def G(self, y: int) -> float:
        """Expected holding and backorder cost at the end of the period in which an order placed
        at inventory position y arrives: h E(y - D_{L+1})+ + p E(D_{L+1} - y)+."""
        if y not in self._g_cache:
            if self.pmf_lt is None:
                loss = float(poisson_loss(y, self.mean_lt))
            else:
                loss = float(discrete_loss(y, self.pmf_lt))
            self._g_cache[y] = self.h * (y - self.mean_lt) + (self.h + self.p) * loss
        return self._g_cache[y]

    def G_many(self, ys: NDArray[np.int64]) -> FloatArray:
        return np.array([self.G(int(y)) for y in ys])

    def m(self, n: int) -> FloatArray:
        """m(0..n-1): expected number of periods the position spends j units below S before it
        first drops by n or more ([ZF91] eq. 2a-2b)."""
        if self._m.size < n:
            size = max(n, 2 * self._m.size, 16)
            f = self._period_pmf(size)
            m = np.zeros(size)
            m[0] = 1.0 / (1.0 - f[0])
            for j in range(1, size):
                m[j] = m[0] * float(f[1 : j + 1] @ m[j - 1 :: -1][:j])
            self._m = m
        return self._m[:n]

    def cost(self, s: int, S: int) -> float:
        """c(s, S) = [K + sum_{j=0}^{S-s-1} m(j) G(S - j)] / M(S - s) ([ZF91] eq. 3)."""
        n = S - s
        if n <= 0:
            raise ValueError("need s < S")
        m = self.m(n)
        g = self.G_many(S - np.arange(n))
        return (self.K + float(m @ g)) / float(m.sum())

    def y_star(self) -> int:
        ratio = self.p / (self.p + self.h)
        if self.pmf_lt is None:
            return int(stats.poisson.ppf(ratio, self.mean_lt))
        cdf = np.cumsum(self.pmf_lt)
        return int(np.searchsorted(cdf, ratio - 1e-12, side="left"))


def ss_cost(
    s: int,
    S: int,
    h: float,
    p: float,
    K: float,
    *,
    rate: float | None = None,
    pmf: ArrayLike | None = None,
    lead_time: int = 0,
) -> float:
    """Long-run average cost per period of a periodic-review (s, S) policy with backorders.

    At each review, if the inventory position is at or below ``s`` an order raises it to ``S``.
    Demand per period is Poisson(``rate``) or has ``pmf`` on 0, 1, 2, ... (units per period);
    orders arrive after ``lead_time`` whole periods. Costs: K per order, h per unit held and p per
    unit backordered at the end of each period (currency per unit per period). Evaluated exactly
    with the renewal formula c(s, S) = [K + sum_j m(j) G(S - j)] / M(S - s) of [ZF91] (eqs. 2-3),
    where G uses demand over L + 1 periods. Reference: [ZF91]; [SS19] sec. 4.6 (eqs. 4.71-4.75).
    """
    model = _SSModel(h, p, K, rate, pmf, lead_time)
    return model.cost(int(s), int(S))


def ss_optimal(
    h: float,
    p: float,
    K: float,
    *,
    rate: float | None = None,
    pmf: ArrayLike | None = None,
    lead_time: int = 0,
) -> SSResult:
    """Optimal periodic-review (s, S) policy for discrete demand: Zheng & Federgruen (1991).

    Model and units as in :func:`ss_cost`. Algorithm (page 659 of [ZF91]): start from
    y* = argmin G with S = y*, lower s until c(s, S) <= G(s); then scan S upward while
    G(S) <= best cost, and whenever c(s, S) improves, raise s while c(s, S) <= G(s + 1). The
    result is an exact optimum, found with about as many cost evaluations as evaluating one
    policy. Reference: [ZF91]; [SS19] sec. 4.6, Algorithm 4.2.
    """
    model = _SSModel(h, p, K, rate, pmf, lead_time)
    y_star = model.y_star()
    S0 = y_star
    s = y_star - 1
    while model.cost(s, S0) > model.G(s):
        s -= 1
    best_S = S0
    best_c = model.cost(s, S0)
    S = S0 + 1
    while model.G(S) <= best_c:
        c = model.cost(s, S)
        if c < best_c:
            best_S = S
            while model.cost(s, best_S) <= model.G(s + 1):
                s += 1
            best_c = model.cost(s, best_S)
        S += 1
    return SSResult(int(s), int(best_S), float(best_c))
