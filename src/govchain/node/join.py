"""`govchain network add-org`: an organisation admitted by governance joins a running network.

Three steps, each usable alone (docs/deployment.md, "Adding an organisation"):

1. `add_org`: the new org's identities (CA, admin, peer, as `consortium init`
   makes them), its NATS TLS material, and every org's configs rewritten for
   the longer org list: the CA bundle, one more NATS user, one more route.
2. `admit_org`: the governance decision, `add_org` proposed by the first org's
   admin and voted by the others' (each enrolled first if needed), through
   their peers' APIs. It takes effect at its height, identically on every peer.
3. `network.start_joined`: running servers reload their configs, then the new
   org's nats-server joins the cluster and its peer replays the stream.

The new peer executes and serves every block, and its org's members may enrol
from the decision's height on. From that height its peer key is also a header
signer (ledger/signers.py): the quorum counts it, and the other peers keep
finalising while it replays the stream.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import cbor2
import httpx

from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.orgs import Org
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, OrgFiles, init_org
from govchain.node.nats_tls import PEER_CERT, TLS_DIR, make_org_tls
from govchain.node.network import (
    _HOST_CHARS,
    DEFAULT_GOVCHAIN_BIN,
    DEFAULT_INSTALL_DIR,
    LOCAL_HOST,
    Network,
    NetworkError,
    OrgNode,
    port_open,
    trust_bundle,
    write_configs,
    write_units,
)

TX_TTL_MS = 120_000


def add_org(
    network: Network,
    org: str,
    name_zh: str,
    name_en: str,
    host: str = LOCAL_HOST,
    install_dir: str = DEFAULT_INSTALL_DIR,
    govchain_bin: str = DEFAULT_GOVCHAIN_BIN,
) -> tuple[Network, Org]:
    """Write the new org's folder and rewrite every org's configs; returns the network and the org
    value its admission proposes. Its ports follow the highest in use (org n+1's at `init`)."""
    if any(node.org == org for node in network.orgs) or (network.directory / org).exists():
        raise NetworkError("org_exists", f"'{org}' is already an organisation (or a folder) of this network")
    if not host or not set(host) <= _HOST_CHARS:
        raise NetworkError("invalid_host", f"'{host}' is not a host name or IP address")
    first = network.orgs[0]
    if not (network.folder(first.org) / TLS_DIR / PEER_CERT).is_file():
        raise NetworkError("no_client_tls", "this network predates client TLS; make a new one to add orgs")
    client = max(n.client_port for n in network.orgs) + 1
    node = OrgNode(org, client, client + 100, max(n.api_port for n in network.orgs) + 1, host)
    ports = (node.client_port, node.cluster_port, node.api_port)
    used = {p for n in network.orgs for p in (n.client_port, n.cluster_port, n.api_port)}
    if set(ports) & used or (host == LOCAL_HOST and any(port_open(p) for p in ports)):
        raise NetworkError("port_in_use", f"the ports for {org} ({', '.join(map(str, ports))}) are taken")
    try:  # the id and names the governance contract will check, before anything is written
        Org.from_value({"id": org, "name_zh": name_zh, "name_en": name_en, "ca": b"", "peers": []})
    except ValueError as exc:
        raise NetworkError("invalid_org", str(exc)) from exc
    suite = get_suite(network.suite)
    folder = network.folder(org)
    value = init_org(suite, OrgFiles(org, folder), name_zh, name_en, int(time.time() * 1000))
    make_org_tls(folder, org, tuple(dict.fromkeys((host, LOCAL_HOST))))
    grown = replace(network, orgs=(*network.orgs, node))
    write_configs(grown, trust_bundle(grown))
    genesis = (network.directory / GENESIS_FILE).read_bytes()
    adopt_genesis(folder / "node", genesis, KeyFile.load(OrgFiles(org, folder).key("peer")))
    write_units(folder, org, install_dir, govchain_bin)
    grown.save()
    return grown, value


def _post(node: OrgNode, tx: SignedTx) -> dict[str, Any]:
    reply = httpx.post(
        f"{node.api_url}/v1/txs/batch",
        content=cbor2.dumps([tx.raw]),
        headers={"content-type": "application/cbor"},
        params={"wait": "true", "timeout": 30},
        timeout=40,
    )
    if reply.status_code != 200:
        raise NetworkError("decision_failed", f"{node.org}'s peer refused the transaction: {reply.text}")
    result: dict[str, Any] = reply.json()["results"][0]
    return result


def admit_org(network: Network, value: Org, timeout: float = 60.0) -> int:
    """Propose `add_org` as the first org's admin and vote as every other existing org's admin, each
    through its own peer; returns the height from which the new org is a member."""
    voters = [n for n in network.orgs if n.org != value.id]
    return decide(network, voters, "add_org", {"org": value.to_value()}, f"admit {value.id}")


def decide(network: Network, voters: list[OrgNode], action: str, args: dict[str, Any], title: str) -> int:
    """A governance decision: the first voter's admin proposes, every other voter's admin votes for
    it, each through its own org's peer (each admin is enrolled first if needed). Returns the height
    from which it takes effect; `undecided` if the voters alone do not reach its threshold."""
    suite = get_suite(network.suite)
    chain_id = httpx.get(f"{voters[0].api_url}/v1/chain", timeout=5).json()["chain_id"]
    expiry = int(time.time() * 1000) + TX_TTL_MS
    admins = []
    for node in voters:
        files = OrgFiles(node.org, network.folder(node.org))
        keys = KeyFile.load(files.key("admin")).keys
        cert = Certificate.load(files.cert("admin").read_bytes())
        enrol = make_tx(suite, keys, chain_id, "membership", "enroll", {"cert": cert.der}, expiry)
        code = _post(node, enrol).get("code")
        if code not in {"ok", "conflict"}:  # conflict: enrolled already
            raise NetworkError("decision_failed", f"cannot enrol {node.org}'s admin: {code}")
        admins.append(keys)
    body = {"action": action, "args": args, "title": title}
    proposal = make_tx(suite, admins[0], chain_id, "governance", "propose", body, expiry)
    result = _post(voters[0], proposal)
    if result.get("code") != "ok":
        raise NetworkError("decision_failed", f"the {action} proposal failed: {result}")
    for node, keys in zip(voters[1:], admins[1:], strict=True):
        vote = make_tx(
            suite, keys, chain_id, "governance", "vote", {"proposal": proposal.id, "approve": True}, expiry
        )
        code = _post(node, vote).get("code")
        if code not in {"ok", "proposal_closed"}:  # closed: the threshold was met before this vote
            raise NetworkError("decision_failed", f"{node.org}'s vote failed: {code}")
    url = f"{voters[0].api_url}/v1/governance/proposals/{proposal.id.hex()}"
    decided = httpx.get(url, timeout=5).json()
    if decided.get("status") == "open":
        others = [n for n in network.orgs if n not in voters]
        how = "; ".join(
            f"govchain proposal vote {proposal.id.hex()} --org {n.org} --consortium {network.directory} "
            f"--node {n.api_url}"
            for n in others
        )
        raise NetworkError(
            "undecided",
            f"the {action} proposal has {len(voters)} votes, short of its threshold {decided['threshold']}; "
            f"it stays open. Another org's admin may vote for it ({how or 'govchain proposal vote'}), "
            "then run this command again",
        )
    if decided.get("status") != "executed":
        raise NetworkError("decision_failed", f"the {action} proposal was not executed: {decided}")
    return int(decided["effective_height"])
