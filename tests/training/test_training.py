"""Training runs: metrics in rating units, reproducibility, atomic run directories."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import png_size, popularity_val_ndcg, synthetic_ratings

from movierec.data import Dataset
from movierec.errors import MovierecError
from movierec.models import predict_ratings
from movierec.runs import load_run, save_run
from movierec.splits import random_split
from movierec.training import EncodedSplit, TrainConfig, TrainMetrics


def synthetic_dataset() -> Dataset:
    ratings = synthetic_ratings()
    ratings["rating"] = ratings["rating"].astype(np.float32)
    movie_ids = np.sort(ratings["movie_id"].unique())
    movies = pd.DataFrame({
        "movie_id": movie_ids,
        "title": [f"Movie {i} ({1990 + i % 20})" for i in movie_ids],
        "year": pd.array([1990 + i % 20 for i in movie_ids], dtype="Int64"),
        "genres": ["Drama" if i % 2 else "Comedy" for i in movie_ids],
    })
    return Dataset(name="synthetic", ratings=ratings, movies=movies, rating_scale=(1.0, 5.0))


@pytest.fixture(scope="module")
def encoded() -> EncodedSplit:
    dataset = synthetic_dataset()
    return EncodedSplit.from_dataset(dataset, random_split(dataset.ratings, 0.2, seed=1))


def _popularity(encoded: EncodedSplit) -> float:
    """Popularity's validation NDCG@10 on the split: what a ranker must clearly beat."""
    return popularity_val_ndcg(encoded.train_pairs, encoded.test_pairs, encoded.test_ratings,
                               len(encoded.encoders.users), len(encoded.encoders.movies))


SMALL = TrainConfig(model="dot-bias", epochs=3, batch_size=32, learning_rate=0.01, factors=8)


def test_ease_side_weight_trains_on_the_datasets_features(encoded: EncodedSplit) -> None:
    """The split carries the catalogue: genres (2) and five-year periods (4) become rows."""
    features = encoded.movie_features()
    assert features is not None and features.shape == (6, len(encoded.encoders.movies))
    config = TrainConfig(model="ease", lam=5.0)
    plain = encoded.fit(config, verbose=0)
    side = encoded.fit(TrainConfig(model="ease", lam=5.0, side_weight=1.0), verbose=0)
    assert side.metrics["side_features"] == 6 and "side_features" not in plain.metrics
    assert not np.allclose(keras.ops.convert_to_numpy(side.model.item_weights),
                           keras.ops.convert_to_numpy(plain.model.item_weights))
    assert side.metrics["val_ndcg_at_10"] > 1.4 * _popularity(encoded)


