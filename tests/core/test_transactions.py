"""Transaction envelopes: signing, decoding, ids, and every admission rejection code."""

from __future__ import annotations

import dataclasses
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govchain import codec
from govchain.crypto import KeyPair, Suite, get_suite
from govchain.ledger import errors
from govchain.ledger.errors import TxRejected
from govchain.ledger.transactions import (
    MAX_NONCE,
    MIN_NONCE,
    TX_DOMAIN,
    TxBody,
    check_tx_context,
    decode_tx,
    decode_tx_checked,
    new_nonce,
    sender_address,
    sign_tx,
)
from tests.core.test_codec import values

CHAIN = "test-chain"
T0 = 1_700_000_000_000
TTL = 24 * 3600 * 1000
LIMIT = 1 << 20
HEADER_DOMAIN = b"govchain-header\x00"
MAX_NAME = 64  # names: 1..64 ASCII letters, digits, ".", "_" or "-", starting alphanumeric
NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)

_KEYS: dict[str, KeyPair] = {}


@pytest.fixture(params=["intl", "gm"])
def suite(request: pytest.FixtureRequest) -> Suite:
    return get_suite(request.param)


def keys(suite: Suite) -> KeyPair:
    if suite.name not in _KEYS:
        _KEYS[suite.name] = suite.generate_keypair()
    return _KEYS[suite.name]


def make_body(kp: KeyPair, **changes: Any) -> TxBody:
    body = TxBody(
        chain=CHAIN,
        sender=kp.public,
        contract="notary",
        method="anchor",
        args={"digest": bytes(range(32)), "meta": {"name": "a.txt"}},
        nonce=b"\x01" * 16,
        expiry=T0 + 60_000,
    )
    return dataclasses.replace(body, **changes)


def body_value(kp: KeyPair, **changes: Any) -> dict[str, Any]:
    """The body map written out field by field (not via TxBody.to_value)."""
    value: dict[str, Any] = {
        "v": 1,
        "chain": CHAIN,
        "from": kp.public,
        "contract": "notary",
        "method": "anchor",
        "args": {"digest": bytes(range(32))},
        "nonce": b"\x02" * 16,
        "expiry": T0 + 60_000,
    }
    for key, item in changes.items():
        if item is _DROP:
            del value[key]
        else:
            value[key] = item
    return value


_DROP = object()


def envelope(body: dict[str, Any] | bytes, sig: Any = b"\x00" * 64, **extra: Any) -> bytes:
    body_bytes = body if isinstance(body, bytes) else codec.encode(body)
    return codec.encode({"body": body_bytes, "sig": sig, **extra})


def code_of(suite: Suite, raw: bytes, max_size: int = LIMIT) -> str:
    with pytest.raises(TxRejected) as info:
        decode_tx(suite, raw, max_size)
    return info.value.code


# --------------------------------------------------------------------------- round trip


def test_sign_and_decode_round_trip(suite: Suite) -> None:
    kp = keys(suite)
    body = make_body(kp)
    tx = sign_tx(suite, kp.private, body)

    expected_body = {
        "v": 1,
        "chain": CHAIN,
        "from": kp.public,
        "contract": "notary",
        "method": "anchor",
        "args": {"digest": bytes(range(32)), "meta": {"name": "a.txt"}},
        "nonce": b"\x01" * 16,
        "expiry": T0 + 60_000,
    }
    assert tx.body_bytes == codec.encode(expected_body)
    assert codec.decode(tx.raw) == {"body": tx.body_bytes, "sig": tx.signature}
    assert len(tx.signature) == 64
    assert tx.id == suite.hash(tx.body_bytes)
    assert tx.signing_input() == TX_DOMAIN + tx.body_bytes
    assert suite.verify(kp.public, TX_DOMAIN + tx.body_bytes, tx.signature)

    decoded = decode_tx(suite, tx.raw, LIMIT)
    assert decoded.body == body
    assert decoded.body_bytes == tx.body_bytes
    assert decoded.signature == tx.signature
    assert decoded.raw == tx.raw
    assert decoded.id == tx.id == suite.hash(tx.body_bytes)
    assert suite.verify(decoded.body.sender, decoded.signing_input(), decoded.signature)


def test_id_covers_body_only(suite: Suite) -> None:
    kp = keys(suite)
    body = make_body(kp)
    a = sign_tx(suite, kp.private, body)
    b = sign_tx(suite, kp.private, body)
    assert a.id == b.id  # a new signature over the same body is the same transaction
    c = sign_tx(suite, kp.private, dataclasses.replace(body, nonce=b"\x03" * 16))
    assert c.id != a.id


