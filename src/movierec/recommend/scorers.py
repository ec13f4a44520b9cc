"""What the :class:`~movierec.recommend.Recommender` asks of a model, for one model or a blend.

A scorer gives raw scores for known users (the order recommendations rank by) and turns them
into ratings; fits a new user from a few ratings (*folds them in*) and scores that user; and
gives unit movie vectors for similar movies.

* :class:`FactorScorer` serves one model: the numpy forward pass of
  :mod:`~movierec.recommend.scoring` and the cold start of
  :mod:`~movierec.recommend.cold_start` (or the model's own rule,
  :class:`movierec.models.fold_in.FoldIn`, e.g. ``ease``'s). A new user is
  ``(user_vector, user_bias)``.
* :class:`BlendScorer` serves a blend as the weighted sum of its members' ratings, each
  member a ``FactorScorer``. A new user is folded into every member (a :class:`BlendUser`;
  the user's support feature counts the ratings given); similar movies use the mean of the
  members' cosine similarities.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from scipy.sparse import csr_matrix, issparse
from scipy.sparse import hstack as sparse_hstack

from movierec.recommend.cold_start import UserPrior, fold_in_embedding, fold_in_mlp
from movierec.recommend.scoring import BlendWeights, NumpyScorer, ScoringWeights
from movierec.support import support_of

__all__ = ["BlendScorer", "BlendUser", "FactorScorer", "scorer_for"]


class FactorScorer:
    """One model's scores, cold start and movie vectors.

    Args:
        weights: the model's weights.
        rated_users: indices of the users with training ratings (the cold-start prior is
            their average).
    """

    def __init__(self, weights: ScoringWeights, rated_users: np.ndarray) -> None:
        self.weights = weights
        self.rating_range = weights.rating_range
        self.n_users, self.n_movies = weights.user_vectors.shape[0], weights.n_movies
        self._forward = NumpyScorer(weights)
        self._rated_users = rated_users
        self._movie_unit: np.ndarray | csr_matrix | None = None

    @cached_property
    def _prior(self) -> UserPrior:
        """The cold start's prior, computed on first use: a model with its own new-user
        rule (``ease``) never needs it."""
        return UserPrior.of_users(self.weights, self._rated_users)

    @property
    def fold_in_method(self) -> str:
        """How a new user is fitted, in words (the CLI prints it)."""
        if self.weights.fold_in is not None:
            return self.weights.fold_in.method
        if self.weights.is_mlp:
            return "gradient descent on a new user vector through the frozen network"
        space = "" if self.weights.link == "linear" else " (in logit space)"
        return f"regularized least squares for a new user vector against the frozen movie " \
               f"vectors{space}"

    def rows(self, users: np.ndarray) -> np.ndarray:
        """``(len(users), n_movies)`` raw scores of every movie for user indices ``users``."""
        return self._forward.rows_of_users(users)

    def pairs(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """Raw scores of aligned (user index, movie index) pairs."""
        return self._forward.pairs_of_users(users, movies)

    def to_rating(self, raw: np.ndarray) -> np.ndarray:
        return self._forward.to_rating(raw)

    def fold_in(self, movies: np.ndarray, values: np.ndarray, *, reg: float, steps: int,
                learning_rate: float) -> tuple[np.ndarray, float]:
        """``(user_vector, user_bias)`` of a new user who gave ``values`` to ``movies``: the
        model's own rule where it has one (``weights.fold_in``), else the cold start."""
        if self.weights.fold_in is not None:
            return self.weights.fold_in(movies, values), 0.0
        if self.weights.is_mlp:
            vector = fold_in_mlp(self.weights, self._forward.movie_hidden(movies), values,
                                 self._prior, reg=reg, steps=steps,
                                 learning_rate=learning_rate)
            return vector, 0.0
        return fold_in_embedding(self.weights, movies, values, self._prior, reg=reg)

    def new_user_rows(self, user: tuple[np.ndarray, float]) -> np.ndarray:
        """``(n_movies,)`` raw scores of every movie for a folded-in user."""
        vector, bias = user
        return self._forward.raw_rows(vector[None, :], np.array([bias], np.float32))[0]

    def new_user_pairs(self, user: tuple[np.ndarray, float], movies: np.ndarray) -> np.ndarray:
        """Raw scores of movie indices ``movies`` for a folded-in user."""
        vector, bias = user
        return self._forward.raw_pairs(np.repeat(vector[None, :], len(movies), axis=0),
                                       np.full(len(movies), bias, np.float32), movies)

    def movie_unit(self) -> np.ndarray | csr_matrix:
        """The movie vectors (or the model's ``similarity_vectors``) scaled to unit length
        (computed once; sparse when the similarity vectors are, as ``ease``'s are)."""
        if self._movie_unit is None:
            vectors = self.weights.similarity_vectors
            if vectors is None:
                vectors = self.weights.movie_vectors
            if issparse(vectors):
                rows = csr_matrix(vectors, dtype=np.float32)
                norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).reshape(-1))
                scale = (1.0 / np.where(norms > 0, norms, 1.0)).astype(np.float32)
                self._movie_unit = csr_matrix(rows.multiply(scale[:, None]))
            else:
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                self._movie_unit = (vectors / np.where(norms > 0, norms, 1.0)).astype(
                    np.float32)
        return self._movie_unit

    def similarities(self, movie: int) -> np.ndarray:
        """``(n_movies,)`` cosine similarity of every movie to movie index ``movie``."""
        return _cosines(self.movie_unit(), movie)


