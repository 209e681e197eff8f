"""X.509 certificates for both suites: round trips, every verification failure, interop.

Independent checks: `cryptography` verifies intl chains; the OpenSSL 3 CLI parses both
suites' certificates and verifies both chains (SM2 with `-vfyopt distid:1234567812345678`,
the GM/T 0015 default ID); gmssl (pure Python SM2) verifies the gm signatures.
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from gmssl.sm2 import CryptSM2  # type: ignore[import-untyped]

from govchain.crypto import KeyPair, Suite, _der, get_suite, x509
from govchain.crypto.x509 import (
    OID_ECDSA_SHA256,
    OID_P256,
    OID_SM2_CURVE,
    OID_SM2_SM3,
    ROLES,
    Certificate,
    CertificateError,
    create_ca,
    issue,
    verify_issued_by,
    verify_self_signed_ca,
)

SUITES = ["intl", "gm"]
DAY = 86_400_000
NOW = int(time.time()) * 1000  # whole seconds, so round trips are exact
ORG = "org1"
CHINESE_NAME = "市档案馆"
EXPECTED_OIDS = {"intl": (OID_ECDSA_SHA256, OID_P256), "gm": (OID_SM2_SM3, OID_SM2_CURVE)}
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl CLI")


@dataclass(frozen=True)
class World:
    suite: Suite
    ca_keys: KeyPair
    ca: Certificate
    member_keys: KeyPair
    member: Certificate


def make_world(name: str) -> World:
    suite = get_suite(name)
    ca_keys = suite.generate_keypair()
    ca = create_ca(suite, ORG, f"{ORG} CA", ca_keys, NOW - DAY, NOW + 365 * DAY)
    member_keys = suite.generate_keypair()
    member = issue(
        suite, ca, ca_keys.private, member_keys.public, ORG, "admin", CHINESE_NAME, NOW - DAY, NOW + 30 * DAY
    )
    return World(suite, ca_keys, ca, member_keys, member)


@pytest.fixture(scope="module", params=SUITES)
def world(request: pytest.FixtureRequest) -> World:
    return make_world(request.param)


def issue_member(w: World, **overrides: object) -> Certificate:
    """A member certificate from w's CA; keyword arguments replace issue()'s defaults."""
    args: dict[str, object] = {
        "subject_public": w.suite.generate_keypair().public,
        "org_id": ORG,
        "role": "client",
        "name": "member",
        "not_before_ms": NOW - DAY,
        "not_after_ms": NOW + DAY,
    }
    args.update(overrides)
    return issue(w.suite, w.ca, w.ca_keys.private, **args)  # type: ignore[arg-type]


def reason_of(check: Callable[[], None]) -> str:
    with pytest.raises(CertificateError) as info:
        check()
    return info.value.reason


# --- creation and round trips -------------------------------------------------------------------


def test_ca_fields_and_round_trip(world: World) -> None:
    ca, suite = world.ca, world.suite
    signature_oid, curve_oid = EXPECTED_OIDS[suite.name]
    assert (ca.subject_org, ca.subject_role, ca.subject_cn) == (ORG, None, f"{ORG} CA")
    assert (ca.issuer_org, ca.issuer_cn) == (ORG, f"{ORG} CA")
    assert ca.subject_name_der == ca.issuer_name_der
    assert ca.is_ca
    assert ca.key_usage == frozenset({"key_cert_sign", "crl_sign"})
    assert (ca.not_before, ca.not_after) == (NOW - DAY, NOW + 365 * DAY)
    assert ca.public_key == world.ca_keys.public
    assert (ca.signature_algorithm_oid, ca.public_key_curve_oid) == (signature_oid, curve_oid)
    assert ca.subject_key_id == suite.hash(world.ca_keys.public)[:20]
    assert ca.authority_key_id is None
    assert 0 < ca.serial < 2**64
    assert len(ca.signature) == 64
    assert suite.verify(ca.public_key, ca.tbs, ca.signature)
    assert ca.fingerprint(suite) == suite.hash(ca.der)
    assert Certificate.load(ca.der) == ca
    assert Certificate.load(ca.to_pem()) == ca
    assert Certificate.load(ca.to_pem().decode()) == ca
    verify_self_signed_ca(suite, ca, NOW)


def test_issue_every_role_round_trips(world: World) -> None:
    suite = world.suite
    for role in ROLES:
        keys = suite.generate_keypair()
        cert = issue(
            suite, world.ca, world.ca_keys.private, keys.public, ORG, role, CHINESE_NAME, NOW, NOW + DAY
        )
        for loaded in (Certificate.load(cert.der), Certificate.load(cert.to_pem())):
            assert loaded == cert
        assert (cert.subject_org, cert.subject_role, cert.subject_cn) == (ORG, role, CHINESE_NAME)
        assert (cert.issuer_org, cert.issuer_cn) == (ORG, f"{ORG} CA")
        assert cert.issuer_name_der == world.ca.subject_name_der
        assert (cert.not_before, cert.not_after) == (NOW, NOW + DAY)
        assert not cert.is_ca
        assert cert.key_usage == frozenset({"digital_signature"})
        assert cert.public_key == keys.public
        assert cert.authority_key_id == world.ca.subject_key_id
        assert cert.subject_key_id == suite.hash(keys.public)[:20]
        assert cert.signature_algorithm_oid == EXPECTED_OIDS[suite.name][0]
        verify_issued_by(suite, cert, world.ca, NOW)


def test_pem_format_and_loading_from_a_bundle(world: World) -> None:
    pem = world.member.to_pem()
    lines = pem.decode().splitlines()
    assert lines[0] == "-----BEGIN CERTIFICATE-----" and lines[-1] == "-----END CERTIFICATE-----"
    assert all(len(line) <= 64 for line in lines[1:-1])
    # The first CERTIFICATE block is taken, whatever surrounds it.
    assert Certificate.load(b"subject=...\n" + pem + world.ca.to_pem()) == world.member


def test_serials(world: World) -> None:
    big = 2**159 - 1  # the largest 20-octet positive INTEGER
    assert issue_member(world, serial=big).serial == big
    assert issue_member(world, serial=1).serial == 1
    defaults = {issue_member(world).serial for _ in range(4)}
    assert len(defaults) == 4 and all(0 < s < 2**64 for s in defaults)
    for bad in (0, -5, 2**159):
        with pytest.raises(ValueError, match="serial"):
            issue_member(world, serial=bad)


def test_times_are_floored_to_seconds_and_late_years_use_generalized_time(world: World) -> None:
    cert = issue_member(world, not_before_ms=NOW + 999, not_after_ms=NOW + DAY + 1)
    assert (cert.not_before, cert.not_after) == (NOW, NOW + DAY)
    year_2060 = int(datetime.datetime(2060, 1, 2, 3, 4, 5, tzinfo=datetime.UTC).timestamp()) * 1000
    late = issue_member(world, not_after_ms=year_2060)
    assert late.not_after == year_2060
    assert b"20600102030405Z" in late.tbs and bytes([_der.GENERALIZED_TIME]) + b"\x0f20600102" in late.tbs
    with pytest.raises(ValueError, match="before"):
        issue_member(world, not_before_ms=NOW, not_after_ms=NOW - 1000)


def test_invalid_arguments_are_value_errors(world: World) -> None:
    suite = world.suite
    with pytest.raises(ValueError, match="role"):
        issue_member(world, role="boss")
    for name in ("", " padded", "x" * 65, "tab\there"):
        with pytest.raises(ValueError, match="name"):
            issue_member(world, name=name)
    with pytest.raises(ValueError, match="subject_public"):
        issue_member(world, subject_public=b"\x04" + b"\x01" * 64)
    with pytest.raises(ValueError, match="ca_private"):
        issue(
            suite, world.ca, world.member_keys.private, world.member_keys.public, ORG, "peer", "p", NOW, NOW
        )
    with pytest.raises(ValueError, match="not a CA"):
        issue(
            suite, world.member, world.member_keys.private, world.ca_keys.public, ORG, "peer", "p", NOW, NOW
        )
    mismatched = KeyPair(private=world.ca_keys.private, public=world.member_keys.public)
    with pytest.raises(ValueError, match="does not match"):
        create_ca(suite, ORG, "CA", mismatched, NOW, NOW + DAY)
    other_suite = get_suite("gm" if suite.name == "intl" else "intl")
    with pytest.raises(ValueError):
        create_ca(other_suite, ORG, "CA", world.ca_keys, NOW, NOW + DAY)


# --- verification failures ----------------------------------------------------------------------


def test_verify_boundaries_are_inclusive(world: World) -> None:
    cert = world.member
    verify_issued_by(world.suite, cert, world.ca, cert.not_before)
    verify_issued_by(world.suite, cert, world.ca, cert.not_after)


def test_bad_signature_from_an_impostor_ca_with_the_same_name(world: World) -> None:
    suite = world.suite
    impostor_keys = suite.generate_keypair()
    impostor = create_ca(suite, ORG, f"{ORG} CA", impostor_keys, NOW - DAY, NOW + DAY)
    assert impostor.subject_name_der == world.ca.subject_name_der
    forged = issue(
        suite, impostor, impostor_keys.private, world.member_keys.public, ORG, "admin", "x", NOW, NOW
    )
    assert reason_of(lambda: verify_issued_by(suite, forged, world.ca, NOW)) == "bad_signature"
    verify_issued_by(suite, forged, impostor, NOW)


def test_bad_signature_from_a_tampered_tbs_byte(world: World) -> None:
    cert = issue_member(world, name="tamper-me")
    tampered = Certificate.load(cert.der.replace(b"tamper-me", b"tamper-mf"))
    assert tampered.subject_cn == "tamper-mf" and tampered.signature == cert.signature
    assert reason_of(lambda: verify_issued_by(world.suite, tampered, world.ca, NOW)) == "bad_signature"
    # And the CA's own self-signature.
    tampered_ca = Certificate.load(world.ca.der.replace(b"org1 CA", b"org1 CB"))
    assert reason_of(lambda: verify_self_signed_ca(world.suite, tampered_ca, NOW)) == "bad_signature"


def test_bad_signature_for_the_other_suites_algorithms(world: World) -> None:
    other = make_world("gm" if world.suite.name == "intl" else "intl")
    suite = world.suite
    assert reason_of(lambda: verify_issued_by(suite, other.member, world.ca, NOW)) == "bad_signature"
    assert reason_of(lambda: verify_issued_by(suite, world.member, other.ca, NOW)) == "bad_signature"
    assert reason_of(lambda: verify_self_signed_ca(world.suite, other.ca, NOW)) == "bad_signature"


def test_not_yet_valid_and_expired(world: World) -> None:
    suite, ca = world.suite, world.ca
    cert = world.member
    assert reason_of(lambda: verify_issued_by(suite, cert, ca, cert.not_before - 1)) == "not_yet_valid"
    assert reason_of(lambda: verify_issued_by(suite, cert, ca, cert.not_after + 1)) == "expired"
    # The CA's validity is checked too: a member certificate that outlives its CA ...
    outliving = issue_member(world, not_before_ms=ca.not_before - DAY, not_after_ms=ca.not_after + DAY)
    assert reason_of(lambda: verify_issued_by(suite, outliving, ca, ca.not_after + 1)) == "expired"
    assert reason_of(lambda: verify_issued_by(suite, outliving, ca, ca.not_before - 1)) == "not_yet_valid"
    assert reason_of(lambda: verify_self_signed_ca(suite, ca, ca.not_after + 1)) == "expired"
    assert reason_of(lambda: verify_self_signed_ca(suite, ca, ca.not_before - 1)) == "not_yet_valid"


def test_issuer_mismatch(world: World) -> None:
    suite = world.suite
    other_keys = suite.generate_keypair()
    other_ca = create_ca(suite, ORG, f"{ORG} second CA", other_keys, NOW - DAY, NOW + DAY)
    verify_self_signed_ca(suite, other_ca, NOW)
    assert reason_of(lambda: verify_issued_by(suite, world.member, other_ca, NOW)) == "issuer_mismatch"


def test_not_a_ca(world: World) -> None:
    suite = world.suite
    # A member certificate used as a CA ...
    second = issue_member(world)
    assert reason_of(lambda: verify_issued_by(suite, second, world.member, NOW)) == "not_a_ca"
    assert reason_of(lambda: verify_self_signed_ca(suite, world.member, NOW)) == "not_a_ca"
    # ... even when it really signed the certificate (issue() refuses, so build it directly).
    signed_by_member = x509._sign_certificate(
        suite,
        world.member_keys.private,
        issuer_name_der=world.member.subject_name_der,
        subject_name_der=x509._name(ORG, "client", "sub-member"),
        subject_public=suite.generate_keypair().public,
        serial=None,
        not_before_ms=NOW - DAY,
        not_after_ms=NOW + DAY,
        extensions=[],
    )
    assert suite.verify(world.member.public_key, signed_by_member.tbs, signed_by_member.signature)
    assert reason_of(lambda: verify_issued_by(suite, signed_by_member, world.member, NOW)) == "not_a_ca"


def _signed_by_ca(w: World, extensions: list[bytes]) -> Certificate:
    """A certificate with hand-picked extensions, really signed by w's CA (issue() would not)."""
    return x509._sign_certificate(
        w.suite,
        w.ca_keys.private,
        issuer_name_der=w.ca.subject_name_der,
        subject_name_der=x509._name(ORG, "client", "hand-made"),
        subject_public=w.member_keys.public,
        serial=None,
        not_before_ms=NOW - DAY,
        not_after_ms=NOW + DAY,
        extensions=extensions,
    )


