"""The one canonical byte encoding: deterministic CBOR (RFC 8949 §4.2.1), restricted.

Everything that is hashed or signed goes through `encode`, and everything that
arrives from outside goes through `decode`, which accepts only bytes that
`encode` would have produced. Two peers therefore never disagree about the bytes
behind a hash.

The allowed data model is deliberately small (docs/protocol.md, "Encoding"):
- integers in [-2**64, 2**64 - 1] (no bignum tags),
- byte strings, UTF-8 text strings, booleans, null,
- arrays, and maps whose keys are all text strings.
No floats, no tags, no undefined, no indefinite lengths. With text-only keys,
cbor2's canonical key order (shorter first, then bytewise) equals RFC 8949's
bytewise order of the encoded keys.
"""

from __future__ import annotations

from collections.abc import Collection
from itertools import islice
from typing import Any

import cbor2

INT_MIN = -(2**64)
INT_MAX = 2**64 - 1
MAX_DEPTH = 32

Value = Any
"""A value of the restricted data model (int, bytes, str, bool, None, list, dict[str, ...])."""


class CodecError(ValueError):
    """Input is not canonical govchain CBOR. `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _key_order(key: str) -> tuple[int, bytes]:
    encoded = key.encode()
    return len(encoded), encoded


_ORDERS: dict[tuple[str, ...], tuple[str, ...] | None] = {}
"""Key tuples seen before -> their canonical order (None: already canonical). A chain's maps
come in a few shapes, so sorting each shape once saves most of the encoding cost."""
_ORDERS_MAX = 4096
_ORDERS_KEYS = 16  # larger maps (rare, and possibly hostile input) are sorted every time


_UNSEEN: Any = object()


def _order(keys: tuple[Any, ...]) -> tuple[str, ...] | None:
    """The canonical order of a map's keys, or None when they are in it already.

    Only all-text key tuples are remembered, so a tuple with any other key never
    matches one and is always checked.
    """
    seen = _ORDERS.get(keys, _UNSEEN)
    if seen is not _UNSEEN:
        return seen  # type: ignore[no-any-return]
    for key in keys:
        if type(key) is not str:
            raise CodecError("map_key", "map keys must be text strings")
    ordered = tuple(sorted(keys, key=_key_order))
    found = None if ordered == keys else ordered
    if len(keys) <= _ORDERS_KEYS:
        if len(_ORDERS) >= _ORDERS_MAX:
            _ORDERS.clear()
        _ORDERS[keys] = found
    return found


def _canonical(value: Value, depth: int = 0) -> Value:
    """Check a value against the data model and return it with every map in canonical key order.

    With text-only keys, RFC 8949 §4.2.1's order (bytewise over the encoded keys) is
    "shorter UTF-8 first, then bytewise". cbor2 keeps a dict's insertion order when not
    asked to sort, so a plain dump of the result is the canonical encoding, at a fraction
    of the cost of cbor2's own canonical mode. A container that is canonical already is
    returned as it is (no copy): the common case for decoded input, and for the maps the
    ledger builds in canonical order.
    """
    t = type(value)
    if t is dict:
        keys = tuple(value)
        order = _order(keys)
        if depth >= MAX_DEPTH:
            raise CodecError("too_deep", f"nesting deeper than {MAX_DEPTH}")
        if order is None:
            changed = _canonical_items(value.values(), depth)
            return value if changed is None else dict(zip(keys, changed, strict=True))
        items = [value[key] for key in order]
        changed = _canonical_items(items, depth)
        return dict(zip(order, items if changed is None else changed, strict=True))
    if t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise CodecError("too_deep", f"nesting deeper than {MAX_DEPTH}")
        changed = _canonical_items(value, depth)
        return value if changed is None else changed
    if t is str or t is bytes or t is bool or value is None or t is int:
        _canonical_items((value,), depth)  # checks an integer's range
        return value
    raise CodecError("type", f"type {t.__name__} is not part of the encoding")


def _canonical_items(items: Collection[Value], depth: int) -> list[Value] | None:
    """The items in canonical form, or None if every one already is (then no copy is needed).

    One pass: each nested container is checked, and copied if need be, exactly once. Scalars
    are checked inline: a function call per item would cost more than the check.
    """
    out: list[Value] | None = None
    for index, item in enumerate(items):
        t = type(item)
        if t is str or t is bytes or t is bool or item is None:
            canonical = item
        elif t is int:
            if not INT_MIN <= item <= INT_MAX:
                raise CodecError("int_range", "integer outside the 64-bit CBOR range")
            canonical = item
        else:
            canonical = _canonical(item, depth + 1)
        if out is not None:
            out.append(canonical)
        elif canonical is not item:
            out = [*islice(items, index), canonical]
    return out


def encode(value: Value) -> bytes:
    """Encode `value` canonically. Raises CodecError for values outside the data model."""
    return encode_unchecked(_canonical(value))


def encode_unchecked(value: Value) -> bytes:
    """Encode a value the ledger built itself from already-checked parts (skips the type walk).

    The bytes are the same as `encode`'s provided the value holds no maps with more
    than one key, or its maps are already in canonical order (e.g. a list of byte
    strings, or the two-entry envelope map built in canonical order), and every part
    built from outside input went through `canonical`.
    """
    try:
        return cbor2.dumps(value)
    except (UnicodeEncodeError, cbor2.CBOREncodeError) as exc:  # e.g. a lone surrogate in a text string
        raise CodecError("type", f"cannot encode: {exc}") from None


def canonical(value: Value, depth: int = 0) -> Value:
    """`value` checked against the data model, with every map in canonical order (copied only
    where needed), for use as a part of a larger value encoded with `encode_unchecked`.

    `depth` is the part's nesting depth inside that larger value, so the depth limit is
    the same as if `encode` walked the whole value.
    """
    return _canonical(value, depth)


def decode_stored(data: bytes) -> Value:
    """Decode bytes this ledger wrote itself with `encode` (e.g. a state value read back).

    Skips `decode`'s canonical re-check, which for trusted bytes can only ever pass.
    Never use it on bytes that arrived from outside.
    """
    return cbor2.loads(data)


def decode(data: bytes, max_size: int | None = None) -> Value:
    """Decode canonical bytes; reject anything that is not exactly `encode`'s output."""
    if max_size is not None and len(data) > max_size:
        raise CodecError("too_large", f"{len(data)} bytes exceeds the limit of {max_size}")
    try:
        value = cbor2.loads(data)
    except RecursionError:
        raise CodecError("too_deep", "nesting too deep") from None
    except Exception as exc:  # cbor2 raises several types for malformed input
        if "depth" in str(exc).lower() or "recursion" in str(exc).lower():
            raise CodecError("too_deep", "nesting too deep") from None
        raise CodecError("malformed", f"not valid CBOR: {exc}") from None
    try:
        canonical = encode(value)
    except RecursionError:
        raise CodecError("too_deep", "nesting too deep") from None
    if canonical != data:
        raise CodecError("not_canonical", "CBOR is valid but not in canonical form")
    return value
