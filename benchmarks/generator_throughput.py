"""Throughput of the demo ERP generator (ml/demo_erp.py).

Generates a drop into a temporary folder and prints wall-clock seconds, rows written, SKU-
location-days per second and peak memory. The default run is 10,000 SKU-locations x 730 days;
``--full`` adds 100,000 SKU-locations x 730 days (the size the generator is required to handle in
minutes) and prints the rate at scale relative to the small run. Numbers are printed, never
asserted: they depend on the machine.

    python benchmarks/generator_throughput.py [--full] [--truth] [--clean]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from ml.demo_erp import DemoConfig, generate_demo_erp

SMALL = {"n_stores": 20, "n_skus": 500, "days": 730}  # 10,000 SKU-locations
FULL = {"n_stores": 100, "n_skus": 1000, "days": 730}  # 100,000 SKU-locations


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_once(
    label: str, size: dict[str, int], seed: int, truth: bool, dirty: bool
) -> dict[str, float]:
    """Generate one drop into a temporary folder; return and print its figures."""
    tmp = Path(tempfile.mkdtemp(prefix="stockpilot-bench-"))
    try:
        cfg = DemoConfig(**size, seed=seed, dirty=dirty, verbose=False)
        t0 = time.perf_counter()
        summary = generate_demo_erp(cfg, tmp / "landing", tmp / "truth" if truth else None)
        seconds = time.perf_counter() - t0
        sl_days = summary["sku_location_days"]
        rows = summary["rows_total"]
        size_mb = _folder_bytes(tmp) / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rate = sl_days / seconds
    print(
        f"{label:>5}: {summary['n_sku_locations']:,} SKU-locations x {summary['days']} days | "
        f"{seconds:7.1f} s | {rows:,} rows written "
        f"(sales {summary['rows']['sales']:,}, snapshots {summary['rows']['inventory_snapshots']:,}) | "
        f"{rate:,.0f} SKU-location-days/s | {rows / seconds:,.0f} rows/s | "
        f"{size_mb:,.0f} MB on disk | peak RSS so far {peak_mb:,.0f} MB",
        flush=True,
    )
    return {"seconds": seconds, "rate": rate, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also run 100,000 SKU-locations x 730 days")
    ap.add_argument("--truth", action="store_true", help="also write the ground truth (slower)")
    ap.add_argument("--clean", action="store_true", help="no dirty rows")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    small = run_once("small", SMALL, a.seed, a.truth, not a.clean)
    if a.full:
        full = run_once("full", FULL, a.seed, a.truth, not a.clean)
        print(f"rate at full size / rate at small size: {full['rate'] / small['rate']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
