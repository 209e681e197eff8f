"""Governance changes of `max_block_txs` apply to JetStream cutting, identically on every peer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govchain.contracts import default_registry
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.blocks import Header
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, init_consortium
from govchain.node.cut_limits import LIMITS_FILE
from govchain.node.node import Node
from govchain.node.peer import open_peer, stream_settings
from govchain.ordering.jetstream import CUT, POSITION_FILE, TX, CutBatch, Cutter, Position
from tests.network.test_jetstream import Item, decode
from tests.network.test_peers import committed, headers, wait_until

Message = tuple[bool, int, bytes]  # (is_tx, stream timestamp, payload)

messages = st.lists(
    st.one_of(
        st.tuples(st.just(True), st.integers(0, 50), st.sampled_from([b"a", b"b", b"c", b"junk"])),
        st.tuples(st.just(False), st.integers(0, 50), st.integers(0, 12).map(lambda h: str(h).encode())),
    ),
    max_size=60,
)


def cuts_of(stream: list[Message], limits: dict[int, int], release: list[int]) -> list[CutBatch[Item]]:
    """Feed `stream` to a cutter whose limits become known only as `release` says (one more height
    after each message, by the counts in `release`), then release all."""
    known = [0]

    def limit_at(height: int) -> int | None:
        return limits.get(height, 2) if height <= known[0] else None

    cutter = Cutter(Position(0, 0, 1), 0, decode, limit_at=limit_at)
    out: list[CutBatch[Item]] = []
    for seq, (is_tx, stamp, payload) in enumerate(stream, start=1):
        out += cutter.feed(TX if is_tx else CUT, seq, stamp, payload)
        known[0] += release[seq % len(release)] if release else 0
        out += cutter.drain()
    known[0] = 10**9
    return out + cutter.drain()


@settings(max_examples=200, deadline=None)
@given(
    messages,
    st.dictionaries(st.integers(1, 20), st.integers(1, 4)),
    st.lists(st.integers(0, 2), max_size=5),
)
def test_cuts_do_not_depend_on_when_limits_become_known(
    stream: list[Message], limits: dict[int, int], release: list[int]
) -> None:
    """A peer far behind execution and one right on it cut the same batches: only the limits and the
    stream decide, never how long a peer waited for its state."""
    assert cuts_of(stream, limits, release) == cuts_of(stream, limits, [10**6])
    for cut in cuts_of(stream, limits, release):
        assert len(cut.batch.txs) <= limits.get(cut.height, 2)


def test_cutter_waits_while_the_limit_is_unknown() -> None:
    known = {1: 2}
    cutter = Cutter(Position(0, 1000, 1), 0, decode, limit_at=known.get)
    assert cutter.on_tx(1, 1001, b"a") == []
    first = cutter.on_tx(2, 1002, b"b")
    assert [c.height for c in first] == [1] and len(first[0].batch.txs) == 2
    assert cutter.on_tx(3, 1003, b"c") == [] and cutter.on_tx(4, 1004, b"d") == []
    assert len(cutter.backlog) == 2 and not cutter.open_txs  # height 2's limit is not known: both wait
    known[2] = 1
    second = cutter.drain()
    assert [(c.height, len(c.batch.txs)) for c in second] == [(2, 1)]
    assert len(cutter.backlog) == 1  # height 3 waits again
    known[3] = 5
    assert cutter.drain() == [] and [t.raw for t in cutter.open_txs] == [b"d"]


def tx_counts(node: Node, first: int) -> dict[int, int]:
    return {
        h: Header.decode(node.store.block(h).header).tx_count  # type: ignore[union-attr]
        for h in range(first, node.height + 1)
    }


@pytest.mark.slow
def test_governance_changes_the_block_size_on_every_peer(nats_url: str, tmp_path: Path) -> None:
    out = tmp_path / "cons"
    init_consortium(out, 3, "intl", all_peers_sign=True)
    genesis = (out / GENESIS_FILE).read_bytes()
    nodes: list[Node] = []

    def start(index: int, data: Path) -> Node:
        if not data.exists():
            adopt_genesis(data, genesis, KeyFile.load(out / f"org{index}" / "peer-key.json"))
        node, _, _ = open_peer(data, default_registry(), stream_settings(data, (nats_url,), 1))
        node.start()
        return node

    try:
        nodes = [start(i, tmp_path / f"peer{i}") for i in (1, 2, 3)]
        suite, chain = nodes[0].suite, nodes[0].genesis.chain_id
        assert nodes[0].genesis.params.max_block_txs > 12
        expiry = int(time.time() * 1000) + 120_000
        admins = [KeyFile.load(out / f"org{i}" / "admin-key.json").keys for i in (1, 2, 3)]

        def send(node: Node, txs: list[SignedTx]) -> None:
            assert all(a.accepted for a in node.admit([tx.raw for tx in txs]))
            wait_until(lambda: all(committed(n, txs) for n in nodes))

        for i, keys in enumerate(admins):
            cert = Certificate.load((out / f"org{i + 1}" / "admin.pem").read_bytes()).der
            send(nodes[i], [make_tx(suite, keys, chain, "membership", "enroll", {"cert": cert}, expiry)])
        args = {"action": "set_params", "args": {"max_block_txs": 3}, "delay": 1}
        proposal = make_tx(suite, admins[0], chain, "governance", "propose", args, expiry)
        send(nodes[0], [proposal])
        for i in (1, 2):  # all three orgs: more than 2/3
            vote = {"proposal": proposal.id, "approve": True}
            send(nodes[i], [make_tx(suite, admins[i], chain, "governance", "vote", vote, expiry)])
        decided = next(p for p in nodes[0].query("governance", "proposals", {}) if p["id"] == proposal.id)
        assert decided["status"] == "executed"
        effective = decided["effective_height"]

        def anchors(tag: str, count: int) -> list[SignedTx]:
            return [
                make_tx(
                    suite,
                    admins[k % 3],
                    chain,
                    "notary",
                    "anchor",
                    {"digest": suite.hash(b"%s%d" % (tag.encode(), k))},
                    expiry,
                )
                for k in range(count)
            ]

        first, second = anchors("a", 12), anchors("b", 12)
        send(nodes[1], first)  # from block `effective` on (cut with the old limit there)
        send(nodes[2], second)  # only in blocks after `effective`
        wait_until(lambda: len({(n.height, n.head.header.state_root) for n in nodes}) == 1)
        assert headers(nodes[0]) == headers(nodes[1]) == headers(nodes[2])
        for node in nodes:
            assert node.params().max_block_txs == 3
            counts = tx_counts(node, effective + 1)
            assert counts and max(counts.values()) <= 3, counts  # the new limit, from effective + 1
            heights = {node.store.tx(t.id).height for t in second}  # type: ignore[union-attr]
            assert min(heights) > effective and len(heights) >= 4
        limits = json.loads((tmp_path / "peer1" / LIMITS_FILE).read_text())["changes"]
        assert limits[-1] == [effective + 1, 3]

        # peer 2 restarts from the very start of the stream (no saved position): it cuts the old
        # blocks again with the limits they had, and a fresh peer for org3 replays everything
        nodes[1].stop()
        (tmp_path / "peer2" / POSITION_FILE).unlink()
        nodes[1] = start(2, tmp_path / "peer2")
        nodes[2].stop()
        nodes[2] = start(3, tmp_path / "peer3-fresh")
        third = anchors("c", 7)
        send(nodes[0], third)
        wait_until(lambda: len({(n.height, n.head.header.state_root) for n in nodes}) == 1)
        assert headers(nodes[0]) == headers(nodes[1]) == headers(nodes[2])
        assert max(tx_counts(nodes[2], effective + 1).values()) <= 3
    finally:
        for node in nodes:
            node.stop()
