"""The REST client against a real local HTTP server: retries, idempotency, dead letters, masking."""

from __future__ import annotations

import logging
import time

import pytest

from orchestration.erp.client import (
    ErpClient,
    ErpConfigError,
    Line,
    RetryPolicy,
    make_lines,
    parse_retry_after,
)
from orchestration.erp.schemas import PURCHASE_ORDER_PROPOSALS, line_payloads, to_erp_frame
from tests.export.conftest import TOKEN, make_plan

PLAN = "PLAN-20260601-abcdef12"
FAST = RetryPolicy(
    timeout_seconds=0.4,
    max_attempts=4,
    backoff_base_seconds=0.01,
    backoff_max_seconds=0.05,
    max_line_seconds=10,
    max_push_seconds=30,
)


def _lines(n: int = 5) -> list[Line]:
    po = to_erp_frame(PURCHASE_ORDER_PROPOSALS, make_plan(PLAN, n_po=n)["purchase_order_proposals"])
    return make_lines("purchase_order_proposal", line_payloads(PURCHASE_ORDER_PROPOSALS, po))


def _client(url: str, policy: RetryPolicy = FAST, token: str = TOKEN) -> ErpClient:
    return ErpClient(url, token, policy, logger=logging.getLogger("tests.erp"))


def test_transient_failures_are_retried_and_each_line_is_accepted_once(erp_server, caplog) -> None:
    erp_server.state.fail_next = [500, 503, 502]
    lines = _lines(5)
    erp_server.state.slow_keys = {lines[3].idempotency_key}  # accepted, answer comes too late
    with caplog.at_level(logging.INFO, logger="tests.erp"):
        report = _client(erp_server.url).deliver(lines)
    assert report.count("delivered") == 5 and report.stopped_reason is None
    assert set(erp_server.state.accepted) == {ln.idempotency_key for ln in lines}
    assert set(erp_server.state.accept_count.values()) == {1}
    first = report.outcomes[0]
    assert first.attempts == 4 and first.http_status == 201 and first.response_ref == "ERP-1"
    # the slow line timed out, was re-sent with the same key and recognised as a duplicate
    slow = report.outcomes[3]
    assert slow.attempts == 2 and slow.duplicate and slow.http_status == 409
    assert [r["key"] for r in erp_server.state.requests_for(lines[3].idempotency_key)] == [
        lines[3].idempotency_key
    ] * 2
    assert "timeout after 0.4 s" in caplog.text and "retrying in" in caplog.text
    assert TOKEN not in caplog.text


def test_a_refused_line_is_dead_lettered_after_one_attempt_and_the_rest_go_through(
    erp_server, caplog
) -> None:
    lines = _lines(4)
    erp_server.state.poisoned = {lines[1].line_id}
    with caplog.at_level(logging.INFO, logger="tests.erp"):
        report = _client(erp_server.url).deliver(lines)
    bad = report.outcomes[1]
    assert bad.status == "dead_letter" and not bad.retryable
    assert bad.attempts == 1 and bad.http_status == 422
    assert len(erp_server.state.requests_for(lines[1].idempotency_key)) == 1
    assert f"unknown item_code {lines[1].payload['item_code']}" in bad.error
    # the ERP echoed "Bearer <token>" in its error body: it is masked in the error and the log
    assert "Bearer ***" in bad.error and TOKEN not in bad.error
    assert TOKEN not in caplog.text and "dead-lettered" in caplog.text
    assert report.count("delivered") == 3 and len(erp_server.state.accepted) == 3


def test_attempts_are_bounded_and_an_endpoint_that_stays_down_stops_the_push(erp_server) -> None:
    erp_server.state.down = True
    policy = RetryPolicy(
        timeout_seconds=0.4,
        max_attempts=3,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.02,
        max_consecutive_failures=2,
    )
    report = _client(erp_server.url, policy).deliver(_lines(5))
    statuses = [o.status for o in report.outcomes]
    assert statuses == ["dead_letter", "dead_letter"] + ["not_attempted"] * 3
    assert all(
        o.retryable and o.attempts == 3 and o.http_status == 503 for o in report.outcomes[:2]
    )
    assert "gave up after 3 attempts" in report.outcomes[0].error
    assert len(erp_server.state.requests) == 6
    assert "endpoint unavailable" in (report.stopped_reason or "")


def test_retry_after_is_honoured(erp_server) -> None:
    erp_server.state.retry_after_next = [(429, "1")]
    report = _client(erp_server.url).deliver(_lines(1))
    assert report.count("delivered") == 1 and report.outcomes[0].attempts == 2
    first, second = erp_server.state.requests
    assert second["at"] - first["at"] >= 1.0  # backoff alone would wait <= 0.01 s


def test_a_retry_after_beyond_the_time_budget_gives_up_at_once(erp_server) -> None:
    erp_server.state.retry_after_next = [(503, "120")]
    t0 = time.monotonic()
    report = _client(erp_server.url).deliver(_lines(1))
    assert time.monotonic() - t0 < 2
    out = report.outcomes[0]
    assert out.status == "dead_letter" and out.retryable and out.attempts == 1
    assert "would pass the time budget" in out.error


def test_wrong_token_stops_the_push_without_dead_letters(erp_server) -> None:
    report = _client(erp_server.url, token="not-the-token").deliver(_lines(3))
    assert report.auth_failed and report.count("dead_letter") == 0
    assert len(erp_server.state.requests) == 1  # no retry, no further lines
    assert "STOCKPILOT_ERP_TOKEN" in (report.stopped_reason or "")
    assert "not-the-token" not in (report.stopped_reason or "")


def test_connection_refused_is_transient(erp_server) -> None:
    url = erp_server.url
    erp_server.server.shutdown()
    erp_server.server.server_close()
    report = _client(url, RetryPolicy(max_attempts=2, backoff_base_seconds=0.01)).deliver(_lines(1))
    out = report.outcomes[0]
    assert out.status == "dead_letter" and out.retryable and out.attempts == 2
    assert "connection error" in out.error and "ConnectionRefusedError" in out.error


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ErpConfigError) as exc:
        ErpClient("https://user:hunter2@erp.example.com/api", TOKEN)
    assert "hunter2" not in str(exc.value)
    with pytest.raises(ErpConfigError) as exc:
        ErpClient(f"https://erp.example.com/api?key={TOKEN}", TOKEN)
    assert TOKEN not in str(exc.value)
    client = ErpClient("https://erp.example.com:8443/api/v1?tenant=7", TOKEN)
    assert client.endpoint_host == "https://erp.example.com:8443"
    assert TOKEN not in repr(client)


def test_retry_after_parses_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Mon, 01 Jun 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
