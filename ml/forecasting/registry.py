"""Versioned, local model registry: fitted forecasters as files plus a JSON model card.

Layout: ``<root>/<name>/<version>/model.joblib`` and ``card.json`` (plus optional tables saved
beside them as ``<table>.parquet``, e.g. which series each fitted chunk holds). A version id is
``<UTC timestamp>-<data fingerprint prefix>`` and sorts chronologically. The card records the
training window, a fingerprint of the training frame (SHA-256 over pandas' row hashes, so the same
data gives the same fingerprint regardless of memory layout), the estimator config, backtest
scores and the library versions used, and its lineage: the ``parent_version`` it was derived
from, what was retrained and why (``retraining``) and one entry per fitted chunk (``chunks``).
Saving writes into a temporary folder and renames it, so a
crashed save never leaves a half-written version behind. Loading reads local files only.

Artifacts are pickles: load only from a registry folder you trust, and keep it out of git.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import pandas as pd


def data_fingerprint(frame: pd.DataFrame | pd.Series) -> str:
    """SHA-256 hex digest of a frame's index and values (order-sensitive)."""
    h = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    digest = hashlib.sha256(h.tobytes())
    names = list(frame.columns) if isinstance(frame, pd.DataFrame) else [frame.name]
    digest.update(repr(names).encode())
    return digest.hexdigest()


def _lib_versions() -> dict[str, str]:
    import numpy
    import sklearn
    import sktime

    return {
        "sktime": sktime.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": numpy.__version__,
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, pd.DataFrame):
        return json.loads(obj.to_json(orient="records"))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


@dataclass
class ModelCard:
    """What is known about one saved model version."""

    name: str
    version: str
    created_at: str
    training_window: dict[str, str | None]
    data_fingerprint: str | None
    n_series: int | None
    config: dict[str, Any]
    backtest_scores: Any = None
    libraries: dict[str, str] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    #: The version this one was derived from (None: fitted from scratch).
    parent_version: str | None = None
    #: What was refitted and why (mode, reason, counts per refit reason, ...).
    retraining: dict[str, Any] = field(default_factory=dict)
    #: One entry per fitted chunk: series count, fit time, training window, refit or updated.
    chunks: list[dict[str, Any]] = field(default_factory=list)


