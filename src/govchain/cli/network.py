"""`govchain network ...`: init, up, status and down for a consortium network on one machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from govchain.cli.common import JSON_OPTION, console, fail, print_json, serve, tune_node_process
from govchain.crypto import SUITE_NAMES
from govchain.node.network import (
    DEFAULT_API_PORT,
    DEFAULT_GOVCHAIN_BIN,
    DEFAULT_INSTALL_DIR,
    DEFAULT_NATS_PORT,
    LOCAL_HOST,
    Network,
    NetworkError,
    down,
    init_network,
    reload_servers,
    restart_org,
    start_joined,
    status,
    stop_org,
    up,
)

if TYPE_CHECKING:
    from govchain.node.cluster import ClusterView
    from govchain.node.leave import Forgotten

network_app = typer.Typer(
    help="Run a consortium network: one nats-server and one peer per organisation.", no_args_is_help=True
)


def _load(directory: Path) -> Network:
    try:
        return Network.load(directory)
    except NetworkError as exc:
        fail(f"{exc.reason}: {exc.message}", 2)


@network_app.command("init")
def network_init(
    orgs: int = typer.Option(4, "--orgs", min=1, max=64, help="Number of organisations"),
    suite: str = typer.Option("intl", "--suite", help="intl (X.509 P-256) or gm (SM2 certificates)"),
    out: Path = typer.Option(..., "--out", help="Directory to create"),
    replicas: int = typer.Option(None, "--replicas", help="Stream replicas (default: min(3, orgs))"),
    nats_port: int = typer.Option(
        DEFAULT_NATS_PORT, "--nats-port", help="org i listens on this + i (cluster: + 100 + i)"
    ),
    api_port: int = typer.Option(DEFAULT_API_PORT, "--api-port", help="org i's peer API is on this + i"),
    host: list[str] = typer.Option(
        None,
        "--host",
        help="ORG=ADDRESS: run that org on another machine (repeat per org; default 127.0.0.1)",
    ),
    install_dir: str = typer.Option(
        DEFAULT_INSTALL_DIR,
        "--install-dir",
        help="Where each org's folder goes on its machine (systemd units)",
    ),
    govchain_bin: str = typer.Option(
        DEFAULT_GOVCHAIN_BIN,
        "--govchain-bin",
        help="The govchain command on the orgs' machines (systemd units)",
    ),
    block_time_ms: int = typer.Option(
        None,
        "--block-time-ms",
        help="Cut a block at least this often, in ms (genesis; default 200; governance may change it later)",
    ),
) -> None:
    """Create every org's keys, certificates, nats and peer configs, systemd units, and the genesis."""
    if suite not in SUITE_NAMES:
        fail(f"invalid_suite: unknown suite '{suite}'; choose one of: {', '.join(SUITE_NAMES)}", 2)
    hosts: dict[str, str] = {}
    for item in host or []:
        org, sep, address = item.partition("=")
        if not sep:
            fail(f"invalid_host: --host takes ORG=ADDRESS, not '{item}'", 2)
        hosts[org] = address
    try:
        network = init_network(
            out, orgs, suite, nats_port, api_port, replicas, hosts, install_dir, govchain_bin, block_time_ms
        )
    except NetworkError as exc:
        fail(f"{exc.reason}: {exc.message}", 2)
    except (FileExistsError, ValueError) as exc:
        fail(f"invalid_argument: {exc}", 2)
    table = Table("org", "nats", "cluster port", "peer API")
    for node in network.orgs:
        table.add_row(node.org, node.nats_url, str(node.cluster_port), node.api_url)
    console.print(table)
    console.print(f"{len(network.orgs)} organisations, suite {suite}, stream replicas {network.replicas}")
    if any(node.host != "127.0.0.1" for node in network.orgs):
        console.print(f"copy each {out}/<org>/ to its machine; docs/deployment.md shows the systemd units")
    else:
        console.print(f"start it with: govchain network up {out}")


@network_app.command("up")
def network_up(
    directory: Path = typer.Argument(..., help="A directory made by `govchain network init`"),
) -> None:
    """Start every nats-server and every peer in the background, and print the endpoints."""
    network = _load(directory)
    try:
        up(network)
    except NetworkError as exc:
        fail(f"{exc.reason}: {exc.message}")
    table = Table("org", "peer API", "nats")
    for node in network.orgs:
        table.add_row(node.org, node.api_url, node.nats_url)
    console.print(table)
    console.print(f"logs in {network.directory / 'logs'}; stop with: govchain network down {directory}")


