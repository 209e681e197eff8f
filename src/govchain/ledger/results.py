"""Transaction results: every included transaction gets one, success or failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govchain import codec
from govchain.ledger.errors import OK

RESULT_VERSION = 1


@dataclass(frozen=True, slots=True)
class TxResult:
    code: str  # "ok", or the reason the transaction failed
    message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    data: Any = None  # the method's return value

    @property
    def ok(self) -> bool:
        return self.code == OK

    def to_value(self) -> dict[str, Any]:
        return {
            "v": RESULT_VERSION,
            "code": self.code,
            "msg": self.message,
            "events": self.events,
            "data": self.data,
        }

    def encode(self) -> bytes:
        return codec.encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> TxResult:
        value = codec.decode(data)
        if type(value) is not dict or value.get("v") != RESULT_VERSION:
            raise ValueError("not a govchain transaction result (version 1)")
        return cls(value["code"], value["msg"], value["events"], value["data"])


def log_leaf(tx_id: bytes, result_hash: bytes) -> bytes:
    """The data of a transaction's leaf in the chain's Merkle log: 64 bytes."""
    return tx_id + result_hash
