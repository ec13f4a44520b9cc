"""Users' own ratings (CSV, TSV or Parquet), checked with errors that say how to fix them.

Every problem found in a file is a :class:`~movierec.errors.DataError` naming the file,
the column, how many rows are affected and their first line numbers, and what to do.
Problems that can be repaired safely (duplicate ratings) are repaired with a
:class:`~movierec.data.dataset.DataWarning`.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data.dataset import Dataset, DataWarning, movies_frame
from movierec.errors import DataError

_PARQUET_SUFFIXES = {".parquet", ".pq"}
_TSV_SUFFIXES = {".tsv", ".tab"}
_OTHER_DELIMITERS = {";": "semicolons (;)", "\t": "tabs", "|": "pipes (|)"}
_ALIASES = {
    "user": ("user", "userid", "uid", "customer", "customerid", "reviewer", "reviewerid"),
    "item": ("item", "itemid", "iid", "movie", "movieid", "product", "productid"),
    "rating": ("rating", "ratings", "score", "stars", "value"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unixtime"),
    "title": ("title", "name", "movie", "movietitle"),
}
_INTEGER_TEXT = r"[+-]?\d{1,18}(?:\.0*)?"
_SHOWN = 5  # line numbers and values quoted in a message


@dataclass(frozen=True)
class _Table:
    """A file read as text columns, and how to point at its rows in messages."""

    path: Path
    frame: pd.DataFrame
    has_lines: bool  # text files have line numbers; Parquet files have row numbers

    def where(self, index: pd.Index) -> str:
        """``lines 3, 8, 9, ...`` for rows with the given (0-based, data row) index."""
        numbers = [int(i) + (2 if self.has_lines else 1) for i in index[:_SHOWN]]
        unit = ("line" if self.has_lines else "row") + ("s" if len(index) > 1 else "")
        more = ", ..." if len(index) > _SHOWN else ""
        return f"{unit} {', '.join(map(str, numbers))}{more}"

    def column_error(self, column: str, bad: pd.Series, problem: str, fix: str) -> DataError:
        rows = bad.index[bad.to_numpy()]
        examples = ", ".join(_shown(v) for v in self.frame.loc[rows[:_SHOWN], column])
        return DataError(f"{self.path}: {len(rows):,} value(s) in column '{column}' {problem} "
                         f"({self.where(rows)}: {examples}). {fix}")


def load_ratings(
    path: str | Path,
    movies: str | Path | None = None,
    *,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str = "rating",
    timestamp_col: str = "timestamp",
    rating_scale: tuple[float, float] | None = None,
) -> Dataset:
    """Load ratings from a CSV, TSV or Parquet file, with optional movie titles.

    Ids stay strings unless every id is an integer. Without a timestamp column the row
    number (file order) is the timestamp. The rating scale is (min, max) of the data
    unless declared. Duplicate (user, item) pairs keep the latest rating by timestamp.
    """
    table = _read_table(Path(path))
    _require_columns(table, {"user": user_col, "item": item_col, "rating": rating_col})
    ratings = pd.DataFrame({
        "user_id": _ids(table, user_col),
        "movie_id": _ids(table, item_col),
        "rating": _ratings(table, rating_col, rating_scale),
        "timestamp": _timestamps(table, timestamp_col, required=timestamp_col != "timestamp"),
    })
    ratings = _drop_duplicate_pairs(ratings, table)
    catalogue = _read_movies(Path(movies), item_col) if movies is not None else None
    ratings, catalogue = _with_common_id_type(ratings, catalogue)
    scale = rating_scale or (float(ratings["rating"].min()), float(ratings["rating"].max()))
    return Dataset(name=Path(path).name, ratings=ratings.reset_index(drop=True),
                   movies=_complete_catalogue(catalogue, ratings["movie_id"]),
                   rating_scale=(float(scale[0]), float(scale[1])))


def _read_table(path: Path) -> _Table:
    """Read a CSV, TSV or Parquet file with every column as text (Parquet keeps types)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file. Check the path (relative paths start from "
                        f"{Path.cwd()}).")
    is_parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    frame = _read_parquet(path) if is_parquet else _read_text(path)
    if frame.empty:
        raise DataError(f"{path}: the file has a header ({', '.join(map(str, frame.columns))})"
                        " but no rows. Add the data below the header, one row per line.")
    return _Table(path, frame, has_lines=not is_parquet)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: cannot read it as Parquet ({error}). Check that it is a "
                        "Parquet file, or save it as CSV.") from error


