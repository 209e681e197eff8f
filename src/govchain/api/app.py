"""The REST API (FastAPI): submit transactions, read the chain, fetch receipts.

This is a face: it decodes requests, enforces sizes, and calls the node.
Every rule lives in the ledger and the contracts, never here.
Errors are `{"error": {"code": <reason code>, "message": <text>}}` with a 4xx/5xx
status; the codes are those of govchain.ledger.errors.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from govchain import __version__, codec
from govchain.api.common import (
    ApiError,
    CommitWaiters,
    Outcome,
    error_response,
    jsonable,
    parse_hex,
    read_body,
)
from govchain.contracts.licence.api import licence_router
from govchain.contracts.notary.api import notary_router
from govchain.ledger import errors
from govchain.ledger.blocks import Header
from govchain.ledger.errors import TxRejected
from govchain.ledger.governance import read_policies_in_force
from govchain.ledger.results import TxResult
from govchain.ledger.transactions import decode_tx
from govchain.node import catchup
from govchain.node.node import MAX_SUBMIT_BATCH, Admission, Node
from govchain.node.receipts import ProofUnavailable, build_receipt, consistency
from govchain.web.portal import portal_router

CBOR = "application/cbor"
MAX_WAIT_S = 60.0
BATCH_BODY_LIMIT = 64 << 20
READ_NOT_COMMITTED = "read_not_committed"

_CBOR_BODY = {"requestBody": {"content": {CBOR: {"schema": {"type": "string", "format": "binary"}}}}}


def _reason(error: BaseException | None) -> str | None:
    """The reason code of a failure that carries one (e.g. a catch-up's `position_unknown`)."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else None


def create_app(node: Node) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        waiters = CommitWaiters(asyncio.get_running_loop())
        app.state.waiters = waiters
        node.add_listener(waiters.on_commit)
        yield

    app = FastAPI(
        title="govchain",
        version=__version__,
        description="Consortium blockchain for digital-government services. Errors: "
        '`{"error": {"code", "message"}}`.',
        lifespan=lifespan,
    )
    app.state.node = node

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.code, exc.message, exc.status)

    @app.exception_handler(ProofUnavailable)
    async def _no_proof(request: Request, exc: ProofUnavailable) -> JSONResponse:
        return error_response(exc.code, str(exc))

    # --- writes -------------------------------------------------------------------

    @app.post("/v1/txs", tags=["transactions"], openapi_extra=_CBOR_BODY)
    async def submit_tx(
        request: Request,
        wait: bool = Query(False, description="wait until the transaction is in a committed block"),
        timeout: float = Query(30.0, gt=0, le=MAX_WAIT_S),
    ) -> JSONResponse:
        """Submit one signed transaction: raw CBOR (`application/cbor`) or JSON `{"tx": "<hex>"}`."""
        body = await read_body(request, node.params().max_tx_bytes + 1024)
        raw = _single_tx(request, body)
        (admission,) = await run_in_threadpool(node.admit, [raw])
        if not admission.accepted:
            raise ApiError(admission.code, admission.message)
        assert admission.id is not None
        if not wait:
            return JSONResponse({"id": admission.id.hex(), "status": "accepted"}, status_code=202)
        (outcome,) = await _wait_all(request.app, [admission.id], timeout)
        return JSONResponse(_outcome_json(admission.id, outcome), status_code=200 if outcome else 202)

    @app.post("/v1/txs/batch", tags=["transactions"], openapi_extra=_CBOR_BODY)
    async def submit_batch(
        request: Request,
        wait: bool = Query(False, description="wait until every accepted transaction is committed"),
        timeout: float = Query(30.0, gt=0, le=MAX_WAIT_S),
    ) -> JSONResponse:
        """Submit up to 5,000 transactions: a CBOR array of envelopes, or JSON `{"txs": ["<hex>", ...]}`.

        Each transaction gets its own answer; the refused ones change nothing.
        """
        body = await read_body(request, BATCH_BODY_LIMIT)
        raws = _batch_txs(request, body)
        admissions: list[Admission] = await run_in_threadpool(node.admit, raws)
        items: list[dict[str, Any]] = [
            {"id": a.id.hex() if a.id else None, "status": "accepted"}
            if a.accepted
            else {
                "id": a.id.hex() if a.id else None,
                "status": "rejected",
                "code": a.code,
                "message": a.message,
            }
            for a in admissions
        ]
        accepted = [(i, a.id) for i, a in enumerate(admissions) if a.accepted and a.id is not None]
        if wait and accepted:
            outcomes = await _wait_all(request.app, [tx_id for _, tx_id in accepted], timeout)
            for (i, tx_id), outcome in zip(accepted, outcomes, strict=True):
                items[i] = _outcome_json(tx_id, outcome)
        return JSONResponse(
            {"accepted": len(accepted), "rejected": len(raws) - len(accepted), "results": items}
        )

    @app.post("/v1/reads", tags=["restricted reads"], openapi_extra=_CBOR_BODY)
    async def restricted_read(
        request: Request, timeout: float = Query(30.0, gt=0, le=MAX_WAIT_S)
    ) -> dict[str, Any]:
        """Read restricted data: submit a signed `audit.read` transaction (CBOR, or JSON `{"tx": "<hex>"}`).

        The state machine checks the reader's right and records the read on chain;
        the data comes back only once that record is committed. A refused read
        returns its reason code (`forbidden`, `unknown_query`, `not_a_member`, ...).
        """
        body = await read_body(request, node.params().max_tx_bytes + 1024)
        raw = _single_tx(request, body)
        try:
            tx = decode_tx(node.suite, raw, node.params().max_tx_bytes)
        except TxRejected as exc:
            raise ApiError(exc.code, exc.message) from None
        if (tx.body.contract, tx.body.method) != ("audit", "read"):
            raise ApiError(errors.BAD_REQUEST, "a restricted read must be an audit.read transaction")
        (admission,) = await run_in_threadpool(node.admit, [raw])
        if not admission.accepted:
            raise ApiError(admission.code, admission.message)
        (outcome,) = await _wait_all(request.app, [tx.id], timeout)
        if outcome is None:
            raise ApiError(
                READ_NOT_COMMITTED, "the read was not committed in time; sign a new read and retry", 504
            )
        height, code, message = outcome
        if height is None or code != errors.OK:
            raise ApiError(code, message)
        args = tx.body.args
        try:
            data = await run_in_threadpool(
                node.restricted_query, args["contract"], args["query"], args.get("args", {})
            )
        except ValueError as exc:
            raise ApiError(
                errors.INVALID_ARGS, f"the read is recorded, but its arguments are wrong: {exc}"
            ) from None
        except LookupError as exc:
            raise ApiError(errors.NOT_FOUND, f"the read is recorded, but found nothing: {exc}") from None
        return {
            "tx": tx.id.hex(),
            "height": height,
            "contract": args["contract"],
            "query": args["query"],
            "data": jsonable(data),
        }

    async def _wait_all(app: FastAPI, ids: list[bytes], timeout: float) -> list[Outcome | None]:
        waiters: CommitWaiters = app.state.waiters
        wait = waiters.wait(ids)
        try:
            # A block may have committed while admission ran: the store already knows those.
            open_ids = [tx_id for tx_id in ids if tx_id not in wait.outcomes]
            if open_ids:
                waiters.settle(wait, await run_in_threadpool(_committed, open_ids))
            await asyncio.wait((wait.done,), timeout=timeout)
        finally:
            waiters.forget(wait, ids)
        return [wait.outcomes.get(tx_id) for tx_id in ids]

    def _committed(ids: list[bytes]) -> dict[bytes, Outcome]:
        """Outcomes of the transactions among `ids` that are already committed (usually none)."""
        found: dict[bytes, Outcome] = {}
        for tx_id in node.store.known_txs(ids):
            stored = node.store.tx(tx_id)
            if stored is not None:
                found[tx_id] = (stored.height, TxResult.decode(stored.result).code, stored.message)
        return found

    # --- reads ----------------------------------------------------------------------

    @app.get("/v1/status", tags=["chain"])
    def status() -> dict[str, Any]:
        """Height, size and identity of the chain, and whether this node is healthy."""
        header = node.head.header
        return {
            "chain_id": node.genesis.chain_id,
            "suite": node.suite.name,
            "genesis_hash": node.genesis_hash.hex(),
            "height": header.height,
            "latest_hash": header.hash(node.suite).hex(),
            "latest_time": header.time,
            "tx_count": header.log_size,
            "final_height": node.final_height,  # the highest block a quorum of organisations signed
            "pending": node.pending(),
            "signers": len(node.signers(header.height + 1)),  # whose signatures count for the next block
            "node_key": node.key.keys.public.hex(),
            "healthy": node.error is None,
            "catching_up": not node.orderer.caught_up(),  # replaying an order others already made
            "error": None if node.error is None else type(node.error).__name__,
            "error_reason": _reason(node.error),  # machine-readable, where the failure names one
            "version": __version__,
        }

    @app.get("/v1/chain", tags=["chain"])
    def chain() -> dict[str, Any]:
        """The genesis document: pin `genesis_hash` to trust this chain's receipts."""
        return {
            "chain_id": node.genesis.chain_id,
            "suite": node.suite.name,
            "genesis_hash": node.genesis_hash.hex(),
            "genesis": node.genesis.encode().hex(),
            "signers": [k.hex() for k in node.genesis.signers],
            "params": node.genesis.params.to_value(),
            "params_in_force": node.params().to_value(),
            "contracts": node.registry.names(),
        }

    @app.get("/v1/orgs", tags=["chain"])
    def orgs() -> dict[str, Any]:
        """The consortium's organisations, as the genesis names them (empty on a development chain)."""
        items = []
        for org in node.current_orgs().values():
            ca = org.ca_certificate()
            items.append(
                {
                    "id": org.id,
                    "name_zh": org.name_zh,
                    "name_en": org.name_en,
                    "ca_fingerprint": ca.fingerprint(node.suite).hex(),
                    "ca_subject": ca.subject_cn,
                    "ca_not_after": ca.not_after,
                    "ca_pem": ca.to_pem().decode(),
                    "peers": [p.hex() for p in org.peers],
                }
            )
        return {"orgs": items}

    @app.get("/v1/members", tags=["chain"])
    def members(org: str | None = None) -> dict[str, Any]:
        """Enrolled members (optionally of one organisation): role, name, certificate, revoked or not."""
        found = node.query("membership", "members", {"org": org} if org else {})
        return {"members": jsonable(found)}

    @app.get("/v1/governance/proposals", tags=["governance"])
    def proposals() -> dict[str, Any]:
        """Every proposal: action, votes by organisation, threshold, status, height it takes effect."""
        now = int(time.time() * 1000)
        return {"proposals": jsonable(node.query("governance", "proposals", {"now": now}))}

    @app.get("/v1/governance/proposals/{proposal_id}", tags=["governance"])
    def proposal(proposal_id: str) -> dict[str, Any]:
        wanted = parse_hex(proposal_id, "proposal id", 32)
        now = int(time.time() * 1000)
        for item in node.query("governance", "proposals", {"now": now}):
            if item["id"] == wanted:
                found: dict[str, Any] = jsonable(item)
                return found
        raise ApiError(errors.NOT_FOUND, "no such proposal")

    @app.get("/v1/governance/params", tags=["governance"])
    def params() -> dict[str, Any]:
        """Chain parameters in force for the next block, and the genesis values."""
        return {"in_force": node.params().to_value(), "genesis": node.genesis.params.to_value()}

    @app.get("/v1/governance/read-policies", tags=["governance"])
    def read_policies() -> dict[str, Any]:
        """Every restricted query: who may read it in the next block, its contract's default, and
        governance's override (`from`, `value`, `previous`) if any. A regulator always reads."""
        governed = {
            (r["contract"], r["query"]): {k: r[k] for k in ("from", "value", "previous")}
            for r in node.query("governance", "read_policies", {})
        }
        found = read_policies_in_force(node.registry.read_policies, governed, node.height + 1)
        return {"read_policies": jsonable(found)}

    @app.get("/v1/blocks/full", tags=["chain"], response_class=Response)
    def full_blocks(
        first: int = Query(alias="from", description="the first height"),
        count: int = Query(catchup.BLOCKS_PER_REQUEST, description="at most this many blocks"),
    ) -> Response:
        """Consecutive blocks with their transactions and signatures, as a CBOR array, for peers that
        catch up (docs/protocol.md, "Block transfer"); empty if this peer has no block `from`."""
        if first < 1:
            raise ApiError(errors.BAD_REQUEST, "'from' must be a height of 1 or more")
        if not 1 <= count <= catchup.MAX_RANGE_BLOCKS:
            raise ApiError(errors.BAD_REQUEST, f"'count' must be 1..{catchup.MAX_RANGE_BLOCKS}")
        return Response(catchup.full_blocks(node, first, count), media_type=CBOR)

    @app.get("/v1/blocks/{ref}", tags=["chain"])
    def block(ref: str) -> dict[str, Any]:
        """A block by height, by hash (hex), or `latest`."""
        stored = _find_block(ref)
        header = Header.decode(stored.header)
        txs = node.store.txs_in_range(header.log_size - header.tx_count, header.log_size)
        return {
            "hash": stored.hash.hex(),
            "header": jsonable(header.to_value()),
            "header_cbor": stored.header.hex(),
            "signatures": jsonable(codec.decode(stored.signatures)),
            "txs": [
                {"id": t.id.hex(), "log_index": t.log_index, "code": TxResult.decode(t.result).code}
                for t in txs
            ],
        }

    @app.get("/v1/blocks/{height}/full", tags=["chain"], response_class=Response)
    def full_block(height: int) -> Response:
        """A block with its transactions and signatures, as CBOR, for peers that catch up
        (docs/protocol.md, "Block transfer")."""
        data = catchup.full_block(node, height)
        if data is None:
            raise ApiError(errors.UNKNOWN_BLOCK, f"no block {height}")
        return Response(data, media_type=CBOR)

    def _find_block(ref: str) -> Any:
        if ref == "latest":
            stored = node.store.latest_block()
        elif ref.isdigit():
            stored = node.store.block(int(ref))
        else:
            stored = node.store.block_by_hash(parse_hex(ref, "block hash", 32))
        if stored is None:
            raise ApiError(errors.UNKNOWN_BLOCK, f"no block {ref}")
        return stored

    @app.get("/v1/txs/{tx_id}", tags=["transactions"])
    def get_tx(tx_id: str) -> dict[str, Any]:
        """A committed transaction, decoded, with its result."""
        tid = parse_hex(tx_id, "transaction id", 32)
        stored = node.store.tx(tid)
        if stored is None:
            raise ApiError(errors.UNKNOWN_TX, "no committed transaction with this id")
        envelope = codec.decode(stored.envelope)
        result = TxResult.decode(stored.result, stored.message)
        return {
            "id": tx_id,
            "height": stored.height,
            "log_index": stored.log_index,
            "body": jsonable(codec.decode(envelope["body"])),
            "signature": envelope["sig"].hex(),
            "result": jsonable(result.to_value()) | {"message": result.message},
        }

    @app.get("/v1/txs/{tx_id}/receipt", tags=["proofs"])
    def tx_receipt(tx_id: str, digest: str | None = None) -> dict[str, Any]:
        """A self-contained receipt that `govchain verify` checks offline."""
        return build_receipt(
            node, parse_hex(tx_id, "transaction id", 32), parse_hex(digest, "digest", 32) if digest else None
        )

    @app.get("/v1/proofs/consistency", tags=["proofs"])
    def proof_consistency(old: int = Query(ge=0), new: int = Query(ge=0)) -> dict[str, Any]:
        """RFC 9162 consistency proof between two sizes of the chain's transaction log."""
        return consistency(node, old, new)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(notary_router(node))
    app.include_router(licence_router(node))
    app.include_router(portal_router(node))
    return app


