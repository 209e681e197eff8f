"""The JetStream orderer against a real nats-server: every reader cuts the same batches."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from govchain.ordering.base import Batch
from govchain.ordering.jetstream import JetStreamOrderer, StreamSettings, read_position
from tests.network.test_cutter import Item, decode


def item(n: int, tag: str = "") -> Item:
    return decode(f"tx-{tag}{n}".encode())


def collect(orderer: JetStreamOrderer[Item], count: int, timeout: float = 20.0) -> list[Batch[Item]]:
    batches: list[Batch[Item]] = []
    deadline = time.monotonic() + timeout
    while sum(len(b.txs) for b in batches) < count:
        assert time.monotonic() < deadline, f"only {sum(len(b.txs) for b in batches)} of {count} ordered"
        batch = orderer.next_batch(0.2)
        if batch is not None:
            batches.append(batch)
    return batches


def make(
    url: str,
    state: Path,
    max_txs: int = 10,
    decoder: Callable[[bytes], Item] = decode,
    max_tx_bytes: int = 1 << 20,
) -> JetStreamOrderer[Item]:
    state.mkdir(parents=True, exist_ok=True)
    settings = StreamSettings((url,), "GOVCHAIN_TEST", "govchain.test", replicas=1)
    return JetStreamOrderer(settings, decoder, max_txs, lambda: 50, state, max_tx_bytes=max_tx_bytes)


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
        b.submit([item(0, "solo-")])  # one transaction goes out as a `tx` message (message id: tx id)
        b.submit([item(0, "solo-")])  # so its resubmission is deduplicated by JetStream
        a.submit([item(i, "a4-") for i in range(7)])  # and so is a list's (message id: its hash)
        seen_a = collect(a, 66)
        seen_b = collect(b, 66)
        assert seen_a == seen_b
        ids = [t.id for batch in seen_a for t in batch.txs]
        assert len(ids) == len(set(ids)) == 66
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


@pytest.mark.slow
def test_own_transactions_come_back_without_a_second_decode(nats_url: str, tmp_path: Path) -> None:
    decoded: list[bytes] = []

    def counting(raw: bytes) -> Item:
        decoded.append(raw)
        return decode(raw)

    a = make(nats_url, tmp_path / "a", decoder=counting)
    b = make(nats_url, tmp_path / "b")
    try:
        a.start(0, 1000)
        b.start(0, 1000)
        mine = [Item(bytes([n]) * 32, f"own-{n}".encode()) for n in range(12)]
        a.submit(mine)
        theirs = [item(n, "theirs-") for n in range(3)]
        b.submit(theirs)
        got = [t for batch in collect(a, 15) for t in batch.txs]
        assert got == mine + theirs
        assert all(x is y for x, y in zip(got, mine, strict=False))  # the very objects submitted
        assert decoded == [t.raw for t in theirs]  # only other peers' bytes were decoded
        assert [t for batch in collect(b, 15) for t in batch.txs] == [decode(t.raw) for t in mine] + theirs
    finally:
        a.close()
        b.close()
    # above the decoder's size limit, a peer's own transaction is decoded (and judged) like anyone's
    decoded.clear()
    c = make(nats_url, tmp_path / "c", decoder=counting, max_tx_bytes=6)
    try:
        c.start(0, 1000)
        collect(c, 15)  # the stream so far
        small, large = Item(b"s" * 32, b"tiny"), Item(b"l" * 32, b"larger-than-six")
        c.submit([small, large])
        got = [t for batch in collect(c, 2) for t in batch.txs]
        assert got[0] is small and got[1] == decode(large.raw)
        assert decoded[-1:] == [large.raw] and small.raw not in decoded
    finally:
        c.close()


def test_a_failed_stream_reader_stops_block_production(tmp_path: Path) -> None:
    orderer = make("nats://127.0.0.1:1", tmp_path)  # never started: no connection needed
    orderer.error = ValueError("stream reader failed")
    with pytest.raises(RuntimeError, match="stream reader failed"):
        orderer.next_batch(0.01)  # the node's executor records it, and /v1/status says unhealthy
    orderer.close()


def test_a_stream_changed_by_its_operators_is_taken_as_it_stands(nats_url: str, tmp_path: Path) -> None:
    """A peer (re)starting after an operator set limits, or `remove-org` lowered the replicas, uses the
    stream as it is: JetStream refuses a create whose config differs from the stream's."""
    import asyncio

    import nats
    from nats.js.api import StreamConfig

    from govchain.ordering.jetstream import ensure_stream

    async def scenario() -> tuple[int | None, int | None, bool]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream(timeout=5)
            wanted = StreamConfig(name="GOVCHAIN_TEST", subjects=["govchain.test.>"], num_replicas=1)
            created = await ensure_stream(js, wanted)  # missing: created
            await js.update_stream(
                StreamConfig(name="GOVCHAIN_TEST", subjects=["govchain.test.>"], max_msgs=5000)
            )
            refused = False
            try:
                await js.add_stream(wanted)
            except Exception:
                refused = True
            found = await ensure_stream(js, wanted)
            return created.config.max_msgs, found.config.max_msgs, refused
        finally:
            await nc.close()

    before, after, refused = asyncio.run(scenario())
    assert (before, after, refused) == (-1, 5000, True)
    orderer = make(nats_url, tmp_path / "a")  # the orderer starts on the changed stream
    try:
        orderer.start(0, 1000, timeout=10)
        orderer.submit([item(1)])
        assert [t for b in collect(orderer, 1) for t in b.txs] == [item(1)]
    finally:
        orderer.close()
