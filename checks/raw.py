"""What the latest load brought into ``raw.<extract>``, as a frame for the extract's suite.

Which rows: every file currently in ``raw.<extract>`` that has not yet passed its suite (new
files, and corrected re-exports, which carry a new checksum). A file joins
``quality.raw_file_profiles`` only when its suite passes, so a bad file is validated again on
every run until it is replaced; when nothing is new, the files of the last passed load are
validated again (same verdict, fresh report).

What the frame holds, one row per raw row of those files (a deterministic sample per file when
the load is larger than ``max_rows``, every file represented):

* the contract columns trimmed (keys upper-cased), as dbt staging reads them, and
  ``<column>__value`` parsed with dbt's own rules (``checks.sql``) for ranges;
* ``_copy_number``: 1 for the first loaded copy of an exact row, 2+ for later copies (dbt's
  ``duplicate_row``), computed over the whole raw table as dbt does;
* ``<column>_not_in_<extract>``: the value when it is not found in the referenced raw extract
  (``sku_not_in_items``: the unknown SKU), else NULL. The reference is every key in the raw master
  extract, a superset of the accepted keys dbt checks against, so a row flagged here is always
  quarantined by dbt;
* file-level figures repeated on the file's rows, tested with column min/max expectations:
  ``_file_volume_ratio`` (the file's rows on a busy day - the 90th percentile of rows per date,
  robust to a few late-arriving rows of the previous month - or its rows, for master extracts,
  over the median of recent validated files), ``_file_mean_ratio`` (mean of the extract's quantity over
  recent files), ``_file_staleness_days`` (how far the file's latest date lies before the latest
  date already validated: for a re-export, before its previous version's), ``_file_age_days``
  (run date minus latest date) and ``_extract_lag_days`` (how far the extract's latest date lies
  behind the freshest of sales and snapshots);
* lineage: ``_source_file``, ``_source_row``, ``_loaded_at``.

On the first load there is no validated history: volume and mean are judged against the median
file of the load itself, and staleness is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from checks.sql import PARSERS, clean_key, clean_text, date_as_yyyymmdd

PROFILES = "quality.raw_file_profiles"
REGISTRY = "raw._file_registry"

#: Files of recent validated loads the volume and mean of a new file are compared with.
REFERENCE_FILES = 12
#: Rows validated per extract and load at most (a sample beyond), and at least per file.
MAX_ROWS = 10_000
MIN_ROWS_PER_FILE = 500


@dataclass(frozen=True)
class RawColumn:
    name: str
    type: str  # text | int | decimal | date | bool (contract types)
    required: bool = False
    key: bool = False  # a code: trimmed and upper-cased (dbt clean_key)


@dataclass(frozen=True)
class RawExtract:
    """The contract of one extract as the suites need it (mirrors ``docs/data-contract.md``)."""

    name: str
    columns: tuple[RawColumn, ...]
    #: (column, referenced extract): the ``<column>_not_in_<extract>`` columns
    references: tuple[tuple[str, str], ...] = ()
    #: the business date of a row: freshness and rows per day
    date_column: str | None = None
    #: volume is judged per day (transaction extracts) rather than per file (master data)
    volume_by_date: bool = False
    #: freshness is judged (latest date vs earlier loads and vs sales/snapshots)
    freshness: bool = False
    #: the quantity whose mean per file is compared with recent files
    measure: str | None = None
    #: columns identifying a row version (``_key``, tested for uniqueness)
    key_columns: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _col(name: str, type_: str = "text", required: bool = False, key: bool = False) -> RawColumn:
    return RawColumn(name, type_, required, key)


EXTRACTS: dict[str, RawExtract] = {
    e.name: e
    for e in (
        RawExtract(
            "items",
            (
                _col("sku", required=True, key=True),
                _col("description"),
                _col("category", required=True),
                _col("unit_cost", "decimal", True),
                _col("unit_price", "decimal", True),
                _col("case_pack", "int"),
                _col("moq", "int"),
                _col("supplier_id", key=True),
                _col("launch_date", "date"),
                _col("substitute_group", key=True),
                _col("default_lead_time_days", "int"),
            ),
            key_columns=("sku",),
        ),
        RawExtract(
            "locations",
            (
                _col("location_id", required=True, key=True),
                _col("location_name"),
                _col("location_type", required=True, key=True),
                _col("region"),
                _col("replenished_from", key=True),
                _col("transfer_lead_time_days", "int"),
                _col("capacity_units", "int"),
                _col("open_date", "date"),
            ),
            references=(("replenished_from", "locations"),),
            key_columns=("location_id",),
        ),
        RawExtract(
            "sales",
            (
                _col("sale_date", "date", True),
                _col("sku", required=True, key=True),
                _col("location_id", required=True, key=True),
                _col("quantity", "decimal", True),
                _col("uom", key=True),
                _col("net_price", "decimal"),
                _col("promo_flag", "bool"),
            ),
            references=(("sku", "items"), ("location_id", "locations")),
            date_column="sale_date",
            volume_by_date=True,
            freshness=True,
            measure="quantity",
        ),
        RawExtract(
            "suppliers",
            (
                _col("supplier_id", required=True, key=True),
                _col("supplier_name"),
                _col("default_lead_time_days", "int"),
                _col("order_cost", "decimal"),
                _col("country"),
            ),
            key_columns=("supplier_id",),
        ),
        RawExtract(
            "inventory_snapshots",
            (
                _col("snapshot_date", "date", True),
                _col("sku", required=True, key=True),
                _col("location_id", required=True, key=True),
                _col("on_hand_qty", "decimal", True),
            ),
            references=(("sku", "items"), ("location_id", "locations")),
            date_column="snapshot_date",
            volume_by_date=True,
            freshness=True,
            measure="on_hand_qty",
            key_columns=("snapshot_date", "sku", "location_id"),
        ),
        RawExtract(
            "purchase_orders",
            (
                _col("po_number", required=True, key=True),
                _col("po_line", "int", True),
                _col("supplier_id", required=True, key=True),
                _col("sku", required=True, key=True),
                _col("ship_to_location_id", required=True, key=True),
                _col("order_date", "date", True),
                _col("order_qty", "decimal", True),
                _col("promised_date", "date"),
                _col("unit_cost", "decimal"),
                _col("status", key=True),
            ),
            references=(
                ("supplier_id", "suppliers"),
                ("sku", "items"),
                ("ship_to_location_id", "locations"),
            ),
            date_column="order_date",
            volume_by_date=True,
            freshness=True,
            measure="order_qty",
            key_columns=("po_number", "po_line"),
        ),
        RawExtract(
            "receipts",
            (
                _col("po_number", required=True, key=True),
                _col("po_line", "int", True),
                _col("receipt_date", "date", True),
                _col("received_qty", "decimal", True),
                _col("receipt_id", key=True),
            ),
            references=(("po_line", "purchase_orders"),),
            date_column="receipt_date",
            volume_by_date=True,
            freshness=True,
            measure="received_qty",
        ),
        RawExtract(
            "promotions",
            (
                _col("promo_id", required=True, key=True),
                _col("sku", required=True, key=True),
                _col("location_id", key=True),
                _col("start_date", "date", True),
                _col("end_date", "date", True),
                _col("discount_pct", "decimal"),
                _col("promo_type", key=True),
            ),
            references=(("sku", "items"), ("location_id", "locations")),
            date_column="start_date",
            key_columns=("promo_id", "sku", "location_id"),
        ),
        RawExtract(
            "price_changes",
            (
                _col("sku", required=True, key=True),
                _col("location_id", key=True),
                _col("effective_date", "date", True),
                _col("unit_price", "decimal", True),
            ),
            references=(("sku", "items"), ("location_id", "locations")),
            date_column="effective_date",
            key_columns=("sku", "location_id", "effective_date"),
        ),
        RawExtract(
            "transfers",
            (
                _col("transfer_id", required=True, key=True),
                _col("sku", required=True, key=True),
                _col("from_location_id", required=True, key=True),
                _col("to_location_id", required=True, key=True),
                _col("ship_date", "date", True),
                _col("receipt_date", "date"),
                _col("quantity", "decimal", True),
            ),
            references=(
                ("sku", "items"),
                ("from_location_id", "locations"),
                ("to_location_id", "locations"),
            ),
            date_column="ship_date",
            volume_by_date=True,
            freshness=True,
            measure="quantity",
            key_columns=("transfer_id", "sku"),
        ),
    )
}

#: The extracts whose latest date says how current the drop is (the lag reference).
FRESHNESS_REFERENCE = ("sales", "inventory_snapshots")

#: Extra derived columns per extract (row rules that compare columns; dbt's invalid_value).
_DERIVED: dict[str, dict[str, str]] = {
    "locations": {
        "replenished_from_self": "case when replenished_from = location_id "
        "then replenished_from end",
    },
    "purchase_orders": {
        "promised_lead_time_days": "date_diff('day', order_date__date, promised_date__date)",
    },
    "promotions": {
        "promotion_days": "date_diff('day', start_date__date, end_date__date) + 1",
    },
    "transfers": {
        "to_location_is_from": "case when to_location_id = from_location_id "
        "then to_location_id end",
        "transit_days": "date_diff('day', ship_date__date, receipt_date__date)",
    },
}


@dataclass
class RawBatch:
    """The rows a suite validates for one extract, and the facts about their files."""

    extract: str
    frame: pd.DataFrame
    files: pd.DataFrame
    parameters: dict[str, Any]
    total_rows: int
    revalidation: bool
    rejected_files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def suite_name(self) -> str:
        return f"raw_{self.extract}"

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.total_rows

    @property
    def empty(self) -> bool:
        return self.total_rows == 0


# --------------------------------------------------------------------------------------------
# state


def ensure_profiles_table(con: duckdb.DuckDBPyConnection) -> None:
    """``quality.raw_file_profiles``: one row per file version that passed its suite."""
    con.execute("create schema if not exists quality")
    con.execute(
        f"""create table if not exists {PROFILES} (
            extract varchar, source_file varchar, file_checksum varchar, loaded_at timestamp,
            row_count bigint, n_dates bigint, min_date date, max_date date,
            volume_metric double, value_mean double, validated_at timestamp)"""
    )


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    )


def _profiles(con: duckdb.DuckDBPyConnection, extract: str) -> pd.DataFrame:
    if not _table_exists(con, "quality", "raw_file_profiles"):
        return pd.DataFrame(
            columns=[
                "source_file",
                "file_checksum",
                "loaded_at",
                "row_count",
                "max_date",
                "volume_metric",
                "value_mean",
                "validated_at",
            ]
        )
    return con.execute(
        f"select * from {PROFILES} where extract = ? order by validated_at, loaded_at", [extract]
    ).df()


def record_passed(con: duckdb.DuckDBPyConnection, batch: RawBatch) -> int:
    """Remember the batch's files as validated (call only when their suite passed)."""
    if batch.files.empty:
        return 0
    ensure_profiles_table(con)
    files = batch.files.assign(
        extract=batch.extract, validated_at=datetime.now(UTC).replace(tzinfo=None)
    )[
        [
            "extract",
            "source_file",
            "file_checksum",
            "loaded_at",
            "row_count",
            "n_dates",
            "min_date",
            "max_date",
            "volume_metric",
            "value_mean",
            "validated_at",
        ]
    ]
    con.register("_q_passed", files)
    try:
        con.execute("begin transaction")
        con.execute(
            f"delete from {PROFILES} p using _q_passed n where p.extract = n.extract "
            "and p.source_file = n.source_file and p.file_checksum = n.file_checksum"
        )
        con.execute(
            f"insert into {PROFILES} select extract, source_file, file_checksum, loaded_at, "
            "row_count, n_dates, cast(min_date as date), cast(max_date as date), volume_metric, "
            "value_mean, validated_at from _q_passed"
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_q_passed")
    return len(files)


# --------------------------------------------------------------------------------------------
# which files


def _current_files(con: duckdb.DuckDBPyConnection, extract: str) -> pd.DataFrame:
    if not _table_exists(con, "raw", extract):
        return pd.DataFrame(columns=["source_file", "file_checksum", "loaded_at", "row_count"])
    return con.execute(
        f"select _source_file as source_file, any_value(_file_checksum) as file_checksum, "
        f"min(_loaded_at) as loaded_at, count(*) as row_count from raw.{extract} "
        "group by 1 order by 3, 1"
    ).df()


def _mask(files: pd.DataFrame, keep) -> np.ndarray:
    """Boolean row mask from a predicate on (source_file, file_checksum)."""
    return np.array(
        [
            bool(keep((f, c)))
            for f, c in zip(files["source_file"], files["file_checksum"], strict=True)
        ],
        dtype=bool,
    )


def select_files(con: duckdb.DuckDBPyConnection, extract: str) -> tuple[pd.DataFrame, bool]:
    """(files to validate, whether they are a re-validation of the last passed load)."""
    current = _current_files(con, extract)
    if current.empty:
        return current, False
    profiles = _profiles(con, extract)
    passed = set(zip(profiles["source_file"], profiles["file_checksum"], strict=True))
    pending = current[_mask(current, lambda key: key not in passed)]
    if not pending.empty:
        return pending.reset_index(drop=True), False
    last = profiles[profiles["validated_at"] == profiles["validated_at"].max()]
    keys = set(zip(last["source_file"], last["file_checksum"], strict=True))
    again = current[_mask(current, lambda key: key in keys)]
    return again.reset_index(drop=True), True


def rejected_files(
    con: duckdb.DuckDBPyConnection, extract: str, landing_dir: Path | None
) -> list[dict[str, Any]]:
    """Files of the extract the loader rejected whole (e.g. a required column missing) that are
    still in the landing folder and were not replaced by a loadable version since."""
    if not _table_exists(con, "raw", "_file_registry"):
        return []
    rows = con.execute(
        f"""select r.source_file, r.reason, r.loaded_at from {REGISTRY} r
            where r.extract = ? and r.status = 'rejected'
              and not exists (select 1 from {REGISTRY} l where l.source_file = r.source_file
                              and l.status = 'loaded' and l.loaded_at > r.loaded_at)
            order by r.loaded_at""",
        [extract],
    ).fetchall()
    out = []
    for source_file, reason, loaded_at in rows:
        if landing_dir is not None and not (Path(landing_dir) / source_file).exists():
            continue
        out.append({"source_file": source_file, "reason": reason, "registered_at": loaded_at})
    return out


# --------------------------------------------------------------------------------------------
# latest dates (freshness reference)


def latest_dates(
    con: duckdb.DuckDBPyConnection,
    extracts: Sequence[str] | None = None,
    batches: Mapping[str, RawBatch] | None = None,
) -> dict[str, date | None]:
    """Latest parsed business date per dated extract, over every file currently in raw.

    For an extract with a batch at hand the answer comes from the batch's file statistics and
    the profiles of the other current files (no scan); otherwise the raw table is parsed.
    """
    out: dict[str, date | None] = {}
    for name in extracts or [e.name for e in EXTRACTS.values() if e.date_column]:
        spec = EXTRACTS[name]
        if not spec.date_column or not _table_exists(con, "raw", name):
            out[name] = None
            continue
        batch = (batches or {}).get(name)
        if batch is not None:
            out[name] = _latest_from_batch(con, batch)
            continue
        expr = PARSERS["date"](clean_text(f'"{spec.date_column}"'))
        out[name] = con.execute(f"select max({expr}) from raw.{name}").fetchall()[0][0]
    return out


def _latest_from_batch(con: duckdb.DuckDBPyConnection, batch: RawBatch) -> date | None:
    current = _current_files(con, batch.extract)
    profiles = _profiles(con, batch.extract)
    keys = set(zip(current["source_file"], current["file_checksum"], strict=True))
    others = profiles[_mask(profiles, lambda key: key in keys)]
    dates = [
        d
        for d in (
            pd.to_datetime(batch.files["max_date"]).max() if "max_date" in batch.files else None,
            pd.to_datetime(others["max_date"]).max() if len(others) else None,
        )
        if d is not None and not pd.isna(d)
    ]
    return max(dates).date() if dates else None


def apply_lag(batch: RawBatch, latest: Mapping[str, date | None]) -> RawBatch:
    """Set ``_extract_lag_days``: days the extract's latest date lies behind the freshest of
    sales and snapshots (0 for extracts without a freshness rule)."""
    spec = EXTRACTS[batch.extract]
    lag = 0.0
    refs = [pd.Timestamp(latest[e]) for e in FRESHNESS_REFERENCE if latest.get(e)]
    own = latest.get(batch.extract)
    if spec.freshness and refs and own:
        lag = float((max(refs) - pd.Timestamp(own)).days)
    if not batch.files.empty:
        batch.files["extract_lag_days"] = lag
    if not batch.frame.empty:
        batch.frame["_extract_lag_days"] = lag
    return batch


# --------------------------------------------------------------------------------------------
# the frame


def _select_list(spec: RawExtract) -> str:
    cols = []
    for c in spec.columns:
        cleaned = clean_key(f'src."{c.name}"') if c.key else clean_text(f'src."{c.name}"')
        cols.append(f'{cleaned} as "{c.name}"')
    return ",\n        ".join(cols)


#: The date formats of the contract, as a shape only (the suites' regex rule, without anchors):
#: a value of this shape that does not parse is no calendar date; any other shape is already
#: the regex rule's to report, so it is not flagged twice.
DATE_SHAPE = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{8}|[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}"
    r"|[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}|[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]00:00:00(?:\.0+)?"
)


