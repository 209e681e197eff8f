"""The browser's building blocks agree with the Python reference byte for byte: the canonical
CBOR decoder accepts exactly what `codec.decode` accepts, and hashes, signatures and Merkle
proofs match `crypto` and `merkle` on both suites (docs/protocol.md, sections 2, 3 and 7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from govchain import codec, merkle
from govchain.crypto import get_suite
from tests.web.conftest import RunningNode

pytestmark = [pytest.mark.slow, pytest.mark.browser]


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
NO_WEBCRYPTO = "Object.defineProperty(globalThis.crypto, 'subtle', { get: () => undefined });"


def open_offline(
    browser: Browser, node: RunningNode, folder: Path, webcrypto: bool
) -> tuple[BrowserContext, Page]:
    """The offline verifier page, opened from a file with no network (and, if asked, no WebCrypto,
    as on a page served over plain http to another host)."""
    saved = folder / "govchain-verifier.html"
    if not saved.exists():
        saved.write_bytes(httpx.get(f"{node.url}/verify/offline.html").content)
    context = browser.new_context(offline=True)
    if not webcrypto:
        context.add_init_script(NO_WEBCRYPTO)
    page = context.new_page()
    page.goto(saved.as_uri())
    assert page.evaluate("typeof crypto.subtle") == ("object" if webcrypto else "undefined")
    return context, page


@pytest.fixture(scope="module", params=["webcrypto", "fallback"])
def verifier(
    request: pytest.FixtureRequest,
    browser: Browser,
    intl_node: RunningNode,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Page]:
    context, page = open_offline(
        browser, intl_node, tmp_path_factory.mktemp("verifier"), request.param == "webcrypto"
    )
    yield page
    context.close()


def nested(depth: int) -> bytes:
    return bytes([0x81] * depth) + b"\x00"


def cbor_cases() -> list[bytes]:
    values = [
        0,
        23,
        24,
        255,
        256,
        65535,
        65536,
        2**32 - 1,
        2**32,
        2**53 + 1,
        2**64 - 1,
        -1,
        -24,
        -25,
        -256,
        -257,
        -(2**53) - 1,
        -(2**64),
        b"",
        b"\x00" * 24,
        "",
        "租赁合同",
        "é",
        True,
        False,
        None,
        [],
        {},
        {"v": 1, "args": {"digest": b"\x01" * 32}, "from": b"\x04" * 65, "chain": "c", "nonce": b"n" * 16},
        {"aa": 1, "é": 2, "b": [1, [2, [3]]], "": None},
        [[[[b"deep"]]]],
    ]
    good = [codec.encode(v) for v in values]
    bad_hex = [
        "1817",
        "190001",
        "1a00000001",
        "5800",
        "7800",  # non-shortest heads
        "a2616201616101",
        "a2616101616102",  # unsorted keys; duplicate keys
        "0000",
        "",
        "81",
        "5801",
        "a161",  # trailing bytes; empty; truncated
        "f93c00",
        "fa3f800000",
        "fb3ff0000000000000",  # floats
        "c11a00000000",
        "c24101",  # tags (time, bignum)
        "5f4100ff",
        "7f6100ff",
        "9f01ff",
        "bf616101ff",  # indefinite lengths
        "a10101",
        "a1410101",  # non-text map keys
        "f7",
        "f0",
        "f818",
        "1c",
        "ff",  # undefined, simple values, reserved, break
        "62c328",
        "61ff",  # invalid UTF-8
    ]
    depth = [nested(31), nested(32), nested(33), bytes([0xA1, 0x61, 0x6B] * 32) + b"\x00"]
    return good + [bytes.fromhex(h) for h in bad_hex] + depth


def python_accepts(data: bytes) -> bool:
    try:
        codec.decode(data)
    except codec.CodecError:
        return False
    return True


def test_cbor_decoder_accepts_exactly_what_python_accepts(verifier: Page) -> None:
    cases = cbor_cases()
    got = verifier.evaluate(
        """(cases) => cases.map((hex) => {
            const bytes = GovVerify.fromHex(hex);
            try {
                const value = GovCbor.decode(bytes);
                return GovVerify.toHex(GovCbor.encode(value)) === hex;
            } catch (e) {
                if (!(e instanceof GovCbor.CodecError)) throw e;
                return false;
            }
        })""",
        [c.hex() for c in cases],
    )
    expected = [python_accepts(c) for c in cases]
    assert sum(expected) >= 31 and not all(expected)
    mismatches = [c.hex() for c, e, g in zip(cases, expected, got, strict=True) if e != g]
    assert not mismatches, mismatches


@pytest.mark.parametrize("suite_name", ["intl", "gm"])
def test_hashes_signatures_and_proofs_match(verifier: Page, suite_name: str) -> None:
    suite = get_suite(suite_name)
    keys = suite.generate_keypair()
    message = b"govchain-header\x00" + codec.encode({"v": 1, "chain": "c"})
    sig = suite.sign(keys.private, message)
    bad_sig = sig[:-1] + bytes([sig[-1] ^ 1])
    high_r = (2**256 - 1).to_bytes(32, "big") + sig[32:]
    compressed = bytes([2 + keys.public[-1] % 2]) + keys.public[1:33]
    off_curve = keys.public[:-1] + bytes([keys.public[-1] ^ 1])
    leaves = [bytes([i]) * 7 for i in range(11)]
    hashes = [merkle.leaf_hash(suite.hash, d) for d in leaves]
    root = merkle.root_from_leaf_hashes(suite.hash, hashes)
    proof = merkle.inclusion_proof(suite.hash, hashes, 6)
    order = P256_ORDER if suite_name == "intl" else SM2_ORDER
    other_s = sig[:32] + (order - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    signatures = [
        (keys.public, sig),
        (keys.public, bad_sig),
        (keys.public, high_r),
        (keys.public, sig[:63]),
        (compressed, sig),
        (off_curve, sig),
        (suite.generate_keypair().public, sig),
        (keys.public, other_s),  # (r, n - s): valid on P-256 (no low-S rule), invalid for SM2
    ]
    got = verifier.evaluate(
        """async ([suite, message, sigs, leaf, root, proof, data]) => {
            const S = GovVerify.SUITES[suite], h = GovVerify.fromHex;
            const out = { hash: GovVerify.toHex(await S.hash(h(data))), sigs: [], proofs: [] };
            for (const [k, s] of sigs) out.sigs.push(await S.verify(h(k), h(message), h(s)));
            const path = proof.map(h);
            for (const [i, n] of [[6, 11], [5, 11], [6, 12], [6, 10]]) {
                out.proofs.push(await GovVerify.verifyInclusion(S.hash, h(leaf), i, n, path, h(root)));
            }
            return out;
        }""",
        [
            suite_name,
            message.hex(),
            [[k.hex(), s.hex()] for k, s in signatures],
            hashes[6].hex(),
            root.hex(),
            [p.hex() for p in proof],
            leaves[3].hex(),
        ],
    )
    assert got["hash"] == suite.hash(leaves[3]).hex()
    assert got["sigs"] == [suite.verify(k, message, s) for k, s in signatures]
    assert got["sigs"][0] is True and not any(got["sigs"][1:-1])
    assert got["sigs"][-1] is (suite_name == "intl")
    assert got["proofs"] == [
        merkle.verify_inclusion(suite.hash, hashes[6], i, n, proof, root)
        for i, n in [(6, 11), (5, 11), (6, 12), (6, 10)]
    ]
    assert got["proofs"][0] is True
