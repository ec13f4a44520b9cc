"""Splits partition the rows, are reproducible from their seed and match scikit-learn."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_ratings
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from sklearn.model_selection import KFold, train_test_split

from movierec.errors import DataError, MovierecError
from movierec.splits import (
    Split,
    contiguous_folds,
    kfold,
    leave_last_n,
    ml100k_fold,
    random_positions,
    random_split,
    temporal_split,
    validation_split,
)


def random_frame(n_rows: int, n_users: int, seed: int) -> pd.DataFrame:
    """Ratings with repeated timestamps and a shuffled, non-default index."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "user_id": rng.integers(1, n_users + 1, n_rows),
        "movie_id": rng.integers(1, 50, n_rows),
        "rating": rng.choice(np.arange(1, 11) / 2, n_rows).astype(np.float32),
        "timestamp": rng.integers(0, max(2, n_rows // 2), n_rows),
    })
    frame.index = rng.permutation(n_rows) * 3 + 7
    return frame


frames = st.builds(random_frame, st.integers(2, 300), st.integers(1, 20), st.integers(0, 2**32))


def assert_partition(split: Split, ratings: pd.DataFrame) -> None:
    """Train and test are disjoint, cover every row, and hold the rows' original values."""
    train, test = split.train.index, split.test.index
    assert train.intersection(test).empty
    assert len(train) + len(test) == len(ratings)
    assert train.union(test).sort_values().equals(ratings.index.sort_values())
    assert_frame_equal(split.train, ratings.loc[train])
    assert_frame_equal(split.test, ratings.loc[test])


