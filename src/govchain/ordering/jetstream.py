"""Ordering on a NATS JetStream stream: the consortium's orderer.

Every organisation runs a `nats-server`; together they keep one replicated
stream (JetStream's Raft log). Each peer publishes the signed transactions it
admits to that stream and reads the whole stream back, in stream order. Every
peer then cuts the same batches by the same rule (docs/protocol.md, "Block
cutting"), so every peer builds the same blocks without talking to the others.

The stream carries two kinds of message, under `<prefix>.tx` and `<prefix>.cut`:

- a transaction: its exact wire bytes, message id = the transaction id (hex),
  so JetStream drops a resubmission within the duplicate window;
- a cut marker for height h: payload `h` in ASCII decimal, message id `cut/h`,
  published by any peer whose open batch has waited `block_time_ms`.

Cut rule, applied to the stream in sequence order by every peer alike:

1. a transaction that does not decode is skipped (it counts for nothing);
2. a decoded transaction joins the open batch; when the batch holds
   `max_block_txs` (from the genesis) it is cut, with that message's time;
3. a marker for height h cuts the open batch if h is the open batch's height
   and the batch is not empty, with the marker's time; any other marker is ignored;
4. a batch's time is the stream timestamp (ms) of the message that cut it,
   never earlier than the previous batch's time.

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
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from govchain.ordering.base import Batch, QueueFull, T

log = logging.getLogger("govchain.ordering.jetstream")

R = TypeVar("R")
DUPLICATE_WINDOW_S = 120.0
HEARTBEAT_S = 1.0  # the client re-creates an ordered consumer after two missed heartbeats
POSITION_FILE = "stream-position.json"


class StreamGap(Exception):
    """Messages this peer had still to read are gone from the stream: its blocks would differ."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where the cutter stands: the last batch cut, and where the next one starts in the stream."""

    height: int  # height of the last batch cut (0: none yet)
    time: int  # that batch's time, ms since the epoch
    next_seq: int  # the stream sequence from which the next batch is read

    def to_json(self) -> str:
        return json.dumps({"height": self.height, "time": self.time, "next_seq": self.next_seq})

    @classmethod
    def from_json(cls, text: str) -> Position:
        value = json.loads(text)
        return cls(int(value["height"]), int(value["time"]), int(value["next_seq"]))


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

    @property
    def open_height(self) -> int:
        return self.position.height + 1

    def on_tx(self, seq: int, time_ms: int, raw: bytes) -> CutBatch[T] | None:
        try:
            tx = self.decode(raw)
        except Exception:  # any undecodable payload is skipped by every peer alike
            return None
        self.open_txs.append(tx)
        if len(self.open_txs) >= self.max_txs:
            return self._cut(seq, time_ms)
        return None

    def on_marker(self, seq: int, time_ms: int, payload: bytes) -> CutBatch[T] | None:
        try:
            height = int(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None
        if height != self.open_height or not self.open_txs:
            return None
        return self._cut(seq, time_ms)

    def _cut(self, seq: int, time_ms: int) -> CutBatch[T]:
        batch_time = max(time_ms, self.position.time)
        self.position = Position(self.open_height, batch_time, seq + 1)
        txs, self.open_txs = self.open_txs, []
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

    @property
    def tx_subject(self) -> str:
        return f"{self.subject_prefix}.tx"

    @property
    def cut_subject(self) -> str:
        return f"{self.subject_prefix}.cut"


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
        max_block_txs: int,
        block_time_ms: Callable[[], int],
        state_dir: Path,
        max_pending: int = 200_000,
    ) -> None:
        """`max_block_txs` must be the same on every peer (the genesis value); `block_time_ms()` only
        paces this peer's markers, so it may follow governance."""
        self.settings = settings
        self._decode = decode
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
        self._cutter = Cutter(saved, self._max_block_txs, self._decode)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._connect(saved.next_seq, timeout, hold), self._loop)
        future.result(timeout + 5)

    def resume(self, position: Position, timeout: float = 30.0) -> bool:
        """Read the stream from `position` (the last block committed here): after a catch-up.
        False, reading nothing, if the stream no longer holds `position.next_seq` either."""
        with self._lock:
            self._skip_to = position.height
            self._cutter = Cutter(position, self._max_block_txs, self._decode)
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
                info = await self._js.add_stream(config)
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
        while True:
            try:
                await self._js.subscribe(
                    f"{s.subject_prefix}.>",
                    stream=s.stream,
                    cb=self._on_msg,
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
        future = asyncio.run_coroutine_threadsafe(self._publish(txs), self._loop)
        try:
            future.result(self.settings.publish_timeout + 5)
        except Exception as exc:
            raise QueueFull(f"the ordering stream did not acknowledge: {exc}") from exc

    async def _publish(self, txs: Sequence[T]) -> None:
        assert self._js is not None
        subject = self.settings.tx_subject
        acks = [
            await self._js.publish_async(subject, tx.raw, headers={"Nats-Msg-Id": tx.id.hex()}) for tx in txs
        ]
        await asyncio.wait_for(asyncio.gather(*acks), self.settings.publish_timeout)

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
        return self._caught_up and self._batches.empty()

    def pending(self) -> int:
        with self._lock:
            open_txs = len(self._cutter.open_txs) if self._cutter is not None else 0
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
        return position

    @property
    def height(self) -> int:
        """Height of the last batch cut from the stream (a peer behind the stream shows a lag)."""
        with self._lock:
            return self._cutter.position.height if self._cutter is not None else 0

    # --- the event loop side ----------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        if self.error is not None:  # a failed reader reads nothing more (and keeps its first error)
            return
        try:
            meta = msg.metadata
            seq = meta.sequence.stream
            if seq > self._expect_seq > 0:  # deleted (limits, purge) before this peer read them
                raise StreamGap(
                    f"the stream no longer holds messages {self._expect_seq}..{seq - 1}, which this peer "
                    "had not read; restart it to catch up from other peers"
                )
            self._expect_seq = seq + 1
            time_ms = int(meta.timestamp.timestamp() * 1000)
            self._caught_up = meta.num_pending == 0
            with self._lock:
                cutter = self._cutter
                assert cutter is not None
                if msg.subject == self.settings.tx_subject:
                    was_empty = not cutter.open_txs
                    cut = cutter.on_tx(seq, time_ms, msg.data)
                    if was_empty and cutter.open_txs:
                        self._open_since = time.monotonic()
                elif msg.subject == self.settings.cut_subject:
                    cut = cutter.on_marker(seq, time_ms, msg.data)
                else:
                    cut = None
                if cut is not None:
                    self._open_since = None
                    if cut.height > self._skip_to:
                        self._emitted[cut.height] = cut.after
                        self._batches.put(cut)
        except BaseException as exc:  # a failure here must be visible: the peer stops ordering
            self.error = exc
            log.exception("reading the ordering stream failed")
            raise

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