class BlendUser(NamedTuple):
    """A new user folded into a blend."""

    members: tuple[tuple[np.ndarray, float], ...]
    """One ``(user_vector, user_bias)`` per member."""
    support: float
    """The user's support feature, ``log(1 + ratings given)``."""


class BlendScorer:
    """A blend's scores: its members' ratings combined by :meth:`BlendWeights.combine`.

    Its raw scores are already ratings (there is no single logit to rank by), so
    :meth:`to_rating` only clips.
    """

    def __init__(self, weights: BlendWeights, rated_users: np.ndarray) -> None:
        self.weights = weights
        self.rating_range = weights.rating_range
        self.members = [FactorScorer(member, rated_users) for member in weights.members]
        self.n_users, self.n_movies = self.members[0].n_users, self.members[0].n_movies
        self._movie_unit: np.ndarray | csr_matrix | None = None

    fold_in_method = "fitting a new user to each member's frozen movie vectors, then blending"

    # The support features f_u, f_i of user and movie indices (0.0 for a blend without them).
    def _user_support(self, users: Any) -> Any:
        table = self.weights.user_support
        return 0.0 if table is None else table[users]

    def _movie_support(self, movies: Any) -> Any:
        table = self.weights.movie_support
        return 0.0 if table is None else table[movies]

    def rows(self, users: np.ndarray) -> np.ndarray:
        return self.weights.combine((m.to_rating(m.rows(users)) for m in self.members),
                                    self._user_support(np.asarray(users)[:, None]),
                                    self._movie_support(slice(None)))

    def pairs(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        return self.weights.combine((m.to_rating(m.pairs(users, movies)) for m in self.members),
                                    self._user_support(users), self._movie_support(movies))

    def to_rating(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(raw, np.float32), *self.rating_range)

    def fold_in(self, movies: np.ndarray, values: np.ndarray, **options: Any) -> BlendUser:
        """The user folded into every member, with the support of ``len(values)`` ratings."""
        return BlendUser(tuple(m.fold_in(movies, values, **options) for m in self.members),
                         float(support_of(len(values))))

    def new_user_rows(self, user: BlendUser) -> np.ndarray:
        return self.weights.combine((m.to_rating(m.new_user_rows(u))
                                     for m, u in zip(self.members, user.members, strict=True)),
                                    user.support, self._movie_support(slice(None)))

    def new_user_pairs(self, user: BlendUser, movies: np.ndarray) -> np.ndarray:
        return self.weights.combine((m.to_rating(m.new_user_pairs(u, movies))
                                     for m, u in zip(self.members, user.members, strict=True)),
                                    user.support, self._movie_support(movies))

    def movie_unit(self) -> np.ndarray | csr_matrix:
        """The members' unit vectors side by side, over sqrt(members): the cosine of two
        rows is the mean of the members' cosines."""
        if self._movie_unit is None:
            units = [m.movie_unit() for m in self.members]
            stacked = (sparse_hstack(units, format="csr") if any(map(issparse, units))
                       else np.hstack(units))
            self._movie_unit = (stacked / math.sqrt(len(self.members))).astype(np.float32)
        return self._movie_unit

    def similarities(self, movie: int) -> np.ndarray:
        """``(n_movies,)`` mean cosine similarity of every movie to movie index ``movie``."""
        return _cosines(self.movie_unit(), movie)


def _cosines(unit: np.ndarray | csr_matrix, movie: int) -> np.ndarray:
    """Each unit row's dot product with row ``movie``, dense float32."""
    if issparse(unit):
        return np.asarray((unit @ unit[movie].T).toarray(), np.float32).reshape(-1)
    return np.asarray(unit @ unit[movie], np.float32)


def scorer_for(weights: ScoringWeights | BlendWeights, rated_users: np.ndarray
               ) -> FactorScorer | BlendScorer:
    """The scorer of ``weights`` (from :func:`~movierec.recommend.scoring.weights_of`)."""
    if isinstance(weights, BlendWeights):
        return BlendScorer(weights, rated_users)
    return FactorScorer(weights, rated_users)