def test_split_is_frozen(ratings):
    split = random_split(ratings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.name = "other"  # type: ignore[misc]


def test_random_split_equals_train_test_split(ratings):
    split = random_split(ratings, test_size=0.1, seed=42)
    train, test = train_test_split(ratings, test_size=0.1, random_state=42)
    assert_frame_equal(split.train, train)
    assert_frame_equal(split.test, test)
    assert split.name == "random"


def test_random_split_depends_only_on_its_seed(ratings):
    state = np.random.get_state()
    first = random_split(ratings, seed=7)
    np.random.seed(123)  # the global generator must not matter
    second = random_split(ratings, seed=7)
    np.random.set_state(state)
    assert first.test.index.equals(second.test.index)
    assert not first.test.index.equals(random_split(ratings, seed=8).test.index)


def test_splitting_leaves_the_global_generator_alone(ratings):
    before = np.random.get_state()[1].copy()
    random_split(ratings)
    kfold(ratings, 3)
    validation_split(ratings)
    assert (np.random.get_state()[1] == before).all()


@pytest.mark.parametrize("test_size", [1.0, 1.5, -0.1])
def test_random_split_rejects_bad_fractions(ratings, test_size):
    with pytest.raises(MovierecError, match="between 0 and 1"):
        random_split(ratings, test_size=test_size)


@pytest.mark.parametrize("test_size", [0, 0.0])
def test_random_split_of_zero_trains_on_everything(ratings, test_size):
    """0 (train --test-size 0, to ship) holds nothing out; random_positions, which the
    blend's holdout uses, still needs a positive fraction."""
    split = random_split(ratings, test_size=test_size)
    assert len(split.train) == len(ratings) and split.test.empty and split.name == "all"
    with pytest.raises(MovierecError, match="between 0 and 1"):
        random_positions(len(ratings), 0.0)


def test_random_split_needs_rows_on_both_sides():
    with pytest.raises(DataError, match="at least one rating"):
        random_split(synthetic_ratings(n_users=1, per_user=1))


def test_random_split_accepts_a_row_count(ratings):
    split = random_split(ratings, test_size=25, seed=3)
    _, test = train_test_split(ratings, test_size=25, random_state=3)
    assert_frame_equal(split.test, test)


@given(frames, st.floats(0.01, 0.99), st.integers(0, 2**32 - 1))
def test_random_split_matches_sklearn_for_any_input(ratings, test_size, seed):
    n_test = math.ceil(test_size * len(ratings))
    if not 0 < n_test < len(ratings):
        with pytest.raises(DataError):
            random_split(ratings, test_size, seed)
        return
    split = random_split(ratings, test_size, seed)
    train, test = train_test_split(ratings, test_size=test_size, random_state=seed)
    assert_frame_equal(split.train, train)
    assert_frame_equal(split.test, test)
    assert_partition(split, ratings)


def test_validation_split_is_a_named_random_split(ratings):
    split = validation_split(ratings, fraction=0.2, seed=5)
    expected = random_split(ratings, 0.2, 5)
    assert split.name == "validation"
    assert_frame_equal(split.train, expected.train)
    assert_frame_equal(split.test, expected.test)


@given(frames, st.floats(0.05, 0.95))
def test_temporal_split_tests_on_the_latest_ratings(ratings, fraction):
    n_test = math.ceil(fraction * len(ratings))
    if not 0 < n_test < len(ratings):
        return
    split = temporal_split(ratings, fraction)
    assert_partition(split, ratings)
    assert len(split.test) == n_test
    assert split.train["timestamp"].max() <= split.test["timestamp"].min()
    assert split.name == "temporal"


def test_temporal_split_breaks_timestamp_ties_by_file_order():
    frame = pd.DataFrame({"user_id": [1, 2, 3, 4], "movie_id": [1, 1, 1, 1],
                          "rating": [1.0] * 4, "timestamp": [5, 5, 5, 1]})
    assert temporal_split(frame, 0.5).test.index.tolist() == [1, 2]


@given(frames, st.integers(1, 4))
def test_leave_last_n_tests_on_each_users_latest(ratings, n):
    split = leave_last_n(ratings, n)
    assert_partition(split, ratings)
    sizes = ratings.groupby("user_id").size()
    tested = split.test.groupby("user_id").size().reindex(sizes.index, fill_value=0)
    assert (tested == np.where(sizes > n, n, 0)).all()
    for user, test_rows in split.test.groupby("user_id"):
        kept = split.train[split.train["user_id"] == user]
        assert kept["timestamp"].max() <= test_rows["timestamp"].min()
    assert split.name == f"leave-last-{n}"


def test_leave_last_n_keeps_users_with_few_ratings_in_train():
    frame = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "movie_id": [1, 2, 3, 1, 2],
                          "rating": [3.0] * 5, "timestamp": [30, 10, 20, 1, 2]})
    split = leave_last_n(frame, 2)
    assert split.test.index.tolist() == [0, 2]
    assert split.train.index.tolist() == [1, 3, 4]


def test_leave_last_n_needs_a_positive_n(ratings):
    with pytest.raises(MovierecError):
        leave_last_n(ratings, 0)


@given(frames, st.integers(2, 6), st.integers(0, 2**32 - 1))
@settings(max_examples=50)
def test_kfold_tests_every_row_exactly_once(ratings, k, seed):
    if k > len(ratings):
        with pytest.raises(MovierecError):
            kfold(ratings, k, seed)
        return
    splits = kfold(ratings, k, seed)
    assert len(splits) == k
    for split in splits:
        assert_partition(split, ratings)
    tested = np.concatenate([split.test.index.to_numpy() for split in splits])
    assert sorted(tested) == sorted(ratings.index)
    sizes = [len(split.test) for split in splits]
    assert max(sizes) - min(sizes) <= 1
    folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(ratings)
    for split, (train, test) in zip(splits, folds, strict=True):
        assert_frame_equal(split.train, ratings.iloc[train])
        assert_frame_equal(split.test, ratings.iloc[test])


def test_kfold_names_its_folds(ratings):
    assert [split.name for split in kfold(ratings, 3)] == [
        "kfold-1-of-3", "kfold-2-of-3", "kfold-3-of-3"]


