"""A sparse Merkle tree over 256-bit key hashes: proofs of one current value, or of its absence.

The chain's state root chains write sets (state.py), which commits to all of
state but cannot prove one value on its own. Keys that must be provable offline
(a licence's record, for its status) are also kept in this tree, whose root
enters the state root (docs/protocol.md, "Provable state").

Shape (canonical, so the root depends only on the set of leaves):
- a subtree with no leaves is EMPTY (32 zero bytes);
- a subtree with exactly one leaf is that leaf, at the top of the subtree:
  `leaf = H(0x10 || key_hash || value_hash)`;
- any other subtree is `H(0x11 || left || right)`, its children split by the
  key hash's next bit (most significant bit first).

Nodes are kept in a `NodeStore` by position (depth, and the key-hash prefix
of that depth), so an update touches only the path to each changed key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

HashFn = Callable[[bytes], bytes]

EMPTY = bytes(32)
LEAF_PREFIX = b"\x10"
NODE_PREFIX = b"\x11"
KEY_BITS = 256
_LEAF, _NODE = b"L", b"N"


class NodeStore(Protocol):
    def get(self, position: bytes) -> bytes | None: ...

    def put(self, position: bytes, node: bytes | None) -> None:
        """Store a node at a position, or remove it (None)."""


def leaf_hash(h: HashFn, key_hash: bytes, value_hash: bytes) -> bytes:
    return h(LEAF_PREFIX + key_hash + value_hash)


def node_hash(h: HashFn, left: bytes, right: bytes) -> bytes:
    return h(NODE_PREFIX + left + right)


def bit(key_hash: bytes, depth: int) -> int:
    return (key_hash[depth // 8] >> (7 - depth % 8)) & 1


def position(key_hash: bytes, depth: int) -> bytes:
    """The storage name of the subtree at `depth` on the path to `key_hash`."""
    prefix = bytearray(key_hash[: (depth + 7) // 8])
    if depth % 8:
        prefix[-1] &= 0xFF << (8 - depth % 8) & 0xFF
    return depth.to_bytes(2, "big") + bytes(prefix)


@dataclass(frozen=True, slots=True)
class _Subtree:
    """What a position holds: nothing, one leaf, or an inner node; with its hash."""

    hash: bytes
    leaf: tuple[bytes, bytes] | None = None  # (key hash, value hash) if the subtree is one leaf


_NOTHING = _Subtree(EMPTY)


def _load(store: NodeStore, pos: bytes) -> tuple[bytes, bytes, bytes] | None:
    raw = store.get(pos)
    if raw is None:
        return None
    return raw[:1], raw[1:33], raw[33:65]


def root(h: HashFn, store: NodeStore) -> bytes:
    found = _load(store, position(EMPTY, 0))
    if found is None:
        return EMPTY
    kind, a, b = found
    return leaf_hash(h, a, b) if kind == _LEAF else node_hash(h, a, b)


def update(h: HashFn, store: NodeStore, changes: Mapping[bytes, bytes | None]) -> bytes:
    """Set key hashes to value hashes (None removes the key); returns the new root."""
    if changes:
        items = sorted(changes.items())
        _update(h, store, 0, items[0][0], items)
    return root(h, store)


def _update(
    h: HashFn, store: NodeStore, depth: int, path: bytes, changes: list[tuple[bytes, bytes | None]]
) -> _Subtree:
    """Apply sorted changes (all under the subtree at `depth` on `path`); store and return it."""
    pos = position(path, depth)
    found = _load(store, pos)
    if found is None or found[0] == _LEAF:
        leaves = {found[1]: found[2]} if found is not None else {}
        for key_hash, value_hash in changes:
            if value_hash is None:
                leaves.pop(key_hash, None)
            else:
                leaves[key_hash] = value_hash
        return _build(h, store, depth, path, sorted(leaves.items()))
    split = next((i for i, (k, _) in enumerate(changes) if bit(k, depth)), len(changes))
    left, right = changes[:split], changes[split:]
    sides = []
    for side, part in ((0, left), (1, right)):
        child_path = part[0][0] if part else _child_path(path, depth, side)
        if part:
            sides.append(_update(h, store, depth + 1, child_path, part))
        else:
            sides.append(_read(h, store, depth + 1, child_path))
    return _join(h, store, depth, path, sides[0], sides[1])


def _child_path(path: bytes, depth: int, side: int) -> bytes:
    """Any key hash under the child `side` of the subtree at `depth` on `path`."""
    data = bytearray(path)
    mask = 0x80 >> (depth % 8)
    data[depth // 8] = data[depth // 8] | mask if side else data[depth // 8] & ~mask
    return bytes(data)


def _read(h: HashFn, store: NodeStore, depth: int, path: bytes) -> _Subtree:
    found = _load(store, position(path, depth))
    if found is None:
        return _NOTHING
    kind, a, b = found
    if kind == _LEAF:
        return _Subtree(leaf_hash(h, a, b), (a, b))
    return _Subtree(node_hash(h, a, b))


def _build(
    h: HashFn, store: NodeStore, depth: int, path: bytes, leaves: list[tuple[bytes, bytes]]
) -> _Subtree:
    """Store a subtree holding exactly `leaves` (sorted), replacing whatever was there."""
    pos = position(path, depth)
    if not leaves:
        store.put(pos, None)
        return _NOTHING
    if len(leaves) == 1:
        key_hash, value_hash = leaves[0]
        store.put(pos, _LEAF + key_hash + value_hash)
        return _Subtree(leaf_hash(h, key_hash, value_hash), leaves[0])
    split = next((i for i, (k, _) in enumerate(leaves) if bit(k, depth)), len(leaves))
    left = _build(h, store, depth + 1, _child_path(path, depth, 0), leaves[:split])
    right = _build(h, store, depth + 1, _child_path(path, depth, 1), leaves[split:])
    return _join(h, store, depth, path, left, right)


def _join(h: HashFn, store: NodeStore, depth: int, path: bytes, left: _Subtree, right: _Subtree) -> _Subtree:
    """The subtree over two children: empty, a lone leaf lifted up, or an inner node."""
    pos = position(path, depth)
    for lone, other, side in ((left, right, 0), (right, left, 1)):
        if other.hash == EMPTY and (lone.hash == EMPTY or lone.leaf is not None):
            store.put(position(_child_path(path, depth, side), depth + 1), None)
            if lone.leaf is None:
                store.put(pos, None)
                return _NOTHING
            store.put(pos, _LEAF + lone.leaf[0] + lone.leaf[1])
            return lone
    store.put(pos, _NODE + left.hash + right.hash)
    return _Subtree(node_hash(h, left.hash, right.hash))


# --- proofs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proof:
    """The siblings on the path to a key hash, top down, and what the path ends in:
    the key's own leaf (membership), another key's leaf, or nothing (both: absence)."""

    siblings: tuple[bytes, ...]
    other_leaf: tuple[bytes, bytes] | None = None  # (key hash, value hash) of the leaf found instead


def prove(h: HashFn, store: NodeStore, key_hash: bytes) -> tuple[bytes | None, Proof]:
    """The key's value hash (None if absent) and the proof of it under the current root."""
    siblings: list[bytes] = []
    for depth in range(KEY_BITS + 1):
        found = _load(store, position(key_hash, depth))
        if found is None:
            return None, Proof(tuple(siblings))
        kind, a, b = found
        if kind == _LEAF:
            if a == key_hash:
                return b, Proof(tuple(siblings))
            return None, Proof(tuple(siblings), (a, b))
        other_side = 1 - bit(key_hash, depth)
        siblings.append(_read(h, store, depth + 1, _child_path(key_hash, depth, other_side)).hash)
    raise ValueError("the tree is deeper than a key hash")


def verify(h: HashFn, root_hash: bytes, key_hash: bytes, value_hash: bytes | None, proof: Proof) -> bool:
    """Whether `proof` shows `key_hash` holding `value_hash` (or, with None, holding nothing)."""
    depth = len(proof.siblings)
    if depth > KEY_BITS or len(key_hash) != 32:
        return False
    if value_hash is not None:
        if proof.other_leaf is not None:
            return False
        current = leaf_hash(h, key_hash, value_hash)
    elif proof.other_leaf is not None:
        other_key, other_value = proof.other_leaf
        if other_key == key_hash or any(bit(other_key, d) != bit(key_hash, d) for d in range(depth)):
            return False
        current = leaf_hash(h, other_key, other_value)
    else:
        current = EMPTY
    for d in reversed(range(depth)):
        sibling = proof.siblings[d]
        current = node_hash(h, current, sibling) if bit(key_hash, d) == 0 else node_hash(h, sibling, current)
    return current == root_hash
