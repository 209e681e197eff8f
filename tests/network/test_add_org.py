"""An organisation admitted by governance joins a running 3-org network (real processes)."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from govchain.cli.main import app
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node.consortium import OrgFiles
from govchain.node.join import add_org
from govchain.node.network import Network, NetworkError, init_network, read_pids, restart_peer, status
from govchain.sdk.client import Client
from tests.network.test_network import post, running, same_blocks, wait_same_head


@pytest.fixture
def three_orgs(tmp_path: Path) -> Iterator[Path]:
    with running(tmp_path / "net", 3) as created:
        yield created.directory


@pytest.mark.slow
def test_an_admitted_org_joins_the_running_network(three_orgs: Path) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["network", "add-org", str(three_orgs), "--org", "org1"])
    assert refused.exit_code == 1 and "org_exists" in refused.output

    args = ["network", "add-org", str(three_orgs), "--org", "archives", "--name-zh", "档案局"]
    result = runner.invoke(app, [*args, "--name-en", "Archives Bureau"])
    assert result.exit_code == 0, result.output
    network = Network.load(three_orgs)
    assert [n.org for n in network.orgs] == ["org1", "org2", "org3", "archives"]
    joined = network.orgs[-1]
    folder = network.folder("archives")
    assert stat.S_IMODE((folder / "tls" / "peer-key.pem").stat().st_mode) == 0o600
    for node in network.orgs[:3]:  # every server trusts the new CA and knows the new user and route
        conf = (network.folder(node.org) / "nats.conf").read_text()
        assert 'user: "CN=archives peer,O=archives"' in conf and f":{joined.cluster_port}" in conf
    assert {p["name"] for p in read_pids(three_orgs)} >= {"archives-nats", "archives-peer"}

    # the new org is a member from the decision's height: its admin enrols through its own peer
    suite = get_suite("intl")
    chain_id = httpx.get(f"{joined.api_url}/v1/chain", timeout=5).json()["chain_id"]
    admin = KeyFile.load(folder / "admin-key.json").keys
    cert = Certificate.load((folder / "admin.pem").read_bytes()).der
    expiry = int(time.time() * 1000) + 120_000
    enrol = make_tx(suite, admin, chain_id, "membership", "enroll", {"cert": cert}, expiry)
    assert [r["code"] for r in post(joined, [enrol])] == ["ok"]
    anchors = [
        make_tx(suite, admin, chain_id, "notary", "anchor", {"digest": suite.hash(b"%d" % i)}, expiry)
        for i in range(8)
    ]
    assert {r["code"] for r in post(network.orgs[1], anchors)} == {"ok"}  # through another org's peer

    # all four peers (the new one replayed the stream from its start) hold the same final blocks
    rows = wait_same_head(network, timeout=60)
    same_blocks(network, rows[0]["height"])
    orgs = httpx.get(f"{network.orgs[0].api_url}/v1/orgs", timeout=5).json()["orgs"]
    assert [o["id"] for o in orgs][-1] == "archives" and orgs[-1]["name_en"] == "Archives Bureau"


@pytest.mark.parametrize(("org", "reason"), [("Bad_Org", "invalid_org"), ("org2", "org_exists")])
def test_add_org_refuses_bad_ids_and_writes_nothing(tmp_path: Path, org: str, reason: str) -> None:
    network = init_network(tmp_path / "net", 2, "intl", 24300, 24500)
    before = {p: p.read_bytes() for p in network.directory.rglob("*.conf")}
    with pytest.raises(NetworkError) as caught:
        add_org(network, org, org, org)
    assert caught.value.reason == reason
    assert not (network.directory / "Bad_Org").exists()
    assert {p: p.read_bytes() for p in network.directory.rglob("*.conf")} == before
    assert [n.org for n in Network.load(network.directory).orgs] == ["org1", "org2"]


def test_add_org_without_a_running_network_is_refused(tmp_path: Path) -> None:
    init_network(tmp_path / "net", 2, "intl", 24300, 24500)
    result = CliRunner().invoke(app, ["network", "add-org", str(tmp_path / "net"), "--org", "org3"])
    assert result.exit_code == 2 and "not_running" in result.output
    assert not (tmp_path / "net" / "org3").exists()


def _final_height(network: Network, org: str) -> int:
    row = next(r for r in status(network) if r["org"] == org)
    return int(row["final_height"] or 0)


def _wait_final(network: Network, org: str, height: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _final_height(network, org) < height:
        assert time.monotonic() < deadline, f"block {height} did not become final on {org}"
        time.sleep(0.2)


def _kill_peer(network: Network, org: str) -> None:
    victim = next(p for p in read_pids(network.directory) if p["name"] == f"{org}-peer")
    os.kill(victim["pid"], signal.SIGKILL)
    os.waitpid(victim["pid"], 0)


@pytest.mark.slow
def test_a_joined_orgs_peer_counts_toward_finality(tmp_path: Path) -> None:
    with running(tmp_path / "net", 4) as created:
        runner = CliRunner()
        result = runner.invoke(app, ["network", "add-org", str(created.directory), "--org", "org5"])
        assert result.exit_code == 0, result.output
        network = Network.load(created.directory)
        org1, org5 = network.orgs[0], network.orgs[-1]
        folder = network.folder("org5")
        peer5 = KeyFile.load(OrgFiles("org5", folder).key("peer")).keys.public.hex()
        suite = get_suite("intl")
        chain_id = httpx.get(f"{org1.api_url}/v1/chain", timeout=5).json()["chain_id"]
        admin = KeyFile.load(folder / "admin-key.json").keys
        expiry = int(time.time() * 1000) + 300_000
        cert = Certificate.load((folder / "admin.pem").read_bytes()).der
        enrol = make_tx(suite, admin, chain_id, "membership", "enroll", {"cert": cert}, expiry)
        assert [r["code"] for r in post(org5, [enrol])] == ["ok"]

        def anchor(tag: bytes) -> SignedTx:
            return make_tx(suite, admin, chain_id, "notary", "anchor", {"digest": suite.hash(tag)}, expiry)

        first = anchor(b"after the join")
        assert [r["code"] for r in post(org1, [first])] == ["ok"]

        # every peer final at one head; the new peer's signature is among the counted ones
        rows = wait_same_head(network, timeout=90)
        block = httpx.get(f"{org1.api_url}/v1/blocks/{rows[0]['height']}", timeout=5).json()
        assert peer5 in [s["key"] for s in block["signatures"]]
        assert httpx.get(f"{org5.api_url}/v1/status", timeout=5).json()["signers"] == 5

        # a receipt from after the join: 5 signers, reached from the genesis; verifies offline
        receipt = Client(org1.api_url).receipt(first.id)
        changes = receipt["block"]["signer_changes"]
        assert len(changes[-1]["signers"]) == 5 and peer5 in changes[-1]["signers"]
        path = tmp_path / "after-join.receipt.json"
        path.write_text(json.dumps(receipt))
        checked = runner.invoke(app, ["verify", str(path), "--json"])
        assert checked.exit_code == 0, checked.output
        assert json.loads(checked.output)["signers"] >= 4  # more than 2/3 of 5

        forged = json.loads(json.dumps(receipt))
        forged["block"]["signer_changes"][-1]["signers"].remove(peer5)  # a set the chain never recorded
        path.write_text(json.dumps(forged))
        refused = runner.invoke(app, ["verify", str(path), "--json"])
        assert refused.exit_code == 1
        verdict = json.loads(refused.output)
        assert verdict["failure"] == "signature" and "does not hold this signer set" in verdict["message"]

        # quorum over 5 signers: with one genesis org's peer down, 4 of 5 still finalise
        _kill_peer(network, "org4")
        second = anchor(b"four of five")
        [reply] = post(org1, [second])
        assert reply["code"] == "ok"
        height = httpx.get(f"{org1.api_url}/v1/txs/{second.id.hex()}", timeout=5).json()["height"]
        _wait_final(network, "org1", height)

        # with two down, 3 of 5 is not more than 2/3: committed, not final until a peer returns
        _kill_peer(network, "org3")
        third = anchor(b"three of five")
        assert [r["code"] for r in post(org1, [third])] == ["ok"]
        height = httpx.get(f"{org1.api_url}/v1/txs/{third.id.hex()}", timeout=5).json()["height"]
        time.sleep(3)  # time for any signature to arrive; none may make it final
        assert _final_height(network, "org1") < height
        reply = httpx.get(f"{org1.api_url}/v1/txs/{third.id.hex()}/receipt", timeout=5)
        assert reply.status_code == 409 and reply.json()["error"]["code"] == "not_final"
        restart_peer(network, "org3")
        _wait_final(network, "org1", height)


@pytest.mark.slow
def test_network_restart_brings_a_crashed_org_back(three_orgs: Path) -> None:
    network = Network.load(three_orgs)
    for item in read_pids(three_orgs):  # org3's machine loses power: server and peer
        if item["name"].startswith("org3-"):
            os.kill(item["pid"], signal.SIGKILL)
            os.waitpid(item["pid"], 0)
    runner = CliRunner()
    refused = runner.invoke(app, ["network", "restart", str(three_orgs), "--org", "org9"])
    assert refused.exit_code == 1 and "unknown_org" in refused.output
    result = runner.invoke(app, ["network", "restart", str(three_orgs), "--org", "org3"])
    assert result.exit_code == 0, result.output
    assert "org3 is up" in result.output
    alive = {p["name"] for p in read_pids(three_orgs) if os.path.exists(f"/proc/{p['pid']}")}
    assert {"org3-nats", "org3-peer"} <= alive

    suite = get_suite("intl")
    org1 = network.orgs[0]
    chain_id = httpx.get(f"{org1.api_url}/v1/chain", timeout=5).json()["chain_id"]
    folder = network.folder("org1")
    admin = KeyFile.load(folder / "admin-key.json").keys
    expiry = int(time.time() * 1000) + 120_000
    cert = Certificate.load((folder / "admin.pem").read_bytes()).der
    enrol = make_tx(suite, admin, chain_id, "membership", "enroll", {"cert": cert}, expiry)
    assert [r["code"] for r in post(network.orgs[2], [enrol])] == ["ok"]  # through the restarted peer
    wait_same_head(network, timeout=60)
