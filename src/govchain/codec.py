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


def _check(value: Value, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise CodecError("too_deep", f"nesting deeper than {MAX_DEPTH}")
    t = type(value)
    if t is bool or value is None or t is str or t is bytes:
        return
    if t is int:
        if not INT_MIN <= value <= INT_MAX:
            raise CodecError("int_range", "integer outside the 64-bit CBOR range")
        return
    if t is list or t is tuple:
        for item in value:
            _check(item, depth + 1)
        return
    if t is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise CodecError("map_key", "map keys must be text strings")
            _check(item, depth + 1)
        return
    raise CodecError("type", f"type {t.__name__} is not part of the encoding")


def encode(value: Value) -> bytes:
    """Encode `value` canonically. Raises CodecError for values outside the data model."""
    _check(value)
    return cbor2.dumps(value, canonical=True)


def decode(data: bytes, max_size: int | None = None) -> Value:
    """Decode canonical bytes; reject anything that is not exactly `encode`'s output."""
    if max_size is not None and len(data) > max_size:
        raise CodecError("too_large", f"{len(data)} bytes exceeds the limit of {max_size}")
    try:
        value = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise CodecError("malformed", f"not valid CBOR: {exc}") from None
    try:
        canonical = encode(value)
    except RecursionError:
        raise CodecError("too_deep", "nesting too deep") from None
    if canonical != data:
        raise CodecError("not_canonical", "CBOR is valid but not in canonical form")
    return value
