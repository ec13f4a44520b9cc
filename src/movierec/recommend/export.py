"""Every user's top K as a table, and written to a Parquet or CSV file in one atomic step.

``movierec recommend --all-users --out recs.parquet`` is :func:`export_all_users`;
``--users-per-part N --out DIR`` is :func:`export_parts`: a folder of Parquet parts of ``N``
users each, every part written atomically as soon as it is scored, so memory stays bounded
by one part whatever the catalogue (200,000 users x 87,000 movies at 32M), an interrupted
export resumes where it stopped, and several processes can share the parts (``shard``).
``pandas.read_parquet(DIR)`` reads the parts as one table.

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

__all__ = ["EXPORT_COLUMNS", "EXPORT_SUFFIXES", "ExportSummary", "PartsSummary",
           "all_users_top_k", "export_all_users", "export_parts"]

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
                    chunk_size: int | None = None,
                    user_indices: np.ndarray | None = None) -> pd.DataFrame:
    """The top ``k`` unseen movies of every known user, one row per (user, movie).

    Args:
        recommender: the model.
        k: movies per user (fewer for a user with fewer unseen movies).
        exclude: movie ids never to recommend (ids the model does not know are ignored).
        chunk_size: users scored at once (None: about 4 million scores per chunk), which
            bounds the memory scoring takes.
        user_indices: only these users (encoder indices; default: every user).

    Returns:
        Columns ``user_id, rank (1 = best, int32), movie_id, predicted_rating, title``,
        sorted by user then rank; ``score`` in place of ``predicted_rating`` for a ranking
        model (``recommender.score_kind == "relative"``).
    """
    users = (np.arange(recommender.n_users) if user_indices is None
             else np.asarray(user_indices, dtype=np.int64))
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


PARTS_FORMAT = 1
_MANIFEST = "_manifest.json"  # "_": Parquet readers of the folder skip it


@dataclass(frozen=True)
class PartsSummary:
    """What :func:`export_parts` did in ``out``: parts written now, found done, in all."""

    out: Path
    parts: int
    written: int
    skipped: int
    rows: int
    """Rows in the parts written by this call."""
    seconds: float
    complete: bool
    """Every part of the export exists (this call's shard and the others')."""


def _part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def export_parts(recommender: Recommender, out: str | Path, k: int = 10, *,
                 users_per_part: int = 20_000, exclude: Sequence[Any] | None = None,
                 chunk_size: int | None = None, fingerprint: str = "",
                 shard: tuple[int, int] = (0, 1)) -> PartsSummary:
    """Write every user's top ``k`` to folder ``out`` as Parquet parts, resumably.

    Part ``i`` holds users ``i * users_per_part ..`` (encoder order) with the columns of
    :func:`all_users_top_k`; it is written under a temporary name and renamed, so a part on
    disk is complete, and an existing part is not scored again. ``_manifest.json`` records
    what the export is (k, users per part, the excluded movies, ``fingerprint``: e.g. the
    model file's size and time); a folder holding another export is refused.

    Args:
        recommender: the model.
        out: the folder (created).
        k: movies per user.
        users_per_part: users per part file (bounds memory: one part's scores at a time,
            themselves scored ``chunk_size`` users at once).
        exclude: movie ids never to recommend.
        chunk_size: as for :func:`all_users_top_k`.
        fingerprint: identifies the model, so that parts of another model are not mixed in.
        shard: ``(index, count)``: this process writes parts ``index, index + count, ...``
            (several processes or machines over one shared folder).

    Raises:
        MovierecError: ``out`` holds a different export, or the arguments are out of range.
    """
    index, count = shard
    if users_per_part < 1 or count < 1 or not 0 <= index < count:
        raise MovierecError("users-per-part must be at least 1 and the shard 0 <= i < n")
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    excluded = recommender.movie_indices(list(exclude or []), unknown="drop")
    n_users = int(recommender.n_users)
    n_parts = -(-n_users // users_per_part)
    manifest = {"format": PARTS_FORMAT, "k": int(k), "n_users": n_users,
                "n_movies": int(recommender.n_movies), "users_per_part": int(users_per_part),
                "parts": n_parts, "exclude": sorted(int(i) for i in np.asarray(excluded)),
                "fingerprint": fingerprint}
    _check_manifest(out, manifest)
    written = skipped = rows = 0
    for part in range(index, n_parts, count):
        target = out / _part_name(part)
        if target.is_file():
            skipped += 1
            continue
        users = np.arange(part * users_per_part, min(n_users, (part + 1) * users_per_part))
        frame = all_users_top_k(recommender, k, exclude=exclude, chunk_size=chunk_size,
                                user_indices=users)
        with atomic_path(target) as tmp:
            frame.to_parquet(tmp, index=False)
        written += 1
        rows += len(frame)
    complete = all((out / _part_name(i)).is_file() for i in range(n_parts))
    return PartsSummary(out=out, parts=n_parts, written=written, skipped=skipped, rows=rows,
                        seconds=time.perf_counter() - started, complete=complete)


def _check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    import json

    path = out / _MANIFEST
    if path.is_file():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise MovierecError(f"cannot read {path}: {error}") from error
        if found != manifest:
            differ = sorted(key for key in manifest if found.get(key) != manifest[key])
            raise MovierecError(
                f"{out} holds parts of another export (it differs in {', '.join(differ)}); "
                "write to a new folder, or delete this one to start again")
        return
    if any(out.glob("part-*.parquet")):
        raise MovierecError(f"{out} holds parts but no {_MANIFEST}; delete them or use "
                            "another folder")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
