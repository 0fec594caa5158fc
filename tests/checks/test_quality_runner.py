"""The validation API (``checks.validate_frame`` / ``render_html``) and the suites as files, on
small frames: suite hygiene, parsing rules shared with dbt, per-file tolerance, reports."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from quality_helpers import CHECKED_SUITES

import checks
from checks import raw
from checks.sql import PARSERS, REGEX
from orchestration.ingest.contract import CONTRACT
from orchestration.ingest.landing import ensure_raw_schema
from orchestration.settings import PROJECT_ROOT

REASONS = {
    "missing_required_value",
    "unparseable_date",
    "unparseable_number",
    "unparseable_boolean",
    "invalid_value",
    "unknown_sku",
    "unknown_location",
    "unknown_supplier",
    "unknown_po_line",
    "duplicate_row",
}
ROW_LEVEL = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_compound_columns_to_be_unique",
}


def _parameters_used(spec: dict) -> set[str]:
    text = json.dumps(spec["expectations"])
    return set(re.findall(r'"\$PARAMETER": "([a-z_]+)"', text))


@pytest.mark.parametrize("name", checks.suite_names())
def test_every_suite_loads_in_gx_and_declares_a_default_for_each_parameter(name: str):
    suite = checks.load_suite(name)
    spec = checks.suite_definition(name)
    assert suite.name == name
    assert len(suite.expectations) == len(spec["expectations"]) > 0
    assert _parameters_used(spec) <= set(spec["meta"].get("parameters", {}))
    assert all(e["meta"].get("why") for e in spec["expectations"])


def test_suites_cover_every_extract_mart_forecast_and_plan_table():
    # the asset-check suites, and the published plan's (run inside the publish step)
    expected = CHECKED_SUITES | {
        "published_purchase_order_proposals",
        "published_transfer_orders",
    }
    assert set(checks.suite_names()) == expected


@pytest.mark.parametrize("extract", list(CONTRACT))
def test_raw_suites_check_every_required_and_typed_column_and_name_the_quarantine_reason(
    extract: str,
):
    spec = checks.suite_definition(f"raw_{extract}")
    by_type: dict[str, set[str]] = {}
    for e in spec["expectations"]:
        by_type.setdefault(e["type"], set()).add(e["kwargs"].get("column"))
        if e["type"] in ROW_LEVEL:
            # every row-level rule is a quarantine rule: a row it flags is quarantined by dbt
            assert e["meta"].get("quarantine_reason") in REASONS, e
            assert e["kwargs"].get("mostly", 1.0) >= 0.98
    contract = CONTRACT[extract]
    assert set(contract.required_columns) <= by_type["expect_column_values_to_not_be_null"]
    typed = {c.name for c in contract.columns if c.type != "text"}
    assert typed <= by_type["expect_column_values_to_match_regex"]


def test_the_suites_contract_mirrors_the_ingest_contract():
    for name, extract in CONTRACT.items():
        mine = raw.EXTRACTS[name]
        assert [(c.name, c.type, c.required) for c in mine.columns] == [
            (c.name, c.type, c.required) for c in extract.columns
        ]


def test_format_regexes_are_the_dbt_parsing_macros_anchored():
    macros = (PROJECT_ROOT / "dbt_project" / "macros" / "parsing.sql").read_text()
    dbt_patterns = re.findall(r"regexp_full_match\(\{\{ *\w+ *\}\}, '([^']+)'\)", macros)
    assert len(dbt_patterns) == 4  # date (two forms), decimal, integer
    ours = " ".join(REGEX.values())
    for pattern in dbt_patterns:
        plain = re.sub(r"\((?!\?)", "(?:", pattern.replace(r"\d", "[0-9]"))
        assert plain in ours, pattern


VALUES = {
    "date": [
        "2024-01-05",
        "2024-1-5",
        "20240105",
        "05.01.2024",
        "1/5/2024",
        "2024-01-05 00:00:00",
        "2024-01-05T00:00:00.000",
        "2024-01-05 10:00:00",
        "05-01-2024",
        "n/a",
        "2024/01/05",
        "2024-02-30",
    ],
    "decimal": ["4", "+4", "-.5", "1e2", "2.125", "1,5", "1 000", "abc", "1.", ".5e-3", "--1"],
    "int": ["3", "-3", "3.0", "3.00", "3.5", "3e2", "x", "+7"],
    "bool": ["true", "False", "T", "f", "YES", "no", "y", "N", "1", "0", "maybe", "2"],
}


@pytest.mark.parametrize("kind", list(VALUES))
def test_a_value_the_suite_calls_malformed_never_parses_in_dbt_staging(kind: str):
    """Regex rejected => dbt's parser gives NULL (unparseable_*); the converse holds except for
    impossible calendar dates (2024-02-30), which only the parser rejects."""
    with duckdb.connect() as con:
        for value in VALUES[kind]:
            parsed = con.execute(
                f"select {PARSERS[kind]('v')} from (select ?::varchar as v)", [value]
            ).fetchall()[0][0]
            matches = re.search(REGEX[kind], value) is not None
            if not matches:
                assert parsed is None, (kind, value)
            elif value != "2024-02-30":
                assert parsed is not None, (kind, value)


# --------------------------------------------------------------------------------------------
# per-file tolerance on a synthetic raw table


def _price_changes(files: dict[str, tuple[int, int]]) -> duckdb.DuckDBPyConnection:
    """raw.price_changes with, per file, (rows, rows with a negative price); items known."""
    con = duckdb.connect()
    ensure_raw_schema(con)
    con.execute(
        "insert into raw.items (sku, category, unit_cost, unit_price, _source_file, _source_row) "
        "select 'SKU' || i, 'C', '1', '2', 'items/items.csv', i from range(100) t(i)"
    )
    start = 0
    for name, (rows, bad) in files.items():
        frame = pd.DataFrame({"i": range(start, start + rows)})
        frame["sku"] = "SKU" + (frame["i"] % 100).astype(str)
        frame["effective_date"] = (
            pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["i"] // 100, "D")
        ).dt.strftime("%Y-%m-%d")
        frame["unit_price"] = ["-1" if k < bad else "2.5" for k in range(rows)]
        con.register("_f", frame)
        con.execute(
            "insert into raw.price_changes (sku, effective_date, unit_price, _source_file, "
            "_source_row, _file_checksum, _loaded_at) select sku, effective_date, unit_price, "
            "?, i + 1, 'c', now() from _f",
            [name],
        )
        con.unregister("_f")
        start += rows
    return con


def _price_result(files: dict[str, tuple[int, int]]) -> dict:
    con = _price_changes(files)
    batch = raw.build_batch(con, "price_changes")
    outcome = checks.validate_frame(batch.suite_name, batch.frame, context=batch.parameters)
    (result,) = [r for r in outcome.results if r["column"] == "unit_price__value"]
    return result


def test_a_file_a_fifth_broken_fails_although_the_whole_load_is_within_tolerance():
    result = _price_result({"big.csv": (6000, 0), "small.csv": (200, 40)})
    assert result["unexpected_count"] == 40
    assert result["unexpected_percent"] < 1.0  # 40 / 6200 rows: GX alone would pass
    assert result["gx_success"] is True
    assert result["success"] is False
    assert result["worst_partition"] == "small.csv"
    assert result["worst_partition_unexpected_percent"] == pytest.approx(20.0)


def test_a_file_barely_above_tolerance_on_few_rows_is_not_failed_on_noise():
    # 3 of 200 rows = 1.5% > 1%, but not with 99% confidence (lower bound below 1%)
    result = _price_result({"big.csv": (6000, 0), "small.csv": (200, 3)})
    assert result["worst_partition_unexpected_percent"] == pytest.approx(1.5)
    assert result["success"] is True
    # the same share on 20,000 rows is significant
    result = _price_result({"big.csv": (20000, 300)})
    assert result["success"] is False


def test_context_overrides_suite_parameters_and_dates_become_timestamps():
    params = checks.runner.suite_parameters(
        "raw_sales", {"max_lag_days": 30, "run_date": "2026-01-05"}
    )
    assert params["max_lag_days"] == 30
    assert params["min_volume_ratio"] == 0.3  # default from the suite file
    assert params["run_date"] == pd.Timestamp("2026-01-05")


def test_a_missing_column_is_a_failed_expectation_not_a_crash():
    frame = pd.DataFrame({"sku": ["A"], "location_id": ["L"]})
    outcome = checks.validate_frame("marts_fct_inventory_positions", frame)
    assert not outcome.success
    failed = {r["column"] for r in outcome.failed_expectations()}
    assert "on_hand_qty" in failed and "sku" not in failed
    with pytest.raises(KeyError, match="no suite named"):
        checks.validate_frame("no_such_suite", frame)


# --------------------------------------------------------------------------------------------
# outcome, markdown, HTML, unexpected rows


@pytest.fixture(scope="module")
def failing_outcome() -> tuple[checks.ValidationOutcome, pd.DataFrame]:
    con = _price_changes({"prices.csv": (300, 30)})
    batch = raw.build_batch(con, "price_changes")
    return checks.validate_frame(batch.suite_name, batch.frame), batch.frame


def test_outcome_lists_results_in_suite_order_and_serialises_to_json(failing_outcome):
    outcome, _ = failing_outcome
    spec = checks.suite_definition("raw_price_changes")
    assert [r["expectation_type"] for r in outcome.results] == [
        e["type"] for e in spec["expectations"]
    ]
    assert outcome.statistics["evaluated_expectations"] == len(spec["expectations"])
    assert outcome.statistics["unsuccessful_expectations"] == len(outcome.failed_expectations())
    data = json.loads(json.dumps(outcome.to_dict()))
    assert data["suite_name"] == "raw_price_changes" and data["success"] is False


def test_failures_markdown_names_the_rule_the_count_and_examples_with_file_and_row(
    failing_outcome,
):
    outcome, _ = failing_outcome
    md = outcome.failures_markdown()
    assert md.startswith("| expectation |")
    line = next(x for x in md.splitlines() if "unit_price__value" in x)
    assert "| 30 |" in line
    assert "-1 @ prices.csv:1" in line


def test_unexpected_rows_lists_every_flagged_row_not_only_examples(failing_outcome):
    outcome, frame = failing_outcome
    rows = checks.unexpected_rows("raw_price_changes", frame)
    price = rows[rows["column"] == "unit_price__value"]
    assert sorted(price["_source_row"]) == list(range(1, 31))
    assert set(price["quarantine_reason"]) == {"invalid_value"}


def test_render_html_writes_one_page_per_validation_and_keeps_the_newest(
    failing_outcome, tmp_path: Path
):
    outcome, _ = failing_outcome
    paths = [checks.render_html(outcome, tmp_path, keep=3) for _ in range(5)]
    folder = tmp_path / "raw_price_changes"
    kept = sorted(folder.glob("*.html"))
    assert len(kept) == 3 and set(kept) == set(paths[-3:])
    page = paths[-1].read_text()
    assert "raw_price_changes" in page and "FAILED" in page
    assert "unit_price__value" in page and "prices.csv:1" in page
    assert "invalid_value" in page
    single = checks.render_html(outcome, tmp_path / "one" / "page.html")
    assert single == tmp_path / "one" / "page.html" and single.read_text().startswith("<!doctype")
    assert datetime.fromisoformat(outcome.validated_at)
