"""`GET /v1/blocks/{h}/full`: what a catching-up peer fetches (docs/protocol.md, section 9.1)."""

from __future__ import annotations

import cbor2
import pytest

from govchain import codec
from govchain.ledger.blocks import Header, count_valid_signatures
from govchain.node import catchup
from govchain.node.catchup import POSITIONS_FILE, decode_full_block, decode_full_blocks
from tests.conftest import Env


def test_a_full_block_is_the_header_its_signatures_and_envelopes(env: Env) -> None:
    admin, cert = env.new_member("org1", "admin", "管理员")
    status, body = env.enroll(admin, cert)
    assert status == 200, body
    height = body["height"]
    reply = env.client.get(f"/v1/blocks/{height}/full")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/cbor"
    block = decode_full_block(reply.content)
    stored = env.node.store.block(height)
    assert stored is not None and block.header == stored.header
    tx = env.node.store.tx(bytes.fromhex(body["id"]))
    assert tx is not None and block.txs == [tx.envelope]
    signers = env.node.genesis.signers
    assert (
        count_valid_signatures(env.suite, block.header, block.signatures, signers)
        == len(block.signatures)
        == 1
    )
    assert block.next_seq is None  # a node without an ordering stream records no positions
    assert not (env.node.files.data_dir / POSITIONS_FILE).exists()


def test_a_block_not_yet_there_is_unknown(env: Env) -> None:
    reply = env.client.get(f"/v1/blocks/{env.node.height + 1}/full")
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "unknown_block"


def test_a_range_is_the_same_blocks_in_one_answer(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(4):
        admin, cert = env.new_member("org1", "admin", f"管理员{i}")
        status, body = env.enroll(admin, cert)
        assert status == 200, body
    tip = env.node.height
    assert tip >= 4
    reply = env.client.get("/v1/blocks/full", params={"from": 2, "count": 3})
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/cbor"
    codec.decode(reply.content)  # canonical CBOR, as everything served
    singles = [env.client.get(f"/v1/blocks/{h}/full").content for h in (2, 3, 4)]
    assert decode_full_blocks(reply.content) == [decode_full_block(b) for b in singles]
    # it ends at the peer's last block, and is empty past it
    to_tip = decode_full_blocks(env.client.get("/v1/blocks/full", params={"from": tip - 1}).content)
    assert [Header.decode(b.header).height for b in to_tip] == [tip - 1, tip]
    assert decode_full_blocks(env.client.get("/v1/blocks/full", params={"from": tip + 1}).content) == []
    # past its size budget it stops, but always serves the first block
    monkeypatch.setattr(catchup, "RANGE_BYTES", 1)
    one = decode_full_blocks(env.client.get("/v1/blocks/full", params={"from": 1, "count": 4}).content)
    assert [Header.decode(b.header).height for b in one] == [1]


def test_bad_ranges_are_refused(env: Env) -> None:
    for query in ({"from": 0}, {"from": -3}, {"from": 1, "count": 0}, {"from": 1, "count": 257}):
        reply = env.client.get("/v1/blocks/full", params=query)
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "bad_request", query
    assert env.client.get("/v1/blocks/full", params={"from": "x"}).status_code == 422
    assert env.client.get("/v1/blocks/full").status_code == 422  # 'from' is required


def test_long_ranges_use_the_canonical_array_head() -> None:
    from govchain.node.catchup import _array_head

    for count in (0, 1, 23, 24, 255, 256, 300):
        assert _array_head(count) == cbor2.dumps([None] * count)[: len(_array_head(count))]
        assert codec.decode(_array_head(count) + b"\xf6" * count) == [None] * count
