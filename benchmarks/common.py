"""What the benchmark modules share: the machine, the datasets and their splits, Keras runs."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import movierec  # first: selects the JAX backend before Keras loads
from movierec.data import Dataset, load
from movierec.data.features import training_tags
from movierec.splits import Split, ml100k_fold, random_split
from movierec.training import EncodedSplit, TrainConfig, TrainResult


def machine_info() -> dict[str, Any]:
    """CPU count, platform and the versions that decide the figures."""
    import keras

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
        "numpy": np.__version__,
        "pandas": version("pandas"),
        "scikit-surprise": version("scikit-surprise"),
        "movierec": movierec.__version__,
    }


@dataclass
class Benchmark:
    """A dataset with one named split, encoded once for every model trained on it."""

    dataset: Dataset
    split: Split
    label: str  # e.g. "latest-small (tutorial 90/10)" or "100k u1"
    _encoded: EncodedSplit | None = None

    @property
    def encoded(self) -> EncodedSplit:
        if self._encoded is None:
            self._encoded = EncodedSplit.from_dataset(self.dataset, self.split)
        return self._encoded


def latest_small(data_dir: str | Path | None) -> Benchmark:
    """latest-small with the tutorial's split (sklearn train_test_split, 10 %, seed 42)."""
    dataset = load("latest-small", data_dir)
    return Benchmark(dataset, random_split(dataset.ratings, 0.1, seed=42),
                     "latest-small (tutorial 90/10, seed 42)")


def ml100k(data_dir: str | Path | None, fold: int = 1, dataset: Dataset | None = None
           ) -> Benchmark:
    """ML-100K with GroupLens' official ``u{fold}.base`` / ``u{fold}.test`` split."""
    dataset = dataset or load("100k", data_dir)
    return Benchmark(dataset, ml100k_fold(dataset.ratings, fold), f"100k u{fold}")


def outer_split(dataset: Dataset) -> Split:
    """The benchmark's test split: ML-100K's u1, otherwise the tutorial's 90/10 (seed 42)."""
    return (ml100k_fold(dataset.ratings, 1) if dataset.name == "100k"
            else random_split(dataset.ratings, 0.1, seed=42))


@dataclass(frozen=True)
class TrainingPart:
    """The training part of an outer split, and nothing else: what every tuning entry point
    (``benchmarks.tune``, ``benchmarks.ranking_models``, ``benchmarks.ease_two_way``,
    ``benchmarks.select``'s selection) receives, so that no test rating, and no tag on a test
    pair, is reachable from it (``tests/test_sealed_tuning.py`` checks). ``dataset`` holds
    the training ratings only; the catalogue and the users' demographics stay whole (they
    say nothing about who rated what). ``outer`` names the split it was cut from."""

    dataset: Dataset
    outer: str

    @property
    def ratings(self) -> pd.DataFrame:
        return self.dataset.ratings


def training_part(dataset: Dataset, split: Split | None = None) -> TrainingPart:
    """``dataset`` cut down to ``split``'s training part (default: :func:`outer_split`)."""
    split = split or outer_split(dataset)
    train = split.train  # row labels kept: contiguous_folds reads u.data's order from them
    return TrainingPart(Dataset(name=dataset.name, ratings=train, movies=dataset.movies,
                                rating_scale=dataset.rating_scale,
                                tags=training_tags(dataset.tags, train), users=dataset.users),
                        split.name)


def tuning_dataset(name: str, data_dir: str | Path | None) -> TrainingPart:
    """The training part of dataset ``name``'s benchmark split, the only data tuning sees."""
    return training_part(load(name, data_dir))


def train(bench: Benchmark, config: TrainConfig) -> TrainResult:
    """Train ``config`` on the benchmark's training part, scored on its test part."""
    return bench.encoded.fit(config, verbose=0)


def steady_ratings_per_second(result: TrainResult) -> float:
    """Training ratings per second of the epochs after the first (which compiles)."""
    seconds = [row["fit_seconds"] for row in result.history]
    steady = seconds[1:] or seconds
    return result.metrics["n_train"] / float(np.median(steady))


def keras_row(result: TrainResult, **extra: Any) -> dict[str, Any]:
    """The figures a benchmark keeps from a training run."""
    m = result.metrics
    return {
        "model": result.config.model,
        "rmse": round(m["rmse"], 4),
        "mae": round(m["mae"], 4),
        "train_seconds": round(m["train_seconds"], 2),
        "epochs": m["epochs_run"],
        "ratings_per_second_steady": round(steady_ratings_per_second(result)),
        "peak_rss_mib": round(m["peak_rss_mib"]),
        "config": result.config.to_dict(),
        **extra,
    }


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A GitHub markdown table of ``rows`` with ``(key, header)`` columns."""
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(header for _, header in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)
