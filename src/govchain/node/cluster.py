"""What the NATS cluster says about itself, asked as an org's operator and system users.

`Admin` is one org's pair of administrative connections to its own nats-server:
the operator user for the chain's two streams, the system user for the
JetStream meta group (node/nats_tls.py says what each may do). `network
remove-org` uses it to make the cluster forget a server; `network status
--cluster` uses it to show the meta group as every server sees it, and where
each stream's replicas are and how far behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NatsClient

from govchain.node.nats_tls import (
    ensure_system_cert,
    operator_context,
    operator_inbox_prefix,
    system_context,
    system_inbox_prefix,
)
from govchain.node.network import Network, NetworkError, OrgNode, chain_streams

REQUEST_TIMEOUT_S = 10.0
GATHER_S = 1.0  # how long to collect the answers of every server to one ping
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Admin:
    """One org's operator and system connections to its own nats-server."""

    org: str
    ops: NatsClient
    system: NatsClient

    async def request(self, subject: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """A stream API request as the operator."""
        return await _request(self.ops, subject, payload)

    async def system_request(self, subject: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        return await _request(self.system, subject, payload)

    async def ping_jsz(self) -> list[dict[str, Any]]:
        """Every reachable server's JetStream view (`$SYS.REQ.SERVER.PING.JSZ` answers once per server)."""
        inbox = self.system.new_inbox()
        answers: list[dict[str, Any]] = []

        async def collect(msg: Any) -> None:
            answers.append(json.loads(msg.data))

        sub = await self.system.subscribe(inbox, cb=collect)
        try:
            await self.system.publish("$SYS.REQ.SERVER.PING.JSZ", b"{}", reply=inbox)
            await asyncio.sleep(GATHER_S)
        finally:
            await sub.unsubscribe()
        return answers


def run_as_admin(network: Network, act: Callable[[Admin], Awaitable[R]], org: str | None = None) -> R:
    """Run `act` as `org`'s admin (default: the first org whose server answers)."""
    candidates = list(network.orgs) if org is None else [network.node(org)]
    with _quiet_tls_close():
        return asyncio.run(_run(network, candidates, act))


async def _run(network: Network, candidates: list[OrgNode], act: Callable[[Admin], Awaitable[R]]) -> R:
    failures = []
    for node in candidates:
        folder = network.folder(node.org)
        ensure_system_cert(folder, node.org)
        try:
            ops = await _connect(node, operator_context(folder), operator_inbox_prefix(node.org))
        except Exception as exc:  # unreachable or refusing: try the next org's server
            failures.append(f"{node.org}: {exc or type(exc).__name__}")
            continue
        try:
            system = await _connect(node, system_context(folder), system_inbox_prefix(node.org))
        except Exception as exc:
            await ops.close()
            failures.append(f"{node.org}: {exc or type(exc).__name__}")
            continue
        try:
            return await act(Admin(node.org, ops, system))
        finally:
            for nc in (ops, system):
                with contextlib.suppress(Exception):
                    await nc.close()
    raise NetworkError("nats_unreachable", "no org's nats-server let its admin in: " + "; ".join(failures))


@contextlib.contextmanager
def _quiet_tls_close() -> Iterator[None]:
    """asyncio logs a notice whenever a server closes TLS first; it is noise for a CLI."""
    quiet = logging.getLogger("asyncio")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quiet.setLevel(level)


async def _connect(node: OrgNode, tls: Any, inbox: str) -> NatsClient:
    return await nats.connect(
        servers=[node.nats_url],
        tls=tls,
        inbox_prefix=inbox,
        connect_timeout=5,
        allow_reconnect=False,
        max_reconnect_attempts=0,
    )


async def _request(nc: NatsClient, subject: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    body = b"" if payload is None else json.dumps(payload).encode()
    reply = await nc.request(subject, body, timeout=REQUEST_TIMEOUT_S)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def check(answer: dict[str, Any], what: str) -> dict[str, Any]:
    """A JetStream API answer, or NetworkError with the server's own description."""
    if "error" in answer:
        raise NetworkError("nats_refused", f"{what}: {answer['error'].get('description')}")
    return answer


def placed_on(info: dict[str, Any]) -> list[str]:
    """The servers holding a stream's replicas (its leader first), from a STREAM.INFO answer."""
    cluster = info.get("cluster") or {}
    names = [cluster["leader"]] if cluster.get("leader") else []
    return names + [r["name"] for r in cluster.get("replicas") or []]


# --- the view `network status --cluster` shows -----------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerView:
    """The meta group as one server sees it."""

    server: str
    leader: str | None
    size: int


@dataclass(frozen=True, slots=True)
class ReplicaView:
    server: str
    role: str  # leader | replica
    current: bool
    offline: bool
    lag: int


@dataclass(frozen=True, slots=True)
class StreamView:
    name: str
    messages: int
    replicas: list[ReplicaView]


@dataclass(frozen=True, slots=True)
class ClusterView:
    asked_as: str
    servers: list[ServerView]
    streams: list[StreamView]

    @property
    def leaders(self) -> set[str]:
        """The meta leaders the servers name: one when all is well, none without a quorum."""
        return {s.leader for s in self.servers if s.leader}

    def to_value(self) -> dict[str, Any]:
        return {**asdict(self), "leaders": sorted(self.leaders)}


def cluster_view(network: Network) -> ClusterView:
    """The meta group as every reachable server sees it, and each of the chain's streams' replicas."""
    stream, _ = chain_streams(network)

    async def look(admin: Admin) -> ClusterView:
        servers = []
        for answer in await admin.ping_jsz():
            data = answer.get("data") or {}
            meta = data.get("meta_cluster") or {}
            name = (answer.get("server") or {}).get("name", "?")
            servers.append(ServerView(name, meta.get("leader") or None, int(meta.get("cluster_size", 0))))
        streams = []
        for name in (stream, f"{stream}_SIGS"):
            info = await admin.request(f"$JS.API.STREAM.INFO.{name}")
            if (info.get("error") or {}).get("code") == 404:  # no peer has created it yet
                streams.append(StreamView(name, 0, []))
                continue
            cluster = check(info, f"stream {name}").get("cluster") or {}
            replicas = []
            if cluster.get("leader"):
                replicas.append(ReplicaView(cluster["leader"], "leader", True, False, 0))
            for r in cluster.get("replicas") or []:
                replicas.append(
                    ReplicaView(
                        r["name"],
                        "replica",
                        bool(r.get("current")),
                        bool(r.get("offline")),
                        int(r.get("lag", 0)),
                    )
                )
            streams.append(StreamView(name, int((info.get("state") or {}).get("messages", 0)), replicas))
        return ClusterView(admin.org, sorted(servers, key=lambda s: s.server), streams)

    return run_as_admin(network, look)
