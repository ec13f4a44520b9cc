"""The movie catalogue: titles for ids, and ids for what people type.

:class:`Catalog` wraps a run's or dataset's movie table (``movie_id, title, year, genres``).
It describes ids for display, searches titles for the service's autocomplete, and resolves
what a user typed on the command line (``"Toy Story (1995)"``, ``"the matrix"``, ``2571``)
to one movie id.

Resolution is deliberate about what wins, in this order:

1. a numeric id (or, for a catalogue with string ids, an exact id) that the catalogue holds;
2. an exact title, then the same title ignoring case, punctuation and where MovieLens put
   the article (``"Matrix, The (1999)"`` is ``"The Matrix (1999)"``);
3. the title without its year or leading article (``"Toy Story"``, ``"Matrix"``), when
   exactly one movie has it;
4. a fuzzy match (rapidfuzz) that is both close (score >= 90 of 100) and clearly better
   than the next movie's.

Anything else raises :class:`~movierec.errors.MovierecError` listing the closest candidates
with their ids, so the user can retry with an id. Two movies with the same title are
ambiguous too (MovieLens has a few); the error lists both.

Example:
    >>> import pandas as pd
    >>> catalog = Catalog(pd.DataFrame({
    ...     "movie_id": [1, 2571], "title": ["Toy Story (1995)", "Matrix, The (1999)"],
    ...     "year": [1995, 1999], "genres": ["Animation|Comedy", "Action|Sci-Fi"]}))
    >>> catalog.resolve("the matrix"), catalog.resolve("Toy Storry (1995)"), catalog.resolve("1")
    (2571, 1, 1)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from movierec.errors import MovierecError
from movierec.ids import parse_id

__all__ = ["Catalog", "normalize_title"]

COLUMNS = ("movie_id", "title", "year", "genres")
FUZZY_ACCEPT = 90.0
"""A fuzzy match must score at least this (rapidfuzz, 0-100) to resolve without asking."""
FUZZY_MARGIN = 3.0
"""... and beat the next movie's score by at least this much."""
SEARCH_MIN_SCORE = 60.0
"""Fuzzy search results below this score are left out."""

_ARTICLE = re.compile(r"^(?P<head>.+?), (?P<article>the|a|an|les|la|le|il|el|die|der|das)"
                      r"(?P<tail>\s*(?:\(.*)?)$", re.IGNORECASE)
_YEAR = re.compile(r"\s*\(\d{4}[^()]*\)\s*$")
_NON_WORD = re.compile(r"[^\w]+")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an) ")


def normalize_title(title: str, *, keep_year: bool = True) -> str:
    """A title as people type it: article first, lower case, punctuation as single spaces.

    Example:
        >>> normalize_title("Matrix, The (1999)")
        'the matrix 1999'
        >>> normalize_title("Matrix, The (1999)", keep_year=False)
        'the matrix'
    """
    text = str(title).strip()
    if not keep_year:
        text = _YEAR.sub("", text)
    match = _ARTICLE.match(text)
    if match:
        text = f"{match['article']} {match['head']}{match['tail']}"
    return _NON_WORD.sub(" ", text.casefold()).strip()


def _bare(title: str, *, keep_year: bool) -> str:
    """:func:`normalize_title` without a leading English article ("matrix 1999")."""
    return _LEADING_ARTICLE.sub("", normalize_title(title, keep_year=keep_year))


