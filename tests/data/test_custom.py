"""Users' own rating files: formats, id types, and an actionable error for each problem."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from movierec.data import DataWarning, dataset_from_options, load_ratings
from movierec.errors import DataError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return _write(tmp_path / "ratings.csv", "user,item,rating,timestamp\n"
                  "alice,m1,4,100\nalice,m2,3.5,101\nbob,m1,5,102\n")


def test_string_ids_stay_strings(csv: Path) -> None:
    dataset = load_ratings(csv)
    assert dataset.ratings["user_id"].tolist() == ["alice", "alice", "bob"]
    assert dataset.ratings["user_id"].dtype == object
    assert dataset.ratings["movie_id"].dtype == object
    assert str(dataset.ratings["rating"].dtype) == "float32"
    assert dataset.ratings["timestamp"].tolist() == [100, 101, 102]
    assert (dataset.name, dataset.n_users, dataset.n_movies) == ("ratings.csv", 2, 2)


def test_integer_ids_become_int64_and_the_scale_comes_from_the_data(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating\n1,10,2\n2,10,4.5\n3,11,3\n")
    dataset = load_ratings(path)
    assert str(dataset.ratings["user_id"].dtype) == "int64"
    assert str(dataset.ratings["movie_id"].dtype) == "int64"
    assert dataset.rating_scale == (2.0, 4.5)


def test_without_a_timestamp_column_the_row_order_is_the_timestamp(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating\n1,10,2\n2,10,4\n")
    assert load_ratings(path).ratings["timestamp"].tolist() == [0, 1]


def test_dates_are_read_as_unix_seconds(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,10,2,1970-01-02\n"
                  "2,10,4,86401\n")
    assert load_ratings(path).ratings["timestamp"].tolist() == [86_400, 86_401]


def test_column_names_can_be_chosen(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "userId,movieId,stars,when\n1,10,2,5\n")
    dataset = load_ratings(path, user_col="userId", item_col="movieId", rating_col="stars",
                           timestamp_col="when")
    assert dataset.ratings.iloc[0].tolist() == [1, 10, 2.0, 5]


@pytest.mark.parametrize("name", ["r.tsv", "r.csv"])  # by extension, or sniffed from the header
def test_tab_separated_files_are_read(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, "user\titem\trating\n1\tm,1\t3\n")
    assert load_ratings(path).ratings["movie_id"].tolist() == ["m,1"]


def test_parquet_is_read_with_its_own_types(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pd.DataFrame({"user": [1, 2], "item": ["a", "b"], "rating": [3.0, 4.0],
                  "timestamp": pd.to_datetime(["1970-01-01 00:00:10", "1970-01-01 00:00:20"])}
                 ).to_parquet(path)
    dataset = load_ratings(path)
    assert dataset.ratings["user_id"].tolist() == [1, 2]
    assert dataset.ratings["movie_id"].tolist() == ["a", "b"]
    assert dataset.ratings["timestamp"].tolist() == [10, 20]


def test_movies_file_gives_titles_and_unlisted_movies_are_titled_by_id(csv: Path) -> None:
    movies = _write(csv.with_name("movies.csv"),
                    "item,title,genres\nm1,Heat (1995),Action|Crime\nm9,Unrated (2001),\n")
    catalogue = load_ratings(csv, movies).movies.set_index("movie_id")
    assert catalogue.loc["m1", "title"] == "Heat (1995)"
    assert catalogue.loc["m1", "year"] == 1995
    assert catalogue.loc["m1", "genres"] == "Action|Crime"
    assert catalogue.loc["m2", "title"] == "m2"
    assert pd.isna(catalogue.loc["m2", "year"])
    assert catalogue.loc["m9", "genres"] == ""
    assert len(catalogue) == 3


def test_movies_file_with_movie_id_column_and_no_genres(tmp_path: Path) -> None:
    ratings = _write(tmp_path / "r.csv", "user,item,rating\n1,10,2\n")
    movies = _write(tmp_path / "m.csv", "movie_id,title\n10,Heat (1995)\n")
    catalogue = load_ratings(ratings, movies).movies
    assert catalogue.to_dict("records") == [
        {"movie_id": 10, "title": "Heat (1995)", "year": 1995, "genres": ""}]


def test_integer_and_text_ids_are_matched_as_text(tmp_path: Path) -> None:
    ratings = _write(tmp_path / "r.csv", "user,item,rating\n1,10,2\n")
    movies = _write(tmp_path / "m.csv", "item,title\n10,Heat\ntt5,Other\n")
    dataset = load_ratings(ratings, movies)
    assert dataset.ratings["movie_id"].tolist() == ["10"]
    assert dataset.movies["movie_id"].tolist() == ["10", "tt5"]


def test_without_movies_file_titles_are_the_ids(csv: Path) -> None:
    assert load_ratings(csv).movies["title"].tolist() == ["m1", "m2"]


def test_duplicate_pairs_keep_the_latest_and_warn_how_many_were_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,10,1,300\n1,10,2,100\n"
                  "2,10,3,100\n1,10,5,200\n")
    with pytest.warns(DataWarning) as caught:
        dataset = load_ratings(path)
    assert dataset.ratings["rating"].tolist() == [1.0, 3.0]  # 300 is the latest for (1, 10)
    message = str(caught[0].message)
    assert "dropped 2 older rating(s) (lines 3, 5)" in message
    assert str(path) in message


def test_duplicate_movie_ids_keep_the_first_title(tmp_path: Path) -> None:
    ratings = _write(tmp_path / "r.csv", "user,item,rating\n1,10,2\n")
    movies = _write(tmp_path / "m.csv", "item,title\n10,Heat\n10,Other\n")
    with pytest.warns(DataWarning, match=r"1 movie id\(s\) appear more than once.*line 3"):
        catalogue = load_ratings(ratings, movies).movies
    assert catalogue["title"].tolist() == ["Heat"]


# --- errors: each names the file, the place, how many, and what to do ---------------------

def _error(path: Path, **options) -> str:
    with pytest.raises(DataError) as caught:
        load_ratings(path, **options)
    return str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    message = _error(tmp_path / "nope.csv")
    assert f"{tmp_path / 'nope.csv'}: no such file" in message


def test_empty_file(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", ""))
    assert "r.csv: the file is empty" in message
    assert "header line such as 'user,item,rating,timestamp'" in message


def test_header_without_rows(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", "user,item,rating\n"))
    assert "has a header (user, item, rating) but no rows" in message


def test_misnamed_column_suggests_the_closest_and_the_option(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", "userId,movieId,rating\n1,2,3\n"))
    assert "r.csv: no column 'user'" in message
    assert "columns found: 'userId', 'movieId', 'rating'" in message
    assert "Did you mean 'userId'?" in message
    assert "--user-col userId (user_col='userId' in Python)" in message


def test_missing_item_column_knows_movie_is_an_item(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", "user,movie,rating\n1,2,3\n"))
    assert "no column 'item'" in message
    assert "--item-col movie" in message


def test_missing_column_with_no_close_match(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", "user,item,xyz\n1,2,3\n"))
    assert "no column 'rating'" in message
    assert "Did you mean" not in message
    assert "--rating-col NAME" in message


def test_an_explicit_timestamp_column_must_exist(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", "user,item,rating,time\n1,2,3,4\n"),
                     timestamp_col="ts")
    assert "no column 'ts'" in message
    assert "Did you mean 'time'?" in message


@pytest.mark.parametrize(("separator", "described"), [(";", "semicolons (;)"),
                                                       ("|", "pipes (|)")])
def test_wrong_delimiter_is_named(tmp_path: Path, separator: str, described: str) -> None:
    text = "user,item,rating\n1,2,3\n".replace(",", separator)
    message = _error(_write(tmp_path / "r.csv", text))
    assert "was read as one column" in message
    assert f"looks separated by {described}" in message
    assert "Save it with commas (CSV) or tabs (TSV" in message


def test_a_tsv_extension_with_semicolons_is_named_too(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.tsv", "user;item;rating\n1;2;3\n"))
    assert "looks separated by semicolons" in message


def test_non_numeric_and_missing_ratings_are_counted_with_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating\n1,2,4\n1,3,five\n\n2,2,\n2,3,NaN\n")
    message = _error(path)
    assert "r.csv: 3 value(s) in column 'rating' are not numbers" in message
    assert "lines 3, 5, 6: 'five', (empty), (empty)" in message  # the blank line 4 is skipped
    assert "fix or delete those rows" in message


def test_only_the_first_lines_are_listed(tmp_path: Path) -> None:
    rows = "".join(f"1,{i},x\n" for i in range(8))
    message = _error(_write(tmp_path / "r.csv", "user,item,rating\n" + rows))
    assert "8 value(s)" in message
    assert "lines 2, 3, 4, 5, 6, ...:" in message


def test_ratings_outside_a_declared_scale(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating\n1,2,4\n1,3,0\n2,2,10\n")
    message = _error(path, rating_scale=(1, 5))
    assert "2 value(s) in column 'rating' are outside the declared rating scale 1-5" in message
    assert "lines 3, 4: '0', '10'" in message
    assert "rating_scale=(min, max)" in message


def test_a_declared_scale_is_kept(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating\n1,2,4\n")
    assert load_ratings(path, rating_scale=(1, 5)).rating_scale == (1.0, 5.0)


def test_an_inverted_scale_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating\n1,2,4\n")
    assert "min < max" in _error(path, rating_scale=(5, 1))


def test_empty_ids_are_reported(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", "user,item,rating\n1,2,4\n,3,4\n"))
    assert "1 value(s) in column 'user' are empty (line 3: (empty))" in message


def test_unreadable_timestamps_are_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,2,4,5\n1,3,4,yesterday\n")
    message = _error(path)
    assert "1 value(s) in column 'timestamp' are neither Unix timestamps nor dates" in message
    assert "line 3: 'yesterday'" in message


def test_non_utf8_text_gives_the_byte_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("user,item,rating\n1,Amélie,3\n".encode("latin-1"))
    message = _error(path)
    assert "not UTF-8 text: byte 0xe9 at offset 21 (line 2)" in message
    assert "Re-save the file as UTF-8" in message


def test_ragged_rows_are_reported(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n1,2,3,4,5\n"))
    assert "cannot be parsed" in message
    assert "line 3" in message


def test_a_broken_parquet_file(tmp_path: Path) -> None:
    message = _error(_write(tmp_path / "r.parquet", "user,item,rating\n"))
    assert "cannot read it as Parquet" in message


def test_movies_file_without_title(tmp_path: Path) -> None:
    ratings = _write(tmp_path / "r.csv", "user,item,rating\n1,10,2\n")
    movies = _write(tmp_path / "m.csv", "item,name\n10,Heat\n")
    with pytest.raises(DataError, match=r"m.csv: no column 'title'.*Rename 'name' to 'title'"):
        load_ratings(ratings, movies)


# --- the helper behind every command's --dataset / --ratings / --movies options ------------

def test_dataset_from_options_reads_a_ratings_file(csv: Path) -> None:
    assert dataset_from_options(None, csv, None, None).n_ratings == 3


def test_dataset_from_options_defaults_to_latest_small(tmp_path: Path) -> None:
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    _write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,9\n")
    _write(folder / "movies.csv", "movieId,title,genres\n1,Heat (1995),Action\n")
    assert dataset_from_options(None, None, None, tmp_path).name == "latest-small"


def test_dataset_and_ratings_are_exclusive(csv: Path) -> None:
    with pytest.raises(DataError, match="either --dataset NAME or --ratings FILE, not both"):
        dataset_from_options("100k", csv, None, None)


def test_movies_needs_ratings(csv: Path) -> None:
    with pytest.raises(DataError, match="--movies gives the titles for --ratings FILE"):
        dataset_from_options("100k", None, csv, None)
