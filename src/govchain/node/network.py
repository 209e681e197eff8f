"""`govchain network init|up|status|down`: a whole consortium network on one machine.

(`add-org`, an organisation joining a running network, is in node/join.py; `remove-org`, one
leaving it, in node/leave.py.)

`init` reuses `govchain consortium init` for every org's keys, certificates and
the genesis, then adds per org a `nats-server` config (JetStream store, cluster
routes to every other org's server) and a peer config. `up` starts every
nats-server and every peer as background processes and records their process
ids; `down` stops exactly those processes (and whatever they left in their own
process groups, such as admission workers) and nothing else.

Layout of DIR, beside what `consortium init` writes (docs/deployment.md):

    DIR/network.json            ports, replicas and org list (what up/status/down read)
    DIR/<org>/nats.conf         that org's nats-server config (paths relative to DIR/<org>)
    DIR/<org>/peer.json         that org's peer config (data dir, API address, NATS servers)
    DIR/<org>/node/             the peer's data directory (genesis, peer key, chain.db)
    DIR/<org>/jetstream/        the nats-server's JetStream store
    DIR/run/pids.json           processes started by `up` (removed by `down`)
    DIR/logs/<org>-nats.log, DIR/logs/<org>-peer.log
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.ledger.blocks import ChainParams
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, OrgFiles, init_consortium, org_names
from govchain.node.nats_tls import (
    CA_CERT,
    CAS_FILE,
    PEER_CERT,
    PEER_KEY,
    PREVIOUS_CA,
    TLS_DIR,
    authorization_block,
    client_tls_block,
    cluster_tls_block,
    earliest_expiry,
    make_org_tls,
    system_account_block,
)
from govchain.ordering.jetstream import stream_names

NETWORK_FILE = "network.json"
PIDS_FILE = "run/pids.json"
CLUSTER_NAME = "govchain"
DEFAULT_NATS_PORT = 14220
DEFAULT_API_PORT = 8770
MIN_BLOCK_TIME_MS, MAX_BLOCK_TIME_MS = 10, 60_000  # the genesis block time `init` accepts
LOCAL_HOST = "127.0.0.1"
DEFAULT_INSTALL_DIR = "/var/lib/govchain"
DEFAULT_GOVCHAIN_BIN = "/opt/govchain/.venv/bin/govchain"
_HOST_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:")
INSTALL_HINT = "nats-server is not installed; install it with: sudo apt-get install nats-server"


class NetworkError(Exception):
    """A network command cannot proceed; `reason` is a machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class OrgNode:
    """One organisation's processes: its nats-server and its peer, on `host`."""

    org: str
    client_port: int
    cluster_port: int
    api_port: int
    host: str = LOCAL_HOST

    @property
    def nats_url(self) -> str:
        return f"tls://{self.host}:{self.client_port}"  # the client port takes TLS only

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


@dataclass(frozen=True, slots=True)
class Network:
    directory: Path
    suite: str
    replicas: int
    orgs: tuple[OrgNode, ...]

    @classmethod
    def load(cls, directory: Path) -> Network:
        path = directory / NETWORK_FILE
        if not path.is_file():
            raise NetworkError(
                "not_a_network", f"{directory} holds no network (create one: govchain network init --out DIR)"
            )
        value = json.loads(path.read_text())
        orgs = tuple(OrgNode(**item) for item in value["orgs"])
        # absolute: processes run in each org's folder, and `down` recognises them by these paths
        return cls(directory.resolve(), value["suite"], int(value["replicas"]), orgs)

    def save(self) -> None:
        value = {"suite": self.suite, "replicas": self.replicas, "orgs": [asdict(o) for o in self.orgs]}
        (self.directory / NETWORK_FILE).write_text(json.dumps(value, indent=2) + "\n")

    def folder(self, org: str) -> Path:
        return self.directory / org

    def node(self, org: str) -> OrgNode:
        """The org's processes and addresses; NetworkError `unknown_org` if it is not in the network."""
        for node in self.orgs:
            if node.org == org:
                return node
        names = ", ".join(n.org for n in self.orgs)
        raise NetworkError("unknown_org", f"no organisation '{org}' in this network (it has {names})")


