"""NATS clients the network tests use to probe who a server lets in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats

from govchain.node.nats_tls import (
    CAS_FILE,
    PEER_CERT,
    PEER_KEY,
    TLS_DIR,
    client_context,
    inbox_prefix,
    system_context,
    system_inbox_prefix,
)
from govchain.node.network import Network, OrgNode


def peer_connects(url: str, folder: Path, org: str) -> bool:
    """Whether the server at `url` lets in the peer credential in `folder/tls/` (org `org`'s)."""
    tls = client_context(folder, f"{TLS_DIR}/{CAS_FILE}", f"{TLS_DIR}/{PEER_CERT}", f"{TLS_DIR}/{PEER_KEY}")

    async def attempt() -> bool:
        try:
            nc = await nats.connect(
                url,
                tls=tls,
                inbox_prefix=inbox_prefix(org),
                allow_reconnect=False,
                connect_timeout=3,
                max_reconnect_attempts=0,
            )
        except Exception:
            return False
        await nc.close()
        return True

    return asyncio.run(attempt())


def meta_group(network: Network, node: OrgNode) -> dict[str, Any]:
    """The JetStream meta group (size, leader, replicas) as `node`'s server sees it: its org's
    system user asks its own server."""

    async def ask() -> dict[str, Any]:
        folder = network.folder(node.org)
        nc = await nats.connect(
            node.nats_url,
            tls=system_context(folder),
            inbox_prefix=system_inbox_prefix(node.org),
            allow_reconnect=False,
        )
        try:
            reply = await nc.request("$SYS.REQ.SERVER.PING.JSZ", b"{}", timeout=5)
            meta: dict[str, Any] = json.loads(reply.data)["data"].get("meta_cluster") or {}
            return meta
        finally:
            await nc.close()

    return asyncio.run(ask())
