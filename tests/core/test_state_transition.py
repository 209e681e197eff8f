"""The state transition (ledger.state_transition.apply_block) with an in-memory chain reader."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govchain import codec, merkle
from govchain.contracts.notary.contract import CONTRACT as NOTARY
from govchain.crypto import KeyPair, Suite, get_suite
from govchain.ledger import errors
from govchain.ledger.blocks import ZERO_HASH, ChainParams, Genesis, Header, genesis_header
from govchain.ledger.contracts import Context, Contract, Registry
from govchain.ledger.errors import ContractError
from govchain.ledger.results import TxResult, log_leaf
from govchain.ledger.state_transition import BlockOutcome, ChainContext, Parent, apply_block
from govchain.ledger.transactions import SignedTx, TxBody, sign_tx
from tests.harness import MemoryState

CHAIN = "st-chain"
T0 = 1_700_000_000_000
TTL = 3_600_000
EXPIRY = T0 + TTL // 2


# --------------------------------------------------------------------------- a tiny test contract


def _key(args: dict[str, Any]) -> bytes:
    return str(args.get("key", "c")).encode()


def inc(ctx: Context, args: dict[str, Any]) -> int:
    key = _key(args)
    value = (ctx.state.get(key) or 0) + 1
    ctx.state.put(key, value)
    ctx.emit("inc", key=key, value=value)
    return value


def boom(ctx: Context, args: dict[str, Any]) -> None:
    ctx.state.put(_key(args), 999)
    ctx.state.put(b"boom", 1)
    ctx.emit("never")
    raise ContractError(errors.CONFLICT, "boom")


def crash(ctx: Context, args: dict[str, Any]) -> None:
    ctx.state.put(_key(args), 999)
    ctx.state.put(b"crash", 1)
    raise ValueError("crash")


def bad_return(ctx: Context, args: dict[str, Any]) -> float:
    ctx.state.put(b"bad_return", 1)
    return 1.5


def remove(ctx: Context, args: dict[str, Any]) -> None:
    ctx.state.delete(_key(args))


def info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "height": ctx.height,
        "time": ctx.time,
        "tx": ctx.tx_id,
        "from": ctx.sender,
        "chain": ctx.chain_id,
    }


def emit_float(ctx: Context, args: dict[str, Any]) -> int:
    ctx.state.put(b"emit_float", 1)
    ctx.emit("e", value=1.5)
    return 1


def fail_float(ctx: Context, args: dict[str, Any]) -> None:
    ctx.state.put(b"fail_float", 1)
    raise ContractError(errors.CONFLICT, 1.5)  # type: ignore[arg-type]


def attr_crash(ctx: Context, args: dict[str, Any]) -> None:
    ctx.state.put(b"attr_crash", 1)
    raise AttributeError("a contract bug")


COUNTER = Contract(
    "counter",
    {
        "inc": inc,
        "boom": boom,
        "crash": crash,
        "bad_return": bad_return,
        "remove": remove,
        "info": info,
        "emit_float": emit_float,
        "fail_float": fail_float,
        "attr_crash": attr_crash,
    },
)


# --------------------------------------------------------------------------- fixtures


@dataclass
class Env:
    suite: Suite
    kp: KeyPair
    chain: ChainContext
    genesis_parent: Parent
    nonces: itertools.count = field(default_factory=itertools.count)

    def tx(
        self,
        method: str,
        key: str = "c",
        *,
        contract: str = "counter",
        args: dict[str, Any] | None = None,
        expiry: int = EXPIRY,
        chain: str = CHAIN,
    ) -> SignedTx:
        nonce = next(self.nonces).to_bytes(16, "big")
        body = TxBody(
            chain, self.kp.public, contract, method, {"key": key} if args is None else args, nonce, expiry
        )
        return sign_tx(self.suite, self.kp.private, body)

    def apply(
        self,
        txs: list[SignedTx],
        reader: MemoryState | None = None,
        parent: Parent | None = None,
        time: int = T0 + 1000,
        sig_ok: list[bool] | None = None,
    ) -> BlockOutcome:
        return apply_block(
            self.chain,
            parent or self.genesis_parent,
            time,
            txs,
            [True] * len(txs) if sig_ok is None else sig_ok,
            reader if reader is not None else MemoryState(),
        )


_ENVS: dict[str, Env] = {}


def make_env(name: str = "intl") -> Env:
    if name not in _ENVS:
        suite = get_suite(name)
        kp = suite.generate_keypair()
        genesis = Genesis(CHAIN, suite.name, T0, (kp.public,), ChainParams(max_tx_ttl_ms=TTL))
        chain = ChainContext(suite, genesis, Registry([NOTARY, COUNTER]))
        header0 = genesis_header(suite, genesis, merkle.empty_root(suite.hash))
        _ENVS[name] = Env(suite, kp, chain, Parent(header0, ()))
    return _ENVS[name]


@pytest.fixture
def env() -> Env:
    return make_env("intl")


@pytest.fixture(params=["intl", "gm"])
def any_env(request: pytest.FixtureRequest) -> Env:
    return make_env(request.param)


def ckey(key: str | bytes) -> bytes:
    return b"counter/" + (key.encode() if isinstance(key, str) else key)


def expected_state_root(suite: Suite, previous: bytes, writes: dict[bytes, bytes | None]) -> bytes:
    """docs: H(0x02 || previous || MTH(sorted leaves encode([key, value])))."""
    if not writes:
        return previous
    h = suite.hash
    leaves = [merkle.leaf_hash(h, codec.encode([k, writes[k]])) for k in sorted(writes)]
    return h(b"\x02" + previous + merkle.root_from_leaf_hashes(h, leaves))


# --------------------------------------------------------------------------- failed transactions


def test_failed_txs_leave_no_writes(env: Env) -> None:
    with_failures = [
        env.tx("inc", "a"),
        env.tx("boom", "a"),
        env.tx("crash", "b"),
        env.tx("bad_return", "a"),
        env.tx("inc", "b"),
    ]
    clean = [with_failures[0], with_failures[4]]
    a = env.apply(with_failures)
    b = env.apply(clean)

    assert [r.code for r in a.results] == [
        errors.OK,
        errors.CONFLICT,
        errors.CONTRACT_ERROR,
        errors.CONTRACT_ERROR,
        errors.OK,
    ]
    assert a.results[1].message == "boom"
    assert a.results[1].events == [] and a.results[1].data is None
    assert a.writes == b.writes == {ckey("a"): codec.encode(1), ckey("b"): codec.encode(1)}
    for key in (b"boom", b"crash", b"bad_return"):
        assert ckey(key) not in a.writes
    assert a.header.state_root == b.header.state_root
    assert a.header.state_root == expected_state_root(env.suite, ZERO_HASH, b.writes)
    # Failed transactions are still included (they have a result), unlike dropped ones.
    assert a.header.tx_count == 5 and a.header.log_size == 5 and a.dropped == []
    assert [r.data for r in a.results if r.ok] == [1, 1]


def test_only_failures_keep_state_root(env: Env) -> None:
    out = env.apply([env.tx("boom"), env.tx("crash"), env.tx("bad_return")])
    assert out.writes == {}
    assert out.header.state_root == env.genesis_parent.header.state_root
    assert out.header.tx_count == 3


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("emit_float", errors.CONTRACT_ERROR),
        ("attr_crash", errors.CONTRACT_ERROR),
        ("fail_float", errors.CONFLICT),
    ],
)
def test_contract_bugs_fail_only_their_tx(env: Env, method: str, code: str) -> None:
    """A contract bug fails its own transaction (dropping its writes) and never the block."""
    good = env.tx("inc", "z")
    out = env.apply([env.tx(method), good])
    assert out.results[0].code == code
    assert out.results[1].ok
    assert out.writes == {ckey("z"): codec.encode(1)}


def test_later_txs_see_earlier_writes_of_the_block(env: Env) -> None:
    reader = MemoryState(state={ckey("a"): codec.encode(10)})
    out = env.apply([env.tx("inc", "a"), env.tx("boom", "a"), env.tx("inc", "a"), env.tx("inc", "b")], reader)
    assert [r.data for r in out.results] == [11, None, 12, 1]
    assert out.writes == {ckey("a"): codec.encode(12), ckey("b"): codec.encode(1)}
    assert reader.state == {ckey("a"): codec.encode(10)}  # the transition itself never writes the reader


def test_delete_is_a_null_write(env: Env) -> None:
    reader = MemoryState(state={ckey("a"): codec.encode(3)})
    out = env.apply([env.tx("remove", "a")], reader)
    assert out.writes == {ckey("a"): None}
    assert out.header.state_root == expected_state_root(env.suite, ZERO_HASH, {ckey("a"): None})
    assert out.header.state_root != ZERO_HASH


def test_unknown_contract_and_method_fail_at_execution(env: Env) -> None:
    out = env.apply([env.tx("inc", contract="nope"), env.tx("nope")])
    assert [r.code for r in out.results] == [errors.UNKNOWN_CONTRACT, errors.UNKNOWN_METHOD]
    assert out.writes == {}
    assert out.header.tx_count == 2


def test_notary_anchor_in_transition(env: Env) -> None:
    digest = env.suite.hash(b"doc")
    good = env.tx("anchor", contract="notary", args={"digest": digest})
    bad = env.tx("anchor", contract="notary", args={"digest": b"short"})
    out = env.apply([good, bad], time=T0 + 1234)
    assert out.results[0].ok and out.results[1].code == errors.INVALID_ARGS
    # One entry, in the notary's namespace, under the digest, naming the transaction.
    ((key, value),) = out.writes.items()
    assert key.startswith(b"notary/d/" + digest) and key.endswith(good.id)
    assert value is not None
    entry = codec.decode(value)
    assert (entry["i"], entry["t"]) == (-1, T0 + 1234)


# --------------------------------------------------------------------------- dropped transactions


def test_dropped_txs(env: Env) -> None:
    committed = env.tx("inc", "r")
    reader = MemoryState(txs={committed.id})
    ok1 = env.tx("inc", "a")
    bad_sig = env.tx("inc", "b")
    expired = env.tx("inc", "c", expiry=T0 + 1000)  # == block time
    wrong_chain = env.tx("inc", "d", chain="other")
    too_far = env.tx("inc", "e", expiry=T0 + 1000 + TTL + 1)
    ok2 = env.tx("inc", "f", expiry=T0 + 1000 + TTL)
    txs = [ok1, bad_sig, committed, ok1, expired, wrong_chain, too_far, ok2]
    sig_ok = [True, False, True, True, True, True, True, True]
    out = env.apply(txs, reader, time=T0 + 1000, sig_ok=sig_ok)

    assert [tx.id for tx in out.txs] == [ok1.id, ok2.id]
    assert [(tx.id, code) for tx, code, _ in out.dropped] == [
        (bad_sig.id, errors.BAD_SIGNATURE),
        (committed.id, errors.REPLAYED),
        (ok1.id, errors.REPLAYED),
        (expired.id, errors.EXPIRED),
        (wrong_chain.id, errors.WRONG_CHAIN),
        (too_far.id, errors.EXPIRY_TOO_FAR),
    ]
    assert all(message for _, _, message in out.dropped)
    assert out.writes == {ckey("a"): codec.encode(1), ckey("f"): codec.encode(1)}
    assert out.header.tx_count == 2 and out.header.log_size == 2
    h = env.suite.hash
    assert out.header.tx_root == merkle.root_from_leaf_hashes(
        h, [merkle.leaf_hash(h, ok1.id), merkle.leaf_hash(h, ok2.id)]
    )


def test_bad_signature_copy_does_not_block_a_good_copy(env: Env) -> None:
    tx = env.tx("inc")
    out = env.apply([tx, tx], sig_ok=[False, True])
    assert [t.id for t in out.txs] == [tx.id]
    assert [code for _, code, _ in out.dropped] == [errors.BAD_SIGNATURE]


# --------------------------------------------------------------------------- time


def test_block_time_never_goes_backwards(env: Env) -> None:
    first = env.apply([env.tx("inc")], time=T0 + 5000)
    assert first.header.time == T0 + 5000
    parent = Parent(first.header, first.log_frontier)
    reader = MemoryState()
    reader.commit(first)
    # Valid at the batch's (earlier) time, expired at the parent's time, which the block must use.
    stale = env.tx("inc", "s", expiry=T0 + 3000)
    probe = env.tx("info")
    out = env.apply([stale, probe], reader, parent, time=T0 + 1000)
    assert out.header.time == T0 + 5000
    assert [code for _, code, _ in out.dropped] == [errors.EXPIRED]
    assert out.results[0].data["time"] == T0 + 5000
    assert out.results[0].data["height"] == 2
    # And forward time is taken as given.
    later = env.apply([], reader, parent, time=T0 + 9000)
    assert later.header.time == T0 + 9000


def test_context_fields(env: Env) -> None:
    tx = env.tx("info")
    out = env.apply([tx], time=T0 + 777)
    assert out.results[0].data == {
        "height": 1,
        "time": T0 + 777,
        "tx": tx.id,
        "from": env.kp.public,
        "chain": CHAIN,
    }


# --------------------------------------------------------------------------- header fields


def _check_header(env: Env, parent: Parent, out: BlockOutcome, leaves_before: list[bytes]) -> list[bytes]:
    suite, h = env.suite, env.suite.hash
    header = out.header
    assert header.chain == CHAIN
    assert header.height == parent.header.height + 1
    assert header.prev == h(parent.header.encode())
    assert header.tx_count == len(out.txs) == len(out.results) == len(out.result_bytes)
    assert header.log_size == parent.header.log_size + len(out.txs)
    assert header.tx_root == merkle.root_from_leaf_hashes(h, [merkle.leaf_hash(h, tx.id) for tx in out.txs])
    result_hashes = [h(r.encode()) for r in out.results]
    assert [h(b) for b in out.result_bytes] == result_hashes
    assert header.result_root == merkle.root_from_leaf_hashes(
        h, [merkle.leaf_hash(h, x) for x in result_hashes]
    )
    assert header.state_root == expected_state_root(suite, parent.header.state_root, out.writes)
    leaves = leaves_before + [
        merkle.leaf_hash(h, log_leaf(tx.id, rh)) for tx, rh in zip(out.txs, result_hashes, strict=True)
    ]
    assert header.log_root == merkle.root_from_leaf_hashes(h, leaves)
    assert merkle.MerkleLog(h, header.log_size, out.log_frontier).root() == header.log_root
    assert Header.decode(header.encode()) == header
    for raw, result in zip(out.result_bytes, out.results, strict=True):
        assert TxResult.decode(raw).to_value() == result.to_value()
    return leaves


def test_header_fields(any_env: Env) -> None:
    env = any_env
    reader = MemoryState()
    parent = env.genesis_parent
    assert parent.header.prev == env.suite.hash(env.chain.genesis.encode())
    leaves: list[bytes] = []
    store = merkle.DictNodeStore()
    blocks = [
        [env.tx("inc", "a"), env.tx("boom"), env.tx("inc", "b")],
        [],
        [env.tx("inc", "a")],
        [env.tx("crash"), env.tx("inc", "c"), env.tx("inc", "d"), env.tx("inc", "e")],
    ]
    for i, txs in enumerate(blocks):
        out = env.apply(txs, reader, parent, time=T0 + 1000 * (i + 1))
        leaves = _check_header(env, parent, out, leaves)
        store.put_nodes(out.log_nodes)
        assert merkle.root_from_store(env.suite.hash, store, out.header.log_size) == out.header.log_root
        reader.commit(out)
        parent = Parent(out.header, out.log_frontier)
    assert parent.header.height == len(blocks)
    assert parent.header.log_size == 8
    assert reader.state[ckey("a")] == codec.encode(2)


def test_empty_block(env: Env) -> None:
    out = env.apply([])
    h = env.suite.hash
    assert out.header.tx_count == 0 and out.header.log_size == 0
    assert out.header.tx_root == out.header.result_root == out.header.log_root == h(b"")
    assert out.header.state_root == env.genesis_parent.header.state_root
    assert out.log_nodes == [] and out.writes == {}


# --------------------------------------------------------------------------- properties

# An op is (kind, key): kinds the test contract understands plus a few that exercise admission.
OPS = st.tuples(
    st.sampled_from(
        ["inc", "inc", "inc", "boom", "crash", "bad_return", "remove", "bad_sig", "replay", "expired"]
    ),
    st.sampled_from(["a", "b", "c"]),
)


def _build(env: Env, ops: list[tuple[str, str]]) -> tuple[list[SignedTx], list[bool]]:
    txs: list[SignedTx] = []
    sig_ok: list[bool] = []
    for kind, key in ops:
        if kind == "replay" and txs:
            txs.append(txs[len(txs) // 2])
            sig_ok.append(True)
        elif kind == "bad_sig":
            txs.append(env.tx("inc", key))
            sig_ok.append(False)
        elif kind == "expired":
            txs.append(env.tx("inc", key, expiry=T0 + 1))
            sig_ok.append(True)
        else:
            txs.append(env.tx("inc" if kind == "replay" else kind, key))
            sig_ok.append(True)
    return txs, sig_ok


@settings(max_examples=40, deadline=None)
@given(st.lists(OPS, max_size=25), st.lists(st.integers(0, 25), max_size=4))
def test_determinism(ops: list[tuple[str, str]], cuts: list[int]) -> None:
    env = make_env("intl")
    txs, sig_ok = _build(env, ops)
    bounds = sorted({0, len(txs), *(c for c in cuts if c <= len(txs))})

    def run() -> list[tuple[Header, list[bytes], dict[bytes, bytes | None], list[tuple[bytes, str]]]]:
        reader = MemoryState()
        parent = env.genesis_parent
        seen = []
        for n, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            out = env.apply(txs[lo:hi], reader, parent, time=T0 + 1000 * (n + 1), sig_ok=sig_ok[lo:hi])
            seen.append((out.header, out.result_bytes, out.writes, [(t.id, c) for t, c, _ in out.dropped]))
            reader.commit(out)
            parent = Parent(out.header, out.log_frontier)
        return seen

    assert run() == run()


@settings(max_examples=40, deadline=None)
@given(st.lists(OPS, max_size=30), st.lists(st.integers(0, 30), max_size=6))
def test_log_over_blocks(ops: list[tuple[str, str]], cuts: list[int]) -> None:
    env = make_env("intl")
    h = env.suite.hash
    txs, sig_ok = _build(env, ops)
    bounds = sorted({0, len(txs), *(c for c in cuts if c <= len(txs))})
    reader = MemoryState()
    parent = env.genesis_parent
    leaves: list[bytes] = []
    store = merkle.DictNodeStore()
    included_ids: list[bytes] = []
    counts: dict[str, int] = {}
    for n, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        out = env.apply(txs[lo:hi], reader, parent, time=T0 + 1000 * (n + 1), sig_ok=sig_ok[lo:hi])
        for tx, raw in zip(out.txs, out.result_bytes, strict=True):
            leaves.append(merkle.leaf_hash(h, log_leaf(tx.id, h(raw))))
            included_ids.append(tx.id)
            key = tx.body.args["key"]
            if tx.body.method == "inc":
                counts[key] = counts.get(key, 0) + 1
            elif tx.body.method == "remove":
                counts.pop(key, None)
        assert out.header.log_size == len(leaves)
        assert out.header.log_root == merkle.root_from_leaf_hashes(h, leaves)
        store.put_nodes(out.log_nodes)
        assert merkle.root_from_store(h, store, len(leaves)) == out.header.log_root
        reader.commit(out)
        parent = Parent(out.header, out.log_frontier)

    # Every included id is unique; every valid, never-seen tx was included.
    assert len(set(included_ids)) == len(included_ids)
    expected_ids = []
    for tx, ok in zip(txs, sig_ok, strict=True):
        if ok and tx.body.expiry > T0 + 1000 * len(bounds) and tx.id not in expected_ids:
            expected_ids.append(tx.id)
    assert included_ids == expected_ids
    # The committed state matches a model of the counter.
    assert {k: codec.decode(v) for k, v in reader.state.items()} == {ckey(k): c for k, c in counts.items()}
