"""Small synthetic panels for the forecasting tests (no dependency on the ERP demo generator).

``ml.forecasting.synthetic.make_demand_panel`` draws negative-binomial demand with weekday and
yearly seasonality, promotions (1.6x uplift at a 20% price cut), intermittent and lumpy series,
and stockout spells where sales are censored (``units_sold = floor(demand * U(0, 0.7))``); the
true demand is returned alongside. Sizes here are chosen so that the whole module runs in well
under three minutes on two cores.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from ml.forecasting.data import build_panel
from ml.forecasting.synthetic import make_demand_panel

HORIZON = 8


@pytest.fixture(autouse=True)
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@pytest.fixture(scope="session")
def daily_mart() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(fct_daily_demand, dim_items, truth): 30 SKUs x 2 locations x 364 days, many stockouts."""
    return make_demand_panel(n_skus=30, n_locations=2, days=364, stockout_share=0.6, seed=1)


@pytest.fixture(scope="session")
def weekly_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(y, X) weekly: 150 SKUs x 2 locations x 104 weeks, censoring corrected."""
    fct, _items, _truth = make_demand_panel(n_skus=150, n_locations=2, days=728, seed=3)
    return build_panel(fct, freq="W-MON")


def split_last(y: pd.DataFrame, X: pd.DataFrame | None, h: int):
    """Train/test split at the ``h``-th last period of the panel."""
    t = y.index.get_level_values(-1)
    cut = t.unique().sort_values()[-h - 1]
    tr = t <= cut
    xt = X.index.get_level_values(-1) <= cut if X is not None else None
    return (
        y[tr],
        y[~tr],
        X[xt] if X is not None else None,
        X[~xt] if X is not None else None,
    )


@pytest.fixture(scope="session")
def weekly_split(weekly_panel):
    y, X = weekly_panel
    return split_last(y, X, HORIZON)


@pytest.fixture(scope="session")
def fitted_weekly(weekly_split):
    """DemandForecaster fitted on all but the last 8 weeks (shared by several tests)."""
    from ml.forecasting.forecaster import DemandForecaster

    y_tr, _y_te, X_tr, _X_te = weekly_split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DemandForecaster(random_state=0).fit(y_tr, X=X_tr, fh=list(range(1, HORIZON + 1)))
