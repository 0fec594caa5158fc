"""Safety-stock placement across echelons with the guaranteed-service model (GSM).

Every stage ``j`` of a supply chain quotes its customers an outbound service time ``S_j`` and is
quoted an inbound service time ``SI_j`` by its suppliers (integer periods, here days). With
processing (lead) time ``T_j`` its net replenishment time is ``tau_j = SI_j + T_j - S_j``, and it
holds the safety stock that covers demand over ``tau_j`` up to the demand bound::

    SS_j = z_j sigma_j sqrt(tau_j)            (units)

``sigma_j`` is the standard deviation of the per-period demand the stage serves (its own external
demand plus that of the stages it feeds, independent, so variances add), ``z_j`` the safety factor
(``z = Phi^{-1}(service level)``). The placement problem (Simpson 1958; Graves & Willems 2000,
"Optimizing strategic safety stock placement in supply chains", MSOM 2(1):68-83) is::

    min  sum_j h_j z_j sigma_j sqrt(SI_j + T_j - S_j)
    s.t. S_j <= SI_j + T_j,   SI_j >= S_i for every supplier i of j,
         SI_j = si_j for stages with an external supplier,  S_j <= s_j for customer-facing stages

with ``h_j`` the holding cost per unit per period. The objective is concave in the service times,
so optima sit at extreme points: a stage either holds no safety stock (``S = SI + T``) or is a
decoupling point.

* :func:`solve_gsm_tree` solves it exactly on any spanning tree (assembly, distribution or mixed)
  with the Graves-Willems dynamic program over integer service times (Graves & Willems 2000,
  sec. 4; Snyder & Shen 2019, "Fundamentals of Supply Chain Theory", 2nd ed., sec. 6.3).
  One tree per call; it loops over stages and service times, which is fine for the handful of
  stages of one product's network.
* :func:`place_two_echelon` solves the one-DC, many-stores case for every SKU at once. Given the
  DC's outbound service time ``S_dc`` each store's best choice is ``S_j = min(s_j, S_dc + T_j)``,
  so the total cost is a function of ``S_dc`` alone; it is evaluated on the whole integer grid
  ``0..SI_dc + T_dc`` for all SKUs with one matrix product and minimised per SKU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------- general trees


@dataclass
class GSMSolution:
    """Optimal service times of one network.

    ``cost``: total holding cost of safety stock per period (currency / period). ``nodes``: one
    row per stage with ``node_id, inbound_service_time, outbound_service_time,
    net_replenishment_time`` (periods), ``demand_sd`` (units / period, net of downstream stages),
    ``safety_stock`` (units), ``safety_stock_cost`` (currency / period).
    """

    cost: float
    nodes: pd.DataFrame


def _edge_list(edges: pd.DataFrame | Sequence[tuple]) -> pd.DataFrame:
    if isinstance(edges, pd.DataFrame):
        e = edges.copy()
    else:
        rows = [tuple(r) for r in edges]
        cols = ["upstream", "downstream", "units_required"][: len(rows[0])] if rows else []
        e = pd.DataFrame(rows, columns=cols or ["upstream", "downstream"])
    if "units_required" not in e.columns:
        e["units_required"] = 1.0
    return e


def solve_gsm_tree(nodes: pd.DataFrame, edges: pd.DataFrame | Sequence[tuple] = ()) -> GSMSolution:
    """Optimal guaranteed-service safety stock placement on a spanning tree (Graves & Willems DP).

    ``nodes``: ``node_id``, ``processing_time`` (``T``, integer periods), ``holding_cost`` (``h``
    per unit per period), ``z`` (safety factor); optional ``demand_sd`` (external demand std per
    period, default 0), ``max_service_time`` (``s``: the longest outbound service time customers
    accept; missing/NaN means 0 for stages with external demand or without successors and
    unbounded otherwise) and ``inbound_service_time`` (``si``: service time of the external
    supplier of a stage without predecessors, default 0). ``edges``: ``(upstream, downstream[,
    units_required])`` tuples or a frame with those columns; the undirected network must be a
    tree.

    The stages are labelled so that each has at most one neighbour with a larger label (peel
    leaves); stage ``k``'s subproblem covers the stages hanging off it, and depends only on
    ``S_k`` if its larger neighbour is downstream (``f_k(S)``) or on ``SI_k`` if it is upstream
    (``g_k(SI)``). Each is a minimum over a ``(S, SI)`` table of ``h z sigma sqrt(SI + T - S)``
    plus the best cost of the already solved neighbours: ``min_{x <= SI} f_i(x)`` for a supplier
    ``i`` and ``min_{y >= S} g_i(y)`` for a customer ``i``. Service times run over ``0..M_k``
    where ``M_k`` is the longest replenishment path into ``k``, so the work is ``O(n M^2)``. Ties
    go to the smaller service time.
    """
    nd = nodes.reset_index(drop=True)
    ids = list(nd["node_id"])
    n = len(ids)
    if n == 0:
        raise ValueError("nodes is empty")
    pos = {v: i for i, v in enumerate(ids)}
    if len(pos) != n:
        raise ValueError("node_id values must be unique")
    e = _edge_list(edges)
    if len(e) != n - 1:
        raise ValueError(f"a tree on {n} nodes has {n - 1} edges, got {len(e)}")
    lt = nd["processing_time"].to_numpy(dtype=float)
    if (lt < 0).any() or (lt != np.round(lt)).any():
        raise ValueError("processing_time must be non-negative integers")
    lt = lt.astype(np.int64)
    h = nd["holding_cost"].to_numpy(dtype=float)
    z = nd["z"].to_numpy(dtype=float)
    ext_sd = nd["demand_sd"].fillna(0.0).to_numpy(dtype=float) if "demand_sd" in nd else np.zeros(n)
    si = (
        nd["inbound_service_time"].fillna(0).to_numpy(dtype=np.int64)
        if "inbound_service_time" in nd
        else np.zeros(n, dtype=np.int64)
    )
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for u, d, r in e[["upstream", "downstream", "units_required"]].itertuples(index=False):
        if u not in pos or d not in pos:
            raise ValueError(f"edge ({u}, {d}) refers to an unknown node")
        preds[pos[d]].append(pos[u])
        succs[pos[u]].append((pos[d], float(r)))
    if "max_service_time" in nd:
        s_max = nd["max_service_time"].to_numpy(dtype=float)
    else:
        s_max = np.full(n, np.nan)
    faces_customers = np.array([not succs[i] for i in range(n)]) | (ext_sd > 0)
    default_s = np.where(faces_customers, 0.0, np.inf)
    s_max = np.where(np.isnan(s_max), default_s, s_max)

    # topological order (Kahn); a tree's orientation is always acyclic, but check connectivity
    indeg = np.array([len(p) for p in preds])
    topo: list[int] = [i for i in range(n) if indeg[i] == 0]
    for i in topo:
        for j, _ in succs[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                topo.append(j)
    if len(topo) != n:
        raise ValueError("the network is not a tree")
    m_len = np.zeros(n, dtype=np.int64)  # longest replenishment time into each stage
    for i in topo:
        m_len[i] = lt[i] + (max(m_len[p] for p in preds[i]) if preds[i] else si[i])
    var = ext_sd**2
    for i in reversed(topo):
        var[i] += sum(r * r * var[j] for j, r in succs[i])
    sigma = np.sqrt(var)

    # labelling: peel leaves of the undirected tree; parent = the one unlabelled neighbour left
    nbrs = [set(preds[i]) | {j for j, _ in succs[i]} for i in range(n)]
    deg = np.array([len(x) for x in nbrs])
    if n > 1 and (deg == 0).any():
        raise ValueError("the network is not connected")
    labelled = np.zeros(n, dtype=bool)
    order: list[int] = []
    parent = np.full(n, -1)
    leaves = sorted(i for i in range(n) if deg[i] <= 1)
    while leaves:
        k = leaves.pop(0)
        if labelled[k]:
            continue
        labelled[k] = True
        order.append(k)
        rest = [j for j in nbrs[k] if not labelled[j]]
        if rest:
            parent[k] = rest[0]
            deg[rest[0]] -= 1
            if deg[rest[0]] == 1:
                leaves.append(rest[0])
                leaves.sort()
    if len(order) != n:
        raise ValueError("the network is not a tree")

    upstream_of = [set(p) for p in preds]  # i in upstream_of[k]: edge i -> k
    children: list[list[int]] = [[] for _ in range(n)]
    fun: dict[int, np.ndarray] = {}  # f_k(S) or g_k(SI)
    best_other: dict[int, np.ndarray] = {}  # argmin SI given S (f), S given SI (g)
    root_table = np.zeros((1, 1))
    for k in order:
        s_grid = np.arange(m_len[k] + 1)[:, None]
        si_grid = np.arange(m_len[k] - lt[k] + 1)[None, :]
        tau = si_grid + lt[k] - s_grid
        table = h[k] * z[k] * sigma[k] * np.sqrt(np.maximum(tau, 0)).astype(float)
        bad = (tau < 0) | (s_grid > s_max[k])
        if not preds[k]:
            bad = bad | (si_grid != si[k])
        table = np.where(bad, np.inf, table)
        for i in children[k]:
            if i in upstream_of[k]:  # supplier: SI_k >= S_i, pay min_{x <= SI} f_i(x)
                pm = np.minimum.accumulate(fun[i])
                table = table + pm[np.minimum(si_grid[0], m_len[i])][None, :]
            else:  # customer: SI_i >= S_k, pay min_{y >= S} g_i(y)
                sm = np.minimum.accumulate(fun[i][::-1])[::-1]
                table = table + sm[s_grid[:, 0]][:, None]
        p = parent[k]
        if p < 0:
            flat = int(np.argmin(table))
            if not np.isfinite(table.flat[flat]):
                raise ValueError("no feasible service times (check max_service_time)")
            root_table = table
        elif p in {j for j, _ in succs[k]}:  # parent downstream: f_k(S)
            fun[k] = table.min(axis=1)
            best_other[k] = table.argmin(axis=1)
        else:  # parent upstream: g_k(SI)
            fun[k] = table.min(axis=0)
            best_other[k] = table.argmin(axis=0)
        if p >= 0:
            children[p].append(k)

    s_opt = np.zeros(n, dtype=np.int64)
    si_opt = np.zeros(n, dtype=np.int64)
    root = order[-1]
    best = int(np.argmin(root_table))
    s_opt[root], si_opt[root] = divmod(best, root_table.shape[1])
    stack = [root]
    while stack:
        k = stack.pop()
        for i in children[k]:
            if i in upstream_of[k]:
                cand = fun[i][: min(si_opt[k], m_len[i]) + 1]
                s_opt[i] = int(np.argmin(cand))
                si_opt[i] = best_other[i][s_opt[i]]
            else:
                cand = fun[i][s_opt[k] :]
                si_opt[i] = s_opt[k] + int(np.argmin(cand))
                s_opt[i] = best_other[i][si_opt[i]]
            stack.append(i)

    tau = si_opt + lt - s_opt
    ss = z * sigma * np.sqrt(tau)
    out = pd.DataFrame(
        {
            "node_id": ids,
            "inbound_service_time": si_opt,
            "outbound_service_time": s_opt,
            "net_replenishment_time": tau,
            "demand_sd": sigma,
            "safety_stock": ss,
            "safety_stock_cost": h * ss,
        }
    )
    return GSMSolution(cost=float(root_table.flat[best]), nodes=out)


# --------------------------------------------------------------------------- one DC, many stores


@dataclass
class TwoEchelonPlan:
    """Safety stock placement for one DC feeding many stores, per SKU.

    ``summary``: one row per SKU with ``sku, dc_outbound_service_time`` (chosen ``S_dc``, days),
    ``dc_net_replenishment_time`` (days), ``dc_demand_sd`` (units/day, pooled over stores),
    ``dc_safety_stock`` (units), ``dc_cost``, ``stores_safety_stock`` (units, all stores),
    ``stores_cost``, ``total_cost`` (currency / period), ``cost_dc_decoupled`` (``S_dc = 0``: the
    DC covers its whole replenishment time, stores only their transfer time),
    ``cost_all_at_stores`` (``S_dc = SI_dc + T_dc``: no DC safety stock, stores cover the DC's
    lead time too), ``saving_vs_best_pure`` (>= 0). ``stores``: one row per SKU-store with ``sku,
    location_id, inbound_service_time, outbound_service_time, net_replenishment_time`` (days),
    ``safety_stock`` (units), ``safety_stock_cost``. ``cost_curve[sku, S]``: total cost for every
    ``S_dc`` on the grid (``inf`` beyond ``SI_dc + T_dc``), rows in ``summary`` order.
    """

    summary: pd.DataFrame
    stores: pd.DataFrame
    cost_curve: np.ndarray


def _int_column(frame: pd.DataFrame, name: str, default: int) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default, dtype=np.int64)
    v = frame[name].fillna(default).to_numpy(dtype=float)
    if (v < 0).any() or (v != np.round(v)).any():
        raise ValueError(f"{name} must be non-negative integers (days)")
    return v.astype(np.int64)


def place_two_echelon(dc: pd.DataFrame, stores: pd.DataFrame) -> TwoEchelonPlan:
    """GSM safety stock placement for one DC and its stores, vectorised over SKUs.

    ``dc`` (one row per SKU): ``sku``, ``processing_time`` (``T_dc``: supplier lead time into the
    DC, days), ``holding_cost`` (per unit per day, or any period matching the lead times), ``z``;
    optional ``inbound_service_time`` (``SI_dc``, default 0). ``stores`` (one row per SKU-store):
    ``sku``, ``location_id``, ``processing_time`` (``T_j``: DC-to-store transfer time, days),
    ``holding_cost``, ``z``, ``demand_sd`` (units/day); optional ``max_service_time`` (``s_j``,
    default 0: customers are served from the shelf).

    For ``S_dc`` in ``0..SI_dc + T_dc`` the cost is::

        C(S_dc) = h_dc z_dc sigma_dc sqrt(SI_dc + T_dc - S_dc)
                  + sum_j h_j z_j sigma_j sqrt(max(S_dc + T_j - s_j, 0))

    with ``sigma_dc^2 = sum_j sigma_j^2`` (risk pooling over independent stores). The store terms
    are grouped by ``(sku, T_j - s_j)`` with one ``bincount`` and expanded over the grid with one
    matrix product, so 25 M store rows cost a few passes over the data. When every ``s_j <= T_j``
    each term is concave in ``S_dc`` and the optimum is one of the two pure strategies
    (Graves & Willems 2000, sec. 3; Simpson 1958); when some ``s_j > T_j`` the store terms have a
    convex kink and an interior ``S_dc`` can win, which the grid search finds. Ties go to the
    smaller ``S_dc``.
    """
    for col in ("sku", "processing_time", "holding_cost", "z"):
        if col not in dc.columns:
            raise ValueError(f"dc is missing column {col!r}")
    for col in ("sku", "location_id", "processing_time", "holding_cost", "z", "demand_sd"):
        if col not in stores.columns:
            raise ValueError(f"stores is missing column {col!r}")
    if dc["sku"].duplicated().any():
        raise ValueError("dc has duplicate skus")
    sku_index = pd.Index(dc["sku"])
    code = sku_index.get_indexer(stores["sku"])
    if (code < 0).any():
        raise ValueError("stores has skus that are not in dc")
    n_sku = len(dc)
    t_dc = _int_column(dc, "processing_time", 0)
    si_dc = _int_column(dc, "inbound_service_time", 0)
    h_dc = dc["holding_cost"].to_numpy(dtype=float)
    z_dc = dc["z"].to_numpy(dtype=float)
    t_st = _int_column(stores, "processing_time", 0)
    s_st = _int_column(stores, "max_service_time", 0)
    sd = np.maximum(stores["demand_sd"].to_numpy(dtype=float), 0.0)
    w = stores["holding_cost"].to_numpy(dtype=float) * stores["z"].to_numpy(dtype=float) * sd

    sigma_dc = np.sqrt(np.bincount(code, weights=sd**2, minlength=n_sku))
    span = si_dc + t_dc  # S_dc ranges over 0..span
    grid = np.arange(int(span.max(initial=0)) + 1)
    # DC term
    dc_room = span[:, None] - grid[None, :]
    dc_term = (h_dc * z_dc * sigma_dc)[:, None] * np.sqrt(np.maximum(dc_room, 0))
    # store terms grouped by offset a = T_j - s_j: sum_j w_j sqrt(max(S + a_j, 0))
    a = t_st - s_st
    a_min = int(a.min(initial=0))
    n_a = int(a.max(initial=0)) - a_min + 1
    W = np.bincount(code * n_a + (a - a_min), weights=w, minlength=n_sku * n_a).reshape(n_sku, n_a)
    basis = np.sqrt(np.maximum(grid[None, :] + a_min + np.arange(n_a)[:, None], 0))
    st_term = W @ basis
    curve = np.where(dc_room >= 0, dc_term + st_term, np.inf)
    s_star = np.argmin(curve, axis=1)
    rows = np.arange(n_sku)

    tau_dc = span - s_star
    dc_ss = z_dc * sigma_dc * np.sqrt(tau_dc)
    tau_st = np.maximum(s_star[code] + t_st - s_st, 0)
    st_ss = stores["z"].to_numpy(dtype=float) * sd * np.sqrt(tau_st)
    st_cost = stores["holding_cost"].to_numpy(dtype=float) * st_ss
    total = curve[rows, s_star]
    c_decoupled = curve[:, 0]
    c_stores = curve[rows, span]
    summary = pd.DataFrame(
        {
            "sku": dc["sku"].to_numpy(),
            "dc_outbound_service_time": s_star,
            "dc_net_replenishment_time": tau_dc,
            "dc_demand_sd": sigma_dc,
            "dc_safety_stock": dc_ss,
            "dc_cost": h_dc * dc_ss,
            "stores_safety_stock": np.bincount(code, weights=st_ss, minlength=n_sku),
            "stores_cost": np.bincount(code, weights=st_cost, minlength=n_sku),
            "total_cost": total,
            "cost_dc_decoupled": c_decoupled,
            "cost_all_at_stores": c_stores,
        }
    )
    summary["saving_vs_best_pure"] = np.minimum(c_decoupled, c_stores) - total
    store_out = pd.DataFrame(
        {
            "sku": stores["sku"].to_numpy(),
            "location_id": stores["location_id"].to_numpy(),
            "inbound_service_time": s_star[code],
            "outbound_service_time": np.minimum(s_st, s_star[code] + t_st),
            "net_replenishment_time": tau_st,
            "safety_stock": st_ss,
            "safety_stock_cost": st_cost,
        }
    )
    return TwoEchelonPlan(summary=summary, stores=store_out, cost_curve=curve)
