"""`network down` leaves no process behind: peers, their admission workers and helpers all end."""

from __future__ import annotations

from pathlib import Path

import cbor2
import httpx
import pytest

from govchain.node.network import Network, read_pids
from tests.network.test_network import CBOR, running


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (process group, command line) of every process now running."""
    out: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if stat[0] != "Z":
            out[int(entry.name)] = (int(stat[2]), cmdline)
    return out


def _ours(started: set[int], directory: Path) -> dict[int, str]:
    return {
        pid: cmdline
        for pid, (group, cmdline) in _processes().items()
        if pid in started or group in started or str(directory) in cmdline
    }


@pytest.mark.slow
def test_down_stops_peers_with_their_admission_workers(tmp_path: Path) -> None:
    with running(tmp_path / "net", 2) as network:
        started = {int(p["pid"]) for p in read_pids(network.directory)}
        peers = {int(p["pid"]) for p in read_pids(network.directory) if p["name"].endswith("-peer")}
        junk = cbor2.dumps([b"not a transaction %d" % i for i in range(80)])  # big enough for the pool
        for node in network.orgs:
            reply = httpx.post(f"{node.api_url}/v1/txs/batch", content=junk, headers=CBOR, timeout=30)
            assert reply.status_code == 200, reply.text
        workers = {pid for pid, (group, _) in _processes().items() if group in peers and pid not in peers}
        assert workers, "the peers started no admission workers"
        directory = Network.load(network.directory).directory
    assert _ours(started, directory) == {}
