"""Ordering on a NATS JetStream stream: the consortium's orderer.

Every organisation runs a `nats-server`; together they keep one replicated
stream (JetStream's Raft log). Each peer publishes the signed transactions it
admits to that stream and reads the whole stream back, in stream order. Every
peer then cuts the same batches by the same rule (docs/protocol.md, "Block
cutting"), so every peer builds the same blocks without talking to the others.

The stream carries three kinds of message, under `<prefix>.txs`, `<prefix>.tx`
and `<prefix>.cut`:

- a transaction envelope list (`txs`): the canonical CBOR array of two or more
  transactions' exact wire bytes, message id `txs/` + hex of H(payload), so a
  republished message is dropped by JetStream. One message per submission (split
  at `MAX_ENVELOPE_TXS` / `MAX_ENVELOPE_BYTES`): the per-message cost of NATS and
  JetStream is paid once per list instead of once per transaction;
- a single transaction (`tx`): its exact wire bytes, message id = the transaction
  id (hex); a submission of one transaction is published this way;
- a cut marker for height h: payload `h` in ASCII decimal, message id `cut/h`,
  published by any peer whose open batch has waited `block_time_ms`.

Cut rule, applied to the stream in sequence order by every peer alike:

1. a `txs` payload that is not a canonical CBOR array of one or more byte strings
   is skipped whole; a `tx` message is a list of one item;
2. items are taken in list order. An item that does not decode as a transaction
   is skipped, and so is one byte-for-byte equal to a transaction already in the
   open batch (it counts for nothing);
3. any other item joins the open batch; when the batch holds `max_block_txs` it
   is cut there, with that message's time, even in the middle of a list (the
   rest of the list opens the next batch). The limit for the batch of height h
   may follow governance (`max_block_txs` given as a function of h); until it is
   known, messages and the rest of a list wait in order (`Cutter.backlog`);
4. a marker for height h cuts the open batch if h is the open batch's height
   and the batch is not empty, with the marker's time; any other marker is ignored;
5. a batch's time is the stream timestamp (ms) of the message that cut it,
   never earlier than the previous batch's time.

A transaction in an earlier batch as well is left to the execution rule
(docs/protocol.md, "Execution rules": `replayed`), which every peer applies alike
from its committed blocks; the cutter's state must stay a position in the stream
(sequence and item index) so that a restarted peer cuts exactly as before.

Only the *publishing* of markers depends on a peer's clock; whether and where a
marker cuts is decided by the stream alone. Ordering never looks inside a
transaction beyond decoding it; the node verifies and executes.

nats-py is asyncio; its event loop runs in a background thread, and the
`Orderer` methods (called from the node's threads) hand work to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import queue
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import NotFoundError

from govchain import codec
from govchain.ordering.base import Batch, QueueFull, T

log = logging.getLogger("govchain.ordering.jetstream")

R = TypeVar("R")
DUPLICATE_WINDOW_S = 120.0
HEARTBEAT_S = 1.0  # the client re-creates an ordered consumer after two missed heartbeats
POSITION_FILE = "stream-position.json"
MAX_TX_BYTES = 1 << 20  # one transaction in the stream (nats-server's default max_payload), on every peer
MAX_ENVELOPE_TXS = 1000  # per `txs` message; larger submissions go out as several messages
MAX_ENVELOPE_BYTES = 1_000_000  # below nats-server's default max_payload (1 MiB), with room for headers


class StreamGap(Exception):
    """Messages this peer had still to read are gone from the stream: its blocks would differ."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where the cutter stands: the last batch cut, and where the next one starts in the stream."""

    height: int  # height of the last batch cut (0: none yet)
    time: int  # that batch's time, ms since the epoch
    next_seq: int  # the stream sequence from which the next batch is read
    next_item: int = 0  # items of message `next_seq` that went into earlier batches

    def to_json(self) -> str:
        value = {
            "height": self.height,
            "time": self.time,
            "next_seq": self.next_seq,
            "next_item": self.next_item,
        }
        return json.dumps(value)

    @classmethod
    def from_json(cls, text: str) -> Position:
        value = json.loads(text)
        return cls(
            int(value["height"]), int(value["time"]), int(value["next_seq"]), int(value.get("next_item", 0))
        )


