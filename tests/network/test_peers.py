"""Consortium nodes ordered by one JetStream stream end with the same blocks (in-process peers)."""

from __future__ import annotations

import dataclasses
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
from govchain.ordering.jetstream import encode_envelopes


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
@pytest.mark.parametrize("suite_name", ["intl", "gm"])
def test_three_peers_one_stream(nats_url: str, tmp_path: Path, suite_name: str) -> None:
    out = tmp_path / "cons"
    init_consortium(out, 3, suite_name)
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


async def _inject(url: str, items: list[tuple[str, bytes, str]]) -> list[int]:
    """Publish straight to the streams, bypassing every peer's admission (a faulty org could);
    the stream sequence of each message."""
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    seqs = [
        (await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})).seq
        for subject, payload, msg_id in items
    ]
    await nc.close()
    return seqs


@pytest.mark.slow
def test_faulty_publishers_cannot_get_bad_data_final(nats_url: str, tmp_path: Path) -> None:
    import asyncio

    from govchain import codec
    from govchain.ledger.blocks import Header, HeaderSignature, count_valid_signatures, sign_header
    from govchain.ledger.results import TxResult
    from govchain.node.finality import Finality

    out = tmp_path / "cons"
    init_consortium(out, 3, "intl", all_peers_sign=True)  # every peer signs; quorum 3 of 3
    genesis = (out / GENESIS_FILE).read_bytes()
    nodes: list[Node] = []
    finalities: list[Finality] = []
    try:
        for index in (1, 2, 3):
            data = tmp_path / f"peer{index}"
            adopt_genesis(data, genesis, KeyFile.load(out / f"org{index}" / "peer-key.json"))
            node, orderer, finality = open_peer(
                data, default_registry(), stream_settings(data, (nats_url,), 1)
            )
            node.start()
            nodes.append(node)
            finalities.append(finality)
        tx_subject, txs_subject = orderer.settings.tx_subject, orderer.settings.txs_subject
        suite, chain = nodes[0].suite, nodes[0].genesis.chain_id
        expiry = int(time.time() * 1000) + 60_000
        admin = KeyFile.load(out / "org1" / "admin-key.json").keys
        cert = Certificate.load((out / "org1" / "admin.pem").read_bytes()).der
        enrol = make_tx(suite, admin, chain, "membership", "enroll", {"cert": cert}, expiry)
        assert nodes[0].admit([enrol.raw])[0].accepted
        wait_until(lambda: all(committed(n, [enrol]) for n in nodes))

        outsider = suite.generate_keypair()
        stranger = make_tx(suite, outsider, chain, "notary", "anchor", {"digest": suite.hash(b"s")}, expiry)
        assert nodes[1].admit([stranger.raw])[0].code == "not_a_member"  # admission refuses it
        good = make_tx(suite, admin, chain, "notary", "anchor", {"digest": suite.hash(b"g")}, expiry)
        forged = make_tx(suite, admin, chain, "notary", "anchor", {"digest": suite.hash(b"f")}, expiry)
        bad_sig = forged.raw[:-1] + bytes([forged.raw[-1] ^ 1])
        asyncio.run(
            _inject(
                nats_url,
                [
                    (tx_subject, b"junk", "junk-1"),
                    (tx_subject, bad_sig, forged.id.hex()),
                    (tx_subject, stranger.raw, stranger.id.hex()),
                    (txs_subject, b"\x82junk", "junk-2"),  # not a list of transactions: skipped whole
                    (txs_subject, encode_envelopes([b"junk", stranger.raw, bad_sig]), "junk-3"),
                ],
            )
        )
        assert nodes[2].admit([good.raw])[0].accepted
        wait_until(lambda: all(committed(n, [good, stranger]) for n in nodes))
        wait_until(lambda: all(f.final_height == n.height for f, n in zip(finalities, nodes, strict=True)))
        assert headers(nodes[0]) == headers(nodes[1]) == headers(nodes[2])
        for node in nodes:
            assert not node.store.known_txs([forged.id])  # bad signature: dropped everywhere
            stored = node.store.tx(stranger.id)  # recorded as refused, with no effect
            assert stored is not None and TxResult.decode(stored.result).code == "not_a_member"
            assert not node.query("notary", "lookup", {"digest": suite.hash(b"s")})

        # forged signatures under every signer's key, for the next blocks, arrive before those blocks:
        # each peer refuses them and stores only signatures that verify over its own header
        peer_keys = [KeyFile.load(out / f"org{i}" / "peer-key.json").keys for i in (1, 2, 3)]
        head = nodes[0].head.header

        def forged_header(height: int) -> bytes:
            return dataclasses.replace(head, height=height, state_root=b"\x07" * 32).encode()

        forgeries = [
            (
                finalities[0].subject,
                codec.encode({"h": h, "header": forged_header(h), "key": k.public, "sig": b"\x01" * 64}),
                f"forged/{h}/{i}",
            )
            for h in (head.height + 1, head.height + 2)
            for i, k in enumerate(peer_keys)
        ]
        asyncio.run(_inject(nats_url, forgeries))
        next_txs = [
            make_tx(suite, admin, chain, "notary", "anchor", {"digest": suite.hash(b"n%d" % i)}, expiry)
            for i in range(2)
        ]
        for tx in next_txs:  # two blocks, one after the other
            assert nodes[1].admit([tx.raw])[0].accepted
            wait_until(lambda tx=tx: all(committed(n, [tx]) for n in nodes))
        wait_until(lambda: all(f.final_height == n.height for f, n in zip(finalities, nodes, strict=True)))
        for node in nodes:
            for h in range(1, node.height + 1):
                block = node.store.block(h)
                assert block is not None
                stored_sigs = [HeaderSignature.from_value(s) for s in codec.decode(block.signatures)]
                assert count_valid_signatures(suite, block.header, stored_sigs, node.genesis.signers) == 3
                assert len(stored_sigs) == 3

        # a quorum of valid signatures over another header at height 1: every peer reports divergence
        first = nodes[0].store.block(1)
        assert first is not None
        other = dataclasses.replace(Header.decode(first.header), state_root=b"\x07" * 32).encode()
        fake = suite.hash(other)
        sigs = []
        for index, keys in enumerate(peer_keys):
            signature = sign_header(suite, keys.private, keys.public, other)
            payload = codec.encode({"h": 1, "header": other, "key": keys.public, "sig": signature.signature})
            sigs.append((finalities[0].subject, payload, f"fake/{index}"))
        asyncio.run(_inject(nats_url, sigs))
        wait_until(lambda: all(f.diverged is not None for f in finalities))
        assert finalities[0].diverged is not None and finalities[0].diverged.quorum_hash == fake
        later = make_tx(suite, admin, chain, "notary", "anchor", {"digest": suite.hash(b"l")}, expiry)
        assert nodes[0].admit([later.raw])[0].accepted
        wait_until(lambda: all(committed(n, [later]) for n in nodes))
        time.sleep(0.5)
        for node, finality in zip(nodes, finalities, strict=True):  # no one signs on: nothing final
            assert finality.final_height < node.height
            block = node.store.block(node.height)
            assert block is not None and len(codec.decode(block.signatures)) == 1  # its own only

        # the evidence outlives a restart. A signature stored after it moves the resume point, but not
        # past it: the peer reads the signature stream again from the first conflicting signature (not
        # from its start), finds the divergence again, and signs nothing
        tip = nodes[0].store.block(nodes[0].height)
        assert tip is not None
        late = sign_header(suite, peer_keys[1].private, peer_keys[1].public, tip.header)
        payload = codec.encode(
            {"h": tip.height, "header": tip.header, "key": peer_keys[1].public, "sig": late.signature}
        )
        asyncio.run(_inject(nats_url, [(finalities[0].subject, payload, "late")]))
        wait_until(lambda: len(codec.decode(nodes[0].store.block(tip.height).signatures)) == 2)  # type: ignore[union-attr]
        nodes[0].stop()
        data = tmp_path / "peer1"
        node, _, restarted = open_peer(data, default_registry(), stream_settings(data, (nats_url,), 1))
        nodes[0] = node
        node.start()
        wait_until(lambda: restarted.diverged is not None)
        assert restarted.diverged is not None and restarted.diverged.quorum_hash == fake
        assert restarted.start_seq > 1
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.slow
def test_a_restarted_peer_reads_the_signature_stream_from_its_resume_point(
    nats_url: str, tmp_path: Path
) -> None:
    from govchain import codec
    from govchain.node.finality import RESUME_SEQ

    out = tmp_path / "cons"
    init_consortium(out, 3, "intl", all_peers_sign=True)  # quorum 3 of 3: no block is final without org3
    genesis = (out / GENESIS_FILE).read_bytes()
    datas = [tmp_path / f"peer{index}" for index in (1, 2, 3)]
    nodes: list[Node] = []
    try:
        for index, data in enumerate(datas, start=1):
            adopt_genesis(data, genesis, KeyFile.load(out / f"org{index}" / "peer-key.json"))
            node, _, finality = open_peer(data, default_registry(), stream_settings(data, (nats_url,), 1))
            node.start()
            nodes.append(node)
        assert finality.start_seq == 1  # a new peer reads the whole stream
        suite, chain = nodes[0].suite, nodes[0].genesis.chain_id
        expiry = int(time.time() * 1000) + 60_000
        admin = KeyFile.load(out / "org1" / "admin-key.json").keys
        cert = Certificate.load((out / "org1" / "admin.pem").read_bytes()).der
        enrol = make_tx(suite, admin, chain, "membership", "enroll", {"cert": cert}, expiry)

        def anchor(label: bytes) -> SignedTx:
            return make_tx(suite, admin, chain, "notary", "anchor", {"digest": suite.hash(label)}, expiry)

        first = [enrol, anchor(b"a"), anchor(b"b")]
        for tx in first:  # one block each
            assert nodes[0].admit([tx.raw])[0].accepted
            wait_until(lambda tx=tx: all(committed(n, [tx]) for n in nodes))
        wait_until(lambda: all(n.final_height == n.height for n in nodes))
        assert nodes[2].store.mark(RESUME_SEQ, 1) > 1

        # a valid signature for a height not committed yet is held in memory only: until that height
        # commits, a restart must read the stream again from it
        import asyncio
        import dataclasses

        from govchain.ledger.blocks import sign_header

        ahead = dataclasses.replace(nodes[0].head.header, height=nodes[0].height + 3).encode()
        keys = KeyFile.load(out / "org2" / "peer-key.json").keys
        early = sign_header(suite, keys.private, keys.public, ahead)
        payload = codec.encode(
            {"h": nodes[0].height + 3, "header": ahead, "key": keys.public, "sig": early.signature}
        )
        (held,) = asyncio.run(_inject(nats_url, [(finality.subject, payload, "early")]))
        block_c = anchor(b"c")  # a signature update after it stores the resume point
        assert nodes[0].admit([block_c.raw])[0].accepted
        wait_until(lambda: all(committed(n, [block_c]) for n in nodes))
        wait_until(lambda: all(n.final_height == n.height for n in nodes))
        resume = nodes[2].store.mark(RESUME_SEQ, 1)
        assert 1 < resume <= held
        nodes[2].stop()

        # without org3 nothing is final; org1's and org2's signatures of the new block wait in the stream
        later = anchor(b"later")
        assert nodes[1].admit([later.raw])[0].accepted
        wait_until(lambda: all(committed(n, [later]) for n in nodes[:2]))
        assert all(n.final_height < n.height for n in nodes[:2])

        node, _, finality = open_peer(datas[2], default_registry(), stream_settings(datas[2], (nats_url,), 1))
        nodes[2] = node
        node.start()
        assert finality.start_seq == resume  # not the stream's start
        wait_until(lambda: all(n.final_height == n.height == nodes[0].height for n in nodes))
        assert headers(nodes[0]) == headers(nodes[1]) == headers(nodes[2])
        for n in nodes:  # every block holds every org's signature, the ones before the restart too
            for h in range(1, n.height + 1):
                block = n.store.block(h)
                assert block is not None and len(codec.decode(block.signatures)) == 3
    finally:
        for node in nodes:
            node.stop()
