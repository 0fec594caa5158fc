"""The export in the session's real weekly planning run: it materializes after the publish step and
its files hold exactly the published lines (no ERP endpoint is configured in the test session)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from orchestration import settings
from orchestration.defs.export.assets import ERP_EXPORT_KEY
from orchestration.erp.files import verify_export

pytestmark = pytest.mark.integration


def test_weekly_planning_exports_exactly_the_published_plan(planning_run, query) -> None:
    assert planning_run.success, "the planning run failed; see the Dagster log above"
    (event,) = [
        e for e in planning_run.get_asset_materialization_events() if e.asset_key == ERP_EXPORT_KEY
    ]
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    published = query(
        "select table_name from information_schema.tables where table_schema = 'published'"
    )["table_name"].tolist()
    if "purchase_order_proposals" not in published:
        assert meta["status"] == "no published plan yet: nothing exported"
        assert not (settings.data_dir() / "export").exists()
        return

    plan_id = meta["plan_id"]
    folder = settings.data_dir() / "export" / plan_id
    assert verify_export(folder) == []
    assert meta["push"].startswith("skipped: no ERP endpoint configured")
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in ("purchase_order_proposals", "transfer_orders"):
        lines = query(f"select plan_id, line_id from published.{name} order by line_id")
        assert set(lines["plan_id"]) <= {plan_id}
        assert manifest["row_counts"][name] == len(lines)
        exported = pd.read_parquet(folder / f"{name}.parquet")
        assert exported["line_id"].tolist() == lines["line_id"].tolist()
        assert (exported["idempotency_key"] == plan_id + ":" + exported["line_id"]).all()
