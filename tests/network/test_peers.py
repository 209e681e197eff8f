"""Consortium nodes ordered by one JetStream stream end with the same blocks (in-process peers)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from govchain.contracts import default_registry
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, init_consortium
from govchain.node.node import Node
from govchain.node.peer import open_peer, stream_settings


def wait_until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def committed(node: Node, txs: list[SignedTx]) -> bool:
    return len(node.store.known_txs([tx.id for tx in txs])) == len(txs)


def headers(node: Node) -> list[bytes]:
    return [node.store.block(h).header for h in range(node.height + 1)]  # type: ignore[union-attr]


@pytest.mark.slow
def test_three_peers_one_stream(nats_url: str, tmp_path: Path) -> None:
    out = tmp_path / "cons"
    init_consortium(out, 3, "intl")
    genesis = (out / GENESIS_FILE).read_bytes()
    nodes: list[Node] = []
    try:
        for index in (1, 2, 3):
            data = tmp_path / f"peer{index}"
            adopt_genesis(data, genesis, KeyFile.load(out / f"org{index}" / "peer-key.json"))
            node, _, _ = open_peer(data, default_registry(), stream_settings(data, (nats_url,), 1))
            node.start()
            nodes.append(node)
        suite = nodes[0].suite
        chain = nodes[0].genesis.chain_id
        expiry = int(time.time() * 1000) + 60_000
        admins = [KeyFile.load(out / f"org{i}" / "admin-key.json").keys for i in (1, 2, 3)]
        enrols = [
            make_tx(
                suite,
                keys,
                chain,
                "membership",
                "enroll",
                {"cert": Certificate.load((out / f"org{i}" / "admin.pem").read_bytes()).der},
                expiry,
            )
            for i, keys in zip((1, 2, 3), admins, strict=True)
        ]
        for node, tx in zip(nodes, enrols, strict=True):  # each org's admin enrols through its own peer
            assert node.admit([tx.raw])[0].accepted
        wait_until(lambda: all(committed(n, enrols) for n in nodes))
        anchors = [
            make_tx(
                suite, admins[i % 3], chain, "notary", "anchor", {"digest": suite.hash(b"%d" % i)}, expiry
            )
            for i in range(30)
        ]
        for i, tx in enumerate(anchors):  # through every peer in turn
            assert nodes[i % 3].admit([tx.raw])[0].accepted
        assert nodes[0].admit([anchors[0].raw])[0].code == "replayed"  # already waiting there
        assert nodes[1].admit([anchors[0].raw])[0].accepted  # unknown there; the stream orders it once
        wait_until(lambda: all(committed(n, anchors) for n in nodes))
        wait_until(lambda: len({n.height for n in nodes}) == 1)
        assert headers(nodes[0]) == headers(nodes[1]) == headers(nodes[2])
        assert nodes[0].head.header.state_root == nodes[2].head.header.state_root
        assert nodes[0].head.header.log_size == 33
    finally:
        for node in nodes:
            node.stop()