def test_signature_does_not_verify_another_body(suite: Suite) -> None:
    kp = keys(suite)
    tx = sign_tx(suite, kp.private, make_body(kp))
    digest = bytearray(bytes(range(32)))
    digest[5] ^= 0x01
    other = make_body(kp, args={"digest": bytes(digest), "meta": {"name": "a.txt"}})
    forged_raw = envelope(codec.encode(other.to_value()), tx.signature)
    forged = decode_tx(suite, forged_raw, LIMIT)  # structurally fine: decode does not verify
    assert forged.id != tx.id
    assert not suite.verify(kp.public, forged.signing_input(), forged.signature)
    # Domain separation: the signature is over TX_DOMAIN || body only.
    assert not suite.verify(kp.public, tx.body_bytes, tx.signature)
    assert not suite.verify(kp.public, HEADER_DOMAIN + tx.body_bytes, tx.signature)
    # Another key does not verify it either.
    assert not suite.verify(suite.generate_keypair().public, tx.signing_input(), tx.signature)


@settings(max_examples=40, deadline=None)
@given(
    args=st.dictionaries(
        st.text(max_size=6),
        st.one_of(st.integers(-(2**63), 2**63), st.binary(max_size=40), st.text(max_size=10), st.none()),
        max_size=4,
    ),
    nonce=st.binary(min_size=MIN_NONCE, max_size=MAX_NONCE),
    expiry=st.integers(min_value=0, max_value=2**63),
    name=NAMES,
)
def test_round_trip_property(args: dict[str, Any], nonce: bytes, expiry: int, name: str) -> None:
    suite = get_suite("intl")
    kp = keys(suite)
    body = TxBody(name, kp.public, name, name, args, nonce, expiry)
    tx = sign_tx(suite, kp.private, body)
    decoded = decode_tx(suite, tx.raw, LIMIT)
    assert decoded.body == body
    assert decoded.id == suite.hash(codec.encode(body.to_value()))
    assert suite.verify(kp.public, decoded.signing_input(), decoded.signature)


def test_new_nonce_is_valid_and_fresh() -> None:
    a, b = new_nonce(), new_nonce()
    assert MIN_NONCE <= len(a) <= MAX_NONCE
    assert a != b


def test_sender_address(suite: Suite) -> None:
    kp = keys(suite)
    assert sender_address(suite, kp.public) == suite.hash(kp.public)[:20].hex()


# --------------------------------------------------------------------------- decode_tx rejections


def test_too_large(suite: Suite) -> None:
    kp = keys(suite)
    raw = sign_tx(suite, kp.private, make_body(kp)).raw
    assert decode_tx(suite, raw, len(raw)).raw == raw
    assert code_of(suite, raw, len(raw) - 1) == errors.TOO_LARGE
    assert code_of(suite, b"\xff" * 100, 99) == errors.TOO_LARGE


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"junk",
        b"\xff",
        bytes.fromhex("a2616101"),  # truncated map
        codec.encode([b"body", b"\x00" * 64]),  # envelope not a map
        codec.encode(b"body"),
        codec.encode({"body": b"x"}),  # missing sig
        codec.encode({"sig": b"\x00" * 64}),  # missing body
        codec.encode({"body": b"x", "sig": b"\x00" * 64, "extra": 1}),  # extra key
        codec.encode({"body": "text", "sig": b"\x00" * 64}),  # body not bytes
        codec.encode({"body": b"\xa0", "sig": "s" * 64}),  # sig not bytes
        codec.encode({"body": b"\xff", "sig": b"\x00" * 64}),  # body not CBOR
        codec.encode({"body": b"", "sig": b"\x00" * 64}),  # body empty
        codec.encode({"body": codec.encode([1, 2]), "sig": b"\x00" * 64}),  # body not a map
        codec.encode({"body": codec.encode(b"x"), "sig": b"\x00" * 64}),
    ],
)
def test_malformed(suite: Suite, raw: bytes) -> None:
    assert code_of(suite, raw) == errors.MALFORMED


def test_not_canonical_envelope(suite: Suite) -> None:
    kp = keys(suite)
    tx = sign_tx(suite, kp.private, make_body(kp))
    # Canonical order puts "sig" (3 bytes) before "body" (4 bytes); write it the other way round.
    loose = cbor2.dumps({"body": tx.body_bytes, "sig": tx.signature}, canonical=False)
    assert loose != tx.raw
    assert code_of(suite, loose) == errors.NOT_CANONICAL
    # Same content but the body's byte-string length in a longer form than necessary.
    n = len(tx.body_bytes)
    assert n < 65536
    long_head = b"\xa2" + codec.encode("sig") + codec.encode(tx.signature) + codec.encode("body")
    long_head += b"\x5a" + n.to_bytes(4, "big") + tx.body_bytes
    assert code_of(suite, long_head) == errors.NOT_CANONICAL


