"""Top-K recommendations, similar movies and cold start, scored from the learned weights.

A :class:`Recommender` copies a trained model's weights into numpy arrays once and scores
from them, so a request never compiles or calls Keras, and all users can be scored in a few
matrix products. For every model the numpy maths reproduces ``model.predict`` (the tests
check this to 1e-4):

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

Every rating is clipped to the rating range, as :func:`movierec.models.predict_ratings` does.
Movies are *ranked* by the score before the sigmoid and the clipping (the same order, with
no ties from saturation).

Top-K for many users works on chunks of users, so memory is bounded by the chunk size times
the number of movies, never by users x movies. Within a chunk, the K best movies of a row are
found without sorting or fully partitioning it: the row is cut into ``G = 32`` interleaved
groups, the K-th largest group maximum ``t`` (``np.argpartition`` on ``n / G`` values) is a
lower bound on the K-th largest score, so only the few movies scoring ``>= t`` (at most
``K * G``) are candidates, which are then ordered exactly.

``recommender-net-as-published`` sums its dot product over the whole batch, so a single
(user, movie) pair has no score of its own: it is refused with a
:class:`~movierec.errors.MovierecError`.

Cold start (:meth:`Recommender.fold_in`) places a new user among the trained ones from a
few ratings, without retraining; see its docstring for the maths.

Example:
    >>> from movierec.runs import load_run                       # doctest: +SKIP
    >>> rec = Recommender.from_run(load_run("runs/dot-bias"))   # doctest: +SKIP
    >>> ids, ratings = rec.recommend([68], k=10)                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from movierec.catalog import Catalog
from movierec.encoding import Encoders, IdEncoder
from movierec.errors import MovierecError, UnknownIdError

if TYPE_CHECKING:
    import keras

    from movierec.runs import Run
    from movierec.splits import Split

__all__ = [
    "DAMPING",
    "Recommender",
    "ScoringWeights",
    "baseline_ranking_reports",
    "holdout_split",
    "leave_last_of_split",
    "ranking_report",
]

EXCLUDED = float(np.finfo(np.float32).min)
"""The score given to movies that must not be recommended (seen, excluded, padding)."""
GROUP = 32
"""Interleaved groups per row in the top-K candidate filter (see the module docstring)."""
CHUNK_ELEMENTS = 1 << 22
"""Scores held in memory at once by default (users per chunk = this / number of movies)."""
DAMPING = 20.0
"""Popular movies rank by mean rating damped towards the global mean by this many ratings."""
LOGIT_EPS = 0.05
"""Cold start clips scaled ratings to [eps, 1 - eps] before taking their logit."""

Link = Literal["linear", "sigmoid"]


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ScoringWeights:
    """A model's weights as float32 numpy arrays, and how they become a rating.

    Attributes:
        user_vectors, movie_vectors: ``(n_users, F)`` and ``(n_movies, F)`` factor tables.
        rating_range: ``(min, max)``; ratings are clipped to it.
        link: ``"linear"`` (rating = score) or ``"sigmoid"``
            (rating = min + (max - min) * sigmoid(score)).
        user_bias, movie_bias: ``(n_users,)`` and ``(n_movies,)``, or None.
        hidden_kernel, hidden_bias: the mlp's first Dense layer, ``(2F, H)`` and ``(H,)``,
            user rows first (the model concatenates ``[user, movie]``); None otherwise.
        output_kernel, output_bias: the mlp's output layer, ``(H,)`` and a float.
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

    @property
    def is_mlp(self) -> bool:
        return self.hidden_kernel is not None

    @property
    def factors(self) -> int:
        return int(self.movie_vectors.shape[1])

    @classmethod
    def from_model(cls, model: keras.Model) -> ScoringWeights:
        """Copy the weights of a movierec model.

        Raises:
            MovierecError: the model is ``recommender-net-as-published`` (batch-dependent,
                no per-pair score) or not one of movierec's embedding models.
        """
        from movierec.models import EmbeddingModel, model_spec

        if not isinstance(model, EmbeddingModel):
            raise MovierecError(
                f"cannot score a {type(model).__name__}; recommendations need one of "
                "movierec's embedding models"
            )
        name = model.model_name
        spec = model_spec(name)
        if spec.batch_dependent:
            raise MovierecError(
                f"{name} cannot recommend: its published dot product sums over the whole "
                "batch, so a (user, movie) pair has no score of its own. It exists only to "
                "show that bug in the comparison; recommend with recommender-net (the "
                "corrected model) or dot-bias instead"
            )

        def table(layer: Any) -> np.ndarray | None:
            if layer is None:
                return None
            return np.asarray(layer.get_weights()[0], dtype=np.float32)

        users, movies = table(model.user_embedding), table(model.movie_embedding)
        user_bias, movie_bias = table(model.user_bias), table(model.movie_bias)
        weights: dict[str, Any] = {
            "user_vectors": users,
            "movie_vectors": movies,
            "rating_range": tuple(float(x) for x in model.rating_range),
            "link": "linear" if name == "dot" else "sigmoid",
            "user_bias": None if user_bias is None else user_bias.reshape(-1),
            "movie_bias": None if movie_bias is None else movie_bias.reshape(-1),
        }
        if name == "mlp":
            kernel, bias = model.hidden.get_weights()
            out_kernel, out_bias = model.output_layer.get_weights()
            weights.update(
                hidden_kernel=np.asarray(kernel, np.float32),
                hidden_bias=np.asarray(bias, np.float32),
                output_kernel=np.asarray(out_kernel, np.float32).reshape(-1),
                output_bias=float(np.asarray(out_bias).reshape(-1)[0]),
            )
        elif name not in ("dot", "dot-bias", "recommender-net"):
            raise MovierecError(f"no numpy scoring is defined for model {name!r}")
        return cls(**weights)


