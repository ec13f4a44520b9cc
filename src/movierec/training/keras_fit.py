"""Training one Keras model on in-memory arrays, with validation metrics in rating units.

Each epoch records the training and validation loss as Keras computes them, plus validation
RMSE and MAE in rating units, which is what the comparison and the tutorial's "validation
MSE" talk about whatever loss a model trains with.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from movierec import metrics
from movierec.errors import MovierecError
from movierec.measure import measure
from movierec.models import build_model, fused, model_spec, predict_ratings, training_targets
from movierec.models.sparse import (
    SparseAdagrad,
    block_size,
    sparse_updates_supported,
    use_sparse_updates,
)
from movierec.training import distribute
from movierec.training.blocks import ShuffledBlocks
from movierec.training.config import TrainConfig, TrainResult

__all__ = ["FUSED", "STEPS_PER_CALL", "fit_keras", "wait_for_steps"]

STEPS_PER_CALL = 64
"""Sparse-Adagrad steps per compiled call on one process (:func:`movierec.models.sparse.
use_sparse_updates`): Keras' per-step overhead is paid once per this many steps."""

FUSED: bool | None = None
"""``use_sparse_updates(fused=...)`` for single-process runs: ``None`` runs dot-bias's step
as the fused kernel where it can (:mod:`movierec.models.fused`), ``False`` never (the
benchmarks' side-by-side rows)."""


