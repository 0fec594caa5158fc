"""The `export/erp_export` asset in real Dagster runs on a temp warehouse holding published tables,
pushing to a real local HTTP ERP: exactly-once delivery through failures, the dead letter and
its re-drive, a re-run that sends nothing, files and manifest, and a token that never leaks."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from orchestration.defs.export.assets import ERP_EXPORT_KEY, PUBLISHED_PLAN_KEY, erp_export
from orchestration.defs.export.definitions import erp_export_redrive
from orchestration.defs.export.resources import (
    TOKEN_ENV,
    URL_ENV,
    ErpEndpoint,
    erp_endpoint_from_env,
)
from orchestration.erp.files import verify_export
from tests.export.conftest import TOKEN, make_plan, publish

PLAN_A = "PLAN-20260601-abcdef12"
PLAN_B = "PLAN-20260608-87654321"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A private data dir and warehouse, and a Dagster instance whose files we can search."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("STOCKPILOT_DATA_DIR", str(data))
    monkeypatch.setenv("STOCKPILOT_WAREHOUSE", str(data / "warehouse.duckdb"))
    return {"data": data, "db": data / "warehouse.duckdb", "home": tmp_path / "dagster_home"}


def _endpoint(**overrides) -> ErpEndpoint:
    """The endpoint as production builds it (EnvVars), with retry bounds short enough for tests."""
    bounds = {
        "timeout_seconds": 0.4,
        "max_attempts": 3,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "max_consecutive_failures": 100,
    }
    return ErpEndpoint(
        url=dg.EnvVar(URL_ENV), token=dg.EnvVar(TOKEN_ENV), **{**bounds, **overrides}
    )


def _run(instance, db: Path, erp: ErpEndpoint, *, job: str | None = None, raise_on_error=True):
    resources = {"warehouse": DuckDBResource(database=str(db)), "erp": erp}
    if job is None:
        return dg.materialize(
            [erp_export], instance=instance, resources=resources, raise_on_error=raise_on_error
        )
    defs = dg.Definitions(assets=[erp_export], jobs=[erp_export_redrive], resources=resources)
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=raise_on_error
    )


def _meta(result) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == ERP_EXPORT_KEY
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _check(result) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _table(db: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select * from export.{table} order by idempotency_key").df()


def _all_keys(plan: dict[str, pd.DataFrame]) -> set[str]:
    return {
        f"{pid}:{lid}"
        for t in ("purchase_order_proposals", "transfer_orders")
        for pid, lid in zip(plan[t]["plan_id"], plan[t]["line_id"], strict=True)
    }


def _assert_token_absent(instance, results, db: Path, env: dict[str, Path]) -> None:
    """The token is nowhere: event logs, metadata, errors, tables, export files, Dagster storage."""
    for result in results:
        for record in instance.all_logs(result.run_id):
            assert TOKEN not in str(record), record
        assert TOKEN not in repr(result.all_events)
    with duckdb.connect(str(db), read_only=True) as con:
        for table in ("erp_deliveries", "erp_dead_letter"):
            frame = con.execute(f"select * from export.{table}").df()
            assert not frame.astype(str).apply(lambda c: c.str.contains(TOKEN)).any().any()
    for root in (env["data"] / "export", env["home"]):
        for path in root.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def test_flaky_erp_gets_every_good_line_exactly_once_and_a_rerun_sends_nothing(
    env, erp_server, monkeypatch
) -> None:
    monkeypatch.setenv(URL_ENV, erp_server.url)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    plan = make_plan(PLAN_A, n_po=6, n_tr=8)
    publish(env["db"], plan)
    keys = _all_keys(plan)
    poisoned_line = sorted(plan["purchase_order_proposals"]["line_id"])[2]
    poisoned_key = f"{PLAN_A}:{poisoned_line}"
    slow_key = f"{PLAN_A}:{sorted(plan['transfer_orders']['line_id'])[4]}"
    state = erp_server.state
    state.fail_next = [500, 503]  # the first line needs three attempts
    state.slow_keys = {slow_key}
    state.poisoned = {poisoned_line}

    with dg.DagsterInstance.local_temp(str(env["home"])) as instance:
        first = _run(instance, env["db"], _endpoint())
        meta = _meta(first)
        # every good line is at the ERP exactly once, the poisoned one is not
        assert set(state.accepted) == keys - {poisoned_key}
        assert set(state.accept_count.values()) == {1}
        assert len(state.requests_for(slow_key)) == 2  # timed out, re-sent, answered 409
        assert len(state.requests_for(poisoned_key)) == 1  # a 422 is not retried
        assert meta["lines_in_plan"] == 14 and meta["lines_pushed"] == 13
        assert meta["lines_dead_lettered"] == 1 and meta["lines_already_at_erp_409"] == 1
        assert meta["attempts"] == 14 + 2 + 1  # one per line, two 5xx retries, one timeout
        assert meta["erp_endpoint"] == erp_server.url.rsplit("/api", 1)[0]
        assert meta["push"] == "done" and meta["lines_of_plan_undelivered"] == 1
        check = _check(first)
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN

        deliveries = _table(env["db"], "erp_deliveries")
        assert set(deliveries["idempotency_key"]) == keys
        by_key = deliveries.set_index("idempotency_key")
        assert by_key.loc[poisoned_key, "status"] == "dead_letter"
        assert by_key.loc[poisoned_key, "http_status"] == 422
        assert (by_key.drop(index=poisoned_key)["status"] == "delivered").all()
        assert by_key.loc[slow_key, "attempts"] == 2 and by_key.loc[slow_key, "http_status"] == 409
        assert by_key["delivered_at"].notna().sum() == 13
        assert (
            by_key["kind"].str.startswith("purchase") == by_key.index.str.contains(":PO-")
        ).all()

        dead = _table(env["db"], "erp_dead_letter")
        assert dead["idempotency_key"].tolist() == [poisoned_key]
        row = dead.iloc[0]
        assert row["state"] == "open" and not row["retryable"] and row["attempts"] == 1
        assert row["last_http_status"] == 422 and "unknown item_code" in row["last_error"]
        assert json.loads(row["payload"])["idempotency_key"] == poisoned_key

        folder = env["data"] / "export" / PLAN_A
        assert verify_export(folder) == []
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["row_counts"] == {"purchase_order_proposals": 6, "transfer_orders": 8}

        # a second run sends nothing: delivered lines are skipped, the refused one is held
        n_requests = len(state.requests)
        second = _run(instance, env["db"], _endpoint())
        meta2 = _meta(second)
        assert len(state.requests) == n_requests
        assert meta2["lines_sent"] == 0 and meta2["lines_skipped_already_delivered"] == 13
        assert meta2["lines_held_in_dead_letter"] == 1 and meta2["files_written"] is False
        assert _table(env["db"], "erp_deliveries").equals(deliveries)

        # the re-drive job re-sends only the refused line; the ERP still refuses it
        third = _run(instance, env["db"], _endpoint(), job="erp_export_redrive")
        assert [r["key"] for r in state.requests[n_requests:]] == [poisoned_key]
        dead3 = _table(env["db"], "erp_dead_letter").iloc[0]
        assert dead3["state"] == "open" and dead3["attempts"] == 2
        assert _meta(third)["lines_dead_lettered"] == 1
        assert set(state.accept_count.values()) == {1}

        # parked by hand: not even the re-drive job sends it again
        with duckdb.connect(str(env["db"])) as con:
            con.execute("update export.erp_dead_letter set state = 'abandoned'")
        n_requests = len(state.requests)
        fourth = _run(instance, env["db"], _endpoint(), job="erp_export_redrive")
        assert len(state.requests) == n_requests and _meta(fourth)["open_dead_letters"] == 0
        assert _meta(fourth)["lines_held_in_dead_letter"] == 1

        _assert_token_absent(instance, [first, second, third, fourth], env["db"], env)


def test_after_an_outage_dead_letters_are_delivered_when_they_can_succeed(
    env, erp_server, monkeypatch
) -> None:
    monkeypatch.setenv(URL_ENV, erp_server.url)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    plan = make_plan(PLAN_A, n_po=3, n_tr=3)
    publish(env["db"], plan)
    keys = _all_keys(plan)
    poisoned_line = sorted(plan["transfer_orders"]["line_id"])[0]
    poisoned_key = f"{PLAN_A}:{poisoned_line}"
    state = erp_server.state
    state.down = True
    state.poisoned = {poisoned_line}

    with dg.DagsterInstance.local_temp(str(env["home"])) as instance:
        outage = _meta(_run(instance, env["db"], _endpoint()))
        assert outage["lines_dead_lettered"] == 6 and outage["lines_pushed"] == 0
        dead = _table(env["db"], "erp_dead_letter")
        assert set(dead["idempotency_key"]) == keys
        assert dead["retryable"].all() and (dead["last_http_status"] == 503).all()
        assert (dead["attempts"] == 3).all() and not state.accepted

        state.down = False
        recovered = _meta(_run(instance, env["db"], _endpoint()))
        assert set(state.accepted) == keys - {poisoned_key}
        assert recovered["lines_pushed"] == 5 and recovered["lines_dead_lettered"] == 1
        dead = _table(env["db"], "erp_dead_letter").set_index("idempotency_key")
        assert dead.loc[poisoned_key, "state"] == "open"
        assert not dead.loc[poisoned_key, "retryable"]
        assert dead.loc[poisoned_key, "last_http_status"] == 422
        assert dead.loc[poisoned_key, "attempts"] == 4  # 3 during the outage + 1 refusal
        resolved = dead.drop(index=poisoned_key)
        assert (resolved["state"] == "resolved").all() and resolved["resolved_at"].notna().all()
        ledger = _table(env["db"], "erp_deliveries").set_index("idempotency_key")
        assert (ledger.drop(index=poisoned_key)["attempts"] == 4).all()

        # a later run leaves the refused line alone: it is not retried forever
        n_requests = len(state.requests)
        quiet = _meta(_run(instance, env["db"], _endpoint()))
        assert len(state.requests) == n_requests and quiet["lines_held_in_dead_letter"] == 1
        assert set(state.accept_count.values()) == {1}


def test_dead_letters_of_a_superseded_plan_wait_for_the_redrive_job(
    env, erp_server, monkeypatch
) -> None:
    monkeypatch.setenv(URL_ENV, erp_server.url)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    plan_a = make_plan(PLAN_A, n_po=2, n_tr=1)
    publish(env["db"], plan_a)
    state = erp_server.state
    with dg.DagsterInstance.local_temp(str(env["home"])) as instance:
        state.down = True
        _run(instance, env["db"], _endpoint())
        state.down = False
        plan_b = make_plan(PLAN_B, n_po=1, n_tr=2)
        plan_b["plan_versions"]["created_at"] = pd.Timestamp("2026-06-08 04:00")
        publish(env["db"], plan_b)

        weekly = _meta(_run(instance, env["db"], _endpoint()))
        assert set(state.accepted) == _all_keys(plan_b)  # the old plan is not re-sent by default
        assert weekly["open_dead_letters"] == 3
        assert sorted(p.name for p in (env["data"] / "export").iterdir()) == [PLAN_A, PLAN_B]

        redrive = _meta(_run(instance, env["db"], _endpoint(), job="erp_export_redrive"))
        assert redrive["dead_letters_of_superseded_plans_resent"] == 3
        assert set(state.accepted) == _all_keys(plan_a) | _all_keys(plan_b)
        assert redrive["open_dead_letters"] == 0 and set(state.accept_count.values()) == {1}


def test_a_refused_token_fails_the_run_without_leaking_it_or_dead_lettering(
    env, erp_server, monkeypatch
) -> None:
    wrong = "wrong-token-5e6f7a8b9c"
    monkeypatch.setenv(URL_ENV, erp_server.url)
    monkeypatch.setenv(TOKEN_ENV, wrong)
    publish(env["db"], make_plan(PLAN_A, n_po=2, n_tr=2))
    with dg.DagsterInstance.local_temp(str(env["home"])) as instance:
        result = _run(instance, env["db"], _endpoint(), raise_on_error=False)
        assert not result.success
        failure = result.get_step_failure_events()[0].step_failure_data.error
        assert "STOCKPILOT_ERP_TOKEN" in failure.message and wrong not in str(failure)
        assert len(erp_server.state.requests) == 1
        assert _table(env["db"], "erp_dead_letter").empty
        assert _table(env["db"], "erp_deliveries").empty
        for record in instance.all_logs(result.run_id):
            assert wrong not in str(record)
        # the files were still written: the ERP can pick them up from the folder
        assert verify_export(env["data"] / "export" / PLAN_A) == []


def test_without_a_published_plan_or_an_endpoint_the_asset_still_materializes(
    env, monkeypatch
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    erp = erp_endpoint_from_env()
    assert not erp.configured
    with dg.DagsterInstance.ephemeral() as instance:
        empty = _run(instance, env["db"], erp)
        assert _meta(empty)["status"] == "no published plan yet: nothing exported"
        assert not (env["data"] / "export").exists() and _check(empty).passed

        publish(env["db"], make_plan(PLAN_A, n_po=2, n_tr=0))
        files_only = _meta(_run(instance, env["db"], erp))
        assert files_only["push"].startswith("skipped: no ERP endpoint configured")
        assert files_only["purchase_order_lines"] == 2 and files_only["transfer_lines"] == 0
        folder = env["data"] / "export" / PLAN_A
        assert verify_export(folder) == []
        assert (folder / "transfer_orders.csv").read_text().count("\n") == 1  # header only
        assert _table(env["db"], "erp_deliveries").empty


def test_the_export_is_wired_into_the_platform_definitions(monkeypatch) -> None:
    monkeypatch.setenv(URL_ENV, "https://erp.example.com/api/v1")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    node = graph.get(ERP_EXPORT_KEY)
    assert PUBLISHED_PLAN_KEY in node.parent_keys and node.group_name == "export"
    assert defs.resolve_job_def("erp_export_redrive") is not None
    assert ERP_EXPORT_KEY in defs.resolve_job_def("weekly_planning").asset_layer.selected_asset_keys
    # the environment is referenced by name, so no value lands in the definitions' snapshot
    resource = defs.resources["erp"]
    assert isinstance(resource.url, dg.EnvVar) and isinstance(resource.token, dg.EnvVar)
