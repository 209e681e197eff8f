"""Catch-up from other peers: blocks with their finality certificates, when the stream cannot help.

A peer normally learns its next blocks by replaying the ordering stream from its
saved position. When the stream no longer holds that position (stream limits, a
purge, a peer joining long after genesis), when a running peer meets messages it
had still to read gone from the stream (`CatchUp.after_gap`), or when asked to,
it fetches blocks from other peers' APIs instead (`GET /v1/blocks/full?from=h&count=n`,
up to `blocks_per_request` consecutive blocks per request; docs/protocol.md,
"Block transfer") and trusts none of them. Each block is checked on its own:

1. the certificate must carry valid signatures over the header from a quorum of
   the signers of that height (ledger/signers.py: the same rule as finality
   and offline receipts);
2. the header must be the next one here (height, chain, parent hash);
3. the transactions are executed by the normal state transition, and the block
   is committed only if the header computed here is byte-for-byte the certified
   one. Otherwise it is refused, the reason is logged and recorded, and the next
   peer is asked from that height on.

The same peers also fill in signatures (`CatchUp.watch_finality`): when the
first committed block short of a quorum here stays so for `stall_s` seconds
(`Finality.final_prefix` does not move, even if later blocks become final), the stream
lost or never carried some of its signature messages (limits or a purge on the
signature stream, a peer that restarted without them). The peer then asks other
peers for the signatures they store for it and keeps the valid ones over its own
header, as if they had come from the stream.

Then the peer must read the stream again, from where the batch after its last
fetched block starts. That stream sequence is not in any header, so every peer
records it per height (`stream-positions.db`) and serves it with the block. The
catching-up peer takes a value only when enough peers report it that at least
one of them is honest (signers - quorum + 1 of them), and checks the part a
header certifies (the batch time). A wrong sequence still cannot corrupt
anything: the peer would cut other batches than everyone else, compute headers
that never reach a quorum, and finality reports that divergence (log at ERROR,
`govchain_diverged`) and stops signing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from govchain import codec
from govchain.ledger.blocks import Header, HeaderSignature, valid_signatures
from govchain.ledger.signers import quorum
from govchain.ledger.transactions import SignedTx, decode_tx
from govchain.node.finality import Finality
from govchain.node.node import HeaderMismatch, Node
from govchain.ordering.base import Batch
from govchain.ordering.jetstream import MAX_TX_BYTES, JetStreamOrderer, Position

log = logging.getLogger("govchain.catchup")

POSITIONS_FILE = "stream-positions.db"
FULL_BLOCK_VERSION = 1
CBOR = "application/cbor"
PROGRESS_EVERY_S = 2.0
MAX_RANGE_BLOCKS = 256  # blocks one range request may ask for
RANGE_BYTES = 8 * 1024 * 1024  # a range answer stops growing past this size (it always holds one block)
BLOCKS_PER_REQUEST = 64  # what a catching-up peer asks for: one round trip per this many blocks
DRAIN_TIMEOUT_S = 60.0  # after a hole in the stream: the wait for the blocks cut before it
STALL_S = 10.0  # a committed block short of a quorum this long: ask peers for its signatures

# reasons a served block is refused (logged, and kept in CatchUp.refusals)
FORGED_CERTIFICATE = "forged_certificate"
HEADER_MISMATCH = "header_mismatch"
BAD_BLOCK = "bad_block"
PEER_UNREACHABLE = "peer_unreachable"
# reasons catch-up as a whole stops
NO_PEERS = "no_peers"
CATCH_UP_ERROR = "catch_up_error"  # anything unexpected (a bug, the stream unreachable)
POSITION_UNKNOWN = "position_unknown"
STREAM_GAP = "stream_gap"


class PositionLog:
    """Per height, where the next batch starts in the ordering stream (what a catching-up peer needs)."""

    def __init__(self, data_dir: Path) -> None:
        self._conn = sqlite3.connect(data_dir / POSITIONS_FILE, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # no fsync per block: other peers vouch too
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS positions "
            "(height INTEGER PRIMARY KEY, time INTEGER NOT NULL, next_seq INTEGER NOT NULL, "
            "next_item INTEGER NOT NULL DEFAULT 0)"
        )
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(positions)")}
        if "next_item" not in columns:  # a log written before transaction lists
            self._conn.execute("ALTER TABLE positions ADD COLUMN next_item INTEGER NOT NULL DEFAULT 0")
        self._lock = threading.Lock()

    def record(self, position: Position) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO positions (height, time, next_seq, next_item) VALUES (?, ?, ?, ?)",
                (position.height, position.time, position.next_seq, position.next_item),
            )

    def get(self, height: int) -> Position | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT height, time, next_seq, next_item FROM positions WHERE height = ?", (height,)
            ).fetchone()
        return None if row is None else Position(*(int(column) for column in row))

    def close(self) -> None:
        self._conn.close()


# --- the wire form of one block (docs/protocol.md, "Block transfer") -------------------------


@dataclass(frozen=True, slots=True)
class FullBlock:
    header: bytes
    signatures: list[HeaderSignature]
    txs: list[bytes]  # envelopes, in log order
    next_seq: int | None  # where the next batch starts in the stream, if the serving peer knows
    next_item: int = 0  # items of message `next_seq` already in block h or earlier (a list cut mid-way)


def full_block(node: Node, height: int) -> bytes | None:
    """A committed block as served to catching-up peers (None if this peer has no such block)."""
    stored = node.store.block(height)
    if stored is None:
        return None
    header = Header.decode(stored.header)
    txs = node.store.txs_in_range(header.log_size - header.tx_count, header.log_size)
    recorded = (node.files.data_dir / POSITIONS_FILE).exists()  # only peers record positions
    position = positions_of(node).get(height) if recorded else None
    signatures = [HeaderSignature.from_value(s) for s in codec.decode(stored.signatures)]
    next_seq, next_item = (None, 0) if position is None else (position.next_seq, position.next_item)
    envelopes = [t.envelope for t in txs]
    return encode_full_block(FullBlock(stored.header, signatures, envelopes, next_seq, next_item))


def full_blocks(node: Node, first: int, count: int) -> bytes:
    """Blocks `first`, `first + 1`, ... as served to catching-up peers: a CBOR array of full blocks.

    It ends at this peer's last block, after `count` blocks, or before the block that would take it
    past RANGE_BYTES, but always holds block `first` if this peer has it (else it is empty).
    """
    served: list[bytes] = []
    size = 0
    for height in range(first, first + count):
        block = full_block(node, height)
        if block is None or (served and size + len(block) > RANGE_BYTES):
            break
        served.append(block)
        size += len(block)
    return _array_head(len(served)) + b"".join(served)


def _array_head(count: int) -> bytes:
    """The canonical CBOR head of an array of `count` items (RFC 8949 §4.2.1: shortest form)."""
    if count < 24:
        return bytes([0x80 + count])
    if count < 0x100:
        return bytes([0x98, count])
    return b"\x99" + count.to_bytes(2, "big")


def encode_full_block(block: FullBlock) -> bytes:
    return codec.encode(
        {
            "v": FULL_BLOCK_VERSION,
            "header": block.header,
            "signatures": [s.to_value() for s in block.signatures],
            "txs": block.txs,
            "next_seq": block.next_seq,
            "next_item": block.next_item,
        }
    )


_positions_by_dir: dict[Path, PositionLog] = {}
_positions_lock = threading.Lock()


def positions_of(node: Node) -> PositionLog:
    """The position log of a node's data directory (one connection each, shared by the peer and API)."""
    with _positions_lock:
        found = _positions_by_dir.get(node.files.data_dir)
        if found is None:
            found = _positions_by_dir[node.files.data_dir] = PositionLog(node.files.data_dir)
        return found


