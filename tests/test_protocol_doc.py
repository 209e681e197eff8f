"""Every hex vector in the spec is reproduced by the code, so the spec cannot drift.

docs/protocol.md prints byte encodings, hashes, Merkle roots and signatures, mostly in the
worked examples of section 13. This module rebuilds all of them in-process from the spec's
fixed inputs (private key 12345, H("hello, govchain\\n"), nonce 00..0f, the stated times) and
checks that:

- every hex token of 16 or more digits in the spec is, byte for byte, (part of) a rebuilt value;
- every abbreviated token such as `abcd…ef01` matches a rebuilt value;
- the Merkle proof rows list the proof hashes the code produces, in the same order;
- every signature the spec prints verifies with the suites (ECDSA and SM2 signatures are
  randomised, so they cannot be rebuilt, only checked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from govchain import codec, merkle
from govchain.contracts.notary.contract import CONTRACT
from govchain.crypto import Suite, get_suite
from govchain.crypto.gm import SM2_ORDER
from govchain.ledger.blocks import HEADER_DOMAIN, Genesis, Header, genesis_header
from govchain.ledger.contracts import Registry
from govchain.ledger.state_transition import ChainContext, Parent, apply_block
from govchain.ledger.transactions import TX_DOMAIN, TxBody, envelope_bytes, sign_tx
from govchain.state import write_set_root

DOC_PATH = Path(__file__).parents[1] / "docs" / "protocol.md"

# The fixed inputs of the worked examples (sections 13.1 to 13.3 and 13.5).
PRIVATE_KEY = (12345).to_bytes(32, "big")
CHAIN_ID = "example"
DIGESTED_TEXT = b"hello, govchain\n"
NONCE = bytes(range(16))
EXPIRY_MS = 1_700_000_060_000
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK1_TIME_MS = 1_700_000_001_000
MERKLE_LEAF_DATA = [bytes([i]) for i in range(5)]

# Curve constants the spec quotes or needs, from the standards rather than from the code.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # FIPS 186-4, D.1.2.3
SM2_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")  # GB/T 32918.5
SM2_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
SM2_GX = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
SM2_GY = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
SM2_DEFAULT_ID = b"1234567812345678"  # GM/T 0009

# Tokens that look like hex but are text: the spec quotes the SM2 ID as a string.
NOT_HEX_VECTORS = frozenset({SM2_DEFAULT_ID.decode()})
SIGNATURE_HEX_DIGITS = 128  # r || s, 64 bytes, in both suites

# How the spec wraps long values: a fenced block of nothing but hex lines is one value, and so
# is `sig = <64 digits>` continued by 64 more digits on the next line.
_HEX_BLOCK = re.compile(r"```\n((?:[0-9a-f]+\n)+)```")
_WRAPPED_SIG = re.compile(r"sig = ([0-9a-f]{64})\n\s+([0-9a-f]{64})")
_HEX_TOKEN = re.compile(r"(?<![0-9A-Za-z_])([0-9a-f]{16,})(?![0-9A-Za-z_])")
_ABBREVIATED = re.compile(r"([0-9a-f]{4,8})…([0-9a-f]{4,8})")
_PROOF_ROW = re.compile(
    r"^\| (?:inclusion proof, index (?P<index>\d+), size (?P<size>\d+)"
    r"|consistency proof (?P<old>\d+) → (?P<new>\d+)) \| (?P<cell>.*) \|$",
    re.MULTILINE,
)
_PROOF_ITEM = re.compile(r"`([0-9a-f]+)(?:…([0-9a-f]+))?`")


# --------------------------------------------------------------------------- rebuilding the vectors


class _EmptyChain:
    """Committed data for block 1: no state and no transactions yet."""

    def state_get(self, key: bytes) -> bytes | None:
        return None

    def known_txs(self, tx_ids: Sequence[bytes]) -> set[bytes]:
        return set()


@dataclass(frozen=True)
class SignedMessage:
    """A message the spec may print a signature over, and who signed it."""

    label: str
    suite: Suite
    public_key: bytes
    message: bytes


@dataclass(frozen=True)
class Example:
    """The worked example on one suite: a notary anchor, committed in block 1 of a fresh chain."""

    values: dict[str, bytes]
    body_bytes: bytes
    signed: tuple[SignedMessage, ...]


def sm2_z(suite: Suite, public_key: bytes) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) for the default ID (GB/T 32918.2)."""
    entl = (8 * len(SM2_DEFAULT_ID)).to_bytes(2, "big")
    return suite.hash(entl + SM2_DEFAULT_ID + SM2_A + SM2_B + SM2_GX + SM2_GY + public_key[1:])


