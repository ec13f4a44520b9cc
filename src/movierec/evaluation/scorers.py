"""Scorers: what the evaluation ranks with, and the baselines every model must beat.

A **scorer** is any callable ``score(user_indices) -> scores`` that takes a 1-D int array
of user indices and returns a float array of shape ``(len(user_indices), n_movies)``, higher
meaning "recommend first". Keras models, numpy baselines and oracles all fit this shape, so
one evaluation loop serves them all; :func:`pair_scorer` adapts any
``predict(pairs) -> ratings`` function (e.g. ``movierec.models.predict_ratings``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Scorer", "pair_scorer", "popularity_scorer", "random_scorer"]

Scorer = Callable[[np.ndarray], np.ndarray]
"""``score(user_indices) -> (len(user_indices), n_movies)`` float scores, higher is better."""


def popularity_scorer(
    train_pairs: Any,
    n_movies: int,
    *,
    ratings: Any = None,
    min_rating: float | None = None,
) -> Scorer:
    """A scorer that ranks movies by their number of training ratings, the same for everyone.

    Args:
        train_pairs: int ``(n, 2)`` ``[user_index, movie_index]`` training pairs.
        n_movies: catalogue size.
        ratings: ``(n,)`` ratings aligned with ``train_pairs``; needed for ``min_rating``.
        min_rating: count only ratings ``>= min_rating`` ("well-rated" popularity).

    Raises:
        ValueError: on misaligned input, ``min_rating`` without ``ratings``, or a movie
            index outside ``[0, n_movies)``.
    """
    pairs = np.asarray(train_pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or (pairs.size and pairs.dtype.kind not in "iu"):
        raise ValueError(f"train_pairs must be an int (n, 2) array, got shape {pairs.shape}")
    if n_movies < 1:
        raise ValueError(f"n_movies must be >= 1, got {n_movies}")
    movies = pairs[:, 1].astype(np.int64)
    if movies.size and (movies.min() < 0 or movies.max() >= n_movies):
        raise ValueError(f"movie indices must lie in [0, {n_movies})")
    if min_rating is not None:
        if ratings is None:
            raise ValueError("min_rating needs the training ratings")
        r = np.asarray(ratings, dtype=np.float64)
        if r.shape != (pairs.shape[0],):
            raise ValueError(
                f"ratings must be aligned with train_pairs: {r.size} vs {pairs.shape[0]}"
            )
        movies = movies[r >= min_rating]
    counts = np.bincount(movies, minlength=n_movies).astype(np.float64)
    counts.setflags(write=False)

    def score(user_indices: np.ndarray) -> np.ndarray:
        n = np.asarray(user_indices).shape[0]
        return np.tile(counts, (n, 1))

    return score


def random_scorer(n_movies: int, seed: int = 0) -> Scorer:
    """A scorer giving uniform random scores, from its own seeded generator.

    Uses ``np.random.default_rng(seed)``, never the global RNG. Draws are sequential, so an
    evaluation is reproducible for a given seed and order of calls (users scored in the
    same order give the same scores whatever the chunk size).
    """
    if n_movies < 1:
        raise ValueError(f"n_movies must be >= 1, got {n_movies}")
    rng = np.random.default_rng(seed)

    def score(user_indices: np.ndarray) -> np.ndarray:
        n = np.asarray(user_indices).shape[0]
        return rng.random((n, n_movies))

    return score


def pair_scorer(
    predict: Callable[[np.ndarray], Any], n_movies: int, *, max_pairs: int = 1 << 20
) -> Scorer:
    """Adapt ``predict(pairs) -> values`` (e.g. a rating predictor) into a scorer.

    ``pairs`` is an int32 ``(m, 2)`` array ``[user_index, movie_index]``; ``predict`` must
    return ``m`` values (shape ``(m,)`` or ``(m, 1)``). At most ``max_pairs`` pairs are
    passed per call. For example, with a Keras model::

        score = pair_scorer(lambda p: predict_ratings(model, p), n_movies)
    """
    if n_movies < 1:
        raise ValueError(f"n_movies must be >= 1, got {n_movies}")
    movies = np.arange(n_movies, dtype=np.int32)
    users_per_call = max(1, max_pairs // n_movies)

    def score(user_indices: np.ndarray) -> np.ndarray:
        users = np.asarray(user_indices, dtype=np.int32)
        out = np.empty((users.size, n_movies), dtype=np.float64)
        for start in range(0, users.size, users_per_call):
            chunk = users[start : start + users_per_call]
            pairs = np.column_stack([np.repeat(chunk, n_movies), np.tile(movies, chunk.size)])
            values = np.asarray(predict(pairs), dtype=np.float64).reshape(-1)
            if values.size != pairs.shape[0]:
                raise ValueError(
                    f"predict returned {values.size} values for {pairs.shape[0]} pairs"
                )
            out[start : start + chunk.size] = values.reshape(chunk.size, n_movies)
        return out

    return score
