"""X.509 v3 certificates for consortium identities, for both crypto suites.

A member of the consortium is an organisation with its own CA; the CA issues each
identity a certificate that binds a public key to (organisation, role, name), in the
style of Hyperledger Fabric's MSP. Names are standard RDNs so any X.509 tool reads them:

- CA:     C=CN, O=<org id>, CN=<name>                (self-signed, CA:TRUE)
- member: C=CN, O=<org id>, OU=<role>, CN=<name>     (issued by its organisation's CA)

Suite `intl` certificates are ordinary ECDSA P-256 / ecdsa-with-SHA256 ones. Suite `gm`
certificates carry an SM2 key (id-ecPublicKey on curve 1.2.156.10197.1.301) and an
SM2-with-SM3 signature made with the default ID "1234567812345678" (GM/T 0015), which is
what `GmSuite.sign` does. `cryptography` cannot sign or verify SM2 certificates, so the
TBSCertificate is assembled with `_der` and signed with `suite.sign` for both suites;
`cryptography` is used only to parse (names, validity, extensions), which it does for
SM2 certificates too.

Times are milliseconds since the epoch, like everywhere else in govchain; X.509 carries
whole seconds, so they are floored to the second when a certificate is made. A
certificate is valid at `t` when not_before <= t <= not_after (RFC 5280: inclusive).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from cryptography import x509 as _cx
from cryptography.x509.oid import ExtensionOID, NameOID

from govchain.crypto import _der
from govchain.crypto.base import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, CryptoError, KeyPair, Suite

ROLES: Final = ("admin", "issuer", "operator", "regulator", "auditor", "client", "peer")
"""Roles a member certificate can carry (subject OU)."""

REASONS: Final = (
    "malformed",
    "bad_signature",
    "not_yet_valid",
    "expired",
    "issuer_mismatch",
    "not_a_ca",
    "wrong_org",
)
"""Values of `CertificateError.reason`: "malformed" from `load`, the rest from verification."""

COUNTRY: Final = "CN"
MAX_NAME_LENGTH: Final = 64
"""RFC 5280 upper bound (ub-common-name, ub-organization-name, ...), in characters."""

OID_EC_PUBLIC_KEY: Final = "1.2.840.10045.2.1"
OID_P256: Final = "1.2.840.10045.3.1.7"
OID_SM2_CURVE: Final = "1.2.156.10197.1.301"
OID_ECDSA_SHA256: Final = "1.2.840.10045.4.3.2"
OID_SM2_SM3: Final = "1.2.156.10197.1.501"

_OID_COUNTRY = "2.5.4.6"
_OID_ORG = "2.5.4.10"
_OID_ORG_UNIT = "2.5.4.11"
_OID_COMMON_NAME = "2.5.4.3"
_OID_BASIC_CONSTRAINTS = "2.5.29.19"
_OID_KEY_USAGE = "2.5.29.15"
_OID_SUBJECT_KEY_ID = "2.5.29.14"
_OID_AUTHORITY_KEY_ID = "2.5.29.35"
_UNDERSTOOD_CRITICAL = frozenset(
    {_OID_BASIC_CONSTRAINTS, _OID_KEY_USAGE, _OID_SUBJECT_KEY_ID, _OID_AUTHORITY_KEY_ID}
)
# KeyUsage bit positions (RFC 5280 §4.2.1.3).
_DIGITAL_SIGNATURE = 0
_KEY_CERT_SIGN = 5
_CRL_SIGN = 6

_MAX_SERIAL = 1 << 159  # 20 octets including the sign bit (RFC 5280 §4.1.2.2)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ExtensionT = TypeVar("_ExtensionT", bound=_cx.ExtensionType)
_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Profile:
    """What a suite's certificates use: signature OID, curve OID, curve y² = x³ + ax + b mod p."""

    signature_oid: str
    curve_oid: str
    p: int
    a: int
    b: int


