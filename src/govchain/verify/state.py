"""Offline verification of a state proof: one key's current value (or absence), under a signed header.

Like receipts, it needs nothing but `crypto`, `codec`, `merkle`'s sibling `smt` and
the chain's genesis; docs/protocol.md, "State proofs", lists the same steps.

Checks, in order, each with its failure class:
1. readable JSON of a known format and suite                         -> `unreadable`
2. the genesis hashes to the stated chain (and is the trusted one),
   the header names that chain                                       -> `wrong_chain`
3. a quorum of the chain's signers signed the header                  -> `signature`
4. the state parts make the header's state root, and the sparse
   Merkle proof puts the value (or nothing) at the key under them     -> `proof`
"""

from __future__ import annotations

import json
from typing import Any

from govchain import smt
from govchain.verify.receipt import (
    PROOF,
    PROVABLE_STATE_ROOT_PREFIX,
    CheckFailed,
    ReceiptUnreadable,
    Verdict,
    _cbor_map,
    _hex,
    check_block,
    format_suite,
)

STATE_PROOF_FORMAT = "govchain-state-proof"
STATE_PROOF_VERSION = 1
HEADER_FIELDS = {"height": int, "time": int, "state_root": bytes}


def load_state_proof(text: str | bytes) -> dict[str, Any]:
    try:
        proof = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiptUnreadable(f"not JSON: {exc}") from None
    if type(proof) is not dict or proof.get("format") != STATE_PROOF_FORMAT:
        raise ReceiptUnreadable(f"not a {STATE_PROOF_FORMAT}")
    return proof


def verify_state_proof(proof: dict[str, Any], trusted_genesis: bytes | None = None) -> Verdict:
    """Check a parsed state proof. Raises ReceiptUnreadable for malformed input.

    On success, `facts` holds the key, the value (bytes, or None if the key is absent),
    and the block's height and time: the value is the key's value as of that block.
    """
    suite = format_suite(proof, STATE_PROOF_FORMAT, STATE_PROOF_VERSION, "state proof")
    try:
        chain, block, state, tree = proof["chain"], proof["block"], proof["state"], proof["proof"]
        genesis_bytes = _hex(chain["genesis"], "chain.genesis")
        genesis_hash = _hex(chain["genesis_hash"], "chain.genesis_hash", 32)
        header_bytes = _hex(block["header"], "block.header")
        signatures = [
            (_hex(s["key"], "signature key", 65), _hex(s["sig"], "signature", 64))
            for s in block["signatures"]
        ]
        previous = _hex(state["previous"], "state.previous", 32)
        write_set = _hex(state["write_set"], "state.write_set", 32)
        root = _hex(state["provable_root"], "state.provable_root", 32)
        key = _hex(proof["key"], "key")
        value = None if proof["value"] is None else _hex(proof["value"], "value")
        siblings = tuple(_hex(x, "proof.siblings", 32) for x in tree["siblings"])
        other = tree["other_leaf"]
        other_leaf = (
            None if other is None else (_hex(other[0], "other_leaf", 32), _hex(other[1], "other_leaf", 32))
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise ReceiptUnreadable(f"missing or malformed field: {exc}") from None
    genesis = _cbor_map(genesis_bytes, "chain.genesis", 1)
    header = _cbor_map(header_bytes, "block.header", 1)
    h = suite.hash
    try:
        good = check_block(
            suite,
            genesis_bytes,
            genesis,
            genesis_hash,
            header_bytes,
            header,
            signatures,
            trusted_genesis,
            HEADER_FIELDS,
            block.get("signer_changes"),
        )
        if h(PROVABLE_STATE_ROOT_PREFIX + previous + write_set + root) != header["state_root"]:
            raise CheckFailed(PROOF, "the state parts do not make the signed header's state root")
        value_hash = None if value is None else h(value)
        if not smt.verify(h, root, h(key), value_hash, smt.Proof(siblings, other_leaf)):
            raise CheckFailed(PROOF, "the Merkle proof does not put this value at this key")
    except CheckFailed as exc:
        return Verdict(False, exc.failure, exc.message)
    facts = {
        "chain_id": genesis.get("chain"),
        "height": header["height"],
        "time_ms": header["time"],
        "signers": len(good),
        "key": key,
        "value": value,
    }
    return Verdict(True, None, "valid", facts)
