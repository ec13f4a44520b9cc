"""``ials``: implicit ALS (Hu, Koren, Volinsky, ICDM 2008; Rendle et al., "Revisiting the
Performance of iALS on Item Recommendation Benchmarks", RecSys 2022), rating-weighted.

A ranking model: ``score(u, i) = x_u . y_i`` orders movies and is no rating. Every
``(user, movie)`` cell has a preference ``p`` and a confidence ``c``::

    p_ui = 1,               c_ui = 1 + alpha                    if u rated i >= positive
    p_ui = negative_weight, c_ui = 1 + alpha * negative_weight  if u rated i below it
    p_ui = 0,               c_ui = 1                            if u did not rate i

so a movie rated 1 is a weaker, lower sign of taste than a 5 (``negative_weight`` 0 makes it
count as unrated), and the factors minimise
``sum_ui c_ui (p_ui - x_u . y_i)^2 + reg (|x|^2 + |y|^2)`` by alternating exact
least-squares solves: with the movie factors fixed each user's is

    (Y^T Y + Y_u^T (C_u - I) Y_u + reg I) x_u = Y_u^T C_u p_u

and the same for the movies with the users' fixed. ``Y^T Y`` (``factors x factors``) is
computed once per sweep (the Gramian trick), so a solve costs the user's own ratings, not the
catalogue: there is no ``n_movies x n_movies`` matrix and the model scales where ``ease``
cannot. Each row's system is built with one BLAS product over its own ratings, and the
systems are solved in batches with numpy.

:meth:`ImplicitALSModel.fit_closed_form` (the ``als`` trainer) runs ``iterations`` sweeps
from a seeded random start (the same seed gives the same factors) and stores the factors in
the two embedding tables, so a reloaded ``.keras`` file scores alone, and the numpy
recommender scores it like ``dot`` (``scoring_tables()``). :meth:`ImplicitALSModel.fold_in`
solves a new user's vector from their ratings with the movie factors fixed, the same solve.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from keras import ops

from movierec.models.embedding import EmbeddingModel, value_of
from movierec.models.fold_in import FoldIn
from movierec.models.registry import register_model

__all__ = ["ImplicitALSModel", "als_solve", "implicit_targets"]

_BATCH = 1024
"""Rows whose ``factors x factors`` systems are solved together."""


def implicit_targets(ratings: np.ndarray, alpha: float, negative_weight: float,
                     positive: float) -> tuple[np.ndarray, np.ndarray]:
    """``(c - 1, c * p)`` of each rating (float64): the terms the solves need."""
    ratings = np.asarray(ratings, dtype=np.float64).reshape(-1)
    preference = np.where(ratings >= positive, 1.0, float(negative_weight))
    extra = alpha * preference
    return extra, (1.0 + extra) * preference


def als_solve(fixed: np.ndarray, indptr: np.ndarray, columns: np.ndarray,
              extra: np.ndarray, weighted: np.ndarray, reg: float) -> np.ndarray:
    """One side's exact least-squares solves, the other side (``fixed``) held.

    Row ``r``'s ratings are ``columns[indptr[r]:indptr[r + 1]]`` (indices into ``fixed``),
    with confidence-minus-one ``extra`` and ``c * p`` ``weighted`` (CSR layout). Returns the
    ``(rows, factors)`` float64 solutions of
    ``(F^T F + F_r^T diag(extra_r) F_r + reg I) x_r = F_r^T weighted_r``.

    Each row's correction ``F_r^T diag(extra_r) F_r`` is one BLAS product over its own
    ratings (measured faster than padded batched products, whose small matrices numpy does
    not hand to BLAS); the systems are then solved in batches of ``_BATCH``.
    """
    fixed = np.asarray(fixed, dtype=np.float64)
    k = fixed.shape[1]
    base = fixed.T @ fixed + reg * np.eye(k)
    n_rows = len(indptr) - 1
    solution = np.zeros((n_rows, k))
    rated = np.flatnonzero(np.diff(indptr))  # rows without ratings keep the solution 0
    for start in range(0, len(rated), _BATCH):
        rows = rated[start:start + _BATCH]
        systems = np.empty((len(rows), k, k))
        rhs = np.empty((len(rows), k))
        for slot, row in enumerate(rows):
            span = slice(indptr[row], indptr[row + 1])
            gathered = fixed[columns[span]]
            systems[slot] = (gathered.T * extra[span]) @ gathered
            systems[slot] += base
            rhs[slot] = gathered.T @ weighted[span]
        solution[rows] = np.linalg.solve(systems, rhs[..., None])[..., 0]
    return solution


def solve_new_user(movies: np.ndarray, ratings: np.ndarray, *, movie_factors: np.ndarray,
                   alpha: float, negative_weight: float, positive: float,
                   reg: float) -> np.ndarray:
    """A new user's float32 factors from their ratings of movie indices ``movies``: the
    training's user solve against fixed ``movie_factors``."""
    movies = np.asarray(movies, dtype=np.int64).reshape(-1)
    extra, weighted = implicit_targets(ratings, alpha, negative_weight, positive)
    indptr = np.array([0, len(movies)])
    return als_solve(movie_factors, indptr, movies, extra, weighted, reg)[0].astype(np.float32)


