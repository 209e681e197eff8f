"""`govchain network rotate-tls`: replace an organisation's NATS TLS CA and every certificate it issued.

Why the CA and not only the certificates: nats-server keeps no revocation list,
so the only way to make an org's old certificates (a leaked peer key, say)
worthless is to stop trusting the CA that issued them. That takes two steps,
so that no server ever refuses a legitimate one in between:

1. `begin`: the org gets a new TLS CA and new server, peer, operator and system
   certificates and keys. Every org's bundle (`tls/cluster-cas.pem`) holds the
   old CA *and* the new one (`tls/ca-previous.pem` keeps the old one meanwhile).
   Servers reload; the org's nats-server and peer restart with their new
   certificates.
2. `finish`: every bundle drops the old CA; servers reload. From the next TLS
   handshake on, a certificate from the old CA opens nothing.

Chain identities (the org's chain CA, admin and peer signing keys) are not
touched: governance rotates those (`rotate_ca`, governance.md).
"""

from __future__ import annotations

import os

from govchain.node.nats_tls import CA_CERT, CA_KEY, PREVIOUS_CA, TLS_DIR, issue_leaves, new_ca
from govchain.node.network import LOCAL_HOST, Network, NetworkError, trust_bundle, write_configs


def pending(network: Network) -> list[str]:
    """Orgs whose rotation has begun and not finished (their old CA is still trusted): `network
    status` warns about them."""
    return [n.org for n in network.orgs if (network.folder(n.org) / TLS_DIR / PREVIOUS_CA).is_file()]


def begin(network: Network, org: str) -> None:
    """Step 1: a new CA and certificates for `org`; every bundle trusts its old and new CA."""
    node = network.node(org)
    tls = network.folder(org) / TLS_DIR
    if (tls / PREVIOUS_CA).is_file():
        raise NetworkError("rotation_pending", f"{org}'s rotation has begun already; finish it (--finish)")
    if not (tls / CA_KEY).is_file():
        raise NetworkError("no_ca_key", f"{tls / CA_KEY} is missing: rotate where `network init` ran")
    os.replace(tls / CA_CERT, tls / PREVIOUS_CA)
    new_ca(network.folder(org), org)
    issue_leaves(network.folder(org), org, tuple(dict.fromkeys((node.host, LOCAL_HOST))))
    write_configs(network, trust_bundle(network))


def finish(network: Network, org: str) -> None:
    """Step 2: every bundle drops `org`'s old CA."""
    network.node(org)
    previous = network.folder(org) / TLS_DIR / PREVIOUS_CA
    if not previous.is_file():
        raise NetworkError("no_rotation", f"no rotation of {org}'s TLS CA has begun")
    previous.unlink()
    write_configs(network, trust_bundle(network))
