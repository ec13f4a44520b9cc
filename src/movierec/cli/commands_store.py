"""``movierec store``: make, inspect and export the ratings store that ``serve --store``
keeps users' ratings in (:mod:`movierec.store`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from movierec.atomic import atomic_path
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
from movierec.encoding import IdEncoder
from movierec.errors import MovierecError
from movierec.store import create_store, open_store

StoreOption = Annotated[str, typer.Option(
    "--store", "-s", help="An SQLite file, or a postgresql://user:password@host/db URL.")]


def register(app: typer.Typer) -> None:
    """Add the ``store`` command group to ``app``."""
    store_app = typer.Typer(help="Make, inspect and export the ratings store "
                            "(`movierec serve --store`).", no_args_is_help=True)
    store_app.command("init")(init)
    store_app.command("info")(info)
    store_app.command("export")(export)
    app.add_typer(store_app, name="store")


def init(
    store: StoreOption,
    dataset: DatasetOption = None,
    ratings: RatingsOption = None,
    movies: MoviesOption = None,
    data_dir: DataDirOption = None,
    user_col: UserColOption = "user",
    item_col: ItemColOption = "item",
    rating_col: RatingColOption = "rating",
    timestamp_col: TimestampColOption = "timestamp",
    empty: Annotated[bool, typer.Option("--empty", help="Import no ratings: only the "
                                        "ratings users give the service will be stored.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing "
                                            "store.")] = False,
) -> None:
    """Make a ratings store holding a dataset's ratings (or none, with --empty).

    A store is refused if one exists already, unless --overwrite; a failed import leaves
    the previous store (or nothing) in place.
    """
    data = load_data(dataset, ratings, movies, data_dir, user_col, item_col, rating_col,
                     timestamp_col)
    kind = IdEncoder.fit(data.ratings["user_id"]).kind
    table = data.ratings.iloc[:0] if empty else data.ratings
    started = time.perf_counter()
    with create_store(store, table, id_kind=kind, dataset=data.name,
                      overwrite=overwrite) as made:
        count, where = made.count(), made.location
    typer.echo(f"Stored {count:,} ratings of {data.name} in {where} "
               f"({time.perf_counter() - started:.1f} s).")


def info(store: StoreOption) -> None:
    """Show where a store is, its schema and how many ratings, users and movies it holds."""
    with open_store(store) as opened:
        facts = opened.info()
    for label, value in facts.items():
        shown = f"{value:,}" if isinstance(value, int) and label != "schema_version" else value
        typer.echo(f"{label + ':':<16}{shown}")


def export(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write.")],
    since_seq: Annotated[int, typer.Option(min=0, help="Only ratings written after this "
                                           "sequence number.")] = 0,
) -> None:
    """Write the stored ratings (user_id, movie_id, rating, timestamp, seq) to Parquet."""
    if out.suffix.lower() != ".parquet":
        raise MovierecError(f"--out {out} must end in .parquet")
    with open_store(store) as opened:
        frame = opened.to_frame(since_seq=since_seq)
    with atomic_path(out) as tmp:
        frame.to_parquet(tmp, index=False)
    typer.echo(f"Wrote {len(frame):,} ratings to {out}.")
