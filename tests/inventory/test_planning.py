"""Tests of ml.inventory.planning: weekday shape, case-pack service, the rounding rules and the
service calibration on past protection intervals, against hand values and Monte Carlo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.inventory.planning import (
    POOLED_GROUP,
    calibrated_cdf,
    calibrated_csl_target,
    calibration_for,
    case_pack_order_up_to,
    fit_service_calibration,
    holdout_calibration,
    interval_demand,
    interval_pits,
    plan_levels,
    stable_uniform,
    weekday_interval_fraction,
    weekly_interval_pits,
)
from ml.inventory.safety_stock import mixture_cdf, policy_levels
from ml.inventory.simulation import Policy, simulate_policy


def _point_pmf(days: int) -> np.ndarray:
    pmf = np.zeros((1, days + 1))
    pmf[0, days] = 1.0
    return pmf


def _frame(n: int, weekly_mean, weekly_var, c2=0.0, review=7, target=0.9, case_pack=1):
    return pd.DataFrame(
        {
            "sku": [f"S{i:05d}" for i in range(n)],
            "location_id": "L1",
            "weekly_mean": np.broadcast_to(weekly_mean, (n,)).astype(float),
            "weekly_var_indep": np.broadcast_to(weekly_var, (n,)).astype(float),
            "level_cv2": np.broadcast_to(c2, (n,)).astype(float),
            "review_days": np.broadcast_to(review, (n,)).astype(int),
            "lead_time_group": 0,
            "target_csl": np.broadcast_to(target, (n,)).astype(float),
            "case_pack": np.broadcast_to(case_pack, (n,)).astype(float),
        }
    )


# --------------------------------------------------------------------------------------------
# weekday shape and interval sums
# --------------------------------------------------------------------------------------------
def test_weekday_fraction_is_days_over_seven_when_flat_and_shaped_otherwise() -> None:
    flat = np.full(7, 1 / 7)
    assert weekday_interval_fraction(flat, 0, 9)[0] == pytest.approx(9 / 7)
    shares = np.array([0.1, 0.1, 0.1, 0.1, 0.15, 0.25, 0.2])
    # Monday-Tuesday of a weekend-heavy store: 0.2 of a week, not 2/7
    assert weekday_interval_fraction(shares, 0, 2)[0] == pytest.approx(0.2)
    # Saturday + 8 days wraps: Sat, Sun, Mon..Fri, Sat = 1 week + Saturday
    assert weekday_interval_fraction(shares, 5, 8)[0] == pytest.approx(1.25)


def test_interval_demand_sums_days_and_is_unknown_past_the_last_day() -> None:
    d = np.arange(20, dtype=float).reshape(2, 10)
    out = interval_demand(d, np.array([2, 7]), np.array([3, 4]))
    assert out[0] == 2 + 3 + 4
    assert np.isnan(out[1])  # days 7..10 run past day 9
    assert interval_demand(d, 0, 10)[1] == d[1].sum()


# --------------------------------------------------------------------------------------------
# case packs and rounding
# --------------------------------------------------------------------------------------------
def test_case_pack_service_matches_the_backorder_simulation() -> None:
    # Poisson 1.5/day, R = 7, L = 2, case pack 6: the inventory position after an order is
    # S + U with U uniform on 0..5, so the cycle service is mean_u F(S + u), not F(S)
    n, lam, R, L, c = 3000, 1.5, 7, 2, 6
    pmf = _point_pmf(L)

    def cdf(s):
        return mixture_cdf(s, np.full(n, lam), np.full(n, lam), R, pmf, 0)

    start = np.full(n, float(stats.poisson.ppf(0.9, lam * (R + L))))
    S, G = case_pack_order_up_to(start, np.full(n, 0.9), cdf, np.full(n, c))
    assert S[0] < start[0]  # the case pack buys service: a lower level meets the target
    exact = np.mean([stats.poisson.cdf(S[0] + u, lam * (R + L)) for u in range(c)])
    assert G[0] == pytest.approx(exact, abs=1e-12)
    rng = np.random.default_rng(3)
    demand = rng.poisson(lam, (n, 400))
    res = simulate_policy(
        demand, Policy.order_up_to_level(R, S), lead_time=L, case_pack=c, backorders=True, rng=0
    )
    csl = res.segments.loc["all", "csl"]
    se = np.sqrt(exact * (1 - exact) / res.segments.loc["all", "n_cycles"])
    assert abs(csl - exact) < 4 * se + 0.004, (csl, exact)


def test_dither_buys_the_target_in_expectation_and_stays_within_one_unit() -> None:
    rng = np.random.default_rng(7)
    n = 400
    mu = rng.uniform(0.05, 3.0, n)
    R, L = 14, 2
    pmf = _point_pmf(L)
    cp = rng.choice([1.0, 4.0, 6.0], n)
    tgt = rng.uniform(0.8, 0.97, n)

    def cdf(s):
        return mixture_cdf(s, mu, mu * 1.5, R, pmf, 0)

    start = policy_levels(mu, mu * 1.5, R, pmf, 0, target_csl=tgt)["order_up_to_csl"].to_numpy()
    assert np.all(cdf(start) >= tgt) and np.all(cdf(start - 1) < tgt)
    s_hi, g_hi = case_pack_order_up_to(start, tgt, cdf, cp, "at_least")
    s_lo_all, g_lo_all = case_pack_order_up_to(start, tgt, cdf, cp, "dither", u=np.zeros(n))
    s_hi_all, g_hi_all = case_pack_order_up_to(start, tgt, cdf, cp, "dither", u=np.ones(n) - 1e-15)
    assert np.array_equal(s_hi_all, s_hi)  # u just below 1: never the lower level
    moved = s_lo_all < s_hi
    assert np.all((s_lo_all == s_hi) | (s_lo_all == s_hi - 1))
    assert np.all(g_lo_all[moved] < tgt[moved]) and np.all(g_hi[moved] >= tgt[moved])
    # P(lower) = (G_hi - t) / (G_hi - G_lo): expected service = target, exactly
    p_lo = np.where(moved, (g_hi - tgt) / np.where(moved, g_hi - g_lo_all, 1.0), 0.0)
    expected = p_lo * g_lo_all + (1 - p_lo) * g_hi
    assert np.allclose(expected[moved], tgt[moved], atol=1e-12)
    # over many independent draws the mean service converges to the mean target
    draws = [
        case_pack_order_up_to(start, tgt, cdf, cp, "dither", u=rng.random(n))[1] for _ in range(200)
    ]
    assert np.mean(draws) == pytest.approx(tgt.mean(), abs=1e-3)
    # at_least sits above the target on average by the rounding, dither does not
    assert g_hi.mean() - tgt.mean() > 0.01


def test_dither_centres_slow_movers_in_simulation_where_nearest_sits_above() -> None:
    # 3,000 slow movers (Poisson 0.1-1/day), R = 14, L = 2, target 85%, backorders: the
    # achieved cycle service of dithered levels is centred on the target
    rng = np.random.default_rng(11)
    n = 3000
    lam = rng.uniform(0.1, 1.0, n)
    frame = _frame(n, lam * 7, lam * 7, review=14, target=0.85)
    pmf = _point_pmf(2)
    demand = rng.poisson(lam[:, None], (n, 364))
    out = {}
    for rule in ("nearest", "dither", "at_least"):
        lv = plan_levels(frame, pmf, rounding=rule)
        res = simulate_policy(
            demand,
            Policy.order_up_to_level(14, lv["order_up_to_rounded"].to_numpy()),
            lead_time=2,
            backorders=True,
        )
        out[rule] = (res.segments.loc["all", "csl"], lv["expected_csl_rounded"].mean())
    assert out["dither"][1] == pytest.approx(0.85, abs=0.003)  # planned
    assert out["dither"][0] == pytest.approx(0.85, abs=0.006)  # achieved (~ 70,000 cycles)
    assert out["nearest"][1] > 0.85 + 0.005  # nearest: biased upwards by the tail's steps
    # ... and achieves what it plans, several points above the target
    assert out["nearest"][0] > out["dither"][0] + 0.01
    assert out["at_least"][0] >= out["nearest"][0] - 1e-12


def test_stable_uniform_is_reproducible_uniform_and_salted() -> None:
    keys = pd.DataFrame({"sku": [f"S{i}" for i in range(5000)], "location_id": "L1"})
    u1, u2 = stable_uniform(keys), stable_uniform(keys.copy())
    assert np.array_equal(u1, u2)
    assert ((u1 >= 0) & (u1 < 1)).all()
    assert stats.kstest(u1, "uniform").pvalue > 0.001
    u3 = stable_uniform(keys, salt="x")
    assert not np.allclose(u1, u3) and abs(np.corrcoef(u1, u3)[0, 1]) < 0.1


def test_dither_without_keys_or_uniforms_is_an_error() -> None:
    frame = _frame(3, 7.0, 7.0).drop(columns=["sku", "location_id"])
    with pytest.raises(ValueError, match="dither"):
        plan_levels(frame, _point_pmf(2), rounding="dither")


# --------------------------------------------------------------------------------------------
# service calibration
# --------------------------------------------------------------------------------------------
def test_calibrated_target_and_cdf_are_inverse_and_identity_at_zero_one() -> None:
    t = np.array([0.8, 0.9, 0.95, 0.98])
    assert np.allclose(calibrated_csl_target(t, 0.0, 1.0), t)
    assert np.allclose(calibrated_cdf(t, 0.0, 1.0), t)
    tm = calibrated_csl_target(t, 0.2, 0.8)
    assert np.allclose(calibrated_cdf(tm, 0.2, 0.8), t)
    # too wide a forecast (b < 1): a lower forecast quantile buys the target
    assert np.all(calibrated_csl_target(t, 0.0, 0.8) < t)
    assert calibrated_cdf(np.array([0.0, 1.0]), 0.3, 0.7).tolist() == [0.0, 1.0]
    assert np.isnan(calibrated_csl_target(np.array([np.nan]), 0.0, 1.0)[0])


def _model_world(n: int, W: int, rng: np.random.Generator, true_factor: float):
    """Weekly forecast moments over a flat-weekday store; true daily demand Poisson with a
    per-interval gamma level whose variance is ``true_factor`` x the forecast's level_cv2."""
    mean = rng.uniform(3, 60, (n, 1)) * np.ones((1, W))
    c2 = np.full((n, W), 0.08)
    var_indep = mean.copy()  # Poisson days
    level = rng.gamma(1 / (0.08 * true_factor), 0.08 * true_factor, (n, W))
    daily = np.repeat(mean / 7 * level, 7, axis=1)
    return mean, var_indep, c2, rng.poisson(daily).astype(float)


