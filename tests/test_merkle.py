"""Tests for govchain.merkle against a plain transcription of RFC 9162 §2.1."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import given, settings
from hypothesis import strategies as st

from govchain.merkle import (
    DictNodeStore,
    MerkleLog,
    MissingNodeError,
    consistency_proof,
    consistency_proof_from_store,
    empty_root,
    hash_leaves,
    inclusion_proof,
    inclusion_proof_from_store,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_from_store,
    verify_consistency,
    verify_inclusion,
)

HashFn = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


HASHES = pytest.mark.parametrize("hash_fn", [sha256, sm3], ids=["sha256", "sm3"])
MAX_SIZE = 300


# --------------------------------------------------------------------------- the reference


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    """RFC 9162 §2.1 written plainly: recursion over D[lo:hi] of the raw entries.

    MTH is memoised on (lo, hi) only so that checking every prefix of a 300-leaf log stays fast.
    """

    def __init__(self, hash_fn: HashFn, entries: list[bytes]) -> None:
        self.h = hash_fn
        self.d = entries
        self.memo: dict[tuple[int, int], bytes] = {}

    def leaf_hashes(self) -> list[bytes]:
        return [self.h(b"\x00" + e) for e in self.d]

    def mth(self, lo: int, hi: int) -> bytes:
        if (lo, hi) in self.memo:
            return self.memo[(lo, hi)]
        n = hi - lo
        if n == 0:
            r = self.h(b"")
        elif n == 1:
            r = self.h(b"\x00" + self.d[lo])
        else:
            k = largest_power_of_two_below(n)
            r = self.h(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi))
        self.memo[(lo, hi)] = r
        return r

    def path(self, m: int, n: int) -> list[bytes]:
        """PATH(m, D[n])."""
        return self._path(m, 0, n)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = largest_power_of_two_below(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) for 0 < m < n."""
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


def path_len(m: int, n: int) -> int:
    """len(PATH(m, D[n])), from the shape of the recursion alone."""
    if n == 1:
        return 0
    k = largest_power_of_two_below(n)
    return 1 + (path_len(m, k) if m < k else path_len(m - k, n - k))


def proof_len(m: int, n: int) -> int:
    """len(PROOF(m, D[n])), 0 for the trivial cases."""

    def sub(m: int, n: int, b: bool) -> int:
        if m == n:
            return 0 if b else 1
        k = largest_power_of_two_below(n)
        return 1 + (sub(m, k, b) if m <= k else sub(m - k, n - k, False))

    return sub(m, n, True) if 0 < m < n else 0


def entries(salt: bytes, n: int) -> list[bytes]:
    """n distinct entries, so that no two leaves (and no two subtrees) share a hash."""
    return [salt + i.to_bytes(4, "big") for i in range(n)]


def flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


salts = st.binary(max_size=8)


# --------------------------------------------------------------------------- known values


def test_empty_root_known_values() -> None:
    assert empty_root(sha256).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaf_hashes(sha256, []) == empty_root(sha256)
    assert root_from_leaf_hashes(sm3, []).hex() == (
        "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
    )
    assert MerkleLog(sha256).root() == empty_root(sha256)
    assert root_from_store(sha256, DictNodeStore(), 0) == empty_root(sha256)


def test_three_leaves_by_hand() -> None:
    def h(b: bytes) -> bytes:
        return hashlib.sha256(b).digest()

    a, b, c = h(b"\x00a"), h(b"\x00b"), h(b"\x00c")
    ab = h(b"\x01" + a + b)
    root = h(b"\x01" + ab + c)  # 3 leaves split at k = 2: (a b) c
    assert leaf_hash(sha256, b"a") == a
    assert node_hash(sha256, a, b) == ab
    assert hash_leaves(sha256, [b"a", b"b", b"c"]) == [a, b, c]
    assert root_from_leaf_hashes(sha256, [a, b, c]) == root
    assert root_from_leaf_hashes(sha256, [a]) == a
    assert inclusion_proof(sha256, [a, b, c], 0) == [b, c]
    assert inclusion_proof(sha256, [a, b, c], 1) == [a, c]
    assert inclusion_proof(sha256, [a, b, c], 2) == [ab]
    assert consistency_proof(sha256, [a, b, c], 1, 3) == [b, c]
    assert consistency_proof(sha256, [a, b, c], 2, 3) == [c]  # old tree (a b) is perfect: not sent
    for i, leaf in enumerate([a, b, c]):
        assert verify_inclusion(sha256, leaf, i, 3, inclusion_proof(sha256, [a, b, c], i), root)
    assert verify_consistency(sha256, 1, 3, a, root, [b, c])
    assert verify_consistency(sha256, 2, 3, ab, root, [c])


