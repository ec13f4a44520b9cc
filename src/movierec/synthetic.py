"""Synthetic MovieLens-shaped ratings, for scale benchmarks and tests.

The generator draws who rates what and how, with the shape that matters for training cost
and for accuracy:

* **User activity is long-tailed** (log-normal): most users rate a few dozen movies, a few
  rate thousands, as in MovieLens.
* **Movie popularity is long-tailed** (log-normal): a small head of movies collects most
  ratings (the top 10 % about 60 %, as in latest-small) and many movies are rarely rated.
* **Ratings come from latent factors plus noise**:
  ``3.5 + b_user + b_movie + p_user . q_movie + noise``, rounded to half stars and clipped
  to the 0.5-5 scale, so a factor model can learn them and a global mean cannot.
* No user rates a movie twice.

By default the catalogue grows with the data as in the MovieLens releases: about one user
per 150 ratings and ``2.1 * n_ratings ** 0.6`` movies (25M ratings: 167k users, 59k movies,
as in ML-25M's 162k and 59k). Everything is drawn from ``numpy.random.default_rng(seed)``;
the same arguments give the same ratings, and the global random state is never touched.

Example:
    >>> from movierec.synthetic import generate
    >>> data = generate(10_000, seed=0)
    >>> data.pairs.shape, data.ratings.dtype.name
    ((10000, 2), 'float32')
    >>> float(data.ratings.min()) >= 0.5 and float(data.ratings.max()) <= 5.0
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SyntheticRatings", "default_shape", "generate", "synthetic_dataset", "write_release"]

RATING_SCALE = (0.5, 5.0)
_MEAN = 3.5
_CHUNK = 1 << 20  # rows per chunk when computing ratings, to bound memory at 25M


@dataclass(frozen=True)
class SyntheticRatings:
    """Encoded synthetic ratings: what training needs, without a DataFrame's overhead.

    Attributes:
        pairs: int32 ``(n, 2)`` of ``[user_index, movie_index]``, sorted by user.
        ratings: float32 ``(n,)`` on the half-star 0.5-5 scale.
        n_users, n_movies: sizes of the id spaces (some ids may have no rating).
    """

    pairs: np.ndarray
    ratings: np.ndarray
    n_users: int
    n_movies: int

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)

    def to_frame(self, seed: int = 0) -> pd.DataFrame:
        """The ratings as a MovieLens-style frame (user_id, movie_id, rating, timestamp).

        Ids are 1-based like MovieLens'; timestamps increase within each user.
        """
        rng = np.random.default_rng(seed)
        start = 946_684_800  # 2000-01-01
        timestamps = start + np.sort(rng.integers(0, 20 * 365 * 86_400, self.n_ratings))
        return pd.DataFrame({
            "user_id": self.pairs[:, 0].astype(np.int64) + 1,
            "movie_id": self.pairs[:, 1].astype(np.int64) + 1,
            "rating": self.ratings,
            "timestamp": timestamps.astype(np.int64),
        })


def default_shape(n_ratings: int) -> tuple[int, int]:
    """``(n_users, n_movies)`` of a MovieLens release with about ``n_ratings`` ratings.

    Small sizes get more users than one per 150 ratings, so that at most a quarter of all
    (user, movie) pairs are rated.
    """
    n_movies = max(20, round(2.1 * n_ratings**0.6))
    n_users = max(10, round(n_ratings / 150), -(-4 * n_ratings // n_movies))
    return n_users, n_movies


def generate(
    n_ratings: int,
    *,
    n_users: int | None = None,
    n_movies: int | None = None,
    factors: int = 8,
    noise: float = 0.7,
    user_activity_sigma: float = 1.2,
    popularity_sigma: float = 1.6,
    seed: int = 0,
) -> SyntheticRatings:
    """Draw ``n_ratings`` distinct (user, movie) ratings with MovieLens' shape.

    Args:
        n_ratings: how many ratings; must fit in ``n_users * n_movies`` with room to spare.
        n_users, n_movies: id space sizes (default :func:`default_shape`).
        factors: rank of the latent taste model behind the ratings.
        noise: standard deviation of the rating noise, in stars, before rounding.
        user_activity_sigma: spread of the log-normal user activity (larger: longer tail).
        popularity_sigma: spread of the log-normal movie popularity (larger: longer tail).
        seed: seed of the generator's own ``numpy.random.Generator``.

    Returns:
        :class:`SyntheticRatings` sorted by user, then movie.

    Raises:
        ValueError: a size is not positive, or the ratings cannot fit the id space.
    """
    if n_ratings < 1:
        raise ValueError(f"n_ratings must be positive, got {n_ratings}")
    default_users, default_movies = default_shape(n_ratings)
    n_users = default_users if n_users is None else int(n_users)
    n_movies = default_movies if n_movies is None else int(n_movies)
    if n_users < 1 or n_movies < 1 or factors < 1:
        raise ValueError("n_users, n_movies and factors must be positive")
    if n_ratings > 0.5 * n_users * n_movies:
        raise ValueError(
            f"{n_ratings} ratings do not fit {n_users} users x {n_movies} movies "
            "(at most half of all pairs); pass larger n_users or n_movies"
        )
    rng = np.random.default_rng(seed)

    # Who rates how much, and which movies are popular.
    activity = rng.lognormal(0.0, user_activity_sigma, n_users)
    user_p = activity / activity.sum()
    popularity = rng.lognormal(0.0, popularity_sigma, n_movies)
    movie_cdf = np.cumsum(popularity / popularity.sum())
    movie_cdf[-1] = 1.0

    keys = _distinct_pairs(rng, n_ratings, user_p, movie_cdf, n_movies)
    users = (keys // n_movies).astype(np.int32)
    movies = (keys % n_movies).astype(np.int32)
    del keys

    # How they rate: biases plus latent tastes plus noise.
    scale = (0.25 / factors) ** 0.25  # p . q has a standard deviation of about 0.5
    user_bias = rng.normal(0.0, 0.35, n_users).astype(np.float32)
    log_pop = np.log(popularity)
    movie_bias = (rng.normal(0.0, 0.4, n_movies)
                  + 0.15 * (log_pop - log_pop.mean()) / log_pop.std()).astype(np.float32)
    # Centre the biases over the ratings (not the ids), so the mean rating stays near 3.5
    # whatever the popularity skew.
    user_bias -= np.average(user_bias, weights=np.bincount(users, minlength=n_users))
    movie_bias -= np.average(movie_bias, weights=np.bincount(movies, minlength=n_movies))
    p = rng.normal(0.0, scale, (n_users, factors)).astype(np.float32)
    q = rng.normal(0.0, scale, (n_movies, factors)).astype(np.float32)
    ratings = np.empty(n_ratings, dtype=np.float32)
    for start in range(0, n_ratings, _CHUNK):
        u = users[start:start + _CHUNK]
        m = movies[start:start + _CHUNK]
        value = (_MEAN + user_bias[u] + movie_bias[m] + np.einsum("ij,ij->i", p[u], q[m])
                 + rng.normal(0.0, noise, len(u)).astype(np.float32))
        ratings[start:start + _CHUNK] = np.clip(np.round(value * 2.0) / 2.0, *RATING_SCALE)
    return SyntheticRatings(np.stack([users, movies], axis=1), ratings, n_users, n_movies)


def _distinct_pairs(rng: np.random.Generator, n: int, user_p: np.ndarray,
                    movie_cdf: np.ndarray, n_movies: int) -> np.ndarray:
    """``n`` distinct sorted keys ``user * n_movies + movie`` drawn from the two marginals.

    Draws a surplus once (duplicates are dropped), tops up in the rare case that was not
    enough, and finally drops a random surplus.
    """
    keys = np.empty(0, dtype=np.int64)
    extra = 1.25
    for _ in range(20):
        draw = int((n - len(keys)) * extra) + 64
        users = np.repeat(np.arange(len(user_p), dtype=np.int64), rng.multinomial(draw, user_p))
        movies = np.searchsorted(movie_cdf, rng.random(draw), side="right")
        fresh = users * n_movies + np.minimum(movies, n_movies - 1)
        del users, movies
        keys = np.unique(np.concatenate([keys, fresh]) if len(keys) else fresh)
        del fresh
        if len(keys) >= n:
            surplus = rng.choice(len(keys), len(keys) - n, replace=False)
            return np.delete(keys, surplus)
        extra *= 2.0
    raise ValueError("could not draw enough distinct pairs; use a larger id space")


def synthetic_dataset(n_ratings: int, *, seed: int = 0, name: str | None = None, **kwargs):
    """:func:`generate` wrapped as a :class:`movierec.data.Dataset` with a stub catalogue."""
    from movierec.data import Dataset

    data = generate(n_ratings, seed=seed, **kwargs)
    ids = np.arange(1, data.n_movies + 1, dtype=np.int64)
    movies = pd.DataFrame({
        "movie_id": ids,
        "title": [f"Synthetic movie {i}" for i in ids],
        "year": pd.array([pd.NA] * data.n_movies, dtype="Int64"),
        "genres": "",
    })
    return Dataset(name or f"synthetic-{n_ratings}", data.to_frame(seed), movies, RATING_SCALE)


_GENRES = ("Action", "Comedy", "Drama", "Romance", "Thriller", "Sci-Fi", "Animation")


def write_release(name: str, folder, n_ratings: int, *, seed: int = 0,
                  chunk_rows: int = 4_000_000):
    """Write synthetic ratings shaped like release ``name`` into ``folder``, in that
    release's own file layout (``ratings.csv``/``movies.csv`` with headers for 20m, 25m,
    32m and latest-small; ``::``-separated ``ratings.dat``/``movies.dat`` for 1m and 10m),
    so that :func:`movierec.data.movielens.read_release` and the Parquet cache read them as
    they read GroupLens' files. Whole-star releases (1m) get whole-star ratings.

    Args:
        name: a release (``"1m"`` ... ``"32m"``; not ``"100k"``, whose ``u.*`` files this
            does not write).
        folder: where to write (created).
        n_ratings: how many ratings.
        seed: as for :func:`generate`.
        chunk_rows: rows written at a time (bounds the text buffers at 32M).

    Returns:
        The :class:`SyntheticRatings` written (ids in the files are indices + 1).
    """
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from movierec.data.movielens import get_release

    release = get_release(name)
    if release.layout == "u-files":
        raise ValueError(f"{name}: the u.* layout is not written by write_release")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = generate(n_ratings, seed=seed)
    ratings = data.ratings
    if release.rating_scale[0] >= 1.0:  # whole stars
        ratings = np.clip(np.ceil(ratings), 1.0, 5.0).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    timestamps = (946_684_800 + rng.integers(0, 20 * 365 * 86_400, n_ratings)).astype(np.int64)
    movie_ids = np.arange(1, data.n_movies + 1, dtype=np.int64)
    years = 1950 + movie_ids % 70
    titles = [f"Synthetic movie {i} ({y})" for i, y in zip(movie_ids, years, strict=True)]
    genres = ["|".join(_GENRES[j] for j in range(len(_GENRES)) if (i >> j) % 3 == 0) or
              "(no genres listed)" for i in movie_ids]
    if release.layout == "csv":
        with pacsv.CSVWriter(folder / release.ratings_file, pa.schema([
                ("userId", pa.int64()), ("movieId", pa.int64()), ("rating", pa.float64()),
                ("timestamp", pa.int64())])) as writer:
            for start in range(0, n_ratings, chunk_rows):
                part = slice(start, start + chunk_rows)
                writer.write_table(pa.table({
                    "userId": data.pairs[part, 0].astype(np.int64) + 1,
                    "movieId": data.pairs[part, 1].astype(np.int64) + 1,
                    "rating": ratings[part].astype(np.float64),
                    "timestamp": timestamps[part]}))
        pd.DataFrame({"movieId": movie_ids, "title": titles, "genres": genres}).to_csv(
            folder / release.movies_file, index=False)
    else:
        with open(folder / release.ratings_file, "wb") as out:
            for start in range(0, n_ratings, chunk_rows):
                part = slice(start, start + chunk_rows)
                frame = pd.DataFrame({
                    "u": data.pairs[part, 0].astype(np.int64) + 1,
                    "m": data.pairs[part, 1].astype(np.int64) + 1,
                    "r": [f"{r:g}" for r in ratings[part]], "t": timestamps[part]})
                text = frame.to_csv(sep="\t", header=False, index=False)
                out.write(text.replace("\t", "::").encode())
        lines = "".join(f"{i}::{t}::{g}\n" for i, t, g in zip(movie_ids, titles, genres,
                                                                strict=True))
        (folder / release.movies_file).write_bytes(lines.encode(release.encoding))
    return data