class _RatingMetrics(keras.callbacks.Callback):
    """Adds validation RMSE and MAE in rating units and the epoch's seconds to the logs.

    It must run before EarlyStopping and History read the logs, so it is listed first.
    """

    def __init__(self, pairs: np.ndarray, ratings: np.ndarray,
                 predict: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__()
        self.pairs = pairs
        self.ratings = ratings
        self.predict = predict
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()
        self._trained = 0.0

    def on_test_begin(self, logs: dict | None = None) -> None:
        # Keras' own validation pass: the epoch's training steps have been dispatched; wait
        # for the last one (JAX runs them asynchronously) before reading the clock. (No
        # batch hook: one would make Keras synchronise after every step.)
        if not self._trained:
            wait_for_steps(self.model)
            self._trained = time.perf_counter() - self._started

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self._trained:  # no validation pass (nothing held out): wait for the steps
            wait_for_steps(self.model)
        seconds = time.perf_counter() - self._started
        if logs is not None and len(self.pairs):
            predicted = self.predict(self.pairs)
            logs["val_rmse"], logs["val_mae"] = _rmse_mae(self.ratings, predicted)
        if logs is not None:
            logs["seconds"] = seconds
            logs["fit_seconds"] = self._trained or seconds  # without the validation passes


def wait_for_steps(model: keras.Model) -> None:
    """Return once the steps dispatched so far have finished: every weight and optimizer
    variable computed. (Waiting on one, say the optimizer's step count, is not enough:
    an output of a compiled step can be ready before the rest, and the fused sparse step
    updates the tables in a call that the step count does not depend on.)"""
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready([v.value for v in (*model.variables,
                                                  *model.optimizer.variables)])
    else:
        for variable in (*model.trainable_variables, model.optimizer.iterations):
            keras.ops.convert_to_numpy(variable.value)


def steady_speed(fit_seconds: list[float], n_train: int) -> dict[str, float]:
    """``compile_seconds`` (the first epoch's overhead over the later ones': JAX compiling
    the steps) and ``steady_ratings_per_second`` (training ratings per second of the
    epochs after the first, median) from each epoch's training seconds; empty with one
    epoch, which cannot tell the two apart."""
    if len(fit_seconds) < 2:
        return {}
    steady = float(np.median(fit_seconds[1:]))
    return {"compile_seconds": max(float(fit_seconds[0]) - steady, 0.0),
            "steady_ratings_per_second": n_train / steady}


def fit_keras(
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
    """Build and train ``config.model`` on encoded pairs; validate on the held-out pairs
    (arguments as :func:`movierec.training.fit`).

    With no validation pairs (a run trained on every rating) Keras fits without
    ``validation_data`` and the metrics say ``"validation": False``, with no RMSE/MAE.

    Raises:
        MovierecError: early stopping without validation pairs to monitor.
    """
    validate = len(val_pairs) > 0
    if config.early_stopping and not validate:
        raise MovierecError(
            "early stopping needs validation ratings to monitor, and this run holds none "
            "out (test size 0); pass a fixed --epochs (e.g. the best epoch of a validated "
            "run) instead")
    spec = model_spec(config.model)
    keras.utils.set_random_seed(config.seed)
    sparse = config.optimizer == "sparse-adagrad"
    sparse_step = ""  # which sparse step trains (models.sparse.use_sparse_updates)
    if sparse and not sparse_updates_supported():
        raise MovierecError(
            f"{config.model}: the sparse-adagrad optimizer (used by --preset fast and by "
            f"the best preset's factor models) needs the JAX backend, and Keras is running "
            f"on {keras.backend.backend()!r}; unset KERAS_BACKEND (movierec defaults to "
            "JAX) or train without that preset (plain Adam runs on every backend)")
    kind = config.distribution
    distributed = kind != "none"
    processes = distribute.process_count() if distributed else 1
    # Each process feeds its local part of every global batch; a part splits evenly over
    # the process's devices, so its row count (the last batch's too) is a multiple of them.
    local_devices = _local_devices() if distributed else 1
    n_dropped = len(train_pairs) % local_devices
    if processes > 1:  # the processes' steps must line up: trim all to the shortest shard
        shortest = distribute.smallest_across_processes(len(train_pairs))
        n_dropped = len(train_pairs) - (shortest - shortest % local_devices)
    if n_dropped:
        train_pairs, train_ratings = train_pairs[:-n_dropped], train_ratings[:-n_dropped]
    # Keras' own validation pass is a distributed step too: as many rows in every process
    n_val_keras = (distribute.smallest_across_processes(len(val_pairs)) if processes > 1
                   else len(val_pairs))
    n_val_keras -= n_val_keras % local_devices
    eval_batch = config.batch_size if spec.batch_dependent else max(config.batch_size, 8192)
    eval_batch = -(-eval_batch // local_devices) * local_devices
    with distribute.distribution_scope(kind):
        model = build_model(
            config.model, distribute.padded_rows(n_users, kind),
            distribute.padded_rows(n_movies, kind), factors=config.factors,
            l2=0.0 if sparse else config.l2,  # sparse: l2 is a per-rating penalty of the step
            rating_range=rating_range, seed=config.seed,
        )
        if sparse:
            model.compile(optimizer=SparseAdagrad(config.learning_rate), loss=spec.loss)
            sparse_step = use_sparse_updates(
                model, l2=config.l2, bias_l2=config.bias_l2,
                batch_size=None if distributed else config.batch_size,
                fused=False if distributed else FUSED)
        else:
            model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                          loss=spec.loss)

        def predict(pairs: np.ndarray) -> np.ndarray:
            if processes == 1:
                return predict_ratings(model, pairs, batch_size=eval_batch)
            # several processes: the weights span them all, and Keras' predict would return
            # a global array; score a gathered copy on this process instead
            host = distribute.host_copy(model, config, n_users, n_movies, rating_range,
                                        spec.loss)
            with distribute.no_distribution():
                return predict_ratings(host, pairs, batch_size=eval_batch)

        callbacks: list[keras.callbacks.Callback] = [
            _RatingMetrics(val_pairs, val_ratings, predict)
        ]
        if config.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_rmse", mode="min", patience=config.early_stopping,
                restore_best_weights=True,
            ))
        if config.learning_rate_decay != 1.0:
            decay = config.learning_rate_decay
            callbacks.append(keras.callbacks.LearningRateScheduler(
                lambda epoch, rate: rate if epoch == 0 else rate * decay
            ))
        x, y = train_pairs, training_targets(spec, train_ratings, rating_range)
        if hasattr(model, "training_examples"):  # e.g. autorec trains on whole movies
            x, y = model.training_examples(x, y)
            if distributed:  # whole movies, not pairs: their count splits over the devices
                keep = len(x) - len(x) % local_devices
                x, y = x[:keep], y[:keep]
        keras_val = (val_pairs[:n_val_keras],
                     training_targets(spec, val_ratings[:n_val_keras], rating_range))
        if sparse and processes == 1:
            # shuffled by ShuffledBlocks; on one device in blocks of steps, the sparse step
            # taking each block's steps in one call; over devices one step at a time
            block = (config.batch_size if distributed
                     else block_size(config.batch_size, STEPS_PER_CALL, len(x)))
            inputs: dict[str, Any] = {
                "x": ShuffledBlocks(x, y, block, seed=config.seed), "shuffle": False}
        else:  # a process feeds its share of the global batch
            inputs = {"x": x, "y": y, "batch_size": config.batch_size // processes,
                      "shuffle": True}
        kernel_before = fused.threads_used()
        with measure() as cost:
            keras_history = model.fit(
                **inputs,
                validation_data=keras_val if validate and n_val_keras else None,
                validation_batch_size=config.batch_size // processes,
                epochs=config.epochs,
                callbacks=callbacks,
                verbose=_verbosity(verbose),
            )
        final = predict(val_pairs) if validate else None
    if kind == "model" or processes > 1:
        # what is saved: one host's copy, without the padding rows of sharded tables
        model = distribute.host_copy(model, config, n_users, n_movies, rating_range,
                                     spec.loss)
    history = _history_rows(keras_history.history)
    scores: dict[str, float] = {}
    if final is not None:
        rmse, mae = _rmse_mae(val_ratings, final)
        scores = {"rmse": rmse, "mae": mae,
                  "final_epoch_rmse": history[-1]["val_rmse"], **_best_epoch(history)}
    result_metrics: dict[str, Any] = {
        "validation": validate,
        **scores,
        "epochs_run": len(history),
        "train_seconds": cost.seconds,
        "seconds_per_epoch": float(np.mean([row["seconds"] for row in history])),
        "ratings_per_second": len(train_pairs) / float(np.mean([r["fit_seconds"]
                                                                for r in history])),
        **steady_speed([row["fit_seconds"] for row in history], len(train_pairs)),
        "peak_rss_mib": cost.peak_rss_mib,
        "parameters": int(model.count_params()),
        "n_train": len(train_pairs),
        "n_validation": len(val_pairs),
        "eval_batch_size": eval_batch,
    }
    if sparse_step:
        result_metrics["sparse_step"] = sparse_step
    if sparse_step == "fused":  # how the kernel's thread tuner ran this fit's calls
        kernel_after = fused.threads_used()
        result_metrics["kernel_calls"] = kernel_after["calls"] - kernel_before["calls"]
        result_metrics["kernel_calls_on_two_threads"] = (
            kernel_after["with_two_threads"] - kernel_before["with_two_threads"])
    if distributed:
        result_metrics.update(distribution=kind, devices=distribute.device_count(),
                              processes=processes, n_dropped_for_devices=n_dropped)
    return TrainResult(model=model, config=config, history=history, metrics=result_metrics)


