"""evaluation.run_dataset: the data a saved run was trained on, as `movierec evaluate` finds it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import train_tiny_run

from movierec.errors import MovierecError
from movierec.evaluation import run_dataset
from movierec.runs import load_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return load_run(train_tiny_run(tmp_path_factory.mktemp("run-dataset") / "run"))


def test_a_run_on_the_users_own_file_needs_the_file_again(run) -> None:
    with pytest.raises(MovierecError, match=r"trained on 'synthetic'.*--ratings FILE"):
        run_dataset(run)


def test_the_named_file_wins(run, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("user,item,rating\n1,1,4\n2,1,3\n")
    assert run_dataset(run, ratings=path).n_ratings == 2


def test_a_movielens_run_reloads_its_release(run, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MOVIEREC_DATA", raising=False)
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n")
    on_movielens = dataclasses.replace(run, info=dataclasses.replace(run.info,
                                                                     dataset="latest-small"))
    data = run_dataset(on_movielens, data_dir=tmp_path)
    assert data.name == "latest-small" and data.n_ratings == 1
