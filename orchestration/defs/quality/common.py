"""Shared glue of the quality domain: run a suite, write its report, turn it into metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

import checks
from orchestration.defs.warehouse_io import reports_dir

#: HTML pages kept per suite under <data dir>/reports/quality/<suite>/.
KEEP_REPORTS = 20


def report_root() -> Path:
    """``<data dir>/reports/quality`` (created on demand)."""
    return reports_dir("quality")


def validate(
    suite_name: str, frame: pd.DataFrame, context: dict[str, Any] | None = None
) -> tuple[checks.ValidationOutcome, Path]:
    """Validate ``frame`` with the suite and write its HTML page; (outcome, page path)."""
    outcome = checks.validate_frame(suite_name, frame, context=context)
    path = checks.render_html(outcome, report_root(), keep=KEEP_REPORTS)
    return outcome, path


def outcome_metadata(outcome: checks.ValidationOutcome, report: Path) -> dict[str, Any]:
    """What every quality check reports: counts, the failed expectations, the report."""
    stats = outcome.statistics
    return {
        "suite": outcome.suite_name,
        "expectations_evaluated": int(stats["evaluated_expectations"]),
        "expectations_failed": int(stats["unsuccessful_expectations"]),
        "rows_validated": int(outcome.n_rows),
        "failed_expectations": dg.MetadataValue.md(outcome.failures_markdown()),
        "report": dg.MetadataValue.path(str(report)),
        "report_url": dg.MetadataValue.url(report.resolve().as_uri()),
    }


def check_result(
    outcome: checks.ValidationOutcome,
    report: Path,
    *,
    asset_key: dg.AssetKey,
    check_name: str,
    blocking: bool,
    passed: bool | None = None,
    extra: dict[str, Any] | None = None,
) -> dg.AssetCheckResult:
    """The asset check result of one validation (ERROR severity when blocking, else WARN)."""
    ok = outcome.success if passed is None else passed
    stats = outcome.statistics
    description = (
        f"{stats['successful_expectations']}/{stats['evaluated_expectations']} expectations met "
        f"on {outcome.n_rows:,} rows"
    )
    if not ok:
        description += ": " + "; ".join(outcome.failed_summary()[:5])
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=bool(ok),
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description=description[:1000],
        metadata={**outcome_metadata(outcome, report), **(extra or {})},
    )
