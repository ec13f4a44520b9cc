"""What every ratings store does, written once over a DB-API cursor; the backends
(:mod:`~movierec.store.sqlite`, :mod:`~movierec.store.postgres`) only say how a transaction
is run and where a connection comes from.

The schema is versioned (:data:`SCHEMA_VERSION`). Each version is a list of statements in
:data:`MIGRATIONS`; opening an older store applies the missing ones in one transaction, and a
store written by a newer movierec is refused with a message, never guessed at.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from movierec.errors import MovierecError
from movierec.ids import IdKind, parse_id

__all__ = [
    "APPLICATION", "MIGRATIONS", "SCHEMA_VERSION", "RatingsStore", "StoreError",
    "StoreUnavailableError", "StoredRating",
]

T = TypeVar("T")

APPLICATION = "movierec-ratings"
"""The ``application`` row of every store's metadata: what tells a store from a stranger."""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 1: ratings, one row per (user, movie), and the store-wide write counter.
    1: (
        "CREATE TABLE movierec_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE movierec_counter (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "last_seq BIGINT NOT NULL)",
        "INSERT INTO movierec_counter (id, last_seq) VALUES (1, 0)",
        "CREATE TABLE movierec_ratings (user_id TEXT NOT NULL, movie_id TEXT NOT NULL, "
        "rating DOUBLE PRECISION NOT NULL, timestamp BIGINT NOT NULL, seq BIGINT NOT NULL, "
        "PRIMARY KEY (user_id, movie_id))",
    ),
    # 2: what changed since a sequence number: an index on seq, and a log of deletions
    # (a deleted rating has no row left to carry its seq).
    2: (
        "CREATE INDEX movierec_ratings_seq ON movierec_ratings (seq)",
        "CREATE TABLE movierec_deletions (seq BIGINT PRIMARY KEY, user_id TEXT NOT NULL, "
        "movie_id TEXT NOT NULL)",
    ),
}
SCHEMA_VERSION = max(MIGRATIONS)
"""The schema this movierec writes; older stores are migrated to it when opened."""

IMPORT_BATCH = 50_000
"""Rows per ``executemany`` when a table of ratings is imported."""

_UPSERT = ("INSERT INTO movierec_ratings (user_id, movie_id, rating, timestamp, seq) "
           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, movie_id) DO UPDATE SET "
           "rating = excluded.rating, timestamp = excluded.timestamp, seq = excluded.seq")
_NEXT_SEQ = "UPDATE movierec_counter SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"


class StoreError(MovierecError):
    """The store cannot be used as asked: missing, damaged, foreign, newer, or bad input."""


class StoreUnavailableError(StoreError):
    """The store cannot be written (or reached) right now: a read-only file, a full disk,
    a database server that is down. Nothing of the write was kept; the service answers 503."""


@dataclass(frozen=True)
class StoredRating:
    """One stored rating of a user: the latest they gave that movie."""

    movie_id: int | str
    rating: float
    timestamp: int
    """Seconds since the epoch (UTC), when the rating was written (or the imported one's)."""
    seq: int
    """The store-wide sequence number of the write that stored it."""


