"""A shared corpus of bad ratings files, written on demand, that every command must reject
with a clear message (exit code 2, no traceback) or accept.

Each :class:`BadInput` is a name, the bytes of the file, the file name to save it as, what a
user must see (words of the message) and, for degenerate but readable data, which commands
may accept it. Tests parametrize over :data:`CORPUS`; nothing here reads MovieLens.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

HEADER = "user,item,rating,timestamp\n"


def _rows(n_users: int = 6, n_movies: int = 5, *, rating=None) -> str:
    """A small valid body: every user rates every movie, ratings 1-5."""
    lines = []
    for user in range(1, n_users + 1):
        for movie in range(1, n_movies + 1):
            value = rating if rating is not None else (user + movie) % 5 + 1
            lines.append(f"{user},{movie},{value},{1_000_000 + len(lines)}")
    return "\n".join(lines) + "\n"


GOOD = HEADER + _rows()


@dataclass(frozen=True)
class BadInput:
    name: str
    content: bytes
    filename: str = "ratings.csv"
    expect: tuple[str, ...] = ()
    """Words the error message must hold (besides the file's name), lower case."""
    readable: bool = False
    """Degenerate but well-formed data: commands that only read it (explore, data info)
    succeed; the ones that train on it must refuse it clearly."""
    trainable: bool = False
    """Degenerate data that training handles too (every command succeeds)."""
    line: str | None = None
    """The line (or row) number the message must point at, e.g. ``"line 3"``."""
    column: str | None = None
    """The column at fault, if one is; a new user's ratings file uses only the movie and
    rating columns, so a bad user or timestamp column does not concern it."""

    def write(self, folder: Path) -> Path:
        path = folder / self.filename
        path.write_bytes(self.content)
        return path


def _text(name: str, text: str, *expect: str, filename: str = "ratings.csv", **kw) -> BadInput:
    return BadInput(name, text.encode("utf-8"), filename, tuple(expect), **kw)


def _bad_row(row: str) -> str:
    """The good file with ``row`` as its second data line (line 3)."""
    body = _rows().splitlines(keepends=True)
    return HEADER + body[0] + row + "\n" + "".join(body[1:])


def _zip(members: dict[str, str]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


CORPUS: list[BadInput] = [
    _text("empty file", "", "empty"),
    _text("blank lines only", "\n\n\n", "blank"),
    _text("header only", HEADER, "no rows"),
    _text("wrong columns", "a,b,c\n1,2,3\n", "no column", column="(header)"),
    _text("duplicate column names", "user,item,rating,rating\n1,1,4,5\n2,2,3,1\n",
          "'rating'", "more than once"),
    _text("semicolon separated", "user;item;rating\n1;1;4\n", "semicolons"),
    _text("ragged row", HEADER + "1,1,4,100\n1,2,3,4,5,6\n", "parsed"),
    _text("non-numeric rating", _bad_row("1,9,great,1000"), "'rating'", "not numbers",
          line="line 3", column="rating"),
    _text("NaN rating", _bad_row("1,9,NaN,1000"), "'rating'", "not numbers",
          line="line 3", column="rating"),
    _text("inf rating", _bad_row("1,9,inf,1000"), "'rating'", "not numbers",
          line="line 3", column="rating"),
    _text("rating overflows float32", _bad_row("1,9,1e308,1000"), "'rating'", "too large",
          line="line 3", column="rating"),
    _text("empty user id", _bad_row(",9,4,1000"), "'user'", "empty",
          line="line 3", column="user"),
    _text("non-finite timestamp", _bad_row("1,9,4,inf"), "'timestamp'",
          line="line 3", column="timestamp"),
    _text("timestamp out of range", _bad_row("1,9,4,1e30"), "'timestamp'",
          line="line 3", column="timestamp"),
    BadInput("binary garbage", bytes(range(256)) * 8, "ratings.csv", ("not a text file",)),
    BadInput("latin-1 encoding", (HEADER + "1,1,4,100\n2,Amélie,5,200\n").encode("latin-1"),
             "ratings.csv", ("utf-8", "line 3")),
    BadInput("utf-16 (Excel's Unicode Text)", GOOD.replace(",", "\t").encode("utf-16"),
             "ratings.txt", ("utf-16", "utf-8")),
    BadInput("truncated gzip", gzip.compress(GOOD.encode())[:40], "ratings.csv.gz",
             ("gzip", "damaged")),
    BadInput("zip of two files", _zip({"ratings.csv": GOOD, "movies.csv": "item,title\n"}),
             "ratings.zip", ("exactly one", "holds 2")),
    BadInput("excel workbook", _zip({"[Content_Types].xml": "<Types/>",
                                     "xl/workbook.xml": "<workbook/>"}),
             "ratings.xlsx", ("spreadsheet", "csv utf-8")),
    _text("parquet named csv but garbage", "PAR1 this is not parquet", "parquet",
          filename="ratings.parquet"),
    _text("one distinct rating value", HEADER + _rows(rating=4), "only one", "value",
          readable=True),
    _text("single user", HEADER + _rows(n_users=1, n_movies=12), readable=True,
          trainable=True),
    _text("single movie", HEADER + _rows(n_users=12, n_movies=1), readable=True,
          trainable=True),
    _text("fewer ratings than the split needs", HEADER + "1,1,4,100\n", "too few",
          "split", readable=True),
]

def compressed_good_files() -> dict[str, bytes]:
    """File name -> bytes of :data:`GOOD` in each container format movierec reads, which
    it must tell by content (a gzip or Parquet file named .csv works too)."""
    import zipfile

    import pandas as pd

    frame = pd.read_csv(io.StringIO(GOOD))
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ratings.csv", GOOD)
    return {
        "ratings.csv.gz": gzip.compress(GOOD.encode()),
        "ratings.tsv.gz": gzip.compress(GOOD.replace(",", "\t").encode()),
        "ratings.zip": archive.getvalue(),
        "ratings.parquet": parquet.getvalue(),
        "gzip-without-suffix.csv": gzip.compress(GOOD.encode()),
        "parquet-named.csv": parquet.getvalue(),
        "excel-utf8-bom.csv": b"\xef\xbb\xbf" + GOOD.encode(),  # Excel's "CSV UTF-8"
    }


__all__ = ["CORPUS", "GOOD", "RUN_FILES", "BadInput", "compressed_good_files", "damaged_runs"]


RUN_FILES = ("model.keras", "config.json", "encoders.json", "train.parquet", "test.parquet",
             "movies.parquet", "history.json", "metrics.json")


def damaged_runs() -> list[tuple[str, str, object]]:
    """``(case name, file, damage)``: each file of a run missing, cut short or garbage;
    ``damage(run_dir)`` applies it to a copy of a good run."""
    def missing(file: str):
        return lambda run: (run / file).unlink()

    def truncated(file: str):
        def damage(run: Path) -> None:
            data = (run / file).read_bytes()
            (run / file).write_bytes(data[: len(data) // 2])
        return damage

    def garbage(file: str):
        return lambda run: (run / file).write_bytes(b"\x00\xffnot this file\x01" * 64)

    cases: list[tuple[str, str, object]] = []
    for file in RUN_FILES:
        cases += [(f"{file} missing", file, missing(file)),
                  (f"{file} truncated", file, truncated(file)),
                  (f"{file} garbage", file, garbage(file))]

    def newer(run: Path) -> None:
        import json

        config = json.loads((run / "config.json").read_text())
        config.update(format_version=99, movierec_version="99.0")
        (run / "config.json").write_text(json.dumps(config))

    def wrong_json_shape(run: Path) -> None:
        (run / "encoders.json").write_text("[1, 2, 3]")

    cases += [("written by a newer movierec", "newer", newer),
              ("encoders.json of the wrong shape", "encoders.json", wrong_json_shape)]
    return cases
