"""The dbt project end to end on a hand-built dirty ERP drop: landing -> raw -> staging -> marts.

The drop (tests/fixtures/dirty_drop, plus two Parquet files written here with typed columns) holds
one example of each defect the contract quarantines and each edge the marts must get right:
exact duplicates (within and across files), customer returns, an unknown SKU, a missing required
value, a bad date, mixed valid date formats, CS units of measure, negative on hand, partial
receipts, a PO line without receipt, a receipt for an unknown PO line, transfers in transit,
re-exported versions (items, PO line, snapshot, transfer) and price changes.

It is loaded with the real loader and built once per module with `dbt build` (unit tests and
data tests included) into a temporary DuckDB file. Every expected value below is worked out by
hand from the fixture files; the comments say how.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration.ingest.contract import CONTRACT
from orchestration.ingest.landing import load_landing

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"
FIXTURE = Path(__file__).parent / "fixtures" / "dirty_drop"
DBT = Path(sys.executable).parent / "dbt"

D = dt.date.fromisoformat


# --------------------------------------------------------------------------------------------
# helpers and fixtures
# --------------------------------------------------------------------------------------------


def write_landing(landing: Path, extracts: set[str] | None = None) -> None:
    """The fixture drop as a landing folder; `extracts` limits it to some extracts."""
    shutil.copytree(FIXTURE, landing, ignore=shutil.ignore_patterns("*.md"))
    (landing / "promotions").mkdir()
    ts = dt.datetime.fromisoformat
    pq.write_table(
        pa.table(
            {
                "promo_id": ["P1", "P2", "P3"],
                "sku": ["SKU-A", "SKU-C", "SKU-A"],
                "location_id": ["S1", None, "S1"],  # None: every location
                "start_date": pa.array(
                    [ts("2024-01-06"), ts("2024-01-07"), ts("2024-01-09")], pa.timestamp("us")
                ),
                # P3 ends before it starts: invalid_value
                "end_date": pa.array(
                    [ts("2024-01-07"), ts("2024-01-08"), ts("2024-01-08")], pa.timestamp("us")
                ),
                "discount_pct": [10.0, 20.0, 5.0],
                "promo_type": ["TPR", "BOGO", "TPR"],
            }
        ),
        landing / "promotions" / "promotions.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "transfer_id": ["T1", "T2", "T3", "T4"],
                "sku": ["SKU-A", "SKU-A", "SKU-B", "SKU-B"],
                "from_location_id": ["DC1", "DC1", "DC1", "DC1"],
                "to_location_id": ["S1", "S2", "S2", "DC1"],  # T4 from = to: invalid_value
                "ship_date": pa.array(
                    [D("2024-01-08"), D("2024-01-03"), D("2024-01-09"), D("2024-01-09")],
                    pa.date32(),
                ),
                # T1 and T3 in transit; T3 is received in transfers_update.csv (loaded later)
                "receipt_date": pa.array([None, D("2024-01-05"), None, None], pa.date32()),
                "quantity": [12.0, 6.0, 3.0, 1.0],
            }
        ),
        landing / "transfers" / "transfers.parquet",
    )
    if extracts is not None:
        for folder in landing.iterdir():
            if folder.is_dir() and folder.name not in extracts:
                shutil.rmtree(folder)


def build_warehouse(landing: Path, warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        report = load_landing(con, landing)
    finally:
        con.close()
    assert report.rejected == [], [f.reason for f in report.rejected]


def run_dbt(
    args: list[str], warehouse: Path, work_dir: Path, project_dir: Path = DBT_PROJECT
) -> subprocess.CompletedProcess[str]:
    """Run dbt as the platform does, with target/ and logs/ kept out of the source tree."""
    env = {
        **os.environ,
        "STOCKPILOT_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [
        str(DBT),
        *args,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]  # fmt: skip
    return subprocess.run(
        cmd, env=env, cwd=project_dir, capture_output=True, text=True, timeout=900, check=False
    )


def run_results(work_dir: Path) -> dict[str, str]:
    """unique_id -> status of the last dbt invocation that wrote to work_dir/target."""
    results = json.loads((work_dir / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r["status"] for r in results["results"]}


class Built:
    def __init__(self, warehouse: Path, work_dir: Path, result: subprocess.CompletedProcess[str]):
        self.warehouse = warehouse
        self.work_dir = work_dir
        self.result = result

    def rows(self, sql: str) -> list[tuple]:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def df(self, sql: str) -> pd.DataFrame:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return con.execute(sql).df()
        finally:
            con.close()


def _build(tmp: Path, extracts: set[str] | None = None) -> Built:
    landing = tmp / "landing"
    write_landing(landing, extracts)
    warehouse = tmp / "warehouse.duckdb"
    # The real loader (the same code path as the ingest assets).
    build_warehouse(landing, warehouse)
    result = run_dbt(["build"], warehouse, tmp)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return Built(warehouse, tmp, result)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The full dirty drop, loaded and built once for the module."""
    return _build(tmp_path_factory.mktemp("dbt_marts"))


