"""The HTTP service over a tiny run trained on synthetic taste clusters."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from helpers import train_tiny_run

from movierec.errors import MovierecError
from movierec.service.app import create_app


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("service") / "run", epochs=15)


@pytest.fixture(scope="module")
def client(run_dir: Path) -> TestClient:
    with TestClient(create_app(run_dir)) as test_client:
        yield test_client


# -- health and the page ------------------------------------------------------------------

def test_health_describes_the_run(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"] == "dot-bias"
    assert body["dataset"] == "synthetic"
    assert body["n_users"] == 60 and body["n_movies"] == 40
    assert body["n_ratings"] == 810  # 90% of 60 x 15
    assert body["n_catalog"] == 41
    assert body["rating_scale"] == [0.5, 5.0]
    assert body["id_type"] == "int"
    assert body["score_kind"] == "rating"  # a rating model: scores are predicted ratings
    assert body["version"]


def test_the_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and "/static/style.css" in page.text
    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_openapi_documents_every_endpoint_with_response_models(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = {(method.upper(), path) for path, item in schema["paths"].items()
                  for method in item}
    assert operations == {
        ("GET", "/health"), ("GET", "/users"), ("GET", "/users/{user_id}/recommendations"),
        ("POST", "/recommendations"), ("GET", "/movies"), ("GET", "/movies/{movie_id}/similar"),
        ("POST", "/predict"), ("POST", "/admin/reload"),
    }
    for item in schema["paths"].values():
        for operation in item.values():
            ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert "$ref" in ok, operation["operationId"]
    rating = schema["components"]["schemas"]["NewUserRating"]["properties"]["rating"]
    assert rating["minimum"] == 0.5 and rating["maximum"] == 5.0
    not_found = schema["paths"]["/users/{user_id}/recommendations"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")


# -- known users --------------------------------------------------------------------------

def _cluster_share(movies: list[dict], parity: int) -> float:
    return float(np.mean([m["movie_id"] % 2 == parity for m in movies]))


def test_user_recommendations_follow_the_users_taste(client: TestClient, run_dir: Path) -> None:
    train = pd.read_parquet(run_dir / "train.parquet")
    for user in (1, 2):  # user 1 likes odd movies (index 0 even), user 2 even ones
        body = client.get(f"/users/{user}/recommendations", params={"k": 5}).json()
        assert body["user_id"] == user and body["k"] == 5
        recs = body["recommendations"]
        assert len(recs) == 5
        seen = set(train.loc[train["user_id"] == user, "movie_id"])
        assert not {m["movie_id"] for m in recs} & seen
        scores = [m["score"] for m in recs]
        assert scores == sorted(scores, reverse=True)
        assert all(0.5 <= s <= 5.0 for s in scores)
        liked_parity = (user - 1) % 2  # user index parity == movie index parity
        movie_parity = 1 - liked_parity  # ids are index + 1
        assert _cluster_share(recs, movie_parity) >= 0.8
        # the user's ten highest training ratings, the most recent first among equals
        mine = train[train["user_id"] == user].sort_values(["rating", "timestamp"],
                                                           ascending=False).head(10)
        assert [(m["movie_id"], m["rating"]) for m in body["top_rated"]] == list(
            zip(mine["movie_id"].tolist(), mine["rating"].astype(float).tolist(),
                strict=True))


def test_recommended_movies_carry_titles_years_and_genres(client: TestClient) -> None:
    movie = client.get("/users/3/recommendations", params={"k": 1}).json()["recommendations"][0]
    assert set(movie) == {"movie_id", "title", "year", "genres", "score"}
    assert movie["title"].endswith(f"({movie['year']})")
    assert movie["genres"] in (["Comedy", "Romance"], ["Action", "Sci-Fi"])


def test_k_and_top_bound_the_lists(client: TestClient, run_dir: Path) -> None:
    body = client.get("/users/1/recommendations", params={"k": 100, "top": 0}).json()
    assert body["top_rated"] == []
    test = pd.read_parquet(run_dir / "test.parquet")
    held_out = int((test["user_id"] == 1).sum())  # rated too, in the held-out part
    assert len(body["recommendations"]) == 40 - body_seen(client, 1) - held_out  # unrated only
    for k in (0, 101, -1, "ten"):
        assert client.get("/users/1/recommendations", params={"k": k}).status_code == 422


def body_seen(client: TestClient, user: int) -> int:
    return len(client.get(f"/users/{user}/recommendations",
                          params={"k": 1, "top": 50}).json()["top_rated"])


@pytest.mark.parametrize("user_id", ["999", "0", "abc", "1.5", "99999999999999999999999", " "])
def test_unknown_users_are_404_naming_the_id(client: TestClient, user_id: str) -> None:
    response = client.get(f"/users/{user_id}/recommendations")
    assert response.status_code == 404
    assert repr(user_id) in response.json()["detail"]


def test_popular_fallback_leaves_known_users_alone(client: TestClient) -> None:
    plain = client.get("/users/1/recommendations", params={"k": 5})
    asked = client.get("/users/1/recommendations", params={"k": 5, "fallback": "popular"})
    assert asked.status_code == 200 and asked.content == plain.content
    assert "fallback" not in plain.json() and "note" not in plain.json()


@pytest.mark.parametrize("user_id", ["999", "abc"])
def test_unknown_users_get_labelled_popular_movies_with_fallback(
        client: TestClient, run_dir: Path, user_id: str) -> None:
    response = client.get(f"/users/{user_id}/recommendations",
                          params={"k": 4, "fallback": "popular"})
    assert response.status_code == 200
    body = response.json()
    assert body["fallback"] == "popular"
    assert body["note"].startswith(f"FALLBACK: user {user_id} is unknown to this model")
    assert body["user_id"] == (999 if user_id == "999" else "abc")
    assert body["k"] == 4 and body["top_rated"] == []
    popular = client.get("/movies", params={"limit": 4}).json()["movies"]
    recs = body["recommendations"]
    assert [m["movie_id"] for m in recs] == [m["movie_id"] for m in popular]
    assert set(recs[0]) == {"movie_id", "title", "year", "genres", "score"}
    scores = [m["score"] for m in recs]
    assert scores == sorted(scores, reverse=True) and all(0.5 <= x <= 5.0 for x in scores)


def test_unknown_users_without_fallback_keep_the_404(client: TestClient) -> None:
    before = client.get("/users/999/recommendations")
    assert before.status_code == 404 and "'999'" in before.json()["detail"]
    invalid = client.get("/users/999/recommendations", params={"fallback": "random"})
    assert invalid.status_code == 422


def test_list_users(client: TestClient) -> None:
    body = client.get("/users", params={"offset": 58, "limit": 5}).json()
    assert body == {"n_users": 60, "users": [59, 60]}


# -- new users ----------------------------------------------------------------------------

def test_new_user_gets_recommendations_from_their_ratings(client: TestClient) -> None:
    ratings = [{"movie_id": m, "rating": 5} for m in (1, 3, 5)]
    ratings += [{"movie_id": m, "rating": 1} for m in (2, 4)]
    body = client.post("/recommendations", json={"ratings": ratings, "k": 6}).json()
    assert body["k"] == 6 and body["n_ratings"] == 5
    recs = body["recommendations"]
    assert len(recs) == 6
    assert not {m["movie_id"] for m in recs} & {1, 2, 3, 4, 5}
    assert _cluster_share(recs, 1) >= 0.8  # loves odd movies


def test_new_user_rating_the_same_movie_twice_keeps_the_last(client: TestClient) -> None:
    # Each movie is first rated the opposite way, then corrected: keeping the first ratings
    # would make this user love even movies instead of odd ones.
    last = {1: 5, 3: 5, 5: 5, 2: 1, 4: 1}
    ratings = [{"movie_id": m, "rating": 6 - r} for m, r in last.items()]
    ratings += [{"movie_id": m, "rating": r} for m, r in last.items()]
    body = client.post("/recommendations", json={"ratings": ratings, "k": 6}).json()
    assert body["n_ratings"] == len(last)
    assert _cluster_share(body["recommendations"], 1) >= 0.8  # loves odd movies
    corrected = [{"movie_id": m, "rating": r} for m, r in last.items()]
    same = client.post("/recommendations", json={"ratings": corrected, "k": 6}).json()
    assert body["recommendations"] == same["recommendations"]


@pytest.mark.parametrize("body", [
    {"ratings": []},
    {"ratings": [{"movie_id": 1, "rating": 6}]},
    {"ratings": [{"movie_id": 1, "rating": 0}]},
    {"ratings": [{"movie_id": 1, "rating": "five"}]},
    {"ratings": [{"movie_id": 1}]},
    {"ratings": [{"movie_id": True, "rating": 4}]},
    {"ratings": [{"movie_id": None, "rating": 4}]},
    {"ratings": [{"movie_id": 1, "rating": 4, "extra": 1}]},
    {"ratings": [{"movie_id": 1, "rating": 4}], "k": 0},
    {"ratings": [{"movie_id": m, "rating": 4} for m in range(501)]},
    {"ratings": "all of them"},
    [],
])
def test_malformed_new_user_requests_are_422(client: TestClient, body: object) -> None:
    response = client.post("/recommendations", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_not_a_number_rating_is_422(client: TestClient) -> None:
    response = client.post("/recommendations", content=b'{"ratings": [{"movie_id": 1, '
                           b'"rating": NaN}]}', headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_unknown_movie_in_new_user_ratings_is_404(client: TestClient) -> None:
    response = client.post("/recommendations",
                           json={"ratings": [{"movie_id": 1, "rating": 4},
                                             {"movie_id": 41, "rating": 4}]})
    assert response.status_code == 404
    assert "41" in response.json()["detail"]


def test_string_digits_are_accepted_as_integer_movie_ids(client: TestClient) -> None:
    response = client.post("/recommendations", json={"ratings": [{"movie_id": "3",
                                                                  "rating": 4.5}]})
    assert response.status_code == 200


# -- movies -------------------------------------------------------------------------------

def test_similar_movies_share_the_cluster(client: TestClient) -> None:
    body = client.get("/movies/7/similar", params={"k": 5}).json()
    assert body["movie"]["movie_id"] == 7 and body["k"] == 5
    similar = body["similar"]
    assert len(similar) == 5 and 7 not in {m["movie_id"] for m in similar}
    assert all(-1.0 <= m["score"] <= 1.0 for m in similar)
    assert _cluster_share(similar, 1) >= 0.8


def test_similar_movies_of_unknown_movies_are_404(client: TestClient) -> None:
    for movie_id in ("41", "4000", "toy"):  # 41 is in the catalogue but was never rated
        response = client.get(f"/movies/{movie_id}/similar")
        assert response.status_code == 404
        assert movie_id in response.json()["detail"]


def test_search_finds_titles_the_model_can_score(client: TestClient) -> None:
    body = client.get("/movies", params={"search": "toy story", "limit": 3}).json()
    assert body["search"] == "toy story"
    assert body["movies"][0] == {"movie_id": 1, "title": "Toy Story (1971)", "year": 1971,
                                 "genres": ["Comedy", "Romance"]}
    assert len(body["movies"]) <= 3
    unrated = client.get("/movies", params={"search": "41 (2011)"}).json()["movies"]
    assert 41 not in {m["movie_id"] for m in unrated}


def test_movies_without_search_are_popular_ones(client: TestClient) -> None:
    body = client.get("/movies", params={"limit": 7}).json()
    assert body["search"] is None and len(body["movies"]) == 7
    assert client.get("/movies", params={"search": "   "}).json()["search"] is None
    assert client.get("/movies", params={"limit": 0}).status_code == 422
    assert client.get("/movies", params={"search": "x" * 201}).status_code == 422


# -- predictions --------------------------------------------------------------------------

def test_predict_matches_the_recommendation_scores(client: TestClient) -> None:
    recs = client.get("/users/5/recommendations", params={"k": 3}).json()["recommendations"]
    pairs = [{"user_id": 5, "movie_id": m["movie_id"]} for m in recs]
    body = client.post("/predict", json={"pairs": pairs}).json()
    assert [p["movie_id"] for p in body["predictions"]] == [m["movie_id"] for m in recs]
    for prediction, movie in zip(body["predictions"], recs, strict=True):
        assert prediction["user_id"] == 5
        assert prediction["rating"] == pytest.approx(movie["score"], abs=1e-4)


def test_predict_validates_pairs(client: TestClient) -> None:
    assert client.post("/predict", json={"pairs": []}).status_code == 422
    too_many = [{"user_id": 1, "movie_id": 1}] * 1001
    assert client.post("/predict", json={"pairs": too_many}).status_code == 422
    unknown = client.post("/predict", json={"pairs": [{"user_id": 1, "movie_id": 1},
                                                      {"user_id": 77, "movie_id": 1}]})
    assert unknown.status_code == 404 and "77" in unknown.json()["detail"]


# -- limits, errors, concurrency ----------------------------------------------------------

def test_oversized_bodies_are_413(client: TestClient) -> None:
    padding = " " * (64 * 1024)
    response = client.post("/predict", content=b'{"pairs": []}' + padding.encode(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_streamed_bodies_over_the_limit_are_413(client: TestClient) -> None:
    def chunks():
        for _ in range(20):
            yield b" " * 8192

    response = client.post("/predict", content=chunks(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_small_streamed_bodies_pass(client: TestClient) -> None:
    def chunks():
        yield b'{"pairs": [{"user_id": 1,'
        yield b' "movie_id": 2}]}'

    response = client.post("/predict", content=chunks(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 200


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    for content in (b"{", b"\xff\xfe", b"null", b'{"pairs": [{"user_id": {}}]}'):
        response = client.post("/predict", content=content,
                               headers={"content-type": "application/json"})
        assert response.status_code == 422, content


def test_inline_scoring_stays_on_the_event_loop(run_dir: Path) -> None:
    """The state dependency is async (a plain def one would run in the thread pool), and an
    inline kind of scoring is called with the event loop running in its thread."""
    import asyncio
    import inspect

    from movierec.service.routes import get_state

    assert inspect.iscoroutinefunction(get_state)
    app = create_app(run_dir, inline_ms=1000)
    state = app.state.service
    scoring, on_loop = state.user_recommendations, []

    def recording(*args):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return scoring(*args)

    state.user_recommendations = recording
    with TestClient(app) as test_client:
        assert test_client.get("/users/1/recommendations").status_code == 200
    assert on_loop == [True]


def test_cheap_scoring_runs_inline_with_the_same_answers(run_dir: Path) -> None:
    """Scoring cheaper than inline_ms skips the thread pool; the answers do not change."""
    inline, threaded = create_app(run_dir, inline_ms=1000), create_app(run_dir, inline_ms=0)
    assert inline.state.service.inline == {"user", "new_user", "similar", "feedback"}
    assert threaded.state.service.inline == set()
    assert set(threaded.state.service.scoring_seconds) == {
        "user", "new_user", "similar", "feedback"}
    requests = [("GET", "/users/3/recommendations?k=5", None),
                ("GET", "/movies/2/similar?k=4", None),
                ("POST", "/recommendations", {"ratings": [{"movie_id": 1, "rating": 5}]}),
                ("POST", "/predict", {"pairs": [{"user_id": 1, "movie_id": 2}]}),
                ("GET", "/users/99999/recommendations", None)]
    with TestClient(inline) as fast, TestClient(threaded) as pooled:
        for method, url, body in requests:
            a, b = (client.request(method, url, json=body) for client in (fast, pooled))
            assert (a.status_code, a.json()) == (b.status_code, b.json()), url


def test_requests_are_served_while_others_score(run_dir: Path) -> None:
    """Slow scoring runs in the thread pool: it does not block /health."""
    app = create_app(run_dir, inline_ms=0)
    recommender = app.state.service.recommender
    original = recommender.recommend_indices
    started = threading.Event()

    def slow_recommend(*args, **kwargs):
        started.set()
        time.sleep(1.0)
        return original(*args, **kwargs)

    recommender.recommend_indices = slow_recommend
    with TestClient(app) as test_client:
        result: dict[str, float] = {}

        def slow_request() -> None:
            test_client.get("/users/1/recommendations")
            result["slow_done"] = time.perf_counter()

        worker = threading.Thread(target=slow_request)
        worker.start()
        assert started.wait(5)
        before = time.perf_counter()
        assert test_client.get("/health").status_code == 200
        health_done = time.perf_counter()
        worker.join()
    assert health_done - before < 0.5
    assert health_done < result["slow_done"]


# -- string ids and loading ---------------------------------------------------------------

def test_runs_on_string_ids(tmp_path: Path) -> None:
    run = train_tiny_run(tmp_path / "run", string_ids=True)
    with TestClient(create_app(run)) as test_client:
        assert test_client.get("/health").json()["id_type"] == "str"
        body = test_client.get("/users/u7/recommendations", params={"k": 3}).json()
        assert body["user_id"] == "u7"
        assert all(m["movie_id"].startswith("m") for m in body["recommendations"])
        assert test_client.get("/users/7/recommendations").status_code == 404
        new = test_client.post("/recommendations",
                               json={"ratings": [{"movie_id": "m3", "rating": 5}]})
        assert new.status_code == 200
        assert test_client.get("/movies/m3/similar").status_code == 200
        predicted = test_client.post("/predict",
                                     json={"pairs": [{"user_id": "u1", "movie_id": "m2"}]})
        assert predicted.status_code == 200


@pytest.mark.slow
def test_serves_a_blend_run(tmp_path: Path) -> None:
    """The best preset's model (a blend) serves every endpoint like a single model."""
    run = train_tiny_run(tmp_path / "blend", model="blend")
    with TestClient(create_app(run)) as test_client:
        assert test_client.get("/health").json()["model"] == "blend"
        known = test_client.get("/users/3/recommendations", params={"k": 4}).json()
        assert len(known["recommendations"]) == 4
        new = test_client.post("/recommendations",
                               json={"ratings": [{"movie_id": 2, "rating": 5}], "k": 4})
        assert len(new.json()["recommendations"]) == 4
        similar = test_client.get("/movies/2/similar", params={"k": 3}).json()["similar"]
        assert len(similar) == 3 and all(-1.0 <= m["score"] <= 1.0 for m in similar)
        predicted = test_client.post("/predict",
                                     json={"pairs": [{"user_id": 3, "movie_id": 2}]}).json()
        assert 0.5 <= predicted["predictions"][0]["rating"] <= 5.0


