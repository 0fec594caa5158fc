"""Tests of ml.inventory.policy against published values and vectorised Monte Carlo simulation.

Published values come from:

* [SS19] Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed. (2019): the example and
  problem numbers are cited per test. The numeric answers are those quoted by the textbook's
  companion library stockpyl (github.com/LarrySnyder/stockpyl, tests/test_eoq.py,
  test_newsvendor.py, test_rq.py, test_ss.py), which reproduces the book's examples.
* [ZF91] Zheng & Federgruen, Operations Research 39(4), 1991, table of optimal (s, S) policies
  for Poisson demand with h = 1, p = 9, K = 64 (as tabulated in stockpyl tests/test_ss.py and in
  gwr3n/inventoryanalytics zhengfedergruen1991_test.py; the penalty is p = 9, not 10).
* Heizer & Render, *Operations Management*, "Wohl's Discount Stores" all-units quantity discount
  example (D = 5000, K = 49, i = 20 %, prices 5.00 / 4.80 / 4.75): Q* = 1000, cost 24,725.

Monte Carlo tests simulate many independent replications in parallel (numpy arrays across
replications, a Python loop only over time) and use a tolerance of 4.5 standard errors of the
mean across replications, so a correct implementation fails with probability below 1e-5 while
the errors the tests guard against (wrong protection interval, missing lead-time term, wrong
renewal weights) move the estimates by many standard errors.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import integrate, stats

from ml.inventory import policy as P

# --------------------------------------------------------------------------------------------
# Loss functions
# --------------------------------------------------------------------------------------------


def test_normal_loss_functions_match_numerical_integration() -> None:
    z = np.array([-3.0, -1.0, 0.0, 0.5, 1.28, 2.5])
    loss = P.normal_loss(z)
    second = P.normal_second_order_loss(z)
    for zi, li, l2i in zip(z, loss, second, strict=True):
        ref = integrate.quad(lambda x, zi=zi: (x - zi) * stats.norm.pdf(x), zi, np.inf)[0]
        ref2 = integrate.quad(lambda x, zi=zi: 0.5 * (x - zi) ** 2 * stats.norm.pdf(x), zi, 40)[0]
        assert li == pytest.approx(ref, abs=1e-10)
        assert l2i == pytest.approx(ref2, abs=1e-10)
    # Tabulated value: L(0) = phi(0) = 0.398942; L2(0) = 1/4.
    assert P.normal_loss(0.0) == pytest.approx(0.3989422804, abs=1e-10)
    assert P.normal_second_order_loss(0.0) == pytest.approx(0.25, abs=1e-12)
    assert P.normal_complementary_loss(1.0) == pytest.approx(1.0 + P.normal_loss(1.0))
    # Units version and the sd = 0 limit.
    assert P.normal_demand_loss(110.0, 100.0, 20.0) == pytest.approx(20 * P.normal_loss(0.5))
    assert P.normal_demand_loss([90.0, 110.0], 100.0, 0.0) == pytest.approx([10.0, 0.0])
    assert P.normal_demand_second_order_loss(90.0, 100.0, 0.0) == pytest.approx(50.0)


@pytest.mark.parametrize("lam", [0.3, 4.0, 37.5])
def test_poisson_loss_functions_match_direct_sums(lam: float) -> None:
    d = np.arange(0, 400)
    f = stats.poisson.pmf(d, lam)
    for s in range(-3, int(lam * 3) + 5):
        n_ref = np.sum(np.maximum(d - s, 0) * f)
        n2_ref = 0.5 * np.sum(np.maximum(d - s, 0) * np.maximum(d - s - 1, 0) * f)
        assert P.poisson_loss(s, lam) == pytest.approx(n_ref, abs=1e-10)
        assert P.poisson_second_order_loss(s, lam) == pytest.approx(n2_ref, abs=1e-9)
        assert P.poisson_complementary_loss(s, lam) == pytest.approx(
            np.sum(np.maximum(s - d, 0) * f), abs=1e-10
        )
        # n2(s) - n2(s+1) = n(s+1): the identity used by the Poisson (r, Q) cost.
        assert P.poisson_second_order_loss(s, lam) - P.poisson_second_order_loss(
            s + 1, lam
        ) == pytest.approx(P.poisson_loss(s + 1, lam), abs=1e-9)
    # Non-integer argument: exact piecewise-linear loss.
    assert P.poisson_loss(2.25, lam) == pytest.approx(
        np.sum(np.maximum(d - 2.25, 0) * f), abs=1e-10
    )


def test_discrete_loss_functions_agree_with_poisson_and_vectorise() -> None:
    lam = 6.0
    pmf = stats.poisson.pmf(np.arange(80), lam)
    pmf = pmf / pmf.sum()
    s = np.arange(-2, 20)
    assert P.discrete_loss(s, pmf) == pytest.approx(P.poisson_loss(s, lam), abs=1e-12)
    assert P.discrete_second_order_loss(s, pmf) == pytest.approx(
        P.poisson_second_order_loss(s, lam), abs=1e-10
    )
    assert P.discrete_complementary_loss(s, pmf) == pytest.approx(
        P.poisson_complementary_loss(s, lam), abs=1e-10
    )
    assert P.empirical_pmf([0, 2, 2, 3]) == pytest.approx([0.25, 0.0, 0.5, 0.25])


# --------------------------------------------------------------------------------------------
# Newsvendor
# --------------------------------------------------------------------------------------------


def test_newsvendor_normal_snyder_shen_examples() -> None:
    # [SS19] Example 4.1 / 4.3: h = 0.18, p = 0.70, D ~ N(50, 8^2).
    res = P.newsvendor_normal(50, 8, 0.18, 0.7)
    assert pytest.approx(56.603955927433887, abs=1e-9) == res.S
    assert res.cost == pytest.approx(1.997605193176645, abs=1e-9)
    assert P.newsvendor_normal_cost(40, 50, 8, 0.18, 0.7) == pytest.approx(7.356131552870388)
    # [SS19] Example 4.2: revenue 1.00, cost 0.30, salvage 0.12 -> same ratio 0.70 / 0.88.
    ratio = P.critical_ratio(price=1.0, unit_cost=0.3, salvage=0.12)
    assert ratio == pytest.approx(0.7 / 0.88)
    assert ratio == pytest.approx(P.critical_ratio(0.18, 0.7))
    # [SS19] Example 4.4: base-stock with lead time L = 4 -> newsvendor on 5 periods of demand.
    res = P.newsvendor_normal(5 * 50, 8 * math.sqrt(5), 0.18, 0.7)
    assert pytest.approx(264.7668943741548, abs=1e-9) == res.S
    assert res.cost == pytest.approx(4.466781004149578, abs=1e-9)
    # [SS19] Problem 4.1: h = 65 - 22, p = 129 - 65 + 15, N(900, 60^2).
    res = P.newsvendor_normal(900, 60, 43, 79)
    assert pytest.approx(922.7214038234755, abs=1e-8) == res.S
    assert res.cost == pytest.approx(2718.196781782411, abs=1e-7)


def test_newsvendor_poisson_and_discrete_snyder_shen_examples() -> None:
    # [SS19] Example 4.7 (no fixed cost): h = 1, p = 4, Poisson(6) -> S* = 8, cost 3.5701.
    res = P.newsvendor_poisson(6, 1, 4)
    assert res.S == 8
    assert res.cost == pytest.approx(3.570106945770946, abs=1e-10)
    assert P.newsvendor_poisson_cost(5, 6, 1, 4) == pytest.approx(6.590296024616344, abs=1e-10)
    # [SS19] Problem 4.8(a): h = 200, p = 270, Poisson(18) -> S* = 19, cost 786.088.
    res = P.newsvendor_poisson(18, 200, 270)
    assert res.S == 19
    assert res.cost == pytest.approx(786.0884409351115, abs=1e-7)
    assert P.newsvendor_poisson_cost(13, 18, 200, 270) == pytest.approx(1445.751062891969)
    # [SS19] Problem 4.7(b): empirical pmf, h = 500,000, p = 1,000,000 -> S* = 5, cost 1.225M.
    pmf = np.zeros(9)
    for d, q in {1: 0.25, 2: 0.05, 3: 0.1, 4: 0.2, 5: 0.15, 6: 0.1, 7: 0.1, 8: 0.05}.items():
        pmf[d] = q
    res = P.newsvendor_empirical(500_000, 1_000_000, pmf=pmf)
    assert res.S == 5
    assert res.cost == pytest.approx(1_225_000.0)
    assert P.newsvendor_discrete_cost(3, pmf, 500_000, 1_000_000) == pytest.approx(1_725_000.0)
    # The same distribution given as 20 observations, and as two SKUs in one 2-D call.
    counts = (pmf * 20).round().astype(int)
    samples = np.repeat(np.arange(9), counts)
    res = P.newsvendor_empirical(500_000, 1_000_000, samples=samples)
    assert (res.S, res.cost) == (5, pytest.approx(1_225_000.0))
    two = P.newsvendor_empirical(1.0, [4.0, 1.0], samples=np.vstack([samples, samples]))
    assert list(two.S) == [6.0, 4.0]  # ratios 0.8 and 0.5
    same = P.newsvendor_empirical(1.0, [4.0, 1.0], samples=samples)
    assert list(same.S) == [6.0, 4.0] and same.cost == pytest.approx(two.cost)


# --------------------------------------------------------------------------------------------
# EOQ family
# --------------------------------------------------------------------------------------------


def test_eoq_snyder_shen_examples() -> None:
    # [SS19] Example 3.1: K = 8, h = 0.75 * 0.3, D = 1300.
    res = P.eoq(8, 1300, 0.225)
    assert pytest.approx(304.0467800264368, abs=1e-9) == res.Q
    assert res.cost == pytest.approx(68.410525505948272, abs=1e-9)
    assert P.eoq_cost(res.Q, 8, 1300, 0.225) == pytest.approx(res.cost)
    # [SS19] Problem 3.1: K = 2250, h = 275, D = 500 * 365.
    res = P.eoq(2250, 500 * 365, 275)
    assert pytest.approx(1728.109844993551, abs=1e-8) == res.Q
    assert res.cost == pytest.approx(475230.2073732266, abs=1e-6)
    # [SS19] Example 3.8 (EOQ with planned backorders): p = 5.
    res = P.eoq_backorders(8, 1300, 0.225, 5)
    assert pytest.approx(310.8125551589646, abs=1e-9) == res.Q
    assert res.backorder_fraction == pytest.approx(0.043062200956938, abs=1e-12)
    assert res.cost == pytest.approx(66.921363550973254, abs=1e-9)
    # [SS19] Problem 3.2(b): K = 40, h = 165 * 0.17 + 12, p = 60, D = 40 * 52.
    res = P.eoq_backorders(40, 40 * 52, 165 * 0.17 + 12, 60)
    assert pytest.approx(83.235448128898042, abs=1e-9) == res.Q
    assert res.backorder_fraction == pytest.approx(0.400299850074962, abs=1e-12)
    assert res.cost == pytest.approx(1999.148244415212, abs=1e-8)


def test_eoq_all_units_discount_wohls_example() -> None:
    # Heizer & Render, Wohl's Discount Stores: Q* = 1000 at 4.80, total annual cost 24,725.
    res = P.eoq_quantity_discount(49, 5000, 0.2, [0, 1000, 2000], [5.0, 4.8, 4.75])
    assert pytest.approx(1000.0) == res.Q
    assert res.unit_price == pytest.approx(4.8)
    assert res.cost == pytest.approx(24_725.0)


def _discount_cost_by_enumeration(
    q: np.ndarray, K: float, D: float, i: float, b: np.ndarray, c: np.ndarray, kind: str
) -> np.ndarray:
    band = np.searchsorted(b, q, side="right") - 1
    if kind == "all_units":
        avg = c[band]
    else:
        start = np.concatenate([[0.0], np.cumsum(c[:-1] * np.diff(b))])
        avg = (start[band] + c[band] * (q - b[band])) / q
    return D * avg + K * D / q + i * avg * q / 2.0


@pytest.mark.parametrize("kind", ["all_units", "incremental"])
def test_eoq_quantity_discount_matches_enumeration(kind: str) -> None:
    # No published incremental example is reproduced here; both kinds are checked against a
    # fine enumeration of the annual cost over Q (step 0.01 units), a direct implementation of
    # the definitions in Nahmias & Olsen sec. 4.7.
    b = np.array([0.0, 500.0, 1000.0])
    c = np.array([0.30, 0.29, 0.28])
    q = np.arange(1.0, 8000.0, 0.01)
    for K, D in [(8.0, 600.0), (40.0, 600.0), (8.0, 20_000.0)]:
        ref = _discount_cost_by_enumeration(q, K, D, 0.2, b, c, kind)
        res = P.eoq_quantity_discount(K, D, 0.2, b, c, kind=kind)
        assert res.cost == pytest.approx(ref.min(), abs=1e-6)
        assert pytest.approx(q[np.argmin(ref)], abs=0.02) == res.Q
    # Trash-bag style schedule, K = 8, D = 600, i = 0.2: all-units buys at the 500 break
    # (cost 198.10); incremental keeps the undiscounted EOQ of 400 (cost 204.00).
    all_units = P.eoq_quantity_discount(8, 600, 0.2, b, c, kind="all_units")
    incremental = P.eoq_quantity_discount(8, 600, 0.2, b, c, kind="incremental")
    assert (all_units.Q, all_units.cost) == (pytest.approx(500.0), pytest.approx(198.10))
    assert (incremental.Q, incremental.cost) == (pytest.approx(400.0), pytest.approx(204.0))
    # Vectorised over K.
    vec = P.eoq_quantity_discount([8.0, 40.0], 600, 0.2, b, c, kind=kind)
    assert vec.Q.shape == (2,)


def test_round_order_quantity_rule() -> None:
    q = np.array([-5.0, 0.0, 1.0, 12.0, 12.000000001, 13.0, 40.0, 250.0, np.nan])
    out = P.round_order_quantity(q, case_pack=12, moq=30, max_qty=100)
    # <=0 -> 0; MOQ 30 -> 36 (3 packs); 13 -> 24 -> 36; 40 -> 48; cap 100 -> 96; NaN -> 0.
    assert list(out) == [0, 0, 36, 36, 36, 36, 48, 96, 0]
    # Cap below MOQ: the cap wins.
    assert P.round_order_quantity(10, case_pack=6, moq=50, max_qty=40) == 36
    assert P.round_order_quantity(10, case_pack=6, moq=0, max_qty=5) == 0
    # Broadcasting per SKU.
    got = P.round_order_quantity([7, 7], case_pack=[1, 5], moq=[0, 12])
    assert list(got) == [7, 15]


# --------------------------------------------------------------------------------------------
# Base-stock levels, fill rate and cycle service level
# --------------------------------------------------------------------------------------------


def test_base_stock_level_formulas() -> None:
    # CSL: S = (L+R) mu + z sqrt(L+R) sigma.
    S = P.base_stock_level(100, 20, review_period=2, lead_time=3, csl=0.95)
    assert pytest.approx(500 + 1.6448536269514722 * 20 * math.sqrt(5)) == S
    assert P.cycle_service_level_normal(S, 100, 20, 2, 3) == pytest.approx(0.95)
    # Fill rate: the returned S reproduces the target through the exact backorder formula.
    S = P.base_stock_level(100, 20, review_period=2, lead_time=3, fill_rate=0.99)
    achieved = P.fill_rate_normal(S, 500, 20 * math.sqrt(5), 200, 300, 20 * math.sqrt(3))
    assert achieved == pytest.approx(0.99, abs=1e-9)
    # Both targets: the larger level.
    both = P.base_stock_level(100, 20, review_period=2, lead_time=3, csl=0.5, fill_rate=0.99)
    assert both == pytest.approx(S)
    # Vectorised over SKUs equals the scalar results.
    vec = P.base_stock_level(
        [100, 5], [20, 3], review_period=[2, 7], lead_time=[3, 0], fill_rate=[0.99, 0.9]
    )
    assert vec[1] == pytest.approx(
        P.base_stock_level(5, 3, review_period=7, lead_time=0, fill_rate=0.9)
    )
    # A SKU without demand needs no stock.
    assert P.base_stock_level([0.0, 100.0], [0.0, 20.0], fill_rate=0.95)[0] == 0.0
    # Poisson: smallest integer meeting the target.
    S = P.base_stock_level_poisson(4.0, review_period=1, lead_time=2, csl=0.95)
    assert stats.poisson.cdf(S, 12) >= 0.95 > stats.poisson.cdf(S - 1, 12)
    S = P.base_stock_level_poisson(4.0, review_period=1, lead_time=2, fill_rate=0.95)
    assert P.fill_rate_poisson(S, 12, 4, 8) >= 0.95 > P.fill_rate_poisson(S - 1, 12, 4, 8)
    # Discrete helpers agree with Poisson ones on Poisson pmfs.
    pmf12 = stats.poisson.pmf(np.arange(100), 12)
    pmf8 = stats.poisson.pmf(np.arange(100), 8)
    assert P.fill_rate_discrete(S, pmf12 / pmf12.sum(), 4, pmf8 / pmf8.sum()) == pytest.approx(
        P.fill_rate_poisson(S, 12, 4, 8), abs=1e-10
    )


def _simulate_rs(
    S: float,
    R: int,
    L: int,
    demand: np.ndarray,
    warmup: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Period-by-period simulation of an (R, S) policy with backorders.

    ``demand`` has shape (replications, periods). Orders placed at the start of period t
    (t multiple of R) raise the inventory position to S and arrive at the start of period t + L,
    before that period's demand. Returns per replication the cycle service level (share of
    cycles whose net inventory just before the next arrival is >= 0) and the fill rate (share of
    demand served from on-hand stock).
    """
    n_rep, n_per = demand.shape
    il = np.full(n_rep, float(S))
    ip = np.full(n_rep, float(S))
    pipeline: dict[int, np.ndarray] = {}
    served = np.zeros(n_rep)
    asked = np.zeros(n_rep)
    cycles = 0
    ok_cycles = np.zeros(n_rep)
    for t in range(n_per):
        if t % R == 0:
            pipeline[t + L] = pipeline.get(t + L, 0.0) + (S - ip)
            ip = np.full(n_rep, float(S))
        il = il + pipeline.pop(t, 0.0)
        d = demand[:, t]
        if t >= warmup:
            served += np.minimum(d, np.maximum(il, 0.0))
            asked += d
        il = il - d
        ip = ip - d
        if t >= warmup and (t - L + 1) % R == 0:
            cycles += 1
            ok_cycles += il >= 0
    return ok_cycles / cycles, served / asked


