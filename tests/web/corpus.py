"""A corpus of receipts, valid and tampered, with the Python verifier's verdict on each.

The in-browser verifier must reach the same verdict (valid, or the same failure class)
on every case, for both suites. Receipts come from a real in-process node; tampering is
done on the JSON or on the decoded CBOR, the way an attacker or a broken copy would.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from govchain import codec
from govchain.api.app import create_app
from govchain.contracts import default_registry
from govchain.ledger.transactions import make_tx
from govchain.node.chain import create_dev_chain
from govchain.node.node import Node
from govchain.verify.receipt import ReceiptUnreadable, load_receipt, verify_receipt

CBOR = {"content-type": "application/cbor"}


@dataclass(frozen=True)
class Case:
    name: str
    receipt: str  # the receipt file's text
    file: bytes | None
    trusted: str | None  # a pinned genesis hash (hex)
    valid: bool
    failure: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "receipt": self.receipt,
            "file": None if self.file is None else self.file.hex(),
            "trusted": self.trusted,
        }


def python_verdict(text: str, file: bytes | None, trusted: str | None) -> tuple[bool, str | None]:
    try:
        verdict = verify_receipt(
            load_receipt(text), file, None if trusted is None else bytes.fromhex(trusted)
        )
    except ReceiptUnreadable:
        return False, "unreadable"
    return verdict.ok, verdict.failure


def _flip(hex_text: str, at: int = -1) -> str:
    """Change one hex digit (the last by default): one altered byte."""
    pos = at % len(hex_text)
    digit = "0" if hex_text[pos] != "0" else "1"
    return hex_text[:pos] + digit + hex_text[pos + 1 :]


def _recode(hex_cbor: str, change: Callable[[dict[str, Any]], None]) -> str:
    value = codec.decode(bytes.fromhex(hex_cbor))
    change(value)
    return str(codec.encode(value).hex())


def _chain_receipts(base: Path, suite_name: str) -> tuple[dict[str, Any], bytes, dict[str, Any], bytes]:
    """(single-anchor receipt, its file, batch receipt, its file) from a node with a few blocks."""
    create_dev_chain(base, suite_name)
    node = Node(base, default_registry())
    node.start()
    try:
        with TestClient(create_app(node)) as client:
            suite = node.suite
            keys = suite.generate_keypair()
            chain_id = node.genesis.chain_id

            def send(method: str, args: dict[str, Any]) -> str:
                expiry = int(time.time() * 1000) + 60_000
                tx = make_tx(suite, keys, chain_id, "notary", method, args, expiry)
                reply = client.post("/v1/txs", content=tx.raw, headers=CBOR, params={"wait": "true"})
                assert reply.status_code == 200 and reply.json()["code"] == "ok", reply.text
                return tx.id.hex()

            for _ in range(3):  # earlier transactions, so the log proof has a path
                send("anchor", {"digest": secrets.token_bytes(32)})
            single_file = "租赁合同 v1\n".encode() + secrets.token_bytes(8)
            single_tx = send("anchor", {"digest": suite.hash(single_file), "meta": {"title": "合同"}})
            batch_files = [f"档案 {i}".encode() for i in range(5)]
            batch_tx = send("anchor_batch", {"digests": [suite.hash(f) for f in batch_files]})
            single = client.get(f"/v1/txs/{single_tx}/receipt").json()
            digest = suite.hash(batch_files[3]).hex()
            batch = client.get(f"/v1/txs/{batch_tx}/receipt", params={"digest": digest}).json()
            return single, single_file, batch, batch_files[3]
    finally:
        node.stop()


def _signer_change_receipt(base: Path, suite_name: str) -> dict[str, Any]:
    """A receipt from a consortium chain after governance added an org whose peer signs
    (docs/protocol.md 6.5): its block carries one signer set change."""
    from govchain.crypto.keyfile import KeyFile
    from govchain.node.chain import adopt_genesis
    from govchain.node.consortium import GENESIS_FILE, init_consortium
    from tests.conftest import Env
    from tests.test_signer_sets import _joined

    out = base / "cons"
    init_consortium(out, 3, suite_name)
    adopt_genesis(
        base / "peer", (out / GENESIS_FILE).read_bytes(), KeyFile.load(out / "org1" / "peer-key.json")
    )
    node = Node(base / "peer", default_registry())
    node.start()
    try:
        with TestClient(create_app(node)) as client:
            return _joined(Env(client, node, out))[2]
    finally:
        node.stop()


def build_corpus(base: Path, suite_name: str) -> list[Case]:
    single, single_file, batch, batch_file = _chain_receipts(base / "dev", suite_name)
    changed = _signer_change_receipt(base / "consortium", suite_name)
    other = "intl" if suite_name == "gm" else "gm"
    cases: list[tuple[str, Any, bytes | None, str | None]] = []

    def add(name: str, receipt: Any, file: bytes | None = None, trusted: str | None = None) -> None:
        text = receipt if isinstance(receipt, str) else json.dumps(receipt, ensure_ascii=False)
        cases.append((name, text, file, trusted))

    def tampered(source: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        r = copy.deepcopy(source)
        change(r)
        return r

    altered = bytearray(single_file)
    altered[0] ^= 0x01
    add("valid", single, single_file)
    add("valid, no file", single)
    add("valid, pinned chain", single, single_file, single["chain"]["genesis_hash"])
    add("file altered", single, bytes(altered))
    add("file with a byte appended", single, single_file + b"\n")
    add("other pinned chain", single, single_file, "ab" * 32)
    add("batch member", batch, batch_file)
    add("batch member, altered file", batch, batch_file + b"!")
    add("batch index moved", tampered(batch, lambda r: r["document"].update(batch_index=2)), batch_file)
    add(
        "batch path flipped",
        tampered(
            batch,
            lambda r: r["document"].update(
                batch_path=[_flip(batch["document"]["batch_path"][0]), *batch["document"]["batch_path"][1:]]
            ),
        ),
    )
    add("batch index as float", tampered(batch, lambda r: r["document"].update(batch_index=3.0)))
    add(
        "header signature flipped",
        tampered(
            single,
            lambda r: r["block"]["signatures"][0].update(sig=_flip(r["block"]["signatures"][0]["sig"], 5)),
        ),
    )
    add("no header signatures", tampered(single, lambda r: r["block"].update(signatures=[])))
    add(
        "signature by a stranger",
        tampered(single, lambda r: r["block"]["signatures"][0].update(key=single["summary"]["sender"])),
    )
    add(
        "genesis hash changed",
        tampered(single, lambda r: r["chain"].update(genesis_hash=_flip(r["chain"]["genesis_hash"]))),
    )
    add(
        "header tx_count changed",
        tampered(
            single,
            lambda r: r["block"].update(
                header=_recode(r["block"]["header"], lambda h: h.update(tx_count=h["tx_count"] + 1))
            ),
        ),
    )
    add(
        "header names another chain",
        tampered(
            single,
            lambda r: r["block"].update(
                header=_recode(r["block"]["header"], lambda h: h.update(chain="elsewhere"))
            ),
        ),
    )
    add(
        "log path flipped",
        tampered(single, lambda r: r["log_proof"].update(path=[_flip(p) for p in r["log_proof"]["path"]])),
    )
    add(
        "log index moved",
        tampered(single, lambda r: r["log_proof"].update(index=r["log_proof"]["index"] - 1)),
    )
    add(
        "log size changed", tampered(single, lambda r: r["log_proof"].update(size=r["log_proof"]["size"] + 1))
    )
    add(
        "result code changed",
        tampered(single, lambda r: r.update(result=_recode(r["result"], lambda v: v.update(code="denied")))),
    )
    add("tx id changed", tampered(single, lambda r: r["tx"].update(id=_flip(r["tx"]["id"]))))
    add("envelope dropped", tampered(single, lambda r: r["tx"].update(envelope=None)))
    add(
        "envelope signature flipped",
        tampered(
            single,
            lambda r: r["tx"].update(
                envelope=_recode(
                    r["tx"]["envelope"], lambda e: e.update(sig=bytes([e["sig"][0] ^ 1]) + e["sig"][1:])
                )
            ),
        ),
    )
    add(
        "document digest changed",
        tampered(single, lambda r: r["document"].update(digest=_flip(r["document"]["digest"]))),
    )
    add("suite swapped", tampered(single, lambda r: r.update(suite=other)))
    add("no document but a file", tampered(single, lambda r: r.pop("document")), single_file)
    add("uppercase hex", tampered(single, lambda r: r["tx"].update(id=r["tx"]["id"].upper())))
    add("odd-length hex", tampered(single, lambda r: r.update(result=r["result"][:-1])))
    add("index is a string", tampered(single, lambda r: r["log_proof"].update(index="3")))
    add("index is a float", tampered(single, lambda r: r["log_proof"].update(index=3.0)))
    add("missing block", tampered(single, lambda r: r.pop("block")))
    add("version 2", tampered(single, lambda r: r.update(version=2)))
    add("unknown suite", tampered(single, lambda r: r.update(suite="rot13")))
    add(
        "header not canonical",
        tampered(single, lambda r: r["block"].update(header=r["block"]["header"] + "00")),
    )
    add("version 1.0", json.dumps(single).replace('"version": 1,', '"version": 1.0,', 1))
    add("huge log index", tampered(single, lambda r: r["log_proof"].update(index=2**70)))
    add("receipt is a list", "[1, 2]")

    def change(update: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        return tampered(changed, lambda r: update(r["block"]["signer_changes"][0]))

    first = changed["block"]["signer_changes"][0]
    stranger = single["block"]["signatures"][0]  # a valid signature, by a key outside the set
    add("signer change", changed)
    add("signer change: a key added to the set", change(lambda c: c["signers"].append(stranger["key"])))
    add("signer change: a key dropped from the set", change(lambda c: c["signers"].pop()))
    add("signer change: certified by a stranger", change(lambda c: c["block"].update(signatures=[stranger])))
    add(
        "signer change: state part flipped",
        change(lambda c: c["state"].update(previous=_flip(first["state"]["previous"]))),
    )
    add(
        "signer change: a sibling added",
        change(lambda c: c["proof"].update(siblings=[*first["proof"]["siblings"], "00" * 32])),
    )
    add(
        "signer change: after the block", change(lambda c: c.update({"from": changed["block"]["height"] + 1}))
    )
    add("signer change: before its own block", change(lambda c: c.update({"from": 1})))
    add("signer change: from as float", change(lambda c: c.update({"from": float(c["from"])})))
    add("signer change: from too large", change(lambda c: c.update({"from": 2**64})))
    add(
        "signer change: other leaf",
        change(lambda c: c["proof"].update(other_leaf=[first["state"]["previous"]] * 2)),
    )
    add("signer changes empty", tampered(changed, lambda r: r["block"].update(signer_changes=[])))
    add("signer changes left out", tampered(changed, lambda r: r["block"].pop("signer_changes")))
    add("not JSON", "{not json")
    add("JSON but not a receipt", '{"hello": "world"}')
    out = []
    for name, text, file, trusted in cases:
        valid, failure = python_verdict(text, file, trusted)
        out.append(Case(f"{suite_name}: {name}", text, file, trusted, valid, failure))
    return out
