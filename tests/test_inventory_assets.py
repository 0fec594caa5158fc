"""The inventory assets in the weekly planning run, on the test network's real dbt + forecast data.

Each test pins one promise of the plan: lead times match the generator's truth, the DC levels
beat the textbook formula where the supplier is bimodal, order lines obey case packs / MOQ and
explain themselves, allocation never ships more than the DC has, placement is never worse than
the pure strategies, the backtest compares like with like, and what-if scenarios move the plan
in the direction they must.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

INVENTORY_ASSETS = {
    "lead_time_distribution",
    "service_targets",
    "reorder_policy",
    "replenishment_recommendations",
    "allocation_plan",
    "safety_stock_placement",
    "policy_backtest",
    "inventory_kpis",
    "what_if_scenarios",
    "planner_overrides",
    "plan_exceptions",
    "inventory_performance",
}


@pytest.fixture(scope="module")
def run(planning_run):
    assert planning_run.success, "the planning run failed; see the Dagster log above"
    return planning_run


def _meta(run, name: str) -> dict:
    for e in run.get_asset_materialization_events():
        if e.asset_key.path == ["inventory", name]:
            return e.materialization.metadata
    raise AssertionError(f"inventory/{name} was not materialized")


def test_every_inventory_asset_is_materialized(run) -> None:
    done = {
        e.asset_key.path[-1]
        for e in run.get_asset_materialization_events()
        if e.asset_key.path[0] == "inventory"
    }
    assert done == INVENTORY_ASSETS


def test_supplier_lead_times_match_the_generator_truth(run, query, session_dir: Path) -> None:
    truth = pd.read_parquet(session_dir / "truth" / "po_lines.parquet")
    truth = truth[~truth["cancelled"].astype(bool)]
    groups = query("SELECT * FROM inventory.lead_time_groups WHERE level = 'supplier'")
    groups = groups[groups["source"] != "promised"].set_index("supplier_id")
    true_mean = truth.groupby("supplier_id")["realised_lead_time_days"].mean()
    common = groups.index.intersection(true_mean.index)
    assert len(common) >= 3
    err = (groups.loc[common, "mean_days"] - true_mean[common]).abs()
    assert (err <= np.maximum(1.5, 0.2 * true_mean[common])).all(), err.to_dict()
    # every pmf is a distribution, every DC SKU-location has one
    pmf = query("SELECT group_id, sum(prob) AS p FROM inventory.lead_time_pmf GROUP BY ALL")
    assert np.allclose(pmf["p"], 1.0, atol=1e-9)
    assign = query("SELECT * FROM inventory.lead_time_assignment")
    dcs = query("SELECT count(*) AS n FROM marts.dim_locations WHERE location_type = 'DC'")["n"][0]
    items = query("SELECT count(*) AS n FROM marts.dim_items")["n"][0]
    assert len(assign) == dcs * items and assign["group_id"].notna().all()


def test_bimodal_supplier_levels_beat_the_textbook_formula(run, query) -> None:
    pol = query(
        "SELECT p.*, i.supplier_id FROM inventory.reorder_policy p "
        "JOIN marts.dim_items i USING (sku) WHERE p.echelon = 'DC' AND p.mu > 0.5"
    )
    sup01 = pol[pol["supplier_id"] == "SUP01"]  # 85% at 7 days, 15% at 21 days
    assert len(sup01) >= 2
    # the normal formula under-protects a bimodal lead time; ours meets the target
    assert (sup01["textbook_csl"] < sup01["target_csl"] - 0.02).mean() > 0.5
    # ours is centred on the target (nearest integer level, so a slow mover may sit just
    # below it); the textbook level misses it by more, and always on the short side
    gap_ours = (sup01["expected_csl"] - sup01["target_csl"]).abs().mean()
    gap_textbook = (sup01["textbook_csl"] - sup01["target_csl"]).abs().mean()
    assert gap_ours < 0.5 * gap_textbook
    assert sup01["textbook_csl"].mean() < sup01["target_csl"].mean() - 0.02
    assert (sup01["lt_p95_days"] >= 18).all()
    stores = query("SELECT * FROM inventory.reorder_policy WHERE echelon = 'STORE'")
    assert (stores["lead_time_source"] == "transfer_time").all()
    assert (stores["lt_sd_days"] == 0).all()
    # an order-up-to level at a service target above 50% covers at least the median demand
    live = pol[pol["target_csl"] > 0.6]
    assert (live["order_up_to"] >= np.floor(live["demand_mean_lr"] * 0.8)).all()


def test_order_lines_respect_case_packs_moq_and_explain_themselves(run, query) -> None:
    rec = query(
        "SELECT r.*, i.moq, p.order_up_to AS level FROM inventory.replenishment_recommendations r "
        "JOIN marts.dim_items i USING (sku) "
        "JOIN inventory.reorder_policy p USING (sku, location_id)"
    )
    assert len(rec) > 0
    assert np.allclose(rec["order_qty"] % rec["case_pack"], 0)
    assert (rec["order_qty"] >= rec["raw_need"] - 1e-9).all()
    # the position after the order reaches the service level's order-up-to level
    assert (rec["inventory_position"] + rec["order_qty"] >= rec["level"] - 1e-9).all()
    dc = rec[rec["echelon"] == "DC"]
    assert (dc["order_qty"] >= dc["moq"]).all()
    assert (dc["ship_from"] == dc["supplier_id"]).all()
    # a DC order is at least the EOQ where the supplier's order cost is known (case-rounded)
    has_eoq = dc["eoq"].notna()
    assert (
        dc.loc[has_eoq, "order_qty"] >= dc.loc[has_eoq, "eoq"] - dc.loc[has_eoq, "case_pack"]
    ).all()
    parents = query("SELECT location_id, replenished_from FROM marts.dim_locations")
    st = rec[rec["echelon"] == "STORE"].merge(parents, on="location_id")
    assert len(st) > 0 and (st["ship_from"] == st["replenished_from"]).all()
    first = st.iloc[0]
    assert f"{first['inventory_position']:.0f}" in first["reason"]
    assert f"{first['order_qty']:.0f}" in first["reason"]
    assert (pd.to_datetime(rec["expected_receipt_date"]) >= pd.to_datetime(rec["order_date"])).all()


def test_allocation_ships_no_more_than_the_dc_has_and_beats_fair_share(run, query) -> None:
    summary = query("SELECT * FROM inventory.allocation_summary")
    assert (summary["alloc_units_marginal"] <= summary["available_units"] + 1e-9).all()
    assert (summary["alloc_units_fair_share"] <= summary["available_units"] + 1e-9).all()
    assert (
        summary["expected_margin_marginal"] >= summary["expected_margin_fair_share"] - 1e-6
    ).all()
    scarce = summary[summary["scarce"]]
    plan = query("SELECT * FROM inventory.allocation_plan")
    if len(scarce):
        units = plan[plan["method"] == "marginal"].groupby(["dc_id", "sku"])["alloc_units"].sum()
        assert np.allclose(
            units.reindex(pd.MultiIndex.from_frame(scarce[["dc_id", "sku"]])).fillna(0),
            scarce["alloc_units_marginal"],
        )


def test_placement_is_never_worse_than_either_pure_strategy(run, query) -> None:
    p = query("SELECT * FROM inventory.safety_stock_placement")
    assert len(p) > 0
    best_pure = np.minimum(p["cost_dc_decoupled"], p["cost_all_at_stores"])
    assert (p["total_cost"] <= best_pure + 1e-9).all()


def test_policy_backtest_compares_policies_on_the_same_demand(run, query) -> None:
    kpis = query("SELECT * FROM inventory.policy_backtest")
    assert {"ours", "static_rule"} <= set(kpis["policy"])
    by = kpis.groupby("policy")
    assert by["demand_units"].sum().nunique() == 1  # same held-out demand for every policy
    assert (kpis["sales_units"] <= kpis["demand_units"] + 1e-9).all()
    flow = kpis["on_hand_start"] + kpis["received_units"] - kpis["sales_units"]
    assert np.allclose(flow, kpis["on_hand_end"], atol=1e-6)
    seg = query("SELECT * FROM inventory.policy_backtest_segments").set_index("segment")
    allrow = seg.loc["all"]
    assert 0.5 < allrow["csl_ours"] <= 1 and 0.5 < allrow["fill_rate_ours"] <= 1
    meta = _meta(run, "policy_backtest")
    assert meta["sku_locations"].value == kpis[kpis["policy"] == "ours"].shape[0]
    assert meta["inventory_value_ours"].value == pytest.approx(allrow["avg_on_hand_value_ours"])


def test_what_if_scenarios_move_the_plan_the_right_way(run, query) -> None:
    t = query("SELECT * FROM inventory.what_if_scenarios").set_index("scenario")
    base = t.loc["base plan"]
    spike = t.loc["demand +30% in the top category"]
    shift = t.loc["service targets +2 points"]
    delay = t.loc["largest supplier 7 days late"]
    assert spike["planned_inventory_value"] > base["planned_inventory_value"]
    assert shift["planned_inventory_value"] > base["planned_inventory_value"]
    assert shift["expected_csl"] > base["expected_csl"]
    assert delay["planned_inventory_value"] >= base["planned_inventory_value"]


def test_kpis_are_kept_as_history(run, query) -> None:
    kpis = query("SELECT * FROM inventory.inventory_kpis")
    hist = query("SELECT count(*) AS n FROM inventory.inventory_kpis_history")["n"][0]
    assert len(kpis) > 0 and hist >= len(kpis)
    assert set(kpis["echelon"]) == {"STORE", "DC"}
    assert (kpis["planned_inventory_value"] >= 0).all()
