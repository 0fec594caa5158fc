"""Lead-time distributions from purchase-order history, shrunk towards their parents when thin.

Input: purchase-order lines like the mart ``marts.fct_purchase_order_lines`` (one row per PO
line). Canonical columns, see :func:`prepare_po_lines` (the mart's own names are accepted):

    po_id, line_no, supplier_id, sku, location_id (destination), order_date,
    lead_time_days              order date -> first receipt with units, days (NaN: none yet)
    qty_weighted_lead_time_days order date -> receipt, averaged over received units, days
    promised_lead_time_days     order date -> promised date, days (NaN: no promise)
    days_late                   first receipt - promised date, days (negative = early)
    is_open                     still expecting units
    fill_rate                   received / ordered, capped at 1

Which lead time protects the stock
----------------------------------
Stock is available to customers when the units arrive, not when the first pallet of a split
delivery does. A line received 30 % on day 7, 50 % on day 14 and 20 % on day 19 has a
first-receipt lead time of 7 days but only 30 % of the order is on the shelf then; the
quantity-weighted lead time (12.9 days) is the expected delay of a unit picked at random from
the order, which is what the cycle service level and fill rate of that unit depend on. Using the
first receipt would make every split supplier look faster than it is and under-protect exactly
the suppliers that split most. So the pmfs here default to ``basis="qty_weighted"``; the
first-receipt lead time is kept for supplier compliance (``days_late`` and the on-time rate are
measured on the first receipt, as in the mart). Units never received on closed lines are a
supplier fill-rate problem, reported by :func:`supplier_reliability`, not a lead time.

Fractional weighted lead times are split between the two neighbouring whole days so the pmf
keeps their mean (12.9 days -> 0.1 at day 12, 0.9 at day 13).

Open lines are censored observations: a line ordered 40 days ago and not yet received has a
lead time above 40 days. Dropping it biases the distribution towards the suppliers' good days
(the late orders are exactly the ones still open), so each level's pmf is a Kaplan-Meier
estimate over whole days with open lines censored at their age (for partly received open lines
on the weighted basis, at the lower bound ``fill_rate * weighted + (1 - fill_rate) * age``).
Beyond the last day at which a group still has lines at risk the group borrows its parent's
hazard, so a censored tail follows the parent's shape instead of piling up at day K - 1.

Levels and shrinkage
--------------------
Pmfs over whole days 0..K-1 (the last day holds "K - 1 or more") for three levels:

* ``supplier``; parent: the supplier's promised lead time (its median promise, spread by the
  pooled distribution of "actual - promised" over all suppliers), or all suppliers pooled when
  the supplier never promises. A supplier's own promise says whether it ships from across the
  street or across an ocean; the pool of all suppliers does not.
* ``supplier_sku`` (supplier x item), parent: the supplier;
* ``lane`` (supplier x destination location), parent: the supplier.

With n own lines (received) the pmf is the credibility mix
``(n * pmf_own + k * pmf_parent) / (n + k)`` (``credibility_lines`` = k, default 10): with 3 lines
a lane is 23 % its own history and 77 % its supplier's; with 90 lines it is 90 % its own.
``source`` says where a row comes from: ``history`` (own lines carry at least ``history_share``
of the weight, default 0.75, i.e. n >= 30 at k = 10), ``shrunk`` (less), ``promised`` (a supplier
without received lines: its promise spread by the pooled lateness), ``default`` (the pooled
distribution of all suppliers, or a point mass at ``default_lead_time_days`` without any history)
and ``transfer`` (point masses 0..K-1 days for SKU-locations replenished from another location).

Representation
--------------
:class:`LeadTimeModel` holds ``pmf[n_groups, K]`` and a ``groups`` frame (one row per pmf row,
with its summary statistics); :func:`attach_lead_time_groups` gives every SKU-location a row
number, so a million SKU-locations share a few thousand pmfs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = [
    "GROUP_COLUMNS",
    "LEAD_TIME_LEVELS",
    "LeadTimeModel",
    "attach_lead_time_groups",
    "empirical_lead_time_pmf",
    "lead_time_summary",
    "pmf_statistics",
    "prepare_po_lines",
    "supplier_reliability",
]

#: Levels with their own pmfs, finest first (the preference order of attachment).
LEAD_TIME_LEVELS: tuple[str, ...] = ("lane", "supplier_sku", "supplier")

_LEVEL_KEYS: dict[str, list[str]] = {
    "supplier": ["supplier_id"],
    "supplier_sku": ["supplier_id", "sku"],
    "lane": ["supplier_id", "location_id"],
}

# Mart column -> canonical column.
_MART_NAMES = {
    "po_number": "po_id",
    "po_line": "line_no",
    "ship_to_location_id": "location_id",
}

GROUP_COLUMNS: tuple[str, ...] = (
    "group_id",
    "level",
    "supplier_id",
    "sku",
    "location_id",
    "fixed_days",
    "n_lines",
    "n_censored",
    "credibility",
    "source",
    "parent_group",
    "mean_days",
    "sd_days",
    "p50_days",
    "p90_days",
    "p95_days",
    "on_time_rate",
    "promised_median_days",
)


# --------------------------------------------------------------------------------------------
# Input preparation
# --------------------------------------------------------------------------------------------


def _day_number(x: pd.Series) -> NDArray[np.int64]:
    return pd.to_datetime(x).to_numpy(dtype="datetime64[D]").astype(np.int64)


def prepare_po_lines(po_lines: pd.DataFrame, as_of: date | str | None = None) -> pd.DataFrame:
    """Canonical PO-line frame with every column the lead-time functions read, plus ``age_days``.

    Accepts the mart's names (``po_number``, ``po_line``, ``ship_to_location_id``) and derives
    missing columns: ``promised_lead_time_days`` from ``promised_date - order_date`` (days),
    ``days_late`` from ``lead_time_days - promised_lead_time_days`` (days), a missing
    ``qty_weighted_lead_time_days`` from ``lead_time_days`` and a missing ``fill_rate`` from
    whether anything was received. ``age_days`` = ``as_of - order_date`` (days), the time an
    open line has been waiting; ``as_of`` defaults to the latest order or first-receipt date in
    the data, a stand-in for the extract date.
    """
    df = po_lines.rename(columns={k: v for k, v in _MART_NAMES.items() if k in po_lines})
    missing = {"supplier_id", "sku", "location_id", "order_date", "lead_time_days"} - set(df)
    if missing:
        raise ValueError(f"PO lines lack columns {sorted(missing)}")
    out = pd.DataFrame(
        {
            "po_id": df["po_id"] if "po_id" in df else np.arange(len(df)),
            "line_no": df.get("line_no", 1),
            "supplier_id": df["supplier_id"],
            "sku": df["sku"],
            "location_id": df["location_id"],
            "order_date": pd.to_datetime(df["order_date"]),
        },
        index=df.index,
    )
    lt = pd.to_numeric(df["lead_time_days"], errors="coerce").astype(float)
    out["lead_time_days"] = lt
    if "qty_weighted_lead_time_days" in df:
        qw = pd.to_numeric(df["qty_weighted_lead_time_days"], errors="coerce").astype(float)
        out["qty_weighted_lead_time_days"] = qw.fillna(lt)
    else:
        out["qty_weighted_lead_time_days"] = lt
    order_day = _day_number(out["order_date"])
    if "promised_lead_time_days" in df:
        promised = pd.to_numeric(df["promised_lead_time_days"], errors="coerce").astype(float)
    elif "promised_date" in df:
        promised = (pd.to_datetime(df["promised_date"]) - out["order_date"]).dt.days.astype(float)
    else:
        promised = pd.Series(np.nan, index=df.index)
    out["promised_lead_time_days"] = promised
    if "days_late" in df:
        out["days_late"] = pd.to_numeric(df["days_late"], errors="coerce").astype(float)
    else:
        out["days_late"] = lt - promised
    received = lt.notna()
    if "is_open" in df:
        out["is_open"] = df["is_open"].fillna(False).astype(bool)
    else:
        out["is_open"] = ~received
    if "fill_rate" in df:
        out["fill_rate"] = pd.to_numeric(df["fill_rate"], errors="coerce").astype(float)
    else:
        out["fill_rate"] = received.astype(float)
    if as_of is None:
        last = np.nanmax(np.concatenate((order_day, order_day + lt.to_numpy()))) if len(df) else 0
        as_of_day = int(last)
    else:
        as_of_day = int(np.datetime64(pd.Timestamp(as_of).date(), "D").astype(np.int64))
    out["age_days"] = (as_of_day - order_day).astype(float)
    return out


# --------------------------------------------------------------------------------------------
# pmf helpers
# --------------------------------------------------------------------------------------------


def pmf_statistics(pmf: FloatArray) -> pd.DataFrame:
    """Mean, sd, p50, p90 and p95 (days) of each row of a lead-time pmf over days 0..K-1.

    A percentile is the smallest day d with P(L <= d) >= p (so p95 = 21 means 95 % of orders
    arrive within 21 days).
    """
    p = np.asarray(pmf, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    days = np.arange(p.shape[1], dtype=np.float64)
    mean = p @ days
    sd = np.sqrt(np.maximum(p @ days**2 - mean**2, 0.0))
    cdf = np.cumsum(p, axis=1)
    out = {"mean_days": mean, "sd_days": sd}
    for q in (50, 90, 95):
        out[f"p{q}_days"] = (cdf < q / 100 - 1e-12).sum(axis=1).astype(np.int64)
    return pd.DataFrame(out)


def _split_days(
    values: FloatArray, k: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], FloatArray]:
    """Floor day, ceiling day and the weight of the ceiling for fractional day values."""
    v = np.clip(values, 0.0, k - 1.0)
    lo = np.floor(v)
    return lo.astype(np.int64), np.minimum(lo + 1, k - 1).astype(np.int64), v - lo


def _counts(
    gid: NDArray[np.int64], values: FloatArray, n_groups: int, k: int, split: bool
) -> FloatArray:
    """[n_groups, K] counts of observations per day (fractional days split, or floored)."""
    if split:
        lo, hi, w_hi = _split_days(values, k)
        flat = np.bincount(gid * k + lo, weights=1.0 - w_hi, minlength=n_groups * k)
        flat += np.bincount(gid * k + hi, weights=w_hi, minlength=n_groups * k)
    else:
        day = np.clip(np.floor(values), 0, k - 1).astype(np.int64)
        flat = np.bincount(gid * k + day, minlength=n_groups * k).astype(np.float64)
    return flat.reshape(n_groups, k)


def _hazard(pmf: FloatArray) -> FloatArray:
    """Discrete hazard P(L = d | L >= d) of pmf rows; 1 on the last day."""
    surv_before = 1.0 - np.cumsum(pmf, axis=1) + pmf
    h = np.divide(pmf, surv_before, out=np.ones_like(pmf), where=surv_before > 1e-15)
    h[:, -1] = 1.0
    return np.clip(h, 0.0, 1.0)


def _kaplan_meier(
    events: FloatArray, censored: FloatArray, parent_hazard: FloatArray
) -> FloatArray:
    """Kaplan-Meier pmf per row; days without lines at risk take the parent's hazard.

    ``censored[g, d]``: lines known to take longer than d days (at risk on day d, then gone).
    """
    at_risk = np.cumsum((events + censored)[:, ::-1], axis=1)[:, ::-1]
    h = np.divide(events, at_risk, out=np.zeros_like(events), where=at_risk > 1e-12)
    h = np.where(at_risk > 1e-12, h, parent_hazard)
    h = np.clip(h, 0.0, 1.0)
    surv = np.cumprod(1.0 - h, axis=1)
    prev = np.concatenate((np.ones((surv.shape[0], 1)), surv[:, :-1]), axis=1)
    pmf = prev - surv
    pmf[:, -1] += surv[:, -1]
    return np.maximum(pmf, 0.0)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadTimeModel:
    """Lead-time pmfs ``pmf[n_groups, K]`` (P(L = d days), d = 0..K-1) and their ``groups``.

    ``groups`` has one row per pmf row (``group_id`` = row number) with :data:`GROUP_COLUMNS`:
    the level and key, the number of received lines (``n_lines``) and open lines used as
    censored observations (``n_censored``), the credibility weight n / (n + k), ``source``, the
    parent row, summary statistics in days and the on-time rate (first receipt by the promised
    date, among received lines with a promise). Row 0 is the pooled default, rows 1..K the
    point masses at 0..K-1 days used for transfers.
    """

    pmf: FloatArray
    groups: pd.DataFrame
    max_days: int
    credibility_lines: float
    basis: str

    @property
    def default_group(self) -> int:
        """Row of the pooled (or configured default) distribution."""
        return 0

    def fixed_group(self, days: NDArray[np.float64]) -> NDArray[np.int64]:
        """Rows of the point masses at ``days`` (rounded to whole days, clipped to 0..K-1)."""
        d = np.clip(np.round(np.asarray(days, dtype=np.float64)), 0, self.max_days - 1)
        return 1 + d.astype(np.int64)


def empirical_lead_time_pmf(
    po_lines: pd.DataFrame,
    *,
    max_days: int = 120,
    credibility_lines: float = 10.0,
    basis: str = "qty_weighted",
    as_of: date | str | None = None,
    censor_open: bool = True,
    max_open_age_days: float | None = None,
    history_share: float = 0.75,
    levels: Sequence[str] = LEAD_TIME_LEVELS,
    default_lead_time_days: int = 14,
) -> LeadTimeModel:
    """Lead-time pmfs over whole days 0..``max_days``-1 per supplier, supplier x SKU and lane.

    ``po_lines``: PO lines as described in the module docstring (mart names accepted).
    ``basis``: ``"qty_weighted"`` (default; receipt-quantity-weighted lead time, the delay of
    the average unit, see the module docstring) or ``"first_receipt"``. ``credibility_lines``:
    k in the shrinkage (n pmf_own + k pmf_parent) / (n + k). ``censor_open``: use open lines as
    censored observations (Kaplan-Meier) instead of dropping them; lines open for more than
    ``max_open_age_days`` (default ``max_days``) are treated as dead orders and dropped, so
    forgotten POs do not stretch the tail. ``history_share``: the credibility weight from
    which a row is labelled ``history`` rather than ``shrunk``. ``levels``: which of
    ``lane`` and ``supplier_sku`` to build (suppliers are always built: they are the parents).
    ``default_lead_time_days``: the point mass used when no line at all has been received.
    """
    k = int(max_days)
    if k < 2:
        raise ValueError("max_days must be at least 2")
    if basis not in ("qty_weighted", "first_receipt"):
        raise ValueError("basis must be 'qty_weighted' or 'first_receipt'")
    unknown = set(levels) - set(_LEVEL_KEYS)
    if unknown:
        raise ValueError(f"unknown levels {sorted(unknown)}; choose from {LEAD_TIME_LEVELS}")
    lines = prepare_po_lines(po_lines, as_of)
    value_col = "qty_weighted_lead_time_days" if basis == "qty_weighted" else "lead_time_days"
    value = lines[value_col].to_numpy(dtype=np.float64)
    first = lines["lead_time_days"].to_numpy(dtype=np.float64)
    is_open = lines["is_open"].to_numpy(dtype=bool)
    age = lines["age_days"].to_numpy(dtype=np.float64)
    fill = np.clip(lines["fill_rate"].fillna(0.0).to_numpy(dtype=np.float64), 0.0, 1.0)
    max_age = float(k if max_open_age_days is None else max_open_age_days)

    # Events: lines whose lead time on this basis is final.
    if basis == "qty_weighted":
        event = ~np.isnan(value) & ~is_open
        cens_value = np.where(np.isnan(value), age, fill * value + (1.0 - fill) * age)
    else:
        event = ~np.isnan(first)
        cens_value = age
    censored = is_open & ~event & (age <= max_age) & censor_open
    cens_value = np.where(censored, cens_value, 0.0)

    # Pooled root: everything, no parent to borrow from (its tail lumps at K-1).
    root_events = _counts(np.zeros(int(event.sum()), np.int64), value[event], 1, k, split=True)
    root_cens = _counts(
        np.zeros(int(censored.sum()), np.int64), cens_value[censored], 1, k, split=False
    )
    if root_events.sum() > 0:
        root_pmf = _kaplan_meier(root_events, root_cens, np.zeros((1, k)))
    else:
        root_pmf = np.zeros((1, k))
        root_pmf[0, int(np.clip(default_lead_time_days, 0, k - 1))] = 1.0

    # Lateness actual - promised, pooled over all received lines with a promise.
    promised = lines["promised_lead_time_days"].to_numpy(dtype=np.float64)
    has_late = event & ~np.isnan(promised)
    late_offsets = np.arange(-(k - 1), k)
    if has_late.any():
        late = np.clip(value[has_late] - promised[has_late], -(k - 1), k - 1) + (k - 1)
        late_pmf = _counts(np.zeros(late.size, np.int64), late, 1, 2 * k - 1, split=True)[0]
        late_pmf /= late_pmf.sum()
    else:
        late_pmf = (late_offsets == 0).astype(np.float64)

    on_time = np.where(
        np.isnan(lines["days_late"].to_numpy(dtype=np.float64)),
        np.nan,
        (lines["days_late"].to_numpy(dtype=np.float64) <= 0).astype(np.float64),
    )
    lines = lines.assign(_event=event, _cens=censored, _on_time=on_time)

    pmfs: list[FloatArray] = [root_pmf, np.eye(k)]
    frames: list[pd.DataFrame] = [
        pd.DataFrame(
            {
                "level": ["default"],
                "source": ["default"],
                "n_lines": [float(event.sum())],
                "n_censored": [float(censored.sum())],
                "parent_group": [-1],
            }
        ),
        pd.DataFrame(
            {
                "level": "fixed",
                "source": "transfer",
                "fixed_days": np.arange(k),
                "n_lines": 0.0,
                "n_censored": 0.0,
                "parent_group": -1,
            }
        ),
    ]
    offset = 1 + k

    def level_stats(keys: list[str]) -> tuple[pd.DataFrame, NDArray[np.int64]]:
        """One row per key with any received line; group number of every line (-1: none)."""
        grouped = lines.groupby(keys, sort=True, dropna=False)
        stats = grouped.agg(
            n_lines=("_event", "sum"),
            n_censored=("_cens", "sum"),
            on_time_rate=("_on_time", "mean"),
            promised_median_days=("promised_lead_time_days", "median"),
        ).reset_index()
        gid_all = grouped.ngroup().to_numpy()
        keep = stats["n_lines"].to_numpy() > 0
        remap = np.full(len(stats), -1, dtype=np.int64)
        remap[keep] = np.arange(int(keep.sum()))
        return stats[keep].reset_index(drop=True), remap[gid_all]

    def own_pmf(gid: NDArray[np.int64], n_groups: int, parent_h: FloatArray) -> FloatArray:
        ev = event & (gid >= 0)
        ce = censored & (gid >= 0)
        e = _counts(gid[ev], value[ev], n_groups, k, split=True)
        c = _counts(gid[ce], cens_value[ce], n_groups, k, split=False)
        return _kaplan_meier(e, c, parent_h)

    # Suppliers: parent = own promise spread by pooled lateness, else the pooled root.
    sup_stats, sup_gid = level_stats(_LEVEL_KEYS["supplier"])
    all_sup = (
        lines.groupby("supplier_id", sort=True)
        .agg(
            n_lines=("_event", "sum"),
            n_censored=("_cens", "sum"),
            on_time_rate=("_on_time", "mean"),
            promised_median_days=("promised_lead_time_days", "median"),
        )
        .reset_index()
    )
    prom_days = all_sup["promised_median_days"].to_numpy(dtype=np.float64)
    has_prom = ~np.isnan(prom_days)
    parent = np.repeat(root_pmf, len(all_sup), axis=0)
    if has_prom.any():
        rows = np.flatnonzero(has_prom)
        base = np.round(prom_days[has_prom]).astype(np.int64)
        prom_pmf = np.zeros((rows.size, k))
        for off, w in zip(late_offsets[late_pmf > 0], late_pmf[late_pmf > 0], strict=True):
            np.add.at(prom_pmf, (np.arange(rows.size), np.clip(base + off, 0, k - 1)), w)
        parent[rows] = prom_pmf
    all_n = all_sup["n_lines"].to_numpy(dtype=np.float64)
    sup_pos = pd.Index(all_sup["supplier_id"]).get_indexer(sup_stats["supplier_id"])
    # suppliers with history: Kaplan-Meier, parent hazard beyond their data, then credibility
    if len(sup_stats):
        own = own_pmf(sup_gid, len(sup_stats), _hazard(parent[sup_pos]))
        n_own = sup_stats["n_lines"].to_numpy(dtype=np.float64)
        wt = (n_own / (n_own + credibility_lines))[:, None]
        parent[sup_pos] = wt * own + (1.0 - wt) * parent[sup_pos]
    cred = all_n / (all_n + credibility_lines)
    source = np.where(
        all_n > 0,
        np.where(cred >= history_share, "history", "shrunk"),
        np.where(has_prom, "promised", "default"),
    )
    supplier_pmf = parent
    sup_frame = all_sup.assign(level="supplier", credibility=cred, source=source, parent_group=0)
    supplier_row = pd.Series(offset + np.arange(len(all_sup)), index=all_sup["supplier_id"])
    pmfs.append(supplier_pmf)
    frames.append(sup_frame)
    offset += len(all_sup)

    for level in ("supplier_sku", "lane"):
        if level not in levels:
            continue
        stats, gid = level_stats(_LEVEL_KEYS[level])
        if not len(stats):
            continue
        par_row = supplier_row.reindex(stats["supplier_id"]).to_numpy()
        par_pmf = supplier_pmf[par_row - (1 + k)]
        own = own_pmf(gid, len(stats), _hazard(par_pmf))
        n_own = stats["n_lines"].to_numpy(dtype=np.float64)
        wt = n_own / (n_own + credibility_lines)
        pmfs.append(wt[:, None] * own + (1.0 - wt[:, None]) * par_pmf)
        frames.append(
            stats.assign(
                level=level,
                credibility=wt,
                source=np.where(wt >= history_share, "history", "shrunk"),
                parent_group=par_row,
            )
        )
        offset += len(stats)

    pmf = np.vstack(pmfs)
    pmf /= pmf.sum(axis=1, keepdims=True)
    groups = pd.concat(frames, ignore_index=True)
    groups["group_id"] = np.arange(len(groups))
    groups = pd.concat(
        [
            groups.drop(columns=[c for c in pmf_statistics(pmf).columns if c in groups]),
            pmf_statistics(pmf),
        ],
        axis=1,
    )
    groups.loc[0, "credibility"] = 1.0
    for col in GROUP_COLUMNS:
        if col not in groups:
            groups[col] = np.nan
    groups["n_lines"] = groups["n_lines"].astype(float)
    groups["n_censored"] = groups["n_censored"].astype(float)
    groups["parent_group"] = groups["parent_group"].astype(np.int64)
    return LeadTimeModel(pmf, groups[list(GROUP_COLUMNS)], k, float(credibility_lines), basis)


def lead_time_summary(model: LeadTimeModel, level: str | None = None) -> pd.DataFrame:
    """Summary table per pmf row: level, key, mean / sd / p50 / p90 / p95 (days), on-time rate,
    n_lines, source. ``level`` filters to one level; the 120 point masses used for transfers
    are left out unless ``level="fixed"`` is asked for."""
    g = model.groups
    if level is None:
        return g[g["level"] != "fixed"].reset_index(drop=True)
    return g[g["level"] == level].reset_index(drop=True)


def supplier_reliability(
    po_lines: pd.DataFrame,
    *,
    as_of: date | str | None = None,
    late_threshold_days: float = 7.0,
    basis: str = "qty_weighted",
) -> pd.DataFrame:
    """Supplier scorecard: one row per supplier_id, for buyers and for lead-time review.

    Columns: ``n_lines`` (all lines), ``n_received`` (with a receipt), ``n_open``,
    ``n_open_overdue`` (open and older than their promised lead time), ``on_time_rate``
    (first receipt on or before the promised date, among received lines with a promise),
    ``otif_rate`` (on time and fully received, among closed lines with a promise),
    ``mean_days_late`` (first receipt - promise, days, negative = early),
    ``mean_days_late_when_late``, ``share_late_gt_<N>d`` (late by more than
    ``late_threshold_days``), ``fill_rate`` (mean received / ordered over closed lines),
    ``lead_time_mean_days``, ``lead_time_sd_days``, ``lead_time_cv`` (sd / mean),
    ``lead_time_p95_days`` (on ``basis``), ``promised_mean_days``, ``split_delivery_share``
    (lines whose weighted lead time exceeds the first receipt by more than half a day) and
    ``split_delivery_days`` (mean weighted - first receipt lead time, days): the delay that
    first-receipt lead times hide.
    """
    lines = prepare_po_lines(po_lines, as_of)
    lt = lines["qty_weighted_lead_time_days" if basis == "qty_weighted" else "lead_time_days"]
    first = lines["lead_time_days"]
    late = lines["days_late"]
    promised = lines["promised_lead_time_days"]
    received = first.notna()
    closed = ~lines["is_open"]
    with_promise = received & promised.notna()
    on_time = (late <= 0).where(late.notna())
    full = lines["fill_rate"] >= 0.999
    thr = float(late_threshold_days)
    split = (lines["qty_weighted_lead_time_days"] - first).where(received)
    frame = pd.DataFrame(
        {
            "supplier_id": lines["supplier_id"],
            "received": received.astype(float),
            "open": lines["is_open"].astype(float),
            "overdue": (lines["is_open"] & (lines["age_days"] > promised)).astype(float),
            "on_time": on_time,
            "otif": (on_time.astype(float) * full.astype(float)).where(
                closed & promised.notna() & late.notna()
            ),
            "days_late": late.where(with_promise),
            "days_late_pos": late.where(with_promise & (late > 0)),
            "late_gt": (late > thr).astype(float).where(late.notna()),
            "fill_rate": lines["fill_rate"].where(closed),
            "lt": lt.where(received & (closed | (basis == "first_receipt"))),
            "promised": promised,
            "split_share": (split > 0.5).astype(float).where(received & closed),
            "split_days": split.where(closed),
        }
    )
    g = frame.groupby("supplier_id", sort=True)
    out = pd.DataFrame(
        {
            "n_lines": g.size(),
            "n_received": g["received"].sum(),
            "n_open": g["open"].sum(),
            "n_open_overdue": g["overdue"].sum(),
            "on_time_rate": g["on_time"].mean(),
            "otif_rate": g["otif"].mean(),
            "mean_days_late": g["days_late"].mean(),
            "mean_days_late_when_late": g["days_late_pos"].mean(),
            f"share_late_gt_{thr:g}d": g["late_gt"].mean(),
            "fill_rate": g["fill_rate"].mean(),
            "lead_time_mean_days": g["lt"].mean(),
            "lead_time_sd_days": g["lt"].std(ddof=1),
            "lead_time_p95_days": g["lt"].quantile(0.95),
            "promised_mean_days": g["promised"].mean(),
            "split_delivery_share": g["split_share"].mean(),
            "split_delivery_days": g["split_days"].mean(),
        }
    )
    out.insert(
        out.columns.get_loc("lead_time_p95_days"),
        "lead_time_cv",
        out["lead_time_sd_days"] / out["lead_time_mean_days"].where(out["lead_time_mean_days"] > 0),
    )
    for c in ("n_received", "n_open", "n_open_overdue"):
        out[c] = out[c].astype(np.int64)
    return out.reset_index()


# --------------------------------------------------------------------------------------------
# Attaching pmfs to SKU-locations
# --------------------------------------------------------------------------------------------


def attach_lead_time_groups(
    sku_locations: pd.DataFrame,
    model: LeadTimeModel,
    *,
    min_lines: float = 1.0,
) -> pd.DataFrame:
    """Give every SKU-location the row of ``model.pmf`` that describes its replenishment.

    ``sku_locations`` needs ``sku``, ``location_id`` and ``supplier_id`` (the supplier it buys
    from); an optional ``transfer_lead_time_days`` (days, NaN for supplier-replenished rows)
    marks SKU-locations replenished from another location, which get the point mass at that
    transfer time (source ``transfer``). Otherwise the finest level with at least
    ``min_lines`` received lines wins: lane (supplier x location), then supplier x SKU, then
    supplier (any supplier row, including ``promised``), then the pooled default. The lane
    comes first because transport to the destination is usually the larger part of the
    variation; every row is already shrunk towards its supplier, so a thin lane does not
    override a rich supplier history by much.

    Returns a frame aligned with ``sku_locations.index``: ``lead_time_group`` (int row of
    ``model.pmf``), ``lead_time_level``, ``lead_time_source``, ``lead_time_mean_days``,
    ``lead_time_p95_days``, ``lead_time_n_lines``.
    """
    g = model.groups
    n = len(sku_locations)
    group = np.full(n, model.default_group, dtype=np.int64)
    chosen = np.zeros(n, dtype=bool)
    if "transfer_lead_time_days" in sku_locations:
        tr = pd.to_numeric(sku_locations["transfer_lead_time_days"], errors="coerce").to_numpy(
            dtype=np.float64
        )
        is_tr = ~np.isnan(tr)
        group[is_tr] = model.fixed_group(tr[is_tr])
        chosen |= is_tr
    left = sku_locations[["sku", "location_id", "supplier_id"]].reset_index(drop=True)
    for level in ("lane", "supplier_sku", "supplier"):
        rows = g[
            (g["level"] == level) & (g["n_lines"] >= min_lines if level != "supplier" else True)
        ]
        if not len(rows):
            continue
        keys = _LEVEL_KEYS[level]
        found = left.merge(rows[[*keys, "group_id"]], how="left", on=keys)["group_id"]
        hit = found.notna().to_numpy() & ~chosen
        group[hit] = found.to_numpy()[hit].astype(np.int64)
        chosen |= hit
    info = g.iloc[group]
    return pd.DataFrame(
        {
            "lead_time_group": group,
            "lead_time_level": info["level"].to_numpy(),
            "lead_time_source": info["source"].to_numpy(),
            "lead_time_mean_days": info["mean_days"].to_numpy(),
            "lead_time_p95_days": info["p95_days"].to_numpy(),
            "lead_time_n_lines": info["n_lines"].to_numpy(),
        },
        index=sku_locations.index,
    )
