"""A user's list from everything they rated: the run's training ratings and the ratings
they gave since (a :mod:`movierec.store`, say), without retraining.

:func:`recommend_with_feedback` merges the two (a later rating of a movie replaces the
training one, so nothing is counted twice) and

* when the later ratings add nothing the model did not train on, answers from the trained
  user vector, as :meth:`Recommender.recommend` does;
* otherwise folds the user in again from the whole merged history with their model
  family's fold-in (:meth:`Recommender.fold_in`, the same as for a new user), so the list
  reflects the new ratings at once. A user the model never saw is folded in from their
  ratings alone.

Every movie the user rated, in training, in the run's held-out part or later, is left out.

Example:
    >>> found = recommend_with_feedback(recommender, 1, [(318, 5.0, 0)], k=5)  # doctest: +SKIP
    >>> found.folded_in, len(found.movie_ids)                                  # doctest: +SKIP
    (True, 5)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from movierec.errors import UnknownIdError
from movierec.recommend.ids import raw_ids
from movierec.recommend.recommender import Recommender

__all__ = ["FeedbackList", "History", "merged_history", "recommend_with_feedback"]


@dataclass(frozen=True)
class FeedbackList:
    """The answer of :func:`recommend_with_feedback`."""

    movie_ids: np.ndarray
    """Raw movie ids, best first (at most ``k``)."""
    values: np.ndarray
    """Predicted ratings, or a ranking model's relative scores."""
    top_rated: list[tuple[Any, float]]
    """The user's own highest ratings in the merged history, most recent first among equal."""
    n_ratings: int
    """Ratings in the merged history (of movies the model knows)."""
    folded_in: bool
    """True when the user was folded in from the merged history; False when the trained
    vector answered (the later ratings repeat training ones)."""


@dataclass(frozen=True)
class History:
    """A user's merged ratings as movie indices (distinct), ratings and timestamps."""

    movies: np.ndarray
    ratings: np.ndarray
    stamps: np.ndarray
    new: bool
    """Whether the later ratings hold anything the model did not train on."""


def merged_history(recommender: Recommender, user: Any,
                   later: Iterable[tuple[Any, float, int]]) -> History:
    """The user's training ratings with ``later`` ones (movie id, rating, timestamp) laid
    over them: a later rating of a movie replaces the training one. Movies the model cannot
    score are left out (they have nothing to fold in)."""
    empty = np.empty(0, dtype=np.int64)
    train_movies, train_ratings, train_stamps = empty, np.empty(0, np.float32), empty
    index = recommender.encoders.users.index_of(user)
    if index >= 0:
        train_movies, train_ratings, train_stamps = recommender.train_ratings_of(index)
    later = list(later)
    movie_index = recommender.encoders.movies.index_of
    indices = np.array([movie_index(m) for m, _, _ in later], dtype=np.int64)
    scorable = indices >= 0
    movies = indices[scorable]
    ratings = np.array([r for r, keep in zip((r for _, r, _ in later), scorable, strict=True)
                        if keep], dtype=np.float32)
    stamps = np.array([t for t, keep in zip((t for _, _, t in later), scorable, strict=True)
                       if keep], dtype=np.int64)
    order = np.argsort(train_movies, kind="stable")
    known, known_ratings = train_movies[order], train_ratings[order]
    at = np.minimum(np.searchsorted(known, movies), max(len(known) - 1, 0))
    repeated = ((at < len(known)) & (known[at] == movies) & (known_ratings[at] == ratings)
                if len(known) else np.zeros(len(movies), dtype=bool))
    all_movies = np.concatenate([train_movies, movies])
    # The last occurrence of each movie wins: later ratings come after training ones.
    _, first_from_end = np.unique(all_movies[::-1], return_index=True)
    keep = len(all_movies) - 1 - first_from_end
    return History(all_movies[keep], np.concatenate([train_ratings, ratings])[keep],
                   np.concatenate([train_stamps, stamps])[keep],
                   new=bool(len(movies)) and not bool(repeated.all()))


def recommend_with_feedback(recommender: Recommender, user: Any,
                            later: Iterable[tuple[Any, float, int]], k: int = 10, *,
                            top: int = 10) -> FeedbackList:
    """Top ``k`` for ``user`` from their training ratings and ``later`` ones (movie id,
    rating, timestamp), as the module docstring says.

    Raises:
        UnknownIdError: the model does not know the user and none of ``later``'s movies.
    """
    history = merged_history(recommender, user, later)
    index = recommender.encoders.users.index_of(user)
    known = index >= 0
    best = np.lexsort((-history.stamps, -history.ratings))[:max(top, 0)]
    top_rated = list(zip(raw_ids(recommender.encoders.movies, history.movies[best]).tolist(),
                         history.ratings[best].astype(float).tolist(), strict=True))
    n = len(history.movies)
    if known and not history.new:
        items, values = recommender.recommend_indices(np.array([index]), k)
        ids = raw_ids(recommender.encoders.movies, items)
        return FeedbackList(ids[0], values[0], top_rated, n, folded_in=False)
    if not n:
        raise UnknownIdError(f"unknown user id {user!r}: the model was not trained on them "
                             "and none of their ratings is of a movie it knows")
    exclude = None
    if known:  # the run's held-out ratings of this user stay out too
        exclude = recommender.rated(index)
    ids, values = recommender.recommend_folded(history.movies, history.ratings.astype(
        np.float64), k, exclude=exclude)
    return FeedbackList(ids, values, top_rated, n, folded_in=True)
