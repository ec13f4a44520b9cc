"""What the endpoints share: the loaded run, its recommender and how each kind of scoring runs.

:class:`ServiceState` holds the recommender (anything with the :class:`ServiceRecommender`
methods; :class:`~movierec.recommend.Recommender` is one), the movie table as plain dicts,
the known users' score table (:meth:`ServiceState.warm` precomputes it where it fits in
memory), the seconds each kind of scoring took at warm-up, and from those the kinds that run
inline on the event loop (:meth:`ServiceState.decide_inline`); the others run in the
thread pool.
"""

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

import anyio.to_thread
import numpy as np
import pandas as pd

import movierec
from movierec.checks import plain
from movierec.errors import MovierecError, UnknownIdError
from movierec.ids import IdKind, parse_id
from movierec.measure import release_freed_memory
from movierec.recommend.fallback import PopularSource, fallback_reason, popular_fallback
from movierec.recommend.feedback import recommend_with_feedback
from movierec.service import schemas as s

if TYPE_CHECKING:
    from movierec.runs import RunInfo
    from movierec.store import StoredRating

__all__ = ["DEFAULT_INLINE_MS", "ServiceRecommender", "ServiceState", "load"]

FEEDBACK_CACHE = 4096
"""Lists of users with stored ratings kept, each for as long as their stored ratings stay."""

DEFAULT_INLINE_MS = 1.0
"""Scoring calls measured faster than this at warm-up run on the event loop."""

_NO_GENRES = {"", "(no genres listed)"}


class ServiceRecommender(PopularSource, Protocol):
    """What the service needs of its recommender (:class:`~movierec.recommend.Recommender`
    has all of it): the popular fallback's members (:class:`PopularSource`) and these."""

    model_name: str
    score_kind: Any
    rating_range: Any
    catalog: Any

    def user_top_rated(self, user: Any, n: int = 10) -> pd.DataFrame: ...

    def recommend_indices(self, user_indices: np.ndarray, k: int) -> tuple[Any, Any]: ...

    def recommend_new_user(self, ratings: Mapping[Any, float], k: int = 10) -> tuple[Any, Any]:
        ...

    def similar_movies(self, movie_id: Any, k: int = 10, *, min_ratings: int = 0
                       ) -> tuple[Any, Any]: ...

    def predict(self, users: Sequence, movies: Sequence) -> np.ndarray: ...

    def precompute_scores(self) -> bool: ...


