"""Movie features (genres, release periods and tags as 0/1 rows, columns in the ids' order)
and user features (age bands, genders and occupations as 0/1 columns, rows in the ids'
order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movierec.data.features import movie_features, training_tags, user_features


@pytest.fixture()
def movies() -> pd.DataFrame:
    return pd.DataFrame({
        "movie_id": [10, 20, 30, 40],
        "title": ["A", "B", "C", "D"],
        "year": pd.array([1994, 1996, 2003, None], dtype="Int64"),
        "genres": ["Comedy|Drama", "Drama", "", "Comedy"],
    })


def test_rows_are_genres_then_periods_in_the_ids_order(movies):
    features = movie_features(movies, [40, 10, 20, 30])  # columns follow these ids
    assert features.dtype == np.float32
    np.testing.assert_array_equal(features, [
        [1, 1, 0, 0],  # Comedy
        [0, 1, 1, 0],  # Drama
        [0, 1, 0, 0],  # 1990-1994
        [0, 0, 1, 0],  # 1995-1999
        [0, 0, 0, 1],  # 2000-2004; movie 40 has no year, movie 30 no genre
    ])
    assert movie_features(movies, [10, 20], year_width=10).shape == (2 + 1, 2)


def test_tags_used_often_enough_count_case_and_spaces_folded(movies):
    tags = pd.DataFrame({"movie_id": [10, 20, 20, 30, 30, 10, 99, 99],
                         "tag": ["Funny", "funny ", "dark", "FUNNY", "dark", "rare", "dark",
                                 "dark"]})
    features = movie_features(movies, [10, 20, 30, 40], tags, min_tag_uses=2)
    # genres (2) and periods (3), then "dark" (twice on known movies; 99 is not one of
    # the ids) and "funny" (three times); "rare" once
    np.testing.assert_array_equal(features[5:], [[0, 1, 1, 0], [1, 1, 1, 0]])
    assert movie_features(movies, [10, 20, 30, 40], tags, min_tag_uses=3).shape[0] == 5 + 1


def test_training_tags_keep_only_the_training_parts_pairs():
    train = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 20, 10], "rating": 4.0})
    tags = pd.DataFrame({"user_id": [1, 2, 2, 3], "movie_id": [10, 10, 20, 10],
                         "tag": ["a", "b", "held-out pair", "unknown user"]})
    assert training_tags(tags, train)["tag"].tolist() == ["a", "b"]
    assert training_tags(None, train) is None
    assert training_tags(tags.drop(columns="user_id"), train).empty  # cannot be matched


def test_a_movie_missing_from_the_catalogue_has_no_features(movies):
    features = movie_features(movies, [10, 77])
    assert not features[:, 1].any() and features[:, 0].any()
    empty = movie_features(movies.iloc[:0], [1, 2])
    assert empty.shape == (0, 2)


def test_user_features_are_age_bands_genders_occupations_in_the_ids_order():
    users = pd.DataFrame({"user_id": [1, 2, 3, 4], "age": [17, 18, 24, 56],
                          "gender": ["M", "F", "F", "M"],
                          "occupation": ["student", "writer", "student", ""]})
    features = user_features(users, [4, 1, 2, 3, 9])  # 9 is not described
    assert features.dtype == np.float32
    np.testing.assert_array_equal(features, [
        # under 18, 18-24, 56+ | F, M | student, writer (user 4 gave none)
        [0, 0, 1, 0, 1, 0, 0],
        [1, 0, 0, 0, 1, 1, 0],
        [0, 1, 0, 1, 0, 0, 1],
        [0, 1, 0, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ])
    assert user_features(users, [1, 2], age_bands=(30,)).shape == (2, 1 + 2 + 2)