def _mean_and_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def test_monte_carlo_rs_normal_csl_and_fill_rate() -> None:
    # 3000 replications x 250 periods (750,000 periods per target) with R = 2, L = 3.
    rng = np.random.default_rng(20240611)
    mean, sd, R, L = 100.0, 25.0, 2, 3
    demand = np.maximum(rng.normal(mean, sd, size=(3000, 250)), 0.0)
    for target_csl in (0.90, 0.97):
        S = P.base_stock_level(mean, sd, review_period=R, lead_time=L, csl=target_csl)
        csl, _ = _simulate_rs(S, R, L, demand, warmup=10)
        m, se = _mean_and_se(csl)
        assert abs(m - target_csl) < 4.5 * se, (m, se)
    for target_fr in (0.95, 0.99):
        S = P.base_stock_level(mean, sd, review_period=R, lead_time=L, fill_rate=target_fr)
        _, fr = _simulate_rs(S, R, L, demand, warmup=10)
        m, se = _mean_and_se(fr)
        assert abs(m - target_fr) < 4.5 * se, (m, se)
    # A deliberately low target with a long lead time (R = 1, L = 4), where backorders carried
    # into a cycle are large: the exact formula still matches the simulation, while the classic
    # approximation without the lead-time term is off by many standard errors.
    demand = np.maximum(rng.normal(mean, sd, size=(3000, 250)), 0.0)
    S_low = P.base_stock_level(mean, sd, review_period=1, lead_time=4, fill_rate=0.40)
    _, fr = _simulate_rs(S_low, 1, 4, demand, warmup=10)
    m, se = _mean_and_se(fr)
    assert abs(m - 0.40) < 4.5 * se, (m, se)
    naive = P.fill_rate_normal(S_low, 5 * mean, math.sqrt(5) * sd, mean)
    assert abs(naive - m) > 20 * se, (naive, m, se)