def _rmse_mae(ratings: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """RMSE and MAE; in a multi-process job over every process's held-out ratings together
    (each process holds its own, or all hold the same ones)."""
    if distribute.process_count() == 1:
        return metrics.rmse(ratings, predicted), metrics.mae(ratings, predicted)
    error = np.asarray(predicted, np.float64) - np.asarray(ratings, np.float64)
    sse, sae, n = distribute.sum_across_processes(
        [float(np.sum(error ** 2)), float(np.sum(np.abs(error))), float(len(error))])
    return math.sqrt(sse / n), sae / n


def _local_devices() -> int:
    import jax

    return int(jax.local_device_count())


def _verbosity(verbose: int | None) -> int:
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _history_rows(history: dict[str, list[float]]) -> list[dict[str, float]]:
    """Keras' column-wise history as one row per epoch (1-based epoch numbers)."""
    n_epochs = len(next(iter(history.values())))
    return [
        {"epoch": epoch + 1, **{key: float(values[epoch]) for key, values in history.items()}}
        for epoch in range(n_epochs)
    ]


def _best_epoch(history: list[dict[str, float]]) -> dict[str, float]:
    best = min(history, key=lambda row: row["val_rmse"] if math.isfinite(row["val_rmse"])
               else math.inf)
    return {"best_epoch": int(best["epoch"]), "best_epoch_rmse": best["val_rmse"]}
