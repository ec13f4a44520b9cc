"""Training a ``blend`` (:class:`movierec.models.BlendModel`) without touching the evaluation data.

1. hold out 10 % of the *training* ratings (the same draw as
   :func:`movierec.splits.validation_split`, seed 42) and train every member on the rest,
   with early stopping on that holdout;
2. fit all the blend's weights by least squares on the holdout predictions, with the
   support features counted on the ratings those members were trained on;
3. retrain every member on all the training ratings for the number of epochs step 1
   found best, and combine them with those weights. The support features are then
   counted on all the training ratings.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from movierec import metrics
from movierec.errors import MovierecError
from movierec.measure import measure
from movierec.models import BlendModel, predict_ratings
from movierec.models.blend import member_spec
from movierec.splits import random_positions
from movierec.support import support_features
from movierec.training.config import TrainConfig, TrainResult
from movierec.training.keras_fit import fit_keras

__all__ = ["HOLDOUT", "fit_blend"]

HOLDOUT = 0.1
"""Fraction of the training ratings held out to fit the blend weights."""


def fit_blend(config: TrainConfig, train_pairs: np.ndarray, train_ratings: np.ndarray,
              val_pairs: np.ndarray, val_ratings: np.ndarray, *, n_users: int, n_movies: int,
              rating_range: tuple[float, float], verbose: int | None = None) -> TrainResult:
    """Train ``config.members`` and blend them (see the module docstring).

    ``val_pairs``/``val_ratings`` are only scored (history and metrics), never used to
    choose anything.
    """
    if not config.members:
        raise MovierecError(
            "model 'blend' needs its members' settings (TrainConfig.members); train it with "
            "--preset best, which defines them for each dataset"
        )
    member_configs = [TrainConfig.from_dict({"seed": config.seed, **dict(m)})
                      for m in config.members]
    started = time.perf_counter()
    with measure() as cost:
        rest, holdout = random_positions(len(train_pairs), HOLDOUT, seed=config.seed)
        columns: list[np.ndarray] = []
        epochs: list[int] = []
        for member in member_configs:
            result = fit_keras(member, train_pairs[rest], train_ratings[rest], train_pairs[holdout],
                         train_ratings[holdout], n_users=n_users, n_movies=n_movies,
                         rating_range=rating_range, verbose=verbose)
            columns.append(predict_ratings(result.model, train_pairs[holdout]))
            best = result.train_metrics.best_epoch
            epochs.append(best if member.early_stopping and best is not None
                          else member.epochs)
        # Columns: intercept, f_u, f_i, the K predictions, then each times f_u, times f_i.
        user, movie = support_features(train_pairs[rest], n_users, n_movies)
        support = np.column_stack([user[train_pairs[holdout, 0]],
                                   movie[train_pairs[holdout, 1]]]).astype(np.float64)
        predictions = np.column_stack(columns).astype(np.float64)
        design = np.column_stack([np.ones(len(holdout)), support, predictions,
                                  predictions * support[:, :1], predictions * support[:, 1:]])
        coef = np.linalg.lstsq(design, train_ratings[holdout].astype(np.float64), rcond=None)[0]
        holdout_rmse = metrics.rmse(train_ratings[holdout],
                                    np.clip(design @ coef, *rating_range))
        k = len(columns)
        weights = [float(c) for c in coef[3:3 + k]]
        support_weights = [[float(u), float(i)]
                           for u, i in zip(coef[3 + k:3 + 2 * k], coef[3 + 2 * k:], strict=True)]
        final = [fit_keras(replace(member, epochs=int(n), early_stopping=None), train_pairs,
                     train_ratings, val_pairs, val_ratings, n_users=n_users, n_movies=n_movies,
                     rating_range=rating_range, verbose=verbose).model
                 for member, n in zip(member_configs, epochs, strict=True)]
        blend = BlendModel(n_users, n_movies, factors=config.factors, l2=config.l2,
                           rating_range=rating_range, seed=config.seed,
                           members=[member_spec(m) for m in final], blend_weights=weights,
                           intercept=float(coef[0]), support_weights=support_weights,
                           support_bias=[float(coef[1]), float(coef[2])])
        blend.build((None, 2))
        for target, source in zip(blend.members, final, strict=True):
            target.set_weights(source.get_weights())
        blend.set_support(train_pairs)
        # Not compiled: nothing trains it further, and a saved optimizer that never ran
        # would only make loading warn.
    seconds = time.perf_counter() - started
    fitted = predict_ratings(blend, train_pairs)
    history = [{"epoch": 1, "loss": float(np.mean((fitted - train_ratings) ** 2)),
                "seconds": seconds, "fit_seconds": seconds}]
    scores: dict[str, float] = {}
    if len(val_pairs):  # none when the run holds nothing out: no validation metrics
        predicted = predict_ratings(blend, val_pairs)
        rmse, mae = metrics.rmse(val_ratings, predicted), metrics.mae(val_ratings, predicted)
        history[0].update(val_loss=float(np.mean((predicted - val_ratings) ** 2)),
                          val_rmse=rmse, val_mae=mae)
        scores = {"rmse": rmse, "mae": mae, "final_epoch_rmse": rmse, "best_epoch": 1,
                  "best_epoch_rmse": rmse}
    result_metrics = {
        "validation": bool(len(val_pairs)), **scores,
        "epochs_run": 1, "train_seconds": cost.seconds,
        "seconds_per_epoch": seconds, "ratings_per_second": len(train_pairs) / seconds,
        "peak_rss_mib": cost.peak_rss_mib, "parameters": int(blend.count_params()),
        "n_train": len(train_pairs), "n_validation": len(val_pairs),
        "eval_batch_size": 8192, "holdout_rmse": holdout_rmse,
        "blend_weights": weights, "intercept": float(coef[0]),
        "support_weights": support_weights, "support_bias": [float(coef[1]), float(coef[2])],
        "member_epochs": [int(n) for n in epochs],
    }
    return TrainResult(model=blend, config=config, history=history, metrics=result_metrics)
