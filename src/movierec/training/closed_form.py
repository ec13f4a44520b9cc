"""Training a closed-form model (``ease``) in one step, with what training can measure.

A ranking model predicts no rating, so there is no RMSE: the metrics are its cost, and
validation recall@10 and NDCG@10 (relevant: validation ratings >= ``config.positive``;
the user's training movies are not ranked), computed here with the metrics and top-K that
the evaluation uses (training sits below :mod:`movierec.evaluation`); ``movierec evaluate``
gives the full report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, issparse

from movierec.measure import measure
from movierec.metrics import ItemSets, ranking_metrics
from movierec.models import model_class
from movierec.models.ease import sparse_scores
from movierec.topk import top_k
from movierec.training.config import TrainConfig, TrainResult

__all__ = ["fit_closed_form", "ranking_run_metrics", "validation_ranking"]

K = 10


def fit_closed_form(
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
    movie_features: np.ndarray | None = None,
    user_features: np.ndarray | None = None,
) -> TrainResult:
    """Build ``config.model`` and solve it on the training pairs (arguments as ``fit``)."""
    model = model_class(config.model)(
        n_users, n_movies, factors=config.factors, l2=config.l2, rating_range=rating_range,
        seed=config.seed, lam=config.lam, negative_weight=config.negative_weight,
        positive=config.positive, popularity_exponent=config.popularity_exponent,
        lowpass_weight=config.lowpass_weight, lowpass_factors=config.lowpass_factors,
        side_weight=config.side_weight, user_weight=config.user_weight,
        weights_per_column=config.weights_per_column,
    )
    with measure() as cost:  # builds the model: its shapes follow the user features given
        model.fit_closed_form(train_pairs, train_ratings, movie_features, user_features)
    side: dict[str, Any] = {}
    if movie_features is not None and config.side_weight:
        side["side_features"] = len(movie_features)
    if user_features is not None and config.user_weight:
        side["user_features"] = int(np.shape(user_features)[1])
    result_metrics = ranking_run_metrics(
        model, cost, train_pairs, val_pairs, **side,
        ranking=validation_ranking(model, train_pairs, val_pairs, val_ratings, config.positive))
    # No epochs: an empty history (so no loss or validation curves are drawn for it).
    return TrainResult(model=model, config=config, history=[], metrics=result_metrics)


def ranking_run_metrics(model: Any, cost: Any, train_pairs: np.ndarray, val_pairs: np.ndarray,
                        *, ranking: dict[str, float], validation: bool | None = None,
                        **extra: Any) -> dict[str, Any]:
    """The metrics.json of a ranking model's run, in this order: ``ranking_model``,
    ``validation`` (when given), the cost (``cost``: :func:`movierec.measure.measure`'s),
    the sizes, ``extra`` (e.g. ``epochs_run``), then ``ranking`` (from
    :func:`validation_ranking`)."""
    shown = {} if validation is None else {"validation": validation}
    return {"ranking_model": True, **shown, "train_seconds": cost.seconds,
            "peak_rss_mib": cost.peak_rss_mib, "parameters": int(model.count_params()),
            "n_train": len(train_pairs), "n_validation": len(val_pairs), **extra, **ranking}


def validation_ranking(model, train_pairs: np.ndarray, val_pairs: np.ndarray,
                        val_ratings: np.ndarray, positive: float) -> dict[str, float]:
    """Mean recall@K and NDCG@K over validation users with a relevant movie (rated
    ``>= positive``), training movies excluded, with the metrics and top-K the evaluation
    uses (``movierec.metrics``, ``movierec.topk``)."""
    relevant_pairs = val_pairs[np.asarray(val_ratings) >= positive]
    if not len(relevant_pairs):
        return {}
    n_users = model.n_users
    relevant = ItemSets.from_pairs(relevant_pairs[:, 0], relevant_pairs[:, 1], n_users)
    seen = ItemSets.from_pairs(train_pairs[:, 0], train_pairs[:, 1], n_users)
    users = np.flatnonzero(relevant.sizes())
    tables = model.scoring_tables()
    movies = tables["movie_vectors"]  # a pruned ease's is sparse
    movies_t = csr_matrix(movies.T) if issparse(movies) else movies.T
    recalls, ndcgs = [], []
    for start in range(0, len(users), 256):  # bounded (256, n_movies) score blocks
        batch = users[start:start + 256]
        rows = tables["user_vectors"][batch]
        scores = sparse_scores(rows, movies_t) if issparse(movies_t) else rows @ movies_t
        if tables.get("movie_bias") is not None:
            scores += tables["movie_bias"][None, :]
        top, _ = top_k(scores, K, exclude=seen.take(batch))
        found = ranking_metrics(top, relevant.take(batch), K, per_user=True)
        recalls.append(found["recall"])
        ndcgs.append(found["ndcg"])
    return {"val_recall_at_10": float(np.mean(np.concatenate(recalls))),
            "val_ndcg_at_10": float(np.mean(np.concatenate(ndcgs)))}
