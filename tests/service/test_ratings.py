"""The service with a ratings store: what users rate is kept and changes their lists at
once. Runs against an SQLite file and, where a server is reachable (always in CI), PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from helpers import synthetic_ratings, train_tiny_run

from movierec.errors import MovierecError
from movierec.runs import load_run
from movierec.service.app import create_app
from movierec.service.auth import WriteToken
from movierec.store import create_store, open_store

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EMPTY = synthetic_ratings().iloc[:0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("ratings") / "run", epochs=15)


@pytest.fixture
def client(run_dir: Path, target: str):
    store = create_store(target, EMPTY, id_kind="int", overwrite=True)
    with TestClient(create_app(run_dir, token=WriteToken(TOKEN), store=store)) as test_client:
        yield test_client


def listed(client: TestClient, user: int, k: int = 10) -> list[int]:
    response = client.get(f"/users/{user}/recommendations", params={"k": k})
    assert response.status_code == 200, response.text
    return [movie["movie_id"] for movie in response.json()["recommendations"]]


def rate(client: TestClient, user: int, ratings: dict[int, float], headers=AUTH):
    return client.post(f"/users/{user}/ratings", headers=headers,
                       json={"ratings": [{"movie_id": m, "rating": r}
                                         for m, r in ratings.items()]})


def test_rated_movies_leave_the_list_at_once_and_are_replaced(client: TestClient) -> None:
    before = listed(client, 1)
    first_three = before[:3]
    response = rate(client, 1, dict.fromkeys(first_three, 4.0))
    assert response.status_code == 201
    assert response.json()["n_ratings"] == 3 and response.json()["seq"] >= 1
    after = client.get("/users/1/recommendations", params={"k": 10}).json()
    ids = [m["movie_id"] for m in after["recommendations"]]
    assert not set(first_three) & set(ids)
    assert len(ids) == 10 and after["folded_in"] is True
    stored = client.get("/users/1/ratings").json()["ratings"]
    assert sorted(r["movie_id"] for r in stored) == sorted(first_three)


def test_ratings_change_the_list_in_their_direction(client: TestClient) -> None:
    # user 2 is even: loves even movies, so the trained list is all even. Loving unrated
    # odd movies and disliking unrated even ones must pull the folded-in list towards odd.
    before = listed(client, 2)
    assert sum(m % 2 for m in before) == 0, before
    rated = set(synthetic_ratings().query("user_id == 2")["movie_id"])
    odd = [m for m in range(1, 41, 2) if m not in rated][:8]
    even = [m for m in range(2, 41, 2) if m not in rated][:6]
    assert rate(client, 2, {**dict.fromkeys(odd, 5.0), **dict.fromkeys(even, 0.5)}
                ).status_code == 201
    after = listed(client, 2)
    assert sum(m % 2 for m in after) >= 2, after  # from none: the new ratings count


def test_a_user_only_the_store_knows_gets_a_personal_list(client: TestClient) -> None:
    assert client.get("/users/90001/recommendations").status_code == 404
    assert rate(client, 90001, {2: 5.0, 4: 5.0, 6: 4.5, 3: 1.0}).status_code == 201
    body = client.get("/users/90001/recommendations", params={"k": 5}).json()
    ids = [m["movie_id"] for m in body["recommendations"]]
    assert body["folded_in"] is True and "fallback" not in body
    assert len(ids) == 5 and all(m % 2 == 0 for m in ids) and not {2, 4, 6, 3} & set(ids)
    assert [m["movie_id"] for m in body["top_rated"]][:3] == [2, 4, 6]


@pytest.mark.parametrize(("entry", "status"), [
    ({"movie_id": 99999, "rating": 4.0}, 404),
    ({"movie_id": 7, "rating": 5.5}, 422),
    ({"movie_id": 7, "rating": 0.0}, 422),
    ({"movie_id": 7, "rating": "NaN"}, 422),
    ({"movie_id": 5, "rating": 3.0}, 409),  # movie 5 twice in the batch
])
def test_a_bad_batch_stores_nothing_and_names_the_entry(client: TestClient, entry: dict,
                                                        status: int) -> None:
    body = {"ratings": [{"movie_id": 5, "rating": 4.0}, {"movie_id": 9, "rating": 2.0}, entry]}
    response = client.post("/users/3/ratings", headers=AUTH, json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if status == 422:
        locations = [tuple(error["loc"]) for error in detail]
        assert any(loc[:4] == ("body", "ratings", 2, "rating") for loc in locations), locations
    else:
        assert detail.startswith("ratings[2].movie_id:") and "nothing was stored" in detail
    assert client.get("/users/3/ratings").json()["ratings"] == []
    assert client.get("/health").json()["store_seq"] == 0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}])
def test_writes_need_the_token_and_reads_do_not(client: TestClient, headers: dict) -> None:
    response = rate(client, 4, {5: 4.0}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert TOKEN not in response.text
    assert client.delete("/users/4/ratings/5", headers=headers).status_code == 401
    assert client.get("/users/4/ratings").json() == {"user_id": 4, "ratings": []}
    assert client.get("/health").json()["store_seq"] == 0


def test_delete_removes_one_rating(client: TestClient) -> None:
    assert rate(client, 6, {5: 4.0, 7: 2.0}).status_code == 201
    response = client.delete("/users/6/ratings/5", headers=AUTH)
    assert response.status_code == 200 and response.json()["movie_id"] == 5
    assert [r["movie_id"] for r in client.get("/users/6/ratings").json()["ratings"]] == [7]
    assert client.delete("/users/6/ratings/5", headers=AUTH).status_code == 404
    assert client.get("/health").json()["store_seq"] == 2


def test_a_later_rating_of_a_movie_replaces_the_earlier(client: TestClient) -> None:
    assert rate(client, 8, {5: 4.0}).status_code == 201
    assert rate(client, 8, {5: 1.5}).status_code == 201
    stored = client.get("/users/8/ratings").json()["ratings"]
    assert [(r["movie_id"], r["rating"]) for r in stored] == [(5, 1.5)]


def test_health_names_the_store(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["store"] in ("sqlite", "postgresql") and body["store_seq"] == 0
    rate(client, 9, {5: 4.0})
    assert client.get("/health").json()["store_seq"] == 1


def test_stored_training_ratings_are_not_counted_twice(run_dir: Path, tmp_path: Path) -> None:
    """A store made from the run's own data changes nobody's list: ratings equal to the
    training ones add nothing, so the trained model answers."""
    run = load_run(run_dir)
    plain_client = TestClient(create_app(run_dir))
    store = create_store(tmp_path / "r.sqlite", run.train_ratings, id_kind="int")
    with TestClient(create_app(run_dir, token=WriteToken(TOKEN), store=store)) as client:
        for user in (1, 2, 17):
            body = client.get(f"/users/{user}/recommendations").json()
            assert body["folded_in"] is False
            expected = plain_client.get(f"/users/{user}/recommendations").json()
            assert body["recommendations"] == expected["recommendations"]


def test_without_a_store_there_are_no_rating_endpoints(run_dir: Path) -> None:
    with TestClient(create_app(run_dir, token=WriteToken(TOKEN))) as client:
        assert rate(client, 1, {5: 4.0}).status_code in (404, 405)
        assert client.get("/health").json()["store"] is None


def test_a_store_of_other_ids_is_refused(run_dir: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame({"user_id": ["a"], "movie_id": ["m"], "rating": [4.0]})
    store = create_store(tmp_path / "s.sqlite", frame, id_kind="str")
    with pytest.raises(MovierecError, match="holds str ids but the run's ids are int"):
        create_app(run_dir, store=store)
    store.close()


def test_ratings_persist_across_apps(run_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    create_store(path, EMPTY, id_kind="int").close()
    with TestClient(create_app(run_dir, token=WriteToken(TOKEN),
                               store=open_store(path))) as client:
        assert rate(client, 1, {5: 4.0, 7: 3.0}).status_code == 201
        first = listed(client, 1)
    with TestClient(create_app(run_dir, store=open_store(path))) as client:
        assert len(client.get("/users/1/ratings").json()["ratings"]) == 2
        assert listed(client, 1) == first and not {5, 7} & set(first)


def test_a_catalogue_movie_the_model_cannot_score_is_stored(client: TestClient) -> None:
    # Movie 41 has a title but no training rating: the model cannot score it yet; the
    # rating is kept (a retrain makes it scorable) and the list is unaffected by it.
    assert rate(client, 10, {41: 5.0}).status_code == 201
    assert [r["movie_id"] for r in client.get("/users/10/ratings").json()["ratings"]] == [41]
    assert 41 not in listed(client, 10)


def test_the_popular_fallback_still_answers_any_id(client: TestClient) -> None:
    for raw in ("no-such-user", "90002"):
        body = client.get(f"/users/{raw}/recommendations",
                          params={"fallback": "popular", "k": 3}).json()
        assert body["fallback"] == "popular" and len(body["recommendations"]) == 3
