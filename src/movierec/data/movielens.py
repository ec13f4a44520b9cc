"""The MovieLens releases: one registry entry per release, one reader per file layout.

GroupLens ships three layouts: CSV with a header (latest-small, 20m, 25m, 32m), ``::``
separated ``.dat`` files (1m, 10m) and the ML-100K ``u.*`` files. Every release is read by
the same :func:`read_release`, which picks the reader from the registry entry.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from movierec.data.dataset import RATING_COLUMNS, movies_frame
from movierec.errors import DataError

BASE_URL = "https://files.grouplens.org/datasets/movielens"
DOWNLOAD_URL_VAR = "MOVIEREC_DOWNLOAD_URL"

Layout = Literal["csv", "dat", "u-files"]


@dataclass(frozen=True)
class Release:
    """How one MovieLens release is named, packaged and laid out on disk."""

    name: str
    folder: str                         # the folder the official zip unpacks to
    zip_name: str
    layout: Layout
    ratings_file: str
    movies_file: str
    rating_scale: tuple[float, float]
    download_mb: float                  # approximate size of the zip
    n_ratings: int                      # as published by GroupLens
    released: int                       # year
    encoding: str = "utf-8"             # of the movies file
    extra_files: tuple[str, ...] = ()   # other files the reader needs

    @property
    def url(self) -> str:
        """Where the zip is downloaded from: GroupLens, or ``$MOVIEREC_DOWNLOAD_URL`` (a
        mirror's folder of the same zips, for example a local server)."""
        base = os.environ.get(DOWNLOAD_URL_VAR) or BASE_URL
        return f"{base.rstrip('/')}/{self.zip_name}"

    @property
    def required_files(self) -> tuple[str, ...]:
        return (self.ratings_file, self.movies_file, *self.extra_files)

    @property
    def title(self) -> str:
        return f"MovieLens {self.name}"


def _release(name: str, folder: str, layout: Layout, scale: tuple[float, float],
             download_mb: float, n_ratings: int, released: int, **files: str) -> Release:
    layouts: dict[str, dict[str, Any]] = {
        "csv": {"ratings_file": "ratings.csv", "movies_file": "movies.csv"},
        "dat": {"ratings_file": "ratings.dat", "movies_file": "movies.dat"},
        "u-files": {"ratings_file": "u.data", "movies_file": "u.item", "encoding": "latin-1",
                    "extra_files": ("u.genre",)},
    }
    defaults = layouts[layout]
    return Release(name=name, folder=folder, zip_name=files.pop("zip_name", f"{folder}.zip"),
                   layout=layout, rating_scale=scale, download_mb=download_mb,
                   n_ratings=n_ratings, released=released, **(defaults | files))


_HALF_STARS = (0.5, 5.0)
_WHOLE_STARS = (1.0, 5.0)

DATASETS: dict[str, Release] = {
    release.name: release
    for release in (
        _release("latest-small", "ml-latest-small", "csv", _HALF_STARS, 1, 100_836, 2018),
        _release("100k", "ml-100k", "u-files", _WHOLE_STARS, 5, 100_000, 1998),
        _release("1m", "ml-1m", "dat", _WHOLE_STARS, 6, 1_000_209, 2003, encoding="latin-1"),
        _release("10m", "ml-10M100K", "dat", _HALF_STARS, 63, 10_000_054, 2009,
                 zip_name="ml-10m.zip"),
        _release("20m", "ml-20m", "csv", _HALF_STARS, 190, 20_000_263, 2015),
        _release("25m", "ml-25m", "csv", _HALF_STARS, 250, 25_000_095, 2019),
        _release("32m", "ml-32m", "csv", _HALF_STARS, 239, 32_000_204, 2023),
    )
}


def get_release(name: str) -> Release:
    """The release called ``name`` ("100k") or by its folder name ("ml-100k")."""
    for release in DATASETS.values():
        if name in (release.name, release.folder):
            return release
    close = difflib.get_close_matches(name, list(DATASETS), n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise DataError(f"Unknown dataset '{name}'. Choose one of: {', '.join(DATASETS)}.{hint} "
                    "For your own ratings file use --ratings FILE (load_ratings in Python).")


def read_release(release: Release, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the ratings and movies of ``release`` from its unpacked ``folder``."""
    read_ratings, read_movies = _READERS[release.layout]
    return read_ratings(folder / release.ratings_file), read_movies(release, folder)


def read_tags(release: Release, folder: Path) -> pd.DataFrame | None:
    """The users' tags (user_id, movie_id, tag) of a release that ships ``tags.csv``, else
    None. ``user_id`` says who applied each tag, so that a split's side rows can be built
    from the tags of its training pairs only (:func:`movierec.data.features.training_tags`)."""
    path = folder / "tags.csv"
    if release.layout != "csv" or not path.is_file():
        return None
    tags = pd.read_csv(path, usecols=["userId", "movieId", "tag"],
                       dtype={"userId": "int64", "movieId": "int64", "tag": "string"},
                       encoding=release.encoding)
    return pd.DataFrame({"user_id": tags["userId"], "movie_id": tags["movieId"],
                         "tag": tags["tag"].fillna("")})


def read_users(release: Release, folder: Path) -> pd.DataFrame | None:
    """The users' age, gender and occupation (user_id, age, gender, occupation) of a
    release that ships them (ML-100K's ``u.user``, ML-1M's ``users.dat``), else None.

    ``age`` is in years in ``u.user`` and the lower bound of an age band in ``users.dat``
    (1, 18, 25, ...); ``occupation`` is a name in ``u.user`` and a code in ``users.dat``.
    The zip code is not kept.
    """
    name = {"u-files": "u.user", "dat": "users.dat"}.get(release.layout)
    path = folder / name if name else None
    if path is None or not path.is_file():
        return None
    columns = (["user_id", "age", "gender", "occupation", "zip"] if release.layout == "u-files"
               else ["user_id", "gender", "age", "occupation", "zip"])
    text = _decode(path.read_bytes(), release.encoding).replace("::", "|")
    try:
        users = pd.read_csv(io.StringIO(text), sep="|", header=None, names=columns,
                            dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
        user_ids = pd.to_numeric(users["user_id"], errors="raise").astype("int64")
        ages = pd.to_numeric(users["age"], errors="raise").astype("int64")
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{path}: every line must be {'|'.join(columns)} with a whole-number "
                        f"user_id and age ({error}); restore the file from {release.zip_name}"
                        ) from error
    return pd.DataFrame({"user_id": user_ids, "age": ages,
                         "gender": users["gender"].str.strip(),
                         "occupation": users["occupation"].str.strip()})


_RATING_DTYPES = {"user_id": "int64", "movie_id": "int64", "rating": "float32",
                  "timestamp": "int64"}


def _read_csv_ratings(path: Path) -> pd.DataFrame:
    # pyarrow parses the 32M-row CSV several times faster than the C engine
    return pd.read_csv(path, engine="pyarrow", header=0, names=list(RATING_COLUMNS),
                       dtype=_RATING_DTYPES)


def _read_csv_movies(release: Release, folder: Path) -> pd.DataFrame:
    movies = pd.read_csv(folder / release.movies_file, dtype={"movieId": "int64"},
                         encoding=release.encoding)
    return movies_frame(movies["movieId"], movies["title"], _known_genres(movies["genres"]))


def _read_dat_ratings(path: Path) -> pd.DataFrame:
    return pd.read_csv(_double_colon_as_tab(path.read_bytes()), sep="\t", engine="pyarrow",
                       header=None, names=list(RATING_COLUMNS), dtype=_RATING_DTYPES)


def _read_dat_movies(release: Release, folder: Path) -> pd.DataFrame:
    text = _decode((folder / release.movies_file).read_bytes(), release.encoding)
    movies = pd.read_csv(io.StringIO(text.replace("::", "\t")), sep="\t", header=None,
                         names=["movie_id", "title", "genres"], dtype={"movie_id": "int64"},
                         quoting=csv.QUOTE_NONE, keep_default_na=False)
    return movies_frame(movies["movie_id"], movies["title"], _known_genres(movies["genres"]))


def _double_colon_as_tab(raw: bytes) -> io.BytesIO:
    # pandas only splits on "::" with its slow Python engine; a tab never occurs in .dat files
    return io.BytesIO(raw.replace(b"::", b"\t"))


def _decode(raw: bytes, encoding: str) -> str:
    """Text in ``encoding``, or Latin-1 (which decodes any bytes) if it is not that."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_u_data(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=list(RATING_COLUMNS),
                       dtype=_RATING_DTYPES)


def _read_u_item(release: Release, folder: Path) -> pd.DataFrame:
    genre_names = _u_genre_names(folder / "u.genre")
    columns = ["movie_id", "title", "release_date", "video_release_date", "url", *genre_names]
    items = pd.read_csv(folder / release.movies_file, sep="|", header=None, names=columns,
                        encoding=release.encoding, dtype={"movie_id": "int64"},
                        keep_default_na=False)
    flags = items[genre_names].to_numpy(dtype=np.int8).astype(bool)
    names = np.array(genre_names, dtype=object)
    genres = pd.Series(["|".join(names[row]) for row in flags])
    return movies_frame(items["movie_id"], items["title"], _known_genres(genres))


def _u_genre_names(path: Path) -> list[str]:
    """Genre names in flag order, from ``u.genre`` lines like ``Action|1``."""
    genres = pd.read_csv(path, sep="|", header=None, names=["name", "index"])
    return genres.sort_values("index")["name"].tolist()


_UNKNOWN_GENRES = {"(no genres listed)", "unknown"}


def _known_genres(genres: pd.Series) -> pd.Series:
    """Genres with MovieLens' placeholders ("(no genres listed)", "unknown") removed."""
    def clean(value: str) -> str:
        return "|".join(g for g in str(value).split("|") if g and g not in _UNKNOWN_GENRES)
    return genres.fillna("").map(clean)


_READERS: dict[Layout, tuple[Callable[[Path], pd.DataFrame],
                             Callable[[Release, Path], pd.DataFrame]]] = {
    "csv": (_read_csv_ratings, _read_csv_movies),
    "dat": (_read_dat_ratings, _read_dat_movies),
    "u-files": (_read_u_data, _read_u_item),
}
