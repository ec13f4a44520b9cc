"""The Parquet cache of the big releases, on synthetic data written in each release's format."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app
from movierec.data import cache_dir, get_release, load
from movierec.data.cache import (
    CACHED_RELEASES,
    cache_folder,
    convert_release,
    read_cached_rows,
)
from movierec.data.movielens import read_release
from movierec.synthetic import write_release


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _write(home: Path, name: str, n: int = 3000) -> Path:
    folder = home / get_release(name).folder
    write_release(name, folder, n, seed=3)
    return folder


@pytest.mark.parametrize("name", CACHED_RELEASES)
def test_the_cache_gives_back_what_the_text_reader_reads(home: Path, name: str) -> None:
    folder = _write(home, name)
    direct = load(name, home, download=False, cache=False)
    cached = load(name, home, download=False)  # converts
    again = load(name, home, download=False)   # reuses
    for dataset in (cached, again):
        pd.testing.assert_frame_equal(dataset.ratings, direct.ratings)
        pd.testing.assert_frame_equal(dataset.movies, direct.movies)
        assert dataset.rating_scale == direct.rating_scale
    target = cache_folder(get_release(name), cache_dir())
    meta = json.loads((target / "meta.json").read_text())
    assert meta["n_ratings"] == 3000 and meta["release"] == name
    ratings, _ = read_release(get_release(name), folder)
    assert meta["n_users"] == ratings["user_id"].nunique()
    stored = pd.read_parquet(target / "ratings.parquet")
    assert str(stored["user_index"].dtype) == "int32"
    assert stored["user_index"].max() == meta["n_users"] - 1  # compact ids


def test_the_cache_is_reused_and_rebuilt_when_the_source_changes(home: Path) -> None:
    folder = _write(home, "32m")
    release = get_release("32m")
    assert convert_release(release, folder, cache_dir()).converted
    assert not convert_release(release, folder, cache_dir()).converted
    write_release("32m", folder, 2000, seed=4)  # a different file
    stat = (folder / release.ratings_file).stat()
    os.utime(folder / release.ratings_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    info = convert_release(release, folder, cache_dir())
    assert info.converted and info.n_ratings == 2000
    assert len(load("32m", home, download=False).ratings) == 2000
    leftovers = [p for p in cache_folder(release, cache_dir()).parent.iterdir()
                 if p.name != "32m"]
    assert not leftovers


def test_processes_read_disjoint_row_groups_that_cover_the_ratings(home: Path) -> None:
    group = 1000
    folder = home / "ml-25m"
    write_release("25m", folder, 2 * group + 5, seed=5)  # three row groups
    info = convert_release(get_release("25m"), folder, cache_dir(), row_group=group)
    parts = [read_cached_rows(info.folder, index, 2) for index in range(2)]
    assert [len(p) for p in parts] == [group + 5, group]  # groups 0 and 2; group 1
    whole = load("25m", home, download=False).ratings
    assert sorted(pd.concat(parts)["timestamp"]) == sorted(whole["timestamp"])


@pytest.mark.slow
def test_data_info_and_fast_training_run_from_the_cache(home: Path, tmp_path: Path) -> None:
    _write(home, "32m", n=6000)
    runner = CliRunner()
    info = runner.invoke(app, ["data", "info", "32m", "--data-dir", str(home)])
    assert info.exit_code == 0, info.output
    assert "6,000" in info.output or "6000" in info.output
    assert (cache_folder(get_release("32m"), cache_dir()) / "meta.json").is_file()
    out = tmp_path / "run"
    trained = runner.invoke(app, ["train", "--dataset", "32m", "--data-dir", str(home),
                                  "--preset", "fast", "--epochs", "1", "--out", str(out),
                                  "--quiet"])
    assert trained.exit_code == 0, (trained.output, trained.exception)
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["dataset"] == "32m" and config["train"]["optimizer"] == "sparse-adagrad"
