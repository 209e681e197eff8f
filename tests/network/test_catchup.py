"""Catch-up from other peers once the ordering stream no longer holds the old order (real nats-server).

Three of four orgs' peers run (3 signers of 4 are a quorum) and serve their APIs over HTTP; the
stream is then purged, so a fourth peer starting from nothing can get the old blocks only from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from govchain import codec
from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.blocks import Header, HeaderSignature, count_valid_signatures, sign_header
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node.catchup import (
    FORGED_CERTIFICATE,
    HEADER_MISMATCH,
    PEER_UNREACHABLE,
    POSITION_UNKNOWN,
    POSITIONS_FILE,
    CatchUp,
    FullBlock,
    PositionLog,
    decode_full_block,
    decode_full_blocks,
    encode_full_block,
    positions_of,
)
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, init_consortium
from govchain.node.finality import Finality
from govchain.node.node import Node
from govchain.node.peer import open_peer, stream_settings
from govchain.ordering.jetstream import JetStreamOrderer, Position
from tests.network.conftest import free_port, wait_port
from tests.network.test_peers import committed, headers, wait_until

ORGS = 4


@dataclasses.dataclass
class Consortium:
    out: Path
    tmp: Path
    url: str
    peers: list[tuple[Node, JetStreamOrderer[SignedTx], Finality]]
    apis: list[str]

    def open(self, index: int, catch_up: CatchUp | None = None) -> tuple[Node, Finality]:
        data = self.tmp / f"peer{index}"
        if not data.exists():
            genesis = (self.out / GENESIS_FILE).read_bytes()
            adopt_genesis(data, genesis, KeyFile.load(self.out / f"org{index}" / "peer-key.json"))
        node, orderer, finality = open_peer(
            data, default_registry(), stream_settings(data, (self.url,), 1), catch_up=catch_up
        )
        self.peers.append((node, orderer, finality))
        node.start()
        return node, finality

    def tx(self, org: int, method: str, args: dict[str, Any]) -> SignedTx:
        node = self.peers[0][0]
        keys = KeyFile.load(self.out / f"org{org}" / "admin-key.json").keys
        expiry = int(time.time() * 1000) + 120_000
        contract = "membership" if method == "enroll" else "notary"
        return make_tx(node.suite, keys, node.genesis.chain_id, contract, method, args, expiry)

    def enrol(self, org: int) -> SignedTx:
        cert = Certificate.load((self.out / f"org{org}" / "admin.pem").read_bytes())
        return self.tx(org, "enroll", {"cert": cert.der})

    def anchors(self, tag: str, count: int) -> list[SignedTx]:
        suite = self.peers[0][0].suite
        return [
            self.tx(1, "anchor", {"digest": suite.hash(b"%s%d" % (tag.encode(), i))}) for i in range(count)
        ]

    def submit(self, txs: list[SignedTx]) -> None:
        """Through the running peers in turn, then wait until every one committed them and they are final."""
        running = [n for n, _, _ in self.peers]
        for i, tx in enumerate(txs):
            assert running[i % len(running)].admit([tx.raw])[0].accepted
        wait_until(lambda: all(committed(n, txs) for n in running), 30)
        wait_until(lambda: all(f.final_height == n.height for n, _, f in self.peers), 30)


def serve(node: Node) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def consortium(request: pytest.FixtureRequest, nats_url: str, tmp_path: Path) -> Iterator[Consortium]:
    """Peers of org1..org3 with their APIs, some blocks final, then the whole stream purged
    (unless the test passes False as the fixture's parameter)."""
    out = tmp_path / "cons"
    init_consortium(out, ORGS, "intl", all_peers_sign=True)
    cons = Consortium(out, tmp_path, nats_url, [], [])
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []
    try:
        for index in (1, 2, 3):
            node, _ = cons.open(index)
            url, server, thread = serve(node)
            cons.apis.append(url)
            servers.append((server, thread))
        cons.submit([cons.enrol(i) for i in (1, 2, 3, 4)])
        for k in range(3):  # several blocks
            cons.submit(cons.anchors(f"a{k}", 5))
        if getattr(request, "param", True):
            asyncio.run(_purge(nats_url, cons.peers[0][1].settings.stream))
        yield cons
    finally:
        for server, thread in servers:
            server.should_exit = True
            thread.join(timeout=10)
        for node, _, _ in cons.peers:
            node.stop()


async def _purge(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    await nc.jetstream().purge_stream(stream)
    await nc.close()


def state_root(node: Node) -> bytes:
    return node.head.header.state_root


@pytest.mark.slow
def test_a_new_peer_catches_up_from_peers_after_the_stream_was_purged(consortium: Consortium) -> None:
    first = consortium.peers[0][0]
    with pytest.raises(Exception, match="stream_gap"):  # without peers to ask it cannot start
        consortium.open(4)
    gone = f"http://127.0.0.1:{free_port()}"  # an org whose peer is down
    catch_up = CatchUp([gone, *consortium.apis])
    node, finality = consortium.open(4, catch_up)
    assert catch_up.done.wait(60)
    assert catch_up.error is None
    # asked first once, then last: for the first block, and when no one else has a next one
    assert [(r.peer, r.reason) for r in catch_up.refusals] == [(gone, PEER_UNREACHABLE)] * 2
    assert catch_up.fetched == first.height >= 4
    assert headers(node) == headers(first) and state_root(node) == state_root(first)
    assert finality.final_height == node.height  # every fetched block came with its quorum certificate
    assert node.query("notary", "lookup", {"digest": first.suite.hash(b"a10")})

    # it reads the stream again from where the next batch starts, and follows new blocks
    later = consortium.anchors("later", 6)
    assert node.admit([later[0].raw])[0].accepted  # submitted through the caught-up peer too
    consortium.submit(later[1:])
    wait_until(lambda: committed(node, later) and node.height == first.height, 30)
    assert headers(node) == headers(first) and state_root(node) == state_root(first)
    wait_until(lambda: finality.final_height == node.height, 30)
    assert finality.diverged is None


@pytest.mark.slow
@pytest.mark.parametrize("consortium", [False], indirect=True)
def test_a_peer_may_be_told_to_catch_up_from_peers(consortium: Consortium) -> None:
    """`--from-peers`: the stream still holds everything, but the blocks come from the peers."""
    first = consortium.peers[0][0]
    catch_up = CatchUp(consortium.apis, force=True)
    node, _ = consortium.open(4, catch_up)
    assert catch_up.done.wait(60) and catch_up.error is None
    assert catch_up.fetched == first.height and headers(node) == headers(first)
    assert catch_up.position == positions_of(first).get(first.height)
    later = consortium.anchors("forced", 3)
    consortium.submit(later)
    assert headers(node) == headers(first) and state_root(node) == state_root(first)


class _Tamperer(BaseHTTPRequestHandler):
    """A peer that serves other peers' blocks altered: forged certificates, swapped transactions,
    a wrong stream position. Set up by `tampering`."""

    upstream = ""
    out = Path()
    release = threading.Event()
    forge_at = 0
    swap_at = 0
    pad_at = 0
    shift = 0
    tip = 1 << 62
    requests = 0  # GET requests answered, over the tampering peer's life
    old = False  # a peer of a version that serves one block per request only

    def do_GET(self) -> None:
        self.release.wait(30)
        type(self).requests += 1
        if self.path.startswith("/v1/blocks/full?") and self.old:  # as `/v1/blocks/{ref}` with ref "full"
            self.send_response(400)
            self.end_headers()
            return
        if self.path.startswith("/v1/blocks/full?"):  # a range
            reply = httpx.get(self.upstream + self.path, timeout=10)
            body = reply.content
            if reply.status_code == 200:
                served = [b for b in decode_full_blocks(body) if Header.decode(b.header).height <= self.tip]
                body = codec.encode([codec.decode(encode_full_block(self._tamper(b))) for b in served])
        else:
            height = int(self.path.split("/")[3])
            path = self.path if height <= self.tip else "/v1/blocks/999999999/full"  # claims no later block
            reply = httpx.get(self.upstream + path, timeout=10)
            body = reply.content
            if reply.status_code == 200:
                body = encode_full_block(self._tamper(decode_full_block(body)))
        self.send_response(reply.status_code)
        self.send_header("content-type", reply.headers.get("content-type", "application/cbor"))
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _tamper(self, block: FullBlock) -> FullBlock:
        height = Header.decode(block.header).height
        if height == self.forge_at:  # signatures by keys that are not the chain's signers
            outsider = KeyFile.load(self.out / "org1" / "admin-key.json").keys
            forged = sign_header(get_suite("intl"), outsider.private, outsider.public, block.header)
            junk = [HeaderSignature(s.signer, b"\x01" * 64) for s in block.signatures]
            block = dataclasses.replace(block, signatures=[forged, *junk])
        elif height == self.swap_at:  # the same certificate, other transactions
            block = dataclasses.replace(block, txs=list(reversed(block.txs)))
        elif height == self.pad_at:  # a valid certificate, with junk in front under a signer's key
            junk = HeaderSignature(block.signatures[0].signer, b"\x02" * 64)
            block = dataclasses.replace(block, signatures=[junk, *block.signatures])
        return dataclasses.replace(block, next_seq=(block.next_seq or 0) + self.shift)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def tampering(
    upstream: str, out: Path, **lies: Any
) -> Iterator[tuple[str, threading.Event, type[_Tamperer]]]:
    """A tampering peer over `upstream` (forge_at, swap_at, pad_at: heights; shift: added to next_seq;
    tip: the last height it admits to having)."""
    release = threading.Event()
    handler = type("Tampering", (_Tamperer,), {"upstream": upstream, "out": out, "release": release, **lies})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", release, handler
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.slow
def test_tampered_blocks_and_forged_certificates_are_refused(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    first = consortium.peers[0][0]
    caplog.set_level(logging.INFO, logger="govchain.catchup")
    lies = {"forge_at": 1, "swap_at": 2, "pad_at": 3, "shift": 7}
    with tampering(consortium.apis[0], consortium.out, **lies) as (evil_url, release, _):
        catch_up = CatchUp([evil_url, *consortium.apis], blocks_per_request=1)  # each lie asked for alone
        node, finality = consortium.open(4, catch_up)
        # the API stays open as long as the node runs (it listens for commits)
        with TestClient(create_app(node)) as client:  # the tampering peer holds its answer back a moment
            status = client.get("/v1/status").json()
            assert status["catching_up"] is True and status["height"] == 0
            release.set()
            assert catch_up.done.wait(60)
            assert catch_up.error is None
            assert client.get("/v1/status").json()["height"] == first.height
            found = {(r.peer, r.height, r.reason) for r in catch_up.refusals}
            assert (evil_url, 1, FORGED_CERTIFICATE) in found
            assert (evil_url, 2, HEADER_MISMATCH) in found
            assert all(r.peer == evil_url for r in catch_up.refusals)
            assert not any(r.height == 3 for r in catch_up.refusals)  # a quorum is there: taken from it
            padded = node.store.block(3)
            assert padded is not None
            kept = [HeaderSignature.from_value(v) for v in codec.decode(padded.signatures)]
            assert count_valid_signatures(node.suite, padded.header, kept, node.genesis.signers) == len(kept)
            text = caplog.text
            assert f"refused block 1 from {evil_url}: {FORGED_CERTIFICATE}" in text
            assert f"refused block 2 from {evil_url}: {HEADER_MISMATCH}" in text
            assert headers(node) == headers(first) and state_root(node) == state_root(first)
            position = catch_up.position  # the honest peers' position, not the tampered one
            assert position is not None and position == positions_of(first).get(position.height)
            later = consortium.anchors("after", 4)
            consortium.submit(later)
            wait_until(lambda: committed(node, later) and node.height == first.height, 30)
            assert headers(node) == headers(first)
            wait_until(lambda: finality.final_height == node.height, 30)


@pytest.mark.slow
def test_blocks_come_in_ranges_and_a_bad_one_ends_its_range(consortium: Consortium) -> None:
    """One request serves many blocks. A tampered block in the middle of a range is refused on its own:
    the blocks before it stay applied, and the rest come from another peer."""
    first = consortium.peers[0][0]
    assert first.height >= 4
    with tampering(consortium.apis[0], consortium.out, swap_at=3) as (evil_url, release, evil):
        release.set()
        catch_up = CatchUp([evil_url, *consortium.apis])
        node, finality = consortium.open(4, catch_up)
        assert catch_up.done.wait(60) and catch_up.error is None
        assert catch_up.fetched == first.height and headers(node) == headers(first)
        assert {(r.peer, r.height, r.reason) for r in catch_up.refusals} == {(evil_url, 3, HEADER_MISMATCH)}
        # blocks 1 and 2 from the first range, then block 3 refused again, and a final empty range:
        # a handful of requests, not one per block
        assert evil.requests <= 4 < first.height + 2
        assert state_root(node) == state_root(first)
        later = consortium.anchors("ranged", 3)
        consortium.submit(later)
        wait_until(lambda: committed(node, later) and finality.final_height == node.height, 30)
        assert headers(node) == headers(first)


@pytest.mark.slow
def test_a_peer_serving_one_block_per_request_is_still_used(consortium: Consortium) -> None:
    """A peer of an earlier version has no range requests: it is asked for each block alone."""
    first = consortium.peers[0][0]
    with tampering(consortium.apis[0], consortium.out, old=True) as (old_url, release, old):
        release.set()
        catch_up = CatchUp([old_url, *consortium.apis[1:]])  # the others vouch for the stream position
        node, _ = consortium.open(4, catch_up)
        assert catch_up.done.wait(60) and catch_up.error is None and not catch_up.refusals
        assert headers(node) == headers(first) and old.requests >= 2 * first.height


@pytest.mark.slow
@pytest.mark.parametrize("consortium", [False], indirect=True)
def test_a_running_peer_meeting_a_hole_in_the_stream_catches_up_from_peers(consortium: Consortium) -> None:
    """A message deleted from the middle of the stream before this peer read it: instead of stopping,
    the peer commits what it cut before the hole, fetches the rest from peers, and reads on after it."""
    first = consortium.peers[0][0]
    stream = consortium.peers[0][1].settings.stream
    last = asyncio.run(_last_seq(consortium.url, stream))
    asyncio.run(_delete(consortium.url, stream, last // 2))
    catch_up = CatchUp(consortium.apis)
    node, finality = consortium.open(4, catch_up)  # the stream still starts at 1: it reads from there
    wait_until(lambda: catch_up.gaps == 1 and catch_up.done.is_set(), 60)
    assert catch_up.error is None and node.error is None
    assert 0 < catch_up.fetched < first.height  # the blocks before the hole came from the stream
    assert headers(node) == headers(first) and state_root(node) == state_root(first)
    later = consortium.anchors("after-hole", 4)
    consortium.submit(later)  # committed and final on every peer, this one too
    assert headers(node) == headers(first) and finality.final_height == node.height


async def _last_seq(url: str, stream: str) -> int:
    import nats

    nc = await nats.connect(url)
    info = await nc.jetstream().stream_info(stream)
    await nc.close()
    return int(info.state.last_seq)


@pytest.mark.slow
def test_peers_disagreeing_on_the_stream_position_stop_the_catch_up(consortium: Consortium) -> None:
    """With 4 signers, 2 reports make a position; two liars against the honest peers: no single one."""
    upstream, out = consortium.apis[0], consortium.out
    with (
        tampering(upstream, out, shift=3) as (liar1, go1, _),
        tampering(upstream, out, shift=3) as (liar2, go2, _),
    ):
        go1.set()
        go2.set()
        catch_up = CatchUp([*consortium.apis, liar1, liar2])
        node, _ = consortium.open(4, catch_up)
        assert catch_up.done.wait(60)
    assert catch_up.error is not None and catch_up.error.reason == POSITION_UNKNOWN
    assert node.error is catch_up.error  # no block is produced
    with TestClient(create_app(node)) as client:
        status = client.get("/v1/status").json()
    assert status["healthy"] is False
    assert (status["error"], status["error_reason"]) == ("CatchUpFailed", POSITION_UNKNOWN)
    assert node.height == consortium.peers[0][0].height  # the verified blocks are kept
    assert catch_up.position is None


@pytest.mark.slow
def test_a_wrong_agreed_position_is_reported_as_divergence(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    """Enough colluding peers can make a peer read the stream from a wrong place; it then computes
    headers no quorum signs, and says so instead of finalising them."""
    first = consortium.peers[0][0]
    tip = first.height
    consortium.submit(consortium.anchors("d", 3))  # in the stream after the purge, in one block
    upstream, out = consortium.apis[0], consortium.out
    lies = {"shift": 2, "tip": tip}  # they hide the last block, and place the next one 2 messages late
    with (
        tampering(upstream, out, **lies) as (liar1, go1, _),
        tampering(upstream, out, **lies) as (liar2, go2, _),
    ):
        go1.set()
        go2.set()
        catch_up = CatchUp([liar1, liar2])
        node, finality = consortium.open(4, catch_up)
        assert catch_up.done.wait(60)
    assert catch_up.error is None and catch_up.position is not None
    honest = positions_of(first).get(tip)
    assert honest is not None and catch_up.position.next_seq == honest.next_seq + 2
    wait_until(lambda: finality.diverged is not None, 30)
    assert finality.diverged is not None and finality.diverged.height == tip + 1
    assert node.store.block(tip + 1) != first.store.block(tip + 1)
    assert finality.final_height == tip  # what it computed from the wrong place never becomes final
    assert "DIVERGED" in caplog.text


@given(
    header=st.binary(max_size=64),
    sigs=st.lists(
        st.tuples(st.binary(min_size=65, max_size=65), st.binary(min_size=64, max_size=64)), max_size=4
    ),
    txs=st.lists(st.binary(max_size=40), max_size=5),
    next_seq=st.none() | st.integers(min_value=1, max_value=2**63),
    next_item=st.integers(min_value=0, max_value=2**32),
)
def test_full_block_wire_form_round_trips(
    header: bytes, sigs: list[tuple[bytes, bytes]], txs: list[bytes], next_seq: int | None, next_item: int
) -> None:
    block = FullBlock(header, [HeaderSignature(k, s) for k, s in sigs], txs, next_seq, next_item)
    data = encode_full_block(block)
    assert decode_full_block(data) == block
    value = codec.decode(data)
    broken_values = (
        {**value, "extra": 1},
        {**value, "v": 2},
        {**value, "next_seq": 0},
        {**value, "next_item": -1},
        {k: v for k, v in value.items() if k != "next_item"},
        {**value, "txs": [1]},
    )
    for broken in broken_values:
        with pytest.raises(ValueError):
            decode_full_block(codec.encode(broken))


def test_a_catch_up_asks_for_ranges_peers_serve() -> None:
    assert CatchUp(["http://127.0.0.1:1"]).blocks_per_request == 64
    for bad in (0, -1, 257):
        with pytest.raises(ValueError, match=r"blocks_per_request must be 1\.\.256"):
            CatchUp(["http://127.0.0.1:1"], blocks_per_request=bad)


def test_the_next_range_travels_while_one_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a full range in hand, the next one is asked for before its blocks are applied: applying
    the first block waits until the second range has been asked for, which, without asking ahead,
    would only happen once the first range is applied. A short last range asks nothing more."""
    import govchain.node.catchup as catchup_module

    tip, per_range = 7, 3
    asked: list[int] = []
    second_asked = threading.Event()

    def serve(request: httpx.Request) -> httpx.Response:
        first = int(request.url.params["from"])
        asked.append(first)
        if first == 1 + per_range:
            second_asked.set()
        count = max(0, min(per_range, tip - first + 1))
        blocks = [encode_full_block(FullBlock(b"h%d" % (first + i), [], [], None)) for i in range(count)]
        return httpx.Response(200, content=catchup_module._array_head(count) + b"".join(blocks))

    class FakeNode:
        height = 0

    class FakeFinality:
        def certified(self, height: int) -> None:
            pass

    node = FakeNode()

    def apply(_: Any, height: int, block: FullBlock) -> None:
        assert block.header == b"h%d" % height and height == node.height + 1
        if height == 1:
            assert second_asked.wait(10), "the second range was not asked for ahead"
        node.height = height

    monkeypatch.setattr(catchup_module, "apply_served", apply)
    catch_up = CatchUp(["http://peer"], blocks_per_request=per_range)
    with httpx.Client(transport=httpx.MockTransport(serve)) as http:
        last = catch_up._fetch_all(http, node, FakeFinality())  # type: ignore[arg-type]
    assert last == tip and catch_up.fetched == tip
    assert asked == [1, 4, 7, 8]  # 7 is a short range, so 8 is asked for only after it, and is empty


def test_the_position_log_keeps_where_a_list_was_cut(tmp_path: Path) -> None:
    """A batch cut in the middle of a list resumes at (sequence, item): a catching-up peer that
    restarted at item 0 would cut the items already in the block again."""
    import sqlite3

    log = PositionLog(tmp_path)
    log.record(Position(7, 1234, 40, 3))
    assert log.get(7) == Position(7, 1234, 40, 3)
    log.close()
    old = tmp_path / "old"  # a log written before lists: three columns, read as item 0
    old.mkdir()
    conn = sqlite3.connect(old / POSITIONS_FILE)
    conn.execute(
        "CREATE TABLE positions (height INTEGER PRIMARY KEY, time INTEGER NOT NULL, next_seq INTEGER)"
    )
    conn.execute("INSERT INTO positions VALUES (5, 99, 12)")
    conn.commit()
    conn.close()
    migrated = PositionLog(old)
    assert migrated.get(5) == Position(5, 99, 12, 0)
    migrated.record(Position(6, 100, 12, 2))
    assert migrated.get(6) == Position(6, 100, 12, 2)
    migrated.close()


@pytest.mark.slow
def test_a_reader_stops_at_messages_the_stream_lost_before_it_read_them(
    nats_url: str, tmp_path: Path
) -> None:
    """Cutting past a hole would give other blocks than the peers that read those messages."""
    from tests.network.test_jetstream import collect, item, make

    a = make(nats_url, tmp_path / "a", max_txs=2)
    late = make(nats_url, tmp_path / "late", max_txs=2)
    try:
        a.start(0, 1000)
        for i in range(6):  # one message each (a submission of several is one list): sequences 1..6
            a.submit([item(i)])
        assert len(collect(a, 6)) == 3
        asyncio.run(_delete(nats_url, a.settings.stream, 3))
        late.start(0, 1000)  # the stream still starts at 1: it reads, and meets the hole at 3
        wait_until(lambda: late.error is not None)
        with pytest.raises(RuntimeError, match=r"no longer holds messages 3\.\.3"):
            late.next_batch(0.1)
    finally:
        a.close()
        late.close()


async def _delete(url: str, stream: str, seq: int) -> None:
    import nats

    nc = await nats.connect(url)
    await nc.jetstream().delete_msg(stream, seq)
    await nc.close()


@pytest.mark.slow
@pytest.mark.parametrize("consortium", [False], indirect=True)
def test_signatures_the_stream_lost_come_from_peers(consortium: Consortium) -> None:
    """The signature stream purged: a new peer replays the ordering stream, but only its own signature
    reaches its blocks. Once its finality stalls it asks the peers for theirs (passing over one that is
    down), and keeps only valid signatures of the height's signers over its own header."""
    first = consortium.peers[0][0]
    asyncio.run(_purge(consortium.url, f"{consortium.peers[0][1].settings.stream}_SIGS"))
    gone = f"http://127.0.0.1:{free_port()}"
    catch_up = CatchUp([gone, *consortium.apis], stall_s=1.0)
    node, finality = consortium.open(4, catch_up)
    wait_until(lambda: node.height == first.height, 30)
    wait_until(lambda: finality.final_height == node.height, 30)
    assert catch_up.filled == node.height  # every block, from the peers
    assert headers(node) == headers(first)
    for height in range(1, node.height + 1):
        block = node.store.block(height)
        assert block is not None
        stored = [HeaderSignature.from_value(s) for s in codec.decode(block.signatures)]
        assert (
            count_valid_signatures(node.suite, block.header, stored, node.genesis.signers) == len(stored) >= 3
        )

    # what a peer serves is checked like a stream message: a stranger's valid signature, a signer's
    # forged one, or signatures over another header change nothing
    block = node.store.block(1)
    assert block is not None
    stranger = node.suite.generate_keypair()
    signer = node.genesis.signers[0]
    served = [
        sign_header(node.suite, stranger.private, stranger.public, block.header),
        HeaderSignature(signer, b"\x02" * 64),
    ]
    assert finality.add_served(1, block.header, served)  # final already, and still
    other = dataclasses.replace(Header.decode(block.header), state_root=b"\x07" * 32).encode()
    assert not finality.add_served(1, other, served)
    after = node.store.block(1)
    assert after is not None and after.signatures == block.signatures


async def _delete_signatures(url: str, stream: str, height: int) -> int:
    """Delete every signature message for one height from the signature stream; how many there were."""
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(stream)
    deleted = 0
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(stream, seq)
        if codec.decode(message.data)["h"] == height:
            await js.delete_msg(stream, seq)
            deleted += 1
    await nc.close()
    return deleted


@pytest.mark.slow
@pytest.mark.parametrize("consortium", [False], indirect=True)
def test_a_block_whose_signatures_the_stream_lost_is_filled_in_while_later_ones_are_final(
    consortium: Consortium,
) -> None:
    """Only block 2's signature messages are gone: the new peer's later blocks become final from the
    stream, but block 2 keeps its final prefix back, also across a restart, and that block's
    signatures come from peers."""
    first = consortium.peers[0][0]
    stream = f"{consortium.peers[0][1].settings.stream}_SIGS"
    assert asyncio.run(_delete_signatures(consortium.url, stream, 2)) == 3  # org1..org3 signed it
    node, finality = consortium.open(4, CatchUp(consortium.apis, stall_s=3600.0))  # not filling yet
    wait_until(lambda: node.height == first.height and finality.final_height == node.height, 30)
    assert finality.final_prefix == 1  # block 2 has org4's own signature only
    registry = node.metrics.registry  # what `govchain network status` shows as "final (gap at 2)"
    assert registry.get_sample_value("govchain_final_prefix") == 1
    assert registry.get_sample_value("govchain_final_height") == node.height
    consortium.peers.pop()
    node.stop()

    catch_up = CatchUp(consortium.apis, stall_s=1.0)
    node, finality = consortium.open(4, catch_up)
    assert finality.final_prefix == 1  # the stored prefix, not "everything below the last final block"
    wait_until(lambda: finality.final_prefix == node.height, 30)
    assert catch_up.filled == 1
    block = node.store.block(2)
    assert block is not None
    stored = [HeaderSignature.from_value(s) for s in codec.decode(block.signatures)]
    assert count_valid_signatures(node.suite, block.header, stored, node.genesis.signers) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("consortium", [False], indirect=True)
def test_blocks_fetched_with_certificates_count_as_final_after_a_restart(
    consortium: Consortium, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored final prefix lags by blocks that became final without a signature update (fetched
    with their certificates). A restart looks at every block after it, however many (not only the
    last REPUBLISH_DEPTH), so no final block is taken for one short of signatures."""
    import govchain.node.finality as finality_module

    monkeypatch.setattr(finality_module, "REPUBLISH_DEPTH", 2)
    first = consortium.peers[0][0]
    node, finality = consortium.open(4)  # from the stream: signature updates store its prefix
    wait_until(lambda: node.height == first.height and finality.final_prefix == node.height, 30)
    consortium.peers.pop()
    node.stop()
    for k in range(4):  # blocks org4 misses; then the stream loses them
        consortium.submit(consortium.anchors(f"m{k}", 2))
    asyncio.run(_purge(consortium.url, consortium.peers[0][1].settings.stream))
    catch_up = CatchUp(consortium.apis)
    node, finality = consortium.open(4, catch_up)
    assert catch_up.done.wait(60) and catch_up.error is None and catch_up.fetched >= 4
    assert finality.final_prefix == node.height == first.height
    consortium.peers.pop()
    node.stop()

    catch_up = CatchUp(consortium.apis, stall_s=1.0)
    node, finality = consortium.open(4, catch_up)
    assert finality.final_prefix == node.height  # every block after the stored prefix was looked at
    time.sleep(2.5)
    assert catch_up.filled == 0  # nothing to ask the peers for