def test_a_tag_on_a_held_out_pair_changes_nothing(encoded: EncodedSplit) -> None:
    """Side rows come from the training pairs' tags only: a tag a user put on a movie held
    out for them neither adds a row nor moves a score; the same tag on a training pair
    does (so the check would fail if tags were not used at all)."""
    movies, _ = encoded.catalogue
    train, test = encoded.split.train, encoded.split.test
    background = train.iloc[:3].assign(tag="cozy")  # a tag row on three training pairs
    held_out = test.iloc[:3].assign(tag="spoiler")  # used three times, all on held-out pairs
    on_training = train.iloc[3:6].assign(tag="spoiler")
    config = TrainConfig(model="ease", lam=5.0, side_weight=1.0)

    def fitted(tags: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        split = replace(encoded, catalogue=(movies, tags[["user_id", "movie_id", "tag"]]))
        weights = keras.ops.convert_to_numpy(split.fit(config, verbose=0).model.item_weights)
        return split.movie_features(), weights

    base_features, base_weights = fitted(background)
    leak_features, leak_weights = fitted(pd.concat([background, held_out]))
    np.testing.assert_array_equal(leak_features, base_features)
    np.testing.assert_array_equal(leak_weights, base_weights)
    more_features, more_weights = fitted(pd.concat([background, on_training]))
    assert len(more_features) == len(base_features) + 1
    assert not np.allclose(more_weights, base_weights)


def test_ease_user_weight_trains_on_the_datasets_users(encoded: EncodedSplit) -> None:
    """Demographics given with the dataset become W's extra columns; none: a clear error."""
    with pytest.raises(MovierecError, match="needs the users' age, gender and occupation"):
        encoded.fit(TrainConfig(model="ease", lam=5.0, user_weight=0.5), verbose=0)
    ids = np.asarray(encoded.encoders.users.ids)
    users = pd.DataFrame({"user_id": ids, "age": 20 + ids % 40,
                          "gender": np.where(ids % 2, "F", "M"), "occupation": "writer"})
    described = replace(encoded, users=users)
    features = described.user_features()
    assert features is not None and features.shape[0] == len(ids)
    result = described.fit(TrainConfig(model="ease", lam=5.0, user_weight=0.5), verbose=0)
    assert result.metrics["user_features"] == features.shape[1]
    width = len(encoded.encoders.movies) + features.shape[1]
    assert keras.ops.convert_to_numpy(result.model.user_items).shape == (len(ids), width)
    assert result.metrics["val_ndcg_at_10"] > 1.4 * _popularity(encoded)


def test_history_has_one_row_per_epoch_with_rating_metrics(encoded: EncodedSplit) -> None:
    result = encoded.fit(SMALL, verbose=0)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    for row in result.history:
        assert {"loss", "val_loss", "val_rmse", "val_mae", "seconds"} <= set(row)
    predicted = predict_ratings(result.model, encoded.test_pairs)
    rmse = float(np.sqrt(np.mean((predicted - encoded.test_ratings) ** 2)))
    assert result.metrics["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert result.metrics["best_epoch_rmse"] <= result.metrics["final_epoch_rmse"]


def test_training_learns_the_taste_clusters(encoded: EncodedSplit) -> None:
    result = encoded.fit(TrainConfig(model="dot-bias", epochs=15, batch_size=32,
                                     learning_rate=0.02, factors=8), verbose=0)
    global_mean = float(np.mean(encoded.train_ratings))
    baseline = float(np.sqrt(np.mean((encoded.test_ratings - global_mean) ** 2)))
    assert result.metrics["rmse"] < 0.8 * baseline


def test_unit_output_models_report_rating_units(encoded: EncodedSplit) -> None:
    """recommender-net outputs a sigmoid in [0, 1]; its metrics must be on the rating scale."""
    result = encoded.fit(TrainConfig(model="recommender-net", epochs=2, batch_size=32,
                                     factors=8), verbose=0)
    low, high = encoded.rating_range
    raw = np.asarray(result.model.predict(encoded.test_pairs, verbose=0)).reshape(-1)
    assert raw.min() >= 0.0 and raw.max() <= 1.0  # the model's own output is in [0, 1]
    rescaled = np.clip(low + (high - low) * raw, low, high)
    truth = encoded.test_ratings
    expected_mae = float(np.mean(np.abs(rescaled - truth)))
    expected_rmse = float(np.sqrt(np.mean((rescaled - truth) ** 2)))
    assert result.metrics["mae"] == pytest.approx(expected_mae, rel=1e-4)
    assert result.metrics["rmse"] == pytest.approx(expected_rmse, rel=1e-4)
    assert result.history[-1]["val_mae"] == pytest.approx(expected_mae, rel=1e-4)
    # Metrics of the un-rescaled [0, 1] output would be far off (ratings here are 1..5).
    unit_mae = float(np.mean(np.abs(raw - truth)))
    assert unit_mae > result.metrics["mae"] + 0.5


def test_same_seed_gives_same_metrics(encoded: EncodedSplit) -> None:
    first = encoded.fit(SMALL, verbose=0).metrics
    second = encoded.fit(SMALL, verbose=0).metrics
    assert first["rmse"] == second["rmse"]
    assert first["mae"] == second["mae"]


def test_early_stopping_restores_the_best_epoch(encoded: EncodedSplit) -> None:
    config = TrainConfig(model="dot", epochs=30, batch_size=16, learning_rate=0.05, factors=16,
                         early_stopping=2)
    result = encoded.fit(config, verbose=0)
    history = result.history
    # Training stopped early: `patience` epochs after the best one, well before 30.
    assert len(history) < config.epochs
    assert result.metrics["epochs_run"] == len(history)
    best = min(history, key=lambda row: row["val_rmse"])
    assert result.metrics["best_epoch"] == best["epoch"]
    assert len(history) == best["epoch"] + config.early_stopping
    assert history[-1]["val_rmse"] > best["val_rmse"]  # the last epoch was worse ...
    # ... and the model holds the best epoch's weights, not the last epoch's.
    predicted = predict_ratings(result.model, encoded.test_pairs)
    rmse = float(np.sqrt(np.mean((predicted - encoded.test_ratings) ** 2)))
    assert rmse == pytest.approx(best["val_rmse"], rel=1e-5)
    assert result.metrics["rmse"] == pytest.approx(best["val_rmse"], rel=1e-5)


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(MovierecError, match="unknown model 'svd'"):
        TrainConfig(model="svd")
    with pytest.raises(MovierecError, match="epochs must be at least 1"):
        TrainConfig(epochs=0)


def test_run_directory_round_trips_in_a_fresh_process(encoded: EncodedSplit, tmp_path) -> None:
    dataset = synthetic_dataset()
    result = encoded.fit(SMALL, verbose=0)
    run_dir = save_run(tmp_path / "run", result, encoded, dataset)
    expected = {"config.json", "encoders.json", "model.keras", "history.json", "metrics.json",
                "train.parquet", "movies.parquet", "loss.png"}
    assert expected <= {p.name for p in run_dir.iterdir()}
    assert png_size(run_dir / "loss.png") == (840, 540)  # 7 x 4.5 inches at plots.DPI 120
    run = load_run(run_dir)
    assert run.config == SMALL
    assert len(run.train_ratings) == len(encoded.train_pairs)
    np.testing.assert_allclose(predict_ratings(run.model, encoded.test_pairs),
                               predict_ratings(result.model, encoded.test_pairs), atol=1e-6)
    script = (
        "import json, sys, numpy as np; from movierec.runs import load_run; "
        "from movierec.models import predict_ratings; run = load_run(sys.argv[1]); "
        "pairs = np.array(json.loads(sys.argv[2]), dtype=np.int32); "
        "print(json.dumps(predict_ratings(run.model, pairs).tolist()))"
    )
    pairs = encoded.test_pairs[:20]
    out = subprocess.run([sys.executable, "-c", script, str(run_dir), json.dumps(pairs.tolist())],
                         capture_output=True, text=True, check=True)
    np.testing.assert_allclose(json.loads(out.stdout), predict_ratings(result.model, pairs),
                               atol=1e-6)


def test_train_metrics_round_trip_metrics_json_byte_for_byte(encoded: EncodedSplit,
                                                             tmp_path) -> None:
    result = encoded.fit(SMALL, verbose=0)
    typed = result.train_metrics
    assert not typed.is_blend and typed.member_epochs is None
    assert typed.best_epoch == result.metrics["best_epoch"]
    assert json.dumps(typed.to_dict()) == json.dumps(result.metrics)
    run = load_run(save_run(tmp_path / "run", result, encoded, synthetic_dataset()))
    assert run.train_metrics == typed


def test_train_metrics_of_a_blend_keep_its_fields_and_unknown_keys() -> None:
    common = {"rmse": 0.9, "mae": 0.7, "final_epoch_rmse": 0.9, "best_epoch": 1,
              "best_epoch_rmse": 0.9, "epochs_run": 1, "train_seconds": 2.0,
              "seconds_per_epoch": 1.5, "ratings_per_second": 1e5, "peak_rss_mib": 300.0,
              "parameters": 1234, "n_train": 800, "n_validation": 200, "eval_batch_size": 8192}
    blend = {**common, "holdout_rmse": 0.95, "blend_weights": [0.6, 0.4], "intercept": 0.1,
             "support_weights": None, "support_bias": [0.0, 0.0], "member_epochs": [3, 4],
             "from_a_newer_version": "kept"}
    typed = TrainMetrics.from_dict(blend)
    assert typed.is_blend and typed.member_epochs == [3, 4]
    assert typed.extra == {"from_a_newer_version": "kept"}
    assert json.dumps(typed.to_dict()) == json.dumps(blend)
    with pytest.raises(MovierecError, match="lack rmse, mae"):
        TrainMetrics.from_dict({k: v for k, v in common.items() if k not in ("rmse", "mae")})


def test_a_failed_save_leaves_the_previous_run_intact(encoded: EncodedSplit, tmp_path,
                                                      monkeypatch) -> None:
    dataset = synthetic_dataset()
    result = encoded.fit(SMALL, verbose=0)
    run_dir = save_run(tmp_path / "run", result, encoded, dataset)
    before = (run_dir / "metrics.json").read_text()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed half-way")

    monkeypatch.setattr("movierec.runs.plot_loss_curves", crash)
    with pytest.raises(KeyboardInterrupt):
        save_run(run_dir, result, encoded, dataset)
    assert (run_dir / "metrics.json").read_text() == before
    assert load_run(run_dir).config == SMALL
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_loading_something_that_is_not_a_run_says_what_to_do(tmp_path) -> None:
    with pytest.raises(MovierecError, match="not a training run"):
        load_run(tmp_path)


def test_sparse_optimizer_off_jax_is_a_clear_error(encoded: EncodedSplit, monkeypatch) -> None:
    import movierec.training.keras_fit as keras_fit

    monkeypatch.setattr(keras_fit, "sparse_updates_supported", lambda: False)
    config = TrainConfig(model="dot-bias", epochs=1, factors=4, optimizer="sparse-adagrad")
    with pytest.raises(MovierecError, match=r"sparse-adagrad optimizer .* needs the JAX backend"):
        encoded.fit(config, verbose=0)


def test_an_autoencoders_run_leaves_its_optimizer_out_unless_kept(encoded: EncodedSplit,
                                                                  tmp_path) -> None:
    """Serving needs the weights alone: mult-dae's Adam moments (twice its weights) are not
    saved unless asked, and runs that saved them (as earlier releases did) still load."""
    dataset = synthetic_dataset()
    config = TrainConfig(model="mult-dae", factors=8, epochs=2, batch_size=16, seed=0)
    result = encoded.fit(config, verbose=0)
    served = load_run(save_run(tmp_path / "served", result, encoded, dataset))
    kept = load_run(save_run(tmp_path / "kept", result, encoded, dataset, keep_optimizer=True))
    assert getattr(served.model, "optimizer", None) is None
    assert len(kept.model.optimizer.variables) > 2 * len(result.model.trainable_weights)
    size = {name: (tmp_path / name / "model.keras").stat().st_size
            for name in ("served", "kept")}
    assert size["served"] < size["kept"]
    pairs = encoded.test_pairs[:20]
    for run in (served, kept):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(run.model(pairs)),
                                      keras.ops.convert_to_numpy(result.model(pairs)))
    assert result.model.optimizer is not None  # the trained model itself is left as it was


def test_steady_speed_sets_the_first_epochs_compilation_apart() -> None:
    from movierec.training.keras_fit import steady_speed

    # the median of the later epochs: 1.0 s, so the first one's 5.0 s held 4.0 of compiling
    assert steady_speed([5.0, 1.0, 1.2, 0.9], 1000) == {"compile_seconds": 4.0,
                                                       "steady_ratings_per_second": 1000.0}
    assert steady_speed([0.5, 0.6], 100)["compile_seconds"] == 0.0  # never negative
    assert steady_speed([2.0], 100) == {}  # one epoch cannot tell them apart


def test_a_fit_without_validation_ranks_nothing_and_trains_the_same(encoded: EncodedSplit
                                                                    ) -> None:
    """What the comparison does for the paper's EASE, which its ranking report scores."""
    config = TrainConfig(model="ease", lam=5.0)
    validated, alone = encoded.fit(config, verbose=0), encoded.fit(config, verbose=0,
                                                                   validate=False)
    assert "val_ndcg_at_10" in validated.metrics and "val_ndcg_at_10" not in alone.metrics
    assert alone.metrics["n_validation"] == 0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(alone.model.item_weights),
                                  keras.ops.convert_to_numpy(validated.model.item_weights))
