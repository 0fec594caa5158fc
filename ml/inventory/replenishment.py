"""Order recommendations: what to order, from whom, for where, when and why.

One vectorised pass over a frame with one row per SKU-location: inventory position, the policy
levels (from :func:`ml.inventory.safety_stock.policy_levels`), order constraints and lead
times in, one recommendation row out, with a readable ``reason`` and the numbers behind it.

Inventory position (units) = on hand + on order + in transit - backorders - allocated. Orders
are placed against the inventory position, not the stock on hand, so stock already on its way
is not ordered twice and stock promised to customers is not counted as available.

Policies (column ``policy``, default ``RS``):

* ``RS`` periodic review, order-up-to: at a review, order S - IP if IP < S.
* ``sS`` (s, S): order S - IP if IP <= s; when S is missing, S = s + EOQ (or s + one case).
* ``rQ`` (r, Q): order n Q, the fewest whole batches that lift IP above r, if IP <= r;
  Q = ``order_qty`` if given, else the EOQ, else one case, rounded up to whole cases.

Rounding of the raw need, in this order: nothing when the need is <= 0; up to whole case
packs; at least the MOQ (itself rounded up to cases); at most ``max_order_qty`` rounded down to
whole cases (the cap wins over the MOQ: a capacity limit cannot be exceeded, an MOQ conflict
is the buyer's to resolve with the supplier).

EOQ (units) = sqrt(2 D K / (i c)) with D annual demand (units/year), K cost per order
(currency), i holding cost rate (per year) and c unit cost (currency/unit); NaN when any is
missing or not positive.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["ORDER_COLUMNS", "inventory_position", "recommend_orders"]

#: Columns of the frame returned by :func:`recommend_orders`, in order.
ORDER_COLUMNS: tuple[str, ...] = (
    "sku",
    "location_id",
    "ship_from_type",
    "ship_from",
    "supplier_id",
    "source_location_id",
    "policy",
    "order_qty",
    "order_cases",
    "case_pack",
    "order_date",
    "expected_receipt_date",
    "reason",
    "inventory_position",
    "reorder_point",
    "order_up_to",
    "raw_need",
    "safety_stock",
    "textbook_safety_stock",
    "expected_csl",
    "target_csl",
    "textbook_csl",
    "eoq",
    "lead_time_mean_days",
    "lead_time_p95_days",
    "moq_applied",
    "capped",
)

_ALIASES = {"lt_mean_days": "lead_time_mean_days", "lt_p95_days": "lead_time_p95_days"}
_STR = np.dtypes.StringDType()


def _col(df: pd.DataFrame, name: str, default: float) -> FloatArray:
    if name not in df:
        return np.full(len(df), default)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)


def inventory_position(frame: pd.DataFrame) -> FloatArray:
    """Inventory position per row (units): on_hand + on_order + in_transit - backorders - allocated.

    Missing columns count as 0, missing values too, except ``on_hand`` which is required.
    Accepts the mart's ``*_qty`` names (``on_hand_qty``, ``on_order_qty``, ``in_transit_qty``).
    """
    df = frame.rename(
        columns={
            f"{c}_qty": c
            for c in ("on_hand", "on_order", "in_transit", "backorders", "allocated")
            if f"{c}_qty" in frame and c not in frame
        }
    )
    if "on_hand" not in df:
        raise ValueError("inventory position needs on_hand (or on_hand_qty)")
    parts = [np.nan_to_num(_col(df, c, 0.0)) for c in ("on_hand", "on_order", "in_transit")]
    minus = [np.nan_to_num(_col(df, c, 0.0)) for c in ("backorders", "allocated")]
    return parts[0] + parts[1] + parts[2] - minus[0] - minus[1]


def _eoq(
    annual_demand: FloatArray, order_cost: FloatArray, rate: FloatArray, cost: FloatArray
) -> FloatArray:
    ok = (annual_demand > 0) & (order_cost > 0) & (rate > 0) & (cost > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.sqrt(2.0 * annual_demand * order_cost / (rate * cost))
    return np.where(ok, q, np.nan)


def _round_to_packs(
    raw: FloatArray, pack: FloatArray, moq: FloatArray, max_qty: FloatArray
) -> tuple[FloatArray, NDArray[np.bool_], NDArray[np.bool_]]:
    """Rounded quantity (units), whether the MOQ raised it, whether the maximum cut it."""
    packs = np.ceil(raw / pack - 1e-9)
    q = packs * pack
    moq_r = np.ceil(moq / pack - 1e-9) * pack
    moq_applied = moq_r > q
    q = np.maximum(q, moq_r)
    cap = np.where(np.isinf(max_qty), np.inf, np.floor(max_qty / pack + 1e-9) * pack)
    capped = q > cap
    q = np.minimum(q, cap)
    pos = np.nan_to_num(raw, nan=0.0) > 0
    return np.where(pos, q, 0.0), moq_applied & pos, capped & pos


def _num(x: FloatArray, decimals: int = 0) -> NDArray[np.str_]:
    """Numbers as strings with at most one decimal ("n/a" for NaN or inf), "9.1", "21", "-3".

    Built from integer conversions (much faster than formatting floats).
    """
    if decimals not in (0, 1):
        raise ValueError("decimals must be 0 or 1")
    finite = np.isfinite(x)
    scale = 10**decimals
    v = np.round(np.where(finite, x, 0.0) * scale).astype(np.int64)
    a = np.abs(v)
    s = (a // scale).astype(_STR)
    if decimals:
        frac = a % scale
        has_frac = frac != 0
        if has_frac.any():
            s[has_frac] = _cat(s[has_frac], ".", frac[has_frac].astype(_STR))
    neg = v < 0
    if neg.any():
        s[neg] = _cat("-", s[neg])
    if not finite.all():
        s[~finite] = "n/a"
    return s


def _pct(x: FloatArray) -> NDArray[np.str_]:
    return np.strings.add(_num(100.0 * x, 1), "%")


def _cat(*parts: NDArray[np.str_] | str) -> NDArray[np.str_]:
    out = np.asarray(parts[0], dtype=_STR)
    for p in parts[1:]:
        out = np.strings.add(out, np.asarray(p, dtype=_STR))
    return out


def recommend_orders(
    sku_locations: pd.DataFrame,
    *,
    as_of: date | str,
) -> pd.DataFrame:
    """One order recommendation per SKU-location (zero-quantity rows say why nothing is ordered).

    Columns read (units unless stated; missing optional columns take the default in brackets):

    * keys: ``sku``, ``location_id``; ``supplier_id`` [NaN]; ``source_location_id`` [NaN: buys
      from the supplier; set: replenished by transfer from that location];
    * position: ``on_hand`` (required), ``on_order``, ``in_transit``, ``backorders``,
      ``allocated`` [0] (mart ``*_qty`` names accepted);
    * policy: ``policy`` ["RS"], ``order_up_to`` (S), ``reorder_point`` (s or r; for RS the
      trigger is S itself), ``order_qty`` (Q for rQ) [NaN];
    * EOQ: ``annual_demand`` (units/year), ``order_cost`` (currency/order), ``unit_cost``
      (currency/unit), ``holding_cost_rate`` (per year) [NaN: no EOQ];
    * constraints: ``case_pack`` [1], ``moq`` [0], ``max_order_qty`` [inf];
    * timing: ``lead_time_mean_days`` / ``lead_time_p95_days`` (days; ``lt_mean_days`` /
      ``lt_p95_days`` from :func:`policy_levels` accepted when the ``lead_time_*`` names are
      absent) [NaN], ``review_period_days``
      [NaN], ``next_review_date`` [due now: periodic-review rows whose next review is after
      ``as_of`` order nothing today];
    * context passed through to the output: ``safety_stock``, ``textbook_safety_stock``,
      ``expected_csl``, ``target_csl``, ``textbook_csl`` [NaN].

    Returns :data:`ORDER_COLUMNS`, row-aligned with the input: ``order_qty`` (units, whole
    cases) and ``order_cases``; ``ship_from`` (the supplier, or the source location for
    transfers) and ``ship_from_type``; ``order_date`` (``as_of``, or the next review date when
    not due) and ``expected_receipt_date`` = order date + mean lead time (rounded to days);
    ``reason``, e.g. ``"IP 37 < S 120 (R 7 d, LT 9.1 d p95 21 d, CSL 95%); order up to 120 ->
    83 -> 84 (7 cases of 12)"``; and the numbers behind it (``reorder_point`` is the trigger
    actually used: S for RS).
    """
    df = sku_locations.rename(
        columns={k: v for k, v in _ALIASES.items() if k in sku_locations and v not in sku_locations}
    )
    n = len(df)
    as_of_ts = pd.Timestamp(as_of).normalize()
    ip = inventory_position(df)
    policy = (
        df["policy"].fillna("RS").astype(str).str.strip().to_numpy()
        if "policy" in df
        else np.full(n, "RS", dtype=object)
    )
    bad = ~np.isin(policy, ["RS", "sS", "rQ"])
    if bad.any():
        raise ValueError(f"unknown policy values {sorted(set(policy[bad]))}; use RS, sS or rQ")
    is_rs, is_ss, is_rq = policy == "RS", policy == "sS", policy == "rQ"

    S = _col(df, "order_up_to", np.nan)
    s_low = _col(df, "reorder_point", np.nan)
    pack = _col(df, "case_pack", 1.0)
    pack = np.where(np.isfinite(pack) & (pack > 0), pack, 1.0)
    moq = np.nan_to_num(_col(df, "moq", 0.0), nan=0.0)
    max_qty = _col(df, "max_order_qty", np.inf)
    max_qty = np.where(np.isnan(max_qty), np.inf, max_qty)
    eoq = _eoq(
        _col(df, "annual_demand", np.nan),
        _col(df, "order_cost", np.nan),
        _col(df, "holding_cost_rate", np.nan),
        _col(df, "unit_cost", np.nan),
    )

    # trigger level and target level per policy
    trigger = np.where(is_rs, S, s_low)
    batch = _col(df, "order_qty", np.nan)
    batch = np.where(np.isnan(batch), eoq, batch)
    batch = np.where(np.isnan(batch) | (batch <= 0), pack, batch)
    batch = np.ceil(batch / pack - 1e-9) * pack
    target_ss = np.where(np.isnan(S), s_low + batch, S)
    below = np.where(is_rs, ip < trigger, ip <= trigger)
    n_batches = np.where(is_rq & below, np.floor((trigger - ip) / batch) + 1.0, 0.0)
    target_rq = np.where(below, ip + n_batches * batch, s_low + batch)
    target = np.where(is_rs, S, np.where(is_ss, target_ss, target_rq))
    has_level = np.isfinite(trigger) & np.isfinite(target)

    review = _col(df, "review_period_days", np.nan)
    if "next_review_date" in df:
        nrd = pd.to_datetime(df["next_review_date"]).dt.normalize()
        not_due = (is_rs & nrd.notna() & (nrd > as_of_ts)).to_numpy()
        order_date = nrd.where(pd.Series(not_due, index=df.index), as_of_ts)
    else:
        not_due = np.zeros(n, dtype=bool)
        order_date = pd.Series(as_of_ts, index=df.index)
    triggered = has_level & below & ~not_due
    raw = np.where(triggered, target - ip, 0.0)
    qty, moq_applied, capped = _round_to_packs(raw, pack, moq, max_qty)
    cases = np.round(qty / pack)

    lt_mean = _col(df, "lead_time_mean_days", np.nan)
    lt_p95 = _col(df, "lead_time_p95_days", np.nan)
    lt_days = pd.to_timedelta(np.round(lt_mean), unit="D")
    expected_receipt = order_date + lt_days

    target_csl = _col(df, "target_csl", np.nan)
    tb_ss = _col(df, "textbook_safety_stock", np.nan)
    tb_csl = _col(df, "textbook_csl", np.nan)
    supplier = df["supplier_id"] if "supplier_id" in df else pd.Series(np.nan, index=df.index)
    source = (
        df["source_location_id"]
        if "source_location_id" in df
        else pd.Series(np.nan, index=df.index)
    )
    is_transfer = source.notna().to_numpy()
    ship_from = np.where(
        is_transfer, source.to_numpy(dtype=object), supplier.to_numpy(dtype=object)
    )

    # ---- reason, built column-wise on the rows each wording applies to
    reason = np.full(n, "no policy level: no order", dtype=_STR)
    rows = np.flatnonzero(not_due & has_level)
    review_str = np.asarray(order_date.iloc[rows].dt.strftime("%Y-%m-%d").to_numpy(), dtype=_STR)
    reason[rows] = _cat("next review ", review_str, ": no order")
    rows = np.flatnonzero(has_level & ~not_due & ~triggered)
    rs = is_rs[rows]
    reason[rows] = _cat(
        "IP ",
        _num(ip[rows]),
        np.where(rs, " >= S ", " > ROP "),
        _num(trigger[rows]),
        ": no order",
    )
    rows = np.flatnonzero(triggered)
    rs, rq = is_rs[rows], is_rq[rows]
    rev = review[rows]
    head = _cat(
        "IP ",
        _num(ip[rows]),
        np.where(rs, " < S ", " <= ROP "),
        _num(trigger[rows]),
        " (",
        np.where(rs & np.isfinite(rev), _cat("R ", _num(rev), " d, "), ""),
        "LT ",
        _num(lt_mean[rows], 1),
        " d p95 ",
        _num(lt_p95[rows]),
        " d, CSL ",
        _pct(target_csl[rows]),
        ")",
    )
    step = np.where(
        rq,
        _cat("; order ", _num(n_batches[rows]), " x Q ", _num(batch[rows]), " -> "),
        _cat("; order up to ", _num(target[rows]), " -> "),
    )
    c = cases[rows]
    detail = _cat(
        step,
        _num(raw[rows], 1),
        " -> ",
        _num(qty[rows]),
        " (",
        _num(c),
        np.where(c == 1, " case of ", " cases of "),
        _num(pack[rows]),
        ")",
        np.where(moq_applied[rows], _cat("; MOQ ", _num(moq[rows])), ""),
        np.where(capped[rows], _cat("; capped at max ", _num(max_qty[rows])), ""),
    )
    tb_ok = np.isfinite(tb_ss[rows]) & np.isfinite(tb_csl[rows])
    textbook = np.where(
        tb_ok,
        _cat("; textbook SS ", _num(tb_ss[rows]), " would give CSL ", _pct(tb_csl[rows])),
        "",
    )
    reason[rows] = np.where(
        qty[rows] > 0,
        _cat(head, detail, textbook),
        _cat(head, "; max order qty below one case: no order"),
    )

    out = pd.DataFrame(
        {
            "sku": df["sku"].to_numpy(),
            "location_id": df["location_id"].to_numpy(),
            "ship_from_type": np.where(is_transfer, "location", "supplier"),
            "ship_from": ship_from,
            "supplier_id": supplier.to_numpy(),
            "source_location_id": source.to_numpy(),
            "policy": policy,
            "order_qty": qty,
            "order_cases": cases.astype(np.int64),
            "case_pack": pack,
            "order_date": order_date.to_numpy(),
            "expected_receipt_date": expected_receipt.to_numpy(),
            "reason": reason.astype(object),
            "inventory_position": ip,
            "reorder_point": trigger,
            "order_up_to": target,
            "raw_need": raw,
            "safety_stock": _col(df, "safety_stock", np.nan),
            "textbook_safety_stock": tb_ss,
            "expected_csl": _col(df, "expected_csl", np.nan),
            "target_csl": target_csl,
            "textbook_csl": tb_csl,
            "eoq": eoq,
            "lead_time_mean_days": lt_mean,
            "lead_time_p95_days": lt_p95,
            "moq_applied": moq_applied,
            "capped": capped,
        },
        index=sku_locations.index,
    )
    return out[list(ORDER_COLUMNS)]