def test_create_app_accepts_a_recommender(run_dir: Path) -> None:
    from movierec.recommend import Recommender
    from movierec.runs import load_run

    app = create_app(Recommender.from_run(load_run(run_dir)))
    with TestClient(app) as test_client:
        assert test_client.get("/health").json()["model"] == "dot-bias"
        assert test_client.get("/users/1/recommendations").status_code == 200


def test_a_missing_or_broken_run_is_a_clear_error(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(MovierecError, match="not a training run"):
        create_app(tmp_path / "nothing")
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in run_dir.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    (broken / "model.keras").write_bytes(b"not a zip file")
    with pytest.raises(MovierecError, match=r"model\.keras is damaged"):
        create_app(broken)


def test_serve_command_exits_2_on_a_bad_run(tmp_path: Path, capsys) -> None:
    from movierec.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--run", str(tmp_path / "nothing"), "--port", "0"])
    assert exit_info.value.code == 2
    assert "not a training run" in capsys.readouterr().err


def test_serve_command_says_when_the_port_is_taken(run_dir: Path, capsys) -> None:
    import socket

    from movierec.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", "--run", str(run_dir), "--port", str(port)])
    assert exit_info.value.code == 2
    assert "already in use" in capsys.readouterr().err


def test_serve_command_rejects_an_unknown_log_level(run_dir: Path, capsys) -> None:
    from movierec.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--run", str(run_dir), "--log-level", "loud"])
    assert exit_info.value.code == 2
    assert "unknown log level 'loud'" in capsys.readouterr().err