def test_monte_carlo_rs_poisson_csl_and_fill_rate() -> None:
    rng = np.random.default_rng(7)
    rate, R, L = 4.0, 1, 2
    demand = rng.poisson(rate, size=(4000, 250)).astype(float)
    S = P.base_stock_level_poisson(rate, review_period=R, lead_time=L, fill_rate=0.95)
    csl, fr = _simulate_rs(S, R, L, demand, warmup=10)
    m_csl, se_csl = _mean_and_se(csl)
    m_fr, se_fr = _mean_and_se(fr)
    assert abs(m_csl - P.cycle_service_level_poisson(S, rate, R, L)) < 4.5 * se_csl
    assert abs(m_fr - P.fill_rate_poisson(S, rate * (L + R), rate * R, rate * L)) < 4.5 * se_fr
    assert m_fr >= 0.95 - 4.5 * se_fr


# --------------------------------------------------------------------------------------------
# (r, Q) policies
# --------------------------------------------------------------------------------------------

# [SS19] Example 5.1: h = 0.225, p = 7.5, K = 8, lambda = 1300 / yr, tau = 150, L = 1/12 yr.
EX51 = dict(K=8.0, D=1300.0, h=0.225, p=7.5, mu_L=1300 / 12, sd_L=150 * math.sqrt(1 / 12))


