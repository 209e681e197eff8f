"""The e-licence consoles end to end in the browser, on an intl and a gm consortium: issue from the issuing
console (with the licence file the issuing node renders, its digest on chain), authorise as the holder,
use and fetch as a relying party, check the licence file, suspend, the next use refused with its
reason, and the regulator's dashboard counting it all. Keys are loaded from key files."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from govchain.contracts.licence.client import LicenceClient, bundle_file
from govchain.contracts.licence.model import DAY_MS
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.sdk.client import Client
from tests.web.conftest import RunningNode, consortium_node, enroll, key_json, licence_issuer, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SLOW = 40_000  # ms: a signed write waits for its block
REFUSED_DEPOSIT = {"error": {"code": "conflict", "message": "the licence is at version 2"}}


@pytest.fixture(scope="module", params=["intl", "gm"])
def desk_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A consortium node of each suite: the pages sign with P-256 on one, SM2 on the other."""
    yield from consortium_node(tmp_path_factory, request.param, f"console-{request.param}")


@pytest.fixture(scope="module")
def actors(desk_node: RunningNode, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Key files of an issuer (org2), a bank clerk (org3), a regulator and an auditor (org1)."""
    node = desk_node
    folder = tmp_path_factory.mktemp("console-keys")
    licences = licence_issuer(node)
    issuer = licences.client.key
    assert issuer is not None
    # One licence from Python, so that the dashboard always has org2's counts to show.
    holder = licences.suite.generate_keypair()
    licences.issue(
        "BL", {"name": "某某餐饮店", "credit_code": "92330100MA2XXXXX0B"}, "92330100MA2XXXXX0B", holder.public
    )
    keys = {
        "issuer": issuer,
        "relying": enroll(node, "org3", "operator", "银行柜员"),
        "regulator": enroll(node, "org1", "regulator", "监管员"),
        "auditor": enroll(node, "org1", "auditor", "审计员"),
    }
    paths = {}
    for role, pair in keys.items():
        paths[role] = folder / f"{role}.json"
        paths[role].write_text(key_json(node.suite, pair))
    return paths


def load_key(page: Page, path: Path) -> None:
    page.set_input_files("#key-file", str(path))
    expect(page.locator("#key-status")).to_contain_text("已载入密钥")


def download(page: Page, selector: str, to: Path) -> Path:
    with page.expect_download() as info:
        page.click(selector)
    info.value.save_as(str(to))
    return to


def use_authorisation(page: Page, node: RunningNode, actors: dict[str, Path], auth: Path) -> None:
    page.goto(node.url + "/licences/relying")
    load_key(page, actors["relying"])
    page.set_input_files("#rp-file", str(auth))
    expect(page.locator("#rp-json")).not_to_have_value("")
    page.click("#rp-use")


def check_file(page: Page, node: RunningNode, pdf: Path) -> None:
    """The relying-party page's file check, with no key loaded: the file is hashed in the browser."""
    page.goto(node.url + "/licences/relying")
    page.set_input_files("#rp-pdf", str(pdf))
    page.click("#rp-check")


def read_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot, read by zxing-cpp (nothing of ours)."""
    return [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_issue_authorise_use_suspend_and_audit(
    page: Page, desk_node: RunningNode, actors: dict[str, Path], tmp_path: Path
) -> None:
    node = desk_node
    # 1. The issuing console: a licence for a holder whose key pair the browser makes.
    page.goto(node.url + "/licences/issuer")
    load_key(page, actors["issuer"])
    page.select_option("#lc-type", "BL")
    page.fill("[data-field=name]", "杭州某某科技有限公司")
    page.fill("[data-field=credit_code]", "91330100MA27XXXX1A")
    page.fill("[data-field=legal_rep]", "赵六")
    page.fill("#lc-holder-code", "91330100MA27XXXX1A")
    page.click("#lc-gen")
    holder_key = download(page, "#lc-holder-key-file", tmp_path / "holder-key.json")
    page.click("#lc-issue")
    issued = page.locator("#lc-issued")
    expect(issued).to_be_visible(timeout=SLOW)
    lid = issued.get_attribute("data-licence")
    assert lid
    bundle = download(page, "#lc-bundle", tmp_path / "bundle.json")
    pdf_file = download(page, "#lc-pdf", tmp_path / "licence.pdf")
    pdf = pdf_file.read_bytes()
    shot(page, f"licence-console-issued-{node.suite}")

    # The chain has the licence, and the issuing node's private store its data (read as the issuer).
    issuer = LicenceClient(Client(node.url, key=KeyFile.load(actors["issuer"]).keys))
    status = issuer.status(lid)
    assert status["status"] == "valid"
    assert status["valid_until"] - status["valid_from"] == BUSINESS_LICENCE["validity_days"] * DAY_MS
    stored = issuer.personal(lid, "org2", "test: the console deposited the bundle")
    assert stored["fields"]["legal_rep"] == "赵六" and stored["holder_code"] == "91330100MA27XXXX1A"
    # The licence file the node rendered is the one on chain, in the bundle and in the deposit.
    digest = get_suite(node.suite).hash(pdf).hex()
    assert pdf.startswith(b"%PDF") and status["file_digest"] == digest != status["data_digest"]
    assert issued.get_attribute("data-file-digest") == digest
    assert bundle_file(json.loads(bundle.read_text())) == pdf == bundle_file(stored)
    found = LicenceClient(Client(node.url)).verify_file(pdf)
    assert (found.code, found.licence, found.version) == ("valid", lid, 1)

    # 2. The holder: the licence with its live status; a multi-use authorisation for org3.
    page.goto(node.url + "/licences/holder")
    load_key(page, holder_key)
    page.set_input_files("#hd-bundles", str(bundle))
    card = page.locator(f".lc-licence[data-licence='{lid}']")
    expect(card.locator("[data-status]")).to_have_attribute("data-status", "valid")
    expect(card.locator("[data-file-code]")).to_have_attribute("data-file-code", "valid")
    assert download(page, f"[id='hd-pdf-{lid}']", tmp_path / "held.pdf").read_bytes() == pdf
    page.select_option("#hd-org", "org3")
    page.fill("#hd-service", "开立银行账户")
    page.check("#hd-fields input[value=name]")
    page.check("#hd-fields input[value=legal_rep]")
    page.uncheck("#hd-once")
    page.click("#hd-sign")
    auth = download(page, "#hd-auth-file", tmp_path / "auth.json")
    presented = json.loads(auth.read_text())
    compact = json.dumps(
        {"auth": presented["auth"], "sig": presented["sig"]}, ensure_ascii=False, separators=(",", ":")
    )
    assert read_qr(page.locator("#hd-qr svg").screenshot()) == [compact]
    shot(page, f"licence-console-holder-{node.suite}")

    # 3. The relying party records the use and gets exactly the authorised fields, verified.
    use_authorisation(page, node, actors, auth)
    expect(page.locator("#rp-verified")).to_be_visible(timeout=SLOW)
    fields = page.locator("#rp-fields")
    expect(fields).to_contain_text("杭州某某科技有限公司")
    expect(fields).to_contain_text("赵六")
    expect(fields).not_to_contain_text("91330100MA27XXXX1A")
    shot(page, f"licence-console-relying-{node.suite}")

    # The licence file presented to a relying party: valid; one byte changed, it matches nothing.
    check_file(page, node, pdf_file)
    verdict = page.locator("#rp-file-verdict")
    expect(verdict).to_have_attribute("data-code", "valid", timeout=SLOW)
    expect(verdict).to_have_attribute("data-version", "1")
    expect(verdict).to_contain_text(f"此文件是 {lid} 的第 1 版")
    at = len(pdf) // 2
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :])
    check_file(page, node, altered)
    expect(verdict).to_have_attribute("data-code", "file_mismatch", timeout=SLOW)
    expect(verdict).to_contain_text("文件与链上任何版本都不一致")
    shot(page, f"licence-console-file-mismatch-{node.suite}")
    page.click("#lang")
    page.set_input_files("#rp-pdf", str(altered))
    page.click("#rp-check")
    expect(verdict).to_contain_text("The file matches no version on chain")
    page.click("#lang")

    # 4. The issuer suspends the licence.
    page.goto(node.url + "/licences/issuer")
    load_key(page, actors["issuer"])
    page.fill("#lc-life-id", lid)
    page.select_option("#lc-op", "suspend")
    page.fill("#lc-reason", "涉嫌违法经营，暂扣")
    page.click("#lc-apply")
    expect(page.locator("#lc-changed")).to_have_attribute("data-status", "suspended", timeout=SLOW)

    # 5. The next use, from what a scanner reads off the QR code, is refused with the contract's
    # reason code and its translation.
    page.goto(node.url + "/licences/relying")
    load_key(page, actors["relying"])
    page.fill("#rp-json", compact)
    page.click("#rp-use")
    refused = page.locator("#rp-out .msg.error")
    expect(refused).to_have_attribute("data-code", "licence_not_valid", timeout=SLOW)
    expect(refused).to_contain_text("证照当前不是有效状态")
    shot(page, f"licence-console-refused-{node.suite}")
    check_file(page, node, pdf_file)
    expect(page.locator("#rp-file-verdict")).to_have_attribute("data-code", "suspended", timeout=SLOW)
    expect(page.locator("#rp-file-verdict")).to_contain_text("已暂停")

    # 6. The regulator's dashboard counts what happened, as the chain's own stats say.
    page.goto(node.url + "/licences/regulator")
    load_key(page, actors["regulator"])
    page.click("#rg-load")
    expect(page.locator("#rg-total")).to_be_visible(timeout=SLOW)
    regulator = Client(node.url, key=KeyFile.load(actors["regulator"]).keys)
    stats = LicenceClient(regulator).stats("test: compare with the dashboard")
    per_op = Counter[str]()
    for row in stats:
        per_op[row["op"]] += row["count"]
    assert per_op["issue"] >= 1 and per_op["use"] >= 1 and per_op["suspend"] >= 1
    for op, count in per_op.items():
        expect(page.locator(f"#rg-op tr[data-key^='{op}'] td.n")).to_have_text(str(count))
    expect(page.locator("#rg-total")).to_have_text(str(sum(per_op.values())))
    expect(page.locator("#rg-uses tbody tr")).to_have_count(1)
    expect(page.locator("#rg-uses")).to_contain_text("开立银行账户")
    expect(page.locator("#rg-log")).to_contain_text("licence.stats")
    shot(page, f"licence-console-regulator-{node.suite}")
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Regulator dashboard")


def test_change_in_the_console_makes_a_new_file(
    page: Page, desk_node: RunningNode, actors: dict[str, Path], tmp_path: Path
) -> None:
    """变更 from the issuing console: the current bundle loaded, one field edited, version 2 with its own
    file on chain; the old file is then `superseded`, a stale bundle refused with `conflict`."""
    node = desk_node
    issuer = LicenceClient(Client(node.url, key=KeyFile.load(actors["issuer"]).keys))
    holder = issuer.suite.generate_keypair()
    fields = {"name": "某某文具店", "credit_code": "92330100MA2XXXXX2D", "scope": "文具零售"}
    first = issuer.issue("BL", fields, fields["credit_code"], holder.public)
    old_pdf, old_bundle = bundle_file(first), tmp_path / "v1.bundle.json"
    assert old_pdf is not None
    old_bundle.write_text(json.dumps(first, ensure_ascii=False))
    (tmp_path / "v1.pdf").write_bytes(old_pdf)

    page.goto(node.url + "/licences/issuer")
    load_key(page, actors["issuer"])
    page.set_input_files("#lc-chg-bundle", str(old_bundle))
    expect(page.locator("#lc-chg-fields")).to_have_attribute("data-version", "1")
    scope = page.locator("#change-form [data-field=scope]")
    expect(scope).to_have_value("文具零售")
    scope.fill("文具、图书零售")
    page.fill("#lc-chg-reason", "经营范围变更")
    page.click("#lc-change")
    changed = page.locator("#lc-changed-version")
    expect(changed).to_have_attribute("data-version", "2", timeout=SLOW)
    new_pdf = download(page, "#lc-new-pdf", tmp_path / "v2.pdf").read_bytes()
    new_bundle = json.loads(download(page, "#lc-new-bundle", tmp_path / "v2.bundle.json").read_text())
    assert new_bundle["version"] == 2 and new_bundle["fields"]["scope"] == "文具、图书零售"
    assert bundle_file(new_bundle) == new_pdf != old_pdf
    status = issuer.status(first["licence"])
    assert status["file_digest"] == get_suite(node.suite).hash(new_pdf).hex()
    assert status["data_digest"] == new_bundle["data_digest"] != first["data_digest"]
    found = issuer.verify_file(new_pdf)
    assert (found.code, found.version) == ("valid", 2)
    shot(page, f"licence-console-changed-{node.suite}")
    # The stale bundle again: refused before anything is rendered or signed.
    expect(page.locator("#lc-chg-fields")).to_have_attribute("data-version", "2")
    page.set_input_files("#lc-chg-bundle", str(old_bundle))
    expect(page.locator("#lc-chg-fields")).to_have_attribute("data-version", "1")
    page.click("#lc-change")
    expect(page.locator("#lc-chg-out .msg.error")).to_have_attribute("data-code", "conflict", timeout=SLOW)
    assert issuer.status(first["licence"])["version"] == 2
    # The old file, presented to a relying party: superseded.
    check_file(page, node, tmp_path / "v1.pdf")
    verdict = page.locator("#rp-file-verdict")
    expect(verdict).to_have_attribute("data-code", "superseded", timeout=SLOW)
    expect(verdict).to_contain_text("已被新版本取代")


def test_refusals_are_explained(page: Page, desk_node: RunningNode, actors: dict[str, Path]) -> None:
    node = desk_node
    page.goto(node.url + "/licences/issuer")
    page.click("#lc-issue")  # no key yet
    expect(page.locator("#lc-issue-out .msg.error")).to_have_attribute("data-code", "no_key")
    page.set_input_files(
        "#key-file", {"name": "x.json", "mimeType": "application/json", "buffer": b"{nonsense"}
    )
    expect(page.locator("#key-status .msg.error")).to_have_attribute("data-code", "bad_key_file")
    # The relying party's key may not issue: the contract's policy says why.
    load_key(page, actors["relying"])
    page.fill("#lc-life-id", "BL-org2-00000001-7")
    page.fill("#lc-reason", "test")
    page.click("#lc-apply")
    expect(page.locator("#lc-life-out .msg.error")).to_have_attribute("data-code", "forbidden", timeout=SLOW)
    # A refused deposit still hands over the bundle: the licence is on chain, its salts nowhere else.
    page.goto(node.url + "/licences/issuer")
    load_key(page, actors["issuer"])
    page.route("**/private", lambda route: route.fulfill(status=409, json=REFUSED_DEPOSIT))
    page.fill("[data-field=name]", "某某书店")
    page.fill("[data-field=credit_code]", "92330100MA2XXXXX1C")
    page.fill("#lc-holder-code", "92330100MA2XXXXX1C")
    page.click("#lc-gen")
    page.click("#lc-issue")
    expect(page.locator("#lc-issued")).to_be_visible(timeout=SLOW)
    expect(page.locator("#lc-issue-out .msg.error")).to_have_attribute("data-code", "conflict")
    expect(page.locator("#lc-bundle")).to_be_visible()
    page.unroute("**/private")
    # An auditor of org1 sees the counts, but not org2's uses: said with the reason code.
    page.goto(node.url + "/licences/regulator")
    load_key(page, actors["auditor"])
    page.click("#rg-load")
    expect(page.locator("#rg-total")).to_be_visible(timeout=SLOW)
    expect(page.locator("#rg-out .msg.error")).to_have_attribute("data-code", "forbidden")
    expect(page.locator("#rg-out .msg.error")).to_contain_text("org2")
    # In English, with the key still in memory (the page re-renders, the key stays): a missing field.
    page.goto(node.url + "/licences/issuer")
    load_key(page, actors["relying"])
    page.click("#lang")
    expect(page.locator("#key-status")).to_contain_text("Key loaded")
    page.click("#lc-issue")
    refused = page.locator("#lc-issue-out .msg.error")
    expect(refused).to_have_attribute("data-code", "schema_invalid")
    expect(refused).to_contain_text("does not fit the licence type's schema. name: required")


def test_consoles_on_a_phone(browser: Browser, desk_node: RunningNode) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        for role in ("issuer", "holder", "relying", "regulator"):
            phone.goto(f"{desk_node.url}/licences/{role}")
            expect(phone.locator("#key-file")).to_be_attached()
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"/licences/{role} scrolls sideways on a phone ({width}px)"
            shot(phone, f"phone-licence-{role}-{desk_node.suite}")
    finally:
        context.close()
