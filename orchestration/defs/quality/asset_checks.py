"""Great Expectations suites as Dagster asset checks, at the boundaries of the pipeline.

* Every raw extract (``raw/<extract>``): the files the latest load brought, blocking, so a broken
  drop stops the run before dbt, a forecast or an order is built from it.
* The marts the planning reads: ``marts/fct_daily_demand`` (blocking: forecasts train on it),
  ``marts/fct_purchase_order_lines`` and ``marts/fct_inventory_positions`` (warnings).
* ``forecasting/demand_forecast`` (blocking: order-up-to levels are read from its quantiles).
* The staged plan: ``inventory/replenishment_recommendations`` and ``inventory/allocation_plan``
  (blocking: the publish step never starts on a failed plan).

Each check reads its frame with the warehouse connection, closes it, runs the suite (``checks``)
and reports: expectations evaluated and failed, a markdown table of the failures with unexpected
counts and examples, and the path and ``file://`` link of the HTML report under
``<data dir>/reports/quality/<suite>/``. The check name is the suite name.
"""

import time
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

import checks
from checks import raw, tables
from orchestration.defs.ingest.assets import raw_asset_key
from orchestration.defs.quality.common import check_result, validate
from orchestration.defs.warehouse_io import md_table
from orchestration.ingest.contract import CONTRACT
from orchestration.resources import LandingFolder
from orchestration.settings import WAREHOUSE_POOL

MARTS_SUITES = {
    dg.AssetKey(["marts", "fct_daily_demand"]): ("marts_fct_daily_demand", True),
    dg.AssetKey(["marts", "fct_purchase_order_lines"]): ("marts_fct_purchase_order_lines", False),
    dg.AssetKey(["marts", "fct_inventory_positions"]): ("marts_fct_inventory_positions", False),
}
DEMAND_FORECAST = dg.AssetKey(["forecasting", "demand_forecast"])
RECOMMENDATIONS = dg.AssetKey(["inventory", "replenishment_recommendations"])
ALLOCATION_PLAN = dg.AssetKey(["inventory", "allocation_plan"])


def _today() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# raw extracts


RAW_CHECK_SPECS = [
    dg.AssetCheckSpec(
        name=f"raw_{name}",
        asset=raw_asset_key(name),
        blocking=True,
        description=(
            f"Great Expectations suite raw_{name} on the files the latest load brought "
            "(parseable, required values, ranges, known keys, duplicates, volume and freshness "
            "against recent loads); see docs/data-quality.md."
        ),
    )
    for name in CONTRACT
]


def _files_markdown(batch: raw.RawBatch) -> str:
    files = batch.files
    if files.empty:
        return "no file"
    cols = [
        "source_file",
        "row_count",
        "min_date",
        "max_date",
        "volume_ratio",
        "mean_ratio",
        "staleness_days",
    ]
    view = files[[c for c in cols if c in files]].copy()
    for c in ("min_date", "max_date"):
        if c in view:
            view[c] = pd.to_datetime(view[c]).dt.strftime("%Y-%m-%d").fillna("")
    return md_table(view.head(30), "{:.3g}")


