"""Forecasting assets: weekly training panel -> fitted model -> 8-week quantile forecasts, backtest.

Thin glue around ``ml.forecasting`` (all maths lives there): each asset reads what it needs from
the warehouse, closes the connection before any heavy compute (so the DuckDB file is held only
for reads and writes, never for minutes of model fitting), calls ``ml/`` and writes one table
with write-then-swap (``<table>_new`` is built first, then drop + rename in one transaction), so
a failed run never leaves a half-written table for the inventory domain to read.

Only STORE locations are forecast: ``fct_daily_demand`` also holds DC rows, which carry no
customer sales (DC demand is the stores' replenishment, derived downstream).
"""

import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ml.forecasting.accuracy import accuracy_chart_png, realised_accuracy
from ml.forecasting.backtest import coverage_chart_png, fan_chart_png, rolling_origin_backtest
from ml.forecasting.classify import classify_demand
from ml.forecasting.cold_start import cold_start_forecast
from ml.forecasting.data import build_panel
from ml.forecasting.forecaster import DemandForecaster
from ml.forecasting.lifecycle import (
    PreviousVersion,
    RetrainRequest,
    chunk_records_from_card,
    compose_version,
    model_series_frame,
    plan_retraining,
    refit_summary,
    unusable_reason,
    velocity_classes,
)
from orchestration.defs.forecasting.resources import ModelStore
from orchestration.defs.warehouse_io import (
    MAX_EMBEDDED_PNG_BYTES,
    embed_png,
    md_table,
    reports_dir,
    write_table,
)
from orchestration.settings import WAREHOUSE_POOL

# sktime 1.2 announces a future default change on every fit, thousands of times per run; the
# forecaster sets `remember_data` explicitly, so the notice says nothing to an operator.
warnings.filterwarnings("ignore", message="(?s).*remember_data", category=FutureWarning)

SCHEMA = "forecasting"
FREQ = "W-MON"  # weeks start on Monday, labelled by that Monday
HORIZON_WEEKS = 8
# Quantile levels written to forecasting.demand_forecast (the 90% and 98% intervals included).
QUANTILE_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
# Series with fewer weeks than this are "new": the forecaster has too little history to pick a
# model for them, so their forecast comes from analogues (same cut-off as ml.forecasting).
MIN_HISTORY_WEEKS = 8

MART_DEPS = [
    dg.AssetKey(["marts", "fct_daily_demand"]),
    dg.AssetKey(["marts", "dim_items"]),
    dg.AssetKey(["marts", "dim_locations"]),
]
_COMMON = {
    "key_prefix": [SCHEMA],
    "group_name": "forecasting",
    "kinds": {"sktime", "duckdb"},
    "pool": WAREHOUSE_POOL,
}

STORE_DEMAND_SQL = """
select f.sku, f.location_id, f.demand_date,
       cast(f.units_sold as double) as units_sold,
       cast(f.net_price as double) as net_price,
       f.is_promo,
       cast(f.on_hand_qty as double) as on_hand_qty,
       f.is_stockout,
       f.is_stock_known
from marts.fct_daily_demand f
join marts.dim_locations l using (location_id)
where l.location_type = 'STORE'
"""
STORE_SERIES_SQL = """
select distinct f.sku, f.location_id
from marts.fct_daily_demand f
join marts.dim_locations l using (location_id)
where l.location_type = 'STORE'
"""


# ------------------------------------------------------------------------------------- config
class TrainingSetConfig(dg.Config):
    """How the training set labels velocity (``velocity_class``: fast / slow)."""

    velocity_window_weeks: int = Field(
        default=13, description="Recent weeks whose unit demand ranks the series."
    )
    fast_volume_share: float = Field(
        default=0.8,
        description="Fast movers: the fewest series that together make this share of the "
        "recent unit demand (largest first); all others are slow.",
    )


class ForecastModelConfig(dg.Config):
    """How the production forecaster is fitted."""

    chunk_size: int = Field(
        default=20_000,
        description="Fit separate forecasters on chunks of at most this many series, bounding "
        "memory (the global model's feature matrix grows with series x weeks).",
    )
    n_jobs: int = Field(default=2, description="Worker processes for a fit (2-core machines).")
    keep_versions: int = Field(default=5, description="Model versions kept in the model store.")
    refit: str = Field(
        default="auto",
        description="'auto': refit the series due by their velocity's cadence, the series not "
        "in the stored model and those whose demand class changed, update the others with the "
        "new weeks; 'all': fit every series from scratch; 'segments' / 'velocity': refit the "
        "series of the listed demand classes / velocity classes, update the others.",
    )
    segments: list[str] = Field(
        default_factory=list,
        description="Demand classes refitted when refit='segments' (smooth, erratic, "
        "intermittent, lumpy, new).",
    )
    velocity: list[str] = Field(
        default_factory=list,
        description="Velocity classes refitted when refit='velocity' (fast, slow).",
    )
    reason: str = Field(default="", description="Why this run retrains; kept on the model card.")
    fast_cadence_days: float = Field(
        default=7.0, description="'auto' refits a fast mover whose model is this many days old."
    )
    slow_cadence_days: float = Field(
        default=28.0, description="'auto' refits a slow mover whose model is this many days old."
    )
    min_fit_series: int = Field(
        default=400,
        description="A refit of fewer series is fitted together with a seeded sample of other "
        "series up to this many (only the refit series are kept), so the pooled estimates "
        "(model choice per segment, dispersion, calibration, the global model) stay sound.",
    )


