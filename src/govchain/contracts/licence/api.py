"""The e-licence contract's HTTP routes: the catalogue, and the public status check (the QR code's)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from govchain import codec
from govchain.api.common import ApiError, jsonable, parse_hex
from govchain.contracts.licence.client import check_fields
from govchain.contracts.licence.contract import ISSUER_NOT_ALLOWED, MAX_SEQUENCE, NAME, record_key
from govchain.contracts.licence.filecheck import check_file
from govchain.contracts.licence.model import (
    REGISTRY_KIND,
    STATUS_PURPOSES,
    check_licence_id,
    disclose,
    fields_digest,
    licence_id,
    parse_type,
)
from govchain.contracts.licence.render import LicenceSheet, render_licence
from govchain.contracts.licence.vc import status_list_credential
from govchain.ledger import errors
from govchain.ledger.errors import TxRejected
from govchain.ledger.governance import versioned
from govchain.ledger.requests import verify_request
from govchain.ledger.results import TxResult
from govchain.node.node import Node
from govchain.node.receipts import build_state_proof
from govchain.sdk.client import SdkError

MAX_FILE = 16 * 1024 * 1024
RENDER_ARGS = {"type", "version", "fields", "salts", "valid_from", "valid_until"}


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

    def current(licence_id: str, version: int | None = None) -> dict[str, Any]:
        """The licence's status now (of one version, if named), or a 404/400 with the reason."""
        args: dict[str, Any] = {"id": licence_id, "now": int(time.time() * 1000)}
        if version is not None:
            args["version"] = version
        try:
            found: dict[str, Any] = node.query(NAME, "status", args)
        except LookupError as exc:
            raise ApiError(errors.NOT_FOUND, str(exc)) from None
        except ValueError as exc:
            raise ApiError(errors.INVALID_ARGS, str(exc)) from None
        return found

    def signed(envelope: dict[str, Any], purpose: str) -> tuple[dict[str, Any], bytes]:
        try:
            return verify_request(
                node.suite, node.genesis.chain_id, envelope, purpose, int(time.time() * 1000)
            )
        except TxRejected as exc:
            raise ApiError(exc.code, exc.message) from None

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

    @router.post("/render")
    def render(request: Request, envelope: dict[str, Any] = Body(...)) -> Response:
        """The licence file (PDF) for a licence about to be issued or changed, for a browser that
        cannot render it: a signed request (purpose `licence/render`) from an `issuer` of an
        organisation the type allows, naming the `sequence` (or, for a later version, the `id`).
        The same render.py as the CLI, so the same inputs give the same bytes. Nothing is kept."""
        body, signer = signed(envelope, "licence/render")
        if not set(body) >= RENDER_ARGS or ("sequence" in body) == ("id" in body):
            raise ApiError(
                errors.INVALID_ARGS,
                f"render takes {', '.join(sorted(RENDER_ARGS))} and one of 'sequence' or 'id'",
            )
        code = body["type"]
        found = types_in_force().get(code) if type(code) is str else None
        if found is None or "unusable" in found:
            raise ApiError("unknown_licence_type", f"no usable licence type '{code}' is registered", 404)
        kind = parse_type(code, {k: v for k, v in found.items() if k != "code"})
        try:  # the policy in force for issuing, as the state machine will check the issue itself
            member = node.authorize_sender(NAME, "issue", signer, int(time.time() * 1000))
        except TxRejected as exc:
            raise ApiError(exc.code, exc.message, 403) from None
        if member is None:
            raise ApiError("not_a_consortium", "licence files are rendered on a consortium chain", 403)
        if member.org not in kind.issuers:
            raise ApiError(
                ISSUER_NOT_ALLOWED, f"organisation {member.org} may not issue {code} licences", 403
            )
        fields, version = body["fields"], body["version"]
        try:
            if type(fields) is not dict:
                raise ValueError("'fields' must be a map")
            check_fields(kind, fields)
            digest = fields_digest(node.suite, fields, body["salts"])
            licence = _render_id(body, code, member.org)
            if type(version) is not int or version < 1:
                raise ValueError("'version' must be a whole number from 1")
        except SdkError as exc:
            raise ApiError(exc.code, exc.message) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ApiError(errors.INVALID_ARGS, f"cannot render this licence: {exc}") from None
        validity = (body["valid_from"], body["valid_until"])
        if type(validity[0]) is not int or not (validity[1] is None or type(validity[1]) is int):
            raise ApiError(errors.INVALID_ARGS, "'valid_from' (ms) and 'valid_until' (ms or null)")
        org = node.current_orgs().get(member.org)
        sheet = LicenceSheet(
            kind=kind,
            licence=licence,
            version=version,
            org=member.org,
            org_name=org.name_zh if org is not None else "",
            valid_from=validity[0],
            valid_until=validity[1],
            fields=fields,
            data_digest=digest,
            chain=node.genesis.chain_id,
            check_base=str(request.base_url),
        )
        try:
            pdf = render_licence(sheet)
        except (ValueError, OverflowError, OSError) as exc:  # a validity no calendar shows
            raise ApiError(errors.INVALID_ARGS, f"cannot render this licence: {exc}") from None
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{licence}.pdf"'},
        )

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
        found = current(licence_id, version)
        reply: dict[str, Any] = jsonable(found) | {"height": node.height}
        if digest is not None:
            wanted = parse_hex(digest, "digest", 32)
            reply["digest_matches"] = wanted in (found["data_digest"], found["file_digest"])
            reply["matches"] = digest_matches(licence_id, wanted)
        return reply

    def digest_matches(licence_id: str, digest: bytes) -> list[dict[str, Any]]:
        """Every version whose data or file digest this is, with that version's status now."""
        return [
            match | {"status": current(licence_id, match["version"])["status"]}
            for match in node.query(NAME, "file_versions", {"id": licence_id, "digest": digest})
        ]

    @router.post("/verify-file")
    async def verify_file(
        request: Request, id: str | None = Query(None, description="the licence (default: the file's own)")
    ) -> dict[str, Any]:
        """Check a rendered licence file (the request body, as is) against the chain: which version
        it is and that version's status, or `file_unknown` / `file_mismatch`. The file is not kept."""
        pdf = await request.body()
        if not 0 < len(pdf) <= MAX_FILE:
            raise ApiError(
                errors.INVALID_ARGS, f"send the licence file as the body (at most {MAX_FILE} bytes)"
            )

        def lookup(licence: str, digest: str) -> dict[str, Any]:
            try:
                return status(licence, None, digest)
            except ApiError as exc:
                raise LookupError(exc.message) from None

        return check_file(node.suite, node.genesis.chain_id, pdf, id, lookup).to_json()

    @router.get("/types/{code}/next-sequence")
    def next_sequence(
        code: str, org: str = Query(..., description="the issuing organisation")
    ) -> dict[str, Any]:
        """The sequence `issue` would assign now to a licence of this type from `org` (an issuer
        renders the licence file for that id, then issues with that `sequence`)."""
        if code not in types_in_force():
            raise ApiError("unknown_licence_type", f"no licence type '{code}' is registered", 404)
        sequence = node.query(NAME, "next_sequence", {"type": code, "org": org})
        return {"type": code, "org": org, "sequence": sequence, "id": licence_id(code, org, sequence)}

    @router.get("/{licence_id}/proof")
    def proof(licence_id: str) -> dict[str, Any]:
        """An offline status proof: the licence's record under the latest final block's signed state
        root (`govchain licence verify-status` checks it with no node)."""
        current(licence_id)  # a clear not_found / invalid_args first
        return build_state_proof(node, record_key(licence_id))

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

    @router.post("/{licence_id}/private")
    def deposit(licence_id: str, envelope: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """The issuer deposits a licence's data (the holder's bundle) in this node's private store,
        encrypted at rest. A signed request (purpose `licence/deposit`) from the licence's issuer key."""
        body, signer = signed(envelope, "licence/deposit")
        bundle = body.get("bundle")
        status = current(licence_id)
        if type(bundle) is not dict or bundle.get("licence") != licence_id:
            raise ApiError(errors.INVALID_ARGS, "'bundle' must be this licence's bundle")
        if signer != status["issuer"]:
            raise ApiError(errors.FORBIDDEN, "only the key that issued the licence deposits its data")
        if bundle.get("version") != status["version"]:
            raise ApiError(errors.CONFLICT, f"the licence is at version {status['version']}")
        try:
            matches = fields_digest(node.suite, bundle["fields"], bundle["salts"]) == status["data_digest"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ApiError("digest_mismatch", f"the bundle is malformed: {exc}") from None
        if not matches:
            raise ApiError("digest_mismatch", "the bundle does not match the licence's data digest on chain")
        if "file" in bundle and not file_matches(bundle["file"], status["file_digest"]):
            raise ApiError("digest_mismatch", "the bundle's file does not match the file digest on chain")
        name = f"licence/{licence_id}/v{status['version']}"
        node.private.put(name, json.dumps(bundle, ensure_ascii=False).encode())
        return {"licence": licence_id, "version": status["version"], "stored": True}

    @router.post("/{licence_id}/fetch")
    def fetch(licence_id: str, envelope: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """A relying party fetches the fields a holder authorised, after recording the use on chain.
        A signed request (purpose `licence/fetch`, naming the `use` transaction) from the member who
        recorded the use, within the authorisation's window."""
        body, signer = signed(envelope, "licence/fetch")
        use_tx = body.get("use")
        if type(use_tx) is not bytes or len(use_tx) != 32:
            raise ApiError(errors.INVALID_ARGS, "'use' must name the use transaction (32 bytes)")
        stored = node.store.tx(use_tx)
        if stored is None:
            raise ApiError(errors.UNKNOWN_TX, "no committed use transaction with this id")
        tx_body = codec.decode(codec.decode(stored.envelope)["body"])
        result = TxResult.decode(stored.result, stored.message)
        if (tx_body["contract"], tx_body["method"], result.code) != (NAME, "use", errors.OK):
            raise ApiError(errors.INVALID_ARGS, "that transaction is not a successful licence use")
        auth = tx_body["args"]["auth"]
        if auth["licence"] != licence_id:
            raise ApiError(errors.INVALID_ARGS, "that use is of another licence")
        if tx_body["from"] != signer:
            raise ApiError(errors.FORBIDDEN, "only the member who recorded the use may fetch with it")
        if time.time() * 1000 > auth["not_after"]:
            raise ApiError("authorisation_expired", "the holder's authorisation has expired")
        version = result.data["version"]
        raw = node.private.get(f"licence/{licence_id}/v{version}")
        if raw is None:
            raise ApiError(
                errors.NOT_FOUND,
                "this node holds no data for that licence version (ask the issuing organisation's node)",
            )
        bundle = json.loads(raw)
        salts = {name: bytes.fromhex(salt) for name, salt in bundle["salts"].items()}
        shown = disclose(node.suite, bundle["fields"], salts, sorted(auth["fields"]))
        return {
            "licence": licence_id,
            "version": version,
            "service": auth["service"],
            "disclosure": jsonable(shown),
        }

    def _render_id(body: dict[str, Any], code: str, org: str) -> str:
        """The licence id a render names: from its sequence, or its id, which must be this type's
        and the signer's organisation's."""
        if "sequence" in body:
            sequence = body["sequence"]
            if type(sequence) is not int or not 0 < sequence <= MAX_SEQUENCE:
                raise ValueError(f"'sequence' must be a whole number 1..{MAX_SEQUENCE}")
            return licence_id(code, org, sequence)
        lid = check_licence_id(body["id"])
        if not lid.startswith(f"{code}-{org}-"):
            raise ValueError(f"{lid} is not a {code} licence of {org}")
        return lid

    def file_matches(encoded: Any, digest: bytes) -> bool:
        try:
            return node.suite.hash(base64.b64decode(encoded, validate=True)) == digest
        except (TypeError, ValueError) as exc:
            raise ApiError("digest_mismatch", f"the bundle's file is not base64: {exc}") from None

    return router