_P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_PROFILES: Final = {
    "intl": _Profile(
        OID_ECDSA_SHA256,
        OID_P256,
        _P256_P,
        _P256_P - 3,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    ),
    "gm": _Profile(
        OID_SM2_SM3,
        OID_SM2_CURVE,
        _SM2_P,
        _SM2_P - 3,
        0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    ),
}
_CURVES: Final = {profile.curve_oid: profile for profile in _PROFILES.values()}


class CertificateError(ValueError):
    """A certificate that is malformed or fails verification; `reason` is one of REASONS."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Certificate:
    """A parsed certificate: the DER it came from plus the fields govchain decides on.

    Build one with `create_ca`, `issue` or `load`; all three go through the same parser,
    so a certificate made here and one read from disk are indistinguishable.
    """

    der: bytes = field(repr=False)
    serial: int
    subject_org: str
    subject_role: str | None
    subject_cn: str
    issuer_org: str
    issuer_cn: str
    not_before: int
    """Milliseconds since the epoch (a whole second)."""
    not_after: int
    """Milliseconds since the epoch (a whole second); the certificate is valid through it."""
    is_ca: bool
    public_key: bytes = field(repr=False)
    """65-byte uncompressed point, the suites' public key encoding."""
    public_key_curve_oid: str
    signature_algorithm_oid: str
    tbs: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    """64-byte r || s, the suites' signature encoding."""
    key_usage: frozenset[str] | None
    """KeyUsage bit names ("digital_signature", "key_cert_sign", ...); None without the extension."""
    subject_key_id: bytes | None = field(repr=False)
    authority_key_id: bytes | None = field(repr=False)
    subject_name_der: bytes = field(repr=False)
    """The encoded subject Name, copied verbatim as the issuer Name of certificates it signs."""
    issuer_name_der: bytes = field(repr=False)

    def fingerprint(self, suite: Suite) -> bytes:
        """The suite hash of the DER: a stable id for the certificate."""
        return suite.hash(self.der)

    def to_pem(self) -> bytes:
        """PEM ("BEGIN CERTIFICATE", 64-column base64), as OpenSSL writes it."""
        body = base64.b64encode(self.der)
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"

    @classmethod
    def load(cls, data: bytes | str) -> Certificate:
        """Parse a DER or PEM certificate of either suite (PEM: the first CERTIFICATE block).

        Raises CertificateError (reason "malformed") for anything that is not a strict-DER
        X.509 v3 certificate with an uncompressed P-256 or SM2 key and an (r, s) signature.
        """
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        der = raw if raw[:1] == b"\x30" else _unpem(raw)  # DER starts with SEQUENCE; else text
        try:
            return _parse(der)
        except _der.DerError as exc:
            raise CertificateError(f"certificate is not valid DER: {exc}") from None


def create_ca(
    suite: Suite,
    org_id: str,
    name: str,
    keys: KeyPair,
    not_before_ms: int,
    not_after_ms: int,
    serial: int | None = None,
) -> Certificate:
    """A self-signed CA certificate for organisation `org_id`; CN is `name` (conventionally
    "<org id> CA"). Extensions: BasicConstraints CA:TRUE and KeyUsage keyCertSign+cRLSign
    (both critical), SubjectKeyIdentifier. ValueError for bad arguments.
    """
    profile = _profile(suite)
    _check_private_matches(suite, keys.private, keys.public, "keys.private does not match keys.public")
    _check_point(profile, keys.public, "keys.public")
    subject = _name(org_id, None, name)
    key_id = _key_id(suite, keys.public)
    extensions = [
        _extension(_OID_BASIC_CONSTRAINTS, True, _der.sequence(_der.boolean(True))),
        _extension(_OID_KEY_USAGE, True, _der.named_bits(_KEY_CERT_SIGN, _CRL_SIGN)),
        _extension(_OID_SUBJECT_KEY_ID, False, _der.octet_string(key_id)),
    ]
    return _sign_certificate(
        suite,
        keys.private,
        issuer_name_der=subject,
        subject_name_der=subject,
        subject_public=keys.public,
        serial=serial,
        not_before_ms=not_before_ms,
        not_after_ms=not_after_ms,
        extensions=extensions,
    )