@dg.multi_asset_check(
    specs=RAW_CHECK_SPECS,
    can_subset=True,
    pool=WAREHOUSE_POOL,
    name="raw_extract_expectations",
    description="Great Expectations suites on the latest load of every raw extract (blocking).",
)
def raw_extract_expectations(
    context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource, landing: LandingFolder
):
    """Validate what the latest load brought into each selected ``raw.<extract>``.

    An optional extract that never landed passes with a note. A file the loader rejected whole
    (a required column missing) fails its extract's check until it is fixed or removed from the
    landing folder. Files that pass are recorded in ``quality.raw_file_profiles``: they are the
    reference the next load's volume and freshness are judged against.
    """
    selected = sorted(k.asset_key.path[-1] for k in context.selected_asset_check_keys)
    started = time.perf_counter()
    checks.warm_up()  # import GX on the other core while DuckDB builds the frames
    run_date = _today().date()
    with warehouse.get_connection() as con:
        batches = {
            name: raw.build_batch(con, name, run_date=run_date, landing_dir=landing.dir)
            for name in selected
        }
        latest = raw.latest_dates(con, batches=batches)
        for batch in batches.values():
            raw.apply_lag(batch, latest)
    for name in selected:
        batch = batches[name]
        key = raw_asset_key(name)
        rejected = batch.rejected_files
        rejected_md = "\n".join(f"- `{f['source_file']}`: {f['reason']}" for f in rejected)
        if batch.empty:
            what = (
                "optional extract: no file has landed"
                if not CONTRACT[name].required
                else "no rows loaded"
            )
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=f"raw_{name}",
                passed=not rejected,
                severity=dg.AssetCheckSeverity.ERROR,
                description=what + (f"; {len(rejected)} file(s) rejected" if rejected else ""),
                metadata={
                    "expectations_evaluated": 0,
                    "expectations_failed": 0,
                    "rejected_files": dg.MetadataValue.md(rejected_md or "none"),
                },
            )
            continue
        outcome, report = validate(batch.suite_name, batch.frame, batch.parameters)
        passed = outcome.success and not rejected
        if passed:
            with warehouse.get_connection() as con:
                raw.record_passed(con, batch)
        else:
            context.log.warning(
                f"raw/{name}: " + "; ".join(outcome.failed_summary()[:5] or ["rejected files"])
            )
        yield check_result(
            outcome,
            report,
            asset_key=key,
            check_name=f"raw_{name}",
            blocking=True,
            passed=passed,
            extra={
                "files_validated": len(batch.files),
                "rows_in_files": batch.total_rows,
                "sampled": batch.sampled,
                "revalidation": dg.MetadataValue.bool(batch.revalidation),
                "files": dg.MetadataValue.md(_files_markdown(batch)),
                "rejected_files": dg.MetadataValue.md(rejected_md or "none"),
            },
        )
    context.log.info(
        f"raw suites on {len(selected)} extract(s): {time.perf_counter() - started:.1f}s"
    )


# --------------------------------------------------------------------------------------------
# marts, forecast, staged plan


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name=suite,
            asset=key,
            blocking=blocking,
            description=f"Great Expectations suite {suite}; see docs/data-quality.md.",
        )
        for key, (suite, blocking) in MARTS_SUITES.items()
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,
    name="marts_expectations",
    description="Great Expectations suites on the marts the planning reads.",
)
def marts_expectations(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
    """``fct_daily_demand`` (aggregated per SKU-location in SQL), PO lines, positions."""
    selected = [k.asset_key for k in context.selected_asset_check_keys]
    with warehouse.get_connection() as con:
        frames = {key: tables.load_frame(con, MARTS_SUITES[key][0]) for key in selected}
    for key in selected:
        suite, blocking = MARTS_SUITES[key]
        frame, ctx = frames[key]
        outcome, report = validate(suite, frame, ctx)
        yield check_result(outcome, report, asset_key=key, check_name=suite, blocking=blocking)


def _table_check(asset_key: dg.AssetKey, suite: str, description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name=suite,
        blocking=True,
        pool=WAREHOUSE_POOL,
        description=description,
    )
    def _check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            frame, ctx = tables.load_frame(con, suite)
        outcome, report = validate(suite, frame, ctx)
        return check_result(outcome, report, asset_key=asset_key, check_name=suite, blocking=True)

    return _check


demand_forecast_expectations = _table_check(
    DEMAND_FORECAST,
    "forecasting_demand_forecast",
    "Great Expectations suite on the weekly quantile forecasts: keys, horizons 1..8, "
    "non-negative and monotone quantiles (blocking: orders are read from them).",
)
recommendations_expectations = _table_check(
    RECOMMENDATIONS,
    "inventory_replenishment_recommendations",
    "Great Expectations suite on the staged order lines: quantity > 0, whole cases, MOQ, "
    "known SKU/location/supplier, receipt after order, sane size (blocking).",
)
allocation_expectations = _table_check(
    ALLOCATION_PLAN,
    "inventory_allocation_plan",
    "Great Expectations suite on the staged allocation: whole cases, never more than the DC "
    "holds, stores of the right DC (blocking).",
)

quality_checks = [
    raw_extract_expectations,
    marts_expectations,
    demand_forecast_expectations,
    recommendations_expectations,
    allocation_expectations,
]
