"""Monitoring assets: demand and forecast drift (Evidently), drift alerts.

Thin glue around ``ml.monitoring``: read the weekly panel and the held-out forecasts, close the
connection, compute drift and save the Evidently report under
``<data dir>/reports/drift/<timestamp>-<run>/`` (older runs pruned), then append this run's
results and alerts to the ``monitoring`` log tables. The materialization's metadata carries
everything the retraining sensor needs (``drift_detected``, ``alerts``, ``affected_segments``),
so the sensor never opens the warehouse.
"""

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ml.monitoring.alerts import new_alerts, open_alerts
from ml.monitoring.drift import (
    TRAINING_SET_COLUMNS,
    DriftConfig,
    compute_drift,
    drift_chart_png,
    prune_report_runs,
    run_folder_name,
    save_report,
    split_windows,
)
from orchestration.defs.monitoring.tables import (
    SCHEMA,
    append_rows,
    connect,
    ensure_tables,
    read_alerts,
    table_columns,
    table_exists,
)
from orchestration.defs.warehouse_io import embed_png, md_table, reports_dir
from orchestration.settings import WAREHOUSE_POOL

FORECAST_DRIFT_KEY = dg.AssetKey([SCHEMA, "forecast_drift"])
HISTORY_COLUMNS = (
    "sku",
    "location_id",
    "origin",
    "forecast_week",
    "mean",
    "variance",
    "q05",
    "q95",
)