def _read_text(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty. Expected a header line such as "
                        "'user,item,rating,timestamp' followed by one rating per line.")
    try:
        frame = pd.read_csv(path, sep=_delimiter(path), dtype=str, encoding="utf-8",
                            skip_blank_lines=False)
    except UnicodeDecodeError as error:
        raise _not_utf8(path) from error
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path}: the file holds only blank lines. Expected a header line "
                        "such as 'user,item,rating,timestamp' and one rating per line.") from error
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: cannot be parsed ({error}). Check that every line has as "
                        "many fields as the header and that text with commas is quoted.") from error
    return frame.dropna(how="all")  # blank lines; the index keeps the line numbers right


def _delimiter(path: Path) -> str:
    """Tab for .tsv files or a tab-separated header without commas, comma otherwise."""
    if path.suffix.lower() in _TSV_SUFFIXES:
        return "\t"
    with open(path, "rb") as handle:
        header = handle.readline()
    return "\t" if b"\t" in header and b"," not in header else ","


def _not_utf8(path: Path) -> DataError:
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        byte = raw[error.start:error.start + 1].hex()
        return DataError(f"{path}: not UTF-8 text: byte 0x{byte} at offset {error.start:,} "
                         f"(line {line}) cannot be decoded. Re-save the file as UTF-8 (in a "
                         "spreadsheet: 'CSV UTF-8'; or `iconv -f latin1 -t utf-8`).")
    return DataError(f"{path}: not UTF-8 text. Re-save the file as UTF-8.")


def _require_columns(table: _Table, wanted: dict[str, str]) -> None:
    """Raise a DataError for the first wanted column the file lacks (role -> name)."""
    columns = [str(c) for c in table.frame.columns]
    if len(columns) == 1:
        _reject_wrong_delimiter(table.path, columns[0])
    for role, name in wanted.items():
        if name not in columns:
            raise _missing_column(table.path, role, name, columns)


def _reject_wrong_delimiter(path: Path, header: str) -> None:
    for delimiter, description in _OTHER_DELIMITERS.items():
        if delimiter in header:
            raise DataError(f"{path}: the whole header {header!r} was read as one column; the "
                            f"file looks separated by {description}. Save it with commas (CSV) "
                            "or tabs (TSV, with a .tsv extension).")


def _missing_column(path: Path, role: str, name: str, columns: list[str]) -> DataError:
    found = ", ".join(repr(c) for c in columns)
    guess = _closest_column(role, name, columns)
    if role == "title":
        fix = f"Rename {guess!r} to 'title'." if guess else "Add a 'title' column."
    else:
        value = guess or "NAME"
        fix = (f"Rename the column to {name!r}, or pass --{role}-col {value} "
               f"({role}_col={value!r} in Python).")
    hint = f" Did you mean {guess!r}?" if guess else ""
    return DataError(f"{path}: no column {name!r} for the {role} (columns found: {found})."
                     f"{hint} {fix}")


def _closest_column(role: str, name: str, columns: list[str]) -> str | None:
    """The column most likely meant: same name in other case, a usual alias, or similar."""
    def norm(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "").replace(" ", "")

    by_norm = {norm(c): c for c in columns}
    for candidate in (norm(name), *_ALIASES.get(role, ())):
        if candidate in by_norm:
            return by_norm[candidate]
    close = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None


def _ids(table: _Table, column: str) -> pd.Series:
    """Ids as int64 when every one is an integer, else as strings (object dtype)."""
    values = table.frame[column]
    if pd.api.types.is_integer_dtype(values):
        return values.astype("int64")
    text = values.astype(str).str.strip().where(values.notna(), "")
    _reject(table, column, text == "", "are empty", "Every rating needs a user and an item.")
    if text.str.fullmatch(_INTEGER_TEXT).all():
        return pd.to_numeric(text.str.replace(r"\.0*$", "", regex=True)).astype("int64")
    return text.astype(object)


def _ratings(table: _Table, column: str, scale: tuple[float, float] | None) -> pd.Series:
    values = pd.to_numeric(table.frame[column], errors="coerce").astype("float64")
    _reject(table, column, ~np.isfinite(values), "are not numbers",
            "Ratings must be numbers such as 4 or 3.5; fix or delete those rows.")
    if scale is not None:
        low, high = _checked_scale(scale)
        _reject(table, column, (values < low) | (values > high),
                f"are outside the declared rating scale {low:g}-{high:g}",
                "Fix those rows, or declare the scale the file uses "
                "(rating_scale=(min, max) in Python).")
    return values.astype("float32")


