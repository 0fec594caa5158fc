"""Notice new or changed files in the landing folder and request an ingestion run."""

from __future__ import annotations

import hashlib
import json
import os

import dagster as dg

from orchestration import settings
from orchestration.ingest.landing import discover_files


def landing_state(landing_dir: os.PathLike[str] | str) -> dict[str, str]:
    """path -> "size:mtime_ns" for every contract file (cheap; no checksum)."""
    return {
        f.source_file: f"{f.size_bytes}:{f.path.stat().st_mtime_ns}"
        for f in discover_files(landing_dir)
    }


def build_landing_sensor(job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_folder_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests an ingestion run when files are added to or changed in the "
        "landing folder (compares sizes and modification times with the last tick).",
    )
    def landing_folder_sensor(context: dg.SensorEvaluationContext):
        folder = settings.landing_dir()
        if not folder.is_dir():
            return dg.SkipReason(f"landing folder {folder} does not exist")
        state = landing_state(folder)
        previous = json.loads(context.cursor) if context.cursor else {}
        changed = sorted(k for k, v in state.items() if previous.get(k) != v)
        if not changed:
            return dg.SkipReason("no new or changed files")
        key = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:20]
        context.update_cursor(json.dumps(state, sort_keys=True))
        return dg.RunRequest(
            run_key=f"landing-{key}",
            tags={
                "stockpilot/trigger": "landing_folder",
                "stockpilot/changed_files": str(len(changed)),
            },
        )

    return landing_folder_sensor
