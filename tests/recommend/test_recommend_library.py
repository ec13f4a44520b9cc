"""The library functions the CLI's recommend command is built from, on a tiny run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import train_tiny_run

from movierec.checks import check_rating_range, plain
from movierec.errors import DataError, MovierecError
from movierec.recommend.export import all_users_top_k, export_all_users
from movierec.recommend.fallback import fallback_reason, popular_fallback
from movierec.recommend.new_user import parse_rating_texts, read_ratings_file, resolve_ratings


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory):
    from movierec.recommend import Recommender
    from movierec.runs import load_run

    return Recommender.from_run(load_run(train_tiny_run(
        Path(tmp_path_factory.mktemp("lib")) / "run")))


def test_fallback_is_labelled_and_popular(rec) -> None:
    assert fallback_reason(rec, "999") == "user 999 is unknown to this model"
    assert fallback_reason(rec, int(rec.encoders.users.ids[0])) is None
    fallback = popular_fallback(rec, 5, exclude=[1], reason="because")
    ids, scores = rec.popular(5, exclude=[1])
    assert fallback.movie_ids.tolist() == ids.tolist() and 1 not in fallback.movie_ids
    assert np.allclose(fallback.mean_ratings, scores)
    assert fallback.note.startswith("FALLBACK: because;")
    assert (fallback.n_ratings > 0).all()


def test_all_users_export_matches_single_users(rec, tmp_path: Path) -> None:
    frame = all_users_top_k(rec, 3, chunk_size=7)
    assert len(frame) == 3 * rec.n_users
    user = frame["user_id"].iloc[0]
    ids, _ = rec.recommend([user], 3)
    assert frame[frame["user_id"] == user]["movie_id"].tolist() == ids[0].tolist()
    summary = export_all_users(rec, tmp_path / "recs.csv", 3)
    assert summary.rows == len(frame) and summary.users == rec.n_users
    assert pd.read_csv(tmp_path / "recs.csv")["movie_id"].tolist() == frame["movie_id"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recs.csv"]
    with pytest.raises(MovierecError, match=r"\.parquet or \.csv"):
        export_all_users(rec, tmp_path / "recs.xlsx", 3)


def test_new_user_ratings_from_texts_and_files(rec, tmp_path: Path) -> None:
    assert parse_rating_texts(["a=b=5", " 3 = 4 "]) == [("a=b", "5"), ("3", "4")]
    with pytest.raises(MovierecError, match="TITLE=RATING"):
        parse_rating_texts(["=5"])
    path = tmp_path / "mine.csv"
    path.write_text("Movie,Rating\n3,5\n3,2\n")
    pairs = read_ratings_file(path)
    assert pairs == [("3", 5.0), ("3", 2.0)]
    assert resolve_ratings(rec.catalog, pairs) == {3: 2.0}
    with pytest.raises(MovierecError, match="must be a number"):
        resolve_ratings(rec.catalog, [("3", "great")])
    with pytest.raises(MovierecError, match="must be a number such as 4"):
        resolve_ratings(rec.catalog, [("3", "1e308")])
    (tmp_path / "bad.csv").write_text("film,score\n1,5\n")
    with pytest.raises(DataError, match=r"bad\.csv: needs columns movie and rating"):
        read_ratings_file(tmp_path / "bad.csv")


def test_shared_checks() -> None:
    assert check_rating_range((1, 5)) == (1.0, 5.0)
    for bad in [(5, 1), (1, 1), (1,), None]:
        with pytest.raises(ValueError, match="min < max"):
            check_rating_range(bad)
    assert plain(np.float32(0.5)) == 0.5 and plain(pd.NA) is None
