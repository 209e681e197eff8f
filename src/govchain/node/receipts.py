"""Building receipts (存证凭证) and other proofs from the store.

A receipt is one JSON file holding everything needed to check, offline, that a
transaction (and optionally one document it anchored) is in the chain; its
layout is in docs/protocol.md, "Receipts", and `govchain.verify.receipt`
checks it. Binary fields are lowercase hex.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from govchain import codec, merkle
from govchain.ledger import errors
from govchain.ledger.blocks import Header, HeaderSignature, count_valid_signatures
from govchain.ledger.results import TxResult
from govchain.ledger.signers import quorum
from govchain.node.committed import prove_key
from govchain.node.node import Node
from govchain.node.signer_changes import ChangeUnavailable, changes_up_to
from govchain.store.sqlite import StoredBlock
from govchain.verify.receipt import RECEIPT_FORMAT, RECEIPT_VERSION
from govchain.verify.state import STATE_PROOF_FORMAT, STATE_PROOF_VERSION

MAX_EMBEDDED_ENVELOPE = 64 * 1024


class ProofUnavailable(LookupError):
    """The thing asked for is not on this chain (yet)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def iso_time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")


def build_receipt(node: Node, tx_id: bytes, digest: bytes | None = None) -> dict[str, Any]:
    stored = node.store.tx(tx_id)
    if stored is None:
        raise ProofUnavailable("unknown_tx", "no committed transaction with this id")
    block = node.store.block(stored.height)
    assert block is not None
    header = Header.decode(block.header)
    h = node.suite.hash
    path = merkle.inclusion_proof_from_store(h, node.store, stored.log_index, header.log_size)
    envelope = codec.decode(stored.envelope)
    body = codec.decode(envelope["body"])
    result = TxResult.decode(stored.result)

    document: dict[str, Any] | None = None
    contract = node.registry.get(body["contract"])
    if contract is not None and contract.receipt_proof is not None and result.ok:
        try:
            document = contract.receipt_proof(node.suite, body, digest)
        except LookupError as exc:
            raise ProofUnavailable("not_found", str(exc)) from None
    elif digest is not None:
        raise ProofUnavailable("not_found", "this transaction anchored no document")

    receipt: dict[str, Any] = {
        "format": RECEIPT_FORMAT,
        "version": RECEIPT_VERSION,
        "suite": node.suite.name,
        "chain": _chain(node),
        "block": _final_block(node, block, header),
        "tx": {
            "id": tx_id.hex(),
            "envelope": stored.envelope.hex() if len(stored.envelope) <= MAX_EMBEDDED_ENVELOPE else None,
        },
        "result": stored.result.hex(),
        "log_proof": {"index": stored.log_index, "size": header.log_size, "path": [x.hex() for x in path]},
        "summary": {
            "contract": body["contract"],
            "method": body["method"],
            "sender": body["from"].hex(),
            "height": header.height,
            "time": iso_time(header.time),
            "meta": _printable(body["args"].get("meta")),
        },
    }
    if document is not None:
        receipt["document"] = document
    return receipt


def _chain(node: Node) -> dict[str, Any]:
    return {
        "id": node.genesis.chain_id,
        "genesis_hash": node.genesis_hash.hex(),
        "genesis": node.genesis.encode().hex(),
    }


def _final_block(node: Node, block: StoredBlock, header: Header) -> dict[str, Any]:
    """The block part of an offline proof; only a final block's signatures verify offline."""
    signatures = codec.decode(block.signatures)
    signers = node.signers(header.height)
    needed = quorum(len(signers))
    valid = count_valid_signatures(
        node.suite, block.header, [HeaderSignature.from_value(s) for s in signatures], signers
    )
    if valid < needed:  # a proof must verify offline, so it waits for the block's finality
        raise ProofUnavailable(
            errors.NOT_FINAL, f"block {header.height} has {valid} of the {needed} signatures it needs; retry"
        )
    out: dict[str, Any] = {
        "height": header.height,
        "hash": block.hash.hex(),
        "header": block.header.hex(),
        "signatures": [{"key": s["key"].hex(), "sig": s["sig"].hex()} for s in signatures],
    }
    if signers != node.genesis.signers:  # absent while the genesis signers sign: the format stays as it was
        try:
            out["signer_changes"] = changes_up_to(node, header.height)
        except ChangeUnavailable as exc:
            raise ProofUnavailable(exc.code, str(exc)) from None
    return out


def build_state_proof(node: Node, key: bytes) -> dict[str, Any]:
    """An offline proof of one provable key's current value (or absence), at the latest block.

    Layout and checks: docs/protocol.md, "State proofs"; `govchain.verify.state` verifies it.
    """
    prefixes = node.registry.provable_prefixes
    if not prefixes or not key.startswith(prefixes):
        raise ProofUnavailable("not_provable", "this key is not kept in the provable state tree")
    with node.store.snapshot():  # the block, the parts, the value and the tree: one committed state
        block = node.store.latest_block()
        assert block is not None
        header = Header.decode(block.header)
        proved = prove_key(node.store, node.suite, header.height, key)
        if proved is None:
            raise ProofUnavailable(errors.NOT_FOUND, "nothing provable has been written on this chain yet")
        state, value, proof = proved
        final = _final_block(node, block, header)
    return {
        "format": STATE_PROOF_FORMAT,
        "version": STATE_PROOF_VERSION,
        "suite": node.suite.name,
        "chain": _chain(node),
        "block": final,
        "state": state,
        "key": key.hex(),
        "value": None if value is None else value.hex(),
        "proof": proof,
    }


def _printable(value: Any) -> Any:
    """Metadata for people to read (not verified): bytes become hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    return value


def consistency(node: Node, old_size: int, new_size: int) -> dict[str, Any]:
    if not 0 <= old_size <= new_size <= node.head.header.log_size:
        raise ProofUnavailable(
            "bad_request", f"sizes must satisfy 0 <= old <= new <= {node.head.header.log_size}"
        )
    h = node.suite.hash
    proof = merkle.consistency_proof_from_store(h, node.store, old_size, new_size)
    return {
        "old_size": old_size,
        "new_size": new_size,
        "old_root": merkle.root_from_store(h, node.store, old_size).hex(),
        "new_root": merkle.root_from_store(h, node.store, new_size).hex(),
        "proof": [x.hex() for x in proof],
    }
