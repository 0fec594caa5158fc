"""Reading the current published plan from the warehouse (``published`` schema).

The quality domain publishes a validated plan with write-audit-publish: the line tables hold the
current plan only, and ``published.plan_versions`` logs every plan (published or rejected). This
module reads the lines and cross-checks them against the latest published version, so a plan is
exported only when its lines and its version record agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from orchestration.erp.schemas import FILE_SCHEMAS, ExportSchemaError, to_erp_frame

PUBLISHED = "published"
VERSION_COUNT_COLUMNS = {
    "purchase_order_proposals": "n_purchase_order_lines",
    "transfer_orders": "n_transfer_lines",
}


@dataclass
class PublishedPlan:
    """The current published plan: id, lines in the ERP schema per file, its version record."""

    plan_id: str
    frames: dict[str, pd.DataFrame]
    version: dict[str, Any] = field(default_factory=dict)

    @property
    def row_counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.frames.items()}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ?", [PUBLISHED]
    ).fetchall()
    return {r[0] for r in rows}


def read_published_plan(con: duckdb.DuckDBPyConnection) -> PublishedPlan | None:
    """The current published plan, or None when nothing has been published yet.

    Raises ``ExportSchemaError`` when the published tables disagree (lines of two plans, lines
    of another plan than the latest published version, or line counts that differ from it).
    """
    tables = _tables(con)
    line_tables = [FILE_SCHEMAS[name].source_table.split(".")[1] for name in FILE_SCHEMAS]
    if not set(line_tables) <= tables:
        return None
    raw = {
        name: con.execute(f"select * from {schema.source_table}").df()
        for name, schema in FILE_SCHEMAS.items()
    }
    version: dict[str, Any] = {}
    if "plan_versions" in tables:
        latest = con.execute(
            f"select * from {PUBLISHED}.plan_versions where status = 'published' "
            "order by created_at desc limit 1"
        ).df()
        if not latest.empty:
            version = {k: (None if pd.isna(v) else v) for k, v in latest.iloc[0].to_dict().items()}
    line_plan_ids = set()
    for name, frame in raw.items():
        if "plan_id" not in frame.columns:
            raise ExportSchemaError(f"{FILE_SCHEMAS[name].source_table} has no plan_id column")
        line_plan_ids |= set(frame["plan_id"].dropna().astype(str).unique())
    if len(line_plan_ids) > 1:
        raise ExportSchemaError(
            f"the published tables hold lines of several plans: {sorted(line_plan_ids)}"
        )
    plan_id = str(version["plan_id"]) if version else next(iter(line_plan_ids), None)
    if plan_id is None:
        return None
    if line_plan_ids and line_plan_ids != {plan_id}:
        raise ExportSchemaError(
            f"published lines belong to {sorted(line_plan_ids)}, but the latest published plan "
            f"in {PUBLISHED}.plan_versions is {plan_id}"
        )
    if version:
        for name, count_col in VERSION_COUNT_COLUMNS.items():
            expected = version.get(count_col)
            if expected is not None and int(expected) != len(raw[name]):
                raise ExportSchemaError(
                    f"{plan_id}: {FILE_SCHEMAS[name].source_table} has {len(raw[name])} lines, "
                    f"{PUBLISHED}.plan_versions.{count_col} says {int(expected)}"
                )
    frames = {name: to_erp_frame(FILE_SCHEMAS[name], frame) for name, frame in raw.items()}
    return PublishedPlan(plan_id=plan_id, frames=frames, version=version)
