"""movierec retrain and the hot swap of a new run into a running app (in-process)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from helpers import train_tiny_run
from typer.testing import CliRunner

from movierec.cli import app as cli
from movierec.recommend import Recommender
from movierec.retrain import Comparison, retrain
from movierec.runs import load_run
from movierec.service.app import create_app
from movierec.service.auth import WriteToken
from movierec.store import create_store

TOKEN = "retrain-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("retrain") / "run", epochs=10)


def _store_of(run_dir: Path, path: Path):
    run = load_run(run_dir)
    frame = pd.concat([run.train_ratings, run.test_ratings])
    return create_store(path, frame, id_kind="int", dataset="synthetic")


def test_retrain_learns_the_posted_ratings_and_new_movies(base_run: Path,
                                                          tmp_path: Path) -> None:
    store = _store_of(base_run, tmp_path / "r.sqlite")
    store.put(1, [(41, 5.0), (3, 1.0)])  # 41: in the catalogue, never rated in the run
    store.put(500, [(41, 4.5), (2, 4.0), (4, 4.0)])  # a user the run never saw
    result = retrain(base_run, store, tmp_path / "new")
    assert result.trained and result.saved == tmp_path / "new"
    assert result.store_seq == store.last_seq() == 3 and result.n_added == 5
    new = load_run(tmp_path / "new")
    everything = pd.concat([new.train_ratings, new.test_ratings])
    posted = everything.merge(pd.DataFrame({"user_id": [1, 1, 500, 500, 500],
                                            "movie_id": [41, 3, 41, 2, 4]}))
    assert len(posted) == 5  # every posted rating is in the new run's data
    assert new.store_seq == 3 and new.source["n_added"] == 5
    assert new.run_id != load_run(base_run).run_id
    assert new.encoders.movies.transform([41], unknown="mask")[0] >= 0  # now scorable
    assert Recommender.from_run(new).knows_user(500)


def test_if_changed_trains_nothing_without_new_writes(base_run: Path, tmp_path: Path) -> None:
    store = _store_of(base_run, tmp_path / "r.sqlite")
    first = retrain(base_run, store, tmp_path / "current")
    again = retrain(tmp_path / "current", store, tmp_path / "current", if_changed=True)
    assert first.trained and not again.trained and again.saved is None
    assert "nothing was written" in again.message
    assert load_run(tmp_path / "current").run_id == load_run(first.saved).run_id
    store.put(2, [(5, 3.0)])
    third = retrain(tmp_path / "current", store, tmp_path / "current", if_changed=True)
    assert third.trained and load_run(tmp_path / "current").store_seq == store.last_seq()


def test_keep_if_worse_keeps_the_old_run_when_the_new_is_worse(base_run: Path,
                                                              tmp_path: Path) -> None:
    store = _store_of(base_run, tmp_path / "r.sqlite")
    result = retrain(base_run, store, tmp_path / "new", keep_if_worse=True)
    comparison = result.comparison
    assert comparison is not None and comparison.metric == "rmse"
    assert comparison.n_ratings > 0
    assert (result.saved is None) == comparison.new_is_worse
    assert Comparison("rmse", 0.9, 1.0, 10).new_is_worse
    assert not Comparison("ndcg@10", 0.2, 0.3, 10).new_is_worse
    # A one-epoch retrain of a 10-epoch run is worse: it must not replace the run.
    cheap = retrain(base_run, store, base_run, keep_if_worse=True, preset="fast")
    if cheap.comparison is not None and cheap.comparison.new_is_worse:
        assert cheap.saved is None and "kept" in cheap.message


def test_the_cli_says_what_it_did(base_run: Path, tmp_path: Path) -> None:
    _store_of(base_run, tmp_path / "r.sqlite").close()
    args = ["retrain", "--run", str(base_run), "--store", str(tmp_path / "r.sqlite"),
            "--out", str(tmp_path / "new"), "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "trained dot-bias on 900 ratings" in result.stdout


# -- the hot swap ----------------------------------------------------------------------------
@pytest.fixture
def serving(base_run: Path, tmp_path: Path):
    run_dir = tmp_path / "current"
    retrain(base_run, _store_of(base_run, tmp_path / "seed.sqlite"), run_dir)
    store = _store_of(base_run, tmp_path / "r.sqlite")
    with TestClient(create_app(run_dir, token=WriteToken(TOKEN), store=store)) as client:
        yield client, run_dir, store


def test_reload_swaps_in_the_retrained_run(serving) -> None:
    client, run_dir, store = serving
    before = client.get("/health").json()
    assert client.post("/users/1/ratings", headers=AUTH,
                       json={"ratings": [{"movie_id": 41, "rating": 5.0}]}).status_code == 201
    retrain(run_dir, store, run_dir)
    answer = client.post("/admin/reload", headers=AUTH)
    assert answer.status_code == 200, answer.text
    after = client.get("/health").json()
    assert after["run_id"] == answer.json()["run_id"] != before["run_id"]
    assert after["run_store_seq"] == store.last_seq() == answer.json()["run_store_seq"]
    assert answer.json()["previous_run_id"] == before["run_id"]
    # the stored ratings still fold in on the new model: 41 is rated, so never listed
    body = client.get("/users/1/recommendations", params={"k": 20}).json()
    assert 41 not in [m["movie_id"] for m in body["recommendations"]]
    metrics = client.get("/metrics").text
    assert 'movierec_reloads_total{outcome="ok"} 1.0' in metrics
    assert f'run_id="{after["run_id"]}"' in metrics


def test_a_damaged_run_is_refused_and_the_old_one_serves(serving) -> None:
    client, run_dir, _ = serving
    before = client.get("/health").json()["run_id"]
    model = run_dir / "model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    answer = client.post("/admin/reload", headers=AUTH)
    assert answer.status_code == 422
    assert "model.keras is damaged" in answer.json()["detail"]
    assert f"Still serving run {before}" in answer.json()["detail"]
    assert client.get("/health").json()["run_id"] == before
    assert client.get("/users/1/recommendations").status_code == 200
    assert 'movierec_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text


def test_a_run_of_another_dataset_is_refused(serving, tmp_path: Path) -> None:
    client, run_dir, _ = serving
    other = train_tiny_run(tmp_path / "other", string_ids=True)
    for name in ("config.json", "encoders.json", "model.keras", "train.parquet",
                 "test.parquet", "movies.parquet", "metrics.json", "history.json"):
        (run_dir / name).write_bytes((other / name).read_bytes())
    answer = client.post("/admin/reload", headers=AUTH)
    assert answer.status_code == 422 and "not a successor" in answer.json()["detail"]


def test_reload_needs_the_token(serving) -> None:
    client, _, _ = serving
    before = client.get("/health").json()["run_id"]
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Bearer no"}).status_code == 401
    assert client.get("/health").json()["run_id"] == before


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith(name + " "))


def test_metrics_count_requests_ratings_and_fold_ins(serving) -> None:
    client, _, _ = serving
    client.get("/users/1/recommendations")
    folded = _metric(client.get("/metrics").text, "movierec_fold_ins_total")
    client.post("/users/3/ratings", headers=AUTH,
                json={"ratings": [{"movie_id": 5, "rating": 4.0}, {"movie_id": 7, "rating": 2}]})
    client.post("/users/3/ratings", headers=AUTH,
                json={"ratings": [{"movie_id": 5, "rating": 9.0}]})
    client.get("/users/3/recommendations")
    text = client.get("/metrics").text
    assert ('movierec_http_requests_total{method="GET",route="/users/{user_id}/'
            'recommendations",status="200"} 2.0') in text
    assert "movierec_ratings_stored_total 2.0" in text
    assert "movierec_rating_batches_rejected_total 1.0" in text
    assert _metric(text, "movierec_fold_ins_total") == folded + 1  # user 3's new ratings
    assert "movierec_store_ratings 902.0" in text