# --------------------------------------------------------------------------------------------
# the build itself
# --------------------------------------------------------------------------------------------


def test_dbt_build_runs_every_unit_test_and_data_test_and_all_pass(built: Built) -> None:
    statuses = run_results(built.work_dir)
    failed = {uid: s for uid, s in statuses.items() if s not in ("success", "pass")}
    assert failed == {}
    unit_tests = {uid.split(".")[-1] for uid in statuses if uid.startswith("unit_test.")}
    assert {
        "stg_erp__sales_parses_every_accepted_date_format",
        "stg_erp__sales_flags_later_exact_copies_as_duplicates",
        "int_sales__validated_converts_cases_and_separates_returns",
        "int_items__latest_picks_the_last_loaded_version",
        "fct_daily_demand_flags_stockouts_and_weights_net_price",
        "fct_purchase_order_lines_lead_time_with_partial_receipts",
    } <= unit_tests
    data_tests = [uid for uid in statuses if uid.startswith("test.")]
    assert len(data_tests) > 150
    marts = {uid.split(".")[-1] for uid in statuses if uid.startswith("model.")}
    assert {
        "dim_items", "dim_locations", "dim_suppliers", "fct_daily_demand",
        "fct_inventory_positions", "fct_purchase_order_lines", "quarantine_rows",
        "ingest_reconciliation",
    } <= marts  # fmt: skip


def test_models_land_in_plain_schemas_not_main_prefixed(built: Built) -> None:
    schemas = {
        r[0]
        for r in built.rows(
            "select distinct table_schema from information_schema.tables "
            "where table_schema not in ('raw', 'information_schema', 'pg_catalog')"
        )
    }
    assert schemas == {"staging", "intermediate", "marts"}


# --------------------------------------------------------------------------------------------
# quarantine and reconciliation
# --------------------------------------------------------------------------------------------