def nats_config(node: OrgNode, others: list[OrgNode], stream: str, prefix: str) -> str:
    """A nats-server config for one org: JetStream on, clients by mutual TLS as their org's user
    (every org's, for failover), routes to every org's server.

    The route list names the server itself too (nats-server skips a route to itself): a fresh
    server takes the length of that list as the size of the JetStream meta group. Listing only
    the others made a 4-org cluster count 3 with a quorum of 2, so two servers that started
    before the other two elected a meta leader of their own, and two more could elect a second.
    """
    orgs = sorted([node.org] + [o.org for o in others])
    lines = [
        f'server_name: "{node.org}"',
        f'listen: "{node.host}:{node.client_port}"',
        "jetstream {",
        '  store_dir: "jetstream"',
        "}",
        *client_tls_block(),
        *authorization_block(orgs, stream, prefix),
        *system_account_block(node.org),
    ]
    if others:  # a cluster of one would wait for peers that never come
        everyone = sorted([node, *others], key=lambda o: o.cluster_port)
        routes = ", ".join(f'"nats-route://{o.host}:{o.cluster_port}"' for o in everyone)
        lines += [
            "cluster {",
            f'  name: "{CLUSTER_NAME}"',
            f'  listen: "{node.host}:{node.cluster_port}"',
            f"  routes: [{routes}]",
            *cluster_tls_block(),  # routes are mutual TLS, checked against every org's TLS CA
            "}",
        ]
    return "\n".join(lines) + "\n"


def init_network(
    out: Path,
    orgs: int,
    suite: str,
    nats_port: int = DEFAULT_NATS_PORT,
    api_port: int = DEFAULT_API_PORT,
    replicas: int | None = None,
    hosts: dict[str, str] | None = None,
    install_dir: str = DEFAULT_INSTALL_DIR,
    govchain_bin: str = DEFAULT_GOVCHAIN_BIN,
    block_time_ms: int | None = None,
) -> Network:
    """Keys, certificates and genesis (via consortium init), then every org's nats and peer config.

    Org i (1-based) gets client port nats_port+i, cluster port nats_port+100+i, API port api_port+i,
    on `hosts[org]` (default 127.0.0.1). Each org's folder is a bundle for that org's machine, with
    systemd units that expect it at `install_dir/<org>` (docs/deployment.md).
    """
    if replicas is None:
        replicas = min(3, orgs)
    if not 1 <= replicas <= orgs:
        raise NetworkError("invalid_replicas", f"--replicas must be 1..{orgs} (the number of orgs)")
    params = ChainParams() if block_time_ms is None else ChainParams(block_time_ms=block_time_ms)
    if not MIN_BLOCK_TIME_MS <= params.block_time_ms <= MAX_BLOCK_TIME_MS:
        raise NetworkError(
            "invalid_block_time",
            f"--block-time-ms must be {MIN_BLOCK_TIME_MS}..{MAX_BLOCK_TIME_MS}, not {params.block_time_ms}",
        )
    hosts = dict(hosts or {})
    names = [org_names(i)[0] for i in range(1, orgs + 1)]
    for org, host in hosts.items():
        if org not in names:
            raise NetworkError("unknown_org", f"--host names '{org}', but the orgs are {', '.join(names)}")
        if not host or not set(host) <= _HOST_CHARS:
            raise NetworkError("invalid_host", f"'{host}' is not a host name or IP address")
    out = out.resolve()
    init_consortium(out, orgs, suite, all_peers_sign=True, params=params)
    nodes = tuple(
        OrgNode(name, nats_port + i, nats_port + 100 + i, api_port + i, hosts.get(name, LOCAL_HOST))
        for i, name in enumerate(names, start=1)
    )
    network = Network(out, suite, replicas, nodes)
    genesis = (out / GENESIS_FILE).read_bytes()
    for node in nodes:
        make_org_tls(network.folder(node.org), node.org, tuple(dict.fromkeys((node.host, LOCAL_HOST))))
    write_configs(network, trust_bundle(network))
    for node in nodes:
        folder = network.folder(node.org)
        adopt_genesis(folder / "node", genesis, KeyFile.load(OrgFiles(node.org, folder).key("peer")))
        write_units(folder, node.org, install_dir, govchain_bin)
    network.save()
    return network


