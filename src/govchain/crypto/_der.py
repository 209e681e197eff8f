"""A minimal DER encoder and reader: just what X.509 certificates for both suites need.

Why our own: `cryptography` cannot build an SM2 certificate (it has no SM2-with-SM3
signer), so the TBSCertificate is assembled here for both suites, one code path. The
reader is strict DER (definite, minimal lengths; minimal INTEGERs) because the bytes it
walks are the bytes that get signed and hashed: two encodings of one value must not pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# Universal tags.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31

_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


class DerError(ValueError):
    """Raised by the reader for anything that is not strict DER."""


# --- encoder ------------------------------------------------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, definite minimal length, content."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def sequence(*elements: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(elements))


def set_of(*elements: bytes) -> bytes:
    """SET OF: DER orders the encoded elements as byte strings."""
    return tlv(SET, b"".join(sorted(elements)))


def integer(value: int) -> bytes:
    """Two's complement, minimal length (a positive value with the top bit set gets a 0x00)."""
    size = value.bit_length() // 8 + 1 if value >= 0 else (~value).bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def boolean(value: bool) -> bytes:
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def octet_string(data: bytes) -> bytes:
    return tlv(OCTET_STRING, data)


def bit_string(data: bytes, unused_bits: int = 0) -> bytes:
    return tlv(BIT_STRING, bytes([unused_bits]) + data)


def named_bits(*positions: int) -> bytes:
    """A named-bit BIT STRING (KeyUsage): DER drops trailing zero bits."""
    if not positions:
        return bit_string(b"")
    last = max(positions)
    value = bytearray((last + 8) // 8)
    for pos in positions:
        value[pos // 8] |= 0x80 >> (pos % 8)
    return bit_string(bytes(value), 7 - last % 8)


def oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER from its dotted form ("1.2.840.10045.2.1")."""
    arcs = [int(part) for part in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"invalid OID {dotted!r}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


def utf8_string(text: str) -> bytes:
    return tlv(UTF8_STRING, text.encode("utf-8"))


def printable_string(text: str) -> bytes:
    if not set(text) <= _PRINTABLE:
        raise ValueError(f"{text!r} is not a PrintableString")
    return tlv(PRINTABLE_STRING, text.encode("ascii"))


def explicit(number: int, content: bytes) -> bytes:
    """[number] EXPLICIT: a constructed context-specific wrapper."""
    return tlv(0xA0 | number, content)


def implicit_primitive(number: int, content: bytes) -> bytes:
    """[number] IMPLICIT over a primitive type (e.g. AuthorityKeyIdentifier.keyIdentifier)."""
    return tlv(0x80 | number, content)


def x509_time(seconds: int) -> bytes:
    """RFC 5280 §4.1.2.5: UTCTime for 1950-2049, GeneralizedTime otherwise, always Zulu."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if 1950 <= moment.year <= 2049:
        return tlv(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return tlv(GENERALIZED_TIME, f"{moment.year:04d}{moment.strftime('%m%d%H%M%S')}Z".encode("ascii"))


# --- reader -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Element:
    """One parsed element: its tag, its content, and its complete encoding (tag and length too)."""

    tag: int
    content: bytes
    raw: bytes


def read(data: bytes, offset: int = 0) -> tuple[Element, int]:
    """The element starting at `offset` and the offset just past it."""
    if offset + 2 > len(data):
        raise DerError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used in certificates")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0:
            raise DerError("indefinite length is not DER")
        if count > 4 or pos + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if data[pos] == 0 or length < 0x80:
            raise DerError("non-minimal length is not DER")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("element runs past the end of its container")
    return Element(tag, bytes(data[pos:end]), bytes(data[offset:end])), end


def read_one(data: bytes, tag: int) -> Element:
    """Exactly one element of type `tag` filling all of `data`."""
    element, end = read(data)
    if end != len(data):
        raise DerError("trailing bytes after the element")
    if element.tag != tag:
        raise DerError(f"expected tag {tag:#04x}, got {element.tag:#04x}")
    return element


def children(element: Element) -> list[Element]:
    """The elements inside a constructed element."""
    if not element.tag & 0x20:
        raise DerError(f"tag {element.tag:#04x} is not constructed")
    items: list[Element] = []
    pos = 0
    while pos < len(element.content):
        item, pos = read(element.content, pos)
        items.append(item)
    return items


def read_integer(element: Element) -> int:
    """The value of an INTEGER, which must be minimally encoded."""
    if element.tag != INTEGER or not element.content:
        raise DerError("expected a non-empty INTEGER")
    body = element.content
    if len(body) > 1 and ((body[0] == 0x00 and body[1] < 0x80) or (body[0] == 0xFF and body[1] >= 0x80)):
        raise DerError("non-minimal INTEGER is not DER")
    return int.from_bytes(body, "big", signed=True)


def read_oid(element: Element) -> str:
    """The dotted form of an OBJECT IDENTIFIER."""
    if element.tag != OBJECT_IDENTIFIER or not element.content or element.content[-1] & 0x80:
        raise DerError("expected an OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for i, byte in enumerate(element.content):
        if value == 0 and byte == 0x80 and (i == 0 or not element.content[i - 1] & 0x80):
            raise DerError("non-minimal OID arc")
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def read_bit_string(element: Element) -> bytes:
    """The bytes of a BIT STRING that has no unused bits (keys and signatures)."""
    if element.tag != BIT_STRING or not element.content:
        raise DerError("expected a BIT STRING")
    if element.content[0] != 0:
        raise DerError("BIT STRING has unused bits")
    return element.content[1:]
