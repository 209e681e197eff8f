"""The browser's signing code agrees with the Python reference byte for byte (web/sign/sign.js and
the licence module's model.js): canonical CBOR encoding, transactions, signed requests, key
files and the licence's digests, commitments and authorisations, on both suites."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playwright.sync_api import Browser, Page

from govchain import codec
from govchain.contracts.licence.client import _disclosure_from_json
from govchain.contracts.licence.filecheck import check_file
from govchain.contracts.licence.model import (
    authorisation_signing_input,
    check_authorisation,
    check_disclosure,
    disclose,
    fields_digest,
    holder_commitment,
    holder_did,
    licence_id,
    parse_type,
)
from govchain.contracts.licence.render import LicenceSheet, file_claim, render_licence
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.ledger.requests import verify_request
from govchain.ledger.transactions import decode_tx
from tests.web.conftest import CHROMIUM, RunningNode, _node, key_json

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SUITES = ["intl", "gm"]

# Values of codec.py's data model, in the sizes that transactions and bundles have.
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=codec.INT_MIN, max_value=codec.INT_MAX)
    | st.integers(min_value=-300, max_value=70_000)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)

# Turns the tagged form below back into GovSign values (plain objects for maps, Uint8Array for
# bytes, Numbers for safe integers and BigInts beyond).
UNTAG = """
window.untag = (v) => {
  const [kind, x] = v;
  if (kind === "null") return null;
  if (kind === "bool") return x;
  if (kind === "int") {
    const b = BigInt(x);
    return Number.isSafeInteger(Number(b)) && BigInt(Number(b)) === b ? Number(b) : b;
  }
  if (kind === "bytes") return GovSign.fromHex(x);
  if (kind === "text") return x;
  if (kind === "list") return x.map(untag);
  return Object.fromEntries(x.map(([k, y]) => [k, untag(y)]));
};
"""


def tag(value: Any) -> Any:
    """A value as JSON that keeps ints exact, bytes as bytes and each map's own key order."""
    if value is None:
        return ["null", None]
    if type(value) is bool:
        return ["bool", value]
    if type(value) is int:
        return ["int", str(value)]
    if type(value) is bytes:
        return ["bytes", value.hex()]
    if type(value) is str:
        return ["text", value]
    if type(value) is list:
        return ["list", [tag(v) for v in value]]
    return ["map", [[k, tag(v)] for k, v in value.items()]]


@pytest.fixture(scope="module")
def signer(browser: Browser, intl_node: RunningNode) -> Iterator[Page]:
    """A portal page (every shared page loads sign.js) on a dev intl node."""
    assert CHROMIUM.exists()
    context = browser.new_context()
    page = context.new_page()
    page.goto(intl_node.url + "/licences")
    page.wait_for_function("window.GovSign && window.GovLicence && window.sm3 && window.GovNoble")
    page.add_script_tag(content=UNTAG)
    yield page
    context.close()


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_cbor_encoder_matches_codec(signer: Page, value: Any) -> None:
    encoded = signer.evaluate("(v) => GovSign.toHex(GovSign.encode(untag(v)))", tag(value))
    assert encoded == codec.encode(value).hex()


def test_encoder_refuses_what_codec_refuses(signer: Page) -> None:
    for bad in ["1.5", "2n ** 64n", "-(2n ** 64n) - 1n", "undefined", "{a: new Date()}"]:
        code = signer.evaluate(
            f"() => {{ try {{ GovSign.encode({bad}); return 'ok'; }} catch (e) {{ return e.reason; }} }}"
        )
        assert code in {"type", "int_range"}, bad


@pytest.mark.parametrize("suite_name", SUITES)
def test_transactions_signed_in_the_browser_verify_in_python(signer: Page, suite_name: str) -> None:
    suite = get_suite(suite_name)
    key = KeyFile.generate(suite)
    key_text = key_json(suite_name, key.keys)
    meta = {"名称": "营业执照", "n": -(2**40), "list": [True, None, b"\x00"]}
    args = {"digest": suite.hash(b"x"), "meta": meta}
    expiry = int(time.time() * 1000) + 60_000
    signed = signer.evaluate(
        """([keyText, args, expiry]) => {
          const keys = GovSign.loadKeyFile(keyText);
          const tx = GovSign.buildTx(keys, "chain-a", "notary", "anchor", untag(args), { expiry });
          return { raw: GovSign.toHex(tx.raw), id: GovSign.toHex(tx.id) };
        }""",
        [key_text, tag(args), expiry],
    )
    tx = decode_tx(suite, bytes.fromhex(signed["raw"]), 1 << 20)
    assert suite.verify(key.keys.public, tx.signing_input(), tx.signature)
    assert tx.id.hex() == signed["id"] == suite.hash(tx.body_bytes).hex()
    assert (tx.body.chain, tx.body.sender, tx.body.contract, tx.body.method) == (
        "chain-a",
        key.keys.public,
        "notary",
        "anchor",
    )
    assert tx.body.args == args and tx.body.expiry == expiry and len(tx.body.nonce) == 16
    # Two signatures of the same body verify alike; a flipped byte does not.
    assert not suite.verify(key.keys.public, tx.signing_input() + b"\x00", tx.signature)


