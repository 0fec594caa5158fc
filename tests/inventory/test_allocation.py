from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.inventory.allocation import (
    METHODS,
    NegBinDemand,
    SampleDemand,
    allocate,
    case_limits,
    expected_sales_nb,
    fair_share_allocation,
    marginal_allocation,
)


def _scipy_dist(mean: float, var: float) -> stats.rv_discrete:
    if var <= mean:
        return stats.poisson(mean)
    return stats.nbinom(mean**2 / (var - mean), mean / var)


@pytest.mark.parametrize(("mean", "var"), [(0.3, 0.3), (3.0, 3.0), (3.0, 9.0), (50.0, 400.0)])
def test_expected_sales_equals_sum_of_survival(mean: float, var: float) -> None:
    # E[min(D, y)] = sum_{u=1..y} P(D >= u): the closed-form loss function must match the sum
    d = _scipy_dist(mean, var)
    ys = np.array([0, 1, 2, 5, 10, 40, 200])
    ref = np.array([sum(d.sf(u - 1) for u in range(1, y + 1)) for y in ys])
    got = expected_sales_nb(ys, mean, var)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    surv = NegBinDemand(np.array([mean]), np.array([var])).survival(ys, np.zeros_like(ys))
    np.testing.assert_allclose(surv, d.sf(ys - 1), rtol=1e-12, atol=1e-15)


def test_expected_sales_zero_mean_and_negative_stock() -> None:
    got = expected_sales_nb(np.array([-3, 0, 4, 4]), np.array([2.0, 2.0, 0.0, 2.0]), 4.0)
    assert got[0] == 0.0 and got[1] == 0.0 and got[2] == 0.0
    assert got[3] == pytest.approx(sum(_scipy_dist(2.0, 4.0).sf(u - 1) for u in range(1, 5)))


def test_sample_demand_matches_direct_mean() -> None:
    rng = np.random.default_rng(3)
    samples = rng.negative_binomial(2.0, 0.4, size=(4, 5000)).astype(float)
    model = SampleDemand(samples)
    idx = np.array([0, 1, 2, 3, 3, 0])
    y = np.array([0.0, 2.0, 3.0, 7.0, 1000.0, 5.0])
    ref = np.array([np.minimum(samples[i], v).mean() for i, v in zip(idx, y, strict=True)])
    np.testing.assert_allclose(model.expected_sales(y, idx), ref, rtol=1e-12)
    surv = np.array([(samples[i] >= v).mean() for i, v in zip(idx, y, strict=True)])
    surv[y <= 0] = 1.0
    np.testing.assert_allclose(model.survival(y, idx), surv)


def _random_instance(rng: np.random.Generator, n_stores: int) -> dict[str, np.ndarray]:
    mean = rng.uniform(0.3, 6.0, n_stores)
    return {
        "mean": mean,
        "var": mean * rng.uniform(1.0, 3.0, n_stores),
        "position": rng.integers(0, 5, n_stores).astype(float),
        "target": rng.integers(2, 12, n_stores).astype(float),
        "capacity": rng.integers(4, 16, n_stores).astype(float),
        "margin": rng.uniform(0.5, 3.0, n_stores),
    }


def _brute_force(
    inst: dict[str, np.ndarray], case_pack: int, n_cases: int, max_cases: np.ndarray, w: np.ndarray
) -> float:
    best = -np.inf
    for a in itertools.product(*(range(k + 1) for k in max_cases)):
        if sum(a) > n_cases:
            continue
        es = expected_sales_nb(
            inst["position"] + case_pack * np.array(a), inst["mean"], inst["var"]
        )
        best = max(best, float((w * es).sum()))
    return best


