"""`govchain consortium init`: every organisation's CA, admin and peer identities, and the genesis.

Layout of the output directory (docs/governance.md):

    DIR/genesis.cbor            the genesis document (orgs under extra.orgs)
    DIR/consortium.json         a readable summary: chain, suite, genesis hash, orgs
    DIR/<org>/ca.pem            the org's CA certificate (public)
    DIR/<org>/ca-key.json       the CA's private key (0600): keep it offline
    DIR/<org>/admin.pem, admin-key.json   the org's first admin
    DIR/<org>/peer.pem,  peer-key.json    the org's peer node identity

Each organisation's secrets sit in its own folder, so a folder can be handed to
that organisation alone. On one machine, `govchain up --consortium DIR` runs the
embedded single node as the first organisation's peer, which signs the headers.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from govchain.crypto import Suite, get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import create_ca, issue
from govchain.ledger.blocks import ChainParams, Genesis
from govchain.ledger.orgs import Org, check_orgs

CA_YEARS = 10
MEMBER_YEARS = 3
YEAR_MS = 365 * 24 * 3600 * 1000
MAX_ORGS = 64
GENESIS_FILE = "genesis.cbor"
SUMMARY_FILE = "consortium.json"


@dataclass(frozen=True, slots=True)
class OrgFiles:
    org_id: str
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def cert(self, who: str) -> Path:
        return self.folder / f"{who}.pem"

    def key(self, who: str) -> Path:
        return self.folder / f"{who}-key.json"


def org_names(index: int) -> tuple[str, str, str]:
    """(id, zh-CN name, English name) of the index-th (1-based) generated organisation."""
    return f"org{index}", f"组织{index}", f"Organisation {index}"


def init_consortium(
    out: Path,
    orgs: int,
    suite_name: str,
    chain_id: str = "govchain-consortium",
    all_peers_sign: bool = False,
    params: ChainParams | None = None,
) -> Genesis:
    """Write every org's identities and the genesis into `out` (which must not hold a consortium).

    The genesis `signers` are org1's peer alone (one embedded node signs), or with
    `all_peers_sign` every org's peer: then a block is final once more than 2/3 of
    the organisations' peers signed its header (the network, `govchain network init`).
    """
    if not 1 <= orgs <= MAX_ORGS:
        raise ValueError(f"--orgs must be 1..{MAX_ORGS}")
    if (out / GENESIS_FILE).exists():
        raise FileExistsError(f"{out} already holds a consortium")
    suite = get_suite(suite_name)
    now = int(time.time() * 1000)
    out.mkdir(parents=True, exist_ok=True)
    members: list[Org] = []
    for index in range(1, orgs + 1):
        org_id, name_zh, name_en = org_names(index)
        members.append(init_org(suite, OrgFiles(org_id, out / org_id), name_zh, name_en, now))
    check_orgs(suite, members, now)
    first_peer = members[0].peers[0]
    signers = tuple(org.peers[0] for org in members) if all_peers_sign else (first_peer,)
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite.name,
        time=now,
        signers=signers,
        params=params or ChainParams(),
        extra={"orgs": [org.to_value() for org in members]},
    )
    data = genesis.encode()
    (out / GENESIS_FILE).write_bytes(data)
    summary = {
        "chain_id": chain_id,
        "suite": suite.name,
        "genesis_hash": suite.hash(data).hex(),
        "orgs": [
            {"id": org.id, "name_zh": org.name_zh, "name_en": org.name_en, "folder": org.id}
            for org in members
        ],
        "solo_signer": f"{members[0].id}/peer-key.json",
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    return genesis


def init_org(suite: Suite, files: OrgFiles, name_zh: str, name_en: str, now: int) -> Org:
    """One organisation's CA, first admin and peer identity, in its own folder (also for joining later)."""
    files.folder.mkdir(parents=True, exist_ok=True)
    os.chmod(files.folder, 0o700)
    ca_key = KeyFile.generate(suite)
    ca = create_ca(suite, files.org_id, f"{files.org_id} CA", ca_key.keys, now, now + CA_YEARS * YEAR_MS)
    ca_key.save(files.key("ca"))
    files.ca.write_bytes(ca.to_pem())
    peer_public = b""
    for who in ("admin", "peer"):
        key = KeyFile.generate(suite)
        cert = issue(
            suite,
            ca,
            ca_key.keys.private,
            key.keys.public,
            files.org_id,
            who,
            f"{files.org_id} {who}",
            now,
            now + MEMBER_YEARS * YEAR_MS,
        )
        key.save(files.key(who))
        files.cert(who).write_bytes(cert.to_pem())
        if who == "peer":
            peer_public = key.keys.public
    return Org(files.org_id, name_zh, name_en, ca.der, (peer_public,))
