"""The MovieLens registry and readers: real files for latest-small and 100k, tiny files
written in each other release's own format."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from movierec.data import DATASETS, Dataset, get_release, load
from movierec.data.dataset import years_from_titles
from movierec.data.movielens import read_users
from movierec.errors import DataError

RATING_DTYPES = {"user_id": "int64", "movie_id": "int64", "rating": "float32",
                 "timestamp": "int64"}


def _assert_standard_columns(dataset: Dataset) -> None:
    assert list(dataset.ratings.columns) == list(RATING_DTYPES)
    assert {c: str(t) for c, t in dataset.ratings.dtypes.items()} == RATING_DTYPES
    assert list(dataset.movies.columns) == ["movie_id", "title", "year", "genres"]
    assert str(dataset.movies["year"].dtype) == "Int64"
    assert str(dataset.movies["movie_id"].dtype) == "int64"
    assert dataset.movies["genres"].notna().all()


@pytest.mark.realdata
def test_latest_small_has_the_published_counts(real_data_dir: Path) -> None:
    dataset = load("latest-small", real_data_dir, download=False)
    assert (dataset.n_ratings, dataset.n_users, dataset.n_movies) == (100_836, 610, 9_742)
    assert dataset.rating_scale == (0.5, 5.0)
    _assert_standard_columns(dataset)
    movies = dataset.movies.set_index("movie_id")
    assert movies.loc[1, "title"] == "Toy Story (1995)"
    assert movies.loc[1, "year"] == 1995
    assert movies.loc[1, "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert movies.loc[114335, "genres"] == ""  # "(no genres listed)"
    assert pd.isna(movies.loc[40697, "year"])  # "Babylon 5" has no year
    assert list(dataset.tags.columns) == ["user_id", "movie_id", "tag"]
    assert len(dataset.tags) == 3_683
    assert dataset.users is None  # latest-small describes no users
    assert dataset.tags["movie_id"].isin(movies.index).all()


@pytest.mark.realdata
def test_latest_small_side_rows_use_no_tag_of_the_tutorials_held_out_pairs(
        real_data_dir: Path) -> None:
    """379 tags sit on 184 (user, movie) pairs the tutorial's split holds out; none reaches
    the side rows, and every tag on a training pair (3,097) does."""
    from movierec.data.features import training_tags
    from movierec.splits import random_split

    dataset = load("latest-small", real_data_dir, download=False)
    split = random_split(dataset.ratings, 0.1, seed=42)
    held_out = pd.MultiIndex.from_frame(split.test[["user_id", "movie_id"]])
    on_test = pd.MultiIndex.from_frame(dataset.tags[["user_id", "movie_id"]]).isin(held_out)
    assert on_test.sum() == 379
    assert len(dataset.tags[on_test][["user_id", "movie_id"]].drop_duplicates()) == 184
    kept = training_tags(dataset.tags, split.train)
    on_train = pd.MultiIndex.from_frame(dataset.tags[["user_id", "movie_id"]]).isin(
        pd.MultiIndex.from_frame(split.train[["user_id", "movie_id"]]))
    assert len(kept) == on_train.sum() == 3_097
    assert not pd.MultiIndex.from_frame(kept[["user_id", "movie_id"]]).isin(held_out).any()


@pytest.mark.realdata
def test_100k_has_the_published_counts_and_genres_from_flags(real_data_dir: Path) -> None:
    dataset = load("100k", real_data_dir, download=False)
    assert (dataset.n_ratings, dataset.n_users, dataset.n_movies) == (100_000, 943, 1_682)
    assert dataset.rating_scale == (1.0, 5.0)
    _assert_standard_columns(dataset)
    movies = dataset.movies.set_index("movie_id")
    assert movies.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert movies.loc[543, "title"] == "Misérables, Les (1995)"  # Latin-1 decoded
    assert movies.loc[267, "title"] == "unknown"
    assert movies.loc[267, "genres"] == ""
    assert pd.isna(movies.loc[267, "year"])
    first = dataset.ratings.iloc[0]
    assert (first.user_id, first.movie_id, first.rating, first.timestamp) == (
        196, 242, 3.0, 881250949)  # u.data order is kept (the u1-u5 folds rely on it)
    assert dataset.tags is None  # ML-100K ships no tags
    users = dataset.users.set_index("user_id")
    assert len(users) == 943 and list(users.columns) == ["age", "gender", "occupation"]
    assert tuple(users.loc[1]) == (24, "M", "technician")


# Tiny copies of each release's own file format. Movie 2's title has a comma (quoted in CSV),
# movie 3 has no genres and no year.
def _write_1m(folder: Path) -> None:
    (folder / "ratings.dat").write_text("1::1::5::978300760\n1::2::3::978302109\n"
                                       "2::1::4::978301968\n")
    (folder / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "2::Misérables, Les (1995)::Drama|Musical\n3::Untitled::(no genres listed)\n"
        .encode("latin-1"))


def _write_10m(folder: Path) -> None:
    (folder / "ratings.dat").write_text("1::1::4.5::838985046\n1::2::3::838983525\n"
                                        "2::1::0.5::838983392\n")
    (folder / "movies.dat").write_text(
        "1::Toy Story (1995)::Adventure|Animation\n2::Misérables, Les (1995)::Drama\n"
        "3::Untitled::(no genres listed)\n", encoding="utf-8")


def _write_csv(folder: Path) -> None:
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,1147880044\n"
                                        "1,2,3.0,1147868817\n2,1,0.5,1147868828\n")
    (folder / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
        '2,"Misérables, Les (1995)",Drama\n3,Untitled,(no genres listed)\n', encoding="utf-8")


WRITERS = {"1m": _write_1m, "10m": _write_10m, "20m": _write_csv, "25m": _write_csv,
           "32m": _write_csv}


@pytest.mark.parametrize("name", list(WRITERS))
def test_each_release_format_reads_into_the_same_tables(tmp_path: Path, name: str) -> None:
    folder = tmp_path / DATASETS[name].folder
    folder.mkdir()
    WRITERS[name](folder)
    dataset = load(name, tmp_path, download=False)
    _assert_standard_columns(dataset)
    assert (dataset.n_ratings, dataset.n_users, dataset.n_movies) == (3, 2, 3)
    assert dataset.ratings["user_id"].tolist() == [1, 1, 2]
    movies = dataset.movies.set_index("movie_id")
    assert movies.loc[2, "title"] == "Misérables, Les (1995)"
    assert movies.loc[2, "year"] == 1995
    assert movies.loc[3, "genres"] == ""
    assert pd.isna(movies.loc[3, "year"])
    assert dataset.rating_scale == DATASETS[name].rating_scale


def test_users_are_read_from_u_user_and_users_dat(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    _write_1m(folder)
    assert load("1m", tmp_path, download=False, cache=False).users is None  # no users.dat
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    users = load("1m", tmp_path, download=False, cache=False).users
    assert users.to_dict("list") == {"user_id": [1, 2], "age": [1, 56], "gender": ["F", "M"],
                                     "occupation": ["10", "16"]}
    u_files = tmp_path / "u"
    u_files.mkdir()
    (u_files / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    users = read_users(DATASETS["100k"], u_files)
    assert users["age"].tolist() == [24, 53] and users["occupation"].tolist() == [
        "technician", "other"]
    (u_files / "u.user").write_text("1|24|M|technician|85711\n2|old|F|other|94043\n")
    with pytest.raises(DataError, match=r"u\.user: every line must be user_id\|age\|gender"
                                        r".*restore the file from ml-100k\.zip"):
        read_users(DATASETS["100k"], u_files)


def test_registry_describes_all_seven_releases() -> None:
    assert list(DATASETS) == ["latest-small", "100k", "1m", "10m", "20m", "25m", "32m"]
    base = "https://files.grouplens.org/datasets/movielens/"
    assert DATASETS["latest-small"].url == base + "ml-latest-small.zip"
    assert DATASETS["10m"].url == base + "ml-10m.zip"
    assert DATASETS["10m"].folder == "ml-10M100K"
    assert DATASETS["100k"].required_files == ("u.data", "u.item", "u.genre")
    assert DATASETS["1m"].encoding == "latin-1"
    whole_stars = {name for name, r in DATASETS.items() if r.rating_scale == (1.0, 5.0)}
    assert whole_stars == {"100k", "1m"}


def test_a_release_can_be_named_by_its_folder() -> None:
    assert get_release("ml-10M100K") is DATASETS["10m"]


def test_unknown_dataset_lists_the_choices_and_the_closest() -> None:
    with pytest.raises(DataError, match="Unknown dataset '100K'") as caught:
        get_release("100K")
    assert "latest-small, 100k, 1m" in str(caught.value)
    assert "Did you mean '100k'?" in str(caught.value)
    assert "--ratings FILE" in str(caught.value)


@pytest.mark.parametrize(("title", "year"), [
    ("Toy Story (1995)", 1995),
    ("Heidi Fleiss: Hollywood Madam (1995) ", 1995),
    ("Land Before Time III (1995) (V)", 1995),
    ("Death Note: Desu nôto (2006–2007)", 2006),
    ("The Godfather Trilogy: 1972-1990 (1992)", 1992),
    ("Babylon 5", None),
    ("unknown", None),
])
def test_year_comes_from_the_title_suffix(title: str, year: int | None) -> None:
    parsed = years_from_titles(pd.Series([title]))[0]
    assert (None if pd.isna(parsed) else parsed) == year
