"""The `export` domain's Dagster objects (merged into `orchestration.definitions`)."""

from __future__ import annotations

import dagster as dg


def build_defs() -> dg.Definitions:
    """Assets, checks, jobs, schedules and sensors of the `export` domain."""
    return dg.Definitions()