def issue(
    suite: Suite,
    ca_cert: Certificate,
    ca_private: bytes,
    subject_public: bytes,
    org_id: str,
    role: str,
    name: str,
    not_before_ms: int,
    not_after_ms: int,
    serial: int | None = None,
) -> Certificate:
    """A member certificate (C=CN, O=org_id, OU=role, CN=name) signed by `ca_cert`'s key.

    Extensions: BasicConstraints CA:FALSE and KeyUsage digitalSignature (both critical),
    AuthorityKeyIdentifier, SubjectKeyIdentifier. ValueError if `role` is not in ROLES,
    `ca_cert` is not a CA of this suite, `ca_private` is not its key, or `subject_public`
    is not a point on the suite's curve. `org_id` is normally `ca_cert.subject_org`;
    `verify_issued_by` refuses any other ("wrong_org").
    """
    profile = _profile(suite)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    if not ca_cert.is_ca:
        raise ValueError("ca_cert is not a CA certificate (no BasicConstraints CA:TRUE)")
    if ca_cert.public_key_curve_oid != profile.curve_oid:
        raise ValueError(f"ca_cert does not hold a {suite.name} key")
    _check_private_matches(suite, ca_private, ca_cert.public_key, "ca_private is not the key of ca_cert")
    _check_point(profile, subject_public, "subject_public")
    authority_key_id = ca_cert.subject_key_id or _key_id(suite, ca_cert.public_key)
    extensions = [
        _extension(_OID_BASIC_CONSTRAINTS, True, _der.sequence()),  # cA FALSE is the DEFAULT: omitted
        _extension(_OID_KEY_USAGE, True, _der.named_bits(_DIGITAL_SIGNATURE)),
        _extension(_OID_AUTHORITY_KEY_ID, False, _der.sequence(_der.implicit_primitive(0, authority_key_id))),
        _extension(_OID_SUBJECT_KEY_ID, False, _der.octet_string(_key_id(suite, subject_public))),
    ]
    return _sign_certificate(
        suite,
        ca_private,
        issuer_name_der=ca_cert.subject_name_der,
        subject_name_der=_name(org_id, role, name),
        subject_public=subject_public,
        serial=serial,
        not_before_ms=not_before_ms,
        not_after_ms=not_after_ms,
        extensions=extensions,
    )


def verify_issued_by(suite: Suite, cert: Certificate, ca_cert: Certificate, at_ms: int) -> None:
    """Check that `ca_cert` issued `cert` and both are valid at `at_ms`; CertificateError if not.

    Checks, in order (the first failure is reported): both use the suite's signature
    algorithm and curve ("bad_signature"); `ca_cert` has CA:TRUE and, if it has KeyUsage,
    keyCertSign ("not_a_ca"); the issuer Name is byte for byte the CA's subject Name
    ("issuer_mismatch"); the signature verifies under the CA key ("bad_signature"); the
    authority key id, if both ids are present, is the CA's ("issuer_mismatch"); subject O
    is the CA's O ("wrong_org"); both are valid at `at_ms` ("not_yet_valid", "expired").
    Whether `ca_cert` itself is trusted is the caller's business (`verify_self_signed_ca`).
    """
    profile = _profile(suite)
    _check_algorithms(profile, suite, cert, "certificate")
    _check_algorithms(profile, suite, ca_cert, "CA certificate")
    _check_can_sign_certificates(ca_cert)
    if cert.issuer_name_der != ca_cert.subject_name_der:
        raise CertificateError(
            f"certificate issuer (O={cert.issuer_org}, CN={cert.issuer_cn}) is not the CA's subject "
            f"(O={ca_cert.subject_org}, CN={ca_cert.subject_cn})",
            "issuer_mismatch",
        )
    _check_signature(suite, cert, ca_cert)
    if cert.subject_org != ca_cert.subject_org:
        raise CertificateError(
            f"certificate belongs to organisation {cert.subject_org!r}, its CA to {ca_cert.subject_org!r}",
            "wrong_org",
        )
    _check_time(cert, at_ms, "certificate")
    _check_time(ca_cert, at_ms, "CA certificate")


