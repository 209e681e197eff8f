"""`GET /v1/blocks/{h}/full`: what a catching-up peer fetches (docs/protocol.md, section 9.1)."""

from __future__ import annotations

from govchain.ledger.blocks import count_valid_signatures
from govchain.node.catchup import POSITIONS_FILE, decode_full_block
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
