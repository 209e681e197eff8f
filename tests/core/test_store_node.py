"""The node end to end on a temporary data directory: admission, commit, store, queries, restart."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govchain import codec, merkle
from govchain.contracts.notary.contract import CONTRACT
from govchain.ledger import errors
from govchain.ledger.blocks import ChainParams, Header, HeaderSignature, count_valid_signatures
from govchain.ledger.contracts import Context, Contract, Registry
from govchain.ledger.errors import ContractError
from govchain.ledger.results import TxResult, log_leaf
from govchain.ledger.transactions import SignedTx, TxBody, new_nonce, sign_tx
from govchain.node.chain import create_dev_chain, load_genesis
from govchain.node.node import ACCEPTED, MAX_SUBMIT_BATCH, CommitEvent, Node

TIMEOUT = 10.0


class Commits:
    """A commit listener; `wait` blocks until every given tx id was committed or dropped."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[CommitEvent] = []
        self.outcome: dict[bytes, tuple[int, str]] = {}  # tx id -> (height, code)

    def __call__(self, event: CommitEvent) -> None:
        with self._cond:
            self.events.append(event)
            for tx_id, code, _ in event.committed:
                self.outcome[tx_id] = (event.height, code)
            for tx_id, code, _ in event.dropped:
                self.outcome[tx_id] = (event.height, "dropped:" + code)
            self._cond.notify_all()

    def wait(self, ids: list[bytes], timeout: float = TIMEOUT) -> dict[bytes, tuple[int, str]]:
        with self._cond:
            done = self._cond.wait_for(lambda: all(i in self.outcome for i in ids), timeout)
            assert done, "transactions were not committed in time"
            return {i: self.outcome[i] for i in ids}


def registry() -> Registry:
    return Registry([CONTRACT])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    create_dev_chain(d, "intl", params=ChainParams(block_time_ms=20))
    return d


@pytest.fixture
def node(data_dir: Path) -> Iterator[tuple[Node, Commits]]:
    n = Node(data_dir, registry())
    commits = Commits()
    n.add_listener(commits)
    n.start()
    try:
        yield n, commits
    finally:
        n.stop()
        assert n.error is None


class Client:
    def __init__(self, node: Node) -> None:
        self.suite = node.suite
        self.kp = node.suite.generate_keypair()
        self.chain = node.genesis.chain_id

    def tx(self, method: str, args: dict[str, Any], *, contract: str = "notary", **changes: Any) -> SignedTx:
        body = {
            "chain": self.chain,
            "sender": self.kp.public,
            "contract": contract,
            "method": method,
            "args": args,
            "nonce": new_nonce(),
            "expiry": int(time.time() * 1000) + 60_000,
        }
        body.update(changes)
        return sign_tx(self.suite, self.kp.private, TxBody(**body))

    def anchor(self, content: bytes) -> SignedTx:
        return self.tx("anchor", {"digest": self.suite.hash(content), "meta": {"name": "f.txt"}})


def submit(node: Node, commits: Commits, txs: list[SignedTx]) -> dict[bytes, tuple[int, str]]:
    answers = node.admit([tx.raw for tx in txs])
    assert [a.code for a in answers] == [ACCEPTED] * len(txs)
    assert [a.id for a in answers] == [tx.id for tx in txs]
    return commits.wait([tx.id for tx in txs])


# --------------------------------------------------------------------------- commit and store


def test_genesis_block(data_dir: Path) -> None:
    n = Node(data_dir, registry())
    try:
        assert n.height == 0
        block = n.store.block(0)
        assert block is not None
        header = Header.decode(block.header)
        assert header.prev == n.suite.hash(load_genesis(data_dir).encode()) == n.genesis_hash
        assert header.log_size == 0 and header.tx_count == 0
        assert block.hash == n.suite.hash(block.header)
    finally:
        n.stop()