def chain_streams(network: Network) -> tuple[str, str]:
    """(stream name, subject prefix) of the network's chain, as its peers derive them."""
    genesis = (network.directory / GENESIS_FILE).read_bytes()
    return stream_names(get_suite(network.suite).hash(genesis))


def trust_bundle(network: Network) -> bytes:
    """What every server and peer trusts: each org's TLS CA, and the previous one of an org whose
    TLS rotation is under way (node/rotate.py)."""
    parts = []
    for node in network.orgs:
        tls = network.folder(node.org) / TLS_DIR
        parts.append((tls / CA_CERT).read_bytes())
        if (tls / PREVIOUS_CA).is_file():
            parts.append((tls / PREVIOUS_CA).read_bytes())
    return b"".join(parts)


def write_configs(network: Network, bundle: bytes) -> None:
    """Every org's CA bundle, nats.conf and peer.json, for the network's current org list."""
    stream, prefix = chain_streams(network)
    for node in network.orgs:
        folder = network.folder(node.org)
        others = [o for o in network.orgs if o is not node]
        (folder / TLS_DIR / CAS_FILE).write_bytes(bundle)
        (folder / "nats.conf").write_text(nats_config(node, others, stream, prefix))
        peer = {
            "org": node.org,
            "data": "node",
            "host": node.host,
            "port": node.api_port,
            "servers": [node.nats_url] + [o.nats_url for o in others],  # its own first, failover after
            "replicas": network.replicas,
            "tls": {  # relative to the org's folder: the consortium's TLS CAs, the peer's NATS credential
                "ca_file": f"{TLS_DIR}/{CAS_FILE}",
                "cert_file": f"{TLS_DIR}/{PEER_CERT}",
                "key_file": f"{TLS_DIR}/{PEER_KEY}",
            },
            "peers": [o.api_url for o in others],  # to catch up from when the stream cannot help
        }
        (folder / "peer.json").write_text(json.dumps(peer, indent=2) + "\n")


