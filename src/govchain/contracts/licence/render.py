"""The rendered licence file: a one-page A4 PDF with the licence's data and its QR code.

The file's digest goes on chain with the version it shows, so the same inputs must
give the same bytes: reportlab's invariant mode fixes the creation date and the
document id, and nothing here reads the clock. The QR code opens the portal's public
check for this licence, version and data digest (the same link as the portal's QR
image). Chinese text uses the PDF reader's built-in STSong-Light CID font, so no font
file is embedded or needed.

The file names the licence it claims to be in its metadata (`Keywords`), which
`file_claim` reads back, so a verifier needs only the file to find its record on chain.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import segno
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from govchain.contracts.licence.model import LicenceType, check_licence_id

CJK_FONT: Final = "STSong-Light"
LATIN_FONT: Final = "Helvetica"
KEYWORDS_TAG: Final = "govchain-licence"
CHINA_TIME: Final = dt.timezone(dt.timedelta(hours=8), "UTC+8")
_CLAIM = re.compile(
    rb"/Keywords \(" + KEYWORDS_TAG.encode()
    + rb"; id=([A-Za-z0-9._-]+); version=([0-9]+); chain=([A-Za-z0-9._:-]+); data=([0-9a-f]{64})\)"
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LicenceSheet:
    """Everything a licence file shows (and nothing else: same sheet, same bytes)."""

    kind: LicenceType
    licence: str
    version: int
    org: str  # the issuing organisation's id
    org_name: str  # and its name ("" if the chain has none)
    valid_from: int  # ms
    valid_until: int | None  # ms, or None for no end
    fields: Mapping[str, Any]
    data_digest: bytes
    chain: str  # chain id
    check_base: str  # the portal's address, where the QR code's check page is

    @property
    def check_url(self) -> str:
        # The portal's own link builder, imported here so that importing the SDK does not load the
        # portal (and with it the node and its web framework).
        from govchain.contracts.licence.portal import check_url

        return check_url(self.check_base, self.licence, self.version, self.data_digest.hex())


@dataclass(frozen=True, slots=True)
class FileClaim:
    """Which licence a file says it is (from its metadata; only the chain's digests can confirm it)."""

    licence: str
    version: int
    chain: str
    data_digest: bytes


def file_claim(pdf: bytes) -> FileClaim | None:
    """The licence a rendered file names in its metadata, or None for any other file."""
    found = _CLAIM.search(pdf)
    if found is None:
        return None
    lid, version, chain, digest = (part.decode() for part in found.groups())
    try:
        check_licence_id(lid)
    except ValueError:
        return None
    return FileClaim(lid, int(version), chain, bytes.fromhex(digest))


def render_licence(sheet: LicenceSheet) -> bytes:
    """The licence as a deterministic one-page A4 PDF."""
    _register_fonts()
    out = io.BytesIO()
    pdf = Canvas(out, pagesize=A4, invariant=1, pageCompression=1)
    kind = sheet.kind
    pdf.setTitle(f"{kind.name_zh} {kind.name_en} {sheet.licence}")
    pdf.setSubject(sheet.licence)
    pdf.setAuthor(sheet.org_name or sheet.org)
    pdf.setCreator("govchain")
    pdf.setKeywords(
        f"{KEYWORDS_TAG}; id={sheet.licence}; version={sheet.version}; chain={sheet.chain};"
        f" data={sheet.data_digest.hex()}"
    )
    width, height = A4
    margin = 56.0
    pdf.setLineWidth(2)
    pdf.rect(margin / 2, margin / 2, width - margin, height - margin)
    _text(pdf, width / 2, height - 110, kind.name_zh, 30, centre=True)
    _text(pdf, width / 2, height - 138, kind.name_en, 15, centre=True)

    y = height - 190
    rows = [
        ("证照编号", "Licence No.", sheet.licence),
        ("版本", "Version", str(sheet.version)),
        ("发证机构", "Issued by", f"{sheet.org_name} ({sheet.org})" if sheet.org_name else sheet.org),
        ("有效期", "Valid", _validity(sheet.valid_from, sheet.valid_until)),
    ]
    holder = sheet.fields.get("name")
    if isinstance(holder, str):
        rows.insert(0, ("持证主体", "Holder", holder))
    properties = kind.schema.get("properties", {})
    for name in [*properties, *sorted(set(sheet.fields) - set(properties))]:
        if name in sheet.fields:
            title = properties.get(name, {}).get("title")  # the schema's label, with the field's name
            label, subtitle = (title, name) if isinstance(title, str) and title else (name, "")
            rows.append((label, subtitle, _value(sheet.fields[name])))
    label_width = 150.0
    for zh, en, value in rows:
        _text(pdf, margin, y, zh, 11)
        if en:
            _text(pdf, margin, y - 12, en, 8)
        for line in _wrap(value, 11, width - 2 * margin - label_width):
            _text(pdf, margin + label_width, y, line, 11)
            y -= 16
        y -= 14 if en else 6
        if y < 260:
            break  # the lower part of the page is the QR code's

    size = 130.0
    _qr(pdf, sheet.check_url, width - margin - size, margin + 40, size)
    _text(pdf, width - margin - size / 2, margin + 26, "扫码核验 Scan to verify", 9, centre=True)
    small = 7
    y = margin + 130
    for line in (
        f"数据摘要 Data digest: {sheet.data_digest.hex()}",
        f"区块链 Chain: {sheet.chain}",
        *_wrap(f"核验 Check: {sheet.check_url}", small, width - 3 * margin - size),
    ):
        _text(pdf, margin, y, line, small)
        y -= 11
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _register_fonts() -> None:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def _font(text: str) -> str:
    return LATIN_FONT if text.isascii() else CJK_FONT


def _text(pdf: Canvas, x: float, y: float, text: str, size: float, centre: bool = False) -> None:
    pdf.setFont(_font(text), size)
    if centre:
        pdf.drawCentredString(x, y, text)
    else:
        pdf.drawString(x, y, text)


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Lines that fit `width`, broken between characters (Chinese has no spaces to break at)."""
    font = _font(text)
    lines, line = [], ""
    for ch in text:
        if ch == "\n" or pdfmetrics.stringWidth(line + ch, font, size) > width:
            lines.append(line)
            line = "" if ch == "\n" else ch
        else:
            line += ch
    return [*lines, line]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, list):
        return "、".join(_value(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(v)}" for k, v in value.items())
    return str(value)


def _validity(valid_from: int, valid_until: int | None) -> str:
    until = "长期 no end" if valid_until is None else _day(valid_until)
    return f"{_day(valid_from)} 至 to {until} (UTC+8)"


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=CHINA_TIME).strftime("%Y-%m-%d")


def _qr(pdf: Canvas, text: str, x: float, y: float, size: float) -> None:
    """The QR code as filled bars, one per run of dark modules in a row (segno's matrix, as the
    portal's QR image; quiet zone of 2), drawn in module units."""
    matrix = segno.make(text, error="m").matrix
    border, count = 2, len(matrix)
    module = size / (count + 2 * border)
    pdf.saveState()
    pdf.translate(x + border * module, y + border * module)
    pdf.scale(module, module)
    pdf.setFillColorRGB(0, 0, 0)
    for row, bits in enumerate(matrix):
        col = 0
        while col < count:
            if not bits[col]:
                col += 1
                continue
            start = col
            while col < count and bits[col]:
                col += 1
            pdf.rect(start, count - 1 - row, col - start, 1, stroke=0, fill=1)
    pdf.restoreState()