class BacktestConfig(dg.Config):
    """Rolling-origin backtest settings; the sample keeps the weekly run's time bounded."""

    max_series: int = Field(
        default=1_000,
        description="Backtest a random sample (fixed seed) of at most this many series: the "
        "backtest refits the forecaster once per origin, so its cost grows with series x origins.",
    )
    n_origins: int = Field(default=3, description="Forecast origins, 8 weeks apart.")
    n_jobs: int = 2
    seed: int = 0


# ------------------------------------------------------------------------------------ helpers
def production_forecaster(n_jobs: int = 2) -> DemandForecaster:
    """The forecaster as production fits it; the backtest uses the same so it measures that.

    ``remember_data=False``: the forecaster keeps its own arrays, so sktime's extra copy of the
    training data would only double the saved artifact (and the model is refitted, not updated).
    """
    f = DemandForecaster(n_jobs=n_jobs)
    return f.set_config(remember_data=False)


def quantile_column(alpha: float) -> str:
    """``0.05 -> q05``, ``0.5 -> q50``, ``0.025 -> q02_5``: SQL-friendly quantile column names."""
    pct = round(alpha * 100, 6)
    return f"q{pct:02.0f}" if float(pct).is_integer() else f"q{pct:04.1f}".replace(".", "_")


def replace_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    date_columns: Sequence[str] = (),
) -> int:
    """Write ``frame`` to ``forecasting.<table>`` with write-then-swap; returns the row count."""
    return write_table(con, SCHEMA, table, frame, date_columns)


def read_training_panel(warehouse: DuckDBResource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(y, X)`` in the layout of ``build_panel`` from ``forecasting.training_set``.

    Downstream assets read the stored panel instead of rebuilding it, so the model, forecast and
    backtest all see exactly the data the training-set asset published.
    """
    with warehouse.get_connection() as con:
        frame = con.execute(
            f"select sku, location_id, week, demand, net_price, promo_share "
            f"from {SCHEMA}.training_set order by sku, location_id, week"
        ).df()
    frame["period"] = pd.to_datetime(frame.pop("week")).astype("datetime64[ns]")
    frame = frame.set_index(["sku", "location_id", "period"])
    return frame[["demand"]], frame[["net_price", "promo_share"]]


def read_series_classes(warehouse: DuckDBResource) -> pd.DataFrame:
    """One row per series of ``forecasting.training_set``: ``demand_class``, ``velocity_class``."""
    with warehouse.get_connection() as con:
        frame = con.execute(
            f"select sku, location_id, any_value(demand_class) as demand_class, "
            f"any_value(velocity_class) as velocity_class "
            f"from {SCHEMA}.training_set group by sku, location_id order by sku, location_id"
        ).df()
    return frame.set_index(["sku", "location_id"])


def _subset(frame: pd.DataFrame, keys: pd.Index) -> pd.DataFrame:
    return frame[frame.index.droplevel(-1).isin(keys)]


def _timed_chunks(
    context: dg.AssetExecutionContext,
    chunks: Sequence[object],
    n_series: Callable[[object], int],
    work: Callable[[object], object],
    verb: str,
) -> list[object]:
    """Run ``work`` per chunk, logging ``chunk i/n: <series> series, <s> s`` progress lines."""
    out = []
    for i, chunk in enumerate(chunks, start=1):
        t0 = time.perf_counter()
        out.append(work(chunk))
        context.log.info(
            f"{verb} chunk {i}/{len(chunks)}: {n_series(chunk):,} series, "
            f"{time.perf_counter() - t0:.1f} s"
        )
    return out


# ------------------------------------------------------------------------------------- assets
@dg.asset(deps=MART_DEPS, **_COMMON)
def forecast_training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Weekly (Monday-Sunday) store demand per SKU-location, censoring corrected.

    Sales on stockout days understate demand; training on them would teach the model that demand
    falls when stock runs out. ``build_panel`` replaces them by an estimate of the demand that
    was lost; ``is_imputed`` marks weeks with at least one such day, ``units_sold`` keeps the raw
    sales. Only complete weeks are kept. ``demand_class`` is the ADI/CV² class over the whole
    history; ``velocity_class`` is ``fast`` for the fewest series that make 80% of the demand of
    the last 13 weeks, else ``slow`` (it sets how often a series is refitted).
    """
    t0 = time.perf_counter()
    with warehouse.get_connection() as con:
        daily = con.execute(STORE_DEMAND_SQL).df()
    context.log.info(f"read {len(daily):,} store demand rows in {time.perf_counter() - t0:.1f} s")

    t1 = time.perf_counter()
    y, X = build_panel(daily, freq=FREQ, correct_censoring=True)
    daily["period"] = pd.to_datetime(daily["demand_date"]).dt.to_period("W-SUN").dt.start_time
    daily["censored"] = daily["is_stockout"].fillna(False) & daily["is_stock_known"].fillna(False)
    weekly_raw = daily.groupby(["sku", "location_id", "period"]).agg(
        units_sold=("units_sold", "sum"), stockout_days=("censored", "sum")
    )
    frame = y.join(X).join(weekly_raw, how="left").reset_index()
    frame["stockout_days"] = frame["stockout_days"].fillna(0).astype(int)
    frame["is_imputed"] = frame["stockout_days"] > 0
    classes = classify_demand(frame, value="demand", min_history=MIN_HISTORY_WEEKS)
    frame = frame.merge(
        classes["segment"].astype(str).rename("demand_class").reset_index(),
        on=["sku", "location_id"],
    )
    velocity = velocity_classes(
        frame,
        period="period",
        window_weeks=config.velocity_window_weeks,
        fast_share=config.fast_volume_share,
    )
    frame = frame.merge(velocity.reset_index(), on=["sku", "location_id"])
    frame = frame.rename(columns={"period": "week"})[
        [
            "sku",
            "location_id",
            "week",
            "demand",
            "units_sold",
            "is_imputed",
            "stockout_days",
            "net_price",
            "promo_share",
            "demand_class",
            "velocity_class",
        ]
    ]
    context.log.info(f"built the weekly panel in {time.perf_counter() - t1:.1f} s")
    del daily

    with warehouse.get_connection() as con:
        rows = replace_table(con, "training_set", frame, date_columns=["week"])

    class_counts = classes["segment"].astype(str).value_counts()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "series": int(len(classes)),
            "weeks": int(frame["week"].nunique()),
            "first_week": str(frame["week"].min().date()),
            "last_week": str(frame["week"].max().date()),
            "imputed_week_share": float(frame["is_imputed"].mean()),
            "imputed_units_share": float(
                1 - frame["units_sold"].sum() / max(frame["demand"].sum(), 1e-9)
            ),
            "demand_classes": dg.MetadataValue.md(
                md_table(class_counts.rename_axis("demand_class").reset_index(name="series"))
            ),
            **{f"series_{k}": int(v) for k, v in class_counts.items()},
            "fast_movers": int((velocity == "fast").sum()),
            "slow_movers": int((velocity == "slow").sum()),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )


