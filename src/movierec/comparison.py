"""Train several models on one split and compare them side by side.

Every model, Keras or baseline, sees the same encoded split and is scored with the same
metric functions, so the table is a fair comparison: RMSE and MAE on every held-out rating,
and top-K metrics with held-out ratings >= 4 as the relevant movies and training ratings
excluded from the lists. Popularity and random rankings are the ranking baselines. The
batch-dependent ``recommender-net-as-published`` is scored at its training batch size, as it
was trained, and has no per-user ranking (its scores depend on the batch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from movierec import metrics
from movierec.atomic import atomic_directory, write_json
from movierec.data import Dataset, check_rankable
from movierec.errors import MovierecError
from movierec.evaluation import (
    baseline_ranking_reports,
    evaluate_split,
    pair_scorer,
    ranking_report,
)
from movierec.models import MODEL_NAMES, model_names, model_spec
from movierec.models.baselines import BiasBaseline, GlobalMean
from movierec.plots import plot_rmse_bars, plot_validation_curves
from movierec.presets import paper_ease, resolve_preset
from movierec.recommend import Recommender
from movierec.runs import save_run
from movierec.training import EncodedSplit, TrainConfig

BASELINES = {"global-mean": GlobalMean, "bias-baseline": BiasBaseline}
RANKING_BASELINES = ("popularity", "random")
K = 10
RELEVANCE_THRESHOLD = 4.0
PAPER_EASE_ROW = "EASE (Steck 2019)"
"""The name of the paper's EASE in :func:`compare_rankers`' rows."""


@dataclass
class ComparisonRow:
    """One model's line in the comparison table."""

    name: str
    rmse: float | None
    mae: float | None
    best_epoch: int | None = None
    best_epoch_rmse: float | None = None
    train_seconds: float = 0.0
    seconds_per_epoch: float | None = None
    parameters: int = 0
    peak_rss_mib: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    run_dir: str | None = None
    ranking: dict[str, float] = field(default_factory=dict)


def expand_model_names(names: list[str]) -> list[str]:
    """Resolve ``baselines`` into the baseline names and reject unknown names."""
    expanded: list[str] = []
    for name in names:
        if name == "baselines":
            expanded.extend([*BASELINES, *RANKING_BASELINES])
        elif name in MODEL_NAMES or name in BASELINES or name in RANKING_BASELINES:
            expanded.append(name)
        else:
            choices = ", ".join([*MODEL_NAMES, *BASELINES, *RANKING_BASELINES, "baselines"])
            raise MovierecError(f"unknown model {name!r} in --models; choose from: {choices}")
    return expanded