def test_commit_store_and_lookup(node: tuple[Node, Commits]) -> None:
    n, commits = node
    client = Client(n)
    suite, h = n.suite, n.suite.hash
    docs = [b"doc-1", b"doc-2", b"doc-3"]
    anchors = [client.anchor(d) for d in docs]
    bad = client.tx("anchor", {"digest": b"too short"})
    batch_digests = [h(bytes([i])) for i in range(10)]
    batch = client.tx("anchor_batch", {"digests": batch_digests})
    txs = [*anchors, bad, batch]
    outcome = submit(n, commits, txs)

    assert [outcome[tx.id][1] for tx in txs] == [errors.OK] * 3 + [errors.INVALID_ARGS, errors.OK]
    assert n.store.tx_count() == len(txs)
    log_indexes = set()
    for tx in txs:
        assert n.store.has_tx(tx.id)
        stored = n.store.tx(tx.id)
        assert stored is not None
        assert stored.envelope == tx.raw
        assert stored.height == outcome[tx.id][0]
        assert TxResult.decode(stored.result).code == outcome[tx.id][1]
        assert n.store.tx_at(stored.log_index) == stored
        log_indexes.add(stored.log_index)
    assert log_indexes == set(range(len(txs)))
    assert n.store.known_txs([tx.id for tx in txs] + [b"\x00" * 32]) == {tx.id for tx in txs}

    for tx, doc in zip(anchors, docs, strict=True):
        found = n.query("notary", "lookup", {"digest": h(doc)})
        height = outcome[tx.id][0]
        block = n.store.block(height)
        assert block is not None
        assert found == [
            {"tx": tx.id, "index": -1, "height": height, "time": Header.decode(block.header).time}
        ]
    for i, digest in enumerate(batch_digests):
        found = n.query("notary", "lookup", {"digest": digest})
        assert [(f["tx"], f["index"]) for f in found] == [(batch.id, i)]
    assert n.query("notary", "lookup", {"digest": h(b"never anchored")}) == []
    with pytest.raises(KeyError):
        n.query("notary", "nope", {})

    # Every stored block: hash, signature, log root, and the chain of prev hashes.
    latest = n.store.latest_block()
    assert latest is not None and latest.height == n.height
    leaves: list[bytes] = []
    prev_hash = n.store.block(0).hash  # type: ignore[union-attr]
    for height in range(1, n.height + 1):
        block = n.store.block(height)
        assert block is not None
        header = Header.decode(block.header)
        assert block.hash == h(block.header)
        assert n.store.block_by_hash(block.hash) == block
        assert header.prev == prev_hash
        sigs = [HeaderSignature.from_value(v) for v in codec.decode(block.signatures)]
        assert count_valid_signatures(suite, block.header, sigs, n.genesis.signers) == 1
        for stored in n.store.txs_in_range(header.log_size - header.tx_count, header.log_size):
            assert stored.height == height
            leaves.append(merkle.leaf_hash(h, log_leaf(stored.id, h(stored.result))))
        assert header.log_root == merkle.root_from_leaf_hashes(h, leaves)
        assert merkle.root_from_store(h, n.store, header.log_size) == header.log_root
        prev_hash = block.hash
    assert n.head.header == Header.decode(latest.header)


def test_failed_tx_changes_no_state(node: tuple[Node, Commits]) -> None:
    n, commits = node
    client = Client(n)
    submit(n, commits, [client.anchor(b"first")])
    before = n.head.header
    outcome = submit(n, commits, [client.tx("anchor", {"digest": b"x"}), client.tx("anchor", {"nope": 1})])
    assert {code for _, code in outcome.values()} == {errors.INVALID_ARGS}
    (height,) = {height for height, _ in outcome.values()}
    block = n.store.block(height)
    assert block is not None
    header = Header.decode(block.header)
    assert header.height == before.height + 1
    assert header.state_root == before.state_root
    assert header.log_size == before.log_size + 2


# --------------------------------------------------------------------------- admission


def test_admission_codes(node: tuple[Node, Commits]) -> None:
    n, commits = node
    client = Client(n)
    now = int(time.time() * 1000)
    good = client.anchor(b"good")
    other = client.anchor(b"other")
    forged = codec.encode({"body": other.body_bytes, "sig": good.signature})
    cases = [
        (good.raw, ACCEPTED),
        (good.raw, errors.REPLAYED),  # same request, already waiting
        (client.tx("anchor", {"digest": n.suite.hash(b"a")}, contract="nope").raw, errors.UNKNOWN_CONTRACT),
        (client.tx("nope", {}).raw, errors.UNKNOWN_METHOD),
        (client.tx("anchor", {}, chain="other-chain").raw, errors.WRONG_CHAIN),
        (client.tx("anchor", {}, expiry=now - 1).raw, errors.EXPIRED),
        (client.tx("anchor", {}, expiry=now + 48 * 3600 * 1000).raw, errors.EXPIRY_TOO_FAR),
        (forged, errors.BAD_SIGNATURE),
        (b"junk", errors.MALFORMED),
        (b"\x00" * (n.genesis.params.max_tx_bytes + 1), errors.TOO_LARGE),
    ]
    answers = n.admit([raw for raw, _ in cases])
    assert [a.code for a in answers] == [code for _, code in cases]
    assert all(a.message for a in answers if not a.accepted)
    commits.wait([good.id])
    # Once committed, the same bytes are a replay, and nothing new is queued.
    again = n.admit([good.raw])
    assert [a.code for a in again] == [errors.REPLAYED]
    assert again[0].id == good.id
    assert n.pending() == 0
    assert n.store.tx_count() == 1


def test_batch_too_large(node: tuple[Node, Commits]) -> None:
    n, _ = node
    client = Client(n)
    tx = client.anchor(b"in a huge batch")
    answers = n.admit([tx.raw] + [b"junk"] * MAX_SUBMIT_BATCH)
    assert len(answers) == MAX_SUBMIT_BATCH + 1
    assert {a.code for a in answers} == {errors.BATCH_TOO_LARGE}
    assert n.pending() == 0
    # Exactly the limit is fine: each entry gets its own answer.
    answers = n.admit([tx.raw] + [b"junk"] * (MAX_SUBMIT_BATCH - 1))
    assert [a.code for a in answers[:2]] == [ACCEPTED, errors.MALFORMED]
    assert len(answers) == MAX_SUBMIT_BATCH