def _checked_scale(scale: tuple[float, float]) -> tuple[float, float]:
    low, high = (float(v) for v in scale)
    if not low < high:
        raise DataError(f"The rating scale {scale} is not (min, max) with min < max.")
    return low, high


def _timestamps(table: _Table, column: str, *, required: bool) -> pd.Series:
    """Unix seconds from numbers or dates; the row number if the file has no such column."""
    frame = table.frame
    if column not in frame.columns:
        if required:
            raise _missing_column(table.path, "timestamp", column, list(map(str, frame.columns)))
        return pd.Series(np.arange(len(frame), dtype="int64"), index=frame.index)
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        return _unix_seconds(values).astype("int64")
    seconds = pd.to_numeric(values, errors="coerce").astype("float64")
    text_rows = ~np.isfinite(seconds)
    if text_rows.any():
        dates = pd.to_datetime(values[text_rows], errors="coerce", utc=True, format="ISO8601")
        seconds[text_rows] = _unix_seconds(dates)
        _reject(table, column, seconds.isna(), "are neither Unix timestamps nor dates",
                "Use seconds since 1970 or dates like 2024-01-31 14:05:00; fix or delete "
                "those rows.")
    return seconds.astype("int64")


def _unix_seconds(dates: pd.Series) -> pd.Series:
    """Seconds since 1970 (float, NaN for NaT); dates without a time zone are taken as UTC."""
    if dates.dt.tz is None:
        dates = dates.dt.tz_localize("UTC")
    return (dates - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


def _reject(table: _Table, column: str, bad: pd.Series, problem: str, fix: str) -> None:
    if bad.any():
        raise table.column_error(column, bad, problem, fix)


def _shown(value: object) -> str:
    return "(empty)" if pd.isna(value) or str(value).strip() == "" else repr(str(value))


def _drop_duplicate_pairs(ratings: pd.DataFrame, table: _Table) -> pd.DataFrame:
    """Keep the latest rating of each (user, item) pair; warn how many were dropped."""
    by_time = ratings.sort_values("timestamp", kind="stable")
    older = by_time.index[by_time.duplicated(["user_id", "movie_id"], keep="last").to_numpy()]
    if len(older):
        warnings.warn(DataWarning(
            f"{table.path}: some (user, item) pairs are rated more than once; kept the latest "
            f"rating of each by timestamp and dropped {len(older):,} older rating(s) "
            f"({table.where(older.sort_values())})."), stacklevel=3)
    return ratings.drop(index=older)


def _read_movies(path: Path, item_col: str) -> pd.DataFrame:
    table = _read_table(path)
    _require_columns(table, {"title": "title"})
    columns = [str(c) for c in table.frame.columns]
    id_col = next((c for c in (item_col, "movie_id", "item") if c in columns), None)
    if id_col is None:
        raise _missing_column(path, "item", item_col, columns)
    frame = table.frame
    genres = frame["genres"] if "genres" in columns else pd.Series("", index=frame.index)
    movies = movies_frame(_ids(table, id_col), frame["title"], genres)
    repeated = movies["movie_id"].duplicated()
    if repeated.any():
        warnings.warn(DataWarning(
            f"{path}: {int(repeated.sum()):,} movie id(s) appear more than once; kept the "
            f"first title of each ({table.where(frame.index[repeated.to_numpy()])})."),
            stacklevel=3)
    return movies[~repeated]


def _with_common_id_type(ratings: pd.DataFrame, movies: pd.DataFrame | None
                         ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Make movie ids comparable: strings on both sides unless both are integers."""
    if movies is None or ratings["movie_id"].dtype == movies["movie_id"].dtype:
        return ratings, movies
    as_text = {"movie_id": lambda frame: frame["movie_id"].astype(str).astype(object)}
    return ratings.assign(**as_text), movies.assign(**as_text)


def _complete_catalogue(movies: pd.DataFrame | None, rated: pd.Series) -> pd.DataFrame:
    """The movies file plus every rated movie it lacks, titled by its id."""
    unlisted = rated if movies is None else rated[~rated.isin(movies["movie_id"])]
    missing = pd.Series(unlisted.unique())
    extra = movies_frame(missing, missing.astype(str), pd.Series("", index=missing.index))
    if movies is None:
        return extra
    if extra.empty:
        return movies.reset_index(drop=True)
    return pd.concat([movies, extra], ignore_index=True)