def write_units(folder: Path, org: str, install_dir: str, govchain_bin: str) -> None:
    """systemd units for the org's machine, where its folder is copied to `install_dir/<org>`."""
    home = f"{install_dir.rstrip('/')}/{org}"
    units = folder / "systemd"
    units.mkdir(exist_ok=True)
    (units / f"govchain-nats-{org}.service").write_text(
        f"""[Unit]
Description=govchain {org}: nats-server (JetStream) of the consortium cluster
After=network-online.target
Wants=network-online.target

[Service]
WorkingDirectory={home}
ExecStart=/usr/sbin/nats-server -c {home}/nats.conf
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""
    )
    (units / f"govchain-peer-{org}.service").write_text(
        f"""[Unit]
Description=govchain {org}: consortium peer (REST API, execution, finality)
After=govchain-nats-{org}.service network-online.target
Wants=govchain-nats-{org}.service network-online.target

[Service]
WorkingDirectory={home}
ExecStart={govchain_bin} network peer {home}/peer.json
Restart=on-failure
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
"""
    )


# --- processes ------------------------------------------------------------------------


def find_nats_server() -> str | None:
    """nats-server on PATH, or where Debian installs it (/usr/sbin is not on every user's PATH)."""
    return shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/sbin")


def port_open(port: int, host: str = LOCAL_HOST) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _alive(pid: int, marker: str) -> bool:
    """The process exists and is the one we started (its command line names our config file)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def read_pids(directory: Path) -> list[dict[str, Any]]:
    path = directory / PIDS_FILE
    if not path.is_file():
        return []
    items: list[dict[str, Any]] = json.loads(path.read_text())
    return items


def _spawn(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        return subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal; `down` stops it by pid
        )


def up(network: Network, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Start every nats-server, then every peer; wait until each peer's API answers."""
    remote = sorted({n.host for n in network.orgs} - {LOCAL_HOST})
    if remote:
        raise NetworkError(
            "not_local",
            f"this network's orgs run on other hosts ({', '.join(remote)}): copy each org's folder to its "
            "machine and start its systemd units there (docs/deployment.md)",
        )
    nats = find_nats_server()
    if nats is None:
        raise NetworkError("nats_missing", INSTALL_HINT)
    running = [p for p in read_pids(network.directory) if _alive(p["pid"], p["marker"])]
    if running:
        raise NetworkError(
            "already_running", f"{len(running)} processes of this network run already (govchain network down)"
        )
    busy = [
        port
        for node in network.orgs
        for port in (node.client_port, node.cluster_port, node.api_port)
        if port_open(port)
    ]
    if busy:
        raise NetworkError("port_in_use", f"ports already in use on 127.0.0.1: {busy}")
    started: list[dict[str, Any]] = []
    logs = network.directory / "logs"
    try:
        for node in network.orgs:
            conf = network.folder(node.org) / "nats.conf"
            log = logs / f"{node.org}-nats.log"
            proc = _spawn([nats, "-c", str(conf)], network.folder(node.org), log)
            started.append(
                {"name": f"{node.org}-nats", "pid": proc.pid, "marker": str(conf), "log": str(log)}
            )
            _save_pids(network.directory, started)
        _wait(lambda: all(port_open(n.client_port) for n in network.orgs), timeout, "nats-server", started)
        for node in network.orgs:
            started.append(_spawn_peer(network, node))
            _save_pids(network.directory, started)
        _wait(lambda: all(_api_ready(n) for n in network.orgs), timeout, "peer APIs", started)
    except BaseException:
        down(network)
        raise
    return started


def _spawn_peer(network: Network, node: OrgNode) -> dict[str, Any]:
    conf = network.folder(node.org) / "peer.json"
    args = [sys.executable, "-m", "govchain.cli.main", "network", "peer", str(conf)]
    log = network.directory / "logs" / f"{node.org}-peer.log"
    proc = _spawn(args, network.folder(node.org), log)
    return {"name": f"{node.org}-peer", "pid": proc.pid, "marker": str(conf), "log": str(log)}


def restart_peer(network: Network, org: str, timeout: float = 60.0) -> None:
    """Start one org's peer again (after a crash); it resumes from its own data and the stream."""
    node = network.node(org)
    items = read_pids(network.directory)
    name = f"{org}-peer"
    if any(p["name"] == name and _alive(p["pid"], p["marker"]) for p in items):
        raise NetworkError("already_running", f"{name} is running")
    spawned = _spawn_peer(network, node)
    _save_pids(network.directory, [p for p in items if p["name"] != name] + [spawned])
    _wait(lambda: _api_ready(node), timeout, f"{name} API", [spawned])


def start_joined(network: Network, org: str, timeout: float = 60.0) -> None:
    """After `join.add_org` rewrote the configs: reload every running nats-server of this network
    (SIGHUP: the new CA bundle, user and route), then start the new org's nats-server and peer."""
    start_org(network, org, timeout, reload_others=True)


def restart_org(network: Network, org: str, timeout: float = 60.0) -> list[str]:
    """Stop whatever of one org's processes still runs, and start its nats-server and peer again;
    the peer resumes from its own data and the stream. Returns what was stopped."""
    node = network.node(org)
    if node.host != LOCAL_HOST:
        raise NetworkError("not_local", f"{org} runs on {node.host}: restart its systemd units there")
    stopped = stop_org(network, org)
    start_org(network, org, timeout)
    return stopped


def start_org(network: Network, org: str, timeout: float = 60.0, reload_others: bool = False) -> None:
    """Start one org's nats-server, then its peer, while the others run; wait for the peer's API."""
    node = network.node(org)
    nats = find_nats_server()
    if nats is None:
        raise NetworkError("nats_missing", INSTALL_HINT)
    items = [p for p in read_pids(network.directory) if _alive(p["pid"], p["marker"])]
    if any(p["name"].startswith(f"{org}-") for p in items):
        raise NetworkError("already_running", f"{org}'s processes are running")
    if reload_others:
        reload_servers(network)  # the new CA bundle, user and route
    conf = network.folder(org) / "nats.conf"
    log = network.directory / "logs" / f"{org}-nats.log"
    proc = _spawn([nats, "-c", str(conf)], network.folder(org), log)
    server = {"name": f"{org}-nats", "pid": proc.pid, "marker": str(conf), "log": str(log)}
    items.append(server)
    _save_pids(network.directory, items)
    _wait(lambda: port_open(node.client_port), timeout, f"{org}-nats", [server])
    peer = _spawn_peer(network, node)
    items.append(peer)
    _save_pids(network.directory, items)
    _wait(lambda: _api_ready(node), timeout, f"{org}-peer API", [server, peer])


def _save_pids(directory: Path, items: list[dict[str, Any]]) -> None:
    path = directory / PIDS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(items, indent=2) + "\n")
    os.replace(tmp, path)


def _api_ready(node: OrgNode) -> bool:
    try:
        return httpx.get(f"{node.api_url}/v1/status", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: Any, timeout: float, what: str, started: list[dict[str, Any]]) -> None:
    """Wait for `check()`; fail at once, with the end of its log, if a started process exited."""
    deadline = time.monotonic() + timeout
    while not check():
        for item in started:
            # our own children: waitpid says for certain whether one exited (a command line read in
            # /proc can come back empty for a process that has just started)
            if not _reap(item["pid"]):
                tail = Path(item["log"]).read_text(errors="replace").strip().splitlines()[-3:]
                raise NetworkError("start_failed", f"{item['name']} exited: " + " | ".join(tail))
        if time.monotonic() > deadline:
            raise NetworkError("start_timeout", f"{what} did not come up within {timeout:.0f} s (see logs/)")
        time.sleep(0.2)


def down(network: Network, timeout: float = 15.0) -> list[str]:
    """Stop the processes `up` started (peers first), by pid, checking each is still ours."""
    stopped = _stop(read_pids(network.directory), timeout)
    (network.directory / PIDS_FILE).unlink(missing_ok=True)
    return stopped


def stop_org(network: Network, org: str, timeout: float = 15.0) -> list[str]:
    """Stop one org's peer and nats-server (and forget them in the pid file); the others run on."""
    items = read_pids(network.directory)
    mine = [p for p in items if p["name"] in (f"{org}-peer", f"{org}-nats")]
    stopped = _stop(mine, timeout)
    _save_pids(network.directory, [p for p in items if p not in mine])
    return stopped


def reload_servers(network: Network, timeout: float = 15.0) -> list[str]:
    """SIGHUP every running nats-server of this network, and wait until each says in its log that
    it reloaded its config file (a signal is only a request: a caller that goes on at once, say to
    check that an old certificate is refused, could still meet the old config)."""
    servers = [
        item
        for item in read_pids(network.directory)
        if item["name"].endswith("-nats") and _alive(item["pid"], item["marker"])
    ]
    marks = {item["name"]: _log_size(Path(item["log"])) for item in servers}
    for item in servers:
        os.kill(item["pid"], signal.SIGHUP)
    for item in servers:
        await_reload(Path(item["log"]), marks[item["name"]], item["name"], timeout)
    return [item["name"] for item in servers]


RELOADED, RELOAD_FAILED = "Reloaded server configuration", "Failed to reload server configuration"


def await_reload(log: Path, offset: int, name: str, timeout: float = 15.0) -> None:
    """Wait for a nats-server's log, from `offset` on, to report the outcome of a reload."""
    deadline = time.monotonic() + timeout
    while True:
        with log.open("rb") as source:
            source.seek(offset)
            text = source.read().decode(errors="replace")
        for line in text.splitlines():
            if RELOAD_FAILED in line:
                raise NetworkError("reload_failed", f"{name}: {line.split('] ', 2)[-1]}")
            if RELOADED in line:
                return
        if time.monotonic() > deadline:
            raise NetworkError(
                "reload_timeout", f"{name} did not report a reload within {timeout:.0f} s ({log})"
            )
        time.sleep(0.05)


def _log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except FileNotFoundError:
        return 0


def _stop(items: list[dict[str, Any]], timeout: float) -> list[str]:
    stopped: list[str] = []
    for item in sorted(items, key=lambda p: not p["name"].endswith("-peer")):
        pid, marker = item["pid"], item["marker"]
        if not _alive(pid, marker):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid, marker) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if _alive(pid, marker):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid, marker) and _reap(pid):
                time.sleep(0.05)
        stopped.append(item["name"])
        _stop_group(pid, timeout)
    return stopped


