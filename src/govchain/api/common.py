"""Shared pieces of the HTTP face: error replies, body limits, JSON rendering, commit waits."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from govchain.ledger import errors
from govchain.node.node import CommitEvent

STATUS_BY_CODE = {
    errors.TOO_LARGE: 413,
    errors.BATCH_TOO_LARGE: 413,
    errors.BAD_SIGNATURE: 401,
    errors.REPLAYED: 409,
    errors.OVERLOADED: 503,
    errors.UNKNOWN_TX: 404,
    errors.UNKNOWN_BLOCK: 404,
    errors.NOT_FINAL: 409,
    errors.NOT_FOUND: 404,
    errors.NOT_A_MEMBER: 403,
    errors.MEMBER_REVOKED: 403,
    errors.MEMBER_EXPIRED: 403,
    errors.MEMBER_NOT_YET_VALID: 403,
    errors.FORBIDDEN: 403,
}


class ApiError(Exception):
    """Raised by a route; rendered as `{"error": {"code", "message"}}` with a 4xx/5xx status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_BY_CODE.get(code, 400)


def error_response(code: str, message: str, status: int | None = None) -> JSONResponse:
    err = ApiError(code, message, status)
    return JSONResponse({"error": {"code": err.code, "message": err.message}}, status_code=err.status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(errors.TOO_LARGE, f"request body over {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(errors.TOO_LARGE, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def jsonable(value: Any) -> Any:
    """CBOR values as JSON: byte strings become lowercase hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def parse_hex(value: str, what: str, size: int | None = None) -> bytes:
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ApiError(errors.BAD_REQUEST, f"{what} is not valid hex") from None
    if size is not None and len(data) != size:
        raise ApiError(errors.BAD_REQUEST, f"{what} must be {size} bytes ({2 * size} hex digits)")
    return data


Outcome = tuple[int | None, str, str]
"""(height or None if left out of the chain, result or reason code, message)."""


class Waiting:
    """One request's wait for a set of transactions: a single future for the whole set.

    A request may wait for thousands of transactions; one future per request (not per
    transaction) keeps the event loop's work per committed transaction to a dictionary update.
    """

    __slots__ = ("done", "missing", "outcomes")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.outcomes: dict[bytes, Outcome] = {}
        self.missing = 0
        self.done: asyncio.Future[None] = loop.create_future()

    def settle(self, tx_id: bytes, outcome: Outcome) -> None:
        if tx_id in self.outcomes:
            return
        self.outcomes[tx_id] = outcome
        self.missing -= 1
        if self.missing <= 0 and not self.done.done():
            self.done.set_result(None)


class CommitWaiters:
    """Waits that end when transactions are committed (or dropped) by the executor."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[bytes, list[Waiting]] = {}
        self._dropped: OrderedDict[bytes, Outcome] = OrderedDict()

    def on_commit(self, event: CommitEvent) -> None:
        """Called on the executor thread; hands over to the event loop."""
        self._loop.call_soon_threadsafe(self._resolve, event)

    def _resolve(self, event: CommitEvent) -> None:
        waiting = self._waiting
        if waiting:
            for tx_id, code, message in event.committed:
                waits = waiting.pop(tx_id, None)
                if waits is not None:
                    outcome: Outcome = (event.height, code, message)
                    for wait in waits:
                        wait.settle(tx_id, outcome)
        for tx_id, code, message in event.dropped:
            dropped: Outcome = (None, code, message)
            self._dropped[tx_id] = dropped
            for wait in waiting.pop(tx_id, ()):
                wait.settle(tx_id, dropped)
        while len(self._dropped) > 10_000:
            self._dropped.popitem(last=False)

    def wait(self, tx_ids: list[bytes]) -> Waiting:
        """Start waiting for these transactions (call on the event loop)."""
        wait = Waiting(self._loop)
        wait.missing = len(set(tx_ids))
        for tx_id in tx_ids:
            dropped = self._dropped.get(tx_id)
            if dropped is not None:
                wait.settle(tx_id, dropped)
            elif tx_id not in wait.outcomes:
                self._waiting.setdefault(tx_id, []).append(wait)
        if wait.missing <= 0 and not wait.done.done():
            wait.done.set_result(None)
        return wait

    def settle(self, wait: Waiting, outcomes: dict[bytes, Outcome]) -> None:
        """Outcomes found elsewhere (the store, for blocks committed before the wait began)."""
        for tx_id, outcome in outcomes.items():
            self._unregister(tx_id, wait)
            wait.settle(tx_id, outcome)

    def forget(self, wait: Waiting, tx_ids: list[bytes]) -> None:
        """Stop waiting (the request timed out or went away)."""
        for tx_id in tx_ids:
            if tx_id not in wait.outcomes:
                self._unregister(tx_id, wait)

    def _unregister(self, tx_id: bytes, wait: Waiting) -> None:
        waits = self._waiting.get(tx_id)
        if waits and wait in waits:
            waits.remove(wait)
            if not waits:
                del self._waiting[tx_id]
