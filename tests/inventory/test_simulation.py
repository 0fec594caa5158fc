"""Policy backtest simulator: hand-computed toy cases, Monte Carlo against the (R, S) formulas,
conservation of stock, order rounding, bullwhip, the static rule and its tuning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.inventory.simulation import (
    Policy,
    compare_policies,
    segment_kpis,
    simulate_policy,
    static_rule_policy,
    tune_static_rule,
)

BIMODAL = np.zeros(22)
BIMODAL[7], BIMODAL[21] = 0.85, 0.15  # 85% at 7 days, 15% at 21 days


def _poisson_loss(s: float, lam: float) -> float:
    """E(D - s)+ for D ~ Poisson(lam) (units)."""
    k = np.arange(int(s) + 1)
    return float(lam - s + np.sum((s - k) * stats.poisson.pmf(k, lam)))


def _rs(R: int, S: float, **kw: object) -> Policy:
    return Policy.order_up_to_level(R, S, **kw)


# --------------------------------------------------------------------------------------------
# deterministic toy cases (every number by hand)
# --------------------------------------------------------------------------------------------
def test_rs_constant_demand_exact_trajectory_without_stockouts():
    # demand 2/day, review every 7 days from day 0, S = 20 = 2 x (R + L), L = 3, start at S.
    # Review at the opening of day t: IP = close of t - 1; the order lands on the morning of t + 3.
    d = np.full((1, 28), 2.0)
    res = simulate_policy(d, _rs(7, 20), lead_time=3, warmup_days=0, record=True, unit_cost=4.0)
    tr = res.trajectory
    week = [12, 10, 8, 6, 4, 2, 0]
    expected_oh = [18, 16, 14, 12, 10, 8, 6, 4, 2, 0, *week, *week, 12, 10, 8, 6]
    assert tr["on_hand"][0].tolist() == expected_oh
    orders = np.zeros(28)
    orders[[7, 14, 21]] = 14  # 20 - 6 on hand at the close of days 6, 13, 20
    assert tr["orders"][0].tolist() == orders.tolist()
    received = np.zeros(28)
    received[[10, 17, 24]] = 14
    assert tr["received"][0].tolist() == received.tolist()
    assert tr["lead_time"][0, [7, 14, 21]].tolist() == [3, 3, 3]
    assert (tr["lead_time"][0, [0, 1, 8]] == -1).all()  # day 0 review orders nothing

    k = res.kpis.iloc[0]
    assert k["stockout_days"] == 0 and k["lost_units"] == 0 and k["fill_rate"] == 1.0
    assert k["n_orders"] == 3 and k["order_units"] == 42
    # cycles start at the (zero) order arrivals of reviews 0, 7, 14: [3, 10), [10, 17), [17, 24)
    assert k["n_cycles"] == 3 and k["csl"] == 1.0
    avg_oh = sum(expected_oh) / 28
    assert k["avg_on_hand_units"] == pytest.approx(avg_oh)
    assert k["avg_on_hand_value"] == pytest.approx(4 * avg_oh)
    assert k["days_of_supply"] == pytest.approx(avg_oh / 2)
    assert k["holding_cost"] == pytest.approx(4 * avg_oh * 0.25 * 28 / 365)
    assert k["turns"] == pytest.approx(56 * 4 * 365 / 28 / (4 * avg_oh))
    assert k["on_hand_end"] == 6 and k["on_order_end"] == 0


def test_rs_constant_demand_short_level_exact_lost_units():
    # S = 15 < 20: at the day-7 review only 1 unit is left and the order of 14 lands on day 10
    d = np.full((1, 28), 2.0)
    res = simulate_policy(d, _rs(7, 15), lead_time=3, warmup_days=0, record=True)
    tr = res.trajectory
    lost = np.zeros(28)
    lost[[7, 8, 9, 21, 22, 23]] = [1, 2, 2, 1, 2, 2]
    assert tr["unmet"][0].tolist() == lost.tolist()
    # after the lost sales IP is 6 at day 14, so only 9 are ordered; day 21 is short again
    orders = np.zeros(28)
    orders[[7, 14, 21]] = [14, 9, 14]
    assert tr["orders"][0].tolist() == orders.tolist()
    assert tr["on_hand"][0, :10].tolist() == [13, 11, 9, 7, 5, 3, 1, 0, 0, 0]
    assert tr["on_hand"][0, 14:21].tolist() == [4, 2, 0, 7, 5, 3, 1]
    k = res.kpis.iloc[0]
    assert k["lost_units"] == 10 and k["unmet_units"] == 10 and k["backordered_units"] == 0
    assert k["sales_units"] == 46 and k["fill_rate"] == pytest.approx(46 / 56)
    assert k["stockout_days"] == 6
    assert (k["n_cycles"], k["n_stockout_cycles"]) == (3, 2)  # [3,10) and [17,24) lose sales


def test_rs_constant_demand_short_level_backorders():
    d = np.full((1, 28), 2.0)
    res = simulate_policy(d, _rs(7, 15), lead_time=3, warmup_days=0, record=True, backorders=True)
    tr = res.trajectory
    assert tr["orders"][0, [7, 14, 21]].tolist() == [14, 14, 14]  # IP = 1 at every review
    assert tr["backlog"][0, 7:11].tolist() == [1, 3, 5, 0]  # 5 units short per cycle
    assert tr["on_hand"][0, 10:14].tolist() == [7, 5, 3, 1]  # 14 received - 5 owed - 2 sold
    k = res.kpis.iloc[0]
    # E(D_{L+R} - S)+ - E(D_L - S)+ = (20 - 15) - 0 = 5 units per cycle
    assert k["backordered_units"] == 15 and k["lost_units"] == 0
    assert k["backorders_filled_units"] == 15
    assert k["sales_units"] == 41 and k["fill_rate"] == pytest.approx(41 / 56)
    assert (k["n_cycles"], k["n_stockout_cycles"], k["csl"]) == (3, 3, 0.0)


def test_min_max_exact_orders_and_lost_units():
    # (s, S) = (6, 20), checked daily, L = 2, demand 3/day, start at S
    d = np.full((1, 17), 3.0)
    res = simulate_policy(d, Policy.min_max(6, 20), lead_time=2, warmup_days=0, record=True)
    tr = res.trajectory
    orders = np.zeros(17)
    orders[[5, 10, 15]] = [15, 14, 15]  # IP 5, 6, 5 at the opening of days 5, 10, 15
    assert tr["orders"][0].tolist() == orders.tolist()
    lost = np.zeros(17)
    lost[[6, 16]] = 1
    assert tr["unmet"][0].tolist() == lost.tolist()
    assert tr["on_hand"][0, :8].tolist() == [17, 14, 11, 8, 5, 2, 0, 12]
    k = res.kpis.iloc[0]
    assert k["n_orders"] == 3 and k["lost_units"] == 2 and k["stockout_days"] == 2
    # cycles between real arrivals only: [7, 12) clean, the cycle from 12 ends at 17 (= T)
    assert (k["n_cycles"], k["n_stockout_cycles"]) == (2, 1)


def test_reorder_point_quantity_orders_whole_multiples_of_q():
    d = np.full((1, 20), 2.0)
    res = simulate_policy(
        d, Policy.reorder_point_quantity(5, 10), lead_time=2, warmup_days=0, record=True
    )
    tr = res.trajectory
    orders = np.zeros(20)
    orders[[5, 10, 15]] = 10  # IP falls to exactly 5 every 5 days
    assert tr["orders"][0].tolist() == orders.tolist()
    assert tr["on_hand"][0, :12].tolist() == [13, 11, 9, 7, 5, 3, 1, 9, 7, 5, 3, 1]
    assert res.kpis.iloc[0]["stockout_days"] == 0
    # a demand spike leaves IP far below r: the smallest k with IP + kQ > r is ordered
    d2 = np.array([[0, 30, 0, 0]], dtype=float)
    tr2 = simulate_policy(
        d2, Policy.reorder_point_quantity(5, 10), lead_time=1, warmup_days=0, record=True
    ).trajectory
    # IP at day 2 = 15 - 15 (lost sales: only 15 on hand were sold) = 0 -> k = 1 (0 + 10 > 5)
    assert tr2["orders"][0].tolist() == [0, 0, 10, 0]
    tr3 = simulate_policy(
        d2,
        Policy.reorder_point_quantity(5, 10),
        lead_time=1,
        warmup_days=0,
        record=True,
        backorders=True,
    ).trajectory
    # with backorders IP = 15 - 30 = -15 -> k = floor((5 + 15) / 10) + 1 = 3
    assert tr3["orders"][0].tolist() == [0, 0, 30, 0]


def test_weekly_order_up_to_level_is_applied_per_week():
    d = np.full((1, 21), 1.0)
    S = np.array([[10.0, 30.0]])  # week 0: 10, week 1 and after: 30
    tr = simulate_policy(d, _rs(7, S), lead_time=1, warmup_days=0, record=True).trajectory
    assert tr["orders"][0, [0, 7, 14]].tolist() == [0, 30 - 3, 7]


# --------------------------------------------------------------------------------------------
# Monte Carlo against the (R, S) formulas
# --------------------------------------------------------------------------------------------
def test_rs_poisson_deterministic_lead_time_matches_analytic_csl_and_fill_rate():
    rng = np.random.default_rng(11)
    n, T, lam, L, R = 2000, 365, 5.0, 4, 7
    d = rng.poisson(lam, (n, T))
    S = float(stats.poisson.ppf(0.95, lam * (L + R)))  # 67
    pol = _rs(R, S, review_offset=rng.integers(0, R, n))
    res = simulate_policy(d, pol, lead_time=L, backorders=True, target_csl=0.95)
    tot = res.segments.loc["all"]
    csl_exact = stats.poisson.cdf(S, lam * (L + R))  # P(D_11 <= S) = 0.9504
    assert tot["n_cycles"] > 90_000
    assert abs(tot["csl"] - csl_exact) < 0.01
    short = _poisson_loss(S, lam * (L + R)) - _poisson_loss(S, lam * L)
    fill_exact = 1.0 - short / (lam * R)  # 0.99449
    assert abs(tot["fill_rate"] - fill_exact) < 0.002
    assert tot["target_csl"] == pytest.approx(0.95)
    assert 0.3 < tot["share_meeting_csl"] < 0.9  # per-SKU CSL scatters around the target


def _sequential_csl(pmf: np.ndarray, R: int, lam: float, S: float) -> float:
    """Exact CSL of the simulator's cycle definition for (R, S) with sequential deliveries:
    effective lead time L'_{k+1} = max(L_{k+1}, L'_k - R) is a Markov chain; a review owns a
    cycle when its order lands after the previous one; that cycle has no stock-out with
    probability P(D(R + L'_{k+1}) <= S)."""
    K = pmf.size
    P = np.zeros((K, K))
    for prev in range(K):
        for lt in np.flatnonzero(pmf):
            P[prev, max(lt, prev - R)] += pmf[lt]
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    pi /= pi.sum()
    num = den = 0.0
    for prev in range(K):
        for lt in np.flatnonzero(pmf):
            nxt = max(lt, prev - R)
            if nxt > prev - R:  # lands after the previous order: a cycle of its own
                p = pi[prev] * pmf[lt]
                num += p * stats.poisson.cdf(S, lam * (R + nxt))
                den += p
    return num / den


def test_rs_bimodal_lead_time_mixture_quantile_vs_normal_formula():
    rng = np.random.default_rng(5)
    n, T, lam, R = 2000, 365, 5.0, 7
    d = rng.poisson(lam, (n, T))
    lt = np.arange(BIMODAL.size)
    grid = np.arange(400)
    mix_cdf = (BIMODAL[:, None] * stats.poisson.cdf(grid[None, :], lam * (R + lt[:, None]))).sum(0)
    S_mix = float(grid[np.argmax(mix_cdf >= 0.95)])  # 145
    mean_l = float((BIMODAL * lt).sum())
    var_l = float((BIMODAL * lt**2).sum()) - mean_l**2
    sd = np.sqrt((mean_l + R) * lam + lam**2 * var_l)
    S_norm = float(np.ceil(lam * (mean_l + R) + stats.norm.ppf(0.95) * sd))  # 125
    offsets = rng.integers(0, R, n)

    def run(S: float, crossing: bool) -> float:
        pol = _rs(R, S, review_offset=offsets)
        r = simulate_policy(
            d, pol, lead_time_pmf=BIMODAL, rng=3, backorders=True, crossing=crossing
        )
        return float(r.segments.loc["all", "csl"])

    # sequential deliveries: the simulator matches the exact value of its definition, the
    # mixture quantile lands close to the 95% target and the normal level clearly below it
    seq_mix, seq_norm = run(S_mix, False), run(S_norm, False)
    assert abs(seq_mix - _sequential_csl(BIMODAL, R, lam, S_mix)) < 0.005
    assert abs(seq_norm - _sequential_csl(BIMODAL, R, lam, S_norm)) < 0.008
    assert abs(seq_mix - 0.95) < 0.02
    assert seq_norm < 0.95 - 0.08
    # independent (crossing) lead times: a late order is overtaken by the next week's, so the
    # mixture quantile over-protects and even the normal level beats the target
    cross_mix, cross_norm = run(S_mix, True), run(S_norm, True)
    assert cross_mix > 0.98
    assert cross_norm < cross_mix and cross_norm > seq_norm + 0.1


def test_lead_time_draws_follow_the_group_pmf_with_common_random_numbers():
    rng = np.random.default_rng(2)
    n, T = 400, 120
    d = rng.poisson(3.0, (n, T))
    pmf = np.zeros((2, 6))
    pmf[0, [2, 5]] = 0.5
    pmf[1, 3] = 1.0
    group = np.arange(n) % 2
    a = simulate_policy(
        d, _rs(1, 40), lead_time_pmf=pmf, lead_time_group=group, rng=9, record=True
    ).trajectory["lead_time"]
    b = simulate_policy(
        d, _rs(1, 60), lead_time_pmf=pmf, lead_time_group=group, rng=9, record=True
    ).trajectory["lead_time"]
    g0, g1 = a[group == 0], a[group == 1]
    assert set(np.unique(g1[g1 >= 0])) == {3}
    drawn = g0[g0 >= 0]
    assert set(np.unique(drawn)) == {2, 5}
    assert abs((drawn == 2).mean() - 0.5) < 0.03
    both = (a >= 0) & (b >= 0)
    assert both.sum() > 10_000 and (a[both] == b[both]).all()


# --------------------------------------------------------------------------------------------
# conservation, rounding, review days
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backorders", [False, True])
def test_stock_is_conserved_for_every_sku_location(backorders: bool):
    rng = np.random.default_rng(4)
    n, T = 600, 150
    d = rng.poisson(rng.uniform(0.2, 8.0, (n, 1)), (n, T)).astype(float)
    pol = Policy(
        kind=np.array(["RS", "sS", "sQ"])[np.arange(n) % 3],
        review_period=rng.integers(1, 8, n),
        review_offset=rng.integers(0, 7, n),
        order_up_to=rng.uniform(5, 80, n),
        reorder_point=rng.uniform(0, 30, n),
        order_quantity=rng.uniform(5, 40, n),
    )
    pipeline0 = np.zeros((n, 5))
    pipeline0[:, 3] = 7.0
    for warmup in (0, 30):
        res = simulate_policy(
            d,
            pol,
            lead_time_pmf=BIMODAL,
            case_pack=rng.integers(1, 7, n),
            moq=5,
            on_hand0=rng.uniform(0, 40, n),
            pipeline0=pipeline0,
            backorders=backorders,
            warmup_days=warmup,
            record=True,
        )
        k, tr = res.kpis, res.trajectory
        lhs = k["on_hand_end"]
        rhs = (
            k["on_hand_start"]
            + k["received_units"]
            - k["sales_units"]
            - k["backorders_filled_units"]
        )
        np.testing.assert_allclose(lhs, rhs, atol=1e-9)
        assert (k["sales_units"] <= k["demand_units"] + 1e-9).all()
        np.testing.assert_allclose(k["unmet_units"], k["demand_units"] - k["sales_units"])
        if backorders:
            assert (k["lost_units"] == 0).all()
        else:
            np.testing.assert_allclose(k["lost_units"], k["demand_units"] - k["sales_units"])
            assert (k["backorders_filled_units"] == 0).all() and (k["backlog_end"] == 0).all()
        np.testing.assert_allclose(k["received_units"], tr["received"][:, warmup:].sum(1))
        np.testing.assert_allclose(k["sales_units"], tr["sales"][:, warmup:].sum(1))
        assert (tr["on_hand"] >= 0).all()
    # everything ordered or in the initial pipeline is either received or still on order
    ordered = tr["orders"].sum(1) + pipeline0.sum(1)
    np.testing.assert_allclose(ordered, tr["received"].sum(1) + k["on_order_end"], atol=1e-9)


def test_orders_are_rounded_to_case_packs_and_moq_and_only_on_review_days():
    rng = np.random.default_rng(8)
    n, T = 300, 90
    d = rng.poisson(4.0, (n, T))
    R, off = rng.integers(2, 10, n), rng.integers(0, 10, n)
    cp = rng.integers(1, 13, n)
    moq = 24
    res = simulate_policy(
        d, _rs(R, 60, review_offset=off), lead_time=3, case_pack=cp, moq=moq, record=True
    )
    o = res.trajectory["orders"]
    placed = o > 0
    assert placed.sum() > 1000
    assert (o[placed] % np.broadcast_to(cp[:, None], o.shape)[placed] == 0).all()
    assert (o[placed] >= moq).all()
    t = np.arange(T)[None, :]
    review = (t >= off[:, None]) & ((t - off[:, None]) % R[:, None] == 0)
    assert not (placed & ~review).any()
    # by hand: need 14 -> 3 cases of 6 = 18; with MOQ 25 -> 5 cases = 30
    d1 = np.full((1, 10), 2.0)
    tr = simulate_policy(d1, _rs(7, 20), lead_time=3, case_pack=6, record=True).trajectory
    assert tr["orders"][0, 7] == 18
    tr = simulate_policy(d1, _rs(7, 20), lead_time=3, case_pack=6, moq=25, record=True).trajectory
    assert tr["orders"][0, 7] == 30


def test_sequential_deliveries_never_arrive_before_earlier_orders():
    rng = np.random.default_rng(3)
    n, T = 200, 200
    d = rng.poisson(5.0, (n, T))
    tr = simulate_policy(
        d, _rs(3, 80), lead_time_pmf=BIMODAL, crossing=False, record=True
    ).trajectory
    lt = tr["lead_time"]
    for i in range(20):  # per-row check of the recorded arrival days
        days = np.flatnonzero(lt[i] >= 0)
        arrival = days + lt[i, days]
        assert (np.diff(arrival) >= 0).all()
    crossed = simulate_policy(
        d, _rs(3, 80), lead_time_pmf=BIMODAL, crossing=True, record=True
    ).trajectory["lead_time"]
    days = np.flatnonzero(crossed[0] >= 0)
    assert (np.diff(days + crossed[0, days]) < 0).any()


# --------------------------------------------------------------------------------------------
# bullwhip
# --------------------------------------------------------------------------------------------
def test_bullwhip_is_one_for_daily_order_up_to_and_large_for_big_batches():
    rng = np.random.default_rng(6)
    n, T = 2000, 365
    d = rng.poisson(5.0, (n, T))
    daily = simulate_policy(d, _rs(1, 40), lead_time=2, backorders=True, record=True)
    o = daily.trajectory["orders"]
    np.testing.assert_array_equal(o[:, 1:], d[:, :-1])  # each order replaces yesterday's demand
    bw = daily.segments.loc["all"]
    assert abs(bw["bullwhip_median"] - 1.0) < 0.05
    assert abs(bw["bullwhip_mean"] - 1.0) < 0.05
    batch = simulate_policy(d, static_rule_policy(np.full(n, 5.0), 7, 6), lead_time=2)
    assert batch.segments.loc["all", "bullwhip_median"] > 5


# --------------------------------------------------------------------------------------------
# static rule, segments, comparison, tuning
# --------------------------------------------------------------------------------------------
def test_static_rule_policy_levels():
    avg = np.array([2.0, 0.5, 0.0])
    p = static_rule_policy(avg, reorder_days=10, order_weeks=2, case_pack=[6, 4, 12])
    assert p.kind == "sQ"
    np.testing.assert_allclose(p.reorder_point, [20, 5, 0])
    np.testing.assert_allclose(p.order_quantity, [30, 8, 12])  # 28 -> 5 cases, 7 -> 2, 0 -> 1
    mm = static_rule_policy(avg, 10, 2, case_pack=[6, 4, 12], kind="sS")
    np.testing.assert_allclose(mm.order_up_to, [50, 13, 12])


def _two_segment_panel(n: int = 1000, T: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(10)
    lam = np.where(np.arange(n) % 2 == 0, 8.0, 1.0)
    d = rng.poisson(lam[:, None], (n, T))
    seg = np.where(lam > 2, "A", "C")
    return d, lam, seg


def test_segments_and_comparison_tables():
    d, lam, seg = _two_segment_panel()
    n = d.shape[0]
    L, R = 7, 7
    S = stats.poisson.ppf(0.97, lam * (L + R))
    cost = np.where(seg == "A", 3.0, 10.0)
    common = {
        "lead_time": L,
        "unit_cost": cost,
        "segment": seg,
        "target_csl": 0.97,
        "target_fill_rate": 0.98,
    }
    ours = simulate_policy(d, _rs(R, S), **common)
    static = simulate_policy(d, static_rule_policy(lam, 10, 3), **common)
    seg_k = ours.segments
    assert list(seg_k.index) == ["A", "C", "all"]
    assert seg_k.loc["all", "n_sku_locations"] == n
    k = ours.kpis
    a = k[k["segment"] == "A"]
    assert seg_k.loc["A", "fill_rate"] == pytest.approx(
        a["sales_units"].sum() / a["demand_units"].sum()
    )
    assert seg_k.loc["A", "avg_on_hand_value"] == pytest.approx((a["avg_on_hand_units"] * 3).sum())
    expected_turns = (
        (a["sales_units"] * 3).sum() * 365 / ours.days_measured / (a["avg_on_hand_units"] * 3).sum()
    )
    assert seg_k.loc["A", "turns"] == pytest.approx(expected_turns)
    assert seg_k.loc["all", "csl"] == pytest.approx(
        1 - k["n_stockout_cycles"].sum() / k["n_cycles"].sum()
    )

    cmp = compare_policies(ours, static)
    for s in ["A", "C", "all"]:
        va = ours.segments.loc[s, "avg_on_hand_value"]
        vb = static.segments.loc[s, "avg_on_hand_value"]
        assert cmp.loc[s, "inventory_value_diff_pct"] == pytest.approx(100 * (vb - va) / va)
        fa = ours.segments.loc[s, "fill_rate"]
        fb = static.segments.loc[s, "fill_rate"]
        assert cmp.loc[s, "fill_rate_diff_pts"] == pytest.approx(100 * (fb - fa))
    assert {"fill_rate_ours", "fill_rate_static", "turns_ours", "turns_static"} <= set(cmp.columns)
    with pytest.raises(ValueError):
        compare_policies(ours, simulate_policy(d[:10], _rs(R, S[:10]), lead_time=L))


def test_tune_static_rule_finds_smallest_cover_reaching_the_fill_rate():
    d, lam, seg = _two_segment_panel(600, 200)
    L, R = 7, 7
    ours = simulate_policy(d, _rs(R, stats.poisson.ppf(0.97, lam * (L + R))), lead_time=L)
    target = float(ours.segments.loc["all", "fill_rate"])
    grid = (2, 4, 7, 10, 14, 21, 28)
    full = tune_static_rule(
        d, lam, target, order_weeks=2, reorder_days_grid=grid, lead_time=L, stop_at_first=False
    )
    assert full.grid["reorder_days"].tolist() == list(map(float, grid))
    fr = full.grid["fill_rate"].to_numpy()
    assert (np.diff(fr) >= -1e-3).all()  # more cover, more fill
    assert (np.diff(full.grid["avg_on_hand_units"]) > 0).all()
    first = full.grid.loc[full.grid["meets_target"], "reorder_days"].min()
    assert full.reorder_days == first
    assert full.grid.loc[full.grid["reorder_days"] < first, "fill_rate"].lt(target).all()
    quick = tune_static_rule(d, lam, target, order_weeks=2, reorder_days_grid=grid, lead_time=L)
    assert quick.reorder_days == first and len(quick.grid) == grid.index(first) + 1
    cmp = compare_policies(ours, quick.result)
    assert cmp.loc["all", "fill_rate_static"] >= target
    assert np.isfinite(cmp.loc["all", "inventory_value_diff_pct"])
    none = tune_static_rule(d, lam, 1.01, reorder_days_grid=(1, 2), lead_time=L)
    assert none.reorder_days is None and none.result is None and len(none.grid) == 2


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def test_invalid_inputs_are_rejected():
    d = np.ones((3, 10))
    with pytest.raises(ValueError, match="order_up_to"):
        simulate_policy(d, Policy("RS", 7), lead_time=1)
    with pytest.raises(ValueError, match="exactly one"):
        simulate_policy(d, _rs(7, 5))
    with pytest.raises(ValueError, match="kind"):
        simulate_policy(d, Policy("XY", 7, order_up_to=5), lead_time=1)
    with pytest.raises(ValueError, match="warmup"):
        simulate_policy(d, _rs(7, 5), lead_time=1, warmup_days=10)
    out = simulate_policy(d, _rs(7, 5), lead_time=1, index=pd.Index(["a", "b", "c"], name="k"))
    assert list(out.kpis.index) == ["a", "b", "c"]


def test_segment_target_is_cycle_weighted_and_csl_has_a_cluster_standard_error():
    # half the SKU-locations reviewed weekly at 90 %, half fortnightly at 80 %: the pooled CSL
    # counts twice as many weekly cycles, so its target is (2 x 0.9 + 0.8) / 3, not 0.85
    rng = np.random.default_rng(21)
    n, T, L = 2000, 364, 2
    R = np.where(np.arange(n) < n // 2, 7, 14)
    tgt = np.where(R == 7, 0.9, 0.8)
    lam = 2.0
    S = stats.poisson.ppf(tgt, lam * (R + L))
    d = rng.poisson(lam, (n, T))
    res = simulate_policy(
        d, Policy.order_up_to_level(R, S), lead_time=L, backorders=True, target_csl=tgt
    )
    tot = res.segments.loc["all"]
    cyc = res.kpis["n_cycles"].to_numpy()
    assert tot["target_csl"] == pytest.approx(np.average(tgt, weights=cyc))
    assert tot["target_csl"] == pytest.approx((2 * 0.9 + 0.8) / 3, abs=0.005)
    assert tot["target_csl_mean"] == pytest.approx(0.85)
    # cycles are independent here (deterministic L, backorders) and, within one review group,
    # equally likely to fail: the cluster SE is then the binomial one, and the pooled CSL sits
    # within 4 of them of the exact service
    weekly = res.kpis.iloc[: n // 2].assign(segment="weekly")
    seg = segment_kpis(weekly, res.days_measured).loc["weekly"]
    exact = stats.poisson.cdf(S[0], lam * (7 + L))
    binom = np.sqrt(exact * (1 - exact) / seg["n_cycles"])
    assert seg["csl_se"] == pytest.approx(binom, rel=0.15)
    assert abs(seg["csl"] - exact) < 4 * seg["csl_se"]
    # across both groups the SE also carries the spread between SKU-locations (0.9 vs 0.8)
    assert tot["csl_se"] > 1.2 * np.sqrt(tot["csl"] * (1 - tot["csl"]) / cyc.sum())
