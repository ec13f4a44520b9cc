"""Sealed test parts: the tuning entry points never see a test rating and print no test figure.

``benchmarks.tune``, ``benchmarks.ranking_models``, ``benchmarks.ease_two_way``,
``benchmarks.ease_prune``'s choice and ``benchmarks.select``'s selection are run on a
synthetic dataset standing in for a MovieLens release; every split any of them encodes
(``EncodedSplit.from_dataset``, the one door to training and scoring) is recorded, and
none may hold a (user, movie) pair of the benchmark's outer test part, nor a tag on one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_movies, synthetic_ratings

import benchmarks.common
from benchmarks import ease_prune, ease_two_way, ranking_models, select, tune
from benchmarks.common import outer_split, training_part
from movierec.data import Dataset
from movierec.training import EncodedSplit


def synthetic_release() -> Dataset:
    ratings = synthetic_ratings(n_users=40, n_movies=30, per_user=12, seed=3)
    ratings["rating"] = ratings["rating"].astype(np.float32)
    # A tag on every rating: those on test pairs must never reach a side row.
    tags = ratings[["user_id", "movie_id"]].assign(
        tag=np.where(ratings["movie_id"] % 2, "odd", "even"))
    return Dataset(name="synthetic", ratings=ratings, movies=synthetic_movies(30),
                   rating_scale=(1.0, 5.0), tags=tags)


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user_id"].tolist(), frame["movie_id"].tolist(), strict=True))


class Recorder:
    """Every dataset and split that reaches ``EncodedSplit.from_dataset``."""

    def __init__(self) -> None:
        self.seen: list[tuple[Dataset, object]] = []

    def leaked(self, test: pd.DataFrame) -> set[tuple[int, int]]:
        """The outer test pairs found in any recorded ratings, split or tag table."""
        held_out = _pairs(test)
        found: set[tuple[int, int]] = set()
        for dataset, split in self.seen:
            found |= held_out & _pairs(dataset.ratings)
            found |= held_out & (_pairs(split.train) | _pairs(split.test))
            if dataset.tags is not None:
                found |= held_out & _pairs(dataset.tags)
        return found


@pytest.fixture()
def release(monkeypatch: pytest.MonkeyPatch) -> tuple[Dataset, Recorder]:
    dataset = synthetic_release()
    monkeypatch.setattr(benchmarks.common, "load", lambda name, data_dir=None: dataset)
    recorder = Recorder()
    original = EncodedSplit.from_dataset.__func__  # type: ignore[attr-defined]

    def recording(cls, data, split, **params):
        recorder.seen.append((data, split))
        return original(cls, data, split, **params)

    monkeypatch.setattr(EncodedSplit, "from_dataset", classmethod(recording))
    return dataset, recorder


def _check_sealed(dataset: Dataset, recorder: Recorder, printed: str) -> None:
    assert recorder.seen, "the entry point encoded nothing: the check would prove nothing"
    assert recorder.leaked(outer_split(dataset).test) == set()
    assert "test" not in printed.lower()


def test_the_recorder_sees_a_test_pair_when_one_is_used(release) -> None:
    """The control: encoding the outer split itself is caught."""
    dataset, recorder = release
    EncodedSplit.from_dataset(dataset, outer_split(dataset))
    assert len(recorder.leaked(outer_split(dataset).test)) == len(outer_split(dataset).test)


def test_tune_sees_only_the_training_part(release, capsys) -> None:
    dataset, recorder = release
    rows = tune.main(["--dataset", "synthetic", "--model", "ease", "--seeds", "42,43",
                      "--grid", '{"lam": [5, 20], "side_weight": [0.0, 1.0]}'])
    assert len(rows) == 4 and all(0 < row["val_ndcg"] <= 1 for row in rows)
    _check_sealed(dataset, recorder, capsys.readouterr().out)


def test_ranking_models_grid_sees_only_the_training_part(release, capsys) -> None:
    dataset, recorder = release
    rows = ranking_models.main(["--dataset", "synthetic", "--model", "ease", "--baselines",
                                "--grid", '{"lam": [5, 20]}'])
    assert len(rows) == 2
    _check_sealed(dataset, recorder, capsys.readouterr().out)


def test_ease_two_way_sees_only_the_training_part(release, capsys) -> None:
    dataset, recorder = release
    rows = ease_two_way.main(["--dataset", "synthetic"])
    assert rows and all(set(row) == {"setting", "validation", "folds"} for row in rows)
    _check_sealed(dataset, recorder, capsys.readouterr().out)


def test_the_selection_sees_only_the_training_part_and_picks_the_best(
        release, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, recorder = release
    monkeypatch.setitem(select.GRIDS, "latest-small", {"lam": (5.0, 50.0)})
    chosen = select.select(training_part(dataset))
    _check_sealed(dataset, recorder, "")
    assert [setting for setting, _ in chosen.by_setting] == [{"lam": 5.0}, {"lam": 50.0}]
    best = max(score for _, score in chosen.by_setting)
    assert chosen.validation_ndcg == best and chosen.config.lam == chosen.setting["lam"]
    assert chosen.paper_lam in select.PAPER_LAMS


def test_the_rating_selection_sees_only_the_training_part_and_fixes_the_epochs(
        release, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, recorder = release
    monkeypatch.setitem(select.RMSE_GRID, "l2", (0.05,))
    monkeypatch.setitem(select.RMSE_GRID, "learning_rate", (0.03, 0.1))
    monkeypatch.setattr(select, "RMSE_MAX_EPOCHS", 6)
    chosen = select.select_rating(training_part(dataset))
    _check_sealed(dataset, recorder, "")
    assert chosen.config.early_stopping is None  # the test run trains a fixed epoch count
    assert 1 <= chosen.config.epochs == chosen.setting["epochs"] <= 6
    assert chosen.config.learning_rate == chosen.setting["learning_rate"]
    assert 0 < chosen.validation_rmse < 2.0


def test_training_part_drops_the_test_ratings_and_their_tags() -> None:
    dataset = synthetic_release()
    split = outer_split(dataset)
    part = training_part(dataset, split)
    assert _pairs(part.ratings) == _pairs(split.train)
    assert part.dataset.tags is not None and _pairs(part.dataset.tags) == _pairs(split.train)
    assert part.outer == split.name
    # the row labels survive: contiguous_folds reads u.data's order from them
    assert part.ratings.index.equals(split.train.index)


def test_nested_scores_each_outer_split_after_its_own_selection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each outer split's selection is handed that split's training part, never another's
    (a leak across splits is what u1..u5 had), and each split gets its own row."""
    dataset = synthetic_release()
    monkeypatch.setitem(select.GRIDS, "latest-small", {"lam": (5.0,)})
    monkeypatch.setitem(select.OUTER, "latest-small", (42, 7))
    handed: list = []
    real = select.select

    def spy(train):
        handed.append(train)
        return real(train)

    monkeypatch.setattr(select, "select", spy)
    rows = select.nested(replace(dataset, name="synthetic"))
    assert [row["split"] for row in rows] == ["seed 42", "seed 7"]
    assert [row["development"] for row in rows] == [True, False]
    for (_, _, split), part in zip(select.outer_splits(dataset), handed, strict=True):
        assert _pairs(part.ratings) == _pairs(split.train)
    assert all(row["ease"] > row["popularity"] for row in rows)


