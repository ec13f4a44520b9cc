"""summarize, render_summary, the overview plot and ``movierec explore``."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from helpers import png_size
from rich.console import Console
from typer.testing import CliRunner

from movierec.cli import app, main
from movierec.data import Dataset
from movierec.errors import DataError, MovierecError
from movierec.explore import plot_summary, render_summary, summarize


def make_dataset(ratings: pd.DataFrame, titles: dict[int, str] | None = None) -> Dataset:
    titles = titles or {}
    movies = pd.DataFrame({
        "movie_id": pd.Series(list(titles), dtype="int64"),
        "title": pd.Series(list(titles.values()), dtype=str),
        "year": pd.Series([pd.NA] * len(titles), dtype="Int64"),
        "genres": pd.Series([""] * len(titles), dtype=str),
    })
    return Dataset(name="test", ratings=ratings, movies=movies, rating_scale=(0.5, 5.0))


def small_ratings() -> pd.DataFrame:
    """Users 1..4 rate 4, 3, 2 and 1 times; movie 10 is rated 4 times, 20 three, 30 twice."""
    rows = [
        (1, 10, 4.0), (1, 20, 3.0), (1, 30, 5.0), (1, 40, 1.0),
        (2, 10, 2.5), (2, 20, 4.5), (2, 30, 2.0),
        (3, 10, 5.0), (3, 20, 0.5),
        (4, 10, 3.0),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    frame["rating"] = frame["rating"].astype(np.float32)
    frame["timestamp"] = np.arange(len(frame), dtype=np.int64) * 86_400 + 1_500_000_000
    return frame


def tutorial_pivot(ratings: pd.DataFrame, top: int) -> pd.DataFrame:
    """The tutorial's crosstab (its join on counts written as an isin filter)."""
    top_users = ratings.groupby("user_id")["rating"].count().sort_values(ascending=False)[:top]
    top_movies = ratings.groupby("movie_id")["rating"].count().sort_values(ascending=False)[:top]
    top_r = ratings[ratings["user_id"].isin(top_users.index)
                    & ratings["movie_id"].isin(top_movies.index)]
    return pd.crosstab(top_r["user_id"], top_r["movie_id"], top_r["rating"], aggfunc="sum")


def test_counts_density_and_histogram(ratings):
    summary = summarize(make_dataset(ratings))
    n_movies = ratings["movie_id"].nunique()
    assert (summary.n_users, summary.n_movies, summary.n_ratings) == (60, n_movies, 900)
    assert summary.density == pytest.approx(900 / (60 * n_movies))
    assert summary.rating_histogram.sum() == 900
    assert summary.rating_histogram.index.is_monotonic_increasing
    assert summary.mean_rating == pytest.approx(ratings["rating"].mean())
    assert sorted(summary.ratings_per_movie, reverse=True) == list(summary.ratings_per_movie)
    assert summary.ratings_per_movie.sum() == 900


def test_pivot_sums_ratings_of_top_users_and_movies():
    summary = summarize(make_dataset(small_ratings()), top=2)
    expected = pd.DataFrame({10: [4.0, 2.5], 20: [3.0, 4.5]}, index=[1, 2])
    pd.testing.assert_frame_equal(summary.pivot, expected, check_names=False)
    assert summary.pivot.index.name == "user_id"
    assert summary.pivot.columns.name == "movie_id"


def test_pivot_is_blank_where_unrated_and_sums_repeats():
    frame = small_ratings()
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)  # user 1 rates 10 twice
    summary = summarize(make_dataset(frame), top=3)
    assert summary.pivot.loc[1, 10] == 8.0
    assert np.isnan(summary.pivot.loc[3, 30])


def test_pivot_matches_the_tutorial_crosstab():
    frame = small_ratings()
    pd.testing.assert_frame_equal(summarize(make_dataset(frame), top=3).pivot,
                                  tutorial_pivot(frame, 3), check_dtype=False)


def test_ties_go_to_the_smaller_id():
    frame = pd.DataFrame({"user_id": [5, 3, 9], "movie_id": [7, 8, 6],
                          "rating": [1.0, 2.0, 3.0], "timestamp": [1, 2, 3]})
    summary = summarize(make_dataset(frame), top=2)
    assert summary.pivot.index.tolist() == [3, 5]
    assert summary.most_rated["movie_id"].tolist() == [6, 7]


def test_most_rated_movies_have_titles_counts_and_means():
    summary = summarize(make_dataset(small_ratings(), {10: "Ten (1990)", 20: "Twenty"}), top=3)
    most = summary.most_rated
    assert most["movie_id"].tolist() == [10, 20, 30]
    assert most["title"].tolist() == ["Ten (1990)", "Twenty", ""]
    assert most["n_ratings"].tolist() == [4, 3, 2]
    assert most["mean_rating"].tolist() == pytest.approx([3.625, 8 / 3, 3.5])
    assert summary.n_catalogue == 2


