"""The PostgreSQL store: for several service processes or machines on one database.

A ``postgresql://`` URL, psycopg 3 and its connection pool (the ``postgres`` extra:
``pip install "movierec[postgres]"``). Each write is one transaction; concurrent writes
commit in parallel, and PostgreSQL groups their WAL flushes itself. Every write takes the
next number of the store's counter row inside its transaction, so writes commit in the
order of their sequence numbers and a reader that has seen number N has seen every write
before it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

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

__all__ = ["PostgresStore", "create_postgres", "open_postgres", "shown_url"]

T = TypeVar("T")

POOL_SIZE = 8
"""Connections one process keeps open at most."""
CONNECT_TIMEOUT_S = 10.0
_TABLES = ("movierec_deletions", "movierec_ratings", "movierec_counter", "movierec_meta")


def shown_url(url: str) -> str:
    """``url`` without its password, for messages and ``store info``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _driver() -> Any:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as error:
        raise StoreError("a postgresql:// store needs psycopg 3 and its pool: "
                         'pip install "movierec[postgres]"') from error
    return psycopg, psycopg_pool


class PostgresStore(RatingsStore):
    """A store in a PostgreSQL database (:func:`open_postgres`, :func:`create_postgres`)."""

    backend = "postgresql"
    _mark = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.location = shown_url(url)
        self._psycopg, pool_module = _driver()
        self._executor = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="store-writer")
        try:
            self._pool = pool_module.ConnectionPool(
                url, min_size=1, max_size=POOL_SIZE, open=True, timeout=CONNECT_TIMEOUT_S,
                kwargs={"connect_timeout": int(CONNECT_TIMEOUT_S)})
            self._pool.wait(timeout=CONNECT_TIMEOUT_S)
        except Exception as error:
            with contextlib.suppress(Exception):
                self._pool.close()
            raise StoreUnavailableError(f"cannot connect to the ratings store "
                                        f"{self.location}: {error}") from error

    def _failed(self, doing: str, error: Exception) -> Exception:
        if isinstance(error, StoreError):
            return error
        if isinstance(error, self._psycopg.Error) or "PoolTimeout" in type(error).__name__:
            return StoreUnavailableError(f"cannot {doing} the ratings store {self.location}: "
                                         f"{error}; nothing of this write was stored"
                                         if doing == "write to" else
                                         f"cannot {doing} the ratings store {self.location}: "
                                         f"{error}")
        return error

    def _write(self, job: Callable[[Any], T]) -> T:
        try:
            with self._pool.connection() as connection, connection.transaction():
                return job(connection.cursor())
        except Exception as error:
            raise self._failed("write to", error) from error

    def _submit(self, job: Callable[[Any], T]) -> Future[T]:
        return self._executor.submit(self._write, job)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as connection:
                return connection.execute(sql, tuple(params)).fetchall()
        except Exception as error:
            raise self._failed("read", error) from error

    def _tables(self) -> set[str]:
        rows = self._read("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {str(row[0]) for row in rows}

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._pool.close()


def open_postgres(url: str) -> PostgresStore:
    """The store in the database at ``url``, migrated to :data:`SCHEMA_VERSION` if older.

    Raises:
        StoreError: the database holds no movierec store, or a newer one.
        StoreUnavailableError: the server cannot be reached.
    """
    store = PostgresStore(url)
    try:
        if "movierec_meta" not in store._tables():
            raise StoreError(f"no ratings store in {store.location}: create one with "
                             f"`movierec store init --store URL --dataset latest-small`")
        store._load_metadata()
        check_version(store, store.location)
        if store.schema_version < SCHEMA_VERSION:
            store._write(lambda cursor: migrate(cursor, store.schema_version, mark="%s"))
            store._load_metadata()
    except BaseException:
        store.close()
        raise
    return store


def create_postgres(url: str, ratings: pd.DataFrame, *, id_kind: IdKind, dataset: str = "",
                    overwrite: bool = False, schema_version: int = SCHEMA_VERSION
                    ) -> PostgresStore:
    """A new store in the database at ``url`` holding ``ratings``, made in one transaction
    (an import that fails leaves the database as it was).

    Raises:
        StoreError: the database already holds a store and ``overwrite`` is False.
    """
    store = PostgresStore(url)
    try:
        existing = store._tables() & set(_TABLES)
        if existing and not overwrite:
            raise StoreError(f"{store.location} already holds a ratings store: pass "
                             "--overwrite to replace it")
        store.metadata = {"id_kind": id_kind}

        def build(cursor: Any) -> int:
            for table in _TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in MIGRATIONS[1]:
                cursor.execute(statement)
            write_metadata(cursor, id_kind=id_kind, dataset=dataset, mark="%s")
            if schema_version > 1:
                migrate(cursor, 1, schema_version, mark="%s")
            return store._import(cursor, ratings)

        store._write(build)
        store._load_metadata()
    except BaseException:
        store.close()
        raise
    return store