def _csr(rows: np.ndarray, columns: np.ndarray, n_rows: int, *values: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Entries grouped by row: ``(indptr, columns, values)`` sorted by row (stable)."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, columns[order], [np.asarray(v)[order] for v in values]


@register_model(
    "ials",
    trainer="als",
    group="ranking",
    description="iALS: implicit alternating least squares on liked (and, weighted, "
                "disliked) movies; ranks, predicts no rating; scales past ease",
)
class ImplicitALSModel(EmbeddingModel):
    """Rating-weighted implicit ALS (see the module docstring).

    Args:
        n_users, n_movies, factors, rating_range, seed: as :class:`EmbeddingModel`.
        l2: accepted (and saved) so that every model builds alike; the penalty is ``reg``.
        reg: the L2 penalty of every least-squares solve (50 with ``alpha`` 8:
            latest-small's validation choice, ``benchmarks/results/tuning-notes.md``).
        alpha: the confidence scale: a liked movie weighs ``1 + alpha``, an unrated one 1.
        negative_weight: preference (and confidence share) of a movie rated below
            ``positive``.
        positive: the rating from which a movie counts as liked.
        iterations: alternating sweeps (movies, then users) of :meth:`fit_closed_form`.

    Attributes:
        user_embedding, movie_embedding: the factors ``X`` and ``Y``, set by the solves.
    """

    link = "linear"

    def __init__(self, n_users: int, n_movies: int, factors: int = 64, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, reg: float = 50.0, alpha: float = 8.0,
                 negative_weight: float = 0.3, positive: float = 4.0,
                 iterations: int = 10, **kwargs: Any) -> None:
        if reg <= 0:
            raise ValueError(f"reg must be positive, got {reg!r}")
        if alpha < 0:
            raise ValueError(f"alpha must not be negative, got {alpha!r}")
        if negative_weight < 0:
            raise ValueError(f"negative_weight must not be negative, got {negative_weight!r}")
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
        super().__init__(n_users, n_movies, factors, l2, rating_range, seed, **kwargs)
        self.reg = float(reg)
        self.alpha = float(alpha)
        self.negative_weight = float(negative_weight)
        self.positive = float(positive)
        self.iterations = int(iterations)

    def score(self, user_vector, movie_vector, users, movies, training: bool):
        return ops.sum(ops.multiply(user_vector, movie_vector), axis=-1, keepdims=True)

    # -- alternating least squares ------------------------------------------------------------

    def fit_closed_form(self, pairs: np.ndarray, ratings: np.ndarray,
                        callback: Any = None) -> None:
        """Solve the factors on the training pairs (replaces any earlier fit).

        Args:
            pairs: int ``(n, 2)`` ``[user_index, movie_index]``.
            ratings: their ratings (rating units).
            callback: called as ``callback(sweep)`` after each sweep (1-based), with the
                factors of that sweep already in the tables.
        """
        pairs = np.asarray(pairs)
        users, movies = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
        extra, weighted = implicit_targets(ratings, self.alpha, self.negative_weight,
                                           self.positive)
        by_user = _csr(users, movies, self.n_users, extra, weighted)
        by_movie = _csr(movies, users, self.n_movies, extra, weighted)
        rng = np.random.default_rng(self.seed)
        scale = 0.1 / np.sqrt(self.factors)
        user_factors = rng.normal(0.0, scale, (self.n_users, self.factors))
        if not self.built:
            self.build((None, 2))
        for sweep in range(1, self.iterations + 1):
            # Movies first, users last: the stored user factors are each user's solve
            # against the final movie factors, exactly what fold_in computes.
            indptr, columns, (e, w) = by_movie
            movie_factors = als_solve(user_factors, indptr, columns, e, w, self.reg)
            indptr, columns, (e, w) = by_user
            user_factors = als_solve(movie_factors, indptr, columns, e, w, self.reg)
            if callback is not None:
                self._store(user_factors, movie_factors)
                callback(sweep)
        self._store(user_factors, movie_factors)

    def _store(self, user_factors: np.ndarray, movie_factors: np.ndarray) -> None:
        self.user_embedding.embeddings.assign(user_factors.astype(np.float32))
        self.movie_embedding.embeddings.assign(movie_factors.astype(np.float32))

    def scoring_tables(self) -> dict[str, Any]:
        """The factor tables (scored like ``dot``), and the new-user solve as ``fold_in``."""
        tables = super().scoring_tables()
        return {**tables, "fold_in": FoldIn(
            method="an iALS solve for their factors against the frozen movie factors",
            rule=partial(solve_new_user, movie_factors=tables["movie_vectors"],
                         alpha=self.alpha, negative_weight=self.negative_weight,
                         positive=self.positive, reg=self.reg))}

    def fold_in(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """A new user's factor vector (float32 ``(factors,)``) from their ratings of movie
        indices ``movies``, the movie factors fixed: the training's user solve."""
        return solve_new_user(movies, ratings,
                              movie_factors=value_of(self.movie_embedding.embeddings),
                              alpha=self.alpha, negative_weight=self.negative_weight,
                              positive=self.positive, reg=self.reg)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reg": self.reg, "alpha": self.alpha,
                       "negative_weight": self.negative_weight, "positive": self.positive,
                       "iterations": self.iterations})
        return config
