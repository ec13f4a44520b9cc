"""What is known about each movie besides its ratings, as binary feature rows.

:func:`movie_features` turns a :class:`~movierec.data.Dataset`'s catalogue (genres, release
year) and, where the release has them, its users' tags into a ``(n_features, n_movies)``
0/1 matrix: one row per genre, per five-year release period and per tag used at least
``min_tag_uses`` times. ``ease`` appends these rows (times its ``side_weight``) to its input
matrix as if they were extra users (collective EASE; Jeunen et al., "Closed-form models for
collaborative filtering with side-information", RecSys 2020), so movies that share a genre,
a period or a tag become a little more alike, which matters most for movies with few
ratings.

Example:
    >>> import pandas as pd
    >>> movies = pd.DataFrame({"movie_id": [1, 2, 3], "year": [1995, 1997, 2011],
    ...                        "genres": ["Comedy", "Comedy|Drama", ""]})
    >>> movie_features(movies, [1, 2, 3]).astype(int).tolist()
    [[1, 1, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["movie_features"]

YEAR_WIDTH = 5
"""Years per release-period feature (1995-1999, 2000-2004, ...)."""


def movie_features(movies: pd.DataFrame, movie_ids: Sequence | np.ndarray,
                   tags: pd.DataFrame | None = None, *, year_width: int = YEAR_WIDTH,
                   min_tag_uses: int = 3) -> np.ndarray:
    """``(n_features, len(movie_ids))`` float32 0/1 rows: genres (sorted by name), release
    periods (oldest first), then tags (lower-cased, sorted), columns in ``movie_ids`` order.

    A movie missing from ``movies``, with no genre or with no year has no such feature; a
    tag counts when it was applied at least ``min_tag_uses`` times to movies of
    ``movie_ids``.
    """
    ids = pd.Index(np.asarray(movie_ids))
    catalogue = movies.drop_duplicates("movie_id").set_index("movie_id").reindex(ids)
    blocks = [_indicators(catalogue["genres"].fillna("").astype(str).str.split("|"), ids)]
    years = pd.to_numeric(catalogue["year"], errors="coerce")
    periods = (years // year_width * year_width).astype("Int64")
    blocks.append(_indicators(periods.map(lambda p: [] if pd.isna(p) else [int(p)]), ids))
    if tags is not None and len(tags):
        known = tags[tags["movie_id"].isin(ids)]
        words = known["tag"].astype(str).str.strip().str.lower()
        uses = words.value_counts()
        kept = words.isin(uses.index[uses >= min_tag_uses]) & (words != "")
        per_movie = words[kept].groupby(known["movie_id"][kept]).agg(list)
        blocks.append(_indicators(per_movie.reindex(ids).map(
            lambda v: v if isinstance(v, list) else []), ids))
    return np.vstack(blocks).astype(np.float32, copy=False)


def _indicators(values: pd.Series, ids: pd.Index) -> np.ndarray:
    """One 0/1 row per distinct item of the lists in ``values`` (aligned with ``ids``)."""
    exploded = values.explode()
    exploded = exploded[exploded.notna() & (exploded.astype(str) != "")]
    names = sorted(set(exploded.tolist()))
    rows = pd.Index(names).get_indexer(exploded.to_numpy())
    columns = ids.get_indexer(exploded.index)
    matrix = np.zeros((len(names), len(ids)), np.float32)
    matrix[rows, columns] = 1.0
    return matrix
