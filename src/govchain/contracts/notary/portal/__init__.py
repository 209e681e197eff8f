"""The notary module's portal pages: the certificate (存证证书) of a notarised item, with a QR code.

An example of a contract module adding pages: this package declares `PORTAL`, and the
portal core finds it (govchain.web.portal.discover_modules). The certificate is rendered
in the browser from the receipt API; the QR code, made here with segno, opens the
verification page for that receipt, which checks it in the scanning browser.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from govchain.api.common import parse_hex
from govchain.contracts.notary.contract import DIGEST_SIZE
from govchain.node.node import Node
from govchain.web.module import PortalModule


def verify_url(base: str, tx_id: str, digest: str | None) -> str:
    """Where the certificate's QR code leads: the verification page, fetching this receipt."""
    query = {"tx": tx_id} | ({"digest": digest} if digest else {})
    return f"{base.rstrip('/')}/verify?{urlencode(query)}"


def qr_svg(text: str) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgclass="qr")
    return out.getvalue()


def qr_response(text: str) -> Response:
    """A QR code of `text` as an SVG image (cacheable: the same text always makes the same image)."""
    return Response(
        qr_svg(text), media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


def qr_router(node: Node) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/portal/notary/qr.svg")
    def qr(request: Request, tx: str = Query(...), digest: str | None = None) -> Response:
        """A QR code of the verification link for receipt (`tx`, `digest`) on this node's address."""
        tx_id = parse_hex(tx, "tx", 32).hex()
        doc = parse_hex(digest, "digest", DIGEST_SIZE).hex() if digest else None
        return qr_response(verify_url(str(request.base_url), tx_id, doc))

    return router


PORTAL = PortalModule(
    name="notary",
    package="govchain.contracts.notary.portal",
    pages=("/receipts/{tx_id}",),
    scripts=("receipt.js",),
    styles=("receipt.css",),
    routes=qr_router,
    order=30,
)
