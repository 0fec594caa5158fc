"""Predictive distributions around point forecasts, estimated from backtest residuals.

Model for count demand (units per period) of one series over the forecast horizon::

    L ~ Gamma(mean 1, variance sigma_L2)            shared by all periods of a path
    g_h ~ Gamma(mean 1, variance tau_h), independent per period
    Y_h | L, g_h ~ Poisson(mu_h * L * g_h)

``mu_h`` is the point forecast. The shared factor ``L`` is the error of the forecast *level*: when
the forecast is too low it tends to be too low for every period, so errors are positively
correlated across periods. Moments::

    Var(Y_h)          = mu_h + c * mu_h**2          c = (1 + sigma_L2) (1 + tau_h) - 1
    Cov(Y_h, Y_k)     = sigma_L2 * mu_h * mu_k      (h != k)

``c`` (total excess dispersion) and ``sigma_L2`` are method-of-moments estimates from the residuals
of a rolling-origin backtest (out-of-sample forecast errors, not in-sample fit errors), pooled
over the series of a segment and, for the per-period part, scaled per series by a credibility-
weighted ratio of its own squared errors to the pooled prediction.

Per-period quantiles use the negative binomial with the same mean and variance (the exact
marginal of a Poisson-gamma mixture with one gamma factor), so they are non-negative integers.
Sums over several periods (lead-time demand) must use :func:`sample_paths`, which draws ``L`` once
per path: adding per-period quantiles would overstate the spread when errors are independent and
understate it when they are correlated.

For non-integer data (e.g. revenue) a normal distribution with the backtest residual variance,
truncated at zero for non-negative series, replaces the count model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

#: Quantile levels that bound the 80/90/95/98% central intervals, plus the median.
EVAL_ALPHAS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.5, 0.9, 0.95, 0.975, 0.99)


@dataclass
class Dispersion:
    """Excess dispersion ``c`` and shared level variance ``sigma_L2`` (both unitless)."""

    c: float
    sigma_L2: float


def estimate_dispersion(mu: np.ndarray, actual: np.ndarray) -> Dispersion:
    """Method-of-moments (c, sigma_L2) from backtest forecasts ``mu`` and actuals ``[n, h]``.

    ``c = sum(e^2 - mu) / sum(mu^2)`` over all (series, period) cells, clipped at 0;
    ``sigma_L2`` from the variance of horizon sums ``S`` around their forecast ``M``:
    ``E(S-M)^2 = M + c*sum(mu^2) + sigma_L2 (M^2 - sum(mu^2))``, clipped to ``[0, c]``.
    """
    ok = ~np.isnan(actual) & ~np.isnan(mu)
    m = np.where(ok, np.maximum(mu, 0.0), 0.0)
    a = np.where(ok, actual, 0.0)
    e2 = (a - m) ** 2
    den = (m**2).sum()
    c = max(float((e2 - m).sum() / den), 0.0) if den > 0 else 0.0
    S = a.sum(axis=1)
    M = m.sum(axis=1)
    m2 = (m**2).sum(axis=1)
    den_l = (M**2 - m2).sum()
    if den_l > 0:
        num_l = ((S - M) ** 2 - M - c * m2).sum()
        sl = float(np.clip(num_l / den_l, 0.0, c))
    else:
        sl = 0.0
    return Dispersion(c=c, sigma_L2=sl)


def series_scale_factors(
    mu: np.ndarray, actual: np.ndarray, c: float, prior_periods: float = 16.0
) -> np.ndarray:
    """Per-series multiplier of the predicted variance, shrunk to 1 (credibility weighting).

    ``ratio_i = sum(e^2) / sum(mu + c mu^2)`` over the backtest periods of series ``i``; with
    ``n_i`` observed periods the factor is ``(sum e^2 + k v_bar) / (sum v + k v_bar)`` with
    ``k = prior_periods`` pseudo-periods at ratio 1, so short or quiet series stay near the
    segment's dispersion while consistently noisier series get wider intervals.
    """
    ok = ~np.isnan(actual) & ~np.isnan(mu)
    m = np.where(ok, np.maximum(mu, 0.0), 0.0)
    e2 = np.where(ok, (np.nan_to_num(actual) - m) ** 2, 0.0).sum(axis=1)
    v = np.where(ok, m + c * m**2, 0.0).sum(axis=1)
    n = ok.sum(axis=1)
    v_bar = np.where(n > 0, v / np.maximum(n, 1), 0.0)
    prior = prior_periods * v_bar
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(v + prior > 0, (e2 + prior) / (v + prior), 1.0)
    return np.clip(f, 0.25, 4.0)


def count_ppf(
    alpha: np.ndarray, mu: np.ndarray, var: np.ndarray, max_iter: int = 200
) -> np.ndarray:
    """Exact negative-binomial / Poisson quantile ``min{k : F(k) >= alpha}`` (broadcasting).

    The NB has mean ``mu`` and variance ``var`` (Poisson where ``var <= mu``). A Cornish-Fisher
    start is corrected by integer steps on the exact CDF (regularised incomplete beta), usually in
    one or two steps - several times faster than ``scipy.stats.nbinom.ppf`` and equal to it.
    """
    alpha, mu, var = np.broadcast_arrays(
        np.asarray(alpha, dtype=float),
        np.maximum(np.nan_to_num(np.asarray(mu, dtype=float)), 0.0),
        np.nan_to_num(np.asarray(var, dtype=float)),
    )
    var = np.maximum(var, mu)
    with np.errstate(invalid="ignore", divide="ignore"):
        disp = np.where(mu > 0, (var - mu) / np.maximum(mu, 1e-300) ** 2, 0.0)
    nb = disp > 1e-9
    n_par = np.where(nb, 1.0 / np.maximum(disp, 1e-300), 1.0)
    p_par = np.where(nb, mu / np.maximum(var, 1e-300), 1.0)

    def cdf(k: np.ndarray, idx: tuple[np.ndarray, ...]) -> np.ndarray:
        kk = np.maximum(k, 0.0)
        c = np.where(
            nb[idx], special.betainc(n_par[idx], kk + 1.0, p_par[idx]), special.pdtr(kk, mu[idx])
        )
        return np.where(k < 0, 0.0, c)

    z = special.ndtri(np.clip(alpha, 1e-12, 1 - 1e-12))
    sd = np.sqrt(var)
    k3 = mu + 3 * disp * mu**2 + 2 * disp**2 * mu**3
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        g = np.where(sd > 0, k3 / np.maximum(sd, 1e-300) ** 3, 0.0)
    q = mu + sd * (z + (z**2 - 1) * np.minimum(g, 10.0) / 6)
    k = np.where(mu > 0, np.maximum(np.floor(np.nan_to_num(q)), 0.0), 0.0).astype(float)
    active = mu > 0
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.nonzero(active)
        kk = k[idx]
        up = cdf(kk, idx) < alpha[idx]
        down = (~up) & (kk > 0) & (cdf(kk - 1, idx) >= alpha[idx])
        k[idx] = kk + up - down
        still = active.copy()
        still[idx] = up | down
        active = still
    return k


def count_cdf(k: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``P(Y <= k)`` for the negative binomial (Poisson if ``var <= mu``) with mean ``mu``."""
    k = np.floor(np.asarray(k, dtype=float))
    mu = np.maximum(np.nan_to_num(np.asarray(mu, dtype=float)), 0.0)
    var = np.maximum(np.nan_to_num(np.asarray(var, dtype=float)), mu)
    with np.errstate(invalid="ignore", divide="ignore"):
        disp = np.where(mu > 0, (var - mu) / np.maximum(mu, 1e-300) ** 2, 0.0)
    nb = disp > 1e-9
    n_par = np.where(nb, 1.0 / np.maximum(disp, 1e-300), 1.0)
    p_par = np.where(nb, mu / np.maximum(var, 1e-300), 1.0)
    kk = np.maximum(k, 0.0)
    c = np.where(nb, special.betainc(n_par, kk + 1.0, p_par), special.pdtr(kk, mu))
    c = np.where(mu > 0, c, 1.0)  # point mass at zero
    return np.where(k < 0, 0.0, c)