def _single_tx(request: Request, body: bytes) -> bytes:
    if request.headers.get("content-type", "").startswith(CBOR):
        return body
    try:
        value = json.loads(body)
        return parse_hex(value["tx"], "tx")
    except (ValueError, KeyError, TypeError):
        raise ApiError(errors.MALFORMED, 'body must be CBOR, or JSON {"tx": "<hex>"}') from None


def _batch_txs(request: Request, body: bytes) -> list[bytes]:
    if request.headers.get("content-type", "").startswith(CBOR):
        try:
            value = codec.decode(body)
        except codec.CodecError as exc:
            raise ApiError(errors.MALFORMED, f"batch: {exc}") from None
        if type(value) is not list or any(type(v) is not bytes for v in value):
            raise ApiError(errors.MALFORMED, "batch must be a CBOR array of byte strings")
        raws: list[bytes] = value
    else:
        try:
            items = json.loads(body)["txs"]
            if not isinstance(items, list):
                raise TypeError
            raws = [parse_hex(item, "tx") for item in items]
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                errors.MALFORMED, 'body must be a CBOR array, or JSON {"txs": ["<hex>", ...]}'
            ) from None
    if not raws:
        raise ApiError(errors.MALFORMED, "batch is empty")
    if len(raws) > MAX_SUBMIT_BATCH:
        raise ApiError(errors.BATCH_TOO_LARGE, f"at most {MAX_SUBMIT_BATCH} transactions per batch")
    return raws


def _outcome_json(tx_id: bytes, outcome: Outcome | None) -> dict[str, Any]:
    if outcome is None:
        return {
            "id": tx_id.hex(),
            "status": "accepted",
            "committed": False,
            "message": "not committed in time",
        }
    height, code, message = outcome
    if height is None:
        return {"id": tx_id.hex(), "status": "rejected", "code": code, "message": message}
    reply: dict[str, Any] = {"id": tx_id.hex(), "status": "committed", "height": height, "code": code}
    if message:
        reply["message"] = message
    return reply