def test_not_canonical_body(suite: Suite) -> None:
    kp = keys(suite)
    value = body_value(kp)
    loose_body = cbor2.dumps(value, canonical=False)  # insertion order, not canonical order
    assert loose_body != codec.encode(value)
    assert code_of(suite, envelope(loose_body)) == errors.NOT_CANONICAL
    # Sanity: the canonical body with the same fields is accepted.
    assert decode_tx(suite, envelope(value), LIMIT).body.args == value["args"]


@pytest.mark.parametrize("size", [0, 63, 65, 128])
def test_invalid_sig_size(suite: Suite, size: int) -> None:
    kp = keys(suite)
    assert code_of(suite, envelope(body_value(kp), b"\x01" * size)) == errors.INVALID_FIELD


def _invalid_cases(kp: KeyPair) -> list[dict[str, Any]]:
    return [
        body_value(kp, **{"from": kp.public[:64]}),
        body_value(kp, **{"from": kp.public + b"\x00"}),
        body_value(kp, **{"from": kp.public.hex()}),
        body_value(kp, **{"from": _DROP}),
        body_value(kp, nonce=b"\x00" * (MIN_NONCE - 1)),
        body_value(kp, nonce=b"\x00" * (MAX_NONCE + 1)),
        body_value(kp, nonce="n" * 16),
        body_value(kp, nonce=_DROP),
        body_value(kp, contract=""),
        body_value(kp, contract="c" * (MAX_NAME + 1)),
        body_value(kp, contract=b"notary"),
        body_value(kp, contract=_DROP),
        body_value(kp, method=""),
        body_value(kp, method="m" * (MAX_NAME + 1)),
        body_value(kp, method=7),
        body_value(kp, chain=""),
        body_value(kp, chain="c" * (MAX_NAME + 1)),
        body_value(kp, chain=None),
        body_value(kp, contract="-notary"),  # must start alphanumeric
        body_value(kp, contract="no tary"),
        body_value(kp, method="anchor\n"),
        body_value(kp, method="契约"),  # ASCII only
        body_value(kp, chain="chain/1"),
        body_value(kp, args=[1, 2]),
        body_value(kp, args=None),
        body_value(kp, args=_DROP),
        body_value(kp, expiry="1"),
        body_value(kp, expiry=True),
        body_value(kp, expiry=None),
        body_value(kp, expiry=_DROP),
        body_value(kp, extra="field"),
    ]


def test_invalid_fields(suite: Suite) -> None:
    kp = keys(suite)
    for value in _invalid_cases(kp):
        assert code_of(suite, envelope(value)) == errors.INVALID_FIELD, value


def test_field_limits_accepted(suite: Suite) -> None:
    kp = keys(suite)
    for value in (
        body_value(kp, nonce=b"\x00" * MIN_NONCE),
        body_value(kp, nonce=b"\x00" * MAX_NONCE),
        body_value(kp, contract="c" * MAX_NAME, method="m", chain="x" * MAX_NAME),
        body_value(kp, contract="A.b_c-9", method="0", chain="x-y.z_1"),
        body_value(kp, args={}),
    ):
        decoded = decode_tx(suite, envelope(value), LIMIT)
        assert decoded.body.to_value() == value


@pytest.mark.parametrize("version", [0, 2, -1, True, "1", None, _DROP])
def test_unsupported_version(suite: Suite, version: Any) -> None:
    kp = keys(suite)
    assert code_of(suite, envelope(body_value(kp, v=version))) == errors.UNSUPPORTED_VERSION


# --------------------------------------------------------------------------- check_tx_context


def _ctx_code(tx: Any, chain: str = CHAIN, now: int = T0, ttl: int = TTL) -> str | None:
    try:
        check_tx_context(tx, chain, now, ttl)
    except TxRejected as exc:
        return exc.code
    return None


