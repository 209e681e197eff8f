"""The verification page (存证核验): receipts and files checked in the browser, also offline.

A standalone module: its page is one self-contained HTML file (core, the CBOR codec, the
vendored SM2/SM3 code and the verifier inlined), so saving it, or downloading it from
/verify/offline.html, gives a verifier that needs no server at all.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from govchain.node.node import Node
from govchain.web.module import NavLink, PortalModule

OFFLINE_NAME = "govchain-verifier.html"


def offline_router(node: Node) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/verify/offline.html", response_class=HTMLResponse)
    def offline() -> HTMLResponse:
        """The same page as /verify, as a download: one file that verifies without a network."""
        from govchain.web.portal import discover_modules, render_shell

        modules = discover_modules()
        page = render_shell(modules, [PORTAL], standalone=True)
        return HTMLResponse(page, headers={"Content-Disposition": f'attachment; filename="{OFFLINE_NAME}"'})

    return router


PORTAL = PortalModule(
    name="verify",
    package="govchain.web.verify",
    pages=("/verify",),
    scripts=("vendor/sm-crypto.js", "vendor/noble-p256.js", "cbor.js", "verifier.js", "verify.js"),
    styles=("verify.css",),
    nav=(NavLink("/verify", "存证核验", "Verify"),),
    standalone=True,
    routes=offline_router,
    order=20,
)
