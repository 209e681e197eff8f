"""Browser fixtures: a real node process and headless Debian chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by
scripts/install-browser.sh), with every background network feature off, because the
test machines have no outside network. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.test_crash import free_port, start_node

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


@dataclass(frozen=True)
class RunningNode:
    url: str
    suite: str
    data: Path


def _node(base: Path, suite: str) -> Iterator[RunningNode]:
    data = base / "data"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from govchain.node.chain import create_dev_chain; from pathlib import Path; "
            f"create_dev_chain(Path({str(data)!r}), {suite!r})",
        ],
        check=True,
    )
    port = free_port()
    proc = start_node(data, port, base / "node.log")
    try:
        yield RunningNode(f"http://127.0.0.1:{port}", suite, data)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def intl_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    yield from _node(tmp_path_factory.mktemp("web-intl"), "intl")


@pytest.fixture(scope="session")
def gm_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    yield from _node(tmp_path_factory.mktemp("web-gm"), "gm")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: run scripts/install-browser.sh (scripts/test.sh does)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (clean localStorage) per test, desktop-sized."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
