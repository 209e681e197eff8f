"""An organisation removed by governance leaves a running network (real processes)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from govchain.cli.main import app
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.transactions import make_tx
from govchain.node.leave import check_removable, shrink
from govchain.node.nats_tls import (
    CAS_FILE,
    TLS_DIR,
)
from govchain.node.network import Network, NetworkError, init_network, read_pids, status
from tests.network.clients import meta_group, peer_connects
from tests.network.test_network import post, post_until_accepted, running, wait_same_head


@pytest.mark.slow
def test_a_removed_org_leaves_the_network_and_the_rest_carry_on(tmp_path: Path) -> None:
    with running(tmp_path / "net", 4) as created:
        runner = CliRunner()
        directory = str(created.directory)
        org1_url, org4_folder = created.orgs[0].nats_url, created.folder("org4")
        assert meta_group(created, created.orgs[0])["cluster_size"] == 4
        assert peer_connects(org1_url, org4_folder, "org4")
        unknown = runner.invoke(app, ["network", "remove-org", directory, "--org", "org9"])
        assert unknown.exit_code == 1 and "unknown_org" in unknown.output

        result = runner.invoke(app, ["network", "remove-org", directory, "--org", "org4"])
        assert result.exit_code == 0, result.output
        assert "removed by governance" in result.output and "meta group of 3 servers" in result.output
        network = Network.load(created.directory)
        assert [n.org for n in network.orgs] == ["org1", "org2", "org3"] and network.replicas == 3

        # its processes stopped; its server, user, route and TLS CA gone from every remaining config
        org4_ca = (created.folder("org4") / TLS_DIR / "ca.pem").read_bytes()
        assert not any(p["name"].startswith("org4-") for p in read_pids(network.directory))
        for node in network.orgs:
            folder = network.folder(node.org)
            conf = (folder / "nats.conf").read_text()
            assert "org4" not in conf and f":{created.orgs[3].cluster_port}" not in conf
            assert org4_ca not in (folder / TLS_DIR / CAS_FILE).read_bytes()
            peer = json.loads((folder / "peer.json").read_text())
            assert created.orgs[3].nats_url not in peer["servers"]
            assert created.orgs[3].api_url not in peer["peers"]
        assert not peer_connects(org1_url, org4_folder, "org4")  # its credential no longer opens the door
        assert meta_group(network, network.orgs[0])["cluster_size"] == 3
        shown = runner.invoke(app, ["network", "status", directory, "--cluster", "--json"])
        assert shown.exit_code == 0, shown.output
        cluster = json.loads(shown.output)["cluster"]
        assert len(cluster["leaders"]) == 1 and {s["size"] for s in cluster["servers"]} == {3}
        for stream in cluster["streams"]:  # three replicas, none on org4's server, all current
            assert sorted(r["server"] for r in stream["replicas"]) == ["org1", "org2", "org3"]

        # on chain: no longer an org; three header signers
        org1 = network.orgs[0]
        orgs = httpx.get(f"{org1.api_url}/v1/orgs", timeout=5).json()["orgs"]
        assert [o["id"] for o in orgs] == ["org1", "org2", "org3"]
        assert httpx.get(f"{org1.api_url}/v1/status", timeout=5).json()["signers"] == 3

        suite = get_suite("intl")
        chain_id = httpx.get(f"{org1.api_url}/v1/chain", timeout=5).json()["chain_id"]
        expiry = int(time.time() * 1000) + 300_000
        folder = network.folder("org2")
        admin = KeyFile.load(folder / "admin-key.json").keys

        def anchors(tag: str, n: int) -> list[Any]:
            return [
                make_tx(
                    suite,
                    admin,
                    chain_id,
                    "notary",
                    "anchor",
                    {"digest": suite.hash(f"{tag}{i}".encode())},
                    expiry,
                )
                for i in range(n)
            ]

        cert = Certificate.load((folder / "admin.pem").read_bytes()).der
        enrol = make_tx(suite, admin, chain_id, "membership", "enroll", {"cert": cert}, expiry)
        assert [r["code"] for r in post(network.orgs[1], [enrol])] in (["ok"], ["conflict"])
        assert {r["code"] for r in post(network.orgs[1], anchors("after", 6))} == {"ok"}
        wait_same_head(network, timeout=60)

        # the meta group has three servers now: with one of them killed, the peer of the killed
        # server's org fails over, and blocks still become final on all three. (Had the meta group
        # kept counting org4's server, two of its four would be gone: this is where it stalled.)
        victim = next(p for p in read_pids(network.directory) if p["name"] == "org3-nats")
        os.kill(victim["pid"], signal.SIGKILL)
        os.waitpid(victim["pid"], 0)
        post_until_accepted(org1, anchors("one server down", 6))  # "overloaded" while leaders move
        deadline = time.monotonic() + 60
        while True:
            rows = status(network)
            heads = {(r["height"], r["final_height"]) for r in rows}
            if (
                len(heads) == 1
                and rows[0]["height"] is not None
                and rows[0]["height"] == rows[0]["final_height"]
            ):
                break
            assert time.monotonic() < deadline, f"not final on every remaining peer: {rows}"
            time.sleep(0.3)

        again = runner.invoke(app, ["network", "remove-org", directory, "--org", "org4"])
        assert again.exit_code == 1 and "unknown_org" in again.output


def test_remove_org_checks_before_it_changes_anything(tmp_path: Path) -> None:
    network = init_network(tmp_path / "net", 3, "intl", 24300, 24500)
    before = {p: p.read_bytes() for p in network.directory.rglob("*") if p.is_file()}
    runner = CliRunner()
    stopped = runner.invoke(app, ["network", "remove-org", str(network.directory), "--org", "org3"])
    assert stopped.exit_code == 2 and "not_running" in stopped.output
    listed = runner.invoke(
        app, ["network", "remove-org", str(network.directory), "--org", "org3", "--forget-only"]
    )
    assert listed.exit_code == 2 and "still_member" in listed.output
    assert {p: p.read_bytes() for p in network.directory.rglob("*") if p.is_file()} == before

    alone = init_network(tmp_path / "one", 1, "intl", 24600, 24800)
    with pytest.raises(NetworkError) as caught:
        check_removable(alone, "org1")
    assert caught.value.reason == "last_org"


def test_shrink_drops_the_org_from_every_remaining_config(tmp_path: Path) -> None:
    network = init_network(tmp_path / "net", 3, "intl", 24300, 24500)
    saved = (network.directory / "network.json").read_bytes()
    shrunk = shrink(network, "org2")
    assert [n.org for n in shrunk.orgs] == ["org1", "org3"] and shrunk.replicas == 2
    assert (network.directory / "network.json").read_bytes() == saved  # saved only once all is done
    cas = [network.folder(o) / TLS_DIR / "ca.pem" for o in ("org1", "org3")]
    for org in ("org1", "org3"):
        folder = network.folder(org)
        assert (folder / TLS_DIR / CAS_FILE).read_bytes() == b"".join(p.read_bytes() for p in cas)
        conf = (folder / "nats.conf").read_text()
        assert "org2" not in conf and conf.count("nats-route://") == 2
        assert f'user: "CN={org} system,O={org}"' in conf  # its own system user only
        assert conf.count(" system,O=") == 1
        peer = json.loads((folder / "peer.json").read_text())
        assert peer["replicas"] == 2 and len(peer["servers"]) == 2
    assert (network.folder("org1") / TLS_DIR / "system.pem").is_file()
    assert oct(os.stat(network.folder("org1") / TLS_DIR / "system-key.pem").st_mode & 0o777) == "0o600"
