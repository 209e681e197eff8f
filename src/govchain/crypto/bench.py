"""Verification throughput of each suite on this host: `python -m govchain.crypto.bench [seconds]`.

Reports one thread (`suite.verify` in a loop) and all cores (`verify_parallel`), so an
operator can check a node will keep up before choosing a suite.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

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


def _rate(run: Callable[[], None], seconds: float, batch: int) -> tuple[float, float]:
    """(verifies per second, cores busy) of `run()` (which checks `batch` signatures) over ~`seconds`.

    Cores busy is this process's CPU time over wall time: if it is well under the thread
    count, other processes were competing for the cores and the rate is understated.
    """
    run()  # warm caches (parsed keys, thread pool)
    done = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        run()
        done += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed, (time.process_time() - cpu_start) / elapsed


def bench(name: str, seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """((rate, cores busy) on one thread, (rate, cores busy) with verify_parallel) for suite `name`."""
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
        (one, one_cpu), (many, many_cpu) = bench(name, seconds)
        print(
            f"{name:5} verify/s: 1 thread {one:8,.0f} (cores busy {one_cpu:.2f})"
            f"   verify_parallel {many:8,.0f} (cores busy {many_cpu:.2f})   x{many / one:.2f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
