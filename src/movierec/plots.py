"""Figures written as PNG files, with no display and no global pyplot state.

Figures are built on matplotlib's Agg canvas directly (never ``pyplot``), so plotting works
on headless machines and from several threads, and :func:`save_figure` writes each file
atomically: a reader never sees a half-written PNG.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movierec.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "new_figure",
    "plot_loss_curves",
    "plot_rating_overview",
    "plot_rmse_bars",
    "plot_validation_curves",
    "save_figure",
]

DPI = 120


def new_figure(width: float = 8.0, height: float = 5.0) -> Figure:
    """A figure of ``width`` x ``height`` inches on an Agg canvas, laid out automatically."""
    # matplotlib is imported on first use: loading a run (the service) never draws.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` to ``path`` as a PNG, atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


def plot_rating_overview(
    histogram: pd.Series,
    ratings_per_movie: np.ndarray,
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Rating distribution beside the long tail of ratings per movie; write it as a PNG.

    Args:
        histogram: number of ratings per rating value, indexed by the value.
        ratings_per_movie: number of ratings of each movie, in any order.
        path: the PNG file to write.
        title: shown above both panels (usually the dataset name).
    """
    figure = new_figure(11.0, 4.5)
    left, right = figure.subplots(1, 2)
    _rating_distribution(left, histogram)
    _long_tail(right, ratings_per_movie)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def _rating_distribution(axes: Axes, histogram: pd.Series) -> None:
    values = histogram.index.to_numpy(dtype=float)
    steps = np.diff(np.sort(values))
    width = 0.8 * steps.min() if steps.size else 0.4
    axes.bar(values, histogram.to_numpy(), width=width, color="tab:blue")
    axes.set_xticks(values, [f"{value:g}" for value in values])
    axes.set_xlabel("rating")
    axes.set_ylabel("number of ratings")
    axes.set_title("Rating distribution")


def _long_tail(axes: Axes, ratings_per_movie: np.ndarray) -> None:
    counts = np.sort(np.asarray(ratings_per_movie))[::-1]
    axes.plot(np.arange(1, counts.size + 1), counts, color="tab:orange")
    axes.set_yscale("log")
    axes.set_xlabel("movie rank by number of ratings")
    axes.set_ylabel("ratings per movie (log scale)")
    axes.set_title("Long tail of ratings per movie")
    axes.grid(True, which="both", alpha=0.3)


def plot_loss_curves(
    history: list[dict[str, float]], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Training vs validation loss per epoch, as the tutorial plots it; write it as a PNG."""
    figure = new_figure(7.0, 4.5)
    axes = figure.subplots()
    epochs = [row["epoch"] for row in history]
    axes.plot(epochs, [row["loss"] for row in history], marker="o", label="train")
    if all("val_loss" in row for row in history):  # none when trained without validation
        axes.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    _epoch_axis(axes)
    axes.set_ylabel("loss")
    axes.set_title(title or "Model loss")
    axes.legend()
    axes.grid(True, alpha=0.3)
    return save_figure(figure, path)


def plot_validation_curves(
    histories: dict[str, list[dict[str, float]]], path: str | os.PathLike[str]
) -> Path:
    """Validation RMSE per epoch of several models overlaid on one set of axes."""
    figure = new_figure(8.0, 5.0)
    axes = figure.subplots()
    for name, history in histories.items():
        axes.plot([row["epoch"] for row in history], [row["val_rmse"] for row in history],
                  marker="o", label=name)
    _epoch_axis(axes)
    axes.set_ylabel("validation RMSE (rating units)")
    axes.set_title("Validation RMSE by epoch")
    axes.legend()
    axes.grid(True, alpha=0.3)
    return save_figure(figure, path)


def plot_rmse_bars(rmse_by_model: dict[str, float], path: str | os.PathLike[str]) -> Path:
    """One horizontal bar per model, best (lowest RMSE) at the top."""
    ranked = sorted(rmse_by_model.items(), key=lambda item: item[1], reverse=True)
    figure = new_figure(8.0, 0.5 * len(ranked) + 1.5)
    axes = figure.subplots()
    names, values = zip(*ranked, strict=True) if ranked else ((), ())
    bars = axes.barh(names, values, color="tab:blue")
    axes.bar_label(bars, fmt="%.4f", padding=3)
    axes.set_xlabel("validation RMSE (lower is better)")
    axes.set_xlim(0, max(values, default=1.0) * 1.15)
    axes.set_title("Validation RMSE by model")
    return save_figure(figure, path)


def _epoch_axis(axes: Axes) -> None:
    axes.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
