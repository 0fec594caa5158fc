"""Tests of ml.inventory.safety_stock: exact cases against scipy, Monte Carlo against simulation.

Monte Carlo tests run many independent cycles or replications as numpy arrays (a Python loop
only over simulated days) with fixed seeds, and compare with a tolerance of 4.5 standard errors
where a model value exists, so a correct implementation fails with probability below 1e-5 while
the errors they guard against (a normal approximation of a bimodal lead time, a missing
lead-time term, a wrong protection interval) move the estimates by tens of standard errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.inventory import safety_stock as ss

K = 40


def _bimodal() -> np.ndarray:
    pmf = np.zeros((1, K))
    pmf[0, 7] = 0.85
    pmf[0, 21] = 0.15
    return pmf


def _normal_lead_time(mean: float = 15.0, sd: float = 3.0) -> np.ndarray:
    d = np.arange(K)
    p = stats.norm.cdf(d + 0.5, mean, sd) - stats.norm.cdf(d - 0.5, mean, sd)
    return (p / p.sum())[None, :]


def _simulate_cycles(
    rng: np.random.Generator,
    pmf: np.ndarray,
    mu: float,
    review: int,
    n: int,
    level_cv2: float = 0.0,
) -> np.ndarray:
    """Demand over L + R days per cycle: draw L, then sum daily Poisson demand over L + R days.

    With ``level_cv2`` every cycle first draws a level factor G ~ Gamma(mean 1, var level_cv2)
    that scales all its days (the shared forecast-level error).
    """
    lead = rng.choice(pmf.shape[1], size=n, p=pmf[0])
    horizon = lead + review
    level = rng.gamma(1.0 / level_cv2, level_cv2, n)[:, None] if level_cv2 > 0 else 1.0
    daily = rng.poisson(mu * level, size=(n, int(horizon.max())))
    in_window = np.arange(int(horizon.max()))[None, :] < horizon[:, None]
    return (daily * in_window).sum(axis=1)


def _se(p: float, n: int) -> float:
    return float(np.sqrt(p * (1.0 - p) / n))


# --------------------------------------------------------------------------------------------
# (a) bimodal lead time: the mixture hits the target, the textbook figure does not
# --------------------------------------------------------------------------------------------


def test_bimodal_lead_time_mixture_meets_csl_and_textbook_falls_short() -> None:
    pmf = _bimodal()
    out = ss.policy_levels(10.0, 10.0, 7, pmf, 0, target_csl=0.95)
    S = out["order_up_to"].iloc[0]
    tb = out["textbook_order_up_to"].iloc[0]
    # textbook: E[L] = 9.1, sd_L = 14 sqrt(0.85 * 0.15); z sqrt(16.1 * 10 + 100 * sd_L^2)
    sd_l = 14.0 * np.sqrt(0.85 * 0.15)
    assert out["textbook_safety_stock"].iloc[0] == pytest.approx(
        stats.norm.ppf(0.95) * np.sqrt(16.1 * 10.0 + 100.0 * sd_l**2), rel=1e-9
    )
    # our level: 0.85 * 1 + 0.15 * P(Poisson(280) <= S) >= 0.95, smallest such S
    model = 0.85 * stats.poisson.cdf(S, 140) + 0.15 * stats.poisson.cdf(S, 280)
    below = 0.85 * stats.poisson.cdf(S - 1, 140) + 0.15 * stats.poisson.cdf(S - 1, 280)
    assert model >= 0.95 > below
    assert out["expected_csl"].iloc[0] == pytest.approx(model, abs=1e-9)

    n = 250_000
    demand = _simulate_cycles(np.random.default_rng(11), pmf, 10.0, 7, n)
    csl_ours = float((demand <= S).mean())
    csl_tb = float((demand <= np.floor(tb)).mean())
    assert abs(csl_ours - 0.95) < 0.005
    assert abs(csl_ours - model) < 4.5 * _se(model, n)
    # the textbook level sized for 95% really gives about 85%, and the module says so
    assert 0.84 < csl_tb < 0.88
    assert abs(out["textbook_csl"].iloc[0] - csl_tb) < 4.5 * _se(csl_tb, n)
    assert out["safety_stock"].iloc[0] > out["textbook_safety_stock"].iloc[0] + 30


def test_shared_level_variance_csl_matches_simulation() -> None:
    # Daily Poisson scaled by one gamma level per cycle is exactly negative binomial over any
    # horizon, with variance mu t + level_cv2 (mu t)^2: the moment match is then exact.
    pmf = _bimodal()
    out = ss.policy_levels(10.0, 10.0, 7, pmf, 0, target_csl=0.90, level_cv2=0.05)
    S = out["order_up_to"].iloc[0]
    n = 200_000
    demand = _simulate_cycles(np.random.default_rng(12), pmf, 10.0, 7, n, level_cv2=0.05)
    sim = float((demand <= S).mean())
    assert abs(sim - out["expected_csl"].iloc[0]) < 4.5 * _se(sim, n)
    assert abs(sim - 0.90) < 0.006
    # ignoring the level variance misses the target (here it over-stocks: the 90% quantile lies
    # below the mean of the 21-day mode, where a wider mode means a lower quantile)
    no_level = ss.policy_levels(10.0, 10.0, 7, pmf, 0, target_csl=0.90)["order_up_to"].iloc[0]
    assert abs(float((demand <= no_level).mean()) - 0.90) > 0.015


# --------------------------------------------------------------------------------------------
# (b) normal lead time with CV 0.2: mixture and textbook agree
# --------------------------------------------------------------------------------------------


def test_normal_lead_time_mixture_and_textbook_agree_within_one_point() -> None:
    pmf = _normal_lead_time(15.0, 3.0)
    out = ss.policy_levels(10.0, 10.0, 7, pmf, 0, target_csl=0.95)
    S = out["order_up_to"].iloc[0]
    tb = np.floor(out["textbook_order_up_to"].iloc[0])
    n = 200_000
    demand = _simulate_cycles(np.random.default_rng(13), pmf, 10.0, 7, n)
    sim_ours = float((demand <= S).mean())
    sim_tb = float((demand <= tb).mean())
    assert abs(sim_ours - 0.95) < 0.005
    assert abs(sim_tb - 0.95) < 0.01
    assert abs(sim_ours - sim_tb) < 0.01
    assert abs(out["textbook_csl"].iloc[0] - sim_tb) < 4.5 * _se(sim_tb, n)


# --------------------------------------------------------------------------------------------
# (c) fill rate checked on the simulated (R, S) backorder process
# --------------------------------------------------------------------------------------------


def _simulate_rs_fill_rate(
    pmf: np.ndarray,
    mu: float,
    var: float,
    review: int,
    S: float,
    *,
    reps: int,
    days: int,
    warm: int,
    per_order_lead_times: bool,
    seed: int,
) -> tuple[float, float]:
    """Fill rate of an (R, S) policy with backorders, simulated day by day for ``reps`` items.

    Every ``review`` days the item orders up to S (inventory position = net stock + on order);
    the order arrives L days later, at the start of the day, before that day's demand. Daily
    demand is negative binomial with the given mean and variance. With
    ``per_order_lead_times=False`` each replication keeps one lead time drawn from the pmf
    (delays persist, orders never cross: the model's assumption); with ``True`` every order
    draws its own. Returns the pooled fill rate and its standard error across replications.
    """
    rng = np.random.default_rng(seed)
    size, prob = mu * mu / (var - mu), mu / var
    arrivals = np.zeros((reps, days + pmf.shape[1] + 1))
    net = np.full(reps, float(S))
    on_order = np.zeros(reps)
    fixed = rng.choice(pmf.shape[1], size=reps, p=pmf[0])
    rows = np.arange(reps)
    demand_tot = np.zeros(reps)
    short_tot = np.zeros(reps)
    for t in range(days):
        if t % review == 0:
            q = np.maximum(S - (net + on_order), 0.0)
            lead = rng.choice(pmf.shape[1], size=reps, p=pmf[0]) if per_order_lead_times else fixed
            arrivals[rows, t + lead] += q
            on_order += q
        net += arrivals[:, t]
        on_order -= arrivals[:, t]
        d = rng.negative_binomial(size, prob, size=reps)
        if t >= warm:
            demand_tot += d
            short_tot += d - np.minimum(d, np.maximum(net, 0.0))
        net -= d
    fr = 1.0 - short_tot.sum() / demand_tot.sum()
    se = np.std(short_tot - (1.0 - fr) * demand_tot) / demand_tot.mean() / np.sqrt(reps)
    return float(fr), float(se)


def test_fill_rate_target_matches_simulated_backorder_process() -> None:
    pmf = _bimodal()
    out = ss.policy_levels(5.0, 10.0, 7, pmf, 0, target_fill_rate=0.98)
    S = out["order_up_to"].iloc[0]
    model = out["expected_fill_rate"].iloc[0]
    assert model >= 0.98
    assert ss.fill_rate(S - 1, 5.0, 10.0, 7, pmf, 0)[0] < 0.98
    fr, se = _simulate_rs_fill_rate(
        pmf, 5.0, 10.0, 7, S, reps=6000, days=420, warm=56, per_order_lead_times=False, seed=21
    )
    assert abs(fr - model) < 4.5 * se
    assert fr > 0.98 - 4.5 * se
    # A level 10 units lower loses a measurable share, also as predicted.
    fr_low, se_low = _simulate_rs_fill_rate(
        pmf,
        5.0,
        10.0,
        7,
        S - 10,
        reps=6000,
        days=420,
        warm=56,
        per_order_lead_times=False,
        seed=22,
    )
    model_low = ss.fill_rate(S - 10, 5.0, 10.0, 7, pmf, 0)[0]
    assert abs(fr_low - model_low) < 4.5 * se_low
    assert model - model_low > 0.01


def test_independent_per_order_lead_times_make_the_mixture_conservative() -> None:
    # Documented assumption: when every order draws its own lead time, orders overtake each
    # other, the pipeline arrives more evenly, and the service achieved is above the target.
    pmf = _bimodal()
    S = ss.policy_levels(5.0, 10.0, 7, pmf, 0, target_fill_rate=0.98)["order_up_to"].iloc[0]
    fr, se = _simulate_rs_fill_rate(
        pmf, 5.0, 10.0, 7, S, reps=3000, days=420, warm=56, per_order_lead_times=True, seed=23
    )
    assert fr > 0.98 + 4.5 * se


# --------------------------------------------------------------------------------------------
# (d) exact cases against scipy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream_limit", [400, -1])  # walk the pmf / special-function search
def test_deterministic_lead_time_poisson_is_exactly_the_poisson_quantile(stream_limit: int) -> None:
    pmf = np.zeros((1, K))
    pmf[0, 10] = 1.0
    mu = np.concatenate((np.linspace(0.01, 3.0, 150), np.linspace(3.0, 60.0, 150)))
    for target in (0.5, 0.9, 0.95, 0.99):
        out = ss.policy_levels(mu, mu, 7, pmf, 0, target_csl=target, stream_limit=stream_limit)
        np.testing.assert_array_equal(out["order_up_to"], stats.poisson.ppf(target, 17 * mu))
        np.testing.assert_array_equal(out["reorder_point"], stats.poisson.ppf(target, 10 * mu))
        np.testing.assert_allclose(
            out["expected_csl"], stats.poisson.cdf(out["order_up_to"], 17 * mu), rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("stream_limit", [400, -1])
def test_deterministic_lead_time_overdispersed_is_exactly_the_negative_binomial_quantile(
    stream_limit: int,
) -> None:
    pmf = np.zeros((1, K))
    pmf[0, 5] = 1.0
    mu = np.geomspace(0.02, 40.0, 200)
    var = mu * (1.0 + 0.4 * mu)
    out = ss.policy_levels(mu, var, 14, pmf, 0, target_csl=0.97, stream_limit=stream_limit)
    m, v = 19 * mu, 19 * var
    np.testing.assert_array_equal(
        out["order_up_to"], stats.nbinom.ppf(0.97, m * m / (v - m), m / v)
    )


def test_walk_and_search_give_identical_levels_on_random_inputs() -> None:
    rng = np.random.default_rng(3)
    groups = 50
    d = np.arange(K)
    mean = rng.uniform(0, 25, groups)
    sd = rng.uniform(0.3, 6, groups)
    pmf = stats.norm.pdf(d[None, :], mean[:, None], sd[:, None]) + 1e-12
    pmf[:10] = 0
    pmf[:10, 0] = 1.0  # zero lead time
    pmf[10:20, 3] += 0.3  # bimodal
    pmf /= pmf.sum(axis=1, keepdims=True)
    n = 3000
    mu = rng.lognormal(-0.3, 1.5, n)
    mu[:50] = 0.0
    kw = {
        "target_csl": rng.choice([0.5, 0.9, 0.98, 0.999, np.nan], n),
        "target_fill_rate": rng.choice([0.8, 0.95, 0.99, np.nan], n),
        "level_cv2": rng.uniform(0, 0.05, n),
    }
    args = (
        mu,
        mu * rng.uniform(0.6, 3.0, n),
        rng.choice([0, 1, 7, 14], n),
        pmf,
        rng.integers(0, groups, n),
    )
    walk = ss.policy_levels(*args, **kw)
    search = ss.policy_levels(*args, stream_limit=-1, **kw)
    pd.testing.assert_frame_equal(walk, search, check_exact=False, rtol=1e-9, atol=1e-12)
    # a short walk hands its unfinished SKU-locations over to the search
    handover = ss.policy_levels(*args, stream_limit=4, **kw)
    pd.testing.assert_frame_equal(handover, search, check_exact=False, rtol=1e-9, atol=1e-12)
    # and the levels are the smallest that meet their definitions
    S = walk["order_up_to_csl"].to_numpy()
    has = ~np.isnan(S) & (S > 0)
    sub = tuple(a[has] for a in (args[0], args[1], args[2])) + (pmf, args[4][has])
    c2 = kw["level_cv2"][has]
    at = ss.mixture_cdf(S[has], *sub, level_cv2=c2, min_weight=1e-7)
    before = ss.mixture_cdf(S[has] - 1, *sub, level_cv2=c2, min_weight=1e-7)
    assert np.all(at >= kw["target_csl"][has] - 1e-12)
    assert np.all(before < kw["target_csl"][has])


# --------------------------------------------------------------------------------------------
# Building blocks against brute force
# --------------------------------------------------------------------------------------------


def _brute_force(mu: float, var: float, review: int, pmf: np.ndarray, c2: float) -> np.ndarray:
    """pmf of D_{L+R} on 0..1999 by summing scipy pmfs over the lead-time support."""
    x = np.arange(2000)
    out = np.zeros(x.size)
    for lead, w in enumerate(pmf[0]):
        if w == 0:
            continue
        t = lead + review
        m = mu * t
        v = var * t + c2 * m * m
        out += w * (
            stats.poisson.pmf(x, m) if v <= m else stats.nbinom.pmf(x, m * m / (v - m), m / v)
        )
    return out


def test_moments_cdf_loss_and_fill_rate_match_brute_force_sums() -> None:
    pmf = _bimodal() * 0.9 + _normal_lead_time(12.0, 2.0) * 0.1
    mu, var, review, c2 = 3.0, 5.0, 7, 0.03
    f = _brute_force(mu, var, review, pmf, c2)
    x = np.arange(f.size)
    mean, sd = ss.lead_time_demand_moments(mu, var, review, pmf, 0, c2)
    assert mean[0] == pytest.approx((x * f).sum(), rel=1e-9)
    assert sd[0] == pytest.approx(np.sqrt((x**2 * f).sum() - (x * f).sum() ** 2), rel=1e-7)
    for s in (0, 20, 50, 80, 130):
        assert ss.mixture_cdf(s, mu, var, review, pmf, 0, c2)[0] == pytest.approx(
            f[: s + 1].sum(), abs=1e-12
        )
        assert ss.mixture_loss(s, mu, var, review, pmf, 0, c2)[0] == pytest.approx(
            (np.maximum(x - s, 0) * f).sum(), rel=1e-9, abs=1e-12
        )
    f_l = _brute_force(mu, var, 0, pmf, c2)
    S = 60
    short = (np.maximum(x - S, 0) * f).sum() - (np.maximum(x - S, 0) * f_l).sum()
    assert ss.fill_rate(S, mu, var, review, pmf, 0, c2)[0] == pytest.approx(
        1.0 - short / (mu * review), rel=1e-10
    )


def test_edge_cases_zero_demand_zero_lead_time_and_no_targets() -> None:
    pmf = np.zeros((2, K))
    pmf[0, 0] = 1.0
    pmf[1, 5] = 1.0
    out = ss.policy_levels(
        [0.0, 2.0, 2.0, 2.0],
        [0.0, 2.0, 2.0, 2.0],
        [7, 0, 7, 7],
        pmf,
        [1, 0, 0, 1],
        target_csl=[0.95, 0.95, np.nan, np.nan],
        target_fill_rate=[0.99, 0.99, 0.9, np.nan],
    )
    assert out.loc[0, "order_up_to"] == 0.0  # no demand: nothing to stock
    assert out.loc[0, "expected_csl"] == 1.0
    assert out.loc[1, "reorder_point"] == 0.0  # zero lead time: nothing to cover before arrival
    assert out.loc[1, "order_up_to_fill_rate"] == 0.0  # R = 0: no demand per cycle to fill
    assert np.isnan(out.loc[2, "order_up_to_csl"]) and out.loc[2, "order_up_to"] >= 0
    assert out.loc[2, "expected_fill_rate"] >= 0.9
    assert np.isnan(out.loc[3, "order_up_to"]) and np.isnan(out.loc[3, "safety_stock"])
    assert list(out.columns) == list(ss.POLICY_LEVEL_COLUMNS)


def test_invalid_inputs_are_rejected() -> None:
    pmf = _bimodal()
    with pytest.raises(ValueError, match="target_csl"):
        ss.policy_levels(1.0, 1.0, 7, pmf, 0, target_csl=1.0)
    with pytest.raises(ValueError, match="group"):
        ss.policy_levels(1.0, 1.0, 7, pmf, 3, target_csl=0.9)
    with pytest.raises(ValueError, match="pmf"):
        ss.policy_levels(1.0, 1.0, 7, -pmf, 0, target_csl=0.9)
    with pytest.raises(ValueError, match="whole days"):
        ss.policy_levels(1.0, 1.0, 7.5, pmf, 0, target_csl=0.9)
    with pytest.raises(ValueError, match="mu"):
        ss.policy_levels(-1.0, 1.0, 7, pmf, 0, target_csl=0.9)


def test_cdf_window_equals_the_cdf_at_every_level() -> None:
    # the recurrence from one special-function evaluation gives the same numbers as the CDF
    # evaluated level by level: Poisson, negative binomial, zero demand, a bimodal lead time,
    # windows that start below level 0
    rng = np.random.default_rng(17)
    n = 300
    pmf = np.zeros((3, 22))
    pmf[0, 2] = 1.0
    pmf[1, 7], pmf[1, 21] = 0.85, 0.15
    pmf[2, 3:9] = 1 / 6
    mu = rng.uniform(0.0, 20.0, n)
    mu[:10] = 0.0
    var = mu * rng.choice([1.0, 1.5, 4.0], n)
    c2 = rng.choice([0.0, 0.05], n)
    R = rng.choice([7, 14], n)
    g = rng.integers(0, 3, n)
    base = np.floor(mu * 12 * rng.uniform(0.5, 1.5, n)) - 3
    grid = ss.mixture_cdf_window(base, -5, 6, mu, var, R, pmf, g, c2, block_size=64)
    for j, k in enumerate(range(-5, 7)):
        lvl = base + k
        ref = np.where(lvl >= 0, ss.mixture_cdf(np.maximum(lvl, 0), mu, var, R, pmf, g, c2), 0.0)
        assert np.allclose(grid[:, j], ref, atol=1e-11, rtol=0), k
