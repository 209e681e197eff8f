"""The web portal's routes. Each module adds its pages here (issue: the full portal)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from govchain.node.node import Node


def portal_router(node: Node) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page = files("govchain.web").joinpath("static/index.html").read_text(encoding="utf-8")

    @router.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    return router
