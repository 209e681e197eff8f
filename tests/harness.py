"""A chain in memory: blocks go straight through the state transition (no node, no store, no HTTP).

For tests that run many short histories: each needs only a dict of state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from govchain.ledger.state_transition import BlockOutcome, ChainContext, Parent, apply_block
from govchain.ledger.transactions import SignedTx


@dataclass
class MemoryState:
    """Committed state and transaction ids, in memory."""

    state: dict[bytes, bytes] = field(default_factory=dict)
    txs: set[bytes] = field(default_factory=set)

    def state_get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def known_txs(self, tx_ids: Iterable[bytes]) -> set[bytes]:
        return {tx_id for tx_id in tx_ids if tx_id in self.txs}

    def commit(self, outcome: BlockOutcome) -> None:
        for key, value in outcome.writes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        self.txs.update(tx.id for tx in outcome.txs)


def run_block(
    chain: ChainContext, parent: Parent, reader: MemoryState, txs: list[SignedTx], step_ms: int = 1000
) -> tuple[Parent, list[str]]:
    """Apply one block `step_ms` after its parent: the new parent, and each transaction's result code."""
    outcome = apply_block(chain, parent, parent.header.time + step_ms, txs, [True] * len(txs), reader)
    assert not outcome.dropped, outcome.dropped
    reader.commit(outcome)
    return Parent(outcome.header, outcome.log_frontier), [r.code for r in outcome.results]