@dg.asset(deps=[forecast_training_set], **_COMMON)
def demand_forecast_model(
    context: dg.AssetExecutionContext,
    config: ForecastModelConfig,
    warehouse: DuckDBResource,
    model_store: ModelStore,
) -> dg.MaterializeResult:
    """The production ``DemandForecaster``, refitted where due and updated elsewhere, as a version.

    ``refit`` decides per series (``ml.forecasting.lifecycle``): ``auto`` (the weekly default)
    refits the series whose chunk is due by their velocity's cadence (fast 7 days, slow 28), the
    series not in the stored model and those whose demand class changed, and updates all others
    with the new weeks (same models, parameters, dispersion and calibration; the state moves to
    the new cutoff); ``all`` fits everything; ``segments`` / ``velocity`` refit the listed demand
    or velocity classes. Without a usable stored version everything is fitted. The new version
    lists its chunks (series, fit time, training window, refit or updated), its
    ``parent_version`` and why it was retrained; the chunk of every series is saved beside it.
    The forecaster picks a model per demand class by its own backtest; that choice and its scores
    are shown here so a planner can see why slow movers get a different model than top sellers.
    """
    try:
        request = RetrainRequest(
            mode=config.refit,
            segments=tuple(config.segments),
            velocity=tuple(config.velocity),
            reason=config.reason,
            cadence_days={"fast": config.fast_cadence_days, "slow": config.slow_cadence_days},
        )
    except ValueError as err:
        raise dg.Failure(f"invalid retraining config: {err}") from err
    y, X = read_training_panel(warehouse)
    series = read_series_classes(warehouse)
    last_week = pd.Timestamp(y.index.get_level_values(-1).max())
    now = datetime.now(UTC)
    fh = list(range(1, HORIZON_WEEKS + 1))
    fit_config = {
        "forecaster": production_forecaster(config.n_jobs).get_params(deep=False),
        "freq": FREQ,
        "horizon_weeks": HORIZON_WEEKS,
        "chunk_size": config.chunk_size,
    }
    previous, previous_note = (None, "not loaded (refit='all')")
    if request.mode != "all":
        previous, previous_note = _usable_previous(model_store, fit_config, last_week)
    context.log.info(f"previous model: {previous_note}")
    plan = plan_retraining(series, model_series_frame(previous) if previous else None, request, now)
    summary = refit_summary(plan)
    n_refit = int((plan["action"] == "refit").sum())
    context.log.info(
        f"{len(plan):,} series x {y.index.levels[-1].size} weeks: refit {n_refit:,}, "
        f"update {len(plan) - n_refit:,} (refit={request.mode})"
    )
    parent = previous.version if previous else None
    t0 = time.perf_counter()
    composed = compose_version(
        y,
        X,
        plan,
        previous,
        make_forecaster=lambda: production_forecaster(config.n_jobs),
        fh=fh,
        now=now,
        chunk_size=config.chunk_size,
        min_fit_series=config.min_fit_series,
        log=context.log.info,
    )
    del previous
    forecasters = composed.forecasters
    fit_seconds = time.perf_counter() - t0
    off = [c for c in composed.chunks if pd.Timestamp(c["updated_through"]) != last_week]
    if off:
        context.log.warning(
            f"{len(off)} chunk(s) end before the last training week {last_week.date()}: "
            "none of their series has that week"
        )

    scores = pd.concat(
        [f.selection_scores_.assign(chunk=i) for i, f in enumerate(forecasters)],
        ignore_index=True,
    )
    by_segment = (
        pd.concat(
            [pd.Series(f.model_by_segment_, name="model") for f in forecasters],
            keys=range(len(forecasters)),
            names=["chunk", "segment"],
        )
        .reset_index()
        .drop_duplicates(["segment", "model"])
    )
    series_per_segment = pd.concat([f.segments_["segment"] for f in forecasters]).astype(str)
    by_segment["series"] = by_segment["segment"].map(series_per_segment.value_counts())
    by_segment = by_segment[by_segment["series"].fillna(0) > 0]
    reasons = plan["refit_reason"].value_counts().to_dict()
    retraining = {
        "mode": request.mode,
        "reason": request.reason,
        "segments": list(request.segments),
        "velocity": list(request.velocity),
        "cadence_days": dict(request.cadence_days),
        "previous_model": previous_note,
        "n_refit": n_refit,
        "n_updated": len(plan) - n_refit,
        "refit_reasons": reasons,
        "refit_by_velocity": plan.loc[plan["action"] == "refit", "velocity_class"]
        .value_counts()
        .to_dict(),
    }
    card = model_store.save(
        forecasters,
        training_frame=y,
        config={**fit_config, "n_chunks": len(forecasters)},
        backtest_scores=scores,
        tags={"dagster_run_id": context.run_id},
        parent_version=parent,
        retraining=retraining,
        chunks=composed.chunks,
        tables={"series": composed.series.reset_index()},
    )
    pruned = model_store.prune(keep_last=config.keep_versions)
    context.log.info(
        f"saved model {card.version} (parent {parent}; {fit_seconds:.1f} s fit/update); "
        f"pruned {len(pruned)} old version(s)"
    )
    selected = scores[scores["selected"]].drop(columns=["selected"])
    chunk_table = pd.DataFrame(composed.chunks)[
        [
            "chunk",
            "action",
            "n_series",
            "context_series",
            "new_weeks",
            "fit_window_start",
            "fit_window_end",
            "updated_through",
            "fitted_at",
            "seconds",
        ]
    ]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(card.version),
        metadata={
            "model_version": card.version,
            "parent_version": parent or "",
            "refit_mode": request.mode,
            "retrain_reason": request.reason,
            "previous_model": previous_note,
            "series_refit": n_refit,
            "series_updated": len(plan) - n_refit,
            "refit_reasons": dg.MetadataValue.md(md_table(summary)),
            "chunk_table": dg.MetadataValue.md(md_table(chunk_table)),
            "model_path": dg.MetadataValue.path(str(Path(model_store.root) / card.name)),
            "training_window": f"{card.training_window['start']} .. {card.training_window['end']}",
            "data_fingerprint": card.data_fingerprint or "",
            "series": len(plan),
            "chunks": len(forecasters),
            "fit_seconds": round(fit_seconds, 1),
            "series_per_second": round(len(plan) / max(fit_seconds, 1e-9), 1),
            "segment_models": dg.MetadataValue.md(
                md_table(by_segment[["segment", "model", "series"]])
            ),
            "selection_scores": dg.MetadataValue.md(
                md_table(
                    selected[["segment", "model", "n_series", "pinball", "coverage_90", "chunk"]]
                )
            ),
            "candidate_scores": dg.MetadataValue.md(
                md_table(scores[["segment", "model", "n_series", "pinball", "coverage_90"]])
            ),
            "interval_calibration": dg.MetadataValue.md(
                md_table(
                    pd.concat(
                        [f.calibration_.assign(chunk=i) for i, f in enumerate(forecasters)],
                        ignore_index=True,
                    ).round(3)
                )
            ),
            "pruned_versions": len(pruned),
        },
    )


