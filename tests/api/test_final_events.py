"""The block feed's `final` events and `/v1/status`'s final height, on a real HTTP server.

A solo node's own signature is the whole quorum, so each commit is final at once; on a network
the finality tracker announces heights (tests/network). Clients such as `govchain bench --network`
and the SDK's `Client.wait_final` follow these events instead of polling.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.ledger.transactions import make_tx
from govchain.node.chain import create_dev_chain
from govchain.node.node import Node
from govchain.sdk.client import Client
from tests.network.conftest import free_port, wait_port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Node, str]]:
    """A development node behind a real uvicorn server: (node, its URL)."""
    create_dev_chain(tmp_path / "node", "intl")
    node = Node(tmp_path / "node", default_registry())
    node.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(port)
        yield node, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        node.stop()


def anchor(node: Node) -> bytes:
    """Submit one notarisation straight to the node; its raw bytes."""
    key = node.suite.generate_keypair()
    args = {"digest": os.urandom(32)}
    expiry = int(time.time() * 1000) + 60_000
    tx = make_tx(node.suite, key, node.genesis.chain_id, "notary", "anchor", args, expiry)
    return tx.raw


def test_final_heights_are_pushed_and_reported(served: tuple[Node, str]) -> None:
    node, url = served
    events: list[tuple[str, dict[str, int]]] = []
    listening = threading.Event()

    def follow() -> None:
        kind = ""
        with httpx.stream("GET", f"{url}/v1/events/blocks", timeout=30) as reply:
            listening.set()
            for line in reply.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind == "final":
                        return

    assert httpx.get(f"{url}/v1/status").json()["final_height"] == node.height
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert listening.wait(10)  # the route subscribes before it answers, so nothing is missed
    reply = httpx.post(
        f"{url}/v1/txs",
        content=anchor(node),
        headers={"content-type": "application/cbor"},
        params={"wait": "true"},
    ).json()
    height = reply["height"]
    follower.join(10)
    assert [kind for kind, _ in events] == ["block", "final"]
    assert events[0][1]["height"] == height and events[1][1] == {"height": height}
    assert httpx.get(f"{url}/v1/status").json()["final_height"] == height


def test_the_sdk_waits_for_finality_through_the_events(served: tuple[Node, str]) -> None:
    node, url = served

    def submit() -> None:
        assert node.admit([anchor(node)])[0].accepted

    with Client(url) as client:
        assert client.wait_final(0, timeout=5)  # the genesis block: final already
        assert not client.wait_final(1, timeout=0.5)  # nothing was submitted: times out, False
        later = threading.Timer(0.3, submit)  # block 1 commits (and so is final) during the wait
        later.start()
        assert client.wait_final(1, timeout=20)
        later.join()
        assert client.status()["final_height"] >= 1
