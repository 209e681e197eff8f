"""Block headers, their signatures, and the genesis document that names a chain.

A header commits to everything a verifier needs (docs/protocol.md, "Blocks"):
- `prev`: the previous header's hash (for height 0: the genesis hash);
- `tx_root` / `result_root`: RFC 9162 roots over this block's transaction ids and
  result hashes, in block order;
- `state_root`: the state commitment after the block (state.py);
- `log_size` / `log_root`: the RFC 9162 log over every (tx id, result hash) pair
  since genesis. The block's own transactions are leaves
  `[log_size - tx_count, log_size)`, so one signed header proves any past one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from govchain import codec
from govchain.crypto import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, Suite

HEADER_VERSION = 1
GENESIS_VERSION = 1
HEADER_DOMAIN = b"govchain-header\x00"
ZERO_HASH = bytes(32)
_HEADER_FIELDS = frozenset(
    {
        "v",
        "chain",
        "height",
        "prev",
        "time",
        "tx_count",
        "tx_root",
        "result_root",
        "state_root",
        "log_size",
        "log_root",
    }
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(value: object, what: str) -> str:
    """Chain, contract and method names: 1..64 ASCII letters, digits, '.', '_' or '-'."""
    if type(value) is not str or not _NAME.fullmatch(value):
        raise ValueError(
            f"'{what}' must be 1..64 ASCII letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return value


@dataclass(frozen=True, slots=True)
class ChainParams:
    """Limits every peer applies identically. Governance may change them later."""

    max_block_txs: int = 2000
    block_time_ms: int = 200
    max_tx_bytes: int = 1 << 20
    max_tx_ttl_ms: int = 24 * 3600 * 1000

    def to_value(self) -> dict[str, int]:
        return {
            "max_block_txs": self.max_block_txs,
            "block_time_ms": self.block_time_ms,
            "max_tx_bytes": self.max_tx_bytes,
            "max_tx_ttl_ms": self.max_tx_ttl_ms,
        }

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> ChainParams:
        return cls(**{k: int(value[k]) for k in cls().to_value()})


@dataclass(frozen=True, slots=True)
class Genesis:
    """The founding document. Its hash is the chain's identity."""

    chain_id: str
    suite: str
    time: int
    signers: tuple[bytes, ...]  # public keys allowed to sign headers
    params: ChainParams = field(default_factory=ChainParams)
    extra: dict[str, Any] = field(default_factory=dict)  # reserved for membership (orgs)

    def to_value(self) -> dict[str, Any]:
        return {
            "v": GENESIS_VERSION,
            "chain": self.chain_id,
            "suite": self.suite,
            "time": self.time,
            "signers": list(self.signers),
            "params": self.params.to_value(),
            "extra": self.extra,
        }

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> Genesis:
        """Strict: decoding then encoding gives back exactly `data`, so its hash is the chain id."""
        value = codec.decode(data)
        if type(value) is not dict or type(value.get("v")) is not int or value["v"] != GENESIS_VERSION:
            raise ValueError("not a govchain genesis document (version 1)")
        expected = {"v", "chain", "suite", "time", "signers", "params", "extra"}
        if set(value) != expected:
            raise ValueError(f"genesis fields must be exactly {sorted(expected)}")
        signers = value["signers"]
        if type(signers) is not list or not signers:
            raise ValueError("genesis needs at least one signer")
        if any(type(k) is not bytes or len(k) != PUBLIC_KEY_SIZE for k in signers):
            raise ValueError("genesis signers must be 65-byte public keys")
        if len(set(signers)) != len(signers):
            raise ValueError("genesis signers must be distinct")
        check_name(value["chain"], "chain")
        params = value["params"]
        defaults = ChainParams().to_value()
        if type(params) is not dict or set(params) != set(defaults):
            raise ValueError(f"genesis params must be exactly {sorted(defaults)}")
        if any(type(v) is not int or v <= 0 for v in params.values()):
            raise ValueError("genesis params must be positive integers")
        if (
            type(value["suite"]) is not str
            or type(value["time"]) is not int
            or type(value["extra"]) is not dict
        ):
            raise ValueError("genesis 'suite' must be text, 'time' an integer and 'extra' a map")
        genesis = cls(
            chain_id=value["chain"],
            suite=value["suite"],
            time=value["time"],
            signers=tuple(signers),
            params=ChainParams.from_value(params),
            extra=value["extra"],
        )
        if genesis.encode() != data:
            raise ValueError("genesis document does not round-trip")
        return genesis

    def __post_init__(self) -> None:
        check_name(self.chain_id, "chain")

    def quorum(self) -> int:
        """Signatures needed for finality: more than 2/3 of the signers."""
        return len(self.signers) * 2 // 3 + 1


