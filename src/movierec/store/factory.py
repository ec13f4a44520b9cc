"""Which backend a ``--store`` names: a ``postgresql://`` URL, or else an SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from movierec.ids import IdKind
from movierec.store.base import SCHEMA_VERSION, RatingsStore
from movierec.store.postgres import create_postgres, open_postgres
from movierec.store.sqlite import create_sqlite, open_sqlite

__all__ = ["create_store", "is_url", "open_store"]

_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | os.PathLike[str]) -> bool:
    """Whether ``target`` is a PostgreSQL URL (else it is an SQLite file's path)."""
    return isinstance(target, str) and target.startswith(_SCHEMES)


def open_store(target: str | os.PathLike[str]) -> RatingsStore:
    """The existing store at ``target``: a ``postgresql://`` URL or an SQLite file.

    Raises:
        StoreError: there is none, or it is damaged, foreign or newer than this movierec.
        StoreUnavailableError: the database server cannot be reached.
    """
    if is_url(target):
        return open_postgres(str(target))
    return open_sqlite(Path(target))


def create_store(target: str | os.PathLike[str], ratings: pd.DataFrame, *, id_kind: IdKind,
                 dataset: str = "", overwrite: bool = False,
                 schema_version: int = SCHEMA_VERSION) -> RatingsStore:
    """A new store at ``target`` holding ``ratings`` (``user_id, movie_id, rating``,
    optionally ``timestamp``; may be empty), written all at once.

    ``schema_version`` below the current one makes an old-format store (for tests of the
    migrations).

    Raises:
        StoreError: ``target`` already holds a store and ``overwrite`` is False.
    """
    if is_url(target):
        return create_postgres(str(target), ratings, id_kind=id_kind, dataset=dataset,
                               overwrite=overwrite, schema_version=schema_version)
    return create_sqlite(Path(target), ratings, id_kind=id_kind, dataset=dataset,
                         overwrite=overwrite, schema_version=schema_version)
