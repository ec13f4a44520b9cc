"""One id rule everywhere: the CLI's path and the service's path read every text alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import train_tiny_run
from hypothesis import given, settings
from hypothesis import strategies as st

from movierec.errors import UnknownIdError
from movierec.ids import parse_id


@pytest.mark.parametrize(("raw", "expected"), [
    ("68", 68), (" +68\n", 68), ("-3", -3), ("007", 7), (68, 68), ("٦٨", None), ("²", None),
    ("6_8", None), ("6.8", None), ("--5", None), ("", None), (True, None), (6.0, None),
    ("9" * 19, None), ("0" * 30 + "1", 1),
])
def test_integer_ids(raw, expected) -> None:
    assert parse_id(raw, "int") == expected


def test_string_ids_are_taken_as_given() -> None:
    assert parse_id(" a", "str") == " a" and parse_id(68, "str") == "68"
    assert parse_id(None, "str") is None and parse_id(False, "str") is None


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory):
    from movierec.recommend import Recommender
    from movierec.runs import load_run
    from movierec.service.app import _load

    run_dir = train_tiny_run(Path(tmp_path_factory.mktemp("ids")) / "run")
    rec = Recommender.from_run(load_run(run_dir))
    state = _load(rec)
    return rec, state


def _service_user(state, text: str):
    try:
        return state.user_id(text)
    except UnknownIdError:
        return None


def _cli_user(rec, text: str):
    if not rec.knows_user(text):
        return None
    return int(rec.encoders.users.inverse(rec.user_indices([text]))[0])


_id_text = st.one_of(
    st.text(),
    st.from_regex(r"\s*[+\-]?[0-9٠-٩０-９²]{1,4}\s*", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(text=_id_text)
def test_cli_and_service_agree_on_every_user_id(paths, text: str) -> None:
    rec, state = paths
    assert _cli_user(rec, text) == _service_user(state, text)
    catalog_id = rec.catalog.resolve(text) if text.strip() and parse_id(text, "int") in \
        rec.catalog else None
    assert catalog_id == parse_id(text, "int") or catalog_id is None
