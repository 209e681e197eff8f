"""The README's tour as a new user takes it, in both languages: notarise with the CLI, find the
file in the explorer, verify it on the verification page, break one byte and see it fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import RunningNode, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_notarise_find_verify_break(page: Page, intl_node: RunningNode, tmp_path: Path, lang: str) -> None:
    doc = tmp_path / "contract.txt"
    doc.write_text(f"租赁合同 v1 ({lang})\n", encoding="utf-8")
    env = os.environ | {"GOVCHAIN_NODE": intl_node.url, "GOVCHAIN_HOME": str(tmp_path / "home")}
    cli = [sys.executable, "-m", "govchain.cli.main"]
    subprocess.run([*cli, "notarize", str(doc), "--out", str(tmp_path / "receipts")], env=env, check=True)
    receipt = tmp_path / "receipts" / "contract.txt.receipt.json"
    assert receipt.exists()

    page.goto(intl_node.url + "/")
    if lang == "en":
        page.click("#lang")
        expect(page.locator("h1")).to_have_text("Chain status")
    # Find it in the explorer: the newest block holds the transaction.
    page.locator("#blocks tr a").first.click()
    page.locator('main a[href^="/txs/"]').first.click()
    expect(page.locator("main")).to_contain_text("contract.txt")
    page.click('a[href^="/receipts/"]')
    expect(page.locator("#certificate")).to_contain_text("contract.txt")
    shot(page, f"tour-certificate-{lang}")

    page.click('#nav a[href="/verify"]')
    page.set_input_files("#v-file", str(doc))
    page.set_input_files("#v-receipt", str(receipt))
    page.click("#v-go")
    result = page.locator("#result")
    expect(result).to_have_attribute("data-valid", "true")
    expect(result).to_contain_text("核验通过" if lang == "zh-CN" else "Valid")
    shot(page, f"tour-valid-{lang}")

    broken = tmp_path / "contract-broken.txt"
    data = bytearray(doc.read_bytes())
    data[-2] ^= 0x20  # one byte changed
    broken.write_bytes(bytes(data))
    page.set_input_files("#v-file", str(broken))
    page.click("#v-go")
    expect(result).to_have_attribute("data-failure", "file_altered")
    expect(result).to_contain_text("文件已被改动" if lang == "zh-CN" else "The file was altered")
    shot(page, f"tour-broken-{lang}")
