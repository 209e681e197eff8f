"""Finality: a block is final once more than 2/3 of the organisations' peers signed its header.

Every peer executes every block itself, so the peers of honest organisations
compute the same header. After committing a block a peer publishes its own
header and its signature to a second JetStream stream (`<ordering stream>_SIGS`,
subject `<prefix>-sig`), and reads every other peer's from it:

- a signature from a key that is not a signer of that height (ledger/signers.py:
  the genesis signers, as governance changed them), or that does not verify
  over the header bytes it came with, is ignored (so forged signatures can
  neither make a block final nor make a peer believe it diverged);
- one over the same header as ours is added to the block's stored signatures
  (what `GET /v1/blocks/{h}` and receipts serve); with more than 2/3 of that
  height's signers the block is final;
- signatures that arrive before we committed that height wait in memory;
- if a quorum of signers validly signed another header at a height, this peer
  has diverged: it says so (log at ERROR, the `govchain_diverged` metric, `status`),
  stops publishing its signatures, and its own block never becomes final here.

Receipts are served only for final blocks (reason code `not_final` until then),
so every receipt verifies offline with the quorum certificate it carries.

A restarted peer does not read the whole signature stream again. With each
signature update it stores, in the same database transaction, the stream
sequence from which a restart must read: the oldest message whose content is
not in the store. That is a signature waiting in memory for its block, or one
over another header than ours (evidence of divergence, kept for good). Every
earlier message is stored here or needed nowhere, so a restart reads only the
stream's recent end, however long the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from prometheus_client import Counter, Gauge

from govchain import codec
from govchain.ledger.blocks import HEADER_DOMAIN, Header, HeaderSignature, valid_signatures
from govchain.ledger.signers import quorum
from govchain.ledger.transactions import SignedTx
from govchain.node.node import CommitEvent, Node
from govchain.ordering.jetstream import DUPLICATE_WINDOW_S, HEARTBEAT_S, JetStreamOrderer, ensure_stream

log = logging.getLogger("govchain.finality")

REPUBLISH_DEPTH = 1000  # on start, re-announce our signatures for up to this many non-final blocks
# stored with the signatures (Store.set_signatures), so they never run ahead of them
RESUME_SEQ = "signature_resume_seq"  # where a restart reads the signature stream again
FINAL_PREFIX = "final_prefix"  # every block up to this height has a quorum stored


@dataclass(frozen=True, slots=True)
class Divergence:
    height: int
    ours: bytes
    quorum_hash: bytes


class Finality:
    def __init__(self, node: Node, orderer: JetStreamOrderer[SignedTx]) -> None:
        self.node = node
        node.use_quorum_finality()
        self.orderer = orderer
        settings = orderer.settings
        self.stream = f"{settings.stream}_SIGS"
        self.subject = f"{settings.subject_prefix}-sig"  # outside the ordering stream's subjects
        self.replicas = settings.replicas
        self.final_height = 0
        # Every block up to `final_prefix` has a quorum stored here; `_final_above` holds the final
        # heights past it. A block short of its signatures keeps the prefix back even while later
        # blocks become final: what node/catchup.py watches to fill it in.
        self.final_prefix = 0
        self._final_above: set[int] = set()
        self.diverged: Divergence | None = None
        self._lock = threading.Lock()
        # verified signatures for heights not committed here: height -> signer -> (header, sig, stream seq)
        self._early: dict[int, dict[bytes, tuple[bytes, HeaderSignature, int]]] = defaultdict(dict)
        self._unsent: set[int] = set()  # heights whose own signature JetStream has not acknowledged yet
        self._wake: asyncio.Event | None = None
        self._sender_task: asyncio.Future[None] | None = None
        self._elsewhere: dict[tuple[int, bytes], set[bytes]] = defaultdict(set)  # other hashes' signers
        # What a restart must read again (docstring), besides the messages held in `_early`: the stream
        # sequence of the first signature over another header than ours.
        self._evidence_seq: int | None = None
        self._read_to = 0  # every signature message up to this stream sequence has been handled
        self.start_seq = 1  # where this peer started reading the signature stream
        registry = node.metrics.registry
        self._final_gauge = Gauge("govchain_final_height", "Highest block with a quorum", registry=registry)
        self._diverged_gauge = Gauge(
            "govchain_diverged", "1 if a quorum signed a header other than ours", registry=registry
        )
        self._prefix_gauge = Gauge(
            "govchain_final_prefix", "Every block up to this height has a quorum stored", registry=registry
        )
        self._messages = Counter(
            "govchain_signature_messages", "Header signature messages read from the stream", registry=registry
        )

    def start(self, timeout: float = 30.0) -> None:
        """Create the signature stream if needed, read it from the stored resume point, and sign each
        new block."""
        unfinished = self._restore()  # before any signature is stored with the final prefix
        self.orderer.run(self._subscribe(timeout)).result(timeout + 5)
        self.orderer.run(self._start_sender()).result(timeout)
        self.node.add_listener(self._on_commit)
        for height in unfinished:  # re-announce our signatures of the blocks not final yet
            self._publish_own(height)

    async def _subscribe(self, timeout: float) -> None:
        js = self.orderer.jetstream
        config = StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        deadline = time.monotonic() + timeout
        resume = self.node.store.mark(RESUME_SEQ, 1)
        while True:
            try:
                info = await ensure_stream(js, config)
                # A stream that ends before the resume point is not the one it was saved for (made
                # again): read all of it.
                self.start_seq = resume if resume <= info.state.last_seq + 1 else 1
                log.info(
                    "reading header signatures from stream sequence %d (the stream has %d)",
                    self.start_seq,
                    info.state.last_seq,
                )
                await js.subscribe(
                    self.subject,
                    stream=self.stream,
                    cb=self._on_msg,
                    ordered_consumer=True,
                    idle_heartbeat=HEARTBEAT_S,
                    config=ConsumerConfig(
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.start_seq
                    ),
                    pending_msgs_limit=1_000_000,
                )
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cannot use the signature stream {self.stream}: {exc}") from exc
                await asyncio.sleep(0.5)

    # --- our own signatures -----------------------------------------------------------

    def _restore(self) -> list[int]:
        """After a restart: mark what is final already; the heights of the blocks that are not (the
        last `REPUBLISH_DEPTH` blocks at most, whose signatures this peer announces again).

        The blocks up to the stored final prefix are final, and each one after it is looked at (the
        prefix lags only by blocks that became final without a signature update, e.g. fetched with
        their certificates). A store without a stored prefix (from before it was kept) counts every
        block below the highest final one within `REPUBLISH_DEPTH` as final."""
        top = self.node.height
        stored_prefix = self.node.store.mark(FINAL_PREFIX, -1)
        self.final_prefix = max(stored_prefix, 0)
        self._prefix_gauge.set(self.final_prefix)
        if stored_prefix < 0:
            heights: range = range(top, max(top - REPUBLISH_DEPTH, 0), -1)
        else:
            heights = range(self.final_prefix + 1, top + 1)
        unfinished = []
        for height in heights:
            stored = self.node.store.block(height)
            if stored is None:
                break
            if not self._final(height, codec.decode(stored.signatures)):
                if height > top - REPUBLISH_DEPTH:
                    unfinished.append(height)
            elif stored_prefix < 0:  # the highest final block: everything below counts as final
                self.final_prefix = height
                self._mark_final(height)
                break
            else:
                self._mark_final(height)
        return unfinished

    def _on_commit(self, event: CommitEvent) -> None:
        with self._lock:
            waiting = self._early.pop(event.height, {})
            if waiting:
                self._offer(event.height, list(waiting.values()))
        self._publish_own(event.height)

    def _publish_own(self, height: int) -> None:
        """Queue our signature of `height`; the sender retries until JetStream acknowledges it."""
        if not self.node.signs(height):
            return
        with self._lock:
            self._unsent.add(height)
        wake = self._wake
        if wake is not None:
            self.orderer.run(self._set(wake))

    @staticmethod
    async def _set(event: asyncio.Event) -> None:
        event.set()

    async def _start_sender(self) -> None:
        self._wake = asyncio.Event()
        self._sender_task = asyncio.ensure_future(self._sender(self._wake))

    async def _sender(self, wake: asyncio.Event) -> None:
        """Publish queued signatures in height order; a failure (e.g. a nats-server failing over) is
        retried a moment later, and duplicates are harmless (message ids, and one signature per key)."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), 1.0)
            wake.clear()
            with self._lock:
                heights = sorted(self._unsent)
            for height in heights:
                if self.diverged is not None:  # a peer outvoted by a quorum stops signing
                    return
                try:
                    await self._send(height)
                except Exception as exc:
                    log.warning("signature for height %d not published yet: %s", height, exc)
                    break
                with self._lock:
                    self._unsent.discard(height)

    async def _send(self, height: int) -> None:
        stored = self.node.store.block(height)
        own = self.node.key.keys.public
        signature = (
            None
            if stored is None
            else next((s for s in codec.decode(stored.signatures) if s["key"] == own), None)
        )  # the node signed it in _seal
        if stored is None or signature is None:
            return
        payload = codec.encode({"h": height, "header": stored.header, "key": own, "sig": signature["sig"]})
        msg_id = f"sig/{height}/{own.hex()[:32]}"
        await self.orderer.jetstream.publish(self.subject, payload, headers={"Nats-Msg-Id": msg_id})

    # --- everyone's signatures --------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        self._messages.inc()
        try:
            await self._handle(seq, msg.data)
        finally:
            self._read_to = seq  # only now: a resume point saved meanwhile must not pass this message

    async def _handle(self, seq: int, data: bytes) -> None:
        try:
            value = codec.decode(data)
            height, header = value["h"], value["header"]
            signature = HeaderSignature.from_value({"key": value["key"], "sig": value["sig"]})
            if type(height) is not int or Header.decode(header).height != height:
                raise ValueError("bad signature message")
        except Exception:  # anything unreadable is ignored, by every peer alike
            return
        if not self._may_sign(height, signature.signer) or self._have(height, header, signature.signer):
            return
        # Off the event loop, which also reads the ordering stream: storing the signature may wait for
        # the database while a block commits. Messages still go through one at a time, in order.
        await asyncio.to_thread(self._accept, seq, height, header, signature)

    def _accept(self, seq: int, height: int, header: bytes, signature: HeaderSignature) -> None:
        """Verify one signature message's signature and keep it: stored if its height is committed here,
        else held until it is."""
        if not self.node.suite.verify(signature.signer, HEADER_DOMAIN + header, signature.signature):
            log.warning(
                "forged header signature for %s at height %d ignored", signature.signer.hex()[:16], height
            )
            return
        with self._lock:
            if height > self.node.height:
                self._early[height][signature.signer] = (header, signature, seq)  # one per signer
            else:
                self._offer(height, [(header, signature, seq)])

    def _have(self, height: int, header: bytes, signer: bytes) -> bool:
        """This signer's signature of this very header is stored already (a restart reads the stream
        again from its resume point): no need to verify it again. A signature over another header is
        still checked."""
        if height > self.node.height:
            return False
        stored = self.node.store.block(height)
        return (
            stored is not None
            and stored.header == header
            and any(s["key"] == signer for s in codec.decode(stored.signatures))
        )

    def add_served(self, height: int, header: bytes, signatures: list[HeaderSignature]) -> bool:
        """Signatures of a committed block that another peer served (node/catchup.py asks when a block
        stays short of a quorum here: the stream lost or never had some messages). Only valid ones
        over our own header are kept. True if the block is final here now."""
        stored = self.node.store.block(height)
        if stored is None or stored.header != header:
            return False
        valid = valid_signatures(self.node.suite, header, signatures, self.node.signers(height))
        with self._lock:
            return self._offer(height, [(header, signature, None) for signature in valid])

    def _offer(self, height: int, offers: Sequence[tuple[bytes, HeaderSignature, int | None]]) -> bool:
        """Add signers' verified signatures over headers at a committed height, in one store update
        (caller holds the lock), with finality's marks (resume point, final prefix). A signature over another
        header than ours counts toward divergence. Each offer carries its message's stream sequence
        (None: served by a peer, over our header). True if the block is final here."""
        stored = self.node.store.block(height)
        if stored is None:
            return False
        signers = self.node.signers(height)
        current = codec.decode(stored.signatures)
        have = {s["key"] for s in current}
        added = False
        for header, signature, seq in offers:
            if signature.signer not in signers:
                continue
            block_hash = self.node.suite.hash(header)
            if block_hash != stored.hash:
                self._count_elsewhere(height, stored.hash, block_hash, signature.signer)
                if self._evidence_seq is None and seq is not None:
                    self._evidence_seq = seq
            elif signature.signer not in have:
                have.add(signature.signer)
                current.append(signature.to_value())
                added = True
        final = self._final(height, current)
        if final:
            self._advance_prefix(height)
        if added:
            marks = {RESUME_SEQ: self._resume_seq(), FINAL_PREFIX: self.final_prefix}
            self.node.store.set_signatures(height, codec.encode(current), marks)
        if final:  # announced once stored: a receipt asked for at once finds the certificate
            self._mark_final(height)
        return final

    def _resume_seq(self) -> int:
        """Where a restart must read the signature stream again (caller holds the lock): messages
        before it are stored, or needed nowhere. The one being handled may not be stored yet."""
        handled = max(self._read_to, self.start_seq - 1)
        held = (seq for waiting in self._early.values() for _, _, seq in waiting.values())
        return min(*held, self._evidence_seq or handled + 1, handled + 1)

    def _count_elsewhere(self, height: int, ours: bytes, other: bytes, signer: bytes) -> None:
        voters = self._elsewhere[(height, other)]
        voters.add(signer)
        if len(voters) >= quorum(len(self.node.signers(height))) and self.diverged is None:
            self.diverged = Divergence(height, ours, other)
            self._diverged_gauge.set(1)
            log.error(
                "DIVERGED at height %d: a quorum signed header %s, this peer computed %s; "
                "this peer stops signing and its blocks from here are not final",
                height,
                other.hex(),
                ours.hex(),
            )

    def certified(self, height: int) -> None:
        """A block committed with a verified quorum certificate (catch-up from peers) is final, and
        needs no announcement of our signature."""
        with self._lock:
            self._unsent.discard(height)
            self._mark_final(height)

    # --- the signer set of each height (ledger/signers.py) ------------------------------

    def _may_sign(self, height: int, signer: bytes) -> bool:
        """Worth verifying: a signer of that height, or of a height not committed here yet (whose set
        may still change; `_offer` checks it once the height is committed)."""
        return height > self.node.height or signer in self.node.signers(height)

    def _final(self, height: int, signatures: list[dict[str, bytes]]) -> bool:
        """Stored signatures (each verified before it was stored) of a quorum of the height's signers."""
        signers = set(self.node.signers(height))
        return len({s["key"] for s in signatures} & signers) >= quorum(len(signers))

    def _advance_prefix(self, height: int) -> None:
        if height > self.final_prefix:
            self._final_above.add(height)
            while self.final_prefix + 1 in self._final_above:
                self.final_prefix += 1
                self._final_above.discard(self.final_prefix)
            self._prefix_gauge.set(self.final_prefix)

    def _mark_final(self, height: int) -> None:
        self._advance_prefix(height)
        if height > self.final_height:
            self.final_height = height
            self._final_gauge.set(height)
            self.node.announce_final(height)
