"""The rendered licence file: deterministic bytes, a PDF that parses, with the id, the QR link and
metadata naming the licence."""

from __future__ import annotations

import dataclasses
import io

import pypdf
import segno
from pypdf.generic import ContentStream

from govchain.contracts.licence.model import licence_id, parse_type
from govchain.contracts.licence.render import LicenceSheet, file_claim, render_licence
from govchain.contracts.licence.samples import BUSINESS_LICENCE

DAY = 24 * 3600 * 1000
SHEET = LicenceSheet(
    kind=parse_type("BL", BUSINESS_LICENCE),
    licence=licence_id("BL", "org2", 17),
    version=2,
    org="org2",
    org_name="市场监督管理局",
    valid_from=1_764_633_600_000,  # 2025-12-02 08:00 UTC+8
    valid_until=1_764_633_600_000 + 3650 * DAY,
    fields={"name": "上海某某科技有限公司", "credit_code": "91310115MA1K4LXK2T", "scope": "软件开发" * 40},
    data_digest=bytes(range(32)),
    chain="govchain-test",
    check_base="https://portal.example.gov.cn/",
)


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_the_same_sheet_gives_the_same_bytes_and_any_change_other_bytes() -> None:
    first = render_licence(SHEET)
    assert render_licence(dataclasses.replace(SHEET)) == first
    for change in (
        {"version": 3},
        {"fields": {**SHEET.fields, "scope": "软件开发"}},
        {"data_digest": bytes(32)},
        {"valid_until": None},
    ):
        assert render_licence(dataclasses.replace(SHEET, **change)) != first, change


def test_the_file_parses_and_shows_the_licence_and_its_check_link() -> None:
    pdf = render_licence(SHEET)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(width), round(height)) == (595, 842)  # A4
    text = text_of(pdf)
    url = f"https://portal.example.gov.cn/licences/{SHEET.licence}?v=2&d={bytes(range(32)).hex()}"
    assert SHEET.check_url == url
    for shown in (SHEET.licence, "营业执照", "Business licence", "上海某某科技有限公司", "统一社会信用代码",
                  "市场监督管理局", "2025-12-02", "2035-11-30"):  # fmt: skip
        assert shown in text, shown
    assert url in text.replace("\n", "")  # printed under the QR code, wrapped
    meta = reader.metadata
    assert meta is not None and meta.subject == SHEET.licence
    assert meta.title == f"营业执照 Business licence {SHEET.licence}"
    assert f"id={SHEET.licence}; version=2; chain=govchain-test" in str(meta["/Keywords"])


def test_the_file_names_the_licence_it_claims_to_be() -> None:
    claim = file_claim(render_licence(SHEET))
    assert claim is not None
    assert (claim.licence, claim.version, claim.chain, claim.data_digest) == (
        SHEET.licence, 2, "govchain-test", SHEET.data_digest,
    )  # fmt: skip
    assert file_claim(b"%PDF-1.4 not a licence") is None
    wrong = SHEET.licence[:-1] + ("0" if SHEET.licence[-1] != "0" else "1")  # a wrong check character
    forged = render_licence(dataclasses.replace(SHEET, licence=wrong))
    assert file_claim(forged) is None


def test_the_qr_code_drawn_is_the_check_link() -> None:
    """The bars drawn inside the QR code's own coordinate system rebuild exactly the QR matrix of the
    check link (the same encoding the portal's QR image uses)."""
    reader = pypdf.PdfReader(io.BytesIO(render_licence(SHEET)))
    ops = ContentStream(reader.pages[0].get_contents(), reader).operations
    start = next(i for i, (_, op) in enumerate(ops) if op == b"q")  # the QR code's saved state
    end = next(i for i, (_, op) in enumerate(ops) if op == b"Q")
    bars = [[int(v) for v in operands] for operands, op in ops[start:end] if op == b"re"]
    expected = segno.make(SHEET.check_url, error="m").matrix
    size = len(expected)
    drawn = [[False] * size for _ in range(size)]
    for x, y, width, height in bars:
        assert height == 1
        for col in range(x, x + width):
            drawn[size - 1 - y][col] = True
    assert drawn == [[bool(bit) for bit in row] for row in expected]