def _parsed_list(spec: RawExtract) -> str:
    cols = []
    for c in spec.columns:
        if c.type == "text":
            continue
        expr = PARSERS[c.type](f'"{c.name}"')
        if c.type == "date":
            # the DATE for derived durations (dropped from the frame), yyyymmdd for the suite,
            # and the text when it has a date's format but is no calendar date (2025-14-03)
            cols.append(f'{expr} as "{c.name}__date"')
            cols.append(
                f'case when "{c.name}__date" is null '
                f"and regexp_full_match(\"{c.name}\", '{DATE_SHAPE}') "
                f'then "{c.name}" end as "{c.name}__not_a_date"'
            )
            expr = date_as_yyyymmdd(f'"{c.name}__date"')
        cols.append(f'{expr} as "{c.name}__value"')
    return (",\n        ".join(cols) + ",") if cols else ""


def _exact_copies(extract: str, columns: Sequence[str]) -> str:
    """dbt's ``erp_exact_copies``: copy number of rows that have an exact copy (nullif '')."""
    exact = ", ".join(f"nullif(\"{c}\", '')" for c in columns)
    return f"""
        select _source_file, _source_row,
            row_number() over (partition by {exact}
                               order by _loaded_at, _source_file, _source_row) as _copy_number
        from raw.{extract}
        where hash({exact}) in (
            select hash({exact}) from raw.{extract} group by 1 having count(*) > 1)"""


