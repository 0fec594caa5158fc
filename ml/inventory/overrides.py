"""Planner overrides: read and validate the planner's file, and apply each override to the plan.

Planners know things the history does not: a promotion next month, a display that needs a full
shelf, a supplier that can only ship so much. They write them in one CSV file (one override per
line, ``#`` lines are comments)::

    sku,location_id,override_type,value,valid_from,valid_to,planner,reason
    SKU000012,S003,min_stock,40,2026-11-01,2026-12-31,a.jansen,end-cap display
    SKU000012,DC01,max_order_qty,600,,2026-12-31,a.jansen,supplier allocation
    SKU000031,DC01,promo_uplift,0.5,2026-12-01,2026-12-14,b.okafor,Christmas leaflet

Override types (``value`` units in brackets):

* ``min_stock`` [units]: the SKU-location's order-up-to level is at least ``ceil(value)``.
  For a store that is the level it orders up to; for a DC it is the reorder level ``s`` of its
  (s, S) policy (``S = s`` + EOQ follows). Safety stock moves with it.
* ``max_order_qty`` [units]: an order is at most ``value``, rounded *down* to whole case packs
  (the cap wins over the MOQ). A cap below one case stops the order (quantity 0).
* ``promo_uplift`` [fraction]: the forecast of the days from ``valid_from`` to ``valid_to`` is
  multiplied by ``1 + value`` (0.3 = +30 %, -0.2 = -20 %). A forecast week that the window
  covers on ``k`` of its 7 days gets the factor ``f = 1 + value * k / 7`` (the average of the
  daily factors). The week's demand is treated as ``f`` times the forecast demand, so its mean is
  multiplied by ``f``, its variance by ``f**2`` and its level CV² is unchanged, exactly as if
  every forecast quantile were multiplied by ``f``: the uplift is itself an estimate, so the
  uncertainty grows with it. At a DC, the uplift applies to every store the DC replenishes (a
  DC's demand is its stores' demand), so the stores and the DC plan for it.

Validation never drops a row silently: every row is either in the validated set (``status``
``active``: applies to this plan; ``scheduled``: starts after the plan's horizon) or in the
rejects, with every reason that applies and the line of the file it came from. See
:func:`validate_overrides` for the rules. All functions are vectorised over rows (pandas).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "AUDIT_COLUMNS",
    "OVERRIDE_COLUMNS",
    "OVERRIDE_TYPES",
    "REJECT_COLUMNS",
    "TEMPLATE",
    "VALIDATED_COLUMNS",
    "OverridesFileError",
    "OverrideValidation",
    "apply_min_stock",
    "apply_promo_uplift",
    "audit_frame",
    "expand_to_stores",
    "order_caps",
    "read_overrides_file",
    "uplift_factors",
    "validate_overrides",
    "write_template",
]

#: Columns of the planner's file, in order.
OVERRIDE_COLUMNS: tuple[str, ...] = (
    "sku",
    "location_id",
    "override_type",
    "value",
    "valid_from",
    "valid_to",
    "planner",
    "reason",
)
OVERRIDE_TYPES: tuple[str, ...] = ("min_stock", "max_order_qty", "promo_uplift")
#: A promo uplift above this (x6 the forecast) is taken for a typo (30 for 30 %) and rejected.
MAX_PROMO_UPLIFT = 5.0

#: Columns of the validated overrides (``inventory.planner_overrides``).
VALIDATED_COLUMNS: tuple[str, ...] = (
    "override_id",
    "file_row",
    "sku",
    "location_id",
    "override_type",
    "value",
    "valid_from",
    "valid_to",
    "planner",
    "reason",
    "status",
)
#: Columns of the rejected rows (``inventory.planner_override_rejects``).
REJECT_COLUMNS: tuple[str, ...] = (
    "file_row",
    "sku",
    "location_id",
    "override_type",
    "value",
    "valid_from",
    "valid_to",
    "planner",
    "reason",
    "reject_reason",
    "raw_record",
)
#: Columns of one audit row per applied override and changed field (``inventory.override_audit``).
AUDIT_COLUMNS: tuple[str, ...] = (
    "override_id",
    "file_row",
    "sku",
    "location_id",
    "override_type",
    "value",
    "field",
    "before",
    "after",
    "changed",
    "planner",
    "reason",
    "note",
)

TEMPLATE = """\
# Planner overrides for the weekly replenishment plan. One override per line; lines starting
# with # are comments. The next run validates the file: rows it cannot use are listed with the
# reason in inventory.planner_override_rejects, nothing is dropped silently.
#
# columns
#   sku, location_id   an item and a store or DC of the plan
#   override_type      min_stock | max_order_qty | promo_uplift
#   value              min_stock: minimum order-up-to level (units)
#                      max_order_qty: the largest order (units), rounded down to whole cases;
#                        below one case, no order
#                      promo_uplift: fraction, 0.3 = forecast x 1.3 from valid_from to valid_to
#                        (at a DC: at every store it replenishes)
#   valid_from, valid_to   YYYY-MM-DD, both inclusive; blank = open (promo_uplift needs both)
#   planner            who asked for it (required), reason: why (free text)
#
# example (remove the leading # to use it):
# SKU000012,S003,min_stock,40,2026-11-01,2026-12-31,a.jansen,end-cap display
sku,location_id,override_type,value,valid_from,valid_to,planner,reason
"""


class OverridesFileError(ValueError):
    """The overrides file as a whole cannot be read (missing columns, not a CSV)."""


@dataclass(frozen=True)
class OverrideValidation:
    """Result of :func:`validate_overrides`: usable rows and rejected rows (with reasons)."""

    valid: pd.DataFrame
    rejects: pd.DataFrame

    @property
    def active(self) -> pd.DataFrame:
        """The rows that apply to this plan (``status == 'active'``)."""
        return self.valid[self.valid["status"] == "active"].reset_index(drop=True)


# ---------------------------------------------------------------------------------- the file
def write_template(path: Path) -> Path:
    """Write the commented template (header only, no overrides) to ``path``; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def read_overrides_file(path: Path | str) -> pd.DataFrame:
    """The planner's rows as text, one per data line, with ``file_row`` and ``raw_record``.

    ``file_row`` is the 1-based line number in the file (what a planner sees in an editor);
    ``raw_record`` the line as written. Comment (``#``) and blank lines are skipped. Header names
    are matched case-insensitively; extra columns are ignored. A line with more fields than the
    header gets ``parse_error`` set (it is rejected by :func:`validate_overrides`); missing
    trailing fields read as empty. Raises :class:`OverridesFileError` when a required column is
    missing or there is no header: the plan must not run on a file it cannot read.
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    kept = [
        (i + 1, line)
        for i, line in enumerate(text.splitlines())
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not kept:
        raise OverridesFileError(f"{path}: no header line (expected: {','.join(OVERRIDE_COLUMNS)})")
    reader = csv.reader(io.StringIO("\n".join(line for _, line in kept)))
    records = list(reader)
    header = [h.strip().lower() for h in records[0]]
    missing = [c for c in OVERRIDE_COLUMNS if c not in header]
    if missing:
        raise OverridesFileError(
            f"{path}: missing column(s) {', '.join(missing)} in header line {kept[0][0]} "
            f"({','.join(records[0])}); expected {','.join(OVERRIDE_COLUMNS)}"
        )
    pos = [header.index(c) for c in OVERRIDE_COLUMNS]
    body = records[1:]
    if len(body) != len(kept) - 1:  # quoted line breaks: fall back to record numbers
        lines = list(range(2, len(body) + 2))
        raws = [",".join(r) for r in body]
    else:
        lines = [n for n, _ in kept[1:]]
        raws = [raw for _, raw in kept[1:]]
    width = len(header)
    rows = [[(r[p].strip() if p < len(r) else "") for p in pos] for r in body]
    out = pd.DataFrame(rows, columns=list(OVERRIDE_COLUMNS), dtype=object)
    if not len(out):
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in OVERRIDE_COLUMNS})
    out["file_row"] = np.asarray(lines, dtype=np.int64)
    out["raw_record"] = pd.Series(raws, dtype=object)
    out["parse_error"] = pd.Series(
        [f"{len(r)} fields, header has {width}" if len(r) > width else "" for r in body],
        dtype=object,
    )
    return out


# -------------------------------------------------------------------------------- validation
def _dates(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parsed dates (NaT for blank) and a mask of non-blank values that are not YYYY-MM-DD."""
    text = s.fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(text.where(text != ""), format="%Y-%m-%d", errors="coerce")
    return parsed, (text != "") & parsed.isna()


