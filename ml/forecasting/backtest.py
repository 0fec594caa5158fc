"""Rolling-origin backtests, accuracy tables and charts for quantile forecasts.

Everything works on sktime-shaped frames: actuals ``y`` with index ``(*keys, period)`` and one
column; quantile forecasts as returned by ``predict_quantiles`` (columns ``(var, alpha)``).

Metrics (per model and segment, over all held-out (series, period) cells, units of demand):

* ``mae``, ``rmse`` of the median forecast (quantile 0.5);
* ``wape`` = sum |y - median| / sum y; ``mape`` = mean |y - median| / y over cells with y > 0 only;
* ``bias`` = sum(median - y) / sum y (positive = over-forecast);
* ``pinball`` = mean pinball loss over all quantile levels, ``pinball_q<alpha>`` per level;
* ``coverage_<c>`` = share of actuals inside the central ``c``% interval, bounds included, for
  every interval whose two quantiles are present (80/90/95/98 with
  :data:`~ml.forecasting.distributions.EVAL_ALPHAS`); ``coverage_<c>_open`` excludes the bounds.
  For integer demand a calibrated forecast has ``coverage_<c>_open <= c% <= coverage_<c>``: the
  quantiles of a count distribution are integers, so an interval cannot hold exactly c% of the
  probability, and when P(demand = 0) >= (100 - c)/2 % the lower bound is 0 and the closed interval
  holds at least (50 + c/2)%. Intermittent and lumpy series therefore show closed coverage above
  nominal even when perfectly calibrated.
* ``pit_coverage_<c>`` (forecasters with a predictive CDF, count data): the mean probability that
  the randomised PIT (Czado, Gneiting & Held 2009) lies in the central ``c``% interval. For a
  calibrated count forecast it equals ``c``% exactly, whatever the discreteness, so it is the
  calibration figure for integer demand; the baselines only give quantiles and have NaN here.

Baselines measured in the same run: seasonal naive with empirical intervals (each series' own
seasonal differences ``y_t - y_{t-sp}`` added to the forecast as residual quantiles) and plain
per-series statsforecast ``AutoETS`` with its Gaussian intervals (clipped at zero).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ml.forecasting.classify import classify_array
from ml.forecasting.distributions import EVAL_ALPHAS, pinball_loss

INTERVALS: tuple[int, ...] = (80, 90, 95, 98)


def _alpha_columns(q: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    cols = q.columns
    alphas = np.array([c[-1] if isinstance(c, tuple) else c for c in cols], dtype=float)
    order = np.argsort(alphas)
    return alphas[order], q.to_numpy(dtype=float)[:, order]


def score_quantile_forecasts(
    y_true: pd.DataFrame | pd.Series,
    quantiles: pd.DataFrame,
    segments: pd.Series | None = None,
) -> pd.DataFrame:
    """Accuracy table, one row per segment plus ``all``, for one model's quantile forecasts.

    ``segments`` maps a series key (the index without its last level) to a segment name.
    Cells without an actual are ignored.
    """
    y = y_true.iloc[:, 0] if isinstance(y_true, pd.DataFrame) else y_true
    a = y.reindex(quantiles.index).to_numpy(dtype=float)
    alphas, Q = _alpha_columns(quantiles)
    keys = quantiles.index.droplevel(-1) if isinstance(quantiles.index, pd.MultiIndex) else None
    seg = None
    if segments is not None and keys is not None:
        seg = segments.reindex(keys).astype(object).fillna("unknown").to_numpy()
    return score_arrays(a, Q, alphas, seg, keys)


def score_arrays(
    a: np.ndarray,
    Q: np.ndarray,
    alphas: np.ndarray,
    seg: np.ndarray | None = None,
    keys: pd.Index | None = None,
    pit: np.ndarray | None = None,
) -> pd.DataFrame:
    """Accuracy table from actuals ``a[cells]`` and quantiles ``Q[cells, alphas]``.

    ``seg`` gives each cell's segment (None: only the ``all`` row); ``keys`` each cell's series
    key (for counting series). Cells with a missing actual or quantile are ignored. ``pit``
    (``[cells, len(INTERVALS)]``, optional) holds each cell's probability that its randomised PIT
    falls in the central 80/90/95/98% interval; its means are reported as ``pit_coverage_<c>``.
    """
    ok = ~np.isnan(a) & ~np.isnan(Q).any(axis=1)
    groups = [("all", ok)]
    if seg is not None:
        groups += [(s, ok & (seg == s)) for s in pd.unique(seg[ok])]
    rows = []
    for name, m in groups:
        if m.sum() == 0:
            continue
        row = {
            "segment": name,
            **_metrics(a[m], Q[m], alphas, keys[m] if keys is not None else None),
        }
        if pit is not None:
            for j, c in enumerate(INTERVALS):
                vals = pit[m, j]
                row[f"pit_coverage_{c}"] = (
                    float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
                )
        rows.append(row)
    return pd.DataFrame(rows)


def _metrics(a: np.ndarray, Q: np.ndarray, alphas: np.ndarray, keys) -> dict[str, float]:
    med_idx = int(np.argmin(np.abs(alphas - 0.5)))
    p = Q[:, med_idx]
    e = p - a
    out: dict[str, float] = {
        "n_series": int(pd.Index(keys).nunique()) if keys is not None else 1,
        "n_cells": int(a.size),
        "mae": float(np.mean(np.abs(e))),
        "rmse": float(np.sqrt(np.mean(e**2))),
        "wape": float(np.abs(e).sum() / a.sum()) if a.sum() > 0 else np.nan,
        "mape": float(np.mean(np.abs(e[a > 0]) / a[a > 0])) if (a > 0).any() else np.nan,
        "bias": float(e.sum() / a.sum()) if a.sum() > 0 else np.nan,
    }
    pls = [pinball_loss(a, Q[:, j], al).mean() for j, al in enumerate(alphas)]
    out["pinball"] = float(np.mean(pls))
    for al, pl in zip(alphas, pls, strict=True):
        out[f"pinball_q{al:g}"] = float(pl)
    for c in INTERVALS:
        lo, hi = 0.5 - c / 200, 0.5 + c / 200
        il = np.nonzero(np.isclose(alphas, lo))[0]
        ih = np.nonzero(np.isclose(alphas, hi))[0]
        if il.size and ih.size:
            lo_q, hi_q = Q[:, il[0]], Q[:, ih[0]]
            out[f"coverage_{c}"] = float(np.mean((a >= lo_q) & (a <= hi_q)))
            out[f"coverage_{c}_open"] = float(np.mean((a > lo_q) & (a < hi_q)))
    return out


def _target_index(y_train: pd.DataFrame, horizon: int, freq: str | None) -> pd.MultiIndex:
    keys = y_train.index.droplevel(-1).unique()
    times = y_train.index.get_level_values(-1).unique().sort_values()
    if isinstance(times, pd.PeriodIndex):
        fut = pd.period_range(times[-1] + 1, periods=horizon, freq=times.freq)
    elif isinstance(times, pd.DatetimeIndex):
        f = freq or pd.infer_freq(times)
        fut = pd.date_range(times[-1], periods=horizon + 1, freq=f)[1:]
    else:
        fut = pd.Index(np.arange(times[-1] + 1, times[-1] + 1 + horizon))
    tuples = [(*(k if isinstance(k, tuple) else (k,)), t) for k in keys for t in fut]
    return pd.MultiIndex.from_tuples(tuples, names=y_train.index.names)


def baseline_seasonal_naive_quantiles(
    y_train: pd.DataFrame,
    horizon: int,
    alphas: Sequence[float] = EVAL_ALPHAS,
    sp: int = 7,
    freq: str | None = None,
) -> pd.DataFrame:
    """Seasonal naive with empirical intervals (per-series seasonal-difference quantiles).

    Point: value one season earlier. Quantile ``alpha``: point + the ``alpha`` quantile of the
    series' own in-sample seasonal differences ``y_t - y_{t-sp}``, clipped at zero.
    """
    from ml.forecasting._panel import frame_to_panel
    from ml.forecasting.models import seasonal_naive

    panel = frame_to_panel(y_train, freq)
    v = panel.values
    point = seasonal_naive(v, horizon, sp)
    diffs = v[:, sp:] - v[:, :-sp] if v.shape[1] > sp else np.zeros((v.shape[0], 1))
    with np.errstate(all="ignore"):
        rq = np.nanquantile(diffs, list(alphas), axis=1).T  # [n, a]
    rq = np.nan_to_num(rq, nan=0.0)
    Q = np.maximum(point[:, :, None] + rq[:, None, :], 0.0)
    idx = _target_index(y_train, horizon, panel.freq or freq)
    name = y_train.columns[0]
    cols = pd.MultiIndex.from_product([[name], list(alphas)])
    return pd.DataFrame(Q.reshape(-1, len(alphas)), index=idx, columns=cols)


def statsforecast_to_quantiles(
    out: pd.DataFrame,
    model: str,
    index: pd.MultiIndex,
    alphas: Sequence[float] = EVAL_ALPHAS,
    sep: str = "|",
    name: str = "demand",
) -> pd.DataFrame:
    """Quantile frame from a statsforecast ``forecast(level=...)`` output (clipped at zero).

    ``unique_id`` must be the series key levels joined by ``sep``. Quantile 0.5 is the mean; a
    quantile ``alpha`` below 0.5 is the lower bound of the ``(1 - 2 alpha)`` interval.
    """
    out = out.reset_index() if "unique_id" not in out.columns else out
    parts = out["unique_id"].astype(str).str.split(sep, expand=True)
    n_key = index.nlevels - 1
    key_cols = [parts[i] for i in range(n_key)]
    tidx = pd.MultiIndex.from_arrays([*key_cols, pd.Index(out["ds"])], names=index.names)
    data = {}
    for a in alphas:
        if np.isclose(a, 0.5):
            col = model
        else:
            lev = round(abs(1 - 2 * a) * 100)
            col = f"{model}-{'lo' if a < 0.5 else 'hi'}-{lev}"
        data[(name, a)] = np.maximum(out[col].to_numpy(dtype=float), 0.0)
    q = pd.DataFrame(data, index=tidx)
    q.columns = pd.MultiIndex.from_tuples(q.columns)
    return q.reindex(index)


def statsforecast_autoets_quantiles(
    y_train: pd.DataFrame,
    horizon: int,
    sp: int,
    freq: str,
    alphas: Sequence[float] = EVAL_ALPHAS,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Plain per-series statsforecast ``AutoETS(season_length=sp)`` quantiles (baseline)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    idx = y_train.index
    uid = ["|".join(map(str, k[:-1])) for k in idx]
    df = pd.DataFrame(
        {"unique_id": uid, "ds": idx.get_level_values(-1), "y": y_train.iloc[:, 0].to_numpy()}
    )
    levels = sorted({round(abs(1 - 2 * a) * 100) for a in alphas if not np.isclose(a, 0.5)})
    out = StatsForecast(models=[AutoETS(season_length=sp)], freq=freq, n_jobs=n_jobs).forecast(
        df=df, h=horizon, level=levels
    )
    target = _target_index(y_train, horizon, freq)
    return statsforecast_to_quantiles(out, "AutoETS", target, alphas, name=y_train.columns[0])


def rolling_origin_backtest(
    y: pd.DataFrame,
    X: pd.DataFrame | None = None,
    forecasters: Mapping[str, Callable[[], object]] | None = None,
    horizon: int = 8,
    n_origins: int = 4,
    step: int | None = None,
    sp: int | None = None,
    alphas: Sequence[float] = EVAL_ALPHAS,
    baselines: bool = True,
    min_history: int = 8,
    n_jobs: int = 1,
    autoets_season_length: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Rolling-origin backtest of quantile forecasters and baselines on the same cells.

    Origins are the last ``n_origins`` cut-offs spaced ``step`` periods apart (default
    ``horizon``), each followed by ``horizon`` held-out periods. Each forecaster factory returns a
    fresh, unfitted sktime forecaster (default: :class:`DemandForecaster`). Segments come from the
    classification of the history before the first origin, so they are fixed across origins.

    The AutoETS baseline uses ``autoets_season_length`` (default: ``sp`` if ``sp <= 24``, else 1:
    with two years of weekly data a 52-period season has two cycles, and statsforecast's seasonal
    AutoETS costs about 15x the non-seasonal one per series).

    Returns ``{"metrics": per model x segment (incl. "all"), "by_origin": same per origin,
    "forecasts": long frame of actuals and quantiles for charts}``.
    """
    from ml.forecasting._panel import frame_to_panel, infer_sp
    from ml.forecasting.forecaster import DemandForecaster

    forecasters = forecasters or {"DemandForecaster": lambda: DemandForecaster(n_jobs=n_jobs)}
    step = step or horizon
    times = y.index.get_level_values(-1).unique().sort_values()
    panel = frame_to_panel(y)
    freq = panel.freq
    sp = sp or infer_sp(freq)
    origins = [len(times) - horizon - k * step for k in range(n_origins)][::-1]
    first_hist = y[y.index.get_level_values(-1) <= times[origins[0] - 1]]
    seg = classify_array(frame_to_panel(first_hist).values, min_history=min_history)
    seg.index = frame_to_panel(first_hist).keys
    segments = seg["segment"].astype(str)
    fh = list(range(1, horizon + 1))
    per_origin = []
    long = []
    for o in origins:
        t_cut = times[o - 1]
        in_tr = y.index.get_level_values(-1) <= t_cut
        in_te = (~in_tr) & (y.index.get_level_values(-1) <= times[min(o + horizon, len(times)) - 1])
        y_tr, y_te = y[in_tr], y[in_te]
        X_tr = X[X.index.get_level_values(-1) <= t_cut] if X is not None else None
        X_te = X[(X.index.get_level_values(-1) > t_cut)] if X is not None else None
        results: dict[str, pd.DataFrame] = {}
        pits: dict[str, pd.DataFrame] = {}
        moments: dict[str, pd.DataFrame] = {}
        for name, make in forecasters.items():
            f = make()
            f.fit(y_tr, X=X_tr, fh=fh)
            results[name] = f.predict_quantiles(X=X_te, alpha=list(alphas))
            if getattr(f, "count_", False) and hasattr(f, "predict_pit_coverage"):
                pits[name] = f.predict_pit_coverage(y_te, X=X_te)
            if hasattr(f, "predict_moments"):
                moments[name] = f.predict_moments(fh=fh, X=X_te)
        if baselines:
            results["seasonal_naive"] = baseline_seasonal_naive_quantiles(
                y_tr, horizon, alphas, sp, freq
            )
            if freq is not None:
                ets_sp = autoets_season_length or (sp if sp <= 24 else 1)
                results["AutoETS"] = statsforecast_autoets_quantiles(
                    y_tr, horizon, ets_sp, freq, alphas, n_jobs=n_jobs
                )
        for name, q in results.items():
            s = score_quantile_forecasts(y_te, q, segments)
            s.insert(0, "model", name)
            s.insert(1, "origin", str(t_cut))
            per_origin.append(s)
            lf = q.copy()
            lf.columns = [f"q{c[-1]:g}" for c in q.columns]
            lf["actual"] = y_te.iloc[:, 0].reindex(q.index).to_numpy()
            for c in INTERVALS:
                col = f"pit_cov_{c}"
                lf[col] = pits[name][col].reindex(q.index).to_numpy() if name in pits else np.nan
            for col in ("mean", "variance", "level_cv2"):
                lf[col] = (
                    moments[name][col].reindex(q.index).to_numpy() if name in moments else np.nan
                )
            lf["model"] = name
            lf["origin"] = str(t_cut)
            long.append(lf.reset_index())
    forecasts = pd.concat(long, ignore_index=True)
    by_origin = pd.concat(per_origin, ignore_index=True)
    metrics = []
    qcols = [c for c in forecasts.columns if c.startswith("q") and c[1:2].isdigit()]
    pit_cols = [f"pit_cov_{c}" for c in INTERVALS]
    alph = np.array([float(c[1:]) for c in qcols])
    key_names = list(y.index.names[:-1])
    for name, g in forecasts.groupby("model", sort=False):
        keys = (
            pd.MultiIndex.from_frame(g[key_names])
            if len(key_names) > 1
            else pd.Index(g[key_names[0]])
        )
        seg_arr = segments.reindex(keys).astype(object).fillna("unknown").to_numpy()
        s = score_arrays(
            g["actual"].to_numpy(float),
            g[qcols].to_numpy(float),
            alph,
            seg_arr,
            keys,
            pit=g[pit_cols].to_numpy(float),
        )
        s.insert(0, "model", name)
        metrics.append(s)
    return {
        "metrics": pd.concat(metrics, ignore_index=True),
        "by_origin": by_origin,
        "forecasts": forecasts,
        "segments": segments.to_frame("segment"),
    }


