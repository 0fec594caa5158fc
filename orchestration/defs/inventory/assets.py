"""Inventory assets: lead times -> service targets -> reorder policy -> orders, allocation, placement,
and the policy backtest that proves the numbers on held-out demand.

Thin glue around ``ml.inventory`` (all maths lives there). Each asset reads what it needs, closes
the connection before computing, and writes its tables with write-then-swap, so a failed run
never leaves a half-written plan behind.

Echelons: stores are replenished from their DC (``dim_locations.replenished_from``) with the
location's transfer lead time, reviewed weekly on Mondays; DCs order from the item's supplier,
with the lead-time distribution of that supplier-to-DC lane (shrunk to the supplier's when the
lane has little history), reviewed weekly. A DC's demand is the sum of its stores' forecasts.
"""

import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ml.inventory import lead_time as lt
from ml.inventory import segmentation as sg
from ml.inventory.allocation import allocate
from ml.inventory.multi_echelon import place_two_echelon
from ml.inventory.planning import (
    calibration_for,
    fit_service_calibration,
    holdout_calibration,
    plan_levels,
    weekly_interval_pits,
)
from ml.inventory.simulation import (
    Policy,
    compare_policies,
    simulate_policy,
    static_rule_policy,
    tune_static_rule,
)
from orchestration.defs.inventory import charts
from orchestration.defs.inventory import inputs as io
from orchestration.defs.inventory import overrides as ovr
from orchestration.defs.warehouse_io import (
    append_to_history,
    embed_png,
    md_table,
    reports_dir,
    write_table,
)
from orchestration.settings import WAREHOUSE_POOL

SCHEMA = "inventory"
_COMMON = {
    "key_prefix": [SCHEMA],
    "group_name": "inventory",
    "kinds": {"python", "duckdb"},
    "pool": WAREHOUSE_POOL,
}
MARTS = {
    name: dg.AssetKey(["marts", name])
    for name in (
        "dim_items",
        "dim_locations",
        "dim_suppliers",
        "fct_daily_demand",
        "fct_inventory_positions",
        "fct_purchase_order_lines",
    )
}
DEMAND_FORECAST = dg.AssetKey(["forecasting", "demand_forecast"])
FORECAST_BACKTEST = dg.AssetKey(["forecasting", "forecast_backtest"])
DEFAULT_TARGETS_FILE = Path(sg.__file__).with_name("service_targets.yaml")
#: Policy backtest: segments need this many SKU-locations for their service to be judged.
BACKTEST_MIN_SKU_LOCATIONS = 50
#: ... and achieved cycle service within this many points of target counts as on target.
BACKTEST_CSL_TOLERANCE = 0.015


class PlanConfig(dg.Config):
    """Settings of the weekly replenishment plan (the service targets live in their own file)."""

    targets_file: str = Field(
        default=str(DEFAULT_TARGETS_FILE),
        description="Planner-editable service targets per segment (YAML).",
    )
    store_review_days: int = Field(default=7, description="Store review period R (days).")
    dc_review_days: int = Field(default=7, description="DC review period R (days).")
    review_weekday: int = Field(default=0, description="Weekday of the review, Monday = 0.")
    rounding: str = Field(
        default="dither",
        description="'dither': the lower of the two integer levels that bracket the target with "
        "the probability that makes the expected service (after case-pack rounding) equal to "
        "it, drawn once per SKU-location, so a segment's service is centred on its target; "
        "'nearest': the level whose service is nearest the target (biased upwards for slow "
        "movers); 'at_least': never below.",
    )
    calibrate_store_service: bool = Field(
        default=True,
        description="Price store levels on the interval demand distribution recalibrated per "
        "segment on the forecast backtest's past intervals (ml.inventory.planning).",
    )
    holding_rate: float = Field(default=0.25, description="Holding cost per year, share of cost.")


# ------------------------------------------------------------------------------------ helpers
def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))


