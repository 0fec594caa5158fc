"""The Dagster UI, for real: webserver on loopback, headless Debian Chromium driven by Playwright.

Uses the run made by the integration suite's planning run (same DAGSTER_HOME), so it checks what a
user sees after `make demo`: the project's asset groups and a successful run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(planning_run, session_dir: Path):
    port = _free_port()
    with open(session_dir / "webserver.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "ui", "--port", str(port)],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ},
        )
        try:
            yield _wait_until_up(proc, port, session_dir)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _wait_until_up(proc: subprocess.Popen, port: int, session_dir: Path) -> str:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (session_dir / "webserver.log").read_text()[-3000:]
            raise RuntimeError(f"dagster dev exited early:\n{log}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as r:
                if r.status == 200:
                    return url
        except OSError:
            time.sleep(1)
    raise RuntimeError("the Dagster webserver did not answer within 180 s")


@pytest.fixture(scope="module")
def page(webserver: str, session_dir: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,  # Playwright gives every launch a fresh, empty profile
        )
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        pg.set_default_timeout(90_000)
        yield pg
        browser.close()


def _dismiss_community_modal(page) -> None:
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except Exception:  # the modal shows once per fresh instance
        pass


def test_asset_graph_shows_the_project_groups(page, webserver: str, session_dir: Path) -> None:
    page.goto(f"{webserver}/asset-groups")
    _dismiss_community_modal(page)
    for group in ("ingest", "staging", "intermediate", "marts", "forecasting"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(session_dir / "asset-graph.png"))
    shots = os.environ.get("STOCKPILOT_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / "asset-graph.png"))


def test_runs_page_shows_the_successful_planning_run(page, webserver: str, planning_run) -> None:
    page.goto(f"{webserver}/runs")
    _dismiss_community_modal(page)
    page.get_by_text("weekly_planning").first.wait_for()
    page.get_by_text(planning_run.run_id[:8]).first.wait_for()
    page.goto(f"{webserver}/runs/{planning_run.run_id}")
    page.get_by_text("Success").first.wait_for()
