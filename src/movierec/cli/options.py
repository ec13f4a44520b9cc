"""Options shared by every command that reads ratings: a named dataset or the user's files."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from movierec.data import Dataset, DataWarning, dataset_from_options

DatasetOption = Annotated[
    str | None,
    typer.Option("--dataset", "-d", help="MovieLens release: latest-small, 100k, 1m, 10m, 20m, "
                 "25m or 32m (default latest-small)."),
]
RatingsOption = Annotated[
    Path | None,
    typer.Option("--ratings", help="Your own ratings (CSV, TSV or Parquet with columns user, "
                 "item, rating[, timestamp]) instead of --dataset."),
]
MoviesOption = Annotated[
    Path | None, typer.Option("--movies", help="Titles for --ratings (item, title[, genres]).")
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder holding ml-latest-small/, ml-100k/, ... "
                 "(default: $MOVIEREC_DATA, then the cache)."),
]
UserColOption = Annotated[str, typer.Option(help="User id column of --ratings.")]
ItemColOption = Annotated[str, typer.Option(help="Movie id column of --ratings.")]
RatingColOption = Annotated[str, typer.Option(help="Rating column of --ratings.")]
TimestampColOption = Annotated[
    str, typer.Option(help="Timestamp column of --ratings (optional; file order if absent).")
]


def load_data(
    dataset: str | None,
    ratings: Path | None,
    movies: Path | None,
    data_dir: Path | None,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str = "rating",
    timestamp_col: str = "timestamp",
) -> Dataset:
    """The dataset the options name, printing data warnings (dropped duplicates) on stderr."""
    with data_warnings_printed():
        return dataset_from_options(dataset, ratings, movies, data_dir, user_col=user_col,
                                    item_col=item_col, rating_col=rating_col,
                                    timestamp_col=timestamp_col)


@contextmanager
def data_warnings_printed() -> Iterator[None]:
    """Print each :class:`DataWarning` raised in the block as a one-line notice on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        yield
    stderr = Console(stderr=True)
    for warning in caught:
        if issubclass(warning.category, DataWarning):
            stderr.print(f"[bold yellow]warning:[/] {warning.message}", highlight=False,
                         soft_wrap=True)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)


def wide_console() -> Console:
    """A console for tables: a terminal's own width, 120 columns when output is piped."""
    console = Console()
    return console if console.is_terminal else Console(width=120)
