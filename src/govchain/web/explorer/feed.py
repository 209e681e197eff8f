"""The live block feed: server-sent events fed by the node's commit listener.

The executor thread calls `on_commit` after each block is durably committed; the
feed hands the event to every open stream on its own event loop. A slow or gone
browser never holds up block production: its queue drops the oldest entries.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from govchain.node.node import CommitEvent, Node

KEEPALIVE_S = 15.0
STREAM_LIFETIME_S = 300.0  # the browser's EventSource reconnects by itself
QUEUE_SIZE = 256

Item = tuple[str, dict[str, Any]]  # (event name, data)


class BlockFeed:
    """Fans commit events out to subscribers on any event loop, without blocking the executor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Item]]] = []

    def on_commit(self, event: CommitEvent) -> None:
        item = {
            "height": event.height,
            "hash": event.block_hash.hex(),
            "time": event.time,
            "tx_count": len(event.committed),
        }
        self._fan_out(("block", item))

    def on_final(self, height: int) -> None:
        self._fan_out(("final", {"height": height}))

    def _fan_out(self, item: Item) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, item)
            except RuntimeError:  # that loop is closed: the stream is gone
                self.unsubscribe(queue)

    def subscribe(self) -> asyncio.Queue[Item]:
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Item]) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s[1] is not queue]


def _offer(queue: asyncio.Queue[Item], item: Item) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def feed_router(node: Node) -> APIRouter:
    feed = BlockFeed()
    node.add_listener(feed.on_commit)
    node.add_final_listener(feed.on_final)
    router = APIRouter(tags=["chain"])

    @router.get("/v1/events/blocks")
    async def block_events(request: Request) -> StreamingResponse:
        """Server-sent events: a `block` event (height, hash, time, tx_count) per committed block, and a
        `final` event (height) whenever the final height rises (a quorum of organisations signed)."""
        queue = feed.subscribe()

        async def stream() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            ends = loop.time() + STREAM_LIFETIME_S
            try:
                yield "retry: 2000\n\n"
                while loop.time() < ends and not await request.is_disconnected():
                    try:
                        item = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    kind, data = item
                    yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
            finally:
                feed.unsubscribe(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
