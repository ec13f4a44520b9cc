"""Training an autoencoder ranking model (``mult-dae``) on users' rows, by Adam.

The model stores its training rows (``model.set_history``) and Keras' ``fit`` runs on user
indices, a batch being ``config.batch_size`` users, each reconstructing their whole row
under the model's own loss (the multinomial log-likelihood). After every epoch the callback
measures validation NDCG@10 and recall@10 with the metrics and top-K the closed-form trainer
uses (relevant: validation ratings ``>= config.positive``; training movies not ranked);
``config.early_stopping`` stops after that many epochs without a better validation NDCG@10
and restores the best epoch's weights.
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np

from movierec.errors import MovierecError
from movierec.measure import measure
from movierec.models import model_class
from movierec.training.closed_form import ranking_run_metrics, validation_ranking
from movierec.training.config import TrainConfig, TrainResult

__all__ = ["fit_autoencoder"]

MONITOR = "val_ndcg_at_10"


class _RankingMetrics(keras.callbacks.Callback):
    """Adds validation NDCG@10 and recall@10 and the epoch's seconds to the logs (listed
    before EarlyStopping, which reads them)."""

    def __init__(self, train_pairs: np.ndarray, val_pairs: np.ndarray,
                 val_ratings: np.ndarray, positive: float) -> None:
        super().__init__()
        self.train_pairs, self.val_pairs, self.val_ratings = train_pairs, val_pairs, val_ratings
        self.positive = positive
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        logs.update(validation_ranking(self.model, self.train_pairs, self.val_pairs,
                                       self.val_ratings, self.positive))
        logs["seconds"] = time.perf_counter() - self._started


def fit_autoencoder(
    config: TrainConfig,
    train_pairs: np.ndarray,
    train_ratings: np.ndarray,
    val_pairs: np.ndarray,
    val_ratings: np.ndarray,
    *,
    n_users: int,
    n_movies: int,
    rating_range: tuple[float, float],
    verbose: int | None = None,
) -> TrainResult:
    """Build ``config.model`` and train it on the training users' rows (arguments as
    ``fit``).

    Raises:
        MovierecError: early stopping without validation ratings to monitor.
    """
    validate = bool(len(val_pairs)) and bool(np.any(np.asarray(val_ratings) >= config.positive))
    if config.early_stopping and not validate:
        raise MovierecError(
            "early stopping needs validation ratings to monitor, and this run holds none "
            "out (test size 0); pass a fixed --epochs (e.g. the best epoch of a validated "
            "run) instead")
    keras.utils.set_random_seed(config.seed)
    model = model_class(config.model)(
        n_users, n_movies, factors=config.factors, l2=config.l2, rating_range=rating_range,
        seed=config.seed, dropout=config.dropout, negative_weight=config.negative_weight,
        positive=config.positive,
    )
    model.build((None, 2))
    rows = model.set_history(train_pairs, train_ratings)
    users = np.flatnonzero(rows.any(axis=1)).astype(np.int32)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    callbacks: list[keras.callbacks.Callback] = []
    if validate:
        callbacks.append(_RankingMetrics(train_pairs, val_pairs, val_ratings, config.positive))
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=MONITOR, mode="max", patience=config.early_stopping,
            restore_best_weights=True))
    with measure() as cost:
        keras_history = model.fit(users, rows[users], batch_size=config.batch_size,
                                  epochs=config.epochs, shuffle=True, callbacks=callbacks,
                                  verbose=_verbosity(verbose))
    columns = keras_history.history
    history = [{"epoch": float(epoch + 1),
                **{key: float(values[epoch]) for key, values in columns.items()}}
               for epoch in range(len(columns["loss"]))]
    final = validation_ranking(model, train_pairs, val_pairs, val_ratings, config.positive)
    best = {}
    if validate:
        top = max(history, key=lambda row: row[MONITOR])
        best = {"best_epoch": int(top["epoch"]), "best_epoch_ndcg_at_10": top[MONITOR]}
    result_metrics = ranking_run_metrics(model, cost, train_pairs, val_pairs,
                                         validation=validate, epochs_run=len(history),
                                         **best, ranking=final)
    return TrainResult(model=model, config=config, history=history, metrics=result_metrics)


def _verbosity(verbose: int | None) -> int:
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2
