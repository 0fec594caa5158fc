"""Throughput of the lead-time-mixture policy against the textbook normal formula, same data.

Builds ``--n`` synthetic SKU-locations (default 1,000,000) in chunks of ``--chunk`` (200,000) so
no chunk holds more than that many rows. Each chunk's data is generated inside its worker from
``(seed, chunk)``, outside the timed regions:

* ``--groups`` lead-time pmfs (2,000) over K = ``--k`` days (60): discretised gammas with means
  3-35 days and CVs 0.1-0.5, 30 % of them bimodal (10-20 % of orders 7-21 days later);
* daily demand mean lognormal (median 0.5 units/day, 1 % above 30), negative binomial
  variance mu (1 + 0.3 mu), shared level variance 0.02, review periods 7 or 14 days, CSL
  targets 0.85-0.98 and fill-rate targets 0.92-0.995 (as the segment table assigns them);
* inventory positions around the mean lead-time demand, case packs 1-24, MOQs, EOQ inputs.

Timed per chunk, in the same worker on the same arrays:

* ``mixture``: :func:`policy_levels` (order-up-to levels for CSL and fill rate on the exact
  lead-time mixture, reorder points, expected service, the textbook figure and the CSL it
  really achieves) plus :func:`recommend_orders` (quantities, rounding, reasons);
* ``textbook``: lead-time mean and sd per pmf, the textbook z sqrt(E[L+R] sd_d^2 + mu^2 sd_L^2)
  order-up-to level, plus the same :func:`recommend_orders` - the baseline a planning system
  without the mixture would run;
* ``plan``: :func:`ml.inventory.planning.plan_levels` on the same rows, what the weekly plan
  runs: the mixture levels for the calibrated CSL target (a probit service calibration per
  segment, as the stores get), then the case-pack-aware level with dithered rounding (the CDF
  at up to 2 case packs of levels around the CSL level).

Chunks run on ``--workers`` processes. Prints wall time, SKU-locations/s, the mixture / textbook
time ratio (summed CPU time of the timed regions), peak RSS of the parent and of the largest
worker, and how far the textbook level falls short of its target under the real lead times.
Prints, never asserts. Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/policy_throughput.py          # 1,000,000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/policy_throughput.py --quick  # 100,000
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from ml.inventory.planning import plan_levels  # noqa: E402
from ml.inventory.replenishment import recommend_orders  # noqa: E402
from ml.inventory.safety_stock import (  # noqa: E402
    pmf_moments,
    policy_levels,
    textbook_safety_stock,
)


def make_pmfs(seed: int, n_groups: int, k: int) -> np.ndarray:
    """``n_groups`` lead-time pmfs over 0..k-1 days (gamma bodies, 30 % with a late mode)."""
    rng = np.random.default_rng([seed, 10**6])
    days = np.arange(k)
    mean = rng.uniform(3.0, 35.0, n_groups)
    cv = rng.uniform(0.1, 0.5, n_groups)
    shape = 1.0 / cv**2
    cdf = stats.gamma.cdf(days[None, :] + 0.5, shape[:, None], scale=(mean / shape)[:, None])
    pmf = np.diff(np.concatenate((np.zeros((n_groups, 1)), cdf), axis=1), axis=1)
    pmf[:, -1] += 1.0 - cdf[:, -1]
    late = rng.random(n_groups) < 0.3
    shift = rng.integers(7, 22, n_groups)
    share = rng.uniform(0.10, 0.20, n_groups)
    for g in np.flatnonzero(late):  # a few hundred groups, not SKU-locations
        moved = np.zeros(k)
        moved[shift[g] :] = pmf[g, : k - shift[g]]
        moved[-1] += pmf[g, k - shift[g] :].sum()
        pmf[g] = (1.0 - share[g]) * pmf[g] + share[g] * moved
    return pmf / pmf.sum(axis=1, keepdims=True)


def make_chunk(seed: int, chunk: int, n: int, n_groups: int) -> pd.DataFrame:
    """Synthetic SKU-location inputs for one chunk."""
    rng = np.random.default_rng([seed, chunk])
    mu = rng.lognormal(np.log(0.5), 1.4, n)
    review = rng.choice(np.array([7, 14]), n, p=[0.6, 0.4])
    seg = rng.integers(0, 9, n)
    cal_loc = np.array([0.12, -0.05, 0.0, 0.05, -0.15, -0.13, 0.06, -0.08, -0.04])
    cal_scale = np.array([1.0, 0.9, 1.0, 0.95, 1.03, 1.08, 0.9, 1.0, 1.07])
    csl_table = np.array([0.98, 0.97, 0.95, 0.96, 0.95, 0.92, 0.92, 0.90, 0.85])
    fr_table = np.array([0.995, 0.99, 0.98, 0.99, 0.98, 0.97, 0.97, 0.95, 0.92])
    pack = rng.choice(np.array([1, 6, 12, 24]), n)
    unit_cost = rng.lognormal(1.5, 0.8, n)
    return pd.DataFrame(
        {
            "sku": np.arange(n) + chunk * 10_000_000,
            "location_id": rng.integers(0, 500, n),
            "supplier_id": rng.integers(0, 300, n),
            "mu": mu,
            "var": mu * (1.0 + 0.3 * mu),
            "level_cv2": np.full(n, 0.02),
            "review_period_days": review,
            "group": rng.integers(0, n_groups, n),
            "target_csl": csl_table[seg],
            "target_fill_rate": fr_table[seg],
            "on_hand": rng.poisson(mu * 12.0).astype(float),
            "on_order": rng.poisson(mu * 6.0).astype(float),
            "backorders": rng.poisson(0.05 * mu).astype(float),
            "case_pack": pack.astype(float),
            "moq": np.where(rng.random(n) < 0.2, 2.0 * pack, 0.0),
            "annual_demand": mu * 365.0,
            "order_cost": np.where(rng.random(n) < 0.5, 25.0, np.nan),
            "unit_cost": unit_cost,
            "holding_cost_rate": 0.25,
            "calibration_loc": cal_loc[seg],
            "calibration_scale": cal_scale[seg],
        }
    )


def run_chunk(seed: int, chunk: int, n: int, n_groups: int, k: int) -> dict[str, float]:
    """Generate one chunk and time the mixture policy and the textbook baseline on it."""
    pmf = make_pmfs(seed, n_groups, k)
    df = make_chunk(seed, chunk, n, n_groups)
    as_of = "2025-01-06"

    t0 = time.perf_counter()
    levels = policy_levels(
        df["mu"].to_numpy(),
        df["var"].to_numpy(),
        df["review_period_days"].to_numpy(),
        pmf,
        df["group"].to_numpy(),
        target_csl=df["target_csl"].to_numpy(),
        target_fill_rate=df["target_fill_rate"].to_numpy(),
        level_cv2=df["level_cv2"].to_numpy(),
        index=df.index,
    )
    t_levels = time.perf_counter() - t0
    t0 = time.perf_counter()
    orders = recommend_orders(pd.concat([df, levels], axis=1), as_of=as_of)
    t_orders = time.perf_counter() - t0

    t0 = time.perf_counter()
    lt_mean, lt_sd, lt_p95 = pmf_moments(pmf)
    g = df["group"].to_numpy()
    mu, var, r = df["mu"].to_numpy(), df["var"].to_numpy(), df["review_period_days"].to_numpy()
    tb_ss = textbook_safety_stock(
        df["target_csl"].to_numpy(), mu, var, r, lt_mean[g], lt_sd[g], df["level_cv2"].to_numpy()
    )
    base = df.assign(
        order_up_to=np.ceil(mu * (lt_mean[g] + r) + tb_ss),
        safety_stock=tb_ss,
        lead_time_mean_days=lt_mean[g],
        lead_time_p95_days=lt_p95[g],
    )
    base_orders = recommend_orders(base, as_of=as_of)
    t_textbook = time.perf_counter() - t0

    t0 = time.perf_counter()
    plan = plan_levels(
        df.assign(
            weekly_mean=df["mu"] * 7.0,
            weekly_var_indep=df["var"] * 7.0,
            review_days=df["review_period_days"],
            lead_time_group=df["group"],
        ),
        pmf,
        rounding="dither",
    )
    t_plan = time.perf_counter() - t0

    gap = df["target_csl"].to_numpy() - levels["textbook_csl"].to_numpy()
    return {
        "n": float(n),
        "t_levels": t_levels,
        "t_orders": t_orders,
        "t_textbook": t_textbook,
        "t_plan": t_plan,
        "plan_csl_gap": float((plan["expected_csl_rounded"] - df["target_csl"]).sum(skipna=True)),
        "gap_gt_2pt": float((gap > 0.02).sum()),
        "gap_gt_5pt": float((gap > 0.05).sum()),
        "ss_mixture": float(levels["safety_stock"].sum()),
        "ss_mixture_csl": float((levels["order_up_to_csl"] - levels["demand_mean_lr"]).sum()),
        "ss_textbook": float(tb_ss.sum()),
        "units_mixture": float(orders["order_qty"].sum()),
        "units_textbook": float(base_orders["order_qty"].sum()),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="SKU-locations")
    parser.add_argument("--chunk", type=int, default=200_000)
    parser.add_argument("--groups", type=int, default=2_000, help="lead-time pmfs")
    parser.add_argument("--k", type=int, default=60, help="lead-time support, days")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="100,000 SKU-locations")
    args = parser.parse_args()
    if args.quick:
        args.n = 100_000
        args.chunk = min(args.chunk, 50_000)

    sizes = [min(args.chunk, args.n - lo) for lo in range(0, args.n, args.chunk)]
    print(
        f"{args.n:,} SKU-locations, {args.groups:,} lead-time pmfs (K = {args.k}), "
        f"{len(sizes)} chunks of <= {args.chunk:,}, {args.workers} worker(s)"
    )
    t0 = time.perf_counter()
    job = (args.seed, args.groups, args.k)
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [
                pool.submit(run_chunk, job[0], i, n, job[1], job[2]) for i, n in enumerate(sizes)
            ]
            results = [f.result() for f in futures]
    else:
        results = [run_chunk(job[0], i, n, job[1], job[2]) for i, n in enumerate(sizes)]
    wall = time.perf_counter() - t0

    tot = {k: sum(r[k] for r in results) for k in results[0] if k != "rss_mb"}
    n = tot["n"]
    mixture = tot["t_levels"] + tot["t_orders"]
    print(f"wall time (incl. data generation): {wall:.1f} s  ({n / wall:,.0f} SKU-locations/s)")
    print("timed regions, summed over workers (CPU-seconds on one core):")
    for name, secs in [
        ("mixture levels", tot["t_levels"]),
        ("order recommendations", tot["t_orders"]),
        ("mixture total", mixture),
        ("textbook total (baseline)", tot["t_textbook"]),
        ("plan levels (calibrated, case packs, dither)", tot["t_plan"]),
    ]:
        print(f"  {name:44s} {secs:8.1f} s  {n / max(secs, 1e-9):>12,.0f} SKU-locations/s")
    print(f"ratio mixture / textbook: {mixture / tot['t_textbook']:.1f}x")
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_mb = max(r["rss_mb"] for r in results)
    print(f"peak RSS: parent {parent_mb:,.0f} MB, largest worker {worker_mb:,.0f} MB")
    print(
        f"textbook level short of its CSL target by > 2 points: "
        f"{100 * tot['gap_gt_2pt'] / n:.1f}% of SKU-locations, > 5 points: "
        f"{100 * tot['gap_gt_5pt'] / n:.1f}%"
    )
    print(
        f"safety stock for the CSL target: mixture {tot['ss_mixture_csl']:,.0f} vs textbook "
        f"{tot['ss_textbook']:,.0f} units; for CSL and fill rate together (what is ordered): "
        f"{tot['ss_mixture']:,.0f} units"
    )
    print(
        f"plan levels: mean expected CSL after case packs and dithering minus target "
        f"{100 * tot['plan_csl_gap'] / n:+.3f} points (the fill-rate level wins for some rows)"
    )
    print(
        f"units ordered today: mixture {tot['units_mixture']:,.0f} vs textbook "
        f"{tot['units_textbook']:,.0f}"
    )


if __name__ == "__main__":
    main()