def test_r_q_cost_normal_snyder_shen_example_5_1() -> None:
    a = EX51
    args = (a["K"], a["D"], a["h"], a["p"], a["mu_L"], a["sd_L"])
    assert P.r_q_cost_normal(126.8, 328.5, *args) == pytest.approx(78.071162509282942, abs=1e-9)
    assert P.r_q_cost_normal(100, 250, *args) == pytest.approx(87.346478028174985, abs=1e-9)

    # Independent check: [K D + integral_r^{r+Q} G(y) dy] / Q by quadrature.
    def G(y: float) -> float:
        return float(P.newsvendor_normal_cost(y, a["mu_L"], a["sd_L"], a["h"], a["p"]))

    quad = (a["K"] * a["D"] + integrate.quad(G, 100, 350)[0]) / 250
    assert P.r_q_cost_normal(100, 250, *args) == pytest.approx(quad, rel=1e-10)
    # [SS19] Example 5.2: r(Q) for Q = 318, 150, 750.
    for Q, r in [(318, 127.7880348669655), (150, 147.1949581740714), (750, 99.85377339616528)]:
        assert P.r_q_reorder_point_for_q(Q, a["h"], a["p"], a["mu_L"], a["sd_L"]) == (
            pytest.approx(r, abs=1e-5)
        )


