"""The `quality` domain's Dagster objects (merged into `orchestration.definitions`)."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.quality.asset_checks import quality_checks
from orchestration.defs.quality.publish import published_plan


def build_defs() -> dg.Definitions:
    """Great Expectations asset checks (raw extracts, marts, forecast, staged plan) and the
    write-audit-publish asset ``published/published_plan``."""
    return dg.Definitions(assets=[published_plan], asset_checks=quality_checks)
