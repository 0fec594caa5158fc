"""Forecast history and realised accuracy across two real runs on a warehouse of their own.

Run 1 sees the demo drop with the last 4 weeks of sales and inventory snapshots held back (as if
the ERP had not sent them yet); run 2 sees the full drop (the held-back rows arrive as corrected
re-exports of the same files). Both run ingest, dbt and the forecasting assets for real
(``refit="auto"``, the weekly default). Run 2 finds run 1's forecasts in
``forecasting.demand_forecast_history`` with 4 of their 8 weeks now observed; the realised
metrics in ``forecasting.forecast_accuracy`` are checked against values computed here, from the
stored tables, by other code (SQL aggregates and scipy distributions).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytestmark = pytest.mark.integration

HELD_BACK_WEEKS = 4
DATE_COLUMNS = {"sales": "sale_date", "inventory_snapshots": "snapshot_date"}
FORECASTING = ["forecast_training_set", "demand_forecast_model", "demand_forecast"]


def _parse_dates(values: pd.Series) -> pd.Series:
    """The date formats the demo ERP writes (ISO, YYYYMMDD, DD.MM.YYYY, MM/DD/YYYY)."""
    text = values.astype(str)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%m/%d/%Y"):
        out = out.fillna(pd.to_datetime(text, format=fmt, errors="coerce"))
    return out


def _hold_back(landing: Path, cut: pd.Timestamp) -> None:
    """Hold back every sales / snapshot row dated on or after ``cut``.

    A file mostly after ``cut`` is held back whole (its few late-arriving rows dated before
    ``cut`` come with it, as they would from the ERP); a file mostly before it is cut at ``cut``
    (the month's export so far).
    """
    for extract, column in DATE_COLUMNS.items():
        for path in sorted((landing / extract).iterdir()):
            frame = pd.read_parquet(path)
            dates = _parse_dates(frame[column])
            keep = dates.isna() | (dates < cut)
            if keep.all():
                continue
            if dates.median() < cut:
                frame[keep.to_numpy()].to_parquet(path, index=False)
            else:
                path.unlink()


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, names: Sequence[str] = ()):
    """Ingest, dbt and the forecasting assets (not the backtest), for real."""
    graph = defs.resolve_asset_graph()
    forecasting = dg.AssetSelection.assets(
        *[dg.AssetKey(["forecasting", n]) for n in (names or [*FORECASTING, "forecast_accuracy"])]
    )
    # a fresh warehouse needs the whole dbt build (its relationship tests span all marts)
    upstream = dg.AssetSelection.groups("ingest", "staging", "intermediate", "marts")
    keys = sorted((forecasting if names else forecasting | upstream).resolve(graph))
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=keys, raise_on_error=False
    )
    assert result.success, "a run of the two-drop scenario failed; see the log above"
    return result


def _meta(result, name: str) -> dict:
    key = dg.AssetKey(["forecasting", name])
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


@pytest.fixture(scope="module")
def two_runs(demo_drop, instance, tmp_path_factory):
    from orchestration.definitions import build_definitions

    landing_src, _summary = demo_drop
    root = tmp_path_factory.mktemp("accuracy_runs")
    landing = root / "data" / "landing"
    shutil.copytree(landing_src, landing)
    sales = pd.concat(pd.read_parquet(p) for p in sorted((landing / "sales").iterdir()))
    last_day = _parse_dates(sales["sale_date"]).max()
    # the last complete Monday-Sunday week of the full drop starts on last_week
    last_week = (last_day - pd.Timedelta(days=6)).to_period("W-SUN").start_time
    cut = last_week - pd.Timedelta(weeks=HELD_BACK_WEEKS - 1)
    _hold_back(landing, cut)

    mp = pytest.MonkeyPatch()
    mp.setenv("STOCKPILOT_DATA_DIR", str(root / "data"))
    mp.setenv("STOCKPILOT_LANDING_DIR", str(landing))
    mp.setenv("STOCKPILOT_WAREHOUSE", str(root / "data" / "warehouse.duckdb"))
    try:
        first = _run(build_definitions(), instance)
        shutil.rmtree(landing)
        shutil.copytree(landing_src, landing)  # the held-back rows arrive
        defs = build_definitions()
        second = _run(defs, instance)
        history_rows = _meta(second, "demand_forecast")["history_rows"]
        # re-materialising the forecast (same origin, same model version) duplicates nothing
        again = _run(defs, instance, ["demand_forecast"])
        rerun_rows = _meta(again, "demand_forecast")["history_rows"]
        with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as con:
            tables = {
                name: con.sql(f"select * from forecasting.{name}").df()
                for name in ("demand_forecast_history", "forecast_accuracy", "training_set")
            }
    finally:
        mp.undo()
    return {
        "first": first,
        "second": second,
        "last_week": last_week,
        "history_rows": history_rows,
        "rerun_rows": rerun_rows,
        "root": root,
        **tables,
    }


def test_first_run_says_plainly_that_nothing_has_matured(two_runs):
    meta = _meta(two_runs["first"], "forecast_accuracy")
    assert meta["matured_cells"] == 0 and meta["dagster/row_count"] == 0
    assert meta["status"].startswith("nothing has matured yet")
    model = _meta(two_runs["first"], "demand_forecast_model")
    assert model["series_updated"] == 0 and model["previous_model"].startswith("none")


def test_history_keeps_one_set_per_origin_and_model_version(two_runs):
    h = two_runs["demand_forecast_history"]
    origins = sorted(pd.to_datetime(h["origin"]).unique())
    last = two_runs["last_week"]
    assert origins == [last - pd.Timedelta(weeks=HELD_BACK_WEEKS), last]
    sets = h.groupby(["origin", "model_version"]).agg(
        rows=("sku", "size"), runs=("dagster_run_id", "nunique")
    )
    assert len(sets) == 2 and (sets["runs"] == 1).all()
    assert not h.duplicated(["origin", "model_version", "sku", "location_id", "horizon"]).any()
    # origin = first forecast week minus 7 days, for every row
    first_week = h.groupby("origin")["forecast_week"].transform("min")
    assert (pd.to_datetime(first_week) - pd.to_datetime(h["origin"]) == pd.Timedelta(7, "D")).all()
    assert two_runs["rerun_rows"] == two_runs["history_rows"] == len(h)
    assert {"velocity_class", "demand_class", "model_version", "q05", "q95"} <= set(h.columns)


def test_second_run_updates_the_stored_model_with_the_new_weeks(two_runs):
    model = _meta(two_runs["second"], "demand_forecast_model")
    first = _meta(two_runs["first"], "demand_forecast_model")
    assert model["parent_version"] == first["model_version"]
    # fitted minutes ago: nothing is due; only new or reclassified series are refitted
    assert model["series_updated"] > 0.7 * model["series"]
    assert "due" not in model["refit_reasons"]
    assert str(two_runs["last_week"].date()) in model["chunk_table"]


def test_realised_accuracy_matches_an_independent_computation(two_runs):
    h = two_runs["demand_forecast_history"]
    ts = two_runs["training_set"]
    acc = two_runs["forecast_accuracy"]
    origin = two_runs["last_week"] - pd.Timedelta(weeks=HELD_BACK_WEEKS)
    old = h[pd.to_datetime(h["origin"]) == origin]
    cells = old.merge(
        ts[["sku", "location_id", "week", "demand"]],
        left_on=["sku", "location_id", "forecast_week"],
        right_on=["sku", "location_id", "week"],
    )
    # exactly the first 4 weeks after the old origin have happened
    assert sorted(cells["horizon"].unique()) == [1, 2, 3, 4]
    assert set(pd.to_datetime(acc["origin"])) == {origin}
    a = cells["demand"].to_numpy(float)
    med = cells["q50"].to_numpy(float)
    mu = cells["mean"].to_numpy(float)
    var = np.maximum(cells["variance"].to_numpy(float), mu)
    # randomised-PIT coverage of the central 90% interval, by hand with scipy
    with np.errstate(divide="ignore", invalid="ignore"):
        n_par = mu**2 / (var - mu)
        p_par = mu / var
    nb = var > mu * (1 + 1e-9)

    def cdf(k: np.ndarray) -> np.ndarray:
        out = np.where(nb, stats.nbinom.cdf(k, n_par, p_par), stats.poisson.cdf(k, mu))
        return np.where(mu > 0, out, (k >= 0).astype(float))

    lo, hi = cdf(a - 1), cdf(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        pit90 = np.where(
            hi > lo,
            np.clip(np.minimum(hi, 0.95) - np.maximum(lo, 0.05), 0, None) / (hi - lo),
            ((lo >= 0.05) & (lo <= 0.95)).astype(float),
        )
    top = acc[acc["horizon"].isna() & (acc["demand_class"] == "all")].iloc[0]
    assert top["n_cells"] == len(cells)
    assert top["mae"] == pytest.approx(np.abs(med - a).mean())
    assert top["wape"] == pytest.approx(np.abs(med - a).sum() / a.sum())
    assert top["bias"] == pytest.approx((med - a).sum() / a.sum())
    in90 = (a >= cells["q05"].to_numpy()) & (a <= cells["q95"].to_numpy())
    assert top["coverage_90"] == pytest.approx(in90.mean())
    assert top["pit_coverage_90"] == pytest.approx(pit90.mean(), abs=1e-9)
    qcols = ["q01", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q99"]
    levels = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
    loss = np.mean(
        [
            np.maximum(al * (a - cells[c]), (al - 1) * (a - cells[c]))
            for c, al in zip(qcols, levels, strict=True)
        ],
        axis=0,
    )
    assert top["pinball"] == pytest.approx(loss.mean())
    # one class at one horizon, the same way
    part = cells[(cells["horizon"] == 2) & (cells["demand_class"] == "smooth")]
    row = acc[(acc["horizon"] == 2) & (acc["demand_class"] == "smooth")].iloc[0]
    pa, pm = part["demand"].to_numpy(float), part["q50"].to_numpy(float)
    assert row["n_cells"] == len(part)
    assert row["wape"] == pytest.approx(np.abs(pm - pa).sum() / pa.sum())
    assert row["coverage_80"] == pytest.approx(((pa >= part["q10"]) & (pa <= part["q90"])).mean())
    # a forecast 1-4 weeks ahead that the model calibrated: realised coverage is plausible
    assert 0.75 <= top["pit_coverage_90"] <= 0.98
    meta = _meta(two_runs["second"], "forecast_accuracy")
    assert meta["matured_cells"] == len(cells)
    assert "data:image/png;base64," in meta["accuracy_chart"]
    chart = Path(meta["accuracy_chart_path"])
    assert chart.is_file() and chart.parent == two_runs["root"] / "data" / "reports" / "forecasting"
