"""The ERP-facing schema of an exported plan: columns, types, units, and the JSON line payloads.

One definition serves the files (CSV and Parquet) and the REST payloads, so a column means the
same thing wherever the ERP reads it. The ERP-facing names differ from the warehouse's where the
warehouse name is internal vocabulary (``sku`` -> ``item_code``, ``ship_to_location_id`` ->
``ship_to_site_code``, ``order_qty`` -> ``quantity_units``); ``docs/erp-export.md`` lists the
mapping. Changing a column's name, type, unit or position is a breaking change: bump
``SCHEMA_VERSION`` (major) and say so in the docs. Adding a column at the end is a minor bump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

#: Version of the file and payload schema (manifest ``schema_version``, payload ``schema_version``).
SCHEMA_VERSION = "1.0"

ColumnType = Literal["string", "decimal", "date", "timestamp"]

#: Arrow types of the Parquet files, per column type.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "decimal": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

#: Text form of dates and timestamps in the CSV files and the JSON payloads.
DATE_FORMAT = "%Y-%m-%d"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: plan_id and line_id end up in folder names and URLs: keep them to a safe alphabet.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ExportSchemaError(ValueError):
    """The published plan cannot be exported as it is (missing column, duplicate line, ...)."""


@dataclass(frozen=True)
class Column:
    """One column of an exported file: ERP name, warehouse source column, type, unit, meaning."""

    name: str
    source: str | None  # warehouse column; None = derived (idempotency_key)
    type: ColumnType
    unit: str
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class FileSchema:
    """An exported file: its name (without suffix), the ledger ``kind`` of its lines, columns."""

    name: str
    kind: str
    source_table: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


_KEY_COLUMNS = (
    Column("plan_id", "plan_id", "string", "", "Published plan the line belongs to."),
    Column("line_id", "line_id", "string", "", "Line id, unique and stable within the plan."),
    Column(
        "idempotency_key",
        None,
        "string",
        "",
        "'<plan_id>:<line_id>'; the ERP must create at most one document per key.",
    ),
)

PURCHASE_ORDER_PROPOSALS = FileSchema(
    name="purchase_order_proposals",
    kind="purchase_order_proposal",
    source_table="published.purchase_order_proposals",
    columns=(
        *_KEY_COLUMNS,
        Column("supplier_code", "supplier_id", "string", "", "Supplier to order from."),
        Column("ship_to_site_code", "ship_to_location_id", "string", "", "Receiving DC."),
        Column("item_code", "sku", "string", "", "Item (SKU)."),
        Column("quantity_units", "order_qty", "decimal", "units (each)", "Quantity to order."),
        Column("case_pack_units", "case_pack", "decimal", "units per case", "Case pack."),
        Column("quantity_cases", "order_cases", "decimal", "cases", "quantity_units / case pack."),
        Column("unit_cost", "unit_cost", "decimal", "currency per unit", "Purchase cost."),
        Column("line_value", "order_value", "decimal", "currency", "quantity_units x unit_cost."),
        Column("order_date", "order_date", "date", "", "Day the order is to be placed."),
        Column(
            "expected_receipt_date", "expected_receipt_date", "date", "", "Planned receipt day."
        ),
        Column("reason", "reason", "string", "", "Why the line is proposed.", nullable=True),
        Column("published_at", "published_at", "timestamp", "UTC", "When the plan was published."),
    ),
)

TRANSFER_ORDERS = FileSchema(
    name="transfer_orders",
    kind="transfer_order",
    source_table="published.transfer_orders",
    columns=(
        *_KEY_COLUMNS,
        Column("from_site_code", "from_location_id", "string", "", "Shipping DC."),
        Column("to_site_code", "to_location_id", "string", "", "Receiving store."),
        Column("item_code", "sku", "string", "", "Item (SKU)."),
        Column("quantity_units", "transfer_qty", "decimal", "units (each)", "Quantity to move."),
        Column("case_pack_units", "case_pack", "decimal", "units per case", "Case pack."),
        Column(
            "quantity_cases", "transfer_cases", "decimal", "cases", "quantity_units / case pack."
        ),
        Column("order_date", "order_date", "date", "", "Day the transfer is to be released."),
        Column(
            "expected_receipt_date", "expected_receipt_date", "date", "", "Planned arrival day."
        ),
        Column(
            "allocation_method",
            "allocation_method",
            "string",
            "",
            "'order_up_to' (full store need) or 'marginal' (capped: the DC is short).",
        ),
        Column("reason", "reason", "string", "", "Why the line is proposed.", nullable=True),
        Column("published_at", "published_at", "timestamp", "UTC", "When the plan was published."),
    ),
)

FILE_SCHEMAS: dict[str, FileSchema] = {
    s.name: s for s in (PURCHASE_ORDER_PROPOSALS, TRANSFER_ORDERS)
}
SCHEMAS_BY_KIND: dict[str, FileSchema] = {s.kind: s for s in FILE_SCHEMAS.values()}


def idempotency_key(plan_id: str, line_id: str) -> str:
    """The ERP idempotency key of one line: ``'<plan_id>:<line_id>'``."""
    return f"{plan_id}:{line_id}"


def to_erp_frame(schema: FileSchema, published: pd.DataFrame) -> pd.DataFrame:
    """The published lines in the ERP schema: renamed, typed, in column order, sorted by line_id.

    Raises ``ExportSchemaError`` (and exports nothing) when a source column is missing, a
    required value is null, a line id is duplicated or unsafe, or a quantity is negative: the
    ERP must never receive a line it would have to guess about.
    """
    sources = [c.source for c in schema.columns if c.source is not None]
    missing = [c for c in sources if c not in published.columns]
    if missing:
        raise ExportSchemaError(
            f"{schema.source_table} lacks column(s) {missing}; expected {sources}"
        )
    out = pd.DataFrame(index=published.index)
    for col in schema.columns:
        if col.source is None:
            continue
        values = published[col.source]
        if col.type == "string":
            out[col.name] = values.astype("string")
        elif col.type == "decimal":
            out[col.name] = pd.to_numeric(values, errors="raise").astype("float64")
        elif col.type == "date":
            out[col.name] = pd.to_datetime(values).dt.normalize()
        else:
            stamps = pd.to_datetime(values)
            # the warehouse stores naive UTC timestamps
            out[col.name] = (
                stamps.dt.tz_localize("UTC")
                if stamps.dt.tz is None
                else stamps.dt.tz_convert("UTC")
            )
    out["idempotency_key"] = out["plan_id"] + ":" + out["line_id"]
    out = out[schema.column_names]

    required = [c.name for c in schema.columns if not c.nullable]
    nulls = {c: int(n) for c, n in out[required].isna().sum().items() if n}
    if nulls:
        raise ExportSchemaError(f"{schema.source_table}: null values in required columns {nulls}")
    dupes = out["line_id"][out["line_id"].duplicated()].unique().tolist()
    if dupes:
        raise ExportSchemaError(
            f"{schema.source_table}: duplicate line_id(s) {dupes[:5]} - idempotency keys would clash"
        )
    for col in ("plan_id", "line_id"):
        bad = out[col][~out[col].str.match(SAFE_ID.pattern)].unique().tolist()
        if bad:
            raise ExportSchemaError(f"{schema.source_table}: unsafe {col} value(s) {bad[:5]}")
    qty = [c.name for c in schema.columns if c.type == "decimal"]
    infinite = out[qty].abs().eq(float("inf")).sum()
    if infinite.any():
        raise ExportSchemaError(
            f"{schema.source_table}: infinite values {infinite[infinite > 0].to_dict()}"
        )
    negative = out[qty].lt(0).sum()
    if negative.any():
        raise ExportSchemaError(
            f"{schema.source_table}: negative values {negative[negative > 0].to_dict()}"
        )
    return out.sort_values("line_id", kind="stable").reset_index(drop=True)


def to_text_frame(schema: FileSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (ERP schema) with dates and timestamps as their documented text form."""
    out = frame.copy()
    for col in schema.columns:
        if col.type == "date":
            out[col.name] = out[col.name].dt.strftime(DATE_FORMAT)
        elif col.type == "timestamp":
            out[col.name] = out[col.name].dt.tz_convert("UTC").dt.strftime(TIMESTAMP_FORMAT)
    return out


def to_arrow(schema: FileSchema, frame: pd.DataFrame) -> pa.Table:
    """``frame`` (ERP schema) as an Arrow table with the documented types and column order."""
    arrow_schema = pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in schema.columns]
    )
    arrays = []
    for col in schema.columns:
        values = frame[col.name]
        if col.type == "date":
            values = values.dt.date
        elif col.type == "string":
            values = values.astype(object).where(values.notna(), None)
        arrays.append(pa.array(values, type=ARROW_TYPES[col.type], from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


def line_payloads(schema: FileSchema, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready payload per line (ERP schema): ``schema_version``, ``kind``, then the columns.

    Values are the same as in the files: dates ``YYYY-MM-DD``, timestamps ``YYYY-MM-DDTHH:MM:SSZ``,
    decimals as JSON numbers, a null reason as ``null``.
    """
    text = to_text_frame(schema, frame)
    records = text.astype(object).where(text.notna(), None).to_dict("records")
    head = {"schema_version": SCHEMA_VERSION, "kind": schema.kind}
    return [{**head, **{k: _plain(v) for k, v in r.items()}} for r in records]


def _plain(value: Any) -> Any:
    """numpy / pandas scalars as plain Python values (json.dumps accepts only those)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
