"""What a module declares to add pages to the portal: one folder of pages, routes and strings.

The portal is plain HTML, CSS and JavaScript served from package data, so `govchain up`
needs no front-end build. A module (the explorer, the verifier, or a contract under
`contracts/<name>/portal/`) declares here which paths render its pages, which of its
files the page loads, its navigation links, and any API routes of its own; the portal
core (`govchain.web.portal`) serves them all inside one shared layout. docs/portal.md
shows a module adding a page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

    from govchain.node.node import Node

ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class NavLink:
    """A link in the portal's navigation bar, labelled in both languages."""

    path: str
    zh: str
    en: str


@dataclass(frozen=True)
class PortalModule:
    """One module's share of the portal.

    `pages` are FastAPI path patterns (e.g. "/receipts/{tx_id}") that answer with the
    portal layout; the module's scripts then render the page in the browser by
    registering the same pattern with `Portal.route(...)`. `scripts` and `styles` are
    file names inside `package`'s `folder`. A `standalone` module's pages are served as
    one self-contained file (core and the module's own assets inlined, nothing else), so
    they still work when saved and opened offline. `routes` adds API routes (JSON, SSE,
    images) the pages need.
    """

    name: str
    package: str
    folder: str = "."
    pages: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    nav: tuple[NavLink, ...] = ()
    standalone: bool = False
    routes: Callable[[Node], APIRouter] | None = None
    order: int = 100
    assets: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def asset(self, name: str) -> str:
        """The text of one of the module's declared files (read once, then cached)."""
        if name not in self.scripts and name not in self.styles:
            raise KeyError(name)
        if name not in self.assets:
            self.assets[name] = files(self.package).joinpath(self.folder, name).read_text(encoding="utf-8")
        return self.assets[name]
