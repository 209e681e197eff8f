"""The notary contract (存证): anchor document digests and find them again.

Methods
- `anchor {digest, meta?}`: one document. `digest` is the chain suite's hash of
  the file (SHA-256 or SM3), 32 bytes.
- `anchor_batch {digests, meta?}`: up to 10,000 documents in one transaction. The
  result carries the RFC 9162 root over the digests (leaf i = H(0x00 || digest_i)),
  so each file later gets its own inclusion proof inside the batch.

State (under the contract's namespace)
- `d/<digest><height: 8 bytes big-endian><tx id>` -> `{"i": index in batch or -1,
  "t": time}`, one entry per anchoring, so the same file may be anchored more
  than once, and a lookup by digest is a prefix scan that lists the oldest first.
- On a consortium chain, also `o/<org>/<height: 8 bytes><tx id>` -> `{"n": count,
  "t": time}`: which organisation anchored what. That is restricted data: only
  the organisation itself and regulators read it, through an audited read
  (`by_org`, contracts/audit).

Only digests and the caller's metadata go on chain, never the file itself; the
metadata is public, so it must not hold personal data (docs/notary.md).
"""

from __future__ import annotations

from typing import Any

from govchain import codec, merkle
from govchain.crypto import Suite
from govchain.crypto.x509 import ROLES
from govchain.ledger import errors
from govchain.ledger.contracts import Context, Contract, RestrictedQuery
from govchain.ledger.membership import ReadPolicy
from govchain.state import ReadView

NAME = "notary"
DIGEST_SIZE = 32
MAX_BATCH = 10_000
MAX_META_BYTES = 4096
MAX_LOOKUP = 100


def _meta(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    meta = args.get("meta", {})
    if type(meta) is not dict:
        ctx.fail(errors.INVALID_ARGS, "'meta' must be a map")
    if meta and len(codec.encode(meta)) > MAX_META_BYTES:
        ctx.fail(errors.INVALID_ARGS, f"'meta' is larger than {MAX_META_BYTES} bytes")
    return meta


def _check_digest(ctx: Context, digest: Any, where: str) -> bytes:
    if type(digest) is not bytes or len(digest) != DIGEST_SIZE:
        ctx.fail(errors.INVALID_ARGS, f"{where} must be a {DIGEST_SIZE}-byte digest")
    return digest


def _key(digest: bytes, ctx: Context) -> bytes:
    return b"d/" + digest + ctx.height.to_bytes(8, "big") + ctx.tx_id


def _index_by_org(ctx: Context, count: int) -> None:
    if ctx.member is not None:  # consortium chains only
        key = b"o/" + ctx.member.org.encode() + b"/" + ctx.height.to_bytes(8, "big") + ctx.tx_id
        ctx.state.put(key, {"n": count, "t": ctx.time})


def anchor(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    if set(args) - {"digest", "meta"}:
        ctx.fail(errors.INVALID_ARGS, "anchor takes only 'digest' and 'meta'")
    digest = _check_digest(ctx, args.get("digest"), "'digest'")
    _meta(ctx, args)
    ctx.state.put(_key(digest, ctx), {"i": -1, "t": ctx.time})
    _index_by_org(ctx, 1)
    ctx.emit("anchored", digest=digest, count=1)
    return {"count": 1}


def anchor_batch(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    if set(args) - {"digests", "meta"}:
        ctx.fail(errors.INVALID_ARGS, "anchor_batch takes only 'digests' and 'meta'")
    digests = args.get("digests")
    if type(digests) is not list or not 0 < len(digests) <= MAX_BATCH:
        ctx.fail(errors.INVALID_ARGS, f"'digests' must be a list of 1..{MAX_BATCH} digests")
    _meta(ctx, args)
    h = ctx.suite.hash
    leaves = []
    for i, digest in enumerate(digests):
        _check_digest(ctx, digest, f"'digests[{i}]'")
        leaves.append(merkle.leaf_hash(h, digest))
    if len(set(digests)) != len(digests):
        ctx.fail(errors.INVALID_ARGS, "'digests' must not repeat a digest")
    for i, digest in enumerate(digests):
        ctx.state.put(_key(digest, ctx), {"i": i, "t": ctx.time})
    _index_by_org(ctx, len(digests))
    root = merkle.root_from_leaf_hashes(h, leaves)
    ctx.emit("anchored_batch", root=root, count=len(digests))
    return {"count": len(digests), "root": root}


def lookup(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """The first 100 anchorings of a digest, oldest first: [{tx, index, height, time}]."""
    digest = args.get("digest")
    if type(digest) is not bytes or len(digest) != DIGEST_SIZE:
        raise ValueError(f"'digest' must be {DIGEST_SIZE} bytes")
    found = []
    start = 2 + DIGEST_SIZE
    for key, value in view.scan(b"d/" + digest, MAX_LOOKUP):
        height = int.from_bytes(key[start : start + 8], "big")
        found.append({"tx": key[start + 8 :], "index": value["i"], "height": height, "time": value["t"]})
    return found


def by_org(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """What one organisation anchored, newest first: [{tx, height, time, count}] (restricted)."""
    org, limit = args.get("org"), args.get("limit", MAX_LOOKUP)
    if type(org) is not str or not org:
        raise ValueError("'org' must name an organisation")
    if type(limit) is not int or not 0 < limit <= 1000:
        raise ValueError("'limit' must be 1..1000")
    prefix = b"o/" + org.encode() + b"/"
    return [
        {"tx": key[len(prefix) + 8 :], "height": int.from_bytes(key[len(prefix) : len(prefix) + 8], "big")}
        | {"time": value["t"], "count": value["n"]}
        for key, value in view.scan(prefix, limit, reverse=True)
    ]


def batch_proof(suite: Suite, digests: list[bytes], index: int) -> list[bytes]:
    """The inclusion proof of `digests[index]` under the batch root in the result."""
    h = suite.hash
    return merkle.inclusion_proof(h, [merkle.leaf_hash(h, d) for d in digests], index)


def document_proof(suite: Suite, body: dict[str, Any], digest: bytes | None) -> dict[str, Any]:
    """A receipt's `document` part: the digest, and for a batch its index and path under the root."""
    args = body["args"]
    if body["method"] == "anchor":
        if digest is not None and digest != args["digest"]:
            raise LookupError("this transaction did not anchor that digest")
        return {"digest": args["digest"].hex(), "batch_index": None, "batch_path": None}
    digests: list[bytes] = args["digests"]
    if digest is None:
        digest = digests[0]
    try:
        index = digests.index(digest)
    except ValueError:
        raise LookupError("this transaction did not anchor that digest") from None
    return {
        "digest": digest.hex(),
        "batch_index": index,
        "batch_path": [x.hex() for x in batch_proof(suite, digests, index)],
    }


CONTRACT = Contract(
    name=NAME,
    methods={"anchor": anchor, "anchor_batch": anchor_batch},
    queries={"lookup": lookup},
    restricted={"by_org": RestrictedQuery(by_org, ReadPolicy(roles=frozenset(ROLES), own_org=True))},
    receipt_proof=document_proof,
)