def test_context_checks(suite: Suite) -> None:
    kp = keys(suite)

    def tx(**changes: Any) -> Any:
        return sign_tx(suite, kp.private, make_body(kp, **changes))

    assert _ctx_code(tx()) is None
    assert _ctx_code(tx(chain="other-chain")) == errors.WRONG_CHAIN
    assert _ctx_code(tx(), chain="other-chain") == errors.WRONG_CHAIN
    assert _ctx_code(tx(expiry=T0)) == errors.EXPIRED  # at the current time: expired
    assert _ctx_code(tx(expiry=T0 - 1)) == errors.EXPIRED
    assert _ctx_code(tx(expiry=0)) == errors.EXPIRED
    assert _ctx_code(tx(expiry=T0 + 1)) is None
    assert _ctx_code(tx(expiry=T0 + TTL)) is None
    assert _ctx_code(tx(expiry=T0 + TTL + 1)) == errors.EXPIRY_TOO_FAR
    assert _ctx_code(tx(expiry=T0 + 1000), ttl=999) == errors.EXPIRY_TOO_FAR
    assert _ctx_code(tx(expiry=T0 + 1000), ttl=1000) is None


# --------------------------------------------------------------------------- the short path


def decided(decode: Any, suite: Suite, raw: bytes, limit: int = LIMIT) -> Any:
    try:
        return decode(suite, raw, limit)
    except TxRejected as exc:
        return exc.code


field_values = st.one_of(
    values,
    st.floats(allow_nan=False),
    st.integers(-(2**70), 2**70),
    st.sampled_from([1, 0, True, "notary", "bad name!", "", b"\x01" * 7, b"\x01" * 33, 2**64]),
)


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> bytes:
    """Body bytes close to a valid one: fields changed, dropped or added, keys reordered, other args,
    or an integer or length in a longer form than the shortest."""
    kp = keys(get_suite("intl"))
    args = draw(st.dictionaries(st.text(max_size=5), values | st.floats(allow_nan=False), max_size=3))
    value = body_value(kp, args=args)
    for name in draw(st.lists(st.sampled_from([*sorted(value), "extra"]), max_size=2)):
        value[name] = draw(field_values) if draw(st.booleans()) else _DROP
    value = {k: v for k, v in value.items() if v is not _DROP}
    form = draw(
        st.sampled_from(["canonical", "insertion_order", "args_as_drawn", "cbor2_canonical", "long_int"])
    )
    try:
        encoded = codec.encode(value)
    except codec.CodecError:  # outside the data model (a float, a 65-bit integer): cbor2 writes it anyway
        encoded = cbor2.dumps(value, canonical=True)
    if form == "insertion_order":
        encoded = cbor2.dumps(value)
    elif form == "args_as_drawn":  # the body's own keys in canonical order, the arguments' as drawn
        order = ("v", "args", "from", "chain", "nonce", "expiry", "method", "contract")
        ordered = {k: value[k] for k in order if k in value}
        encoded = cbor2.dumps(ordered | {k: v for k, v in value.items() if k not in order})
    elif form == "cbor2_canonical":
        encoded = cbor2.dumps(value, canonical=True)
    elif form == "long_int":  # "v": 1 with its integer in two bytes instead of one
        encoded = encoded.replace(b"\x61v\x01", b"\x61v\x18\x01", 1)
    return encoded


@st.composite
def near_valid_envelopes(draw: st.DrawFn) -> bytes:
    body = draw(near_valid_bodies())
    sig = draw(st.sampled_from([b"\x07" * 64, b"\x07" * 63, b"\x07" * 65]))
    insertion_order = draw(st.booleans())  # "body" first: valid CBOR, not the canonical envelope
    raw = bytearray(cbor2.dumps({"body": body, "sig": sig}) if insertion_order else envelope(body, sig))
    edit = draw(st.sampled_from(["none", "flip", "cut", "append", "long_length"]))
    if edit == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << draw(st.integers(0, 7))
    elif edit == "cut" and raw:
        del raw[draw(st.integers(0, len(raw) - 1)) :]
    elif edit == "append":
        raw += draw(st.binary(min_size=1, max_size=3))
    elif edit == "long_length" and raw[76:77] == b"\x58":  # the body's length in 2 bytes instead of 1
        raw[76:78] = b"\x59\x00" + raw[77:78]
    return bytes(raw)


@settings(max_examples=600, deadline=None)
@given(near_valid_envelopes(), st.sampled_from([LIMIT, 200]))
def test_the_short_path_decides_as_the_checked_path(raw: bytes, limit: int) -> None:
    suite = get_suite("intl")
    assert decided(decode_tx, suite, raw, limit) == decided(decode_tx_checked, suite, raw, limit)


def test_the_short_path_takes_valid_transactions(suite: Suite) -> None:
    tx = sign_tx(suite, keys(suite).private, make_body(keys(suite)))
    assert decode_tx(suite, tx.raw, LIMIT) == decode_tx_checked(suite, tx.raw, LIMIT) == tx
