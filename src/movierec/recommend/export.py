"""Every user's top K as a table, and written to a Parquet or CSV file in one atomic step.

``movierec recommend --all-users --out recs.parquet`` is :func:`export_all_users`.

Example:
    >>> summary = export_all_users(rec, "recs.parquet", k=10)      # doctest: +SKIP
    >>> summary.rows == 10 * rec.n_users                            # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.atomic import atomic_path
from movierec.errors import MovierecError

if TYPE_CHECKING:
    from movierec.recommend.recommender import Recommender

__all__ = ["EXPORT_COLUMNS", "EXPORT_SUFFIXES", "ExportSummary", "all_users_top_k",
           "export_all_users"]

EXPORT_SUFFIXES = (".parquet", ".csv")
"""The file types :func:`export_all_users` writes, by suffix (case-insensitive)."""
EXPORT_COLUMNS = ("user_id", "rank", "movie_id", "predicted_rating", "title")
"""The columns for a rating model; a ranking model's file has ``score`` (its relative score,
no rating) in place of ``predicted_rating``."""


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_all_users` wrote: ``rows`` rows for ``users`` users to ``out``."""

    out: Path
    users: int
    rows: int
    seconds: float


def all_users_top_k(recommender: Recommender, k: int = 10, *,
                    exclude: Sequence[Any] | None = None,
                    chunk_size: int | None = None) -> pd.DataFrame:
    """The top ``k`` unseen movies of every known user, one row per (user, movie).

    Args:
        recommender: the model.
        k: movies per user (fewer for a user with fewer unseen movies).
        exclude: movie ids never to recommend (ids the model does not know are ignored).
        chunk_size: users scored at once (None: about 4 million scores per chunk), which
            bounds the memory scoring takes.

    Returns:
        Columns ``user_id, rank (1 = best, int32), movie_id, predicted_rating, title``,
        sorted by user then rank; ``score`` in place of ``predicted_rating`` for a ranking
        model (``recommender.score_kind == "relative"``).
    """
    users = np.arange(recommender.n_users)
    items, predicted = recommender.recommend_indices(
        users, k, exclude=recommender.movie_indices(list(exclude or []), unknown="drop"),
        chunk_size=chunk_size)
    valid = items >= 0
    rows = np.nonzero(valid)
    frame = pd.DataFrame({
        "user_id": recommender.encoders.users.inverse(users[rows[0]]),
        "rank": (rows[1] + 1).astype(np.int32),
        "movie_id": recommender.encoders.movies.inverse(items[valid]),
        ("predicted_rating" if recommender.score_kind == "rating" else "score"):
            predicted[valid],
    })
    frame["title"] = recommender.catalog.describe(frame["movie_id"].tolist())["title"].to_numpy()
    return frame


def export_all_users(recommender: Recommender, out: str | Path, k: int = 10, *,
                     exclude: Sequence[Any] | None = None,
                     chunk_size: int | None = None) -> ExportSummary:
    """Write :func:`all_users_top_k` to ``out`` (``.parquet`` or ``.csv``).

    The file appears complete or not at all: it is written next to ``out`` under a
    temporary name and renamed into place (:func:`movierec.atomic.atomic_path`).

    Raises:
        MovierecError: ``out`` ends in neither ``.parquet`` nor ``.csv``.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise MovierecError(f"the export file must end in .parquet or .csv, not {out.name!r}")
    started = time.perf_counter()
    frame = all_users_top_k(recommender, k, exclude=exclude, chunk_size=chunk_size)
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return ExportSummary(out=out, users=int(recommender.n_users), rows=len(frame),
                         seconds=time.perf_counter() - started)
