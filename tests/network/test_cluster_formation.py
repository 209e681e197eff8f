"""The organisations' nats-servers form one JetStream meta group however late some of them start."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from govchain.node.network import OrgNode, find_nats_server, init_network, port_open
from tests.network.clients import meta_group
from tests.network.test_network import free_bases


@pytest.mark.slow
def test_two_early_servers_of_four_elect_no_leader_of_their_own(tmp_path: Path) -> None:
    """Orgs start their servers when they are ready, not together. Two of four must not make a
    quorum: were they to elect a meta leader, the other two could elect a second one."""
    nats_server = find_nats_server()
    assert nats_server is not None, "nats-server is missing (scripts/install-nats.sh)"
    network = init_network(tmp_path / "net", 4, "intl", *free_bases())
    started: list[subprocess.Popen[bytes]] = []

    def start(node: OrgNode) -> None:
        folder = network.folder(node.org)
        log = (tmp_path / f"{node.org}.log").open("wb")
        command = [nats_server, "-c", str(folder / "nats.conf")]
        started.append(subprocess.Popen(command, cwd=folder, stdout=log, stderr=log))
        deadline = time.monotonic() + 10
        while not port_open(node.client_port):
            assert time.monotonic() < deadline, f"{node.org}'s nats-server did not start"
            time.sleep(0.1)

    try:
        early, late = network.orgs[:2], network.orgs[2:]
        for node in early:
            start(node)
        time.sleep(6)  # several election timeouts
        assert not meta_group(network, early[0]).get("leader")
        for node in late:
            start(node)
        deadline = time.monotonic() + 30
        while not all(meta_group(network, node).get("leader") for node in network.orgs):
            assert time.monotonic() < deadline, "no meta leader once all four servers run"
            time.sleep(0.5)
        views = [meta_group(network, node) for node in network.orgs]
        assert len({v["leader"] for v in views}) == 1  # one leader, the same for every server
        assert all(v["cluster_size"] == 4 for v in views)
    finally:
        for proc in started:
            proc.kill()
            proc.wait(timeout=10)
