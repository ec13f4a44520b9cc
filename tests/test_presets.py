"""Every preset resolves to a valid TrainConfig, for every dataset entry and every model."""

from __future__ import annotations

from dataclasses import fields

import pytest

from movierec.errors import MovierecError
from movierec.models import MODEL_NAMES, model_names, model_spec
from movierec.presets import LARGE_RATINGS, PRESETS, RANK_CHOSEN_BY, get_preset, resolve_preset
from movierec.training import TrainConfig


def _cases():
    for preset in PRESETS.values():
        for dataset in preset.settings:
            for model in MODEL_NAMES:
                yield preset.name, dataset, model


@pytest.mark.parametrize(("preset", "dataset", "model"), list(_cases()))
def test_every_preset_dataset_and_model_resolves(preset, dataset, model):
    config = resolve_preset(preset, dataset, model=model)
    # Every field the preset's table sets for this model (its "*" entry, then its own) has
    # the table's value; every other field keeps the tutorial's default.
    table = PRESETS[preset].settings[dataset]
    expected = {**table.get("*", {}), **table.get(model, {}), "model": model}
    defaults = TrainConfig()
    for field in fields(TrainConfig):
        want = expected.get(field.name, getattr(defaults, field.name))
        if field.name == "members":
            want = tuple(dict(member) for member in want)
        assert getattr(config, field.name) == want, field.name
    assert TrainConfig.from_dict(config.to_dict()) == config  # what a run saves reloads
    for member in (config, *map(TrainConfig.from_dict, config.members)):
        # A blend's members are valid settings too; row-wise models cannot train sparsely.
        if member.model in ("autorec", "u-autorec"):
            assert member.optimizer == "adam"


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_names_a_model_and_documents_every_entry(name):
    preset = get_preset(name)
    assert preset.description
    assert {"small", "large"} <= set(preset.settings)
    assert set(preset.models) == set(preset.settings) == set(preset.notes)
    for dataset in preset.settings:
        if dataset in preset.unavailable:  # a clear refusal, naming the way out
            with pytest.raises(MovierecError, match="name a model"):
                preset.model_for(dataset)
            continue
        model = preset.model_for(dataset)
        model_spec(model)  # a registered model
        config = resolve_preset(name, dataset)
        assert config.model == model


def test_best_never_stops_early_on_the_evaluation_data():
    """Early stopping would pick epochs on the test part; best fixes them in advance."""
    preset = get_preset("best")
    for dataset in preset.settings:
        for model in MODEL_NAMES:
            assert resolve_preset("best", dataset, model=model).early_stopping is None


def test_fast_uses_large_sparse_batches():
    for dataset in get_preset("fast").settings:
        config = resolve_preset("fast", dataset, model="dot-bias")
        assert config.optimizer == "sparse-adagrad" and config.batch_size >= 1024


def test_unknown_datasets_fall_back_by_size():
    preset = get_preset("fast")
    small = resolve_preset("fast", "my-ratings.csv", n_ratings=50_000)
    large = resolve_preset("fast", "my-ratings.csv", n_ratings=LARGE_RATINGS)
    assert small == resolve_preset("fast", "small")
    assert large == resolve_preset("fast", "large")
    assert preset.model_for("my-ratings.csv") == preset.model_for("small")


def test_explicit_settings_are_kept():
    base = TrainConfig(model="mlp", epochs=3, learning_rate=0.5)
    config = resolve_preset("fast", "latest-small", base=base, keep={"model", "epochs"})
    assert (config.model, config.epochs) == ("mlp", 3)
    assert config.learning_rate != 0.5 and config.optimizer == "sparse-adagrad"


def test_unknown_preset_lists_the_names():
    with pytest.raises(MovierecError, match="fast"):
        get_preset("fastest")
    with pytest.raises(MovierecError, match="unknown preset"):
        resolve_preset("nope", "latest-small")


def test_rank_trains_a_ranking_model_with_validated_settings():
    """rank names a ranking model (by registry group) on every dataset it covers, with the
    settings of tuning-notes.md; rating models get fast's settings."""
    preset = get_preset("rank")
    rankers = model_names(group="ranking")
    for dataset in ("latest-small", "100k", "small"):
        config = resolve_preset("rank", dataset)
        assert config.model in rankers
        assert not model_spec(config.model).predicts_ratings
        assert resolve_preset("rank", dataset, model="dot-bias") == \
            resolve_preset("fast", dataset, model="dot-bias")
    small, ml100k = resolve_preset("rank", "latest-small"), resolve_preset("rank", "100k")
    assert (small.lam, small.negative_weight, small.popularity_exponent) == (200.0, 0.3, 0.2)
    assert (ml100k.lam, ml100k.negative_weight, ml100k.popularity_exponent) == (300.0, 0.3, 0.1)
    assert (ml100k.lowpass_weight, ml100k.lowpass_factors) == (0.25, 32)
    assert small.lowpass_weight == 0.0  # latest-small validated no low-pass term
    assert (small.side_weight, ml100k.side_weight) == (1.5, 2.0)
    assert (small.user_weight, ml100k.user_weight) == (0.0, 0.6)  # latest-small has no users
    assert resolve_preset("rank", "my-ratings.csv", n_ratings=50_000) == \
        resolve_preset("rank", "small")
    assert not preset.unavailable
    # Every ranking model has its own validated entry, not the fast path's "*" settings.
    for name in rankers:
        config = resolve_preset("rank", "latest-small", model=name)
        assert config.model == name
        if model_spec(name).trainer == "autoencoder":  # trained by Keras with Adam
            assert config.optimizer == "adam"
    dae = resolve_preset("rank", "latest-small", model="mult-dae")
    assert (dae.factors, dae.epochs, dae.batch_size, dae.optimizer) == (200, 42, 128, "adam")
    assert resolve_preset("rank", "100k", model="mult-dae").epochs == 25


def test_rank_trains_ials_on_large_data():
    """ease's dense matrices do not fit a large release; ials has no items x items matrix."""
    config = resolve_preset("rank", "25m", n_ratings=25_000_000)
    assert config.model == "ials"
    assert (config.factors, config.epochs, config.reg, config.alpha) == (64, 8, 50.0, 8.0)
    named = resolve_preset("rank", "25m", model="dot-bias", n_ratings=25_000_000)
    assert named == resolve_preset("fast", "25m", model="dot-bias", n_ratings=25_000_000)


def test_explicit_ease_settings_win_over_rank():
    base = TrainConfig(model="ease", lam=42.0)
    config = resolve_preset("rank", "100k", base=base, keep={"model", "lam"})
    assert config.lam == 42.0 and config.popularity_exponent == 0.1


def test_every_rank_ease_value_records_the_selection_that_chose_it():
    """presets.RANK_CHOSEN_BY names, value by value, the run behind the rank preset's ease
    settings: a value benchmarks.select chooses is one of its grid's, the others are the
    values select.py holds fixed."""
    from benchmarks import select

    for dataset in ("latest-small", "100k"):
        overrides = get_preset("rank").settings[dataset]["ease"]
        record = RANK_CHOSEN_BY[dataset]
        assert set(record) == set(overrides)
        for field, value in record.items():
            if field in select.GRIDS[dataset]:
                assert "benchmarks.select" in value
                assert overrides[field] in select.GRIDS[dataset][field]
            else:
                assert overrides[field] == select.FIXED[dataset][field], field