def test_date_range_in_utc():
    first, last = summarize(make_dataset(small_ratings())).date_range
    assert first == pd.Timestamp("2017-07-14 02:40:00", tz="UTC")
    assert last == first + pd.Timedelta(days=9)


def test_row_number_timestamps_have_no_dates(ratings):
    frame = ratings.assign(timestamp=np.arange(len(ratings), dtype=np.int64))
    assert summarize(make_dataset(frame)).date_range is None


def test_string_ids_are_summarized():
    frame = small_ratings().astype({"user_id": str, "movie_id": str})
    summary = summarize(make_dataset(frame), top=2)
    assert summary.pivot.loc["1", "10"] == 4.0


def test_top_must_be_positive(ratings):
    with pytest.raises(MovierecError, match="top"):
        summarize(make_dataset(ratings), top=0)


def test_no_ratings_is_a_data_error(ratings):
    with pytest.raises(DataError, match="no ratings"):
        summarize(make_dataset(ratings.iloc[:0]))


def test_render_summary_prints_every_section():
    summary = summarize(make_dataset(small_ratings(), {10: "Ten (1990)"}), top=3)
    console = Console(file=io.StringIO(), width=100, record=True)
    render_summary(summary, console)
    text = console.export_text()
    for expected in ("Users", "Density", "62.50%", "2017-07-14 to 2017-07-23",
                     "Rating histogram", "Ten (1990)", "3 most rated movies",
                     "top 3 users x top 3 movies"):
        assert expected in text
    pivot_rows = text[text.index("top 3 users"):].splitlines()
    assert any(line.split() == ["3", "5", "0.5"] for line in pivot_rows)  # 30 unrated


def test_plot_summary_writes_one_png_atomically(tmp_path, ratings):
    target = tmp_path / "out" / "explore.png"
    assert plot_summary(summarize(make_dataset(ratings)), target) == target
    assert png_size(target) == (1320, 540)  # 11 x 4.5 inches at plots.DPI 120
    assert [path.name for path in target.parent.iterdir()] == ["explore.png"]


def write_ratings_csv(path, frame: pd.DataFrame) -> None:
    frame.rename(columns={"user_id": "user", "movie_id": "item"}).to_csv(path, index=False)


def test_explore_command_on_a_ratings_file(tmp_path):
    write_ratings_csv(tmp_path / "ratings.csv", small_ratings())
    result = CliRunner().invoke(app, ["explore", "--ratings", str(tmp_path / "ratings.csv"),
                                      "--top", "2", "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    for expected in ("Ratings", "10", "Rating histogram", "2 most rated movies",
                     "top 2 users x top 2 movies", "Plot written to"):
        assert expected in result.output
    assert png_size(tmp_path / "p.png") == (1320, 540)


def test_explore_plot_must_be_a_png(tmp_path, capsys):
    write_ratings_csv(tmp_path / "ratings.csv", small_ratings())
    with pytest.raises(SystemExit) as caught:
        main(["explore", "--ratings", str(tmp_path / "ratings.csv"),
              "--plot", str(tmp_path / "p.jpg")])
    assert caught.value.code == 2
    assert "ending in .png" in capsys.readouterr().err
    assert not (tmp_path / "p.jpg").exists()


@pytest.mark.realdata
def test_latest_small_pivot_is_the_tutorials(real_data_dir):
    from movierec.data import load

    dataset = load("latest-small", real_data_dir, download=False)
    summary = summarize(dataset)
    assert summary.pivot.loc[68, 1] == 2.5
    assert summary.pivot.shape == (15, 15)
    pd.testing.assert_frame_equal(summary.pivot, tutorial_pivot(dataset.ratings, 15),
                                  check_dtype=False)
    assert (summary.n_users, summary.n_ratings) == (610, 100_836)
    assert summary.most_rated.iloc[0].tolist()[:3] == [356, "Forrest Gump (1994)", 329]
    first, last = summary.date_range
    assert (first.year, last.year) == (1996, 2018)


@pytest.mark.realdata
def test_explore_command_on_latest_small(real_data_dir, tmp_path):
    result = CliRunner().invoke(app, ["explore", "--dataset", "latest-small", "--data-dir",
                                      str(real_data_dir), "--plot", str(tmp_path / "e.png")])
    assert result.exit_code == 0, result.output
    assert "100,836" in result.output
    assert "Forrest Gump (1994)" in result.output
    row_68 = next(line.split() for line in result.output.splitlines()
                  if line.split()[:1] == ["68"])
    assert row_68[:2] == ["68", "2.5"]  # user 68 rated movie 1 at 2.5, as in the tutorial
    assert png_size(tmp_path / "e.png") == (1320, 540)
