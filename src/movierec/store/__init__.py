"""A durable store of the ratings users give the service: SQLite by default, PostgreSQL for
several processes or machines.

One row per (user, movie): a later rating of the same movie replaces the earlier one. Every
write (a batch of ratings, or one deletion) takes the next numbers of one store-wide sequence,
so that a retrain can record which writes it saw (:meth:`RatingsStore.last_seq`) and a
reader can ask for what changed since (:meth:`RatingsStore.to_frame`).

* :func:`create_store` makes a store from a table of ratings (possibly empty), all at once:
  an SQLite file is built beside its target and renamed into place; a PostgreSQL database
  gets its tables in one transaction.
* :func:`open_store` opens an existing one: a path (SQLite) or a ``postgresql://`` URL.

Writes return only once durable (SQLite: WAL journal with ``synchronous=FULL``; PostgreSQL:
a committed transaction). Concurrent SQLite writes from one process are grouped into one
transaction (group commit), so throughput does not fall to one fsync per request.

Example:
    >>> store = create_store("ratings.sqlite", frame, id_kind="int")   # doctest: +SKIP
    >>> store.put(1, [(318, 5.0), (296, 4.5)])                          # doctest: +SKIP
    100838
    >>> [r.movie_id for r in store.user_ratings(1)][:2]                 # doctest: +SKIP
    [296, 318]
"""

from movierec.store.base import (
    SCHEMA_VERSION,
    RatingsStore,
    StoredRating,
    StoreError,
    StoreUnavailableError,
)
from movierec.store.factory import create_store, is_url, open_store

__all__ = [
    "SCHEMA_VERSION", "RatingsStore", "StoreError", "StoreUnavailableError", "StoredRating",
    "create_store", "is_url", "open_store",
]
