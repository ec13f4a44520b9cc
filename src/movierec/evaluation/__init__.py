"""Model-agnostic top-K evaluation of recommenders.

A **scorer** (:mod:`~movierec.evaluation.scorers`) is any callable
``score(user_indices) -> (len(user_indices), n_movies)`` scores, higher meaning "recommend
first"; :func:`rank_evaluate` (:mod:`~movierec.evaluation.ranking`) ranks every movie with
it for each test user and scores the lists, under the held-out-ratings or the leave-last-N
protocol. :mod:`~movierec.evaluation.reports` builds a trained recommender's report and the
baselines' on the same split; :mod:`~movierec.evaluation.holdout` recovers a saved run's
held-out ratings. The top-K is :func:`movierec.topk.top_k`, re-exported here.

Example:
    >>> import numpy as np
    >>> train = np.array([[0, 0], [1, 0], [1, 1]])
    >>> test = np.array([[0, 1], [1, 2]])
    >>> score = popularity_scorer(train, n_movies=3)
    >>> rank_evaluate(score, train, test, np.array([5.0, 4.0]), 2, 3, k=1)["hit_rate@1"]
    1.0
"""

from movierec.evaluation.holdout import holdout_split, leave_last_of_split, run_dataset
from movierec.evaluation.ranking import (
    RANKING_METRICS,
    evaluate_split,
    leave_last_n_evaluate,
    rank_evaluate,
)
from movierec.evaluation.reports import baseline_ranking_reports, ranking_report
from movierec.evaluation.scorers import Scorer, pair_scorer, popularity_scorer, random_scorer
from movierec.topk import top_k

__all__ = [
    "RANKING_METRICS",
    "Scorer",
    "baseline_ranking_reports",
    "evaluate_split",
    "holdout_split",
    "leave_last_n_evaluate",
    "leave_last_of_split",
    "pair_scorer",
    "popularity_scorer",
    "random_scorer",
    "rank_evaluate",
    "ranking_report",
    "run_dataset",
    "top_k",
]