class ModelRegistry:
    """Save, list, load and prune versioned forecasters under ``root`` (a local folder)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -------------------------------------------------------------- write
    def save(
        self,
        model: Any,
        name: str = "demand_forecaster",
        training_frame: pd.DataFrame | None = None,
        config: dict[str, Any] | None = None,
        backtest_scores: pd.DataFrame | dict | None = None,
        tags: dict[str, Any] | None = None,
        parent_version: str | None = None,
        retraining: dict[str, Any] | None = None,
        chunks: list[dict[str, Any]] | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
    ) -> ModelCard:
        """Persist ``model`` as a new version and return its card.

        ``training_frame`` (the ``y`` the model was fitted on, time as last index level) gives
        the training window, the number of series and the data fingerprint. ``config`` defaults to
        ``model.get_params()``. ``parent_version``, ``retraining`` and ``chunks`` go on the card;
        ``tables`` are saved as ``<name>.parquet`` in the version folder (read them back with
        :meth:`load_table`), for lists too long for a JSON card (e.g. the series of each chunk).
        """
        fp = data_fingerprint(training_frame) if training_frame is not None else None
        window: dict[str, str | None] = {"start": None, "end": None}
        n_series = None
        if training_frame is not None:
            t = training_frame.index.get_level_values(-1)
            window = {"start": str(t.min()), "end": str(t.max())}
            if isinstance(training_frame.index, pd.MultiIndex):
                n_series = int(training_frame.index.droplevel(-1).nunique())
            else:
                n_series = 1
        if config is None:
            config = model.get_params(deep=False) if hasattr(model, "get_params") else {}
        now = datetime.now(UTC)
        base = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + (fp[:8] if fp else "nodata")
        version = base
        k = 1
        while (self.root / name / version).exists():
            version = f"{base}.{k}"
            k += 1
        card = ModelCard(
            name=name,
            version=version,
            created_at=now.isoformat(),
            training_window=window,
            data_fingerprint=fp,
            n_series=n_series,
            config=_jsonable(config),
            backtest_scores=_jsonable(backtest_scores),
            libraries=_lib_versions(),
            tags=_jsonable(tags or {}),
            parent_version=parent_version,
            retraining=_jsonable(retraining or {}),
            chunks=_jsonable(chunks or []),
        )
        final = self.root / name / version
        tmp = self.root / name / f".tmp-{version}-{time.monotonic_ns()}"
        tmp.mkdir(parents=True)
        try:
            joblib.dump(model, tmp / "model.joblib", compress=3)
            for table_name, frame in (tables or {}).items():
                frame.to_parquet(tmp / f"{table_name}.parquet", index=False)
            (tmp / "card.json").write_text(json.dumps(asdict(card), indent=2))
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return card

    # -------------------------------------------------------------- read
    def list_versions(self, name: str = "demand_forecaster") -> pd.DataFrame:
        """One row per saved version, oldest first: version, created_at, window, fingerprint."""
        rows = []
        folder = self.root / name
        if folder.exists():
            for d in sorted(
                p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
            ):
                card_file = d / "card.json"
                if not card_file.exists():
                    continue
                c = json.loads(card_file.read_text())
                rows.append(
                    {
                        "version": c["version"],
                        "created_at": pd.Timestamp(c["created_at"]),
                        "train_start": c["training_window"].get("start"),
                        "train_end": c["training_window"].get("end"),
                        "data_fingerprint": c["data_fingerprint"],
                        "n_series": c.get("n_series"),
                        "pinned": bool(c.get("tags", {}).get("pinned", False)),
                    }
                )
        cols = [
            "version",
            "created_at",
            "train_start",
            "train_end",
            "data_fingerprint",
            "n_series",
            "pinned",
        ]
        return pd.DataFrame(rows, columns=cols)

    def _resolve(self, name: str, version: str | None) -> Path:
        versions = self.list_versions(name)
        if versions.empty:
            raise FileNotFoundError(f"no saved versions of {name!r} under {self.root}")
        v = versions["version"].iloc[-1] if version is None else version
        path = self.root / name / v
        if not (path / "model.joblib").exists():
            raise FileNotFoundError(f"version {v!r} of {name!r} not found under {self.root}")
        return path

    def card(self, version: str | None = None, name: str = "demand_forecaster") -> ModelCard:
        """The card of ``version`` (default: latest)."""
        data = json.loads((self._resolve(name, version) / "card.json").read_text())
        known = set(ModelCard.__dataclass_fields__)
        return ModelCard(**{k: v for k, v in data.items() if k in known})

    def load_table(
        self, table: str, version: str | None = None, name: str = "demand_forecaster"
    ) -> pd.DataFrame | None:
        """A table saved with ``version`` (default: latest), or None if it has none."""
        path = self._resolve(name, version) / f"{table}.parquet"
        return pd.read_parquet(path) if path.exists() else None

    def load(self, version: str | None = None, name: str = "demand_forecaster") -> Any:
        """Load ``version`` (default: latest) from local disk; warns on library version drift."""
        path = self._resolve(name, version)
        card = json.loads((path / "card.json").read_text())
        drift = {
            k: (v, _lib_versions().get(k))
            for k, v in card.get("libraries", {}).items()
            if _lib_versions().get(k) != v
        }
        if drift:
            warnings.warn(f"library versions differ from training time: {drift}", stacklevel=2)
        return joblib.load(path / "model.joblib")

    # -------------------------------------------------------------- housekeeping
    def prune(
        self,
        keep_last: int = 5,
        keep_days: float | None = None,
        name: str = "demand_forecaster",
        now: datetime | None = None,
    ) -> list[str]:
        """Delete versions that are neither among the ``keep_last`` newest, nor younger than
        ``keep_days`` days, nor pinned (``tags={"pinned": True}``). Returns the deleted ids.

        The newest version is always kept.
        """
        versions = self.list_versions(name)
        if versions.empty:
            return []
        now = now or datetime.now(UTC)
        keep = set(versions["version"].iloc[-max(keep_last, 1) :])
        if keep_days is not None:
            limit = pd.Timestamp(now - timedelta(days=keep_days))
            keep |= set(versions.loc[versions["created_at"] >= limit, "version"])
        keep |= set(versions.loc[versions["pinned"], "version"])
        deleted = []
        for v in versions["version"]:
            if v not in keep:
                shutil.rmtree(self.root / name / v)
                deleted.append(v)
        return deleted


def annotate_forecast(forecast: pd.DataFrame, card: ModelCard) -> pd.DataFrame:
    """Add ``model_name``, ``model_version`` and ``data_fingerprint`` columns to a forecast.

    Works for flat or MultiIndex columns (the annotation columns are flat strings).
    """
    out = forecast.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = ["_".join(str(x) for x in c) for c in out.columns]
    out["model_name"] = card.name
    out["model_version"] = card.version
    out["data_fingerprint"] = card.data_fingerprint
    return out
