"""The issuing node renders a licence file for the browser's issuing console (POST /v1/licences/render):
the same bytes as the SDK renders, and only for an issuer of an organisation the type allows."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx

from govchain.contracts.licence.client import LicenceClient
from govchain.contracts.licence.model import fields_digest, licence_id
from govchain.contracts.licence.render import file_claim, render_licence
from govchain.contracts.licence.tests.test_file import FIELDS, member, register_type, sdk
from govchain.crypto import KeyPair
from govchain.ledger.requests import sign_request
from tests.conftest import Env

SALTS = {name: secrets.token_bytes(16).hex() for name in FIELDS}


def render_body(**changes: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    body: dict[str, Any] = {
        "type": "BL",
        "sequence": 7,
        "version": 1,
        "fields": FIELDS,
        "salts": SALTS,
        "valid_from": now,
        "valid_until": now + 30 * 86_400_000,
    }
    return {k: v for k, v in (body | changes).items() if v is not ...}


def post(env: Env, keys: KeyPair | None, body: dict[str, Any], chain: str | None = None) -> httpx.Response:
    signed: Any = body
    if keys is not None:
        chain_id = chain or env.node.genesis.chain_id
        fields = {"purpose": "licence/render", "chain": chain_id, "t": int(time.time() * 1000)}
        signed = sign_request(env.suite, keys, fields | body)
    return env.client.post("/v1/licences/render", json=signed)


def refused(reply: httpx.Response) -> str:
    assert reply.status_code >= 400, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    code: str = reply.json()["error"]["code"]
    return code


def test_the_issuing_node_renders_what_the_sdk_renders(env: Env) -> None:
    register_type(env)
    keys = member(env, "org2", "issuer", "市场监管局")
    body = render_body()
    reply = post(env, keys, body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/pdf"
    assert reply.headers["cache-control"] == "no-store"
    pdf = reply.content
    # The SDK's own sheet for the same licence (its portal address is the node's): byte for byte.
    licences = LicenceClient(sdk(env, keys))
    kind = licences.licence_type("BL")
    digest = fields_digest(env.suite, FIELDS, SALTS)
    lid = licence_id("BL", "org2", 7)
    validity = {"valid_from": body["valid_from"], "valid_until": body["valid_until"], "data_digest": digest}
    assert pdf == render_licence(licences._sheet(kind, lid, 1, FIELDS, validity, "org2"))
    claim = file_claim(pdf)
    assert claim is not None and (claim.licence, claim.version, claim.data_digest) == (lid, 1, digest)
    # A later version names the licence by id (change and renew), with no end of validity.
    later = post(env, keys, render_body(sequence=..., id=lid, version=3, valid_until=None))
    assert later.status_code == 200, later.text
    later_claim = file_claim(later.content)
    assert later_claim is not None and (later_claim.licence, later_claim.version) == (lid, 3)


def test_only_an_issuer_of_an_allowed_organisation_gets_a_file(env: Env) -> None:
    register_type(env)
    issuer = member(env, "org2", "issuer", "市场监管局")
    assert refused(post(env, None, render_body())) == "malformed"  # not a signed request
    assert refused(post(env, issuer, render_body(), chain="another-chain")) == "wrong_chain"
    assert refused(post(env, env.suite.generate_keypair(), render_body())) == "not_a_member"
    assert refused(post(env, member(env, "org2", "operator", "窗口"), render_body())) == "forbidden"
    assert refused(post(env, member(env, "org3", "issuer", "某局"), render_body())) == "issuer_not_allowed"
    # The issuer itself, with bad arguments: each named.
    assert refused(post(env, issuer, render_body(type="XX"))) == "unknown_licence_type"
    assert refused(post(env, issuer, render_body(fields={"name": "某店"}))) == "schema_invalid"
    assert refused(post(env, issuer, render_body(salts={}))) == "invalid_args"
    assert refused(post(env, issuer, render_body(sequence=0))) == "invalid_args"
    other_org = licence_id("BL", "org3", 1)
    assert refused(post(env, issuer, render_body(sequence=..., id=other_org, version=2))) == "invalid_args"
    assert refused(post(env, issuer, render_body(id=licence_id("BL", "org2", 1)))) == "invalid_args"
    assert refused(post(env, issuer, render_body(version=0))) == "invalid_args"
    assert refused(post(env, issuer, render_body(valid_until=10**17))) == "invalid_args"
    assert refused(post(env, issuer, render_body(valid_from="today"))) == "invalid_args"
