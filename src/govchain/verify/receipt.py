"""Offline receipt verification, with nothing but `crypto`, `codec`, `merkle` and `smt`.

This module is the reference for third-party verifiers (and the portal's
JavaScript one): it decodes the raw CBOR maps itself rather than importing the
ledger, so every check below is visible in one file. docs/protocol.md,
"Receipts", lists the same steps.

Checks, in order, each with the failure class it reports:
1. the receipt is readable JSON of a known format and suite      -> `unreadable`
2. the genesis document hashes to the stated chain identity, the
   header and transaction name that chain, and (if given) it is the
   chain the caller trusts                                       -> `wrong_chain`
3. enough of the chain's signers signed the block header (the
   genesis signers, or the set reached by following the signer set
   changes the block carries, each certified by the set before it),
   and the sender signed the transaction                         -> `signature`
4. the (tx id, result hash) leaf is in the header's log, inside the
   block's own range; the result is a success; the document digest
   is what the transaction anchored (and in its batch)           -> `proof`
5. the file, if given, hashes to the anchored digest              -> `file_altered`
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from govchain import codec, merkle, smt
from govchain.crypto import Suite, get_suite

RECEIPT_FORMAT = "govchain-receipt"
RECEIPT_VERSION = 1
TX_DOMAIN = b"govchain-tx\x00"
HEADER_DOMAIN = b"govchain-header\x00"
SIGNERS_KEY_PREFIX = b"governance/signers/"
PROVABLE_STATE_ROOT_PREFIX = b"\x03"

_LOWER_HEX = re.compile(r"[0-9a-f]*")

UNREADABLE = "unreadable"
WRONG_CHAIN = "wrong_chain"
SIGNATURE = "signature"
PROOF = "proof"
FILE_ALTERED = "file_altered"


class ReceiptUnreadable(ValueError):
    """The input is not a receipt this verifier understands (CLI exit code 2)."""


@dataclass
class Verdict:
    """The outcome: `ok`, or the first failed check with its class and a plain explanation."""

    ok: bool
    failure: str | None = None
    message: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


class CheckFailed(Exception):
    def __init__(self, failure: str, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


def _hex(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or len(value) % 2 or not _LOWER_HEX.fullmatch(value):
        raise ReceiptUnreadable(f"{what} must be lowercase hex")
    data = bytes.fromhex(value)
    if size is not None and len(data) != size:
        raise ReceiptUnreadable(f"{what} must be {size} bytes")
    return data


def _int(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise ReceiptUnreadable(f"{what} must be a non-negative integer")
    return value


def _cbor_map(data: bytes, what: str, version: int | None = None) -> dict[str, Any]:
    try:
        value = codec.decode(data)
    except codec.CodecError as exc:
        raise ReceiptUnreadable(f"{what} is not canonical CBOR: {exc}") from None
    if type(value) is not dict:
        raise ReceiptUnreadable(f"{what} must be a CBOR map")
    if version is not None and (type(value.get("v")) is not int or value["v"] != version):
        raise ReceiptUnreadable(f"{what} is not version {version}")
    return value


def load_receipt(text: str | bytes) -> dict[str, Any]:
    try:
        receipt = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiptUnreadable(f"not JSON: {exc}") from None
    if not isinstance(receipt, dict) or receipt.get("format") != RECEIPT_FORMAT:
        raise ReceiptUnreadable(f"not a {RECEIPT_FORMAT} file")
    if type(receipt.get("version")) is not int or receipt["version"] != RECEIPT_VERSION:
        raise ReceiptUnreadable(
            f"receipt version {receipt.get('version')!r} is not supported (need {RECEIPT_VERSION})"
        )
    return receipt


def format_suite(document: dict[str, Any], name: str, version: int, what: str) -> Suite:
    """Check 1: a known format and version; the suite it names."""
    found = document.get("version")
    if document.get("format") != name or type(found) is not int or found != version:
        raise ReceiptUnreadable(f"not a {name} version {version} {what}")
    try:
        return get_suite(str(document.get("suite")))
    except ValueError:
        raise ReceiptUnreadable(f"unknown suite {document.get('suite')!r}") from None


def verify_receipt(
    receipt: dict[str, Any], file_bytes: bytes | None = None, trusted_genesis: bytes | None = None
) -> Verdict:
    """Check a parsed receipt. Raises ReceiptUnreadable for malformed input."""
    suite = format_suite(receipt, RECEIPT_FORMAT, RECEIPT_VERSION, "receipt")
    try:
        parts = _parse(receipt)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReceiptUnreadable(f"missing or malformed field: {exc}") from None
    try:
        facts = _check(suite, parts, file_bytes, trusted_genesis)
    except CheckFailed as exc:
        return Verdict(False, exc.failure, exc.message)
    return Verdict(True, None, "valid", facts)


def _parse(receipt: dict[str, Any]) -> dict[str, Any]:
    chain, block, tx, proof = receipt["chain"], receipt["block"], receipt["tx"], receipt["log_proof"]
    envelope = _hex(tx["envelope"], "tx.envelope") if tx.get("envelope") else None
    document = receipt.get("document")
    return {
        "genesis_bytes": _hex(chain["genesis"], "chain.genesis"),
        "genesis_hash": _hex(chain["genesis_hash"], "chain.genesis_hash", 32),
        "header_bytes": _hex(block["header"], "block.header"),
        "signer_changes": block.get("signer_changes"),
        "signatures": [
            (_hex(s["key"], "signature key", 65), _hex(s["sig"], "signature", 64))
            for s in block["signatures"]
        ],
        "tx_id": _hex(tx["id"], "tx.id", 32),
        "envelope": envelope,
        "result_bytes": _hex(receipt["result"], "result"),
        "index": _int(proof["index"], "log_proof.index"),
        "size": _int(proof["size"], "log_proof.size"),
        "path": [_hex(p, "log_proof.path", 32) for p in proof["path"]],
        "document": None
        if document is None
        else {
            "digest": _hex(document["digest"], "document.digest", 32),
            "batch_index": document.get("batch_index"),
            "batch_path": [_hex(p, "document.batch_path", 32) for p in document.get("batch_path") or []],
        },
    }


RECEIPT_HEADER = {"log_size": int, "tx_count": int, "height": int, "time": int, "log_root": bytes}


def check_block(
    suite: Suite,
    genesis_bytes: bytes,
    genesis: dict[str, Any],
    genesis_hash: bytes,
    header_bytes: bytes,
    header: dict[str, Any],
    signatures: list[tuple[bytes, bytes]],
    trusted_genesis: bytes | None,
    header_fields: dict[str, type],
    signer_changes: Any = None,
) -> set[bytes]:
    """Checks 2 and 3 for a signed block header (given raw and decoded): which chain, and a
    quorum of its signers (`signer_changes`: the block's list of them, or None when the genesis
    signers sign it). Returns the keys whose signatures verified. Shared by every offline
    proof that rests on a signed header (receipts, state proofs).
    """
    h = suite.hash
    signers_list = genesis.get("signers")
    if type(signers_list) is not list or any(type(k) is not bytes or len(k) != 65 for k in signers_list):
        raise ReceiptUnreadable("chain.genesis signers must be 65-byte public keys")
    for name, kind in header_fields.items():
        if type(header.get(name)) is not kind:
            what = "an integer" if kind is int else "bytes"
            raise ReceiptUnreadable(f"block.header field '{name}' must be {what}")

    # 2. which chain
    if h(genesis_bytes) != genesis_hash:
        raise CheckFailed(WRONG_CHAIN, "the genesis document does not hash to the stated chain identity")
    if trusted_genesis is not None and genesis_hash != trusted_genesis:
        raise CheckFailed(WRONG_CHAIN, "the receipt is from a different chain than the one you trust")
    if genesis.get("suite") != suite.name:
        raise CheckFailed(WRONG_CHAIN, "the receipt's suite is not the chain's suite")
    if header.get("chain") != genesis.get("chain"):
        raise CheckFailed(WRONG_CHAIN, "the block header names another chain")

    # 3. a quorum of the block's signers signed the header
    signers = set(signers_list)
    if signer_changes is not None:
        signers = follow_signer_changes(suite, genesis["chain"], signers, signer_changes, header["height"])
    return quorum_signed(suite, signers, header_bytes, signatures, "block header")


def quorum_signed(
    suite: Suite, signers: set[bytes], header_bytes: bytes, signatures: list[tuple[bytes, bytes]], what: str
) -> set[bytes]:
    """More than 2/3 of `signers` signed the header; the keys whose signatures verified."""
    quorum = len(signers) * 2 // 3 + 1
    good = {
        key
        for key, sig in signatures
        if key in signers and suite.verify(key, HEADER_DOMAIN + header_bytes, sig)
    }
    if len(good) < quorum:
        raise CheckFailed(SIGNATURE, f"{what} has {len(good)} valid signer signatures; {quorum} required")
    return good


def follow_signer_changes(
    suite: Suite, chain: Any, genesis_signers: set[bytes], changes: Any, height: int
) -> set[bytes]:
    """The signer set of block `height`, from the genesis signers through each change in turn
    (docs/protocol.md, "Signer set changes"): a change is the block that recorded it, signed by a
    quorum of the set in force there, whose state holds `governance/signers/<from>` = the new set."""
    if type(changes) is not list or not changes:
        raise ReceiptUnreadable("block.signer_changes must be a non-empty list")
    h = suite.hash
    current, last = genesis_signers, 0
    for n, item in enumerate(changes, start=1):
        what = f"signer change {n}"
        try:
            start = _int(item["from"], f"{what} 'from'")
            if start >= 1 << 64:
                raise ReceiptUnreadable(f"{what} 'from' must fit in 8 bytes")
            keys = [_hex(k, f"{what} signers", 65) for k in item["signers"]]
            header_bytes = _hex(item["block"]["header"], f"{what} header")
            signatures = [
                (_hex(s["key"], "signature key", 65), _hex(s["sig"], "signature", 64))
                for s in item["block"]["signatures"]
            ]
            parts = [
                _hex(item["state"][k], f"{what} state", 32)
                for k in ("previous", "write_set", "provable_root")
            ]
            siblings = tuple(_hex(x, f"{what} proof", 32) for x in item["proof"]["siblings"])
            other = item["proof"]["other_leaf"]
        except (KeyError, TypeError) as exc:
            raise ReceiptUnreadable(f"{what}: missing or malformed field: {exc}") from None
        header = _cbor_map(header_bytes, f"{what} header", 1)
        at, state_root = header.get("height"), header.get("state_root")
        if type(at) is not int or type(state_root) is not bytes or other is not None:
            raise ReceiptUnreadable(f"{what}: the header needs a height and state root, the proof a leaf")
        if header.get("chain") != chain:
            raise CheckFailed(WRONG_CHAIN, f"{what}: the header names another chain")
        if not last <= at < start:
            raise CheckFailed(
                SIGNATURE,
                f"{what}: recorded at block {at}, not between the previous change ({last}) and {start}",
            )
        if not keys or keys != sorted(set(keys)):
            raise CheckFailed(SIGNATURE, f"{what}: the new signer set is empty, unsorted or repeats a key")
        quorum_signed(suite, current, header_bytes, signatures, f"{what} (block {at})")
        if h(PROVABLE_STATE_ROOT_PREFIX + b"".join(parts)) != state_root:
            raise CheckFailed(SIGNATURE, f"{what}: the state parts do not make block {at}'s state root")
        key = SIGNERS_KEY_PREFIX + start.to_bytes(8, "big")
        if not smt.verify(h, parts[2], h(key), h(codec.encode(keys)), smt.Proof(siblings)):
            raise CheckFailed(
                SIGNATURE, f"{what}: block {at}'s state does not hold this signer set from {start}"
            )
        current, last = set(keys), start
    if height < last:
        raise CheckFailed(
            SIGNATURE, f"the block ({height}) is older than its last signer set change ({last})"
        )
    return current


def _check(
    suite: Suite, p: dict[str, Any], file_bytes: bytes | None, trusted_genesis: bytes | None
) -> dict[str, Any]:
    h = suite.hash
    genesis = _cbor_map(p["genesis_bytes"], "chain.genesis", 1)
    header = _cbor_map(p["header_bytes"], "block.header", 1)
    result = _cbor_map(p["result_bytes"], "result", 1)
    good = check_block(
        suite,
        p["genesis_bytes"],
        genesis,
        p["genesis_hash"],
        p["header_bytes"],
        header,
        p["signatures"],
        trusted_genesis,
        RECEIPT_HEADER,
        p["signer_changes"],
    )

    # 3. the sender's signature
    body: dict[str, Any] | None = None
    if p["envelope"] is not None:
        envelope = _cbor_map(p["envelope"], "tx.envelope")
        body_bytes = envelope.get("body")
        if type(body_bytes) is not bytes:
            raise ReceiptUnreadable("tx.envelope has no body")
        if h(body_bytes) != p["tx_id"]:
            raise CheckFailed(PROOF, "the transaction does not match its id")
        body = _cbor_map(body_bytes, "tx.body")
        sender, sig = body.get("from"), envelope.get("sig")
        if (
            type(sender) is not bytes
            or type(sig) is not bytes
            or not suite.verify(sender, TX_DOMAIN + body_bytes, sig)
        ):
            raise CheckFailed(SIGNATURE, "the transaction's signature does not verify")
        if body.get("chain") != genesis.get("chain"):
            raise CheckFailed(WRONG_CHAIN, "the transaction names another chain")

    # 4. proofs: the log, the result, the document
    size, index = p["size"], p["index"]
    if size != header["log_size"] or not size - header["tx_count"] <= index < size:
        raise CheckFailed(PROOF, "the log position is not inside the signed block")
    leaf = merkle.leaf_hash(h, p["tx_id"] + h(p["result_bytes"]))
    if not merkle.verify_inclusion(h, leaf, index, size, p["path"], header["log_root"]):
        raise CheckFailed(PROOF, "the Merkle inclusion proof does not match the signed log root")
    if result.get("code") != "ok":
        raise CheckFailed(PROOF, f"the transaction failed on chain ({result.get('code')})")
    document = p["document"]
    if document is not None:
        _check_document(h, document, body, result)

    # 5. the file itself
    if file_bytes is not None:
        if document is None:
            raise ReceiptUnreadable("this receipt anchors no document, so there is no file to compare")
        if h(file_bytes) != document["digest"]:
            raise CheckFailed(
                FILE_ALTERED, "the file's digest differs from the anchored digest: the file was altered"
            )

    return {
        "chain_id": genesis.get("chain"),
        "genesis_hash": p["genesis_hash"].hex(),
        "height": header.get("height"),
        "time_ms": header.get("time"),
        "tx_id": p["tx_id"].hex(),
        "signers": len(good),
        "digest": None if document is None else document["digest"].hex(),
    }


def _check_document(
    h: Any, document: dict[str, Any], body: dict[str, Any] | None, result: dict[str, Any]
) -> None:
    digest, batch_index = document["digest"], document["batch_index"]
    data = result.get("data")
    expected_method = "anchor" if batch_index is None else "anchor_batch"
    is_notary = result.get("contract") == "notary" and result.get("method") == expected_method
    if not is_notary or type(data) is not dict:
        raise CheckFailed(PROOF, f"the transaction is not a notary {expected_method}")
    if batch_index is None:
        if body is None or body.get("args", {}).get("digest") != digest:
            raise CheckFailed(PROOF, "the transaction did not anchor this digest")
        return
    if (
        type(batch_index) is not int
        or type(data.get("root")) is not bytes
        or type(data.get("count")) is not int
    ):
        raise CheckFailed(PROOF, "the result holds no batch root for this document")
    leaf = merkle.leaf_hash(h, digest)
    if not merkle.verify_inclusion(h, leaf, batch_index, data["count"], document["batch_path"], data["root"]):
        raise CheckFailed(PROOF, "the document is not in the anchored batch")
    if body is not None:
        digests = body.get("args", {}).get("digests") or []
        if batch_index >= len(digests) or digests[batch_index] != digest:
            raise CheckFailed(PROOF, "the transaction did not anchor this digest at this position")
