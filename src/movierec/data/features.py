"""What is known about each movie and each user besides their ratings, as 0/1 features.

:func:`movie_features` turns a :class:`~movierec.data.Dataset`'s catalogue (genres, release
year) and, where the release has them, its users' tags into a ``(n_features, n_movies)``
0/1 matrix: one row per genre, per five-year release period and per tag used at least
``min_tag_uses`` times. ``ease`` appends these rows (times its ``side_weight``) to its input
matrix as if they were extra users (collective EASE; Jeunen et al., "Closed-form models for
collaborative filtering with side-information", RecSys 2020), so movies that share a genre,
a period or a tag become a little more alike, which matters most for movies with few
ratings. :func:`user_features` does the same for the users of a release that describes them
(ML-100K's age, gender and occupation), as columns: ``ease`` appends them (times its
``user_weight``) as if they were extra movies.

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

__all__ = ["AGE_BANDS", "movie_features", "training_tags", "user_features"]

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


def training_tags(tags: pd.DataFrame | None, train: pd.DataFrame) -> pd.DataFrame | None:
    """The tags whose (user, movie) pair is a rating of ``train`` (a split's training part).

    A user's tag on a movie held out for them tells which movie that is; side rows built
    from it would let the model learn from the held-out part. Tags without a ``user_id``
    column cannot be matched to a pair and are all dropped. None stays None.
    """
    if tags is None:
        return None
    if "user_id" not in tags.columns:
        return tags.iloc[:0]
    pairs = pd.MultiIndex.from_frame(train[["user_id", "movie_id"]])
    keep = pd.MultiIndex.from_frame(tags[["user_id", "movie_id"]]).isin(pairs)
    return tags[keep]


AGE_BANDS = (18, 25, 35, 45, 50, 56)
"""Where the age features' bands start after the first (under 18): ML-1M's own bands."""


def user_features(users: pd.DataFrame, user_ids: Sequence | np.ndarray, *,
                  age_bands: Sequence[int] = AGE_BANDS) -> np.ndarray:
    """``(len(user_ids), n_features)`` float32 0/1 columns: age bands (youngest first; under
    18, 18-24, ..., 56 and over), genders, then occupations (each sorted by name), rows in
    ``user_ids`` order. ``users`` is a :class:`~movierec.data.Dataset`'s ``users`` frame.

    A user missing from ``users`` has no feature. ``ease`` appends these columns (times its
    ``user_weight``) to its input matrix as if they were extra movies, so users who share
    an age band, gender or occupation become a little more alike.

    Example:
        >>> users = pd.DataFrame({"user_id": [1, 2], "age": [24, 53], "gender": ["M", "F"],
        ...                       "occupation": ["writer", "writer"]})
        >>> user_features(users, [2, 1, 3]).astype(int).tolist()
        [[0, 1, 1, 0, 1], [1, 0, 0, 1, 1], [0, 0, 0, 0, 0]]
    """
    ids = pd.Index(np.asarray(user_ids))
    known = users.drop_duplicates("user_id").set_index("user_id").reindex(ids)
    bounds = np.asarray(sorted(age_bands))
    ages = pd.to_numeric(known["age"], errors="coerce")
    band = pd.Series(np.searchsorted(bounds, ages.to_numpy(np.float64), side="right"),
                     index=ids).where(ages.notna())
    blocks = [_indicators(band.map(lambda b: [] if pd.isna(b) else [int(b)]), ids)]
    for column in ("gender", "occupation"):
        values = known[column].fillna("").astype(str).str.strip()
        blocks.append(_indicators(values.map(lambda v: [v] if v else []), ids))
    return np.vstack(blocks).T.astype(np.float32)


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