def build_example(suite_name: str) -> Example:
    """Sections 13.1 and 13.2 (and 13.3 for `gm`): the transaction, genesis and block 1."""
    suite = get_suite(suite_name)
    h = suite.hash
    public_key = suite.public_key(PRIVATE_KEY)
    digest = h(DIGESTED_TEXT)
    body = TxBody(
        chain=CHAIN_ID,
        sender=public_key,
        contract="notary",
        method="anchor",
        args={"digest": digest, "meta": {"title": "demo"}},
        nonce=NONCE,
        expiry=EXPIRY_MS,
    )
    tx = sign_tx(suite, PRIVATE_KEY, body)  # the signature is random; only its validity matters
    signing_input = tx.signing_input()
    # The value the signature scheme signs: ECDSA takes H(input), SM2 takes SM3(Z || input).
    e = h(sm2_z(suite, public_key) + signing_input) if suite_name == "gm" else h(signing_input)

    genesis = Genesis(chain_id=CHAIN_ID, suite=suite_name, time=GENESIS_TIME_MS, signers=(public_key,))
    block0 = genesis_header(suite, genesis, merkle.empty_root(h))
    chain = ChainContext(suite, genesis, Registry([CONTRACT]))
    outcome = apply_block(chain, Parent(block0, ()), BLOCK1_TIME_MS, [tx], [True], _EmptyChain())
    assert not outcome.dropped, outcome.dropped
    (result_bytes,) = outcome.result_bytes
    ((state_key, state_value),) = outcome.writes.items()
    assert state_value is not None
    header = outcome.header
    header_bytes = header.encode()

    values = {
        "empty root": merkle.empty_root(h),
        "public key": public_key,
        "digest": digest,
        "body": tx.body_bytes,
        "tx id": tx.id,
        "e": e,
        "genesis": genesis.encode(),
        "genesis hash": h(genesis.encode()),
        "genesis block header": block0.encode(),
        "genesis block hash": block0.hash(suite),
        "result": result_bytes,
        "result hash": h(result_bytes),
        "state key": state_key,
        "state value": state_value,
        "write-set leaf data": codec.encode_unchecked([state_key, state_value]),
        "write-set root": write_set_root(h, outcome.writes),
        "state root": header.state_root,
        "tx root": header.tx_root,
        "result root": header.result_root,
        "log root": header.log_root,
        "block 1 header": header_bytes,
        "block 1 hash": header.hash(suite),
    }
    if suite_name == "gm":
        values["Z"] = sm2_z(suite, public_key)
    signed = (
        SignedMessage(f"{suite_name} transaction", suite, public_key, signing_input),
        SignedMessage(f"{suite_name} block 1 header", suite, public_key, HEADER_DOMAIN + header_bytes),
    )
    return Example({f"{suite_name} {name}": v for name, v in values.items()}, tx.body_bytes, signed)


def merkle_leaf_hashes() -> list[bytes]:
    return merkle.hash_leaves(get_suite("intl").hash, MERKLE_LEAF_DATA)


def merkle_values() -> dict[str, bytes]:
    """Section 13.5: leaf hashes and roots of the SHA-256 trees over leaf data 00..04."""
    h = get_suite("intl").hash
    leaves = merkle_leaf_hashes()
    values = {f"leaf hash {i}": leaf for i, leaf in enumerate(leaves)}
    for size in range(1, len(leaves) + 1):
        values[f"root, size {size}"] = merkle.root_from_leaf_hashes(h, leaves[:size])
    return values


def constant_values() -> dict[str, bytes]:
    """Domain separators, curve orders, the example key and the tiny header of section 13.4."""
    zero = bytes(32)
    tiny = Header(
        chain="c",
        height=1,
        prev=zero,
        time=0,
        tx_count=0,
        tx_root=zero,
        result_root=zero,
        state_root=zero,
        log_size=0,
        log_root=zero,
    )
    return {
        "TX_DOMAIN": TX_DOMAIN,
        "HEADER_DOMAIN": HEADER_DOMAIN,
        "P-256 order": P256_ORDER.to_bytes(32, "big"),
        "SM2 order": SM2_ORDER.to_bytes(32, "big"),
        "private key": PRIVATE_KEY,
        "tiny header": tiny.encode(),
    }


# --------------------------------------------------------------------------- reading the spec


def unwrap_hex(doc: str) -> str:
    """The spec with each line-wrapped hex value joined back into one `token`."""
    text = _HEX_BLOCK.sub(lambda m: "`" + m[1].replace("\n", "") + "`", doc)
    return _WRAPPED_SIG.sub(r"sig = `\1\2`", text)


def hex_tokens(doc: str) -> list[str]:
    return [t for t in _HEX_TOKEN.findall(unwrap_hex(doc)) if t not in NOT_HEX_VECTORS]


def abbreviated_tokens(doc: str) -> list[tuple[str, str]]:
    return _ABBREVIATED.findall(unwrap_hex(doc))


def wrapped_signature(doc: str) -> bytes:
    """The transaction signature of section 13.1 (`sig = ...`), which its envelope contains."""
    match = _WRAPPED_SIG.search(doc)
    assert match, "docs/protocol.md has no `sig = ` block (section 13.1)"
    return bytes.fromhex(match[1] + match[2])


def where(doc: str, token: str) -> str:
    """`line N: token` for a message; N is where the token (or its first line, if wrapped) starts."""
    offset = doc.find(token[:16])
    line = doc.count("\n", 0, offset) + 1 if offset >= 0 else "?"
    shown = token if len(token) <= 80 else f"{token[:72]}… ({len(token)} digits)"
    return f"line {line}: {shown}"