def verify_self_signed_ca(suite: Suite, ca_cert: Certificate, at_ms: int) -> None:
    """Check that `ca_cert` is a self-signed CA of this suite valid at `at_ms`; CertificateError if not.

    This is the check a root gets before it is trusted as an organisation's CA; reasons as
    for `verify_issued_by`.
    """
    profile = _profile(suite)
    _check_algorithms(profile, suite, ca_cert, "CA certificate")
    _check_can_sign_certificates(ca_cert)
    if ca_cert.issuer_name_der != ca_cert.subject_name_der:
        raise CertificateError("CA certificate is not self-issued (issuer != subject)", "issuer_mismatch")
    _check_signature(suite, ca_cert, ca_cert)
    _check_time(ca_cert, at_ms, "CA certificate")


# --- building -----------------------------------------------------------------------------------


def _sign_certificate(
    suite: Suite,
    signer_private: bytes,
    *,
    issuer_name_der: bytes,
    subject_name_der: bytes,
    subject_public: bytes,
    serial: int | None,
    not_before_ms: int,
    not_after_ms: int,
    extensions: list[bytes],
) -> Certificate:
    """Assemble the TBSCertificate, sign it with `suite.sign` and wrap it (both suites)."""
    profile = _profile(suite)
    if serial is None:
        serial = secrets.randbelow((1 << 64) - 1) + 1
    if not 0 < serial < _MAX_SERIAL:
        raise ValueError("serial must be a positive integer of at most 20 octets")
    not_before, not_after = not_before_ms // 1000, not_after_ms // 1000
    if not_after < not_before:
        raise ValueError("not_after_ms is before not_before_ms")
    try:
        validity = _der.sequence(_der.x509_time(not_before), _der.x509_time(not_after))
    except (OverflowError, OSError, ValueError):
        raise ValueError("validity times are outside the years X.509 can express") from None
    algorithm = _der.sequence(_der.oid(profile.signature_oid))  # no parameters (RFC 5758, GM/T 0015)
    spki = _der.sequence(
        _der.sequence(_der.oid(OID_EC_PUBLIC_KEY), _der.oid(profile.curve_oid)),
        _der.bit_string(subject_public),
    )
    tbs = _der.sequence(
        _der.explicit(0, _der.integer(2)),  # v3
        _der.integer(serial),
        algorithm,
        issuer_name_der,
        validity,
        subject_name_der,
        spki,
        _der.explicit(3, _der.sequence(*extensions)),
    )
    try:
        rs = suite.sign(signer_private, tbs)
    except CryptoError as exc:
        raise ValueError(f"cannot sign with the issuer key: {exc}") from None
    signature = _der.sequence(
        _der.integer(int.from_bytes(rs[:32], "big")), _der.integer(int.from_bytes(rs[32:], "big"))
    )
    return Certificate.load(_der.sequence(tbs, algorithm, _der.bit_string(signature)))


def _name(org_id: str, role: str | None, common_name: str) -> bytes:
    """C=CN, O=org, [OU=role,] CN=name; one attribute per RDN, UTF8String except C."""

    def rdn(attribute_oid: str, value: bytes) -> bytes:
        return _der.set_of(_der.sequence(_der.oid(attribute_oid), value))

    rdns = [
        rdn(_OID_COUNTRY, _der.printable_string(COUNTRY)),
        rdn(_OID_ORG, _der.utf8_string(_check_name("org_id", org_id))),
    ]
    if role is not None:
        rdns.append(rdn(_OID_ORG_UNIT, _der.utf8_string(role)))
    rdns.append(rdn(_OID_COMMON_NAME, _der.utf8_string(_check_name("name", common_name))))
    return _der.sequence(*rdns)


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValueError(f"{what} must be a non-empty string without surrounding spaces")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{what} contains control characters")
    return value


