"""``movierec explore``: what the ratings look like before training on them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from movierec.cli.options import (
    DataDirOption,
    DatasetOption,
    ItemColOption,
    MoviesOption,
    RatingColOption,
    RatingsOption,
    TimestampColOption,
    UserColOption,
    load_data,
)
from movierec.errors import MovierecError
from movierec.explore import plot_summary, render_summary, summarize


def register(app: typer.Typer) -> None:
    app.command("explore")(explore_command)


def explore_command(
    dataset: DatasetOption = None,
    ratings: RatingsOption = None,
    movies: MoviesOption = None,
    data_dir: DataDirOption = None,
    user_col: UserColOption = "user",
    item_col: ItemColOption = "item",
    rating_col: RatingColOption = "rating",
    timestamp_col: TimestampColOption = "timestamp",
    top: int = typer.Option(15, min=1, help="Movies in the most-rated list; users and "
                            "movies in the pivot table (tutorial: 15)."),
    plot: Path | None = typer.Option(None, "--plot", help="Also write a PNG of the rating "
                                     "distribution and the long tail of ratings per movie."),
) -> None:
    """Counts, density, rating histogram, dates, most rated movies and the tutorial's pivot."""
    if plot is not None and plot.suffix.lower() != ".png":
        raise MovierecError(f"--plot writes a PNG image; give a file ending in .png, not {plot}")
    console = Console()
    summary = summarize(load_data(dataset, ratings, movies, data_dir, user_col, item_col,
                                  rating_col, timestamp_col), top=top)
    render_summary(summary, console)
    if plot is not None:
        console.print(f"Plot written to {plot_summary(summary, plot)}", highlight=False,
                      soft_wrap=True)
