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

__all__ = ["FeedbackList", "merged_history", "recommend_with_feedback"]


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


def merged_history(recommender: Recommender, user: Any,
                   later: Iterable[tuple[Any, float, int]]
                   ) -> tuple[dict[Any, tuple[float, int]], bool]:
    """The user's training ratings with ``later`` ones (movie id, rating, timestamp) laid
    over them, as ``{movie id: (rating, timestamp)}`` of movies the model knows, and whether
    ``later`` holds anything the model did not train on."""
    history: dict[Any, tuple[float, int]] = {}
    if recommender.knows_user(user):
        index = int(recommender.user_indices([user])[0])
        movies, ratings, stamps = recommender.train_ratings_of(index)
        ids = raw_ids(recommender.encoders.movies, movies).tolist()
        history = dict(zip(ids, zip(ratings.tolist(), stamps.tolist(), strict=True),
                           strict=True))
    later = list(later)
    if not later:
        return history, False
    indices = recommender.encoders.movies.transform([m for m, _, _ in later], unknown="mask")
    scorable = indices >= 0  # a movie this run cannot score has nothing to fold in
    ids = raw_ids(recommender.encoders.movies, indices[scorable]).tolist()
    kept = (item for item, keep in zip(later, scorable.tolist(), strict=True) if keep)
    new = False
    for movie, (_, rating, stamp) in zip(ids, kept, strict=True):
        before = history.get(movie)
        if before is None or before[0] != float(rating):
            new = True
        history[movie] = (float(rating), int(stamp))
    return history, new


def recommend_with_feedback(recommender: Recommender, user: Any,
                            later: Iterable[tuple[Any, float, int]], k: int = 10, *,
                            top: int = 10) -> FeedbackList:
    """Top ``k`` for ``user`` from their training ratings and ``later`` ones (movie id,
    rating, timestamp), as the module docstring says.

    Raises:
        UnknownIdError: the model does not know the user and none of ``later``'s movies.
    """
    history, new = merged_history(recommender, user, later)
    known = recommender.knows_user(user)
    best = sorted(history.items(), key=lambda item: (-item[1][0], -item[1][1]))[:max(top, 0)]
    top_rated = [(movie, rating) for movie, (rating, _) in best]
    if known and not new:
        ids, values = recommender.recommend([user], k)
        return FeedbackList(ids[0], values[0], top_rated, len(history), folded_in=False)
    if not history:
        raise UnknownIdError(f"unknown user id {user!r}: the model was not trained on them "
                             "and none of their ratings is of a movie it knows")
    exclude = None
    if known:  # the run's held-out ratings of this user stay out too
        index = int(recommender.user_indices([user])[0])
        exclude = raw_ids(recommender.encoders.movies, recommender.rated(index)).tolist()
    ids, values = recommender.recommend_new_user(
        {movie: rating for movie, (rating, _) in history.items()}, k, exclude=exclude)
    return FeedbackList(ids, values, top_rated, len(history), folded_in=True)
