"""Loading a dataset by name, or from the options every command offers."""

from __future__ import annotations

import os
from pathlib import Path

from movierec.data.cache import CACHED_RELEASES, CachedShard, load_cached, load_cached_shard
from movierec.data.custom import load_ratings
from movierec.data.dataset import Dataset
from movierec.data.movielens import get_release, read_release, read_tags, read_users
from movierec.data.sources import cache_dir, locate
from movierec.errors import DataError

DEFAULT_DATASET = "latest-small"


def load(name: str, data_dir: str | Path | None = None, *, download: bool = True,
         cache: bool = True) -> Dataset:
    """Load a MovieLens release ("latest-small", "100k", "1m", "10m", "20m", "25m", "32m").

    The files are looked up in ``data_dir``, ``$MOVIEREC_DATA`` and the cache, in that
    order, and downloaded from GroupLens if found nowhere and ``download`` is true. The big
    releases (1m and up) are read through a Parquet cache (:mod:`movierec.data.cache`):
    parsed once, then reused; ``cache=False`` or ``MOVIEREC_PARQUET_CACHE=0`` parses the
    text files every time.
    """
    release = get_release(name)
    folder = locate(release, data_dir, download=download)
    if cache and release.name in CACHED_RELEASES \
            and os.environ.get("MOVIEREC_PARQUET_CACHE", "1") != "0":
        return load_cached(release, folder, cache_dir())
    ratings, movies = read_release(release, folder)
    return Dataset(name=release.name, ratings=ratings, movies=movies,
                   rating_scale=release.rating_scale, tags=read_tags(release, folder),
                   users=read_users(release, folder))


def dataset_from_options(
    dataset: str | None,
    ratings: Path | None,
    movies: Path | None,
    data_dir: str | Path | None,
    *,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str = "rating",
    timestamp_col: str = "timestamp",
) -> Dataset:
    """The dataset chosen by ``--dataset NAME`` or ``--ratings FILE [--movies FILE]``.

    With neither, the default is MovieLens latest-small.
    """
    if dataset is not None and ratings is not None:
        raise DataError("Pass either --dataset NAME or --ratings FILE, not both.")
    if ratings is None:
        if movies is not None:
            raise DataError("--movies gives the titles for --ratings FILE; pass --ratings "
                            "too, or drop --movies to use a MovieLens dataset's own titles.")
        return load(dataset or DEFAULT_DATASET, data_dir)
    return load_ratings(ratings, movies, user_col=user_col, item_col=item_col,
                        rating_col=rating_col, timestamp_col=timestamp_col)


def load_shard(name: str, data_dir: str | Path | None, index: int, count: int, *,
               download: bool = True) -> CachedShard:
    """Process ``index`` of ``count``'s share of a big release, read from its Parquet cache
    without the other shares (see :func:`movierec.data.cache.load_cached_shard`).

    Raises:
        DataError: ``name`` is not one of the cached releases (1m ... 32m).
    """
    release = get_release(name)
    if release.name not in CACHED_RELEASES:
        raise DataError(f"{release.name} is not read through the Parquet cache; shards are "
                        f"read from the cache of {', '.join(CACHED_RELEASES)}")
    return load_cached_shard(release, locate(release, data_dir, download=download),
                             cache_dir(), index, count)
