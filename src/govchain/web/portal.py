"""The portal core: discovers the modules' pages, serves them in one layout, serves their files.

The web layer is a face: pages are rendered in the browser from the public REST API, and
no rule of the chain lives here. Modules are found, not listed: the built-in explorer and
verifier, plus every `govchain.contracts.<name>.portal` package that exposes `PORTAL`
(a `PortalModule`), so a new contract module adds pages without touching this file.
"""

from __future__ import annotations

import hashlib
import html
import json
import pkgutil
from collections.abc import Callable
from functools import cache
from importlib import import_module
from importlib.resources import files
from pathlib import PurePosixPath

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from govchain.node.node import Node
from govchain.web.module import ASSET_TYPES, NavLink, PortalModule

BUILTIN_MODULES = ("govchain.web.explorer", "govchain.web.verify", "govchain.web.sign")
CORE = PortalModule(
    name="core", package="govchain.web", folder="core", scripts=("core.js",), styles=("core.css",), order=0
)
ASSET_PREFIX = "/portal/assets"


def discover_modules() -> list[PortalModule]:
    """The built-in modules and every contract module with a `portal` package, in nav order."""
    found: list[PortalModule] = [import_module(name).PORTAL for name in BUILTIN_MODULES]
    contracts = import_module("govchain.contracts")
    for info in sorted(pkgutil.iter_modules(contracts.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        wanted = f"govchain.contracts.{info.name}.portal"
        try:
            module = import_module(wanted)
        except ModuleNotFoundError as exc:
            if exc.name == wanted:
                continue  # this contract has no pages
            raise
        found.append(module.PORTAL)
    return sorted(found, key=lambda m: (m.order, m.name))


@cache
def _template() -> str:
    return files("govchain.web").joinpath("core/shell.html").read_text(encoding="utf-8")


def _version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _nav(modules: list[PortalModule]) -> str:
    links: list[NavLink] = [link for m in modules for link in m.nav]
    return "".join(
        f'<a href="{html.escape(link.path)}" data-zh="{html.escape(link.zh)}" '
        f'data-en="{html.escape(link.en)}">{html.escape(link.zh)}</a>'
        for link in links
    )


def _inline_script(text: str) -> str:
    return "<script>\n" + text.replace("</script", "<\\/script") + "\n</script>"


def render_shell(modules: list[PortalModule], page_modules: list[PortalModule], standalone: bool) -> str:
    """The layout with the given modules' files: linked, or inlined into one self-contained file."""
    styles: list[str] = []
    scripts: list[str] = []
    for m in [CORE, *page_modules]:
        for name in m.styles:
            text = m.asset(name)
            if standalone:
                styles.append("<style>\n" + text + "\n</style>")
            else:
                href = f"{ASSET_PREFIX}/{m.name}/{name}?v={_version(text)}"
                styles.append(f'<link rel="stylesheet" href="{href}">')
        for name in m.scripts:
            text = m.asset(name)
            if standalone:
                scripts.append(_inline_script(text))
            else:
                scripts.append(f'<script src="{ASSET_PREFIX}/{m.name}/{name}?v={_version(text)}"></script>')
    config = json.dumps({"standalone": standalone}).replace("</", "<\\/")
    return (
        _template()
        .replace("{{styles}}", "\n".join(styles))
        .replace("{{nav}}", _nav(modules))
        .replace("{{config}}", config)
        .replace("{{scripts}}", "\n".join(scripts))
    )


def portal_router(node: Node, modules: list[PortalModule] | None = None) -> APIRouter:
    """Every module's pages, files and API routes, under one router the API app includes."""
    modules = discover_modules() if modules is None else modules
    router = APIRouter()
    by_name = {m.name: m for m in [CORE, *modules]}
    if len(by_name) != len(modules) + 1:
        raise ValueError("two portal modules share a name")
    shared = [m for m in modules if not m.standalone]
    shared_page = render_shell(modules, shared, standalone=False)

    def page_endpoint(text: str) -> Callable[[], HTMLResponse]:
        def endpoint() -> HTMLResponse:
            return HTMLResponse(text, headers={"Cache-Control": "no-cache"})

        return endpoint

    for m in modules:
        text = render_shell(modules, [m], standalone=True) if m.standalone else shared_page
        for path in m.pages:
            router.add_api_route(
                path,
                page_endpoint(text),
                methods=["GET"],
                response_class=HTMLResponse,
                include_in_schema=False,
            )
        if m.routes is not None:
            router.include_router(m.routes(node))

    @router.get(ASSET_PREFIX + "/{module}/{name:path}", include_in_schema=False)
    def asset(module: str, name: str) -> Response:
        """A module's declared script or style (nothing else in the package is reachable)."""
        owner = by_name.get(module)
        suffix = PurePosixPath(name).suffix
        if owner is None or suffix not in ASSET_TYPES:
            raise HTTPException(404)
        try:
            text = owner.asset(name)
        except (KeyError, FileNotFoundError):
            raise HTTPException(404) from None
        return Response(
            text, media_type=ASSET_TYPES[suffix], headers={"Cache-Control": "public, max-age=86400"}
        )

    return router
