"""The :class:`Dataset` every loader returns, and helpers shared by the loaders."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

RATING_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")

# "Toy Story (1995)", "Heidi Fleiss (1995) ", "Land Before Time III (1995) (V)",
# "Stranger Things (2016– )": the first four digits of the last parenthesised year.
_YEAR_SUFFIX = r"\((\d{4})[^()]*\)\s*(?:\([A-Za-z]+\)\s*)?$"


class DataWarning(UserWarning):
    """Data was usable but had to be changed (for example duplicate ratings dropped)."""


@dataclass(frozen=True)
class Dataset:
    """Ratings and the movie catalogue they refer to.

    ``ratings`` has columns user_id, movie_id, rating (float32), timestamp (int64);
    ``movies`` has movie_id, title, year (nullable Int64) and genres ("|"-joined, "" if
    unknown). The catalogue may hold movies nobody rated, as MovieLens does. ``tags``, where
    the release has them, has user_id, movie_id and tag; ``users``, where it has them, user_id,
    age, gender and occupation.
    """

    name: str
    ratings: pd.DataFrame
    movies: pd.DataFrame
    rating_scale: tuple[float, float]
    tags: pd.DataFrame | None = None
    """Users' free-text tags (user_id, movie_id, tag), for releases that ship ``tags.csv``
    and are read from their text files (latest-small); None otherwise."""
    users: pd.DataFrame | None = None
    """The users' demographics (user_id, age, gender, occupation), for releases that ship
    them and are read from their text files (100k); None otherwise."""

    @cached_property
    def n_users(self) -> int:
        return int(self.ratings["user_id"].nunique())

    @property
    def n_movies(self) -> int:
        """Movies in the catalogue, rated or not."""
        return len(self.movies)

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)


def years_from_titles(titles: pd.Series) -> pd.Series:
    """The release year in a title's "(1995)" suffix, or <NA> where there is none."""
    return titles.str.extract(_YEAR_SUFFIX, expand=False).astype("Int64")


def movies_frame(movie_ids: pd.Series, titles: pd.Series, genres: pd.Series) -> pd.DataFrame:
    """The catalogue in the standard column order and dtypes."""
    titles = titles.fillna("").astype(str).str.strip()
    columns = {
        "movie_id": movie_ids,
        "title": titles,
        "year": years_from_titles(titles),
        "genres": genres.fillna("").astype(str),
    }
    return pd.DataFrame({name: column.reset_index(drop=True) for name, column in columns.items()})
