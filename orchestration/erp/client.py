"""REST push of plan lines to the ERP: one POST per line, idempotent, retried, never leaking the token.

Contract (``docs/erp-export.md``): ``POST <base url>/purchase-order-proposals`` or
``<base url>/transfer-orders`` with one line's JSON payload, headers ``Idempotency-Key:
<plan_id>:<line_id>`` (the same key is in the body) and ``Authorization: Bearer <token>``.

How answers are treated:

| answer | meaning | what happens |
| --- | --- | --- |
| 2xx | accepted | delivered |
| 409 | the key was accepted before | delivered (duplicate) |
| 401, 403 | the token is wrong | the push stops; nothing is dead-lettered; the run fails |
| 408, 429, 5xx, timeout, connection error | transient | retried with backoff |
| any other 4xx (400, 404, 422, ...), 3xx | the line is refused | dead letter, not retried this run |

Retries use exponential backoff with full jitter (``uniform(0, min(max, base * 2^(n-1)))``),
waiting at least what ``Retry-After`` asks for; they are bounded per line (attempts and
seconds) and per push (seconds). A line that exhausts its retries goes to the dead letter as
retryable; after ``max_consecutive_failures`` such lines in a row the endpoint is taken to be
down and the push stops, leaving the remaining lines for the next run.

The standard library's ``http.client`` is used (no extra dependency) with one keep-alive
connection, so a push of thousands of lines does not pay a TLS handshake per line. Connections
are direct (no proxy) and redirects are not followed (the token must not travel to another host).
The token is only ever written into the ``Authorization`` header: every message this module logs,
returns or raises goes through ``Redactor`` first, so an ERP that echoes the header back in an
error body cannot leak it into logs or tables.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from orchestration.erp.schemas import SCHEMA_VERSION

LOGGER = logging.getLogger(__name__)

#: Endpoint path per line kind, appended to the base URL.
PATHS = {
    "purchase_order_proposal": "/purchase-order-proposals",
    "transfer_order": "/transfer-orders",
}
#: HTTP statuses worth retrying: request timeout, too many requests, and every 5xx.
RETRYABLE_STATUSES = frozenset({408, 429})
AUTH_STATUSES = frozenset({401, 403})
MASK = "***"
#: Longest error text / response reference kept (characters).
MAX_TEXT = 300
USER_AGENT = f"stockpilot-erp-export/{SCHEMA_VERSION}"


class ErpConfigError(ValueError):
    """The ERP endpoint configuration is unusable (the message never contains the token)."""


class Redactor:
    """Replaces every configured secret (and its ``Bearer`` form) in text with ``***``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        # longest first, so a secret that contains another is masked whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self._secrets:
            out = out.replace(secret, MASK)
        return out


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries (seconds unless said otherwise)."""

    timeout_seconds: float = 10.0  # per request (connect + answer)
    max_attempts: int = 5  # per line and run, first try included
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    max_line_seconds: float = 120.0  # one line, waits included
    max_push_seconds: float = 900.0  # the whole push
    max_consecutive_failures: int = 3  # lines in a row that exhausted their retries

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_consecutive_failures < 1:
            raise ErpConfigError("max_attempts and max_consecutive_failures must be >= 1")
        if min(self.timeout_seconds, self.max_line_seconds, self.max_push_seconds) <= 0:
            raise ErpConfigError("timeouts and time budgets must be > 0")
        if self.backoff_base_seconds < 0 or self.backoff_max_seconds < 0:
            raise ErpConfigError("backoff must be >= 0")


@dataclass(frozen=True)
class Line:
    """One plan line to deliver: its kind, ids, idempotency key and JSON payload."""

    kind: str
    plan_id: str
    line_id: str
    idempotency_key: str
    payload: dict[str, Any]


OutcomeStatus = Literal["delivered", "dead_letter", "not_attempted"]


@dataclass
class LineOutcome:
    """What happened to one line in this push (timestamps naive UTC)."""

    line: Line
    status: OutcomeStatus
    attempts: int = 0
    http_status: int | None = None
    duplicate: bool = False  # delivered because the ERP already had the key (409)
    retryable: bool = True  # dead letters: would a later try possibly succeed?
    error: str = ""
    response_ref: str = ""
    first_attempt_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class PushReport:
    """All outcomes of one push, plus why it stopped early (None = it ran through)."""

    outcomes: list[LineOutcome] = field(default_factory=list)
    stopped_reason: str | None = None
    auth_failed: bool = False
    seconds: float = 0.0

    def count(self, status: OutcomeStatus) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def attempts(self) -> int:
        return sum(o.attempts for o in self.outcomes)

    @property
    def duplicates(self) -> int:
        return sum(o.duplicate for o in self.outcomes)


class _Transient(Exception):
    """An attempt failed in a way a retry may fix."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ErpClient:
    """Delivers ``Line``s to the ERP's REST API (see the module docstring for the rules)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        policy: RetryPolicy | None = None,
        *,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token or ""
        self.redact = Redactor([self._token])
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ErpConfigError("the ERP URL must be http(s)://host[:port][/path]")
        if parts.username or parts.password:
            raise ErpConfigError(
                "the ERP URL must not contain credentials; set STOCKPILOT_ERP_TOKEN instead"
            )
        if self._token and self._token in base_url:
            raise ErpConfigError("the ERP URL must not contain the token")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._base_path = parts.path.rstrip("/")
        self._query = f"?{parts.query}" if parts.query else ""
        self.policy = policy or RetryPolicy()
        self._log = logger or LOGGER
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock
        self._conn: http.client.HTTPConnection | None = None

    def __repr__(self) -> str:
        return f"ErpClient(endpoint={self.endpoint_host!r}, token={MASK if self._token else ''!r})"

    @property
    def endpoint_host(self) -> str:
        """``scheme://host[:port]``: what metadata and logs may show of the endpoint."""
        port = f":{self._port}" if self._port else ""
        return f"{self._scheme}://{self._host}{port}"

    # ------------------------------------------------------------------------------ transport
    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def close(self) -> None:
        """Close the keep-alive connection (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(
        self, path: str, key: str, body: bytes, timeout: float
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": key,
            "User-Agent": USER_AGENT,
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        conn = self._connection(timeout)
        try:
            conn.request(
                "POST", f"{self._base_path}{path}{self._query}", body=body, headers=headers
            )
            resp = conn.getresponse()
            data = resp.read(65536)
            if resp.will_close or len(data) == 65536:
                self.close()
        except BaseException:
            self.close()  # the connection's state is unknown: start a fresh one
            raise
        return resp.status, resp.headers, data

    # ------------------------------------------------------------------------------ delivery
    def _response_ref(self, headers: http.client.HTTPMessage, body: bytes) -> str:
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            doc = None
        ref = ""
        if isinstance(doc, dict):
            for name in ("id", "reference", "document_id", "erp_ref"):
                if doc.get(name) not in (None, ""):
                    ref = str(doc[name])
                    break
        ref = ref or headers.get("Location", "") or ""
        return self.redact(ref)[:MAX_TEXT]

    def _error_text(self, status: int, body: bytes) -> str:
        text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
        return self.redact(f"HTTP {status}: {text}" if text else f"HTTP {status}")[:MAX_TEXT]

    def deliver_line(self, line: Line, push_deadline: float | None = None) -> LineOutcome:
        """Send one line until it is accepted, refused, or out of attempts/time."""
        policy = self.policy
        path = PATHS.get(line.kind)
        if path is None:
            raise ValueError(f"unknown line kind {line.kind!r}; expected one of {sorted(PATHS)}")
        body = json.dumps(line.payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        start = self._clock()
        deadline = start + policy.max_line_seconds
        if push_deadline is not None:
            deadline = min(deadline, push_deadline)
        out = LineOutcome(line=line, status="dead_letter", first_attempt_at=_utcnow())
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                out.error = out.error or "time budget exhausted before the first attempt"
                break
            out.attempts += 1
            timeout = min(policy.timeout_seconds, remaining)
            try:
                try:
                    status, headers, data = self._post(path, line.idempotency_key, body, timeout)
                except TimeoutError as exc:
                    raise _Transient(f"timeout after {timeout:.1f} s") from exc
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(
                        self.redact(f"connection error: {type(exc).__name__}: {exc}")
                    ) from exc
                out.http_status = status
                if 200 <= status < 300 or status == 409:
                    out.status = "delivered"
                    out.duplicate = status == 409
                    out.response_ref = "duplicate" if out.duplicate else ""
                    out.response_ref = self._response_ref(headers, data) or out.response_ref
                    out.error = ""
                    break
                if status in AUTH_STATUSES:
                    out.status = "not_attempted"
                    out.error = self._error_text(status, data)
                    break
                if status in RETRYABLE_STATUSES or status >= 500:
                    raise _Transient(
                        self._error_text(status, data),
                        status,
                        parse_retry_after(headers.get("Retry-After")),
                    )
                out.retryable = False
                out.error = self._error_text(status, data)
                break
            except _Transient as exc:
                out.error = str(exc)
                if exc.status is not None:
                    out.http_status = exc.status
                if out.attempts >= policy.max_attempts:
                    out.error = f"{out.error} (gave up after {out.attempts} attempts)"
                    break
                ceiling = min(
                    policy.backoff_max_seconds,
                    policy.backoff_base_seconds * 2 ** (out.attempts - 1),
                )
                delay = self._rng.uniform(0.0, ceiling)
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                if self._clock() + delay >= deadline:
                    out.error = (
                        f"{out.error} (gave up after {out.attempts} attempts: "
                        f"the next retry in {delay:.1f} s would pass the time budget)"
                    )
                    break
                self._log.info(
                    self.redact(
                        f"ERP {line.kind} {line.idempotency_key}: attempt {out.attempts} failed "
                        f"({out.error}); retrying in {delay:.2f} s"
                    )
                )
                self._sleep(delay)
        out.finished_at = _utcnow()
        return out

    def deliver(self, lines: Sequence[Line]) -> PushReport:
        """Deliver ``lines`` in order; stops early on an auth failure or an endpoint that is down."""
        policy = self.policy
        report = PushReport()
        start = self._clock()
        push_deadline = start + policy.max_push_seconds
        consecutive = 0
        try:
            for i, line in enumerate(lines):
                if self._clock() >= push_deadline:
                    report.stopped_reason = (
                        f"push time budget of {policy.max_push_seconds:.0f} s used up"
                    )
                elif consecutive >= policy.max_consecutive_failures:
                    report.stopped_reason = (
                        f"{consecutive} lines in a row failed after retries: endpoint unavailable"
                    )
                if report.stopped_reason:
                    report.outcomes.extend(
                        LineOutcome(line=rest, status="not_attempted") for rest in lines[i:]
                    )
                    break
                out = self.deliver_line(line, push_deadline)
                report.outcomes.append(out)
                if out.status == "not_attempted":  # 401/403
                    report.auth_failed = True
                    report.stopped_reason = self.redact(
                        f"the ERP refused the credentials ({out.error}); check STOCKPILOT_ERP_TOKEN"
                    )
                    report.outcomes.extend(
                        LineOutcome(line=rest, status="not_attempted") for rest in lines[i + 1 :]
                    )
                    break
                if out.status == "dead_letter":
                    self._log.warning(
                        self.redact(
                            f"ERP {line.kind} {line.idempotency_key} dead-lettered after "
                            f"{out.attempts} attempt(s): {out.error}"
                        )
                    )
                consecutive = (
                    consecutive + 1 if out.status == "dead_letter" and out.retryable else 0
                )
        finally:
            self.close()
            report.seconds = self._clock() - start
        if report.stopped_reason:
            self._log.warning(self.redact(f"ERP push stopped early: {report.stopped_reason}"))
        return report


def make_lines(kind: str, payloads: Iterable[dict[str, Any]]) -> list[Line]:
    """``Line``s from ERP payloads (``schemas.line_payloads``) of one kind."""
    return [
        Line(
            kind=kind,
            plan_id=str(p["plan_id"]),
            line_id=str(p["line_id"]),
            idempotency_key=str(p["idempotency_key"]),
            payload=p,
        )
        for p in payloads
    ]
