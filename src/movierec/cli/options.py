"""Options shared by every command that reads ratings: a named dataset or the user's files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