class ServiceState:
    """What the endpoints share: the recommender, the movie table and the run's facts.

    Built once per app; every method is safe to call from several threads at once (all of
    them only read the loaded arrays and tables).

    Attributes:
        inline: the kinds of scoring :meth:`call` runs on the event loop (set by
            :meth:`decide_inline` from :meth:`warm`'s timings); others run in a worker thread.
        scoring_seconds: kind of scoring -> seconds, as :meth:`warm` timed them (empty if
            not warmed).
    """

    def __init__(self, recommender: ServiceRecommender, info: "RunInfo | None" = None, *,
                 run_id: str = "", store_seq: int | None = None) -> None:
        self.recommender = recommender
        self.info = info
        """The run's facts (None when serving a Recommender built in memory)."""
        self.run_id = run_id or "in-memory"
        """Which run is serving: changes with every run saved (:attr:`Run.run_id`)."""
        self.store_seq = store_seq
        """The ratings store's sequence number the run was trained up to (a retrain's run),
        else None."""
        self.model_name = str(getattr(recommender, "model_name", "") or "unknown")
        self.dataset = info.dataset if info is not None else "unknown"
        self.users = recommender.encoders.users
        self.movies_encoder = recommender.encoders.movies
        self.low, self.high = (float(x) for x in recommender.rating_range)
        self._catalog = _movie_lookup(recommender.catalog.movies)
        self.catalog = recommender.catalog
        self.user_ids = self.users.ids
        # Plain dicts and lists, so that a request maps ids without numpy or pandas calls.
        self._user_index = {raw: i for i, raw in enumerate(self.user_ids.tolist())}
        movie_ids = self.movies_encoder.ids.tolist()
        self._movie_index = {raw: i for i, raw in enumerate(movie_ids)}
        self._movie_at = [self.movie(raw) for raw in movie_ids]
        self.user_top_rated = lru_cache(maxsize=8192)(self._user_top_rated)
        self._feedback_cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._feedback_lock = threading.Lock()
        self.inline: set[str] = set()
        self.scoring_seconds: dict[str, float] = {}
        self.score_kind: str = getattr(recommender, "score_kind", "rating")
        """``"rating"`` or ``"relative"`` (a ranking model's run): what recommendation
        scores are, in every recommendation answer and in /health."""

    def decide_inline(self, inline_ms: float) -> None:
        """Run inline the kinds of scoring that :meth:`warm` timed under ``inline_ms``."""
        self.inline = {kind for kind, seconds in self.scoring_seconds.items()
                       if seconds * 1000.0 < inline_ms}

    @cached_property
    def health(self) -> s.Health:
        """The body of ``GET /health`` (the same for the whole life of the app)."""
        return s.Health(
            model=self.model_name,
            dataset=self.dataset,
            n_users=len(self.users),
            n_movies=len(self.movies_encoder),
            n_ratings=int(np.sum(self.recommender.movie_counts)),
            n_catalog=len(self._catalog),
            rating_scale=[self.low, self.high],
            id_type=self.users.kind,
            score_kind=self.score_kind,
            version=movierec.__version__,
            run_id=self.run_id,
            run_store_seq=self.store_seq,
        )

    async def call(self, kind: str, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on the event loop if ``kind`` is in :attr:`inline`, else in a
        worker thread."""
        if kind in self.inline:
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args)

    # -- ids ------------------------------------------------------------------------------
    def user_id(self, raw: Any) -> Any:
        """``raw`` (a path segment or JSON value) as a known user id; else UnknownIdError."""
        return _known_id(raw, self.users.kind, self._user_index, "user id")

    def movie_id(self, raw: Any) -> Any:
        """``raw`` as a movie id the model can score; else UnknownIdError."""
        return _known_id(raw, self.movies_encoder.kind, self._movie_index, "movie id")

    def rateable_movie_id(self, raw: Any) -> Any:
        """``raw`` as a movie a user may rate: one the model scores, or one of the
        catalogue's that it does not score yet (stored, it becomes scorable at the next
        retrain); else UnknownIdError."""
        value = parse_id(raw, self.movies_encoder.kind)
        if value is None or (value not in self._movie_index and value not in self._catalog):
            raise UnknownIdError(f"unknown movie id {_shown(raw)}: it is neither in the "
                                 "model nor in the catalogue")
        return value

    # -- movies ---------------------------------------------------------------------------
    def movie(self, movie_id: Any) -> dict[str, Any]:
        """The catalogue entry of ``movie_id`` as a plain dict (a placeholder if untitled)."""
        key = plain(movie_id)
        found = self._catalog.get(key)
        if found is None:
            return {"movie_id": key, "title": f"Movie {key}", "year": None, "genres": []}
        return dict(found)

    def scored(self, ids: Iterable[Any], scores: Iterable[Any]) -> list[dict[str, Any]]:
        """Movies with their scores, dropping any score that is not a finite number."""
        rows = []
        for movie_id, score in zip(ids, scores, strict=True):
            value = float(score)
            if math.isfinite(value):
                rows.append({**self.movie(movie_id), "score": value})
        return rows

    def search(self, query: str, limit: int) -> list[Any]:
        """Ids of the movies the model can score whose titles best match ``query``."""
        found = (plain(m) for m in self.catalog.search(query, limit * 4)["movie_id"])
        return [movie_id for movie_id in found if movie_id in self._movie_index][:limit]

    # -- the recommender, with results as plain Python values -------------------------
    def _user_top_rated(self, user_id: Any, n: int) -> tuple[dict[str, Any], ...]:
        if n == 0:
            return ()
        frame = self.recommender.user_top_rated(user_id, n=n)
        return tuple(
            {**self.movie(movie_id), "rating": float(rating)}
            for movie_id, rating in zip(frame["movie_id"], frame["rating"], strict=True)
        )

    def user_recommendations(self, user_id: Any, k: int, top: int) -> dict[str, Any]:
        """The body of ``GET /users/{user_id}/recommendations``."""
        return {"user_id": user_id, "k": k, "top_rated": list(self.user_top_rated(user_id, top)),
                "recommendations": self.recommend(user_id, k), "score_kind": self.score_kind}

    def stored_user(self, raw: Any) -> Any:
        """``raw`` as a user id the ratings store may hold: any id of the run's id type,
        known to the model or not; else UnknownIdError."""
        value = parse_id(raw, self.users.kind)
        if value is None:
            raise UnknownIdError(f"{_shown(raw)} is not a user id of this run (its ids are "
                                 f"{'integers' if self.users.kind == 'int' else 'strings'})")
        return value

    def feedback_recommendations(self, user_id: Any, stored: "list[StoredRating]", k: int,
                                 top: int) -> dict[str, Any]:
        """The body of ``GET /users/{user_id}/recommendations`` for a user with stored
        ratings: from their training and stored ratings
        (:func:`movierec.recommend.feedback.recommend_with_feedback`). Kept while the
        user's stored ratings stay the same (same count, same latest write)."""
        key = (user_id, k, top, len(stored), max(r.seq for r in stored))
        with self._feedback_lock:
            found = self._feedback_cache.get(key)
            if found is not None:
                self._feedback_cache.move_to_end(key)
                return found
        answer = recommend_with_feedback(
            self.recommender,  # type: ignore[arg-type]
            user_id, [(r.movie_id, r.rating, r.timestamp) for r in stored], k, top=top)
        body = {"user_id": user_id, "k": k,
                "top_rated": [{**self.movie(m), "rating": float(r)}
                              for m, r in answer.top_rated],
                "recommendations": self.scored(answer.movie_ids.tolist(),
                                               answer.values.tolist()),
                "score_kind": self.score_kind, "folded_in": answer.folded_in}
        with self._feedback_lock:
            self._feedback_cache[key] = body
            while len(self._feedback_cache) > FEEDBACK_CACHE:
                self._feedback_cache.popitem(last=False)
        return body

    def fallback_reason(self, raw: Any) -> str | None:
        """Why the user ``raw`` gets no personal recommendations (unknown to the model, or
        known without training ratings), or None when they do
        (:func:`movierec.recommend.fallback.fallback_reason`)."""
        return fallback_reason(self.recommender, raw)

    def popular_recommendations(self, raw: Any, k: int, reason: str) -> dict[str, Any]:
        """The body of ``GET /users/{user_id}/recommendations?fallback=popular`` for a user
        with no personal recommendations: the ``k`` best-liked popular movies
        (:func:`movierec.recommend.fallback.popular_fallback`), scored by their damped mean
        rating and labelled as a fallback. Such a user has no training ratings to show."""
        try:
            user_id = self.user_id(raw)
        except UnknownIdError:
            user_id = _echoed_id(raw, self.users.kind)
        found = popular_fallback(self.recommender, k, reason=reason)
        return {"user_id": user_id, "k": k, "top_rated": [],
                "recommendations": self.scored(found.movie_ids.tolist(),
                                               found.mean_ratings.tolist()),
                "score_kind": "rating", "fallback": "popular", "note": found.note}

    def new_user_recommendations(self, ratings: dict[Any, float], k: int) -> dict[str, Any]:
        """The body of ``POST /recommendations`` for known movie ids and their ratings."""
        ids, scores = self.recommender.recommend_new_user(ratings, k=k)
        return {"k": k, "n_ratings": len(ratings),
                "recommendations": self.scored(np.ravel(ids), np.ravel(scores)),
                "score_kind": self.score_kind}

    def similar(self, movie_id: Any, k: int, min_ratings: int) -> dict[str, Any]:
        """The body of ``GET /movies/{movie_id}/similar``."""
        ids, scores = self.recommender.similar_movies(movie_id, k=k, min_ratings=min_ratings)
        return {"movie": self.movie(movie_id), "k": k,
                "similar": self.scored(np.ravel(ids), np.ravel(scores))}

    def predictions(self, users: list[Any], movies: list[Any]) -> dict[str, Any]:
        """The body of ``POST /predict``: ratings clipped to the range, NaN as the lowest."""
        ratings = np.asarray(self.recommender.predict(users, movies), dtype=np.float64)
        ratings = np.clip(np.nan_to_num(ratings, nan=self.low), self.low, self.high)
        return {"predictions": [
            {"user_id": user, "movie_id": movie, "rating": float(rating)}
            for user, movie, rating in zip(users, movies, ratings.ravel(), strict=True)
        ]}

    def recommend(self, user_id: Any, k: int) -> list[dict[str, Any]]:
        """Top ``k`` unseen movies of a known user (see :meth:`Recommender.recommend`)."""
        items, scores = self.recommender.recommend_indices(
            np.array([self._user_index[user_id]]), k)
        return [{**self._movie_at[item], "score": score}
                for item, score in zip(items[0].tolist(), scores[0].tolist(), strict=True)
                if item >= 0 and math.isfinite(score)]

    def warm(self) -> dict[str, float]:
        """Score every known user once, keeping the table where it fits in memory
        (:meth:`Recommender.precompute_scores`), then each kind of request once, so the
        first request pays no setup cost.

        Returns the seconds each kind of scoring takes once warm (``user``, ``new_user``,
        ``similar``; the best of three calls, so that a stray pause does not count).
        """
        self.recommender.precompute_scores()
        seconds: dict[str, float] = {}
        if len(self.user_ids):
            seconds["user"] = _warm_seconds(self.user_recommendations,
                                            plain(self.user_ids[0]), 10, 10)
        if len(self.movies_encoder):
            movie = plain(self.movies_encoder.ids[0])
            seconds["new_user"] = _warm_seconds(self.new_user_recommendations,
                                                {movie: self.high}, 10)
            seconds["similar"] = _warm_seconds(self.similar, movie, 10, 0)
            if len(self.user_ids) and hasattr(self.recommender, "recommend_folded"):
                # A known user with one rating more than in training: the fold-in that a
                # user with stored ratings costs (with a ratings store).
                user = plain(self.user_ids[0])
                seconds["feedback"] = _warm_seconds(
                    lambda: recommend_with_feedback(
                        self.recommender,  # type: ignore[arg-type]
                        user, [(movie, self.low, 0)], 10))
        release_freed_memory()  # the warm-up's scratch arrays
        return seconds


