"""A 4-organisation network of real processes: 4 nats-servers (JetStream, 3 replicas) and 4 peers.

Transactions go in through every peer; every peer must end with the same headers and state.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from rich.progress import Progress
from typer.testing import CliRunner

from govchain.cli.bench_network import run_network_bench
from govchain.cli.main import app
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node import network as net
from govchain.node.network import Network, down, init_network, read_pids, restart_peer, status, up
from govchain.sdk.client import Client
from govchain.verify.receipt import verify_receipt

CBOR = {"content-type": "application/cbor"}
ORGS = 4


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_bases() -> tuple[int, int]:
    """A NATS port base and an API port base whose ports are all free on 127.0.0.1.

    Below Linux's ephemeral range (32768-60999): there, a server's outgoing route connection may
    take a port another server of the test is about to listen on."""
    for _ in range(200):
        nats, api = random.randrange(12000, 24000, 200), random.randrange(24000, 32000, 10)
        ports = [nats + i for i in range(1, ORGS + 1)] + [nats + 100 + i for i in range(1, ORGS + 1)]
        ports += [api + i for i in range(1, ORGS + 1)]
        if all(_free(p) for p in ports):
            return nats, api
    raise RuntimeError("no free ports")


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    if net.find_nats_server() is None:
        pytest.fail("nats-server is missing: run scripts/install-nats.sh (sudo apt-get install nats-server)")
    nats_port, api_port = free_bases()
    created = init_network(tmp_path / "net", ORGS, "intl", nats_port, api_port)
    try:
        up(created, timeout=60)
        yield created
    finally:
        down(created)


@contextlib.contextmanager
def running(directory: Path, orgs: int) -> Iterator[Network]:
    """A network of `orgs` organisations, up, and down again after (with any org that joined)."""
    if net.find_nats_server() is None:
        pytest.fail("nats-server is missing: run scripts/install-nats.sh (sudo apt-get install nats-server)")
    nats_port, api_port = free_bases()
    created = init_network(directory, orgs, "intl", nats_port, api_port)
    try:
        up(created, timeout=60)
        yield created
    finally:
        down(Network.load(created.directory))


def post(node: net.OrgNode, txs: list[SignedTx]) -> list[dict[str, Any]]:
    import cbor2

    reply = httpx.post(
        f"{node.api_url}/v1/txs/batch",
        content=cbor2.dumps([tx.raw for tx in txs]),
        headers=CBOR,
        params={"wait": "true", "timeout": 30},
        timeout=40,
    )
    assert reply.status_code == 200, reply.text
    results: list[dict[str, Any]] = reply.json()["results"]
    return results


def wait_same_head(network: Network, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every peer at the same height and hash, and that block final on every peer."""
    deadline = time.monotonic() + timeout
    while True:
        rows = status(network)
        same = len({(r["height"], r["latest_hash"]) for r in rows}) == 1 and rows[0]["height"] is not None
        if same and all(r["final_height"] == r["height"] for r in rows):
            return rows
        assert time.monotonic() < deadline, f"peers did not converge: {rows}"
        time.sleep(0.1)


