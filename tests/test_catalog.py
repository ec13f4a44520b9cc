"""Catalog: describing ids, searching titles, resolving what people type."""

from __future__ import annotations

import pandas as pd
import pytest

from movierec.catalog import Catalog, normalize_title
from movierec.errors import MovierecError


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    movies = pd.DataFrame({
        "movie_id": [1, 2, 3114, 2571, 6365, 838, 26958, 1411, 1941, 260, 2628, 318, 2012],
        "title": ["Toy Story (1995)", "Jumanji (1995)", "Toy Story 2 (1999)",
                  "Matrix, The (1999)", "Matrix Reloaded, The (2003)", "Emma (1996)",
                  "Emma (1996)", "Hamlet (1996)", "Hamlet (1948)",
                  "Star Wars: Episode IV - A New Hope (1977)",
                  "Star Wars: Episode I - The Phantom Menace (1999)",
                  "Shawshank Redemption, The (1994)", "Back to the Future Part III (1990)"],
        "year": pd.array([1995, 1995, 1999, 1999, 2003, 1996, 1996, 1996, 1948, 1977, 1999,
                          1994, 1990], dtype="Int64"),
        "genres": ["Animation|Children", "Adventure", "Animation", "Action|Sci-Fi",
                   "Action|Sci-Fi", "Comedy", "Romance", "Drama", "Drama", "Sci-Fi",
                   "Sci-Fi", "Drama", "Comedy"],
    })
    popularity = pd.Series({260: 250, 2628: 100, 1: 200, 3114: 80})
    return Catalog(movies, popularity=popularity)


def test_normalize_title_moves_the_article_and_drops_punctuation() -> None:
    assert normalize_title("Matrix, The (1999)") == "the matrix 1999"
    assert normalize_title("Matrix, The (1999)", keep_year=False) == "the matrix"
    assert normalize_title("  Toy Story: Part 2!  ") == "toy story part 2"


@pytest.mark.parametrize(("typed", "expected"), [
    ("Toy Story (1995)", 1),            # exact title
    ("toy story (1995)", 1),            # case
    ("1", 1),                           # numeric id as text
    (2571, 2571),                       # numeric id
    ("The Matrix (1999)", 2571),        # article moved
    ("the matrix", 2571),               # no year
    ("Matrix", 2571),                   # no year, no article
    ("Toy Story", 1),                   # unique without year, though "Toy Story 2" exists
    ("Toy Story 2", 3114),
    ("Toy Storry (1995)", 1),           # typo, fuzzy
    ("Shawshank Redemtion", 318),       # typo without year or article
    ("2012", 2012),                     # an id wins over a title that looks like it
])
def test_resolve(catalog: Catalog, typed, expected) -> None:
    assert catalog.resolve(typed) == expected


def test_resolve_returns_plain_python_ids(catalog: Catalog) -> None:
    assert type(catalog.resolve("Jumanji (1995)")) is int


def test_resolve_duplicate_title_is_ambiguous_and_lists_ids(catalog: Catalog) -> None:
    with pytest.raises(MovierecError, match=r"matches 2 movies") as info:
        catalog.resolve("Emma (1996)")
    assert "838" in str(info.value) and "26958" in str(info.value)


def test_resolve_title_shared_by_remakes_is_ambiguous(catalog: Catalog) -> None:
    with pytest.raises(MovierecError, match=r"Hamlet \(1996\) \[id 1411\]"):
        catalog.resolve("Hamlet")


def test_resolve_no_good_match_lists_closest_candidates(catalog: Catalog) -> None:
    with pytest.raises(MovierecError, match="closest") as info:
        catalog.resolve("Star Wars")
    message = str(info.value)
    assert "Star Wars: Episode IV - A New Hope (1977) [id 260]" in message
    assert "Star Wars: Episode I - The Phantom Menace (1999) [id 2628]" in message


def test_resolve_unknown_numeric_id_is_not_silently_a_title(catalog: Catalog) -> None:
    with pytest.raises(MovierecError, match="no movie matches '999999'"):
        catalog.resolve("999999")


def test_resolve_empty_text(catalog: Catalog) -> None:
    with pytest.raises(MovierecError, match="empty"):
        catalog.resolve("  ")


def test_search_puts_substring_matches_first_by_popularity(catalog: Catalog) -> None:
    found = catalog.search("star wars", limit=5)
    assert found["movie_id"].tolist()[:2] == [260, 2628]  # 260 is rated more
    assert (found["score"].iloc[:2] == 100).all()
    assert list(found.columns) == ["movie_id", "title", "year", "genres", "score"]


def test_search_prefix_beats_popularity(catalog: Catalog) -> None:
    assert catalog.search("toy story", limit=2)["movie_id"].tolist() == [1, 3114]


def test_search_falls_back_to_fuzzy_and_respects_limit(catalog: Catalog) -> None:
    found = catalog.search("jumanjii", limit=3)
    assert found["movie_id"].iloc[0] == 2
    assert found["score"].iloc[0] < 100
    assert len(catalog.search("a", limit=3)) == 3


def test_search_is_case_insensitive_and_handles_empty_query(catalog: Catalog) -> None:
    assert catalog.search("MATRIX", 10)["movie_id"].tolist()[:2] == [2571, 6365]
    assert catalog.search("", 10).empty
    with pytest.raises(MovierecError, match="limit"):
        catalog.search("x", 0)


def test_describe_keeps_order_and_tolerates_unknown_ids(catalog: Catalog) -> None:
    described = catalog.describe([2571, 424242, 1])
    assert described["movie_id"].tolist() == [2571, 424242, 1]
    assert described["title"].tolist() == ["Matrix, The (1999)", "", "Toy Story (1995)"]
    assert described["year"].iloc[0] == 1999 and pd.isna(described["year"].iloc[1])
    assert list(described.columns) == ["movie_id", "title", "year", "genres"]
    assert catalog.describe([]).empty


def test_string_id_catalog() -> None:
    catalog = Catalog(pd.DataFrame({"movie_id": ["tt01", "tt02"],
                                    "title": ["Alpha (2001)", "Beta (2002)"]}))
    assert catalog.resolve("tt02") == "tt02"
    assert catalog.resolve("alpha") == "tt01"
    assert "tt01" in catalog and "tt03" not in catalog
    assert catalog.describe(["tt02"])["genres"].tolist() == [""]