@pytest.mark.parametrize("objective", ["sales", "margin"])
def test_greedy_equals_exhaustive_search(objective: str) -> None:
    # (a) exhaustive search over every allocation of <= 10 units to 2-3 stores, with case packs
    # and capacities: the greedy objective must equal the optimum, and fair share cannot beat it
    rng = np.random.default_rng(11 if objective == "sales" else 12)
    n_checked = 0
    for _ in range(150):
        m = int(rng.integers(2, 4))
        inst = _random_instance(rng, m)
        c = int(rng.integers(1, 4))
        n_cases = int(rng.integers(1, 11)) // c
        need, max_cases, _ = case_limits(
            inst["position"], np.full(m, c), inst["target"], capacity=inst["capacity"]
        )
        w = inst["margin"] if objective == "margin" else np.ones(m)
        sku = np.zeros(m, dtype=np.int64)
        res = marginal_allocation(
            sku,
            np.array([n_cases]),
            np.array([c]),
            inst["position"],
            max_cases,
            NegBinDemand(inst["mean"], inst["var"]),
            weight=inst["margin"] if objective == "margin" else None,
        )
        greedy = float((w * res.expected_sales).sum())
        assert greedy == pytest.approx(_brute_force(inst, c, n_cases, max_cases, w), abs=1e-10)
        fair = fair_share_allocation(sku, np.array([n_cases]), need, max_cases, np.array([c]))
        fair_es = expected_sales_nb(inst["position"] + c * fair, inst["mean"], inst["var"])
        assert greedy >= float((w * fair_es).sum()) - 1e-12
        assert res.cases.sum() == min(n_cases, max_cases.sum())
        n_checked += int(max_cases.sum() > n_cases)
    assert n_checked > 50  # most instances are really scarce


def test_greedy_respects_packs_capacity_presentation_and_stock() -> None:
    rng = np.random.default_rng(5)
    n_sku, n_st = 40, 30
    sku = np.repeat(np.arange(n_sku), n_st)
    n = sku.size
    mean = rng.gamma(2.0, 2.0, n)
    var = mean * (1 + 0.4 * mean)
    position = rng.integers(0, 4, n).astype(float)
    target = np.ceil(mean + 1.5 * np.sqrt(var))
    pres = rng.integers(0, 4, n).astype(float)
    capacity = target + rng.integers(-2, 4, n)
    pack = rng.choice([1, 2, 3, 6], n_sku)
    need, max_cases, pres_cases = case_limits(position, pack[sku], target, pres, capacity)
    total_need = np.bincount(sku, weights=max_cases, minlength=n_sku)
    pres_total = np.bincount(sku, weights=pres_cases, minlength=n_sku)
    # a third scarce below the presentation total, a third scarce above it, a third plentiful
    avail = np.where(
        np.arange(n_sku) % 3 == 0,
        np.floor(0.5 * pres_total),
        np.where(np.arange(n_sku) % 3 == 1, np.floor(0.7 * total_need), total_need + 5),
    ).astype(np.int64)
    avail = np.maximum(avail, np.where(np.arange(n_sku) % 3 == 1, pres_total, 0)).astype(np.int64)
    res = marginal_allocation(
        sku,
        avail,
        pack,
        position,
        max_cases,
        NegBinDemand(mean, var),
        presentation_cases=pres_cases,
    )
    a = res.cases
    assert (a >= 0).all() and (a <= max_cases).all()
    units = a * pack[sku]
    assert (units % pack[sku] == 0).all()
    assert (position + units <= np.maximum(capacity, position)).all()
    got = np.bincount(sku, weights=a, minlength=n_sku)
    np.testing.assert_array_equal(got, np.minimum(avail, total_need))
    # where stock covers all presentation minima, every store reaches its minimum
    covered = (avail >= pres_total)[sku]
    assert (a[covered] >= pres_cases[covered]).all()
    # where it does not, only presentation cases are shipped
    assert (a[~covered] <= pres_cases[~covered]).all()
    assert (np.arange(n_sku) % 3 == 0).any() and (~covered).any()


