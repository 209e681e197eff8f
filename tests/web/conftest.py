"""Browser fixtures: a real node process and headless Debian chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by
scripts/install-browser.sh), with every background network feature off, because the
test machines have no outside network. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from govchain.contracts.licence.client import LicenceClient
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import KeyPair, get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, issue
from govchain.node.consortium import GENESIS_FILE, init_consortium
from govchain.sdk.client import Client
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
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


@dataclass(frozen=True)
class RunningNode:
    url: str
    suite: str
    data: Path
    consortium: Path | None = None  # the organisations' folders, for a consortium node


def _node(base: Path, suite: str, consortium: Path | None = None) -> Iterator[RunningNode]:
    data = base / "data"
    if consortium is None:
        make = f"create_dev_chain(Path({str(data)!r}), {suite!r})"
    else:  # run as org1's peer on the consortium's genesis
        make = (
            f"adopt_genesis(Path({str(data)!r}), Path({str(consortium / GENESIS_FILE)!r}).read_bytes(), "
            f"KeyFile.load(Path({str(consortium / 'org1' / 'peer-key.json')!r})))"
        )
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from pathlib import Path; from govchain.node.chain import create_dev_chain, adopt_genesis; "
            "from govchain.crypto.keyfile import KeyFile; " + make,
        ],
        check=True,
    )
    port = free_port()
    proc = start_node(data, port, base / "node.log")
    try:
        yield RunningNode(f"http://127.0.0.1:{port}", suite, data, consortium)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def consortium_node(factory: pytest.TempPathFactory, suite: str, name: str) -> Iterator[RunningNode]:
    """A node on a three-organisation consortium of its own (for a test module that changes its members)."""
    consortium = factory.mktemp(f"{name}-consortium") / "cons"
    init_consortium(consortium, 3, suite)
    yield from _node(factory.mktemp(f"{name}-node"), suite, consortium)


@pytest.fixture(scope="session")
def intl_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    yield from _node(tmp_path_factory.mktemp("web-intl"), "intl")


@pytest.fixture(scope="session")
def gm_consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three organisations with SM2 CAs (`govchain consortium init --orgs 3 --suite gm`)."""
    out = tmp_path_factory.mktemp("web-gm-consortium") / "cons"
    init_consortium(out, 3, "gm")
    return out


@pytest.fixture(scope="session")
def gm_node(tmp_path_factory: pytest.TempPathFactory, gm_consortium: Path) -> Iterator[RunningNode]:
    """A gm (SM2/SM3) consortium node, so the organisation and member pages have something to show."""
    yield from _node(tmp_path_factory.mktemp("web-gm"), "gm", gm_consortium)


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


def enroll(node: RunningNode, org: str, role: str, name: str) -> KeyPair:
    """A new member of `org` with a certificate from its CA, enrolled on chain; returns its keys."""
    assert node.consortium is not None
    suite = get_suite(node.suite)
    ca = Certificate.load((node.consortium / org / "ca.pem").read_bytes())
    ca_key = KeyFile.load(node.consortium / org / "ca-key.json").keys.private
    keys = suite.generate_keypair()
    now = int(time.time() * 1000)
    cert = issue(suite, ca, ca_key, keys.public, org, role, name, now - 1000, now + 86_400_000)
    with Client(node.url, key=keys) as client:
        client.call("membership", "enroll", {"cert": cert.der})
    return keys


def key_json(suite: str, keys: KeyPair) -> str:
    """A key file's text (crypto/keyfile.py), as a page loads it."""
    return json.dumps({"suite": suite, "private": keys.private.hex(), "public": keys.public.hex()})


def notarize(node: RunningNode, path: Path) -> tuple[str, str]:
    """Notarise a file through the SDK, as a clerk would; returns (tx id hex, digest hex).

    On a consortium chain only members write, so the clerk is enrolled first (in org1).
    """
    if node.consortium is None:
        keys = get_suite(node.suite).generate_keypair()
    else:
        keys = enroll(node, "org1", "operator", "窗口办事员")
    with Client(node.url, key=keys) as client:
        done = client.notarize_file(path)
    assert done.ok and done.digest is not None, done
    return done.tx_id.hex(), done.digest.hex()


def licence_issuer(node: RunningNode) -> LicenceClient:
    """On a consortium node: the BL licence type registered by a vote of all three organisations,
    and a LicenceClient for a new issuer of org2."""
    assert node.consortium is not None
    admins = {}
    for org in ("org1", "org2", "org3"):
        keys = KeyFile.load(node.consortium / org / "admin-key.json").keys
        cert = Certificate.load((node.consortium / org / "admin.pem").read_bytes())
        admins[org] = Client(node.url, key=keys)
        if not any(m["key"] == keys.public.hex() for m in admins[org].members(org)):
            admins[org].call("membership", "enroll", {"cert": cert.der})
    proposal = {"action": "register", "args": {"kind": "licence_type", "id": "BL", "doc": BUSINESS_LICENCE}}
    done = admins["org1"].call("governance", "propose", proposal)
    for org in ("org2", "org3"):
        admins[org].call("governance", "vote", {"proposal": done.tx_id, "approve": True})
    client = LicenceClient(Client(node.url, key=enroll(node, "org2", "issuer", "市场监管局")))
    deadline = time.time() + 20
    suite = get_suite(node.suite)
    while not client.types() and time.time() < deadline:  # a vote takes effect from the next block
        client.client.call("notary", "anchor", {"digest": suite.hash(str(time.time()).encode())})
    return client
