"""Transaction results: every included transaction gets one, success or failure.

The hashed form (docs/protocol.md, "Results") holds what the chain vouches for:
which contract and method ran, the outcome code, the events and the returned
data. The human-readable message is stored beside it but is not hashed, so
another implementation need not reproduce our wording byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govchain import codec
from govchain.ledger.errors import OK

RESULT_VERSION = 1
_FIELDS = frozenset({"v", "contract", "method", "code", "events", "data"})
_EVENT_KEYS = ("type", "attrs")  # an event as Context.emit builds it, in canonical key order


@dataclass(frozen=True, slots=True)
class TxResult:
    contract: str
    method: str
    code: str  # "ok", or the reason the transaction failed
    message: str = ""  # for people; not hashed
    events: list[dict[str, Any]] = field(default_factory=list)
    data: Any = None  # the method's return value

    @property
    def ok(self) -> bool:
        return self.code == OK

    def to_value(self) -> dict[str, Any]:
        # Built in canonical key order, so encoding it need not reorder (any order encodes alike).
        return {
            "v": RESULT_VERSION,
            "code": self.code,
            "data": self.data,
            "events": self.events,
            "method": self.method,
            "contract": self.contract,
        }

    def encode(self) -> bytes:
        """The canonical encoding, as `codec.encode(self.to_value())` gives it.

        Every included transaction's result is encoded on every peer, so the frame the
        ledger builds (text fields, the list of `{"type", "attrs"}` events) is checked by
        type alone and only what a contract supplied (attributes, data) is walked.
        """
        events = self.events
        if (
            type(self.code) is not str
            or type(self.method) is not str
            or type(self.contract) is not str
            or type(events) is not list
            or not all(type(e) is dict and tuple(e) == _EVENT_KEYS and type(e["type"]) is str for e in events)
        ):
            return codec.encode(self.to_value())  # not built by Context.emit: the full walk
        return codec.encode_unchecked(
            {
                "v": RESULT_VERSION,
                "code": self.code,
                # depths as in the whole value: data at 1; events list 1, event 2, attributes 3
                "data": codec.canonical(self.data, 1),
                "events": [{"type": e["type"], "attrs": codec.canonical(e["attrs"], 3)} for e in events],
                "method": self.method,
                "contract": self.contract,
            }
        )

    @classmethod
    def decode(cls, data: bytes, message: str = "") -> TxResult:
        value = codec.decode(data)
        if type(value) is not dict or value.get("v") != RESULT_VERSION or set(value) != _FIELDS:
            raise ValueError("not a govchain transaction result (version 1)")
        return cls(value["contract"], value["method"], value["code"], message, value["events"], value["data"])


def log_leaf(tx_id: bytes, result_hash: bytes) -> bytes:
    """The data of a transaction's leaf in the chain's Merkle log: 64 bytes."""
    return tx_id + result_hash
