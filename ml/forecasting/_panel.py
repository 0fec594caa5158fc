"""Conversion between sktime panel frames and dense ``[series, time]`` arrays.

All model code in this package works on a dense array ``y[n_series, n_periods]`` on one global,
regular time grid (NaN where a series has no observation), so that every model can update all series
in one vectorised step per period instead of looping over series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Season length (periods per cycle) used when the caller does not give one.
_SP_BY_FREQ = {
    "D": 7,
    "B": 5,
    "W": 52,
    "M": 12,
    "MS": 12,
    "ME": 12,
    "Q": 4,
    "QS": 4,
    "QE": 4,
    "h": 24,
    "H": 24,
}


@dataclass
class Panel:
    """A panel on a regular grid: ``values[i, t]`` is series ``keys[i]`` at ``times[t]``."""

    keys: pd.Index
    times: pd.Index
    values: np.ndarray
    freq: str | None


def infer_sp(freq: str | None) -> int:
    """Season length in periods for a pandas frequency string (daily -> 7, weekly -> 52, ...)."""
    if not freq:
        return 1
    base = freq.split("-")[0].lstrip("0123456789")
    return _SP_BY_FREQ.get(base, 1)


def _freq_of(times: pd.Index) -> str | None:
    if isinstance(times, pd.PeriodIndex):
        return times.freqstr
    if isinstance(times, pd.DatetimeIndex):
        if times.freq is not None:
            return times.freqstr
        if len(times) >= 3:
            return pd.infer_freq(times)
        if len(times) == 2:
            return pd.tseries.frequencies.to_offset(times[1] - times[0]).freqstr
    return None


def regular_grid(times: pd.Index, freq_hint: str | None = None) -> tuple[pd.Index, str | None]:
    """A regular time grid from the first to the last of ``times`` (sorted, unique)."""
    times = pd.Index(times).unique().sort_values()
    if isinstance(times, pd.PeriodIndex):
        return pd.period_range(times[0], times[-1], freq=times.freq), times.freqstr
    if isinstance(times, pd.DatetimeIndex):
        freq = _freq_of(times) or freq_hint
        if freq is None:
            return times, None
        grid = pd.date_range(times[0], times[-1], freq=freq)
        if not times.isin(grid).all():
            return times, None
        return grid, freq
    if pd.api.types.is_integer_dtype(times.dtype):
        return pd.Index(np.arange(times[0], times[-1] + 1)), None
    return times, None


def frame_to_panel(y: pd.DataFrame | pd.Series, freq_hint: str | None = None) -> Panel:
    """Dense panel from a sktime ``pd.DataFrame`` / ``pd-multiindex`` / ``pd_multiindex_hier`` frame.

    The last index level is time; all other levels form the series key. A single series gets the
    key ``0``. Only the first column is used (univariate forecasting).
    """
    s = y.iloc[:, 0] if isinstance(y, pd.DataFrame) else y
    s = s.astype(float)
    if isinstance(s.index, pd.MultiIndex):
        time_level = s.index.get_level_values(-1)
        key_frame = s.index.droplevel(-1)
    else:
        time_level = s.index
        key_frame = pd.Index(np.zeros(len(s), dtype=int))
    grid, freq = regular_grid(time_level, freq_hint)
    keys = key_frame.unique()
    ki = keys.get_indexer(key_frame)
    ti = grid.get_indexer(time_level)
    values = np.full((len(keys), len(grid)), np.nan)
    values[ki, ti] = s.to_numpy()
    return Panel(keys=keys, times=grid, values=values, freq=freq)


def exog_to_array(
    X: pd.DataFrame | None, keys: pd.Index, times: pd.Index
) -> tuple[np.ndarray | None, list[str]]:
    """Place exogenous columns on the ``[series, time, feature]`` grid (NaN where absent)."""
    if X is None or X.shape[1] == 0:
        return None, []
    Xn = X.select_dtypes(include=["number", "bool"]).astype(float)
    names = [str(c) for c in Xn.columns]
    out = np.full((len(keys), len(times), len(names)), np.nan)
    if isinstance(Xn.index, pd.MultiIndex):
        tl = Xn.index.get_level_values(-1)
        kl = Xn.index.droplevel(-1)
        ki = keys.get_indexer(kl)
    else:
        tl = Xn.index
        ki = np.zeros(len(Xn), dtype=int)
    ti = pd.Index(times).get_indexer(tl)
    ok = (ki >= 0) & (ti >= 0)
    out[ki[ok], ti[ok], :] = Xn.to_numpy()[ok]
    return out, names


def extend_times(times: pd.Index, n_ahead: int) -> pd.Index:
    """The grid ``times`` followed by ``n_ahead`` further periods."""
    if n_ahead <= 0:
        return times
    if isinstance(times, pd.PeriodIndex):
        return pd.period_range(times[0], periods=len(times) + n_ahead, freq=times.freq)
    if isinstance(times, pd.DatetimeIndex):
        freq = times.freq or _freq_of(times)
        if freq is not None:
            return pd.date_range(times[0], periods=len(times) + n_ahead, freq=freq)
        step = times[-1] - times[-2] if len(times) > 1 else pd.Timedelta(days=1)
        extra = pd.DatetimeIndex([times[-1] + step * (k + 1) for k in range(n_ahead)])
        return times.append(extra)
    if pd.api.types.is_integer_dtype(times.dtype):
        return pd.Index(np.arange(times[0], times[-1] + 1 + n_ahead))
    return times.append(pd.Index(range(n_ahead)))
