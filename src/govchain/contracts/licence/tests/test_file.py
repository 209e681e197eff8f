"""Licence files end to end on a consortium node (both suites): issued with the PDF's digest on chain,
checked against the chain through the lifecycle, refused when altered, kept in the private store."""

from __future__ import annotations

import io
import time
from typing import Any

import pypdf
import pytest

from govchain.contracts.licence.client import LicenceClient, bundle_file
from govchain.contracts.licence.model import licence_id
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import KeyPair
from govchain.sdk.client import Client, SdkError
from tests.conftest import Env, code
from tests.test_governance import enrol_admins

HOLDER_CODE = "91310115MA1K4LXK2T"
FIELDS = {
    "name": "上海某某科技有限公司",
    "credit_code": HOLDER_CODE,
    "legal_rep": "张三",
    "scope": "软件开发",
}


def sdk(env: Env, keys: KeyPair | None = None) -> Client:
    """An SDK client talking to the in-process node."""
    client = Client(str(env.client.base_url), key=keys)
    client._http = env.client
    return client


def member(env: Env, org: str, role: str, name: str) -> KeyPair:
    keys, cert = env.new_member(org, role, name)
    assert code(env.enroll(keys, cert)) == "ok"
    return keys


def register_type(env: Env) -> None:
    admins = enrol_admins(env)
    proposal = {"action": "register", "args": {"kind": "licence_type", "id": "BL", "doc": BUSINESS_LICENCE}}
    _, reply = env.send(admins["org1"], "governance", "propose", proposal)
    for org in ("org2", "org3"):
        vote = {"proposal": bytes.fromhex(reply["id"]), "approve": True}
        assert code(env.send(admins[org], "governance", "vote", vote)) == "ok"
    deadline = time.time() + 10
    while env.client.get("/v1/licences/types/BL").status_code != 200:
        assert time.time() < deadline
        env.notarize(admins["org1"])


@pytest.fixture
def issuer(env: Env) -> LicenceClient:
    register_type(env)
    return LicenceClient(
        sdk(env, member(env, "org2", "issuer", "市场监管局")), portal="https://portal.example"
    )


def verdict(licences: LicenceClient, pdf: bytes, licence: str | None = None) -> tuple[str, int | None]:
    found = licences.verify_file(pdf, licence)
    assert found.ok == (found.code == "valid")
    return found.code, found.version


def posted(env: Env, pdf: bytes, **params: str) -> dict[str, Any]:
    reply = env.client.post("/v1/licences/verify-file", content=pdf, params=params)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def test_a_licence_file_is_checked_against_the_chain_through_its_lifecycle(
    env: Env, issuer: LicenceClient
) -> None:
    holder = env.suite.generate_keypair()
    bundle = issuer.issue("BL", FIELDS, HOLDER_CODE, holder.public)
    lid, pdf = bundle["licence"], bundle_file(bundle)
    assert pdf is not None and lid == licence_id("BL", "org2", 1)
    status = issuer.status(lid)
    assert status["file_digest"] == env.suite.hash(pdf).hex() == bundle["file_digest"]
    assert status["data_digest"] == bundle["data_digest"] != status["file_digest"]
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")
    assert lid in text and f"https://portal.example/licences/{lid}?v=1&d={bundle['data_digest']}" in text

    public = LicenceClient(sdk(env))
    assert verdict(public, pdf) == ("valid", 1)
    assert posted(env, pdf) | {"message": ""} == public.verify_file(pdf).to_json() | {"message": ""}
    # One byte changed anywhere: the file matches no version (the metadata still names the licence).
    for at in (len(pdf) // 2, len(pdf) - 10):
        altered = pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :]
        assert verdict(public, altered) == ("file_mismatch", None)
    assert posted(env, pdf + b"\n")["code"] == "file_mismatch"  # even a byte appended
    # A file that names no licence, unless the verifier says which it should be.
    assert verdict(public, b"%PDF-1.4 some other document") == ("file_unknown", None)
    assert verdict(public, b"%PDF-1.4 some other document", lid) == ("file_mismatch", None)
    assert verdict(public, pdf, licence_id("BL", "org2", 99)) == ("not_found", None)
    assert posted(env, b"%PDF-1.4 some other document")["code"] == "file_unknown"
    assert posted(env, b"%PDF-1.4 some other document", id=lid)["code"] == "file_mismatch"
    assert env.client.post("/v1/licences/verify-file", content=b"").json()["error"]["code"] == "invalid_args"

    issuer.transition("suspend", lid, "涉嫌违规经营")
    assert verdict(public, pdf) == ("suspended", 1)
    assert posted(env, pdf)["code"] == "suspended"
    issuer.transition("resume", lid, "调查结束")
    assert verdict(public, pdf) == ("valid", 1)

    changed = issuer.change(bundle, FIELDS | {"scope": "软件开发、技术咨询"}, "经营范围变更")
    new_pdf = bundle_file(changed)
    assert changed["version"] == 2 and new_pdf is not None and new_pdf != pdf
    assert verdict(public, pdf) == ("superseded", 1)
    assert verdict(public, new_pdf) == ("valid", 2)
    assert issuer.status(lid)["file_digest"] == env.suite.hash(new_pdf).hex()
    # The private store keeps the current version's file; reading it is recorded like any personal read.
    regulator = LicenceClient(sdk(env, member(env, "org3", "regulator", "inspector")))
    kept = regulator.personal(lid, "org2", "核查证照文件")
    assert bundle_file(kept) == new_pdf
    renewed = issuer.renew(changed, int(time.time() * 1000) + 365 * 86_400_000, "延续")
    assert verdict(public, bundle_file(renewed) or b"") == ("valid", 3)
    assert verdict(public, new_pdf) == ("superseded", 2)


def test_a_taken_sequence_is_skipped_and_a_stale_file_refused(env: Env, issuer: LicenceClient) -> None:
    holder = env.suite.generate_keypair()
    # Another issue takes the sequence the client is about to use (as if it came first).
    first = issuer.issue("BL", FIELDS, HOLDER_CODE, holder.public, deposit=False)
    assert first["licence"] == licence_id("BL", "org2", 1)
    stale = issuer.next_sequence("BL", "org2")
    issuer.next_sequence = lambda type_code, org: stale  # type: ignore[method-assign]
    issuer.issue("BL", FIELDS, HOLDER_CODE, holder.public, deposit=False)
    second = issuer.issue("BL", FIELDS, HOLDER_CODE, holder.public, deposit=False)
    assert second["licence"] == licence_id("BL", "org2", stale + 1)
    assert LicenceClient(sdk(env)).verify_file(bundle_file(second) or b"").code == "valid"
    # A new version's file names the version it makes: if another change came first, it is refused.
    changed = issuer.change(first, FIELDS, "变更")
    with pytest.raises(SdkError) as refused:
        issuer.transition(
            "change", first["licence"], "stale", data_digest=bytes(32), file_digest=bytes(32), version=2
        )
    assert refused.value.code == "conflict"
    assert issuer.status(first["licence"])["version"] == changed["version"] == 2
    # Only an organisation the type names can issue it: said before anything is rendered or signed.
    bank = LicenceClient(sdk(env, member(env, "org1", "operator", "bank")))
    with pytest.raises(SdkError) as refused:
        bank.issue("BL", FIELDS, HOLDER_CODE, holder.public, deposit=False)
    assert refused.value.code == "issuer_not_allowed"
    assert LicenceClient(sdk(env)).next_sequence("BL", "org2") == stale + 2  # nothing issued
