"""Allocation of scarce DC stock across stores by marginal expected sales (or margin).

A DC holds ``A`` units of a SKU, shipped in case packs of ``c`` units. Store ``j`` has a stock
position ``x_j`` (on hand + in transit, units) and a demand ``D_j`` over the coverage horizon (the
time until its next replenishment can arrive). With ``y`` units available the store sells
``min(D_j, y)`` in expectation, so the expected sales it gains from the ``q``-th additional case is::

    v_j(q) = E[min(D_j, x_j + c q)] - E[min(D_j, x_j + c (q - 1))]
           = sum_{u = x_j + c (q-1) + 1}^{x_j + c q} P(D_j >= u)          (units)

and ``m_j v_j(q)`` in margin (``m_j`` = unit margin or price). Because ``P(D >= u)`` is
non-increasing in ``u``, ``v_j(q)`` is non-increasing in ``q`` (expected sales are concave in
stock), so the separable concave knapsack ``max sum_j E[min(D_j, x_j + c a_j)]`` subject to
``sum_j a_j <= N`` is solved exactly by the greedy rule "give the next case to the store where it
adds most" (Gross 1956; Fox 1966, "Discrete optimization via marginal analysis", Management
Science 13(3); Ibaraki & Katoh 1988, "Resource Allocation Problems", ch. 4). The greedy result is
the same as taking, per SKU, the ``N`` largest ``v_j(q)`` over all candidate cases of all stores:
this module builds every candidate case as one flat array and ranks it per SKU with stable sorts,
with no Python loop over SKUs or stores.

Demand distributions are negative binomial with the given mean and variance (Poisson when the
variance does not exceed the mean; the same parameterisation as
:func:`ml.forecasting.distributions.count_cdf`), or an empirical distribution given by sample
paths. For the negative binomial ``E[min(D, y)] = mu - L(y)`` uses the closed-form loss function::

    L(y) = E[(D - y)^+] = (mu - y) P(D > y) + mu (1 + k y) P(D = y)

with ``k = (var - mu) / mu^2`` the excess dispersion (``k = 0``: the Poisson loss function,
Zipkin 2000, "Foundations of Inventory Management", sec. 6.2.2; the NB form follows from
``j P(D=j) = (1-p)/p (j - 1 + r) P(D=j-1)``). The candidate grid of a store is evaluated exactly
once at its current position and then walked unit by unit with the Panjer recursion, so a
candidate case costs a few multiplications per unit instead of an incomplete beta function.

The proportional fair-share rule (each store gets a share of the available cases proportional to
its need ``max(target - position, 0)``, whole cases by largest remainder; Silver, Pyke & Thomas
2017, "Inventory and Production Management in Supply Chains", sec. 14.4) is computed on the same
data for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from scipy import special

Objective = Literal["sales", "margin"]

#: Methods reported in the long allocation frame.
METHODS: tuple[str, str] = ("marginal", "fair_share")


# --------------------------------------------------------------------------- demand models


class DemandModel(Protocol):
    """Demand over the coverage horizon for ``n`` store-SKU pairs, evaluated at flat index arrays."""

    def expected_sales(self, stock: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``E[min(D_idx, stock)]`` in units, elementwise over ``stock`` and pair indices ``idx``."""
        ...

    def survival(self, stock: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``P(D_idx >= stock)``: expected extra sales (units) of the unit that raises stock to it."""
        ...

    def take(self, idx: np.ndarray) -> DemandModel:
        """The model restricted to the pairs ``idx`` (in that order)."""
        ...

    def expected_sales_grid(
        self, start: np.ndarray, step: np.ndarray, count: np.ndarray
    ) -> np.ndarray:
        """``E[min(D_j, start_j + step_j q)]`` for ``q = 0..count_j - 1``, flat, pair-major."""
        ...


def grid_points(
    start: np.ndarray, step: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat pair-major grid ``(pair, q, start + step q)`` with ``count_j`` points for pair ``j``."""
    count = np.asarray(count, dtype=np.int64)
    first = np.cumsum(count) - count
    pair = np.repeat(np.arange(count.size), count)
    q = np.arange(int(count.sum())) - first[pair]
    return pair, q, np.asarray(start, dtype=float)[pair] + np.asarray(step, dtype=float)[pair] * q


@dataclass(frozen=True)
class NegBinDemand:
    """Negative-binomial demand per pair from mean and variance (units over the horizon).

    ``var <= mean`` gives the Poisson. The NB has ``r = 1/k`` and success probability
    ``p = mean/var`` with ``k = (var - mean)/mean^2``; ``1 - p = k mean / (1 + k mean)`` is formed
    directly so that nearly-Poisson pairs keep full precision.
    """

    mean: np.ndarray
    var: np.ndarray

    def __post_init__(self) -> None:
        mu = np.maximum(np.nan_to_num(np.asarray(self.mean, dtype=float)), 0.0)
        var = np.maximum(np.nan_to_num(np.asarray(self.var, dtype=float)), mu)
        object.__setattr__(self, "mean", mu)
        object.__setattr__(self, "var", var)

    def take(self, idx: np.ndarray) -> NegBinDemand:
        """The model restricted to the pairs ``idx``."""
        return NegBinDemand(self.mean[idx], self.var[idx])

    def _tail_pmf(self, y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``P(D > y)`` and ``P(D = y)`` for integer ``y >= 0``."""
        mu = self.mean[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(mu > 0, (self.var[idx] - mu) / np.maximum(mu, 1e-300) ** 2, 0.0)
        nb = k > 1e-9
        tail = np.zeros(y.shape)
        pmf = np.zeros(y.shape)
        # Poisson pairs (and the point mass at zero)
        po = ~nb & (mu > 0)
        yp, mp = y[po], mu[po]
        tail[po] = special.pdtrc(yp, mp)
        pmf[po] = np.exp(special.xlogy(yp, mp) - mp - special.gammaln(yp + 1.0))
        zero = mu <= 0
        pmf[zero] = (y[zero] == 0).astype(float)
        # negative binomial: P(D > y) = I_{1-p}(y + 1, r)
        yn, mn, kn = y[nb], mu[nb], k[nb]
        r = 1.0 / kn
        km = kn * mn
        q = km / (1.0 + km)  # 1 - p
        tail[nb] = special.betainc(yn + 1.0, r, q)
        log_p = -np.log1p(km)
        with np.errstate(divide="ignore"):
            log_binom = np.where(yn > 0, -special.betaln(np.maximum(yn, 1.0), r) - np.log(yn), 0.0)
        pmf[nb] = np.exp(log_binom + r * log_p + yn * np.log(q))
        return tail, pmf

    def expected_sales(self, stock: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``E[min(D, stock)] = mu - L(stock)`` (units), closed form, stock clipped at 0."""
        y = np.maximum(np.floor(np.asarray(stock, dtype=float)), 0.0)
        idx = np.asarray(idx)
        mu = self.mean[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(mu > 0, (self.var[idx] - mu) / np.maximum(mu, 1e-300) ** 2, 0.0)
        tail, pmf = self._tail_pmf(y, idx)
        loss = (mu - y) * tail + mu * (1.0 + k * y) * pmf
        return np.clip(mu - loss, 0.0, np.minimum(mu, y))

    def survival(self, stock: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``P(D >= stock)``; 1 for ``stock <= 0``."""
        y = np.floor(np.asarray(stock, dtype=float))
        idx = np.asarray(idx)
        tail, _ = self._tail_pmf(np.maximum(y - 1.0, 0.0), idx)
        return np.where(y <= 0, 1.0, tail)

    def expected_sales_grid(
        self, start: np.ndarray, step: np.ndarray, count: np.ndarray
    ) -> np.ndarray:
        """``E[min(D_j, start_j + step_j q)]``, ``q = 0..count_j - 1``, flat and pair-major (units).

        The exact tail and pmf are evaluated once per pair, at ``start``; the grid is then walked
        one unit at a time with the Panjer recursion of the (a, b, 0) class, ``P(D = y) =
        P(D = y-1) (a + b / y)`` with ``b = (r - 1) a`` and ``a = k mu / (1 + k mu)`` (NB;
        Poisson: ``a = 0, b = mu``; Panjer 1981, ASTIN Bulletin 12(1)), and ``P(D > y) = P(D > y-1)
        - P(D = y)``. A unit step costs a few multiplications instead of an incomplete beta
        function. Pairs whose starting pmf underflows (far left tail of a very large mean, where
        the recursion would stay at 0) are evaluated exactly at every point instead.
        """
        start = np.maximum(np.floor(np.asarray(start, dtype=float)), 0.0)
        step = np.asarray(step, dtype=np.int64)
        count = np.asarray(count, dtype=np.int64)
        n = count.size
        first = np.cumsum(count) - count
        out = np.empty(int(count.sum()))
        mu = self.mean
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(mu > 0, (self.var - mu) / np.maximum(mu, 1e-300) ** 2, 0.0)
        k = np.where(k > 1e-9, k, 0.0)
        a = k * mu / (1.0 + k * mu)
        b = mu / (1.0 + k * mu) - a  # (r - 1) a for the NB, mu for the Poisson
        tail, pmf = self._tail_pmf(start, np.arange(n))

        def es(y: np.ndarray, g: np.ndarray, f: np.ndarray, j: np.ndarray) -> np.ndarray:
            loss = (mu[j] - y) * np.maximum(g, 0.0) + mu[j] * (1.0 + k[j] * y) * f
            return np.clip(mu[j] - loss, 0.0, np.minimum(mu[j], y))

        has = count > 0
        out[first[has]] = es(start[has], tail[has], pmf[has], np.flatnonzero(has))
        exact = (count > 1) & (mu > 0) & (pmf < 1e-280) & (tail > 0.5)
        walk = (count > 1) & ~exact
        if exact.any():
            ej = np.flatnonzero(exact)
            pair, q, y = grid_points(start[ej], step[ej], count[ej])
            sel = q > 0
            out[first[ej][pair[sel]] + q[sel]] = self.expected_sales(y[sel], ej[pair[sel]])
        # one pass per distinct step (case pack) so the inner unit loop needs no masks; pairs in
        # decreasing count so the pairs still walking at layer q are a prefix
        for c in np.unique(step[walk]):
            j = np.flatnonzero(walk & (step == c))
            j = j[np.argsort(-count[j], kind="stable")]
            y, g, f = start[j].copy(), tail[j].copy(), pmf[j].copy()
            aj, bj = a[j], b[j]
            top = int(count[j[0]])
            n_at = np.searchsorted(-count[j], -np.arange(top), side="left")  # #(count > q)
            for q in range(1, top):
                m = int(n_at[q])
                for _ in range(int(c)):
                    y[:m] += 1.0
                    f[:m] *= aj[:m] + bj[:m] / y[:m]
                    g[:m] -= f[:m]
                out[first[j[:m]] + q] = es(y[:m], g[:m], f[:m], j[:m])
        return out


@dataclass(frozen=True)
class SampleDemand:
    """Empirical demand per pair from sample paths ``samples[n_pairs, n_draws]`` (units, >= 0).

    Each row is an equally weighted sample of the horizon demand (e.g. summed
    :func:`ml.forecasting.distributions.sample_paths`, which keep the correlation across periods
    that adding per-period quantiles would lose). ``E[min(D, y)]`` is
    ``(sum_{d_i < y} d_i + y #{d_i >= y}) / n_draws``, evaluated for all points at once with one
    ``searchsorted`` over the row-offset sorted samples.
    """

    samples: np.ndarray
    _csum: np.ndarray = field(init=False, repr=False)
    _flat: np.ndarray = field(init=False, repr=False)
    _width: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        s = np.sort(np.maximum(np.asarray(self.samples, dtype=float), 0.0), axis=1)
        n = s.shape[0]
        width = float(s.max(initial=0.0)) + 2.0
        object.__setattr__(self, "samples", s)
        object.__setattr__(self, "_csum", np.concatenate([np.zeros((n, 1)), s.cumsum(1)], 1))
        object.__setattr__(self, "_flat", (s + width * np.arange(n)[:, None]).ravel())
        object.__setattr__(self, "_width", width)

    def take(self, idx: np.ndarray) -> SampleDemand:
        """The model restricted to the pairs ``idx``."""
        return SampleDemand(self.samples[idx])

    def _count_below(self, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``#{draws < y}`` in row ``idx``: rows are offset by ``width`` so one search serves all."""
        key = np.clip(y, 0.0, self._width - 1.0) + self._width * idx
        return np.searchsorted(self._flat, key, side="left") - self.samples.shape[1] * idx

    def expected_sales(self, stock: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``E[min(D, stock)]`` (units) under the empirical distribution, stock clipped at 0."""
        y = np.maximum(np.asarray(stock, dtype=float), 0.0)
        idx = np.asarray(idx)
        m = self.samples.shape[1]
        below = self._count_below(y, idx)
        return (self._csum[idx, below] + y * (m - below)) / m

    def survival(self, stock: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``P(D >= stock)`` under the empirical distribution."""
        y = np.asarray(stock, dtype=float)
        idx = np.asarray(idx)
        m = self.samples.shape[1]
        return np.where(y <= 0, 1.0, (m - self._count_below(y, idx)) / m)

    def expected_sales_grid(
        self, start: np.ndarray, step: np.ndarray, count: np.ndarray
    ) -> np.ndarray:
        """``E[min(D_j, start_j + step_j q)]``, ``q = 0..count_j - 1``, flat and pair-major."""
        pair, _, y = grid_points(np.maximum(start, 0.0), step, count)
        return self.expected_sales(y, pair)


def expected_sales_nb(stock: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``E[min(D, stock)]`` (units) for NB/Poisson demand with ``mean``/``var`` (broadcasting).

    Expected sales of a store holding ``stock`` units over the horizon under lost sales; the
    complement ``mean - E[min(D, stock)]`` is the expected lost sales (the loss function).
    """
    s, mu, v = np.broadcast_arrays(
        np.asarray(stock, dtype=float), np.asarray(mean, dtype=float), np.asarray(var, dtype=float)
    )
    model = NegBinDemand(mu.ravel(), v.ravel())
    return model.expected_sales(s.ravel(), np.arange(s.size)).reshape(s.shape)


# --------------------------------------------------------------------------- limits


def case_limits(
    position: np.ndarray,
    case_pack: np.ndarray,
    target: np.ndarray,
    presentation_min: np.ndarray | None = None,
    capacity: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: need (units), the most cases a store may get, and its presentation cases.

    ``need = max(max(target, presentation_min) - position, 0)`` units; the store may take
    ``ceil(need / c)`` cases (a case that crosses the target is still sent whole), but never more
    than fit under ``capacity`` (a bound on the stock position after allocation:
    ``floor((capacity - position) / c)``). Presentation cases ``ceil((presentation_min -
    position)^+ / c)`` are the cases that bring the store to its display minimum, within the same
    bounds. Returns ``(need_units, max_cases, presentation_cases)``; the cases are int64.
    """
    x = np.asarray(position, dtype=float)
    c = np.asarray(case_pack, dtype=float)
    tgt = np.asarray(target, dtype=float)
    pm = np.zeros_like(x) if presentation_min is None else np.asarray(presentation_min, float)
    tgt = np.maximum(tgt, pm)
    need = np.maximum(tgt - x, 0.0)
    max_cases = np.ceil(need / c)
    if capacity is not None:
        room = np.floor(np.maximum(np.asarray(capacity, dtype=float) - x, 0.0) / c)
        max_cases = np.minimum(max_cases, room)
    max_cases = np.nan_to_num(max_cases, nan=0.0).astype(np.int64)
    pres = np.minimum(np.ceil(np.maximum(pm - x, 0.0) / c), max_cases).astype(np.int64)
    return need, max_cases, pres


# --------------------------------------------------------------------------- allocation rules


def _rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal consecutive ``keys``."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lengths = np.diff(np.r_[start, n])
    return np.arange(n) - np.repeat(start, lengths)


def _small_codes(codes: np.ndarray) -> np.ndarray:
    """Cast non-negative integer codes to uint16 when they fit (numpy then radix-sorts them)."""
    return codes.astype(np.uint16) if codes.size and codes.max() < 65536 else codes


@dataclass
class MarginalAllocation:
    """Greedy (marginal-value) allocation of one batch of pairs.

    ``cases`` per pair; ``expected_sales`` = ``E[min(D, x + c cases)]`` (units, read off the
    evaluated grid, so the allocation costs no extra distribution evaluation).
    """

    cases: np.ndarray
    expected_sales: np.ndarray


def marginal_allocation(
    sku: np.ndarray,
    available_cases: np.ndarray,
    case_pack: np.ndarray,
    position: np.ndarray,
    max_cases: np.ndarray,
    demand: DemandModel,
    *,
    weight: np.ndarray | None = None,
    presentation_cases: np.ndarray | None = None,
    priority: np.ndarray | None = None,
) -> MarginalAllocation:
    """Allocate each SKU's ``available_cases`` to its stores by decreasing marginal value.

    ``sku``: integer code per pair in ``[0, n_sku)``; ``available_cases`` and ``case_pack``
    (units/case) per SKU code; ``position`` (units), ``max_cases`` (from :func:`case_limits`),
    ``weight`` (unit margin; ``None`` = expected units) per pair.

    For every pair the candidate cases ``q = 1..K`` with ``K = min(max_cases, available_cases)``
    get the value ``w (E[min(D, x + c q)] - E[min(D, x + c (q-1))])``, evaluated on one flat grid
    of ``sum(K + 1)`` points. SKUs whose candidates do not exceed their stock get every candidate;
    for the others the candidates are ranked per SKU and the top ``available_cases`` kept. The
    ranking is the order in which the greedy rule would ship cases:

    1. presentation cases (``q <= presentation_cases``) before all others, in ascending
       ``priority`` and then by value (a store is filled to its display minimum before any store
       gets stock beyond it, while stock allows);
    2. by decreasing value;
    3. ties by case number ``q`` and then by pair order (identical stores take turns).

    Because values never increase with ``q`` within a store, the kept candidates of a store are
    always ``1..a`` and the result is the exact optimum of the separable concave allocation
    problem (Fox 1966) when there are no presentation minima. The allocation is ``bincount`` of
    the kept candidates, so rounding noise in the values cannot split a store's prefix.
    """
    sku = np.asarray(sku, dtype=np.int64)
    n = sku.size
    c = np.asarray(case_pack, dtype=np.int64)[sku]
    avail = np.maximum(np.asarray(available_cases, dtype=np.int64), 0)
    k = np.clip(np.asarray(max_cases, dtype=np.int64), 0, avail[sku])
    x = np.maximum(np.asarray(position, dtype=float), 0.0)

    n_pts = k + 1
    first = np.cumsum(n_pts) - n_pts
    pair = np.repeat(np.arange(n), n_pts)
    q = np.arange(int(n_pts.sum())) - first[pair]
    es = demand.expected_sales_grid(x, c, n_pts)

    cases = k.copy()
    total = np.bincount(sku, weights=k, minlength=avail.size)
    scarce_sku = total > avail
    cand = (q > 0) & scarce_sku[sku[pair]]
    if cand.any():
        ci = np.flatnonzero(cand)
        cpair, cq = pair[ci], q[ci]
        value = es[ci] - es[ci - 1]
        if weight is not None:
            value = value * np.asarray(weight, dtype=float)[cpair]
        csku = sku[cpair]
        local = np.unique(csku, return_inverse=True)[1]
        if presentation_cases is not None:
            phase = (cq > np.asarray(presentation_cases, dtype=np.int64)[cpair]).astype(np.int64)
        else:
            phase = np.zeros(ci.size, dtype=np.int64)
        group = _small_codes(2 * local + phase)
        # least significant key first; every sort is stable
        order = np.argsort(_small_codes(cq), kind="stable")
        order = order[np.argsort(-value[order], kind="stable")]
        if presentation_cases is not None and priority is not None:
            prio = np.where(phase == 0, np.asarray(priority, dtype=float)[cpair], 0.0)
            order = order[np.argsort(prio[order], kind="stable")]
        order = order[np.argsort(group[order], kind="stable")]
        sorted_sku = csku[order]
        keep = _rank_in_runs(sorted_sku) < avail[sorted_sku]
        got = np.bincount(cpair[order][keep], minlength=n)
        scarce_pair = scarce_sku[sku]
        cases[scarce_pair] = got[scarce_pair]
    return MarginalAllocation(cases=cases, expected_sales=es[first + cases])


def fair_share_allocation(
    sku: np.ndarray,
    available_cases: np.ndarray,
    need_units: np.ndarray,
    max_cases: np.ndarray,
    case_pack: np.ndarray,
    *,
    presentation_cases: np.ndarray | None = None,
) -> np.ndarray:
    """Proportional fair share in whole cases (largest-remainder rounding), per pair.

    When a SKU's stores can take all its cases (``sum(max_cases) <= available``) each gets
    ``max_cases``. Otherwise store ``j``'s quota is ``N w_j / sum(w)`` cases with ``w_j`` its need
    in units (capped at what ``max_cases`` allows); it gets ``floor(quota)`` (at most
    ``max_cases``) and the remaining cases go one each to the stores with the largest fractional
    remainders (Hamilton's method), repeated while cases remain and stores have room. Ties go to
    the earlier pair. With ``presentation_cases`` the same rule first shares the stock over the
    presentation cases (need = presentation cases in units) and then shares what is left over
    the remaining need, so both rules honour presentation minima the same way. Returns int64
    cases.
    """
    sku = np.asarray(sku, dtype=np.int64)
    avail = np.maximum(np.asarray(available_cases, dtype=np.int64), 0)
    cap = np.maximum(np.asarray(max_cases, dtype=np.int64), 0)
    c = np.asarray(case_pack, dtype=np.int64)[sku]
    need = np.minimum(np.asarray(need_units, dtype=float), cap * c)
    cap = np.minimum(cap, avail[sku])
    if presentation_cases is None:
        return _proportional(sku, avail, need, cap, c)
    pres = np.minimum(np.asarray(presentation_cases, dtype=np.int64), cap)
    first = _proportional(sku, avail, (pres * c).astype(float), pres, c)
    left = avail - np.bincount(sku, weights=first, minlength=avail.size).astype(np.int64)
    rest = _proportional(sku, left, need - first * c, cap - first, c)
    return first + rest


def _proportional(
    sku: np.ndarray, avail: np.ndarray, need: np.ndarray, cap: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Largest-remainder proportional shares of ``avail[sku]`` cases, weights ``need``, caps ``cap``."""
    w = np.maximum(need, 0.0)
    total_cap = np.bincount(sku, weights=cap, minlength=avail.size)
    scarce = (total_cap > avail)[sku]
    w_sum = np.bincount(sku, weights=w, minlength=avail.size)[sku]
    with np.errstate(divide="ignore", invalid="ignore"):
        quota = np.where(w_sum > 0, avail[sku] * w / w_sum, 0.0)
    whole = np.floor(quota + 1e-9)
    alloc = np.where(scarce, np.minimum(whole.astype(np.int64), cap), cap)
    rem = quota - whole
    left = avail - np.bincount(sku, weights=alloc, minlength=avail.size).astype(np.int64)
    while True:
        eligible = scarce & (alloc < cap) & (left[sku] > 0)
        if not eligible.any():
            break
        ei = np.flatnonzero(eligible)
        order = np.argsort(-rem[ei], kind="stable")
        order = order[np.argsort(_small_codes(sku[ei][order]), kind="stable")]
        es = sku[ei][order]
        give = _rank_in_runs(es) < left[es]
        gi = ei[order][give]
        alloc[gi] += 1
        rem[gi] -= 1.0
        left -= np.bincount(sku[gi], minlength=avail.size)
    return alloc


# --------------------------------------------------------------------------- frame level


@dataclass
class AllocationResult:
    """``detail``: one row per (sku, location_id, method); ``summary``: one row per SKU."""

    detail: pd.DataFrame
    summary: pd.DataFrame


def _column(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name in frame.columns:
        return frame[name].to_numpy(dtype=float)
    return np.full(len(frame), default, dtype=float)


def allocate(
    stores: pd.DataFrame,
    dc: pd.DataFrame,
    *,
    objective: Objective = "sales",
    demand_samples: np.ndarray | None = None,
    chunk_skus: int = 2000,
) -> AllocationResult:
    """Marginal-value and fair-share allocation of DC stock to stores, with expected outcomes.

    ``stores`` (one row per SKU-store): ``sku``, ``location_id``, ``demand_mean`` and
    ``demand_var`` (demand over the coverage horizon, units), ``position_units`` (on hand + in
    transit); optional ``target_units`` (order-up-to level that defines need; default
    ``ceil(demand_mean)``), ``presentation_min_units`` (display minimum, default 0),
    ``capacity_units`` (maximum stock position after allocation, default unbounded),
    ``unit_margin`` (margin or price per unit; required for ``objective="margin"``), ``priority``
    (lower = earlier when presentation minima compete for stock, default 0).
    ``dc`` (one row per SKU): ``sku``, ``available_units``; optional ``case_pack`` (units per case,
    default 1). Leftover units that do not fill a case stay at the DC.

    ``objective="sales"`` ranks cases by expected units sold, ``"margin"`` by expected margin.
    ``demand_samples[n_stores_rows, n_draws]`` (row-aligned with ``stores``) replaces the NB
    model by the empirical distribution of the samples. SKUs are processed ``chunk_skus`` at a
    time to bound memory; nothing loops over SKUs or stores. Ties (equal marginal values, equal
    fair-share remainders) go to the store with the smaller ``location_id``.

    ``detail`` columns: ``sku, location_id, method ("marginal" | "fair_share"), alloc_units,
    alloc_cases, expected_sales`` (``E[min(D, position + alloc)]``, units), ``expected_margin``
    (``unit_margin * expected_sales``; NaN without ``unit_margin``), ``marginal_value_last_unit``
    (``P(D >= position + alloc)``: expected units sold by the last unit shipped; NaN when nothing
    is shipped). ``summary`` columns: ``sku, available_units, case_pack, need_units,
    alloc_units_marginal, alloc_units_fair_share, expected_sales_marginal,
    expected_sales_fair_share, expected_margin_marginal, expected_margin_fair_share,
    uplift_sales_units, uplift_margin, scarce`` (need in cases exceeds available cases).
    """
    required = {"sku", "location_id", "demand_mean", "demand_var", "position_units"}
    missing = required - set(stores.columns)
    if missing:
        raise ValueError(f"stores is missing columns {sorted(missing)}")
    if not {"sku", "available_units"} <= set(dc.columns):
        raise ValueError("dc needs columns ['sku', 'available_units']")
    if objective not in ("sales", "margin"):
        raise ValueError(f"objective must be 'sales' or 'margin', not {objective!r}")
    has_margin = "unit_margin" in stores.columns
    if objective == "margin" and not has_margin:
        raise ValueError("objective='margin' needs a unit_margin column")
    if dc["sku"].duplicated().any():
        raise ValueError("dc has duplicate skus")

    codes, uniques = pd.factorize(pd.concat([dc["sku"], stores["sku"]], ignore_index=True))
    n_sku = len(uniques)
    dc_code = codes[: len(dc)]
    st_code = codes[len(dc) :].astype(np.int64)
    avail_units = np.zeros(n_sku)
    avail_units[dc_code] = dc["available_units"].to_numpy(dtype=float)
    pack = np.ones(n_sku, dtype=np.int64)
    if "case_pack" in dc.columns:
        pack[dc_code] = dc["case_pack"].to_numpy(dtype=np.int64)
    if (pack < 1).any():
        raise ValueError("case_pack must be >= 1")
    avail_cases = np.floor(np.maximum(avail_units, 0.0) / pack).astype(np.int64)

    mean = stores["demand_mean"].to_numpy(dtype=float)
    position = np.rint(stores["position_units"].to_numpy(dtype=float))
    target = (
        stores["target_units"].to_numpy(dtype=float)
        if "target_units" in stores.columns
        else np.ceil(mean)
    )
    pres_min = (
        stores["presentation_min_units"].to_numpy(dtype=float)
        if "presentation_min_units" in stores.columns
        else None
    )
    capacity = (
        stores["capacity_units"].to_numpy(dtype=float)
        if "capacity_units" in stores.columns
        else None
    )
    margin = _column(stores, "unit_margin", np.nan)
    priority = stores["priority"].to_numpy(dtype=float) if "priority" in stores.columns else None
    need, max_cases, pres_cases = case_limits(position, pack[st_code], target, pres_min, capacity)
    demand: DemandModel = (
        SampleDemand(demand_samples)
        if demand_samples is not None
        else NegBinDemand(mean, stores["demand_var"].to_numpy(dtype=float))
    )

    n = len(stores)
    g_cases = np.zeros(n, dtype=np.int64)
    f_cases = np.zeros(n, dtype=np.int64)
    g_es = np.zeros(n)
    # pairs in (sku, location_id) order: ties then go to the smaller location_id whatever the
    # row order of ``stores``
    loc_code = pd.factorize(stores["location_id"], sort=True)[0]
    order = np.lexsort((loc_code, st_code))
    sorted_codes = st_code[order]
    bounds = np.searchsorted(sorted_codes, np.arange(0, n_sku + chunk_skus, chunk_skus))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi <= lo:
            continue
        idx = order[lo:hi]
        res = marginal_allocation(
            st_code[idx],
            avail_cases,
            pack,
            position[idx],
            max_cases[idx],
            demand.take(idx),
            weight=margin[idx] if objective == "margin" else None,
            presentation_cases=pres_cases[idx] if pres_min is not None else None,
            priority=priority[idx] if priority is not None else None,
        )
        g_cases[idx] = res.cases
        g_es[idx] = res.expected_sales
        f_cases[idx] = fair_share_allocation(
            st_code[idx],
            avail_cases,
            need[idx],
            max_cases[idx],
            pack,
            presentation_cases=pres_cases[idx] if pres_min is not None else None,
        )

    allpairs = np.arange(n)
    units = {"marginal": g_cases * pack[st_code], "fair_share": f_cases * pack[st_code]}
    es = {
        "marginal": g_es,
        "fair_share": demand.expected_sales(position + units["fair_share"], allpairs),
    }
    blocks = []
    for method in METHODS:
        u = units[method]
        last = np.where(u > 0, demand.survival(position + u, allpairs), np.nan)
        blocks.append(
            pd.DataFrame(
                {
                    "sku": stores["sku"].to_numpy(),
                    "location_id": stores["location_id"].to_numpy(),
                    "method": method,
                    "alloc_units": u.astype(np.int64),
                    "alloc_cases": (u // pack[st_code]).astype(np.int64),
                    "expected_sales": es[method],
                    "expected_margin": es[method] * margin,
                    "marginal_value_last_unit": last,
                }
            )
        )
    detail = pd.concat(blocks, ignore_index=True)

    def per_sku(values: np.ndarray) -> np.ndarray:
        return np.bincount(st_code, weights=values, minlength=n_sku)

    margin0 = np.nan_to_num(margin)
    summary = pd.DataFrame(
        {
            "sku": uniques,
            "available_units": avail_units,
            "case_pack": pack,
            "need_units": per_sku(need),
            "alloc_units_marginal": per_sku(units["marginal"]).astype(np.int64),
            "alloc_units_fair_share": per_sku(units["fair_share"]).astype(np.int64),
            "expected_sales_marginal": per_sku(es["marginal"]),
            "expected_sales_fair_share": per_sku(es["fair_share"]),
            "expected_margin_marginal": per_sku(es["marginal"] * margin0),
            "expected_margin_fair_share": per_sku(es["fair_share"] * margin0),
            "scarce": per_sku(max_cases) > avail_cases,
        }
    )
    if not has_margin:
        summary[["expected_margin_marginal", "expected_margin_fair_share"]] = np.nan
    summary["uplift_sales_units"] = (
        summary["expected_sales_marginal"] - summary["expected_sales_fair_share"]
    )
    summary["uplift_margin"] = (
        summary["expected_margin_marginal"] - summary["expected_margin_fair_share"]
    )
    return AllocationResult(detail=detail, summary=summary)