class ForecastDriftConfig(dg.Config):
    """Windows, gates and report retention of the drift run (defaults: docs/monitoring.md)."""

    current_weeks: int = Field(default=8, description="Latest weeks compared (current window).")
    reference_weeks: int = Field(
        default=52, description="Weeks before the current window used as the reference."
    )
    demand_reference: str = Field(
        default="auto",
        description="'seasonal' (same weeks a year earlier), 'preceding' (the reference_weeks "
        "before the current window) or 'auto' (seasonal when a year of history exists).",
    )
    min_series: int = Field(
        default=10, description="SKU-locations a segment needs in both windows to be tested."
    )
    min_change: dict[str, float] = Field(
        default_factory=dict,
        description="Override the smallest change that counts per feature, e.g. "
        "{'demand': 0.3} (relative) or {'interval_hit_90': 0.1} (absolute).",
    )
    keep_report_runs: int = Field(
        default=10, description="Report folders kept under <data dir>/reports/drift (~4 MB each)."
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def file_link(path: Path | str) -> str:
    return Path(path).resolve().as_uri()


def open_alerts_markdown(alerts: pd.DataFrame, limit: int = 20) -> str:
    """The open alerts, newest first, with links to their reports (markdown)."""
    current = open_alerts(alerts)
    if current.empty:
        return "no open drift alerts"
    view = current.head(limit)
    lines = [
        "| alert_id | created_at | segment | drifted features | magnitude | affected | report |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in view.itertuples(index=False):
        features = ", ".join(json.loads(r.drifted_features or "[]"))
        link = f"[html]({file_link(r.report_html)})" if r.report_html else ""
        lines.append(
            f"| {r.alert_id} | {pd.Timestamp(r.created_at):%Y-%m-%d %H:%M} | {r.segment} | "
            f"{features} | {float(r.magnitude):+.1%} | {int(r.affected_sku_locations)} | {link} |"
        )
    more = len(current) - len(view)
    return "\n".join(lines) + (f"\n\n{more} more open alert(s)" if more > 0 else "")


def _read_inputs(
    con, config: DriftConfig
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Training panel (windows only), backtest forecasts and matured production forecasts."""
    weeks = con.execute("select distinct week from forecasting.training_set").df()["week"]
    try:
        windows = split_windows(weeks, config)
    except ValueError as exc:
        raise dg.Failure(f"forecast_drift: {exc}") from exc
    training = con.execute(
        f"select {', '.join(TRAINING_SET_COLUMNS)} from forecasting.training_set where week >= ?",
        [windows.reference_start.date()],
    ).df()
    backtest = None
    if table_exists(con, "forecasting", "backtest_forecasts"):
        backtest = con.execute(
            "select sku, location_id, origin, forecast_week, actual, mean, variance, q05, q95 "
            "from forecasting.backtest_forecasts"
        ).df()
    history = None
    if table_exists(con, "forecasting", "demand_forecast_history"):
        have = table_columns(con, "forecasting", "demand_forecast_history")
        if set(HISTORY_COLUMNS) <= set(have):
            extra = [c for c in ("model_version", "created_at") if c in have]
            history = con.execute(
                f"select {', '.join([*HISTORY_COLUMNS, *extra])} "
                "from forecasting.demand_forecast_history "
                "where forecast_week between ? and ?",
                [windows.current_start.date(), windows.current_end.date()],
            ).df()
    return training, backtest, history


@dg.asset(
    key=FORECAST_DRIFT_KEY,
    deps=[
        dg.AssetKey(["forecasting", "forecast_training_set"]),
        dg.AssetKey(["forecasting", "forecast_backtest"]),
    ],
    group_name="monitoring",
    kinds={"evidently", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def forecast_drift(
    context: dg.AssetExecutionContext, config: ForecastDriftConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Demand and forecast drift: the latest 8 weeks against the training window, per segment.

    Demand features (weekly demand, zero-demand weeks, price, promotion, stockout weeks) and
    forecast residuals (standardised residual, 90% interval hits) are compared in one Evidently
    report per run, per demand class and overall. A segment drifts when a demand or forecast
    feature both fails Evidently's test and moves by more than its gate; each drifted segment
    appends an alert to ``monitoring.drift_alerts`` for review, and the retraining sensor
    reads this materialization's metadata to request one retraining per drift result.
    """
    t0 = time.perf_counter()
    drift_config = DriftConfig(
        current_weeks=config.current_weeks,
        reference_weeks=config.reference_weeks,
        demand_reference=config.demand_reference,
        min_series=config.min_series,
        min_change=dict(config.min_change),
    )
    try:
        drift_config.validate()
    except ValueError as exc:
        raise dg.Failure(f"forecast_drift config: {exc}") from exc
    with connect(warehouse) as con:
        training, backtest, history = _read_inputs(con, drift_config)
    t_read = time.perf_counter() - t0

    try:
        result = compute_drift(training, backtest, history, drift_config)
    except ValueError as exc:
        raise dg.Failure(f"forecast_drift: {exc}") from exc
    del training, backtest, history
    t_compute = time.perf_counter() - t0 - t_read

    created_at = _now()
    root = reports_dir("drift")
    folder = root / run_folder_name(created_at, context.run_id)
    report: dict[str, dg.MetadataValue] = {}
    html = js = ""
    if result.snapshot is not None:
        html_path, js_path = save_report(result, folder)
        html, js = str(html_path), str(js_path)
        png = drift_chart_png(result)
        (folder / "drift_chart.png").write_bytes(png)
        report = {
            "report_html": dg.MetadataValue.path(html),
            "report_url": dg.MetadataValue.url(file_link(html)),
            "report_json": dg.MetadataValue.path(js),
            "chart": dg.MetadataValue.md(embed_png(png, "reference vs current")),
        }
    else:
        context.log.warning(f"forecast_drift: nothing to compare ({result.skipped})")
    pruned = prune_report_runs(root, keep=max(1, config.keep_report_runs))

    results = result.results.copy()
    labels = result.window_labels
    results["reference_window"] = results["source"].map(lambda s: labels.get(s, ("", ""))[0])
    results["current_window"] = results["source"].map(lambda s: labels.get(s, ("", ""))[1])
    results["dagster_run_id"] = context.run_id
    results["created_at"] = pd.Timestamp(created_at)
    results["report_html"] = html

    with connect(warehouse) as con:
        ensure_tables(con)
        previous = read_alerts(con)
        alerts = new_alerts(
            result.segments,
            previous,
            run_id=context.run_id,
            created_at=created_at,
            report_html=html,
            report_json=js,
        )
        con.execute("begin transaction")
        try:
            n_results = append_rows(con, "drift_results", results)
            append_rows(con, "drift_alerts", alerts)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        all_alerts = read_alerts(con)

    segments = result.segments
    drifted_rows = results[results["drifted"]]
    alert_list = [
        {"alert_id": a, "segment": s, "status": st}
        for a, s, st in zip(alerts["alert_id"], alerts["segment"], alerts["status"], strict=True)
    ]
    context.log.info(
        f"drift: {len(result.drifted_segments)} drifted segment(s) {result.drifted_segments}; "
        f"read {t_read:.1f} s, compute {t_compute:.1f} s, total {time.perf_counter() - t0:.1f} s"
    )
    seg_view = segments.assign(
        drifted_features=segments["drifted_features"].map(lambda f: ", ".join(f) or "-")
    ).drop(columns=["affected_sample"])
    # the open-alert check follows every drift run (see orchestration/defs/monitoring/checks.py)
    context.log_event(review_evaluation(all_alerts))
    return dg.MaterializeResult(
        metadata={
            "drift_detected": bool(len(alerts)),
            "alerts": dg.MetadataValue.json(alert_list),
            "alert_ids": dg.MetadataValue.json(alerts["alert_id"].tolist()),
            "affected_segments": dg.MetadataValue.json(alerts["segment"].tolist()),
            "open_alerts_created": int((alerts["status"] == "open").sum()),
            **{
                f"drift_share_{s}": float(v)
                for s, v in zip(segments["segment"], segments["drift_share"], strict=True)
            },
            "segments": dg.MetadataValue.md(md_table(seg_view)),
            "drifted_columns": dg.MetadataValue.md(
                md_table(
                    drifted_rows[
                        [
                            "segment",
                            "feature",
                            "method",
                            "score",
                            "threshold",
                            "reference_mean",
                            "current_mean",
                            "change",
                            "required_change",
                        ]
                    ]
                )
                if len(drifted_rows)
                else "no drifted columns"
            ),
            "open_alerts": dg.MetadataValue.md(open_alerts_markdown(all_alerts)),
            **report,
            "reference_window": labels["demand"][0],
            "current_window": labels["demand"][1],
            "forecast_windows": " vs ".join(labels.get("forecast", ("none", "none"))),
            "forecast_source": result.forecast_source or "none",
            "skipped_segments": dg.MetadataValue.json(result.skipped),
            "pruned_report_runs": len(pruned),
            "dagster/row_count": n_results,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )


monitoring_assets = [forecast_drift]


REVIEW_HINT = (
    "Review in Launchpad of job `review_drift_alert`: "
    "`ops: {review_drift_alerts: {config: {alert_ids: [...], action: acknowledge | resolve, "
    "reviewer: you, note: why}}}` (docs/monitoring.md)."
)


CHECK_NAME = "no_unreviewed_drift_alerts"


def review_state(alerts: pd.DataFrame | None) -> tuple[bool, str, dict[str, object]]:
    """``(passed, description, metadata)`` of the open-alert check on the ``alerts`` table."""
    current = open_alerts(alerts) if alerts is not None else None
    n_open = 0 if current is None else len(current)
    segments = [] if current is None else sorted(current["segment"].unique().tolist())
    metadata: dict[str, object] = {
        "open_alerts": n_open,
        "open_segments": dg.MetadataValue.json(segments),
        "alerts": dg.MetadataValue.md(
            "no open drift alerts" if alerts is None else open_alerts_markdown(alerts)
        ),
    }
    if n_open:
        newest = current.iloc[0]
        if newest["report_html"]:
            metadata["newest_report_url"] = dg.MetadataValue.url(file_link(newest["report_html"]))
        metadata["how_to_review"] = REVIEW_HINT
    description = (
        f"{n_open} open drift alert(s): {', '.join(segments)}"
        if n_open
        else "every drift alert is reviewed"
    )
    return n_open == 0, description, metadata


def review_evaluation(alerts: pd.DataFrame) -> dg.AssetCheckEvaluation:
    """The check's state on ``alerts``, logged by ``forecast_drift`` and the review job."""
    passed, description, metadata = review_state(alerts)
    return dg.AssetCheckEvaluation(
        asset_key=FORECAST_DRIFT_KEY,
        check_name=CHECK_NAME,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )
