"""W3C Verifiable Credentials 2.0: a licence as a credential, and its status lists.

No published Data Integrity cryptosuite uses SM2, so govchain documents its own
(docs/licences.md, "Verifiable Credentials"), one per chain suite:

- `govchain-ecdsa-p256-cbor-2026`: ECDSA P-256 over SHA-256;
- `govchain-sm2-sm3-cbor-2026`: SM2 with SM3 (default ID).

Both sign `"govchain/vc/v1" || H(CBOR(proof options)) || H(CBOR(credential))`,
where the credential is the JSON document without `proof`, the proof options are
`proof` without `proofValue`, CBOR is the chain's deterministic encoding of the
JSON value, and H is the suite's hash. Keys and signatures are multibase base16
(`f` + lowercase hex).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonschema

from govchain import codec
from govchain.contracts.licence.model import fields_digest, get_bit, holder_did
from govchain.crypto import KeyPair, Suite

VC_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
VC_DOMAIN: Final = b"govchain/vc/v1"
CRYPTOSUITES: Final = {"intl": "govchain-ecdsa-p256-cbor-2026", "gm": "govchain-sm2-sm3-cbor-2026"}


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> int:
    return int(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp() * 1000)


def _signing_input(suite: Suite, document: Mapping[str, Any], options: Mapping[str, Any]) -> bytes:
    return VC_DOMAIN + suite.hash(codec.encode(dict(options))) + suite.hash(codec.encode(dict(document)))


def sign_document(suite: Suite, keys: KeyPair, document: dict[str, Any], created_ms: int) -> dict[str, Any]:
    """`document` with a Data Integrity proof by `keys` under the chain's cryptosuite."""
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITES[suite.name],
        "created": iso(created_ms),
        "verificationMethod": f"{holder_did(suite, keys.public)}#key-1",
        "proofPurpose": "assertionMethod",
        "publicKeyMultibase": "f" + keys.public.hex(),
    }
    signature = suite.sign(keys.private, _signing_input(suite, document, options))
    return document | {"proof": options | {"proofValue": "f" + signature.hex()}}


def verify_document(suite: Suite, signed: Mapping[str, Any]) -> bytes | None:
    """The signer's public key if the proof verifies, else None."""
    try:
        proof = dict(signed["proof"])
        value = proof.pop("proofValue")
        if proof["cryptosuite"] != CRYPTOSUITES[suite.name] or not value.startswith("f"):
            return None
        key = bytes.fromhex(proof["publicKeyMultibase"].removeprefix("f"))
        document = {k: v for k, v in signed.items() if k != "proof"}
        ok = suite.verify(key, _signing_input(suite, document, proof), bytes.fromhex(value[1:]))
    except (KeyError, TypeError, ValueError, AttributeError, codec.CodecError):
        return None
    return key if ok else None


def encode_status_list(bits: bytes) -> str:
    """`encodedList`: multibase base64url (no padding) of the GZIP-compressed bitstring."""
    packed = gzip.compress(bits, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def decode_status_list(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url ('u')")
    data = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def status_list_credential(
    suite: Suite, keys: KeyPair, url: str, purpose: str, bits: bytes, chain_id: str, now_ms: int
) -> dict[str, Any]:
    """A BitstringStatusListCredential for one purpose, signed by the serving peer's key."""
    document = {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": f"{holder_did(suite, keys.public)}",
        "validFrom": iso(now_ms),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encode_status_list(bits),
        },
        "govchain:chain": chain_id,
    }
    return sign_document(suite, keys, document, now_ms)


def licence_credential(
    suite: Suite,
    issuer: KeyPair,
    bundle: Mapping[str, Any],
    status: Mapping[str, Any],
    status_base_url: str,
    now_ms: int,
) -> dict[str, Any]:
    """A licence (from the holder's bundle and its on-chain status) as a signed credential.

    The credential carries the fields and their salts, so a verifier can recompute
    the data digest and compare it with the chain's.
    """
    if status["data_digest"] != bundle["data_digest"]:
        raise ValueError("the bundle is not the licence's current version (changed since?)")
    index = status["index"]
    document: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "id": f"urn:govchain:licence:{bundle['licence']}:v{status['version']}",
        "type": ["VerifiableCredential", "GovchainLicence"],
        "issuer": holder_did(suite, issuer.public),
        "validFrom": iso(status["valid_from"]),
        "credentialSubject": {
            "id": bundle["holder_did"],
            "licence": bundle["licence"],
            "licenceType": bundle["type"],
            "version": status["version"],
            "issuingOrganisation": status["org"],
            "fields": bundle["fields"],
            "salts": bundle["salts"],
            "dataDigest": bundle["data_digest"],
        },
        "credentialStatus": [
            {
                "id": f"{status_base_url}/{purpose}#{index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": str(index),
                "statusListCredential": f"{status_base_url}/{purpose}",
            }
            for purpose in ("revocation", "suspension")
        ],
        "govchain:chain": bundle["chain"],
    }
    if status["valid_until"] is not None:
        document["validUntil"] = iso(status["valid_until"])
    return sign_document(suite, issuer, document, now_ms)


