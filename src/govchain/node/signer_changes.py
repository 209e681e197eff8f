"""Proofs of signer set changes, for receipts of blocks signed by a governed set.

A receipt's verifier knows only the genesis. To trust a block signed by a set
that governance made, it follows each change from the genesis: the block that
recorded the change, signed by a quorum of the set before it, and a state proof
that this block's state holds the record `governance/signers/<from>` with the
new set (docs/protocol.md, "Signer set changes"). The state tree keeps only
its latest nodes, so the state proof is taken when that block commits, before
the next one does, and kept in `<data>/signer-changes/<from>.json`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govchain import codec
from govchain.ledger import errors
from govchain.ledger.signers import FULL_SIGNERS_PREFIX, change_heights, quorum
from govchain.node.committed import CommittedState, prove_key

if TYPE_CHECKING:
    from govchain.node.node import CommitEvent, Node

CHANGES_DIR = "signer-changes"
log = logging.getLogger("govchain.signers")


def _folder(node: Node) -> Path:
    return node.files.data_dir / CHANGES_DIR


def record_key(from_height: int) -> bytes:
    return FULL_SIGNERS_PREFIX + from_height.to_bytes(8, "big")


def capture(node: Node, event: CommitEvent) -> None:
    """After each commit: prove every signer record this block wrote. A failure here costs only
    receipts after that change on this peer (`signer_change_unproven`), never block production."""
    try:
        _capture(node, event)
    except Exception:
        log.exception("could not keep the proof of a signer set change at height %d", event.height)


def _capture(node: Node, event: CommitEvent) -> None:
    store = node.store
    for from_height in change_heights(CommittedState(store)):
        if from_height <= event.height:
            continue
        key = record_key(from_height)
        if store.state_height(key) != event.height:  # not (re)written by this block
            continue
        found = store.state_parts_at(event.height)
        assert found is not None and found[0] == event.height, "a provable write without state parts"
        proved = prove_key(store, node.suite, event.height, key)
        assert proved is not None
        state, value, proof = proved
        assert value is not None
        item = {
            "from": from_height,
            "height": event.height,
            "signers": [k.hex() for k in codec.decode(value)],
            "state": state,
            "proof": proof,
        }
        folder = _folder(node)
        folder.mkdir(exist_ok=True)
        tmp = folder / f"{from_height}.tmp"
        tmp.write_text(json.dumps(item, indent=1) + "\n")
        tmp.replace(folder / f"{from_height}.json")


class ChangeUnavailable(LookupError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def changes_up_to(node: Node, height: int) -> list[dict[str, Any]]:
    """Every signer set change in force at `height`, oldest first, as a receipt carries them."""
    out = []
    for from_height in change_heights(CommittedState(node.store)):
        if from_height > height:
            break
        path = _folder(node) / f"{from_height}.json"
        if not path.is_file():
            raise ChangeUnavailable(
                "signer_change_unproven",
                f"no proof of the signer set change at height {from_height} on this peer; ask another peer",
            )
        item = json.loads(path.read_text())
        block = node.store.block(item.pop("height"))
        assert block is not None
        signers = set(node.signers(block.height))
        signatures = [s for s in codec.decode(block.signatures) if s["key"] in signers]
        if len(signatures) < quorum(len(signers)):
            raise ChangeUnavailable(
                errors.NOT_FINAL, f"block {block.height} (a signer set change) is not final yet; retry"
            )
        item["block"] = {
            "header": block.header.hex(),
            "signatures": [{"key": s["key"].hex(), "sig": s["sig"].hex()} for s in signatures],
        }
        out.append(item)
    return out
