"""The HTTP service: a FastAPI app over one trained run, and the web page that uses it.

:func:`create_app` loads the run once (model, encoders, movie table), warms the
:class:`~movierec.recommend.Recommender` by scoring one user, and returns the app.

Where scoring runs: the endpoints are ``async``. Warm-up times each kind of scoring (a known
user's recommendations, a new user's, similar movies), and the kinds cheaper than
``inline_ms`` run on the event loop itself: on latest-small one user scores in about 0.1 ms,
less than the two thread hops and GIL hand-offs a worker thread costs (moving them inline
took 8 clients on 2 cores from about 1,300 to 2,800 requests/s and p99 from 12 ms to 4 ms).
Slower kinds (large catalogues; a blend's new users, folded into every member) run in the
thread pool, so that one request's scoring never holds up the others; so do title search
and predictions, whose cost grows with the request.
Known users' scores are computed once at start where the users x movies table fits in
memory, which is what makes a blend (about 5 ms per user to score) as fast to serve.

Unknown user or movie ids answer 404 with a message naming the id; malformed input 422;
request bodies over ``max_body_bytes`` 413. No input is meant to produce a 500.

Example:
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app("runs/dot-bias"))          # doctest: +SKIP
    >>> client.get("/users/1/recommendations", params={"k": 5}).json()  # doctest: +SKIP
"""


import math
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from time import perf_counter
from typing import Annotated, Any

import anyio.to_thread
import numpy as np
import pandas as pd
from fastapi import Body, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import movierec
from movierec.errors import MovierecError, UnknownIdError
from movierec.ids import parse_id
from movierec.service import schemas as s

__all__ = [
    "DEFAULT_INLINE_MS", "DEFAULT_MAX_BODY_BYTES", "BodySizeLimit", "ServiceState",
    "create_app", "limit_blas_threads",
]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_INLINE_MS = 1.0
"""Scoring calls measured faster than this at warm-up run on the event loop."""
STATIC_DIR = Path(__file__).with_name("static")

_NO_GENRES = {"", "(no genres listed)"}

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": s.ErrorResponse, "description": "An unknown user or movie id."},
}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": s.ErrorResponse, "description": "The body cannot be parsed (not UTF-8)."},
    413: {"model": s.ErrorResponse, "description": "The request body is too large."},
}


class BodySizeLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    It checks the declared Content-Length first, then counts the bytes actually received (a
    chunked body declares none), buffering at most ``max_bytes`` before the app sees any.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _send_error(send, 400, "invalid Content-Length header")
            return
        if declared is not None and declared > self.max_bytes:
            await _send_error(send, 413, self._too_large(declared))
            return
        if declared == 0 or (declared is None and not _may_have_body(scope)):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, self._too_large(size, streamed=True))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int, streamed: bool = False) -> str:
        amount = f"more than {self.max_bytes}" if streamed else str(size)
        return (f"request body of {amount} bytes is over the limit of {self.max_bytes} bytes; "
                "send fewer items per request")