def _override_id(frame: pd.DataFrame) -> pd.Series:
    """A stable id from what an override says (not where it sits in the file)."""
    key = (
        frame["sku"].astype(str)
        + "|"
        + frame["location_id"].astype(str)
        + "|"
        + frame["override_type"].astype(str)
        + "|"
        + frame["valid_from"].astype(str)
        + "|"
        + frame["valid_to"].astype(str)
        + "|"
        + frame["value"].astype(str)
    )
    return "OVR-" + key.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:10])


def validate_overrides(
    raw: pd.DataFrame,
    *,
    skus: Iterable[str],
    locations: Iterable[str],
    planned: pd.DataFrame,
    plan_date: date | str | pd.Timestamp,
    horizon_end: date | str | pd.Timestamp,
    max_promo_uplift: float = MAX_PROMO_UPLIFT,
) -> OverrideValidation:
    """Split the planner's rows into usable overrides and rejects, with every reason that applies.

    ``raw``: :func:`read_overrides_file` output. ``skus`` / ``locations``: the known items and
    locations (``marts.dim_items``, ``marts.dim_locations``); ``planned``: the SKU-locations
    the plan computes (columns ``sku``, ``location_id``); ``plan_date``: the plan's order date;
    ``horizon_end``: the last day the plan's forecast covers.

    A row is rejected when: the line has too many fields; ``sku`` or ``location_id`` is
    unknown; the SKU-location is not in the plan; ``override_type`` is not one of
    :data:`OVERRIDE_TYPES`; ``value`` is not a finite number, is negative (``min_stock``,
    ``max_order_qty``) or not in (-1, ``max_promo_uplift``] (``promo_uplift``); a date is not
    ``YYYY-MM-DD``; ``valid_to`` is before ``valid_from`` (reversed window); ``valid_to`` is
    before ``plan_date`` (expired); a ``promo_uplift`` lacks either date; ``planner`` is empty;
    or an earlier row of the file has the same SKU, location and type with an overlapping window
    (the first one wins, the conflict is the planner's to resolve).

    Usable rows get ``status`` ``active`` when they apply to this plan (min/cap: the window
    contains ``plan_date``; uplift: the window overlaps ``plan_date .. horizon_end``), else
    ``scheduled`` (starts later). Returns :class:`OverrideValidation` with
    :data:`VALIDATED_COLUMNS` (``value`` a float, dates as timestamps, blank = NaT) and
    :data:`REJECT_COLUMNS` (the row as written, ``reject_reason`` joined with "; ").
    """
    df = raw.reset_index(drop=True).copy()
    for c in OVERRIDE_COLUMNS:
        df[c] = df[c].fillna("").astype(str).str.strip()
    if "parse_error" not in df:
        df["parse_error"] = ""
    if "raw_record" not in df:
        df["raw_record"] = df[list(OVERRIDE_COLUMNS)].agg(",".join, axis=1)
    day0 = pd.Timestamp(plan_date).normalize()
    day_end = pd.Timestamp(horizon_end).normalize()
    kind = df["override_type"].str.lower()
    value = pd.to_numeric(df["value"], errors="coerce")
    vfrom, bad_from = _dates(df["valid_from"])
    vto, bad_to = _dates(df["valid_to"])
    known_sku = df["sku"].isin(set(skus))
    known_loc = df["location_id"].isin(set(locations))
    plan_keys = planned[["sku", "location_id"]].astype(str).drop_duplicates()
    in_plan = pd.Series(
        df[["sku", "location_id"]].merge(plan_keys, how="left", indicator=True)["_merge"].to_numpy()
        == "both",
        index=df.index,
    )
    is_min, is_cap, is_up = kind == "min_stock", kind == "max_order_qty", kind == "promo_uplift"
    finite = np.isfinite(value.to_numpy(dtype=float))
    checks: list[tuple[pd.Series, pd.Series | str]] = [
        (df["parse_error"] != "", "line has " + df["parse_error"]),
        (df["sku"] == "", "sku is empty"),
        ((df["sku"] != "") & ~known_sku, "unknown sku " + df["sku"]),
        (df["location_id"] == "", "location_id is empty"),
        ((df["location_id"] != "") & ~known_loc, "unknown location " + df["location_id"]),
        (
            known_sku & known_loc & ~in_plan,
            "sku " + df["sku"] + " is not planned at " + df["location_id"] + " (no forecast)",
        ),
        (
            ~kind.isin(OVERRIDE_TYPES),
            "unknown override_type '"
            + df["override_type"]
            + "' (use "
            + " | ".join(OVERRIDE_TYPES)
            + ")",
        ),
        (
            kind.isin(OVERRIDE_TYPES) & ~finite,
            "value '" + df["value"] + "' is not a number",
        ),
        ((is_min | is_cap) & finite & (value < 0), "value must be >= 0 units"),
        (
            is_up & finite & ((value <= -1) | (value > max_promo_uplift)),
            f"promo_uplift value must be a fraction in (-1, {max_promo_uplift:g}] (0.3 = +30%)",
        ),
        (bad_from, "valid_from '" + df["valid_from"] + "' is not a date (YYYY-MM-DD)"),
        (bad_to, "valid_to '" + df["valid_to"] + "' is not a date (YYYY-MM-DD)"),
        (
            vfrom.notna() & vto.notna() & (vto < vfrom),
            "window reversed: valid_to " + df["valid_to"] + " is before valid_from",
        ),
        (
            vto.notna() & (vto < day0),
            "expired: valid_to " + df["valid_to"] + f" is before the plan date {day0.date()}",
        ),
        (
            is_up & ((vfrom.isna() & ~bad_from) | (vto.isna() & ~bad_to)),
            "promo_uplift needs valid_from and valid_to",
        ),
        (df["planner"] == "", "planner is empty"),
    ]
    reasons = pd.Series("", index=df.index, dtype=object)
    for mask, text in checks:
        m = mask.fillna(False).to_numpy(dtype=bool)
        if not m.any():
            continue
        msg = text[m] if isinstance(text, pd.Series) else text
        reasons[m] = np.where(reasons[m] == "", msg, reasons[m] + "; " + msg)

    # conflicts: same sku, location and type, overlapping windows; the first line wins
    ok = reasons == ""
    cand = pd.DataFrame(
        {
            "i": df.index[ok],
            "sku": df.loc[ok, "sku"],
            "loc": df.loc[ok, "location_id"],
            "kind": kind[ok],
            "lo": vfrom[ok].fillna(pd.Timestamp.min),
            "hi": vto[ok].fillna(pd.Timestamp.max),
            "row": df.loc[ok, "file_row"],
        }
    )
    pairs = cand.merge(cand, on=["sku", "loc", "kind"], suffixes=("", "_o"))
    pairs = pairs[
        (pairs["i_o"] < pairs["i"])
        & (pairs["lo"] <= pairs["hi_o"])
        & (pairs["lo_o"] <= pairs["hi"])
    ]
    if len(pairs):
        first = pairs.groupby("i")["row_o"].min()
        reasons[first.index] = (
            "conflicts with line "
            + first.astype(str)
            + " (same sku, location and type, overlapping window)"
        )

    ok = reasons == ""
    rej = df.loc[~ok].copy()
    rej["reject_reason"] = reasons[~ok]
    rejects = rej[list(REJECT_COLUMNS)].reset_index(drop=True)

    v = df.loc[ok].copy()
    v["override_type"] = kind[ok]
    v["value"] = value[ok].astype(float)
    v["valid_from"] = vfrom[ok]
    v["valid_to"] = vto[ok]
    starts_later = np.where(
        v["override_type"] == "promo_uplift",
        v["valid_from"].notna() & (v["valid_from"] > day_end),
        v["valid_from"].notna() & (v["valid_from"] > day0),
    )
    v["status"] = np.where(starts_later, "scheduled", "active")
    v["override_id"] = _override_id(df.loc[ok])
    valid = v[list(VALIDATED_COLUMNS)].reset_index(drop=True)
    valid["file_row"] = valid["file_row"].astype(np.int64)
    return OverrideValidation(valid=valid, rejects=rejects)


