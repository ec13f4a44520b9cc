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

import movierec  # first: selects the JAX backend before Keras loads
from movierec.data import Dataset, load
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