def _warm_seconds(function: Callable[..., Any], *args: Any) -> float:
    """Call ``function(*args)`` once, then return the fastest of three timed calls."""
    function(*args)
    timings = []
    for _ in range(3):
        started = perf_counter()
        function(*args)
        timings.append(perf_counter() - started)
    return min(timings)



# -- loading ----------------------------------------------------------------------
def load(source: Any) -> ServiceState:
    """A :class:`ServiceState` (not warmed) from a run directory or a Recommender."""
    from movierec.recommend import Recommender

    if isinstance(source, str | Path):
        from movierec.runs import load_run

        run = load_run(source)
        try:
            recommender = Recommender.from_run(run)
        except MovierecError:
            raise
        except Exception as error:  # weights of an unexpected shape, say: name the run
            raise MovierecError(
                f"cannot build a recommender from the run in {source}: {error}"
            ) from error
    elif isinstance(source, Recommender):
        recommender, run = source, None
    else:
        raise TypeError(f"create_app needs a run directory or a Recommender, not {source!r}")
    if run is None:
        return ServiceState(recommender)
    state = ServiceState(recommender, run.info, run_id=run.run_id, store_seq=run.store_seq)
    # The recommender holds numpy copies of the weights: the Keras model (its variables,
    # the arrays read from the .keras file) goes with ``run``, and the freed heap goes back.
    del run
    release_freed_memory()
    return state


