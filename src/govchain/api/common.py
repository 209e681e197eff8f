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


class CommitWaiters:
    """Futures that resolve when a transaction is committed (or dropped) by the executor."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[bytes, list[asyncio.Future[Outcome]]] = {}
        self._dropped: OrderedDict[bytes, Outcome] = OrderedDict()

    def on_commit(self, event: CommitEvent) -> None:
        """Called on the executor thread; hands over to the event loop."""
        self._loop.call_soon_threadsafe(self._resolve, event)

    def _resolve(self, event: CommitEvent) -> None:
        for tx_id, code, message in event.committed:
            for fut in self._waiting.pop(tx_id, ()):
                if not fut.done():
                    fut.set_result((event.height, code, message))
        for tx_id, code, message in event.dropped:
            outcome: Outcome = (None, code, message)
            self._dropped[tx_id] = outcome
            for fut in self._waiting.pop(tx_id, ()):
                if not fut.done():
                    fut.set_result(outcome)
        while len(self._dropped) > 10_000:
            self._dropped.popitem(last=False)

    def future(self, tx_id: bytes) -> asyncio.Future[Outcome]:
        fut: asyncio.Future[Outcome] = self._loop.create_future()
        if tx_id in self._dropped:
            fut.set_result(self._dropped[tx_id])
        else:
            self._waiting.setdefault(tx_id, []).append(fut)
        return fut

    def forget(self, tx_id: bytes, fut: asyncio.Future[Outcome]) -> None:
        futures = self._waiting.get(tx_id)
        if futures and fut in futures:
            futures.remove(fut)
            if not futures:
                del self._waiting[tx_id]
