"""Tests of ml.inventory.overrides: the planner's file, its validation, and each override's effect
on real policy levels (``plan_levels``) and real order recommendations (``recommend_orders``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.inventory import overrides as ov
from ml.inventory.planning import plan_levels
from ml.inventory.replenishment import recommend_orders
from orchestration.defs.inventory.inputs import daily_moments

PLAN_DATE = pd.Timestamp("2026-11-23")  # a Monday
HORIZON_END = pd.Timestamp("2027-01-10")
HEADER = ",".join(ov.OVERRIDE_COLUMNS)


def _write(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "overrides.csv"
    path.write_text("\n".join(["# planner file", header, *lines]) + "\n", encoding="utf-8")
    return path


def _validate(raw: pd.DataFrame) -> ov.OverrideValidation:
    planned = pd.DataFrame(
        {"sku": ["A", "A", "A", "B", "B"], "location_id": ["S1", "S2", "DC1", "S1", "DC1"]}
    )
    return ov.validate_overrides(
        raw,
        skus=["A", "B", "C"],
        locations=["S1", "S2", "S3", "DC1"],
        planned=planned,
        plan_date=PLAN_DATE,
        horizon_end=HORIZON_END,
    )


# ------------------------------------------------------------------------------------ the file
def test_template_is_a_readable_file_without_overrides(tmp_path: Path) -> None:
    path = ov.write_template(tmp_path / "planner" / "overrides.csv")
    text = path.read_text()
    assert text.strip().splitlines()[-1] == HEADER
    for kind in ov.OVERRIDE_TYPES:
        assert kind in text
    assert len(ov.read_overrides_file(path)) == 0


def test_file_rows_are_the_editor_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    # Excel's BOM, upper-case header, an extra column, a comment and a blank line in between
    path.write_text(
        "\ufeff# c\nSKU,Location_ID,override_type,value,valid_from,valid_to,planner,reason,note\n"
        "A,S1,min_stock,10,,,ann,display,x\n\n# paused\n"
        'A,S2,max_order_qty,24,,,ann,"cap, per supplier",y\n'
        "A,S1,min_stock,10,,,ann,display,x,too,many\n",
        encoding="utf-8",
    )
    raw = ov.read_overrides_file(path)
    assert raw["file_row"].tolist() == [3, 6, 7]
    assert raw.loc[1, "reason"] == "cap, per supplier"
    assert raw["parse_error"].tolist() == ["", "", "11 fields, header has 9"]
    assert raw.loc[0, "raw_record"] == "A,S1,min_stock,10,,,ann,display,x"


def test_file_without_a_required_column_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "A,S1,min_stock,,,ann,x",
        header="sku,location_id,override_type,valid_from,valid_to,planner,reason",
    )
    with pytest.raises(ov.OverridesFileError, match="missing column.*value"):
        ov.read_overrides_file(path)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Z,S1,min_stock,5,,,ann,x", "unknown sku Z"),
        ("A,S9,min_stock,5,,,ann,x", "unknown location S9"),
        ("C,S1,min_stock,5,,,ann,x", "sku C is not planned at S1"),
        ("A,S1,max_stock,5,,,ann,x", "unknown override_type 'max_stock'"),
        ("A,S1,min_stock,ten,,,ann,x", "value 'ten' is not a number"),
        ("A,S1,min_stock,,,,ann,x", "value '' is not a number"),
        ("A,S1,max_order_qty,-1,,,ann,x", "value must be >= 0"),
        ("A,S1,promo_uplift,30,2026-12-01,2026-12-07,ann,x", "must be a fraction"),
        ("A,S1,promo_uplift,-1,2026-12-01,2026-12-07,ann,x", "must be a fraction"),
        ("A,S1,promo_uplift,0.3,2026-12-01,,ann,x", "needs valid_from and valid_to"),
        ("A,S1,min_stock,5,01/12/2026,,ann,x", "valid_from '01/12/2026' is not a date"),
        ("A,S1,min_stock,5,2026-12-10,2026-12-01,ann,x", "window reversed"),
        ("A,S1,min_stock,5,2026-01-01,2026-11-22,ann,x", "expired: valid_to 2026-11-22"),
        ("A,S1,min_stock,5,,,,x", "planner is empty"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason(tmp_path: Path, line: str, reason: str) -> None:
    res = _validate(ov.read_overrides_file(_write(tmp_path, "A,S2,min_stock,3,,,ann,ok", line)))
    assert len(res.valid) == 1 and res.valid.loc[0, "location_id"] == "S2"
    assert len(res.rejects) == 1
    rej = res.rejects.iloc[0]
    assert reason in rej["reject_reason"]
    assert rej["file_row"] == 4 and rej["raw_record"] == line


def test_every_reason_of_a_row_is_listed_and_nothing_is_dropped(tmp_path: Path) -> None:
    lines = [
        "Z,S9,min_stock,-3,,,,x",
        "A,S1,min_stock,12.2,2026-11-01,2026-12-31,ann,display",
        "A,S1,min_stock,20,2026-12-01,2026-12-31,bob,conflicts with the line above",
        "A,S1,min_stock,20,2027-01-01,2027-01-31,bob,after the first one",
        "A,DC1,promo_uplift,0.5,2027-02-01,2027-02-14,ann,after the horizon",
        "A,DC1,promo_uplift,0.5,2027-01-05,2027-01-20,ann,starts in the horizon",
    ]
    raw = ov.read_overrides_file(_write(tmp_path, *lines))
    res = _validate(raw)
    assert len(res.valid) + len(res.rejects) == len(raw) == 6
    first = res.rejects.set_index("file_row").loc[3, "reject_reason"]
    for part in ("unknown sku Z", "unknown location S9", "value must be >= 0", "planner is empty"):
        assert part in first
    assert "conflicts with line 4" in res.rejects.set_index("file_row").loc[5, "reject_reason"]
    status = res.valid.set_index("file_row")["status"]
    assert status.to_dict() == {4: "active", 6: "scheduled", 7: "scheduled", 8: "active"}
    assert res.valid["value"].dtype == float and res.valid["override_id"].is_unique
    assert res.active["file_row"].tolist() == [4, 8]


# ------------------------------------------------------------------------------ promo uplift
def _weekly(sku: str = "A", store: str = "S1", weeks: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": sku,
            "location_id": store,
            "forecast_week": pd.date_range("2026-11-23", periods=weeks, freq="7D"),
            "horizon": np.arange(1, weeks + 1),
            "mean": 70.0,
            "variance": 140.0,
            "level_cv2": 0.01,
            "demand_class": "smooth",
            "is_cold_start": False,
        }
    )


def _uplift(value: float, lo: str, hi: str, store: str = "S1", via_dc: bool = False):
    return pd.DataFrame(
        {
            "override_id": [f"OVR-{lo}-{store}"],
            "sku": ["A"],
            "store_id": [store],
            "value": [value],
            "valid_from": [pd.Timestamp(lo)],
            "valid_to": [pd.Timestamp(hi)],
            "via_dc": [via_dc],
        }
    )


def test_uplift_factor_is_the_mean_of_the_daily_factors() -> None:
    weekly = _weekly(weeks=3)
    # Wed 2026-11-25 .. Sun 2026-12-06: 5 days of week 1, all of week 2, none of week 3
    f = ov.uplift_factors(weekly, _uplift(0.7, "2026-11-25", "2026-12-06"))
    assert f == pytest.approx([1 + 0.7 * 5 / 7, 1.7, 1.0])
    # a DC-wide uplift and a store uplift on the same days multiply
    both = pd.concat(
        [_uplift(0.5, "2026-11-23", "2026-11-29"), _uplift(0.2, "2026-11-27", "2026-12-13")]
    )
    f = ov.uplift_factors(weekly, both)
    assert f == pytest.approx([(4 * 1.5 + 3 * 1.5 * 1.2) / 7, 1.2, 1.2])
    # another store is untouched
    assert ov.uplift_factors(_weekly(store="S2"), both) == pytest.approx([1, 1, 1])


def test_uplift_at_a_dc_reaches_every_store_it_replenishes() -> None:
    locs = pd.DataFrame(
        {
            "location_id": ["DC1", "S1", "S2", "S3"],
            "location_type": ["DC", "STORE", "STORE", "STORE"],
            "replenished_from": [None, "DC1", "DC1", "DC2"],
        }
    )
    ups = pd.DataFrame({"sku": ["A", "A"], "location_id": ["DC1", "S3"], "value": [0.2, 0.4]})
    out = ov.expand_to_stores(ups, locs).sort_values("store_id")
    assert out["store_id"].tolist() == ["S1", "S2", "S3"]
    assert out["via_dc"].tolist() == [True, True, False]
    assert out["value"].tolist() == [0.2, 0.2, 0.4]


def _plan(moments: pd.DataFrame, case_pack: float = 1.0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "weekly_mean": moments["mu"] * 7,
            "weekly_var_indep": moments["var_daily"] * 7,
            "level_cv2": moments["level_cv2"],
            "review_days": 7,
            "lead_time_group": 0,
            "target_csl": 0.95,
            "case_pack": case_pack,
        }
    )
    pmf = np.zeros((1, 10))
    pmf[0, 2] = 1.0
    return plan_levels(frame, pmf, rounding="at_least")


def test_uplift_scales_mean_and_sd_of_the_protection_demand_and_raises_the_level() -> None:
    weekly = _weekly(weeks=2)
    f = ov.uplift_factors(weekly, _uplift(0.5, "2026-11-23", "2026-12-06"))
    assert f == pytest.approx([1.5, 1.5])
    up = ov.apply_promo_uplift(weekly, f)
    assert up["mean"].tolist() == [105.0, 105.0]
    assert up["variance"].tolist() == [315.0, 315.0]
    assert up["level_cv2"].tolist() == [0.01, 0.01]
    base = _plan(daily_moments(weekly, ["sku", "location_id"]))
    lifted = _plan(daily_moments(up, ["sku", "location_id"]))
    # demand over L + R scaled by f: mean and sd exactly x 1.5 (the CV is kept)
    assert lifted["demand_mean_lr"].iloc[0] == pytest.approx(1.5 * base["demand_mean_lr"].iloc[0])
    assert lifted["demand_sd_lr"].iloc[0] == pytest.approx(1.5 * base["demand_sd_lr"].iloc[0])
    s0, s1 = base["order_up_to_rounded"].iloc[0], lifted["order_up_to_rounded"].iloc[0]
    assert s1 > 1.4 * s0
    assert lifted["expected_csl_rounded"].iloc[0] >= 0.95


# ------------------------------------------------------------------------------ min and cap
def _overrides(kind: str, values: list[float], locs: list[str]) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "override_id": [f"OVR-{i}" for i in range(n)],
            "file_row": np.arange(3, 3 + n),
            "sku": ["A"] * n,
            "location_id": locs,
            "override_type": kind,
            "value": values,
            "planner": "ann",
            "reason": "why",
        }
    )


def test_min_stock_pins_the_level_and_moves_safety_stock_with_it() -> None:
    weekly = pd.concat([_weekly(store="S1", weeks=2), _weekly(store="S2", weeks=2)])
    levels = _plan(daily_moments(weekly, ["sku", "location_id"]))
    policy = pd.DataFrame(
        {
            "sku": "A",
            "location_id": ["S1", "S2"],
            "order_up_to": levels["order_up_to_rounded"].to_numpy(),
            "safety_stock": (levels["order_up_to_rounded"] - levels["demand_mean_lr"]).to_numpy(),
        }
    )
    s = policy["order_up_to"].to_numpy()
    mins = _overrides("min_stock", [s[0] + 20.3, s[1] - 5], ["S1", "S2"])
    out, audit = ov.apply_min_stock(policy, mins)
    assert out["order_up_to"].tolist() == [s[0] + 21, s[1]]
    assert out["safety_stock"].to_numpy() == pytest.approx(
        policy["safety_stock"].to_numpy() + [21, 0]
    )
    assert audit[["location_id", "field", "before", "after", "changed"]].to_dict("records") == [
        {
            "location_id": "S1",
            "field": "order_up_to",
            "before": s[0],
            "after": s[0] + 21,
            "changed": True,
        },
        {
            "location_id": "S2",
            "field": "order_up_to",
            "before": s[1],
            "after": s[1],
            "changed": False,
        },
    ]
    assert list(audit.columns) == list(ov.AUDIT_COLUMNS)
    # the pinned level feeds the order: IP 10 -> order up to the pin, in whole cases
    rec = recommend_orders(
        out.assign(on_hand=10.0, case_pack=6.0, review_period_days=7), as_of=PLAN_DATE
    )
    assert rec.loc[0, "order_qty"] == np.ceil((s[0] + 21 - 10) / 6) * 6


def test_cap_limits_the_order_in_whole_cases_and_stops_it_below_one_case() -> None:
    rows = pd.DataFrame(
        {
            "sku": "A",
            "location_id": ["S1", "S2", "S3"],
            "on_hand": 0.0,
            "order_up_to": 100.0,
            "case_pack": 12.0,
            "moq": [0.0, 0.0, 48.0],
        }
    )
    caps = _overrides("max_order_qty", [50.0, 7.0, 30.0], ["S1", "S2", "S3"])
    rows["max_order_qty"] = ov.order_caps(rows, caps)
    assert ov.order_caps(rows.assign(location_id="S9"), caps).tolist() == [np.inf] * 3
    rec = recommend_orders(rows, as_of=PLAN_DATE)
    free = recommend_orders(rows.drop(columns="max_order_qty"), as_of=PLAN_DATE)
    assert free["order_qty"].tolist() == [108.0, 108.0, 108.0]
    # 50 -> 4 cases (48); 7 < one case -> nothing; the cap wins over the MOQ of 48
    assert rec["order_qty"].tolist() == [48.0, 0.0, 24.0]
    assert rec["capped"].tolist() == [True, True, True]
    assert "max order qty below one case: no order" in rec.loc[1, "reason"]
