"""Vectorised panel models: every function fits *all* series of a ``[n_series, n_periods]`` array.

Each model loops over time (a few hundred periods at most) and updates every series in one numpy
step, so fitting 10,000 series costs about as much as fitting one with sktime's per-series clones.
NaN marks an unobserved period: the state is carried forward through it (the model forecasts
through the gap) and it does not enter the fit criterion.

Point forecasts only; the predictive distribution around them is built in
:mod:`ml.forecasting.distributions` from rolling-origin backtest residuals.

Families
--------
* :func:`seasonal_naive` - last value at the same season position (baseline).
* :func:`ets_forecast` - additive-error exponential smoothing (level, optional damped trend,
  optional additive season), parameters chosen per series from a grid by AIC on one-step errors.
* :func:`croston_sba` / :func:`tsb_forecast` - intermittent-demand methods (Syntetos-Boylan
  approximation of Croston; Teunter-Syntetos-Babai with demand-probability decay).
* :class:`GlobalGBM` - one gradient-boosting model across all series (direct multi-horizon).

Updates without refitting: :func:`ets_filter` re-runs the ETS recursion with the grid point a fit
chose per series; :func:`croston_sba_state` / :func:`tsb_state` take the smoothing a fit chose
(``choice``) and only run the state over the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor


def _first_valid(y: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(y)
    first = valid.argmax(axis=1)
    first[~valid.any(axis=1)] = y.shape[1]
    return first


# --------------------------------------------------------------------------------------------
# Seasonal naive
# --------------------------------------------------------------------------------------------
def seasonal_naive(y: np.ndarray, horizon: int, sp: int) -> np.ndarray:
    """Forecast ``y[t+h] = y[t+h-k*sp]`` from the last observed season; ``[n, horizon]``.

    Missing values in the last season are filled with the series' last observed value (0 if none).
    """
    n, T = y.shape
    sp = max(int(sp), 1)
    last = pd.DataFrame(y.T).ffill().to_numpy().T[:, -1] if T else np.zeros(n)
    last = np.nan_to_num(last, nan=0.0)
    if sp > T:
        return np.repeat(last[:, None], horizon, axis=1)
    season = y[:, T - sp :]
    season = np.where(np.isnan(season), last[:, None], season)
    idx = np.arange(horizon) % sp
    return season[:, idx]


# --------------------------------------------------------------------------------------------
# Exponential smoothing (grid-searched, vectorised over series and grid)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ETSGrid:
    """Candidate smoothing parameters; every series picks one combination by AIC.

    ``alphas``: level smoothing; ``trend``: (beta, phi) pairs, beta relative to alpha, phi the
    damping (``(0, 0)`` = no trend); ``gammas``: seasonal smoothing (``0`` = no season).
    """

    alphas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.35, 0.6)
    trend: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.1, 0.9))
    gammas: tuple[float, ...] = (0.0, 0.05, 0.15)


def _seasonal_init(y: np.ndarray, first: np.ndarray, sp: int, cycles: int = 3) -> np.ndarray:
    """Initial additive seasonal indices ``[n, sp]`` (indexed by absolute period ``t % sp``)."""
    n, T = y.shape
    t = np.arange(T)[None, :]
    window = (t >= first[:, None]) & (t < first[:, None] + cycles * sp) & ~np.isnan(y)
    yv = np.where(window, y, 0.0)
    pos = np.arange(T) % sp
    sums = np.zeros((n, sp))
    cnts = np.zeros((n, sp))
    for k in range(sp):
        cols = pos == k
        sums[:, k] = yv[:, cols].sum(axis=1)
        cnts[:, k] = window[:, cols].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / cnts
    overall = np.nanmean(np.where(cnts > 0, means, np.nan), axis=1, keepdims=True)
    s = np.where(cnts > 0, means - overall, 0.0)
    return np.nan_to_num(s)


def _ets_combos(sp: int, grid: ETSGrid) -> list[tuple[float, float, float, float]]:
    """The ``(alpha, beta, phi, gamma)`` grid points, in the order ``choice`` indexes them."""
    return [
        (a, b, p, g)
        for a in grid.alphas
        for (b, p) in grid.trend
        for g in grid.gammas
        if sp > 1 or g == 0.0
    ]


def _ets_recursion(
    y: np.ndarray,
    sp: int,
    alpha: np.ndarray,
    beta: np.ndarray,
    phi: np.ndarray,
    gamma: np.ndarray,
    warmup: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the additive ETS filter over ``y[n, T]`` for parameter rows ``[G, 1]`` or ``[1, n]``.

    Returns the final ``level[G, n]``, ``trend[G, n]``, ``season[G, n, sp]``, the sum of squared
    one-step errors after ``warmup`` periods ``sse[G, n]`` and the number of scored periods
    ``cnt[n]``. The initial level is the mean of the first ``max(sp, 4)`` observed periods, the
    initial season the mean deviation per season position over the first 3 cycles; unobserved
    (NaN) periods carry the state forward and are not scored.
    """
    n, T = y.shape
    G = alpha.shape[0]
    seasonal = (gamma > 0).astype(float)
    first = _first_valid(y)
    init_n = max(sp, 4)
    t_idx = np.arange(T)[None, :]
    init_win = (t_idx >= first[:, None]) & (t_idx < first[:, None] + init_n) & ~np.isnan(y)
    with np.errstate(invalid="ignore"):
        l0 = np.where(init_win, y, 0.0).sum(1) / np.maximum(init_win.sum(1), 1)
    s0 = _seasonal_init(y, first, sp) if sp > 1 else np.zeros((n, 1))
    level = np.repeat(l0[None, :], G, axis=0)
    trend = np.zeros((G, n))
    season = seasonal[:, :, None] * s0[None, :, :]  # [G, n, sp]
    sse = np.zeros((G, n))
    cnt = np.zeros(n)
    started = np.zeros(n, dtype=bool)
    for t in range(T):
        yt = y[:, t]
        obs = ~np.isnan(yt)
        started |= obs
        k = t % sp
        s_k = season[:, :, k]
        f = level + phi * trend + s_k
        e = np.where(obs[None, :], np.nan_to_num(yt)[None, :] - f, 0.0)
        e = np.where(started[None, :], e, 0.0)
        score = obs & (t >= first + warmup)
        sse += np.where(score[None, :], e * e, 0.0)
        cnt += score
        new_level = np.where(started[None, :], level + phi * trend + alpha * e, level)
        trend = np.where(started[None, :], phi * trend + alpha * beta * e, trend)
        season[:, :, k] = s_k + gamma * e
        level = new_level
    return level, trend, season, sse, cnt