def _usable_previous(
    model_store: ModelStore, fit_config: dict, last_week: pd.Timestamp
) -> tuple[PreviousVersion | None, str]:
    """The latest stored version if this run can update it, else None; and a note saying why."""
    version = model_store.latest_version()
    if version is None:
        return None, "none in the model store: fitting every series"
    try:
        card = model_store.card(version)
        forecasters = model_store.load_forecasters(version)
    except Exception as err:  # noqa: BLE001 - an unreadable artifact means a full fit, not a failure
        return None, f"{version} could not be loaded ({type(err).__name__}: {err}): fitting all"
    previous = PreviousVersion(
        version=version,
        forecasters=forecasters,
        chunks=chunk_records_from_card(
            version, len(forecasters), card.chunks, card.created_at, card.training_window
        ),
    )
    why = unusable_reason(previous, card.config, fit_config, last_week)
    if why is not None:
        return None, f"{version} not usable ({why}): fitting every series"
    return previous, version


def _forecaster_rows(f: DemandForecaster) -> pd.DataFrame:
    """Mean and quantiles for weeks 1..8 of every series of one fitted forecaster."""
    fh = list(range(1, HORIZON_WEEKS + 1))
    q = f.predict_quantiles(fh=fh, alpha=list(QUANTILE_LEVELS))
    q.columns = [quantile_column(float(c[-1])) for c in q.columns]
    moments = f.predict_moments(fh=fh)
    moments.index = q.index
    out = q.join(moments).reset_index()
    out = out.rename(columns={out.columns[2]: "forecast_week"})
    cutoff = pd.Timestamp(f.cutoff[0])
    out["horizon"] = ((out["forecast_week"] - cutoff) / pd.Timedelta(weeks=1)).round().astype(int)
    keys = pd.MultiIndex.from_frame(out[["sku", "location_id"]])
    out["demand_class"] = f.segments_["segment"].astype(str).reindex(keys).to_numpy()
    out["model_family"] = f.series_model_.reindex(keys).to_numpy()
    out["is_cold_start"] = False
    return out


