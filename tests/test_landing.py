"""The raw loader: files kept as received, idempotent re-runs, atomic replacement, clear rejects."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.ingest.contract import CONTRACT
from orchestration.ingest.landing import LandingError, load_landing


def _write_minimal_drop(root: Path) -> None:
    (root / "items").mkdir(parents=True)
    (root / "locations").mkdir()
    (root / "sales").mkdir()
    (root / "items" / "items.csv").write_text(
        "SKU , category,unit_cost,unit_price,Colour\nA-1,FOOD,1.50,2.99,red\nB-2,FOOD,,3,\n"
    )
    (root / "locations" / "loc.csv").write_text("location_id,location_type\nS1,STORE\nDC1,DC\n")
    pd.DataFrame(
        {
            "sale_date": ["2025-01-01", "20250102", "02.01.2025"],
            "sku": ["A-1", "A-1", "B-2"],
            "location_id": ["S1", "S1", "S1"],
            "quantity": [1.5, -2.0, 3.0],
            "promo_flag": [True, False, None],
        }
    ).to_parquet(root / "sales" / "2025-01.parquet")


@pytest.fixture
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


def test_files_are_loaded_as_text_with_lineage(tmp_path: Path, con) -> None:
    _write_minimal_drop(tmp_path / "landing")
    report = load_landing(con, tmp_path / "landing")
    assert report.by_extract()["items"] == {
        "loaded_files": 1,
        "skipped_files": 0,
        "rejected_files": 0,
        "rows": 2,
    }
    items = con.execute(
        "SELECT sku, category, unit_cost, unit_price, case_pack, _source_file, _source_row "
        "FROM raw.items ORDER BY _source_row"
    ).fetchall()
    # Header " SKU " is matched case-insensitively; the empty unit_cost stays missing (NULL or '');
    # values are text exactly as in the file ("1.50" keeps its trailing zero).
    assert items[0] == ("A-1", "FOOD", "1.50", "2.99", None, "items/items.csv", 1)
    assert items[1][0] == "B-2" and items[1][2] in (None, "") and items[1][6] == 2
    sales = con.execute(
        "SELECT sale_date, quantity, promo_flag, _source_row FROM raw.sales ORDER BY _source_row"
    ).fetchall()
    assert sales == [
        ("2025-01-01", "1.5", "true", 1),
        ("20250102", "-2.0", "false", 2),
        ("02.01.2025", "3.0", None, 3),
    ]
    registry = con.execute(
        "SELECT extract, status, row_count, extra_columns FROM raw._file_registry ORDER BY extract"
    ).fetchall()
    assert registry == [
        ("items", "loaded", 2, "colour"),
        ("locations", "loaded", 2, None),
        ("sales", "loaded", 3, None),
    ]
    # every extract has a raw table, empty when it never landed
    for name in CONTRACT:
        con.execute(f"SELECT count(*) FROM raw.{name}").fetchall()
    assert con.execute("SELECT count(*) FROM raw.receipts").fetchall()[0][0] == 0


def test_rerun_with_the_same_files_changes_nothing(tmp_path: Path, con) -> None:
    _write_minimal_drop(tmp_path / "landing")
    load_landing(con, tmp_path / "landing")
    before = con.execute("SELECT * FROM raw._file_registry ORDER BY source_file").fetchall()
    report = load_landing(con, tmp_path / "landing")
    assert {f.status for f in report.files} == {"skipped"}
    assert con.execute("SELECT * FROM raw._file_registry ORDER BY source_file").fetchall() == before
    assert con.execute("SELECT count(*) FROM raw.sales").fetchall()[0][0] == 3


def test_a_corrected_reexport_replaces_the_rows_of_that_file(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    _write_minimal_drop(landing)
    load_landing(con, landing)
    (landing / "items" / "items.csv").write_text(
        "sku,category,unit_cost,unit_price\nA-1,FOOD,1.60,2.99\n"
    )
    report = load_landing(con, landing)
    items = [f for f in report.files if f.extract == "items"][0]
    assert (items.status, items.rows, items.replaced_rows) == ("loaded", 1, 2)
    assert con.execute("SELECT sku, unit_cost FROM raw.items").fetchall() == [("A-1", "1.60")]
    # both versions stay in the registry: the audit trail of what was received
    assert (
        con.execute(
            "SELECT count(*) FROM raw._file_registry WHERE source_file = 'items/items.csv'"
        ).fetchall()[0][0]
        == 2
    )


def test_going_back_to_an_earlier_version_of_a_file_loads_it_again(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    _write_minimal_drop(landing)
    items = landing / "items" / "items.csv"
    version_a = items.read_text()
    load_landing(con, landing)
    rows_a = con.execute("SELECT sku, unit_cost FROM raw.items ORDER BY sku").fetchall()
    items.write_text("sku,category,unit_cost,unit_price\nA-1,FOOD,1.60,2.99\n")
    load_landing(con, landing)
    assert con.execute("SELECT sku, unit_cost FROM raw.items").fetchall() == [("A-1", "1.60")]
    items.write_text(version_a)  # the ERP re-sends the first version
    report = load_landing(con, landing)
    [result] = [f for f in report.files if f.extract == "items"]
    assert (result.status, result.replaced_rows) == ("loaded", 1)
    assert con.execute("SELECT sku, unit_cost FROM raw.items ORDER BY sku").fetchall() == rows_a
    # and once more without a change: skipped
    again = [f for f in load_landing(con, landing).files if f.extract == "items"]
    assert again[0].status == "skipped"


def test_a_file_without_a_required_column_is_rejected_whole(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    _write_minimal_drop(landing)
    (landing / "sales" / "bad.csv").write_text("sale_date,sku,quantity\n2025-01-03,A-1,4\n")
    report = load_landing(con, landing)
    [rejected] = report.rejected
    assert rejected.source_file == "sales/bad.csv"
    assert "location_id" in rejected.reason
    assert (
        con.execute(
            "SELECT count(*) FROM raw.sales WHERE _source_file = 'sales/bad.csv'"
        ).fetchall()[0][0]
        == 0
    )
    assert con.execute(
        "SELECT status, row_count FROM raw._file_registry WHERE source_file = 'sales/bad.csv'"
    ).fetchall() == [("rejected", 0)]


def test_a_missing_required_extract_is_a_clear_error(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    _write_minimal_drop(landing)
    for p in (landing / "locations").iterdir():
        p.unlink()
    with pytest.raises(LandingError, match="required extract 'locations'"):
        load_landing(con, landing)


def test_a_missing_landing_folder_is_a_clear_error(tmp_path: Path, con) -> None:
    with pytest.raises(LandingError, match="does not exist"):
        load_landing(con, tmp_path / "nowhere")