EXPECTED_QUARANTINE = {
    # items_v1: SKU-E cost 'abc'; SKU-F no category; SKU-G cost -1; row 8 = copy of row 2 (SKU-B).
    ("items", "items/items_v1.csv", 5, "unparseable_number"),
    ("items", "items/items_v1.csv", 6, "missing_required_value"),
    ("items", "items/items_v1.csv", 7, "invalid_value"),
    ("items", "items/items_v1.csv", 8, "duplicate_row"),
    # items_v2 re-sends SKU-B unchanged (extra column ignored): a copy of items_v1 row 2.
    ("items", "items/items_v2.csv", 2, "duplicate_row"),
    # S3 type SHOP; S4 replenished from DC9, which does not exist.
    ("locations", "locations/locations.csv", 4, "invalid_value"),
    ("locations", "locations/locations.csv", 5, "unknown_location"),
    ("sales", "sales/2024-01/sales_week1.csv", 6, "duplicate_row"),  # copy of row 5
    ("sales", "sales/2024-01/sales_week1.csv", 7, "unparseable_date"),  # 2024-13-01
    ("sales", "sales/2024-01/sales_week1.csv", 8, "unknown_sku"),  # SKU-Z
    ("sales", "sales/2024-01/sales_week1.csv", 9, "unknown_location"),  # S9
    ("sales", "sales/2024-01/sales_week1.csv", 10, "missing_required_value"),  # no sku
    ("sales", "sales/2024-01/sales_week1.csv", 11, "unparseable_number"),  # "1,5"
    ("sales", "sales/2024-01/sales_week1.csv", 12, "invalid_value"),  # uom BOX
    ("sales", "sales/2024-01/sales_week1.csv", 13, "unparseable_boolean"),  # maybe
    ("sales", "sales/2024-01/sales_week1.csv", 14, "unknown_location"),  # S4 was quarantined
    ("sales", "sales/2024-01/sales_week2.csv", 1, "duplicate_row"),  # copy across files
    ("suppliers", "suppliers/suppliers.csv", 2, "missing_required_value"),
    ("inventory_snapshots", "inventory_snapshots/snapshots_a.csv", 6, "invalid_value"),  # -3
    ("inventory_snapshots", "inventory_snapshots/snapshots_a.csv", 9, "duplicate_row"),
    ("inventory_snapshots", "inventory_snapshots/snapshots_a.csv", 10, "unparseable_date"),
    ("purchase_orders", "purchase_orders/po.csv", 5, "unknown_supplier"),  # SUP9
    ("purchase_orders", "purchase_orders/po.csv", 6, "invalid_value"),  # order_qty 0
    ("purchase_orders", "purchase_orders/po.csv", 7, "invalid_value"),  # status PENDING
    ("receipts", "receipts/receipts.csv", 4, "duplicate_row"),
    ("receipts", "receipts/receipts.csv", 5, "unknown_po_line"),  # PO9
    ("receipts", "receipts/receipts.csv", 6, "invalid_value"),  # before the PO order date
    ("receipts", "receipts/receipts.csv", 7, "unknown_po_line"),  # PO3/1 was quarantined
    ("receipts", "receipts/receipts.csv", 8, "invalid_value"),  # received -1
    ("promotions", "promotions/promotions.parquet", 3, "invalid_value"),  # ends before start
    ("price_changes", "price_changes/prices.csv", 2, "unknown_location"),  # S9
    ("price_changes", "price_changes/prices.csv", 4, "invalid_value"),  # price 0
    ("transfers", "transfers/transfers.parquet", 4, "invalid_value"),  # DC1 -> DC1
}


def test_quarantine_holds_exactly_the_dirty_rows(built: Built) -> None:
    got = built.rows("select extract, source_file, source_row, reason from marts.quarantine_rows")
    assert len(got) == len(set(got))
    assert set(got) == EXPECTED_QUARANTINE


def test_quarantine_record_is_the_raw_row_as_received(built: Built) -> None:
    records = dict(
        built.rows(
            "select source_row, record from marts.quarantine_rows "
            "where source_file = 'sales/2024-01/sales_week1.csv'"
        )
    )
    assert json.loads(records[11]) == {
        "sale_date": "2024-01-06", "sku": "SKU-A", "location_id": "S1", "quantity": "1,5",
        "uom": "EA", "net_price": "5.00", "promo_flag": None,
    }  # fmt: skip
    assert json.loads(records[10])["sku"] is None
    # A Parquet row: typed values arrive as text, NULL stays null.
    (transfer,) = built.rows(
        "select record from marts.quarantine_rows where extract = 'transfers'"
    )[0]
    assert json.loads(transfer) == {
        "transfer_id": "T4", "sku": "SKU-B", "from_location_id": "DC1", "to_location_id": "DC1",
        "ship_date": "2024-01-09", "receipt_date": None, "quantity": "1.0",
    }  # fmt: skip


def test_every_loaded_row_is_accepted_or_quarantined(built: Built) -> None:
    got = {
        r[0]: r[1:]
        for r in built.rows(
            "select extract, files_loaded, rows_loaded, rows_accepted, rows_quarantined "
            "from marts.ingest_reconciliation"
        )
    }
    assert got == {
        # extract: (files, loaded, accepted, quarantined)
        "items": (2, 11, 6, 5),
        "locations": (1, 5, 3, 2),
        "sales": (2, 19, 9, 10),
        "suppliers": (1, 2, 1, 1),
        "inventory_snapshots": (2, 12, 9, 3),
        "purchase_orders": (2, 9, 6, 3),
        "receipts": (1, 8, 3, 5),
        "promotions": (1, 3, 2, 1),
        "price_changes": (1, 4, 2, 2),
        "transfers": (2, 5, 4, 1),
    }
    for _files, loaded, accepted, quarantined in got.values():
        assert loaded == accepted + quarantined


