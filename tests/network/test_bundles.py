"""A multi-host-style run: each org's bundle alone in its own folder, started as its systemd units would.

`network init --host ... --install-dir D` writes, per org, a folder meant to be copied to `D/<org>` on
that org's machine, with two systemd units. Here every org gets only its own folder (CA keys removed,
as docs/deployment.md says), and each org's nats-server and peer are started with exactly the
`ExecStart` command line and `WorkingDirectory` of its units, on 127.0.0.1 with distinct ports.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from govchain.cli.main import app
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.transactions import make_tx
from govchain.node import network as net
from govchain.node.chain import GENESIS_FILE, NODE_KEY_FILE
from govchain.node.nats_tls import operator_context, operator_inbox_prefix
from govchain.sdk.client import Client
from govchain.verify.receipt import verify_receipt
from tests.network.test_network import free_bases, post, same_blocks, wait_same_head

ORGS = 4
OFFLINE_KEYS = ("ca-key.json", "tls/ca-key.pem")  # stay with whoever runs the CAs, never on a server


def unit(path: Path) -> tuple[Path, list[str]]:
    """A unit's WorkingDirectory and ExecStart command line."""
    fields = dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.startswith(("WorkingDirectory=", "ExecStart="))
    )
    return Path(fields["WorkingDirectory"]), shlex.split(fields["ExecStart"])


