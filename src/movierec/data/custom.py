"""Users' own ratings (CSV, TSV or Parquet), checked with errors that say how to fix them.

Every problem found in a file is a :class:`~movierec.errors.DataError` naming the file,
the column, how many rows are affected and their first line numbers, and what to do.
Problems that can be repaired safely (duplicate ratings) are repaired with a
:class:`~movierec.data.dataset.DataWarning`.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from movierec.data.dataset import Dataset, DataWarning, movies_frame
from movierec.errors import DataError

_PARQUET_SUFFIXES = {".parquet", ".pq"}
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_SNIFF_BYTES = 1 << 16  # the start of a text file checked for binary data and its header
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
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_LAST_SECOND = 9_223_372_036  # the last second pandas dates can hold (2262-04-11)


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


NEW_USER_MOVIE_COLUMNS = ("movie", "movie_id", "movieid", "item", "title")
"""Header names :func:`load_new_user_ratings` accepts for the movie column, first match wins."""


def load_new_user_ratings(path: str | Path) -> list[tuple[str, float]]:
    """A new user's ``(movie, rating)`` pairs from a file with a movie column (one of
    :data:`NEW_USER_MOVIE_COLUMNS`, any case; an id or a title) and a ``rating`` column.

    The file is read and checked as :func:`load_ratings` reads ratings (any format it
    reads, the same messages naming the file, line and column).
    """
    table = _read_table(Path(path))
    columns = {str(column).strip().lower(): str(column) for column in table.frame.columns}
    if len(columns) == 1:
        _reject_wrong_delimiter(table.path, next(iter(columns.values())))
    movie_col = next((columns[c] for c in NEW_USER_MOVIE_COLUMNS if c in columns), None)
    if movie_col is None or "rating" not in columns:
        found = ", ".join(repr(c) for c in columns.values())
        lacking = "movie" if movie_col is None else "'rating'"
        raise DataError(f"{table.path}: needs columns movie and rating, and has no {lacking} "
                        f"column (columns found: {found}). Name the movie column one of "
                        f"{', '.join(NEW_USER_MOVIE_COLUMNS)} (an id or a title) and the "
                        "other 'rating'.")
    movies = table.frame[movie_col].astype(str).str.strip().where(
        table.frame[movie_col].notna(), "")
    _reject(table, movie_col, movies == "", "are empty", "Every rating needs a movie id or "
            "title.")
    ratings = _ratings(table, columns["rating"], None)
    return list(zip(movies, ratings.astype(float), strict=True))


def _read_table(path: Path) -> _Table:
    """Read a ratings or movies file, its format told by its first bytes, not its name.

    Plain CSV/TSV text, gzip-compressed text (``.csv.gz``, ``.tsv.gz``), a zip archive
    holding one text or Parquet file, and Parquet are read; every text column as text
    (Parquet keeps its types).
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file. Check the path (relative paths start from "
                        f"{Path.cwd()}).")
    source = _Source.of(path)
    if source.is_parquet:
        frame, has_lines = _read_parquet(source), False
    else:
        frame, has_lines = _read_text(source), True
    if frame.empty:
        raise DataError(f"{path}: the file has a header ({', '.join(map(str, frame.columns))})"
                        " but no rows. Add the data below the header, one row per line.")
    return _Table(path, frame, has_lines=has_lines)


