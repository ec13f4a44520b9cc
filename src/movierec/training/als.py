"""Training ``ials`` by alternating least squares, with what training can measure.

``config.epochs`` is the number of sweeps (every user solved, then every movie). The metrics
are its cost and validation NDCG@10 and recall@10 (relevant: validation ratings
``>= config.positive``, the user's training movies not ranked), measured as
:func:`~movierec.training.closed_form.fit_closed_form` measures ``ease``; verbose, each sweep
prints its validation figures. There is no loss per epoch, so the history is empty (no loss
curve is drawn), as for ``ease``.
"""

from __future__ import annotations

import numpy as np

from movierec.measure import measure
from movierec.models import model_class
from movierec.training.closed_form import ranking_run_metrics, validation_ranking
from movierec.training.config import TrainConfig, TrainResult

__all__ = ["fit_als"]


def fit_als(
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
    """Build ``config.model`` and run its sweeps on the training pairs (arguments as ``fit``)."""
    model = model_class(config.model)(
        n_users, n_movies, factors=config.factors, l2=config.l2, rating_range=rating_range,
        seed=config.seed, reg=config.reg, alpha=config.alpha,
        negative_weight=config.negative_weight, positive=config.positive,
        iterations=config.epochs,
    )
    model.build((None, 2))

    def record(sweep: int) -> None:
        found = validation_ranking(model, train_pairs, val_pairs, val_ratings, config.positive)
        figures = ", ".join(f"{key} {value:.4f}" for key, value in found.items())
        print(f"sweep {sweep}/{config.epochs}: {figures or 'no validation ratings'}")

    with measure() as cost:
        # Validating after every sweep costs a scoring pass; only when asked to be verbose.
        model.fit_closed_form(train_pairs, train_ratings, callback=record if verbose else None)
    result_metrics = ranking_run_metrics(
        model, cost, train_pairs, val_pairs, validation=len(val_pairs) > 0,
        epochs_run=config.epochs,
        ranking=validation_ranking(model, train_pairs, val_pairs, val_ratings, config.positive))
    return TrainResult(model=model, config=config, history=[], metrics=result_metrics)
