"""Tests of ml.inventory.replenishment: position, policies, rounding, dates, reasons, end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.inventory import lead_time as lt
from ml.inventory import replenishment as rp
from ml.inventory import safety_stock as ss

AS_OF = "2024-05-01"


def _row(**kw: object) -> dict:
    base = {
        "sku": "A",
        "location_id": "L1",
        "supplier_id": "S1",
        "on_hand": 20.0,
        "on_order": 17.0,
        "order_up_to": 120.0,
        "case_pack": 12.0,
        "lead_time_mean_days": 9.1,
        "lead_time_p95_days": 21.0,
        "target_csl": 0.95,
        "review_period_days": 7,
    }
    return {**base, **kw}


def test_inventory_position_counts_pipeline_and_commitments() -> None:
    df = pd.DataFrame(
        {
            "on_hand_qty": [10.0, 5.0],
            "on_order_qty": [4.0, np.nan],
            "in_transit_qty": [3.0, 0.0],
            "backorders": [2.0, 0.0],
            "allocated": [1.0, 6.0],
        }
    )
    np.testing.assert_array_equal(rp.inventory_position(df), [14.0, -1.0])


def test_rs_order_reason_and_dates() -> None:
    out = rp.recommend_orders(pd.DataFrame([_row()]), as_of=AS_OF).iloc[0]
    assert out["inventory_position"] == 37.0
    assert out["raw_need"] == 83.0
    assert out["order_qty"] == 84.0 and out["order_cases"] == 7
    assert out["reason"] == (
        "IP 37 < S 120 (R 7 d, LT 9.1 d p95 21 d, CSL 95%); order up to 120 -> 83 -> 84 "
        "(7 cases of 12)"
    )
    assert out["order_date"] == pd.Timestamp(AS_OF)
    assert out["expected_receipt_date"] == pd.Timestamp("2024-05-10")  # + round(9.1) days
    assert out["ship_from"] == "S1" and out["ship_from_type"] == "supplier"
    assert list(rp.recommend_orders(pd.DataFrame([_row()]), as_of=AS_OF).columns) == list(
        rp.ORDER_COLUMNS
    )


@pytest.mark.parametrize(
    ("raw_ip", "pack", "moq", "max_qty", "qty", "note"),
    [
        (120.0, 12.0, 0.0, np.inf, 0.0, "no order"),  # need 0
        (130.0, 12.0, 0.0, np.inf, 0.0, "no order"),  # need < 0
        (119.0, 12.0, 0.0, np.inf, 12.0, "(1 case of 12)"),  # 1 unit -> a whole case
        (37.0, 12.0, 100.0, np.inf, 108.0, "MOQ 100"),  # MOQ 100 -> 9 cases
        (37.0, 12.0, 0.0, 50.0, 48.0, "capped at max 50"),  # cap 50 -> 4 cases
        (37.0, 12.0, 100.0, 50.0, 48.0, "capped at max 50"),  # cap wins over MOQ
        (37.0, 12.0, 0.0, 10.0, 0.0, "below one case"),  # cap below one case
        (37.0, 1.0, 0.0, np.inf, 83.0, "(83 cases of 1)"),
    ],
)
def test_rounding_to_cases_moq_and_maximum(
    raw_ip: float, pack: float, moq: float, max_qty: float, qty: float, note: str
) -> None:
    df = pd.DataFrame(
        [_row(on_hand=raw_ip, on_order=0.0, case_pack=pack, moq=moq, max_order_qty=max_qty)]
    )
    out = rp.recommend_orders(df, as_of=AS_OF).iloc[0]
    assert out["order_qty"] == qty
    assert note in out["reason"]
    assert out["order_qty"] % pack == 0


def test_ss_with_eoq_and_rq_batches() -> None:
    # EOQ = sqrt(2 * 1000 * 50 / (0.25 * 8)) = 223.6 units
    eoq_inputs = {
        "annual_demand": 1000.0,
        "order_cost": 50.0,
        "holding_cost_rate": 0.25,
        "unit_cost": 8.0,
    }
    df = pd.DataFrame(
        [
            _row(policy="sS", order_up_to=np.nan, reorder_point=52.0, case_pack=1.0, **eoq_inputs),
            _row(policy="sS", order_up_to=np.nan, reorder_point=30.0, **eoq_inputs),
            _row(policy="rQ", reorder_point=52.0, order_qty=25.0, case_pack=10.0),
            _row(policy="rQ", reorder_point=52.0, case_pack=1.0, **eoq_inputs),
        ]
    )
    out = rp.recommend_orders(df, as_of=AS_OF)
    eoq = np.sqrt(2 * 1000 * 50 / (0.25 * 8))
    assert out.loc[0, "eoq"] == pytest.approx(eoq)
    assert out.loc[0, "order_up_to"] == pytest.approx(52.0 + np.ceil(eoq))
    assert out.loc[0, "order_qty"] == np.ceil(52.0 + np.ceil(eoq) - 37.0)
    assert out.loc[0, "reason"].startswith("IP 37 <= ROP 52 (LT 9.1 d")
    assert out.loc[1, "order_qty"] == 0.0  # IP 37 > s 30
    assert out.loc[1, "reason"] == "IP 37 > ROP 30: no order"
    # Q 25 -> 30 (whole cases of 10); (52 - 37) / 30 -> 1 batch lifts IP to 67 > 52
    assert out.loc[2, "order_qty"] == 30.0
    assert "order 1 x Q 30" in out.loc[2, "reason"]
    assert out.loc[3, "order_qty"] == np.ceil(eoq)


def test_not_due_rows_transfers_and_missing_levels() -> None:
    df = pd.DataFrame(
        [
            _row(next_review_date="2024-05-08"),
            _row(source_location_id="DC1", lead_time_mean_days=2.0),
            _row(order_up_to=np.nan),
        ]
    )
    out = rp.recommend_orders(df, as_of=AS_OF)
    assert out.loc[0, "order_qty"] == 0.0
    assert out.loc[0, "reason"] == "next review 2024-05-08: no order"
    assert out.loc[0, "order_date"] == pd.Timestamp("2024-05-08")
    assert out.loc[1, "ship_from"] == "DC1" and out.loc[1, "ship_from_type"] == "location"
    assert out.loc[1, "expected_receipt_date"] == pd.Timestamp("2024-05-03")
    assert out.loc[2, "reason"] == "no policy level: no order"
    with pytest.raises(ValueError, match="policy"):
        rp.recommend_orders(pd.DataFrame([_row(policy="minmax")]), as_of=AS_OF)


def test_end_to_end_from_po_history_to_orders() -> None:
    # A supplier whose orders take 7 days, 15% of them 21 days; two stores; one thin lane.
    rng = np.random.default_rng(8)
    n = 400
    lead = np.where(rng.random(n) < 0.15, 21, 7)
    po = pd.DataFrame(
        {
            "po_number": np.arange(n),
            "po_line": 1,
            "supplier_id": "S1",
            "sku": "A",
            "ship_to_location_id": np.where(np.arange(n) < 397, "ST1", "ST2"),
            "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) % 90, "D"),
            "lead_time_days": lead,
            "qty_weighted_lead_time_days": lead,
            "is_open": False,
            "fill_rate": 1.0,
        }
    )
    model = lt.empirical_lead_time_pmf(po, max_days=40, as_of="2024-05-01")
    sl = pd.DataFrame(
        {
            "sku": "A",
            "location_id": ["ST1", "ST2"],
            "supplier_id": "S1",
            "on_hand": [40.0, 40.0],
            "case_pack": 12.0,
        }
    )
    attached = lt.attach_lead_time_groups(sl, model)
    levels = ss.policy_levels(
        np.full(2, 10.0),
        np.full(2, 10.0),
        7,
        model.pmf,
        attached["lead_time_group"],
        target_csl=0.95,
        index=sl.index,
    )
    frame = pd.concat([sl, attached, levels], axis=1).drop(
        columns=["lead_time_mean_days", "lead_time_p95_days"]
    )
    out = rp.recommend_orders(frame.assign(target_csl=0.95, review_period_days=7), as_of=AS_OF)
    S = levels["order_up_to"].to_numpy()
    np.testing.assert_array_equal(out["order_qty"], np.ceil((S - 40.0) / 12.0) * 12.0)
    assert (out["order_up_to"] > out["inventory_position"]).all()
    # the thin lane (3 lines) shares its supplier's long tail: p95 is the 21-day mode
    assert (out["lead_time_p95_days"] == 21).all()
    assert "textbook SS" in out.loc[0, "reason"]
    assert out.loc[0, "textbook_csl"] < 0.9 < out.loc[0, "expected_csl"]
