"""Merkle trees as in RFC 9162 (Certificate Transparency v2), section 2.1.

Every block commits to its transactions and results with a Merkle Tree Hash (MTH), and
the chain keeps an append-only log of all transactions so that any client can ask for an
inclusion proof (this transaction is in the log) or a consistency proof (the log at size
m is a prefix of the log at size n). Using the RFC's exact tree shape and proof encodings
means any CT verifier, in any language, can check our proofs.

The hash is pluggable (`suite.hash`: SHA-256 or SM3), so every function takes `hash_fn`:
- leaf hash  = H(0x00 || data)
- node hash  = H(0x01 || left || right)
- empty tree = H(b"")
A tree of n > 1 leaves splits at k, the largest power of two strictly less than n.

Two families of functions:
- list based (`root_from_leaf_hashes`, `inclusion_proof`, `consistency_proof`) for a block's
  leaves held in memory;
- store based (`MerkleLog`, `*_from_store`) for a log of millions of leaves whose nodes live
  in a database. The store holds the hash of every *perfect* subtree: node (level, index)
  covers leaves [index * 2**level, (index + 1) * 2**level). Every subtree that the RFC
  recursion visits is either perfect or a right-edge suffix made of perfect subtrees, so
  roots and proofs for any past size need only O(log n) stored nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Protocol

__all__ = [
    "DictNodeStore",
    "HashFn",
    "MerkleLog",
    "MissingNodeError",
    "NodeKey",
    "NodeStore",
    "consistency_proof",
    "consistency_proof_from_store",
    "empty_root",
    "hash_leaves",
    "inclusion_proof",
    "inclusion_proof_from_store",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "root_from_store",
    "verify_consistency",
    "verify_inclusion",
]

HashFn = Callable[[bytes], bytes]
"""A 32-byte hash function, e.g. `suite.hash`."""

NodeKey = tuple[int, int]
"""(level, index) of a perfect subtree covering leaves [index * 2**level, (index + 1) * 2**level)."""

_LEAF = b"\x00"
_NODE = b"\x01"


# --------------------------------------------------------------------------- hashing


def leaf_hash(hash_fn: HashFn, data: bytes) -> bytes:
    """H(0x00 || data): the prefix keeps a leaf from ever passing as an inner node."""
    return hash_fn(_LEAF + data)


def node_hash(hash_fn: HashFn, left: bytes, right: bytes) -> bytes:
    """H(0x01 || left || right): the hash of an inner node."""
    return hash_fn(_NODE + left + right)


def empty_root(hash_fn: HashFn) -> bytes:
    """H(b""): the root of the tree with no leaves."""
    return hash_fn(b"")


def hash_leaves(hash_fn: HashFn, items: Iterable[bytes]) -> list[bytes]:
    """Leaf hashes of many items at once (a block's transactions), with little overhead."""
    return [hash_fn(_LEAF + d) for d in items]


def _split(n: int) -> int:
    """The RFC split point for n >= 2 leaves: the largest power of two strictly below n."""
    return 1 << ((n - 1).bit_length() - 1)


def _reduce_levels(hash_fn: HashFn, nodes: Sequence[bytes]) -> bytes:
    """The MTH of a non-empty run of leaf hashes, one level at a time.

    Pairing neighbours left to right and carrying an odd last node up unchanged builds
    exactly the RFC tree (its left subtrees are perfect, so the odd node is always the
    right edge), without recursion and with the hashing done in a list comprehension.
    """
    level = list(nodes)
    while len(level) > 1:
        carry = level[-1] if len(level) & 1 else None
        level = [hash_fn(_NODE + a + b) for a, b in zip(level[0::2], level[1::2], strict=False)]
        if carry is not None:
            level.append(carry)
    return level[0]


def root_from_leaf_hashes(hash_fn: HashFn, leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the n leaf hashes: n - 1 node hashes, no recursion (the per-block hot path)."""
    if not leaf_hashes:
        return hash_fn(b"")
    return _reduce_levels(hash_fn, leaf_hashes)


# --------------------------------------------------------------------------- proof shapes
#
# Both proofs are lists of MTHs of subtrees D[lo:hi]. These functions walk the RFC
# recursion once and return the (lo, hi) ranges in proof order; the list-based and the
# store-based functions then differ only in how they hash a range.


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose MTHs make up PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf first."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((lo + k, hi))
            hi = lo + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The subtrees whose MTHs make up PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1)."""
    ranges: list[tuple[int, int]] = []
    if old_size <= 0 or old_size >= new_size:
        return ranges
    lo, hi = 0, new_size
    whole = True  # the RFC's flag b: are we still on the old tree's own root?
    while True:
        if old_size == hi:  # SUBPROOF(m, D[m], b)
            if not whole:
                ranges.append((lo, hi))
            break
        k = _split(hi - lo)
        if old_size <= lo + k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((lo, lo + k))
            lo += k
            whole = False
    ranges.reverse()
    return ranges


def _check_sizes(old_size: int, new_size: int, available: int) -> None:
    if not 0 <= old_size <= new_size <= available:
        raise ValueError(f"need 0 <= old_size <= new_size <= {available}, got {old_size}, {new_size}")


# --------------------------------------------------------------------------- list-based proofs


def inclusion_proof(hash_fn: HashFn, leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) for the tree of all `leaf_hashes`, ordered from the leaf up to the root."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for tree size {size}")
    return [_reduce_levels(hash_fn, leaf_hashes[lo:hi]) for lo, hi in _inclusion_ranges(index, size)]


def consistency_proof(
    hash_fn: HashFn, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
) -> list[bytes]:
    """PROOF(old_size, D[new_size]) over the first `new_size` leaf hashes.

    Empty when old_size is 0 or equal to new_size: both cases need no proof.
    """
    _check_sizes(old_size, new_size, len(leaf_hashes))
    return [_reduce_levels(hash_fn, leaf_hashes[lo:hi]) for lo, hi in _consistency_ranges(old_size, new_size)]


# --------------------------------------------------------------------------- verification


def _well_formed(size: int, *hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == size for h in hashes)


def verify_inclusion(
    hash_fn: HashFn, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: is `leaf_hash` the leaf at `index` of the tree of `tree_size` with `root`?

    Returns False, never raises, for any malformed input, since proofs come from the network.
    The tree size is only as trustworthy as the root it is paired with (a signed header).
    """
    try:
        if not (isinstance(index, int) and isinstance(tree_size, int) and 0 <= index < tree_size):
            return False
        if not isinstance(root, bytes) or not _well_formed(len(root), leaf_hash, *proof):
            return False
        fn, sn = index, tree_size - 1
        r = leaf_hash
        for p in proof:
            if sn == 0:
                return False  # proof longer than the path
            if fn & 1 or fn == sn:
                r = hash_fn(_NODE + p + r)
                if not fn & 1:  # a right-edge node with no right sibling at these levels
                    while fn and not fn & 1:
                        fn >>= 1
                        sn >>= 1
            else:
                r = hash_fn(_NODE + r + p)
            fn >>= 1
            sn >>= 1
        return sn == 0 and r == root
    except (TypeError, ValueError):
        return False


def verify_consistency(
    hash_fn: HashFn, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (old_size, old_root) a prefix of (new_size, new_root)?

    Also accepts the trivial cases the RFC leaves out: equal sizes (empty proof, equal roots)
    and old_size 0 (empty proof, old_root is the empty root). Never raises.
    """
    try:
        if not (isinstance(old_size, int) and isinstance(new_size, int) and 0 <= old_size <= new_size):
            return False
        if not isinstance(new_root, bytes) or not _well_formed(len(new_root), old_root, *proof):
            return False
        if old_size == new_size:
            return len(proof) == 0 and old_root == new_root
        if old_size == 0:
            return len(proof) == 0 and old_root == hash_fn(b"")
        if len(proof) == 0:
            return False
        path = list(proof)
        if old_size & (old_size - 1) == 0:  # old tree is perfect: its root is the first node
            path.insert(0, old_root)
        fn, sn = old_size - 1, new_size - 1
        while fn & 1:
            fn >>= 1
            sn >>= 1
        fr = sr = path[0]
        for c in path[1:]:
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                fr = hash_fn(_NODE + c + fr)
                sr = hash_fn(_NODE + c + sr)
                if not fn & 1:
                    while fn and not fn & 1:
                        fn >>= 1
                        sn >>= 1
            else:
                sr = hash_fn(_NODE + sr + c)
            fn >>= 1
            sn >>= 1
        return fr == old_root and sr == new_root and sn == 0
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- node store


class NodeStore(Protocol):
    """Read access to stored perfect-subtree hashes (a SQLite table in production)."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The hashes of the given (level, index) nodes; absent nodes are simply left out."""
        ...


class MissingNodeError(KeyError):
    """A node the computation needs is not in the store (size beyond the log, or a lost write)."""


class DictNodeStore:
    """An in-memory `NodeStore`, for tests and tools."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}

    def get_node(self, level: int, index: int) -> bytes | None:
        """One node, or None."""
        return self.nodes.get((level, index))

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Many nodes in one call, as a database would read them in one query."""
        nodes = self.nodes
        return {k: nodes[k] for k in keys if k in nodes}

    def put_nodes(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        """Persist what `MerkleLog.append_many` returned."""
        for level, index, value in nodes:
            self.nodes[(level, index)] = value


def _perfect_pieces(lo: int, hi: int) -> list[NodeKey]:
    """Split an RFC subtree D[lo:hi] into its perfect subtrees, largest (leftmost) first.

    RFC subtrees are either perfect or right-edge suffixes whose start is aligned to a power
    of two at least their size; the binary digits of the size then give the pieces.
    """
    pieces: list[NodeKey] = []
    size = hi - lo
    pos = lo
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            pieces.append((level, pos >> level))
            pos += 1 << level
    return pieces


def _fold(hash_fn: HashFn, pieces: Sequence[bytes]) -> bytes:
    """The MTH of consecutive perfect subtrees, largest first: the RFC nests them to the right."""
    r = pieces[-1]
    for p in reversed(pieces[:-1]):
        r = hash_fn(_NODE + p + r)
    return r


def _hash_ranges(hash_fn: HashFn, store: NodeStore, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The MTHs of RFC subtrees, reading every perfect piece from the store in one call."""
    split = [_perfect_pieces(lo, hi) for lo, hi in ranges]
    keys = list(dict.fromkeys(k for pieces in split for k in pieces))
    found = store.get_nodes(keys)
    missing = [k for k in keys if k not in found]
    if missing:
        raise MissingNodeError(f"Merkle node store lacks {len(missing)} node(s), e.g. {missing[0]}")
    return [_fold(hash_fn, [found[k] for k in pieces]) for pieces in split]


def root_from_store(hash_fn: HashFn, store: NodeStore, tree_size: int) -> bytes:
    """The root of the log at any past `tree_size` (to check an old header), from O(log n) nodes."""
    if tree_size < 0:
        raise ValueError(f"negative tree size {tree_size}")
    if tree_size == 0:
        return hash_fn(b"")
    return _hash_ranges(hash_fn, store, [(0, tree_size)])[0]


def inclusion_proof_from_store(hash_fn: HashFn, store: NodeStore, index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]) from stored perfect subtrees; equals `inclusion_proof`."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} out of range for tree size {tree_size}")
    return _hash_ranges(hash_fn, store, _inclusion_ranges(index, tree_size))


def consistency_proof_from_store(
    hash_fn: HashFn, store: NodeStore, old_size: int, new_size: int
) -> list[bytes]:
    """PROOF(old_size, D[new_size]) from stored perfect subtrees; equals `consistency_proof`."""
    _check_sizes(old_size, new_size, new_size)
    return _hash_ranges(hash_fn, store, _consistency_ranges(old_size, new_size))


# --------------------------------------------------------------------------- append-only log


def _levels_desc(size: int) -> list[int]:
    """The levels of the perfect subtrees on the right edge of a tree of `size`: its set bits."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


class MerkleLog:
    """An append-only Merkle log that holds only its frontier and hands new nodes to the caller.

    The frontier (a "compact range") is the list of perfect-subtree roots along the right
    edge, largest first: one per set bit of `size`, so at most log2(n) hashes. It is enough
    to append and to compute the current root. The log never writes storage itself:
    `append_many` returns the new nodes so the caller can write them inside its own
    database transaction, together with the block that caused them.
    """

    __slots__ = ("_frontier", "_hash_fn", "_size")

    def __init__(self, hash_fn: HashFn, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"negative log size {size}")
        if len(frontier) != size.bit_count():
            raise ValueError(
                f"a log of size {size} has {size.bit_count()} frontier hashes, got {len(frontier)}"
            )
        self._hash_fn = hash_fn
        self._size = size
        self._frontier = list(frontier)

    @staticmethod
    def frontier_keys(size: int) -> list[NodeKey]:
        """The (level, index) store keys of the frontier of a log of `size`, largest first."""
        return _perfect_pieces(0, size)

    @classmethod
    def from_store(cls, hash_fn: HashFn, store: NodeStore, size: int) -> MerkleLog:
        """Rebuild the log at `size` from its stored nodes (e.g. on restart) with one read."""
        keys = cls.frontier_keys(size)
        found = store.get_nodes(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            raise MissingNodeError(f"Merkle node store lacks frontier node(s) {missing}")
        return cls(hash_fn, size, [found[k] for k in keys])

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> list[bytes]:
        """A copy of the right-edge perfect-subtree roots, largest first (see `frontier_keys`)."""
        return list(self._frontier)

    def root(self) -> bytes:
        """MTH of the whole log, from the frontier alone (about log2(n) hashes)."""
        if not self._frontier:
            return self._hash_fn(b"")
        return _fold(self._hash_fn, self._frontier)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; see `append_many`."""
        return self.append_many([leaf_hash])

    def append_many(self, leaf_hashes: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
        """Append leaf hashes; return the new (level, index, hash) nodes for the caller to persist.

        Works a level at a time: the new nodes of a level are a contiguous run, preceded by
        the old frontier node of that level when the run starts on a right child. Pairing
        the run gives the next level's new nodes. This costs one node hash per leaf
        amortized (exactly the number of newly completed perfect subtrees) and keeps the
        Python overhead to a list comprehension per level.
        """
        cur = list(leaf_hashes)
        if not cur:
            return []
        hash_fn = self._hash_fn
        old_size = self._size
        new_size = old_size + len(cur)
        old = dict(zip(_levels_desc(old_size), self._frontier, strict=True))
        last: dict[int, bytes] = {}  # level -> hash of node (new_size >> level) - 1
        out: list[tuple[int, int, bytes]] = []
        level = 0
        start = old_size  # index of cur[0] at this level
        while cur:
            out.extend(zip(repeat(level), range(start, start + len(cur)), cur))
            if start & 1:  # cur[0] is a right child: its left sibling is the old frontier node
                cur = [old[level], *cur]
                start -= 1
            last[level] = cur[-1]
            cur = [hash_fn(_NODE + a + b) for a, b in zip(cur[0::2], cur[1::2], strict=False)]
            start >>= 1
            level += 1
        # Levels never reached above are unchanged, so their frontier node is the old one.
        self._frontier = [last[lv] if lv in last else old[lv] for lv in _levels_desc(new_size)]
        self._size = new_size
        return out
