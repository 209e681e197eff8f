"""The e-licence module's portal pages: the catalogue, the public check a licence's QR code opens,
and the consoles that sign in the browser (issuing, holder, relying party, regulator: console.js).

`/licences/{id}?v=<version>&d=<digest>` is what the QR code printed on a licence
carries: anyone who scans it sees, in their own browser, whether that version is
valid, suspended, revoked, cancelled, expired or superseded, and whether the
digest matches the chain, with the licence's lifecycle. It reads only public routes.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from govchain.api.common import ApiError, parse_hex
from govchain.contracts.licence.model import check_licence_id
from govchain.contracts.notary.portal import qr_response
from govchain.ledger import errors
from govchain.node.node import Node
from govchain.web.module import NavLink, PortalModule


def check_url(base: str, licence: str, version: int | None = None, digest: str | None = None) -> str:
    """The public check page for a licence (what its QR code opens)."""
    query = ({"v": str(version)} if version else {}) | ({"d": digest} if digest else {})
    return f"{base.rstrip('/')}/licences/{licence}" + (f"?{urlencode(query)}" if query else "")


def qr_router(node: Node) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/portal/licences/qr.svg")
    def qr(
        request: Request, id: str = Query(...), v: int | None = Query(None, ge=1), d: str | None = None
    ) -> Response:
        """The QR code of a licence's public check, on this node's address."""
        try:
            licence = check_licence_id(id)
        except ValueError as exc:
            raise ApiError(errors.INVALID_ARGS, str(exc)) from None
        digest = parse_hex(d, "digest", 32).hex() if d else None
        return qr_response(check_url(str(request.base_url), licence, v, digest))

    return router


PORTAL = PortalModule(
    name="licences",
    package="govchain.contracts.licence.portal",
    pages=(
        "/licences",
        "/licences/issuer",
        "/licences/holder",
        "/licences/relying",
        "/licences/regulator",
        "/licences/{licence_id}",
    ),
    # console.js before licences.js: its paths are not licence ids
    scripts=("vendor/qrcode.js", "model.js", "console.js", "licences.js"),
    styles=("licences.css",),
    nav=(NavLink("/licences", "电子证照", "Licences"),),
    routes=qr_router,
    order=40,
)