def test_authority_key_id_mismatch_is_an_issuer_mismatch(world: World) -> None:
    wrong_aki = _der.sequence(_der.implicit_primitive(0, b"\x01" * 20))
    cert = _signed_by_ca(world, [x509._extension("2.5.29.35", False, wrong_aki)])
    assert cert.authority_key_id == b"\x01" * 20
    assert reason_of(lambda: verify_issued_by(world.suite, cert, world.ca, NOW)) == "issuer_mismatch"


def test_ca_without_key_cert_sign_is_not_a_ca(world: World) -> None:
    suite = world.suite
    keys = suite.generate_keypair()
    subject = x509._name(ORG, None, "signing-only CA")
    ca = x509._sign_certificate(
        suite,
        keys.private,
        issuer_name_der=subject,
        subject_name_der=subject,
        subject_public=keys.public,
        serial=None,
        not_before_ms=NOW - DAY,
        not_after_ms=NOW + DAY,
        extensions=[
            x509._extension("2.5.29.19", True, _der.sequence(_der.boolean(True))),
            x509._extension("2.5.29.15", True, _der.named_bits(0)),
        ],
    )
    assert ca.is_ca and ca.key_usage == frozenset({"digital_signature"})
    assert reason_of(lambda: verify_self_signed_ca(suite, ca, NOW)) == "not_a_ca"