class RatingsStore(ABC):
    """A ratings store: :func:`~movierec.store.open_store` or
    :func:`~movierec.store.create_store` gives one; use it as a context manager or
    :meth:`close` it.

    Every method may be called from several threads at once. Ids are typed by the store's
    ``id_kind`` (``"int"`` for MovieLens, ``"str"`` for a user's own files), as the
    run's encoders type them.
    """

    backend: str
    """``"sqlite"`` or ``"postgresql"``."""
    location: str
    """The file, or the URL without its password: what messages name."""
    _mark = "?"
    """The driver's parameter marker (SQL here is written with ``?``)."""

    def __init__(self) -> None:
        self.metadata: dict[str, str] = {}

    # -- what a backend provides ----------------------------------------------------------
    @abstractmethod
    def _write(self, job: Callable[[Any], T]) -> T:
        """``job(cursor)`` inside one write transaction; returns once it is durable.

        Raises:
            StoreUnavailableError: the transaction could not be committed.
        """

    def _submit(self, job: Callable[[Any], T]) -> Future[T]:
        """:meth:`_write` without waiting: a future of its result. Backends with a writer
        thread queue the job; the default runs it in a thread of its own."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(self._write(job))
            except BaseException as error:
                future.set_exception(error)

        threading.Thread(target=run, daemon=True).start()
        return future

    @abstractmethod
    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query."""

    @abstractmethod
    def close(self) -> None:
        """Finish pending writes and release connections."""

    def __enter__(self) -> RatingsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata -------------------------------------------------------------------------
    @property
    def id_kind(self) -> IdKind:
        return "str" if self.metadata.get("id_kind") == "str" else "int"

    @property
    def schema_version(self) -> int:
        return int(self.metadata.get("schema_version", "0"))

    def _load_metadata(self) -> None:
        self.metadata = {str(k): str(v) for k, v in
                         self._read("SELECT key, value FROM movierec_meta")}

    # -- writes ---------------------------------------------------------------------------
    def put(self, user: Any, ratings: Iterable[tuple[Any, float]], *,
            timestamp: int | None = None) -> int:
        """Store ``ratings`` (movie id, rating) of ``user`` as one write, all or nothing
        (:meth:`put_future`, waited for).

        Returns the write's sequence number, once the write is durable.
        """
        return self.put_future(user, ratings, timestamp=timestamp).result()

    def put_future(self, user: Any, ratings: Iterable[tuple[Any, float]], *,
                   timestamp: int | None = None) -> Future[int]:
        """Store ``ratings`` (movie id, rating) of ``user`` as one write, all or nothing:
        each replaces that user's earlier rating of the movie.

        Returns a future of the write's sequence number, set once the write is durable (an
        ``asyncio`` caller awaits it with :func:`asyncio.wrap_future`, no thread needed).

        Raises:
            StoreError: an id that is not an id of the store's kind, a rating that is not
                a finite number, a movie twice in the batch, or an empty batch (nothing is
                stored).
            StoreUnavailableError: (from the future) the store cannot be written now
                (nothing is stored).
        """
        user_key = self._key(user, "user id")
        rows: list[tuple[str, float]] = []
        seen: set[str] = set()
        for movie, rating in ratings:
            movie_key = self._key(movie, "movie id")
            value = _finite(rating, movie)
            if movie_key in seen:
                raise StoreError(f"movie id {movie!r} appears twice in one batch of ratings: "
                                 "send each movie once")
            seen.add(movie_key)
            rows.append((movie_key, value))
        if not rows:
            raise StoreError("a batch of ratings needs at least one rating")
        stamp = int(time.time()) if timestamp is None else int(timestamp)

        def job(cursor: Any) -> int:
            seq = int(cursor.execute(self._sql(_NEXT_SEQ)).fetchone()[0])
            cursor.executemany(self._sql(_UPSERT), [(user_key, movie, value, stamp, seq)
                                                    for movie, value in rows])
            return seq

        return self._submit(job)

    def delete(self, user: Any, movie: Any) -> int | None:
        """Remove ``user``'s rating of ``movie``; the write's sequence number, or None when
        there was no such rating (nothing changes)."""
        user_key, movie_key = self._key(user, "user id"), self._key(movie, "movie id")

        def job(cursor: Any) -> int | None:
            cursor.execute(self._sql("DELETE FROM movierec_ratings WHERE user_id = ? AND "
                                     "movie_id = ?"), (user_key, movie_key))
            if cursor.rowcount < 1:
                return None
            seq = int(cursor.execute(self._sql(_NEXT_SEQ)).fetchone()[0])
            cursor.execute(self._sql("INSERT INTO movierec_deletions (seq, user_id, movie_id) "
                                     "VALUES (?, ?, ?)"), (seq, user_key, movie_key))
            return seq

        return self._write(job)

    def _import(self, cursor: Any, frame: pd.DataFrame) -> int:
        """Insert ``frame`` (``user_id, movie_id, rating``, optionally ``timestamp``) as one
        write, in batches; a pair given twice keeps its latest rating. Returns the count."""
        table = normalise_frame(frame, self.id_kind)
        if not len(table):
            return 0
        seq = int(cursor.execute(self._sql(_NEXT_SEQ)).fetchone()[0])
        columns = (table["user_id"].tolist(), table["movie_id"].tolist(),
                   table["rating"].tolist(), table["timestamp"].tolist())
        rows = [(*row, seq) for row in zip(*columns, strict=True)]
        for start in range(0, len(rows), IMPORT_BATCH):
            cursor.executemany(self._sql(_UPSERT), rows[start:start + IMPORT_BATCH])
        return len(rows)

    # -- reads ----------------------------------------------------------------------------
    def user_ratings(self, user: Any) -> list[StoredRating]:
        """Every stored rating of ``user``, in the order they were written (empty for a
        user the store does not know, or an id of the wrong kind)."""
        key = parse_id(user, self.id_kind)
        if key is None:
            return []
        rows = self._read(self._sql("SELECT movie_id, rating, timestamp, seq FROM "
                                    "movierec_ratings WHERE user_id = ? ORDER BY seq, movie_id"),
                          (str(key),))
        typed = self._typed
        return [StoredRating(typed(movie), float(rating), int(stamp), int(seq))
                for movie, rating, stamp, seq in rows]

    def last_seq(self) -> int:
        """The sequence number of the latest write (0 for a store never written)."""
        return int(self._read("SELECT last_seq FROM movierec_counter WHERE id = 1")[0][0])

    def count(self) -> int:
        """How many ratings are stored."""
        return int(self._read("SELECT COUNT(*) FROM movierec_ratings")[0][0])

    def to_frame(self, since_seq: int = 0) -> pd.DataFrame:
        """The stored ratings written after ``since_seq`` (all of them by default), as
        ``user_id, movie_id, rating, timestamp, seq`` in write order, ids typed."""
        rows = self._read(self._sql("SELECT user_id, movie_id, rating, timestamp, seq FROM "
                                    "movierec_ratings WHERE seq > ? ORDER BY seq, user_id, "
                                    "movie_id"), (int(since_seq),))
        columns = ["user_id", "movie_id", "rating", "timestamp", "seq"]
        frame = pd.DataFrame(rows, columns=columns)
        id_type: Any = np.int64 if self.id_kind == "int" else object
        return frame.astype({"user_id": id_type, "movie_id": id_type, "rating": np.float32,
                             "timestamp": np.int64, "seq": np.int64})

    def deletions(self, since_seq: int = 0) -> pd.DataFrame:
        """The ratings deleted after ``since_seq``: ``seq, user_id, movie_id``."""
        rows = self._read(self._sql("SELECT seq, user_id, movie_id FROM movierec_deletions "
                                    "WHERE seq > ? ORDER BY seq"), (int(since_seq),))
        frame = pd.DataFrame(rows, columns=["seq", "user_id", "movie_id"])
        id_type: Any = np.int64 if self.id_kind == "int" else object
        return frame.astype({"seq": np.int64, "user_id": id_type, "movie_id": id_type})

    def info(self) -> dict[str, Any]:
        """What ``movierec store info`` prints: where, which schema, how much."""
        counts = self._read("SELECT COUNT(*), COUNT(DISTINCT user_id), COUNT(DISTINCT movie_id) "
                            "FROM movierec_ratings")[0]
        return {
            "store": self.location, "backend": self.backend,
            "schema_version": self.schema_version, "id_kind": self.id_kind,
            "dataset": self.metadata.get("dataset", ""),
            "created": self.metadata.get("created", ""),
            "n_ratings": int(counts[0]), "n_users": int(counts[1]), "n_movies": int(counts[2]),
            "last_seq": self.last_seq(),
        }

    # -- helpers --------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self._mark == "?" else sql.replace("?", self._mark)

    def _key(self, raw: Any, label: str) -> str:
        value = parse_id(raw, self.id_kind)
        if value is None:
            kind = "an integer" if self.id_kind == "int" else "a string"
            raise StoreError(f"{label} {raw!r} is not an id of this store: its ids are "
                             f"{kind}s")
        return str(value)

    def _typed(self, text: str) -> int | str:
        return int(text) if self.id_kind == "int" else text


