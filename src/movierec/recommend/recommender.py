"""The :class:`Recommender`: raw ids in, movies and predicted ratings out.

It ties together the model's scorer (:mod:`movierec.recommend.scorers`: the numpy forward
pass and cold start of one model or a blend), the training ratings
(:mod:`movierec.recommend.history`) and the top-K (:mod:`movierec.topk`), and does the id
bookkeeping.

Top-K for many users works on chunks of users, so memory is bounded by the chunk size times
the number of movies, never by users x movies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from movierec.catalog import Catalog
from movierec.encoding import Encoders
from movierec.errors import MovierecError, UnknownIdError
from movierec.models import model_names, model_spec
from movierec.recommend.cold_start import check_new_ratings
from movierec.recommend.history import RatedMovies, TrainingHistory
from movierec.recommend.ids import encode_ids, first_unknown, raw_ids
from movierec.recommend.scorers import scorer_for
from movierec.recommend.scoring import BlendWeights, ScoringWeights, weights_of
from movierec.topk import EXCLUDED, top_k_rows

if TYPE_CHECKING:
    import keras

    from movierec.runs import Run

__all__ = ["CHUNK_ELEMENTS", "Recommender", "ScoreKind"]

ScoreKind = Literal["rating", "relative"]

CHUNK_ELEMENTS = 1 << 22
"""Scores held in memory at once by default (users per chunk = this / number of movies)."""
PRECOMPUTE_CELLS = 50_000_000
"""Largest users x movies score table :meth:`Recommender.precompute_scores` keeps (200 MB)."""


class Recommender:
    """Scores from the learned weights with numpy (no per-request Keras compile).

    Build one with :meth:`from_run` (a saved run) or :meth:`from_model` (a model in memory,
    e.g. in the comparison). Every method takes and returns *raw* ids (MovieLens ids or the
    strings of a user's file); predicted ratings are in rating units.

    Args:
        weights: the model's weights (:func:`~movierec.recommend.scoring.weights_of`).
        encoders: the run's raw id <-> index maps.
        train_ratings: the ratings the model was trained on (``user_id, movie_id, rating``,
            optionally ``timestamp``, raw ids): excluded from recommendations, shown as a
            user's favourites, and counted for popularity.
        movies: the movie catalogue (``movie_id, title, year, genres``), for
            :attr:`catalog`; None gives an empty catalogue.
        model_name: for messages and reports.
        held_out_ratings: the run's held-out ratings (same columns, raw ids), or None.
            Recommendations also leave these out, so a user is never recommended a movie
            they rated anywhere in the run's data; they are not counted as training
            ratings, and evaluation (which scores them) does not see this exclusion.
    """

    def __init__(
        self,
        weights: ScoringWeights | BlendWeights,
        encoders: Encoders,
        train_ratings: pd.DataFrame,
        movies: pd.DataFrame | None = None,
        *,
        model_name: str = "",
        held_out_ratings: pd.DataFrame | None = None,
    ) -> None:
        _check_consistent(weights, encoders)
        self.weights = weights
        self.encoders = encoders
        self.model_name = model_name
        self.predicts_ratings = (model_name not in model_names()
                                 or model_spec(model_name).predicts_ratings)
        """False for a ranking model (``ease``): its values are relative scores, which
        :meth:`recommend` returns as they are instead of as ratings."""
        self.score_kind: ScoreKind = "rating" if self.predicts_ratings else "relative"
        """What :meth:`recommend`'s values are: ``"rating"`` (predicted ratings) or
        ``"relative"`` (a ranking model's scores: they order movies, are no rating, and
        compare only within one list); what the CLI and the service label them as."""
        self.rating_range = weights.rating_range
        self._history = TrainingHistory.index(train_ratings, encoders, weights.rating_range)
        self._rated: TrainingHistory | RatedMovies = (
            self._history if held_out_ratings is None or not len(held_out_ratings)
            else RatedMovies.index([train_ratings, held_out_ratings], encoders))
        self._scorer = scorer_for(weights, self._history.rated_users())
        self._score_table: np.ndarray | None = None
        if movies is None:
            movies = pd.DataFrame({"movie_id": encoders.movies.ids, "title": ""})
        self.catalog = Catalog(movies, popularity=pd.Series(
            self.movie_counts, index=encoders.movies.ids))

    @classmethod
    def from_run(cls, run: Run) -> Recommender:
        """The recommender of a saved run (:func:`movierec.runs.load_run`).

        Raises:
            MovierecError: the run's model is ``recommender-net-as-published``.
        """
        return cls(weights_of(run.model), run.encoders, run.train_ratings,
                   run.movies, model_name=run.config.model,
                   held_out_ratings=run.test_ratings)

    @classmethod
    def from_model(cls, model: keras.Model, encoders: Encoders, train_ratings: pd.DataFrame,
                   movies: pd.DataFrame | None = None, *,
                   held_out_ratings: pd.DataFrame | None = None) -> Recommender:
        """A recommender for a model in memory (e.g. ``TrainResult.model``)."""
        return cls(weights_of(model), encoders, train_ratings, movies,
                   model_name=getattr(model, "model_name", type(model).__name__),
                   held_out_ratings=held_out_ratings)

    # -- training ratings ----------------------------------------------------------------

    @property
    def movie_counts(self) -> np.ndarray:
        """Training ratings per movie index."""
        return self._history.movie_counts

    @property
    def damped_means(self) -> np.ndarray:
        """Mean training rating per movie index, damped towards the global mean by DAMPING."""
        return self._history.damped_means

    @property
    def global_mean(self) -> float:
        return self._history.global_mean

    def seen(self, user_index: int) -> np.ndarray:
        """Movie indices user ``user_index`` rated in training."""
        return self._history.seen(user_index)

    def rated(self, user_index: int) -> np.ndarray:
        """Movie indices user ``user_index`` rated anywhere in the run's data (training
        and held-out): what :meth:`recommend` leaves out with ``exclude_seen``."""
        return self._rated.seen(user_index)

    def train_ratings_of(self, user_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Movie indices, ratings and timestamps of the training ratings of ``user_index``."""
        return self._history.ratings(user_index)

    def n_train_ratings(self, user: Any) -> int:
        """How many training ratings ``user`` has (0 means an untrained vector)."""
        return self._history.n_ratings(int(self.user_indices([user])[0]))

    def user_top_rated(self, user: Any, n: int = 10) -> pd.DataFrame:
        """The user's highest training ratings, most recent first among equal ratings.

        Returns:
            ``movie_id, title, year, genres, rating`` (at most ``n`` rows; none for a user
            with no training ratings).

        Raises:
            UnknownIdError: an unknown user.
        """
        movies, ratings = self._history.top_rated(int(self.user_indices([user])[0]), n)
        frame = self.catalog.describe(self.encoders.movies.inverse(movies).tolist())
        frame["rating"] = ratings.astype(float)
        return frame

    # -- ids -----------------------------------------------------------------------------

    @property
    def n_users(self) -> int:
        return len(self.encoders.users)

    @property
    def n_movies(self) -> int:
        return len(self.encoders.movies)

    def knows_user(self, user: Any) -> bool:
        """Whether ``user`` (a raw id) is one the model was trained with."""
        return bool(encode_ids(self.encoders.users, [user])[1][0] >= 0)

    def user_indices(self, users: Any) -> np.ndarray:
        """Indices of raw user ids (strings of digits are accepted for integer ids).

        Raises:
            UnknownIdError: naming the first unknown id.
        """
        ids, indices = encode_ids(self.encoders.users, users)
        if (indices < 0).any():
            raise UnknownIdError(
                f"unknown user id {first_unknown(ids, indices)!r}: the model was trained on "
                f"{self.n_users:,} other users and has no vector for this one"
            )
        return indices.astype(np.int64)

    def movie_indices(self, movies: Any, *, unknown: Literal["raise", "drop"] = "raise"
                      ) -> np.ndarray:
        """Indices of raw movie ids; unknown ids raise or, with ``"drop"``, are left out."""
        ids, indices = encode_ids(self.encoders.movies, movies)
        if unknown == "drop":
            return indices[indices >= 0].astype(np.int64)
        if (indices < 0).any():
            raise UnknownIdError(
                f"unknown movie id {first_unknown(ids, indices)!r}: nobody rated it in the "
                "data the model was trained on, so it has no learned vector"
            )
        return indices.astype(np.int64)

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
        return self._scorer.to_rating(self._scorer.pairs(u, m))

    def score_users(self, user_indices: np.ndarray) -> np.ndarray:
        """``(n, n_movies)`` predicted ratings of every movie for users given by index.

        A scorer in the sense of :mod:`movierec.evaluation`; the caller chunks the users.
        """
        return self._scorer.to_rating(self.ranking_scores(user_indices))

    def ranking_scores(self, user_indices: np.ndarray) -> np.ndarray:
        """``(n, n_movies)`` scores before the sigmoid and clipping: the order
        :meth:`recommend` ranks by, without ties from saturation. Also an evaluation scorer.
        """
        return self._rows(np.asarray(user_indices, dtype=np.int64))

    def precompute_scores(self, max_cells: int = PRECOMPUTE_CELLS) -> bool:
        """Score every known user once and keep the table, if it has at most ``max_cells``.

        Afterwards a known user's scores are a row lookup: what a service wants from a
        model that is slow to score, such as a blend (each of its members scores every
        user). Returns whether the table was kept.
        """
        if self.n_users * self.n_movies > max_cells:
            return False
        chunk = max(1, CHUNK_ELEMENTS // self.n_movies)
        self._score_table = np.concatenate([
            self._scorer.rows(np.arange(start, min(start + chunk, self.n_users)))
            for start in range(0, self.n_users, chunk)])
        return True

    def _rows(self, users: np.ndarray) -> np.ndarray:
        """Raw scores of every movie for ``users``: a fresh array the caller may modify."""
        if self._score_table is not None:
            return self._score_table[users]   # fancy indexing copies
        return self._scorer.rows(users)

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
            exclude_seen: leave out movies the user rated: in training and, for a run
                with held-out ratings, in the held-out part too.
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
        return raw_ids(self.encoders.movies, indices), ratings

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
        chunk = chunk_size or max(1, CHUNK_ELEMENTS // self.n_movies)
        items = np.empty((len(users), k), dtype=np.int64)
        ratings = np.empty((len(users), k), dtype=np.float32)
        for start in range(0, len(users), chunk):
            part = users[start: start + chunk]
            raw = self._rows(part)
            if exclude is not None and len(exclude):
                raw[:, exclude] = EXCLUDED
            if exclude_seen:
                raw[self._rated.seen_pairs(part)] = EXCLUDED
            items[start: start + len(part)], ratings[start: start + len(part)] = \
                self._best(raw, k, as_ratings=True)
        return items, ratings

    def _best(self, scores: np.ndarray, k: int, *, as_ratings: bool
              ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` indices of each row of ``scores`` and their values (NaN padding), as
        ratings when ``scores`` are raw scores."""
        items, values = top_k_rows(scores, k)
        if as_ratings and self.predicts_ratings:
            values = self._scorer.to_rating(values)
        return items, np.where(items >= 0, values, np.nan).astype(np.float32)

    def _best_movies(self, scores: np.ndarray, k: int, *, as_ratings: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_best` of one row of scores per movie, as 1-D raw ids and values."""
        items, values = self._best(scores[None, :], k, as_ratings=as_ratings)
        return raw_ids(self.encoders.movies, items)[0], values[0]

    # -- cold start ----------------------------------------------------------------------

    def fold_in(self, ratings: Mapping[Any, float], *, reg: float = 1.0, steps: int = 300,
                learning_rate: float = 0.1) -> Any:
        """A user vector and bias for a new user from their ratings, without retraining.

        The maths, per model, is in :mod:`movierec.recommend.cold_start`: ridge (``dot``,
        ``autorec``, ``u-autorec``), ridge in logit space (``dot-bias``, ``recommender-net``)
        or Adam through the frozen network (``mlp``), each shrunk towards the average trained
        user; a model with its own rule (:class:`movierec.models.fold_in.FoldIn`, e.g.
        ``ease``: the user's weighted history row) uses it. A blend folds the user into
        each member.

        Args:
            ratings: raw movie id -> rating; every id must be known to the model.
            reg: prior strength (``reg`` pseudo-ratings of prior in each direction).
            steps, learning_rate: the mlp's gradient descent.

        Returns:
            ``(user_vector, user_bias)``; the bias is 0.0 for models without biases. For a
            blend, a :class:`~movierec.recommend.scorers.BlendUser`: one such pair per
            member, and the user's support feature.

        Raises:
            MovierecError: no ratings, or a rating outside the rating range.
            UnknownIdError: a movie the model does not know.
        """
        movies = self.movie_indices(list(ratings.keys()))
        values = np.asarray(list(ratings.values()), dtype=np.float64)
        check_new_ratings(values, self.rating_range)
        return self._scorer.fold_in(movies, values, reg=reg, steps=steps,
                                    learning_rate=learning_rate)

    @property
    def fold_in_method(self) -> str:
        """How :meth:`fold_in` fits a new user, in words."""
        return self._scorer.fold_in_method

    def recommend_new_user(self, ratings: Mapping[Any, float], k: int = 10, *,
                           exclude: Sequence | None = None, reg: float = 1.0
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` for a user the model never saw, from a few ratings (:meth:`fold_in`).

        The rated movies and ``exclude`` are left out. Returns 1-D ``(movie_ids, values)``:
        predicted ratings, or a ranking model's relative scores (:attr:`predicts_ratings`).
        """
        movies = self.movie_indices(list(ratings.keys()))
        values = np.asarray(list(ratings.values()), dtype=np.float64)
        return self.recommend_folded(movies, values, k, reg=reg,
                                     exclude=self.movie_indices(exclude or [], unknown="drop"))

    def recommend_folded(self, movies: np.ndarray, values: np.ndarray, k: int = 10, *,
                         exclude: np.ndarray | None = None, reg: float = 1.0
                         ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend_new_user` on movie indices (``movies``, distinct) and their
        ratings; ``exclude`` holds more movie indices to leave out."""
        k = _check_k(k)
        check_new_ratings(values, self.rating_range)
        user: Any = self._scorer.fold_in(movies, values, reg=reg, steps=300,
                                         learning_rate=0.1)
        raw = self._scorer.new_user_rows(user)
        raw[movies] = EXCLUDED
        if exclude is not None and len(exclude):
            raw[exclude] = EXCLUDED
        return self._best_movies(raw, k, as_ratings=True)

    def predict_new_user(self, ratings: Mapping[Any, float], movies: Sequence, *,
                         reg: float = 1.0) -> np.ndarray:
        """Predicted ratings of ``movies`` for a new user given by ``ratings``.

        Raises:
            MovierecError: the model is a ranking model (it predicts no rating).
        """
        if not self.predicts_ratings:
            raise MovierecError(f"{self.model_name} is a ranking model: it predicts no "
                                "ratings, for a new user either")
        user = self.fold_in(ratings, reg=reg)
        return self._scorer.to_rating(
            self._scorer.new_user_pairs(user, self.movie_indices(movies)))

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
        scores[self.movie_indices(exclude or [], unknown="drop")] = EXCLUDED
        return self._best_movies(scores, k)

    def similar_movies(self, movie_id: Any, k: int = 10, *, min_ratings: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` movies whose learned vectors are closest in cosine similarity (for a
        blend, the mean of its members' cosine similarities; for a model with its own
        ``similarity_vectors``, e.g. ``ease``'s who-rated-what columns, those).

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
        sims = self._scorer.similarities(index)
        sims[index] = EXCLUDED
        if min_ratings:
            sims[self.movie_counts < min_ratings] = EXCLUDED
        return self._best_movies(sims, k)


def _check_consistent(weights: ScoringWeights | BlendWeights, encoders: Encoders) -> None:
    """The weight tables (every member's, for a blend) must have one row per id the
    encoders know."""
    members = weights.members if isinstance(weights, BlendWeights) else (weights,)
    for member in members:
        _check_tables(member, encoders)


def _check_tables(weights: ScoringWeights, encoders: Encoders) -> None:
    for kind, table, encoder in (("user", weights.user_vectors, encoders.users),
                                 ("movie", weights.movie_vectors, encoders.movies)):
        if table.shape[0] != len(encoder):
            raise MovierecError(
                f"the model has {table.shape[0]} {kind} rows but the encoders know "
                f"{len(encoder)} {kind}s; the run is inconsistent, retrain it"
            )


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise MovierecError(f"k must be a positive integer, not {k!r}")
    return int(k)