def test_pits_of_demand_drawn_from_the_forecast_are_uniform_and_fit_the_identity() -> None:
    rng = np.random.default_rng(5)
    n, W = 400, 12
    mean, var_indep, c2, demand = _model_world(n, W, rng, true_factor=1.0)
    # interval = review 7 + lead time 0: one week, whose level is its own gamma draw
    frame = _frame(n, 0.0, 0.0, review=7).drop(columns=["weekly_mean", "weekly_var_indep"])
    pmf = _point_pmf(0)
    pit, end = weekly_interval_pits(frame, pmf, None, mean, var_indep, c2, demand)
    assert np.array_equal(end[0], 7 * np.arange(W) + 7)
    u = pit[np.isfinite(pit)]
    assert u.size == n * W
    # the NB matches the gamma-Poisson week by moments; the PIT is close to uniform
    for q in (0.5, 0.8, 0.9, 0.95):
        assert np.mean(u <= q) == pytest.approx(q, abs=0.015)
    tab = fit_service_calibration(u, np.full(u.size, "G"))
    row = tab.set_index("group").loc["G"]
    assert abs(row["calibration_loc"]) < 0.05 and abs(row["calibration_scale"] - 1) < 0.05


def test_calibration_of_a_too_wide_forecast_hits_the_target_on_fresh_intervals() -> None:
    # the forecast's level variance is 4x the truth: uncalibrated levels over-achieve a 90%
    # target; the calibration fitted on past intervals brings fresh intervals back to it
    rng = np.random.default_rng(9)
    n, W = 600, 10
    mean, var_indep, c2, demand = _model_world(n, 2 * W, rng, true_factor=0.25)
    frame = _frame(n, 0.0, 0.0, review=7, target=0.9)
    pmf = _point_pmf(0)
    past = slice(0, W)
    pit, _ = weekly_interval_pits(
        frame, pmf, None, mean[:, past], var_indep[:, past], c2[:, past], demand[:, : 7 * W]
    )
    tab = fit_service_calibration(pit.ravel(), np.full(pit.size, "G"))
    a, b = calibration_for(np.full(n, "G"), tab)
    assert b[0] < 0.9  # intervals narrower than the forecast says
    hits = {"raw": [], "calibrated": []}
    for w in range(W, 2 * W):
        f = frame.assign(
            weekly_mean=mean[:, w], weekly_var_indep=var_indep[:, w], level_cv2=c2[:, w]
        )
        actual = interval_demand(demand, 7 * w, 7)
        for name, cal in (
            ("raw", {}),
            ("calibrated", {"calibration_loc": a, "calibration_scale": b}),
        ):
            lv = plan_levels(f.assign(**cal), pmf, rounding="dither")
            hits[name].append(actual <= lv["order_up_to_rounded"].to_numpy())
    raw, calibrated = np.mean(hits["raw"]), np.mean(hits["calibrated"])
    assert raw > 0.93  # over-protected by more than 3 points
    assert calibrated == pytest.approx(0.9, abs=0.012)  # 6,000 fresh intervals


