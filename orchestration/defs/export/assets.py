"""The ERP export asset: the current published plan as files, and (optionally) pushed over REST.

Thin glue around ``orchestration.erp``: read the published plan and the delivery ledger, close
the connection, write ``<data dir>/export/<plan_id>/`` atomically, prune old folders, push the
lines the ERP does not have yet (no warehouse connection is held during network I/O), then
merge the outcomes into ``export.erp_deliveries`` / ``export.erp_dead_letter`` in one
transaction. A crash between push and ledger write loses nothing: the next run re-sends those
lines with the same idempotency keys and the ERP answers 409 (already delivered).
"""

import json
from datetime import datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from orchestration import settings
from orchestration.defs.export.resources import URL_ENV, ErpEndpoint
from orchestration.defs.warehouse_io import md_table
from orchestration.erp import ledger
from orchestration.erp.client import ErpConfigError, Line, PushReport, make_lines
from orchestration.erp.files import ExportResult, prune_exports, write_export
from orchestration.erp.plan import PublishedPlan, read_published_plan
from orchestration.erp.schemas import (
    FILE_SCHEMAS,
    TIMESTAMP_FORMAT,
    ExportSchemaError,
    line_payloads,
)
from orchestration.settings import WAREHOUSE_POOL

ERP_EXPORT_KEY = dg.AssetKey(["export", "erp_export"])
PUBLISHED_PLAN_KEY = dg.AssetKey(["published", "published_plan"])
DELIVERY_CHECK = "erp_delivery_complete"


class ErpExportConfig(dg.Config):
    """What the export run does beyond the default (files, then push what is not delivered)."""

    keep_exports: int = Field(default=8, ge=1, description="Export folders kept (newest first).")
    push: bool = Field(default=True, description="Push to the ERP when an endpoint is configured.")
    redrive_permanent: bool = Field(
        default=False,
        description="Also re-send dead letters the ERP refused (4xx), e.g. after master data "
        "was fixed in the ERP. Default: only transient failures are retried.",
    )
    redrive_superseded: bool = Field(
        default=False,
        description="Also re-send open dead letters of plans that are no longer the published "
        "plan (from their stored payload).",
    )


def export_root() -> Path:
    """``<data dir>/export``: one folder per exported plan."""
    return settings.data_dir() / "export"


def _current_lines(plan: PublishedPlan) -> list[Line]:
    lines: list[Line] = []
    for name, schema in FILE_SCHEMAS.items():
        lines += make_lines(schema.kind, line_payloads(schema, plan.frames[name]))
    return lines


def _select_lines(
    plan: PublishedPlan, delivered: set[str], dead: pd.DataFrame, config: ErpExportConfig
) -> tuple[list[Line], dict[str, int]]:
    """The lines to send this run, and how many were held back (and why)."""
    current = _current_lines(plan)
    is_open = dead["state"] == "open"
    retryable = dead["retryable"].astype(bool)
    # set aside by hand (state other than open/resolved): never sent again
    abandoned = set(dead.loc[~is_open, "idempotency_key"])
    refused = set(dead.loc[is_open & ~retryable, "idempotency_key"])
    held = abandoned | (set() if config.redrive_permanent else refused)
    todo = [
        ln
        for ln in current
        if ln.idempotency_key not in delivered and ln.idempotency_key not in held
    ]
    superseded: list[Line] = []
    if config.redrive_superseded:
        old = dead[is_open & (dead["plan_id"] != plan.plan_id)]
        if not config.redrive_permanent:
            old = old[old["retryable"].astype(bool)]
        old = old[~old["idempotency_key"].isin(delivered)]
        superseded = [
            Line(r.kind, r.plan_id, r.line_id, r.idempotency_key, json.loads(r.payload))
            for r in old.itertuples(index=False)
        ]
    counts = {
        "lines_in_plan": len(current),
        "lines_skipped_already_delivered": sum(ln.idempotency_key in delivered for ln in current),
        "lines_held_in_dead_letter": sum(
            ln.idempotency_key in held and ln.idempotency_key not in delivered for ln in current
        ),
        "dead_letters_of_superseded_plans_resent": len(superseded),
    }
    return todo + superseded, counts


def _manifest_value(value: object) -> object:
    """A plan_versions value for the manifest: timestamps as UTC text, numbers as numbers."""
    if isinstance(value, datetime | pd.Timestamp):
        return pd.Timestamp(value).strftime(TIMESTAMP_FORMAT)
    if hasattr(value, "item"):
        return value.item()
    return value


def _files_markdown(result: ExportResult) -> str:
    view = pd.DataFrame(result.manifest["files"])[["name", "rows", "bytes", "sha256"]]
    view["sha256"] = view["sha256"].str[:16] + "..."
    return md_table(view)


def _dead_letter_markdown(dead: pd.DataFrame, limit: int = 20) -> str:
    if dead.empty:
        return "no open dead letters"
    view = dead[["idempotency_key", "kind", "attempts", "last_http_status", "retryable"]].copy()
    view["last_error"] = dead["last_error"].str.slice(0, 80)
    more = len(dead) - limit
    return md_table(view.head(limit)) + (f"\n\n{more} more" if more > 0 else "")


