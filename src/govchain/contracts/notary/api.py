"""The notary contract's HTTP routes: look up a digest, fetch its receipt."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from govchain.api.common import ApiError, jsonable, parse_hex
from govchain.contracts.notary.contract import DIGEST_SIZE, NAME
from govchain.ledger import errors
from govchain.node.node import Node
from govchain.node.receipts import build_receipt, iso_time


def notary_router(node: Node) -> APIRouter:
    router = APIRouter(prefix="/v1/notary", tags=["notary"])

    def anchors(digest: bytes) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = node.query(NAME, "lookup", {"digest": digest})
        return found

    @router.get("/documents/{digest}")
    def lookup(digest: str) -> dict[str, Any]:
        """Every anchoring of a document digest (hex of the chain suite's hash of the file)."""
        found = anchors(parse_hex(digest, "digest", DIGEST_SIZE))
        if not found:
            raise ApiError(errors.NOT_FOUND, "this digest has not been notarised on this chain")
        return {
            "digest": digest,
            "anchors": [dict(jsonable(a), time_iso=iso_time(a["time"])) for a in found],
        }

    @router.get("/documents/{digest}/receipt")
    def receipt(digest: str, tx: str | None = None) -> dict[str, Any]:
        """The receipt of the first anchoring of `digest` (or of the anchoring in transaction `tx`)."""
        d = parse_hex(digest, "digest", DIGEST_SIZE)
        found = anchors(d)
        if tx is not None:
            wanted = parse_hex(tx, "tx", 32)
            found = [a for a in found if a["tx"] == wanted]
        if not found:
            raise ApiError(errors.NOT_FOUND, "this digest has not been notarised on this chain")
        return build_receipt(node, found[0]["tx"], d)

    return router