def _fan_charts(
    forecast: pd.DataFrame, y: pd.DataFrame, n_charts: int = 3
) -> tuple[list[Path], list[str]]:
    """Fan charts for a few telling series: the top seller, an intermittent one, a new one."""
    qcols = [quantile_column(a) for a in QUANTILE_LEVELS]
    volume = forecast.groupby(["sku", "location_id"])["mean"].sum()
    series_class = forecast.groupby(["sku", "location_id"])["demand_class"].first()
    cold = forecast.groupby(["sku", "location_id"])["is_cold_start"].first()
    picks: list[tuple[str, str]] = [volume.idxmax()]
    for mask in (series_class.isin(["intermittent", "lumpy"]) & ~cold, cold):
        cands = volume[mask.reindex(volume.index).fillna(False).to_numpy()]
        if len(cands):
            picks.append(cands.idxmax())
    paths: list[Path] = []
    markdown: list[str] = []
    used = 0
    for i, key in enumerate(dict.fromkeys(picks)):
        if i >= n_charts:
            break
        fc = forecast[(forecast["sku"] == key[0]) & (forecast["location_id"] == key[1])]
        fc = fc.set_index("forecast_week").sort_index()
        q = fc[qcols].copy()
        q.columns = list(QUANTILE_LEVELS)
        try:
            history = y.loc[key].iloc[-52:, 0]
        except KeyError:
            history = pd.Series(dtype=float)
        title = f"{key[0]} @ {key[1]} ({fc['demand_class'].iloc[0]}, {fc['model_family'].iloc[0]})"
        png = fan_chart_png(history, q, title=title)
        path = reports_dir("forecasting") / f"demand_forecast_fan_{i + 1}.png"
        path.write_bytes(png)
        paths.append(path)
        if used + len(png) <= MAX_EMBEDDED_PNG_BYTES:
            markdown.append(f"**{title}**\n\n" + embed_png(png, "fan chart"))
            used += len(png)
    return paths, markdown


@dg.asset(
    deps=[demand_forecast_model, forecast_training_set, *MART_DEPS],
    **_COMMON,
)
def demand_forecast(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, model_store: ModelStore
) -> dg.MaterializeResult:
    """Weekly demand quantiles for the next 8 weeks of every store SKU-location.

    Series with at least 8 weeks of history get the latest saved model's forecast; newer ones
    (and SKU-locations listed in the mart without a complete week yet) get an analogue-based
    cold-start forecast, flagged ``is_cold_start``, because a model fitted on a handful of weeks
    is mostly noise. Every row carries ``model_version`` so an order can be traced to its model;
    a version made of several fitted chunks forecasts each series from exactly one of them.
    The rows are also appended to ``forecasting.demand_forecast_history`` with their ``origin``
    (the last training week) and run id, replacing an earlier set of the same origin and model
    version, so ``forecast_accuracy`` can score them once their weeks have happened.
    """
    t0 = time.perf_counter()
    y, _ = read_training_panel(warehouse)
    series_classes = read_series_classes(warehouse)
    with warehouse.get_connection() as con:
        store_series = con.execute(STORE_SERIES_SQL).df()
        items = con.execute(
            "select sku, category, cast(unit_price as double) as unit_price, launch_date "
            "from marts.dim_items"
        ).df()

    version = model_store.latest_version()
    if version is None:
        raise dg.Failure("the model store is empty: materialize demand_forecast_model first")
    forecasters = model_store.load_forecasters(version)
    keys = pd.concat([f.series_keys_.to_frame(index=False) for f in forecasters])
    if keys.duplicated().any():
        raise dg.Failure(
            f"model {version}: {int(keys.duplicated().sum())} series are in more than one chunk"
        )
    model_rows = _timed_chunks(
        context,
        forecasters,
        lambda f: len(f.series_keys_),  # type: ignore[attr-defined]
        lambda f: _forecaster_rows(f),  # type: ignore[arg-type]
        "predict",
    )
    forecast = pd.concat(model_rows, ignore_index=True)
    cutoff = max(pd.Timestamp(f.cutoff[0]) for f in forecasters)

    # cold start: short histories, plus store SKU-locations with no complete week in the panel
    weeks_per_series = y.groupby(level=["sku", "location_id"]).size()
    short = weeks_per_series[weeks_per_series < MIN_HISTORY_WEEKS].index
    all_series = pd.MultiIndex.from_frame(store_series[["sku", "location_id"]])
    missing = all_series.difference(weeks_per_series.index)
    targets = list(short.union(missing))
    t1 = time.perf_counter()
    cold = cold_start_forecast(
        y.reset_index()[["sku", "location_id", "period", "demand"]],
        items,
        horizon=HORIZON_WEEKS,
        freq=FREQ,
        targets=targets,
        as_of=cutoff,
        min_history=MIN_HISTORY_WEEKS,
        alphas=QUANTILE_LEVELS,
    )
    if not cold.empty:
        cold = cold.rename(columns={f"q{a:g}": quantile_column(a) for a in QUANTILE_LEVELS})
        cold = cold.rename(columns={"period": "forecast_week"})
        cold["horizon"] = cold.groupby(["sku", "location_id"]).cumcount() + 1
        cold["demand_class"] = "new"
        # moments from the analogue quantiles; the excess spread of a new item is mostly not
        # knowing its level, so it is all treated as shared across weeks (conservative for sums)
        spread = (cold[quantile_column(0.95)] - cold[quantile_column(0.05)]) / 3.29
        cold["variance"] = np.maximum(spread**2, cold["mean"])
        cold["level_cv2"] = np.where(
            cold["mean"] > 0,
            (cold["variance"] - cold["mean"]) / np.maximum(cold["mean"], 1e-9) ** 2,
            0.0,
        )
        cold["model_family"] = "cold_start_" + cold["analogue_level"].astype(str)
        forecast = forecast[
            ~pd.MultiIndex.from_frame(forecast[["sku", "location_id"]]).isin(targets)
        ]
        forecast = pd.concat([forecast, cold[forecast.columns]], ignore_index=True)
    context.log.info(
        f"cold start for {len(targets):,} series in {time.perf_counter() - t1:.1f} s "
        f"({len(missing):,} without a complete week)"
    )

    forecast["model_version"] = version
    forecast["created_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    # series without a complete week have no recent volume: slow until their first weeks land
    forecast["velocity_class"] = (
        series_classes["velocity_class"]
        .reindex(pd.MultiIndex.from_frame(forecast[["sku", "location_id"]]))
        .fillna("slow")
        .to_numpy()
    )
    qcols = [quantile_column(a) for a in QUANTILE_LEVELS]
    columns = [
        "sku",
        "location_id",
        "forecast_week",
        "horizon",
        "mean",
        "variance",
        "level_cv2",
        *qcols,
        "demand_class",
        "velocity_class",
        "model_family",
        "is_cold_start",
        "model_version",
        "created_at",
    ]
    forecast = forecast[columns].sort_values(["sku", "location_id", "horizon"], ignore_index=True)
    forecast["horizon"] = forecast["horizon"].astype(int)
    forecast["is_cold_start"] = forecast["is_cold_start"].astype(bool)
    origin = pd.Timestamp(forecast["forecast_week"].min()) - pd.Timedelta(weeks=1)

    with warehouse.get_connection() as con:
        rows = replace_table(con, "demand_forecast", forecast, date_columns=["forecast_week"])
        history_rows = append_forecast_history(
            con, forecast.assign(origin=origin, dagster_run_id=context.run_id)
        )

    paths, charts = _fan_charts(forecast, y)
    n_series = forecast.groupby(["sku", "location_id"]).ngroups
    n_cold = forecast.loc[forecast["is_cold_start"], ["sku", "location_id"]].drop_duplicates()
    context.log.info(f"demand_forecast: {rows:,} rows in {time.perf_counter() - t0:.1f} s")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "series": int(n_series),
            "cold_start_series": len(n_cold),
            "model_version": version,
            "origin": str(origin.date()),
            "history_rows": history_rows,
            "forecast_weeks": f"{forecast['forecast_week'].min().date()} .. "
            f"{forecast['forecast_week'].max().date()}",
            "units_next_8_weeks": float(forecast["mean"].sum()),
            "fan_chart": dg.MetadataValue.md("\n\n".join(charts) or "no chart"),
            "fan_chart_paths": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in paths)),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )


