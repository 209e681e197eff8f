"""The explorer in headless chromium against a real node: live blocks, pages, search, language, phone."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import RunningNode, notarize, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_new_block_appears_live(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    page.goto(intl_node.url + "/")
    expect(page.locator("#live")).not_to_have_class("live off")  # the event stream is open
    height = int(page.locator("#st-height").inner_text())
    doc = tmp_path / "live.txt"
    doc.write_text("一份新文件")
    notarize(intl_node, doc)
    row = page.locator(f'#blocks tr[data-height="{height + 1}"]')
    expect(row).to_be_visible()
    expect(page.locator("#st-height")).to_have_text(str(height + 1))
    expect(page.locator("#st-final")).to_have_text(str(height + 1))  # a single node: final at commit
    expect(page.locator("#st-signers")).to_have_text("1")
    assert page.locator("#blocks tr").first.get_attribute("data-height") == str(height + 1)
    shot(page, "explorer-live-zh")


def test_blocks_missed_while_the_feed_was_away_are_filled_in(
    page: Page, intl_node: RunningNode, tmp_path: Path
) -> None:
    feed = "**/v1/events/blocks"
    page.route(feed, lambda route: route.abort())  # the live feed is away at first
    page.goto(intl_node.url + "/")
    height = int(page.locator("#st-height").inner_text())
    for i in range(2):
        doc = tmp_path / f"missed-{i}.txt"
        doc.write_text(f"missed {i}")
        notarize(intl_node, doc)
    page.unroute(feed)
    expect(page.locator("#live")).not_to_have_class("live off", timeout=20_000)  # it reconnects by itself
    doc = tmp_path / "after.txt"
    doc.write_text("after the reconnect")
    notarize(intl_node, doc)
    heights = page.locator("#blocks tr")
    expect(heights.first).to_have_attribute("data-height", str(height + 3))
    expect(page.locator(f'#blocks tr[data-height="{height + 1}"]')).to_be_visible()
    shown = [int(h) for h in heights.evaluate_all("rows => rows.map(r => r.dataset.height)")]
    assert shown == sorted(shown, reverse=True) and shown[:3] == [height + 3, height + 2, height + 1]
    assert page.locator("#st-height").inner_text() == str(height + 3)
    expect(page.locator("#st-txs")).to_have_text(
        str(httpx.get(f"{intl_node.url}/v1/status").json()["tx_count"])
    )


def test_block_and_tx_pages(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    doc = tmp_path / "page.txt"
    doc.write_text("block page")
    tx_id, _ = notarize(intl_node, doc)
    height = httpx.get(f"{intl_node.url}/v1/txs/{tx_id}").json()["height"]
    page.goto(f"{intl_node.url}/blocks/{height}")
    expect(page.locator("h1")).to_have_text(f"区块 {height}")
    expect(page.locator("main")).to_contain_text("最终性签名")
    page.click(f'a[href="/txs/{tx_id}"]')
    expect(page.locator("main")).to_contain_text("notary")
    expect(page.locator("main")).to_contain_text("anchored")
    expect(page.locator("main .tag.ok")).to_have_text("ok")
    shot(page, "tx-page")


def test_search_by_height_hash_and_unknown(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    doc = tmp_path / "search.txt"
    doc.write_text("search me")
    tx_id, _ = notarize(intl_node, doc)
    page.goto(intl_node.url + "/")
    page.fill("#search-q", "0")
    page.press("#search-q", "Enter")
    expect(page.locator("h1")).to_have_text("区块 0")
    page.fill("#search-q", tx_id)
    page.press("#search-q", "Enter")
    expect(page).to_have_url(f"{intl_node.url}/txs/{tx_id}")
    page.goto(f"{intl_node.url}/search?q={'ab' * 32}")
    expect(page.locator(".msg.error")).to_contain_text("未找到")
    page.goto(f"{intl_node.url}/search?q=hello")
    expect(page.locator(".msg.error")).to_contain_text("无法识别")
    page.goto(f"{intl_node.url}/blocks/999999")
    expect(page.locator(".msg.error")).to_contain_text("未找到")
    assert "Traceback" not in page.content()


def test_language_switch_is_remembered(page: Page, intl_node: RunningNode) -> None:
    page.goto(intl_node.url + "/")
    expect(page.locator("h1")).to_have_text("链状态")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Chain status")
    expect(page.locator("#nav a").first).to_have_text("Explorer")
    page.goto(intl_node.url + "/orgs")
    expect(page.locator("h1")).to_have_text("Organisations")
    expect(page.locator(".msg.info")).to_contain_text("development chain")
    shot(page, "orgs-en")
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("组织")


def test_switching_language_while_loading_leaves_one_clean_page(page: Page, intl_node: RunningNode) -> None:
    page.goto(intl_node.url + "/", wait_until="domcontentloaded")
    for _ in range(3):
        page.click("#lang")  # each click renders the page again, maybe before the last one finished
    expect(page.locator("h1")).to_have_text("Chain status")
    expect(page.locator("#live")).to_have_text("Live")
    expect(page.locator("main h1")).to_have_count(1)
    heights = page.locator("#blocks tr").evaluate_all("rows => rows.map(r => r.dataset.height)")
    assert len(heights) == len(set(heights))  # no block listed twice by an earlier render


def test_phone_viewport(browser: Browser, intl_node: RunningNode, tmp_path: Path) -> None:
    doc = tmp_path / "phone.txt"
    doc.write_text("在手机上查看")
    tx_id, digest = notarize(intl_node, doc)
    height = httpx.get(f"{intl_node.url}/v1/txs/{tx_id}").json()["height"]
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        pages = {
            "explorer": ("/", "#blocks tr"),
            "block": (f"/blocks/{height}", "main table.list"),
            "tx": (f"/txs/{tx_id}", "main pre.json"),
            "certificate": (f"/receipts/{tx_id}?digest={digest}", "#certificate"),
            "verify": ("/verify", "#v-go"),
            "search": ("/search?q=nothing", ".msg.error"),
        }
        for name, (path, ready) in pages.items():
            phone.goto(intl_node.url + path)
            expect(phone.locator(ready).first).to_be_visible()
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{name} scrolls sideways on a phone ({width}px)"
            shot(phone, f"phone-{name}")
    finally:
        context.close()


def test_node_unreachable_message(page: Page, intl_node: RunningNode) -> None:
    page.goto(intl_node.url + "/")
    expect(page.locator("h1")).to_have_text("链状态")
    page.route("**/v1/**", lambda route: route.abort())
    page.click("#lang")  # re-renders the page while the node cannot be reached
    expect(page.locator(".msg.error")).to_contain_text("Cannot reach the node")


def test_catching_up_banner(page: Page, intl_node: RunningNode) -> None:
    """A node replaying the order (`catching_up` in /v1/status) gets a plain banner, not a silent lag."""
    real = httpx.get(intl_node.url + "/v1/status").json()
    assert real["catching_up"] is False
    behind = json.dumps(real | {"catching_up": True})
    page.route(
        "**/v1/status", lambda route: route.fulfill(status=200, content_type="application/json", body=behind)
    )
    page.goto(intl_node.url + "/")
    expect(page.locator("#banner")).to_contain_text("正在同步")
    page.click("#lang")
    expect(page.locator("#banner")).to_contain_text("catching up")