def test_unknown_critical_extension_is_refused_at_load(world: World) -> None:
    extension = x509._extension("1.3.6.1.4.1.99999.1", True, _der.octet_string(b"x"))
    with pytest.raises(CertificateError, match="critical extension") as info:
        _signed_by_ca(world, [extension])
    assert info.value.reason == "malformed"
    assert _signed_by_ca(world, [x509._extension("1.3.6.1.4.1.99999.1", False, b"\x05\x00")]).serial > 0


def test_wrong_org(world: World) -> None:
    foreign = issue_member(world, org_id="org2")
    assert (foreign.subject_org, foreign.issuer_org) == ("org2", ORG)
    assert reason_of(lambda: verify_issued_by(world.suite, foreign, world.ca, NOW)) == "wrong_org"


# --- malformed input ----------------------------------------------------------------------------


def _foreign_cert(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    name = cx509.Name(
        [cx509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG), cx509.NameAttribute(NameOID.COMMON_NAME, "x")]
    )
    start = datetime.datetime.now(datetime.UTC)
    builder = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA384()
    return builder.sign(key, algorithm).public_bytes(Encoding.DER)


def test_load_rejects_malformed_and_foreign_certificates(world: World) -> None:
    der = world.member.der
    bad_inputs = {
        "empty": b"",
        "garbage": b"\x01\x02\x03",
        "truncated": der[:-1],
        "trailing bytes": der + b"\x00",
        "indefinite length": b"\x30\x80" + der[2:],
        "PEM without a certificate": b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "PEM with bad base64": b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        "Ed25519 key": _foreign_cert(ed25519.Ed25519PrivateKey.generate()),
        "P-384 key": _foreign_cert(ec.generate_private_key(ec.SECP384R1())),
        "off-curve point": der.replace(world.member_keys.public, b"\x04" + b"\x01" * 64),
    }
    for label, data in bad_inputs.items():
        with pytest.raises(CertificateError) as info:
            Certificate.load(data)
        assert info.value.reason == "malformed", label
        assert isinstance(info.value, ValueError)


