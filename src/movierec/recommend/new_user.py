"""A new user's ratings as people write them: ``"Toy Story=5"`` texts or a small CSV file.

``movierec recommend --rate TITLE=5 --ratings-of-new-user FILE`` reads its input with
:func:`parse_rating_texts` and :func:`read_ratings_file`, then resolves titles and ids
against the catalogue with :func:`resolve_ratings`; the result is what
:meth:`Recommender.recommend_new_user` takes.

Example:
    >>> parse_rating_texts(["Toy Story (1995)=5", "2571 = 4.5"])
    [('Toy Story (1995)', '5'), ('2571', '4.5')]
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from movierec.catalog import Catalog
from movierec.errors import DataError, MovierecError

__all__ = ["MOVIE_COLUMNS", "parse_rating_texts", "read_ratings_file", "resolve_ratings"]

MOVIE_COLUMNS = ("movie", "movie_id", "movieid", "item", "title")
"""Header names :func:`read_ratings_file` accepts for the movie column, first match wins."""


def parse_rating_texts(texts: Iterable[str]) -> list[tuple[str, str]]:
    """``"MOVIE=RATING"`` texts as ``(movie, rating)`` text pairs, both stripped.

    The last ``=`` splits, so a title may itself contain ``=``.

    Raises:
        MovierecError: a text has no ``=`` or nothing before it.
    """
    pairs = []
    for text in texts:
        movie, sep, value = text.rpartition("=")
        if not sep or not movie.strip():
            raise MovierecError(f"--rate takes TITLE=RATING or MOVIE_ID=RATING, not {text!r}")
        pairs.append((movie.strip(), value.strip()))
    return pairs


def read_ratings_file(path: str | Path) -> list[tuple[str, str]]:
    """``(movie, rating)`` text pairs from a CSV with a header naming a movie column (one of
    :data:`MOVIE_COLUMNS`, any case) and a ``rating`` column.

    Raises:
        DataError: the file is missing, not CSV, lacks those columns or has no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None
    columns = {column.strip().lower(): column for column in frame.columns}
    movie_col = next((columns[c] for c in MOVIE_COLUMNS if c in columns), None)
    rating_col = columns.get("rating")
    if movie_col is None or rating_col is None:
        raise DataError(f"{path} needs a header with columns movie and rating "
                        f"(found: {', '.join(frame.columns) or 'none'})")
    if frame.empty:
        raise DataError(f"{path} has no ratings")
    return list(zip(frame[movie_col].str.strip(), frame[rating_col].str.strip(), strict=True))


def resolve_ratings(catalog: Catalog, pairs: Iterable[tuple[str, str]]) -> dict[Any, float]:
    """Movie id -> rating for ``(movie, rating)`` text pairs; a movie is a title or an id
    (:meth:`Catalog.resolve`), and a movie rated twice keeps its last rating.

    Raises:
        MovierecError: a rating is not a number, or a movie matches no title or id.
    """
    ratings: dict[Any, float] = {}
    for movie, value in pairs:
        try:
            rating = float(value)
        except ValueError:
            raise MovierecError(f"the rating of {movie!r} must be a number, not {value!r}"
                                ) from None
        ratings[catalog.resolve(movie)] = rating
    return ratings
