"""The JetStream orderer against a real nats-server: every reader cuts the same batches."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from govchain.ordering.base import Batch
from govchain.ordering.jetstream import Cutter, JetStreamOrderer, Position, StreamSettings, read_position


@dataclass(frozen=True)
class Item:
    id: bytes
    raw: bytes


def decode(raw: bytes) -> Item:
    if raw.startswith(b"junk"):
        raise ValueError("not a transaction")
    return Item(hashlib.sha256(raw).digest(), raw)


def item(n: int, tag: str = "") -> Item:
    return decode(f"tx-{tag}{n}".encode())


def test_cutter_rule() -> None:
    cutter = Cutter(Position(0, 1000, 1), max_txs=3, decode=decode)
    assert cutter.on_tx(1, 900, b"a") is None
    assert cutter.on_tx(2, 901, b"junk") is None  # skipped: does not count
    assert cutter.on_marker(3, 950, b"2") is None  # not the open height: ignored
    assert cutter.on_tx(4, 960, b"b") is None
    first = cutter.on_tx(5, 970, b"c")
    assert first is not None
    assert first.height == 1 and [t.raw for t in first.batch.txs] == [b"a", b"b", b"c"]
    assert first.batch.time == 1000  # never earlier than the previous batch (here: genesis)
    assert first.after == Position(1, 1000, 6)
    assert cutter.on_marker(6, 1100, b"2") is None  # empty batch: no cut
    assert cutter.on_tx(7, 1200, b"d") is None
    assert cutter.on_marker(8, 1300, b"1") is None  # stale marker
    second = cutter.on_marker(9, 1400, b"2")
    assert second is not None and second.batch == Batch(1400, [decode(b"d")])
    assert second.after == Position(2, 1400, 10)


def collect(orderer: JetStreamOrderer[Item], count: int, timeout: float = 20.0) -> list[Batch[Item]]:
    batches: list[Batch[Item]] = []
    deadline = time.monotonic() + timeout
    while sum(len(b.txs) for b in batches) < count:
        assert time.monotonic() < deadline, f"only {sum(len(b.txs) for b in batches)} of {count} ordered"
        batch = orderer.next_batch(0.2)
        if batch is not None:
            batches.append(batch)
    return batches


def make(url: str, state: Path, max_txs: int = 10) -> JetStreamOrderer[Item]:
    state.mkdir(parents=True, exist_ok=True)
    settings = StreamSettings((url,), "GOVCHAIN_TEST", "govchain.test", replicas=1)
    return JetStreamOrderer(settings, decode, max_txs, lambda: 50, state)


@pytest.mark.slow
def test_two_peers_cut_identical_batches_and_resume(nats_url: str, tmp_path: Path) -> None:
    a = make(nats_url, tmp_path / "a")
    b = make(nats_url, tmp_path / "b")
    try:
        a.start(0, 1000)
        assert a.caught_up()  # an empty stream: nothing to catch up with
        b.start(0, 1000)
        for n in range(5):  # interleaved submissions through both peers
            a.submit([item(i, f"a{n}-") for i in range(7)])
            b.submit([item(i, f"b{n}-") for i in range(6)])
        a.submit([item(0, "a0-")])  # a resubmission is deduplicated by JetStream
        seen_a = collect(a, 65)
        seen_b = collect(b, 65)
        assert seen_a == seen_b
        ids = [t.id for batch in seen_a for t in batch.txs]
        assert len(ids) == len(set(ids)) == 65
        assert all(len(batch.txs) <= 10 for batch in seen_a)
        times = [batch.time for batch in seen_a]
        assert times == sorted(times)
        assert a.next_batch(0.5) is None  # nothing more, and the duplicate never came
        for height in range(1, 4):
            a.committed(height)
        assert read_position(tmp_path / "a") is not None
    finally:
        a.close()
        b.close()
    # a restarted peer resumes after its last committed block and cuts the same next batches
    again = make(nats_url, tmp_path / "a")
    try:
        again.start(3, 1000)
        rest = collect(again, sum(len(batch.txs) for batch in seen_a[3:]))
        assert rest == seen_a[3:]
        assert again.caught_up()  # all read, and every cut batch taken: nothing left to replay
    finally:
        again.close()
    # a peer with no saved position replays the stream and skips what it already has
    fresh = make(nats_url, tmp_path / "c")
    try:
        fresh.start(2, 1000)
        assert collect(fresh, sum(len(batch.txs) for batch in seen_a[2:])) == seen_a[2:]
    finally:
        fresh.close()


def test_a_failed_stream_reader_stops_block_production(tmp_path: Path) -> None:
    orderer = make("nats://127.0.0.1:1", tmp_path)  # never started: no connection needed
    orderer.error = ValueError("stream reader failed")
    with pytest.raises(RuntimeError, match="stream reader failed"):
        orderer.next_batch(0.01)  # the node's executor records it, and /v1/status says unhealthy
    orderer.close()
