"""verify_parallel: same answers as a sequential loop, in the same order."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest

from govchain.crypto import SUITE_NAMES, KeyPair, get_suite
from govchain.crypto.base import Suite, VerifyItem
from govchain.crypto.intl import IntlSuite
from govchain.crypto.pool import MIN_PARALLEL, verify_parallel


def _mixed_items(suite: Suite, count: int) -> list[VerifyItem]:
    """Valid and invalid items interleaved in an irregular pattern."""
    pairs = [suite.generate_keypair() for _ in range(5)]
    items: list[VerifyItem] = []
    for index in range(count):
        pair = pairs[index % len(pairs)]
        message = b"tx-%06d" % index
        signature = suite.sign(pair.private, message)
        kind = (index * 7) % 11
        if kind == 3:
            message += b"!"
        elif kind == 5:
            signature = signature[:10] + bytes([signature[10] ^ 1]) + signature[11:]
        elif kind == 7:
            pair = KeyPair(private=pair.private, public=pairs[(index + 1) % len(pairs)].public)
        elif kind == 9:
            signature = signature[:40]
        items.append((pair.public, message, signature))
    return items


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_parallel_matches_sequential(name: str) -> None:
    suite = get_suite(name)
    items = _mixed_items(suite, 500)
    sequential = [suite.verify(*item) for item in items]
    assert 0 < sum(sequential) < len(items)
    assert [(index * 7) % 11 not in (3, 5, 7, 9) for index in range(500)] == sequential
    assert verify_parallel(suite, items) == sequential
    assert suite.verify_many(items) == sequential


class _Recording(IntlSuite):
    """A fake suite: 'valid' iff the message's first byte is even; records which threads ran."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        self.threads.add(threading.current_thread().name)
        return message[0] % 2 == 0


def _numbered(count: int) -> list[VerifyItem]:
    return [(b"", bytes([index % 251]) + index.to_bytes(4, "big"), b"") for index in range(count)]


@pytest.mark.parametrize("count", [0, 1, MIN_PARALLEL - 1, MIN_PARALLEL, MIN_PARALLEL + 1, 997, 5000])
def test_order_preserved_for_every_size(count: int) -> None:
    suite = _Recording()
    items = _numbered(count)
    assert verify_parallel(suite, items) == [item[1][0] % 2 == 0 for item in items]


def test_large_batches_use_worker_threads() -> None:
    suite = _Recording()
    verify_parallel(suite, _numbered(2000))
    if len(suite.threads) == 1:
        pytest.skip("single-core host")
    assert any(name.startswith("govchain-verify") for name in suite.threads)


def test_nested_call_from_a_worker_does_not_deadlock() -> None:
    inner = _Recording()

    class Nesting(_Recording):
        def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
            return all(verify_parallel(inner, [(b"", b"\x00", b"")] * 200))

    results: list[list[bool]] = []
    worker = threading.Thread(target=lambda: results.append(verify_parallel(Nesting(), _numbered(300))))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "verify_parallel deadlocked when nested"
    assert results == [[True] * 300]


def _ticks_per_second_while(work: Callable[[], object], seconds: float = 0.6) -> float:
    """How often a 1 ms sleeper thread gets the GIL back while this thread runs `work` in a loop.

    A loop that holds the GIL lets the sleeper in only at the 5 ms switch interval (~150/s);
    one that spends its time in GIL-free C code lets it in almost every millisecond.
    """
    ticks = 0
    done = threading.Event()

    def sleeper() -> None:
        nonlocal ticks
        while not done.is_set():
            time.sleep(0.001)
            ticks += 1

    thread = threading.Thread(target=sleeper)
    thread.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        work()
    done.set()
    thread.join()
    return ticks / seconds


def _python_spin() -> None:
    total = 0
    for i in range(2000):
        total += i


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_verify_releases_the_gil(name: str) -> None:
    """The premise of the thread pool: verification runs outside the GIL."""
    suite = get_suite(name)
    pair = suite.generate_keypair()
    signature = suite.sign(pair.private, b"gil")
    holding = _ticks_per_second_while(_python_spin)
    verifying = _ticks_per_second_while(lambda: suite.verify(pair.public, b"gil", signature))
    assert verifying > 2.5 * holding, (verifying, holding)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child() -> None:
    suite = _Recording()
    items = _numbered(500)
    expected = [item[1][0] % 2 == 0 for item in items]
    assert verify_parallel(suite, items) == expected  # parent's pool now exists
    pid = os.fork()
    if pid == 0:  # child: must not hang on the parent's thread-less pool
        ok = verify_parallel(suite, items) == expected
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("verify_parallel hung in a forked child")
