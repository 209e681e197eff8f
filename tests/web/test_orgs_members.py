"""Organisation and member pages on a gm consortium node (three organisations, SM2 CAs)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, issue
from govchain.sdk.client import Client
from tests.web.conftest import RunningNode, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def enroll(node: RunningNode, consortium: Path, org: str, role: str, name: str) -> None:
    suite = get_suite("gm")
    ca = Certificate.load((consortium / org / "ca.pem").read_bytes())
    ca_key = KeyFile.load(consortium / org / "ca-key.json").keys.private
    keys = suite.generate_keypair()
    now = int(time.time() * 1000)
    cert = issue(suite, ca, ca_key, keys.public, org, role, name, now - 1000, now + 86_400_000)
    with Client(node.url, key=keys) as client:
        client.call("membership", "enroll", {"cert": cert.der})


def test_organisations_and_members(page: Page, gm_node: RunningNode, gm_consortium: Path) -> None:
    enroll(gm_node, gm_consortium, "org2", "operator", "王小明")
    page.goto(gm_node.url + "/")
    expect(page.locator("#st-orgs")).to_have_text("3")
    expect(page.locator("#st-suite")).to_have_text("gm")
    page.click('#nav a[href="/orgs"]')
    expect(page.locator("table.list tbody tr")).to_have_count(3)
    shot(page, "orgs-zh")
    page.click('a[href="/orgs/org2"]')
    expect(page.locator("main")).to_contain_text("王小明")
    expect(page.locator("main")).to_contain_text("operator")
    page.goto(gm_node.url + "/members")
    expect(page.locator("main")).to_contain_text("王小明")
    expect(page.locator("main .tag.ok")).to_have_count(1)
    page.goto(gm_node.url + "/orgs/nope")
    expect(page.locator(".msg.error")).to_contain_text("没有这个组织")
    page.goto(gm_node.url + "/blocks/1")
    expect(page.locator('main a[href="/orgs/org1"]')).to_be_visible()  # signed by org1's peer
    shot(page, "block-gm")
