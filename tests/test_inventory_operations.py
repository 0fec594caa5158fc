"""Planner overrides, plan exceptions and realised performance in real Dagster runs.

The weekly planning run of the session (no overrides file: the template is written) is checked
first; then a copy of its warehouse gets an overrides file that pins a minimum, caps an order and
adds a promo uplift, and the overrides -> policy -> orders -> exceptions assets run again on it
for real, so the numbers and the audit rows can be asserted. Performance figures are recomputed
independently in pandas from the test network's daily demand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import special

from ml.inventory.overrides import OVERRIDE_COLUMNS

pytestmark = pytest.mark.integration

OVERRIDE_STEPS = [
    "planner_overrides",
    "reorder_policy",
    "replenishment_recommendations",
    "plan_exceptions",
]


@pytest.fixture(scope="module")
def run(planning_run):
    assert planning_run.success, "the planning run failed; see the Dagster log above"
    return planning_run


def test_weekly_run_without_a_file_writes_the_template_and_applies_nothing(
    run, query, session_dir: Path
) -> None:
    path = session_dir / "data" / "planner" / "overrides.csv"
    assert path.read_text().strip().splitlines()[-1] == ",".join(OVERRIDE_COLUMNS)
    assert query("select count(*) as n from inventory.planner_overrides")["n"][0] == 0
    assert query("select count(*) as n from inventory.planner_override_rejects")["n"][0] == 0
    policy = query(
        "select override_applied, order_up_to, order_up_to_computed from inventory.reorder_policy"
    )
    assert not policy["override_applied"].any()
    assert (policy["order_up_to"] == policy["order_up_to_computed"]).all()
    audit = query(
        f"select count(*) as n from inventory.override_audit where run_id = '{run.run_id}'"
    )
    assert audit["n"][0] == 0
    meta = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in run.get_asset_materialization_events()
    }
    assert meta["planner_overrides"]["template_written"].value is True
    assert "chart" in meta["inventory_performance"]
    assert "by_type_and_severity" in meta["plan_exceptions"]


@pytest.fixture(scope="module")
def override_run(run, query, tmp_path_factory):
    """A copy of the session warehouse, an overrides file, and the four assets run on it."""
    from orchestration import settings

    base = tmp_path_factory.mktemp("overrides")
    data = base / "data"
    data.mkdir()
    src = settings.warehouse_path()
    wh = data / "warehouse.duckdb"
    shutil.copy(src, wh)
    if Path(f"{src}.wal").exists():
        shutil.copy(f"{src}.wal", f"{wh}.wal")

    policy = query("select * from inventory.reorder_policy")
    lines = query("select * from inventory.replenishment_recommendations")
    fc = query(
        "select min(forecast_week) as lo, max(forecast_week) as hi from forecasting.demand_forecast"
    )
    stores = policy[(policy["echelon"] == "STORE") & (policy["mu"] > 0.5)].sort_values("sku")
    pin = stores.iloc[0]
    dc_lines = lines[(lines["echelon"] == "DC") & (lines["order_cases"] >= 3)]
    cap_line = dc_lines[dc_lines["sku"] != pin["sku"]].sort_values("sku").iloc[0]
    up = stores[~stores["sku"].isin([pin["sku"], cap_line["sku"]])].iloc[0]
    cap = float(cap_line["order_qty"] - 1.5 * cap_line["case_pack"])
    lo = pd.Timestamp(fc["lo"][0]).date()
    hi = (pd.Timestamp(fc["hi"][0]) + pd.Timedelta(days=6)).date()
    planner = data / "planner"
    planner.mkdir()
    (planner / "overrides.csv").write_text(
        "\n".join(
            [
                ",".join(OVERRIDE_COLUMNS),
                f"{pin.sku},{pin.location_id},min_stock,{pin.order_up_to + 15},,,ann,display",
                f"{cap_line.sku},{cap_line.location_id},max_order_qty,{cap},,,bob,allocation",
                f"{up.sku},{up.location_id},promo_uplift,1.0,{lo},{hi},cy,leaflet",
                f"{pin.sku},NOWHERE,min_stock,5,,,ann,typo",
            ]
        )
        + "\n"
    )
    # a negative stock record, so the exceptions list has something real to find
    neg = policy[(policy["echelon"] == "STORE")].iloc[-1]
    with duckdb.connect(str(wh)) as con:
        con.execute(
            "update marts.fct_inventory_positions set on_hand_qty = -4 "
            "where sku = ? and location_id = ?",
            [neg["sku"], neg["location_id"]],
        )

    mp = pytest.MonkeyPatch()
    mp.setenv("STOCKPILOT_DATA_DIR", str(data))
    mp.setenv("STOCKPILOT_LANDING_DIR", str(data / "landing"))
    mp.setenv("STOCKPILOT_WAREHOUSE", str(wh))
    try:
        from orchestration.definitions import build_definitions

        keys = [dg.AssetKey(["inventory", k]) for k in OVERRIDE_STEPS]
        job = dg.define_asset_job(
            "overrides_check",
            selection=dg.AssetSelection.assets(*keys),
            executor_def=dg.in_process_executor,
        )
        defs = dg.Definitions.merge(build_definitions(), dg.Definitions(jobs=[job]))
        with dg.DagsterInstance.ephemeral() as inst:
            result = defs.resolve_job_def("overrides_check").execute_in_process(
                instance=inst, raise_on_error=False
            )
    finally:
        mp.undo()
    assert result.success

    def q(sql: str) -> pd.DataFrame:
        with duckdb.connect(str(wh), read_only=True) as con:
            return con.sql(sql).df()

    return {
        "result": result,
        "q": q,
        "pin": pin,
        "cap_line": cap_line,
        "cap": cap,
        "up": up,
        "neg": neg,
        "before_policy": policy,
        "session_query": query,
    }


def test_min_stock_pins_the_level_and_its_order(override_run) -> None:
    q, pin = override_run["q"], override_run["pin"]
    row = q(
        f"select * from inventory.reorder_policy where sku = '{pin.sku}' "
        f"and location_id = '{pin.location_id}'"
    ).iloc[0]
    assert row["order_up_to"] == pin["order_up_to"] + 15
    assert row["order_up_to_computed"] == pin["order_up_to"]
    assert row["safety_stock"] == pytest.approx(pin["safety_stock"] + 15)
    assert row["override_applied"] and row["override_types"] == "min_stock"
    audit = q("select * from inventory.override_audit where override_type = 'min_stock'")
    assert len(audit) == 1
    a = audit.iloc[0]
    assert (a["field"], a["before"], a["after"], a["changed"]) == (
        "order_up_to",
        pin["order_up_to"],
        pin["order_up_to"] + 15,
        True,
    )
    assert (a["planner"], a["reason"], a["stage"]) == ("ann", "display", "reorder_policy")
    assert a["run_id"] == override_run["result"].run_id
    # the store orders up to the pinned level (in whole cases) from its position
    line = q(
        f"select * from inventory.replenishment_recommendations where sku = '{pin.sku}' "
        f"and location_id = '{pin.location_id}'"
    ).iloc[0]
    need = pin["order_up_to"] + 15 - line["inventory_position"]
    assert line["order_qty"] == np.ceil(need / line["case_pack"] - 1e-9) * line["case_pack"]
    assert line["override_types"] == "min_stock"


def test_cap_cuts_the_order_to_whole_cases(override_run) -> None:
    q, c, cap = override_run["q"], override_run["cap_line"], override_run["cap"]
    line = q(
        f"select * from inventory.replenishment_recommendations where sku = '{c.sku}' "
        f"and location_id = '{c.location_id}'"
    ).iloc[0]
    assert line["order_qty"] == np.floor(cap / c["case_pack"]) * c["case_pack"]
    assert line["order_qty"] == c["order_qty"] - 2 * c["case_pack"]
    assert line["capped"] and line["override_types"] == "max_order_qty"
    a = q("select * from inventory.override_audit where override_type = 'max_order_qty'").iloc[0]
    assert (a["field"], a["before"], a["after"], a["stage"]) == (
        "order_qty",
        c["order_qty"],
        line["order_qty"],
        "replenishment_recommendations",
    )


def test_uplift_doubles_the_store_demand_and_reaches_its_dc(override_run) -> None:
    q, up, before = override_run["q"], override_run["up"], override_run["before_policy"]
    after = q("select * from inventory.reorder_policy")
    store = after[(after["sku"] == up["sku"]) & (after["location_id"] == up["location_id"])]
    store = store.iloc[0]
    assert store["mu"] == pytest.approx(2 * up["mu"], rel=1e-9)
    assert store["order_up_to"] > 1.5 * up["order_up_to"]
    assert store["override_types"] == "promo_uplift"
    # the DC's demand is its stores' 8-week demand: it grows by this store's 8-week mean
    fc = override_run["session_query"](
        "select avg(mean) / 7 as mu8 from forecasting.demand_forecast "
        f"where sku = '{up.sku}' and location_id = '{up.location_id}' and horizon <= 8"
    )["mu8"][0]
    dc_id = up["source_id"]
    dc_before = before[(before["sku"] == up["sku"]) & (before["location_id"] == dc_id)].iloc[0]
    dc_after = after[(after["sku"] == up["sku"]) & (after["location_id"] == dc_id)].iloc[0]
    assert dc_after["mu"] - dc_before["mu"] == pytest.approx(fc, rel=1e-9)
    assert dc_after["override_applied"]
    # nothing else moved
    other = after.merge(before, on=["sku", "location_id"], suffixes=("", "_b"))
    touched = {
        (up.sku, up.location_id),
        (up.sku, dc_id),
        (override_run["pin"].sku, override_run["pin"].location_id),
    }
    rest = other[[k not in touched for k in zip(other["sku"], other["location_id"], strict=True)]]
    assert (rest["order_up_to"] == rest["order_up_to_b"]).all()
    audit = q("select * from inventory.override_audit where override_type = 'promo_uplift'")
    got = {(r.location_id, r.field): (r.before, r.after) for r in audit.itertuples()}
    assert got[(up.location_id, "mu")] == pytest.approx((up["mu"], 2 * up["mu"]))
    assert got[(dc_id, "mu")] == pytest.approx((dc_before["mu"], dc_after["mu"]))
    assert got[(up.location_id, "order_up_to")] == (up["order_up_to"], store["order_up_to"])


def test_bad_rows_are_rejected_and_exceptions_see_the_run(override_run) -> None:
    q, neg = override_run["q"], override_run["neg"]
    rej = q("select * from inventory.planner_override_rejects")
    assert rej["file_row"].tolist() == [5]
    assert "unknown location NOWHERE" in rej["reject_reason"][0]
    assert q("select count(*) as n from inventory.planner_overrides")["n"][0] == 3
    exc = q("select * from inventory.plan_exceptions")
    hit = exc[(exc["exception_type"] == "negative_inventory_position")]
    assert hit[["sku", "location_id", "severity", "value"]].to_dict("records") == [
        {"sku": neg["sku"], "location_id": neg["location_id"], "severity": "high", "value": -4.0}
    ]
    assert set(exc["severity"]) <= {"high", "medium"}
    assert exc["message"].str.len().gt(10).all()


# ------------------------------------------------------------------------------ performance
def _pandas_performance(query) -> pd.DataFrame:
    """The performance table from its definitions, in plain pandas (no SQL windows)."""
    d = query(
        "select f.sku, f.location_id, f.demand_date, cast(f.units_sold as double) as units, "
        "cast(f.on_hand_qty as double) as on_hand, f.is_stockout, f.is_stock_known, "
        "l.location_type as echelon, l.replenished_from, cast(i.unit_cost as double) as cost "
        "from marts.fct_daily_demand f join marts.dim_locations l using (location_id) "
        "left join marts.dim_items i using (sku)"
    )
    seg = query("select sku, location_id, echelon, segment from inventory.service_targets")
    d["demand_date"] = pd.to_datetime(d["demand_date"])
    d["week_start"] = d["demand_date"] - pd.to_timedelta(d["demand_date"].dt.dayofweek, unit="D")
    d["known"] = d["is_stock_known"].fillna(False).astype(bool)
    d["so"] = d["known"] & d["is_stockout"].fillna(False).astype(bool)
    d["cost"] = d["cost"].fillna(0.0)
    d = d.merge(seg, on=["sku", "location_id", "echelon"], how="left")
    d["segment"] = d["segment"].fillna("unsegmented")
    keys = ["sku", "location_id", "echelon", "segment", "week_start"]
    d["instock"] = d["known"] & ~d["so"]
    d["u_in"] = np.where(d["instock"], d["units"], 0.0)
    w = (
        d.groupby(keys)
        .agg(
            n_days=("units", "size"),
            known_days=("known", "sum"),
            stockout_days=("so", "sum"),
            units=("units", "sum"),
            u_in=("u_in", "sum"),
            d_in=("instock", "sum"),
            on_hand=("on_hand", "mean"),
            cost=("cost", "first"),
        )
        .reset_index()
    )
    # DC cogs: its stores' sales at cost
    st = d[d["echelon"] == "STORE"].groupby(["sku", "replenished_from", "week_start"])["units"]
    st = st.sum().rename("store_units").reset_index()
    st = st.rename(columns={"replenished_from": "location_id"})
    w = w.merge(st, on=["sku", "location_id", "week_start"], how="left")
    w["cogs"] = np.where(w["echelon"] == "DC", w["store_units"].fillna(0), w["units"]) * w["cost"]
    w["value"] = w["on_hand"] * w["cost"]

    # lost sales: rate over the 9 weeks around (a convolution on the weekly grid) x weekday factor
    s = w[w["echelon"] == "STORE"]
    grid_u = s.pivot_table(index=["sku", "location_id"], columns="week_start", values="u_in")
    grid_d = s.pivot_table(index=["sku", "location_id"], columns="week_start", values="d_in")
    grid_d = grid_d.reindex_like(grid_u)
    kernel = np.ones(9)

    def conv(a: np.ndarray) -> np.ndarray:
        return np.apply_along_axis(lambda r: np.convolve(np.nan_to_num(r), kernel, "same"), 1, a)

    with np.errstate(invalid="ignore", divide="ignore"):
        lam_w = conv(grid_u.to_numpy()) / conv(grid_d.to_numpy())
        overall = grid_u.sum(axis=1) / grid_d.sum(axis=1)
    lam = pd.DataFrame(lam_w, index=grid_u.index, columns=grid_u.columns)
    lam = lam.apply(lambda col: col.fillna(overall)).stack().rename("lam").reset_index()
    stores = d[d["echelon"] == "STORE"]
    ins = stores[stores["instock"]]
    m = ins.groupby(["location_id", ins["demand_date"].dt.dayofweek])["units"].mean()
    factor = (m / m.groupby(level=0).transform("mean")).rename("factor").reset_index()
    factor = factor.rename(columns={"demand_date": "dow"})
    so = stores[stores["so"]].assign(dow=lambda x: x["demand_date"].dt.dayofweek)
    so = so.merge(lam, on=["sku", "location_id", "week_start"], how="left")
    so = so.merge(factor, on=["location_id", "dow"], how="left")
    rate = so["lam"].fillna(0) * so["factor"].fillna(1)
    sold = so["units"].clip(lower=0)
    # E[D - s | D >= s] by direct summation of the Poisson pmf over k >= s (log space)
    k = np.arange(int(sold.max()) + 400)[None, :]
    lr = np.log(np.maximum(rate.to_numpy(), 1e-300))[:, None]
    logp = k * lr - rate.to_numpy()[:, None] - special.gammaln(k + 1)
    logp = np.where(k >= sold.to_numpy()[:, None], logp, -np.inf)
    p = np.exp(logp - logp.max(axis=1, keepdims=True))
    excess = (p * (k - sold.to_numpy()[:, None])).sum(axis=1) / p.sum(axis=1)
    so["lost"] = np.where(rate > 0, excess, 0.0)

    def summarise(frame: pd.DataFrame, lost: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        g = frame.groupby(by).agg(
            n_days=("n_days", "max"),
            sku_locations=("units", "size"),
            sku_location_days=("known_days", "sum"),
            stockout_days=("stockout_days", "sum"),
            sku_location_weeks=("known_days", lambda x: int((x > 0).sum())),
            units_sold=("units", "sum"),
            avg_on_hand_value=("value", "sum"),
            cogs=("cogs", "sum"),
        )
        full = frame.assign(clean=(frame["known_days"] > 0) & (frame["stockout_days"] == 0))
        g["weeks_without_stockout"] = full.groupby(by)["clean"].sum()
        g["lost_units_est"] = lost.groupby(by)["lost"].sum().reindex(g.index).fillna(0.0)
        return g

    by = ["week_start", "echelon", "segment"]
    a = summarise(w, so, by)
    b = summarise(w.assign(segment="all"), so.assign(segment="all"), by)
    out = pd.concat([a, b])
    store = out.index.get_level_values("echelon") == "STORE"
    out["in_stock_rate"] = 1 - out["stockout_days"] / out["sku_location_days"]
    out["cycle_service_proxy"] = out["weeks_without_stockout"] / out["sku_location_weeks"]
    out["fill_rate_est"] = np.where(
        store, out["units_sold"] / (out["units_sold"] + out["lost_units_est"]), np.nan
    )
    value = out["avg_on_hand_value"].where(out["avg_on_hand_value"] > 0)
    out["inventory_turns"] = 365 * out["cogs"] / out["n_days"] / value
    out["days_of_supply"] = value / (out["cogs"] / out["n_days"]).where(out["cogs"] > 0)
    return out


def test_performance_matches_an_independent_pandas_computation(run, query) -> None:
    got = query("select * from inventory.inventory_performance")
    got["week_start"] = pd.to_datetime(got["week_start"])
    got = got.set_index(["week_start", "echelon", "segment"]).sort_index()
    want = _pandas_performance(query)
    assert len(got) == len(want) and set(got.index) == set(want.index)
    want = want.reindex(got.index)
    assert set(got.index.get_level_values("echelon")) == {"STORE", "DC"}
    assert (got.index.get_level_values("segment") == "all").sum() == 2 * got.index.get_level_values(
        "week_start"
    ).nunique()
    for col in (
        "n_days",
        "sku_locations",
        "sku_location_days",
        "stockout_days",
        "sku_location_weeks",
        "weeks_without_stockout",
        "units_sold",
        "in_stock_rate",
        "cycle_service_proxy",
        "avg_on_hand_value",
        "cogs",
        "inventory_turns",
        "days_of_supply",
        "fill_rate_est",
    ):
        np.testing.assert_allclose(
            got[col].to_numpy(float),
            want[col].to_numpy(float),
            rtol=1e-9,
            equal_nan=True,
            err_msg=col,
        )
    store_all = got.xs(("STORE", "all"), level=("echelon", "segment"))
    assert store_all["lost_units_est"].sum() > 0
    np.testing.assert_allclose(
        got["lost_units_est"].fillna(0).to_numpy(),
        want["lost_units_est"]
        .where(want.index.get_level_values("echelon") == "STORE", 0)
        .to_numpy(),
        rtol=1e-7,
        atol=1e-9,
    )
    # the network sold out on some days, but not most
    assert 0.8 < store_all["in_stock_rate"].mean() < 1.0
