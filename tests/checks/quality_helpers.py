"""Helpers of the data-quality tests: load a landing folder with the platform's loader, run the
raw suites the way the raw asset check does, corrupt landed Parquet files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import checks
from checks import raw
from orchestration.ingest.contract import CONTRACT
from orchestration.ingest.landing import load_landing

#: The suites run as asset checks in the weekly job (the check name is the suite name).
CHECKED_SUITES = {f"raw_{e}" for e in CONTRACT} | {
    "marts_fct_daily_demand",
    "marts_fct_purchase_order_lines",
    "marts_fct_inventory_positions",
    "forecasting_demand_forecast",
    "inventory_replenishment_recommendations",
    "inventory_allocation_plan",
}


def load(landing: Path, warehouse: Path) -> duckdb.DuckDBPyConnection:
    """Load the landing folder into ``raw`` of the warehouse file (the platform's loader)."""
    con = duckdb.connect(str(warehouse))
    load_landing(con, landing)
    return con


@dataclass
class Validation:
    batch: raw.RawBatch
    outcome: checks.ValidationOutcome

    def failed(self) -> dict[tuple[str, str], dict]:
        """(expectation_type, column) -> result, for the failed expectations."""
        return {(r["expectation_type"], r["column"]): r for r in self.outcome.failed_expectations()}


def validate_extracts(
    con: duckdb.DuckDBPyConnection,
    extracts: list[str] | None = None,
    landing: Path | None = None,
    **kwargs,
) -> dict[str, Validation]:
    """Build the batches and run the suites like the raw asset check (lag from all batches)."""
    names = extracts or list(raw.EXTRACTS)
    batches = {n: raw.build_batch(con, n, landing_dir=landing, **kwargs) for n in names}
    latest = raw.latest_dates(con, batches=batches)
    out = {}
    for name, batch in batches.items():
        raw.apply_lag(batch, latest)
        outcome = checks.validate_frame(batch.suite_name, batch.frame, context=batch.parameters)
        out[name] = Validation(batch, outcome)
    return out


def rewrite_parquet(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    """Rewrite a landed Parquet file through ``change`` (every column as text, as raw sees it)."""
    frame = pq.read_table(path).to_pandas()
    frame = change(frame.astype("string"))
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def monthly_files(landing: Path, extract: str) -> list[Path]:
    return sorted((landing / extract).glob("*.parquet"))