@dataclass(frozen=True)
class _Source:
    """Where a table's bytes are: a plain file, a gzip stream, or one member of a zip."""

    path: Path
    compression: str | None  # None, "gzip" or "zip"
    member: str | None = None  # the zip member's name
    is_parquet: bool = False

    @classmethod
    def of(cls, path: Path) -> _Source:
        """Sniff ``path``'s magic bytes (and a zip's one member) to tell its format."""
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty. Expected a header line such as "
                            "'user,item,rating,timestamp' followed by one rating per line.")
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic == _PARQUET_MAGIC:
            return cls(path, None, is_parquet=True)
        if magic[:2] == _GZIP_MAGIC:
            return cls(path, "gzip")
        if magic == _ZIP_MAGIC:
            member = _only_member(path)
            with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
                inner = handle.read(4)
            return cls(path, "zip", member, is_parquet=inner == _PARQUET_MAGIC)
        if path.suffix.lower() in _PARQUET_SUFFIXES:
            raise DataError(f"{path}: cannot read it as Parquet: it is named like a Parquet "
                            "file but does not start with Parquet's marker (PAR1), so it is "
                            "damaged or not Parquet. Write it again, or save it as CSV.")
        return cls(path, None)

    @property
    def name(self) -> str:
        """The name that tells TSV from CSV: the zip member's, or the file's without .gz."""
        name = self.member or self.path.name
        return name[:-3] if self.compression == "gzip" and name.lower().endswith(".gz") else name

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """The decompressed bytes; a damaged archive is a DataError that says so."""
        try:
            if self.compression == "gzip":
                with gzip.open(self.path, "rb") as handle:
                    yield handle  # type: ignore[misc]
            elif self.compression == "zip":
                with zipfile.ZipFile(self.path) as archive, \
                        archive.open(self.member or "") as handle:
                    yield handle  # type: ignore[misc]
            else:
                with open(self.path, "rb") as handle:
                    yield handle
        except (EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
            if isinstance(error, OSError) and self.compression is None:
                raise DataError(f"{self.path}: cannot be read ({error.strerror or error}). "
                                "Check that the file is readable.") from error
            raise self.damaged(error) from error

    def damaged(self, error: BaseException) -> DataError:
        kind = "gzip" if self.compression == "gzip" else "zip"
        return DataError(f"{self.path}: the {kind} archive is damaged or cut short ({error}). "
                         f"Compress the file again, or pass it uncompressed.")


def _only_member(path: Path) -> str:
    """The one file in a zip archive, or a DataError saying how many it holds."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DataError(f"{path}: the zip archive is damaged or cut short ({error}). "
                        "Compress the file again, or pass it uncompressed.") from error
    if "[Content_Types].xml" in names:  # Office Open XML: .xlsx, .ods-like workbooks
        raise DataError(f"{path}: a spreadsheet workbook (Excel .xlsx), not a CSV file. Save "
                        "the sheet as 'CSV UTF-8' and pass that file.")
    if len(names) != 1:
        shown = ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
        raise DataError(f"{path}: a zip archive must hold exactly one CSV, TSV or Parquet "
                        f"file; this one holds {len(names)}" + (f" ({shown})" if names else "")
                        + ". Zip the ratings file alone, or unzip it and pass the file.")
    return names[0]


def _read_parquet(source: _Source) -> pd.DataFrame:
    try:
        with source.open() as handle:
            frame = pd.read_parquet(io.BytesIO(handle.read()) if source.member else handle)
    except DataError:
        raise
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{source.path}: cannot read it as Parquet ({error}). The file may "
                        "be damaged or cut short: write it again, or save it as CSV.") from error
    _reject_duplicate_columns(source.path, [str(c) for c in frame.columns])
    return frame


def _read_text(source: _Source) -> pd.DataFrame:
    path = source.path
    with source.open() as handle:
        try:
            start = handle.read(_SNIFF_BYTES)
        except (EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
            raise source.damaged(error) from error
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path}: UTF-16 text (what Excel saves as 'Unicode Text'), not "
                        "UTF-8. Re-save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8'; or "
                        "`iconv -f utf-16 -t utf-8`).")
    if b"\0" in start:
        offset = start.index(b"\0")
        raise DataError(f"{path}: not a text file (it holds binary data, byte 0x00 at offset "
                        f"{offset:,}). Expected CSV or TSV text, gzip- or "
                        "zip-compressed text, or Parquet.")
    if not start.strip():
        raise DataError(f"{path}: the file holds only blank lines. Expected a header line "
                        "such as 'user,item,rating,timestamp' and one rating per line.")
    header_bytes = start.split(b"\n", 1)[0]
    delimiter = _delimiter(source.name, header_bytes)
    _check_header(source, header_bytes, delimiter)
    try:
        with source.open() as handle:
            frame = pd.read_csv(handle, sep=delimiter, dtype=str, encoding="utf-8-sig",
                                skip_blank_lines=False)
    except UnicodeDecodeError as error:
        raise _not_utf8(source) from error
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path}: the file holds only blank lines. Expected a header line "
                        "such as 'user,item,rating,timestamp' and one rating per line.") from error
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: cannot be parsed ({str(error).strip()}). Check that every "
                        "line has as many fields as the header and that text with commas is "
                        "quoted.") from error
    except (EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
        raise source.damaged(error) from error
    return frame.dropna(how="all")  # blank lines; the index keeps the line numbers right


def _delimiter(name: str, header: bytes) -> str:
    """Tab for .tsv files or a tab-separated header without commas, comma otherwise."""
    if Path(name).suffix.lower() in _TSV_SUFFIXES:
        return "\t"
    return "\t" if b"\t" in header and b"," not in header else ","


def _check_header(source: _Source, header: bytes, delimiter: str) -> None:
    """The header decodes as UTF-8 and names no column twice."""
    try:
        text = header.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _not_utf8(source) from error
    columns = next(csv.reader([text.rstrip("\r")], delimiter=delimiter), [])
    _reject_duplicate_columns(source.path, [c.strip() for c in columns])


def _reject_duplicate_columns(path: Path, columns: list[str]) -> None:
    seen: dict[str, int] = {}
    for number, column in enumerate(columns, start=1):
        if column in seen:
            raise DataError(f"{path}: the header names column {column!r} more than once "
                            f"(columns {seen[column]} and {number}). Rename or delete one of "
                            "them so that each column has its own name.")
        seen[column] = number


def _not_utf8(source: _Source) -> DataError:
    path = source.path
    with source.open() as handle:
        raw = handle.read()
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
    _reject(table, column, values.abs() > _FLOAT32_MAX,
            "are too large to store (above 3.4e38, the float32 limit)",
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
    _reject(table, column, seconds.abs() > _LAST_SECOND,
            "are out of range for Unix timestamps (past the year 2262)",
            "Use seconds since 1970 (milliseconds: divide by 1000) or dates like "
            "2024-01-31; fix or delete those rows.")
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