@pytest.mark.realdata
@pytest.mark.slow
def test_the_100k_preset_is_what_the_selection_picks_on_u1_base(
        real_data_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """presets.RANK_CHOSEN_BY says the rank preset's ease values on 100k are
    benchmarks.select's pick on u1.base: rerun that selection (about a minute) and compare."""
    from movierec.data import load
    from movierec.presets import RANK_CHOSEN_BY, get_preset

    monkeypatch.setattr(select, "PAPER_LAMS", (500.0,))  # the paper's lam is not compared
    chosen = select.select(training_part(load("100k", real_data_dir, download=False)))
    preset = get_preset("rank").settings["100k"]["ease"]
    assert {field: preset[field] for field in chosen.setting} == chosen.setting
    assert all("benchmarks.select" in RANK_CHOSEN_BY["100k"][field] for field in chosen.setting)
    assert chosen.validation_ndcg == pytest.approx(0.2897, abs=5e-5)  # B pruned to 768 (issue 23)


def test_ease_prune_chooses_k_on_the_training_part_only(
        release, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The pruning's choice: validation splits of the training part, every seed averaged;
    no test figure without ``--test``."""
    dataset, recorder = release
    monkeypatch.setattr(ease_prune, "CANDIDATES", (4, 8))
    report = ease_prune.main(["--datasets", "synthetic", "--seeds", "42", "43"])
    _check_sealed(dataset, recorder, capsys.readouterr().out)
    assert len(recorder.seen) == 2  # one validation split per seed
    scores = report["validation"]["synthetic"]
    assert set(scores) == {0, 4, 8} and all(0 < v <= 1 for v in scores.values())
    assert report["chosen"] == ease_prune.choose(report["validation"], 0.001)
    assert "test" not in report


def test_ease_prune_takes_the_smallest_k_within_the_tolerance_everywhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ease_prune, "CANDIDATES", (256, 512, 768))
    ndcg = {"a": {0: 0.30, 256: 0.295, 512: 0.2995, 768: 0.2999},
            "b": {0: 0.20, 256: 0.20, 512: 0.1985, 768: 0.2001}}
    assert ease_prune.choose(ndcg, 0.001) == 768  # 512 is 0.0015 short on b
    assert ease_prune.choose(ndcg, 0.002) == 512
    assert ease_prune.choose({"a": {0: 0.3, 256: 0.2, 512: 0.2, 768: 0.2}}, 0.001) == 0
