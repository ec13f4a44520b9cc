"""Per-user item sets: one sorted set of item indices per user, stored like a CSR matrix.

The ranking metrics (:mod:`movierec.metrics`) take the relevant items as :class:`ItemSets`,
and :func:`movierec.topk.top_k` takes the items to leave out in the same form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ItemSets", "is_integer"]


@dataclass(frozen=True, eq=False)
class ItemSets:
    """One set of item indices per user, stored like the rows of a CSR matrix.

    The items of row ``u`` are ``indices[indptr[u]:indptr[u + 1]]``, sorted ascending and
    without duplicates. Build one with :meth:`from_lists` or :meth:`from_pairs` rather than
    by hand; the constructor checks the invariants and raises :class:`ValueError` if they do
    not hold.

    Attributes:
        indptr: int64 array of shape ``(n_rows + 1,)``, starting at 0, non-decreasing.
        indices: int64 array of shape ``(indptr[-1],)`` of non-negative item indices.
    """

    indptr: np.ndarray
    indices: np.ndarray

    def __post_init__(self) -> None:
        indptr = np.asarray(self.indptr)
        indices = np.asarray(self.indices)
        if indptr.ndim != 1 or indptr.size == 0 or not is_integer(indptr):
            raise ValueError("ItemSets.indptr must be a non-empty 1-D integer array")
        if indices.ndim != 1 or (indices.size and not is_integer(indices)):
            raise ValueError("ItemSets.indices must be a 1-D integer array")
        indptr = indptr.astype(np.int64, copy=False)
        indices = indices.astype(np.int64, copy=False)
        if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
            raise ValueError(
                "ItemSets.indptr must start at 0, never decrease and end at len(indices)"
            )
        if indices.size and indices.min() < 0:
            raise ValueError("ItemSets.indices must be non-negative item indices")
        if indices.size > 1:
            same_row = np.diff(np.repeat(np.arange(indptr.size - 1), np.diff(indptr))) == 0
            if np.any(np.diff(indices)[same_row] <= 0):
                raise ValueError(
                    "the items of each ItemSets row must be sorted and unique; "
                    "use ItemSets.from_lists or ItemSets.from_pairs"
                )
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "indices", indices)

    @classmethod
    def from_lists(cls, rows: Sequence[Any]) -> ItemSets:
        """Build from a sequence of per-user item arrays (duplicates are merged).

        Raises:
            ValueError: if an entry is not 1-D, not integer, or holds a negative index.
        """
        if isinstance(rows, ItemSets):
            return rows
        arrays = []
        for i, row in enumerate(rows):
            arr = np.asarray(row)
            if arr.ndim != 1 or (arr.size and not is_integer(arr)):
                raise ValueError(f"relevant[{i}] must be a 1-D array of integer item indices")
            if arr.size and arr.min() < 0:
                raise ValueError(f"relevant[{i}] holds a negative item index")
            arrays.append(np.unique(arr.astype(np.int64, copy=False)))
        sizes = np.array([a.size for a in arrays], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        indices = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
        return cls(indptr, indices.astype(np.int64, copy=False))

    @classmethod
    def from_pairs(cls, users: Any, items: Any, n_users: int) -> ItemSets:
        """Group aligned ``users`` and ``items`` index arrays into ``n_users`` rows.

        Duplicate (user, item) pairs are merged.

        Raises:
            ValueError: if the arrays are misaligned, not integer, or out of range.
        """
        users = np.asarray(users)
        items = np.asarray(items)
        if users.shape != items.shape or users.ndim != 1:
            raise ValueError(
                f"users and items must be aligned 1-D arrays, got shapes "
                f"{users.shape} and {items.shape}"
            )
        if users.size and not (is_integer(users) and is_integer(items)):
            raise ValueError("users and items must be integer indices")
        if n_users < 0:
            raise ValueError(f"n_users must be >= 0, got {n_users}")
        if users.size and (users.min() < 0 or users.max() >= n_users):
            raise ValueError(f"user indices must lie in [0, {n_users})")
        if items.size and items.min() < 0:
            raise ValueError("item indices must be non-negative")
        users = users.astype(np.int64, copy=False)
        items = items.astype(np.int64, copy=False)
        order = np.lexsort((items, users))
        users, items = users[order], items[order]
        if users.size > 1:
            keep = np.concatenate([[True], (np.diff(users) != 0) | (np.diff(items) != 0)])
            users, items = users[keep], items[keep]
        counts = np.bincount(users, minlength=n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, items)

    def __len__(self) -> int:
        return int(self.indptr.size - 1)

    def __getitem__(self, row: int) -> np.ndarray:
        """The sorted item indices of one row."""
        n = len(self)
        if not -n <= row < n:
            raise IndexError(f"row {row} out of range for {n} rows")
        row %= n
        return self.indices[self.indptr[row] : self.indptr[row + 1]]

    def sizes(self) -> np.ndarray:
        """Number of items in each row, int64 of shape ``(n_rows,)``."""
        return np.diff(self.indptr)

    def row_ids(self) -> np.ndarray:
        """The row of each entry of :attr:`indices`, int64 of shape ``(len(indices),)``."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.sizes())

    def take(self, rows: Any) -> ItemSets:
        """A new :class:`ItemSets` holding the given rows, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1:
            raise ValueError("rows must be a 1-D array of row indices")
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"row indices must lie in [0, {len(self)})")
        starts = self.indptr[rows]
        sizes = self.indptr[rows + 1] - starts
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        # position of each output entry inside its source row
        offsets = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1], sizes)
        return ItemSets(indptr, self.indices[np.repeat(starts, sizes) + offsets])


def is_integer(arr: np.ndarray) -> bool:
    """Whether ``arr`` holds signed or unsigned integers."""
    return arr.dtype.kind in "iu"
