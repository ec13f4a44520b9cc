"""``movierec recommend | similar | evaluate`` in-process, on a tiny run of synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_ratings
from typer.testing import CliRunner

from movierec.cli import app, main
from movierec.data import load_ratings
from movierec.runs import save_run
from movierec.splits import random_split
from movierec.training import EncodedSplit, TrainConfig

K = 5


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The synthetic two-cluster ratings as a user's own files (even users love even movies)."""
    folder = tmp_path_factory.mktemp("cli-recommend")
    ratings = synthetic_ratings().rename(columns={"user_id": "user", "movie_id": "item"})
    ratings.to_csv(folder / "ratings.csv", index=False)
    ids = np.arange(1, 41)
    pd.DataFrame({"item": ids, "title": [f"Movie {i} ({1950 + i})" for i in ids],
                  "genres": ["Even" if i % 2 == 0 else "Odd" for i in ids]}
                 ).to_csv(folder / "movies.csv", index=False)
    return {"folder": folder, "ratings": folder / "ratings.csv", "movies": folder / "movies.csv"}


@pytest.fixture(scope="module")
def encoded(files) -> tuple:
    dataset = load_ratings(files["ratings"], files["movies"])
    return dataset, EncodedSplit.from_dataset(dataset, random_split(dataset.ratings, 0.1, 0))


@pytest.fixture(scope="module")
def run_dir(files, encoded) -> Path:
    dataset, data = encoded
    result = data.fit(TrainConfig(model="dot-bias", epochs=20, batch_size=32,
                                  learning_rate=0.01, factors=8), verbose=0)
    return save_run(files["folder"] / "runs" / "dot-bias", result, data, dataset)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # keep rich tables on one line per row


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _json(*args: str) -> dict:
    return json.loads(_invoke(*args, "--json"))