# ------------------------------------------------------------------------------- application
def expand_to_stores(overrides: pd.DataFrame, locations: pd.DataFrame) -> pd.DataFrame:
    """Uplift rows at a DC become one row per store it replenishes (column ``store_id``).

    ``locations``: ``location_id``, ``location_type``, ``replenished_from``. A row at a store
    keeps its location as ``store_id``; ``via_dc`` says which rows came from a DC row.
    """
    locs = locations[["location_id", "location_type", "replenished_from"]]
    stores = locs[locs["location_type"] == "STORE"]
    at_store = overrides.merge(stores[["location_id"]], on="location_id")
    at_store = at_store.assign(store_id=at_store["location_id"], via_dc=False)
    at_dc = overrides.merge(
        stores[["location_id", "replenished_from"]].rename(
            columns={"location_id": "store_id", "replenished_from": "location_id"}
        ),
        on="location_id",
    ).assign(via_dc=True)
    return pd.concat([at_store, at_dc], ignore_index=True)


def uplift_factors(weekly: pd.DataFrame, uplifts: pd.DataFrame) -> np.ndarray:
    """Demand factor per weekly forecast row (1.0 where no uplift covers the week).

    ``weekly``: ``sku``, ``location_id`` (store), ``forecast_week`` (the Monday that starts the
    7 forecast days). ``uplifts``: rows at stores (:func:`expand_to_stores`) with ``value``,
    ``valid_from``, ``valid_to`` (inclusive). Each day of a week gets the product of ``1 +
    value`` over the uplifts that cover it (several apply when a DC-wide and a store uplift
    overlap); the week's factor is the mean of its 7 daily factors.
    """
    n = len(weekly)
    factor = np.ones(n)
    if n == 0 or len(uplifts) == 0:
        return factor
    wk = pd.DataFrame(
        {
            "row": np.arange(n),
            "sku": weekly["sku"].to_numpy(),
            "store_id": weekly["location_id"].to_numpy(),
            "week": pd.to_datetime(weekly["forecast_week"]).to_numpy(),
        }
    )
    up = uplifts[["sku", "store_id", "value", "valid_from", "valid_to"]]
    hit = wk.merge(up, on=["sku", "store_id"])
    if hit.empty:
        return factor
    day = np.repeat(hit["week"].to_numpy(), 7) + np.tile(np.arange(7), len(hit)).astype(
        "timedelta64[D]"
    )
    days = pd.DataFrame(
        {
            "row": np.repeat(hit["row"].to_numpy(), 7),
            "day": day,
            "log_f": np.repeat(np.log1p(hit["value"].to_numpy(dtype=float)), 7),
            "lo": np.repeat(pd.to_datetime(hit["valid_from"]).to_numpy(), 7),
            "hi": np.repeat(pd.to_datetime(hit["valid_to"]).to_numpy(), 7),
        }
    )
    days = days[(days["day"] >= days["lo"]) & (days["day"] <= days["hi"])]
    if days.empty:
        return factor
    per_day = np.exp(days.groupby(["row", "day"])["log_f"].sum())
    by_row = per_day.groupby(level="row").agg(["sum", "size"])
    rows = by_row.index.to_numpy(dtype=np.int64)
    factor[rows] = (by_row["sum"].to_numpy() + (7 - by_row["size"].to_numpy())) / 7.0
    return factor


