"""Monitoring: demand and forecast drift (Evidently 0.7), drift alerts and their review.

Public entry points:

* :func:`~ml.monitoring.drift.compute_drift` - reference vs current windows of the weekly demand
  panel and of the forecast residuals, per demand class and overall, as one Evidently report.
* :func:`~ml.monitoring.drift.save_report` / :func:`~ml.monitoring.drift.prune_report_runs` -
  the report's HTML and JSON on disk, and their retention.
* :func:`~ml.monitoring.alerts.new_alerts` / :func:`~ml.monitoring.alerts.apply_review` - the
  alert log (open -> acknowledged -> resolved, reopen) as plain DataFrames.

This package never imports dagster.
"""
