"""`govchain consortium init` and a node running on its genesis, for both suites."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from govchain.api.app import create_app
from govchain.cli.main import app
from govchain.contracts import default_registry
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, CertificateError, verify_issued_by
from govchain.ledger.blocks import Genesis
from govchain.ledger.orgs import Org, check_orgs, genesis_orgs
from govchain.ledger.transactions import TxBody, new_nonce, sign_tx
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, SUMMARY_FILE, OrgFiles, init_consortium
from govchain.node.node import Node

SUITES = ["intl", "gm"]


@pytest.mark.parametrize("suite_name", SUITES)
def test_init_writes_every_identity(tmp_path: Path, suite_name: str) -> None:
    suite = get_suite(suite_name)
    out = tmp_path / "cons"
    genesis = init_consortium(out, 3, suite_name)
    data = (out / GENESIS_FILE).read_bytes()
    assert Genesis.decode(data) == genesis
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["genesis_hash"] == suite.hash(data).hex()
    orgs = genesis_orgs(genesis)
    assert [o.id for o in orgs] == ["org1", "org2", "org3"]
    assert [o.name_zh for o in orgs] == ["组织1", "组织2", "组织3"]
    check_orgs(suite, orgs, genesis.time)
    now = int(time.time() * 1000)
    for org in orgs:
        files = OrgFiles(org.id, out / org.id)
        assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
        ca = Certificate.load(files.ca.read_bytes())
        assert ca.der == org.ca and ca.is_ca
        for who in ("admin", "peer"):
            key_path = files.key(who)
            assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
            key = KeyFile.load(key_path)
            cert = Certificate.load(files.cert(who).read_bytes())
            assert cert.public_key == key.keys.public
            assert (cert.subject_org, cert.subject_role) == (org.id, who)
            verify_issued_by(suite, cert, ca, now)
        assert stat.S_IMODE(files.key("ca").stat().st_mode) == 0o600
        assert org.peers == (KeyFile.load(files.key("peer")).keys.public,)
    # A member of org2 does not chain to org1's CA.
    org2_admin = Certificate.load((out / "org2" / "admin.pem").read_bytes())
    with pytest.raises(CertificateError):
        verify_issued_by(suite, org2_admin, orgs[0].ca_certificate(), now)
    # The solo signer is org1's peer.
    assert genesis.signers == orgs[0].peers


def test_init_refuses_to_overwrite_and_bad_counts(tmp_path: Path) -> None:
    init_consortium(tmp_path / "c", 1, "intl")
    with pytest.raises(FileExistsError):
        init_consortium(tmp_path / "c", 2, "intl")
    with pytest.raises(ValueError):
        init_consortium(tmp_path / "d", 0, "intl")


def test_org_checks_reject_bad_consortia(tmp_path: Path) -> None:
    suite = get_suite("intl")
    genesis = init_consortium(tmp_path / "c", 2, "intl")
    org1, org2 = genesis_orgs(genesis)
    at = genesis.time
    with pytest.raises(ValueError, match="unique"):
        check_orgs(suite, [org1, org1], at)
    with pytest.raises(ValueError, match="names organisation"):
        check_orgs(suite, [Org("org9", "九", "Nine", org1.ca, ())], at)
    with pytest.raises(ValueError, match="not valid"):
        check_orgs(get_suite("gm"), [org1], at)  # an intl CA on a gm chain
    tampered = bytearray(org2.ca)
    tampered[-5] ^= 1
    with pytest.raises(ValueError, match="not valid"):
        check_orgs(suite, [Org("org2", "二", "Two", bytes(tampered), org2.peers)], at)
    with pytest.raises(ValueError, match="one organisation"):
        check_orgs(suite, [org1, Org(org2.id, "二", "Two", org2.ca, org1.peers)], at)
    for bad in (
        {**org1.to_value(), "id": "Org One"},
        {**org1.to_value(), "name_en": ""},
        {**org1.to_value(), "peers": [b"short"]},
        {**org1.to_value(), "extra": 1},
    ):
        with pytest.raises(ValueError):
            Org.from_value(bad)


@pytest.mark.parametrize("suite_name", SUITES)
def test_node_runs_on_the_consortium_genesis(tmp_path: Path, suite_name: str) -> None:
    out = tmp_path / "cons"
    init_consortium(out, 3, suite_name)
    data = tmp_path / "node"
    adopt_genesis(data, (out / GENESIS_FILE).read_bytes(), KeyFile.load(out / "org1" / "peer-key.json"))
    node = Node(data, default_registry())
    node.start()
    try:
        assert node.is_signer and [o.id for o in node.orgs] == ["org1", "org2", "org3"]
        with TestClient(create_app(node)) as client:
            orgs = client.get("/v1/orgs").json()["orgs"]
            assert [(o["id"], o["name_en"]) for o in orgs] == [
                (f"org{i}", f"Organisation {i}") for i in (1, 2, 3)
            ]
            assert Certificate.load(orgs[1]["ca_pem"].encode()).subject_org == "org2"
            admin = KeyFile.load(out / "org2" / "admin-key.json").keys
            enrol = sign_tx(
                node.suite,
                admin.private,
                TxBody(
                    node.genesis.chain_id,
                    admin.public,
                    "membership",
                    "enroll",
                    {"cert": Certificate.load((out / "org2" / "admin.pem").read_bytes()).der},
                    new_nonce(),
                    int(time.time() * 1000) + 60_000,
                ),
            )
            reply = client.post(
                "/v1/txs",
                content=enrol.raw,
                headers={"content-type": "application/cbor"},
                params={"wait": "true"},
            )
            assert reply.json()["code"] == "ok", reply.json()
            key = admin
            tx = sign_tx(
                node.suite,
                key.private,
                TxBody(
                    node.genesis.chain_id,
                    key.public,
                    "notary",
                    "anchor",
                    {"digest": node.suite.hash(b"x")},
                    new_nonce(),
                    int(time.time() * 1000) + 60_000,
                ),
            )
            reply = client.post(
                "/v1/txs",
                content=tx.raw,
                headers={"content-type": "application/cbor"},
                params={"wait": "true"},
            )
            assert reply.json()["code"] == "ok"
    finally:
        node.stop()


def test_adopting_needs_a_matching_key(tmp_path: Path) -> None:
    out = tmp_path / "cons"
    init_consortium(out, 1, "intl")
    with pytest.raises(ValueError, match="suite"):
        adopt_genesis(tmp_path / "n", (out / GENESIS_FILE).read_bytes(), KeyFile.generate(get_suite("gm")))


def test_cli_consortium_init(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "net"
    result = runner.invoke(app, ["consortium", "init", "--orgs", "2", "--suite", "gm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"govchain up --consortium {out}" in result.output.replace("\n", "")
    again = runner.invoke(app, ["consortium", "init", "--orgs", "2", "--out", str(out)])
    assert again.exit_code == 2 and "already holds" in " ".join(again.output.split())  # rich wraps long paths
    missing = runner.invoke(app, ["up", "--consortium", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "consortium init" in missing.output
