"""Synthetic retail demand in the shape of ``marts.fct_daily_demand`` + ``marts.dim_items``.

For tests, benchmarks and notebooks: the true (uncensored) demand is returned alongside the
censored sales so that censoring correction and calibration can be checked against the truth.

Demand per SKU-location and day is negative binomial around
``base * weekday_profile * yearly_season * promo_uplift ** is_promo * (price / list_price) ** -elasticity``
with a slowly drifting level. Pattern mix: smooth (high-volume), erratic (high dispersion),
intermittent (rare, small demands) and lumpy (rare, large demands). Stockouts: a random subset
of series has out-of-stock spells; on those days ``units_sold = min(demand, stock)`` where the
stock covers only part of the day's demand, and ``is_stockout`` is True.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_KINDS = ("smooth", "erratic", "intermittent", "lumpy")


def make_demand_panel(
    n_skus: int = 40,
    n_locations: int = 2,
    days: int = 364,
    start: str = "2023-01-02",
    kind_shares: tuple[float, float, float, float] = (0.45, 0.2, 0.2, 0.15),
    stockout_share: float = 0.3,
    new_sku_share: float = 0.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return ``(fct_daily_demand, dim_items, truth)``.

    ``truth`` has ``sku, location_id, demand_date, true_demand, kind``. A share ``new_sku_share``
    of SKUs launch late (``launch_date`` within the last 60 days), giving short histories.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    cats = np.array(["grocery", "household", "beauty", "toys"])
    sku_ids = [f"SKU{i:05d}" for i in range(n_skus)]
    kinds = rng.choice(len(_KINDS), size=n_skus, p=np.asarray(kind_shares) / sum(kind_shares))
    cat = rng.choice(cats, size=n_skus)
    list_price = np.round(rng.lognormal(1.5, 0.6, size=n_skus), 2)
    launch = np.full(n_skus, dates[0])
    is_new = rng.random(n_skus) < new_sku_share
    launch[is_new] = dates[-1] - pd.to_timedelta(rng.integers(10, 60, is_new.sum()), unit="D")
    items = pd.DataFrame(
        {
            "sku": sku_ids,
            "category": cat,
            "unit_cost": np.round(list_price * 0.6, 2),
            "unit_price": list_price,
            "launch_date": pd.to_datetime(launch).date,
            "substitute_group": [f"G{k % 7}" for k in range(n_skus)],
        }
    )
    dow = dates.dayofweek.to_numpy()
    doy = dates.dayofyear.to_numpy()
    cat_weekday = {
        c: 1 + rng.uniform(0.1, 0.5) * np.array([-0.3, -0.35, -0.2, 0.0, 0.25, 0.5, 0.1])
        for c in cats
    }
    frames = []
    truth = []
    for s in range(n_skus):
        kind = _KINDS[kinds[s]]
        for loc in range(n_locations):
            loc_id = f"L{loc:03d}"
            if kind == "smooth":
                base, size, p_dem = rng.lognormal(1.8, 0.6), rng.uniform(5, 30), 1.0
            elif kind == "erratic":
                base, size, p_dem = rng.lognormal(1.5, 0.6), rng.uniform(0.7, 1.5), 1.0
            elif kind == "intermittent":
                base, size, p_dem = rng.uniform(1.0, 2.5), 20.0, rng.uniform(0.08, 0.45)
            else:
                base, size, p_dem = rng.uniform(3.0, 12.0), 0.8, rng.uniform(0.08, 0.4)
            wk = cat_weekday[cat[s]][dow]
            yearly = 1 + 0.15 * np.sin(2 * np.pi * (doy + rng.uniform(0, 365)) / 365.25)
            drift = np.exp(np.cumsum(rng.normal(0, 0.01, days)))
            promo = np.zeros(days, dtype=bool)
            for _ in range(rng.poisson(days / 60)):
                st = rng.integers(0, days)
                promo[st : st + rng.integers(4, 10)] = True
            price = np.where(promo, list_price[s] * 0.8, list_price[s])
            uplift = np.where(promo, 1.6, 1.0)
            mean = base * wk * yearly * drift * uplift
            mu_size = mean if kind in ("smooth", "erratic") else mean
            lam = rng.gamma(size, mu_size / size)
            dem = rng.poisson(lam)
            if p_dem < 1:
                occurs = rng.random(days) < np.clip(p_dem * wk * uplift, 0, 1)
                dem = np.where(occurs, np.maximum(dem, 1), 0)
            dem = dem.astype(float)
            alive = dates >= pd.Timestamp(launch[s])
            sold = dem.copy()
            stockout = np.zeros(days, dtype=bool)
            if rng.random() < stockout_share:
                for _ in range(rng.integers(1, 4)):
                    st = rng.integers(0, days - 7)
                    ln = rng.integers(2, 7)
                    stockout[st : st + ln] = True
                frac = rng.uniform(0.0, 0.7, size=days)
                sold = np.where(stockout, np.floor(dem * frac), dem)
            on_hand = np.where(stockout, 0.0, rng.uniform(5, 50, days).round())
            df = pd.DataFrame(
                {
                    "sku": sku_ids[s],
                    "location_id": loc_id,
                    "demand_date": dates.date,
                    "units_sold": sold,
                    "units_returned": 0.0,
                    "net_price": price,
                    "is_promo": promo,
                    "on_hand_qty": on_hand,
                    "is_stockout": stockout,
                    "is_stock_known": True,
                }
            )[alive]
            frames.append(df)
            truth.append(
                pd.DataFrame(
                    {
                        "sku": sku_ids[s],
                        "location_id": loc_id,
                        "demand_date": dates.date,
                        "true_demand": dem,
                        "kind": kind,
                    }
                )[alive]
            )
    fct = pd.concat(frames, ignore_index=True)
    return fct, items, pd.concat(truth, ignore_index=True)
