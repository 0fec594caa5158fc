"""Planner overrides, the plan's exceptions list and realised inventory performance.

Assets (group ``inventory``):

* ``planner_overrides`` validates the planner's file (``<data dir>/planner/overrides.csv``, or
  run config / ``STOCKPILOT_OVERRIDES_FILE``) into ``inventory.planner_overrides`` and
  ``inventory.planner_override_rejects``; ``reorder_policy`` and
  ``replenishment_recommendations`` apply the active rows through the helpers below
  (:func:`overridden_policy`, :func:`recommend_with_caps`) and append every applied override
  to ``inventory.override_audit``.
* ``plan_exceptions`` lists the order lines, positions, forecasts and suppliers a planner should
  look at (``inventory.plan_exceptions``).
* ``inventory_performance`` measures what the network achieved week by week
  (``inventory.inventory_performance``).

The maths lives in ``ml.inventory.overrides``, ``ml.inventory.exceptions`` and
``ml.inventory.performance``; this module reads tables, calls them and writes tables.
"""

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ml.inventory import exceptions as ex
from ml.inventory import overrides as ov
from ml.inventory.performance import inventory_performance as compute_performance
from ml.inventory.replenishment import recommend_orders
from orchestration import settings
from orchestration.defs.inventory import inputs as io
from orchestration.defs.warehouse_io import embed_png, md_table, reports_dir, write_table
from orchestration.settings import WAREHOUSE_POOL

SCHEMA = "inventory"
OVERRIDES_ENV = "STOCKPILOT_OVERRIDES_FILE"
_COMMON = {
    "key_prefix": [SCHEMA],
    "group_name": "inventory",
    "kinds": {"python", "duckdb"},
    "pool": WAREHOUSE_POOL,
}
_MARTS = {
    n: dg.AssetKey(["marts", n])
    for n in (
        "dim_items",
        "dim_locations",
        "fct_daily_demand",
        "fct_inventory_positions",
        "fct_purchase_order_lines",
    )
}
_FORECAST = dg.AssetKey(["forecasting", "demand_forecast"])
_INV = {
    n: dg.AssetKey([SCHEMA, n])
    for n in (
        "lead_time_distribution",
        "service_targets",
        "reorder_policy",
        "replenishment_recommendations",
    )
}
#: Audit rows' ``stage``: which asset applied the override.
STAGE_POLICY = "reorder_policy"
STAGE_ORDERS = "replenishment_recommendations"


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as pandas strings, so DuckDB types them VARCHAR even when empty or NULL."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string")
    return out