def _known_sql(target: str) -> str:
    """Every key of the referenced raw extract (superset of what dbt accepts)."""
    if target == "items":
        return f"select distinct {clean_key('sku')} as k from raw.items"
    if target == "locations":
        return f"select distinct {clean_key('location_id')} as k from raw.locations"
    if target == "suppliers":
        return (
            f"select {clean_key('supplier_id')} as k from raw.suppliers union "
            f"select {clean_key('supplier_id')} from raw.items union select 'UNKNOWN'"
        )
    if target == "purchase_orders":
        line = PARSERS["int"](clean_text("po_line"))
        return (
            f"select distinct {clean_key('po_number')} || '/' || cast({line} as varchar) as k "
            "from raw.purchase_orders"
        )
    raise ValueError(f"no reference for {target}")


def _reference_exprs(spec: RawExtract) -> tuple[str, str]:
    """(select expressions, left joins) of the ``<column>_not_in_<target>`` columns."""
    selects, joins = [], []
    for i, (column, target) in enumerate(spec.references):
        alias = f"_ref{i}"
        if target == "purchase_orders":
            value = "b.po_number || '/' || cast(b.po_line__value as varchar)"
        else:
            value = f'b."{column}"'
        joins.append(f"left join ({_known_sql(target)}) {alias} on {alias}.k = {value}")
        selects.append(
            f"case when {value} is not null and {alias}.k is null then {value} end "
            f'as "{column}_not_in_{target}"'
        )
    return ",\n        ".join(selects), "\n    ".join(joins)


