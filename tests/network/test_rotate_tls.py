"""Replacing an organisation's NATS TLS CA: its old certificates open nothing, the network carries on."""

from __future__ import annotations

import json
import shutil
import stat
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from govchain.cli.main import app
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.transactions import make_tx
from govchain.node import rotate
from govchain.node.nats_tls import CAS_FILE, PREVIOUS_CA, TLS_DIR
from govchain.node.network import Network, NetworkError, init_network
from tests.network.clients import peer_connects
from tests.network.test_network import post, running, wait_same_head

LEAVES = ("server.pem", "peer.pem", "operator.pem", "system.pem")


def _cas(path: Path) -> list[bytes]:
    """The certificates of a PEM bundle, each as DER."""
    certificates = x509.load_pem_x509_certificates(path.read_bytes())
    return [c.public_bytes(serialization.Encoding.DER) for c in certificates]


@pytest.mark.slow
def test_a_rotated_orgs_old_certificates_open_nothing(tmp_path: Path) -> None:
    with running(tmp_path / "net", 4) as network:
        org1, org2 = network.orgs[0], network.orgs[1]
        old = tmp_path / "old-org2"  # what a thief of org2's old peer key would hold
        shutil.copytree(network.folder("org2") / TLS_DIR, old / TLS_DIR)
        assert peer_connects(org1.nats_url, old, "org2")

        result = CliRunner().invoke(app, ["network", "rotate-tls", str(network.directory), "--org", "org2"])
        assert result.exit_code == 0, result.output
        assert "trusted nowhere" in result.output

        tls = network.folder("org2") / TLS_DIR
        assert not (tls / PREVIOUS_CA).exists()
        assert (tls / "ca.pem").read_bytes() != (old / TLS_DIR / "ca.pem").read_bytes()
        for leaf in LEAVES:  # every certificate and key is new, keys still 0600
            assert (tls / leaf).read_bytes() != (old / TLS_DIR / leaf).read_bytes()
            key = tls / leaf.replace(".pem", "-key.pem")
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
        current = [c for n in network.orgs for c in _cas(network.folder(n.org) / TLS_DIR / "ca.pem")]
        for node in network.orgs:
            assert _cas(network.folder(node.org) / TLS_DIR / CAS_FILE) == current

        for node in network.orgs:  # the old credential is refused by every server, the new one let in
            assert not peer_connects(node.nats_url, old, "org2")
        assert peer_connects(org1.nats_url, network.folder("org2"), "org2")

        # org2's peer, back with its new certificate, takes transactions and signs final blocks
        suite = get_suite("intl")
        chain_id = httpx.get(f"{org1.api_url}/v1/chain", timeout=5).json()["chain_id"]
        expiry = int(time.time() * 1000) + 120_000
        folder = network.folder("org2")
        admin = KeyFile.load(folder / "admin-key.json").keys
        cert = Certificate.load((folder / "admin.pem").read_bytes()).der
        enrol = make_tx(suite, admin, chain_id, "membership", "enroll", {"cert": cert}, expiry)
        assert [r["code"] for r in post(org2, [enrol])] == ["ok"]
        digest = suite.hash(b"rotated")
        anchor = make_tx(suite, admin, chain_id, "notary", "anchor", {"digest": digest}, expiry)
        assert [r["code"] for r in post(org2, [anchor])] == ["ok"]
        rows = wait_same_head(network, timeout=60)
        block = httpx.get(f"{org1.api_url}/v1/blocks/{rows[0]['height']}", timeout=5).json()
        assert len(block["signatures"]) == 4


def test_rotation_steps_and_their_refusals(tmp_path: Path) -> None:
    network = init_network(tmp_path / "net", 3, "intl", 24300, 24500)
    bundle = network.folder("org1") / TLS_DIR / CAS_FILE
    before = _cas(bundle)
    rotate.begin(network, "org3")
    during = _cas(bundle)
    assert len(during) == 4 and set(before) < set(during)  # the old CA and the new one
    assert rotate.pending(network) == ["org3"]
    shown = CliRunner().invoke(app, ["network", "status", str(network.directory)])
    assert "org3's TLS rotation has begun and not finished" in " ".join(shown.output.split())
    with pytest.raises(NetworkError) as twice:
        rotate.begin(network, "org3")
    assert twice.value.reason == "rotation_pending"
    rotate.finish(network, "org3")
    after = _cas(bundle)
    assert len(after) == 3 and after[:2] == before[:2] and after[2] not in before
    assert rotate.pending(network) == []
    shown = CliRunner().invoke(app, ["network", "status", str(network.directory)])
    assert "rotation" not in shown.output
    with pytest.raises(NetworkError) as none:
        rotate.finish(network, "org3")
    assert none.value.reason == "no_rotation"
    with pytest.raises(NetworkError) as unknown:
        rotate.begin(network, "org9")
    assert unknown.value.reason == "unknown_org"

    (network.folder("org2") / TLS_DIR / "ca-key.pem").unlink()  # as on an org's own machine
    files = {p: p.read_bytes() for p in network.directory.rglob("*") if p.is_file()}
    with pytest.raises(NetworkError) as keyless:
        rotate.begin(network, "org2")
    assert keyless.value.reason == "no_ca_key"
    assert {p: p.read_bytes() for p in network.directory.rglob("*") if p.is_file()} == files


def test_rotating_a_stopped_network_takes_effect_at_the_next_up(tmp_path: Path) -> None:
    network = init_network(tmp_path / "net", 2, "intl", 24300, 24500)
    old_ca = (network.folder("org2") / TLS_DIR / "ca.pem").read_bytes()
    result = CliRunner().invoke(app, ["network", "rotate-tls", str(network.directory), "--org", "org2"])
    assert result.exit_code == 0, result.output
    bundle = (network.folder("org1") / TLS_DIR / CAS_FILE).read_bytes()
    assert old_ca not in bundle and (network.folder("org2") / TLS_DIR / "ca.pem").read_bytes() in bundle
    assert Network.load(network.directory) == network


def test_status_warns_before_a_tls_certificate_runs_out(tmp_path: Path) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from govchain.node.nats_tls import issue_cert, tls_name

    network = init_network(tmp_path / "net", 2, "intl", 24300, 24500)
    runner = CliRunner()
    calm = runner.invoke(app, ["network", "status", str(network.directory)])
    assert calm.exit_code == 0 and "warning" not in calm.output  # fresh certificates: 3 years

    tls = network.folder("org2") / TLS_DIR  # org2's peer certificate, issued long ago
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((tls / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_cert(ca, ca_key, tls_name("org2", "org2 peer"), key, [ExtendedKeyUsageOID.CLIENT_AUTH])
    short = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1000))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=20, hours=1))
        .sign(ca_key, cert.signature_hash_algorithm)
    )
    (tls / "peer.pem").write_bytes(short.public_bytes(serialization.Encoding.PEM))

    shown = runner.invoke(app, ["network", "status", str(network.directory), "--json"])
    rows = json.loads(shown.output)
    assert rows[1]["tls_expires"]["file"] == "peer.pem" and rows[0]["tls_expires"]["file"] != "peer.pem"
    warned = runner.invoke(app, ["network", "status", str(network.directory)])
    text = " ".join(warned.output.split())
    assert "org2's NATS TLS certificate peer.pem expires in 20 days" in text
    assert "govchain network rotate-tls" in text and "--org org2" in text and "org1's" not in text