# --------------------------------------------------------------------------------------------
# fct_daily_demand
# --------------------------------------------------------------------------------------------

DEMAND_COLUMNS = [
    "demand_date", "units_sold", "units_returned", "net_price", "regular_price", "is_promo",
    "on_hand_qty", "is_stockout", "is_stock_known",
]  # fmt: skip


def test_daily_demand_of_one_sku_location_day_by_day(built: Built) -> None:
    got = built.df(
        f"select {', '.join(DEMAND_COLUMNS)} from marts.fct_daily_demand "
        "where sku = 'SKU-A' and location_id = 'S1' order by demand_date"
    )
    nan = float("nan")
    # SKU-A regular price: 5.50 (items_v2 replaced 5.00), 6.00 from the 01-07 price change.
    # 01: snapshot 10, no sale. 02: 3 @ 5.00. 03: 2 without price -> 5.50, snapshot 0 (stockout).
    # 04: 1 CS = 6 units @ 4.50, promo_flag yes. 05: 4 @ 5.00 (its two copies quarantined) and a
    # return of 2. 06: every row quarantined -> 0; promotion P1; snapshot 0 (stockout, no sale).
    # 07: P1, new regular price 6.00. 08: 5 without price -> 6.00. 09: ' sku-a '/'s1' 1 @ 5.00
    # promo TRUE. 10: snapshot 7, corrected to 8 by a later file.
    expected = pd.DataFrame(
        [
            ("2024-01-01", 0.0, 0.0, 5.5, 5.5, False, 10.0, False, True),
            ("2024-01-02", 3.0, 0.0, 5.0, 5.5, False, nan, False, False),
            ("2024-01-03", 2.0, 0.0, 5.5, 5.5, False, 0.0, True, True),
            ("2024-01-04", 6.0, 0.0, 4.5, 5.5, True, 5.0, False, True),
            ("2024-01-05", 4.0, 2.0, 5.0, 5.5, False, nan, False, False),
            ("2024-01-06", 0.0, 0.0, 5.5, 5.5, True, 0.0, True, True),
            ("2024-01-07", 0.0, 0.0, 6.0, 6.0, True, nan, False, False),
            ("2024-01-08", 5.0, 0.0, 6.0, 6.0, False, nan, False, False),
            ("2024-01-09", 1.0, 0.0, 5.0, 6.0, True, nan, False, False),
            ("2024-01-10", 0.0, 0.0, 6.0, 6.0, False, 8.0, False, True),
        ],
        columns=DEMAND_COLUMNS,
    )
    expected["demand_date"] = pd.to_datetime(expected["demand_date"])
    got["demand_date"] = pd.to_datetime(got["demand_date"])
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_daily_demand_is_dense_from_first_activity_to_last_sales_date(built: Built) -> None:
    got = {
        (r[0], r[1]): r[2:]
        for r in built.rows(
            "select sku, location_id, min(demand_date), max(demand_date), count(*) "
            "from marts.fct_daily_demand group by all"
        )
    }
    assert got == {
        # first day = first sale or snapshot; last day = last sales date of the extract (01-10)
        ("SKU-A", "S1"): (D("2024-01-01"), D("2024-01-10"), 10),  # snapshot on 01-01
        ("SKU-A", "DC1"): (D("2024-01-10"), D("2024-01-10"), 1),  # a snapshot, never a sale
        ("SKU-B", "S2"): (D("2024-01-08"), D("2024-01-10"), 3),  # snapshot before first sale
        ("SKU-C", "S1"): (D("2024-01-07"), D("2024-01-10"), 4),  # its only snapshot was bad
    }


def test_daily_demand_prices_and_promotions_of_other_series(built: Built) -> None:
    got = built.rows(
        "select sku, location_id, demand_date, units_sold, net_price, regular_price, is_promo "
        "from marts.fct_daily_demand where sku in ('SKU-B', 'SKU-C') order by all"
    )
    p = Decimal
    assert got == [
        # SKU-B at S2: its own price change to 4.20 from 01-09; 2 units without price on 01-10.
        ("SKU-B", "S2", D("2024-01-08"), p("0"), p("4"), p("4"), False),
        ("SKU-B", "S2", D("2024-01-09"), p("0"), p("4.2"), p("4.2"), False),
        ("SKU-B", "S2", D("2024-01-10"), p("2"), p("4.2"), p("4.2"), False),
        # SKU-C at S1: 2 CS x 12 = 24 units @ 7.00; P2 covers every location on 01-07 and 01-08;
        # its price change to 0 was rejected, so 8.00 stays.
        ("SKU-C", "S1", D("2024-01-07"), p("24"), p("7"), p("8"), True),
        ("SKU-C", "S1", D("2024-01-08"), p("0"), p("8"), p("8"), True),
        ("SKU-C", "S1", D("2024-01-09"), p("0"), p("8"), p("8"), False),
        ("SKU-C", "S1", D("2024-01-10"), p("0"), p("8"), p("8"), False),
    ]