def test_presentation_minimum_follows_priority() -> None:
    # three stores need 2 presentation cases each, only 3 cases exist: priority 0 fills first,
    # even though store 2 (priority 0) has the smallest demand
    position = np.zeros(3)
    mean = np.array([5.0, 8.0, 1.0])
    _, max_cases, pres_cases = case_limits(
        position, np.ones(3), np.full(3, 6.0), presentation_min=np.full(3, 2.0)
    )
    res = marginal_allocation(
        np.zeros(3, dtype=np.int64),
        np.array([3]),
        np.array([1]),
        position,
        max_cases,
        NegBinDemand(mean, mean),
        presentation_cases=pres_cases,
        priority=np.array([1.0, 2.0, 0.0]),
    )
    np.testing.assert_array_equal(res.cases, [1, 0, 2])
    # without priority the presentation cases go by value: the two larger stores first
    res = marginal_allocation(
        np.zeros(3, dtype=np.int64),
        np.array([3]),
        np.array([1]),
        position,
        max_cases,
        NegBinDemand(mean, mean),
        presentation_cases=pres_cases,
    )
    np.testing.assert_array_equal(res.cases, [1, 2, 0])


def test_ties_are_broken_deterministically_by_turns() -> None:
    # identical stores: each case value ties across stores, so stores take turns (round robin)
    n = 3
    args = (
        np.zeros(n, dtype=np.int64),
        np.array([4]),
        np.array([1]),
        np.ones(n),
        np.full(n, 5),
        NegBinDemand(np.full(n, 4.0), np.full(n, 6.0)),
    )
    first = marginal_allocation(*args).cases
    np.testing.assert_array_equal(first, [2, 1, 1])
    np.testing.assert_array_equal(marginal_allocation(*args).cases, first)
    # zero-demand stores (all values 0) also take turns instead of piling on the first one
    zero = marginal_allocation(
        np.zeros(n, dtype=np.int64),
        np.array([5]),
        np.array([1]),
        np.zeros(n),
        np.full(n, 3),
        NegBinDemand(np.zeros(n), np.zeros(n)),
    )
    np.testing.assert_array_equal(zero.cases, [2, 2, 1])


def test_fair_share_largest_remainder() -> None:
    sku = np.zeros(3, dtype=np.int64)
    # quotas 7 * [5, 3, 2] / 10 = [3.5, 2.1, 1.4]: floors [3, 2, 1], the spare case to store 0
    got = fair_share_allocation(
        sku, np.array([7]), np.array([5.0, 3.0, 2.0]), np.array([5, 3, 2]), [1]
    )
    np.testing.assert_array_equal(got, [4, 2, 1])
    # cases of 10: need [1, 1, 100] units = [1, 1, 10] cases, 11 cases available; quotas
    # 11 * [1, 1, 100] / 102 = [0.11, 0.11, 10.78]; store 2 is capped at 10 so the spare case goes
    # to the tied remainders, the earlier store first
    got = fair_share_allocation(
        sku, np.array([11]), np.array([1.0, 1.0, 100.0]), np.array([1, 1, 10]), [10]
    )
    np.testing.assert_array_equal(got, [1, 0, 10])
    # plenty of stock: everyone gets the full need
    got = fair_share_allocation(
        sku, np.array([50]), np.array([5.0, 3.0, 2.0]), np.array([5, 3, 2]), [1]
    )
    np.testing.assert_array_equal(got, [5, 3, 2])


def test_monte_carlo_expected_sales_and_dominance() -> None:
    # (c) simulate demand: simulated mean sales match the computed expectation for both methods,
    # and the marginal allocation sells more than fair share on the same demand draws
    rng = np.random.default_rng(21)
    m = 25
    mean = rng.gamma(1.5, 3.0, m)
    var = mean * (1 + 0.5 * mean)
    position = rng.integers(0, 3, m).astype(float)
    target = np.ceil(mean + 1.3 * np.sqrt(var))
    need, max_cases, _ = case_limits(position, np.full(m, 2), target)
    n_cases = int(0.5 * max_cases.sum())
    sku = np.zeros(m, dtype=np.int64)
    demand = NegBinDemand(mean, var)
    greedy = marginal_allocation(
        sku, np.array([n_cases]), np.array([2]), position, max_cases, demand
    )
    fair = fair_share_allocation(sku, np.array([n_cases]), need, max_cases, np.array([2]))
    assert greedy.cases.sum() == fair.sum() == n_cases

    n_sim = 100_000
    r = mean**2 / (var - mean)
    draws = rng.negative_binomial(r, mean / var, size=(n_sim, m))
    sales_g = np.minimum(draws, position + 2 * greedy.cases).sum(1)
    sales_f = np.minimum(draws, position + 2 * fair).sum(1)
    exp_g = greedy.expected_sales.sum()
    exp_f = demand.expected_sales(position + 2 * fair, np.arange(m)).sum()
    se_g = sales_g.std() / np.sqrt(n_sim)
    se_f = sales_f.std() / np.sqrt(n_sim)
    assert abs(sales_g.mean() - exp_g) < 4 * se_g
    assert abs(sales_f.mean() - exp_f) < 4 * se_f
    diff = sales_g - sales_f
    assert exp_g > exp_f
    assert diff.mean() > 3 * diff.std() / np.sqrt(n_sim)  # a real, measurable uplift


