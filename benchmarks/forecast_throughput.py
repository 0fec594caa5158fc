"""Throughput and accuracy of the production forecaster against plain statsforecast AutoETS.

Builds one synthetic weekly panel (SKU-locations, ~2 years, censoring corrected), holds out the
last ``--horizon`` weeks, and in the same process times

* ``DemandForecaster`` fit + ``predict_quantiles`` (9 levels = the 80/90/95/98% intervals + median),
* statsforecast ``AutoETS`` (``n_jobs=2``) fit + predict with ``level=[80, 90, 95, 98]``: the
  non-seasonal configuration on the whole panel (the fast one, the throughput yardstick) and
  ``season_length=52`` on a random subset (much slower per series),
* seasonal naive with empirical intervals (accuracy only),
* fit + update vs full fit: a forecaster fitted ``--update-weeks`` weeks earlier, then
  ``update(update_params=False)`` with those weeks + ``predict_quantiles`` (what a weekly run does
  between retrains), against the full fit above - time, and accuracy on the same holdout.

``--warehouse PATH`` takes the panel from ``forecasting.training_set`` of a built warehouse (e.g.
a copy of the demo snapshot) instead of the synthetic one.

Worker start-up of the production forecaster's process pool is inside its timed region.

Prints series/second for both and the ratio, then pinball loss and 90% coverage on the holdout.
Prints, never asserts. Run::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/forecast_throughput.py
    .venv/bin/python benchmarks/forecast_throughput.py --warehouse /tmp/x/data/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--locations", type=int, default=2)
    parser.add_argument("--days", type=int, default=735)
    parser.add_argument("--freq", choices=["W", "D"], default="W", help="weekly or daily panel")
    parser.add_argument("--horizon", type=int, default=None, help="default 8 weeks / 28 days")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seasonal-subset", type=int, default=150)
    parser.add_argument("--update-weeks", type=int, default=4, help="weeks the update adds")
    parser.add_argument("--warehouse", default=None, help="read forecasting.training_set here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    from ml.forecasting.backtest import (
        baseline_seasonal_naive_quantiles,
        score_quantile_forecasts,
        statsforecast_to_quantiles,
    )
    from ml.forecasting.data import build_panel
    from ml.forecasting.distributions import EVAL_ALPHAS
    from ml.forecasting.forecaster import DemandForecaster
    from ml.forecasting.synthetic import make_demand_panel

    t0 = time.perf_counter()
    weekly = args.freq == "W" or args.warehouse is not None
    freq = "W-MON" if weekly else "D"
    sp = 52 if weekly else 7
    unit = "weeks" if weekly else "days"
    args.horizon = args.horizon or (8 if weekly else 28)
    if args.warehouse:
        y, X = _warehouse_panel(args.warehouse)
    else:
        fct, _items, _truth = make_demand_panel(
            n_skus=args.skus, n_locations=args.locations, days=args.days, seed=args.seed
        )
        y, X = build_panel(fct, freq=freq)
    times = y.index.get_level_values(-1).unique().sort_values()
    cut = times[-args.horizon - 1]
    tr = y.index.get_level_values(-1) <= cut
    y_tr, y_te = y[tr], y[~tr]
    X_tr, X_te = X[tr], X[~tr]
    n_series = y_tr.index.droplevel(-1).nunique()
    print(
        f"panel: {n_series} {'weekly' if weekly else 'daily'} series, "
        f"{len(times) - args.horizon} training {unit}, horizon {args.horizon} {unit} (built in {time.perf_counter() - t0:.1f}s)"
    )
    fh = list(range(1, args.horizon + 1))
    alphas = list(EVAL_ALPHAS)

    # ---- production forecaster
    t0 = time.perf_counter()
    fc = DemandForecaster(n_jobs=args.n_jobs, random_state=0)

    fc.fit(y_tr, X=X_tr, fh=fh)
    q_prod = fc.predict_quantiles(X=X_te, alpha=alphas)
    t_prod = time.perf_counter() - t0

    # ---- fit + update vs full fit: fitted --update-weeks earlier, then updated with those weeks
    k = int(args.update_weeks)
    old = y_tr.index.get_level_values(-1) <= times[-args.horizon - 1 - k]
    stale = DemandForecaster(n_jobs=args.n_jobs, random_state=0)
    t0 = time.perf_counter()
    stale.fit(y_tr[old], X=X_tr[old], fh=fh)
    t_stale_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    stale.update(y_tr[~old], X=X_tr[~old], update_params=False)
    q_upd = stale.predict_quantiles(X=X_te, alpha=alphas)
    t_upd = time.perf_counter() - t0
    pit = {
        "DemandForecaster": fc.predict_pit_coverage(y_te, X=X_te)["pit_cov_90"].mean(),
        f"DemandForecaster[updated {k}w]": stale.predict_pit_coverage(y_te, X=X_te)[
            "pit_cov_90"
        ].mean(),
    }

    # ---- plain statsforecast AutoETS, n_jobs=2: non-seasonal on the whole panel (the fast
    # configuration), and with season_length=52 on a random subset (about 15x slower per series)
    def run_autoets(y_fit: pd.DataFrame, season_length: int) -> tuple[float, pd.DataFrame]:
        sf_df = pd.DataFrame(
            {
                "unique_id": [f"{a}|{b}" for a, b, _ in y_fit.index],
                "ds": y_fit.index.get_level_values(-1),
                "y": y_fit.iloc[:, 0].to_numpy(),
            }
        )
        t = time.perf_counter()
        sf = StatsForecast(
            models=[AutoETS(season_length=season_length)], freq=freq, n_jobs=args.n_jobs
        )
        out = sf.forecast(df=sf_df, h=args.horizon, level=[80, 90, 95, 98])
        return time.perf_counter() - t, out

    t_ets, sf_out = run_autoets(y_tr, 1)
    q_ets = statsforecast_to_quantiles(sf_out, "AutoETS", y_te.index, alphas)
    rng = np.random.default_rng(args.seed)
    keys = y_tr.index.droplevel(-1).unique()
    sub = keys[rng.choice(len(keys), min(args.seasonal_subset, len(keys)), replace=False)]
    in_sub = y_tr.index.droplevel(-1).isin(sub)
    t_ets52, sf_out52 = run_autoets(y_tr[in_sub], sp)
    te_sub = y_te.index.droplevel(-1).isin(sub)
    q_ets52 = statsforecast_to_quantiles(sf_out52, "AutoETS", y_te.index[te_sub], alphas)

    rate_prod = n_series / t_prod
    rate_ets = n_series / t_ets
    rate_ets52 = len(sub) / t_ets52
    print(
        f"DemandForecaster n_jobs={args.n_jobs} fit+predict_quantiles: {t_prod:6.1f}s "
        f"{rate_prod:7.1f} series/s"
    )
    print(
        f"statsforecast AutoETS(season_length=1) n_jobs={args.n_jobs}: {t_ets:6.1f}s "
        f"{rate_ets:7.1f} series/s"
    )
    print(
        f"statsforecast AutoETS(season_length={sp}) n_jobs={args.n_jobs} on {len(sub)} series: "
        f"{t_ets52:6.1f}s {rate_ets52:7.1f} series/s"
    )
    print(
        f"update with {k} new weeks + predict_quantiles: {t_upd:6.2f}s; full fit + predict "
        f"{t_prod:6.1f}s; ratio full / update {t_prod / max(t_upd, 1e-9):.0f}x "
        f"(the earlier fit itself took {t_stale_fit:.1f}s)"
    )
    print(f"throughput ratio production / AutoETS(season_length=1):  {rate_prod / rate_ets:.2f}")
    print(
        f"throughput ratio production / AutoETS(season_length={sp}): {rate_prod / rate_ets52:.2f}"
    )

    # ---- accuracy on the holdout
    q_snaive = baseline_seasonal_naive_quantiles(y_tr, args.horizon, alphas, sp=sp)
    seg = fc.segments_["segment"].astype(str)
    rows = []
    for name, q in (
        ("DemandForecaster", q_prod),
        (f"DemandForecaster[updated {k}w]", q_upd),
        ("AutoETS", q_ets),
        ("seasonal_naive", q_snaive),
        ("DemandForecaster[subset]", q_prod[q_prod.index.droplevel(-1).isin(sub)]),
        ("AutoETS_seasonal[subset]", q_ets52),
    ):
        s = score_quantile_forecasts(y_te, q, segments=seg)
        s.insert(0, "model", name)
        rows.append(s)
    table = pd.concat(rows, ignore_index=True)
    cols = [
        "model",
        "segment",
        "n_series",
        "pinball",
        "wape",
        "bias",
        "coverage_80",
        "coverage_90",
        "coverage_90_open",
        "coverage_95",
        "coverage_98",
    ]
    table["pit_coverage_90"] = np.where(table["segment"] == "all", table["model"].map(pit), np.nan)
    cols.append("pit_coverage_90")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table[cols].round(3).to_string(index=False))
    overall = table[table["segment"] == "all"].set_index("model")["pinball"]
    print(
        "pinball ratio vs AutoETS: "
        f"{overall['DemandForecaster'] / overall['AutoETS']:.3f}; "
        f"vs seasonal naive: {overall['DemandForecaster'] / overall['seasonal_naive']:.3f}; "
        f"vs seasonal AutoETS({sp}) on the subset: "
        f"{overall['DemandForecaster[subset]'] / overall['AutoETS_seasonal[subset]']:.3f}"
    )
    print(
        f"pinball ratio updated ({k} weeks old fit) / refitted: "
        f"{overall[f'DemandForecaster[updated {k}w]'] / overall['DemandForecaster']:.3f}"
    )
    print("selected model per segment:", fc.model_by_segment_)


def _warehouse_panel(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(y, X)`` from ``forecasting.training_set`` of a built warehouse (read-only)."""
    import duckdb

    with duckdb.connect(path, read_only=True) as con:
        frame = con.sql(
            "select sku, location_id, week, demand, net_price, promo_share "
            "from forecasting.training_set order by sku, location_id, week"
        ).df()
    frame["period"] = pd.to_datetime(frame.pop("week")).astype("datetime64[ns]")
    frame = frame.set_index(["sku", "location_id", "period"])
    return frame[["demand"]], frame[["net_price", "promo_share"]]


if __name__ == "__main__":
    main()
