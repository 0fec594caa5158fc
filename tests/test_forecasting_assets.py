"""The forecasting assets inside the real weekly planning run (session fixture `planning_run`).

The run builds the marts from a generated drop, then fits, saves, predicts and backtests; these
tests assert what the inventory domain relies on: one forecast per store SKU-location and week,
valid quantiles, traceability to a saved model version, flagged cold starts, and a backtest that
beats the naive baseline.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from orchestration import settings

pytestmark = pytest.mark.integration

HORIZON_WEEKS = 8
QUANTILE_COLUMNS = ["q01", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q99"]


def _latest_materialization(run: dg.ExecuteInProcessResult, name: str) -> dg.AssetMaterialization:
    key = dg.AssetKey(["forecasting", name])
    events = [e for e in run.get_asset_materialization_events() if e.asset_key == key]
    assert events, f"{key.to_user_string()} was not materialized"
    return events[-1].materialization


@pytest.fixture(scope="module")
def run(planning_run) -> dg.ExecuteInProcessResult:
    assert planning_run.success, "the planning run failed; see the Dagster log above"
    return planning_run


@pytest.fixture(scope="module")
def forecast(run, query) -> pd.DataFrame:
    return query("SELECT * FROM forecasting.demand_forecast")


def test_planning_run_materializes_every_forecasting_asset(run) -> None:
    materialized = {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}
    assert {
        "forecasting/forecast_training_set",
        "forecasting/demand_forecast_model",
        "forecasting/demand_forecast",
        "forecasting/forecast_accuracy",
        "forecasting/forecast_backtest",
    } <= materialized


def test_forecast_has_one_row_per_store_sku_location_and_horizon(forecast, query) -> None:
    stores = query(
        "SELECT DISTINCT f.sku, f.location_id FROM marts.fct_daily_demand f "
        "JOIN marts.dim_locations l USING (location_id) WHERE l.location_type = 'STORE'"
    )
    dcs = query("SELECT location_id FROM marts.dim_locations WHERE location_type <> 'STORE'")
    assert len(stores) > 0
    assert len(forecast) == len(stores) * HORIZON_WEEKS
    got = forecast[["sku", "location_id"]].drop_duplicates()
    assert set(map(tuple, got.to_numpy())) == set(map(tuple, stores.to_numpy()))
    assert not forecast["location_id"].isin(dcs["location_id"]).any()  # DCs are not forecast
    horizons = forecast.groupby(["sku", "location_id"])["horizon"].apply(sorted)
    assert (horizons.map(tuple) == tuple(range(1, HORIZON_WEEKS + 1))).all()
    # horizon h is the h-th Monday after the last training week, for every series
    last_week = query("SELECT max(week) AS w FROM forecasting.training_set")["w"].iloc[0]
    expected = pd.Timestamp(last_week) + pd.to_timedelta(forecast["horizon"] * 7, unit="D")
    assert (pd.to_datetime(forecast["forecast_week"]) == expected).all()
    assert (pd.to_datetime(forecast["forecast_week"]).dt.dayofweek == 0).all()


def test_quantiles_are_non_negative_and_monotone_across_levels(forecast) -> None:
    q = forecast[QUANTILE_COLUMNS].to_numpy(dtype=float)
    assert np.isfinite(q).all()
    assert (q >= 0).all()
    assert (np.diff(q, axis=1) >= 0).all()
    assert (forecast["mean"] >= 0).all()
    # the intervals carry information: not every series is a point mass
    assert (forecast["q95"] > forecast["q05"]).mean() > 0.5


def test_every_row_carries_the_latest_model_version_in_the_store(run, forecast) -> None:
    from orchestration.defs.forecasting.resources import ModelStore, model_store_dir

    store = ModelStore(root=str(model_store_dir()))
    latest = store.latest_version()
    assert latest is not None
    assert set(forecast["model_version"]) == {latest}
    meta = _latest_materialization(run, "demand_forecast_model").metadata
    assert meta["model_version"].value == latest
    card = store.card(latest)
    assert card.data_fingerprint and card.training_window["end"] is not None
    assert len(store.load_forecasters(latest)) == meta["chunks"].value == 1


def test_new_sku_locations_get_flagged_cold_start_forecasts(forecast, query) -> None:
    weeks = query(
        "SELECT sku, location_id, count(*) AS n_weeks FROM forecasting.training_set GROUP BY ALL"
    )
    series = forecast.groupby(["sku", "location_id"])["is_cold_start"].agg(["all", "any"])
    assert (series["all"] == series["any"]).all()  # a series is cold start for all 8 weeks or none
    n_weeks = weeks.set_index(["sku", "location_id"])["n_weeks"].reindex(series.index).fillna(0)
    # cold start exactly where the history is shorter than 8 weeks (or missing)
    assert (series["all"] == (n_weeks < 8)).all()
    cold = forecast[forecast["is_cold_start"]]
    assert (cold["demand_class"] == "new").all()
    assert cold["model_family"].str.startswith("cold_start").all()
    # the drop launches SKUs in its last 2-7 weeks (cold start is exercised, not just possible)
    last_week = pd.Timestamp(query("SELECT max(week) AS w FROM forecasting.training_set")["w"][0])
    launched = query("SELECT sku, launch_date FROM marts.dim_items")
    recent = launched[pd.to_datetime(launched["launch_date"]) > last_week - pd.Timedelta(weeks=7)]
    assert len(recent) >= 1
    recent_rows = forecast[forecast["sku"].isin(recent["sku"])]
    assert len(recent_rows) > 0 and recent_rows["is_cold_start"].all()
    # analogue forecasts are real demand levels, not zeros or placeholders
    assert (recent_rows.groupby("sku")["mean"].sum() > 0).all()
    assert (recent_rows["q95"] >= recent_rows["q50"]).all()


def test_training_set_is_censoring_corrected(run, query) -> None:
    ts = query("SELECT * FROM forecasting.training_set")
    assert ts["is_imputed"].any()  # the demo drop has stockouts
    assert (ts["demand"] >= ts["units_sold"].round() - 1e-9).all()
    imputed = ts[ts["is_imputed"]]
    assert (imputed["demand"] > imputed["units_sold"]).mean() > 0.5
    meta = _latest_materialization(run, "forecast_training_set").metadata
    assert meta["series"].value == ts.groupby(["sku", "location_id"]).ngroups
    assert meta["imputed_week_share"].value == pytest.approx(ts["is_imputed"].mean())


def test_backtest_beats_seasonal_naive_with_finite_scores(run, query) -> None:
    m = query("SELECT * FROM forecasting.backtest_metrics")
    overall = m[m["segment"] == "all"].set_index("model")
    assert {"DemandForecaster", "seasonal_naive", "AutoETS"} <= set(overall.index)
    for col in ("pinball", "mae", "rmse", "wape", "bias", "coverage_80", "coverage_98"):
        assert np.isfinite(overall[col].to_numpy(dtype=float)).all(), col
    assert overall.loc["DemandForecaster", "pinball"] < overall.loc["seasonal_naive", "pinball"]
    assert set(m["segment"]) - {"all"}  # per-segment rows too
    meta = _latest_materialization(run, "forecast_backtest").metadata
    assert meta["dagster/row_count"].value == len(m)
    assert "DemandForecaster" in meta["pinball_and_coverage_90"].value


def test_charts_are_embedded_small_and_saved(run) -> None:
    for asset, key in (("demand_forecast", "fan_chart"), ("forecast_backtest", "coverage_chart")):
        md = _latest_materialization(run, asset).metadata[key].value
        images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", md)
        assert images, f"{asset}: no embedded chart"
        raw = [base64.b64decode(i) for i in images]
        assert all(r[:4] == b"\x89PNG" for r in raw)
        assert sum(len(r) for r in raw) <= 100_000
    path = _latest_materialization(run, "forecast_backtest").metadata["coverage_chart_path"].value
    assert Path(path).is_file()
    assert Path(path).parent == settings.data_dir() / "reports" / "forecasting"


def test_calibration_check_judges_each_segment_against_the_band(run, query) -> None:
    from orchestration.defs.forecasting.assets import CALIBRATION_BAND, calibration_table

    evals = [
        e
        for e in run.get_asset_check_evaluations()
        if e.check_name == "forecast_interval_calibration"
    ]
    assert len(evals) == 1
    table = calibration_table(query("SELECT * FROM forecasting.backtest_metrics"))
    lo, hi = CALIBRATION_BAND
    inside = table["coverage_90"].between(lo, hi)
    assert (table["within_target"] == inside).all()
    assert evals[0].passed == bool(inside.all())
    assert evals[0].metadata["outside_band"].value == (
        ", ".join(table.loc[~inside, "segment"]) or "none"
    )
    # count data are judged on randomised-PIT coverage, which the backtest stores
    m = query("SELECT * FROM forecasting.backtest_metrics WHERE model = 'DemandForecaster'")
    assert m["pit_coverage_90"].between(0.7, 1.0).all()


def test_large_networks_are_fitted_and_forecast_in_chunks(run, instance, query) -> None:
    """Chunked fitting (the path a network above ``chunk_size`` series takes) gives one model
    per chunk, a forecast for every series, and progress lines per chunk."""
    from orchestration.definitions import defs
    from orchestration.defs.forecasting.assets import demand_forecast, demand_forecast_model

    n_series = query(
        "SELECT count(*) AS n FROM (SELECT DISTINCT sku, location_id FROM forecasting.training_set)"
    )["n"][0]
    chunk = int(np.ceil(n_series / 3))
    result = dg.materialize(
        [demand_forecast_model, demand_forecast],
        instance=instance,
        resources=defs.resources,
        run_config={
            "ops": {
                "forecasting__demand_forecast_model": {
                    "config": {"chunk_size": chunk, "refit": "all"}
                }
            }
        },
    )
    assert result.success
    meta = _latest_materialization(result, "demand_forecast_model").metadata
    assert meta["chunks"].value == 3
    fc = query("SELECT * FROM forecasting.demand_forecast")
    store_series = query(
        "SELECT count(*) AS n FROM (SELECT DISTINCT f.sku, f.location_id "
        "FROM marts.fct_daily_demand f JOIN marts.dim_locations l USING (location_id) "
        "WHERE l.location_type = 'STORE')"
    )["n"][0]
    assert fc.groupby(["sku", "location_id"]).ngroups == store_series
    assert (fc.groupby(["sku", "location_id"]).size() == 8).all()
    logs = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.message and re.search(r"fit chunk \d/3", e.message)
    ]
    assert len(logs) == 3


# ------------------------------------------------------------------------------ retraining
def test_retrain_schedules_request_velocity_refits_that_validate_against_the_job() -> None:
    from datetime import UTC, datetime

    from orchestration.definitions import defs
    from orchestration.defs.forecasting.jobs import retrain_run_config

    job = defs.resolve_job_def("retrain_forecasts")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "forecasting/demand_forecast_model",
        "forecasting/demand_forecast",
    }
    cases = {
        # (tick: a Sunday 22:00 UTC / the 1st of a month 22:00 UTC, cron, velocity class)
        "retrain_fast_movers_weekly": (datetime(2026, 3, 1, 22, tzinfo=UTC), "0 22 * * 0", "fast"),
        "retrain_staples_monthly": (datetime(2026, 4, 1, 22, tzinfo=UTC), "0 22 1 * *", "slow"),
    }
    for name, (tick, cron, velocity) in cases.items():
        schedule = defs.resolve_schedule_def(name)
        assert schedule.job_name == "retrain_forecasts"
        assert schedule.cron_schedule == cron and schedule.execution_timezone == "UTC"
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        assert velocity in schedule.description and "refit" in schedule.description
        data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
        assert len(data.run_requests) == 1
        config = data.run_requests[0].run_config
        model_config = config["ops"]["forecasting__demand_forecast_model"]["config"]
        assert model_config["refit"] == "velocity" and model_config["velocity"] == [velocity]
        assert model_config["segments"] == [] and model_config["reason"]
        assert config == retrain_run_config(
            "velocity", velocity=[velocity], reason=model_config["reason"]
        )
        assert dg.validate_run_config(job, config)
    with pytest.raises(ValueError, match="refit must be one of"):
        retrain_run_config("sometimes")


def test_retrain_run_refits_exactly_the_fast_movers_and_updates_the_others(
    run, instance, query
) -> None:
    from orchestration.definitions import defs
    from orchestration.defs.forecasting.jobs import retrain_run_config
    from orchestration.defs.forecasting.resources import ModelStore, model_store_dir

    store = ModelStore(root=str(model_store_dir()))
    parent = store.latest_version()
    parent_card = store.card(parent)
    parent_chunks = store.load_forecasters(parent)
    config = retrain_run_config("velocity", velocity=["fast"], reason="drift in fast movers")
    result = defs.resolve_job_def("retrain_forecasts").execute_in_process(
        run_config=config, instance=instance
    )
    assert result.success
    version = store.latest_version()
    assert version != parent
    card = store.card(version)
    assert card.parent_version == parent
    assert card.retraining["mode"] == "velocity" and card.retraining["velocity"] == ["fast"]
    assert card.retraining["reason"] == "drift in fast movers"

    classes = query(
        "SELECT DISTINCT sku, location_id, velocity_class FROM forecasting.training_set"
    ).set_index(["sku", "location_id"])["velocity_class"]
    fast = set(classes.index[classes == "fast"])
    assert 0 < len(fast) < len(classes)
    series = store.load_table("series", version).set_index(["sku", "location_id"])
    assert set(series.index) == set(classes.index)
    assert set(series.index[series["action"] == "refit"]) == fast
    assert (series.loc[list(fast), "refit_reason"] == "requested").all()
    assert card.retraining["n_refit"] == len(fast)
    assert card.retraining["n_updated"] == len(classes) - len(fast)

    # every series in exactly one chunk; refit chunks are new, updated ones keep their fit
    chunks = store.load_forecasters(version)
    assert len(chunks) == len(card.chunks)
    seen = pd.concat([f.series_keys_.to_frame(index=False) for f in chunks])
    assert not seen.duplicated().any() and len(seen) == len(classes)
    for f, record in zip(chunks, card.chunks, strict=True):
        keys = set(f.series_keys_)
        if record["action"] == "refit":
            assert keys <= fast
            assert pd.Timestamp(record["fitted_at"]) > pd.Timestamp(parent_card.created_at)
            continue
        assert not keys & fast
        old = parent_chunks[record["parent_chunk"]]
        assert record["fitted_at"] == parent_card.chunks[record["parent_chunk"]]["fitted_at"]
        pd.testing.assert_frame_equal(f.dispersion_, old.dispersion_.loc[f.series_keys_])
        pd.testing.assert_series_equal(f.series_model_, old.series_model_.loc[f.series_keys_])
    assert sum(len(f.series_keys_) for f in chunks if f is not None) == len(classes)

    fc = query("SELECT * FROM forecasting.demand_forecast")
    assert set(fc["model_version"]) == {version}
    assert (fc.groupby(["sku", "location_id"]).size() == HORIZON_WEEKS).all()
    got = fc.drop_duplicates(["sku", "location_id"]).set_index(["sku", "location_id"])
    model_rows = got[~got["is_cold_start"]]
    pd.testing.assert_series_equal(
        model_rows["velocity_class"],
        classes.reindex(model_rows.index),
        check_names=False,
    )
    meta = _latest_materialization(result, "demand_forecast_model").metadata
    assert meta["series_refit"].value == len(fast)
    assert meta["parent_version"].value == parent
