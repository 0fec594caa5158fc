"""The drift alert log: one alert per drifted segment, status carry-over, reviews and their audit."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from ml.monitoring.alerts import ALERT_COLUMNS, REVIEW_COLUMNS, apply_review, new_alerts

T1 = datetime(2026, 11, 16, 4, 0, 12)
T2 = datetime(2026, 11, 23, 4, 0, 9)


def segments(drifted: dict[str, bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment": list(drifted),
            "drifted": list(drifted.values()),
            "drifted_features": [["demand"] if d else [] for d in drifted.values()],
            "drift_share": [0.4 if d else 0.0 for d in drifted.values()],
            "magnitude": [0.35 if d else 0.01 for d in drifted.values()],
            "reference_mean_demand": 10.0,
            "current_mean_demand": [13.5 if d else 10.1 for d in drifted.values()],
            "affected_sku_locations": [12 if d else 0 for d in drifted.values()],
            "affected_sample": [["SKU1@S001", "SKU2@S002"] if d else [] for d in drifted.values()],
        }
    )


def first_run() -> pd.DataFrame:
    return new_alerts(
        segments({"all": True, "smooth": True, "lumpy": False}),
        None,
        run_id="1a2b3c4d-0000",
        created_at=T1,
        report_html="/r/1/drift_report.html",
        report_json="/r/1/drift_report.json",
    )


def test_one_open_alert_per_drifted_segment() -> None:
    alerts = first_run()
    assert list(alerts.columns) == ALERT_COLUMNS
    assert alerts["alert_id"].tolist() == [
        "DRIFT-20261116040012-1a2b3c4d-all",
        "DRIFT-20261116040012-1a2b3c4d-smooth",
    ]
    assert (alerts["status"] == "open").all()
    assert json.loads(alerts["drifted_features"].iloc[1]) == ["demand"]
    assert json.loads(alerts["affected_sample"].iloc[1]) == ["SKU1@S001", "SKU2@S002"]
    assert alerts["affected_sku_locations"].tolist() == [12, 12]
    assert alerts["report_html"].eq("/r/1/drift_report.html").all()
    none = new_alerts(
        segments({"all": False}),
        alerts,
        run_id="x",
        created_at=T2,
        report_html="",
        report_json="",
    )
    assert none.empty


def test_an_acknowledged_segment_stays_acknowledged_and_a_resolved_one_reopens() -> None:
    log = first_run()
    ack, _ = apply_review(
        log, [log["alert_id"].iloc[1]], "acknowledge", "jane", "promo", reviewed_at=T1
    )
    res, _ = apply_review(
        log, [log["alert_id"].iloc[0]], "resolve", "jane", "fixed upstream", reviewed_at=T1
    )
    log = pd.concat([res, ack], ignore_index=True)
    second = new_alerts(
        segments({"all": True, "smooth": True}),
        log,
        run_id="9f8e7d6c-1111",
        created_at=T2,
        report_html="/r/2.html",
        report_json="/r/2.json",
    ).set_index("segment")
    assert second.loc["smooth", "status"] == "acknowledged"
    assert second.loc["smooth", "carried_from"] == "DRIFT-20261116040012-1a2b3c4d-smooth"
    assert second.loc["smooth", "reviewed_by"] == "jane"
    assert second.loc["smooth", "review_note"] == "promo"
    assert second.loc["all", "status"] == "open"  # resolved before: a new drift is news
    assert second.loc["all", "carried_from"] is None


def test_review_changes_status_and_writes_one_audit_row_per_alert() -> None:
    log = first_run()
    ids = log["alert_id"].tolist()
    updated, reviews = apply_review(
        log, ids, "acknowledge", " jane ", "known promotion", reviewed_at=T2, run_id="run-7"
    )
    assert list(reviews.columns) == REVIEW_COLUMNS
    assert updated["status"].tolist() == ["acknowledged", "acknowledged"]
    assert updated["reviewed_by"].eq("jane").all()
    assert reviews["previous_status"].tolist() == ["open", "open"]
    assert reviews["new_status"].eq("acknowledged").all()
    assert reviews["note"].eq("known promotion").all()
    assert reviews["reviewed_at"].eq(pd.Timestamp(T2)).all()
    assert reviews["dagster_run_id"].eq("run-7").all()
    assert reviews["review_id"].is_unique
    assert (log["status"] == "open").all()  # the input is not modified

    again, rev2 = apply_review(updated, ids[:1], "resolve", "sam", "", reviewed_at=T2)
    assert again["status"].tolist() == ["resolved"]
    assert rev2["previous_status"].tolist() == ["acknowledged"]
    back, rev3 = apply_review(again, ids[:1], "reopen", "sam", "came back", reviewed_at=T2)
    assert back["status"].tolist() == ["open"] and rev3["previous_status"].tolist() == ["resolved"]


@pytest.mark.parametrize(
    ("ids", "action", "reviewer", "message"),
    [
        (["DRIFT-nope"], "acknowledge", "jane", r"unknown alert id\(s\): \['DRIFT-nope'\]"),
        ([], "acknowledge", "jane", "alert_ids is empty"),
        (None, "acknowledge", "  ", "reviewer is required"),
        (None, "ignore", "jane", "action must be one of"),
        (None, "reopen", "jane", "cannot reopen .*-all is open"),
    ],
)
def test_invalid_reviews_are_refused_naming_the_problem(ids, action, reviewer, message) -> None:
    log = first_run()
    ids = log["alert_id"].tolist() if ids is None else ids
    with pytest.raises(ValueError, match=message):
        apply_review(log, ids, action, reviewer, reviewed_at=T2)
