"""``DemandForecaster``: the production probabilistic demand forecaster (an sktime forecaster).

What it does in ``fit`` (all series at once, no per-series clones):

1. Puts the panel on a dense ``[series, period]`` grid (:mod:`ml.forecasting._panel`).
2. Classifies every series (smooth / erratic / intermittent / lumpy / new, :mod:`.classify`).
3. Rolling-origin backtest inside the training data: at ``n_origins`` origins ``T - k*H`` every
   candidate model forecasts the next ``H`` periods from the data before the origin. Candidates
   (all vectorised over series, :mod:`.models`): ``seasonal_naive``, ``ets``, ``croston_sba``,
   ``tsb``, ``gbm`` (global gradient boosting with calendar/price/promo/holiday features) and the
   equal-weight combinations ``gbm+ets`` and ``gbm+tsb``.
4. For each candidate and segment, the predictive distribution is estimated from those
   out-of-sample residuals (:mod:`.distributions`: negative binomial with a shared level factor
   for count data), and the candidate with the lowest mean pinball loss over the quantiles
   0.01...0.99 wins the segment (coverage of the 90% interval is reported alongside in
   ``selection_scores_``). Segments with fewer than ``min_segment_series`` series use the
   candidate that is best over all series.
5. Refits the winning models on all data. Per-series variance factors (credibility-weighted
   ratio of the series' own backtest errors to the segment's) widen or narrow its intervals.

Predictions: ``predict`` gives the mean, ``predict_quantiles`` / ``predict_interval`` give
negative-binomial quantiles (non-negative integers for count data), ``predict_sample_paths``
gives joint paths whose errors are correlated across periods, and ``predict_lead_time_demand``
gives the distribution of demand summed over a random lead time plus review period.

The data frequency is free (daily, weekly, monthly, integer index); the season length is taken from
``sp`` or inferred from the frequency (daily 7, weekly 52, monthly 12, quarterly 4).
Exogenous ``X`` (e.g. ``net_price``, ``is_promo``) is used by the gradient-boosting model only;
if ``X`` is given in ``fit`` but not in ``predict``, each series' last known values are carried
forward. Period labels of datetime indexes are taken as period *starts* for holiday counting.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri as special_ndtri
from sktime.forecasting.base import BaseForecaster, ForecastingHorizon

from ml.forecasting import models as M
from ml.forecasting._panel import (
    Panel,
    exog_to_array,
    extend_times,
    frame_to_panel,
    infer_sp,
    regular_grid,
)
from ml.forecasting.classify import SEGMENTS, classify_array
from ml.forecasting.distributions import (
    EVAL_ALPHAS,
    Dispersion,
    estimate_dispersion,
    nb_quantiles,
    normal_quantiles,
    pinball_loss,
    sample_paths,
    series_scale_factors,
)


def calibrate_variance(
    mu: np.ndarray,
    var: np.ndarray,
    actual: np.ndarray,
    coverage: float = 0.9,
    count: bool = True,
    bounds: tuple[float, float] = (0.25, 4.0),
    n_iter: int = 30,
) -> tuple[float, float, float]:
    """Variance multiplier ``k`` that makes held-out interval coverage equal ``coverage``.

    ``mu``, ``var`` and ``actual`` are backtest cells (any equal shapes; NaN actuals ignored).
    Count data use the negative binomial with variance ``k * var`` and the randomised PIT
    (Czado, Gneiting & Held 2009), whose coverage is exact for a calibrated count forecast;
    continuous data use the normal. Coverage grows with ``k``, so ``k`` is found by bisection on
    ``log k`` within ``bounds`` (at most 4x wider or narrower variance). A one-parameter,
    per-segment recalibration on out-of-sample cells: split-conformal in spirit, with the
    distribution's shape kept. Returns ``(k, coverage at k=1, coverage at k)``.
    """
    from ml.forecasting.distributions import count_cdf, randomized_coverage

    ok = ~np.isnan(actual) & ~np.isnan(mu)
    m = np.maximum(mu[ok], 0.0) if count else mu[ok]
    v = np.asarray(var, dtype=float)[ok]
    a = actual[ok]
    if a.size < 20:
        return 1.0, float("nan"), float("nan")
    z = float(special_ndtri(0.5 + coverage / 2))

    def cov(k: float) -> float:
        if count:
            vv = np.maximum(k * v, m)
            return float(
                randomized_coverage(count_cdf(a - 1, m, vv), count_cdf(a, m, vv), coverage).mean()
            )
        return float(np.mean(np.abs(a - m) <= z * np.sqrt(np.maximum(k * v, 0.0))))

    base = cov(1.0)
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    if cov(np.exp(hi)) < coverage:
        return float(np.exp(hi)), base, cov(np.exp(hi))
    if cov(np.exp(lo)) > coverage:
        return float(np.exp(lo)), base, cov(np.exp(lo))
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        if cov(np.exp(mid)) < coverage:
            lo = mid
        else:
            hi = mid
    k = float(np.exp(0.5 * (lo + hi)))
    return k, base, cov(k)


ALL_MODELS: tuple[str, ...] = (
    "seasonal_naive",
    "ets",
    "croston_sba",
    "tsb",
    "gbm",
    "gbm+ets",
    "gbm+tsb",
)


def _calendar(times: pd.Index, sp: int, holiday_country: str | None) -> np.ndarray | None:
    """Calendar features per period: month, ISO week, day of week (daily data), holidays."""
    if isinstance(times, pd.PeriodIndex):
        start = times.start_time
        freq = times.freqstr
    elif isinstance(times, pd.DatetimeIndex):
        start = times
        freq = (
            times.freqstr
            if times.freq is not None
            else (pd.infer_freq(times) if len(times) > 2 else None)
        )
    else:
        return None
    cols = [start.month.to_numpy(float), start.isocalendar().week.to_numpy(float)]
    daily = bool(freq) and freq.split("-")[0] in ("D", "B")
    if daily:
        cols.append(start.dayofweek.to_numpy(float))
    if holiday_country:
        import holidays as hol

        years = range(int(start.year.min()) - 1, int(start.year.max()) + 2)
        days = pd.DatetimeIndex(sorted(hol.country_holidays(holiday_country, years=years)))
        step = start[1] - start[0] if len(start) > 1 else pd.Timedelta(days=1)
        edges = start.append(pd.DatetimeIndex([start[-1] + step]))
        counts = np.histogram(days.asi8, bins=edges.asi8)[0].astype(float)
        cols.append(counts)
        cols.append(np.r_[counts[1:], 0.0])
    return np.column_stack(cols)


class DemandForecaster(BaseForecaster):
    """Probabilistic demand forecaster for whole panels, with per-segment model selection.

    Parameters
    ----------
    sp : int or None, default None
        Season length in periods; None infers it from the index frequency (daily 7, weekly 52,
        monthly 12, else 1).
    models : sequence of str or None
        Candidate models (subset of :data:`ALL_MODELS`); None means all.
    backtest_horizon : int or None
        Periods ahead scored in the internal backtest and the horizon range the global model is
        trained for. None: the largest ``fh`` passed to ``fit``, else ``max(8, min(sp, 56))``.
    n_origins : int, default 2
        Number of rolling origins in the internal backtest (each costs one more fit).
    min_history : int, default 8
        Series with fewer observed periods are classified ``new``.
    min_segment_series : int, default 10
        Segments with fewer series take the overall best candidate.
    n_volume_bins : int, default 4
        For smooth and erratic count series the excess dispersion is estimated per segment *and*
        volume quartile (mean backtest forecast of the series): pooled over a whole segment it
        is dominated by the largest series and leaves slow movers with too-narrow intervals.
    gbm_max_iter, gbm_max_rows : int
        Boosting iterations and training-row cap of the global model.
    holiday_country : str or None
        Country code for ``holidays`` (offline data) to add holiday counts as features.
    n_jobs : int, default 1
        Worker processes for the fit (-1: all cores) (backtest origins and the final refit run in parallel);
        every worker pins OpenMP/BLAS to one thread.
    random_state : int, default 0
    calibrate : bool, default True
        Recalibrate interval width after the moment estimates: one variance multiplier per
        calibration group (:meth:`_calibration_groups`: frequent or intermittent series binned by
        CV²) chosen so that the randomised-PIT coverage of the central ``calibration_coverage`` interval on the internal
        backtest cells equals its nominal level (:func:`calibrate_variance`). Moment estimates
        fit the variance, not the tails: heavy-tailed (erratic) segments come out too narrow
        and near-Poisson ones slightly too wide. Reported in ``calibration_``.
    calibration_coverage : float, default 0.9
        The central interval whose coverage the calibration matches.
    calibration_bins : int, default 4
        CV² bins per demand-frequency class in the calibration.
    credibility_periods : float, default 4
        Pseudo-periods at the group's dispersion in each series' own variance factor
        (:func:`~ml.forecasting.distributions.series_scale_factors`); fewer trust the series' own
        backtest errors more.

    Examples
    --------
    >>> from sktime.utils._testing.hierarchical import _make_hierarchical
    >>> from ml.forecasting.forecaster import DemandForecaster
    >>> y = _make_hierarchical(hierarchy_levels=(4,), min_timepoints=60, max_timepoints=60)
    >>> f = DemandForecaster(models=("ets", "tsb"), backtest_horizon=6).fit(y, fh=[1, 2, 3])
    >>> q = f.predict_quantiles(alpha=[0.05, 0.5, 0.95])
    >>> bool((q.to_numpy() >= 0).all())
    True
    """

    _tags = {
        "authors": ["stockpilot"],
        "y_inner_mtype": ["pd.DataFrame", "pd-multiindex", "pd_multiindex_hier"],
        "X_inner_mtype": ["pd.DataFrame", "pd-multiindex", "pd_multiindex_hier"],
        "scitype:y": "univariate",
        "capability:exogenous": True,
        "requires-fh-in-fit": False,
        "capability:random_state": True,
        "capability:missing_values": False,
        "capability:pred_int": True,
        "capability:pred_int:insample": False,
        "capability:insample": False,
        # update(update_params=False) extends the fitted state with new periods; see _update
        "capability:update": True,
    }

    def __init__(
        self,
        sp: int | None = None,
        models: Sequence[str] | None = None,
        backtest_horizon: int | None = None,
        n_origins: int = 2,
        min_history: int = 8,
        min_segment_series: int = 10,
        n_volume_bins: int = 4,
        gbm_max_iter: int = 120,
        gbm_max_rows: int = 80_000,
        holiday_country: str | None = None,
        n_jobs: int = 1,
        random_state: int = 0,
        calibrate: bool = True,
        calibration_coverage: float = 0.9,
        calibration_bins: int = 4,
        credibility_periods: float = 4.0,
    ) -> None:
        self.sp = sp
        self.models = models
        self.backtest_horizon = backtest_horizon
        self.n_origins = n_origins
        self.min_history = min_history
        self.min_segment_series = min_segment_series
        self.n_volume_bins = n_volume_bins
        self.gbm_max_iter = gbm_max_iter
        self.gbm_max_rows = gbm_max_rows
        self.holiday_country = holiday_country
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.calibrate = calibrate
        self.calibration_coverage = calibration_coverage
        self.calibration_bins = calibration_bins
        self.credibility_periods = credibility_periods
        super().__init__()

    # ------------------------------------------------------------------ helpers
    def _candidates(self, n_cells: int) -> list[str]:
        cands = list(self.models) if self.models is not None else list(ALL_MODELS)
        unknown = set(cands) - set(ALL_MODELS)
        if unknown:
            raise ValueError(f"unknown models {sorted(unknown)}; choose from {ALL_MODELS}")
        return cands

    def _gbm(self, calendar: np.ndarray | None, horizon: int) -> M.GlobalGBM:
        return M.GlobalGBM(
            sp=self.sp_,
            max_horizon=horizon,
            max_iter=self.gbm_max_iter,
            max_rows=self.gbm_max_rows,
            random_state=self.random_state,
            calendar=calendar,
        )

    def _fit_gbm(self, y: np.ndarray, X: np.ndarray | None, cal: np.ndarray | None, H: int):
        from threadpoolctl import threadpool_limits

        g = self._gbm(cal, H)
        with threadpool_limits(limits=1, user_api="openmp"):
            g.fit(y, X, self.seg_code_)
        return g

    def _gbm_predict(self, g: M.GlobalGBM, y, X, cal, H: int) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        g.calendar = cal
        with threadpool_limits(limits=1, user_api="openmp"):
            return g.predict(y, X, self.seg_code_, H)

    def _local_forecasts(
        self,
        names: set[str],
        y: np.ndarray,
        H: int,
        ets_state: dict | None = None,
        choices: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Point forecasts of the local models; ``choices`` keeps fitted Croston/TSB smoothing."""
        out: dict[str, np.ndarray] = {}
        choices = choices or {}
        if "seasonal_naive" in names:
            out["seasonal_naive"] = M.seasonal_naive(y, H, self.sp_)
        if "ets" in names:
            state = ets_state if ets_state is not None else M.ets_fit(y, self.sp_)
            out["ets"] = M.ets_predict(state, H)
        if "croston_sba" in names:
            f, _ = M.croston_sba_state(y, choice=choices.get("croston_sba"))
            out["croston_sba"] = np.repeat(f[:, None], H, axis=1)
        if "tsb" in names:
            f, _ = M.tsb_state(y, choice=choices.get("tsb"))
            out["tsb"] = np.repeat(f[:, None], H, axis=1)
        return out

    def _all_forecasts(
        self,
        names: set[str],
        y: np.ndarray,
        X: np.ndarray | None,
        cal: np.ndarray | None,
        H: int,
        gbm: M.GlobalGBM | None = None,
        ets_state: dict | None = None,
        choices: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        need = set(names)
        for n in names:
            if "+" in n:
                need.update(n.split("+"))
        out = self._local_forecasts(need, y, H, ets_state, choices)
        if "gbm" in need:
            g = gbm if gbm is not None else self._fit_gbm(y, X, cal, H)
            out["gbm"] = self._gbm_predict(g, y, X, cal, H)
        for n in names:
            if "+" in n:
                a, b = n.split("+")
                out[n] = 0.5 * (out[a] + out[b])
        for k in out:
            out[k] = np.nan_to_num(out[k], nan=0.0)
            if self.nonneg_:
                out[k] = np.maximum(out[k], 0.0)
        return out

    def _horizon_default(self, fh: ForecastingHorizon | None, T: int) -> int:
        if self.backtest_horizon is not None:
            return int(self.backtest_horizon)
        if fh is not None:
            try:
                rel = np.asarray(fh.to_relative(self.cutoff))
                return int(max(1, rel.max()))
            except Exception:  # noqa: BLE001 - fall back to the default horizon
                pass
        return int(max(8, min(self.sp_, 56)))

    def _quantiles_from(
        self, mu: np.ndarray, var: np.ndarray, alphas: Sequence[float]
    ) -> np.ndarray:
        if self.count_:
            return nb_quantiles(mu, var, np.asarray(alphas))
        return normal_quantiles(mu, var, np.asarray(alphas), self.nonneg_)

    def _variance(
        self, mu: np.ndarray, c: np.ndarray | float, factor: np.ndarray | float, mse: Any = None
    ) -> np.ndarray:
        """Predictive variance per cell for count (NB) or continuous (normal) data."""
        if self.count_:
            c = np.asarray(c, dtype=float)
            f = np.asarray(factor, dtype=float)
            if c.ndim == 1:
                c = c[:, None]
            if f.ndim == 1:
                f = f[:, None]
            mu = np.maximum(mu, 0.0)
            return f * (mu + c * mu**2)
        m = np.asarray(mse, dtype=float)
        return np.broadcast_to(m[:, None] if m.ndim == 1 else m, mu.shape).astype(float)

    # ------------------------------------------------------------------ fit
    def _fit(self, y: pd.DataFrame, X: pd.DataFrame | None = None, fh=None) -> DemandForecaster:
        freq_hint = None
        try:
            freq_hint = self.cutoff.freqstr
        except Exception:  # noqa: BLE001 - integer or unknown index
            freq_hint = None
        panel = frame_to_panel(y, freq_hint)
        yv = panel.values
        self.series_keys_ = panel.keys
        self.times_ = panel.times
        self.freq_ = panel.freq
        self.sp_ = int(self.sp) if self.sp is not None else infer_sp(panel.freq)
        cut = self._cutoff
        if isinstance(cut, pd.DatetimeIndex) and cut.freq is None and panel.freq is not None:
            # sktime cannot infer the frequency of a datetime level inside a MultiIndex
            self._cutoff = pd.DatetimeIndex(cut, freq=panel.freq)
        self._y_index_names = list(y.index.names)
        self._y_name = y.columns[0] if isinstance(y, pd.DataFrame) else y.name
        obs = yv[~np.isnan(yv)]
        self.nonneg_ = bool((obs >= 0).all())
        self.count_ = bool(self.nonneg_ and np.allclose(obs, np.round(obs)))
        n, T = yv.shape
        H = self._horizon_default(fh, T)
        self.horizon_ = H
        Xa, self.x_names_ = exog_to_array(X, panel.keys, panel.times)
        self._y_arr = yv
        self._X_hist = Xa

        seg = classify_array(yv, min_history=self.min_history)
        seg.index = panel.keys
        self.segments_ = seg
        self.seg_code_ = seg["segment"].cat.codes.to_numpy()
        cands = self._candidates(n * T)
        if n * T < 2000 or 4 * max(H, 1) > T:
            cands = [c for c in cands if "gbm" not in c] or ["seasonal_naive"]

        # ---- internal rolling-origin backtest
        cal_full = _calendar(extend_times(panel.times, H), self.sp_, self.holiday_country)
        min_train = max(10, self.min_history, 2 * H)
        origins = [T - k * H for k in range(1, max(int(self.n_origins), 1) + 1)]
        origins = [o for o in origins if o >= min_train]
        need_final_gbm = any("gbm" in c for c in cands)
        need_final_ets = any("ets" in c for c in cands)
        jobs = [("backtest", o) for o in origins] + [("final", T)]
        results = self._run_jobs(jobs, yv, Xa, cal_full, H, cands, need_final_gbm, need_final_ets)
        fc: dict[str, list[np.ndarray]] = {c: [] for c in cands}
        acts: list[np.ndarray] = []
        seg_bt: list[np.ndarray] = []
        for (kind, o), res in zip(jobs, results, strict=True):
            if kind != "backtest":
                continue
            for c in cands:
                fc[c].append(res[c])
            acts.append(yv[:, o : o + H])
            seg_bt.append(self.seg_code_)
        final_ets, final_gbm = results[-1]
        rows = []
        disp: dict[tuple[str, int], Any] = {}
        best_by_seg: dict[str, str] = {}
        if origins:
            A = np.vstack(acts)
            S = np.concatenate(seg_bt)
            F = {c: np.vstack(v) for c, v in fc.items()}
            rng = np.random.default_rng(self.random_state)
            for c in cands:
                disp[(c, -1)] = self._estimate(F[c], A)
                for s_code, s_name in enumerate(SEGMENTS):
                    m = s_code == S
                    if m.sum() == 0:
                        continue
                    d = (
                        self._estimate(F[c][m], A[m])
                        if m.sum() >= self.min_segment_series
                        else disp[(c, -1)]
                    )
                    disp[(c, s_code)] = d
                    rows.append(
                        {
                            "segment": s_name,
                            "model": c,
                            "n_series": int(m.sum()),
                            **self._score(F[c][m], A[m], d, rng),
                        }
                    )
            scores = pd.DataFrame(rows)
            overall = (
                scores.assign(w=scores["pinball"] * scores["n_series"])
                .groupby("model")["w"]
                .sum()
                .idxmin()
            )
            for s_name in SEGMENTS:
                sc = scores[scores["segment"] == s_name]
                if sc.empty:
                    continue
                if int(sc["n_series"].iloc[0]) >= self.min_segment_series:
                    best_by_seg[s_name] = str(sc.loc[sc["pinball"].idxmin(), "model"])
                else:
                    best_by_seg[s_name] = str(overall)
            scores["selected"] = [
                best_by_seg.get(s) == m
                for s, m in zip(scores["segment"], scores["model"], strict=True)
            ]
            self.selection_scores_ = scores
        else:
            fallback = "ets" if "ets" in cands else cands[0]
            best_by_seg = {s: fallback for s in SEGMENTS}
            self.selection_scores_ = pd.DataFrame(
                columns=["segment", "model", "n_series", "pinball", "coverage_90", "selected"]
            )
        self.model_by_segment_ = best_by_seg
        seg_names = np.asarray(SEGMENTS, dtype=object)[self.seg_code_]
        self.series_model_ = pd.Series(
            [best_by_seg.get(s, cands[0]) for s in seg_names], index=panel.keys, name="model"
        )

        # ---- per-series dispersion of the selected model
        c_arr = np.zeros(n)
        sl_arr = np.zeros(n)
        fac = np.ones(n)
        mse = np.ones(n)
        if origins:
            model_arr = self.series_model_.to_numpy()
            n_o = len(origins)
            # volume of each series = mean backtest forecast of its selected model (units/period)
            vol = np.zeros(n)
            for c in set(model_arr):
                m = model_arr == c
                vol[m] = np.nanmean(F[c].reshape(n_o, n, H)[:, m, :], axis=(0, 2))
            n_bins = max(int(self.n_volume_bins), 1)
            edges = np.nanquantile(vol, np.linspace(0, 1, n_bins + 1)[1:-1]) if n_bins > 1 else []
            vbin = np.searchsorted(edges, vol, side="right")
            for c in set(model_arr):
                m = model_arr == c
                for s_code in np.unique(self.seg_code_[m]):
                    mm = m & (self.seg_code_ == s_code)
                    d_seg = disp[(c, s_code)]
                    groups = [(mm, d_seg)]
                    if self.count_ and SEGMENTS[s_code] in ("smooth", "erratic"):
                        # intermittent/lumpy: the size distribution, not the volume, drives
                        # dispersion and per-bin estimates were noisier (worse pinball loss)
                        groups = []
                        for b in np.unique(vbin[mm]):
                            mb = mm & (vbin == b)
                            # a bin estimates its own dispersion from >= 3x the series a
                            # segment needs; heavy-tailed segments are noisy otherwise
                            big = mb.sum() >= 3 * self.min_segment_series
                            groups.append((mb, None if big else d_seg))
                    for mm_g, d_fixed in groups:
                        self._set_dispersion(
                            mm_g, d_fixed, F[c], A, n, n_o, H, c_arr, sl_arr, fac, mse
                        )
        else:
            with np.errstate(invalid="ignore"):
                mean = np.nanmean(yv, axis=1)
                var = np.nanvar(yv, axis=1)
            mean = np.nan_to_num(mean, nan=0.0)
            var = np.nan_to_num(var, nan=1.0)
            if self.count_:
                c_arr = np.where(
                    mean > 0, np.maximum(var - mean, 0.0) / np.maximum(mean, 1e-9) ** 2, 0.0
                )
            mse = np.where(var > 0, var, 1.0)
        # ---- coverage calibration per segment (randomised PIT on the backtest cells)
        calib = np.ones(n)
        rows_cal = []
        if origins and self.calibrate:
            model_arr = self.series_model_.to_numpy()
            n_o = len(origins)
            mu_bt = np.empty((n_o, n, H))
            for c in set(model_arr):
                m = model_arr == c
                mu_bt[:, m, :] = F[c].reshape(n_o, n, H)[:, m, :]
            a_bt = A.reshape(n_o, n, H)
            for label, m in self._calibration_groups():
                mu_s = mu_bt[:, m, :]
                var_s = self._variance(
                    mu_s.reshape(-1, H),
                    np.tile(c_arr[m], n_o),
                    np.tile(fac[m], n_o),
                    np.tile(mse[m], n_o),
                ).reshape(mu_s.shape)
                k, before, after = calibrate_variance(
                    mu_s, var_s, a_bt[:, m, :], self.calibration_coverage, count=self.count_
                )
                calib[m] = k
                rows_cal.append(
                    {
                        "group": label,
                        "n_series": int(m.sum()),
                        "variance_multiplier": k,
                        "pit_coverage_before": before,
                        "pit_coverage_after": after,
                    }
                )
        self.calibration_ = pd.DataFrame(
            rows_cal,
            columns=[
                "group",
                "n_series",
                "variance_multiplier",
                "pit_coverage_before",
                "pit_coverage_after",
            ],
        )
        if self.count_:
            fac = fac * calib
        else:
            mse = mse * calib
        self.dispersion_ = pd.DataFrame(
            {"c": c_arr, "sigma_L2": sl_arr, "scale_factor": fac, "mse": mse}, index=panel.keys
        )

        # ---- refit selected models on all data
        chosen = set(self.series_model_.unique())
        self._ets_state = final_ets if any("ets" in c for c in chosen) else None
        self._gbm_model = final_gbm if any("gbm" in c for c in chosen) else None
        self._smoothing_choice = self._intermittent_choices(yv, chosen)
        return self

    @staticmethod
    def _intermittent_choices(yv: np.ndarray, chosen: set[str]) -> dict[str, np.ndarray]:
        """Croston-SBA / TSB smoothing picked per series on ``yv`` (kept by ``update``).

        On the fitted data, forecasting with these choices equals re-selecting them, so storing
        them changes no forecast of a fitted model; it lets ``update`` keep them fixed.
        """
        out: dict[str, np.ndarray] = {}
        for name, fn in (("croston_sba", M.croston_sba_state), ("tsb", M.tsb_state)):
            if any(name in c.split("+") for c in chosen):
                out[name] = fn(yv)[1]
        return out

    # ------------------------------------------------------------------ update
    def _update(
        self, y: pd.DataFrame, X: pd.DataFrame | None = None, update_params: bool = True
    ) -> DemandForecaster:
        """New periods for the fitted series: extend the state, or refit on all data seen.

        ``update_params=False`` (the weekly run between retrains) keeps everything the fit chose
        or estimated: the model per series (and so per segment), the segment labels, the ETS
        grid point per series, the Croston/TSB smoothing per series, the global gradient-boosting
        model, dispersion, per-series variance factors and the coverage calibration. Only the
        data move: the new periods (and corrections of periods already seen) are written into the
        stored ``[series, period]`` history, the ETS level/trend/season are re-run over that
        history with each series' fitted parameters (:func:`~ml.forecasting.models.ets_filter`),
        and the cutoff moves to the last period, so forecasts start after the new data. Series
        without a value in the new periods carry their state forward (NaN = unobserved). Series
        that the fit never saw cannot be updated and raise ``ValueError``: fit (or refit) them.

        ``update_params=True`` refits from scratch (model selection, dispersion, calibration,
        everything) on all data seen: the stored history plus ``y`` (new series included), with
        the fitted horizon. ``remember_data`` is not needed for either, the forecaster keeps its
        own history arrays.
        """
        panel = frame_to_panel(y, self.freq_)
        idx = self.series_keys_.get_indexer(panel.keys)
        unknown = panel.keys[idx < 0]
        if len(unknown) and not update_params:
            shown = ", ".join(map(str, list(unknown[:5])))
            raise ValueError(
                f"{len(unknown)} series are not in the fitted panel and cannot be updated "
                f"(e.g. {shown}); fit them, or call update(update_params=True) to refit on all data"
            )
        if not hasattr(self, "_smoothing_choice"):
            # artifacts saved before the choice was stored: pick it on the fitted data, as fit did
            self._smoothing_choice = self._intermittent_choices(
                self._y_arr, set(self.series_model_.unique())
            )
        keys, grid, vals, Xa = self._merge_history(panel, X)
        if update_params:
            y_all, X_all = self._history_frames(keys, grid, vals, Xa)
            fh = ForecastingHorizon(np.arange(1, self.horizon_ + 1), is_relative=True)
            self._set_cutoff_to(grid)
            self._fit(y_all, X=X_all, fh=fh)
        else:
            self.times_ = grid
            self._y_arr = vals
            self._X_hist = Xa
            if self._ets_state is not None:
                self._ets_state = M.ets_filter(vals, self._ets_state)
        self._set_cutoff_to(grid)
        return self

    def _set_cutoff_to(self, grid: pd.Index) -> None:
        cut = grid[-1:]
        if isinstance(cut, pd.DatetimeIndex) and cut.freq is None and self.freq_ is not None:
            cut = pd.DatetimeIndex(cut, freq=self.freq_)
        self._cutoff = cut

    def _merge_history(
        self, panel: Panel, X: pd.DataFrame | None
    ) -> tuple[pd.Index, pd.Index, np.ndarray, np.ndarray | None]:
        """Stored history + new panel on one grid: ``(keys, times, y[n, T'], X[n, T', p])``."""
        times = self.times_
        new_times = pd.Index(panel.times)
        grid, freq = regular_grid(times.append(new_times), self.freq_)
        T = len(times)
        on_grid = grid.get_indexer(new_times)
        if (
            len(grid) < T
            or not np.array_equal(np.asarray(grid[:T]), np.asarray(times))
            or (on_grid < 0).any()
            or (self.freq_ is not None and freq is None)
        ):
            raise ValueError(
                f"update periods must continue the fitted time grid ({times[0]} .. {times[-1]}, "
                f"frequency {self.freq_}); got {new_times.min()} .. {new_times.max()}"
            )
        keys = self.series_keys_
        idx = keys.get_indexer(panel.keys)
        extra = panel.keys[idx < 0]
        if len(extra):
            keys = keys.append(extra)
            idx = keys.get_indexer(panel.keys)
        n_old, n = len(self.series_keys_), len(keys)
        vals = np.full((n, len(grid)), np.nan)
        vals[:n_old, :T] = self._y_arr
        block = vals[np.ix_(idx, on_grid)]
        vals[np.ix_(idx, on_grid)] = np.where(np.isnan(panel.values), block, panel.values)
        Xa = None
        if self._X_hist is not None:
            Xa = np.full((n, len(grid), self._X_hist.shape[2]), np.nan)
            Xa[:n_old, : self._X_hist.shape[1], :] = self._X_hist[:, :T, :]
            if X is not None:
                Xn, names = exog_to_array(X, keys, grid)
                if Xn is not None and names == self.x_names_:
                    known = ~np.isnan(Xn)
                    Xa[known] = Xn[known]
        return keys, grid, vals, Xa

    def _history_frames(
        self, keys: pd.Index, grid: pd.Index, vals: np.ndarray, Xa: np.ndarray | None
    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The observed cells of a ``[series, period]`` history as sktime frames (y, X)."""
        ii, tt = np.nonzero(~np.isnan(vals))
        if len(self._y_index_names) == 1:
            index = pd.Index(grid[tt], name=self._y_index_names[0])
        else:
            if isinstance(keys, pd.MultiIndex):
                arrays = [keys.get_level_values(i)[ii] for i in range(keys.nlevels)]
            else:
                arrays = [keys[ii]]
            index = pd.MultiIndex.from_arrays([*arrays, grid[tt]], names=self._y_index_names)
        y = pd.DataFrame({self._y_name: vals[ii, tt]}, index=index)
        Xf = None
        if Xa is not None:
            Xf = pd.DataFrame(Xa[ii, tt, :], index=index, columns=self.x_names_)
        return y, Xf

    def select_series(self, keys: Sequence[Any] | pd.Index) -> DemandForecaster:
        """A copy that forecasts only ``keys`` (a subset of ``series_keys_``), fit unchanged.

        Every per-series fitted quantity (history, segment, model, ETS state, smoothing choice,
        dispersion) is cut to the selected series; what the fit pooled over all series (the global
        model, the dispersion and calibration estimates, the selection scores) is kept as fitted.
        Used to split a stored model so that each series is forecast by exactly one artifact, and
        to fit a small set of series together with context series but keep only the small set.
        """
        self.check_is_fitted()
        keys = keys if isinstance(keys, pd.Index) else pd.Index(keys)
        idx = self.series_keys_.get_indexer(keys)
        if (idx < 0).any():
            raise KeyError(f"{int((idx < 0).sum())} of the keys are not fitted series")
        heavy = {"_y_arr", "_X_hist", "_ets_state", "_gbm_model", "_y", "_X"}
        out = copy.copy(self)
        out.__dict__ = {
            k: (v if k in heavy else copy.deepcopy(v)) for k, v in self.__dict__.items()
        }
        out.series_keys_ = self.series_keys_[idx]
        out._y_arr = self._y_arr[idx]
        out._X_hist = self._X_hist[idx] if self._X_hist is not None else None
        out.segments_ = self.segments_.iloc[idx]
        out.seg_code_ = self.seg_code_[idx]
        out.series_model_ = self.series_model_.iloc[idx]
        out.dispersion_ = self.dispersion_.iloc[idx]
        if self._ets_state is not None:
            out._ets_state = {
                k: (v[idx] if np.ndim(v) >= 1 else v) for k, v in self._ets_state.items()
            }
        out._smoothing_choice = {
            k: v[idx] for k, v in getattr(self, "_smoothing_choice", {}).items()
        }
        if self._gbm_model is not None:
            g = copy.copy(self._gbm_model)
            if g.x_means_ is not None:
                g.x_means_ = g.x_means_[idx]
            if getattr(g, "fallback_", None) is not None:
                g.fallback_ = g.fallback_[idx]
            out._gbm_model = g
        for name in ("_y", "_X"):
            frame = getattr(self, name, None)
            if isinstance(frame, pd.DataFrame) and isinstance(frame.index, pd.MultiIndex):
                setattr(out, name, frame[frame.index.droplevel(-1).isin(out.series_keys_)])
        return out

    def _calibration_groups(self) -> list[tuple[str, np.ndarray]]:
        """Series groups that each get one variance multiplier in the coverage calibration.

        Frequent-demand series (ADI < 1.32: smooth and erratic) and intermittent ones (lumpy,
        intermittent) are each split into up to ``calibration_bins`` bins of the squared
        coefficient of variation of demand sizes (CV²), with at least ``3 * min_segment_series``
        series per bin; ``new`` series form their own group. Binning on CV² rather than on the
        segment label matters because a series near the 0.49 cut-off changes segment between fits
        while its tail heaviness, which is what the multiplier corrects, does not.
        """
        seg = self.segments_
        names = seg["segment"].astype(str).to_numpy()
        cv2 = np.nan_to_num(seg["cv2"].to_numpy(dtype=float), nan=0.0)
        out: list[tuple[str, np.ndarray]] = []
        min_n = max(int(self.min_segment_series), 1)
        for side, members, per_bin in (
            ("frequent", ("smooth", "erratic"), max(3 * min_n, 50)),
            # mostly-zero cells carry little information about the tail: bigger bins
            ("intermittent", ("intermittent", "lumpy"), max(6 * min_n, 100)),
        ):
            m_side = np.isin(names, members)
            n_side = int(m_side.sum())
            if n_side < min_n:
                continue
            n_bins = int(np.clip(n_side // per_bin, 1, max(int(self.calibration_bins), 1)))
            edges = np.quantile(cv2[m_side], np.linspace(0, 1, n_bins + 1)[1:-1])
            b = np.searchsorted(edges, cv2, side="right")
            for k in range(n_bins):
                m = m_side & (b == k)
                if m.any():
                    lo, hi = cv2[m].min(), cv2[m].max()
                    out.append((f"{side} cv2 {lo:.2f}-{hi:.2f}", m))
        m_new = names == "new"
        if m_new.sum() >= min_n:
            out.append(("new", m_new))
        return out

    def _job(
        self,
        kind: str,
        o: int,
        yv: np.ndarray,
        Xa: np.ndarray | None,
        cal_full: np.ndarray | None,
        H: int,
        cands: list[str],
        need_gbm: bool,
        need_ets: bool,
    ) -> Any:
        """One unit of fit work: a backtest origin (all candidates) or the final refit."""
        import warnings

        with warnings.catch_warnings():
            # all-NaN windows of short series are expected and handled (NaN features)
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._job_inner(kind, o, yv, Xa, cal_full, H, cands, need_gbm, need_ets)

    def _job_inner(
        self,
        kind: str,
        o: int,
        yv: np.ndarray,
        Xa: np.ndarray | None,
        cal_full: np.ndarray | None,
        H: int,
        cands: list[str],
        need_gbm: bool,
        need_ets: bool,
    ) -> Any:
        if kind == "backtest":
            Xo = Xa[:, : o + H, :] if Xa is not None else None
            cal_o = cal_full[: o + H] if cal_full is not None else None
            return self._all_forecasts(set(cands), yv[:, :o], Xo, cal_o, H)
        ets = M.ets_fit(yv, self.sp_) if need_ets else None
        gbm = self._fit_gbm(yv, Xa, cal_full, H) if need_gbm else None
        return ets, gbm

    def _run_jobs(self, jobs, yv, Xa, cal_full, H, cands, need_gbm, need_ets) -> list[Any]:
        """Run fit jobs, in ``n_jobs`` worker processes when ``n_jobs > 1``.

        The final refit of the global model is started speculatively next to the backtest (it
        is only kept if some segment selects a ``gbm`` model), so with two workers the wall time
        of a fit is about that of one backtest origin.
        """
        args = (yv, Xa, cal_full, H, cands, need_gbm, need_ets)
        n_jobs = int(self.n_jobs)
        if n_jobs < 0:
            import os

            n_jobs = max((os.cpu_count() or 1) + 1 + n_jobs, 1)
        if n_jobs > 1 and len(jobs) > 1:
            from joblib import Parallel, delayed

            return Parallel(n_jobs=min(n_jobs, len(jobs)), backend="loky")(
                delayed(self._job)(kind, o, *args) for kind, o in jobs
            )
        return [self._job(kind, o, *args) for kind, o in jobs]

    def _set_dispersion(
        self,
        mm: np.ndarray,
        d_fixed: Dispersion | None,
        Fc: np.ndarray,
        A: np.ndarray,
        n: int,
        n_o: int,
        H: int,
        c_arr: np.ndarray,
        sl_arr: np.ndarray,
        fac: np.ndarray,
        mse: np.ndarray,
    ) -> None:
        """Fill the dispersion arrays for the series ``mm`` from their backtest cells.

        ``d_fixed`` (the segment's pooled estimate) is used when the group is too small to
        estimate its own; per-series credibility factors are always computed.
        """
        rows_idx = np.concatenate([np.nonzero(mm)[0] + k * n for k in range(n_o)])
        Fm = Fc[rows_idx]
        Am = A[rows_idx]
        if self.count_:
            d = d_fixed if d_fixed is not None else estimate_dispersion(Fm, Am)
            c_arr[mm] = d.c
            sl_arr[mm] = d.sigma_L2
            f_rows = series_scale_factors(Fm, Am, d.c, prior_periods=self.credibility_periods)
            fac[mm] = np.exp(np.log(f_rows).reshape(n_o, -1).mean(0))
            return
        err2 = np.nanmean(((Am - Fm) ** 2).reshape(n_o, -1, H), axis=(0, 2))
        seg_mse = float(np.nanmean(err2)) if np.isfinite(err2).any() else 1.0
        err2 = np.where(np.isfinite(err2), err2, seg_mse)
        mse[mm] = (n_o * err2 + seg_mse) / (n_o + 1.0)

    def _estimate(self, F: np.ndarray, A: np.ndarray) -> Dispersion:
        if self.count_:
            return estimate_dispersion(F, A)
        # continuous data: variance comes from the residual MSE; no shared-level term
        return Dispersion(c=0.0, sigma_L2=0.0)

    def _score(self, F: np.ndarray, A: np.ndarray, d, rng: np.random.Generator) -> dict[str, float]:
        """Mean pinball loss (units/period) and 90% coverage of a candidate on backtest cells."""
        ok = ~np.isnan(A)
        mu = F[ok]
        a = A[ok]
        if mu.size > 10_000:
            sel = rng.choice(mu.size, 10_000, replace=False)
            mu, a = mu[sel], a[sel]
        if self.count_:
            var = np.maximum(mu, 0) + d.c * np.maximum(mu, 0) ** 2
        else:
            var = np.full(mu.shape, np.mean((a - mu) ** 2) if mu.size else 1.0)
        q = self._quantiles_from(mu, var, EVAL_ALPHAS)
        pl = np.mean([pinball_loss(a, q[:, j], al).mean() for j, al in enumerate(EVAL_ALPHAS)])
        lo, hi = q[:, EVAL_ALPHAS.index(0.05)], q[:, EVAL_ALPHAS.index(0.95)]
        return {"pinball": float(pl), "coverage_90": float(np.mean((a >= lo) & (a <= hi)))}

    # ------------------------------------------------------------------ predict
    def _future_X(self, X: pd.DataFrame | None, H: int) -> np.ndarray | None:
        if self._X_hist is None:
            return None
        ext = extend_times(self.times_, H)
        Xf = np.full((len(self.series_keys_), len(ext), self._X_hist.shape[2]), np.nan)
        Xf[:, : self._X_hist.shape[1], :] = self._X_hist
        if X is not None:
            Xn, names = exog_to_array(X, self.series_keys_, ext)
            if Xn is not None and names == self.x_names_:
                fut = ~np.isnan(Xn)
                Xf[fut] = Xn[fut]
        # carry each series' last known values forward where the future is unknown
        for j in range(Xf.shape[2]):
            Xf[:, :, j] = pd.DataFrame(Xf[:, :, j].T).ffill().to_numpy().T
        return Xf

    def _means(self, H: int, X: pd.DataFrame | None) -> np.ndarray:
        yv = self._y_arr
        chosen = set(self.series_model_.unique())
        Xf = self._future_X(X, H)
        cal = _calendar(extend_times(self.times_, H), self.sp_, self.holiday_country)
        f = self._all_forecasts(
            chosen,
            yv,
            Xf,
            cal,
            H,
            gbm=self._gbm_model,
            ets_state=self._ets_state,
            choices=getattr(self, "_smoothing_choice", None),
        )
        mu = np.zeros((yv.shape[0], H))
        model_arr = self.series_model_.to_numpy()
        for c in chosen:
            m = model_arr == c
            mu[m] = f[c][m]
        return mu

    def _steps(self, fh: ForecastingHorizon) -> tuple[np.ndarray, pd.Index]:
        rel = np.asarray(fh.to_relative(self.cutoff)).astype(int)
        if (rel < 1).any():
            raise NotImplementedError("in-sample prediction is not supported")
        return rel, fh.to_absolute_index(self.cutoff)

    def _distribution(self, fh: ForecastingHorizon, X: pd.DataFrame | None):
        rel, abs_idx = self._steps(fh)
        H = int(rel.max())
        mu = self._means(H, X)[:, rel - 1]
        d = self.dispersion_
        var = self._variance(
            mu, d["c"].to_numpy(), d["scale_factor"].to_numpy(), d["mse"].to_numpy()
        )
        return mu, var, abs_idx

    def _out_index(self, abs_idx: pd.Index) -> pd.Index:
        n = len(self.series_keys_)
        h = len(abs_idx)
        if len(self._y_index_names) == 1:
            idx = pd.Index(abs_idx)
            idx.name = self._y_index_names[0]
            return idx
        keys = self.series_keys_
        if isinstance(keys, pd.MultiIndex):
            arrays = [keys.get_level_values(i).repeat(h) for i in range(keys.nlevels)]
        else:
            arrays = [keys.repeat(h)]
        arrays.append(pd.Index(abs_idx)[np.tile(np.arange(h), n)])
        return pd.MultiIndex.from_arrays(arrays, names=self._y_index_names)

    def _predict(self, fh: ForecastingHorizon, X: pd.DataFrame | None = None) -> pd.DataFrame:
        rel, abs_idx = self._steps(fh)
        mu = self._means(int(rel.max()), X)[:, rel - 1]
        cols = self._get_columns(method="predict")
        return pd.DataFrame(mu.reshape(-1, 1), index=self._out_index(abs_idx), columns=cols)

    def _predict_quantiles(
        self,
        fh: ForecastingHorizon,
        X: pd.DataFrame | None = None,
        alpha: list[float] | None = None,
    ) -> pd.DataFrame:
        alpha = list(alpha) if alpha is not None else [0.05, 0.95]
        mu, var, abs_idx = self._distribution(fh, X)
        q = self._quantiles_from(mu, var, alpha)  # [n, h, a]
        cols = self._get_columns(method="predict_quantiles", alpha=alpha)
        return pd.DataFrame(q.reshape(-1, len(alpha)), index=self._out_index(abs_idx), columns=cols)

    def _predict_interval(
        self,
        fh: ForecastingHorizon,
        X: pd.DataFrame | None = None,
        coverage: list[float] | None = None,
    ) -> pd.DataFrame:
        coverage = list(coverage) if coverage is not None else [0.9]
        alphas = []
        for c in coverage:
            alphas += [0.5 - c / 2, 0.5 + c / 2]
        mu, var, abs_idx = self._distribution(fh, X)
        q = self._quantiles_from(mu, var, alphas).reshape(-1, len(alphas))
        cols = self._get_columns(method="predict_interval", coverage=coverage)
        return pd.DataFrame(q, index=self._out_index(abs_idx), columns=cols)

    def predict_pit_coverage(
        self,
        y_true: pd.DataFrame,
        coverage: Sequence[float] = (0.8, 0.9, 0.95, 0.98),
        X: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Randomised-PIT interval coverage per held-out cell (count data only).

        ``y_true`` holds actuals at future periods (same index layout as ``predict``). Returns one
        row per cell with ``pit_cov_<c>`` = probability that the randomised PIT lies in the central
        ``c`` interval (see :func:`~ml.forecasting.distributions.randomized_coverage`); averaged
        over cells it estimates calibration without the upward bias integer quantiles have on
        intermittent series.
        """
        from ml.forecasting.distributions import count_cdf, randomized_coverage

        self.check_is_fitted()
        times = y_true.index.get_level_values(-1).unique().sort_values()
        fh = ForecastingHorizon(pd.Index(times), is_relative=False)
        mu, var, abs_idx = self._distribution(fh, X)
        idx = self._out_index(abs_idx)
        a = y_true.iloc[:, 0].reindex(idx).to_numpy(dtype=float).reshape(mu.shape)
        F_at = count_cdf(a, mu, var)
        F_below = count_cdf(a - 1, mu, var)
        out = pd.DataFrame(index=idx)
        for c in coverage:
            out[f"pit_cov_{round(c * 100)}"] = randomized_coverage(F_below, F_at, c).ravel()
        return out[~np.isnan(a.ravel())]

    def predict_moments(self, fh: Any = None, X: pd.DataFrame | None = None) -> pd.DataFrame:
        """Mean, variance and shared level variance of the predictive distribution per cell.

        Columns ``mean`` (units/period), ``variance`` (units²/period; the negative binomial's for
        count data) and ``level_cv2`` (``sigma_L2``, unitless: the part of the error shared by
        all periods of a series, so ``Var(sum of t periods) = sum of variances + level_cv2 *
        (sum of means)**2 - ...``). This is what inventory maths needs to build the distribution
        of demand over a lead time without sampling; index as ``predict``.
        """
        self.check_is_fitted()
        if fh is None:
            fh = np.arange(1, self.horizon_ + 1)
        fh = fh if isinstance(fh, ForecastingHorizon) else ForecastingHorizon(fh, is_relative=True)
        mu, var, abs_idx = self._distribution(fh, X)
        if self.count_:
            var = np.maximum(var, np.maximum(mu, 0.0))
        sl = np.repeat(self.dispersion_["sigma_L2"].to_numpy(), mu.shape[1])
        return pd.DataFrame(
            {"mean": mu.ravel(), "variance": var.ravel(), "level_cv2": sl},
            index=self._out_index(abs_idx),
        )

    # ------------------------------------------------------------------ joint distribution
    def predict_sample_paths(
        self,
        fh: Any = None,
        n_paths: int = 1000,
        random_state: int | None = None,
        X: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Joint sample paths ``[n_series, n_paths, len(fh)]`` (units per period).

        Series order is ``self.series_keys_``. Paths share a gamma level factor per path, so the
        spread of a sum over periods reflects the correlation of forecast errors measured in the
        backtest. ``fh`` defaults to ``1..backtest_horizon``.
        """
        self.check_is_fitted()
        if fh is None:
            fh = np.arange(1, self.horizon_ + 1)
        fh = fh if isinstance(fh, ForecastingHorizon) else ForecastingHorizon(fh, is_relative=True)
        mu, var, _ = self._distribution(fh, X)
        rng = np.random.default_rng(random_state)
        d = self.dispersion_
        sl = d["sigma_L2"].to_numpy()
        if self.count_:
            with np.errstate(invalid="ignore", divide="ignore"):
                c_eff = np.where(mu > 0, (var - mu) / np.maximum(mu, 1e-12) ** 2, 0.0)
            return sample_paths(mu, c_eff, sl, n_paths, rng, count=True)
        return sample_paths(mu, np.zeros_like(mu), sl, n_paths, rng, count=False, var=var)

    def predict_lead_time_demand(
        self,
        lead_time_pmf: np.ndarray | Mapping[Any, np.ndarray] | pd.DataFrame,
        review_period: int = 0,
        n_paths: int = 2000,
        quantiles: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99),
        random_state: int | None = None,
        X: pd.DataFrame | None = None,
        return_samples: bool = False,
    ) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
        """Distribution of demand summed over a random lead time plus a review period.

        ``lead_time_pmf[k]`` is the probability that the lead time is ``k`` periods (``k = 0..K-1``,
        in the data's period unit, e.g. days for daily data); a 1-d array applies to every series, a
        2-d array ``[n_series, K]``, a DataFrame indexed like ``series_keys_`` or a mapping from
        series key to 1-d array gives one pmf per series. Demand over periods ``1..L+R`` is summed
        along each joint sample path with ``L`` drawn from the pmf independently of demand
        (Monte-Carlo compound distribution), so skewed or bimodal lead times and correlated daily
        errors are both accounted for.

        Returns one row per series: ``mean``, ``std`` and the requested quantiles (``q0.95`` ...),
        in units; with ``return_samples`` also the ``[n_series, n_paths]`` sample array.
        """
        self.check_is_fitted()
        keys = self.series_keys_
        n = len(keys)
        if isinstance(lead_time_pmf, pd.DataFrame):
            pmf = lead_time_pmf.reindex(keys).fillna(0.0).to_numpy(float)
        elif isinstance(lead_time_pmf, Mapping):
            K = max(len(np.atleast_1d(v)) for v in lead_time_pmf.values())
            pmf = np.zeros((n, K))
            for i, k in enumerate(keys):
                v = np.atleast_1d(np.asarray(lead_time_pmf[k], dtype=float))
                pmf[i, : v.size] = v
        else:
            pmf = np.asarray(lead_time_pmf, dtype=float)
            if pmf.ndim == 1:
                pmf = np.broadcast_to(pmf, (n, pmf.size))
        pmf = np.clip(pmf, 0.0, None)
        pmf = pmf / pmf.sum(axis=1, keepdims=True)
        K = pmf.shape[1]
        H = max(K - 1 + int(review_period), 1)
        rng = np.random.default_rng(random_state)
        paths = self.predict_sample_paths(np.arange(1, H + 1), n_paths, int(rng.integers(2**31)), X)
        csum = np.concatenate([np.zeros((n, n_paths, 1)), np.cumsum(paths, axis=2)], axis=2)
        cdf = np.cumsum(pmf, axis=1)
        u = rng.random((n, n_paths))
        L = (u[:, :, None] > cdf[:, None, :]).sum(axis=2)
        L = np.minimum(L, K - 1)
        total = np.take_along_axis(csum, (L + int(review_period))[:, :, None], axis=2)[:, :, 0]
        out = pd.DataFrame({"mean": total.mean(1), "std": total.std(1)}, index=keys)
        qs = np.quantile(total, list(quantiles), axis=1, method="inverted_cdf")
        for q, v in zip(quantiles, qs, strict=True):
            out[f"q{q:g}"] = v
        return (out, total) if return_samples else out

    # ------------------------------------------------------------------ sktime
    @classmethod
    def get_test_params(cls, parameter_set: str = "default") -> list[dict[str, Any]]:
        """Small, fast settings for sktime's estimator checks."""
        return [
            {"models": ("seasonal_naive", "ets", "tsb"), "backtest_horizon": 3},
            {"sp": 4, "models": ("ets", "croston_sba", "gbm"), "gbm_max_iter": 10},
        ]
