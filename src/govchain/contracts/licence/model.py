"""The e-licence data model: licence types, identifiers, lifecycle, holders and authorisations.

Everything here is plain data and pure functions, shared by the contract (which
enforces it on chain) and by the issuing and verifying tools (which prepare and
check the same bytes off chain). The lifecycle table is the one in
docs/licences.md; change them together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from govchain import codec
from govchain.crypto import PUBLIC_KEY_SIZE, Suite

REGISTRY_KIND: Final = "licence_type"
DIGEST_SIZE: Final = 32
DAY_MS: Final = 24 * 3600 * 1000

# --- licence types (证照目录), registered by governance ----------------------------

TYPE_CODE = re.compile(r"[A-Z0-9]{2,16}")
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
HOLDER_KINDS: Final = ("organisation", "person")  # unified social credit code, or ID number


@dataclass(frozen=True, slots=True)
class LicenceType:
    """A catalogue entry: what a licence of this type holds and who may issue it."""

    code: str
    name_zh: str
    name_en: str
    issuers: frozenset[str]  # organisation ids allowed to issue it
    schema: dict[str, Any]  # JSON Schema of the licence data (checked off chain by the issuer)
    personal: frozenset[str]  # fields that are personal data: never on chain, shown only as authorised
    holder: str  # one of HOLDER_KINDS
    validity_days: int | None  # the longest validity; None: may be indefinite

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.schema.get("properties", {}))

    def to_value(self) -> dict[str, Any]:
        return {
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "issuers": sorted(self.issuers),
            "schema": self.schema,
            "personal": sorted(self.personal),
            "holder": self.holder,
            "validity_days": self.validity_days,
        }


def parse_type(code: str, doc: Any) -> LicenceType:
    """Check a licence type's catalogue document; ValueError says what is wrong."""
    if not TYPE_CODE.fullmatch(code):
        raise ValueError("a licence type code is 2..16 capital letters or digits, e.g. BL")
    expected = {"name_zh", "name_en", "issuers", "schema", "personal", "holder", "validity_days"}
    if type(doc) is not dict or set(doc) != expected:
        raise ValueError(f"a licence type document has exactly: {', '.join(sorted(expected))}")
    for name in ("name_zh", "name_en"):
        if type(doc[name]) is not str or not 0 < len(doc[name]) <= 128:
            raise ValueError(f"'{name}' must be text of 1..128 characters")
    issuers = doc["issuers"]
    if type(issuers) is not list or not issuers or any(type(i) is not str for i in issuers):
        raise ValueError("'issuers' must list the organisation ids that may issue this type")
    schema = doc["schema"]
    if (
        type(schema) is not dict
        or schema.get("type") != "object"
        or type(schema.get("properties")) is not dict
    ):
        raise ValueError('\'schema\' must be a JSON Schema with "type": "object" and "properties"')
    fields = set(schema["properties"])
    if not fields or not all(FIELD_NAME.fullmatch(f) for f in fields):
        raise ValueError("'schema.properties' must name 1 or more fields (letters, digits, '_')")
    personal = doc["personal"]
    if type(personal) is not list or not set(personal) <= fields:
        raise ValueError("'personal' must list fields of the schema")
    if doc["holder"] not in HOLDER_KINDS:
        raise ValueError(f"'holder' must be one of {', '.join(HOLDER_KINDS)}")
    days = doc["validity_days"]
    if days is not None and (type(days) is not int or not 0 < days <= 36500):
        raise ValueError("'validity_days' must be 1..36500, or null for no limit")
    return LicenceType(
        code,
        doc["name_zh"],
        doc["name_en"],
        frozenset(issuers),
        schema,
        frozenset(personal),
        doc["holder"],
        days,
    )


# --- identifiers (GB/T 36904 in spirit: type + issuer + sequence + check character) --

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LICENCE_ID = re.compile(r"([A-Z0-9]{2,16})-([A-Za-z0-9][A-Za-z0-9._-]{0,63})-([0-9]{8,})-([0-9A-Z])")


def check_character(text: str) -> str:
    """ISO/IEC 7064 MOD 37,36 over letters and digits: catches any single wrong character."""
    p = 36
    for ch in text.upper():
        if ch not in _ALNUM:
            continue
        p = (p + _ALNUM.index(ch)) % 36 or 36
        p = (p * 2) % 37
    return _ALNUM[(37 - p) % 36]


def licence_id(type_code: str, org: str, sequence: int) -> str:
    body = f"{type_code}-{org}-{sequence:08d}"
    return f"{body}-{check_character(body)}"


