"""Training-run directories: everything needed to evaluate, recommend and serve later.

A run directory holds::

    config.json      the TrainConfig and where the data came from
    encoders.json    raw id <-> index maps for users and movies
    model.keras      the Keras model (reloads with safe_mode=True)
    history.json     one row per epoch: losses, validation RMSE/MAE, seconds
    metrics.json     final and best-epoch validation metrics, cost
    train.parquet    the training ratings (raw ids), so recommendations exclude them
    test.parquet     the held-out ratings (raw ids), also excluded from recommendations
                     (absent for a run trained with no held-out part, and in older runs)
    movies.parquet   the movie table (titles, years, genres)
    loss.png         training vs validation loss, as the tutorial plots it

The whole directory is written to a temporary sibling and renamed into place, so a run
killed at any point leaves either the previous complete run or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import pandas as pd

import movierec.models  # noqa: F401  (registers the model classes for deserialization)
from movierec import __version__
from movierec.atomic import atomic_directory, write_json
from movierec.data import Dataset
from movierec.encoding import Encoders
from movierec.errors import MovierecError
from movierec.plots import plot_loss_curves
from movierec.training import EncodedSplit, TrainConfig, TrainMetrics, TrainResult

MODEL_FILE = "model.keras"


@dataclass
class Run:
    """A saved training run, loaded back."""

    path: Path
    config: TrainConfig
    data: dict[str, Any]
    encoders: Encoders
    model: keras.Model
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    train_ratings: pd.DataFrame
    movies: pd.DataFrame
    test_ratings: pd.DataFrame | None = None
    """The held-out ratings (raw ids); None for older runs that did not save them."""

    @property
    def rating_range(self) -> tuple[float, float]:
        low, high = self.data["rating_scale"]
        return float(low), float(high)

    @property
    def train_metrics(self) -> TrainMetrics | None:
        """:attr:`metrics` typed; None for a run saved without metrics.json."""
        return TrainMetrics.from_dict(self.metrics) if self.metrics else None


def save_run(path: str | Path, result: TrainResult, data: EncodedSplit, dataset: Dataset) -> Path:
    """Write a complete run directory atomically and return its path."""
    path = Path(path)
    with atomic_directory(path) as tmp:
        write_json(tmp / "config.json", {
            "movierec_version": __version__,
            "keras_backend": keras.backend.backend(),
            "train": result.config.to_dict(),
            "data": {
                "dataset": dataset.name,
                "rating_scale": list(data.rating_range),
                "split": data.split.name,
                **data.split_params,
                "n_users": len(data.encoders.users),
                "n_movies": len(data.encoders.movies),
                "n_train": len(data.train_pairs),
                "n_test": len(data.test_pairs),
            },
        })
        write_json(tmp / "encoders.json", data.encoders.to_json())
        write_json(tmp / "history.json", result.history)
        write_json(tmp / "metrics.json", result.metrics)
        result.model.save(tmp / MODEL_FILE)
        data.split.train.to_parquet(tmp / "train.parquet", index=False)
        if len(data.split.test):
            data.split.test.to_parquet(tmp / "test.parquet", index=False)
        dataset.movies.to_parquet(tmp / "movies.parquet", index=False)
        if result.history:  # a closed-form model (ease) has no epochs to plot
            plot_loss_curves(result.history, tmp / "loss.png",
                             title=f"{result.config.model} on {dataset.name}")
    return path


def load_run(path: str | Path) -> Run:
    """Load a run directory written by :func:`save_run`, with a clear error if it is not one."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise MovierecError(
            f"{path} is not a training run (no config.json); "
            "train one with `movierec train --out DIR` and pass that DIR"
        )
    missing = [name for name in ("encoders.json", MODEL_FILE, "train.parquet", "movies.parquet")
               if not (path / name).is_file()]
    if missing:
        raise MovierecError(f"run {path} is incomplete: missing {', '.join(missing)}; retrain it")
    config = _read_json(path / "config.json")
    try:
        model = keras.saving.load_model(path / MODEL_FILE, safe_mode=True)
    except Exception as error:  # a corrupt or foreign file: say which and why
        raise MovierecError(f"cannot load the model in {path / MODEL_FILE}: {error}") from error
    return Run(
        path=path,
        config=TrainConfig.from_dict(config["train"]),
        data=config["data"],
        encoders=Encoders.from_json(_read_json(path / "encoders.json")),
        model=model,
        history=_read_json(path / "history.json") if (path / "history.json").exists() else [],
        metrics=_read_json(path / "metrics.json") if (path / "metrics.json").exists() else {},
        train_ratings=pd.read_parquet(path / "train.parquet"),
        movies=pd.read_parquet(path / "movies.parquet"),
        test_ratings=(pd.read_parquet(path / "test.parquet")
                      if (path / "test.parquet").is_file() else None),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise MovierecError(f"cannot read {path}: {error}; retrain the run") from error
