"""govchain.codec against RFC 8949 (deterministic encoding, §4.2.1) and an independent reference encoder."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govchain import codec
from govchain.codec import CodecError, decode, encode

INT_MIN = -(2**64)
INT_MAX = 2**64 - 1


# --------------------------------------------------------------------------- reference model


def _head(major: int, n: int) -> bytes:
    """RFC 8949 §3 initial byte + argument, always in the shortest form (§4.2.1)."""
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise AssertionError("argument too large")


def ref_encode(value: Any) -> bytes:
    """A plain transcription of RFC 8949 core deterministic encoding for the restricted model."""
    if value is False:
        return b"\xf4"
    if value is True:
        return b"\xf5"
    if value is None:
        return b"\xf6"
    if type(value) is int:
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if type(value) is bytes:
        return _head(2, len(value)) + value
    if type(value) is str:
        data = value.encode("utf-8")
        return _head(3, len(data)) + data
    if type(value) is list:
        return _head(4, len(value)) + b"".join(ref_encode(v) for v in value)
    if type(value) is dict:
        # §4.2.1: keys sorted by the bytewise lexicographic order of their deterministic encodings.
        pairs = sorted((ref_encode(k), ref_encode(v)) for k, v in value.items())
        return _head(5, len(pairs)) + b"".join(k + v for k, v in pairs)
    raise AssertionError(f"not in the model: {type(value)}")


def same(a: Any, b: Any) -> bool:
    """Equality that also distinguishes bool from int (True == 1 in Python)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


scalars = st.one_of(
    st.integers(min_value=INT_MIN, max_value=INT_MAX),
    st.sampled_from([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, INT_MAX, -1, -24, -25, INT_MIN]),
    st.binary(max_size=40),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=25,
)


def reason(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(CodecError) as info:
        decode(data, **kwargs)
    return info.value.reason


def nested(depth: int, leaf: Any = 0) -> Any:
    v = leaf
    for _ in range(depth):
        v = [v]
    return v


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_and_matches_reference(value: Any) -> None:
    data = encode(value)
    assert data == ref_encode(value)
    assert same(decode(data), value)
    assert encode(value) == data  # deterministic


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=12), scalars, min_size=1, max_size=8), st.randoms(use_true_random=False)
)
def test_map_key_order_is_independent_of_insertion_order(mapping: dict[str, Any], rnd: Any) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    data = encode(mapping)
    assert encode(shuffled) == data
    # The keys appear in the bytewise order of their encodings (RFC 8949 §4.2.1).
    expected_order = sorted(mapping, key=lambda k: ref_encode(k))
    assert list(decode(data)) == expected_order
    assert data == ref_encode(mapping)


@settings(max_examples=200, deadline=None)
@given(values)
def test_decode_accepts_only_the_canonical_form(value: Any) -> None:
    # cbor2's non-canonical encoder keeps insertion order; decode must accept it only if it
    # happens to coincide with the canonical bytes.
    loose = cbor2.dumps(value)
    if loose == ref_encode(value):
        assert same(decode(loose), value)
    else:
        assert reason(loose) == "not_canonical"