def _fails(capsys: pytest.CaptureFixture, *args: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([str(arg) for arg in args])
    assert info.value.code == 2
    return capsys.readouterr().err


def _train_movies(encoded, user: int) -> set[int]:
    train = encoded[1].split.train
    return set(train.loc[train["user_id"] == user, "movie_id"].tolist())


# -- recommend --user -------------------------------------------------------------------------


def test_recommend_known_user_json(run_dir: Path, encoded) -> None:
    out = _json("recommend", "--run", run_dir, "--user", "2", "-k", K)
    assert out["user"] == 2 and out["fallback"] is None and out["model"] == "dot-bias"
    recs = out["recommendations"]
    ids = [row["movie_id"] for row in recs]
    assert len(recs) == K and [row["rank"] for row in recs] == list(range(1, K + 1))
    assert all(movie % 2 == 0 for movie in ids)                  # the user's cluster
    assert not set(ids) & _train_movies(encoded, 2)               # nothing already rated
    predicted = [row["predicted_rating"] for row in recs]
    assert predicted == sorted(predicted, reverse=True)
    assert recs[0]["title"] == f"Movie {ids[0]} ({1950 + ids[0]})"
    assert set(recs[0]) >= {"title", "year", "genres", "predicted_rating"}
    assert out["score_kind"] == "rating"
    top = out["top_rated"]
    assert {row["movie_id"] for row in top} <= _train_movies(encoded, 2)
    assert [row["rating"] for row in top] == sorted((row["rating"] for row in top),
                                                    reverse=True)


def test_recommend_known_user_table(run_dir: Path) -> None:
    output = _invoke("recommend", "--run", run_dir, "--user", "3", "-k", K, "--show-rated", 3)
    assert "User 3's highest-rated movies" in output
    assert f"Top {K} for user 3" in output
    assert "predicted rating" in output and "Odd" in output
    assert "relative score" not in output


def test_recommend_exclude_by_id_and_title(run_dir: Path) -> None:
    first = [row["movie_id"] for row in
             _json("recommend", "--run", run_dir, "--user", "2", "-k", K)["recommendations"]]
    out = _json("recommend", "--run", run_dir, "--user", "2", "-k", K,
                "--exclude", first[0], "--exclude", f"Movie {first[1]} ({1950 + first[1]})")
    ids = [row["movie_id"] for row in out["recommendations"]]
    assert first[0] not in ids and first[1] not in ids
    assert ids[: K - 2] == first[2:]
    assert out["excluded"] == first[:2]


def test_unknown_user_is_a_clear_error(run_dir: Path, capsys) -> None:
    err = _fails(capsys, "recommend", "--run", run_dir, "--user", "999")
    assert "unknown user id 999" in err and "--fallback popular" in err
    assert "Traceback" not in err


def test_unknown_user_with_popular_fallback_is_labelled(run_dir: Path) -> None:
    out = _json("recommend", "--run", run_dir, "--user", "999", "--fallback", "popular",
                "-k", K)
    assert out["fallback"] == "popular" and "FALLBACK" in out["note"]
    recs = out["recommendations"]
    assert len(recs) == K and all("predicted_rating" not in row for row in recs)
    means = [row["mean_rating"] for row in recs]
    assert means == sorted(means, reverse=True)
    output = _invoke("recommend", "--run", run_dir, "--user", "999", "--fallback", "popular")
    assert "FALLBACK" in output and "Popular fallback for user 999" in output


# -- new users --------------------------------------------------------------------------------


def test_new_user_from_rate_options(run_dir: Path) -> None:
    out = _json("recommend", "--run", run_dir, "-k", K, "--rate", "Movie 2 (1952)=5",
                "--rate", "4=5", "--rate", "movie 6=4.5", "--rate", "Movie 1 (1951)=1",
                "--rate", "3=1")
    assert out["new_user"] is True
    assert [row["movie_id"] for row in out["rated"]] == [2, 4, 6, 1, 3]
    ids = [row["movie_id"] for row in out["recommendations"]]
    assert len(ids) == K and all(movie % 2 == 0 for movie in ids)
    assert not {1, 2, 3, 4, 6} & set(ids)


def test_new_user_from_file(run_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("movie,rating\n1,5\nMovie 3 (1953),5\n5,4.5\n2,1\n")
    out = _json("recommend", "--run", run_dir, "-k", K, "--ratings-of-new-user", path)
    assert all(row["movie_id"] % 2 == 1 for row in out["recommendations"])
    output = _invoke("recommend", "--run", run_dir, "--ratings-of-new-user", path)
    assert "folded in" in output and "no retraining" in output


def test_new_user_input_errors(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert "TITLE=RATING" in _fails(capsys, "recommend", "--run", run_dir, "--rate", "Movie 2")
    assert "must be a number" in _fails(capsys, "recommend", "--run", run_dir,
                                        "--rate", "2=great")
    assert "closest" in _fails(capsys, "recommend", "--run", run_dir, "--rate", "Zzyzx=4")
    bad = tmp_path / "bad.csv"
    bad.write_text("film,score\n1,5\n")
    assert "columns movie and rating" in _fails(
        capsys, "recommend", "--run", run_dir, "--ratings-of-new-user", bad)


def test_exactly_one_target(run_dir: Path, capsys) -> None:
    assert "exactly one of" in _fails(capsys, "recommend", "--run", run_dir)
    assert "exactly one of" in _fails(capsys, "recommend", "--run", run_dir, "--user", "2",
                                      "--all-users", "--out", "x.csv")


# -- all users --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_all_users_written_atomically(run_dir: Path, tmp_path: Path, encoded, suffix) -> None:
    out = tmp_path / f"recs{suffix}"
    output = _invoke("recommend", "--run", run_dir, "--all-users", "-k", K, "--out", out,
                     "--chunk-size", 7)
    assert "60 users" in output
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(frame.columns) == ["user_id", "rank", "movie_id", "predicted_rating", "title"]
    assert len(frame) == 60 * K and frame["user_id"].nunique() == 60
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left
    user2 = frame[frame["user_id"] == 2].sort_values("rank")
    single = _json("recommend", "--run", run_dir, "--user", "2", "-k", K)["recommendations"]
    assert user2["movie_id"].tolist() == [row["movie_id"] for row in single]
    assert not set(user2["movie_id"]) & _train_movies(encoded, 2)


def test_all_users_needs_a_known_file_type(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert ".parquet or .csv" in _fails(capsys, "recommend", "--run", run_dir, "--all-users",
                                        "--out", tmp_path / "recs.xlsx")
    assert "--out" in _fails(capsys, "recommend", "--run", run_dir, "--all-users")


# -- similar ----------------------------------------------------------------------------------


def test_similar_by_title_and_id(run_dir: Path) -> None:
    by_title = _json("similar", "--run", run_dir, "--movie", "Movie 2 (1952)", "-k", K)
    by_id = _json("similar", "--run", run_dir, "--movie-id", "2", "-k", K)
    assert by_title["similar"] == by_id["similar"]
    assert by_title["movie"]["movie_id"] == 2
    ids = [row["movie_id"] for row in by_title["similar"]]
    assert 2 not in ids and sum(movie % 2 == 0 for movie in ids) >= K - 1
    cosines = [row["cosine"] for row in by_title["similar"]]
    assert cosines == sorted(cosines, reverse=True)
    output = _invoke("similar", "--run", run_dir, "--movie", "movie 2")
    assert "Movies most similar to Movie 2 (1952)" in output


def test_similar_min_ratings(run_dir: Path, capsys) -> None:
    counts = [row["n_ratings"] for row in
              _json("similar", "--run", run_dir, "--movie-id", 2, "-k", 39)["similar"]]
    threshold = sorted(counts)[len(counts) // 2]
    filtered = _json("similar", "--run", run_dir, "--movie-id", 2, "-k", 39,
                     "--min-ratings", threshold)["similar"]
    assert filtered and all(row["n_ratings"] >= threshold for row in filtered)
    assert len(filtered) < 39
    assert "exactly one" in _fails(capsys, "similar", "--run", run_dir)
    assert "unknown movie id 77" in _fails(capsys, "similar", "--run", run_dir,
                                           "--movie-id", "77")


# -- evaluate ---------------------------------------------------------------------------------


def test_evaluate_json_with_baselines(run_dir: Path, files) -> None:
    out = _json("evaluate", "--run", run_dir, "--ratings", files["ratings"], "--movies",
                files["movies"], "-k", K)
    assert out["protocol"] == "holdout" and out["threshold"] == 4.0 and out["n_test"] == 90
    metrics = out["metrics"]
    for key in ("rmse", "mae", f"precision@{K}", f"recall@{K}", f"ndcg@{K}", f"map@{K}",
                f"hit_rate@{K}", f"mrr@{K}", f"coverage@{K}", f"novelty@{K}"):
        assert np.isfinite(metrics[key])
    assert set(out["baselines"]) == {"popularity", "random"}
    assert metrics[f"ndcg@{K}"] > out["baselines"]["random"][f"ndcg@{K}"]


def test_evaluate_table_and_leave_last(run_dir: Path, files) -> None:
    output = _invoke("evaluate", "--run", run_dir, "--ratings", files["ratings"], "-k", K)
    assert "RMSE" in output and "popularity" in output and "random" in output
    assert f"ndcg@{K}" in output
    out = _json("evaluate", "--run", run_dir, "--ratings", files["ratings"], "--protocol",
                "leave-last", "-k", K)
    assert out["threshold"] is None and out["n_test"] <= 60


def test_evaluate_errors(run_dir: Path, capsys) -> None:
    assert "--ratings FILE" in _fails(capsys, "evaluate", "--run", run_dir)
    assert "--protocol" in _fails(capsys, "evaluate", "--run", run_dir, "--protocol", "x")


# -- a run that cannot recommend ----------------------------------------------------------------


def test_as_published_run_is_refused(files, encoded, capsys) -> None:
    dataset, data = encoded
    result = data.fit(TrainConfig(model="recommender-net-as-published", epochs=1,
                                  batch_size=32, factors=4), verbose=0)
    run = save_run(files["folder"] / "runs" / "as-published", result, data, dataset)
    err = _fails(capsys, "recommend", "--run", run, "--user", "2")
    assert "cannot recommend" in err and "recommender-net" in err