def _extension(extension_oid: str, critical: bool, value: bytes) -> bytes:
    """Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }."""
    parts = [_der.oid(extension_oid)]
    if critical:
        parts.append(_der.boolean(True))
    parts.append(_der.octet_string(value))
    return _der.sequence(*parts)


def _key_id(suite: Suite, public: bytes) -> bytes:
    """Key identifier: leftmost 160 bits of the suite hash of the point (RFC 7093 method 1)."""
    return suite.hash(public)[:20]


def _check_private_matches(suite: Suite, private: bytes, public: bytes, message: str) -> None:
    try:
        derived = suite.public_key(private)
    except CryptoError as exc:
        raise ValueError(f"invalid private key: {exc}") from None
    if derived != public:
        raise ValueError(message)


def _check_point(profile: _Profile, public: bytes, what: str) -> None:
    if not _on_curve(profile, public):
        raise ValueError(f"{what} is not an uncompressed point on curve {profile.curve_oid}")


def _on_curve(profile: _Profile, public: bytes) -> bool:
    """Uncompressed and y² = x³ + ax + b; both curves have cofactor 1, so that is enough."""
    if len(public) != PUBLIC_KEY_SIZE or public[0] != 4:
        return False
    x, y = int.from_bytes(public[1:33], "big"), int.from_bytes(public[33:], "big")
    p = profile.p
    return x < p and y < p and (y * y - (x * x * x + profile.a * x + profile.b)) % p == 0


# --- parsing ------------------------------------------------------------------------------------


def _unpem(data: bytes) -> bytes:
    match = _PEM_RE.search(data)
    if match is None:
        raise CertificateError("data is neither DER (a SEQUENCE) nor PEM with a CERTIFICATE block")
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("PEM CERTIFICATE block is not valid base64") from None


