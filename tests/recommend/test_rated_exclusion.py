"""Recommendations leave out every movie a user rated in the run's data, held-out part
included, while evaluation keeps its protocol (training ratings excluded, held-out scored)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from helpers import train_tiny_run

from movierec.data import Dataset
from movierec.evaluation import holdout_split, ranking_report
from movierec.models import model_names
from movierec.recommend import Recommender
from movierec.recommend.export import all_users_top_k
from movierec.runs import load_run


@pytest.fixture(scope="module", params=["dot-bias", *model_names(group="ranking")])
def run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rating model's run and each ranking model's: the exclusion holds for both kinds."""
    return train_tiny_run(tmp_path_factory.mktemp("rated") / "run", epochs=3,
                          model=request.param)


def _ndcg_at_5_by_hand(rec: Recommender, split) -> float:
    encoders = rec.encoders
    train, test = encoders.encode(split.train), encoders.encode(split.test)
    liked = test[split.test["rating"].to_numpy() >= 4.0]
    values = []
    for user in np.unique(liked[:, 0]):
        scores = np.asarray(rec.ranking_scores(np.array([user])), np.float64)[0]
        scores[train[train[:, 0] == user, 1]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:5]
        relevant = set(liked[liked[:, 0] == user, 1].tolist())
        dcg = sum(1 / np.log2(rank + 2) for rank, movie in enumerate(top) if movie in relevant)
        ideal = sum(1 / np.log2(rank + 2) for rank in range(min(5, len(relevant))))
        values.append(dcg / ideal)
    return float(np.mean(values))


def _held_out(run) -> dict:
    return run.test_ratings.groupby("user_id")["movie_id"].apply(set).to_dict()


def test_the_run_saves_and_loads_its_held_out_ratings(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert (run_dir / "test.parquet").is_file()
    assert len(run.test_ratings) == run.info.n_test > 0
    assert list(run.test_ratings.columns) == list(run.train_ratings.columns)


def test_recommend_never_returns_a_held_out_rated_movie(run_dir: Path) -> None:
    run = load_run(run_dir)
    rec = Recommender.from_run(run)
    held_out = _held_out(run)
    users = sorted(held_out)
    ids, _ = rec.recommend(users, k=rec.n_movies)
    for user, row in zip(users, ids, strict=True):
        assert not held_out[user] & set(row.tolist())
    frame = all_users_top_k(rec, k=rec.n_movies)
    pairs = set(zip(frame["user_id"], frame["movie_id"], strict=True))
    assert not pairs & set(zip(run.test_ratings["user_id"], run.test_ratings["movie_id"],
                                strict=True))
    # training ratings stay the only ones counted as training ratings
    user = users[0]
    assert rec.n_train_ratings(user) == int((run.train_ratings["user_id"] == user).sum())


def _as_an_older_run(run: Path) -> None:
    """Make ``run`` look saved before test.parquet and run formats: neither is there."""
    (run / "test.parquet").unlink()
    config = json.loads((run / "config.json").read_text())
    del config["format_version"]
    (run / "config.json").write_text(json.dumps(config))


def test_an_older_run_without_test_parquet_still_loads(run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    _as_an_older_run(old)
    run = load_run(old)
    assert run.test_ratings is None
    rec = Recommender.from_run(run)
    held_out = _held_out(load_run(run_dir))
    user = max(held_out, key=lambda u: len(held_out[u]))
    ids, _ = rec.recommend([user], k=rec.n_movies)
    # as before: only the training ratings are excluded, so held-out movies can come back
    assert held_out[user] <= set(ids[0].tolist())


def test_evaluation_metrics_are_unchanged_by_the_held_out_exclusion(
        run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    _as_an_older_run(old)
    saved = load_run(run_dir)
    dataset = Dataset(name="synthetic", ratings=pd.concat(
        [saved.train_ratings, saved.test_ratings], ignore_index=True),
        movies=saved.movies, rating_scale=(0.5, 5.0))
    reports = []
    for path in (run_dir, old):
        run = load_run(path)
        split = holdout_split(run, dataset)
        reports.append(ranking_report(Recommender.from_run(run), split, k=5, threshold=4.0))
    new, before = reports
    run = load_run(run_dir)
    # the figure itself, counted by hand: each held-out user's top 5 by the model's
    # scores with their training movies left out (ties by lower index), against their
    # held-out movies rated 4 or more
    run = load_run(run_dir)
    assert new["ndcg@5"] == pytest.approx(_ndcg_at_5_by_hand(
        Recommender.from_run(run), holdout_split(run, dataset)), abs=1e-6)
    assert new["ndcg@5"] > 0
    assert new.keys() == before.keys()
    for key in new:
        assert new[key] == pytest.approx(before[key]), key


def test_the_service_leaves_out_held_out_rated_movies(run_dir: Path) -> None:
    from movierec.service.app import create_app
    held_out = _held_out(load_run(run_dir))
    with TestClient(create_app(run_dir)) as client:
        for user in sorted(held_out)[:10]:
            body = client.get(f"/users/{user}/recommendations", params={"k": 100}).json()
            shown = {movie["movie_id"] for movie in body["recommendations"]}
            assert shown and not shown & held_out[user]
