"""The ctypes layer: key cache eviction, thread safety, error queue and memory hygiene."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from govchain.crypto import _libcrypto, get_suite
from govchain.crypto.gm import GmSuite

GM = get_suite("gm")


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[_libcrypto._KeyCache]:
    cache = _libcrypto.public_keys
    cache.clear()
    monkeypatch.setattr(cache, "size", 3)
    yield cache
    cache.clear()


def test_keys_are_sm2_typed() -> None:
    pair = GM.generate_keypair()
    pkey = _libcrypto._acquire_public(pair.public)
    assert pkey is not None
    try:
        assert _libcrypto._EVP_PKEY_is_a(pkey, b"SM2") == 1
    finally:
        _libcrypto._EVP_PKEY_free(pkey)


def test_der_parser_rejects_trailing_bytes() -> None:
    pair = GM.generate_keypair()
    assert _libcrypto._d2i(_libcrypto._d2i_PUBKEY, _libcrypto._SPKI_PREFIX + pair.public + b"\x00") is None
    # the last byte changed (not set to zero: one key in 256 already ends with a zero byte)
    assert _libcrypto._acquire_public(pair.public[:64] + bytes([pair.public[64] ^ 1])) is None


def test_cache_is_bounded_and_evicted_keys_still_verify(small_cache: _libcrypto._KeyCache) -> None:
    pairs = [GM.generate_keypair() for _ in range(8)]
    signed = [(pair.public, b"m%d" % i, GM.sign(pair.private, b"m%d" % i)) for i, pair in enumerate(pairs)]
    for _ in range(2):
        for public, message, signature in signed:
            assert GM.verify(public, message, signature)
            assert not GM.verify(public, message + b"x", signature)
            assert len(small_cache) <= 3
    assert len(small_cache) == 3


def test_invalid_keys_are_not_cached(small_cache: _libcrypto._KeyCache) -> None:
    pair = GM.generate_keypair()
    signature = GM.sign(pair.private, b"m")
    assert not GM.verify(b"\x04" + bytes(64), b"m", signature)
    assert len(small_cache) == 0


def test_threads_racing_on_eviction(small_cache: _libcrypto._KeyCache) -> None:
    """Keys are evicted (and freed) while other threads verify with them: no crash, no wrong answer."""
    pairs = [GM.generate_keypair() for _ in range(6)]
    items = [(p.public, b"%d" % i, GM.sign(p.private, b"%d" % i)) for i, p in enumerate(pairs)]
    failures: list[str] = []

    def hammer(offset: int) -> None:
        for round_ in range(40):
            public, message, signature = items[(round_ + offset) % len(items)]
            if not GM.verify(public, message, signature):
                failures.append(f"valid signature rejected in thread {offset}")
            if GM.verify(public, message + b"?", signature):
                failures.append(f"invalid signature accepted in thread {offset}")

    threads = [threading.Thread(target=hammer, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_error_queue_is_left_empty_after_failures() -> None:
    pair = GM.generate_keypair()
    signature = GM.sign(pair.private, b"m")
    GM.verify(pair.public, b"other", signature)
    GM.verify(b"\x04" + b"\x01" * 64, b"m", signature)
    assert not _libcrypto.verify(pair.public, b"m", b"\x30\x03garbage")
    assert _libcrypto._ERR_get_error() == 0


def _rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_no_memory_growth_over_many_operations() -> None:
    """A leaked context or key per call would add several MiB over these 3,000 operations."""
    suite = GmSuite()
    pairs = [suite.generate_keypair() for _ in range(4)]
    work = []
    for i in range(8):
        pair = pairs[i % 4]
        message = b"leak-check %d" % i
        work.append((pair, message, suite.sign(pair.private, message)))

    def run(rounds: int) -> None:
        for _ in range(rounds):
            for pair, message, signature in work:
                assert suite.verify(pair.public, message, signature)
                assert not suite.verify(pair.public, message + b"!", signature)
            suite.sign(pairs[0].private, b"x")
            suite.public_key(pairs[1].private)
            _libcrypto.verify(pairs[0].public, b"x", b"\x30\x02\x02\x00")

    run(40)  # warm-up: allocator arenas, caches
    before = _rss_kib()
    run(150)
    growth = _rss_kib() - before
    assert growth < 2048, f"RSS grew by {growth} KiB"
