"""The endpoints of a service with a ratings store (``serve --store``): users' ratings are
stored, and every user's list comes from their stored ratings at request time.

* ``POST /users/{user_id}/ratings`` stores a batch, all or nothing, and answers once the
  write is durable. Each entry is checked as ``POST /recommendations`` checks it (a rating
  on the run's scale), its movie must be the model's or the catalogue's (a catalogue movie
  the model cannot score yet is stored, and scorable after the next retrain), and a movie
  may appear once; a bad entry is refused, naming it, and nothing is stored: 422 from the
  schema (a rating off the scale, NaN; ``loc`` ends with the entry's index), 404 for an
  unknown movie, 409 for a movie twice (``detail`` starts ``ratings[i].movie_id``).
* ``GET /users/{user_id}/ratings`` lists what is stored; ``DELETE
  /users/{user_id}/ratings/{movie_id}`` removes one rating.
* ``GET /users/{user_id}/recommendations`` (in :mod:`~movierec.service.routes`) folds a
  user with stored ratings in again (:meth:`ServiceState.feedback_recommendations`).

Writes need the bearer token (:mod:`~movierec.service.auth`); a store that cannot be
written answers 503 and reads keep being served. The store lives at ``app.state.store``,
apart from the model (``app.state.service``), so a reloaded model keeps it.
"""

import asyncio
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel

from movierec.errors import UnknownIdError
from movierec.ids import parse_id
from movierec.service import schemas as s
from movierec.service.auth import UNAUTHORIZED_RESPONSE, require_token
from movierec.service.state import ServiceState
from movierec.store import RatingsStore, StoredRating

__all__ = ["build_ratings_router", "get_store", "stored_ratings"]

_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **UNAUTHORIZED_RESPONSE,
    400: {"model": s.ErrorResponse, "description": "The body cannot be parsed (not UTF-8)."},
    413: {"model": s.ErrorResponse, "description": "The request body is too large."},
    404: {"model": s.ErrorResponse, "description": "The user id is not an id of the run's "
                                                   "type, an entry's movie is unknown (the "
                                                   "detail names the entry), or, for a "
                                                   "deletion, nothing is stored."},
    409: {"model": s.ErrorResponse, "description": "A movie is rated twice in the batch "
                                                   "(the detail names the entry)."},
    503: {"model": s.ErrorResponse, "description": "The ratings store cannot be written now "
                                                   "(read-only, full, or unreachable); "
                                                   "nothing was stored."},
}


async def get_store(request: Request) -> RatingsStore | None:
    """The app's ratings store, or None (``async``: called on the event loop)."""
    return request.app.state.store


async def _state(request: Request) -> ServiceState:
    return request.app.state.service


async def _required_store(request: Request) -> RatingsStore:
    store = request.app.state.store
    if store is None:  # the routes exist only with a store; a reload cannot remove it
        raise HTTPException(404, "this service keeps no ratings: start it with --store")
    return store


State = Annotated[ServiceState, Depends(_state)]
Store = Annotated[RatingsStore, Depends(_required_store)]


async def stored_ratings(store: RatingsStore, user: Any) -> list[StoredRating]:
    """The user's stored ratings: read on the event loop from SQLite (a local read is
    quicker than a thread hop), in a worker thread from PostgreSQL (a network round trip)."""
    if store.backend == "sqlite":
        return store.user_ratings(user)
    return await anyio.to_thread.run_sync(store.user_ratings, user)


def _entry_error(status: int, index: int, message: str) -> HTTPException:
    """A well-formed batch with a bad entry: 404 (a movie nobody knows) or 409 (a movie
    twice), naming the entry; malformed entries are 422s from the schema."""
    return HTTPException(status, f"ratings[{index}].movie_id: {message}; nothing was stored")


def build_ratings_router(rating_model: type[BaseModel]) -> APIRouter:
    """The ratings endpoints; ``rating_model`` is one rating of ``POST /recommendations``
    (:func:`~movierec.service.schemas.new_user_request_model`), bounded by the run's scale."""
    batch_model = s.ratings_batch_model(rating_model)

    async def post_ratings(
        request: Request, state: State, store: Store, user_id: str,
        batch: Annotated[batch_model, Body()],  # type: ignore[valid-type]
    ) -> dict[str, Any]:
        """Store ratings of a user (known to the model or new), all or none; the answer
        comes once they are durable, and the user's next list reflects them."""
        user = state.stored_user(user_id)
        metrics = request.app.state.metrics
        pairs: list[tuple[Any, float]] = []
        seen: dict[Any, int] = {}
        for index, item in enumerate(batch.ratings):  # type: ignore[attr-defined]
            try:
                movie = state.rateable_movie_id(item.movie_id)
            except UnknownIdError as error:
                metrics.batches_rejected.inc()
                raise _entry_error(404, index, str(error)) from None
            if movie in seen:
                metrics.batches_rejected.inc()
                raise _entry_error(409, index, f"movie id {movie!r} is rated twice in "
                                   f"this batch (entries {seen[movie]} and {index}): send "
                                   "each movie once")
            seen[movie] = index
            pairs.append((movie, float(item.rating)))
        seq = await asyncio.wrap_future(store.put_future(user, pairs))
        metrics.ratings_stored.inc(len(pairs))
        return {"user_id": user, "n_ratings": len(pairs), "seq": seq}

    async def get_ratings(state: State, store: Store, user_id: str) -> dict[str, Any]:
        """Every stored rating of the user (none for a user who rated nothing here)."""
        user = state.stored_user(user_id)
        rows = await stored_ratings(store, user)
        return {"user_id": user, "ratings": [
            {**state.movie(r.movie_id), "rating": r.rating, "timestamp": r.timestamp}
            for r in rows]}

    async def delete_rating(state: State, store: Store, user_id: str,
                            movie_id: str) -> dict[str, Any]:
        """Remove the user's stored rating of one movie; 404 when there is none."""
        user = state.stored_user(user_id)
        movie = parse_id(movie_id, state.movies_encoder.kind)
        seq = None if movie is None else await anyio.to_thread.run_sync(
            store.delete, user, movie)
        if seq is None:
            raise HTTPException(404, f"user {user!r} has no stored rating of movie "
                                     f"{movie_id!r}")
        return {"user_id": user, "movie_id": movie, "seq": seq}

    router = APIRouter(tags=["ratings"])
    write = [Depends(require_token)]
    router.add_api_route("/users/{user_id}/ratings", post_ratings, methods=["POST"],
                         status_code=201, response_model=s.RatingsWritten,
                         dependencies=write, responses=_WRITE_ERRORS)
    router.add_api_route("/users/{user_id}/ratings", get_ratings, methods=["GET"],
                         response_model=s.StoredRatings,
                         responses={404: {"model": s.ErrorResponse}})
    router.add_api_route("/users/{user_id}/ratings/{movie_id}", delete_rating,
                         methods=["DELETE"], response_model=s.RatingDeleted,
                         dependencies=write, responses=_WRITE_ERRORS)
    return router
