from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.inventory.multi_echelon import place_two_echelon, solve_gsm_tree

# --------------------------------------------------------------------------- textbook instances
#
# Snyder & Shen, "Fundamentals of Supply Chain Theory" (2nd ed., Wiley 2019), ch. 6 (GSM). The
# instance data and the published optimal costs / committed service times are those encoded in
# the test suite of stockpyl (L. V. Snyder's companion library to the book:
# tests/instances_gsm_tree.py and tests/test_gsm_tree.py, TestOptimizeCommittedServiceTimes).

# Example 6.5: 1 -> 3 -> {2, 4}; stage 1 has an external supplier with si = 1; stages 2 and 4
# face demand with sd 1 and maximum service times 0 and 1; z = 1 everywhere.
# Published optimum: cost 2 sqrt(2) + sqrt(6) + 3, S = {1: 0, 2: 0, 3: 0, 4: 1}.
EX_6_5 = (
    pd.DataFrame(
        {
            "node_id": [1, 2, 3, 4],
            "processing_time": [2, 1, 1, 1],
            "holding_cost": [1.0, 3.0, 2.0, 3.0],
            "z": 1.0,
            "demand_sd": [0.0, 1.0, 0.0, 1.0],
            "max_service_time": [np.nan, 0, np.nan, 1],
            "inbound_service_time": [1, 0, 0, 0],
        }
    ),
    [(1, 3), (3, 2), (3, 4)],
)

# Figure 6.14: a ten-stage camera assembly/distribution tree; demand sd 10 at Build_Test_Pack,
# z = Phi^-1(0.95) at every stage. Published optima for the customer service time s = 2, 5, 8, 12.
F614_NAMES = [
    "Raw_Material",
    "Process_Wafers",
    "Package_Test_Wafers",
    "Imager_Base",
    "Imager_Assembly",
    "Ship_to_Final_Assembly",
    "Camera",
    "Circuit_Board",
    "Other_Parts",
    "Build_Test_Pack",
]
F614_EDGES = [
    ("Raw_Material", "Process_Wafers"),
    ("Process_Wafers", "Package_Test_Wafers"),
    ("Package_Test_Wafers", "Imager_Assembly"),
    ("Imager_Base", "Imager_Assembly"),
    ("Imager_Assembly", "Ship_to_Final_Assembly"),
    ("Camera", "Build_Test_Pack"),
    ("Ship_to_Final_Assembly", "Build_Test_Pack"),
    ("Circuit_Board", "Build_Test_Pack"),
    ("Other_Parts", "Build_Test_Pack"),
]
# published S per stage, in F614_NAMES order
F614_CASES = [
    (2, 18.8240044725922, [0, 3, 5, 4, 7, 0, 0, 0, 0, 2]),
    (5, 12.4686888061037, [0, 3, 5, 4, 0, 3, 3, 3, 3, 5]),
    (8, 3.25788236403285, [0, 3, 1, 1, 3, 6, 6, 4, 3, 8]),
    (12, 0.232617430735335, [0, 3, 5, 4, 7, 10, 6, 4, 3, 12]),
]

# Problem 6.9: raw materials 6 -> 5 -> 3 and 4 -> 3, stage 3 feeds retailers 1 and 2
# (demand sd 4.1 and 6.2 per day), z = 4, holding cost = 20%/year of the stage's value per day.
# Published optima for the retailers' service times (s1, s2) = (3, 3), (0, 7), (21, 5).
P69_CASES = [
    ((3, 3), 15.649530249501, [3, 3, 0, 0, 0, 2]),
    ((0, 7), 13.121240238718, [0, 7, 0, 0, 0, 2]),
    ((21, 5), 10.5811190103555, [7, 5, 0, 0, 0, 2]),
]


def test_example_6_5() -> None:
    sol = solve_gsm_tree(*EX_6_5)
    assert sol.cost == pytest.approx(2 * np.sqrt(2) + np.sqrt(6) + 3.0, abs=1e-12)
    assert sol.nodes["outbound_service_time"].tolist() == [0, 0, 0, 1]
    nodes = sol.nodes.set_index("node_id")
    # net demand of the upstream stages pools both retailers: sqrt(1 + 1)
    assert nodes.loc[3, "demand_sd"] == pytest.approx(np.sqrt(2))
    assert nodes.loc[1, "net_replenishment_time"] == 3  # si 1 + T 2 - S 0
    assert nodes["safety_stock_cost"].sum() == pytest.approx(sol.cost)