def encode_envelopes(raws: Sequence[bytes]) -> bytes:
    """The `txs` payload: the canonical CBOR array of the transactions' wire bytes, in order."""
    return codec.encode_unchecked(list(raws))  # a list of byte strings is canonical as is


def decode_envelopes(payload: bytes) -> list[bytes]:
    """The wire bytes listed in a `txs` payload; ValueError unless canonical, non-empty, bytes only."""
    value = codec.decode(payload)
    if type(value) is not list or not value or any(type(item) is not bytes for item in value):
        raise ValueError("not a non-empty array of byte strings")
    return value


def pack(raws: Sequence[bytes], max_txs: int, max_bytes: int) -> list[range]:
    """Split a submission, in order, into runs of at most `max_txs` items and about `max_bytes`.

    A single item larger than `max_bytes` gets a run of its own (it goes out as a `tx` message).
    """
    runs: list[range] = []
    start, size = 0, 0
    for index, raw in enumerate(raws):
        if index > start and (index - start >= max_txs or size + len(raw) > max_bytes):
            runs.append(range(start, index))
            start, size = index, 0
        size += len(raw) + 5  # the CBOR byte-string head is at most 5 bytes here
    if start < len(raws):
        runs.append(range(start, len(raws)))
    return runs


TX, TXS, CUT = "tx", "txs", "cut"  # the three kinds of stream message (module docstring)


@dataclass(slots=True)
class Waiting:
    """A stream message the cutter has not fully applied yet: a list of wire bytes, or a marker."""

    seq: int
    time_ms: int
    items: list[bytes] | None  # None: a cut marker
    payload: bytes  # a marker's payload
    next: int = 0  # the next item of `items` to take


@dataclass(slots=True)
class CutBatch(Generic[T]):
    """A batch the cutter emitted, with the height it becomes and where the stream resumes after it."""

    height: int
    batch: Batch[T]
    after: Position


