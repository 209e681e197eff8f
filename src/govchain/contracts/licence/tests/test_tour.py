"""The e-licence tour as a new user runs it, through the CLI against a real consortium node.

Register a type by governance, issue, authorise, use, suspend (use refused),
resume, revoke, checking the public status at each stage; then the regulator's
audit, and a scan of the block store for the holder's identifier.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from govchain.cli.main import app
from govchain.contracts.licence.client import LicenceClient, presented_from_json, presented_to_json
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import KeyPair
from govchain.crypto.keyfile import KeyFile
from govchain.ledger.requests import sign_request
from govchain.sdk.client import Client, SdkError

HOLDER_CODE = "91310115MA1K4LXK2T"  # a unified social credit code: personal data, never on chain


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def member(consortium: Path, org: str, role: str, name: str) -> str:
    ok("member", "issue", "--consortium", str(consortium), "--org", org, "--role", role, "--name", name)
    return str(next((consortium / org / "members").glob(f"{name}*-key.json")))


def status(licence: str) -> str:
    return str(json.loads(ok("licence", "status", licence, "--json"))["status"])


def register_type(consortium: Path, tmp_path: Path) -> None:
    """The business licence type, proposed by org1 and voted in by org2 and org3."""
    cons = str(consortium)
    doc = tmp_path / "bl.json"
    doc.write_text(json.dumps(BUSINESS_LICENCE, ensure_ascii=False))
    bad = run(
        "licence", "type-propose", "--consortium", cons, "--org", "org1", "--code", "bl", "--doc", str(doc)
    )
    assert bad.exit_code == 2 and "type code" in bad.output
    out = ok(
        "licence", "type-propose", "--consortium", cons, "--org", "org1", "--code", "BL", "--doc", str(doc)
    )
    for org in ("org2", "org3"):
        ok("proposal", "vote", out.split("proposal ")[1].split()[0], "--consortium", cons, "--org", org)


def proof_check(proof: Path, *options: str) -> tuple[int, str]:
    result = run("licence", "verify-status", str(proof), *options)
    return result.exit_code, " ".join(result.output.split())


def file_check(path: Path) -> tuple[int, str]:
    result = run("licence", "verify", str(path))
    return result.exit_code, " ".join(result.output.split())


def vc_check(vc: Path) -> tuple[int, str]:
    result = run("licence", "verify-vc", str(vc))
    return result.exit_code, result.output


def test_licence_tour(consortium: Path, tmp_path: Path) -> None:
    # 1. Register the type by governance: org1 proposes, org2 and org3 vote.
    register_type(consortium, tmp_path)
    issuer = member(consortium, "org2", "issuer", "bureau")
    relying = member(consortium, "org1", "operator", "bank")
    regulator = member(consortium, "org3", "regulator", "inspector")
    holder = tmp_path / "holder-key.json"
    wrong = tmp_path / "intl-key.json"
    ok("keys", "new", "--out", str(wrong))  # the chain is gm: an intl key is refused by name
    ok("keys", "new", "--suite", "gm", "--out", str(holder))
    # The type takes effect a block after the vote: any transaction moves the chain on.
    filler = tmp_path / "filler.txt"
    filler.write_text("x")
    ok("notarize", str(filler), "--key", issuer, "--out", str(tmp_path))
    assert "BL" in ok("licence", "types")

    # 2. Issue. Fields failing the schema are refused before anything is signed.
    fields = tmp_path / "fields.json"
    fields.write_text(json.dumps({"name": "上海某某科技有限公司", "credit_code": 42}))
    refused = run(
        "licence", "issue", "--type", "BL", "--fields", str(fields), "--holder-code", HOLDER_CODE,
        "--holder-key", str(holder), "--key", issuer, "--out", str(tmp_path / "bundle.json"),
    )  # fmt: skip
    assert refused.exit_code == 1 and "schema_invalid" in refused.output
    fields.write_text(
        json.dumps(
            {
                "name": "上海某某科技有限公司",
                "credit_code": HOLDER_CODE,
                "legal_rep": "张三",
                "scope": "软件开发",
            },
            ensure_ascii=False,
        )
    )
    bundle, pdf = tmp_path / "bundle.json", tmp_path / "licence.pdf"
    out = ok(
        "licence", "issue", "--type", "BL", "--fields", str(fields), "--holder-code", HOLDER_CODE,
        "--holder-key", str(holder), "--key", issuer, "--out", str(bundle), "--pdf", str(pdf),
    )  # fmt: skip
    licence = json.loads(bundle.read_text())["licence"]
    assert licence in out and bundle.stat().st_mode & 0o777 == 0o600
    assert status(licence) == "valid"
    # The licence file (PDF, with the id and its QR code): its digest is on chain, so anyone checks it.
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_mode & 0o777 == 0o600
    assert file_check(pdf) == (0, f"VALID (valid): the file is version 1 of {licence}, which is valid")
    altered = tmp_path / "altered.pdf"
    original = pdf.read_bytes()
    altered.write_bytes(original.replace(b"; version=1;", b"; version=2;"))  # claims another version
    assert altered.read_bytes() != original
    code, output = file_check(altered)
    assert code == 1 and "(file_mismatch)" in output
    assert file_check(fields)[0] == 1 and "(file_unknown)" in file_check(fields)[1]
    assert file_check(tmp_path / "missing.pdf")[0] == 2

    refused = run(
        "licence", "issue", "--type", "BL", "--fields", str(fields), "--holder-code", HOLDER_CODE,
        "--holder-key", str(wrong), "--key", issuer, "--out", str(tmp_path / "b2.json"),
    )  # fmt: skip
    assert refused.exit_code == 2 and "gm" in refused.output

    # An offline status proof: valid now, checked with no node; tampering or another chain is caught.
    early = tmp_path / "proof-issued.json"
    ok("licence", "proof", licence, "--out", str(early))
    assert "VALID" in ok("licence", "verify-status", str(early), "--bundle", str(bundle))
    forged_proof = json.loads(early.read_text())
    forged_proof["value"] = forged_proof["value"][:-2] + (
        "00" if forged_proof["value"][-2:] != "00" else "01"
    )
    (tmp_path / "forged-proof.json").write_text(json.dumps(forged_proof))
    code, output = proof_check(tmp_path / "forged-proof.json")
    assert code == 1 and "(proof)" in output
    code, output = proof_check(early, "--chain", "00" * 32)
    assert code == 1 and "(wrong_chain)" in output
    assert proof_check(tmp_path / "fields.json")[0] == 2  # not a proof at all
    # Its W3C VC 2.0 export verifies; a tampered copy does not; nobody but the issuer exports it.
    vc = tmp_path / "licence.vc.json"
    ok("licence", "export-vc", "--bundle", str(bundle), "--key", issuer, "--out", str(vc))
    assert vc_check(vc) == (0, vc_check(vc)[1]), vc_check(vc)[1]
    forged = json.loads(vc.read_text())
    forged["credentialSubject"]["fields"]["scope"] = "金融"
    (tmp_path / "forged.json").write_text(json.dumps(forged, ensure_ascii=False))
    code, output = vc_check(tmp_path / "forged.json")
    assert code == 1 and "(signature)" in output
    refused = run(
        "licence", "export-vc", "--bundle", str(bundle), "--key", relying, "--out", str(tmp_path / "x")
    )
    assert refused.exit_code == 1 and "forbidden" in refused.output

    # 3. The holder authorises the bank to see the name and scope, for one use.
    auth = tmp_path / "auth.json"
    ok(
        "licence", "authorise", "--bundle", str(bundle), "--holder-key", str(holder), "--org", "org1",
        "--service", "开户", "--fields", "name,scope", "--out", str(auth),
    )  # fmt: skip
    # 4. The bank uses it: recorded on chain, and the disclosed fields check out against the chain.
    used = json.loads(ok("licence", "use", str(auth), "--key", relying, "--json"))
    assert used["fields"] == {"name": "上海某某科技有限公司", "scope": "软件开发"}
    # ... and fetches the same fields from the issuing node's private store, checked against the chain.
    fetched = json.loads(ok("licence", "fetch", licence, "--use", used["tx"], "--key", relying, "--json"))
    assert fetched["fields"] == used["fields"] and fetched["service"] == "开户"
    refused = run("licence", "fetch", licence, "--use", used["tx"], "--key", regulator)
    assert refused.exit_code == 1 and "forbidden" in refused.output
    again = run("licence", "use", str(auth), "--key", relying)
    assert again.exit_code == 1 and "authorisation_replayed" in again.output

    # 5. Suspend: the next use is refused.
    multi = tmp_path / "multi.json"
    ok(
        "licence", "authorise", "--bundle", str(bundle), "--holder-key", str(holder), "--org", "org1",
        "--service", "贷款", "--fields", "name", "--multi-use", "--out", str(multi),
    )  # fmt: skip
    ok("licence", "suspend", licence, "--reason", "涉嫌违规经营", "--key", issuer)
    assert status(licence) == "suspended"
    code, output = file_check(pdf)
    assert code == 1 and "(suspended)" in output
    suspended = tmp_path / "proof-suspended.json"
    ok("licence", "proof", licence, "--out", str(suspended))
    code, output = proof_check(suspended)
    assert code == 1 and "(status)" in output and "suspended" in output
    # The earlier proof still shows the licence valid at its own block, but not as a fresh answer.
    code, output = proof_check(early, "--max-age-hours", "0")
    assert code == 1 and "(stale)" in output
    assert vc_check(vc)[0] == 1 and "(suspended)" in vc_check(vc)[1]
    refused = run("licence", "use", str(multi), "--key", relying)
    assert refused.exit_code == 1 and "licence_not_valid" in refused.output
    # 6. Resume.
    ok("licence", "resume", licence, "--reason", "调查结束", "--key", issuer)
    assert status(licence) == "valid"
    assert vc_check(vc)[0] == 0
    ok("licence", "use", str(multi), "--key", relying)
    # A regulator never writes.
    refused = run("licence", "revoke", licence, "--reason", "x", "--key", regulator)
    assert refused.exit_code == 1 and "forbidden" in refused.output
    # 7. Revoke.
    ok("licence", "revoke", licence, "--reason", "吊销营业执照", "--key", issuer)
    assert status(licence) == "revoked"
    assert file_check(pdf)[0] == 1 and "(revoked)" in file_check(pdf)[1]
    assert vc_check(vc)[0] == 1 and "(revoked)" in vc_check(vc)[1]
    refused = run("licence", "resume", licence, "--reason", "x", "--key", issuer)
    assert refused.exit_code == 1 and "transition_forbidden" in refused.output
    history = json.loads(ok("licence", "history", licence, "--json"))
    assert [e["op"] for e in history] == ["issue", "suspend", "resume", "revoke"]

    # The regulator's audit: every use, per agency; and the counts per type and day.
    uses = json.loads(ok("licence", "uses", "--org", "org2", "--purpose", "年度检查", "--key", regulator))
    assert [(u["service"], u["org"]) for u in uses] == [("贷款", "org1"), ("开户", "org1")]
    stats = json.loads(ok("licence", "stats", "--purpose", "年度检查", "--key", regulator))
    counts = {row["op"]: row["count"] for row in stats if row["type"] == "BL"}
    assert counts == {"issue": 1, "use": 2, "suspend": 1, "resume": 1, "revoke": 1}
    # Personal data: the regulator reads it from the issuing node, and that read is on the record.
    data = json.loads(
        ok("licence", "personal", licence, "--org", "org2", "--purpose", "稽查", "--key", regulator)
    )
    assert data["fields"]["legal_rep"] == "张三" and data["holder_code"] == HOLDER_CODE
    # ... and so is getting the licence file back from the issuing node.
    copy = tmp_path / "copy.pdf"
    ok(
        "licence", "file", licence, "--org", "org2", "--purpose", "核查", "--key", regulator,
        "--out", str(copy),
    )  # fmt: skip
    assert copy.read_bytes() == pdf.read_bytes()
    refused = run("licence", "personal", licence, "--org", "org1", "--purpose", "x", "--key", regulator)
    assert refused.exit_code == 1 and "not_found" in refused.output  # org1 issued no such licence
    refused = run("licence", "personal", licence, "--org", "org2", "--purpose", "x", "--key", relying)
    assert refused.exit_code == 1 and "forbidden" in refused.output
    log = json.loads(ok("audit", "log", "--purpose", "check", "--key", regulator, "--json"))
    assert ("personal", "稽查") in [(e["query"], e["purpose"]) for e in log]
    # The bank may not read another agency's records.
    refused = run("licence", "uses", "--org", "org2", "--purpose", "curious", "--key", relying)
    assert refused.exit_code == 1 and "forbidden" in refused.output

    # No plaintext personal identifier anywhere in the block store (database and write-ahead log),
    # nor in the private store, which keeps the data encrypted at rest.
    files = list((consortium.parent / "node").glob("chain.db*")) + list(
        (consortium.parent / "node").glob("private.db*")
    )
    assert len(files) >= 2
    stored = b"".join(f.read_bytes() for f in files)
    for secret in (HOLDER_CODE, "张三"):
        assert secret.encode() not in stored
    assert "上海某某科技有限公司".encode() not in stored  # not personal, but off chain all the same

    # 8. Change and renew a second licence: each new version comes with its own file, and the older
    # files are then superseded.
    second, first_pdf = tmp_path / "second.json", tmp_path / "second-v1.pdf"
    ok(
        "licence", "issue", "--type", "BL", "--fields", str(fields), "--holder-code", HOLDER_CODE,
        "--holder-key", str(holder), "--key", issuer, "--out", str(second), "--pdf", str(first_pdf),
    )  # fmt: skip
    other = json.loads(second.read_text())["licence"]
    fields.write_text(json.dumps({"name": "上海某某科技有限公司", "credit_code": HOLDER_CODE}))
    changed, changed_pdf = tmp_path / "second-v2.json", tmp_path / "second-v2.pdf"
    ok(
        "licence", "change", "--bundle", str(second), "--fields", str(fields), "--reason", "变更",
        "--out", str(changed), "--pdf", str(changed_pdf), "--key", issuer,
    )  # fmt: skip
    renewed, renewed_pdf = tmp_path / "second-v3.json", tmp_path / "second-v3.pdf"
    ok(
        "licence", "renew", other, "--bundle", str(changed), "--valid-days", "365", "--reason", "延续",
        "--out", str(renewed), "--pdf", str(renewed_pdf), "--key", issuer,
    )  # fmt: skip
    assert file_check(renewed_pdf) == (0, f"VALID (valid): the file is version 3 of {other}, which is valid")
    for old, version in ((first_pdf, 1), (changed_pdf, 2)):
        assert file_check(old) == (1, f"NOT VALID (superseded): the file is version {version} of {other}, "
                                      "which is superseded")  # fmt: skip
    refused = run("licence", "renew", other, "--bundle", str(changed), "--valid-days", "30", "--reason", "x",
                  "--out", str(tmp_path / "x.json"), "--key", issuer)  # fmt: skip
    assert refused.exit_code == 1 and "conflict" in refused.output  # that bundle is no longer current


def test_private_store_requests_are_checked(consortium: Path, tmp_path: Path) -> None:
    """Deposits and fetches: each bad request gets its reason, and nothing is stored or shown."""
    register_type(consortium, tmp_path)
    url = os.environ["GOVCHAIN_NODE"]
    issuer = KeyFile.load(Path(member(consortium, "org2", "issuer", "bureau"))).keys
    bank = KeyFile.load(Path(member(consortium, "org1", "operator", "bank"))).keys
    licences = LicenceClient(Client(url, key=issuer))
    while not licences.types():
        licences.client.call("notary", "anchor", {"digest": os.urandom(32)})
    holder = licences.suite.generate_keypair()
    fields = {"name": "某某公司", "credit_code": HOLDER_CODE, "legal_rep": "李四"}
    bundle = licences.issue("BL", fields, HOLDER_CODE, holder.public, deposit=False)
    lid = bundle["licence"]

    def post(path: str, keys: KeyPair, body: dict[str, Any], purpose: str) -> tuple[int, str]:
        request = {"purpose": purpose, "chain": licences.client.chain.chain_id, "t": int(time.time() * 1000)}
        envelope = sign_request(licences.suite, keys, request | body)
        reply = httpx.post(f"{url}/v1/licences/{lid}/{path}", json=envelope)
        return reply.status_code, reply.json().get("error", {}).get("code", "ok")

    assert post("private", bank, {"bundle": bundle}, "licence/deposit") == (403, "forbidden")
    forged = bundle | {"fields": fields | {"legal_rep": "王五"}}
    assert post("private", issuer, {"bundle": forged}, "licence/deposit") == (400, "digest_mismatch")
    assert post("private", issuer, {"bundle": bundle}, "licence/fetch")[1] == "invalid_field"
    assert (
        httpx.post(f"{url}/v1/licences/{lid}/private", json={"body": 1}).json()["error"]["code"]
        == "malformed"
    )
    assert post("private", issuer, {"bundle": bundle}, "licence/deposit") == (200, "ok")

    presented = licences.authorise(holder, bundle, "org1", "开户", ["name"])
    rp = LicenceClient(Client(url, key=bank))
    used = rp.use(presented_from_json(json.loads(json.dumps(presented_to_json(presented)))))
    assert post("fetch", bank, {"use": bytes(32)}, "licence/fetch") == (404, "unknown_tx")
    assert post("fetch", bank, {"use": bytes.fromhex(bundle["tx"])}, "licence/fetch") == (400, "invalid_args")
    assert post("fetch", issuer, {"use": bytes.fromhex(used["tx"])}, "licence/fetch") == (403, "forbidden")
    assert rp.fetch(lid, bytes.fromhex(used["tx"]))["fields"] == {"name": "某某公司"}  # and nothing else
    try:
        LicenceClient(Client(url, key=bank)).deposit(bundle)
        raise AssertionError("a relying party deposited")
    except SdkError as exc:
        assert exc.code == "forbidden"
