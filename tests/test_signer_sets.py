"""Signer sets follow governance: which keys count at each height, and offline proofs of the changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govchain import codec
from govchain.crypto.base import KeyPair
from govchain.crypto.keyfile import KeyFile
from govchain.ledger.blocks import HEADER_DOMAIN, ChainParams, Genesis
from govchain.ledger.signers import FULL_SIGNERS_PREFIX, signers_at, signers_key
from govchain.node.receipts import ProofUnavailable, build_receipt, build_state_proof
from govchain.verify.receipt import SIGNATURE, ReceiptUnreadable, verify_receipt
from govchain.verify.state import verify_state_proof
from tests.conftest import Env, code
from tests.harness import MemoryState
from tests.test_governance import _new_ca, decide, enrol_admins, env_member


def _cosign(env: Env, keys: KeyPair, height: int) -> None:
    """What the new org's peer would contribute over the network: its signature of the header."""
    block = env.node.store.block(height)
    assert block is not None
    signatures = codec.decode(block.signatures)
    sig = env.suite.sign(keys.private, HEADER_DOMAIN + block.header)
    env.node.store.set_signatures(height, codec.encode([*signatures, {"key": keys.public, "sig": sig}]))


def _joined(env: Env) -> tuple[KeyPair, dict[str, Any], dict[str, Any]]:
    """org4 joins with one peer; a transaction after the change, and its receipt (cosigned)."""
    admins = enrol_admins(env)
    member = env_member(env)
    ca4, _ = _new_ca(env, "org4")
    peer4 = env.suite.generate_keypair()
    org4 = {
        "id": "org4",
        "name_zh": "区档案馆",
        "name_en": "District Archive",
        "ca": ca4.der,
        "peers": [peer4.public],
    }
    state = decide(env, admins, "add_org", {"org": org4})
    _, reply = env.notarize(member)
    tx_id = bytes.fromhex(reply["id"])
    height = env.node.store.tx(tx_id).height  # type: ignore[union-attr]
    with pytest.raises(ProofUnavailable) as waiting:  # one of two signers: not final yet
        build_receipt(env.node, tx_id)
    assert waiting.value.code == "not_final"
    _cosign(env, peer4, height)
    return peer4, state, build_receipt(env.node, tx_id)


def test_an_added_orgs_peer_signs_from_the_decided_height(env: Env) -> None:
    peer4, state, receipt = _joined(env)
    own = KeyFile.load(env.out / "org1" / "peer-key.json").keys.public
    start = state["effective_height"]
    assert env.node.signers(start - 1) == env.node.genesis.signers == (own,)
    assert env.node.signers(start) == tuple(sorted([own, peer4.public]))
    assert env.node.signers(start + 5) == env.node.signers(start)
    changes = receipt["block"]["signer_changes"]
    assert [c["from"] for c in changes] == [start] and changes[0]["signers"] == sorted(
        [own.hex(), peer4.public.hex()]
    )
    verdict = verify_receipt(receipt)
    assert verdict.ok, verdict.message
    assert verdict.facts["signers"] == 2


def test_receipts_signed_by_the_genesis_set_keep_their_format(env: Env) -> None:
    member = env_member(env)
    _, reply = env.notarize(member)
    receipt = build_receipt(env.node, bytes.fromhex(reply["id"]))
    assert set(receipt["block"]) == {"height", "hash", "header", "signatures"}
    assert verify_receipt(receipt).ok


def test_forged_signer_changes_are_refused(env: Env) -> None:
    _, _, receipt = _joined(env)
    outsider = env.suite.generate_keypair()

    tampered = copy.deepcopy(receipt)  # a set the chain never recorded
    tampered["block"]["signer_changes"][0]["signers"] = sorted(
        [*tampered["block"]["signer_changes"][0]["signers"], outsider.public.hex()]
    )
    verdict = verify_receipt(tampered)
    assert verdict.failure == SIGNATURE and "does not hold this signer set" in verdict.message

    forged = copy.deepcopy(receipt)  # the change certified by a key outside the set before it
    change = forged["block"]["signer_changes"][0]
    header = bytes.fromhex(change["block"]["header"])
    sig = env.suite.sign(outsider.private, HEADER_DOMAIN + header)
    change["block"]["signatures"] = [{"key": outsider.public.hex(), "sig": sig.hex()}]
    verdict = verify_receipt(forged)
    assert verdict.failure == SIGNATURE
    assert "signer change 1" in verdict.message and "0 valid signer signatures; 1 required" in verdict.message

    late = copy.deepcopy(receipt)  # a change that would apply only after the receipt's block
    late["block"]["signer_changes"][0]["from"] = receipt["block"]["height"] + 1
    assert verify_receipt(late).failure == SIGNATURE


