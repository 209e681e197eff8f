"""Organisations: who takes part in a consortium chain, as its genesis names them.

Each organisation has an id, names in zh-CN and English, the certificate of its
CA (which issues its members' certificates) and the public keys of its peer
nodes. They live in the genesis document under `extra.orgs` (docs/protocol.md,
"Genesis"), so the genesis hash commits to them. A chain with no organisations
is a development chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from govchain.crypto import PUBLIC_KEY_SIZE, Suite
from govchain.crypto.x509 import Certificate, CertificateError, verify_self_signed_ca
from govchain.ledger.blocks import Genesis

_ORG_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_ORG_NAME = 128
_FIELDS = frozenset({"id", "name_zh", "name_en", "ca", "peers"})


@dataclass(frozen=True, slots=True)
class Org:
    id: str
    name_zh: str
    name_en: str
    ca: bytes  # DER of the organisation's CA certificate
    peers: tuple[bytes, ...]  # 65-byte public keys of its peer nodes

    def to_value(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "ca": self.ca,
            "peers": list(self.peers),
        }

    @classmethod
    def from_value(cls, value: Any) -> Org:
        if type(value) is not dict or set(value) != _FIELDS:
            raise ValueError(f"an organisation must have exactly the fields {sorted(_FIELDS)}")
        org_id, name_zh, name_en = value["id"], value["name_zh"], value["name_en"]
        if type(org_id) is not str or not _ORG_ID.fullmatch(org_id):
            raise ValueError("organisation id must be 1..32 of a-z, 0-9 and '-', starting alphanumeric")
        for name in (name_zh, name_en):
            if type(name) is not str or not 0 < len(name) <= MAX_ORG_NAME:
                raise ValueError(f"organisation names must be 1..{MAX_ORG_NAME} characters")
        peers = value["peers"]
        if type(peers) is not list or any(type(p) is not bytes or len(p) != PUBLIC_KEY_SIZE for p in peers):
            raise ValueError("organisation peers must be 65-byte public keys")
        if type(value["ca"]) is not bytes:
            raise ValueError("organisation 'ca' must be the DER of its CA certificate")
        return cls(org_id, name_zh, name_en, value["ca"], tuple(peers))

    def ca_certificate(self) -> Certificate:
        return Certificate.load(self.ca)


def genesis_orgs(genesis: Genesis) -> list[Org]:
    """The organisations of a chain (empty for a development chain)."""
    raw = genesis.extra.get("orgs", [])
    if type(raw) is not list:
        raise ValueError("genesis extra.orgs must be a list")
    return [Org.from_value(item) for item in raw]


def check_orgs(suite: Suite, orgs: list[Org], at_ms: int) -> None:
    """Every CA is a valid self-signed CA of the chain's suite for its own org; ids and peers are unique."""
    ids = [org.id for org in orgs]
    if len(set(ids)) != len(ids):
        raise ValueError("organisation ids must be unique")
    peers = [peer for org in orgs for peer in org.peers]
    if len(set(peers)) != len(peers):
        raise ValueError("a peer key may belong to one organisation only")
    for org in orgs:
        try:
            ca = org.ca_certificate()
            verify_self_signed_ca(suite, ca, at_ms)
        except CertificateError as exc:
            raise ValueError(
                f"organisation {org.id}: CA certificate is not valid ({exc.reason}: {exc})"
            ) from None
        if ca.subject_org != org.id:
            raise ValueError(f"organisation {org.id}: CA certificate names organisation {ca.subject_org}")
