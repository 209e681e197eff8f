"""The certificate page (存证证书): what, when, block, signers, a QR code to the verifier, print."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from govchain.contracts.notary.portal import verify_url
from tests.web.conftest import ARTIFACTS, RunningNode, notarize, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_certificate_with_qr_code_and_print(page: Page, gm_node: RunningNode, tmp_path: Path) -> None:
    doc = tmp_path / "营业执照.pdf"
    doc.write_bytes(b"%PDF-1.4 licence " * 40)
    tx_id, digest = notarize(gm_node, doc)
    page.goto(f"{gm_node.url}/search?q={digest}")  # search by document digest finds the certificate
    expect(page).to_have_url(f"{gm_node.url}/receipts/{tx_id}?digest={digest}")
    cert = page.locator("#certificate")
    expect(cert.locator("h1")).to_have_text("存证证书")
    expect(cert).to_contain_text("营业执照.pdf")
    expect(cert).to_contain_text(digest)
    expect(cert).to_contain_text("窗口办事员")  # the enrolled member who submitted it
    expect(cert.locator('a[href="/orgs/org1"]')).to_have_count(2)  # the clerk's organisation and the signer
    expect(cert.locator('a[href="/orgs/org1"]').first).to_have_text("组织1")
    qr = page.locator("#qr")
    expect(qr).to_have_attribute("src", f"/portal/notary/qr.svg?tx={tx_id}&digest={digest}")
    page.wait_for_function("document.getElementById('qr').complete")
    assert page.evaluate("document.getElementById('qr').naturalWidth") > 0
    shot(page, "certificate-zh")
    page.emulate_media(media="print")
    expect(page.locator(".cert-actions")).to_be_hidden()
    expect(page.locator("header.top")).to_be_hidden()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(ARTIFACTS / "certificate.pdf"), format="A4")
    page.emulate_media(media="screen")
    page.click("#lang")
    expect(cert.locator("h1")).to_have_text("Notarisation certificate")
    page.click("#n-verify")  # where the QR code leads
    expect(page.locator("#result")).to_have_attribute("data-valid", "true")


def test_tx_page_links_to_the_certificate(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("link me")
    tx_id, _ = notarize(intl_node, doc)
    page.goto(f"{intl_node.url}/txs/{tx_id}")
    page.click(f'a[href="/receipts/{tx_id}"]')
    expect(page.locator("#certificate")).to_contain_text("a.txt")
    page.goto(f"{intl_node.url}/receipts/{'ef' * 32}")
    expect(page.locator(".msg.error")).to_contain_text("没有这份存证")


def test_qr_code_route(intl_node: RunningNode) -> None:
    tx, digest = "ab" * 32, "cd" * 32
    reply = httpx.get(f"{intl_node.url}/portal/notary/qr.svg", params={"tx": tx, "digest": digest})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("image/svg+xml")
    assert reply.text.lstrip().startswith("<svg")
    bad = httpx.get(f"{intl_node.url}/portal/notary/qr.svg", params={"tx": "zz"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    assert verify_url("http://h:1/", tx, digest) == f"http://h:1/verify?tx={tx}&digest={digest}"
    assert verify_url("http://h:1", tx, None) == f"http://h:1/verify?tx={tx}"