def test_seven_leaves_shape_by_hand() -> None:
    h = sha256
    ls = [h(b"\x00" + bytes([i])) for i in range(7)]

    def n(x: bytes, y: bytes) -> bytes:
        return h(b"\x01" + x + y)

    # 7 = 4 + 3, 3 = 2 + 1: ((0 1)(2 3)) ((4 5) 6)
    left = n(n(ls[0], ls[1]), n(ls[2], ls[3]))
    right = n(n(ls[4], ls[5]), ls[6])
    assert root_from_leaf_hashes(h, ls) == n(left, right)
    assert inclusion_proof(h, ls, 6) == [n(ls[4], ls[5]), left]
    assert consistency_proof(h, ls, 6, 7) == [n(ls[4], ls[5]), ls[6], left]


# --------------------------------------------------------------------------- list-based vs reference


@HASHES
@given(salt=salts, n=st.integers(0, MAX_SIZE))
def test_root_matches_reference(hash_fn: HashFn, salt: bytes, n: int) -> None:
    ref = Reference(hash_fn, entries(salt, n))
    assert root_from_leaf_hashes(hash_fn, ref.leaf_hashes()) == ref.mth(0, n)


def test_root_every_small_size() -> None:
    for n in range(130):
        ref = Reference(sha256, entries(b"s", n))
        assert root_from_leaf_hashes(sha256, ref.leaf_hashes()) == ref.mth(0, n), n


def test_proofs_every_small_size() -> None:
    """Every index and every old size for trees up to 40 leaves."""
    for n in range(1, 41):
        ref = Reference(sha256, entries(b"p", n))
        leaves = ref.leaf_hashes()
        root = ref.mth(0, n)
        for i in range(n):
            proof = inclusion_proof(sha256, leaves, i)
            assert proof == ref.path(i, n), (i, n)
            assert verify_inclusion(sha256, leaves[i], i, n, proof, root)
        for m in range(0, n + 1):
            proof = consistency_proof(sha256, leaves, m, n)
            assert proof == (ref.proof(m, n) if 0 < m < n else [])
            assert verify_consistency(sha256, m, n, ref.mth(0, m), root, proof), (m, n)


@HASHES
@given(salt=salts, data=st.data())
def test_inclusion_matches_reference_and_rejects_tampering(
    hash_fn: HashFn, salt: bytes, data: st.DataObject
) -> None:
    n = data.draw(st.integers(1, MAX_SIZE), label="n")
    i = data.draw(st.integers(0, n - 1), label="index")
    ref = Reference(hash_fn, entries(salt, n))
    leaves = ref.leaf_hashes()
    root = ref.mth(0, n)
    proof = inclusion_proof(hash_fn, leaves, i)
    assert proof == ref.path(i, n)
    assert verify_inclusion(hash_fn, leaves[i], i, n, proof, root)

    def ok(
        leaf: bytes = leaves[i], index: int = i, size: int = n, p: list[bytes] = proof, r: bytes = root
    ) -> bool:
        return verify_inclusion(hash_fn, leaf, index, size, p, r)

    # wrong leaf: another leaf of the tree, and a leaf with one bit flipped
    if n > 1:
        assert not ok(leaf=leaves[(i + 1) % n])
    assert not ok(leaf=flip(leaves[i], data.draw(st.integers(0, 255), label="leaf bit")))
    # wrong index: every other index of the tree, and indices outside it
    for j in range(n):
        if j != i:
            assert not ok(index=j)
    for j in (-1, n, n + 1, 2**64):
        assert not ok(index=j)
    # a flipped bit in any element
    for k in range(len(proof)):
        bit = data.draw(st.integers(0, 255), label="proof bit")
        assert not ok(p=[*proof[:k], flip(proof[k], bit), *proof[k + 1 :]])
    # truncated, extended, wrong root
    for k in range(len(proof)):
        assert not ok(p=proof[:k])
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra")
    assert not ok(p=[*proof, extra])
    assert not ok(p=[extra, *proof])
    assert not ok(p=[*proof, root])
    assert not ok(r=flip(root, data.draw(st.integers(0, 255), label="root bit")))
    # wrong tree size: rejected whenever the size's path has another length. (A proof can
    # fit another size with the same path length, e.g. index 0 in sizes 3 and 4: the size
    # is bound to the root by the signed header, not by the proof.)
    for size in {*range(-1, min(n + 3, 2 * n + 2)), data.draw(st.integers(0, 2 * MAX_SIZE), label="size")}:
        if size != n and (not 0 <= i < size or path_len(i, size) != len(proof)):
            assert not ok(size=size), size


