"""forecast_drift, forecast_drift_sensor and review_drift_alert for real: dbt + Dagster + Evidently.

Two generated two-year drops of the same small network (3 stores x 30 SKUs, same seed): a normal
one, and one where half the SKUs sell 1.8x as much in the last 8 weeks (``DemoConfig`` demand
shift). Each gets its own warehouse, data folder and Dagster instance; ingest, dbt, the
training set, the backtest and the drift asset run for real. The shifted scenario also fits the
forecaster first, so that the retraining the sensor asks for has a model version to follow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml.demo_erp import DemoConfig, generate_demo_erp

# Imported at collection, under the session's environment: importing the module builds its
# `defs` from the environment of that moment, and the session's planning run uses them; the
# scenarios below build their own definitions with build_definitions() under their paths.
from orchestration.definitions import build_definitions
from orchestration.defs.monitoring.assets import FORECAST_DRIFT_KEY

pytestmark = pytest.mark.integration

NETWORK = {"n_dcs": 1, "n_stores": 3, "n_skus": 30, "days": 728, "seed": 11}
SHIFT = {"shift_factor": 1.8, "shift_share": 0.5, "shift_start_day": 728 - 56}
FORECASTING = [
    dg.AssetKey(["forecasting", "forecast_training_set"]),
    dg.AssetKey(["forecasting", "forecast_backtest"]),
]
MODEL = [
    dg.AssetKey(["forecasting", "demand_forecast_model"]),
    dg.AssetKey(["forecasting", "demand_forecast"]),
]
BACKTEST_CONFIG = {
    "forecasting__forecast_backtest": {"config": {"max_series": 200, "n_origins": 2}}
}


@dataclass
class Scenario:
    base: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    summary: dict

    @property
    def warehouse(self) -> Path:
        return self.base / "data" / "warehouse.duckdb"

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.sql(sql).df()

    def materialize_drift(self, keep_report_runs: int = 10) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(
            instance=self.instance,
            asset_selection=[FORECAST_DRIFT_KEY],
            run_config={
                "ops": {
                    "monitoring__forecast_drift": {"config": {"keep_report_runs": keep_report_runs}}
                }
            },
        )

    def review(
        self, alert_ids: list[str], action: str, note: str = ""
    ) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def("review_drift_alert").execute_in_process(
            instance=self.instance,
            raise_on_error=False,
            run_config={
                "ops": {
                    "review_drift_alerts": {
                        "config": {
                            "alert_ids": alert_ids,
                            "action": action,
                            "reviewer": "jane.planner",
                            "note": note,
                        }
                    }
                }
            },
        )

    def tick(self, cursor: str | None):
        sensor = self.defs.resolve_sensor_def("forecast_drift_sensor")
        context = dg.build_sensor_context(
            instance=self.instance, cursor=cursor, definitions=self.defs
        )
        return sensor.evaluate_tick(context)

    def latest_drift(self) -> dg.EventLogRecord:
        return self.instance.fetch_materializations(FORECAST_DRIFT_KEY, limit=1).records[0]


def _scenario(base: Path, shifted: bool) -> Iterator[Scenario]:
    data = base / "data"
    (base / "dagster_home").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STOCKPILOT_DATA_DIR", str(data))
        mp.setenv("STOCKPILOT_LANDING_DIR", str(data / "landing"))
        mp.setenv("STOCKPILOT_WAREHOUSE", str(data / "warehouse.duckdb"))
        config = DemoConfig(**NETWORK, **(SHIFT if shifted else {}), verbose=False)
        summary = generate_demo_erp(config, data / "landing", truth_dir=data / "truth")
        defs = build_definitions()
        with dg.instance_for_test(temp_dir=str(base / "dagster_home")) as instance:
            assert defs.resolve_job_def("ingest").execute_in_process(instance=instance).success
            keys = FORECASTING + (MODEL if shifted else []) + [FORECAST_DRIFT_KEY]
            run = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=keys, run_config={"ops": BACKTEST_CONFIG}
            )
            assert run.success
            yield Scenario(base, defs, instance, summary)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    yield from _scenario(tmp_path_factory.mktemp("shifted"), shifted=True)


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    yield from _scenario(tmp_path_factory.mktemp("normal"), shifted=False)


def _alerts(metadata) -> list[dict]:
    return metadata["alerts"].value


def _open_alert_check(scenario: Scenario) -> dg.AssetCheckEvaluation:
    """The latest evaluation of the drift asset's open-alert check (what the UI shows)."""
    key = dg.AssetCheckKey(FORECAST_DRIFT_KEY, "no_unreviewed_drift_alerts")
    record = scenario.instance.get_latest_asset_check_evaluation_record(key)
    assert record is not None and record.event is not None
    return record.event.dagster_event.event_specific_data


