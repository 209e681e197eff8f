"""Transactions: the signed envelope every write travels in.

Wire form (docs/protocol.md, "Transactions"): the canonical CBOR map
`{"body": <bytes>, "sig": <64 bytes>}`, where `body` is itself the canonical
CBOR encoding of a map with the fields of `TxBody`.

- The transaction id is `H(body)`: it covers every field the sender signed and
  nothing else, so re-encoding the signature cannot make a "new" transaction.
- The signature is over `TX_DOMAIN || body`, so a signed transaction can never be
  mistaken for a signed block header.
- Replay protection: `nonce` makes ids unique, every committed id is indexed for
  ever, and `expiry` bounds how long a signed transaction stays usable.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import cbor2

from govchain import codec
from govchain.crypto import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, Suite
from govchain.ledger import errors
from govchain.ledger.blocks import check_name
from govchain.ledger.errors import TxRejected

TX_VERSION = 1
TX_DOMAIN = b"govchain-tx\x00"
MIN_NONCE = 8
MAX_NONCE = 32

_BODY_FIELDS = frozenset({"v", "chain", "from", "contract", "method", "args", "nonce", "expiry"})
_BODY_ORDER = ("v", "args", "from", "chain", "nonce", "expiry", "method", "contract")  # canonical order
_ENVELOPE_HEAD = b"\xa2\x63sig\x58\x40"  # map(2), "sig", bytes(64): the canonical envelope's first 7 bytes
_BODY_KEY = b"\x64body"
_GOOD_NAMES: set[str] = set()  # names check_name accepted (a chain uses a handful)
_GOOD_NAMES_MAX = 1024


@dataclass(frozen=True, slots=True)
class TxBody:
    """What the sender signs."""

    chain: str
    sender: bytes  # 65-byte public key
    contract: str
    method: str
    args: dict[str, Any]
    nonce: bytes
    expiry: int  # milliseconds since the Unix epoch

    def to_value(self) -> dict[str, Any]:
        return {
            "v": TX_VERSION,
            "chain": self.chain,
            "from": self.sender,
            "contract": self.contract,
            "method": self.method,
            "args": self.args,
            "nonce": self.nonce,
            "expiry": self.expiry,
        }


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A decoded, well-formed envelope. `raw` is the exact wire bytes."""

    body: TxBody
    body_bytes: bytes
    signature: bytes
    raw: bytes
    id: bytes

    def signing_input(self) -> bytes:
        return TX_DOMAIN + self.body_bytes


def new_nonce() -> bytes:
    return secrets.token_bytes(16)


def sign_tx(suite: Suite, private_key: bytes, body: TxBody) -> SignedTx:
    """Encode and sign `body`; the result is ready to submit."""
    body_bytes = codec.encode(body.to_value())
    signature = suite.sign(private_key, TX_DOMAIN + body_bytes)
    raw = envelope_bytes(body_bytes, signature)
    return SignedTx(body, body_bytes, signature, raw, suite.hash(body_bytes))


def make_tx(
    suite: Suite,
    keys: KeyPair,
    chain_id: str,
    contract: str,
    method: str,
    args: dict[str, Any],
    expiry: int,
) -> SignedTx:
    """Build and sign a transaction with a fresh nonce: what every client does to write."""
    body = TxBody(chain_id, keys.public, contract, method, args, new_nonce(), expiry)
    return sign_tx(suite, keys.private, body)


def _field(value: dict[str, Any], name: str, kind: type) -> Any:
    item = value.get(name)
    if type(item) is not kind:
        raise TxRejected(errors.INVALID_FIELD, f"field '{name}' must be {kind.__name__}")
    return item


def decode_tx(suite: Suite, raw: bytes, max_size: int) -> SignedTx:
    """Parse and structurally check an envelope. Does not verify the signature.

    Every peer decodes every transaction, so well-formed bytes take a short path that
    checks the same rules directly; anything it does not accept is decoded again by
    `decode_tx_checked`, which gives the reason.
    """
    if len(raw) <= max_size:
        tx = _decode_well_formed(suite, raw)
        if tx is not None:
            return tx
    return decode_tx_checked(suite, raw, max_size)


def decode_tx_checked(suite: Suite, raw: bytes, max_size: int) -> SignedTx:
    """`decode_tx` with every check made in turn, so a refusal names its first broken rule."""
    if len(raw) > max_size:
        raise TxRejected(errors.TOO_LARGE, f"transaction is {len(raw)} bytes; the limit is {max_size}")
    body_bytes, signature = _split_envelope(raw)
    try:
        value = codec.decode(body_bytes)
    except codec.CodecError as exc:
        code = errors.NOT_CANONICAL if exc.reason == "not_canonical" else errors.MALFORMED
        raise TxRejected(code, f"body: {exc}") from None
    if type(value) is not dict:
        raise TxRejected(errors.MALFORMED, "body must be a map")
    if value.get("v") != TX_VERSION or type(value.get("v")) is not int:
        raise TxRejected(errors.UNSUPPORTED_VERSION, f"body field 'v' must be {TX_VERSION}")
    extra = set(value) - _BODY_FIELDS
    if extra:
        raise TxRejected(errors.INVALID_FIELD, f"unknown body fields: {sorted(extra)}")
    sender = _field(value, "from", bytes)
    if len(sender) != PUBLIC_KEY_SIZE:
        raise TxRejected(errors.INVALID_FIELD, f"'from' must be a {PUBLIC_KEY_SIZE}-byte public key")
    nonce = _field(value, "nonce", bytes)
    if not MIN_NONCE <= len(nonce) <= MAX_NONCE:
        raise TxRejected(errors.INVALID_FIELD, f"'nonce' must be {MIN_NONCE}..{MAX_NONCE} bytes")
    contract = _field(value, "contract", str)
    method = _field(value, "method", str)
    chain = _field(value, "chain", str)
    for name, text in (("contract", contract), ("method", method), ("chain", chain)):
        try:
            check_name(text, name)
        except ValueError as exc:
            raise TxRejected(errors.INVALID_FIELD, str(exc)) from None
    body = TxBody(
        chain=chain,
        sender=sender,
        contract=contract,
        method=method,
        args=_field(value, "args", dict),
        nonce=nonce,
        expiry=_field(value, "expiry", int),
    )
    return SignedTx(body, body_bytes, signature, raw, suite.hash(body_bytes))


