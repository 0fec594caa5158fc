"""The raw-extract suites on real generated drops: a normal dirty drop passes, a broken one fails
with the expectation that names what is broken (real GX, real DuckDB, the platform's loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from quality_helpers import load, monthly_files, rewrite_parquet, validate_extracts

from checks import raw

pytestmark = pytest.mark.integration


def test_every_raw_suite_passes_on_a_normal_dirty_demo_drop(small_drop: Path, warehouse_file):
    con = load(small_drop, warehouse_file)
    results = validate_extracts(con, landing=small_drop)
    failed = {name: v.failed() for name, v in results.items() if not v.outcome.success}
    assert failed == {}
    sales = results["sales"].outcome
    # not vacuous: the suite sees the drop's dirty rows and tolerates them
    seen = {r["column"]: r["unexpected_count"] for r in sales.results}
    assert seen["_copy_number"] > 0
    assert seen["sku_not_in_items"] > 0
    assert results["sales"].batch.files["source_file"].str.startswith("sales/").all()
    assert len(results["sales"].batch.files) == len(monthly_files(small_drop, "sales"))


def _middle(landing: Path, extract: str) -> Path:
    files = monthly_files(landing, extract)
    return files[len(files) // 2]


def test_sales_file_with_a_quarter_of_quantities_missing_fails_not_null_for_that_file(
    drop_copy: Path, warehouse_file
):
    target = _middle(drop_copy, "sales")

    def blank(frame: pd.DataFrame) -> pd.DataFrame:
        rows = np.random.default_rng(1).random(len(frame)) < 0.25
        frame.loc[rows, "quantity"] = ""
        return frame

    rewrite_parquet(target, blank)
    v = validate_extracts(load(drop_copy, warehouse_file), ["sales"])["sales"]
    assert not v.outcome.success
    result = v.failed()[("expect_column_values_to_not_be_null", "quantity")]
    assert result["worst_partition"] == f"sales/{target.name}"
    assert 20 < result["worst_partition_unexpected_percent"] < 30
    assert result["meta"]["quarantine_reason"] == "missing_required_value"
    assert all(
        e["_source_file"] == f"sales/{target.name}" for e in result["partial_unexpected_index_list"]
    )


def test_sales_file_with_comma_decimal_quantities_fails_the_number_format_rule(
    drop_copy: Path, warehouse_file
):
    target = _middle(drop_copy, "sales")

    def commas(frame: pd.DataFrame) -> pd.DataFrame:
        rows = np.random.default_rng(2).random(len(frame)) < 0.3
        frame.loc[rows, "quantity"] = frame.loc[rows, "quantity"] + ",5"
        return frame

    rewrite_parquet(target, commas)
    v = validate_extracts(load(drop_copy, warehouse_file), ["sales"])["sales"]
    result = v.failed()[("expect_column_values_to_match_regex", "quantity")]
    assert result["meta"]["quarantine_reason"] == "unparseable_number"
    assert all(str(x).endswith(",5") for x in result["partial_unexpected_list"])
    assert result["worst_partition"] == f"sales/{target.name}"


def test_impossible_calendar_dates_fail_the_calendar_rule_and_other_shapes_the_format_rule(
    drop_copy: Path, warehouse_file
):
    target = _middle(drop_copy, "sales")
    rng = np.random.default_rng(4)

    def dates(frame: pd.DataFrame) -> pd.DataFrame:
        draw = rng.random(len(frame))
        frame.loc[draw < 0.1, "sale_date"] = "2025-02-30"  # the format, but no such day
        frame.loc[(draw >= 0.1) & (draw < 0.2), "sale_date"] = "soon"  # not even the format
        return frame

    rewrite_parquet(target, dates)
    v = validate_extracts(load(drop_copy, warehouse_file), ["sales"])["sales"]
    failed = v.failed()
    calendar = failed[("expect_column_values_to_be_null", "sale_date__not_a_date")]
    shape = failed[("expect_column_values_to_match_regex", "sale_date")]
    # each bad value is reported by exactly one of the two rules (the demo's own dirty dates,
    # such as a month 13, come on top)
    calendar_values = set(map(str, calendar["partial_unexpected_list"]))
    shape_values = set(map(str, shape["partial_unexpected_list"]))
    assert "2025-02-30" in calendar_values and "soon" not in calendar_values
    assert "soon" in shape_values and "2025-02-30" not in shape_values
    assert calendar["meta"]["quarantine_reason"] == shape["meta"]["quarantine_reason"]
    assert calendar["worst_partition"] == f"sales/{target.name}"


def test_snapshot_file_full_of_negative_on_hand_fails_the_range_rule(
    drop_copy: Path, warehouse_file
):
    target = _middle(drop_copy, "inventory_snapshots")

    def negative(frame: pd.DataFrame) -> pd.DataFrame:
        frame["on_hand_qty"] = "-" + frame["on_hand_qty"].where(frame["on_hand_qty"] != "0", "3")
        return frame

    rewrite_parquet(target, negative)
    v = validate_extracts(load(drop_copy, warehouse_file), ["inventory_snapshots"])
    result = v["inventory_snapshots"].failed()[
        ("expect_column_values_to_be_between", "on_hand_qty__value")
    ]
    assert result["worst_partition_unexpected_percent"] == pytest.approx(100.0)
    assert result["meta"]["quarantine_reason"] == "invalid_value"
    assert max(result["partial_unexpected_list"]) < 0


def test_sales_file_with_a_tenth_of_the_usual_rows_fails_the_volume_rule(
    drop_copy: Path, warehouse_file
):
    target = _middle(drop_copy, "sales")
    rewrite_parquet(target, lambda f: f.sample(frac=0.1, random_state=3).sort_index())
    v = validate_extracts(load(drop_copy, warehouse_file), ["sales"])["sales"]
    failed = v.failed()
    assert set(failed) == {("expect_column_min_to_be_between", "_file_volume_ratio")}
    ratio = v.batch.files.set_index("source_file")["volume_ratio"]
    assert ratio[f"sales/{target.name}"] < 0.2
    assert (ratio.drop(f"sales/{target.name}") > 0.7).all()


def test_unknown_skus_in_a_tenth_of_a_file_fail_the_reference_rule_with_the_sku_named(
    drop_copy: Path, warehouse_file
):
    target = _middle(drop_copy, "sales")

    def unknown(frame: pd.DataFrame) -> pd.DataFrame:
        rows = np.random.default_rng(4).random(len(frame)) < 0.1
        frame.loc[rows, "sku"] = "SKU-NOT-IN-MASTER"
        return frame

    rewrite_parquet(target, unknown)
    v = validate_extracts(load(drop_copy, warehouse_file), ["sales"])["sales"]
    result = v.failed()[("expect_column_values_to_be_null", "sku_not_in_items")]
    assert "SKU-NOT-IN-MASTER" in result["partial_unexpected_list"]
    assert result["worst_partition"] == f"sales/{target.name}"
    assert result["meta"]["quarantine_reason"] == "unknown_sku"


def test_items_with_year_long_lead_times_fail_the_lead_time_bound(drop_copy: Path, warehouse_file):
    items = pd.read_csv(drop_copy / "items" / "items.csv", dtype=str)
    items.loc[items.index[:3], "default_lead_time_days"] = "400"
    items.to_csv(drop_copy / "items" / "items.csv", index=False)
    v = validate_extracts(load(drop_copy, warehouse_file), ["items"])["items"]
    result = v.failed()[("expect_column_values_to_be_between", "default_lead_time_days__value")]
    assert result["unexpected_count"] == 3
    assert result["meta"]["quarantine_reason"] == "invalid_value"


def test_snapshots_stopping_weeks_before_sales_fail_the_lag_rule(drop_copy: Path, warehouse_file):
    for path in monthly_files(drop_copy, "inventory_snapshots")[-2:]:
        path.unlink()
    v = validate_extracts(load(drop_copy, warehouse_file), ["sales", "inventory_snapshots"])
    assert v["sales"].outcome.success
    failed = v["inventory_snapshots"].failed()
    lag = failed[("expect_column_max_to_be_between", "_extract_lag_days")]
    assert lag["observed_value"] > 20


def test_a_new_sales_file_with_old_dates_fails_the_staleness_rule(drop_copy: Path, warehouse_file):
    con = load(drop_copy, warehouse_file)
    first = validate_extracts(con, ["sales"])["sales"]
    assert first.outcome.success
    raw.record_passed(con, first.batch)

    last = monthly_files(drop_copy, "sales")[-1]
    resent = drop_copy / "sales" / "sales_resent.parquet"
    resent.write_bytes(last.read_bytes())

    def older(frame: pd.DataFrame) -> pd.DataFrame:
        dates = pd.to_datetime(frame["sale_date"], errors="coerce") - pd.Timedelta(days=60)
        frame["sale_date"] = dates.dt.strftime("%Y-%m-%d")
        return frame

    rewrite_parquet(resent, older)
    load_landing_again = load(drop_copy, warehouse_file)  # only the new file is loaded
    v = validate_extracts(load_landing_again, ["sales"])["sales"]
    assert list(v.batch.files["source_file"]) == ["sales/sales_resent.parquet"]
    result = v.failed()[("expect_column_max_to_be_between", "_file_staleness_days")]
    assert result["observed_value"] >= 55


def test_only_new_files_are_validated_after_a_passed_load_and_the_last_load_otherwise(
    drop_copy: Path, warehouse_file
):
    con = load(drop_copy, warehouse_file)
    v = validate_extracts(con, ["transfers"])["transfers"]
    assert v.outcome.success and not v.batch.revalidation
    raw.record_passed(con, v.batch)

    again = raw.select_files(con, "transfers")
    assert again[1] is True  # nothing new: the last passed load is validated again
    assert set(again[0]["source_file"]) == set(v.batch.files["source_file"])

    new = drop_copy / "transfers" / "transfers_extra.parquet"
    new.write_bytes(monthly_files(drop_copy, "transfers")[-1].read_bytes())
    rewrite_parquet(new, lambda f: f.assign(transfer_id=f["transfer_id"] + "-B"))
    con.close()
    con = load(drop_copy, warehouse_file)
    files, revalidation = raw.select_files(con, "transfers")
    assert not revalidation
    assert list(files["source_file"]) == ["transfers/transfers_extra.parquet"]


def test_a_file_missing_a_required_column_is_reported_until_it_is_removed(
    drop_copy: Path, warehouse_file
):
    bad = drop_copy / "sales" / "sales_broken.csv"
    bad.write_text("sale_date,sku,location_id\n2025-01-02,SKU000001,S001\n")
    con = load(drop_copy, warehouse_file)
    rejected = raw.rejected_files(con, "sales", drop_copy)
    assert [r["source_file"] for r in rejected] == ["sales/sales_broken.csv"]
    assert "quantity" in rejected[0]["reason"]
    bad.unlink()
    assert raw.rejected_files(con, "sales", drop_copy) == []


def test_an_optional_extract_that_never_landed_gives_an_empty_batch(
    drop_copy: Path, warehouse_file
):
    import shutil

    shutil.rmtree(drop_copy / "promotions")
    v = raw.build_batch(load(drop_copy, warehouse_file), "promotions")
    assert v.empty and v.frame.empty and v.rejected_files == []