def _frame_instance(
    n_sku: int = 30, n_st: int = 12, seed: int = 8
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = n_sku * n_st
    mean = rng.gamma(2.0, 2.0, n)
    stores = pd.DataFrame(
        {
            "sku": np.repeat([f"S{i:03d}" for i in range(n_sku)], n_st),
            "location_id": np.tile([f"L{j:02d}" for j in range(n_st)], n_sku),
            "demand_mean": mean,
            "demand_var": mean * (1 + 0.3 * mean),
            "position_units": rng.integers(0, 4, n),
            "target_units": np.ceil(mean * 1.5 + 1),
            "presentation_min_units": 1,
            "capacity_units": np.ceil(mean * 1.5 + 4),
            "unit_margin": rng.uniform(1, 5, n),
        }
    ).sample(frac=1.0, random_state=1)
    dc = pd.DataFrame(
        {
            "sku": [f"S{i:03d}" for i in range(n_sku)],
            "available_units": rng.integers(0, 60, n_sku),
            "case_pack": rng.choice([1, 2, 4], n_sku),
        }
    )
    return stores, dc


def test_allocate_frames() -> None:
    stores, dc = _frame_instance()
    res = allocate(stores, dc, chunk_skus=7)
    d, s = res.detail, res.summary
    assert list(d.columns) == [
        "sku",
        "location_id",
        "method",
        "alloc_units",
        "alloc_cases",
        "expected_sales",
        "expected_margin",
        "marginal_value_last_unit",
    ]
    assert set(d["method"]) == set(METHODS) and len(d) == 2 * len(stores)
    s = s.set_index("sku")
    per = d.groupby(["method", "sku"])["alloc_units"].sum()
    for method in METHODS:
        np.testing.assert_array_equal(per[method].reindex(s.index), s[f"alloc_units_{method}"])
        assert (per[method].reindex(s.index) <= s["available_units"]).all()
    # both rules fill presentation minima first, and the marginal rule is optimal after that
    assert (s["uplift_sales_units"] >= -1e-9).all()
    assert (s.loc[s["scarce"], "uplift_sales_units"] > 0.1).any()
    # where the DC holds a case for every store below its presentation minimum, both rules bring
    # every such store (with room under its capacity) up to the minimum
    m = d.merge(stores, on=["sku", "location_id"]).merge(dc, on="sku")
    below = m["position_units"] < m["presentation_min_units"]
    room = m["capacity_units"] - m["position_units"] >= m["case_pack"]
    cases_avail = m["available_units"] // m["case_pack"]
    n_below = (below & room).groupby([m["method"], m["sku"]]).transform("sum")
    check = below & room & (cases_avail >= n_below)
    assert check.sum() > 20
    reached = m["position_units"] + m["alloc_units"] >= m["presentation_min_units"]
    assert reached[check].all()
    assert (d["alloc_units"] % d["sku"].map(dc.set_index("sku")["case_pack"]) == 0).all()
    shipped = d[d["alloc_units"] > 0]
    assert shipped["marginal_value_last_unit"].between(0, 1).all()
    assert d.loc[d["alloc_units"] == 0, "marginal_value_last_unit"].isna().all()
    # the result does not depend on the chunk size or the row order
    again = allocate(stores.sort_index(), dc, chunk_skus=1000).detail
    key = ["method", "sku", "location_id"]
    pd.testing.assert_frame_equal(
        d.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True)
    )