def build_batch(
    con: duckdb.DuckDBPyConnection,
    extract: str,
    *,
    run_date: date | None = None,
    landing_dir: Path | None = None,
    latest: Mapping[str, date | None] | None = None,
    max_rows: int = MAX_ROWS,
    min_rows_per_file: int = MIN_ROWS_PER_FILE,
) -> RawBatch:
    """The frame and parameters ``raw_<extract>`` validates for the latest load (see module doc).

    ``run_date`` is today's date for the optional maximum-age rule. ``latest`` (from
    :func:`latest_dates`) sets the lag behind sales and snapshots; a caller building several
    batches passes none and calls :func:`apply_lag` once they are all built (their file
    statistics then spare a scan of the raw tables).
    """
    spec = EXTRACTS[extract]
    files, revalidation = select_files(con, extract)
    rejected = rejected_files(con, extract, landing_dir)
    if files.empty:
        return RawBatch(extract, pd.DataFrame(), files, {}, 0, False, rejected)

    file_stats = _file_stats(con, spec, files["source_file"].tolist())
    files = files.merge(file_stats, on="source_file", how="left")
    files = _judge_files(con, spec, files, run_date)
    total = int(files["row_count"].sum())
    fraction = 1.0 if total <= max_rows else max_rows / total
    files["sample_fraction"] = np.minimum(
        1.0, np.maximum(fraction, min_rows_per_file / files["row_count"].clip(lower=1))
    )
    frame = _frame(con, spec, files)
    params = {"run_date": pd.Timestamp(run_date) if run_date else None}
    batch = RawBatch(extract, frame, files, params, total, revalidation, rejected)
    return apply_lag(batch, latest) if latest is not None else batch


