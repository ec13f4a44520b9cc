"""What a ratings dataset looks like: counts, density, rating histogram, dates, popular movies.

:func:`summarize` also builds the tutorial's first look at the data: a table of the
``top`` most active users against the ``top`` most rated movies, each cell the sum of that
user's ratings of that movie (``pd.crosstab(user, movie, values=rating, aggfunc="sum")``),
blank where the user did not rate the movie.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from movierec.errors import DataError, MovierecError
from movierec.plots import plot_rating_overview

if TYPE_CHECKING:
    from movierec.data import Dataset

__all__ = ["Summary", "plot_summary", "render_summary", "summarize"]

_BAR_WIDTH = 30
# 1973-03-03 in Unix seconds. Rating data is younger, so smaller "timestamps" are row
# numbers (a file without a timestamp column) or sequence numbers, not dates.
_FIRST_PLAUSIBLE_DATE = 100_000_000


@dataclass(frozen=True)
class Summary:
    """A dataset at a glance; built by :func:`summarize`, shown by :func:`render_summary`."""

    name: str
    n_users: int
    n_movies: int
    """Movies with at least one rating."""
    n_catalogue: int
    """Movies in the movies table, rated or not."""
    n_ratings: int
    density: float
    """Share of the user x rated-movie matrix that holds a rating."""
    rating_scale: tuple[float, float]
    mean_rating: float
    rating_histogram: pd.Series
    """Number of ratings per rating value, in ascending order of value."""
    date_range: tuple[pd.Timestamp, pd.Timestamp] | None
    """First and last rating (UTC); None when the timestamps are row numbers, not dates."""
    most_rated: pd.DataFrame
    """The ``top`` most rated movies: movie_id, title, n_ratings, mean_rating."""
    pivot: pd.DataFrame
    """Top users (rows) x top movies (columns), sum of ratings, NaN where unrated."""
    ratings_per_movie: np.ndarray
    """Ratings of every rated movie, most rated first (the long tail)."""


def summarize(dataset: Dataset, top: int = 15) -> Summary:
    """Describe ``dataset``; ``top`` sets the size of the most-rated list and the pivot.

    Ties in the number of ratings are broken by the smaller id, so the result is the same
    on every run.
    """
    if top < 1:
        raise MovierecError(f"top must be at least 1, not {top}")
    ratings = dataset.ratings
    if ratings.empty:
        raise DataError(f"dataset {dataset.name!r} has no ratings to summarize")
    movie_counts = _by_count(ratings["movie_id"])
    n_users = int(ratings["user_id"].nunique())
    return Summary(
        name=dataset.name,
        n_users=n_users,
        n_movies=len(movie_counts),
        n_catalogue=len(dataset.movies),
        n_ratings=len(ratings),
        density=len(ratings) / (n_users * len(movie_counts)),
        rating_scale=dataset.rating_scale,
        mean_rating=float(ratings["rating"].mean()),
        rating_histogram=ratings["rating"].value_counts().sort_index(),
        date_range=_date_range(ratings["timestamp"]),
        most_rated=_most_rated(ratings, dataset.movies, movie_counts.index[:top]),
        pivot=_pivot(ratings, _by_count(ratings["user_id"]).index[:top],
                     movie_counts.index[:top]),
        ratings_per_movie=movie_counts.to_numpy(),
    )


def plot_summary(summary: Summary, path: str | os.PathLike[str]) -> Path:
    """Write the rating distribution and the long tail of ratings per movie as one PNG."""
    return plot_rating_overview(summary.rating_histogram, summary.ratings_per_movie, path,
                                title=f"{summary.name}: {summary.n_ratings:,} ratings")


def render_summary(summary: Summary, console: Console) -> None:
    """Print ``summary`` as rich tables: overview, histogram, most rated movies, pivot."""
    console.print(_overview_table(summary))
    console.print(_histogram_table(summary))
    console.print(_most_rated_table(summary))
    pivot = summary.pivot
    # A heading line, not a table title: a title would wrap to the narrow table's width.
    console.print(f"[bold]Sum of ratings: top {len(pivot.index)} users x top "
                  f"{len(pivot.columns)} movies[/] (blank: not rated)", highlight=False)
    console.print(_pivot_table(pivot))


def _by_count(ids: pd.Series) -> pd.Series:
    """Number of ratings per id, most first; ties in ascending id order."""
    counts = ids.value_counts().sort_index(kind="stable")
    return counts.sort_values(ascending=False, kind="stable")


def _date_range(timestamps: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    first, last = timestamps.min(), timestamps.max()
    if last < _FIRST_PLAUSIBLE_DATE:
        return None
    start, end = pd.to_datetime([first, last], unit="s", utc=True)
    return start, end


def _most_rated(ratings: pd.DataFrame, movies: pd.DataFrame, movie_ids: pd.Index) -> pd.DataFrame:
    chosen = ratings[ratings["movie_id"].isin(movie_ids)]
    stats = chosen.groupby("movie_id")["rating"].agg(n_ratings="size", mean_rating="mean")
    stats = stats.reindex(movie_ids)
    titles = movies.drop_duplicates("movie_id").set_index("movie_id")["title"]
    return pd.DataFrame({
        "movie_id": movie_ids,
        "title": titles.reindex(movie_ids).fillna("").astype(str).to_numpy(),
        "n_ratings": stats["n_ratings"].to_numpy(dtype=np.int64),
        "mean_rating": stats["mean_rating"].to_numpy(dtype=float),
    })


def _pivot(ratings: pd.DataFrame, user_ids: pd.Index, movie_ids: pd.Index) -> pd.DataFrame:
    """Sum of ratings per (user, movie) among the chosen ids, sorted by id like crosstab."""
    inside = ratings[ratings["user_id"].isin(user_ids) & ratings["movie_id"].isin(movie_ids)]
    sums = inside.groupby(["user_id", "movie_id"])["rating"].sum().astype(float)
    return sums.unstack("movie_id").reindex(index=user_ids.sort_values(),
                                            columns=movie_ids.sort_values())


def _overview_table(summary: Summary) -> Table:
    table = Table(title=f"Dataset {summary.name}", show_header=False, box=box.SIMPLE)
    table.add_column(style="bold")
    table.add_column(justify="right")
    low, high = summary.rating_scale
    rows = [
        ("Users", f"{summary.n_users:,}"),
        ("Movies rated", f"{summary.n_movies:,} (of {summary.n_catalogue:,} in the catalogue)"),
        ("Ratings", f"{summary.n_ratings:,}"),
        ("Density", f"{summary.density:.2%} of the user x movie matrix"),
        ("Rating scale", f"{low:g} to {high:g}, mean {summary.mean_rating:.2f}"),
        ("Dates", _format_dates(summary.date_range)),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _format_dates(date_range: tuple[pd.Timestamp, pd.Timestamp] | None) -> str:
    if date_range is None:
        return "no timestamps (file order)"
    first, last = date_range
    return f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"


def _histogram_table(summary: Summary) -> Table:
    table = Table(title="Rating histogram", box=box.SIMPLE)
    table.add_column("Rating", justify="right")
    table.add_column("Ratings", justify="right")
    table.add_column("Share", justify="right")
    table.add_column("")
    largest = summary.rating_histogram.max()
    for value, count in summary.rating_histogram.items():
        bar = "█" * max(1, round(_BAR_WIDTH * count / largest))
        table.add_row(f"{value:g}", f"{count:,}", f"{count / summary.n_ratings:.1%}", bar)
    return table


def _most_rated_table(summary: Summary) -> Table:
    table = Table(title=f"{len(summary.most_rated)} most rated movies", box=box.SIMPLE)
    table.add_column("#", justify="right")
    table.add_column("Movie", justify="right")
    table.add_column("Title")
    table.add_column("Ratings", justify="right")
    table.add_column("Mean", justify="right")
    for rank, row in enumerate(summary.most_rated.itertuples(index=False), start=1):
        table.add_row(str(rank), str(row.movie_id), row.title, f"{row.n_ratings:,}",
                      f"{row.mean_rating:.2f}")
    return table


def _pivot_table(pivot: pd.DataFrame) -> Table:
    table = Table(box=box.SIMPLE_HEAD, padding=0, pad_edge=False)
    table.add_column("user", justify="right", style="bold", no_wrap=True)
    for movie_id in pivot.columns:
        table.add_column(str(movie_id), justify="right", no_wrap=True, min_width=3)
    for user_id, row in zip(pivot.index, pivot.to_numpy(), strict=True):
        table.add_row(str(user_id), *("" if np.isnan(value) else f"{value:g}" for value in row))
    return table
