"""Ratings data: the MovieLens releases by name, or the user's own files.

>>> from movierec.data import load
>>> dataset = load("latest-small")          # doctest: +SKIP
"""

from movierec.data.custom import NEW_USER_MOVIE_COLUMNS, load_new_user_ratings, load_ratings
from movierec.data.dataset import Dataset, DataWarning
from movierec.data.loading import DEFAULT_DATASET, dataset_from_options, load
from movierec.data.movielens import DATASETS, Release, get_release
from movierec.data.sources import cache_dir, download_release, find_release
from movierec.data.validation import check_rankable, check_trainable

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "NEW_USER_MOVIE_COLUMNS",
    "DataWarning",
    "Dataset",
    "Release",
    "cache_dir",
    "check_rankable",
    "check_trainable",
    "dataset_from_options",
    "download_release",
    "find_release",
    "get_release",
    "load",
    "load_new_user_ratings",
    "load_ratings",
]
