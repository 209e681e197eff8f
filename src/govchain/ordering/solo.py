"""The embedded single-process orderer ("solo"): the default for one node.

Cut rule (docs/protocol.md, "Block cutting"): a batch is cut as soon as
`max_block_txs` transactions wait, or when the oldest waiting transaction has
waited `block_time_ms`. Batch time is the wall clock at the cut, never earlier
than the previous batch's time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic

from govchain.ordering.base import Batch, QueueFull, T


class SoloOrderer(Generic[T]):
    def __init__(
        self,
        limits: Callable[[], tuple[int, int]],
        max_pending: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`limits()` gives (max_block_txs, block_time_ms), read at each cut so governance can change them."""
        self._limits = limits
        self._max_pending = max_pending
        self._clock = clock
        self._queue: deque[tuple[float, T]] = deque()
        self._cond = threading.Condition()
        self._last_time = 0
        self._closed = False

    def submit(self, txs: Sequence[T]) -> None:
        now = time.monotonic()
        with self._cond:
            if self._closed:
                raise QueueFull("orderer is closed")
            if len(self._queue) + len(txs) > self._max_pending:
                raise QueueFull(f"{len(self._queue)} transactions are already waiting")
            self._queue.extend((now, tx) for tx in txs)
            self._cond.notify()

    def next_batch(self, timeout: float) -> Batch[T] | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                max_txs, block_ms = self._limits()
                now = time.monotonic()
                wake = deadline
                if self._queue:
                    due = self._queue[0][0] + block_ms / 1000
                    if len(self._queue) >= max_txs or now >= due:
                        return self._cut(max_txs)
                    wake = min(due, deadline)
                if self._closed or now >= deadline:
                    return None
                self._cond.wait(max(wake - now, 0.0005))

    def _cut(self, max_txs: int) -> Batch[T]:
        count = min(max_txs, len(self._queue))
        txs = [self._queue.popleft()[1] for _ in range(count)]
        self._last_time = max(self._last_time, int(self._clock() * 1000))
        return Batch(self._last_time, txs)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def caught_up(self) -> bool:
        return True  # the only orderer there is: nothing to catch up with

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
