"""``ease``: EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019), rating-weighted.

A ranking model: it scores how likely a user is to like a movie, not the rating they would
give. Each user is a row of the input matrix ``W`` (``n_users x n_movies``)::

    W[u, i] = 1              if u rated i >= positive (4.0 by default)
            = negative_weight if u rated i below it (0.3 by default), 0 if unrated

and the item-item weights are EASE's closed form on it::

    P = (W^T W + lam I)^-1,  B = I - P / diag(P) (column-wise),  diag(B) = 0

optionally plus a low-pass term (``lowpass_weight`` above 0), GF-CF's "ideal low-pass
filter" (Shen et al., "How Powerful is Graph Convolution for Recommendation?", CIKM 2021)::

    B += lowpass_weight * s * D^-1/2 V_k V_k^T D^1/2

where ``V_k`` holds the top ``lowpass_factors`` right singular vectors of the normalized
matrix ``D_users^-1/2 W D^-1/2`` (``D``: how many users rated each movie, ``D_users``: how
many movies each user rated) and ``s = ||W B|| / ||W L||`` puts the two terms on one scale.
The term smooths each user's scores along the catalogue's main directions of taste; it
helps on ML-100K, where u1's test users lost about 40 % of their ratings, and not on
latest-small. Each column ``i`` is then scaled by ``(pop_i + 1) ** -popularity_exponent``
(``pop_i``: the movie's training ratings), which lowers the most popular movies a little.
``score(u, i) = W[u] . B[:, i]``. The weighting ranks better than plain binary EASE
(``benchmarks/results/tuning-notes.md`` has the figures).

With ``side_weight`` above 0, the movies' features (:mod:`movierec.data.features`: genres,
five-year release periods, tags), times ``side_weight``, join ``W``'s rows in the solve as
extra "users" (collective EASE, Jeunen et al. 2020): movies that share them become a little
more alike. They change ``B`` only; ``W`` keeps the real users, so scoring is unchanged.

With ``user_weight`` above 0, the users' demographics (:func:`movierec.data.features.
user_features`: age band, gender, occupation; ML-100K has them), times ``user_weight``,
join ``W`` as ``n_user_features`` extra columns, as if they were movies every such user
had rated: ``B`` gains their rows (how much "a 25-34 year-old writer" says about each
movie) and scoring uses them, ``score(u, i) = [W[u], g F[u]] . B[:, i]``. It helps on
ML-100K u1, whose test users lost about 40 % of their ratings. A folded-in new user has no
demographics on record, so their feature columns are 0.

``W`` and ``B`` are non-trainable weights set by :meth:`EASEModel.fit_closed_form` (the
``closed-form`` trainer) and saved with the model, so a reloaded ``.keras`` file predicts
alone. ``B`` is solved dense, so the model refuses catalogues beyond ``MAX_ITEMS`` movies.
With ``weights_per_column`` ``k`` above 0 (and below ``B``'s height) only the ``k`` weights
of largest magnitude in each column are kept (Steck's own practice: most of ``B``'s entries
are near 0), stored as a ``(k, n_movies)`` table of values and one of their row indices, and
scored as a sparse matrix (:func:`sparse_item_weights`). The values (and ``W``) are kept
as float16, the rows as int16: on latest-small ``k = 768`` keeps 7.9 % of ``B`` and the
``--preset rank`` model shrinks from 402 MB to 42 MB (``benchmarks/ease_prune.py`` chose
``k`` on validation splits; ``benchmarks/results/tuning-notes.md`` has the figures and
the test cost). A pruned fit solves ``B`` a block of columns at a time
(:func:`ease_blocks`) and prunes each block, so no dense ``B`` is ever held. Runs saved
with a dense ``B`` (``weights_per_column`` 0, and every run of earlier releases) load and
score as before.

A new user is folded in with no fitting: their row of ``W`` is built from their ratings as
training builds it (:func:`movierec.models.fold_in.weighted_history`) and scored against
``B``, so ``score(new, i) = w_new . B[:, i]``. Similar movies are those whose columns of
``W`` (who rated the movie, weighted as above) are closest in cosine, item-kNN's
similarity: on latest-small it gives Toy Story 2 first for Toy Story, where cosine over
``B``'s columns or rows put The Nutty Professor first (and, on the tests' two taste
clusters, mixed the clusters).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
from keras import ops
from scipy.sparse import csc_matrix, csr_matrix, issparse
from scipy.sparse import vstack as sparse_vstack

from movierec.errors import MovierecError
from movierec.models.embedding import EmbeddingModel, value_of
from movierec.models.fold_in import FoldIn, liked_weights, weighted_history
from movierec.models.registry import register_model

__all__ = [
    "MAX_ITEMS",
    "EASEModel",
    "as_csr",
    "ease_blocks",
    "ease_weights",
    "lowpass_factors_of",
    "lowpass_weights",
    "prune_columns",
    "sparse_item_weights",
    "sparse_scores",
]

MAX_ITEMS = 30_000
"""Largest catalogue: ``B`` is ``n_movies^2`` float32 (3.6 GB at 30,000 movies)."""


_SCALE_USERS = 1024
"""Users (evenly spaced rows of ``W``) on which the low-pass term's scale is measured."""


