"""A Parquet cache of the big MovieLens releases: parse the text files once, then reuse.

Parsing ML-32M's 880 MB ``ratings.csv`` takes tens of seconds on 2 cores every time a
command starts; reading the same ratings back from Parquet takes a few. The first
:func:`load_cached` of a release (``1m``, ``10m``, ``20m``, ``25m``, ``32m``; those of
:data:`CACHED_RELEASES`) reads the text files with the release's own reader and writes, into
``<cache_dir>/parquet/<release>/``::

    ratings.parquet   user_index, movie_index (int32, compact: 0 .. n - 1), rating
                      (float32), timestamp (int64), in row groups of ROW_GROUP rows
    user_ids.parquet  user_id (int64) of each user_index (sorted raw ids)
    movie_ids.parquet movie_id (int64) of each movie_index (the rated movies, sorted)
    movies.parquet    the catalogue, as the reader returns it
    meta.json         format version, the source file's size and mtime, counts

The folder is written to a temporary sibling and renamed into place
(:func:`movierec.atomic.atomic_directory`), so a killed conversion leaves no half cache.
A cache whose source file changed (size or modification time) or whose format version is
older is rebuilt. Loading maps the compact indices back to the raw ids, so the returned
:class:`~movierec.data.Dataset` is the one the text reader gives (same rows, same order,
same dtypes); the compact indices also let a reader take only some rows
(:func:`read_cached_rows`, by row group) without parsing the rest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.atomic import atomic_directory, write_json
from movierec.data.dataset import Dataset
from movierec.data.movielens import Release, read_release
from movierec.errors import DataError

__all__ = ["CACHED_RELEASES", "FORMAT_VERSION", "ROW_GROUP", "CacheInfo", "CachedShard",
           "cache_folder", "convert_release", "load_cached", "load_cached_shard",
           "read_cached_rows"]

CACHED_RELEASES = ("1m", "10m", "20m", "25m", "32m")
"""Releases :func:`movierec.data.load` reads through the cache (the small ones parse in
well under a second and are read directly)."""
FORMAT_VERSION = 1
ROW_GROUP = 1 << 20
"""Rows per Parquet row group of ``ratings.parquet`` (what :func:`read_cached_rows` reads by)."""


@dataclass(frozen=True)
class CacheInfo:
    """What :func:`convert_release` did: where, how many rows, how long."""

    folder: Path
    n_ratings: int
    n_users: int
    n_movies: int
    seconds: float
    converted: bool
    """False when an up-to-date cache was found and reused."""


def cache_folder(release: Release, cache_root: Path) -> Path:
    return cache_root / "parquet" / release.name


def _fingerprint(source: Path) -> dict[str, Any]:
    stat = source.stat()
    return {"file": source.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _fresh(folder: Path, source: Path) -> bool:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("format") == FORMAT_VERSION and meta.get("source") == _fingerprint(source)


def convert_release(release: Release, source_folder: Path, cache_root: Path, *,
                    force: bool = False, row_group: int = ROW_GROUP) -> CacheInfo:
    """Write the Parquet cache of ``release`` from its unpacked text files (once).

    Args:
        release: the release.
        source_folder: its unpacked folder (``ratings.csv`` or ``ratings.dat`` ...).
        cache_root: the cache home (``movierec.data.cache_dir()``).
        force: rebuild even when an up-to-date cache exists.
        row_group: rows per Parquet row group.
    """
    started = time.perf_counter()
    folder = cache_folder(release, cache_root)
    source = source_folder / release.ratings_file
    if not force and _fresh(folder, source):
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return CacheInfo(folder, meta["n_ratings"], meta["n_users"], meta["n_movies"],
                         time.perf_counter() - started, converted=False)
    import pyarrow as pa
    import pyarrow.parquet as pq

    ratings, movies = read_release(release, source_folder)
    user_index, user_ids = pd.factorize(ratings["user_id"], sort=True)
    movie_index, movie_ids = pd.factorize(ratings["movie_id"], sort=True)
    table = pa.table({
        "user_index": pa.array(user_index.astype(np.int32)),
        "movie_index": pa.array(movie_index.astype(np.int32)),
        "rating": pa.array(ratings["rating"].to_numpy(np.float32)),
        "timestamp": pa.array(ratings["timestamp"].to_numpy(np.int64)),
    })
    n_ratings = len(ratings)
    del ratings, user_index, movie_index
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(folder) as tmp:
        pq.write_table(table, tmp / "ratings.parquet", row_group_size=row_group)
        del table
        pd.DataFrame({"user_id": np.asarray(user_ids, np.int64)}).to_parquet(
            tmp / "user_ids.parquet", index=False)
        pd.DataFrame({"movie_id": np.asarray(movie_ids, np.int64)}).to_parquet(
            tmp / "movie_ids.parquet", index=False)
        movies.to_parquet(tmp / "movies.parquet", index=False)
        write_json(tmp / "meta.json", {
            "format": FORMAT_VERSION, "release": release.name,
            "source": _fingerprint(source), "n_ratings": n_ratings,
            "n_users": len(user_ids), "n_movies": len(movie_ids),
            "rating_scale": list(release.rating_scale),
        })
    return CacheInfo(folder, n_ratings, len(user_ids), len(movie_ids),
                     time.perf_counter() - started, converted=True)


def _ids(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    users = pd.read_parquet(folder / "user_ids.parquet")["user_id"].to_numpy(np.int64)
    movies = pd.read_parquet(folder / "movie_ids.parquet")["movie_id"].to_numpy(np.int64)
    return users, movies


def _frame(table: Any, user_ids: np.ndarray, movie_ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": user_ids[table.column("user_index").to_numpy()],
        "movie_id": movie_ids[table.column("movie_index").to_numpy()],
        "rating": table.column("rating").to_numpy(),
        "timestamp": table.column("timestamp").to_numpy(),
    })


def load_cached(release: Release, source_folder: Path, cache_root: Path) -> Dataset:
    """``release`` as a :class:`Dataset`, from its Parquet cache (written first if needed)."""
    import pyarrow.parquet as pq

    info = convert_release(release, source_folder, cache_root)
    try:
        user_ids, movie_ids = _ids(info.folder)
        ratings = _frame(pq.read_table(info.folder / "ratings.parquet"), user_ids, movie_ids)
        movies = pd.read_parquet(info.folder / "movies.parquet")
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"the Parquet cache in {info.folder} is unreadable ({error}); delete "
                        "that folder and it is rebuilt from the release's files") from error
    return Dataset(name=release.name, ratings=ratings, movies=movies,
                   rating_scale=release.rating_scale)


def read_cached_rows(folder: Path, index: int, count: int) -> pd.DataFrame:
    """The ratings of row groups ``index, index + count, ...`` of a cache: a process's share
    read without the others' (raw ids, the columns of :attr:`Dataset.ratings`)."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(folder / "ratings.parquet")
    groups = list(range(index, file.num_row_groups, count))
    user_ids, movie_ids = _ids(folder)
    return _frame(file.read_row_groups(groups), user_ids, movie_ids)


