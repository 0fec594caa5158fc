"""Drift alerts and their review, as plain DataFrames (the warehouse tables' rows).

Lifecycle: a drift run appends one alert per drifted segment (``open``). A reviewer
``acknowledge``s it (known, being handled: no more retraining for it), ``resolve``s it (fixed or
not a real problem) or ``reopen``s an acknowledged or resolved one. Every review is one audit
row (who, when, why, previous and new status).

Status carry-over: when a segment drifts again and its latest earlier alert is *acknowledged*,
the new alert starts acknowledged too (same reviewer and note, ``carried_from`` = that alert),
because the reviewer already knows about the drift and a persistent drift must not trigger a
retraining every week. After a *resolved* alert a new drift is news again and opens a new alert.

This module never imports dagster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

STATUSES = ("open", "acknowledged", "resolved")
#: action -> (statuses it applies to, status it sets)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("open",), "acknowledged"),
    "resolve": (("open", "acknowledged"), "resolved"),
    "reopen": (("acknowledged", "resolved"), "open"),
}

ALERT_COLUMNS = [
    "alert_id",
    "created_at",
    "dagster_run_id",
    "segment",
    "drifted_features",
    "drift_share",
    "magnitude",
    "reference_mean_demand",
    "current_mean_demand",
    "affected_sku_locations",
    "affected_sample",
    "report_html",
    "report_json",
    "status",
    "reviewed_by",
    "reviewed_at",
    "review_note",
    "carried_from",
]
REVIEW_COLUMNS = [
    "review_id",
    "alert_id",
    "action",
    "previous_status",
    "new_status",
    "reviewed_by",
    "reviewed_at",
    "note",
    "dagster_run_id",
]


def _naive(ts: datetime) -> pd.Timestamp:
    """UTC wall time without a zone (the warehouse stores TIMESTAMP, not TIMESTAMPTZ)."""
    out = pd.Timestamp(ts)
    return out.tz_convert(None) if out.tzinfo else out


def alert_id(created_at: datetime, run_id: str, segment: str) -> str:
    """``DRIFT-20261116040512-1a2b3c4d-smooth``: unique per run and segment, sortable by time."""
    return f"DRIFT-{created_at:%Y%m%d%H%M%S}-{run_id[:8]}-{segment}"


def empty_alerts() -> pd.DataFrame:
    return pd.DataFrame(columns=ALERT_COLUMNS)


def new_alerts(
    segments: pd.DataFrame,
    previous: pd.DataFrame | None,
    *,
    run_id: str,
    created_at: datetime,
    report_html: str,
    report_json: str,
) -> pd.DataFrame:
    """One alert row per drifted segment of a drift run, statuses carried over from ``previous``.

    ``segments`` is :attr:`ml.monitoring.drift.DriftResult.segments`; ``previous`` the alert log
    so far (may be empty or None). Lists (drifted features, affected sample) are stored as JSON
    text so the row fits a plain SQL table.
    """
    drifted = segments[segments["drifted"].astype(bool)]
    if drifted.empty:
        return empty_alerts()
    out = pd.DataFrame(
        {
            "alert_id": [alert_id(created_at, run_id, s) for s in drifted["segment"]],
            "created_at": _naive(created_at),
            "dagster_run_id": run_id,
            "segment": drifted["segment"].astype(str).to_numpy(),
            "drifted_features": [json.dumps(list(f)) for f in drifted["drifted_features"]],
            "drift_share": drifted["drift_share"].astype(float).to_numpy(),
            "magnitude": drifted["magnitude"].astype(float).to_numpy(),
            "reference_mean_demand": drifted["reference_mean_demand"].astype(float).to_numpy(),
            "current_mean_demand": drifted["current_mean_demand"].astype(float).to_numpy(),
            "affected_sku_locations": drifted["affected_sku_locations"].astype(int).to_numpy(),
            "affected_sample": [json.dumps(list(s)) for s in drifted["affected_sample"]],
            "report_html": report_html,
            "report_json": report_json,
            "status": "open",
            "reviewed_by": None,
            "reviewed_at": pd.NaT,
            "review_note": None,
            "carried_from": None,
        }
    )
    if previous is not None and not previous.empty:
        latest = (
            previous.sort_values(["created_at", "alert_id"])
            .drop_duplicates("segment", keep="last")
            .set_index("segment")
        )
        prev = latest.reindex(out["segment"])
        carry = (prev["status"] == "acknowledged").to_numpy()
        out["status"] = np.where(carry, "acknowledged", "open")
        for col in ("reviewed_by", "review_note"):
            out[col] = np.where(carry, prev[col].to_numpy(), None)
        out["reviewed_at"] = pd.to_datetime(
            np.where(carry, pd.to_datetime(prev["reviewed_at"]).to_numpy(), np.datetime64("NaT"))
        )
        out["carried_from"] = np.where(carry, prev["alert_id"].to_numpy(), None)
    return out[ALERT_COLUMNS]


def apply_review(
    alerts: pd.DataFrame,
    alert_ids: Sequence[str],
    action: str,
    reviewer: str,
    note: str = "",
    *,
    reviewed_at: datetime,
    run_id: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(updated alert rows, review rows)`` for one review of ``alert_ids``.

    Raises ValueError - and changes nothing - for an unknown action, an empty reviewer or id
    list, ids not in ``alerts``, or alerts whose status the action does not apply to (e.g.
    acknowledging a resolved alert), naming every offending id.
    """
    if action not in TRANSITIONS:
        raise ValueError(f"action must be one of {sorted(TRANSITIONS)}, got {action!r}")
    if not reviewer or not reviewer.strip():
        raise ValueError("reviewer is required (who reviewed the alert)")
    ids = list(dict.fromkeys(alert_ids))
    if not ids:
        raise ValueError("alert_ids is empty")
    known = alerts.set_index("alert_id")
    unknown = [a for a in ids if a not in known.index]
    if unknown:
        raise ValueError(f"unknown alert id(s): {unknown}")
    allowed, new_status = TRANSITIONS[action]
    current = known.loc[ids, "status"]
    bad = current[~current.isin(allowed)]
    if len(bad):
        listing = ", ".join(f"{a} is {s}" for a, s in bad.items())
        raise ValueError(f"cannot {action} ({listing}); {action} applies to {list(allowed)}")
    at = _naive(reviewed_at)
    updated = known.loc[ids].reset_index()
    updated["status"] = new_status
    updated["reviewed_by"] = reviewer.strip()
    updated["reviewed_at"] = at
    updated["review_note"] = note
    reviews = pd.DataFrame(
        {
            "review_id": [f"{a}:{at:%Y%m%d%H%M%S%f}" for a in ids],
            "alert_id": ids,
            "action": action,
            "previous_status": current.to_numpy(),
            "new_status": new_status,
            "reviewed_by": reviewer.strip(),
            "reviewed_at": at,
            "note": note,
            "dagster_run_id": run_id,
        }
    )
    return updated[ALERT_COLUMNS], reviews[REVIEW_COLUMNS]


def open_alerts(alerts: pd.DataFrame) -> pd.DataFrame:
    """The open alerts, newest first."""
    if alerts.empty:
        return alerts
    return alerts[alerts["status"] == "open"].sort_values("created_at", ascending=False)
