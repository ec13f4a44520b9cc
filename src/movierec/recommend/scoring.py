"""A model's forward pass in numpy: weights copied once, scores and ratings from them.

For every model the numpy maths reproduces ``model.predict`` (the tests check this to
1e-4):

``dot``
    ``rating = clip(u . m)``.
``dot-bias``, ``recommender-net``
    ``rating = min + (max - min) * sigmoid(u . m + b_u + b_m)`` (recommender-net's "unit"
    output mapped back to the rating range, as ``predict_ratings`` does).
``mlp``
    The first Dense kernel ``W`` (``2F x H``) is split into the rows that multiply the user
    vector and those that multiply the movie vector, ``W = [W_u; W_m]``, so
    ``h = relu(u W_u + m W_m + b)`` is computed from ``u W_u`` (per user) and ``m W_m``
    (per movie, once) without building the concatenated inputs; then
    ``rating = min + (max - min) * sigmoid(h . w + c)``.
``autorec``, ``u-autorec``
    The encoded side's codes computed once from the stored ratings
    (:meth:`~movierec.models.AutoRecModel.scoring_tables`), then
    ``rating = clip(u . m + b_u + b_m)``.
``svdpp``
    The same, with each user's implicit term added to their vector once
    (:meth:`~movierec.models.SVDppModel.scoring_tables`).
``blend``
    ``rating = intercept + sum_k w_k * rating_k`` over its members (:class:`BlendWeights`),
    each member one of the above, with weights that depend on the user's and the movie's
    support features when the blend has them (:mod:`movierec.models.blend`).

Every rating is clipped to the rating range, as :func:`movierec.models.predict_ratings` does.
Movies are *ranked* by the raw score, before the sigmoid and the clipping (the same order,
with no ties from saturation).

``recommender-net-as-published`` sums its dot product over the whole batch, so a single
(user, movie) pair has no score of its own: it is refused with a
:class:`~movierec.errors.MovierecError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from scipy.sparse import csr_matrix, issparse

from movierec.errors import MovierecError
from movierec.models import EmbeddingModel
from movierec.models.ease import as_csr, sparse_scores
from movierec.models.embedding import value_of
from movierec.models.fold_in import FoldIn

__all__ = ["BlendWeights", "Link", "NumpyScorer", "ScoringWeights", "weights_of"]

Link = Literal["linear", "sigmoid"]


@dataclass(frozen=True, eq=False)
class ScoringWeights:
    """A model's weights as float32 numpy arrays, and how they become a rating.

    Attributes:
        user_vectors, movie_vectors: ``(n_users, F)`` and ``(n_movies, F)`` factor tables;
            for ``ease`` scipy sparse matrices: ``W`` as CSR, and a pruned ``B^T``.
        rating_range: ``(min, max)``; ratings are clipped to it.
        link: ``"linear"`` (rating = score) or ``"sigmoid"``
            (rating = min + (max - min) * sigmoid(score)).
        user_bias, movie_bias: ``(n_users,)`` and ``(n_movies,)``, or None.
        hidden_kernel, hidden_bias: the mlp's first Dense layer, ``(2F, H)`` and ``(H,)``,
            user rows first (the model concatenates ``[user, movie]``); None otherwise.
        output_kernel, output_bias: the mlp's output layer, ``(H,)`` and a float.
        fold_in: the model's own new-user rule (:class:`movierec.models.fold_in.FoldIn`,
            e.g. ``ease``'s weighted history), or None to fit a user vector against the
            movie vectors (:mod:`movierec.recommend.cold_start`).
        similarity_vectors: ``(n_movies, D)`` vectors whose cosine ranks similar movies
            (``ease``: its input matrix's columns, a scipy CSR matrix), or None to use
            ``movie_vectors``.
    """

    user_vectors: np.ndarray
    movie_vectors: np.ndarray
    rating_range: tuple[float, float]
    link: Link = "sigmoid"
    user_bias: np.ndarray | None = None
    movie_bias: np.ndarray | None = None
    hidden_kernel: np.ndarray | None = None
    hidden_bias: np.ndarray | None = None
    output_kernel: np.ndarray | None = None
    output_bias: float = 0.0
    fold_in: FoldIn | None = None
    similarity_vectors: np.ndarray | csr_matrix | None = None

    @property
    def is_mlp(self) -> bool:
        return self.hidden_kernel is not None

    @property
    def factors(self) -> int:
        return int(self.movie_vectors.shape[1])

    @property
    def n_movies(self) -> int:
        return int(self.movie_vectors.shape[0])

    @property
    def sparse_movies(self) -> bool:
        """Whether ``movie_vectors`` is a scipy sparse matrix (a pruned ``ease``)."""
        return issparse(self.movie_vectors)

    def mlp_layers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(hidden_kernel, hidden_bias, output_kernel)`` of an mlp.

        Raises:
            ValueError: these are not an mlp's weights (``is_mlp`` is False).
        """
        if self.hidden_kernel is None or self.hidden_bias is None or self.output_kernel is None:
            raise ValueError("these scoring weights are not an mlp's (no hidden layer)")
        return self.hidden_kernel, self.hidden_bias, self.output_kernel

    @cached_property
    def movie_scale(self) -> float:
        """``mean |m|^2 / F``: the mean squared movie vector length per factor (computed once;
        the unit of the cold-start ridge penalty)."""
        vectors: Any = self.movie_vectors
        if issparse(vectors):  # in its own format: no converted copy of B
            squared_norms = np.asarray(vectors.multiply(vectors).sum(axis=1), np.float64)
        else:
            squared_norms = np.sum(np.asarray(vectors, np.float64) ** 2, axis=1)
        squared_norms = squared_norms.reshape(-1)
        return float(np.mean(squared_norms)) / self.factors

    def user_bias_of(self, users: np.ndarray) -> np.ndarray:
        """The biases of user indices ``users``; zeros for a model without user biases."""
        if self.user_bias is None:
            return np.zeros(len(users), np.float32)
        return self.user_bias[users]

    @classmethod
    def from_model(cls, model: EmbeddingModel) -> ScoringWeights:
        """Copy the weights of a movierec model.

        Raises:
            MovierecError: the model is ``recommender-net-as-published`` (batch-dependent,
                no per-pair score) or not one of movierec's embedding models.
        """
        _check_scorable(model, "factors")
        return cls(rating_range=_rating_range(model), **model.scoring_tables())


@dataclass(frozen=True, eq=False)
class BlendWeights:
    """A blend's members as :class:`ScoringWeights`, and how their ratings combine.

    ``rating = intercept + a_u f_u + a_i f_i + sum_k (w_k + w_k^u f_u + w_k^i f_i) rating_k``,
    clipped to the range (:mod:`movierec.models.blend`); without support features
    (``support_weights`` None) ``rating = intercept + sum_k w_k rating_k``.

    Attributes:
        members: one :class:`ScoringWeights` per member.
        blend_weights: ``w_k``.
        intercept: the constant term.
        rating_range: ``(min, max)``.
        support_weights: ``(K, 2)`` ``[w_k^u, w_k^i]``, or None.
        support_bias: ``(a_u, a_i)``.
        user_support, movie_support: ``f_u`` per user, ``f_i`` per movie, or None.
    """

    members: tuple[ScoringWeights, ...]
    blend_weights: tuple[float, ...]
    intercept: float
    rating_range: tuple[float, float]
    support_weights: np.ndarray | None = None
    support_bias: tuple[float, float] = (0.0, 0.0)
    user_support: np.ndarray | None = None
    movie_support: np.ndarray | None = None

    @classmethod
    def from_model(cls, model: EmbeddingModel) -> BlendWeights:
        """Copy the weights of a :class:`~movierec.models.BlendModel` and its members."""
        support: dict[str, Any] = {}
        if model.support_weights is not None:
            support = {"support_weights": np.asarray(model.support_weights, np.float64),
                       "support_bias": tuple(float(b) for b in model.support_bias),
                       "user_support": value_of(model.user_support),
                       "movie_support": value_of(model.movie_support)}
        _check_scorable(model, "blend")
        return cls(members=tuple(ScoringWeights.from_model(m) for m in model.members),
                   blend_weights=tuple(float(w) for w in model.blend_weights),
                   intercept=float(model.intercept), rating_range=_rating_range(model),
                   **support)

    def combine(self, ratings: Iterable[np.ndarray], user_support: Any = 0.0,
                movie_support: Any = 0.0) -> np.ndarray:
        """The blended (unclipped) ratings from the members' ``ratings``.

        ``user_support`` and ``movie_support`` are the rows' ``f_u`` and ``f_i``, arrays that
        broadcast against the ratings (or floats); ignored without support features.
        """
        if self.support_weights is None:
            total = sum(w * r for w, r in zip(self.blend_weights, ratings, strict=True))
            return np.asarray(total + self.intercept, dtype=np.float32)
        f_u, f_i = user_support, movie_support
        a_u, a_i = self.support_bias
        total = self.intercept + a_u * f_u + a_i * f_i
        for w, (w_u, w_i), r in zip(self.blend_weights, self.support_weights, ratings,
                                    strict=True):
            total = total + (w + w_u * f_u + w_i * f_i) * r
        return np.asarray(total, np.float32)


def weights_of(model: EmbeddingModel) -> ScoringWeights | BlendWeights:
    """A movierec model's weights for numpy scoring, as its registration says
    (:attr:`movierec.models.ModelSpec.scoring`): :class:`BlendWeights` for a blend,
    :class:`ScoringWeights` for a model scored from its factor tables.

    Raises:
        MovierecError: the model cannot be scored from its weights (see
            :func:`_check_scorable`).
    """
    if _check_scorable(model) == "blend":
        return BlendWeights.from_model(model)
    return ScoringWeights.from_model(model)


def _check_scorable(model: Any, expected: str | None = None) -> str:
    """The model's registered scoring kind, or a clear error when it has none."""
    if not isinstance(model, EmbeddingModel):
        raise MovierecError(
            f"cannot score a {type(model).__name__}; recommendations need one of "
            "movierec's models"
        )
    spec = model.spec
    if spec.batch_dependent:
        raise MovierecError(
            f"{spec.name} cannot recommend: its published dot product sums over the whole "
            "batch, so a (user, movie) pair has no score of its own. It exists only to "
            "show that bug in the comparison; recommend with recommender-net (the "
            "corrected model) or dot-bias instead"
        )
    if spec.scoring == "none" or (expected is not None and spec.scoring != expected):
        raise MovierecError(f"no numpy scoring of kind {expected or spec.scoring!r} is "
                            f"defined for model {spec.name!r}")
    return spec.scoring


def _rating_range(model: EmbeddingModel) -> tuple[float, float]:
    low, high = model.rating_range
    return float(low), float(high)


class NumpyScorer:
    """The forward pass of :class:`ScoringWeights`, with the per-movie part computed once.

    *Raw* scores are the values before the link (the logits of the sigmoid models);
    :meth:`to_rating` turns them into ratings.
    """

    def __init__(self, weights: ScoringWeights) -> None:
        self.weights = weights
        self.low, self.high = weights.rating_range
        factors = weights.factors
        if weights.is_mlp:
            hidden_kernel, _, _ = weights.mlp_layers()
            self.user_kernel = hidden_kernel[:factors]                   # W_u (F, H)
            movie_part = weights.movie_vectors @ hidden_kernel[factors:]  # m W_m
            self.movie_hidden_t = np.ascontiguousarray(movie_part.T, dtype=np.float32)
        elif weights.sparse_movies:  # B itself (rows: the user's columns), kept sparse
            # A pruned ease's B^T is a CSC view of B as CSR: transposing it shares the
            # arrays, so the scorer holds no second copy of B's entries.
            self.movie_t = csr_matrix(weights.movie_vectors.T, dtype=np.float32, copy=False)
            self.movie_bias = _bias_or_zeros(weights.movie_bias, weights.n_movies)
        else:
            self.movie_aug_t = _augmented_movies(weights)

    def movie_hidden(self, movies: np.ndarray) -> np.ndarray:
        """``m W_m`` of the mlp for movie indices ``movies``, ``(len(movies), H)``."""
        return self.movie_hidden_t[:, movies].T

    # -- raw scores ---------------------------------------------------------------------

    def pairs_of_users(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """Raw score of each aligned (user index, movie index) pair."""
        w = self.weights
        return self.raw_pairs(w.user_vectors[users], w.user_bias_of(users), movies)

    def rows_of_users(self, users: np.ndarray) -> np.ndarray:
        """``(len(users), n_movies)`` raw scores of every movie for user indices ``users``."""
        w = self.weights
        return self.raw_rows(w.user_vectors[users], w.user_bias_of(users))

    def raw_pairs(self, user_vectors: np.ndarray, user_bias: np.ndarray,
                  movies: np.ndarray) -> np.ndarray:
        """Raw score of each aligned (user vector and bias, movie index) pair."""
        w = self.weights
        if w.is_mlp:
            hidden = np.maximum(
                user_vectors @ self.user_kernel + w.hidden_bias + self.movie_hidden(movies), 0.0)
            return hidden @ w.output_kernel + np.float32(w.output_bias)
        if w.sparse_movies or issparse(user_vectors):  # ease: W's rows, B's columns
            movie_rows: Any = w.movie_vectors[np.asarray(movies)]
            users: Any = user_vectors
            picked = (movie_rows.multiply(users) if issparse(movie_rows)
                      else users.multiply(movie_rows))
            raw = np.asarray(picked.sum(axis=1), np.float32).reshape(-1)
        else:
            raw = np.einsum("ij,ij->i", user_vectors, w.movie_vectors[movies])
        if w.movie_bias is not None:
            raw = raw + user_bias + w.movie_bias[movies]
        return raw.astype(np.float32, copy=False)

    def raw_rows(self, user_vectors: np.ndarray, user_bias: np.ndarray) -> np.ndarray:
        """``(n, n_movies)`` raw scores of every movie for ``n`` user vectors and biases.

        User rows that are mostly zeros (``ease``'s ``W``: a user's rated movies out of the
        whole catalogue) are multiplied as a sparse matrix, several times faster than the
        dense product (``benchmarks/results/ranking.md`` has the all-users time).
        """
        if self.weights.is_mlp:
            return self._mlp_rows(user_vectors)
        if self.weights.sparse_movies:
            return self._sparse_movie_rows(user_vectors, user_bias)
        if _mostly_zeros(user_vectors):
            return self._sparse_rows(user_vectors, user_bias)
        aug = np.empty((len(user_vectors), self.weights.factors + 2), dtype=np.float32)
        aug[:, :-2] = user_vectors
        aug[:, -2] = user_bias
        aug[:, -1] = 1.0
        return aug @ self.movie_aug_t

    def _sparse_rows(self, user_vectors: np.ndarray, user_bias: np.ndarray) -> np.ndarray:
        """:meth:`raw_rows` with ``user_vectors`` as a sparse matrix (same values)."""
        factors = self.weights.factors
        out = np.asarray(as_csr(user_vectors) @ self.movie_aug_t[:factors], dtype=np.float32)
        out += np.asarray(user_bias, np.float32).reshape(-1, 1) * self.movie_aug_t[factors]
        out += self.movie_aug_t[factors + 1]
        return out

    def _sparse_movie_rows(self, user_vectors: np.ndarray, user_bias: np.ndarray
                           ) -> np.ndarray:
        """:meth:`raw_rows` of sparse movie vectors: the user rows (sparse too) times
        ``B``, then the biases."""
        out = sparse_scores(user_vectors, self.movie_t)
        out += np.asarray(user_bias, np.float32).reshape(-1, 1)
        out += self.movie_bias[None, :]
        return out

    def _mlp_rows(self, user_vectors: np.ndarray) -> np.ndarray:
        """``sum_h w_h relu(u W_u + m W_m + b)_h + c``, one hidden unit at a time, so that
        no ``(n, n_movies, H)`` array is ever built."""
        w = self.weights
        user_hidden = user_vectors @ self.user_kernel + w.hidden_bias   # (n, H)
        n_movies = self.movie_hidden_t.shape[1]
        out = np.full((len(user_vectors), n_movies), np.float32(w.output_bias),
                      dtype=np.float32)
        unit = np.empty_like(out)
        _, _, output_kernel = w.mlp_layers()
        for h, weight in enumerate(output_kernel):
            np.add(self.movie_hidden_t[h][None, :], user_hidden[:, h:h + 1], out=unit)
            np.maximum(unit, 0.0, out=unit)
            unit *= weight
            out += unit
        return out

    # -- link ---------------------------------------------------------------------------

    def to_rating(self, raw: np.ndarray) -> np.ndarray:
        """Ratings of raw scores: the link, then clipping to the rating range."""
        raw = np.asarray(raw, dtype=np.float32)
        if self.weights.link == "sigmoid":
            unit = 0.5 + 0.5 * np.tanh(0.5 * raw)   # sigmoid without overflow warnings
            raw = self.low + (self.high - self.low) * unit
        return np.clip(raw, self.low, self.high).astype(np.float32, copy=False)


SPARSE_MIN_FACTORS = 1024
"""User vectors this long or longer are checked for sparsity (factor models' never are)."""
SPARSE_DENSITY = 0.1


def _mostly_zeros(user_vectors: np.ndarray) -> bool:
    """Whether long user rows (``ease``'s ``W``) have under ``SPARSE_DENSITY`` non-zeros."""
    if issparse(user_vectors):
        return True
    if user_vectors.ndim != 2 or user_vectors.shape[1] < SPARSE_MIN_FACTORS:
        return False
    return bool(np.count_nonzero(user_vectors) < SPARSE_DENSITY * user_vectors.size)


def _augmented_movies(w: ScoringWeights) -> np.ndarray:
    """``[m, 1, b_m]`` per movie, transposed to ``(F + 2, n_movies)``.

    With users as ``[u, b_u, 1]``, ``u . m + b_u + b_m`` is one matrix product.
    """
    n_movies = len(w.movie_vectors)
    movie_bias = _bias_or_zeros(w.movie_bias, n_movies)
    aug = np.empty((n_movies, w.factors + 2), dtype=np.float32)
    aug[:, :-2] = w.movie_vectors
    aug[:, -2] = 1.0
    aug[:, -1] = movie_bias
    return np.ascontiguousarray(aug.T)


def _bias_or_zeros(bias: np.ndarray | None, n: int) -> np.ndarray:
    return np.asarray(bias, np.float32) if bias is not None else np.zeros(n, np.float32)
