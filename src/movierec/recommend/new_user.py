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

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from movierec.catalog import Catalog
from movierec.data import NEW_USER_MOVIE_COLUMNS, load_new_user_ratings
from movierec.errors import MovierecError

__all__ = ["MOVIE_COLUMNS", "new_user_ratings", "parse_rating_texts", "read_ratings_file",
           "resolve_ratings"]

MOVIE_COLUMNS = NEW_USER_MOVIE_COLUMNS
"""Header names :func:`read_ratings_file` accepts for the movie column, first match wins."""
_FLOAT32_MAX = 3.4028234663852886e38


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


def read_ratings_file(path: str | Path) -> list[tuple[str, float]]:
    """``(movie, rating)`` pairs from a file with a header naming a movie column (one of
    :data:`MOVIE_COLUMNS`, any case) and a ``rating`` column.

    Read by :func:`movierec.data.load_new_user_ratings`: CSV, TSV, compressed or Parquet,
    with the same checks and messages (file, line, column) as every ratings file.

    Raises:
        DataError: the file is missing, unreadable, lacks those columns, has no rows or a
            rating that is not a number.
    """
    return load_new_user_ratings(path)


def resolve_ratings(catalog: Catalog, pairs: Iterable[tuple[str, str | float]]
                    ) -> dict[Any, float]:
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
        if not math.isfinite(rating) or abs(rating) > _FLOAT32_MAX:
            raise MovierecError(f"the rating of {movie!r} must be a number such as 4 or 3.5, "
                                f"not {value!r}")
        ratings[catalog.resolve(movie)] = rating
    return ratings


def new_user_ratings(catalog: Catalog, texts: Iterable[str] = (),
                     path: str | Path | None = None) -> dict[Any, float]:
    """Movie id -> rating from ``"MOVIE=RATING"`` texts and/or a ratings file (the file's
    ratings after the texts'), as ``movierec recommend --rate ... --ratings-of-new-user``
    takes them."""
    pairs: list[tuple[str, str | float]] = list(parse_rating_texts(texts))
    if path is not None:
        pairs.extend(read_ratings_file(path))
    return resolve_ratings(catalog, pairs)
