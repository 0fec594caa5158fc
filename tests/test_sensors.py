"""The landing-folder sensor: one run request per change of the landing folder, none otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

# Imported at collection, under the session's environment: the definitions bind the landing
# folder when they are built, and the fixtures below point the environment elsewhere.
from orchestration.definitions import defs


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "landing"
    (root / "sales").mkdir(parents=True)
    (root / "sales" / "a.csv").write_text("sale_date,sku,location_id,quantity\n2025-01-01,A,S,1\n")
    monkeypatch.setenv("STOCKPILOT_LANDING_DIR", str(root))
    return root


def _tick(sensor: dg.SensorDefinition, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor)
    result = sensor.evaluate_tick(context)
    return result, result.cursor


def test_landing_sensor_requests_exactly_one_run_per_change(landing: Path) -> None:
    sensor = defs.resolve_sensor_def("landing_folder_sensor")
    first, cursor = _tick(sensor, None)
    assert len(first.run_requests) == 1
    assert first.run_requests[0].run_key.startswith("landing-")

    # same files: no run, cursor unchanged
    again, cursor2 = _tick(sensor, cursor)
    assert again.run_requests == [] and cursor2 == cursor

    # a new file: one run, with a different run key
    (landing / "sales" / "b.csv").write_text("sale_date,sku,location_id,quantity\n")
    third, cursor3 = _tick(sensor, cursor)
    assert len(third.run_requests) == 1
    assert third.run_requests[0].run_key != first.run_requests[0].run_key
    assert third.run_requests[0].tags["stockpilot/changed_files"] == "1"

    # a rewritten file (new size) is a change too
    (landing / "sales" / "a.csv").write_text(
        "sale_date,sku,location_id,quantity\n2025-01-01,A,S,2\n"
    )
    os.utime(landing / "sales" / "a.csv", ns=(1, 1))
    fourth, _ = _tick(sensor, cursor3)
    assert len(fourth.run_requests) == 1


def test_landing_sensor_skips_when_the_folder_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPILOT_LANDING_DIR", str(tmp_path / "absent"))
    result, _ = _tick(defs.resolve_sensor_def("landing_folder_sensor"), None)
    assert result.run_requests == []
    assert "does not exist" in result.skip_message


def test_daily_ingest_and_weekly_planning_schedules_request_their_jobs_at_their_times() -> None:
    from datetime import UTC, datetime

    cases = {
        # name: (job, cron, a tick it fires at: 02:00 daily / Monday 04:00)
        "daily_ingest": ("ingest", "0 2 * * *", datetime(2026, 3, 4, 2, tzinfo=UTC)),
        "weekly_planning_schedule": (
            "weekly_planning",
            "0 4 * * 1",
            datetime(2026, 3, 2, 4, tzinfo=UTC),
        ),
    }
    for name, (job, cron, tick) in cases.items():
        schedule = defs.resolve_schedule_def(name)
        assert schedule.job_name == job and schedule.execution_timezone == "UTC"
        assert schedule.cron_schedule == cron
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
        assert len(data.run_requests) == 1
        assert data.run_requests[0].run_config == {}  # the job's defaults: nothing to pass
        assert dg.validate_run_config(defs.resolve_job_def(job), {})