# ------------------------------------------------------------------------------------------
# Charts (matplotlib Agg, returned as PNG bytes)
# ------------------------------------------------------------------------------------------
def fan_chart_png(
    history: pd.Series,
    quantiles: pd.DataFrame,
    actual: pd.Series | None = None,
    title: str = "",
) -> bytes:
    """Fan chart of one series: history, median and 50/80/90/98% bands; PNG bytes.

    ``history`` and ``actual`` are indexed by period; ``quantiles`` by period with one column per
    quantile level (floats, or the ``(var, alpha)`` columns of ``predict_quantiles``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas, Q = _alpha_columns(quantiles)
    x = quantiles.index
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    ax.plot(history.index, history.to_numpy(), color="0.3", lw=1, label="history")
    for lo, hi, shade in (
        (0.01, 0.99, 0.15),
        (0.05, 0.95, 0.25),
        (0.1, 0.9, 0.35),
        (0.25, 0.75, 0.5),
    ):
        il = np.nonzero(np.isclose(alphas, lo))[0]
        ih = np.nonzero(np.isclose(alphas, hi))[0]
        if il.size and ih.size:
            ax.fill_between(
                x,
                Q[:, il[0]],
                Q[:, ih[0]],
                color="tab:blue",
                alpha=shade,
                lw=0,
                label=f"{round((hi - lo) * 100)}%",
            )
    im = np.nonzero(np.isclose(alphas, 0.5))[0]
    if im.size:
        ax.plot(x, Q[:, im[0]], color="tab:blue", lw=1.5, label="median")
    if actual is not None:
        ax.plot(actual.index, actual.to_numpy(), "k.", ms=5, label="actual")
    ax.set_title(title)
    ax.set_ylabel("units")
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def coverage_chart_png(metrics: pd.DataFrame, title: str = "Interval coverage") -> bytes:
    """Empirical vs nominal coverage per model and segment (from ``metrics``); PNG bytes.

    Closed-interval coverage for every model, plus the randomised-PIT coverage (dashed) where a
    model provides it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cov_cols = [f"coverage_{c}" for c in INTERVALS if f"coverage_{c}" in metrics]
    nominal = [int(c.split("_")[1]) / 100 for c in cov_cols]
    segs = list(pd.unique(metrics["segment"]))
    fig, axes = plt.subplots(1, len(segs), figsize=(3.2 * len(segs), 3.2), dpi=100, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, sg in zip(axes, segs, strict=True):
        sub = metrics[metrics["segment"] == sg]
        for _, r in sub.iterrows():
            line = ax.plot(nominal, [r[c] for c in cov_cols], marker="o", label=r["model"])
            pit = [r.get(f"pit_{c}", np.nan) for c in cov_cols]
            if np.isfinite(np.asarray(pit, dtype=float)).all():
                ax.plot(
                    nominal,
                    pit,
                    marker="s",
                    ls="--",
                    color=line[0].get_color(),
                    label=f"{r['model']} (randomised PIT)",
                )
        ax.plot([0.75, 1], [0.75, 1], "k--", lw=0.8)
        ax.set_title(sg)
        ax.set_xlabel("nominal")
    axes[0].set_ylabel("empirical coverage")
    axes[-1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