@HASHES
@given(salt=salts, data=st.data())
def test_consistency_matches_reference_and_rejects_tampering(
    hash_fn: HashFn, salt: bytes, data: st.DataObject
) -> None:
    n = data.draw(st.integers(2, MAX_SIZE), label="new size")
    m = data.draw(st.integers(1, n - 1), label="old size")
    ref = Reference(hash_fn, entries(salt, n))
    leaves = ref.leaf_hashes()
    old_root, new_root = ref.mth(0, m), ref.mth(0, n)
    proof = consistency_proof(hash_fn, leaves, m, n)
    assert proof == ref.proof(m, n)
    assert verify_consistency(hash_fn, m, n, old_root, new_root, proof)

    def ok(
        old: int = m, new: int = n, o: bytes = old_root, r: bytes = new_root, p: list[bytes] = proof
    ) -> bool:
        return verify_consistency(hash_fn, old, new, o, r, p)

    for k in range(len(proof)):
        bit = data.draw(st.integers(0, 255), label="proof bit")
        assert not ok(p=[*proof[:k], flip(proof[k], bit), *proof[k + 1 :]])
    for k in range(len(proof)):
        assert not ok(p=proof[:k])
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra")
    assert not ok(p=[*proof, extra])
    assert not ok(p=[extra, *proof])
    assert not ok(o=flip(old_root, data.draw(st.integers(0, 255), label="old root bit")))
    assert not ok(r=flip(new_root, data.draw(st.integers(0, 255), label="new root bit")))
    assert not ok(o=new_root, r=old_root)
    # a different old tree of the same size (another log) is not a prefix
    other = Reference(hash_fn, entries(salt + b"x", n))
    assert not ok(o=other.mth(0, m))
    assert not ok(r=other.mth(0, n))
    # wrong sizes: rejected whenever the sizes' proof has another length (as for inclusion,
    # a same-length proof can fit other sizes; headers bind sizes to roots).
    sizes = {(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1), (n, m), (0, n), (m, m), (n, n)}
    sizes.add((data.draw(st.integers(-1, 2 * MAX_SIZE)), data.draw(st.integers(-1, 2 * MAX_SIZE))))
    for old, new in sizes:
        if (old, new) != (m, n) and (not 0 <= old <= new or proof_len(old, new) != len(proof)):
            assert not ok(old=old, new=new), (old, new)


@HASHES
def test_trivial_consistency(hash_fn: HashFn) -> None:
    leaves = hash_leaves(hash_fn, entries(b"t", 5))
    r5 = root_from_leaf_hashes(hash_fn, leaves)
    r3 = root_from_leaf_hashes(hash_fn, leaves[:3])
    empty = empty_root(hash_fn)
    assert consistency_proof(hash_fn, leaves, 5, 5) == []
    assert consistency_proof(hash_fn, leaves, 0, 5) == []
    assert consistency_proof(hash_fn, leaves, 3, 3) == []
    assert verify_consistency(hash_fn, 5, 5, r5, r5, [])
    assert not verify_consistency(hash_fn, 5, 5, r5, r3, [])
    assert not verify_consistency(hash_fn, 5, 5, r5, r5, [r5])
    assert verify_consistency(hash_fn, 0, 5, empty, r5, [])
    assert verify_consistency(hash_fn, 0, 0, empty, empty, [])
    assert not verify_consistency(hash_fn, 0, 5, r3, r5, [])
    assert not verify_consistency(hash_fn, 0, 5, empty, r5, [r5])
    assert not verify_consistency(hash_fn, 3, 5, r3, r5, [])
    assert not verify_consistency(hash_fn, 5, 3, r5, r3, consistency_proof(hash_fn, leaves, 3, 5))


def test_bad_arguments_raise() -> None:
    leaves = hash_leaves(sha256, entries(b"a", 4))
    for i in (-1, 4):
        with pytest.raises(ValueError):
            inclusion_proof(sha256, leaves, i)
    with pytest.raises(ValueError):
        inclusion_proof(sha256, [], 0)
    for old, new in ((3, 2), (-1, 2), (1, 5)):
        with pytest.raises(ValueError):
            consistency_proof(sha256, leaves, old, new)


GARBAGE = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=3),
    st.binary(max_size=40),
    st.lists(st.one_of(st.none(), st.integers(), st.binary(max_size=40)), max_size=4),
)