def _movie_lookup(movies: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    """movie_id -> response dict, built once so a request never touches pandas."""
    lookup: dict[Any, dict[str, Any]] = {}
    years = movies["year"] if "year" in movies else pd.Series([None] * len(movies))
    genres = movies["genres"] if "genres" in movies else pd.Series([""] * len(movies))
    for movie_id, title, year, genre in zip(
        movies["movie_id"], movies["title"], years, genres, strict=True
    ):
        key = plain(movie_id)
        lookup[key] = {
            "movie_id": key,
            "title": str(title) if isinstance(title, str) and title else f"Movie {key}",
            "year": None if pd.isna(year) else int(year),
            "genres": [g for g in str(genre or "").split("|") if g not in _NO_GENRES],
        }
    return lookup



# -- ids --------------------------------------------------------------------------
def _known_id(raw: Any, kind: IdKind, index: dict[Any, int], label: str) -> Any:
    """``raw`` converted to the id type ``kind``, if ``index`` holds it."""
    value = parse_id(raw, kind)
    if value is None or value not in index:
        raise UnknownIdError(f"unknown {label} {_shown(raw)}: the model was not trained on it")
    return value


def _echoed_id(raw: str, kind: IdKind) -> Any:
    """An unknown user id as a response shows it: typed where it parses, else the text
    (cut to the schema's longest id)."""
    value = parse_id(raw, kind)
    return value if value is not None else raw[:s.MAX_ID_LENGTH]


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."