def _frame(con: duckdb.DuckDBPyConnection, spec: RawExtract, files: pd.DataFrame) -> pd.DataFrame:
    """The (sampled) rows of the batch files with every column the suite tests.

    The sample is a deterministic hash of file and row kept below each file's fraction, so a
    re-validation sees the same rows and every file is represented by at least
    ``min_rows_per_file`` rows (or all of them).
    """
    per_file = files[
        [
            "source_file",
            "sample_fraction",
            "volume_ratio",
            "mean_ratio",
            "staleness_days",
            "age_days",
            "extract_lag_days",
        ]
    ].rename(
        columns={
            "source_file": "_source_file",
            "volume_ratio": "_file_volume_ratio",
            "mean_ratio": "_file_mean_ratio",
            "staleness_days": "_file_staleness_days",
            "age_days": "_file_age_days",
            "extract_lag_days": "_extract_lag_days",
        }
    )
    refs_select, refs_join = _reference_exprs(spec)
    derived = _DERIVED.get(spec.name, {})
    derived_sql = "".join(f",\n        {expr} as {name}" for name, expr in derived.items())
    key_sql = ""
    if spec.key_columns:
        parts = " || '|' || ".join(
            f"coalesce(cast(\"{c}\" as varchar), '')" for c in spec.key_columns
        )
        key_sql = f",\n        {parts} as _key"
    date_helpers = "".join(f', "{c.name}__date"' for c in spec.columns if c.type == "date")
    con.register("_q_per_file", per_file)
    try:
        return con.execute(
            f"""with src as (
        select r.* from raw.{spec.name} r join _q_per_file f using (_source_file)
        where f.sample_fraction >= 1.0
           or (hash(r._source_file, r._source_row) % 1000000) < f.sample_fraction * 1000000
    ),
    copies as ({_exact_copies(spec.name, spec.column_names)}),
    cleaned as (
        select
        {_select_list(spec)},
        coalesce(copies._copy_number, 1) as _copy_number,
        src._source_file, src._source_row, src._loaded_at
        from src left join copies
            on src._source_file = copies._source_file and src._source_row = copies._source_row
    ),
    parsed as (
        select *,
        {_parsed_list(spec)}
        1 as _one
        from cleaned
    )
    select b.* exclude (_one{date_helpers}){"," if refs_select else ""}
        {refs_select}{derived_sql}{key_sql},
        f.* exclude (_source_file, sample_fraction)
    from parsed b
    join _q_per_file f using (_source_file)
    {refs_join}
    order by b._source_file, b._source_row"""
        ).df()
    finally:
        con.unregister("_q_per_file")