HISTORY_TABLE = "demand_forecast_history"


def append_forecast_history(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> int:
    """Add one run's forecast rows to ``forecasting.demand_forecast_history``; returns its size.

    One set of rows per ``(origin, model_version)``: rows of the same pair written before (a
    re-run) are deleted in the same transaction that inserts the new ones, so the history never
    holds duplicates nor, after a failure, a half-replaced set. Columns the forecast gained since
    the history was created are added first (old rows read NULL), as in ``append_to_history``.
    """
    table = f"{SCHEMA}.{HISTORY_TABLE}"
    con.execute(f"create schema if not exists {SCHEMA}")
    con.register("_history_rows", rows)
    try:
        select = (
            "select * replace (cast(forecast_week as date) as forecast_week, "
            "cast(origin as date) as origin) from _history_rows"
        )
        con.execute("begin transaction")
        try:
            con.execute(f"create table if not exists {table} as {select} where false")
            have = {
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [SCHEMA, HISTORY_TABLE],
                ).fetchall()
            }
            described = con.execute(f"describe {select}").fetchall()
            for name, dtype, *_ in described:
                if name not in have:
                    con.execute(f'alter table {table} add column "{name}" {dtype}')
            con.execute(
                f"delete from {table} where (origin, model_version) in "
                f"(select distinct cast(origin as date), model_version from _history_rows)"
            )
            con.execute(f"insert into {table} by name {select}")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_history_rows")
    return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])


#: Quantile column -> level, as stored in demand_forecast and its history.
QUANTILE_COLUMNS: dict[str, float] = {quantile_column(a): a for a in QUANTILE_LEVELS}

MATURED_CELLS_SQL = f"""
with latest as (
    -- one forecast set per origin: the one made last (a re-run with a new model replaces it)
    select origin, arg_max(model_version, created_at) as model_version
    from {SCHEMA}.{HISTORY_TABLE}
    group by origin
)
select h.sku, h.location_id, h.origin, h.model_version, h.horizon, h.forecast_week,
       h.demand_class, h.velocity_class, h.is_cold_start, h.mean, h.variance,
       {", ".join(f"h.{c}" for c in QUANTILE_COLUMNS)},
       a.demand as actual
from {SCHEMA}.{HISTORY_TABLE} h
join latest using (origin, model_version)
join {SCHEMA}.training_set a
  on a.sku = h.sku and a.location_id = h.location_id and a.week = h.forecast_week
"""


