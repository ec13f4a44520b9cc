"""Request and response bodies of the HTTP service (pydantic models, shown in the OpenAPI schema).

Ids are integers for MovieLens and strings for a user's own data, so every id field accepts
either; the service converts it to the run's id type and answers 404 for ids it does not
know. The rating bounds of :func:`new_user_request_model` come from the run's rating scale,
so the schema itself documents the valid ratings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, create_model

__all__ = [
    "MAX_NEW_USER_RATINGS",
    "MAX_PREDICT_PAIRS",
    "ErrorResponse",
    "Health",
    "Movie",
    "MovieList",
    "NewUserRecommendations",
    "PredictPair",
    "PredictRequest",
    "PredictResponse",
    "Prediction",
    "RatedMovie",
    "RatingDeleted",
    "RatingsWritten",
    "RawId",
    "ReloadResult",
    "ScoreKind",
    "ScoredMovie",
    "SimilarMovies",
    "StoredRatingOut",
    "StoredRatings",
    "UserList",
    "UserRecommendations",
    "new_user_request_model",
    "ratings_batch_model",
]

MAX_NEW_USER_RATINGS = 500
MAX_PREDICT_PAIRS = 1000
MAX_ID_LENGTH = 200

ScoreKind = Literal["rating", "relative"]
"""What a recommendation's ``score`` is: a predicted rating (a rating model's run) or a
ranking model's relative score, which orders movies and is no rating."""
_SCORE_KIND = ("'rating': each score is a predicted rating on the run's scale; 'relative': "
               "the run's model ranks movies (e.g. ease) and each score only orders this "
               "list, it is not a rating.")