def test_stockouts_are_exactly_the_known_zero_stock_days(built: Built) -> None:
    got = built.rows(
        "select sku, location_id, demand_date from marts.fct_daily_demand where is_stockout"
    )
    # SKU-B at S1 reported -3 (invalid, quarantined): it is neither a stockout nor a series.
    assert sorted(got) == [("SKU-A", "S1", D("2024-01-03")), ("SKU-A", "S1", D("2024-01-06"))]


# --------------------------------------------------------------------------------------------
# purchase orders and inventory positions
# --------------------------------------------------------------------------------------------


def test_purchase_order_lines_lead_times_and_fill_rates(built: Built) -> None:
    got = built.rows(
        "select po_number, po_line, supplier_id, sku, ship_to_location_id, status, order_date, "
        "promised_date, order_qty, received_qty, fill_rate, receipt_count, first_receipt_date, "
        "last_receipt_date, lead_time_days, qty_weighted_lead_time_days, days_late, is_open, "
        "open_qty from marts.fct_purchase_order_lines order by po_number, po_line"
    )
    p = Decimal
    assert got == [
        # Partial receipts 40 on 12-08 and 60 on 12-15 (the -1 receipt and the one dated before
        # the order are quarantined): lead 7, weighted (40*7 + 60*14) / 100 = 11.2, 2 days early.
        ("PO1", 1, "SUP1", "SKU-A", "DC1", "OPEN", D("2023-12-01"), D("2023-12-10"), p("100"),
         p("100"), p("1"), 2, D("2023-12-08"), D("2023-12-15"), 7, p("11.2"), -2, False, p("0")),
        # Re-exported with order_qty 60 (po_update.csv wins); 20 received once (its copy is a
        # duplicate_row): fill 20/60, 40 still open.
        ("PO1", 2, "SUP1", "SKU-B", "DC1", "OPEN", D("2023-12-01"), D("2023-12-10"), p("60"),
         p("20"), p("0.3333"), 1, D("2023-12-12"), D("2023-12-12"), 11, p("11"), 2, True,
         p("40")),
        # No receipt yet; order date YYYYMMDD, promised MM/DD/YYYY, empty status = OPEN.
        ("PO2", 1, "SUP2", "SKU-C", "S1", "OPEN", D("2023-12-05"), D("2023-12-20"), p("24"),
         p("0"), p("0"), 0, None, None, None, None, None, True, p("24")),
        ("PO2", 2, "SUP2", "SKU-C", "DC1", "CANCELLED", D("2023-12-05"), None, p("10"), p("0"),
         p("0"), 0, None, None, None, None, None, False, p("0")),
        # Supplier 'unknown' -> UNKNOWN, the inferred supplier of items without one.
        ("PO4", 1, "UNKNOWN", "SKU-D", "S2", "OPEN", D("2024-01-02"), None, p("10"), p("0"),
         p("0"), 0, None, None, None, None, None, True, p("10")),
    ]  # fmt: skip


def test_inventory_positions(built: Built) -> None:
    got = built.rows(
        "select sku, location_id, snapshot_date, on_hand_qty, on_order_qty, in_transit_qty, "
        "inventory_position_qty, is_stock_known from marts.fct_inventory_positions order by all"
    )
    p = Decimal
    assert got == [
        ("SKU-A", "DC1", D("2024-01-10"), p("100"), p("0"), p("0"), p("100"), True),
        # 8 on hand (corrected snapshot) + T1 (12) in transit.
        ("SKU-A", "S1", D("2024-01-10"), p("8"), p("0"), p("12"), p("20"), True),
        # No snapshot at DC1, 40 open on PO1/2.
        ("SKU-B", "DC1", None, p("0"), p("40"), p("0"), p("40"), False),
        # T3 was in transit in the Parquet file and received in the later update: not in transit.
        ("SKU-B", "S2", D("2024-01-08"), p("4"), p("0"), p("0"), p("4"), True),
        ("SKU-C", "S1", D("2024-01-10"), p("30"), p("24"), p("0"), p("54"), True),
        ("SKU-D", "S2", None, p("0"), p("10"), p("0"), p("10"), False),
    ]