# --- independent verifiers ----------------------------------------------------------------------


def test_cryptography_verifies_intl_and_parses_gm(world: World) -> None:
    parsed = cx509.load_der_x509_certificate(world.member.der)
    parsed_ca = cx509.load_der_x509_certificate(world.ca.der)
    assert parsed.tbs_certificate_bytes == world.member.tbs
    assert parsed.signature_algorithm_oid.dotted_string == EXPECTED_OIDS[world.suite.name][0]
    assert parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CHINESE_NAME
    if world.suite.name == "intl":
        public = parsed_ca.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(parsed.signature, parsed.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
        parsed.verify_directly_issued_by(parsed_ca)
        parsed_ca.verify_directly_issued_by(parsed_ca)


def test_gmssl_verifies_gm_signatures() -> None:
    w = make_world("gm")
    for cert, issuer in ((w.member, w.ca), (w.ca, w.ca)):
        verifier = CryptSM2(public_key="", private_key="")
        verifier.public_key = issuer.public_key[1:].hex()  # its constructor mangles a leading '0'/'4'
        assert verifier.verify_with_sm3(cert.signature.hex(), cert.tbs)
        assert not verifier.verify_with_sm3(cert.signature.hex(), cert.tbs + b"x")


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, encoding="utf-8", timeout=30, check=False
    )


