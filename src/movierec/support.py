"""Support features: how much the training data says about a user or a movie.

``f = log(1 + number of training ratings)``. A blend's weights depend on them
(:mod:`movierec.models.blend`), and the numpy recommender computes the same feature for a
new user from the ratings they give, so the formula lives here, below both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["support_features", "support_of"]


def support_of(counts: Any) -> np.ndarray:
    """The support feature of a user or movie with ``counts`` ratings: ``log(1 + counts)``."""
    return np.log1p(np.asarray(counts, dtype=np.float64)).astype(np.float32)


def support_features(pairs: np.ndarray, n_users: int, n_movies: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The support features of every user and every movie, from the ratings in ``pairs``
    (int ``(n, 2)`` ``[user_index, movie_index]``)."""
    return (support_of(np.bincount(pairs[:, 0], minlength=n_users)),
            support_of(np.bincount(pairs[:, 1], minlength=n_movies)))
