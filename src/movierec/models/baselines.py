"""Numpy baselines every Keras model must beat: the global mean and regularized biases.

Both work on encoded pairs (int ``(n, 2)`` of ``[user_index, movie_index]``) like the Keras
models, clip predictions to the rating range given to the constructor, and save to ``.npz``
without pickle.

Unknown users or movies (a negative index such as the ``-1`` of
``IdEncoder.transform(..., unknown="mask")``, or an index beyond the tables seen in ``fit``)
are cold-start cases, not errors: their bias is 0, so :class:`BiasBaseline` predicts the
global mean plus whatever bias is known (the movie's bias for an unknown user, the user's
for an unknown movie, nothing for both).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from movierec.atomic import atomic_path
from movierec.checks import check_rating_range

__all__ = ["BiasBaseline", "GlobalMean"]


def _check_pairs(pairs: Any) -> np.ndarray:
    array = np.asarray(pairs)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"pairs must have shape (n, 2), got {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"pairs must hold integer indices, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _check_range(rating_range: Any) -> tuple[float, float] | None:
    if rating_range is None:
        return None
    low, high = check_rating_range(rating_range)
    return (low, high)


class _Baseline:
    """Shared fitting checks, clipping and ``.npz`` persistence."""

    kind: ClassVar[str] = ""

    def __init__(self, rating_range: tuple[float, float] | None = (0.5, 5.0)) -> None:
        self.rating_range = _check_range(rating_range)
        self.global_mean: float | None = None

    def _check_fit(self, pairs: Any, ratings: Any, n_users: int, n_movies: int):
        array = _check_pairs(pairs)
        values = np.asarray(ratings, dtype=np.float64).reshape(-1)
        if len(values) != len(array):
            raise ValueError(f"{len(array)} pairs but {len(values)} ratings")
        if len(values) == 0:
            raise ValueError("cannot fit on no ratings")
        if not np.isfinite(values).all():
            raise ValueError("ratings must be finite")
        for column, kind, size in ((0, "user", n_users), (1, "movie", n_movies)):
            if int(size) != size or size < 1:
                raise ValueError(f"n_{kind}s must be a positive integer, got {size!r}")
            indices = array[:, column]
            if indices.min() < 0 or indices.max() >= size:
                raise ValueError(f"{kind} indices must lie in [0, {size}) when fitting")
        return array, values

    def _require_fitted(self) -> None:
        if self.global_mean is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    def _clip(self, predicted: np.ndarray) -> np.ndarray:
        if self.rating_range is not None:
            predicted = np.clip(predicted, *self.rating_range)
        return predicted.astype(np.float32)

    # -- persistence ------------------------------------------------------------------------

    def _state(self) -> dict[str, np.ndarray]:
        """The arrays, besides the global mean and range, that :meth:`save` writes."""
        return {}

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray],
                    rating_range: tuple[float, float] | None) -> Self:
        """An instance holding what :meth:`_state` saved (the global mean is set after)."""
        return cls(rating_range=rating_range)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted baseline to ``path`` (``.npz``, no pickle), atomically."""
        self._require_fitted()
        arrays = {
            "kind": np.array(self.kind),
            "global_mean": np.array(self.global_mean, dtype=np.float64),
            "rating_range": np.array(self.rating_range or [], dtype=np.float64),
            **self._state(),
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a baseline written by :meth:`save`; the file must hold this class' kind.

        Raises:
            ValueError: the file holds another kind of model.
        """
        with np.load(Path(path), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        kind = str(arrays["kind"]) if "kind" in arrays else "unknown"
        if kind != cls.kind:
            raise ValueError(f"{path} holds a {kind!r} model, not {cls.kind!r}")
        span = arrays["rating_range"]
        model = cls._from_state(arrays, tuple(span.tolist()) if span.size else None)
        model.global_mean = float(arrays["global_mean"])
        return model


class GlobalMean(_Baseline):
    """Predict the mean training rating for every pair.

    Args:
        rating_range: ``(min, max)`` predictions are clipped to; ``None`` does not clip.

    Example:
        >>> import numpy as np
        >>> model = GlobalMean().fit(np.array([[0, 0], [1, 1]]), [3.0, 4.0], 2, 2)
        >>> model.predict(np.array([[0, 1], [5, -1]])).tolist()
        [3.5, 3.5]
    """

    kind = "global-mean"

    def fit(self, pairs: Any, ratings: Any, n_users: int, n_movies: int) -> GlobalMean:
        """Learn the mean rating. Returns ``self``."""
        _, values = self._check_fit(pairs, ratings, n_users, n_movies)
        self.global_mean = float(values.mean())
        return self

    def predict(self, pairs: Any) -> np.ndarray:
        """The global mean for each pair, float32 ``(n,)``; any index is accepted."""
        self._require_fitted()
        return self._clip(np.full(len(_check_pairs(pairs)), self.global_mean))


class BiasBaseline(_Baseline):
    """``rating = mu + b_user + b_movie`` with regularized biases, fitted by ALS.

    The same algorithm and defaults as Surprise's ``BaselineOnly`` with
    ``{"method": "als"}``: starting from zero biases, each of ``n_epochs`` sweeps sets

    * ``b_movie[i] = sum(r - mu - b_user[u]) / (reg_movie + n_i)`` over movie i's ratings,
    * ``b_user[u] = sum(r - mu - b_movie[i]) / (reg_user + n_u)`` over user u's ratings,

    each a closed-form ridge solution given the other biases, computed for all movies (then
    all users) at once with ``np.bincount``. Users or movies without training ratings keep a
    bias of 0; so do unknown indices at prediction time (see the module docstring).

    Args:
        reg_user: ridge penalty on user biases (Surprise's ``reg_u``).
        reg_movie: ridge penalty on movie biases (Surprise's ``reg_i``).
        n_epochs: ALS sweeps.
        rating_range: ``(min, max)`` predictions are clipped to; ``None`` does not clip.

    Attributes (after ``fit``):
        global_mean: ``mu``, the mean training rating.
        user_bias, movie_bias: float64 arrays of length ``n_users`` and ``n_movies``.
    """

    kind = "bias-baseline"

    def __init__(
        self,
        reg_user: float = 15.0,
        reg_movie: float = 10.0,
        n_epochs: int = 10,
        rating_range: tuple[float, float] | None = (0.5, 5.0),
    ) -> None:
        super().__init__(rating_range)
        if reg_user < 0 or reg_movie < 0:
            raise ValueError("reg_user and reg_movie must not be negative")
        if int(n_epochs) != n_epochs or n_epochs < 1:
            raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}")
        self.reg_user = float(reg_user)
        self.reg_movie = float(reg_movie)
        self.n_epochs = int(n_epochs)
        self.user_bias = np.zeros(0)
        self.movie_bias = np.zeros(0)

    def fit(self, pairs: Any, ratings: Any, n_users: int, n_movies: int) -> BiasBaseline:
        """Learn ``mu`` and the biases from encoded pairs and their ratings. Returns ``self``."""
        array, values = self._check_fit(pairs, ratings, n_users, n_movies)
        users, movies = array[:, 0], array[:, 1]
        mu = float(values.mean())
        residual = values - mu
        user_count = np.bincount(users, minlength=n_users)
        movie_count = np.bincount(movies, minlength=n_movies)
        user_bias = np.zeros(n_users)
        movie_bias = np.zeros(n_movies)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0: unrated and reg == 0
            for _ in range(self.n_epochs):
                movie_sum = np.bincount(movies, weights=residual - user_bias[users],
                                        minlength=n_movies)
                movie_bias = np.where(movie_count > 0,
                                      movie_sum / (self.reg_movie + movie_count), 0.0)
                user_sum = np.bincount(users, weights=residual - movie_bias[movies],
                                       minlength=n_users)
                user_bias = np.where(user_count > 0, user_sum / (self.reg_user + user_count), 0.0)
        self.global_mean, self.user_bias, self.movie_bias = mu, user_bias, movie_bias
        return self

    def predict(self, pairs: Any) -> np.ndarray:
        """``mu + b_user + b_movie`` per pair, float32 ``(n,)``, clipped to the range.

        Unknown indices (negative or beyond the fitted tables) contribute a bias of 0.
        """
        self._require_fitted()
        array = _check_pairs(pairs)
        return self._clip(self.global_mean + _lookup(self.user_bias, array[:, 0])
                          + _lookup(self.movie_bias, array[:, 1]))

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "user_bias": self.user_bias,
            "movie_bias": self.movie_bias,
            "settings": np.array([self.reg_user, self.reg_movie, self.n_epochs], np.float64),
        }

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray],
                    rating_range: tuple[float, float] | None) -> Self:
        reg_user, reg_movie, n_epochs = arrays["settings"].tolist()
        model = cls(reg_user, reg_movie, int(n_epochs), rating_range)
        model.user_bias = arrays["user_bias"].astype(np.float64)
        model.movie_bias = arrays["movie_bias"].astype(np.float64)
        return model


def _lookup(table: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``table[indices]`` with 0 where an index is outside the table."""
    known = (indices >= 0) & (indices < len(table))
    return np.where(known, table[np.where(known, indices, 0)] if len(table) else 0.0, 0.0)
