"""Charts for the inventory assets (matplotlib Agg, PNG bytes): what planners would rather see."""

import io

import numpy as np
import pandas as pd


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def lead_time_pmf_png(pmf: pd.DataFrame, title: str = "Supplier lead-time distributions") -> bytes:
    """Step plot of the lead-time pmf of every supplier (columns: supplier_id, day, prob)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=90)
    for sup, g in pmf.groupby("supplier_id", sort=True):
        g = g.sort_values("day")
        ax.step(g["day"], g["prob"], where="mid", lw=1.2, label=str(sup))
    ax.set_xlabel("lead time (days)")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=4)
    return _png(fig)


def service_vs_target_png(segments: pd.DataFrame, title: str) -> bytes:
    """Achieved vs target cycle service level per segment, ours and the static rule."""
    plt = _plt()
    seg = segments.drop(index="all", errors="ignore")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=90)
    x = np.arange(len(seg))
    labels = [str(i) for i in seg.index]
    ax = axes[0]
    ax.bar(x - 0.2, seg["csl_ours"], 0.4, label="ours")
    ax.bar(x + 0.2, seg["csl_static"], 0.4, label="static rule")
    ax.scatter(x, seg["target_csl"], color="k", marker="_", s=300, label="target", zorder=3)
    ax.set_xticks(x, labels, fontsize=7)
    lo = float(np.nanmin(np.r_[seg["csl_ours"], seg["csl_static"], seg["target_csl"]]))
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_title("cycle service level")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.bar(x - 0.2, seg["avg_on_hand_value_ours"], 0.4, label="ours")
    ax.bar(x + 0.2, seg["avg_on_hand_value_static"], 0.4, label="static rule")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_title("average inventory value")
    ax.legend(fontsize=7)
    fig.suptitle(title)
    return _png(fig)


def what_if_png(table: pd.DataFrame) -> bytes:
    """Inventory investment and expected service per scenario against the base plan."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.4), dpi=90)
    x = np.arange(len(table))
    ax.bar(x, table["investment_change_pct"], color="tab:blue")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, table["scenario"], fontsize=7, rotation=15)
    ax.set_ylabel("inventory investment vs base (%)")
    ax2 = ax.twinx()
    ax2.plot(x, table["expected_csl"], "o-", color="tab:red")
    ax2.set_ylabel("expected cycle service level", color="tab:red")
    ax.set_title("What-if scenarios")
    return _png(fig)


def placement_png(summary: pd.DataFrame, top: int = 25) -> bytes:
    """Safety-stock cost per SKU: chosen placement vs the two pure strategies (largest SKUs)."""
    plt = _plt()
    s = summary.nlargest(top, "total_cost")
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=90)
    x = np.arange(len(s))
    ax.bar(x - 0.27, s["cost_all_at_stores"], 0.27, label="all at stores")
    ax.bar(x, s["cost_dc_decoupled"], 0.27, label="DC decoupled")
    ax.bar(x + 0.27, s["total_cost"], 0.27, label="optimal (GSM)")
    ax.set_xticks(x, s["sku"], fontsize=5, rotation=90)
    ax.set_ylabel("safety stock holding cost / day")
    ax.legend(fontsize=7)
    ax.set_title(f"Safety stock placement, {len(s)} largest SKU-DCs")
    return _png(fig)