@pytest.mark.slow
def test_four_orgs_agree_on_every_block(network: Network) -> None:
    suite = get_suite("intl")
    genesis = httpx.get(f"{network.orgs[0].api_url}/v1/chain", timeout=5).json()
    chain_id = genesis["chain_id"]
    expiry = int(time.time() * 1000) + 120_000
    admins = [KeyFile.load(network.folder(o.org) / "admin-key.json").keys for o in network.orgs]
    for node, keys in zip(network.orgs, admins, strict=True):  # each admin enrols through its own peer
        cert = Certificate.load((network.folder(node.org) / "admin.pem").read_bytes())
        enrol = make_tx(suite, keys, chain_id, "membership", "enroll", {"cert": cert.der}, expiry)
        assert [r["code"] for r in post(node, [enrol])] == ["ok"]
    wait_same_head(network)  # every peer knows every member before admitting their transactions

    anchors = [
        make_tx(
            suite, admins[i % ORGS], chain_id, "notary", "anchor", {"digest": suite.hash(b"%d" % i)}, expiry
        )
        for i in range(60)
    ]
    for k, node in enumerate(network.orgs):  # a quarter through each peer, each signed by another org
        results = post(node, anchors[k::ORGS])
        assert {r["code"] for r in results} == {"ok"}, results
    stray = post(network.orgs[1], [anchors[0]])  # resubmitted through another peer: never twice
    assert stray[0].get("code") in {"replayed", "ok"}

    rows = wait_same_head(network)
    assert all(r["lag"] == 0 and r["healthy"] and not r["diverged"] for r in rows)
    views = same_blocks(network, rows[0]["height"])
    assert sum(tx_count for _, _, tx_count, _ in views) == ORGS + len(anchors)  # each exactly once
    for node in network.orgs:  # any peer answers for a transaction submitted through another
        reply = httpx.get(f"{node.api_url}/v1/txs/{anchors[-1].id.hex()}", timeout=5)
        assert reply.status_code == 200

    # a receipt from org3's peer carries a quorum certificate and verifies offline
    client = Client(network.orgs[2].api_url)
    receipt = client.receipt(anchors[5].id)
    assert len(receipt["block"]["signatures"]) >= 3
    verdict = verify_receipt(receipt, None, bytes.fromhex(genesis["genesis_hash"]))
    assert verdict.ok, verdict.message

    # the network benchmark drives every peer and sees every transaction finalised (no timing asserted)
    with Progress(disable=True) as progress:
        result = run_network_bench(network.directory, 200, 50, 2, progress)
    assert (result["committed"], result["finalised"], result["failed"]) == (200, 200, 0)
    cpu = result["cpu_ms_per_final_tx"]  # this network's local processes, measured from /proc
    assert set(cpu) == {"peers", "nats", "bench"} and cpu["peers"] > 0 and cpu["bench"] > 0
    assert cpu["nats"] >= 0
    machine = result["machine_cpu_pct"]  # the whole machine's account over the same time
    assert set(machine) == {"busy", "idle", "iowait", "steal"} and machine["busy"] > 0
    assert abs(sum(machine.values()) - 100) < 0.5
    # and, repeated from the command line, sums the runs up
    args = [
        "bench",
        "--network",
        str(network.directory),
        "--txs",
        "60",
        "--batch",
        "30",
        "--runs",
        "2",
        "--json",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    repeated = json.loads(out.output.strip().splitlines()[-1])
    assert [(r["committed"], r["finalised"]) for r in repeated["runs"]] == [(60, 60), (60, 60)]
    rates = sorted(r["final_tx_per_s"] for r in repeated["runs"])
    assert repeated["summary"]["final_tx_per_s"] == {
        "median": round(sum(rates) / 2, 3),
        "min": rates[0],
        "max": rates[1],
    }
    bench_txs = 200 + 2 * 60 + 3 * ORGS  # and each run's enrolment attempts, `conflict` (already enrolled)

    # kill -9 org4's peer; the others go on (3 of 4 signers are a quorum); restarted, it catches up
    victim = next(p for p in read_pids(network.directory) if p["name"] == "org4-peer")
    os.kill(victim["pid"], signal.SIGKILL)
    more = [
        make_tx(
            suite, admins[i % 3], chain_id, "notary", "anchor", {"digest": suite.hash(b"m%d" % i)}, expiry
        )
        for i in range(30)
    ]
    for k, node in enumerate(network.orgs[:3]):
        assert {r["code"] for r in post(node, more[k::3])} == {"ok"}
    restart_peer(network, "org4")
    rows = wait_same_head(network)
    views = same_blocks(network, rows[0]["height"])
    assert sum(tx_count for _, _, tx_count, _ in views) == ORGS + len(anchors) + bench_txs + len(more)

    # kill -9 org2's nats-server: its peer fails over to another server, and nothing is lost or doubled
    server = next(p for p in read_pids(network.directory) if p["name"] == "org2-nats")
    os.kill(server["pid"], signal.SIGKILL)
    last = [
        make_tx(
            suite, admins[i % ORGS], chain_id, "notary", "anchor", {"digest": suite.hash(b"n%d" % i)}, expiry
        )
        for i in range(24)
    ]
    for k, node in enumerate(network.orgs):
        post_until_accepted(node, last[k::ORGS])
    rows = wait_same_head(network, timeout=60)
    views = same_blocks(network, rows[0]["height"])
    assert sum(tx_count for _, _, tx_count, _ in views) == ORGS + len(anchors) + bench_txs + len(more) + len(
        last
    )


def post_until_accepted(node: net.OrgNode, txs: list[SignedTx], timeout: float = 60.0) -> None:
    """What a client does while the ordering service fails over: retry what was refused as overloaded."""
    deadline = time.monotonic() + timeout
    waiting = list(txs)
    while waiting:
        assert time.monotonic() < deadline, f"{len(waiting)} transactions never accepted"
        results = post(node, waiting)
        assert all(r.get("code") in {"ok", "overloaded", "replayed"} for r in results), results
        waiting = [tx for tx, r in zip(waiting, results, strict=True) if r.get("code") == "overloaded"]
        if waiting:
            time.sleep(0.3)


def same_blocks(network: Network, height: int) -> list[tuple[str, str, int, int]]:
    """Every peer serves identical blocks 0..height, each with a quorum of signatures but genesis."""
    views = []
    for node in network.orgs:
        blocks = [httpx.get(f"{node.api_url}/v1/blocks/{h}", timeout=5).json() for h in range(height + 1)]
        views.append(
            [
                (b["hash"], b["header"]["state_root"], b["header"]["tx_count"], len(b["signatures"]))
                for b in blocks
            ]
        )
    for view in views:
        assert [(h, s, c) for h, s, c, _ in view] == [(h, s, c) for h, s, c, _ in views[0]]
        assert all(count >= 3 for _, _, _, count in view[1:])
    return views[0]


def test_up_without_nats_server_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    out = tmp_path / "net"
    result = runner.invoke(app, ["network", "init", "--orgs", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "org2" / "nats.conf").read_text().count("nats-route://") == 2  # itself too: see nats_config
    monkeypatch.setattr(net, "find_nats_server", lambda: None)
    result = runner.invoke(app, ["network", "up", str(out)])
    assert result.exit_code == 1
    assert "sudo apt-get install nats-server" in " ".join(result.output.split())  # rich wraps lines
    assert not (out / "run" / "pids.json").exists()  # nothing was started


def test_network_commands_refuse_a_plain_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["network", "status", str(tmp_path)])
    assert result.exit_code == 2
    assert "not_a_network" in result.output


def test_a_process_that_fails_to_start_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if net.find_nats_server() is None:
        pytest.fail("nats-server is missing: run scripts/install-nats.sh (sudo apt-get install nats-server)")
    nats_port, api_port = free_bases()
    created = init_network(tmp_path / "net", 2, "intl", nats_port, api_port)
    (created.folder("org2") / "nats.conf").write_text("this is { not a config\n")
    monkeypatch.chdir(tmp_path)
    relative = Network.load(Path("net"))  # a relative directory works from anywhere
    assert relative.directory == created.directory
    with pytest.raises(net.NetworkError) as caught:
        up(relative, timeout=60)
    # reported as the exit it is (not "start_timeout" after a minute), naming the process
    assert caught.value.reason == "start_failed" and "org2-nats" in caught.value.message
    assert read_pids(created.directory) == []  # what did start was stopped again
    assert not net.port_open(created.orgs[0].client_port)


def test_cluster_routes_accept_only_the_consortium_tls_certificates(tmp_path: Path) -> None:
    import ssl
    import subprocess

    from govchain.node.nats_tls import make_org_tls

    nats = net.find_nats_server()
    if nats is None:
        pytest.fail("nats-server is missing: run scripts/install-nats.sh (sudo apt-get install nats-server)")
    nats_port, api_port = free_bases()
    created = init_network(tmp_path / "net", 2, "gm", nats_port, api_port)  # TLS is P-256 even for gm
    org1, org2 = (created.folder(o.org) for o in created.orgs)
    make_org_tls(tmp_path / "outsider", "outsider")  # a CA the consortium never listed
    proc = subprocess.Popen(
        [nats, "-c", str(org1 / "nats.conf")], cwd=org1, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def handshake(folder: Path) -> bool:
        context = ssl.create_default_context(cafile=str(org2 / "tls" / "cluster-cas.pem"))
        context.load_cert_chain(str(folder / "tls" / "server.pem"), str(folder / "tls" / "server-key.pem"))
        with socket.create_connection(("127.0.0.1", created.orgs[0].cluster_port), timeout=5) as raw:
            try:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"PING\r\n")  # a refused client certificate shows on first use (TLS 1.3)
                    return bool(tls.recv(1))
            except (ssl.SSLError, ConnectionError, TimeoutError):
                return False

    try:
        deadline = time.monotonic() + 10
        while not net.port_open(created.orgs[0].cluster_port):
            assert time.monotonic() < deadline and proc.poll() is None, "nats-server did not start"
            time.sleep(0.05)
        assert handshake(org2)  # another member's server: accepted
        assert not handshake(tmp_path / "outsider")  # anyone else: refused
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_init_for_several_machines_writes_bundles_with_systemd_units(tmp_path: Path) -> None:
    out = tmp_path / "net"
    args = ["network", "init", "--orgs", "3", "--out", str(out), "--install-dir", "/srv/gc"]
    args += ["--host", "org1=10.0.0.1", "--host", "org2=10.0.0.2", "--host", "org3=gov3.example"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    conf = (out / "org2" / "nats.conf").read_text()
    assert 'listen: "10.0.0.2:14222"' in conf
    routes = ["10.0.0.1:14321", "10.0.0.2:14322", "gov3.example:14323"]  # itself too: the meta group's size
    assert "routes: [" + ", ".join(f'"nats-route://{r}"' for r in routes) + "]" in conf
    peer = json.loads((out / "org2" / "peer.json").read_text())
    assert peer["host"] == "10.0.0.2" and peer["servers"][0] == "tls://10.0.0.2:14222"
    # clients by mutual TLS only, each org's peer as its own NATS user (every org's, for failover)
    assert "verify_and_map: true" in conf
    assert all(f'user: "CN=org{i} peer,O=org{i}"' in conf for i in (1, 2, 3))
    for name in peer["tls"].values():
        assert (out / "org2" / name).is_file()
    assert (out / "org2" / peer["tls"]["key_file"]).stat().st_mode & 0o777 == 0o600
    tls = x509.load_pem_x509_certificate((out / "org2" / "tls" / "server.pem").read_bytes())
    names = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.0.0.2") in names.get_values_for_type(x509.IPAddress)
    unit = (out / "org2" / "systemd" / "govchain-peer-org2.service").read_text()
    assert "ExecStart=/opt/govchain/.venv/bin/govchain network peer /srv/gc/org2/peer.json" in unit
    nats_unit = (out / "org2" / "systemd" / "govchain-nats-org2.service").read_text()
    assert "ExecStart=/usr/sbin/nats-server -c /srv/gc/org2/nats.conf" in nats_unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in nats_unit  # config reload (new orgs, users)
    result = CliRunner().invoke(app, ["network", "up", str(out)])  # not for one machine
    assert result.exit_code == 1 and "not_local" in result.output


@pytest.mark.parametrize(
    ("flag", "reason"),
    [("org9=10.0.0.9", "unknown_org"), ("org1=bad host", "invalid_host"), ("org1", "invalid_host")],
)
def test_init_refuses_bad_hosts(tmp_path: Path, flag: str, reason: str) -> None:
    result = CliRunner().invoke(
        app, ["network", "init", "--orgs", "2", "--out", str(tmp_path / "n"), "--host", flag]
    )
    assert result.exit_code == 2 and reason in result.output


def test_init_sets_the_genesis_block_time(tmp_path: Path) -> None:
    from govchain.ledger.blocks import Genesis

    out = tmp_path / "n"
    result = CliRunner().invoke(
        app, ["network", "init", "--orgs", "2", "--out", str(out), "--block-time-ms", "400"]
    )
    assert result.exit_code == 0, result.output
    genesis = Genesis.decode((out / "genesis.cbor").read_bytes())
    assert genesis.params.block_time_ms == 400 and genesis.params.max_block_txs == 2000
    default = tmp_path / "d"
    assert CliRunner().invoke(app, ["network", "init", "--orgs", "2", "--out", str(default)]).exit_code == 0
    assert Genesis.decode((default / "genesis.cbor").read_bytes()).params.block_time_ms == 200


@pytest.mark.parametrize("value", ["0", "9", "60001", "-5"])
def test_init_refuses_a_block_time_out_of_range(tmp_path: Path, value: str) -> None:
    out = tmp_path / "n"
    result = CliRunner().invoke(
        app, ["network", "init", "--orgs", "2", "--out", str(out), "--block-time-ms", value]
    )
    assert result.exit_code == 2 and "invalid_block_time" in result.output
    assert not out.exists()  # refused before anything is written


def test_status_shows_a_block_short_of_signatures_below_the_final_height() -> None:
    from govchain.cli.network import _final

    row: dict[str, Any] = {"final_height": 9, "final_prefix": 9}
    assert _final(row) == "9"
    assert _final({**row, "final_prefix": 4}) == "9 (gap at 5)"
    assert _final({**row, "final_prefix": None}) == "9"
    assert _final({"final_height": None, "final_prefix": None}) == "-"
