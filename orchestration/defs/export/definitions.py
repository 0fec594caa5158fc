"""The `export` domain's Dagster objects (merged into `orchestration.definitions`)."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.export.assets import ERP_EXPORT_KEY, erp_export
from orchestration.defs.export.resources import erp_endpoint_from_env

#: Re-drive the dead letter on request: also re-send lines the ERP refused (after the cause was
#: fixed on the ERP side) and open dead letters of superseded plans. Files are not rewritten.
erp_export_redrive = dg.define_asset_job(
    "erp_export_redrive",
    selection=dg.AssetSelection.assets(ERP_EXPORT_KEY),
    description="Re-send every open ERP dead letter (refused and superseded lines included).",
    config={
        "ops": {
            "export__erp_export": {
                "config": {"redrive_permanent": True, "redrive_superseded": True}
            }
        }
    },
    executor_def=dg.in_process_executor,
)


def build_defs() -> dg.Definitions:
    """The ERP export asset, its re-drive job and the ERP endpoint resource (from the environment)."""
    return dg.Definitions(
        assets=[erp_export],
        jobs=[erp_export_redrive],
        resources={"erp": erp_endpoint_from_env()},
    )
