"""The ranking comparison: every ranking model beside the rows given, and the paper's EASE
as the reference row the demo prints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_ratings

from movierec import presets
from movierec.comparison import PAPER_EASE_ROW, best_ranker, compare_rankers
from movierec.data import Dataset
from movierec.models import model_names
from movierec.training import EncodedSplit


def _dataset() -> Dataset:
    ratings = synthetic_ratings(n_users=60, n_movies=40, per_user=20)
    ratings["rating"] = ratings["rating"].astype(np.float32)
    ids = np.sort(ratings["movie_id"].unique())
    movies = pd.DataFrame({"movie_id": ids, "title": [f"Movie {i}" for i in ids],
                           "year": pd.array([2000] * len(ids), dtype="Int64"),
                           "genres": [""] * len(ids)})
    return Dataset(name="synthetic", ratings=ratings, movies=movies, rating_scale=(0.5, 5.0))


def test_paper_ease_is_binary_ease_at_its_validated_lam():
    config = presets.paper_ease("latest-small")
    assert (config.model, config.lam, config.negative_weight, config.popularity_exponent,
            config.side_weight, config.lowpass_weight, config.user_weight) == (
        "ease", 200.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    assert presets.paper_ease("100k").lam == 500.0
    assert presets.paper_ease("my-ratings.csv") is None  # no lam validated there


@pytest.mark.slow
def test_reference_row_joins_the_rankers_but_is_never_the_best(monkeypatch, tmp_path):
    dataset = _dataset()
    data = EncodedSplit.random(dataset, 0.2, seed=3)
    plain, _ = compare_rankers(dataset, data, out=tmp_path / "plain", verbose=0, max_epochs=1)
    assert PAPER_EASE_ROW not in {row.name for row in plain}
    assert presets.paper_ease("synthetic") is None
    monkeypatch.setitem(presets.PAPER_EASE_LAM, "synthetic", 5.0)
    rows, skipped = compare_rankers(dataset, data, out=tmp_path / "ref", verbose=0,
                                    max_epochs=1, reference=True)
    names = [row.name for row in rows]
    assert set(model_names(group="ranking")) - set(skipped) <= set(names)
    reference = rows[names.index(PAPER_EASE_ROW)]
    assert reference.run_dir is None and reference.rmse is None
    # two taste clusters, each user's few ratings of the other one low: binary input counts
    # those as taste, the rank preset's weighting does not
    ease = rows[names.index("ease")]
    assert ease.ranking["ndcg@10"] > reference.ranking["ndcg@10"] + 0.1 > 0.1
    assert names == sorted(names, key=lambda n: -rows[names.index(n)].ranking["ndcg@10"])
    best = best_ranker(rows)
    assert best is not None and best.name != PAPER_EASE_ROW
    assert not (tmp_path / "ref" / PAPER_EASE_ROW).exists()


def test_models_limits_the_rankers_trained(tmp_path):
    dataset = _dataset()
    data = EncodedSplit.random(dataset, 0.2, seed=3)
    rows, skipped = compare_rankers(dataset, data, out=tmp_path, verbose=0, models=("ease",))
    assert [row.name for row in rows] == ["ease"] and not skipped
    assert [p.name for p in tmp_path.iterdir()] == ["ease"]
