"""Throughput of the policy backtest simulator (ml/inventory/simulation.py).

Builds one synthetic panel (negative-binomial daily demand with a weekly shape, 5 suppliers with
normal, right-skewed and bimodal lead-time pmfs, case packs) and in the same process simulates

* our policy: weekly periodic review order-up-to (R, S), S varying by week, review days spread
  over the week;
* the static rule: reorder point 14 days of average demand, order 3 weeks of supply, checked
  daily ((s, Q), the rule retailers use today),

both with lost sales and per-order lead-time draws. Prints wall-clock seconds, SKU-location-days
per second, peak RSS and the ratio between the two runs. The default size is 100,000
SKU-locations x 182 days; ``--quick`` runs 10,000. Numbers are printed, never asserted.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulation_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from ml.inventory.simulation import (  # noqa: E402
    Policy,
    SimulationResult,
    compare_policies,
    simulate_policy,
    static_rule_policy,
)

WEEK_SHAPE = np.array([0.85, 0.9, 0.9, 1.0, 1.15, 1.35, 0.85])  # Mon..Sun, mean 1


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _lead_time_pmfs(max_days: int = 36) -> np.ndarray:
    """Lead-time pmfs (days) of 5 suppliers: normal 7 +- 1, normal 14 +- 2, lognormal around
    10 (right-skewed), bimodal 85% 7 / 15% 21 days, late 18 +- 4."""
    days = np.arange(max_days)
    rows = [
        np.exp(-0.5 * ((days - 7) / 1.0) ** 2),
        np.exp(-0.5 * ((days - 14) / 2.0) ** 2),
        np.where(days > 0, np.exp(-0.5 * (np.log(np.maximum(days, 1) / 10) / 0.35) ** 2), 0),
        np.where(days == 7, 0.85, 0.0) + np.where(days == 21, 0.15, 0.0),
        np.exp(-0.5 * ((days - 18) / 4.0) ** 2),
    ]
    pmf = np.array(rows)
    return pmf / pmf.sum(axis=1, keepdims=True)


def _run(label: str, demand: np.ndarray, policy: Policy, **kw: object) -> SimulationResult:
    t0 = time.perf_counter()
    res = simulate_policy(demand, policy, **kw)  # type: ignore[arg-type]
    sec = time.perf_counter() - t0
    n, days = demand.shape
    tot = res.segments.loc["all"]
    print(
        f"{label:>7}: {n:,} SKU-locations x {days} days | {sec:6.2f} s | "
        f"{n * days / sec:,.0f} SKU-location-days/s | fill rate {tot['fill_rate']:.4f} | "
        f"CSL {tot['csl']:.4f} | avg on hand {tot['avg_on_hand_units']:,.0f} units | "
        f"peak RSS so far {_peak_rss_mb():,.0f} MB",
        flush=True,
    )
    res.kpis.attrs["seconds"] = sec
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 SKU-locations instead of 100,000")
    ap.add_argument("--days", type=int, default=182)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    n, T = (10_000 if a.quick else 100_000), a.days
    rng = np.random.default_rng(a.seed)

    t0 = time.perf_counter()
    rate = rng.lognormal(np.log(2.0), 1.0, n).clip(0.05, 80)  # units/day
    k = 2.0  # negative-binomial shape (over-dispersion)
    shape = WEEK_SHAPE[np.arange(T) % 7]
    demand = rng.poisson(rng.gamma(k, rate[:, None] * shape[None, :] / k)).astype(np.int32)
    pmf = _lead_time_pmfs()
    group = rng.integers(0, pmf.shape[0], n)
    case_pack = rng.choice([1, 4, 6, 12], n)
    cost = rng.lognormal(np.log(8.0), 0.8, n)
    seg = np.where(rate >= 5, "A", np.where(rate >= 1, "B", "C"))
    lt_mean = (pmf * np.arange(pmf.shape[1])).sum(axis=1)[group]
    R = 7
    weeks = T // 7 + 1
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(weeks) / 26)
    mu = rate[:, None] * season[None, :] * (R + lt_mean[:, None])  # demand over R + L, units
    S = np.ceil(mu + 1.65 * np.sqrt(mu * (1 + mu / k / (R + lt_mean[:, None]))))
    ours = Policy.order_up_to_level(R, S, review_offset=rng.integers(0, R, n))
    static = static_rule_policy(rate, reorder_days=14, order_weeks=3, case_pack=case_pack)
    print(f"panel built in {time.perf_counter() - t0:.1f} s, peak RSS {_peak_rss_mb():,.0f} MB")

    common = {
        "lead_time_pmf": pmf,
        "lead_time_group": group,
        "rng": a.seed,
        "case_pack": case_pack,
        "unit_cost": cost,
        "segment": seg,
        "target_csl": 0.95,
    }
    r_ours = _run("ours", demand, ours, **common)
    r_static = _run("static", demand, static, **common)
    t_o, t_s = r_ours.kpis.attrs["seconds"], r_static.kpis.attrs["seconds"]
    print(f"time static / time ours: {t_s / t_o:.2f}")
    cmp = compare_policies(r_ours, r_static)
    cols = [
        "fill_rate_ours",
        "fill_rate_static",
        "avg_on_hand_value_ours",
        "avg_on_hand_value_static",
        "inventory_value_diff_pct",
        "fill_rate_diff_pts",
    ]
    print(cmp[cols].round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