def apply_promo_uplift(weekly: pd.DataFrame, factor: np.ndarray) -> pd.DataFrame:
    """Weekly forecast moments with demand ``f`` times the forecast: mean x f, variance x f²,
    ``level_cv2`` unchanged (the same as scaling every quantile by ``f``)."""
    out = weekly.copy()
    f = np.asarray(factor, dtype=float)
    out["mean"] = out["mean"].to_numpy(dtype=float) * f
    out["variance"] = out["variance"].to_numpy(dtype=float) * f**2
    return out


def apply_min_stock(
    policy: pd.DataFrame, minimums: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Policy rows with ``order_up_to >= ceil(value)`` where a ``min_stock`` override applies.

    ``policy``: rows with ``sku``, ``location_id``, ``order_up_to`` (units) and
    ``safety_stock``; ``minimums``: active ``min_stock`` overrides (:data:`VALIDATED_COLUMNS`).
    Safety stock rises by the same number of units as the level; the expected service columns
    stay those of the computed level (the pinned level gives at least that service).
    Returns ``(policy, audit)``; audit rows (:data:`AUDIT_COLUMNS`, field ``order_up_to``)
    exist for every override that matched a policy row, ``changed`` False where the computed
    level was already at or above the minimum.
    """
    out = policy.copy()
    if minimums.empty:
        return out, audit_frame(pd.DataFrame())
    keys = out[["sku", "location_id"]].reset_index(drop=True).assign(_pos=np.arange(len(out)))
    hit = keys.merge(minimums, on=["sku", "location_id"])
    pos = hit["_pos"].to_numpy(dtype=np.int64)
    before = out["order_up_to"].to_numpy(dtype=float)[pos]
    floor = np.ceil(hit["value"].to_numpy(dtype=float) - 1e-9)
    after = np.maximum(np.nan_to_num(before, nan=-np.inf), floor)
    s = out["order_up_to"].to_numpy(dtype=float).copy()
    s[pos] = after
    ss = out["safety_stock"].to_numpy(dtype=float).copy()
    ss[pos] = ss[pos] + (after - np.nan_to_num(before, nan=after))
    out["order_up_to"] = s
    out["safety_stock"] = ss
    audit = hit.assign(
        field="order_up_to",
        before=before,
        after=after,
        note=np.where(
            after > before, "level raised to the minimum", "computed level already above"
        ),
    )
    return out, audit_frame(audit)


def order_caps(frame: pd.DataFrame, caps: pd.DataFrame) -> np.ndarray:
    """``max_order_qty`` (units) per row of ``frame`` (``sku``, ``location_id``); inf = no cap.

    Feed it to :func:`ml.inventory.replenishment.recommend_orders` as the ``max_order_qty``
    column: it rounds the cap down to whole case packs, and a cap below one case orders nothing.
    """
    out = np.full(len(frame), np.inf)
    if caps.empty:
        return out
    keys = frame[["sku", "location_id"]].reset_index(drop=True).assign(_pos=np.arange(len(frame)))
    hit = keys.merge(caps[["sku", "location_id", "value"]], on=["sku", "location_id"])
    np.minimum.at(out, hit["_pos"].to_numpy(dtype=np.int64), hit["value"].to_numpy(dtype=float))
    return out


def audit_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` reduced to :data:`AUDIT_COLUMNS` (missing columns empty), ``changed`` filled."""
    out = pd.DataFrame(index=rows.index)
    for c in AUDIT_COLUMNS:
        if c in rows:
            out[c] = rows[c]
        elif c in ("before", "after", "value"):
            out[c] = pd.Series(np.nan, index=rows.index, dtype=float)
        elif c == "file_row":
            out[c] = pd.Series(-1, index=rows.index, dtype=np.int64)
        elif c == "changed":
            b = out["before"].to_numpy(dtype=float)
            a = out["after"].to_numpy(dtype=float)
            out[c] = ~np.isclose(np.nan_to_num(b, nan=-1.0), np.nan_to_num(a, nan=-1.0))
        else:
            out[c] = pd.Series("", index=rows.index, dtype=object)
    for c in ("before", "after", "value"):
        out[c] = out[c].astype(float)
    return out.reset_index(drop=True)
