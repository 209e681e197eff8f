"""Versioned key-value state, seen through overlays while a block executes.

Layers, innermost first: a transaction's writes, then the block's writes, then
the committed store. A failed transaction drops its layer, so it leaves no
partial state; the block's layer is committed to storage in one database
transaction (store/sqlite.py), and every committed version is kept.

State commitment (docs/protocol.md, "State root"): each block's write set,
sorted by key, is hashed into an RFC 9162 tree whose leaves are
`encode([key, value or null])`; the state root chains these:
`state_root = H(0x02 || previous state_root || write_set_root)`, and stays the
same for a block that writes nothing. Two peers agree on the state root exactly
when they agree on every write ever made, in order. Keys that contracts declare
provable are also kept in a sparse Merkle tree (smt.py), whose root is bound
into the state root, so one current value can be proven on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from govchain import codec, merkle, smt

STATE_ROOT_PREFIX = b"\x02"
PROVABLE_STATE_ROOT_PREFIX = b"\x03"
MAX_KEY = 512


class StateReader(Protocol):
    """Committed state, as the store provides it."""

    def state_get(self, key: bytes) -> bytes | None: ...


class StateScanner(StateReader, Protocol):
    def state_scan(self, prefix: bytes, limit: int, reverse: bool = False) -> list[tuple[bytes, bytes]]: ...


class BlockState:
    """The writes of one block on top of committed state."""

    def __init__(self, reader: StateReader) -> None:
        self._reader = reader
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self._reader.state_get(key)

    def begin(self) -> TxState:
        return TxState(self)


class TxState:
    """One transaction's writes; `commit` merges them into the block, or they are dropped."""

    def __init__(self, block: BlockState) -> None:
        self._block = block
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self._block.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if len(key) > MAX_KEY:
            raise ValueError(f"state key longer than {MAX_KEY} bytes")
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = None

    def commit(self) -> None:
        self._block.writes.update(self.writes)


class ContractState:
    """A contract's own namespace: it can neither read nor write another contract's keys."""

    def __init__(self, tx_state: TxState, contract: str) -> None:
        self._tx = tx_state
        self._prefix = contract.encode() + b"/"

    def get(self, key: bytes) -> Any:
        raw = self._tx.get(self._prefix + key)
        return None if raw is None else codec.decode_stored(raw)

    def put(self, key: bytes, value: Any) -> None:
        self._tx.put(self._prefix + key, codec.encode(value))

    def delete(self, key: bytes) -> None:
        self._tx.delete(self._prefix + key)

    def exists(self, key: bytes) -> bool:
        return self._tx.get(self._prefix + key) is not None


class ReadView:
    """Read-only committed state of one contract, for queries (never inside a block)."""

    def __init__(self, reader: StateScanner, contract: str) -> None:
        self._reader = reader
        self._prefix = contract.encode() + b"/"

    def get(self, key: bytes) -> Any:
        raw = self._reader.state_get(self._prefix + key)
        return None if raw is None else codec.decode_stored(raw)

    def scan(self, prefix: bytes, limit: int = 100, reverse: bool = False) -> Iterator[tuple[bytes, Any]]:
        cut = len(self._prefix)
        for key, raw in self._reader.state_scan(self._prefix + prefix, limit, reverse):
            yield key[cut:], codec.decode_stored(raw)


def write_set_root(hash_fn: Callable[[bytes], bytes], writes: dict[bytes, bytes | None]) -> bytes:
    leaves = [merkle.leaf_hash(hash_fn, codec.encode_unchecked([key, writes[key]])) for key in sorted(writes)]
    return merkle.root_from_leaf_hashes(hash_fn, leaves)


def state_root_from_parts(
    hash_fn: Callable[[bytes], bytes], previous: bytes, write_set: bytes, provable_root: bytes
) -> bytes:
    """`H(0x02 || previous || write set root)`, or `H(0x03 || previous || write set root ||
    provable root)` once the chain has provable state (docs/protocol.md, "Provable state")."""
    if provable_root == smt.EMPTY:
        return hash_fn(STATE_ROOT_PREFIX + previous + write_set)
    return hash_fn(PROVABLE_STATE_ROOT_PREFIX + previous + write_set + provable_root)


SMT_NODES = b"\x00smt/"  # reserved: no contract name starts with a zero byte


class ProvableNodes:
    """The sparse Merkle tree's nodes, kept as ordinary state under a reserved prefix, so they
    commit with the block and every overlay (transaction, block, pipeline) sees them."""

    def __init__(self, state: BlockState) -> None:
        self._state = state

    def get(self, position: bytes) -> bytes | None:
        return self._state.get(SMT_NODES + position)

    def put(self, position: bytes, node: bytes | None) -> None:
        self._state.writes[SMT_NODES + position] = node