@dg.asset(
    key=ERP_EXPORT_KEY,
    group_name="export",
    deps=[PUBLISHED_PLAN_KEY],
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "parquet", "csv"},
    check_specs=[
        dg.AssetCheckSpec(
            DELIVERY_CHECK,
            asset=ERP_EXPORT_KEY,
            description="Every line of the current plan is delivered to the ERP "
            "(passes trivially when no ERP endpoint is configured).",
        )
    ],
)
def erp_export(
    context: dg.AssetExecutionContext,
    config: ErpExportConfig,
    warehouse: DuckDBResource,
    erp: ErpEndpoint,
) -> dg.MaterializeResult:
    """The current published plan for the ERP: files under ``<data dir>/export/<plan_id>/``.

    ``purchase_order_proposals`` and ``transfer_orders`` as CSV and Parquet with a
    ``manifest.json`` (schema version, row counts, sha256 per file), written atomically; the
    newest ``keep_exports`` folders are kept. With ``STOCKPILOT_ERP_URL`` set, every line the
    ERP has not yet accepted is POSTed with its idempotency key '<plan_id>:<line_id>'; the
    delivery ledger and dead letter live in ``export.erp_deliveries`` / ``export.erp_dead_letter``.
    File schema, payloads and retry rules: docs/erp-export.md.
    """
    pushing = erp.configured and config.push
    with warehouse.get_connection() as con:
        try:
            plan = read_published_plan(con)
        except ExportSchemaError as exc:
            raise dg.Failure(f"erp_export: the published plan cannot be exported: {exc}") from exc
        ledger.ensure_tables(con)
        delivered: set[str] = set()
        dead = pd.DataFrame()
        keys: list[str] = []
        if plan is not None and pushing:
            keys = [ln.idempotency_key for ln in _current_lines(plan)]
            dead = ledger.unresolved_dead_letters(con)
            delivered = ledger.delivered_keys(con, keys + dead["idempotency_key"].tolist())

    if plan is None:
        context.log.info("erp_export: no published plan yet; nothing exported")
        return dg.MaterializeResult(
            metadata={"plan_id": "", "status": "no published plan yet: nothing exported"},
            check_results=[
                dg.AssetCheckResult(
                    check_name=DELIVERY_CHECK, passed=True, description="no published plan yet"
                )
            ],
        )

    root = export_root()
    version = plan.version
    result = write_export(
        root,
        plan.plan_id,
        plan.frames,
        plan={
            k: _manifest_value(version[k])
            for k in ("status", "dagster_run_id", "created_at", "order_value", "report_path")
            if k in version
        },
    )
    if not result.written:
        what = "already exported; files unchanged"
    elif result.problems_before:
        what = f"rewritten (the folder on disk did not verify: {result.problems_before})"
    else:
        what = "written"
    pruned = prune_exports(root, config.keep_exports, protect=plan.plan_id)
    context.log.info(f"erp_export: {plan.plan_id} {what} in {result.folder}")

    metadata: dict[str, object] = {
        "plan_id": plan.plan_id,
        "status": f"files {what}",
        "export_folder": dg.MetadataValue.path(str(result.folder)),
        "manifest": dg.MetadataValue.path(str(result.folder / "manifest.json")),
        "files": dg.MetadataValue.md(_files_markdown(result)),
        "files_written": result.written,
        "purchase_order_lines": plan.row_counts["purchase_order_proposals"],
        "transfer_lines": plan.row_counts["transfer_orders"],
        "schema_version": result.manifest["schema_version"],
        "export_folders_pruned": len(pruned),
    }

    if not pushing:
        reason = (
            f"skipped: no ERP endpoint configured ({URL_ENV} is not set)"
            if not erp.configured
            else "skipped: push disabled in the run config"
        )
        metadata["push"] = reason
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                dg.AssetCheckResult(check_name=DELIVERY_CHECK, passed=True, description=reason)
            ],
        )

    try:
        client = erp.client(logger=context.log)
    except ErpConfigError as exc:
        raise dg.Failure(f"erp_export: {exc}") from exc
    lines, counts = _select_lines(plan, delivered, dead, config)
    context.log.info(
        f"erp_export: pushing {len(lines)} line(s) of {plan.plan_id} to {client.endpoint_host}"
    )
    report: PushReport = client.deliver(lines)
    outcomes = ledger.outcomes_frame(
        report.outcomes, (json.dumps(o.line.payload) for o in report.outcomes)
    )
    with warehouse.get_connection() as con:
        ledger.record_outcomes(con, outcomes)
        dead_after = ledger.unresolved_dead_letters(con)
        undelivered = len(keys) - len(ledger.delivered_keys(con, keys))
    dead_after = dead_after[dead_after["state"] == "open"]

    current_dead = dead_after[dead_after["plan_id"] == plan.plan_id]
    metadata.update(
        {
            "push": "stopped early: " + report.stopped_reason if report.stopped_reason else "done",
            "erp_endpoint": client.endpoint_host,
            **counts,
            "lines_sent": len(lines) - report.count("not_attempted"),
            "lines_pushed": report.count("delivered"),
            "lines_already_at_erp_409": report.duplicates,
            "lines_dead_lettered": report.count("dead_letter"),
            "lines_not_attempted": report.count("not_attempted"),
            "attempts": report.attempts,
            "push_seconds": round(report.seconds, 2),
            "lines_of_plan_undelivered": undelivered,
            "open_dead_letters": len(dead_after),
            "dead_letter": dg.MetadataValue.md(_dead_letter_markdown(dead_after)),
        }
    )
    if report.auth_failed:
        raise dg.Failure(
            description=f"erp_export: {report.stopped_reason}",
            metadata={k: v for k, v in metadata.items() if not isinstance(v, dg.MetadataValue)},
        )
    check = dg.AssetCheckResult(
        check_name=DELIVERY_CHECK,
        passed=undelivered == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every line delivered"
            if undelivered == 0
            else f"{undelivered} line(s) of {plan.plan_id} not delivered "
            f"({len(current_dead)} in the dead letter)"
        ),
        metadata={"undelivered": undelivered, "dead_letters": len(current_dead)},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


export_assets = [erp_export]
