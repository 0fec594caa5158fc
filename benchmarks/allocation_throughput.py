"""Throughput of marginal-value allocation against proportional fair share on the same data.

Builds a synthetic allocation problem of ``--skus`` x ``--stores`` SKU-store pairs (default 50,000 x
500 = 25 M pairs) in chunks of ``--chunk-skus`` SKUs (2,000 x 500 = 1 M pairs per chunk, so the
flat array of candidate cases never holds more than one chunk). Each chunk's data is generated
inside the worker from ``(seed, chunk)``, outside the timed region:

* horizon demand: mean = SKU rate x store size (both lognormal, median about 3 units),
  variance = mean (1 + 0.3 mean) (negative binomial);
* position ~ Poisson(0.4 mean), target = ceil(mean + 1.28 sd), presentation minimum 2 units,
  capacity = target + 6; case packs 1, 2, 3, 6 or 12 units per SKU;
* DC stock: 60% of the stores' total need for 80% of SKUs (scarce), 120% for the rest.

Timed per chunk, in the same worker on the same arrays:

* ``marginal``: :func:`marginal_allocation` - every candidate case's value on the NB grid, ranking,
  selection, and the expected sales of the result (read off the grid);
* ``fair share``: :func:`fair_share_allocation` alone (no distribution evaluated);
* ``fair share + eval``: plus ``E[min(D, position + alloc)]`` for its allocation, i.e. what fair
  share costs to report the same expected-sales output.

Chunks run on ``--workers`` processes. Prints wall time, pairs/s, the marginal / fair-share time
ratio (summed CPU time of the timed regions), peak RSS of the parent and of the largest worker,
and the expected-sales uplift. Prints, never asserts. Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/allocation_throughput.py          # full size
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/allocation_throughput.py --quick  # 5,000 x 100
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

from ml.inventory.allocation import (  # noqa: E402
    NegBinDemand,
    case_limits,
    fair_share_allocation,
    marginal_allocation,
)


def run_chunk(seed: int, chunk: int, n_sku: int, n_st: int) -> dict[str, float]:
    """Generate one chunk of ``n_sku`` x ``n_st`` pairs and time both allocation rules on it."""
    rng = np.random.default_rng([seed, chunk])
    sku = np.repeat(np.arange(n_sku), n_st)
    rate = rng.lognormal(0.0, 0.8, n_sku)
    size = rng.lognormal(0.0, 0.5, n_st)
    mean = 3.0 * rate[sku] * np.tile(size, n_sku)
    var = mean * (1.0 + 0.3 * mean)
    position = rng.poisson(0.4 * mean).astype(float)
    target = np.ceil(mean + 1.28 * np.sqrt(var))
    pres = np.full(sku.size, 2.0)
    capacity = target + 6.0
    pack = rng.choice(np.array([1, 2, 3, 6, 12]), n_sku)
    demand = NegBinDemand(mean, var)

    t0 = time.perf_counter()
    need, max_cases, pres_cases = case_limits(position, pack[sku], target, pres, capacity)
    t_limits = time.perf_counter() - t0
    need_units = np.bincount(sku, weights=need, minlength=n_sku)
    share = np.where(rng.random(n_sku) < 0.8, 0.6, 1.2)
    avail_cases = np.floor(share * need_units / pack).astype(np.int64)

    t0 = time.perf_counter()
    greedy = marginal_allocation(
        sku, avail_cases, pack, position, max_cases, demand, presentation_cases=pres_cases
    )
    t_marginal = time.perf_counter() - t0

    t0 = time.perf_counter()
    fair = fair_share_allocation(
        sku, avail_cases, need, max_cases, pack, presentation_cases=pres_cases
    )
    t_fair = time.perf_counter() - t0
    t0 = time.perf_counter()
    fair_es = demand.expected_sales(position + fair * pack[sku], np.arange(sku.size))
    t_fair_eval = time.perf_counter() - t0

    n_candidates = float(np.minimum(max_cases, avail_cases[sku]).sum())
    return {
        "pairs": float(sku.size),
        "candidates": n_candidates,
        "t_limits": t_limits,
        "t_marginal": t_marginal,
        "t_fair": t_fair,
        "t_fair_eval": t_fair_eval,
        "es_marginal": float(greedy.expected_sales.sum()),
        "es_fair": float(fair_es.sum()),
        "units_marginal": float((greedy.cases * pack[sku]).sum()),
        "units_fair": float((fair * pack[sku]).sum()),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=50_000)
    parser.add_argument("--stores", type=int, default=500)
    parser.add_argument("--chunk-skus", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="5,000 SKUs x 100 stores")
    args = parser.parse_args()
    if args.quick:
        args.skus, args.stores = 5_000, 100

    sizes = [min(args.chunk_skus, args.skus - lo) for lo in range(0, args.skus, args.chunk_skus)]
    print(
        f"{args.skus:,} SKUs x {args.stores:,} stores = {args.skus * args.stores:,} pairs, "
        f"{len(sizes)} chunks of <= {args.chunk_skus:,} SKUs, {args.workers} worker(s)"
    )
    t0 = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [
                pool.submit(run_chunk, args.seed, i, n, args.stores) for i, n in enumerate(sizes)
            ]
            results = [f.result() for f in futures]
    else:
        results = [run_chunk(args.seed, i, n, args.stores) for i, n in enumerate(sizes)]
    wall = time.perf_counter() - t0

    tot = {k: sum(r[k] for r in results) for k in results[0] if k != "rss_mb"}
    pairs = tot["pairs"]
    busy = tot["t_limits"] + tot["t_marginal"] + tot["t_fair"] + tot["t_fair_eval"]
    print(f"wall time (incl. data generation): {wall:.1f} s  ({pairs / wall:,.0f} pairs/s)")
    print(f"candidate cases: {tot['candidates']:,.0f} ({tot['candidates'] / pairs:.2f} per pair)")
    print("timed regions, summed over workers (CPU-seconds on one core):")
    for name, key in [
        ("need / case limits", "t_limits"),
        ("marginal allocation", "t_marginal"),
        ("fair share (rule only)", "t_fair"),
        ("fair share expected sales", "t_fair_eval"),
    ]:
        print(f"  {name:28s} {tot[key]:8.1f} s  {pairs / max(tot[key], 1e-9):>14,.0f} pairs/s")
    print(f"  {'all timed':28s} {busy:8.1f} s")
    print(
        f"ratio marginal / fair share: {tot['t_marginal'] / tot['t_fair']:.1f}x (rule only), "
        f"{tot['t_marginal'] / (tot['t_fair'] + tot['t_fair_eval']):.1f}x "
        "(fair share incl. expected sales)"
    )
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_mb = max(r["rss_mb"] for r in results)
    print(f"peak RSS: parent {parent_mb:,.0f} MB, largest worker {worker_mb:,.0f} MB")
    print(
        f"expected sales: marginal {tot['es_marginal']:,.0f} vs fair share {tot['es_fair']:,.0f} "
        f"units (uplift {100 * (tot['es_marginal'] / tot['es_fair'] - 1):+.2f}%), "
        f"units shipped {tot['units_marginal']:,.0f} vs {tot['units_fair']:,.0f}"
    )


if __name__ == "__main__":
    main()
