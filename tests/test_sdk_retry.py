"""The SDK sends a submission refused as `overloaded` again (a node whose ordering service is failing over).

A node stand-in (httpx.MockTransport) answers the batch route as a scripted node would, and a
fake clock makes the pauses instant and exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from govchain import codec
from govchain.crypto import get_suite
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.sdk import client as sdk
from govchain.sdk.client import Client

SUITE = get_suite("intl")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return 1_800_000_000.0 + self.now


def txs(count: int) -> list[SignedTx]:
    key = SUITE.generate_keypair()
    return [
        make_tx(SUITE, key, "test-chain", "notary", "anchor", {"digest": bytes([i]) * 32}, 2_000_000_000_000)
        for i in range(count)
    ]


Answer = Callable[[str], dict[str, Any]]  # a tx id (hex) -> its result item


def node(script: list[Answer], lookups: dict[str, dict[str, Any]] | None = None) -> tuple[Client, list[int]]:
    """A client whose node answers the n-th batch request with script[n] for each tx in it."""
    sizes: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/v1/txs/"):
            found = (lookups or {}).get(request.url.path.rsplit("/", 1)[1])
            if found is None:
                return httpx.Response(404, json={"error": {"code": "unknown_tx", "message": "no"}})
            return httpx.Response(200, json=found)
        raws = codec.decode(request.content)
        answer = script[min(len(sizes), len(script) - 1)]
        sizes.append(len(raws))
        ids = [SUITE.hash(codec.decode(raw)["body"]).hex() for raw in raws]
        return httpx.Response(200, content=json.dumps({"results": [answer(i) for i in ids]}))

    client = Client("http://node.test")
    client._http = httpx.Client(base_url="http://node.test", transport=httpx.MockTransport(handle))
    return client, sizes


def overloaded(tx_id: str) -> dict[str, Any]:
    return {"id": tx_id, "status": "rejected", "code": "overloaded", "message": "retry later"}


def committed(tx_id: str) -> dict[str, Any]:
    return {"id": tx_id, "status": "committed", "code": "ok", "message": "", "height": 7}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(sdk, "time", fake)
    return fake


def test_overloaded_transactions_are_sent_again_until_committed(clock: Clock) -> None:
    batch = txs(3)
    first_two_refused: Answer = lambda i: overloaded(i) if i != batch[2].id.hex() else committed(i)  # noqa: E731
    client, sizes = node([first_two_refused, overloaded, committed])
    results = client.submit_many(batch)
    assert [r.status for r in results] == ["committed"] * 3 and all(r.ok for r in results)
    assert sizes == [3, 2, 2]  # only the refused ones go again
    assert clock.pauses == [0.25, 0.5]


def test_one_found_committed_meanwhile_counts_as_committed(clock: Clock) -> None:
    (tx,) = txs(1)
    replayed: Answer = lambda i: {"id": i, "status": "rejected", "code": "replayed", "message": "committed"}  # noqa: E731
    found = {"id": tx.id.hex(), "height": 9, "result": {"code": "ok", "message": ""}}
    client, sizes = node([overloaded, replayed], {tx.id.hex(): found})
    (result,) = client.submit_many([tx])
    assert (result.status, result.code, result.height) == ("committed", "ok", 9)
    assert sizes == [1, 1]


def test_retrying_stops_after_its_time_and_reports_the_refusal(clock: Clock) -> None:
    client, sizes = node([overloaded])
    (result,) = client.submit_many(txs(1), retry_for=5.0)
    assert (result.status, result.code) == ("rejected", "overloaded")
    assert clock.pauses == [0.25, 0.5, 1.0, 2.0]  # the next pause (4 s) would pass the 5 s
    assert len(sizes) == 5
    client, sizes = node([overloaded])
    (result,) = client.submit_many(txs(1), retry_for=0)
    assert result.code == "overloaded" and len(sizes) == 1


def test_other_refusals_are_not_retried(clock: Clock) -> None:
    bad: Answer = lambda i: {"id": i, "status": "rejected", "code": "bad_signature", "message": "no"}  # noqa: E731
    client, sizes = node([bad])
    (result,) = client.submit_many(txs(1))
    assert result.code == "bad_signature" and sizes == [1] and clock.pauses == []