@pytest.mark.parametrize(("s_out", "cost", "service"), F614_CASES)
def test_figure_6_14(s_out: int, cost: float, service: list[int]) -> None:
    nodes = pd.DataFrame(
        {
            "node_id": F614_NAMES,
            "processing_time": [2, 3, 2, 4, 2, 3, 6, 4, 3, 2],
            "holding_cost": [0.01, 0.03, 0.04, 0.06, 0.12, 0.13, 0.20, 0.08, 0.04, 0.50],
            "z": stats.norm.ppf(0.95),
            "demand_sd": [0.0] * 9 + [10.0],
            "max_service_time": [np.nan] * 9 + [s_out],
        }
    )
    sol = solve_gsm_tree(nodes, F614_EDGES)
    assert sol.cost == pytest.approx(cost, abs=1e-10)
    assert sol.nodes["outbound_service_time"].tolist() == service


def test_problem_6_7_serial() -> None:
    # Problem 6.7: forming (3) -> firing (2) -> glazing (1); si = 1 at forming, demand sd 10, z = 4.
    # Published optimum: cost 160 sqrt(5), S = {1: 0, 2: 3, 3: 2}.
    nodes = pd.DataFrame(
        {
            "node_id": [3, 2, 1],
            "processing_time": [1, 1, 2],
            "holding_cost": [2.0, 3.0, 4.0],
            "z": 4.0,
            "demand_sd": [0.0, 0.0, 10.0],
            "inbound_service_time": [1, 0, 0],
        }
    )
    sol = solve_gsm_tree(nodes, [(3, 2), (2, 1)])
    assert sol.cost == pytest.approx(160 * np.sqrt(5), abs=1e-9)
    assert sol.nodes["outbound_service_time"].tolist() == [2, 3, 0]


@pytest.mark.parametrize(("s_out", "cost", "service"), P69_CASES)
def test_problem_6_9(s_out: tuple[int, int], cost: float, service: list[int]) -> None:
    nodes = pd.DataFrame(
        {
            "node_id": [1, 2, 3, 4, 5, 6],
            "processing_time": [7, 7, 21, 3, 8, 2],
            "holding_cost": np.array([220, 140, 90, 5, 20, 7.5]) * 0.2 / 365,
            "z": 4.0,
            "demand_sd": [4.1, 6.2, 0, 0, 0, 0],
            "max_service_time": [s_out[0], s_out[1], np.nan, np.nan, np.nan, np.nan],
        }
    )
    sol = solve_gsm_tree(nodes, [(6, 5), (4, 3), (5, 3), (3, 1), (3, 2)])
    assert sol.cost == pytest.approx(cost, abs=1e-10)
    assert sol.nodes["outbound_service_time"].tolist() == service


def test_single_stage() -> None:
    # stockpyl's single-stage instance: T 1, h 1, z 2, sd 1 -> cost 2 with S = 0
    nodes = pd.DataFrame(
        {
            "node_id": [1],
            "processing_time": [1],
            "holding_cost": [1.0],
            "z": [2.0],
            "demand_sd": [1.0],
        }
    )
    sol = solve_gsm_tree(nodes)
    assert sol.cost == pytest.approx(2.0)
    assert sol.nodes["outbound_service_time"].tolist() == [0]


def test_units_required_scale_upstream_demand() -> None:
    # two units of the component per end item: the component stage sees sd 2 * 3
    nodes = pd.DataFrame(
        {
            "node_id": ["part", "item"],
            "processing_time": [4, 1],
            "holding_cost": [1.0, 1.0],
            "z": 1.0,
            "demand_sd": [0.0, 3.0],
        }
    )
    sol = solve_gsm_tree(
        nodes, pd.DataFrame({"upstream": ["part"], "downstream": ["item"], "units_required": [2]})
    )
    assert sol.nodes.set_index("node_id").loc["part", "demand_sd"] == pytest.approx(6.0)
    # options: decouple at part (6*2 + 3*1 = 15) or push all to item (3*sqrt(5) = 6.71)
    assert sol.cost == pytest.approx(3 * np.sqrt(5))


