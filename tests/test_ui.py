"""The Dagster UI, for real: webserver on loopback, headless Debian Chromium driven by Playwright.

Uses the run made by the integration suite's planning run (same DAGSTER_HOME), so it checks what a
user sees after `make demo`: the project's asset groups and a successful run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ui_helpers import browser_page, dagster_ui, dismiss_community_modal

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def webserver(planning_run, session_dir: Path):
    with dagster_ui(session_dir / "webserver.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(webserver: str):
    with browser_page() as pg:
        yield pg


def test_asset_graph_shows_the_project_groups(page, webserver: str, session_dir: Path) -> None:
    page.goto(f"{webserver}/asset-groups")
    dismiss_community_modal(page)
    for group in ("ingest", "staging", "intermediate", "marts", "forecasting"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(session_dir / "asset-graph.png"))
    shots = os.environ.get("STOCKPILOT_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / "asset-graph.png"))


def test_runs_page_shows_the_successful_planning_run(page, webserver: str, planning_run) -> None:
    page.goto(f"{webserver}/runs")
    dismiss_community_modal(page)
    page.get_by_text("weekly_planning").first.wait_for()
    page.get_by_text(planning_run.run_id[:8]).first.wait_for()
    page.goto(f"{webserver}/runs/{planning_run.run_id}")
    page.get_by_text("Success").first.wait_for()