def _decode_well_formed(suite: Suite, raw: bytes) -> SignedTx | None:
    """The transaction, if `raw` passes every check of `decode_tx_checked` (size aside); else None.

    The envelope is matched byte for byte against its one canonical layout. The body's
    fixed fields are checked by type, which also proves them inside the data model, so
    only `args` is walked; re-encoding the body and comparing catches every other
    non-canonical form (e.g. an integer or length not in its shortest encoding).
    """
    if raw[:7] != _ENVELOPE_HEAD or raw[71:76] != _BODY_KEY or len(raw) < 77:
        return None
    head = raw[76]
    if 0x40 <= head < 0x58:
        start, size = 77, head - 0x40
    elif head == 0x58:
        start, size = 78, raw[77] if len(raw) > 77 else -1
        if size < 24:
            return None
    elif head == 0x59:
        start, size = 79, int.from_bytes(raw[77:79], "big")
        if size < 256:
            return None
    else:
        return None  # bodies of 64 KiB or more take the checked path
    if start + size != len(raw):
        return None
    body_bytes = raw[start:]
    try:
        value = cbor2.loads(body_bytes)
    except Exception:  # cbor2 raises several types for malformed input
        return None
    if type(value) is not dict or tuple(value) != _BODY_ORDER:
        return None
    v, args, sender, chain, nonce, expiry, method, contract = value.values()
    if not (
        type(v) is int
        and v == TX_VERSION
        and type(args) is dict
        and type(sender) is bytes
        and len(sender) == PUBLIC_KEY_SIZE
        and type(chain) is str
        and type(nonce) is bytes
        and MIN_NONCE <= len(nonce) <= MAX_NONCE
        and type(expiry) is int
        and codec.INT_MIN <= expiry <= codec.INT_MAX
        and type(method) is str
        and type(contract) is str
        and _good_name(contract)
        and _good_name(method)
        and _good_name(chain)
    ):
        return None
    try:
        if codec.canonical(args, 1) is not args or cbor2.dumps(value) != body_bytes:
            return None
    except (codec.CodecError, UnicodeEncodeError, cbor2.CBOREncodeError):
        return None
    body = TxBody(chain, sender, contract, method, args, nonce, expiry)
    return SignedTx(body, body_bytes, raw[7:71], raw, suite.hash(body_bytes))


def _good_name(name: str) -> bool:
    if name in _GOOD_NAMES:
        return True
    try:
        check_name(name, "name")
    except ValueError:
        return False
    if len(_GOOD_NAMES) >= _GOOD_NAMES_MAX:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(name)
    return True


def envelope_bytes(body_bytes: bytes, signature: bytes) -> bytes:
    # Built in canonical key order ("sig" is shorter than "body"), as encode_unchecked requires.
    return codec.encode_unchecked({"sig": signature, "body": body_bytes})


def _split_envelope(raw: bytes) -> tuple[bytes, bytes]:
    """Body and signature of an envelope; the bytes must be exactly the canonical encoding."""
    try:
        envelope = cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise TxRejected(errors.MALFORMED, f"envelope: not valid CBOR: {exc}") from None
    if type(envelope) is not dict or set(envelope) != {"body", "sig"}:
        raise TxRejected(errors.MALFORMED, "envelope must be a map with exactly 'body' and 'sig'")
    body_bytes, signature = envelope["body"], envelope["sig"]
    if type(body_bytes) is not bytes or type(signature) is not bytes:
        raise TxRejected(errors.MALFORMED, "'body' and 'sig' must be byte strings")
    if len(signature) != SIGNATURE_SIZE:
        raise TxRejected(errors.INVALID_FIELD, f"'sig' must be {SIGNATURE_SIZE} bytes")
    # A two-entry map of byte strings has one canonical form; comparing with it is
    # the same check as codec.decode's, without a second pass over the data model.
    if envelope_bytes(body_bytes, signature) != raw:
        raise TxRejected(errors.NOT_CANONICAL, "envelope: CBOR is valid but not in canonical form")
    return body_bytes, signature


def check_tx_context(tx: SignedTx, chain_id: str, now_ms: int, max_ttl_ms: int) -> None:
    """The time- and chain-dependent checks: the same at admission and at execution."""
    if tx.body.chain != chain_id:
        raise TxRejected(errors.WRONG_CHAIN, f"transaction is for chain '{tx.body.chain}', not '{chain_id}'")
    if tx.body.expiry <= now_ms:
        raise TxRejected(errors.EXPIRED, "transaction expired")
    if tx.body.expiry > now_ms + max_ttl_ms:
        raise TxRejected(errors.EXPIRY_TOO_FAR, f"expiry is more than {max_ttl_ms} ms ahead")


def sender_address(suite: Suite, public_key: bytes) -> str:
    """A short, stable name for a key: the first 20 bytes of its hash, in hex."""
    return suite.hash(public_key)[:20].hex()
