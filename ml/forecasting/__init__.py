"""Probabilistic demand forecasting: classification, censoring, models, backtests, registry.

Public entry points:

* :class:`~ml.forecasting.forecaster.DemandForecaster` - the sktime forecaster used in production.
* :func:`~ml.forecasting.data.build_panel` - ``fct_daily_demand`` -> censoring-corrected ``(y, X)``.
* :func:`~ml.forecasting.classify.classify_demand` - ADI/CV² demand classes.
* :func:`~ml.forecasting.censoring.estimate_censored_demand` - demand on stockout days.
* :func:`~ml.forecasting.cold_start.cold_start_forecast` - forecasts for new SKU-locations.
* :func:`~ml.forecasting.backtest.rolling_origin_backtest` - accuracy tables and charts.
* :class:`~ml.forecasting.registry.ModelRegistry` - versioned model artifacts.
* :func:`~ml.forecasting.lifecycle.plan_retraining` / :func:`~ml.forecasting.lifecycle.compose_version`
  - which series to refit or update, and a model version built from both.
* :func:`~ml.forecasting.accuracy.realised_accuracy` - accuracy of stored forecasts once observed.

This package never imports dagster.
"""
