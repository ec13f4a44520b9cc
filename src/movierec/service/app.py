"""The HTTP service: a FastAPI app over one trained run, and the web page that uses it.

:func:`create_app` loads the run once (model, encoders, movie table), warms the
:class:`~movierec.recommend.Recommender` by scoring one user, and returns the app.

Where scoring runs: the endpoints are ``async``. Warm-up times each kind of scoring (a known
user's recommendations, a new user's, similar movies), and the kinds cheaper than
``inline_ms`` run on the event loop itself: on a small catalogue one user scores in less
time than the two thread hops and GIL hand-offs a worker thread costs (the README's service
section has the measured gain).
Slower kinds (large catalogues; a blend's new users, folded into every member) run in the
thread pool, so that one request's scoring never holds up the others; so do title search
and predictions, whose cost grows with the request.
Known users' scores are computed once at start where the users x movies table fits in
memory, which is what makes a blend (slow to score: every member scores) as fast to serve.

Unknown user or movie ids answer 404 with a message naming the id (a user's
recommendations with ``?fallback=popular`` answer popular movies instead, labelled as a
fallback); malformed input 422;
request bodies over ``max_body_bytes`` 413. No input is meant to produce a 500.

The pieces: :mod:`~movierec.service.state` (the loaded run and how each kind of scoring
runs), :mod:`~movierec.service.routes` (the endpoints), :mod:`~movierec.service.middleware`
(the body size limit) and :mod:`~movierec.service.blas` (the BLAS thread cap).

Example:
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app("runs/dot-bias"))          # doctest: +SKIP
    >>> client.get("/users/1/recommendations", params={"k": 5}).json()  # doctest: +SKIP
"""


import asyncio
import math
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

import movierec
from movierec.errors import MovierecError, UnknownIdError
from movierec.service import schemas as s
from movierec.service.auth import UNAUTHORIZED_RESPONSE, WriteToken, require_token
from movierec.service.blas import limit_blas_threads
from movierec.service.metrics import CONTENT_TYPE_LATEST, RequestMetrics, ServiceMetrics
from movierec.service.middleware import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from movierec.service.ratings import build_ratings_router
from movierec.service.reload import Reloader, ReloadError
from movierec.service.routes import build_router
from movierec.service.state import DEFAULT_INLINE_MS, ServiceState
from movierec.service.state import load as _load
from movierec.store import RatingsStore, StoreUnavailableError

__all__ = [
    "DEFAULT_INLINE_MS", "DEFAULT_MAX_BODY_BYTES", "BodySizeLimit", "ServiceState",
    "create_app", "limit_blas_threads",
]

STATIC_DIR = Path(__file__).with_name("static")


def create_app(
    source: str | Path | Any,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    warm: bool = True,
    worker_threads: int | None = None,
    inline_ms: float = DEFAULT_INLINE_MS,
    token: WriteToken | None = None,
    store: RatingsStore | None = None,
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
        token: the bearer token that endpoints which write require
            (:mod:`movierec.service.auth`); None: every write answers 401.
        store: a ratings store (:func:`movierec.store.open_store`): users' ratings are
            stored through ``/users/{user_id}/ratings`` and their lists computed from them
            (:mod:`movierec.service.ratings`). The caller owns it (closes it once the app
            is done: ``serve`` does).

    Raises:
        MovierecError: the run is missing, incomplete, or its model does not load.
    """
    state = _load(source)
    if store is not None and store.id_kind != state.users.kind:
        raise MovierecError(f"the ratings store {store.location} holds {store.id_kind} ids "
                            f"but the run's ids are {state.users.kind}s: give a store made "
                            "for this run's data")
    if warm:
        state.scoring_seconds = state.warm()
        state.decide_inline(inline_ms)
    rating_model, new_user_model = s.new_user_request_model(state.low, state.high)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if worker_threads:
            anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads
        hangup = _on_hangup(app.state.reloader)
        try:
            yield
        finally:
            if hangup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    app = FastAPI(
        lifespan=lifespan,
        title="movierec",
        version=movierec.__version__,
        summary=f"Movie recommendations from a {state.model_name} model trained on "
                f"{state.dataset}.",
        description="Recommendations for known users and new ones, similar movies, title "
                    "search and rating predictions. Ids are integers for MovieLens runs and "
                    "strings for runs on your own data. The web page is at `/`.",
    )
    app.state.service = state
    app.state.token = token or WriteToken(None)
    app.state.store = store
    app.state.metrics = metrics = ServiceMetrics()
    metrics.serving(state)
    if store is not None:
        metrics.watch_store(store)
    run_dir = Path(source) if isinstance(source, str | Path) else None
    app.state.reloader = Reloader(app, run_dir, warm=warm, inline_ms=inline_ms)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_exception_handler(UnknownIdError, _unknown_id)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(MovierecError, _bad_input)  # type: ignore[arg-type]
    app.add_exception_handler(StoreUnavailableError, _unavailable)  # type: ignore[arg-type]
    app.add_api_route("/", _index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    app.add_api_route("/admin/reload", _reload, methods=["POST"], tags=["service"],
                      response_model=s.ReloadResult,
                      dependencies=[Depends(require_token)],
                      responses={**UNAUTHORIZED_RESPONSE, 422: {
                          "model": s.ErrorResponse,
                          "description": "The run did not load or does not fit; the old "
                                         "one keeps serving."}})
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(build_router(new_user_model))
    if store is not None:
        app.include_router(build_ratings_router(rating_model))
    app.openapi_tags = [
        {"name": "service", "description": "The loaded run."},
        {"name": "users", "description": "Recommendations and predictions for users."},
        {"name": "movies", "description": "The catalogue and similar movies."},
        {"name": "ratings", "description": "Users' stored ratings (with a ratings store)."},
    ]
    return app


async def _metrics(request: Request) -> Response:
    """Prometheus metrics (text format; see :mod:`movierec.service.metrics`)."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _reload(request: Request) -> Any:
    """Load the run directory again, warm it and swap it in (needs the token); a run that
    does not load or fit leaves the old one serving and answers 422 saying why."""
    try:
        return JSONResponse(await request.app.state.reloader.reload())
    except ReloadError as error:
        return JSONResponse({"detail": str(error)}, status_code=422)


def _on_hangup(reloader: Reloader) -> bool:
    """Reload on SIGHUP, where this event loop may own signals (the main thread's)."""
    if not hasattr(signal, "SIGHUP"):
        return False
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP,
                                lambda: loop.create_task(reloader.reload_logged()))
    except (RuntimeError, ValueError, NotImplementedError):  # not the main thread
        return False
    return True


def _index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def _unavailable(request: Request, error: StoreUnavailableError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=503)


def _unknown_id(request: Request, error: UnknownIdError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=404)


def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI's own handler, except that NaN or infinite inputs (Python's JSON parser
    # accepts them) are echoed as strings: JSON has no such numbers.
    if request.method == "POST" and request.url.path.endswith("/ratings"):
        request.app.state.metrics.batches_rejected.inc()
    detail = _finite(jsonable_encoder(error.errors()))
    return JSONResponse({"detail": detail}, status_code=422)


def _bad_input(request: Request, error: MovierecError) -> JSONResponse:
    detail = [{"loc": ["body"], "msg": str(error), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by its name, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value