def test_rejects_non_trees() -> None:
    nodes = pd.DataFrame(
        {
            "node_id": [1, 2, 3],
            "processing_time": 1,
            "holding_cost": 1.0,
            "z": 1.0,
            "demand_sd": 1.0,
        }
    )
    with pytest.raises(ValueError, match="edges"):
        solve_gsm_tree(nodes, [(1, 2), (2, 3), (1, 3)])
    with pytest.raises(ValueError, match="not a tree|not connected"):
        solve_gsm_tree(nodes, [(1, 2), (2, 1)])


# --------------------------------------------------------------------------- brute force


def _brute_force(nodes: pd.DataFrame, edges: list[tuple[int, int]]) -> float:
    """Enumerate every vector of outbound service times with SI_j = max of the suppliers' S."""
    n = len(nodes)
    T = nodes["processing_time"].to_numpy()
    preds = [[u for u, d in edges if d == j] for j in range(n)]
    succs = [[d for u, d in edges if u == j] for j in range(n)]
    si = nodes["inbound_service_time"].to_numpy()
    s_max = nodes["max_service_time"].to_numpy(dtype=float)
    faces = np.array([not s for s in succs]) | (nodes["demand_sd"].to_numpy() > 0)
    s_max = np.where(np.isnan(s_max), np.where(faces, 0, np.inf), s_max)

    def longest(j: int) -> int:
        return int(T[j] + (max(longest(i) for i in preds[j]) if preds[j] else si[j]))

    def var(j: int) -> float:
        return float(nodes["demand_sd"].iloc[j] ** 2 + sum(var(k) for k in succs[j]))

    sigma = np.sqrt([var(j) for j in range(n)])
    w = (nodes["holding_cost"] * nodes["z"]).to_numpy() * sigma
    grids = np.meshgrid(*[np.arange(longest(j) + 1) for j in range(n)], indexing="ij")
    S = np.stack([g.ravel() for g in grids], axis=1)
    SI = np.stack(
        [S[:, preds[j]].max(axis=1) if preds[j] else np.full(len(S), si[j]) for j in range(n)],
        axis=1,
    )
    tau = SI + T - S
    ok = (tau >= 0).all(axis=1) & (s_max >= S).all(axis=1)
    cost = (w * np.sqrt(np.maximum(tau, 0))).sum(axis=1)
    return float(cost[ok].min())