def default_overrides_file() -> Path:
    """``$STOCKPILOT_OVERRIDES_FILE``, else ``<data dir>/planner/overrides.csv``."""
    env = os.environ.get(OVERRIDES_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return settings.data_dir() / "planner" / "overrides.csv"


def plan_order_date(as_of: object, review_weekday: int = 0) -> pd.Timestamp:
    """The plan's order date: the first ``review_weekday`` after the last day of demand data
    (the date ``replenishment_recommendations`` puts on its lines)."""
    d = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    return d + pd.Timedelta(days=(review_weekday - d.dayofweek) % 7)


# ------------------------------------------------------------------------------ the overrides
class OverridesConfig(dg.Config):
    """Where the planner's overrides file is and how its rows are judged."""

    overrides_file: str = Field(
        default="",
        description="Planner overrides CSV. Empty: $STOCKPILOT_OVERRIDES_FILE, else "
        "<data dir>/planner/overrides.csv. A commented template is written when missing.",
    )
    review_weekday: int = Field(
        default=0, description="Weekday of the plan's review (Monday = 0), as in the plan."
    )
    max_promo_uplift: float = Field(
        default=ov.MAX_PROMO_UPLIFT,
        description="Largest promo_uplift value accepted (5 = forecast x 6); larger is a typo.",
    )


_PLANNED_SQL = """
select distinct sku, location_id from forecasting.demand_forecast
union
select distinct f.sku, l.replenished_from as location_id
from forecasting.demand_forecast f join marts.dim_locations l using (location_id)
where l.replenished_from is not null
"""


@dg.asset(deps=[_MARTS["dim_items"], _MARTS["dim_locations"], _FORECAST], **_COMMON)
def planner_overrides(
    context: dg.AssetExecutionContext, config: OverridesConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """The planner's overrides, validated: active and scheduled rows, and rejects with reasons.

    Types: ``min_stock`` (minimum order-up-to level, units), ``max_order_qty`` (order cap,
    units, down to whole cases) and ``promo_uplift`` (forecast x (1 + value) over a window).
    Rows with an unknown SKU or location, a SKU-location the plan does not compute, an unknown
    type, a bad value, an unreadable, reversed or expired window, no planner, or a conflict
    with an earlier line go to ``planner_override_rejects`` with every reason and their line
    of the file. A file that cannot be read at all (missing columns) fails the run, leaving
    the previous tables as they were. See docs/planner-overrides.md.
    """
    path = Path(config.overrides_file).expanduser() if config.overrides_file else None
    path = (path or default_overrides_file()).resolve()
    template_written = not path.exists()
    if template_written:
        ov.write_template(path)
        context.log.info(f"no overrides file: wrote the template to {path}")
    try:
        raw = ov.read_overrides_file(path)
    except ov.OverridesFileError as e:
        raise dg.Failure(description=str(e)) from e
    with warehouse.get_connection() as con:
        skus = io.query(con, "select sku from marts.dim_items")["sku"]
        locs = io.query(con, "select location_id from marts.dim_locations")["location_id"]
        planned = io.query(con, _PLANNED_SQL)
        (as_of, last_week) = con.execute(
            "select (select max(demand_date) from marts.fct_daily_demand), "
            "(select max(forecast_week) from forecasting.demand_forecast)"
        ).fetchall()[0]
    plan_date = plan_order_date(as_of, config.review_weekday)
    horizon_end = pd.Timestamp(last_week) + pd.Timedelta(days=6)
    res = ov.validate_overrides(
        raw,
        skus=skus,
        locations=locs,
        planned=planned,
        plan_date=plan_date,
        horizon_end=horizon_end,
        max_promo_uplift=config.max_promo_uplift,
    )
    now = _now()
    valid = _strings(res.valid.assign(source_file=str(path), loaded_at=now))
    rejects = _strings(res.rejects.assign(source_file=str(path), created_at=now))
    with warehouse.get_connection() as con:
        n_valid = write_table(
            con, SCHEMA, "planner_overrides", valid, date_columns=["valid_from", "valid_to"]
        )
        n_rej = write_table(con, SCHEMA, "planner_override_rejects", rejects)
    counts = (
        res.valid.groupby(["override_type", "status"]).size().rename("rows").reset_index()
        if len(res.valid)
        else pd.DataFrame({"override_type": [], "status": [], "rows": []})
    )
    context.log.info(
        f"overrides file {path}: {len(raw)} rows, {int((res.valid['status'] == 'active').sum())} "
        f"active, {n_rej} rejected"
    )
    if n_rej:
        context.log.warning(
            f"{n_rej} override rows rejected; see {SCHEMA}.planner_override_rejects"
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n_valid,
            "overrides_file": dg.MetadataValue.path(str(path)),
            "template_written": template_written,
            "plan_date": str(plan_date.date()),
            "file_rows": len(raw),
            "active": int((res.valid["status"] == "active").sum()),
            "scheduled": int((res.valid["status"] == "scheduled").sum()),
            "rejected": n_rej,
            "by_type": dg.MetadataValue.md(md_table(counts)),
            "rejects": dg.MetadataValue.md(
                md_table(res.rejects[["file_row", "sku", "location_id", "reject_reason"]].head(20))
                if n_rej
                else "no rejected rows"
            ),
        }
    )


def active_overrides(con: duckdb.DuckDBPyConnection, kind: str | None = None) -> pd.DataFrame:
    """The active validated overrides (optionally of one type); empty when there are none or
    ``planner_overrides`` has never run on this warehouse."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = ? and table_name = 'planner_overrides'",
        [SCHEMA],
    ).fetchall()[0][0]
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ov.VALIDATED_COLUMNS})
    if not exists:
        return empty
    where = "status = 'active'" + (f" and override_type = '{kind}'" if kind else "")
    out = io.query(con, f"select * from {SCHEMA}.planner_overrides where {where}")
    for c in ("valid_from", "valid_to"):
        out[c] = pd.to_datetime(out[c])
    out["value"] = out["value"].astype(float)
    return out


_WEEKLY_SQL = f"""
select sku, location_id, forecast_week, horizon, mean, variance, level_cv2, demand_class,
       is_cold_start
from forecasting.demand_forecast
where horizon <= {io.DC_WEEKS}
"""


def _uplifted(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, uplifts: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Plan inputs with promo uplifts in the demand; which rows changed; the store expansion.

    The uplifted weekly forecast goes through the plan's own demand readers
    (``io.store_demand`` / ``io.dc_demand``, on an in-memory copy of the forecast table), so a
    store's uplift reaches its DC's demand exactly as the plan aggregates it.
    """
    changed = np.zeros(len(frame), dtype=bool)
    locs = io.query(con, io.LOCATIONS_SQL)
    expanded = ov.expand_to_stores(uplifts, locs)
    if expanded.empty:
        return frame, changed, expanded
    weekly = io.query(con, _WEEKLY_SQL)
    factor = ov.uplift_factors(weekly, expanded)
    if np.allclose(factor, 1.0):
        return frame, changed, expanded
    scaled = ov.apply_promo_uplift(weekly, factor)
    with duckdb.connect() as mem:
        mem.execute("create schema forecasting")
        mem.register("_weekly", scaled)
        mem.execute("create table forecasting.demand_forecast as select * from _weekly")
        demand = pd.concat([io.store_demand(mem), io.dc_demand(mem, locs)], ignore_index=True)
    cols = ["mu", "var_daily", "level_cv2"]
    new = frame[["sku", "location_id"]].merge(
        demand[["sku", "location_id", *cols]], on=["sku", "location_id"], how="left"
    )
    old_mu, new_mu = frame["mu"].to_numpy(float), new["mu"].to_numpy(float)
    old_var, new_var = frame["var_daily"].to_numpy(float), new["var_daily"].to_numpy(float)
    changed = np.isfinite(new_mu) & ~(np.isclose(old_mu, new_mu) & np.isclose(old_var, new_var))
    out = frame.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        r_mu = np.where(changed & (old_mu > 0), new_mu / old_mu, 1.0)
        r_var = np.where(changed & (old_var > 0), new_var / old_var, 1.0)
    out["weekly_mean"] = frame["weekly_mean"].to_numpy(float) * r_mu
    out["weekly_var_indep"] = frame["weekly_var_indep"].to_numpy(float) * r_var
    for c in cols:
        out[c] = np.where(changed, new[c].to_numpy(float), frame[c].to_numpy(float))
    return out, changed, expanded


def _uplift_audit(
    base: pd.DataFrame, policy: pd.DataFrame, expanded: pd.DataFrame, locs: pd.DataFrame
) -> pd.DataFrame:
    """Audit rows of the uplifts: ``mu`` and ``order_up_to`` before / after, at each store an
    uplift covers and at the DC that replenishes it."""
    parent = locs.set_index("location_id")["replenished_from"]
    at_store = expanded.assign(target=expanded["store_id"], note_kind="store")
    at_dc = expanded.assign(target=expanded["store_id"].map(parent), note_kind="dc")
    rows = pd.concat([at_store, at_dc], ignore_index=True).dropna(subset=["target"])
    rows = rows.drop_duplicates(["override_id", "sku", "target"])
    keys = policy[["sku", "location_id"]].assign(
        mu_after=policy["mu"].to_numpy(float),
        s_after=policy["order_up_to"].to_numpy(float),
        mu_before=base["mu"].to_numpy(float),
        s_before=base["order_up_to"].to_numpy(float),
    )
    hit = rows.drop(columns="location_id").rename(columns={"target": "location_id"})
    hit = hit.merge(keys, on=["sku", "location_id"])
    note = np.where(
        hit["note_kind"] == "dc",
        "DC demand is its stores' demand: combined effect of every uplift on them",
        np.where(
            hit["via_dc"].astype(bool),
            "uplift entered at the DC, applied at this store",
            "store plan covers forecast weeks 1-2",
        ),
    )
    parts = [
        hit.assign(field="mu", before=hit["mu_before"], after=hit["mu_after"], note=note),
        hit.assign(field="order_up_to", before=hit["s_before"], after=hit["s_after"], note=note),
    ]
    return ov.audit_frame(pd.concat(parts, ignore_index=True))


def overridden_policy(
    warehouse: DuckDBResource,
    frame: pd.DataFrame,
    pmf: np.ndarray,
    shares: np.ndarray,
    compute: Callable[[pd.DataFrame, np.ndarray, np.ndarray], pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reorder policy with the active overrides applied, and their audit rows.

    ``frame``, ``pmf``, ``shares``: the plan inputs; ``compute(frame, pmf, shares)``: the
    plan's policy maths (``compute_policy``), row-aligned with ``frame``. Order of application:
    promo uplifts change the demand the levels are computed from; then ``min_stock`` pins
    ``order_up_to >= value``. Adds ``order_up_to_computed`` (the level before the pin),
    ``override_applied`` and ``override_types`` (comma-separated) to every row.
    """
    with warehouse.get_connection() as con:
        overrides = active_overrides(con)
        uplifts = overrides[overrides["override_type"] == "promo_uplift"]
        locs = io.query(con, io.LOCATIONS_SQL)
        if len(uplifts):
            planned, changed, expanded = _uplifted(con, frame, uplifts)
        else:
            planned, changed, expanded = frame, np.zeros(len(frame), dtype=bool), uplifts
    policy = compute(planned, pmf, shares).reset_index(drop=True)
    audits = []
    if changed.any():
        base = policy.copy()
        idx = np.flatnonzero(changed)
        before = compute(frame.iloc[idx], pmf, shares[idx]).reset_index(drop=True)
        base.loc[idx, "mu"] = before["mu"].to_numpy()
        base.loc[idx, "order_up_to"] = before["order_up_to"].to_numpy()
        audits.append(_uplift_audit(base, policy, expanded, locs))
    elif len(expanded):
        audits.append(_uplift_audit(policy, policy, expanded, locs))
    policy["order_up_to_computed"] = policy["order_up_to"]
    mins = overrides[overrides["override_type"] == "min_stock"]
    policy, min_audit = ov.apply_min_stock(policy, mins)
    audits.append(min_audit)
    audit = (
        pd.concat([a for a in audits if len(a)], ignore_index=True)
        if any(len(a) for a in audits)
        else ov.audit_frame(pd.DataFrame())
    )
    policy = _flag(policy, audit)
    return policy, audit


def _flag(rows: pd.DataFrame, audit: pd.DataFrame, extra: pd.Series | None = None) -> pd.DataFrame:
    """``override_applied`` / ``override_types`` per row: the overrides whose audit rows at its
    key changed a number (an override that did not bind leaves the row unflagged)."""
    out = rows.copy()
    types = pd.Series("", index=out.index, dtype=object)
    audit = audit[audit["changed"].astype(bool)] if len(audit) else audit
    if len(audit):
        per = (
            audit.groupby(["sku", "location_id"])["override_type"]
            .agg(lambda s: ",".join(sorted(set(s))))
            .rename("_types")
            .reset_index()
        )
        m = out[["sku", "location_id"]].merge(per, on=["sku", "location_id"], how="left")
        types = pd.Series(m["_types"].fillna("").to_numpy(), index=out.index, dtype=object)
    if extra is not None:
        e = pd.Series(extra.fillna("").astype(str).to_numpy(), index=out.index)
        both = (e != "") & (types != "")
        merged = types.where(e == "", e.where(types == "", types))
        if both.any():  # few rows: the order rows of capped policy rows with other overrides
            pairs = (e[both] + "," + types[both]).str.split(",")
            merged[both] = pairs.map(lambda xs: ",".join(sorted(set(xs))))
        types = merged
    out["override_types"] = types
    out["override_applied"] = types != ""
    return out


def recommend_with_caps(
    frame: pd.DataFrame,
    caps: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    policy_override_types: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``recommend_orders`` with the active ``max_order_qty`` caps, and the caps' audit rows.

    The cap becomes the ``max_order_qty`` column (rounded down to whole cases; below one case
    the order is 0, and its line drops out of the recommendations, which the audit records).
    ``policy_override_types``: the policy rows' ``override_types`` (row-aligned) so order rows
    carry every override behind them. Returns ``(recommendations, audit)``.
    """
    f = frame.copy()
    f["max_order_qty"] = ov.order_caps(f, caps)
    rec = recommend_orders(f, as_of=as_of)
    capped_rows = np.isfinite(f["max_order_qty"].to_numpy(float))
    audit = ov.audit_frame(pd.DataFrame())
    if capped_rows.any():
        idx = np.flatnonzero(capped_rows)
        free = recommend_orders(frame.iloc[idx], as_of=as_of)
        sub = rec.iloc[idx]
        cap = f["max_order_qty"].to_numpy(float)[idx]
        pack = sub["case_pack"].to_numpy(float)
        before, after = free["order_qty"].to_numpy(float), sub["order_qty"].to_numpy(float)
        note = np.where(
            before <= after,
            "order within the cap",
            np.where(
                cap < pack,
                "cap below one case: no order",
                "order cut to the cap, rounded down to whole cases",
            ),
        )
        keys = pd.DataFrame(
            {"sku": sub["sku"].to_numpy(), "location_id": sub["location_id"].to_numpy()}
        ).assign(before=before, after=after, note=note)
        hit = keys.merge(caps, on=["sku", "location_id"])
        audit = ov.audit_frame(hit.assign(field="order_qty"))
    types = policy_override_types
    rec = _flag(rec, audit, extra=None if types is None else types.reset_index(drop=True))
    return rec, audit


def append_audit(
    con: duckdb.DuckDBPyConnection, audit: pd.DataFrame, run_id: str, stage: str
) -> int:
    """Append ``audit`` to ``inventory.override_audit`` for this run and stage, atomically.

    The table is created on first use. Rows of an earlier attempt of the same run and stage
    are replaced (a retried step does not double its audit). Returns the rows appended.
    """
    rows = _strings(audit.assign(run_id=run_id, stage=stage, applied_at=_now()))
    rows["run_id"] = rows["run_id"].astype("string")
    rows["stage"] = rows["stage"].astype("string")
    con.execute(f"create schema if not exists {SCHEMA}")
    con.register("_audit", rows)
    try:
        con.execute(
            f"create table if not exists {SCHEMA}.override_audit as "
            "select * from _audit where false"
        )
        con.execute("begin transaction")
        try:
            con.execute(
                f"delete from {SCHEMA}.override_audit where run_id = ? and stage = ?",
                [run_id, stage],
            )
            con.execute(f"insert into {SCHEMA}.override_audit by name select * from _audit")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_audit")
    return len(rows)


def audit_metadata(audit: pd.DataFrame) -> dict[str, object]:
    """Dagster metadata about the overrides applied in one stage."""
    if audit.empty:
        return {"overrides_applied": 0}
    by = (
        audit.groupby(["override_type", "field"])
        .agg(rows=("sku", "size"), changed=("changed", "sum"))
        .reset_index()
    )
    return {
        "overrides_applied": int(audit["override_id"].nunique()),
        "override_audit": dg.MetadataValue.md(md_table(by)),
    }


# ------------------------------------------------------------------------------ exceptions
class ExceptionsConfig(dg.Config):
    """Thresholds of the plan's exceptions (docs/planner-overrides.md)."""

    order_ratio: float = Field(default=3.0, description="Order >= this x a normal order.")
    order_ratio_high: float = Field(default=6.0, description="... high severity from here.")
    recent_order_weeks: int = Field(
        default=13, description="Weeks of PO history for a SKU-location's median recent order."
    )
    forecast_weeks: int = Field(default=4, description="Forecast weeks 1..n compared.")
    history_weeks: int = Field(default=8, description="Weeks of sales before the forecast.")
    forecast_ratio_high: float = Field(default=2.0, description="Forecast / history at least.")
    forecast_ratio_low: float = Field(default=0.5, description="Forecast / history at most.")
    min_weekly_units: float = Field(
        default=5.0, description="Only when forecast or history is at least this (units/week)."
    )
    supplier_min_on_time_rate: float = Field(default=0.5, description="On-time rate below.")
    supplier_on_time_rate_high: float = Field(default=0.25, description="... high below this.")
    supplier_max_open_overdue: int = Field(
        default=10, description="Open lines past their promised date, at least."
    )

    def thresholds(self) -> ex.ExceptionThresholds:
        return ex.ExceptionThresholds(
            **{
                k: getattr(self, k)
                for k in ex.ExceptionThresholds.__dataclass_fields__  # type: ignore[attr-defined]
            }
        )


_LINES_SQL = """
with po as (
    select sku, ship_to_location_id as location_id,
           median(cast(order_qty as double)) as recent_order_qty
    from marts.fct_purchase_order_lines
    where order_date > (select max(demand_date) from marts.fct_daily_demand)
                       - interval {days} day
    group by all
)
select r.sku, r.location_id, r.supplier_id, r.echelon, r.order_qty, r.case_pack, r.eoq,
       p.mu, p.review_days as review_period_days, cast(i.moq as double) as moq,
       po.recent_order_qty
from {schema}.replenishment_recommendations r
left join {schema}.reorder_policy p using (sku, location_id)
left join marts.dim_items i using (sku)
left join po using (sku, location_id)
"""
_POSITIONS_SQL = """
select p.sku, p.location_id, i.supplier_id, cast(p.on_hand_qty as double) as on_hand_qty,
       cast(p.inventory_position_qty as double) as inventory_position_qty
from marts.fct_inventory_positions p left join marts.dim_items i using (sku)
where p.on_hand_qty < 0 or p.inventory_position_qty < 0
"""
_HISTORY_SQL = """
select f.sku, f.location_id, cast(f.units_sold as double) as units_sold,
       coalesce(f.is_stock_known, false) and not coalesce(f.is_stockout, false) as in_stock
from marts.fct_daily_demand f
join (select distinct sku, location_id from forecasting.demand_forecast) k using (sku, location_id)
where f.demand_date >= (select min(forecast_week) from forecasting.demand_forecast)
                       - interval {days} day
  and f.demand_date < (select min(forecast_week) from forecasting.demand_forecast)
"""


@dg.asset(
    deps=[
        _INV["replenishment_recommendations"],
        _INV["reorder_policy"],
        _INV["lead_time_distribution"],
        _FORECAST,
        _MARTS["fct_daily_demand"],
        _MARTS["fct_inventory_positions"],
        _MARTS["fct_purchase_order_lines"],
    ],
    **_COMMON,
)
def plan_exceptions(
    context: dg.AssetExecutionContext, config: ExceptionsConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """What a planner should look at before the plan goes out, most severe first.

    Orders far above a normal order for the SKU-location, negative stock or inventory
    positions, forecasts far from recent sales (with a minimum volume, so slow movers do not
    flood the list) and suppliers far behind (on-time rate, open overdue lines). Thresholds are
    run config; each row says which number crossed which threshold.
    """
    thr = config.thresholds()
    with warehouse.get_connection() as con:
        lines = io.query(
            con, _LINES_SQL.format(schema=SCHEMA, days=7 * int(config.recent_order_weeks))
        )
        positions = io.query(con, _POSITIONS_SQL)
        forecast = io.query(
            con,
            "select sku, location_id, horizon, mean from forecasting.demand_forecast "
            f"where horizon <= {int(thr.forecast_weeks)}",
        )
        history = io.query(con, _HISTORY_SQL.format(days=7 * int(thr.history_weeks)))
        reliability = io.query(con, f"select * from {SCHEMA}.supplier_reliability")
    table = ex.plan_exceptions(
        ex.order_exceptions(lines, thr),
        ex.negative_position_exceptions(positions),
        ex.forecast_exceptions(forecast, history, thr),
        ex.supplier_exceptions(reliability, thr),
    )
    table["created_at"] = _now()
    with warehouse.get_connection() as con:
        rows = write_table(con, SCHEMA, "plan_exceptions", _strings(table))
    counts = (
        table.groupby(["exception_type", "severity"]).size().rename("rows").reset_index()
        if rows
        else pd.DataFrame({"exception_type": [], "severity": [], "rows": []})
    )
    context.log.info(f"{rows:,} plan exceptions")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "high": int((table["severity"] == "high").sum()),
            "by_type_and_severity": dg.MetadataValue.md(md_table(counts)),
            "top": dg.MetadataValue.md(
                md_table(
                    table[
                        [
                            "exception_type",
                            "severity",
                            "sku",
                            "location_id",
                            "supplier_id",
                            "message",
                        ]
                    ]
                    .fillna("")
                    .head(15)
                )
                if rows
                else "no exceptions"
            ),
        }
    )


# ------------------------------------------------------------------------------ performance
def performance_png(perf: pd.DataFrame) -> bytes:
    """Weekly in-stock rate, fill rate and days of supply per echelon (all segments)."""
    import io as _io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = perf[perf["segment"] == "all"].sort_values("week_start")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=80)
    ax = axes[0]
    for ech, g in a.groupby("echelon"):
        ax.plot(g["week_start"], g["in_stock_rate"], lw=1.2, label=f"{ech} in-stock rate")
        if ech == "STORE":
            ax.plot(g["week_start"], g["fill_rate_est"], lw=1.2, label="STORE fill rate (est.)")
            ax.plot(g["week_start"], g["cycle_service_proxy"], lw=1.0, label="STORE cycle service")
    ax.set_title("service achieved per week")
    ax.legend(fontsize=6)
    ax.tick_params(axis="x", labelsize=7, rotation=30)
    ax = axes[1]
    for ech, g in a.groupby("echelon"):
        ax.plot(g["week_start"], g["days_of_supply"], lw=1.2, label=ech)
    ax.set_title("days of supply (stock value / daily COGS)")
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelsize=7, rotation=30)
    buf = _io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@dg.asset(
    deps=[
        _MARTS["fct_daily_demand"],
        _MARTS["dim_items"],
        _MARTS["dim_locations"],
        _INV["service_targets"],
    ],
    **_COMMON,
)
def inventory_performance(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Realised inventory performance per week, echelon and ABC-XYZ segment.

    In-stock rate (SKU-location-days not stocked out), cycle-service proxy (SKU-location-weeks
    without a stockout day), fill-rate estimate (sales / (sales + estimated lost sales on
    stockout days)), average on-hand units and value, inventory turns (annualised COGS / average
    stock value) and days of supply, from ``marts.fct_daily_demand`` in grouped SQL
    (``ml.inventory.performance``).
    """
    t0 = time.perf_counter()
    with warehouse.get_connection() as con:
        perf = compute_performance(con)
        perf["created_at"] = _now()
        rows = write_table(con, SCHEMA, "inventory_performance", perf, date_columns=["week_start"])
    png = performance_png(perf)
    path = reports_dir("inventory") / "inventory_performance.png"
    path.write_bytes(png)
    full = perf[perf["n_days"] == 7]
    last = full[full["week_start"] >= full["week_start"].max() - pd.Timedelta(weeks=3)]
    recent = (
        last.groupby(["echelon", "segment"])[
            [
                "in_stock_rate",
                "cycle_service_proxy",
                "fill_rate_est",
                "avg_on_hand_value",
                "inventory_turns",
                "days_of_supply",
            ]
        ]
        .mean()
        .reset_index()
    )
    seconds = round(time.perf_counter() - t0, 2)
    context.log.info(f"inventory performance: {rows:,} rows in {seconds} s")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "weeks": int(perf["week_start"].nunique()),
            "last_4_weeks": dg.MetadataValue.md(md_table(recent, "{:,.3f}")),
            "chart": dg.MetadataValue.md(embed_png(png, "inventory performance")),
            "chart_path": dg.MetadataValue.path(str(path)),
            "seconds": seconds,
        }
    )


override_assets = [planner_overrides, plan_exceptions, inventory_performance]
