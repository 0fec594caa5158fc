"""Building the publishable plan from the staged tables (``checks.plan.build_plan``), on small
frames whose right answer is known line by line."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from checks.plan import PURCHASE_ORDER_COLUMNS, TRANSFER_COLUMNS, build_plan, plan_id_for


def _line(sku, location, ship_from_type, ship_from, qty, case_pack, supplier="SUP1"):
    return {
        "sku": sku,
        "location_id": location,
        "ship_from_type": ship_from_type,
        "ship_from": ship_from,
        "supplier_id": supplier,
        "order_qty": float(qty),
        "case_pack": float(case_pack),
        "unit_cost": 2.0,
        "order_date": pd.Timestamp("2026-01-05"),
        "expected_receipt_date": pd.Timestamp(
            "2026-01-12" if ship_from_type == "supplier" else "2026-01-07"
        ),
        "reason": f"IP below level at {location}",
    }


@pytest.fixture
def plan():
    recs = pd.DataFrame(
        [
            _line("SKU1", "DC1", "supplier", "SUP1", 24, 6),
            _line("SKU1", "S1", "location", "DC1", 12, 6),
            _line("SKU1", "S2", "location", "DC1", 6, 6),
            _line("SKU1", "S3", "location", "DC1", 18, 6),
            _line("SKU2", "S1", "location", "DC1", 4, 1),
        ]
    )
    # DC1 is short of SKU1: the marginal allocation gives S1 one case, S2 none, S3 two
    alloc = pd.DataFrame(
        {
            "dc_id": ["DC1"] * 6,
            "sku": ["SKU1"] * 6,
            "location_id": ["S1", "S2", "S3"] * 2,
            "method": ["marginal"] * 3 + ["fair_share"] * 3,
            "alloc_units": [6, 0, 12, 6, 6, 6],
        }
    )
    return build_plan(
        recs, alloc, run_id="abcdef12-3456-7890", published_at=datetime(2026, 1, 5, 4, 0)
    )


def test_plan_id_is_order_date_and_run_id_prefix(plan):
    assert plan.plan_id == "PLAN-20260105-abcdef12"
    assert plan_id_for(pd.Timestamp("2026-11-23"), "8d8a412c-e92b") == "PLAN-20261123-8d8a412c"


def test_supplier_lines_become_purchase_order_proposals_in_the_published_schema(plan):
    po = plan.purchase_orders
    assert list(po.columns) == PURCHASE_ORDER_COLUMNS
    assert po.to_dict("records") == [
        {
            "plan_id": "PLAN-20260105-abcdef12",
            "line_id": "PO-SUP1-DC1-SKU1",
            "supplier_id": "SUP1",
            "ship_to_location_id": "DC1",
            "sku": "SKU1",
            "order_qty": 24.0,
            "case_pack": 6.0,
            "order_cases": 4.0,
            "unit_cost": 2.0,
            "order_value": 48.0,
            "order_date": pd.Timestamp("2026-01-05"),
            "expected_receipt_date": pd.Timestamp("2026-01-12"),
            "reason": "IP below level at DC1",
            "published_at": pd.Timestamp("2026-01-05 04:00"),
        }
    ]
    assert plan.order_value == 48.0


def test_transfers_follow_the_marginal_allocation_where_the_dc_is_short(plan):
    tr = plan.transfers.set_index("line_id")
    assert list(plan.transfers.columns) == TRANSFER_COLUMNS
    # S2 was allocated nothing: no line; S3 capped from 18 to 12; SKU2 is not short
    assert tr["transfer_qty"].to_dict() == {
        "TR-DC1-S1-SKU1": 6.0,
        "TR-DC1-S1-SKU2": 4.0,
        "TR-DC1-S3-SKU1": 12.0,
    }
    assert tr["allocation_method"].to_dict() == {
        "TR-DC1-S1-SKU1": "marginal",
        "TR-DC1-S1-SKU2": "order_up_to",
        "TR-DC1-S3-SKU1": "marginal",
    }
    assert tr.loc["TR-DC1-S3-SKU1", "transfer_cases"] == 2.0
    assert tr.loc["TR-DC1-S3-SKU1", "reason"].startswith("DC short: 12 of 18 units allocated")
    assert tr.loc["TR-DC1-S1-SKU2", "reason"] == "IP below level at S1"
    assert set(tr["from_location_id"]) == {"DC1"}
