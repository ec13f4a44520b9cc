"""``movierec train --test-size 0``: train on every rating to ship, with no validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import synthetic_ratings
from typer.testing import CliRunner

from movierec.cli import app, main
from movierec.errors import MovierecError
from movierec.models import model_names
from movierec.recommend import Recommender
from movierec.runs import load_run
from movierec.splits import random_split
from movierec.training import TrainConfig
from movierec.training.keras_fit import fit_keras


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train-all") / "ratings.csv"
    synthetic_ratings().rename(columns={"user_id": "user", "movie_id": "item"}).to_csv(
        path, index=False)
    return path


@pytest.fixture(scope="module")
def run_dir(ratings_file: Path) -> tuple[Path, str]:
    out = ratings_file.parent / "run"
    result = CliRunner().invoke(app, ["train", "--ratings", str(ratings_file), "--model",
                                      "dot-bias", "--epochs", "2", "--batch-size", "32",
                                      "--factors", "4", "--test-size", "0", "--out", str(out),
                                      "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result.output


def test_the_run_trains_on_every_rating_without_validation(run_dir) -> None:
    out, output = run_dir
    assert "no validation metrics" in output and "validation RMSE" not in output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"] is False
    assert "rmse" not in metrics and "best_epoch" not in metrics
    assert metrics["n_train"] == len(synthetic_ratings()) and metrics["n_validation"] == 0
    assert metrics["epochs_run"] == 2
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2 and not any(key.startswith("val_") for key in history[0])
    assert not (out / "test.parquet").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["n_test"] == 0 and config["data"]["split"] == "all"


def test_the_run_reloads_and_recommends(run_dir) -> None:
    out, _ = run_dir
    run = load_run(out)
    assert run.test_ratings is None and len(run.train_ratings) == len(synthetic_ratings())
    rec = Recommender.from_run(run)
    ids, predicted = rec.recommend([1, 2], k=5)
    assert ids.shape == (2, 5) and np.isfinite(predicted).all()
    result = CliRunner().invoke(app, ["recommend", "--run", str(out), "--user", "1", "-k", "3"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "no validation metrics" in result.output
    from movierec.service.app import create_app
    with TestClient(create_app(out)) as client:
        assert client.get("/health").status_code == 200
        body = client.get("/users/1/recommendations", params={"k": 3}).json()
        assert len(body["recommendations"]) == 3


def test_evaluate_refuses_clearly(run_dir, ratings_file: Path, capsys) -> None:
    out, _ = run_dir
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--run", str(out), "--ratings", str(ratings_file)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "nothing to evaluate" in err and "--test-size 0" in err and "Traceback" not in err


def test_early_stopping_is_refused_without_validation(ratings_file: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--ratings", str(ratings_file), "--test-size", "0",
              "--early-stopping", "2", "--out", str(ratings_file.parent / "es"), "--quiet"])
    assert info.value.code == 2
    assert "--early-stopping needs validation ratings" in capsys.readouterr().err
    empty = np.zeros((0, 2), np.int32), np.zeros(0, np.float32)
    with pytest.raises(MovierecError, match="early stopping needs validation"):
        fit_keras(TrainConfig(model="dot", epochs=1, early_stopping=1),
                  np.array([[0, 0]], np.int32), np.array([4.0], np.float32), *empty,
                  n_users=1, n_movies=1, rating_range=(0.5, 5.0), verbose=0)


def test_random_split_of_zero_holds_nothing_out() -> None:
    ratings = synthetic_ratings()
    split = random_split(ratings, 0)
    assert len(split.train) == len(ratings) and len(split.test) == 0


def test_the_run_info_says_nothing_was_held_out(run_dir) -> None:
    """What `serve`, `recommend` and `evaluate` read to note or refuse the missing
    validation."""
    from movierec.runs import load_run
    out, _ = run_dir
    run = load_run(out)
    assert run.info.n_test == 0 and not run.info.validated and not run.validated


def test_a_blend_trains_without_validation_and_reports_no_val_metrics() -> None:
    from movierec.training.blend import fit_blend
    ratings = synthetic_ratings()
    pairs = np.stack([ratings["user_id"] - 1, ratings["movie_id"] - 1], axis=1).astype(np.int32)
    values = ratings["rating"].to_numpy(np.float32)
    members = ({"model": "dot-bias", "factors": 4, "epochs": 1, "batch_size": 64},
               {"model": "dot", "factors": 4, "epochs": 1, "batch_size": 64})
    result = fit_blend(TrainConfig(model="blend", members=members, seed=0), pairs, values,
                       np.zeros((0, 2), np.int32), np.zeros(0, np.float32),
                       n_users=60, n_movies=40, rating_range=(0.5, 5.0), verbose=0)
    assert result.metrics["validation"] is False
    assert "rmse" not in result.metrics and "holdout_rmse" in result.metrics
    assert not any(key.startswith("val_") for key in result.history[0])


@pytest.mark.parametrize("model", model_names(group="ranking"))
def test_a_ranking_model_trains_on_every_rating_and_serves(model: str, ratings_file: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / model
    result = CliRunner().invoke(app, ["train", "--ratings", str(ratings_file), "--model",
                                      model, "--test-size", "0", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_validation"] == 0 and "val_ndcg_at_10" not in metrics
    run = load_run(out)
    assert run.test_ratings is None
    rec = Recommender.from_run(run)
    ids, _ = rec.recommend([1], k=rec.n_movies)
    rated = set(run.train_ratings.loc[run.train_ratings["user_id"] == 1, "movie_id"])
    assert not rated & set(ids[0][ids[0] > 0].tolist())
    shown = CliRunner().invoke(app, ["recommend", "--run", str(out), "--user", "1", "-k", "3"])
    assert shown.exit_code == 0 and "no validation metrics" in shown.output
