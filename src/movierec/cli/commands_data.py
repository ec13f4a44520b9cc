"""``movierec data``: list, download and inspect datasets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from movierec.cli.options import (
    DataDirOption,
    ItemColOption,
    MoviesOption,
    RatingColOption,
    RatingsOption,
    TimestampColOption,
    UserColOption,
    load_data,
)
from movierec.data import (
    DATASETS,
    Dataset,
    download_release,
    find_release,
    get_release,
)

# Timestamps below this (3 March 1973) are not Unix seconds of a real rating: they are the
# row order of a file without a timestamp column, or sequence numbers.
_FIRST_PLAUSIBLE_SECOND = 100_000_000


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to ``app``."""
    data_app = typer.Typer(help="List, download and inspect datasets.", no_args_is_help=True)
    data_app.command("list")(list_datasets)
    data_app.command("download")(download)
    data_app.command("info")(info)
    app.add_typer(data_app, name="data")


def list_datasets(data_dir: DataDirOption = None) -> None:
    """List the MovieLens releases, their size and where each is found on this machine."""
    table = Table("dataset", "ratings", "released", "scale", "download", "found")
    table.columns[-1].overflow = "fold"  # show the whole path, wrapped
    for release in DATASETS.values():
        found = find_release(release, data_dir)
        where = f"{found.folder} ({found.source})" if found else "not downloaded"
        low, high = release.rating_scale
        table.add_row(release.name, f"{release.n_ratings:,}", str(release.released),
                      f"{low:g}-{high:g}", f"~{release.download_mb:g} MB", where)
    Console().print(table)


def download(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(DATASETS)}.")],
    data_dir: DataDirOption = None,
    force: Annotated[bool, typer.Option("--force", help="Download even if found.")] = False,
) -> None:
    """Download a MovieLens release from GroupLens into --data-dir or the cache."""
    release = get_release(name)
    found = find_release(release, data_dir)
    if found and not force:
        typer.echo(f"{release.title} is already in {found.folder} ({found.source}).")
        return
    typer.echo(f"{release.title} is ready in {download_release(release, data_dir)}.")


def info(
    name: Annotated[str | None, typer.Argument(help="A MovieLens release (default "
                                               "latest-small unless --ratings).")] = None,
    ratings: RatingsOption = None,
    movies: MoviesOption = None,
    data_dir: DataDirOption = None,
    user_col: UserColOption = "user",
    item_col: ItemColOption = "item",
    rating_col: RatingColOption = "rating",
    timestamp_col: TimestampColOption = "timestamp",
) -> None:
    """Show counts, rating scale, date range and location of a dataset or ratings file."""
    dataset = load_data(name, ratings, movies, data_dir, user_col, item_col, rating_col,
                        timestamp_col)
    location = ratings or _release_folder(dataset.name, data_dir)
    for label, value in _summary(dataset, location):
        typer.echo(f"{label + ':':<14}{value}")


def _release_folder(name: str, data_dir: Path | None) -> Path | None:
    found = find_release(get_release(name), data_dir)
    return found.folder if found else None


def _summary(dataset: Dataset, location: Path | None) -> list[tuple[str, str]]:
    ratings = dataset.ratings
    low, high = dataset.rating_scale
    distinct = sorted(ratings["rating"].unique())
    values = (", ".join(f"{v:g}" for v in distinct) if len(distinct) <= 10
              else f"{len(distinct):,} distinct")
    rated = ratings["movie_id"].nunique()
    density = dataset.n_ratings / max(1, dataset.n_users * rated)
    return [
        ("dataset", dataset.name),
        ("path", str(location)),
        ("ratings", f"{dataset.n_ratings:,}"),
        ("users", f"{dataset.n_users:,}"),
        ("movies", f"{dataset.n_movies:,} ({rated:,} rated)"),
        ("rating scale", f"{low:g}-{high:g} (values: {values})"),
        ("density", f"{density:.2%} of user-movie pairs rated"),
        ("date range", _date_range(ratings["timestamp"])),
    ]


def _date_range(timestamps) -> str:
    first, last = int(timestamps.min()), int(timestamps.max())
    if first < _FIRST_PLAUSIBLE_SECOND:
        return "unknown (the timestamps are not dates; they give the order only)"
    return f"{_day(first)} to {_day(last)}"


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d")