@needs_openssl
def test_openssl_parses_both_suites(world: World, tmp_path: Path) -> None:
    path = tmp_path / "member.pem"
    path.write_bytes(world.member.to_pem())
    result = _openssl("x509", "-in", path, "-text", "-noout", "-nameopt", "utf8")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"Subject: C=CN, O={ORG}, OU=admin, CN={CHINESE_NAME}" in text
    assert f"Issuer: C=CN, O={ORG}, CN={ORG} CA" in text
    assert re.search(r"Basic Constraints: critical\s+CA:FALSE", text)
    assert re.search(r"Key Usage: critical\s+Digital Signature", text)
    if world.suite.name == "gm":
        assert re.search(
            r"Signature Algorithm: (SM2-with-SM3|sm2sign-with-sm3|1\.2\.156\.10197\.1\.501)", text
        )
        assert "ASN1 OID: SM2" in text
    else:
        assert "Signature Algorithm: ecdsa-with-SHA256" in text
        assert "ASN1 OID: prime256v1" in text
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(world.ca.to_pem())
    ca_text = _openssl("x509", "-in", ca_path, "-text", "-noout").stdout
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE", ca_text)
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", ca_text)


@needs_openssl
def test_openssl_verifies_intl_chain(tmp_path: Path) -> None:
    w = make_world("intl")
    (tmp_path / "ca.pem").write_bytes(w.ca.to_pem())
    (tmp_path / "member.pem").write_bytes(w.member.to_pem())
    strict = ("verify", "-x509_strict", "-CAfile", tmp_path / "ca.pem")
    result = _openssl(*strict, tmp_path / "member.pem")
    assert result.returncode == 0 and "member.pem: OK" in result.stdout, result.stdout + result.stderr
    result = _openssl(*strict, "-check_ss_sig", tmp_path / "ca.pem")
    assert result.returncode == 0, result.stdout + result.stderr
    # A same-name impostor's certificate is refused too.
    impostor_keys = w.suite.generate_keypair()
    impostor = create_ca(w.suite, ORG, f"{ORG} CA", impostor_keys, NOW - DAY, NOW + DAY)
    forged = issue(
        w.suite, impostor, impostor_keys.private, w.member_keys.public, ORG, "admin", "x", NOW, NOW + DAY
    )
    (tmp_path / "forged.pem").write_bytes(forged.to_pem())
    result = _openssl(*strict, tmp_path / "forged.pem")
    assert result.returncode != 0  # OpenSSL already refuses it by key id: the AKI is the impostor's SKI
    assert re.search("unable to get local issuer certificate|signature failure", result.stderr)


