"""The publishable plan: ERP-facing order lines built from the staged inventory tables.

Pure pandas, no warehouse and no Dagster: the publish asset reads
``inventory.replenishment_recommendations`` and the ``marginal`` rows of
``inventory.allocation_plan``, calls :func:`build_plan`, validates the result and swaps it into
the ``published`` schema. Kept here, beside the suites that audit it, so the rule that decides a
transfer's quantity is tested on small frames.

* Purchase-order proposals: the lines shipped from a supplier (``ship_from_type = 'supplier'``,
  the DCs' orders), unchanged.
* Transfer orders: the store lines (``ship_from_type = 'location'``). Where the DC is short and
  the allocation has ``marginal`` rows for that DC and SKU, the store receives its allocated
  ``alloc_units`` (``allocation_method = 'marginal'``; a store allocated nothing gets no line);
  otherwise its full recommended quantity (``'order_up_to'``).

Quantities are units; ``*_cases`` = units / case pack; ``order_value`` = units x unit cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

PURCHASE_ORDER_COLUMNS = [
    "plan_id",
    "line_id",
    "supplier_id",
    "ship_to_location_id",
    "sku",
    "order_qty",
    "case_pack",
    "order_cases",
    "unit_cost",
    "order_value",
    "order_date",
    "expected_receipt_date",
    "reason",
    "published_at",
]
TRANSFER_COLUMNS = [
    "plan_id",
    "line_id",
    "from_location_id",
    "to_location_id",
    "sku",
    "transfer_qty",
    "case_pack",
    "transfer_cases",
    "order_date",
    "expected_receipt_date",
    "allocation_method",
    "reason",
    "published_at",
]


@dataclass
class Plan:
    """One plan: its id, the two line tables in the published schema, and its totals."""

    plan_id: str
    purchase_orders: pd.DataFrame
    transfers: pd.DataFrame

    @property
    def order_value(self) -> float:
        """Value of the purchase-order proposals (currency); transfers move own stock."""
        return float(self.purchase_orders["order_value"].sum())


def plan_id_for(order_date: pd.Timestamp | datetime | None, run_id: str) -> str:
    """'PLAN-<order date yyyymmdd>-<first 8 characters of the run id>'."""
    day = pd.Timestamp(order_date).strftime("%Y%m%d") if order_date is not None else "00000000"
    return f"PLAN-{day}-{run_id[:8]}"


def plan_order_date(recommendations: pd.DataFrame) -> pd.Timestamp | None:
    """The plan's order date: the earliest order date of its lines (None when there are none)."""
    if recommendations.empty or "order_date" not in recommendations:
        return None
    value = pd.to_datetime(recommendations["order_date"], errors="coerce").min()
    return None if pd.isna(value) else pd.Timestamp(value)


def build_plan(
    recommendations: pd.DataFrame,
    marginal_allocation: pd.DataFrame,
    *,
    run_id: str,
    published_at: datetime,
) -> Plan:
    """Purchase-order proposals and transfer orders from the staged tables (see module doc).

    ``recommendations``: the columns of ``inventory.replenishment_recommendations``;
    ``marginal_allocation``: ``dc_id, sku, location_id, alloc_units`` of the ``marginal``
    method (other methods are ignored if present).
    """
    rec = recommendations.copy()
    rec["order_date"] = pd.to_datetime(rec["order_date"])
    rec["expected_receipt_date"] = pd.to_datetime(rec["expected_receipt_date"])
    plan_id = plan_id_for(plan_order_date(rec), run_id)
    stamp = pd.Timestamp(published_at).tz_localize(None)

    po = rec[rec["ship_from_type"] == "supplier"]
    purchase_orders = pd.DataFrame(
        {
            "plan_id": plan_id,
            "line_id": "PO-" + po["supplier_id"] + "-" + po["location_id"] + "-" + po["sku"],
            "supplier_id": po["supplier_id"],
            "ship_to_location_id": po["location_id"],
            "sku": po["sku"],
            "order_qty": po["order_qty"].astype(float),
            "case_pack": po["case_pack"].astype(float),
            "order_cases": po["order_qty"].astype(float) / po["case_pack"].astype(float),
            "unit_cost": po["unit_cost"].astype(float),
            "order_value": po["order_qty"].astype(float) * po["unit_cost"].astype(float),
            "order_date": po["order_date"],
            "expected_receipt_date": po["expected_receipt_date"],
            "reason": po["reason"],
            "published_at": stamp,
        },
        columns=PURCHASE_ORDER_COLUMNS,
    )

    st = rec[rec["ship_from_type"] == "location"].copy()
    alloc = marginal_allocation
    if "method" in alloc:
        alloc = alloc[alloc["method"] == "marginal"]
    alloc = alloc[["dc_id", "sku", "location_id", "alloc_units"]]
    short = alloc[["dc_id", "sku"]].drop_duplicates().assign(_short=True)
    st = st.merge(short, left_on=["ship_from", "sku"], right_on=["dc_id", "sku"], how="left")
    st = st.drop(columns="dc_id").merge(
        alloc.rename(columns={"dc_id": "ship_from"}),
        on=["ship_from", "sku", "location_id"],
        how="left",
    )
    is_short = st["_short"].eq(True).to_numpy()
    need = st["order_qty"].astype(float).to_numpy()
    allocated = st["alloc_units"].fillna(0.0).astype(float).to_numpy()
    qty = np.where(is_short, allocated, need)
    method = np.where(is_short, "marginal", "order_up_to")
    reason = np.where(
        is_short,
        "DC short: "
        + pd.Series(allocated).map("{:,.0f}".format).to_numpy()
        + " of "
        + pd.Series(need).map("{:,.0f}".format).to_numpy()
        + " units allocated by marginal value; "
        + st["reason"].fillna("").to_numpy(),
        st["reason"].to_numpy(),
    )
    transfers = pd.DataFrame(
        {
            "plan_id": plan_id,
            "line_id": "TR-" + st["ship_from"] + "-" + st["location_id"] + "-" + st["sku"],
            "from_location_id": st["ship_from"],
            "to_location_id": st["location_id"],
            "sku": st["sku"],
            "transfer_qty": qty,
            "case_pack": st["case_pack"].astype(float),
            "transfer_cases": qty / st["case_pack"].astype(float).to_numpy(),
            "order_date": st["order_date"],
            "expected_receipt_date": st["expected_receipt_date"],
            "allocation_method": method,
            "reason": reason,
            "published_at": stamp,
        },
        columns=TRANSFER_COLUMNS,
    )
    transfers = transfers[transfers["transfer_qty"] > 0]
    return Plan(
        plan_id=plan_id,
        purchase_orders=purchase_orders.sort_values("line_id").reset_index(drop=True),
        transfers=transfers.sort_values("line_id").reset_index(drop=True),
    )


def with_check_columns(lines: pd.DataFrame, qty_column: str) -> pd.DataFrame:
    """The lines plus ``_cases_remainder`` (distance of the quantity from whole cases), the
    derived column the ``published_*`` suites test."""
    qty = lines[qty_column].astype(float)
    pack = lines["case_pack"].astype(float).replace(0, np.nan)
    return lines.assign(_cases_remainder=(qty - (qty / pack).round() * pack).abs())