@given(frames, st.integers(2, 6))
@settings(max_examples=50)
def test_contiguous_folds_test_consecutive_runs_of_the_index(ratings, k):
    if k > len(ratings):
        with pytest.raises(MovierecError):
            contiguous_folds(ratings, k)
        return
    shuffled = ratings.sample(frac=1.0, random_state=0)  # index order, not row order, counts
    splits = contiguous_folds(shuffled, k)
    assert [split.name for split in splits] == [f"contiguous-{i}-of-{k}" for i in
                                                range(1, k + 1)]
    labels = ratings.index.sort_values().to_numpy()
    start = 0
    for split in splits:
        assert_partition(split, ratings)
        n_test = len(split.test)
        assert split.test.index.to_numpy().tolist() == labels[start:start + n_test].tolist()
        assert split.train.index.is_monotonic_increasing
        start += n_test
    assert start == len(ratings)
    sizes = [len(split.test) for split in splits]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_ml100k_fold_needs_all_of_u_data(ratings):
    with pytest.raises(DataError, match="100,000 ratings"):
        ml100k_fold(ratings, 1)


def test_ml100k_fold_refuses_reordered_data():
    frame = random_frame(100_000, 900, seed=1)
    with pytest.raises(DataError, match=r"not in u\.data order"):
        ml100k_fold(frame, 2)


@pytest.mark.parametrize("fold", [0, 6])
def test_ml100k_fold_numbers_run_from_1_to_5(ratings, fold):
    with pytest.raises(MovierecError, match="fold must be"):
        ml100k_fold(ratings, fold)


@pytest.mark.realdata
def test_random_split_of_latest_small_matches_the_tutorial(real_data_dir):
    from movierec.data import load

    ratings = load("latest-small", real_data_dir, download=False).ratings
    split = random_split(ratings, test_size=0.1, seed=42)
    assert (len(split.train), len(split.test)) == (90752, 10084)
    train, test = train_test_split(ratings, test_size=0.1, random_state=42)
    assert_frame_equal(split.train, train)
    assert_frame_equal(split.test, test)


@pytest.mark.realdata
@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_ml100k_folds_follow_mku_sh(real_data_dir, fold):
    from movierec.data import load

    ratings = load("100k", real_data_dir, download=False).ratings
    split = ml100k_fold(ratings, fold)
    assert (len(split.train), len(split.test)) == (80_000, 20_000)
    assert split.name == f"u{fold}"
    block = ratings.iloc[(fold - 1) * 20_000: fold * 20_000]
    assert sorted(split.test.index) == sorted(block.index)
    assert_partition(split, ratings)
    for part in (split.train, split.test):  # mku.sh sorts each file by user, then movie
        keys = part[["user_id", "movie_id"]].to_numpy()
        assert (np.lexsort(keys.T[::-1]) == np.arange(len(part))).all()


@pytest.mark.realdata
def test_contiguous_folds_of_u1_base_are_shaped_like_u1_test(real_data_dir):
    """Each holds out a large share of fewer users' ratings, as u1.test does, where a random
    validation split takes about a tenth of every user's."""
    from movierec.data import load

    outer = ml100k_fold(load("100k", real_data_dir, download=False).ratings, 1)

    def held_out_share(split: Split) -> tuple[int, float]:
        held = split.test.groupby("user_id").size()
        total = held + split.train.groupby("user_id").size().reindex(held.index, fill_value=0)
        return len(held), float((held / total).median())

    test_users, test_share = held_out_share(outer)
    assert test_users == 459 and test_share > 0.35
    first = contiguous_folds(outer.train, 5)[0]
    assert (len(first.train), len(first.test)) == (64_000, 16_000)
    users, share = held_out_share(first)
    assert users < 700 and share > 0.3
    assert held_out_share(validation_split(outer.train, 0.1))[1] < 0.15


@pytest.mark.realdata
def test_ml100k_fold_1_starts_like_u1_base_and_u1_test(real_data_dir):
    from movierec.data import load

    split = ml100k_fold(load("100k", real_data_dir, download=False).ratings, 1)
    columns = ["user_id", "movie_id", "rating", "timestamp"]
    assert split.train[columns].iloc[0].tolist() == [1, 1, 5, 874965758]
    assert split.test[columns].iloc[0].tolist() == [1, 6, 5, 887431973]