# --------------------------------------------------------------------------- restart


def test_restart_keeps_chain_and_continues_log(data_dir: Path) -> None:
    first = Node(data_dir, registry())
    commits = Commits()
    first.add_listener(commits)
    first.start()
    client = Client(first)
    try:
        old_txs = [client.anchor(b"before restart %d" % i) for i in range(3)]
        submit(first, commits, old_txs)
        height, header = first.height, first.head.header
        latest = first.store.latest_block()
        assert latest is not None
    finally:
        first.stop()
    assert first.error is None
    assert header.log_size == 3

    second = Node(data_dir, registry())
    commits2 = Commits()
    second.add_listener(commits2)
    try:
        assert second.height == height
        assert second.head.header == header
        assert second.head.header.state_root == header.state_root
        assert second.genesis_hash == first.genesis_hash
        # Committed transactions are replays across restarts.
        assert [a.code for a in second.admit([old_txs[0].raw])] == [errors.REPLAYED]
        second.start()
        new = client.anchor(b"after restart")
        outcome = submit(second, commits2, [new])
        assert outcome[new.id] == (height + 1, errors.OK)
        block = second.store.block(height + 1)
        assert block is not None
        new_header = Header.decode(block.header)
        assert new_header.prev == latest.hash
        assert new_header.log_size == header.log_size + 1
        stored = second.store.tx(new.id)
        assert stored is not None and stored.log_index == header.log_size
        h = second.suite.hash
        proof = merkle.consistency_proof_from_store(h, second.store, header.log_size, new_header.log_size)
        assert merkle.verify_consistency(
            h, header.log_size, new_header.log_size, header.log_root, new_header.log_root, proof
        )
        for tx, content in zip(old_txs, [b"before restart %d" % i for i in range(3)], strict=True):
            found = second.query("notary", "lookup", {"digest": h(content)})
            assert [f["tx"] for f in found] == [tx.id]
    finally:
        second.stop()
    assert second.error is None


# --------------------------------------------------------------------------- contract misbehaviour


def _fail_without_text(ctx: Context, args: dict[str, Any]) -> None:
    raise ContractError(errors.CONFLICT, args.get("message"))  # type: ignore[arg-type]


def _crash(ctx: Context, args: dict[str, Any]) -> None:
    ctx.state.put(b"k", 1)
    raise RuntimeError("contract bug")


MISBEHAVING = Contract("bad", {"fail": _fail_without_text, "crash": _crash})


def test_crashing_contract_does_not_halt_node(data_dir: Path) -> None:
    n = Node(data_dir, Registry([CONTRACT, MISBEHAVING]))
    commits = Commits()
    n.add_listener(commits)
    n.start()
    try:
        client = Client(n)
        crash = client.tx("crash", {}, contract="bad")
        outcome = submit(n, commits, [crash])
        assert outcome[crash.id][1] == errors.CONTRACT_ERROR
        after = client.anchor(b"after the crash")
        assert submit(n, commits, [after])[after.id][1] == errors.OK
    finally:
        n.stop()
    assert n.error is None


@pytest.mark.parametrize("message", [None, {"why": "no"}])
def test_contract_error_with_non_text_message_does_not_halt_node(data_dir: Path, message: Any) -> None:
    n = Node(data_dir, Registry([CONTRACT, MISBEHAVING]))
    commits = Commits()
    n.add_listener(commits)
    n.start()
    try:
        client = Client(n)
        bad = client.tx("fail", {"message": message}, contract="bad")
        assert [a.code for a in n.admit([bad.raw])] == [ACCEPTED]
        assert commits.wait([bad.id], timeout=2.0)[bad.id][1] == errors.CONFLICT
        after = client.anchor(b"after")
        assert submit(n, commits, [after])[after.id][1] == errors.OK
    finally:
        n.stop()
    assert n.error is None


def test_signatures_and_their_marks_are_stored_together(data_dir: Path) -> None:
    first = Node(data_dir, registry())
    try:
        store = first.store
        assert store.mark("resume", 1) == 1  # none stored yet: the default
        block = store.block(0)
        assert block is not None
        signatures = codec.decode(block.signatures)
        more = codec.encode([*signatures, {"key": b"\x02" * 33, "sig": b"\x01" * 64}])
        store.set_signatures(0, more, {"resume": 41, "prefix": 0})
        store.set_signatures(0, more)  # without marks: the stored ones stay
        assert store.mark("resume", 1) == 41
        with pytest.raises(sqlite3.Error):  # a failed update stores neither, and ends its transaction
            store.set_signatures(0, object(), {"resume": 99})  # type: ignore[arg-type]
        assert store.mark("resume", 1) == 41
        store.set_signatures(0, more, {"resume": 42})
        assert store.mark("resume", 1) == 42
    finally:
        first.stop()
    second = Node(data_dir, registry())
    try:
        assert second.store.mark("resume", 1) == 42 and second.store.mark("prefix", -1) == 0
        reopened = second.store.block(0)
        assert reopened is not None and reopened.signatures == more
    finally:
        second.stop()
