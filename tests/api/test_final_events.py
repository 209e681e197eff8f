"""The block feed's `final` events and `/v1/status`'s final height, on a real HTTP server.

A solo node's own signature is the whole quorum, so each commit is final at once; on a network
the finality tracker announces heights (tests/network). Clients such as `govchain bench --network`
follow these events instead of polling.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.ledger.transactions import make_tx
from govchain.node.chain import create_dev_chain
from govchain.node.node import Node
from tests.network.conftest import free_port, wait_port


def test_final_heights_are_pushed_and_reported(tmp_path: Path) -> None:
    create_dev_chain(tmp_path / "node", "intl")
    node = Node(tmp_path / "node", default_registry())
    node.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
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

    try:
        wait_port(port)
        assert httpx.get(f"{url}/v1/status").json()["final_height"] == node.height
        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        assert listening.wait(10)  # the route subscribes before it answers, so nothing is missed
        key = node.suite.generate_keypair()
        tx = make_tx(
            node.suite,
            key,
            node.genesis.chain_id,
            "notary",
            "anchor",
            {"digest": os.urandom(32)},
            int(time.time() * 1000) + 60_000,
        )
        reply = httpx.post(
            f"{url}/v1/txs",
            content=tx.raw,
            headers={"content-type": "application/cbor"},
            params={"wait": "true"},
        ).json()
        height = reply["height"]
        follower.join(10)
        assert [kind for kind, _ in events] == ["block", "final"]
        assert events[0][1]["height"] == height and events[1][1] == {"height": height}
        assert httpx.get(f"{url}/v1/status").json()["final_height"] == height
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        node.stop()


def test_the_sdk_waits_for_finality_through_the_events(tmp_path: Path) -> None:
    from govchain.sdk.client import Client

    create_dev_chain(tmp_path / "node", "intl")
    node = Node(tmp_path / "node", default_registry())
    node.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    key = node.suite.generate_keypair()

    def anchor() -> None:
        tx = make_tx(
            node.suite,
            key,
            node.genesis.chain_id,
            "notary",
            "anchor",
            {"digest": os.urandom(32)},
            int(time.time() * 1000) + 60_000,
        )
        assert node.admit([tx.raw])[0].accepted

    try:
        wait_port(port)
        with Client(f"http://127.0.0.1:{port}") as client:
            assert client.wait_final(0, timeout=5)  # the genesis block: final already
            assert not client.wait_final(1, timeout=0.5)  # nothing was submitted: times out, False
            later = threading.Timer(0.3, anchor)  # block 1 commits (and so is final) during the wait
            later.start()
            assert client.wait_final(1, timeout=20)
            later.join()
            assert client.status()["final_height"] >= 1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        node.stop()