def ease_weights(
    inputs: np.ndarray, lam: float, popularity: np.ndarray | None = None,
    popularity_exponent: float = 0.0, *, lowpass_weight: float = 0.0, lowpass_factors: int = 32,
    side_rows: np.ndarray | None = None,
) -> np.ndarray:
    """EASE's item-item matrix ``B`` (``n_movies x n_movies``, float32) of input matrix ``W``,
    with the low-pass term when ``lowpass_weight`` is above 0 (see the module docstring).
    ``side_rows`` (``(n, n_movies)``, already weighted) join ``W``'s rows in EASE's solve
    only, not in the low-pass term or its scale. Assembled from :func:`ease_blocks`.
    """
    out = np.empty((np.shape(inputs)[1],) * 2, np.float32)
    for columns, block in ease_blocks(inputs, lam, popularity, popularity_exponent,
                                      lowpass_weight=lowpass_weight,
                                      lowpass_factors=lowpass_factors, side_rows=side_rows):
        out[:, columns] = block
    return out


def ease_blocks(
    inputs: np.ndarray, lam: float, popularity: np.ndarray | None = None,
    popularity_exponent: float = 0.0, *, lowpass_weight: float = 0.0, lowpass_factors: int = 32,
    side_rows: np.ndarray | None = None, columns: int | None = None, block: int = 512,
) -> Iterator[tuple[slice, np.ndarray]]:
    """:func:`ease_weights`' ``B``, ``block`` columns at a time: ``(columns, B[:, columns])``
    in float64, for the first ``columns`` columns (default: all).

    Computed in float64; when there are fewer users than movies through the Woodbury
    identity, ``P = (I - S^T (S S^T + lam I)^-1 S) / lam`` (``S``: ``W`` with the side
    rows), which inverts a users-sized matrix instead of a movies-sized one and builds
    ``P`` a block of columns at a time, so no movies x movies matrix is ever held (a pruned
    ``B`` of 9,724 movies is solved in ~40 MB of blocks instead of 750 MB). The low-pass
    term's scale needs ``W B`` on a sample of users, which the identity gives without ``B``.
    """
    if lam <= 0:
        raise MovierecError(f"EASE needs a positive lam (its L2 penalty), got {lam!r}")
    if lowpass_weight < 0:
        raise MovierecError(f"lowpass_weight must not be negative, got {lowpass_weight!r}")
    w = np.asarray(inputs, dtype=np.float64)
    n_users, n_movies = w.shape
    has_side = side_rows is not None and len(side_rows) > 0
    n_rows = n_users + (len(side_rows) if side_rows is not None and has_side else 0)
    if n_rows < n_movies:
        # S is mostly zeros (each user rated a few movies): kept sparse, so S^T (inner S)
        # costs S's non-zeros times the movies, not users x movies^2.
        solved = csr_matrix(w) if not has_side \
            else sparse_vstack([csr_matrix(w), csr_matrix(np.asarray(side_rows, np.float64))],
                               format="csr")
        by_column, transposed = solved.tocsc(), solved.T.tocsr()
        inner = np.linalg.inv((solved @ solved.T).toarray() + lam * np.eye(n_rows))

        def inner_times(columns: Any) -> np.ndarray:  # inner @ S[:, columns], dense
            return np.asarray((columns.T @ inner.T).T)

        def p_columns(part: slice) -> np.ndarray:
            out = np.asarray(transposed @ inner_times(by_column[:, part]))
            np.negative(out, out=out)
            out[np.arange(part.start, part.stop), np.arange(out.shape[1])] += 1.0
            out /= lam
            return out

        def times_p(rows: np.ndarray) -> np.ndarray:  # rows @ P, through the identity
            through = np.asarray((solved @ rows.T).T) @ inner
            return (rows - np.asarray((transposed @ through.T).T)) / lam

        def p_diagonal() -> np.ndarray:
            products = np.asarray(solved.multiply(inner_times(by_column)).sum(axis=0))
            return (1.0 - products.reshape(-1)) / lam
    else:
        solved = w if not has_side else np.vstack([w, np.asarray(side_rows, np.float64)])
        full = np.asarray(np.linalg.inv(solved.T @ solved + lam * np.eye(n_movies)), np.float64)
        del solved

        def p_columns(part: slice) -> np.ndarray:
            return full[:, part].copy()

        def times_p(rows: np.ndarray) -> np.ndarray:
            return rows @ full

        def p_diagonal() -> np.ndarray:
            return np.diag(full).copy()
    low_scale, low = 0.0, None
    if lowpass_weight:
        left, right = lowpass_factors_of(w, lowpass_factors)
        # Both terms' scores on a sample of users: the weight is relative to ease's scale.
        # B = I - P / diag(P) (its diagonal then 0), so rows @ B = rows - (rows @ P) / diag.
        rows = w[np.unique(np.linspace(0, n_users - 1, min(n_users, _SCALE_USERS)).astype(int))]
        low_norm = float(np.linalg.norm((rows @ left) @ right))
        if low_norm > 0:
            ease_norm = float(np.linalg.norm(rows - times_p(rows) / p_diagonal()[None, :]))
            low_scale, low = lowpass_weight * ease_norm / low_norm, (left, right)
    scale = None
    if popularity is not None and popularity_exponent:
        scale = (np.asarray(popularity, np.float64) + 1.0) ** -popularity_exponent
    end = n_movies if columns is None else int(columns)
    for start in range(0, end, block):
        part = slice(start, min(start + block, end))
        b = p_columns(part)
        own = (np.arange(part.start, part.stop), np.arange(b.shape[1]))
        b /= -b[own][None, :]
        b[own] = 0.0
        if low is not None:
            b += low_scale * (low[0] @ low[1][:, part])
        if scale is not None:
            b *= scale[None, part]
        yield part, b


