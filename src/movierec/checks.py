"""Checks and conversions shared by the library, the command line and the service."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["check_rating_range", "plain"]


def check_rating_range(rating_range: Any) -> tuple[float, float]:
    """``rating_range`` as ``(min, max)`` floats.

    Raises:
        ValueError: it is not two numbers with min < max (the message shows what was given).
    """
    message = f"rating_range must be (min, max) with min < max, got {rating_range}"
    try:
        low, high = (float(bound) for bound in rating_range)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not low < high:
        raise ValueError(message)
    return low, high


def plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars as Python scalars, missing values as None.

    Missing means None, ``pd.NA`` or a float NaN (a missing year, say). Everything else is
    returned as it is.

    Example:
        >>> plain(np.int64(5)), plain(float("nan")), plain("a")
        (5, None, 'a')
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