def decode_full_block(data: bytes) -> FullBlock:
    """Parse a served block; raises ValueError with what is wrong."""
    return _full_block_from(_decode_canonical(data))


def decode_full_blocks(data: bytes) -> list[FullBlock]:
    """Parse a served range of blocks; raises ValueError with what is wrong."""
    value = _decode_canonical(data)
    if type(value) is not list:
        raise ValueError("a range of blocks must be an array")
    return [_full_block_from(item) for item in value]


def _decode_canonical(data: bytes) -> object:
    try:
        return codec.decode(data)
    except codec.CodecError as exc:
        raise ValueError(f"not canonical CBOR: {exc}") from None


def _full_block_from(value: object) -> FullBlock:
    expected = {"v", "header", "signatures", "txs", "next_seq", "next_item"}
    if type(value) is not dict or set(value) != expected or value["v"] != FULL_BLOCK_VERSION:
        raise ValueError(f"a block must be a map of exactly {sorted(expected)}, version {FULL_BLOCK_VERSION}")
    header, signatures, txs, next_seq = value["header"], value["signatures"], value["txs"], value["next_seq"]
    if type(header) is not bytes or type(signatures) is not list or type(txs) is not list:
        raise ValueError("header must be bytes, signatures and txs arrays")
    if any(type(t) is not bytes for t in txs) or any(type(s) is not dict for s in signatures):
        raise ValueError("txs must be byte strings, signatures maps")
    if next_seq is not None and (type(next_seq) is not int or next_seq < 1):
        raise ValueError("next_seq must be a positive integer or null")
    next_item = value["next_item"]
    if type(next_item) is not int or next_item < 0:
        raise ValueError("next_item must be a non-negative integer")
    return FullBlock(header, [HeaderSignature.from_value(s) for s in signatures], txs, next_seq, next_item)


