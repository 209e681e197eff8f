"""Organisation and member pages on a gm consortium node (three organisations, SM2 CAs)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import RunningNode, enroll, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_organisations_and_members(page: Page, gm_node: RunningNode) -> None:
    enroll(gm_node, "org2", "operator", "王小明")
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