@dataclass
class Hosts:
    """Every org's folder at `install/<org>`, and the processes its units would run."""

    install: Path
    network: net.Network
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, org: str, kind: str) -> None:
        """What `systemctl start govchain-<kind>-<org>` runs: its ExecStart, in its WorkingDirectory."""
        cwd, command = unit(self.install / org / "systemd" / f"govchain-{kind}-{org}.service")
        assert cwd == self.install / org
        with (self.logs / f"{org}-{kind}.log").open("ab") as sink:
            self.procs[f"{org}-{kind}"] = subprocess.Popen(
                command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # by its own pid, as systemctl stop would
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(ready(node) for node in self.network.orgs):
            dead = [name for name, p in self.procs.items() if p.poll() is not None]
            tails = [f.read_text()[-500:] for f in self.logs.iterdir()]
            assert not dead, f"exited: {dead}; logs: {tails}"
            assert time.monotonic() < deadline, "the peers did not come up"
            time.sleep(0.2)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    """Each org's bundle copied to `<install>/<org>`, and its nats-server and peer running from there."""
    if net.find_nats_server() != "/usr/sbin/nats-server":
        pytest.fail("the units run /usr/sbin/nats-server: install it with sudo apt-get install nats-server")
    nats_port, api_port = free_bases()
    out, install = tmp_path / "net", tmp_path / "srv"
    args = ["network", "init", "--orgs", str(ORGS), "--out", str(out), "--nats-port", str(nats_port)]
    args += ["--api-port", str(api_port), "--install-dir", str(install)]
    args += ["--govchain-bin", str(Path(sys.executable).parent / "govchain")]
    for i in range(1, ORGS + 1):
        args += ["--host", f"org{i}=127.0.0.1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    running = Hosts(install, net.Network.load(out), tmp_path / "logs")
    running.logs.mkdir()
    try:
        for node in running.network.orgs:
            home = install / node.org
            shutil.copytree(running.network.folder(node.org), home)  # only that org's own folder
            for name in OFFLINE_KEYS:
                (home / name).unlink()
        shutil.rmtree(out)  # nothing runs from where the bundles were made
        for kind in ("nats", "peer"):  # servers first
            for node in running.network.orgs:
                running.start(node.org, kind)
        running.wait_ready()
        yield running
    finally:
        for name in reversed(list(running.procs)):  # peers first, then the servers
            running.stop(name)


def ready(node: net.OrgNode) -> bool:
    try:
        return httpx.get(f"{node.api_url}/v1/status", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_bundles_run_as_their_systemd_units_would(hosts: Hosts) -> None:
    install, network = hosts.install, hosts.network
    org2, org4 = network.orgs[1], network.orgs[3]
    for name in OFFLINE_KEYS:
        assert not (install / "org2" / name).exists()
    assert {p.name for p in install.iterdir()} == {o.org for o in network.orgs}
    suite = get_suite("intl")
    genesis_hash = suite.hash((install / "org4" / "node" / GENESIS_FILE).read_bytes())
    chain = httpx.get(f"{org2.api_url}/v1/chain", timeout=5).json()
    assert chain["genesis_hash"] == genesis_hash.hex()  # every bundle holds the same genesis

    # org2's admin (its key from org2's own bundle) enrols and notarises through org2's peer
    keys = KeyFile.load(install / "org2" / "admin-key.json").keys
    cert = Certificate.load((install / "org2" / "admin.pem").read_bytes())
    expiry = int(time.time() * 1000) + 120_000
    enrol = make_tx(suite, keys, chain["chain_id"], "membership", "enroll", {"cert": cert.der}, expiry)
    assert [r["code"] for r in post(org2, [enrol])] == ["ok"]
    anchor = make_tx(
        suite, keys, chain["chain_id"], "notary", "anchor", {"digest": suite.hash(b"bundle")}, expiry
    )
    deadline = time.monotonic() + 30
    while True:  # org2's peer admits it once it has committed the enrolment (it has: wait=true)
        results = post(org2, [anchor])
        if results[0]["code"] == "ok":
            break
        assert time.monotonic() < deadline, results
        time.sleep(0.2)

    # org4's peer serves the final receipt; it verifies offline against the pinned genesis hash
    deadline = time.monotonic() + 30
    while httpx.get(f"{org4.api_url}/v1/txs/{anchor.id.hex()}", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "org4's peer never committed the transaction"
        time.sleep(0.2)
    receipt = Client(org4.api_url).receipt(anchor.id)  # waits until the block is final there
    assert len(receipt["block"]["signatures"]) >= 3
    verdict = verify_receipt(receipt, None, genesis_hash)
    assert verdict.ok, verdict.message
    rows = net.status(network)
    assert all(r["healthy"] and not r["diverged"] for r in rows)

    # org4 loses its peer data and the stream is purged (limits would do the same): restarted by its unit,
    # its peer fetches every block from the other orgs' peers (peer.json "peers"), then follows the stream
    hosts.stop("org4-peer")
    for path in (install / "org4" / "node").iterdir():
        if path.name not in {GENESIS_FILE, NODE_KEY_FILE}:
            path.unlink()
    more = [
        make_tx(
            suite, keys, chain["chain_id"], "notary", "anchor", {"digest": suite.hash(b"m%d" % i)}, expiry
        )
        for i in range(6)
    ]
    assert {r["code"] for r in post(org2, more)} == {"ok"}
    asyncio.run(purge(install / "org1", network.orgs[0].nats_url, f"GOVCHAIN_{genesis_hash.hex()[:16]}"))
    hosts.start("org4", "peer")
    hosts.wait_ready()
    rows = wait_same_head(network, timeout=60)
    assert rows[3]["height"] >= 3 and all(r["healthy"] for r in rows)
    log = (hosts.logs / "org4-peer.log").read_text()
    assert "caught up from peers" in log
    last = make_tx(suite, keys, chain["chain_id"], "notary", "anchor", {"digest": suite.hash(b"z")}, expiry)
    assert [r["code"] for r in post(org4, [last])] == ["ok"]  # through the caught-up peer
    rows = wait_same_head(network, timeout=60)
    assert all(r["healthy"] and r["catching_up"] is False for r in rows)
    same_blocks(network, rows[0]["height"])


async def purge(folder: Path, url: str, stream: str) -> None:
    """Purge as org1's operator would (its operator certificate; a peer may not purge)."""
    import nats

    nc = await nats.connect(url, tls=operator_context(folder), inbox_prefix=operator_inbox_prefix("org1"))
    await nc.jetstream().purge_stream(stream)
    await nc.close()
