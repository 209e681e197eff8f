"""The organisations' nats-servers form one JetStream meta group however late some of them start."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govchain.cli.main import app
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
        # a server that has just joined reports the group's size a moment after its leader
        views = [meta_group(network, node) for node in network.orgs]
        while not all(v.get("leader") and v.get("cluster_size") == 4 for v in views):
            assert time.monotonic() < deadline, f"no meta group of 4 with a leader once all run: {views}"
            time.sleep(0.5)
            views = [meta_group(network, node) for node in network.orgs]
        assert len({v["leader"] for v in views}) == 1  # one leader, the same for every server
        assert all(v["cluster_size"] == 4 for v in views)

        # what `network status --cluster` shows: every server, one leader, no stream yet
        result = CliRunner().invoke(app, ["network", "status", str(network.directory), "--cluster", "--json"])
        assert result.exit_code == 0, result.output
        cluster = json.loads(result.output)["cluster"]
        assert [s["server"] for s in cluster["servers"]] == ["org1", "org2", "org3", "org4"]
        assert cluster["leaders"] == [views[0]["leader"]]
        assert all(s["replicas"] == [] for s in cluster["streams"])
    finally:
        for proc in started:
            proc.kill()
            proc.wait(timeout=10)


def test_status_says_when_the_servers_name_two_leaders() -> None:
    """A split meta group (what the test above guards against) is shown as such, not as healthy."""
    from govchain.cli.common import console
    from govchain.cli.network import _print_cluster
    from govchain.node.cluster import ClusterView, ReplicaView, ServerView, StreamView

    servers = [ServerView("org1", "org1", 3), ServerView("org2", "org1", 3), ServerView("org3", "org3", 3)]
    stream = StreamView("GOVCHAIN_T", 7, [ReplicaView("org1", "leader", True, False, 0)])
    with console.capture() as captured:
        _print_cluster(ClusterView("org1", servers, [stream]))
    assert "SPLIT: the servers name 2 leaders (org1, org3)" in " ".join(captured.get().split())
    with console.capture() as captured:
        _print_cluster(ClusterView("org1", [ServerView("org1", None, 4)], [StreamView("GOVCHAIN_T", 0, [])]))
    shown = " ".join(captured.get().split())
    assert "no leader" in shown and "not created yet" in shown
