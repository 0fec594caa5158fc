"""dbt models (staging -> intermediate -> marts) as Dagster assets; dbt tests as asset checks."""

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.dbt_project import stockpilot_dbt_project
from orchestration.settings import WAREHOUSE_POOL

_KEEP_TARGET_RUNS = 3


class StockpilotDbtTranslator(DagsterDbtTranslator):
    """Keys are `[schema, model]` (sources: `[raw, table]`, matching the ingest assets); groups
    follow the dbt folder (staging, intermediate, marts)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "source":
            return "ingest"
        for folder in ("staging", "intermediate", "marts"):
            if folder in fqn:
                return folder
        return "marts"


translator = StockpilotDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=False)
)


def _prune_target_dirs(target_dir: Path, keep: int = _KEEP_TARGET_RUNS) -> None:
    """dagster-dbt leaves one target/<invocation> folder per run; keep the newest few."""
    runs = (
        sorted(
            (p for p in target_dir.iterdir() if p.is_dir() and p.name.startswith("dbt-")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        if target_dir.is_dir()
        else []
    )
    for old in runs[keep:]:
        shutil.rmtree(old, ignore_errors=True)


@dbt_assets(
    manifest=stockpilot_dbt_project.manifest_path,
    project=stockpilot_dbt_project,
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def stockpilot_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build` of the selected models: builds them and runs their tests (asset checks)."""
    invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()
    _prune_target_dirs(Path(invocation.target_path).parent)
