"""The service over a ranking model's run (each of registry group "ranking"): relative
scores labelled as such, new users folded in, similar movies."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import train_tiny_run

from movierec.models import model_names
from movierec.runs import load_run
from movierec.service.app import create_app


@pytest.fixture(scope="module", params=model_names(group="ranking"))
def run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("ranking") / request.param,
                          model=request.param, epochs=15)


@pytest.fixture(scope="module")
def client(run_dir: Path):
    with TestClient(create_app(run_dir)) as test_client:
        yield test_client


def _odd_share(movies: list[dict]) -> float:
    return sum(m["movie_id"] % 2 for m in movies) / len(movies)


def test_health_says_scores_are_relative(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["model"] in model_names(group="ranking")
    assert body["score_kind"] == "relative"


def test_known_user_gets_relative_scores_without_rated_movies(client: TestClient,
                                                              run_dir: Path) -> None:
    run = load_run(run_dir)
    rated = set(run.train_ratings.loc[run.train_ratings["user_id"] == 3, "movie_id"])
    if run.test_ratings is not None:
        rated |= set(run.test_ratings.loc[run.test_ratings["user_id"] == 3, "movie_id"])
    body = client.get("/users/3/recommendations", params={"k": 8}).json()
    assert body["score_kind"] == "relative"
    recs = body["recommendations"]
    assert len(recs) == 8 and not {m["movie_id"] for m in recs} & rated
    scores = [m["score"] for m in recs]
    assert scores == sorted(scores, reverse=True)
    fallback = client.get("/users/999/recommendations", params={"fallback": "popular"}).json()
    assert fallback["fallback"] == "popular" and fallback["score_kind"] == "rating"


def test_new_user_is_folded_in(client: TestClient) -> None:
    ratings = [{"movie_id": m, "rating": 5} for m in (1, 3, 5)]
    ratings += [{"movie_id": m, "rating": 1} for m in (2, 4)]
    response = client.post("/recommendations", json={"ratings": ratings, "k": 6})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["score_kind"] == "relative" and body["n_ratings"] == 5
    recs = body["recommendations"]
    assert len(recs) == 6 and not {m["movie_id"] for m in recs} & {1, 2, 3, 4, 5}
    assert _odd_share(recs) >= 0.8  # loves odd movies


def test_similar_movies_for_a_ranking_model(client: TestClient) -> None:
    body = client.get("/movies/3/similar", params={"k": 5}).json()
    assert len(body["similar"]) == 5 and 3 not in {m["movie_id"] for m in body["similar"]}
    assert _odd_share(body["similar"]) >= 0.8
