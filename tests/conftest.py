"""Shared fixtures: a 3-organisation consortium node behind a TestClient, for both suites."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.crypto import KeyPair, Suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, issue
from govchain.ledger.transactions import make_tx
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, init_consortium
from govchain.node.node import Node

CBOR = {"content-type": "application/cbor"}
DAY = 24 * 3600 * 1000


@dataclass
class Env:
    client: TestClient
    node: Node
    out: Path

    @property
    def suite(self) -> Suite:
        return self.node.suite

    def ca(self, org: str) -> tuple[Certificate, bytes]:
        cert = Certificate.load((self.out / org / "ca.pem").read_bytes())
        return cert, KeyFile.load(self.out / org / "ca-key.json").keys.private

    def new_member(
        self, org: str, role: str, name: str, valid_ms: int = DAY, issuer_org: str | None = None
    ) -> tuple[KeyPair, Certificate]:
        ca, ca_key = self.ca(issuer_org or org)  # issuer_org: a CA signing for another organisation
        keys = self.suite.generate_keypair()
        now = int(time.time() * 1000)
        cert = issue(self.suite, ca, ca_key, keys.public, org, role, name, now - 1000, now + valid_ms)
        return keys, cert

    def send(
        self, keys: KeyPair, contract: str, method: str, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        expiry = int(time.time() * 1000) + 60_000
        tx = make_tx(self.suite, keys, self.node.genesis.chain_id, contract, method, args, expiry)
        reply = self.client.post(
            "/v1/txs",
            content=tx.raw,
            headers=CBOR,
            params={"wait": "true"},
        )
        return reply.status_code, reply.json()

    def enroll(self, keys: KeyPair, cert: Certificate) -> tuple[int, dict[str, Any]]:
        return self.send(keys, "membership", "enroll", {"cert": cert.der})

    def notarize(self, keys: KeyPair) -> tuple[int, dict[str, Any]]:
        return self.send(keys, "notary", "anchor", {"digest": self.suite.hash(keys.public)})

    def members(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.node.query("membership", "members", {})
        return found

    def tx_count(self) -> int:
        return int(self.client.get("/v1/status").json()["tx_count"])


def code(reply: tuple[int, dict[str, Any]]) -> str:
    _, body = reply
    if "error" in body:
        return str(body["error"]["code"])
    return str(body.get("code"))


@pytest.fixture(params=["intl", "gm"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    out = tmp_path / "cons"
    init_consortium(out, 3, request.param)
    data = tmp_path / "node"
    adopt_genesis(data, (out / GENESIS_FILE).read_bytes(), KeyFile.load(out / "org1" / "peer-key.json"))
    node = Node(data, default_registry())
    node.start()
    try:
        with TestClient(create_app(node)) as client:
            yield Env(client, node, out)
    finally:
        node.stop()