@dataclass(frozen=True, slots=True)
class Header:
    chain: str
    height: int
    prev: bytes
    time: int
    tx_count: int
    tx_root: bytes
    result_root: bytes
    state_root: bytes
    log_size: int
    log_root: bytes

    def to_value(self) -> dict[str, Any]:
        return {
            "v": HEADER_VERSION,
            "chain": self.chain,
            "height": self.height,
            "prev": self.prev,
            "time": self.time,
            "tx_count": self.tx_count,
            "tx_root": self.tx_root,
            "result_root": self.result_root,
            "state_root": self.state_root,
            "log_size": self.log_size,
            "log_root": self.log_root,
        }

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> Header:
        value = codec.decode(data)
        if type(value) is not dict or type(value.get("v")) is not int or value["v"] != HEADER_VERSION:
            raise ValueError("not a govchain block header (version 1)")
        if set(value) != _HEADER_FIELDS:
            raise ValueError(f"header fields must be exactly {sorted(_HEADER_FIELDS)}")
        if type(value["chain"]) is not str:
            raise ValueError("header field 'chain' must be text")
        header = cls(**{k: value[k] for k in value if k != "v"})
        for name in ("prev", "tx_root", "result_root", "state_root", "log_root"):
            if type(getattr(header, name)) is not bytes or len(getattr(header, name)) != 32:
                raise ValueError(f"header field '{name}' must be 32 bytes")
        for name in ("height", "time", "tx_count", "log_size"):
            if type(getattr(header, name)) is not int or getattr(header, name) < 0:
                raise ValueError(f"header field '{name}' must be a non-negative integer")
        if header.encode() != data:
            raise ValueError("block header does not round-trip")
        return header

    def hash(self, suite: Suite) -> bytes:
        return suite.hash(self.encode())


@dataclass(frozen=True, slots=True)
class HeaderSignature:
    signer: bytes
    signature: bytes

    def to_value(self) -> dict[str, bytes]:
        return {"key": self.signer, "sig": self.signature}

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> HeaderSignature:
        key, sig = value.get("key"), value.get("sig")
        if type(key) is not bytes or len(key) != PUBLIC_KEY_SIZE:
            raise ValueError("signature 'key' must be a 65-byte public key")
        if type(sig) is not bytes or len(sig) != SIGNATURE_SIZE:
            raise ValueError("signature 'sig' must be 64 bytes")
        return cls(key, sig)


def sign_header(suite: Suite, private_key: bytes, public_key: bytes, header_bytes: bytes) -> HeaderSignature:
    return HeaderSignature(public_key, suite.sign(private_key, HEADER_DOMAIN + header_bytes))


def count_valid_signatures(
    suite: Suite, header_bytes: bytes, signatures: list[HeaderSignature], signers: tuple[bytes, ...]
) -> int:
    """How many distinct authorised signers validly signed these header bytes."""
    return len(valid_signatures(suite, header_bytes, signatures, signers))


def valid_signatures(
    suite: Suite, header_bytes: bytes, signatures: list[HeaderSignature], signers: tuple[bytes, ...]
) -> list[HeaderSignature]:
    """The first valid signature of each distinct authorised signer over these header bytes."""
    allowed = set(signers)
    seen: set[bytes] = set()
    valid: list[HeaderSignature] = []
    for item in signatures:
        if (
            item.signer in allowed
            and item.signer not in seen
            and suite.verify(item.signer, HEADER_DOMAIN + header_bytes, item.signature)
        ):
            seen.add(item.signer)
            valid.append(item)
    return valid


def genesis_header(suite: Suite, genesis: Genesis, empty_root: bytes) -> Header:
    """Height 0: no transactions; `prev` is the genesis hash, binding the chain's identity."""
    return Header(
        chain=genesis.chain_id,
        height=0,
        prev=suite.hash(genesis.encode()),
        time=genesis.time,
        tx_count=0,
        tx_root=empty_root,
        result_root=empty_root,
        state_root=ZERO_HASH,
        log_size=0,
        log_root=empty_root,
    )
