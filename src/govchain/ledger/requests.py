"""Signed requests: how a member proves who asks, for calls that are not transactions.

Some calls carry data that must never go on chain (a licence's personal data
deposited in the issuing node's private store, or fetched from it). They are
authenticated like transactions, but never ordered: the body is a map with a
`purpose`, the `chain` id and the signing time `t`, and the signature covers
`"govchain/request/v1" || CBOR(body)`. A node accepts a request only within
five minutes of its time, for its own chain and for the purpose it expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from govchain import codec
from govchain.crypto import PUBLIC_KEY_SIZE, KeyPair, Suite
from govchain.ledger.errors import BAD_SIGNATURE, EXPIRED, INVALID_FIELD, MALFORMED, WRONG_CHAIN, TxRejected

REQUEST_DOMAIN: Final = b"govchain/request/v1"
MAX_SKEW_MS: Final = 300_000
MAX_REQUEST_BYTES: Final = 1 << 20


def sign_request(suite: Suite, keys: KeyPair, body: Mapping[str, Any]) -> dict[str, str]:
    """A JSON-ready signed request: {"body", "key", "sig"} in hex."""
    encoded = codec.encode(dict(body))
    signature = suite.sign(keys.private, REQUEST_DOMAIN + encoded)
    return {"body": encoded.hex(), "key": keys.public.hex(), "sig": signature.hex()}


def verify_request(
    suite: Suite, chain_id: str, envelope: Mapping[str, Any], purpose: str, now_ms: int
) -> tuple[dict[str, Any], bytes]:
    """The request's body and signer's key, or TxRejected with the reason."""
    try:
        encoded = bytes.fromhex(envelope["body"])
        key = bytes.fromhex(envelope["key"])
        signature = bytes.fromhex(envelope["sig"])
    except (KeyError, TypeError, ValueError):
        raise TxRejected(MALFORMED, 'a signed request is {"body", "key", "sig"} in hex') from None
    if len(encoded) > MAX_REQUEST_BYTES or len(key) != PUBLIC_KEY_SIZE:
        raise TxRejected(MALFORMED, "request body too large, or not a public key")
    try:
        body = codec.decode(encoded)
    except codec.CodecError as exc:
        raise TxRejected(MALFORMED, f"request body: {exc}") from None
    if type(body) is not dict or body.get("purpose") != purpose or type(body.get("t")) is not int:
        raise TxRejected(INVALID_FIELD, f"the request must be a map with purpose '{purpose}' and time 't'")
    if body.get("chain") != chain_id:
        raise TxRejected(WRONG_CHAIN, "the request is for another chain")
    if abs(now_ms - body["t"]) > MAX_SKEW_MS:
        raise TxRejected(EXPIRED, "the request was signed more than five minutes from now; sign it again")
    if not suite.verify(key, REQUEST_DOMAIN + encoded, signature):
        raise TxRejected(BAD_SIGNATURE, "the request's signature does not verify")
    return body, key