@settings(max_examples=100, deadline=None)
@given(values, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_rejected(value: Any, junk: bytes) -> None:
    assert reason(encode(value) + junk) in {"not_canonical", "malformed"}


def test_non_ascii_keys_sort_by_encoded_bytes_not_characters() -> None:
    # "é" is one character but two UTF-8 bytes, so its encoding (62 c3 a9) sorts after "ab" (62 61 62)
    # and after "z" (61 7a).
    assert encode({"é": 1, "ab": 2}) == bytes.fromhex("a26261620262c3a901")
    assert encode({"é": 2, "z": 1}) == bytes.fromhex("a2617a0162c3a902")


# --------------------------------------------------------------------------- RFC 8949 Appendix A


APPENDIX_A = [
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ('"\\', "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}, "a56161614161626142616361436164614461656145"),
]


@pytest.mark.parametrize(("value", "hexdata"), APPENDIX_A)
def test_rfc8949_appendix_a(value: Any, hexdata: str) -> None:
    data = bytes.fromhex(hexdata)
    assert encode(value) == data
    assert same(decode(data), value)


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("hexdata", "expected"),
    [
        # floats (RFC 8949 Appendix A)
        ("f90000", "type"),
        ("f93c00", "type"),
        ("fb3ff199999999999a", "type"),
        ("fa47c35000", "type"),
        # tags
        ("d82063616263", "type"),  # 32(uri) "abc"
        ("c074323031332d30332d32315432303a30343a30305a", "type"),  # 0(date-time)
        ("c11a514b67b0", "type"),  # 1(epoch)
        ("d74401020304", "type"),  # 23(h'01020304')
        # bignums beyond the 64-bit range
        ("c249010000000000000000", "int_range"),  # 2**64
        ("c349010000000000000000", "int_range"),  # -2**64 - 1
        # bignum / self-describe tags around an in-range value: not the canonical form
        ("c24101", "not_canonical"),
        ("d9d9f700", "not_canonical"),
        # simple values other than false/true/null
        ("f7", "type"),  # undefined
        ("f0", "type"),  # simple(16)
        # non-text map keys
        ("a1010203", "map_key"),
        ("a1410102", "map_key"),
        ("a1f401", "map_key"),
        # non-shortest integer / length arguments
        ("1817", "not_canonical"),
        ("190017", "not_canonical"),
        ("1a00000017", "not_canonical"),
        ("1b0000000000000017", "not_canonical"),
        ("3800", "not_canonical"),
        ("580161", "not_canonical"),
        ("78016161", "not_canonical"),
        ("980100", "not_canonical"),
        # indefinite lengths
        ("5f4101ff", "not_canonical"),
        ("5f42010243030405ff", "not_canonical"),
        ("7f657374726561646d696e67ff", "not_canonical"),
        ("9fff", "not_canonical"),
        ("9f018202039f0405ffff", "not_canonical"),
        ("bf61610161629f0203ffff", "not_canonical"),
        # keys out of order
        ("a2616201616102", "not_canonical"),
        ("a2626161016162", "malformed"),  # map missing its last value
        # truncated / invalid
        ("", "malformed"),
        ("1a0000", "malformed"),
        ("62c3", "malformed"),
        ("6180", "malformed"),  # invalid UTF-8
        ("ff", "malformed"),
    ],
)
def test_decode_rejections(hexdata: str, expected: str) -> None:
    assert reason(bytes.fromhex(hexdata)) == expected


def test_duplicate_map_keys_rejected() -> None:
    assert reason(bytes.fromhex("a2616101616102")) in {"not_canonical", "malformed"}
    assert reason(bytes.fromhex("a2616101616101")) in {"not_canonical", "malformed"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "type"),
        ([1, 2.5], "type"),
        ({"a": float("nan")}, "type"),
        ({1: 2}, "map_key"),
        ({b"k": 2}, "map_key"),
        ({"a": {None: 1}}, "map_key"),
        (INT_MAX + 1, "int_range"),
        (INT_MIN - 1, "int_range"),
        ([INT_MAX + 1], "int_range"),
        ({1, 2}, "type"),
        (bytearray(b"x"), "type"),
        (object(), "type"),
    ],
)
def test_encode_rejections(value: Any, expected: str) -> None:
    with pytest.raises(CodecError) as info:
        encode(value)
    assert info.value.reason == expected


def test_integer_range_edges_round_trip() -> None:
    for value in (INT_MIN, INT_MIN + 1, -1, 0, INT_MAX - 1, INT_MAX):
        assert decode(encode(value)) == value
        assert encode(value) == ref_encode(value)


def test_nesting_depth_limit() -> None:
    limit = codec.MAX_DEPTH
    ok = nested(limit)
    assert decode(encode(ok)) == ok
    too_deep = nested(limit + 1)
    with pytest.raises(CodecError) as info:
        encode(too_deep)
    assert info.value.reason == "too_deep"
    # The same nesting arriving as bytes (written by hand, not by encode).
    assert reason(b"\x81" * (limit + 1) + b"\x00") == "too_deep"
    assert reason(b"\xa1\x61a" * (limit + 1) + b"\x00") == "too_deep"
    assert decode(b"\x81" * limit + b"\x00") == ok


def test_very_deep_nesting_reports_too_deep() -> None:
    assert reason(b"\x81" * 1000 + b"\x00") == "too_deep"


def test_max_size() -> None:
    data = encode({"k": b"x" * 100})
    assert decode(data, max_size=len(data)) == {"k": b"x" * 100}
    assert reason(data, max_size=len(data) - 1) == "too_large"
    # The size check comes before parsing: even garbage reports too_large.
    assert reason(b"\xff" * 10, max_size=9) == "too_large"


def test_encode_lone_surrogate_raises_codec_error() -> None:
    with pytest.raises(CodecError):
        encode("\ud800")


@settings(max_examples=200, deadline=None)
@given(values, st.randoms(use_true_random=False))
def test_encoding_twice_with_warm_key_order_cache_agrees_and_leaves_input_alone(value: Any, rnd: Any) -> None:
    # The encoder remembers key orders per map shape and returns canonical containers uncopied:
    # neither may change what is encoded, nor touch the caller's value.
    snapshot = cbor2.dumps(value)
    first = encode(value)
    assert encode(value) == first == ref_encode(value)
    assert cbor2.dumps(value) == snapshot
    wide = {f"k{rnd.randrange(10**6)}-{i}": value for i in range(20)}  # more keys than are remembered
    assert encode(wide) == ref_encode(wide)


def test_a_remembered_key_shape_does_not_admit_other_key_types() -> None:
    assert encode({"a": 1, "b": 2}) == ref_encode({"a": 1, "b": 2})
    for bad in ({1: 1, "b": 2}, {b"a": 1, "b": 2}, {("a",): 1}):
        with pytest.raises(CodecError) as info:
            encode(bad)
        assert info.value.reason == "map_key"
    assert encode([(1, "x"), ({"b": 1, "a": [{"d": 1, "c": 2}]},)]) == ref_encode(
        [[1, "x"], [{"a": [{"c": 2, "d": 1}], "b": 1}]]
    )
