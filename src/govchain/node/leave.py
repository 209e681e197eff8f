"""`govchain network remove-org`: an organisation removed by governance leaves the network.

The steps, each usable alone (docs/deployment.md, "Removing an organisation"):

1. `check_removable`: the org exists and is not the last one.
2. `join.decide`: the governance decision, `remove_org` proposed by the first
   remaining org's admin and voted by the other remaining orgs' admins. It takes
   effect at its height on every peer: from there the org's members are not
   members, and its peer key is no longer a header signer.
3. `network.stop_org`: its peer and nats-server stop (on a one-machine network).
4. `shrink`: every remaining org's configs are rewritten without it: the TLS CA
   bundle without its CA (so its servers and clients are refused from the next
   handshake on), `nats.conf` without its users and route, `peer.json` without
   its server and API. Running servers reload them (SIGHUP, and the reload awaited).
5. `forget_server`: the NATS cluster forgets its server. Each stream's replica on
   it moves to a remaining server (if one is free), the JetStream meta group
   removes it (so the group's quorum counts only servers that still exist), and
   when fewer servers remain than the streams' replica count, the streams are
   set to as many replicas as there are servers.

The org's folder stays on disk, with its keys and its copy of the chain.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import httpx

from govchain.node.cluster import Admin, check, placed_on, run_as_admin
from govchain.node.network import Network, NetworkError, OrgNode, chain_streams, trust_bundle, write_configs


def check_removable(network: Network, org: str) -> OrgNode:
    node = network.node(org)
    if len(network.orgs) == 1:
        raise NetworkError("last_org", "the last organisation of a network cannot be removed")
    return node


def shrink(network: Network, org: str) -> Network:
    """Rewrite every remaining org's configs without `org`; returns the network without it (not yet
    saved: `network.json` keeps listing the org until the whole removal is done, so that running
    `remove-org` again resumes it). The streams' replica count becomes at most the number of orgs."""
    check_removable(network, org)
    remaining = tuple(n for n in network.orgs if n.org != org)
    shrunk = replace(network, orgs=remaining, replicas=min(network.replicas, len(remaining)))
    write_configs(shrunk, trust_bundle(shrunk))
    return shrunk


def is_member(network: Network, org: str) -> bool:
    """Whether the chain (as the first other org's peer serves it) still lists `org`."""
    asking = next(n for n in network.orgs if n.org != org)
    try:
        orgs = httpx.get(f"{asking.api_url}/v1/orgs", timeout=10).json()["orgs"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise NetworkError(
            "peer_unreachable", f"{asking.org}'s peer ({asking.api_url}) did not answer: {exc}"
        ) from exc
    return any(o["id"] == org for o in orgs)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What `forget_server` did: per stream, where its replicas are now; the meta group's size."""

    streams: dict[str, list[str]]
    replicas: int
    meta_servers: int


def forget_server(network: Network, org: str, timeout: float = 60.0) -> Forgotten:
    """Make the cluster forget `org`'s nats-server (already stopped; `network` no longer lists it).

    Runs as the first remaining org's operator (the streams) and system user (the meta group),
    through that org's own server.
    """
    if any(n.org == org for n in network.orgs):
        raise NetworkError("still_member", f"'{org}' is still in this network's org list")
    return run_as_admin(network, lambda admin: _forget(admin, network, org, timeout), network.orgs[0].org)


async def _forget(admin: Admin, network: Network, org: str, timeout: float) -> Forgotten:
    stream, _ = chain_streams(network)
    names = (stream, f"{stream}_SIGS")
    # 1. replicas on the departed server move to a free remaining server, where there is one
    for name in names:
        servers = placed_on(check(await admin.request(f"$JS.API.STREAM.INFO.{name}"), f"stream {name}"))
        if org in servers and len(network.orgs) > len(servers) - 1:  # a remaining server is free
            moved = await admin.request(f"$JS.API.STREAM.PEER.REMOVE.{name}", {"peer": org})
            check(moved, f"stream {name}")
    # 2. the meta group forgets the server (so its quorum counts only servers that exist)
    removed = await admin.system_request("$JS.API.SERVER.REMOVE", {"peer": org})
    error = removed.get("error") or {}
    if error and "not found" not in str(error.get("description", "")).lower():
        raise NetworkError("nats_refused", f"the meta group kept {org}: {error.get('description')}")
    # 3. no more replicas than servers
    for name in names:
        config = check(await admin.request(f"$JS.API.STREAM.INFO.{name}"), f"stream {name}")["config"]
        if config.get("num_replicas", 1) > network.replicas:
            fewer = {**config, "num_replicas": network.replicas}
            check(await admin.request(f"$JS.API.STREAM.UPDATE.{name}", fewer), f"stream {name}")
    return await _settled(admin, names, org, network.replicas, len(network.orgs), timeout)


async def _settled(
    admin: Admin, names: tuple[str, ...], org: str, replicas: int, servers: int, timeout: float
) -> Forgotten:
    """Wait until no stream has a replica on the departed server, each has its full count, and the
    meta group counts the remaining servers only (it learns of the removal a moment later)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        placed = {name: placed_on(await admin.request(f"$JS.API.STREAM.INFO.{name}")) for name in names}
        jsz = await admin.system_request("$SYS.REQ.SERVER.PING.JSZ", {})
        meta = (jsz.get("data") or {}).get("meta_cluster") or {}
        size = int(meta.get("cluster_size", 0))
        if size == servers and all(org not in where and len(where) == replicas for where in placed.values()):
            return Forgotten(placed, replicas, size)
        if loop.time() > deadline:
            raise NetworkError(
                "nats_unsettled",
                f"not settled after {timeout:.0f} s: replicas {placed}, meta group of {size} servers",
            )
        await asyncio.sleep(0.5)
