"""The held-out part of a saved run's data, for evaluating the run after the fact."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.data import DATASETS, Dataset, dataset_from_options, load
from movierec.errors import MovierecError
from movierec.splits import Split, random_split

if TYPE_CHECKING:
    from movierec.runs import Run, RunInfo

__all__ = ["holdout_split", "leave_last_of_split", "run_dataset"]


def holdout_split(run: Run, dataset: Any) -> Split:
    """The run's train/test split of ``dataset``, recovered exactly.

    If the run's config records ``split_seed`` and ``test_size`` (in its ``data`` section),
    the split is recreated with ``random_split(dataset.ratings, test_size, split_seed)``
    and checked against the saved training ratings. Otherwise (runs saved so far record
    neither), the held-out part is every rating of ``dataset`` whose (user, movie) pair is
    not among the run's saved training ratings, which is exactly the test part of any split
    that partitions the ratings (random, temporal, leave-last, k-fold).

    Raises:
        MovierecError: ``dataset`` is not the data the run was trained on.
    """
    if run.info.n_test == 0:
        raise MovierecError("the run was trained on every rating (test size 0): it has no "
                            "held-out ratings to evaluate on")
    train_keys = _pair_keys(run.train_ratings)
    recorded = _recorded_random_split(run.info, dataset.ratings, train_keys)
    if recorded is not None:
        return recorded
    return _split_by_training_pairs(run.info, dataset, train_keys)


def run_dataset(run: Run, dataset: str | None = None, ratings: Path | None = None,
                movies: Path | None = None, data_dir: str | Path | None = None) -> Dataset:
    """The data ``run`` was trained on, to recover its held-out part with
    :func:`holdout_split`: the dataset or files named (``--dataset``/``--ratings``), else
    the MovieLens release its config.json records.

    Raises:
        MovierecError: nothing is named and the run was trained on the user's own file
            (which a run does not keep), or the named data cannot be read.
    """
    if dataset is not None or ratings is not None:
        return dataset_from_options(dataset, ratings, movies, data_dir)
    name = run.info.dataset
    if name not in DATASETS:
        raise MovierecError(
            f"the run was trained on {name!r}, not a MovieLens release; pass the same "
            "file again with --ratings FILE so that the held-out ratings can be recovered")
    return load(name, data_dir)


def leave_last_of_split(split: Split) -> Split:
    """Keep only each user's latest held-out rating as the test set (ties: file order).

    For a run trained on a random split this asks "is the next movie the user rated among
    the top K?" without leaking: the training part stays what the model saw.
    """
    test = split.test
    order = np.argsort(test["timestamp"].to_numpy(), kind="stable")
    latest = test.iloc[order].groupby("user_id", sort=False).tail(1)
    return Split(split.train, latest, f"{split.name}, latest held-out rating per user")


def _pair_keys(ratings: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(ratings[["user_id", "movie_id"]])


def _recorded_random_split(info: RunInfo, ratings: pd.DataFrame,
                           train_keys: pd.MultiIndex) -> Split | None:
    """The random split the run's config records, if it has the run's training ratings."""
    seed, test_size = info.split_seed, info.test_size
    if info.split != "random" or seed is None or test_size is None:
        return None
    split = random_split(ratings, test_size, int(seed))
    same = len(split.train) == len(train_keys) and _pair_keys(split.train).isin(train_keys).all()
    return split if same else None


def _split_by_training_pairs(info: RunInfo, dataset: Any,
                             train_keys: pd.MultiIndex) -> Split:
    """Train: the ratings whose (user, movie) pair the run trained on; test: the others."""
    ratings = dataset.ratings
    in_train = _pair_keys(ratings).isin(train_keys)
    found, held_out = int(in_train.sum()), int((~in_train).sum())
    name = getattr(dataset, "name", "the data")
    hint = ("evaluate with the dataset the run was trained on "
            f"({info.dataset})")
    if found != len(train_keys):
        raise MovierecError(
            f"{len(train_keys) - found:,} of the run's {len(train_keys):,} training ratings "
            f"are not in {name}; {hint}")
    expected = info.n_test
    if expected is not None and held_out != int(expected):
        raise MovierecError(
            f"the run held out {int(expected):,} ratings but {held_out:,} of "
            f"{name} are outside its training set; {hint}")
    if not held_out:
        raise MovierecError("the run has no held-out ratings to evaluate on")
    return Split(ratings[in_train], ratings[~in_train], info.split or "holdout")