# --------------------------------------------------------------------------------------------
# dimensions
# --------------------------------------------------------------------------------------------


def test_dim_items_current_versions_with_defaults(built: Built) -> None:
    got = built.rows(
        "select sku, unit_cost, unit_price, case_pack, moq, supplier_id, launch_date, "
        "substitute_group from marts.dim_items order by sku"
    )
    p = Decimal
    assert got == [
        ("SKU-A", p("2.1"), p("5.5"), 6, 12, "SUP1", D("2023-06-01"), "G1"),  # items_v2 wins
        ("SKU-B", p("1.5"), p("4"), 1, 1, "SUP1", None, "G1"),  # case_pack 1, moq = case_pack
        ("SKU-C", p("3"), p("8"), 12, 12, "SUP2", None, None),
        ("SKU-D", p("1"), p("2.5"), 1, 1, "UNKNOWN", None, None),  # '  sku-d ', no supplier
        ("SKU-H", p("2"), p("6"), 1, 1, "SUP2", D("2023-02-01"), None),  # 'sup2', DD.MM.YYYY
    ]


def test_dim_locations_and_suppliers(built: Built) -> None:
    assert built.rows(
        "select location_id, location_type, replenished_from, transfer_lead_time_days, open_date "
        "from marts.dim_locations order by location_id"
    ) == [
        ("DC1", "DC", None, 2, D("2020-01-01")),
        ("S1", "STORE", "DC1", 1, D("2021-03-15")),  # 'store' upper-cased
        ("S2", "STORE", "DC1", 2, D("2021-03-15")),  # default 2 days; 15.03.2021
    ]
    assert built.rows(
        "select supplier_id, supplier_name, default_lead_time_days, lead_time_source, "
        "is_inferred from marts.dim_suppliers order by supplier_id"
    ) == [
        ("SUP1", "Acme", 10, "supplier_extract", False),
        ("SUP2", None, 22, "items_median", True),  # median of SKU-C (20) and SKU-H (24)
        ("UNKNOWN", None, 14, "contract_default", True),  # SKU-D has no lead time
    ]


# --------------------------------------------------------------------------------------------
# the contract, the project and its tests
# --------------------------------------------------------------------------------------------


def test_dbt_sources_and_macros_follow_the_contract() -> None:
    sources = yaml.safe_load(
        (DBT_PROJECT / "models" / "staging" / "erp" / "_erp__sources.yml").read_text()
    )
    tables = {t["name"]: [c["name"] for c in t["columns"]] for t in sources["sources"][0]["tables"]}
    lineage = ["_source_file", "_source_row", "_file_checksum", "_loaded_at"]
    assert tables == {name: ex.column_names + lineage for name, ex in CONTRACT.items()}

    macro = (DBT_PROJECT / "macros" / "erp_contract.sql").read_text()
    literal = re.search(r"\{%- set columns = (\{.*?\}) -%\}", macro, re.S)
    assert literal is not None
    assert ast.literal_eval(literal.group(1)) == {n: ex.column_names for n, ex in CONTRACT.items()}


def test_dbt_parse_needs_no_warehouse(tmp_path: Path) -> None:
    warehouse = tmp_path / "missing" / "warehouse.duckdb"
    result = run_dbt(["parse"], warehouse, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "target" / "manifest.json").exists()
    assert not warehouse.parent.exists()


def test_a_wrong_unit_test_expectation_fails_the_build(built: Built, tmp_path: Path) -> None:
    """The unit tests assert values: an expectation that is off by one day fails `dbt build`."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    (project / "models" / "marts" / "zz_wrong_expectation.yml").write_text(
        """
