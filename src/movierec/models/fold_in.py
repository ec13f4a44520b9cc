"""A model's own rule for folding in a new user: their ratings -> a user row to score with.

Most models fold a new user in by fitting a user vector against their frozen movie vectors
(:mod:`movierec.recommend.cold_start`). A model whose user side is not a fitted vector says
how it builds one by putting a :class:`FoldIn` under ``"fold_in"`` in its
``scoring_tables()``; the numpy recommender then scores the row it returns exactly as a
trained user's row (``row . movie_vectors[i]``, plus biases if the model has them).

For ``ease`` the row is the user's weighted history, the same ``W`` row training builds
(:func:`weighted_history`); a ranking model added later gives its own rule (an iALS solve
against its item factors, a Mult-DAE's encoder, ...) in the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["FoldIn", "liked_weights", "weighted_history"]


@dataclass(frozen=True)
class FoldIn:
    """How a model turns a new user's ratings into a user row of its scoring tables.

    Attributes:
        method: the rule in words (``movierec recommend --rate`` prints it).
        rule: ``(movie_indices, ratings) -> (F,) float32`` user row, in the space of the
            model's ``user_vectors``. It must hold numpy arrays only, not the model.
    """

    method: str
    rule: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def __call__(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        return np.asarray(self.rule(np.asarray(movies, np.int64),
                                    np.asarray(ratings, np.float64)), np.float32)


def liked_weights(ratings: np.ndarray, positive: float, negative_weight: float) -> np.ndarray:
    """The ranking models' weight of each rating: 1 for a rating ``>= positive`` (liked),
    ``negative_weight`` for a lower one (watched, not liked)."""
    return np.where(np.asarray(ratings) >= positive, 1.0, negative_weight)


def weighted_history(movies: np.ndarray, ratings: np.ndarray, *, n_movies: int,
                     positive: float, negative_weight: float) -> np.ndarray:
    """A user's ``(n_movies,)`` input row: 1 for a rating ``>= positive``,
    ``negative_weight`` for a lower one, 0 for movies not rated (``ease``'s ``W`` row)."""
    row = np.zeros(n_movies, dtype=np.float32)
    row[movies] = liked_weights(ratings, positive, negative_weight)
    return row