def test_a_normal_drop_raises_no_drift_alert(normal: Scenario) -> None:
    md = normal.latest_drift().asset_materialization.metadata
    assert md["drift_detected"].value is False
    assert _alerts(md) == []
    results = normal.query("select * from monitoring.drift_results")
    assert len(results) >= 7 and not results["drifted"].any()
    demand = results[(results["segment"] == "all") & (results["feature"] == "demand")]
    assert abs(float(demand["change"].iloc[0])) < 0.1
    assert normal.query("select count(*) as n from monitoring.drift_alerts")["n"].iloc[0] == 0
    assert normal.tick(None).skip_message.endswith("no drift")
    check = _open_alert_check(normal)
    assert check.passed and check.metadata["open_alerts"].value == 0


def test_a_shifted_drop_raises_alerts_for_the_shifted_demand(shifted: Scenario) -> None:
    assert shifted.summary["demand_shift"]["n_sku_locations"] == 45  # 15 of 30 SKUs x 3 stores
    md = shifted.latest_drift().asset_materialization.metadata
    assert md["drift_detected"].value is True
    assert {"all", "smooth"} <= set(md["affected_segments"].value)
    results = shifted.query("select * from monitoring.drift_results")
    overall = results[results["segment"] == "all"].set_index("feature")
    # half the SKUs x1.8: their demand index (demand / own reference mean) averages ~1.4
    assert overall.loc["demand_index", "drifted"]
    assert overall.loc["demand_index", "change"] == pytest.approx(0.4, abs=0.1)
    assert 0.2 < overall.loc["demand", "change"] < 0.8  # volume-weighted: depends on the mix
    assert overall.loc["std_residual", "drifted"] and overall.loc["interval_hit_90", "drifted"]
    assert not overall.loc["net_price", "drifted"]  # prices did not change
    alerts = shifted.query("select * from monitoring.drift_alerts order by segment")
    row = alerts.set_index("segment").loc["all"]
    assert row["status"] == "open" and row["magnitude"] == overall.loc["demand", "change"]
    assert {"demand_index", "std_residual"} <= set(json.loads(row["drifted_features"]))
    sample = json.loads(row["affected_sample"])
    assert row["affected_sku_locations"] > 0 and len(sample) <= 20
    shifted_skus = set(shifted.summary["demand_shift"]["skus"])
    assert all(s.split("@")[0] in shifted_skus for s in sample)  # only shifted SKUs named
    # the report files of the run exist and are linked from the metadata and the alert
    html = Path(md["report_html"].value)
    assert html.is_file() and html.stat().st_size > 100_000
    assert Path(md["report_json"].value).is_file()
    assert md["report_url"].value == html.resolve().as_uri()
    assert row["report_html"] == str(html)
    assert "DRIFT-" in md["open_alerts"].value
    # the UI warns: the open-alert check failed with WARN severity, naming the segments
    check = _open_alert_check(shifted)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert set(check.metadata["open_segments"].value) == set(alerts["segment"])
    assert check.metadata["newest_report_url"].value == html.resolve().as_uri()


def test_a_drift_result_requests_one_retrain_which_makes_a_new_model_version(
    shifted: Scenario,
) -> None:
    record = shifted.latest_drift()
    sid = record.storage_id
    first = shifted.tick(None)
    assert len(first.run_requests) == 1 and first.cursor == str(sid)
    request = first.run_requests[0]
    assert request.run_key == f"drift-{sid}"
    model_config = request.run_config["ops"]["forecasting__demand_forecast_model"]["config"]
    assert model_config["refit"] == "segments"
    assert "smooth" in model_config["segments"] and "all" not in model_config["segments"]
    assert "DRIFT-" in model_config["reason"]
    # the same result again: nothing, cursor kept
    for _ in range(3):
        again = shifted.tick(first.cursor)
        assert again.run_requests == [] and again.cursor in (None, first.cursor)
        assert "already handled" in again.skip_message

    store = shifted.defs.resources["model_store"]
    before = store.latest_version()
    retrain = shifted.defs.resolve_job_def("retrain_forecasts").execute_in_process(
        instance=shifted.instance, run_config=request.run_config, tags=request.tags
    )
    assert retrain.success
    after = store.latest_version()
    assert after is not None and after != before
    forecast_versions = shifted.query(
        "select distinct model_version from forecasting.demand_forecast"
    )
    assert forecast_versions["model_version"].tolist() == [after]


