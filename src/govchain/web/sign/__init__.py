"""Signing in the browser (web/sign/sign.js): keys, canonical CBOR, transactions, signed requests.

No pages of its own: it loads on every shared portal page, so that a module's page that
writes (the e-licence consoles) signs in the browser with a key that never leaves it. It
reuses the verifier's canonical CBOR codec and its vendored P-256 and SM2/SM3 code.
"""

from __future__ import annotations

from govchain.web.module import PortalModule

PORTAL = PortalModule(
    name="sign",
    package="govchain.web",
    scripts=("verify/vendor/sm-crypto.js", "verify/vendor/noble-p256.js", "verify/cbor.js", "sign/sign.js"),
    order=5,
)