def _write(warehouse: DuckDBResource, tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    with warehouse.get_connection() as con:
        return {name: write_table(con, SCHEMA, name, frame) for name, frame in tables.items()}


def _read(warehouse: DuckDBResource, *sqls: str) -> list[pd.DataFrame]:
    with warehouse.get_connection() as con:
        return [io.query(con, s) for s in sqls]


def _weekday_shares(warehouse: DuckDBResource) -> pd.DataFrame:
    """Each store's share of weekly demand per weekday (Monday first), last 52 weeks."""
    (sh,) = _read(warehouse, io.WEEKDAY_SHARES_SQL)
    tab = sh.pivot_table(index="location_id", columns="dow", values="units", fill_value=0.0)
    tab = tab.reindex(columns=range(7), fill_value=0.0)
    tot = tab.sum(axis=1)
    flat = pd.DataFrame(1 / 7, index=tab.index, columns=tab.columns)
    return tab.div(tot.where(tot > 0), axis=0).fillna(flat)


def _pmf_array(pmf_long: pd.DataFrame) -> np.ndarray:
    """``[n_groups, K]`` pmf array from the long ``lead_time_pmf`` table (group_id, day, prob)."""
    n_g = int(pmf_long["group_id"].max()) + 1
    K = int(pmf_long["day"].max()) + 1
    arr = np.zeros((n_g, K))
    arr[pmf_long["group_id"].to_numpy(int), pmf_long["day"].to_numpy(int)] = pmf_long["prob"]
    return arr


def _with_point_masses(pmf: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Append one point-mass row per distinct deterministic lead time; return (pmf, group)."""
    uniq = np.unique(days.astype(int))
    K = max(pmf.shape[1], int(uniq.max(initial=0)) + 1)
    out = np.zeros((pmf.shape[0] + uniq.size, K))
    out[: pmf.shape[0], : pmf.shape[1]] = pmf
    out[pmf.shape[0] + np.arange(uniq.size), uniq] = 1.0
    group = pmf.shape[0] + np.searchsorted(uniq, days.astype(int))
    return out, group


def with_targets(frame: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each SKU-location's segment, targets and review period; SKU-locations
    the segmentation has not seen (no sales in the last year) run at 95% CSL, "unsegmented"."""
    cols = ["segment", "target_csl", "target_fill_rate", "review_period_days"]
    out = frame.merge(targets[["sku", "location_id", *cols]], on=["sku", "location_id"], how="left")
    out["target_csl"] = out["target_csl"].fillna(0.95)
    out["segment"] = out["segment"].fillna("unsegmented")
    return out


def plan_inputs(
    warehouse: DuckDBResource, config: PlanConfig
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Everything the plan needs, one row per SKU-location (stores and DCs).

    Returns ``(frame, pmf, shares)``: ``frame`` with the columns of
    :data:`ml.inventory.planning.PLAN_INPUT_COLUMNS` plus keys, echelon, costs and targets;
    ``pmf[g, K]`` lead-time pmfs (supplier lanes, then point masses for store transfer times);
    ``shares`` the weekday profile per row (flat for DCs).
    """
    with warehouse.get_connection() as con:
        items = io.query(con, io.ITEMS_SQL)
        locs = io.query(con, io.LOCATIONS_SQL)
        stores = io.store_demand(con)
        dcs = io.dc_demand(con, locs)
        targets = io.query(con, f"select * from {SCHEMA}.service_targets")
        assign = io.query(con, f"select * from {SCHEMA}.lead_time_assignment")
        pmf_long = io.query(con, f"select * from {SCHEMA}.lead_time_pmf")
    stores["echelon"] = "STORE"
    dcs["echelon"] = "DC"
    frame = pd.concat([stores, dcs], ignore_index=True)
    frame = frame.merge(items, on="sku", how="left").merge(locs, on="location_id", how="left")
    frame = with_targets(frame, targets)
    frame["weekly_mean"] = frame["mu"] * 7.0
    frame["weekly_var_indep"] = frame["var_daily"] * 7.0
    default_r = np.where(
        frame["echelon"] == "STORE", config.store_review_days, config.dc_review_days
    )
    frame["review_days"] = frame["review_period_days"].fillna(pd.Series(default_r)).astype(int)
    frame["case_pack"] = frame["case_pack"].fillna(1).clip(lower=1)
    # lead times: DC lanes from PO history, stores their (deterministic) transfer time
    pmf = _pmf_array(pmf_long)
    frame = frame.merge(
        assign[["sku", "location_id", "group_id", "lead_time_source"]],
        on=["sku", "location_id"],
        how="left",
    )
    is_store = (frame["echelon"] == "STORE").to_numpy()
    transfer = frame["transfer_lead_time_days"].fillna(1).to_numpy(int)
    pmf, point_group = _with_point_masses(pmf, transfer[is_store])
    group = frame["group_id"].fillna(-1).to_numpy(int)
    group[is_store] = point_group
    if (group < 0).any():
        missing = frame.loc[group < 0, ["sku", "location_id"]].head(5).to_dict("records")
        raise dg.Failure(f"{int((group < 0).sum())} DC SKU-locations have no lead time: {missing}")
    frame["lead_time_group"] = group
    frame.loc[is_store, "lead_time_source"] = "transfer_time"
    frame["source_id"] = np.where(is_store, frame["replenished_from"], frame["supplier_id"])
    shares_by_loc = _weekday_shares(warehouse)
    flat = np.full((len(frame), 7), 1 / 7)
    sh = shares_by_loc.reindex(frame["location_id"]).to_numpy()
    shares = np.where(np.isnan(sh), flat, sh)
    # stores: service calibrated on the forecast backtest's ended intervals; DCs: none (NaN)
    frame["calibration_loc"] = np.nan
    frame["calibration_scale"] = np.nan
    cal = store_service_calibration(warehouse, config, shares_by_loc)
    if cal is not None and is_store.any():
        a, b = calibration_for(frame.loc[is_store, "segment"], cal)
        frame.loc[is_store, "calibration_loc"] = a
        frame.loc[is_store, "calibration_scale"] = b
    return frame, pmf, shares


@dg.asset(
    deps=[
        MARTS["fct_purchase_order_lines"],
        MARTS["dim_items"],
        MARTS["dim_locations"],
        MARTS["dim_suppliers"],
        MARTS["fct_daily_demand"],
    ],
    **_COMMON,
)
def lead_time_distribution(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Empirical lead-time distributions per supplier, supplier x SKU and lane (supplier -> DC).

    From every PO line's realised lead time (receipt-quantity weighted, so split deliveries
    count when the units arrive; open lines as censored observations), shrunk towards the
    supplier's distribution when a lane or SKU has few lines, falling back to the promised lead
    time when a supplier has no receipts. Every DC SKU-location is given the distribution it
    orders under; a supplier scorecard sits beside it.
    """
    with warehouse.get_connection() as con:
        po = io.query(con, "select * from marts.fct_purchase_order_lines")
        items = io.query(con, io.ITEMS_SQL)
        locs = io.query(con, io.LOCATIONS_SQL)
        (as_of,) = con.execute("select max(demand_date) from marts.fct_daily_demand").fetchall()[0]
    model = lt.empirical_lead_time_pmf(po, as_of=as_of)
    dcs = locs.loc[locs["location_type"] == "DC", ["location_id"]]
    dc_skus = items[["sku", "supplier_id"]].merge(dcs, how="cross")
    assign = lt.attach_lead_time_groups(dc_skus, model)
    assign = pd.concat([dc_skus.reset_index(drop=True), assign.reset_index(drop=True)], axis=1)
    assign = assign.rename(columns={"lead_time_group": "group_id"})
    g, d = np.nonzero(model.pmf > 0)
    pmf_long = pd.DataFrame({"group_id": g, "day": d, "prob": model.pmf[g, d]})
    groups = model.groups.copy()
    summary = lt.lead_time_summary(model)
    reliability = lt.supplier_reliability(po, as_of=as_of)
    now = _now()
    rows = _write(
        warehouse,
        {
            "lead_time_pmf": pmf_long,
            "lead_time_groups": groups.assign(created_at=now),
            "lead_time_assignment": assign.assign(created_at=now),
            "supplier_reliability": reliability.assign(created_at=now),
        },
    )
    sup = summary[summary["level"] == "supplier"]
    sup_pmf = pmf_long.merge(sup[["group_id", "supplier_id"]], on="group_id")
    png = charts.lead_time_pmf_png(sup_pmf)
    path = reports_dir("inventory") / "lead_time_pmf.png"
    path.write_bytes(png)
    show = [
        c
        for c in (
            "supplier_id",
            "n_lines",
            "mean_days",
            "sd_days",
            "p50_days",
            "p90_days",
            "p95_days",
            "on_time_rate",
            "source",
        )
        if c in sup
    ]
    context.log.info(f"{len(groups):,} lead-time distributions from {len(po):,} PO lines")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows["lead_time_groups"],
            "po_lines": len(po),
            "dc_sku_locations": len(assign),
            "assignment_sources": dg.MetadataValue.md(
                md_table(assign["lead_time_source"].value_counts().rename("n").reset_index())
            ),
            "suppliers": dg.MetadataValue.md(md_table(sup[show], "{:,.2f}")),
            "chart": dg.MetadataValue.md(embed_png(png, "lead-time distributions")),
            "chart_path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset(deps=[MARTS["fct_daily_demand"], MARTS["dim_items"], MARTS["dim_locations"]], **_COMMON)
def service_targets(
    context: dg.AssetExecutionContext, config: PlanConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """ABC (annual revenue) x XYZ (weekly demand CV) segment and service target per SKU-location.

    Targets come from the planner-editable file ``targets_file``
    (``ml/inventory/service_targets.yaml`` by default), optionally cost-optimal (newsvendor
    critical ratio) per segment, lowered for items with close substitutes by the documented
    recapture rule. Stores are ranked on their own sales; a DC SKU on its stores' total.
    """
    with warehouse.get_connection() as con:
        daily = io.query(con, io.SEGMENT_DEMAND_SQL)
        items = io.query(con, io.ITEMS_SQL)
        locs = io.query(con, io.LOCATIONS_SQL)
    parent = locs.set_index("location_id")["replenished_from"]
    dc_daily = (
        daily.assign(location_id=daily["location_id"].map(parent))
        .dropna(subset=["location_id"])
        .groupby(["sku", "location_id", "demand_date"], as_index=False)
        .agg(units_sold=("units_sold", "sum"), revenue=("revenue", "sum"))
    )
    dc_daily["net_price"] = dc_daily["revenue"] / dc_daily["units_sold"].where(
        dc_daily["units_sold"] > 0
    )
    out = []
    for echelon, frame in (("STORE", daily), ("DC", dc_daily)):
        stats = sg.demand_statistics(frame.fillna({"net_price": 0.0}))
        seg = sg.segment_sku_locations(stats, config.targets_file, items=items)
        out.append(seg.assign(echelon=echelon))
    targets = pd.concat(out, ignore_index=True)
    targets["created_at"] = _now()
    rows = _write(warehouse, {"service_targets": targets})["service_targets"]
    mix = (
        targets.groupby(["echelon", "segment"])
        .agg(
            sku_locations=("sku", "size"),
            target_csl=("target_csl", "mean"),
            review_period_days=("review_period_days", "mean"),
        )
        .reset_index()
    )
    context.log.info(f"service targets for {rows:,} SKU-locations from {config.targets_file}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "targets_file": dg.MetadataValue.path(config.targets_file),
            "segments": dg.MetadataValue.md(md_table(mix)),
            "substitute_adjusted": int(targets["substitute_adjusted"].sum()),
        }
    )


POLICY_COLUMNS = [
    "sku",
    "location_id",
    "echelon",
    "segment",
    "source_id",
    "lead_time_source",
    "review_days",
    "target_csl",
    "mu",
    "lt_mean_days",
    "lt_sd_days",
    "lt_p95_days",
    "demand_mean_lr",
    "demand_sd_lr",
    "order_up_to",
    "safety_stock",
    "reorder_point",
    "expected_csl",
    "textbook_safety_stock",
    "textbook_order_up_to",
    "textbook_csl",
    "case_pack",
    "unit_cost",
    "is_cold_start",
    "target_csl_model",
    "calibration_loc",
    "calibration_scale",
]


def compute_policy(frame: pd.DataFrame, pmf: np.ndarray, shares: np.ndarray, rounding: str):
    """Reorder policy rows (:data:`POLICY_COLUMNS`) for the SKU-locations of ``frame``."""
    levels = plan_levels(frame, pmf, shares, start_dow=0, rounding=rounding)  # type: ignore[arg-type]
    out = pd.concat([frame.reset_index(drop=True), levels.reset_index(drop=True)], axis=1)
    out = out.loc[:, ~out.columns.duplicated()]
    # the level a store or DC runs is the case-pack-aware one; its service after rounding
    out["order_up_to"] = out["order_up_to_rounded"]
    out["expected_csl"] = out["expected_csl_rounded"]
    out["safety_stock"] = out["order_up_to"] - out["demand_mean_lr"]
    out["mu"] = out["weekly_mean"] / 7.0
    return out[POLICY_COLUMNS]


@dg.asset(
    deps=[
        lead_time_distribution,
        service_targets,
        DEMAND_FORECAST,
        FORECAST_BACKTEST,
        MARTS["dim_items"],
        ovr.planner_overrides,
    ],
    **_COMMON,
)
def reorder_policy(
    context: dg.AssetExecutionContext, config: PlanConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Order-up-to level, safety stock and reorder point of every store and DC SKU-location.

    The level is the quantile of demand over lead time + review period for the segment's
    cycle-service target, computed on the mixture over the empirical lead-time distribution
    (not the normal formula), shaped by weekday for stores and adjusted for case-pack rounding.
    The textbook normal figure and the service it would really give sit beside it.
    """
    t0 = time.perf_counter()
    frame, pmf, shares = plan_inputs(warehouse, config)
    # planner overrides (promo uplift in the demand, then min_stock pins): ovr / docs
    policy, audit = ovr.overridden_policy(
        warehouse, frame, pmf, shares, partial(compute_policy, rounding=config.rounding)
    )
    policy["created_at"] = _now()
    with warehouse.get_connection() as con:
        ovr.append_audit(con, audit, context.run_id, ovr.STAGE_POLICY)
    rows = _write(warehouse, {"reorder_policy": policy})["reorder_policy"]
    value = (policy["order_up_to"] * policy["unit_cost"]).groupby(policy["echelon"]).sum()
    ss_value = (policy["safety_stock"] * policy["unit_cost"]).groupby(policy["echelon"]).sum()
    dc = policy[policy["echelon"] == "DC"]
    context.log.info(
        f"reorder policy for {rows:,} SKU-locations in {time.perf_counter() - t0:.1f} s"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "order_up_to_value_by_echelon": dg.MetadataValue.md(
                md_table(value.rename("value").reset_index(), "{:,.0f}")
            ),
            "safety_stock_value_by_echelon": dg.MetadataValue.md(
                md_table(ss_value.rename("value").reset_index(), "{:,.0f}")
            ),
            "dc_textbook_vs_ours": dg.MetadataValue.md(
                md_table(
                    pd.DataFrame(
                        {
                            "target_csl": [dc["target_csl"].mean()],
                            "expected_csl_ours": [dc["expected_csl"].mean()],
                            "expected_csl_textbook": [dc["textbook_csl"].mean()],
                            "safety_stock_ours": [dc["safety_stock"].sum()],
                            "safety_stock_textbook": [dc["textbook_safety_stock"].sum()],
                        }
                    )
                )
            ),
            "seconds": round(time.perf_counter() - t0, 1),
            **ovr.audit_metadata(audit),
        }
    )


@dg.asset(
    deps=[
        reorder_policy,
        MARTS["fct_inventory_positions"],
        MARTS["dim_suppliers"],
        ovr.planner_overrides,
    ],
    **_COMMON,
)
def replenishment_recommendations(
    context: dg.AssetExecutionContext, config: PlanConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """What to order, from whom, for where, when, and why, for every SKU-location due an order.

    Stores: periodic review order-up-to; an inventory position (on hand + on order + in
    transit) below the level triggers a transfer from the DC for the difference, in whole case
    packs. DCs: (R, s, S) with ``s`` = the service level's order-up-to level and ``S = s + EOQ``
    where the supplier's order cost is known (``sqrt(2 K D / h)``), so an order is never
    smaller than the cost-optimal batch; case packs and the item's MOQ apply. Each line carries
    the numbers behind it and a one-line reason (``ml.inventory.replenishment``).
    """
    with warehouse.get_connection() as con:
        policy = io.query(con, f"select * from {SCHEMA}.reorder_policy")
        pos = io.query(con, io.POSITIONS_SQL)
        items = io.query(con, io.ITEMS_SQL)
        suppliers = io.query(
            con,
            "select supplier_id, cast(order_cost as double) as order_cost from marts.dim_suppliers",
        )
        (as_of,) = con.execute("select max(demand_date) from marts.fct_daily_demand").fetchall()[0]
        caps = ovr.active_overrides(con, "max_order_qty")
    order_date = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    order_date += pd.Timedelta(days=(config.review_weekday - order_date.dayofweek) % 7)
    df = policy.merge(
        pos[["sku", "location_id", "on_hand_qty", "on_order_qty", "in_transit_qty"]],
        on=["sku", "location_id"],
        how="left",
    ).merge(items[["sku", "supplier_id", "moq"]], on="sku", how="left")
    is_dc = (df["echelon"] == "DC").to_numpy()
    df = df.merge(suppliers, on="supplier_id", how="left")
    frame = pd.DataFrame(
        {
            "sku": df["sku"],
            "location_id": df["location_id"],
            "supplier_id": df["supplier_id"],
            "source_location_id": np.where(is_dc, None, df["source_id"]),
            "on_hand": df["on_hand_qty"].fillna(0.0),
            "on_order": df["on_order_qty"].fillna(0.0),
            "in_transit": df["in_transit_qty"].fillna(0.0),
            "policy": np.where(is_dc, "sS", "RS"),
            "order_up_to": np.where(is_dc, np.nan, df["order_up_to"]),
            "reorder_point": np.where(is_dc, df["order_up_to"], np.nan),
            "annual_demand": df["mu"] * 365.0,
            "order_cost": np.where(is_dc, df["order_cost"], np.nan),
            "unit_cost": df["unit_cost"],
            "holding_cost_rate": config.holding_rate,
            "case_pack": df["case_pack"],
            "moq": np.where(is_dc, df["moq"].fillna(0), 0.0),
            "lead_time_mean_days": df["lt_mean_days"],
            "lead_time_p95_days": df["lt_p95_days"],
            "review_period_days": df["review_days"],
            "safety_stock": df["safety_stock"],
            "textbook_safety_stock": df["textbook_safety_stock"],
            "expected_csl": df["expected_csl"],
            "target_csl": df["target_csl"],
            "textbook_csl": df["textbook_csl"],
        }
    )
    # planner caps (max_order_qty) and the overrides behind each policy row: ovr / docs
    rec, cap_audit = ovr.recommend_with_caps(
        frame, caps, as_of=order_date, policy_override_types=df.get("override_types")
    )
    rec["echelon"] = df["echelon"].to_numpy()
    rec["segment"] = df["segment"].to_numpy()
    rec["unit_cost"] = df["unit_cost"].to_numpy()
    lines = rec[rec["order_qty"] > 0].copy()
    lines["order_value"] = lines["order_qty"] * lines["unit_cost"]
    lines["created_at"] = _now()
    with warehouse.get_connection() as con:
        ovr.append_audit(con, cap_audit, context.run_id, ovr.STAGE_ORDERS)
        rows = write_table(
            con,
            SCHEMA,
            "replenishment_recommendations",
            lines,
            date_columns=["order_date", "expected_receipt_date"],
        )
    by = (
        lines.groupby(["echelon", "ship_from"])
        .agg(lines=("sku", "size"), units=("order_qty", "sum"), value=("order_value", "sum"))
        .reset_index()
    )
    context.log.info(f"{rows:,} order lines for {order_date.date()}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "order_date": str(order_date.date()),
            "order_value": float(lines["order_value"].sum()),
            "orders_by_source": dg.MetadataValue.md(md_table(by, "{:,.0f}")),
            **ovr.audit_metadata(cap_audit),
            "example_reasons": dg.MetadataValue.md(
                "\n".join(
                    f"- `{r.sku}@{r.location_id}`: {r.reason}" for r in lines.head(5).itertuples()
                )
            ),
        }
    )


@dg.asset(deps=[replenishment_recommendations, MARTS["fct_inventory_positions"]], **_COMMON)
def allocation_plan(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Allocation of each DC's stock to its stores where the stores' orders exceed it.

    Case by case to the store where the next case adds most expected margin (``P(demand >=
    position + u)`` over the store's lead time + review period, negative binomial from the
    forecast), capped at each store's order-up-to need; proportional fair share on the same data
    beside it, with the expected sales and margin of both.
    """
    with warehouse.get_connection() as con:
        policy = io.query(con, f"select * from {SCHEMA}.reorder_policy")
        pos = io.query(con, io.POSITIONS_SQL)
        items = io.query(con, io.ITEMS_SQL)
        locs = io.query(con, io.LOCATIONS_SQL)
    st = (
        policy[policy["echelon"] == "STORE"]
        .merge(
            pos[["sku", "location_id", "inventory_position_qty"]],
            on=["sku", "location_id"],
            how="left",
        )
        .merge(items[["sku", "unit_price"]], on="sku", how="left")
    )
    st = st.merge(locs[["location_id", "replenished_from", "capacity_units"]], on="location_id")
    st["key"] = st["replenished_from"] + "|" + st["sku"]
    stores = pd.DataFrame(
        {
            "sku": st["key"],
            "location_id": st["location_id"],
            "demand_mean": st["demand_mean_lr"],
            "demand_var": st["demand_sd_lr"] ** 2,
            "position_units": st["inventory_position_qty"].fillna(0.0).clip(lower=0),
            "target_units": st["order_up_to"],
            "unit_margin": (st["unit_price"] - st["unit_cost"]).clip(lower=0.0),
        }
    )
    dc_pos = pos.merge(locs[locs["location_type"] == "DC"][["location_id"]], on="location_id")
    dc_pos = dc_pos.merge(items[["sku", "case_pack"]], on="sku", how="left")
    dc = pd.DataFrame(
        {
            "sku": dc_pos["location_id"] + "|" + dc_pos["sku"],
            "available_units": dc_pos["on_hand_qty"].fillna(0.0).clip(lower=0),
            "case_pack": dc_pos["case_pack"].fillna(1).astype(int),
        }
    )
    dc = dc[dc["sku"].isin(stores["sku"])]
    stores = stores[stores["sku"].isin(dc["sku"])]
    res = allocate(stores, dc, objective="margin")
    summary = res.summary.copy()
    summary[["dc_id", "sku"]] = summary["sku"].str.split("|", n=1, expand=True)
    detail = res.detail.copy()
    detail[["dc_id", "sku"]] = detail["sku"].str.split("|", n=1, expand=True)
    scarce = summary.loc[summary["scarce"], ["dc_id", "sku"]]
    detail = detail.merge(scarce, on=["dc_id", "sku"])
    detail["created_at"] = _now()
    summary["created_at"] = _now()
    rows = _write(warehouse, {"allocation_plan": detail, "allocation_summary": summary})
    sc = summary[summary["scarce"]]
    uplift = float(sc["uplift_margin"].sum()) if len(sc) else 0.0
    context.log.info(f"{len(sc):,} scarce DC-SKUs allocated; margin uplift {uplift:,.0f}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows["allocation_plan"],
            "scarce_dc_skus": len(sc),
            "expected_margin_marginal": float(sc["expected_margin_marginal"].sum()),
            "expected_margin_fair_share": float(sc["expected_margin_fair_share"].sum()),
            "expected_margin_uplift": uplift,
            "largest_uplifts": dg.MetadataValue.md(
                md_table(
                    sc.nlargest(10, "uplift_margin")[
                        [
                            "dc_id",
                            "sku",
                            "available_units",
                            "need_units",
                            "expected_sales_marginal",
                            "expected_sales_fair_share",
                            "uplift_margin",
                        ]
                    ],
                    "{:,.1f}",
                )
            ),
        }
    )


@dg.asset(deps=[reorder_policy], **_COMMON)
def safety_stock_placement(
    context: dg.AssetExecutionContext, config: PlanConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Where along DC -> store each SKU's safety stock should sit (guaranteed-service model).

    Per DC and SKU: the DC quotes its stores a service time between 0 (it holds stock to cover
    its whole supplier lead time) and its lead time (it holds none; stores cover it). The
    Graves-Willems model picks the one with the lowest safety-stock holding cost, with daily
    demand sd from the forecast, the stores' z from their targets and the DC's from its own.
    """
    (policy,) = _read(warehouse, f"select * from {SCHEMA}.reorder_policy")
    policy = policy[policy["unit_cost"].notna()]
    (locs,) = _read(warehouse, io.LOCATIONS_SQL)
    from scipy.stats import norm

    sd_day = np.sqrt(
        np.maximum(policy["demand_sd_lr"] ** 2, 0)
        / (policy["lt_mean_days"].fillna(0) + policy["review_days"]).clip(lower=1)
    )
    h_day = config.holding_rate * policy["unit_cost"] / 365.0
    policy = policy.assign(
        demand_sd=sd_day, holding_cost=h_day, z=norm.ppf(policy["target_csl"].clip(0.5, 0.9999))
    )
    parent = locs.set_index("location_id")["replenished_from"]
    st = policy[policy["echelon"] == "STORE"].copy()
    st["dc"] = st["location_id"].map(parent)
    dcs = policy[policy["echelon"] == "DC"].copy()
    dc_in = pd.DataFrame(
        {
            "sku": dcs["location_id"] + "|" + dcs["sku"],
            "processing_time": np.ceil(dcs["lt_mean_days"].fillna(0)).astype(int),
            "holding_cost": dcs["holding_cost"],
            "z": dcs["z"],
        }
    )
    st_in = pd.DataFrame(
        {
            "sku": st["dc"] + "|" + st["sku"],
            "location_id": st["location_id"],
            "processing_time": np.ceil(st["lt_mean_days"].fillna(1)).astype(int),
            "holding_cost": st["holding_cost"],
            "z": st["z"],
            "demand_sd": st["demand_sd"],
        }
    )
    st_in = st_in[st_in["sku"].isin(dc_in["sku"])]
    plan = place_two_echelon(dc_in, st_in)
    summary = plan.summary.copy()
    summary[["dc_id", "sku"]] = summary["sku"].str.split("|", n=1, expand=True)
    stores = plan.stores.copy()
    stores[["dc_id", "sku"]] = stores["sku"].str.split("|", n=1, expand=True)
    summary["strategy"] = np.where(
        summary["dc_outbound_service_time"] == 0, "DC decoupled", "stores cover DC lead time"
    )
    summary["created_at"] = _now()
    rows = _write(
        warehouse, {"safety_stock_placement": summary, "safety_stock_placement_stores": stores}
    )
    png = charts.placement_png(summary.assign(sku=summary["dc_id"] + " " + summary["sku"]))
    path = reports_dir("inventory") / "safety_stock_placement.png"
    path.write_bytes(png)
    per_day = summary[["total_cost", "cost_dc_decoupled", "cost_all_at_stores"]].sum()
    context.log.info(f"placement for {len(summary):,} DC-SKUs")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows["safety_stock_placement"],
            "strategies": dg.MetadataValue.md(
                md_table(summary["strategy"].value_counts().rename("dc_skus").reset_index())
            ),
            "holding_cost_per_day": dg.MetadataValue.md(
                md_table(per_day.rename("cost").reset_index(), "{:,.2f}")
            ),
            "chart": dg.MetadataValue.md(embed_png(png, "placement")),
            "chart_path": dg.MetadataValue.path(str(path)),
        }
    )


class BacktestPolicyConfig(PlanConfig):
    """Policy backtest settings: the static rule retailers use today, as the baseline."""

    static_reorder_days: float = Field(
        default=14.0, description="Static rule: reorder when stock covers fewer days than this."
    )
    static_order_weeks: float = Field(default=3.0, description="Static rule: weeks of supply.")
    calibration: str = Field(
        default="leave_one_origin_out",
        description="Service calibration of each held-out week's levels, from intervals that do "
        "not overlap it: 'leave_one_origin_out' (the forecast origins' other blocks), "
        "'expanding' (only intervals ended before the decision) or 'none'.",
    )
    seed: int = 0


def store_backtest_frame(
    panel: dict,
    items: pd.DataFrame,
    locs: pd.DataFrame,
    targets: pd.DataFrame,
    shares_by_loc: pd.DataFrame,
    store_review_days: int,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The forecast backtest's store SKU-locations as plan rows.

    Returns ``(frame, pmf, lead_time_days, shares)``: keys, segment, target, review period,
    case pack and lead-time group (point masses at the transfer time) per row, as
    :func:`ml.inventory.planning.plan_levels` takes them.
    """
    keys = panel["keys"]
    frame = keys.merge(items, on="sku", how="left").merge(locs, on="location_id", how="left")
    frame = with_targets(frame, targets)
    frame["case_pack"] = frame["case_pack"].fillna(1).clip(lower=1)
    frame["review_days"] = frame["review_period_days"].fillna(store_review_days).astype(int)
    L = frame["transfer_lead_time_days"].fillna(1).to_numpy(int)
    pmf, group = _with_point_masses(np.zeros((0, 1)), L)
    frame["lead_time_group"] = group
    shares = shares_by_loc.reindex(frame["location_id"]).fillna(1 / 7).to_numpy()
    return frame, pmf, L, shares


def backtest_interval_pits(
    panel: dict, frame: pd.DataFrame, pmf: np.ndarray, shares: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """PIT ``[n, W]`` of the demand over the protection interval from every held-out Monday,
    under the forecast made before it, and the day each interval ends (exclusive)."""
    return weekly_interval_pits(
        frame,
        pmf,
        shares,
        panel["mu"] * 7.0,
        panel["var_daily"] * 7.0,
        panel["level_cv2"],
        panel["demand"],
    )


def store_service_calibration(
    warehouse: DuckDBResource, config: PlanConfig, shares_by_loc: pd.DataFrame
) -> pd.DataFrame | None:
    """The live plan's store calibration: per segment, from every interval of the forecast
    backtest that has ended (all of them precede the plan). None when it is switched off or
    there is no forecast backtest yet (levels are then uncalibrated)."""
    if not config.calibrate_store_service:
        return None
    with warehouse.get_connection() as con:
        if not io.has_table(con, "forecasting", "backtest_forecasts"):
            return None
        panel = io.backtest_panel(con)
        items = io.query(con, io.ITEMS_SQL)
        locs = io.query(con, io.LOCATIONS_SQL)
        targets = io.query(con, f"select * from {SCHEMA}.service_targets")
    frame, pmf, _, shares = store_backtest_frame(
        panel, items, locs, targets, shares_by_loc, config.store_review_days
    )
    pit, _ = backtest_interval_pits(panel, frame, pmf, shares)
    ok = np.isfinite(pit)  # every interval that has ended
    segment = np.broadcast_to(frame["segment"].to_numpy(dtype=object)[:, None], pit.shape)
    return fit_service_calibration(pit[ok], segment[ok])


def backtest_calibration(
    panel: dict, frame: pd.DataFrame, pit: np.ndarray, end: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Calibration ``(a, b)`` ``[n, W]`` of every held-out week's levels, never fitted on the
    intervals it calibrates (:func:`ml.inventory.planning.holdout_calibration`, blocks = the
    forecast origins), and the fits used with the first day each serves."""
    if method not in ("leave_one_origin_out", "expanding", "none"):
        raise dg.Failure(f"unknown calibration method {method!r}")
    origins = pd.to_datetime(pd.Series(panel["origins"])).to_numpy()
    a, b, fits = holdout_calibration(pit, end, frame["segment"].to_numpy(), origins, method)  # type: ignore[arg-type]
    fits["first_day"] = pd.Timestamp(panel["start"]) + pd.to_timedelta(7 * fits["first_week"], "D")
    return a, b, fits


def backtest_levels(
    panel: dict,
    frame: pd.DataFrame,
    shares: np.ndarray,
    pmf: np.ndarray,
    rounding: str,
    calibration: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Order-up-to level per SKU-location and held-out week ``[n, W]``, each from the forecast
    made before that week (the forecast backtest's origins), with the live plan's maths;
    ``calibration`` = ``(a, b)`` ``[n, W]`` from :func:`backtest_calibration`."""
    S = np.zeros((len(frame), panel["weeks"]))
    for w in range(panel["weeks"]):
        f = frame.assign(
            weekly_mean=panel["mu"][:, w] * 7.0,
            weekly_var_indep=panel["var_daily"][:, w] * 7.0,
            level_cv2=panel["level_cv2"][:, w],
        )
        if calibration is not None:
            f["calibration_loc"] = calibration[0][:, w]
            f["calibration_scale"] = calibration[1][:, w]
        lv = plan_levels(f, pmf, shares, start_dow=0, rounding=rounding)  # type: ignore[arg-type]
        S[:, w] = lv["order_up_to_rounded"].to_numpy()
    return np.nan_to_num(S, nan=0.0)


def static_value_at_fill_rate(grid: pd.DataFrame, fill_rate: float) -> float:
    """Inventory value the static rule needs for exactly ``fill_rate``: linear interpolation
    between the two covers of the tuning grid that bracket it (NaN when none does)."""
    g = grid.sort_values("fill_rate")
    fr = g["fill_rate"].to_numpy(float)
    if len(g) == 0 or fill_rate < fr.min() or fill_rate > fr.max():
        return float("nan")
    return float(np.interp(fill_rate, fr, g["avg_on_hand_value"].to_numpy(float)))


@dg.asset(deps=[FORECAST_BACKTEST, service_targets, MARTS["fct_daily_demand"]], **_COMMON)
def policy_backtest(
    context: dg.AssetExecutionContext, config: BacktestPolicyConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Replays the held-out weeks day by day through our policy and through the static rule.

    Store SKU-locations of the forecast backtest sample; demand is the held-out daily demand
    (stockout days estimated, not taken as sales); unmet demand is lost. Ours: weekly review,
    order-up-to from the forecast made before each week, case packs, transfer lead time. Static
    rule as retailers set it ("reorder below X days of average demand, order Y weeks"), once as
    configured and once tuned to our fill rate, so "less inventory at equal or better fill rate"
    is measured, not assumed.
    """
    t0 = time.perf_counter()
    with warehouse.get_connection() as con:
        panel = io.backtest_panel(con)
        items = io.query(con, io.ITEMS_SQL)
        locs = io.query(con, io.LOCATIONS_SQL)
        targets = io.query(con, f"select * from {SCHEMA}.service_targets")
    keys = panel["keys"]
    shares_by_loc = _weekday_shares(warehouse)
    frame, pmf, L, shares = store_backtest_frame(
        panel, items, locs, targets, shares_by_loc, config.store_review_days
    )
    pit, end = backtest_interval_pits(panel, frame, pmf, shares)
    cal_a, cal_b, fits = backtest_calibration(panel, frame, pit, end, config.calibration)
    S = backtest_levels(panel, frame, shares, pmf, config.rounding, (cal_a, cal_b))
    D = panel["demand"]
    n = len(frame)
    common = dict(
        lead_time=L,
        case_pack=frame["case_pack"].to_numpy(float),
        unit_cost=frame["unit_cost"].fillna(0).to_numpy(float),
        holding_rate=config.holding_rate,
        segment=frame["segment"].to_numpy(object),
        target_csl=frame["target_csl"].to_numpy(float),
        index=pd.MultiIndex.from_frame(keys),
        rng=config.seed,
    )
    review = frame["review_days"].to_numpy(int)
    ours = simulate_policy(D, Policy.order_up_to_level(review, S), **common)
    static_pol = static_rule_policy(
        panel["avg_daily_demand"],
        config.static_reorder_days,
        config.static_order_weeks,
        common["case_pack"],
        kind="sS",
        review_period=config.store_review_days,
    )
    static = simulate_policy(D, static_pol, **common)
    our_fr = float(ours.segments.loc["all", "fill_rate"])
    tuned = tune_static_rule(
        D,
        panel["avg_daily_demand"],
        our_fr,
        order_weeks=config.static_order_weeks,
        kind="sS",
        review_period=config.store_review_days,
        reorder_days_grid=(3, 5, 7, 10, 14, 17, 21, 24, 28, 35, 42, 56, 70),
        **common,
    )
    cmp_static = compare_policies(ours, static)
    cmp_tuned = compare_policies(ours, tuned.result) if tuned.result is not None else None
    kpis = pd.concat(
        [
            ours.kpis.assign(policy="ours"),
            static.kpis.assign(policy="static_rule"),
            *([tuned.result.kpis.assign(policy="static_rule_matched")] if tuned.result else []),
        ]
    ).reset_index()
    seg = cmp_static.join(ours.segments[["target_csl"]]).rename_axis("segment").reset_index()
    seg["on_target"] = (seg["csl_ours"] - seg["target_csl"]).abs() <= BACKTEST_CSL_TOLERANCE
    seg["judged"] = seg["n_sku_locations"] >= BACKTEST_MIN_SKU_LOCATIONS
    if cmp_tuned is not None:
        t = cmp_tuned.rename_axis("segment").reset_index()
        seg = seg.merge(
            t[["segment", "avg_on_hand_value_static", "fill_rate_static"]].rename(
                columns={
                    "avg_on_hand_value_static": "avg_on_hand_value_matched",
                    "fill_rate_static": "fill_rate_matched",
                }
            ),
            on="segment",
            how="left",
        )
        seg["inventory_saving_vs_matched_pct"] = 100 * (
            1 - seg["avg_on_hand_value_ours"] / seg["avg_on_hand_value_matched"]
        )
    at_equal = static_value_at_fill_rate(tuned.grid, our_fr)
    seg["static_value_at_equal_fill_rate"] = np.where(seg["segment"] == "all", at_equal, np.nan)
    seg["start_date"] = panel["start"]
    seg["days"] = D.shape[1]
    seg["created_at"] = _now()
    kpis["created_at"] = _now()
    grid = tuned.grid.assign(created_at=_now())
    fits = fits.assign(method=config.calibration, created_at=_now())
    rows = _write(
        warehouse,
        {
            "policy_backtest": kpis,
            "policy_backtest_segments": seg,
            "policy_backtest_static_grid": grid,
            "policy_backtest_calibration": fits,
        },
    )
    png = charts.service_vs_target_png(seg.set_index("segment"), "Policy backtest, held-out weeks")
    path = reports_dir("inventory") / "policy_backtest.png"
    path.write_bytes(png)
    judged = seg[seg["judged"] & (seg["segment"] != "all")]
    allrow = seg[seg["segment"] == "all"].iloc[0]
    show = [
        "segment",
        "n_sku_locations",
        "target_csl",
        "csl_ours",
        "csl_static",
        "fill_rate_ours",
        "fill_rate_static",
        "avg_on_hand_value_ours",
        "avg_on_hand_value_static",
    ]
    if "avg_on_hand_value_matched" in seg:
        show += [
            "fill_rate_matched",
            "avg_on_hand_value_matched",
            "inventory_saving_vs_matched_pct",
        ]
    context.log.info(
        f"policy backtest: {n:,} SKU-locations x {D.shape[1]} days in "
        f"{time.perf_counter() - t0:.1f} s; static rule matched at "
        f"{tuned.reorder_days} days of cover"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows["policy_backtest"],
            "sku_locations": n,
            "held_out_days": int(D.shape[1]),
            "segments_on_target": int(judged["on_target"].sum()),
            "segments_judged": len(judged),
            "fill_rate_ours": float(allrow["fill_rate_ours"]),
            "fill_rate_static": float(allrow["fill_rate_static"]),
            "inventory_value_ours": float(allrow["avg_on_hand_value_ours"]),
            "inventory_value_static": float(allrow["avg_on_hand_value_static"]),
            "static_matched_reorder_days": tuned.reorder_days or -1.0,
            "static_value_at_equal_fill_rate": float(at_equal),
            "inventory_saving_at_equal_fill_rate_pct": float(
                100 * (1 - allrow["avg_on_hand_value_ours"] / at_equal)
            ),
            "by_segment": dg.MetadataValue.md(md_table(seg[show], "{:,.3f}")),
            "calibration_method": config.calibration,
            "calibration": dg.MetadataValue.md(
                md_table(fits.drop(columns=["created_at"]), "{:,.3f}") if len(fits) else "none"
            ),
            "chart": dg.MetadataValue.md(embed_png(png, "service vs target")),
            "chart_path": dg.MetadataValue.path(str(path)),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )


def _planned_kpis(policy: pd.DataFrame) -> pd.DataFrame:
    """Planned inventory per echelon and segment: safety stock + half a review of cycle stock."""
    p = policy.assign(
        cost=policy["unit_cost"].fillna(0.0),
        avg_units=policy["safety_stock"].clip(lower=0) + policy["mu"] * policy["review_days"] / 2,
    )
    p["avg_value"] = p["avg_units"] * p["cost"]
    p["ss_value"] = p["safety_stock"].clip(lower=0) * p["cost"]
    p["tb_ss_value"] = p["textbook_safety_stock"].clip(lower=0) * p["cost"]
    p["daily_value"] = p["mu"] * p["cost"]
    g = p.groupby(["echelon", "segment"])
    out = g.agg(
        sku_locations=("sku", "size"),
        target_csl=("target_csl", "mean"),
        expected_csl=("expected_csl", "mean"),
        textbook_csl=("textbook_csl", "mean"),
        planned_inventory_value=("avg_value", "sum"),
        safety_stock_value=("ss_value", "sum"),
        textbook_safety_stock_value=("tb_ss_value", "sum"),
        daily_demand_value=("daily_value", "sum"),
    ).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["planned_days_of_supply"] = out["planned_inventory_value"] / out["daily_demand_value"]
        out["planned_turns"] = 365 * out["daily_demand_value"] / out["planned_inventory_value"]
    return out


@dg.asset(deps=[reorder_policy, policy_backtest, replenishment_recommendations], **_COMMON)
def inventory_kpis(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Planned and achieved KPIs per echelon and segment, kept as a history week by week.

    Planned: expected cycle service (ours and what the textbook level would give), inventory
    investment (safety stock + half a review period of cycle stock), days of supply, turns.
    Achieved (stores, from the policy backtest on held-out weeks): cycle service, fill rate,
    stockout days, inventory, turns, days of supply, bullwhip - ours and the static rule.
    """
    with warehouse.get_connection() as con:
        policy = io.query(con, f"select * from {SCHEMA}.reorder_policy")
        bt = io.query(con, f"select * from {SCHEMA}.policy_backtest_segments")
    planned = _planned_kpis(policy)
    achieved = bt[bt["segment"] != "all"].drop(columns=["created_at"], errors="ignore")
    achieved = achieved.add_prefix("backtest_").rename(columns={"backtest_segment": "segment"})
    achieved["echelon"] = "STORE"
    kpis = planned.merge(achieved, on=["echelon", "segment"], how="left")
    kpis["as_of"] = _now()
    with warehouse.get_connection() as con:
        rows = write_table(con, SCHEMA, "inventory_kpis", kpis)
        history_rows = append_to_history(con, SCHEMA, "inventory_kpis", "inventory_kpis_history")
    tot = (
        planned.groupby("echelon")[
            ["planned_inventory_value", "safety_stock_value", "textbook_safety_stock_value"]
        ]
        .sum()
        .reset_index()
    )
    context.log.info(f"inventory KPIs for {len(kpis)} echelon x segment rows")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "history_rows": history_rows,
            "planned_by_echelon": dg.MetadataValue.md(md_table(tot, "{:,.0f}")),
            "kpis": dg.MetadataValue.md(
                md_table(
                    kpis[
                        [
                            "echelon",
                            "segment",
                            "sku_locations",
                            "target_csl",
                            "expected_csl",
                            "textbook_csl",
                            "planned_inventory_value",
                            "planned_days_of_supply",
                            "planned_turns",
                        ]
                    ],
                    "{:,.3f}",
                )
            ),
        }
    )


class Scenario(dg.Config):
    """One what-if: ``demand_spike`` (category x factor), ``supplier_delay`` (supplier + days)
    or ``service_shift`` (targets + delta, capped at 0.995)."""

    name: str
    kind: str
    category: str = ""
    supplier_id: str = ""
    factor: float = 1.0
    days: int = 0
    delta: float = 0.0


class WhatIfConfig(PlanConfig):
    scenarios: list[Scenario] = Field(
        default_factory=lambda: [
            Scenario(name="demand +30% in the top category", kind="demand_spike", factor=1.3),
            Scenario(name="largest supplier 7 days late", kind="supplier_delay", days=7),
            Scenario(name="service targets +2 points", kind="service_shift", delta=0.02),
        ],
        description="Empty category/supplier: the largest by forecast volume / DC SKUs.",
    )


def apply_scenario(
    frame: pd.DataFrame, pmf: np.ndarray, sc: Scenario
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The plan inputs under one scenario, and a description of what was changed."""
    f = frame.copy()
    if sc.kind == "demand_spike":
        cat = sc.category or str(f.groupby("category")["weekly_mean"].sum().idxmax())
        m = (f["category"] == cat).to_numpy()
        f.loc[m, "weekly_mean"] *= sc.factor
        f.loc[m, "weekly_var_indep"] *= sc.factor
        return f, pmf, f"{cat}: demand x {sc.factor:g} ({int(m.sum())} SKU-locations)"
    if sc.kind == "supplier_delay":
        dc = f["echelon"] == "DC"
        sup = sc.supplier_id or str(f.loc[dc, "supplier_id"].value_counts().idxmax())
        m = (dc & (f["supplier_id"] == sup)).to_numpy()
        groups = np.unique(f.loc[m, "lead_time_group"].to_numpy(int))
        shifted = np.zeros((groups.size, pmf.shape[1] + sc.days))
        shifted[:, sc.days :] = pmf[groups]
        big = np.zeros((pmf.shape[0], pmf.shape[1] + sc.days))
        big[:, : pmf.shape[1]] = pmf
        new = np.vstack([big, shifted])
        remap = dict(zip(groups, pmf.shape[0] + np.arange(groups.size), strict=True))
        f.loc[m, "lead_time_group"] = f.loc[m, "lead_time_group"].map(remap)
        return f, new, f"{sup}: lead times + {sc.days} d ({int(m.sum())} DC SKU-locations)"
    if sc.kind == "service_shift":
        f["target_csl"] = (f["target_csl"] + sc.delta).clip(upper=0.995)
        return f, pmf, f"every target + {sc.delta:.0%}"
    raise dg.Failure(f"unknown scenario kind {sc.kind!r}")


@dg.asset(deps=[reorder_policy], **_COMMON)
def what_if_scenarios(
    context: dg.AssetExecutionContext, config: WhatIfConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """The plan rerun under each scenario: change in inventory investment and expected service.

    Scenarios come from run config (defaults: a demand spike in the top category, the largest
    supplier a week late, service targets two points higher); each reruns the same policy maths
    on changed inputs, so the differences are what the plan would do, not rules of thumb.
    """
    frame, pmf, shares = plan_inputs(warehouse, config)
    base = compute_policy(frame, pmf, shares, config.rounding)
    base_kpi = _planned_kpis(base)
    rows = [
        {
            "scenario": "base plan",
            "change": "",
            "planned_inventory_value": float(base_kpi["planned_inventory_value"].sum()),
            "expected_csl": float(base["expected_csl"].mean()),
        }
    ]
    for sc in config.scenarios:
        f, p, what = apply_scenario(frame, pmf, sc)
        pol = compute_policy(f, p, shares, config.rounding)
        k = _planned_kpis(pol)
        rows.append(
            {
                "scenario": sc.name,
                "change": what,
                "planned_inventory_value": float(k["planned_inventory_value"].sum()),
                "expected_csl": float(pol["expected_csl"].mean()),
            }
        )
    table = pd.DataFrame(rows)
    base_value = table.loc[0, "planned_inventory_value"]
    table["investment_change"] = table["planned_inventory_value"] - base_value
    table["investment_change_pct"] = 100 * table["investment_change"] / base_value
    table["created_at"] = _now()
    n = _write(warehouse, {"what_if_scenarios": table})["what_if_scenarios"]
    png = charts.what_if_png(table)
    path = reports_dir("inventory") / "what_if.png"
    path.write_bytes(png)
    context.log.info(f"{len(config.scenarios)} scenarios evaluated")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "scenarios": dg.MetadataValue.md(md_table(table.drop(columns="created_at"), "{:,.3f}")),
            "chart": dg.MetadataValue.md(embed_png(png, "what-if")),
            "chart_path": dg.MetadataValue.path(str(path)),
        }
    )


inventory_assets = [
    lead_time_distribution,
    service_targets,
    reorder_policy,
    replenishment_recommendations,
    allocation_plan,
    safety_stock_placement,
    policy_backtest,
    inventory_kpis,
    what_if_scenarios,
    *ovr.override_assets,
]
