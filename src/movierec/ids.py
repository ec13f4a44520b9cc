"""One rule for reading a raw id that a person typed or a client sent.

The command line (``--user 68``, ``--movie-id``, ``--rate 68=5``), the library
(:meth:`movierec.recommend.Recommender.user_indices` and friends), the catalogue
(:meth:`movierec.catalog.Catalog.resolve`) and the HTTP service (``/users/68/...``, JSON
bodies) all read ids through :func:`parse_id`, so ``"+68"`` or ``" 68 "`` means the same
user everywhere.

The rule, for a vocabulary of integer ids (MovieLens):

* a Python or numpy integer (never a bool) is itself, if it fits in int64;
* a string is an integer if, once surrounding whitespace is stripped (``str.strip``), it is
  an optional ``+`` or ``-`` followed by ASCII digits ``0-9`` only, and the value fits in
  int64. Other digits (Arabic-Indic ``"٦٨"``, superscripts, full-width), underscores,
  decimal points and inner spaces are not ids;
* anything else (floats, bools, None, other text) is not an id.

For a vocabulary of string ids (a user's own file), a string is taken exactly as given (no
stripping: ``" a"`` and ``"a"`` are different ids), and an integer is its decimal text
(``68`` -> ``"68"``); anything else is not an id.

Example:
    >>> parse_id(" +68 ", "int"), parse_id("٦٨", "int"), parse_id(68, "str")
    (68, None, '68')
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np

__all__ = ["INT64_RANGE", "IdKind", "parse_id"]

IdKind = Literal["int", "str"]
INT64_RANGE = (-(2**63), 2**63 - 1)
"""The integer ids an integer vocabulary can hold."""

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS = 19  # int64 has at most 19 digits; longer (leading zeros aside) cannot fit


def parse_id(raw: Any, kind: IdKind) -> int | str | None:
    """``raw`` as an id of a vocabulary of ``kind`` ("int" or "str"), or None if it is not one.

    See the module docstring for the rule. None means "cannot be an id of this vocabulary",
    not "unknown": whether the vocabulary holds the id is the caller's question.
    """
    if isinstance(raw, np.generic):
        raw = raw.item()
    if isinstance(raw, bool):
        return None
    if kind == "str":
        if isinstance(raw, str):
            return raw
        return str(raw) if isinstance(raw, int) else None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not _INT_TEXT.fullmatch(text):
            return None
        if len(text.lstrip("+-").lstrip("0")) > _MAX_DIGITS:
            return None
        value = int(text)
    else:
        return None
    return value if INT64_RANGE[0] <= value <= INT64_RANGE[1] else None
