"""The model store: where fitted demand forecasters live between runs.

A thin Dagster resource over :class:`ml.forecasting.registry.ModelRegistry`, so assets (and,
later, the inventory domain) load and save models through one configurable folder instead of
building paths themselves. Artifacts are pickles: the folder lives under the data directory,
which is ignored by git.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from ml.forecasting.registry import ModelCard, ModelRegistry
from orchestration import settings

MODEL_NAME = "demand_forecaster"


def model_store_dir() -> Path:
    """Default model folder: ``$STOCKPILOT_DATA_DIR/models`` (moves with the data directory)."""
    return settings.data_dir() / "models"


class ModelStore(dg.ConfigurableResource):
    """Versioned local store of fitted forecasters (one folder per version + a JSON card).

    A saved artifact is either one fitted ``DemandForecaster`` or, when the panel was fitted in
    chunks, a list of them (one per chunk of series); :meth:`load_forecasters` always returns a
    list so callers do not need to care which.
    """

    root: str = str(model_store_dir())

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.root)

    def save(
        self,
        forecasters: list[Any],
        training_frame: pd.DataFrame,
        config: dict[str, Any],
        backtest_scores: pd.DataFrame | None = None,
        tags: dict[str, Any] | None = None,
        parent_version: str | None = None,
        retraining: dict[str, Any] | None = None,
        chunks: list[dict[str, Any]] | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
    ) -> ModelCard:
        """Save a new version (training window and data fingerprint taken from ``training_frame``).

        ``parent_version``, ``retraining`` (what was refitted and why) and ``chunks`` (one entry
        per fitted chunk) go on the card; ``tables`` (e.g. ``series``: the chunk of every series)
        are saved beside the artifact.
        """
        model = forecasters[0] if len(forecasters) == 1 else list(forecasters)
        return self.registry.save(
            model,
            name=MODEL_NAME,
            training_frame=training_frame,
            config=config,
            backtest_scores=backtest_scores,
            tags=tags,
            parent_version=parent_version,
            retraining=retraining,
            chunks=chunks,
            tables=tables,
        )

    def load_table(self, table: str, version: str | None = None) -> pd.DataFrame | None:
        """A table saved with ``version`` (default: latest), e.g. ``series``; None if absent."""
        return self.registry.load_table(table, version=version, name=MODEL_NAME)

    def load_forecasters(self, version: str | None = None) -> list[Any]:
        """The fitted forecaster(s) of ``version`` (default: latest), always as a list."""
        model = self.registry.load(version=version, name=MODEL_NAME)
        return list(model) if isinstance(model, list) else [model]

    def card(self, version: str | None = None) -> ModelCard:
        """The model card of ``version`` (default: latest)."""
        return self.registry.card(version=version, name=MODEL_NAME)

    def latest_version(self) -> str | None:
        """Id of the newest saved version, or None when nothing has been saved yet."""
        versions = self.registry.list_versions(MODEL_NAME)
        return None if versions.empty else str(versions["version"].iloc[-1])

    def prune(self, keep_last: int = 5) -> list[str]:
        """Delete all but the ``keep_last`` newest (and pinned) versions; returns deleted ids."""
        return self.registry.prune(keep_last=keep_last, name=MODEL_NAME)