def test_small_groups_shrink_towards_the_pooled_fit_and_unknown_groups_get_it() -> None:
    rng = np.random.default_rng(2)
    big = stats.norm.cdf(rng.normal(0.0, 0.7, 5000))  # too-wide forecast: b = 0.7
    small = stats.norm.cdf(rng.normal(0.5, 1.0, 20))
    pit = np.concatenate([big, small])
    grp = np.array(["big"] * 5000 + ["small"] * 20, dtype=object)
    tab = fit_service_calibration(pit, grp, prior_pits=200.0).set_index("group")
    assert tab.loc["big", "calibration_scale"] == pytest.approx(0.7, abs=0.03)
    pooled = tab.loc[POOLED_GROUP]
    w = 20 / 220
    assert tab.loc["small", "calibration_loc"] == pytest.approx(
        w * stats.norm.ppf(np.clip(small, 1e-3, 1 - 1e-3)).mean()
        + (1 - w) * pooled["calibration_loc"]
    )
    a, b = calibration_for(["big", "unseen"], tab.reset_index())
    assert b[0] == pytest.approx(tab.loc["big", "calibration_scale"])
    assert (a[1], b[1]) == (pooled["calibration_loc"], pooled["calibration_scale"])
    a0, b0 = calibration_for(["big"], None)
    assert (a0[0], b0[0]) == (0.0, 1.0)
    few = fit_service_calibration(big[:10], np.full(10, "g")).set_index("group")
    assert (
        few.loc[POOLED_GROUP, "calibration_loc"],
        few.loc[POOLED_GROUP, "calibration_scale"],
    ) == (
        0.0,
        1.0,
    )
    with pytest.raises(ValueError):
        fit_service_calibration(np.array([1.2]), np.array(["g"]))