def test_a_change_that_leaves_no_signer_is_refused(env: Env) -> None:
    admins = enrol_admins(env)
    env_member(env)
    _, reply = env.send(
        admins["org1"], "governance", "propose", {"action": "remove_org", "args": {"id": "org1"}}
    )
    proposal = bytes.fromhex(reply["id"])
    results = [
        env.send(keys, "governance", "vote", {"proposal": proposal, "approve": True})
        for org, keys in admins.items()
        if org != "org1"
    ]
    assert code(results[-1]) == "conflict" and "no peer would be left" in results[-1][1]["message"]
    assert env.node.signers(env.node.height + 10) == env.node.genesis.signers


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_altered_byte_of_a_change_is_refused(env: Env, data: st.DataObject) -> None:
    if _receipt.get(id(env)) is None:
        _receipt[id(env)] = _joined(env)[2]
        assert verify_receipt(_receipt[id(env)]).ok  # untouched, it verifies: the refusals below count
    receipt = copy.deepcopy(_receipt[id(env)])
    change = receipt["block"]["signer_changes"][0]
    fields: list[tuple[Any, Any]] = [(change["block"], "header"), (change["state"], "previous")]
    fields += [(change["state"], "write_set"), (change["state"], "provable_root")]
    fields += [(change["proof"]["siblings"], i) for i in range(len(change["proof"]["siblings"]))]
    fields += [(change["signers"], i) for i in range(len(change["signers"]))]
    holder, key = data.draw(st.sampled_from(fields))
    value = bytearray(bytes.fromhex(holder[key]))
    at = data.draw(st.integers(0, len(value) - 1))
    value[at] ^= data.draw(st.integers(1, 255))
    holder[key] = value.hex()
    try:
        verdict = verify_receipt(receipt)
    except ReceiptUnreadable:
        return
    assert not verdict.ok


_receipt: dict[int, Any] = {}


def test_a_removed_orgs_peer_stops_counting(env: Env) -> None:
    peer4, _, _ = _joined(env)
    admins = {org: KeyFile.load(env.out / org / "admin-key.json").keys for org in ("org1", "org2", "org3")}
    state = decide(env, admins, "remove_org", {"id": "org4"})
    start = state["effective_height"]
    own = KeyFile.load(env.out / "org1" / "peer-key.json").keys.public
    assert env.node.signers(start - 1) == tuple(sorted([own, peer4.public]))
    assert env.node.signers(start) == (own,)
    assert (env.node.files.data_dir / "signer-changes" / f"{start}.json").is_file()  # proven when decided
    _, reply = env.notarize(env_member(env))
    receipt = build_receipt(env.node, bytes.fromhex(reply["id"]))  # final with org1's signature alone
    assert "signer_changes" not in receipt["block"]  # the genesis set again: the receipt is as before
    verdict = verify_receipt(receipt)
    assert verdict.ok and verdict.facts["signers"] == 1, verdict.message


def test_a_state_proof_after_a_change_carries_it(env: Env) -> None:
    peer4, state, _ = _joined(env)
    _cosign(env, peer4, env.node.height)  # the latest block, which a state proof stands on
    key = FULL_SIGNERS_PREFIX + state["effective_height"].to_bytes(8, "big")
    proof = build_state_proof(env.node, key)
    assert [c["from"] for c in proof["block"]["signer_changes"]] == [state["effective_height"]]
    verdict = verify_state_proof(proof)
    assert verdict.ok, verdict.message
    assert codec.decode(verdict.facts["value"]) == list(env.node.signers(env.node.height))


@given(
    changes=st.dictionaries(
        st.integers(1, 50), st.lists(st.binary(min_size=65, max_size=65), min_size=1, max_size=4), max_size=6
    ),
    height=st.integers(0, 60),
)
def test_the_set_of_a_height_is_the_last_change_at_or_below_it(
    changes: dict[int, list[bytes]], height: int
) -> None:
    genesis = Genesis("c", "intl", 0, (bytes(65),), ChainParams())
    state = {b"governance/" + signers_key(f): codec.encode(sorted(keys)) for f, keys in changes.items()}
    if changes:
        state[b"governance/signer_heights"] = codec.encode(sorted(changes))
    applying = [f for f in changes if f <= height]
    expected = tuple(sorted(changes[max(applying)])) if applying else genesis.signers
    assert signers_at(genesis, MemoryState(state), height) == expected