def compare(
    dataset: Dataset,
    data: EncodedSplit,
    names: Sequence[str],
    base_config: TrainConfig,
    out: Path | None = None,
    verbose: int | None = None,
    on_row: Any = None,
    configs: Mapping[str, TrainConfig] | None = None,
) -> list[ComparisonRow]:
    """Train each named model on ``data`` and return one row per model.

    Keras runs are saved under ``out/<name>`` when ``out`` is given, so any of them can be
    used for recommendations afterwards. ``on_row`` is called with each finished row.
    ``configs`` gives some models their own settings (a preset's), instead of
    ``base_config`` with the model's name.
    """
    check_rankable(dataset.name, data.test_ratings, RELEVANCE_THRESHOLD)
    rows = []
    expanded = expand_model_names(list(names))
    ranking_only = [name for name in expanded if name in RANKING_BASELINES]
    if ranking_only:
        reports = baseline_ranking_reports(data.split, data.encoders, K, RELEVANCE_THRESHOLD)
    for name in expanded:
        if name in RANKING_BASELINES:
            row = ComparisonRow(name=name, rmse=None, mae=None, ranking=reports[name])
        elif name in BASELINES:
            row = _fit_baseline(name, data)
        else:
            config = (configs or {}).get(name) or replace(base_config, model=name)
            row = _fit_keras(name, dataset, data, config, out, verbose)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def compare_rankers(
    dataset: Dataset,
    data: EncodedSplit,
    others: Sequence[ComparisonRow] = (),
    *,
    preset: str = "rank",
    out: Path | None = None,
    verbose: int | None = None,
    on_row: Any = None,
    max_epochs: int | None = None,
    reference: bool = False,
    models: Sequence[str] | None = None,
) -> tuple[list[ComparisonRow], dict[str, str]]:
    """Every ranking model (registry group ``"ranking"``) trained on ``data`` with
    ``preset``'s settings for the dataset, beside the rows of ``others`` that rank (e.g.
    popularity and the rating models of an earlier :func:`compare` on the same split).
    ``max_epochs`` caps the epochs (sweeps) of the models that train in epochs, for a
    quick look (``movierec demo --epochs 1``); closed-form models are solved as always.
    With ``reference``, the paper's EASE (:func:`movierec.presets.paper_ease`, where the
    dataset has a validated lam) joins as the row :data:`PAPER_EASE_ROW`, not saved and never
    the best ranker: the figure the ranking models must beat.

    ``models`` limits the ranking models trained to those named (default: all of them).
    A ranking model that cannot train here (a preset or the model refusing the dataset, e.g.
    ease on a catalogue too large for its dense matrices) is left out, with its reason.

    Returns:
        The rows with top-K metrics, best NDCG@10 first, and model name -> why it was left
        out.
    """
    configs, skipped = {}, {}
    base = TrainConfig()
    for name in model_names(group="ranking"):
        if models is not None and name not in models:
            continue
        try:
            config = resolve_preset(preset, dataset.name, model=name, base=base,
                                    n_ratings=dataset.n_ratings)
            if max_epochs is not None and config.epochs > max_epochs:
                config = replace(config, epochs=max_epochs)
            configs[name] = config
        except MovierecError as error:
            skipped[name] = str(error)
    rows = []
    for name, config in configs.items():
        try:
            rows.extend(compare(dataset, data, [name], base, out=out, verbose=verbose,
                                on_row=on_row, configs={name: config}))
        except MovierecError as error:
            skipped[name] = str(error)
    paper = paper_ease(dataset.name) if reference else None
    if paper is not None:
        row = _fit_keras(PAPER_EASE_ROW, dataset, data, paper, None, verbose, validate=False)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    trained = {row.name for row in rows}
    rows.extend(row for row in others if row.ranking and row.name not in trained)
    rows.sort(key=lambda row: -row.ranking.get(f"ndcg@{K}", -math.inf))
    return rows, skipped


def best_ranker(rows: list[ComparisonRow]) -> ComparisonRow | None:
    """The row with the best NDCG@10 among trained models that can recommend (a saved run
    that is not batch-dependent), or None."""
    usable = [row for row in rows if row.ranking and row.run_dir and row.name in MODEL_NAMES
              and not model_spec(row.name).batch_dependent]
    return max(usable, key=lambda row: row.ranking[f"ndcg@{K}"], default=None)


def _fit_keras(name: str, dataset: Dataset, data: EncodedSplit, base_config: TrainConfig,
               out: Path | None, verbose: int | None, *, validate: bool = True
               ) -> ComparisonRow:
    """Train and score one model (``validate``: as :meth:`EncodedSplit.fit`'s; the row's
    figures are the ranking report's either way)."""
    result = data.fit(base_config, verbose=verbose, validate=validate)
    run_dir = save_run(out / name, result, data, dataset) if out is not None else None
    m = result.train_metrics
    ranking = {}
    if not model_spec(base_config.model).batch_dependent:
        recommender = Recommender.from_model(result.model, data.encoders, data.split.train,
                                             dataset.movies)
        ranking = ranking_report(recommender, data.split, K, RELEVANCE_THRESHOLD)
    return ComparisonRow(
        name=name, rmse=m.rmse, mae=m.mae, best_epoch=m.best_epoch,
        best_epoch_rmse=m.best_epoch_rmse, train_seconds=m.train_seconds,
        seconds_per_epoch=m.seconds_per_epoch, parameters=m.parameters,
        peak_rss_mib=m.peak_rss_mib, history=result.history,
        run_dir=str(run_dir) if run_dir else None, ranking=ranking,
    )


