"""Realised accuracy of stored forecasts once their weeks have happened.

The backtest measures the forecaster on held-out weeks of the past; this measures the forecasts
the plan actually used, week by week as the actuals arrive. Input: one row per matured cell (a
stored forecast for a series and week, joined with that week's actual demand); output: one row
per ``(origin, horizon, demand_class)`` plus roll-ups over horizons (``horizon`` NA) and classes
(``demand_class = "all"``).

Metrics (the definitions of :mod:`ml.forecasting.backtest`, so the two tables compare), in units
of demand per series-week:

* ``mae`` = mean |q50 - actual|; ``wape`` = sum |q50 - actual| / sum actual;
* ``bias`` = sum (q50 - actual) / sum actual (positive = over-forecast, as in the backtest: the
  median; a right-skewed count has median < mean, so ``mean_bias`` = sum (mean - actual) / sum
  actual is given too and is the one to read for the point forecast's bias);
* ``pinball`` = mean pinball loss over the stored quantile levels;
* ``coverage_80`` / ``coverage_90`` = share of actuals inside [q10, q90] / [q05, q95];
* ``pit_coverage_80`` / ``pit_coverage_90`` = mean probability that the randomised PIT of the
  actual under the stored predictive distribution (negative binomial with the stored mean and
  variance; Poisson when variance <= mean) lies in the central 80/90% interval. For integer
  demand this is the calibration figure: exact for a calibrated forecast, where the closed
  interval coverage is biased upwards by the discreteness of integer quantiles.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ml.forecasting.distributions import count_cdf, pinball_loss, randomized_coverage

ACCURACY_COLUMNS: tuple[str, ...] = (
    "origin",
    "model_version",
    "horizon",
    "demand_class",
    "n_series",
    "n_cells",
    "actual_units",
    "forecast_units",
    "mae",
    "wape",
    "bias",
    "mean_bias",
    "pinball",
    "coverage_80",
    "coverage_90",
    "pit_coverage_80",
    "pit_coverage_90",
)


def cell_scores(cells: pd.DataFrame, quantile_columns: Mapping[str, float]) -> pd.DataFrame:
    """Per-cell errors, pinball loss, interval hits and randomised-PIT coverage probabilities.

    ``cells`` needs ``actual``, ``mean``, ``variance`` and the quantile columns named in
    ``quantile_columns`` (column -> level, e.g. ``{"q05": 0.05}``; 0.05/0.1/0.5/0.9/0.95 must be
    among them). Returns the per-cell columns :func:`realised_accuracy` aggregates.
    """
    by_level = {round(float(a), 6): c for c, a in quantile_columns.items()}
    for need in (0.05, 0.1, 0.5, 0.9, 0.95):
        if need not in by_level:
            raise ValueError(f"the forecast has no {need:g} quantile column")
    a = cells["actual"].to_numpy(dtype=float)
    med = cells[by_level[0.5]].to_numpy(dtype=float)
    mu = cells["mean"].to_numpy(dtype=float)
    var = cells["variance"].to_numpy(dtype=float)
    pl = np.mean(
        [pinball_loss(a, cells[c].to_numpy(dtype=float), al) for c, al in quantile_columns.items()],
        axis=0,
    )
    below, at = count_cdf(a - 1, mu, var), count_cdf(a, mu, var)
    out = pd.DataFrame(
        {
            "actual": a,
            "forecast": mu,
            "abs_err": np.abs(med - a),
            "err": med - a,
            "mean_err": mu - a,
            "pinball": pl,
            "in_80": (a >= cells[by_level[0.1]]) & (a <= cells[by_level[0.9]]),
            "in_90": (a >= cells[by_level[0.05]]) & (a <= cells[by_level[0.95]]),
            "pit_80": randomized_coverage(below, at, 0.8),
            "pit_90": randomized_coverage(below, at, 0.9),
        },
        index=cells.index,
    )
    out["in_80"] = out["in_80"].astype(float)
    out["in_90"] = out["in_90"].astype(float)
    return out


def realised_accuracy(
    cells: pd.DataFrame,
    quantile_columns: Mapping[str, float],
    keys: Sequence[str] = ("sku", "location_id"),
) -> pd.DataFrame:
    """Accuracy per origin x horizon x demand class, with roll-ups; columns :data:`ACCURACY_COLUMNS`.

    ``cells``: one row per matured forecast cell with ``origin``, ``model_version``, ``horizon``,
    ``demand_class``, the series ``keys``, ``actual`` (units) and the forecast columns
    (see :func:`cell_scores`). Roll-up rows have ``horizon`` = NA (all horizons) and/or
    ``demand_class`` = ``"all"``. Empty input gives an empty frame with the same columns.
    """
    if cells.empty:
        out = pd.DataFrame({c: [] for c in ACCURACY_COLUMNS})
        out["horizon"] = out["horizon"].astype("Int64")
        return out
    s = cell_scores(cells, quantile_columns)
    s["origin"] = pd.to_datetime(cells["origin"]).to_numpy()
    s["model_version"] = cells["model_version"].astype(str).to_numpy()
    s["horizon"] = cells["horizon"].astype(int).to_numpy()
    s["demand_class"] = cells["demand_class"].astype(str).to_numpy()
    s["series_id"] = cells.groupby(list(keys), sort=False).ngroup().to_numpy()
    frames = []
    for by_h in (True, False):
        for by_c in (True, False):
            work = s.copy()
            if not by_h:
                work["horizon"] = -1
            if not by_c:
                work["demand_class"] = "all"
            frames.append(_aggregate(work))
    out = pd.concat(frames, ignore_index=True)
    out["horizon"] = out["horizon"].astype("Int64").where(out["horizon"] >= 0)
    out = out.sort_values(
        ["origin", "demand_class", "horizon"], na_position="first", ignore_index=True
    )
    return out[list(ACCURACY_COLUMNS)]


def _aggregate(work: pd.DataFrame) -> pd.DataFrame:
    g = work.groupby(["origin", "model_version", "horizon", "demand_class"], sort=True)
    out = g.agg(
        n_series=("series_id", "nunique"),
        n_cells=("actual", "size"),
        actual_units=("actual", "sum"),
        forecast_units=("forecast", "sum"),
        mae=("abs_err", "mean"),
        abs_err=("abs_err", "sum"),
        err=("err", "sum"),
        mean_err=("mean_err", "sum"),
        pinball=("pinball", "mean"),
        coverage_80=("in_80", "mean"),
        coverage_90=("in_90", "mean"),
        pit_coverage_80=("pit_80", "mean"),
        pit_coverage_90=("pit_90", "mean"),
    ).reset_index()
    units = out["actual_units"].where(out["actual_units"] > 0)
    out["wape"] = out.pop("abs_err") / units
    out["bias"] = out.pop("err") / units
    out["mean_bias"] = out.pop("mean_err") / units
    return out


def accuracy_chart_png(accuracy: pd.DataFrame, title: str = "Realised accuracy") -> bytes:
    """Accuracy (WAPE, pinball) and coverage (closed and randomised PIT) over origins; PNG bytes.

    Uses the roll-up rows (all horizons, all classes) of :func:`realised_accuracy`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = accuracy[accuracy["horizon"].isna() & (accuracy["demand_class"] == "all")]
    top = top.sort_values("origin")
    x = pd.to_datetime(top["origin"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=90)
    ax1.plot(x, top["wape"], marker="o", label="WAPE")
    ax1.set_ylabel("WAPE")
    ax1b = ax1.twinx()
    ax1b.plot(x, top["pinball"], marker="s", color="C1", label="pinball (units)")
    ax1b.set_ylabel("pinball loss (units)")
    ax1.set_title("accuracy by forecast origin", fontsize=9)
    lines = ax1.get_lines() + ax1b.get_lines()
    ax1.legend(lines, [str(ln.get_label()) for ln in lines], fontsize=7, loc="best")
    for col, nominal, color, style in (
        ("coverage_80", 0.8, "C0", "--"),
        ("pit_coverage_80", 0.8, "C0", "-"),
        ("coverage_90", 0.9, "C2", "--"),
        ("pit_coverage_90", 0.9, "C2", "-"),
    ):
        ax2.plot(x, top[col], marker="o", ls=style, color=color, label=col)
        ax2.axhline(nominal, color=color, lw=0.7, alpha=0.5)
    ax2.set_ylim(0.5, 1.0)
    ax2.set_title("interval coverage (lines: nominal)", fontsize=9)
    ax2.legend(fontsize=7, loc="lower left")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