def ets_fit(
    y: np.ndarray, sp: int, grid: ETSGrid | None = None, warmup: int | None = None
) -> dict[str, np.ndarray]:
    """Fit additive ETS to every series; returns the final state of the AIC-best grid point.

    Model (additive errors, damped additive trend, additive season, one-step error ``e``)::

        f = l + phi*b + s[t % sp];  e = y - f
        l <- l + phi*b + alpha*e;   b <- phi*b + alpha*beta*e;   s[t % sp] <- s + gamma*e

    Score: ``n*log(SSE/n) + 2k`` on the one-step errors after ``warmup`` periods, with ``k`` the
    number of smoothing + initial-state parameters (season adds ``sp``). Returns a dict of arrays
    ``level, trend, phi, season[n, sp], sigma2, choice`` (index into the grid, see
    :func:`ets_params`) and the scalars ``T`` (periods filtered), ``sp`` and ``warmup``.
    """
    grid = grid or ETSGrid()
    n, T = y.shape
    sp = max(int(sp), 1)
    combos = _ets_combos(sp, grid)
    alpha = np.array([c[0] for c in combos])[:, None]
    beta = np.array([c[1] for c in combos])[:, None]
    phi = np.array([c[2] for c in combos])[:, None]
    gamma = np.array([c[3] for c in combos])[:, None]
    seasonal = (gamma > 0).astype(float)  # [G, 1]
    warmup = sp if warmup is None else warmup
    level, trend, season, sse, cnt = _ets_recursion(y, sp, alpha, beta, phi, gamma, warmup)
    n_eff = np.maximum(cnt, 1)[None, :]
    k_par = 1 + 2 * (beta > 0) + seasonal * (sp + 1)  # [G, 1]
    aic = n_eff * np.log(sse / n_eff + 1e-9) + 2 * k_par
    aic = np.where(cnt[None, :] > k_par + 2, aic, np.inf)
    # Short series: fall back to the simplest model (first grid point with no trend/season).
    simple = int(np.argmax((beta[:, 0] == 0) & (gamma[:, 0] == 0)))
    aic[simple] = np.where(np.isinf(aic).all(axis=0), 0.0, aic[simple])
    choice = np.argmin(aic, axis=0)
    cols = np.arange(n)
    return {
        "level": level[choice, cols],
        "trend": trend[choice, cols],
        "phi": phi[choice, 0],
        "season": season[choice, cols, :],
        "sigma2": sse[choice, cols] / n_eff[0],
        "choice": choice,
        "T": np.array(T),
        "sp": np.array(sp),
        "warmup": np.array(warmup),
    }