class Catalog:
    """Titles, years and genres of the movies of a dataset or run.

    Args:
        movies: a frame with ``movie_id`` and ``title`` (``year`` and ``genres`` optional),
            as :class:`movierec.data.Dataset` and :class:`movierec.runs.Run` hold it.
        popularity: optional number of ratings per movie id; search ranks substring matches
            of more-rated movies first when it is given.
    """

    def __init__(self, movies: pd.DataFrame, popularity: pd.Series | None = None) -> None:
        missing = {"movie_id", "title"} - set(movies.columns)
        if missing:
            raise MovierecError(f"the movie table lacks column(s) {sorted(missing)}")
        frame = movies.drop_duplicates("movie_id").reset_index(drop=True)
        frame = pd.DataFrame({
            "movie_id": frame["movie_id"],
            "title": frame["title"].fillna("").astype(str),
            "year": (frame["year"] if "year" in frame else pd.Series(pd.NA, index=frame.index))
            .astype("Int64"),
            "genres": (frame["genres"] if "genres" in frame else pd.Series("", index=frame.index))
            .fillna("").astype(str),
        })
        self._frame = frame
        self._by_id = frame.set_index("movie_id", drop=False)
        self._titles = frame["title"].tolist()
        self._folded = [title.casefold() for title in self._titles]
        self._normal = [normalize_title(title) for title in self._titles]
        self._bare = [_bare(title, keep_year=True) for title in self._titles]
        self._bare_no_year = [_bare(title, keep_year=False) for title in self._titles]
        self._int_ids = pd.api.types.is_integer_dtype(frame["movie_id"])
        counts = np.zeros(len(frame))
        if popularity is not None:
            counts = popularity.reindex(frame["movie_id"]).fillna(0).to_numpy(dtype=float)
        self._popularity = counts

    @property
    def movies(self) -> pd.DataFrame:
        """The catalogue (``movie_id, title, year, genres``), one row per movie (a copy)."""
        return self._frame.copy()

    def __len__(self) -> int:
        return len(self._frame)

    def __contains__(self, movie_id: object) -> bool:
        return self._coerce_id(movie_id) is not None

    # -- describing ----------------------------------------------------------------------

    def describe(self, ids: Iterable[Any]) -> pd.DataFrame:
        """``movie_id, title, year, genres`` for ``ids``, in their order.

        Ids not in the catalogue (a user file given without titles) get an empty title and
        genres and a missing year rather than an error: they are still valid movies.
        """
        ids = list(ids)
        if not ids:
            return self._frame.iloc[0:0].reset_index(drop=True)
        rows = self._by_id.reindex(pd.Index(ids))
        rows["movie_id"] = ids
        rows["title"] = rows["title"].fillna("")
        rows["genres"] = rows["genres"].fillna("")
        return rows.reset_index(drop=True)[list(COLUMNS)]

    # -- searching -----------------------------------------------------------------------

    def search(self, query: str, limit: int = 10) -> pd.DataFrame:
        """Movies whose titles match ``query``, best first, for autocomplete.

        Case-insensitive substring matches come first (titles that start with the query,
        then more-rated movies when popularity is known, then shorter titles), then fuzzy
        matches (rapidfuzz WRatio >= 60) fill the remaining places.

        Returns:
            ``movie_id, title, year, genres, score`` with at most ``limit`` rows; ``score``
            is 100 for substring matches and the fuzzy score (0-100) otherwise.
        """
        if limit < 1:
            raise MovierecError(f"limit must be at least 1, not {limit}")
        text = str(query).strip()
        if not text:
            return self._result([], [])
        needle = text.casefold()
        normal = normalize_title(text)
        hits = [i for i, (folded, norm) in enumerate(zip(self._folded, self._normal,
                                                         strict=True))
                if needle in folded or (normal and normal in norm)]
        hits.sort(key=lambda i: (not (self._folded[i].startswith(needle)
                                      or self._normal[i].startswith(normal)),
                                 -self._popularity[i], len(self._titles[i]), i))
        hits = hits[:limit]
        scores = [100.0] * len(hits)
        if len(hits) < limit and normal:
            taken = set(hits)
            for _, score, i in process.extract(normal, self._normal, scorer=fuzz.WRatio,
                                               limit=limit + len(taken),
                                               score_cutoff=SEARCH_MIN_SCORE):
                if i not in taken and len(hits) < limit:
                    hits.append(i)
                    scores.append(float(score))
        return self._result(hits, scores)

    def _result(self, positions: Sequence[int], scores: Sequence[float]) -> pd.DataFrame:
        frame = self._frame.iloc[list(positions)].reset_index(drop=True)
        frame["score"] = np.asarray(scores, dtype=float)
        return frame

    # -- resolving -----------------------------------------------------------------------

    def resolve(self, title_or_id: Any) -> Any:
        """The movie id for an id or a title, as explained in the module docstring.

        Raises:
            MovierecError: no movie matches well enough, or several match equally well; the
                message lists the closest candidates with their ids.
        """
        movie_id = self._coerce_id(title_or_id)
        if movie_id is not None:
            return movie_id
        text = str(title_or_id).strip()
        if not text:
            raise MovierecError("an empty movie title; give a title or a movie id")
        for candidates in (
            [i for i, title in enumerate(self._titles) if title == text],
            [i for i, folded in enumerate(self._folded) if folded == text.casefold()],
            [i for i, norm in enumerate(self._normal) if norm == normalize_title(text)],
            [i for i, bare in enumerate(self._bare_no_year)
             if bare == _bare(text, keep_year=False) and not _YEAR.search(text)],
        ):
            if len(candidates) == 1:
                return self._id_at(candidates[0])
            if len(candidates) > 1:
                raise MovierecError(
                    f"{text!r} matches {len(candidates)} movies; pass the id instead: "
                    + self._listing(candidates)
                )
        return self._fuzzy(text)

    def _fuzzy(self, text: str) -> Any:
        has_year = bool(_YEAR.search(text))
        query = _bare(text, keep_year=has_year)
        choices = self._bare if has_year else self._bare_no_year
        matches = process.extract(query, choices, scorer=fuzz.ratio, limit=5) if query else []
        if matches:
            best_score = matches[0][1]
            runner_up = matches[1][1] if len(matches) > 1 else 0.0
            if best_score >= FUZZY_ACCEPT and best_score - runner_up >= FUZZY_MARGIN:
                return self._id_at(matches[0][2])
        # Rank by a more forgiving scorer for the hint: partial words, other order.
        hints = process.extract(query, choices, scorer=fuzz.WRatio, limit=5) if query else []
        listing = self._listing([i for _, _, i in hints]) if hints else "(the catalogue is empty)"
        raise MovierecError(
            f"no movie matches {text!r} closely enough; closest: {listing}. "
            "Use the exact title or the movie id"
        )

    def _listing(self, positions: Sequence[int]) -> str:
        return "; ".join(f"{self._titles[i]} [id {self._id_at(i)}]" for i in positions)

    def _id_at(self, position: int) -> Any:
        value = self._frame["movie_id"].iloc[position]
        return value.item() if isinstance(value, np.generic) else value

    def _coerce_id(self, value: Any) -> Any:
        """``value`` as a catalogue id if it names one (:func:`movierec.ids.parse_id`), else
        None."""
        candidate = parse_id(value, "int" if self._int_ids else "str")
        return candidate if candidate is not None and candidate in self._by_id.index else None
