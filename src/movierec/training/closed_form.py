"""Training a closed-form model (``ease``) in one step, with what training can measure.

A ranking model predicts no rating, so there is no RMSE: the metrics are its cost, and
validation recall@10 and NDCG@10 (relevant: validation ratings >= ``config.positive``;
the user's training movies are not ranked), computed here with numpy because training sits
below :mod:`movierec.evaluation`. ``movierec evaluate`` gives the full report.
"""

from __future__ import annotations

import numpy as np

from movierec.measure import measure
from movierec.models import model_class
from movierec.training.config import TrainConfig, TrainResult

__all__ = ["fit_closed_form"]

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
) -> TrainResult:
    """Build ``config.model`` and solve it on the training pairs (arguments as ``fit``)."""
    model = model_class(config.model)(
        n_users, n_movies, factors=config.factors, l2=config.l2, rating_range=rating_range,
        seed=config.seed, lam=config.lam, negative_weight=config.negative_weight,
        positive=config.positive, popularity_exponent=config.popularity_exponent,
    )
    model.build((None, 2))
    with measure() as cost:
        model.fit_closed_form(train_pairs, train_ratings)
    result_metrics = {
        "ranking_model": True,
        "train_seconds": cost.seconds,
        "peak_rss_mib": cost.peak_rss_mib,
        "parameters": int(model.count_params()),
        "n_train": len(train_pairs),
        "n_validation": len(val_pairs),
        **_validation_ranking(model, train_pairs, val_pairs, val_ratings, config.positive),
    }
    # No epochs: an empty history (so no loss or validation curves are drawn for it).
    return TrainResult(model=model, config=config, history=[], metrics=result_metrics)


def _validation_ranking(model, train_pairs: np.ndarray, val_pairs: np.ndarray,
                        val_ratings: np.ndarray, positive: float) -> dict[str, float]:
    """Mean recall@K and NDCG@K over validation users with a relevant movie."""
    relevant = val_pairs[np.asarray(val_ratings) >= positive]
    users = np.unique(relevant[:, 0]) if len(relevant) else np.empty(0, np.int64)
    if not len(users):
        return {}
    tables = model.scoring_tables()
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    recalls, ndcgs = [], []
    for start in range(0, len(users), 256):
        batch = users[start:start + 256]
        scores = tables["user_vectors"][batch] @ tables["movie_vectors"].T
        row_of = {int(u): r for r, u in enumerate(batch)}
        seen = train_pairs[np.isin(train_pairs[:, 0], batch)]
        scores[[row_of[int(u)] for u in seen[:, 0]], seen[:, 1]] = -np.inf
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        for r, user in enumerate(batch):
            wanted = set(relevant[relevant[:, 0] == user, 1].tolist())
            hits = np.array([int(m) in wanted for m in top[r]], dtype=np.float64)
            ideal = discounts[:min(len(wanted), K)].sum()
            ndcgs.append(float((hits * discounts).sum() / ideal))
            recalls.append(float(hits.sum() / len(wanted)))
    return {"val_recall_at_10": float(np.mean(recalls)), "val_ndcg_at_10": float(np.mean(ndcgs))}
