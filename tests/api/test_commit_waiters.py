"""One wait per request: every transaction's outcome, however and whenever it arrives."""

from __future__ import annotations

import asyncio

from govchain.api.common import CommitWaiters, Outcome
from govchain.node.node import CommitEvent


def event(height: int, committed: list[bytes], dropped: tuple[bytes, ...] = ()) -> CommitEvent:
    return CommitEvent(
        height=height,
        block_hash=bytes(32),
        time=0,
        committed=[(tx_id, "ok", "") for tx_id in committed],
        dropped=[(tx_id, "expired", "too late") for tx_id in dropped],
    )


def test_a_wait_ends_when_its_last_transaction_is_settled() -> None:
    async def scenario() -> None:
        waiters = CommitWaiters(asyncio.get_running_loop())
        a, b, c, d = b"a" * 32, b"b" * 32, b"c" * 32, b"d" * 32
        waiters._resolve(event(1, [], (d,)))  # dropped before anyone waited: remembered
        wait = waiters.wait([a, b, a, c, d])  # a repeated id counts once
        other = waiters.wait([b])
        assert wait.outcomes == {d: (None, "expired", "too late")} and not wait.done.done()
        waiters._resolve(event(2, [a]))
        waiters.settle(wait, {c: (1, "ok", "")})  # found in the store
        assert not wait.done.done()
        waiters._resolve(event(3, [b, c]))  # c again: the first outcome stays
        await asyncio.wait_for(wait.done, 1)
        await asyncio.wait_for(other.done, 1)
        expected: dict[bytes, Outcome] = {
            a: (2, "ok", ""),
            b: (3, "ok", ""),
            c: (1, "ok", ""),
            d: (None, "expired", "too late"),
        }
        assert wait.outcomes == expected
        assert other.outcomes == {b: (3, "ok", "")}
        assert waiters._waiting == {}

    asyncio.run(scenario())


def test_a_forgotten_wait_leaves_nothing_behind_and_others_still_end() -> None:
    async def scenario() -> None:
        waiters = CommitWaiters(asyncio.get_running_loop())
        a, b = b"a" * 32, b"b" * 32
        gone = waiters.wait([a, b])
        kept = waiters.wait([a])
        waiters.forget(gone, [a, b])  # e.g. the request timed out
        assert set(waiters._waiting) == {a}
        waiters.on_commit(event(5, [a, b]))  # from another thread in real life
        await asyncio.wait_for(kept.done, 1)
        assert kept.outcomes == {a: (5, "ok", "")}
        assert gone.outcomes == {} and not gone.done.done()
        assert waiters._waiting == {}

    asyncio.run(scenario())


def test_an_empty_wait_is_done_at_once() -> None:
    async def scenario() -> None:
        wait = CommitWaiters(asyncio.get_running_loop()).wait([])
        assert wait.done.done() and wait.outcomes == {}

    asyncio.run(scenario())
