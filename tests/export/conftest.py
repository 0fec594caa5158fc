"""Fixtures of the ERP export tests: a published plan in a temp warehouse, and a local ERP server.

The ERP is the one thing outside this machine, so it is replaced by a real HTTP server on
127.0.0.1 (random port, its own thread) with scripted faults: 500/503 answers, a response
delayed past the client timeout (after the line was accepted, as a slow ERP would), 429 with
Retry-After, 422 for poisoned lines (echoing the Authorization header in its error body, as a
careless ERP might), 409 for keys it accepted before, and an outage mode.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pandas as pd
import pytest

TOKEN = "tok-9f3b2c7e5d1a4b8c9e0f"  # never to appear in logs, metadata, tables or files

PUBLISHED_DDL = {
    "purchase_order_proposals": """
        plan_id varchar, line_id varchar, supplier_id varchar, ship_to_location_id varchar,
        sku varchar, order_qty double, case_pack double, order_cases double, unit_cost double,
        order_value double, order_date date, expected_receipt_date date, reason varchar,
        published_at timestamp""",
    "transfer_orders": """
        plan_id varchar, line_id varchar, from_location_id varchar, to_location_id varchar,
        sku varchar, transfer_qty double, case_pack double, transfer_cases double,
        order_date date, expected_receipt_date date, allocation_method varchar,
        reason varchar, published_at timestamp""",
    "plan_versions": """
        plan_id varchar, status varchar, dagster_run_id varchar, created_at timestamp,
        n_purchase_order_lines integer, n_transfer_lines integer, order_value double,
        failed_checks varchar, report_path varchar""",
}


def make_plan(
    plan_id: str, n_po: int = 5, n_tr: int = 7, order_date: date = date(2026, 6, 1)
) -> dict[str, pd.DataFrame]:
    """A small published plan (the interface schema), lines in a shuffled order."""
    published_at = datetime(2026, 6, 1, 4, 12, 30)
    i = pd.RangeIndex(n_po)
    case = (6 + (i % 3) * 6).astype(float)
    cases = (1 + i % 4).astype(float)
    sku = [f"SKU{k:04d}" for k in i]
    supplier = [f"SUP{1 + k % 2:02d}" for k in i]
    po = pd.DataFrame(
        {
            "plan_id": plan_id,
            "line_id": [f"PO-{s}-DC01-{k}" for s, k in zip(supplier, sku, strict=True)],
            "supplier_id": supplier,
            "ship_to_location_id": "DC01",
            "sku": sku,
            "order_qty": case * cases,
            "case_pack": case,
            "order_cases": cases,
            "unit_cost": 1.25 + i * 0.5,
            "order_value": case * cases * (1.25 + i * 0.5),
            "order_date": order_date,
            "expected_receipt_date": [order_date + timedelta(days=7 + k % 5) for k in i],
            "reason": [None if k == 0 else f"position below reorder point by {k} units" for k in i],
            "published_at": published_at,
        }
    ).iloc[::-1]
    j = pd.RangeIndex(n_tr)
    tcase = (6 + (j % 2) * 6).astype(float)
    tcases = (1 + j % 3).astype(float)
    store = [f"ST{1 + k % 3:02d}" for k in j]
    tsku = [f"SKU{k % 4:04d}" for k in j]
    tr = pd.DataFrame(
        {
            "plan_id": plan_id,
            "line_id": [
                f"TR-DC01-{s}-{k}-{n}" for n, (s, k) in enumerate(zip(store, tsku, strict=True))
            ],
            "from_location_id": "DC01",
            "to_location_id": store,
            "sku": tsku,
            "transfer_qty": tcase * tcases,
            "case_pack": tcase,
            "transfer_cases": tcases,
            "order_date": order_date,
            "expected_receipt_date": order_date + timedelta(days=2),
            "allocation_method": ["marginal" if k % 4 == 0 else "order_up_to" for k in j],
            "reason": "store below order-up-to level",
            "published_at": published_at,
        }
    ).sample(frac=1.0, random_state=3)
    version = pd.DataFrame(
        {
            "plan_id": [plan_id],
            "status": ["published"],
            "dagster_run_id": ["abcdef12-0000-0000-0000-000000000000"],
            "created_at": [published_at],
            "n_purchase_order_lines": [n_po],
            "n_transfer_lines": [n_tr],
            "order_value": [float(po["order_value"].sum())],
            "failed_checks": ["[]"],
            "report_path": [""],
        }
    )
    return {"purchase_order_proposals": po, "transfer_orders": tr, "plan_versions": version}


def publish(db: Path, plan: dict[str, pd.DataFrame], *, append_version: bool = True) -> None:
    """Write ``plan`` as the current published plan (typed tables, as the publish asset does)."""
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists published")
        for table, ddl in PUBLISHED_DDL.items():
            con.execute(f"create table if not exists published.{table} ({ddl})")
        for table in ("purchase_order_proposals", "transfer_orders"):
            con.execute(f"delete from published.{table}")
        if not append_version:
            con.execute("delete from published.plan_versions")
        for table, frame in plan.items():
            frame = frame.copy()
            for col in ("order_date", "expected_receipt_date"):
                if col in frame:
                    frame[col] = pd.to_datetime(frame[col])
            con.register("_f", frame)
            con.execute(f"insert into published.{table} by name select * from _f")
            con.unregister("_f")


@dataclass
class ErpState:
    """What the local ERP does and what it has seen (guarded by ``lock``)."""

    token: str = TOKEN
    fail_next: list[int] = field(default_factory=list)  # statuses for the next requests
    retry_after_next: list[tuple[int, str]] = field(default_factory=list)  # (status, header)
    slow_keys: set[str] = field(default_factory=set)  # accept, then answer too late (once)
    slow_seconds: float = 1.0
    hang_up_after_accepting: int = 0  # accept the next N lines, then close without an answer
    poisoned: set[str] = field(default_factory=set)  # line_ids answered with 422
    down: bool = False  # answer 503 to everything
    accepted: dict[str, dict] = field(default_factory=dict)  # key -> body
    accept_count: Counter = field(default_factory=Counter)  # key -> times accepted (must be 1)
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_for(self, key: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["key"] == key]


def _handler(state: ErpState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real ERP gateway
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

        def _answer(self, status: int, doc: dict, headers: dict | None = None) -> None:
            data = json.dumps(doc).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (timeout test)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key = self.headers.get("Idempotency-Key", "")
            auth = self.headers.get("Authorization", "")
            with state.lock:
                state.requests.append(
                    {"path": self.path, "key": key, "at": time.monotonic(), "auth": bool(auth)}
                )
                if auth != f"Bearer {state.token}":
                    status, doc, headers = 401, {"error": "unauthorized"}, {}
                elif state.down:
                    status, doc, headers = 503, {"error": "maintenance"}, {}
                elif state.fail_next:
                    status, doc, headers = state.fail_next.pop(0), {"error": "boom"}, {}
                elif state.retry_after_next:
                    status, value = state.retry_after_next.pop(0)
                    doc, headers = {"error": "slow down"}, {"Retry-After": value}
                else:
                    line = json.loads(body)
                    if line.get("idempotency_key") != key:
                        status, doc, headers = 400, {"error": "key mismatch"}, {}
                    elif line["line_id"] in state.poisoned:
                        # a careless ERP echoing the credentials in its error body
                        status, headers = 422, {}
                        doc = {"error": f"unknown item_code {line['item_code']}", "auth": auth}
                    elif key in state.accepted:
                        status, doc, headers = 409, {"error": "duplicate", "id": key}, {}
                    else:
                        state.accepted[key] = line
                        state.accept_count[key] += 1
                        status, doc, headers = 201, {"id": f"ERP-{len(state.accepted)}"}, {}
                        if key in state.slow_keys:
                            state.slow_keys.discard(key)
                            status = -1  # answer late, outside the lock
                        elif state.hang_up_after_accepting > 0:
                            state.hang_up_after_accepting -= 1
                            status = -2  # the answer is lost: the client must not resend twice
            if status == -2:
                self.close_connection = True
                return
            if status == -1:
                time.sleep(state.slow_seconds)
                status = 201
            self._answer(status, doc, headers)

    return Handler


@dataclass
class LocalErp:
    url: str
    state: ErpState
    server: ThreadingHTTPServer


@contextmanager
def local_erp(state: ErpState | None = None) -> Iterator[LocalErp]:
    """A real HTTP ERP on 127.0.0.1 (random port, own thread) while the block runs."""
    state = state or ErpState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield LocalErp(f"http://127.0.0.1:{server.server_address[1]}/api/v1", state, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def erp_server() -> Iterator[LocalErp]:
    """A local ERP reset for every test."""
    with local_erp() as erp:
        yield erp