def randomized_coverage(cdf_below: np.ndarray, cdf_at: np.ndarray, coverage: float) -> np.ndarray:
    """Probability that the randomised PIT falls in the central ``coverage`` interval, per cell.

    For a count ``y`` with predictive CDF ``F``, the randomised PIT is uniform on
    ``[F(y-1), F(y)]``; a calibrated forecast has a uniform PIT (Czado, Gneiting & Held 2009), so
    the mean of this quantity equals ``coverage`` exactly - unlike the coverage of integer-valued
    quantile intervals, which discreteness pushes above nominal. ``cdf_below = F(y-1)``,
    ``cdf_at = F(y)``.
    """
    lo, hi = 0.5 - coverage / 2, 0.5 + coverage / 2
    a = np.asarray(cdf_below, dtype=float)
    b = np.asarray(cdf_at, dtype=float)
    overlap = np.clip(np.minimum(b, hi) - np.maximum(a, lo), 0.0, None)
    width = b - a
    inside = ((a >= lo) & (a <= hi)).astype(float)  # zero-width: PIT is the point a
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(width > 1e-12, overlap / np.maximum(width, 1e-300), inside)


def nb_quantiles(mu: np.ndarray, var: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Negative-binomial (Poisson if ``var <= mu``) quantiles; shape ``mu.shape + (len(alphas),)``.

    Returns integers as floats, never negative, non-decreasing in ``alpha``.
    """
    alphas = np.asarray(alphas, dtype=float)
    out = count_ppf(
        alphas, np.asarray(mu, dtype=float)[..., None], np.asarray(var, dtype=float)[..., None]
    )
    return np.maximum.accumulate(np.maximum(out, 0.0), axis=-1)


def normal_quantiles(
    mu: np.ndarray, var: np.ndarray, alphas: np.ndarray, nonneg: bool
) -> np.ndarray:
    """Normal quantiles ``mu + z_alpha * sd``, clipped at 0 when ``nonneg``."""
    z = stats.norm.ppf(np.asarray(alphas, dtype=float))
    q = np.asarray(mu)[..., None] + np.sqrt(np.maximum(var, 0.0))[..., None] * z
    return np.maximum(q, 0.0) if nonneg else q


def sample_paths(
    mu: np.ndarray,
    c: np.ndarray,
    sigma_L2: np.ndarray,
    n_paths: int,
    rng: np.random.Generator,
    count: bool = True,
    var: np.ndarray | None = None,
) -> np.ndarray:
    """Joint sample paths ``[n_series, n_paths, horizon]`` from the shared-level model.

    ``mu[n, h]`` point forecasts; ``c[n, h]`` per-period excess dispersion (``Var = mu + c mu^2``);
    ``sigma_L2[n]`` shared level variance. For ``count=False`` a Gaussian analogue is used with
    ``var[n, h]`` as marginal variance and the same correlation structure, truncated at 0.
    """
    n, H = mu.shape
    sl = np.clip(np.asarray(sigma_L2, dtype=float), 0.0, None)[:, None, None]
    if count:
        shape_l = np.where(sl > 1e-9, 1.0 / np.maximum(sl, 1e-9), np.inf)
        L = np.where(
            sl > 1e-9,
            rng.gamma(np.minimum(shape_l, 1e9), np.maximum(sl, 1e-12), size=(n, n_paths, 1)),
            1.0,
        )
        cc = np.maximum(np.asarray(c, dtype=float), 0.0)[:, None, :]
        tau = np.maximum((1 + cc) / (1 + sl) - 1, 0.0)
        shape_g = np.where(tau > 1e-9, 1.0 / np.maximum(tau, 1e-9), np.inf)
        g = np.where(
            tau > 1e-9,
            rng.gamma(
                np.broadcast_to(np.minimum(shape_g, 1e9), (n, n_paths, H)),
                np.broadcast_to(np.maximum(tau, 1e-12), (n, n_paths, H)),
            ),
            1.0,
        )
        lam = np.maximum(mu, 0.0)[:, None, :] * L * g
        return rng.poisson(lam).astype(float)
    v = np.maximum(np.asarray(var, dtype=float), 0.0)[:, None, :]
    sd = np.sqrt(v)
    rel = np.sqrt(sl)
    m = mu[:, None, :]
    shared_sd = np.minimum(rel * np.abs(m), sd)
    rest_sd = np.sqrt(np.maximum(v - shared_sd**2, 0.0))
    z_l = rng.standard_normal((n, n_paths, 1))
    z = rng.standard_normal((n, n_paths, H))
    return np.maximum(m + shared_sd * z_l + rest_sd * z, 0.0)


def pinball_loss(actual: np.ndarray, q: np.ndarray, alpha: float) -> np.ndarray:
    """Pinball (quantile) loss per cell, units of demand: ``max(a (y-q), (a-1)(y-q))``."""
    d = actual - q
    return np.maximum(alpha * d, (alpha - 1) * d)
