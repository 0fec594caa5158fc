"""The quality domain in real Dagster runs: the weekly job's checks and publication (session
``planning_run``), quarantine against the raw suites on its dirty drop, an ingest run blocked by
a broken drop, and write-audit-publish rejecting a corrupted plan."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource
from quality_helpers import CHECKED_SUITES, monthly_files, rewrite_parquet

import checks
from checks import raw, tables
from orchestration import settings
from orchestration.defs.ingest.assets import raw_asset_key
from orchestration.ingest.contract import CONTRACT

pytestmark = pytest.mark.integration

QUALITY_CHECKS = CHECKED_SUITES
#: Quarantine precedence (dbt_project/README.md): a row gets the first reason that applies.
RANK = {
    "missing_required_value": 1,
    "unparseable_date": 2,
    "unparseable_number": 2,
    "unparseable_boolean": 2,
    "invalid_value": 3,
    "unknown_sku": 4,
    "unknown_location": 4,
    "unknown_supplier": 4,
    "unknown_po_line": 4,
    "duplicate_row": 5,
}


@pytest.fixture(scope="module")
def planned(planning_run):
    assert planning_run.success, "the planning run failed; see the Dagster log above"
    return planning_run


@pytest.fixture(scope="module")
def warehouse_copy(planned, tmp_path_factory) -> Path:
    """A writable copy of the session warehouse after the planning run."""
    target = tmp_path_factory.mktemp("quality_wh") / "warehouse.duckdb"
    shutil.copy(settings.warehouse_path(), target)
    wal = Path(str(settings.warehouse_path()) + ".wal")
    if wal.exists():
        shutil.copy(wal, Path(str(target) + ".wal"))
    return target


def test_weekly_run_passes_every_quality_check_and_publishes_the_plan(planned, query):
    evaluations = {e.check_name: e for e in planned.get_asset_check_evaluations()}
    assert set(evaluations) >= QUALITY_CHECKS
    assert {n: evaluations[n].passed for n in QUALITY_CHECKS} == dict.fromkeys(QUALITY_CHECKS, True)
    sales = evaluations["raw_sales"].metadata
    assert sales["expectations_evaluated"].value >= 20
    assert Path(sales["report"].value).is_file()
    assert sales["report_url"].value.startswith("file://")

    versions = query("select * from published.plan_versions")
    assert list(versions["status"]) == ["published"]
    version = versions.iloc[0]
    assert version["dagster_run_id"] == planned.run_id
    assert re.fullmatch(rf"PLAN-\d{{8}}-{planned.run_id[:8]}", version["plan_id"])
    assert json.loads(version["failed_checks"]) == []
    po = query("select * from published.purchase_order_proposals")
    tr = query("select * from published.transfer_orders")
    assert len(po) == version["n_purchase_order_lines"] > 0
    assert len(tr) == version["n_transfer_lines"] > 0
    assert set(po["plan_id"]) == set(tr["plan_id"]) == {version["plan_id"]}
    assert po["order_value"].sum() == pytest.approx(version["order_value"])
    assert po["line_id"].is_unique and tr["line_id"].is_unique
    assert ((po["order_qty"] / po["case_pack"]) % 1 == 0).all()
    assert Path(version["report_path"]).is_file()
    staged = query(
        "select count(*) as n from inventory.replenishment_recommendations "
        "where ship_from_type = 'supplier'"
    )
    assert staged["n"][0] == len(po)


def test_published_tables_have_exactly_the_interface_schema(planned, query):
    cols = query(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'published' order by table_name, ordinal_position"
    )
    got = {
        t: list(zip(g["column_name"], g["data_type"], strict=True))
        for t, g in cols.groupby("table_name")
    }
    assert got["purchase_order_proposals"] == [
        ("plan_id", "VARCHAR"), ("line_id", "VARCHAR"), ("supplier_id", "VARCHAR"),
        ("ship_to_location_id", "VARCHAR"), ("sku", "VARCHAR"), ("order_qty", "DOUBLE"),
        ("case_pack", "DOUBLE"), ("order_cases", "DOUBLE"), ("unit_cost", "DOUBLE"),
        ("order_value", "DOUBLE"), ("order_date", "DATE"), ("expected_receipt_date", "DATE"),
        ("reason", "VARCHAR"), ("published_at", "TIMESTAMP"),
    ]  # fmt: skip
    assert got["transfer_orders"] == [
        ("plan_id", "VARCHAR"), ("line_id", "VARCHAR"), ("from_location_id", "VARCHAR"),
        ("to_location_id", "VARCHAR"), ("sku", "VARCHAR"), ("transfer_qty", "DOUBLE"),
        ("case_pack", "DOUBLE"), ("transfer_cases", "DOUBLE"), ("order_date", "DATE"),
        ("expected_receipt_date", "DATE"), ("allocation_method", "VARCHAR"),
        ("reason", "VARCHAR"), ("published_at", "TIMESTAMP"),
    ]  # fmt: skip
    assert got["plan_versions"] == [
        ("plan_id", "VARCHAR"), ("status", "VARCHAR"), ("dagster_run_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"), ("n_purchase_order_lines", "INTEGER"),
        ("n_transfer_lines", "INTEGER"), ("order_value", "DOUBLE"),
        ("failed_checks", "VARCHAR"), ("report_path", "VARCHAR"),
    ]  # fmt: skip


def test_published_transfer_quantities_honour_the_marginal_allocation(planned, query):
    lines = query(
        """select r.sku, r.location_id, r.ship_from, r.order_qty, t.transfer_qty,
                  t.allocation_method, a.alloc_units,
                  exists (select 1 from inventory.allocation_plan s where s.method = 'marginal'
                          and s.dc_id = r.ship_from and s.sku = r.sku) as dc_short
           from inventory.replenishment_recommendations r
           left join published.transfer_orders t
             on t.from_location_id = r.ship_from and t.to_location_id = r.location_id
            and t.sku = r.sku
           left join inventory.allocation_plan a on a.method = 'marginal'
             and a.dc_id = r.ship_from and a.location_id = r.location_id and a.sku = r.sku
           where r.ship_from_type = 'location'"""
    )
    short, full = lines[lines["dc_short"]], lines[~lines["dc_short"]]
    assert len(short) > 0 and len(full) > 0
    assert (full["transfer_qty"] == full["order_qty"]).all()
    assert (full["allocation_method"] == "order_up_to").all()
    allocated = short[short["alloc_units"].fillna(0) > 0]
    assert (allocated["transfer_qty"] == allocated["alloc_units"]).all()
    assert (allocated["allocation_method"] == "marginal").all()
    # a store allocated nothing gets no line
    assert short.loc[short["alloc_units"].fillna(0) == 0, "transfer_qty"].isna().all()


def test_every_row_a_raw_suite_flags_is_quarantined_with_the_rule_it_broke(planned):
    """The dirty session drop: each row-level rule's rows are in marts.quarantine_rows with that
    reason (or one of higher precedence), and for sales the two sets are the same rows."""
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        batches = {e: raw.build_batch(con, e, max_rows=10**9) for e in CONTRACT}
        quarantine = con.execute(
            "select extract, source_file, source_row, reason from marts.quarantine_rows"
        ).df()
        recon = con.execute("select * from marts.ingest_reconciliation").df()
        raw_counts = {
            e: con.execute(f"select count(*) from raw.{e}").fetchall()[0][0] for e in CONTRACT
        }
    flagged_total = 0
    for extract, batch in batches.items():
        if batch.empty:
            continue
        assert len(batch.frame) == batch.total_rows  # every row, no sample
        rows = checks.unexpected_rows(batch.suite_name, batch.frame)
        rows = rows[rows["quarantine_reason"].notna()]
        flagged_total += len(rows)
        q = quarantine[quarantine["extract"] == extract].rename(
            columns={"source_file": "_source_file", "source_row": "_source_row"}
        )
        joined = rows.merge(q, on=["_source_file", "_source_row"], how="left")
        missing = joined[joined["reason"].isna()]
        assert missing.empty, f"{extract}: flagged but not quarantined:\n{missing.head()}"
        allowed = joined["reason"].map(RANK) <= joined["quarantine_reason"].map(RANK)
        assert allowed.all(), f"{extract}: wrong reason:\n{joined[~allowed].head()}"
        if extract == "sales":
            flagged = set(zip(rows["_source_file"], rows["_source_row"], strict=True))
            quarantined = set(zip(q["_source_file"], q["_source_row"], strict=True))
            assert flagged == quarantined
    assert flagged_total > 0
    # reconciliation on the dirty drop: loaded = accepted + quarantined = rows in raw
    recon = recon.set_index("extract")
    assert (recon["rows_loaded"] == recon["rows_accepted"] + recon["rows_quarantined"]).all()
    assert recon["rows_loaded"].to_dict() == raw_counts
    by_extract = quarantine.groupby("extract").size()
    assert recon["rows_quarantined"].to_dict() == {
        e: int(by_extract.get(e, 0)) for e in recon.index
    }
    assert recon.loc["sales", "rows_quarantined"] > 0


# --------------------------------------------------------------------------------------------
# an ingest run on a broken drop


def test_a_broken_drop_fails_the_blocking_raw_check_and_dbt_does_not_run(
    drop_copy: Path, tmp_path: Path, monkeypatch
):
    target = monthly_files(drop_copy, "sales")[2]

    def blank(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[np.random.default_rng(7).random(len(frame)) < 0.3, "quantity"] = ""
        return frame

    rewrite_parquet(target, blank)
    data = tmp_path / "data"
    monkeypatch.setenv("STOCKPILOT_DATA_DIR", str(data))
    monkeypatch.setenv("STOCKPILOT_LANDING_DIR", str(drop_copy))
    monkeypatch.setenv("STOCKPILOT_WAREHOUSE", str(data / "warehouse.duckdb"))
    from orchestration.definitions import build_definitions

    job = build_definitions().resolve_job_def("ingest")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {f"raw_{e}" for e in CONTRACT} <= set(evaluations)
    assert [n for n, e in evaluations.items() if not e.passed] == ["raw_sales"]
    table = evaluations["raw_sales"].metadata["failed_expectations"].value
    assert "values_to_not_be_null" in table and "quantity" in table
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {raw_asset_key(e) for e in CONTRACT}  # no dbt model ran
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "raw_extract_expectations" in started and "stockpilot_dbt_models" not in started
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        assert "marts" not in schemas and "staging" not in schemas
        # nothing is lost: the broken file is kept in raw as received
        n = con.execute(
            "select count(*) from raw.sales where _source_file = ?", [f"sales/{target.name}"]
        ).fetchall()[0][0]
    assert n > 0


# --------------------------------------------------------------------------------------------
# write-audit-publish


def _published(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            t: con.execute(f"select * from published.{t} order by all").df()
            for t in ("purchase_order_proposals", "transfer_orders", "plan_versions")
        }


def test_publish_rejects_a_corrupted_plan_and_keeps_the_last_good_one(warehouse_copy: Path):
    from orchestration.defs.quality.publish import published_plan

    resources = {"warehouse": DuckDBResource(database=str(warehouse_copy))}
    first = dg.materialize([published_plan], resources=resources)
    assert first.success
    before = _published(warehouse_copy)
    versions_before = before["plan_versions"]
    mine = versions_before[versions_before["dagster_run_id"] == first.run_id]
    assert list(mine["status"]) == ["published"]
    assert mine["plan_id"].iloc[0].endswith(first.run_id[:8])

    with duckdb.connect(str(warehouse_copy)) as con:
        # a DC line half a unit off whole cases, and a store line with a negative quantity
        con.execute(
            """update inventory.replenishment_recommendations set order_qty = order_qty + 0.5
               where (sku, location_id) in (select sku, location_id
                   from inventory.replenishment_recommendations
                   where ship_from_type = 'supplier' order by sku, location_id limit 1)"""
        )
        con.execute(
            """update inventory.replenishment_recommendations set order_qty = -case_pack
               where (sku, location_id) in (select sku, location_id
                   from inventory.replenishment_recommendations
                   where ship_from_type = 'location' order by sku, location_id limit 1)"""
        )
    second = dg.materialize([published_plan], resources=resources, raise_on_error=False)
    assert not second.success
    failure = next(e for e in second.all_events if e.event_type_value == "STEP_FAILURE")
    assert "rejected, the published plan is unchanged" in failure.event_specific_data.error.message

    after = _published(warehouse_copy)
    pd.testing.assert_frame_equal(
        after["purchase_order_proposals"], before["purchase_order_proposals"]
    )
    pd.testing.assert_frame_equal(after["transfer_orders"], before["transfer_orders"])
    versions = after["plan_versions"].sort_values("created_at")
    assert list(versions["status"]) == [*before["plan_versions"]["status"], "rejected"]
    rejected = versions.iloc[-1]
    assert rejected["dagster_run_id"] == second.run_id
    failed = json.loads(rejected["failed_checks"])
    assert any("case_remainder" in f for f in failed)
    assert any("(order_qty)" in f for f in failed)
    assert "FAILED" in Path(rejected["report_path"]).read_text()


def test_table_suites_fail_on_a_corrupted_mart_and_forecast(warehouse_copy: Path, tmp_path: Path):
    db = tmp_path / "corrupt.duckdb"
    shutil.copy(warehouse_copy, db)
    with duckdb.connect(str(db)) as con:
        sku, loc = con.execute(
            "select sku, location_id from marts.fct_daily_demand group by all "
            "having count(*) > 30 order by all limit 1"
        ).fetchall()[0]
        con.execute(
            "delete from marts.fct_daily_demand where sku = ? and location_id = ? and "
            "demand_date in (select demand_date from marts.fct_daily_demand where sku = ? "
            "and location_id = ? order by demand_date limit 3 offset 10)",
            [sku, loc, sku, loc],
        )
        con.execute(
            "update forecasting.demand_forecast set q50 = q95 + 5 where (sku, location_id, "
            "horizon) in (select sku, location_id, horizon from forecasting.demand_forecast "
            "order by all limit 1)"
        )
        con.execute(
            "update inventory.allocation_plan set alloc_units = alloc_units + 1000 where (sku, "
            "dc_id) in (select sku, dc_id from inventory.allocation_plan order by all limit 1)"
        )
        outcomes = {}
        for suite in (
            "marts_fct_daily_demand",
            "forecasting_demand_forecast",
            "inventory_allocation_plan",
        ):
            frame, context = tables.load_frame(con, suite)
            outcomes[suite] = checks.validate_frame(suite, frame, context=context)
    demand = {r["column"]: r for r in outcomes["marts_fct_daily_demand"].failed_expectations()}
    assert set(demand) == {"missing_days"}
    assert demand["missing_days"]["partial_unexpected_list"] == [3]
    assert demand["missing_days"]["partial_unexpected_index_list"][0]["sku"] == sku
    forecast = {r["column"] for r in outcomes["forecasting_demand_forecast"].failed_expectations()}
    assert "q75,q50" in forecast and "q95,q90" not in forecast
    allocation = {r["column"] for r in outcomes["inventory_allocation_plan"].failed_expectations()}
    assert "dc_overallocation" in allocation
