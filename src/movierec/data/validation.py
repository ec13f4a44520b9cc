"""Checks that a dataset can be trained on, before any model is built.

A file can be well formed and still give a model nothing to learn: one rating value, or too
few ratings to hold some out. :func:`check_trainable` says so in words, naming the dataset
(a file's name) and what to do, instead of an error from deep inside a model.
"""

from __future__ import annotations

import math

from movierec.data.dataset import Dataset
from movierec.errors import DataError

__all__ = ["check_rankable", "check_trainable"]


def check_trainable(dataset: Dataset, test_size: float = 0.0) -> None:
    """Raise a :class:`DataError` if ``dataset`` cannot be trained on with this split.

    ``test_size`` is the held-out fraction (0: none), as ``random_split`` takes it.
    """
    ratings = dataset.ratings
    name = dataset.name
    n = len(ratings)
    if n == 0:
        raise DataError(f"{name}: no ratings to train on. Add ratings, one per line.")
    if test_size:
        held = math.ceil(test_size * n) if test_size < 1 else int(test_size)
        if held < 1 or n - held < 1:
            raise DataError(
                f"{name}: {n:,} ratings are too few for this split: a test size of "
                f"{test_size:g} holds out {held:,} and leaves {n - held:,} to train on; each "
                "part needs at least one rating. Add ratings, or train on all of them with "
                "--test-size 0.")
    values = ratings["rating"].unique()
    if len(values) < 2:
        raise DataError(
            f"{name}: all {n:,} ratings (column 'rating') have only one value, {values[0]:g}; "
            "a model needs at least two different rating values to learn what users prefer. "
            "Add ratings of other values (for example low ones for disliked movies).")
    low, high = dataset.rating_scale
    if not low < high:
        raise DataError(f"{name}: the rating scale {low:g}-{high:g} is not (min, max) with "
                        "min < max; declare the scale the ratings use.")


def check_rankable(name: str, test_ratings, threshold: float) -> None:
    """Raise a :class:`DataError` if no held-out rating reaches the relevance ``threshold``
    (top-K ranking metrics then have nothing to find)."""
    n = len(test_ratings)
    if n == 0 or not (test_ratings >= threshold).any():
        raise DataError(
            f"{name}: none of the {n:,} held-out ratings is {threshold:g} or more, so top-K "
            "ranking cannot be measured (a held-out movie rated that high is what a "
            "recommendation should find). Add ratings, or train one model with `movierec "
            "train`, which does not rank.")
