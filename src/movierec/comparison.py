"""Train several models on one split and compare them side by side.

Every model, Keras or baseline, sees the same encoded split and is scored with the same
metric functions, so the table is a fair comparison. The batch-dependent
``recommender-net-as-published`` is scored at its training batch size, as it was trained.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from movierec import metrics
from movierec.atomic import write_json
from movierec.data import Dataset
from movierec.errors import MovierecError
from movierec.models import MODEL_NAMES
from movierec.models.baselines import BiasBaseline, GlobalMean
from movierec.plots import plot_rmse_bars, plot_validation_curves
from movierec.runs import save_run
from movierec.training import EncodedSplit, TrainConfig

BASELINES = {"global-mean": GlobalMean, "bias-baseline": BiasBaseline}
DEFAULT_MODELS = (*MODEL_NAMES, "baselines")


@dataclass
class ComparisonRow:
    """One model's line in the comparison table."""

    name: str
    rmse: float
    mae: float
    best_epoch: int | None = None
    best_epoch_rmse: float | None = None
    train_seconds: float = 0.0
    seconds_per_epoch: float | None = None
    parameters: int = 0
    peak_rss_mib: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    run_dir: str | None = None


def expand_model_names(names: list[str]) -> list[str]:
    """Resolve ``baselines`` into the baseline names and reject unknown names."""
    expanded: list[str] = []
    for name in names:
        if name == "baselines":
            expanded.extend(BASELINES)
        elif name in MODEL_NAMES or name in BASELINES:
            expanded.append(name)
        else:
            choices = ", ".join([*MODEL_NAMES, *BASELINES, "baselines"])
            raise MovierecError(f"unknown model {name!r} in --models; choose from: {choices}")
    return expanded


def compare(
    dataset: Dataset,
    data: EncodedSplit,
    names: list[str],
    base_config: TrainConfig,
    out: Path | None = None,
    verbose: int | None = None,
    on_row: Any = None,
) -> list[ComparisonRow]:
    """Train each named model on ``data`` and return one row per model.

    Keras runs are saved under ``out/<name>`` when ``out`` is given, so any of them can be
    used for recommendations afterwards. ``on_row`` is called with each finished row.
    """
    rows = []
    for name in expand_model_names(names):
        if name in BASELINES:
            row = _fit_baseline(name, data)
        else:
            row = _fit_keras(name, dataset, data, base_config, out, verbose)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _fit_keras(name: str, dataset: Dataset, data: EncodedSplit, base_config: TrainConfig,
               out: Path | None, verbose: int | None) -> ComparisonRow:
    result = data.fit(replace(base_config, model=name), verbose=verbose)
    run_dir = save_run(out / name, result, data, dataset) if out is not None else None
    m = result.metrics
    return ComparisonRow(
        name=name, rmse=m["rmse"], mae=m["mae"], best_epoch=m["best_epoch"],
        best_epoch_rmse=m["best_epoch_rmse"], train_seconds=m["train_seconds"],
        seconds_per_epoch=m["seconds_per_epoch"], parameters=m["parameters"],
        peak_rss_mib=m["peak_rss_mib"], history=result.history,
        run_dir=str(run_dir) if run_dir else None,
    )


def _fit_baseline(name: str, data: EncodedSplit) -> ComparisonRow:
    started = time.perf_counter()
    model = BASELINES[name](rating_range=data.rating_range).fit(
        data.train_pairs, data.train_ratings, len(data.encoders.users), len(data.encoders.movies)
    )
    seconds = time.perf_counter() - started
    predicted = model.predict(data.test_pairs)
    n_parameters = sum(np.size(v) for v in vars(model).values() if isinstance(v, np.ndarray))
    return ComparisonRow(
        name=name, rmse=metrics.rmse(data.test_ratings, predicted),
        mae=metrics.mae(data.test_ratings, predicted), train_seconds=seconds,
        parameters=int(n_parameters),
    )


def write_comparison(rows: list[ComparisonRow], out: Path, context: dict[str, Any]) -> None:
    """Write ``comparison.json`` and the two figures into ``out``."""
    write_json(out / "comparison.json", {**context, "models": [asdict(row) for row in rows]})
    plot_validation_curves({row.name: row.history for row in rows if row.history},
                           out / "validation_curves.png")
    plot_rmse_bars({row.name: row.rmse for row in rows}, out / "rmse.png")


def comparison_table(rows: list[ComparisonRow], title: str = "Model comparison") -> Table:
    """A rich table of the rows, best RMSE first."""
    table = Table(title=title)
    for column in ("model", "val RMSE", "val MAE", "best epoch (RMSE)", "train s", "s/epoch",
                   "params", "peak MiB"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in sorted(rows, key=lambda r: r.rmse):
        table.add_row(
            row.name, f"{row.rmse:.4f}", f"{row.mae:.4f}",
            f"{row.best_epoch} ({row.best_epoch_rmse:.4f})" if row.best_epoch else "-",
            f"{row.train_seconds:.1f}",
            f"{row.seconds_per_epoch:.2f}" if row.seconds_per_epoch else "-",
            f"{row.parameters:,}",
            f"{row.peak_rss_mib:.0f}" if row.peak_rss_mib else "-",
        )
    return table
