"""E-licence pages: the public check a licence's QR code opens shows the right status at each stage."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from govchain.contracts.licence.client import LicenceClient
from tests.web.conftest import RunningNode, consortium_node, licence_issuer, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def gm_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A gm consortium node of this module's own (the shared one must keep its member list)."""
    yield from consortium_node(tmp_path_factory, "gm", "licence")


@pytest.fixture(scope="module")
def licences(gm_node: RunningNode) -> LicenceClient:
    """The BL type registered by a vote of all three organisations; an issuer of org2."""
    return licence_issuer(gm_node)


def issue(licences: LicenceClient) -> dict[str, object]:
    holder = licences.suite.generate_keypair()
    fields = {"name": "杭州某某科技有限公司", "credit_code": "91330100MA27XXXX1A", "legal_rep": "赵六"}
    return licences.issue("BL", fields, "91330100MA27XXXX1A", holder.public)


def test_qr_check_follows_the_lifecycle(page: Page, gm_node: RunningNode, licences: LicenceClient) -> None:
    bundle = issue(licences)
    lid, digest = str(bundle["licence"]), str(bundle["data_digest"])
    qr_link = f"{gm_node.url}/licences/{lid}?v=1&d={digest}"
    status = page.locator("#lic-status")

    page.goto(qr_link)
    expect(status).to_have_attribute("data-status", "valid")
    expect(status).to_contain_text("有效")
    expect(page.locator("main")).to_contain_text("与链上一致")
    expect(page.locator("#lic-history tbody tr")).to_have_count(1)
    shot(page, "licence-valid-zh")

    for operation, expected, words in [
        ("suspend", "suspended", "已暂停"),
        ("resume", "valid", "有效"),
        ("revoke", "revoked", "已吊销"),
    ]:
        licences.transition(operation, lid, f"{operation} (test)")
        page.goto(qr_link)
        expect(status).to_have_attribute("data-status", expected)
        expect(status).to_contain_text(words)
    expect(page.locator("#lic-history tbody tr")).to_have_count(4)
    shot(page, "licence-revoked-zh")
    page.click("#lang")
    expect(status).to_contain_text("Revoked")
    expect(page.locator("#lic-history")).to_contain_text("suspended")
    shot(page, "licence-revoked-en")

    # A QR code whose digest is not the chain's: said plainly.
    page.goto(f"{gm_node.url}/licences/{lid}?v=1&d={'00' * 32}")
    expect(page.locator(".msg.error")).to_contain_text("does not match")


def test_catalogue_search_and_unknown_licence(
    page: Page, gm_node: RunningNode, licences: LicenceClient
) -> None:
    bundle = issue(licences)
    page.goto(gm_node.url + "/licences")
    expect(page.locator("main table.list")).to_contain_text("营业执照")
    page.fill("#lic-id", str(bundle["licence"]))
    page.click("#lic-find button")
    expect(page.locator("#lic-status")).to_have_attribute("data-status", "valid")
    page.goto(gm_node.url + "/licences/BL-org2-99999999-0")
    expect(page.locator(".msg.error")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Traceback")
    # The QR image encodes the check page on this node.
    qr = httpx.get(f"{gm_node.url}/portal/licences/qr.svg", params={"id": bundle["licence"], "v": 1})
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    bad = httpx.get(f"{gm_node.url}/portal/licences/qr.svg", params={"id": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_args"


def test_licence_pages_on_a_phone(browser: Browser, gm_node: RunningNode, licences: LicenceClient) -> None:
    bundle = issue(licences)
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        for name, path, ready in [
            ("licences", "/licences", "#lic-find"),
            ("licence-check", f"/licences/{bundle['licence']}?v=1&d={bundle['data_digest']}", "#lic-status"),
        ]:
            phone.goto(gm_node.url + path)
            expect(phone.locator(ready)).to_be_visible()
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{name} scrolls sideways on a phone ({width}px)"
            shot(phone, f"phone-{name}")
    finally:
        context.close()