def test_the_sensor_waits_for_a_running_retrain_and_respects_reviews(shifted: Scenario) -> None:
    cursor = str(shifted.latest_drift().storage_id)  # the result a run was requested for

    # a retraining is running when the next drift result arrives: wait, do not stack runs
    running = shifted.instance.create_run_for_job(
        shifted.defs.resolve_job_def("retrain_forecasts"), status=dg.DagsterRunStatus.STARTED
    )
    assert shifted.materialize_drift(keep_report_runs=2).success
    second = shifted.latest_drift()
    waiting = shifted.tick(cursor)
    assert waiting.run_requests == [] and "is STARTED: waiting" in waiting.skip_message
    shifted.instance.report_run_canceled(running)
    go = shifted.tick(cursor)
    assert [r.run_key for r in go.run_requests] == [f"drift-{second.storage_id}"]
    cursor = go.cursor

    # a new result whose alerts are then all acknowledged: no run
    assert shifted.materialize_drift(keep_report_runs=2).success
    third = shifted.latest_drift()
    ids = [a["alert_id"] for a in _alerts(third.asset_materialization.metadata)]
    assert ids and shifted.review(ids, "acknowledge", "autumn promotion, ends week 47").success
    acked = shifted.tick(cursor)
    assert acked.run_requests == [] and "acknowledged or resolved" in acked.skip_message

    # the review's audit trail: who, when, why, previous status; observation on the asset
    reviews = shifted.query("select * from monitoring.drift_alert_reviews")
    assert set(ids) <= set(reviews["alert_id"])
    mine = reviews[reviews["alert_id"].isin(ids)]
    assert (mine["action"] == "acknowledge").all() and (mine["previous_status"] == "open").all()
    assert (mine["reviewed_by"] == "jane.planner").all() and mine["reviewed_at"].notna().all()
    assert (mine["note"] == "autumn promotion, ends week 47").all()
    statuses = shifted.query("select alert_id, status from monitoring.drift_alerts")
    assert statuses.set_index("alert_id").loc[ids, "status"].eq("acknowledged").all()
    obs = shifted.instance.fetch_observations(FORECAST_DRIFT_KEY, limit=1).records[0]
    seen = obs.asset_observation.metadata["reviewed_alerts"].value
    assert {r["alert_id"]: r["status"] for r in seen} == dict.fromkeys(ids, "acknowledged")

    # a refused review changes nothing and logs nothing
    n_reviews = len(reviews)
    bad = shifted.review([ids[0], "DRIFT-unknown"], "resolve")
    assert not bad.success
    assert len(shifted.query("select * from monitoring.drift_alert_reviews")) == n_reviews

    # the drift persists in the next result: its alerts start acknowledged (carried over)
    assert shifted.materialize_drift(keep_report_runs=2).success
    fourth = shifted.latest_drift()
    carried = _alerts(fourth.asset_materialization.metadata)
    assert carried and all(a["status"] == "acknowledged" for a in carried)
    assert shifted.tick(cursor).run_requests == []

    # reopening one of them brings the retraining back, once
    assert shifted.review([carried[0]["alert_id"]], "reopen", "came back in week 48").success
    reopened = shifted.tick(cursor)
    assert [r.run_key for r in reopened.run_requests] == [f"drift-{fourth.storage_id}"]
    assert shifted.tick(reopened.cursor).run_requests == []

    # once every open alert is reviewed, the review run itself clears the UI's warning
    still_open = shifted.query("select alert_id from monitoring.drift_alerts where status = 'open'")
    assert not _open_alert_check(shifted).passed
    assert shifted.review(still_open["alert_id"].tolist(), "resolve", "retrained").success
    cleared = _open_alert_check(shifted)
    assert cleared.passed and cleared.metadata["open_alerts"].value == 0

    # report retention: the last runs asked to keep 2 report folders
    folders = [p for p in (shifted.base / "data" / "reports" / "drift").iterdir() if p.is_dir()]
    assert len(folders) == 2
    assert Path(fourth.asset_materialization.metadata["report_html"].value).is_file()
