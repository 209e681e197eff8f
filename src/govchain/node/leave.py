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
   its server and API. Running servers reload them (SIGHUP).
5. `forget_server`: the NATS cluster forgets its server. Each stream's replica on
   it moves to a remaining server (if one is free), the JetStream meta group
   removes it (so the group's quorum counts only servers that still exist), and
   when fewer servers remain than the streams' replica count, the streams are
   set to as many replicas as there are servers.

The org's folder stays on disk, with its keys and its copy of the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NatsClient

from govchain.node.nats_tls import (
    ensure_system_cert,
    operator_context,
    operator_inbox_prefix,
    system_context,
    system_inbox_prefix,
)
from govchain.node.network import Network, NetworkError, OrgNode, chain_streams, trust_bundle, write_configs

REQUEST_TIMEOUT_S = 10.0


def check_removable(network: Network, org: str) -> OrgNode:
    node = next((n for n in network.orgs if n.org == org), None)
    if node is None:
        names = ", ".join(n.org for n in network.orgs)
        raise NetworkError("unknown_org", f"no organisation '{org}' in this network (it has {names})")
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
    orgs = httpx.get(f"{asking.api_url}/v1/orgs", timeout=10).json()["orgs"]
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
    acting = network.orgs[0]
    ensure_system_cert(network.folder(acting.org), acting.org)
    quiet = logging.getLogger("asyncio")  # its notice about servers closing TLS first is noise here
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return asyncio.run(_forget(network, acting, org, timeout))
    finally:
        quiet.setLevel(level)


async def _connect(node: OrgNode, tls: Any, inbox: str) -> NatsClient:
    return await nats.connect(
        servers=[node.nats_url], tls=tls, inbox_prefix=inbox, connect_timeout=5, allow_reconnect=False
    )


async def _request(nc: NatsClient, subject: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    body = b"" if payload is None else json.dumps(payload).encode()
    reply = await nc.request(subject, body, timeout=REQUEST_TIMEOUT_S)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def _check(answer: dict[str, Any], what: str) -> dict[str, Any]:
    """A JetStream API answer, or NetworkError with the server's own description."""
    if "error" in answer:
        raise NetworkError("nats_refused", f"{what}: {answer['error'].get('description')}")
    return answer


def _servers(info: dict[str, Any]) -> list[str]:
    cluster = info.get("cluster") or {}
    names = [cluster["leader"]] if cluster.get("leader") else []
    return names + [r["name"] for r in cluster.get("replicas") or []]


async def _forget(network: Network, acting: OrgNode, org: str, timeout: float) -> Forgotten:
    folder = network.folder(acting.org)
    stream, _ = chain_streams(network)
    names = (stream, f"{stream}_SIGS")
    ops = await _connect(acting, operator_context(folder), operator_inbox_prefix(acting.org))
    system = await _connect(acting, system_context(folder), system_inbox_prefix(acting.org))
    try:
        # 1. replicas on the departed server move to a free remaining server, where there is one
        for name in names:
            info = await _request(ops, f"$JS.API.STREAM.INFO.{name}")
            _check(info, f"stream {name}")
            servers = _servers(info)
            if org in servers and len(network.orgs) > len(servers) - 1:  # a remaining server is free
                moved = await _request(ops, f"$JS.API.STREAM.PEER.REMOVE.{name}", {"peer": org})
                _check(moved, f"stream {name}")
        # 2. the meta group forgets the server (so its quorum counts only servers that exist)
        removed = await _request(system, "$JS.API.SERVER.REMOVE", {"peer": org})
        error = removed.get("error") or {}
        if error and "not found" not in str(error.get("description", "")).lower():
            raise NetworkError("nats_refused", f"the meta group kept {org}: {error.get('description')}")
        # 3. no more replicas than servers
        for name in names:
            config = _check(await _request(ops, f"$JS.API.STREAM.INFO.{name}"), f"stream {name}")["config"]
            if config.get("num_replicas", 1) > network.replicas:
                fewer = {**config, "num_replicas": network.replicas}
                _check(await _request(ops, f"$JS.API.STREAM.UPDATE.{name}", fewer), f"stream {name}")
        return await _settled(ops, system, names, org, network.replicas, timeout)
    finally:
        for nc in (ops, system):
            with contextlib.suppress(Exception):
                await nc.close()


async def _settled(
    ops: NatsClient, system: NatsClient, names: tuple[str, ...], org: str, replicas: int, timeout: float
) -> Forgotten:
    """Wait until no stream has a replica on the departed server and each has its full count."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        placed = {name: _servers(await _request(ops, f"$JS.API.STREAM.INFO.{name}")) for name in names}
        jsz = await _request(system, "$SYS.REQ.SERVER.PING.JSZ", {})
        meta = (jsz.get("data") or {}).get("meta_cluster") or {}
        meta_servers = int(meta.get("cluster_size", 0))
        if all(org not in where and len(where) == replicas for where in placed.values()):
            return Forgotten(placed, replicas, meta_servers)
        if loop.time() > deadline:
            raise NetworkError("nats_unsettled", f"replicas not settled after {timeout:.0f} s: {placed}")
        await asyncio.sleep(0.5)
