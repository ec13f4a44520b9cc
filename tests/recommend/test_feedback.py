"""recommend.feedback: a user's list from their training ratings and later ones."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import train_tiny_run

from movierec.errors import UnknownIdError
from movierec.recommend import Recommender
from movierec.recommend.feedback import merged_history, recommend_with_feedback
from movierec.runs import load_run


@pytest.fixture(scope="module", params=["dot-bias", "ease"])
def recommender(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Recommender:
    folder = tmp_path_factory.mktemp(f"feedback-{request.param}")
    return Recommender.from_run(load_run(train_tiny_run(folder / "run", model=request.param,
                                                        epochs=10)))


def training(recommender: Recommender, user: int) -> list[tuple[int, float, int]]:
    movies, ratings, stamps = recommender.train_ratings_of(int(recommender.user_indices([user])[0]))
    ids = recommender.encoders.movies.inverse(movies).tolist()
    return list(zip(ids, ratings.astype(float).tolist(), stamps.tolist(), strict=True))


def test_repeating_training_ratings_keeps_the_trained_answer(recommender: Recommender) -> None:
    found = recommend_with_feedback(recommender, 2, training(recommender, 2), k=5)
    ids, values = recommender.recommend([2], 5)
    assert found.folded_in is False
    assert found.movie_ids.tolist() == ids[0].tolist()
    np.testing.assert_allclose(found.values, values[0])


def test_a_new_rating_folds_the_user_in_and_leaves_every_rated_movie_out(
        recommender: Recommender) -> None:
    before = recommender.recommend([2], 10)[0][0].tolist()
    found = recommend_with_feedback(recommender, 2, [(before[0], 1.0, 5)], k=10)
    assert found.folded_in is True
    index = int(recommender.user_indices([2])[0])
    rated = set(recommender.encoders.movies.inverse(recommender.rated(index)).tolist())
    assert before[0] not in found.movie_ids.tolist()
    assert not rated & set(found.movie_ids.tolist())  # training and held-out stay out


def test_a_later_rating_replaces_the_training_one(recommender: Recommender) -> None:
    movie, rating, _ = training(recommender, 3)[0]
    history = merged_history(recommender, 3, [(movie, 0.5 if rating > 1 else 5.0, 9)])
    assert history.new is True
    position = recommender.movie_indices([movie])[0]
    assert len(history.movies) == len(training(recommender, 3))  # no double count
    stored = history.ratings[history.movies.tolist().index(position)]
    assert stored == (0.5 if rating > 1 else 5.0)


def test_an_unknown_user_is_folded_in_like_a_new_user(recommender: Recommender) -> None:
    later = [(2, 5.0, 1), (4, 4.5, 2), (6, 5.0, 3), (99999, 5.0, 4)]  # 99999: unknown movie
    found = recommend_with_feedback(recommender, 123456, later, k=5)
    ids, _ = recommender.recommend_new_user({2: 5.0, 4: 4.5, 6: 5.0}, k=5)
    assert found.folded_in is True and found.n_ratings == 3
    assert found.movie_ids.tolist() == ids.tolist()
    assert all(m % 2 == 0 for m in found.movie_ids.tolist())  # the even cluster
    assert [m for m, _ in found.top_rated] == [6, 2, 4]  # highest, most recent first


def test_an_unknown_user_with_no_scorable_movie_is_unknown(recommender: Recommender) -> None:
    with pytest.raises(UnknownIdError, match="unknown user id 123456"):
        recommend_with_feedback(recommender, 123456, [(99999, 5.0, 1)])
