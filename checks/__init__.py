"""Data quality: Great Expectations suites (``checks/suites/*.json``) and the code that runs them.

Dagster-free, so a notebook can validate a frame the way the platform does::

    import checks
    outcome = checks.validate_frame("raw_sales", frame, context={"max_lag_days": 3})
    outcome.success, outcome.failed_expectations()
    checks.render_html(outcome, "reports/quality")

``checks.raw`` builds the frame of the latest load of a raw extract, ``checks.tables`` the
frames of the marts, forecasts and staged plan. GX itself is imported on the first validation
(about 3 s), not when this package is imported.
"""

from checks.report import KEEP_REPORTS, prune_reports, render_html
from checks.runner import (
    ValidationOutcome,
    combine_outcomes,
    load_suite,
    suite_definition,
    suite_names,
    unexpected_rows,
    validate_frame,
    warm_up,
)

__all__ = [
    "KEEP_REPORTS",
    "ValidationOutcome",
    "combine_outcomes",
    "load_suite",
    "prune_reports",
    "render_html",
    "suite_definition",
    "suite_names",
    "unexpected_rows",
    "validate_frame",
    "warm_up",
]