def test_r_q_optimal_and_approximations_snyder_shen_example_5_1() -> None:
    a = EX51
    args = (a["K"], a["D"], a["h"], a["p"], a["mu_L"], a["sd_L"])
    exact = P.r_q_optimal_normal(*args)
    # [SS19] Example 5.6 (loss-function method): r = 126.867, Q = 328.449, cost 78.07.
    assert exact.r == pytest.approx(126.8670642878315, abs=1e-5)
    assert pytest.approx(328.4491413581765, abs=1e-5) == exact.Q
    assert exact.cost == pytest.approx(78.0711, abs=1e-4)
    # [SS19] Example 5.2 (EIL approximation / Hadley-Whitin): r = 213.97, Q = 318.59, 95.45.
    hw = P.r_q_hadley_whitin(*args)
    assert hw.r == pytest.approx(213.9704421358024, abs=1e-6)
    assert pytest.approx(318.5901810768729, abs=1e-6) == hw.Q
    assert hw.model_cost == pytest.approx(95.451140222851961, abs=1e-6)
    # [SS19] Example 5.4 (EOQB): r = 128.638, Q = 308.574.
    eoqb = P.r_q_eoqb(*args)
    assert eoqb.r == pytest.approx(128.637814424271, abs=1e-6)
    assert pytest.approx(308.5737801203754, abs=1e-9) == eoqb.Q
    # [SS19] Example 5.5 (EOQ + SS): r = 190.337, Q = 304.047.
    eoq_ss = P.r_q_eoq_ss(*args)
    assert eoq_ss.r == pytest.approx(190.3369965715624, abs=1e-8)
    assert pytest.approx(304.0467800264368, abs=1e-9) == eoq_ss.Q
    # Gaps of the approximations in exact cost (platform notes: +11.5 % and +18.2 %).
    table = P.r_q_compare_normal(*args)
    assert table["exact"]["gap"] == pytest.approx(0.0, abs=1e-12)
    assert table["eoq_ss"]["gap"] == pytest.approx(0.115, abs=5e-4)
    assert table["hadley_whitin"]["gap"] == pytest.approx(0.182, abs=5e-4)
    assert 0 < table["eoqb"]["gap"] < 0.002


def test_r_q_optimal_snyder_shen_problems_5_1_and_5_3() -> None:
    # [SS19] Problem 5.1: h = 3.1, p = 45, K = 50, lambda = 800, tau = 40, L = 4/365.
    args = (50.0, 800.0, 3.1, 45.0, 800 * 4 / 365, 40 * math.sqrt(4 / 365))
    exact = P.r_q_optimal_normal(*args)
    assert exact.r == pytest.approx(-1.985868645048718, abs=1e-5)  # Problem 5.1(d)
    assert pytest.approx(166.9501022040942, abs=1e-5) == exact.Q
    assert exact.cost == pytest.approx(484.2110418415538, abs=1e-6)  # cost of (r, Q) above
    hw = P.r_q_hadley_whitin(*args)  # Problem 5.1(a)
    assert (hw.r, hw.Q) == (
        pytest.approx(17.972649360167715, abs=1e-6),
        pytest.approx(162.1231617283653, abs=1e-6),
    )
    assert hw.model_cost == pytest.approx(531.1189321826714, abs=1e-6)
    # [SS19] Problem 5.3: h = 1.5/7, p = 40, K = 85, lambda = 192, tau = 17.4, L = 3.
    args = (85.0, 192.0, 1.5 / 7, 40.0, 192 * 3, 17.4 * math.sqrt(3))
    exact = P.r_q_optimal_normal(*args)
    assert exact.r == pytest.approx(608.5445118000358, abs=1e-4)  # Problem 5.3(d)
    assert pytest.approx(403.8060023373138, abs=1e-4) == exact.Q
    hw = P.r_q_hadley_whitin(*args)  # Problem 5.3(a)
    assert hw.r == pytest.approx(644.8385303830128, abs=1e-6)
    assert pytest.approx(400.7559793125993, abs=1e-6) == hw.Q


