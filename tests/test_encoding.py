"""IdEncoder and Encoders: sorted contiguous indices, unknown-id policy, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from movierec.encoding import Encoders, IdEncoder
from movierec.errors import DataError, UnknownIdError

int_ids = st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50)
str_ids = st.lists(st.text(max_size=8), min_size=1, max_size=50)
any_ids = int_ids | str_ids


def json_round_trip(encoder: IdEncoder) -> IdEncoder:
    return IdEncoder.from_json(json.loads(json.dumps(encoder.to_json())))


def test_indices_are_contiguous_in_sorted_id_order():
    encoder = IdEncoder.fit([30, 10, 20, 10, 30])
    assert len(encoder) == 3
    assert encoder.kind == "int"
    codes = encoder.transform([10, 20, 30, 30])
    assert codes.dtype == np.int32
    assert codes.tolist() == [0, 1, 2, 2]


def test_string_ids_sort_as_strings():
    encoder = IdEncoder.fit(pd.Series(["b", "a", "10", "2"]))
    assert encoder.kind == "str"
    assert encoder.inverse([0, 1, 2, 3]).tolist() == ["10", "2", "a", "b"]
    assert encoder.transform(["a", "10"]).tolist() == [2, 0]


def test_unknown_ids_raise_with_the_ids_and_their_count():
    encoder = IdEncoder.fit([1, 2, 3])
    with pytest.raises(UnknownIdError) as caught:
        encoder.transform([1, 7, 8, 9, 10, 11, 12, 7])
    message = str(caught.value)
    assert message.startswith("6 unknown ids: 7, 8, 9, 10, 11, ...")
    assert "12" not in message


def test_one_unknown_id_is_named_in_the_singular():
    with pytest.raises(UnknownIdError, match=r"^1 unknown id: 'x'"):
        IdEncoder.fit(["a"]).transform(["a", "x"])


def test_unknown_ids_are_masked_on_request():
    encoder = IdEncoder.fit(np.array([5, 3, 9]))
    assert encoder.transform(np.array([3, 4, 9, 100]), unknown="mask").tolist() == [0, -1, 2, -1]
    assert encoder.transform([3, "3", 4.5], unknown="mask").tolist() == [0, -1, -1]


def test_int_and_str_ids_never_match_each_other():
    ints, strs = IdEncoder.fit([1, 2]), IdEncoder.fit(["1", "2"])
    assert 1 in ints and "1" not in ints
    assert "1" in strs and 1 not in strs


def test_unknown_policy_is_checked():
    with pytest.raises(ValueError, match="unknown must be"):
        IdEncoder.fit([1]).transform([1], unknown="ignore")  # type: ignore[arg-type]


def test_inverse_rejects_indices_out_of_range():
    encoder = IdEncoder.fit([1, 2])
    with pytest.raises(IndexError):
        encoder.inverse([2])
    with pytest.raises(IndexError):
        encoder.inverse([-1])
    assert encoder.inverse(np.array([], dtype=np.int32)).tolist() == []


def test_integral_float_ids_become_ints():
    encoder = IdEncoder.fit(pd.Series([2.0, 1.0]))
    assert encoder.kind == "int"
    assert encoder.to_json() == {"kind": "int", "ids": [1, 2]}


@pytest.mark.parametrize("ids", [[1, "a"], [1.5, 2.0], [1.0, np.nan], [], [True, False]])
def test_ids_must_be_all_ints_or_all_strings(ids):
    with pytest.raises(DataError):
        IdEncoder.fit(ids)


def test_json_keeps_int_and_str_ids_apart():
    assert json_round_trip(IdEncoder.fit([1, 2])).inverse([0]).tolist() == [1]
    assert json_round_trip(IdEncoder.fit(["1", "2"])).inverse([0]).tolist() == ["1"]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "float", "ids": [1.5]},
        {"kind": "int", "ids": ["a"]},
        {"kind": "int", "ids": [2, 1]},
        {"kind": "str", "ids": ["a", "a"]},
        {"kind": "int", "ids": []},
    ],
)
def test_malformed_json_is_a_data_error(data):
    with pytest.raises(DataError):
        IdEncoder.from_json(data)


def test_encoders_encode_user_and_movie_pairs(ratings):
    encoders = Encoders.fit(ratings)
    pairs = encoders.encode(ratings)
    assert pairs.dtype == np.int32
    assert pairs.shape == (len(ratings), 2)
    assert len(encoders.users) == ratings["user_id"].nunique()
    assert len(encoders.movies) == ratings["movie_id"].nunique()
    assert (encoders.users.inverse(pairs[:, 0]) == ratings["user_id"].to_numpy()).all()
    assert (encoders.movies.inverse(pairs[:, 1]) == ratings["movie_id"].to_numpy()).all()


def test_encoders_name_what_is_unknown(ratings):
    encoders = Encoders.fit(ratings)
    new = pd.DataFrame({"user_id": [1, 9999], "movie_id": [1, 1]})
    with pytest.raises(UnknownIdError, match="1 unknown user id: 9999"):
        encoders.encode(new)
    assert encoders.encode(new, unknown="mask").tolist() == [[0, 0], [-1, 0]]


def test_encoders_json_round_trip(ratings):
    encoders = Encoders.fit(ratings)
    loaded = Encoders.from_json(json.loads(json.dumps(encoders.to_json())))
    assert loaded == encoders
    assert (loaded.encode(ratings) == encoders.encode(ratings)).all()


def test_encoders_json_needs_both_vocabularies():
    with pytest.raises(DataError):
        Encoders.from_json({"users": {"kind": "int", "ids": [1]}})


@given(any_ids)
def test_transform_gives_contiguous_indices_in_sorted_order(ids):
    encoder = IdEncoder.fit(ids)
    assert len(encoder) == len(set(ids))
    assert encoder.transform(sorted(set(ids))).tolist() == list(range(len(encoder)))


@given(any_ids)
def test_inverse_of_transform_is_identity(ids):
    encoder = IdEncoder.fit(ids)
    assert encoder.inverse(encoder.transform(ids)).tolist() == ids


@given(any_ids, any_ids)
def test_json_round_trip_maps_identically(fitted, queried):
    encoder = IdEncoder.fit(fitted)
    loaded = json_round_trip(encoder)
    assert loaded == encoder
    assert loaded.kind == encoder.kind
    assert (loaded.transform(queried, unknown="mask")
            == encoder.transform(queried, unknown="mask")).all()
    assert [type(value) for value in loaded.to_json()["ids"]] == [
        type(value) for value in encoder.to_json()["ids"]]


@given(int_ids, int_ids)
def test_masked_exactly_where_unknown(fitted, queried):
    encoder = IdEncoder.fit(fitted)
    codes = encoder.transform(np.array(queried, dtype=np.int64), unknown="mask")
    assert ((codes == -1) == [value not in set(fitted) for value in queried]).all()


def test_index_of_matches_transform_for_one_id() -> None:
    import numpy as np

    from movierec.encoding import IdEncoder

    ints = IdEncoder.fit([5, 3, 9])
    assert [ints.index_of(x) for x in (3, 5, 9, np.int64(9), 4)] == [0, 1, 2, 2, -1]
    assert ints.index_of(True) == -1 and ints.index_of("3") == -1
    strs = IdEncoder.fit(["b", "a"])
    assert (strs.index_of("a"), strs.index_of("b"), strs.index_of(1)) == (0, 1, -1)