@needs_openssl
def test_openssl_verifies_gm_chain_with_the_default_sm2_id(tmp_path: Path) -> None:
    """OpenSSL 3.0 applies no SM2 ID to certificate signatures unless told: `-vfyopt distid:`
    sets it on the certificate being verified (only the leaf, so the CA's self-signature is
    checked separately with `openssl dgst`)."""
    w = make_world("gm")
    (tmp_path / "ca.pem").write_bytes(w.ca.to_pem())
    (tmp_path / "member.pem").write_bytes(w.member.to_pem())
    verify = ("verify", "-x509_strict", "-CAfile", tmp_path / "ca.pem")
    result = _openssl(*verify, "-vfyopt", "distid:1234567812345678", tmp_path / "member.pem")
    assert result.returncode == 0 and "member.pem: OK" in result.stdout, result.stdout + result.stderr
    result = _openssl(*verify, "-vfyopt", "distid:1234567812345679", tmp_path / "member.pem")
    assert result.returncode != 0 and "signature failure" in result.stdout + result.stderr

    # The CA's self-signature: SM3/SM2 over the TBS bytes with the same ID.
    outer = _der.children(_der.read_one(w.ca.der, _der.SEQUENCE))
    (tmp_path / "tbs.der").write_bytes(w.ca.tbs)
    (tmp_path / "sig.der").write_bytes(_der.read_bit_string(outer[2]))
    public = _openssl("x509", "-in", tmp_path / "ca.pem", "-noout", "-pubkey")
    (tmp_path / "ca-pub.pem").write_text(public.stdout)
    dgst = ("dgst", "-sm3", "-verify", tmp_path / "ca-pub.pem", "-signature", tmp_path / "sig.der")
    result = _openssl(*dgst, "-sigopt", "distid:1234567812345678", tmp_path / "tbs.der")
    assert result.returncode == 0 and "Verified OK" in result.stdout, result.stdout + result.stderr
    assert _openssl(*dgst, "-sigopt", "distid:1234567812345679", tmp_path / "tbs.der").returncode != 0


# --- the DER helpers ----------------------------------------------------------------------------


def test_der_encoder_matches_known_encodings() -> None:
    assert _der.integer(0) == bytes.fromhex("020100")
    assert _der.integer(127) == bytes.fromhex("02017f")
    assert _der.integer(128) == bytes.fromhex("02020080")
    assert _der.integer(-129) == bytes.fromhex("0202ff7f")
    assert _der.oid(OID_SM2_CURVE) == bytes.fromhex("06082a811ccf5501822d")
    assert _der.oid("2.5.29.19") == bytes.fromhex("0603551d13")
    assert _der.named_bits(0) == bytes.fromhex("03020780")  # digitalSignature
    assert _der.named_bits(5, 6) == bytes.fromhex("03020106")  # keyCertSign, cRLSign
    assert _der.tlv(0x04, b"\x00" * 200)[:3] == bytes.fromhex("0481c8")
    assert _der.set_of(b"\x02\x01\x02", b"\x02\x01\x01") == bytes.fromhex("3106020101020102")
    for dotted in (OID_SM2_SM3, OID_ECDSA_SHA256, "2.999.3", "1.2.840.113549"):
        assert _der.read_oid(_der.read_one(_der.oid(dotted), _der.OBJECT_IDENTIFIER)) == dotted
    for value in (1, 127, 128, 2**64, 2**159 - 1, -1, -128, -129):
        assert _der.read_integer(_der.read_one(_der.integer(value), _der.INTEGER)) == value


def test_der_reader_rejects_non_der() -> None:
    for data in (
        bytes.fromhex("02020001"),  # non-minimal INTEGER
        bytes.fromhex("0202ff80"),  # non-minimal negative INTEGER
    ):
        with pytest.raises(_der.DerError):
            _der.read_integer(_der.read_one(data, _der.INTEGER))
    for data in (
        bytes.fromhex("04810100"),  # long-form length for a short element
        bytes.fromhex("0480"),  # indefinite length
        bytes.fromhex("0403aabb"),  # runs past the end
        bytes.fromhex("0401aabb"),  # trailing byte
    ):
        with pytest.raises(_der.DerError):
            _der.read_one(data, _der.OCTET_STRING)
    with pytest.raises(_der.DerError):
        _der.read_oid(_der.read_one(bytes.fromhex("0603558001"), _der.OBJECT_IDENTIFIER))