def _finite(rating: Any, movie: Any) -> float:
    try:
        value = float(rating)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or isinstance(rating, bool):
        raise StoreError(f"the rating of movie id {movie!r} must be a finite number, "
                         f"not {rating!r}")
    return value


def normalise_frame(frame: pd.DataFrame, id_kind: IdKind) -> pd.DataFrame:
    """``frame``'s ratings as the store keeps them: ids as text, ratings as floats,
    timestamps as integers (now where missing), one row per pair (the latest wins).

    Raises:
        StoreError: a column is missing, or a rating is not a finite number.
    """
    missing = [c for c in ("user_id", "movie_id", "rating") if c not in frame]
    if missing:
        raise StoreError(f"ratings to import need the columns user_id, movie_id and rating; "
                         f"missing: {', '.join(missing)}")
    ratings = pd.to_numeric(frame["rating"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(ratings)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise StoreError(f"rating in row {row + 1} of the ratings to import is "
                         f"{frame['rating'].iloc[row]!r}, not a finite number")
    stamps = (frame["timestamp"].to_numpy(np.int64) if "timestamp" in frame
              else np.full(len(frame), int(time.time()), dtype=np.int64))
    table = pd.DataFrame({
        "user_id": _id_text(frame["user_id"], id_kind),
        "movie_id": _id_text(frame["movie_id"], id_kind),
        "rating": ratings, "timestamp": stamps,
    })
    order = np.argsort(table["timestamp"].to_numpy(), kind="stable")
    table = table.iloc[order].drop_duplicates(["user_id", "movie_id"], keep="last")
    return table.reset_index(drop=True)


def _id_text(column: pd.Series, id_kind: IdKind) -> pd.Series:
    if id_kind == "int" and pd.api.types.is_integer_dtype(column):
        return column.astype(np.int64).astype(str)
    return column.astype(str)


def now_text() -> str:
    """The creation time a store records (UTC, ISO 8601, to the second)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def check_version(store: RatingsStore, where: object) -> None:
    """Refuse a store of another application, or one newer than this movierec reads."""
    if store.metadata.get("application") != APPLICATION:
        raise StoreError(f"{where} is not a movierec ratings store (its metadata names no "
                         "movierec application)")
    if store.schema_version > SCHEMA_VERSION:
        raise StoreError(f"the ratings store {where} has schema version "
                         f"{store.schema_version}, written by a newer movierec; this one "
                         f"reads up to version {SCHEMA_VERSION}. Upgrade movierec")


def migrate(cursor: Any, version: int, target: int = SCHEMA_VERSION, mark: str = "?") -> None:
    """Apply the statements of every schema version after ``version`` up to ``target``."""
    for step in range(version + 1, target + 1):
        for statement in MIGRATIONS[step]:
            cursor.execute(statement)
    sql = ("UPDATE movierec_meta SET value = ? WHERE key = 'schema_version'"
           .replace("?", mark))
    cursor.execute(sql, (str(target),))


def write_metadata(cursor: Any, *, id_kind: IdKind, dataset: str, mark: str = "?") -> None:
    """The metadata rows of a new store (after version 1's tables exist)."""
    rows = [("application", APPLICATION), ("schema_version", "1"), ("id_kind", id_kind),
            ("dataset", dataset), ("created", now_text())]
    cursor.executemany("INSERT INTO movierec_meta (key, value) VALUES (?, ?)"
                       .replace("?", mark), rows)