def _random_tree(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    edges = []
    for j in range(1, n):
        i = int(rng.integers(0, j))
        edges.append((i, j) if rng.random() < 0.5 else (j, i))
    has_succ = {u for u, _ in edges}
    sd = np.where([j not in has_succ for j in range(n)], rng.uniform(0.5, 5, n), 0.0)
    sd = np.where(rng.random(n) < 0.2, rng.uniform(0.5, 3, n), sd)  # some internal demand too
    nodes = pd.DataFrame(
        {
            "node_id": np.arange(n),
            "processing_time": rng.integers(0, 3, n),
            "holding_cost": rng.uniform(0.5, 3.0, n),
            "z": rng.uniform(1.0, 2.5, n),
            "demand_sd": sd,
            "max_service_time": np.where(
                [j not in has_succ for j in range(n)], rng.integers(0, 3, n), np.nan
            ),
            "inbound_service_time": rng.integers(0, 3, n),
        }
    )
    return nodes, edges


def test_dp_matches_brute_force_on_random_trees() -> None:
    rng = np.random.default_rng(17)
    for _ in range(60):
        n = int(rng.integers(2, 6))
        nodes, edges = _random_tree(rng, n)
        sol = solve_gsm_tree(nodes, edges)
        assert sol.cost == pytest.approx(_brute_force(nodes, edges), abs=1e-9)
        # the reported service times are feasible and reproduce the cost
        out = sol.nodes
        assert (out["net_replenishment_time"] >= 0).all()
        assert out["safety_stock_cost"].sum() == pytest.approx(sol.cost, abs=1e-9)
        S = out["outbound_service_time"].to_numpy()
        SI = out["inbound_service_time"].to_numpy()
        for u, d in edges:
            assert SI[d] >= S[u]


# --------------------------------------------------------------------------- two echelons


def _two_echelon_instance(
    rng: np.random.Generator, n_sku: int, interior: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    dc = pd.DataFrame(
        {
            "sku": [f"K{i}" for i in range(n_sku)],
            "processing_time": rng.integers(1, 15, n_sku),
            "inbound_service_time": rng.integers(0, 3, n_sku),
            "holding_cost": rng.uniform(0.2, 1.0, n_sku),
            "z": rng.uniform(1.0, 2.5, n_sku),
        }
    )
    n_st = rng.integers(1, 7, n_sku)
    sku = np.repeat(dc["sku"].to_numpy(), n_st)
    m = sku.size
    t = rng.integers(0, 5, m)
    stores = pd.DataFrame(
        {
            "sku": sku,
            "location_id": [f"L{j}" for j in range(m)],
            "processing_time": t,
            "holding_cost": rng.uniform(0.5, 2.0, m),
            "z": rng.uniform(1.0, 2.5, m),
            "demand_sd": rng.uniform(0.0, 6.0, m),
            "max_service_time": t + rng.integers(1, 5, m) if interior else rng.integers(0, 1 + t),
        }
    )
    return dc, stores


def _as_tree(dc_row: pd.Series, st: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    nodes = pd.concat(
        [
            pd.DataFrame(
                {
                    "node_id": ["DC"],
                    "processing_time": [dc_row["processing_time"]],
                    "holding_cost": [dc_row["holding_cost"]],
                    "z": [dc_row["z"]],
                    "demand_sd": [0.0],
                    "inbound_service_time": [dc_row["inbound_service_time"]],
                    "max_service_time": [np.nan],
                }
            ),
            st.rename(columns={"location_id": "node_id"})[
                ["node_id", "processing_time", "holding_cost", "z", "demand_sd", "max_service_time"]
            ],
        ],
        ignore_index=True,
    )
    return nodes, [("DC", j) for j in st["location_id"]]


@pytest.mark.parametrize("interior", [False, True])
def test_two_echelon_matches_tree_dp(interior: bool) -> None:
    rng = np.random.default_rng(4 if interior else 5)
    dc, stores = _two_echelon_instance(rng, 40, interior=interior)
    plan = place_two_echelon(dc, stores)
    by_sku = stores.groupby("sku", sort=False)
    for i, row in dc.iterrows():
        nodes, edges = _as_tree(row, by_sku.get_group(row["sku"]))
        sol = solve_gsm_tree(nodes, edges)
        assert plan.summary.loc[i, "total_cost"] == pytest.approx(sol.cost, abs=1e-9)
    s = plan.summary
    np.testing.assert_allclose(s["dc_cost"] + s["stores_cost"], s["total_cost"], atol=1e-9)
    assert (s["saving_vs_best_pure"] >= -1e-12).all()
    # stores that may quote customers more than their transfer time make interior S_dc pay
    assert (s["saving_vs_best_pure"] > 1e-6).any() == interior


def test_two_echelon_cost_is_concave_and_optimum_is_extreme() -> None:
    # with s_j <= T_j every term of C(S_dc) is a sqrt of an affine, non-negative argument:
    # concave on the grid, so the optimum is S_dc = 0 or S_dc = SI + T
    rng = np.random.default_rng(9)
    dc, stores = _two_echelon_instance(rng, 300)
    plan = place_two_echelon(dc, stores)
    span = (dc["inbound_service_time"] + dc["processing_time"]).to_numpy()
    for i in range(len(dc)):
        c = plan.cost_curve[i, : span[i] + 1]
        assert np.isinf(plan.cost_curve[i, span[i] + 1 :]).all()
        assert (np.diff(c, 2) <= 1e-9).all()
    s = plan.summary
    at_end = (s["dc_outbound_service_time"] == 0) | (s["dc_outbound_service_time"] == span)
    assert at_end.all()
    np.testing.assert_allclose(s["saving_vs_best_pure"], 0.0, atol=1e-9)
    # both pure strategies occur on this data
    assert (s["dc_outbound_service_time"] == 0).any() and (
        s["dc_outbound_service_time"] == span
    ).any()


def test_two_echelon_interior_optimum_when_stores_quote_lead_times() -> None:
    # DC: T 4, h 1, z 1; one store with T 1 that may quote customers 3 days (s > T), sd 1, h 1.5.
    # C(S) = sqrt(4 - S) + 1.5 sqrt(max(S - 2, 0)): 2, 1.732, 1.414, 2.5, 2.121 for S = 0..4
    dc = pd.DataFrame({"sku": ["A"], "processing_time": [4], "holding_cost": [1.0], "z": [1.0]})
    stores = pd.DataFrame(
        {
            "sku": ["A"],
            "location_id": ["s1"],
            "processing_time": [1],
            "holding_cost": [1.5],
            "z": [1.0],
            "demand_sd": [1.0],
            "max_service_time": [3],
        }
    )
    plan = place_two_echelon(dc, stores)
    np.testing.assert_allclose(
        plan.cost_curve[0], [2.0, np.sqrt(3), np.sqrt(2), 2.5, 1.5 * np.sqrt(2)], atol=1e-12
    )
    row = plan.summary.iloc[0]
    assert row["dc_outbound_service_time"] == 2
    assert row["total_cost"] == pytest.approx(np.sqrt(2))
    assert row["cost_dc_decoupled"] == pytest.approx(2.0)
    assert row["cost_all_at_stores"] == pytest.approx(1.5 * np.sqrt(2))
    assert row["saving_vs_best_pure"] == pytest.approx(2.0 - np.sqrt(2))  # vs decoupled DC
    st = plan.stores.iloc[0]
    assert (
        st["inbound_service_time"],
        st["outbound_service_time"],
        st["net_replenishment_time"],
    ) == (2, 3, 0)


def test_two_echelon_hand_computed() -> None:
    # DC: T 7, h 1, z 2; stores: T 2, h 2, z 2, sd 3 and 4 -> pooled sd 5.
    # decoupled (S_dc = 0): 1*2*5*sqrt(7) + 2*2*(3 + 4)*sqrt(2) = 66.06
    # all at stores (S_dc = 7): 2*2*(3 + 4)*sqrt(9) = 84
    dc = pd.DataFrame({"sku": ["A"], "processing_time": [7], "holding_cost": [1.0], "z": [2.0]})
    stores = pd.DataFrame(
        {
            "sku": "A",
            "location_id": ["s1", "s2"],
            "processing_time": [2, 2],
            "holding_cost": 2.0,
            "z": 2.0,
            "demand_sd": [3.0, 4.0],
        }
    )
    plan = place_two_echelon(dc, stores)
    row = plan.summary.iloc[0]
    decoupled = 10 * np.sqrt(7) + 28 * np.sqrt(2)
    assert row["dc_outbound_service_time"] == 0
    assert row["dc_demand_sd"] == pytest.approx(5.0)
    assert row["dc_safety_stock"] == pytest.approx(10 * np.sqrt(7))
    assert row["total_cost"] == pytest.approx(decoupled)
    assert row["cost_dc_decoupled"] == pytest.approx(decoupled)
    assert row["cost_all_at_stores"] == pytest.approx(84.0)
    np.testing.assert_allclose(plan.stores["safety_stock"], [6 * np.sqrt(2), 8 * np.sqrt(2)])
    assert plan.stores["net_replenishment_time"].tolist() == [2, 2]
    # a cheap DC lead time flips the decision: T_dc = 1 -> all stock at the stores is cheaper
    plan = place_two_echelon(dc.assign(processing_time=[1], holding_cost=[5.0]), stores)
    assert plan.summary.loc[0, "dc_outbound_service_time"] == 1
    assert plan.summary.loc[0, "total_cost"] == pytest.approx(28 * np.sqrt(3))


def test_two_echelon_rejects_unknown_sku() -> None:
    dc = pd.DataFrame({"sku": ["A"], "processing_time": [3], "holding_cost": [1.0], "z": [1.0]})
    stores = pd.DataFrame(
        {
            "sku": ["B"],
            "location_id": ["s"],
            "processing_time": [1],
            "holding_cost": [1.0],
            "z": [1.0],
            "demand_sd": [1.0],
        }
    )
    with pytest.raises(ValueError, match="not in dc"):
        place_two_echelon(dc, stores)
