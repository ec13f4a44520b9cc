"""The SQLite store: one file, WAL journal, ``synchronous=FULL``, writes grouped.

Writes go through one writer thread per open store (:class:`_GroupCommit`): every write
that arrives while a transaction is being committed waits for the next one, and all of them
are committed together, so N concurrent requests cost one fsync, not N. A write that fails
inside a group is retried on its own, so one bad write never takes the others with it.

Several processes may open the same file: each writer takes SQLite's write lock
(``BEGIN IMMEDIATE``) and waits up to :data:`BUSY_TIMEOUT_S` for it. Readers never wait for
writers (WAL).
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from movierec.ids import IdKind
from movierec.store.base import (
    MIGRATIONS,
    SCHEMA_VERSION,
    RatingsStore,
    StoreError,
    StoreUnavailableError,
    check_version,
    migrate,
    write_metadata,
)

__all__ = ["APPLICATION_ID", "BUSY_TIMEOUT_S", "SqliteStore", "create_sqlite", "open_sqlite"]

T = TypeVar("T")

APPLICATION_ID = 0x4D565243
"""``PRAGMA application_id`` of a movierec store ("MVRC"): tells it from other SQLite files."""
BUSY_TIMEOUT_S = 10.0
"""How long a write waits for another process's write lock before it fails (503)."""
MAX_GROUP = 512
"""The most writes one transaction commits together."""


class SqliteStore(RatingsStore):
    """A store in an SQLite file (:func:`open_sqlite`, :func:`create_sqlite`)."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.location = str(path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer: _GroupCommit | None = None
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S,
                                         isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as error:
            raise _unreadable(self.path, error) from error
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._closed:
                raise StoreError(f"the ratings store {self.path} is closed")
            connection = self._connect()
            self._local.connection = connection
            with self._lock:
                self._readers.append(connection)
        return connection

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._reader().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"cannot read the ratings store {self.path}: "
                                        f"{error}") from error

    def _write(self, job: Callable[[Any], T]) -> T:
        return self._submit(job).result()

    def _submit(self, job: Callable[[Any], T]) -> Future[T]:
        with self._lock:
            if self._closed:
                raise StoreError(f"the ratings store {self.path} is closed")
            if self._writer is None:
                self._writer = _GroupCommit(self._connect, self.path)
            writer = self._writer
        return writer.submit(job)

    @property
    def commits(self) -> int:
        """Write transactions this process has committed (see :class:`_GroupCommit`)."""
        return self._writer.commits if self._writer is not None else 0

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer, self._writer = self._writer, None
            readers, self._readers = self._readers, []
        if writer is not None:
            writer.stop()
        for connection in readers:
            connection.close()


class _GroupCommit:
    """One thread that commits every waiting write in one transaction."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], path: Path) -> None:
        self._connect = connect
        self._path = path
        self.commits = 0
        """Transactions committed so far (fewer than writes when writes were grouped)."""
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], Any], Future[Any]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._loop, name=f"store-writer {path.name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[Any], T]) -> Future[T]:
        """Queue ``job`` for the next transaction; its future is set once committed."""
        future: Future[T] = Future()
        self._queue.put((job, future))
        return future

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        connection: sqlite3.Connection | None = None
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
            try:
                if connection is None:
                    connection = self._connect()
            except StoreError as error:
                for _, future in group:
                    future.set_exception(error)
                continue
            self._commit(connection, group)
        if connection is not None:
            connection.close()

    def _commit(self, connection: sqlite3.Connection,
                group: list[tuple[Callable[[Any], Any], Future[Any]]]) -> None:
        try:
            results = _transaction(connection, [job for job, _ in group])
            self.commits += 1
        except Exception as error:
            if len(group) > 1:  # find the write that failed: each on its own
                for item in group:
                    self._commit(connection, [item])
                return
            group[0][1].set_exception(_write_failed(self._path, error))
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)


def _transaction(connection: sqlite3.Connection, jobs: list[Callable[[Any], Any]]) -> list[Any]:
    cursor = connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    try:
        results = [job(cursor) for job in jobs]
        cursor.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.rollback()
        raise
    return results


def _write_failed(path: Path, error: Exception) -> Exception:
    if isinstance(error, StoreError):
        return error
    if isinstance(error, sqlite3.Error):
        text = str(error)
        if "locked" in text or "busy" in text:
            hint = "another process holds the write lock; try again"
        elif "readonly" in text or "read-only" in text:
            hint = "the file (or its folder) is read-only; make it writable"
        elif "full" in text or "disk I/O" in text:
            hint = "the disk is full or a file-size limit was reached; free some space"
        else:
            hint = "check the file and its folder"
        return StoreUnavailableError(f"cannot write to the ratings store {path}: {text} "
                                     f"({hint}); nothing of this write was stored")
    return error


def _unreadable(path: Path, error: sqlite3.Error) -> StoreError:
    text = str(error)
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path} is not a movierec ratings store: it is not an SQLite "
                          f"database, or it is damaged ({text}). Give another --store, or "
                          "create one with `movierec store init`")
    return StoreUnavailableError(f"cannot open the ratings store {path}: {text}")


# -- opening and creating ---------------------------------------------------------------
def open_sqlite(path: str | os.PathLike[str]) -> SqliteStore:
    """The store in the file ``path``, migrated to :data:`SCHEMA_VERSION` if older.

    Raises:
        StoreError: no such file; not an SQLite database, damaged, or another program's;
            written by a newer movierec.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no ratings store at {path}: create one with `movierec store init "
                         f"--store {path} --dataset latest-small` (or --ratings FILE)")
    store = SqliteStore(path)
    try:
        connection = store._reader()
        try:
            found = connection.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as error:
            raise _unreadable(path, error) from error
        if found != APPLICATION_ID or "movierec_meta" not in tables:
            raise StoreError(f"{path} is an SQLite database but not a movierec ratings store "
                             "(it has no movierec metadata). Give another --store, or create "
                             "one with `movierec store init`")
        store._load_metadata()
        check_version(store, path)
        if store.schema_version < SCHEMA_VERSION:
            store._write(lambda cursor: migrate(cursor, store.schema_version))
            store._load_metadata()
    except BaseException:
        store.close()
        raise
    return store


def create_sqlite(path: str | os.PathLike[str], ratings: pd.DataFrame, *, id_kind: IdKind,
                  dataset: str = "", overwrite: bool = False,
                  schema_version: int = SCHEMA_VERSION) -> SqliteStore:
    """A new store at ``path`` holding ``ratings``, built beside it and renamed into place,
    so ``path`` is never a half-imported store.

    Raises:
        StoreError: ``path`` exists and ``overwrite`` is False, or bad ratings.
        StoreUnavailableError: the file cannot be written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreError(f"{path} already exists: pass --overwrite to replace it, or choose "
                         "another --store")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _remove_sqlite(tmp)
    store = SqliteStore(tmp)
    try:
        connection = store._connect()
        try:
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()
        store.metadata = {"id_kind": id_kind}

        def build(cursor: Any) -> int:
            for statement in MIGRATIONS[1]:
                cursor.execute(statement)
            write_metadata(cursor, id_kind=id_kind, dataset=dataset)
            if schema_version > 1:
                migrate(cursor, 1, schema_version)
            return store._import(cursor, ratings)

        store._write(build)
        store.close()
        for suffix in ("-wal", "-shm"):  # an old store's journal must not meet the new file
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, path)
    except OSError as error:
        raise StoreUnavailableError(f"cannot write the ratings store {path}: {error}") from error
    finally:
        store.close()
        _remove_sqlite(tmp)
    return open_sqlite(path)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
