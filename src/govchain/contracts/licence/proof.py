"""Offline licence status: a state proof of the licence's record, read as a status.

The node serves `GET /v1/licences/{id}/proof`: the licence's on-chain record under
the state root of the latest final block (docs/protocol.md, "State proofs"). With
only that file and the chain's genesis hash, anyone can check, with no node, what
the licence's status was at that block, and (with the holder's bundle) that the
data they hold is that version's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govchain import codec
from govchain.contracts.licence.contract import record_key
from govchain.contracts.licence.model import check_licence_id, public_status
from govchain.verify.state import verify_state_proof


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    ok: bool  # the proof verifies, and (if asked) the licence is valid at the proof's block
    check: str = ""  # which check failed: wrong_chain, signature, proof, not_found, stale, bundle, status
    message: str = ""
    status: str | None = None
    height: int | None = None
    time_ms: int | None = None
    version: int | None = None


def check_status_proof(
    proof: dict[str, Any],
    licence: str,
    now_ms: int,
    trusted_genesis: bytes | None = None,
    max_age_ms: int | None = None,
    bundle: dict[str, Any] | None = None,
) -> StatusVerdict:
    """Verify a status proof for `licence`; ReceiptUnreadable if the file is malformed."""
    lid = check_licence_id(licence)
    verdict = verify_state_proof(proof, trusted_genesis)
    if not verdict.ok:
        return StatusVerdict(False, verdict.failure or "proof", verdict.message)
    facts = verdict.facts
    at = {"height": facts["height"], "time_ms": facts["time_ms"]}
    if facts["key"] != record_key(lid):
        return StatusVerdict(False, "proof", "the proof is for another key than this licence's record", **at)
    if facts["value"] is None:
        return StatusVerdict(False, "not_found", f"the chain holds no licence {lid}", **at)
    record = codec.decode(facts["value"])
    status = public_status(record, facts["time_ms"])
    found = {"status": status, "version": record["version"], **at}
    if max_age_ms is not None and now_ms - facts["time_ms"] > max_age_ms:
        age_h = (now_ms - facts["time_ms"]) / 3_600_000
        return StatusVerdict(False, "stale", f"the proof is {age_h:.1f} h old; fetch a fresh one", **found)
    if bundle is not None and bundle.get("data_digest") != record["data"].hex():
        return StatusVerdict(
            False,
            "bundle",
            "the bundle's data is not the licence's current version (changed since?)",
            **found,
        )
    if status != "valid":
        return StatusVerdict(
            False, "status", f"licence {lid} is {status} as of block {facts['height']}", **found
        )
    return StatusVerdict(True, "", f"licence {lid} is valid as of block {facts['height']}", **found)
