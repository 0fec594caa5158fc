"""forecast_drift inside the real weekly planning run (session fixture `planning_run`).

The drift outcome on the 57-week test network is not asserted here (without a year of history
the reference is the preceding weeks, so seasonal swings of small segments may alert); what is
asserted is that the asset runs in the weekly job and that its metadata, the log tables and the
report files agree.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.monitoring.assets import FORECAST_DRIFT_KEY

pytestmark = pytest.mark.integration


def test_weekly_run_records_drift_results_alerts_and_reports_consistently(
    planning_run, query
) -> None:
    # judged on the drift step itself: a failure elsewhere in the run is another test's business
    step = [
        e
        for e in planning_run.all_events
        if e.step_key == "monitoring__forecast_drift" and (e.is_step_success or e.is_step_failure)
    ]
    assert [e.is_step_success for e in step] == [True]
    events = [
        e
        for e in planning_run.get_asset_materialization_events()
        if e.asset_key == FORECAST_DRIFT_KEY
    ]
    assert len(events) == 1
    md = events[0].materialization.metadata
    run_id = planning_run.run_id
    results = query(f"select * from monitoring.drift_results where dagster_run_id = '{run_id}'")
    assert len(results) == md["dagster/row_count"].value > 0
    assert set(results["segment"]) >= {"all"}
    assert results["method"].notna().all() and results["score"].notna().all()
    alerts = query(f"select * from monitoring.drift_alerts where dagster_run_id = '{run_id}'")
    assert sorted(alerts["alert_id"]) == sorted(md["alert_ids"].value)
    assert md["drift_detected"].value == (len(alerts) > 0)
    drifted = set(results.loc[results["drifted"] & results["alerting"], "segment"])
    assert set(alerts["segment"]) == drifted == set(md["affected_segments"].value)
    assert Path(md["report_html"].value).is_file() and Path(md["report_json"].value).is_file()
    for segment, share in results.groupby("segment")["statistically_drifted"].mean().items():
        assert md[f"drift_share_{segment}"].value == pytest.approx(share)
    assert isinstance(md["open_alerts"], dg.MarkdownMetadataValue)