def _file_stats(
    con: duckdb.DuckDBPyConnection, spec: RawExtract, source_files: list[str]
) -> pd.DataFrame:
    """Per file: dates covered, latest date, mean quantity and rows on a busy day (the 90th
    percentile of rows per date), over all rows of the file."""
    date_text = clean_text(f'"{spec.date_column}"')
    d = PARSERS["date"](date_text) if spec.date_column else "null::date"
    m = PARSERS["decimal"](clean_text(f'"{spec.measure}"')) if spec.measure else "null::double"
    return con.execute(
        f"""with rows as (
                select _source_file, {d} as d, {m} as m from raw.{spec.name}
                where _source_file in (select unnest(?::varchar[]))
            ),
            per_day as (
                select _source_file, d, count(*) as n from rows where d is not null group by all
            ),
            per_file as (
                select _source_file, count(distinct d) as n_dates, min(d) as min_date,
                    max(d) as max_date, avg(m) as value_mean
                from rows group by 1
            )
            select f._source_file as source_file, f.n_dates, f.min_date, f.max_date,
                f.value_mean, quantile_cont(p.n, 0.9)::double as busy_day_rows
            from per_file f left join per_day p using (_source_file)
            group by all""",
        [source_files],
    ).df()


def _median(values: pd.Series) -> float | None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return float(v.median()) if len(v) else None


