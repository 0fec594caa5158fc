"""Raw-extract assets: one per ERP extract, registering and copying landed files into `raw`.

A re-run with the same files changes nothing (files are skipped by checksum) and reports the same
data version, so Dagster can tell downstream assets are not stale.
"""

import hashlib

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.ingest.contract import CONTRACT, Extract
from orchestration.ingest.landing import REGISTRY, load_landing
from orchestration.resources import LandingFolder
from orchestration.settings import WAREHOUSE_POOL

_DAGSTER_TYPES = {
    "text": "string",
    "int": "int",
    "decimal": "float",
    "date": "date",
    "bool": "bool",
}


def _column_schema(extract: Extract) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                "string",
                description=f"contract type {_DAGSTER_TYPES[c.type]}"
                + ("; required" if c.required else ""),
            )
            for c in extract.columns
        ]
    )


def raw_asset_key(extract: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", extract])


RAW_SPECS = [
    dg.AssetSpec(
        key=raw_asset_key(e.name),
        group_name="ingest",
        kinds={"duckdb", "parquet", "csv"},
        description=(
            f"ERP extract `{e.name}` as received (every column text), one row per landed row, "
            f"with source file and row. {'Required' if e.required else 'Optional'} extract; "
            "see docs/data-contract.md."
        ),
        metadata={"dagster/column_schema": _column_schema(e), "required_extract": e.required},
        skippable=True,
    )
    for e in CONTRACT.values()
]


@dg.multi_asset(specs=RAW_SPECS, can_subset=True, pool=WAREHOUSE_POOL, name="raw_extracts")
def raw_extracts(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, landing: LandingFolder
):
    """Load new or changed landing files into `raw.<extract>` and register them."""
    selected = sorted(k.path[-1] for k in context.selected_asset_keys)
    with warehouse.get_connection() as con:
        report = load_landing(con, landing.dir, extracts=selected)
        per_extract = report.by_extract()
        for name in selected:
            table_rows = con.execute(f"SELECT count(*) FROM raw.{name}").fetchall()[0][0]
            registry = con.execute(
                f"SELECT source_file, file_checksum, status, row_count FROM {REGISTRY} "
                "WHERE extract = ? ORDER BY source_file, loaded_at",
                [name],
            ).fetchall()
            loaded = [r for r in registry if r[2] == "loaded"]
            fingerprint = hashlib.sha256(
                "\n".join(f"{r[0]}:{r[1]}" for r in loaded).encode()
            ).hexdigest()[:16]
            stats = per_extract.get(name, {})
            rejected_now = [f for f in report.rejected if f.extract == name]
            for f in rejected_now:
                context.log.warning(f"{f.source_file} rejected: {f.reason}")
            yield dg.MaterializeResult(
                asset_key=raw_asset_key(name),
                data_version=dg.DataVersion(fingerprint),
                metadata={
                    "dagster/row_count": int(table_rows),
                    "new_files": stats.get("loaded_files", 0),
                    "unchanged_files": stats.get("skipped_files", 0),
                    "rejected_files": stats.get("rejected_files", 0),
                    "new_rows": stats.get("rows", 0),
                    "files_registered": len(loaded),
                    "rejected": dg.MetadataValue.md(
                        "\n".join(f"- `{f.source_file}`: {f.reason}" for f in rejected_now)
                        or "none"
                    ),
                    "landing_folder": dg.MetadataValue.path(str(landing.dir / name)),
                },
            )
    context.log.info(
        f"landing scan took {report.seconds:.1f}s: "
        f"{len(report.loaded)} file(s) loaded, {len(report.rejected)} rejected"
    )