def test_r_q_optimal_normal_vectorised_and_optimal() -> None:
    rng = np.random.default_rng(3)
    n = 200
    K, D = rng.uniform(5, 100, n), rng.uniform(100, 5000, n)
    h, p = rng.uniform(0.1, 5, n), rng.uniform(1, 50, n)
    mu = D * rng.uniform(0.01, 0.2, n)
    sd = np.sqrt(mu) * rng.uniform(0.5, 3, n)
    res = P.r_q_optimal_normal(K, D, h, p, mu, sd)
    # Perturbing r or Q never lowers the exact cost.
    for dr, dq in [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (0.5, -0.5)]:
        worse = P.r_q_cost_normal(res.r + dr, res.Q + dq, K, D, h, p, mu, sd)
        assert np.all(worse >= res.cost - 1e-9)
    # Deterministic lead-time demand (sd_L = 0): the (r, Q) optimum is the EOQ with planned
    # backorders ([SS19] sec. 3.3), with r = mu_L minus the maximum backorder level.
    det = P.r_q_optimal_normal(8, 1300, 0.225, 7.5, 108.3, 0.0)
    eoqb = P.eoq_backorders(8, 1300, 0.225, 7.5)
    assert (det.Q, det.cost) == (pytest.approx(eoqb.Q, rel=1e-9), pytest.approx(eoqb.cost))
    assert det.r == pytest.approx(108.3 - eoqb.Q * eoqb.backorder_fraction, rel=1e-9)
    one = P.r_q_optimal_normal(K[7], D[7], h[7], p[7], mu[7], sd[7])
    assert pytest.approx(res.Q[7], rel=1e-9) == one.Q


def test_r_q_poisson_snyder_shen_example_5_8_and_problem_5_2() -> None:
    # [SS19] Example 5.8: h = 20, p = 150, K = 100, lambda = 1.5, L = 2 -> (r, Q) = (3, 5).
    assert P.r_q_cost_poisson(3, 5, 100, 1.5, 20, 150, 3.0) == pytest.approx(107.9235806331498)
    assert P.r_q_cost_poisson(8, 12, 100, 1.5, 20, 150, 3.0) == pytest.approx(242.5281637662021)
    res = P.r_q_optimal_poisson(100, 1.5, 20, 150, 3.0)
    assert (res.r, res.Q) == (3, 5)
    assert res.cost == pytest.approx(107.9235806331498, abs=1e-9)
    # [SS19] Problem 5.2: h = 4, p = 28, K = 4, lambda = 12, L = 0.5 -> (6, 7), cost 28.2413.
    assert P.r_q_cost_poisson(3, 9, 4, 12, 4, 28, 6.0) == pytest.approx(34.264154469469503)
    res = P.r_q_optimal_poisson(4, 12, 4, 28, 6.0)
    assert (res.r, res.Q) == (6, 7)
    assert res.cost == pytest.approx(28.241312842169155, abs=1e-9)


def test_r_q_poisson_federgruen_zheng_equals_exhaustive_search() -> None:
    cases = [
        (100, 1.5, 20, 150, 3.0),
        (4, 12, 4, 28, 6.0),
        (50, 40, 2, 30, 15.0),
        (1, 5, 1, 9, 0.5),
    ]
    for K, D, h, p, lam in cases:
        r = np.arange(-10, 80)[:, None]
        Q = np.arange(1, 120)[None, :]
        grid = P.r_q_cost_poisson(r, Q, K, D, h, p, lam)
        i, j = np.unravel_index(np.argmin(grid), grid.shape)
        res = P.r_q_optimal_poisson(K, D, h, p, lam)
        assert res.cost == pytest.approx(grid[i, j], rel=1e-12)
    vec = P.r_q_optimal_poisson([100, 4], [1.5, 12], [20, 4], [150, 28], [3.0, 6.0])
    assert list(vec.r) == [3, 6] and list(vec.Q) == [5, 7]


def _simulate_rq_poisson(
    r: int, Q: int, K: float, lam: float, L: float, h: float, p: float, n_rep: int, n_dem: int
) -> np.ndarray:
    """Continuous-time sample paths of an (r, Q) policy with unit Poisson demand.

    Inventory position starts at r + Q with nothing on order; every Q-th demand takes it to r
    and triggers an order of Q that arrives L time units later. Net inventory is integrated
    exactly between events. Returns the average cost per unit time of each replication over
    [warm-up, last demand].
    """
    rng = np.random.default_rng(11)
    t_dem = np.cumsum(rng.exponential(1.0 / lam, size=(n_rep, n_dem)), axis=1)
    t_ord = t_dem[:, Q - 1 :: Q]
    times = np.concatenate([t_dem, t_ord + L], axis=1)
    deltas = np.concatenate([np.full(t_dem.shape, -1.0), np.full(t_ord.shape, float(Q))], axis=1)
    order = np.argsort(times, axis=1, kind="stable")
    times = np.take_along_axis(times, order, axis=1)
    il_after = r + Q + np.cumsum(np.take_along_axis(deltas, order, axis=1), axis=1)
    t0 = 10.0 * L + 10.0 / lam
    t1 = t_dem[:, -1:]
    start = np.clip(times[:, :-1], t0, t1)
    end = np.clip(times[:, 1:], t0, t1)
    rate = h * np.maximum(il_after[:, :-1], 0) + p * np.maximum(-il_after[:, :-1], 0)
    area = np.sum(rate * (end - start), axis=1)
    n_orders = np.sum((t_ord >= t0) & (t_ord <= t1), axis=1)
    return (area + K * n_orders) / (t1[:, 0] - t0)


