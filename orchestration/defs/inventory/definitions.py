"""The `inventory` domain's Dagster objects (merged into `orchestration.definitions`)."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.inventory.assets import inventory_assets


def build_defs() -> dg.Definitions:
    """Inventory policy assets: lead times through the policy backtest and KPIs."""
    return dg.Definitions(assets=inventory_assets)