@pytest.mark.parametrize("suite_name", SUITES)
def test_key_files_and_signed_requests(signer: Page, suite_name: str, tmp_path: Any) -> None:
    suite = get_suite(suite_name)
    now = int(time.time() * 1000)
    made = signer.evaluate(
        """([suite, now]) => {
          const keys = GovSign.generateKeys(suite);
          const use = new Uint8Array(32).fill(7);
          const request = GovSign.signRequest(keys, "chain-a", "licence/fetch", { use }, now);
          let refused = null;
          const wrong = { suite, private: GovSign.toHex(keys.private), public: "04" + "00".repeat(64) };
          try { GovSign.loadKeyFile(JSON.stringify(wrong)); }
          catch (e) { refused = e.code; }
          return { file: GovSign.keyFileText(keys), request, refused };
        }""",
        [suite_name, now],
    )
    path = tmp_path / "key.json"
    path.write_text(made["file"])
    loaded = KeyFile.load(path)  # the public key in the file matches the private key
    assert loaded.suite == suite_name and made["refused"] == "bad_key_file"
    body, signer_key = verify_request(suite, "chain-a", made["request"], "licence/fetch", now)
    assert signer_key == loaded.keys.public and body["use"] == bytes([7]) * 32


@pytest.mark.parametrize("suite_name", SUITES)
def test_licence_model_agrees(signer: Page, suite_name: str) -> None:
    suite = get_suite(suite_name)
    holder = suite.generate_keypair()
    holder_text = key_json(suite_name, holder)
    fields = {"name": "杭州某某科技有限公司", "credit_code": "91330100MA27XXXX1A", "legal_rep": "赵六"}
    fields["staff"] = 12
    salts = {name: bytes([i + 1]) * 16 for i, name in enumerate(fields)}
    salt = bytes(range(16))
    bundle = {
        "chain": "chain-a",
        "licence": licence_id("BL", "org2", 1),
        "fields": fields,
        "salts": {k: v.hex() for k, v in salts.items()},
        "holder_did": holder_did(suite, holder.public),
    }
    hidden = disclose(suite, fields, salts, ["name"])
    hidden_json = {
        "fields": {k: [s.hex(), v] for k, (s, v) in hidden["fields"].items()},
        "hashes": {k: h.hex() for k, h in hidden["hashes"].items()},
    }
    out = signer.evaluate(
        """([suite, holderText, bundle, salt, hidden]) => {
          const L = GovLicence, S = GovSign;
          const keys = S.loadKeyFile(holderText);
          const presented = L.authorise(keys, bundle, "org3", "开户", ["legal_rep", "name"], 3600000, true);
          const digest = S.toHex(L.fieldsDigest(suite, bundle.fields, bundle.salts));
          const tampered = JSON.parse(JSON.stringify(hidden)); tampered.fields.name[1] = "别的公司";
          let refused = null;
          try { L.checkDisclosure(suite, tampered, digest); } catch (e) { refused = e.code; }
          return {
            digest, presented, refused,
            commitment: S.toHex(L.holderCommitment(suite, S.fromHex(salt), "91330100MA27XXXX1A")),
            did: L.holderDid(suite, keys.public),
            shown: L.checkDisclosure(suite, hidden, digest),
          };
        }""",
        [suite_name, holder_text, bundle, salt.hex(), hidden_json],
    )
    digest = fields_digest(suite, fields, bundle["salts"])
    assert out["digest"] == digest.hex()
    assert out["commitment"] == holder_commitment(suite, salt, "91330100MA27XXXX1A").hex()
    assert out["did"] == bundle["holder_did"]
    assert out["shown"] == {"name": fields["name"]} and out["refused"] == "disclosure_mismatch"
    presented = out["presented"]
    auth = check_authorisation(dict(presented["auth"], nonce=bytes.fromhex(presented["auth"]["nonce"])))
    assert auth["fields"] == ["legal_rep", "name"] and auth["one_time"] is True
    assert suite.verify(holder.public, authorisation_signing_input(auth), bytes.fromhex(presented["sig"]))
    shown = check_disclosure(suite, _disclosure_from_json(presented["disclosure"]), digest)
    assert shown == {"name": fields["name"], "legal_rep": "赵六"}