# --- the catching-up side ------------------------------------------------------------------


class Refused(Exception):
    """A served block is not accepted; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class CatchUpFailed(Refused):
    """Catch-up as a whole could not finish. The peer stops producing blocks."""


@dataclass(frozen=True, slots=True)
class Refusal:
    peer: str
    height: int
    reason: str
    message: str


@dataclass
class CatchUp:
    """Settings and progress of one catch-up; `open_peer` runs it when the stream cannot help."""

    peers: Sequence[str]  # other orgs' API base URLs
    force: bool = False  # catch up from peers even if the stream still holds our position
    http_timeout: float = 10.0
    blocks_per_request: int = BLOCKS_PER_REQUEST
    refusals: list[Refusal] = field(default_factory=list)
    fetched: int = 0
    position: Position | None = None  # where the stream was resumed
    error: CatchUpFailed | None = None
    done: threading.Event = field(default_factory=threading.Event)
    gaps: int = 0  # holes met in the stream while running, each followed by a catch-up
    stall_s: float = STALL_S
    filled: int = 0  # blocks made final here by signatures that peers served
    _gap_height: int = -1  # this peer's height at the last hole
    # the next range, asked for while this one is applied: (peer, first height, reply)
    _ahead: tuple[str, int, Future[list[FullBlock]]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.blocks_per_request <= MAX_RANGE_BLOCKS:
            asked = self.blocks_per_request
            raise ValueError(f"blocks_per_request must be 1..{MAX_RANGE_BLOCKS}, not {asked}")

    def after_gap(self, node: Node, orderer: JetStreamOrderer[SignedTx], finality: Finality) -> None:
        """A running peer met messages it had still to read gone from the stream (the orderer calls this
        in a thread of its own, having stopped reading). Once the node has committed every batch cut
        before the hole, catch up from peers as at start, and read the stream again after the fetched
        blocks. A hole met again at the same height (the peers have not cut past it yet) is retried
        after a pause that grows to 30 s."""
        self.gaps += 1
        self.done.clear()
        self.error = None
        if node.height == self._gap_height:
            time.sleep(min(30.0, 0.5 * 2 ** min(self.gaps, 6)))
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while not (orderer.drained() and node.height >= orderer.height):
            if node.error is not None or time.monotonic() > deadline:
                unfinished = "the blocks cut before the hole were not committed"
                self.error = CatchUpFailed(CATCH_UP_ERROR, unfinished)
                node.error = node.error or self.error
                self.done.set()
                return
            time.sleep(0.05)
        self._gap_height = node.height
        self._run_safely(node, orderer, finality)

    def watch_finality(self, node: Node, finality: Finality) -> None:
        """In the background while the node runs: ask peers for the signatures of a committed block
        that stays short of a quorum here for `stall_s` seconds (see the module docstring)."""
        if self.peers:
            thread = threading.Thread(
                target=self._watch, args=(node, finality), name="govchain-fill", daemon=True
            )
            thread.start()

    def _watch(self, node: Node, finality: Finality) -> None:
        seen, since = finality.final_prefix, time.monotonic()
        while not node.stopped:
            time.sleep(min(1.0, self.stall_s / 2))
            if finality.final_prefix != seen or finality.final_prefix >= node.height:
                seen, since = finality.final_prefix, time.monotonic()
            elif time.monotonic() - since >= self.stall_s and finality.diverged is None:
                try:
                    self.fill_signatures(node, finality)
                except Exception:  # a bug must not stop the node; the next stall tries again
                    log.exception("filling in signatures from peers failed")
                seen, since = finality.final_prefix, time.monotonic()

    def fill_signatures(self, node: Node, finality: Finality) -> int:
        """Ask each peer in turn for the signatures of the blocks from the first one not final here
        on, while its answers make them final (`final_prefix` skips those final already). Returns the
        blocks made final."""
        made = 0
        with httpx.Client(timeout=self.http_timeout) as http:
            for peer in self.peers:
                while not node.stopped and (height := finality.final_prefix + 1) <= node.height:
                    try:
                        header, signatures = self._get_signatures(http, peer, height)
                    except Refused as exc:
                        log.warning("no signatures for block %d from %s: %s", height, peer, exc)
                        break
                    if not finality.add_served(height, header, signatures):
                        break  # that peer cannot make it final: ask the next one
                    made += 1
        if made:
            self.filled += made
            log.info("%d blocks made final with signatures served by peers", made)
        return made

    def _get_signatures(
        self, http: httpx.Client, peer: str, height: int
    ) -> tuple[bytes, list[HeaderSignature]]:
        """A peer's stored header and signatures of one block (`GET /v1/blocks/{height}`)."""
        reply = _ask(http, peer, f"/v1/blocks/{height}")
        if reply.status_code != 200:
            raise Refused(PEER_UNREACHABLE, f"HTTP {reply.status_code}")
        try:
            value = reply.json()
            header = bytes.fromhex(value["header_cbor"])
            signatures = [
                HeaderSignature.from_value({"key": bytes.fromhex(s["key"]), "sig": bytes.fromhex(s["sig"])})
                for s in value["signatures"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise Refused(BAD_BLOCK, f"unreadable signatures: {exc!r}") from None
        return header, signatures

    def begin(self, node: Node, orderer: JetStreamOrderer[SignedTx], finality: Finality) -> None:
        """Run in the background: the API answers meanwhile, with `catching_up` true."""
        thread = threading.Thread(
            target=self._run_safely, args=(node, orderer, finality), name="govchain-catchup", daemon=True
        )
        thread.start()

    def _run_safely(self, node: Node, orderer: JetStreamOrderer[SignedTx], finality: Finality) -> None:
        try:
            self.run(node, orderer, finality)
        except CatchUpFailed as exc:
            self.error = exc
            node.error = exc  # visible in /v1/status (healthy false), and no block is produced
            log.error("catch-up from peers stopped: %s", exc)
        except Exception as exc:
            self.error = CatchUpFailed(CATCH_UP_ERROR, repr(exc))
            node.error = exc
            log.exception("catch-up from peers failed")
        finally:
            self.done.set()

    def run(self, node: Node, orderer: JetStreamOrderer[SignedTx], finality: Finality) -> Position:
        """Fetch, verify and apply blocks until no peer has a next one; then resume the stream."""
        if not self.peers:
            raise CatchUpFailed(NO_PEERS, 'no peers to catch up from (peer.json "peers")')
        log.info(
            "catching up from %d peers at height %d (the stream starts at sequence %d)",
            len(self.peers),
            node.height,
            orderer.first_seq,
        )
        with httpx.Client(timeout=self.http_timeout) as http:
            while True:
                start = node.height
                last = self._fetch_all(http, node, finality)
                position = self._agreed_position(http, node, last)
                positions_of(node).record(position)
                if position.next_seq >= orderer.first_seq and orderer.resume(position):
                    break
                if node.height == start:  # the stream lost more meanwhile, and no peer has more
                    raise CatchUpFailed(
                        STREAM_GAP,
                        f"the stream starts at sequence {orderer.first_seq}, after where block {last + 1} "
                        f"starts ({position.next_seq}), and no peer has block {last + 1}",
                    )
        self.position = position
        log.info(
            "caught up from peers: %d blocks fetched, height %d; reading the stream from sequence %d",
            self.fetched,
            node.height,
            position.next_seq,
        )
        return position

    def _fetch_all(self, http: httpx.Client, node: Node, finality: Finality) -> int:
        last_report = time.monotonic()
        with ThreadPoolExecutor(1, thread_name_prefix="govchain-catchup-fetch") as ahead:
            try:
                while self._fetch_next(http, node, finality, ahead):
                    if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                        last_report = time.monotonic()
                        log.info(
                            "catching up from peers: height %d (%d blocks fetched)", node.height, self.fetched
                        )
            finally:
                self._ahead = None  # a range asked for ahead is not carried into the next round
        return node.height

    def _range(
        self, http: httpx.Client, peer: str, height: int, ahead: ThreadPoolExecutor
    ) -> list[FullBlock]:
        """The range from `height` on: the one asked for ahead if it matches, else asked for now.

        A full range means the peer may well have more, so the next one is asked for at once, and
        travels while this one is verified and executed."""
        found = self._ahead
        self._ahead = None
        if found is not None and found[:2] == (peer, height):
            blocks = found[2].result()  # a Refused raised there counts as this request's
        else:
            blocks = self._get_range(http, peer, height)
        if len(blocks) == self.blocks_per_request:
            after = height + len(blocks)
            self._ahead = (peer, after, ahead.submit(self._get_range, http, peer, after))
        return blocks

    def _fetch_next(
        self, http: httpx.Client, node: Node, finality: Finality, ahead: ThreadPoolExecutor
    ) -> bool:
        """Apply the blocks after this peer's height from the first peer that serves a valid next one;
        False if none has it. A refused block ends that peer's range: the blocks before it stay
        applied (each was checked on its own), and the next request starts at the refused height."""
        height = node.height + 1
        for peer in list(self.peers):
            applied = 0
            try:
                for block in self._range(http, peer, height, ahead):
                    apply_served(node, height + applied, block)
                    applied += 1
                    self.fetched += 1
                    finality.certified(node.height)
            except Refused as exc:
                self.refusals.append(Refusal(peer, height + applied, exc.reason, exc.message))
                log.warning(
                    "refused block %d from %s: %s (%s); trying another peer",
                    height + applied,
                    peer,
                    exc.reason,
                    exc.message,
                )
                if exc.reason == PEER_UNREACHABLE:  # ask it last from now on, not first for every block
                    self.peers = [p for p in self.peers if p != peer] + [peer]
            if applied:
                return True
        return False

    def _get_range(self, http: httpx.Client, peer: str, height: int) -> list[FullBlock]:
        """Up to `blocks_per_request` blocks from `height` on (none: that peer is not that far).

        A peer of an earlier version, which serves one block per request only, is asked that way."""
        reply = _ask(http, peer, "/v1/blocks/full", {"from": height, "count": self.blocks_per_request})
        if reply.status_code in (400, 404, 422):  # no range requests there
            one = self._get(http, peer, height)
            return [] if one is None else [one]
        if reply.status_code != 200:
            raise Refused(PEER_UNREACHABLE, f"HTTP {reply.status_code}")
        try:
            blocks = decode_full_blocks(reply.content)
        except ValueError as exc:
            raise Refused(BAD_BLOCK, str(exc)) from None
        if len(blocks) > self.blocks_per_request:
            raise Refused(BAD_BLOCK, f"{len(blocks)} blocks served, {self.blocks_per_request} asked for")
        return blocks

    def _get(self, http: httpx.Client, peer: str, height: int) -> FullBlock | None:
        reply = _ask(http, peer, f"/v1/blocks/{height}/full")
        if reply.status_code == 404:
            return None
        if reply.status_code != 200:
            raise Refused(PEER_UNREACHABLE, f"HTTP {reply.status_code}")
        try:
            return decode_full_block(reply.content)
        except ValueError as exc:
            raise Refused(BAD_BLOCK, str(exc)) from None

    def _agreed_position(self, http: httpx.Client, node: Node, height: int) -> Position:
        """Where the batch after block `height` starts, as enough peers report it to include an honest one."""
        header = Header.decode(_stored_header(node, height))
        if height == 0:
            return Position(0, header.time, 1)
        votes: Counter[tuple[int, int]] = Counter()
        for peer in self.peers:
            try:
                block = self._get(http, peer, height)
            except Refused:
                continue
            if block is not None and block.header == _stored_header(node, height) and block.next_seq:
                votes[(block.next_seq, block.next_item)] += 1
        signers = len(node.signers(height + 1))
        needed = signers - quorum(signers) + 1
        found = [where for where, count in votes.items() if count >= needed]
        if len(found) != 1:
            raise CatchUpFailed(
                POSITION_UNKNOWN,
                f"not exactly one stream position (sequence, item) after block {height} is reported by "
                f"{needed} peers or more: {dict(votes)}",
            )
        next_seq, next_item = found[0]
        return Position(height, header.time, next_seq, next_item)


def _ask(http: httpx.Client, peer: str, path: str, params: dict[str, int] | None = None) -> httpx.Response:
    """One GET to a peer's API; a peer that cannot be reached is `peer_unreachable`."""
    try:
        return http.get(f"{peer.rstrip('/')}{path}", params=params)
    except httpx.HTTPError as exc:
        raise Refused(PEER_UNREACHABLE, str(exc) or type(exc).__name__) from None


def _stored_header(node: Node, height: int) -> bytes:
    stored = node.store.block(height)
    assert stored is not None
    return stored.header


def apply_served(node: Node, height: int, block: FullBlock) -> None:
    """Verify a served block against the certificate and our own execution, then commit it."""
    try:
        header = Header.decode(block.header)
    except ValueError as exc:
        raise Refused(BAD_BLOCK, f"unreadable header: {exc}") from None
    suite, genesis = node.suite, node.genesis
    if header.height != height or header.chain != genesis.chain_id:
        raise Refused(BAD_BLOCK, f"header is for height {header.height} of chain {header.chain!r}")
    signers = node.signers(height)  # from this peer's committed state (ledger/signers.py)
    certificate = valid_signatures(suite, block.header, block.signatures, signers)
    if len(certificate) < quorum(len(signers)):
        raise Refused(
            FORGED_CERTIFICATE,
            f"{len(certificate)} valid signatures of the chain's signers over this header; "
            f"{quorum(len(signers))} needed",
        )
    if header.prev != node.head.header.hash(suite):
        raise Refused(BAD_BLOCK, "the certified header does not follow this peer's last block")
    if len(block.txs) != header.tx_count:
        raise Refused(BAD_BLOCK, f"{len(block.txs)} transactions served, the header has {header.tx_count}")
    try:
        txs = [decode_tx(suite, raw, MAX_TX_BYTES) for raw in block.txs]
    except Exception as exc:
        raise Refused(BAD_BLOCK, f"a transaction does not decode: {exc}") from None
    try:
        node.apply_certified(Batch(header.time, txs), block.header, certificate)  # only valid ones kept
    except HeaderMismatch as exc:
        computed = Header.decode(exc.computed)
        differs = [k for k, v in header.to_value().items() if computed.to_value()[k] != v]
        raise Refused(
            HEADER_MISMATCH,
            f"executing the served transactions gives another header (fields {', '.join(differs)})",
        ) from None