def check_licence_id(value: object) -> str:
    """A well-formed licence id with a correct check character; ValueError otherwise."""
    if type(value) is not str or not LICENCE_ID.fullmatch(value):
        raise ValueError("a licence id looks like BL-org2-00000001-7 (type-issuer-sequence-check)")
    body, check = value[:-2], value[-1]
    if check_character(body) != check:
        raise ValueError("the licence id's check character is wrong (a mistyped id?)")
    return value


# --- the licence's data (kept off chain; only its digest is on chain) --------------
#
# Each field gets its own salted hash, and the data digest commits to the map of
# field hashes. So a holder can show a relying party just the fields an
# authorisation names (with their salts) plus the other fields' hashes, and the
# relying party checks them against the digest on chain without seeing the rest.

DATA_DOMAIN: Final = b"govchain/licence-data/v1"
FIELD_DOMAIN: Final = b"govchain/licence-field/v1"


def field_hash(suite: Suite, name: str, salt: bytes, value: Any) -> bytes:
    return suite.hash(FIELD_DOMAIN + codec.encode([salt, name, value]))


def data_digest(suite: Suite, field_hashes: Mapping[str, bytes]) -> bytes:
    """The digest on chain of a licence's data: H(domain || canonical CBOR of {field: field hash})."""
    return suite.hash(DATA_DOMAIN + codec.encode(dict(field_hashes)))


def salted_fields(suite: Suite, fields: Mapping[str, Any], salts: Mapping[str, bytes]) -> dict[str, bytes]:
    return {name: field_hash(suite, name, salts[name], value) for name, value in fields.items()}


def fields_digest(suite: Suite, fields: Mapping[str, Any], salts_hex: Mapping[str, str]) -> bytes:
    """The data digest of a whole licence (all fields, salts as in a bundle or credential: hex)."""
    salts = {name: bytes.fromhex(salt) for name, salt in salts_hex.items()}
    return data_digest(suite, salted_fields(suite, fields, salts))


def disclose(
    suite: Suite, fields: Mapping[str, Any], salts: Mapping[str, bytes], shown: list[str]
) -> dict[str, Any]:
    """What a holder hands a relying party: the shown fields with their salts, the rest as hashes."""
    hashes = salted_fields(suite, fields, salts)
    return {
        "fields": {name: [salts[name], fields[name]] for name in shown if name in fields},
        "hashes": {name: h for name, h in hashes.items() if name not in shown},
    }