@pytest.mark.parametrize("suite_name", SUITES)
def test_licence_file_checks_agree(signer: Page, suite_name: str) -> None:
    """model.js's file claim, digest, base64 and file check against render.py's and filecheck.py's, on a
    rendered licence, the same file with one byte changed, and a file that names no licence."""
    suite = get_suite(suite_name)
    fields = {"name": "杭州某某科技有限公司", "credit_code": "91330100MA27XXXX1A"}
    lid = licence_id("BL", "org2", 5)
    digest = fields_digest(suite, fields, {name: "11" * 16 for name in fields})
    pdf = render_licence(
        LicenceSheet(parse_type("BL", BUSINESS_LICENCE), lid, 2, "org2", "", 0, None, fields, digest,
                     "chain-a", "https://portal.example")
    )  # fmt: skip
    at = len(pdf) // 2
    files = [pdf, pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :], b"%PDF-1.4 another document"]
    chain = {"matches": [{"version": 2, "as": "file", "status": "superseded"}]}
    known = {suite.hash(pdf).hex()}

    def lookup(licence: str, hex_digest: str) -> dict[str, Any]:
        if licence != lid:
            raise LookupError(f"no licence {licence}")
        return chain if hex_digest in known else {"matches": []}

    out = signer.evaluate(
        """async ([suite, files, chain, known, lid]) => {
          const L = GovLicence, S = GovSign;
          const lookup = async (licence, digest) => {
            if (licence !== lid) throw new Error("no licence " + licence);
            return known.includes(digest) ? chain : { matches: [] };
          };
          const out = [];
          for (const text of files) {
            const bytes = L.fromBase64(text);
            out.push({
              same: L.toBase64(bytes) === text, claim: L.fileClaim(bytes),
              digest: S.toHex(L.hash(suite, bytes)),
              own: await L.checkFile(suite, "chain-a", bytes, null, lookup),
              named: await L.checkFile(suite, "chain-a", bytes, lid, lookup),
              elsewhere: (await L.checkFile(suite, "chain-b", bytes, null, lookup)).code,
            });
          }
          const data = L.versionData(suite, { name: "x", n: 3 });
          out.push({ salts: data.salts, digest: S.toHex(data.digest) });
          return out;
        }""",
        [suite_name, [base64.b64encode(f).decode() for f in files], chain, sorted(known), lid],
    )
    fresh = out.pop()  # a new version's salts and digest, as client._new_version makes them
    assert len(set(fresh["salts"].values())) == 2 and all(len(v) == 32 for v in fresh["salts"].values())
    assert fresh["digest"] == fields_digest(suite, {"name": "x", "n": 3}, fresh["salts"]).hex()
    for file, seen in zip(files, out, strict=True):
        claim = file_claim(file)
        assert seen["same"] and seen["digest"] == suite.hash(file).hex()
        expected = None if claim is None else {
            "licence": claim.licence, "version": claim.version, "chain": claim.chain,
            "data_digest": claim.data_digest.hex(),
        }  # fmt: skip
        assert seen["claim"] == expected
        for key, given_id, chain_id in (("own", None, "chain-a"), ("named", lid, "chain-a")):
            verdict = check_file(suite, chain_id, file, given_id, lookup)
            browser = seen[key]
            assert browser == {
                "ok": verdict.ok, "code": verdict.code, "licence": verdict.licence,
                "version": verdict.version, "digest": verdict.digest,
            }  # fmt: skip
        assert seen["elsewhere"] == check_file(suite, "chain-b", file, None, lookup).code
    assert [seen["own"]["code"] for seen in out] == ["superseded", "file_mismatch", "file_unknown"]
    assert out[0]["elsewhere"] == "wrong_chain"


def _submit_from_browser(page: Page, node: RunningNode, key_text: str) -> dict[str, Any]:
    page.goto(node.url + "/licences")
    page.wait_for_function("window.GovSign")
    result: dict[str, Any] = page.evaluate(
        """async (keyText) => {
          const keys = GovSign.loadKeyFile(keyText);
          const digest = GovSign.SUITES[keys.suite].hash(GovSign.randomBytes(8));
          const done = await GovSign.call(keys, "notary", "anchor", { digest, meta: { via: "browser" } });
          let refused = null;
          try { await GovSign.call(keys, "notary", "anchor", { digest: new Uint8Array(3) }); }
          catch (e) { refused = e.code; }
          return { id: done.id, height: done.height, refused };
        }""",
        key_text,
    )
    return result


@pytest.fixture(scope="module")
def gm_dev_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A dev chain on gm (open to any key), so the shared gm consortium keeps its member list."""
    yield from _node(tmp_path_factory.mktemp("sign-gm"), "gm")


@pytest.mark.parametrize("suite_name", SUITES)
def test_a_node_commits_what_the_browser_signs(
    page: Page, suite_name: str, intl_node: RunningNode, gm_dev_node: RunningNode
) -> None:
    node = intl_node if suite_name == "intl" else gm_dev_node
    keys = get_suite(suite_name).generate_keypair()
    done = _submit_from_browser(page, node, key_json(suite_name, keys))
    assert done["height"] >= 1 and done["refused"] == "invalid_args"
