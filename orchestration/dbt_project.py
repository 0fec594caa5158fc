"""The dbt project, built once (see PLATFORM_NOTES: keep `DbtProject` in a module of its own).

`DbtProject.prepare_if_dev()` only parses under `dagster dev`; everywhere else the manifest must
already exist. `ensure_manifest()` parses when the manifest is missing or older than any dbt
source file, under a file lock so concurrent processes (dagster dev's run workers, pytest-xdist)
never parse twice at once. The check costs a directory walk, so importing this module is cheap
when nothing changed - unlike `prepare_if_dev()`, which re-parses in every step process.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration import settings

log = logging.getLogger(__name__)

DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"
_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for sub in ("models", "macros", "tests", "seeds", "snapshots", "analyses"):
        folder = project_dir / sub
        if folder.is_dir():
            for p in folder.rglob("*"):
                if p.suffix in _SOURCE_SUFFIXES:
                    newest = max(newest, p.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        p = project_dir / name
        if p.exists():
            newest = max(newest, p.stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    return manifest.stat().st_mtime < _newest_source_mtime(Path(project.project_dir))


def ensure_manifest(project: DbtProject) -> Path:
    """Run `dbt parse` if the manifest is missing or stale; return the manifest path."""
    manifest = Path(project.manifest_path)
    if not manifest_is_stale(project):
        return manifest
    settings.export_environment()
    target_dir = Path(project.project_dir) / project.target_path
    target_dir.mkdir(parents=True, exist_ok=True)
    with open(target_dir / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_stale(project):  # another process may have parsed while we waited
            log.info("parsing dbt project (manifest missing or stale)")
            result = subprocess.run(
                [
                    str(DBT_EXECUTABLE),
                    "parse",
                    "--quiet",
                    "--project-dir",
                    str(project.project_dir),
                    "--profiles-dir",
                    str(project.profiles_dir),
                ],
                cwd=project.project_dir,
                capture_output=True,
                text=True,
                env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            )
            if result.returncode != 0:
                raise RuntimeError("dbt parse failed:\n" + (result.stdout + result.stderr)[-4000:])
    return manifest


stockpilot_dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
)
ensure_manifest(stockpilot_dbt_project)
