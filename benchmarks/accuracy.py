"""Accuracy: every model with the tutorial's settings and with the ``best`` preset, baselines
and Surprise, on latest-small (tutorial split) and ML-100K u1 (full: mean over u1..u5 too).

All figures are RMSE/MAE on the split's test part, which no setting was chosen on (the
presets were tuned on validation splits carved from the training parts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import surprise_algos
from benchmarks.common import Benchmark, keras_row, latest_small, ml100k, train
from movierec import metrics
from movierec.models import MODEL_NAMES
from movierec.models.baselines import BiasBaseline, GlobalMean
from movierec.presets import get_preset, resolve_preset
from movierec.training import TrainConfig

TUTORIAL_MODELS = ("dot", "dot-bias", "mlp", "recommender-net", "recommender-net-as-published")


def baseline_rows(bench: Benchmark) -> list[dict[str, Any]]:
    data = bench.encoded
    rows = []
    for name, cls in (("global-mean", GlobalMean), ("bias-baseline", BiasBaseline)):
        started = time.perf_counter()
        model = cls(rating_range=data.rating_range).fit(
            data.train_pairs, data.train_ratings, len(data.encoders.users),
            len(data.encoders.movies))
        seconds = time.perf_counter() - started
        predicted = model.predict(data.test_pairs)
        rows.append({"model": name, "settings": "baseline",
                     "rmse": round(metrics.rmse(data.test_ratings, predicted), 4),
                     "mae": round(metrics.mae(data.test_ratings, predicted), 4),
                     "train_seconds": round(seconds, 2)})
    return rows


def surprise_rows(bench: Benchmark, names: tuple[str, ...]) -> list[dict[str, Any]]:
    if not surprise_algos.available():
        return []
    scale = bench.dataset.rating_scale
    return [{**surprise_algos.evaluate(name, bench.split.train, bench.split.test, scale),
             "settings": "surprise defaults"} for name in names]


def keras_rows(bench: Benchmark, models: tuple[str, ...], settings: str,
               log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Train each model with the tutorial's settings or a preset's."""
    rows = []
    for name in models:
        if settings == "tutorial":
            config = TrainConfig(model=name)
        else:
            config = resolve_preset(settings, bench.dataset.name, model=name,
                                    n_ratings=bench.dataset.n_ratings)
        result = train(bench, config)
        row = keras_row(result, settings=settings)
        if name == "blend":  # trained in stages: no per-epoch rate
            row["blend_weights"] = [round(w, 3) for w in result.metrics["blend_weights"]]
            row["members"] = [m["model"] for m in result.config.members]
            row["ratings_per_second_steady"] = None
        rows.append(row)
        log(f"  {bench.label}: {name} ({settings}) RMSE {row['rmse']:.4f} "
            f"in {row['train_seconds']:.0f} s")
    return rows


def run(suite: str, data_dir: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """The accuracy section of the results."""
    full = suite == "full"
    best = get_preset("best")
    out: dict[str, Any] = {}

    small = latest_small(data_dir)
    best_small = best.model_for(small.dataset.name)
    keras_best = MODEL_NAMES if full else (best_small, "dot-bias")
    out["latest-small"] = {
        "split": small.label,
        "rows": [
            *keras_rows(small, TUTORIAL_MODELS if full else ("dot-bias", "mlp"), "tutorial", log),
            *keras_rows(small, ("dot-bias",), "fast", log),
            *keras_rows(small, tuple(dict.fromkeys(keras_best)), "best", log),
            *baseline_rows(small),
            *surprise_rows(small, ("svd", "svdpp", "knn-baseline") if full
                           else ("svd", "knn-baseline")),
        ],
    }

    first = ml100k(data_dir, 1)
    best_100k = best.model_for(first.dataset.name)
    keras_best = MODEL_NAMES if full else (best_100k, "dot-bias")
    out["100k-u1"] = {
        "split": first.label,
        "rows": [
            *keras_rows(first, TUTORIAL_MODELS if full else ("dot-bias",), "tutorial", log),
            *keras_rows(first, ("dot-bias",), "fast", log),
            *keras_rows(first, tuple(dict.fromkeys(keras_best)), "best", log),
            *baseline_rows(first),
            *surprise_rows(first, ("svd", "svdpp", "knn-baseline") if full else ("svd",)),
        ],
    }
    if full:
        out["100k-u1..u5"] = five_folds(first, out["100k-u1"]["rows"], data_dir, best_100k, log)
    return out


def five_folds(first: Benchmark, first_rows: list[dict[str, Any]], data_dir: str | None,
               best_model: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Mean and spread of test RMSE over the five official folds, for the main contenders.

    Fold 1's figures are ``first_rows`` (already measured on u1), not trained again.
    """
    per_model: dict[str, list[float]] = {}
    wanted = {("dot-bias", "tutorial"), (best_model, "best"), ("dot-bias", "best")}
    for fold in range(1, 6):
        if fold == 1:
            rows = [row for row in first_rows
                    if (row["model"], row["settings"]) in wanted
                    or row["settings"] in ("baseline", "surprise defaults")]
        else:
            bench = ml100k(data_dir, fold, dataset=first.dataset)
            rows = [*keras_rows(bench, ("dot-bias",), "tutorial", log),
                    *keras_rows(bench, tuple(dict.fromkeys((best_model, "dot-bias"))), "best",
                                log),
                    *baseline_rows(bench),
                    *surprise_rows(bench, ("svd", "svdpp", "knn-baseline"))]
        for row in rows:
            per_model.setdefault(f"{row['model']} ({row['settings']})", []).append(row["rmse"])
    return {"rows": [{"model": name, "rmse_mean": round(float(np.mean(values)), 4),
                      "rmse_std": round(float(np.std(values)), 4), "folds": values}
                     for name, values in per_model.items()]}
