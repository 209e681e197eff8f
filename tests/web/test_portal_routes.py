"""The portal's server side: module discovery, one layout for every page, only declared files served,
and the live block feed handing commit events to the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.node.chain import create_dev_chain
from govchain.node.node import CommitEvent, Node
from govchain.web.explorer.feed import BlockFeed
from govchain.web.module import NavLink, PortalModule
from govchain.web.portal import discover_modules, portal_router


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    create_dev_chain(tmp_path / "node", "intl")
    node = Node(tmp_path / "node", default_registry())
    node.start()
    try:
        with TestClient(create_app(node)) as c:
            yield c
    finally:
        node.stop()


def test_modules_are_discovered_with_unique_names() -> None:
    modules = discover_modules()
    names = [m.name for m in modules]
    assert "explorer" in names
    assert len(set(names)) == len(names)
    assert [m.order for m in modules] == sorted(m.order for m in modules)


def test_every_declared_page_answers_with_the_layout(client: TestClient) -> None:
    for module in discover_modules():
        for pattern in module.pages:
            path = pattern.replace("{", "").replace("}", "")  # any value fills a parameter
            reply = client.get(path)
            assert reply.status_code == 200, path
            assert reply.headers["content-type"].startswith("text/html")
            assert 'id="page"' in reply.text and 'lang="zh-CN"' in reply.text


def test_only_declared_files_are_served(client: TestClient) -> None:
    page = client.get("/").text
    assert "/portal/assets/core/core.js?v=" in page
    script = client.get("/portal/assets/explorer/explorer.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/portal/assets/core/core.css").status_code == 200
    for path in (
        "/portal/assets/explorer/__init__.py",
        "/portal/assets/explorer/feed.py",
        "/portal/assets/nope/core.js",
        "/portal/assets/core/..%2F..%2Fportal.py",
        "/portal/assets/core/shell.html",
    ):
        assert client.get(path).status_code == 404, path


def test_api_routes_still_win_over_pages(client: TestClient) -> None:
    assert client.get("/v1/status").json()["height"] == 0
    assert client.get("/v1/blocks/0").json()["header"]["height"] == 0
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/events/blocks" in paths  # the live feed is part of the documented API
    assert "/" not in paths and "/verify" not in paths  # pages are not API


def test_a_module_adds_a_page_with_its_own_files(tmp_path: Path) -> None:
    extra = PortalModule(
        name="demo",
        package="govchain.web",
        folder="core",
        pages=("/demo/{thing}",),
        scripts=("core.js",),
        nav=(NavLink("/demo/x", "演示", "Demo"),),
    )
    create_dev_chain(tmp_path / "node", "intl")
    node = Node(tmp_path / "node", default_registry())
    try:
        from fastapi import FastAPI

        app = FastAPI()
        app.include_router(portal_router(node, [*discover_modules(), extra]))
        with TestClient(app) as c:
            page = c.get("/demo/abc")
            assert page.status_code == 200
            assert 'data-en="Demo"' in page.text and "/portal/assets/demo/core.js" in page.text
            assert c.get("/portal/assets/demo/core.js").status_code == 200
    finally:
        node.stop()


def test_block_feed_hands_events_to_the_loop_from_another_thread() -> None:
    feed = BlockFeed()
    event = CommitEvent(height=7, block_hash=b"\x01" * 32, time=123, committed=[(b"x", "ok", "")], dropped=[])

    async def main() -> list[object]:
        queue = feed.subscribe()
        threading.Thread(target=feed.on_commit, args=(event,)).start()
        first = await asyncio.wait_for(queue.get(), timeout=10)
        threading.Thread(target=feed.on_final, args=(7,)).start()
        second = await asyncio.wait_for(queue.get(), timeout=10)
        feed.unsubscribe(queue)
        return [first, second]

    got: list[list[object]] = []
    # Its own thread: Playwright's sync API may hold a running loop on this one.
    runner = threading.Thread(target=lambda: got.append(asyncio.run(main())))
    runner.start()
    runner.join(timeout=30)
    assert got == [
        [("block", {"height": 7, "hash": "01" * 32, "time": 123, "tx_count": 1}), ("final", {"height": 7})]
    ]