def _parse(der: bytes) -> Certificate:
    """Walk the DER ourselves for the signed parts; let `cryptography` decode names and extensions."""
    outer = _der.children(_der.read_one(der, _der.SEQUENCE))
    if len(outer) != 3 or outer[0].tag != _der.SEQUENCE or outer[1].tag != _der.SEQUENCE:
        raise CertificateError(
            "certificate is not SEQUENCE { tbsCertificate, signatureAlgorithm, signature }"
        )
    tbs_element, algorithm, signature_bits = outer
    fields = _der.children(tbs_element)
    if len(fields) < 7 or fields[0].tag != 0xA0:
        raise CertificateError("only X.509 v3 certificates are supported (no version field)")
    if _der.read_integer(_der.read_one(fields[0].content, _der.INTEGER)) != 2:
        raise CertificateError("only X.509 v3 certificates are supported")
    serial = _der.read_integer(fields[1])
    if serial <= 0:
        raise CertificateError("serial number is not a positive integer")
    if fields[2].raw != algorithm.raw:
        raise CertificateError("signature algorithm inside the TBSCertificate differs from the outer one")
    algorithm_parts = _der.children(algorithm)
    if not algorithm_parts or len(algorithm_parts) > 2:
        raise CertificateError("malformed signature AlgorithmIdentifier")
    signature_oid = _der.read_oid(algorithm_parts[0])
    issuer_name, subject_name = fields[3], fields[5]
    if issuer_name.tag != _der.SEQUENCE or subject_name.tag != _der.SEQUENCE:
        raise CertificateError("issuer or subject is not a Name")
    curve_oid, public_key = _parse_public_key(fields[6])
    signature = _parse_signature(_der.read_bit_string(signature_bits))

    try:
        parsed = _cx.load_der_x509_certificate(der)
        extensions = parsed.extensions
        not_before = _ms(parsed.not_valid_before_utc)
        not_after = _ms(parsed.not_valid_after_utc)
        subject, issuer = parsed.subject, parsed.issuer
    except ValueError as exc:
        raise CertificateError(f"malformed certificate: {exc}") from None

    for extension in extensions:
        if extension.critical and extension.oid.dotted_string not in _UNDERSTOOD_CRITICAL:
            raise CertificateError(f"unsupported critical extension {extension.oid.dotted_string}")
    basic = _find_extension(extensions, ExtensionOID.BASIC_CONSTRAINTS, _cx.BasicConstraints)
    usage = _find_extension(extensions, ExtensionOID.KEY_USAGE, _cx.KeyUsage)
    ski = _find_extension(extensions, ExtensionOID.SUBJECT_KEY_IDENTIFIER, _cx.SubjectKeyIdentifier)
    aki = _find_extension(extensions, ExtensionOID.AUTHORITY_KEY_IDENTIFIER, _cx.AuthorityKeyIdentifier)

    return Certificate(
        der=der,
        serial=serial,
        subject_org=_attribute(subject, NameOID.ORGANIZATION_NAME, "subject O", required=True) or "",
        subject_role=_attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME, "subject OU", required=False),
        subject_cn=_attribute(subject, NameOID.COMMON_NAME, "subject CN", required=True) or "",
        issuer_org=_attribute(issuer, NameOID.ORGANIZATION_NAME, "issuer O", required=True) or "",
        issuer_cn=_attribute(issuer, NameOID.COMMON_NAME, "issuer CN", required=True) or "",
        not_before=not_before,
        not_after=not_after,
        is_ca=basic is not None and basic.ca,
        public_key=public_key,
        public_key_curve_oid=curve_oid,
        signature_algorithm_oid=signature_oid,
        tbs=tbs_element.raw,
        signature=signature,
        key_usage=None if usage is None else _usage_names(usage),
        subject_key_id=None if ski is None else ski.digest,
        authority_key_id=None if aki is None else aki.key_identifier,
        subject_name_der=subject_name.raw,
        issuer_name_der=issuer_name.raw,
    )


def _parse_public_key(spki: _der.Element) -> tuple[str, bytes]:
    """(curve OID, point) from SubjectPublicKeyInfo { {id-ecPublicKey, curve}, BIT STRING point }."""
    parts = _der.children(spki) if spki.tag == _der.SEQUENCE else []
    if len(parts) != 2 or parts[0].tag != _der.SEQUENCE:
        raise CertificateError("malformed SubjectPublicKeyInfo")
    algorithm = _der.children(parts[0])
    if len(algorithm) != 2 or _der.read_oid(algorithm[0]) != OID_EC_PUBLIC_KEY:
        raise CertificateError("public key is not an EC key with a named curve (id-ecPublicKey)")
    curve_oid = _der.read_oid(algorithm[1])
    profile = _CURVES.get(curve_oid)
    if profile is None:
        raise CertificateError(f"unsupported curve {curve_oid} (P-256 or SM2 only)")
    point = _der.read_bit_string(parts[1])
    if not _on_curve(profile, point):
        raise CertificateError("public key is not an uncompressed point on its curve")
    return curve_oid, point


def _parse_signature(value: bytes) -> bytes:
    """ECDSA-Sig-Value SEQUENCE { INTEGER r, INTEGER s } -> 64-byte r || s."""
    parts = _der.children(_der.read_one(value, _der.SEQUENCE))
    if len(parts) != 2:
        raise CertificateError("signature is not an (r, s) pair")
    r, s = _der.read_integer(parts[0]), _der.read_integer(parts[1])
    half = SIGNATURE_SIZE // 2
    if not (0 < r < 1 << (8 * half) and 0 < s < 1 << (8 * half)):
        raise CertificateError("signature (r, s) is out of range")
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def _find_extension(
    extensions: _cx.Extensions, extension_oid: _cx.ObjectIdentifier, kind: type[_ExtensionT]
) -> _ExtensionT | None:
    try:
        value = extensions.get_extension_for_oid(extension_oid).value
    except _cx.ExtensionNotFound:
        return None
    if not isinstance(value, kind):  # cryptography could not decode it
        raise CertificateError(f"malformed extension {extension_oid.dotted_string}")
    return value


