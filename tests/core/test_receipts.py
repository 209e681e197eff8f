"""Receipts: built from a running node, verified offline, and every tampering caught with its class."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from govchain import codec
from govchain.contracts.notary.contract import CONTRACT
from govchain.crypto import KeyPair, Suite
from govchain.ledger.blocks import HEADER_DOMAIN, ChainParams, Genesis
from govchain.ledger.contracts import Registry
from govchain.ledger.transactions import SignedTx, TxBody, new_nonce, sign_tx
from govchain.node.chain import create_dev_chain
from govchain.node.node import ACCEPTED, CommitEvent, Node
from govchain.node.receipts import ProofUnavailable, build_receipt
from govchain.verify.receipt import ReceiptUnreadable, load_receipt, verify_receipt

DOCS = [b"licence %d" % i for i in range(4)]
BATCH_FILES = [b"archive page %d" % i for i in range(7)]


@dataclass
class Chain:
    node: Node
    suite: Suite
    kp: KeyPair
    anchors: list[SignedTx]
    batch: SignedTx
    other_id_genesis: Genesis  # another chain, another chain id
    same_id_genesis: Genesis  # another chain with the same (default) chain id
    wait: Any

    def tx(self, method: str, args: dict[str, Any]) -> SignedTx:
        body = TxBody(
            self.node.genesis.chain_id,
            self.kp.public,
            "notary",
            method,
            args,
            new_nonce(),
            int(time.time() * 1000) + 60_000,
        )
        return sign_tx(self.suite, self.kp.private, body)


@pytest.fixture(scope="module", params=["intl", "gm"])
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    base: Path = tmp_path_factory.mktemp(f"receipts-{request.param}")
    create_dev_chain(base / "main", request.param, params=ChainParams(block_time_ms=20))
    other = create_dev_chain(base / "other", request.param, chain_id="other-chain")
    same = create_dev_chain(base / "same", request.param)
    node = Node(base / "main", Registry([CONTRACT]))
    cond = threading.Condition()
    done: set[bytes] = set()

    def listener(event: CommitEvent) -> None:
        with cond:
            done.update(tx_id for tx_id, _, _ in event.committed)
            cond.notify_all()

    def wait(ids: list[bytes]) -> None:
        with cond:
            assert cond.wait_for(lambda: done.issuperset(ids), 10), "not committed in time"

    node.add_listener(listener)
    node.start()
    suite = node.suite
    c = Chain(node, suite, suite.generate_keypair(), [], None, other, same, wait)  # type: ignore[arg-type]
    c.anchors = [c.tx("anchor", {"digest": suite.hash(d), "meta": {"n": i}}) for i, d in enumerate(DOCS)]
    c.batch = c.tx("anchor_batch", {"digests": [suite.hash(f) for f in BATCH_FILES]})
    txs = [*c.anchors, c.batch]
    assert {a.code for a in node.admit([tx.raw for tx in txs])} == {ACCEPTED}
    wait([tx.id for tx in txs])
    try:
        yield c
    finally:
        node.stop()
        assert node.error is None


def flip_hex(value: str, position: int = 0) -> str:
    data = bytearray(bytes.fromhex(value))
    data[position] ^= 0x01
    return data.hex()


def receipt_for(chain: Chain, k: int = 1) -> dict[str, Any]:
    return build_receipt(chain.node, chain.anchors[k].id)


# --------------------------------------------------------------------------- valid receipts


def test_valid_receipt(chain: Chain) -> None:
    for k, (tx, doc) in enumerate(zip(chain.anchors, DOCS, strict=True)):
        r = receipt_for(chain, k)
        assert r["suite"] == chain.suite.name
        verdict = verify_receipt(r)
        assert verdict.ok, verdict
        assert verdict.failure is None
        assert verdict.facts["tx_id"] == tx.id.hex()
        assert verdict.facts["digest"] == chain.suite.hash(doc).hex()
        assert verdict.facts["genesis_hash"] == chain.node.genesis_hash.hex()
        assert verify_receipt(r, doc).ok
        assert verify_receipt(r, doc, trusted_genesis=chain.node.genesis_hash).ok
        # A JSON round trip (what a user actually keeps) verifies the same.
        again = load_receipt(json.dumps(r))
        assert again == r
        assert verify_receipt(again, doc).ok


def test_altered_file(chain: Chain) -> None:
    r = receipt_for(chain)
    for altered in (DOCS[1] + b"x", DOCS[1][:-1], b"", DOCS[2]):
        verdict = verify_receipt(r, altered)
        assert not verdict.ok
        assert verdict.failure == "file_altered"


def test_receipt_still_verifies_after_more_blocks(chain: Chain) -> None:
    early = receipt_for(chain, 0)
    height = chain.node.height
    more = [chain.tx("anchor", {"digest": chain.suite.hash(b"later %d" % i)}) for i in range(3)]
    assert {a.code for a in chain.node.admit([tx.raw for tx in more])} == {ACCEPTED}
    chain.wait([tx.id for tx in more])
    assert chain.node.height > height
    late = receipt_for(chain, 0)
    assert verify_receipt(late, DOCS[0]).ok
    assert verify_receipt(early, DOCS[0]).ok
    assert late["block"] == early["block"]
    assert late["log_proof"] == early["log_proof"]
    # And the new transactions have their own valid receipts in the later block.
    newest = build_receipt(chain.node, more[-1].id)
    assert newest["block"]["height"] > early["block"]["height"]
    assert verify_receipt(newest).ok


def test_unknown_tx_and_wrong_digest(chain: Chain) -> None:
    with pytest.raises(ProofUnavailable):
        build_receipt(chain.node, b"\x00" * 32)
    with pytest.raises(ProofUnavailable):
        build_receipt(chain.node, chain.anchors[0].id, chain.suite.hash(DOCS[1]))
    with pytest.raises(ProofUnavailable):
        build_receipt(chain.node, chain.batch.id, chain.suite.hash(b"not in the batch"))


# --------------------------------------------------------------------------- tampering


def test_tampered_log_path(chain: Chain) -> None:
    r = receipt_for(chain)
    path = r["log_proof"]["path"]
    assert path, "the log has several leaves, so the path is not empty"
    for i in range(len(path)):
        bad = copy.deepcopy(r)
        bad["log_proof"]["path"][i] = flip_hex(path[i], i % 32)
        verdict = verify_receipt(bad)
        assert (verdict.ok, verdict.failure) == (False, "proof")
    bad = copy.deepcopy(r)
    bad["log_proof"]["path"] = path[:-1]
    assert verify_receipt(bad).failure == "proof"
    bad = copy.deepcopy(r)
    bad["log_proof"]["path"] = [*path, path[0]]
    assert verify_receipt(bad).failure == "proof"


def test_wrong_log_position(chain: Chain) -> None:
    r = receipt_for(chain, 1)
    for delta in (-1, 1):
        bad = copy.deepcopy(r)
        bad["log_proof"]["index"] += delta
        assert verify_receipt(bad).failure == "proof"
    bad = copy.deepcopy(r)
    bad["log_proof"]["size"] += 1
    assert verify_receipt(bad).failure == "proof"


def test_tampered_result(chain: Chain) -> None:
    r = receipt_for(chain)
    result = codec.decode(bytes.fromhex(r["result"]))
    assert result["code"] == "ok"
    result["events"] = []
    bad = copy.deepcopy(r)
    bad["result"] = codec.encode(result).hex()
    assert verify_receipt(bad).failure == "proof"


def test_tampered_header_signature(chain: Chain) -> None:
    r = receipt_for(chain)
    bad = copy.deepcopy(r)
    bad["block"]["signatures"][0]["sig"] = flip_hex(r["block"]["signatures"][0]["sig"], 10)
    assert (verify_receipt(bad).ok, verify_receipt(bad).failure) == (False, "signature")
    bad = copy.deepcopy(r)
    bad["block"]["signatures"] = []
    assert verify_receipt(bad).failure == "signature"
    # A valid signature by a key that is not one of the chain's signers does not count.
    outsider = chain.suite.generate_keypair()
    header = bytes.fromhex(r["block"]["header"])
    sig = chain.suite.sign(outsider.private, HEADER_DOMAIN + header)
    bad = copy.deepcopy(r)
    bad["block"]["signatures"] = [{"key": outsider.public.hex(), "sig": sig.hex()}]
    assert verify_receipt(bad).failure == "signature"


def test_tampered_header(chain: Chain) -> None:
    r = receipt_for(chain)
    header = codec.decode(bytes.fromhex(r["block"]["header"]))
    header["time"] += 1
    bad = copy.deepcopy(r)
    bad["block"]["header"] = codec.encode(header).hex()
    assert verify_receipt(bad).failure == "signature"


def test_tampered_tx_signature(chain: Chain) -> None:
    r = receipt_for(chain)
    envelope = codec.decode(bytes.fromhex(r["tx"]["envelope"]))
    sig = bytearray(envelope["sig"])
    sig[3] ^= 0x01
    envelope["sig"] = bytes(sig)
    bad = copy.deepcopy(r)
    bad["tx"]["envelope"] = codec.encode(envelope).hex()
    verdict = verify_receipt(bad)
    assert (verdict.ok, verdict.failure) == (False, "signature")


def test_tampered_tx_body(chain: Chain) -> None:
    r = receipt_for(chain)
    envelope = codec.decode(bytes.fromhex(r["tx"]["envelope"]))
    body = codec.decode(envelope["body"])
    body["args"]["digest"] = chain.suite.hash(b"forged")
    envelope["body"] = codec.encode(body)
    bad = copy.deepcopy(r)
    bad["tx"]["envelope"] = codec.encode(envelope).hex()
    assert verify_receipt(bad).failure == "proof"


def test_tampered_document_digest(chain: Chain) -> None:
    r = receipt_for(chain, 1)
    bad = copy.deepcopy(r)
    bad["document"]["digest"] = chain.suite.hash(DOCS[2]).hex()
    assert verify_receipt(bad).failure == "proof"
    assert verify_receipt(bad, DOCS[2]).failure == "proof"


# --------------------------------------------------------------------------- which chain


def test_swapped_genesis(chain: Chain) -> None:
    r = receipt_for(chain)
    # Only the genesis document replaced: it no longer hashes to the stated identity.
    bad = copy.deepcopy(r)
    bad["chain"]["genesis"] = chain.other_id_genesis.encode().hex()
    assert (verify_receipt(bad).ok, verify_receipt(bad).failure) == (False, "wrong_chain")
    # Genesis and identity both from another chain with another id: the header names another chain.
    bad["chain"]["genesis_hash"] = chain.suite.hash(chain.other_id_genesis.encode()).hex()
    assert verify_receipt(bad).failure == "wrong_chain"
    # Another chain with the same id: only its signers can tell it apart, and they did not sign.
    bad = copy.deepcopy(r)
    bad["chain"]["genesis"] = chain.same_id_genesis.encode().hex()
    bad["chain"]["genesis_hash"] = chain.suite.hash(chain.same_id_genesis.encode()).hex()
    verdict = verify_receipt(bad)
    assert not verdict.ok
    assert verdict.failure == "signature"


def test_trusted_genesis_mismatch(chain: Chain) -> None:
    r = receipt_for(chain)
    other = chain.suite.hash(chain.same_id_genesis.encode())
    verdict = verify_receipt(r, DOCS[1], trusted_genesis=other)
    assert (verdict.ok, verdict.failure) == (False, "wrong_chain")
    assert verify_receipt(r, DOCS[1], trusted_genesis=chain.node.genesis_hash).ok


def test_suite_mismatch(chain: Chain) -> None:
    r = receipt_for(chain)
    bad = copy.deepcopy(r)
    bad["suite"] = "gm" if chain.suite.name == "intl" else "intl"
    verdict = verify_receipt(bad)
    assert not verdict.ok
    # The chain's genesis hashes differently (or names another suite) under the other suite.
    assert verdict.failure == "wrong_chain"


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize("k", [0, 3, len(BATCH_FILES) - 1])
def test_batch_receipt(chain: Chain, k: int) -> None:
    digest = chain.suite.hash(BATCH_FILES[k])
    r = build_receipt(chain.node, chain.batch.id, digest)
    assert r["document"]["digest"] == digest.hex()
    assert r["document"]["batch_index"] == k
    verdict = verify_receipt(r, BATCH_FILES[k])
    assert verdict.ok, verdict
    assert verdict.facts["digest"] == digest.hex()
    assert verify_receipt(r, BATCH_FILES[(k + 1) % len(BATCH_FILES)]).failure == "file_altered"

    path = r["document"]["batch_path"]
    assert path
    for i in range(len(path)):
        bad = copy.deepcopy(r)
        bad["document"]["batch_path"][i] = flip_hex(path[i], 5)
        assert (verify_receipt(bad).ok, verify_receipt(bad).failure) == (False, "proof")
    bad = copy.deepcopy(r)
    bad["document"]["batch_index"] = (k + 1) % len(BATCH_FILES)
    assert verify_receipt(bad).failure == "proof"
    # Without the envelope, the batch root in the (logged) result still binds the document.
    bare = copy.deepcopy(r)
    bare["tx"]["envelope"] = None
    assert verify_receipt(bare, BATCH_FILES[k]).ok
    bare["document"]["batch_path"][0] = flip_hex(path[0], 0)
    assert verify_receipt(bare).failure == "proof"


def test_batch_receipt_defaults_to_first_document(chain: Chain) -> None:
    r = build_receipt(chain.node, chain.batch.id)
    assert r["document"]["batch_index"] == 0
    assert verify_receipt(r, BATCH_FILES[0]).ok


# --------------------------------------------------------------------------- unreadable input


@pytest.mark.parametrize("text", ["", "not json", "{", b"\xff\xfe\x00", "[1, 2]", "null", '"receipt"', "42"])
def test_garbage_is_unreadable(text: str | bytes) -> None:
    with pytest.raises(ReceiptUnreadable):
        load_receipt(text)


def test_wrong_format_or_version_unreadable_on_load(chain: Chain) -> None:
    r = receipt_for(chain)
    for key, value in (("format", "something-else"), ("format", None), ("version", 2), ("version", "1")):
        bad = copy.deepcopy(r)
        bad[key] = value
        with pytest.raises(ReceiptUnreadable):
            load_receipt(json.dumps(bad))
    for key in ("format", "version"):
        bad = copy.deepcopy(r)
        del bad[key]
        with pytest.raises(ReceiptUnreadable):
            load_receipt(json.dumps(bad))


@pytest.mark.parametrize(("key", "value"), [("format", "something-else"), ("version", 2)])
def test_wrong_format_or_version_unreadable_on_verify(chain: Chain, key: str, value: Any) -> None:
    bad = copy.deepcopy(receipt_for(chain))
    bad[key] = value
    with pytest.raises(ReceiptUnreadable):
        verify_receipt(bad)


def test_malformed_fields_unreadable(chain: Chain) -> None:
    r = receipt_for(chain)

    def mutate(fn: Any) -> dict[str, Any]:
        bad = copy.deepcopy(r)
        fn(bad)
        return bad

    cases = [
        mutate(lambda b: b.update(suite="rsa")),
        mutate(lambda b: b.pop("block")),
        mutate(lambda b: b.pop("log_proof")),
        mutate(lambda b: b["tx"].update(id="zz")),
        mutate(lambda b: b["tx"].update(id="00" * 31)),
        mutate(lambda b: b["chain"].update(genesis=12)),
        mutate(lambda b: b["chain"].update(genesis="ff")),  # not CBOR
        mutate(lambda b: b["block"].update(header=codec.encode([1]).hex())),  # not a map
        mutate(lambda b: b["block"]["signatures"][0].update(sig="00")),
        mutate(lambda b: b["log_proof"].update(path=["00"])),
        mutate(lambda b: b.update(result="")),
    ]
    for bad in cases:
        with pytest.raises(ReceiptUnreadable):
            verify_receipt(bad)


@pytest.mark.parametrize("index", ["abc", "1", 1.0, -1, None, True])
def test_non_integer_log_index_unreadable(chain: Chain, index: Any) -> None:
    bad = copy.deepcopy(receipt_for(chain))
    bad["log_proof"]["index"] = index
    with pytest.raises(ReceiptUnreadable):
        verify_receipt(bad)


def test_file_without_document_is_unreadable(chain: Chain) -> None:
    r = receipt_for(chain)
    bad = copy.deepcopy(r)
    del bad["document"]
    assert verify_receipt(bad).ok  # the transaction itself is still proven
    with pytest.raises(ReceiptUnreadable):
        verify_receipt(bad, DOCS[1])