@dataclass(slots=True)
class Cutter(Generic[T]):
    """The cut rule (module docstring) as a pure state machine: same messages in, same batches out."""

    position: Position
    max_txs: int
    decode: Callable[[bytes], T]
    open_txs: list[T] = field(default_factory=list)
    _open_raws: set[bytes] = field(default_factory=set)
    # the limit for each height when governance may change it; None: not known yet (messages wait)
    limit_at: Callable[[int], int | None] | None = None
    backlog: deque[Waiting] = field(default_factory=deque)  # stream messages not yet applied, in order

    @property
    def open_height(self) -> int:
        return self.position.height + 1

    def feed(self, kind: str, seq: int, time_ms: int, payload: bytes) -> list[CutBatch[T]]:
        """Take the next stream message (`TX`, `TXS` or `CUT`); returns what it and any waiting ones cut."""
        if kind == CUT:
            self.backlog.append(Waiting(seq, time_ms, None, payload))
        else:
            if kind == TXS:
                try:
                    items = decode_envelopes(payload)
                except ValueError:  # an unreadable list is skipped whole, by every peer alike
                    return self.drain()
            else:
                items = [payload]
            # a restarted peer resumes in the middle of the list its saved position names
            start = self.position.next_item if seq == self.position.next_seq else 0
            self.backlog.append(Waiting(seq, time_ms, items, b"", start))
        return self.drain()

    def on_tx(self, seq: int, time_ms: int, raw: bytes) -> list[CutBatch[T]]:
        """A `tx` message: a list of one transaction."""
        return self.feed(TX, seq, time_ms, raw)

    def on_txs(self, seq: int, time_ms: int, payload: bytes) -> list[CutBatch[T]]:
        """A `txs` message."""
        return self.feed(TXS, seq, time_ms, payload)

    def on_marker(self, seq: int, time_ms: int, payload: bytes) -> list[CutBatch[T]]:
        return self.feed(CUT, seq, time_ms, payload)

    def drain(self) -> list[CutBatch[T]]:
        """Apply waiting messages in order while the open height's limit is known."""
        cuts: list[CutBatch[T]] = []
        while self.backlog and self._limit_known():
            waiting = self.backlog[0]
            if waiting.items is None:
                self.backlog.popleft()
                cuts += self._marker(waiting.seq, waiting.time_ms, waiting.payload)
                continue
            cuts += self._take(waiting)
            if waiting.next >= len(waiting.items):
                self.backlog.popleft()
        return cuts

    def _limit_known(self) -> bool:
        if self.limit_at is None:
            return True
        limit = self.limit_at(self.open_height)
        if limit is None:
            return False
        self.max_txs = limit
        return True

    def _marker(self, seq: int, time_ms: int, payload: bytes) -> list[CutBatch[T]]:
        try:
            height = int(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return []
        if height != self.open_height or not self.open_txs:
            return []
        return [self._cut(seq, time_ms, seq + 1, 0)]

    def _take(self, waiting: Waiting) -> list[CutBatch[T]]:
        """Items of one list, until it ends or a cut leaves the next height's limit unknown."""
        assert waiting.items is not None
        raws, seq = waiting.items, waiting.seq
        cuts: list[CutBatch[T]] = []
        while waiting.next < len(raws):
            raw = raws[waiting.next]
            waiting.next += 1
            if raw in self._open_raws:  # the same bytes twice in one batch: the second counts for nothing
                continue
            try:
                tx = self.decode(raw)
            except Exception:  # any undecodable item is skipped by every peer alike
                continue
            self._open_raws.add(raw)
            self.open_txs.append(tx)
            if len(self.open_txs) >= self.max_txs:
                after = waiting.next
                resume = (seq, after) if after < len(raws) else (seq + 1, 0)
                cuts.append(self._cut(seq, waiting.time_ms, *resume))
                if not self._limit_known():
                    break
        return cuts

    def _cut(self, seq: int, time_ms: int, next_seq: int, next_item: int) -> CutBatch[T]:
        batch_time = max(time_ms, self.position.time)
        self.position = Position(self.open_height, batch_time, next_seq, next_item)
        txs, self.open_txs = self.open_txs, []
        self._open_raws = set()
        return CutBatch(self.position.height, Batch(batch_time, txs), self.position)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How a peer reaches the stream. Every peer of one chain must use the same name and prefix."""

    servers: tuple[str, ...]  # its own org's server first, the others for failover
    stream: str
    subject_prefix: str
    replicas: int = 1
    connect_timeout: float = 2.0
    publish_timeout: float = 5.0
    tls: ssl.SSLContext | None = None  # for tls:// servers: the CAs to trust and the client certificate
    inbox_prefix: str = "_INBOX"  # where replies come; a server may allow each user only its own

    @property
    def tx_subject(self) -> str:
        return f"{self.subject_prefix}.tx"

    @property
    def txs_subject(self) -> str:
        return f"{self.subject_prefix}.txs"

    @property
    def cut_subject(self) -> str:
        return f"{self.subject_prefix}.cut"


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> StreamInfo:
    """The stream as it is, created with `config` if it does not exist yet.

    An existing stream is taken as it stands: its operators may have changed its limits or its
    replica count since (`network remove-org` lowers the replicas when fewer orgs remain), and
    JetStream refuses a create whose config differs from the stream's.
    """
    assert config.name is not None
    try:
        return await js.stream_info(config.name)
    except NotFoundError:
        return await js.add_stream(config)


def stream_names(genesis_hash: bytes) -> tuple[str, str]:
    """(stream name, subject prefix) for a chain: tied to its genesis, so two chains never share one."""
    tag = genesis_hash.hex()[:16]
    return f"GOVCHAIN_{tag}", f"govchain.{tag}"


def read_position(state_dir: Path) -> Position | None:
    path = state_dir / POSITION_FILE
    try:
        return Position.from_json(path.read_text())
    except FileNotFoundError:
        return None


def write_position(state_dir: Path, position: Position) -> None:
    """Atomic replace; it may lag the store (then the stream is re-read a little), never lead it."""
    path = state_dir / POSITION_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(position.to_json())
    os.replace(tmp, path)


class JetStreamOrderer(Generic[T]):
    """The `Orderer` interface over a JetStream stream (see the module docstring)."""

    def __init__(
        self,
        settings: StreamSettings,
        decode: Callable[[bytes], T],
        max_block_txs: int | Callable[[int], int | None],
        block_time_ms: Callable[[], int],
        state_dir: Path,
        max_pending: int = 200_000,
        digest: Callable[[bytes], bytes] = lambda data: hashlib.sha256(data).digest(),
        max_tx_bytes: int = MAX_TX_BYTES,
    ) -> None:
        """`max_block_txs` must be the same on every peer: a number, or the limit for cutting each
        height, None until this peer knows it (then `committed` resumes cutting); `block_time_ms()`
        only paces this peer's markers, so it may follow governance. `digest` names `txs` messages
        (the chain's hash H; any fixed hash keeps JetStream's duplicate check meaningful).
        `max_tx_bytes` is the size limit `decode` applies: a published transaction above it is
        decoded (and refused) here exactly as on every other peer."""
        self.settings = settings
        self._kinds = {settings.tx_subject: TX, settings.txs_subject: TXS, settings.cut_subject: CUT}
        self._digest = digest
        self._max_tx_bytes = max_tx_bytes
        self._decode = decode
        self._own: dict[bytes, T] = {}  # wire bytes this peer published -> the tx it already decoded
        self._max_block_txs = max_block_txs
        self._block_time_ms = block_time_ms
        self._state_dir = state_dir
        self._max_pending = max_pending
        self._batches: queue.Queue[CutBatch[T]] = queue.Queue()
        self._emitted: dict[int, Position] = {}  # height -> position after it, until committed
        self._lock = threading.Lock()
        self._cutter: Cutter[T] | None = None
        self._skip_to = 0
        self._open_since: float | None = None  # monotonic time the open batch got its first tx here
        self._caught_up = False
        self._marker_sent = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="govchain-jetstream", daemon=True)
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        self.error: BaseException | None = None
        self.first_seq = 1  # the oldest message the stream still holds (limits or a purge move it)
        self.behind = False  # the stream cannot give this peer its next block: catch up from peers
        self._expect_seq = 0  # the stream sequence the next message must have (0: not reading)
        self._sub: Any = None  # the stream subscription while reading
        self._unsubscribing: asyncio.Future[None] | None = None  # held so the task is not collected
        self._reading = 0  # counts subscriptions to the stream; only the latest one's messages count
        # Called (in a thread of its own) when a running reader meets messages it had still to read
        # gone from the stream: reading stops, and the caller fetches the missing blocks elsewhere and
        # calls `resume`. Without it, the reader fails instead (`error`), and the peer stops.
        self.on_gap: Callable[[StreamGap], None] | None = None

    # --- lifecycle ------------------------------------------------------------------

    def start(
        self, committed_height: int, genesis_time: int, timeout: float = 30.0, hold: bool = False
    ) -> None:
        """Connect, make sure the stream exists, and read it from just after `committed_height`.

        The saved position may lag the store; the batches between are cut again (identically)
        and skipped. Without a saved position the stream is read from its first message.
        If the stream no longer holds that message (limits, purge), or with `hold`, nothing is
        read: `behind` is set, and `resume` starts reading once blocks came from elsewhere.
        """
        saved = read_position(self._state_dir)
        if saved is None or saved.height > committed_height:
            saved = Position(0, genesis_time, 1)
        self._skip_to = committed_height
        self._cutter = self._new_cutter(saved)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._connect(saved.next_seq, timeout, hold), self._loop)
        future.result(timeout + 5)

    def _new_cutter(self, position: Position) -> Cutter[T]:
        limit = self._max_block_txs
        if isinstance(limit, int):
            return Cutter(position, limit, self._decode_known)
        return Cutter(position, 0, self._decode_known, limit_at=limit)

    def resume(self, position: Position, timeout: float = 30.0) -> bool:
        """Read the stream from `position` (the last block committed here): after a catch-up.
        False, reading nothing, if the stream no longer holds `position.next_seq` either."""
        with self._lock:
            self._skip_to = position.height
            self._cutter = self._new_cutter(position)
        write_position(self._state_dir, position)
        return self.run(self._resume(position.next_seq, time.monotonic() + timeout)).result(timeout + 5)

    async def _resume(self, start_seq: int, deadline: float) -> bool:
        assert self._js is not None
        info = await self._js.stream_info(self.settings.stream)
        self.first_seq = info.state.first_seq
        if start_seq < self.first_seq:
            return False
        self._caught_up = info.state.last_seq < start_seq
        self.behind = False
        await self._subscribe(start_seq, deadline)
        return True

    async def _connect(self, start_seq: int, timeout: float, hold: bool = False) -> None:
        s = self.settings
        self._nc = await nats.connect(
            servers=list(s.servers),
            dont_randomize=True,
            connect_timeout=s.connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            name="govchain-peer",
            tls=s.tls,
            inbox_prefix=s.inbox_prefix,
        )
        self._js = self._nc.jetstream(timeout=s.publish_timeout)
        config = StreamConfig(
            name=s.stream,
            subjects=[f"{s.subject_prefix}.>"],
            storage=StorageType.FILE,
            num_replicas=s.replicas,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        deadline = time.monotonic() + timeout
        while True:  # a fresh cluster needs a few seconds to elect its JetStream meta leader
            try:
                info = await ensure_stream(self._js, config)
                # Nothing at or after our start in the stream: there is no order to replay.
                self._caught_up = info.state.last_seq < start_seq
                self.first_seq = info.state.first_seq
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cannot create stream {s.stream}: {exc}") from exc
                await asyncio.sleep(0.5)
        if hold or start_seq < self.first_seq:  # the order from start_seq on is gone from the stream
            self.behind, self._caught_up = True, False
            return
        await self._subscribe(start_seq, deadline)

    async def _subscribe(self, start_seq: int, deadline: float) -> None:
        s = self.settings
        assert self._js is not None
        self._expect_seq = start_seq
        self._reading += 1  # messages still arriving for an earlier subscription are ignored
        reading = self._reading

        async def on_msg(msg: Msg) -> None:
            if reading == self._reading:
                await self._on_msg(msg)

        while True:
            try:
                self._sub = await self._js.subscribe(
                    f"{s.subject_prefix}.>",
                    stream=s.stream,
                    cb=on_msg,
                    ordered_consumer=True,
                    idle_heartbeat=HEARTBEAT_S,  # a lost consumer (its server died) is replaced quickly
                    config=ConsumerConfig(
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_seq
                    ),
                    pending_msgs_limit=1_000_000,
                    pending_bytes_limit=1 << 30,
                )
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cannot read stream {s.stream}: {exc}") from exc
                await asyncio.sleep(0.5)
        self._ticker = asyncio.ensure_future(self._tick())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._ticker is not None:
                self._ticker.cancel()
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._nc.close(), 5)
            current = asyncio.current_task()
            rest = [task for task in asyncio.all_tasks() if task is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        except Exception:
            log.warning("NATS connection did not close cleanly")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def run(self, coro: Coroutine[Any, Any, R]) -> concurrent.futures.Future[R]:
        """Run a coroutine on this orderer's NATS event loop (finality shares the connection)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    @property
    def jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the orderer is not connected (call start first)")
        return self._js

    # --- the Orderer interface -------------------------------------------------------

    def submit(self, txs: Sequence[T]) -> None:
        """Publish to the stream and wait for JetStream's acknowledgements (the tx is then ordered)."""
        if not txs:
            return
        if self._closed or self._js is None:
            raise QueueFull("orderer is not running")
        if self.pending() + len(txs) > self._max_pending:
            raise QueueFull(f"{self.pending()} transactions are already waiting")
        with self._lock:
            if len(self._own) > self._max_pending:
                self._own.clear()  # only a cache: a stale entry costs a decode, never a difference
            self._own.update((tx.raw, tx) for tx in txs if len(tx.raw) <= self._max_tx_bytes)
        future = asyncio.run_coroutine_threadsafe(self._publish(txs), self._loop)
        try:
            future.result(self.settings.publish_timeout + 5)
        except Exception as exc:
            self._forget(txs)
            raise QueueFull(f"the ordering stream did not acknowledge: {exc}") from exc

    def _decode_known(self, raw: bytes) -> T:
        """The cutter's decode (called under the lock): a transaction this peer published comes back as
        the object admission built from the same bytes, so only other peers' bytes are decoded here."""
        own = self._own.pop(raw, None)
        return own if own is not None else self._decode(raw)

    def _forget(self, txs: Sequence[T]) -> None:
        with self._lock:
            for tx in txs:
                self._own.pop(tx.raw, None)

    async def _publish(self, txs: Sequence[T]) -> None:
        """One `txs` message per run of the submission (a lone transaction: one `tx` message)."""
        assert self._js is not None
        s = self.settings
        acks = []
        runs = pack([tx.raw for tx in txs], MAX_ENVELOPE_TXS, MAX_ENVELOPE_BYTES)
        for run in runs:
            if len(run) == 1:
                tx = txs[run[0]]
                acks.append(
                    await self._js.publish_async(s.tx_subject, tx.raw, headers={"Nats-Msg-Id": tx.id.hex()})
                )
                continue
            payload = encode_envelopes([txs[i].raw for i in run])
            msg_id = f"txs/{self._digest(payload).hex()}"
            acks.append(await self._js.publish_async(s.txs_subject, payload, headers={"Nats-Msg-Id": msg_id}))
        results = await asyncio.wait_for(asyncio.gather(*acks), s.publish_timeout)
        for run, ack in zip(runs, results, strict=True):
            if ack.duplicate:  # JetStream dropped it: these bytes will not come back for this submission
                self._forget([txs[i] for i in run])

    def next_batch(self, timeout: float) -> Batch[T] | None:
        """The next cut batch; raises if reading the stream failed (the node then reports unhealthy)."""
        if self.error is not None:
            raise RuntimeError(f"reading the ordering stream failed: {self.error!r}") from self.error
        try:
            cut = self._batches.get(timeout=timeout)
        except queue.Empty:
            return None
        return cut.batch

    def caught_up(self) -> bool:
        """The last message read had none after it, and no cut batch waits for execution."""
        waiting = self._cutter is not None and bool(self._cutter.backlog)
        return self._caught_up and self._batches.empty() and not waiting

    def pending(self) -> int:
        with self._lock:
            cutter = self._cutter
            open_txs = 0
            if cutter is not None:
                waiting = sum(len(w.items) - w.next for w in cutter.backlog if w.items is not None)
                open_txs = len(cutter.open_txs) + waiting
        return open_txs + sum(len(c.batch.txs) for c in list(self._batches.queue))

    # --- position bookkeeping ------------------------------------------------------------

    def committed(self, height: int) -> Position | None:
        """Record that block `height` is durably committed, so a restart resumes after it.

        Returns where the next batch starts in the stream (None for a block not cut here)."""
        with self._lock:
            position = self._emitted.pop(height, None)
            for old in [h for h in self._emitted if h < height]:
                del self._emitted[old]
        if position is not None:
            write_position(self._state_dir, position)
        if not self._closed and self._thread.is_alive():  # the next height's limit may be known now
            self._loop.call_soon_threadsafe(self._drain_backlog)
        return position

    def _drain_backlog(self) -> None:
        try:
            with self._lock:
                cutter = self._cutter
                if cutter is not None and cutter.backlog:
                    self._absorb(cutter, not cutter.open_txs, cutter.drain())
        except BaseException as exc:
            self.error = exc
            log.exception("cutting the ordering stream failed")
            raise

    @property
    def height(self) -> int:
        """Height of the last batch cut from the stream (a peer behind the stream shows a lag)."""
        with self._lock:
            return self._cutter.position.height if self._cutter is not None else 0

    # --- the event loop side ----------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        if self.error is not None or self.behind:  # a failed or stopped reader reads nothing more
            return
        try:
            meta = msg.metadata
            seq = meta.sequence.stream
            if seq > self._expect_seq > 0:  # deleted (limits, purge) before this peer read them
                gap = StreamGap(
                    f"the stream no longer holds messages {self._expect_seq}..{seq - 1}, which this peer "
                    "had not read"
                )
                if self.on_gap is None:
                    raise StreamGap(f"{gap}; restart it to catch up from other peers")
                self._stop_reading(gap)
                return
            self._expect_seq = seq + 1
            time_ms = int(meta.timestamp.timestamp() * 1000)
            self._caught_up = meta.num_pending == 0
            with self._lock:
                cutter = self._cutter
                assert cutter is not None
                kind = self._kinds.get(msg.subject)
                if kind is not None:
                    was_empty = not cutter.open_txs
                    self._absorb(cutter, was_empty, cutter.feed(kind, seq, time_ms, msg.data))
        except BaseException as exc:  # a failure here must be visible: the peer stops ordering
            self.error = exc
            log.exception("reading the ordering stream failed")
            raise

    def _stop_reading(self, gap: StreamGap) -> None:
        """Stop at a hole in the stream: the batches cut before it still go to the node; the open
        one is left for the blocks fetched elsewhere, and `resume` starts a new cutter."""
        log.warning("%s; reading stops, and the missing blocks are fetched from other peers", gap)
        self.behind, self._caught_up, self._expect_seq = True, False, 0
        self._reading += 1
        with self._lock:
            self._open_since = None
            if self._cutter is not None:  # nothing more is cut from this reading
                self._cutter.backlog.clear()
                self._cutter.open_txs = []
        sub, self._sub = self._sub, None
        if sub is not None:  # not from inside its own callback: in a task of its own
            self._unsubscribing = asyncio.ensure_future(self._unsubscribe(sub))
        on_gap = self.on_gap
        assert on_gap is not None
        threading.Thread(target=on_gap, args=(gap,), name="govchain-stream-gap", daemon=True).start()

    @staticmethod
    async def _unsubscribe(sub: Any) -> None:
        try:
            await sub.unsubscribe()
        except Exception as exc:  # the connection may be down; its messages are ignored anyway
            log.debug("unsubscribing from the stream failed: %s", exc)

    def drained(self) -> bool:
        """Every batch cut so far went to the node (none waits in the queue)."""
        return self._batches.empty()

    def _absorb(self, cutter: Cutter[T], was_empty: bool, cuts: list[CutBatch[T]]) -> None:
        """Hand cut batches to the node (caller holds the lock), and time the open batch from its first tx."""
        for cut in cuts:
            if cut.height > self._skip_to:
                self._emitted[cut.height] = cut.after
                self._batches.put(cut)
        if not cutter.open_txs:
            self._open_since = None
        elif was_empty or cuts:
            self._open_since = time.monotonic()

    async def _tick(self) -> None:
        """Publish a cut marker when the open batch has waited `block_time_ms` here and we are caught up."""
        while True:
            block_s = max(self._block_time_ms(), 10) / 1000
            await asyncio.sleep(min(block_s / 4, 0.05))
            with self._lock:
                cutter = self._cutter
                since = self._open_since
                height = cutter.open_height if cutter is not None else 0
            if since is None or not self._caught_up or self._marker_sent >= height:
                continue
            if time.monotonic() - since < block_s:
                continue
            try:
                assert self._js is not None
                await self._js.publish(
                    self.settings.cut_subject,
                    str(height).encode("ascii"),
                    headers={"Nats-Msg-Id": f"cut/{height}"},
                )
                self._marker_sent = height
            except Exception as exc:  # retried at the next tick; another peer may publish it first
                log.warning("cut marker for height %d not published: %s", height, exc)

    def stats(self) -> dict[str, Any]:
        return {"stream": self.settings.stream, "cut_height": self.height, "caught_up": self._caught_up}
