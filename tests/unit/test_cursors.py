"""List cursors: bound to their list, and any tampered or foreign cursor is an invalid request, never a crash."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.adapters.dynamodb import cursor
from billing.domain.errors import InvalidRequest


def test_cursor_round_trips_and_is_bound_to_its_list() -> None:
    # Given a cursor of one list
    token = cursor.encode("2026-11-25T09:00:00.000000Z#pln_1", "list-a")
    # Then it decodes for that list, and is refused for another
    assert cursor.decode(token, "list-a") == "2026-11-25T09:00:00.000000Z#pln_1"
    with pytest.raises(InvalidRequest):
        cursor.decode(token, "list-b")


@given(st.text(max_size=200))
def test_tampered_cursors_are_invalid_requests_never_crashes(garbage: str) -> None:
    # When any text is given as a cursor, Then it decodes or is an invalid request naming the cursor, never a crash
    try:
        cursor.decode(garbage, "list-a")
    except InvalidRequest as error:
        assert error.param == "cursor"


def test_cursor_with_wrong_shape_inside_is_invalid() -> None:
    # When a well-encoded cursor holds the wrong shape, Then it is an invalid request
    token = base64.urlsafe_b64encode(json.dumps({"v": 1, "l": "list-a", "a": 5}).encode()).decode()
    with pytest.raises(InvalidRequest):
        cursor.decode(token, "list-a")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["v", "l", "a", "x"]), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON)
def test_a_cursor_of_any_json_shape_is_an_invalid_request_never_a_crash(value: object) -> None:
    # Given any JSON value (a cursor without its list, a list, a number...) encoded as a cursor
    token = base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    # When it is decoded, Then it is a position only if it is one of ours; anything else is a 400
    try:
        cursor.decode(token, "list-a")
    except InvalidRequest as error:
        assert error.param == "cursor"


def test_a_cursor_without_its_list_is_an_invalid_request() -> None:
    token = base64.urlsafe_b64encode(json.dumps({"v": 1, "a": "2026-11-25T09:00:00.000000Z#pln_1"}).encode()).decode()
    with pytest.raises(InvalidRequest):
        cursor.decode(token, "list-a")
