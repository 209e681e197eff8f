"""Restricted reads: checked in the state machine, recorded on chain, auditors audited too."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.crypto import KeyPair
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node.chain import create_dev_chain
from govchain.node.node import Node
from tests.conftest import CBOR, Env, code


def member(env: Env, org: str, role: str, name: str) -> KeyPair:
    keys, cert = env.new_member(org, role, name)
    assert code(env.enroll(keys, cert)) == "ok"
    return keys


def read_tx(
    env: Env, keys: KeyPair, contract: str, query: str, args: dict[str, Any], purpose: str
) -> SignedTx:
    expiry = int(time.time() * 1000) + 60_000
    body = {"contract": contract, "query": query, "args": args, "purpose": purpose}
    return make_tx(env.suite, keys, env.node.genesis.chain_id, "audit", "read", body, expiry)


def read(
    env: Env, keys: KeyPair, contract: str, query: str, args: dict[str, Any], purpose: str = "inspection"
) -> tuple[int, dict[str, Any]]:
    tx = read_tx(env, keys, contract, query, args, purpose)
    reply = env.client.post("/v1/reads", content=tx.raw, headers=CBOR)
    return reply.status_code, reply.json()


def access_records(env: Env) -> list[bytes]:
    """The access log straight from committed state (a way to look that records nothing)."""
    return [key for key, _ in env.node.store.state_scan(b"audit/a/", 10_000)]


def test_regulator_reads_everything_and_every_read_is_recorded(env: Env) -> None:
    issuer = member(env, "org2", "issuer", "市场监管局 issuer")
    regulator = member(env, "org3", "regulator", "审计监管")
    auditor = member(env, "org1", "auditor", "内审")
    assert code(env.notarize(issuer)) == "ok"
    assert code(env.send(issuer, "notary", "anchor", {"digest": bytes(32)})) == "ok"

    status, body = read(env, regulator, "notary", "by_org", {"org": "org2"}, "annual inspection")
    assert status == 200, body
    assert [item["count"] for item in body["data"]] == [1, 1]
    assert body["data"][0]["height"] > body["data"][1]["height"]  # newest first
    read_height = body["height"]

    status, body = read(env, auditor, "audit", "access_log", {}, "quarterly audit")
    assert status == 200, body
    own, entry = body["data"]  # newest first: the log already holds this very read
    assert (own["role"], own["query"], own["purpose"]) == ("auditor", "access_log", "quarterly audit")
    assert own["height"] == body["height"]
    assert (entry["org"], entry["role"], entry["contract"], entry["query"]) == (
        "org3",
        "regulator",
        "notary",
        "by_org",
    )
    assert entry["args"] == {"org": "org2"}
    assert entry["purpose"] == "annual inspection"
    assert entry["height"] == read_height
    assert entry["reader"] == regulator.public.hex()

    # The auditor's own read is on record: a regulator sees it.
    status, body = read(env, regulator, "audit", "access_log", {"org": "org1"}, "who audited")
    assert status == 200, body
    assert [(e["role"], e["query"], e["purpose"]) for e in body["data"]] == [
        ("auditor", "access_log", "quarterly audit")
    ]
    assert len(access_records(env)) == 3


def test_members_read_only_their_own_organisation(env: Env) -> None:
    issuer2 = member(env, "org2", "issuer", "org2 issuer")
    issuer3 = member(env, "org3", "issuer", "org3 issuer")
    assert code(env.notarize(issuer2)) == "ok"
    assert code(env.notarize(issuer3)) == "ok"

    status, body = read(env, issuer2, "notary", "by_org", {"org": "org2"})
    assert status == 200, body
    assert len(body["data"]) == 1
    records, tx_count = access_records(env), env.tx_count()

    status, body = read(env, issuer2, "notary", "by_org", {"org": "org3"})
    assert (status, code((status, body))) == (403, "forbidden")
    assert "data" not in body
    assert access_records(env) == records  # a refused read records nothing ...
    assert env.tx_count() == tx_count + 1  # ... but the refused attempt is itself a transaction on chain


@pytest.mark.parametrize("role", ["client", "issuer", "admin"])
def test_only_regulators_and_auditors_read_the_access_log(env: Env, role: str) -> None:
    keys = member(env, "org2", role, f"a {role}")
    records = access_records(env)
    status, body = read(env, keys, "audit", "access_log", {})
    assert (status, code((status, body))) == (403, "forbidden")
    assert access_records(env) == records


def test_refused_reads_each_have_their_reason(env: Env) -> None:
    regulator = member(env, "org3", "regulator", "监管")
    outsider = env.suite.generate_keypair()
    records = access_records(env)

    assert code(read(env, regulator, "notary", "lookup", {"digest": bytes(32)})) == "unknown_query"
    assert code(read(env, regulator, "nope", "by_org", {})) == "unknown_query"
    assert code(read(env, outsider, "notary", "by_org", {"org": "org1"})) == "not_a_member"
    assert code(read(env, regulator, "notary", "by_org", {"org": "org1"}, purpose="  ")) == "invalid_args"
    assert code(read(env, regulator, "notary", "by_org", {"org": "x" * 5000})) == "invalid_args"
    assert access_records(env) == records

    # Only audit.read transactions are served here.
    tx = make_tx(
        env.suite,
        regulator,
        env.node.genesis.chain_id,
        "notary",
        "anchor",
        {"digest": bytes(32)},
        int(time.time() * 1000) + 60_000,
    )
    reply = env.client.post("/v1/reads", content=tx.raw, headers=CBOR)
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "bad_request")
    reply = env.client.post("/v1/reads", content=b"\xa0", headers=CBOR)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "malformed"

    # A read transaction (public on chain once committed) cannot be replayed to get the data again.
    tx = read_tx(env, regulator, "notary", "by_org", {"org": "org1"}, "once")
    assert env.client.post("/v1/reads", content=tx.raw, headers=CBOR).status_code == 200
    reply = env.client.post("/v1/reads", content=tx.raw, headers=CBOR)
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "replayed")
    assert "data" not in reply.json()
    assert len(access_records(env)) == len(records) + 1


def test_restricted_queries_are_not_public(env: Env) -> None:
    with pytest.raises(KeyError):
        env.node.query("notary", "by_org", {"org": "org1"})
    with pytest.raises(KeyError):
        env.node.query("audit", "access_log", {})


def test_development_chain_is_open_and_still_records_reads(tmp_path: Path) -> None:
    data = tmp_path / "dev"
    create_dev_chain(data, "intl")
    node = Node(data, default_registry())
    node.start()
    try:
        with TestClient(create_app(node)) as client:
            keys = node.suite.generate_keypair()
            expiry = int(time.time() * 1000) + 60_000
            body = {"contract": "audit", "query": "access_log", "args": {}, "purpose": "look"}
            tx = make_tx(node.suite, keys, node.genesis.chain_id, "audit", "read", body, expiry)
            reply = client.post("/v1/reads", content=tx.raw, headers=CBOR)
            assert reply.status_code == 200, reply.json()
            assert reply.json()["data"][0]["org"] == ""
            assert reply.json()["data"][0]["reader"] == keys.public.hex()
    finally:
        node.stop()
