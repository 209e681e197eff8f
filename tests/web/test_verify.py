"""The verification page in headless chromium: files hashed and receipts checked in the browser,
online against a real node and offline as one saved HTML file; and the in-browser verifier
agrees with `govchain verify` on a corpus of valid and tampered receipts for both suites."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import RunningNode, notarize, shot
from tests.web.corpus import build_corpus
from tests.web.test_verifier_vectors import open_offline

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def notarised(node: RunningNode, tmp_path: Path, text: str) -> tuple[Path, Path, str]:
    doc = tmp_path / "contract.txt"
    doc.write_text(text, encoding="utf-8")
    tx_id, digest = notarize(node, doc)
    receipt = httpx.get(f"{node.url}/v1/txs/{tx_id}/receipt", params={"digest": digest}).json()
    path = tmp_path / "contract.txt.receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    return doc, path, tx_id


def check(page: Page, file: Path | None, receipt: Path | None) -> None:
    if file is not None:
        page.set_input_files("#v-file", str(file))
    if receipt is not None:
        page.set_input_files("#v-receipt", str(receipt))
    page.click("#v-go")


def test_file_and_receipt_valid_then_one_byte_changed(
    page: Page, intl_node: RunningNode, tmp_path: Path
) -> None:
    doc, receipt, tx_id = notarised(intl_node, tmp_path, "租赁合同 v1\n")
    page.goto(intl_node.url + "/verify")
    expect(page.locator("h1")).to_have_text("存证核验")
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    check(page, doc, receipt)
    result = page.locator("#result")
    expect(result).to_have_attribute("data-valid", "true")
    expect(result).to_contain_text("核验通过")
    expect(result).to_contain_text(tx_id)
    assert requests == [], f"verifying a file and its receipt must not ask the server: {requests}"
    shot(page, "verify-valid-zh")
    altered = tmp_path / "contract-v2.txt"
    altered.write_bytes(b"X" + doc.read_bytes()[1:])  # one byte changed
    check(page, altered, None)
    expect(result).to_have_attribute("data-failure", "file_altered")
    expect(result).to_contain_text("文件已被改动")
    shot(page, "verify-altered-zh")
    page.click("#lang")
    page.click("#v-go")
    expect(result).to_contain_text("The file was altered")
    shot(page, "verify-altered-en")


def test_gm_receipt_verified_in_browser(page: Page, gm_node: RunningNode, tmp_path: Path) -> None:
    doc, receipt, _ = notarised(gm_node, tmp_path, "国密套件存证\n")
    page.goto(gm_node.url + "/verify")
    check(page, doc, receipt)
    expect(page.locator("#result")).to_have_attribute("data-valid", "true")
    expect(page.locator("#result")).to_contain_text("govchain-consortium")
    shot(page, "verify-gm")
    tampered = json.loads(receipt.read_text())
    sig = tampered["block"]["signatures"][0]["sig"]
    tampered["block"]["signatures"][0]["sig"] = sig[:-2] + ("00" if sig[-2:] != "00" else "01")
    receipt.write_text(json.dumps(tampered))
    check(page, None, receipt)
    expect(page.locator("#result")).to_have_attribute("data-failure", "signature")
    expect(page.locator("#result")).to_contain_text("签名无效")


def test_file_alone_is_looked_up_by_digest(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    doc, _, _ = notarised(intl_node, tmp_path, "only the digest leaves\n")
    page.goto(intl_node.url + "/verify")
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    check(page, doc, None)
    expect(page.locator("#result")).to_have_attribute("data-valid", "true")
    lookups = [u for u in requests if "/v1/notary/documents/" in u]
    assert len(lookups) == 1  # the digest, never the file
    unknown = tmp_path / "never-notarised.txt"
    unknown.write_text("nobody anchored this")
    page.click("#v-clear")
    check(page, unknown, None)
    expect(page.locator("#result .msg.error")).to_contain_text("没有在本链上存证过")


def test_files_can_be_dropped(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    doc, receipt, _ = notarised(intl_node, tmp_path, "drag and drop\n")
    page.goto(intl_node.url + "/verify")
    for zone, path in (("#v-file-zone", doc), ("#v-receipt-zone", receipt)):
        page.evaluate(
            """([zone, name, hex]) => {
                const bytes = new Uint8Array(hex.match(/../g).map((b) => parseInt(b, 16)));
                const data = new DataTransfer();
                data.items.add(new File([bytes], name));
                const target = document.querySelector(zone);
                const init = { dataTransfer: data, bubbles: true, cancelable: true };
                target.dispatchEvent(new DragEvent("dragover", init));
                target.dispatchEvent(new DragEvent("drop", init));
            }""",
            [zone, path.name, path.read_bytes().hex()],
        )
    expect(page.locator("#v-receipt-name")).to_have_text(receipt.name)
    page.click("#v-go")
    expect(page.locator("#result")).to_have_attribute("data-valid", "true")


def test_bad_receipt_file_gets_a_clear_message(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.receipt.json"
    garbage.write_text("{not json at all")
    page.goto(intl_node.url + "/verify")
    check(page, None, garbage)
    result = page.locator("#result")
    expect(result).to_have_attribute("data-failure", "unreadable")
    expect(result).to_contain_text("无法读取凭证")
    assert "Traceback" not in page.content() and "at verifyText" not in page.content()
    shot(page, "verify-unreadable")


def test_opened_from_a_qr_link(page: Page, intl_node: RunningNode, tmp_path: Path) -> None:
    _, receipt, tx_id = notarised(intl_node, tmp_path, "scan me\n")
    digest = json.loads(receipt.read_text())["document"]["digest"]
    page.goto(f"{intl_node.url}/verify?tx={tx_id}&digest={digest}")
    expect(page.locator("#result")).to_have_attribute("data-valid", "true")
    page.goto(f"{intl_node.url}/verify?tx={'cd' * 32}")
    expect(page.locator("#result .msg.error")).to_contain_text("节点上没有这份凭证")


def offline_copy(node: RunningNode, tmp_path: Path) -> Path:
    reply = httpx.get(f"{node.url}/verify/offline.html")
    assert reply.status_code == 200
    assert "attachment" in reply.headers["content-disposition"]
    assert "<script src=" not in reply.text and 'rel="stylesheet"' not in reply.text  # everything inline
    path = tmp_path / "govchain-verifier.html"
    path.write_bytes(reply.content)
    return path


def test_saved_page_verifies_offline(browser: Browser, intl_node: RunningNode, tmp_path: Path) -> None:
    doc, receipt, _ = notarised(intl_node, tmp_path, "offline check\n")
    saved = offline_copy(intl_node, tmp_path)
    context = browser.new_context(offline=True, viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        page.route("http://**/*", lambda route: route.abort())
        page.goto(saved.as_uri())
        expect(page.locator("h1")).to_have_text("存证核验")
        expect(page.locator(".msg.info")).to_contain_text("离线模式")
        check(page, doc, receipt)
        expect(page.locator("#result")).to_have_attribute("data-valid", "true")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        shot(page, "verify-offline-phone")
        altered = tmp_path / "appended.txt"
        altered.write_bytes(doc.read_bytes() + b"!")
        check(page, altered, None)
        expect(page.locator("#result")).to_have_attribute("data-failure", "file_altered")
    finally:
        context.close()


@pytest.mark.parametrize(("suite", "webcrypto"), [("intl", True), ("gm", True), ("intl", False)])
def test_browser_and_python_verifiers_agree(
    browser: Browser, intl_node: RunningNode, tmp_path: Path, suite: str, webcrypto: bool
) -> None:
    """Without WebCrypto (plain http to another host) the vendored P-256/SHA-256 code takes over."""
    corpus = build_corpus(tmp_path / "chain", suite)
    assert {c.failure for c in corpus} >= {
        None,
        "file_altered",
        "proof",
        "signature",
        "wrong_chain",
        "unreadable",
    }
    context, page = open_offline(browser, intl_node, tmp_path, webcrypto)
    try:
        verdicts = page.evaluate(
            """async (cases) => {
                const out = [];
                for (const c of cases) {
                    let suite = null;
                    try { suite = JSON.parse(c.receipt).suite; } catch (e) { suite = null; }
                    const known = suite === "intl" || suite === "gm";
                    const bytes = c.file === null ? null : GovVerify.fromHex(c.file);
                    const digest = bytes === null || !known ? null : await GovVerify.hashFile(suite, bytes);
                    const trusted = c.trusted === null ? null : GovVerify.fromHex(c.trusted);
                    const v = await GovVerify.verifyText(c.receipt, digest, trusted);
                    out.push([v.valid, v.failure]);
                }
                return out;
            }""",
            [c.as_json() for c in corpus],
        )
    finally:
        context.close()
    mismatches = [
        (c.name, (c.valid, c.failure), tuple(v))
        for c, v in zip(corpus, verdicts, strict=True)
        if (c.valid, c.failure) != tuple(v)
    ]
    assert not mismatches, mismatches