@dg.asset(deps=[demand_forecast, forecast_training_set], **_COMMON)
def forecast_accuracy(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Realised accuracy of past forecasts, by origin, horizon and demand class.

    Joins ``forecasting.demand_forecast_history`` (for each origin the forecast set made last)
    with the weekly actuals that have arrived since: ``forecasting.training_set.demand``, the
    censoring-corrected demand the model trains on, so a stockout week is judged against the
    demand that was there, not the sales it allowed. Metrics as in the backtest: MAE, WAPE and
    bias of the median (plus the bias of the mean), pinball loss over the stored quantiles,
    closed 80/90% interval coverage and, the calibration figure for integer demand,
    randomised-PIT coverage under the stored negative-binomial mean and variance. Roll-up rows
    have ``horizon`` NULL (all horizons) and ``demand_class`` 'all'. When no forecast week has
    happened yet the table is empty and the metadata says so.
    """
    t0 = time.perf_counter()
    with warehouse.get_connection() as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [SCHEMA, HISTORY_TABLE],
        ).fetchall()[0][0]
        cells = con.execute(MATURED_CELLS_SQL).df() if exists else pd.DataFrame()
        origins = (
            con.execute(
                f"select origin, count(distinct model_version) as versions, count(*) as n_rows "
                f"from {SCHEMA}.{HISTORY_TABLE} group by origin order by origin"
            ).df()
            if exists
            else pd.DataFrame(columns=["origin", "versions", "n_rows"])
        )
    accuracy = realised_accuracy(cells, QUANTILE_COLUMNS)
    accuracy["created_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    with warehouse.get_connection() as con:
        rows = replace_table(con, "forecast_accuracy", accuracy, date_columns=["origin"])

    metadata: dict[str, object] = {
        "dagster/row_count": rows,
        "matured_cells": len(cells),
        "origins_in_history": len(origins),
        "origins_matured": int(accuracy["origin"].nunique()) if rows else 0,
    }
    if cells.empty:
        first = str(pd.Timestamp(origins["origin"].min()).date()) if len(origins) else None
        metadata["status"] = (
            "nothing has matured yet: "
            + (
                f"the oldest forecast (origin {first}) has no actual week in the training set"
                if first
                else "no forecast history yet"
            )
            + "; realised accuracy appears once the first forecast week's actuals arrive"
        )
    else:
        top = accuracy[accuracy["horizon"].isna() & (accuracy["demand_class"] == "all")]
        last = top.sort_values("origin").iloc[-1]
        metadata["status"] = (
            f"{len(cells):,} matured forecast cells from {top['origin'].nunique()} origin(s)"
        )
        for col in ("wape", "bias", "pinball", "coverage_90", "pit_coverage_90"):
            metadata[f"latest_{col}"] = float(last[col])
        summary = top[
            [
                "origin",
                "n_series",
                "n_cells",
                "mae",
                "wape",
                "bias",
                "pinball",
                "coverage_80",
                "coverage_90",
                "pit_coverage_80",
                "pit_coverage_90",
            ]
        ].assign(origin=lambda d: pd.to_datetime(d["origin"]).dt.date.astype(str))
        metadata["by_origin"] = dg.MetadataValue.md(md_table(summary))
        by_class = accuracy[accuracy["horizon"].isna() & (accuracy["demand_class"] != "all")]
        by_class = (
            by_class.groupby("demand_class")
            .apply(
                lambda g: pd.Series(
                    {
                        "n_cells": int(g["n_cells"].sum()),
                        "wape": float((g["wape"] * g["actual_units"]).sum())
                        / max(float(g["actual_units"].sum()), 1e-9),
                        "pinball": float(np.average(g["pinball"], weights=g["n_cells"])),
                        "pit_coverage_90": float(
                            np.average(g["pit_coverage_90"], weights=g["n_cells"])
                        ),
                    }
                ),
                include_groups=False,
            )
            .reset_index()
        )
        metadata["by_demand_class"] = dg.MetadataValue.md(md_table(by_class))
        png = accuracy_chart_png(accuracy, title="Realised forecast accuracy by origin")
        path = reports_dir("forecasting") / "forecast_accuracy.png"
        path.write_bytes(png)
        metadata["accuracy_chart"] = dg.MetadataValue.md(embed_png(png, "accuracy chart"))
        metadata["accuracy_chart_path"] = dg.MetadataValue.path(str(path))
    metadata["seconds"] = round(time.perf_counter() - t0, 1)
    context.log.info(str(metadata["status"]))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(deps=[forecast_training_set], **_COMMON)
def forecast_backtest(
    context: dg.AssetExecutionContext, config: BacktestConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Rolling-origin backtest: the production forecaster vs seasonal naive and per-series ETS.

    The forecaster is refitted at each origin on the data before it, so the scores are honest
    out-of-sample numbers on the same cells for all three. To keep the weekly run bounded it runs
    on a seeded random sample of at most ``max_series`` series (the baselines being per-series,
    a sample estimates the same per-segment averages at a fraction of the cost).
    """
    t0 = time.perf_counter()
    y, X = read_training_panel(warehouse)
    # Series new at the first origin are cold-start cases in production (not forecast by the
    # model), and per-series ETS cannot fit a handful of weeks: backtest established series only.
    weeks = y.index.get_level_values(-1).unique().sort_values()
    n_origins = min(config.n_origins, (len(weeks) - MIN_HISTORY_WEEKS) // HORIZON_WEEKS)
    if n_origins < 1:
        raise dg.Failure(
            f"{len(weeks)} weeks of history: a backtest needs at least "
            f"{MIN_HISTORY_WEEKS + HORIZON_WEEKS}"
        )
    if n_origins < config.n_origins:
        context.log.warning(f"only {len(weeks)} weeks of history: {n_origins} origin(s)")
    first_cut = weeks[len(weeks) - n_origins * HORIZON_WEEKS - 1]
    history = y[y.index.get_level_values(-1) <= first_cut].groupby(level=[0, 1]).size()
    keys = history[history >= MIN_HISTORY_WEEKS].index
    y, X = _subset(y, keys), _subset(X, keys)
    if len(keys) > config.max_series:
        rng = np.random.default_rng(config.seed)
        keys = keys[np.sort(rng.choice(len(keys), config.max_series, replace=False))]
        y, X = _subset(y, keys), _subset(X, keys)
    context.log.info(
        f"backtesting {len(keys):,} series, {n_origins} origins x {HORIZON_WEEKS} weeks"
    )
    result = rolling_origin_backtest(
        y,
        X,
        forecasters={"DemandForecaster": lambda: production_forecaster(config.n_jobs)},
        horizon=HORIZON_WEEKS,
        n_origins=n_origins,
        n_jobs=config.n_jobs,
    )
    context.log.info(f"backtest took {time.perf_counter() - t0:.1f} s")

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.rename(
            columns=lambda c: (
                "pinball_" + quantile_column(float(c.removeprefix("pinball_q")))
                if c.startswith("pinball_q")
                else c
            )
        )
        out["n_series_sampled"] = len(keys)
        out["horizon_weeks"] = HORIZON_WEEKS
        out["created_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
        return out

    metrics = tidy(result["metrics"])
    by_origin = tidy(result["by_origin"])
    with warehouse.get_connection() as con:
        rows = replace_table(con, "backtest_metrics", metrics)
        replace_table(con, "backtest_metrics_by_origin", by_origin)
        replace_table(
            con,
            "backtest_forecasts",
            backtest_forecast_rows(result["forecasts"]),
            date_columns=["forecast_week", "origin"],
        )

    summary = metrics.pivot_table(
        index="segment",
        columns="model",
        values=["pinball", "coverage_90", "pit_coverage_90"],
        sort=False,
        dropna=False,
    )
    summary.columns = [f"{m} {v}" for v, m in summary.columns]
    summary = summary.dropna(axis=1, how="all")
    summary = summary[sorted(summary.columns)].reset_index()
    calib = calibration_table(metrics)
    png = coverage_chart_png(result["metrics"], title="Backtest interval coverage")
    path = reports_dir("forecasting") / "backtest_coverage.png"
    path.write_bytes(png)
    overall = metrics[metrics["segment"] == "all"].set_index("model")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "series_sampled": len(keys),
            "origins": n_origins,
            "pinball_and_coverage_90": dg.MetadataValue.md(md_table(summary)),
            "calibration_90": dg.MetadataValue.md(md_table(calib)),
            "segments_calibrated": int(calib["within_target"].sum()),
            "segments_checked": len(calib),
            **{
                f"pinball_{model}": float(v)
                for model, v in overall["pinball"].items()  # type: ignore[union-attr]
            },
            "coverage_chart": dg.MetadataValue.md(embed_png(png, "coverage chart")),
            "coverage_chart_path": dg.MetadataValue.path(str(path)),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )


def backtest_forecast_rows(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The production forecaster's held-out forecasts with their actuals, one row per cell.

    Kept as a table because the policy backtest replays exactly these forecasts (made at each
    origin from the data before it) against the weeks that followed.
    """
    fc = forecasts[forecasts["model"] == "DemandForecaster"].copy()
    fc = fc.rename(columns={"period": "forecast_week"})
    qmap = {f"q{a:g}": quantile_column(a) for a in QUANTILE_LEVELS}
    fc = fc.rename(columns=qmap)
    fc["origin"] = pd.to_datetime(fc["origin"])
    fc["forecast_week"] = pd.to_datetime(fc["forecast_week"])
    fc["horizon"] = ((fc["forecast_week"] - fc["origin"]) / pd.Timedelta(weeks=1)).round()
    fc["horizon"] = fc["horizon"].astype(int)
    cols = ["sku", "location_id", "origin", "forecast_week", "horizon", "actual"]
    cols += ["mean", "variance", "level_cv2", *[c for c in qmap.values() if c in fc]]
    return fc[cols].reset_index(drop=True)


#: Randomised-PIT coverage of the 90% interval that counts as calibrated, and the series a
#: segment needs in the backtest sample to be judged (fewer: too noisy to call).
CALIBRATION_BAND: tuple[float, float] = (0.87, 0.93)
CALIBRATION_MIN_SERIES = 20


def calibration_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per segment: the production forecaster's 90% coverage against :data:`CALIBRATION_BAND`.

    Count demand is judged on randomised-PIT coverage (exact for calibrated count forecasts);
    continuous data, where that is NaN, on the closed-interval coverage.
    """
    m = metrics[(metrics["model"] == "DemandForecaster") & (metrics["segment"] != "all")]
    m = m[m["n_series"] >= CALIBRATION_MIN_SERIES]
    pit = m["pit_coverage_90"] if "pit_coverage_90" in m else pd.Series(np.nan, index=m.index)
    cov = pit.fillna(m["coverage_90"])
    lo, hi = CALIBRATION_BAND
    return pd.DataFrame(
        {
            "segment": m["segment"].to_numpy(),
            "n_series": m["n_series"].to_numpy(),
            "coverage_90": cov.to_numpy(dtype=float).round(4),
            "within_target": ((cov >= lo) & (cov <= hi)).to_numpy(),
        }
    )


@dg.asset_check(asset=forecast_backtest, blocking=False, pool=WAREHOUSE_POOL)
def forecast_interval_calibration(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    """Every segment's 90% interval covers 87-93% of held-out weeks (randomised PIT).

    Warns rather than blocks: a miscalibrated segment still has a forecast, but safety stocks
    built on it will miss their service targets, so the data team should look.
    """
    with warehouse.get_connection() as con:
        metrics = con.execute(f"select * from {SCHEMA}.backtest_metrics").df()
    table = calibration_table(metrics)
    bad = table[~table["within_target"]]
    return dg.AssetCheckResult(
        passed=bool(bad.empty),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "segments": dg.MetadataValue.md(md_table(table)),
            "outside_band": ", ".join(bad["segment"]) or "none",
        },
    )


forecasting_assets = [
    forecast_training_set,
    demand_forecast_model,
    demand_forecast,
    forecast_accuracy,
    forecast_backtest,
]
forecasting_checks = [forecast_interval_calibration]
