"""A result's encoding: the fast path (only contract-supplied parts walked) is `codec.encode`'s."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govchain import codec
from govchain.codec import MAX_DEPTH, CodecError
from govchain.ledger.results import TxResult
from tests.core.test_codec import nested, values

bad_values = st.one_of(st.floats(), st.just(2**64), st.just({1: "int key"}), st.just("\ud800"))
parts = values | bad_values | st.lists(values | bad_values, max_size=3)
emitted = st.builds(lambda kind, attrs: {"type": kind, "attrs": attrs}, st.text(max_size=8), parts)
other_events = st.one_of(
    st.builds(lambda attrs: {"attrs": attrs, "type": "x"}, values),  # keys in another order
    st.builds(lambda kind: {"type": kind, "attrs": {}}, st.integers()),  # a non-text type
    st.dictionaries(st.text(max_size=4), values, max_size=3),
    values,
)


def outcome(encode: Any) -> bytes | str:
    try:
        return bytes(encode())
    except CodecError as exc:
        return exc.reason


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=6) | st.integers(),
    st.text(max_size=6),
    st.lists(emitted | other_events, max_size=3),
    parts,
)
def test_result_encoding_equals_the_full_walk(code: Any, method: str, events: list[Any], data: Any) -> None:
    result = TxResult("notary", method, code, "", events, data)
    assert outcome(result.encode) == outcome(lambda: codec.encode(result.to_value()))


@pytest.mark.parametrize("depth", [MAX_DEPTH - 4, MAX_DEPTH - 3, MAX_DEPTH - 2, MAX_DEPTH - 1])
def test_the_depth_limit_counts_from_the_whole_result(depth: int) -> None:
    for result in (
        TxResult("c", "m", "ok", "", [{"type": "e", "attrs": nested(depth)}], None),
        TxResult("c", "m", "ok", "", [], nested(depth)),
    ):
        assert outcome(result.encode) == outcome(lambda r=result: codec.encode(r.to_value()))
    assert outcome(TxResult("c", "m", "ok", "", [], nested(MAX_DEPTH)).encode) == "too_deep"