class _Scorer:
    """The numpy forward pass of :class:`ScoringWeights`, precomputed per movie."""

    def __init__(self, w: ScoringWeights) -> None:
        self.w = w
        self.low, self.high = w.rating_range
        self.n_movies = len(w.movie_vectors)
        # Column padding so that rows split into GROUP equal interleaved groups.
        self.n_padded = -(-self.n_movies // GROUP) * GROUP
        pad = self.n_padded - self.n_movies
        factors = w.factors
        if w.is_mlp:
            hidden = w.hidden_kernel
            self.user_kernel = hidden[:factors]                       # W_u (F, H)
            movie_part = w.movie_vectors @ hidden[factors:]           # m W_m, (n_movies, H)
            self.movie_hidden_t = np.ascontiguousarray(
                np.pad(movie_part, ((0, pad), (0, 0))).T, dtype=np.float32
            )                                                         # (H, n_padded)
            self.movie_aug = None
        else:
            # score = [u, b_u, 1] . [m, 1, b_m]: biases folded into one matrix product;
            # padding movies get bias EXCLUDED, so they are never candidates.
            movie_bias = (w.movie_bias if w.movie_bias is not None
                          else np.zeros(self.n_movies, np.float32))
            aug = np.zeros((self.n_padded, factors + 2), dtype=np.float32)
            aug[: self.n_movies, :factors] = w.movie_vectors
            aug[: self.n_movies, factors] = 1.0
            aug[: self.n_movies, factors + 1] = movie_bias
            aug[self.n_movies:, factors + 1] = EXCLUDED
            self.movie_aug_t = np.ascontiguousarray(aug.T)          # (F + 2, n_padded)

    # -- raw scores (before the link) -----------------------------------------------------

    def raw_pairs(self, user_vectors: np.ndarray, user_bias: np.ndarray,
                  movies: np.ndarray) -> np.ndarray:
        """Raw score of each aligned (user vector, movie index) pair."""
        w = self.w
        movie_vectors = w.movie_vectors[movies]
        if w.is_mlp:
            hidden = np.maximum(
                user_vectors @ self.user_kernel + w.hidden_bias
                + self.movie_hidden_t[:, movies].T, 0.0)
            return hidden @ w.output_kernel + np.float32(w.output_bias)
        raw = np.einsum("ij,ij->i", user_vectors, movie_vectors)
        if w.movie_bias is not None:
            raw = raw + user_bias + w.movie_bias[movies]
        return raw.astype(np.float32, copy=False)

    def raw_rows(self, user_vectors: np.ndarray, user_bias: np.ndarray) -> np.ndarray:
        """``(n, n_padded)`` raw scores of every movie; padding columns hold EXCLUDED."""
        w = self.w
        n = len(user_vectors)
        if w.is_mlp:
            user_hidden = user_vectors @ self.user_kernel + w.hidden_bias   # (n, H)
            out = np.full((n, self.n_padded), np.float32(w.output_bias), dtype=np.float32)
            tmp = np.empty_like(out)
            for h, weight in enumerate(w.output_kernel):
                np.add(self.movie_hidden_t[h][None, :], user_hidden[:, h:h + 1], out=tmp)
                np.maximum(tmp, 0.0, out=tmp)
                tmp *= weight
                out += tmp
            out[:, self.n_movies:] = EXCLUDED
            return out
        aug = np.empty((n, w.factors + 2), dtype=np.float32)
        aug[:, : w.factors] = user_vectors
        aug[:, w.factors] = user_bias
        aug[:, w.factors + 1] = 1.0
        return aug @ self.movie_aug_t

    # -- link ---------------------------------------------------------------------------

    def to_rating(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float32)
        if self.w.link == "sigmoid":
            unit = 0.5 + 0.5 * np.tanh(0.5 * raw)   # sigmoid without overflow warnings
            raw = self.low + (self.high - self.low) * unit
        return np.clip(raw, self.low, self.high).astype(np.float32, copy=False)


def _top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``k`` largest scores of each row, best first.

    ``scores`` has ``n_padded`` columns (a multiple of GROUP). Entries ``<= EXCLUDED``
    are never returned; a row with fewer than ``k`` others is padded with -1 / EXCLUDED.
    Ties are broken by the lower column index.
    """
    n_rows, n_cols = scores.shape
    items = np.full((n_rows, k), -1, dtype=np.int64)
    values = np.full((n_rows, k), EXCLUDED, dtype=np.float32)
    if n_rows == 0:
        return items, values
    n_groups = n_cols // GROUP
    floor = np.nextafter(np.float32(EXCLUDED), np.float32(0))
    if n_groups >= 4 * k and n_cols % GROUP == 0:
        # Group g holds columns g, g + n_groups, g + 2 n_groups, ...: a max over GROUP
        # contiguous slabs. The k-th largest group maximum bounds the k-th largest score.
        group_max = scores.reshape(n_rows, GROUP, n_groups).max(axis=1)
        kth = np.partition(group_max, n_groups - k, axis=1)[:, n_groups - k]
        threshold = np.maximum(kth, floor)[:, None]
        rows, cols = np.nonzero(scores >= threshold)
    else:
        kk = min(k, n_cols)
        part = np.argpartition(scores, n_cols - kk, axis=1)[:, n_cols - kk:]
        rows = np.repeat(np.arange(n_rows), kk)
        cols = part.reshape(-1)
        keep = scores[rows, cols] >= floor
        rows, cols = rows[keep], cols[keep]
    vals = scores[rows, cols]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    rank = np.arange(len(rows)) - starts[rows]
    keep = rank < k
    items[rows[keep], rank[keep]] = cols[keep]
    values[rows[keep], rank[keep]] = vals[keep]
    return items, values


# --------------------------------------------------------------------------------------------
# Recommender
# --------------------------------------------------------------------------------------------


class Recommender:
    """Scores from the learned weights with numpy (no per-request Keras compile).

    Build one with :meth:`from_run` (a saved run) or :meth:`from_model` (a model in memory,
    e.g. in the comparison). Every method takes and returns *raw* ids (MovieLens ids or the
    strings of a user's file); predicted ratings are in rating units.

    Args:
        weights: the model's weights (:meth:`ScoringWeights.from_model`).
        encoders: the run's raw id <-> index maps.
        train_ratings: the ratings the model was trained on (``user_id, movie_id, rating``,
            optionally ``timestamp``, raw ids): excluded from recommendations, shown as a
            user's favourites, and counted for popularity.
        movies: the movie catalogue (``movie_id, title, year, genres``), for
            :attr:`catalog`; None gives an empty catalogue.
        model_name: for messages and reports.
    """

    def __init__(
        self,
        weights: ScoringWeights,
        encoders: Encoders,
        train_ratings: pd.DataFrame,
        movies: pd.DataFrame | None = None,
        *,
        model_name: str = "",
    ) -> None:
        if len(weights.user_vectors) != len(encoders.users):
            raise MovierecError(
                f"the model has {len(weights.user_vectors)} user rows but the encoders know "
                f"{len(encoders.users)} users; the run is inconsistent, retrain it"
            )
        if len(weights.movie_vectors) != len(encoders.movies):
            raise MovierecError(
                f"the model has {len(weights.movie_vectors)} movie rows but the encoders know "
                f"{len(encoders.movies)} movies; the run is inconsistent, retrain it"
            )
        self.weights = weights
        self.encoders = encoders
        self.model_name = model_name
        self.rating_range = weights.rating_range
        self._scorer = _Scorer(weights)
        self._index_train(train_ratings)
        if movies is None:
            movies = pd.DataFrame({"movie_id": encoders.movies.ids, "title": ""})
        self.catalog = Catalog(movies, popularity=pd.Series(
            self.movie_counts, index=encoders.movies.ids))
        self._movie_unit: np.ndarray | None = None

    @classmethod
    def from_run(cls, run: Run) -> Recommender:
        """The recommender of a saved run (:func:`movierec.runs.load_run`).

        Raises:
            MovierecError: the run's model is ``recommender-net-as-published``.
        """
        return cls(ScoringWeights.from_model(run.model), run.encoders, run.train_ratings,
                   run.movies, model_name=run.config.model)

    @classmethod
    def from_model(cls, model: keras.Model, encoders: Encoders, train_ratings: pd.DataFrame,
                   movies: pd.DataFrame | None = None) -> Recommender:
        """A recommender for a model in memory (e.g. ``TrainResult.model``)."""
        return cls(ScoringWeights.from_model(model), encoders, train_ratings, movies,
                   model_name=getattr(model, "model_name", type(model).__name__))

    def _index_train(self, train: pd.DataFrame) -> None:
        """Training ratings grouped by user index (CSR), plus per-movie counts."""
        n_users, n_movies = len(self.encoders.users), len(self.encoders.movies)
        users = self.encoders.users.transform(train["user_id"], unknown="mask")
        movies = self.encoders.movies.transform(train["movie_id"], unknown="mask")
        known = (users >= 0) & (movies >= 0)
        users, movies = users[known], movies[known]
        ratings = train["rating"].to_numpy(np.float32)[known]
        stamps = (train["timestamp"].to_numpy(np.int64)[known] if "timestamp" in train
                  else np.arange(len(users), dtype=np.int64))
        order = np.argsort(users, kind="stable")
        self._seen_movies = movies[order].astype(np.int64)
        self._seen_ratings = ratings[order]
        self._seen_stamps = stamps[order]
        self._seen_ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(users, minlength=n_users))]).astype(np.int64)
        self.movie_counts = np.bincount(movies, minlength=n_movies).astype(np.int64)
        """Training ratings per movie index."""
        sums = np.bincount(movies, weights=ratings, minlength=n_movies)
        mean = float(ratings.mean()) if len(ratings) else float(np.mean(self.rating_range))
        self.global_mean = mean
        self.damped_means = ((sums + DAMPING * mean) / (self.movie_counts + DAMPING)).astype(
            np.float32)
        """Mean training rating per movie, damped towards the global mean by DAMPING."""
        rated = np.flatnonzero(self._seen_ptr[1:] > self._seen_ptr[:-1])
        vectors = self.weights.user_vectors[rated] if rated.size else self.weights.user_vectors
        self._user_prior = vectors.mean(axis=0).astype(np.float32)
        self._user_spread = float(np.mean(np.sum((vectors - self._user_prior) ** 2, axis=1)))
        bias = self.weights.user_bias
        self._bias_prior = float(bias[rated].mean()) if bias is not None and rated.size else 0.0

    # -- ids -----------------------------------------------------------------------------

    @property
    def n_users(self) -> int:
        return len(self.encoders.users)

    @property
    def n_movies(self) -> int:
        return len(self.encoders.movies)

    def knows_user(self, user: Any) -> bool:
        """Whether ``user`` (a raw id) is one the model was trained with."""
        return bool(_transform(self.encoders.users, [_coerce(self.encoders.users, user)])[0] >= 0)

    def user_indices(self, users: Any) -> np.ndarray:
        """Indices of raw user ids (strings of digits are accepted for integer ids).

        Raises:
            UnknownIdError: naming the first unknown id.
        """
        values = _as_list(users)
        coerced = [_coerce(self.encoders.users, user) for user in values]
        indices = _transform(self.encoders.users, coerced)
        if (indices < 0).any():
            unknown = coerced[int(np.flatnonzero(indices < 0)[0])]
            raise UnknownIdError(
                f"unknown user id {unknown!r}: the model was trained on {self.n_users:,} "
                "other users and has no vector for this one"
            )
        return indices.astype(np.int64)

    def movie_indices(self, movies: Any, *, unknown: Literal["raise", "drop"] = "raise"
                      ) -> np.ndarray:
        """Indices of raw movie ids; unknown ids raise or, with ``"drop"``, are left out."""
        values = _as_list(movies)
        coerced = [_coerce(self.encoders.movies, movie) for movie in values]
        indices = _transform(self.encoders.movies, coerced)
        if unknown == "drop":
            return indices[indices >= 0].astype(np.int64)
        if (indices < 0).any():
            bad = coerced[int(np.flatnonzero(indices < 0)[0])]
            raise UnknownIdError(
                f"unknown movie id {bad!r}: nobody rated it in the data the model was "
                "trained on, so it has no learned vector"
            )
        return indices.astype(np.int64)

    def seen(self, user_index: int) -> np.ndarray:
        """Movie indices user ``user_index`` rated in training."""
        return self._seen_movies[self._seen_ptr[user_index]: self._seen_ptr[user_index + 1]]

    # -- scoring -------------------------------------------------------------------------

    def predict(self, users: Sequence, movies: Sequence) -> np.ndarray:
        """Predicted ratings of aligned (user, movie) raw id pairs (a scalar broadcasts).

        Equal to ``predict_ratings(model, pairs)`` up to float32 rounding.
        """
        u = self.user_indices(users)
        m = self.movie_indices(movies)
        if len(u) == 1 and len(m) != 1:
            u = np.repeat(u, len(m))
        elif len(m) == 1 and len(u) != 1:
            m = np.repeat(m, len(u))
        if len(u) != len(m):
            raise MovierecError(f"{len(u)} users but {len(m)} movies; pass aligned pairs")
        return self.predict_indices(u, m)

    def predict_indices(self, user_indices: np.ndarray, movie_indices: np.ndarray) -> np.ndarray:
        """:meth:`predict` for encoded indices."""
        u = np.asarray(user_indices, dtype=np.int64)
        m = np.asarray(movie_indices, dtype=np.int64)
        raw = self._scorer.raw_pairs(self.weights.user_vectors[u], self._user_bias(u), m)
        return self._scorer.to_rating(raw)

    def score_users(self, user_indices: np.ndarray) -> np.ndarray:
        """``(n, n_movies)`` predicted ratings of every movie for users given by index.

        A scorer in the sense of :mod:`movierec.evaluation`; the caller chunks the users.
        """
        return self._scorer.to_rating(self.ranking_scores(user_indices))

    def ranking_scores(self, user_indices: np.ndarray) -> np.ndarray:
        """``(n, n_movies)`` scores before the sigmoid and clipping: the order
        :meth:`recommend` ranks by, without ties from saturation. Also an evaluation scorer.
        """
        u = np.asarray(user_indices, dtype=np.int64)
        raw = self._scorer.raw_rows(self.weights.user_vectors[u], self._user_bias(u))
        return raw[:, : self.n_movies]

    def _user_bias(self, u: np.ndarray) -> np.ndarray:
        bias = self.weights.user_bias
        return bias[u] if bias is not None else np.zeros(len(u), np.float32)

    # -- top-K ---------------------------------------------------------------------------

    def recommend(
        self,
        users: Sequence,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: Sequence | None = None,
        chunk_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` movies with the highest predicted rating for each user.

        Args:
            users: raw user ids (one id is accepted too).
            k: list length.
            exclude_seen: leave out movies the user rated in training.
            exclude: raw movie ids to leave out for everyone (ids the model does not know
                cannot be recommended anyway and are ignored).
            chunk_size: users scored at once (default: about 4M scores per chunk).

        Returns:
            ``(movie_ids, ratings)`` of shape ``(len(users), k)``, best first. A user with
            fewer than ``k`` candidates gets padded slots: rating NaN and movie id -1
            (integer ids) or "" (string ids).

        Raises:
            UnknownIdError: a user id the model does not know.
        """
        indices, ratings = self.recommend_indices(
            self.user_indices(users), k, exclude_seen=exclude_seen,
            exclude=self.movie_indices(exclude or [], unknown="drop"), chunk_size=chunk_size)
        return self._movie_ids(indices), ratings

    def recommend_indices(
        self,
        user_indices: np.ndarray,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: np.ndarray | None = None,
        chunk_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` on indices: movie indices (-1 padding) and ratings (NaN)."""
        k = _check_k(k)
        users = np.asarray(user_indices, dtype=np.int64).reshape(-1)
        chunk = chunk_size or max(1, CHUNK_ELEMENTS // self._scorer.n_padded)
        items = np.empty((len(users), k), dtype=np.int64)
        ratings = np.empty((len(users), k), dtype=np.float32)
        for start in range(0, len(users), chunk):
            part = users[start: start + chunk]
            raw = self._scorer.raw_rows(self.weights.user_vectors[part], self._user_bias(part))
            if exclude is not None and len(exclude):
                raw[:, exclude] = EXCLUDED
            if exclude_seen:
                rows, cols = self._seen_pairs(part)
                raw[rows, cols] = EXCLUDED
            items[start: start + len(part)], ratings[start: start + len(part)] = \
                self._finish(raw, k)
        return items, ratings

    def _seen_pairs(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in ``users``, movie index) of every training rating of ``users``."""
        starts, ends = self._seen_ptr[users], self._seen_ptr[users + 1]
        lengths = ends - starts
        rows = np.repeat(np.arange(len(users)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return rows, self._seen_movies[np.repeat(starts, lengths) + offsets]

    def _finish(self, raw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        items, values = _top_k_rows(raw, k)
        ratings = self._scorer.to_rating(values)
        ratings[items < 0] = np.nan
        return items, ratings

    def _movie_ids(self, indices: np.ndarray) -> np.ndarray:
        encoder = self.encoders.movies
        padding: Any = -1 if encoder.kind == "int" else ""
        ids = encoder.inverse(np.where(indices >= 0, indices, 0))
        ids = np.where(indices >= 0, ids, padding)
        return ids.astype(np.int64) if encoder.kind == "int" else ids.astype(object)

    # -- cold start ----------------------------------------------------------------------

    def fold_in(self, ratings: Mapping[Any, float], *, reg: float = 1.0, steps: int = 300,
                learning_rate: float = 0.1) -> tuple[np.ndarray, float]:
        """A user vector and bias for a new user from their ratings, without retraining.

        Movie vectors, biases and the network stay frozen; only the new user's parameters
        are fitted, shrunk towards the average trained user (the prior) so that one or two
        ratings give a sensible, not extreme, user.

        * ``dot``: ridge regression of the ratings on the rated movies' vectors,
          ``min_u sum_j (u . m_j - r_j)^2 + lam |u - u0|^2``.
        * ``dot-bias`` and ``recommender-net`` (sigmoid outputs): the same least squares in
          logit space. Each rating is scaled to ``p = (r - min) / (max - min)``, clipped to
          ``[0.05, 0.95]`` (a 5-star rating would otherwise need an infinite logit) and
          turned into ``t = log(p / (1 - p))``; then
          ``min_{u, b} sum_j (u . m_j + b + b_j - t_j)^2 + lam |u - u0|^2 + reg (b - b0)^2``,
          solved in closed form.
        * ``mlp``: ``h`` is not linear in ``u``, so ``u`` is found by ``steps`` steps of
          Adam (numpy, analytic gradient) on the squared rating error through the frozen
          network, from ``u0``, plus the penalty ``reg |u - u0|^2 / s2`` where ``s2`` is the
          mean squared distance of trained users from ``u0``. ``learning_rate`` is in units
          of the typical spread of one coordinate of a trained user vector.

        ``u0`` and ``b0`` are the mean vector and bias of the users with training ratings;
        ``lam = reg * mean |m|^2 / F``, so ``reg`` counts as that many pseudo-ratings of
        prior in each direction.

        Args:
            ratings: raw movie id -> rating; every id must be known to the model.
            reg: prior strength, see above.
            steps, learning_rate: the mlp's gradient descent.

        Returns:
            ``(user_vector, user_bias)``; the bias is 0.0 for models without biases.

        Raises:
            MovierecError: no ratings, or a rating outside the rating range.
            UnknownIdError: a movie the model does not know.
        """
        if not ratings:
            raise MovierecError("rate at least one movie to get recommendations")
        movies = self.movie_indices(list(ratings.keys()))
        values = np.asarray(list(ratings.values()), dtype=np.float64)
        low, high = self.rating_range
        if not np.all(np.isfinite(values)) or (values < low).any() or (values > high).any():
            raise MovierecError(f"ratings must lie in the rating range [{low:g}, {high:g}]; "
                                f"got {sorted(set(values.tolist()))}")
        w = self.weights
        movie_vectors = w.movie_vectors[movies].astype(np.float64)
        lam = reg * float(np.mean(np.sum(w.movie_vectors.astype(np.float64) ** 2, axis=1))) \
            / w.factors
        lam = max(lam, 1e-8)
        if w.is_mlp:
            return self._fold_in_mlp(movies, values, reg, steps, learning_rate), 0.0
        prior = self._user_prior.astype(np.float64)
        if w.link == "linear":
            gram = movie_vectors.T @ movie_vectors + lam * np.eye(w.factors)
            rhs = movie_vectors.T @ values + lam * prior
            return np.linalg.solve(gram, rhs).astype(np.float32), 0.0
        unit = np.clip((values - low) / (high - low), LOGIT_EPS, 1.0 - LOGIT_EPS)
        target = np.log(unit / (1.0 - unit))
        if w.movie_bias is not None:
            target = target - w.movie_bias[movies]
        design = np.column_stack([movie_vectors, np.ones(len(movies))])
        penalty = np.full(w.factors + 1, lam)
        penalty[-1] = max(reg, 1e-8)
        prior_full = np.append(prior, self._bias_prior)
        if w.user_bias is None:  # no bias to fit: pin it at zero
            penalty[-1], prior_full[-1] = 1e12, 0.0
        gram = design.T @ design + np.diag(penalty)
        rhs = design.T @ target + penalty * prior_full
        solution = np.linalg.solve(gram, rhs)
        return solution[:-1].astype(np.float32), float(solution[-1])

    def _fold_in_mlp(self, movies: np.ndarray, values: np.ndarray, reg: float, steps: int,
                     learning_rate: float) -> np.ndarray:
        w, s = self.weights, self._scorer
        low, high = self.rating_range
        prior = self._user_prior.astype(np.float64)
        spread = max(self._user_spread, 1e-6)
        step = learning_rate * np.sqrt(spread / w.factors)
        kernel = s.user_kernel.astype(np.float64)                      # (F, H)
        movie_hidden = s.movie_hidden_t[:, movies].T.astype(np.float64)  # (n, H)
        hidden_bias = w.hidden_bias.astype(np.float64)
        out = w.output_kernel.astype(np.float64)
        u = prior.copy()
        m1, m2 = np.zeros_like(u), np.zeros_like(u)
        beta1, beta2 = 0.9, 0.999
        for t in range(1, steps + 1):
            pre = u @ kernel + hidden_bias + movie_hidden               # (n, H)
            active = pre > 0
            z = np.where(active, pre, 0.0) @ out + w.output_bias
            p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
            error = low + (high - low) * p - values
            dz = 2.0 * error * (high - low) * p * (1.0 - p)               # d loss / d z
            grad = kernel @ ((dz[:, None] * active * out[None, :]).sum(axis=0))
            grad += 2.0 * reg * (u - prior) / spread
            m1 = beta1 * m1 + (1 - beta1) * grad
            m2 = beta2 * m2 + (1 - beta2) * grad**2
            u -= step * (m1 / (1 - beta1**t)) / (np.sqrt(m2 / (1 - beta2**t)) + 1e-12)
        return u.astype(np.float32)

    def recommend_new_user(self, ratings: Mapping[Any, float], k: int = 10, *,
                           exclude: Sequence | None = None, reg: float = 1.0
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` for a user the model never saw, from a few ratings (:meth:`fold_in`).

        The rated movies and ``exclude`` are left out. Returns 1-D ``(movie_ids, ratings)``.
        """
        k = _check_k(k)
        vector, bias = self.fold_in(ratings, reg=reg)
        raw = self._scorer.raw_rows(vector[None, :], np.array([bias], np.float32))
        skip = np.concatenate([self.movie_indices(list(ratings.keys())),
                               self.movie_indices(exclude or [], unknown="drop")])
        raw[0, skip] = EXCLUDED
        items, predicted = self._finish(raw, k)
        return self._movie_ids(items)[0], predicted[0]

    def predict_new_user(self, ratings: Mapping[Any, float], movies: Sequence, *,
                         reg: float = 1.0) -> np.ndarray:
        """Predicted ratings of ``movies`` for a new user given by ``ratings``."""
        vector, bias = self.fold_in(ratings, reg=reg)
        m = self.movie_indices(movies)
        raw = self._scorer.raw_pairs(np.repeat(vector[None, :], len(m), axis=0),
                                     np.full(len(m), bias, np.float32), m)
        return self._scorer.to_rating(raw)

    # -- other lists ---------------------------------------------------------------------

    def popular(self, k: int = 10, exclude: Sequence | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """The best-liked popular movies: highest mean training rating, damped.

        Each movie's mean rating is pulled towards the global mean by ``DAMPING`` (20)
        pseudo-ratings, ``(sum + 20 * mean) / (count + 20)``, so a movie needs many good
        ratings to rank high and one 5-star rating is not enough. This is the fallback for
        users the model does not know. Returns 1-D ``(movie_ids, damped_means)``.
        """
        k = _check_k(k)
        scores = np.where(self.movie_counts > 0, self.damped_means, EXCLUDED).astype(np.float32)
        skip = self.movie_indices(exclude or [], unknown="drop")
        scores[skip] = EXCLUDED
        padded = np.full((1, self._scorer.n_padded), EXCLUDED, dtype=np.float32)
        padded[0, : self.n_movies] = scores
        items, values = _top_k_rows(padded, k)
        values = np.where(items >= 0, values, np.nan).astype(np.float32)
        return self._movie_ids(items)[0], values[0]

    def similar_movies(self, movie_id: Any, k: int = 10, *, min_ratings: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` movies whose learned vectors are closest in cosine similarity.

        Args:
            movie_id: a raw movie id.
            k: list length.
            min_ratings: only movies with at least this many training ratings, so that
                barely rated movies (whose vectors are mostly their initialization) do
                not dominate.

        Returns:
            1-D ``(movie_ids, cosine_similarities)``, most similar first; the movie itself
            is left out.
        """
        k = _check_k(k)
        if min_ratings < 0:
            raise MovierecError(f"min-ratings must not be negative, not {min_ratings}")
        index = int(self.movie_indices([movie_id])[0])
        unit = self._unit_movies()
        sims = np.full((1, self._scorer.n_padded), EXCLUDED, dtype=np.float32)
        sims[0, : self.n_movies] = unit @ unit[index]
        sims[0, index] = EXCLUDED
        if min_ratings:
            sims[0, : self.n_movies][self.movie_counts < min_ratings] = EXCLUDED
        items, values = _top_k_rows(sims, k)
        values = np.where(items >= 0, values, np.nan).astype(np.float32)
        return self._movie_ids(items)[0], values[0]

    def _unit_movies(self) -> np.ndarray:
        if self._movie_unit is None:
            vectors = self.weights.movie_vectors
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._movie_unit = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return self._movie_unit

    def user_top_rated(self, user: Any, n: int = 10) -> pd.DataFrame:
        """The user's highest training ratings, most recent first among equal ratings.

        Returns:
            ``movie_id, title, year, genres, rating`` (at most ``n`` rows; none for a user
            with no training ratings).

        Raises:
            UnknownIdError: an unknown user.
        """
        index = int(self.user_indices([user])[0])
        start, end = self._seen_ptr[index], self._seen_ptr[index + 1]
        movies = self._seen_movies[start:end]
        ratings = self._seen_ratings[start:end]
        order = np.lexsort((-self._seen_stamps[start:end], -ratings))[: max(n, 0)]
        frame = self.catalog.describe(self.encoders.movies.inverse(movies[order]).tolist())
        frame["rating"] = ratings[order].astype(float)
        return frame

    def n_train_ratings(self, user: Any) -> int:
        """How many training ratings ``user`` has (0 means an untrained vector)."""
        index = int(self.user_indices([user])[0])
        return int(self._seen_ptr[index + 1] - self._seen_ptr[index])


# --------------------------------------------------------------------------------------------
# Ranking evaluation
# --------------------------------------------------------------------------------------------


def ranking_report(recommender: Recommender, split: Split, k: int = 10,
                   threshold: float | None = 4.0) -> dict[str, float]:
    """Rating error and top-K quality of ``recommender`` on ``split.test``.

    Movies rated in ``split.train`` are excluded from the lists; a test movie is relevant
    when rated ``>= threshold`` (``None``: every test movie). Movies are ranked as
    :meth:`Recommender.recommend` ranks them.

    Returns:
        ``rmse``, ``mae`` (on every test rating) and the metrics of
        :func:`movierec.evaluation.rank_evaluate`: ``precision@k``, ``recall@k``,
        ``ndcg@k``, ``map@k``, ``hit_rate@k``, ``mrr@k``, ``coverage@k``, ``novelty@k``,
        ``arp@k``, ``users_evaluated``, ``users_without_relevant``, ``k``.
    """
    from movierec import metrics
    from movierec.evaluation import evaluate_split

    encoders = recommender.encoders
    pairs = encoders.encode(split.test)
    predicted = recommender.predict_indices(pairs[:, 0], pairs[:, 1])
    truth = split.test["rating"].to_numpy(np.float64)
    report = {"rmse": metrics.rmse(truth, predicted), "mae": metrics.mae(truth, predicted)}
    report.update(evaluate_split(recommender.ranking_scores, split, encoders, k=k,
                                 relevance_threshold=threshold))
    return report


def baseline_ranking_reports(split: Split, encoders: Encoders, k: int = 10,
                             threshold: float | None = 4.0, *, seed: int = 0
                             ) -> dict[str, dict[str, float]]:
    """The same top-K metrics for the popularity and random baselines on ``split``.

    ``popularity`` ranks by number of training ratings (the same list for everyone, minus
    what each user has seen); ``random`` by uniform random scores (seeded).
    """
    from movierec.evaluation import evaluate_split, popularity_scorer, random_scorer

    train = encoders.encode(split.train)
    n_movies = len(encoders.movies)
    scorers = {"popularity": popularity_scorer(train, n_movies),
               "random": random_scorer(n_movies, seed=seed)}
    return {name: evaluate_split(score, split, encoders, k=k, relevance_threshold=threshold)
            for name, score in scorers.items()}


def holdout_split(run: Run, dataset: Any) -> Split:
    """The run's train/test split of ``dataset``, recovered exactly.

    If the run's config records ``split_seed`` and ``test_size`` (in its ``data`` section),
    the split is recreated with ``random_split(dataset.ratings, test_size, split_seed)``
    and checked against the saved training ratings. Otherwise (runs saved so far record
    neither), the held-out part is every rating of ``dataset`` whose (user, movie) pair is
    not among the run's saved training ratings, which is exactly the test part of any split
    that partitions the ratings (random, temporal, leave-last, k-fold).

    Raises:
        MovierecError: ``dataset`` is not the data the run was trained on.
    """
    from movierec.splits import Split, random_split

    data = run.data
    ratings = dataset.ratings
    train_keys = pd.MultiIndex.from_frame(run.train_ratings[["user_id", "movie_id"]])
    seed, test_size = data.get("split_seed"), data.get("test_size")
    if data.get("split") == "random" and seed is not None and test_size is not None:
        split = random_split(ratings, test_size, int(seed))
        same = (len(split.train) == len(train_keys) and pd.MultiIndex.from_frame(
            split.train[["user_id", "movie_id"]]).isin(train_keys).all())
        if same:
            return split
    in_train = pd.MultiIndex.from_frame(ratings[["user_id", "movie_id"]]).isin(train_keys)
    found = int(in_train.sum())
    hint = ("evaluate with the dataset the run was trained on "
            f"({data.get('dataset', 'see its config.json')})")
    if found != len(train_keys):
        raise MovierecError(
            f"{len(train_keys) - found:,} of the run's {len(train_keys):,} training ratings "
            f"are not in {getattr(dataset, 'name', 'the data')}; {hint}")
    expected = data.get("n_test")
    if expected is not None and int((~in_train).sum()) != int(expected):
        raise MovierecError(
            f"the run held out {int(expected):,} ratings but {int((~in_train).sum()):,} of "
            f"{getattr(dataset, 'name', 'the data')} are outside its training set; {hint}")
    if not (~in_train).any():
        raise MovierecError("the run has no held-out ratings to evaluate on")
    return Split(ratings[in_train], ratings[~in_train], str(data.get("split", "holdout")))


def leave_last_of_split(split: Split) -> Split:
    """Keep only each user's latest held-out rating as the test set (ties: file order).

    For a run trained on a random split this asks "is the next movie the user rated among
    the top K?" without leaking: the training part stays what the model saw.
    """
    from movierec.splits import Split

    test = split.test
    order = np.argsort(test["timestamp"].to_numpy(), kind="stable")
    latest = test.iloc[order].groupby("user_id", sort=False).tail(1)
    return Split(split.train, latest, f"{split.name}, latest held-out rating per user")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise MovierecError(f"k must be a positive integer, not {k!r}")
    return int(k)


def _as_list(values: Any) -> list[Any]:
    if values is None:
        return []
    if isinstance(values, str | bytes | int | np.integer):
        return [values]
    return list(values)


def _transform(encoder: IdEncoder, ids: list[Any]) -> np.ndarray:
    """Indices of ``ids`` (-1 where unknown); integer ids take the binary-search path."""
    if not ids:
        return np.empty(0, np.int32)
    if encoder.kind == "int" and all(type(value) is int for value in ids):
        return encoder.transform(np.asarray(ids, dtype=np.int64), unknown="mask")
    return encoder.transform(ids, unknown="mask")


def _coerce(encoder: IdEncoder, value: Any) -> Any:
    """``"68"`` -> 68 for integer ids (as typed on a command line or in a URL)."""
    if isinstance(value, np.generic):
        value = value.item()
    if encoder.kind == "int" and isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    if encoder.kind == "str" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value
