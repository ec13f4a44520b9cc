"""The training ratings a recommender excludes, shows and counts, indexed by user."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from movierec.encoding import Encoders

__all__ = ["DAMPING", "RatedMovies", "TrainingHistory"]

DAMPING = 20.0
"""Popular movies rank by mean rating damped towards the global mean by this many ratings."""


@dataclass(frozen=True, eq=False)
class TrainingHistory:
    """Training ratings grouped by user index (CSR), and per-movie statistics.

    Ratings whose user or movie the encoders do not know are left out.

    Attributes:
        movie_counts: training ratings per movie index.
        damped_means: each movie's mean training rating pulled towards the global mean by
            ``DAMPING`` pseudo-ratings, ``(sum + DAMPING * mean) / (count + DAMPING)``.
        global_mean: mean of all training ratings (the middle of the rating range if none).
    """

    movie_counts: np.ndarray
    damped_means: np.ndarray
    global_mean: float
    _ptr: np.ndarray
    _movies: np.ndarray
    _ratings: np.ndarray
    _stamps: np.ndarray

    @classmethod
    def index(cls, train: pd.DataFrame, encoders: Encoders,
              rating_range: tuple[float, float]) -> TrainingHistory:
        """Index ``train`` (``user_id, movie_id, rating``, optionally ``timestamp``, raw
        ids); without timestamps, file order stands in for time."""
        users = encoders.users.transform(train["user_id"], unknown="mask")
        movies = encoders.movies.transform(train["movie_id"], unknown="mask")
        known = (users >= 0) & (movies >= 0)
        users, movies = users[known], movies[known]
        ratings = train["rating"].to_numpy(np.float32)[known]
        stamps = (train["timestamp"].to_numpy(np.int64)[known] if "timestamp" in train
                  else np.arange(len(users), dtype=np.int64))
        n_movies = len(encoders.movies)
        counts = np.bincount(movies, minlength=n_movies).astype(np.int64)
        sums = np.bincount(movies, weights=ratings, minlength=n_movies)
        mean = float(ratings.mean()) if len(ratings) else float(np.mean(rating_range))
        order = np.argsort(users, kind="stable")
        per_user = np.bincount(users, minlength=len(encoders.users))
        return cls(
            movie_counts=counts,
            damped_means=((sums + DAMPING * mean) / (counts + DAMPING)).astype(np.float32),
            global_mean=mean,
            _ptr=np.concatenate([[0], np.cumsum(per_user)]).astype(np.int64),
            _movies=movies[order].astype(np.int64),
            _ratings=ratings[order],
            _stamps=stamps[order],
        )

    def seen(self, user: int) -> np.ndarray:
        """Movie indices user index ``user`` rated in training."""
        return self._movies[self._ptr[user]: self._ptr[user + 1]]

    def ratings(self, user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Movie indices, ratings and timestamps of user index ``user``'s training ratings."""
        start, end = self._ptr[user], self._ptr[user + 1]
        return self._movies[start:end], self._ratings[start:end], self._stamps[start:end]

    def n_ratings(self, user: int) -> int:
        return int(self._ptr[user + 1] - self._ptr[user])

    def rated_users(self) -> np.ndarray:
        """User indices with at least one training rating."""
        return np.flatnonzero(self._ptr[1:] > self._ptr[:-1])

    def seen_pairs(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``users``, movie index) of every training rating of ``users``."""
        return _csr_pairs(self._ptr, self._movies, users)

    def top_rated(self, user: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Movie indices and ratings of the user's ``n`` highest training ratings, most
        recent first among equal ratings."""
        start, end = self._ptr[user], self._ptr[user + 1]
        ratings = self._ratings[start:end]
        order = np.lexsort((-self._stamps[start:end], -ratings))[: max(n, 0)]
        return self._movies[start:end][order], ratings[order]


@dataclass(frozen=True, eq=False)
class RatedMovies:
    """Which movies each user rated (training and held-out), as a movies-only CSR: the
    recommendations' exclusion, lighter than a second :class:`TrainingHistory`."""

    _ptr: np.ndarray
    _movies: np.ndarray

    @classmethod
    def index(cls, frames: list[pd.DataFrame], encoders: Encoders) -> RatedMovies:
        """Index the ``user_id, movie_id`` pairs of ``frames`` (raw ids; unknown ones are
        left out)."""
        users = np.concatenate([encoders.users.transform(f["user_id"], unknown="mask")
                                for f in frames])
        movies = np.concatenate([encoders.movies.transform(f["movie_id"], unknown="mask")
                                 for f in frames])
        known = (users >= 0) & (movies >= 0)
        users, movies = users[known], movies[known]
        order = np.argsort(users, kind="stable")
        per_user = np.bincount(users, minlength=len(encoders.users))
        return cls(_ptr=np.concatenate([[0], np.cumsum(per_user)]).astype(np.int64),
                   _movies=movies[order].astype(np.int32))

    def seen(self, user: int) -> np.ndarray:
        """Movie indices user index ``user`` rated."""
        return self._movies[self._ptr[user]: self._ptr[user + 1]].astype(np.int64)

    def seen_pairs(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``users``, movie index) of every rating of ``users``."""
        return _csr_pairs(self._ptr, self._movies, users)


def _csr_pairs(ptr: np.ndarray, movies: np.ndarray, users: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    starts, ends = ptr[users], ptr[users + 1]
    lengths = ends - starts
    rows = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, movies[np.repeat(starts, lengths) + offsets]