def unreproduced(tokens: Iterable[str], values: Iterable[bytes]) -> list[str]:
    """The tokens that are not, byte-aligned, inside any of `values`."""
    pool = list(values)
    missing = []
    for token in tokens:
        if len(token) % 2 or not any(bytes.fromhex(token) in value for value in pool):
            missing.append(token)
    return missing


def matches_abbreviation(prefix: str, suffix: str, value: bytes) -> bool:
    return re.search(f"{prefix}[0-9a-f]*{suffix}", value.hex()) is not None


def verifying_labels(signature: str, signed: Iterable[SignedMessage]) -> list[str]:
    sig = bytes.fromhex(signature)
    return [s.label for s in signed if s.suite.verify(s.public_key, s.message, sig)]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def doc() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def examples() -> dict[str, Example]:
    return {name: build_example(name) for name in ("intl", "gm")}


@pytest.fixture
def reproduced(doc: str, examples: dict[str, Example]) -> dict[str, bytes]:
    """Every value the code rebuilds, by name.

    The 13.1 envelope wraps the spec's own (randomised) signature around the rebuilt body; that
    signature is checked separately, by `test_every_signature_in_the_spec_verifies`.
    """
    values = constant_values() | merkle_values()
    for example in examples.values():
        values |= example.values
    values["intl envelope"] = envelope_bytes(examples["intl"].body_bytes, wrapped_signature(doc))
    return values


# --------------------------------------------------------------------------- tests


def test_every_hex_vector_is_reproduced(doc: str, reproduced: dict[str, bytes]) -> None:
    tokens = [t for t in hex_tokens(doc) if len(t) != SIGNATURE_HEX_DIGITS]
    assert tokens, "found no hex vectors in docs/protocol.md"
    missing = unreproduced(tokens, reproduced.values())
    assert not missing, "hex in docs/protocol.md that the code does not reproduce:\n" + "\n".join(
        where(doc, t) for t in missing
    )


def test_every_abbreviated_vector_matches(doc: str, reproduced: dict[str, bytes]) -> None:
    pairs = abbreviated_tokens(doc)
    assert pairs, "found no abbreviated hex (`abcd…ef01`) in docs/protocol.md"
    unmatched = [
        f"{prefix}…{suffix}"
        for prefix, suffix in pairs
        if not any(matches_abbreviation(prefix, suffix, v) for v in reproduced.values())
    ]
    assert not unmatched, "abbreviated hex in docs/protocol.md matching no reproduced value:\n" + "\n".join(
        where(doc, t) for t in unmatched
    )


def test_merkle_proof_rows_list_the_proof_in_order(doc: str) -> None:
    h = get_suite("intl").hash
    leaves = merkle_leaf_hashes()
    rows = list(_PROOF_ROW.finditer(doc))
    assert rows, "found no Merkle proof rows in section 13.5 of docs/protocol.md"
    for row in rows:
        if row["index"] is not None:
            proof = merkle.inclusion_proof(h, leaves[: int(row["size"])], int(row["index"]))
        else:
            proof = merkle.consistency_proof(h, leaves, int(row["old"]), int(row["new"]))
        items = _PROOF_ITEM.findall(row["cell"])
        listed = [f"{prefix}…{suffix}" if suffix else prefix for prefix, suffix in items]
        expected = [p.hex() for p in proof]
        agrees = len(items) == len(expected) and all(
            value.startswith(prefix) and value.endswith(suffix)
            for (prefix, suffix), value in zip(items, expected, strict=True)
        )
        assert agrees, f"{row[0]}\nthe spec lists {listed},\nthe code gives {expected}"


def test_every_signature_in_the_spec_verifies(doc: str, examples: dict[str, Example]) -> None:
    signatures = [t for t in hex_tokens(doc) if len(t) == SIGNATURE_HEX_DIGITS]
    assert signatures, "found no signatures in docs/protocol.md"
    signed = [s for example in examples.values() for s in example.signed]
    bad = [t for t in signatures if not verifying_labels(t, signed)]
    assert not bad, (
        "signatures in docs/protocol.md that verify over none of "
        f"{[s.label for s in signed]}:\n" + "\n".join(where(doc, t) for t in bad)
    )
    assert verifying_labels(wrapped_signature(doc).hex(), signed) == ["intl transaction"]


def test_block1_roots_follow_the_formulas_in_the_spec(examples: dict[str, Example]) -> None:
    """Section 13.2 spells out how block 1's roots are made from the tx id and result hash."""
    h = get_suite("intl").hash
    v = examples["intl"].values
    assert v["intl state root"] == h(b"\x02" + bytes(32) + v["intl write-set root"])
    assert v["intl tx root"] == h(b"\x00" + v["intl tx id"])
    assert v["intl result root"] == h(b"\x00" + v["intl result hash"])
    assert v["intl log root"] == h(b"\x00" + v["intl tx id"] + v["intl result hash"])
