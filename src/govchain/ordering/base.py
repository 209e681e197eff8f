"""The ordering interface: transactions in, an ordered stream of batches out.

Ordering knows a transaction only as bytes with an id; it never looks inside.
Each batch becomes exactly one block, and its `time` becomes the block's time,
so block time comes from the ordering service, never from a peer's own clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Orderable(Protocol):
    @property
    def id(self) -> bytes: ...

    @property
    def raw(self) -> bytes: ...


T = TypeVar("T", bound=Orderable)


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    time: int  # milliseconds since the Unix epoch
    txs: list[T]


class QueueFull(Exception):
    """The orderer will not take more now; the client should retry later."""


class Orderer(Protocol[T]):
    def submit(self, txs: Sequence[T]) -> None:
        """Queue transactions for ordering (all or none). Raises QueueFull under overload."""

    def next_batch(self, timeout: float) -> Batch[T] | None:
        """The next batch in order, or None if none was cut within `timeout` seconds."""

    def pending(self) -> int:
        """Transactions accepted but not yet cut into a batch."""

    def caught_up(self) -> bool:
        """False while this peer is still reading an order others have already produced (replay)."""

    def close(self) -> None: ...
