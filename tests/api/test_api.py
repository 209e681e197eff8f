"""The REST API: every bad input gets its own reason code and changes nothing."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
from fastapi.testclient import TestClient

from govchain import codec
from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.crypto import KeyPair, get_suite
from govchain.ledger.blocks import ChainParams
from govchain.ledger.transactions import TX_DOMAIN, SignedTx, TxBody, new_nonce, sign_tx
from govchain.node.chain import create_dev_chain
from govchain.node.node import Node
from govchain.verify.receipt import verify_receipt

CBOR = {"content-type": "application/cbor"}


@pytest.fixture(params=["intl", "gm"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Node, KeyPair]]:
    data = tmp_path / "node"
    create_dev_chain(data, request.param, params=ChainParams(block_time_ms=20, max_tx_bytes=4096))
    node = Node(data, default_registry())
    node.start()
    try:
        with TestClient(create_app(node)) as client:
            yield client, node, node.suite.generate_keypair()
    finally:
        node.stop()


def make_tx(node: Node, key: KeyPair, **overrides: object) -> SignedTx:
    fields: dict[str, object] = {
        "chain": node.genesis.chain_id,
        "sender": key.public,
        "contract": "notary",
        "method": "anchor",
        "args": {"digest": secrets.token_bytes(32)},
        "nonce": new_nonce(),
        "expiry": int(time.time() * 1000) + 60_000,
    }
    fields.update(overrides)
    return sign_tx(node.suite, key.private, TxBody(**fields))  # type: ignore[arg-type]


def snapshot(client: TestClient) -> tuple[int, int]:
    status = client.get("/v1/status").json()
    return status["height"], status["tx_count"]


def submit(client: TestClient, raw: bytes, wait: bool = False) -> tuple[int, dict[str, object]]:
    reply = client.post("/v1/txs", content=raw, headers=CBOR, params={"wait": str(wait).lower()})
    return reply.status_code, reply.json()


def test_commit_and_receipt(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, node, key = env
    tx = make_tx(node, key)
    status, reply = submit(client, tx.raw, wait=True)
    assert status == 200 and reply["status"] == "committed" and reply["code"] == "ok"
    got = client.get(f"/v1/txs/{tx.id.hex()}").json()
    assert got["body"]["contract"] == "notary" and got["result"]["code"] == "ok"
    receipt = client.get(f"/v1/txs/{tx.id.hex()}/receipt").json()
    assert verify_receipt(receipt).ok
    digest = tx.body.args["digest"].hex()
    anchors = client.get(f"/v1/notary/documents/{digest}").json()["anchors"]
    assert [a["tx"] for a in anchors] == [tx.id.hex()]
    doc_receipt = client.get(f"/v1/notary/documents/{digest}/receipt").json()
    assert doc_receipt["document"]["digest"] == digest and verify_receipt(doc_receipt).ok


def test_json_submission(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, node, key = env
    tx = make_tx(node, key)
    reply = client.post("/v1/txs", json={"tx": tx.raw.hex()}, params={"wait": "true"})
    assert reply.status_code == 200 and reply.json()["code"] == "ok"


def _bad_inputs(node: Node, key: KeyPair) -> list[tuple[str, int, bytes]]:
    """(expected code, expected HTTP status, raw request body)."""
    other = node.suite.generate_keypair()
    good = make_tx(node, key)
    forged = codec.encode(
        {"body": good.body_bytes, "sig": node.suite.sign(other.private, TX_DOMAIN + good.body_bytes)}
    )
    # The same map with its keys out of canonical order: valid CBOR, wrong bytes.
    reordered = cbor2.dumps({"body": good.body_bytes, "sig": good.signature}, canonical=False)
    return [
        ("malformed", 400, b"\xff\x00garbage"),
        ("malformed", 400, codec.encode({"body": b"x"})),
        ("not_canonical", 400, reordered),
        ("too_large", 413, b"\x00" * 10_000),
        ("bad_signature", 401, forged),
        ("wrong_chain", 400, make_tx(node, key, chain="another-chain").raw),
        ("expired", 400, make_tx(node, key, expiry=int(time.time() * 1000) - 1).raw),
        ("expiry_too_far", 400, make_tx(node, key, expiry=int(time.time() * 1000) + 10**12).raw),
        ("unknown_contract", 400, make_tx(node, key, contract="nope").raw),
        ("unknown_method", 400, make_tx(node, key, method="nope").raw),
        ("invalid_field", 400, make_tx(node, key, nonce=b"short").raw),
    ]


def test_bad_inputs_get_their_code_and_change_nothing(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, node, key = env
    before = snapshot(client)
    for code, http_status, raw in _bad_inputs(node, key):
        status, reply = submit(client, raw)
        assert (status, reply["error"]["code"]) == (http_status, code), (code, reply)
        assert reply["error"]["message"]
    time.sleep(0.1)
    assert snapshot(client) == before


def test_replay_is_refused(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, node, key = env
    tx = make_tx(node, key)
    assert submit(client, tx.raw, wait=True)[1]["code"] == "ok"
    after_first = snapshot(client)
    status, reply = submit(client, tx.raw)
    assert status == 409 and reply["error"]["code"] == "replayed"
    time.sleep(0.1)
    assert snapshot(client) == after_first


def test_failed_method_leaves_no_state(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, node, key = env
    tx = make_tx(node, key, args={"digest": b"short"})
    status, reply = submit(client, tx.raw, wait=True)
    assert status == 200 and reply["status"] == "committed" and reply["code"] == "invalid_args"
    assert node.query("notary", "lookup", {"digest": b"s" * 32}) == []
    result = client.get(f"/v1/txs/{tx.id.hex()}").json()["result"]
    assert result["code"] == "invalid_args" and "digest" in result["message"]


def test_batch_answers_each_transaction(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, node, key = env
    good = [make_tx(node, key) for _ in range(3)]
    bad = make_tx(node, key, chain="elsewhere")
    body = codec.encode([good[0].raw, bad.raw, good[1].raw, good[1].raw, good[2].raw])
    reply = client.post("/v1/txs/batch", content=body, headers=CBOR, params={"wait": "true"}).json()
    codes = [r.get("code") for r in reply["results"]]
    assert codes == ["ok", "wrong_chain", "ok", "replayed", "ok"]
    assert reply["accepted"] == 3 and reply["rejected"] == 2


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not json", {}),
        (json.dumps({"txs": "nope"}).encode(), {}),
        (codec.encode({"not": "a list"}), CBOR),
        (codec.encode([]), CBOR),
        (codec.encode([1, 2]), CBOR),
    ],
)
def test_malformed_batches(
    env: tuple[TestClient, Node, KeyPair], body: bytes, headers: dict[str, str]
) -> None:
    client, _, _ = env
    reply = client.post("/v1/txs/batch", content=body, headers=headers)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "malformed"


def test_read_errors(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, _, _ = env
    cases = [
        ("/v1/txs/zz", 400, "bad_request"),
        ("/v1/txs/" + "00" * 32, 404, "unknown_tx"),
        ("/v1/txs/" + "00" * 32 + "/receipt", 404, "unknown_tx"),
        ("/v1/blocks/999999", 404, "unknown_block"),
        ("/v1/notary/documents/" + "11" * 32, 404, "not_found"),
        ("/v1/notary/documents/1234", 400, "bad_request"),
        ("/v1/proofs/consistency?old=5&new=1", 400, "bad_request"),
    ]
    for path, status, code in cases:
        reply = client.get(path)
        assert (reply.status_code, reply.json()["error"]["code"]) == (status, code), path


def test_status_metrics_and_blocks(env: tuple[TestClient, Node, KeyPair]) -> None:
    client, node, key = env
    tx = make_tx(node, key)
    submit(client, tx.raw, wait=True)
    status = client.get("/v1/status").json()
    assert status["healthy"] and status["tx_count"] == 1 and status["suite"] == node.suite.name
    assert status["catching_up"] is False  # a solo node orders by itself: never behind
    assert status["error"] is None and status["error_reason"] is None
    latest = client.get("/v1/blocks/latest").json()
    assert latest["header"]["height"] == status["height"]
    assert [t["id"] for t in latest["txs"]] == [tx.id.hex()]
    by_hash = client.get(f"/v1/blocks/{latest['hash']}").json()
    assert by_hash["header"] == latest["header"]
    metrics = client.get("/metrics").text
    assert 'govchain_txs_committed_total{code="ok"} 1.0' in metrics
    proof = client.get("/v1/proofs/consistency", params={"old": 0, "new": 1}).json()
    assert proof["new_size"] == 1


def test_suites_are_kept_apart(env: tuple[TestClient, Node, KeyPair]) -> None:
    """A transaction signed under the other suite's algorithm cannot pass."""
    client, node, key = env
    other_suite = get_suite("gm" if node.suite.name == "intl" else "intl")
    other_key = other_suite.generate_keypair()
    body = make_tx(node, key).body
    forged = sign_tx(
        other_suite,
        other_key.private,
        TxBody(body.chain, other_key.public, body.contract, body.method, body.args, body.nonce, body.expiry),
    )
    status, reply = submit(client, forged.raw)
    assert status == 401 and reply["error"]["code"] == "bad_signature"
