"""Who signs block headers at a height: the genesis signers, then what governance decided.

Every organisation change that governance carries out (`add_org`, `remove_org`,
`add_peer`, `remove_peer`, `rotate_ca`) also records the signer set it makes:
the last decided set (at first the genesis `signers`) without the peer keys
the change removes and with those it adds, sorted, under
`governance/signers/<from height, 8 bytes big-endian>`; that height joins the
list `governance/signer_heights`. (On a network every org's peer signs from
the genesis, so the set stays "every org's peers"; a chain signed by one
embedded peer keeps it, plus the peers of organisations added later.) A change
that would leave no signer is refused, and none is recorded while the set
stays the genesis set. The set of block h is the record with the greatest
`from` <= h, or the genesis `signers` if there is none. A decision takes effect
at least one block after the block that carries it out, so the state after
block h-1 already holds every record that can apply to h, and later records
never apply to earlier heights: any committed state at or after h-1 answers
for h. The records are provable (in the state tree), so an offline verifier can
follow the changes from the genesis (docs/protocol.md, "Signer set changes").
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Protocol

from govchain import codec
from govchain.ledger.blocks import Genesis
from govchain.ledger.orgs import Org

SIGNERS_KEY = b"signers/"  # in the governance contract's namespace; provable
SIGNER_HEIGHTS_KEY = b"signer_heights"
FULL_SIGNERS_PREFIX = b"governance/" + SIGNERS_KEY


class RawState(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


def signers_key(from_height: int) -> bytes:
    """The record's key inside the governance namespace."""
    return SIGNERS_KEY + from_height.to_bytes(8, "big")


def signer_keys(orgs: Iterable[Org]) -> list[bytes]:
    """The signer set an organisation list makes: every peer key, sorted."""
    return sorted(peer for org in orgs for peer in org.peers)


def quorum(signers: int) -> int:
    """Signatures needed for finality: more than 2/3 of the signers."""
    return signers * 2 // 3 + 1


def change_heights(state: RawState) -> list[int]:
    """Every height from which a governed signer set applies, ascending."""
    raw = state.get(b"governance/" + SIGNER_HEIGHTS_KEY)
    if raw is None:
        return []
    heights: list[int] = codec.decode(raw)
    return heights


def signers_at(genesis: Genesis, state: RawState, height: int) -> tuple[bytes, ...]:
    """The signer set of block `height` (state: committed at or after block height-1)."""
    heights = change_heights(state)
    i = bisect.bisect_right(heights, height)
    if i == 0:
        return genesis.signers
    raw = state.get(b"governance/" + signers_key(heights[i - 1]))
    assert raw is not None, "a signer height without its record"
    keys: list[bytes] = codec.decode(raw)
    return tuple(keys)
