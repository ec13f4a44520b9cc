"""The popular fallback: what to show a user the model cannot personalise for.

A user the model does not know (or knows without a single training rating) gets the
best-liked popular movies instead of personal predictions, and the answer says so. The
command line (``movierec recommend --user ID --fallback popular``) and the service
(``GET /users/{id}/recommendations?fallback=popular``) both use :func:`popular_fallback`.

Example:
    >>> reason = fallback_reason(rec, "999")                       # doctest: +SKIP
    >>> fallback = popular_fallback(rec, 10, reason=reason)        # doctest: +SKIP
    >>> fallback.note                                               # doctest: +SKIP
    'FALLBACK: user 999 is unknown to this model; these are ...'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from movierec.checks import plain
from movierec.recommend.history import DAMPING

__all__ = ["PopularFallback", "PopularSource", "fallback_reason", "popular_fallback"]


class PopularSource(Protocol):
    """What the fallback needs of a recommender: :class:`~movierec.recommend.Recommender`
    has it, and so does anything the service serves."""

    encoders: Any

    @property
    def movie_counts(self) -> np.ndarray: ...

    def knows_user(self, user: Any) -> bool: ...

    def user_indices(self, users: Any) -> np.ndarray: ...

    def movie_indices(self, movies: Any) -> np.ndarray: ...

    def n_train_ratings(self, user: Any) -> int: ...

    def popular(self, k: int = 10, exclude: Sequence | None = None) -> tuple[Any, Any]: ...


@dataclass(frozen=True)
class PopularFallback:
    """The popular movies shown instead of personal recommendations.

    Attributes:
        movie_ids: raw movie ids, best first (no padding).
        mean_ratings: each movie's mean training rating, damped by
            :data:`~movierec.recommend.history.DAMPING` ratings towards the global mean.
        n_ratings: each movie's number of training ratings.
        reason: why there is no personal answer ("user 999 is unknown to this model").
    """

    movie_ids: np.ndarray
    mean_ratings: np.ndarray
    n_ratings: np.ndarray
    reason: str

    @property
    def note(self) -> str:
        """The label every fallback answer carries, starting with ``FALLBACK:``."""
        return (f"FALLBACK: {self.reason}; these are the most popular well-rated movies (mean "
                f"rating damped by {DAMPING:g} ratings towards the global mean), not personal "
                "predictions")

    def __len__(self) -> int:
        return len(self.movie_ids)


def fallback_reason(recommender: PopularSource, user: Any) -> str | None:
    """Why ``user`` cannot get personal recommendations, or None when they can.

    A user is unknown (not in the model's users, by the rule of :func:`movierec.ids.parse_id`),
    or known but without training ratings (the model never learned their taste).
    """
    if not recommender.knows_user(user):
        return f"user {user} is unknown to this model"
    user_id = plain(recommender.encoders.users.inverse(recommender.user_indices([user]))[0])
    if recommender.n_train_ratings(user_id) == 0:
        return f"user {user_id} has no training ratings"
    return None


def popular_fallback(recommender: PopularSource, k: int = 10, *,
                     exclude: Sequence[Any] | None = None,
                     reason: str = "no personal recommendations") -> PopularFallback:
    """The ``k`` best-liked popular movies (:meth:`Recommender.popular`), labelled.

    Args:
        recommender: the model whose training ratings rank the movies.
        k: how many movies (fewer when the catalogue runs out).
        exclude: movie ids never to show.
        reason: why the fallback is used; it goes into :attr:`PopularFallback.note`.
    """
    ids, scores = recommender.popular(k, exclude=exclude)
    scores = np.asarray(scores, dtype=np.float64)
    keep = np.isfinite(scores)
    ids = np.asarray(ids)[keep]
    counts = (recommender.movie_counts[recommender.movie_indices(ids.tolist())]
              if len(ids) else np.empty(0, np.int64))
    return PopularFallback(movie_ids=ids, mean_ratings=scores[keep],
                           n_ratings=np.asarray(counts, dtype=np.int64), reason=reason)