def check_disclosure(suite: Suite, disclosure: Mapping[str, Any], digest: bytes) -> dict[str, Any]:
    """The disclosed fields, if they and the other fields' hashes make up `digest`; else ValueError."""
    try:
        shown = {name: (salt, value) for name, (salt, value) in disclosure["fields"].items()}
        hashes = dict(disclosure["hashes"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            "a disclosure has 'fields' {name: [salt, value]} and 'hashes' {name: hash}"
        ) from None
    if set(shown) & set(hashes):
        raise ValueError("a field is both shown and hidden")
    for name, (salt, value) in shown.items():
        hashes[name] = field_hash(suite, name, salt, value)
    if data_digest(suite, hashes) != digest:
        raise ValueError("the disclosed fields do not match the licence's data digest on chain")
    return {name: value for name, (_, value) in shown.items()}


# --- holders ------------------------------------------------------------------------

HOLDER_DOMAIN: Final = b"govchain/licence-holder/v1"


def holder_commitment(suite: Suite, salt: bytes, holder_code: str) -> bytes:
    """The salted commitment on chain to a holder's identifier (never the identifier itself)."""
    if len(salt) < 16:
        raise ValueError("the salt must be at least 16 random bytes")
    return suite.hash(HOLDER_DOMAIN + codec.encode([salt, holder_code]))


def holder_did(suite: Suite, public_key: bytes) -> str:
    """`did:govchain:<suite>:<first 20 bytes of H(public key), hex>`: the holder's key-bound id."""
    return f"did:govchain:{suite.name}:{suite.hash(public_key)[:20].hex()}"


# --- lifecycle ----------------------------------------------------------------------

ACTIVE, SUSPENDED, REVOKED, CANCELLED = "active", "suspended", "revoked", "cancelled"
STATUSES: Final = (ACTIVE, SUSPENDED, REVOKED, CANCELLED)

# operation -> (statuses it may start from, status it leaves, whether it makes a new version)
TRANSITIONS: Final[Mapping[str, tuple[frozenset[str], str | None, bool]]] = {
    "change": (frozenset({ACTIVE}), ACTIVE, True),  # 变更: a new version supersedes the old
    "renew": (frozenset({ACTIVE}), ACTIVE, True),  # 延续/换证: a new version with a new validity
    "suspend": (frozenset({ACTIVE}), SUSPENDED, False),  # 暂扣/中止
    "resume": (frozenset({SUSPENDED}), ACTIVE, False),  # 恢复
    "revoke": (frozenset({ACTIVE, SUSPENDED}), REVOKED, False),  # 吊销/撤销: final
    "cancel": (frozenset({ACTIVE, SUSPENDED}), CANCELLED, False),  # 注销: final
}


def next_status(status: str, operation: str) -> str:
    """The status after `operation`; ValueError if the lifecycle forbids it."""
    allowed, after, _ = TRANSITIONS[operation]
    if status not in allowed:
        raise ValueError(f"cannot {operation} a licence that is {status}")
    assert after is not None
    return after


# Bitstring Status List (W3C): one bit per licence and purpose, index = the licence's
# `index` on chain; bit 0 is the most significant bit of the first byte; 1 = set.
STATUS_PURPOSES: Final = ("revocation", "suspension")
STATUS_CHUNK_BYTES: Final = 1024  # 8,192 licences per stored chunk
STATUS_LIST_MIN_BITS: Final = 131_072


def status_bits(status: str) -> dict[str, bool]:
    """Which status-list bits a licence in `status` has set."""
    return {"revocation": status in (REVOKED, CANCELLED), "suspension": status == SUSPENDED}


def set_bit(chunk: bytes, offset: int, value: bool) -> bytes:
    data = bytearray(chunk or bytes(STATUS_CHUNK_BYTES))
    mask = 0x80 >> (offset % 8)
    data[offset // 8] = data[offset // 8] | mask if value else data[offset // 8] & ~mask
    return bytes(data)


def get_bit(bits: bytes, index: int) -> bool:
    return index // 8 < len(bits) and bool(bits[index // 8] & (0x80 >> (index % 8)))


def public_status(record: Mapping[str, Any], now_ms: int, version: int | None = None) -> str:
    """What a verifier is told: valid, suspended, revoked, cancelled, expired, not_yet_valid or
    superseded (an older version than the current one)."""
    if version is not None and version != record["version"]:
        return "superseded"
    status = record["status"]
    if status != ACTIVE:
        return str(status)
    if now_ms < record["valid_from"]:
        return "not_yet_valid"
    if record["valid_until"] is not None and now_ms > record["valid_until"]:
        return "expired"
    return "valid"


# --- authorised use (用证授权) -------------------------------------------------------

AUTH_DOMAIN: Final = b"govchain/licence-auth/v1"
AUTH_FIELDS: Final = frozenset(
    {"chain", "licence", "relying_org", "service", "fields", "not_before", "not_after", "one_time", "nonce"}
)


def check_authorisation(auth: Any) -> dict[str, Any]:
    """The shape of a holder's authorisation; ValueError says what is wrong."""
    if type(auth) is not dict or set(auth) != AUTH_FIELDS:
        raise ValueError(f"an authorisation has exactly: {', '.join(sorted(AUTH_FIELDS))}")
    for name in ("chain", "relying_org", "service"):
        if type(auth[name]) is not str or not 0 < len(auth[name]) <= 128:
            raise ValueError(f"'{name}' must be text of 1..128 characters")
    check_licence_id(auth["licence"])
    fields = auth["fields"]
    if type(fields) is not list or not fields or any(type(f) is not str for f in fields):
        raise ValueError("'fields' must list the fields the relying party may see")
    if type(auth["not_before"]) is not int or type(auth["not_after"]) is not int:
        raise ValueError("'not_before' and 'not_after' are times in milliseconds")
    if auth["not_after"] <= auth["not_before"]:
        raise ValueError("'not_after' must be after 'not_before'")
    if type(auth["one_time"]) is not bool:
        raise ValueError("'one_time' must be true or false")
    if type(auth["nonce"]) is not bytes or not 8 <= len(auth["nonce"]) <= 32:
        raise ValueError("'nonce' must be 8..32 random bytes")
    return auth


def authorisation_signing_input(auth: Mapping[str, Any]) -> bytes:
    return AUTH_DOMAIN + codec.encode(dict(auth))


def sign_authorisation(suite: Suite, holder_private: bytes, auth: Mapping[str, Any]) -> bytes:
    check_authorisation(dict(auth))
    return suite.sign(holder_private, authorisation_signing_input(auth))


def is_public_key(value: object) -> bool:
    return type(value) is bytes and len(value) == PUBLIC_KEY_SIZE