@network_app.command("status")
def network_status(
    directory: Path = typer.Argument(..., help="A network directory"),
    cluster: bool = typer.Option(
        False,
        "--cluster",
        help="Also ask the NATS cluster: its JetStream meta group as each server sees it, and where "
        "each stream's replicas are and how far behind",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show each peer's height, latest block hash, pending transactions and lag."""
    network = _load(directory)
    rows = status(network)
    view = None
    if cluster:
        from govchain.node.cluster import cluster_view

        try:
            view = cluster_view(network)
        except NetworkError as exc:
            fail(f"{exc.reason}: {exc.message}")
    if as_json:
        print_json(rows if view is None else {"peers": rows, "cluster": view.to_value()})
        return
    table = Table("org", "API port", "height", "final", "lag", "pending", "latest hash", "nats", "healthy")
    for r in rows:
        table.add_row(
            r["org"],
            r["api"].rsplit(":", 1)[-1],
            "-" if r["height"] is None else str(r["height"]),
            _final(r),
            "-" if r["lag"] is None else str(r["lag"]),
            "-" if r["pending"] is None else str(r["pending"]),
            (r["latest_hash"] or "-")[:12],
            "up" if r["nats_up"] else "down",
            "DIVERGED" if r["diverged"] else _health(r),
        )
    console.print(table)
    _warn_expiry(rows, directory)
    _warn_rotation(network, directory)
    if view is not None:
        _print_cluster(view)


def _final(row: dict[str, Any]) -> str:
    """The final height, and the first block below it still short of a quorum, if any."""
    final, prefix = row["final_height"], row["final_prefix"]
    if final is None:
        return "-"
    return str(final) if prefix is None or prefix >= final else f"{final} (gap at {prefix + 1})"


def _warn_rotation(network: Network, directory: Path) -> None:
    """A TLS rotation begun and never finished leaves the org's old CA trusted everywhere."""
    from govchain.node.rotate import pending

    for org in pending(network):
        console.print(
            f"[bold red]warning[/]: {org}'s TLS rotation has begun and not finished; its old CA is still "
            f"trusted: govchain network rotate-tls {directory} --org {org} --finish"
        )


def _warn_expiry(rows: list[dict[str, Any]], directory: Path) -> None:
    """Say which orgs' NATS TLS certificates run out soon: nats-server refuses expired ones."""
    import datetime as dt

    from govchain.node.nats_tls import EXPIRY_WARNING_DAYS

    now = dt.datetime.now(dt.UTC)
    for row in rows:
        expiry = row.get("tls_expires")
        if expiry is None:
            continue
        days = (dt.datetime.fromisoformat(expiry["at"]) - now).days
        if days < EXPIRY_WARNING_DAYS:
            when = f"expired {-days} days ago" if days < 0 else f"expires in {days} days"
            console.print(
                f"[bold red]warning[/]: {row['org']}'s NATS TLS certificate {expiry['file']} {when}: "
                f"govchain network rotate-tls {directory} --org {row['org']}"
            )


def _print_cluster(view: ClusterView) -> None:
    leaders = view.leaders
    verdict = (
        "no leader: no quorum of servers"
        if not leaders
        else f"leader {next(iter(leaders))}"
        if len(leaders) == 1
        else f"SPLIT: the servers name {len(leaders)} leaders ({', '.join(sorted(leaders))})"
    )
    console.print(
        f"JetStream meta group ({len(view.servers)} servers answered, asked as {view.asked_as}): {verdict}"
    )
    servers = Table("server", "meta leader it sees", "meta group size")
    for s in view.servers:
        servers.add_row(s.server, s.leader or "-", str(s.size))
    console.print(servers)
    streams = Table("stream", "messages", "server", "role", "state")
    for stream in view.streams:
        for i, r in enumerate(stream.replicas):
            state = "offline" if r.offline else "current" if r.current else f"behind by {r.lag}"
            streams.add_row(
                stream.name if i == 0 else "", str(stream.messages) if i == 0 else "", r.server, r.role, state
            )
        if not stream.replicas:
            streams.add_row(stream.name, "-", "-", "-", "not created yet (no peer has started)")
    console.print(streams)


@network_app.command("add-org")
def network_add_org(
    directory: Path = typer.Argument(..., help="A network directory"),
    org: str = typer.Option(..., "--org", help="The new organisation's id (a-z, 0-9, '-')"),
    name_zh: str = typer.Option(None, "--name-zh", help="Its Chinese name (default: the id)"),
    name_en: str = typer.Option(None, "--name-en", help="Its English name (default: the id)"),
    host: str = typer.Option(LOCAL_HOST, "--host", help="The machine it runs on"),
    install_dir: str = typer.Option(DEFAULT_INSTALL_DIR, "--install-dir", help="As for init (systemd units)"),
    govchain_bin: str = typer.Option(DEFAULT_GOVCHAIN_BIN, "--govchain-bin", help="As for init"),
) -> None:
    """Admit an organisation by governance and start its nats-server and peer in the running network."""
    from govchain.node.join import add_org, admit_org

    network = _load(directory)
    local = all(node.host == LOCAL_HOST for node in network.orgs) and host == LOCAL_HOST
    if local and any(row["height"] is None for row in status(network)):
        fail("not_running: start the network first (govchain network up); admission is a governance vote", 2)
    try:
        grown, value = add_org(network, org, name_zh or org, name_en or org, host, install_dir, govchain_bin)
        console.print(f"{org}: keys, certificates and configs written; every org's nats.conf updated")
        if not local:
            console.print(
                "copy the updated nats.conf and tls/cluster-cas.pem to every org's machine and reload "
                f"its nats-server (systemctl reload); admit {org} by governance (docs/deployment.md)"
            )
            return
        height = admit_org(grown, value)
        console.print(f"{org} admitted by governance from height {height}")
        start_joined(grown, org)
    except NetworkError as exc:
        fail(f"{exc.reason}: {exc.message}")
    node = grown.orgs[-1]
    console.print(f"{org} is up: peer API {node.api_url}, nats {node.nats_url}; it replays the stream")


@network_app.command("remove-org")
def network_remove_org(
    directory: Path = typer.Argument(..., help="A network directory"),
    org: str = typer.Option(..., "--org", help="The organisation to remove"),
    forget_only: bool = typer.Option(
        False,
        "--forget-only",
        help="Only the last step, on a network spread over machines: make the NATS cluster forget the "
        "org's server (after governance removed it and every server reloaded its new config)",
    ),
) -> None:
    """Remove an organisation by governance, stop its processes, and take its NATS server and
    credentials out of the cluster. Its folder (keys, copy of the chain) stays on disk."""
    from govchain.node.join import decide
    from govchain.node.leave import check_removable, forget_server, is_member, shrink

    network = _load(directory)
    try:
        if forget_only:
            _forget(network, org)
            return
        check_removable(network, org)
        local = all(node.host == LOCAL_HOST for node in network.orgs)
        if not local:
            shrink(network, org).save()
            console.print(
                f"every remaining org's nats.conf, peer.json and tls/cluster-cas.pem written without {org}. "
                f"Next (docs/deployment.md, 'Removing an organisation'): the orgs' admins decide remove_org "
                f"by governance; {org}'s services stop; each remaining org installs its new files and "
                f"reloads its nats-server; then: govchain network remove-org {directory} --org {org} "
                "--forget-only"
            )
            return
        if any(row["height"] is None for row in status(network) if row["org"] != org):
            fail("not_running: start the network first (govchain network up); removal is a vote", 2)
        remaining = [n for n in network.orgs if n.org != org]
        if is_member(network, org):
            height = decide(network, remaining, "remove_org", {"id": org}, f"remove {org}")
            console.print(f"{org} removed by governance from height {height}")
        else:
            console.print(f"{org} is no longer a member on chain (removed earlier)")
        stopped = stop_org(network, org)
        if stopped:
            console.print(f"stopped {', '.join(stopped)}")
        shrunk = shrink(network, org)
        reload_servers(shrunk)
        console.print(f"every remaining org's configs written without {org}; their nats-servers reloaded")
        forgotten = forget_server(shrunk, org)
        shrunk.save()
    except NetworkError as exc:
        fail(f"{exc.reason}: {exc.message}")
    _report(org, forgotten)


def _forget(network: Network, org: str) -> None:
    from govchain.node.leave import forget_server

    if any(n.org == org for n in network.orgs):
        fail(f"still_member: {org} is still in network.json; run remove-org without --forget-only first", 2)
    _report(org, forget_server(network, org))


def _report(org: str, forgotten: Forgotten) -> None:
    placed = "; ".join(f"{name}: {', '.join(where)}" for name, where in forgotten.streams.items())
    console.print(
        f"the NATS cluster forgot {org}'s server: meta group of {forgotten.meta_servers} servers; "
        f"stream replicas ({forgotten.replicas} each): {placed}"
    )


@network_app.command("rotate-tls")
def network_rotate_tls(
    directory: Path = typer.Argument(..., help="A network directory"),
    org: str = typer.Option(..., "--org", help="The organisation whose NATS TLS CA is replaced"),
    finish: bool = typer.Option(
        False, "--finish", help="The second step, on a network spread over machines: stop trusting the old CA"
    ),
) -> None:
    """Replace an org's NATS TLS CA and every certificate it issued (server, peer, operator, system),
    so that its old certificates open nothing. Chain identities are not touched."""
    from govchain.node import rotate

    network = _load(directory)
    local = all(node.host == LOCAL_HOST for node in network.orgs)
    try:
        if finish:
            rotate.finish(network, org)
            console.print(f"every org's tls/cluster-cas.pem written without {org}'s old TLS CA")
            if local:
                reload_servers(network)
            else:
                console.print(
                    "install it on every org's machine and reload its nats-server (systemctl reload)"
                )
            return
        heights = [row["height"] for row in status(network)] if local else []
        if any(h is None for h in heights) and any(h is not None for h in heights):
            fail("partly_running: start the whole network (govchain network up) or stop it, then rotate", 2)
        rotate.begin(network, org)
        console.print(f"{org}: new TLS CA, server, peer, operator and system certificates written")
        if not local:
            console.print(
                f"next: install every org's tls/cluster-cas.pem (old and new {org} CA) and reload its "
                f"nats-server; install {org}'s new tls/ files and restart its nats-server and peer; then "
                "run this command again with --finish (docs/deployment.md, 'Rotating an org's TLS CA')"
            )
            return
        if heights and heights[0] is not None:
            reload_servers(network)  # every server trusts both CAs before the org's server changes
            restart_org(network, org)  # its nats-server and peer come back with the new certificates
            console.print(f"{org}'s nats-server and peer restarted with their new certificates")
        rotate.finish(network, org)
        reload_servers(network)
    except NetworkError as exc:
        fail(f"{exc.reason}: {exc.message}")
    console.print(f"{org}'s old TLS CA is trusted nowhere now")


def _health(row: dict[str, Any]) -> str:
    if not row["healthy"]:
        return f"no ({row['error']})" if row.get("error") else "no"
    return "catching up" if row["catching_up"] else "yes"


@network_app.command("restart")
def network_restart(
    directory: Path = typer.Argument(..., help="A network directory"),
    org: str = typer.Option(None, "--org", help="Only this organisation's nats-server and peer"),
) -> None:
    """Restart one org's nats-server and peer (after a crash, or to load new files), or the whole
    network. Peers resume from their own data and the stream."""
    network = _load(directory)
    try:
        if org is None:
            stopped = down(network)
            up(network)
            console.print(f"stopped {len(stopped)} processes and started the network again")
            return
        stopped = restart_org(network, org)
    except NetworkError as exc:
        fail(f"{exc.reason}: {exc.message}")
    what = f"stopped {', '.join(stopped)}; " if stopped else ""
    node = network.node(org)
    console.print(f"{what}{org} is up: peer API {node.api_url}, nats {node.nats_url}")


@network_app.command("down")
def network_down(directory: Path = typer.Argument(..., help="A network directory")) -> None:
    """Stop the processes `network up` started, and only those. Data is kept."""
    stopped = down(_load(directory))
    console.print(f"stopped {len(stopped)} processes" + (f": {', '.join(stopped)}" if stopped else ""))


@network_app.command("peer", hidden=True)
def network_peer(
    config: Path = typer.Argument(..., help="DIR/<org>/peer.json"),
    from_peers: bool = typer.Option(
        False, "--from-peers", help="Fetch missed blocks from the other orgs' peers, not the stream"
    ),
) -> None:
    """Run one org's peer in the foreground (what `network up` starts for each org)."""
    import logging

    from govchain.api.app import create_app
    from govchain.contracts import default_registry
    from govchain.node import admission
    from govchain.node.catchup import CatchUp
    from govchain.node.nats_tls import client_context, inbox_prefix
    from govchain.node.peer import open_peer, stream_settings

    settings = json.loads(config.read_text())
    tune_node_process()
    data = (config.parent / settings["data"]).resolve()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    tls = settings.get("tls")  # absent in networks made before client TLS: plain connections
    context = None if tls is None else client_context(config.parent, **tls)
    prefix = "_INBOX" if tls is None else inbox_prefix(settings["org"])
    stream = stream_settings(data, tuple(settings["servers"]), int(settings["replicas"]), context, prefix)
    catch_up = CatchUp(tuple(settings.get("peers", [])), force=from_peers)
    node, _, _ = open_peer(data, default_registry(), stream, catch_up=catch_up)
    node.start()
    admission.warm_up()
    logging.getLogger("govchain.peer").info(
        "%s peer at height %d on stream %s", settings["org"], node.height, stream.stream
    )
    try:
        serve(create_app(node), settings["host"], settings["port"])
    finally:
        node.stop()
        admission.shutdown()  # the worker processes end with the peer, not after it