def _attribute(
    name: _cx.Name, attribute_oid: _cx.ObjectIdentifier, what: str, *, required: bool
) -> str | None:
    values = name.get_attributes_for_oid(attribute_oid)
    if len(values) > 1:
        raise CertificateError(f"{what} appears more than once")
    if not values:
        if required:
            raise CertificateError(f"{what} is missing")
        return None
    value = values[0].value
    if not isinstance(value, str):
        raise CertificateError(f"{what} is not a string")
    return value


def _usage_names(usage: _cx.KeyUsage) -> frozenset[str]:
    names = {
        "digital_signature": usage.digital_signature,
        "content_commitment": usage.content_commitment,
        "key_encipherment": usage.key_encipherment,
        "data_encipherment": usage.data_encipherment,
        "key_agreement": usage.key_agreement,
        "key_cert_sign": usage.key_cert_sign,
        "crl_sign": usage.crl_sign,
    }
    return frozenset(name for name, present in names.items() if present)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


# --- verification -------------------------------------------------------------------------------


def _profile(suite: Suite) -> _Profile:
    profile = _PROFILES.get(suite.name)
    if profile is None:
        raise ValueError(f"no certificate profile for suite {suite.name!r}")
    return profile


def _check_algorithms(profile: _Profile, suite: Suite, cert: Certificate, what: str) -> None:
    """A certificate of another suite cannot verify here: reported as "bad_signature"."""
    if cert.signature_algorithm_oid != profile.signature_oid:
        raise CertificateError(
            f"{what} is signed with {cert.signature_algorithm_oid}, suite {suite.name} "
            f"uses {profile.signature_oid}",
            "bad_signature",
        )
    if cert.public_key_curve_oid != profile.curve_oid:
        raise CertificateError(
            f"{what} key is on curve {cert.public_key_curve_oid}, suite {suite.name} "
            f"uses {profile.curve_oid}",
            "bad_signature",
        )


def _check_can_sign_certificates(ca_cert: Certificate) -> None:
    if not ca_cert.is_ca:
        raise CertificateError(
            f"{ca_cert.subject_cn!r} is not a CA (no BasicConstraints CA:TRUE)", "not_a_ca"
        )
    if ca_cert.key_usage is not None and "key_cert_sign" not in ca_cert.key_usage:
        raise CertificateError(f"{ca_cert.subject_cn!r} key usage does not allow keyCertSign", "not_a_ca")


def _check_signature(suite: Suite, cert: Certificate, ca_cert: Certificate) -> None:
    if not suite.verify(ca_cert.public_key, cert.tbs, cert.signature):
        raise CertificateError(
            f"signature of {cert.subject_cn!r} does not verify under the key of {ca_cert.subject_cn!r}",
            "bad_signature",
        )
    if (
        cert.authority_key_id is not None
        and ca_cert.subject_key_id is not None
        and cert.authority_key_id != ca_cert.subject_key_id
    ):
        raise CertificateError(
            "authority key identifier is not the CA's subject key identifier", "issuer_mismatch"
        )


def _check_time(cert: Certificate, at_ms: int, what: str) -> None:
    if at_ms < cert.not_before:
        raise CertificateError(
            f"{what} {cert.subject_cn!r} is not valid before {cert.not_before} ms (now {at_ms})",
            "not_yet_valid",
        )
    if at_ms > cert.not_after:
        raise CertificateError(
            f"{what} {cert.subject_cn!r} expired at {cert.not_after} ms (now {at_ms})", "expired"
        )