def test_monte_carlo_r_q_poisson_cost() -> None:
    # [SS19] Example 5.8 policy (3, 5) and a poorer policy (8, 12): 400 replications of
    # 1500 demands each (600,000 demands) match the analytic cost within 4.5 standard errors.
    for r, Q in [(3, 5), (8, 12)]:
        sim = _simulate_rq_poisson(r, Q, 100.0, 1.5, 2.0, 20.0, 150.0, n_rep=400, n_dem=1500)
        m, se = _mean_and_se(sim)
        analytic = P.r_q_cost_poisson(r, Q, 100.0, 1.5, 20.0, 150.0, 3.0)
        assert abs(m - analytic) < 4.5 * se, (r, Q, m, se, analytic)


# --------------------------------------------------------------------------------------------
# (s, S) policies
# --------------------------------------------------------------------------------------------

# [ZF91] table: Poisson demand, h = 1, p = 9, K = 64, zero lead time.
ZF91_TABLE = [
    # (mean, s*, S*, c*)
    (10, 6, 40, 35.022),
    (15, 10, 49, 42.698),
    (20, 14, 62, 49.173),
    (25, 19, 56, 54.262),
    (30, 23, 66, 57.819),
    (35, 28, 77, 61.215),
    (40, 33, 87, 64.512),
    (45, 37, 97, 67.776),
    (50, 42, 108, 70.975),
    (55, 47, 118, 74.149),
    (60, 52, 129, 77.306),
    (65, 56, 75, 78.518),
    (70, 62, 81, 79.037),
    (75, 67, 86, 79.554),
    (21, 15, 65, 50.406),
    (22, 16, 68, 51.632),
    (23, 17, 52, 52.757),
    (24, 18, 54, 53.518),
    (51, 43, 110, 71.611),
    (52, 44, 112, 72.246),
    (59, 51, 126, 76.679),
    (61, 52, 131, 77.929),
    (63, 54, 73, 78.287),
    (64, 55, 74, 78.402),
]


def test_ss_optimal_reproduces_zheng_federgruen_1991_table() -> None:
    start = time.perf_counter()
    for mean, s, S, c in ZF91_TABLE:
        res = P.ss_optimal(1.0, 9.0, 64.0, rate=mean)
        assert (res.s, res.S) == (s, S), mean
        assert res.cost == pytest.approx(c, abs=5e-4)  # table is rounded to 3 decimals
        assert P.ss_cost(s, S, 1.0, 9.0, 64.0, rate=mean) == pytest.approx(c, abs=5e-4)
    assert time.perf_counter() - start < 10.0
    # With p = 10 the table is not reproduced (the published instance uses p = 9).
    assert P.ss_optimal(1.0, 10.0, 64.0, rate=10).cost == pytest.approx(35.300, abs=5e-4)
    assert P.ss_optimal(1.0, 10.0, 64.0, rate=20)[:2] == (15, 63)


def test_ss_snyder_shen_example_4_7_and_problem_4_31() -> None:
    # [SS19] Example 4.7: h = 1, p = 4, K = 5, Poisson(6) -> (s, S) = (4, 10), g = 8.0341.
    assert P.ss_cost(4, 10, 1, 4, 5, rate=6) == pytest.approx(8.034111561471644, abs=1e-10)
    assert P.ss_cost(6, 18, 1, 4, 5, rate=6) == pytest.approx(10.193798671644046, abs=1e-10)
    assert P.ss_optimal(1, 4, 5, rate=6) == (4, 10, pytest.approx(8.034111561471644))
    # [SS19] Problem 4.31: h = 40, p = 125, K = 150, Poisson(4) -> (2, 7), g = 223.5748.
    assert P.ss_cost(4, 10, 40, 125, 150, rate=4) == pytest.approx(262.2755613772775)
    assert P.ss_optimal(40, 125, 150, rate=4) == (2, 7, pytest.approx(223.5748295669688))