RawId = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
"""A user or movie id as the data spells it: an integer (MovieLens) or a string."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorResponse(_Model):
    """What every 4xx answer other than a validation error carries."""

    detail: str = Field(description="What is wrong, naming the offending id or limit.")


class Health(_Model):
    """The loaded run: which model, trained on what."""

    status: str = Field("ok", description="Always 'ok' once the model is loaded.")
    model: str = Field(description="Model name, e.g. 'dot-bias'.")
    dataset: str = Field(description="Dataset the run was trained on.")
    n_users: int = Field(description="Users the model knows.")
    n_movies: int = Field(description="Movies the model can score.")
    n_ratings: int = Field(description="Training ratings.")
    n_catalog: int = Field(description="Movies in the catalogue (titles), rated or not.")
    rating_scale: list[float] = Field(min_length=2, max_length=2,
                                      description="Lowest and highest rating.")
    id_type: str = Field(description="'int' or 'str': the type of user and movie ids.")
    score_kind: ScoreKind = Field("rating", description="What recommendation scores are: "
                                  + _SCORE_KIND)
    version: str = Field(description="movierec version serving the run.")
    run_id: str = Field("in-memory", description="Which run is serving: changes with every "
                        "run saved, so a reload shows here.")
    run_store_seq: int | None = Field(None, description="The ratings store's sequence number "
                                      "the serving run was trained up to (a retrain's run); "
                                      "null otherwise.")
    store: str | None = Field(None, description="The ratings store's backend ('sqlite' or "
                              "'postgresql'), or null when the service keeps no ratings.")
    store_seq: int | None = Field(None, description="The sequence number of the store's "
                                  "latest write (null without a store).")


class Movie(_Model):
    """A catalogue entry."""

    movie_id: RawId
    title: str
    year: int | None = Field(None, description="Release year, when the title gives one.")
    genres: list[str] = Field(default_factory=list)


class ScoredMovie(Movie):
    """A recommended movie with its score."""

    score: float = Field(
        description="For recommendations, a predicted rating or a relative score, as the "
        "answer's score_kind says; cosine similarity for similar movies."
    )


class RatedMovie(Movie):
    """A movie a user rated in the training data."""

    rating: float


class UserRecommendations(_Model):
    user_id: RawId
    k: int
    top_rated: list[RatedMovie] = Field(description="The user's own highest-rated movies.")
    recommendations: list[ScoredMovie] = Field(description="Best first; seen movies excluded.")
    score_kind: ScoreKind = Field("rating", description=_SCORE_KIND + " A fallback answer's "
                                  "scores are damped mean ratings ('rating').")
    fallback: Literal["popular"] | None = Field(
        None, description="Only in a fallback answer (asked for with ?fallback=popular): "
        "'popular' means these are the best-liked popular movies, not personal predictions, "
        "and each score is the movie's damped mean rating.")
    note: str | None = Field(None, description="Only in a fallback answer: why, starting "
                             "with 'FALLBACK:'.")
    folded_in: bool | None = Field(None, description="Only with a ratings store, for a user "
                                   "with stored ratings: true when the list was computed from "
                                   "their whole history (training and stored ratings) by "
                                   "fold-in, false when the stored ratings repeat training "
                                   "ones and the trained model answered.")


class NewUserRecommendations(_Model):
    k: int
    n_ratings: int = Field(description="Distinct movies rated in the request.")
    recommendations: list[ScoredMovie] = Field(description="Best first; rated movies excluded.")
    score_kind: ScoreKind = Field("rating", description=_SCORE_KIND)


class SimilarMovies(_Model):
    movie: Movie
    k: int
    similar: list[ScoredMovie] = Field(description="Most similar first (cosine of embeddings).")


class MovieList(_Model):
    search: str | None = Field(description="The query, or null for popular movies.")
    movies: list[Movie]


class UserList(_Model):
    n_users: int
    users: list[RawId] = Field(description="Known user ids, in sorted order from offset.")


class PredictPair(_Model):
    user_id: RawId
    movie_id: RawId


class PredictRequest(_Model):
    pairs: list[PredictPair] = Field(min_length=1, max_length=MAX_PREDICT_PAIRS)


class Prediction(_Model):
    user_id: RawId
    movie_id: RawId
    rating: float = Field(description="Predicted rating, clipped to the rating scale.")


class PredictResponse(_Model):
    predictions: list[Prediction]


class StoredRatingOut(Movie):
    """A movie the user rated through the service, with its catalogue entry."""

    rating: float
    timestamp: int = Field(description="When it was stored, in seconds since the epoch (UTC).")


class StoredRatings(_Model):
    user_id: RawId
    ratings: list[StoredRatingOut] = Field(description="Every stored rating of the user, in "
                                           "the order they were written.")


class RatingsWritten(_Model):
    user_id: RawId
    n_ratings: int = Field(description="Ratings stored by this request.")
    seq: int = Field(description="The store's sequence number of this write.")


class RatingDeleted(_Model):
    user_id: RawId
    movie_id: RawId
    seq: int = Field(description="The store's sequence number of this deletion.")


class ReloadResult(_Model):
    run_id: str = Field(description="The run now serving.")
    previous_run_id: str = Field(description="The run it replaced.")
    run_store_seq: int | None = Field(description="The store sequence number the new run "
                                      "was trained up to, if it records one.")
    seconds: float = Field(description="From the request to the new run serving.")


def ratings_batch_model(rating_model: type[BaseModel]) -> type[BaseModel]:
    """The body of ``POST /users/{user_id}/ratings``: ratings of the cold-start request's
    shape (``rating_model``, bounded by the run's scale)."""
    return create_model(
        "RatingsBatch", __base__=_Model,
        ratings=(list[rating_model], Field(  # type: ignore[valid-type]
            min_length=1, max_length=MAX_NEW_USER_RATINGS,
            description="Ratings to store, all or none: each movie once.")),
    )


def new_user_request_model(low: float, high: float) -> tuple[type[BaseModel], type[BaseModel]]:
    """The cold-start request body, with ratings bounded by the run's scale ``[low, high]``.

    Returns the model of one rating and the model of the whole request.
    """
    rating = Annotated[
        float, Field(ge=low, le=high, allow_inf_nan=False,
                     description=f"A rating from {low:g} to {high:g}.")
    ]
    new_rating = create_model(
        "NewUserRating", __base__=_Model, movie_id=(RawId, ...), rating=(rating, ...)
    )
    request = create_model(
        "NewUserRequest",
        __base__=_Model,
        ratings=(
            list[new_rating],
            Field(min_length=1, max_length=MAX_NEW_USER_RATINGS,
                  description="The new user's ratings; a movie rated twice keeps the last."),
        ),
        k=(int, Field(10, ge=1, le=100, description="How many movies to recommend.")),
    )
    return new_rating, request