@dataclass(frozen=True, slots=True)
class VcVerdict:
    ok: bool
    check: str = ""  # which check failed: signature, issuer, expired, not_yet_valid, revoked, ...
    message: str = ""


Fetch = Callable[[str], Mapping[str, Any]]


def verify_credential(
    suite: Suite,
    vc: Mapping[str, Any],
    now_ms: int,
    licence_status: Mapping[str, Any],
    schema: Mapping[str, Any],
    peers: set[bytes],
    fetch: Fetch,
) -> VcVerdict:
    """The VC 2.0 checks in order (proof, validity period, status, schema), plus govchain's:
    the signer is the licence's issuer on chain, and the fields match the chain's data digest.

    `licence_status` is the chain's answer for the credential's version (GET /v1/licences/{id});
    `schema` is the licence type's; `fetch(url)` returns a status list credential, which one of
    the consortium's `peers` must have signed.
    """
    key = verify_document(suite, vc)
    if key is None:
        return VcVerdict(False, "signature", "the credential's proof does not verify")
    if key.hex() != licence_status["issuer"]:
        return VcVerdict(False, "issuer", "the credential is not signed by the licence's issuer on chain")
    if "validFrom" in vc and now_ms < parse_iso(vc["validFrom"]):
        return VcVerdict(False, "not_yet_valid", f"valid from {vc['validFrom']}")
    if "validUntil" in vc and now_ms > parse_iso(vc["validUntil"]):
        return VcVerdict(False, "expired", f"valid until {vc['validUntil']}")
    for entry in vc.get("credentialStatus", []):
        listed = fetch(entry["statusListCredential"])
        if verify_document(suite, listed) not in peers:
            return VcVerdict(False, "status", "the status list is not signed by a peer of this consortium")
        subject = listed["credentialSubject"]
        if subject["statusPurpose"] != entry["statusPurpose"]:
            return VcVerdict(False, "status", "the status list is for another purpose")
        if get_bit(decode_status_list(subject["encodedList"]), int(entry["statusListIndex"])):
            purpose = entry["statusPurpose"]
            return VcVerdict(
                False, "revoked" if purpose == "revocation" else "suspended", f"{purpose} bit set"
            )
    if licence_status["status"] == "superseded":
        return VcVerdict(False, "superseded", "a newer version of the licence supersedes this one")
    subject = vc["credentialSubject"]
    try:
        jsonschema.validate(subject["fields"], dict(schema))
    except jsonschema.ValidationError as exc:
        return VcVerdict(False, "schema", exc.message)
    try:
        digest = fields_digest(suite, subject["fields"], subject["salts"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return VcVerdict(False, "digest", f"the fields or salts are malformed: {exc}")
    if digest.hex() != licence_status["data_digest"]:
        return VcVerdict(False, "digest", "the fields do not match the licence's data digest on chain")
    return VcVerdict(True)