def test_ss_optimal_equals_exhaustive_search_with_pmf_and_lead_time() -> None:
    pmf = np.array([0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
    for lead_time in (0, 2):
        best = min(
            (P.ss_cost(s, S, 1.0, 6.0, 12.0, pmf=pmf, lead_time=lead_time), s, S)
            for s in range(-5, 25)
            for S in range(s + 1, 40)
        )
        res = P.ss_optimal(1.0, 6.0, 12.0, pmf=pmf, lead_time=lead_time)
        assert res.cost == pytest.approx(best[0], rel=1e-12)
    # pmf route equals the Poisson route on a (truncated) Poisson pmf.
    pois = stats.poisson.pmf(np.arange(60), 6)
    assert P.ss_cost(4, 10, 1, 4, 5, pmf=pois / pois.sum()) == pytest.approx(8.034111561471644)


def _simulate_ss(
    s: int, S: int, h: float, p: float, K: float, demand: np.ndarray, L: int, warmup: int
) -> np.ndarray:
    """Periodic-review (s, S) with backorders: review at the start of each period, order
    S - IP if IP <= s, arrival L periods later before demand, holding/backorder cost on the
    end-of-period net inventory. Returns the average cost per period of each replication."""
    n_rep, n_per = demand.shape
    il = np.full(n_rep, float(S))
    ip = il.copy()
    pipeline: dict[int, np.ndarray] = {}
    total = np.zeros(n_rep)
    for t in range(n_per):
        q = np.where(ip <= s, S - ip, 0.0)
        ip = ip + q
        pipeline[t + L] = pipeline.get(t + L, 0.0) + q
        il = il + pipeline.pop(t, 0.0)
        il = il - demand[:, t]
        ip = ip - demand[:, t]
        if t >= warmup:
            total += K * (q > 0) + h * np.maximum(il, 0.0) + p * np.maximum(-il, 0.0)
    return total / (n_per - warmup)


def test_monte_carlo_ss_cost() -> None:
    # ZF91 first row: Poisson(10), (6, 40): 2000 replications x 400 periods.
    rng = np.random.default_rng(5)
    demand = rng.poisson(10, size=(2000, 400)).astype(float)
    m, se = _mean_and_se(_simulate_ss(6, 40, 1.0, 9.0, 64.0, demand, L=0, warmup=50))
    assert abs(m - 35.022) < 4.5 * se, (m, se)
    # Empirical pmf with a 2-period lead time, optimal policy.
    pmf = np.array([0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
    res = P.ss_optimal(1.0, 6.0, 12.0, pmf=pmf, lead_time=2)
    demand = rng.choice(pmf.size, p=pmf, size=(2000, 400)).astype(float)
    m, se = _mean_and_se(_simulate_ss(res.s, res.S, 1.0, 6.0, 12.0, demand, L=2, warmup=50))
    assert abs(m - res.cost) < 4.5 * se, (m, se, res)


# --------------------------------------------------------------------------------------------
# Input validation and the documented examples (docs/policy-api.md)
# --------------------------------------------------------------------------------------------


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        P.eoq(8, 1300, 0.0)
    with pytest.raises(ValueError):
        P.base_stock_level(10, 2)
    with pytest.raises(ValueError):
        P.base_stock_level(10, 2, csl=1.0)
    with pytest.raises(ValueError):
        P.critical_ratio(price=1.0)
    with pytest.raises(ValueError):
        P.eoq_quantity_discount(8, 600, 0.2, [100, 500], [0.3, 0.29])
    with pytest.raises(ValueError):
        P.ss_optimal(1, 9, 64, rate=10, pmf=[1.0])
    with pytest.raises(ValueError):
        P.round_order_quantity(10, case_pack=0)


def test_documented_examples() -> None:
    """Every number printed in docs/policy-api.md."""
    assert P.normal_loss(1.0) == pytest.approx(0.0833, abs=5e-5)
    assert P.poisson_loss(8, 6.0) == pytest.approx(0.3140, abs=5e-5)
    assert P.critical_ratio(price=1.0, unit_cost=0.3, salvage=0.12) == pytest.approx(
        0.7955, abs=5e-5
    )
    nv = P.newsvendor_normal([50, 250], [8, 8 * math.sqrt(5)], 0.18, 0.7)
    assert pytest.approx([56.60, 264.77], abs=5e-3) == nv.S
    assert nv.cost == pytest.approx([2.00, 4.47], abs=5e-3)
    assert P.round_order_quantity([0, 5, 40, 130], case_pack=12, moq=30, max_qty=100) == (
        pytest.approx([0, 36, 48, 96])
    )
    assert P.base_stock_level(100, 20, review_period=7, lead_time=3, csl=0.95) == pytest.approx(
        1104.03, abs=5e-3
    )
    assert P.base_stock_level(
        100, 20, review_period=7, lead_time=3, fill_rate=0.99
    ) == pytest.approx(1053.53, abs=5e-3)
    assert P.base_stock_level_poisson(4.0, lead_time=2, fill_rate=0.95) == 17
    assert P.fill_rate_poisson(17, 12, 4, 8) == pytest.approx(0.9644, abs=5e-5)
    assert P.cycle_service_level_poisson(17, 4, 1, 2) == pytest.approx(0.9370, abs=5e-5)
    table = P.r_q_compare_normal(8, 1300, 0.225, 7.5, 1300 / 12, 150 * math.sqrt(1 / 12))
    expected = {
        "exact": (126.87, 328.45, 78.07, 78.07),
        "eoqb": (128.64, 308.57, 78.20, 78.20),
        "eoq_ss": (190.34, 304.05, 87.05, 90.62),
        "hadley_whitin": (213.97, 318.59, 92.29, 95.45),
    }
    for name, values in expected.items():
        row = table[name]
        got = (row["r"], row["Q"], row["cost"], row["model_cost"])
        assert got == pytest.approx(values, abs=5e-3), name
    res = P.ss_optimal(1, 6, 12, pmf=[0.1, 0.2, 0.3, 0.2, 0.1, 0.1], lead_time=2)
    assert (res.s, res.S) == (6, 14)
    assert res.cost == pytest.approx(8.6112, abs=5e-5)
    assert P.fill_rate_normal(1053.53, 1000, 20 * math.sqrt(10), 700, 300, 20 * math.sqrt(3)) == (
        pytest.approx(0.99, abs=5e-6)
    )