def test_levels_without_calibration_columns_equal_nan_calibration() -> None:
    # the DC rows carry NaN calibration: exactly the uncalibrated levels
    rng = np.random.default_rng(4)
    n = 200
    frame = _frame(n, rng.uniform(1, 80, n), rng.uniform(80, 200, n), c2=0.03, target=0.95)
    pmf = np.zeros((1, 22))
    pmf[0, 7], pmf[0, 21] = 0.85, 0.15
    base = plan_levels(frame, pmf)
    nan = plan_levels(frame.assign(calibration_loc=np.nan, calibration_scale=np.nan), pmf)
    assert np.array_equal(base["order_up_to_rounded"], nan["order_up_to_rounded"])
    assert np.allclose(base["target_csl_model"], 0.95)


def test_interval_pits_are_unknown_where_demand_is() -> None:
    frame = _frame(2, 7.0, 7.0)
    pit = interval_pits(frame, _point_pmf(1), np.array([3.0, np.nan]), np.array([0.5, 0.5]))
    assert np.isfinite(pit[0]) and np.isnan(pit[1])
    f3 = stats.poisson.cdf(3, 8.0)
    f2 = stats.poisson.cdf(2, 8.0)
    assert pit[0] == pytest.approx(f2 + 0.5 * (f3 - f2))


def test_holdout_calibration_never_fits_on_the_intervals_it_calibrates() -> None:
    # 3 origins x 4 weeks; the PITs of origin 1's weeks are all near 1 (the forecast was far too
    # low then). Leave-one-origin-out: origin 1 is calibrated on the others (uniform PITs, the
    # identity), the others see origin 1's errors. Expanding: week 0 has no past, the identity.
    rng = np.random.default_rng(8)
    n, W = 500, 12
    pit = rng.random((n, W))
    pit[:, 4:8] = 0.995
    end = 7.0 * np.arange(W)[None, :] + 9.0 + np.zeros((n, 1))  # R 7 + L 2
    pit[:, -1] = np.nan  # the last interval has not ended
    block = np.repeat(np.array(["o0", "o1", "o2"]), 4)
    seg = np.where(np.arange(n) < 250, "AX", "CY")
    a, b, fits = holdout_calibration(pit, end, seg, block, "leave_one_origin_out")
    assert np.abs(a[:, 4:8]).max() < 0.1 and np.abs(b[:, 4:8] - 1).max() < 0.1
    assert a[:, :4].min() > 0.3 and a[:, 8:].min() > 0.3  # they saw origin 1's errors
    # origin 0's last interval ends on day 30, inside origin 1's days: it is not used for o1
    o1 = fits[(fits["block"] == "o1") & (fits["group"] == "*")].iloc[0]
    assert o1["n_pits"] == n * 3 + n * 3  # o0 weeks 0-2 (week 3 overlaps) + o2 weeks 8-10
    a, b, fits = holdout_calibration(pit, end, seg, block, "expanding")
    assert (a[:, 0] == 0).all() and (b[:, 0] == 1).all()
    # week 5 (day 35) knows the intervals ended by day 35: weeks 0..3
    w5 = fits[(fits["first_week"] == 5) & (fits["group"] == "*")].iloc[0]
    assert w5["n_pits"] == n * 4
    a, b, _ = holdout_calibration(pit, end, seg, block, "none")
    assert (a == 0).all() and (b == 1).all()
    with pytest.raises(ValueError):
        holdout_calibration(pit, end, seg, block, "bogus")  # type: ignore[arg-type]