def ets_params(choice: np.ndarray, sp: int, grid: ETSGrid | None = None) -> dict[str, np.ndarray]:
    """Per-series ``alpha, beta, phi, gamma`` of the grid points ``choice`` picked by ETS fit."""
    combos = np.asarray(_ets_combos(max(int(sp), 1), grid or ETSGrid()), dtype=float)
    picked = combos[np.asarray(choice, dtype=int)]
    return {k: picked[:, j] for j, k in enumerate(("alpha", "beta", "phi", "gamma"))}


def ets_filter(
    y: np.ndarray, state: dict[str, np.ndarray], grid: ETSGrid | None = None
) -> dict[str, np.ndarray]:
    """Re-run the ETS filter over ``y[n, T']`` with the parameters a previous fit chose.

    ``state`` is what :func:`ets_fit` returned for the same series (rows in the same order);
    its grid choice per series is kept, and level, trend, season and ``sigma2`` are recomputed
    by the same recursion over all of ``y`` (typically the fitted history plus new periods). On
    the data of the fit it reproduces the fit's state exactly. This is the ``update`` of the
    ETS family: new periods move the state, the smoothing parameters stay.
    """
    sp = int(state["sp"])
    warmup = int(state["warmup"]) if "warmup" in state else sp
    choice = np.asarray(state["choice"], dtype=int)
    if choice.shape[0] != y.shape[0]:
        raise ValueError(f"state has {choice.shape[0]} series, y has {y.shape[0]}")
    p = ets_params(choice, sp, grid)
    level, trend, season, sse, cnt = _ets_recursion(
        y,
        sp,
        p["alpha"][None, :],
        p["beta"][None, :],
        p["phi"][None, :],
        p["gamma"][None, :],
        warmup,
    )
    n_eff = np.maximum(cnt, 1)
    return {
        "level": level[0],
        "trend": trend[0],
        "phi": p["phi"],
        "season": season[0],
        "sigma2": sse[0] / n_eff,
        "choice": choice,
        "T": np.array(y.shape[1]),
        "sp": np.array(sp),
        "warmup": np.array(warmup),
    }


def ets_predict(state: dict[str, np.ndarray], horizon: int) -> np.ndarray:
    """Point forecasts ``[n, horizon]`` from the state returned by :func:`ets_fit`."""
    T = int(state["T"])
    sp = int(state["sp"])
    h = np.arange(1, horizon + 1)
    phi = state["phi"][:, None]
    damp = np.where(
        phi == 1.0, h[None, :], phi * (1 - phi ** h[None, :]) / np.where(phi == 1.0, 1, 1 - phi)
    )
    damp = np.where(phi == 0.0, 0.0, damp)
    pos = (T + h - 1) % sp
    return state["level"][:, None] + damp * state["trend"][:, None] + state["season"][:, pos]


def ets_forecast(y: np.ndarray, horizon: int, sp: int, grid: ETSGrid | None = None) -> np.ndarray:
    """Fit :func:`ets_fit` and forecast ``horizon`` periods; ``[n, horizon]``."""
    return ets_predict(ets_fit(y, sp, grid), horizon)