@dataclass(frozen=True)
class CachedShard:
    """One process's share of a cached release (:func:`load_cached_shard`).

    ``dataset`` holds only the shard's ratings (and the whole catalogue); ``user_ids`` and
    ``movie_ids`` are the sorted raw ids of the *whole* release, the same in every process,
    so that every process encodes ids to the same indices.
    """

    dataset: Dataset
    user_ids: np.ndarray
    movie_ids: np.ndarray
    index: int
    count: int


def load_cached_shard(release: Release, source_folder: Path, cache_root: Path, index: int,
                      count: int) -> CachedShard:
    """Row groups ``index, index + count, ...`` of ``release``'s cache, and its id maps.

    The cache is written first if it is missing (run ``movierec data info NAME`` once
    before starting several processes, so that they do not all convert it).
    """
    info = convert_release(release, source_folder, cache_root)
    import pyarrow.parquet as pq

    groups = pq.ParquetFile(info.folder / "ratings.parquet").num_row_groups
    if groups < count:
        raise DataError(
            f"the cache of {release.name} has {groups} row groups of ratings, fewer than the "
            f"{count} processes that would each read some; run fewer processes")
    ratings = read_cached_rows(info.folder, index, count)
    user_ids, movie_ids = _ids(info.folder)
    movies = pd.read_parquet(info.folder / "movies.parquet")
    return CachedShard(Dataset(name=release.name, ratings=ratings, movies=movies,
                               rating_scale=release.rating_scale),
                       user_ids, movie_ids, index, count)
