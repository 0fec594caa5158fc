"""The operating loop end to end, as a data team lives it, on its own network, instance and UI.

One story, each step a real run on a real warehouse file and a persistent Dagster instance:

1. A two-year drop (the demo's usual dirty rows included) in which half the SKUs sell 1.8x as
   much in the last 8 weeks lands; the weekly planning job runs with the ERP endpoint configured
   (a local HTTP server that answers 503 first and loses the answer to one accepted line).
   Dirty rows are quarantined, the plan is published and every line reaches the ERP once; the
   drift asset raises alerts with their report.
2. The retraining sensor ticks repeatedly: exactly one run request, which runs and produces a new
   model version that the forecast then carries.
3. A broken sales file lands (30% of quantities blank) and the weekly planning job runs again:
   the blocking raw check fails, nothing downstream runs, the published plan and the ERP are
   untouched, and the file is kept in raw as received.
4. The Dagster UI on that instance (webserver + headless Chromium) shows the failed raw check,
   the drift warning and the retraining run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml.demo_erp import DemoConfig, generate_demo_erp

# Imported at collection under the session's environment (see tests/monitoring); the loop builds
# its own definitions with build_definitions() under its own paths.
from orchestration.definitions import build_definitions
from orchestration.defs.export.resources import TOKEN_ENV, URL_ENV
from orchestration.defs.monitoring.assets import FORECAST_DRIFT_KEY
from tests.export.conftest import TOKEN, ErpState, local_erp
from tests.ui_helpers import browser_page, dagster_ui, dismiss_community_modal

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

NETWORK = {"n_dcs": 1, "n_stores": 3, "n_skus": 30, "days": 728, "seed": 23}
SHIFT = {"shift_factor": 1.8, "shift_share": 0.5, "shift_start_day": 728 - 56}
RUN_CONFIG = {
    "ops": {"forecasting__forecast_backtest": {"config": {"max_series": 200, "n_origins": 2}}}
}
RAW_SALES_CHECK = dg.AssetCheckKey(dg.AssetKey(["raw", "sales"]), "raw_sales")
DRIFT_CHECK = dg.AssetCheckKey(FORECAST_DRIFT_KEY, "no_unreviewed_drift_alerts")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Loop:
    base: Path
    env: dict[str, str]
    defs: dg.Definitions
    instance: dg.DagsterInstance
    erp: ErpState
    first: dg.ExecuteInProcessResult | None = None
    published_after_first: dict[str, pd.DataFrame] = field(default_factory=dict)
    erp_accepted_after_first: dict[str, dict] = field(default_factory=dict)
    ticks: list[dg.SensorResult] = field(default_factory=list)
    model_before: str | None = None
    retrain: dg.ExecuteInProcessResult | None = None
    broken_file: str = ""
    broken: dg.ExecuteInProcessResult | None = None

    @property
    def warehouse(self) -> Path:
        return Path(self.env["STOCKPILOT_WAREHOUSE"])

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.sql(sql).df()

    def published(self) -> dict[str, pd.DataFrame]:
        return {
            t: self.query(f"select * from published.{t} order by all")
            for t in ("purchase_order_proposals", "transfer_orders", "plan_versions")
        }

    def weekly(self) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def("weekly_planning").execute_in_process(
            instance=self.instance, run_config=RUN_CONFIG, raise_on_error=False
        )

    def tick(self, cursor: str | None) -> dg.SensorResult:
        sensor = self.defs.resolve_sensor_def("forecast_drift_sensor")
        ctx = dg.build_sensor_context(instance=self.instance, cursor=cursor, definitions=self.defs)
        return sensor.evaluate_tick(ctx)

    def check_state(self, key: dg.AssetCheckKey) -> tuple[dg.AssetCheckEvaluation, str]:
        """The latest record of the check, as the UI shows it: (evaluation, run id)."""
        record = self.instance.get_latest_asset_check_evaluation_record(key)
        assert record is not None and record.event is not None, key
        data = record.event.dagster_event.event_specific_data
        assert isinstance(data, dg.AssetCheckEvaluation), (key, record.status)
        return data, record.run_id


def _break_a_sales_file(landing: Path) -> str:
    """A re-sent copy of the latest month of sales with 30% of its quantities blank."""
    latest = sorted((landing / "sales").glob("sales_*.parquet"))[-1]
    frame = pq.read_table(latest).to_pandas().astype("string")
    frame.loc[np.random.default_rng(3).random(len(frame)) < 0.3, "quantity"] = ""
    target = landing / "sales" / "sales_resend.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), target)
    return "sales/sales_resend.parquet"


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    base = tmp_path_factory.mktemp("loop")
    data = base / "data"
    with local_erp() as erp, pytest.MonkeyPatch.context() as mp:
        env = {
            "STOCKPILOT_DATA_DIR": str(data),
            "STOCKPILOT_LANDING_DIR": str(data / "landing"),
            "STOCKPILOT_WAREHOUSE": str(data / "warehouse.duckdb"),
            "DAGSTER_HOME": str(base / "dagster_home"),
            URL_ENV: erp.url,
            TOKEN_ENV: TOKEN,
        }
        for k, v in env.items():
            mp.setenv(k, v)
        from orchestration import settings

        settings.ensure_dagster_home()
        generate_demo_erp(
            DemoConfig(**NETWORK, **SHIFT, verbose=False),
            data / "landing",
            truth_dir=data / "truth",
        )
        defs = build_definitions()
        with dg.DagsterInstance.get() as instance:
            state = Loop(base, env, defs, instance, erp.state)
            # 1. weekly planning on the shifted drop; the ERP fails first, then loses an answer
            erp.state.fail_next = [503, 503, 500]
            erp.state.hang_up_after_accepting = 1
            state.first = state.weekly()
            if state.first.success:
                state.published_after_first = state.published()
                state.erp_accepted_after_first = dict(erp.state.accepted)
                # 2. the sensor, ticked like the daemon would, and the run it asks for
                cursor = None
                for _ in range(4):
                    result = state.tick(cursor)
                    state.ticks.append(result)
                    cursor = result.cursor or cursor
                requests = [r for t in state.ticks for r in t.run_requests]
                store = defs.resources["model_store"]
                state.model_before = store.latest_version()
                if len(requests) == 1:
                    state.retrain = defs.resolve_job_def("retrain_forecasts").execute_in_process(
                        instance=instance,
                        run_config=requests[0].run_config,
                        tags=requests[0].tags,
                        raise_on_error=False,
                    )
                # 3. a broken drop, and the weekly run on it
                state.broken_file = _break_a_sales_file(data / "landing")
                state.broken = state.weekly()
            yield state


def test_the_first_weekly_run_quarantines_dirty_rows_and_publishes(loop: Loop) -> None:
    assert loop.first is not None and loop.first.success, "see the Dagster log above"
    recon = loop.query("select * from marts.ingest_reconciliation").set_index("extract")
    assert (recon["rows_loaded"] == recon["rows_accepted"] + recon["rows_quarantined"]).all()
    assert recon.loc["sales", "rows_quarantined"] > 0  # the demo's dirty rows
    quarantined = loop.query("select reason, source_file, record from marts.quarantine_rows")
    assert len(quarantined) == recon["rows_quarantined"].sum()
    assert quarantined.notna().all().all()  # each with its reason, file and the raw record
    versions = loop.published_after_first["plan_versions"]
    assert list(versions["status"]) == ["published"]
    assert versions["dagster_run_id"].iloc[0] == loop.first.run_id


def test_every_published_line_reached_the_flaky_erp_exactly_once(loop: Loop) -> None:
    published = loop.published_after_first
    plan_id = published["plan_versions"]["plan_id"].iloc[0]
    keys = {
        f"{plan_id}:{line}"
        for t in ("purchase_order_proposals", "transfer_orders")
        for line in published[t]["line_id"]
    }
    assert len(keys) > 10
    assert set(loop.erp_accepted_after_first) == keys
    assert set(loop.erp.accept_count.values()) == {1}
    # three 5xx answers and one lost answer cost retries, not duplicates
    assert len(loop.erp.requests) >= len(keys) + 4
    deliveries = loop.query("select * from export.erp_deliveries")
    assert set(deliveries["idempotency_key"]) == keys
    assert (deliveries["status"] == "delivered").all()
    assert (deliveries["http_status"] == 409).sum() == 1  # the line whose answer was lost
    assert loop.query("select count(*) as n from export.erp_dead_letter")["n"].iloc[0] == 0


def test_the_demand_shift_raises_drift_alerts_with_their_report(loop: Loop) -> None:
    record = loop.instance.fetch_materializations(FORECAST_DRIFT_KEY, limit=1).records[0]
    md = record.asset_materialization.metadata
    assert md["drift_detected"].value is True
    alerts = loop.query("select * from monitoring.drift_alerts")
    assert "all" in set(alerts["segment"]) and (alerts["status"] == "open").all()
    html = Path(md["report_html"].value)
    assert html.is_file() and html.stat().st_size > 100_000
    assert set(alerts["report_html"]) == {str(html)}
    # the overall demand index rose by about the shift (half the SKUs x1.8 -> ~+40%)
    results = loop.query(
        "select change from monitoring.drift_results "
        "where segment = 'all' and feature = 'demand_index'"
    )
    assert results["change"].iloc[0] == pytest.approx(0.4, abs=0.12)


def test_the_sensor_requests_exactly_one_retrain_which_makes_a_new_model_version(
    loop: Loop,
) -> None:
    requests = [r for t in loop.ticks for r in t.run_requests]
    assert len(requests) == 1, [t.skip_message for t in loop.ticks]
    drift_id = loop.instance.fetch_materializations(FORECAST_DRIFT_KEY, limit=1).records[0]
    assert requests[0].run_key == f"drift-{drift_id.storage_id}"
    assert all("already handled" in (t.skip_message or "") for t in loop.ticks[1:])
    assert loop.retrain is not None and loop.retrain.success
    after = loop.defs.resources["model_store"].latest_version()
    assert after is not None and after != loop.model_before
    # the broken weekly run stopped before forecasting: the forecast is the retrained model's
    versions = loop.query("select distinct model_version from forecasting.demand_forecast")
    assert versions["model_version"].tolist() == [after]
    run = loop.instance.get_run_by_id(loop.retrain.run_id)
    assert run.tags["stockpilot/drift_storage_id"] == str(drift_id.storage_id)


def test_a_broken_drop_is_blocked_and_leaves_the_plan_and_the_erp_alone(loop: Loop) -> None:
    assert loop.broken is not None and not loop.broken.success
    evaluations = {e.check_name: e for e in loop.broken.get_asset_check_evaluations()}
    assert not evaluations["raw_sales"].passed
    failed_blocking = [
        n for n, e in evaluations.items() if not e.passed and e.severity.name == "ERROR"
    ]
    assert failed_blocking == ["raw_sales"]
    materialized = {e.asset_key.path[0] for e in loop.broken.get_asset_materialization_events()}
    assert materialized == {"raw"}  # nothing downstream of the raw extracts ran
    after = loop.published()
    for table in ("purchase_order_proposals", "transfer_orders", "plan_versions"):
        pd.testing.assert_frame_equal(after[table], loop.published_after_first[table])
    assert dict(loop.erp.accepted) == loop.erp_accepted_after_first
    # nothing lost: the broken file is in raw as received, every row of it
    n_raw = loop.query(
        f"select count(*) as n from raw.sales where _source_file = '{loop.broken_file}'"
    )["n"].iloc[0]
    landed = pq.read_metadata(Path(loop.env["STOCKPILOT_LANDING_DIR"]) / loop.broken_file)
    assert n_raw == landed.num_rows


# --------------------------------------------------------------------------------------------
# the UI on the loop's instance


@pytest.fixture(scope="module")
def loop_ui(loop: Loop) -> Iterator[str]:
    with dagster_ui(loop.base / "webserver.log", env=loop.env) as url:
        yield url


def test_the_ui_shows_the_failed_raw_check_the_drift_warning_and_the_retrain(
    loop: Loop, loop_ui: str
) -> None:
    # what the UI reads, straight from the instance
    raw_sales, raw_run = loop.check_state(RAW_SALES_CHECK)
    assert not raw_sales.passed and raw_run == loop.broken.run_id
    # the drift warning survives the blocked run: still the first run's evaluation, still open
    drift, drift_run = loop.check_state(DRIFT_CHECK)
    assert drift_run == loop.first.run_id
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    open_segments = sorted(loop.query("select segment from monitoring.drift_alerts")["segment"])
    assert drift.description == f"{len(open_segments)} open drift alert(s): " + ", ".join(
        open_segments
    )

    shots = Path(os.environ.get("STOCKPILOT_SCREENSHOT_DIR") or loop.base)
    shots.mkdir(parents=True, exist_ok=True)
    with browser_page() as page:
        try:
            page.goto(f"{loop_ui}/assets/raw/sales?view=checks")
            dismiss_community_modal(page)
            page.get_by_text("raw_sales").first.wait_for()
            # the failed evaluation of the broken run: "24/25 expectations met on 967 rows: ..."
            page.get_by_text(raw_sales.description.split(":")[0]).first.wait_for()
            page.screenshot(path=str(shots / "loop-raw-sales-check.png"))

            page.goto(f"{loop_ui}/assets/monitoring/forecast_drift?view=checks")
            page.get_by_text("no_unreviewed_drift_alerts").first.wait_for()
            page.get_by_text(drift.description).first.wait_for()
            page.screenshot(path=str(shots / "loop-drift-check.png"))

            page.goto(f"{loop_ui}/runs")
            page.get_by_text("retrain_forecasts").first.wait_for()
            page.get_by_text(loop.retrain.run_id[:8]).first.wait_for()
            page.get_by_text(loop.broken.run_id[:8]).first.wait_for()
            page.screenshot(path=str(shots / "loop-runs.png"))
        except Exception:
            page.screenshot(path=str(shots / "loop-failure.png"))
            raise
