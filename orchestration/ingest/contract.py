"""The ERP data contract as code (mirrors docs/data-contract.md).

Dagster-free on purpose: the loader, the demo generator and the tests all read these tables, so
the contract is stated once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text | int | decimal | date | bool
    required: bool = False


@dataclass(frozen=True)
class Extract:
    name: str
    required: bool
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _c(name: str, type_: str, required: bool = False) -> Column:
    return Column(name, type_, required)


CONTRACT: dict[str, Extract] = {
    e.name: e
    for e in [
        Extract(
            "items",
            True,
            (
                _c("sku", "text", True),
                _c("description", "text"),
                _c("category", "text", True),
                _c("unit_cost", "decimal", True),
                _c("unit_price", "decimal", True),
                _c("case_pack", "int"),
                _c("moq", "int"),
                _c("supplier_id", "text"),
                _c("launch_date", "date"),
                _c("substitute_group", "text"),
                _c("default_lead_time_days", "int"),
            ),
        ),
        Extract(
            "locations",
            True,
            (
                _c("location_id", "text", True),
                _c("location_name", "text"),
                _c("location_type", "text", True),
                _c("region", "text"),
                _c("replenished_from", "text"),
                _c("transfer_lead_time_days", "int"),
                _c("capacity_units", "int"),
                _c("open_date", "date"),
            ),
        ),
        Extract(
            "sales",
            True,
            (
                _c("sale_date", "date", True),
                _c("sku", "text", True),
                _c("location_id", "text", True),
                _c("quantity", "decimal", True),
                _c("uom", "text"),
                _c("net_price", "decimal"),
                _c("promo_flag", "bool"),
            ),
        ),
        Extract(
            "suppliers",
            False,
            (
                _c("supplier_id", "text", True),
                _c("supplier_name", "text"),
                _c("default_lead_time_days", "int"),
                _c("order_cost", "decimal"),
                _c("country", "text"),
            ),
        ),
        Extract(
            "inventory_snapshots",
            False,
            (
                _c("snapshot_date", "date", True),
                _c("sku", "text", True),
                _c("location_id", "text", True),
                _c("on_hand_qty", "decimal", True),
            ),
        ),
        Extract(
            "purchase_orders",
            False,
            (
                _c("po_number", "text", True),
                _c("po_line", "int", True),
                _c("supplier_id", "text", True),
                _c("sku", "text", True),
                _c("ship_to_location_id", "text", True),
                _c("order_date", "date", True),
                _c("order_qty", "decimal", True),
                _c("promised_date", "date"),
                _c("unit_cost", "decimal"),
                _c("status", "text"),
            ),
        ),
        Extract(
            "receipts",
            False,
            (
                _c("po_number", "text", True),
                _c("po_line", "int", True),
                _c("receipt_date", "date", True),
                _c("received_qty", "decimal", True),
                _c("receipt_id", "text"),
            ),
        ),
        Extract(
            "promotions",
            False,
            (
                _c("promo_id", "text", True),
                _c("sku", "text", True),
                _c("location_id", "text"),
                _c("start_date", "date", True),
                _c("end_date", "date", True),
                _c("discount_pct", "decimal"),
                _c("promo_type", "text"),
            ),
        ),
        Extract(
            "price_changes",
            False,
            (
                _c("sku", "text", True),
                _c("location_id", "text"),
                _c("effective_date", "date", True),
                _c("unit_price", "decimal", True),
            ),
        ),
        Extract(
            "transfers",
            False,
            (
                _c("transfer_id", "text", True),
                _c("sku", "text", True),
                _c("from_location_id", "text", True),
                _c("to_location_id", "text", True),
                _c("ship_date", "date", True),
                _c("receipt_date", "date"),
                _c("quantity", "decimal", True),
            ),
        ),
    ]
}

LINEAGE_COLUMNS = ("_source_file", "_source_row", "_file_checksum", "_loaded_at")
