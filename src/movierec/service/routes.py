"""The service's endpoints, as an :class:`~fastapi.APIRouter` over a :class:`ServiceState`.

Each endpoint gets the app's state through ``Depends(get_state)``. :func:`get_state` is
``async`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, which would
add a thread hop to every request and undo the inline scoring on the event loop (see
:mod:`movierec.service.app`).
"""

from time import perf_counter
from typing import Annotated, Any, Literal

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel

from movierec.checks import plain
from movierec.ids import parse_id
from movierec.service import schemas as s
from movierec.service.ratings import get_store, stored_ratings
from movierec.service.state import ServiceState
from movierec.store import RatingsStore

__all__ = ["build_router", "get_state"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": s.ErrorResponse, "description": "An unknown user or movie id."},
}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": s.ErrorResponse, "description": "The body cannot be parsed (not UTF-8)."},
    413: {"model": s.ErrorResponse, "description": "The request body is too large."},
}


async def get_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState` (``async``, so FastAPI calls it on the event loop)."""
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]
StoreOrNone = Annotated[RatingsStore | None, Depends(get_store)]


async def get_health(state: State, store: StoreOrNone) -> s.Health:
    """The loaded model, its dataset and how many users, movies and ratings it knows; with
    a ratings store, its backend and latest write."""
    if store is None:
        return state.health
    seq = await anyio.to_thread.run_sync(store.last_seq)
    return state.health.model_copy(update={"store": store.backend, "store_seq": seq})


async def list_users(
    state: State,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Known user ids in sorted order, ``limit`` of them from ``offset``."""
    chosen = state.user_ids[offset:offset + limit]
    return {"n_users": len(state.user_ids), "users": [plain(u) for u in chosen]}


async def recommend_user(
    request: Request,
    state: State,
    store: StoreOrNone,
    user_id: str,
    k: Annotated[int, Query(ge=1, le=100, description="How many movies.")] = 10,
    top: Annotated[int, Query(ge=0, le=50, description="How many of the user's own "
                              "highest-rated movies to include.")] = 10,
    fallback: Annotated[Literal["none", "popular"], Query(
        description="For a user the model cannot personalise for (unknown, or without "
                    "training ratings): 'none' (unknown ids are 404) or 'popular' (the "
                    "best-liked popular movies, labelled as a fallback).")] = "none",
) -> dict[str, Any]:
    """Top-``k`` movies for a known user (excluding those they rated), with their own
    highest-rated movies; with ``fallback=popular``, popular movies for any other user.
    With a ratings store, a user's stored ratings count at once: every movie they rated
    is left out and the list is computed from their whole history."""
    user = parse_id(user_id, state.users.kind) if store is not None else None
    if store is not None and user is not None:
        stored = await stored_ratings(store, user)
        if stored:
            metrics = request.app.state.metrics
            started = perf_counter()
            body = await state.call("feedback", state.feedback_recommendations, user, stored,
                                    k, top)
            if body.get("folded_in"):
                metrics.fold_ins.inc()
                metrics.fold_in_seconds.observe(perf_counter() - started)
            return body
    if fallback == "popular":
        reason = state.fallback_reason(user_id)
        if reason is not None:
            return await state.call("fallback", state.popular_recommendations, user_id, k,
                                    reason)
    return await state.call("user", state.user_recommendations, state.user_id(user_id), k,
                            top)


def list_movies(
    state: State,
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


async def similar_movies(
    state: State,
    movie_id: str,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    min_ratings: Annotated[int, Query(ge=0, le=10**6, description="Only movies with at "
                                      "least this many training ratings.")] = 0,
) -> dict[str, Any]:
    """The ``k`` movies whose learned embeddings are closest (cosine) to this one's."""
    return await state.call("similar", state.similar, state.movie_id(movie_id), k,
                            min_ratings)


async def predict(state: State, request: s.PredictRequest) -> dict[str, Any]:
    """Predicted ratings for user/movie pairs (at most 1000 per request)."""
    users = [state.user_id(pair.user_id) for pair in request.pairs]
    movies = [state.movie_id(pair.movie_id) for pair in request.pairs]
    return await state.call("predict", state.predictions, users, movies)


def build_router(new_user_model: type[BaseModel]) -> APIRouter:
    """The endpoints, in the order the OpenAPI schema lists them.

    ``new_user_model`` is the body of ``POST /recommendations``
    (:func:`~movierec.service.schemas.new_user_request_model`): its rating bounds come from
    the run, so that one endpoint is defined here rather than at module level.
    """

    async def recommend_new_user(
        state: State,
        request: Annotated[new_user_model, Body()],  # type: ignore[valid-type]
    ) -> dict[str, Any]:
        """Cold start: recommendations for a new user from a few ratings of known movies."""
        ratings = {state.movie_id(item.movie_id): float(item.rating)
                   for item in request.ratings}  # type: ignore[attr-defined]
        return await state.call("new_user", state.new_user_recommendations, ratings,
                                request.k)  # type: ignore[attr-defined]

    router = APIRouter()
    router.add_api_route("/health", get_health, methods=["GET"], response_model=s.Health,
                         tags=["service"])
    router.add_api_route("/users", list_users, methods=["GET"], response_model=s.UserList,
                         tags=["users"])
    router.add_api_route("/users/{user_id}/recommendations", recommend_user, methods=["GET"],
                         response_model=s.UserRecommendations, responses=_ERRORS,
                         response_model_exclude_unset=True, tags=["users"])
    router.add_api_route("/recommendations", recommend_new_user, methods=["POST"],
                         response_model=s.NewUserRecommendations, responses=_BODY_ERRORS,
                         tags=["users"])
    router.add_api_route("/movies", list_movies, methods=["GET"], response_model=s.MovieList,
                         tags=["movies"])
    router.add_api_route("/movies/{movie_id}/similar", similar_movies, methods=["GET"],
                         response_model=s.SimilarMovies, responses=_ERRORS, tags=["movies"])
    router.add_api_route("/predict", predict, methods=["POST"],
                         response_model=s.PredictResponse, responses=_BODY_ERRORS,
                         tags=["users"])
    return router
