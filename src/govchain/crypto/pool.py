"""Batch signature verification over every core.

Both suites drop the GIL inside the signature check (cryptography's Rust/OpenSSL code for
ECDSA, ctypes calls into libcrypto for SM2), so plain threads scale with cores and no
process pool (with its pickling and start-up cost) is needed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from govchain.crypto.base import Suite, VerifyItem

MIN_PARALLEL = 64
"""Below this many items the hand-off to worker threads costs more than it saves."""

WORKERS = os.cpu_count() or 1

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_in_worker = threading.local()


def _get_executor() -> ThreadPoolExecutor:
    """The shared pool, created on first use (so importing never starts threads)."""
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="govchain-verify")
    return _executor


def _forget_executor_in_child() -> None:
    # A forked child inherits the pool object but not its threads; submitting to it would hang.
    global _executor
    _executor = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor_in_child)


def _verify_chunk(suite: Suite, items: Sequence[VerifyItem]) -> list[bool]:
    verify = suite.verify
    return [verify(public, message, signature) for public, message, signature in items]


def _worker_chunk(suite: Suite, items: Sequence[VerifyItem]) -> list[bool]:
    # Marks the thread so a nested verify_parallel runs inline instead of waiting on its own pool.
    _in_worker.active = True
    return _verify_chunk(suite, items)


def verify_parallel(suite: Suite, items: Sequence[VerifyItem]) -> list[bool]:
    """`[suite.verify(*item) for item in items]`, in order, split into one contiguous chunk per core.

    The calling thread verifies the first chunk itself while the pool does the rest.
    """
    count = len(items)
    if count < MIN_PARALLEL or WORKERS < 2 or getattr(_in_worker, "active", False):
        return _verify_chunk(suite, items)
    chunks = min(WORKERS, count)
    size, extra = divmod(count, chunks)
    bounds: list[tuple[int, int]] = []
    start = 0
    for index in range(chunks):
        end = start + size + (1 if index < extra else 0)
        bounds.append((start, end))
        start = end
    executor = _get_executor()
    futures: list[Future[list[bool]]] = [
        executor.submit(_worker_chunk, suite, items[lo:hi]) for lo, hi in bounds[1:]
    ]
    first_lo, first_hi = bounds[0]
    results = _verify_chunk(suite, items[first_lo:first_hi])
    for future in futures:
        results.extend(future.result())
    return results
