"""Membership on a consortium chain: enrolment, revocation, roles, each refusal with its own code."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, create_ca, issue
from govchain.ledger.blocks import ChainParams
from govchain.ledger.results import TxResult
from govchain.ledger.transactions import TxBody, new_nonce, sign_tx
from govchain.node.node import Node
from tests.conftest import DAY, Env, code


def test_enrolled_member_transacts_and_outsiders_do_not(env: Env) -> None:
    outsider = env.suite.generate_keypair()
    before = env.tx_count()
    assert code(env.notarize(outsider)) == "not_a_member"
    assert env.tx_count() == before
    keys, cert = env.new_member("org2", "issuer", "市场监管局 issuer")
    assert code(env.notarize(keys)) == "not_a_member"
    assert code(env.enroll(keys, cert)) == "ok"
    assert code(env.notarize(keys)) == "ok"
    assert [(m["org"], m["role"], m["name"]) for m in env.members()] == [
        ("org2", "issuer", "市场监管局 issuer")
    ]
    assert code(env.enroll(keys, cert)) == "conflict"


def test_enrolment_refusals(env: Env) -> None:
    keys, cert = env.new_member("org1", "client", "alice")
    other = env.suite.generate_keypair()
    assert code(env.enroll(other, cert)) == "forbidden"  # someone else's certificate
    # A CA of one organisation issuing for another: acting for another org.
    rogue_keys, rogue = env.new_member("org2", "admin", "mallory", issuer_org="org1")
    assert code(env.enroll(rogue_keys, rogue)) in {
        "cert_wrong_org",
        "cert_issuer_mismatch",
        "cert_bad_signature",
    }
    # A CA that is not the chain's: same org name, different key.
    fake_ca_keys = env.suite.generate_keypair()
    now = int(time.time() * 1000)
    fake_ca = create_ca(env.suite, "org1", "org1 CA", fake_ca_keys, now - 1000, now + DAY)
    fake_keys = env.suite.generate_keypair()
    fake = issue(
        env.suite, fake_ca, fake_ca_keys.private, fake_keys.public, "org1", "admin", "eve", now, now + DAY
    )
    assert code(env.enroll(fake_keys, fake)) in {"cert_bad_signature", "cert_issuer_mismatch"}
    # An organisation the chain does not have.
    stranger_keys = env.suite.generate_keypair()
    stranger = issue(
        env.suite, fake_ca, fake_ca_keys.private, stranger_keys.public, "org1", "client", "x", now, now + DAY
    )
    assert code(env.enroll(stranger_keys, stranger)) in {"cert_bad_signature", "cert_issuer_mismatch"}
    # An expired certificate.
    old_keys, old = env.new_member("org1", "client", "old", valid_ms=1)
    time.sleep(1.2)
    assert code(env.enroll(old_keys, old)) == "cert_expired"
    assert code(env.send(keys, "membership", "enroll", {"cert": b"not a certificate"})) == "invalid_args"
    assert env.members() == []


def test_revocation_by_own_admin_only(env: Env) -> None:
    admin1 = KeyFile.load(env.out / "org1" / "admin-key.json").keys
    admin2 = KeyFile.load(env.out / "org2" / "admin-key.json").keys
    assert code(env.enroll(admin1, Certificate.load((env.out / "org1" / "admin.pem").read_bytes()))) == "ok"
    assert code(env.enroll(admin2, Certificate.load((env.out / "org2" / "admin.pem").read_bytes()))) == "ok"
    keys, cert = env.new_member("org2", "issuer", "bob")
    assert code(env.enroll(keys, cert)) == "ok"
    assert code(env.notarize(keys)) == "ok"
    # Acting for another org: org1's admin cannot revoke org2's member.
    assert code(env.send(admin1, "membership", "revoke", {"key": keys.public, "reason": "x"})) == "forbidden"
    # A non-admin cannot revoke at all.
    assert code(env.send(keys, "membership", "revoke", {"key": keys.public, "reason": "x"})) == "forbidden"
    assert code(env.notarize(keys)) == "ok"
    assert (
        code(env.send(admin2, "membership", "revoke", {"key": keys.public, "reason": "left the agency"}))
        == "ok"
    )
    before = env.tx_count()
    status, reply = env.notarize(keys)
    assert (status, code((status, reply))) == (403, "member_revoked")
    assert "revoked" in reply["error"]["message"]
    assert env.tx_count() == before
    assert code(env.enroll(keys, cert)) == "member_revoked"  # the same certificate cannot come back


def test_regulator_reads_but_never_writes(env: Env) -> None:
    keys, cert = env.new_member("org3", "regulator", "监管")
    assert code(env.enroll(keys, cert)) == "ok"
    before = env.tx_count()
    status, reply = env.notarize(keys)
    assert (status, code((status, reply))) == (403, "forbidden")
    assert env.tx_count() == before


def test_member_certificate_expiry_applies_to_later_transactions(env: Env) -> None:
    keys, cert = env.new_member("org1", "client", "brief", valid_ms=1500)
    assert code(env.enroll(keys, cert)) == "ok"
    time.sleep(2.0)
    assert code(env.notarize(keys)) == "member_expired"


def test_state_machine_checks_even_past_admission(env: Env) -> None:
    """Bypass the API's early check: the block still refuses the transaction."""
    outsider = env.suite.generate_keypair()
    body = TxBody(
        env.node.genesis.chain_id,
        outsider.public,
        "notary",
        "anchor",
        {"digest": env.suite.hash(b"x")},
        new_nonce(),
        int(time.time() * 1000) + 60_000,
    )
    tx = sign_tx(env.suite, outsider.private, body)
    env.node._inflight[tx.id] = tx.raw  # as if admitted (signature already known good)
    env.node.orderer.submit([tx])
    deadline = time.time() + 10
    while env.node.store.tx(tx.id) is None and time.time() < deadline:
        time.sleep(0.05)
    stored = env.node.store.tx(tx.id)
    assert stored is not None
    result = TxResult.decode(stored.result)
    assert result.code == "not_a_member"
    assert env.node.query("notary", "lookup", {"digest": env.suite.hash(b"x")}) == []


def test_development_chain_stays_open(tmp_path: Path) -> None:
    from govchain.node.chain import create_dev_chain

    create_dev_chain(tmp_path / "dev", "intl", params=ChainParams(block_time_ms=20))
    node = Node(tmp_path / "dev", default_registry())
    node.start()
    try:
        with TestClient(create_app(node)) as client:
            env = Env(client, node, tmp_path)
            assert code(env.notarize(env.suite.generate_keypair())) == "ok"
            assert code(env.send(env.suite.generate_keypair(), "membership", "enroll", {"cert": b"x"})) == (
                "not_a_consortium"
            )
    finally:
        node.stop()
