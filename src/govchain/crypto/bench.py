"""Verification throughput of each suite on this host: `python -m govchain.crypto.bench [seconds]`.

Reports one thread (`suite.verify` in a loop) and all cores (`verify_parallel`), so an
operator can check a node will keep up before choosing a suite.
"""

from __future__ import annotations

import os
import sys
import time

from govchain.crypto.base import Suite, VerifyItem
from govchain.crypto.pool import verify_parallel
from govchain.crypto.suites import SUITE_NAMES, get_suite


def _items(suite: Suite, count: int, keys: int = 16) -> list[VerifyItem]:
    """`count` valid (pub, msg, sig) triples over `keys` signers, ~200-byte messages like transactions."""
    pairs = [suite.generate_keypair() for _ in range(keys)]
    items: list[VerifyItem] = []
    for index in range(count):
        pair = pairs[index % keys]
        message = index.to_bytes(8, "big") * 25
        items.append((pair.public, message, suite.sign(pair.private, message)))
    return items


def _rate(run: object, seconds: float, batch: int) -> float:
    """Verifies per second of `run()` (which checks `batch` signatures), repeated for ~`seconds`."""
    assert callable(run)
    run()  # warm caches (parsed keys, thread pool)
    done = 0
    start = time.perf_counter()
    while True:
        run()
        done += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def bench(name: str, seconds: float) -> tuple[float, float]:
    """(one-thread rate, verify_parallel rate) for suite `name`."""
    suite = get_suite(name)
    items = _items(suite, 512)

    def sequential() -> None:
        verify = suite.verify
        if not all([verify(*item) for item in items]):
            raise AssertionError("a valid signature failed to verify")

    def parallel() -> None:
        if not all(verify_parallel(suite, items)):
            raise AssertionError("a valid signature failed to verify")

    return _rate(sequential, seconds, len(items)), _rate(parallel, seconds, len(items))


def main(argv: list[str]) -> None:
    seconds = float(argv[0]) if argv else 3.0
    print(f"cpu_count={os.cpu_count()}")
    for name in SUITE_NAMES:
        one, many = bench(name, seconds)
        print(f"{name:5} verify/s: 1 thread {one:9,.0f}   verify_parallel {many:9,.0f}  (x{many / one:.2f})")


if __name__ == "__main__":
    main(sys.argv[1:])