def _judge_files(
    con: duckdb.DuckDBPyConnection,
    spec: RawExtract,
    files: pd.DataFrame,
    run_date: date | None,
) -> pd.DataFrame:
    """Per-file volume, mean, staleness and age, against recent validated files."""
    files = files.copy()
    if spec.volume_by_date:
        files["volume_metric"] = files["busy_day_rows"].astype(float)
    else:
        files["volume_metric"] = files["row_count"].astype(float)
    profiles = _profiles(con, spec.name)
    batch_keys = set(zip(files["source_file"], files["file_checksum"], strict=True))
    history = profiles[_mask(profiles, lambda key: key not in batch_keys)]
    recent = history.sort_values("loaded_at").tail(REFERENCE_FILES)
    ref_volume = _median(recent["volume_metric"]) if len(recent) else None
    ref_mean = _median(recent["value_mean"]) if len(recent) else None
    if ref_volume is None:
        ref_volume = _median(files["volume_metric"])
    if ref_mean is None:
        ref_mean = _median(files["value_mean"])
    files["reference_volume"] = ref_volume
    files["volume_ratio"] = files["volume_metric"] / ref_volume if ref_volume else 1.0
    if spec.measure and ref_mean:
        files["mean_ratio"] = files["value_mean"] / ref_mean
    else:
        files["mean_ratio"] = 1.0

    # staleness: a re-export against its previous version, a new file against everything before
    max_dates = pd.to_datetime(files["max_date"])
    prev_by_path = (
        history.assign(max_date=pd.to_datetime(history["max_date"]))
        .sort_values("validated_at")
        .groupby("source_file")["max_date"]
        .last()
    )
    prev_overall = pd.to_datetime(history["max_date"]).max() if len(history) else pd.NaT
    reference = files["source_file"].map(prev_by_path)
    reference = reference.fillna(prev_overall)
    staleness = (reference - max_dates).dt.days
    files["staleness_days"] = staleness.fillna(0).astype(float)
    if run_date is not None:
        files["age_days"] = (pd.Timestamp(run_date) - max_dates).dt.days.astype(float)
    else:
        files["age_days"] = 0.0  # no run date: the maximum-age rule cannot apply
    files["extract_lag_days"] = 0.0  # set by apply_lag once every extract's latest date is known
    return files
