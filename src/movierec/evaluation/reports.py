"""A trained recommender's held-out report, and the same report for the baselines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from movierec import metrics
from movierec.evaluation.ranking import evaluate_split
from movierec.evaluation.scorers import popularity_scorer, random_scorer
from movierec.models import model_names, model_spec

if TYPE_CHECKING:
    from movierec.encoding import Encoders
    from movierec.recommend import Recommender
    from movierec.splits import Split

__all__ = ["baseline_ranking_reports", "predicts_ratings", "ranking_report"]


def ranking_report(recommender: Recommender, split: Split, k: int = 10,
                   threshold: float | None = 4.0) -> dict[str, float]:
    """Rating error and top-K quality of ``recommender`` on ``split.test``.

    Movies rated in ``split.train`` are excluded from the lists; a test movie is relevant
    when rated ``>= threshold`` (``None``: every test movie). Movies are ranked as
    :meth:`Recommender.recommend` ranks them.

    Returns:
        ``rmse``, ``mae`` (on every test rating; None for a ranking model such as
        ``ease``, whose scores are no ratings) and the metrics of
        :func:`movierec.evaluation.rank_evaluate`: ``precision@k``, ``recall@k``,
        ``ndcg@k``, ``map@k``, ``hit_rate@k``, ``mrr@k``, ``coverage@k``, ``novelty@k``,
        ``arp@k``, ``users_evaluated``, ``users_without_relevant``, ``k``.
    """
    encoders = recommender.encoders
    report: dict = {"rmse": None, "mae": None}
    if predicts_ratings(recommender.model_name):
        pairs = encoders.encode(split.test)
        predicted = recommender.predict_indices(pairs[:, 0], pairs[:, 1])
        truth = split.test["rating"].to_numpy(np.float64)
        report = {"rmse": metrics.rmse(truth, predicted), "mae": metrics.mae(truth, predicted)}
    report.update(evaluate_split(recommender.ranking_scores, split, encoders, k=k,
                                 relevance_threshold=threshold))
    return report


def predicts_ratings(model_name: str) -> bool:
    """False for a registered ranking model; True otherwise (rating models, baselines)."""
    return model_name not in model_names() or model_spec(model_name).predicts_ratings


def baseline_ranking_reports(split: Split, encoders: Encoders, k: int = 10,
                             threshold: float | None = 4.0, *, seed: int = 0
                             ) -> dict[str, dict[str, float]]:
    """The same top-K metrics for the popularity and random baselines on ``split``.

    ``popularity`` ranks by number of training ratings (the same list for everyone, minus
    what each user has seen); ``random`` by uniform random scores (seeded).
    """
    train = encoders.encode(split.train)
    n_movies = len(encoders.movies)
    scorers = {"popularity": popularity_scorer(train, n_movies),
               "random": random_scorer(n_movies, seed=seed)}
    return {name: evaluate_split(score, split, encoders, k=k, relevance_threshold=threshold)
            for name, score in scorers.items()}
