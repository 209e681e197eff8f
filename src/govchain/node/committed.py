"""Committed state as the ledger's readers see it, and proofs over it.

Several node parts read committed state through the small `get(key)` interface
the ledger uses (governance decisions, signer sets, the state tree's nodes);
one adapter serves them all. `prove_key` builds the parts of an offline state
proof (docs/protocol.md, "State proofs") from one committed state: call it
inside `store.snapshot()` or from a commit listener, before the next block
commits, so the parts, the value and the tree agree.
"""

from __future__ import annotations

from typing import Any

from govchain import codec, smt
from govchain.crypto import Suite
from govchain.state import SMT_NODES
from govchain.store.sqlite import Store


class CommittedState:
    """Committed state under `prefix`, read by key; writing is refused (proofs and rules only read)."""

    def __init__(self, store: Store, prefix: bytes = b"") -> None:
        self._store = store
        self._prefix = prefix

    def get(self, key: bytes) -> bytes | None:
        return self._store.state_get(self._prefix + key)

    def put(self, key: bytes, value: bytes | None) -> None:
        raise RuntimeError("committed state is read only here")


def prove_key(
    store: Store, suite: Suite, height: int, key: bytes
) -> tuple[dict[str, str], bytes | None, dict[str, Any]] | None:
    """The state parts in force at `height` (hex), `key`'s committed value, and its proof in the
    committed tree (hex); None if nothing provable was written up to `height`."""
    found = store.state_parts_at(height)
    if found is None:
        return None
    previous, write_set, root = codec.decode(found[1])
    value = store.state_get(key)
    _, proof = smt.prove(suite.hash, CommittedState(store, SMT_NODES), suite.hash(key))
    parts = {"previous": previous.hex(), "write_set": write_set.hex(), "provable_root": root.hex()}
    siblings = {
        "siblings": [s.hex() for s in proof.siblings],
        "other_leaf": None if proof.other_leaf is None else [x.hex() for x in proof.other_leaf],
    }
    return parts, value, siblings