# --------------------------------------------------------------------------------------------
# Intermittent demand: Croston-SBA and TSB
# --------------------------------------------------------------------------------------------
def _intermittent_init(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    valid = ~np.isnan(y)
    yz = np.where(valid, y, 0.0)
    nz = (yz > 0) & valid
    n_nz = nz.sum(1)
    n_obs = valid.sum(1)
    size0 = np.where(n_nz > 0, yz.sum(1) / np.maximum(n_nz, 1), 0.0)
    interval0 = np.where(n_nz > 0, n_obs / np.maximum(n_nz, 1), np.maximum(n_obs, 1))
    prob0 = np.where(n_obs > 0, n_nz / np.maximum(n_obs, 1), 0.0)
    return size0, interval0, prob0


_ALPHAS = (0.05, 0.1, 0.2, 0.3)


def croston_sba_state(
    y: np.ndarray, alphas: tuple[float, ...] = _ALPHAS, choice: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Croston-SBA over ``y[n, T]``: per-period forecast ``[n]`` and the ``alpha`` index per series.

    Without ``choice`` each series picks its ``alpha`` from ``alphas`` by the in-sample mean
    squared one-step error; with ``choice`` (from an earlier fit) the picked smoothing is kept
    and only the state is run over ``y`` (the update of the method).
    """
    n, T = y.shape
    a = np.asarray(alphas)[:, None]
    z0, p0, _ = _intermittent_init(y)
    z = np.repeat(z0[None], len(alphas), 0)
    p = np.repeat(p0[None], len(alphas), 0)
    q = np.ones((len(alphas), n))
    sse = np.zeros((len(alphas), n))
    for t in range(T):
        yt = y[:, t]
        obs = ~np.isnan(yt)
        f = (1 - a / 2) * z / p
        sse += np.where(obs, (np.nan_to_num(yt) - f) ** 2, 0.0)
        dem = obs & (np.nan_to_num(yt) > 0)
        z = np.where(dem, z + a * (np.nan_to_num(yt) - z), z)
        p = np.where(dem, p + a * (q - p), p)
        q = np.where(dem, 1.0, q + obs)
    best = np.argmin(sse, axis=0) if choice is None else np.asarray(choice, dtype=int)
    cols = np.arange(n)
    return ((1 - a / 2) * z / p)[best, cols], best


def croston_sba(y: np.ndarray, horizon: int, alphas: tuple[float, ...] = _ALPHAS) -> np.ndarray:
    """Croston with the Syntetos-Boylan bias correction, vectorised; flat forecast ``[n, horizon]``.

    Demand size ``z`` and inter-demand interval ``p`` are smoothed only in periods with demand;
    forecast per period ``(1 - alpha/2) * z / p``. ``alpha`` is picked per series from ``alphas`` by
    the in-sample mean squared one-step error (:func:`croston_sba_state`).
    """
    f, _ = croston_sba_state(y, alphas)
    return np.repeat(f[:, None], horizon, axis=1)


_TSB_BETAS = (0.05, 0.1, 0.2)


def tsb_state(
    y: np.ndarray,
    alphas: tuple[float, ...] = _ALPHAS,
    betas: tuple[float, ...] = _TSB_BETAS,
    choice: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """TSB over ``y[n, T]``: per-period forecast ``[n]`` and the ``(alpha, beta)`` index per series.

    Without ``choice`` the pair is picked per series by in-sample mean squared one-step error;
    with ``choice`` it is kept and only the state is run over ``y``.
    """
    n, T = y.shape
    combos = [(a, b) for a in alphas for b in betas]
    a = np.array([c[0] for c in combos])[:, None]
    b = np.array([c[1] for c in combos])[:, None]
    z0, _, pi0 = _intermittent_init(y)
    z = np.repeat(z0[None], len(combos), 0)
    pi = np.repeat(pi0[None], len(combos), 0)
    sse = np.zeros((len(combos), n))
    for t in range(T):
        yt = y[:, t]
        obs = ~np.isnan(yt)
        yv = np.nan_to_num(yt)
        sse += np.where(obs, (yv - pi * z) ** 2, 0.0)
        dem = obs & (yv > 0)
        pi = np.where(obs, pi + b * (dem - pi), pi)
        z = np.where(dem, z + a * (yv - z), z)
    best = np.argmin(sse, axis=0) if choice is None else np.asarray(choice, dtype=int)
    return (pi * z)[best, np.arange(n)], best


def tsb_forecast(
    y: np.ndarray,
    horizon: int,
    alphas: tuple[float, ...] = _ALPHAS,
    betas: tuple[float, ...] = _TSB_BETAS,
) -> np.ndarray:
    """Teunter-Syntetos-Babai, vectorised; flat forecast ``[n, horizon]``.

    Demand probability ``pi`` is updated every period (so it decays after demand stops, unlike
    Croston), size ``z`` only in demand periods; forecast ``pi * z``. ``(alpha, beta)`` per series
    by in-sample mean squared one-step error (:func:`tsb_state`).
    """
    f, _ = tsb_state(y, alphas, betas)
    return np.repeat(f[:, None], horizon, axis=1)


# --------------------------------------------------------------------------------------------
# Global gradient boosting (direct multi-horizon)
# --------------------------------------------------------------------------------------------
def _windows(sp: int) -> tuple[int, int, int]:
    if sp == 7:
        return (7, 28, 91)
    if sp >= 12:
        return (max(3, sp // 12), max(4, sp // 4), sp)
    return (3, 6, 12)


def _rolling(cs: np.ndarray, cc: np.ndarray, o: np.ndarray, i: np.ndarray, w: int) -> np.ndarray:
    """Mean over the ``w`` periods ending at origin ``o`` (inclusive) from cumulative sums."""
    hi = o + 1
    lo = np.maximum(hi - w, 0)
    s = cs[i, hi] - cs[i, lo]
    c = cc[i, hi] - cc[i, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def _bin_edges(F: np.ndarray, rng: np.random.Generator, n_bins: int = 255) -> list[np.ndarray]:
    """Per-feature quantile edges (unweighted, on at most 50,000 rows).

    Features are pre-binned to at most ``n_bins`` integer codes because scikit-learn's own binning
    is several times slower when sample weights are passed.
    """
    sub = F if F.shape[0] <= 50_000 else F[rng.choice(F.shape[0], 50_000, replace=False)]
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = []
    for j in range(F.shape[1]):
        col = sub[:, j]
        col = col[~np.isnan(col)]
        uniq = np.unique(col)
        if uniq.size <= n_bins:
            edges.append((uniq[:-1] + uniq[1:]) / 2 if uniq.size > 1 else np.array([]))
        else:
            edges.append(np.unique(np.quantile(col, qs)))
    return edges


def _apply_bins(F: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    out = np.empty_like(F)
    for j, e in enumerate(edges):
        col = F[:, j]
        out[:, j] = np.where(np.isnan(col), np.nan, np.searchsorted(e, col, side="right"))
    return out


@dataclass
class GlobalGBM:
    """One gradient-boosting model for all series, direct strategy (no recursion).

    A training row is a (series, target period ``t``, horizon ``h``) triple. Every feature is
    computed *as of the origin* ``o = t - h`` (rolling means over three windows, last value,
    same-season values of the last cycles, share of zero periods, the lag ``t - sp*ceil(h/sp)``), or
    is known in advance for ``t`` (calendar: season position, month, week of year, day of week;
    holidays; exogenous columns such as price and promotion, plus their ratio to the series' own
    mean), plus ``h`` itself. So one model serves every horizon up to ``max_horizon`` without feeding
    its own forecasts back (no error accumulation) and without lags shorter than ``h`` (no leakage).

    Series of different volume share one model through scaling: the target and the level features
    are divided by the series' mean over the longest window at the origin (floored at 0.1 units),
    and the loss is the Poisson deviance weighted by that scale - equivalent to the Poisson
    deviance on the original units - which suits non-negative counts and never predicts below 0.
    Training rows draw one random ``h`` per (series, period) and are subsampled to ``max_rows``.
    """

    sp: int
    max_horizon: int
    max_iter: int = 150
    learning_rate: float = 0.08
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 50
    max_rows: int = 120_000
    random_state: int = 0
    calendar: np.ndarray | None = None
    x_names: list[str] = field(default_factory=list)
    model_: HistGradientBoostingRegressor | None = None
    x_means_: np.ndarray | None = None

    def _features(
        self,
        y: np.ndarray,
        cs: np.ndarray,
        cc: np.ndarray,
        X: np.ndarray | None,
        cal: np.ndarray | None,
        i: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        seg_code: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        sp = max(self.sp, 1)
        w1, w2, w3 = _windows(sp)
        t = o + h
        r1 = _rolling(cs, cc, o, i, w1)
        r2 = _rolling(cs, cc, o, i, w2)
        r3 = _rolling(cs, cc, o, i, w3)
        scale = np.maximum(np.nan_to_num(r3, nan=0.0), 0.1)
        T = y.shape[1]
        last = y[i, np.minimum(o, T - 1)]
        cols = [h.astype(float), r1 / scale, r2 / scale, r3 / scale, last / scale, np.log(scale)]
        # zero share over w2 (intermittency at the origin)
        cz = cc  # counts of observed
        lo = np.maximum(o + 1 - w2, 0)
        n_obs = cz[i, o + 1] - cz[i, lo]
        nz = self._nz_cs[i, o + 1] - self._nz_cs[i, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            cols.append(np.where(n_obs > 0, 1 - nz / np.maximum(n_obs, 1), np.nan))
        if sp > 1:
            k = np.ceil(h / sp).astype(int)
            same = []
            for m in range(4):
                idx = t - (k + m) * sp
                v = np.where(idx >= 0, y[i, np.clip(idx, 0, T - 1)], np.nan)
                same.append(v)
            same = np.vstack(same)
            cols.append(same[0] / scale)
            n_same = (~np.isnan(same)).sum(axis=0)
            same_mean = np.where(
                n_same > 0, np.nansum(same, axis=0) / np.maximum(n_same, 1), np.nan
            )
            cols.append(same_mean / scale)
            cols.append((t % sp).astype(float))
        cols.append(seg_code[i].astype(float))
        if cal is not None:
            for j in range(cal.shape[1]):
                cols.append(cal[t, j])
        if X is not None:
            for j in range(X.shape[2]):
                xv = X[i, t, j]
                cols.append(xv)
                with np.errstate(invalid="ignore", divide="ignore"):
                    cols.append(xv / self.x_means_[i, j])
        return np.column_stack(cols), scale

    def _prepare(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, T = y.shape
        valid = ~np.isnan(y)
        cs = np.zeros((n, T + 1))
        cc = np.zeros((n, T + 1))
        cs[:, 1:] = np.cumsum(np.where(valid, y, 0.0), axis=1)
        cc[:, 1:] = np.cumsum(valid, axis=1)
        nzc = np.zeros((n, T + 1))
        nzc[:, 1:] = np.cumsum(valid & (np.nan_to_num(y) > 0), axis=1)
        self._nz_cs = nzc
        return cs, cc

    def fit(self, y: np.ndarray, X: np.ndarray | None, seg_code: np.ndarray) -> GlobalGBM:
        """Fit on history ``y[n, T]``; ``X[n, T', p]`` (T' >= T) and ``calendar[T', c]``."""
        n, T = y.shape
        rng = np.random.default_rng(self.random_state)
        cs, cc = self._prepare(y)
        if X is not None:
            with np.errstate(invalid="ignore"):
                self.x_means_ = np.nanmean(X[:, :T, :], axis=1)
            self.x_means_ = np.where(
                np.isfinite(self.x_means_) & (self.x_means_ != 0), self.x_means_, 1.0
            )
        first = _first_valid(y)
        ii, tt = np.nonzero(~np.isnan(y))
        h = rng.integers(1, self.max_horizon + 1, size=ii.size)
        o = tt - h
        keep = o >= first[ii] + 1
        ii, tt, h, o = ii[keep], tt[keep], h[keep], o[keep]
        if ii.size > self.max_rows:
            sel = rng.choice(ii.size, self.max_rows, replace=False)
            ii, tt, h, o = ii[sel], tt[sel], h[sel], o[sel]
        self.n_train_rows_ = int(ii.size)
        if ii.size < 50:
            self.model_ = None
            self.fallback_ = np.nan_to_num(np.nanmean(y, axis=1), nan=0.0)
            return self
        F, scale = self._features(y, cs, cc, X, self.calendar, ii, o, h, seg_code)
        self.edges_ = _bin_edges(F, rng)
        F = _apply_bins(F, self.edges_)
        # A feature with no observed value in the training rows (same-season lags when the
        # history is shorter than a season plus the horizon) cannot be binned: leave it out.
        self.used_features_ = np.flatnonzero(~np.isnan(F).all(axis=0))
        F = F[:, self.used_features_]
        target = y[ii, tt] / scale
        self.model_ = HistGradientBoostingRegressor(
            loss="poisson",
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.random_state,
        )
        self.model_.fit(F, np.maximum(target, 0.0), sample_weight=scale)
        return self

    def predict(
        self, y: np.ndarray, X: np.ndarray | None, seg_code: np.ndarray, horizon: int
    ) -> np.ndarray:
        """Forecast ``horizon`` periods after the end of ``y``; ``X``/calendar must cover them."""
        n, T = y.shape
        if self.model_ is None:
            return np.repeat(self.fallback_[:, None], horizon, axis=1)
        cs, cc = self._prepare(y)
        ii = np.repeat(np.arange(n), horizon)
        h = np.tile(np.arange(1, horizon + 1), n)
        o = np.full(ii.size, T - 1)
        F, scale = self._features(y, cs, cc, X, self.calendar, ii, o, h, seg_code)
        F = _apply_bins(F, self.edges_)[:, self.used_features_]
        pred = self.model_.predict(F) * scale
        return pred.reshape(n, horizon)
