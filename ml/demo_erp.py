"""Deterministic, realistic demo ERP drop for stockpilot.

Writes every extract of the ERP data contract (``docs/data-contract.md``,
``orchestration/ingest/contract.py``) into a landing folder, from a day-by-day simulation of a
retail network: DCs replenished by purchase orders to suppliers, stores replenished from their DC
by periodic-review transfers, and stochastic customer demand that is censored by stock on hand.

Why a simulation rather than random rows: forecasting and inventory work downstream is tested
against this data, so the extracts must be mutually consistent (on hand of day t = on hand of day
t-1 + goods received - units sold) and carry known ground truth (uncensored demand, demand class,
lead-time distributions), which is written to ``truth_dir`` when given.

Speed: the simulation loops over days only; every day is a handful of numpy operations on vectors
of one entry per SKU-location (int32/float32). Output is written month by month with pyarrow, so
peak memory is a few month-sized buffers (about 31 x SKU-locations x a few bytes each), not the
full history. 100,000 SKU-locations x 730 days runs in minutes on two cores.

Units: quantities are units (each) unless a sales row says ``uom = CS`` (quantity in cases;
``net_price`` stays per unit); money is currency per unit; lead times and durations are days;
rates such as ``duplicate_rate`` are fractions of the rows of the extract they apply to.

The model, in short:

* Demand per SKU-location and day: level x yearly seasonality (cosine, category peak) x weekday
  shape (weekend uplift) x trend x holiday (closures on New Year, Easter Sunday, Christmas Day;
  uplifts around Christmas, Black Friday, ...) x promotion uplift (1.3-3x, 15% dip for 7 days
  after) x price elasticity after regular price changes x 28-day ramp after a launch. Classes:
  fast (negative binomial, 5-50/day), slow (Poisson, 0.2-2/day), intermittent (Bernoulli
  occurrence 2-15% of days x bursts of 1 + Poisson-exponential units), seasonal (NB, strong
  yearly cycle).
* Stores: periodic review (weekly, twice weekly for fast movers) order-up-to from the DC in whole
  case packs; the planners' rate is an EWMA of sales (raised, never lowered, on stock-out days)
  scaled for known promotions and next week's season. 10% of SKU-locations are held at only
  55-80% of that level. Sales = min(demand, stock on hand): censored on stock-out days. Returns
  do not go back to stock.
* DCs: weekly purchase orders per supplier, order-up-to over review + quoted lead time + safety
  days, in case packs and at least the MOQ; scarce DC stock is allocated pro rata to stores.
  Supplier lead times are normal (CV 0.08-0.2), lognormal (right-skewed), bimodal (SUP01: 85% at
  7 days, 15% at 21 days) or systematically late (1.2-1.5x quoted). ~10% of lines arrive in 2-3
  partial receipts, ~4% short, ~1% are cancelled, recent lines are still OPEN.
* Dirt (``dirty=True``): every *invalid* sales row is an extra, defective copy of a real row, so
  the rows staging must accept are exactly the simulated sales and the rows it must quarantine
  are exactly the ones counted in ``summary["dirty"]`` (see ``DIRTY_KINDS``). With
  ``dirty=False`` every row of every file is valid.

This module does not import dagster: it is used by tests, benchmarks and the CLI on its own.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["DIRTY_KINDS", "DemoConfig", "generate_demo_erp", "main"]

#: Kinds of dirty data the generator can inject, as counted in ``summary["dirty"]``.
#: Rows of the kinds in ``_QUARANTINE_REASON`` must be quarantined by staging; the other kinds are
#: valid per the contract (returns, alternative date formats, CS units, late files, missing
#: net_price) and must be accepted.
DIRTY_KINDS: tuple[str, ...] = (
    "duplicate_row",
    "return_row",
    "missing_quantity",
    "missing_sku",
    "missing_net_price",
    "unknown_sku",
    "late_arriving",
    "alt_date_format",
    "unparseable_date",
    "uom_cs",
    "negative_on_hand",
)

_QUARANTINE_REASON: dict[str, tuple[str, str]] = {
    "duplicate_row": ("sales", "duplicate_row"),
    "missing_quantity": ("sales", "missing_required_value"),
    "missing_sku": ("sales", "missing_required_value"),
    "unknown_sku": ("sales", "unknown_sku"),
    "unparseable_date": ("sales", "unparseable_date"),
    "negative_on_hand": ("inventory_snapshots", "invalid_value"),
}

_EXTRACTS: tuple[str, ...] = (
    "items",
    "locations",
    "suppliers",
    "sales",
    "inventory_snapshots",
    "purchase_orders",
    "receipts",
    "promotions",
    "price_changes",
    "transfers",
)

_REGIONS: tuple[str, ...] = ("NORTH", "SOUTH", "EAST", "WEST")
_CLASSES: tuple[str, ...] = ("fast", "slow", "intermittent", "seasonal")
_FAST, _SLOW, _INTERMITTENT, _SEASONAL = range(4)
_SUPPLIER_KINDS: tuple[str, ...] = ("normal", "lognormal", "bimodal", "late")
_NORMAL, _LOGNORMAL, _BIMODAL, _LATE = range(4)

#: Day-of-week demand shape, Monday..Sunday (weekend uplift), normalised to mean 1 below.
_WEEK_SHAPE = np.array([0.86, 0.84, 0.88, 0.95, 1.14, 1.38, 0.95])
_WEEK_SHAPE = _WEEK_SHAPE / _WEEK_SHAPE.mean()

_MAX_LEAD_TIME = 120  # days; cap on drawn supplier lead times
_RING = 160  # days; horizon of the DC receipt ring buffer (> max lead time + partial delays)
_STORE_REVIEW_DAYS = 7.0  # days between store reviews (3.5 for twice-weekly SKU-locations)
_DC_REVIEW_DAYS = 7  # days between purchase orders to one supplier
_ELASTICITY = -1.2  # own-price elasticity applied after regular price changes
_EWMA_ALPHA = 0.07  # per day; smoothing of the planners' sales-rate estimate
_SERVICE_Z = 1.4  # safety factor of the store order-up-to level
_PROMO_DIP = 0.85  # demand multiplier in the 7 days after a promotion (pantry loading)
_UNKNOWN_SKU_BASE = 900_001  # unknown SKU codes are SKU900001.. (never in the item master)


@dataclass(frozen=True)
class _Category:
    """Merchandise category: margin band, seasonality and mix of demand classes."""

    name: str
    markup_lo: float  # unit_price / unit_cost, lower bound
    markup_hi: float
    cost_median: float  # currency per unit
    peak_doy: int | None  # day of year of the seasonal peak; None = no category seasonality
    season_amp: float  # amplitude of the yearly cosine (0 = flat, 0.9 = almost nothing off-season)
    class_probs: tuple[float, float, float, float]  # fast, slow, intermittent, seasonal
    weekend: float  # strength of the weekend uplift (1 = _WEEK_SHAPE as is)


_CATEGORIES: tuple[_Category, ...] = (
    _Category("BEVERAGES", 1.25, 1.60, 1.8, 196, 0.30, (0.45, 0.30, 0.05, 0.20), 1.1),
    _Category("SNACKS", 1.35, 1.80, 2.0, None, 0.05, (0.40, 0.40, 0.10, 0.10), 1.2),
    _Category("DAIRY", 1.15, 1.35, 1.5, None, 0.05, (0.55, 0.35, 0.05, 0.05), 0.7),
    _Category("GARDEN", 1.60, 2.50, 12.0, 140, 0.85, (0.05, 0.30, 0.20, 0.45), 1.3),
    _Category("WINTER_GOODS", 1.70, 2.60, 15.0, 355, 0.85, (0.05, 0.30, 0.20, 0.45), 1.2),
    _Category("HOUSEHOLD", 1.40, 2.00, 4.0, None, 0.05, (0.25, 0.50, 0.20, 0.05), 1.0),
    _Category("PERSONAL_CARE", 1.50, 2.20, 3.5, None, 0.05, (0.25, 0.50, 0.20, 0.05), 0.9),
    _Category("FROZEN", 1.30, 1.70, 3.0, 200, 0.25, (0.40, 0.35, 0.05, 0.20), 1.0),
    _Category("TOYS", 1.60, 2.40, 10.0, 350, 0.60, (0.10, 0.35, 0.30, 0.25), 1.4),
    _Category("PET", 1.30, 1.70, 6.0, None, 0.05, (0.30, 0.50, 0.15, 0.05), 0.9),
    _Category("BAKERY", 1.30, 1.60, 1.2, None, 0.05, (0.60, 0.30, 0.05, 0.05), 0.8),
    _Category("STATIONERY", 1.80, 2.80, 2.5, 235, 0.50, (0.10, 0.40, 0.25, 0.25), 0.8),
)

_COUNTRIES = ("DE", "PL", "NL", "IT", "FR", "ES", "CZ", "US", "CN", "VN", "IN", "TR")


@dataclass
class DemoConfig:
    """Size, randomness and dirt of a demo ERP drop.

    Sizes: ``n_stores * n_skus * assortment_share`` SKU-locations are simulated for ``days`` days
    starting ``start_date``. Dirty-data rates are fractions of the rows of the extract they apply
    to (sales rows per monthly file, snapshot rows for ``negative_on_hand_rate``); counts are
    drawn by stochastic rounding, so the expected count is exactly ``rate * rows``.
    """

    n_dcs: int = 2
    n_stores: int = 20
    n_skus: int = 300
    days: int = 730
    start_date: str = "2024-11-18"  # a Monday
    assortment_share: float = 1.0  # share of SKUs each store carries
    seed: int = 7
    dirty: bool = True
    n_suppliers: int = 12
    n_categories: int = 10  # 1..12 of the built-in categories
    new_launch_share: float = 0.05  # items launched during the period
    recent_launch_share: float = 0.03  # items launched 2-7 weeks before the end (cold start)
    substitute_share: float = 0.30  # items in a substitute group
    promo_item_share: float = 0.30  # items with promotions
    price_change_share: float = 0.08  # items with a regular price change
    understock_share: float = 0.10  # SKU-locations whose order-up-to level is set too low
    partial_receipt_share: float = 0.10  # PO lines received in 2-3 deliveries
    short_ship_share: float = 0.04  # PO lines received short (50-95% of the ordered cases)
    cancel_share: float = 0.01  # PO lines cancelled by the supplier
    # dirty data (only written when dirty=True)
    duplicate_rate: float = 0.003
    return_rate: float = 0.01
    missing_quantity_rate: float = 0.0003
    missing_sku_rate: float = 0.0002
    missing_net_price_rate: float = 0.005
    unknown_sku_rate: float = 0.0005
    late_arrival_rate: float = 0.002
    alt_date_format_rate: float = 0.01
    unparseable_date_rate: float = 0.0002
    case_uom_rate: float = 0.02
    negative_on_hand_rate: float = 0.00002
    # demand shift (a drift scenario): from day ``shift_start_day`` on (None: never), demand of
    # ``shift_share`` of the SKUs (of ``shift_category`` only, if set) is multiplied by
    # ``shift_factor`` in every store; planners learn it only through their usual sales EWMA
    shift_start_day: int | None = None
    shift_factor: float = 1.0
    shift_share: float = 1.0
    shift_category: str | None = None
    verbose: bool = True  # progress lines on stderr

    def validate(self) -> None:
        """Raise ValueError for sizes or rates the generator cannot honour."""
        if self.n_dcs < 1 or self.n_stores < 1 or self.n_skus < 2 or self.days < 14:
            raise ValueError("need n_dcs >= 1, n_stores >= 1, n_skus >= 2 and days >= 14")
        if self.n_skus >= _UNKNOWN_SKU_BASE:
            raise ValueError(f"n_skus must be below {_UNKNOWN_SKU_BASE}")
        if self.n_suppliers < 1 or not 1 <= self.n_categories <= len(_CATEGORIES):
            raise ValueError(f"need n_suppliers >= 1 and 1 <= n_categories <= {len(_CATEGORIES)}")
        if not 0.0 < self.assortment_share <= 1.0:
            raise ValueError("assortment_share must be in (0, 1]")
        date.fromisoformat(self.start_date)
        for name, value in asdict(self).items():
            if (name.endswith(("_rate", "_share"))) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.shift_factor < 0:
            raise ValueError(f"shift_factor must be >= 0, got {self.shift_factor}")
        if self.shift_start_day is not None and not 0 <= self.shift_start_day < self.days:
            raise ValueError(
                f"shift_start_day must be in [0, {self.days}), got {self.shift_start_day}"
            )
        names = [c.name for c in _CATEGORIES[: self.n_categories]]
        if self.shift_category is not None and self.shift_category not in names:
            raise ValueError(f"shift_category must be one of {names}, got {self.shift_category!r}")


# --------------------------------------------------------------------------------------------
# small helpers


def _log(cfg: DemoConfig, msg: str) -> None:
    if cfg.verbose:
        print(f"[demo_erp] {msg}", file=sys.stderr, flush=True)


def _stoch_round(rng: np.random.Generator, x: float) -> int:
    """Round x to an integer with E[result] = x (keeps small dirty rates unbiased)."""
    base = math.floor(x)
    return int(base + (rng.random() < x - base))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def _psych_price(p: np.ndarray, floor_: np.ndarray) -> np.ndarray:
    """Shelf prices: x.99 above 3 currency units, cents below; always above ``floor_``."""
    shelf = np.where(p >= 3.0, np.floor(p) + 0.99, np.round(p, 2))
    return np.round(np.maximum(shelf, np.round(floor_ * 1.05 + 0.01, 2)), 2)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    wd = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * wd) // 451
    month = (h + wd - 7 * m + 114) // 31
    day = (h + wd - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _dict_array(
    indices: np.ndarray, dictionary: pa.Array, null: np.ndarray | None = None
) -> pa.Array:
    """A dictionary-encoded string column (written to Parquet as plain strings)."""
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=null), dictionary)


def _write_parquet(table: pa.Table, path: Path) -> None:
    # store_schema=False: readers see plain string columns, not Arrow dictionaries.
    pq.write_table(table, path, compression="snappy", store_schema=False)


# --------------------------------------------------------------------------------------------
# calendar


@dataclass
class _Calendar:
    days: int
    dates: np.ndarray  # datetime64[D], one per simulated day
    dow: np.ndarray  # 0 = Monday
    doy: np.ndarray  # 1..366
    month_label: list[str]  # "YYYY-MM" per day
    is_flush_day: np.ndarray  # last simulated day of a calendar month (or of the period)
    holiday_mult: np.ndarray  # demand multiplier per day (float32)
    closed: np.ndarray  # stores closed (no sales, no store reviews)
    holidays: pd.DataFrame
    date_strings: pa.Array  # dictionary of sale_date strings, see _date_index

    def iso(self, t: int) -> str:
        return str(self.dates[t])


def _make_calendar(cfg: DemoConfig) -> _Calendar:
    start = np.datetime64(cfg.start_date, "D")
    dates = start + np.arange(cfg.days)
    di = dates.astype(np.int64)
    dow = ((di + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday
    doy = ((dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1).astype(np.int16)
    months = dates.astype("datetime64[M]")
    month_label = [str(m) for m in months]
    is_flush = np.zeros(cfg.days, bool)
    is_flush[:-1] = months[1:] != months[:-1]
    is_flush[-1] = True

    mult = np.ones(cfg.days, np.float32)
    closed = np.zeros(cfg.days, bool)
    rows: list[tuple[str, str, float, bool]] = []
    first, last = dates[0].astype(object), dates[-1].astype(object)

    def add(d: date, name: str, m: float, is_closed: bool = False) -> None:
        if first <= d <= last:
            t = (d - first).days
            mult[t] = 0.0 if is_closed else m
            closed[t] = is_closed
            rows.append((d.isoformat(), name, 0.0 if is_closed else m, is_closed))

    for year in range(first.year, last.year + 1):
        add(date(year, 1, 1), "New Year's Day", 0.0, True)
        easter = _easter(year)
        add(date.fromordinal(easter.toordinal() - 1), "Easter Saturday", 1.35)
        add(easter, "Easter Sunday", 0.0, True)
        add(date(year, 7, 4), "Independence Day", 1.15)
        nov1 = date(year, 11, 1)
        thanksgiving = date(year, 11, 1 + (3 - nov1.weekday()) % 7 + 21)
        add(date.fromordinal(thanksgiving.toordinal() + 1), "Black Friday", 1.8)
        for day in range(18, 24):
            add(date(year, 12, day), "Christmas shopping", 1.2)
        add(date(year, 12, 24), "Christmas Eve", 1.6)
        add(date(year, 12, 25), "Christmas Day", 0.0, True)
        add(date(year, 12, 26), "Boxing Day", 0.85)
        add(date(year, 12, 31), "New Year's Eve", 1.3)
    holidays = pd.DataFrame(rows, columns=["date", "name", "demand_multiplier", "stores_closed"])

    iso = dates.astype(str)
    y = [s[0:4] for s in iso]
    m = [s[5:7] for s in iso]
    d = [s[8:10] for s in iso]
    strings = (
        list(iso)
        + [a + b + c for a, b, c in zip(y, m, d, strict=True)]  # YYYYMMDD
        + [f"{c}.{b}.{a}" for a, b, c in zip(y, m, d, strict=True)]  # DD.MM.YYYY
        + [f"{b}/{c}/{a}" for a, b, c in zip(y, m, d, strict=True)]  # MM/DD/YYYY
        + [f"{a}-{int(b) + 12:02d}-{c}" for a, b, c in zip(y, m, d, strict=True)]  # month 13-24
        + ["n/a"]
    )
    return _Calendar(
        days=cfg.days,
        dates=dates,
        dow=dow,
        doy=doy,
        month_label=month_label,
        is_flush_day=is_flush,
        holiday_mult=mult,
        closed=closed,
        holidays=holidays,
        date_strings=pa.array(strings, pa.string()),
    )


def _date_index(days: np.ndarray, fmt: int | np.ndarray, n_days: int) -> np.ndarray:
    """Index into ``_Calendar.date_strings``: fmt 0 ISO, 1 YYYYMMDD, 2 DD.MM.YYYY, 3 MM/DD/YYYY,
    4 invalid month (13-24), 5 the literal "n/a"."""
    fmt = np.asarray(fmt)
    return np.where(fmt == 5, 5 * n_days, fmt * n_days + days).astype(np.int32)


# --------------------------------------------------------------------------------------------
# masters


@dataclass
class _Suppliers:
    ids: list[str]
    kind: np.ndarray  # index into _SUPPLIER_KINDS
    quoted: np.ndarray  # quoted lead time, days
    lt_mean: np.ndarray  # normal / late kinds: mean, days
    lt_sd: np.ndarray
    ln_shift: np.ndarray  # lognormal kind: shift + exp(N(ln_mu, ln_sigma))
    ln_mu: np.ndarray
    ln_sigma: np.ndarray
    mode1: np.ndarray  # bimodal kind: mode1 w.p. 1 - p_late, else mode2; plus N(0, jitter)
    mode2: np.ndarray
    p_late: np.ndarray
    jitter: np.ndarray
    order_dow: np.ndarray  # weekday the DCs order from this supplier
    frame: pd.DataFrame  # the suppliers extract


def _make_suppliers(cfg: DemoConfig, rng: np.random.Generator) -> _Suppliers:
    n = cfg.n_suppliers
    kind = np.zeros(n, np.int8)
    quoted = np.zeros(n, np.int32)
    lt_mean, lt_sd = np.zeros(n), np.zeros(n)
    ln_shift, ln_mu, ln_sigma = np.zeros(n), np.zeros(n), np.zeros(n)
    mode1, mode2, p_late, jitter = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    country = []
    cycle = (_NORMAL, _LOGNORMAL, _LATE, _BIMODAL)
    for i in range(n):
        # SUP01 is the reference bimodal supplier: 85% on time at 7 days, 15% at 21 days.
        k = _BIMODAL if i == 0 else cycle[(i - 1) % len(cycle)]
        kind[i] = k
        if i == 0:
            quoted[i], mode1[i], mode2[i], p_late[i], jitter[i] = 7, 7, 21, 0.15, 0.5
        elif k == _NORMAL:
            quoted[i] = rng.integers(4, 15)
            lt_mean[i] = quoted[i]
            lt_sd[i] = quoted[i] * rng.uniform(0.08, 0.2)
        elif k == _LOGNORMAL:
            quoted[i] = rng.integers(10, 43)
            ln_shift[i] = round(0.4 * quoted[i])
            ln_mu[i] = math.log(quoted[i] - ln_shift[i])  # median lead time = quoted
            ln_sigma[i] = rng.uniform(0.35, 0.7)
        elif k == _LATE:
            quoted[i] = rng.integers(5, 15)
            lt_mean[i] = quoted[i] * rng.uniform(1.2, 1.5)
            lt_sd[i] = 0.15 * lt_mean[i]
        else:
            quoted[i] = rng.choice([5, 7, 10])
            mode1[i] = quoted[i]
            mode2[i] = quoted[i] + rng.integers(10, 18)
            p_late[i] = rng.uniform(0.10, 0.25)
            jitter[i] = 0.5
        far = k == _LOGNORMAL and quoted[i] >= 25
        country.append(str(rng.choice(_COUNTRIES[8:] if far else _COUNTRIES[:8])))
    ids = [f"SUP{i + 1:02d}" for i in range(n)]
    order_cost = np.round(rng.uniform(50, 400, n), 2)
    frame = pd.DataFrame(
        {
            "supplier_id": ids,
            "supplier_name": [f"Supplier {i + 1:02d} {c}" for i, c in enumerate(country)],
            "default_lead_time_days": quoted,
            "order_cost": order_cost,
            "country": country,
        }
    )
    return _Suppliers(
        ids=ids,
        kind=kind,
        quoted=quoted,
        lt_mean=lt_mean,
        lt_sd=lt_sd,
        ln_shift=ln_shift,
        ln_mu=ln_mu,
        ln_sigma=ln_sigma,
        mode1=mode1,
        mode2=mode2,
        p_late=p_late,
        jitter=jitter,
        order_dow=rng.integers(0, 5, n).astype(np.int8),
        frame=frame,
    )


def _draw_lead_times(rng: np.random.Generator, s: _Suppliers, sup: np.ndarray) -> np.ndarray:
    """Realised supplier lead times (days, >= 1) for PO lines of suppliers ``sup``."""
    n = sup.size
    z = rng.standard_normal(n)
    u = rng.random(n)
    kind = s.kind[sup]
    normal = s.lt_mean[sup] + s.lt_sd[sup] * z
    logn = s.ln_shift[sup] + np.exp(s.ln_mu[sup] + s.ln_sigma[sup] * z)
    bim = np.where(u < s.p_late[sup], s.mode2[sup], s.mode1[sup]) + s.jitter[sup] * z
    lt = np.select([kind == _LOGNORMAL, kind == _BIMODAL], [logn, bim], normal)
    return np.clip(np.rint(lt), 1, _MAX_LEAD_TIME).astype(np.int32)


@dataclass
class _Locations:
    ids: list[str]  # DCs first, then stores; index = location index
    store_dc: np.ndarray  # per store: DC index
    store_lead: np.ndarray  # per store: DC -> store transfer lead time, days (1-3)
    store_factor: np.ndarray  # per store: demand size multiplier
    store_review_dow: np.ndarray  # per store: first review weekday (second = +3)
    frame: pd.DataFrame


def _make_locations(cfg: DemoConfig, rng: np.random.Generator, start: date) -> _Locations:
    n_reg = max(len(_REGIONS), cfg.n_dcs)
    regions = list(_REGIONS) + [f"REGION{i + 1}" for i in range(len(_REGIONS), n_reg)]
    dc_ids = [f"DC{i + 1:02d}" for i in range(cfg.n_dcs)]
    store_ids = [
        f"S{i + 1:03d}" if cfg.n_stores < 1000 else f"S{i + 1:05d}" for i in range(cfg.n_stores)
    ]
    store_region = np.arange(cfg.n_stores) % n_reg
    store_dc = (store_region % cfg.n_dcs).astype(np.int32)
    store_lead = rng.integers(1, 4, cfg.n_stores).astype(np.int32)
    region_factor = rng.uniform(0.85, 1.15, n_reg)
    store_factor = (rng.lognormal(0.0, 0.35, cfg.n_stores) * region_factor[store_region]).astype(
        np.float32
    )
    review_dow = rng.integers(0, 6, cfg.n_stores).astype(np.int8)
    dc_open = [
        date.fromordinal(start.toordinal() - int(x)) for x in rng.integers(2000, 8000, cfg.n_dcs)
    ]
    st_open = [
        date.fromordinal(start.toordinal() - int(x))
        for x in rng.integers(365, 15 * 365, cfg.n_stores)
    ]
    frame = pd.DataFrame(
        {
            "location_id": dc_ids + store_ids,
            "location_name": [
                f"Distribution centre {regions[i % n_reg].title()}" for i in range(cfg.n_dcs)
            ]
            + [f"Store {i + 1} {regions[store_region[i]].title()}" for i in range(cfg.n_stores)],
            "location_type": ["DC"] * cfg.n_dcs + ["STORE"] * cfg.n_stores,
            "region": [regions[i % n_reg] for i in range(cfg.n_dcs)]
            + [regions[r] for r in store_region],
            "replenished_from": [""] * cfg.n_dcs + [dc_ids[d] for d in store_dc],
            "transfer_lead_time_days": pd.array(
                [None] * cfg.n_dcs + list(store_lead), dtype="Int64"
            ),
            "capacity_units": pd.array(
                [0] * (cfg.n_dcs + cfg.n_stores), dtype="Int64"
            ),  # set later
            "open_date": [d.isoformat() for d in dc_open + st_open],
        }
    )
    return _Locations(dc_ids + store_ids, store_dc, store_lead, store_factor, review_dow, frame)


@dataclass
class _Items:
    ids: list[str]
    category: np.ndarray  # index into _CATEGORIES
    cls: np.ndarray  # index into _CLASSES
    base: np.ndarray  # mean units/day at an average store (occurrence prob. for intermittent)
    burst: np.ndarray  # intermittent: mean extra units of a demand burst (size = 1 + ...)
    nb_k: np.ndarray  # negative-binomial shape (fast/seasonal); inf = Poisson
    amp: np.ndarray  # yearly seasonality amplitude
    peak: np.ndarray  # day of year of the seasonal peak
    trend: np.ndarray  # log-demand slope per year
    unit_cost: np.ndarray
    unit_price: np.ndarray
    case_pack: np.ndarray
    moq: np.ndarray
    supplier: np.ndarray
    launch_day: np.ndarray  # simulation day of launch (negative = before the period)
    frame: pd.DataFrame


def _make_items(
    cfg: DemoConfig, rng: np.random.Generator, sup: _Suppliers, cal: _Calendar
) -> _Items:
    n = cfg.n_skus
    cats = _CATEGORIES[: cfg.n_categories]
    category = rng.integers(0, len(cats), n).astype(np.int8)
    probs = np.array([c.class_probs for c in cats])[category]
    cls = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, 3).astype(np.int8)

    base = np.zeros(n)
    burst = np.zeros(n)
    nb_k = np.full(n, np.inf)
    for c, (lo, hi) in ((_FAST, (5.0, 50.0)), (_SLOW, (0.2, 2.0)), (_SEASONAL, (1.0, 20.0))):
        ix = np.flatnonzero(cls == c)
        base[ix] = _log_uniform(rng, lo, hi, ix.size)
    ix = np.flatnonzero(cls == _INTERMITTENT)
    base[ix] = rng.uniform(0.02, 0.15, ix.size)
    burst[ix] = _log_uniform(rng, 1.0, 12.0, ix.size)
    ix = np.flatnonzero(cls == _FAST)
    nb_k[ix] = _log_uniform(rng, 3.0, 30.0, ix.size)
    ix = np.flatnonzero(cls == _SEASONAL)
    nb_k[ix] = _log_uniform(rng, 2.0, 15.0, ix.size)

    cat_amp = np.array([c.season_amp for c in cats])[category]
    cat_peak = np.array([c.peak_doy if c.peak_doy is not None else -1 for c in cats])[category]
    random_peak = np.where(rng.random(n) < 0.5, 190, 355)
    peak = np.where(cat_peak >= 0, cat_peak, random_peak) + rng.normal(0, 10, n)
    amp = np.where(
        cls == _SEASONAL,
        np.where(
            cat_peak >= 0,
            np.clip(cat_amp + rng.normal(0, 0.08, n), 0.4, 0.95),
            rng.uniform(0.5, 0.9, n),
        ),
        0.6 * cat_amp,
    )

    u = rng.random(n)
    trend = np.where(
        u < 0.08,
        -rng.uniform(0.4, 0.9, n),  # being phased out
        np.where(u < 0.13, rng.uniform(0.3, 0.6, n), rng.normal(0, 0.1, n)),
    )

    cost_median = np.array([c.cost_median for c in cats])[category]
    class_cost = np.array([0.7, 1.5, 2.5, 1.2])[cls]
    unit_cost = np.round(np.maximum(0.15, cost_median * class_cost * rng.lognormal(0, 0.5, n)), 2)
    lo = np.array([c.markup_lo for c in cats])[category]
    hi = np.array([c.markup_hi for c in cats])[category]
    unit_price = _psych_price(unit_cost * rng.uniform(lo, hi), unit_cost)

    packs = {
        _FAST: ([6, 12, 24], [0.3, 0.4, 0.3]),
        _SLOW: ([1, 4, 6, 12], [0.35, 0.3, 0.25, 0.1]),
        _INTERMITTENT: ([1, 4], [0.6, 0.4]),
        _SEASONAL: ([4, 6, 12], [0.3, 0.4, 0.3]),
    }
    case_pack = np.ones(n, np.int32)
    for c, (vals, p) in packs.items():
        ix = np.flatnonzero(cls == c)
        case_pack[ix] = rng.choice(vals, ix.size, p=p)
    # supplier minimum order: 1-10 cases and at least 12 units, always whole cases
    moq_cases = rng.choice([1, 2, 5, 10], n, p=[0.45, 0.3, 0.15, 0.1])
    moq_cases = np.maximum(moq_cases, -(-12 // case_pack))
    moq = (case_pack * moq_cases).astype(np.int32)
    # SUP01 (the reference bimodal supplier) supplies 20% of the SKUs, so that even a small
    # network has enough PO lines to see its two lead-time modes; the rest is spread evenly.
    if cfg.n_suppliers == 1:
        supplier = np.zeros(n, np.int32)
    else:
        n_first = max(1, round(0.2 * n))
        rest = np.arange(n - n_first) % (cfg.n_suppliers - 1) + 1
        supplier = rng.permutation(np.concatenate([np.zeros(n_first, np.int64), rest]))
        supplier = supplier.astype(np.int32)

    new = rng.random(n) < cfg.new_launch_share
    launch_day = np.where(
        new, rng.integers(14, max(15, int(0.8 * cfg.days)), n), -rng.integers(90, 8 * 365, n)
    ).astype(np.int32)
    # launches in the last weeks of history: too little history to fit, so the forecast must
    # come from analogues (cold start). Own stream, so the other draws do not move.
    n_recent = round(cfg.recent_launch_share * n)
    if cfg.recent_launch_share > 0 and n >= 20 and cfg.days >= 120:
        n_recent = max(n_recent, 1)
    if n_recent:
        rr = np.random.default_rng([cfg.seed, 1729])
        recent = rr.choice(n, size=min(n_recent, n), replace=False)
        launch_day[recent] = rr.integers(cfg.days - 49, cfg.days - 13, recent.size)
    start = cal.dates[0]
    launch_date = (start + launch_day.astype("timedelta64[D]")).astype(str)

    group = np.full(n, "", dtype=object)
    gid = 0
    for c in range(len(cats)):
        members = np.flatnonzero((category == c) & (rng.random(n) < cfg.substitute_share))
        rng.shuffle(members)
        pos = 0
        while members.size - pos >= 2:
            size = int(min(rng.integers(2, 5), members.size - pos))
            gid += 1
            group[members[pos : pos + size]] = f"SG{gid:04d}"
            pos += size

    ids = [f"SKU{i + 1:06d}" for i in range(n)]
    adjectives = (
        "Classic",
        "Premium",
        "Value",
        "Organic",
        "Family",
        "Mini",
        "Max",
        "Eco",
        "Fresh",
        "Pro",
    )
    frame = pd.DataFrame(
        {
            "sku": ids,
            "description": [
                f"{adjectives[i % len(adjectives)]} {cats[c].name.replace('_', ' ').title()} item {i + 1}"
                for i, c in enumerate(category)
            ],
            "category": [cats[c].name for c in category],
            "unit_cost": unit_cost,
            "unit_price": unit_price,
            "case_pack": case_pack,
            "moq": moq,
            "supplier_id": [sup.ids[s] for s in supplier],
            "launch_date": launch_date,
            "substitute_group": group,
            "default_lead_time_days": sup.quoted[supplier],
        }
    )
    return _Items(
        ids=ids,
        category=category,
        cls=cls,
        base=base,
        burst=burst,
        nb_k=nb_k,
        amp=amp,
        peak=peak,
        trend=trend,
        unit_cost=unit_cost,
        unit_price=unit_price,
        case_pack=case_pack,
        moq=moq,
        supplier=supplier,
        launch_day=launch_day,
        frame=frame,
    )


@dataclass
class _SkuLocations:
    sku: np.ndarray  # int32 item index; rows sorted by (store, sku)
    store: np.ndarray  # int32 store index (location index = n_dcs + store)
    dcsku: np.ndarray  # int32 index of the (DC, sku) pair that supplies the row
    base: np.ndarray  # float32 demand level (occurrence prob. for intermittent)
    burst: np.ndarray  # float32
    trend: np.ndarray  # float32 log slope per year
    understock: np.ndarray  # float32 multiplier (< 1) on the order-up-to level
    twice_weekly: np.ndarray  # bool: reviewed twice a week
    review_period: np.ndarray  # float32 days
    lead: np.ndarray  # int32 transfer lead time, days
    launch_day: np.ndarray  # int32
    planned: np.ndarray  # float32 planners' initial demand rate, units/day
    by_sku_order: np.ndarray  # SKU-location rows ordered by sku
    by_sku_offsets: np.ndarray  # CSR offsets into by_sku_order

    def of_sku(self, j: int) -> np.ndarray:
        return self.by_sku_order[self.by_sku_offsets[j] : self.by_sku_offsets[j + 1]]


def _make_sku_locations(
    cfg: DemoConfig, rng: np.random.Generator, items: _Items, loc: _Locations
) -> _SkuLocations:
    n_skus = cfg.n_skus
    k = max(1, round(cfg.assortment_share * n_skus))
    skus, stores = [], []
    for s in range(cfg.n_stores):  # loop over stores (not SKU-locations)
        carried = (
            np.arange(n_skus) if k >= n_skus else np.sort(rng.choice(n_skus, k, replace=False))
        )
        skus.append(carried.astype(np.int32))
        stores.append(np.full(carried.size, s, np.int32))
    sku = np.concatenate(skus)
    store = np.concatenate(stores)
    n = sku.size
    dcsku = (loc.store_dc[store] * n_skus + sku).astype(np.int32)
    cls = items.cls[sku]
    noise = rng.lognormal(0.0, 0.25, n)
    scale = loc.store_factor[store] * noise
    base = np.where(
        cls == _INTERMITTENT, np.clip(items.base[sku] * scale, 0.005, 0.6), items.base[sku] * scale
    )
    trend = items.trend[sku] + rng.normal(0, 0.05, n)
    understock = np.where(rng.random(n) < cfg.understock_share, rng.uniform(0.55, 0.8, n), 1.0)
    twice = (cls == _FAST) | (base > 8.0)
    review_period = np.where(twice, _STORE_REVIEW_DAYS / 2, _STORE_REVIEW_DAYS)
    expected = np.where(cls == _INTERMITTENT, base * (1.0 + items.burst[sku]), base)
    planned = expected * rng.lognormal(0.0, 0.2, n)
    order = np.argsort(sku, kind="stable").astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(sku, minlength=n_skus))]).astype(np.int64)
    return _SkuLocations(
        sku=sku,
        store=store,
        dcsku=dcsku,
        base=base.astype(np.float32),
        burst=items.burst[sku].astype(np.float32),
        trend=trend.astype(np.float32),
        understock=understock.astype(np.float32),
        twice_weekly=twice,
        review_period=review_period.astype(np.float32),
        lead=loc.store_lead[store],
        launch_day=items.launch_day[sku],
        planned=planned.astype(np.float32),
        by_sku_order=order,
        by_sku_offsets=offsets,
    )


@dataclass
class _Promotions:
    start: np.ndarray  # day
    end: np.ndarray  # day, inclusive
    uplift: np.ndarray  # demand multiplier while active
    discount: np.ndarray  # percent (0 for DISPLAY)
    rows: list[np.ndarray]  # SKU-location rows affected
    frame: pd.DataFrame  # the promotions extract
    truth: pd.DataFrame


def _make_promotions(
    cfg: DemoConfig,
    rng: np.random.Generator,
    items: _Items,
    sl: _SkuLocations,
    loc: _Locations,
    cal: _Calendar,
) -> _Promotions:
    D = cfg.days
    promo_items = np.flatnonzero(rng.random(cfg.n_skus) < cfg.promo_item_share)
    recs: list[tuple[Any, ...]] = []
    rows: list[np.ndarray] = []
    mondays = np.flatnonzero(cal.dow == 0)
    for j in promo_items:
        sls = sl.of_sku(int(j))
        if sls.size == 0:
            continue
        n_pr = 1 + rng.poisson(1.2 * D / 365)
        starts = np.sort(rng.choice(mondays, min(n_pr, mondays.size), replace=False))
        last_end = -10_000
        for s0 in starts:
            s0 = int(max(s0, items.launch_day[j] + 28))
            kind = rng.choice(["TPR", "BOGO", "DISPLAY"], p=[0.6, 0.15, 0.25])
            dur = int(rng.choice([7, 14])) if kind == "TPR" else (7 if kind == "BOGO" else 14)
            e0 = s0 + dur - 1
            if s0 - last_end < 28 or e0 > D - 1:
                continue
            last_end = e0
            if kind == "TPR":
                disc = float(rng.choice([10, 15, 20, 25, 30, 40]))
                uplift = float(np.clip(1 + disc / 100 * rng.uniform(2.5, 4.5), 1.3, 3.0))
            elif kind == "BOGO":
                disc, uplift = 50.0, float(rng.uniform(2.2, 3.0))
            else:
                disc, uplift = 0.0, float(rng.uniform(1.3, 1.6))
            single = rng.random() < 0.2
            target = np.array([rng.choice(sls)], np.int32) if single else sls
            loc_id = loc.ids[cfg.n_dcs + int(sl.store[target[0]])] if single else ""
            rows.append(target)
            recs.append(
                (f"PR{len(recs) + 1:05d}", items.ids[j], loc_id, s0, e0, disc, kind, uplift)
            )
    cols = [
        "promo_id",
        "sku",
        "location_id",
        "start",
        "end",
        "discount_pct",
        "promo_type",
        "uplift",
    ]
    df = pd.DataFrame(recs, columns=cols)
    start_d = cal.dates[0]
    df["start_date"] = (start_d + df["start"].to_numpy().astype("timedelta64[D]")).astype(str)
    df["end_date"] = (start_d + df["end"].to_numpy().astype("timedelta64[D]")).astype(str)
    frame = df[
        ["promo_id", "sku", "location_id", "start_date", "end_date", "discount_pct", "promo_type"]
    ].copy()
    frame["discount_pct"] = frame["discount_pct"].where(frame["promo_type"] != "DISPLAY", None)
    truth = df[
        [
            "promo_id",
            "sku",
            "location_id",
            "start_date",
            "end_date",
            "discount_pct",
            "promo_type",
            "uplift",
        ]
    ]
    return _Promotions(
        start=df["start"].to_numpy(np.int32),
        end=df["end"].to_numpy(np.int32),
        uplift=df["uplift"].to_numpy(np.float32),
        discount=df["discount_pct"].to_numpy(np.float64),
        rows=rows,
        frame=frame,
        truth=truth,
    )


@dataclass
class _PriceChanges:
    by_day: dict[
        int, list[tuple[np.ndarray, float, float]]
    ]  # day -> (rows, new price, demand mult)
    frame: pd.DataFrame


def _make_price_changes(
    cfg: DemoConfig,
    rng: np.random.Generator,
    items: _Items,
    sl: _SkuLocations,
    loc: _Locations,
    cal: _Calendar,
) -> _PriceChanges:
    by_day: dict[int, list[tuple[np.ndarray, float, float]]] = {}
    recs = []
    for j in np.flatnonzero(rng.random(cfg.n_skus) < cfg.price_change_share):
        sls = sl.of_sku(int(j))
        if sls.size == 0:
            continue
        lo = min(30, cfg.days // 4)
        day = int(rng.integers(lo, max(lo + 1, cfg.days - 14)))
        factor = rng.uniform(1.03, 1.12) if rng.random() < 0.8 else rng.uniform(0.85, 0.95)
        old = float(items.unit_price[j])
        new = float(_psych_price(np.array([old * factor]), np.array([items.unit_cost[j]]))[0])
        if new == old:
            continue
        single = rng.random() < 0.15
        target = np.array([rng.choice(sls)], np.int32) if single else sls
        loc_id = loc.ids[cfg.n_dcs + int(sl.store[target[0]])] if single else ""
        by_day.setdefault(day, []).append((target, new, (new / old) ** _ELASTICITY))
        recs.append((items.ids[j], loc_id, cal.iso(day), new))
    frame = pd.DataFrame(recs, columns=["sku", "location_id", "effective_date", "unit_price"])
    return _PriceChanges(by_day, frame.sort_values(["effective_date", "sku"], kind="stable"))


# --------------------------------------------------------------------------------------------
# output


class _Output:
    """Writes extract files and keeps row/file counts for the summary."""

    def __init__(self, cfg: DemoConfig, landing: Path, truth: Path | None) -> None:
        self.cfg = cfg
        self.landing = landing
        self.truth = truth
        self.rows: dict[str, int] = dict.fromkeys(_EXTRACTS, 0)
        self.files: dict[str, list[str]] = {e: [] for e in _EXTRACTS}
        for e in _EXTRACTS:
            folder = landing / e
            folder.mkdir(parents=True, exist_ok=True)
            # Remove files of an earlier drop of this generator (exactly its own names:
            # <extract>.csv, <extract>_YYYY-MM.parquet) so that a run with a shorter period
            # leaves no stale months behind. Any other file in the folder is kept.
            own = re.compile(rf"{e}(\.csv|_\d{{4}}-\d{{2}}\.parquet)")
            for old in folder.iterdir():
                if own.fullmatch(old.name) and old.is_file():
                    old.unlink()
        if truth is not None:
            truth.mkdir(parents=True, exist_ok=True)
            (truth / "true_demand").mkdir(exist_ok=True)
            for old in (truth / "true_demand").glob("true_demand_*.parquet"):
                old.unlink()

    def csv(self, extract: str, name: str, frame: pd.DataFrame) -> None:
        path = self.landing / extract / name
        frame.to_csv(path, index=False)
        self._done(extract, path, len(frame))

    def parquet(self, extract: str, name: str, table: pa.Table) -> None:
        path = self.landing / extract / name
        _write_parquet(table, path)
        self._done(extract, path, table.num_rows)

    def _done(self, extract: str, path: Path, n: int) -> None:
        self.rows[extract] += n
        self.files[extract].append(str(path.relative_to(self.landing)))


# --------------------------------------------------------------------------------------------
# sales rows and their dirt

_ROW_KEYS = (
    "date",
    "day",
    "sku",
    "loc",
    "qty",
    "qty_null",
    "uom",
    "price",
    "promo",
    "units",
    "sl",
    "plain",
)


def _rows_take(rows: dict[str, np.ndarray], ix: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[ix] for k, v in rows.items()}


def _rows_concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in _ROW_KEYS}


class _SalesDirt:
    """Applies the configured dirty-data kinds to one month of sales rows and counts them.

    Invalid rows (duplicates, missing quantity/sku, unknown sku, unparseable date) are *added*
    as defective copies of real rows, placed right after their source row; the real rows stay.
    So the rows staging accepts are exactly the simulated sales (plus returns), and the rows it
    quarantines are exactly the ones counted here. Valid variations (alternative date formats,
    CS units, missing net_price, late-arriving rows) are applied in place to disjoint rows.
    """

    def __init__(
        self,
        cfg: DemoConfig,
        rng: np.random.Generator,
        case_pack_sl: np.ndarray,
        n_days: int,
        n_skus: int,
    ) -> None:
        self.cfg = cfg
        self.n_skus_known = n_skus
        self.rng = rng
        self.case_pack_sl = case_pack_sl
        self.n_days = n_days
        self.counts: dict[str, int] = dict.fromkeys(DIRTY_KINDS, 0)
        self.carry: dict[str, np.ndarray] | None = None  # late rows for the next month's file
        self._seen_invalid: set[tuple[Any, ...]] = set()

    def _k(self, rate: float, n: int) -> int:
        return min(n, _stoch_round(self.rng, rate * n)) if rate > 0 and n > 0 else 0

    def apply(self, rows: dict[str, np.ndarray], is_last_month: bool) -> dict[str, np.ndarray]:
        cfg, rng = self.cfg, self.rng
        carry_in = self.carry
        self.carry = None
        n = rows["day"].size
        if not cfg.dirty or n == 0:
            return rows if carry_in is None else _rows_concat([rows, carry_in])

        # in-place valid variations on disjoint rows
        k_alt = self._k(cfg.alt_date_format_rate, n)
        k_late = 0 if is_last_month else self._k(cfg.late_arrival_rate, n)
        plain_ix = np.flatnonzero(rows["plain"])
        k_np = self._k(cfg.missing_net_price_rate, n)
        picked = rng.choice(n, size=min(n, k_alt + k_late), replace=False)
        alt, late = picked[:k_alt], picked[k_alt:]
        taken = np.zeros(n, bool)
        taken[picked] = True
        free_plain = plain_ix[~taken[plain_ix]]
        np_ix = rng.choice(free_plain, size=min(k_np, free_plain.size), replace=False)
        taken[np_ix] = True
        cp = self.case_pack_sl[rows["sl"]]
        eligible = np.flatnonzero(~taken & (cp > 1) & (rows["units"] % cp == 0))
        cs_ix = rng.choice(
            eligible, size=min(self._k(cfg.case_uom_rate, n), eligible.size), replace=False
        )
        taken[cs_ix] = True

        rows["date"][alt] = _date_index(rows["day"][alt], rng.integers(1, 4, alt.size), self.n_days)
        rows["price"][np_ix] = np.nan
        rows["qty"][cs_ix] = rows["units"][cs_ix] // cp[cs_ix]
        rows["uom"][cs_ix] = 1
        self.counts["alt_date_format"] += int(alt.size)
        self.counts["missing_net_price"] += int(np_ix.size)
        self.counts["uom_cs"] += int(cs_ix.size)
        self.counts["late_arriving"] += int(late.size)

        # extra rows: copies of untouched rows, each source used once
        sizes = {
            "duplicate_row": self._k(cfg.duplicate_rate, n),
            "return_row": self._k(cfg.return_rate, n),
            "missing_quantity": self._k(cfg.missing_quantity_rate, n),
            "missing_sku": self._k(cfg.missing_sku_rate, n),
            "unknown_sku": self._k(cfg.unknown_sku_rate, n),
            "unparseable_date": self._k(cfg.unparseable_date_rate, n),
        }
        free = np.flatnonzero(~taken)
        src_all = rng.choice(free, size=min(free.size, sum(sizes.values())), replace=False)
        extras: list[dict[str, np.ndarray]] = []
        sources: list[np.ndarray] = []
        pos = 0
        for kind, k in sizes.items():
            src = src_all[pos : pos + k]
            pos += src.size
            e = _rows_take(rows, src)
            if kind == "return_row":
                e["qty"] = -np.minimum(e["units"], rng.integers(1, 3, src.size)).astype(np.int32)
                e["units"] = e["qty"].copy()
                e["uom"][:] = 0
            elif kind == "missing_quantity":
                e["qty_null"][:] = True
            elif kind == "missing_sku":
                e["sku"][:] = -1
            elif kind == "unknown_sku":
                e["sku"][:] = self._unknown_sku_index(rng.integers(0, 12, src.size))
            elif kind == "unparseable_date":
                fmt = np.where(rng.random(src.size) < 0.5, 4, 5)
                e["date"] = _date_index(e["day"], fmt, self.n_days)
            if kind not in ("duplicate_row", "return_row"):
                keep = self._first_seen(e)
                e, src = _rows_take(e, keep), src[keep]
            self.counts[kind] += int(src.size)
            extras.append(e)
            sources.append(src)

        # assemble: drop late rows, insert extras after their sources, append last month's late rows
        keep_mask = np.ones(n, bool)
        keep_mask[late] = False
        new_pos = np.cumsum(keep_mask) - 1  # position of each kept row after removing late rows
        src_cat = np.concatenate(sources) if sources else np.zeros(0, np.int64)
        ext = _rows_concat(extras) if extras else _rows_take(rows, np.zeros(0, np.int64))
        self.carry = _rows_take(rows, np.sort(late)) if late.size else None
        kept = _rows_take(rows, np.flatnonzero(keep_mask))
        at = new_pos[src_cat] + 1
        order = np.argsort(at, kind="stable")
        out = {k: np.insert(kept[k], at[order], ext[k][order]) for k in _ROW_KEYS}
        return out if carry_in is None else _rows_concat([out, carry_in])

    def _unknown_sku_index(self, j: np.ndarray) -> np.ndarray:
        """Dictionary index of unknown SKU code j (0..11), listed after the real SKUs."""
        return (self.n_skus_known + j).astype(np.int32)

    def _first_seen(self, e: dict[str, np.ndarray]) -> np.ndarray:
        """Indices of defective rows that are not exact copies of an earlier defective row, so
        every defective row has exactly one quarantine reason."""
        keep = []
        for i in range(e["day"].size):
            key = (
                int(e["date"][i]),
                int(e["sku"][i]),
                int(e["loc"][i]),
                None if e["qty_null"][i] else int(e["qty"][i]),
                int(e["uom"][i]),
                None if np.isnan(e["price"][i]) else float(e["price"][i]),
                bool(e["promo"][i]),
            )
            if key not in self._seen_invalid:
                self._seen_invalid.add(key)
                keep.append(i)
        return np.array(keep, np.int64)


def demand_shift_skus(cfg: DemoConfig, category: np.ndarray) -> np.ndarray:
    """Which SKUs the demand shift applies to (bool per SKU); all False without a shift.

    ``round(shift_share * eligible)`` SKUs of the eligible ones (all, or ``shift_category``'s)
    are drawn from a random stream of their own, so a shifted drop has the same items, stores,
    promotions and, before the shift, the same demand as the unshifted drop of the same seed.
    """
    shifted = np.zeros(category.size, bool)
    if cfg.shift_start_day is None or cfg.shift_factor == 1.0:
        return shifted
    names = [c.name for c in _CATEGORIES]
    eligible = np.arange(category.size)
    if cfg.shift_category is not None:
        eligible = np.flatnonzero(category == names.index(cfg.shift_category))
    k = int(round(cfg.shift_share * eligible.size))
    rng = np.random.default_rng([cfg.seed, 0x5D1F7])
    shifted[rng.choice(eligible, size=k, replace=False)] = True
    return shifted


# --------------------------------------------------------------------------------------------
# simulation


class _Simulation:
    """Day-by-day simulation of demand, store and DC inventory, transfers and purchase orders."""

    def __init__(
        self,
        cfg: DemoConfig,
        cal: _Calendar,
        sup: _Suppliers,
        loc: _Locations,
        items: _Items,
        sl: _SkuLocations,
        promos: _Promotions,
        pchanges: _PriceChanges,
        out: _Output,
        rngs: dict[str, np.random.Generator],
    ) -> None:
        self.cfg, self.cal, self.sup, self.loc, self.items = cfg, cal, sup, loc, items
        self.sl, self.promos, self.pchanges, self.out = sl, promos, pchanges, out
        self.rng_demand = rngs["demand"]
        self.rng_po = rngs["po"]
        self.n = sl.sku.size
        self.n_dcsku = cfg.n_dcs * cfg.n_skus
        self.sku_dict = pa.array(
            items.ids + [f"SKU{_UNKNOWN_SKU_BASE + j}" for j in range(12)], pa.string()
        )
        self.loc_dict = pa.array(loc.ids, pa.string())
        self.case_pack_sl = items.case_pack[sl.sku]
        self.dirt = _SalesDirt(cfg, rngs["dirty"], self.case_pack_sl, cfg.days, cfg.n_skus)
        self.rng_snap = rngs["snapshots"]
        self.stockout_days = 0
        self.active_store_days = 0
        self.dc_stockout_days = 0
        self.active_dc_days = 0
        self.neg_on_hand = 0
        # planners' knowledge of demand variability: NB 1/k, and E[X^2]/E[X] of intermittent
        # burst sizes X = 1 + Poisson(b * Exp(1)) (mean 1 + b, E[X^2] = (1 + b)^2 + b + b^2)
        nbk = items.nb_k[sl.sku]
        self.inv_k = np.where(np.isfinite(nbk), 1.0 / nbk, 0.0).astype(np.float32)
        b = sl.burst.astype(np.float64)
        int_disp = ((1 + b) ** 2 + b + b**2) / (1 + b)
        is_int = items.cls[sl.sku] == _INTERMITTENT
        self.disp_const = np.where(is_int, int_disp, 1.0).astype(np.float32)
        self.po_parts: list[dict[str, np.ndarray]] = []
        self.transfer_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.shifted_sku = demand_shift_skus(cfg, items.category)

    # ---- store order-up-to level
    def _store_target(self, ix: np.ndarray, f: np.ndarray, boost: np.ndarray) -> np.ndarray:
        """Order-up-to level (units) = rate x (review + lead) + z sqrt(.) , times the
        deliberate under-stocking factor, plus one unit of presentation stock."""
        sl = self.sl
        rate = f[ix] * boost[ix]
        mu = rate * (sl.review_period[ix] + sl.lead[ix])
        # variance of demand over review + lead time: Poisson x over-dispersion of the class
        var = mu * (self.disp_const[ix] + rate * self.inv_k[ix])
        return np.ceil((mu + _SERVICE_Z * np.sqrt(var)) * sl.understock[ix]).astype(np.int32) + 1

    def run(self) -> None:
        """Simulate every day in order; the day is the unit of work, SKU-locations are vectors."""
        cfg, cal, sl, items, sup, loc = self.cfg, self.cal, self.sl, self.items, self.sup, self.loc
        rng = self.rng_demand
        N, D, n_skus = self.n, cfg.days, cfg.n_skus
        cp_sl = self.case_pack_sl
        cls_sl = items.cls[sl.sku]
        nb_ix = np.flatnonzero(np.isfinite(items.nb_k[sl.sku]))
        nb_k = items.nb_k[sl.sku][nb_ix]
        pois_ix = np.flatnonzero(cls_sl != _INTERMITTENT)
        int_ix = np.flatnonzero(cls_sl == _INTERMITTENT)
        int_burst = sl.burst[int_ix].astype(np.float64)
        master_price_sl = items.unit_price[sl.sku]
        price = master_price_sl.astype(np.float64).copy()
        elast = np.ones(N, np.float32)
        week = np.array([[1 + c.weekend * (w - 1) for w in _WEEK_SHAPE] for c in _CATEGORIES])
        week_item = week[items.category].astype(np.float32)  # (n_skus, 7)
        two_pi = 2 * np.pi / 365.25
        stock_start = sl.launch_day - 10

        # review calendars: store s reviews on review_dow and, if twice weekly, review_dow + 3
        d1 = loc.store_review_dow[sl.store]
        rev_by_dow = [
            np.flatnonzero((d1 == d) | (sl.twice_weekly & ((d1 + 3) % 7 == d))) for d in range(7)
        ]

        # state
        on_hand = np.zeros(N, np.int32)
        in_transit = np.zeros(N, np.int32)
        st_ring = np.zeros((4, N), np.int32)
        f = sl.planned.copy()
        boost = np.ones(N, np.float32)
        init = np.flatnonzero(sl.launch_day <= 0)
        on_hand[init] = self._store_target(init, f, boost)

        dc_sup = items.supplier[np.arange(self.n_dcsku) % n_skus]
        dc_cp = items.case_pack[np.arange(self.n_dcsku) % n_skus]
        dc_moq = items.moq[np.arange(self.n_dcsku) % n_skus]
        dc_active = np.bincount(sl.dcsku, minlength=self.n_dcsku) > 0
        dc_cover = (
            _DC_REVIEW_DAYS + sup.quoted[dc_sup] + np.ceil(0.4 * sup.quoted[dc_sup]) + 2
        ).astype(np.float64)
        dc_cand_by_dow = [
            np.flatnonzero(dc_active & (sup.order_dow[dc_sup] == d)) for d in range(7)
        ]
        dc_rate0 = np.bincount(sl.dcsku, weights=f, minlength=self.n_dcsku)
        dc_on_hand = np.where(dc_active, np.ceil(dc_rate0 * dc_cover), 0).astype(np.int32)
        dc_on_order = np.zeros(self.n_dcsku, np.int32)
        dc_ring = np.zeros((_RING, self.n_dcsku), np.int32)
        rel_ring = np.zeros((_RING, self.n_dcsku), np.int32)
        dc_active_ix = np.flatnonzero(dc_active)
        self.dc_active_ix = dc_active_ix
        self.initial_store_target = on_hand.copy()
        self.initial_dc_on_hand = dc_on_hand.copy()

        # demand shift: a constant multiplier per SKU-location from shift_start_day on
        shift_from = cfg.shift_start_day if cfg.shift_factor != 1.0 else None
        shift_sl = np.where(self.shifted_sku[sl.sku], cfg.shift_factor, 1.0).astype(np.float32)

        pr = self.promos
        mult = np.ones(N, np.float32)
        disc = np.zeros(N, np.float64)
        promo = np.zeros(N, bool)

        # month buffers (days x SKU-locations)
        cap = 31
        buf_sold = np.zeros((cap, N), np.int32)
        buf_oh = np.zeros((cap, N), np.int32)
        buf_net = np.zeros((cap, N), np.float64)
        buf_promo = np.zeros((cap, N), bool)
        buf_plain = np.zeros((cap, N), bool)
        buf_dc = np.zeros((cap, self.n_dcsku), np.int32)
        truth = self.out.truth is not None
        if truth:
            buf_dem = np.zeros((cap, N), np.int32)
            buf_avail = np.zeros((cap, N), np.int32)
            buf_lam = np.zeros((cap, N), np.float32)
        m0 = 0  # first day of the current month buffer

        for t in range(D):
            k = t - m0
            dow = int(cal.dow[t])
            closed = bool(cal.closed[t])

            # ---- morning: goods arrive
            slot = t % 4
            arr = st_ring[slot]
            on_hand += arr
            in_transit -= arr
            arr[:] = 0
            rs = t % _RING
            dc_on_hand += dc_ring[rs]
            dc_on_order -= rel_ring[rs]
            dc_ring[rs] = 0
            rel_ring[rs] = 0

            # ---- prices and promotions in force today
            for rows_ix, new_price, dmult in self.pchanges.by_day.get(t, ()):
                price[rows_ix] = new_price
                elast[rows_ix] = dmult
            mult.fill(1.0)
            disc.fill(0.0)
            promo.fill(False)
            boost.fill(1.0)
            for e in np.flatnonzero((pr.start <= t) & (pr.end >= t)):
                ix = pr.rows[e]
                mult[ix] = pr.uplift[e]
                disc[ix] = pr.discount[e]
                promo[ix] = True
            for e in np.flatnonzero((pr.end < t) & (pr.end + 7 >= t)):
                mult[pr.rows[e]] *= _PROMO_DIP
            for e in np.flatnonzero((pr.start - 7 <= t) & (pr.end - 3 >= t)):
                boost[pr.rows[e]] = 1 + 0.8 * (pr.uplift[e] - 1)  # planners pre-build for promos

            # ---- demand (uncensored) and censored sales
            season = 1 + items.amp * np.cos(two_pi * (cal.doy[t] - items.peak))
            # planners scale their rate by last year's seasonal profile one week ahead
            ahead = 1 + items.amp * np.cos(two_pi * (cal.doy[t] + 7 - items.peak))
            boost *= np.clip(ahead / season, 0.5, 2.5).astype(np.float32)[sl.sku]
            ramp = np.clip((t - items.launch_day + 1) / 28.0, 0.0, 1.0)
            item_mult = (season * week_item[:, dow] * ramp * cal.holiday_mult[t]).astype(np.float32)
            lam = (
                sl.base
                * item_mult[sl.sku]
                * np.exp(sl.trend * np.float32(t / 365.0))
                * mult
                * elast
            )
            if shift_from is not None and t >= shift_from:
                lam = lam * shift_sl
            demand = np.zeros(N, np.int32)
            expected = lam.copy()
            if not closed:
                # negative binomial = Poisson with a gamma-distributed rate (mean 1, shape k)
                rate = lam.astype(np.float64)
                rate[nb_ix] *= rng.gamma(nb_k, 1.0 / nb_k)
                demand[pois_ix] = rng.poisson(rate[pois_ix])
                p_occ = np.minimum(lam[int_ix], 0.95)
                occ = rng.random(int_ix.size) < p_occ
                size = 1 + rng.poisson(int_burst * rng.standard_exponential(int_ix.size))
                demand[int_ix] = occ * size
                expected[int_ix] = p_occ * (1 + int_burst)
            live = t >= sl.launch_day
            avail = on_hand.copy() if truth else on_hand
            sold = np.minimum(demand, on_hand)
            on_hand -= sold

            # ---- store reviews: order up to target from the DC, allocate scarce DC stock
            if not closed:
                ix = rev_by_dow[dow]
                ix = ix[t >= stock_start[ix]]
                need = self._store_target(ix, f, boost) - on_hand[ix] - in_transit[ix]
                pos = need > 0
                ix, need = ix[pos], need[pos]
                cp = cp_sl[ix]
                req = ((need + cp - 1) // cp) * cp
                dcs = sl.dcsku[ix]
                total = np.bincount(dcs, weights=req, minlength=self.n_dcsku)
                ratio = np.ones(self.n_dcsku)
                short = total > dc_on_hand
                ratio[short] = dc_on_hand[short] / total[short]
                # pro-rata allocation in whole cases; the epsilon keeps the total <= DC on hand
                alloc = np.floor(req * ratio[dcs] / cp - 1e-9) * cp
                ship = np.where(ratio[dcs] < 1, alloc, req).astype(np.int32)
                ok = ship > 0
                ix, ship, dcs = ix[ok], ship[ok], dcs[ok]
                dc_on_hand -= np.bincount(dcs, weights=ship, minlength=self.n_dcsku).astype(
                    np.int32
                )
                st_ring[(t + sl.lead[ix]) % 4, ix] += ship
                in_transit[ix] += ship
                self.transfer_parts.append(
                    (np.full(ix.size, t, np.int32), ix.astype(np.int32), ship)
                )

                # planners' sales-rate estimate (exponentially weighted, from censored sales)
                # a stock-out day only ever raises the estimate (censored sales understate demand)
                obs = np.where(on_hand == 0, np.maximum(sold, f), sold)
                f += np.float32(_EWMA_ALPHA) * (obs - f) * live

            # ---- DC purchase orders to the suppliers ordering today (offices closed on holidays)
            cand = dc_cand_by_dow[dow]
            if cand.size and not closed:
                rate = np.bincount(sl.dcsku, weights=f * boost, minlength=self.n_dcsku)[cand]
                target = np.ceil(rate * dc_cover[cand] * 1.05)
                need = target - dc_on_hand[cand] - dc_on_order[cand]
                pos = need > 0
                if pos.any():
                    self._order(
                        t,
                        cand[pos],
                        need[pos],
                        dc_sup,
                        dc_cp,
                        dc_moq,
                        dc_on_order,
                        dc_ring,
                        rel_ring,
                    )

            # ---- end of day: bookkeeping
            self.active_store_days += int(live.sum())
            self.stockout_days += int(np.count_nonzero((on_hand == 0) & live))
            self.active_dc_days += dc_active_ix.size
            self.dc_stockout_days += int(np.count_nonzero(dc_on_hand[dc_active_ix] == 0))
            buf_sold[k] = sold
            buf_oh[k] = on_hand
            buf_net[k] = np.round(price * (1 - disc / 100.0), 2)
            buf_promo[k] = promo
            buf_plain[k] = ~promo & (price == master_price_sl)
            buf_dc[k] = dc_on_hand
            if truth:
                buf_dem[k] = demand
                buf_avail[k] = avail
                buf_lam[k] = expected

            if cal.is_flush_day[t]:
                nd = k + 1
                label = cal.month_label[t]
                n_sales = self._flush_sales(
                    m0, nd, buf_sold, buf_net, buf_promo, buf_plain, label, t == D - 1
                )
                n_snap = self._flush_snapshots(m0, nd, buf_oh, buf_dc, label)
                n_tr = self._flush_transfers(label)
                if truth:
                    self._flush_truth(m0, nd, buf_dem, buf_lam, buf_sold, buf_avail, buf_oh, label)
                _log(
                    cfg,
                    f"{label}: sales {n_sales:,} rows, inventory_snapshots {n_snap:,}, transfers {n_tr:,}",
                )
                m0 = t + 1

    # ---- purchase orders
    def _order(
        self,
        t: int,
        cand: np.ndarray,
        need: np.ndarray,
        dc_sup: np.ndarray,
        dc_cp: np.ndarray,
        dc_moq: np.ndarray,
        dc_on_order: np.ndarray,
        dc_ring: np.ndarray,
        rel_ring: np.ndarray,
    ) -> None:
        """Place PO lines for DC-SKUs ``cand`` and schedule their (partial, short, late or
        cancelled) receipts in the ring buffers."""
        cfg, rng = self.cfg, self.rng_po
        n = cand.size
        cp = dc_cp[cand]
        qty = np.maximum(np.ceil(need / cp) * cp, dc_moq[cand]).astype(np.int32)
        sup = dc_sup[cand]
        lt = _draw_lead_times(rng, self.sup, sup)
        cases = qty // cp
        short = (rng.random(n) < cfg.short_ship_share) & (cases >= 2)
        recv = np.where(
            short, np.clip(np.floor(cases * rng.uniform(0.5, 0.95, n)), 1, cases - 1), cases
        )
        u = rng.random(n)
        n_parts = (
            1
            + (u < cfg.partial_receipt_share).astype(np.int32)
            + (u < 0.3 * cfg.partial_receipt_share)
        )
        n_parts = np.minimum(n_parts, recv).astype(np.int32)
        u1 = np.where(n_parts == 3, rng.uniform(0.25, 0.5, n), rng.uniform(0.3, 0.7, n))
        c1 = np.where(n_parts == 1, recv, np.clip(np.rint(recv * u1), 1, recv - (n_parts - 1)))
        rem = recv - c1
        c2 = np.where(
            n_parts == 3,
            np.clip(np.rint(rem * rng.uniform(0.3, 0.7, n)), 1, rem - 1),
            np.where(n_parts == 2, rem, 0),
        )
        c3 = np.where(n_parts == 3, rem - c2, 0)
        part_qty = (np.stack([c1, c2, c3], axis=1) * cp[:, None]).astype(np.int32)
        off1 = lt
        off2 = off1 + rng.integers(2, 11, n)
        off3 = off2 + rng.integers(2, 11, n)
        part_off = np.stack([off1, off2, off3], axis=1).astype(np.int32)
        cancelled = rng.random(n) < cfg.cancel_share
        cancel_off = rng.integers(2, 11, n).astype(np.int32)
        part_qty[cancelled] = 0

        dc_on_order[cand] += qty
        for p in range(3):
            m = part_qty[:, p] > 0
            slots = (t + part_off[m, p]) % _RING
            np.add.at(dc_ring, (slots, cand[m]), part_qty[m, p])
            np.add.at(rel_ring, (slots, cand[m]), part_qty[m, p])
        last_off = part_off[np.arange(n), n_parts - 1]
        shortfall = qty - part_qty.sum(axis=1)
        rel_off = np.where(cancelled, cancel_off, last_off)
        np.add.at(rel_ring, ((t + rel_off) % _RING, cand), shortfall)
        self.po_parts.append(
            {
                "day": np.full(n, t, np.int32),
                "dcsku": cand.astype(np.int32),
                "qty": qty,
                "lt": lt,
                "n_parts": n_parts,
                "part_qty": part_qty,
                "part_off": part_off,
                "cancelled": cancelled,
                "cancel_off": cancel_off,
                "short": short,
            }
        )

    # ---- monthly writers
    def _flush_sales(
        self,
        m0: int,
        nd: int,
        sold: np.ndarray,
        net: np.ndarray,
        promo: np.ndarray,
        plain: np.ndarray,
        label: str,
        is_last: bool,
    ) -> int:
        N = self.n
        flat = sold[:nd].ravel()
        nz = np.flatnonzero(flat)
        day = (nz // N + m0).astype(np.int32)
        slx = (nz % N).astype(np.int32)
        qty = flat[nz]
        rows = {
            "date": _date_index(day, 0, self.cfg.days),
            "day": day,
            "sku": self.sl.sku[slx],
            "loc": (self.cfg.n_dcs + self.sl.store[slx]).astype(np.int32),
            "qty": qty.copy(),
            "qty_null": np.zeros(nz.size, bool),
            "uom": np.zeros(nz.size, np.int8),
            "price": net[:nd].ravel()[nz],
            "promo": promo[:nd].ravel()[nz],
            "units": qty,
            "sl": slx,
            "plain": plain[:nd].ravel()[nz],
        }
        rows = self.dirt.apply(rows, is_last)
        uom_dict = pa.array(["EA", "CS"], pa.string())
        table = pa.table(
            {
                "sale_date": _dict_array(rows["date"], self.cal.date_strings),
                "sku": _dict_array(rows["sku"], self.sku_dict, rows["sku"] < 0),
                "location_id": _dict_array(rows["loc"], self.loc_dict),
                "quantity": pa.array(rows["qty"], mask=rows["qty_null"]),
                "uom": _dict_array(rows["uom"], uom_dict),
                "net_price": pa.array(rows["price"], from_pandas=True),
                "promo_flag": pa.array(rows["promo"]),
            }
        )
        self.out.parquet("sales", f"sales_{label}.parquet", table)
        return table.num_rows

    def _flush_snapshots(self, m0: int, nd: int, oh: np.ndarray, dc: np.ndarray, label: str) -> int:
        cfg = self.cfg
        days = np.arange(m0, m0 + nd, dtype=np.int32)
        live = days[:, None] >= self.sl.launch_day[None, :]
        d_ix, s_ix = np.nonzero(live)
        qty = oh[:nd][d_ix, s_ix]
        n_dc = self.dc_active_ix.size
        dc_day = np.repeat(days, n_dc)
        dc_ix = np.tile(self.dc_active_ix, nd)
        # DC rows first, then store rows; each part ordered by date
        snap_day = np.concatenate([dc_day, days[d_ix]])
        sku = np.concatenate([dc_ix % cfg.n_skus, self.sl.sku[s_ix]]).astype(np.int32)
        loc = np.concatenate([dc_ix // cfg.n_skus, cfg.n_dcs + self.sl.store[s_ix]]).astype(
            np.int32
        )
        on_hand = np.concatenate([dc[:nd][:, self.dc_active_ix].ravel(), qty])
        if cfg.dirty:
            k = min(
                on_hand.size, _stoch_round(self.rng_snap, cfg.negative_on_hand_rate * on_hand.size)
            )
            if k:
                bad = self.rng_snap.choice(on_hand.size, k, replace=False)
                on_hand[bad] = -self.rng_snap.integers(1, 21, k)
                self.neg_on_hand += k
        table = pa.table(
            {
                "snapshot_date": pa.array(self.cal.dates[0] + snap_day.astype("timedelta64[D]")),
                "sku": _dict_array(sku, self.sku_dict),
                "location_id": _dict_array(loc, self.loc_dict),
                "on_hand_qty": pa.array(on_hand.astype(np.int32)),
            }
        )
        self.out.parquet("inventory_snapshots", f"inventory_snapshots_{label}.parquet", table)
        return table.num_rows

    def _flush_transfers(self, label: str) -> int:
        if not self.transfer_parts:
            return 0
        cfg, sl = self.cfg, self.sl
        day = np.concatenate([p[0] for p in self.transfer_parts])
        ix = np.concatenate([p[1] for p in self.transfer_parts])
        qty = np.concatenate([p[2] for p in self.transfer_parts])
        self.transfer_parts = []
        store = sl.store[ix]
        code = store.astype(np.int64) * cfg.days + day
        uniq, inv = np.unique(code, return_inverse=True)
        ymd = [self.cal.iso(int(c % cfg.days)).replace("-", "") for c in uniq]
        ids = pa.array(
            [
                f"TR{d}-{self.loc.ids[cfg.n_dcs + int(c // cfg.days)]}"
                for d, c in zip(ymd, uniq, strict=True)
            ],
            pa.string(),
        )
        order = np.lexsort((sl.sku[ix], inv))
        day, ix, qty, inv = day[order], ix[order], qty[order], inv[order]
        rec = day + sl.lead[ix]
        start = self.cal.dates[0]
        table = pa.table(
            {
                "transfer_id": _dict_array(inv.astype(np.int32), ids),
                "sku": _dict_array(sl.sku[ix], self.sku_dict),
                "from_location_id": _dict_array(self.loc.store_dc[sl.store[ix]], self.loc_dict),
                "to_location_id": _dict_array(
                    (cfg.n_dcs + sl.store[ix]).astype(np.int32), self.loc_dict
                ),
                "ship_date": pa.array(start + day.astype("timedelta64[D]")),
                "receipt_date": pa.array(
                    start + rec.astype("timedelta64[D]"), mask=rec > cfg.days - 1
                ),
                "quantity": pa.array(qty.astype(np.int32)),
            }
        )
        self.out.parquet("transfers", f"transfers_{label}.parquet", table)
        return table.num_rows

    def _flush_truth(
        self,
        m0: int,
        nd: int,
        dem: np.ndarray,
        lam: np.ndarray,
        sold: np.ndarray,
        avail: np.ndarray,
        oh: np.ndarray,
        label: str,
    ) -> None:
        assert self.out.truth is not None
        days = np.arange(m0, m0 + nd, dtype=np.int32)
        live = days[:, None] >= self.sl.launch_day[None, :]
        d_ix, s_ix = np.nonzero(live)
        table = pa.table(
            {
                "sku": _dict_array(self.sl.sku[s_ix], self.sku_dict),
                "location_id": _dict_array(
                    (self.cfg.n_dcs + self.sl.store[s_ix]).astype(np.int32), self.loc_dict
                ),
                "date": pa.array(self.cal.dates[0] + days[d_ix].astype("timedelta64[D]")),
                "true_demand": pa.array(dem[:nd][d_ix, s_ix]),
                "expected_demand": pa.array(lam[:nd][d_ix, s_ix]),
                "units_sold": pa.array(sold[:nd][d_ix, s_ix]),
                "available_qty": pa.array(avail[:nd][d_ix, s_ix]),
                "on_hand_qty": pa.array(oh[:nd][d_ix, s_ix]),
            }
        )
        _write_parquet(table, self.out.truth / "true_demand" / f"true_demand_{label}.parquet")

    # ---- purchase orders and receipts (written once, at the end)
    def po_frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        cfg, cal, items, sup = self.cfg, self.cal, self.items, self.sup
        D = cfg.days
        if not self.po_parts:
            empty_po = pd.DataFrame(columns=[c for c in _po_columns()])
            return empty_po, pd.DataFrame(columns=_receipt_columns()), pd.DataFrame()
        p = {k: np.concatenate([x[k] for x in self.po_parts]) for k in self.po_parts[0]}
        sku = p["dcsku"] % cfg.n_skus
        dc = p["dcsku"] // cfg.n_skus
        supx = items.supplier[sku]
        order = np.lexsort((sku, dc, supx, p["day"]))
        p = {k: v[order] for k, v in p.items()}
        sku, dc, supx = sku[order], dc[order], supx[order]
        key = (p["day"].astype(np.int64) * cfg.n_suppliers + supx) * cfg.n_dcs + dc
        new_po = np.concatenate([[True], key[1:] != key[:-1]])
        po_idx = np.cumsum(new_po) - 1
        first = np.flatnonzero(new_po)
        line = (np.arange(key.size) - first[po_idx] + 1) * 10
        po_number = np.array([f"PO{4_500_000 + i:07d}" for i in range(first.size)], dtype=object)[
            po_idx
        ]

        part_day = p["day"][:, None] + p["part_off"]
        last_day = part_day[np.arange(key.size), p["n_parts"] - 1]
        cancel_day = p["day"] + p["cancel_off"]
        status = np.where(
            p["cancelled"],
            np.where(cancel_day <= D - 1, "CANCELLED", "OPEN"),
            np.where(last_day <= D - 1, "CLOSED", "OPEN"),
        )
        start = cal.dates[0]

        def to_iso(d: np.ndarray) -> np.ndarray:
            return (start + np.asarray(d).astype("timedelta64[D]")).astype(str)

        po = pd.DataFrame(
            {
                "po_number": po_number,
                "po_line": line,
                "supplier_id": np.array(sup.ids, dtype=object)[supx],
                "sku": np.array(items.ids, dtype=object)[sku],
                "ship_to_location_id": np.array(self.loc.ids, dtype=object)[dc],
                "order_date": to_iso(p["day"]),
                "order_qty": p["qty"],
                "promised_date": to_iso(p["day"] + sup.quoted[supx]),
                "unit_cost": items.unit_cost[sku],
                "status": status,
            }
        )
        # receipts: one row per delivered part up to the end of the period
        line_ix, part = np.nonzero((p["part_qty"] > 0) & (part_day <= D - 1))
        r_day = part_day[line_ix, part]
        r_order = np.lexsort((part, line_ix, r_day))
        line_ix, part, r_day = line_ix[r_order], part[r_order], r_day[r_order]
        receipts = pd.DataFrame(
            {
                "po_number": po_number[line_ix],
                "po_line": line[line_ix],
                "receipt_date": to_iso(r_day),
                "received_qty": p["part_qty"][line_ix, part],
                "receipt_id": [f"GR{5_000_000 + i:08d}" for i in range(line_ix.size)],
            }
        )
        received = np.zeros(key.size, np.int64)
        np.add.at(received, line_ix, p["part_qty"][line_ix, part])
        truth = pd.DataFrame(
            {
                "po_number": po_number,
                "po_line": line,
                "supplier_id": po["supplier_id"],
                "sku": po["sku"],
                "ship_to_location_id": po["ship_to_location_id"],
                "order_date": po["order_date"],
                "realised_lead_time_days": p["lt"],
                "quoted_lead_time_days": sup.quoted[supx],
                "n_parts": np.where(p["cancelled"], 0, p["n_parts"]),
                "short_shipped": p["short"] & ~p["cancelled"],
                "cancelled": p["cancelled"],
                "order_qty": p["qty"],
                "received_by_end": received,
                "status": status,
            }
        )
        return po, receipts, truth


def _po_columns() -> list[str]:
    return [
        "po_number",
        "po_line",
        "supplier_id",
        "sku",
        "ship_to_location_id",
        "order_date",
        "order_qty",
        "promised_date",
        "unit_cost",
        "status",
    ]


def _receipt_columns() -> list[str]:
    return ["po_number", "po_line", "receipt_date", "received_qty", "receipt_id"]


def _supplier_truth(sup: _Suppliers, rng: np.random.Generator) -> pd.DataFrame:
    """Per-supplier lead-time distribution: parameters plus moments and quantiles of the
    realised (rounded, clipped) distribution, from 200,000 draws each."""
    recs = []
    for i, sid in enumerate(sup.ids):
        lt = _draw_lead_times(rng, sup, np.full(200_000, i, np.int32))
        recs.append(
            {
                "supplier_id": sid,
                "kind": _SUPPLIER_KINDS[int(sup.kind[i])],
                "quoted_lead_time_days": int(sup.quoted[i]),
                "normal_mean": float(sup.lt_mean[i]),
                "normal_sd": float(sup.lt_sd[i]),
                "lognormal_shift": float(sup.ln_shift[i]),
                "lognormal_mu": float(sup.ln_mu[i]),
                "lognormal_sigma": float(sup.ln_sigma[i]),
                "bimodal_mode1": float(sup.mode1[i]),
                "bimodal_mode2": float(sup.mode2[i]),
                "bimodal_p_late": float(sup.p_late[i]),
                "bimodal_jitter_sd": float(sup.jitter[i]),
                "mean_days": float(lt.mean()),
                "sd_days": float(lt.std()),
                "p50_days": float(np.quantile(lt, 0.5)),
                "p90_days": float(np.quantile(lt, 0.9)),
                "p95_days": float(np.quantile(lt, 0.95)),
                "share_later_than_quoted": float((lt > sup.quoted[i]).mean()),
            }
        )
    return pd.DataFrame(recs)


# --------------------------------------------------------------------------------------------
# public API


def generate_demo_erp(config: DemoConfig, landing_dir: Path, truth_dir: Path | None = None) -> dict:
    """Write a full ERP drop into ``landing_dir/<extract>/...`` and return a summary.

    Files: masters (items, locations, suppliers, promotions, price_changes) and purchase_orders,
    receipts as CSV; sales, inventory_snapshots and transfers as monthly Parquet files
    (``sales/sales_YYYY-MM.parquet``). Files of an earlier drop with the same names are replaced.

    ``truth_dir`` (optional) receives the ground truth: ``true_demand/true_demand_YYYY-MM.parquet``
    (sku, location_id, date, true_demand, expected_demand, units_sold, available_qty,
    on_hand_qty per SKU-location-day from launch), ``sku_locations.parquet`` (demand class and
    parameters), ``suppliers_lead_time.csv``, ``po_lines.parquet``, ``promotions.csv`` (with
    uplift), ``holidays.csv`` and ``summary.json``.

    The summary holds rows and files per extract, SKU-location count, date range, seconds taken,
    dirty-row counts by kind (``dirty``) and the quarantine they imply (``expected_quarantine``),
    and the simulated stock-out shares.
    """
    t0 = time.perf_counter()
    cfg = config
    cfg.validate()
    landing = Path(landing_dir)
    truth = Path(truth_dir) if truth_dir is not None else None
    streams = np.random.SeedSequence(cfg.seed).spawn(7)
    names = ("masters", "demand", "po", "dirty", "snapshots", "truth", "promos")
    rngs = {n: np.random.default_rng(s) for n, s in zip(names, streams, strict=True)}

    cal = _make_calendar(cfg)
    start = date.fromisoformat(cfg.start_date)
    sup = _make_suppliers(cfg, rngs["masters"])
    loc = _make_locations(cfg, rngs["masters"], start)
    items = _make_items(cfg, rngs["masters"], sup, cal)
    sl = _make_sku_locations(cfg, rngs["masters"], items, loc)
    promos = _make_promotions(cfg, rngs["promos"], items, sl, loc, cal)
    pchanges = _make_price_changes(cfg, rngs["promos"], items, sl, loc, cal)
    out = _Output(cfg, landing, truth)
    _log(
        cfg,
        f"{sl.sku.size:,} SKU-locations ({cfg.n_stores} stores x {cfg.n_skus} SKUs, {cfg.n_dcs} DCs), "
        f"{cfg.days} days from {cal.iso(0)}, dirty={cfg.dirty} -> {landing}",
    )

    sim = _Simulation(cfg, cal, sup, loc, items, sl, promos, pchanges, out, rngs)
    sim.run()

    # masters (capacity needs the simulated initial stock levels)
    store_cap = np.bincount(
        sl.store, weights=sim.initial_store_target + items.case_pack[sl.sku], minlength=cfg.n_stores
    )
    dc_cap = np.bincount(
        np.arange(sim.n_dcsku) // cfg.n_skus, weights=sim.initial_dc_on_hand, minlength=cfg.n_dcs
    )
    cap = np.concatenate([dc_cap * 1.5, store_cap * 1.3])
    loc.frame["capacity_units"] = pd.array(
        np.ceil(cap / 100.0).astype(np.int64) * 100, dtype="Int64"
    )
    out.csv("items", "items.csv", items.frame)
    out.csv("locations", "locations.csv", loc.frame)
    out.csv("suppliers", "suppliers.csv", sup.frame)
    out.csv("promotions", "promotions.csv", promos.frame)
    out.csv("price_changes", "price_changes.csv", pchanges.frame)
    po, receipts, po_truth = sim.po_frames()
    out.csv("purchase_orders", "purchase_orders.csv", po)
    out.csv("receipts", "receipts.csv", receipts)
    _log(
        cfg, f"masters written; purchase_orders {len(po):,} lines, receipts {len(receipts):,} rows"
    )

    dirty_counts = dict(sim.dirt.counts)
    dirty_counts["negative_on_hand"] = sim.neg_on_hand
    expected: dict[str, dict[str, int]] = {"sales": {}, "inventory_snapshots": {}}
    for kind, (extract, reason) in _QUARANTINE_REASON.items():
        expected[extract][reason] = expected[extract].get(reason, 0) + dirty_counts[kind]
    summary: dict[str, Any] = {
        "landing_dir": str(landing),
        "truth_dir": str(truth) if truth else None,
        "seed": cfg.seed,
        "dirty_enabled": cfg.dirty,
        "n_sku_locations": int(sl.sku.size),
        "n_items": cfg.n_skus,
        "n_stores": cfg.n_stores,
        "n_dcs": cfg.n_dcs,
        "n_suppliers": cfg.n_suppliers,
        "start_date": cal.iso(0),
        "end_date": cal.iso(cfg.days - 1),
        "days": cfg.days,
        "sku_location_days": int(sl.sku.size) * cfg.days,
        "rows": dict(out.rows),
        "rows_total": int(sum(out.rows.values())),
        "files": {k: sorted(v) for k, v in out.files.items()},
        "dirty": dirty_counts,
        "expected_quarantine": expected,
        "store_stockout_share": sim.stockout_days / max(1, sim.active_store_days),
        "dc_stockout_share": sim.dc_stockout_days / max(1, sim.active_dc_days),
        "new_launch_items": int((items.launch_day > 0).sum()),
        "po_lines_by_status": {str(k): int(v) for k, v in po["status"].value_counts().items()},
        "config": asdict(cfg),
        "demand_shift": {
            "start_date": cal.iso(cfg.shift_start_day) if sim.shifted_sku.any() else None,
            "factor": cfg.shift_factor,
            "skus": [items.ids[j] for j in np.flatnonzero(sim.shifted_sku)],
            "n_sku_locations": int(sim.shifted_sku[sl.sku].sum()),
        },
    }

    if truth is not None:
        cls_sl = items.cls[sl.sku]
        sl_truth = pa.table(
            {
                "sku": _dict_array(sl.sku, sim.sku_dict),
                "location_id": _dict_array((cfg.n_dcs + sl.store).astype(np.int32), sim.loc_dict),
                "demand_class": pa.array(np.array(_CLASSES, dtype=object)[cls_sl]),
                "category": pa.array(
                    np.array([c.name for c in _CATEGORIES], dtype=object)[items.category[sl.sku]]
                ),
                "base_level": pa.array(sl.base),
                "occurrence_prob": pa.array(
                    np.where(cls_sl == _INTERMITTENT, sl.base, np.nan), from_pandas=True
                ),
                "burst_extra_mean": pa.array(
                    np.where(cls_sl == _INTERMITTENT, sl.burst, np.nan), from_pandas=True
                ),
                "nb_shape": pa.array(
                    np.where(np.isfinite(items.nb_k[sl.sku]), items.nb_k[sl.sku], np.nan),
                    from_pandas=True,
                ),
                "season_amplitude": pa.array(items.amp[sl.sku]),
                "season_peak_doy": pa.array(items.peak[sl.sku]),
                "trend_log_per_year": pa.array(sl.trend),
                "understock_factor": pa.array(sl.understock),
                "review_period_days": pa.array(sl.review_period),
                "transfer_lead_time_days": pa.array(sl.lead),
                "launch_date": pa.array(cal.dates[0] + sl.launch_day.astype("timedelta64[D]")),
                "case_pack": pa.array(items.case_pack[sl.sku]),
                "demand_shift_factor": pa.array(
                    np.where(sim.shifted_sku[sl.sku], cfg.shift_factor, 1.0)
                ),
            }
        )
        _write_parquet(sl_truth, truth / "sku_locations.parquet")
        _supplier_truth(sup, rngs["truth"]).to_csv(truth / "suppliers_lead_time.csv", index=False)
        _write_parquet(
            pa.Table.from_pandas(po_truth, preserve_index=False), truth / "po_lines.parquet"
        )
        promos.truth.to_csv(truth / "promotions.csv", index=False)
        cal.holidays.to_csv(truth / "holidays.csv", index=False)

    summary["seconds"] = round(time.perf_counter() - t0, 3)
    if truth is not None:
        (truth / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    _log(cfg, f"done in {summary['seconds']:.1f} s: {summary['rows_total']:,} rows")
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m ml.demo_erp --out data/landing --stores 20 --skus 300 --days 730``.

    Prints the summary as JSON on stdout; progress goes to stderr.
    """
    d = DemoConfig()
    ap = argparse.ArgumentParser(prog="python -m ml.demo_erp", description="Write a demo ERP drop.")
    ap.add_argument("--out", type=Path, default=Path("data/landing"), help="landing folder")
    ap.add_argument("--truth-dir", type=Path, default=None, help="folder for the ground truth")
    ap.add_argument("--stores", type=int, default=d.n_stores, help="number of stores")
    ap.add_argument("--skus", type=int, default=d.n_skus, help="number of SKUs")
    ap.add_argument("--dcs", type=int, default=d.n_dcs, help="number of DCs")
    ap.add_argument("--suppliers", type=int, default=d.n_suppliers, help="number of suppliers")
    ap.add_argument("--days", type=int, default=d.days, help="simulated days")
    ap.add_argument("--start-date", default=d.start_date, help="first day, YYYY-MM-DD")
    ap.add_argument(
        "--assortment-share", type=float, default=d.assortment_share, help="share of SKUs per store"
    )
    ap.add_argument("--seed", type=int, default=d.seed, help="random seed")
    ap.add_argument("--clean", action="store_true", help="write no dirty rows")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = ap.parse_args(argv)
    cfg = DemoConfig(
        n_dcs=a.dcs,
        n_stores=a.stores,
        n_skus=a.skus,
        days=a.days,
        start_date=a.start_date,
        assortment_share=a.assortment_share,
        seed=a.seed,
        dirty=not a.clean,
        n_suppliers=a.suppliers,
        verbose=not a.quiet,
    )
    try:
        cfg.validate()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = generate_demo_erp(cfg, a.out, a.truth_dir)
    summary.pop("files", None)
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
