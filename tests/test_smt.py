"""The sparse Merkle tree against a from-scratch reference, and its proofs, under random histories."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from govchain import smt


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class DictStore:
    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get(self, position: bytes) -> bytes | None:
        return self.nodes.get(position)

    def put(self, position: bytes, node: bytes | None) -> None:
        if node is None:
            self.nodes.pop(position, None)
        else:
            self.nodes[position] = node


def reference_root(leaves: dict[bytes, bytes], depth: int = 0) -> bytes:
    """The canonical shape, computed from the whole leaf set."""
    if not leaves:
        return smt.EMPTY
    if len(leaves) == 1:
        ((k, v),) = leaves.items()
        return smt.leaf_hash(h, k, v)
    left = {k: v for k, v in leaves.items() if smt.bit(k, depth) == 0}
    right = {k: v for k, v in leaves.items() if smt.bit(k, depth) == 1}
    return smt.node_hash(h, reference_root(left, depth + 1), reference_root(right, depth + 1))


def reference_nodes(leaves: dict[bytes, bytes]) -> int:
    """How many positions the canonical shape occupies (so nothing stale is left behind)."""

    def count(part: dict[bytes, bytes], depth: int) -> int:
        if len(part) <= 1:
            return len(part)
        left = {k: v for k, v in part.items() if smt.bit(k, depth) == 0}
        return 1 + count(left, depth + 1) + count({k: v for k, v in part.items() if k not in left}, depth + 1)

    return count(leaves, 0)


# Few distinct keys, some sharing long prefixes, so splits run deep and leaves move up and down.
key_hashes = st.one_of(
    st.sampled_from([bytes([b]) + bytes(31) for b in (0, 1, 2, 128, 255)]),
    st.sampled_from([bytes(31) + bytes([b]) for b in (0, 1, 3)]),
    st.binary(min_size=32, max_size=32),
)
changes = st.dictionaries(key_hashes, st.none() | st.binary(min_size=32, max_size=32), max_size=8)


@settings(max_examples=300, deadline=None)
@given(history=st.lists(changes, min_size=1, max_size=8), probes=st.lists(key_hashes, max_size=4))
def test_random_histories_match_the_reference_and_prove(
    history: list[dict[bytes, Any]], probes: list[bytes]
) -> None:
    store = DictStore()
    model: dict[bytes, bytes] = {}
    for batch in history:
        root = smt.update(h, store, batch)
        for k, v in batch.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert root == reference_root(model) == smt.root(h, store)
        assert len(store.nodes) == reference_nodes(model)
    for key in [*model, *probes]:
        value, proof = smt.prove(h, store, key)
        assert value == model.get(key)
        assert smt.verify(h, root, key, value, proof)
        # The same proof cannot claim another value, nor absence of a present key.
        assert not smt.verify(h, root, key, b"\x01" * 32, proof)
        if value is not None:
            assert not smt.verify(h, root, key, None, proof)
            if proof.siblings:
                bent = smt.Proof((b"\x02" * 32, *proof.siblings[1:]), proof.other_leaf)
                assert not smt.verify(h, root, key, value, bent)


def test_empty_tree_and_single_leaf() -> None:
    store = DictStore()
    key = h(b"licence/l/BL-org2-00000001-7")
    assert smt.update(h, store, {}) == smt.EMPTY
    value, proof = smt.prove(h, store, key)
    assert value is None and smt.verify(h, smt.EMPTY, key, None, proof)
    root = smt.update(h, store, {key: h(b"v1")})
    assert root == smt.leaf_hash(h, key, h(b"v1"))
    assert smt.update(h, store, {key: None}) == smt.EMPTY and store.nodes == {}