def _fit_baseline(name: str, data: EncodedSplit) -> ComparisonRow:
    started = time.perf_counter()
    model = BASELINES[name](rating_range=data.rating_range).fit(
        data.train_pairs, data.train_ratings, len(data.encoders.users), len(data.encoders.movies)
    )
    seconds = time.perf_counter() - started
    predicted = model.predict(data.test_pairs)
    n_parameters = sum(np.size(v) for v in vars(model).values() if isinstance(v, np.ndarray))
    ranking = {}
    if name != "global-mean":  # a constant score ranks nothing
        scorer = pair_scorer(model.predict, len(data.encoders.movies))
        ranking = evaluate_split(scorer, data.split, data.encoders, k=K,
                                 relevance_threshold=RELEVANCE_THRESHOLD)
    return ComparisonRow(
        name=name, rmse=metrics.rmse(data.test_ratings, predicted),
        mae=metrics.mae(data.test_ratings, predicted), train_seconds=seconds,
        parameters=int(n_parameters), ranking=ranking,
    )


def compare_and_save(
    dataset: Dataset,
    data: EncodedSplit,
    names: Sequence[str],
    base_config: TrainConfig,
    out: Path,
    context: dict[str, Any],
    *,
    verbose: int | None = None,
    on_row: Any = None,
    configs: Mapping[str, TrainConfig] | None = None,
) -> list[ComparisonRow]:
    """:func:`compare`, with every run, ``comparison.json`` and the figures written to
    ``out`` as one folder, atomically: a model failing part-way (or a killed process)
    leaves the previous comparison folder, or none, never a partial one."""
    with atomic_directory(out) as tmp:
        rows = compare(dataset, data, names, base_config, out=tmp, verbose=verbose,
                       on_row=on_row, configs=configs)
        rows = [replace(row, run_dir=str(out / Path(row.run_dir).relative_to(tmp)))
                if row.run_dir else row for row in rows]
        write_comparison(rows, tmp, context)
    return rows


def write_comparison(rows: list[ComparisonRow], out: Path, context: dict[str, Any]) -> None:
    """Write ``comparison.json`` and the two figures into ``out``."""
    write_json(out / "comparison.json", {**context, "models": [asdict(row) for row in rows]})
    # Validation RMSE per epoch: rating models only (mult-dae's epochs have validation
    # NDCG@10 instead, ials and ease have no epochs).
    plot_validation_curves({row.name: row.history for row in rows
                            if row.history and all("val_rmse" in r for r in row.history)},
                           out / "validation_curves.png")
    plot_rmse_bars({row.name: row.rmse for row in rows if row.rmse is not None},
                   out / "rmse.png")


def comparison_tables(rows: list[ComparisonRow], title: str = "") -> tuple[Table, Table]:
    """Two rich tables: rating prediction and cost (best RMSE first), then top-K ranking."""
    rated = sorted((r for r in rows if r.rmse is not None),
                   key=lambda r: math.inf if r.rmse is None else r.rmse)
    accuracy = Table(title=f"Rating prediction {title}".strip())
    for column in ("model", "RMSE", "MAE", "best epoch", "its RMSE", "train s", "s/epoch",
                   "params", "peak MiB"):
        accuracy.add_column(column, justify="left" if column == "model" else "right")
    for row in rated:
        accuracy.add_row(
            row.name, _fmt(row.rmse), _fmt(row.mae), str(row.best_epoch or "-"),
            _fmt(row.best_epoch_rmse), f"{row.train_seconds:.1f}",
            _fmt(row.seconds_per_epoch, ".2f"), f"{row.parameters:,}",
            _fmt(row.peak_rss_mib, ".0f"),
        )
    metrics_shown = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr", "coverage",
                     "novelty")
    ranking = Table(title=f"Top-{K} ranking (relevant: held-out rating >= "
                    f"{RELEVANCE_THRESHOLD:g}; seen movies excluded)")
    ranking.add_column("model")
    for metric in metrics_shown:
        ranking.add_column(f"{metric}@{K}".replace("_", " "), justify="right")
    ranked = sorted((r for r in rows if r.ranking), key=lambda r: -r.ranking[f"ndcg@{K}"])
    for row in ranked:
        ranking.add_row(row.name, *(_fmt(row.ranking.get(f"{m}@{K}")) for m in metrics_shown))
    return accuracy, ranking


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)