version: 2
unit_tests:
  - name: deliberately_wrong_lead_time
    model: fct_purchase_order_lines
    given:
      - input: ref('int_purchase_orders__latest')
        rows:
          - {po_number: P1, po_line: 1, supplier_id: S, sku: A, ship_to_location_id: L,
             order_date: "2024-01-01", order_qty: 10, status: OPEN}
      - input: ref('int_receipts__validated')
        rows:
          - {po_number: P1, po_line: 1, receipt_date: "2024-01-08", received_qty: 10}
    expect:
      rows:
        - {po_number: P1, po_line: 1, lead_time_days: 8}  # it is 7
"""
    )
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built.warehouse, warehouse)
    result = run_dbt(
        ["build", "--select", "fct_purchase_order_lines"], warehouse, tmp_path, project
    )
    assert result.returncode != 0
    statuses = run_results(tmp_path)
    failing = {uid.split(".")[-1]: s for uid, s in statuses.items() if s in ("fail", "error")}
    assert failing == {"deliberately_wrong_lead_time": "fail"}
    assert statuses["model.stockpilot.fct_purchase_order_lines"] == "skipped"


def test_a_mart_breaking_its_promises_fails_the_data_tests(built: Built, tmp_path: Path) -> None:
    """Negative demand and a gap in the daily grid are caught by the mart's data tests."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built.warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "update marts.fct_daily_demand set units_sold = -1 "
            "where sku = 'SKU-A' and location_id = 'S1' and demand_date = '2024-01-02'"
        )
        con.execute(
            "delete from marts.fct_daily_demand "
            "where sku = 'SKU-C' and location_id = 'S1' and demand_date = '2024-01-08'"
        )
    finally:
        con.close()
    result = run_dbt(["test", "--select", "fct_daily_demand"], warehouse, tmp_path)
    assert result.returncode != 0
    statuses = run_results(tmp_path)
    failing = sorted(uid.split(".")[2] for uid, s in statuses.items() if s != "pass")
    assert len(failing) == 2, failing
    assert failing[0].startswith("dense_daily_series_fct_daily_demand_demand_date")
    assert failing[1].startswith("expression_is_true_fct_daily_demand_units_sold")
    assert sum(1 for s in statuses.values() if s == "pass") > 10


# --------------------------------------------------------------------------------------------
# fallbacks: only the required extracts
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def required_only(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Only items, locations and sales landed: every optional raw table exists but is empty."""
    return _build(tmp_path_factory.mktemp("dbt_required_only"), {"items", "locations", "sales"})


def test_without_optional_extracts_the_documented_fallbacks_apply(required_only: Built) -> None:
    # Suppliers inferred from items: SUP1 = median(7, 9) = 8 days.
    assert required_only.rows(
        "select supplier_id, default_lead_time_days, lead_time_source, is_inferred "
        "from marts.dim_suppliers order by supplier_id"
    ) == [
        ("SUP1", 8, "items_median", True),
        ("SUP2", 22, "items_median", True),
        ("UNKNOWN", 14, "contract_default", True),
    ]
    # Stock unknown everywhere; series start at the first sale; item prices only.
    assert required_only.rows(
        "select sku, location_id, min(demand_date), count(*), bool_or(is_stock_known), "
        "bool_or(is_stockout), min(regular_price), max(regular_price) "
        "from marts.fct_daily_demand group by all order by all"
    ) == [
        ("SKU-A", "S1", D("2024-01-02"), 9, False, False, Decimal("5.5"), Decimal("5.5")),
        ("SKU-B", "S2", D("2024-01-10"), 1, False, False, Decimal("4"), Decimal("4")),
        ("SKU-C", "S1", D("2024-01-07"), 4, False, False, Decimal("8"), Decimal("8")),
    ]
    assert required_only.rows("select count(*) from marts.fct_inventory_positions") == [(0,)]
    assert required_only.rows("select count(*) from marts.fct_purchase_order_lines") == [(0,)]
    reconciliation = {
        r[0]: r[1:]
        for r in required_only.rows(
            "select extract, rows_loaded, rows_accepted, rows_quarantined "
            "from marts.ingest_reconciliation"
        )
    }
    assert reconciliation["sales"] == (19, 9, 10)
    for extract in set(CONTRACT) - {"items", "locations", "sales"}:
        assert reconciliation[extract] == (0, 0, 0)