def _content_length(scope: Scope) -> int | None:
    """The declared body size; None if absent, -1 if malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 19 else -1
    return None


def _may_have_body(scope: Scope) -> bool:
    if scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
        return True
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


async def _send_error(send: Send, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status,
                            headers={"Connection": "close"})
    body = response.body
    await send({"type": "http.response.start", "status": status,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": body})


class ServiceState:
    """What the endpoints share: the recommender, the movie table and the run's facts.

    Built once per app; every method is safe to call from several threads at once (all of
    them only read the loaded arrays and tables).

    Attributes:
        inline: the kinds of scoring :meth:`call` runs on the event loop (set by
            :func:`create_app` from :meth:`warm`'s timings); others run in a worker thread.
        scoring_seconds: kind of scoring -> seconds, as :meth:`warm` timed them (empty if
            not warmed).
    """

    def __init__(self, recommender: Any, info: dict[str, Any]) -> None:
        self.recommender = recommender
        self.info = info
        self.users = info["encoders"].users
        self.movies_encoder = info["encoders"].movies
        self.low, self.high = info["rating_range"]
        self._catalog = _movie_lookup(info["movies"])
        self.catalog = recommender.catalog
        self.user_ids = self.users.ids
        # Plain dicts and lists, so that a request maps ids without numpy or pandas calls.
        self._user_index = {raw: i for i, raw in enumerate(self.user_ids.tolist())}
        movie_ids = self.movies_encoder.ids.tolist()
        self._movie_index = {raw: i for i, raw in enumerate(movie_ids)}
        self._movie_at = [self.movie(raw) for raw in movie_ids]
        self.user_top_rated = lru_cache(maxsize=8192)(self._user_top_rated)
        self.inline: set[str] = set()
        self.scoring_seconds: dict[str, float] = {}

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

    # -- movies ---------------------------------------------------------------------------
    def movie(self, movie_id: Any) -> dict[str, Any]:
        """The catalogue entry of ``movie_id`` as a plain dict (a placeholder if untitled)."""
        key = _plain(movie_id)
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
        found = (_plain(m) for m in self.catalog.search(query, limit * 4)["movie_id"])
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
                "recommendations": self.recommend(user_id, k)}

    def new_user_recommendations(self, ratings: dict[Any, float], k: int) -> dict[str, Any]:
        """The body of ``POST /recommendations`` for known movie ids and their ratings."""
        ids, scores = self.recommender.recommend_new_user(ratings, k=k)
        return {"k": k, "n_ratings": len(ratings),
                "recommendations": self.scored(np.ravel(ids), np.ravel(scores))}

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
                                            _plain(self.user_ids[0]), 10, 10)
        if len(self.movies_encoder):
            movie = _plain(self.movies_encoder.ids[0])
            seconds["new_user"] = _warm_seconds(self.new_user_recommendations,
                                                {movie: self.high}, 10)
            seconds["similar"] = _warm_seconds(self.similar, movie, 10, 0)
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


def create_app(
    source: str | Path | Any,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    warm: bool = True,
    worker_threads: int | None = None,
    inline_ms: float = DEFAULT_INLINE_MS,
) -> FastAPI:
    """The service for one run: a run directory, or a ready :class:`Recommender`.

    Args:
        source: a run directory written by ``movierec train`` (or
            :func:`movierec.runs.save_run`), or a ``Recommender`` built from a run.
        max_body_bytes: request bodies larger than this are refused with 413.
        warm: score one user before returning, so no request pays for first-call setup.
        worker_threads: how many requests score at once in the thread pool (None: the
            AnyIO default, 40). More than a few per core only adds switching.
        inline_ms: score on the event loop the kinds of request that warm-up scored faster
            than this many milliseconds, the others in the thread pool (see the module
            docstring). 0, or ``warm=False``, always uses the thread pool.

    Raises:
        MovierecError: the run is missing, incomplete, or its model does not load.
    """
    state = ServiceState(*_load(source))
    if warm:
        state.scoring_seconds = state.warm()
        state.inline = {kind for kind, seconds in state.scoring_seconds.items()
                        if seconds * 1000.0 < inline_ms}
    info = state.info
    _, new_user_model = s.new_user_request_model(state.low, state.high)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if worker_threads:
            anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="movierec",
        version=movierec.__version__,
        summary=f"Movie recommendations from a {info['model']} model trained on "
                f"{info['dataset']}.",
        description="Recommendations for known users and new ones, similar movies, title "
                    "search and rating predictions. Ids are integers for MovieLens runs and "
                    "strings for runs on your own data. The web page is at `/`.",
    )
    app.state.service = state
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    @app.exception_handler(UnknownIdError)
    def _unknown_id(request: Request, error: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler, except that NaN or infinite inputs (Python's JSON parser
        # accepts them) are echoed as strings: JSON has no such numbers.
        detail = _finite(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(MovierecError)
    def _bad_input(request: Request, error: MovierecError) -> JSONResponse:
        detail = [{"loc": ["body"], "msg": str(error), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    health = s.Health(
        model=info["model"],
        dataset=info["dataset"],
        n_users=len(state.users),
        n_movies=len(state.movies_encoder),
        n_ratings=info["n_ratings"],
        n_catalog=len(state._catalog),
        rating_scale=[state.low, state.high],
        id_type=state.users.kind,
        version=movierec.__version__,
    )

    @app.get("/health", response_model=s.Health, tags=["service"])
    async def get_health() -> s.Health:
        """The loaded model, its dataset and how many users, movies and ratings it knows."""
        return health

    @app.get("/users", response_model=s.UserList, tags=["users"])
    async def list_users(
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Known user ids in sorted order, ``limit`` of them from ``offset``."""
        chosen = state.user_ids[offset:offset + limit]
        return {"n_users": len(state.user_ids), "users": [_plain(u) for u in chosen]}

    @app.get("/users/{user_id}/recommendations", response_model=s.UserRecommendations,
             responses=_ERRORS, tags=["users"])
    async def recommend_user(
        user_id: str,
        k: Annotated[int, Query(ge=1, le=100, description="How many movies.")] = 10,
        top: Annotated[int, Query(ge=0, le=50, description="How many of the user's own "
                                  "highest-rated movies to include.")] = 10,
    ) -> dict[str, Any]:
        """Top-``k`` movies for a known user (excluding those they rated), with their own
        highest-rated movies."""
        return await state.call("user", state.user_recommendations, state.user_id(user_id), k,
                                top)

    @app.post("/recommendations", response_model=s.NewUserRecommendations,
              responses=_BODY_ERRORS, tags=["users"])
    async def recommend_new_user(
        request: Annotated[new_user_model, Body()],  # type: ignore[valid-type]
    ) -> dict[str, Any]:
        """Cold start: recommendations for a new user from a few ratings of known movies."""
        ratings = {state.movie_id(item.movie_id): float(item.rating)
                   for item in request.ratings}  # type: ignore[attr-defined]
        return await state.call("new_user", state.new_user_recommendations, ratings,
                                request.k)  # type: ignore[attr-defined]

    @app.get("/movies", response_model=s.MovieList, tags=["movies"])
    def list_movies(
        search: Annotated[str | None, Query(max_length=200, description="Words of a title; "
                                            "leave out for popular movies.")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """Movies the model can score whose title matches ``search``, best match first; without
        ``search``, the best-liked popular movies (mean rating damped towards the global
        mean, so that many good ratings are needed)."""
        query = (search or "").strip()
        if query:
            ids = state.search(query, limit)
        else:
            popular, scores = state.recommender.popular(k=limit)
            ids = [m for m, score in zip(popular, scores, strict=True) if np.isfinite(score)]
        return {"search": query or None, "movies": [state.movie(m) for m in ids]}

    @app.get("/movies/{movie_id}/similar", response_model=s.SimilarMovies, responses=_ERRORS,
             tags=["movies"])
    async def similar_movies(
        movie_id: str,
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        min_ratings: Annotated[int, Query(ge=0, le=10**6, description="Only movies with at "
                                          "least this many training ratings.")] = 0,
    ) -> dict[str, Any]:
        """The ``k`` movies whose learned embeddings are closest (cosine) to this one's."""
        return await state.call("similar", state.similar, state.movie_id(movie_id), k,
                                min_ratings)

    @app.post("/predict", response_model=s.PredictResponse, responses=_BODY_ERRORS,
              tags=["users"])
    async def predict(request: s.PredictRequest) -> dict[str, Any]:
        """Predicted ratings for user/movie pairs (at most 1000 per request)."""
        users = [state.user_id(pair.user_id) for pair in request.pairs]
        movies = [state.movie_id(pair.movie_id) for pair in request.pairs]
        return await state.call("predict", state.predictions, users, movies)

    app.openapi_tags = [
        {"name": "service", "description": "The loaded run."},
        {"name": "users", "description": "Recommendations and predictions for users."},
        {"name": "movies", "description": "The catalogue and similar movies."},
    ]
    return app


# -- BLAS threads ------------------------------------------------------------------------
_OPENBLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads")


def limit_blas_threads(threads: int = 1) -> bool:
    """Cap the threads of numpy's BLAS (its matrix products) in this process.

    The service scores many small requests at once, each in a worker thread. A
    multithreaded BLAS starts its own threads for every product, and the two kinds of
    threads fight over the cores: on 2 cores with 8 concurrent clients, p99 latency fell
    from about 300 ms to about 40 ms with one BLAS thread. ``movierec serve`` calls this.

    Uses threadpoolctl when it is installed, else OpenBLAS's own setter through ctypes
    (numpy's wheels bundle OpenBLAS). Returns whether a limit was applied; where neither
    works, setting ``OPENBLAS_NUM_THREADS=1`` before starting Python does the same.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(limits=threads, user_api="blas")
        return True
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return False
    applied = False
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _OPENBLAS_SETTERS:
            if hasattr(library, name):
                getattr(library, name)(ctypes.c_int(threads))
                applied = True
                break
    return applied


# -- loading -----------------------------------------------------------------------------
def _load(source: Any) -> tuple[Any, dict[str, Any]]:
    """The recommender and the run's facts, from a run directory or a Recommender."""
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
    return recommender, _run_info(recommender, run)


def _run_info(recommender: Any, run: Any) -> dict[str, Any]:
    """What /health reports and the endpoints need; the run adds the dataset's name."""
    data = getattr(run, "data", None) or {}
    return {
        "model": str(getattr(recommender, "model_name", "") or "unknown"),
        "dataset": str(data.get("dataset", "unknown")),
        "rating_range": tuple(float(x) for x in recommender.rating_range),
        "encoders": recommender.encoders,
        "movies": recommender.catalog.movies,
        "n_ratings": int(np.sum(recommender.movie_counts)),
    }


def _movie_lookup(movies: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    """movie_id -> response dict, built once so a request never touches pandas."""
    lookup: dict[Any, dict[str, Any]] = {}
    years = movies["year"] if "year" in movies else pd.Series([None] * len(movies))
    genres = movies["genres"] if "genres" in movies else pd.Series([""] * len(movies))
    for movie_id, title, year, genre in zip(
        movies["movie_id"], movies["title"], years, genres, strict=True
    ):
        key = _plain(movie_id)
        lookup[key] = {
            "movie_id": key,
            "title": str(title) if isinstance(title, str) and title else f"Movie {key}",
            "year": None if pd.isna(year) else int(year),
            "genres": [g for g in str(genre or "").split("|") if g not in _NO_GENRES],
        }
    return lookup


# -- ids ---------------------------------------------------------------------------------
def _known_id(raw: Any, kind: str, index: dict[Any, int], label: str) -> Any:
    """``raw`` converted to the id type ``kind``, if ``index`` holds it."""
    value = _typed_id(raw, kind)
    if value is None or value not in index:
        raise UnknownIdError(f"unknown {label} {_shown(raw)}: the model was not trained on it")
    return value


def _typed_id(raw: Any, kind: str) -> Any:
    return parse_id(raw, kind)  # type: ignore[arg-type]


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by its name, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _plain(value: Any) -> Any:
    """numpy scalars as plain Python values (JSON-ready)."""
    return value.item() if isinstance(value, np.generic) else value
