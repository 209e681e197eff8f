"""The e-licence contract's HTTP routes: the catalogue, and the public status check (the QR code's)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request

from govchain.api.common import ApiError, jsonable, parse_hex
from govchain.contracts.licence.contract import NAME
from govchain.contracts.licence.model import REGISTRY_KIND, STATUS_PURPOSES, parse_type
from govchain.contracts.licence.vc import status_list_credential
from govchain.ledger import errors
from govchain.ledger.governance import versioned
from govchain.node.node import Node


def licence_router(node: Node) -> APIRouter:
    router = APIRouter(prefix="/v1/licences", tags=["licences"])

    def types_in_force() -> dict[str, dict[str, Any]]:
        height = node.height + 1
        found = {}
        for entry in node.query("governance", "registry", {"kind": REGISTRY_KIND}):
            doc = versioned(entry, height)
            if doc is not None:
                try:
                    found[entry["id"]] = {"code": entry["id"]} | parse_type(entry["id"], doc).to_value()
                except ValueError as exc:
                    found[entry["id"]] = {"code": entry["id"], "unusable": str(exc)}
        return found

    @router.get("/types")
    def types() -> dict[str, Any]:
        """Licence types in force (证照目录), as governance registered them."""
        return {"types": list(types_in_force().values())}

    @router.get("/types/{code}")
    def licence_type(code: str) -> dict[str, Any]:
        found = types_in_force().get(code)
        if found is None:
            raise ApiError("unknown_licence_type", f"no licence type '{code}' is registered", 404)
        return found

    @router.get("/status-lists/{purpose}")
    def status_list(purpose: str, request: Request) -> dict[str, Any]:
        """W3C Bitstring Status List credential (`revocation` or `suspension`), from chain state,
        signed by this peer's key."""
        if purpose not in STATUS_PURPOSES:
            raise ApiError(errors.NOT_FOUND, f"status lists: {', '.join(STATUS_PURPOSES)}")
        bits = node.query(NAME, "status_list", {"purpose": purpose})
        now = int(time.time() * 1000)
        url = str(request.url).split("?")[0]
        return status_list_credential(
            node.suite, node.key.keys, url, purpose, bits, node.genesis.chain_id, now
        )

    @router.get("/{licence_id}")
    def status(
        licence_id: str,
        version: int | None = Query(None, ge=1, description="check an older version (superseded?)"),
        digest: str | None = Query(None, description="hex digest of the licence data or file to match"),
    ) -> dict[str, Any]:
        """Public check: valid, suspended, revoked, cancelled, expired, not_yet_valid or superseded."""
        args: dict[str, Any] = {"id": licence_id, "now": int(time.time() * 1000)}
        if version is not None:
            args["version"] = version
        try:
            found: dict[str, Any] = node.query(NAME, "status", args)
        except LookupError as exc:
            raise ApiError(errors.NOT_FOUND, str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise ApiError(errors.INVALID_ARGS, str(exc)) from None
        reply: dict[str, Any] = jsonable(found) | {"height": node.height}
        if digest is not None:
            wanted = parse_hex(digest, "digest", 32)
            reply["digest_matches"] = wanted in (found["data_digest"], found["file_digest"])
        return reply

    @router.get("/{licence_id}/history")
    def history(licence_id: str) -> dict[str, Any]:
        """Every lifecycle event of a licence, oldest first (who, what, why, when)."""
        try:
            events = node.query(NAME, "history", {"id": licence_id})
        except ValueError as exc:
            raise ApiError(errors.INVALID_ARGS, str(exc)) from None
        if not events:
            raise ApiError(errors.NOT_FOUND, f"no licence {licence_id}")
        return {"id": licence_id, "events": jsonable(events)}

    return router
