"""E-licences on the 4-organisation network (real nats-servers and peers on 127.0.0.1).

The type is registered by a vote of 3 of 4 organisations, a licence is issued through
org2's peer, used through org1's, fetched from org2's private store, suspended, and its
status proof from org4's peer verifies offline with every organisation's signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from govchain.contracts.licence.client import LicenceClient
from govchain.contracts.licence.proof import check_status_proof
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import KeyPair, get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, issue
from govchain.node.network import Network, status
from govchain.sdk.client import Client, SdkError

pytestmark = pytest.mark.slow

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30.0) -> T:
    """The first truthy answer of `check` (peers apply blocks a moment apart); retries SdkErrors."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = check()
            if answer:
                return answer
        except SdkError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("no answer in time")
        time.sleep(0.1)


def member(network: Network, org: str, role: str) -> KeyPair:
    suite = get_suite(network.suite)
    folder = network.folder(org)
    keys = suite.generate_keypair()
    now = int(time.time() * 1000)
    ca_key = KeyFile.load(folder / "ca-key.json").keys.private
    cert = issue(
        suite,
        Certificate.load((folder / "ca.pem").read_bytes()),
        ca_key,
        keys.public,
        org,
        role,
        role,
        now - 1000,
        now + 86_400_000,
    )
    with Client(url(network, org), key=keys) as client:
        client.call("membership", "enroll", {"cert": cert.der})
    return keys


def url(network: Network, org: str) -> str:
    return next(n.api_url for n in network.orgs if n.org == org)


def test_licence_lifecycle_across_four_organisations(network: Network) -> None:
    admins: dict[str, Client] = {}
    for node in network.orgs:
        folder = network.folder(node.org)
        admins[node.org] = Client(node.api_url, key=KeyFile.load(folder / "admin-key.json").keys)
        cert = Certificate.load((folder / "admin.pem").read_bytes())
        admins[node.org].call("membership", "enroll", {"cert": cert.der})
    proposal = {"action": "register", "args": {"kind": "licence_type", "id": "BL", "doc": BUSINESS_LICENCE}}
    done = eventually(lambda: admins["org1"].call("governance", "propose", proposal))
    for org in ("org2", "org3"):  # with org1's, 3 of 4 organisations: more than 2/3
        eventually(
            lambda org=org: admins[org].call("governance", "vote", {"proposal": done.tx_id, "approve": True})
        )

    issuer = LicenceClient(Client(url(network, "org2"), key=member(network, "org2", "issuer")))
    bank = LicenceClient(Client(url(network, "org1"), key=member(network, "org1", "operator")))
    public = LicenceClient(Client(url(network, "org3")))

    def in_force() -> bool:
        issuer.client.call(
            "notary", "anchor", {"digest": get_suite(network.suite).hash(str(time.time()).encode())}
        )
        return all(LicenceClient(Client(n.api_url)).types() for n in network.orgs)

    eventually(in_force)
    holder = issuer.suite.generate_keypair()
    fields = {"name": "深圳某某物流有限公司", "credit_code": "91440300MA5XXXXX2B", "legal_rep": "孙七"}
    bundle = issuer.issue("BL", fields, "91440300MA5XXXXX2B", holder.public)
    lid = str(bundle["licence"])
    assert eventually(lambda: public.status(lid))["status"] == "valid"

    # Used through org1's peer; the fields come from org2's private store.
    presented = issuer.authorise(holder, bundle, "org1", "跨境报关", ["name"], one_time=False)
    used = eventually(lambda: bank.use(presented))
    assert used["fields"] == {"name": "深圳某某物流有限公司"}
    fetched = LicenceClient(Client(url(network, "org2"), key=bank.client.key)).fetch(
        lid, bytes.fromhex(used["tx"])
    )
    assert fetched["fields"] == {"name": "深圳某某物流有限公司"}
    with pytest.raises(SdkError) as refused:  # org1's peer holds no data: it is not the issuing node
        bank.fetch(lid, bytes.fromhex(used["tx"]))
    assert refused.value.code == "not_found"

    issuer.transition("suspend", lid, "涉嫌违规")
    assert eventually(lambda: public.status(lid)["status"] == "suspended")
    with pytest.raises(SdkError) as refused:
        eventually(
            lambda: bank.use(presented) if public.status(lid)["status"] == "suspended" else None, timeout=5
        )
    assert refused.value.code == "licence_not_valid"

    # A status proof from org4's peer verifies offline: a final block signed by the organisations.
    org4 = Client(url(network, "org4"))

    def suspended_proof() -> dict[str, Any] | None:
        proof: dict[str, Any] = org4.get(f"/v1/licences/{lid}/proof")
        verdict = check_status_proof(proof, lid, int(time.time() * 1000), org4.chain.genesis_hash)
        return proof if verdict.status == "suspended" else None

    proof = eventually(suspended_proof)
    verdict = check_status_proof(proof, lid, int(time.time() * 1000), org4.chain.genesis_hash)
    assert (verdict.ok, verdict.check, verdict.status) == (False, "status", "suspended")
    assert len(proof["block"]["signatures"]) >= 3

    # Every peer ends with the same chain.
    eventually(lambda: len({(s["height"], s.get("latest_hash")) for s in status(network)}) == 1)
