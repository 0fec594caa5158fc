"""The export files: ERP column names, order and types, text formats, manifest checksums,
atomic folders, pruning, and refusal of plans the ERP could not trust."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.erp.files import prune_exports, verify_export, write_export
from orchestration.erp.plan import read_published_plan
from orchestration.erp.schemas import (
    FILE_SCHEMAS,
    PURCHASE_ORDER_PROPOSALS,
    TRANSFER_ORDERS,
    ExportSchemaError,
    line_payloads,
    to_erp_frame,
)
from tests.export.conftest import make_plan, publish

PO_COLUMNS = [
    "plan_id",
    "line_id",
    "idempotency_key",
    "supplier_code",
    "ship_to_site_code",
    "item_code",
    "quantity_units",
    "case_pack_units",
    "quantity_cases",
    "unit_cost",
    "line_value",
    "order_date",
    "expected_receipt_date",
    "reason",
    "published_at",
]
TR_COLUMNS = [
    "plan_id",
    "line_id",
    "idempotency_key",
    "from_site_code",
    "to_site_code",
    "item_code",
    "quantity_units",
    "case_pack_units",
    "quantity_cases",
    "order_date",
    "expected_receipt_date",
    "allocation_method",
    "reason",
    "published_at",
]
PLAN = "PLAN-20260601-abcdef12"


def _frames(plan_id: str = PLAN, **kw) -> dict[str, pd.DataFrame]:
    plan = make_plan(plan_id, **kw)
    return {name: to_erp_frame(s, plan[name]) for name, s in FILE_SCHEMAS.items()}


def test_erp_columns_are_renamed_ordered_and_sorted_by_line_id() -> None:
    plan = make_plan(PLAN)
    po = to_erp_frame(PURCHASE_ORDER_PROPOSALS, plan["purchase_order_proposals"])
    tr = to_erp_frame(TRANSFER_ORDERS, plan["transfer_orders"])
    assert list(po.columns) == PO_COLUMNS and list(tr.columns) == TR_COLUMNS
    assert po["line_id"].tolist() == sorted(plan["purchase_order_proposals"]["line_id"])
    src = plan["purchase_order_proposals"].set_index("line_id").loc[po["line_id"]]
    assert po["item_code"].tolist() == src["sku"].tolist()
    assert po["supplier_code"].tolist() == src["supplier_id"].tolist()
    assert po["quantity_units"].tolist() == src["order_qty"].tolist()
    assert po["line_value"].tolist() == src["order_value"].tolist()
    assert (po["idempotency_key"] == PLAN + ":" + po["line_id"]).all()
    assert po["published_at"].iloc[0] == pd.Timestamp("2026-06-01 04:12:30", tz="UTC")


def test_csv_and_parquet_follow_the_documented_schema(tmp_path: Path) -> None:
    frames = _frames()
    result = write_export(tmp_path, PLAN, frames)
    folder = tmp_path / PLAN
    assert result.written and result.folder == folder
    with (folder / "purchase_order_proposals.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == PO_COLUMNS
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["order_date"] == "2026-06-01"
    assert first["published_at"] == "2026-06-01T04:12:30Z"
    assert (
        first["expected_receipt_date"].count("-") == 2 and len(first["expected_receipt_date"]) == 10
    )
    # the line without a reason is an empty field, not "None" or "nan"
    reasons = [r[PO_COLUMNS.index("reason")] for r in rows[1:]]
    assert "" in reasons and not any(r in ("None", "nan", "<NA>") for r in reasons)
    # numbers round-trip exactly
    back = pd.read_csv(folder / "purchase_order_proposals.csv")
    assert back["line_value"].tolist() == frames["purchase_order_proposals"]["line_value"].tolist()

    table = pq.read_table(folder / "transfer_orders.parquet")
    assert table.column_names == TR_COLUMNS
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    assert types["quantity_units"] == pa.float64()
    assert types["order_date"] == pa.date32()
    assert types["published_at"] == pa.timestamp("us", tz="UTC")
    assert types["item_code"] == pa.string()
    assert table.num_rows == len(frames["transfer_orders"])
    assert table.column("line_id").to_pylist() == frames["transfer_orders"]["line_id"].tolist()


def test_manifest_counts_rows_and_checksums_every_file(tmp_path: Path) -> None:
    frames = _frames(n_po=4, n_tr=9)
    write_export(tmp_path, PLAN, frames, plan={"dagster_run_id": "r1"})
    folder = tmp_path / PLAN
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["schema_version"] == "1.0" and manifest["plan_id"] == PLAN
    assert manifest["row_counts"] == {"purchase_order_proposals": 4, "transfer_orders": 9}
    assert datetime.strptime(manifest["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert manifest["plan"] == {"dagster_run_id": "r1"}
    names = {e["name"] for e in manifest["files"]}
    assert names == {f"{n}.{f}" for n in FILE_SCHEMAS for f in ("csv", "parquet")}
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    csv_rows = sum(1 for _ in (folder / "transfer_orders.csv").open()) - 1
    assert csv_rows == 9
    assert [c["name"] for c in manifest["columns"]["transfer_orders"]] == TR_COLUMNS
    assert sorted(p.name for p in folder.iterdir()) == sorted(names | {"manifest.json"})


def test_an_existing_valid_export_is_left_alone_and_a_tampered_one_is_replaced(
    tmp_path: Path,
) -> None:
    first = write_export(tmp_path, PLAN, _frames())
    again = write_export(tmp_path, PLAN, _frames())
    assert first.written and not again.written
    assert again.manifest["created_at"] == first.manifest["created_at"]

    target = tmp_path / PLAN / "transfer_orders.csv"
    target.write_text(target.read_text().replace("DC01", "DC99", 1))
    assert verify_export(tmp_path / PLAN) == [
        "transfer_orders.csv: sha256 does not match the manifest"
    ]
    fixed = write_export(tmp_path, PLAN, _frames())
    assert fixed.written and fixed.replaced_invalid
    assert verify_export(tmp_path / PLAN) == []
    assert "DC99" not in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [PLAN]  # no temp or old folder left


def test_a_failed_write_leaves_no_folder_behind(tmp_path: Path) -> None:
    frames = _frames()
    frames["transfer_orders"] = frames["transfer_orders"].drop(columns=["reason"])
    with pytest.raises(ValueError, match="transfer_orders: columns"):
        write_export(tmp_path, PLAN, frames)
    assert list(tmp_path.iterdir()) == []


def test_pruning_keeps_the_newest_folders_and_the_current_one(tmp_path: Path) -> None:
    for day in range(1, 6):
        write_export(
            tmp_path,
            f"PLAN-2026060{day}-aaaaaaaa",
            _frames(f"PLAN-2026060{day}-aaaaaaaa", n_po=1, n_tr=1),
            now=datetime(2026, 6, day, tzinfo=UTC),
        )
    (tmp_path / "notes").mkdir()  # not an export: never touched
    stale = tmp_path / ".tmp-PLAN-x-1234"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    removed = prune_exports(tmp_path, keep=2, protect="PLAN-20260601-aaaaaaaa")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [
        "PLAN-20260601-aaaaaaaa",
        "PLAN-20260604-aaaaaaaa",
        "PLAN-20260605-aaaaaaaa",
        "notes",
    ]
    assert set(removed) == {"PLAN-20260602-aaaaaaaa", "PLAN-20260603-aaaaaaaa", stale.name}


def test_payloads_carry_the_file_values_and_the_key() -> None:
    frames = _frames()
    payloads = line_payloads(PURCHASE_ORDER_PROPOSALS, frames["purchase_order_proposals"])
    first = payloads[0]
    assert list(first)[:2] == ["schema_version", "kind"]
    assert first["kind"] == "purchase_order_proposal"
    assert list(first)[2:] == PO_COLUMNS
    assert first["idempotency_key"] == f"{PLAN}:{first['line_id']}"
    assert first["order_date"] == "2026-06-01" and first["published_at"] == "2026-06-01T04:12:30Z"
    assert isinstance(first["quantity_units"], float)
    assert json.loads(json.dumps(payloads)) == payloads
    assert any(p["reason"] is None for p in payloads)


def test_a_plan_with_a_duplicate_line_or_missing_column_is_refused() -> None:
    po = make_plan(PLAN)["purchase_order_proposals"]
    dup = pd.concat([po, po.head(1)])
    with pytest.raises(ExportSchemaError, match="duplicate line_id"):
        to_erp_frame(PURCHASE_ORDER_PROPOSALS, dup)
    with pytest.raises(ExportSchemaError, match=r"lacks column\(s\) \['unit_cost'\]"):
        to_erp_frame(PURCHASE_ORDER_PROPOSALS, po.drop(columns=["unit_cost"]))
    neg = po.copy()
    neg.loc[neg.index[0], "order_qty"] = -6.0
    with pytest.raises(ExportSchemaError, match="negative"):
        to_erp_frame(PURCHASE_ORDER_PROPOSALS, neg)
    inf = po.copy()
    inf.loc[inf.index[0], "order_value"] = float("inf")
    with pytest.raises(ExportSchemaError, match="infinite"):
        to_erp_frame(PURCHASE_ORDER_PROPOSALS, inf)
    bad = po.copy()
    bad.loc[bad.index[0], "line_id"] = "../etc"
    with pytest.raises(ExportSchemaError, match="unsafe line_id"):
        to_erp_frame(PURCHASE_ORDER_PROPOSALS, bad)


def test_published_plan_is_read_and_cross_checked_with_its_version(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        assert read_published_plan(con) is None  # nothing published yet
    publish(db, make_plan(PLAN, n_po=3, n_tr=2))
    with duckdb.connect(str(db)) as con:
        plan = read_published_plan(con)
    assert plan is not None and plan.plan_id == PLAN
    assert plan.row_counts == {"purchase_order_proposals": 3, "transfer_orders": 2}
    # lines and version record disagree: refuse rather than export a half-swapped plan
    with duckdb.connect(str(db)) as con:
        con.execute(
            "delete from published.transfer_orders where line_id = (select min(line_id) from published.transfer_orders)"
        )
    with duckdb.connect(str(db)) as con, pytest.raises(ExportSchemaError, match="has 1 lines"):
        read_published_plan(con)
    newer = make_plan("PLAN-20260608-12345678", n_po=1, n_tr=1)
    newer["plan_versions"]["created_at"] = pd.Timestamp("2026-06-08")
    with duckdb.connect(str(db)) as con:
        con.register("_v", newer["plan_versions"])
        con.execute("insert into published.plan_versions by name select * from _v")
    with duckdb.connect(str(db)) as con, pytest.raises(ExportSchemaError, match="latest published"):
        read_published_plan(con)