@given(n=st.integers(2, 40), data=st.data())
def test_verifiers_never_raise(n: int, data: st.DataObject) -> None:
    """Valid arguments with one of them, or one proof element, replaced by garbage."""
    leaves = hash_leaves(sha256, entries(b"g", n))
    i = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(1, n - 1), label="old size")
    proof = inclusion_proof(sha256, leaves, i)
    cproof = consistency_proof(sha256, leaves, m, n)
    incl: list[object] = [leaves[i], i, n, proof, root_from_leaf_hashes(sha256, leaves)]
    cons: list[object] = [m, n, root_from_leaf_hashes(sha256, leaves[:m]), incl[4], cproof]
    for args, elements in ((incl, proof), (cons, cproof)):
        where = data.draw(st.integers(-1, len(args) - 1), label="replace")
        garbage = data.draw(GARBAGE, label="garbage")
        if where >= 0:
            args[where] = garbage
        elif elements:
            k = data.draw(st.integers(0, len(elements) - 1), label="element")
            elements[k] = garbage
    # Garbage may even be "valid" (e.g. an equal index); what matters is a bool, not an exception.
    assert isinstance(verify_inclusion(sha256, *incl), bool)  # type: ignore[arg-type]
    assert isinstance(verify_consistency(sha256, *cons), bool)  # type: ignore[arg-type]


def test_verifiers_reject_wrong_element_lengths() -> None:
    leaves = hash_leaves(sha256, entries(b"w", 6))
    root = root_from_leaf_hashes(sha256, leaves)
    proof = inclusion_proof(sha256, leaves, 2)
    assert verify_inclusion(sha256, leaves[2], 2, 6, proof, root)
    assert not verify_inclusion(sha256, leaves[2], 2, 6, [proof[0] + b"\x00", *proof[1:]], root)
    assert not verify_inclusion(sha256, leaves[2][:31], 2, 6, proof, root)
    cproof = consistency_proof(sha256, leaves, 3, 6)
    old = root_from_leaf_hashes(sha256, leaves[:3])
    assert verify_consistency(sha256, 3, 6, old, root, cproof)
    assert not verify_consistency(sha256, 3, 6, old, root, [cproof[0][:16], *cproof[1:]])
    mutable: list[object] = [bytearray(p) for p in cproof]
    assert not verify_consistency(sha256, 3, 6, old, root, mutable)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the log and its store