def _stop_group(leader: int, timeout: float) -> None:
    """Stop what a stopped process left in its session (each starts its own, see `_spawn`):
    worker processes and helpers that would otherwise outlive it as orphans."""
    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while members := _group_members(leader):
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.05)


def _group_members(group: int) -> list[int]:
    """Live processes of a process group (found by pid, not signalled as a group: the leader's
    pid may have been reused once the group is empty)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != group:
            fields = _stat_fields(int(entry.name))
            if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(group):
                members.append(int(entry.name))
    return members


def _reap(pid: int) -> bool:
    """Collect our own exited child (a zombie still has a /proc entry); True if it may still run."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists() and _state(pid) != "Z"
    return done == 0


def _state(pid: int) -> str:
    fields = _stat_fields(pid)
    return fields[0] if fields else "?"


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, parent, process group, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def status(network: Network) -> list[dict[str, Any]]:
    """Per org: process state, height, latest hash, and lag behind the highest peer."""
    pids = {p["name"]: p for p in read_pids(network.directory)}
    rows: list[dict[str, Any]] = []
    for node in network.orgs:
        row: dict[str, Any] = {
            "org": node.org,
            "api": node.api_url,
            "nats": node.nats_url,
            "nats_up": port_open(node.client_port, node.host),
            "peer_pid": pids.get(f"{node.org}-peer", {}).get("pid"),
            "height": None,
            "latest_hash": None,
            "pending": None,
            "healthy": False,
            "final_height": None,
            "final_prefix": None,  # every block up to it is final there (one short of signatures stops it)
            "diverged": None,
            "catching_up": None,
            "error": None,  # why the peer stopped, as it reports it (a reason code where it has one)
            "tls_expires": None,
        }
        expiry = earliest_expiry(network.folder(node.org))
        if expiry is not None:
            row["tls_expires"] = {"file": expiry[0], "at": expiry[1].isoformat()}
        try:
            info = httpx.get(f"{node.api_url}/v1/status", timeout=2.0).json()
            row.update(
                height=info["height"],
                latest_hash=info["latest_hash"],
                pending=info["pending"],
                healthy=bool(info["healthy"]),
                catching_up=bool(info.get("catching_up")),
                error=info.get("error_reason") or info.get("error"),
            )
            metrics = _metrics(httpx.get(f"{node.api_url}/metrics", timeout=2.0).text)
            row.update(
                final_height=(final := int(metrics.get("govchain_final_height", 0))),
                final_prefix=int(metrics.get("govchain_final_prefix", final)),  # an older peer: no gaps shown
                diverged=metrics.get("govchain_diverged", 0) > 0,
            )
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        rows.append(row)
    top = max((r["height"] for r in rows if r["height"] is not None), default=None)
    for row in rows:
        row["lag"] = None if row["height"] is None or top is None else top - row["height"]
    return rows


def _metrics(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and "{" not in parts[0]:
            out[parts[0]] = float(parts[1])
    return out