def lowpass_factors_of(inputs: np.ndarray, factors: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lowpass_weights` as its two factors ``(D^-1/2 V_k, V_k^T D^1/2)`` (float64)."""
    if factors < 1:
        raise MovierecError(f"lowpass_factors must be at least 1, got {factors!r}")
    w = np.asarray(inputs, dtype=np.float64)
    user_degree = np.maximum(np.count_nonzero(w, axis=1), 1).astype(np.float64)
    movie_degree = np.maximum(np.count_nonzero(w, axis=0), 1).astype(np.float64)
    normalized = w / np.sqrt(user_degree)[:, None] / np.sqrt(movie_degree)[None, :]
    if normalized.shape[0] < normalized.shape[1]:
        values, vectors = np.linalg.eigh(normalized @ normalized.T)
        keep = _top(values, factors)
        v = (normalized.T @ vectors[:, keep]) / np.sqrt(values[keep])[None, :]
    else:
        values, vectors = np.linalg.eigh(normalized.T @ normalized)
        v = vectors[:, _top(values, factors)]
    root = np.sqrt(movie_degree)
    return v / root[:, None], v.T * root[None, :]


def prune_columns(weights: np.ndarray, k: int, block: int = 1024
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` entries of largest magnitude in each column of ``weights`` (``(rows, n)``):
    ``(values, rows)``, both ``(k, n)``, each column's row indices ascending (values
    float32, rows int32; a pruned model stores them as float16 and int16). Columns are
    handled ``block`` at a time, so no index array of the whole matrix is built."""
    weights = np.asarray(weights)
    height, width = weights.shape
    if not 0 < k <= height:
        raise MovierecError(f"k must be in [1, {height}], got {k!r}")
    values = np.empty((k, width), np.float32)
    rows = np.empty((k, width), np.int32)
    for start in range(0, width, block):
        part = weights[:, start:start + block]
        # one contiguous row per column: argpartition along the last axis is several times
        # faster than along a strided first one
        size = np.ascontiguousarray(np.abs(part).T, dtype=np.float32)
        top = np.argpartition(size, height - k, axis=1)[:, height - k:]
        top.sort(axis=1)
        rows[:, start:start + block] = top.T
        values[:, start:start + block] = np.take_along_axis(part, top.T, axis=0)
    return values, rows


def sparse_item_weights(values: np.ndarray, rows: np.ndarray, height: int) -> csc_matrix:
    """``B^T`` (``(n_movies, height)``) of a pruned ``B``'s ``(k, n_movies)`` values and row
    indices (:func:`prune_columns`): movie ``i``'s row holds column ``i`` of ``B``.

    One copy of the kept entries, held row-major by ``B``'s rows (``B`` as CSR, returned
    transposed: a CSC view of the same arrays), which is what scoring reads: a user's row
    of ``W`` times ``B`` touches only the rows of the movies they rated
    (``result.T`` is that CSR ``B``, no copy). No dense ``B`` is built."""
    k, n_movies = values.shape
    by_column = csc_matrix((np.ascontiguousarray(values.T, np.float32).reshape(-1),
                            np.ascontiguousarray(rows.T, np.int32).reshape(-1),
                            np.arange(0, k * n_movies + 1, k, dtype=np.int64)),
                           shape=(height, n_movies))  # B, as the tables hold it
    by_row = by_column.tocsr()  # the one copy kept; by_column is freed on return
    by_row.sort_indices()
    return by_row.T


def as_csr(rows: Any) -> csr_matrix:
    """``rows`` (dense, or any scipy sparse matrix) as a float32 CSR matrix; a float32 CSR
    matrix is returned as it is."""
    if isinstance(rows, csr_matrix) and rows.dtype == np.float32:
        return rows
    if issparse(rows):
        return csr_matrix(rows, dtype=np.float32)
    return csr_matrix(np.asarray(rows, np.float32))


def sparse_scores(user_rows: Any, item_weights: csr_matrix) -> np.ndarray:
    """``user_rows @ B`` for a sparse ``B`` (``(height, n_movies)``, CSR), dense float32.
    The rows (``W``'s: mostly zeros) are multiplied as a sparse matrix too, so each user
    costs their rated movies times ``B``'s entries per row, not ``B``'s size."""
    product = as_csr(user_rows) @ item_weights
    return np.asarray(product.toarray(), dtype=np.float32)


def lowpass_weights(inputs: np.ndarray, factors: int) -> np.ndarray:
    """GF-CF's ideal low-pass filter as an item-item matrix: ``D^-1/2 V_k V_k^T D^1/2``.

    ``V_k``: the top ``factors`` right singular vectors of ``D_users^-1/2 W D^-1/2``
    (``D``, ``D_users``: the non-zero entries of each column and row of ``W``; an empty row
    or column stays zero). They come from the eigenvectors of the smaller of the two Gram
    matrices (users x users or movies x movies), in float64. Returns float32.
    """
    left, right = lowpass_factors_of(inputs, factors)
    return left.astype(np.float32) @ right.astype(np.float32)


def _top(eigenvalues: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest eigenvalues (ascending ``eigh`` order) that are not 0."""
    tolerance = max(float(eigenvalues[-1]), 0.0) * 1e-9
    top = np.arange(len(eigenvalues))[::-1][:k]
    return top[eigenvalues[top] > tolerance]


@register_model(
    "ease",
    trainer="closed-form",
    group="ranking",
    description="EASE: closed-form item-item weights over liked (and, weighted, disliked) "
                "movies; ranks, predicts no rating",
)
class EASEModel(EmbeddingModel):
    """Rating-weighted EASE (see the module docstring).

    Args:
        n_users, n_movies, rating_range, seed: as :class:`EmbeddingModel`.
        factors, l2: accepted (and saved) so that every model builds alike; unused.
        lam: EASE's L2 penalty on ``B`` (100, latest-small's validation choice; 300 on
            ML-100K u1).
        negative_weight: ``W``'s value for a rating below ``positive``.
        positive: the rating from which a movie counts as liked.
        popularity_exponent: ``p`` in the ``(pop_i + 1) ** -p`` column scaling.
        lowpass_weight: the low-pass term's weight relative to EASE's (0: no term).
        lowpass_factors: ``k``, the singular vectors the low-pass term keeps.
        side_weight: the weight of the movie features' rows appended to ``W`` in the solve
            (collective EASE; :mod:`movierec.data.features`); 0: none.
        user_weight: the weight of the user features' columns appended to ``W``; 0: none.
        n_user_features: how many user feature columns ``W`` and ``B`` hold (set from the
            features when an unbuilt model is fitted with them; saved with the model).
        weights_per_column: keep only this many weights of largest magnitude in each
            column of ``B`` (0: keep ``B`` dense, as runs of earlier releases do).

    Attributes:
        item_weights: non-trainable ``(n_movies + n_user_features, n_movies)`` ``B``,
            scaling folded in; when pruned, ``(weights_per_column, n_movies)``: each
            column's kept values.
        item_rows: (pruned only) non-trainable int32 ``(weights_per_column, n_movies)``:
            the row of ``B`` each kept value sits in.
        user_items: non-trainable ``(n_users, n_movies + n_user_features)`` ``W`` (with the
            weighted user features as its last columns).
    """

    link = "linear"

    def __init__(self, n_users: int, n_movies: int, factors: int = 50, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, lam: float = 100.0, negative_weight: float = 0.3,
                 positive: float = 4.0, popularity_exponent: float = 0.2,
                 lowpass_weight: float = 0.0, lowpass_factors: int = 32,
                 side_weight: float = 0.0, user_weight: float = 0.0,
                 n_user_features: int = 0, weights_per_column: int = 0,
                 **kwargs: Any) -> None:
        if int(n_movies) > MAX_ITEMS:
            gib = int(n_movies) ** 2 * 4 / 2**30
            raise MovierecError(
                f"ease keeps a dense {n_movies:,} x {n_movies:,} item-item matrix "
                f"({gib:.1f} GiB of float32), beyond its limit of {MAX_ITEMS:,} movies; "
                "use a factor model (e.g. dot-bias) for a catalogue this large"
            )
        if lam <= 0:
            raise ValueError(f"lam must be positive, got {lam!r}")
        if negative_weight < 0:
            raise ValueError(f"negative_weight must not be negative, got {negative_weight!r}")
        if lowpass_weight < 0 or int(lowpass_factors) < 1:
            raise ValueError("lowpass_weight must not be negative and lowpass_factors must be "
                             f"at least 1, got {lowpass_weight!r} and {lowpass_factors!r}")
        if side_weight < 0:
            raise ValueError(f"side_weight must not be negative, got {side_weight!r}")
        if user_weight < 0 or int(n_user_features) < 0:
            raise ValueError("user_weight and n_user_features must not be negative, got "
                             f"{user_weight!r} and {n_user_features!r}")
        if int(weights_per_column) < 0:
            raise ValueError(f"weights_per_column must not be negative, got "
                             f"{weights_per_column!r}")
        super().__init__(n_users, n_movies, factors, l2, rating_range, seed, **kwargs)
        self.lam = float(lam)
        self.negative_weight = float(negative_weight)
        self.positive = float(positive)
        self.popularity_exponent = float(popularity_exponent)
        self.lowpass_weight = float(lowpass_weight)
        self.lowpass_factors = int(lowpass_factors)
        self.side_weight = float(side_weight)
        self.user_weight = float(user_weight)
        self.n_user_features = int(n_user_features)
        self.weights_per_column = int(weights_per_column)

    @property
    def pruned(self) -> bool:
        """Whether ``B`` is kept as its top ``weights_per_column`` entries per column (a
        ``k`` of 0, or one not below ``B``'s height, keeps it dense)."""
        return 0 < self.weights_per_column < self.n_movies + self.n_user_features

    # No factor or bias tables: the weights are W and B.
    def _factor_table(self, rows: int, offset: int, name: str) -> None:
        return None

    def build_head(self) -> None:
        if getattr(self, "item_weights", None) is not None:
            return
        width = self.n_movies + self.n_user_features
        # Pruned: B's top k per column (values, and their row indices in the smallest
        # integer type that holds them), and W, in float16: half the bytes on disk.
        values = "float16" if self.pruned else "float32"
        if self.pruned:
            k = self.weights_per_column
            self.item_weights = self.add_weight(shape=(k, self.n_movies),
                                                name="item_weights", initializer="zeros",
                                                dtype=values, trainable=False)
            self.item_rows = self.add_weight(
                shape=(k, self.n_movies), name="item_rows", initializer="zeros",
                dtype="int16" if width <= np.iinfo(np.int16).max else "int32",
                trainable=False)
        else:
            self.item_weights = self.add_weight(shape=(width, self.n_movies),
                                                name="item_weights", initializer="zeros",
                                                trainable=False)
        self.user_items = self.add_weight(shape=(self.n_users, width),
                                          name="user_items", initializer="zeros",
                                          dtype=values, trainable=False)

    def call(self, inputs, training: bool = False):
        rows = ops.take(self.user_items, inputs[:, 0], axis=0)  # (batch, n_movies)
        columns = ops.transpose(ops.take(self.item_weights, inputs[:, 1], axis=1))
        if self.pruned:  # the user's entries at each column's kept rows: (batch, k)
            kept = ops.transpose(ops.take(self.item_rows, inputs[:, 1], axis=1))
            rows = ops.cast(ops.take_along_axis(rows, ops.cast(kept, "int32"), axis=1),
                            "float32")
            columns = ops.cast(columns, "float32")
        return ops.sum(ops.multiply(rows, columns), axis=-1, keepdims=True)

    # -- closed form ------------------------------------------------------------------------

    def input_matrix(self, pairs: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """``W`` of the given ``[user_index, movie_index]`` pairs and their ratings."""
        ratings = np.asarray(ratings, dtype=np.float32).reshape(-1)
        matrix = np.zeros((self.n_users, self.n_movies), dtype=np.float32)
        values = liked_weights(ratings, self.positive, self.negative_weight)
        matrix[pairs[:, 0], pairs[:, 1]] = values
        return matrix

    def fold_in(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """A new user's ``W`` row from their ratings of movie indices ``movies``, as
        :meth:`input_matrix` builds one (user feature columns 0: none are known)."""
        return weighted_history(movies, ratings, n_movies=self.n_movies + self.n_user_features,
                                positive=self.positive, negative_weight=self.negative_weight)

    def fit_closed_form(self, pairs: np.ndarray, ratings: np.ndarray,
                        movie_features: np.ndarray | None = None,
                        user_features: np.ndarray | None = None) -> None:
        """Set ``W`` and ``B`` from the training pairs (replaces any earlier fit).

        ``movie_features`` (``(n_features, n_movies)``,
        :func:`movierec.data.features.movie_features`) are needed when ``side_weight`` is
        above 0; they shape ``B`` only, so the saved model needs them no more.
        ``user_features`` (``(n_users, n_features)``,
        :func:`movierec.data.features.user_features`) are needed when ``user_weight`` is
        above 0; they are kept as ``W``'s last columns.
        """
        if self.side_weight and movie_features is None:
            raise MovierecError(
                f"ease with side_weight {self.side_weight:g} needs the movies' features "
                "(genres, years, tags): train it on a dataset (EncodedSplit.fit does this), "
                "or set side_weight to 0")
        side = None
        if self.side_weight:
            side = np.asarray(movie_features, np.float32)
            if side.ndim != 2 or side.shape[1] != self.n_movies:
                raise MovierecError(f"movie_features must be (n_features, {self.n_movies}), "
                                    f"got {side.shape}")
            side = self.side_weight * side
        users = self._user_columns(user_features)
        pairs = np.asarray(pairs)
        matrix = self.input_matrix(pairs, ratings)
        popularity = np.bincount(pairs[:, 1], minlength=self.n_movies)
        if users is not None:  # the feature columns: no popularity, no side information
            matrix = np.hstack([matrix, users])
            popularity = np.concatenate([popularity, np.zeros(users.shape[1], np.int64)])
            if side is not None:
                side = np.hstack([side, np.zeros((len(side), users.shape[1]), np.float32)])
        if not self.built:
            self.build((None, 2))
        blocks = ease_blocks(matrix, self.lam, popularity, self.popularity_exponent,
                             lowpass_weight=self.lowpass_weight,
                             lowpass_factors=self.lowpass_factors, side_rows=side,
                             columns=self.n_movies)
        self.user_items.assign(matrix)
        k = self.weights_per_column
        height = matrix.shape[1]
        if self.pruned:  # each block of columns pruned as it is solved: no dense B at all
            values = np.empty((k, self.n_movies), np.float32)
            rows = np.empty((k, self.n_movies), np.int32)
            for part, block in blocks:
                values[:, part], rows[:, part] = prune_columns(block, k)
            self.item_weights.assign(values)
            self.item_rows.assign(rows)
        else:
            weights = np.empty((height, self.n_movies), np.float32)
            for part, block in blocks:
                weights[:, part] = block
            self.item_weights.assign(weights)

    def _user_columns(self, user_features: np.ndarray | None) -> np.ndarray | None:
        """The weighted user feature columns to append to ``W`` (None with no
        ``user_weight``), checked against the model's users and ``n_user_features``."""
        if not self.user_weight:
            return None
        if user_features is None:
            raise MovierecError(
                f"ease with user_weight {self.user_weight:g} needs the users' age, gender and "
                "occupation, which only some datasets have (100k does; latest-small does "
                "not): train it on such a dataset, or set user_weight to 0")
        users = np.asarray(user_features, np.float32)
        if users.ndim != 2 or users.shape[0] != self.n_users:
            raise MovierecError(f"user_features must be ({self.n_users}, n_features), "
                                f"got {users.shape}")
        if not self.built:
            self.n_user_features = users.shape[1]
        elif users.shape[1] != self.n_user_features:
            raise MovierecError(
                f"this ease model was built for {self.n_user_features} user features, got "
                f"{users.shape[1]}: build it with n_user_features={users.shape[1]}")
        return self.user_weight * users

    def movie_vectors(self) -> np.ndarray | csc_matrix:
        """``B^T`` (``(n_movies, n_movies + n_user_features)``): dense, or for a pruned
        ``B`` a sparse matrix of its kept entries (:func:`sparse_item_weights`)."""
        if self.pruned:
            return sparse_item_weights(value_of(self.item_weights),
                                       np.asarray(ops.convert_to_numpy(self.item_rows)),
                                       self.n_movies + self.n_user_features)
        return np.ascontiguousarray(value_of(self.item_weights).T)

    def scoring_tables(self) -> dict[str, Any]:
        """``score(u, i) = user_vectors[u] . movie_vectors[i]``: ``W`` and ``B^T``
        (:meth:`movie_vectors`: sparse when ``B`` is pruned); the new-user rule
        (:meth:`fold_in`); and ``W``'s columns as the vectors of similar movies."""
        # W is about 2 % non-zero (each user's rated movies): kept sparse, as the scorer
        # multiplies it (:func:`sparse_scores`).
        user_items = csr_matrix(value_of(self.user_items))
        return {"user_vectors": user_items,
                "movie_vectors": self.movie_vectors(),
                "user_bias": None, "movie_bias": None, "link": "linear",
                "fold_in": FoldIn(
                    method=f"their weighted history (1 per movie rated >= {self.positive:g}, "
                           f"{self.negative_weight:g} per lower rating) times EASE's "
                           "item-item weights",
                    rule=partial(weighted_history,
                                 n_movies=self.n_movies + self.n_user_features,
                                 positive=self.positive, negative_weight=self.negative_weight)),
                # W's movie columns, who rated what: about 2 % non-zero, kept sparse.
                "similarity_vectors": csr_matrix(user_items[:, :self.n_movies].T)}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"lam": self.lam, "negative_weight": self.negative_weight,
                       "positive": self.positive,
                       "popularity_exponent": self.popularity_exponent,
                       "lowpass_weight": self.lowpass_weight,
                       "lowpass_factors": self.lowpass_factors,
                       "side_weight": self.side_weight, "user_weight": self.user_weight,
                       "n_user_features": self.n_user_features,
                       "weights_per_column": self.weights_per_column})
        return config