def perfect_nodes(ref: Reference, n: int) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree of a tree of n leaves, hashed by the reference."""
    out: dict[tuple[int, int], bytes] = {}
    level = 0
    while 1 << level <= n:
        for index in range(n >> level):
            out[(level, index)] = ref.mth(index << level, (index + 1) << level)
        level += 1
    return out


@HASHES
@settings(max_examples=60)
@given(
    salt=salts,
    chunks=st.lists(st.integers(0, 70), max_size=12),
    data=st.data(),
)
def test_log_in_chunks_matches_reference(
    hash_fn: HashFn, salt: bytes, chunks: list[int], data: st.DataObject
) -> None:
    total = sum(chunks)
    ref = Reference(hash_fn, entries(salt, total))
    leaves = ref.leaf_hashes()
    store = DictNodeStore()
    log = MerkleLog(hash_fn)
    done = 0
    for c in chunks:
        new_nodes = log.append_many(leaves[done : done + c])
        # every new node is new and is a perfect subtree completed by this chunk
        assert not set(store.nodes) & {(lv, ix) for lv, ix, _ in new_nodes}
        store.put_nodes(new_nodes)
        done += c
        assert log.size == done
        assert log.root() == ref.mth(0, done) == root_from_leaf_hashes(hash_fn, leaves[:done])
        assert len(log.frontier) == done.bit_count()
        assert store.nodes == perfect_nodes(ref, done)
        # a log rebuilt from the store (after a restart) is the same log
        again = MerkleLog.from_store(hash_fn, store, done)
        assert again.frontier == log.frontier and again.root() == log.root()
        assert MerkleLog(hash_fn, done, log.frontier).root() == log.root()

    for size in range(total + 1):
        assert root_from_store(hash_fn, store, size) == ref.mth(0, size)
        again = MerkleLog.from_store(hash_fn, store, size)
        assert again.root() == ref.mth(0, size)

    # a log rebuilt at an old size and appended to writes the same nodes
    if total:
        cut = data.draw(st.integers(0, total), label="rebuild at")
        replay = MerkleLog.from_store(hash_fn, store, cut)
        replayed = replay.append_many(leaves[cut:])
        assert {(lv, ix): h for lv, ix, h in replayed} == {
            k: v for k, v in store.nodes.items() if (k[1] + 1) << k[0] > cut
        }
        assert replay.frontier == log.frontier

    # store-based proofs for past sizes equal list-based ones and verify
    for _ in range(5):
        if total == 0:
            break
        size = data.draw(st.integers(1, total), label="tree size")
        index = data.draw(st.integers(0, size - 1), label="index")
        old = data.draw(st.integers(0, size), label="old size")
        root = ref.mth(0, size)
        proof = inclusion_proof_from_store(hash_fn, store, index, size)
        assert proof == inclusion_proof(hash_fn, leaves[:size], index) == ref.path(index, size)
        assert verify_inclusion(hash_fn, leaves[index], index, size, proof, root)
        cproof = consistency_proof_from_store(hash_fn, store, old, size)
        assert cproof == consistency_proof(hash_fn, leaves, old, size)
        assert verify_consistency(hash_fn, old, size, root_from_store(hash_fn, store, old), root, cproof)


def test_store_proofs_every_small_size() -> None:
    ref = Reference(sha256, entries(b"e", 40))
    leaves = ref.leaf_hashes()
    store = DictNodeStore()
    store.put_nodes(MerkleLog(sha256).append_many(leaves))
    for n in range(1, 41):
        for i in range(n):
            assert inclusion_proof_from_store(sha256, store, i, n) == ref.path(i, n)
        for m in range(n + 1):
            assert consistency_proof_from_store(sha256, store, m, n) == (ref.proof(m, n) if 0 < m < n else [])


def test_append_costs_one_node_hash_per_leaf() -> None:
    calls = 0

    def counting(data: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return sha256(data)

    log = MerkleLog(counting)
    leaves = hash_leaves(sha256, entries(b"c", 10_007))
    written = 0
    for lo in range(0, len(leaves), 999):
        written += len(log.append_many(leaves[lo : lo + 999]))
    n = len(leaves)
    # one hash per completed perfect subtree above the leaves, nothing else
    assert calls == n - n.bit_count()
    assert written == n + n - n.bit_count()
    calls = 0
    assert log.root() == root_from_leaf_hashes(sha256, leaves)
    assert calls == n.bit_count() - 1


def test_store_proofs_from_a_large_log_read_few_nodes() -> None:
    class CountingStore(DictNodeStore):
        reads = 0

        def get_nodes(self, keys: object) -> dict[tuple[int, int], bytes]:
            self.reads += len(keys)  # type: ignore[arg-type]
            return super().get_nodes(keys)  # type: ignore[arg-type]

    store = CountingStore()
    log = MerkleLog(sha256)
    leaves = hash_leaves(sha256, entries(b"L", 5000))
    store.put_nodes(log.append_many(leaves))
    for index, size, old in ((0, 5000, 1), (4999, 5000, 4097), (1234, 3333, 2047)):
        store.reads = 0
        proof = inclusion_proof_from_store(sha256, store, index, size)
        cproof = consistency_proof_from_store(sha256, store, old, size)
        assert store.reads <= 4 * 13
        root = root_from_leaf_hashes(sha256, leaves[:size])
        assert verify_inclusion(sha256, leaves[index], index, size, proof, root)
        assert verify_consistency(
            sha256, old, size, root_from_leaf_hashes(sha256, leaves[:old]), root, cproof
        )


def test_log_argument_checks() -> None:
    h = sha256(b"x")
    with pytest.raises(ValueError):
        MerkleLog(sha256, 3, [h])  # size 3 = 2 + 1 needs two frontier hashes
    with pytest.raises(ValueError):
        MerkleLog(sha256, -1, [])
    assert MerkleLog(sha256, 3, [h, h]).size == 3
    assert MerkleLog.frontier_keys(13) == [(3, 0), (2, 2), (0, 12)]
    assert MerkleLog(sha256).append_many([]) == []
    store = DictNodeStore()
    log = MerkleLog(sha256)
    store.put_nodes(log.append(h))
    store.put_nodes(log.append(h))
    assert store.get_node(1, 0) == node_hash(sha256, h, h) == log.root()
    assert store.get_node(1, 1) is None
    with pytest.raises(MissingNodeError):
        MerkleLog.from_store(sha256, store, 3)
    with pytest.raises(MissingNodeError):
        root_from_store(sha256, store, 4)
    with pytest.raises(MissingNodeError):
        consistency_proof_from_store(sha256, store, 1, 3)
    with pytest.raises(ValueError):
        inclusion_proof_from_store(sha256, store, 2, 2)
    with pytest.raises(ValueError):
        consistency_proof_from_store(sha256, store, 2, 1)
    with pytest.raises(ValueError):
        root_from_store(sha256, store, -1)