def test_margin_objective_prefers_high_margin_store() -> None:
    stores = pd.DataFrame(
        {
            "sku": "A",
            "location_id": ["cheap", "dear"],
            "demand_mean": [6.0, 4.0],
            "demand_var": [6.0, 4.0],
            "position_units": 0,
            "target_units": 6,
            "unit_margin": [1.0, 3.0],
        }
    )
    dc = pd.DataFrame({"sku": ["A"], "available_units": [4]})
    by_sales = allocate(stores, dc).detail.query("method == 'marginal'")
    by_margin = allocate(stores, dc, objective="margin").detail.query("method == 'marginal'")
    # marginal units: cheap .998 .983 .938 .849, dear .982 .908 .763 .567 -> top four 3 + 1
    assert by_sales["alloc_units"].tolist() == [3, 1]
    assert by_margin["alloc_units"].tolist() == [0, 4]
    with pytest.raises(ValueError, match="unit_margin"):
        allocate(stores.drop(columns="unit_margin"), dc, objective="margin")


def test_samples_agree_with_nb_model() -> None:
    stores, dc = _frame_instance(n_sku=6, n_st=8, seed=4)
    rng = np.random.default_rng(0)
    mean = stores["demand_mean"].to_numpy()
    var = stores["demand_var"].to_numpy()
    samples = rng.negative_binomial(
        mean**2 / (var - mean), (mean / var), size=(20_000, len(mean))
    ).T
    nb = allocate(stores, dc).summary
    emp = allocate(stores, dc, demand_samples=samples).summary
    np.testing.assert_allclose(
        emp["expected_sales_marginal"], nb["expected_sales_marginal"], rtol=0.02
    )
    np.testing.assert_allclose(emp["alloc_units_marginal"], nb["alloc_units_marginal"])


def test_fair_share_fills_presentation_first() -> None:
    sku = np.zeros(3, dtype=np.int64)
    need = np.array([10.0, 2.0, 1.0])
    cap = np.array([10, 2, 1])
    # plain: quotas 4 * [10, 2, 1] / 13 = [3.08, 0.62, 0.31] -> [3, 0, 0] + spare to store 1
    plain = fair_share_allocation(sku, np.array([4]), need, cap, np.array([1]))
    np.testing.assert_array_equal(plain, [3, 1, 0])
    # one presentation case each first, then the one left over by remaining need [9, 1, 0]
    pres = fair_share_allocation(
        sku, np.array([4]), need, cap, np.array([1]), presentation_cases=np.array([1, 1, 1])
    )
    np.testing.assert_array_equal(pres, [2, 1, 1])


def test_nb_grid_walk_matches_closed_form() -> None:
    # the unit-by-unit Panjer walk used for candidate cases equals the closed form at every point,
    # including a huge-mean store whose starting pmf underflows (evaluated exactly instead)
    rng = np.random.default_rng(2)
    n = 400
    mean = rng.gamma(1.0, 5.0, n)
    mean[:3] = [0.0, 3000.0, 1e5]
    var = mean * (1 + rng.uniform(0, 1, n) * mean * (rng.random(n) < 0.7))
    var[2] = mean[2]
    model = NegBinDemand(mean, var)
    start = rng.integers(0, 6, n).astype(float)
    start[:3] = 0
    step = rng.choice([1, 2, 3, 6, 12], n)
    count = rng.integers(0, 25, n)
    count[:3] = 40
    got = model.expected_sales_grid(start, step, count)
    first = np.cumsum(count) - count
    pair = np.repeat(np.arange(n), count)
    y = start[pair] + step[pair] * (np.arange(count.sum()) - first[pair])
    np.testing.assert_allclose(got, model.expected_sales(y, pair), rtol=1e-9, atol=1e-9)
    assert got[first[2] + 39] == pytest.approx(39 * step[2])  # far left tail: sells every unit
