"""A consortium peer: the same Node, with the JetStream orderer behind the same interface.

The node never learns which orderer it has; this module only wires one to it:
the stream is named after the genesis, the cut size is the `max_block_txs` in
force at the height before the one being cut (every peer must cut alike; see
docs/protocol.md, "Block cutting", and node/cut_limits.py), and each committed
block moves the saved stream position, so a restarted peer reads the stream
from just after its last committed block. Each position is also kept per
height, for peers that catch up from this one.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from govchain.crypto import get_suite
from govchain.ledger.contracts import Registry
from govchain.ledger.transactions import SignedTx, decode_tx
from govchain.node.catchup import STREAM_GAP, CatchUp, CatchUpFailed, positions_of
from govchain.node.chain import ChainFiles, load_genesis
from govchain.node.cut_limits import CutLimits
from govchain.node.finality import Finality
from govchain.node.node import CommitEvent, Node
from govchain.ordering.jetstream import MAX_TX_BYTES, JetStreamOrderer, StreamSettings, stream_names


def stream_settings(
    data_dir: Path,
    servers: tuple[str, ...],
    replicas: int,
    tls: ssl.SSLContext | None = None,
    inbox_prefix: str = "_INBOX",
) -> StreamSettings:
    """The stream every peer of this data directory's chain shares."""
    files = ChainFiles(data_dir)
    genesis = load_genesis(data_dir)
    genesis_hash = get_suite(genesis.suite).hash(files.genesis.read_bytes())
    stream, prefix = stream_names(genesis_hash)
    return StreamSettings(servers, stream, prefix, replicas=replicas, tls=tls, inbox_prefix=inbox_prefix)


def open_peer(
    data_dir: Path,
    registry: Registry,
    settings: StreamSettings,
    start_timeout: float = 30.0,
    catch_up: CatchUp | None = None,
) -> tuple[Node, JetStreamOrderer[SignedTx], Finality]:
    """A node ordered by the stream and exchanging header signatures; call `node.start()` next.

    If the stream no longer holds this peer's next block (or `catch_up.force`), `catch_up` fetches
    the blocks from other peers in the background and then resumes the stream (node/catchup.py);
    without it such a peer cannot start."""
    genesis = load_genesis(data_dir)
    suite = get_suite(genesis.suite)

    def decode(raw: bytes) -> SignedTx:
        return decode_tx(suite, raw, MAX_TX_BYTES)

    limits = CutLimits(data_dir, genesis)
    orderer: JetStreamOrderer[SignedTx] = JetStreamOrderer(
        settings,
        decode,
        limits.at,
        lambda: node.params().block_time_ms,  # paces this peer's markers only: follows governance at once
        data_dir,
        digest=suite.hash,
        max_tx_bytes=MAX_TX_BYTES,
    )
    node = Node(data_dir, registry, orderer=orderer)
    limits.open(node.store, node.height)

    positions = positions_of(node)

    def on_commit(event: CommitEvent) -> None:
        limits.committed(event.height)  # before the orderer resumes cutting
        position = orderer.committed(event.height)
        if position is not None:
            positions.record(position)  # served to peers that catch up (node/catchup.py)

    node.add_listener(on_commit)
    finality = Finality(node, orderer)
    if catch_up is not None:  # a hole met in the stream while running: fetch the blocks from peers
        orderer.on_gap = lambda gap: catch_up.after_gap(node, orderer, finality)
    try:
        orderer.start(node.height, genesis.time, start_timeout, hold=catch_up is not None and catch_up.force)
        if orderer.behind and catch_up is None:
            raise CatchUpFailed(
                STREAM_GAP,
                f"the stream starts at sequence {orderer.first_seq}, after this peer's next block; "
                "configure peers to catch up from",
            )
        finality.start(start_timeout)
        if catch_up is not None:
            if orderer.behind:
                catch_up.begin(node, orderer, finality)
            catch_up.watch_finality(node, finality)
    except BaseException:
        node.stop()
        raise
    return node, orderer, finality
