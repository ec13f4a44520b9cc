"""Raw ids as users type them (``"68"`` on a command line or in a URL) <-> indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.encoding import IdEncoder
from movierec.ids import parse_id

__all__ = ["encode_ids", "first_unknown", "raw_ids"]


def encode_ids(encoder: IdEncoder, values: Any) -> tuple[list[Any], np.ndarray]:
    """The ids in ``values`` (one id or several), coerced to the encoder's kind, and their
    indices (-1 where unknown)."""
    ids = [_coerce(encoder, value) for value in _as_list(values)]
    return ids, _lookup(encoder, ids)


def first_unknown(ids: list[Any], indices: np.ndarray) -> Any:
    """The first id of ``ids`` whose index is -1 (call only when there is one)."""
    return ids[int(np.flatnonzero(indices < 0)[0])]


def raw_ids(encoder: IdEncoder, indices: np.ndarray) -> np.ndarray:
    """The raw ids of ``indices``; -1 padding becomes -1 (integer ids) or "" (string ids)."""
    padding: Any = -1 if encoder.kind == "int" else ""
    ids = encoder.inverse(np.where(indices >= 0, indices, 0))
    ids = np.where(indices >= 0, ids, padding)
    return ids.astype(np.int64) if encoder.kind == "int" else ids.astype(object)


def _as_list(values: Any) -> list[Any]:
    if values is None:
        return []
    if isinstance(values, str | bytes | int | np.integer):
        return [values]
    return list(values)


def _lookup(encoder: IdEncoder, ids: list[Any]) -> np.ndarray:
    """Indices of ``ids`` (-1 where unknown); integer ids take the binary-search path."""
    if not ids:
        return np.empty(0, np.int32)
    if encoder.kind == "int" and all(type(value) is int for value in ids):
        return encoder.transform(np.asarray(ids, dtype=np.int64), unknown="mask")
    return encoder.transform(ids, unknown="mask")


def _coerce(encoder: IdEncoder, value: Any) -> Any:
    """``value`` as :func:`movierec.ids.parse_id` reads it for the encoder's kind of ids
    (``"68"`` -> 68, 68 -> ``"68"``); a value that cannot be an id is kept as given, so that
    the unknown-id error names what the caller passed."""
    parsed = parse_id(value, encoder.kind)
    if parsed is not None:
        return parsed
    return value.item() if isinstance(value, np.generic) else value
