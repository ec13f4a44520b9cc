"""Raw user and movie ids <-> the contiguous 0-based indices that embedding layers need.

Raw ids are either all integers (MovieLens) or all strings (a user's own file). Indices are
assigned in sorted id order, so the same ids always give the same indices, and an encoder
saved to JSON and loaded back maps exactly as before. The caller chooses what happens to
ids the encoder has never seen: ``unknown="raise"`` or ``unknown="mask"`` (index -1).

Example:
    >>> encoder = IdEncoder.fit([30, 10, 20, 10])
    >>> encoder.transform([10, 30]).tolist()
    [0, 2]
    >>> encoder.transform([10, 99], unknown="mask").tolist()
    [0, -1]
    >>> encoder.inverse([2, 1]).tolist()
    [30, 20]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from movierec.checks import plain
from movierec.errors import DataError, UnknownIdError

__all__ = ["Encoders", "IdEncoder", "UnknownPolicy"]

UnknownPolicy = Literal["raise", "mask"]
IdKind = Literal["int", "str"]

_SHOWN_UNKNOWN = 5


class IdEncoder:
    """A sorted vocabulary of raw ids; index ``i`` is the ``i``-th smallest id."""

    def __init__(self, ids: np.ndarray, kind: IdKind) -> None:
        """Wrap already sorted, unique ids; use :meth:`fit` or :meth:`from_json` instead."""
        self._ids = ids
        self._kind = kind
        self._index = pd.Index(ids, dtype=np.int64 if kind == "int" else object)

    @classmethod
    def fit(cls, ids: Iterable[Any]) -> IdEncoder:
        """Learn the vocabulary of ``ids`` (duplicates allowed, all ints or all strings)."""
        array = _as_1d(ids)
        kind = _kind_of(array)
        values = array.astype(np.int64) if kind == "int" else array
        return cls(np.sort(pd.unique(values)), kind)

    @property
    def kind(self) -> IdKind:
        """Whether the raw ids are integers (``"int"``) or strings (``"str"``)."""
        return self._kind

    @property
    def ids(self) -> np.ndarray:
        """The known raw ids in index order (a copy)."""
        return self._ids.copy()

    def transform(
        self, ids: Iterable[Any], unknown: UnknownPolicy = "raise", *, label: str = "id"
    ) -> np.ndarray:
        """Map raw ids to int32 indices.

        Args:
            ids: raw ids, any 1-d array-like.
            unknown: ``"raise"`` raises :class:`UnknownIdError` naming up to five unknown ids
                and how many there are; ``"mask"`` maps them to -1.
            label: what the ids are (``"user id"``), used in the error message.
        """
        if unknown not in ("raise", "mask"):
            raise ValueError(f"unknown must be 'raise' or 'mask', not {unknown!r}")
        array = _as_1d(ids)
        codes = self._codes(array)
        if unknown == "raise" and (codes < 0).any():
            raise _unknown_error(array[codes < 0], label)
        return codes.astype(np.int32)

    def _codes(self, array: np.ndarray) -> np.ndarray:
        """Index of each raw id, -1 where unknown, by hash lookup.

        Integer input to an integer vocabulary is looked up as is (fast, no boxing); any
        other input as Python objects, so that 1 and "1" never match each other.
        """
        if self._kind == "int" and array.dtype.kind == "i":
            return self._index.get_indexer(array)
        return self._index.get_indexer(pd.Index(array, dtype=object))

    def index_of(self, raw_id: Any) -> int:
        """The index of one raw id of this vocabulary's type, -1 if unknown: a dict lookup,
        for per-request paths where :meth:`transform`'s array machinery would dominate."""
        if isinstance(raw_id, np.generic):
            raw_id = raw_id.item()
        if isinstance(raw_id, bool) or (self._kind == "int") != isinstance(raw_id, int):
            return -1
        return self._positions.get(raw_id, -1)

    @cached_property
    def _positions(self) -> dict[Any, int]:
        return {raw: i for i, raw in enumerate(self._ids.tolist())}

    def inverse(self, indices: Iterable[Any]) -> np.ndarray:
        """Map indices back to raw ids (int64 or str objects); indices must be in range."""
        array = np.asarray(indices)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"indices must be integers, not {array.dtype}")
        if array.size and (array.min() < 0 or array.max() >= len(self)):
            raise IndexError(f"indices must lie in [0, {len(self)}); got {array.min()}"
                             f"..{array.max()}")
        return self._ids[array.astype(np.intp)]

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, raw_id: object) -> bool:
        return bool(self.transform([raw_id], unknown="mask")[0] >= 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdEncoder):
            return NotImplemented
        return self._kind == other._kind and np.array_equal(self._ids, other._ids)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value object, like ndarray

    def __repr__(self) -> str:
        return f"IdEncoder(kind={self._kind!r}, n={len(self)})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``kind`` keeps int ids and str ids apart."""
        return {"kind": self._kind, "ids": self._ids.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdEncoder:
        """Rebuild an encoder from :meth:`to_json` output, checking it is well formed."""
        try:
            kind, ids = data["kind"], data["ids"]
        except (KeyError, TypeError) as error:
            raise DataError(f"encoder JSON must have 'kind' and 'ids' keys: {error}") from None
        if kind not in ("int", "str"):
            raise DataError(f"encoder JSON kind must be 'int' or 'str', not {kind!r}")
        array = _as_1d(ids)
        if _kind_of(array) != kind:
            raise DataError(f"encoder JSON says kind {kind!r} but its ids are not all {kind}")
        encoder = cls.fit(array)
        if len(encoder) != len(array) or not np.array_equal(encoder._ids, array):
            raise DataError("encoder JSON ids must be unique and sorted")
        return encoder


@dataclass(frozen=True)
class Encoders:
    """The user and movie encoders of one training set."""

    users: IdEncoder
    movies: IdEncoder

    @classmethod
    def fit(cls, ratings: pd.DataFrame) -> Encoders:
        """Learn user and movie vocabularies from a ratings frame (``user_id``, ``movie_id``)."""
        return cls(IdEncoder.fit(ratings["user_id"]), IdEncoder.fit(ratings["movie_id"]))

    def encode(self, ratings: pd.DataFrame, unknown: UnknownPolicy = "raise") -> np.ndarray:
        """Return int32 ``(n, 2)`` pairs ``[user_index, movie_index]``, one per rating."""
        users = self.users.transform(ratings["user_id"], unknown, label="user id")
        movies = self.movies.transform(ratings["movie_id"], unknown, label="movie id")
        return np.column_stack([users, movies]).astype(np.int32, copy=False)

    def to_json(self) -> dict[str, Any]:
        return {"users": self.users.to_json(), "movies": self.movies.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Encoders:
        try:
            users, movies = data["users"], data["movies"]
        except (KeyError, TypeError) as error:
            raise DataError(f"encoders JSON must have 'users' and 'movies': {error}") from None
        return cls(IdEncoder.from_json(users), IdEncoder.from_json(movies))


def _as_1d(ids: Iterable[Any]) -> np.ndarray:
    """A 1-d numpy array of ``ids``; generic sequences become object arrays.

    ``np.asarray([1, "a"])`` would silently turn 1 into "1", so lists are kept as objects
    and their element types are checked, not coerced.
    """
    if isinstance(ids, pd.Series | pd.Index):
        array = ids.to_numpy()
    elif isinstance(ids, np.ndarray):
        array = ids
    else:
        array = np.asarray(list(ids), dtype=object)
    if array.dtype.kind in "US":
        array = array.astype(object)
    if array.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {array.shape}")
    return array


def _kind_of(array: np.ndarray) -> IdKind:
    """Whether ``array`` holds integer ids or string ids; anything else is a DataError."""
    inferred = pd.api.types.infer_dtype(array, skipna=False)
    if inferred == "integer":
        return "int"
    if inferred == "string":
        return "str"
    if inferred == "floating" and _all_integral(array.astype(float)):
        return "int"  # ids read as floats, e.g. from a column that once held a blank
    if inferred == "empty":
        raise DataError("cannot build an id encoder from no ids")
    raise DataError(
        f"ids must be all integers or all strings (found {inferred}); "
        "check the user and movie id columns for blanks or mixed values"
    )


def _all_integral(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).all() and (values == np.round(values)).all())


def _unknown_error(unknown_ids: np.ndarray, label: str) -> UnknownIdError:
    distinct = pd.unique(unknown_ids)
    shown = ", ".join(repr(plain(value)) for value in distinct[:_SHOWN_UNKNOWN])
    more = ", ..." if len(distinct) > _SHOWN_UNKNOWN else ""
    plural = "s" if len(distinct) != 1 else ""
    return UnknownIdError(
        f"{len(distinct)} unknown {label}{plural}: {shown}{more} "
        "(not in the data the encoder was fitted on)"
    )

